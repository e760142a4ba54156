#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/fuzz_NAME.c): every one, or those named,
# each for FUZZ_SECONDS (default 60) from its seeds (tests/fuzz/corpus/NAME/) and
# its own corpus in build/fuzz-corpus-NAME/, which grows from run to run. With
# FUZZ_BUDGET set (seconds), no target runs longer than an equal share of it.
# Prints PASS, FAIL (with the end of libFuzzer's log) or SKIP per target; exits
# 1 when any failed. An input that crashes a target is kept as
# build/fuzz-NAME-crash-* (replay: build/tests/fuzz_NAME FILE). tests/run's fuzz tier and `make fuzz` call it.
set -u
cd "$(dirname "$0")/../.." || exit 1

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		t=${f#tests/fuzz/fuzz_}
		t=${t%.c}
		[ "$t" = common ] || targets+=("$t")
	done
fi
secs=${FUZZ_SECONDS:-60}
if [ "${FUZZ_BUDGET:-0}" -gt 0 ]; then
	share=$((FUZZ_BUDGET / ${#targets[@]}))
	[ "$share" -lt 1 ] && share=1
	[ "$share" -lt "$secs" ] && secs=$share
fi

failed=0
for t in "${targets[@]}"; do
	if ! command -v clang >/dev/null; then
		echo "SKIP fuzz-$t: clang is not installed"
		continue
	fi
	# tap and slirp move into a network namespace of their own.
	if [ "$t" = tap ] || [ "$t" = slirp ]; then
		if ! unshare -n true 2>/dev/null; then
			echo "SKIP fuzz-$t: cannot make a network namespace (needs root)"
			continue
		fi
		if [ "$t" = tap ] && [ ! -c /dev/net/tun ]; then
			echo "SKIP fuzz-$t: no /dev/net/tun"
			continue
		fi
	fi
	corpus=build/fuzz-corpus-$t
	mkdir -p "$corpus"
	dirs=("$corpus")
	[ -d "tests/fuzz/corpus/$t" ] && dirs+=("tests/fuzz/corpus/$t")
	extra=()
	# grub_fs starts from a small ext2 and a small ISO, and needs room for them.
	if [ "$t" = grub_fs ]; then
		tests/fuzz/seed_grub_fs.sh "$corpus" >/dev/null 2>&1 || true
		extra=(-max_len=400000)
	fi
	log=build/fuzz-$t.log
	if ! make -s "build/tests/fuzz_$t" >"$log" 2>&1; then
		echo "FAIL fuzz-$t: it does not build, see $log"
		tail -30 "$log"
		failed=1
		continue
	fi
	run() {
		"build/tests/fuzz_$t" -max_total_time="$secs" -seed=1 -timeout=10 "${extra[@]}" \
		    -artifact_prefix="build/fuzz-$t-" "${dirs[@]}" >"$log" 2>&1
	}
	stamp=build/fuzz-$t.stamp
	: >"$stamp"
	run
	rc=$?
	note=
	# A run that died without libFuzzer's report and without leaving an input
	# behind (a crash-, leak-, timeout- or oom- file) cannot be replayed: it
	# runs once more, and the first run's log is kept and named.
	if [ "$rc" -ne 0 ] && ! grep -q '^==[0-9]*==' "$log" &&
	    [ -z "$(find build -maxdepth 1 -name "fuzz-$t-*" -newer "$stamp")" ]; then
		mv "$log" "$log.first"
		note="; a first run died silently (status $rc), see $log.first"
		run
		rc=$?
	fi
	rm -f "$stamp"
	if [ "$rc" -eq 0 ]; then
		echo "PASS fuzz-$t ($(grep -o 'Done [0-9]* runs' "$log"), $(grep -o 'cov: [0-9]*' "$log" | tail -1)$note)"
	else
		# A process killed by a signal libFuzzer does not catch (SIGPIPE, or a
		# fault with no stack left to report it) leaves no message of its own.
		why="exit status $rc"
		[ "$rc" -gt 128 ] && why="killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))"
		echo "FAIL fuzz-$t: $why, see $log"
		tail -30 "$log"
		failed=1
	fi
done
exit $failed
