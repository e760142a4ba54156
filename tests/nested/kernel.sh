#!/bin/sh
# Prints the version of the Debian kernel (linux-image-amd64) the nested and
# Linux-guest tiers boot: the newest /boot/vmlinuz-* whose modules include
# kvm-amd. Exits 1, saying nothing, when there is none.
for v in $(ls /boot 2>/dev/null | sed -n 's/^vmlinuz-//p' | sort -rV); do
	if [ -r "/boot/vmlinuz-$v" ] && [ -f "/lib/modules/$v/modules.dep" ] &&
	    [ -n "$(find "/lib/modules/$v/kernel/arch/x86/kvm" -name 'kvm-amd.ko*' 2>/dev/null)" ]; then
		echo "$v"
		exit 0
	fi
done
exit 1
