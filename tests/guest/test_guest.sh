#!/usr/bin/env bash
# Boots the test guest under our bhyve and checks what it reports and how the
# process ends. Prints PASS/FAIL/SKIP lines.
#   test_guest.sh kvm   bin/bhyve on /dev/kvm (every test skipped, with the
#                       reason, where there is no usable /dev/kvm)
#   test_guest.sh emu   bin/bhyve-emu: the same VMM over a software CPU with one
#                       vCPU and no interrupt controllers; the tests that need
#                       those are skipped with the reason
set -u
backend=${1:-kvm}
top=$(cd "$(dirname "$0")/../.." && pwd)
roms=$top/tests/guest/build
tmp=$(mktemp -d)
# The VM registry (/dev/vmm, /run/bhyve) of this run only.
export BHYVE_VMM_DIR=$tmp/vmm BHYVE_RUN_DIR=$tmp/run
# Only this run's guests are stopped at the end (others may run at the same time).
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

tests=(suite_smp2 suite_smp1_utc pci_slots virtio_rnd virtio_blk virtio_blk_threads virtio_blk_ro
	virtio_blk_flood virtio_blk_flood_threads virtio_net_flood_slirp virtio_net_flood_tap virtio_console_flood nvme_flood ahci_flood ahci_flood_threads
	nvme nvme_ram nvme_dsm_disable ahci_hd ahci_hd_nodelete virtio_net_tap virtio_net_tap_named virtio_net_dhcp virtio_net_dhcp_noserver virtio_net_slirp
	virtio_console virtio_console_bad_path reboot_cf9 reboot_kbd halt triple badport
	strictio sigterm_before_acpi sigterm_acpi_button proctitle sandbox sandbox_user sandbox_user_unknown vcpu_pinning wired_memory hugetlb hugetlb_pool_short guest_not_in_core pty_console tcp_console
	stdio_input vars_persist mptable acpi_in_memory disk_lock_one_writer disk_lock_readers_share flush_survives_kill9)

reason=""
case $backend in
kvm)
	bhyve=$top/bin/bhyve
	if [ ! -e /dev/kvm ]; then
		reason="/dev/kvm does not exist on this machine"
	elif [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		reason="/dev/kvm is not a device $(id -un) can open"
	fi
	;;
emu)
	bhyve=$top/bin/bhyve-emu
	[ -x "$bhyve" ] || reason="bin/bhyve-emu was not built (needs libunicorn-dev)"
	;;
*)
	echo "usage: $0 kvm|emu" >&2
	exit 2
	;;
esac
if [ -n "$reason" ]; then
	for t in "${tests[@]}"; do echo "SKIP $backend-$t: $reason"; done
	exit 0
fi
skip() { echo "SKIP $backend-$1: $2"; }
fails=0
pass() { echo "PASS $backend-$1"; }
fail() {
	echo "FAIL $backend-$1: $2"
	sed 's/^/  | /' "$tmp/out" "$tmp/err" 2>/dev/null | head -40
	fails=$((fails + 1))
}
has() { grep -qxF -- "$1" "$tmp/txt"; }

# boot SECONDS ROM [bhyve args...]: runs the guest, output in $tmp/txt, status in $rc
boot() {
	local secs=$1 rom=$2
	shift 2
	timeout "$secs" "$bhyve" -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-l "bootrom,$roms/$rom" "$@" "$backend"-vm </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
}

# boot_clocked SECONDS ROM [ARGS...]: boot, noting in $tmp/rtc_host the host's
# time (epoch seconds) when the guest's "rtc:" line arrives
boot_clocked() {
	local secs=$1 rom=$2 line
	shift 2
	rm -f "$tmp/rtc_host"
	timeout "$secs" "$bhyve" -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-l "bootrom,$roms/$rom" "$@" "$backend"-vm </dev/null 2>"$tmp/err" |
	while IFS= read -r line || [ -n "$line" ]; do
		printf '%s\n' "$line"
		case $line in rtc:*) printf '%(%s)T\n' -1 >"$tmp/rtc_host" ;; esac
	done >"$tmp/out"
	rc=${PIPESTATUS[0]}
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
}

# check_suite NAME NCPUS CLOCK: the full report; CLOCK is "utc" or "local"
check_suite() {
	local name=$1 ncpus=$2 clock=$3 l hz rtc now skew
	if [ "$rc" -ne 1 ]; then fail "$name" "exit status $rc, expected 1 (power-off)"; return; fi
	if grep -q '^testguest: FAIL' "$tmp/txt"; then fail "$name" "the guest reported a failure"; return; fi
	for l in 'testguest: start' 'testguest: platform bhyve' \
	    'pci: 00:00.0 1275:1275 class 060000' 'pci: 00:1f.0 8086:7000 class 060100' \
	    'pci: count 2' "cpu: $ncpus online" "$irq_line" \
	    'unusedport: in8 0x9999 = 0xff' 'rtcflags: regc 0x50' 'testguest: done'; do
		has "$l" || { fail "$name" "missing '$l'"; return; }
	done
	# ('rtcflags: regc 0x50': register C after a second boundary holds the update-ended
	# and periodic flags, with no interrupt enabled.)
	# The firmware interface as the guest reads it: QEMU's fw_cfg with the tables.
	# etc/e820: RAM below 4 GiB and KVM's reserved pages, 20 bytes each.
	for l in 'fwcfg: signature QEMU' 'fwcfg: file etc/acpi/rsdp 36' 'fwcfg: file etc/e820 40' \
	    'fwcfg: file etc/smbios/smbios-anchor 31' 'fwcfg: file etc/sercon-port 2'; do
		has "$l" || { fail "$name" "missing '$l'"; return; }
	done
	if ! grep -qE '^fwcfg: file etc/acpi/tables [0-9]+$' "$tmp/txt" ||
	    ! grep -qE '^fwcfg: file etc/table-loader [0-9]+$' "$tmp/txt"; then
		fail "$name" "no ACPI tables or table-loader in fw_cfg"
		return
	fi
	# The HPET: its capabilities, and a counter that runs at the rate they promise.
	if ! has 'hpet: vendor 8086 timers 3' || ! has 'hpet: period hz 16777216'; then
		fail "$name" "no HPET with bhyve's capabilities"
		return
	fi
	hz=$(sed -n 's/^hpet: counted hz //p' "$tmp/txt")
	if [ -z "$hz" ] || [ "$hz" -lt 16609443 ] || [ "$hz" -gt 16944988 ]; then
		fail "$name" "HPET counted '$hz' Hz, not within 1% of 16777216"; return
	fi
	hz=$(sed -n 's/^pmtimer: hz //p' "$tmp/txt")
	if [ -z "$hz" ] || [ "$hz" -lt 3543750 ] || [ "$hz" -gt 3615340 ]; then
		fail "$name" "PM timer ran at '$hz' Hz, not within 1% of 3579545"; return
	fi
	# The RTC as the guest read it against the host's clock when that line
	# arrived (boot_clocked): whole seconds, so up to 1 s behind, plus the
	# time the line takes out; 3 s of slack, none ahead beyond rounding.
	rtc=$(sed -n 's/^rtc: //p' "$tmp/txt")
	now=$(cat "$tmp/rtc_host" 2>/dev/null)
	if [ "$clock" = utc ]; then rtc_s=$(date -u -d "$rtc" +%s 2>/dev/null)
	else rtc_s=$(date -d "$rtc" +%s 2>/dev/null); fi
	skew=$((${now:-0} - ${rtc_s:-0}))
	if [ -z "$now" ] || [ -z "$rtc_s" ] || [ "$skew" -lt -1 ] || [ "$skew" -gt 3 ]; then
		fail "$name" "RTC '$rtc' is ${skew}s away from the host's $clock time"; return
	fi
	pass "$name"
}

# What the two suites show of interrupts and SMP, and no more: with KVM's
# irqchip the guest routes IOAPIC pin 4 (the UART) to vector 0x44 and sees it
# pending in the LAPIC's IRR with IF=0, never taken (no handler, no EOI); with
# -c 2 one AP answers INIT/SIPI and counts itself in ("cpu: 2 online").
if [ "$backend" = emu ]; then
	# The guest finds no local APIC and says so instead of checking the IRR.
	irq_line='irq: no local apic'
	skip suite_smp2 "the software CPU runs one vCPU and has no INIT/SIPI"
else
	irq_line='irq: ioapic vector 0x44 pending in lapic irr'
	boot_clocked 120 guest.rom -c 2 -m 128M
	check_suite suite_smp2 2 local
fi

boot_clocked 120 guest.rom -c 1 -m 64M -u
check_suite suite_smp1_utc 1 utc

# Devices at the slots the command line names, with their IDs.
timeout 120 "$bhyve" -s 0,amd_hostbridge -s 5,lpc -l com1,stdio -l "bootrom,$roms/guest.rom" \
	"$backend"-vm </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
tr -d '\r' <"$tmp/out" >"$tmp/txt"
if [ "$rc" -eq 1 ] && has 'pci: 00:00.0 1022:7432 class 060000' && has 'pci: 00:05.0 8086:7000 class 060100' &&
    has 'pci: count 2'; then pass pci_slots; else fail pci_slots "status $rc"; fi

# virtio-rnd: the guest's own driver (legacy interface, polling) gets entropy.
boot 120 guest.rom -m 64M -s 3,virtio-rnd
if [ "$rc" -eq 1 ] && has 'pci: 00:03.0 1af4:1005 class 108000' && has 'virtio-rnd: got 64 bytes' &&
    has 'virtio-rnd: varied' && ! grep -q '^testguest: FAIL virtio' "$tmp/txt"; then
	pass virtio_rnd
else
	fail virtio_rnd "status $rc"
fi

# virtio-blk: the guest's driver writes sector 1 and reads it back, flushes,
# reads the serial and sector 0, then writes sectors 64-95 with 32 requests in
# flight together and reads them back the same way; the file holds what it
# wrote, and the sum of those sectors' dwords is the one the guest saw. Once
# with the default block engine (io_uring where the kernel allows it), once
# with the worker threads.
for t in virtio_blk virtio_blk_threads; do
	opts=
	[ "$t" = virtio_blk_threads ] && opts=,engine=threads
	truncate -s 0 "$tmp/disk.img"
	truncate -s 1M "$tmp/disk.img"
	printf 'TESTGUESTDISK000' | dd of="$tmp/disk.img" conv=notrunc 2>/dev/null
	boot 120 guest.rom -m 64M -s 4,virtio-blk,"$tmp/disk.img",ser=TESTSERIAL$opts
	pattern=$(awk 'BEGIN { for (i = 0; i < 8; i++) printf "%02x", (i * 7 + 90) % 256 }')
	ondisk=$(od -An -tx1 -j512 -N8 "$tmp/disk.img" | tr -d ' \n')
	sum=$(od -An -tu4 -v -j $((64 * 512)) -N $((32 * 512)) "$tmp/disk.img" |
		awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%08x", s % 4294967296 }')
	if [ "$rc" -eq 1 ] && has 'virtio-blk: capacity 2048 sectors' && has 'virtio-blk: write/read sector 1 ok' &&
	    has 'virtio-blk: flush ok' && has 'virtio-blk: id TESTSERIAL' &&
	    has 'virtio-blk: sector0 5445535447554553544449534b303030' && [ "$ondisk" = "$pattern" ] &&
	    has "virtio-blk: 32 in flight, sectors 64-95 checksum 0x$sum" && [ "$sum" != 00000000 ] &&
	    ! grep -q '^testguest: FAIL virtio' "$tmp/txt"; then
		pass $t
	else
		fail $t "status $rc, sector 1 on disk starts '$ondisk', sectors 64-95 sum to $sum"
	fi
done
# ro: the device says so, refuses the write, and the file stays as it was.
truncate -s 0 "$tmp/disk.img"
truncate -s 1M "$tmp/disk.img"
boot 120 guest.rom -m 64M -s 4,virtio-blk,"$tmp/disk.img",ro
ondisk=$(od -An -tx1 -j512 -N8 "$tmp/disk.img" | tr -d ' \n')
if [ "$rc" -eq 1 ] && has 'virtio-blk: read-only write refused' && [ "$ondisk" = 0000000000000000 ]; then
	pass virtio_blk_ro
else
	fail virtio_blk_ro "status $rc, sector 1 on disk starts '$ondisk'"
fi

# A hostile driver (flood.rom): the same chain in every avail slot, the whole
# ring published again and again without reaping, resetting the device each
# time it says NEEDS_RESET, for 4 s. The device must say so (the chain made
# available again while the device holds it: it does on the second slot of the
# first round, whatever the host's speed; or, when it looks at the ring after a
# burst of republishing, an avail index more than a ring ahead, as on KVM), log it, and
# bhyve's peak RSS stay within the
# guest's 64 MiB and 32 MiB more (it grew by about 55 MiB a second before
# requests in flight were bounded: 224 MiB after those 4 s under bhyve-emu).
# Then the same on virtio-rnd for 2 s with a 1 MiB buffer as the chain: each
# chain comes back with 64 KiB, no more.
for t in virtio_blk_flood virtio_blk_flood_threads; do
	opts=
	[ "$t" = virtio_blk_flood_threads ] && opts=,engine=threads
	truncate -s 0 "$tmp/disk.img"
	truncate -s 1M "$tmp/disk.img"
	/usr/bin/time -f %M -o "$tmp/rss" timeout 60 "$bhyve" -s 0,hostbridge -s 31,lpc \
		-l com1,stdio -l "bootrom,$roms/flood.rom" -m 64M \
		-s 4,virtio-blk,"$tmp/disk.img"$opts -s 5,virtio-rnd "$backend"-vm </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
	resets=$(sed -n 's/^flood: [0-9]* rounds, \([0-9]*\) needs-reset.*/\1/p' "$tmp/txt")
	rss=$(tail -1 "$tmp/rss")
	if [ "$rc" -eq 1 ] && [ "${resets:-0}" -ge 1 ] && [ "${rss:-999999}" -le $(((64 + 32) * 1024)) ] &&
	    grep -qE '(chain head made available again while in flight|more chains in flight than the queue size|avail index ran ahead of the ring); the device needs a reset' "$tmp/err" &&
	    grep -qE '^flood: rnd [0-9]+ rounds, [0-9]+ needs-reset, used len 65536$' "$tmp/txt"; then
		pass $t
	else
		fail $t "status $rc, '$(grep '^flood:' "$tmp/txt" | tr '\n' ' ')', peak RSS ${rss:-?} KiB"
	fi
done

# Hostile drivers on the other devices (flood2.rom, flood2.inc), 3 s of PM timer
# each: virtio-net and virtio-console get the whole transmit ring published
# again and again without reaping and never a receive buffer, while the host
# side floods them (frames sent into the tap from the namespace; a console
# client that writes as fast as it can and never reads, or no client at all);
# NVMe gets its submission doorbell rung a queue ahead over and over (and past
# the queue's end) with the completion queue never consumed, then must still
# answer an admin command (after asking for I/O queues 2 to 64: it gets
# the 16 of maxq); AHCI below. Each must end with the guest's own line and exit
# code, and bhyve's peak RSS stay under 48 MiB (measured 16-33 MiB under
# bhyve-emu with the 64 MiB guest; the guest touches little of its RAM).
flood2_rss=$((48 * 1024))
# flood2_boot NAME [WRAPPER...] -- DEVICE: boots flood2.rom with the device at slot 5
flood2_boot() {
	local pre=()
	while [ "$1" != -- ]; do pre+=("$1"); shift; done
	shift
	"${pre[@]}" /usr/bin/time -f %M -o "$tmp/rss" timeout 60 "$bhyve" -s 0,hostbridge -s 31,lpc \
		-l com1,stdio -l "bootrom,$roms/flood2.rom" -m 64M -s "5,$1" "$backend"-vm \
		</dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
	rss=$(tail -1 "$tmp/rss" 2>/dev/null)
}
flood2_ok() { # the line's pattern
	[ "$rc" -eq 1 ] && grep -qE "^flood2: $1\$" "$tmp/txt" && [ "${rss:-999999}" -le "$flood2_rss" ] &&
	    ! grep -q '^testguest: FAIL' "$tmp/txt"
}
flood2_fail() { fail "$1" "status $rc, '$(grep '^flood2:' "$tmp/txt" | tr '\n' ' ')', peak RSS ${rss:-?} KiB${2:+, $2}"; }

flood2_boot -- virtio-net,slirp
if flood2_ok 'virtio-net [0-9]+ rounds, [0-9]+ needs-reset, rx used 0'; then pass virtio_net_flood_slirp
else flood2_fail virtio_net_flood_slirp; fi

if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ] || ! command -v python3 >/dev/null; then
	skip virtio_net_flood_tap "needs root, /dev/net/tun and python3"
else
	# shellcheck disable=SC2016
	flood2_boot unshare -n sh -c '
		ip tuntap add tap0 mode tap && ip link set tap0 up || exit 99
		python3 "$1" tap tap0 10 "$2.started" >"$2" 2>&1 &
		for _ in $(seq 300); do [ -e "$2.started" ] && break; sleep 0.1; done
		shift 2
		"$@"; rc=$?
		wait
		ip link del tap0
		exit $rc' sh "$top/tests/guest/flood_send.py" "$tmp/sent" -- virtio-net,tap0
	sent=$(tail -1 "$tmp/sent" 2>/dev/null)
	if flood2_ok 'virtio-net [0-9]+ rounds, [0-9]+ needs-reset, rx used 0' && [ "${sent:-0}" -ge 1000 ] 2>/dev/null; then
		pass virtio_net_flood_tap
	else flood2_fail virtio_net_flood_tap "frames sent into the tap '${sent:-}'"; fi
fi

# No client on the port, then a client that floods it and never reads.
rm -f "$tmp/con.sock"
flood2_boot -- virtio-console,port0="$tmp/con.sock"
if flood2_ok 'virtio-console [0-9]+ rounds, [0-9]+ needs-reset, rx used 0'; then
	rm -f "$tmp/con.sock"
	rm -f "$tmp/started"
	python3 "$top/tests/guest/flood_send.py" unix "$tmp/con.sock" 10 "$tmp/started" >"$tmp/sent" 2>&1 &
	sender=$!
	for _ in $(seq 300); do [ -e "$tmp/started" ] && break; sleep 0.1; done
	flood2_boot -- virtio-console,port0="$tmp/con.sock"
	wait "$sender"
	sent=$(tail -1 "$tmp/sent" 2>/dev/null)
	if flood2_ok 'virtio-console [0-9]+ rounds, [0-9]+ needs-reset, rx used 0' && [ "${sent:-0}" -ge 1 ] 2>/dev/null; then
		pass virtio_console_flood
	else flood2_fail virtio_console_flood "the client wrote '${sent:-}' bytes"; fi
else flood2_fail virtio_console_flood "no client"; fi

truncate -s 0 "$tmp/disk.img"
truncate -s 1M "$tmp/disk.img"
flood2_boot -- nvme,"$tmp/disk.img"
if flood2_ok 'nvme [0-9]+ rounds, 16 io queues, csts 0x00000001, admin ok' &&
    grep -q 'completion queue full: the driver lost a completion' "$tmp/err"; then pass nvme_flood
else flood2_fail nvme_flood; fi

# AHCI: all 32 slots issued again and again (PxCI rewritten without waiting),
# each a READ DMA EXT whose table has 65535 PRD entries of 4 bytes: the most
# host memory a command can take (1 MiB of buffer list, docs/limits.md), so the
# bound here is 48 MiB and the port's 32 MiB (measured 53 MiB on both engines). The port must
# go idle with every slot done and no error in TFD.
flood2_rss=$(((48 + 32) * 1024))
for t in ahci_flood ahci_flood_threads; do
	opts=
	[ "$t" = ahci_flood_threads ] && opts=,engine=threads
	truncate -s 0 "$tmp/disk.img"
	truncate -s 1M "$tmp/disk.img"
	flood2_boot -- ahci-hd,"$tmp/disk.img"$opts
	if flood2_ok 'ahci [0-9]+ rounds, ci 0x00000000, tfd 0x00000050'; then pass $t
	else flood2_fail $t; fi
done

# Disk images are locked (OFD locks, shared for ro): while one VM writes an
# image, a second VM's virtio-blk, ahci-hd or nvme on it is refused with one line
# and exit 4; readers share an image. The holder runs blkhold.rom: the suite's
# virtio-blk test (sector 1 written, then FLUSH), then "blkhold: holding" and a
# wait. Then kill -9: what was acknowledged after FLUSH is in the image.
# hold_start NAME ARGS...: a VM in the background ($hold_pid), up to 60 s for its
# "blkhold: holding" line (output in $tmp/NAME.txt); status 1 when it never came.
hold_start() {
	local name=$1 i
	shift
	: >"$tmp/$name.out"
	"$bhyve" -s 0,hostbridge -s 31,lpc -l com1,stdio -l "bootrom,$roms/blkhold.rom" -m 64M \
		"$@" "$backend-$name" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err" &
	hold_pid=$!
	for ((i = 0; i < 600; i++)); do
		tr -d '\r' <"$tmp/$name.out" >"$tmp/$name.txt"
		grep -qx 'blkhold: holding' "$tmp/$name.txt" && return 0
		kill -0 "$hold_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# second NAME DEVICE: another VM with DEVICE at slot 4, which must stop at once
# with one line naming the lock and exit status 4.
second() {
	"$bhyve" -s 0,hostbridge -s 31,lpc -l "bootrom,$roms/blkhold.rom" -m 64M -s "4,$2" \
		"$backend-$1" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" -eq 4 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "$3" "$tmp/err"
}
truncate -s 0 "$tmp/disk.img"
truncate -s 1M "$tmp/disk.img"
if ! hold_start holder -s 4,virtio-blk,"$tmp/disk.img"; then
	cp "$tmp/holder.out" "$tmp/out"; cp "$tmp/holder.err" "$tmp/err"
	fail disk_lock_one_writer "the holding VM never said 'blkhold: holding'"
	fail flush_survives_kill9 "the holding VM never said 'blkhold: holding'"
	kill -9 "$hold_pid" 2>/dev/null; wait "$hold_pid" 2>/dev/null
else
	why=""
	second vm2 "virtio-blk,$tmp/disk.img" 'is in use by another VM or device' || why="$why virtio-blk(rc $rc)"
	second vm2 "virtio-blk,$tmp/disk.img,ro" 'is being written by another VM' || why="$why virtio-blk,ro(rc $rc)"
	second vm2 "ahci-hd,$tmp/disk.img" 'is in use by another VM or device' || why="$why ahci-hd(rc $rc)"
	second vm2 "nvme,$tmp/disk.img" 'is in use by another VM or device' || why="$why nvme(rc $rc)"
	if [ -z "$why" ]; then pass disk_lock_one_writer; else fail disk_lock_one_writer "not refused:$why"; fi
	# The guest saw its FLUSH complete before it said "holding"; kill -9 now.
	kill -9 "$hold_pid"
	wait "$hold_pid" 2>/dev/null
	rc=$?
	pattern=$(awk 'BEGIN { for (i = 0; i < 512; i++) printf "%02x", (i * 7 + 90) % 256 }')
	ondisk=$(od -An -tx1 -v -j512 -N512 "$tmp/disk.img" | tr -d ' \n')
	if [ "$rc" -eq 137 ] && grep -qx 'virtio-blk: flush ok' "$tmp/holder.txt" &&
	    [ "$ondisk" = "$pattern" ]; then
		pass flush_survives_kill9
	else
		cp "$tmp/holder.out" "$tmp/out"; cp "$tmp/holder.err" "$tmp/err"
		fail flush_survives_kill9 "status $rc (want 137, killed), sector 1 starts '${ondisk:0:16}'"
	fi
fi
# Readers share: two ro VMs at once; a writer is then refused.
if hold_start reader1 -s 4,virtio-blk,"$tmp/disk.img",ro; then
	r1=$hold_pid
	if hold_start reader2 -s 4,virtio-blk,"$tmp/disk.img",ro; then
		if second vm3 "virtio-blk,$tmp/disk.img" 'is in use by another VM or device'; then
			pass disk_lock_readers_share
		else
			fail disk_lock_readers_share "a writer beside two readers: status $rc"
		fi
	else
		cp "$tmp/reader2.out" "$tmp/out"; cp "$tmp/reader2.err" "$tmp/err"
		fail disk_lock_readers_share "the second ro VM did not start"
	fi
	kill -9 "$hold_pid" "$r1" 2>/dev/null
	wait "$hold_pid" "$r1" 2>/dev/null
else
	kill -9 "$hold_pid" 2>/dev/null; wait "$hold_pid" 2>/dev/null
	cp "$tmp/reader1.out" "$tmp/out"; cp "$tmp/reader1.err" "$tmp/err"
	fail disk_lock_readers_share "the first ro VM did not start"
fi

# NVMe and AHCI: the guest's drivers (stortest.inc) write, read back (PRP
# lists; NCQ), flush, deallocate/trim and write zeroes, then try what a hostile
# guest would (buffers and lists where there is no RAM, LBAs past the end, a
# transfer over MDTS, unknown commands, bad queue ids, stray doorbells, a
# deleted queue, a PRD table too short or missing, the command list where there
# is no RAM): each of those must fail alone, and the disk keep working. The
# file then holds what the guest wrote, and zeros where it trimmed.
# ondisk_at LBA: the first 4 bytes of that sector in $tmp/disk.img, as text.
ondisk_at() { dd if="$tmp/disk.img" bs=512 skip="$1" count=1 2>/dev/null | head -c 4; }
zeros_at() { # LBA COUNT: are those sectors all zero on disk?
	[ -z "$(dd if="$tmp/disk.img" bs=512 skip="$1" count="$2" 2>/dev/null | tr -d '\0' | head -c 1)" ]
}
stor_test() { # NAME ROM DEV-ARGS: boots, sets $why to what is wrong ("" for nothing)
	truncate -s 0 "$tmp/disk.img"
	truncate -s 16M "$tmp/disk.img"
	boot 120 "$2" -m 64M -s "4,$3"
	why=""
	[ "$rc" -eq 1 ] || why="exit status $rc"
	grep -q '^testguest: FAIL' "$tmp/txt" && why="${why:+$why; }the guest reported a failure"
}
stor_test nvme nvmetest.rom nvme,"$tmp/disk.img",ser=NVMESERIAL
refused=$(grep -c '^nvme: .* refused (status 0x' "$tmp/txt")
[ "$refused" -ge 10 ] || why="${why:+$why; }$refused hostile commands refused, expected 10 or more"
for l in 'nvme: write/read lba 1 ok' 'nvme: prp list write/read lba 32-55 ok' 'nvme: flush ok' \
    'nvme: deallocate lba 8-15 ok (reads zeros)' 'nvme: write zeroes lba 16 ok' \
    'nvme: stray doorbells ignored, I/O still works' \
    'nvme: command on a deleted queue ignored, controller alive' 'nvme: done'; do
	has "$l" || why="${why:+$why; }missing '$l'"
done
grep -q "^nvme: serial 'NVMESERIAL' model '[^']\+' mdts [0-9]* capacity 32768 sectors$" "$tmp/txt" ||
	why="${why:+$why; }no identify line with serial NVMESERIAL and 32768 sectors"
[ "$(ondisk_at 1)" = NVME ] && [ "$(ondisk_at 32)" = PRPL ] && zeros_at 8 8 && zeros_at 16 1 ||
	why="${why:+$why; }the file lacks what the guest wrote (lba 1 '$(ondisk_at 1)', 32 '$(ondisk_at 32)') or zeros at 8-16"
if [ -z "$why" ]; then pass nvme; else fail nvme "$why"; fi

# A namespace in RAM (ram=MiB; 512-byte sectors, as the guest driver wants, where
# bhyve's default for RAM is 4096) instead of a file: the same driver, the same answers.
stor_test nvme_ram nvmetest.rom nvme,ram=16,sectsz=512,ser=NVMERAM
for l in "nvme: serial 'NVMERAM' model 'bhyve-NVMe' mdts 9 capacity 32768 sectors" \
    'nvme: write/read lba 1 ok' 'nvme: prp list write/read lba 32-55 ok' \
    'nvme: deallocate lba 8-15 ok (reads zeros)' 'nvme: write zeroes lba 16 ok' 'nvme: done'; do
	has "$l" || why="${why:+$why; }missing '$l'"
done
if [ -z "$why" ]; then pass nvme_ram; else fail nvme_ram "$why"; fi

stor_test nvme_dsm_disable nvmetest.rom nvme,"$tmp/disk.img",dsm=disable
grep -q '^nvme: deallocate refused (status 0x' "$tmp/txt" ||
	why="${why:+$why; }DATASET MANAGEMENT was not refused"
if [ -z "$why" ]; then pass nvme_dsm_disable; else fail nvme_dsm_disable "$why"; fi

stor_test ahci_hd ahcitest.rom ahci-hd,"$tmp/disk.img",ser=AHCISERIAL,nmrr=7200,model=TESTDISK,rev=R1
refused=$(grep -c '^ahci: .* refused (tfd 0x' "$tmp/txt")
[ "$refused" -ge 4 ] || why="${why:+$why; }$refused hostile commands refused, expected 4"
for l in "ahci: serial 'AHCISERIAL' model 'TESTDISK' rev 'R1' rpm 7200 trim 1" \
    'ahci: port 0, capacity 32768 sectors' 'ahci: dma write/read lba 1 ok' \
    'ahci: ncq write/read lba 32-55 ok' 'ahci: flush ok' 'ahci: trim lba 8-15 ok (reads zeros)' \
    'ahci: command list outside ram survived, I/O still works' 'ahci: done'; do
	has "$l" || why="${why:+$why; }missing '$l'"
done
grep -q '^ahci: prdt shorter than the transfer: nothing written past it' "$tmp/txt" ||
	why="${why:+$why; }a short PRD table was not handled"
[ "$(ondisk_at 1)" = AHCI ] && [ "$(ondisk_at 32)" = NCCQ ] && zeros_at 8 8 ||
	why="${why:+$why; }the file lacks what the guest wrote (lba 1 '$(ondisk_at 1)', 32 '$(ondisk_at 32)') or zeros at 8-15"
if [ -z "$why" ]; then pass ahci_hd; else fail ahci_hd "$why"; fi

stor_test ahci_hd_nodelete ahcitest.rom ahci-hd,"$tmp/disk.img",nodelete
grep -q " trim 0$" "$tmp/txt" && has 'ahci: no trim offered' || why="${why:+$why; }TRIM was offered with nodelete"
if [ -z "$why" ]; then pass ahci_hd_nodelete; else fail ahci_hd_nodelete "$why"; fi

# virtio-net on a tap, in a network namespace of its own so nothing reaches the
# host's network: the host side of the tap is 10.0.2.2/24; the guest's driver
# (10.0.2.15) must get an ARP reply carrying the tap's MAC and an answer to its
# ping. The tap goes away with the namespace.
# net_tap NAME IFNAME BACKEND [options]: the guest in the namespace; $tapmac is the tap's MAC
net_tap() {
	local name=$1 ifname=$2 be=$3
	shift 3
	tapmac=""
	if [ "$(id -u)" -ne 0 ]; then
		skip "$name" "needs root for a tap and a network namespace"; return 1
	elif [ ! -c /dev/net/tun ]; then
		skip "$name" "/dev/net/tun does not exist"; return 1
	elif ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
		skip "$name" "needs unshare (util-linux) and ip (iproute2)"; return 1
	fi
	# shellcheck disable=SC2016
	unshare -n sh -c '
		ip tuntap add "$1" mode tap && ip addr add 10.0.2.2/24 dev "$1" &&
		ip link set "$1" up || exit 99
		ip -o link show "$1" | sed -n "s/.*link\/ether \([0-9a-f:]*\).*/\1/p" >"$2"
		if="$1"; shift 2
		timeout 120 "$@"; rc=$?
		ip link del "$if"
		exit $rc' sh "$ifname" "$tmp/tapmac" "$bhyve" -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-l "bootrom,$roms/guest.rom" -m 64M -s "5,virtio-net,$be" "$@" "$backend"-vm \
		</dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
	tapmac=$(cat "$tmp/tapmac" 2>/dev/null)
	if [ "$rc" -eq 99 ]; then fail "$name" "could not set up $ifname in a network namespace"; return 1; fi
	return 0
}
net_ok() { # the guest's MAC $1, the tap's MAC in the ARP reply, the echo reply
	[ "$rc" -eq 1 ] && [ -n "$tapmac" ] && has "virtio-net: mac $1" && has 'virtio-net: link up' &&
	    has "virtio-net: arp reply 10.0.2.2 is-at $tapmac" && has 'virtio-net: echo reply from 10.0.2.2' &&
	    ! grep -q '^testguest: FAIL virtio' "$tmp/txt"
}
# The default MAC: bhyve's OUI and the MD5 of "slot-function-vmname".
defmac=58:9c:fc:$(printf '5-0-%s' "$backend-vm" | md5sum | sed 's/^\(..\)\(..\)\(..\).*/\1:\2:\3/')
if net_tap virtio_net_tap tap0 tap0; then
	if net_ok "$defmac"; then pass virtio_net_tap; else fail virtio_net_tap "status $rc, tap MAC '$tapmac'"; fi
fi
# Any interface name with tap=NAME; mac= and mtu= as given.
if net_tap virtio_net_tap_named guestnet0 tap=guestnet0,mac=02:42:00:00:00:2a,mtu=9000; then
	if net_ok 02:42:00:00:00:2a; then pass virtio_net_tap_named
	else fail virtio_net_tap_named "status $rc, tap MAC '$tapmac'"; fi
fi

# The dhcp ROM: a DHCP client on a tap whose far end runs dnsmasq (192.168.77.1,
# a range from .50), all in a network namespace of its own. The guest must get
# a lease, ping the server, then power off on the power button (SIGTERM, as
# vm stop does once the lease line is there).
# dhcp_tap [noserver]: with "noserver", no dnsmasq on the tap
dhcp_tap() {
	# shellcheck disable=SC2016
	unshare -n sh -c '
		ip tuntap add tap0 mode tap && ip addr add 192.168.77.1/24 dev tap0 &&
		ip link set tap0 up && ip link set lo up || exit 99
		dns=""
		if [ "$5" != noserver ]; then
			dnsmasq -k -C /dev/null -u root -p 0 -i tap0 --bind-interfaces --no-ping \
				--dhcp-range=192.168.77.50,192.168.77.99,255.255.255.0,1h \
				--dhcp-leasefile="$1/leases" 2>"$1/dnsmasq.err" &
			dns=$!
		fi
		# Emptied here, not only by the background redirection: the loop below
		# must not find the lines of the previous test before the VM starts.
		: >"$1/out"
		"$2" -s 0,hostbridge -s 31,lpc -l com1,stdio -l "bootrom,$3" -m 64M \
			-s 5,virtio-net,tap0 "$4" </dev/null >"$1/out" 2>"$1/err" &
		vm=$!
		i=0
		while [ $i -lt 600 ] && ! grep -q "echo reply\|FAIL" "$1/out" 2>/dev/null &&
		    kill -0 $vm 2>/dev/null; do
			sleep 0.1; i=$((i + 1))
		done
		kill -TERM $vm 2>/dev/null
		wait $vm; rc=$?
		[ -n "$dns" ] && kill $dns && wait $dns
		ip link del tap0
		exit $rc' sh "$tmp" "$bhyve" "$roms/dhcp.rom" "$backend"-vm "${1:-}"
	rc=$?
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
}
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
	skip virtio_net_dhcp "needs root and /dev/net/tun for a tap in a network namespace"
	skip virtio_net_dhcp_noserver "needs root and /dev/net/tun for a tap in a network namespace"
elif ! command -v dnsmasq >/dev/null; then
	skip virtio_net_dhcp "needs dnsmasq (dnsmasq-base) as the DHCP server"
	skip virtio_net_dhcp_noserver "needs dnsmasq (dnsmasq-base) as the DHCP server"
else
	dhcp_tap
	lease=$(grep -m1 '^dhcp: lease ' "$tmp/txt")
	ms=$(printf '%s\n' "$lease" | sed -n 's/^dhcp: lease 192\.168\.77\.\([0-9]*\) from 192\.168\.77\.1 after \([0-9]*\) ms$/\2/p')
	if [ "$rc" -eq 1 ] && [ -n "$ms" ] && has 'dhcp: echo reply from 192.168.77.1' &&
	    has 'testguest: power button' && ! grep -q '^testguest: FAIL' "$tmp/txt"; then
		pass virtio_net_dhcp
	else
		fail virtio_net_dhcp "status $rc, '$lease'"
	fi
	# Nobody answers: one FAIL line after its 10 tries, and power-off.
	dhcp_tap noserver
	if [ "$rc" -eq 1 ] && has 'testguest: FAIL dhcp: no DHCPOFFER within 10 s' &&
	    [ "$(grep -c '^testguest: FAIL' "$tmp/txt")" -eq 1 ] && ! grep -q '^dhcp: lease' "$tmp/txt"; then
		pass virtio_net_dhcp_noserver
	else
		fail virtio_net_dhcp_noserver "status $rc, '$(grep -m1 FAIL "$tmp/txt")'"
	fi
fi

# virtio-net on slirp, no privileges needed: the same driver's ARP request and
# ping are answered by slirp's gateway 10.0.2.2 (its MAC is 52:55:0a:00:02:02).
boot 120 guest.rom -m 64M -s 5,virtio-net,slirp
if [ "$rc" -eq 1 ] && has "virtio-net: mac $defmac" && has 'virtio-net: link up' &&
    has 'virtio-net: arp reply 10.0.2.2 is-at 52:55:0a:00:02:02' &&
    has 'virtio-net: echo reply from 10.0.2.2' && ! grep -q '^testguest: FAIL virtio' "$tmp/txt"; then
	pass virtio_net_slirp
else
	fail virtio_net_slirp "status $rc"
fi

# virtio-console: two ports ("console" and a named data port); the test is the
# data port's client: it reads the line the guest writes and answers with one the
# guest must print. The sockets are gone once the guest has powered off.
vcon_test() {
	local con=$tmp/vcon-console.sock data=$tmp/vcon-data.sock got reply
	if ! command -v socat >/dev/null; then
		skip virtio_console "socat is not installed (tools/setup --tests installs it)"
		return
	fi
	rm -f "$tmp/vcon-got"
	timeout 120 "$bhyve" -s 0,hostbridge -s 31,lpc -l com1,stdio -l "bootrom,$roms/guest.rom" -m 64M \
		-s 5,virtio-console,console="$con",org.test.data="$data" "$backend"-vcon \
		</dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	for _ in $(seq 100); do [ -S "$data" ] && break; sleep 0.1; done
	reply="host says pong $RANDOM"
	# socat runs this with the connection as its stdin and stdout.
	printf 'read -r l\nprintf "%%s\\n" "$l" >"%s"\necho "%s"\n' "$tmp/vcon-got" "$reply" \
		>"$tmp/vcon-client.sh"
	timeout 60 socat -t 5 UNIX-CONNECT:"$data" SYSTEM:"sh $tmp/vcon-client.sh" 2>>"$tmp/err"
	wait "$pid"
	rc=$?
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
	got=$(cat "$tmp/vcon-got" 2>/dev/null)
	if [ "$rc" -eq 1 ] && has 'pci: 00:05.0 1af4:1003 class 078000' && has 'virtio-console: port 0 console' &&
	    has 'virtio-console: port 0 name console' && has 'virtio-console: port 1 name org.test.data' &&
	    has 'virtio-console: port 1 host open 1' && has 'virtio-console: port 1 data' &&
	    [ "$got" = "hello from the guest" ] && has "virtio-console: got $reply" &&
	    ! grep -q '^testguest: FAIL' "$tmp/txt" && [ ! -e "$con" ] && [ ! -e "$data" ]; then
		pass virtio_console
	else
		fail virtio_console "status $rc, the client read '$got'; sockets left: $(ls "$con" "$data" 2>/dev/null)"
	fi
}
vcon_test

# A port path holding a file that is not a socket: one line, exit 4, file kept.
printf 'keep' >"$tmp/vcon-file"
boot 60 guest.rom -m 64M -s 5,virtio-console,agent="$tmp/vcon-file"
if [ "$rc" -eq 4 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'exists and is not a socket' "$tmp/err" &&
    [ "$(cat "$tmp/vcon-file")" = keep ] && ! has 'testguest: start'; then
	pass virtio_console_bad_path
else
	fail virtio_console_bad_path "status $rc, expected 4 with one line"
fi

boot 60 reboot.rom
if [ "$rc" -eq 0 ] && has 'testguest: reboot'; then pass reboot_cf9; else fail reboot_cf9 "status $rc, expected 0"; fi
boot 60 kbdreset.rom
if [ "$rc" -eq 0 ] && has 'testguest: kbdreset'; then pass reboot_kbd; else fail reboot_kbd "status $rc, expected 0"; fi
ncpus=2
[ "$backend" = emu ] && ncpus=1
boot 60 halt.rom -c "$ncpus"
if [ "$rc" -eq 2 ] && has 'testguest: halt'; then pass halt; else fail halt "status $rc, expected 2"; fi
if [ "$backend" = emu ]; then
	skip triple "the software CPU stops on a CPU exception instead of shutting down"
else
	boot 60 triple.rom
	if [ "$rc" -eq 3 ] && has 'testguest: triple' && grep -q '^bhyve: vcpu 0: triple fault at 0x' "$tmp/err"; then
		pass triple
	else
		fail triple "status $rc, expected 3, and a line saying where"
	fi
fi
boot 60 badport.rom
if [ "$rc" -eq 1 ] && has 'badport: in8 0x9999 = 0xff'; then pass badport; else fail badport "status $rc"; fi
boot 60 badport.rom -e
if [ "$rc" -eq 4 ] && grep -q 'unhandled in8 port 0x9999' "$tmp/err" && ! has 'badport: in8 0x9999 = 0xff'; then
	pass strictio
else
	fail strictio "status $rc, expected 4 with a message"
fi

# start_bg ROM NAME [args]: a guest in the background; waits for its first line.
start_bg() {
	local rom=$1 name=$2
	shift 2
	# Emptied here: the background job's redirection may come after the first
	# look below, which would then find the last guest's line.
	: >"$tmp/out"
	"$bhyve" -s 0,hostbridge -s 31,lpc -l "bootrom,$roms/$rom" "$@" "$name" \
		</dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	for _ in $(seq 300); do
		grep -q "testguest: " "$tmp/out" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
wait_status() { # wait_status PID SECONDS -> rc
	for _ in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1"
	rc=$?
}

# SIGTERM before the guest enables ACPI ends the process as a power-off.
if start_bg spin.rom "$backend"-spin -l com1,stdio; then
	kill -TERM "$pid"
	wait_status "$pid" 10
	if [ "$rc" -eq 1 ] && grep -q 'SIGTERM' "$tmp/err"; then pass sigterm_before_acpi
	else fail sigterm_before_acpi "status $rc, expected 1"; fi
else
	fail sigterm_before_acpi "guest did not start"
fi

# After SMI_CMD 0xA0, SIGTERM is a power-button press the guest sees and acts on.
if start_bg acpi.rom "$backend"-acpi -l com1,stdio; then
	for _ in $(seq 100); do grep -q 'acpi enabled' "$tmp/out" && break; sleep 0.1; done
	kill -TERM "$pid"
	wait_status "$pid" 30
	tr -d '\r' <"$tmp/out" >"$tmp/txt"
	if [ "$rc" -eq 1 ] && has 'testguest: power button'; then pass sigterm_acpi_button
	else fail sigterm_acpi_button "status $rc; the guest did not see the button"; fi
else
	fail sigterm_acpi_button "guest did not start"
fi

# Tools find guests by the title "bhyve: NAME".
if start_bg spin.rom "$backend"-title -l com1,stdio; then
	title=$(tr '\0' ' ' </proc/"$pid"/cmdline | sed 's/ *$//')
	if [ "$title" = "bhyve: $backend-title" ] && pgrep -f "^bhyve: $backend-title" >/dev/null; then
		pass proctitle
	else
		fail proctitle "title is '$title'"
	fi
	kill -9 "$pid"; wait "$pid" 2>/dev/null
else
	fail proctitle "guest did not start"
fi

# The seccomp sandbox covers every thread of a running guest (Seccomp: 2 in
# each /proc task), each under the base program and its role's (two filters),
# the threads started before it included (block workers of both engines,
# virtio-net's transmit thread, slirp's, fbuf's VNC thread with no client yet);
# -o sandbox=false leaves them without one. A descriptor the launcher left open
# (9 here) is closed at start-up.
seccomp_modes() { cat /proc/"$pid"/task/*/status 2>/dev/null | sed -n 's/^Seccomp:\t*//p' | sort -u | tr '\n' ' '; }
seccomp_filters() { cat /proc/"$pid"/task/*/status 2>/dev/null | sed -n 's/^Seccomp_filters:\t*//p' | sort -u | tr '\n' ' '; }
truncate -s 1M "$tmp/sb1.img" "$tmp/sb2.img"
sandbox_devs=(-s 3,virtio-rnd -s 4,virtio-blk,"$tmp/sb1.img" -s 6,virtio-blk,"$tmp/sb2.img",engine=threads
	-s 5,virtio-net,slirp -s 7,fbuf,unix="$tmp/sb.vnc")
: >"$tmp/inherited"
if start_bg spin.rom "$backend"-sandbox -l com1,stdio "${sandbox_devs[@]}" 9<"$tmp/inherited"; then
	sleep 0.5	# the threads started before the sandbox take their roles
	on=$(seccomp_modes); filters=$(seccomp_filters); ntask=$(ls /proc/"$pid"/task | wc -l)
	vncs=$(cat /proc/"$pid"/task/*/comm 2>/dev/null | grep -cx vnc)
	leaked=$(ls -l /proc/"$pid"/fd 2>/dev/null | grep -c "$tmp/inherited")
	# The io_uring engine's ring, restricted to its own operations, still made
	# (where the kernel allows io_uring at all).
	rings=$(ls -l /proc/"$pid"/fd 2>/dev/null | grep -c 'io_uring')
	[ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" = 0 ] || rings=skip
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	if start_bg spin.rom "$backend"-nosandbox -l com1,stdio -o sandbox=false; then
		off=$(seccomp_modes); kill -9 "$pid"; wait "$pid" 2>/dev/null
		if [ "$on" = "2 " ] && [ "$filters" = "2 " ] && [ "$ntask" -ge 9 ] && [ "$off" = "0 " ] &&
		    [ "$leaked" -eq 0 ] && [ "$rings" != 0 ] && [ "$vncs" -eq 1 ]; then
			pass sandbox
		else
			fail sandbox "seccomp modes '$on', filters '$filters' in $ntask threads ($vncs VNC) with the sandbox, '$off' without; inherited fd open: $leaked; io_uring rings: $rings"
		fi
	else
		fail sandbox "guest with -o sandbox=false did not start"
	fi
else
	fail sandbox "guest did not start"
fi

# -o sandbox.user=nobody: the running VMM has nobody's ids, no capability in any
# set, no_new_privs, and the guest still runs with its devices.
if [ "$(id -u)" -ne 0 ]; then
	skip sandbox_user "needs root to change user"
elif ! nobody_uid=$(id -u nobody 2>/dev/null); then
	skip sandbox_user "there is no user nobody"
elif rm -f "$tmp/sb.vnc" &&	# the last guest was killed: its socket file stays
    start_bg spin.rom "$backend"-sbuser -l com1,stdio -o sandbox.user=nobody "${sandbox_devs[@]}"; then
	sleep 1
	st=/proc/$pid/status
	uids=$(sed -n 's/^Uid:[[:space:]]*//p' "$st" | tr -s '\t ' ' ')
	caps=$(grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' "$st" | awk '{print $2}' | sort -u | tr '\n' ' ')
	nnp=$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' "$st")
	alive=no; kill -0 "$pid" 2>/dev/null && alive=yes
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	if [ "$uids" = "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ] &&
	    [ "$caps" = "0000000000000000 " ] && [ "$nnp" = 1 ] && [ "$alive" = yes ]; then
		pass sandbox_user
	else
		fail sandbox_user "uids '$uids', capability sets '$caps', no_new_privs '$nnp', running $alive"
	fi
else
	fail sandbox_user "guest did not start"
fi
boot 30 spin.rom -o sandbox.user=no-such-user-here
if [ "$rc" -eq 4 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'sandbox.user no-such-user-here: no such user' "$tmp/err"; then
	pass sandbox_user_unknown
else
	fail sandbox_user_unknown "status $rc, expected 4 with one line"
fi

# -p 0:N: the thread running vCPU 0 may run only on host CPU N, the last CPU
# this process may use. With one CPU allowed, a pinned thread and an unpinned
# one look the same, so nothing could be shown.
self_cpus=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/$$/status)
host_cpu=${self_cpus##*[,-]}
if [ "$self_cpus" = "$host_cpu" ]; then
	skip vcpu_pinning "this process may run on one host CPU only ($self_cpus): pinned and unpinned threads look the same"
elif start_bg spin.rom "$backend"-pin -l com1,stdio -p "0:$host_cpu"; then
	allowed="" others=""
	for task in /proc/"$pid"/task/*; do
		if [ "$(cat "$task/comm" 2>/dev/null)" = "vcpu 0" ]; then
			allowed=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$task/status")
		elif [ "$task" = /proc/"$pid"/task/"$pid" ]; then
			others=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$task/status")
		fi
	done
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	if [ "$allowed" != "$host_cpu" ]; then
		fail vcpu_pinning "vcpu 0 may run on '$allowed', expected $host_cpu"
	elif [ "$others" != "$self_cpus" ]; then
		fail vcpu_pinning "the main thread may run on '$others', expected $self_cpus (only vcpu 0 is pinned)"
	else
		pass vcpu_pinning
	fi
else
	fail vcpu_pinning "guest did not start"
fi

# -S wires guest memory: the process has all 64 MiB locked.
if start_bg spin.rom "$backend"-wired -l com1,stdio -m 64M -S; then
	locked=$(sed -n 's/^VmLck:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/"$pid"/status)
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	if [ "${locked:-0}" -ge 65536 ]; then pass wired_memory
	else fail wired_memory "VmLck is '${locked}' kB, expected at least 65536"; fi
else
	fail wired_memory "guest did not start"
fi

# -o memory.hugetlb=true: guest RAM from the host's hugetlb pool in 2 MiB pages
# (32 pages more are set aside for the test and given back); a pool without
# the pages asked for (1 GiB ones, none set aside) is one line and exit 4.
hp=/proc/sys/vm/nr_hugepages
if [ "$(id -u)" -ne 0 ] || [ ! -w "$hp" ]; then
	skip hugetlb "needs root and a writable $hp to set up a hugetlb pool"
else
	old_hp=$(cat "$hp")
	echo $((old_hp + 32)) >"$hp" 2>/dev/null
	if [ "$(cat "$hp")" -lt $((old_hp + 32)) ]; then
		skip hugetlb "the host could not set aside 32 more 2 MiB huge pages"
	elif start_bg spin.rom "$backend"-hugetlb -m 64M -l com1,stdio -o memory.hugetlb=true; then
		# The 64 MiB mapping's page size, from smaps.
		kps=$(awk '/^[0-9a-f]+-[0-9a-f]+ /{s=0} /^Size: +65536 kB/{s=1}
			s && /^KernelPageSize:/{print $2; exit}' /proc/"$pid"/smaps)
		kill -9 "$pid"; wait "$pid" 2>/dev/null
		if [ "$kps" = 2048 ]; then pass hugetlb
		else fail hugetlb "guest RAM's page size is '${kps}' kB, expected 2048"; fi
	else
		fail hugetlb "guest did not start"
	fi
	echo "$old_hp" >"$hp"
fi
g1=/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
if [ -r "$g1" ] && [ "$(cat "$g1")" -gt 0 ]; then
	skip hugetlb_pool_short "this host has 1 GiB huge pages set aside"
else
	boot 30 spin.rom -m 1G -o memory.hugetlb=1G
	if [ "$rc" -eq 4 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
	    grep -q 'hugetlb pool (memory.hugetlb, 1024 MiB pages)' "$tmp/err"; then
		pass hugetlb_pool_short
	else
		fail hugetlb_pool_short "status $rc, expected 4 with one line naming the hugetlb pool"
	fi
fi

# Guest RAM stays out of core dumps (VmFlags dd) unless -C.
dd_flags() { # BYTES: the VmFlags of the guest RAM mapping, the one of that size
	local l in=0
	while IFS= read -r l; do
		if [[ $l =~ ^([0-9a-f]+)-([0-9a-f]+)\  ]]; then
			in=$(((16#${BASH_REMATCH[2]} - 16#${BASH_REMATCH[1]}) == $1))
		elif [ "$in" = 1 ] && [[ $l == VmFlags:* ]]; then
			echo "$l"
			return
		fi
	done </proc/"$pid"/smaps
}
core_ok=yes
for flag in "" -C; do
	# shellcheck disable=SC2086
	if start_bg spin.rom "$backend"-core -l com1,stdio -m 64M $flag; then
		flags=$(dd_flags $((64 << 20)))
		kill -9 "$pid"; wait "$pid" 2>/dev/null
		case "$flag:$flags" in
		:*" dd"*) ;;				# left out of core dumps
		-C:*" dd"*) core_ok="-C: the RAM mapping is still marked dd: '$flags'" ;;
		-C:VmFlags*) ;;				# included
		*) core_ok="with '$flag' the RAM mapping's flags are '$flags'" ;;
		esac
	else
		core_ok="guest did not start"
	fi
done
if [ "$core_ok" = yes ]; then pass guest_not_in_core; else fail guest_not_in_core "$core_ok"; fi

# echo_probe: sends "ping" on fd 8 once a second until "PING" comes back on it
# (20 s at most) and sets got. The guest clears its UART's FIFO as it starts,
# which on a slow host can come after the first ping.
echo_probe() {
	local w
	(for _ in $(seq 20); do printf 'ping\n' || exit; sleep 1; done) >&8 2>/dev/null &
	w=$!
	got=$(timeout 20 grep -m1 -a -o 'PING' <&8)
	kill "$w" 2>/dev/null
	wait "$w" 2>/dev/null
}

# A null-modem console: the B side is a pty users attach to; bytes go both ways;
# the link goes away at exit.
link=/dev/nmdm-"$backend"test.1B
rm -f "$link"
"$bhyve" -s 0,hostbridge -s 31,lpc -l com1,/dev/nmdm-"$backend"test.1A -l "bootrom,$roms/echo.rom" \
	"$backend"-pty </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do [ -L "$link" ] && break; sleep 0.1; done
if [ -L "$link" ]; then
	exec 8<>"$link"
	echo_probe
	exec 8>&-
	kill -TERM "$pid"; wait "$pid" 2>/dev/null
	if [ "$got" = PING ] && [ ! -e "$link" ]; then pass pty_console
	else fail pty_console "no echo through $link ('$got'), or the link was left behind"; fi
else
	kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	fail pty_console "$link was not created"
fi

# tcp=ip:port: the console is a socket; bytes go both ways.
port=$((20000 + RANDOM % 20000))
"$bhyve" -s 0,hostbridge -s 31,lpc -l "com1,tcp=127.0.0.1:$port" -l "bootrom,$roms/echo.rom" \
	"$backend"-tcp </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
got=""
# Up to 30 s for bhyve to listen: a loaded nested L1 starts processes slowly.
for _ in $(seq 300); do
	if { exec 8<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
		echo_probe
		exec 8>&-
		break
	fi
	sleep 0.1
done
kill -TERM "$pid"; wait "$pid" 2>/dev/null
if [ "$got" = PING ]; then pass tcp_console; else fail tcp_console "no echo from 127.0.0.1:$port"; fi

# stdio: what arrives on stdin reaches the guest (a ping a second, as above).
(for _ in $(seq 20); do printf 'ping\n' || exit; sleep 1; done) 2>/dev/null |
	timeout 20 "$bhyve" -s 0,hostbridge -s 31,lpc -l com1,stdio \
	-l "bootrom,$roms/echo.rom" "$backend"-stdio >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 200); do grep -q PING "$tmp/out" && break; sleep 0.1; done
kill -TERM "$pid"		# timeout passes it on to bhyve
wait "$pid" 2>/dev/null
if grep -q PING "$tmp/out"; then pass stdio_input; else fail stdio_input "stdin did not reach the guest"; fi

# -l bootrom,ROM,VARS with fwcfg=bhyve (bhyve's own firmware writes its variables as
# memory; fwcfg=qemu makes VARS a CFI flash): the write is in the file afterwards.
head -c 65536 /dev/zero >"$tmp/vars.fd"
boot 60 vars.rom -l "bootrom,$roms/vars.rom,$tmp/vars.fd,fwcfg=bhyve"
first=$(sed -n 's/^vars: after //p' "$tmp/txt")
boot 60 vars.rom -l "bootrom,$roms/vars.rom,$tmp/vars.fd,fwcfg=bhyve"
second=$(sed -n 's/^vars: before //p' "$tmp/txt")
word=$(od -An -tx4 -N4 "$tmp/vars.fd" | tr -d ' ')
if [ "$first" = 0x00000001 ] && [ "$second" = 0x00000001 ] && [ "$word" = 00000002 ]; then
	pass vars_persist
else
	fail vars_persist "after first run '$first', before second '$second', file word '$word'"
fi

# The MP table: with fwcfg=bhyve the legacy BIOS area is the VMM's and holds
# it, one processor entry per vCPU; -Y leaves it out; with fwcfg=qemu the BIOS
# image sits there instead and the firmware builds its own.
ncpus=2
[ "$backend" = emu ] && ncpus=1
mp_fail=""
for run in "bhyve::$ncpus cpus" "bhyve:-Y:none" "qemu::none"; do
	fw=${run%%:*} flag=${run#*:} want=${run##*:}
	flag=${flag%%:*}
	# shellcheck disable=SC2086
	boot 120 guest.rom -c "$ncpus" -m 64M $flag -l "bootrom,$roms/guest.rom,fwcfg=$fw"
	if [ "$rc" -ne 1 ] || ! has "mptable: $want" || grep -q '^testguest: FAIL mptable' "$tmp/txt"; then
		mp_fail="fwcfg=$fw $flag: status $rc, '$(grep -m1 'mptable' "$tmp/txt")', want 'mptable: $want'"
		break
	fi
done
if [ -z "$mp_fail" ]; then pass mptable; else fail mptable "$mp_fail"; fi

# The ACPI tables in guest memory: with fwcfg=bhyve (bhyve's own firmware, as
# on FreeBSD) the VMM writes them at 0xF2400, where the guest finds the RSDP
# by scanning the BIOS area and checks every checksum; acpi_tables=false
# leaves them out, and with fwcfg=qemu the firmware places them (the ROM area
# holds the BIOS image then).
am_fail=""
for run in "bhyve::rsdp 0xf2400, 5 tables" "bhyve:-o acpi_tables=false:none" "qemu::none"; do
	fw=${run%%:*} flag=${run#*:} want=${run##*:}
	flag=${flag%%:*}
	# shellcheck disable=SC2086
	boot 120 guest.rom -m 64M $flag -l "bootrom,$roms/guest.rom,fwcfg=$fw"
	if [ "$rc" -ne 1 ] || ! has "acpimem: $want" || grep -q '^testguest: FAIL acpimem' "$tmp/txt"; then
		am_fail="fwcfg=$fw $flag: status $rc, '$(grep -m1 'acpimem' "$tmp/txt")', want 'acpimem: $want'"
		break
	fi
done
if [ -z "$am_fail" ]; then pass acpi_in_memory; else fail acpi_in_memory "$am_fail"; fi

exit $((fails > 0))
