/* xhci: an eXtensible Host Controller (xHCI 1.1) with USB HID devices on its
 * root ports, written from the xHCI 1.1 specification and FreeBSD's
 * bhyve(8)/bhyve_config(5) description of the device:
 *
 *   -s 30,xhci,tablet[,kbd]        pci.0.30.0.device=xhci
 *                                  pci.0.30.0.slot.1.device=tablet
 *                                  pci.0.30.0.slot.2.device=kbd
 *
 * The Nth device of the -s list (slot.N) sits on root port N (USB 2.0, high
 * speed; XHCI_MAXPORTS ports). "tablet" is bhyve's absolute pointer, "kbd" (a
 * boot-protocol keyboard) is beyond bhyve. Both are in usb_hid.c.
 *
 * BAR 0 (64-bit memory) holds the capability, operational, runtime and
 * doorbell registers and the Supported Protocol capability; BAR 4 the MSI-X
 * table (one interrupter, one vector); MSI and INTx are the fallbacks. Commands:
 * Enable/Disable Slot, Address Device, Configure Endpoint, Evaluate Context,
 * Reset/Stop Endpoint, Set TR Dequeue Pointer, Reset Device, No Op. Transfers:
 * the default control endpoint (Setup/Data/Status stages, Event Data) and
 * interrupt IN endpoints (Normal TRBs), both done synchronously: a TD is
 * complete when its doorbell rings (control) or when a report is queued
 * (interrupt), so the command ring never has a command in flight.
 *
 * A misbehaving guest never reaches the VMM: every guest address goes through
 * vm_map_gpa (a context, TRB or buffer where there is no RAM fails the
 * command or transfer, or stops the ring); a doorbell walks at most
 * XHCI_TRB_BUDGET TRBs (Link TRBs included), so a ring of links that loop
 * ends; a TD has at most XHCI_TD_MAX TRBs; a full event ring drops the event.
 *
 * Input: the VNC server's pointer goes to the tablet and its keys to the
 * keyboard once the guest has configured them (SET_CONFIGURATION); until then
 * (the firmware, a boot loader) they go to the PS/2 mouse and keyboard. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "input.h"
#include "pci_emul.h"
#include "vmmapi.h"
#include "devices/usb_hid.h"
#include "devices/xhci.h"

#define XHCI_VID		0x8086	/* an Intel 7 Series (Panther Point) xHCI */
#define XHCI_DID		0x1e31
#define XHCI_MSIX_BAR		4
#define XHCI_BARSIZE		0x4000

/* BAR 0 layout. */
#define XHCI_CAPLEN		0x20
#define XHCI_OP			XHCI_CAPLEN
#define XHCI_PORTREGS		(XHCI_OP + 0x400)
#define XHCI_XECP		0x1000
#define XHCI_RT			0x2000
#define XHCI_DB			0x3000

/* Operational registers (from XHCI_OP). */
#define OP_USBCMD		0x00
#define OP_USBSTS		0x04
#define OP_PAGESIZE		0x08
#define OP_DNCTRL		0x14
#define OP_CRCR			0x18
#define OP_DCBAAP		0x30
#define OP_CONFIG		0x38
#define CMD_RS			(1u << 0)
#define CMD_HCRST		(1u << 1)
#define CMD_INTE		(1u << 2)
#define CMD_HSEE		(1u << 3)
#define CMD_WRITABLE		0x00002f0du	/* RS INTE HSEE LHCRST CSS CRS EWE EU3S ... */
#define STS_HCH			(1u << 0)
#define STS_HSE			(1u << 2)
#define STS_EINT		(1u << 3)
#define STS_PCD			(1u << 4)
#define STS_RW1C		(STS_HSE | STS_EINT | STS_PCD | (1u << 10))
#define CRCR_RCS		(1u << 0)
#define CRCR_CRR		(1u << 3)

/* PORTSC. */
#define PS_CCS			(1u << 0)
#define PS_PED			(1u << 1)
#define PS_PR			(1u << 4)
#define PS_PLS_SHIFT		5
#define PS_PLS_MASK		(0xfu << PS_PLS_SHIFT)
#define PS_PP			(1u << 9)
#define PS_SPEED_HS		(3u << 10)
#define PS_LWS			(1u << 16)
#define PS_CSC			(1u << 17)
#define PS_PEC			(1u << 18)
#define PS_PRC			(1u << 21)
#define PS_CHANGES		(0x7fu << 17)	/* CSC PEC WRC OCC PRC PLC CEC */
#define PS_WAKE			(7u << 25)	/* WCE WDE WOE */
#define PLS_U0			0
#define PLS_U3			3
#define PLS_POLLING		7

/* Runtime registers: interrupter 0 at XHCI_RT + 0x20. */
#define IR_IMAN			0x00
#define IR_IMOD			0x04
#define IR_ERSTSZ		0x08
#define IR_ERSTBA		0x10
#define IR_ERDP			0x18
#define IMAN_IP			(1u << 0)
#define IMAN_IE			(1u << 1)
#define ERDP_EHB		(1u << 3)

/* TRBs. */
#define TRB_CYCLE		(1u << 0)
#define TRB_TC			(1u << 1)	/* Link: toggle cycle */
#define TRB_ISP			(1u << 2)
#define TRB_CH			(1u << 4)
#define TRB_IOC			(1u << 5)
#define TRB_IDT			(1u << 6)
#define TRB_TYPE(c)		(((c) >> 10) & 0x3f)
enum {
	T_NORMAL = 1, T_SETUP = 2, T_DATA = 3, T_STATUS = 4, T_LINK = 6, T_EVDATA = 7,
	T_ENABLE_SLOT = 9, T_DISABLE_SLOT = 10, T_ADDRESS = 11, T_CONFIG_EP = 12,
	T_EVAL_CTX = 13, T_RESET_EP = 14, T_STOP_EP = 15, T_SET_DEQ = 16,
	T_RESET_DEV = 17, T_NOOP_CMD = 23,
	T_EV_TRANSFER = 32, T_EV_CMD = 33, T_EV_PORT = 34,
};
enum {
	CC_SUCCESS = 1, CC_TRANSACTION = 4, CC_TRB = 5, CC_STALL = 6,
	CC_NO_SLOTS = 9, CC_SLOT_NOT_ENABLED = 11, CC_EP_NOT_ENABLED = 12,
	CC_SHORT = 13, CC_PARAMETER = 17, CC_CONTEXT_STATE = 19,
};
/* Endpoint and slot context states. */
enum { EP_DISABLED = 0, EP_RUNNING = 1, EP_HALTED = 2, EP_STOPPED = 3 };
enum { SLOT_ENABLED = 0, SLOT_DEFAULT = 1, SLOT_ADDRESSED = 2, SLOT_CONFIGURED = 3 };
#define EPT_CONTROL		4
#define EPT_INTR_IN		7

struct xhci_trb {
	uint64_t param;
	uint32_t status, ctl;
	uint64_t addr;			/* where it was read */
};

struct xhci_ring {
	uint64_t deq;
	bool ccs;
};

struct xhci_ep {
	int state;
	int type;
	struct xhci_ring ring;
};

struct xhci_slot {
	bool enabled;
	int state;
	int port;			/* 1-based root port, 0: none yet */
	uint64_t ctx;			/* the output device context */
	struct xhci_ep ep[32];		/* by DCI */
};

struct xhci_port {
	struct usb_hid *dev;		/* NULL: nothing attached */
	uint32_t portsc;
};

struct xhci_softc {
	struct pci_devinst *pi;
	pthread_mutex_t mtx;
	uint32_t usbcmd, usbsts, dnctrl, config;
	struct xhci_ring cmd;
	uint64_t dcbaap;
	uint32_t iman, imod, erstsz;
	uint64_t erstba, erdp;
	/* The event ring as ERSTBA set it up. */
	bool er_ok;
	uint32_t er_nseg, er_seg, er_left;
	uint64_t er_base[XHCI_ERST_MAX], er_enq;
	uint32_t er_size[XHCI_ERST_MAX];
	bool er_pcs;
	bool intr_pending;		/* events posted since the last interrupt */
	bool intx;
	struct xhci_port port[XHCI_MAXPORTS + 1];
	struct xhci_slot slot[XHCI_MAXSLOTS + 1];
	struct usb_hid hid[XHCI_MAXPORTS + 1];
	uint32_t logged;
};

enum { LOG_ER_FULL = 1, LOG_ER_BAD = 2, LOG_RING = 4, LOG_BUDGET = 8 };

static void xhci_log(struct xhci_softc *sc, uint32_t kind, const char *what)
{
	if (sc->logged & kind)
		return;
	sc->logged |= kind;
	warnx("%s: %s", sc->pi->pi_name, what);
}

/* The one way to guest memory: NULL where [gpa, gpa + len) is not all RAM. */
static void *xhci_gpa(struct xhci_softc *sc, uint64_t gpa, size_t len)
{
	return vm_map_gpa(sc->pi->pi_vmctx, gpa, len);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static bool xhci_read_trb(struct xhci_softc *sc, uint64_t addr, struct xhci_trb *t)
{
	const uint8_t *p = xhci_gpa(sc, addr, 16);

	if (p == NULL)
		return false;
	memcpy(&t->param, p, 8);
	t->status = rd32(p + 8);
	t->ctl = rd32(p + 12);
	t->addr = addr;
	return true;
}

/* ---- interrupts and events ---- */

static void xhci_intx_update(struct xhci_softc *sc)
{
	struct pci_devinst *pi = sc->pi;
	bool level = !pci_msix_enabled(pi) && !pci_msi_enabled(pi) &&
	    (sc->usbcmd & CMD_INTE) && (sc->iman & (IMAN_IE | IMAN_IP)) == (IMAN_IE | IMAN_IP);

	if (level == sc->intx)
		return;
	sc->intx = level;
	if (level)
		pci_lintr_assert(pi);
	else
		pci_lintr_deassert(pi);
}

/* After a batch of events: EINT, IP and the interrupt. */
static void xhci_intr(struct xhci_softc *sc)
{
	if (!sc->intr_pending)
		return;
	sc->intr_pending = false;
	sc->usbsts |= STS_EINT;
	if (!(sc->iman & IMAN_IE))
		return;
	sc->iman |= IMAN_IP;
	if (sc->usbcmd & CMD_INTE) {
		if (pci_msix_enabled(sc->pi))
			pci_generate_msix(sc->pi, 0);
		else if (pci_msi_enabled(sc->pi))
			pci_generate_msi(sc->pi, 0);
	}
	xhci_intx_update(sc);
}

/* Posts one event TRB, the cycle bit last; false when the ring cannot take it. */
static bool xhci_event(struct xhci_softc *sc, uint64_t param, uint32_t status, uint32_t ctl)
{
	uint64_t next;
	uint8_t *p;

	if (!sc->er_ok)
		return false;
	if (sc->er_left > 1)
		next = sc->er_enq + 16;
	else
		next = sc->er_base[(sc->er_seg + 1) % sc->er_nseg];
	if (next == (sc->erdp & ~0xfULL)) {
		xhci_log(sc, LOG_ER_FULL, "the event ring is full: events dropped");
		return false;
	}
	p = xhci_gpa(sc, sc->er_enq, 16);
	if (p == NULL) {
		xhci_log(sc, LOG_ER_BAD, "the event ring is not in RAM: events dropped");
		sc->er_ok = false;
		return false;
	}
	memcpy(p, &param, 8);
	wr32(p + 8, status);
	atomic_thread_fence(memory_order_release);
	wr32(p + 12, (ctl & ~TRB_CYCLE) | (sc->er_pcs ? TRB_CYCLE : 0));
	if (--sc->er_left == 0) {
		if (++sc->er_seg == sc->er_nseg) {
			sc->er_seg = 0;
			sc->er_pcs = !sc->er_pcs;
		}
		sc->er_enq = sc->er_base[sc->er_seg];
		sc->er_left = sc->er_size[sc->er_seg];
	} else {
		sc->er_enq += 16;
	}
	sc->intr_pending = true;
	return true;
}

static void xhci_cmd_event(struct xhci_softc *sc, uint64_t trb, int cc, int slot)
{
	(void)xhci_event(sc, trb, (uint32_t)cc << 24,
	    (uint32_t)T_EV_CMD << 10 | (uint32_t)slot << 24);
}

static void xhci_xfer_event(struct xhci_softc *sc, uint64_t trb, int cc, uint32_t residual,
    int slot, int dci, bool ed)
{
	(void)xhci_event(sc, trb, (uint32_t)cc << 24 | (residual & 0xffffff),
	    (uint32_t)T_EV_TRANSFER << 10 | (ed ? 1u << 2 : 0) | (uint32_t)dci << 16 |
	    (uint32_t)slot << 24);
}

static void xhci_port_event(struct xhci_softc *sc, int port)
{
	sc->usbsts |= STS_PCD;
	if (sc->usbcmd & CMD_RS)
		(void)xhci_event(sc, (uint64_t)port << 24, (uint32_t)CC_SUCCESS << 24,
		    (uint32_t)T_EV_PORT << 10);
}

/* ERSTBA written: reads the segment table and starts at its first segment. */
static void xhci_er_start(struct xhci_softc *sc)
{
	const uint8_t *t;

	sc->er_ok = false;
	sc->er_nseg = sc->erstsz & 0xffff;
	if (sc->er_nseg == 0 || sc->er_nseg > XHCI_ERST_MAX) {
		xhci_log(sc, LOG_ER_BAD, "event ring segment table size out of range");
		return;
	}
	t = xhci_gpa(sc, sc->erstba & ~0x3fULL, (size_t)sc->er_nseg * 16);
	if (t == NULL) {
		xhci_log(sc, LOG_ER_BAD, "the event ring segment table is not in RAM");
		return;
	}
	for (uint32_t i = 0; i < sc->er_nseg; i++) {
		uint64_t base;
		uint32_t size = rd32(t + 16 * i + 8) & 0xffff;

		memcpy(&base, t + 16 * i, 8);
		base &= ~0x3fULL;
		if (size < 16 || size > 4096 || xhci_gpa(sc, base, (size_t)size * 16) == NULL) {
			xhci_log(sc, LOG_ER_BAD, "an event ring segment is out of range or not in RAM");
			return;
		}
		sc->er_base[i] = base;
		sc->er_size[i] = size;
	}
	sc->er_seg = 0;
	sc->er_enq = sc->er_base[0];
	sc->er_left = sc->er_size[0];
	sc->er_pcs = true;
	sc->er_ok = true;
}

/* ---- contexts ---- */

/* The output device context of a slot: 32 contexts of 32 bytes. */
static uint8_t *xhci_out_ctx(struct xhci_softc *sc, struct xhci_slot *s)
{
	return s->ctx == 0 ? NULL : xhci_gpa(sc, s->ctx, 32 * 32);
}

/* Writes the slot's state and address and the endpoints' states and dequeue
 * pointers into its output context. */
static void xhci_ctx_sync(struct xhci_softc *sc, int id)
{
	struct xhci_slot *s = &sc->slot[id];
	uint8_t *c = xhci_out_ctx(sc, s);
	uint32_t d3;

	if (c == NULL)
		return;
	d3 = (uint32_t)s->state << 27 | (s->state >= SLOT_ADDRESSED ? (uint32_t)id : 0);
	wr32(c + 12, d3);
	for (int dci = 1; dci < 32; dci++) {
		const struct xhci_ep *ep = &s->ep[dci];
		uint8_t *e = c + 32 * dci;
		uint64_t deq = ep->ring.deq | (ep->ring.ccs ? 1 : 0);

		wr32(e, (rd32(e) & ~7u) | (uint32_t)ep->state);
		if (ep->state != EP_DISABLED)
			memcpy(e + 8, &deq, 8);
	}
}

static struct xhci_slot *xhci_slot_get(struct xhci_softc *sc, uint32_t ctl, int *id, int *cc)
{
	*id = (int)(ctl >> 24);
	if (*id < 1 || *id > XHCI_MAXSLOTS || !sc->slot[*id].enabled) {
		*cc = CC_SLOT_NOT_ENABLED;
		return NULL;
	}
	return &sc->slot[*id];
}

/* Takes an endpoint context (input) into the slot's state. */
static int xhci_ep_take(struct xhci_slot *s, int dci, const uint8_t *e)
{
	struct xhci_ep *ep = &s->ep[dci];
	uint64_t deq;

	memcpy(&deq, e + 8, 8);
	ep->type = (int)((rd32(e + 4) >> 3) & 7);
	if (dci == 1 && ep->type != EPT_CONTROL)
		return CC_PARAMETER;
	if ((deq & ~0xfULL) == 0)
		return CC_PARAMETER;
	ep->ring.deq = deq & ~0xfULL;
	ep->ring.ccs = deq & 1;
	ep->state = EP_RUNNING;
	return CC_SUCCESS;
}

static int cmd_address(struct xhci_softc *sc, const struct xhci_trb *t, int *id)
{
	int cc;
	struct xhci_slot *s = xhci_slot_get(sc, t->ctl, id, &cc);
	const uint8_t *in;
	uint8_t *out;
	uint64_t ctx;
	const uint8_t *dcbaa;
	int port;
	bool bsr = t->ctl & (1u << 9);

	if (s == NULL)
		return cc;
	if (s->state > SLOT_DEFAULT || (s->state == SLOT_DEFAULT && bsr))
		return CC_CONTEXT_STATE;
	in = xhci_gpa(sc, t->param & ~0xfULL, 33 * 32);
	dcbaa = xhci_gpa(sc, (sc->dcbaap & ~0x3fULL) + 8ULL * (unsigned)*id, 8);
	if (in == NULL || dcbaa == NULL)
		return CC_PARAMETER;
	if ((rd32(in + 4) & 3) != 3)		/* A0 and A1 */
		return CC_PARAMETER;
	memcpy(&ctx, dcbaa, 8);
	s->ctx = ctx & ~0x3fULL;
	out = xhci_out_ctx(sc, s);
	if (out == NULL)
		return CC_PARAMETER;
	port = (int)((rd32(in + 32 + 4) >> 16) & 0xff);
	if (port < 1 || port > XHCI_MAXPORTS || sc->port[port].dev == NULL ||
	    !(sc->port[port].portsc & PS_PED))
		return CC_TRANSACTION;
	for (int i = 1; i <= XHCI_MAXSLOTS; i++)
		if (i != *id && sc->slot[i].enabled && sc->slot[i].port == port)
			return CC_TRANSACTION;
	memcpy(out, in + 32, 32);		/* the slot context */
	memcpy(out + 32, in + 64, 32);		/* endpoint 0 */
	cc = xhci_ep_take(s, 1, in + 64);
	if (cc != CC_SUCCESS)
		return cc;
	s->port = port;
	s->state = bsr ? SLOT_DEFAULT : SLOT_ADDRESSED;
	xhci_ctx_sync(sc, *id);
	return CC_SUCCESS;
}

static int cmd_configure(struct xhci_softc *sc, const struct xhci_trb *t, int *id)
{
	int cc;
	struct xhci_slot *s = xhci_slot_get(sc, t->ctl, id, &cc);
	const uint8_t *in;
	uint8_t *out;
	uint32_t drop, add;
	bool any = false;

	if (s == NULL)
		return cc;
	if (s->state < SLOT_ADDRESSED)
		return CC_CONTEXT_STATE;
	if (t->ctl & (1u << 9)) {		/* deconfigure */
		for (int dci = 2; dci < 32; dci++)
			s->ep[dci].state = EP_DISABLED;
		s->state = SLOT_ADDRESSED;
		xhci_ctx_sync(sc, *id);
		return CC_SUCCESS;
	}
	in = xhci_gpa(sc, t->param & ~0xfULL, 33 * 32);
	out = xhci_out_ctx(sc, s);
	if (in == NULL || out == NULL)
		return CC_PARAMETER;
	drop = rd32(in);
	add = rd32(in + 4);
	if ((drop & 3) || (add & 2))
		return CC_PARAMETER;
	for (int dci = 2; dci < 32; dci++) {
		if (drop & (1u << dci))
			s->ep[dci].state = EP_DISABLED;
		if (add & (1u << dci)) {
			memcpy(out + 32 * dci, in + 32 + 32 * dci, 32);
			if (xhci_ep_take(s, dci, in + 32 + 32 * dci) != CC_SUCCESS)
				return CC_PARAMETER;
		}
	}
	if (add & 1) {				/* the slot context: all but state and address */
		memcpy(out, in + 32, 12);
	}
	for (int dci = 2; dci < 32; dci++)
		any |= s->ep[dci].state != EP_DISABLED;
	s->state = any ? SLOT_CONFIGURED : SLOT_ADDRESSED;
	xhci_ctx_sync(sc, *id);
	return CC_SUCCESS;
}

static int cmd_evaluate(struct xhci_softc *sc, const struct xhci_trb *t, int *id)
{
	int cc;
	struct xhci_slot *s = xhci_slot_get(sc, t->ctl, id, &cc);
	const uint8_t *in;
	uint8_t *out;
	uint32_t add;

	if (s == NULL)
		return cc;
	if (s->state < SLOT_DEFAULT)
		return CC_CONTEXT_STATE;
	in = xhci_gpa(sc, t->param & ~0xfULL, 33 * 32);
	out = xhci_out_ctx(sc, s);
	if (in == NULL || out == NULL)
		return CC_PARAMETER;
	add = rd32(in + 4);
	if (add & 1) {		/* max exit latency, interrupter target */
		wr32(out + 4, (rd32(out + 4) & ~0xffffu) | (rd32(in + 32 + 4) & 0xffff));
		wr32(out + 8, (rd32(out + 8) & 0x003fffffu) | (rd32(in + 32 + 8) & 0xffc00000u));
	}
	if (add & 2)		/* endpoint 0's max packet size */
		wr32(out + 32 + 4, (rd32(out + 32 + 4) & 0xffffu) | (rd32(in + 64 + 4) & 0xffff0000u));
	return CC_SUCCESS;
}

static struct xhci_ep *xhci_ep_get(struct xhci_softc *sc, const struct xhci_trb *t, int *id,
    int *cc)
{
	struct xhci_slot *s = xhci_slot_get(sc, t->ctl, id, cc);
	int dci = (int)((t->ctl >> 16) & 0x1f);

	if (s == NULL)
		return NULL;
	if (dci == 0 || s->ep[dci].state == EP_DISABLED) {
		*cc = CC_EP_NOT_ENABLED;
		return NULL;
	}
	return &s->ep[dci];
}

static int xhci_command(struct xhci_softc *sc, const struct xhci_trb *t, int *id)
{
	struct xhci_ep *ep;
	int cc = CC_SUCCESS;

	*id = 0;
	switch (TRB_TYPE(t->ctl)) {
	case T_NOOP_CMD:
		return CC_SUCCESS;
	case T_ENABLE_SLOT:
		for (int i = 1; i <= XHCI_MAXSLOTS; i++) {
			if (!sc->slot[i].enabled) {
				memset(&sc->slot[i], 0, sizeof(sc->slot[i]));
				sc->slot[i].enabled = true;
				sc->slot[i].state = SLOT_ENABLED;
				*id = i;
				return CC_SUCCESS;
			}
		}
		return CC_NO_SLOTS;
	case T_DISABLE_SLOT:
		if (xhci_slot_get(sc, t->ctl, id, &cc) == NULL)
			return cc;
		sc->slot[*id].state = SLOT_ENABLED;
		for (int dci = 1; dci < 32; dci++)
			sc->slot[*id].ep[dci].state = EP_DISABLED;
		xhci_ctx_sync(sc, *id);
		memset(&sc->slot[*id], 0, sizeof(sc->slot[*id]));
		return CC_SUCCESS;
	case T_ADDRESS:
		return cmd_address(sc, t, id);
	case T_CONFIG_EP:
		return cmd_configure(sc, t, id);
	case T_EVAL_CTX:
		return cmd_evaluate(sc, t, id);
	case T_RESET_EP:
		if ((ep = xhci_ep_get(sc, t, id, &cc)) == NULL)
			return cc;
		if (ep->state != EP_HALTED)
			return CC_CONTEXT_STATE;
		ep->state = EP_STOPPED;
		break;
	case T_STOP_EP:
		if ((ep = xhci_ep_get(sc, t, id, &cc)) == NULL)
			return cc;
		if (ep->state != EP_RUNNING)
			return CC_CONTEXT_STATE;
		ep->state = EP_STOPPED;
		break;
	case T_SET_DEQ:
		if ((ep = xhci_ep_get(sc, t, id, &cc)) == NULL)
			return cc;
		if (ep->state != EP_STOPPED)
			return CC_CONTEXT_STATE;
		if ((t->param & ~0xfULL) == 0)
			return CC_PARAMETER;
		ep->ring.deq = t->param & ~0xfULL;
		ep->ring.ccs = t->param & 1;
		break;
	case T_RESET_DEV:
		if (xhci_slot_get(sc, t->ctl, id, &cc) == NULL)
			return cc;
		if (sc->slot[*id].state < SLOT_DEFAULT)
			return CC_CONTEXT_STATE;
		for (int dci = 2; dci < 32; dci++)
			sc->slot[*id].ep[dci].state = EP_DISABLED;
		sc->slot[*id].state = SLOT_DEFAULT;
		break;
	default:
		return CC_TRB;
	}
	xhci_ctx_sync(sc, *id);
	return CC_SUCCESS;
}

/* Doorbell 0: runs the command ring until it is empty (XHCI_TRB_BUDGET TRBs
 * at most). */
static void xhci_cmd_ring(struct xhci_softc *sc)
{
	struct xhci_trb t;

	if (!(sc->usbcmd & CMD_RS))
		return;
	for (int n = 0; n < XHCI_TRB_BUDGET; n++) {
		int cc, id;

		if (!xhci_read_trb(sc, sc->cmd.deq, &t)) {
			xhci_log(sc, LOG_RING, "the command ring is not in RAM");
			return;
		}
		if (((t.ctl & TRB_CYCLE) != 0) != sc->cmd.ccs)
			return;
		if (TRB_TYPE(t.ctl) == T_LINK) {
			if (t.ctl & TRB_TC)
				sc->cmd.ccs = !sc->cmd.ccs;
			sc->cmd.deq = t.param & ~0xfULL;
			continue;
		}
		cc = xhci_command(sc, &t, &id);
		xhci_cmd_event(sc, t.addr, cc, id);
		sc->cmd.deq += 16;
	}
	xhci_log(sc, LOG_BUDGET, "a ring had more TRBs than a doorbell walks");
}

/* ---- transfers ---- */

struct xhci_td {
	int n;
	struct xhci_trb trb[XHCI_TD_MAX];
	struct xhci_ring next;		/* the ring past the TD */
};

/* Reads the TD at the ring's dequeue pointer: a control TD ends with its
 * Status stage (or is a lone TRB that is no Setup), others with a TRB whose
 * chain bit is clear. 1: complete; 0: not (yet) on the ring, or the budget is
 * spent; -1: the ring is not in RAM or the TD is too long. */
static int xhci_td_read(struct xhci_softc *sc, const struct xhci_ring *r, bool control,
    struct xhci_td *td, int *budget)
{
	struct xhci_ring pos = *r;
	struct xhci_trb t;

	td->n = 0;
	for (;;) {
		uint32_t type;

		if ((*budget)-- <= 0) {
			xhci_log(sc, LOG_BUDGET, "a ring had more TRBs than a doorbell walks");
			return 0;
		}
		if (!xhci_read_trb(sc, pos.deq, &t))
			return -1;
		if (((t.ctl & TRB_CYCLE) != 0) != pos.ccs)
			return 0;
		type = TRB_TYPE(t.ctl);
		if (type == T_LINK) {
			if (t.ctl & TRB_TC)
				pos.ccs = !pos.ccs;
			pos.deq = t.param & ~0xfULL;
			continue;
		}
		if (td->n == XHCI_TD_MAX)
			return -1;
		td->trb[td->n++] = t;
		pos.deq += 16;
		if (control ? (type == T_STATUS || (td->n == 1 && type != T_SETUP)) :
		    !(t.ctl & TRB_CH))
			break;
	}
	td->next = pos;
	return 1;
}

static bool trb_has_data(const struct xhci_trb *t)
{
	uint32_t type = TRB_TYPE(t->ctl);

	return type == T_DATA || type == T_NORMAL;
}

/* Copies len bytes into the TD's data buffers from TRB first on; actual[i]
 * gets what each took. -1 when a buffer is not in RAM (or immediate for IN):
 * the index of that TRB is in *bad. */
static int xhci_scatter(struct xhci_softc *sc, const struct xhci_td *td, const uint8_t *data,
    size_t len, uint32_t *actual, int *bad)
{
	for (int i = 0; i < td->n; i++) {
		const struct xhci_trb *t = &td->trb[i];
		uint32_t tl = t->status & 0x1ffff, take;
		uint8_t *p;

		if (!trb_has_data(t))
			continue;
		take = len < tl ? (uint32_t)len : tl;
		if (take > 0) {
			if ((t->ctl & TRB_IDT) || (p = xhci_gpa(sc, t->param, take)) == NULL) {
				*bad = i;
				return -1;
			}
			memcpy(p, data, take);
		}
		actual[i] = take;
		data += take;
		len -= take;
	}
	return 0;
}

/* Copies the TD's OUT data (immediate or in buffers), at most cap bytes. */
static int xhci_gather(struct xhci_softc *sc, const struct xhci_td *td, uint8_t *data,
    size_t cap, size_t *len, uint32_t *actual, int *bad)
{
	*len = 0;
	for (int i = 0; i < td->n; i++) {
		const struct xhci_trb *t = &td->trb[i];
		uint32_t tl = t->status & 0x1ffff, take;
		const uint8_t *p;

		if (!trb_has_data(t))
			continue;
		take = cap - *len < tl ? (uint32_t)(cap - *len) : tl;
		if (t->ctl & TRB_IDT) {
			if (take > 8)
				take = 8;
			p = (const uint8_t *)&t->param;
		} else if (take > 0 && (p = xhci_gpa(sc, t->param, take)) == NULL) {
			*bad = i;
			return -1;
		}
		if (take > 0)
			memcpy(data + *len, p, take);
		*len += take;
		actual[i] = tl;		/* the device took all it was sent */
	}
	return 0;
}

/* The TD's events: a Short Packet on the data TRB where the data ended (ISP
 * or IOC), Success on other TRBs with IOC, Event Data TRBs with the length
 * since the last one. */
static void xhci_td_events(struct xhci_softc *sc, int id, int dci, const struct xhci_td *td,
    const uint32_t *actual)
{
	uint32_t edtla = 0;
	bool shorted = false;

	for (int i = 0; i < td->n; i++) {
		const struct xhci_trb *t = &td->trb[i];
		uint32_t type = TRB_TYPE(t->ctl), tl = t->status & 0x1ffff;

		if (trb_has_data(t)) {
			edtla += actual[i];
			if (actual[i] < tl && !shorted) {
				shorted = true;
				if (t->ctl & (TRB_ISP | TRB_IOC))
					xhci_xfer_event(sc, t->addr, CC_SHORT, tl - actual[i], id, dci,
					    false);
			} else if (t->ctl & TRB_IOC) {
				xhci_xfer_event(sc, t->addr, CC_SUCCESS, 0, id, dci, false);
			}
		} else if (type == T_EVDATA) {
			if (t->ctl & TRB_IOC)
				xhci_xfer_event(sc, t->param, shorted ? CC_SHORT : CC_SUCCESS, edtla,
				    id, dci, true);
			edtla = 0;
		} else if (t->ctl & TRB_IOC) {
			xhci_xfer_event(sc, t->addr, CC_SUCCESS, 0, id, dci, false);
		}
	}
}

/* A TD that cannot be done: a TRB Error (or Stall) on trb, the endpoint halts. */
static void xhci_ep_fail(struct xhci_softc *sc, int id, int dci, uint64_t trb, int cc)
{
	sc->slot[id].ep[dci].state = EP_HALTED;
	xhci_xfer_event(sc, trb, cc, 0, id, dci, false);
	xhci_ctx_sync(sc, id);
}

static struct usb_hid *xhci_slot_dev(struct xhci_softc *sc, int id)
{
	int port = sc->slot[id].port;

	return port >= 1 && port <= XHCI_MAXPORTS ? sc->port[port].dev : NULL;
}

/* One control TD on endpoint 0. */
static void xhci_control_td(struct xhci_softc *sc, int id, const struct xhci_td *td)
{
	const struct xhci_trb *setup = &td->trb[0];
	struct usb_hid *dev = xhci_slot_dev(sc, id);
	static uint8_t buf[XHCI_CTRL_MAX];	/* under sc->mtx, one controller */
	uint32_t actual[XHCI_TD_MAX] = { 0 };
	uint8_t sp[8];
	size_t total = 0, len = 0;
	int bad = -1, where = td->n - 1;

	if (TRB_TYPE(setup->ctl) != T_SETUP || !(setup->ctl & TRB_IDT) ||
	    (setup->status & 0x1ffff) != 8 || dev == NULL) {
		xhci_ep_fail(sc, id, 1, setup->addr, CC_TRB);
		return;
	}
	memcpy(sp, &setup->param, 8);
	for (int i = 1; i < td->n; i++) {
		if (trb_has_data(&td->trb[i])) {
			total += td->trb[i].status & 0x1ffff;
			if (where == td->n - 1)
				where = i;	/* a stall shows on the data stage */
		}
	}
	if (total > sizeof(buf))
		total = sizeof(buf);
	if (!(sp[0] & 0x80) &&
	    xhci_gather(sc, td, buf, total, &len, actual, &bad) != 0) {
		xhci_ep_fail(sc, id, 1, td->trb[bad].addr, CC_TRB);
		return;
	}
	if (usb_hid_control(dev, sp, buf, total, &len) != 0) {
		xhci_ep_fail(sc, id, 1, td->trb[where].addr, CC_STALL);
		return;
	}
	if ((sp[0] & 0x80) && xhci_scatter(sc, td, buf, len, actual, &bad) != 0) {
		xhci_ep_fail(sc, id, 1, td->trb[bad].addr, CC_TRB);
		return;
	}
	xhci_td_events(sc, id, 1, td, actual);
}

/* Endpoint 0's ring: every TD on it. */
static void xhci_control_run(struct xhci_softc *sc, int id)
{
	struct xhci_ep *ep = &sc->slot[id].ep[1];
	static struct xhci_td td;		/* under sc->mtx */
	int budget = XHCI_TRB_BUDGET;

	while (ep->state == EP_RUNNING) {
		int rc = xhci_td_read(sc, &ep->ring, true, &td, &budget);

		if (rc == 0)
			return;
		if (rc < 0) {
			xhci_log(sc, LOG_RING, "a transfer ring is not in RAM or has a TD too long");
			xhci_ep_fail(sc, id, 1, ep->ring.deq, CC_TRB);
			return;
		}
		ep->ring = td.next;
		xhci_control_td(sc, id, &td);
	}
}

/* An interrupt IN endpoint: a queued report into each TD there is. */
static void xhci_intr_run(struct xhci_softc *sc, int id, int dci)
{
	struct xhci_ep *ep = &sc->slot[id].ep[dci];
	struct usb_hid *dev = xhci_slot_dev(sc, id);
	static struct xhci_td td;		/* under sc->mtx */
	int budget = XHCI_TRB_BUDGET;

	while (dev != NULL && ep->state == EP_RUNNING && dev->qlen > 0) {
		uint32_t actual[XHCI_TD_MAX] = { 0 };
		uint8_t rep[USB_HID_REPMAX];
		size_t len;
		int bad = 0, rc = xhci_td_read(sc, &ep->ring, false, &td, &budget);

		if (rc == 0)
			return;
		if (rc < 0) {
			xhci_log(sc, LOG_RING, "a transfer ring is not in RAM or has a TD too long");
			xhci_ep_fail(sc, id, dci, ep->ring.deq, CC_TRB);
			return;
		}
		ep->ring = td.next;
		for (int i = 0; i < td.n; i++) {
			uint32_t type = TRB_TYPE(td.trb[i].ctl);

			if (type != T_NORMAL && type != T_EVDATA) {
				bad = -1;
				xhci_ep_fail(sc, id, dci, td.trb[i].addr, CC_TRB);
				break;
			}
		}
		if (bad < 0)
			return;
		(void)usb_hid_next_report(dev, rep, &len);
		if (xhci_scatter(sc, &td, rep, len, actual, &bad) != 0) {
			xhci_ep_fail(sc, id, dci, td.trb[bad].addr, CC_TRB);
			return;
		}
		xhci_td_events(sc, id, dci, &td, actual);
	}
}

static void xhci_doorbell(struct xhci_softc *sc, int id, uint32_t val)
{
	int dci = (int)(val & 0xff);
	struct xhci_slot *s;
	struct xhci_ep *ep;

	if (id == 0) {
		if (dci == 0)
			xhci_cmd_ring(sc);
		return;
	}
	if (id > XHCI_MAXSLOTS || dci < 1 || dci > 31 || !(sc->usbcmd & CMD_RS))
		return;
	s = &sc->slot[id];
	ep = &s->ep[dci];
	if (!s->enabled)
		return;
	if (ep->state == EP_STOPPED)
		ep->state = EP_RUNNING;
	if (ep->state != EP_RUNNING)
		return;
	if (dci == 1)
		xhci_control_run(sc, id);
	else if (ep->type == EPT_INTR_IN)
		xhci_intr_run(sc, id, dci);
}

/* ---- ports ---- */

static void xhci_port_reset(struct xhci_softc *sc, int i, bool warm)
{
	struct xhci_port *p = &sc->port[i];

	(void)warm;
	if (!(p->portsc & PS_CCS))
		return;
	usb_hid_init(p->dev, p->dev->kind);	/* the device's state is gone */
	p->portsc = (p->portsc & ~(PS_PR | PS_PLS_MASK)) | PS_PED | PS_PRC |
	    (uint32_t)PLS_U0 << PS_PLS_SHIFT;
	xhci_port_event(sc, i);
}

static void xhci_portsc_write(struct xhci_softc *sc, int i, uint32_t val)
{
	struct xhci_port *p = &sc->port[i];

	p->portsc &= ~(val & PS_CHANGES);
	if (val & PS_PED)				/* write 1: disable */
		p->portsc &= ~PS_PED;
	p->portsc = (p->portsc & ~PS_WAKE) | (val & PS_WAKE);
	if ((val & PS_LWS) && (p->portsc & PS_PED)) {
		uint32_t pls = (val & PS_PLS_MASK) >> PS_PLS_SHIFT;

		if (pls == PLS_U0 || pls == PLS_U3)
			p->portsc = (p->portsc & ~PS_PLS_MASK) | pls << PS_PLS_SHIFT;
	}
	if (val & PS_PR)
		xhci_port_reset(sc, i, false);
}

/* ---- registers ---- */

static void xhci_reset(struct xhci_softc *sc)
{
	sc->usbcmd = 0;
	sc->usbsts = STS_HCH;
	sc->dnctrl = sc->config = 0;
	memset(&sc->cmd, 0, sizeof(sc->cmd));
	sc->dcbaap = 0;
	sc->iman = sc->imod = sc->erstsz = 0;
	sc->imod = 4000;				/* 1 ms, the default */
	sc->erstba = sc->erdp = 0;
	sc->er_ok = false;
	sc->intr_pending = false;
	memset(sc->slot, 0, sizeof(sc->slot));
	for (int i = 1; i <= XHCI_MAXPORTS; i++) {
		struct xhci_port *p = &sc->port[i];

		p->portsc = PS_PP | (uint32_t)PLS_POLLING << PS_PLS_SHIFT;
		if (p->dev != NULL) {
			usb_hid_init(p->dev, p->dev->kind);
			p->portsc |= PS_CCS | PS_CSC | PS_SPEED_HS;
		}
	}
	xhci_intx_update(sc);
}

static uint32_t xhci_cap_read(uint64_t off)
{
	switch (off) {
	case 0x00:	/* CAPLENGTH, HCIVERSION 1.10 */
		return XHCI_CAPLEN | 0x0110u << 16;
	case 0x04:	/* HCSPARAMS1: slots, interrupters, ports */
		return XHCI_MAXSLOTS | 1u << 8 | (uint32_t)XHCI_MAXPORTS << 24;
	case 0x08:	/* HCSPARAMS2: IST 0, ERST Max 3, no scratchpads */
		return 3u << 4;
	case 0x0c:	/* HCSPARAMS3: no U1/U2 exit latencies */
		return 0;
	case 0x10:	/* HCCPARAMS1: 64-bit addresses, 32-byte contexts, xECP */
		return 1u | (uint32_t)(XHCI_XECP >> 2) << 16;
	case 0x14:
		return XHCI_DB;
	case 0x18:
		return XHCI_RT;
	default:
		return 0;
	}
}

/* The Supported Protocol capability: USB 2.0 on ports 1..XHCI_MAXPORTS. */
static uint32_t xhci_xecp_read(uint64_t off)
{
	switch (off) {
	case 0x0:
		return 2 | 0x0200u << 16;		/* ID 2, last, revision 2.0 */
	case 0x4:
		return 0x20425355;			/* "USB " */
	case 0x8:
		return 1 | (uint32_t)XHCI_MAXPORTS << 8;	/* offset 1, count */
	default:
		return 0;
	}
}

static uint32_t xhci_reg_read(struct xhci_softc *sc, uint64_t off)
{
	if (off < XHCI_CAPLEN)
		return xhci_cap_read(off);
	if (off >= XHCI_PORTREGS && off < XHCI_PORTREGS + 0x10 * XHCI_MAXPORTS) {
		int i = (int)((off - XHCI_PORTREGS) / 0x10) + 1;

		return (off & 0xf) == 0 ? sc->port[i].portsc : 0;
	}
	if (off < XHCI_OP + 0x400) {
		switch (off - XHCI_OP) {
		case OP_USBCMD: return sc->usbcmd;
		case OP_USBSTS: return sc->usbsts;
		case OP_PAGESIZE: return 1;		/* 4 KiB */
		case OP_DNCTRL: return sc->dnctrl;
		case OP_CRCR: return 0;			/* CRR: never a command in flight */
		case OP_DCBAAP: return (uint32_t)sc->dcbaap;
		case OP_DCBAAP + 4: return (uint32_t)(sc->dcbaap >> 32);
		case OP_CONFIG: return sc->config;
		default: return 0;
		}
	}
	if (off >= XHCI_XECP && off < XHCI_XECP + 0x10)
		return xhci_xecp_read(off - XHCI_XECP);
	if (off == XHCI_RT) {				/* MFINDEX: 125 us microframes */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		return (uint32_t)(((uint64_t)ts.tv_sec * 8000 + (uint64_t)ts.tv_nsec / 125000) &
		    0x3fff);
	}
	if (off >= XHCI_RT + 0x20 && off < XHCI_RT + 0x40) {
		switch (off - XHCI_RT - 0x20) {
		case IR_IMAN: return sc->iman;
		case IR_IMOD: return sc->imod;
		case IR_ERSTSZ: return sc->erstsz;
		case IR_ERSTBA: return (uint32_t)sc->erstba;
		case IR_ERSTBA + 4: return (uint32_t)(sc->erstba >> 32);
		case IR_ERDP: return (uint32_t)sc->erdp;
		case IR_ERDP + 4: return (uint32_t)(sc->erdp >> 32);
		default: return 0;
		}
	}
	return 0;					/* doorbells read 0 */
}

static void xhci_usbcmd_write(struct xhci_softc *sc, uint32_t val)
{
	bool was_running = sc->usbcmd & CMD_RS;

	if (val & CMD_HCRST) {
		xhci_reset(sc);
		return;
	}
	sc->usbcmd = val & CMD_WRITABLE;
	if ((val & CMD_RS) && !was_running) {
		sc->usbsts &= ~STS_HCH;
		for (int i = 1; i <= XHCI_MAXPORTS; i++)
			if (sc->port[i].portsc & PS_CSC)
				xhci_port_event(sc, i);
	} else if (!(val & CMD_RS) && was_running) {
		sc->usbsts |= STS_HCH;
	}
	xhci_intx_update(sc);
}

static void xhci_reg_write(struct xhci_softc *sc, uint64_t off, uint32_t val)
{
	if (off >= XHCI_PORTREGS && off < XHCI_PORTREGS + 0x10 * XHCI_MAXPORTS) {
		if ((off & 0xf) == 0)
			xhci_portsc_write(sc, (int)((off - XHCI_PORTREGS) / 0x10) + 1, val);
		return;
	}
	if (off >= XHCI_OP && off < XHCI_OP + 0x400) {
		switch (off - XHCI_OP) {
		case OP_USBCMD: xhci_usbcmd_write(sc, val); break;
		case OP_USBSTS: sc->usbsts &= ~(val & STS_RW1C); break;
		case OP_DNCTRL: sc->dnctrl = val & 0xffff; break;
		case OP_CRCR:		/* the ring never runs between doorbells */
			sc->cmd.deq = (sc->cmd.deq & ~0xffffffffULL) | (val & ~0x3fu);
			sc->cmd.ccs = val & CRCR_RCS;
			break;
		case OP_CRCR + 4:
			sc->cmd.deq = (sc->cmd.deq & 0xffffffffULL) | (uint64_t)val << 32;
			break;
		case OP_DCBAAP:
			sc->dcbaap = (sc->dcbaap & ~0xffffffffULL) | (val & ~0x3fu);
			break;
		case OP_DCBAAP + 4:
			sc->dcbaap = (sc->dcbaap & 0xffffffffULL) | (uint64_t)val << 32;
			break;
		case OP_CONFIG: sc->config = val & 0xff; break;
		default: break;
		}
		return;
	}
	if (off >= XHCI_RT + 0x20 && off < XHCI_RT + 0x40) {
		switch (off - XHCI_RT - 0x20) {
		case IR_IMAN:
			sc->iman = (sc->iman & ~(val & IMAN_IP) & ~IMAN_IE) | (val & IMAN_IE);
			xhci_intx_update(sc);
			break;
		case IR_IMOD: sc->imod = val; break;
		case IR_ERSTSZ: sc->erstsz = val & 0xffff; break;
		case IR_ERSTBA:
			sc->erstba = (sc->erstba & ~0xffffffffULL) | (val & ~0x3fu);
			xhci_er_start(sc);
			break;
		case IR_ERSTBA + 4:
			sc->erstba = (sc->erstba & 0xffffffffULL) | (uint64_t)val << 32;
			xhci_er_start(sc);
			break;
		case IR_ERDP:
			sc->erdp = (sc->erdp & ~0xffffffffULL) | (val & ~0xfu);
			break;
		case IR_ERDP + 4:
			sc->erdp = (sc->erdp & 0xffffffffULL) | (uint64_t)val << 32;
			break;
		default: break;
		}
		return;
	}
	if (off >= XHCI_DB && off < XHCI_DB + 4 * (XHCI_MAXSLOTS + 1))
		xhci_doorbell(sc, (int)((off - XHCI_DB) / 4), val);
}

static uint64_t pci_xhci_read(struct pci_devinst *pi, int baridx, uint64_t off, int size)
{
	struct xhci_softc *sc = pi->pi_arg;
	uint64_t v;

	if (baridx != 0)
		return ~0ULL;
	pthread_mutex_lock(&sc->mtx);
	v = xhci_reg_read(sc, off & ~3ULL);
	if (size == 8)
		v |= (uint64_t)xhci_reg_read(sc, (off & ~3ULL) + 4) << 32;
	pthread_mutex_unlock(&sc->mtx);
	if (size < 4)
		v = (v >> (8 * (off & 3))) & ((1ULL << (8 * size)) - 1);
	return v;
}

static void pci_xhci_write(struct pci_devinst *pi, int baridx, uint64_t off, int size,
    uint64_t val)
{
	struct xhci_softc *sc = pi->pi_arg;

	if (baridx != 0 || (size != 4 && size != 8) || (off & 3))
		return;			/* registers are 32 or 64 bits wide */
	pthread_mutex_lock(&sc->mtx);
	xhci_reg_write(sc, off, (uint32_t)val);
	if (size == 8)
		xhci_reg_write(sc, off + 4, (uint32_t)(val >> 32));
	xhci_intr(sc);
	pthread_mutex_unlock(&sc->mtx);
}

/* ---- input ---- */

/* Runs the interrupt IN endpoints of the slots on port i. */
static void xhci_port_reports(struct xhci_softc *sc, int i)
{
	for (int id = 1; id <= XHCI_MAXSLOTS; id++) {
		struct xhci_slot *s = &sc->slot[id];

		if (!s->enabled || s->port != i || !(sc->usbcmd & CMD_RS))
			continue;
		for (int dci = 3; dci < 32; dci += 2)
			if (s->ep[dci].type == EPT_INTR_IN && s->ep[dci].state == EP_RUNNING)
				xhci_intr_run(sc, id, dci);
	}
}

/* The first device of kind on a port whose guest driver configured it. */
static int xhci_active(struct xhci_softc *sc, enum usb_hid_kind kind)
{
	for (int i = 1; i <= XHCI_MAXPORTS; i++) {
		struct usb_hid *d = sc->port[i].dev;

		if (d != NULL && d->kind == kind && d->config != 0 && (sc->port[i].portsc & PS_PED))
			return i;
	}
	return 0;
}

static bool xhci_pointer_event(void *arg, int buttons, int x, int y)
{
	struct xhci_softc *sc = arg;
	int i, w, h;

	pthread_mutex_lock(&sc->mtx);
	i = xhci_active(sc, USB_HID_TABLET);
	if (i != 0) {
		input_desktop(&w, &h);
		if (usb_hid_pointer(sc->port[i].dev, buttons, x, y, w, h))
			xhci_port_reports(sc, i);
		xhci_intr(sc);
	}
	pthread_mutex_unlock(&sc->mtx);
	return i != 0;
}

static bool xhci_key_event(void *arg, bool down, uint32_t keysym)
{
	struct xhci_softc *sc = arg;
	int i;

	pthread_mutex_lock(&sc->mtx);
	i = xhci_active(sc, USB_HID_KBD);
	if (i != 0) {
		if (usb_hid_key(sc->port[i].dev, down, keysym))
			xhci_port_reports(sc, i);
		xhci_intr(sc);
	}
	pthread_mutex_unlock(&sc->mtx);
	return i != 0;
}

/* ---- settings and set-up ---- */

static const char *const xhci_devs[] = { "tablet", "kbd" };

static int xhci_dev_kind(const char *name)
{
	for (size_t i = 0; i < nitems(xhci_devs); i++)
		if (strcmp(name, xhci_devs[i]) == 0)
			return (int)i;
	return -1;
}

/* -s N,xhci,DEV[,DEV...]: the Kth device on port K (slot.K.device=DEV). */
static int pci_xhci_legacy_config(const char *node, const char *opts)
{
	char *copy, *p, *tok, key[64];
	int n = 0, rc = 0;

	if (opts == NULL)
		return 0;
	copy = xstrdup(opts);
	for (p = copy; rc == 0 && (tok = strsep(&p, ",")) != NULL;) {
		if (*tok == '\0')
			continue;
		if (xhci_dev_kind(tok) < 0) {
			warnx("xhci: unknown USB device \"%s\" (tablet or kbd)", tok);
			rc = -1;
		} else if (++n > XHCI_MAXPORTS) {
			warnx("xhci: more than %d USB devices", XHCI_MAXPORTS);
			rc = -1;
		} else {
			snprintf(key, sizeof(key), "slot.%d.device", n);
			set_config_value_node(node, key, tok);
		}
	}
	free(copy);
	return rc;
}

struct xhci_cfg_walk {
	struct xhci_softc *sc;
	const char *node;
	int rc;
};

static int xhci_slot_key(const char *key, const char *value, void *arg)
{
	(void)value;
	(void)arg;
	if (strcmp(key, "device") == 0)
		return 0;
	warnx("xhci: unknown USB slot option \"%s\"", key);
	return -1;
}

static void xhci_cfg_slot(const char *child, void *arg)
{
	struct xhci_cfg_walk *w = arg;
	char snode[128];
	unsigned long n;
	const char *dev;
	int kind;

	if (w->rc != 0)
		return;
	snprintf(snode, sizeof(snode), "%s.slot.%s", w->node, child);
	if (parse_uint(child, XHCI_MAXPORTS, &n) != 0 || n < 1) {
		warnx("xhci: invalid USB slot \"%s\" (1 to %d)", child, XHCI_MAXPORTS);
		w->rc = -1;
		return;
	}
	if (config_foreach_key(snode, xhci_slot_key, NULL) != 0) {
		w->rc = -1;
		return;
	}
	dev = get_config_value_node(snode, "device");
	if (dev == NULL) {
		warnx("xhci: USB slot %lu has no device (%s.device)", n, snode);
		w->rc = -1;
		return;
	}
	kind = xhci_dev_kind(dev);
	if (kind < 0) {
		warnx("xhci: unknown USB device \"%s\" (tablet or kbd)", dev);
		w->rc = -1;
		return;
	}
	w->sc->port[n].dev = &w->sc->hid[n];
	usb_hid_init(&w->sc->hid[n], kind == 0 ? USB_HID_TABLET : USB_HID_KBD);
}

static struct xhci_softc *xhci_instance;

static int pci_xhci_init(struct pci_devinst *pi, const char *node)
{
	struct xhci_softc *sc;
	struct xhci_cfg_walk w = { .node = node };
	char snode[96];
	bool tablet = false, kbd = false;

	if (xhci_instance != NULL) {
		warnx("xhci: only one xhci device is supported");
		return -1;
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->pi = pi;
	pi->pi_arg = sc;
	w.sc = sc;
	snprintf(snode, sizeof(snode), "%s.slot", node);
	config_foreach_child(snode, xhci_cfg_slot, &w);
	if (w.rc != 0)
		goto fail;
	pthread_mutex_init(&sc->mtx, NULL);
	pci_set_cfgdata16(pi, PCIR_VENDOR, XHCI_VID);
	pci_set_cfgdata16(pi, PCIR_DEVICE, XHCI_DID);
	pci_set_cfgdata8(pi, PCIR_CLASS, 0x0c);		/* serial bus */
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, 0x03);	/* USB */
	pci_set_cfgdata8(pi, PCIR_PROGIF, 0x30);	/* xHCI */
	pci_set_cfgdata8(pi, 0x60, 0x30);		/* SBRN: USB 3.0 */
	if (pci_emul_alloc_bar(pi, 0, PCIBAR_MEM64, XHCI_BARSIZE) != 0 ||
	    pci_emul_add_msicap(pi, 1) != 0 ||
	    pci_emul_add_msixcap(pi, 1, XHCI_MSIX_BAR) != 0 ||
	    pci_emul_add_pciecap(pi, 9) != 0)
		goto fail;
	pci_lintr_request(pi);
	xhci_reset(sc);
	for (int i = 1; i <= XHCI_MAXPORTS; i++) {
		tablet |= sc->port[i].dev != NULL && sc->port[i].dev->kind == USB_HID_TABLET;
		kbd |= sc->port[i].dev != NULL && sc->port[i].dev->kind == USB_HID_KBD;
	}
	if (tablet)
		input_set_usb_pointer(xhci_pointer_event, sc);
	if (kbd)
		input_set_usb_keyboard(xhci_key_event, sc);
	xhci_instance = sc;
	return 0;
fail:
	pi->pi_arg = NULL;
	free(sc);
	return -1;
}

static void pci_xhci_deinit(struct pci_devinst *pi)
{
	struct xhci_softc *sc = pi->pi_arg;

	if (sc == NULL || sc != xhci_instance)
		return;
	input_set_usb_pointer(NULL, NULL);
	input_set_usb_keyboard(NULL, NULL);
	xhci_instance = NULL;
}

static const char *const xhci_keys[] = { NULL };

static const struct pci_devemu pci_de_xhci = {
	.pe_emu = "xhci",
	.pe_init = pci_xhci_init,
	.pe_deinit = pci_xhci_deinit,
	.pe_legacy_config = pci_xhci_legacy_config,
	.pe_barwrite = pci_xhci_write,
	.pe_barread = pci_xhci_read,
	.pe_keys = xhci_keys,
};
PCI_EMUL_SET(pci_de_xhci);
