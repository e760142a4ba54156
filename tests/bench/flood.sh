#!/usr/bin/env bash
# make bench: what a hostile guest's virtio-blk flood costs the host. The test
# guest's flood.rom (the same chain in every avail slot, the whole ring
# published again and again without reaping, the device reset whenever it says
# NEEDS_RESET; 4 s of PM timer, then 2 s of the same on virtio-rnd with a 1 MiB
# buffer) with 64 MiB of RAM, one virtio-blk disk and a virtio-rnd, under
#   ours      bhyve (engine=auto: io_uring where the kernel allows it)
#   threads   the same with engine=threads
#   qemu      qemu-system-x86_64 -bios flood.rom, virtio-blk-pci (aio=threads)
# Prints each one's peak RSS (GNU time's maximum resident set size), what the
# guest saw (rounds published, times the device said NEEDS_RESET) and the ratio
# ours/qemu. RUNS (default 1) runs each; the largest peak counts.
#   flood.sh kvm   bin/bhyve vs qemu -enable-kvm
#   flood.sh tcg   bin/bhyve-emu vs qemu -accel tcg
#   flood.sh       kvm where /dev/kvm is usable, else tcg
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rom=$top/tests/guest/build/flood.rom
qemu=${QEMU:-qemu-system-x86_64}
runs=${RUNS:-1}
bench=flood

# shellcheck source=tests/bench/accel.sh
. "$top/tests/bench/accel.sh"
for t in "$qemu" /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "$bench: $t is not installed (tools/setup --tests installs it)" >&2; exit 1; }
done
[ -f "$rom" ] || { echo "$bench: $rom is missing (make guest)" >&2; exit 1; }
tmp=$(mktemp -d)
export BHYVE_VMM_DIR=$tmp/vmm BHYVE_RUN_DIR=$tmp/run
trap 'rm -rf "$tmp"' EXIT
truncate -s 16M "$tmp/disk.img"

# run WHO: one flood; prints "RSS-KiB ROUNDS RESETS", or fails with the output
run() {
	local out
	case $1 in
	ours | threads)
		local eng=auto
		[ "$1" = threads ] && eng=threads
		/usr/bin/time -f %M -o "$tmp/rss" timeout 120 "$bhyve" -c 1 -m 64M -s 0,hostbridge \
			-s "3,virtio-blk,$tmp/disk.img,engine=$eng" -s 5,virtio-rnd -s 31,lpc -l com1,stdio \
			-l "bootrom,$rom" flood </dev/null >"$tmp/out" 2>"$tmp/err"
		;;
	qemu)
		/usr/bin/time -f %M -o "$tmp/rss" timeout 120 "$qemu" -accel "$accel" -bios "$rom" \
			-nodefaults -serial stdio -display none -m 64 -smp 1 -no-reboot \
			-device virtio-blk-pci,drive=d0 -device virtio-rng-pci \
			-drive "file=$tmp/disk.img,if=none,id=d0,format=raw,aio=threads" \
			</dev/null >"$tmp/out" 2>"$tmp/err"
		;;
	esac
	out=$(tr -d '\r' <"$tmp/out")
	if ! grep -q '^flood: [0-9]* rounds' <<<"$out" || grep -q FAIL <<<"$out"; then
		echo "$bench: $1 did not finish the flood:" >&2
		sed 's/^/  | /' <<<"$out" "$tmp/err" >&2
		return 1
	fi
	grep '^flood: rnd' <<<"$out" >>"$tmp/$1.rnd"
	echo "$(tail -1 "$tmp/rss")" \
		"$(sed -n 's/^flood: \([0-9]*\) rounds, \([0-9]*\) needs-reset.*/\1 \2/p' <<<"$out")"
}

who=(ours threads qemu)
for w in "${who[@]}"; do
	for i in $(seq "$runs"); do
		r=$(run "$w") || exit 1
		echo "$bench: run $i $w: peak RSS, rounds, needs-reset: $r"
		echo "$r" >>"$tmp/$w"
	done
done

peak() { sort -n "$tmp/$1" | tail -1 | cut -d' ' -f1; }
echo
printf '%-32s %10s %10s %10s %10s\n' "$mode, largest of $runs" "$(basename "$bhyve")" threads qemu ours/qemu
o=$(peak ours) t=$(peak threads) q=$(peak qemu)
printf '%-32s %10s %10s %10s %10s\n' "peak RSS MiB" \
	"$((o / 1024))" "$((t / 1024))" "$((q / 1024))" \
	"$(awk -v a="$o" -v b="$q" 'BEGIN{printf "%.2fx", (b > 0 ? a / b : 0)}')"
printf '%-32s %10s %10s %10s\n' "rounds / needs-reset (last run)" \
	"$(tail -1 "$tmp/ours" | cut -d' ' -f2,3 | tr ' ' /)" \
	"$(tail -1 "$tmp/threads" | cut -d' ' -f2,3 | tr ' ' /)" \
	"$(tail -1 "$tmp/qemu" | cut -d' ' -f2,3 | tr ' ' /)"
echo "guest: 64 MiB, 1 vCPU, legacy virtio-blk, queue of 256 (QEMU: 256), 4 s of flood;"\
	"then virtio-rnd, 2 s"
for w in "${who[@]}"; do echo "$w: $(grep -h '^flood: rnd' "$tmp/$w.rnd" 2>/dev/null | tail -1)"; done
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
