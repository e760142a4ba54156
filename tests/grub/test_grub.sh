#!/usr/bin/env bash
# The grub-bhyve tier: builds at test time the images the tests read (an ext4
# filesystem from a directory with mke2fs -d, an MBR and a GPT disk with it as
# a partition, ISOs with Rock Ridge and Joliet and with Joliet only, FAT12,
# FAT16 and FAT32 with long names (FAT32 also as a partition of an MBR and of a
# GPT disk), an XFS filesystem when mkfs.xfs is there), a grub.cfg from Debian's /etc/grub.d scripts as grub-mkconfig runs
# them, then runs tests/grub/test_loader.sh (bin/grub-bhyve into the registry)
# and build/tests/grub_tests on that directory. No root needed.
set -u
cd "$(dirname "$0")/../.." || exit 1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL grub-images: $*"; exit 1; }

for tool in mke2fs sfdisk xorriso mformat mcopy mkfs.vfat; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP grub-images: $tool is not installed (tools/setup --tests)"
		exec build/tests/grub_tests
	fi
done
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$kernel" ] || fail "no /boot/vmlinuz-* (linux-image-amd64)"

# The files: Debian's kernel, two initrds, a grub.cfg, a symbolic link.
mkdir -p "$t/root/boot/grub" "$t/root/etc" || fail mkdir
cp "$kernel" "$t/root/boot/vmlinuz" || fail "cp $kernel"
head -c 70001 /dev/urandom >"$t/root/boot/initrd-a" || fail initrd
head -c 4099 /dev/urandom >"$t/root/boot/initrd-b" || fail initrd
ln -s vmlinuz "$t/root/boot/vmlinuz-link"
echo "grub-bhyve test" >"$t/root/etc/hostname"
cat >"$t/root/boot/grub/grub.cfg" <<'CFG'
set timeout=3
search --no-floppy --fs-uuid --set=root 6a4c1f2e-7d3b-4c55-9e0a-1b2c3d4e5f60
menuentry 'Test guest' --id test {
	linux /boot/vmlinuz root=/dev/vda1 ro
	initrd /boot/initrd-a /boot/initrd-b
}
CFG
mke2fs -q -t ext4 -L gbroot -U 6a4c1f2e-7d3b-4c55-9e0a-1b2c3d4e5f60 -d "$t/root" \
    "$t/fs.img" 48M >"$t/log" 2>&1 || fail "mke2fs: $(cat "$t/log")"

truncate -s 64M "$t/mbr.img"
printf '%s\n' 'label: dos' 'start=2048, size=98304, type=83' \
    'start=100352, size=20480, type=5' 'start=102400, size=8192, type=83' |
    sfdisk -q "$t/mbr.img" >"$t/log" 2>&1 || fail "sfdisk dos: $(cat "$t/log")"
dd if="$t/fs.img" of="$t/mbr.img" bs=512 seek=2048 conv=notrunc status=none || fail dd

truncate -s 64M "$t/gpt.img"
printf '%s\n' 'label: gpt' 'start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649' \
    'start=4096, size=98304, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4' |
    sfdisk -q "$t/gpt.img" >"$t/log" 2>&1 || fail "sfdisk gpt: $(cat "$t/log")"
dd if="$t/fs.img" of="$t/gpt.img" bs=512 seek=4096 conv=notrunc status=none || fail dd

cp -a "$t/root" "$t/isoroot" || fail cp
echo "joliet" >"$t/isoroot/A long Joliet file name.txt"
xorriso -as mkisofs -R -J -V GBISO -o "$t/cd.iso" "$t/isoroot" >"$t/log" 2>&1 ||
    fail "xorriso: $(cat "$t/log")"
rm "$t/isoroot/boot/vmlinuz-link"
xorriso -as mkisofs -J -V GBJOLIET -o "$t/joliet.iso" "$t/isoroot" >"$t/log" 2>&1 ||
    fail "xorriso -J: $(cat "$t/log")"
mformat -i "$t/fat.img" -C -f 1440 :: >"$t/log" 2>&1 || fail "mformat: $(cat "$t/log")"

# FAT12, FAT16, FAT32 (mkfs.vfat), filled by mtools: the tree, a long-named
# directory and file, a grub.cfg that finds its root by label.
cat >"$t/fat.cfg" <<'CFG'
set timeout=1
search --no-floppy --label --set=root GBFAT32
menuentry 'FAT guest' {
	linux /boot/vmlinuz fat=1
	initrd "/Long Directory Name/An initrd with a long name.img"
}
CFG
for fat in "12 12M 8" "16 16M 1" "32 40M 1"; do
	set -- $fat
	img=$t/fat$1.img
	truncate -s "$2" "$img"
	mkfs.vfat -F "$1" -s "$3" -n "GBFAT$1" -i "12ab00$1" "$img" >"$t/log" 2>&1 ||
	    fail "mkfs.vfat -F $1: $(cat "$t/log")"
	{ mmd -i "$img" ::/boot ::/boot/grub ::/etc "::/Long Directory Name" &&
	  mcopy -i "$img" "$t/root/boot/vmlinuz" "$t/root/boot/initrd-a" "$t/root/boot/initrd-b" ::/boot/ &&
	  mcopy -i "$t/fat$1.img" "$t/fat.cfg" ::/boot/grub/grub.cfg &&
	  mcopy -i "$img" "$t/root/etc/hostname" ::/etc/hostname &&
	  mcopy -i "$img" "$t/root/boot/initrd-a" "::/Long Directory Name/An initrd with a long name.img"
	} >"$t/log" 2>&1 || fail "mcopy: $(cat "$t/log")"
done
# A FAT32 too small for the specification's cluster count (mkfs.vfat warns),
# FAT32 by its BPB as Linux reads it.
truncate -s 256K "$t/fat32small.img"
mkfs.vfat -F 32 -s 1 -n SMALL32 "$t/fat32small.img" >"$t/log" 2>&1 || fail "mkfs.vfat small: $(cat "$t/log")"
truncate -s 48M "$t/fatmbr.img"
printf '%s\n' 'label: dos' 'start=2048, size=81920, type=c' |
    sfdisk -q "$t/fatmbr.img" >"$t/log" 2>&1 || fail "sfdisk dos: $(cat "$t/log")"
dd if="$t/fat32.img" of="$t/fatmbr.img" bs=512 seek=2048 conv=notrunc status=none || fail dd
truncate -s 48M "$t/fatgpt.img"
printf '%s\n' 'label: gpt' 'start=2048, size=81920, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B' |
    sfdisk -q "$t/fatgpt.img" >"$t/log" 2>&1 || fail "sfdisk gpt: $(cat "$t/log")"
dd if="$t/fat32.img" of="$t/fatgpt.img" bs=512 seek=2048 conv=notrunc status=none || fail dd
# XFS (300 MiB is mkfs.xfs's least; the file is sparse): refused by name.
if command -v mkfs.xfs >/dev/null; then
	truncate -s 300M "$t/xfs.img"
	mkfs.xfs -q -L gbxfs "$t/xfs.img" >"$t/log" 2>&1 || { echo "mkfs.xfs: $(cat "$t/log")"; rm -f "$t/xfs.img"; }
fi

# grub.cfg as grub-mkconfig makes it: its 00_header and 10_linux scripts with
# the environment it exports, GRUB_DEVICE being the ext4 image (grub-probe
# reads image files; grub-mkconfig itself wants root and probes / itself).
if [ -x /etc/grub.d/10_linux ]; then
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin pkgdatadir=/usr/share/grub \
	    GRUB_DEVICE="$t/fs.img" GRUB_DEVICE_BOOT="$t/fs.img" \
	    GRUB_DEVICE_UUID=6a4c1f2e-7d3b-4c55-9e0a-1b2c3d4e5f60 \
	    GRUB_DEVICE_BOOT_UUID=6a4c1f2e-7d3b-4c55-9e0a-1b2c3d4e5f60 \
	    GRUB_FS=ext2 GRUB_DISTRIBUTOR=Debian GRUB_TIMEOUT=5 GRUB_DEFAULT=0 \
	    GRUB_CMDLINE_LINUX_DEFAULT=quiet GRUB_CMDLINE_LINUX=net.ifnames=0 TEXTDOMAIN=grub \
	    sh -c '/etc/grub.d/00_header && /etc/grub.d/10_linux' >"$t/mkconfig.cfg" 2>"$t/log" ||
	    { echo "grub.d scripts failed: $(cat "$t/log")"; rm -f "$t/mkconfig.cfg"; }
fi
# bin/grub-bhyve on the MBR disk: the registry entry, memory and vCPU state.
tests/grub/test_loader.sh "$t"
loader=$?
build/tests/grub_tests "$t" || exit 1
exit $loader
