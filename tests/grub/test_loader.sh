#!/usr/bin/env bash
# bin/grub-bhyve end to end short of running the guest (no KVM needed): with a
# device.map to the MBR disk test_grub.sh built (DIR), it must make the VM in
# the registry (BHYVE_VMM_DIR/BHYVE_RUN_DIR under a temporary directory), leave
# the bzImage's protected-mode part at the planned address of the memory file,
# boot_params, the command line and the initrds, and vCPU 0's 64-bit entry
# state; bhyvectl --destroy removes it. Prints PASS/FAIL lines; exit 1 on a FAIL.
#   tests/grub/test_loader.sh DIR
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
d=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BHYVE_VMM_DIR=$tmp/vmm BHYVE_RUN_DIR=$tmp/run
gb=$top/bin/grub-bhyve
ctl=$top/bin/bhyvectl
for f in "$gb" "$ctl"; do
	if [ ! -x "$f" ]; then echo "FAIL grub-bhyve: $f was not built"; exit 1; fi
done
fails=0
pass() { echo "PASS grub-bhyve-$1"; }
fail() { echo "FAIL grub-bhyve-$1: $2"; sed 's/^/  | /' "$tmp/out" "$tmp/err" 2>/dev/null | head -20; fails=$((fails + 1)); }
# u32 FILE OFFSET, u8 FILE OFFSET: little-endian values in decimal
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }

# Usage and bad values: exit 1, one line.
"$gb" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "^usage: grub-bhyve" "$tmp/err"; then pass usage; else fail usage "rc $rc"; fi
"$gb" -M 12Q vm >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "-M 12Q" "$tmp/err"; then
	pass bad_mem
else fail bad_mem "rc $rc"; fi

printf '(hd0) %s\n' "$d/mbr.img" >"$tmp/device.map"
"$gb" -m "$tmp/device.map" -r hd0,msdos1 -M 256M gb1 </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && grep -q "Test guest" "$tmp/out" && grep -q "timeout: 3" "$tmp/out"; then
	pass load
else fail load "rc $rc"; fi
run=$BHYVE_RUN_DIR/gb1
mem=$run/mem
if [ -L "$BHYVE_VMM_DIR/gb1" ] && grep -qx "state loaded" "$run/meta" &&
    grep -qx "memsize 268435456" "$run/meta" && [ "$(stat -c %s "$mem" 2>/dev/null)" = 268435456 ]; then
	pass registry_entry
else fail registry_entry "$(cat "$run/meta" 2>/dev/null)"; fi

# The protected-mode kernel at boot_params' code32_start.
k=$d/root/boot/vmlinuz
ss=$(u8 "$k" $((0x1f1)))
[ "$ss" -eq 0 ] && ss=4
koff=$(((ss + 1) * 512))
klen=$(($(stat -c %s "$k") - koff))
zp=$((0x7000))
kaddr=$(u32 "$mem" $((zp + 0x214)))
if [ -n "$kaddr" ] && [ "$kaddr" -ge $((1 << 20)) ] &&
    cmp -s <(tail -c +$((koff + 1)) "$k") <(tail -c +$((kaddr + 1)) "$mem" | head -c "$klen"); then
	pass kernel_bytes
else fail kernel_bytes "code32_start $kaddr"; fi

# boot_params: the header copied, the loader's fields, the e820 map.
cl=$(u32 "$mem" $((zp + 0x228)))
if [ "$(od -An -c -j $((zp + 0x202)) -N4 "$mem" | tr -d ' ')" = HdrS ] &&
    [ "$(od -An -tu2 -j $((zp + 0x1fe)) -N2 "$mem" | tr -d ' ')" = $((0xaa55)) ] &&
    [ "$(u8 "$mem" $((zp + 0x210)))" = 255 ] && [ "$cl" = $((0x20000)) ] &&
    [ "$(u8 "$mem" $((zp + 0x1e8)))" -ge 3 ]; then
	pass zero_page
else fail zero_page "cmd_line_ptr $cl"; fi
cmdline=$(tail -c +$((cl + 1)) "$mem" | head -c 200 | tr '\0' '\n' | head -1)
if [ "$cmdline" = "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro console=ttyS0" ]; then
	pass cmdline
else fail cmdline "'$cmdline'"; fi
ra=$(u32 "$mem" $((zp + 0x218)))
rs=$(u32 "$mem" $((zp + 0x21c)))
a=$d/root/boot/initrd-a
b=$d/root/boot/initrd-b
alen=$(stat -c %s "$a")
apad=$(((alen + 3) / 4 * 4))
if [ "$rs" = $((apad + ((($(stat -c %s "$b") + 3) / 4) * 4))) ] &&
    cmp -s "$a" <(tail -c +$((ra + 1)) "$mem" | head -c "$alen") &&
    cmp -s "$b" <(tail -c +$((ra + apad + 1)) "$mem" | head -c "$(stat -c %s "$b")"); then
	pass initrds
else fail initrds "ramdisk_image $ra size $rs"; fi

# vCPU 0: the 64-bit entry (startup_64 is code32_start + 0x200).
v=$run/vcpu0
if [ "$(head -1 "$v")" = "bhyve-vcpu 1" ] &&
    grep -qx "rip 0x$(printf %x $((kaddr + 0x200)))" "$v" && grep -qx "rsi 0x7000" "$v" &&
    grep -qx "cr0 0x80000011" "$v" && grep -qx "cr3 0x9000" "$v" && grep -qx "cr4 0x20" "$v" &&
    grep -qx "efer 0x500" "$v" && grep -qx "cs 0x10 0 0xffffffff 0xa09b" "$v" &&
    grep -qx "ds 0x18 0 0xffffffff 0xc093" "$v" && grep -qx "ss 0x18 0 0xffffffff 0xc093" "$v" &&
    grep -qx "gdtr 0x5000 0x1f" "$v"; then
	pass vcpu_state
else fail vcpu_state "$(cat "$v" 2>/dev/null)"; fi

# The name is taken now: one line, exit 1, the VM untouched.
"$gb" -m "$tmp/device.map" -r hd0,msdos1 gb1 </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "exists already" "$tmp/err" && grep -qx "state loaded" "$run/meta"; then
	pass exists
else fail exists "rc $rc"; fi

# -n: no console=ttyS0 added.
"$gb" -n -m "$tmp/device.map" -r hd0,msdos1 -M 128 gb2 </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
m2=$BHYVE_RUN_DIR/gb2/mem
cmdline=$(tail -c +$((0x20000 + 1)) "$m2" 2>/dev/null | head -c 200 | tr '\0' '\n' | head -1)
if [ $rc -eq 0 ] && [ "$cmdline" = "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro" ] &&
    grep -qx "memsize 134217728" "$BHYVE_RUN_DIR/gb2/meta"; then
	pass no_console
else fail no_console "rc $rc, '$cmdline'"; fi

# A root with no grub.cfg: one line, exit 1, no VM left.
"$gb" -m "$tmp/device.map" -r hd0 gb3 </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && [ ! -e "$BHYVE_VMM_DIR/gb3" ] && [ ! -e "$BHYVE_RUN_DIR/gb3" ]; then
	pass no_config
else fail no_config "rc $rc"; fi

# FAT32 on the first partition of an MBR disk: its grub.cfg finds its root by
# label, the initrd has a long name.
printf '(hd0) %s\n' "$d/fatmbr.img" >"$tmp/fat.map"
"$gb" -m "$tmp/fat.map" -r hd0,msdos1 gbf </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
fm=$BHYVE_RUN_DIR/gbf/mem
ra=$(u32 "$fm" $((zp + 0x218)))
if [ $rc -eq 0 ] && [ "$(tail -c +$((0x20000 + 1)) "$fm" | head -c 200 | tr '\0' '\n' | head -1)" = \
    "BOOT_IMAGE=/boot/vmlinuz fat=1 console=ttyS0" ] &&
    cmp -s "$a" <(tail -c +$((ra + 1)) "$fm" | head -c "$alen"); then
	pass fat_partition
else fail fat_partition "rc $rc"; fi
"$ctl" --vm=gbf --destroy >/dev/null 2>&1
# XFS: named and refused in one line.
if [ -f "$d/xfs.img" ]; then
	printf '(hd0) %s\n' "$d/xfs.img" >"$tmp/xfs.map"
	"$gb" -m "$tmp/xfs.map" -r hd0 gbx </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
	if [ $rc -eq 1 ] && grep -q "(hd0): XFS is not supported by grub-bhyve; " "$tmp/err" &&
	    [ ! -e "$BHYVE_VMM_DIR/gbx" ]; then
		pass xfs_refused
	else fail xfs_refused "rc $rc"; fi
else
	echo "SKIP grub-bhyve-xfs_refused: no XFS image (xfsprogs)"
fi

# The interactive menu and prompt on a terminal: script(1) gives grub-bhyve a
# pty; keys are written to it with pauses, as a user types them.
# drive NAME KEYS-SCRIPT ARGS...: runs grub-bhyve ARGS... NAME on a pty, with
# the keys the shell code KEYS-SCRIPT prints; the output in $tmp/out.
drive() {
	local name=$1 keys=$2
	shift 2
	(eval "$keys"; sleep 1) | timeout 60 script -qfec "$(printf '%q ' "$gb" "$@" "$name")" /dev/null \
	    >"$tmp/out" 2>"$tmp/err"
}
cmdline_of() { tail -c +$((0x20000 + 1)) "$BHYVE_RUN_DIR/$1/mem" 2>/dev/null | head -c 300 | tr '\0' '\n' | head -1; }
if command -v script >/dev/null; then
	kern=$d/root/boot/vmlinuz
	cat >"$tmp/menu.cfg" <<CFG
set timeout=5
menuentry 'First' { linux $kern first=1; }
menuentry 'Second' { linux $kern second=2; }
CFG
	# Down arrow then Enter boots the second entry.
	drive gbi1 "sleep 0.5; printf '\033[B'; sleep 0.3; printf '\r'" -r host -d "$tmp" -g menu.cfg
	if grep -q "^Loaded $kern " "$tmp/out" && [ "$(cmdline_of gbi1)" = "BOOT_IMAGE=$kern second=2 console=ttyS0" ] &&
	    grep -q '> \+1: Second' "$tmp/out"; then
		pass interactive_arrow
	else fail interactive_arrow "'$(cmdline_of gbi1)'"; fi
	# c, then ls, cat, linux, initrd and boot at the grub> prompt.
	drive gbi2 "sleep 0.5; printf c; sleep 0.3; for l in ls 'cat /boot/grub/grub.cfg' 'linux /boot/vmlinuz x=1' 'initrd /boot/initrd-a' boot; do printf '%s\r' \"\$l\"; sleep 0.3; done" \
	    -m "$tmp/device.map" -r hd0,msdos1
	ra=$(u32 "$BHYVE_RUN_DIR/gbi2/mem" $((zp + 0x218)))
	if grep -q '(hd0) (hd0,msdos1) (hd0,msdos2) (hd0,msdos5) (host)' "$tmp/out" &&
	    grep -q "menuentry 'Test guest' --id test {" "$tmp/out" && grep -q "^Loaded /boot/vmlinuz " "$tmp/out" &&
	    [ "$(cmdline_of gbi2)" = "BOOT_IMAGE=/boot/vmlinuz x=1 console=ttyS0" ] &&
	    [ "$(u32 "$BHYVE_RUN_DIR/gbi2/mem" $((zp + 0x21c)))" -ge "$alen" ] &&
	    cmp -s "$a" <(tail -c +$((ra + 1)) "$BHYVE_RUN_DIR/gbi2/mem" | head -c "$alen"); then
		pass interactive_prompt
	else fail interactive_prompt "'$(cmdline_of gbi2)'"; fi
	# A key stops the countdown: nothing is booted 3 s after a 2 s timeout,
	# until Enter; 'j' had moved to the second entry.
	sed -i 's/^set timeout=5/set timeout=2/' "$tmp/menu.cfg"
	rm -f "$tmp/early"
	drive gbi3 "sleep 0.3; printf j; sleep 3; [ -e '$BHYVE_VMM_DIR/gbi3' ] && touch '$tmp/early'; printf '\r'" \
	    -r host -d "$tmp" -g menu.cfg
	if [ ! -e "$tmp/early" ] && grep -q 'booted automatically in 2 s' "$tmp/out" &&
	    [ "$(cmdline_of gbi3)" = "BOOT_IMAGE=$kern second=2 console=ttyS0" ]; then
		pass interactive_countdown_stopped
	else fail interactive_countdown_stopped "'$(cmdline_of gbi3)' $(ls "$tmp/early" 2>/dev/null)"; fi
	# No key: the default entry after the timeout; the terminal is put back.
	sed -i 's/^set timeout=2/set timeout=1/' "$tmp/menu.cfg"
	drive gbi4 "sleep 2.5" -r host -d "$tmp" -g menu.cfg
	if grep -q 'booted automatically in 1 s' "$tmp/out" &&
	    [ "$(cmdline_of gbi4)" = "BOOT_IMAGE=$kern first=1 console=ttyS0" ]; then
		pass interactive_timeout
	else fail interactive_timeout "'$(cmdline_of gbi4)'"; fi
	# 'e': the entry's commands, a line edited, Ctrl-X boots it.
	drive gbi5 "sleep 0.5; printf e; sleep 0.3; printf '\r'; sleep 0.2; printf ' y=2\r'; sleep 0.3; printf '\030'" \
	    -r host -d "$tmp" -g menu.cfg
	if grep -q "^> linux $kern first=1\$" <(tr -d '\r' <"$tmp/out") &&
	    [ "$(cmdline_of gbi5)" = "BOOT_IMAGE=$kern first=1 y=2 console=ttyS0" ]; then
		pass interactive_edit
	else fail interactive_edit "'$(cmdline_of gbi5)'"; fi
	# An entry whose kernel is missing: the error, a key, the menu again (no
	# new countdown), and the next entry boots.
	printf 'set timeout=1\nmenuentry Bad { linux /nonexistent; }\nmenuentry Good { linux %s good=1; }\n' \
	    "$kern" >"$tmp/bad.cfg"
	drive gbi7 "sleep 2; printf x; sleep 0.5; printf j; sleep 0.3; printf '\r'" -r host -d "$tmp" -g bad.cfg
	if grep -q "error: (host)/nonexistent: file not found" "$tmp/out" &&
	    [ "$(grep -c 'booted automatically' "$tmp/out")" = 1 ] &&
	    [ "$(cmdline_of gbi7)" = "BOOT_IMAGE=$kern good=1 console=ttyS0" ]; then
		pass interactive_error_back_to_menu
	else fail interactive_error_back_to_menu "'$(cmdline_of gbi7)'"; fi
	# SIGTERM while the menu waits: the terminal is back in canonical mode
	# with echo (stty on the same pty, before and after), no VM made.
	sed -i 's/^set timeout=1/set timeout=60/' "$tmp/menu.cfg"
	timeout 30 script -qfec "sh -c '$(printf '%q' "$gb") -r host -d $(printf '%q' "$tmp") -g menu.cfg gbi6 </dev/tty >/dev/null & p=\$!; sleep 1; stty -a | grep -o -- -icanon; kill -TERM \$p; wait \$p; echo rc=\$?; stty -a | grep -ow -e icanon -e echo'" \
	    /dev/null </dev/null >"$tmp/out" 2>"$tmp/err"
	if [ "$(tr -d '\r' <"$tmp/out" | grep -v '^Terminated' | tr '\n' ' ')" = "-icanon rc=143 icanon echo " ] && [ ! -e "$BHYVE_VMM_DIR/gbi6" ]; then
		pass interactive_sigterm_restores_terminal
	else fail interactive_sigterm_restores_terminal "$(tr -d '\r' <"$tmp/out" | tr '\n' ' ')"; fi
	for v in gbi1 gbi2 gbi3 gbi4 gbi5 gbi6 gbi7; do "$ctl" --vm=$v --destroy >/dev/null 2>&1; done
else
	echo "SKIP grub-bhyve-interactive: script(1) (util-linux) is not installed"
fi

# bhyvectl --destroy: nothing left behind.
"$ctl" --vm=gb1 --destroy >"$tmp/out" 2>"$tmp/err"; rc=$?
"$ctl" --vm=gb2 --destroy >>"$tmp/out" 2>>"$tmp/err" || rc=1
if [ $rc -eq 0 ] && [ -z "$(ls -A "$BHYVE_VMM_DIR")" ] && [ ! -e "$run" ]; then
	pass destroy
else fail destroy "rc $rc"; fi
[ $fails -eq 0 ]
