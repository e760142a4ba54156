#!/usr/bin/env bash
# make bench: virtio-blk throughput. The test guest's blkbench.rom (4 KiB random
# reads at queue depth 32 for 5 s, then 1 MiB sequential reads and writes at
# depth 8 for 3 s each) on one raw image file opened O_DIRECT, in one run:
#   ours      bhyve, virtio-blk ...,nocache (engine=auto: io_uring here)
#   threads   the same with engine=threads, to show what io_uring brings
#   qemu      virtio-blk-pci, cache=none,aio=io_uring
#   qemu-memfd  the same with guest RAM in a memfd, as ours has it (QEMU's own
#             anonymous RAM gets transparent huge pages, and with them larger
#             O_DIRECT transfers: fewer segments per request)
#   fio       the same patterns on the same file from the host, the physical limit
# Prints the median of RUNS runs of each and the ratios ours/qemu, ours/fio and
# ours/threads.
#   blk.sh kvm   bin/bhyve vs qemu -enable-kvm (the comparison that counts)
#   blk.sh tcg   bin/bhyve-emu vs qemu -accel tcg: both on a software CPU, for
#                hosts without /dev/kvm
#   blk.sh       kvm where /dev/kvm is usable, else tcg
# BLKBENCH_DIR (default /var/tmp) holds the image, BLKBENCH_MB (default 1024)
# megabytes of random data; it must be a file system that takes O_DIRECT.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rom=$top/tests/guest/build/blkbench.rom
qemu=${QEMU:-qemu-system-x86_64}
runs=${RUNS:-5}
mb=${BLKBENCH_MB:-1024}

bench=bench
# shellcheck source=tests/bench/accel.sh
. "$top/tests/bench/accel.sh"
# shellcheck source=tests/bench/blklib.sh
. "$top/tests/bench/blklib.sh"
blkbench_setup blkbench "$rom"

# guest VMM: runs the ROM, prints "randread seqread seqwrite" (IOPS, MiB/s, MiB/s)
guest() {
	local out
	case $1 in
	ours | threads)
		local eng=auto
		[ "$1" = threads ] && eng=threads
		out=$(timeout 120 "$bhyve" -c 1 -m 128M -s 0,hostbridge \
			-s "3,virtio-blk,$img,nocache,engine=$eng" -s 31,lpc -l com1,stdio \
			-l "bootrom,$rom" blkbench </dev/null 2>"$tmp/err")
		;;
	qemu | qemu-memfd)
		local mem=()
		[ "$1" = qemu-memfd ] &&
			mem=(-object "memory-backend-memfd,id=mem,size=128M" -machine "pc,memory-backend=mem")
		out=$(timeout 120 "$qemu" -accel "$accel" -bios "$rom" -nodefaults -serial stdio \
			-display none -m 128 -smp 1 -no-reboot "${mem[@]}" -device virtio-blk-pci,drive=d0 \
			-drive "file=$img,if=none,id=d0,format=raw,cache=none,aio=io_uring" \
			</dev/null 2>"$tmp/err")
		;;
	esac
	blkbench_rates "$1" "$out"
}

who=(ours threads qemu qemu-memfd fio)
blkbench_runs "${who[@]}"

echo
printf '%-24s %10s %10s %10s %10s %10s %9s %8s %11s\n' "$mode, median of $runs" \
	"$(basename "$bhyve")" threads qemu qemu-memfd fio ours/qemu ours/fio ours/threads
labels=("randread 4k qd32 IOPS" "seqread 1m qd8 MiB/s" "seqwrite 1m qd8 MiB/s")
for k in 0 1 2; do
	o=$(median <"$tmp/ours.$k"); t=$(median <"$tmp/threads.$k")
	q=$(median <"$tmp/qemu.$k"); m=$(median <"$tmp/qemu-memfd.$k"); f=$(median <"$tmp/fio.$k")
	printf '%-24s %10s %10s %10s %10s %10s %9s %8s %11s\n' "${labels[$k]}" "$o" "$t" "$q" "$m" "$f" \
		"$(ratio "$o" "$q")x" "$(ratio "$o" "$f")x" "$(ratio "$o" "$t")x"
done
echo "image: ${mb} MiB raw on $(findmnt -n -o FSTYPE -T "$tmp") ($(df --output=source "$tmp" | tail -1))," \
	"O_DIRECT; guest: 1 vCPU, 128 MiB, legacy virtio, polling"
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
