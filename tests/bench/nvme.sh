#!/usr/bin/env bash
# NVMe throughput: the test guest's nvbench.rom (4 KiB random reads at queue depth
# 32 for 5 s, then 512 KiB sequential reads and writes at depth 8 for 3 s each:
# QEMU's NVMe takes at most 512 KiB a command) on one raw image file opened
# O_DIRECT, in one run:
#   ours        bhyve, nvme ...,nocache,ioslots=32 (32 commands in flight, as the
#               guest keeps them; bhyve's default of 8 would cap the random phase)
#   ours-slots8 the same with the default ioslots=8
#   qemu        -device nvme, cache=none,aio=io_uring
#   qemu-memfd  the same with guest RAM in a memfd, as ours has it
#   fio         the same patterns on the same file from the host
# Prints the median of RUNS runs of each and the ratios ours/qemu and ours/fio.
#   nvme.sh kvm | tcg | (nothing: kvm where /dev/kvm is usable, else tcg)
# BLKBENCH_DIR (default /var/tmp) holds the image, BLKBENCH_MB (default 1024) its size.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rom=$top/tests/guest/build/nvbench.rom
qemu=${QEMU:-qemu-system-x86_64}
runs=${RUNS:-3}
mb=${BLKBENCH_MB:-1024}
tmp=$(mktemp -d "${BLKBENCH_DIR:-/var/tmp}/nvbench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
img=$tmp/disk.img

bench=bench
# shellcheck source=tests/bench/accel.sh
. "$top/tests/bench/accel.sh"
[ "$mode" = tcg ] && echo "bench: no KVM here; comparing software CPUs: bin/bhyve-emu vs qemu -accel tcg"
for t in "$qemu" fio; do
	command -v "$t" >/dev/null || { echo "bench: $t is not installed (tools/setup installs it)" >&2; exit 1; }
done
[ -f "$rom" ] || { echo "bench: $rom is missing (make guest)" >&2; exit 1; }

echo "bench: writing a ${mb} MiB image in $tmp"
dd if=/dev/urandom of="$img" bs=1M count="$mb" status=none || exit 1
sync

# guest VMM: runs the ROM, prints "randread seqread seqwrite" (IOPS, MiB/s, MiB/s)
guest() {
	local out
	case $1 in
	ours | ours-slots8)
		local slots=32
		[ "$1" = ours-slots8 ] && slots=8
		out=$(timeout 120 "$bhyve" -c 1 -m 128M -s 0,hostbridge \
			-s "3,nvme,$img,nocache,ioslots=$slots" -s 31,lpc -l com1,stdio \
			-l "bootrom,$rom" nvbench </dev/null 2>"$tmp/err")
		;;
	qemu | qemu-memfd)
		local mem=()
		[ "$1" = qemu-memfd ] &&
			mem=(-object "memory-backend-memfd,id=mem,size=128M" -machine "pc,memory-backend=mem")
		out=$(timeout 120 "$qemu" -accel "$accel" -bios "$rom" -nodefaults -serial stdio \
			-display none -m 128 -smp 1 -no-reboot "${mem[@]}" -device nvme,drive=d0,serial=NVB \
			-drive "file=$img,if=none,id=d0,format=raw,cache=none,aio=io_uring" \
			</dev/null 2>"$tmp/err")
		;;
	esac
	out=$(tr -d '\r' <<<"$out")
	if ! grep -q '^nvbench: done' <<<"$out" || grep -q FAIL <<<"$out"; then
		echo "bench: $1 did not finish the benchmark:" >&2
		sed 's/^/  | /' <<<"$out" "$tmp/err" >&2
		return 1
	fi
	echo "$(sed -n 's/^nvbench: randread .* \([0-9]*\) IOPS.*/\1/p' <<<"$out")" \
		"$(sed -n 's/^nvbench: seqread .* \([0-9.]*\) MiB\/s.*/\1/p' <<<"$out")" \
		"$(sed -n 's/^nvbench: seqwrite .* \([0-9.]*\) MiB\/s.*/\1/p' <<<"$out")"
}

# fio on the host: the same three patterns, O_DIRECT through io_uring
host_fio() {
	local common="--filename=$img --direct=1 --ioengine=io_uring --time_based --minimal"
	# shellcheck disable=SC2086
	echo "$(fio --name=randread $common --rw=randread --bs=4k --iodepth=32 --runtime=5 |
		awk -F';' '{print $8}')" \
		"$(fio --name=seqread $common --rw=read --bs=512k --iodepth=8 --runtime=3 |
		awk -F';' '{printf "%.1f", $7 / 1024}')" \
		"$(fio --name=seqwrite $common --rw=write --bs=512k --iodepth=8 --runtime=3 |
		awk -F';' '{printf "%.1f", $48 / 1024}')"
}

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}'; }

who=(ours ours-slots8 qemu qemu-memfd fio)
for i in $(seq "$runs"); do
	for w in "${who[@]}"; do
		if [ "$w" = fio ]; then r=$(host_fio); else r=$(guest "$w") || exit 1; fi
		echo "bench: run $i $w: $r"
		read -r a b c <<<"$r"
		echo "$a" >>"$tmp/$w.0"; echo "$b" >>"$tmp/$w.1"; echo "$c" >>"$tmp/$w.2"
	done
done

echo
printf '%-24s %10s %11s %10s %10s %10s %9s %14s %8s\n' "$mode, median of $runs" \
	"$(basename "$bhyve")" ours-slots8 qemu qemu-memfd fio ours/qemu ours/qemu-memfd ours/fio
labels=("randread 4k qd32 IOPS" "seqread 512k qd8 MiB/s" "seqwrite 512k qd8 MiB/s")
for k in 0 1 2; do
	o=$(median <"$tmp/ours.$k"); s=$(median <"$tmp/ours-slots8.$k")
	q=$(median <"$tmp/qemu.$k"); m=$(median <"$tmp/qemu-memfd.$k"); f=$(median <"$tmp/fio.$k")
	printf '%-24s %10s %11s %10s %10s %10s %9s %14s %8s\n' "${labels[$k]}" "$o" "$s" "$q" "$m" "$f" \
		"$(ratio "$o" "$q")x" "$(ratio "$o" "$m")x" "$(ratio "$o" "$f")x"
done
echo "image: ${mb} MiB raw on $(findmnt -n -o FSTYPE -T "$tmp") ($(df --output=source "$tmp" | tail -1))," \
	"O_DIRECT; guest: 1 vCPU, 128 MiB, NVMe I/O queue pair 1, polling"
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
