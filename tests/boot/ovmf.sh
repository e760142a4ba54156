#!/usr/bin/env bash
# Debian's OVMF (the ovmf package: OVMF_CODE_4M.fd and a per-guest copy of
# OVMF_VARS_4M.fd), QEMU's UEFI firmware, on our platform with the Q35 host
# bridge IDs it requires. Prints PASS/FAIL/SKIP lines.
#   kvm-ovmf-uefi_shell         bin/bhyve: the firmware reaches its UEFI shell on
#                               COM1 and has written variables into the VARS copy
#   emu-ovmf-pei_platform       bin/bhyve-emu: what OVMF's SEC/PEI phases do with
#                               the platform, read back from -o debug.iotrace
#   emu-ovmf-q35_memory_limit   the Q35 IDs refuse RAM that would cover ECAM
# "ovmf.sh kvm" runs only the first (the nested tier uses that);
# "ovmf.sh reference" runs only QEMU's VMM on the same firmware and /dev/kvm
# and says whether it reached the shell (the nested tier's reference).
set -u
only=${1:-all}
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/progress.sh
. "$top/tests/progress.sh"
code=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
vars=${OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
q35=(-s 0,hostbridge,vendor=0x8086,devid=0x29c0 -s 31,lpc)
pass() { echo "PASS $1"; }
fail() {
	echo "FAIL $1: $2"
	sed 's/^/  | /' "$tmp/err" 2>/dev/null | tail -5
}
nofw=""
[ -r "$code" ] && [ -r "$vars" ] || nofw="$code or $vars is missing (Debian package ovmf)"
limit=300

# qemu_reference: QEMU's VMM boots the same firmware on the same /dev/kvm for
# up to $limit s; succeeds when it reaches the shell, else sets qwhy.
qemu_reference() {
	cp "$vars" "$tmp/qvars.fd"
	qemu-system-x86_64 -enable-kvm -machine q35 -smp 2 -m 1G \
		-drive "if=pflash,format=raw,readonly=on,file=$code" \
		-drive "if=pflash,format=raw,file=$tmp/qvars.fd" -nic none -display none \
		-serial "file:$tmp/qout" </dev/null >"$tmp/qerr" 2>&1 &
	local qpid=$!
	SECONDS=0
	progress_start "QEMU's OVMF (the reference) to reach its UEFI shell (up to $limit s)"
	# (No timeout(1) around QEMU: killing it would leave QEMU running.)
	while kill -0 "$qpid" 2>/dev/null && [ $SECONDS -lt $limit ]; do
		grep -aq 'Shell>' "$tmp/qout" 2>/dev/null && break
		grep -q 'emulation failure' "$tmp/qerr" && break
		progress
		sleep 0.5
	done
	kill -9 "$qpid" 2>/dev/null
	wait "$qpid" 2>/dev/null
	grep -aq 'Shell>' "$tmp/qout" 2>/dev/null && return 0
	qwhy=$(grep -m1 -o 'KVM internal error.*\|emulation failure' "$tmp/qerr")
	qwhy=${qwhy:-no shell in ${SECONDS} s}
	return 1
}
if [ "$only" = reference ]; then
	if [ -n "$nofw" ]; then echo "ovmf reference: $nofw"
	elif qemu_reference; then echo "ovmf reference: QEMU reached the UEFI shell"
	else echo "ovmf reference: QEMU did not reach the shell ($qwhy)"
	fi
	exit 0
fi

# On KVM: the firmware's own screen on the serial console, up to the shell.
t=kvm-ovmf-uefi_shell
if [ -n "$nofw" ]; then
	echo "SKIP $t: $nofw"
elif [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "SKIP $t: /dev/kvm is not usable on this machine (OVMF's CPL0 code needs KVM; bhyve-emu stops in its PEI phase, see emu-ovmf-pei_platform)"
else
	# Ours, then (if ours fails) QEMU on the same /dev/kvm as the reference: a
	# host whose KVM cannot run OVMF (PVM emulates guest ring 0 and stops at
	# its fninit) fails QEMU the same way, and that is a skip, not a failure.
	cp "$vars" "$tmp/vars.fd"
	"$top/bin/bhyve" -c 2 -m 1G "${q35[@]}" -l com1,stdio \
		-l "bootrom,$code,$tmp/vars.fd" ovmf-kvm </dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	SECONDS=0
	progress_start "OVMF under bin/bhyve to reach its UEFI shell (up to $limit s)"
	while [ $SECONDS -lt $limit ] && kill -0 "$pid" 2>/dev/null; do
		grep -aq 'Shell>' "$tmp/out" && break
		progress
		sleep 0.5
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	ours=""
	if ! grep -aq 'UEFI Interactive Shell' "$tmp/out" || ! grep -aq 'Shell>' "$tmp/out"; then
		ours="no UEFI shell on COM1 after ${SECONDS} s"
		[ -s "$tmp/err" ] && ours="$ours ($(tail -1 "$tmp/err"))"
	elif cmp -s "$vars" "$tmp/vars.fd"; then
		fail $t "the firmware wrote no variables to its VARS copy (flash not found?)"
	else
		pass $t
	fi
	if [ -n "$ours" ]; then
		if qemu_reference; then
			fail $t "$ours; QEMU on the same /dev/kvm reached the shell"
		else
			echo "SKIP $t: this host's KVM cannot run OVMF: ours stopped ($ours)," \
				"and QEMU on the same /dev/kvm did not reach the shell either ($qwhy)"
		fi
	fi
fi

[ "$only" = kvm ] && exit 0

# On the software CPU: OVMF's SEC and PEI run (about 30 s) until the software
# CPU stops; the port and MMIO trace shows the platform as the firmware found it.
t=emu-ovmf-pei_platform
if [ -n "$nofw" ]; then
	echo "SKIP $t: $nofw"
elif [ ! -x "$top/bin/bhyve-emu" ]; then
	echo "SKIP $t: bin/bhyve-emu was not built (needs libunicorn-dev)"
else
	cp "$vars" "$tmp/vars.fd"
	timeout 180 "$top/bin/bhyve-emu" -m 512M -o "debug.iotrace=$tmp/trace" "${q35[@]}" \
		-l com1,stdio -l "bootrom,$code,$tmp/vars.fd" ovmf-emu </dev/null >"$tmp/out" 2>"$tmp/err"
	# step NAME PATTERN...: the next lines of the trace after the previous step
	# match these consecutive lines.
	why=""
	at=0
	step() {
		local name=$1 n
		shift
		n=$(awk -v from="$at" -v want="$(printf '%s\n' "$@")" '
			BEGIN { k = split(want, w, "\n"); if (w[k] == "") k-- }
			NR > from { line[NR] = $0
				if (NR - from >= k) {
					ok = 1
					for (i = 1; i <= k; i++) if (line[NR - k + i] != w[i]) { ok = 0; break }
					if (ok) { print NR; exit }
				} }' "$tmp/trace")
		if [ -z "$n" ]; then why=${why:-"no $name in the trace"}; return 1; fi
		at=$n
	}
	# 1. QEMU's fw_cfg signature, read through the data port.
	step "fw_cfg signature read" 'io out 0x0510 2 0x0' 'io in 0x0511 1 0x51' 'io in 0x0511 1 0x45' \
		'io in 0x0511 1 0x4d' 'io in 0x0511 1 0x55' &&
	# 2. The variable store's firmware-volume header, read through the flash.
	step "_FVH read from the VARS flash" 'mmio r 0xffc00028 4 0x4856465f' &&
	# 3. Q35 found: ACPI_CNTL at 00:1f.0 already has ACPI_EN, so PMBASE stays 0x400 ...
	step "ACPI_EN seen set at 00:1f.0" 'io out 0x0cf8 4 0x8000f844' 'io in 0x0cfc 1 0x80' &&
	# 4. ... and PCIEXBAR at 0xB0000000, enabled, on the host bridge.
	step "PCIEXBAR programmed" 'io out 0x0cf8 4 0x80000060' 'io out 0x0cfc 4 0xb0000001'
	if [ -z "$why" ] && grep -A1 -x 'io out 0x0cf8 4 0x8000f840' "$tmp/trace" | grep -q '^io out 0x0cfc'; then
		why="OVMF rewrote PMBASE although ACPI_EN was set"
	fi
	if [ -n "$why" ]; then fail $t "$why"; else pass $t; fi
fi

# RAM below 4 GiB must end where Q35's ECAM (0xB0000000) begins: one line, exit 4.
t=emu-ovmf-q35_memory_limit
if [ ! -x "$top/bin/bhyve-emu" ]; then
	echo "SKIP $t: bin/bhyve-emu was not built (needs libunicorn-dev)"
else
	"$top/bin/bhyve-emu" -m 4G "${q35[@]}" -l "bootrom,$top/tests/guest/build/guest.rom" \
		ovmf-mem </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 4 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'ECAM at 0xb0000000' "$tmp/err"; then
		pass $t
	else
		fail $t "status $rc, expected 4 with one line"
	fi
fi
