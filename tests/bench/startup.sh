#!/usr/bin/env bash
# make bench: the same test-guest ROM under our VMM and under QEMU, with the
# same memory and vCPUs, in one run. Prints the median of RUNS runs of: time
# from exec to the guest's first serial line, time from exec to exit (the suite
# powers off), time from the guest's last serial line ("testguest: done", just
# before its power-off) to the VMM's exit (its teardown), and the VMM's memory
# overhead, i.e. its RSS minus the pages backing guest RAM (anonymous memory in
# ours, a memfd in QEMU). Ratios are QEMU/bhyve.
#   startup.sh kvm   bin/bhyve vs qemu -enable-kvm (the comparison that counts)
#   startup.sh tcg   bin/bhyve-emu vs qemu -accel tcg: both on a software CPU
#                    (Unicorn is QEMU's TCG), for hosts without /dev/kvm
#   startup.sh       kvm where /dev/kvm is usable, else tcg
# SMAPS=1 also prints, for each memory run, where the overhead is: each VMM's
# mappings outside guest RAM (by file and permissions) with Rss, Private_Dirty,
# Private_Clean and Shared_Clean in KiB, largest first.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
roms=$top/tests/guest/build
qemu=${QEMU:-qemu-system-x86_64}
runs=${RUNS:-5}
mem=128
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bench=bench
# shellcheck source=tests/bench/accel.sh
. "$top/tests/bench/accel.sh"
[ "$mode" = tcg ] && echo "bench: no KVM here; comparing software CPUs: bin/bhyve-emu vs qemu -accel tcg"
command -v "$qemu" >/dev/null || { echo "bench: $qemu is not installed (tools/setup --tests installs it)" >&2; exit 1; }

bhyve_cmd() { # ROM
	echo "$bhyve -c 1 -m ${mem}M -s 0,hostbridge -s 31,lpc -l com1,stdio -l bootrom,$roms/$1 bench"
}
qemu_cmd() { # ROM
	echo "$qemu -accel $accel -bios $roms/$1 -nodefaults -serial stdio -display none -m $mem -smp 1" \
		"-object memory-backend-memfd,id=mem,size=${mem}M -machine pc,memory-backend=mem -no-reboot"
}
now_us() { echo "${EPOCHREALTIME/./}"; }

# timing CMD WANT: prints "first_ms exit_ms" for one run of the suite; fails,
# with the reason on stderr, unless the guest printed "testguest: done" and the
# VMM exited with status WANT (its power-off status: bhyve 1, QEMU 0), so that a
# run that crashed or hung early is never timed as a result
timing() {
	local start first="" line end status="" done=""
	start=$(now_us)
	while IFS= read -r line; do
		[ -z "$first" ] && [[ $line == testguest:* ]] && first=$(now_us)
		[[ $line == "testguest: done"* ]] && done=$(now_us)
		[[ $line == "bench-exit: "* ]] && status=${line#bench-exit: }
	done < <($1 </dev/null 2>/dev/null; s=$?; echo; echo "bench-exit: $s")
	end=$(now_us)
	if [ "$status" != "$2" ] || [ -z "$done" ] || [ -z "$first" ]; then
		echo "bench: '$1' exited with status $status (want $2)${done:+ after}${done:- before} 'testguest: done'" >&2
		return 1
	fi
	echo "$(( (first - start) / 1000 )).$(( (first - start) % 1000 / 100 )) $(( (end - start) / 1000 ))" \
		"$(( (end - done) / 1000 )).$(( (end - done) % 1000 / 100 ))"
}

# smaps_table PID CMD: the breakdown SMAPS=1 asks for
smaps_table() {
	echo "smaps of '$2' (KiB: rss private_dirty private_clean shared_clean, mapping):"
	RAMKB=$((mem << 10)) perl -e '
	my $ram = $ENV{RAMKB}; my ($cur, %v, %order);
	while (<>) {
		if (/^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/) {
			$cur = ((hex($2) - hex($1)) >> 10) == $ram ? undef : ($4 || "[anon]") . " $3";
			next;
		}
		next unless defined $cur;
		for my $f ("Rss", "Private_Dirty", "Private_Clean", "Shared_Clean") {
			$v{$cur}{$f} += $1 if /^$f:\s+(\d+)/;
		}
	}
	my $t = 0;
	for my $k (sort { $v{$b}{Rss} <=> $v{$a}{Rss} } keys %v) {
		next unless $v{$k}{Rss};
		$t += $v{$k}{Rss};
		printf "  %6d %6d %6d %6d  %s\n", map({ $v{$k}{$_} } qw(Rss Private_Dirty Private_Clean Shared_Clean)), $k;
	}
	printf "  %6d in all\n", $t;' "/proc/$1/smaps"
}

# overhead_kib CMD: "RSS private_dirty" (KiB) of the VMM process outside guest
# RAM, guest idling: what it costs in all, and what is its own (not shared
# library text, not clean pages)
overhead_kib() {
	local pid kib pd=0
	$1 </dev/null >"$tmp/out" 2>/dev/null &
	pid=$!
	for _ in $(seq 200); do grep -q 'testguest: spin' "$tmp/out" && break; sleep 0.05; done
	sleep 1
	# Guest RAM is the one mapping of exactly its size (ours anonymous, QEMU's a memfd).
	kib=0
	local l ram=0
	while IFS= read -r l; do
		if [[ $l =~ ^([0-9a-f]+)-([0-9a-f]+)\  ]]; then
			ram=$(((16#${BASH_REMATCH[2]} - 16#${BASH_REMATCH[1]}) == (mem << 20)))
		elif [ "$ram" = 0 ] && [[ $l =~ ^Rss:\ +([0-9]+) ]]; then
			kib=$((kib + BASH_REMATCH[1]))
		elif [ "$ram" = 0 ] && [[ $l =~ ^Private_Dirty:\ +([0-9]+) ]]; then
			pd=$((pd + BASH_REMATCH[1]))
		fi
	done <"/proc/$pid/smaps"
	[ "${SMAPS:-0}" = 1 ] && smaps_table "$pid" "$1" >&2
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	echo "$kib $pd"
}

# starts CMD WANT PAR: VM starts per second, PAR streams of 10 back-to-back runs
# of CMD (a guest that powers off at once); every run must end with status WANT.
starts() {
	local s e p cmd
	: >"$tmp/bad"
	s=$(now_us)
	for p in $(seq "$3"); do
		# Each stream its own VM name: two bhyves cannot hold one.
		cmd=$1
		[[ $cmd == *" bench" ]] && cmd="${cmd% bench} bench$p"
		# (A start that hangs ends at 60 s and fails the run, instead of the
		# whole benchmark waiting; timeout's own fork costs both VMMs alike.)
		(for _ in $(seq 10); do
			timeout -k 5 60 $cmd </dev/null >/dev/null 2>&1
			st=$?
			[ "$st" = "$2" ] || echo "$st" >>"$tmp/bad"
		done) &
	done
	wait
	e=$(now_us)
	if [ -s "$tmp/bad" ]; then
		echo "bench: '$1' exited with status $(head -n 1 "$tmp/bad") (want $2) in the starts-per-second run" >&2
		return 1
	fi
	awk -v c=$((10 * $3)) -v us=$((e - s)) 'BEGIN{printf "%.1f", c * 1e6 / us}'
}

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
mm() { sort -n "$tmp/$1" | awk 'NR == 1 {lo = $1} {hi = $1} END{print lo "-" hi}'; }

# Interleaved, ours then QEMU's in each round, so that a change in the host's
# load falls on both alike.
for vmm in bhyve qemu; do
	for m in first exit down mem pd s1 s2; do : >"$tmp/$vmm.$m"; done
done
for round in $(seq "$runs"); do
	echo "startup: round $round of $runs ($SECONDS s)" >&2
	for vmm in bhyve qemu; do
		want=$([ "$vmm" = bhyve ] && echo 1 || echo 0)
		t=$(timing "$(${vmm}_cmd guest.rom)" "$want") || exit 1
		read -r f e d <<<"$t"
		echo "$f" >>"$tmp/$vmm.first"; echo "$e" >>"$tmp/$vmm.exit"; echo "$d" >>"$tmp/$vmm.down"
		read -r k p <<<"$(overhead_kib "$(${vmm}_cmd spin.rom)")"
		echo "$k" >>"$tmp/$vmm.mem"; echo "$p" >>"$tmp/$vmm.pd"
		starts "$(${vmm}_cmd badport.rom)" "$want" 1 >>"$tmp/$vmm.s1" || exit 1
		echo >>"$tmp/$vmm.s1"
		starts "$(${vmm}_cmd badport.rom)" "$want" 2 >>"$tmp/$vmm.s2" || exit 1
		echo >>"$tmp/$vmm.s2"
	done
done

printf '%-34s %22s %22s %8s\n' "$mode: $runs runs, 1 vCPU, ${mem} MiB" "$(basename "$bhyve")" qemu ratio
for m in first exit down mem pd s1 s2; do
	b=$(median <"$tmp/bhyve.$m"); q=$(median <"$tmp/qemu.$m")
	case $m in
	first) label="exec to first serial line (ms)" ;;
	exit) label="exec to power-off exit (ms)" ;;
	down) label="last serial line to exit (ms)" ;;
	mem) label="VMM memory overhead (KiB)" ;;
	pd) label="  of which private dirty (KiB)" ;;
	s1) label="VM starts/s, one at a time" ;;
	s2) label="VM starts/s, two at a time" ;;
	esac
	# Higher is better for starts per second: the ratio is then bhyve/qemu.
	case $m in
	s*) r=$(awk -v b="$b" -v q="$q" 'BEGIN{printf "%.1fx", (q > 0 ? b / q : 0)}') ;;
	*) r=$(awk -v b="$b" -v q="$q" 'BEGIN{printf "%.1fx", (b > 0 ? q / b : 0)}') ;;
	esac
	printf '%-34s %22s %22s %8s\n' "$label" "$b ($(mm "bhyve.$m"))" "$q ($(mm "qemu.$m"))" "$r"
done
echo "(cells: median (min-max); ratios from the medians, above 1 where ours is better)"

echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
