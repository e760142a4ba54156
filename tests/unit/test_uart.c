/* com1 (16550 at 0x3F8, IRQ 4) with its tcp console backend; the test is the
 * peer on the other end of the socket and pumps the event loop itself. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "mevent.h"
#include "test.h"

#define COM1	0x3f8
#define RBR	0
#define IER	1
#define IIR	2
#define LCR	3
#define MCR	4
#define LSR	5
#define MSR	6
#define SCR	7

static int peer = -1;

static uint8_t uin(int reg)
{
	return (uint8_t)port_in((uint16_t)(COM1 + reg), 1);
}

static void uout(int reg, uint8_t v)
{
	port_out((uint16_t)(COM1 + reg), 1, v);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Runs the event loop until LSR says data is ready (or ms pass). */
static bool pump_until_rx(int ms)
{
	long end = now_ms() + ms;

	while (!(uin(LSR) & 0x01)) {
		if (now_ms() > end)
			return false;
		mevent_poll(20);
	}
	return true;
}

/* Reads what the guest sent to the peer, waiting up to ms for n bytes. */
static size_t peer_read(uint8_t *buf, size_t n, int ms)
{
	size_t got = 0;
	long end = now_ms() + ms;

	while (got < n) {
		struct pollfd p = { .fd = peer, .events = POLLIN };
		long left = end - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		r = read(peer, buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static void peer_send(const char *s, size_t n)
{
	CHECK(write(peer, s, n) == (ssize_t)n);
}

/* Empties the receive side: what the guest has not read, and the loop's backlog. */
static void uart_drain(void)
{
	for (int i = 0; i < 5; i++) {
		mevent_poll(10);
		while (uin(LSR) & 0x01)
			uin(RBR);
	}
}

static void uart_peer_connects(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fx_com1_port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	long end;

	peer = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(peer >= 0);
	REQUIRE(connect(peer, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	/* The console accepts from the event loop. */
	end = now_ms() + 2000;
	while (mevent_poll(50) <= 0 && now_ms() < end)
		;
	CHECK(now_ms() < end);
}

static void uart_lsr_reports_transmitter_empty(void)
{
	uint8_t lsr = uin(LSR);

	CHECK_EQ(lsr & 0x60, 0x60);
	CHECK_EQ(lsr & 0x01, 0);
	CHECK_EQ(uin(LCR), 0x03);	/* 8N1 at reset */
	CHECK_EQ(uin(IIR) & 0x0f, 0x01);
}

static void uart_thr_write_reaches_peer(void)
{
	uint8_t buf[8] = { 0 };

	REQUIRE(peer >= 0);
	uout(RBR, 'o');
	uout(RBR, 'k');
	uout(RBR, '\n');
	CHECK_EQ(peer_read(buf, 3, 2000), 3);
	CHECK(memcmp(buf, "ok\n", 3) == 0);
	CHECK_EQ(uin(LSR) & 0x60, 0x60);
}

static void uart_dlab_divisor_latch_read_write(void)
{
	CHECK_EQ(uin(IER), 0);
	uout(LCR, 0x83);
	CHECK_EQ(uin(RBR), 12);		/* 9600 baud at reset */
	CHECK_EQ(uin(IER), 0);
	uout(RBR, 0x01);		/* 115200 */
	uout(IER, 0x02);
	CHECK_EQ(uin(RBR), 0x01);
	CHECK_EQ(uin(IER), 0x02);
	CHECK_EQ(uin(LCR), 0x83);
	uout(LCR, 0x03);
	/* Without DLAB, the same offsets are the data and interrupt-enable registers. */
	CHECK_EQ(uin(IER), 0);
	CHECK_EQ(fake_vmm.isa_level[4], 0);
	uout(LCR, 0x83);
	CHECK_EQ(uin(RBR), 0x01);
	CHECK_EQ(uin(IER), 0x02);
	uout(LCR, 0x03);
}

static void uart_scratch_register_holds_value(void)
{
	uout(SCR, 0xa5);
	CHECK_EQ(uin(SCR), 0xa5);
	uout(SCR, 0x5a);
	CHECK_EQ(uin(SCR), 0x5a);
}

static void uart_loopback_echoes_written_byte(void)
{
	uint8_t buf[4];

	REQUIRE(peer >= 0);
	uart_drain();
	uout(MCR, 0x10 | 0x03);		/* loopback, RTS, DTR */
	CHECK_EQ(uin(MCR), 0x13);
	CHECK_EQ(uin(MSR) & 0xf0, 0x30);	/* CTS, DSR follow RTS, DTR */
	uout(MCR, 0x10 | 0x0c);		/* OUT1, OUT2 */
	CHECK_EQ(uin(MSR) & 0xf0, 0xc0);	/* RI, DCD */
	uout(RBR, 'x');
	CHECK_EQ(uin(LSR) & 0x01, 0x01);
	CHECK_EQ(uin(RBR), 'x');
	CHECK_EQ(uin(LSR) & 0x01, 0);
	/* Looped back, not sent. */
	CHECK_EQ(peer_read(buf, 1, 100), 0);
	uout(MCR, 0x0b);
	CHECK_EQ(uin(MSR) & 0xf0, 0xb0);	/* a line that is up: DCD, DSR, CTS */
}

static void uart_rx_from_peer_appears_in_rbr(void)
{
	REQUIRE(peer >= 0);
	uart_drain();
	peer_send("hi", 2);
	CHECK(pump_until_rx(2000));
	CHECK_EQ(uin(RBR), 'h');
	CHECK(pump_until_rx(500));
	CHECK_EQ(uin(RBR), 'i');
	mevent_poll(20);
	CHECK_EQ(uin(LSR) & 0x01, 0);
}

static void uart_rx_more_than_fifo_not_lost(void)
{
	char out[40], in[40];
	size_t n = 0;
	long end = now_ms() + 3000;

	REQUIRE(peer >= 0);
	uart_drain();
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)('A' + i);
	peer_send(out, sizeof(out));
	while (n < sizeof(in) && now_ms() < end) {
		mevent_poll(20);
		while (n < sizeof(in) && (uin(LSR) & 0x01))
			in[n++] = (char)uin(RBR);
	}
	CHECK_EQ(n, sizeof(in));
	CHECK(memcmp(in, out, n) == 0);
	CHECK_EQ(uin(LSR) & 0x02, 0);	/* flow control, not overrun */
}

static void uart_thre_interrupt_raises_irq4_and_iir_read_clears(void)
{
	fake_reset_irqs();
	uout(IER, 0x02);
	CHECK_EQ(fake_vmm.isa_level[4], 1);
	CHECK_EQ(uin(IIR) & 0x0f, 0x02);
	CHECK_EQ(fake_vmm.isa_level[4], 0);
	CHECK_EQ(uin(IIR) & 0x0f, 0x01);
	/* Each transmitted byte empties THR again: another THRE interrupt. */
	uout(RBR, '.');
	CHECK_EQ(fake_vmm.isa_level[4], 1);
	uout(IER, 0);
	CHECK_EQ(fake_vmm.isa_level[4], 0);
	uin(IIR);
	/* FIFO enable shows in IIR's top bits. */
	uout(IIR, 0x07);
	CHECK_EQ(uin(IIR) & 0xc0, 0xc0);
	uout(IIR, 0x00);
	CHECK_EQ(uin(IIR) & 0xc0, 0);
	if (peer >= 0) {
		uint8_t b;

		peer_read(&b, 1, 200);
	}
}

static void uart_rx_interrupt_reports_iir_rx_data(void)
{
	REQUIRE(peer >= 0);
	uart_drain();
	fake_reset_irqs();
	uout(IER, 0x01);
	CHECK_EQ(fake_vmm.isa_level[4], 0);
	peer_send("z", 1);
	CHECK(pump_until_rx(2000));
	CHECK_EQ(fake_vmm.isa_level[4], 1);
	CHECK_EQ(uin(IIR) & 0x0f, 0x04);
	CHECK_EQ(fake_vmm.isa_level[4], 1);	/* reading IIR does not ack received data */
	CHECK_EQ(uin(RBR), 'z');
	CHECK_EQ(fake_vmm.isa_level[4], 0);
	CHECK_EQ(uin(IIR) & 0x0f, 0x01);
	uout(IER, 0);
}

static void uart_fifo_overrun_sets_lsr_oe(void)
{
	uint8_t lsr;
	int bad = 0;

	uart_drain();
	uout(MCR, 0x10);
	for (int i = 0; i < 17; i++)
		uout(RBR, (uint8_t)(0x30 + i));
	lsr = uin(LSR);
	CHECK_EQ(lsr & 0x03, 0x03);	/* data ready and overrun */
	CHECK_EQ(uin(LSR) & 0x02, 0);	/* OE clears once read */
	for (int i = 0; i < 16; i++)
		if (uin(RBR) != 0x30 + i)
			bad++;
	CHECK_EQ(bad, 0);
	CHECK_EQ(uin(LSR) & 0x01, 0);
	/* FCR receive reset empties the FIFO. */
	uout(RBR, 1);
	uout(RBR, 2);
	uout(IIR, 0x03);
	CHECK_EQ(uin(LSR) & 0x01, 0);
	uout(MCR, 0x0b);
}

static void uart_wide_accesses_refused_without_crash(void)
{
	uint64_t v = 0;

	CHECK_EQ(port_rc(false, COM1, 2, &v), -1);
	CHECK_EQ(port_rc(true, COM1, 2, &(uint64_t){ 0x4141 }), -1);
	CHECK_EQ(port_rc(false, COM1 + 4, 4, &v), -1);
	CHECK(port_rc(false, COM1 + 7, 2, &v) != 0);	/* runs past the UART: refused */
	CHECK_EQ(uin(LSR) & 0x60, 0x60);
}

void suite_uart(void)
{
	RUN_DEV(uart_peer_connects);
	RUN_DEV(uart_lsr_reports_transmitter_empty);
	RUN_DEV(uart_thr_write_reaches_peer);
	RUN_DEV(uart_dlab_divisor_latch_read_write);
	RUN_DEV(uart_scratch_register_holds_value);
	RUN_DEV(uart_loopback_echoes_written_byte);
	RUN_DEV(uart_rx_from_peer_appears_in_rbr);
	RUN_DEV(uart_rx_more_than_fifo_not_lost);
	RUN_DEV(uart_thre_interrupt_raises_irq4_and_iir_read_clears);
	RUN_DEV(uart_rx_interrupt_reports_iir_rx_data);
	RUN_DEV(uart_fifo_overrun_sets_lsr_oe);
	RUN_DEV(uart_wide_accesses_refused_without_crash);
}
