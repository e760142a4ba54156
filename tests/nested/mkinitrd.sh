#!/usr/bin/env bash
# Builds a busybox initramfs for Debian's kernel, from Debian packages only
# (busybox-static, the kernel's own modules):
#   mkinitrd.sh KVER INIT OUT.cpio.gz MODULE...
# INIT becomes /init; each MODULE is copied with what it depends on (as
# modprobe resolves them from the kernel's modules.dep) and /loadmods is a
# script that insmods them in order.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 KVER INIT OUT MODULE..." >&2; exit 2; }
kver=$1 init=$2 out=$3
shift 3
bb=/bin/busybox
file -L "$bb" 2>/dev/null | grep -q 'statically linked' ||
	{ echo "mkinitrd: $bb is not busybox-static (install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,host,tmp,run,etc,lib/modules}
cp "$bb" "$root/bin/busybox"
cp "$init" "$root/init"
chmod 755 "$root/init"
: >"$root/loadmods"
if [ $# -gt 0 ]; then
	# modprobe (kmod) lists the insmod lines in load order, dependencies first.
	modprobe -S "$kver" --show-depends -a "$@" | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' |
	while read -r m; do
		cp "$m" "$root/lib/modules/"
		echo "insmod /lib/modules/$(basename "$m") 2>/dev/null"
	done >"$root/loadmods"
fi
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
