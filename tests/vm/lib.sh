# Sourced by tests that run guests through bin/vm (tests/vm/test_walkthrough.sh,
# tests/bench/vm.sh): what they share.

# kill_guests VM_DIR: SIGKILL to every supervisor (the run lock's pid) and
# every bhyve (.run's bhyve_pid) of the guests under VM_DIR, for a test's
# clean-up; the next vm command reclaims what they leave.
kill_guests() {
	local d pid
	for d in "$1"/*/; do
		[ -f "$d/run.lock" ] || continue
		pid=$(cut -d' ' -f1 "$d/run.lock")
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
		pid=$(sed -n 's/^bhyve_pid="\(.*\)"/\1/p' "$d/.run" 2>/dev/null)
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	done
}
