#!/usr/bin/env bash
# ZFS datastores (vm/zfs.c), on a real pool: a file-backed pool made here, its
# dataset as vm_dir="zfs:POOL/vms" and a second one as a datastore. Checked
# against what zfs(8) itself reports: each guest a dataset of its own, zvol
# disks (sparse-zvol and zvol, `vm create -i` copying an image onto one, `vm
# add -d disk -t zvol`), `vm info`'s zvol rows, snapshot, rollback (refused over
# a later snapshot without -r, as zfs refuses), clone (from a snapshot, and of
# a stopped guest with its zvols), rename, destroy (refused while a clone
# depends on the guest: zfs's message in one line) and nothing left. With
# VM_BHYVE=bin/bhyve on a usable /dev/kvm, a guest whose disk is a zvol boots
# through loader="grub": grub-bhyve reads the zvol, bhyve runs the test guest.
#
# Needs root, zfs(8) and the zfs kernel module (Debian's zfs-dkms and
# zfsutils-linux, from contrib: tools/setup --tests installs them where it
# can). Where the module cannot be loaded (this dev machine's own kernel has
# none), the refusal is checked instead and the pool checks skip with that
# reason; the nested tier's vm stage runs them in an L1 of Debian's kernel,
# for which dkms built the module.
set -u
cd "$(dirname "$0")/../.." || exit 1
top=$PWD
vm=$top/bin/vm
tests=(init datastore_list create_dataset create_zvol_image create_bad_option create_existing_dataset info_zvol add_zvol snapshot rollback_refused
	rollback_r rollback_zvol rollback_refused_later_zvol_snapshot rollback_refused_new_zvol run_files_not_restored clone_snapshot clone_stopped rename destroy_refused_clone other_datastore
	loader_grub_zvol destroy_nothing_left)
work=$(mktemp -d)
pool=""
vdev=""
cleanup() {
	[ -n "$pool" ] && zpool destroy -f "$pool" >/dev/null 2>&1
	[ -n "$vdev" ] && rm -f "$vdev"
	rm -rf "$work"
}
trap cleanup EXIT
failed=0
pass() { echo "PASS vm-zfs-$1"; }
fail() { echo "FAIL vm-zfs-$1: $2"; failed=1; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
skipall() {
	for t in "${tests[@]}"; do echo "SKIP vm-zfs-$t: $1"; done
	exit $failed
}

export VM_CONF=$work/vm.conf
[ "$(id -u)" = 0 ] || skipall "needs root (zpool create)"
[ -d /sys/module/zfs ] || modprobe zfs >/dev/null 2>&1
if [ ! -d /sys/module/zfs ]; then
	# The refusal: one line, naming what is missing, and nothing made.
	echo 'vm_dir="zfs:nopool/vms"' >"$VM_CONF"
	out=$("$vm" init 2>&1)
	rc=$?
	[ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] &&
		[[ $out == *"ZFS support requested but ZFS is not available"*zfs-dkms* ]]
	check refused_without_zfs $? "rc=$rc '$out'"
	skipall "no zfs kernel module on this kernel ($(uname -r)): Debian's zfs-dkms builds it for Debian's kernels; the nested tier's vm stage runs these there"
fi
command -v zpool >/dev/null && command -v zfs >/dev/null || skipall "zfs(8) or zpool(8) is missing (Debian's zfsutils-linux, from contrib)"

# The pool's file: in the test's directory, else in /dev/shm (zpool refuses a
# file on the nested L1's /tmp tmpfs with "no such pool or dataset").
pool=vmt$$
for vdev in "$work/pool.img" "/dev/shm/$pool.img"; do
	truncate -s 512M "$vdev" && out=$(zpool create -f -m "$work/mnt" "$pool" "$vdev" 2>&1) && break
	rm -f "$vdev"
	vdev=""
done
if [ -z "$vdev" ]; then
	pool=""
	skipall "cannot make a file-backed pool: $out"
fi
zfs create "$pool/vms" && zfs create "$pool/other" || skipall "cannot make the pool's datasets"
vms=$work/mnt/vms
echo "vm_dir=\"zfs:$pool/vms\"" >"$VM_CONF"
zget() { zfs get -H -p -o value "$1" "$2" 2>/dev/null; }
exists() { zfs list -H -o name "$1" >/dev/null 2>&1; }
# zvol_dev DATASET: its block device, as bin/vm finds it (info's system-path)
zvol_dev() {
	local d
	[ -e "/dev/zvol/$1" ] && { echo "/dev/zvol/$1"; return; }
	for d in /dev/zd*; do
		case $d in *[!0-9]) continue ;; esac
		# zvol_id (zfsutils' udev helper) names a zd device's dataset.
		[ "$(/usr/lib/udev/zvol_id "$d" 2>/dev/null)" = "$1" ] && { echo "$d"; return; }
	done
}
# settle DATASET: waits for its device (udev makes /dev/zvol/... a moment later)
settle() { for _ in $(seq 50); do [ -n "$(zvol_dev "$1")" ] && return 0; sleep 0.1; done; return 1; }

# ---- init and the datastore table
out=$("$vm" init 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -d "$vms/.templates" ] && [ -f "$vms/.config/system.conf" ]
check init $? "rc=$rc $out"
row=$("$vm" datastore list 2>&1 | grep '^default ' | tr -s ' ')
[ "$row" = "default zfs $vms $pool/vms" ]
check datastore_list $? "'$row'"

# ---- a guest is a dataset of its own, mounted at its directory
out=$("$vm" create -s 64M g1 2>&1)
rc=$?
[ $rc -eq 0 ] && exists "$pool/vms/g1" && [ "$(zget mountpoint "$pool/vms/g1")" = "$vms/g1" ] &&
	[ -f "$vms/g1/g1.conf" ] && [ "$(stat -c %s "$vms/g1/disk0.img")" = 67108864 ]
check create_dataset $? "rc=$rc $out $(zfs list -H -o name -r "$pool" | tr '\n' ' ')"

# ---- zvol disks: a sparse one made from an image (vm create -i)
cat >"$vms/.templates/zv.conf" <<EOF
loader="grub"
cpu=1
memory=128M
disk0_type="virtio-blk"
disk0_name="disk0"
disk0_dev="sparse-zvol"
zfs_dataset_opts="recordsize=64k"
zfs_zvol_opts="compression=lz4 volblocksize=16k"
EOF
# The image: an MBR disk with an ext4 partition holding the test guest's
# bzImage and a grub.cfg (for the boot below), 8 MiB.
img=$work/disk.img
why=""
if command -v mke2fs >/dev/null && command -v sfdisk >/dev/null && [ -f tests/guest/build/bzguest.bzImage ]; then
	mkdir -p "$work/groot/boot/grub"
	cp tests/guest/build/bzguest.bzImage "$work/groot/boot/bzguest"
	printf '%s\n' 'set timeout=0' "menuentry 'zvol' {" '	linux /boot/bzguest vm.disk=zvol' '}' \
		>"$work/groot/boot/grub/grub.cfg"
	{ truncate -s 8M "$img" && mke2fs -q -t ext4 -d "$work/groot" "$work/fs.img" 6M &&
		printf '%s\n' 'label: dos' 'start=2048, size=12288, type=83' | sfdisk -q "$img" &&
		dd if="$work/fs.img" of="$img" bs=512 seek=2048 conv=notrunc status=none; } >"$work/out" 2>&1 ||
		why="image: $(tail -1 "$work/out")"
else
	# No ext4 tools or guest: a plain pattern image still proves the copy.
	head -c 8M /dev/urandom >"$img"
fi
out=$("$vm" create -t zv -s 32M -i "$img" g2 2>&1)
rc=$?
settle "$pool/vms/g2/disk0"
dev=$(zvol_dev "$pool/vms/g2/disk0")
[ $rc -eq 0 ] && [ -z "$why" ] && [ "$(zget type "$pool/vms/g2/disk0")" = volume ] &&
	[ "$(zget volsize "$pool/vms/g2/disk0")" = 33554432 ] && [ "$(zget refreservation "$pool/vms/g2/disk0")" = 0 ] &&
	[ "$(zget volmode "$pool/vms/g2/disk0")" = dev ] && [ -n "$dev" ] &&
	[ "$(zget recordsize "$pool/vms/g2")" = 65536 ] && [ "$(zget compression "$pool/vms/g2/disk0")" = lz4 ] &&
	[ "$(zget volblocksize "$pool/vms/g2/disk0")" = 16384 ] &&
	cmp -n 8388608 "$img" "$dev" >/dev/null && [ ! -e "$vms/g2/.disk0.image" ]
check create_zvol_image $? "rc=$rc $out $why dev='$dev' $(zfs get -H -o property,value volsize,refreservation,volmode,compression,volblocksize "$pool/vms/g2/disk0" 2>&1 | tr '\n' ' ') recordsize $(zget recordsize "$pool/vms/g2")"
# A property zfs does not know: zfs's refusal in one line, nothing left.
sed 's/^zfs_dataset_opts=.*/zfs_dataset_opts="nosuchprop=1"/' "$vms/.templates/zv.conf" >"$vms/.templates/zvbad.conf"
out=$("$vm" create -t zvbad -s 8M gbad 2>&1)
rc=$?
[ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && [[ $out == *"zfs create -o nosuchprop=1 $pool/vms/gbad failed: "* ]] &&
	! exists "$pool/vms/gbad" && [ ! -e "$vms/gbad" ]
check create_bad_option $? "rc=$rc '$out'"
# A dataset of the guest's name that vm did not make (mounted elsewhere):
# refused, and left alone.
zfs create -o mountpoint="$work/elsewhere" "$pool/vms/gx" && touch "$work/elsewhere/keep"
out=$("$vm" create -s 8M gx 2>&1)
rc=$?
[ $rc -ne 0 ] && [ "$out" = "vm: ERROR: dataset $pool/vms/gx already exists" ] && exists "$pool/vms/gx" &&
	[ -e "$work/elsewhere/keep" ]
check create_existing_dataset $? "rc=$rc '$out'"
zfs destroy -r "$pool/vms/gx"

# ---- vm info: the zvol's device and zfs's sizes
info=$("$vm" info g2 2>&1)
path=$(printf '%s\n' "$info" | sed -n 's/^ *system-path: *//p' | head -1)
size=$(printf '%s\n' "$info" | sed -n 's/^ *bytes-size: *//p' | head -1)
[ "$path" = "$dev" ] && [[ $size == 33554432* || $size == "32M"* || $size == *"(33554432)"* ]]
check info_zvol $? "path '$path' (want $dev), size '$size': $(printf '%s\n' "$info" | grep -A6 'virtual-disk' | tr -s ' ' | tr '\n' '|')"

# ---- vm add -d disk -t zvol: a zvol that is not sparse
out=$("$vm" add -d disk -t zvol -s 16M g2 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$(zget volsize "$pool/vms/g2/disk1")" = 16777216 ] &&
	[ "$(zget refreservation "$pool/vms/g2/disk1")" != 0 ] &&
	grep -qx 'disk1_dev="zvol"' "$vms/g2/g2.conf" && grep -qx 'disk1_name="disk1"' "$vms/g2/g2.conf"
check add_zvol $? "rc=$rc $out $(grep disk1 "$vms/g2/g2.conf" | tr '\n' ' ')"

# ---- snapshots of g1 (recursive snapshots of its dataset)
printf one | dd of="$vms/g1/disk0.img" conv=notrunc status=none
out=$("$vm" snapshot g1@s1 2>&1)
rc=$?
printf two | dd of="$vms/g1/disk0.img" conv=notrunc status=none
out2=$("$vm" snapshot g1@s2 2>&1)
rc2=$?
snaps=$(zfs list -H -t snapshot -o name -r "$pool/vms/g1" | tr '\n' ' ')
[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ "$snaps" = "$pool/vms/g1@s1 $pool/vms/g1@s2 " ]
check snapshot $? "rc=$rc/$rc2 $out $out2 snapshots: $snaps"

out=$("$vm" rollback g1@s1 2>&1)
rc=$?
[ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && [[ $out == *"more recent snapshots"* ]] &&
	[ "$(head -c 3 "$vms/g1/disk0.img")" = two ]
check rollback_refused $? "rc=$rc '$out' disk: $(head -c 3 "$vms/g1/disk0.img")"
out=$("$vm" rollback -r g1@s1 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$(head -c 3 "$vms/g1/disk0.img")" = one ] && ! exists "$pool/vms/g1@s2"
check rollback_r $? "rc=$rc '$out' disk: $(head -c 3 "$vms/g1/disk0.img") $(zfs list -H -t snapshot -o name | tr '\n' ' ')"

# ---- a rollback takes the zvols below the guest back too
out=$("$vm" snapshot g2@a 2>&1) && printf XXXX | dd of="$dev" conv=notrunc status=none && sync &&
	out=$("$vm" rollback g2@a 2>&1) && sleep 0.5 && cmp -n 8388608 "$img" "$dev" >/dev/null
check rollback_zvol $? "$out $(head -c 4 "$dev" | od -An -c)"

# ---- a zvol with a snapshot later than the guest's: refused before the
# guest's own dataset is rolled back (its configuration keeps a later line)
zfs snapshot "$pool/vms/g2/disk0@later" && echo '#mark' >>"$vms/g2/g2.conf"
out=$("$vm" rollback g2@a 2>&1)
rc=$?
[ $rc -ne 0 ] && [ "$out" = "vm: ERROR: more recent snapshots of $pool/vms/g2/disk0 exist ($pool/vms/g2/disk0@later): use -r to destroy them" ] &&
	grep -qx '#mark' "$vms/g2/g2.conf"
check rollback_refused_later_zvol_snapshot $? "rc=$rc '$out'"
zfs destroy "$pool/vms/g2/disk0@later"
sed -i '/^#mark$/d' "$vms/g2/g2.conf"

# ---- a zvol made after the snapshot: the rollback is refused before it
# changes anything (zfs itself would roll the rest back and stop there)
"$vm" add -d disk -t sparse-zvol -s 8M g2 >"$work/out" 2>&1
out=$("$vm" rollback g2@a 2>&1)
rc=$?
[ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] &&
	[[ $out == *"$pool/vms/g2/disk2 has no snapshot @a"* ]] && grep -q '^disk2_name=' "$vms/g2/g2.conf"
check rollback_refused_new_zvol $? "rc=$rc '$out' $(cat "$work/out") $(grep disk2 "$vms/g2/g2.conf")"

# ---- a snapshot taken with -f while the guest ran holds its run-time files
# (lock, taps it made): a clone or a rollback must not bring them back
printf '%s\n' "999999 $(hostname)" >"$vms/g1/run.lock"
printf '%s\n' 'pid="999999"' 'tap0="tap999"' 'tap0_made="yes"' >"$vms/g1/.run"
out=$("$vm" snapshot -f g1@run 2>&1) && rm -f "$vms/g1/run.lock" "$vms/g1/.run" &&
	out=$("$vm" clone g1@run g7 2>&1) && [ ! -e "$vms/g7/run.lock" ] && [ ! -e "$vms/g7/.run" ] &&
	[ -f "$vms/g7/g7.conf" ] && out=$("$vm" rollback g1@run 2>&1) &&
	[ ! -e "$vms/g1/run.lock" ] && [ ! -e "$vms/g1/.run" ] && out=$("$vm" destroy -f g7 2>&1)
check run_files_not_restored $? "$out $(ls -a "$vms/g7" "$vms/g1" 2>&1 | tr '\n' ' ')"

# ---- clones: from a snapshot, and of the stopped guest with its zvols
out=$("$vm" clone g1@s1 g3 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$(zget origin "$pool/vms/g3")" = "$pool/vms/g1@s1" ] && [ -f "$vms/g3/g3.conf" ] &&
	[ ! -e "$vms/g3/g1.conf" ] && [ "$(head -c 3 "$vms/g3/disk0.img")" = one ] &&
	[ "$(grep '^uuid=' "$vms/g3/g3.conf")" != "$(grep '^uuid=' "$vms/g1/g1.conf")" ]
check clone_snapshot $? "rc=$rc $out $(ls "$vms/g3" 2>&1 | tr '\n' ' ') origin $(zget origin "$pool/vms/g3")"
out=$("$vm" clone g2 g4 2>&1)
rc=$?
o0=$(zget origin "$pool/vms/g4/disk0")
[ $rc -eq 0 ] && [[ $o0 == "$pool/vms/g2/disk0@"* ]] && [[ $(zget origin "$pool/vms/g4") == "$pool/vms/g2@"* ]] &&
	[[ $(zget origin "$pool/vms/g4/disk1") == "$pool/vms/g2/disk1@"* ]] && [ -f "$vms/g4/g4.conf" ]
check clone_stopped $? "rc=$rc $out origins: $o0 $(zget origin "$pool/vms/g4")"

# ---- rename: the dataset and its zvols move, the mountpoint with it
out=$("$vm" rename g4 g5 2>&1)
rc=$?
[ $rc -eq 0 ] && exists "$pool/vms/g5/disk1" && ! exists "$pool/vms/g4" && [ -f "$vms/g5/g5.conf" ] &&
	[ "$(zget mountpoint "$pool/vms/g5")" = "$vms/g5" ]
check rename $? "rc=$rc $out $(zfs list -H -o name -r "$pool/vms" | tr '\n' ' ')"

# ---- destroy: refused while a clone depends on the guest (zfs's words)
out=$("$vm" destroy -f g1 2>&1)
rc=$?
[ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && [[ $out == *"dependent clones"* ]] &&
	exists "$pool/vms/g1" && [ -f "$vms/g1/g1.conf" ]
check destroy_refused_clone $? "rc=$rc '$out'"

# ---- a second datastore on another dataset
out=$("$vm" datastore add z2 "zfs:$pool/other" 2>&1) && out=$("$vm" create -d z2 -s 8M g6 2>&1) &&
	exists "$pool/other/g6" && [ -f "$work/mnt/other/g6/g6.conf" ] &&
	[ "$("$vm" datastore list | grep '^z2 ' | tr -s ' ')" = "z2 zfs $work/mnt/other $pool/other" ] &&
	"$vm" list | grep -q '^g6 *z2 '
check other_datastore $? "$out $("$vm" datastore list 2>&1 | tr '\n' '|')"

# ---- on KVM: a guest on a zvol, through grub-bhyve and bhyve
if [ "${VM_BHYVE##*/}" != bhyve ] || [ ! -c /dev/kvm ]; then
	echo "SKIP vm-zfs-loader_grub_zvol: needs VM_BHYVE=bin/bhyve and a usable /dev/kvm (the loader hands bhyve a long-mode vCPU; the nested tier's vm stage runs it)"
elif [ ! -f tests/guest/build/bzguest.bzImage ] || ! command -v mke2fs >/dev/null; then
	echo "SKIP vm-zfs-loader_grub_zvol: the bzImage test guest or mke2fs is missing"
else
	export VM_BHYVECTL=$top/bin/bhyvectl VM_GRUB_BHYVE=$top/bin/grub-bhyve
	export BHYVE_VMM_DIR=$work/vmm BHYVE_RUN_DIR=$work/run
	mkdir -p "$work/vmm" "$work/run"
	timeout 60 "$vm" start -f g2 </dev/null 2>&1 | tr -d '\r' >"$work/boot.out"
	rc=${PIPESTATUS[0]}
	grep -q "(hd0) $dev" "$vms/g2/device.map" && grep -qx 'bzguest: entry 64' "$work/boot.out" &&
		grep -qx 'bzguest: cmdline BOOT_IMAGE=/boot/bzguest vm.disk=zvol console=ttyS0' "$work/boot.out" &&
		grep -qx 'bzguest: done' "$work/boot.out" && grep -q -- "-s [0-9:]*,virtio-blk,$dev" "$vms/g2/vm-bhyve.log"
	check loader_grub_zvol $? "rc=$rc map: $(tr '\n' ' ' <"$vms/g2/device.map" 2>&1) | $(tail -5 "$work/boot.out" | tr '\n' '|') | $(tail -4 "$vms/g2/vm-bhyve.log" 2>&1 | tr '\n' '|')"
fi

# ---- destroy everything: no dataset or snapshot left
for g in g3 g1 g5 g2 g6; do "$vm" destroy -f "$g" >>"$work/out" 2>&1 || echo "destroy $g failed" >>"$work/out"; done
left=$(zfs list -H -t all -o name -r "$pool" | tr '\n' ' ')
[ "$left" = "$pool $pool/other $pool/vms " ] && ! ls "$vms" | grep -q . && [ -z "$("$vm" list | sed 1d)" ]
check destroy_nothing_left $? "left: $left; $(tail -3 "$work/out" | tr '\n' '|')"
exit $failed
