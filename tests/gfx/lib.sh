# Shared by the gfx tier's scripts (sourced).

# gfx_tmp: the run's temporary directory ($tmp), which holds its VM registry
# too; at exit the guest still running ($pid) is killed and $tmp removed.
# fails counts the FAIL lines.
gfx_tmp() {
	tmp=$(mktemp -d)
	export BHYVE_VMM_DIR=$tmp/vmm BHYVE_RUN_DIR=$tmp/run
	pid=""
	fails=0
	trap gfx_cleanup EXIT
}
gfx_cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }

# refused NAME MESSAGE ARGS... runs
# $bhyve with the platform, $rom as boot ROM and ARGS, and passes NAME when it
# exits 4 with exactly one line on stderr that contains MESSAGE. Uses the
# caller's $tmp, pass and fail.
refused() {
	local name=$1 msg=$2
	shift 2
	timeout 20 "$bhyve" -s 0,hostbridge -s 31,lpc -l "bootrom,$rom" "$@" vmrefused \
		</dev/null >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ "$rc" -ne 4 ]; then fail "$name" "exit status $rc, expected 4"
	elif [ "$(wc -l <"$tmp/err")" -ne 1 ]; then fail "$name" "expected one line on stderr"
	elif ! grep -qF -- "$msg" "$tmp/err"; then fail "$name" "stderr lacks '$msg'"
	else pass "$name"; fi
}
