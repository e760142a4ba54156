#!/usr/bin/env bash
# make bench: bin/vm's own costs, with the test-guest ROMs as loader="uefi-custom"
# firmware under bin/bhyve (KVM) or bin/bhyve-emu:
#   - `vm start` to the guest's first serial line (echo.rom, read from
#     /dev/nmdm-NAME.1B), median of RUNS runs; the console buffers what comes
#     before it is opened, so this is max(vm start returning, the line coming)
#   - `vm list` with 50 defined guests, median of RUNS runs
#   - GUESTS guests (20) started on one switch, each getting a DHCP lease
#     (dhcp.rom; dnsmasq on the far end of the switch's uplink, a veth): the
#     time from the first `vm start` to the last lease line on a console
# Needs root (taps, bridges, the /dev/nmdm links); everything networked runs in
# a network namespace of its own.
#   vm.sh [kvm|tcg]    as tests/bench/accel.sh picks
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$top/tests/vm/lib.sh"
roms=$top/tests/guest/build
runs=${RUNS:-5}
nguests=${GUESTS:-20}
bench="bench-vm"
# shellcheck source=tests/bench/accel.sh
. "$top/tests/bench/accel.sh"

if [ -z "${VM_BENCH_NETNS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "$bench: skipped: needs root (taps, bridges, /dev/nmdm links)"; exit 0; }
	for t in ip dnsmasq nsenter; do
		command -v "$t" >/dev/null || { echo "$bench: skipped: $t is not installed"; exit 0; }
	done
	[ -f "$roms/dhcp.rom" ] || { echo "$bench: test ROMs not built (make guest)" >&2; exit 1; }
	VM_BENCH_NETNS=1 exec unshare -n -m bash "$0" "$@"
fi
mount -t sysfs sysfs /sys || exit 1
ip link set lo up

vm=$top/bin/vm
work=$(mktemp -d)
vms=$work/vms
export VM_CONF=$work/vm.conf VM_BHYVE=$bhyve VM_BHYVECTL=$top/bin/bhyvectl
export BHYVE_VMM_DIR=$work/vmm BHYVE_RUN_DIR=$work/run
mkdir -p "$vms/.config" "$work/vmm" "$work/run"
echo "vm_dir=\"$vms\"" >"$VM_CONF"
p=vb$$	# guest names of this run (the /dev/nmdm links are global)
pids=()
cleanup() {
	kill_guests "$vms"
	for x in "${pids[@]}"; do kill "$x" 2>/dev/null; done
	wait 2>/dev/null
	rm -f /dev/nmdm-"$p"*
	rm -rf "$work"
}
trap cleanup EXIT

now_us() { echo "${EPOCHREALTIME/./}"; }
ms() { echo "$(( $1 / 1000 )).$(( $1 % 1000 / 100 ))"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
guest() { # NAME [key=value...]
	local n=$1 kv
	shift
	mkdir -p "$vms/$n"
	printf 'loader="uefi-custom"\ncpu=1\nmemory=64M\n' >"$vms/$n/$n.conf"
	for kv in "$@"; do printf '%s="%s"\n' "${kv%%=*}" "${kv#*=}" >>"$vms/$n/$n.conf"; done
}
stopped() { for _ in $(seq 300); do [ -e "$vms/$1/run.lock" ] || return 0; sleep 0.1; done; return 1; }

echo "$bench: guests under ${bhyve##*/}, $(nproc) CPUs"

# --- vm start to the first serial line
cp "$roms/echo.rom" "$vms/.config/BHYVE_UEFI.fd"
g=${p}s
guest "$g"
: >"$work/t_start"
for _ in $(seq "$runs"); do
	t0=$(now_us)
	"$vm" start "$g" >/dev/null 2>&1 || { echo "$bench: vm start $g failed: $(tail -2 "$vms/$g/vm-bhyve.log")" >&2; exit 1; }
	t1=""
	while IFS= read -r -t 30 line; do
		[[ $line == testguest:* ]] && { t1=$(now_us); break; }
	done <"/dev/nmdm-$g.1B"
	[ -n "$t1" ] || { echo "$bench: no serial line from $g within 30 s" >&2; exit 1; }
	echo $(( t1 - t0 )) >>"$work/t_start"
	"$vm" poweroff -f "$g" >/dev/null 2>&1
	stopped "$g"
done
start_ms=$(ms "$(median <"$work/t_start")")
echo "$bench: vm start to the first serial line: $start_ms ms (median of $runs; runs: $(tr '\n' ' ' <"$work/t_start" | sed 's/\([0-9]*\)[0-9][0-9][0-9] /\1 ms /g'))"

# --- vm list with 50 guests (one of them running would add the process look-up;
# all stopped here, as most are on a host)
for i in $(seq 1 49); do guest "${p}l$i" network0_type=virtio-net network0_switch=public disk0_type=virtio-blk disk0_name=disk0.img; done
: >"$work/t_list"
for _ in $(seq "$runs"); do
	t0=$(now_us)
	n=$("$vm" list | wc -l)
	echo $(( $(now_us) - t0 )) >>"$work/t_list"
done
[ "$n" -eq 51 ] || { echo "$bench: vm list printed $n lines, want 51 (a header, 50 guests)" >&2; exit 1; }
list_ms=$(ms "$(median <"$work/t_list")")
echo "$bench: vm list with 50 guests: $list_ms ms (median of $runs)"
rm -rf "${vms:?}/${p}l"* "${vms:?}/$g"

# --- N guests on one switch, each to its DHCP lease
unshare -n sleep 3600 &
pids+=($!)
lan=$!
sleep 0.2
ip link add lan0 type veth peer name lan0p || exit 1
ip link set lan0p netns "$lan"
ip link set lan0 up
nsenter -t "$lan" -n sh -c 'ip link set lo up && ip addr add 192.168.77.1/24 dev lan0p && ip link set lan0p up' || exit 1
nsenter -t "$lan" -n dnsmasq -k -C /dev/null -u root -p 0 -i lan0p --bind-interfaces --no-ping \
	--dhcp-range=192.168.77.20,192.168.77.250,255.255.255.0,1h --dhcp-leasefile="$work/leases" \
	2>"$work/dnsmasq.err" &
pids+=($!)
"$vm" switch create public >/dev/null && "$vm" switch add public lan0 >/dev/null || exit 1
cp "$roms/dhcp.rom" "$vms/.config/BHYVE_UEFI.fd"
for i in $(seq 1 "$nguests"); do guest "${p}d$i" network0_type=virtio-net network0_switch=public; done
t0=$(now_us)
for i in $(seq 1 "$nguests"); do
	"$vm" start "${p}d$i" >/dev/null 2>&1 || { echo "$bench: vm start ${p}d$i failed" >&2; exit 1; }
	# Each console read in the background, the time of its lease noted.
	(
		c=/dev/nmdm-${p}d$i.1B
		for _ in $(seq 50); do [ -e "$c" ] && break; sleep 0.1; done
		[ -e "$c" ] || { echo "FAIL no $c" >"$work/got.$i"; exit 1; }
		while IFS= read -r -t 120 line; do
			case $line in
			"dhcp: lease "*) echo "$(now_us) ${line%$'\r'}" >"$work/got.$i"; exit 0 ;;
			*FAIL*) echo "FAIL ${line%$'\r'}" >"$work/got.$i"; exit 1 ;;
			esac
		done <"$c"
	) &
done
tstarted=$(now_us)
wait_all=0
for _ in $(seq 1200); do
	got=$(cat "$work"/got.* 2>/dev/null | grep -c .)
	[ "$got" -ge "$nguests" ] && break
	sleep 0.1
done
leased=$(cat "$work"/got.* 2>/dev/null | grep -vc '^FAIL')
last=$(cat "$work"/got.* 2>/dev/null | grep -v '^FAIL' | cut -d' ' -f1 | sort -n | tail -1)
guestms=$(cat "$work"/got.* 2>/dev/null | sed -n 's/.* after \([0-9]*\) ms$/\1/p' | median)
for i in $(seq 1 "$nguests"); do "$vm" poweroff -f "${p}d$i" >/dev/null 2>&1 & done
wait_all=1
if [ "$leased" -ne "$nguests" ]; then
	echo "$bench: $leased of $nguests guests got a lease within 120 s: $(grep -h FAIL "$work"/got.* 2>/dev/null | head -2 | tr '\n' ' ')"
	[ "$leased" -gt 0 ] && echo "$bench: the last of those $leased leases after $(ms $(( last - t0 ))) ms"
else
	echo "$bench: $nguests guests on one switch, each to a DHCP lease: $(ms $(( last - t0 ))) ms from the first vm start to the last lease; the last vm start returned after $(ms $(( tstarted - t0 ))) ms; median in-guest time from driver ready to lease: ${guestms} ms"
fi
for i in $(seq 1 "$nguests"); do stopped "${p}d$i"; done
"$vm" switch destroy public >/dev/null 2>&1
[ $wait_all = 1 ]
