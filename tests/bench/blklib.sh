# shellcheck shell=bash
# Sourced by the block benchmarks (blk.sh, storage.sh): what they share.
#   blkbench_rates WHO OUTPUT   the rates from a run of the test guest's block
#                  benchmark (blkbench.rom, nvmebench.rom, ahcibench.rom):
#                  "randread seqread seqwrite" (IOPS, MiB/s, MiB/s); 1 with the
#                  output on stderr when it did not finish ($tmp/err is shown too)
#   host_fio       the same three patterns with fio on $img from the host
#   blkbench_setup NAME ROM...   after accel.sh: checks QEMU, fio and the ROMs,
#                  makes the work dir $tmp (NAME.XXXXXX in BLKBENCH_DIR, default
#                  /var/tmp, removed at exit) and writes $img, BLKBENCH_MB
#                  (default 1024) MiB of random data; exits on a failure
#   blkbench_runs WHO...   RUNS rounds of every WHO in turn (fio: host_fio,
#                  else the script's own guest function), the three rates of
#                  each appended to $tmp/WHO.0, .1 and .2
#   median, ratio A B
blkbench_setup() {
	local name=$1 t r mb=${BLKBENCH_MB:-1024}
	shift
	[ "$mode" = tcg ] && echo "bench: no KVM here; comparing software CPUs: bin/bhyve-emu vs qemu -accel tcg"
	for t in "$qemu" fio; do
		command -v "$t" >/dev/null || { echo "bench: $t is not installed (tools/setup --tests installs it)" >&2; exit 1; }
	done
	for r in "$@"; do
		[ -f "$r" ] || { echo "bench: $r is missing (make guest)" >&2; exit 1; }
	done
	tmp=$(mktemp -d "${BLKBENCH_DIR:-/var/tmp}/$name.XXXXXX") || exit 1
	# shellcheck disable=SC2064  # $tmp is fixed from here on
	trap "rm -rf '$tmp'" EXIT
	img=$tmp/disk.img
	echo "bench: writing a ${mb} MiB image in $tmp"
	dd if=/dev/urandom of="$img" bs=1M count="$mb" status=none || exit 1
	sync
}

blkbench_rates() {
	local out
	out=$(tr -d '\r' <<<"$2")
	if ! grep -q '^blkbench: done' <<<"$out" || grep -q FAIL <<<"$out"; then
		echo "bench: $1 did not finish the benchmark:" >&2
		sed 's/^/  | /' <<<"$out" "$tmp/err" >&2
		return 1
	fi
	echo "$(sed -n 's/^blkbench: randread .* \([0-9]*\) IOPS.*/\1/p' <<<"$out")" \
		"$(sed -n 's/^blkbench: seqread .* \([0-9.]*\) MiB\/s.*/\1/p' <<<"$out")" \
		"$(sed -n 's/^blkbench: seqwrite .* \([0-9.]*\) MiB\/s.*/\1/p' <<<"$out")"
}

# fio on the host: the same three patterns, O_DIRECT through io_uring
host_fio() {
	local common="--filename=$img --direct=1 --ioengine=io_uring --time_based --minimal"
	# shellcheck disable=SC2086
	echo "$(fio --name=randread $common --rw=randread --bs=4k --iodepth=32 --runtime=5 |
		awk -F';' '{print $8}')" \
		"$(fio --name=seqread $common --rw=read --bs=1M --iodepth=8 --runtime=3 |
		awk -F';' '{printf "%.1f", $7 / 1024}')" \
		"$(fio --name=seqwrite $common --rw=write --bs=1M --iodepth=8 --runtime=3 |
		awk -F';' '{printf "%.1f", $48 / 1024}')"
}

blkbench_runs() {
	local i w r a b c
	for i in $(seq "$runs"); do
		for w in "$@"; do
			if [ "$w" = fio ]; then r=$(host_fio); else r=$(guest "$w") || exit 1; fi
			echo "bench: run $i $w: $r"
			read -r a b c <<<"$r"
			echo "$a" >>"$tmp/$w.0"; echo "$b" >>"$tmp/$w.1"; echo "$c" >>"$tmp/$w.2"
		done
	done
}

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}'; }
