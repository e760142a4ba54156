/* libFuzzer target: a guest that does what it likes with fbuf's registers and
 * the 8042, while the VNC server reads the picture. An fbuf device (vga=io,
 * VNC on a UNIX socket nobody connects to) and the keyboard controller; each
 * 5-byte step of the input is one access: a DISPI or VGA port, BAR 2 (the VGA
 * mirror, the DISPI registers, the EDID space), BAR 0 (the framebuffer through
 * exits), the 8042's ports, or a key or pointer event from the console.
 * A client connected to the VNC socket (that never speaks) makes the server's
 * thread read the picture the guest's registers describe 30 times a second
 * meanwhile, so hostile modes, virtual widths and offsets are read too.
 * Nothing may crash or touch memory outside the framebuffer: ASan and UBSan
 * watch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/atkbdc.h"
#include "fake_vmmapi.h"
#include "input.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pci_devinst *pi;

static void setup(void)
{
	struct vmctx *ctx = fake_vm_create(1 << 20, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char spec[160];
	int fd;

	if (ctx == NULL || mevent_init() != 0)
		abort();
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/fuzz-fbuf-%d.sock", (int)getpid());
	snprintf(spec, sizeof(spec), "4,fbuf,unix=%s,w=800,h=600", sun.sun_path);
	init_inout_ports();
	if (pci_parse_slot(spec) != 0 || init_pci(ctx) != 0 || atkbdc_init(ctx) != 0)
		abort();
	pi = pci_find(0, 4, 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (pi == NULL || fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		abort();
	unlink(sun.sun_path);	/* the connection stays */
}

static const int sizes[] = { 1, 2, 4, 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (pi == NULL)
		setup();
	for (; size >= 5; data += 5, size -= 5) {
		uint8_t op = data[0], a = data[1];
		uint16_t w = (uint16_t)(data[3] | data[4] << 8);
		uint64_t v = w, off;
		int sz = sizes[data[2] & 3];
		bool wr = data[2] & 4;

		switch (op % 7) {
		case 0:		/* the DISPI ports */
			(void)emulate_io(IO_PORT, wr, 0x1ce + (a % 3), sz > 2 ? 2 : sz, &v);
			break;
		case 1:		/* the VGA ports */
			(void)emulate_io(IO_PORT, wr, 0x3c0 + (a % 0x20), sz > 2 ? 2 : sz, &v);
			break;
		case 2:		/* BAR 2 */
			off = ((uint64_t)a << 4 | (data[2] >> 4)) % 4096;
			if (wr)
				pi->pi_d->pe_barwrite(pi, 2, off, sz, v);
			else
				(void)pi->pi_d->pe_barread(pi, 2, off, sz);
			break;
		case 3:		/* BAR 0, anywhere in its 16 MiB and past its end */
			off = ((uint64_t)a << 17 | (uint64_t)w << 1) % ((16u << 20) + 64);
			if (wr)
				pi->pi_d->pe_barwrite(pi, 0, off, sz, v);
			else
				(void)pi->pi_d->pe_barread(pi, 0, off, sz);
			break;
		case 4:		/* the 8042 */
			(void)emulate_io(IO_PORT, wr, a & 1 ? 0x64 : 0x60, 1, &v);
			break;
		case 5:
			input_key(a & 1, w | (a & 2 ? 0xff00u : 0));
			break;
		default:
			input_pointer(a & 7, (int16_t)w, (int8_t)data[2] * 37);
			break;
		}
	}
	return 0;
}
