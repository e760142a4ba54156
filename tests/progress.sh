# shellcheck shell=bash
# Sourced by the tests with long waits. In a wait loop:
#   progress_start "SeaBIOS's 'No bootable device' (kvm)"
#   while ...; do ...; progress; sleep 0.1; done
# prints "  ... still waiting for WHAT (N s)" every PROGRESS_EVERY seconds
# (default 30), so a long wait is not silent. The line starts with spaces, never
# with PASS, FAIL or SKIP, so the result counts do not change.
progress_start() {
	_progress_what=$1
	_progress_t0=$SECONDS
	_progress_next=$((SECONDS + ${PROGRESS_EVERY:-30}))
}
progress() {
	if [ "$SECONDS" -ge "$_progress_next" ]; then
		echo "  ... still waiting for $_progress_what ($((SECONDS - _progress_t0)) s)"
		_progress_next=$((SECONDS + ${PROGRESS_EVERY:-30}))
	fi
}
