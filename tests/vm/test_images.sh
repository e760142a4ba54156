#!/usr/bin/env bash
# vm iso / vm img (downloads from a local HTTP server in a network namespace
# of its own), image_to_disk and cloudinit_seed (through
# tests/vm/images_driver.c), clone / snapshot / rollback with reflinks on a
# loop-mounted XFS, and their refusal on tmpfs and ZFS.
set -u
cd "$(dirname "$0")/../.." || exit 1
vm=${VM_BIN:-$PWD/bin/vm}

pass() { echo "PASS vm-images-$1"; }
fail() { echo "FAIL vm-images-$1: $2"; }
skip() { echo "SKIP vm-images-$1: $2"; }
# true if $1 is exactly one line
one_line() { [ -n "$1" ] && [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ]; }

# ---- the download half, run by the other half inside `unshare -n`.
if [ "${1:-}" = "--in-netns" ]; then
	work=$2
	export VM_CONF=$work/vm.conf
	ip link set lo up || { fail netns "lo up failed"; exit 1; }
	port=$((20000 + RANDOM % 30000))
	python3 -m http.server --bind 127.0.0.1 --directory "$work/srv" "$port" >/dev/null 2>&1 &
	srv=$!
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	url=http://127.0.0.1:$port
	d=$work/vms

	out=$("$vm" iso "$url/test.iso" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ] && cmp -s "$work/srv/test.iso" "$d/.iso/test.iso"; then
		pass iso_download_quiet_when_not_a_tty
	else
		fail iso_download_quiet_when_not_a_tty "$out"
	fi

	out=$("$vm" iso "$url/missing.iso" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && one_line "$out" && [[ $out == *404* ]] &&
	    [ "$(ls -A "$d/.iso")" = "test.iso" ]; then
		pass http_404_one_line_no_partial_file
	else
		fail http_404_one_line_no_partial_file "rc=$rc $out; .iso holds: $(ls -A "$d/.iso")"
	fi

	out=$("$vm" iso "$url/test.iso" 2>&1)
	if [ $? -ne 0 ] && one_line "$out" && [[ $out == *"already exists"* ]]; then
		pass download_refuses_existing_file
	else
		fail download_refuses_existing_file "$out"
	fi

	out=$("$vm" img "$url/disk.raw.xz" 2>&1)
	if [ $? -eq 0 ] && cmp -s "$work/srv/disk.raw" "$d/.img/disk.raw" &&
	    [ "$(ls -A "$d/.img")" = "disk.raw" ]; then
		pass img_xz_unpacked_only_the_image_kept
	else
		fail img_xz_unpacked_only_the_image_kept "$out; .img holds: $(ls -A "$d/.img")"
	fi

	out=$("$vm" img "$url/disk.raw.zst" 2>&1)
	if [ $? -ne 0 ] && one_line "$out" && [[ $out == *"disk.raw already exists"* ]]; then
		pass img_unpacked_name_taken_refused
	else
		fail img_unpacked_name_taken_refused "$out"
	fi

	# On a terminal: a line per 10%.
	if command -v script >/dev/null; then
		out=$(script -qec "$vm img $url/other.img" /dev/null 2>&1 | tr -d '\r')
		if [[ $out =~ \ [1-9]0%\ \ [0-9.]+\ of\ 1.9\ MiB ]] && [[ $out == *"100%  1.9 of 1.9 MiB"* ]] && cmp -s "$work/srv/other.img" "$d/.img/other.img"; then
			pass progress_lines_on_a_terminal
		else
			fail progress_lines_on_a_terminal "$out"
		fi
	else
		skip progress_lines_on_a_terminal "script(1) is not installed"
	fi

	out=$("$vm" img 2>&1)
	want=$(printf '%-20s%s\n%-20s%s\n%-20s%s' DATASTORE FILENAME default disk.raw default other.img)
	if [ "$out" = "$want" ]; then
		pass img_list_vm_bhyve_format
	else
		fail img_list_vm_bhyve_format "$out"
	fi
	out=$("$vm" iso 2>&1)
	if [ "$out" = "$(printf '%-20s%s\n%-20s%s' DATASTORE FILENAME default test.iso)" ]; then
		pass iso_list_vm_bhyve_format
	else
		fail iso_list_vm_bhyve_format "$out"
	fi

	out=$("$vm" iso "http://127.0.0.1:1/x.iso" 2>&1)
	if [ $? -ne 0 ] && one_line "$out" && [ ! -e "$d/.iso/x.iso" ] && [ -z "$(ls -A "$d/.iso" | grep -v '^test.iso$')" ]; then
		pass connection_refused_one_line
	else
		fail connection_refused_one_line "$out"
	fi
	# A transfer that stalls, then SIGTERM: one line, no partial file.
	port2=$((port + 1))
	python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
c, _ = s.accept()
c.recv(4096)
c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 1000)
time.sleep(20)
' "$port2" &
	slow=$!
	for _ in $(seq 50); do
		ss -ltn 2>/dev/null | grep -q ":$port2 " && break
		sleep 0.1
	done
	"$vm" iso "http://127.0.0.1:$port2/slow.iso" 2>"$work/slow.err" &
	v=$!
	for _ in $(seq 50); do
		[ -e "$d/.iso/.slow.iso.part" ] && break
		sleep 0.1
	done
	sleep 0.3
	kill -TERM "$v"
	wait "$v"
	rc=$?
	out=$(cat "$work/slow.err")
	kill "$slow" 2>/dev/null
	wait "$slow" 2>/dev/null
	if [ $rc -ne 0 ] && one_line "$out" && [[ $out == *interrupted* ]] && [ "$(ls -A "$d/.iso")" = "test.iso" ]; then
		pass interrupted_download_removes_partial_file
	else
		fail interrupted_download_removes_partial_file "rc=$rc $out; .iso holds: $(ls -A "$d/.iso" | tr '\n' ' ')"
	fi

	# vm create -i IMAGE -C through vm init (which reaches switches: this
	# network namespace): image_to_disk and cloudinit_seed from vm/guest.c.
	e=$work/e2e
	mkdir -p "$e"
	printf 'vm_enable="YES"\nvm_dir="%s"\n' "$e/vms" >"$work/e2e.conf"
	truncate -s 16M "$e/raw.img"
	printf 'GRUB' | dd of="$e/raw.img" conv=notrunc status=none
	head -c 65536 /dev/urandom | dd of="$e/raw.img" bs=1M seek=9 conv=notrunc status=none
	echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEndToEnd e2e@test" >"$e/key.pub"
	if VM_CONF=$work/e2e.conf "$vm" init 2>"$e/err" && qemu-img convert -f raw -O qcow2 "$e/raw.img" "$e/vms/.img/cloud.img" &&
	    VM_CONF=$work/e2e.conf "$vm" create -s 64M -i cloud.img -C -k "$e/key.pub" -n "ip=10.9.8.7/24;gateway=10.9.8.1" c1 2>>"$e/err"; then
		g=$e/vms/c1
		mkdir -p "$e/x"
		xorriso -osirrox on -indev "$g/seed.iso" -extract / "$e/x" >/dev/null 2>&1
		if cmp -s -n 16777216 "$e/raw.img" "$g/disk0.img" && [ "$(stat -c %s "$g/disk0.img")" -eq 67108864 ] &&
		    [ "$(blkid -o value -s LABEL "$g/seed.iso")" = cidata ] && grep -q 'e2e@test' "$e/x/user-data" &&
		    grep -qx '      - 10.9.8.7/24' "$e/x/network-config" && grep -qx 'disk1_name="seed.iso"' "$g/c1.conf"; then
			pass create_from_qcow2_with_cloud_init_seed
		else
			fail create_from_qcow2_with_cloud_init_seed "$(ls -l "$g" | tr '\n' ' ')"
		fi
	else
		fail create_from_qcow2_with_cloud_init_seed "$(tr '\n' ' ' <"$e/err")"
	fi
	out=$(VM_CONF=$work/e2e.conf "$vm" create -C -n "ip=10.9.8.7;gateway=x" c2 2>&1)
	if [ $? -ne 0 ] && one_line "$out" && [[ $out == *"prefix length"* ]] && [ ! -e "$e/vms/c2" ]; then
		pass create_bad_net_spec_one_line
	else
		fail create_bad_net_spec_one_line "$out"
	fi
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	exit 0
fi

work=$(mktemp -d)
xfs_mnt=
tmp_mnt=
cleanup() {
	[ -n "$xfs_mnt" ] && umount "$xfs_mnt" 2>/dev/null
	[ -n "$tmp_mnt" ] && umount "$tmp_mnt" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# A host set-up by hand (vm init is not ours): vm_dir with .config .iso .img.
mkvmdir() {
	mkdir -p "$1/.config" "$1/.iso" "$1/.img"
	printf 'vm_dir="%s"\n' "$1" >"$2"
}
mkvmdir "$work/vms" "$work/vm.conf"

# ---- downloads
mkdir -p "$work/srv"
head -c 300000 /dev/urandom >"$work/srv/test.iso"
truncate -s 4M "$work/srv/disk.raw"
printf 'BOOT' | dd of="$work/srv/disk.raw" conv=notrunc status=none
head -c 100000 /dev/urandom | dd of="$work/srv/disk.raw" bs=1M seek=2 conv=notrunc status=none
xz -k -0 "$work/srv/disk.raw"
zstd -q -k "$work/srv/disk.raw" -o "$work/srv/disk.raw.zst"
head -c 2000000 /dev/urandom >"$work/srv/other.img"
if ! command -v python3 >/dev/null; then
	skip downloads "python3 is not installed (the test's HTTP server)"
elif ! unshare -n true 2>/dev/null; then
	skip downloads "cannot make a network namespace (unshare -n)"
else
	unshare -n bash "$0" --in-netns "$work"
fi

# ---- image_to_disk and cloudinit_seed through the test driver
drv=$work/images_driver
if ! cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ivm -o "$drv" tests/vm/images_driver.c vm/util.c \
    vm/diskimage.c vm/cloudinit.c $(pkg-config --cflags --libs libarchive) 2>"$work/cc.err"; then
	fail driver_builds "$(head -3 "$work/cc.err")"
else
	i=$work/img
	mkdir -p "$i"
	truncate -s 256M "$i/raw.img"
	printf 'MBR!' | dd of="$i/raw.img" conv=notrunc status=none
	head -c 1048576 /dev/urandom | dd of="$i/raw.img" bs=1M seek=100 conv=notrunc status=none
	# allocated zeros too: the copy must leave them out
	dd if=/dev/zero of="$i/raw.img" bs=1M seek=200 count=8 conv=notrunc status=none
	if "$drv" to-disk "$i/raw.img" "$i/d1.img" && cmp -s "$i/raw.img" "$i/d1.img" &&
	    [ "$(du -k "$i/d1.img" | cut -f1)" -lt 4096 ]; then
		pass raw_copied_sparse
	else
		fail raw_copied_sparse "du $(du -k "$i/d1.img" 2>&1)"
	fi

	qemu-img convert -f raw -O qcow2 "$i/raw.img" "$i/raw.qcow2"
	if "$drv" to-disk "$i/raw.qcow2" "$i/d2.img" && cmp -s "$i/raw.img" "$i/d2.img" &&
	    [ "$(du -k "$i/d2.img" | cut -f1)" -lt 4096 ]; then
		pass qcow2_converted_to_raw
	else
		fail qcow2_converted_to_raw "$(ls -ls "$i" 2>&1 | tr '\n' ' ')"
	fi

	qemu-img convert -f raw -O vmdk "$i/raw.img" "$i/raw.vmdk"
	qemu-img convert -f raw -O vdi "$i/raw.img" "$i/raw.vdi"
	if "$drv" to-disk "$i/raw.vmdk" "$i/d3.img" && cmp -s "$i/raw.img" "$i/d3.img" &&
	    "$drv" to-disk "$i/raw.vdi" "$i/d4.img" && cmp -s "$i/raw.img" "$i/d4.img"; then
		pass vmdk_vdi_converted_to_raw
	else
		fail vmdk_vdi_converted_to_raw "see $i"
	fi
	rm -f "$i"/d3.img "$i"/d4.img "$i"/raw.vmdk "$i"/raw.vdi

	gzip -1 -c "$i/raw.img" >"$i/raw.img.gz"
	if "$drv" to-disk "$i/raw.img.gz" "$i/d5.img" && cmp -s "$i/raw.img" "$i/d5.img" &&
	    [ "$(du -k "$i/d5.img" | cut -f1)" -lt 4096 ]; then
		pass gz_unpacked_sparse
	else
		fail gz_unpacked_sparse "du $(du -k "$i/d5.img" 2>&1)"
	fi
	xz -0 -c "$i/raw.qcow2" >"$i/raw.qcow2.xz"
	if "$drv" to-disk "$i/raw.qcow2.xz" "$i/d6.img" && cmp -s "$i/raw.img" "$i/d6.img"; then
		pass qcow2_xz_unpacked_then_converted
	else
		fail qcow2_xz_unpacked_then_converted "see $i"
	fi
	rm -f "$i"/d*.img "$i/raw.img.gz" "$i/raw.qcow2.xz"

	printf 'QFI\373 not really a qcow2 image' >"$i/bad.qcow2"
	out=$("$drv" to-disk "$i/bad.qcow2" "$i/bad.img" 2>&1)
	if [ $? -ne 0 ] && one_line "$out" && [[ $out == *qemu-img* ]] && [ -z "$(ls "$i" | grep '^bad.img')" ]; then
		pass bad_qcow2_one_line_no_partial_disk
	else
		fail bad_qcow2_one_line_no_partial_disk "$out; $(ls "$i" | tr '\n' ' ')"
	fi
	printf '\375''7zXZ\0 truncated' >"$i/bad.xz"
	out=$("$drv" to-disk "$i/bad.xz" "$i/bad.img" 2>&1)
	if [ $? -ne 0 ] && one_line "$out" && [ -z "$(ls "$i" | grep '^bad.img')" ]; then
		pass bad_xz_one_line_no_partial_disk
	else
		fail bad_xz_one_line_no_partial_disk "$out; $(ls "$i" | tr '\n' ' ')"
	fi
	rm -rf "$i"

	# cloud-init NoCloud seed
	c=$work/ci
	mkdir -p "$c"
	echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKeyOnly test@host" >"$c/key.pub"
	if "$drv" seed "$c/seed.iso" ubuntu1 "$c/key.pub" \
	    "ip=192.168.8.20/24;gateway=192.168.8.1;nameservers=192.168.8.1,9.9.9.9;hostname=web1" 2>"$c/err"; then
		label=$(blkid -o value -s LABEL "$c/seed.iso" 2>/dev/null)
		pvd=$(xorriso -indev "$c/seed.iso" -pvd_info 2>&1 | sed -n "s/^Volume id *: '\(.*\)'$/\1/p")
		if [ "$label" = cidata ] && [ "${pvd,,}" = cidata ]; then
			pass seed_volume_label_cidata
		else
			fail seed_volume_label_cidata "blkid '$label', PVD '$pvd'"
		fi
		xorriso -osirrox on -indev "$c/seed.iso" -extract / "$c/x" >/dev/null 2>&1
		if grep -qx 'local-hostname: web1' "$c/x/meta-data" && grep -q '^instance-id: iid-ubuntu1-' "$c/x/meta-data" &&
		    [ "$(head -1 "$c/x/user-data")" = "#cloud-config" ] &&
		    grep -qxF "  - 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKeyOnly test@host'" "$c/x/user-data" &&
		    grep -qx 'version: 2' "$c/x/network-config" && grep -qx '      - 192.168.8.20/24' "$c/x/network-config" &&
		    grep -qx '        via: 192.168.8.1' "$c/x/network-config" && grep -qx '        - 9.9.9.9' "$c/x/network-config" &&
		    grep -qx '    dhcp4: false' "$c/x/network-config"; then
			pass seed_files_static_network
		else
			fail seed_files_static_network "$(cat "$c"/x/* 2>&1 | tr '\n' '|')"
		fi
	else
		fail seed_volume_label_cidata "$(cat "$c/err")"
	fi
	rm -rf "$c/x"
	if "$drv" seed "$c/dhcp.iso" alpine1 - - 2>"$c/err" &&
	    xorriso -osirrox on -indev "$c/dhcp.iso" -extract / "$c/x" >/dev/null 2>&1 &&
	    grep -qx '    dhcp4: true' "$c/x/network-config" && grep -qx 'local-hostname: alpine1' "$c/x/meta-data" &&
	    ! grep -q ssh_authorized_keys "$c/x/user-data"; then
		pass seed_dhcp_without_key
	else
		fail seed_dhcp_without_key "$(cat "$c/err")"
	fi
	out=$("$drv" seed "$c/bad.iso" alpine1 - "ip=192.168.8.300/24" 2>&1)
	out2=$("$drv" seed "$c/bad.iso" alpine1 - "ip=10.0.0.2/24;colour=blue" 2>&1)
	out3=$("$drv" seed "$c/bad.iso" alpine1 "$c/missing.pub" - 2>&1)
	if one_line "$out" && one_line "$out2" && [[ $out2 == *colour* ]] && one_line "$out3" &&
	    [ -z "$(ls "$c" | grep bad.iso)" ]; then
		pass seed_bad_input_one_line
	else
		fail seed_bad_input_one_line "$out / $out2 / $out3"
	fi
fi

# ---- clone, snapshot, rollback
# A guest as vm create makes it: NAME/NAME.conf and disk0.img.
mkguest() { # dir name
	mkdir -p "$1/$2"
	cat >"$1/$2/$2.conf" <<EOF
loader="grub"
cpu=1
memory=256M
network0_type="virtio-net"
network0_switch="public"
network0_mac="58:9c:fc:01:02:03"
disk0_type="virtio-blk"
disk0_name="disk0.img"
uuid="11111111-2222-4333-8444-555555555555"
EOF
	head -c 33554432 /dev/urandom >"$1/$2/disk0.img"
}
used_kb() { df -k --output=used "$1" | tail -1 | tr -d ' '; }

# A ZFS datastore that is not there (no zfs module, or no such dataset
# mounted): one line. tests/vm/test_zfs.sh runs them on a real pool.
printf 'vm_dir="zfs:tank/vm"\n' >"$work/zfs.conf"
out=$(VM_CONF=$work/zfs.conf "$vm" snapshot g1 2>&1)
out2=$(VM_CONF=$work/zfs.conf "$vm" clone g1 g2 2>&1)
if [ $? -ne 0 ] && one_line "$out" && one_line "$out2" &&
	[[ $out == "vm: ERROR: zfs:tank/vm: ZFS support requested but ZFS is not available"* ||
		$out == "vm: ERROR: zfs:tank/vm doesn't seem to be a valid, mounted dataset"* ]]; then
	pass zfs_refused_one_line
else
	fail zfs_refused_one_line "$out / $out2"
fi

xfs_img=$work/xfs.img
truncate -s 512M "$xfs_img"
if ! mkfs.xfs -q -m reflink=1 "$xfs_img" 2>"$work/mkfs.err"; then
	skip reflink "mkfs.xfs -m reflink=1 failed: $(head -1 "$work/mkfs.err")"
elif ! mkdir -p "$work/xfs" || ! mount -o loop "$xfs_img" "$work/xfs" 2>"$work/mount.err"; then
	skip reflink "no loop device to mount an XFS image: $(head -1 "$work/mount.err")"
else
	xfs_mnt=$work/xfs
	x=$xfs_mnt/vms
	mkvmdir "$x" "$work/xfs.conf"
	export VM_CONF=$work/xfs.conf
	mkguest "$x" g1
	cp "$x/g1/disk0.img" "$work/disk0.orig"
	sync
	u0=$(used_kb "$xfs_mnt")
	out=$("$vm" snapshot g1@s1 2>&1)
	sync
	u1=$(used_kb "$xfs_mnt")
	if [ $? -eq 0 ] && [ -z "$out" ] && cmp -s "$x/g1/disk0.img" "$x/g1/.snapshots/s1/disk0.img" &&
	    [ -f "$x/g1/.snapshots/s1/g1.conf" ] && [ $((u1 - u0)) -lt 2048 ]; then
		pass snapshot_reflinked_costs_no_space
	else
		fail snapshot_reflinked_costs_no_space "$out; used +$((u1 - u0)) KiB"
	fi
	if xfs_io -r -c "fiemap -v" "$x/g1/.snapshots/s1/disk0.img" 2>/dev/null | awk 'NR>2 {print $NF}' | grep -q '0x2[0-9a-f]\{3\}'; then
		pass snapshot_extents_shared
	else
		fail snapshot_extents_shared "$(xfs_io -r -c 'fiemap -v' "$x/g1/.snapshots/s1/disk0.img" 2>&1 | head -4 | tr '\n' '|')"
	fi

	out=$("$vm" snapshot g1@s1 2>&1)
	if [ $? -ne 0 ] && one_line "$out" && [[ $out == *"already exists"* ]]; then
		pass snapshot_name_taken_one_line
	else
		fail snapshot_name_taken_one_line "$out"
	fi

	# The guest writes its disk and its settings change; rollback undoes both.
	head -c 1048576 /dev/urandom | dd of="$x/g1/disk0.img" bs=1M seek=3 conv=notrunc status=none
	echo 'cpu=4' >>"$x/g1/g1.conf"
	touch "$x/g1/disk1.img"
	sleep 0.01
	"$vm" snapshot g1@s2 >/dev/null 2>&1
	out=$("$vm" rollback g1@s1 2>&1)
	if [ $? -ne 0 ] && one_line "$out" && [[ $out == *"s2"*"-r"* ]]; then
		pass rollback_past_later_snapshot_needs_r
	else
		fail rollback_past_later_snapshot_needs_r "$out"
	fi
	out=$("$vm" rollback -r g1@s1 2>&1)
	if [ $? -eq 0 ] && cmp -s "$x/g1/disk0.img" "$work/disk0.orig" && ! grep -q 'cpu=4' "$x/g1/g1.conf" &&
	    [ ! -e "$x/g1/disk1.img" ] && [ ! -e "$x/g1/.snapshots/s2" ] && [ -d "$x/g1/.snapshots/s1" ]; then
		pass rollback_restores_disk_and_conf
	else
		fail rollback_restores_disk_and_conf "$out; $(ls -A "$x/g1" "$x/g1/.snapshots" | tr '\n' ' ')"
	fi
	out=$("$vm" rollback g1 2>&1)
	out2=$("$vm" rollback g1@nope 2>&1)
	if [ $? -ne 0 ] && one_line "$out" && one_line "$out2" && [[ $out2 == *"does not exist"* ]]; then
		pass rollback_bad_snapshot_one_line
	else
		fail rollback_bad_snapshot_one_line "$out / $out2"
	fi

	sync
	u0=$(used_kb "$xfs_mnt")
	out=$("$vm" clone g1 g2 2>&1)
	sync
	u1=$(used_kb "$xfs_mnt")
	uuid=$(sed -n 's/^uuid="\(.*\)"$/\1/p' "$x/g2/g2.conf")
	mac=$(sed -n 's/^network0_mac="\(.*\)"$/\1/p' "$x/g2/g2.conf")
	if [ -z "$out" ] && [ -f "$x/g2/g2.conf" ] && [ ! -e "$x/g2/g1.conf" ] && cmp -s "$x/g2/disk0.img" "$x/g1/disk0.img" &&
	    [ -n "$uuid" ] && [ "$uuid" != 11111111-2222-4333-8444-555555555555 ] &&
	    [[ $mac == 58:9c:fc:* ]] && [ "$mac" != 58:9c:fc:01:02:03 ] && [ ! -e "$x/g2/.snapshots" ] &&
	    grep -qx 'disk0_name="disk0.img"' "$x/g2/g2.conf" && [ $((u1 - u0)) -lt 2048 ]; then
		pass clone_new_uuid_mac_shared_disk
	else
		fail clone_new_uuid_mac_shared_disk "$out; uuid $uuid mac $mac used +$((u1 - u0)) KiB"
	fi
	head -c 1048576 /dev/urandom | dd of="$x/g1/disk0.img" bs=1M seek=5 conv=notrunc status=none
	out=$("$vm" clone g1@s1 g3 2>&1)
	if [ -z "$out" ] && cmp -s "$x/g3/disk0.img" "$work/disk0.orig" && [ -f "$x/g3/g3.conf" ]; then
		pass clone_from_snapshot
	else
		fail clone_from_snapshot "$out"
	fi
	out=$("$vm" clone g1 g2 2>&1)
	out2=$("$vm" clone g1 'bad/name' 2>&1)
	out3=$("$vm" clone nosuch g9 2>&1)
	if one_line "$out" && [[ $out == *exists* ]] && one_line "$out2" && one_line "$out3" && [ ! -e "$x/g9" ]; then
		pass clone_bad_input_one_line
	else
		fail clone_bad_input_one_line "$out / $out2 / $out3"
	fi

	# A running guest (its run lock held, as the supervisor holds it):
	# rollback refuses.
	: >"$x/g1/run.lock"
	flock -o "$x/g1/run.lock" sleep 30 &
	sl=$!
	echo "$sl $(hostname)" >"$x/g1/run.lock"
	sleep 0.2
	out=$("$vm" rollback g1@s1 2>&1)
	rc=$?
	pkill -P "$sl" 2>/dev/null; kill "$sl" 2>/dev/null
	wait "$sl" 2>/dev/null
	rm -f "$x/g1/run.lock"
	if [ $rc -ne 0 ] && one_line "$out" && [[ $out == *running* ]]; then
		pass rollback_refused_while_running
	else
		fail rollback_refused_while_running "rc=$rc $out"
	fi
	unset VM_CONF
fi

# tmpfs has no reflinks: one line, nothing left behind.
if mkdir -p "$work/tmpfs" && mount -t tmpfs -o size=64m tmpfs "$work/tmpfs" 2>/dev/null; then
	tmp_mnt=$work/tmpfs
	t=$tmp_mnt/vms
	mkvmdir "$t" "$work/tmpfs.conf"
	mkguest "$t" g1
	out=$(VM_CONF=$work/tmpfs.conf "$vm" snapshot g1@s1 2>&1)
	out2=$(VM_CONF=$work/tmpfs.conf "$vm" clone g1 g2 2>&1)
	if one_line "$out" && [[ $out == *reflink* ]] && one_line "$out2" && [[ $out2 == *reflink* ]] &&
	    [ ! -e "$t/g2" ] && [ -z "$(ls -A "$t/g1/.snapshots" 2>/dev/null)" ]; then
		pass no_reflinks_refused_one_line
	else
		fail no_reflinks_refused_one_line "$out / $out2"
	fi
else
	skip no_reflinks_refused_one_line "cannot mount a tmpfs"
fi
exit 0
