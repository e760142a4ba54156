/* fbuf's legacy VGA (vga.c): the register file behind the ports 0x3c0-0x3df
 * (vga=io and vga=on), and with vga=on the 256 KiB of video memory the guest
 * reaches through 0xA0000-0xBFFFF (chain-4, odd/even and planar with the four
 * write modes), its text mode (and mode 13h) rendered for the VNC server. */
#ifndef FBUF_VGA_H
#define FBUF_VGA_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/rfb.h"

#define VGA_MEM_BASE	0xa0000u
#define VGA_MEM_SIZE	0x20000u
#define VGA_VRAM_SIZE	(256u << 10)
/* The largest picture it renders (132 columns of 9 dots, 75 rows of 16
 * lines fit); anything larger is cut. */
#define VGA_PIX_W	1188
#define VGA_PIX_H	1200

/* The VGA register file: stored and read back, as a driver probing or
 * programming it expects. */
struct vga_regs {
	uint8_t misc, feature, enable;
	uint8_t seq_idx, seq[8];
	uint8_t gc_idx, gc[16];
	uint8_t crtc_idx, crtc[32];
	uint8_t ac_idx, ac[32];
	bool ac_data;			/* the attribute port's flip-flop: next write is data */
	uint8_t dac_mask, dac_ridx, dac_widx, dac_sub, dac_state;
	uint8_t dac[256][3];
	uint8_t is1;			/* input status 1: retrace bits toggle on each read */
};

struct vga {
	struct vga_regs r;
	/* The four planes interleaved: byte 4 * offset + plane. Chain-4 addresses
	 * it directly, odd/even as planes 0/1 (2/3), text cell n is dword n. */
	uint8_t vram[VGA_VRAM_SIZE];
	uint8_t latch[4];
	uint64_t gen;			/* bumped by every write that may change the picture */
	uint64_t drawn_gen;		/* gen when pix was drawn; gen - 1 at first */
	uint32_t *pix;			/* VGA_PIX_W x VGA_PIX_H, 0x00RRGGBB; NULL: no rendering */
	int pix_w, pix_h;
	bool pix_shown;			/* the last picture is a legacy mode (not "nothing") */
};

void vga_reset(struct vga *g);
uint8_t vga_port_read(struct vga *g, uint16_t port);
void vga_port_write(struct vga *g, uint16_t port, uint8_t v);
/* off from 0xA0000, below VGA_MEM_SIZE; the memory map select (GC 6) decides
 * what decodes: elsewhere reads are 0xff and writes dropped. */
uint8_t vga_mem_read(struct vga *g, uint32_t off);
void vga_mem_write(struct vga *g, uint32_t off, uint8_t v);
/* Fills v with the legacy picture (drawn again only after a change) and
 * returns true; false when the registers describe no mode it renders (before
 * a BIOS set one, or a planar graphics mode). Needs pix. */
bool vga_render(struct vga *g, struct rfb_view *v);

#endif
