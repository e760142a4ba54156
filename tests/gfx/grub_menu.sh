#!/usr/bin/env bash
# GRUB's menu on VNC, and VNC keys moving it. Debian's SeaBIOS boots a GRUB
# image made here with grub-mkrescue (i386-pc, from grub-pc-bin; as
# tests/boot/storage.sh makes its own) from an ahci-hd disk, with
# -s 29,fbuf,unix=SOCK,vga=on. Its grub.cfg draws the menu on the VGA text
# console and on COM1 (`terminal_output console serial`), takes keys from the
# BIOS keyboard and COM1 (`terminal_input console serial`) and waits 900 s;
# each of its three entries echoes a line of its own on both and halts.
#   grub_menu_read_by_ocr   build/tests/vncclient takes a picture over VNC and
#                           OCR (tesseract) must read the three entries' titles
#   grub_menu_keys          vncclient sends Down, then Return (keysyms 0xff54,
#                           0xff0d) through the PS/2 keyboard: COM1 must show
#                           that the second entry ran, not the first, and the
#                           VM must power off (exit status 1)
# Under bin/bhyve-emu (the default) only the first runs; the second skips:
# the software CPU delivers no device interrupt, so SeaBIOS's INT 16h never
# gets IRQ 1's keys (and GRUB's own at_keyboard driver waits for its ACKs on a
# clock that does not run there). BHYVE=bin/bhyve (KVM, hardware or the nested tier) runs both.
# Prints PASS/FAIL/SKIP lines; exit 1 on a FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bhyve=${BHYVE:-$top/bin/bhyve-emu}
tag=${GFX_TAG:-}
client=$top/build/tests/vncclient
bios=${SEABIOS:-/usr/share/seabios/bios-256k.bin}
tests=(grub_menu_read_by_ocr grub_menu_keys)
# shellcheck source=tests/grubimg.sh
. "$top/tests/grubimg.sh"
reason=""
if [ ! -x "$bhyve" ]; then reason="$bhyve was not built"
elif [ ! -r "$bios" ] || [ ! -r /usr/share/seabios/vgabios-stdvga.bin ]; then
	reason="$bios or vgabios-stdvga.bin is missing (Debian package seabios)"
else
	reason=$(ocr_missing "$client")
	[ -n "$reason" ] || reason=$(grubimg_missing)
fi
if [ -n "$reason" ]; then
	for t in "${tests[@]}"; do echo "SKIP gfx-$tag$t: $reason"; done
	exit 0
fi
emu=no
case $(basename "$bhyve") in *-emu) emu=yes ;; esac

. "$top/tests/gfx/lib.sh"
gfx_tmp
fail() {
	echo "FAIL gfx-$tag$1: $2"
	tr -d '\r' <"$tmp/out" 2>/dev/null | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' | sed 's/^/  | /' | tail -8
	sed 's/^/  err| /' "$tmp/err" "$tmp/client" 2>/dev/null | tail -8
	[ -s "$tmp/ocr" ] && sed 's/^/  ocr| /' "$tmp/ocr" | head -12
	fails=$((fails + 1))
}

mkdir -p "$tmp/iso/boot/grub"
cat >"$tmp/iso/boot/grub/grub.cfg" <<'EOF'
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=900
menuentry 'Alpha entry' { echo 'grubmenu: ran alpha'; halt }
menuentry 'Bravo entry' { echo 'grubmenu: ran bravo'; halt }
menuentry 'Charlie entry' { echo 'grubmenu: ran charlie'; halt }
EOF
if ! grubimg_make "$tmp/iso" "$tmp/grub.img" "$tmp/mkrescue.log"; then
	sed 's/^/  | /' "$tmp/mkrescue.log" | tail -5
	for t in "${tests[@]}"; do echo "FAIL gfx-$tag$t: grub-mkrescue failed"; done
	exit 1
fi
truncate -s %4096 "$tmp/grub.img"

# From ahci-hd. (virtio-blk stalled under bin/bhyve-emu until emu_pit.c gave
# SeaBIOS's delays a PIT counter that moves; storage.sh emu covers it now.)
# boot_menu: starts the guest and waits for GRUB's menu on COM1 (menu=yes once
# its last entry's title is there).
boot_menu() {
	: >"$tmp/out"; : >"$tmp/err"
	rm -f "$tmp/vnc.sock"
	timeout 600 "$bhyve" -c 1 -m 256M -s 0,hostbridge -s 4,ahci-hd,"$tmp/grub.img",ro,bootindex=0 \
		-s 29,"fbuf,unix=$tmp/vnc.sock,vga=on" -s 31,lpc -l com1,stdio -l "debugcon,$tmp/debug" \
		-l "bootrom,$bios" grubmenu </dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	menu=no
	for ((i = 0; i < 1200; i++)); do
		if grep -q 'Charlie entry' "$tmp/out" 2>/dev/null; then menu=yes; break; fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
}
t0=$SECONDS
boot_menu
if [ "$menu" != yes ]; then
	for t in "${tests[@]}"; do fail "$t" "GRUB's menu did not appear on COM1 in 120 s"; done
	exit 1
fi
secs=$((SECONDS - t0))
# menu_drawn: COM1 can be ahead of the VGA text (nested, each VGA write is a VM
# exit), so the screen is used once the countdown line is out too, and two
# seconds later.
menu_drawn() {
	for ((i = 0; i < 100; i++)); do
		grep -q 'highlighted entry will' "$tmp/out" && break
		sleep 0.1
	done
	sleep 2
}
menu_drawn
# Three pictures a second apart: GRUB redraws its menu while it counts down,
# and on one slow TCG thread a picture once caught the box and the help lines
# without the entries (2026-12-03, CI rehearsal). OCR reads them in turn below.
shot=no
for n in 1 2 3; do
	if "$client" -s "$tmp/shot$n.ppm" -t 20 "$tmp/vnc.sock" >"$tmp/client" 2>&1 &&
	   grep -q "saved 720x400" "$tmp/client"; then
		shot=yes
	fi
	[ $n = 3 ] || sleep 1
done

# The keys now, OCR afterwards (tesseract is slow under the nested tier's
# software CPU; the VM need not wait for it).
keys=skip
send_keys() {
	"$client" -d 500 -k ff54,ff0d -t 20 "$tmp/vnc.sock" >"$tmp/keys" 2>&1
	# The chosen entry halts the VM at once; a VM still at the menu a minute
	# later got no key (GRUB waits 900 s): it is stopped and that is the result.
	for ((i = 0; i < 600; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "bhyve still running 60 s after the keys; stopped" >>"$tmp/keys"
		kill "$pid" 2>/dev/null
	fi
	wait "$pid"; rc=$?; pid=""
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
	# The entries' own lines (the menu's text names no "ran").
	ran=$(grep -o 'grubmenu: ran \(alpha\|bravo\|charlie\)' "$tmp/txt" | sort -u | tr '\n' ' ')
	keys=ok
	[ "$rc" = 1 ] && [ "$ran" = "grubmenu: ran bravo " ] || keys=bad
}
if [ "$emu" != yes ] && [ "${GRUB_MENU_KEYS:-yes}" = no ]; then
	keys=off
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
elif [ "$emu" != yes ]; then
	send_keys
	# A guest that ended (a triple fault, status 3) at the menu before the
	# client could connect got no key: seen in 1 of 6 nested runs on
	# 2026-12-03 (QEMU's software CPU under the L1 runs kvm-amd), cause not
	# known. Said here, and the boot tried again, three boots at most.
	for try in 2 3; do
		[ "$keys" = bad ] && [ "$rc" = 3 ] && [ -z "$ran" ] &&
		    grep -q 'connection or authentication refused' "$tmp/keys" || break
		echo "gfx-${tag}grub_menu_keys: the guest ended with status 3 ($(grep -m1 'triple fault' "$tmp/err")) at the menu before the keys were sent; boot $try"
		boot_menu
		[ "$menu" = yes ] || break
		menu_drawn
		send_keys
	done
fi

if [ "$shot" = yes ]; then
	for n in 1 2 3; do
		[ -s "$tmp/shot$n.ppm" ] || continue
		tesseract "$tmp/shot$n.ppm" - >"$tmp/ocr" 2>/dev/null
		missing=""
		for want in 'GNU GRUB' 'Alpha entry' 'Bravo entry' 'Charlie entry'; do
			grep -qF "$want" "$tmp/ocr" || missing="$missing '$want'"
		done
		[ -z "$missing" ] && break
	done
	if [ -z "$missing" ]; then
		echo "PASS gfx-${tag}grub_menu_read_by_ocr (menu after $secs s; picture $n of 3)"
	else
		fail grub_menu_read_by_ocr "OCR did not read$missing"
	fi
else
	fail grub_menu_read_by_ocr "no 720x400 text-mode picture from the VNC server"
fi
rm -f "$tmp/ocr"

case $keys in
skip) echo "SKIP gfx-${tag}grub_menu_keys: bin/bhyve-emu delivers no device interrupt, so SeaBIOS's INT 16h never gets IRQ 1's keys; hardware KVM runs it" ;;
off) echo "SKIP gfx-${tag}grub_menu_keys: GRUB_MENU_KEYS=no (the nested tier's retry of a stage, on one TCG thread: there the stage ran past its 300 s once, on 2026-12-03, where on several threads the keys passed 9 of 9 times); the first try runs it" ;;
ok) echo "PASS gfx-${tag}grub_menu_keys (Down, Return: the second entry ran, power-off)" ;;
*)
	cp "$tmp/keys" "$tmp/client"
	sed 's/^/  debug| /' "$tmp/debug" 2>/dev/null | tail -5
	fail grub_menu_keys "exit status $rc (expected 1), entries run: '${ran:-none}' (expected bravo only)"
	;;
esac
exit $((fails > 0))
