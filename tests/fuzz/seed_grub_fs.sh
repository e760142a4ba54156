#!/usr/bin/env bash
# Seeds fuzz_grub_fs's corpus (directory $1) with a small ext2 image and a
# small ISO (Rock Ridge and Joliet) holding a few files, if it is empty.
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
