#!/usr/bin/env bash
# make bench, part 2: virtio-net transmit, guest to tap, under our VMM and under
# QEMU in one run. The test guest's netbench ROM sends 64-byte frames
# (broadcast, EtherType 0x88B5, which the host's stack drops) for 3 s with 128
# chains in flight and prints how many the device used; the tap's rx_packets
# counts what reached the host. Both VMMs get the same tap, in a network (and
# mount, for /sys) namespace of this script's own, runs alternating between
# them. Prints every run, the medians and the ratio ours/QEMU (higher is better
# for us; the goal is 1.5x).
#   net.sh kvm   bin/bhyve vs qemu -enable-kvm
#   net.sh tcg   bin/bhyve-emu vs qemu -accel tcg (both on a software CPU)
#   net.sh       kvm where /dev/kvm is usable, else tcg
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
rom=$top/tests/guest/build/netbench.rom
qemu=${QEMU:-qemu-system-x86_64}
runs=${RUNS:-5}
mem=128
tap=tap0

bench="bench net"
# shellcheck source=tests/bench/accel.sh
. "$top/tests/bench/accel.sh"

if [ -z "${NETBENCH_NS:-}" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench net: SKIP: needs root for a tap and a network namespace"; exit 0
	elif [ ! -c /dev/net/tun ]; then
		echo "bench net: SKIP: /dev/net/tun does not exist"; exit 0
	elif ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
		echo "bench net: SKIP: needs unshare (util-linux) and ip (iproute2)"; exit 0
	fi
	command -v "$qemu" >/dev/null || { echo "bench net: $qemu is not installed (tools/setup --tests installs it)" >&2; exit 1; }
	[ -f "$rom" ] || { echo "bench net: $rom was not built (make guest)" >&2; exit 1; }
	# Our own network namespace (the tap and its frames stay in it) and mount
	# namespace (a sysfs that shows this network namespace's devices).
	NETBENCH_NS=1 exec unshare -n -m "$0" "$mode"
fi

# In the namespaces from here on.
mount -t sysfs sysfs /sys || { echo "bench net: cannot mount sysfs in the namespace" >&2; exit 1; }
{ ip tuntap add "$tap" mode tap && ip addr add 10.0.2.2/24 dev "$tap" && ip link set "$tap" up; } ||
	{ echo "bench net: cannot set up $tap in a network namespace" >&2; exit 1; }
stats=/sys/class/net/$tap/statistics
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; ip link del "$tap" 2>/dev/null' EXIT

bhyve_cmd() {
	echo "$bhyve -c 1 -m ${mem}M -s 0,hostbridge -s 31,lpc -s 5,virtio-net,$tap -l com1,stdio -l bootrom,$rom netbench"
}
qemu_cmd() {
	echo "$qemu -accel $accel -bios $rom -nodefaults -serial stdio -display none -m $mem -smp 1" \
		"-object memory-backend-memfd,id=mem,size=${mem}M -machine pc,memory-backend=mem -no-reboot" \
		"-netdev tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off -device virtio-net-pci,netdev=n0"
}

# one VMM RUN: appends "tap_fps guest_fps" to $tmp/VMM, prints the run
one() {
	local vmm=$1 run=$2 before after drops sent ms line
	before=$(cat "$stats/rx_packets"); drops=$(cat "$stats/rx_dropped")
	# shellcheck disable=SC2046
	timeout 60 $("${vmm}_cmd") </dev/null 2>"$tmp/err" | tr -d '\r' >"$tmp/out"
	after=$(cat "$stats/rx_packets"); drops=$(( $(cat "$stats/rx_dropped") - drops ))
	line=$(grep -a '^netbench: sent [0-9]* frames in [0-9]* ms$' "$tmp/out")
	if [ -z "$line" ] || grep -aq FAIL "$tmp/out"; then
		echo "bench net: $vmm run $run: no result from the guest" >&2
		sed 's/^/  | /' "$tmp/out" "$tmp/err" >&2
		exit 1
	fi
	read -r sent ms < <(echo "$line" | awk '{print $3, $6}')
	[ "$ms" -gt 0 ] || { echo "bench net: $vmm run $run: 0 ms" >&2; exit 1; }
	echo "$(( (after - before) * 1000 / ms )) $(( sent * 1000 / ms ))" >>"$tmp/$vmm"
	printf '  %-5s run %d: guest sent %8d in %4d ms, tap rx_packets +%8d (host stack dropped %d): %7d frames/s\n' \
		"$vmm" "$run" "$sent" "$ms" "$((after - before))" "$drops" "$(( (after - before) * 1000 / ms ))"
}

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

[ "$mode" = tcg ] && echo "bench net: no KVM here; comparing software CPUs: bin/bhyve-emu vs qemu -accel tcg"
: >"$tmp/bhyve"; : >"$tmp/qemu"
for run in $(seq "$runs"); do
	one bhyve "$run"
	one qemu "$run"
done

printf '%-44s %12s %12s %10s\n' "$mode: median of $runs runs, 1 vCPU, 64-byte frames" "$(basename "$bhyve")" "qemu, vhost=off" bhyve/qemu
for col in 1 2; do
	b=$(cut -d' ' -f$col "$tmp/bhyve" | median); q=$(cut -d' ' -f$col "$tmp/qemu" | median)
	case $col in
	1) label="guest->tap frames/s (tap rx_packets)" ;;
	2) label="guest->tap frames/s (guest's count)" ;;
	esac
	printf '%-44s %12s %12s %10s\n' "$label" "$b" "$q" "$(awk -v b="$b" -v q="$q" 'BEGIN{printf "%.2fx", (q > 0 ? b / q : 0)}')"
done
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
