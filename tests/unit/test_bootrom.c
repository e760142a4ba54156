/* -l bootrom: the ROM and its variables file mapped below 4 GiB. Each test removes
 * the MMIO range bootrom_init registered so that the next can map again. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "devices/bootrom.h"
#include "config.h"
#include "fake_vmmapi.h"
#include "fwcfg.h"
#include "iodispatch.h"
#include "test.h"

#define TOP	(1ULL << 32)

static const struct fake_slot *slot_at(uint64_t gpa)
{
	for (int i = 0; i < fake_vmm.nslots; i++)
		if (fake_vmm.slots[i].gpa == gpa)
			return &fake_vmm.slots[i];
	return NULL;
}

static void bootrom_none_configured_maps_nothing(void)
{
	free_config();
	fake_reset_slots();
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), 0);
	CHECK_EQ(fake_vmm.nslots, 0);
}

static void bootrom_maps_rom_read_only_below_4g(void)
{
	char *rom = make_temp_file(64 * 1024, 0x11);
	const struct fake_slot *s;
	uint64_t v = 0;

	REQUIRE(rom != NULL);
	free_config();
	set_config_value("lpc.fwcfg", "bhyve");	/* no legacy BIOS copy: see below */
	set_config_value("lpc.bootrom", rom);
	fake_reset_slots();
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), 0);
	CHECK_EQ(fake_vmm.nslots, 1);
	s = slot_at(TOP - 64 * 1024);
	CHECK(s != NULL);
	if (s != NULL) {
		CHECK_EQ(s->len, 64 * 1024);
		CHECK(s->readonly);
		/* The slot holds the file: its last 16 bytes hold the reset vector. */
		CHECK_EQ(((const uint8_t *)s->host)[0], 0x11);
		CHECK_EQ(((const uint8_t *)s->host)[0xfff0], (uint8_t)(0x11 + 0xfff0 * 7));
		/* A guest write to the ROM exits as MMIO and is swallowed. */
		CHECK_EQ(mmio_rc(true, 0xfffffff0, 4, &(uint64_t){ 0xdeadbeef }), 0);
		CHECK_EQ(mmio_rc(true, TOP - 64 * 1024, 1, &(uint64_t){ 0 }), 0);
		CHECK_EQ(((const uint8_t *)s->host)[0], 0x11);
		CHECK_EQ(((const uint8_t *)s->host)[0xfff0], (uint8_t)(0x11 + 0xfff0 * 7));
		CHECK_EQ(mmio_rc(false, 0xfffffff0, 4, &v), 0);
	}
	unregister_io(IO_MMIO, TOP - 64 * 1024);
	unlink(rom);
	free(rom);
	free_config();
}

static void bootrom_vars_mapped_writable_below_rom(void)
{
	char *rom = make_temp_file(64 * 1024, 0x22);
	char *vars = make_temp_file(8 * 1024, 0x33);
	const struct fake_slot *r, *v;
	uint8_t b = 0;
	int fd;

	REQUIRE(rom != NULL && vars != NULL);
	free_config();
	set_config_value("lpc.fwcfg", "bhyve");	/* no legacy BIOS copy: see below */
	set_config_value("lpc.bootrom", rom);
	set_config_value("lpc.bootvars", vars);
	fake_reset_slots();
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), 0);
	CHECK_EQ(fake_vmm.nslots, 2);
	r = slot_at(TOP - 64 * 1024);
	v = slot_at(TOP - 64 * 1024 - 8 * 1024);
	CHECK(r != NULL && r->readonly);
	CHECK(v != NULL);
	if (v != NULL) {
		CHECK(!v->readonly);
		CHECK_EQ(v->len, 8 * 1024);
		CHECK_EQ(((const uint8_t *)v->host)[1], (uint8_t)(0x33 + 7));
		/* What the guest writes to the variables reaches the file. */
		((uint8_t *)v->host)[100] = 0xee;
		fd = open(vars, O_RDONLY);
		CHECK(fd >= 0 && pread(fd, &b, 1, 100) == 1);
		CHECK_EQ(b, 0xee);
		if (fd >= 0)
			close(fd);
	}
	unregister_io(IO_MMIO, TOP - 64 * 1024);
	unlink(rom);
	unlink(vars);
	free(rom);
	free(vars);
	free_config();
}

static void bootrom_rejects_bad_files(void)
{
	char *empty = make_temp_file(0, 0);
	char *odd = make_temp_file(5000, 0);
	char *good = make_temp_file(4096, 0);
	char *big = make_temp_file((16 << 20) + 4096, 0);

	REQUIRE(empty != NULL && odd != NULL && good != NULL && big != NULL);
	fake_reset_slots();
	free_config();
	set_config_value("lpc.fwcfg", "bhyve");
	set_config_value("lpc.bootrom", "/nonexistent/bhyve-unit.rom");
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), -1);
	set_config_value("lpc.bootrom", empty);
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), -1);
	set_config_value("lpc.bootrom", odd);
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), -1);
	set_config_value("lpc.bootrom", big);
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), -1);
	set_config_value("lpc.bootrom", "/tmp");
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), -1);
	/* A good ROM with a bad variables file fails as a whole. */
	set_config_value("lpc.bootrom", good);
	set_config_value("lpc.bootvars", odd);
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), -1);
	set_config_value("lpc.bootvars", "/nonexistent/bhyve-unit.vars");
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), -1);
	CHECK_EQ(fake_vmm.nslots, 0);
	/* Nothing was left registered: a good ROM maps afterwards. */
	free_config();
	set_config_value("lpc.fwcfg", "bhyve");
	set_config_value("lpc.bootrom", good);
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), 0);
	unregister_io(IO_MMIO, TOP - 4096);
	fake_reset_slots();
	unlink(empty);
	unlink(odd);
	unlink(good);
	unlink(big);
	free(empty);
	free(odd);
	free(good);
	free(big);
	free_config();
}

/* For QEMU's firmware the ROM's last 256 KiB also sit in RAM below 1 MiB, as
 * SeaBIOS's own shadowing would leave them; a 64 KiB ROM lands at 0xF0000. */
static void bootrom_qemu_mode_copies_bios_image_below_1m(void)
{
	static uint8_t ram[1 << 20];
	char *big = make_temp_file(512 * 1024, 0x44);
	char *small = make_temp_file(64 * 1024, 0x55);
	const struct fake_slot *s;

	REQUIRE(big != NULL && small != NULL);
	fake_vm_set_ram(fx_ctx, ram, sizeof(ram));
	memset(ram, 0, sizeof(ram));
	free_config();
	set_config_value("lpc.bootrom", big);	/* lpc.fwcfg unset: qemu */
	fake_reset_slots();
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), 0);
	s = slot_at(TOP - 512 * 1024);
	REQUIRE(s != NULL);
	CHECK(memcmp(ram + 0xc0000, (const uint8_t *)s->host + 256 * 1024, 256 * 1024) == 0);
	CHECK_EQ(ram[0xbffff], 0);			/* nothing below */
	/* The ROM is never handed out for writing, only RAM. */
	CHECK(vm_map_gpa(fx_ctx, TOP - 16, 16) == NULL);
	unregister_io(IO_MMIO, TOP - 512 * 1024);

	memset(ram, 0, sizeof(ram));
	set_config_value("lpc.bootrom", small);
	fake_reset_slots();
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), 0);
	s = slot_at(TOP - 64 * 1024);
	REQUIRE(s != NULL);
	CHECK(memcmp(ram + 0xf0000, s->host, 64 * 1024) == 0);
	CHECK_EQ(ram[0xeffff], 0);
	unregister_io(IO_MMIO, TOP - 64 * 1024);
	fake_vm_set_ram(fx_ctx, NULL, 0);
	unlink(big);
	unlink(small);
	free(big);
	free(small);
	free_config();
}

void suite_bootrom(void)
{
	RUN_DEV(bootrom_none_configured_maps_nothing);
	RUN_DEV(bootrom_maps_rom_read_only_below_4g);
	RUN_DEV(bootrom_vars_mapped_writable_below_rom);
	RUN_DEV(bootrom_rejects_bad_files);
	RUN_DEV(bootrom_qemu_mode_copies_bios_image_below_1m);
}
