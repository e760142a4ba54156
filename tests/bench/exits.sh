#!/usr/bin/env bash
# make bench: exits per kind for the same guest under our VMM and under QEMU on
# the same /dev/kvm, RUNS pairs (default 5), ours then QEMU's in each pair:
#  - Debian's SeaBIOS with no disk: its boot up to "No bootable device", then
#    SECONDS (default 10) of its waiting (it retries after 60 s). The counts
#    are KVM's own per-VM counters from debugfs (/sys/kernel/debug/kvm/PID-FD/),
#    read when the line appears and SECONDS later, so that a VMM that reaches
#    the line sooner is not charged for more seconds of waiting.
#  - The GRUB boot the storage tests make (tests/boot/storage.sh: grub-mkrescue
#    image on virtio-blk, GRUB hashes a 64 KiB file and halts), and the test
#    guest's suite (guest.rom, to its power-off): both end with the VM, so
#    these are counted by perf stat on KVM's tracepoints over the whole process
#    (kvm:kvm_exit, kvm:kvm_userspace_exit by reason), the same for both VMMs.
# io_exits and mmio_exits are the exits a VMM answers in user space, halt_exits
# and signal_exits what waiting and kicks cost, exits all of them (including
# those KVM answers itself). Needs root (debugfs, tracepoints) and KVM.
#   PORTS=1: also prints, for SeaBIOS in the first pair, each VMM's port
#   accesses per port (kvm:kvm_pio through ftrace) over the run, the top 25.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
qemu=${QEMU:-qemu-system-x86_64}
bios=${SEABIOS:-/usr/share/seabios/bios-256k.bin}
roms=$top/tests/guest/build
runs=${RUNS:-5}
secs=${SECONDS_IDLE:-10}
bhyve=$top/bin/bhyve
kinds=(exits io_exits mmio_exits halt_exits signal_exits irq_window_exits)

[ -c /dev/kvm ] && [ -w /dev/kvm ] || { echo "exits: /dev/kvm is not usable here; skipped (tests/nested/run.sh tests/bench/exits.sh runs it nested)"; exit 0; }
[ -r "$bios" ] || { echo "exits: $bios is missing (tools/setup --tests)" >&2; exit 1; }
command -v "$qemu" >/dev/null || { echo "exits: $qemu is missing (tools/setup --tests)" >&2; exit 1; }
d=/sys/kernel/debug/kvm
[ -d "$d" ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
[ -d "$d" ] || { echo "exits: no $d (debugfs needs root); skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
printf '\xf8\x03' >"$tmp/sercon"	# 0x3f8, little-endian
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs none $T 2>/dev/null
[ -d $T/events/kvm ] || T=/sys/kernel/debug/tracing
ports=${PORTS:-0}
[ "$ports" = 1 ] && ! [ -d $T/events/kvm/kvm_pio ] && { echo "exits: no kvm:kvm_pio tracepoint; PORTS=1 ignored"; ports=0; }

# snap PID: "kind=count ..." of that process's VM, from debugfs
snap() {
	local dir k line=""
	dir=$(ls -d "$d/$1"-* 2>/dev/null | head -n 1)
	for k in "${kinds[@]}"; do line+="$k=$(cat "$dir/$k" 2>/dev/null || echo NA) "; done
	echo "$line"
}
# sub "A" "B": B - A per kind
sub() {
	local k a b line=""
	for k in "${kinds[@]}"; do
		a=$(tr ' ' '\n' <<<"$1" | sed -n "s/^$k=//p"); b=$(tr ' ' '\n' <<<"$2" | sed -n "s/^$k=//p")
		if [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]; then line+="$k=$((b - a)) "; else line+="$k=NA "; fi
	done
	echo "$line"
}

# seabios VMM: appends its boot and idle counts to $tmp/VMM.boot and .idle
seabios() {
	local pid a b
	[ "$ports" = 1 ] && { echo >$T/trace; echo 1 >$T/events/kvm/kvm_pio/enable; }
	if [ "$1" = ours ]; then
		"$bhyve" -c 1 -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l "bootrom,$bios" exits \
			</dev/null >"$tmp/out" 2>&1 &
	else
		# SeaBIOS's console on COM1 as ours asks for it (etc/sercon-port), so
		# that both print the same.
		"$qemu" -enable-kvm -bios "$bios" -nodefaults -display none -serial stdio -m 128 -smp 1 \
			-fw_cfg name=etc/sercon-port,file="$tmp/sercon" </dev/null >"$tmp/out" 2>&1 &
	fi
	pid=$!
	for _ in $(seq 6000); do grep -q 'No bootable device' "$tmp/out" && break; sleep 0.02; done
	if ! grep -q 'No bootable device' "$tmp/out"; then
		kill -9 "$pid"; wait "$pid" 2>/dev/null
		echo "exits: SeaBIOS under $1 did not reach 'No bootable device' in 120 s" >&2
		exit 1
	fi
	a=$(snap "$pid")
	sleep "$secs"
	b=$(snap "$pid")
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	echo "$a" >>"$tmp/$1.boot"
	sub "$a" "$b" >>"$tmp/$1.idle"
	if [ "$ports" = 1 ]; then
		echo 0 >$T/events/kvm/kvm_pio/enable
		grep kvm_pio $T/trace | sed -E 's/.*pio_(read|write) at (0x[0-9a-f]+) size ([0-9]+).*/\1 \2 \3/' |
			sort | uniq -c | sort -rn | head -25 | sed "s/^/  $1 /" >>"$tmp/ports"
		echo "  $1 total $(grep -c kvm_pio $T/trace)" >>"$tmp/ports"
	fi
}

# counted NAME WANT-STATUS WANT-LINE CMD...: runs CMD to its end under perf
# stat, appends "kind=count ..." to $tmp/NAME
counted() {
	local name=$1 want=$2 line=$3 rc hlt
	shift 3
	# The halt exit's number: SVM_EXIT_HLT on AMD, EXIT_REASON_HLT on Intel.
	hlt=$([ -d /sys/module/kvm_amd ] && echo 0x78 || echo 12)
	perf stat -x, -o "$tmp/perf" -e kvm:kvm_exit \
		-e kvm:kvm_userspace_exit --filter 'reason == 2' \
		-e kvm:kvm_userspace_exit --filter 'reason == 6' \
		-e kvm:kvm_exit --filter "exit_reason == $hlt" \
		-e kvm:kvm_userspace_exit --filter 'reason == 10' \
		-- timeout -s KILL 600 "$@" </dev/null >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" != "$want" ] || ! grep -q "$line" "$tmp/out"; then
		echo "exits: $name: '$*' ended with status $rc (want $want) or without '$line':" >&2
		tail -5 "$tmp/out" >&2
		exit 1
	fi
	grep -v '^#' "$tmp/perf" | grep . | cut -d, -f1 | paste -sd' ' |
		awk '{printf "exits=%s io_exits=%s mmio_exits=%s halt_exits=%s signal_exits=%s irq_window_exits=NA\n", $1, $2, $3, $4, $5}' >>"$tmp/$name"
}

grub=no
if command -v perf >/dev/null && perf stat -e kvm:kvm_exit true >/dev/null 2>&1; then
	# shellcheck source=tests/grubimg.sh
	. "$top/tests/grubimg.sh"
	why=$(grubimg_missing)
	if [ -z "$why" ]; then
		# The storage tests' image (tests/boot/storage.sh).
		grubimg_storage_tree "$tmp/iso" >/dev/null
		grubimg_make "$tmp/iso" "$tmp/grub.img" "$tmp/mkrescue.log" &&
			truncate -s %4096 "$tmp/grub.img" && grub=yes
		[ $grub = yes ] || echo "exits: grub-mkrescue failed; the GRUB row is skipped"
	else
		echo "exits: $why; the GRUB row is skipped"
	fi
	suite=yes
else
	echo "exits: perf cannot count kvm:kvm_exit here (Debian package linux-perf, tracefs); the GRUB and test-guest rows are skipped"
	suite=no
fi

for _ in $(seq "$runs"); do
	for vmm in ours qemu; do
		seabios "$vmm"
		if [ $grub = yes ]; then
			if [ $vmm = ours ]; then
				counted ours.grub 1 'storage: hashed' "$bhyve" -c 1 -m 256M -s 0,hostbridge \
					-s 4,virtio-blk,"$tmp/grub.img",ro,bootindex=0 -s 31,lpc -l com1,stdio -l "bootrom,$bios" exits
			else
				counted qemu.grub 0 'storage: hashed' "$qemu" -enable-kvm -bios "$bios" -nodefaults -display none \
					-serial stdio -m 256 -smp 1 -fw_cfg name=etc/sercon-port,file="$tmp/sercon" -no-reboot \
					-drive file="$tmp/grub.img",if=none,id=d,format=raw,readonly=on \
					-device virtio-blk-pci,drive=d,bootindex=0
			fi
		fi
		if [ $suite = yes ]; then
			if [ $vmm = ours ]; then
				counted ours.suite 1 'testguest: done' "$bhyve" -c 1 -m 128M -s 0,hostbridge -s 31,lpc \
					-l com1,stdio -l "bootrom,$roms/guest.rom" exits
			else
				counted qemu.suite 0 'testguest: done' "$qemu" -enable-kvm -bios "$roms/guest.rom" -nodefaults \
					-serial stdio -display none -m 128 -smp 1 -no-reboot
			fi
		fi
	done
	ports=0
done

# median and min-max of one kind over the runs in one file
stat() { tr ' ' '\n' <"$tmp/$1" | sed -n "s/^$2=//p" | sort -n |
	awk '{a[NR]=$1} END{if (a[1] == "NA") print "NA"; else printf "%s (%s-%s)", a[int((NR+1)/2)], a[1], a[NR]}'; }
table() { # TITLE SUFFIX
	printf '%-44s %22s %22s\n' "$1" "$(basename "$bhyve")" qemu
	for k in "${kinds[@]}"; do
		printf '%-44s %22s %22s\n' "  $k" "$(stat "ours.$2" "$k")" "$(stat "qemu.$2" "$k")"
	done
}
echo "$runs pairs, median (min-max)"
table "SeaBIOS to 'No bootable device'" boot
table "SeaBIOS waiting, the next ${secs} s" idle
[ $grub = yes ] && table "GRUB boot (storage tests' image, virtio-blk)" grub
[ $suite = yes ] && table "test guest's suite (guest.rom)" suite
[ -s "$tmp/ports" ] && { echo "port accesses in the SeaBIOS runs (count, direction, port, size):"; cat "$tmp/ports"; }
echo "machine: $(nproc) CPUs, $(uname -r), kvm module $(for m in kvm_intel kvm_amd kvm_pvm; do [ -d /sys/module/$m ] && echo $m; done), $(date -u +%Y-%m-%d)"
