/* libFuzzer target: fbuf's legacy VGA (vga=on): the register file at the
 * ports 0x3c0-0x3df, the video memory at 0xA0000-0xBFFFF (every memory map,
 * chain-4, odd/even, planar with the four write modes and both read modes),
 * the expansion ROM BAR at config 0x30 (sized, moved, enabled, read where it
 * decodes) and the rest of the function's configuration space. The rendering
 * is fuzzed twice over: a VNC client connected to the device's socket (that
 * never speaks) makes the server's thread draw whatever the registers
 * describe 30 times a second, and the same accesses also drive a VGA of the
 * target's own (regions 5 and 6) that the target's op renders at once, so that
 * hostile CRTC values, start addresses, fonts and palettes are drawn
 * deterministically. Op stream: fuzz_common.h. ASan and UBSan watch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/vga.h"
#include "fuzz_common.h"
#include "pci_emul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pci_devinst *pi;
static struct vga *own;
static int renders;	/* this input's: a large picture costs milliseconds, so at most 2 */
volatile uint32_t fuzz_vga_sink;	/* the pixels' sum: read, never optimised away */

static int own_ports(bool write, uint64_t off, int size, uint64_t *val)
{
	uint64_t v = 0;

	for (int i = 0; i < size && off + (uint64_t)i < 0x20; i++) {
		uint16_t port = (uint16_t)(0x3c0 + off + (uint64_t)i);

		if (write)
			vga_port_write(own, port, (uint8_t)(*val >> (8 * i)));
		else
			v |= (uint64_t)vga_port_read(own, port) << (8 * i);
	}
	if (!write)
		*val = v;
	return 0;
}

static int own_memory(bool write, uint64_t off, int size, uint64_t *val)
{
	uint64_t v = 0;

	for (int i = 0; i < size && off + (uint64_t)i < VGA_MEM_SIZE; i++) {
		if (write)
			vga_mem_write(own, (uint32_t)(off + (uint64_t)i), (uint8_t)(*val >> (8 * i)));
		else
			v |= (uint64_t)vga_mem_read(own, (uint32_t)(off + (uint64_t)i)) << (8 * i);
	}
	if (!write)
		*val = v;
	return 0;
}

/* The ROM wherever its BAR points now (the guest moves it through 0x30). */
static int rom_io(bool write, uint64_t off, int size, uint64_t *val)
{
	uint64_t base = pi->pi_rom.addr;

	return emulate_io(IO_MMIO, write, base + off, size, val) < 0 ? -1 : 0;
}

static void setup(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char spec[200], rom[64];
	const char *specs[1] = { spec };
	uint8_t img[3000] = { 0x55, 0xaa, 6 };
	FILE *f;
	int fd;

	/* A small ROM of the target's own: the device loads it like any. */
	snprintf(rom, sizeof(rom), "/tmp/fuzz-vga-%d.rom", (int)getpid());
	f = fopen(rom, "wb");
	if (f == NULL || fwrite(img, 1, sizeof(img), f) != sizeof(img) || fclose(f) != 0)
		abort();
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/fuzz-vga-%d.sock", (int)getpid());
	snprintf(spec, sizeof(spec), "4,fbuf,unix=%s,w=800,h=600,vga=on,rom=%s", sun.sun_path, rom);
	fz_pci(specs, 1);
	unlink(rom);
	pi = pci_find(0, 4, 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (pi == NULL || pi->pi_rom.size != 4096 || fd < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		abort();
	unlink(sun.sun_path);	/* the connection stays */
	own = calloc(1, sizeof(*own));
	if (own == NULL || (own->pix = calloc((size_t)VGA_PIX_W * VGA_PIX_H, 4)) == NULL)
		abort();
	fz_add_port(0x3c0, 0x20);
	fz_add_mmio(VGA_MEM_BASE, VGA_MEM_SIZE);
	fz_add_cfg(pi);
	fz_add((struct fz_region){ .kind = FZ_CALL, .size = 4096, .call = rom_io });
	fz_add_bars(pi);
	fz_add((struct fz_region){ .kind = FZ_CALL, .size = 0x20, .call = own_ports });
	fz_add((struct fz_region){ .kind = FZ_CALL, .size = VGA_MEM_SIZE, .call = own_memory });
	fz_pci_save(pi);
}

static void reset(void)
{
	fz_pci_restore();
	vga_reset(own);
	renders = 0;
}

static void hook(struct fz_input *in, uint8_t op)
{
	struct rfb_view v;
	uint32_t sum = 0;

	(void)in;
	(void)op;
	memset(&v, 0, sizeof(v));
	if (renders++ >= 2 || !vga_render(own, &v))
		return;
	/* The first and last pixel of every row the picture claims are read:
	 * ASan sees any past pix. */
	for (int y = 0; y < v.height; y++)
		sum += v.base[(size_t)y * v.stride] +
		    v.base[(size_t)y * v.stride + (size_t)(v.width - 1) * 4 + 3];
	fuzz_vga_sink = sum;
	if (v.width > VGA_PIX_W || v.height > VGA_PIX_H || v.stride != VGA_PIX_W * 4)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset, .hook = hook };

	return fz_run(&t, data, size);
}
