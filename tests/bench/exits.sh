#!/usr/bin/env bash
# make bench: exits to user space, per kind, for the same guest under our VMM
# and under QEMU on the same /dev/kvm: Debian's SeaBIOS idle (no disk: it
# prints "No bootable device" and waits) for SECONDS (default 10), RUNS pairs
# (default 5), ours then QEMU's in each. The counts are KVM's own, per VM, from
# debugfs (/sys/kernel/debug/kvm/PID-FD/): io_exits and mmio_exits are the
# exits a VMM answers in user space, halt_exits and signal_exits what waiting
# and kicks cost, exits all of them. Needs root (debugfs) and KVM.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
qemu=${QEMU:-qemu-system-x86_64}
bios=${SEABIOS:-/usr/share/seabios/bios-256k.bin}
runs=${RUNS:-5}
secs=${SECONDS_IDLE:-10}
bhyve=$top/bin/bhyve
kinds=(exits io_exits mmio_exits halt_exits signal_exits irq_window_exits)

[ -c /dev/kvm ] && [ -w /dev/kvm ] || { echo "exits: /dev/kvm is not usable here; skipped (tests/nested/run.sh tests/bench/exits.sh runs it nested)"; exit 0; }
[ -r "$bios" ] || { echo "exits: $bios is missing (tools/setup --tests)" >&2; exit 1; }
command -v "$qemu" >/dev/null || { echo "exits: $qemu is missing (tools/setup --tests)" >&2; exit 1; }
d=/sys/kernel/debug/kvm
[ -d "$d" ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
[ -d "$d" ] || { echo "exits: no $d (debugfs needs root); skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '\xf8\x03' >"$tmp/sercon"	# 0x3f8, little-endian

# run VMM: starts it, waits, prints "kind=count ..." for its VM, stops it.
run() {
	local pid dir k line=""
	if [ "$1" = ours ]; then
		"$bhyve" -c 1 -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l "bootrom,$bios" exits \
			</dev/null >"$tmp/out" 2>&1 &
	else
		# SeaBIOS's console on COM1 as ours asks for it (etc/sercon-port), so
		# that both print the same.
		"$qemu" -enable-kvm -bios "$bios" -nodefaults -display none -serial stdio -m 128 -smp 1 \
			-fw_cfg name=etc/sercon-port,file="$tmp/sercon" </dev/null >"$tmp/out" 2>&1 &
	fi
	pid=$!
	sleep "$secs"
	dir=$(ls -d "$d/$pid"-* 2>/dev/null | head -n 1)
	for k in "${kinds[@]}"; do line+="$k=$(cat "$dir/$k" 2>/dev/null || echo NA) "; done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	grep -q 'No bootable device' "$tmp/out" || line+="(SeaBIOS did not reach 'No bootable device')"
	echo "$line"
}

for _ in $(seq "$runs"); do
	for vmm in ours qemu; do run "$vmm" >>"$tmp/$vmm"; done
done
if grep -q 'did not reach' "$tmp/ours" "$tmp/qemu"; then
	echo "exits: a run did not boot SeaBIOS:" >&2
	grep -H 'did not reach' "$tmp/ours" "$tmp/qemu" >&2
	exit 1
fi
# median and min-max of one kind over the runs of one VMM
stat() { tr ' ' '\n' <"$tmp/$1" | sed -n "s/^$2=//p" | sort -n |
	awk '{a[NR]=$1} END{printf "%s (%s-%s)", a[int((NR+1)/2)], a[1], a[NR]}'; }
printf '%-40s %22s %22s\n' "SeaBIOS idle ${secs} s, $runs pairs: median (min-max)" "$(basename "$bhyve")" qemu
for k in "${kinds[@]}"; do
	printf '%-40s %22s %22s\n' "$k" "$(stat ours "$k")" "$(stat qemu "$k")"
done
echo "machine: $(nproc) CPUs, $(uname -r), kvm module $(for m in kvm_intel kvm_amd kvm_pvm; do [ -d /sys/module/$m ] && echo $m; done), $(date -u +%Y-%m-%d)"
