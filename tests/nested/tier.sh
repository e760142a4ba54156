#!/usr/bin/env bash
# The nested tier: every test that needs real KVM, run inside an L1 Linux
# under QEMU's software CPU with emulated SVM (tests/nested/run.sh). Their
# PASS/FAIL/SKIP lines come out prefixed "nested-", with the time of each stage.
#   tier.sh         runs where /dev/kvm is missing or PVM (there the KVM tiers
#                   cannot run real guests); on real KVM it says it skips,
#                   since the same tiers ran directly
#   tier.sh force   runs anyway (make check-nested)
# NESTED_SECONDS bounds the whole L1 run (default 2700).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

if [ -n "${NESTED_L1:-}" ]; then
	# Inside the L1: the KVM tiers, one after another, each timed and bounded.
	stage() {
		local name=$1 secs=$2 start=$SECONDS
		shift 2
		timeout -k 10 "$secs" "$@" 2>&1 | sed -u -e 's/^\(PASS\|FAIL\|SKIP\) /\1 nested-/'
		local rc=${PIPESTATUS[0]}
		[ "$rc" = 124 ] && echo "FAIL nested-$name: ran past its $secs s"
		echo "nested: stage $name took $((SECONDS - start)) s"
	}
	echo "nested: kvm module $(ls /sys/module | grep -x -e kvm_amd -e kvm_intel -e kvm_pvm | head -1)," \
		"nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null)" \
		"npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)"
	stage guest 900 tests/guest/test_guest.sh kvm
	stage seabios 600 tests/boot/seabios.sh kvm
	stage ovmf 600 tests/boot/ovmf.sh kvm
	if [ -x tests/linux/linux.sh ]; then
		stage linux 1200 tests/linux/linux.sh
	fi
	exit 0
fi

names=(guest seabios ovmf linux)
skip_all() { for n in "${names[@]}"; do echo "SKIP nested-$n: $1"; done; exit 0; }
if [ "${1:-}" != force ] && [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
	skip_all "this host has hardware KVM, so the KVM tiers ran on it directly (make check-nested runs them nested too)"
fi
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 is missing (Debian package qemu-system-x86)"
tests/nested/kernel.sh >/dev/null || skip_all "no Debian kernel with kvm-amd in /boot (Debian package linux-image-amd64)"
file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || skip_all "/bin/busybox is not static (Debian package busybox-static)"

start=$SECONDS
out=$(mktemp)
trap 'rm -f "$out"' EXIT
tests/nested/run.sh -t "${NESTED_SECONDS:-2700}" tests/nested/tier.sh 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
echo "nested: the whole tier took $((SECONDS - start)) s"
if [ "$rc" != 0 ]; then
	echo "FAIL nested-l1: the L1 run ended with status $rc (124: ran past its time; 125: the L1 did not come up)"
fi
grep -q '^\(PASS\|FAIL\|SKIP\) nested-' "$out" || echo "FAIL nested-l1: no test ran in the L1"
exit 0
