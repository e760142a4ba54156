#!/usr/bin/env bash
# Seeds fuzz_grub_fs's corpus (directory $1) with a small ext2 image, a small
# ISO (Rock Ridge and Joliet) and a FAT12 holding a few files (long names, a
# subdirectory), and an empty FAT32 (mkfs.vfat makes one this small; mtools will
# not fill it), if it is empty. The FAT ones only when dosfstools and mtools are
# there.
set -eu
corpus=$1
mkdir -p "$corpus"
[ -z "$(ls -A "$corpus")" ] || exit 0
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/d/boot/grub"
echo "menuentry x { linux /boot/k; }" >"$t/d/boot/grub/grub.cfg"
echo kernel >"$t/d/boot/k"
ln -s k "$t/d/boot/link"
mke2fs -q -t ext2 -b 1024 -N 16 -d "$t/d" "$t/ext2.img" 64K
truncate -s 64K "$t/ext2.img"
cp "$t/ext2.img" "$corpus/ext2"
xorriso -as mkisofs -R -J -o "$t/cd.iso" "$t/d" >/dev/null 2>&1
cp "$t/cd.iso" "$corpus/iso"
if command -v mkfs.vfat >/dev/null && command -v mcopy >/dev/null; then
	truncate -s 64K "$t/fat12.img"
	mkfs.vfat -F 12 -s 1 -r 16 -n SEED "$t/fat12.img" >/dev/null
	mmd -i "$t/fat12.img" ::/boot ::/boot/grub
	mcopy -i "$t/fat12.img" "$t/d/boot/grub/grub.cfg" ::/boot/grub/grub.cfg
	mcopy -i "$t/fat12.img" "$t/d/boot/k" "::/boot/A long kernel name"
	cp "$t/fat12.img" "$corpus/fat12"
	truncate -s 256K "$t/fat32.img"
	mkfs.vfat -F 32 -s 1 -n SEED32 "$t/fat32.img" >/dev/null 2>&1
	cp "$t/fat32.img" "$corpus/fat32"
fi
