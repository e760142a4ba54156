/* What QEMU's OVMF needs from the platform, driven as OVMF drives it: the CFI
 * flash behind -l bootrom,CODE,VARS (fwcfg=qemu) through its MMIO handler,
 * lpc's PMBASE/ACPI_CNTL moving the PM block, and the Q35 host bridge's
 * PCIEXBAR moving ECAM. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/bootrom.h"
#include "config.h"
#include "fake_vmmapi.h"
#include "fwcfg.h"
#include "iodispatch.h"
#include "pci_emul.h"
#include "pflash.h"
#include "test.h"
#include "util.h"

#define FL_BASE		0xf8000000ULL	/* nothing else of the fixture's there */
#define FL_LEN		(4 * PFLASH_BLOCK)

static uint8_t flash_mem[FL_LEN];

static struct pflash *flash_new(void)
{
	for (size_t i = 0; i < sizeof(flash_mem); i++)
		flash_mem[i] = (uint8_t)(i * 13 + 7);
	return pflash_create("test-flash", flash_mem, sizeof(flash_mem), FL_BASE);
}

/* OVMF's QemuFlashDetected: 0x50 must not read back (not RAM), 0x70 must read
 * a cleared status 0 (not ROM). */
static void pflash_passes_ovmf_probe(void)
{
	struct pflash *fl = flash_new();
	uint8_t orig;

	REQUIRE(fl != NULL);
	orig = flash_mem[0x10];
	CHECK_EQ(mmio_in(FL_BASE + 0x10, 1), orig);
	mmio_out(FL_BASE + 0x10, 1, 0x50);
	CHECK_EQ(mmio_in(FL_BASE + 0x10, 1), orig);
	mmio_out(FL_BASE + 0x10, 1, 0x70);
	CHECK_EQ(mmio_in(FL_BASE + 0x10, 1), 0x00);
	mmio_out(FL_BASE + 0x10, 1, 0xff);
	CHECK_EQ(mmio_in(FL_BASE + 0x10, 1), orig);
	CHECK_EQ(flash_mem[0x10], orig);		/* the probe changed nothing */
	CHECK_EQ(mmio_in(FL_BASE + 0x20, 4), le_get(flash_mem + 0x20, 4));
	pflash_destroy(fl);
}

/* QemuFlashWrite and QemuFlashEraseBlock. */
static void pflash_programs_and_erases(void)
{
	struct pflash *fl = flash_new();
	static const uint8_t data[] = { 0xaa, 0x55, 0x00, 0x5a };
	uint64_t off = PFLASH_BLOCK + 100;

	REQUIRE(fl != NULL);
	for (size_t i = 0; i < sizeof(data); i++) {
		mmio_out(FL_BASE + off + i, 1, 0x10);
		mmio_out(FL_BASE + off + i, 1, data[i]);
	}
	CHECK_EQ(mmio_in(FL_BASE + off, 1), 0x80);	/* status: done */
	mmio_out(FL_BASE + off + 3, 1, 0xff);
	CHECK(memcmp(flash_mem + off, data, sizeof(data)) == 0);
	CHECK_EQ(mmio_in(FL_BASE + off, 4), 0x5a0055aa);
	/* The alternate program command, a wider data cycle. */
	mmio_out(FL_BASE + 8, 1, 0x40);
	mmio_out(FL_BASE + 8, 2, 0x1234);
	mmio_out(FL_BASE + 8, 1, 0xff);
	CHECK_EQ(le_get(flash_mem + 8, 2), 0x1234);

	/* Erase block 1 through an address inside it; the others stay. */
	mmio_out(FL_BASE + 2 * PFLASH_BLOCK - 1, 1, 0x20);
	mmio_out(FL_BASE + 2 * PFLASH_BLOCK - 1, 1, 0xd0);
	CHECK_EQ(mmio_in(FL_BASE + PFLASH_BLOCK, 1), 0x80);	/* status until read array */
	mmio_out(FL_BASE, 1, 0xff);
	for (size_t i = PFLASH_BLOCK; i < 2 * PFLASH_BLOCK; i++)
		if (flash_mem[i] != 0xff) {
			CHECK_MSG(false, "byte 0x%zx is 0x%02x after the erase", i, flash_mem[i]);
			break;
		}
	CHECK_EQ(flash_mem[PFLASH_BLOCK - 1], (uint8_t)((PFLASH_BLOCK - 1) * 13 + 7));
	CHECK_EQ(flash_mem[2 * PFLASH_BLOCK], (uint8_t)(2 * PFLASH_BLOCK * 13 + 7));
	CHECK_EQ(mmio_in(FL_BASE + PFLASH_BLOCK + 5, 1), 0xff);

	/* An erase not confirmed is a sequence error; 0x50 clears it. */
	mmio_out(FL_BASE, 1, 0x20);
	mmio_out(FL_BASE, 1, 0x00);
	CHECK_EQ(mmio_in(FL_BASE, 1) & 0x30, 0x30);
	CHECK_EQ(flash_mem[1], (uint8_t)(1 * 13 + 7));
	mmio_out(FL_BASE, 1, 0x50);
	mmio_out(FL_BASE, 1, 0x70);
	CHECK_EQ(mmio_in(FL_BASE, 1), 0);
	mmio_out(FL_BASE, 1, 0xff);
	pflash_destroy(fl);
}

static void pflash_answers_id_and_cfi_query(void)
{
	struct pflash *fl = flash_new();

	REQUIRE(fl != NULL);
	mmio_out(FL_BASE, 1, 0x90);
	CHECK_EQ(mmio_in(FL_BASE, 1), 0x89);		/* Intel */
	CHECK_EQ(mmio_in(FL_BASE + PFLASH_BLOCK + 2, 1), 0);	/* block 1 unlocked */
	mmio_out(FL_BASE, 1, 0x98);
	CHECK_EQ(mmio_in(FL_BASE + 0x10, 1), 'Q');
	CHECK_EQ(mmio_in(FL_BASE + 0x11, 1), 'R');
	CHECK_EQ(mmio_in(FL_BASE + 0x12, 1), 'Y');
	CHECK_EQ(mmio_in(FL_BASE + 0x13, 2), 0x0001);	/* Intel/Sharp command set */
	CHECK_EQ(mmio_in(FL_BASE + 0x27, 1), 14);	/* 16 KiB */
	CHECK_EQ(mmio_in(FL_BASE + 0x2c, 1), 1);
	CHECK_EQ(mmio_in(FL_BASE + 0x2d, 2), 3);	/* 4 blocks */
	CHECK_EQ(mmio_in(FL_BASE + 0x2f, 2), PFLASH_BLOCK / 256);
	mmio_out(FL_BASE, 1, 0xff);
	CHECK_EQ(mmio_in(FL_BASE + 0x10, 1), flash_mem[0x10]);
	pflash_destroy(fl);
}

/* A guest writing garbage, at the edges and in odd sizes, changes nothing
 * outside the chip and never crashes. */
static void pflash_survives_garbage(void)
{
	struct pflash *fl = flash_new();
	uint64_t v;
	uint32_t seed = 12345;

	REQUIRE(fl != NULL);
	for (int i = 0; i < 20000; i++) {
		seed = seed * 1103515245 + 12345;
		v = seed >> 8;
		if (seed & 1)
			mmio_out(FL_BASE + (seed >> 4) % FL_LEN, 1 << (seed >> 2 & 3), v);
		else
			(void)mmio_in(FL_BASE + (seed >> 4) % FL_LEN, 1 << (seed >> 2 & 3));
	}
	v = 0;
	CHECK_EQ(pflash_access(fl, true, FL_LEN - 2, 4, &v), 0);	/* past the end */
	CHECK_EQ(pflash_access(fl, false, FL_LEN, 1, &v), 0);
	CHECK_EQ(v, ~0ULL);
	pflash_destroy(fl);
}

/* -l bootrom,ROM,VARS with fwcfg=qemu: VARS is flash, not memory, and what is
 * programmed reaches the file. */
static void bootrom_qemu_mode_vars_are_flash(void)
{
	static uint8_t ram[1 << 20];
	char *rom = make_temp_file(64 * 1024, 0x22);
	char *vars = make_temp_file(8 * 1024, 0x33);
	uint64_t vbase = (1ULL << 32) - 64 * 1024 - 8 * 1024;
	uint8_t b = 0;
	uint64_t v;
	int fd;

	REQUIRE(rom != NULL && vars != NULL);
	fake_vm_set_ram(fx_ctx, ram, sizeof(ram));
	free_config();
	set_config_value("lpc.bootrom", rom);
	set_config_value("lpc.bootvars", vars);
	fake_reset_slots();
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), 0);
	CHECK_EQ(fake_vmm.nslots, 1);			/* the ROM only */
	CHECK(vm_map_gpa(fx_ctx, vbase, 16) == NULL);
	CHECK_EQ(mmio_in(vbase + 1, 1), (uint8_t)(0x33 + 1 * 7));
	mmio_out(vbase + 100, 1, 0x10);
	mmio_out(vbase + 100, 1, 0xee);
	mmio_out(vbase + 100, 1, 0xff);
	fd = open(vars, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, &b, 1, 100) == 1);
	CHECK_EQ(b, 0xee);
	if (fd >= 0)
		close(fd);
	/* A plain store, as bhyve's firmware would do, is only a bad command. */
	mmio_out(vbase + 200, 4, 0x01020304);
	mmio_out(vbase, 1, 0xff);
	CHECK_EQ(mmio_in(vbase + 200, 1), (uint8_t)(0x33 + 200 * 7));
	/* Another bootrom_init takes the chip down again. */
	free_config();
	CHECK_EQ(bootrom_init(fx_ctx, fwcfg_mode_qemu()), 0);
	CHECK(mmio_rc(false, vbase, 1, &v) != 0);
	unregister_io(IO_MMIO, vbase + 8 * 1024);
	fake_vm_set_ram(fx_ctx, NULL, 0);
	unlink(rom);
	unlink(vars);
	free(rom);
	free(vars);
	free_config();
}

/* lpc's PMBASE (0x40) and ACPI_CNTL (0x44), as OVMF's AcpiTimerLib reads them. */
static void lpc_pmbase_moves_pm_block(void)
{
	uint64_t v;
	uint32_t t0, t1;

	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, 0x40, 4), 0x401);
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, 0x44, 1), 0x80);
	/* OVMF leaves a set ACPI_EN alone and reads the timer at PMBASE + 8. */
	CHECK_EQ(port_rc(false, 0x408, 4, &v), 0);

	cfg_out(0, FX_LPC_SLOT, 0, 0x40, 4, 0x600);
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, 0x40, 4), 0x601);
	CHECK(port_rc(false, 0x408, 4, &v) != 0);
	t0 = (uint32_t)port_in(0x608, 4);
	usleep(2000);
	t1 = (uint32_t)port_in(0x608, 4);
	CHECK_MSG(((t1 - t0) & 0xffffff) > 3000 && ((t1 - t0) & 0xffffff) < 3579545,
	    "PM timer at 0x608 went from 0x%x to 0x%x in 2 ms", t0, t1);
	CHECK_EQ(port_in(0x604, 2) & 0x2000, 0);	/* PM1a_CNT there too */
	/* The debug port stays at 0x402 on its own (nothing behind it here). */
	CHECK_EQ(port_rc(false, 0x402, 1, &v), 0);
	CHECK_EQ(v & 0xff, 0xff);
	CHECK(port_rc(false, 0x402, 2, &v) != 0);	/* PM1a_EN went with the block */
	/* Low bits are not decoded: the block is 128-port aligned. */
	cfg_out(0, FX_LPC_SLOT, 0, 0x40, 2, 0x0a7f);
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, 0x40, 4), 0xa01);
	CHECK_EQ(port_rc(false, 0xa08, 4, &v), 0);
	/* ACPI_EN off: the block decodes nowhere; only bit 7 is kept. */
	cfg_out(0, FX_LPC_SLOT, 0, 0x44, 1, 0x7f);
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, 0x44, 1), 0);
	CHECK(port_rc(false, 0xa08, 4, &v) != 0);
	/* Back where the rest of the tests (and the FADT) expect it. */
	cfg_out(0, FX_LPC_SLOT, 0, 0x40, 4, 0x400);
	cfg_out(0, FX_LPC_SLOT, 0, 0x44, 1, 0x80);
	CHECK_EQ(port_rc(false, 0x408, 4, &v), 0);
	CHECK(port_rc(false, 0x608, 4, &v) != 0);
	CHECK_EQ(port_rc(false, 0x402, 2, &v), 0);	/* PM1a_EN is back */
}

/* With Q35's IDs the host bridge's PCIEXBAR (0x60) places ECAM. */
static void q35_pciexbar_moves_ecam(void)
{
	struct pci_devinst *hb = pci_find(0, 0, 0);
	uint16_t vendor, device;
	uint64_t v;

	REQUIRE(hb != NULL);
	vendor = pci_get_cfgdata16(hb, PCIR_VENDOR);
	device = pci_get_cfgdata16(hb, PCIR_DEVICE);
	/* bhyve's own IDs: 0x60 is plain config space, ECAM stays. */
	cfg_out(0, 0, 0, 0x60, 4, 0xb0000001);
	CHECK_EQ(pci_ecam_base(), 0xe0000000);

	pci_set_cfgdata16(hb, PCIR_VENDOR, 0x8086);
	pci_set_cfgdata16(hb, PCIR_DEVICE, 0x29c0);
	cfg_out(0, 0, 0, 0x64, 4, 0);
	cfg_out(0, 0, 0, 0x60, 4, 0xb0000001);	/* what OVMF writes */
	CHECK_EQ(pci_ecam_base(), 0xb0000000);
	CHECK_EQ(cfg_in(0, 0, 0, 0x60, 4), 0xb0000001);
	CHECK_EQ(mmio_in(0xb0000000 + ((uint64_t)FX_LPC_SLOT << 15), 4), 0x70008086);
	CHECK(mmio_rc(false, 0xe0000000, 4, &v) != 0);
	cfg_out(0, 0, 0, 0x60, 4, 0xb0000000);	/* disabled */
	CHECK_EQ(pci_ecam_base(), 0);
	CHECK(mmio_rc(false, 0xb0000000, 4, &v) != 0);
	cfg_out(0, 0, 0, 0x60, 4, 0xe0000001);
	CHECK_EQ(pci_ecam_base(), 0xe0000000);
	pci_set_cfgdata16(hb, PCIR_VENDOR, vendor);
	pci_set_cfgdata16(hb, PCIR_DEVICE, device);
	CHECK_EQ(ecam_in(0, FX_LPC_SLOT, 0, 0, 4), 0x70008086);
}

void suite_firmware_platform(void)
{
	RUN_DEV(pflash_passes_ovmf_probe);
	RUN_DEV(pflash_programs_and_erases);
	RUN_DEV(pflash_answers_id_and_cfi_query);
	RUN_DEV(pflash_survives_garbage);
	RUN_DEV(bootrom_qemu_mode_vars_are_flash);
	RUN_DEV(lpc_pmbase_moves_pm_block);
	RUN_DEV(q35_pciexbar_moves_ecam);
}
