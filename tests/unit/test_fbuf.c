/* fbuf (bhyve/devices/fbuf.c): its PCI face (1234:1111, the prefetchable
 * framebuffer BAR mapped as a memory slot), the DISPI registers through the
 * ports 0x1ce/0x1cf and through BAR 2, and the VGA register file through the
 * ports 0x3c0-0x3df and BAR 2's mirror. With vga=on: the legacy memory at
 * 0xA0000 (out of RAM), the option ROM, and the text mode rendered from the
 * font in plane 2 and the cells at 0xB8000 (vga.c, driven directly). The VNC
 * server runs on a UNIX socket. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/vga.h"
#include "fake_vmmapi.h"
#include "iodispatch.h"
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

static void seq(uint8_t i, uint8_t v)
{
	port_out(0x3c4, 2, (uint64_t)v << 8 | i);
}

static void gc(uint8_t i, uint8_t v)
{
	port_out(0x3ce, 2, (uint64_t)v << 8 | i);
}

/* vga=on: 0xA0000-0xBFFFF leaves RAM and reaches the VGA's memory logic:
 * plane 2 written and read through the planar window (as a BIOS loads its
 * font), the text cells through odd/even at 0xB8000; the default option ROM
 * is SeaBIOS's VGA BIOS. */
static void test_fbuf_vga_on_memory(void)
{
	char opts[160];
	uint64_t v = 0;

	if (fb_pi != NULL) {
		unit_pci_remove(fb_pi);
		fb_pi = NULL;
	}
	fake_vmm.hole_gpa = fake_vmm.hole_len = 0;
	snprintf(opts, sizeof(opts), "unix=/tmp/unit-fbuf-vga-%d.sock,vga=on,rom=none",
	    (int)getpid());
	fb_pi = unit_pci_create("fbuf", FB_SLOT, "pci.0.27.0", opts);
	REQUIRE(fb_pi != NULL);
	CHECK_EQ(fake_vmm.hole_gpa, 0xa0000);
	CHECK_EQ(fake_vmm.hole_len, 0x20000);
	CHECK(vm_map_gpa(fb_pi->pi_vmctx, 0xb8000, 2) == NULL);	/* not RAM */
	CHECK_EQ(fb_pi->pi_rom.size, 0);				/* rom=none */
	CHECK_EQ(pci_get_cfgdata8(fb_pi, PCIR_SUBCLASS), 0x00);		/* VGA */
	/* The font: plane 2 alone, planar (no odd/even), 64 KiB at 0xA0000. */
	seq(0x02, 0x04);
	seq(0x04, 0x06);
	gc(0x05, 0x00);
	gc(0x06, 0x04);
	gc(0x08, 0xff);
	mmio_out(0xa0000 + 0x41 * 32 + 3, 1, 0x81);
	mmio_out(0xa0000 + 0x41 * 32 + 4, 2, 0x42c3);
	gc(0x04, 0x02);							/* read plane 2 */
	CHECK_EQ(mmio_in(0xa0000 + 0x41 * 32 + 3, 1), 0x81);
	CHECK_EQ(mmio_in(0xa0000 + 0x41 * 32 + 4, 2), 0x42c3);
	gc(0x04, 0x00);							/* plane 0: untouched */
	CHECK_EQ(mmio_in(0xa0000 + 0x41 * 32 + 3, 1), 0x00);
	CHECK_EQ(mmio_in(0xb8000, 1), 0xff);				/* outside the window */
	/* Text: planes 0 and 1, odd/even, at 0xB8000. */
	seq(0x02, 0x03);
	seq(0x04, 0x02);
	gc(0x05, 0x10);
	gc(0x06, 0x0e);
	mmio_out(0xb8000, 2, 0x1f41);
	mmio_out(0xb8002, 4, 0x07420743);
	CHECK_EQ(mmio_in(0xb8000, 2), 0x1f41);
	CHECK_EQ(mmio_in(0xb8002, 4), 0x07420743);
	CHECK_EQ(mmio_rc(false, 0xa0000, 1, &v), 0);
	CHECK_EQ(v, 0xff);						/* outside the window */
	unit_pci_remove(fb_pi);
	CHECK_EQ(mmio_rc(false, 0xb8000, 1, &v), 1);			/* gone */
	fake_vmm.hole_gpa = fake_vmm.hole_len = 0;
	/* By default the option ROM is SeaBIOS's VGA BIOS, 40 KiB in a 64 KiB BAR. */
	if (access("/usr/share/seabios/vgabios-stdvga.bin", R_OK) == 0) {
		snprintf(opts, sizeof(opts), "unix=/tmp/unit-fbuf-vga-%d.sock,vga=on", (int)getpid());
		fb_pi = unit_pci_create("fbuf", 25, "pci.0.25.0", opts);	/* a node without rom= */
		REQUIRE(fb_pi != NULL);
		CHECK_EQ(fb_pi->pi_rom.size, 65536);
		REQUIRE(fb_pi->pi_rom.image != NULL);
		CHECK(fb_pi->pi_rom.image[0] == 0x55 && fb_pi->pi_rom.image[1] == 0xaa);
		CHECK_EQ(pci_get_cfgdata32(fb_pi, PCIR_ROM) & PCIM_ROM_ENABLE, 0);
		unit_pci_remove(fb_pi);
		fake_vmm.hole_gpa = fake_vmm.hole_len = 0;
	}
	fb_pi = NULL;
}

static uint32_t px(const struct rfb_view *v, int x, int y)
{
	uint32_t p;

	memcpy(&p, v->base + (size_t)y * v->stride + (size_t)x * 4, 4);
	return p;
}

/* Mode 3 as a VGA BIOS sets it (the registers that matter to the picture),
 * through the same port and memory logic the guest reaches. */
static void vga_mode3(struct vga *g)
{
	static const uint8_t crtc[][2] = {
		{ 0x01, 79 }, { 0x07, 0x1f }, { 0x09, 0x4f }, { 0x0a, 14 }, { 0x0b, 15 },
		{ 0x0c, 0 }, { 0x0d, 0 }, { 0x0e, 0 }, { 0x0f, 1 }, { 0x12, 0x8f }, { 0x13, 40 },
	};

	vga_reset(g);
	for (size_t i = 0; i < sizeof(crtc) / sizeof(crtc[0]); i++) {
		vga_port_write(g, 0x3d4, crtc[i][0]);
		vga_port_write(g, 0x3d5, crtc[i][1]);
	}
	(void)vga_port_read(g, 0x3da);
	for (uint8_t i = 0; i < 16; i++) {
		vga_port_write(g, 0x3c0, i);
		vga_port_write(g, 0x3c0, i == 15 ? 0x3f : i);
	}
	vga_port_write(g, 0x3c0, 0x10);
	vga_port_write(g, 0x3c0, 0x0c);		/* line graphics, blink */
	vga_port_write(g, 0x3c0, 0x20);		/* palette address source: shown */
	vga_port_write(g, 0x3c8, 1);		/* DAC 1: blue */
	vga_port_write(g, 0x3c9, 0);
	vga_port_write(g, 0x3c9, 0);
	vga_port_write(g, 0x3c9, 42);
	vga_port_write(g, 0x3c8, 7);		/* 7: grey */
	for (int i = 0; i < 3; i++)
		vga_port_write(g, 0x3c9, 42);
	vga_port_write(g, 0x3c8, 0x3f);		/* 0x3f: white */
	for (int i = 0; i < 3; i++)
		vga_port_write(g, 0x3c9, 63);
	/* The font: plane 2, planar. */
	vga_port_write(g, 0x3c4, 2);
	vga_port_write(g, 0x3c5, 4);
	vga_port_write(g, 0x3c4, 4);
	vga_port_write(g, 0x3c5, 6);
	vga_port_write(g, 0x3ce, 6);
	vga_port_write(g, 0x3cf, 4);
	vga_port_write(g, 0x3ce, 8);
	vga_port_write(g, 0x3cf, 0xff);
	vga_mem_write(g, 0x41 * 32 + 3, 0x81);	/* 'A': row 3 = X......X */
	vga_mem_write(g, 0xc4 * 32 + 8, 0xff);	/* a line-graphics char: row 8 full */
	/* Text: odd/even at 0xB8000. */
	vga_port_write(g, 0x3c4, 2);
	vga_port_write(g, 0x3c5, 3);
	vga_port_write(g, 0x3c4, 4);
	vga_port_write(g, 0x3c5, 2);
	vga_port_write(g, 0x3ce, 5);
	vga_port_write(g, 0x3cf, 0x10);
	vga_port_write(g, 0x3ce, 6);
	vga_port_write(g, 0x3cf, 0x0e);
	vga_mem_write(g, 0x18000, 0x41);	/* cell 0: 'A', white on blue */
	vga_mem_write(g, 0x18001, 0x1f);
	vga_mem_write(g, 0x18002, 0x00);	/* cell 1: the cursor's */
	vga_mem_write(g, 0x18003, 0x07);
	vga_mem_write(g, 0x18004, 0xc4);	/* cell 2 */
	vga_mem_write(g, 0x18005, 0x07);
}

/* A known cell gives known pixels: 80x25 of 9x16 = 720x400; 'A' row 3 has
 * its two outer dots white on blue, the ninth column background; the line-
 * graphics character's ninth column repeats its eighth; the cursor's lines
 * 14-15 are the foreground. Drawn again only after a change. */
static void test_vga_text_renders_cell(void)
{
	struct vga *g = calloc(1, sizeof(*g));
	struct rfb_view v;

	REQUIRE(g != NULL);
	g->pix = calloc((size_t)VGA_PIX_W * VGA_PIX_H, 4);
	REQUIRE(g->pix != NULL);
	vga_mode3(g);
	memset(&v, 0, sizeof(v));
	REQUIRE(vga_render(g, &v));
	CHECK_EQ(v.width, 720);
	CHECK_EQ(v.height, 400);
	CHECK_EQ(v.bpp, 32);
	CHECK_EQ(px(&v, 0, 3), 0xffffff);
	CHECK_EQ(px(&v, 1, 3), 0x0000aa);
	CHECK_EQ(px(&v, 7, 3), 0xffffff);
	CHECK_EQ(px(&v, 8, 3), 0x0000aa);
	CHECK_EQ(px(&v, 0, 2), 0x0000aa);
	CHECK_EQ(px(&v, 4, 15), 0x0000aa);
	/* The cursor in cell 1. */
	CHECK_EQ(px(&v, 9, 13), 0x000000);
	CHECK_EQ(px(&v, 9, 14), 0xaaaaaa);
	CHECK_EQ(px(&v, 17, 15), 0xaaaaaa);
	/* Line graphics: 0xC4's ninth column follows its eighth. */
	CHECK_EQ(px(&v, 18 + 7, 8), 0xaaaaaa);
	CHECK_EQ(px(&v, 18 + 8, 8), 0xaaaaaa);
	CHECK_EQ(px(&v, 18 + 8, 7), 0x000000);
	/* Nothing changed: not drawn again (the scribble stays). */
	g->pix[0] = 0x123456;
	REQUIRE(vga_render(g, &v));
	CHECK_EQ(px(&v, 0, 0), 0x123456);
	vga_mem_write(g, 0x18006, 0x20);	/* a change: drawn again */
	REQUIRE(vga_render(g, &v));
	CHECK_EQ(px(&v, 0, 0), 0x0000aa);
	/* Palette address source cleared: the screen is black. */
	(void)vga_port_read(g, 0x3da);
	vga_port_write(g, 0x3c0, 0x00);
	REQUIRE(vga_render(g, &v));
	CHECK_EQ(px(&v, 0, 3), 0x000000);
	/* Before any mode is set nothing is shown (the fbuf's own size is). */
	vga_reset(g);
	CHECK(!vga_render(g, &v));
	free(g->pix);
	free(g);
}

/* Mode 13h: chain-4, 320x200, a byte a pixel through the DAC. */
static void test_vga_mode13h(void)
{
	struct vga *g = calloc(1, sizeof(*g));
	struct rfb_view v;

	REQUIRE(g != NULL);
	g->pix = calloc((size_t)VGA_PIX_W * VGA_PIX_H, 4);
	REQUIRE(g->pix != NULL);
	vga_mode3(g);
	vga_port_write(g, 0x3c4, 4);
	vga_port_write(g, 0x3c5, 0x0e);		/* chain-4 */
	vga_port_write(g, 0x3c4, 2);
	vga_port_write(g, 0x3c5, 0x0f);
	vga_port_write(g, 0x3ce, 5);
	vga_port_write(g, 0x3cf, 0x40);		/* 256 colours */
	vga_port_write(g, 0x3ce, 6);
	vga_port_write(g, 0x3cf, 0x05);		/* graphics, 0xA0000 64 KiB */
	vga_port_write(g, 0x3d4, 0x09);
	vga_port_write(g, 0x3d5, 0x41);		/* every line twice */
	(void)vga_port_read(g, 0x3da);
	vga_port_write(g, 0x3c0, 0x20);
	vga_mem_write(g, 5 * 320 + 10, 1);
	CHECK_EQ(vga_mem_read(g, 5 * 320 + 10), 1);
	REQUIRE(vga_render(g, &v));
	CHECK_EQ(v.width, 320);
	CHECK_EQ(v.height, 200);
	CHECK_EQ(px(&v, 10, 5), 0x0000aa);
	CHECK_EQ(px(&v, 11, 5), 0x000000);
	free(g->pix);
	free(g);
}

static void test_fbuf_refuses(void)
{
	CHECK(unit_pci_create("fbuf", 26, "pci.0.26.0", "vga=on,rom=/nonexistent/vga.bin") == NULL);
	{
		char *bad = make_temp_file(4096, 7), opts[200];	/* no 0x55 0xAA */

		REQUIRE(bad != NULL);
		snprintf(opts, sizeof(opts), "rom=%s", bad);
		CHECK(unit_pci_create("fbuf", 26, "pci.0.26.0", opts) == NULL);
		unlink(bad);
		free(bad);
	}
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
	RUN_DEV(test_fbuf_vga_on_memory);
	RUN(test_vga_text_renders_cell);
	RUN(test_vga_mode13h);
	RUN_DEV(test_fbuf_refuses);
}
