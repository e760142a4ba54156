/* xhci (bhyve/devices/xhci.c) and its HID devices (usb_hid.c), driven as a USB
 * host driver drives them: registers through BAR 0, rings and contexts in a
 * fake guest RAM, events read from the event ring; VNC input through input.c.
 * Then a hostile driver: rings of links that loop, contexts and buffers where
 * there is no RAM, malformed TDs, a full event ring. */
#include <stdlib.h>

#include "devices/usb_hid.h"
#include "devices/xhci.h"
#include "fake_vmmapi.h"
#include "input.h"
#include "pci_emul.h"
#include "test.h"
#include "util.h"

#define RAM_SIZE	(1u << 20)
#define DCBAA		0x1000
#define CMDR		0x2000
#define ERST		0x3000
#define EVR		0x4000
#define EVN		64
#define INCTX		0x5000
#define OUTCTX		0x6000		/* + 0x1000 (slot - 1) */
#define EP0R		0x10000		/* + 0x1000 (slot - 1) */
#define INTR		0x20000		/* + 0x1000 (slot - 1) */
#define BUF		0x30000
#define NORAM		0x40000000ULL	/* beyond the fake RAM */

#define OP		0x20
#define RT		0x2000
#define DB		0x3000

static struct pci_devinst *pi;
static uint8_t *ram;
static uint64_t bar;
static struct {
	uint64_t cmd_enq, ev_deq;
	bool ev_ccs;
	uint64_t ep0[3], intr[3];
} d;

static uint32_t rd(uint64_t off) { return (uint32_t)mmio_in(bar + off, 4); }
static void wr(uint64_t off, uint32_t v) { mmio_out(bar + off, 4, v); }

static void put_trb(uint64_t gpa, uint64_t param, uint32_t status, uint32_t ctl)
{
	le_put(ram + gpa, param, 8);
	le_put(ram + gpa + 8, status, 4);
	le_put(ram + gpa + 12, ctl | 1, 4);
}

/* The next event: false when none is there. */
static bool event(uint64_t *param, uint32_t *status, uint32_t *ctl)
{
	const uint8_t *e = ram + d.ev_deq;

	if (((le_get(e + 12, 4) & 1) != 0) != d.ev_ccs)
		return false;
	*param = le_get(e, 8);
	*status = (uint32_t)le_get(e + 8, 4);
	*ctl = (uint32_t)le_get(e + 12, 4);
	d.ev_deq += 16;
	if (d.ev_deq == EVR + 16 * EVN) {
		d.ev_deq = EVR;
		d.ev_ccs = !d.ev_ccs;
	}
	wr(RT + 0x38, (uint32_t)d.ev_deq | 8);
	return true;
}

/* The next event of type, others skipped; its completion code (0: none). */
static int event_of(uint32_t type, uint64_t *param, uint32_t *ctl)
{
	uint32_t status, c;
	uint64_t p;

	while (event(&p, &status, &c)) {
		if (((c >> 10) & 0x3f) != type)
			continue;
		if (param != NULL)
			*param = p;
		if (ctl != NULL)
			*ctl = c;
		return (int)(status >> 24);
	}
	return 0;
}

/* Every transfer event there is: the first code that is no success, else
 * success (0: no event). */
static int xfer_result(void)
{
	uint32_t status, c;
	uint64_t p;
	int cc = 0;

	while (event(&p, &status, &c)) {
		if (((c >> 10) & 0x3f) != 32)
			continue;
		if (cc == 0 || cc == 1)
			cc = (int)(status >> 24);
	}
	return cc;
}

static int command(uint64_t param, uint32_t ctl, int *slot)
{
	uint32_t c = 0;
	int cc;

	put_trb(d.cmd_enq, param, 0, ctl);
	d.cmd_enq += 16;
	wr(DB, 0);
	cc = event_of(33, NULL, &c);
	if (slot != NULL)
		*slot = (int)(c >> 24);
	return cc;
}

static bool bring_up(void)
{
	memset(ram, 0, RAM_SIZE);
	memset(&d, 0, sizeof(d));
	wr(OP, 2);					/* HCRST */
	if (rd(OP + 4) != 1)				/* halted, nothing else */
		return false;
	wr(OP + 0x38, XHCI_MAXSLOTS);
	wr(OP + 0x30, DCBAA);
	wr(OP + 0x34, 0);
	wr(OP + 0x18, CMDR | 1);
	wr(OP + 0x1c, 0);
	le_put(ram + ERST, EVR, 8);
	le_put(ram + ERST + 8, EVN, 4);
	wr(RT + 0x28, 1);
	wr(RT + 0x38, EVR);
	wr(RT + 0x30, ERST);
	wr(OP, 1);
	d.cmd_enq = CMDR;
	d.ev_deq = EVR;
	d.ev_ccs = true;
	return (rd(OP + 4) & 1) == 0;
}

/* Port reset, Enable Slot, Address Device: the slot ID (0: failed). */
static int address(int port)
{
	uint8_t *in = ram + INCTX;
	int slot = 0;

	wr(OP + 0x400 + 0x10 * (port - 1), 1u << 4 | 1u << 9);
	if (!(rd(OP + 0x400 + 0x10 * (port - 1)) & 2) ||
	    command(0, 9u << 10, &slot) != 1 || slot < 1 || slot > 2)
		return 0;
	memset(in, 0, 33 * 32);
	le_put(in + 4, 3, 4);
	le_put(in + 32, 1u << 27 | 3u << 20, 4);
	le_put(in + 36, (uint32_t)port << 16, 4);
	le_put(in + 68, 3u << 1 | 4u << 3 | 64u << 16, 4);
	d.ep0[slot] = EP0R + 0x1000 * (slot - 1);
	d.intr[slot] = INTR + 0x1000 * (slot - 1);
	le_put(in + 72, d.ep0[slot] | 1, 8);
	le_put(ram + DCBAA + 8 * slot, OUTCTX + 0x1000 * (slot - 1), 8);
	if (command(INCTX, 11u << 10 | (uint32_t)slot << 24, NULL) != 1)
		return 0;
	return slot;
}

/* A control transfer on slot's endpoint 0, data at BUF: its completion code. */
static int control(int slot, uint64_t setup, uint32_t len)
{
	bool in = setup & 0x80;
	uint64_t p = d.ep0[slot];

	put_trb(p, setup, 8, 2u << 10 | 1u << 6 | (len ? (in ? 3u : 2u) << 16 : 0));
	p += 16;
	if (len) {
		put_trb(p, BUF, len, 3u << 10 | 1u << 2 | (in ? 1u << 16 : 0));	/* ISP */
		p += 16;
	}
	put_trb(p, 0, 0, 4u << 10 | 1u << 5 | (len && in ? 0 : 1u << 16));
	d.ep0[slot] = p + 16;
	wr(DB + 4 * slot, 1);
	return xfer_result();
}

static bool configure(int slot, int port)
{
	uint8_t *in = ram + INCTX;

	if (control(slot, 0x00010900, 0) != 1)		/* SET_CONFIGURATION 1 */
		return false;
	memset(in, 0, 33 * 32);
	le_put(in + 4, 1 | 8, 4);
	le_put(in + 32, 3u << 27 | 3u << 20, 4);
	le_put(in + 36, (uint32_t)port << 16, 4);
	le_put(in + 32 + 96 + 4, 3u << 1 | 7u << 3 | 8u << 16, 4);
	le_put(in + 32 + 96 + 8, d.intr[slot] | 1, 8);
	return command(INCTX, 12u << 10 | (uint32_t)slot << 24, NULL) == 1;
}

static void queue_report(int slot)
{
	put_trb(d.intr[slot], BUF + 0x100 * (uint64_t)slot, 8, 1u << 10 | 1u << 5 | 1u << 2);
	d.intr[slot] += 16;
	wr(DB + 4 * slot, 3);
}

static void xhci_make(void)
{
	if (ram == NULL)
		ram = aligned_alloc(4096, RAM_SIZE);
	REQUIRE(ram != NULL);
	fake_vm_set_ram(fx_ctx, ram, RAM_SIZE);
	pi = unit_pci_create("xhci", 20, "xhci_test.0", "tablet,kbd");
	REQUIRE(pi != NULL);
	bar = pi->pi_bar[0].addr;
}

static void xhci_pci_identity_and_capabilities(void)
{
	REQUIRE(pi != NULL);
	CHECK_EQ(pci_get_cfgdata32(pi, 8) >> 8, 0x0c0330);
	CHECK_EQ(rd(0) & 0xff, 0x20);			/* CAPLENGTH */
	CHECK_EQ(rd(0) >> 16, 0x0110);			/* HCIVERSION */
	CHECK_EQ(rd(4) >> 24, XHCI_MAXPORTS);
	CHECK_EQ(rd(4) & 0xff, XHCI_MAXSLOTS);
	REQUIRE(bring_up());
	CHECK_EQ(rd(OP + 0x400) & 1, 1);		/* tablet on port 1 */
	CHECK_EQ(rd(OP + 0x410) & 1, 1);		/* keyboard on port 2 */
	CHECK_EQ(rd(OP + 0x420) & 1, 0);
	CHECK_EQ(event_of(34, NULL, NULL), 1);		/* port status change */
}

static void xhci_enumerates_and_reports(void)
{
	int t, k;
	uint64_t p;
	uint32_t ctl;

	REQUIRE(pi != NULL && bring_up());
	t = address(1);
	k = address(2);
	REQUIRE(t == 1 && k == 2);
	CHECK_EQ(ram[OUTCTX + 12], 1);			/* USB address */
	CHECK_EQ(ram[OUTCTX + 15] >> 3, 2);		/* addressed */
	CHECK_EQ(control(t, 0x0012000001000680ULL, 18), 1);	/* device descriptor */
	CHECK_EQ(le_get(ram + BUF + 8, 4), 0x0001fb5d);
	CHECK_EQ(control(t, 0x0040000001000680ULL, 64), 13);	/* short: 18 of 64 */
	CHECK_EQ(control(t, 0x01c0, 0), 6);			/* a vendor request: stall */
	CHECK_EQ(command(0, 14u << 10 | 1u << 16 | 1u << 24, NULL), 1);	/* Reset Endpoint */
	CHECK_EQ(command(d.ep0[1] | 1, 16u << 10 | 1u << 16 | 1u << 24, NULL), 1);
	REQUIRE(configure(t, 1) && configure(k, 2));
	CHECK_EQ(ram[OUTCTX + 32 * 3] & 7, 1);		/* EP 1 IN running */
	queue_report(t);
	queue_report(k);
	input_desktop_size(800, 600);
	input_pointer(1, 399, 599);
	CHECK_EQ(event_of(32, &p, &ctl), 13);		/* 6 bytes of 8: short packet */
	CHECK_EQ(ctl >> 24, (uint32_t)t);
	CHECK_EQ((ctl >> 16) & 0x1f, 3);
	CHECK_EQ(ram[BUF + 0x100], 1);
	CHECK_EQ(le_get(ram + BUF + 0x101, 2), 399 * 32767 / 799);
	CHECK_EQ(le_get(ram + BUF + 0x103, 2), 32767);
	input_key(true, 'a');
	CHECK_EQ(event_of(32, NULL, &ctl), 1);
	CHECK_EQ(ctl >> 24, (uint32_t)k);
	CHECK_EQ(ram[BUF + 0x200 + 2], 0x04);
	/* No TRB queued: the next reports wait for one. */
	input_key(false, 'a');
	CHECK_EQ(event_of(32, NULL, NULL), 0);
	queue_report(k);
	CHECK_EQ(event_of(32, NULL, NULL), 1);
	CHECK_EQ(ram[BUF + 0x200 + 2], 0);
}

static void xhci_hostile_driver_is_contained(void)
{
	int t;

	REQUIRE(pi != NULL && bring_up());
	/* Commands: unknown type, slots that do not exist, an input context where
	 * there is no RAM. */
	CHECK_EQ(command(0, 40u << 10, NULL), 5);
	CHECK_EQ(command(INCTX, 11u << 10 | 7u << 24, NULL), 11);
	t = address(1);
	REQUIRE(t == 1);
	CHECK_EQ(command(NORAM, 12u << 10 | 1u << 24, NULL), 17);
	/* A Setup TRB without immediate data: TRB Error, the endpoint halts. */
	put_trb(d.ep0[t], 0, 8, 2u << 10);
	put_trb(d.ep0[t] + 16, 0, 0, 4u << 10 | 1u << 5);
	d.ep0[t] += 32;
	wr(DB + 4 * t, 1);
	CHECK_EQ(event_of(32, NULL, NULL), 5);
	CHECK_EQ(ram[OUTCTX + 32] & 7, 2);		/* halted */
	CHECK_EQ(command(0, 14u << 10 | 1u << 16 | 1u << 24, NULL), 1);
	CHECK_EQ(command(d.ep0[t] | 1, 16u << 10 | 1u << 16 | 1u << 24, NULL), 1);
	/* A data buffer where there is no RAM. */
	put_trb(d.ep0[t], 0x0012000001000680ULL, 8, 2u << 10 | 1u << 6 | 3u << 16);
	put_trb(d.ep0[t] + 16, NORAM, 18, 3u << 10 | 1u << 16);
	put_trb(d.ep0[t] + 32, 0, 0, 4u << 10 | 1u << 5);
	d.ep0[t] += 48;
	wr(DB + 4 * t, 1);
	CHECK_EQ(event_of(32, NULL, NULL), 5);
	CHECK_EQ(command(0, 14u << 10 | 1u << 16 | 1u << 24, NULL), 1);
	/* A ring that is one link to itself: the doorbell returns. */
	put_trb(d.ep0[t], d.ep0[t], 0, 6u << 10);
	CHECK_EQ(command(d.ep0[t] | 1, 16u << 10 | 1u << 16 | 1u << 24, NULL), 1);
	wr(DB + 4 * t, 1);
	CHECK_EQ(event_of(32, NULL, NULL), 0);
	/* The same on the command ring. */
	put_trb(d.cmd_enq, d.cmd_enq, 0, 6u << 10);
	wr(DB, 0);
	CHECK_EQ(event_of(33, NULL, NULL), 0);
	/* A ring that runs out of RAM. */
	REQUIRE(bring_up());
	t = address(1);
	REQUIRE(t == 1);
	put_trb(d.ep0[t], NORAM, 0, 6u << 10);
	wr(DB + 4 * t, 1);
	CHECK_EQ(event_of(32, NULL, NULL), 5);
	/* The event ring full: events are dropped, nothing breaks, and once the
	 * driver catches up they flow again. */
	for (int i = 0; i < EVN + 8; i++) {
		put_trb(d.cmd_enq, 0, 0, 23u << 10);
		d.cmd_enq += 16;
	}
	wr(DB, 0);
	{
		uint64_t p;
		uint32_t s, c;
		int n = 0;

		while (event(&p, &s, &c))
			n++;
		CHECK_EQ(n, EVN - 1);
	}
	CHECK_EQ(command(0, 23u << 10, NULL), 1);
}

/* INTx follows IMAN.IP while IE and INTE are on; MSI-X sends vector 0 per
 * batch of events. */
static void xhci_interrupts(void)
{
	const struct fake_msi *m;

	REQUIRE(pi != NULL && bring_up());
	REQUIRE(!pci_msix_enabled(pi) && !pci_msi_enabled(pi));
	(void)event_of(34, NULL, NULL);
	wr(RT + 0x20, 3);				/* IMAN: clear IP, IE on */
	CHECK(!pi->pi_lintr.asserted);
	CHECK_EQ(command(0, 23u << 10, NULL), 1);	/* INTE off: no line */
	CHECK(!pi->pi_lintr.asserted);
	CHECK_EQ(rd(OP + 4) & 8, 8);			/* but EINT */
	wr(OP + 4, 8);
	CHECK_EQ(rd(OP + 4) & 8, 0);
	wr(RT + 0x20, 3);
	wr(OP, 1 | 4);					/* R/S, INTE */
	CHECK_EQ(command(0, 23u << 10, NULL), 1);
	CHECK(pi->pi_lintr.asserted);
	CHECK_EQ(rd(RT + 0x20) & 1, 1);			/* IP */
	wr(RT + 0x20, 3);				/* the driver clears IP */
	CHECK(!pi->pi_lintr.asserted);
	pi->pi_msix.enabled = true;
	pi->pi_msix.table[0].addr = 0xfee00000;
	pi->pi_msix.table[0].data = 0x45;
	pi->pi_msix.table[0].vector_control = 0;
	fake_reset_msi();
	CHECK_EQ(command(0, 23u << 10, NULL), 1);
	m = fake_last_msi();
	CHECK(m != NULL && m->msg == 0x45);
	CHECK(!pi->pi_lintr.asserted);
	pi->pi_msix.enabled = false;
	wr(RT + 0x20, 3);
}

static void xhci_keysyms_to_usages(void)
{
	CHECK_EQ(usb_hid_usage('a'), 0x04);
	CHECK_EQ(usb_hid_usage('A'), 0x04);
	CHECK_EQ(usb_hid_usage('1'), 0x1e);
	CHECK_EQ(usb_hid_usage(0xff0d), 0x28);		/* Return */
	CHECK_EQ(usb_hid_usage(0xff51), 0x50);		/* Left */
	CHECK_EQ(usb_hid_usage(0xffe1), 0xe1);		/* Shift_L */
	CHECK_EQ(usb_hid_usage(0xffbe), 0x3a);		/* F1 */
	CHECK_EQ(usb_hid_usage(0x20ac), 0);		/* no key */
}

static void xhci_bad_configs_are_refused(void)
{
	CHECK(unit_pci_create("xhci", 21, "xhci_test.1", "mouse") == NULL);
	CHECK(unit_pci_create("xhci", 21, "xhci_test.2", "tablet") == NULL);	/* a second */
}

static void xhci_cleanup(void)
{
	if (pi != NULL)
		unit_pci_remove(pi);
	pi = NULL;
	fake_vm_set_ram(fx_ctx, NULL, 0);
	free(ram);
	ram = NULL;
}

void suite_xhci(void)
{
	RUN_DEV(xhci_make);
	RUN_DEV(xhci_pci_identity_and_capabilities);
	RUN_DEV(xhci_enumerates_and_reports);
	RUN_DEV(xhci_hostile_driver_is_contained);
	RUN_DEV(xhci_interrupts);
	RUN(xhci_keysyms_to_usages);
	RUN_DEV(xhci_bad_configs_are_refused);
	RUN_DEV(xhci_cleanup);
}
