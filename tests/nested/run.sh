#!/usr/bin/env bash
# Runs a command where /dev/kvm is real KVM, on any machine: inside an L1 Linux
# booted under QEMU's software CPU (TCG), which emulates AMD SVM with nested
# paging, so Debian's kvm-amd module gives the L1 a working /dev/kvm.
#
#   tests/nested/run.sh [-t SECONDS] [-m MEM] COMMAND [ARG...]
#
# The L1 is Debian's own kernel (linux-image-amd64) with a busybox-static
# initramfs built here (tests/nested/mkinitrd.sh). The host's / is shared into
# it over 9p and the L1 chroots into it, so COMMAND sees this tree, the host's
# binaries and libraries at the same paths, fresh tmpfs on /tmp and /run, and
# /dev/kvm. COMMAND runs as root from the top of the tree; its output is this
# script's output (the L1's serial console, carriage returns removed).
# Exit status: COMMAND's; 124 when it ran past SECONDS (default 1800);
# 125 when the L1 could not be made or did not come up (after one retry);
# 126 when QEMU itself crashed under the L1; 127 when the L1's kernel locked up;
# 128 when the L1 stopped by itself before the job ended (a kernel panic, a
# reset): then the end of its console, kernel messages included, is shown.
# NESTED_CPU, NESTED_SMP and NESTED_TCG_THREAD change the emulated CPU, its count
# and TCG's threading; NESTED_KVM_AMD gives kvm-amd's parameters (npt=0 ...).
# NESTED_LOG=FILE keeps the L1's whole console; NESTED_KEEP=1 keeps the work dir.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=1800 mem=3G
while getopts t:m: o; do
	case $o in
	t) secs=$OPTARG ;;
	m) mem=$OPTARG ;;
	*) echo "usage: $0 [-t SECONDS] [-m MEM] COMMAND [ARG...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-t SECONDS] [-m MEM] COMMAND [ARG...]" >&2; exit 2; }

die() { echo "nested: $*" >&2; exit 125; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (Debian package qemu-system-x86)"
kver=$("$top/tests/nested/kernel.sh") || die "no Debian kernel: install linux-image-amd64"
work=$(mktemp -d "$top/build/nested.XXXXXX" 2>/dev/null) ||
	{ mkdir -p "$top/build" && work=$(mktemp -d "$top/build/nested.XXXXXX"); } || die "cannot make a work dir"
qpid=""
cleanup() {
	[ -n "$qpid" ] && kill -9 "$qpid" 2>/dev/null
	[ "${NESTED_KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The job the L1 runs: COMMAND, quoted, from the top of the tree. Its status
# goes to a file on the share and in a line on the console.
{
	printf 'cd %q || exit 125\n' "$top"
	printf 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root\n'
	printf 'export NESTED_L1=1 NESTED_TCG_THREAD=%s TERM=dumb\n' "${NESTED_TCG_THREAD:-multi}"
	printf '%q ' "$@"
	printf '</dev/null\n'
} >"$work/job"

# The L1's init: modules, the 9p root, then the job in a chroot with a timeout.
cat >"$work/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
sed 's|kvm-amd.ko|kvm-amd.ko ${NESTED_KVM_AMD:-}|' /loadmods >/loadmods.sh
. /loadmods.sh
if [ ! -c /dev/kvm ]; then
	echo "nested-l1: no /dev/kvm after loading kvm-amd"; poweroff -f
fi
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose host /host ||
	{ echo "nested-l1: cannot mount the host's tree"; poweroff -f; }
mkdir -p /dev/pts
mount -t devpts -o ptmxmode=0666 devpts /dev/pts
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
ln -s /proc/self/fd /dev/fd
for f in proc sys; do mount -o bind /\$f /host/\$f; done
mount -o rbind /dev /host/dev
# Fresh tmpfs on /tmp and /run (UNIX sockets, speed); when the tree itself
# lives under one of them it is bound back in place on top.
mkdir -p /keep
mount -o bind /host$top /keep
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run
case $top in /tmp/*|/run/*) mkdir -p /host$top && mount -o bind /keep /host$top ;; esac
ip link set lo up 2>/dev/null
# A heartbeat: an L1 whose CPUs all spin in KVM_RUN falls silent.
(while sleep 10; do echo "nested-l1: alive" >/dev/console; done) &
echo "nested-l1: ready after \$(cut -d' ' -f1 /proc/uptime) s"
chroot /host /usr/bin/timeout -k 10 $secs /bin/sh $work/job >/dev/console 2>&1
rc=\$?
echo "nested-l1: status \$rc"
echo \$rc >/host$work/status
sync
poweroff -f
EOF
"$top/tests/nested/mkinitrd.sh" "$kver" "$work/init" "$work/initrd.gz" \
	kvm-amd 9p 9pnet_virtio virtio_pci tun veth bridge >"$work/mkinitrd.log" 2>&1 ||
	{ cat "$work/mkinitrd.log" >&2; die "cannot build the L1 initramfs"; }

# One boot of the L1. Ordinary output goes to stdout as it arrives; the
# L1's own boot messages are kept out of it.
boot() {
	: >"$work/console"
	rm -f "$work/status"
	qemu-system-x86_64 -accel "tcg,thread=${NESTED_TCG_THREAD:-multi}" -cpu "${NESTED_CPU:-qemu64,+svm,+npt,+rdrand}" -smp "${NESTED_SMP:-2}" -m "$mem" \
		-kernel "/boot/vmlinuz-$kver" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1" -display none -no-reboot \
		-virtfs local,path=/,mount_tag=host,security_model=none,multidevs=remap,id=host \
		-monitor "unix:$work/monitor,server,nowait" \
		-serial "file:$work/console" </dev/null >"$work/qemu.log" 2>&1 &
	qpid=$!
}

attempt=0
while :; do
	attempt=$((attempt + 1))
	boot
	# One L1 boot in about twenty hangs early with both vCPUs spinning: give it
	# 180 s to say it is ready, then try once more.
	ready=0
	for _ in $(seq 1800); do
		grep -q '^nested-l1: ready' "$work/console" 2>/dev/null && { ready=1; break; }
		kill -0 "$qpid" 2>/dev/null || break
		sleep 0.1
	done
	[ $ready = 1 ] && break
	kill -9 "$qpid" 2>/dev/null
	wait "$qpid" 2>/dev/null
	qpid=""
	if [ $attempt -ge 2 ]; then
		tr -d '\r' <"$work/console" | tail -20 >&2
		tail -5 "$work/qemu.log" >&2
		die "the L1 did not come up (twice)"
	fi
	echo "nested: the L1 did not come up (stopped or silent for 180 s); booting it again" >&2
done

# Stream the console from the ready line on, until QEMU ends (the L1 powers
# off), with a hard limit a little past the job's own timeout.
start=$(grep -n '^nested-l1: ready' "$work/console" | head -1 | cut -d: -f1)
tail -n +"$((start + 1))" -f --pid="$qpid" "$work/console" | sed -u 's/\r//g' |
	grep --line-buffered -v -e '^nested-l1: status' -e '^nested-l1: alive' -e '^\[ *[0-9.]*\] ' &
tailpid=$!
limit=$((secs + 60))
SECONDS=0
wedged=0 timedout=0 beats=0 beat_at=0
while kill -0 "$qpid" 2>/dev/null; do
	n=$(grep -c '^nested-l1: alive' "$work/console")
	if [ "$n" != "$beats" ]; then
		beats=$n beat_at=$SECONDS
	elif [ $((SECONDS - beat_at)) -ge 90 ]; then
		echo "nested: the L1 is wedged: no heartbeat for 90 s" >&2
		kill -9 "$qpid"
		wedged=1
		break
	fi
	if [ $SECONDS -ge $limit ]; then
		echo "nested: the L1 ran past ${limit} s; stopping it" >&2
		kill -9 "$qpid"
		timedout=1
		break
	fi
	# Now and then the L1's KVM spins in KVM_RUN for good under the emulated
	# SVM (seen with QEMU's VMM in the L1 as well): its watchdog reports a
	# soft lockup that only grows. A minute of that ends the run.
	if grep -q 'soft lockup - CPU#[0-9]* stuck for \([6-9][0-9]\|[0-9]\{3,\}\)s' "$work/console"; then
		echo "nested: the L1 is wedged: $(grep -m1 -o 'soft lockup.*' "$work/console")" >&2
		kill -9 "$qpid"
		wedged=1
		break
	fi
	sleep 1
done
wait "$qpid" 2>/dev/null
qemu_rc=$?
qpid=""
wait "$tailpid" 2>/dev/null
[ -n "${NESTED_LOG:-}" ] && tr -d '\r' <"$work/console" >"$NESTED_LOG"
if [ $wedged = 1 ]; then
	exit 127
fi
if [ -s "$work/status" ]; then
	exit "$(cat "$work/status")"
fi
# QEMU 7.2's software CPU can itself abort under some L2 guests (OVMF:
# "tcg_handle_interrupt: assertion failed"), taking the L1 with it.
if grep -q -e 'assertion failed' -e 'Aborted' -e 'core dumped' "$work/qemu.log"; then
	echo "nested: QEMU, the L1's emulator, crashed: $(grep -m1 -e 'assertion failed' -e Aborted "$work/qemu.log")" >&2
	exit 126
fi
[ $timedout = 1 ] && exit 124
# Or it died of a signal without a word (in CI, once, under OVMF: nothing in
# its log, the L1's console cut off mid-job).
if [ "$qemu_rc" -gt 128 ]; then
	echo "nested: QEMU, the L1's emulator, died of signal $((qemu_rc - 128)) ($(kill -l $((qemu_rc - 128)) 2>/dev/null))" >&2
	exit 126
fi
# The L1 went away by itself: with panic=-1 and -no-reboot a kernel panic or a
# reset ends QEMU. Its last console lines say which.
echo "nested: the L1 stopped before the job ended; the end of its console:" >&2
tr -d '\r' <"$work/console" | grep -v -e '^nested-l1: alive' | tail -40 | sed 's/^/  L1| /' >&2
[ -s "$work/qemu.log" ] && tail -5 "$work/qemu.log" | sed 's/^/  qemu| /' >&2
exit 128
