#!/bin/sh
# vmrun.sh, as FreeBSD ships it in /usr/share/examples/bhyve, for this bhyve:
# runs VMNAME with a boot ROM (-E for UEFI with OVMF, or -f FILE) or, for
# Linux images, the grub-bhyve loader; loops while bhyve exits 0 (a reboot),
# and destroys the VM at the end. Options that need what this bhyve does not
# have (a framebuffer, PCI pass-through, bhyveload) are refused with one line.
#
# BHYVE, BHYVECTL, GRUB_BHYVE and OVMF_CODE name the programs and the UEFI
# firmware, for tests and for trees that are not installed.

BHYVE=${BHYVE:-bhyve}
BHYVECTL=${BHYVECTL:-bhyvectl}
GRUB_BHYVE=${GRUB_BHYVE:-grub-bhyve}
DEFAULT_UEFI=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}

DEFAULT_MEMSIZE=512M
DEFAULT_CPUS=2
DEFAULT_TAPDEV=tap0
DEFAULT_CONSOLE=stdio
DEFAULT_NIC=virtio-net
DEFAULT_DISK=virtio-blk
DEFAULT_VIRTIO_DISK="./diskdev"
DEFAULT_ISOFILE="./release.iso"

errmsg() {
	echo "*** $1" >&2
}

usage() {
	msg=$1
	cat >&2 <<USAGE
Usage: vmrun.sh [-aAEhiTuvw] [-c <CPUs>] [-C <console>] [-d <disk file>]
                [-e <name=value>] [-f <path of firmware>] [-F <size>]
                [-G [w][address:]port] [-H <directory>]
                [-I <location of installation iso>] [-l <loader>]
                [-L <VNC IP for UEFI framebuffer>] [-m <memsize>]
                [-n <network adapter emulation type>]
                [-p <pcidev|bus/slot/func>] [-P <port>] [-t <tapdev>] <vmname>

       -h: display this help message
       -a: force memory mapped local APIC access
       -A: use AHCI disk emulation instead of ${DEFAULT_DISK}
       -c: number of virtual cpus (default: ${DEFAULT_CPUS})
       -C: console device (default: ${DEFAULT_CONSOLE})
       -d: virtio diskdev file (default: ${DEFAULT_VIRTIO_DISK})
       -E: Use UEFI mode (firmware: ${DEFAULT_UEFI})
       -f: Use a specific boot firmware
       -i: force boot of the Installation CDROM image
       -I: Installation CDROM image location (default: ${DEFAULT_ISOFILE})
       -l: the OS loader to use (default: ${GRUB_BHYVE})
       -m: memory size (default: ${DEFAULT_MEMSIZE})
       -n: network adapter emulation type (default: ${DEFAULT_NIC})
       -t: tap device for virtio-net (default: ${DEFAULT_TAPDEV})
       -u: RTC keeps UTC time
       -w: ignore unimplemented MSRs
       (-e, -H: bhyveload; -F, -L, -P, -T, -v: a framebuffer; -G: a debug
       server; -p: PCI pass-through: not available in this bhyve)

USAGE
	[ -n "$msg" ] && errmsg "$msg"
	exit 1
}

refuse() {
	errmsg "$1"
	exit 1
}

force_install=0
isofile=${DEFAULT_ISOFILE}
memsize=${DEFAULT_MEMSIZE}
console=${DEFAULT_CONSOLE}
cpus=${DEFAULT_CPUS}
nic=${DEFAULT_NIC}
disk_emul=${DEFAULT_DISK}
loader=${GRUB_BHYVE}
tap_total=0
disk_total=0
bhyverun_opt=""
firmware=""

while getopts aAc:C:d:e:Ef:F:G:hH:iI:l:L:m:n:p:P:t:Tuvw c; do
	case $c in
	a) bhyverun_opt="${bhyverun_opt} -a" ;;
	A) disk_emul="ahci-hd" ;;
	c) cpus=${OPTARG} ;;
	C) console=${OPTARG} ;;
	d)
		eval "disk_dev${disk_total}=\"\${OPTARG}\""
		disk_total=$((disk_total + 1))
		;;
	e | H) refuse "-$c sets up bhyveload (FreeBSD guests), which is not implemented yet: use -E (UEFI)" ;;
	E) firmware=${DEFAULT_UEFI} ;;
	f) firmware=${OPTARG} ;;
	F | L | P | T | v) refuse "-$c needs a framebuffer, which this bhyve does not have yet" ;;
	G) refuse "-G: the debug server is not implemented yet" ;;
	i) force_install=1 ;;
	I) isofile=${OPTARG} ;;
	l) loader=${OPTARG} ;;
	m) memsize=${OPTARG} ;;
	n) nic=${OPTARG} ;;
	p) refuse "-p: PCI pass-through is not available in this bhyve" ;;
	t)
		eval "tap_dev${tap_total}=\"\${OPTARG}\""
		tap_total=$((tap_total + 1))
		;;
	u) bhyverun_opt="${bhyverun_opt} -u" ;;
	w) bhyverun_opt="${bhyverun_opt} -w" ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage "virtual machine name not specified"
vmname="$1"

[ "$nic" = virtio-net ] || refuse "-n ${nic}: only virtio-net is available"
# shellcheck disable=SC2034 # read through eval below
[ $tap_total -eq 0 ] && { tap_dev0=${DEFAULT_TAPDEV}; tap_total=1; }
[ $disk_total -eq 0 ] && { disk_dev0=${DEFAULT_VIRTIO_DISK}; disk_total=1; }
if [ -n "$firmware" ] && [ ! -r "$firmware" ]; then
	refuse "boot firmware ${firmware} is not readable"
fi
if [ -z "$firmware" ] && ! command -v "$loader" >/dev/null 2>&1; then
	refuse "no boot firmware (-E or -f) and no loader ${loader}: put bin/grub-bhyve in PATH (or GRUB_BHYVE=path) or use -E (UEFI)"
fi
# An empty first disk is a fresh install, as FreeBSD's vmrun.sh decides it.
if [ ! -s "$disk_dev0" ]; then
	force_install=1
fi
if [ $force_install -eq 1 ] && [ ! -r "$isofile" ]; then
	refuse "installation CD image ${isofile} is not readable"
fi

rc=0
while true; do
	devargs="-s 0,hostbridge -s 31,lpc -l com1,${console}"
	nextslot=2
	if [ $force_install -eq 1 ]; then
		devargs="$devargs -s ${nextslot},ahci-cd,${isofile}"
		nextslot=$((nextslot + 1))
	fi
	i=0
	while [ $i -lt $disk_total ]; do
		eval "disk=\${disk_dev${i}}"
		# shellcheck disable=SC2154 # disk is assigned by eval
		devargs="$devargs -s ${nextslot},${disk_emul},${disk}"
		nextslot=$((nextslot + 1))
		i=$((i + 1))
	done
	i=0
	while [ $i -lt $tap_total ]; do
		eval "tap=\${tap_dev${i}}"
		# shellcheck disable=SC2154 # tap is assigned by eval
		devargs="$devargs -s ${nextslot},virtio-net,${tap}"
		nextslot=$((nextslot + 1))
		i=$((i + 1))
	done

	if [ -n "$firmware" ]; then
		bootargs="-l bootrom,${firmware}"
	else
		# grub-bhyve loads the kernel into the VM; bhyve then runs it.
		map=$(mktemp)
		echo "(hd0) ${disk_dev0}" >"$map"
		root=hd0,msdos1
		if [ $force_install -eq 1 ]; then
			echo "(cd0) ${isofile}" >>"$map"
			root=cd0
		fi
		"$loader" -m "$map" -r "$root" -M "$memsize" -c "$console" "$vmname"
		rc=$?
		rm -f "$map"
		[ $rc -ne 0 ] && break
		bootargs=""
	fi

	# shellcheck disable=SC2086
	"$BHYVE" -c "$cpus" -m "$memsize" $bhyverun_opt $devargs $bootargs "$vmname"
	rc=$?
	# Exit 0 is a reboot: boot again, from the disk after an installation.
	[ $rc -ne 0 ] && break
	force_install=0
done

"$BHYVECTL" --vm="$vmname" --destroy >/dev/null 2>&1
exit $rc
