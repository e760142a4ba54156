#!/usr/bin/env bash
# The xHCI controller and its USB tablet and keyboard end to end (run by
# tests/gfx/test_gfx.sh, the gfx tier): bin/bhyve-emu runs the test guest's
# xhci.rom (tests/guest/xhci.inc) with an fbuf (800x600) and
# "-s 30,xhci,tablet,kbd"; the guest resets the controller, enumerates both
# devices (Enable Slot, Address Device, GET_DESCRIPTOR, SET_CONFIGURATION,
# Configure Endpoint) and prints every report. build/tests/vncclient moves the
# pointer to (100,100), then to (110,95) with the left button down, and types
# 'a': the tablet's reports must hold those positions scaled to its logical
# range (0..32767 over the 800x600 desktop) and the keyboard's the HID usage of
# 'a' (0x04), then no key. The bhyve_config(5) form (slot.N.device) is tried
# with a tablet alone; a guest that never configures the devices leaves input
# to PS/2; the ROM runs the same against QEMU's qemu-xhci, usb-tablet and
# usb-kbd; bad settings are refused with one line, status 4.
# Prints PASS/FAIL/SKIP lines.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bhyve=$top/bin/bhyve-emu
client=$top/build/tests/vncclient
rom=$top/tests/guest/build/xhci.rom
skip() { echo "SKIP xhci-$1: $2"; }
if [ ! -x "$bhyve" ]; then skip all "bin/bhyve-emu was not built (needs libunicorn-dev)"; exit 0; fi
if [ ! -x "$client" ]; then skip all "build/tests/vncclient was not built (needs libvncserver-dev)"; exit 0; fi
if [ ! -r "$rom" ]; then skip all "no $rom (make guest)"; exit 0; fi
. "$top/tests/gfx/lib.sh"
gfx_tmp
pass() { echo "PASS xhci-$1"; }
fail() { echo "FAIL xhci-$1: $2"; sed 's/^/  | /' "$tmp/out" "$tmp/err" "$tmp/client" 2>/dev/null | head -40; fails=$((fails + 1)); }

# start NAME ARGS...: the guest in the background with an 800x600 fbuf on
# $tmp/vnc.sock, COM1 in $tmp/out.
start() {
	local name=$1
	shift
	: >"$tmp/out"; : >"$tmp/err"; : >"$tmp/client"
	rm -f "$tmp/vnc.sock"
	timeout 120 "$bhyve" -s 0,hostbridge -s 29,"fbuf,unix=$tmp/vnc.sock,w=800,h=600" "$@" \
		-s 31,lpc -l com1,stdio -l "bootrom,$rom" -m 64M "$name" \
		</dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
}
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -qF -- "$1" "$tmp/out" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }
has() { grep -qxF -- "$1" <(tr -d '\r' <"$tmp/out"); }

# The tablet's logical position of desktop pixel v in a desktop of n pixels.
scale() { echo $(($1 * 32767 / ($2 - 1))); }
x1=$(scale 100 800) y1=$(scale 100 600) x2=$(scale 110 800) y2=$(scale 95 600)

# 1. -s 30,xhci,tablet,kbd: enumeration, pointer and key reports.
start xhci-both -s 30,xhci,tablet,kbd
if ! wait_for "xhci: ready" 60; then
	fail enumerate "the guest did not enumerate the devices"
else
	ok=1
	for l in "xhci: port 1 slot 1 addressed 1" "xhci: slot 1 device fb5d:0001" \
	    "xhci: slot 1 interface 03 00 00" "xhci: slot 1 report descriptor 72 bytes" \
	    "xhci: slot 1 tablet configured" "xhci: port 2 slot 2 addressed 2" \
	    "xhci: slot 2 device fb5d:0002" "xhci: slot 2 interface 03 01 01" \
	    "xhci: slot 2 report descriptor 63 bytes" "xhci: slot 2 keyboard configured"; do
		has "$l" || { ok=0; fail enumerate "no line '$l'"; break; }
	done
	[ $ok -eq 1 ] && pass enumerate_tablet_and_keyboard
	"$client" -m "$tmp/vnc.sock" >"$tmp/client" 2>&1
	if wait_for "xhci: tablet buttons 0x01" 20 &&
	   has "xhci: tablet buttons 0x00 x $x1 y $y1 wheel 0" &&
	   has "xhci: tablet buttons 0x01 x $x2 y $y2 wheel 0"; then
		pass tablet_absolute_reports
	else fail tablet_absolute_reports "expected ($x1,$y1) then ($x2,$y2) with button 1"; fi
	"$client" -k 61 "$tmp/vnc.sock" >"$tmp/client" 2>&1
	if wait_for "xhci: done" 20 && has "xhci: kbd mods 0x00 key 0x04" &&
	   has "xhci: kbd mods 0x00 key 0x00"; then
		pass keyboard_usage_reports
	else fail keyboard_usage_reports "expected key 0x04 ('a') then its release"; fi
	wait "$pid"; rc=$?; pid=""
	if [ "$rc" -eq 1 ] && ! grep -q FAIL "$tmp/out"; then pass guest_powers_off
	else fail guest_powers_off "exit status $rc (expected 1), or a FAIL line"; fi
fi
stop

# 2. bhyve_config(5)'s form, a tablet alone on port 3.
start xhci-config -o pci.0.30.0.device=xhci -o pci.0.30.0.slot.3.device=tablet
if wait_for "xhci: ready" 60 && has "xhci: slot 1 tablet configured" &&
   has "xhci: port 3 slot 1 addressed 1" && ! grep -q "keyboard configured" "$tmp/out"; then
	"$client" -m "$tmp/vnc.sock" >"$tmp/client" 2>&1
	if wait_for "xhci: done" 20 && has "xhci: tablet buttons 0x01 x $x2 y $y2 wheel 0"; then
		pass config_slot_form
	else fail config_slot_form "no tablet report"; fi
else fail config_slot_form "the tablet on port 3 was not enumerated alone"; fi
stop

# 3. A guest that never configures the USB devices (gfx.rom polls the 8042):
# the keys and the pointer still reach the PS/2 keyboard and mouse.
gfxrom=$top/tests/guest/build/gfx.rom
if [ -r "$gfxrom" ]; then
	rom=$gfxrom
	start xhci-ps2 -s 30,xhci,tablet,kbd
	rom=$top/tests/guest/build/xhci.rom
	if wait_for "gfx: drawn" 60; then
		"$client" -k 61 "$tmp/vnc.sock" >"$tmp/client" 2>&1
		if wait_for "gfx: key 0x9e" 10 && has "gfx: key 0x1e"; then
			pass unconfigured_keyboard_leaves_keys_to_ps2
		else fail unconfigured_keyboard_leaves_keys_to_ps2 "no PS/2 key 0x1e/0x9e"; fi
		if wait_for "gfx: mouse on" 10; then
			"$client" -m "$tmp/vnc.sock" >"$tmp/client" 2>&1
			if wait_for "gfx: mouse 0x09 0x0a 0x05" 10; then
				pass unconfigured_tablet_leaves_pointer_to_ps2
			else fail unconfigured_tablet_leaves_pointer_to_ps2 "no PS/2 packet"; fi
		else fail unconfigured_tablet_leaves_pointer_to_ps2 "the guest did not turn the mouse on"; fi
	else fail unconfigured_keyboard_leaves_keys_to_ps2 "gfx.rom did not draw"; fi
	stop
else
	skip ps2_fallback "no $gfxrom (make guest)"
fi

# 4. The ROM itself against another xHCI: QEMU's qemu-xhci with usb-tablet
# and usb-kbd (TCG, its own VNC server), driven the same way.
qemu=$(command -v qemu-system-x86_64 || true)
if [ -z "$qemu" ]; then
	skip rom_under_qemu "qemu-system-x86_64 is not installed (tools/packages-tests)"
else
	: >"$tmp/out"; : >"$tmp/err"
	rm -f "$tmp/vnc.sock"
	timeout 120 "$qemu" -accel tcg -bios "$rom" -nodefaults -display none -m 64M \
		-vnc "unix:$tmp/vnc.sock" -device VGA -device qemu-xhci -device usb-tablet \
		-device usb-kbd -serial "file:$tmp/out" </dev/null >"$tmp/err" 2>&1 &
	pid=$!
	if wait_for "xhci: ready" 60 && grep -q "tablet configured" "$tmp/out" &&
	   grep -q "keyboard configured" "$tmp/out"; then
		"$client" -m "$tmp/vnc.sock" >"$tmp/client" 2>&1
		"$client" -k 61 "$tmp/vnc.sock" >>"$tmp/client" 2>&1
		if wait_for "xhci: done" 30 && grep -q "xhci: tablet buttons 0x01 x" "$tmp/out" &&
		   has "xhci: kbd mods 0x00 key 0x04"; then
			pass rom_under_qemu
		else fail rom_under_qemu "no tablet or key reports under QEMU"; fi
	else fail rom_under_qemu "the ROM did not enumerate QEMU's usb-tablet and usb-kbd"; fi
	stop
fi

# 5. Refused: one line, exit status 4.
refused unknown_device 'xhci: unknown USB device "mouse" (tablet or kbd)' -s 30,xhci,mouse
refused too_many 'xhci: more than 4 USB devices' -s 30,xhci,tablet,kbd,tablet,kbd,tablet
refused bad_slot 'xhci: invalid USB slot "9" (1 to 4)' \
	-o pci.0.30.0.device=xhci -o pci.0.30.0.slot.9.device=tablet
refused unknown_slot_option 'xhci: unknown USB slot option "speed"' \
	-o pci.0.30.0.device=xhci -o pci.0.30.0.slot.1.speed=high
refused two_controllers 'only one xhci device is supported' -s 28,xhci,tablet -s 30,xhci,kbd

exit $((fails > 0))
