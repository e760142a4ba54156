# shellcheck shell=bash disable=SC2034  # accel and mode are for the script sourcing this
# Sourced by the benchmarks: picks what runs the guest from $1 (kvm, tcg, or
# empty: kvm where /dev/kvm is usable, else tcg) and sets $mode, $accel (QEMU's
# -accel) and $bhyve (bin/bhyve on KVM, bin/bhyve-emu on the software CPU).
# Needs $top and $bench (the name in messages). Exits on a bad choice.
: "${top:?}" "${bench:?}"
kvm_ok=no
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && kvm_ok=yes
mode=${1:-$([ $kvm_ok = yes ] && echo kvm || echo tcg)}
case $mode in
kvm)
	[ $kvm_ok = yes ] || { echo "$bench: /dev/kvm is not usable on this machine; try: $0 tcg" >&2; exit 1; }
	bhyve=$top/bin/bhyve accel=kvm
	;;
tcg)
	bhyve=$top/bin/bhyve-emu accel=tcg
	[ -x "$bhyve" ] || { echo "$bench: bin/bhyve-emu was not built (needs libunicorn-dev)" >&2; exit 1; }
	;;
*)
	echo "usage: $0 [kvm|tcg]" >&2
	exit 2
	;;
esac
