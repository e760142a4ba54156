#!/usr/bin/env bash
# The graphical console end to end: bin/bhyve-emu runs the test guest's gfx.rom
# (tests/guest/gfx.inc) with an fbuf device, and build/tests/vncclient (on
# libvncclient) is the VNC client:
#   - wait: the guest's first COM1 line does not appear before a client connects;
#   - the guest's 640x480 mode reaches the client as a desktop size change and its
#     pattern arrives exact through raw, zlib, tight (no JPEG), ZRLE and hextile,
#     over the UNIX socket and over TCP (IPv4 and IPv6), two clients at once;
#   - an idle screen sends no update to a connected client;
#   - a key the client sends reaches the guest through the PS/2 keyboard as set 1
#     ('a': 0x1e, then its release 0x9e); with -K de the German key ('z': 0x15,
#     'u with diaeresis': 0x1a), with -K ru and -K us_dvorak theirs; the layout
#     files are in step with tools/kbdlayouts.list; an unknown layout exits 4;
#     and its pointer through the PS/2 mouse (a 3-byte packet of the relative movement);
#   - password=: a wrong password is refused, the right one accepted;
#   - bad fbuf settings are refused with one line and exit status 4;
#   - the xHCI's USB tablet and keyboard (tests/gfx/test_xhci.sh);
#   - vga=on: the guest's DISPI mode is what VNC shows; Debian's SeaBIOS runs the VGA BIOS the fbuf offers as its option
#     ROM and its text appears on VNC, read by OCR (tests/gfx/seabios_vga.sh);
#     GRUB's menu is read the same way (tests/gfx/grub_menu.sh; its keys test
#     needs KVM's interrupts: the nested tier).
# Prints PASS/FAIL/SKIP lines.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bhyve=$top/bin/bhyve-emu
client=$top/build/tests/vncclient
rom=$top/tests/guest/build/gfx.rom
skip() { echo "SKIP gfx-$1: $2"; }
if [ ! -x "$bhyve" ]; then skip all "bin/bhyve-emu was not built (needs libunicorn-dev)"; exit 0; fi
if [ ! -x "$client" ]; then skip all "build/tests/vncclient was not built (needs libvncserver-dev)"; exit 0; fi
bash "$top/tests/gfx/seabios_vga.sh"
vga_rc=$?
bash "$top/tests/gfx/grub_menu.sh" || vga_rc=1
# On hardware KVM the same under bin/bhyve (the framebuffer BAR as a memory
# slot, vga=on's split RAM, the sandbox); the nested tier does it elsewhere.
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && [ -x "$top/bin/bhyve" ]; then
	GFX_TAG=kvm- BHYVE=$top/bin/bhyve bash "$top/tests/gfx/seabios_vga.sh" || vga_rc=1
	GFX_TAG=kvm- BHYVE=$top/bin/bhyve bash "$top/tests/gfx/grub_menu.sh" || vga_rc=1
else
	echo "SKIP gfx-kvm-seabios_vga and gfx-kvm-grub_menu: need hardware KVM (here /dev/kvm is missing, or PVM where it has not been tried); the nested tier runs seabios_vga and grub_menu"
fi
if [ ! -r "$rom" ]; then skip all "no $rom (make guest)"; exit 0; fi
. "$top/tests/gfx/lib.sh"
gfx_tmp
pass() { echo "PASS gfx-$1"; }
fail() { echo "FAIL gfx-$1: $2"; sed 's/^/  | /' "$tmp/out" "$tmp/err" "$tmp/client" 2>/dev/null | head -30; fails=$((fails + 1)); }

# start NAME FBUF-OPTIONS: the guest in the background, COM1 in $tmp/out.
start() {
	: >"$tmp/out"; : >"$tmp/err"; : >"$tmp/client"
	timeout 120 "$bhyve" -s 0,hostbridge -s 29,"fbuf,$2" -s 31,lpc -l com1,stdio \
		-l "bootrom,$rom" -m 64M "$1" </dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
}
# wait_for TEXT SECONDS: until the guest printed TEXT.
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -qF -- "$1" "$tmp/out" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# wait_socket PATH: until bhyve listens there.
wait_socket() {
	local i
	for ((i = 0; i < 100; i++)); do [ -S "$1" ] && return 0; sleep 0.1; done
	return 1
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. wait, the pattern through each encoding, two clients, a key.
sock=$tmp/vnc.sock
start gfx-wait "unix=$sock,w=800,h=600,wait"
if ! wait_socket "$sock"; then
	fail wait "no socket at $sock"
else
	sleep 1.5
	if [ -s "$tmp/out" ]; then fail wait "the guest printed before a client connected"
	else pass wait_holds_the_guest; fi
	# The first client releases the guest and sees the mode change and the pattern.
	if "$client" -e raw -p -t 60 "$sock" >"$tmp/client" 2>&1 &&
	   grep -q "pattern ok, desktop 640x480" "$tmp/client" && grep -q "testguest: gfx" "$tmp/out"; then
		pass pattern_raw_after_resize
	else fail pattern_raw_after_resize "no exact pattern"; fi
	for enc in zlib tight zrle hextile; do
		if "$client" -e "$enc" -p -t 20 "$sock" >"$tmp/client" 2>&1; then pass "pattern_$enc"
		else fail "pattern_$enc" "no exact pattern"; fi
	done
	# Two clients at once.
	"$client" -e zrle -p -t 20 "$sock" >"$tmp/client2" 2>&1 &
	c2=$!
	"$client" -e tight -p -t 20 "$sock" >"$tmp/client" 2>&1; r1=$?
	wait "$c2"; r2=$?
	if [ "$r1" -eq 0 ] && [ "$r2" -eq 0 ]; then pass two_clients
	else fail two_clients "client statuses $r1 and $r2"; fi
	# An unchanging screen sends nothing (the tiles are compared, none differs).
	if "$client" -e zrle -p -i 2 "$sock" >"$tmp/client" 2>&1 &&
	   grep -q "idle 2 s: 0 rectangles, 0 pixels" "$tmp/client"; then pass idle_screen_sends_nothing
	else fail idle_screen_sends_nothing "updates for a screen that did not change"; fi
	# 'a' (keysym 0x61) becomes set 1 0x1e and its release 0x9e.
	"$client" -k 61 "$sock" >"$tmp/client" 2>&1
	if wait_for "gfx: key 0x9e" 10 && grep -q "gfx: key 0x1e" "$tmp/out"; then pass key_reaches_guest
	else fail key_reaches_guest "the guest did not print keys 0x1e and 0x9e"; fi
	# The pointer: (100,100), then 10 right and 5 up with the left button: one
	# packet 0x09 (left, bit 3), dx 0x0a, dy 0x05 (PS/2's y grows upwards).
	if wait_for "gfx: mouse on" 10; then
		"$client" -m "$sock" >"$tmp/client" 2>&1
		if wait_for "gfx: mouse 0x09 0x0a 0x05" 10; then pass pointer_reaches_guest_as_ps2_mouse
		else fail pointer_reaches_guest_as_ps2_mouse "no packet 0x09 0x0a 0x05"; fi
	else fail pointer_reaches_guest_as_ps2_mouse "the guest did not turn the mouse on"; fi
	wait "$pid"; rc=$?; pid=""
	if [ "$rc" -eq 1 ]; then pass guest_powers_off
	else fail guest_powers_off "exit status $rc, expected 1 (power-off)"; fi
fi
stop

# 2. TCP on IPv4 and IPv6 (rfb= is tcp='s alias), and password=.
port=$(free_port)
start gfx-tcp "rfb=127.0.0.1:$port,password=secret8"
if ! wait_for "gfx: drawn" 60; then
	fail tcp "the guest did not draw"
else
	"$client" -P wrong -t 5 "127.0.0.1:$port" >"$tmp/client" 2>&1; rc=$?
	if [ "$rc" -eq 2 ]; then pass wrong_password_refused
	else fail wrong_password_refused "client status $rc, expected 2"; fi
	if "$client" -P secret8 -e zlib -p -t 20 "127.0.0.1:$port" >"$tmp/client" 2>&1; then
		pass tcp4_password_accepted
	else fail tcp4_password_accepted "no pattern with the right password"; fi
fi
stop
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	port=$(free_port)
	start gfx-tcp6 "tcp=[::1]:$port"
	if wait_for "gfx: drawn" 60 && "$client" -e raw -p -t 20 "::1:$port" >"$tmp/client" 2>&1; then
		pass tcp6
	else fail tcp6 "no pattern over [::1]:$port"; fi
	stop
else
	skip tcp6 "no IPv6 loopback on this host"
fi

# -K: layout files from the tree (share/bhyve/kbdlayout, made from xkb-data).
# de: the keysym 'z' (0x7a) is typed by the key where US has Y: set 1 0x15,
# release 0x95 (US: 0x2c); 'u with diaeresis' (0xfc) by the key right of P:
# 0x1a. ru: Cyrillic_ef (0x6c6) by the key where US has A (0x1e). us_dvorak:
# 'o' by the key where US has S (0x1f).
for k in de:7a:0x15:0x95 de:fc:0x1a:0x9a ru:6c6:0x1e:0x9e us_dvorak:6f:0x1f:0x9f; do
	IFS=: read -r layout sym press release <<<"$k"
	sock=$tmp/kbd.sock
	: >"$tmp/out"; : >"$tmp/err"; : >"$tmp/client"
	BHYVE_KBDLAYOUT_DIR=$top/share/bhyve/kbdlayout timeout 120 "$bhyve" -K "$layout" -s 0,hostbridge \
		-s 29,"fbuf,unix=$sock" -s 31,lpc -l com1,stdio -l "bootrom,$rom" -m 64M gfx-kbd \
		</dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	if wait_socket "$sock" && wait_for "gfx: drawn" 60 && "$client" -k "$sym" "$sock" >"$tmp/client" 2>&1 &&
	   wait_for "gfx: key $release" 10 && grep -q "gfx: key $press" "$tmp/out"; then
		pass "layout_${layout}_keysym_${sym}_is_$press"
	else fail "layout_${layout}_keysym_${sym}_is_$press" "the guest did not print keys $press and $release"; fi
	stop
done

# The layout files are what tools/kbdlayout-gen makes from the list and this
# host's xkb-data (libxkbcommon-dev), when that is the xkb-data they were made
# with (the list's last comment line names it).
made_with=$(sed -n 's/^# xkb-data //p' "$top/tools/kbdlayouts.list")
here=$(dpkg-query -W -f='${Version}' xkb-data 2>/dev/null)
if ! pkg-config --exists xkbcommon; then
	skip kbdlayouts_in_step "libxkbcommon-dev is not installed"
elif [ "$here" != "$made_with" ]; then
	skip kbdlayouts_in_step "this host's xkb-data is ${here:-missing}, the files were made with $made_with"
elif ! make -s -C "$top" build/tools/kbdlayout-gen >"$tmp/gen" 2>&1 ||
     ! "$top/tools/kbdlayouts.sh" "$tmp/kl" >>"$tmp/gen" 2>&1; then
	fail kbdlayouts_in_step "tools/kbdlayouts.sh failed: $(tail -1 "$tmp/gen")"
elif diff -r "$top/share/bhyve/kbdlayout" "$tmp/kl" >"$tmp/gen"; then
	pass kbdlayouts_in_step
else
	fail kbdlayouts_in_step "share/bhyve/kbdlayout differs from what tools/kbdlayouts.list makes ('make kbdlayouts'): $(head -3 "$tmp/gen" | tr '\n' ' ')"
fi

# vga=on (without a ROM: the test guest is no BIOS to run one): the legacy
# memory is there, yet once the guest enables a DISPI mode VNC shows that.
sock=$tmp/vga.sock
start gfx-vga-on "unix=$sock,vga=on,rom=none"
if wait_socket "$sock" && "$client" -e zrle -p -t 60 "$sock" >"$tmp/client" 2>&1; then
	pass dispi_mode_shown_with_vga_on
else fail dispi_mode_shown_with_vga_on "no exact pattern with vga=on"; fi
stop

# 3. Settings refused: one line, exit status 4.
echo "not a ROM" >"$tmp/bad.rom"
refused bad_rom "$tmp/bad.rom is not an option ROM (no 0x55 0xAA signature)" -s 29,fbuf,rom="$tmp/bad.rom"
refused missing_rom 'cannot open the option ROM /nonexistent.rom' -s 29,fbuf,vga=on,rom=/nonexistent.rom
refused bad_width 'fbuf: invalid width "4000" (640 to 1920)' -s 29,fbuf,w=4000
refused bad_height 'fbuf: invalid height "100" (480 to 1200)' -s 29,fbuf,h=100
refused bad_vga 'fbuf: invalid vga "maybe" (io, on or off)' -s 29,fbuf,vga=maybe
refused bad_tcp 'fbuf: invalid tcp address "1.2.3.4:x"' -s 29,fbuf,tcp=1.2.3.4:x
refused ipv6_without_brackets 'fbuf: invalid tcp address "::1:5900"' -s 29,fbuf,tcp=::1:5900
refused unknown_layout 'keyboard layout "xx": no such layout (no ' -K xx
refused layout_path 'keyboard layout "../de": not a layout name' -K ../de
refused two_fbufs 'only one fbuf device is supported' -s 28,fbuf,unix=$tmp/a.sock -s 29,fbuf,unix=$tmp/b.sock

# The xHCI's USB tablet and keyboard fed by the VNC client (tests/gfx/test_xhci.sh).
bash "$top/tests/gfx/test_xhci.sh"
xhci_rc=$?

exit $((fails > 0 || vga_rc != 0 || xhci_rc != 0))
