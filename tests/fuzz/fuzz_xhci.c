/* libFuzzer target: a USB host driver that puts anything it likes on the
 * command, control and interrupt rings and in the registers of an xhci
 * controller with a tablet and a keyboard (bhyve/devices/xhci.c, usb_hid.c).
 * For each input the harness resets the controller and brings it up as a
 * driver would (DCBAA, command ring, a 32-TRB event ring, R/S, both ports
 * reset), then rings its own commands: Enable Slot twice, Address Device and
 * Configure Endpoint (EP 1 IN) for both devices, and puts SET_CONFIGURATION
 * at the start of each endpoint 0 ring. Then the input supplies, in order:
 *   the rest of slot 1's endpoint 0 ring (EP0_BYTES), slot 1's interrupt ring
 *   (INT_BYTES), more commands (CMD_BYTES), all with links anywhere;
 *   EV_COUNT input events (3 bytes each: a key or a pointer move);
 *   NREG register writes (2-byte offset into BAR 0, 4-byte value);
 *   the rest lands in guest RAM from DATA_GPA (buffers, contexts, rings).
 * Every doorbell is rung after the rings are filled, the input events are fed
 * through input.c as the VNC server does, then the registers are written and
 * the doorbells rung again. Nothing may crash, touch memory outside guest RAM
 * or hang (a ring of links that loop must end: XHCI_TRB_BUDGET). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/xhci.h"
#include "fake_vmmapi.h"
#include "input.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"
#include "util.h"

#define RAM_SIZE	(256 << 10)
#define DCBAA_GPA	0x1000
#define CMD_GPA		0x2000
#define ERST_GPA	0x3000
#define EVR_GPA		0x3100
#define EVR_TRBS	32
#define IN1_GPA		0x4000
#define IN2_GPA		0x4800
#define OUT1_GPA	0x5000
#define OUT2_GPA	0x5400
#define CFG1_GPA	0x6000
#define CFG2_GPA	0x6800
#define EP0_1_GPA	0x8000
#define EP0_2_GPA	0x9000
#define INT1_GPA	0xa000
#define INT2_GPA	0xb000
#define DATA_GPA	0xc000
#define EP0_BYTES	512
#define INT_BYTES	256
#define CMD_BYTES	512
#define EV_COUNT	8
#define NREG		16

/* BAR 0 offsets (xhci.c's layout). */
#define OP		0x20
#define RT		0x2000
#define DB		0x3000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static uint64_t bar0, bar_size;

static void wr(uint64_t off, uint32_t v)
{
	uint64_t val = v;

	emulate_io(IO_MMIO, true, bar0 + off, 4, &val);
}

static void setup(void)
{
	struct vmctx *ctx = fake_vm_create(RAM_SIZE, 0);
	struct pci_devinst *pi;

	ram = calloc(1, RAM_SIZE);
	if (ctx == NULL || ram == NULL || mevent_init() != 0)
		abort();
	if (pci_parse_slot("3,xhci,tablet,kbd") != 0 || init_pci(ctx) != 0)
		abort();
	fake_vm_set_ram(ctx, ram, RAM_SIZE);
	pi = pci_find(0, 3, 0);
	bar0 = pi->pi_bar[0].addr;
	bar_size = pi->pi_bar[0].size;
}

static void take(const uint8_t **data, size_t *size, uint8_t *to, size_t max)
{
	size_t n = *size < max ? *size : max;

	memcpy(to, *data, n);
	memset(to + n, 0, max - n);
	*data += n;
	*size -= n;
}

static void trb(uint64_t gpa, uint64_t param, uint32_t status, uint32_t ctl)
{
	le_put(ram + gpa, param, 8);
	le_put(ram + gpa + 8, status, 4);
	le_put(ram + gpa + 12, ctl | 1, 4);	/* cycle 1 */
}

/* An input context for Address Device (port, EP 0 ring) or Configure
 * Endpoint (EP 1 IN ring). */
static void in_ctx(uint64_t gpa, int port, uint64_t ring, bool configure)
{
	uint8_t *c = ram + gpa;

	le_put(c + 4, configure ? (1 | 8) : 3, 4);
	le_put(c + 32, (configure ? 3u : 1u) << 27 | 3u << 20, 4);
	le_put(c + 32 + 4, (uint32_t)port << 16, 4);
	if (configure) {
		le_put(c + 32 + 96 + 4, 3u << 1 | 7u << 3 | 8u << 16, 4);
		le_put(c + 32 + 96 + 8, ring | 1, 8);
	} else {
		le_put(c + 64 + 4, 3u << 1 | 4u << 3 | 64u << 16, 4);
		le_put(c + 64 + 8, ring | 1, 8);
	}
}

/* SET_CONFIGURATION 1 (Setup, Status) at the start of an endpoint 0 ring. */
static void set_config_td(uint64_t gpa)
{
	trb(gpa, 0x00010900, 8, 2u << 10 | 1u << 6);
	trb(gpa + 16, 0, 0, 4u << 10 | 1u << 16 | 1u << 5);
}

static void doorbells(void)
{
	wr(DB, 0);
	for (uint32_t s = 1; s <= 2; s++) {
		wr(DB + 4 * s, 1);
		wr(DB + 4 * s, 3);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t ep0[EP0_BYTES], intr[INT_BYTES], cmd[CMD_BYTES], ev[EV_COUNT * 3], regs[NREG * 6];

	if (ram == NULL)
		setup();
	take(&data, &size, ep0, sizeof(ep0));
	take(&data, &size, intr, sizeof(intr));
	take(&data, &size, cmd, sizeof(cmd));
	take(&data, &size, ev, sizeof(ev));
	take(&data, &size, regs, sizeof(regs));
	memset(ram, 0, RAM_SIZE);
	take(&data, &size, ram + DATA_GPA, RAM_SIZE - DATA_GPA);

	/* A driver's bring-up. */
	wr(OP + 0x00, 2);				/* HCRST */
	wr(OP + 0x38, XHCI_MAXSLOTS);
	le_put(ram + DCBAA_GPA + 8, OUT1_GPA, 8);
	le_put(ram + DCBAA_GPA + 16, OUT2_GPA, 8);
	wr(OP + 0x30, DCBAA_GPA);
	wr(OP + 0x34, 0);
	wr(OP + 0x18, CMD_GPA | 1);
	wr(OP + 0x1c, 0);
	le_put(ram + ERST_GPA, EVR_GPA, 8);
	le_put(ram + ERST_GPA + 8, EVR_TRBS, 4);
	wr(RT + 0x28, 1);
	wr(RT + 0x38, EVR_GPA);
	wr(RT + 0x30, ERST_GPA);
	wr(RT + 0x20, 2);				/* IMAN.IE */
	wr(OP + 0x00, 1 | 4);				/* R/S, INTE */
	wr(OP + 0x400, 1u << 4 | 1u << 9);		/* port 1 reset */
	wr(OP + 0x410, 1u << 4 | 1u << 9);		/* port 2 reset */
	in_ctx(IN1_GPA, 1, EP0_1_GPA, false);
	in_ctx(IN2_GPA, 2, EP0_2_GPA, false);
	in_ctx(CFG1_GPA, 1, INT1_GPA, true);
	in_ctx(CFG2_GPA, 2, INT2_GPA, true);
	trb(CMD_GPA + 0x00, 0, 0, 9u << 10);
	trb(CMD_GPA + 0x10, 0, 0, 9u << 10);
	trb(CMD_GPA + 0x20, IN1_GPA, 0, 11u << 10 | 1u << 24);
	trb(CMD_GPA + 0x30, IN2_GPA, 0, 11u << 10 | 2u << 24);
	trb(CMD_GPA + 0x40, CFG1_GPA, 0, 12u << 10 | 1u << 24);
	trb(CMD_GPA + 0x50, CFG2_GPA, 0, 12u << 10 | 2u << 24);
	set_config_td(EP0_1_GPA);
	set_config_td(EP0_2_GPA);
	wr(DB, 0);
	wr(DB + 4, 1);					/* SET_CONFIGURATION */
	wr(DB + 8, 1);
	if ((ram[OUT1_GPA + 32 * 3] & 7) != 1 || (ram[OUT2_GPA + 32 * 3] & 7) != 1)
		abort();		/* both interrupt endpoints must be running */
	wr(RT + 0x30, ERST_GPA);			/* the event ring from its start again */

	/* The input's rings. */
	memcpy(ram + EP0_1_GPA + 32, ep0, sizeof(ep0));
	memcpy(ram + INT1_GPA, intr, sizeof(intr));
	memcpy(ram + CMD_GPA + 0x60, cmd, sizeof(cmd));
	doorbells();
	wr(RT + 0x30, ERST_GPA);
	for (int i = 0; i < EV_COUNT; i++) {
		const uint8_t *e = ev + 3 * i;

		if (e[0] & 1)
			input_key(e[0] & 2, e[1] | (e[0] & 4 ? 0xff00u : 0));
		else
			input_pointer(e[0] >> 1, e[1] * 4 - 100, e[2] * 3 - 100);
	}
	for (int i = 0; i < NREG; i++) {
		uint64_t off = le_get(regs + 6 * i, 2) % bar_size;
		uint64_t val = le_get(regs + 6 * i + 2, 4);

		emulate_io(IO_MMIO, true, bar0 + (off & ~3ULL), 4, &val);
	}
	doorbells();
	return 0;
}
