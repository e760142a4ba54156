#!/usr/bin/env bash
# make bench: the graphical console over VNC, ours (fbuf, bhyve/backends/rfb.c
# on libvncserver) against QEMU's VNC server with its standard VGA (-device VGA,
# the same 1234:1111 Bochs DISPI device), in one run, interleaved: PAIRS (default
# 3) pairs of runs, ours then QEMU's.
#   redraw  the test guest's gfxdraw.rom (tests/guest/gfxbench.inc): a
#           1024x768x32 mode, a 256x256 square redrawn in a new colour 60
#           times a second; build/tests/vncclient -M (on libvncclient) over TCP
#           asks for the next incremental update as soon as one is complete,
#           for SECS (default 5) seconds per encoding (tight without JPEG, ZRLE,
#           raw): updates (frames) per second and KiB per second received (the
#           kernel's count for the socket)
#   idle    gfxidle.rom: the same screen drawn once, then HLT (every interrupt
#           masked): the VMM process's CPU time (all its threads' run time,
#           /proc/PID/task/*/schedstat) over SECS seconds without a client, then with a
#           client connected asking for updates (which never come)
# Prints each run, then the median and min-max of each measure and the ratio
# of the medians ours/QEMU.
#   gfx.sh kvm   bin/bhyve vs qemu -enable-kvm
#   gfx.sh tcg   bin/bhyve-emu vs qemu -accel tcg: both on software CPUs (ours
#                on Unicorn, QEMU on TCG), so the guest's drawing costs CPU
#                in both; the VNC servers are native code in both
#   gfx.sh       kvm where /dev/kvm is usable, else tcg
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
qemu=${QEMU:-qemu-system-x86_64}
client=$top/build/tests/vncclient
pairs=${PAIRS:-3}
secs=${SECS:-5}
encs=(tight zrle raw)
bench=gfx

# shellcheck source=tests/bench/accel.sh
. "$top/tests/bench/accel.sh"
command -v "$qemu" >/dev/null || { echo "$bench: $qemu is not installed (tools/setup --tests installs it)" >&2; exit 1; }
[ -x "$client" ] || { echo "$bench: build/tests/vncclient was not built (needs libvncserver-dev)" >&2; exit 1; }
for r in gfxdraw gfxidle; do
	[ -f "$top/tests/guest/build/$r.rom" ] || { echo "$bench: tests/guest/build/$r.rom is missing (make guest)" >&2; exit 1; }
done
tmp=$(mktemp -d)
export BHYVE_VMM_DIR=$tmp/vmm BHYVE_RUN_DIR=$tmp/run
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# A free TCP port for QEMU's display number (5900 + D).
free_port() {
	python3 -c 'import socket
for p in range(5950, 6000):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass'
}

# start WHO ROM: the VMM in the background ($pid, COM1 in $tmp/out), VNC on $port.
start() {
	port=$(free_port)
	: >"$tmp/out"
	case $1 in
	ours)
		"$bhyve" -c 1 -m 128M -s 0,hostbridge -s "29,fbuf,tcp=127.0.0.1:$port,w=1024,h=768" \
			-s 31,lpc -l com1,stdio -l "bootrom,$top/tests/guest/build/$2.rom" "gfxbench-$2" \
			</dev/null >"$tmp/out" 2>"$tmp/err" &
		;;
	qemu)
		"$qemu" -accel "$accel" -bios "$top/tests/guest/build/$2.rom" -nodefaults -device VGA \
			-serial stdio -display none -vnc "127.0.0.1:$((port - 5900))" -m 128 -smp 1 \
			-no-reboot </dev/null >"$tmp/out" 2>"$tmp/err" &
		;;
	esac
	pid=$!
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }
# wait_for TEXT SECONDS: until the guest printed TEXT.
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -qF -- "$1" "$tmp/out" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "$bench: $who: the guest did not print '$1':" >&2
	sed 's/^/  | /' "$tmp/out" "$tmp/err" >&2
	return 1
}
# The VMM's CPU time in ns: the scheduler's count for each of its threads
# (finer than /proc/PID/stat's clock ticks, 10 ms here).
cpu_ns() { cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{n += $1} END {printf "%.0f", n}'; }
# cpu_pct SECONDS: the VMM's CPU over that time, in % of one CPU.
cpu_pct() {
	local a b
	a=$(cpu_ns)
	sleep "$1"
	b=$(cpu_ns)
	awk -v a="$a" -v b="$b" -v s="$1" 'BEGIN{printf "%.2f", (b - a) / 1e7 / s}'
}
# put NAME VALUE: one sample of a measure for $who.
put() { echo "$2" >>"$tmp/$who.$1"; }

redraw() {
	local enc line
	start "$who" gfxdraw
	wait_for "gfxbench: drawing" 60 || return 1
	for enc in "${encs[@]}"; do
		"$client" -e "$enc" -t 30 -M "$secs" "127.0.0.1:$port" >"$tmp/client" 2>&1
		line=$(grep '^vncclient: measured' "$tmp/client")
		if [ -z "$line" ] || ! grep -q 'desktop 1024x768' <<<"$line"; then
			echo "$bench: $who: no measure with $enc:" >&2
			sed 's/^/  | /' "$tmp/client" "$tmp/out" "$tmp/err" >&2
			return 1
		fi
		read -r t f b < <(sed -n 's/.*measured \([0-9.]*\) s.*: \([0-9]*\) frames,.* \([0-9-]*\) bytes$/\1 \2 \3/p' <<<"$line")
		put "fps.$enc" "$(awk -v f="$f" -v t="$t" 'BEGIN{printf "%.1f", f / t}')"
		put "kib.$enc" "$(awk -v b="$b" -v t="$t" 'BEGIN{printf "%.0f", b / 1024 / t}')"
		echo "$bench: pair $i $who redraw $enc: $f frames, $b bytes in $t s"
	done
	# What the guest managed to draw (60 asked) over the whole run.
	line=$(tr -d '\r' <"$tmp/out" | sed -n 's/^gfxbench: \([0-9]*\) frames in \([0-9]*\) s$/\1 \2/p' | tail -1)
	put guestfps "$(awk -v l="$line" 'BEGIN{split(l, a, " "); printf "%.1f", a[2] ? a[1] / a[2] : 0}')"
	stop
}

idle() {
	local c
	start "$who" gfxidle
	wait_for "gfxbench: idle" 60 || return 1
	sleep 1
	put cpu.noclient "$(cpu_pct "$secs")"
	"$client" -e tight -i $((secs + 3)) "127.0.0.1:$port" >"$tmp/client" 2>&1 &
	c=$!
	sleep 2
	put cpu.client "$(cpu_pct "$secs")"
	wait "$c"
	if ! grep -q "idle $((secs + 3)) s:" "$tmp/client"; then
		echo "$bench: $who: the idle client failed:" >&2
		sed 's/^/  | /' "$tmp/client" >&2
		return 1
	fi
	echo "$bench: pair $i $who idle: no client $(tail -1 "$tmp/$who.cpu.noclient")% CPU," \
		"a client $(tail -1 "$tmp/$who.cpu.client")% CPU ($(sed -n 's/.*s: //p' "$tmp/client"))"
	kill -0 "$pid" 2>/dev/null || { echo "$bench: $who: the idle guest ended" >&2; return 1; }
	stop
}

for i in $(seq "$pairs"); do
	for who in ours qemu; do
		redraw || exit 1
		idle || exit 1
	done
done

# stats FILE: "median min-max"
stats() {
	sort -n "$1" | awk '{v[NR] = $1} END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%s %s-%s", m, v[1], v[NR]}'
}
echo
printf '%-34s %20s %20s %9s\n' "$mode, $pairs pairs, median (min-max)" "$(basename "$bhyve")" qemu ours/qemu
row() { # row LABEL MEASURE
	local o q
	read -r om orange < <(stats "$tmp/ours.$2")
	read -r qm qrange < <(stats "$tmp/qemu.$2")
	o="$om ($orange)" q="$qm ($qrange)"
	printf '%-34s %20s %20s %9s\n' "$1" "$o" "$q" \
		"$(awk -v a="$om" -v b="$qm" 'BEGIN{if (b > 0) printf "%.2fx", a / b; else print "-"}')"
}
for enc in "${encs[@]}"; do
	row "redraw $enc: frames/s" "fps.$enc"
	row "redraw $enc: KiB/s" "kib.$enc"
done
row "redraw: guest frames drawn/s" guestfps
row "idle, no client: CPU %" cpu.noclient
row "idle, a client: CPU %" cpu.client
echo "guest: 1 vCPU, 1024x768x32, a 256x256 square redrawn 60 times a second (idle: halted);"\
	"client: libvncclient, next incremental request once an update is complete, ${secs} s each"
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
