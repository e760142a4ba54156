# shellcheck shell=bash
# Sourced by the tests that boot a GRUB of their own through SeaBIOS
# (tests/boot/storage.sh, tests/gfx/grub_menu.sh, tests/bench/exits.sh,
# tests/linux/mkdisk.sh) and by those that read a VNC picture with OCR.

# grubimg_missing: prints why no GRUB image for BIOS can be made here (Debian
# packages grub-pc-bin, xorriso, mtools), or nothing.
grubimg_missing() {
	local t
	for t in grub-mkrescue xorriso mformat; do
		command -v "$t" >/dev/null ||
			{ echo "$t is missing (Debian packages grub-pc-bin, xorriso, mtools)"; return; }
	done
	[ -d /usr/lib/grub/i386-pc ] || echo "GRUB for BIOS is missing (Debian package grub-pc-bin)"
}

# grubimg_make TREE IMAGE LOG: a hybrid image (ISO 9660 and an MBR disk) of
# TREE, whose boot/grub/grub.cfg GRUB runs, with GRUB for BIOS only (smaller;
# nothing else would boot here); grub-mkrescue's output goes to LOG.
grubimg_make() {
	grub-mkrescue -d /usr/lib/grub/i386-pc -o "$2" "$1" >"$3" 2>&1
}

# grubimg_storage_tree TREE: the storage tests' GRUB: on COM1 it names its
# root device, hashes /data.bin (64 KiB of random bytes) with sha256 and
# halts. Prints the hash the guest must print.
grubimg_storage_tree() {
	mkdir -p "$1/boot/grub"
	head -c 65536 /dev/urandom >"$1/data.bin"
	cat >"$1/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
echo "storage: grub root $root"
hashsum --hash sha256 /data.bin
echo "storage: hashed"
halt
CFG
	sha256sum "$1/data.bin" | cut -d' ' -f1
}

# ocr_missing CLIENT: prints why no VNC picture can be taken and read here
# (the test client build/tests/vncclient, tesseract), or nothing.
ocr_missing() {
	if [ ! -x "$1" ]; then echo "build/tests/vncclient was not built (needs libvncserver-dev)"
	elif ! command -v tesseract >/dev/null; then echo "no tesseract (Debian packages tesseract-ocr, tesseract-ocr-eng)"
	fi
}
