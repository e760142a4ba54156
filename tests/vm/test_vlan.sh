#!/usr/bin/env bash
# vm switch with VLANs (vm/switch.c, vm/netlink.c), in a network namespace of
# its own: `switch create -i IFACE -n VLAN` makes the 802.1Q interface
# IFACE.VLAN on IFACE and puts it (not IFACE) in the bridge; `switch add` does
# the same for a second member; `switch vlan` moves the members to another VLAN
# or (0) back onto the bridge themselves; `vm init` makes them again after a
# "reboot"; a guest's tap joins the bridge as usual; `switch destroy` leaves
# nothing. Each VLAN interface is checked for its id and its parent, as the
# kernel reports them (ip -d link, /proc/net/vlan).
#
# On a kernel without 802.1Q (CONFIG_VLAN_8021Q, the 8021q module) the VLAN
# checks skip with that reason, and the refusal itself is checked: one line,
# nothing made. The nested tier (tests/nested/tier.sh vm) runs this in the L1,
# a Debian kernel with the 8021q module loaded.
set -u
cd "$(dirname "$0")/../.." || exit 1
tests=(create_vlan_iface create_bridge_members list add_member_vlan guest_tap change_vlan vlan_zero
	init_recreates destroy_nothing_left)

if [ -z "${VM_VLAN_NETNS:-}" ]; then
	if ! out=$(unshare -n -m sh -c 'mount -t sysfs sysfs /sys' 2>&1); then
		echo "SKIP vm-vlan: cannot make a network namespace with its own /sys (unshare -n -m: $out)"
		exit 0
	fi
	command -v ip >/dev/null || { echo "SKIP vm-vlan: ip is not installed (tools/packages-tests)"; exit 0; }
	VM_VLAN_NETNS=1 exec unshare -n -m bash "$0" "$@"
fi
mount -t sysfs sysfs /sys || exit 1
ip link set lo up

vm=$PWD/bin/vm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
pass() { echo "PASS vm-vlan-$1"; }
fail() { echo "FAIL vm-vlan-$1: $2"; failed=1; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
master() { basename "$(readlink "/sys/class/net/$1/master" 2>/dev/null)" 2>/dev/null; }
members() { ls "/sys/class/net/$1/brif" 2>/dev/null | sort | tr '\n' ' '; }
nets() { ls /sys/class/net | tr '\n' ' '; }
# vlan_of IFACE: "PARENT ID" as the kernel reports IFACE (empty if not a VLAN)
vlan_of() {
	ip -d -o link show dev "$1" 2>/dev/null |
		sed -n 's/^[0-9]*: [^@]*@\([^:]*\):.* vlan protocol 802\.1Q id \([0-9]*\) .*/\1 \2/p'
}

mkdir -p "$work/vms/.config"
printf 'vm_dir="%s/vms"\n' "$work" >"$work/vm.conf"
export VM_CONF=$work/vm.conf
sys=$work/vms/.config/system.conf
ip link add lan2 type veth peer name lan2p && ip link add lan3 type veth peer name lan3p || {
	echo "SKIP vm-vlan: cannot make veth pairs in the test namespace"
	exit 0
}
ip link set lan2p up && ip link set lan3p up

out=$("$vm" switch create -i lan2 -n 10 vl 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $out == *"802.1Q"* ]]; then
	echo "SKIP vm-vlan: this kernel has no 802.1Q support (CONFIG_VLAN_8021Q; the nested tier runs the ${#tests[@]} VLAN checks on Debian's kernel with 8021q)"
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [ ! -e /sys/class/net/vm-vl ] && [ ! -e /sys/class/net/lan2.10 ] &&
		! grep -q vl "$sys" 2>/dev/null
	check refused_cleanly $? "$out / $(nets)"
	exit $failed
fi

# ---- create: lan2.10 on lan2, in vm-vl; lan2 itself not in the bridge
[ $rc -eq 0 ] && [ "$(vlan_of lan2.10)" = "lan2 10" ] && grep -q '^lan2\.10 *| *10 *| *lan2$' /proc/net/vlan/config
check create_vlan_iface $? "rc=$rc $out; lan2.10: '$(vlan_of lan2.10)' $(cat /proc/net/vlan/config 2>/dev/null | tr '\n' '|')"
[ "$(master lan2.10)" = vm-vl ] && [ -z "$(master lan2)" ] && [ "$(members vm-vl)" = "lan2.10 " ] &&
	[ "$(cat /sys/class/net/vm-vl/bridge/stp_state)" = 0 ] && (($(cat /sys/class/net/lan2.10/flags) & 1))
check create_bridge_members $? "lan2.10 in '$(master lan2.10)', lan2 in '$(master lan2)', vm-vl has '$(members vm-vl)'"
row=$("$vm" switch list 2>&1 | grep '^vl ' | tr -s ' ')
[ "$row" = "vl standard vm-vl - no - 10 lan2" ]
check list $? "'$row'"

# ---- a second member joins through its own VLAN interface
"$vm" switch add vl lan3 >"$work/out" 2>&1 && [ "$(vlan_of lan3.10)" = "lan3 10" ] &&
	[ "$(members vm-vl)" = "lan2.10 lan3.10 " ] && [ -z "$(master lan3)" ]
check add_member_vlan $? "$(cat "$work/out") lan3.10: '$(vlan_of lan3.10)' vm-vl has '$(members vm-vl)'"

# ---- a guest's tap joins the bridge untagged (the VLAN is the uplinks')
tap=$("$vm" switch _tap vl g1 0 2>"$work/err")
[ -n "$tap" ] && [ "$(master "$tap")" = vm-vl ] && [ -z "$(vlan_of "$tap")" ]
check guest_tap $? "tap='$tap' $(cat "$work/err") in '$(master "$tap")'"

# ---- switch vlan: another id, then none
"$vm" switch vlan vl 20 >"$work/out" 2>&1 && [ ! -e /sys/class/net/lan2.10 ] && [ ! -e /sys/class/net/lan3.10 ] &&
	[ "$(vlan_of lan2.20)" = "lan2 20" ] && [ "$(vlan_of lan3.20)" = "lan3 20" ] &&
	[ "$(members vm-vl)" = "lan2.20 lan3.20 $tap " ] &&
	[ "$("$vm" switch list 2>&1 | grep '^vl ' | tr -s ' ' | cut -d' ' -f7)" = 20 ]
check change_vlan $? "$(cat "$work/out") $(nets) vm-vl has '$(members vm-vl)'"
"$vm" switch vlan vl 0 >"$work/out" 2>&1 && [ ! -e /sys/class/net/lan2.20 ] && [ ! -e /sys/class/net/lan3.20 ] &&
	[ "$(members vm-vl)" = "lan2 lan3 $tap " ] && ! grep -q '^vlan_vl=' "$sys" &&
	[ "$("$vm" switch list 2>&1 | grep '^vl ' | tr -s ' ' | cut -d' ' -f7)" = - ]
check vlan_zero $? "$(cat "$work/out") $(nets) vm-vl has '$(members vm-vl)'"

# ---- after a "reboot" (bridge and VLAN interfaces gone): vm init
"$vm" switch vlan vl 30 >"$work/out" 2>&1 && "$vm" switch _untap "$tap" >>"$work/out" 2>&1 &&
	ip link del vm-vl && ip link del lan2.30 && ip link del lan3.30 &&
	"$vm" init >>"$work/out" 2>&1 && [ "$(vlan_of lan2.30)" = "lan2 30" ] && [ "$(vlan_of lan3.30)" = "lan3 30" ] &&
	[ "$(members vm-vl)" = "lan2.30 lan3.30 " ]
check init_recreates $? "$(cat "$work/out") $(nets) vm-vl has '$(members vm-vl)'"

"$vm" switch destroy vl >"$work/out" 2>&1 && ! nets | grep -q 'lan[23]\.\|vm-vl' &&
	[ -e /sys/class/net/lan2 ] && [ -z "$(master lan2)" ] && [ -z "$(master lan3)" ] && ! grep -q '_vl=' "$sys"
check destroy_nothing_left $? "$(cat "$work/out") $(nets) $(cat "$sys" 2>/dev/null)"
exit $failed
