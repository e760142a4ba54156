#!/usr/bin/env bash
# bhyve's command line without a guest: flags become bhyve_config(5) keys, and bad
# input is refused with FreeBSD's exit status and wording (the table below); what
# can only fail once the VM is being built is one line and exit status 4.
# Prints PASS/FAIL/SKIP lines.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bhyve=${BHYVE:-$top/bin/bhyve}
rom=$top/tests/guest/build/guest.rom
tmp=$(mktemp -d)
# The VM registry (/dev/vmm, /run/bhyve) of this run only.
export BHYVE_VMM_DIR=$tmp/vmm BHYVE_RUN_DIR=$tmp/run
trap 'rm -rf "$tmp"' EXIT
fails=0

# run ARGS...: status in $rc, stdout in $tmp/out, stderr in $tmp/err
run() { "$bhyve" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?; }
fail() { echo "FAIL cli-$1: $2"; sed 's/^/  | /' "$tmp/out" "$tmp/err" | head -20; fails=$((fails + 1)); }

# expect_error NAME MESSAGE ARGS...: exit 4, exactly one line on stderr containing MESSAGE
expect_error() {
	local name=$1 msg=$2
	shift 2
	run "$@"
	if [ "$rc" -ne 4 ]; then fail "$name" "exit status $rc, expected 4"
	elif [ "$(wc -l <"$tmp/err")" -ne 1 ]; then fail "$name" "expected one line on stderr"
	elif ! grep -qF -- "$msg" "$tmp/err"; then fail "$name" "stderr lacks '$msg'"
	else echo "PASS cli-$name"; fi
}

# expect_status NAME STATUS MESSAGE ARGS...: exit STATUS with MESSAGE on stderr and
# nothing on stdout. Status 0 (-h) and 1 are usage(): the usage text on stderr after
# at most one line; any other status is at most two lines (a detail, then FreeBSD's).
expect_status() {
	local name=$1 want=$2 msg=$3 lines
	shift 3
	run "$@"
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" -ne "$want" ]; then fail "$name" "exit status $rc, expected $want"
	elif [ -s "$tmp/out" ]; then fail "$name" "output on stdout"
	elif ! grep -qF -- "$msg" "$tmp/err"; then fail "$name" "stderr lacks '$msg'"
	elif [ "$want" -le 1 ] && ! grep -q '^Usage: bhyve ' "$tmp/err"; then fail "$name" "no usage on stderr"
	elif [ "$want" -le 1 ] && [ "$(grep -c -v '^ ' "$tmp/err")" -gt 2 ]; then
		fail "$name" "more than one line before the usage"
	elif [ "$want" -gt 1 ] && [ "$lines" -gt 2 ]; then fail "$name" "more than two lines on stderr"
	else echo "PASS cli-$name"; fi
}

# expect_keys NAME "key=value ..." ARGS...: config.dump (exit 1) shows every pair
expect_keys() {
	local name=$1 pairs=$2 kv
	shift 2
	run -o config.dump=1 "$@"
	if [ "$rc" -ne 1 ]; then fail "$name" "config.dump exit status $rc, expected 1"; return; fi
	for kv in $pairs; do
		grep -qxF -- "$kv" "$tmp/out" || { fail "$name" "missing $kv"; return; }
	done
	echo "PASS cli-$name"
}

run -s help
if [ "$rc" -eq 0 ] && grep -qx hostbridge "$tmp/out" && grep -qx amd_hostbridge "$tmp/out" &&
    grep -qx lpc "$tmp/out"; then echo "PASS cli-s_help_lists_emulations"
else fail s_help_lists_emulations "status $rc"; fi

run -l help
if [ "$rc" -eq 0 ] && grep -qx bootrom "$tmp/out" && [ "$(grep '^com' "$tmp/out" | tr '\n' ' ')" = "com1 com2 com3 com4 " ]; then
	echo "PASS cli-l_help_lists_lpc_devices"
else fail l_help_lists_lpc_devices "status $rc, or not com1..com4 in order"; fi

# -h: every flag getopt takes is in the synopsis and has its line (libvirt's bhyve
# driver reads them from stderr, e.g. "-u:").
run -h
flags=$(sed -n 's/.*getopt(argc, argv, "\([^"]*\)").*/\1/p' "$top/bhyve/options.c" | tr -d ':')
missing=""
for f in $(echo "$flags" | fold -w1); do
	grep -q -- "^       -$f: " "$tmp/err" || missing="$missing -$f"
	sed -n '1,/vmname$/p' "$tmp/err" | grep -q -- "-[A-Za-z]*$f" || missing="$missing -$f(synopsis)"
done
if [ -z "$flags" ]; then fail h_lists_every_flag "no getopt string found in bhyve/options.c"
elif [ -n "$missing" ]; then fail h_lists_every_flag "missing:$missing"
else echo "PASS cli-h_lists_every_flag"; fi

# FreeBSD's behaviour, taken from FreeBSD's usr.sbin/bhyve/bhyverun.c (main) and
# amd64/bhyverun_machdep.c (bhyve_optparse, bhyve_usage): usage() goes to stderr
# and exits 0 for -h, 1 for an unknown flag, a missing argument, no VM name or
# more than one; a bad -c, -p, -l, -o or -f exits EX_USAGE (64) at once, and a bad
# memory size too, after the topology is checked; the topology's numbers, a bad -s
# and -k exit 4. The messages are FreeBSD's (ours add a detail after them).
# name|status|stderr contains|arguments
set -f
while IFS='|' read -r name want msg args; do
	[ -n "$name" ] || continue
	# shellcheck disable=SC2086
	expect_status "$name" "$want" "$msg" $args
done <<'EOF'
h_prints_usage_on_stderr|0|       -u: RTC keeps UTC time|-h
unknown_option|1|illegal option -- Z|-Z vm
option_without_argument|1|option requires an argument -- m|vm -m
no_vmname|1|Usage: bhyve|-m 1G
two_vmnames|1|Usage: bhyve|vm1 vm2
bad_topology_key|64|invalid cpu topology 'dies=2'|-c dies=2 vm
bad_pin|64|invalid vcpu pinning configuration '1'|-p 1 vm
bad_pin_hostcpu|64|invalid vcpu pinning configuration '0:x'|-p 0:x vm
unknown_lpc|64|invalid lpc device configuration 'com9,stdio'|-l com9,stdio vm
o_without_value|64|invalid configuration option 'novalue'|-o novalue vm
o_with_empty_value|64|invalid configuration option 'x86.strictio='|-o x86.strictio= vm
bad_memsize|64|invalid memsize '12Q'|-m 12Q vm
bad_memsize_from_o|64|invalid memsize 'lots'|-o memory.size=lots vm
fwcfg_item_without_value|64|invalid fwcfg item 'opt/x'|-f opt/x vm
zero_cpus|4|Invalid value for cpus: '0'|-c 0 vm
bad_cores|4|Invalid value for cores: 'x'|-c 2,cores=x vm
topology_mismatch|4|does not match 3 vCPUs|-c 3,sockets=2 vm
topology_before_memsize|4|Invalid value for cpus: '0'|-c 0 -m 12Q vm
bad_slot|4|nvalid PCI slot|-s 32,hostbridge vm
unknown_device|4|pci slot 0:0: unknown device "x"|-s 0,x vm
slot_occupied|4|already occupied|-s 0,hostbridge -s 0:0,lpc vm
k_missing_file|4|config file /nonexistent/vm.conf|-k /nonexistent/vm.conf vm
EOF
set +f

expect_keys flags_become_keys "name=vm cpus=2 sockets=1 cores=2 memory.size=512M x86.strictio=true
    rtc.use_localtime=false x86.x2apic=true x86.strictmsr=false virtio_msix=false x86.mptable=false
    memory.wired=true memory.guest_in_core=true destroy_on_poweroff=true x86.vmexit_on_hlt=true
    x86.vmexit_on_pause=true uuid=12345678-1234-1234-1234-123456789abc vcpu.0.cpuset=1,2" \
	-c 2,sockets=1,cores=2 -m 512M -e -u -x -w -W -Y -S -C -D -H -P \
	-U 12345678-1234-1234-1234-123456789abc -p 0:1 -p 0:2 vm
expect_keys slots_become_keys "pci.0.0.0.device=hostbridge pci.0.3.1.device=hostbridge
    pci.0.3.1.vendor=0x1234 pci.0.3.1.msix=true pci.2.4.5.device=lpc pci.0.31.0.device=lpc
    pci.0.7.0.device=hostbridge pci.0.7.0.vendor=0x1022 pci.0.7.0.devid=0x7432" \
	-s 0,hostbridge -s 3:1,hostbridge,vendor=0x1234,msix -s 2:4:5,lpc -s 31,lpc \
	-s 7,amd_hostbridge vm
expect_keys virtio_console_ports_become_keys "pci.0.5.0.device=virtio-console
    pci.0.5.0.port.0.name=org.example.agent pci.0.5.0.port.0.path=/tmp/agent.sock
    pci.0.5.0.port.1.name=console pci.0.5.0.port.1.path=/tmp/con.sock" \
	-s 5,virtio-console,org.example.agent=/tmp/agent.sock,console=/tmp/con.sock vm
expect_keys lpc_becomes_keys "lpc.com1.path=stdio lpc.com2.path=/dev/nmdm0A
    lpc.com3.path=tcp=127.0.0.1:4444 lpc.bootrom=/x/rom.fd lpc.bootvars=/x/vars.fd" \
	-l com1,stdio -l com2,/dev/nmdm0A -l com3,tcp=127.0.0.1:4444 -l bootrom,/x/rom.fd,/x/vars.fd vm
run -o config.dump=1 -l bootrom,/a.rom,/a.vars -l bootrom,/b.rom vm
if [ "$rc" -eq 1 ] && grep -qx 'lpc.bootrom=/b.rom' "$tmp/out" && ! grep -q 'lpc.bootvars' "$tmp/out"; then
	echo "PASS cli-later_bootrom_replaces_earlier"
else
	fail later_bootrom_replaces_earlier "status $rc"
fi
expect_keys B_sets_smbios_keys "system.manufacturer=Acme system.product_name=Box system.version=2
    system.serial_number=S1 system.sku=K system.family_name=F uuid=12345678-1234-1234-1234-123456789abc" \
	-B 1,manufacturer=Acme,product=Box,version=2,serial=S1,sku=K,family=F,uuid=12345678-1234-1234-1234-123456789abc vm
expect_keys debugcon_and_fwcfg_keys "lpc.debugcon.path=/tmp/x.log lpc.fwcfg=bhyve" \
	-l debugcon,/tmp/x.log -l bootrom,/a.rom,fwcfg=bhyve vm
expect_keys A_and_acpi_tables "acpi_tables=true" -A vm
expect_keys cpus_alone_are_sockets "cpus=4" -c 4 vm
expect_keys o_sets_same_keys "memory.size=1G x86.strictio=true pci.0.5.0.device=lpc" \
	-m 256M -o memory.size=1G -o x86.strictio=true -o pci.0.5.0.device=lpc vm
printf '# a comment\n\nmemory.size=2G\ncpus = ignored-by-o\nlpc.com1.path=stdio\n' >"$tmp/vm.conf"
expect_keys k_file_then_o_overrides "memory.size=2G lpc.com1.path=stdio cpus=1" \
	-k "$tmp/vm.conf" -o cpus=1 vm
expect_keys name_of_31_characters_is_fine "name=abcdefghijabcdefghijabcdefghi" abcdefghijabcdefghijabcdefghi
expect_keys name_from_config "name=fromconf" -o name=fromconf

expect_error unknown_device_bus 'pci slot 1:2:3: unknown device "nope"' -s 1:2:3,nope vm
expect_error bad_function 'invalid PCI slot' -s 3:8,hostbridge vm
expect_error slot_without_emulation 'invalid PCI slot' -s 3 vm
expect_status zero_memsize 64 "invalid memsize '0'" -m 0 vm
expect_error huge_memsize 'larger than 1T' -m 2T vm
expect_error name_too_long 'longer than 31 characters' abcdefghijabcdefghijabcdefghijXY
expect_error bad_uuid 'invalid UUID' -U not-a-uuid vm
expect_error bad_boolean 'invalid boolean value "maybe"' -o x86.strictio=maybe vm
expect_error sandbox_user_unknown 'sandbox.user no-such-user-here: no such user' \
	-o sandbox.user=no-such-user-here vm
# Ours: a detail, then FreeBSD's -l line and status.
expect_status com_without_backend 64 '-l com1: a backend is required' -l com1 vm
expect_status bootrom_without_file 64 "invalid lpc device configuration 'bootrom'" -l bootrom vm
expect_error no_bootrom 'no boot ROM' vm
expect_error missing_bootrom 'boot ROM /nonexistent.rom: No such file' -l bootrom,/nonexistent.rom vm
expect_error stdio_twice 'stdio is already used' -l com1,stdio -l com2,stdio -l "bootrom,$rom" vm
expect_error gdb_not_yet 'GDB stub' -G 1234 -l "bootrom,$rom" vm
expect_error keyboard_layout_unknown 'keyboard layout "xx": no such layout (no ' \
	-K xx -l "bootrom,$rom" vm
expect_error restore_not_yet 'restore from a snapshot' -r /tmp/x vm
# -B is illumos's; its errors are usage errors, as -c's.
expect_status smbios_type_other_than_1 64 'only SMBIOS type 1' -B 2,manufacturer=x vm
expect_status smbios_unknown_key 64 'invalid -B key "color"' -B 1,color=red vm
expect_error bad_fwcfg_mode 'invalid lpc.fwcfg "seabios"' -l "bootrom,$rom,fwcfg=seabios" vm
expect_error virtio_console_port_without_path 'virtio-console: "agent": each port is NAME=/path/to/socket' \
	-s 5,virtio-console,agent vm
expect_error virtio_console_17_ports 'virtio-console: at most 16 ports' -s 5,virtio-console,$(
	for i in $(seq 17); do printf 'p%d=/tmp/p%d.sock,' "$i" "$i"; done) vm

# Files are opened without blocking and checked before use: a FIFO, a directory
# or a device where a regular file belongs, or a -k file of more than 1 MiB, is
# refused with one line (nothing hangs in open or reads without end).
mkfifo "$tmp/fifo"
truncate -s 2M "$tmp/big.conf"
expect_error k_fifo "config file $tmp/fifo: a FIFO, not a regular file" -k "$tmp/fifo" vm
expect_error k_directory "config file $tmp: a directory, not a regular file" -k "$tmp" vm
expect_error k_dev_zero 'config file /dev/zero: a character device, not a regular file' -k /dev/zero vm
# A read error is an error (/proc/self/mem reads EIO at offset 0).
expect_error k_read_error 'config file /proc/self/mem: Input/output error' -k /proc/self/mem vm
expect_error k_too_big "config file $tmp/big.conf: 2097152 bytes, more than the 1048576" -k "$tmp/big.conf" vm
# A name of more than 255 characters in a key (which would leave the device out).
expect_error long_config_key 'a name in it is longer than 255 characters' \
	-o "pci.0.4.$(printf '%0300d' 0).device=virtio-rnd" vm
# More memory than the host has needs memory.overcommit (emu tier: allowed with it).
expect_error memsize_beyond_host 'more than the host'"'"'s memory' -m 1T vm
expect_error bad_overcommit 'invalid boolean value "maybe" for "memory.overcommit"' \
	-o memory.overcommit=maybe vm

# virtio-net: -s sets backend, mac and mtu; tap=NAME names any tap.
expect_keys vtnet_keys "pci.0.5.0.device=virtio-net pci.0.5.0.backend=tap0 pci.0.5.0.mac=58:9c:fc:00:00:01
    pci.0.5.0.mtu=9000" -s 5,virtio-net,tap0,mac=58:9c:fc:00:00:01,mtu=9000 vm
expect_keys vtnet_named_tap "pci.0.5.0.backend=tap=guest0" -s 5,virtio-net,tap=guest0 vm
expect_error vtnet_unknown_option 'virtio-net: unknown option "bogus"' -s 5,virtio-net,tap0,bogus=1 vm
# nvme: a devpath or ram=MiB, then bhyve's keys.
expect_keys nvme_keys "pci.0.5.0.device=nvme pci.0.5.0.path=/tmp/d.img pci.0.5.0.maxq=4
    pci.0.5.0.qsz=64 pci.0.5.0.ioslots=16 pci.0.5.0.sectsz=4096 pci.0.5.0.ser=S1 pci.0.5.0.eui64=0x1
    pci.0.5.0.dsm=disable pci.0.5.0.bootindex=1 pci.0.5.0.ro=true" \
	-s 5,nvme,/tmp/d.img,maxq=4,qsz=64,ioslots=16,sectsz=4096,ser=S1,eui64=0x1,dsm=disable,bootindex=1,ro vm
expect_keys nvme_ram "pci.0.5.0.device=nvme pci.0.5.0.ram=64" -s 5,nvme,ram=64 vm
expect_error nvme_unknown_option 'nvme: unknown option "bogus"' -s 5,nvme,/tmp/d.img,bogus=1 vm
# The rest is checked when the device is made, after the VM exists: bin/bhyve-emu
# gets that far on any host (and opens no tap: these fail before that).
if [ -x "$top/bin/bhyve-emu" ]; then
	kvm_bhyve=$bhyve
	bhyve=$top/bin/bhyve-emu
	net="-m 64M -s 0,hostbridge -s 31,lpc -l bootrom,$rom"
	# shellcheck disable=SC2086
	{
	expect_error vtnet_multicast_mac 'invalid mac "01:00:5e:00:00:01"' $net -s 5,virtio-net,tap0,mac=01:00:5e:00:00:01 vm
	expect_error vtnet_zero_mac 'invalid mac "00:00:00:00:00:00"' $net -s 5,virtio-net,tap0,mac=00:00:00:00:00:00 vm
	expect_error vtnet_bad_mac 'invalid mac "58:9c:fc"' $net -s 5,virtio-net,tap0,mac=58:9c:fc vm
	expect_error vtnet_small_mtu 'invalid mtu "67"' $net -s 5,virtio-net,tap0,mtu=67 vm
	expect_error vtnet_big_mtu 'invalid mtu "65536"' $net -s 5,virtio-net,tap0,mtu=65536 vm
	expect_error vtnet_unknown_backend 'unknown network backend "eth0"' $net -s 5,virtio-net,eth0 vm
	expect_error vtnet_bad_tap_name 'invalid tap name "tapx"' $net -s 5,virtio-net,tapx vm
	expect_error vtnet_long_tap_name 'invalid tap name "tap=abcdefghijklmnop"' \
		$net -s 5,virtio-net,tap=abcdefghijklmnop vm
	expect_error vtnet_hostfwd_on_tap 'hostfwd is an option of the slirp backend' \
		$net -s 5,virtio-net,tap0,hostfwd=tcp::2222-:22 vm
	expect_error vtnet_hostloopback_on_tap 'hostloopback is an option of the slirp backend' \
		$net -s 5,virtio-net,tap0,hostloopback=true vm
	expect_error slirp_bad_hostloopback 'invalid boolean value "maybe"' \
		$net -s 5,virtio-net,slirp,hostloopback=maybe vm
	expect_error nvme_bad_maxq 'nvme: invalid maxq "0"' $net -s 5,nvme,ram=4,maxq=0 vm
	expect_error nvme_bad_qsz 'nvme: invalid qsz "1"' $net -s 5,nvme,ram=4,qsz=1 vm
	expect_error nvme_bad_ioslots 'nvme: invalid ioslots "0"' $net -s 5,nvme,ram=4,ioslots=0 vm
	expect_error nvme_bad_sectsz 'nvme: invalid sectsz "1000"' $net -s 5,nvme,ram=4,sectsz=1000 vm
	expect_error nvme_bad_dsm 'nvme: invalid dsm "sometimes"' $net -s 5,nvme,ram=4,dsm=sometimes vm
	expect_error nvme_long_ser 'nvme: ser "123456789012345678901"' $net -s 5,nvme,ram=4,ser=123456789012345678901 vm
	expect_error nvme_bad_eui64 'nvme: invalid eui64 "x"' $net -s 5,nvme,ram=4,eui64=x vm
	expect_error nvme_zero_ram 'nvme: invalid ram "0"' $net -s 5,nvme,ram=0 vm
	expect_error nvme_no_backing 'nvme: no backing file, device or ram=MiB' $net -s 5,nvme vm
	expect_error nvme_missing_file 'cannot open /nonexistent.img' $net -s 5,nvme,/nonexistent.img vm
	expect_error nvme_path_and_ram 'both given' $net -s 5,nvme,/tmp/d.img,ram=4 vm
	expect_error vtnet_seven_octet_mac 'invalid mac "58:9c:fc:00:00:01:02"' \
		$net -s 5,virtio-net,slirp,mac=58:9c:fc:00:00:01:02 vm
	expect_error rom_fifo "boot ROM $tmp/fifo: a FIFO, not a regular file" \
		-m 64M -s 0,hostbridge -s 31,lpc -l "bootrom,$tmp/fifo" vm
	expect_error vars_fifo "boot variables $tmp/fifo: a FIFO, not a regular file" \
		-m 64M -s 0,hostbridge -s 31,lpc -l "bootrom,$rom,$tmp/fifo" vm
	expect_error fwcfg_file_fifo "-f $tmp/fifo: a FIFO, not a regular file" \
		$net -f "opt/x,file=$tmp/fifo" vm
	expect_error fwcfg_file_directory "-f $tmp: a directory, not a regular file" \
		$net -f "opt/x,file=$tmp" vm
	expect_error vtblk_fifo "$tmp/fifo is a FIFO, not a regular file or a block device" \
		$net -s 4,virtio-blk,"$tmp/fifo" vm
	expect_error nvme_fifo "$tmp/fifo is a FIFO" $net -s 4,nvme,"$tmp/fifo" vm
	expect_error ahci_fifo "$tmp/fifo is a FIFO" $net -s 4,ahci-hd,"$tmp/fifo" vm
	expect_error vtblk_chardev '/dev/zero is neither a regular file nor a block device' \
		$net -s 4,virtio-blk,/dev/zero vm
	# Keys no device reads are refused by name, for every device.
	expect_error vtrnd_unknown_key 'virtio-rnd: unknown option "colour"' $net -s 3,virtio-rnd,colour=red vm
	expect_error fbuf_unknown_key 'fbuf: unknown option "hieght"' \
		$net -s 3,fbuf,unix=$tmp/vnc,hieght=600 vm
	expect_error lpc_unknown_key 'lpc: unknown option "x"' \
		-m 64M -s 0,hostbridge -s 31,lpc,x=1 -l "bootrom,$rom" vm
	expect_error hostbridge_unknown_key 'hostbridge: unknown option "vendr"' \
		-m 64M -s 0,hostbridge,vendr=1 -s 31,lpc -l "bootrom,$rom" vm
	expect_error amd_hostbridge_unknown_key 'hostbridge: unknown option "x"' \
		-m 64M -s 0,amd_hostbridge,x=1 -s 31,lpc -l "bootrom,$rom" vm
	# A function other than 0 alone in its slot, a device on a bus no bridge
	# leads to: a guest would never see them.
	expect_error function_without_function0 'pci slot 3:1: function 0 of the slot is empty' \
		$net -s 3:1,virtio-rnd vm
	expect_error device_on_unreachable_bus 'bus 2 is unreachable' $net -s 2:4:0,virtio-rnd vm
	}
	# -m beyond the host's memory with memory.overcommit=true: the VM runs.
	host_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
	run -m "$((host_mib + 1024))M" -o memory.overcommit=true -s 0,hostbridge -s 31,lpc \
		-l "bootrom,$top/tests/guest/build/halt.rom" vm
	# (No warning: stderr has only the halt's own line.)
	if [ "$rc" -eq 2 ] && ! grep -qv 'every vCPU halted with interrupts off' "$tmp/err"; then
		echo "PASS cli-memsize_overcommit_allowed"
	else fail memsize_overcommit_allowed "status $rc, expected 2 (the guest halts)"; fi
	bhyve=$kvm_bhyve
else
	echo "SKIP cli-vtnet_device_errors: bin/bhyve-emu was not built (needs libunicorn-dev)"
fi

# ahci, ahci-hd, ahci-cd: ports become port.N keys (ahci-hd and ahci-cd are ahci
# with one port); unknown options are refused while parsing.
expect_keys ahci_ports_become_keys "pci.0.4.0.device=ahci pci.0.4.0.port.0.type=hd
    pci.0.4.0.port.0.path=/a.img pci.0.4.0.port.0.ro=true pci.0.4.0.port.1.type=cd
    pci.0.4.0.port.1.path=/b.iso pci.0.4.0.port.1.ser=CD1" -s 4,ahci,hd:/a.img,ro,cd:/b.iso,ser=CD1 vm
expect_keys ahci_hd_keys "pci.0.4.0.device=ahci pci.0.4.0.port.0.type=hd pci.0.4.0.port.0.path=/a.img
    pci.0.4.0.port.0.nmrr=1 pci.0.4.0.port.0.sectorsize=512/4096" \
	-s 4,ahci-hd,/a.img,nmrr=1,sectorsize=512/4096 vm
expect_keys ahci_cd_keys "pci.0.4.0.device=ahci pci.0.4.0.port.0.type=cd pci.0.4.0.port.0.path=/b.iso
    pci.0.4.0.port.0.bootindex=0" -s 4,ahci-cd,/b.iso,bootindex=0 vm
expect_error ahci_unknown_option 'ahci: port 0: unknown option "bogus"' -s 4,ahci-hd,/a.img,bogus=1 vm
expect_error ahci_port_without_type 'ahci: "/a.img": each port is hd:PATH or cd:PATH' -s 4,ahci,/a.img vm
expect_error ahci_33_ports 'ahci: more than 32 ports' -s 4,ahci,$(
	for i in $(seq 33); do printf 'hd:/d%d.img,' "$i"; done) vm
# The rest is checked when the device is made, after the VM exists: on
# bin/bhyve-emu where it was built, else on bin/bhyve where /dev/kvm is usable.
ahci_bhyve=""
if [ -x "$top/bin/bhyve-emu" ]; then ahci_bhyve=$top/bin/bhyve-emu
elif [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then ahci_bhyve=$bhyve; fi
if [ -n "$ahci_bhyve" ] && [ -r "$rom" ]; then
	kvm_bhyve=$bhyve
	bhyve=$ahci_bhyve
	truncate -s 1M "$tmp/disk.img"
	dev="-m 64M -s 0,hostbridge -s 31,lpc -l bootrom,$rom"
	# shellcheck disable=SC2086
	{
	expect_error ahci_missing_image 'cannot open /nonexistent.img' $dev -s 4,ahci-hd,/nonexistent.img vm
	expect_error ahci_bad_nmrr 'ahci: port 0: invalid nmrr "5"' $dev -s 4,ahci-hd,$tmp/disk.img,nmrr=5 vm
	expect_error ahci_long_serial 'ahci: port 1: ser "123456789012345678901" must be at most 20' \
		$dev -s 4,ahci,hd:$tmp/disk.img,hd:$tmp/disk.img,ser=123456789012345678901 vm
	expect_error ahci_cd_sectorsize 'ahci: port 0: sectorsize is for hd ports' \
		$dev -s 4,ahci-cd,$tmp/disk.img,sectorsize=4096 vm
	expect_error ahci_bad_type 'ahci: port 0: type must be hd or cd' \
		$dev -o pci.0.4.0.device=ahci -o pci.0.4.0.port.0.type=fd -o pci.0.4.0.port.0.path=$tmp/disk.img vm
	expect_error debugcon_bad_maxsize 'debugcon: invalid lpc.debugcon.maxsize "lots"' \
		$dev -l debugcon,$tmp/debug.log -o lpc.debugcon.maxsize=lots vm
	}
	bhyve=$kvm_bhyve
else
	echo "SKIP cli-ahci_device_errors: neither bin/bhyve-emu nor a usable /dev/kvm (or no $rom)"
fi

# /dev/kvm missing or unusable: one line naming it, exit 4.
if [ ! -e /dev/kvm ]; then
	expect_error no_kvm '/dev/kvm: No such file or directory' -s 0,hostbridge -l "bootrom,$rom" vm
elif [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	unshare -m sh -c "mount --bind /dev/null /dev/kvm && exec '$bhyve' -l 'bootrom,$rom' vm" \
		</dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 4 ] && grep -q '/dev/kvm' "$tmp/err"; then echo "PASS cli-no_kvm"
	else fail no_kvm "status $rc"; fi
else
	echo "SKIP cli-no_kvm: /dev/kvm exists and cannot be hidden without root"
fi

# bhyvectl's option errors: one line (and the usage for a usage error), FreeBSD's
# status 1 for usage, 64 for a bad value, 4 for a VM that does not exist.
ctl_expect() {
	local name=$1 want=$2 msg=$3
	shift 3
	"$top/bin/bhyvectl" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
	if [ "$rc" -ne "$want" ]; then fail "bhyvectl-$name" "exit status $rc, expected $want"
	elif ! head -1 "$tmp/err" | grep -qF -- "$msg"; then fail "bhyvectl-$name" "stderr lacks '$msg'"
	elif [ "$want" -ne 1 ] && [ "$(wc -l <"$tmp/err")" -ne 1 ]; then fail "bhyvectl-$name" "expected one line on stderr"
	else echo "PASS cli-bhyvectl-$name"; fi
}
ctl_expect no_vm 1 "no VM given" --get-stats
ctl_expect unknown_option 1 "unknown option" --vm=x --frobnicate
ctl_expect bad_cpu 64 "invalid --cpu" --vm=x --cpu=abc --get-rip
ctl_expect long_name 64 "longer than 31" --vm=abcdefghijklmnopqrstuvwxyz0123456789 --get-stats
ctl_expect bad_name 64 "may not contain" --vm=a/b --get-stats
ctl_expect unknown_vm 4 "VM nosuchvm does not exist" --vm=nosuchvm --get-stats

# bhyveload: FreeBSD's command line, then a refusal naming what boots FreeBSD
# guests instead (UEFI firmware); no VM is made.
"$top/bin/bhyveload" -m 256M -d "$tmp/disk.img" bsdvm </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'not implemented.*UEFI' "$tmp/err" &&
    [ ! -e "$BHYVE_VMM_DIR/bsdvm" ]; then
	echo "PASS cli-bhyveload_refuses"
else fail bhyveload_refuses "exit status $rc"; fi
"$top/bin/bhyveload" -Q bsdvm </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ "$rc" -eq 1 ] && grep -q '^usage: bhyveload' "$tmp/err"; then
	echo "PASS cli-bhyveload_usage"
else fail bhyveload_usage "exit status $rc"; fi

exit $((fails > 0))
