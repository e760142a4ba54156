#!/usr/bin/env bash
# vm switch on Linux bridges (vm/switch.c, vm/netlink.c), in a network
# namespace of its own: never on the host's interfaces.
#
# The fixture: a veth pair as the "physical" NIC (lan0 here, lan0p in a second
# namespace where dnsmasq is the LAN's DHCP server); client namespaces reach
# the bridges through veths. `ip` builds the fixture only; everything vm does
# goes through rtnetlink. Guest taps are made with the hidden `vm switch _tap
# SWITCH GUEST N` (what the supervisor calls, net_tap_create); `vm init` makes
# the bridges again after a "reboot" (switch_init_all; the hidden `vm switch
# _init` runs switch_init_all alone).
set -u
cd "$(dirname "$0")/../.." || exit 1

if [ -z "${VM_SWITCH_NETNS:-}" ]; then
	if ! out=$(unshare -n -m sh -c 'mount -t sysfs sysfs /sys' 2>&1); then
		echo "SKIP vm-switch: cannot make a network namespace with its own /sys (unshare -n -m: $out)"
		exit 0
	fi
	for t in ip dnsmasq busybox nsenter; do
		if ! command -v "$t" >/dev/null; then
			echo "SKIP vm-switch: $t is not installed (tools/packages-tests)"
			exit 0
		fi
	done
	VM_SWITCH_NETNS=1 exec unshare -n -m bash "$0" "$@"
fi
# /sys/class/net shows the namespace /sys was mounted in: mount it again here
# (a mount namespace of its own, so the host's /sys is untouched).
mount -t sysfs sysfs /sys || exit 1

vm=$PWD/bin/vm
work=$(mktemp -d)
pids=()
failed=0
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

pass() { echo "PASS vm-switch-$1"; }
fail() { echo "FAIL vm-switch-$1: $2"; failed=1; }
skip() { echo "SKIP vm-switch-$1: $2"; }
check() {	# check NAME CONDITION-STATUS DETAIL
	if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi
}

mkdir -p "$work/vms/.config"
printf 'vm_dir="%s/vms"\n' "$work" >"$work/vm.conf"
export VM_CONF=$work/vm.conf
sys=$work/vms/.config/system.conf

# A namespace held by a sleeping process; its pid names it.
newns() {
	local me
	unshare -n sleep 600 &
	pids+=($!)
	NS=$!
	# Until unshare(2) has run in it, it is still in this namespace.
	me=$(readlink /proc/self/ns/net)
	for _ in $(seq 100); do
		[ "$(readlink "/proc/$NS/ns/net" 2>/dev/null)" != "$me" ] && return 0
		sleep 0.02
	done
	echo "FAIL vm-switch: the namespace of process $NS did not come"
	exit 1
}
in_ns() {	# in_ns PID CMD...
	local p=$1
	shift
	nsenter -t "$p" -n "$@"
}
# A veth pair: HERE stays, THERE goes to namespace PID, up there.
veth() {	# veth HERE THERE PID [ADDR/LEN]
	ip link add "$1" type veth peer name "$2" || return 1
	ip link set "$2" netns "$3" || return 1
	in_ns "$3" ip link set "$2" up
	in_ns "$3" ip link set lo up
	[ -n "${4:-}" ] && in_ns "$3" ip addr add "$4" dev "$2"
	return 0
}
sysfs() { cat "/sys/class/net/$1" 2>/dev/null; }

ip link set lo up
newns
dhcp=$NS
if ! veth lan0 lan0p "$dhcp" 192.168.77.1/24; then
	echo "SKIP vm-switch: cannot make veth pairs in the test namespace"
	exit 0
fi
# nsenter straight, not through in_ns: $! must be dnsmasq itself, not a subshell.
nsenter -t "$dhcp" -n dnsmasq --keep-in-foreground --no-resolv --port=0 --user=root \
	--interface=lan0p --bind-interfaces --no-ping \
	--dhcp-range=192.168.77.50,192.168.77.99,1h \
	--dhcp-leasefile="$work/leases" --pid-file="$work/dnsmasq.pid" 2>"$work/dnsmasq.log" &
pids+=($!)
# Serving once it has written its pid file (its sockets are bound by then).
for _ in $(seq 50); do
	[ -s "$work/dnsmasq.pid" ] && break
	sleep 0.1
done
if [ ! -s "$work/dnsmasq.pid" ]; then
	echo "FAIL vm-switch: dnsmasq did not start: $(cat "$work/dnsmasq.log")"
	exit 1
fi

# ---- create, add, list
"$vm" switch create public >"$work/out" 2>&1
check create_standard $? "$(cat "$work/out")"
"$vm" switch add public lan0 >"$work/out" 2>&1
check add_member $? "$(cat "$work/out")"
[ "$(sysfs vm-public/bridge/stp_state)" = 0 ] && [ "$(sysfs vm-public/bridge/forward_delay)" = 0 ] &&
	[ "$(basename "$(readlink /sys/class/net/lan0/master)")" = vm-public ] &&
	[ "$(sysfs vm-public/operstate)" != down ]
check bridge_nostp_up_member $? "stp=$(sysfs vm-public/bridge/stp_state) fd=$(sysfs vm-public/bridge/forward_delay) master=$(readlink /sys/class/net/lan0/master)"

expect='NAME    TYPE      IFACE      ADDRESS  PRIVATE  MTU  VLAN  PORTS
public  standard  vm-public  -        no       -    -     lan0'
out=$("$vm" switch list 2>&1)
[ "$out" = "$expect" ]
check list_exact $? "$(printf '%s' "$out" | cat -A)"

# ---- a guest's tap joins the bridge, named back by switch info
tap=$("$vm" switch _tap public alpine1 0 2>"$work/err")
if [ -n "$tap" ] && [ "$(basename "$(readlink "/sys/class/net/$tap/master")")" = vm-public ] &&
	[ "$(sysfs "$tap/ifalias")" = vmnet-alpine1-0-public ] && [ "$(sysfs "$tap/tun_flags")" != "" ] &&
	[ "$(sysfs "$tap/brport/isolated")" = 0 ] && (($(sysfs "$tap/flags") & 1)); then
	pass tap_joins_bridge
else
	fail tap_joins_bridge "tap='$tap' $(cat "$work/err") master=$(readlink "/sys/class/net/$tap/master")"
fi
# bin/bhyve's tap backend attaches to it by name with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR,
# and IFF_MULTI_QUEUE: vm makes multi-queue taps (a queue pair per guest CPU).
py=$(command -v /usr/bin/python3 python3 | head -n 1)
if [ -n "$py" ]; then
	out=$("$py" -c 'import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000 | 0x4000 | 0x0100))
print("attached")' "$tap" 2>&1)
	[ "$out" = attached ]
	check tap_opens_like_bhyve $? "$out"
else
	skip tap_opens_like_bhyve "no python3 to attach to the tap as bhyve does"
fi
out=$("$vm" switch info public 2>&1)
if [[ $out == *"Virtual Switch: public"* && $out == *"  type: standard"* && $out == *"  ident: vm-public"* &&
	$out == *"  physical-ports: lan0"* && $out == *"  bytes-in: "*" ("*"B)"* &&
	$out == *$'  virtual-port\n    device: '"$tap"$'\n    vm: alpine1'* ]]; then
	pass info_guests
else
	fail info_guests "$out"
fi
out=$("$vm" switch destroy public 2>&1)
[ $? -ne 0 ] && [[ $out == *"alpine1"* ]] && [ -e /sys/class/net/vm-public ]
check destroy_refused_with_guests $? "$out"
"$vm" switch _untap "$tap"
[ ! -e "/sys/class/net/$tap" ]
check tap_removed $? "$tap still there"

# What a supervisor killed with SIGKILL leaves is reclaimed by the guest's name.
t1=$("$vm" switch _tap public g-9 0) && t2=$("$vm" switch _tap "" g-9 1) && t3=$("$vm" switch _tap public g 0) &&
	[ "$(sysfs "$t2/ifalias")" = vmnet-g-9-1- ] && [ "$("$vm" switch _reap g-9)" = 2 ] &&
	[ ! -e "/sys/class/net/$t1" ] && [ ! -e "/sys/class/net/$t2" ] && [ -e "/sys/class/net/$t3" ]
check tap_reap $? "$t1 $t2 $t3: $(ls /sys/class/net)"
"$vm" switch _untap "$t3"

# ---- a DHCP client behind the bridge gets its lease at once (no STP delay).
# With STP a new port forwards after twice the forwarding delay: 30 s by
# default, 4 s at the least; here the lease must come within 2 s of link-up
# (well under 1 s on an idle machine).
newns
c1=$NS
veth c1 c1p "$c1"
ip link set c1 master vm-public
t0=$(date +%s%N)
ip link set c1 up
out=$(in_ns "$c1" busybox udhcpc -i c1p -n -q -t 3 -T 1 -s /bin/true 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc -eq 0 ] && [[ $out == *"lease of 192.168.77."*" obtained"* ]] && [ "$ms" -lt 2000 ]; then
	pass "dhcp_lease_at_once: lease ${ms} ms after link-up"
else
	fail dhcp_lease_at_once "rc=$rc after ${ms} ms: $(printf '%s' "$out" | tr '\n' ' ') $(cat "$work/dnsmasq.log")"
fi

# The control: with STP on (as a bridge made by hand has it, here with the
# shortest forwarding delay, 2 s) a new port is not forwarding yet and the
# same client gets no lease in that time; switch_init_all (vm init) turns STP
# off again on the existing bridge, and the lease comes at once.
newns
c4=$NS
veth c4 c4p "$c4"
ip link set vm-public type bridge stp_state 1 forward_delay 200
ip link set c4 master vm-public
ip link set c4 up
if in_ns "$c4" busybox udhcpc -i c4p -n -q -t 1 -T 1 -s /bin/true >/dev/null 2>&1; then
	fail dhcp_control_stp "a lease through a bridge with STP on: the timing check above proves nothing here"
else
	"$vm" switch _init
	out=$(in_ns "$c4" busybox udhcpc -i c4p -n -q -t 3 -T 1 -s /bin/true 2>&1)
	[ $? -eq 0 ] && [ "$(sysfs vm-public/bridge/stp_state)" = 0 ] && [ "$(sysfs vm-public/bridge/forward_delay)" = 0 ]
	check dhcp_control_stp $? "after switch _init: stp=$(sysfs vm-public/bridge/stp_state) $out"
fi

# ---- a private switch with an MTU and an address: ports isolated from each other
newns
up=$NS
veth up1 up1p "$up" 10.9.0.1/24
"$vm" switch create -i up1 -m 1400 -a 10.9.0.254/24 -p priv >"$work/out" 2>&1
check create_private $? "$(cat "$work/out")"
[ "$(sysfs vm-priv/mtu)" = 1400 ] && [ "$(sysfs up1/mtu)" = 1400 ] &&
	ip -o -4 addr show dev vm-priv | grep -q ' 10.9.0.254/24 '
check mtu_address_applied $? "mtu $(sysfs vm-priv/mtu)/$(sysfs up1/mtu) $(ip -o -4 addr show dev vm-priv)"
out=$("$vm" switch list 2>&1 | grep '^priv ')
[[ $out =~ ^priv\ +standard\ +vm-priv\ +10\.9\.0\.254/24\ +yes\ +1400\ +-\ +up1$ ]]
check list_private_row $? "$out"
tap=$("$vm" switch _tap priv g1 0 2>&1)
[ "$(sysfs "$tap/brport/isolated")" = 1 ] && [ "$(sysfs "$tap/mtu")" = 1400 ]
check tap_private_isolated_mtu $? "tap=$tap isolated=$(sysfs "$tap/brport/isolated") mtu=$(sysfs "$tap/mtu")"
"$vm" switch _untap "$tap"
# Two client namespaces as guests: their ports carry a guest's alias, so
# `switch private` treats them as it treats guest taps.
newns
c2=$NS
newns
c3=$NS
veth c2 c2p "$c2" 10.9.0.2/24
veth c3 c3p "$c3" 10.9.0.3/24
for i in c2 c3; do
	ip link set "$i" master vm-priv mtu 1400 alias "vmnet-g$i-0-priv" up
	in_ns "${!i}" ip link set "${i}p" mtu 1400
done
"$vm" switch private priv yes
ping1() { in_ns "$1" busybox ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
# Reachable: up to three tries (an ARP lookup that failed a moment ago, a busy machine).
ping3() { ping1 "$@" || ping1 "$@" || ping1 "$@"; }
if ping3 "$c2" 10.9.0.1 && ping3 "$c3" 10.9.0.254 && ! ping1 "$c2" 10.9.0.3; then
	"$vm" switch private priv no
	if ping3 "$c2" 10.9.0.3 && [ "$(sysfs c2/brport/isolated)" = 0 ]; then
		pass private_isolates_ports
	else
		fail private_isolates_ports "private no: c2 still cannot reach c3 (isolated $(sysfs c2/brport/isolated) $(sysfs c3/brport/isolated))"
	fi
else
	fail private_isolates_ports "isolated=$(sysfs c2/brport/isolated): uplink $(ping1 "$c2" 10.9.0.1 && echo ok || echo unreachable), c2->c3 $(ping1 "$c2" 10.9.0.3 && echo reachable || echo blocked)"
fi
"$vm" switch address priv 10.8.0.1/16 && ip -o -4 addr show dev vm-priv | grep -q ' 10.8.0.1/16 ' &&
	! ip -o -4 addr show dev vm-priv | grep -q 10.9.0.254 && "$vm" switch address priv none &&
	[ -z "$(ip -o -4 addr show dev vm-priv)" ] && ! grep -q addr_priv "$sys"
check address_change $? "$(ip -o -4 addr show dev vm-priv)"
ip link set c2 nomaster
ip link set c3 nomaster
"$vm" switch destroy priv >"$work/out" 2>&1 && [ ! -e /sys/class/net/vm-priv ] &&
	[ -z "$(sysfs up1/master)" ] && ! grep -q '_priv=' "$sys"
check destroy $? "$(cat "$work/out") $(ls /sys/class/net) $(cat "$sys")"

# ---- VLANs: tests/vm/test_vlan.sh

# ---- bad input: one line, non-zero
bad() {	# bad NAME EXPECT ARGS...
	local name=$1 want=$2 out rc
	shift 2
	out=$("$vm" "$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [[ $out == *"$want"* ]]; then
		pass "$name"
	else
		fail "$name" "rc=$rc: $out"
	fi
}
bad missing_member "interface nosuch0 does not exist" switch create -i nosuch0 sw1
[ ! -e /sys/class/net/vm-sw1 ] && ! grep -q sw1 "$sys"
check missing_member_leaves_nothing $? "$(ls /sys/class/net)"
bad add_missing_member "interface nosuch0 does not exist" switch add public nosuch0
bad exists "switch public already exists" switch create public
bad not_exists "switch nosw does not exist" switch add nosw lan0
bad destroy_not_exists "switch nosw does not exist" switch destroy nosw
bad bad_vlan "invalid vlan number '5000'" switch create -n 5000 sw1
bad bad_mtu "invalid mtu 'big'" switch create -m big sw1
bad bad_address "CIDR" switch create -a 10.0.0/24 sw1
bad bad_address_cmd "CIDR" switch address public 10.0.0.1
bad name_too_long "too long" switch create abcdefghijklm
bad member_name_too_long "too long" switch create -i abcdefghijklmnop sw1
bad bad_type "invalid switch type 'vale'" switch create -t vale sw1
bad manual_needs_bridge "-b bridge" switch create -t manual sw1
bad tap_unknown_switch "switch nosw does not exist" switch _tap nosw g 0

# ---- a manual switch uses a bridge made outside vm
ip link add mybr type bridge
"$vm" switch create -t manual -b mybr man >"$work/out" 2>&1 &&
	"$vm" switch list | grep -Eq '^man +manual +mybr +n/a +no +n/a +n/a +n/a$' &&
	tap=$("$vm" switch _tap man g2 1) &&
	[ "$(basename "$(readlink "/sys/class/net/$tap/master")")" = mybr ] &&
	"$vm" switch _untap "$tap" && "$vm" switch destroy man && [ -e /sys/class/net/mybr ]
check manual $? "$(cat "$work/out") $("$vm" switch list 2>&1)"

# ---- after a "reboot": vm init (switch_init_all) makes the missing bridge again
ip link del vm-public
"$vm" init >"$work/out" 2>&1 &&
	[ "$(basename "$(readlink /sys/class/net/lan0/master)")" = vm-public ] &&
	[ "$(sysfs vm-public/bridge/forward_delay)" = 0 ] && [ "$(sysfs vm-public/bridge/stp_state)" = 0 ]
check init_recreates $? "$(cat "$work/out") $(ls /sys/class/net)"
"$vm" switch remove public lan0 && [ -z "$(sysfs lan0/master)" ] && ! grep -q ports_public "$sys"
check remove_member $? "$(cat "$sys")"
"$vm" switch destroy public && [ ! -e /sys/class/net/vm-public ] && ! grep -q public "$sys"
check destroy_last $? "$(cat "$sys")"
exit $failed
