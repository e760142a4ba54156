#!/usr/bin/env bash
# make bench: NVMe and AHCI throughput. The test guest's nvmebench.rom and
# ahcibench.rom (storbench.inc: polled drivers, the phases of blkbench.rom:
# 4 KiB random reads at queue depth 32 for 5 s, then 1 MiB sequential reads and
# writes at depth 8 for 3 s each) on one raw image file opened O_DIRECT, in
# one run, interleaved:
#   nvme        bhyve -s 3,nvme,IMG,nocache (O_DIRECT, io_uring)
#   qemu-nvme   -device nvme,mdts=8 (QEMU's default MDTS, 512 KiB, is below a
#               1 MiB request), cache=none,aio=io_uring
#   ahci        bhyve -s 3,ahci-hd,IMG,nocache
#   qemu-ahci   -device ahci + ide-hd, cache=none,aio=io_uring
#   qemu-*-memfd  the same two with QEMU's guest RAM in a memfd, as ours is:
#               QEMU's anonymous RAM gets transparent huge pages, so a 1 MiB
#               buffer reaches the host disk in fewer, larger segments
#   fio         the same patterns on the same file from the host
# Prints the median of RUNS runs of each and the ratios to QEMU (both kinds of
# RAM) and to fio.
#   storage.sh kvm | tcg | (empty: kvm where /dev/kvm is usable, else tcg)
# BLKBENCH_DIR (default /var/tmp) holds the image, BLKBENCH_MB (default 1024)
# megabytes of random data.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
qemu=${QEMU:-qemu-system-x86_64}
runs=${RUNS:-5}
mb=${BLKBENCH_MB:-1024}

bench=storage
# shellcheck source=tests/bench/accel.sh
. "$top/tests/bench/accel.sh"
# shellcheck source=tests/bench/blklib.sh
. "$top/tests/bench/blklib.sh"
blkbench_setup storbench "$top/tests/guest/build/nvmebench.rom" "$top/tests/guest/build/ahcibench.rom"

# guest WHO: runs the ROM, prints "randread seqread seqwrite"
guest() {
	local out dev=${1#qemu-}
	dev=${dev%-memfd}
	local rom=$top/tests/guest/build/${dev}bench.rom
	case $1 in
	nvme | ahci)
		local dev=nvme
		[ "$1" = ahci ] && dev=ahci-hd
		out=$(timeout 120 "$bhyve" -c 1 -m 128M -s 0,hostbridge -s "3,$dev,$img,nocache" \
			-s 31,lpc -l com1,stdio -l "bootrom,$rom" storbench </dev/null 2>"$tmp/err")
		;;
	qemu-*)
		local devs=(-device nvme,drive=d0,serial=bench,mdts=8) mem=()
		[ "$dev" = ahci ] && devs=(-device ahci,id=ahci -device ide-hd,drive=d0,bus=ahci.0)
		case $1 in *-memfd)
			mem=(-object "memory-backend-memfd,id=mem,size=128M" -machine "pc,memory-backend=mem") ;;
		esac
		out=$(timeout 120 "$qemu" -accel "$accel" -bios "$rom" -nodefaults -serial stdio \
			-display none -m 128 -smp 1 -no-reboot "${mem[@]}" "${devs[@]}" \
			-drive "file=$img,if=none,id=d0,format=raw,cache=none,aio=io_uring" \
			</dev/null 2>"$tmp/err")
		;;
	esac
	blkbench_rates "$1" "$out"
}

who=(nvme qemu-nvme qemu-nvme-memfd ahci qemu-ahci qemu-ahci-memfd fio)
blkbench_runs "${who[@]}"

echo
printf '%-24s %7s %7s %7s %7s %7s %7s %7s %6s %6s %6s %6s %6s\n' "$mode, median of $runs" \
	nvme q-nvme memfd ahci q-ahci memfd fio n/q n/qm a/q a/qm n/fio
labels=("randread 4k qd32 IOPS" "seqread 1m qd8 MiB/s" "seqwrite 1m qd8 MiB/s")
for k in 0 1 2; do
	n=$(median <"$tmp/nvme.$k"); qn=$(median <"$tmp/qemu-nvme.$k"); mn=$(median <"$tmp/qemu-nvme-memfd.$k")
	a=$(median <"$tmp/ahci.$k"); qa=$(median <"$tmp/qemu-ahci.$k"); ma=$(median <"$tmp/qemu-ahci-memfd.$k")
	f=$(median <"$tmp/fio.$k")
	printf '%-24s %7s %7s %7s %7s %7s %7s %7s %6s %6s %6s %6s %6s\n' "${labels[$k]}" \
		"$n" "$qn" "$mn" "$a" "$qa" "$ma" "$f" "$(ratio "$n" "$qn")x" "$(ratio "$n" "$mn")x" \
		"$(ratio "$a" "$qa")x" "$(ratio "$a" "$ma")x" "$(ratio "$n" "$f")x"
done
echo "(q-: QEMU; memfd: QEMU with its guest RAM in a memfd; n/qm: nvme over that QEMU)"
echo "image: ${mb} MiB raw on $(findmnt -n -o FSTYPE -T "$tmp") ($(df --output=source "$tmp" | tail -1))," \
	"O_DIRECT; guest: 1 vCPU, 128 MiB, polled drivers (test guest)"
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
