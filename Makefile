# bhyve for Linux/KVM. `make` builds bin/bhyve; `make check` runs every test;
# `make bench` compares start-up, memory, virtio-blk, NVMe and AHCI throughput, virtio-net
# transmit, what a hostile guest's virtio-blk flood costs, the VNC console (frames, bytes,
# idle CPU), a Linux guest's boot time and start-up through a loader (grub-bhyve + bhyve
# against -kernel) with QEMU, and times vm(8) (start, list, 20 guests to a DHCP lease); the two
# Linux benchmarks run nested (tests/nested/run.sh) where there is no hardware KVM.
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ibhyve -Ilib/vmmapi -Ibuild
LDLIBS  += -lpthread
# liburing (the block backend's io_uring engine), from liburing-dev.
LDLIBS  += -luring
# libslirp (the slirp network backend): its header from libslirp-dev; the library
# itself is loaded with dlopen when a VM has a slirp device (net_slirp.c).
SLIRP_CFLAGS := $(shell pkg-config --cflags slirp)
$(if $(SLIRP_CFLAGS),,$(error pkg-config finds no libslirp: run tools/setup (libslirp-dev, libglib2.0-dev)))
LDLIBS  += -ldl
# libvncserver (fbuf's VNC server, backends/rfb.c): its header from
# libvncserver-dev; the library is loaded with dlopen when a VM has an fbuf.
$(if $(shell pkg-config --exists libvncserver && echo y),,$(error pkg-config finds no libvncserver: run tools/setup (libvncserver-dev)))

# The registry and the vCPU state files are shared by bhyve, bhyve-emu, bhyvectl
# and the unit tests.
REG_SRCS    := lib/vmmapi/registry.c lib/vmmapi/vcpustate.c
VMMAPI_SRCS := lib/vmmapi/vmmapi.c lib/vmmapi/memseg.c lib/vmmapi/suspend.c $(REG_SRCS)
# Everything in bhyve/ but main (bhyverun.c) is the core the unit tests link too.
CORE_SRCS   := $(filter-out bhyve/bhyverun.c,$(wildcard bhyve/*.c)) $(wildcard bhyve/backends/*.c)
DEVICE_SRCS := $(wildcard bhyve/devices/*.c)
BHYVE_SRCS  := bhyve/bhyverun.c $(CORE_SRCS) $(DEVICE_SRCS) $(VMMAPI_SRCS)
BHYVE_OBJS  := $(BHYVE_SRCS:%.c=build/%.o)

# bin/bhyve-emu is built where Unicorn (libunicorn-dev) is installed; see below.
EMU_BIN  := $(if $(shell pkg-config --exists unicorn && echo y),bin/bhyve-emu)

# tests/gfx/vncclient: the gfx tier's VNC client, where libvncclient is installed.
VNCCLIENT := $(if $(shell pkg-config --exists libvncclient && echo y),build/tests/vncclient)

all: bin/bhyve bin/bhyvectl bin/bhyveload bin/grub-bhyve bin/vm guest build/tests/unit_tests build/tests/grub_tests build/tests/testload \
	build/tests/handoff.bin $(EMU_BIN) $(VNCCLIENT)

# Every symbol bound at start-up (-z now, and the GOT read-only after): no lazy
# binding through the dynamic linker's code later, whose pages
# trim_startup_pages (bhyve/util.c) has dropped once start-up is over.
BHYVE_LDFLAGS := -Wl,-z,now -Wl,-z,relro

bin/bhyve: $(BHYVE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(BHYVE_LDFLAGS) -o $@ $^ $(LDLIBS)

# bin/bhyve-emu: the same VMM over a software CPU (lib/vmmapi/vmmapi_emu.c), so the
# test guest can drive the whole process on hosts without /dev/kvm. Built when
# Unicorn (libunicorn-dev) is installed.
EMU_SRCS := bhyve/bhyverun.c $(CORE_SRCS) $(DEVICE_SRCS) lib/vmmapi/vmmapi_emu.c lib/vmmapi/emu_pit.c lib/vmmapi/memseg.c lib/vmmapi/suspend.c $(REG_SRCS)
EMU_OBJS := $(EMU_SRCS:%.c=build/%.o)
bin/bhyve-emu: $(EMU_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(BHYVE_LDFLAGS) -o $@ $^ $(LDLIBS) $$(pkg-config --libs unicorn)

# bhyvectl(8): its own program, sharing only lib/ with bhyve.
bin/bhyvectl: build/bhyvectl/bhyvectl.o build/lib/vmmapi/registry.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^

# vm(8): vm-bhyve's workflow (vm/vm.h names its files). Bridges and taps through
# libnl-route-3 (libnl-route-3-dev), --json through json-c (libjson-c-dev),
# downloads through libcurl (libcurl4-openssl-dev), images and cloud-init seed
# ISOs through libarchive (libarchive-dev).
VM_PKGS   := libnl-route-3.0 json-c libcurl libarchive
$(if $(shell pkg-config --exists $(VM_PKGS) && echo y),,$(error pkg-config finds no libnl-route-3, json-c, libcurl or libarchive: run tools/setup))
VM_CFLAGS := $(shell pkg-config --cflags $(VM_PKGS))
VM_OBJS   := $(patsubst %.c,build/%.o,$(wildcard vm/*.c))
$(VM_OBJS): CFLAGS += $(VM_CFLAGS)
$(VM_OBJS): vm/vm.h
bin/vm: $(VM_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $$(pkg-config --libs $(VM_PKGS))

# bhyveload(8): its command line, then a refusal (FreeBSD guests boot with UEFI).
bin/bhyveload: bhyveload/bhyveload.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $<

# A test-only loader (tests/registry/testload.c): makes a VM in the registry and
# leaves a flat image in its memory and a vCPU state, for the hand-off tests.
build/tests/testload: tests/registry/testload.c lib/vmmapi/registry.c lib/vmmapi/registry.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ tests/registry/testload.c lib/vmmapi/registry.c

build/tests/vncclient: tests/gfx/vncclient.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $$(pkg-config --libs libvncclient)

build/tests/handoff.bin: tests/registry/handoff.asm
	@mkdir -p $(@D)
	nasm -f bin -o $@ $<

build/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The seccomp filter: compiled from its rules by libseccomp (libseccomp-dev) at
# build time and embedded (bhyve/sandbox.c), so bhyve does not load libseccomp.
build/sandbox-gen: tools/sandbox-gen.c bhyve/sandbox.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lseccomp
build/sandbox_bpf.h: build/sandbox-gen
	build/sandbox-gen >$@.tmp && mv $@.tmp $@
build/bhyve/sandbox.o: build/sandbox_bpf.h

# The keyboard layouts (-K) in share/bhyve/kbdlayout are made from the X
# keyboard data (xkb-data) by tools/kbdlayout-gen through libxkbcommon
# (libxkbcommon-dev, a test-time package: bhyve reads the files, it does not
# link the library). `make kbdlayouts` writes them again from
# tools/kbdlayouts.list; the gfx tier checks that they are in step.
build/tools/kbdlayout-gen: tools/kbdlayout-gen.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lxkbcommon
kbdlayouts: build/tools/kbdlayout-gen
	tools/kbdlayouts.sh share/bhyve/kbdlayout

guest:
	$(MAKE) -C tests/guest

# Unit tests drive the device models without KVM: the real core and devices,
# linked against a fake libvmmapi (tests/unit/fake_vmmapi.c), under ASan/UBSan.
UNIT_SRCS := $(wildcard tests/unit/*.c) $(CORE_SRCS) $(DEVICE_SRCS) lib/vmmapi/memseg.c $(REG_SRCS)
SANITIZE  := -fsanitize=address,undefined -fno-omit-frame-pointer
# Link-time seams: tests/unit/uring_seam.c bends io_uring's submissions and completions.
UNIT_SEAMS := -Wl,--wrap=io_uring_submit -Wl,--wrap=io_uring_peek_batch_cqe
build/tests/unit_tests: $(UNIT_SRCS) build/sandbox_bpf.h $(wildcard bhyve/*.h bhyve/*/*.h lib/vmmapi/*.h tests/unit/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SANITIZE) -Itests/unit -o $@ $(UNIT_SRCS) $(UNIT_SEAMS) $(LDLIBS)

# grub-bhyve/: the Linux loader (disks, partition tables, filesystems, grub.cfg,
# the boot-protocol planner) and bin/grub-bhyve (main.c), which leaves a VM in
# the registry. libext2fs, libarchive and libblkid from libext2fs-dev,
# libarchive-dev, libblkid-dev.
GRUB_SRCS := $(filter-out grub-bhyve/main.c,$(wildcard grub-bhyve/*.c))
GRUB_LIBS := -lext2fs -lcom_err -larchive -lblkid
GRUB_PC   := $(shell pkg-config --exists ext2fs com_err libarchive blkid && echo y)
$(if $(GRUB_PC),,$(error pkg-config finds no libext2fs, libarchive or libblkid: run tools/setup (libext2fs-dev, libarchive-dev, libblkid-dev)))
bin/grub-bhyve: grub-bhyve/main.c $(GRUB_SRCS) build/lib/vmmapi/registry.o $(wildcard grub-bhyve/*.h lib/vmmapi/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Igrub-bhyve -o $@ grub-bhyve/main.c $(GRUB_SRCS) build/lib/vmmapi/registry.o $(GRUB_LIBS)

build/tests/grub_tests: $(GRUB_SRCS) $(wildcard tests/grub/*.c grub-bhyve/*.h tests/grub/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SANITIZE) -Igrub-bhyve -Itests/grub -o $@ \
	    $(GRUB_SRCS) $(wildcard tests/grub/*.c) $(GRUB_LIBS)

# libFuzzer targets (clang with libFuzzer, ASan, UBSan): one per guest-facing
# parser (the virtqueue walk, virtio's PCI transport, PCI configuration space and
# MSI-X, virtio-net receive, virtio-console, NVMe, AHCI, fw_cfg, fwctl, pflash,
# the HPET, RTC, UARTs, 8042 and PM registers, the tap and slirp backends) and
# config parser (-s/-l/-o, -k files). Each target is tests/fuzz/fuzz_NAME.c; the
# core and devices are compiled once for all of them (build/fuzz/), with the op
# stream they share (tests/fuzz/fuzz_common.c). Seeds: tests/fuzz/corpus/NAME/.
FUZZ_LIBSRCS := tests/unit/fake_vmmapi.c lib/vmmapi/memseg.c $(REG_SRCS) $(CORE_SRCS) $(DEVICE_SRCS) \
	tests/fuzz/fuzz_common.c
FUZZ_OBJS    := $(FUZZ_LIBSRCS:%.c=build/fuzz/%.o)
FUZZ_CFLAGS  := -std=gnu11 -D_GNU_SOURCE -g -O1 -Ibhyve -Ilib/vmmapi -Ibuild -Itests/unit -Itests/fuzz \
	$(SLIRP_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=undefined
build/fuzz/%.o: %.c build/sandbox_bpf.h
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_CFLAGS_$(notdir $*)) -MMD -MP -c -o $@ $<
# The VGA's picture loops compare per pixel: edge coverage without the
# comparison tracing that made a render cost milliseconds (ASan stays).
FUZZ_CFLAGS_vga := -fno-sanitize-coverage=trace-cmp
build/fuzz/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -Wall -Wextra -Werror -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
build/tests/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -Wall -Wextra -Werror -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

# grub-bhyve's: the partition tables, grub.cfg, the bzImage header and planner.
# The grub.cfg interpreter's and the ISO reader's limits are smaller there
# (500 commands a run, not 200,000; 1 MiB of words expanded a run, not 64 MiB;
# 8 files sourced, not 64; an ISO's tree of 20,000 entries, not 200,000), so that
# a looping, self-sourcing, doubling or endless input reaches them sooner.
# grub_cfg is built without comparison tracing (edge coverage, ASan and UBSan
# stay): the interpreter compares every character it reads, and that tracing
# was a fifth of its time; strcmp's hooks still lead it to command names.
FUZZ_GRUB_CFLAGS_cfg := -fno-sanitize-coverage=trace-cmp
build/tests/fuzz_grub_%: tests/fuzz/fuzz_grub_%.c $(GRUB_SRCS) $(wildcard grub-bhyve/*.h)
	@mkdir -p $(@D)
	clang -std=gnu11 -D_GNU_SOURCE -g -O1 -Igrub-bhyve -DMAX_STEPS=500 -DMAX_SCRIPTS=8 \
	    -DMAX_EXPANSION=1048576 \
	    -DISO_MAX_ENTRIES=20000 $(FUZZ_GRUB_CFLAGS_$*) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -o $@ $< $(GRUB_SRCS) $(GRUB_LIBS)

# Every target (grub-bhyve's too) for FUZZ_SECONDS (60) each: tests/fuzz/run.sh.
fuzz:
	tests/fuzz/run.sh

check: all
	tests/run

# The KVM tiers inside an L1 Linux under QEMU's software CPU with emulated SVM,
# whatever this host's KVM is (tests/nested/tier.sh; part of check where
# /dev/kvm is missing or PVM).
check-nested: all
	tests/nested/tier.sh force

# The built-in demo (tools/demo): the test guest on the console, 2 vCPUs, 128 MiB,
# an entropy device and user-mode networking (it pings slirp's gateway), on KVM; on
# a host without a usable /dev/kvm it says so and runs demo-emu instead: the same on
# the software CPU (one vCPU). It builds only what it runs, and fails (its last line
# says so) when the guest does not pass its checks and power off.
demo-emu: bin/bhyve-emu tests/guest/build/guest.rom
	@tools/demo bin/bhyve-emu

KVM_USABLE := $(shell [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && echo y)
demo: $(if $(KVM_USABLE),bin/bhyve,bin/bhyve-emu) tests/guest/build/guest.rom
ifeq ($(KVM_USABLE),y)
	@tools/demo bin/bhyve
else
	@echo "make demo: no usable /dev/kvm on this host; running it under bin/bhyve-emu (software CPU)"
	@tools/demo bin/bhyve-emu
endif

tests/guest/build/guest.rom: FORCE
	@$(MAKE) -s --no-print-directory -C tests/guest build/guest.rom

bench: all
	tests/bench/startup.sh
	tests/bench/exits.sh
	tests/bench/blk.sh
	tests/bench/storage.sh
	tests/bench/net.sh
	tests/bench/flood.sh
	tests/bench/vm.sh
	tests/bench/gfx.sh
	@if [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then tests/bench/linuxboot.sh; \
	else echo "linuxboot: no hardware KVM here; booting Linux under bhyve and QEMU nested"; \
	    tests/nested/run.sh -t 3000 tests/bench/linuxboot.sh; fi
	@if [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then tests/bench/loaderboot.sh; \
	else echo "loaderboot: no hardware KVM here; grub-bhyve + bhyve against QEMU -kernel nested"; \
	    tests/nested/run.sh -t 3000 tests/bench/loaderboot.sh; fi

cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	    --std=c11 -D_GNU_SOURCE -Ibhyve -Ilib/vmmapi -Igrub-bhyve -Ivm --suppress=missingIncludeSystem \
	    bhyve bhyvectl vm bhyveload lib grub-bhyve tests/unit tests/grub tests/fuzz tests/registry tests/gfx

# make install [PREFIX=/usr/local] [DESTDIR=...]: the programs to sbin, the
# manuals, vm(8)'s systemd unit (tools/vm.service) and its bash completion,
# FreeBSD's example vmrun.sh to share/examples/bhyve (where FreeBSD puts it), and
# the keyboard layouts (-K) to share/bhyve/kbdlayout, the directory bhyve is
# built to read them from (so PREFIX must be the same for make and make install).
PREFIX ?= /usr/local
build/bhyve/devices/kbdlayout.o: CFLAGS += -DKBDLAYOUT_DIR='"$(PREFIX)/share/bhyve/kbdlayout"'
install: bin/vm
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/bhyve/kbdlayout $(DESTDIR)$(PREFIX)/share/examples/bhyve
	install -m 755 examples/vmrun.sh $(DESTDIR)$(PREFIX)/share/examples/bhyve/
	install -m 644 share/bhyve/kbdlayout/* $(DESTDIR)$(PREFIX)/share/bhyve/kbdlayout/
	install -m 755 bin/* $(DESTDIR)$(PREFIX)/sbin/
	install -m 644 docs/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 docs/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 docs/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' tools/vm.service >$(DESTDIR)$(PREFIX)/lib/systemd/system/vm.service
	install -m 644 tools/vm.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/vm

clean:
	rm -rf build bin
	$(MAKE) -C tests/guest clean

.PHONY: all guest check check-nested demo demo-emu bench cppcheck fuzz install clean kbdlayouts FORCE
FORCE:
-include $(BHYVE_OBJS:.o=.d) $(EMU_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)
