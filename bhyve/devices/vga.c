/* fbuf's legacy VGA: the register file and, with vga=on, the video memory at
 * 0xA0000 and the rendering of its text mode (and mode 13h). See vga.h.
 *
 * What the picture is made of:
 *   text    (GC 6 bit 0 clear): columns CRTC 1 + 1, lines CRTC 0x12 with the
 *           overflow bits of CRTC 7, plus one; character height CRTC 9 + 1;
 *           8 or 9 dots wide (sequencer 1 bit 0). Cell n of the screen is at
 *           start address (CRTC 0x0c/0x0d) + row * CRTC 0x13 * 2 + column:
 *           its character in plane 0, its attribute in plane 1; the glyph
 *           rows in plane 2 at the font block sequencer 3 selects + char * 32.
 *           Colours: attribute -> palette (AC 0-0xf, AC 0x10 and 0x14) -> DAC.
 *           The cursor (CRTC 0x0a/0x0b, location 0x0e/0x0f) does not blink.
 *   mode 13h (graphics, 256 colours, chain-4): one byte a pixel, through
 *           the DAC.
 * Planar graphics modes (mode 12h) are not rendered: the screen is black. */
#include "devices/vga.h"

#include <string.h>

/* ---- the register file ---- */

uint8_t vga_port_read(struct vga *g, uint16_t port)
{
	struct vga_regs *r = &g->r;
	uint8_t v;

	switch (port) {
	case 0x3c0: return r->ac_idx;
	case 0x3c1: return r->ac[r->ac_idx & 0x1f];
	case 0x3c2: return 0x10;		/* input status 0: the switch sense */
	case 0x3c3: return r->enable;
	case 0x3c4: return r->seq_idx;
	case 0x3c5: return r->seq[r->seq_idx & 7];
	case 0x3c6: return r->dac_mask;
	case 0x3c7: return r->dac_state;
	case 0x3c8: return r->dac_widx;
	case 0x3c9:
		v = r->dac[r->dac_ridx][r->dac_sub];
		if (++r->dac_sub == 3) {
			r->dac_sub = 0;
			r->dac_ridx++;
		}
		return v;
	case 0x3ca: return r->feature;
	case 0x3cc: return r->misc;
	case 0x3ce: return r->gc_idx;
	case 0x3cf: return r->gc[r->gc_idx & 0xf];
	case 0x3d4: return r->crtc_idx;
	case 0x3d5: return r->crtc[r->crtc_idx & 0x1f];
	case 0x3da:
		/* Reading it resets the attribute flip-flop; display-enable and
		 * vertical retrace toggle so that polling loops end. */
		r->ac_data = false;
		r->is1 ^= 0x09;
		return r->is1;
	default: return 0xff;
	}
}

void vga_port_write(struct vga *g, uint16_t port, uint8_t v)
{
	struct vga_regs *r = &g->r;

	g->gen++;
	switch (port) {
	case 0x3c0:
		if (r->ac_data)
			r->ac[r->ac_idx & 0x1f] = v;
		else
			r->ac_idx = v & 0x3f;	/* with the palette-address-source bit */
		r->ac_data = !r->ac_data;
		break;
	case 0x3c2: r->misc = v; break;
	case 0x3c3: r->enable = v; break;
	case 0x3c4: r->seq_idx = v; break;
	case 0x3c5: r->seq[r->seq_idx & 7] = v; break;
	case 0x3c6: r->dac_mask = v; break;
	case 0x3c7:
		r->dac_ridx = v;
		r->dac_sub = 0;
		r->dac_state = 0x00;		/* the DAC is in read mode */
		break;
	case 0x3c8:
		r->dac_widx = v;
		r->dac_sub = 0;
		r->dac_state = 0x03;		/* write mode */
		break;
	case 0x3c9:
		r->dac[r->dac_widx][r->dac_sub] = v & 0x3f;
		if (++r->dac_sub == 3) {
			r->dac_sub = 0;
			r->dac_widx++;
		}
		break;
	case 0x3ce: r->gc_idx = v; break;
	case 0x3cf: r->gc[r->gc_idx & 0xf] = v; break;
	case 0x3d4: r->crtc_idx = v; break;
	case 0x3d5: {
		uint8_t i = r->crtc_idx & 0x1f;

		/* CRTC register 0x11 bit 7 protects registers 0-7 but the line
		 * compare bit of 7. */
		if ((r->crtc[0x11] & 0x80) && i <= 7) {
			if (i == 7)
				r->crtc[7] = (uint8_t)((r->crtc[7] & ~0x10) | (v & 0x10));
			break;
		}
		r->crtc[i] = v;
		break;
	}
	case 0x3da: r->feature = v; break;
	default: break;
	}
}

void vga_reset(struct vga *g)
{
	struct vga_regs *r = &g->r;

	memset(r, 0, sizeof(*r));
	r->dac_mask = 0xff;
	r->misc = 0x01;			/* color: the CRTC at 0x3d4 */
	r->enable = 0x01;
	memset(g->vram, 0, sizeof(g->vram));
	memset(g->latch, 0, sizeof(g->latch));
	g->gen = 1;
	g->drawn_gen = 0;
}

/* ---- video memory ---- */

/* The memory map select (GC 6 bits 2-3): false when off lies outside the
 * window; else *off becomes the offset inside it. */
static bool vga_window(const struct vga_regs *r, uint32_t *off)
{
	switch ((r->gc[6] >> 2) & 3) {
	case 0:				/* 0xA0000, 128 KiB */
		return *off < VGA_MEM_SIZE;
	case 1:				/* 0xA0000, 64 KiB */
		return *off < 0x10000;
	case 2:				/* 0xB0000, 32 KiB */
		if (*off < 0x10000 || *off >= 0x18000)
			return false;
		*off -= 0x10000;
		return true;
	default:			/* 0xB8000, 32 KiB */
		if (*off < 0x18000 || *off >= VGA_MEM_SIZE)
			return false;
		*off -= 0x18000;
		return true;
	}
}

static uint8_t ror8(uint8_t v, int n)
{
	return (uint8_t)((v >> n) | (v << ((8 - n) & 7)));
}

uint8_t vga_mem_read(struct vga *g, uint32_t off)
{
	const struct vga_regs *r = &g->r;
	uint8_t x;

	if (!vga_window(r, &off))
		return 0xff;
	if (r->seq[4] & 0x08)				/* chain-4 */
		return g->vram[off];
	if (r->gc[5] & 0x10) {				/* odd/even */
		uint32_t plane = (r->gc[4] & 2) | (off & 1);

		return g->vram[((off & ~1u) << 1 | plane) & (VGA_VRAM_SIZE - 1)];
	}
	off &= 0xffff;					/* planar: the latches load */
	memcpy(g->latch, &g->vram[off * 4], 4);
	if (!(r->gc[5] & 0x08))				/* read mode 0: one plane */
		return g->latch[r->gc[4] & 3];
	/* Read mode 1: a bit is set where every plane that counts (GC 7)
	 * matches the colour compare (GC 2). */
	x = 0xff;
	for (int p = 0; p < 4; p++)
		if (r->gc[7] & (1 << p))
			x &= (uint8_t)~(g->latch[p] ^ ((r->gc[2] >> p) & 1 ? 0xff : 0x00));
	return x;
}

void vga_mem_write(struct vga *g, uint32_t off, uint8_t v)
{
	const struct vga_regs *r = &g->r;
	uint8_t mm = r->seq[2] & 0xf, bm = r->gc[8], d[4];
	int rot = r->gc[3] & 7;

	if (!vga_window(r, &off))
		return;
	g->gen++;
	if (r->seq[4] & 0x08) {				/* chain-4 */
		if (mm & (1 << (off & 3)))
			g->vram[off] = v;
		return;
	}
	if (!(r->seq[4] & 0x04)) {			/* odd/even */
		uint32_t plane = off & 1;

		if (mm & (1 << plane))
			g->vram[((off & ~1u) << 1 | plane) & (VGA_VRAM_SIZE - 1)] = v;
		return;
	}
	off &= 0xffff;					/* planar */
	switch (r->gc[5] & 3) {
	case 0:
		v = ror8(v, rot);
		for (int p = 0; p < 4; p++)
			d[p] = r->gc[1] & (1 << p) ? (r->gc[0] & (1 << p) ? 0xff : 0) : v;
		break;
	case 1:				/* the latches, as they are */
		for (int p = 0; p < 4; p++)
			if (mm & (1 << p))
				g->vram[off * 4 + (uint32_t)p] = g->latch[p];
		return;
	case 2:
		for (int p = 0; p < 4; p++)
			d[p] = v & (1 << p) ? 0xff : 0;
		break;
	default:
		bm &= ror8(v, rot);
		for (int p = 0; p < 4; p++)
			d[p] = r->gc[0] & (1 << p) ? 0xff : 0;
		break;
	}
	for (int p = 0; p < 4; p++) {
		switch ((r->gc[3] >> 3) & 3) {
		case 1: d[p] &= g->latch[p]; break;
		case 2: d[p] |= g->latch[p]; break;
		case 3: d[p] ^= g->latch[p]; break;
		default: break;
		}
		d[p] = (uint8_t)((d[p] & bm) | (g->latch[p] & ~bm));
		if (mm & (1 << p))
			g->vram[off * 4 + (uint32_t)p] = d[p];
	}
}

/* ---- the picture ---- */

static uint32_t dac_rgb(const struct vga_regs *r, uint8_t idx)
{
	const uint8_t *c = r->dac[idx & r->dac_mask];

	/* 6 bits a component, widened to 8 */
	return (uint32_t)(c[0] << 2 | c[0] >> 4) << 16 | (uint32_t)(c[1] << 2 | c[1] >> 4) << 8 |
	    (uint32_t)(c[2] << 2 | c[2] >> 4);
}

/* An attribute colour (0-15) through the attribute controller's palette. */
static uint32_t attr_rgb(const struct vga_regs *r, uint8_t a)
{
	uint8_t pal = r->ac[a & 0xf], idx;

	if (r->ac[0x10] & 0x80)
		idx = (uint8_t)((r->ac[0x14] & 0x0f) << 4 | (pal & 0x0f));
	else
		idx = (uint8_t)((r->ac[0x14] & 0x0c) << 4 | (pal & 0x3f));
	return dac_rgb(r, idx);
}

static int vga_lines(const struct vga_regs *r)
{
	return (r->crtc[0x12] | (r->crtc[7] & 0x02) << 7 | (r->crtc[7] & 0x40) << 3) + 1;
}

static bool render_text(struct vga *g, int *wp, int *hp)
{
	static const uint16_t font_base[8] = {
		0x0000, 0x4000, 0x8000, 0xc000, 0x2000, 0x6000, 0xa000, 0xe000
	};
	const struct vga_regs *r = &g->r;
	int cw = r->seq[1] & 1 ? 8 : 9, ch = (r->crtc[9] & 0x1f) + 1;
	int cols = r->crtc[1] + 1, rows, w, h;
	uint32_t start = (uint32_t)r->crtc[0x0c] << 8 | r->crtc[0x0d];
	uint32_t cursor = (uint32_t)r->crtc[0x0e] << 8 | r->crtc[0x0f];
	uint32_t pitch = (uint32_t)r->crtc[0x13] * 2;
	uint8_t s3 = r->seq[3];
	uint32_t map_b = font_base[(s3 & 3) | (s3 >> 2 & 4)];
	uint32_t map_a = font_base[(s3 >> 2 & 3) | (s3 >> 3 & 4)];
	int cur_lo = r->crtc[0x0a] & 0x1f, cur_hi = r->crtc[0x0b] & 0x1f;
	bool cur_on = !(r->crtc[0x0a] & 0x20);

	rows = vga_lines(r) / ch;
	if (r->crtc[9] & 0x80)
		rows /= 2;		/* double scan */
	if (cols < 8 || rows < 1)
		return false;		/* no BIOS has set a mode yet */
	w = cols * cw;
	h = rows * ch;
	if (w > VGA_PIX_W) {
		cols = VGA_PIX_W / cw;
		w = cols * cw;
	}
	if (h > VGA_PIX_H) {
		rows = VGA_PIX_H / ch;
		h = rows * ch;
	}
	for (int row = 0; row < rows; row++) {
		for (int col = 0; col < cols; col++) {
			uint32_t cell = (start + (uint32_t)row * pitch + (uint32_t)col) & 0xffff;
			uint8_t c = g->vram[cell * 4], a = g->vram[cell * 4 + 1];
			uint32_t fg = attr_rgb(r, a & 0xf);
			uint32_t bg = attr_rgb(r, (uint8_t)(a >> 4 & (r->ac[0x10] & 0x08 ? 7 : 0xf)));
			uint32_t font = (a & 0x08 ? map_a : map_b) + (uint32_t)c * 32;
			bool line_gfx = cw == 9 && (r->ac[0x10] & 0x04) && c >= 0xc0 && c <= 0xdf;
			bool is_cursor = cur_on && cell == (cursor & 0xffff);

			for (int y = 0; y < ch; y++) {
				uint8_t bits = g->vram[((font + (uint32_t)y) & 0xffff) * 4 + 2];
				uint32_t *px = g->pix + (size_t)(row * ch + y) * VGA_PIX_W +
				    (size_t)col * (size_t)cw;

				if (is_cursor && y >= cur_lo && y <= cur_hi)
					bits = 0xff;
				for (int x = 0; x < 8; x++)
					px[x] = bits & (0x80 >> x) ? fg : bg;
				if (cw == 9)
					px[8] = (line_gfx || (is_cursor && y >= cur_lo &&
					    y <= cur_hi)) && (bits & 1) ? fg : bg;
			}
		}
	}
	*wp = w;
	*hp = h;
	return true;
}

/* Mode 13h: chain-4, one byte a pixel. */
static bool render_256(struct vga *g, int *wp, int *hp)
{
	const struct vga_regs *r = &g->r;
	int w = (r->crtc[1] + 1) * 4, scan = (r->crtc[9] & 0x1f) + 1, h;
	uint32_t start = ((uint32_t)r->crtc[0x0c] << 8 | r->crtc[0x0d]) * 4;
	uint32_t pitch = (uint32_t)r->crtc[0x13] * 8;

	if (r->crtc[9] & 0x80)
		scan *= 2;
	h = vga_lines(r) / scan;
	if (w < 8 || h < 1)
		return false;
	if (w > VGA_PIX_W)
		w = VGA_PIX_W;
	if (h > VGA_PIX_H)
		h = VGA_PIX_H;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			g->pix[(size_t)y * VGA_PIX_W + (size_t)x] = dac_rgb(r,
			    g->vram[(start + (uint32_t)y * pitch + (uint32_t)x) & (VGA_VRAM_SIZE - 1)]);
	*wp = w;
	*hp = h;
	return true;
}

bool vga_render(struct vga *g, struct rfb_view *v)
{
	const struct vga_regs *r = &g->r;

	if (g->pix == NULL)
		return false;
	if (g->gen != g->drawn_gen) {
		int w = 0, h = 0;
		bool shown;

		if (!(r->gc[6] & 1))
			shown = render_text(g, &w, &h);
		else if ((r->gc[5] & 0x40) && (r->seq[4] & 0x08))
			shown = render_256(g, &w, &h);
		else
			shown = false;
		/* The screen turned off (sequencer 1 bit 5), or the attribute
		 * controller's palette address source cleared: black. */
		if (shown && ((r->seq[1] & 0x20) || !(r->ac_idx & 0x20)))
			for (int y = 0; y < h; y++)
				memset(g->pix + (size_t)y * VGA_PIX_W, 0, (size_t)w * 4);
		g->pix_w = w;
		g->pix_h = h;
		g->pix_shown = shown;
		g->drawn_gen = g->gen;
	}
	if (!g->pix_shown)
		return false;
	v->width = g->pix_w;
	v->height = g->pix_h;
	v->bpp = 32;
	v->stride = VGA_PIX_W * 4;
	v->base = (const uint8_t *)g->pix;
	return true;
}
