#!/usr/bin/env bash
# The VM registry end to end: /dev/vmm (here BHYVE_VMM_DIR), bhyvectl against a
# running guest, exit statuses of --force-poweroff/--force-reset, a VM that
# outlives its bhyve, --destroy, a SIGKILLed bhyve's stale entry, and the
# loader hand-off (build/tests/testload leaves build/tests/handoff.bin and a
# real-mode vCPU state; bhyve without a boot ROM runs it). bin/bhyve on a
# usable /dev/kvm, else bin/bhyve-emu. Prints PASS/FAIL/SKIP lines.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
export BHYVE_VMM_DIR=$tmp/vmm BHYVE_RUN_DIR=$tmp/run
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
ctl=$top/bin/bhyvectl
load=$top/build/tests/testload
img=$top/build/tests/handoff.bin
rom=$top/tests/guest/build/guest.rom
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then bhyve=$top/bin/bhyve; else bhyve=$top/bin/bhyve-emu; fi
for f in "$bhyve" "$ctl" "$load" "$img"; do
	if [ ! -e "$f" ]; then echo "SKIP registry: $f was not built"; exit 0; fi
done
fails=0
pass() { echo "PASS registry-$1"; }
fail() { echo "FAIL registry-$1: $2"; sed 's/^/  | /' "$tmp/out" "$tmp/err" 2>/dev/null | head -20; fails=$((fails + 1)); }

# start NAME [ARGS]: the hand-off guest under bhyve in the background ($pid);
# waits for its first line on COM1
start() {
	local name=$1
	shift
	# Emptied here, not by the background job's redirection, so that the wait
	# below never reads the last guest's line.
	: >"$tmp/out"
	"$bhyve" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio "$@" "$name" </dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	for _ in $(seq 100); do
		grep -q "handoff: running" "$tmp/out" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# wait_exit: $pid's exit status in $rc (killed after 20 s)
wait_exit() {
	for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
}

# 1. The hand-off: a loader's VM, listed while it runs, inspected by bhyvectl.
"$load" vm1 64 1 "$img" 0x1000 || { echo "FAIL registry-testload: could not load"; exit 1; }
if start vm1; then pass handoff_runs_loaded_image; else fail handoff_runs_loaded_image "no line from the loaded image"; fi
# shellcheck disable=SC2010 # ls is what a user runs
if ls "$BHYVE_VMM_DIR" | grep -qx vm1; then pass listed_while_running; else fail listed_while_running "$(ls -al "$BHYVE_VMM_DIR")"; fi
"$ctl" --vm=vm1 --get-stats >"$tmp/stats" 2>&1
if grep -Eq '^Resident memory +	[1-9][0-9]*$' "$tmp/stats"; then pass get_stats_resident
else fail get_stats_resident "$(cat "$tmp/stats")"; fi
"$ctl" --vm=vm1 --get-lowmem --get-highmem >"$tmp/mem" 2>&1
if [ "$(cat "$tmp/mem")" = "$(printf 'lowmem\t\t0x0000000000000000/67108864')" ]; then pass get_lowmem
else fail get_lowmem "$(cat "$tmp/mem")"; fi
"$ctl" --vm=vm1 --cpu=0 --get-rip --get-rbx --get-cs >"$tmp/regs" 2>&1
rip=$(awk '/^rip\[0\]/ { print $2 }' "$tmp/regs")
if grep -qxF "$(printf 'rbx[0]\t\t0x0000000000001234')" "$tmp/regs" && [ -n "$rip" ] &&
    [ $((rip)) -ge $((0x1000)) ] && [ $((rip)) -lt $((0x1100)) ]; then pass get_registers
else fail get_registers "$(cat "$tmp/regs")"; fi
"$ctl" --vm=vm1 --get-active-cpus >"$tmp/cpus" 2>&1
if [ "$(cat "$tmp/cpus")" = "$(printf 'active cpus:\t0')" ]; then pass get_active_cpus; else fail get_active_cpus "$(cat "$tmp/cpus")"; fi
"$bhyve" -m 64M -l bootrom,"$img" vm1 </dev/null >/dev/null 2>"$tmp/err2"; rc=$?
if [ $rc -eq 4 ] && grep -q "in use by process" "$tmp/err2"; then pass second_bhyve_refused
else fail second_bhyve_refused "status $rc: $(cat "$tmp/err2")"; fi

# 2. --force-poweroff: exit 1; the VM remains (stopped).
"$ctl" --vm=vm1 --force-poweroff; wait_exit
if [ $rc -eq 1 ]; then pass force_poweroff_exits_1; else fail force_poweroff_exits_1 "exit status $rc"; fi
if [ -L "$BHYVE_VMM_DIR/vm1" ] && grep -qx "state stopped" "$BHYVE_RUN_DIR/vm1/meta"; then pass vm_remains_after_exit
else fail vm_remains_after_exit "$(ls -al "$BHYVE_VMM_DIR" "$BHYVE_RUN_DIR/vm1" 2>&1)"; fi
"$bhyve" -m 64M vm1 </dev/null >/dev/null 2>"$tmp/err2"; rc=$?
if [ $rc -eq 4 ] && [ "$(wc -l <"$tmp/err2")" -eq 1 ] && grep -q "nothing loaded" "$tmp/err2"; then pass stopped_vm_needs_a_loader
else fail stopped_vm_needs_a_loader "status $rc: $(cat "$tmp/err2")"; fi

# 3. --force-reset: exit 0, and the loop can reload and run it again.
"$ctl" --vm=vm1 --destroy
"$load" vm1 64 1 "$img" 0x1000
start vm1 && "$ctl" --vm=vm1 --force-reset; wait_exit
if [ $rc -eq 0 ] && [ -L "$BHYVE_VMM_DIR/vm1" ]; then pass force_reset_exits_0_vm_remains; else fail force_reset_exits_0_vm_remains "exit status $rc"; fi

# 4. --destroy: nothing left behind.
"$ctl" --vm=vm1 --destroy; rc=$?
if [ $rc -eq 0 ] && [ ! -e "$BHYVE_VMM_DIR/vm1" ] && [ ! -e "$BHYVE_RUN_DIR/vm1" ]; then pass destroy_leaves_nothing
else fail destroy_leaves_nothing "status $rc: $(ls -alR "$BHYVE_VMM_DIR" "$BHYVE_RUN_DIR" 2>&1)"; fi
"$ctl" --vm=vm1 --get-stats >/dev/null 2>"$tmp/err2"; rc=$?
if [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/err2")" -eq 1 ] && grep -q "does not exist" "$tmp/err2"; then pass unknown_vm_one_line
else fail unknown_vm_one_line "status $rc: $(cat "$tmp/err2")"; fi

# 5. --destroy on a running VM stops its bhyve first.
"$load" vm2 64 1 "$img" 0x1000
start vm2 && "$ctl" --vm=vm2 --destroy; drc=$?; wait_exit
if [ $drc -eq 0 ] && [ $rc -eq 4 ] && [ ! -e "$BHYVE_VMM_DIR/vm2" ] && [ ! -e "$BHYVE_RUN_DIR/vm2" ]; then pass destroy_running_vm
else fail destroy_running_vm "bhyvectl $drc, bhyve $rc"; fi

# 6. A SIGKILLed bhyve: its entry is stale, and the next bhyve of that name
# reclaims it (a boot ROM VM: bhyve makes it).
"$load" vm3 64 1 "$img" 0x1000
start vm3; kill -9 "$pid"; wait "$pid" 2>/dev/null
if grep -qx "state running" "$BHYVE_RUN_DIR/vm3/meta"; then
	"$ctl" --vm=vm3 --get-stats >/dev/null 2>"$tmp/err2"; rc=$?
	if [ $rc -ne 0 ] && grep -q "does not exist" "$tmp/err2" && [ ! -e "$BHYVE_RUN_DIR/vm3" ]; then
		pass stale_entry_reclaimed
	else fail stale_entry_reclaimed "status $rc: $(cat "$tmp/err2")"; fi
else fail stale_entry_reclaimed "no running entry after the kill"; fi
"$load" vm4 64 1 "$img" 0x1000
start vm4; kill -9 "$pid"; wait "$pid" 2>/dev/null
if [ -e "$rom" ]; then
	timeout 60 "$bhyve" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l bootrom,"$rom" vm4 </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
	if [ $rc -le 1 ] && [ -L "$BHYVE_VMM_DIR/vm4" ] && grep -qx "state stopped" "$BHYVE_RUN_DIR/vm4/meta"; then
		pass bootrom_bhyve_reclaims_stale_entry
	else fail bootrom_bhyve_reclaims_stale_entry "exit status $rc"; fi
	"$ctl" --vm=vm4 --destroy
else echo "SKIP registry-bootrom_bhyve_reclaims_stale_entry: tests/guest/build/guest.rom was not built"; fi

# 7. -m and -c must match what the loader made.
"$load" vm5 64 1 "$img" 0x1000
"$bhyve" -m 128M vm5 </dev/null >/dev/null 2>"$tmp/err2"; rc=$?
if [ $rc -eq 4 ] && [ "$(wc -l <"$tmp/err2")" -eq 1 ] && grep -q "loaded with 64 MiB" "$tmp/err2"; then pass memsize_must_match
else fail memsize_must_match "status $rc: $(cat "$tmp/err2")"; fi
"$bhyve" -m 64M -c 2 vm5 </dev/null >/dev/null 2>"$tmp/err2"; rc=$?
if [ $rc -eq 4 ] && [ "$(wc -l <"$tmp/err2")" -eq 1 ] && grep -q "loaded for 1 vCPU" "$tmp/err2"; then pass ncpus_must_match
else fail ncpus_must_match "status $rc: $(cat "$tmp/err2")"; fi
"$ctl" --vm=vm5 --create 2>"$tmp/err2"; rc=$?
if [ $rc -eq 4 ] && grep -q "already exists" "$tmp/err2"; then pass create_existing_refused
else fail create_existing_refused "status $rc: $(cat "$tmp/err2")"; fi
"$ctl" --vm=vm5 --destroy
"$bhyve" -m 64M vm6 </dev/null >/dev/null 2>"$tmp/err2"; rc=$?
if [ $rc -eq 4 ] && [ "$(wc -l <"$tmp/err2")" -eq 1 ] && grep -q "no boot ROM and no VM vm6" "$tmp/err2" &&
    [ ! -e "$BHYVE_RUN_DIR/vm6" ]; then pass no_rom_no_vm
else fail no_rom_no_vm "status $rc: $(cat "$tmp/err2")"; fi
# 8. bhyve -D (destroy_on_poweroff): the VM goes with the power-off.
"$load" vm7 64 1 "$img" 0x1000
start vm7 -D && "$ctl" --vm=vm7 --force-poweroff; wait_exit
if [ $rc -eq 1 ] && [ ! -e "$BHYVE_VMM_DIR/vm7" ] && [ ! -e "$BHYVE_RUN_DIR/vm7" ]; then pass destroy_on_poweroff
else fail destroy_on_poweroff "exit status $rc"; fi

# 9. examples/vmrun.sh: its loop (a stand-in bhyve that reboots once, then
# powers off: two runs, the installation CD only in the first, the VM destroyed
# at the end) and a real run of the test guest with a boot ROM.
vmrun=$top/examples/vmrun.sh
cat >"$tmp/fakebhyve" <<FAKE
#!/bin/sh
echo "\$*" >>"$tmp/runs"
[ \$(wc -l <"$tmp/runs") -ge 2 ] && exit 1
exit 0
FAKE
chmod +x "$tmp/fakebhyve"
: >"$tmp/iso"
BHYVE=$tmp/fakebhyve "$vmrun" -f "$img" -t tapx -d "$tmp/empty.img" -I "$tmp/iso" -c 1 -m 64M vm8 >/dev/null 2>"$tmp/err2"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/runs")" -eq 2 ] && head -1 "$tmp/runs" | grep -q "ahci-cd,$tmp/iso" &&
    ! tail -1 "$tmp/runs" | grep -q ahci-cd; then pass vmrun_loops_while_reboot
else fail vmrun_loops_while_reboot "status $rc: $(cat "$tmp/runs" "$tmp/err2" 2>&1)"; fi
"$vmrun" -m 64M vm8 >/dev/null 2>"$tmp/err2" </dev/null; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err2")" -eq 1 ] && grep -q "put bin/grub-bhyve in PATH" "$tmp/err2"; then
	pass vmrun_without_loader_refuses
else fail vmrun_without_loader_refuses "status $rc: $(cat "$tmp/err2")"; fi
# The loader path (no -f/-E): the real grub-bhyve loads the bzImage test guest
# from the installation ISO's grub.cfg (root cd0, the first disk empty) into
# the registry, the stand-in bhyve is handed that VM without a boot ROM, and
# the VM is destroyed at the end.
bz=$top/tests/guest/build/bzguest.bzImage
if [ -e "$bz" ] && [ -x "$top/bin/grub-bhyve" ] && command -v xorriso >/dev/null; then
	mkdir -p "$tmp/isoroot/boot/grub"
	cp "$bz" "$tmp/isoroot/boot/bzguest"
	printf 'set timeout=0\nmenuentry bz { linux /boot/bzguest vmrun=1; }\n' >"$tmp/isoroot/boot/grub/grub.cfg"
	cat >"$tmp/fakebhyve2" <<FAKE
#!/bin/sh
echo "\$* loaded=\$([ -e "$BHYVE_VMM_DIR/vm10" ] && echo yes)" >>"$tmp/runs2"
exit 1
FAKE
	chmod +x "$tmp/fakebhyve2"
	: >"$tmp/empty2.img"
	if xorriso -as mkisofs -R -J -o "$tmp/inst.iso" "$tmp/isoroot" >/dev/null 2>&1; then
		BHYVE=$tmp/fakebhyve2 BHYVECTL=$ctl GRUB_BHYVE=$top/bin/grub-bhyve "$vmrun" -t tapx \
		    -d "$tmp/empty2.img" -I "$tmp/inst.iso" -c 1 -m 64M vm10 </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
		if [ $rc -eq 1 ] && grep -q '^Loaded /boot/bzguest ' "$tmp/out" && [ "$(wc -l <"$tmp/runs2")" -eq 1 ] &&
		    grep -q "ahci-cd,$tmp/inst.iso .*vm10 loaded=yes\$" "$tmp/runs2" && ! grep -q bootrom "$tmp/runs2" &&
		    [ ! -e "$BHYVE_VMM_DIR/vm10" ] && [ ! -e "$BHYVE_RUN_DIR/vm10" ]; then
			pass vmrun_grub_bhyve_loads
		else fail vmrun_grub_bhyve_loads "status $rc: $(cat "$tmp/runs2" 2>&1)"; fi
	else echo "SKIP registry-vmrun_grub_bhyve_loads: xorriso could not make the ISO"; fi
else echo "SKIP registry-vmrun_grub_bhyve_loads: needs bin/grub-bhyve, tests/guest/build/bzguest.bzImage and xorriso"; fi
tap=tap$((9000 + $$ % 1000))
if [ -e "$rom" ] && ip tuntap add "$tap" mode tap 2>/dev/null; then
	head -c 1M /dev/zero | tr '\0' x >"$tmp/disk.img"
	BHYVE=$bhyve BHYVECTL=$ctl timeout 120 "$vmrun" -f "$rom" -t "$tap" -d "$tmp/disk.img" -c 1 -m 64M vm9 \
	    </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
	ip link del "$tap" 2>/dev/null
	if [ $rc -eq 1 ] && grep -q "testguest" "$tmp/out" && [ ! -e "$BHYVE_VMM_DIR/vm9" ] && [ ! -e "$BHYVE_RUN_DIR/vm9" ]; then
		pass vmrun_boots_and_destroys
	else fail vmrun_boots_and_destroys "exit status $rc"; fi
else echo "SKIP registry-vmrun_boots_and_destroys: needs tests/guest/build/guest.rom and a tap device (root)"; fi

[ $fails -eq 0 ]
