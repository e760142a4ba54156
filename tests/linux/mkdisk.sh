#!/usr/bin/env bash
# Builds (or finds already built) the boot disk of the Linux-guest tier and of
# tests/bench/linuxboot.sh: a hybrid image from grub-mkrescue that SeaBIOS
# boots as a hard disk, holding GRUB (i386-pc, on the serial console), Debian's
# kernel and a busybox initramfs whose /init is tests/linux/init.
#   [LINUX_APPEND=ARGS] mkdisk.sh      prints the image's path
# The image sits in build/linux/KVER-HASH/, HASH covering every input (the
# kernel, its modules' list, busybox, init, this script, mkinitrd.sh), so a
# second run costs nothing and a changed input makes a new one. Older builds
# are removed. Exits 1 with a message on stderr when something is missing.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/linux
die() { echo "mkdisk: $*" >&2; exit 1; }

kver=$("$top/tests/nested/kernel.sh") || die "no Debian kernel with modules (linux-image-amd64)"
command -v cpio >/dev/null || die "cpio is missing (Debian package cpio)"
# shellcheck source=tests/grubimg.sh
. "$top/tests/grubimg.sh"
why=$(grubimg_missing)
[ -z "$why" ] || die "$why"

# What the guest needs: the virtio drivers, button + evdev so the ACPI power
# button reaches user space as an input event, the NVMe, AHCI, disk and
# CD-ROM drivers, and xHCI with USB HID (the tablet and keyboard of -s N,xhci).
modules=(virtio_pci virtio_blk virtio_net virtio_rng virtio_console button evdev nvme ahci sd_mod sr_mod
	xhci_pci usbhid hid_generic)
# The kernel command line: quiet so that the serial console (one VM exit per
# byte) carries little besides the init's lines; panic=-1 so that a panic ends
# the VM at once (as a reboot) instead of waiting out the test's timeout.
# LINUX_APPEND adds arguments (for a look at a boot that stops: "loglevel=7").
cmdline="console=ttyS0,115200 quiet panic=-1${LINUX_APPEND:+ $LINUX_APPEND}"

key=$( {
	echo "$kver ${modules[*]} $cmdline"
	sha256sum "/boot/vmlinuz-$kver" /bin/busybox "$here/init" "$here/mkdisk.sh" "$top/tests/nested/mkinitrd.sh" |
		cut -d' ' -f1
} | sha256sum | cut -c1-16)
dir=$top/build/linux/$kver-$key
if [ -s "$dir/boot.img" ]; then
	echo "$dir/boot.img"
	exit 0
fi

mkdir -p "$top/build/linux" || die "cannot make build/linux"
work=$(mktemp -d "$top/build/linux/.work.XXXXXX") || die "cannot make a work dir"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/iso/boot/grub"
"$top/tests/nested/mkinitrd.sh" "$kver" "$here/init" "$work/iso/initrd.gz" "${modules[@]}" \
	>"$work/log" 2>&1 || { cat "$work/log" >&2; die "mkinitrd.sh failed"; }
cp "/boot/vmlinuz-$kver" "$work/iso/vmlinuz" || die "cannot read /boot/vmlinuz-$kver"
cat >"$work/iso/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry "Debian $kver, linuxguest init" {
	linux /vmlinuz $cmdline
	initrd /initrd.gz
}
EOF
grubimg_make "$work/iso" "$work/boot.img" "$work/log" ||
	{ cat "$work/log" >&2; die "grub-mkrescue failed"; }
# Older builds are of no more use; this one is moved in whole, so a reader never
# sees half an image.
for old in "$top"/build/linux/*-*; do
	case $old in "$dir" | *.tmp.*) continue ;; esac
	rm -rf "$old"
done
if ! { mkdir -p "$dir.tmp.$$" && mv "$work/boot.img" "$dir.tmp.$$/boot.img" &&
	cp "$work/iso/boot/grub/grub.cfg" "$dir.tmp.$$/grub.cfg" && mv -T "$dir.tmp.$$" "$dir"; }; then
	# Another run may have stored the same build first.
	rm -rf "$dir.tmp.$$"
	[ -s "$dir/boot.img" ] || die "cannot store the image in $dir"
fi
echo "$dir/boot.img"
