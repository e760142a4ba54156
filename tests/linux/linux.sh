#!/usr/bin/env bash
# The real-Linux-guest tier: Debian's own kernel (linux-image-amd64) as a
# guest of bin/bhyve, booted the way a user's VM boots: Debian's SeaBIOS, GRUB
# (i386-pc) from a virtio-blk disk, then Linux with a busybox initramfs whose
# /init (tests/linux/init) reports what Linux found as "linuxguest: ..." lines
# on ttyS0. This script judges those lines and how the VMM ends. It prints one
# PASS/FAIL/SKIP line per test, and a "linux-time" line per boot.
#
# Three boots:
#   main      -c 2 -m 512M -u, two disks, slirp, virtio-rnd, virtio-console;
#             ends with poweroff -f
#   topology  -c 2,sockets=1,cores=2 -m 256M, an NVMe disk, an AHCI disk and
#             CD (Linux's own drivers), virtio-net on a tap in a network
#             namespace of its own; ends with reboot -f
#   button    -c 1 -m 256M, fbuf with vga=on, xhci with tablet and kbd; SIGTERM
#             to bhyve is an ACPI power-button press that the guest sees and
#             answers with a power-off; before that the init writes a line on
#             tty0, Linux's VGA text console, which a VNC client's picture must
#             show (OCR), and Linux's xhci_hcd and usbhid enumerate the tablet
#             and keyboard, whose input events the VNC client's pointer and key
#             must become
# (tests/linux/grubbhyve.sh boots the same disk's kernel through grub-bhyve.)
#
# Stock Linux needs real VMX/SVM under /dev/kvm. Where a boot does not reach
# the init, the same disk is booted under QEMU on the same /dev/kvm: if QEMU
# does not reach it either, the host is the limit and the tests are skipped
# with that reason; otherwise they fail. On kvm_pvm (guest ring 0 emulated) the
# QEMU reference runs first. tests/nested/run.sh gives any machine a real KVM:
#   tests/nested/run.sh -t 900 tests/linux/linux.sh
# LINUX_TIMEOUT (s, default 300) bounds each boot, LINUX_REF_TIMEOUT the QEMU
# reference (default: the same, 90 on kvm_pvm); BHYVE names another binary.
# A boot whose console stays silent for LINUX_QUIET s (default 120) has
# stopped and is killed. In the nested tier an L2 Linux stops at random, under
# QEMU as under ours, so a boot of ours that does not reach the init is told in
# a "linux-retry" line and booted again, LINUX_BOOTS times at most (default 3).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/progress.sh
. "$top/tests/progress.sh"
bhyve=${BHYVE:-$top/bin/bhyve}
bios=${SEABIOS:-/usr/share/seabios/bios-256k.bin}
qemu=${QEMU:-qemu-system-x86_64}
boot_secs=${LINUX_TIMEOUT:-300}
# The reference gets as long as our boots, except on kvm_pvm, where it is known
# to spend minutes decompressing the kernel before it stops.
ref_secs=${LINUX_REF_TIMEOUT:-$boot_secs}
[ -d /sys/module/kvm_pvm ] && ref_secs=${LINUX_REF_TIMEOUT:-90}
quiet_secs=${LINUX_QUIET:-120}
boots=${LINUX_BOOTS:-3}
tmp=$(mktemp -d)
# Each boot's console (host-stamped), stderr and SeaBIOS log are kept in
# build/linux/last-run/ for a look afterwards (under tests/nested/run.sh /tmp
# is the L1's own and gone with it). Only this run's processes are stopped.
# shellcheck disable=SC2317  # called from the trap
keep() {
	rm -rf "$top/build/linux/last-run" && mkdir -p "$top/build/linux/last-run" &&
		cp "$tmp"/*.out "$tmp"/*.err "$tmp"/*.debug "$top/build/linux/last-run/" 2>/dev/null
}
# The background jobs are timeout(1) wrappers: SIGTERM first, which timeout
# passes on to its socat, then SIGKILL. (SIGKILL alone left a listener socat
# holding the caller's stdout, so a stage whose main boot failed never ended.)
trap 'kill $(jobs -p) 2>/dev/null; sleep 0.2; kill -9 $(jobs -p) 2>/dev/null; keep; rm -rf "$tmp"' EXIT

main_tests=(boot_to_init kernel_version hypervisor_cpuid smp2 memory pci_slots acpi no_kernel_bugs clocksource rtc_time
	virtio_blk virtio_rnd virtio_console virtio_net_slirp poweroff)
topology_tests=(smp_topology nvme ahci_hd ahci_cd virtio_net_tap virtio_net_multiqueue reboot)
button_tests=(sigterm_power_button vga_text_console xhci_usb_devices xhci_tablet_events xhci_kbd_events)

pass() { echo "PASS linux-$1${2:+ ($2)}"; }
skip() { echo "SKIP linux-$1: $2"; }
skip_all() { # REASON: every test of every boot
	local t
	for t in "${main_tests[@]}" "${topology_tests[@]}" "${button_tests[@]}"; do
		skip "$t" "$1"
	done
	exit 0
}
fails=0
fail() { # TEST REASON: the reason, then the end of the boot's console and stderr
	echo "FAIL linux-$1: $2"
	tail -n 25 "$tmp/$cur.txt" 2>/dev/null | sed 's/^/  | /'
	tail -n 5 "$tmp/$cur.err" 2>/dev/null | sed 's/^/  err| /'
	fails=$((fails + 1))
}

reason=""
if [ ! -e /dev/kvm ]; then
	reason="/dev/kvm does not exist on this machine"
elif [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	reason="/dev/kvm is not a device $(id -un) can open"
elif [ ! -x "$bhyve" ]; then
	reason="bin/bhyve is not built (make all)"
elif [ ! -r "$bios" ]; then
	reason="$bios is missing (Debian package seabios)"
elif ! command -v socat >/dev/null; then
	reason="socat is not installed"
fi
[ -n "$reason" ] && skip_all "$reason"
img=$("$top/tests/linux/mkdisk.sh" 2>"$tmp/mkdisk.err") || skip_all "no boot disk: $(tail -n 1 "$tmp/mkdisk.err")"
kver=$("$top/tests/nested/kernel.sh")

# stamp: copies lines from stdin to stdout, each after the host's time of its
# arrival (s since the epoch), carriage returns removed.
stamp() {
	local l
	while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "${l%$'\r'}"; done
	[ -n "$l" ] && printf '%s %s\n' "$EPOCHREALTIME" "${l%$'\r'}"
}

# run_vm NAME SECONDS HOOK CMD...: runs CMD (a VMM) with its console stamped
# into $tmp/NAME.out (and unstamped into NAME.txt), calling HOOK every 0.2 s
# while it runs; kills it after SECONDS, or once its console has been silent
# for quiet_secs. Sets pid, rc, timed_out (1: SECONDS, 2: silence), t0 (start)
# and t_exit.
run_vm() {
	local name=$1 secs=$2 hook=$3 end
	shift 3
	cur=$name
	rm -f "$tmp/fifo"
	mkfifo "$tmp/fifo"
	stamp <"$tmp/fifo" >"$tmp/$name.out" &
	local spid=$!
	t0=$EPOCHREALTIME
	"$@" </dev/null >"$tmp/fifo" 2>"$tmp/$name.err" &
	pid=$!
	timed_out=0
	end=$((SECONDS + secs))
	local size=-1 now heard=$SECONDS
	progress_start "the $name boot (up to $secs s)"
	while kill -0 "$pid" 2>/dev/null; do
		"$hook"
		progress
		now=$(stat -c %s "$tmp/$name.out" 2>/dev/null || echo 0)
		[ "$now" != "$size" ] && size=$now heard=$SECONDS
		if [ "$SECONDS" -ge "$end" ] || [ $((SECONDS - heard)) -ge "$quiet_secs" ]; then
			timed_out=1
			[ "$SECONDS" -lt "$end" ] && timed_out=2
			kill -9 "$pid" 2>/dev/null
			break
		fi
		sleep 0.2
	done
	wait "$pid" 2>/dev/null
	rc=$?
	t_exit=$EPOCHREALTIME
	wait "$spid"
	# Whatever came before "linuxguest:" on a line (GRUB's escapes, a kernel
	# message) is not the guest's report.
	sed 's/^[0-9.]* //; s/.*\(linuxguest: \)/\1/' "$tmp/$name.out" >"$tmp/$name.txt"
}
# shellcheck disable=SC2317  # the hooks are called through run_vm
noop() { :; }

# The guest's value for KEY (the rest of the first "linuxguest: KEY ..." line).
get() { sed -n "s/^linuxguest: $1 //p" "$tmp/$cur.txt" | head -n 1; }
has() { grep -qxF -- "linuxguest: $1" "$tmp/$cur.txt"; }
# The host's time when the first line with "linuxguest: PREFIX" arrived.
when() { awk -v p="linuxguest: $1" 'index($0, p) { print $1; exit }' "$tmp/$cur.out"; }
secs_since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# killed_why [PREFIX [SUFFIX]]: why the boot was killed, between the two; nothing if it was not.
killed_why() {
	case $timed_out in
	1) echo "${1:-}killed at the timeout${2:-}" ;;
	2) echo "${1:-}killed after ${quiet_secs} s without a byte on its console${2:-}" ;;
	esac
}

# A line per boot with how long it took: to the init (host clock from exec,
# and the guest's uptime, i.e. the kernel's own part), to "done", to exit.
report_time() {
	local ti td init="init never reached" done=""
	ti=$(when init)
	td=$(when "done")
	[ -n "$ti" ] && init="init after $(secs_since "$t0" "$ti") s (guest uptime $(get init | sed 's/^uptime //') s)"
	[ -n "$td" ] && done=", done after $(secs_since "$t0" "$td") s"
	echo "linux-time $cur: $init$done, exit after $(secs_since "$t0" "$t_exit") s" \
		"(status $rc$(killed_why ", "))"
}

# The reference: the same disk under QEMU on the same /dev/kvm, same firmware,
# init reached or not within ref_secs. Run once; sets ref_ok and ref_reason.
ref_ok="" cur=none rc=0 t0=0 t_exit=0 timed_out=0
reference() {
	[ -n "$ref_ok" ] && return
	local save="$cur $rc $t0 $t_exit $timed_out"
	if ! command -v "$qemu" >/dev/null; then
		ref_ok=no ref_reason="and $qemu, the reference, is not installed (qemu-system-x86)"
		return
	fi
	# QEMU's default CPU model: -cpu host trips over MSRs on some hosts (kvm_pvm).
	run_vm ref "$ref_secs" noop "$qemu" -enable-kvm -machine pc -smp 2 -m 512 \
		-bios "$bios" -nodefaults -display none -no-reboot -serial stdio \
		-drive "file=$img,if=none,id=boot,format=raw,readonly=on" \
		-device virtio-blk-pci,drive=boot,bootindex=0
	report_time
	if grep -q '^linuxguest: init' "$tmp/ref.txt"; then
		ref_ok=yes
	else
		ref_ok=no ref_reason="QEMU on the same /dev/kvm does not reach init either"
		[ -d /sys/module/kvm_pvm ] && ref_reason="$ref_reason: the host's KVM emulates guest ring 0 (kvm_pvm)"
		if [ "$timed_out" != 0 ]; then
			ref_reason="$ref_reason ($(killed_why))"
		else
			ref_reason="$ref_reason (it ended with status $rc: $(grep -v 'warning:' "$tmp/ref.err" | tail -n 1))"
		fi
	fi
	read -r cur rc t0 t_exit timed_out <<<"$save"
}
# On kvm_pvm stock Linux is known not to boot: ask the reference before
# spending a full timeout on each of our boots.
if [ -d /sys/module/kvm_pvm ]; then
	reference
	[ "$ref_ok" = yes ] || skip_all "$ref_reason"
fi

# reached_init TESTS...: true when the boot reached the init; else each test
# is skipped (the reference fails too) or failed.
reached_init() {
	local t
	local panic
	grep -q '^linuxguest: init' "$tmp/$cur.txt" && return 0
	reference
	panic=$(grep -o 'Kernel panic - not syncing: .*' "$tmp/$cur.txt" | head -n 1)
	for t in "$@"; do
		if [ "$ref_ok" = yes ]; then
			fail "$t" "Linux did not reach its init under bin/bhyve (status $rc${panic:+; $panic}), but it does under QEMU on the same /dev/kvm"
		else
			skip "$t" "Linux did not reach its init under bin/bhyve${panic:+ ($panic)}; $ref_reason"
		fi
	done
	return 1
}

# boot NAME SETUP HOOK CMD...: SETUP, then run_vm NAME (HOOK, CMD...) and its
# linux-time line; again, up to $boots boots, while the boot stops before the
# init (status 99, the topology boot's tap set-up failing, is no stop).
boot() {
	local name=$1 setup=$2 hook=$3 k last err
	shift 3
	for ((k = 1; k <= boots; k++)); do
		"$setup"
		run_vm "$name" "$boot_secs" "$hook" "$@"
		report_time
		if grep -q '^linuxguest: init' "$tmp/$name.txt" || [ "$rc" -eq 99 ]; then
			return
		fi
		[ "$k" -eq "$boots" ] && return
		last=$(tr -d '\r' <"$tmp/$name.txt" | grep -av '^[[:space:]]*$' | tail -n 1 | cut -c1-100)
		err=$(tail -n 1 "$tmp/$name.err" 2>/dev/null)
		echo "linux-retry $name: boot $k stopped before the init (status $rc$(killed_why ", ")${err:+; $err}${last:+; last console line: $last}); booting again"
		cp "$tmp/$name.out" "$tmp/$name-try$k.out"
		cp "$tmp/$name.err" "$tmp/$name-try$k.err"
	done
}

# shellcheck disable=SC2317  # called through boot's set-up functions
# data_disk NAME CONFIG: a 4 MiB data disk (serial lgdata) whose first sector
# tells the init what to do, with 64 KiB of random bytes at 4 KiB for it to read.
data_disk() {
	truncate -s 4M "$tmp/$1.img"
	printf 'linuxguest-config %s\n' "$2" | dd of="$tmp/$1.img" conv=notrunc 2>/dev/null
	head -c 65536 /dev/urandom | dd of="$tmp/$1.img" bs=4096 seek=1 conv=notrunc 2>/dev/null
}
md5_at() { # FILE OFFSET LENGTH
	dd if="$1" bs=4096 skip=$(($2 / 4096)) count=$(($3 / 4096)) 2>/dev/null | md5sum | cut -d' ' -f1
}
# shellcheck disable=SC2054  # the commas are inside bhyve's arguments
vm=(-s 0,hostbridge -s 31,lpc -l com1,stdio -l "bootrom,$bios"
	-s "4,virtio-blk,$img,ro,ser=lgboot,bootindex=0")

# ---- main: -c 2, the devices, slirp, poweroff -f --------------------------
nonce=$RANDOM$RANDOM
listener=""
# shellcheck disable=SC2317  # called through boot
main_setup() {
	# A TCP listener on the host's loopback, for the guest to reach through slirp
	# (10.0.2.2 is the host's 127.0.0.1 with hostloopback=true); the first port
	# free in a few tries. A boot before this one may have left one.
	[ -n "$listener" ] && kill "$listener" 2>/dev/null
	tcpport=0 listener=""
	for _ in 1 2 3 4 5; do
		p=$((20000 + RANDOM % 20000))
		timeout $((boot_secs + 30)) socat -u "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr" \
			"OPEN:$tmp/tcp.got,creat" >/dev/null 2>&1 &
		sleep 0.3
		if kill -0 $! 2>/dev/null; then tcpport=$p listener=$!; break; fi
	done
	data_disk main "scenario=main nonce=$nonce net=dhcp tcpport=$tcpport"
	client_started=0
}
sock=$tmp/port.sock
reply="host says pong $nonce"
# socat runs this with the connection as its stdin and stdout.
# shellcheck disable=SC2016  # $l is the client's
printf 'read -r l\nprintf "%%s\\n" "$l" >"%s"\necho "%s"\n' "$tmp/port.got" "$reply" >"$tmp/client.sh"
# shellcheck disable=SC2317
main_hook() { # the port's client, as soon as the VMM listens
	if [ "$client_started" = 0 ] && [ -S "$sock" ]; then
		client_started=1
		timeout $((boot_secs + 30)) socat -t 5 UNIX-CONNECT:"$sock" SYSTEM:"sh $tmp/client.sh" \
			>/dev/null 2>>"$tmp/socat.err" &
	fi
}
boot main main_setup main_hook "$bhyve" -c 2 -m 512M -u "${vm[@]}" -l "debugcon,$tmp/main.debug" \
	-s "5,virtio-blk,$tmp/main.img,ser=lgdata" -s 6,virtio-net,slirp,hostloopback=true -s 7,virtio-rnd \
	-s "8,virtio-console,org.test.port=$sock" linuxguest
if reached_init "${main_tests[@]}"; then
	t_init=$(when init)
	if has "scenario main"; then
		pass boot_to_init "SeaBIOS, GRUB from virtio-blk, Linux: init $(secs_since "$t0" "$t_init") s after exec"
	else
		fail boot_to_init "the init did not find its data disk (no 'scenario main')"
	fi

	v=$(get uname)
	if [ "$v" = "$kver" ]; then pass kernel_version "$v"; else fail kernel_version "uname -r says '$v', expected $kver"; fi

	# CPUID.1:ECX bit 31 and KVM's leaves at 0x40000000 tell Linux it runs on
	# KVM: it then uses kvm-clock and KVM's paravirtual features and skips
	# checks meant for hardware, such as whether the PIT's IRQ 0 reaches the
	# IO-APIC in time (which fails under slow nesting and panics the kernel).
	hv=$(get hypervisor)
	if [ "$hv" = "flag 1 detected KVM" ]; then
		pass hypervisor_cpuid "Linux sees the hypervisor bit and KVM's CPUID leaves"
	else
		fail hypervisor_cpuid "'$hv': CPUID.1:ECX[31] (hypervisor) clear, so Linux does not look for KVM's leaves"
	fi

	# bhyve's -c N alone is N single-core sockets.
	if has "cpus online 0-1 cpuinfo 2" &&
	    has "cpu 0 package 0 core 0 threads 0 package_cpus 0" && has "cpu 1 package 1 core 0 threads 1 package_cpus 1"; then
		pass smp2 "2 CPUs online, one per package"
	else
		fail smp2 "expected CPUs 0-1 online, one per package (-c 2 is two sockets): '$(get "cpus online")'; $(grep '^linuxguest: cpu ' "$tmp/main.txt" | sed 's/^linuxguest: //' | tr '\n' ';')"
	fi

	kb=$(get memtotal_kb)
	if [ -n "$kb" ] && [ "$kb" -ge $((512 * 1024 * 80 / 100)) ] && [ "$kb" -le $((512 * 1024)) ]; then
		pass memory "MemTotal $kb kB of 512 MiB"
	else
		fail memory "MemTotal '$kb' kB, expected 80-100% of 512 MiB"
	fi

	# Every function at the slot the command line gave it, the virtio ones bound to their driver.
	missing=""
	# (virtio-blk's class is 0x0180, other mass storage, as bhyve has it.)
	for want in "0000:00:00.0 1275:1275 class 060000" "0000:00:04.0 1af4:1001 class 018000 driver virtio-pci" \
	    "0000:00:05.0 1af4:1001 class 018000 driver virtio-pci" "0000:00:06.0 1af4:1000 class 020000 driver virtio-pci" \
	    "0000:00:07.0 1af4:1005 " "0000:00:08.0 1af4:1003 class 078000 driver virtio-pci" "0000:00:1f.0 8086:7000 class 060100"; do
		grep -qF "linuxguest: pci $want" "$tmp/main.txt" || missing="$missing '$want'"
	done
	grep -q '^linuxguest: pci 0000:00:07.0 1af4:1005 .* driver virtio-pci$' "$tmp/main.txt" || missing="$missing 'virtio-rnd bound'"
	n=$(grep -c '^linuxguest: pci ' "$tmp/main.txt")
	if [ -z "$missing" ] && [ "$n" -eq 7 ]; then
		pass pci_slots "7 functions; $(get irqs)"
	else
		fail pci_slots "$n functions; missing$missing"
	fi

	tables=$(get "acpi tables")
	missing=""
	for t in APIC DSDT FACP; do
		case " $tables " in *" $t "*) ;; *) missing="$missing $t" ;; esac
	done
	if [ -z "$missing" ] && has "acpi errors 0"; then
		pass acpi "tables: $tables"
	else
		fail acpi "tables '$tables' (missing:${missing:- none}); $(get "acpi errors") ACPI errors in dmesg"
	fi

	if has "kernel bugs 0"; then pass no_kernel_bugs; else fail no_kernel_bugs "dmesg has $(get "kernel bugs") BUG/WARNING/Oops lines"; fi

	cs=$(get "clocksource current")
	cur_cs=${cs%% *}
	avail=${cs#* available }
	notes=$(sed -n 's/^linuxguest: clock-note \[ *[0-9.]*\] //p' "$tmp/main.txt" | sort -u | tr '\n' ';')
	case " $avail " in
	*" $cur_cs "*)
		case $cur_cs in
		kvm-clock | tsc | hpet | acpi_pm) pass clocksource "$cur_cs of: $avail${notes:+; $notes}" ;;
		*) fail clocksource "Linux uses '$cur_cs' (available: $avail)" ;;
		esac
		;;
	*) fail clocksource "no usable clocksource: '$cs'" ;;
	esac

	# The RTC (-u: UTC) and the system clock set from it, against the host's
	# clock when each line arrived; twice, the second after the other checks.
	bad=""
	# (No process substitution: the nested L1's /dev has no /dev/fd.)
	sed -n 's/^\([0-9.]*\) .*linuxguest: time rtc \([0-9]*\) system \([0-9]*\)$/\1 \2 \3/p' "$tmp/main.out" >"$tmp/times"
	while read -r at rtc sys; do
		for v in "rtc:$rtc" "system:$sys"; do
			d=$(awk -v a="$at" -v b="${v#*:}" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%d", d }')
			[ -n "${v#*:}" ] && [ "$d" -le 3 ] || bad="$bad ${v%%:*} ${v#*:} is ${d}s from the host's $at;"
		done
	done <"$tmp/times"
	n=$(grep -c 'linuxguest: time rtc ' "$tmp/main.out")
	if [ "$n" -eq 2 ] && [ -z "$bad" ]; then
		pass rtc_time "RTC and system clock within 3 s of the host's, twice; $(get "rtc name")"
	else
		fail rtc_time "$n time lines;$bad"
	fi

	want_read=$(md5_at "$tmp/main.img" 4096 65536)
	ondisk=$(md5_at "$tmp/main.img" $((1 << 20)) 65536)
	wrote=$(get "blk wrote md5")
	line=$(dd if="$tmp/main.img" bs=512 skip=1 count=1 2>/dev/null | head -n 1 | tr -d '\0')
	if has "blk read md5 $want_read" && [ "$wrote" = "$ondisk status 0 0" ] && [ "$line" = "linuxguest wrote $nonce" ] &&
	    grep -q '^linuxguest: disk vd[a-z] serial lgboot sectors [0-9]* ro 1$' "$tmp/main.txt" &&
	    grep -q '^linuxguest: disk vd[a-z] serial lgdata sectors 8192 ro 0$' "$tmp/main.txt"; then
		pass virtio_blk "read the host's 64 KiB, wrote 64 KiB and a line the image holds; boot disk ro"
	else
		fail virtio_blk "guest read md5 '$(get "blk read md5")' (host wrote $want_read), wrote '$wrote' (image has $ondisk), sector 1 '$line'"
	fi

	rng=$(get "rng bytes")
	distinct=${rng##* }
	if [ "$(get "rng current" | cut -d' ' -f1)" = virtio_rng.0 ]; then
		if [ "${rng%% *}" = 256 ] && [ "${distinct:-0}" -ge 64 ]; then
			pass virtio_rnd "256 bytes from /dev/hwrng, $distinct distinct values"
		else
			fail virtio_rnd "/dev/hwrng gave '$rng'"
		fi
	else
		fail virtio_rnd "rng_current is '$(get "rng current")', expected virtio_rng.0"
	fi

	got=$(cat "$tmp/port.got" 2>/dev/null)
	if grep -q '^linuxguest: vport vport[0-9]*p[0-9]* name org.test.port$' "$tmp/main.txt" &&
	    [ "$got" = "hello from linux $nonce" ] && has "vport got $reply" && [ ! -e "$sock" ]; then
		pass virtio_console "a line each way through org.test.port"
	else
		fail virtio_console "the host read '$got', the guest '$(get "vport got")'; socket left: $(ls "$sock" 2>/dev/null)"
	fi

	dhcp=$(get "dhcp eth0")
	tcp=$(cat "$tmp/tcp.got" 2>/dev/null)
	if [ "${dhcp%% *}" = 10.0.2.15 ] && has "ping 10.0.2.2 received 3" && [ "$tcp" = "tcp from linux $nonce" ]; then
		pass virtio_net_slirp "DHCP 10.0.2.15, 3 pings answered by 10.0.2.2, TCP to the host's loopback"
	else
		fail virtio_net_slirp "dhcp '$dhcp', '$(get ping)', TCP port $tcpport got '$tcp'"
	fi

	if [ "$rc" -eq 1 ] && [ "$timed_out" = 0 ] && grep -q '^linuxguest: done' "$tmp/main.txt"; then
		pass poweroff "poweroff -f: exit status 1"
	else
		fail poweroff "exit status $rc$(killed_why " (" ")"), expected 1 after 'done'"
	fi
fi

# ---- topology: sockets=1,cores=2, a tap, reboot -f ------------------------
# shellcheck disable=SC2054
net=(-s 6,virtio-net,tap0) wrap=() tapwhy=""
if [ "$(id -u)" -ne 0 ]; then
	tapwhy="needs root for a tap and a network namespace"
elif [ ! -c /dev/net/tun ]; then
	tapwhy="/dev/net/tun does not exist"
elif ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
	tapwhy="needs unshare (util-linux) and ip (iproute2)"
fi
if [ -n "$tapwhy" ]; then
	net=() mode=none
else
	mode=static
	# The VMM runs in a network namespace of its own, where tap0 is 10.0.2.2/24;
	# the tap goes away with the namespace when the VMM ends.
	# shellcheck disable=SC2016
	wrap=(unshare -n sh -c 'ip tuntap add tap0 mode tap multi_queue && ip addr add 10.0.2.2/24 dev tap0 &&
		ip link set tap0 up || exit 99
		exec "$@"' sh)
fi
# shellcheck disable=SC2317  # called through boot
topology_setup() {
	data_disk topology "scenario=topology nonce=$nonce net=$mode"
	# Disks for Linux's nvme, ahci, sd and sr drivers: 64 KiB of the host's at
	# 4 KiB, and 1 MiB of it at 2 MiB for the guest to discard.
	for d in nvme sata; do
		rm -f "$tmp/$d.img"
		truncate -s 8M "$tmp/$d.img"
		head -c 65536 /dev/urandom | dd of="$tmp/$d.img" bs=4096 seek=1 conv=notrunc 2>/dev/null
		head -c 1048576 /dev/urandom | dd of="$tmp/$d.img" bs=1M seek=2 conv=notrunc 2>/dev/null
	done
	head -c 1048576 /dev/urandom >"$tmp/cd.iso"
}
boot topology topology_setup noop "${wrap[@]}" "$bhyve" -c 2,sockets=1,cores=2 -m 256M -u "${vm[@]}" \
	-s "5,virtio-blk,$tmp/topology.img,ser=lgdata" "${net[@]}" -s "9,nvme,$tmp/nvme.img,ser=lgnvme" \
	-s "10,ahci,hd:$tmp/sata.img,model=LGSATA,cd:$tmp/cd.iso" linuxguest-topo
if [ "$rc" -eq 99 ]; then
	for t in "${topology_tests[@]}"; do fail "$t" "could not set up tap0 in a network namespace"; done
elif reached_init "${topology_tests[@]}"; then
	if has "cpus online 0-1 cpuinfo 2" && has "cpu 0 package 0 core 0 threads 0 package_cpus 0-1" &&
	    has "cpu 1 package 0 core 1 threads 1 package_cpus 0-1"; then
		pass smp_topology "one package, cores 0 and 1; $(get cpuinfo)"
	else
		fail smp_topology "expected cores 0 and 1 of package 0: $(grep -e '^linuxguest: cpu' "$tmp/topology.txt" | tr '\n' ';')"
	fi
	# stor_check NAME DEV IMAGE WRITABLE: what Linux read, wrote and discarded
	stor_check() {
		local t=$1 d=$2 img=$3 rw=$4 why=""
		has "stor $d read md5 $(md5_at "$img" 4096 65536)" || why="read md5 '$(get "stor $d read md5")'"
		if [ "$rw" = 1 ]; then
			[ "$(get "stor $d wrote md5")" = "$(md5_at "$img" $((1 << 20)) 65536) status 0" ] ||
				why="${why:+$why; }wrote '$(get "stor $d wrote md5")', the image has $(md5_at "$img" $((1 << 20)) 65536)"
			if [ "$(get "stor $d discard status")" != 0 ]; then
				why="${why:+$why; }discard: '$(get "stor $d discard status")'"
			elif [ -n "$(dd if="$img" bs=1M skip=2 count=1 2>/dev/null | tr -d '\0' | head -c 1)" ]; then
				why="${why:+$why; }the discarded 1 MiB does not read as zeros on the host"
			fi
		fi
		echo "$why"
	}
	why=$(stor_check nvme nvme0n1 "$tmp/nvme.img" 1)
	has "stor nvme0 serial lgnvme" || why="${why:+$why; }no nvme0 with serial lgnvme"
	grep -q '^linuxguest: stor nvme0n1 model .* sectors 16384 ro 0$' "$tmp/topology.txt" || why="${why:+$why; }nvme0n1 is not 16384 sectors rw"
	if [ -z "$why" ]; then pass nvme "Linux's nvme driver: read, wrote, discarded (zeros on the host), serial lgnvme"
	else fail nvme "$why"; fi
	why=$(stor_check ahci_hd sda "$tmp/sata.img" 1)
	grep -q '^linuxguest: stor sda model LGSATA sectors 16384 ro 0$' "$tmp/topology.txt" || why="${why:+$why; }sda is not LGSATA, 16384 sectors rw"
	if [ -z "$why" ]; then pass ahci_hd "Linux's ahci and sd drivers: read, wrote, trimmed (zeros on the host), model LGSATA"
	else fail ahci_hd "$why"; fi
	why=$(stor_check ahci_cd sr0 "$tmp/cd.iso" 0)
	grep -q '^linuxguest: stor sr0 model .* sectors 2048 ro 1$' "$tmp/topology.txt" || why="${why:+$why; }sr0 is not 2048 sectors ro: $(grep '^linuxguest: stor sr0 model' "$tmp/topology.txt")"
	if [ -z "$why" ]; then pass ahci_cd "Linux's ahci and sr drivers: the CD's capacity, 64 KiB read, read-only"
	else fail ahci_cd "$why"; fi
	if [ -n "$tapwhy" ]; then
		skip virtio_net_tap "$tapwhy"
	elif has "ping 10.0.2.2 received 3"; then
		pass virtio_net_tap "3 pings answered by the tap's side, 10.0.2.2"
	else
		fail virtio_net_tap "'$(get ping)', '$(get "net eth0")'"
	fi
	# -c 2 on a multi_queue tap: two queue pairs, each carrying a CPU's ping.
	if [ -n "$tapwhy" ]; then
		skip virtio_net_multiqueue "$tapwhy"
	elif has "net queues rx-0 rx-1 tx-0 tx-1" && has "net ping cpu 0 received 2" &&
	    has "net ping cpu 1 received 2" && [ "$(get "net irq input.1")" -gt 0 ] 2>/dev/null &&
	    [ "$(get "net irq output.1")" -gt 0 ] 2>/dev/null; then
		pass virtio_net_multiqueue "2 queue pairs; a ping from each CPU; interrupts on input.1 $(get "net irq input.1"), output.1 $(get "net irq output.1")"
	else
		fail virtio_net_multiqueue "$(grep '^linuxguest: net ' "$tmp/topology.txt" | sed 's/^linuxguest: //' | tr '\n' ';')"
	fi
	if [ "$rc" -eq 0 ] && [ "$timed_out" = 0 ] && grep -q '^linuxguest: done' "$tmp/topology.txt"; then
		pass reboot "reboot -f: exit status 0"
	else
		fail reboot "exit status $rc$(killed_why " (" ")"), expected 0 after 'done'"
	fi
fi

# ---- button: SIGTERM, the ACPI power button, poweroff ---------------------
# The VGA and USB: an fbuf with vga=on and an xHCI with a tablet and a keyboard,
# where the VNC client and OCR are here.
client=$top/build/tests/vncclient
# shellcheck source=tests/grubimg.sh
. "$top/tests/grubimg.sh"
vga=() vgawhy=$(ocr_missing "$client")
[ -z "$vgawhy" ] && vga=(-s "29,fbuf,unix=$tmp/vnc.sock,vga=on" -s "30,xhci,tablet,kbd")
# shellcheck disable=SC2317  # called through boot
button_setup() {
	data_disk button "scenario=button nonce=$nonce"
	pressed=0 shot="" moved=""
	rm -f "$tmp/vga.ppm" "$tmp/vga.ocr"
}
# shellcheck disable=SC2317
button_hook() { # a picture once the init wrote tty0; press once the guest waits for the button
	if [ -z "$shot" ] && grep -q 'linuxguest: tty0 ' "$tmp/button.out"; then
		shot=none
		if [ ${#vga[@]} -gt 0 ] && "$client" -s "$tmp/vga.ppm" -t 20 "$tmp/vnc.sock" >"$tmp/vga.client" 2>&1; then
			shot=$(sed -n 's/.*saved \([0-9]*x[0-9]*\).*/\1/p' "$tmp/vga.client" | head -n 1)
			tesseract "$tmp/vga.ppm" - >"$tmp/vga.ocr" 2>/dev/null
		fi
	fi
	# The pointer to (100, 100), then (110, 95) with the left button down; "a".
	if [ -z "$moved" ] && grep -q 'linuxguest: usb input tablet event[0-9]* kbd event[0-9]* waiting' "$tmp/button.out"; then
		moved=yes
		"$client" -m -k 0x61 -t 20 "$tmp/vnc.sock" >"$tmp/usb.client" 2>&1 || moved="failed: $(tail -n 1 "$tmp/usb.client")"
	fi
	if [ "$pressed" = 0 ] && grep -q 'linuxguest: power button event[0-9]* waiting$' "$tmp/button.out"; then
		pressed=1
		kill -TERM "$pid"
	fi
}
boot button button_setup button_hook "$bhyve" -c 1 -m 256M -u "${vm[@]}" "${vga[@]}" \
	-s "5,virtio-blk,$tmp/button.img,ser=lgdata" linuxguest-button
# check_vga: the init's line on tty0 (vgacon), read by OCR off the hook's picture.
check_vga() {
	if ! has "tty0 written on (S) VGA+"; then
		fail vga_text_console "the init did not write tty0 on Linux's VGA console: '$(get tty0)'"
	elif [ "$shot" = none ] || [ -z "$shot" ]; then
		fail vga_text_console "no picture from the VNC server: $(tail -n 1 "$tmp/vga.client" 2>/dev/null)"
	elif grep -q 'Linux text console on VGA' "$tmp/vga.ocr"; then
		pass vga_text_console "vgacon's line on tty0, read by OCR on a $shot VNC picture"
	else
		fail vga_text_console "OCR did not read 'Linux text console on VGA' on the $shot VNC picture: $(tr -s '\n' ' ' <"$tmp/vga.ocr" | cut -c1-200)"
	fi
}
# check_xhci: Linux's own drivers found both HID devices on the root ports, and
# the VNC client's pointer and key became their input events (EV_ABS ABS_X and
# ABS_Y from the tablet; EV_KEY KEY_A down from the keyboard).
check_xhci() {
	local devs tev kev t
	if ! has "usb xhci_hcd bound to 0000:00:1e.0"; then
		for t in xhci_usb_devices xhci_tablet_events xhci_kbd_events; do
			fail "$t" "Linux's xhci_hcd did not bind to 00:1e.0: '$(get usb)'"
		done
		return
	fi
	devs=$(grep '^linuxguest: usb device' "$tmp/button.txt")
	if grep -q 'driver usbhid product bhyve HID Tablet' <<<"$devs" &&
	    grep -q 'driver usbhid product bhyve HID Keyboard' <<<"$devs"; then
		pass xhci_usb_devices "xhci_hcd on 00:1e.0; $(grep -c 'driver usbhid' <<<"$devs") HID devices, usbhid bound: $(sed -n 's/^linuxguest: usb device \([^ ]*\) \([^ ]*\) speed \([0-9]*\).*product bhyve \(.*\)/\1 \2 \3 Mb\/s \4/p' <<<"$devs" | tr '\n' ';')"
	else
		fail xhci_usb_devices "expected bhyve's HID Tablet and HID Keyboard with usbhid bound: $(tr '\n' ';' <<<"$devs") $(get "usb input")"
	fi
	if [ "$moved" != yes ]; then
		fail xhci_tablet_events "the VNC client did not run: ${moved:-the guest never waited ($(get "usb input"))}"
		fail xhci_kbd_events "the VNC client did not run: ${moved:-the guest never waited}"
		return
	fi
	tev=$(get "usb tablet events") kev=$(get "usb kbd events")
	if grep -Eq '(^| )3:0:[1-9][0-9]*( |$)' <<<"$tev" && grep -Eq '(^| )3:1:[1-9][0-9]*( |$)' <<<"$tev"; then
		pass xhci_tablet_events "the VNC pointer became EV_ABS X and Y on the tablet:$tev"
	else
		fail xhci_tablet_events "expected EV_ABS ABS_X and ABS_Y (3:0:N 3:1:N), got '$tev'"
	fi
	if grep -Eq '(^| )1:30:1( |$)' <<<"$kev"; then
		pass xhci_kbd_events "the VNC key 'a' became KEY_A down on the USB keyboard:$kev"
	else
		fail xhci_kbd_events "expected EV_KEY KEY_A down (1:30:1), got '$kev'"
	fi
}
if reached_init "${button_tests[@]}"; then
	if [ -n "$vgawhy" ]; then
		for t in vga_text_console xhci_usb_devices xhci_tablet_events xhci_kbd_events; do skip "$t" "$vgawhy"; done
	else
		check_vga
		check_xhci
	fi
	if [ "$pressed" = 1 ] && [ "$rc" -eq 1 ] && has "power button event type-code 1 116" &&
	    grep -q '^linuxguest: done' "$tmp/button.txt"; then
		pass sigterm_power_button "SIGTERM, KEY_POWER on $(get "power button" | cut -d' ' -f1), poweroff: exit status 1"
	elif [ "$pressed" = 0 ]; then
		fail sigterm_power_button "the guest never waited for the button: '$(get "power button")'"
	else
		fail sigterm_power_button "exit status $rc$(killed_why " (" ")"), event '$(get "power button event")'"
	fi
fi
exit $((fails > 0))
