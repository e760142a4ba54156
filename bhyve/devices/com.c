/* com1-com4: 16550A UARTs on the LPC bus, each wired to a console backend. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backends/console.h"
#include "config.h"
#include "iodispatch.h"
#include "lpc.h"
#include "pci_emul.h"
#include "vmmapi.h"

#define FIFOSZ	16

/* Register offsets and bits (the 16550 data sheet's names). */
#define REG_DATA	0	/* RBR / THR; DLL with DLAB */
#define REG_IER		1	/* DLM with DLAB */
#define REG_IIR		2	/* FCR on write */
#define REG_LCR		3
#define REG_MCR		4
#define REG_LSR		5
#define REG_MSR		6
#define REG_SCR		7
#define IER_ERXRDY	0x01
#define IER_ETXRDY	0x02
#define IER_EMSC	0x08
#define IIR_NOPEND	0x01
#define IIR_TXRDY	0x02
#define IIR_RXRDY	0x04
#define IIR_MLSC	0x00
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define FCR_RCV_RST	0x02
#define LCR_DLAB	0x80
#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOPBACK	0x10
#define LSR_RXRDY	0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_DELTA	0x0f
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

static const struct {
	const char *name;
	uint16_t port;
	int irq;
} com_ports[] = {
	{ "com1", 0x3f8, 4 }, { "com2", 0x2f8, 3 }, { "com3", 0x3e8, 4 }, { "com4", 0x2e8, 3 },
};

struct uart_softc {
	pthread_mutex_t mtx;
	struct vmctx *ctx;
	struct console *con;
	int irq;
	bool irq_level;
	uint8_t ier, lcr, mcr, lsr, msr, fcr, scr, dll, dlh;
	bool thre_pending;
	uint8_t rx[FIFOSZ];
	int rx_head, rx_count;
};

static int rx_put(struct uart_softc *sc, uint8_t b)
{
	if (sc->rx_count == FIFOSZ) {
		sc->lsr |= LSR_OE;
		return -1;
	}
	sc->rx[(sc->rx_head + sc->rx_count++) % FIFOSZ] = b;
	return 0;
}

static uint8_t rx_get(struct uart_softc *sc)
{
	uint8_t b;

	if (sc->rx_count == 0)
		return 0;
	b = sc->rx[sc->rx_head];
	sc->rx_head = (sc->rx_head + 1) % FIFOSZ;
	sc->rx_count--;
	return b;
}

/* The highest-priority pending source, as IIR reports it. */
static uint8_t uart_intr_reason(struct uart_softc *sc)
{
	if ((sc->ier & IER_ERXRDY) && sc->rx_count > 0)
		return IIR_RXRDY;
	if ((sc->ier & IER_ETXRDY) && sc->thre_pending)
		return IIR_TXRDY;
	if ((sc->ier & IER_EMSC) && (sc->msr & MSR_DELTA))
		return IIR_MLSC;
	return IIR_NOPEND;
}

static void uart_update_irq(struct uart_softc *sc)
{
	isa_irq_follow(sc->ctx, sc->irq, &sc->irq_level, uart_intr_reason(sc) != IIR_NOPEND);
}

/* Modem status follows the modem control lines in loopback, else a line that is up. */
static void uart_update_msr(struct uart_softc *sc)
{
	uint8_t msr;

	if (sc->mcr & MCR_LOOPBACK) {
		msr = (uint8_t)(((sc->mcr & MCR_RTS) ? MSR_CTS : 0) |
		    ((sc->mcr & MCR_DTR) ? MSR_DSR : 0) |
		    ((sc->mcr & MCR_OUT1) ? MSR_RI : 0) |
		    ((sc->mcr & MCR_OUT2) ? MSR_DCD : 0));
	} else {
		msr = MSR_DCD | MSR_DSR | MSR_CTS;
	}
	sc->msr = (uint8_t)((sc->msr & MSR_DELTA) | msr |
	    (((sc->msr ^ msr) & 0xb0) >> 4) | (((sc->msr & MSR_RI) && !(msr & MSR_RI)) ? 0x04 : 0));
}

static void uart_fill_rx(struct uart_softc *sc)
{
	uint8_t buf[FIFOSZ];
	size_t n;

	if (sc->mcr & MCR_LOOPBACK)
		return;
	n = console_read(sc->con, buf, (size_t)(FIFOSZ - sc->rx_count));
	for (size_t i = 0; i < n; i++)
		rx_put(sc, buf[i]);
	console_rx_pause(sc->con, sc->rx_count == FIFOSZ);
}

static void uart_rx_ready(void *arg)
{
	struct uart_softc *sc = arg;

	pthread_mutex_lock(&sc->mtx);
	uart_fill_rx(sc);
	uart_update_irq(sc);
	pthread_mutex_unlock(&sc->mtx);
}

static uint8_t uart_read(struct uart_softc *sc, int reg)
{
	uint8_t v = 0xff;

	switch (reg) {
	case REG_DATA:
		if (sc->lcr & LCR_DLAB)
			return sc->dll;
		v = rx_get(sc);
		if (sc->rx_count == 0)
			uart_fill_rx(sc);	/* room again: take what is waiting */
		break;
	case REG_IER:
		v = (sc->lcr & LCR_DLAB) ? sc->dlh : sc->ier;
		break;
	case REG_IIR:
		v = uart_intr_reason(sc);
		if (v == IIR_TXRDY)
			sc->thre_pending = false;	/* reading IIR acknowledges THRE */
		if (sc->fcr & FCR_ENABLE)
			v |= IIR_FIFO;
		break;
	case REG_LCR:
		v = sc->lcr;
		break;
	case REG_MCR:
		v = sc->mcr;
		break;
	case REG_LSR:
		v = (uint8_t)(sc->lsr | LSR_THRE | LSR_TEMT | (sc->rx_count ? LSR_RXRDY : 0));
		sc->lsr &= (uint8_t)~LSR_OE;
		break;
	case REG_MSR:
		v = sc->msr;
		sc->msr &= (uint8_t)~MSR_DELTA;
		break;
	case REG_SCR:
		v = sc->scr;
		break;
	}
	return v;
}

static void uart_write(struct uart_softc *sc, int reg, uint8_t v)
{
	switch (reg) {
	case REG_DATA:
		if (sc->lcr & LCR_DLAB) {
			sc->dll = v;
			break;
		}
		if (sc->mcr & MCR_LOOPBACK)
			rx_put(sc, v);
		else
			console_write(sc->con, v);
		/* Transmission is instant: THR is empty again at once. */
		sc->thre_pending = true;
		break;
	case REG_IER:
		if (sc->lcr & LCR_DLAB) {
			sc->dlh = v;
			break;
		}
		/* Enabling THRE interrupts with THR empty raises one, as on a 16550. */
		if ((v & IER_ETXRDY) && !(sc->ier & IER_ETXRDY))
			sc->thre_pending = true;
		sc->ier = v & 0x0f;
		break;
	case REG_IIR:
		if (v & FCR_RCV_RST)
			sc->rx_head = sc->rx_count = 0;
		sc->fcr = v & FCR_ENABLE;
		break;
	case REG_LCR:
		sc->lcr = v;
		break;
	case REG_MCR:
		sc->mcr = v & 0x1f;
		uart_update_msr(sc);
		break;
	case REG_LSR:
	case REG_MSR:
		break;	/* read-only on a real part; writes are factory tests */
	case REG_SCR:
		sc->scr = v;
		break;
	}
}

static int uart_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	struct uart_softc *sc = arg;
	int reg = (int)(port & 7);

	if (size != 1)
		return -1;
	pthread_mutex_lock(&sc->mtx);
	if (write)
		uart_write(sc, reg, (uint8_t)*val);
	else
		*val = uart_read(sc, reg);
	uart_update_irq(sc);
	pthread_mutex_unlock(&sc->mtx);
	return 0;
}

static int com_init(struct vmctx *ctx, const char *name, const char *node)
{
	const char *path = get_config_value_node(node, "path");
	struct uart_softc *sc;
	struct io_range r;
	size_t i;

	for (i = 0; i < nitems(com_ports); i++)
		if (strcmp(com_ports[i].name, name) == 0)
			break;
	if (i == nitems(com_ports))
		return -1;
	if (path == NULL) {
		warnx("%s: %s.path is not set", name, node);
		return -1;
	}
	sc = xcalloc(1, sizeof(*sc));
	pthread_mutex_init(&sc->mtx, NULL);
	sc->ctx = ctx;
	sc->irq = com_ports[i].irq;
	sc->lcr = 0x03;		/* 8N1 */
	sc->dll = 12;		/* 9600 baud, the reset value firmware expects */
	uart_update_msr(sc);
	sc->msr &= (uint8_t)~MSR_DELTA;
	sc->con = console_open(path, name, uart_rx_ready, sc);
	if (sc->con == NULL)
		return -1;
	pci_irq_reserve(sc->irq);
	r = (struct io_range){ .name = name, .base = com_ports[i].port, .size = 8,
	    .handler = uart_io, .arg = sc };
	return register_io(IO_PORT, &r);
}

static const struct lpc_dev lpc_com1 = { "com1", com_init };
static const struct lpc_dev lpc_com2 = { "com2", com_init };
static const struct lpc_dev lpc_com3 = { "com3", com_init };
static const struct lpc_dev lpc_com4 = { "com4", com_init };
LPC_DEV_SET(lpc_com1);
LPC_DEV_SET(lpc_com2);
LPC_DEV_SET(lpc_com3);
LPC_DEV_SET(lpc_com4);
