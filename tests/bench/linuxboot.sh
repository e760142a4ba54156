#!/usr/bin/env bash
# Boot time of a real Linux guest: Debian's kernel with the busybox initramfs
# of tests/linux/ (its /init prints "linuxguest: init" and powers off), booted
# from the same virtio-blk disk through Debian's SeaBIOS and GRUB, under our
# bin/bhyve and under qemu-system-x86_64 -enable-kvm, with the same memory and
# vCPUs and a serial console, runs interleaved. Prints each run's time from
# exec to the marker and to exit, the medians, and QEMU/bhyve ratios.
# Stock Linux needs real VMX/SVM: on kvm_pvm (guest ring 0 emulated) this says
# so and exits 0; tests/nested/run.sh runs it on any machine:
#   tests/nested/run.sh -t 1800 tests/bench/linuxboot.sh
# RUNS (default 5), LINUXBOOT_TIMEOUT (s per boot, default 300),
# QEMU_CPU (default host: the CPUID bhyve passes through as well).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bhyve=${BHYVE:-$top/bin/bhyve}
bios=${SEABIOS:-/usr/share/seabios/bios-256k.bin}
qemu=${QEMU:-qemu-system-x86_64}
runs=${RUNS:-5}
secs=${LINUXBOOT_TIMEOUT:-300}
ncpu=2 mem=512
tmp=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

skipping() { echo "linuxboot: skipped: $*"; exit 0; }
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then skipping "/dev/kvm is not usable here"; fi
[ -d /sys/module/kvm_pvm ] && skipping "/dev/kvm here is kvm_pvm, which emulates guest ring 0:" \
	"stock Linux does not boot under it (QEMU's neither); run it nested:" \
	"tests/nested/run.sh -t 1800 tests/bench/linuxboot.sh"
[ -x "$bhyve" ] || { echo "linuxboot: bin/bhyve is not built (make all)" >&2; exit 1; }
[ -r "$bios" ] || { echo "linuxboot: $bios is missing (seabios)" >&2; exit 1; }
command -v "$qemu" >/dev/null || { echo "linuxboot: $qemu is not installed (qemu-system-x86)" >&2; exit 1; }
img=$("$top/tests/linux/mkdisk.sh") || exit 1

# shellcheck disable=SC2034,SC2054  # used through timing's nameref; commas are in arguments
bhyve_cmd=("$bhyve" -c "$ncpu" -m "${mem}M" -s 0,hostbridge -s 31,lpc -l com1,stdio -l "bootrom,$bios"
	-s "4,virtio-blk,$img,ro,bootindex=0" linuxboot)
# shellcheck disable=SC2034,SC2054
qemu_cmd=("$qemu" -enable-kvm -machine pc -cpu "${QEMU_CPU:-host}" -smp "$ncpu" -m "$mem" -bios "$bios"
	-nodefaults -display none -no-reboot -serial stdio
	-drive "file=$img,if=none,id=boot,format=raw,readonly=on" -device virtio-blk-pci,drive=boot,bootindex=0)

ms_since() { echo $(( (${EPOCHREALTIME/./} - $1) / 1000 )); }

# timing VMM: one boot; sets m (ms from exec to the marker, "-" when it never
# came), e (ms to exit) and u (the guest's uptime at the marker). The console
# goes through a FIFO, not process substitution: the nested L1 has no /dev/fd.
timing() {
	local -n cmd=${1}_cmd
	local start line vpid
	m=- u=-
	rm -f "$tmp/fifo"
	mkfifo "$tmp/fifo"
	start=${EPOCHREALTIME/./}
	timeout -k 5 "$secs" "${cmd[@]}" </dev/null >"$tmp/fifo" 2>"$tmp/$1.err" &
	vpid=$!
	while IFS= read -r line; do
		line=${line%$'\r'}
		if [ "$m" = - ] && [[ $line == *"linuxguest: init uptime "* ]]; then
			m=$(ms_since "$start")
			u=${line##* }
		fi
	done <"$tmp/fifo"
	wait "$vpid"
	e=$(ms_since "$start")
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR ? a[int((NR + 1) / 2)] : "-") }'; }
sec() { awk -v ms="$1" 'BEGIN { if (ms == "-") print "-"; else printf "%.2f", ms / 1000 }'; }

where=""
[ -n "${NESTED_L1:-}" ] && where=" (nested: an L2 guest under an L1 on the TCG of QEMU)"
echo "linuxboot: Debian $("$top/tests/nested/kernel.sh"), SeaBIOS, GRUB from virtio-blk, $ncpu vCPUs, $mem MiB;" \
	"$runs runs each, interleaved$where"
for i in $(seq "$runs"); do
	for vmm in bhyve qemu; do
		timing "$vmm"
		printf 'run %d %-5s: marker %7s s, exit %7s s, guest uptime at init %s s\n' \
			"$i" "$vmm" "$(sec "$m")" "$(sec "$e")" "$u"
		[ "$m" = - ] && tail -n 3 "$tmp/$vmm.err" | sed 's/^/  err| /'
		[ "$m" != - ] && echo "$m" >>"$tmp/$vmm.marker"
		echo "$e" >>"$tmp/$vmm.exit"
	done
done
printf '%-26s %10s %10s %10s\n' "median of $runs" bhyve qemu qemu/bhyve
for what in marker exit; do
	b=$(median <"$tmp/bhyve.$what" 2>/dev/null) q=$(median <"$tmp/qemu.$what" 2>/dev/null)
	printf '%-26s %10s %10s %10s\n' "exec to $what (s)" "$(sec "${b:--}")" "$(sec "${q:--}")" \
		"$(awk -v b="${b:--}" -v q="${q:--}" 'BEGIN { if (b == "-" || q == "-" || b == 0) print "-"; else printf "%.2fx", q / b }')"
done
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
