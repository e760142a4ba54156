#!/usr/bin/env bash
# bin/vm's guests without running them: init, datastore, create, set/get,
# list, info, rename, add, destroy, and the one-line errors of bad input.
set -u
cd "$(dirname "$0")/../.." || exit 1
# vm init reaches the switches: in a network namespace of its own.
if [ -z "${VM_TEST_NETNS:-}" ] && unshare -n true 2>/dev/null; then
	VM_TEST_NETNS=1 exec unshare -n bash "$0" "$@"
fi
vm=$PWD/bin/vm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export VM_CONF=$work/vm.conf
dir=$work/vms
printf 'vm_enable="YES"\nvm_dir="%s"\n' "$dir" >"$VM_CONF"

pass() { echo "PASS vm-$1"; }
fail() { echo "FAIL vm-$1: $2"; }
skip() { echo "SKIP vm-$1: $2"; }

# One line on stderr, nothing on stdout, a non-zero exit, and the line says WHAT.
one_line_error() { # name what cmd...
	local name=$1 what=$2 out err rc
	shift 2
	out=$("$@" 2>"$work/err")
	rc=$?
	err=$(cat "$work/err")
	if [ $rc -ne 0 ] && [ -z "$out" ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
	    [[ $err == "vm: ERROR: "*"$what"* ]]; then
		pass "$name"
	else
		fail "$name" "rc=$rc out='$out' err='$err'"
		return 1
	fi
}

# Before init: a clear line saying what to run.
one_line_error list_before_init "run vm init" "$vm" list

# init makes vm-bhyve's tree and the example templates; host checks only warn.
"$vm" init 2>"$work/init.err"
rc=$?
ok=1
for d in .config .templates .iso .img; do [ -d "$dir/$d" ] || ok=0; done
for t in default debian alpine ubuntu-cloud freebsd windows; do [ -f "$dir/.templates/$t.conf" ] || ok=0; done
[ -f "$dir/.config/system.conf" ] || ok=0
if [ $rc -eq 0 ] && [ $ok -eq 1 ] && ! grep -qv '^vm: WARNING: ' "$work/init.err"; then
	pass init_tree
else
	fail init_tree "rc=$rc $(ls -a "$dir" 2>&1 | tr '\n' ' ') $(cat "$work/init.err")"
fi
if grep -q '^loader="grub"$' "$dir/.templates/alpine.conf" &&
    grep -q '^grub_run_partition="1"$' "$dir/.templates/alpine.conf" &&
    grep -q '^grub_run_dir="/boot/grub"$' "$dir/.templates/alpine.conf"; then
	pass init_alpine_template
else
	fail init_alpine_template "$(cat "$dir/.templates/alpine.conf")"
fi
# init again keeps a template the user edited.
echo 'memory=768M' >>"$dir/.templates/debian.conf"
"$vm" init 2>/dev/null
if grep -q '^memory=768M$' "$dir/.templates/debian.conf"; then
	pass init_keeps_templates
else
	fail init_keeps_templates "$(cat "$dir/.templates/debian.conf")"
fi

# create from the default template: vm-bhyve's 20G sparse disk, uuid, mac.
"$vm" create web 2>"$work/err"
conf=$dir/web/web.conf
if [ -f "$conf" ] && [ "$(stat -c %s "$dir/web/disk0.img")" = 21474836480 ] &&
    [ "$(stat -c %b "$dir/web/disk0.img")" -lt 64 ] &&
    grep -Eq '^uuid="[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$' "$conf" &&
    grep -Eq '^network0_mac="58:9c:fc(:[0-9a-f]{2}){3}"$' "$conf" &&
    grep -q '^loader="uefi"$' "$conf"; then
	pass create_default
else
	fail create_default "$(cat "$work/err" "$conf" 2>&1)"
fi

# create from a template with -s -m -c.
"$vm" create -t alpine -s 8G -m 1G -c 2 alpine1 2>"$work/err"
conf=$dir/alpine1/alpine1.conf
if [ "$(stat -c %s "$dir/alpine1/disk0.img" 2>/dev/null)" = 8589934592 ] &&
    [ "$(stat -c %b "$dir/alpine1/disk0.img")" -lt 64 ] &&
    grep -q '^memory="1G"$' "$conf" && grep -q '^cpu="2"$' "$conf" &&
    grep -q '^loader="grub"$' "$conf" && grep -q '^grub_run_dir="/boot/grub"$' "$conf" &&
    ! grep -q 'disk0_size' "$conf"; then
	pass create_template_size_mem_cpu
else
	fail create_template_size_mem_cpu "$(cat "$work/err" "$conf" 2>&1)"
fi

# Bad input: one line each, and nothing left behind.
one_line_error create_duplicate "already exists" "$vm" create alpine1
one_line_error create_name_too_long "at most 31 characters" "$vm" create abcdefghijabcdefghijabcdefghij12
one_line_error create_bad_name "invalid virtual machine name" "$vm" create 'bad/name'
one_line_error create_missing_template "unable to find template" "$vm" create -t nosuch g1
one_line_error create_bad_size "bad size '12Q'" "$vm" create -s 12Q g1
one_line_error create_bad_datastore "unable to load datastore 'nosuch'" "$vm" create -d nosuch g1
one_line_error create_key_without_C "add -C" "$vm" create -k /dev/null g1
if [ ! -e "$dir/g1" ]; then pass create_errors_leave_nothing; else fail create_errors_leave_nothing "$(ls "$dir/g1")"; fi
one_line_error info_unknown "nosuch doesn't appear to be a valid virtual machine" "$vm" info nosuch
one_line_error set_unknown "nosuch doesn't appear to be a valid virtual machine" "$vm" set nosuch cpu=2
one_line_error destroy_unknown "nosuch doesn't appear to be a valid virtual machine" "$vm" destroy -f nosuch
one_line_error set_bad_key "bad key '9x'" "$vm" set web 9x=1
one_line_error set_not_kv "is not key=value" "$vm" set web cpu
one_line_error add_bad_device "disk network" "$vm" add -d floppy web

# set/get round trip; autostart=yes puts the guest in vm_list, as the seed does.
"$vm" set alpine1 loader=grub autostart=yes cpu=1 memory=512M 2>"$work/err"
got=$("$vm" get alpine1 loader cpu memory autostart nosuchkey 2>&1)
if [ "$got" = "$(printf 'grub\n1\n512M\nyes\n')" ] && grep -q '^vm_list="alpine1"$' "$VM_CONF" &&
    ! grep -q autostart "$dir/alpine1/alpine1.conf"; then
	pass set_get_roundtrip
else
	fail set_get_roundtrip "$got $(cat "$work/err" "$VM_CONF")"
fi
if "$vm" get alpine1 all | grep -q '^grub_run_partition=1$'; then
	pass get_all
else
	fail get_all "$("$vm" get alpine1 all 2>&1)"
fi

# list: vm-bhyve's header and column(1) layout; AUTO "Yes [1]".
got=$("$vm" list 2>&1)
want="NAME     DATASTORE  LOADER  CPU  MEMORY  VNC  AUTO     STATE
alpine1  default    grub    1    512M    -    Yes [1]  Stopped
web      default    uefi    1    512M    -    No       Stopped"
if [ "$got" = "$want" ]; then pass list_columns; else fail list_columns "$(printf '%s\n---\n%s' "$got" "$want")"; fi
if "$vm" list --json | python3 -c 'import json,sys; l=json.load(sys.stdin); assert [g["name"] for g in l]==["alpine1","web"]; assert l[0]["autostart-position"]==1 and l[1]["autostart"] is False' 2>"$work/err"; then
	pass list_json
else
	fail list_json "$(cat "$work/err")"
fi
if [ "$("$vm" list -r)" = "NAME  DATASTORE  LOADER  CPU  MEMORY  VNC  AUTO  STATE" ]; then
	pass list_running_only
else
	fail list_running_only "$("$vm" list -r 2>&1)"
fi

# info: vm-bhyve's layout for a stopped guest.
uuid=$("$vm" get alpine1 uuid)
mac=$("$vm" get alpine1 network0_mac)
got=$("$vm" info alpine1 2>&1)
want="------------------------
Virtual Machine: alpine1
------------------------
  state: stopped
  datastore: default
  loader: grub
  uuid: $uuid
  cpu: 1
  memory: 512M

  network-interface
    number: 0
    emulation: virtio-net
    virtual-switch: public
    fixed-mac-address: $mac
    fixed-device: -

  virtual-disk
    number: 0
    device-type: file
    emulation: virtio-blk
    options: -
    system-path: $dir/alpine1/disk0.img
    bytes-size: 8589934592 (8.000G)
    bytes-used: 0 (0.000B)"
if [ "$got" = "$want" ]; then pass info_layout; else fail info_layout "$(diff <(echo "$want") <(echo "$got"))"; fi
if "$vm" info --json | python3 -c 'import json,sys; l=json.load(sys.stdin); assert len(l)==2; d=l[0]["virtual-disks"][0]; assert d["bytes-size"]==8589934592' 2>"$work/err"; then
	pass info_json
else
	fail info_json "$(cat "$work/err")"
fi

# add: a second sparse disk (same emulation) and a network device.
"$vm" add -d disk -s 1G alpine1 && "$vm" add -d network -s lan alpine1
conf=$dir/alpine1/alpine1.conf
if [ "$(stat -c %s "$dir/alpine1/disk1.img" 2>/dev/null)" = 1073741824 ] &&
    grep -q '^disk1_type="virtio-blk"$' "$conf" && grep -q '^disk1_name="disk1.img"$' "$conf" &&
    grep -q '^network1_switch="lan"$' "$conf" && grep -q '^network1_type="virtio-net"$' "$conf"; then
	pass add_disk_network
else
	fail add_disk_network "$(cat "$conf")"
fi

# rename: directory, file, and the place in vm_list follow.
if "$vm" rename alpine1 alpine2 && [ -f "$dir/alpine2/alpine2.conf" ] && [ ! -e "$dir/alpine1" ] &&
    grep -q '^vm_list="alpine2"$' "$VM_CONF"; then
	pass rename
else
	fail rename "$(ls "$dir") $(cat "$VM_CONF")"
fi

# destroy: "n" keeps the guest; -f removes it and its autostart entry.
echo n | "$vm" destroy alpine2 >/dev/null
if [ -d "$dir/alpine2" ]; then pass destroy_asks; else fail destroy_asks "gone without a yes"; fi
if "$vm" destroy -f alpine2 && [ ! -e "$dir/alpine2" ] && ! grep -q 'alpine2' "$VM_CONF"; then
	pass destroy_force
else
	fail destroy_force "$(ls -a "$dir") $(cat "$VM_CONF")"
fi

# A guest that runs is not destroyed: its run lock is held (flock) as the
# supervisor holds it, and names a live process.
: >"$dir/web/run.lock"
flock -o "$dir/web/run.lock" sleep 30 &
spid=$!
printf '%s %s\n' "$spid" "$(hostname)" >"$dir/web/run.lock"
sleep 0.2
if "$vm" list | grep -q '^web .*Running'; then
	one_line_error destroy_running "is running" "$vm" destroy -f web
else
	fail destroy_running "a held run lock is not listed as Running: $("$vm" list 2>&1)"
fi
pkill -P "$spid" 2>/dev/null; kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
rm -f "$dir/web/run.lock"

# Datastores: add, list, a guest created there is found, remove.
mkdir "$work/ds2"
"$vm" datastore add ds2 "$work/ds2"
if "$vm" datastore list | grep -Eq "^ds2 +directory +$work/ds2 +-$" &&
    grep -q '^datastore_list="ds2"$' "$dir/.config/system.conf"; then
	pass datastore_add_list
else
	fail datastore_add_list "$("$vm" datastore list 2>&1)"
fi
"$vm" create -d ds2 -s 1G g2 2>"$work/err"
if [ -f "$work/ds2/g2/g2.conf" ] && "$vm" list | grep -Eq '^g2 +ds2 ' &&
    "$vm" info g2 | grep -q '^  datastore: ds2$' && "$vm" set g2 cpu=3 && [ "$("$vm" get g2 cpu)" = 3 ]; then
	pass datastore_guest_found
else
	fail datastore_guest_found "$(cat "$work/err") $("$vm" list 2>&1)"
fi
one_line_error datastore_add_twice "already exists" "$vm" datastore add ds2 "$work/ds2"
one_line_error datastore_add_not_dir "is not a directory" "$vm" datastore add ds3 "$work/nosuch"
"$vm" datastore remove ds2
if ! "$vm" datastore list | grep -q '^ds2 ' && ! grep -q 'path_ds2' "$dir/.config/system.conf"; then
	pass datastore_remove
else
	fail datastore_remove "$(cat "$dir/.config/system.conf")"
fi
mkdir "$work/isos"
if "$vm" datastore iso isos "$work/isos" && "$vm" datastore list | grep -Eq "^isos +iso +$work/isos +-$" &&
    one_line_error create_in_iso_datastore "unable to load datastore 'isos'" "$vm" create -d isos g3; then
	pass datastore_iso
else
	fail datastore_iso "$("$vm" datastore list 2>&1)"
fi
one_line_error datastore_remove_default "cannot remove the default datastore" "$vm" datastore remove default

# configure runs $EDITOR on the guest's file.
if EDITOR="sed -i s/^memory=.*/memory=\"2G\"/" "$vm" configure web && [ "$("$vm" get web memory)" = 2G ]; then
	pass configure_editor
else
	fail configure_editor "$(cat "$dir/web/web.conf")"
fi

# vm_dir unset: one line saying so.
printf 'vm_enable="YES"\n' >"$work/nodir.conf"
VM_CONF=$work/nodir.conf one_line_error init_no_vm_dir "vm_dir is not set" "$vm" init
exit 0
