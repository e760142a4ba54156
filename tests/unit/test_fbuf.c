/* fbuf (bhyve/devices/fbuf.c): its PCI face (1234:1111, the prefetchable
 * framebuffer BAR mapped as a memory slot), the DISPI registers through the
 * ports 0x1ce/0x1cf and through BAR 2, and the VGA register file through the
 * ports 0x3c0-0x3df and BAR 2's mirror. The VNC server runs on a UNIX socket. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "pci_emul.h"
#include "test.h"

#define FB_SLOT		27
#define DISPI_IDX	0x1ce
#define DISPI_DATA	0x1cf

static struct pci_devinst *fb_pi;
static char fb_sock[64];

static bool fb_setup(void)
{
	char opts[128];

	if (fb_pi != NULL)
		return true;
	snprintf(fb_sock, sizeof(fb_sock), "/tmp/unit-fbuf-%d.sock", (int)getpid());
	snprintf(opts, sizeof(opts), "unix=%s,w=800,h=600", fb_sock);
	fb_pi = unit_pci_create("fbuf", FB_SLOT, "pci.0.27.0", opts);
	return fb_pi != NULL;
}

static uint16_t dispi_in(uint16_t idx)
{
	port_out(DISPI_IDX, 2, idx);
	return (uint16_t)port_in(DISPI_DATA, 2);
}

static void dispi_out(uint16_t idx, uint16_t v)
{
	port_out(DISPI_IDX, 2, idx);
	port_out(DISPI_DATA, 2, v);
}

static void test_fbuf_pci(void)
{
	uint64_t fb;
	bool slot = false;

	REQUIRE(fb_setup());
	CHECK_EQ(pci_get_cfgdata16(fb_pi, PCIR_VENDOR), 0x1234);
	CHECK_EQ(pci_get_cfgdata16(fb_pi, PCIR_DEVICE), 0x1111);
	CHECK_EQ(pci_get_cfgdata8(fb_pi, PCIR_CLASS), 0x03);
	CHECK_EQ(pci_get_cfgdata16(fb_pi, PCIR_SUBVEND_0), 0x1af4);
	CHECK_EQ(fb_pi->pi_bar[0].size, 16u << 20);
	CHECK_EQ(pci_get_cfgdata32(fb_pi, PCIR_BAR(0)) & 0xf, 0x8);	/* prefetchable */
	CHECK_EQ(fb_pi->pi_bar[2].size, 4096);
	fb = fb_pi->pi_bar[0].addr;
	for (int i = 0; i < fake_vmm.nslots; i++)
		slot |= fake_vmm.slots[i].gpa == fb && fake_vmm.slots[i].len == (16u << 20) &&
		    !fake_vmm.slots[i].readonly;
	CHECK_MSG(slot, "no writable 16 MiB slot at BAR 0 (0x%llx)", (unsigned long long)fb);
	CHECK(vm_map_gpa(fx_ctx, fb + (16u << 20) - 4, 4) != NULL);
}

static bool slot_at(uint64_t gpa)
{
	for (int i = 0; i < fake_vmm.nslots; i++)
		if (fake_vmm.slots[i].gpa == gpa)
			return true;
	return false;
}

/* The core tells the device when BAR 0 stops and starts decoding (a guest
 * moving it, or turning memory decoding off): the slot follows. */
static void test_fbuf_slot_follows_bar(void)
{
	struct pcibar *bar;
	uint64_t old, new = 0xd0000000ULL;
	uint32_t *p;

	REQUIRE(fb_setup());
	bar = &fb_pi->pi_bar[0];
	old = bar->addr;
	p = vm_map_gpa(fx_ctx, old + 64, 4);
	REQUIRE(p != NULL);
	*p = 0x00abcdef;
	bar->registered = false;
	fb_pi->pi_bar_moved(fb_pi, 0);
	CHECK(!slot_at(old));
	CHECK(vm_map_gpa(fx_ctx, old + 64, 4) == NULL);
	bar->addr = new;
	bar->registered = true;
	fb_pi->pi_bar_moved(fb_pi, 0);
	CHECK(slot_at(new));
	p = vm_map_gpa(fx_ctx, new + 64, 4);
	CHECK(p != NULL && *p == 0x00abcdef);	/* the same memory, moved */
	/* Through exits too (as when no slot can be made): BAR 0 reads the memory. */
	CHECK_EQ(fb_pi->pi_d->pe_barread(fb_pi, 0, 64, 4), 0x00abcdef);
	CHECK_EQ(fb_pi->pi_d->pe_barread(fb_pi, 0, (16u << 20) - 2, 4), ~0ULL);
	bar->registered = false;
	fb_pi->pi_bar_moved(fb_pi, 0);
	bar->addr = old;
	bar->registered = true;
	fb_pi->pi_bar_moved(fb_pi, 0);
	CHECK(slot_at(old));
}

static void test_fbuf_dispi(void)
{
	uint64_t mmio;

	REQUIRE(fb_setup());
	mmio = fb_pi->pi_bar[2].addr;
	CHECK_EQ(dispi_in(0), 0xb0c5);
	dispi_out(0, 0xb0c0);			/* an older interface version */
	CHECK_EQ(dispi_in(0), 0xb0c0);
	dispi_out(0, 0x1234);			/* not an ID: ignored */
	CHECK_EQ(dispi_in(0), 0xb0c0);
	CHECK_EQ(dispi_in(10), 256);		/* 16 MiB in 64 KiB units */
	/* GETCAPS: the largest mode is w x h. */
	dispi_out(4, 0x02);
	CHECK_EQ(dispi_in(1), 800);
	CHECK_EQ(dispi_in(2), 600);
	CHECK_EQ(dispi_in(3), 32);
	dispi_out(4, 0);
	/* A mode through BAR 2 (0x500 + index * 2). */
	mmio_out(mmio + 0x502, 2, 640);
	mmio_out(mmio + 0x504, 2, 480);
	mmio_out(mmio + 0x506, 2, 16);
	mmio_out(mmio + 0x508, 2, 0x41);
	CHECK_EQ(mmio_in(mmio + 0x508, 2), 0x41);
	CHECK_EQ(dispi_in(1), 640);
	CHECK_EQ(dispi_in(6), 640);		/* virtual width follows */
	CHECK_EQ(dispi_in(7), (16u << 20) / (640 * 2));
	/* Writes while enabled do not change the mode; a wider virtual width does. */
	dispi_out(1, 320);
	CHECK_EQ(dispi_in(1), 640);
	dispi_out(6, 1024);
	CHECK_EQ(dispi_in(6), 1024);
	CHECK_EQ(dispi_in(7), (16u << 20) / (1024 * 2));
	dispi_out(9, 100);			/* y offset */
	CHECK_EQ(mmio_in(mmio + 0x512, 2), 100);
	dispi_out(7, 5);			/* read-only */
	CHECK_EQ(dispi_in(7), (16u << 20) / (1024 * 2));
	/* Larger than w x h is taken (a firmware's own choice); past 4096, widths
	 * not a multiple of 8 and depths it lacks are not; nor a mode past 16 MiB. */
	dispi_out(4, 0);
	dispi_out(1, 1280);
	CHECK_EQ(dispi_in(1), 1280);
	dispi_out(1, 4104);
	CHECK_EQ(dispi_in(1), 1280);
	dispi_out(2, 4096);
	dispi_out(1, 4096);
	dispi_out(4, 0x41);			/* 4096 x 4096 x 4 = 64 MiB: stays off */
	CHECK_EQ(dispi_in(4) & 1, 0);
	dispi_out(2, 480);
	dispi_out(1, 640);
	dispi_out(1, 642);
	CHECK_EQ(dispi_in(1), 640);
	dispi_out(3, 4);
	CHECK_EQ(dispi_in(3), 16);
	dispi_out(3, 32);
	CHECK_EQ(dispi_in(3), 32);
	/* Indexes past the last register read 0 and ignore writes. */
	dispi_out(0x40, 0xffff);
	CHECK_EQ(dispi_in(0x40), 0);
	CHECK_EQ(mmio_in(mmio + 0x100, 4), 0);	/* past the EDID block */
}

/* BAR 2 starts with an EDID block whose preferred mode is w x h (800x600). */
static void test_fbuf_edid(void)
{
	uint8_t e[128], sum = 0;
	uint64_t mmio;

	REQUIRE(fb_setup());
	mmio = fb_pi->pi_bar[2].addr;
	for (int i = 0; i < 128; i++) {
		e[i] = (uint8_t)mmio_in(mmio + (uint64_t)i, 1);
		sum = (uint8_t)(sum + e[i]);
	}
	CHECK(memcmp(e, "\x00\xff\xff\xff\xff\xff\xff\x00", 8) == 0);
	CHECK_EQ(sum, 0);
	CHECK_EQ(e[18], 1);
	CHECK_EQ(e[19], 3);
	CHECK_EQ(e[54 + 2] | (e[54 + 4] >> 4) << 8, 800);	/* first detailed timing */
	CHECK_EQ(e[54 + 5] | (e[54 + 7] >> 4) << 8, 600);
	CHECK((e[54] | e[55] << 8) > 0);			/* a pixel clock */
	CHECK(memcmp(e + 72 + 5, "bhyve", 5) == 0);
	CHECK_EQ(mmio_in(mmio, 4), 0xffffff00);			/* wider reads too */
}

static void test_fbuf_vga_registers(void)
{
	uint64_t mmio;

	REQUIRE(fb_setup());
	mmio = fb_pi->pi_bar[2].addr;
	/* Sequencer and graphics controller: index then data. */
	port_out(0x3c4, 1, 0x02);
	port_out(0x3c5, 1, 0x0f);
	CHECK_EQ(port_in(0x3c5, 1), 0x0f);
	port_out(0x3ce, 2, 0x0506);		/* a word: index 6, then data 5 */
	port_out(0x3ce, 1, 0x06);
	CHECK_EQ(port_in(0x3cf, 1), 0x05);
	/* CRTC, and its write protection of registers 0-7. */
	port_out(0x3d4, 1, 0x11);
	port_out(0x3d5, 1, 0x00);
	port_out(0x3d4, 1, 0x01);
	port_out(0x3d5, 1, 0x4f);
	CHECK_EQ(port_in(0x3d5, 1), 0x4f);
	port_out(0x3d4, 1, 0x11);
	port_out(0x3d5, 1, 0x80);
	port_out(0x3d4, 1, 0x01);
	port_out(0x3d5, 1, 0x27);
	CHECK_EQ(port_in(0x3d5, 1), 0x4f);
	/* The attribute controller's flip-flop, reset by reading 0x3da. */
	(void)port_in(0x3da, 1);
	port_out(0x3c0, 1, 0x10);
	port_out(0x3c0, 1, 0x41);
	CHECK_EQ(port_in(0x3c0, 1), 0x10);
	CHECK_EQ(port_in(0x3c1, 1), 0x41);
	port_out(0x3c0, 1, 0x12);		/* the flip-flop is at index again */
	CHECK_EQ(port_in(0x3c0, 1), 0x12);
	(void)port_in(0x3da, 1);
	/* Retrace toggles so that polling loops end. */
	CHECK((port_in(0x3da, 1) ^ port_in(0x3da, 1)) & 0x08);
	/* The DAC: three 6-bit components per entry, auto-incrementing. */
	port_out(0x3c8, 1, 5);
	port_out(0x3c9, 1, 0x3f);
	port_out(0x3c9, 1, 0x20);
	port_out(0x3c9, 1, 0xff);		/* only 6 bits kept */
	port_out(0x3c9, 1, 0x01);		/* entry 6 */
	CHECK_EQ(port_in(0x3c7, 1), 0x03);	/* write mode */
	port_out(0x3c7, 1, 5);
	CHECK_EQ(port_in(0x3c9, 1), 0x3f);
	CHECK_EQ(port_in(0x3c9, 1), 0x20);
	CHECK_EQ(port_in(0x3c9, 1), 0x3f);
	CHECK_EQ(port_in(0x3c9, 1), 0x01);
	CHECK_EQ(port_in(0x3c8, 1), 6);
	/* Misc output: written at 0x3c2, read at 0x3cc. */
	port_out(0x3c2, 1, 0x67);
	CHECK_EQ(port_in(0x3cc, 1), 0x67);
	/* BAR 2's mirror at 0x400: a 16-bit write is index, then data. */
	mmio_out(mmio + 0x404, 2, 0x0304);	/* sequencer 4 = 3 */
	port_out(0x3c4, 1, 0x04);
	CHECK_EQ(port_in(0x3c5, 1), 0x03);
	CHECK_EQ(mmio_in(mmio + 0x40c, 1), 0x67);
}

static void test_fbuf_vga_off_has_no_ports(void)
{
	uint64_t v = 0;

	/* The fixture's fbuf has vga=io; without one 0x3c0 reaches nothing. */
	REQUIRE(fb_setup());
	unit_pci_remove(fb_pi);
	CHECK_EQ(port_rc(false, 0x3c4, 1, &v), 1);
	CHECK_EQ(port_rc(false, DISPI_IDX, 2, &v), 1);
	fb_pi = unit_pci_create("fbuf", FB_SLOT, "pci.0.27.0", "unix=/tmp/unit-fbuf-off.sock,vga=off");
	REQUIRE(fb_pi != NULL);
	CHECK_EQ(pci_get_cfgdata8(fb_pi, PCIR_SUBCLASS), 0x80);	/* display, not VGA */
	CHECK_EQ(port_rc(false, 0x3c4, 1, &v), 1);
	CHECK_EQ(port_rc(false, DISPI_IDX, 2, &v), 0);
	unit_pci_remove(fb_pi);
	fb_pi = NULL;
}

static void test_fbuf_refuses(void)
{
	CHECK(unit_pci_create("fbuf", 26, "pci.0.26.0", "vga=on") == NULL);
	CHECK(unit_pci_create("fbuf", 26, "pci.0.26.0", "w=100") == NULL);
	CHECK(unit_pci_create("fbuf", 26, "pci.0.26.0", "h=2000") == NULL);
	CHECK(unit_pci_create("fbuf", 26, "pci.0.26.0", "tcp=[::1]5900") == NULL);
}

void suite_fbuf(void)
{
	RUN_DEV(test_fbuf_pci);
	RUN_DEV(test_fbuf_slot_follows_bar);
	RUN_DEV(test_fbuf_dispi);
	RUN_DEV(test_fbuf_edid);
	RUN_DEV(test_fbuf_vga_registers);
	RUN_DEV(test_fbuf_vga_off_has_no_ports);
	RUN_DEV(test_fbuf_refuses);
}
