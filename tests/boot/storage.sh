#!/usr/bin/env bash
# Debian's SeaBIOS and GRUB, code nobody here wrote, boot from each storage
# controller under bin/bhyve: a hybrid image made by grub-mkrescue (bootable as
# a CD and as a disk) whose grub.cfg talks on the serial console, reads a file
# of random bytes made for this run, prints its SHA-256 (GRUB's hashsum) and
# halts (ACPI S5). Each test checks the hash against the host's and that bhyve
# exited with status 1 (power-off).
#   storage.sh          bin/bhyve on /dev/kvm: virtio-blk, ahci-cd, ahci-hd,
#                       ahci (two ports, the CD on port 1), nvme
#   storage.sh emu      bin/bhyve-emu: virtio-blk (SeaBIOS waits for its
#                       requests with delays timed by the PIT's counter 0,
#                       which bhyve-emu's emu_pit.c keeps moving)
# Prints PASS/FAIL/SKIP lines.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:-kvm}
bhyve=$top/bin/bhyve
bios=${SEABIOS:-/usr/share/seabios/bios-256k.bin}
tests=(virtio_blk ahci_cd ahci_hd ahci_ports nvme)
[ "$mode" = emu ] && bhyve=$top/bin/bhyve-emu tests=(virtio_blk)

skip_all() { for t in "${tests[@]}"; do echo "SKIP $mode-storage-$t: $1"; done; exit 0; }
if [ "$mode" = emu ]; then
	[ -x "$bhyve" ] || skip_all "bin/bhyve-emu was not built (needs libunicorn-dev)"
else
	[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip_all "/dev/kvm is not usable on this machine"
fi
[ -r "$bios" ] || skip_all "$bios is missing (Debian package seabios)"
# shellcheck source=tests/grubimg.sh
. "$top/tests/grubimg.sh"
why=$(grubimg_missing)
[ -z "$why" ] || skip_all "$why"

tmp=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
want=$(grubimg_storage_tree "$tmp/iso")
if ! grubimg_make "$tmp/iso" "$tmp/grub.img" "$tmp/mkrescue.log"; then
	sed 's/^/  | /' "$tmp/mkrescue.log" | tail -5
	for t in "${tests[@]}"; do echo "FAIL $mode-storage-$t: grub-mkrescue failed"; done
	exit 1
fi
# The image as a disk is written to by nobody, but a disk must be a whole
# number of sectors for every controller: pad it to 4 KiB.
truncate -s %4096 "$tmp/grub.img"
# A second, blank disk for the two-port case.
truncate -s 8M "$tmp/blank.img"

fails=0
# run NAME TIMEOUT SLOT-ARGS...: boots SeaBIOS with the given -s options.
run() {
	local t=$1 secs=$2 start=$SECONDS rc
	shift 2
	: >"$tmp/out"
	: >"$tmp/debug"
	timeout -k 5 "$secs" "$bhyve" -c 1 -m 256M -s 0,hostbridge "$@" -s 31,lpc -l com1,stdio \
		-l "debugcon,$tmp/debug" -l "bootrom,$bios" "storage-$t" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	local got
	got=$(tr -d '\r' <"$tmp/out" | grep -o '[0-9a-f]\{64\}  */data\.bin' | head -1 | cut -c1-64)
	if [ "$rc" = 1 ] && [ "$got" = "$want" ] && grep -q 'storage: hashed' "$tmp/out"; then
		echo "PASS $mode-storage-$t ($(tr -d '\r' <"$tmp/out" | sed -n 's/.*storage: grub root //p' | head -1);" \
			"hash right, power-off, $((SECONDS - start)) s)"
	else
		local why="status $rc"
		[ "$rc" = 124 ] && why="no power-off within $secs s"
		echo "FAIL $mode-storage-$t: $why; hash '${got:-none}', expected $want"
		sed 's/^/  err| /' "$tmp/err" | tail -5
		tr -d '\r' <"$tmp/out" | sed 's/^/  | /' | tail -10
		sed 's/^/  debug| /' "$tmp/debug" | tail -10
		fails=$((fails + 1))
	fi
}
img=$tmp/grub.img
run virtio_blk 300 -s 4,virtio-blk,"$img",ro,bootindex=0
[ "$mode" = emu ] && exit $((fails > 0))
run ahci_cd 300 -s 4,ahci-cd,"$img",bootindex=0
run ahci_hd 300 -s 4,ahci-hd,"$img",ro,bootindex=0
run ahci_ports 300 -s 4,ahci,hd:"$tmp/blank.img",cd:"$img",bootindex=0
run nvme 300 -s 4,nvme,"$img",ro,bootindex=0
exit $((fails > 0))
