#!/bin/sh
# Boots every ROM variant under QEMU (TCG) and checks its output.
# Usage: qemu-check.sh [BUILD_DIR]    (exit 0 = all passed)
set -u
build=${1:-$(dirname "$0")/build}
if ! command -v "${QEMU:-qemu-system-x86_64}" >/dev/null; then
	echo "SKIP qemu-tcg: ${QEMU:-qemu-system-x86_64} is not installed"
	exit 0
fi
qemu=${QEMU:-qemu-system-x86_64}
accel=${QEMU_ACCEL:-tcg}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

run() { # run ROM SMP SECONDS [extra qemu args...]; output in $tmp/out, status in $rc
	rom=$1 smp=$2 secs=$3
	shift 3
	# $noreboot unquoted on purpose: set but empty means "allow reboots".
	# shellcheck disable=SC2086
	timeout "$secs" "$qemu" -accel "$accel" -bios "$build/$rom" -nodefaults \
		-serial stdio -display none -m 128 -smp "$smp" ${noreboot--no-reboot} "$@" \
		</dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
}
fail() { echo "FAIL qemu-tcg $*"; sed 's/^/  | /' "$tmp/txt"; fails=$((fails + 1)); }
pass() { echo "PASS qemu-tcg $*"; }
has() { grep -qx -- "$1" "$tmp/txt"; }

for smp in 1 2; do
	# -smp 2 also gets a virtio entropy device (legacy I/O BAR0, which the
	# guest assigns itself); -smp 1 has none and must say so.
	if [ "$smp" -eq 2 ]; then
		run guest.rom "$smp" 60 -device virtio-rng-pci
		rnd1='virtio-rnd: got 64 bytes' rnd2='virtio-rnd: varied'
	else
		run guest.rom "$smp" 60
		rnd1='virtio-rnd: none' rnd2='virtio-rnd: none'
	fi
	t="suite -smp $smp"
	if [ "$rc" -ne 0 ]; then fail "$t: qemu status $rc (no power-off?)"; continue; fi
	if grep -q '^testguest: FAIL' "$tmp/txt"; then fail "$t: guest reported failure"; continue; fi
	for l in 'testguest: start' 'testguest: platform qemu' "cpu: $smp online" \
	    'irq: ioapic vector 0x44 pending in lapic irr' 'unusedport: in8 0x9999 = 0xff' \
	    'testguest: done' "$rnd1" "$rnd2"; do
		has "$l" || { fail "$t: missing '$l'"; continue 2; }
	done
	hz=$(sed -n 's/^pmtimer: hz //p' "$tmp/txt")
	if [ -z "$hz" ] || [ "$hz" -lt 3543750 ] || [ "$hz" -gt 3615340 ]; then
		fail "$t: pmtimer hz '$hz' not within 1% of 3579545"; continue
	fi
	rtc=$(sed -n 's/^rtc: //p' "$tmp/txt")
	skew=$(( $(date -u +%s) - $(date -u -d "$rtc" +%s 2>/dev/null || echo 0) ))
	if [ "$skew" -lt -5 ] || [ "$skew" -gt 60 ]; then
		fail "$t: rtc '$rtc' is ${skew}s from the host clock"; continue
	fi
	pass "$t (pmtimer $hz, rtc skew ${skew}s, virtio-rnd ${rnd2#virtio-rnd: })"
done

# A writable virtio-blk disk (legacy I/O BAR0 again): 1 MiB of zeros but for a
# known sector 0. The guest writes a pattern to sector 1 (byte i = i*7+0x5A),
# reads it back, flushes, asks for the serial and reads sector 0.
dd if=/dev/zero of="$tmp/disk.img" bs=1024 count=1024 2>/dev/null
printf 'TESTGUESTDISK000' | dd of="$tmp/disk.img" conv=notrunc 2>/dev/null
run guest.rom 1 60 -drive "file=$tmp/disk.img,if=none,format=raw,id=d0" \
	-device virtio-blk-pci,drive=d0,serial=TESTSERIAL
t='suite virtio-blk'
want=$(awk 'BEGIN { for (i = 0; i < 512; i++) printf "%02x", (i * 7 + 90) % 256 }')
got=$(od -An -v -tx1 -j512 -N512 "$tmp/disk.img" | tr -d ' \n')
if [ "$rc" -ne 0 ]; then
	fail "$t: qemu status $rc (no power-off?)"
elif grep -q '^testguest: FAIL' "$tmp/txt"; then
	fail "$t: guest reported failure"
elif ! grep -q '^virtio-blk: features [0-9a-f]\{8\}$' "$tmp/txt"; then
	fail "$t: missing 'virtio-blk: features XXXXXXXX'"
else
	ok=1
	for l in 'testguest: done' 'virtio-blk: capacity 2048 sectors' \
	    'virtio-blk: write/read sector 1 ok' 'virtio-blk: flush ok' 'virtio-blk: id TESTSERIAL' \
	    'virtio-blk: sector0 5445535447554553544449534b303030'; do
		has "$l" || { fail "$t: missing '$l'"; ok=0; break; }
	done
	if [ "$ok" -eq 1 ]; then
		if [ "$got" = "$want" ]; then
			pass "$t (sector 1 written to the image)"
		else
			fail "$t: sector 1 of the image does not hold the pattern"
		fi
	fi
fi

# virtio-net (legacy I/O BAR0): the guest, 10.0.2.15, asks who has 10.0.2.2 and
# pings it. QEMU's user-mode network (slirp) answers both as its gateway; a tap
# in a network namespace of its own, with 10.0.2.2/24 on the host side, answers
# through the host's kernel (root only).
net_check() { # net_check NAME PEER_MAC
	t="suite virtio-net $1"
	if [ "$rc" -ne 0 ]; then
		fail "$t: qemu status $rc (no power-off?)"
	elif grep -q '^testguest: FAIL virtio' "$tmp/txt"; then
		fail "$t: guest reported a virtio failure"
	elif ! has 'virtio-net: mac 52:54:00:12:34:56' || ! has 'virtio-net: link up' ||
	    ! has "virtio-net: arp reply 10.0.2.2 is-at $2" || ! has 'virtio-net: echo reply from 10.0.2.2'; then
		fail "$t: no ARP reply from $2 or no echo reply"
	else
		pass "$t (ARP and ICMP echo with 10.0.2.2)"
	fi
}
run guest.rom 1 60 -netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56
net_check slirp 52:55:0a:00:02:02
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ] || ! command -v unshare >/dev/null; then
	echo "SKIP qemu-tcg suite virtio-net tap: needs root, /dev/net/tun and unshare"
else
	# shellcheck disable=SC2016
	timeout 60 unshare -n sh -c '
		ip tuntap add qtap0 mode tap && ip addr add 10.0.2.2/24 dev qtap0 &&
		ip link set qtap0 up || exit 99
		ip -o link show qtap0 | sed -n "s/.*link\/ether \([0-9a-f:]*\).*/\1/p" >"$1"
		shift
		"$@"; rc=$?
		ip link del qtap0
		exit $rc' sh "$tmp/tapmac" "$qemu" -accel "$accel" -bios "$build/guest.rom" -nodefaults \
		-serial stdio -display none -m 128 -smp 1 -no-reboot \
		-netdev tap,id=n0,ifname=qtap0,script=no,downscript=no \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56 </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
	net_check tap "$(cat "$tmp/tapmac" 2>/dev/null)"
fi

for v in reboot kbdreset triple; do
	run "$v.rom" 1 30 -d cpu_reset -D "$tmp/log"
	if [ "$rc" -ne 0 ] || ! has "testguest: $v" || grep -q FAIL "$tmp/txt"; then
		fail "$v: status $rc"
	elif [ "$v" = triple ] && ! grep -q 'Triple fault' "$tmp/log"; then
		fail "triple: qemu saw no triple fault"
	else
		# Without -no-reboot a reset restarts the ROM, a power-off would not.
		noreboot=; run "$v.rom" 1 3; unset noreboot
		n=$(grep -cx "testguest: $v" "$tmp/txt")
		if [ "$rc" -eq 124 ] && [ "$n" -ge 2 ]; then pass "$v"; else fail "$v: did not restart"; fi
	fi
done

run halt.rom 2 5
if [ "$rc" -eq 124 ] && has 'testguest: halt'; then pass halt; else fail "halt: status $rc"; fi

run badport.rom 1 30
if [ "$rc" -eq 0 ] && has 'testguest: badport' && has 'badport: in8 0x9999 = 0xff'; then
	pass badport
else
	fail "badport: status $rc"
fi

[ "$fails" -eq 0 ]
