/* fbuf: the graphical console, a framebuffer exported over VNC (backends/rfb.c).
 *
 * Its face to the guest is QEMU's "standard VGA" (PCI 1234:1111), the Bochs VBE
 * adapter that OVMF's QemuVideoDxe and SeaBIOS's vgabios-stdvga drive:
 *   BAR 0  the framebuffer, 16 MiB of prefetchable memory. It is host memory
 *          mapped into the guest as a memory slot wherever the BAR decodes, so
 *          drawing costs the guest no exit.
 *   BAR 2  4 KiB of registers: an EDID block at 0 whose preferred mode is
 *          w x h, the VGA ports 0x3c0-0x3df at 0x400 (a 16-bit
 *          write is two byte writes, index first) and the DISPI registers at
 *          0x500 + index * 2.
 *   ports  the DISPI index and data ports 0x1ce/0x1cf (and 0x1d0), and with
 *          vga=io the VGA ports 0x3c0-0x3df.
 * The DISPI registers set the mode (resolution, depth, virtual width, offsets)
 * that the VNC server shows; while they are off the screen is w x h of black.
 * GETCAPS reports w x h as the largest mode (the one the user asked for); a
 * guest that sets a larger one that fits is shown all the same.
 *
 * With vga=on the legacy VGA (vga.c) is there too: its memory at 0xA0000
 * (taken out of RAM) and its text mode, which VNC shows while DISPI is off;
 * and SeaBIOS's VGA BIOS for this adapter is the option ROM (PCI config 0x30)
 * that sets the display up for a BIOS guest.
 *
 * Config (bhyve_config(5)): tcp=[IP:]port (rfb= too), unix=PATH, w=, h=
 * (640x480 to 1920x1200, default 1024x768), vga=io|on|off (default io), wait,
 * password=, rom=PATH|none (the option ROM; by default
 * /usr/share/seabios/vgabios-stdvga.bin with vga=on, none otherwise). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backends/rfb.h"
#include "config.h"
#include "iodispatch.h"
#include "pci_emul.h"
#include "devices/vga.h"
#include "util.h"
#include "vmmapi.h"

#define FB_SIZE		(16u << 20)
#define FB_MMIO_SIZE	4096
#define FB_MMIO_VGA	0x400
#define FB_MMIO_DISPI	0x500
#define FB_MAX_W	1920
#define FB_MAX_H	1200
#define FB_MIN_W	640
#define FB_MIN_H	480
/* The largest mode a guest may set: any that fits the 16 MiB is shown, even
 * above w x h (OVMF's QemuVideoDxe sets its own resolution, 1280x800 unless
 * told otherwise). */
#define DISPI_MAX_RES	4096

#define VGA_PORT_BASE	0x3c0
#define VGA_PORTS	0x20
#define DISPI_PORT_INDEX 0x1ce
#define DISPI_PORTS	3		/* 0x1ce index, 0x1cf and 0x1d0 data */

/* The DISPI registers (Bochs VBE). */
enum {
	DISPI_ID, DISPI_XRES, DISPI_YRES, DISPI_BPP, DISPI_ENABLE, DISPI_BANK,
	DISPI_VIRT_WIDTH, DISPI_VIRT_HEIGHT, DISPI_X_OFFSET, DISPI_Y_OFFSET,
	DISPI_VIDEO_MEMORY_64K, DISPI_NREGS
};
#define DISPI_ID0	0xb0c0
#define DISPI_ID5	0xb0c5
#define DISPI_ENABLED	0x01
#define DISPI_GETCAPS	0x02
#define DISPI_8BIT_DAC	0x20
#define DISPI_LFB	0x40
#define DISPI_NOCLEAR	0x80

enum fbuf_vga { VGA_IO, VGA_ON, VGA_OFF };

/* The option ROM vga=on offers by default: Debian's seabios package's VGA
 * BIOS for QEMU's standard VGA, which this device is to it. */
#define FBUF_VGABIOS	"/usr/share/seabios/vgabios-stdvga.bin"


struct fbuf_softc {
	struct pci_devinst *pi;
	pthread_mutex_t mtx;
	uint8_t *fb;
	uint64_t fb_gpa;		/* where the slot is mapped; 0: not mapped */
	bool fb_map_warned;
	enum fbuf_vga vga;
	int width, height;		/* w= and h=: the desktop while DISPI is off */
	uint16_t dispi_idx;
	uint16_t dispi[DISPI_NREGS];
	struct vga vg;			/* the register file; with vga=on memory and text */
	uint8_t edid[128];
	struct rfb_server *rfb;
	bool ports;			/* the I/O ports are registered */
	bool vgamem;			/* 0xA0000-0xBFFFF is registered */
	const char *rom;		/* the option ROM's file; NULL: none */
};

static bool fbuf_exists;

/* ---- DISPI ---- */

static int dispi_bytespp(uint16_t bpp)
{
	return (bpp + 7) / 8;
}

static uint32_t dispi_stride(const struct fbuf_softc *sc)
{
	return (uint32_t)sc->dispi[DISPI_VIRT_WIDTH] * (uint32_t)dispi_bytespp(sc->dispi[DISPI_BPP]);
}

static void dispi_set_virt_height(struct fbuf_softc *sc)
{
	uint32_t stride = dispi_stride(sc), h = stride ? FB_SIZE / stride : 0;

	sc->dispi[DISPI_VIRT_HEIGHT] = (uint16_t)(h > 0xffff ? 0xffff : h);
}

static uint16_t dispi_read(struct fbuf_softc *sc, uint16_t idx)
{
	bool caps = sc->dispi[DISPI_ENABLE] & DISPI_GETCAPS;

	switch (idx) {
	case DISPI_XRES:
		return caps ? (uint16_t)sc->width : sc->dispi[idx];
	case DISPI_YRES:
		return caps ? (uint16_t)sc->height : sc->dispi[idx];
	case DISPI_BPP:
		return caps ? 32 : sc->dispi[idx];
	case DISPI_VIDEO_MEMORY_64K:
		return FB_SIZE >> 16;
	default:
		return idx < DISPI_NREGS ? sc->dispi[idx] : 0;
	}
}

static void dispi_write(struct fbuf_softc *sc, uint16_t idx, uint16_t v)
{
	bool on = sc->dispi[DISPI_ENABLE] & DISPI_ENABLED;

	switch (idx) {
	case DISPI_ID:
		if (v >= DISPI_ID0 && v <= DISPI_ID5)
			sc->dispi[idx] = v;
		break;
	case DISPI_XRES:
		if (v >= 8 && v <= DISPI_MAX_RES && (v & 7) == 0 && !on)
			sc->dispi[idx] = v;
		break;
	case DISPI_YRES:
		if (v >= 1 && v <= DISPI_MAX_RES && !on)
			sc->dispi[idx] = v;
		break;
	case DISPI_BPP:
		if ((v == 8 || v == 15 || v == 16 || v == 24 || v == 32) && !on)
			sc->dispi[idx] = v;
		break;
	case DISPI_ENABLE:
		if ((v & DISPI_ENABLED) && !on) {
			uint32_t need = (uint32_t)sc->dispi[DISPI_XRES] *
			    (uint32_t)sc->dispi[DISPI_YRES] *
			    (uint32_t)dispi_bytespp(sc->dispi[DISPI_BPP]);

			if (sc->dispi[DISPI_XRES] == 0 || sc->dispi[DISPI_YRES] == 0 ||
			    need > FB_SIZE)
				v &= (uint16_t)~DISPI_ENABLED;	/* a mode that does not fit */
			else {
				sc->dispi[DISPI_VIRT_WIDTH] = sc->dispi[DISPI_XRES];
				sc->dispi[DISPI_X_OFFSET] = sc->dispi[DISPI_Y_OFFSET] = 0;
				sc->dispi[DISPI_BANK] = 0;
				dispi_set_virt_height(sc);
				if (!(v & DISPI_NOCLEAR))
					memset(sc->fb, 0, need);
			}
		}
		sc->dispi[idx] = v & (DISPI_ENABLED | DISPI_GETCAPS | DISPI_8BIT_DAC |
		    DISPI_LFB);
		break;
	case DISPI_BANK:
		if (v < FB_SIZE >> 16)
			sc->dispi[idx] = v;
		break;
	case DISPI_VIRT_WIDTH:
		if (v >= sc->dispi[DISPI_XRES] &&
		    (uint32_t)v * (uint32_t)dispi_bytespp(sc->dispi[DISPI_BPP]) *
		    sc->dispi[DISPI_YRES] <= FB_SIZE) {
			sc->dispi[idx] = v;
			dispi_set_virt_height(sc);
		}
		break;
	case DISPI_X_OFFSET:
	case DISPI_Y_OFFSET:
		sc->dispi[idx] = v;
		break;
	default:
		break;		/* VIRT_HEIGHT and VIDEO_MEMORY_64K are read-only */
	}
}

/* ---- EDID ---- */

/* An EDID 1.3 block for a digital display whose preferred (first detailed)
 * timing is w x h at 60 Hz with reduced blanking, as drivers that read BAR 2's
 * EDID (Linux's bochs-drm, newer QemuVideoDxe) take for the native mode. */
static void fbuf_edid(uint8_t *e, int w, int h)
{
	static const uint8_t header[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
	/* sRGB primaries and white point, packed as EDID's chromaticity bytes. */
	static const uint8_t srgb[10] = { 0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54 };
	const int hblank = 160, hso = 48, hsw = 32, vblank = 23, vso = 3, vsw = 6;
	uint32_t clock = (uint32_t)((w + hblank) * (h + vblank)) * 60u / 10000u;
	uint8_t *d = e + 54;
	uint8_t sum = 0;

	memset(e, 0, 128);
	memcpy(e, header, 8);
	e[8] = 0x09;			/* manufacturer "BHY" */
	e[9] = 0x19;
	e[16] = 1;			/* week 1 */
	e[17] = 2024 - 1990;
	e[18] = 1;			/* EDID 1.3 */
	e[19] = 3;
	e[20] = 0x80;			/* digital input */
	e[21] = (uint8_t)(w * 254 / 9600);	/* size in cm at 96 dpi */
	e[22] = (uint8_t)(h * 254 / 9600);
	e[23] = 120;			/* gamma 2.2 */
	e[24] = 0x0f;			/* RGB colour, sRGB, first detailed timing
					 * preferred, GTF timings within the limits */
	memcpy(e + 25, srgb, sizeof(srgb));
	e[35] = 0x21;			/* 640x480@60, 800x600@60 */
	e[36] = 0x08;			/* 1024x768@60 */
	for (int i = 38; i < 54; i++)
		e[i] = 0x01;		/* no standard timings */
	d[0] = (uint8_t)clock;		/* 10 kHz units */
	d[1] = (uint8_t)(clock >> 8);
	d[2] = (uint8_t)w;
	d[3] = (uint8_t)hblank;
	d[4] = (uint8_t)((w >> 8) << 4 | hblank >> 8);
	d[5] = (uint8_t)h;
	d[6] = (uint8_t)vblank;
	d[7] = (uint8_t)((h >> 8) << 4 | vblank >> 8);
	d[8] = (uint8_t)hso;
	d[9] = (uint8_t)hsw;
	d[10] = (uint8_t)(vso << 4 | vsw);
	d[11] = 0;
	d[12] = (uint8_t)(e[21] * 10);	/* image size in mm */
	d[13] = (uint8_t)(e[22] * 10);
	d[14] = (uint8_t)(((e[21] * 10) >> 8) << 4 | ((e[22] * 10) >> 8));
	d[17] = 0x1e;			/* digital separate sync, both positive */
	d = e + 72;			/* display product name */
	d[3] = 0xfc;
	memcpy(d + 5, "bhyve\n       ", 13);
	d = e + 90;			/* range limits: 50-75 Hz, 30-80 kHz, 160 MHz */
	d[3] = 0xfd;
	d[5] = 50;
	d[6] = 75;
	d[7] = 30;
	d[8] = 80;
	d[9] = 16;
	d[10] = 0x00;			/* the default GTF */
	memcpy(d + 11, "\n      ", 7);
	e[108 + 3] = 0x10;		/* a dummy descriptor */
	for (int i = 0; i < 127; i++)
		sum = (uint8_t)(sum + e[i]);
	e[127] = (uint8_t)-sum;
}

/* ---- guest access ---- */

/* An access of size bytes at VGA port port (or its MMIO mirror), little endian:
 * the index port first. */
static void fbuf_vga_access(struct fbuf_softc *sc, bool write, uint16_t port, int size,
    uint64_t *val)
{
	uint64_t v = 0;

	for (int i = 0; i < size; i++) {
		uint16_t p = (uint16_t)(port + i);

		if (p >= VGA_PORT_BASE + VGA_PORTS)
			break;
		if (write)
			vga_port_write(&sc->vg, p, (uint8_t)(*val >> (8 * i)));
		else
			v |= (uint64_t)vga_port_read(&sc->vg, p) << (8 * i);
	}
	if (!write)
		*val = v;
}

static int fbuf_port(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	struct fbuf_softc *sc = arg;

	pthread_mutex_lock(&sc->mtx);
	if (port >= VGA_PORT_BASE && port < VGA_PORT_BASE + VGA_PORTS) {
		fbuf_vga_access(sc, write, (uint16_t)port, size, val);
	} else if (port == DISPI_PORT_INDEX) {
		if (write)
			sc->dispi_idx = (uint16_t)*val;
		else
			*val = sc->dispi_idx;
	} else {
		if (write)
			dispi_write(sc, sc->dispi_idx, (uint16_t)*val);
		else
			*val = dispi_read(sc, sc->dispi_idx);
	}
	pthread_mutex_unlock(&sc->mtx);
	return 0;
}

/* 0xA0000-0xBFFFF (vga=on): each byte through the VGA's memory logic. */
static int fbuf_vgamem(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	struct fbuf_softc *sc = arg;
	uint64_t v = 0;

	pthread_mutex_lock(&sc->mtx);
	for (int i = 0; i < size; i++) {
		uint64_t off = addr + (uint64_t)i - VGA_MEM_BASE;

		if (addr < VGA_MEM_BASE || off >= VGA_MEM_SIZE)
			break;
		if (write)
			vga_mem_write(&sc->vg, (uint32_t)off, (uint8_t)(*val >> (8 * i)));
		else
			v |= (uint64_t)vga_mem_read(&sc->vg, (uint32_t)off) << (8 * i);
	}
	pthread_mutex_unlock(&sc->mtx);
	if (!write)
		*val = v;
	return 0;
}

static void fbuf_mmio(struct fbuf_softc *sc, bool write, uint64_t off, int size, uint64_t *val)
{
	if (off >= FB_MMIO_VGA && off < FB_MMIO_VGA + VGA_PORTS) {
		fbuf_vga_access(sc, write, (uint16_t)(VGA_PORT_BASE + off - FB_MMIO_VGA), size, val);
	} else if (off >= FB_MMIO_DISPI && off < FB_MMIO_DISPI + 2 * DISPI_NREGS &&
	    !(off & 1) && size == 2) {
		uint16_t idx = (uint16_t)((off - FB_MMIO_DISPI) / 2);

		if (write)
			dispi_write(sc, idx, (uint16_t)*val);
		else
			*val = dispi_read(sc, idx);
	} else if (!write) {
		*val = 0;
		for (int i = 0; i < size && off + (uint64_t)i < sizeof(sc->edid); i++)
			*val |= (uint64_t)sc->edid[off + i] << (8 * i);
	}
}

static void pci_fbuf_barwrite(struct pci_devinst *pi, int baridx, uint64_t off, int size,
    uint64_t val)
{
	struct fbuf_softc *sc = pi->pi_arg;

	pthread_mutex_lock(&sc->mtx);
	if (baridx == 0 && off + (uint64_t)size <= FB_SIZE)
		le_put(sc->fb + off, val, size);	/* not mapped as a slot (see fbuf_bar_moved) */
	else if (baridx == 2)
		fbuf_mmio(sc, true, off, size, &val);
	pthread_mutex_unlock(&sc->mtx);
}

static uint64_t pci_fbuf_barread(struct pci_devinst *pi, int baridx, uint64_t off, int size)
{
	struct fbuf_softc *sc = pi->pi_arg;
	uint64_t val = ~0ULL;

	pthread_mutex_lock(&sc->mtx);
	if (baridx == 0 && off + (uint64_t)size <= FB_SIZE)
		val = le_get(sc->fb + off, size);
	else if (baridx == 2)
		fbuf_mmio(sc, false, off, size, &val);
	pthread_mutex_unlock(&sc->mtx);
	return val;
}

/* The framebuffer BAR follows its decoding with a memory slot. Where the slot
 * cannot be made (a firmware sizing the BAR onto the boot ROM for a moment, or
 * the software CPU once started) the BAR still works through exits. */
static void fbuf_bar_moved(struct pci_devinst *pi, int idx)
{
	struct fbuf_softc *sc = pi->pi_arg;
	struct pcibar *bar = &pi->pi_bar[idx];

	if (idx != 0 || sc == NULL)
		return;
	if (sc->fb_gpa != 0 && (!bar->registered || bar->addr != sc->fb_gpa)) {
		if (vm_unmap_host_memory(pi->pi_vmctx, sc->fb_gpa) != 0) {
			if (!sc->fb_map_warned)
				warnx("%s: cannot unmap the framebuffer at 0x%llx: %s", pi->pi_name,
				    (unsigned long long)sc->fb_gpa, vm_errmsg());
			sc->fb_map_warned = true;
			return;		/* it stays where it was */
		}
		sc->fb_gpa = 0;
	}
	if (bar->registered && sc->fb_gpa == 0) {
		if (vm_map_host_memory(pi->pi_vmctx, bar->addr, sc->fb, FB_SIZE, false) == 0)
			sc->fb_gpa = bar->addr;
		else if (!sc->fb_map_warned) {
			warnx("%s: framebuffer at 0x%llx served through exits: %s", pi->pi_name,
			    (unsigned long long)bar->addr, vm_errmsg());
			sc->fb_map_warned = true;
		}
	}
}

/* ---- what VNC shows ---- */

static void fbuf_view(void *arg, struct rfb_view *v)
{
	struct fbuf_softc *sc = arg;

	pthread_mutex_lock(&sc->mtx);
	if (sc->dispi[DISPI_ENABLE] & DISPI_ENABLED) {
		uint16_t bpp = sc->dispi[DISPI_BPP];
		uint64_t stride = dispi_stride(sc), bytespp = (uint64_t)dispi_bytespp(bpp);
		uint64_t off = sc->dispi[DISPI_Y_OFFSET] * stride +
		    sc->dispi[DISPI_X_OFFSET] * bytespp;
		uint64_t h = sc->dispi[DISPI_YRES], row = sc->dispi[DISPI_XRES] * bytespp;

		/* Offsets past the end show less: never a byte outside the BAR. */
		while (h > 0 && off + (h - 1) * stride + row > FB_SIZE)
			h--;
		v->width = sc->dispi[DISPI_XRES];
		v->height = (int)h;
		v->bpp = bpp;
		v->stride = (uint32_t)stride;
		v->base = h > 0 ? sc->fb + off : NULL;
		if (h == 0)
			v->height = sc->dispi[DISPI_YRES];
		for (int i = 0; i < 256 && bpp == 8; i++) {
			const uint8_t *c = sc->vg.r.dac[i];
			int sh = sc->dispi[DISPI_ENABLE] & DISPI_8BIT_DAC ? 0 : 2;

			v->palette[i] = (uint32_t)(c[0] << sh) << 16 | (uint32_t)(c[1] << sh) << 8 |
			    (uint32_t)(c[2] << sh);
		}
	} else if (sc->vga == VGA_ON && vga_render(&sc->vg, v)) {
		/* the legacy text (or mode 13h) picture */
	} else {
		v->width = sc->width;
		v->height = sc->height;
		v->bpp = 32;
		v->base = NULL;
	}
	pthread_mutex_unlock(&sc->mtx);
}

/* ---- set-up ---- */

static int fbuf_config(struct fbuf_softc *sc, const char *node, struct rfb_config *rc)
{
	const char *s;
	unsigned long n;
	bool wait;

	sc->width = 1024;
	sc->height = 768;
	if ((s = get_config_value_node(node, "w")) != NULL) {
		if (parse_uint(s, FB_MAX_W, &n) != 0 || n < FB_MIN_W) {
			warnx("fbuf: invalid width \"%s\" (%d to %d)", s, FB_MIN_W, FB_MAX_W);
			return -1;
		}
		sc->width = (int)n & ~7;
	}
	if ((s = get_config_value_node(node, "h")) != NULL) {
		if (parse_uint(s, FB_MAX_H, &n) != 0 || n < FB_MIN_H) {
			warnx("fbuf: invalid height \"%s\" (%d to %d)", s, FB_MIN_H, FB_MAX_H);
			return -1;
		}
		sc->height = (int)n;
	}
	s = get_config_value_node(node, "vga");
	if (s == NULL || strcmp(s, "io") == 0)
		sc->vga = VGA_IO;
	else if (strcmp(s, "off") == 0)
		sc->vga = VGA_OFF;
	else if (strcmp(s, "on") == 0)
		sc->vga = VGA_ON;
	else {
		warnx("fbuf: invalid vga \"%s\" (io, on or off)", s);
		return -1;
	}
	/* The option ROM: with vga=on SeaBIOS's VGA BIOS for this adapter
	 * unless told otherwise; "none": no ROM. */
	s = get_config_value_node(node, "rom");
	if (s == NULL && sc->vga == VGA_ON)
		s = FBUF_VGABIOS;
	sc->rom = s != NULL && strcmp(s, "none") != 0 ? s : NULL;
	if (get_config_bool_node_default(node, "wait", false, &wait) != 0)
		return -1;
	rc->tcp = get_config_value_node(node, "tcp");
	if (rc->tcp == NULL)
		rc->tcp = get_config_value_node(node, "rfb");
	rc->unix_path = get_config_value_node(node, "unix");
	rc->password = get_config_value_node(node, "password");
	rc->wait = wait;
	rc->width = sc->width;
	rc->height = sc->height;
	rc->name = get_config_value("name");
	return 0;
}

static int fbuf_register_ports(struct fbuf_softc *sc)
{
	struct io_range dispi = { .name = "fbuf dispi", .base = DISPI_PORT_INDEX,
	    .size = DISPI_PORTS, .handler = fbuf_port, .arg = sc };
	struct io_range vga = { .name = "fbuf vga", .base = VGA_PORT_BASE, .size = VGA_PORTS,
	    .handler = fbuf_port, .arg = sc };

	if (register_io(IO_PORT, &dispi) != 0)
		return -1;
	if (sc->vga != VGA_OFF && register_io(IO_PORT, &vga) != 0) {
		unregister_io(IO_PORT, DISPI_PORT_INDEX);
		return -1;
	}
	sc->ports = true;
	return 0;
}

/* vga=on: 0xA0000-0xBFFFF leaves RAM and becomes the VGA's memory. */
static int fbuf_legacy_memory(struct fbuf_softc *sc)
{
	struct io_range mem = { .name = "fbuf vga memory", .base = VGA_MEM_BASE,
	    .size = VGA_MEM_SIZE, .handler = fbuf_vgamem, .arg = sc };

	sc->vg.pix = calloc((size_t)VGA_PIX_W * VGA_PIX_H, sizeof(uint32_t));
	if (sc->vg.pix == NULL) {
		warnx("%s: no memory for the VGA picture", sc->pi->pi_name);
		return -1;
	}
	if (vm_punch_ram_hole(sc->pi->pi_vmctx, VGA_MEM_BASE, VGA_MEM_SIZE) != 0) {
		warnx("%s: cannot take 0xA0000-0xBFFFF out of RAM for vga=on: %s",
		    sc->pi->pi_name, vm_errmsg());
		return -1;
	}
	if (register_io(IO_MMIO, &mem) != 0)
		return -1;
	sc->vgamem = true;
	return 0;
}

static void pci_fbuf_deinit(struct pci_devinst *pi)
{
	struct fbuf_softc *sc = pi->pi_arg;

	if (sc == NULL)
		return;
	rfb_close(sc->rfb);
	sc->rfb = NULL;
	if (sc->ports) {
		unregister_io(IO_PORT, DISPI_PORT_INDEX);
		if (sc->vga != VGA_OFF)
			unregister_io(IO_PORT, VGA_PORT_BASE);
		sc->ports = false;
	}
	if (sc->vgamem) {
		unregister_io(IO_MMIO, VGA_MEM_BASE);
		sc->vgamem = false;
	}
	pci_emul_free_rom(pi);
	if (sc->fb_gpa != 0 && vm_unmap_host_memory(pi->pi_vmctx, sc->fb_gpa) == 0)
		sc->fb_gpa = 0;
	fbuf_exists = false;
}

static int pci_fbuf_init(struct pci_devinst *pi, const char *node)
{
	struct fbuf_softc *sc;
	struct rfb_config rc = { 0 };

	if (fbuf_exists) {
		warnx("%s: only one fbuf device is supported", pi->pi_name);
		return -1;
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->pi = pi;
	pthread_mutex_init(&sc->mtx, NULL);
	if (fbuf_config(sc, node, &rc) != 0)
		goto fail;
	sc->fb = mmap(NULL, FB_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_NORESERVE, -1, 0);
	if (sc->fb == MAP_FAILED) {
		sc->fb = NULL;
		warnx("%s: cannot allocate the framebuffer: %s", pi->pi_name, strerror(errno));
		goto fail;
	}
	sc->dispi[DISPI_ID] = DISPI_ID5;
	sc->dispi[DISPI_BPP] = 32;
	vga_reset(&sc->vg);
	fbuf_edid(sc->edid, sc->width, sc->height);
	pci_set_cfgdata16(pi, PCIR_VENDOR, 0x1234);
	pci_set_cfgdata16(pi, PCIR_DEVICE, 0x1111);
	pci_set_cfgdata8(pi, PCIR_REVID, 2);
	pci_set_cfgdata8(pi, PCIR_CLASS, 0x03);			/* display */
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, sc->vga == VGA_OFF ? 0x80 : 0x00);	/* other : VGA */
	pci_set_cfgdata16(pi, PCIR_SUBVEND_0, 0x1af4);
	pci_set_cfgdata16(pi, PCIR_SUBDEV_0, 0x1100);
	pi->pi_arg = sc;
	pi->pi_bar_moved = fbuf_bar_moved;
	/* Before the BARs: a ROM that cannot be read leaves nothing behind. */
	if (sc->rom != NULL && pci_emul_load_rom(pi, sc->rom) != 0)
		goto fail;
	if (pci_emul_alloc_bar(pi, 0, PCIBAR_MEM32, FB_SIZE) != 0 ||
	    pci_emul_set_bar_prefetch(pi, 0) != 0 ||
	    pci_emul_alloc_bar(pi, 2, PCIBAR_MEM32, FB_MMIO_SIZE) != 0)
		goto fail;
	if (fbuf_register_ports(sc) != 0)
		goto fail;
	if (sc->vga == VGA_ON && fbuf_legacy_memory(sc) != 0)
		goto fail;
	sc->rfb = rfb_open(&rc, fbuf_view, sc);
	if (sc->rfb == NULL || rfb_start(sc->rfb) != 0)
		goto fail;
	fbuf_exists = true;
	return 0;
fail:
	pci_fbuf_deinit(pi);
	pi->pi_bar_moved = NULL;
	pi->pi_arg = NULL;
	if (sc->fb != NULL && sc->fb_gpa == 0)
		munmap(sc->fb, FB_SIZE);
	free(sc->vg.pix);
	free(sc);
	return -1;
}

/* What fbuf_config reads; anything else is refused by name. */
static const char *const fbuf_keys[] = {
	"w", "h", "vga", "rom", "wait", "tcp", "rfb", "unix", "password", NULL
};

static const struct pci_devemu pci_de_fbuf = {
	.pe_emu = "fbuf",
	.pe_keys = fbuf_keys,
	.pe_init = pci_fbuf_init,
	.pe_legacy_config = pci_generic_legacy_config,
	.pe_barwrite = pci_fbuf_barwrite,
	.pe_barread = pci_fbuf_barread,
	.pe_deinit = pci_fbuf_deinit,
};
PCI_EMUL_SET(pci_de_fbuf);
