#!/usr/bin/env bash
# grub-bhyve, then bhyve: the loader-to-guest hand-off end to end. The test
# guest packaged as a bzImage (tests/guest/bzguest.asm) with an initrd, on an
# ISO, on an ext4 partition of an MBR disk and of a GPT disk, all built here:
# grub-bhyve loads it into a VM of the registry, `bhyve NAME` runs it, and the
# guest reports the entry mode, the command line, the initrd (address, size,
# byte sum) and the e820 map it was handed, then powers off (exit status 1).
# /dev/vmm/NAME exists while the VM does, and `bhyvectl --destroy` leaves
# nothing behind. Prints PASS/FAIL/SKIP lines; exit 1 on a FAIL.
#   tests/grub/test_boot.sh      (BHYVE names another bhyve binary)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bhyve=${BHYVE:-$top/bin/bhyve}
gb=$top/bin/grub-bhyve
ctl=$top/bin/bhyvectl
guests=$top/tests/guest/build
images=(iso mbr gpt)
tmp=$(mktemp -d)
export BHYVE_VMM_DIR=$tmp/vmm BHYVE_RUN_DIR=$tmp/run
trap 'for n in "${images[@]}"; do "$ctl" --vm=bz-$n --destroy >/dev/null 2>&1; done; rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS grub-boot-$1${2:+ ($2)}"; }
fail() {
	echo "FAIL grub-boot-$1: $2"
	sed 's/^/  | /' "$tmp/out" "$tmp/err" 2>/dev/null | tail -n 20
	fails=$((fails + 1))
}
skip_all() { local n; for n in "${images[@]}"; do echo "SKIP grub-boot-$n: $1"; done; exit 0; }
# report_matches WANT FILE: true when
# FILE has as many lines as WANT, each matching WANT's line (an extended
# regular expression) whole; else false, with the first difference on stdout.
report_matches() {
	local i=0 w g
	local -a want got
	mapfile -t want <<<"$1"
	mapfile -t got <"$2"
	for ((i = 0; i < ${#want[@]} || i < ${#got[@]}; i++)); do
		w=${want[i]:-} g=${got[i]:-}
		if ! [[ $g =~ ^$w$ ]]; then
			echo "line $((i + 1)): '$g', expected '$w'"
			return 1
		fi
	done
	return 0
}


# The guest starts in long mode (or protected mode), which only KVM can give
# a vCPU: the software CPU of bin/bhyve-emu (Unicorn in 16-bit mode) starts
# only real-mode hand-offs.
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	skip_all "no usable /dev/kvm: the guest starts in long mode, which bin/bhyve-emu's software CPU cannot enter from a loader's state (run it under tests/nested/run.sh)"
fi
for f in "$bhyve" "$gb" "$ctl" "$guests/bzguest.bzImage" "$guests/bzguest32.bzImage"; do
	[ -e "$f" ] || skip_all "$f is not built (make all)"
done
for t in mke2fs sfdisk xorriso; do
	command -v "$t" >/dev/null || skip_all "$t is not installed (tools/setup --tests)"
done

# The 64-bit entry (what Debian's kernels take); on kvm_pvm, whose emulator runs
# all guest ring-0 code, the 32-bit one, as PVH kernels are known to start there
# (../shared/design/ENVIRONMENT.md). The nested tier proves the 64-bit entry.
image=bzguest.bzImage entry=64
if [ -d /sys/module/kvm_pvm ]; then image=bzguest32.bzImage entry=32; fi

# The files: the bzImage, an initrd of odd length, a grub.cfg naming no console.
mkdir -p "$tmp/root/boot/grub"
cp "$guests/$image" "$tmp/root/boot/bzguest"
head -c 100003 /dev/urandom >"$tmp/root/boot/initrd.img"
cat >"$tmp/root/boot/grub/grub.cfg" <<'CFG'
set timeout=0
menuentry 'bzguest' {
	linux /boot/bzguest bzguest.check=yes -- init.arg
	initrd /boot/initrd.img
}
CFG
sum=$(od -An -v -tu1 "$tmp/root/boot/initrd.img" |
	awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "0x%08x", s % 4294967296 }')
# ramdisk_size covers the initrd padded to 4 bytes (with zeros), as GRUB does.
size=$((($(stat -c %s "$tmp/root/boot/initrd.img") + 3) / 4 * 4))
if ! mke2fs -q -t ext4 -d "$tmp/root" "$tmp/fs.img" 16M >"$tmp/log" 2>&1 ||
    ! xorriso -as mkisofs -R -J -o "$tmp/cd.iso" "$tmp/root" >>"$tmp/log" 2>&1; then
	echo "FAIL grub-boot-images: $(tail -n 1 "$tmp/log")"
	exit 1
fi
truncate -s 32M "$tmp/mbr.img" "$tmp/gpt.img"
printf '%s\n' 'label: dos' 'start=2048, size=32768, type=83' | sfdisk -q "$tmp/mbr.img" >"$tmp/log" 2>&1 &&
printf '%s\n' 'label: gpt' 'start=2048, size=32768, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4' |
	sfdisk -q "$tmp/gpt.img" >>"$tmp/log" 2>&1 &&
dd if="$tmp/fs.img" of="$tmp/mbr.img" bs=512 seek=2048 conv=notrunc status=none &&
dd if="$tmp/fs.img" of="$tmp/gpt.img" bs=512 seek=2048 conv=notrunc status=none ||
	{ echo "FAIL grub-boot-images: $(tail -n 1 "$tmp/log")"; exit 1; }

# bhyve's map for -m 256M, as boot_params carries it.
e820="bzguest: e820 4
bzguest: e820 0x0000000000000000 0x000000000009fc00 1
bzguest: e820 0x000000000009fc00 0x0000000000060400 2
bzguest: e820 0x0000000000100000 0x000000000ff00000 1
bzguest: e820 0x00000000feffc000 0x0000000000004000 2"

for n in "${images[@]}"; do
	case $n in
	iso) map="(cd0) $tmp/cd.iso" root=cd0 ;;
	mbr) map="(hd0) $tmp/mbr.img" root=hd0,msdos1 ;;
	gpt) map="(hd0) $tmp/gpt.img" root=hd0,gpt1 ;;
	esac
	vm=bz-$n
	printf '%s\n' "$map" >"$tmp/device.map"
	if ! "$gb" -m "$tmp/device.map" -r "$root" -M 256M "$vm" </dev/null >"$tmp/out" 2>"$tmp/err"; then
		fail "$n" "grub-bhyve -r $root: $(tail -n 1 "$tmp/err")"
		continue
	fi
	listed=no
	[ -e "$BHYVE_VMM_DIR/$vm" ] && listed=yes
	timeout 60 "$bhyve" -c 1 -m 256M -A -H -P -s 0,hostbridge -s 31,lpc -l com1,stdio "$vm" \
		</dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
	after=no
	[ -e "$BHYVE_VMM_DIR/$vm" ] && after=yes
	"$ctl" --vm="$vm" --destroy >/dev/null 2>&1
	want="bzguest: entry $entry
bzguest: boot_params 0x00007000
bzguest: cmdline BOOT_IMAGE=/boot/bzguest bzguest.check=yes console=ttyS0 -- init.arg
bzguest: initrd 0x[0-9a-f]{8} size $size sum $sum
$e820
bzguest: done"
	grep '^bzguest: ' "$tmp/txt" >"$tmp/got"
	if [ "$rc" -ne 1 ]; then
		fail "$n" "bhyve exited with status $rc, not 1 (power-off)"
	elif ! bad=$(report_matches "$want" "$tmp/got"); then
		fail "$n" "the guest's report differs: $bad"
	elif [ "$listed" != yes ] || [ "$after" != yes ]; then
		fail "$n" "/dev/vmm/$vm missing (after the loader: $listed, after bhyve: $after)"
	elif [ -e "$BHYVE_VMM_DIR/$vm" ] || [ -e "$BHYVE_RUN_DIR/$vm" ]; then
		fail "$n" "bhyvectl --destroy left $vm behind"
	else
		pass "$n" "$entry-bit entry, $(grep -m1 '^bzguest: initrd' "$tmp/txt" | cut -d' ' -f2-)"
	fi
done
[ "$fails" -eq 0 ]
