#!/usr/bin/env bash
# Start-up through a loader: bin/grub-bhyve (reading grub.cfg from an ISO by a
# device.map, as vm-bhyve's loader="grub" does) and then `bhyve NAME` without
# a boot ROM, against qemu-system-x86_64 -enable-kvm loading the same kernel
# and initrd itself (-kernel/-initrd/-append; SeaBIOS and QEMU's linuxboot
# option ROM run first there), same memory, vCPUs and serial console, runs
# interleaved (ours, then QEMU's).
#   Part 1: the test guest packaged as a bzImage (tests/guest/bzguest.asm)
#     with a 100 KB initrd: time to its first serial line ("bzguest: entry",
#     which both print: ours enters it at the 64-bit entry, QEMU in real mode)
#     and to its power-off exit, and the loader's own time (grub-bhyve's exit).
#     Medians and min-max over RUNS pairs; a run whose guest did not report
#     "bzguest: done" is counted as failed and left out.
#   Part 2: Debian's kernel and the busybox initramfs of tests/linux/ (the
#     ISO tests/linux/grubbhyve.sh boots) to its init's marker and to exit.
#     In the nested tier an L2 Linux stops at random under both VMMs, so each
#     boot has a timeout (LOADERBOOT_TIMEOUT, default 90 s), the stalls are
#     counted per VMM; the time to init covers the boots that reached it,
#     the time to exit those that went on to power off.
# Needs hardware KVM (stock Linux does not boot under kvm_pvm): otherwise it
# says so and exits 0; tests/nested/run.sh runs it on any machine:
#   tests/nested/run.sh -t 3000 tests/bench/loaderboot.sh
# RUNS (part 1's pairs, default 5), LINUX_RUNS (part 2's, default 8: most
# nested boots stall), LOADERBOOT_TIMEOUT, QEMU_CPU (default host).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bhyve=${BHYVE:-$top/bin/bhyve}
gb=$top/bin/grub-bhyve
ctl=$top/bin/bhyvectl
qemu=${QEMU:-qemu-system-x86_64}
runs=${RUNS:-5}
linux_runs=${LINUX_RUNS:-8}
secs=${LOADERBOOT_TIMEOUT:-90}
ncpu=1 mem=256
vm=loaderboot
tmp=$(mktemp -d)
export BHYVE_VMM_DIR=$tmp/vmm BHYVE_RUN_DIR=$tmp/run
trap 'kill -9 $(jobs -p) 2>/dev/null; "$ctl" --vm=$vm --destroy >/dev/null 2>&1; rm -rf "$tmp"' EXIT

skipping() { echo "loaderboot: skipped: $*"; exit 0; }
die() { echo "loaderboot: $*" >&2; exit 1; }
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	skipping "/dev/kvm is not usable here (no hardware KVM); run it nested:" \
		"tests/nested/run.sh -t 3000 tests/bench/loaderboot.sh"
fi
[ -d /sys/module/kvm_pvm ] && skipping "/dev/kvm here is kvm_pvm, which emulates guest ring 0:" \
	"stock Linux does not boot under it (QEMU's neither); run it nested:" \
	"tests/nested/run.sh -t 3000 tests/bench/loaderboot.sh"
for f in "$bhyve" "$gb" "$ctl" "$top/tests/guest/build/bzguest.bzImage"; do
	[ -e "$f" ] || die "$f is not built (make all)"
done
command -v "$qemu" >/dev/null || die "$qemu is not installed (qemu-system-x86)"
command -v xorriso >/dev/null || die "xorriso is not installed (tools/setup --tests)"

ms_since() { echo $(( (${EPOCHREALTIME/./} - $1) / 1000 )); }

# timing VMM MARKER DONE: one boot of the current part under VMM (ours: the
# loader, then bhyve; qemu). Sets l (ms from the start to grub-bhyve's exit,
# "-" for QEMU), m (ms to the first line holding MARKER, "-" when it never
# came), e (ms to the VMM's exit), ok (1 when a line held DONE) and rc. The
# console goes through a FIFO: the nested L1 has no /dev/fd.
timing() {
	local vmm=$1 marker=$2 done=$3 start line vpid wpid=""
	l=- m=- ok=0
	rm -f "$tmp/fifo"
	mkfifo "$tmp/fifo"
	: >"$tmp/$vmm.out"
	start=${EPOCHREALTIME/./}
	if [ "$vmm" = ours ]; then
		if ! "$gb" -m "$tmp/device.map" -r cd0 -M "${mem}M" "$vm" </dev/null >"$tmp/load.out" 2>"$tmp/ours.err"; then
			l=- e=$(ms_since "$start") rc=-
			"$ctl" --vm=$vm --destroy >/dev/null 2>&1
			return
		fi
		l=$(ms_since "$start")
		# SIGTERM is bhyve's ACPI power button, which a stalled guest never
		# answers: -k sends SIGKILL 5 s later. The subshell (which does not
		# exec timeout, its stderr dropped) keeps bash from reporting the kill.
		(timeout -k 5 "$secs" "$bhyve" -c "$ncpu" -m "${mem}M" -A -H -P -s 0,hostbridge -s 31,lpc \
			-l com1,stdio "$vm" </dev/null >"$tmp/fifo" 2>"$tmp/ours.err"; exit $?) 2>/dev/null &
		vpid=$!
		# Where a boot that runs into the timeout stands: vCPU 0's RIP and
		# RFLAGS and bhyve's exit count, twice 2 s apart (bhyvectl).
		rm -f "$tmp/stall.txt"
		(trap 'kill $! 2>/dev/null; exit 0' TERM; sleep $((secs - 4)) & wait $!; for _ in 1 2; do
			"$ctl" --vm=$vm --cpu=0 --get-rip --get-rflags --get-stats 2>&1 |
				grep -E 'rip|rflags|exits|bhyvectl' | tr -s '\t ' ' ' | paste -sd';'
			sleep 2
		done >"$tmp/stall.txt") &
		wpid=$!
	else
		(timeout -k 5 "$secs" "$qemu" -enable-kvm -machine pc -cpu "${QEMU_CPU:-host}" -smp "$ncpu" \
			-m "$mem" -nodefaults -display none -no-reboot -serial stdio -kernel "$kernel" \
			-initrd "$initrd" -append "$cmdline" </dev/null >"$tmp/fifo" 2>"$tmp/qemu.err"; exit $?) 2>/dev/null &
	fi
	[ -n "$wpid" ] || vpid=$!
	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$tmp/$vmm.out"
		[ "$m" = - ] && [[ $line == *"$marker"* ]] && m=$(ms_since "$start")
		[[ $line == *"$done"* ]] && ok=1
	done <"$tmp/fifo"
	wait "$vpid"
	rc=$?
	[ -n "$wpid" ] && { kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null; }
	e=$(ms_since "$start")
	[ "$vmm" = ours ] && "$ctl" --vm=$vm --destroy >/dev/null 2>&1
}

# stats FILE: "median (min-max)" in seconds of the ms values in FILE (the lower
# middle value of an even count), or "-".
stats() {
	[ -s "$1" ] || { echo -; return; }
	sort -n "$1" | awk '{ a[NR] = $1 } END {
		printf "%.2f (%.2f-%.2f)", a[int((NR + 1) / 2)] / 1000, a[1] / 1000, a[NR] / 1000 }'
}
median() { [ -s "$1" ] && sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
sec() { awk -v ms="$1" 'BEGIN { if (ms == "-") print "-"; else printf "%.2f", ms / 1000 }'; }
ratio() { # QEMU-FILE OURS-FILE
	local q b
	q=$(median "$1") b=$(median "$2")
	awk -v b="${b:--}" -v q="${q:--}" 'BEGIN { if (b == "-" || q == "-" || b == 0) print "-"; else printf "%.2fx", q / b }'
}

# count FILE: its number of lines (0 when absent).
count() { if [ -s "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# part NAME MARKER DONE WHAT N: N interleaved pairs of the current part, then
# its table. The time to MARKER covers the runs that printed it; the loader's
# time and the time to exit, the runs that went on to print DONE and exit.
part() {
	local name=$1 marker=$2 done=$3 what=$4 n=$5 i vmm note
	rm -f "$tmp"/*.ms
	for i in $(seq "$n"); do
		for vmm in ours qemu; do
			timing "$vmm" "$marker" "$done"
			[ "$m" != - ] && echo "$m" >>"$tmp/$vmm.marker.ms"
			if [ "$ok" = 1 ] && [ "$m" != - ]; then
				echo "$e" >>"$tmp/$vmm.exit.ms"
				[ "$l" != - ] && echo "$l" >>"$tmp/$vmm.load.ms"
				note="exit status $rc"
			elif [ "$vmm" = ours ] && [ "$l" = - ] && [ "$rc" = - ]; then
				note="FAILED: grub-bhyve: $(tail -n 1 "$tmp/ours.err")"
				echo x >>"$tmp/$vmm.bad.ms"
			elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
				note="STALLED: killed after $secs s; last line: $(grep -v '^$' "$tmp/$vmm.out" | tail -n 1 | cut -c1-70)"
				echo x >>"$tmp/$vmm.stall.ms"
			else
				note="FAILED (exit status $rc): $(grep -v '^$' "$tmp/$vmm.out" | tail -n 1 | cut -c1-70)"
				echo x >>"$tmp/$vmm.bad.ms"
			fi
			printf '%s run %d %-4s: loader %6s s, %s %7s s, exit %7s s; %s\n' "$name" "$i" "$vmm" \
				"$(sec "$l")" "$what" "$(sec "$m")" "$(sec "$e")" "$note"
			[ "$ok" = 1 ] || tail -n 2 "$tmp/$vmm.err" | sed 's/^/  err| /'
			[ "$vmm" = ours ] && [ "$ok" != 1 ] && [ -s "$tmp/stall.txt" ] && sed 's/^/  vcpu0| /' "$tmp/stall.txt"
		done
	done
	for vmm in ours qemu; do
		printf '%s %-4s: %d of %d runs reached %s, %d of them %s; stalled %d, failed otherwise %d\n' \
			"$name" "$vmm" "$(count "$tmp/$vmm.marker.ms")" "$n" "'$marker'" "$(count "$tmp/$vmm.exit.ms")" \
			"'$done'" "$(count "$tmp/$vmm.stall.ms")" "$(count "$tmp/$vmm.bad.ms")"
	done
	printf '%-32s %22s %22s %10s\n' "$name, s: median (min-max)" "grub-bhyve + bhyve" "qemu -kernel" "qemu/ours"
	printf '%-32s %22s %22s %10s\n' "loader (grub-bhyve's exit)" "$(stats "$tmp/ours.load.ms")" - -
	printf '%-32s %22s %22s %10s\n' "start to $what" "$(stats "$tmp/ours.marker.ms")" \
		"$(stats "$tmp/qemu.marker.ms")" "$(ratio "$tmp/qemu.marker.ms" "$tmp/ours.marker.ms")"
	printf '%-32s %22s %22s %10s\n' "start to exit (power-off)" "$(stats "$tmp/ours.exit.ms")" \
		"$(stats "$tmp/qemu.exit.ms")" "$(ratio "$tmp/qemu.exit.ms" "$tmp/ours.exit.ms")"
}

where=""
[ -n "${NESTED_L1:-}" ] && where=" (nested: an L2 guest under an L1 on the TCG of QEMU)"

# Part 1: the bzImage test guest and an initrd on an ISO.
mkdir -p "$tmp/root/boot/grub"
kernel=$tmp/root/boot/bzguest initrd=$tmp/root/boot/initrd.img
cp "$top/tests/guest/build/bzguest.bzImage" "$kernel"
head -c 100003 /dev/urandom >"$initrd"
cmdline="bzguest.check=yes console=ttyS0"
printf 'set timeout=0\nmenuentry bzguest {\n\tlinux /boot/bzguest %s\n\tinitrd /boot/initrd.img\n}\n' \
	"$cmdline" >"$tmp/root/boot/grub/grub.cfg"
xorriso -as mkisofs -R -J -o "$tmp/cd.iso" "$tmp/root" >"$tmp/log" 2>&1 || die "xorriso: $(tail -n 1 "$tmp/log")"
printf '(cd0) %s\n' "$tmp/cd.iso" >"$tmp/device.map"
echo "loaderboot part 1: the bzImage test guest + 100 KB initrd from an ISO, $ncpu vCPU, $mem MiB," \
	"serial on stdio; $runs runs each, interleaved$where"
part bzguest "bzguest: entry" "bzguest: done" "first line" "$runs"
grep -m1 '^bzguest: entry' "$tmp/ours.out" 2>/dev/null | sed 's/^/  ours| /'
grep -m1 '^bzguest: entry' "$tmp/qemu.out" 2>/dev/null | sed 's/^/  qemu| /'

# Part 2: Debian's kernel and initramfs from the Linux tier's ISO.
img=$("$top/tests/linux/mkdisk.sh" 2>"$tmp/mkdisk.err") || die "no Linux boot disk: $(tail -n 1 "$tmp/mkdisk.err")"
kernel=$tmp/vmlinuz initrd=$tmp/initrd.gz
xorriso -osirrox on -indev "$img" -extract /vmlinuz "$kernel" -extract /initrd.gz "$initrd" >"$tmp/log" 2>&1 ||
	die "cannot extract the kernel from $img: $(tail -n 1 "$tmp/log")"
cmdline=$(sed -n 's/^[[:space:]]*linux \/vmlinuz //p' "$(dirname "$img")/grub.cfg")
[ -n "$cmdline" ] || die "no linux line in $(dirname "$img")/grub.cfg"
printf '(cd0) %s\n' "$img" >"$tmp/device.map"
echo "loaderboot part 2: Debian $("$top/tests/nested/kernel.sh") + busybox initramfs from an ISO, $ncpu vCPU," \
	"$mem MiB, '$cmdline'; $linux_runs runs each, interleaved, $secs s timeout each$where"
part linux "linuxguest: init" "linuxguest: done" "init marker" "$linux_runs"
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
