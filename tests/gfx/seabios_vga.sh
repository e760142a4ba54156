#!/usr/bin/env bash
# fbuf's vga=on end to end: Debian's SeaBIOS under bin/bhyve-emu (or $BHYVE, e.g. bin/bhyve on KVM) with
# -s 29,fbuf,unix=SOCK,vga=on finds the adapter's option ROM (SeaBIOS's own
# vgabios-stdvga.bin, offered through the expansion-ROM BAR), copies it and
# runs it; the VGA BIOS sets text mode 3 through the legacy registers and
# memory; SeaBIOS prints its banner and boot messages through it. A VNC client
# (build/tests/vncclient) takes a picture and OCR (tesseract) must read
# "SeaBIOS" and "Booting from" on it. With rom=none no VGA BIOS runs and the
# screen stays the fbuf's blank 1024x768.
# Prints PASS/FAIL/SKIP lines; called by tests/gfx/test_gfx.sh.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bhyve=${BHYVE:-$top/bin/bhyve-emu}
# GFX_TAG names a second run in the test names (e.g. "kvm-").
tag=${GFX_TAG:-}
client=$top/build/tests/vncclient
bios=${SEABIOS:-/usr/share/seabios/bios-256k.bin}
vgabios=/usr/share/seabios/vgabios-stdvga.bin
tests=(seabios_vga_banner_read_by_ocr seabios_vga_bios_ran seabios_vga_rom_none_blank)
# shellcheck source=tests/grubimg.sh
. "$top/tests/grubimg.sh"
reason=""
if [ ! -x "$bhyve" ]; then reason="$bhyve was not built (bin/bhyve-emu needs libunicorn-dev)"
elif [ ! -r "$bios" ] || [ ! -r "$vgabios" ]; then reason="$bios or $vgabios is missing (Debian package seabios)"
else reason=$(ocr_missing "$client")
fi
if [ -n "$reason" ]; then
	for t in "${tests[@]}"; do echo "SKIP gfx-$tag$t: $reason"; done
	exit 0
fi
. "$top/tests/gfx/lib.sh"
gfx_tmp
fail() {
	echo "FAIL gfx-$tag$1: $2"
	tr -d '\r' <"$tmp/out" 2>/dev/null | sed 's/^/  | /' | tail -10
	sed 's/^/  err| /' "$tmp/err" "$tmp/client" 2>/dev/null | tail -10
	[ -s "$tmp/ocr" ] && sed 's/^/  ocr| /' "$tmp/ocr" | head -12
	fails=$((fails + 1))
}

# boot NAME FBUF-OPTIONS: SeaBIOS until it gives up booting (no disks); sets
# $secs to how long that took.
boot() {
	local t0 i
	: >"$tmp/out"; : >"$tmp/err"; : >"$tmp/debug"; rm -f "$tmp/vnc.sock"
	t0=$(date +%s%N)
	timeout 120 "$bhyve" -c 1 -m 256M -s 0,hostbridge -s 29,"fbuf,unix=$tmp/vnc.sock,$2" \
		-s 31,lpc -l com1,stdio -l "debugcon,$tmp/debug" -l "bootrom,$bios" "$1" \
		</dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q 'No bootable device' "$tmp/out" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	secs=$(( ($(date +%s%N) - t0) / 1000000 ))
	secs="$((secs / 1000)).$(printf '%03d' $((secs % 1000)))"
	grep -q 'No bootable device' "$tmp/out"
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }

if ! boot sbvga "vga=on"; then
	fail seabios_vga_banner_read_by_ocr "SeaBIOS did not reach 'No bootable device' in 60 s"
	fail seabios_vga_bios_ran "SeaBIOS did not finish"
else
	if "$client" -s "$tmp/shot.ppm" -t 20 "$tmp/vnc.sock" >"$tmp/client" 2>&1 &&
	   grep -q "saved 720x400" "$tmp/client"; then
		tesseract "$tmp/shot.ppm" - >"$tmp/ocr" 2>/dev/null
		# OCR may take the S of SeaBIOS for a lower-case one.
		if grep -qi 'SeaBIOS (version' "$tmp/ocr" && grep -q 'Booting from' "$tmp/ocr"; then
			echo "PASS gfx-${tag}seabios_vga_banner_read_by_ocr (SeaBIOS to 'No bootable device' in $secs s)"
		else
			fail seabios_vga_banner_read_by_ocr "OCR did not read 'SeaBIOS (version' and 'Booting from'"
		fi
	else
		fail seabios_vga_banner_read_by_ocr "no 720x400 text-mode picture from the VNC server"
	fi
	missing=""
	for want in 'Running option rom at c000:0003' 'Start SeaVGABIOS' 'set VGA mode 3'; do
		grep -qF -- "$want" "$tmp/debug" || missing="$missing '$want'"
	done
	if [ -z "$missing" ]; then echo "PASS gfx-${tag}seabios_vga_bios_ran"
	else fail seabios_vga_bios_ran "SeaBIOS's debug log lacks$missing"; fi
fi
stop

if ! boot sbnorom "vga=on,rom=none"; then
	fail seabios_vga_rom_none_blank "SeaBIOS did not reach 'No bootable device' in 60 s"
elif "$client" -s "$tmp/shot.ppm" -t 20 "$tmp/vnc.sock" >"$tmp/client" 2>&1 &&
     grep -q "saved 1024x768" "$tmp/client" && ! grep -q 'Running option rom at c000' "$tmp/debug"; then
	echo "PASS gfx-${tag}seabios_vga_rom_none_blank"
else
	fail seabios_vga_rom_none_blank "expected no option ROM run and a blank 1024x768 desktop"
fi
stop
exit $((fails > 0))
