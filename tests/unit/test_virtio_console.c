/* virtio-console (bhyve/devices/virtio_console.c), driven as a legacy guest
 * driver drives it, with the test as the client of each port's UNIX socket:
 * rings in a fake guest RAM, the sockets' events pumped through the main loop.
 *
 * As in test_virtio_blk.c, the devices are made by hand (pe_legacy_config and
 * pe_init on a pci_devinst allocated here, config nodes "vtcon_test.N") and live
 * until the process exits; their BARs are unregistered at the end. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"
#include "test.h"
#include "virtio.h"


#define RAM_SIZE	(4u << 20)
#define RINGS		0x10000		/* queue q: ring at + q * 0x2000 */
#define NQ		8		/* queues set up: ports 0-2 and control */
#define CBUF		0x30000		/* control receive buffer i at + 256 i */
#define CTX		0x31000		/* control message k at + 16 k */
#define DBUF		0x40000		/* data buffers */
#define BIG		0x100000	/* 64 KiB transmitted many times */
#define QN		64
#define F_MULTIPORT	(1u << 1)
#define F_EMERG_WRITE	(1u << 2)
#define E_DEVICE_READY	0
#define E_DEVICE_ADD	1
#define E_PORT_READY	3
#define E_CONSOLE_PORT	4
#define E_PORT_OPEN	6
#define E_PORT_NAME	7

/* The shared device: port 0 "console", port 1 "org.test.data"; port 2 absent. */
static struct pci_devinst *dev, *stale_dev;
static char dir[64], sock0[96], sock1[96];
static uint8_t *ram;
static uint16_t io;
static int node_seq;

static struct {
	uint16_t avail, used_seen, next_desc;
} q[NQ];
static int ctx_n;

static const struct pci_devemu *vcon_emu(void)
{
	return unit_pci_emu("virtio-console");
}

/* What pci_parse_slot + init_pci do for one function; NULL when either refuses.
 * opts NULL: node already holds the settings. */
static struct pci_devinst *vcon_create(const char *node, const char *opts)
{
	return unit_pci_create("virtio-console", 11, node, opts);
}

static bool vcon_refused(const char *opts)
{
	char node[32];

	snprintf(node, sizeof(node), "vtcon_test.%d", node_seq++);
	return vcon_create(node, opts) == NULL;
}

static bool setup(void)
{
	char opts[256], node[32];

	if (ram == NULL)
		ram = aligned_alloc(4096, RAM_SIZE);
	if (ram == NULL)
		return false;
	fake_vm_set_ram(fx_ctx, ram, RAM_SIZE);
	if (dev != NULL)
		return true;
	snprintf(dir, sizeof(dir), "/tmp/vtcon-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return false;
	snprintf(sock0, sizeof(sock0), "%s/console.sock", dir);
	snprintf(sock1, sizeof(sock1), "%s/data.sock", dir);
	snprintf(opts, sizeof(opts), "console=%s,org.test.data=%s", sock0, sock1);
	snprintf(node, sizeof(node), "vtcon_test.%d", node_seq++);
	dev = vcon_create(node, opts);
	return dev != NULL;
}

/* ---- the driver side ---- */

static uint64_t lreg(int off, int size)
{
	return port_in((uint16_t)(io + off), size);
}

static void lreg_out(int off, int size, uint64_t v)
{
	port_out((uint16_t)(io + off), size, v);
}

static uint8_t drv_status(void)
{
	return (uint8_t)lreg(VIRTIO_PCI_STATUS, 1);
}

static uint8_t *ring(int n)
{
	return ram + RINGS + 0x2000 * (size_t)n;
}

static uint8_t *used_ring(int n)
{
	return ring(n) + 0x1000;
}

static uint16_t used_idx(int n)
{
	return (uint16_t)le_get(used_ring(n) + 2, 2);
}

/* Resets the device and brings it up with features and queues 0 to NQ-1. */
static void drv_begin(uint32_t features)
{
	io = (uint16_t)dev->pi_bar[0].addr;
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	memset(ram + RINGS, 0, 0x2000 * NQ);
	memset(q, 0, sizeof(q));
	ctx_n = 0;
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	lreg_out(VIRTIO_PCI_GUEST_FEATURES, 4, features);
	for (int n = 0; n < NQ; n++) {
		lreg_out(VIRTIO_PCI_QUEUE_SEL, 2, (uint64_t)n);
		lreg_out(VIRTIO_PCI_QUEUE_PFN, 4, (RINGS + 0x2000 * (uint64_t)n) / 4096);
	}
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_DRIVER_OK);
}

/* One buffer as a chain of its own on queue n, published and notified. */
static uint16_t post(int n, uint64_t gpa, uint32_t len, bool writable)
{
	uint16_t i = q[n].next_desc++ % QN;
	uint8_t *d = ring(n) + 16 * (size_t)i, *avail = ring(n) + 16 * QN;

	le_put(d, gpa, 8);
	le_put(d + 8, len, 4);
	le_put(d + 12, writable ? VRING_DESC_F_WRITE : 0, 2);
	le_put(d + 14, 0, 2);
	le_put(avail + 4 + 2 * (q[n].avail % QN), i, 2);
	q[n].avail++;
	le_put(avail + 2, q[n].avail, 2);
	lreg_out(VIRTIO_PCI_QUEUE_NOTIFY, 2, (uint64_t)n);
	return i;
}

/* The next used element of queue n, if the device has published one. */
static bool next_used(int n, uint32_t *id, uint32_t *len)
{
	uint8_t *e;

	if (used_idx(n) == q[n].used_seen)
		return false;
	e = used_ring(n) + 4 + 8 * (size_t)(q[n].used_seen % QN);
	*id = (uint32_t)le_get(e, 4);
	*len = (uint32_t)le_get(e + 4, 4);
	q[n].used_seen++;
	return true;
}

static void pump(int rounds)
{
	for (int i = 0; i < rounds; i++)
		mevent_poll(2);
}

/* Pumps until queue n has published want more used elements (2 s at most). */
static bool wait_used(int n, uint16_t want)
{
	uint16_t target = (uint16_t)(q[n].used_seen + want);

	for (int i = 0; i < 200 && (uint16_t)(used_idx(n) - target) > 0x8000; i++)
		mevent_poll(10);
	return (uint16_t)(used_idx(n) - target) <= 0x8000;
}

/* A control message from the driver, a chain of its own of len bytes (<= 16). */
static void ctrl_out_len(uint32_t id, uint16_t event, uint16_t value, uint32_t len)
{
	uint8_t *m = ram + CTX + 16 * (size_t)(ctx_n++ % 256);

	le_put(m, id, 4);
	le_put(m + 4, event, 2);
	le_put(m + 6, value, 2);
	post(3, (uint64_t)(m - ram), len, false);
}

static void ctrl_out(uint32_t id, uint16_t event, uint16_t value)
{
	ctrl_out_len(id, event, value, 8);
}

static void post_ctrl_bufs(int n)
{
	for (int i = 0; i < n; i++)
		post(2, CBUF + 256 * (uint64_t)(i % 16), 256, true);
}

struct cmsg {
	uint32_t id;
	uint16_t event, value;
	char payload[64];
	uint32_t len;
};

/* The next control message the device sent (pumping a little for it). */
static bool ctrl_in(struct cmsg *m)
{
	uint32_t desc, len;
	const uint8_t *b;

	for (int i = 0; i < 50 && used_idx(2) == q[2].used_seen; i++)
		mevent_poll(2);
	if (!next_used(2, &desc, &len))
		return false;
	b = ram + le_get(ring(2) + 16 * (size_t)desc, 8);
	memset(m, 0, sizeof(*m));
	m->len = len;
	if (len < 8)
		return true;
	m->id = (uint32_t)le_get(b, 4);
	m->event = (uint16_t)le_get(b + 4, 2);
	m->value = (uint16_t)le_get(b + 6, 2);
	memcpy(m->payload, b + 8, len - 8 < sizeof(m->payload) - 1 ? len - 8 : sizeof(m->payload) - 1);
	return true;
}

static bool expect(uint32_t id, uint16_t event, uint16_t value, const char *payload)
{
	struct cmsg m;

	if (!ctrl_in(&m)) {
		test_fail(__FILE__, __LINE__, "no control message, expected event %u for port %u",
		    event, id);
		return false;
	}
	if (m.id != id || m.event != event || m.value != value ||
	    (payload != NULL && strcmp(m.payload, payload) != 0) ||
	    (payload == NULL && m.len != 8)) {
		test_fail(__FILE__, __LINE__, "control message {%u, %u, %u, \"%s\"}, expected "
		    "{%u, %u, %u, \"%s\"}", m.id, m.event, m.value, m.payload, id, event, value,
		    payload ? payload : "");
		return false;
	}
	return true;
}

static bool no_ctrl_message(void)
{
	pump(5);
	return used_idx(2) == q[2].used_seen;
}

/* ---- the host side ---- */

static int client(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (s >= 0 && connect(s, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(s);
		s = -1;
	}
	pump(5);		/* the device accepts it */
	return s;
}

/* Reads exactly len bytes (pumping the loop meanwhile); false on a short read. */
static bool client_read(int s, void *buf, size_t len)
{
	size_t got = 0;

	for (int i = 0; i < 500 && got < len; i++) {
		ssize_t r = recv(s, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);

		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			break;
		else
			mevent_poll(5);
	}
	return got == len;
}

/* Nothing waiting on s (after the loop had its chance). */
static bool client_quiet(int s)
{
	char c;

	pump(5);
	return recv(s, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

/* Multiport up to where port 1 is ready, named and open on both sides, with c
 * connected to it (c < 0: nobody connected). */
static bool multiport_up(int c)
{
	drv_begin(F_MULTIPORT);
	post_ctrl_bufs(16);
	ctrl_out(0, E_DEVICE_READY, 1);
	if (!expect(0, E_DEVICE_ADD, 1, NULL) || !expect(1, E_DEVICE_ADD, 1, NULL))
		return false;
	ctrl_out(1, E_PORT_READY, 1);
	if (!expect(1, E_PORT_NAME, 1, "org.test.data"))
		return false;
	if (c >= 0 && !expect(1, E_PORT_OPEN, 1, NULL))
		return false;
	ctrl_out(1, E_PORT_OPEN, 1);
	return true;
}

/* ---- tests ---- */

static void virtio_console_pci_ids_and_config_space(void)
{
	struct stat st;

	REQUIRE(setup());
	CHECK_EQ(pci_get_cfgdata16(dev, PCIR_VENDOR), 0x1af4);
	CHECK_EQ(pci_get_cfgdata16(dev, PCIR_DEVICE), 0x1003);
	CHECK_EQ(pci_get_cfgdata16(dev, PCIR_SUBDEV_0), 3);
	CHECK_EQ(pci_get_cfgdata8(dev, PCIR_CLASS), 0x07);
	CHECK_EQ(pci_get_cfgdata8(dev, PCIR_SUBCLASS), 0x80);
	drv_begin(0);
	CHECK_EQ(lreg(VIRTIO_PCI_HOST_FEATURES, 4) & 0xff, F_MULTIPORT | F_EMERG_WRITE);
	lreg_out(VIRTIO_PCI_QUEUE_SEL, 2, 33);
	CHECK_EQ(lreg(VIRTIO_PCI_QUEUE_NUM, 2), QN);	/* 34 queues: 16 ports, control */
	lreg_out(VIRTIO_PCI_QUEUE_SEL, 2, 34);
	CHECK_EQ(lreg(VIRTIO_PCI_QUEUE_NUM, 2), 0);
	CHECK_EQ(lreg(VIRTIO_PCI_CONFIG(false) + 4, 4), 16);	/* max_nr_ports */
	CHECK(stat(sock0, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK(stat(sock1, &st) == 0 && S_ISSOCK(st.st_mode));
}

/* Without MULTIPORT only port 0 exists, open on the guest side: bytes both ways. */
static void virtio_console_port0_without_multiport(void)
{
	uint32_t id, len;
	char buf[16];
	int c;

	REQUIRE(setup());
	drv_begin(0);
	c = client(sock0);
	REQUIRE(c >= 0);
	post(0, DBUF, 16, true);
	CHECK(send(c, "abc", 3, 0) == 3);
	REQUIRE(wait_used(0, 1));
	REQUIRE(next_used(0, &id, &len));
	CHECK_EQ(len, 3);
	CHECK(memcmp(ram + DBUF, "abc", 3) == 0);
	memcpy(ram + DBUF + 0x1000, "xyz\n", 4);
	post(1, DBUF + 0x1000, 4, false);
	CHECK(client_read(c, buf, 4) && memcmp(buf, "xyz\n", 4) == 0);
	REQUIRE(next_used(1, &id, &len));
	CHECK_EQ(len, 0);
	/* Port 1's socket leads nowhere without MULTIPORT: its queue is not a port's. */
	close(c);
	c = client(sock1);
	REQUIRE(c >= 0);
	memcpy(ram + DBUF + 0x2000, "lost", 4);
	post(5, DBUF + 0x2000, 4, false);
	CHECK(client_quiet(c));
	CHECK_EQ(used_idx(5), 1);
	/* Emergency write: a character for port 0's client before any queue use. */
	close(c);
	c = client(sock0);
	REQUIRE(c >= 0);
	drv_begin(F_EMERG_WRITE);
	lreg_out(VIRTIO_PCI_CONFIG(false) + 8, 4, '!');
	CHECK(client_read(c, buf, 1) && buf[0] == '!');
	close(c);
	pump(5);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* The control protocol in the spec's order, and PORT_OPEN following the client. */
static void virtio_console_multiport_handshake(void)
{
	int c;

	REQUIRE(setup());
	c = client(sock1);
	REQUIRE(c >= 0);
	drv_begin(F_MULTIPORT);
	post_ctrl_bufs(16);
	CHECK(no_ctrl_message());			/* nothing before DEVICE_READY */
	ctrl_out(0, E_DEVICE_READY, 1);
	CHECK(expect(0, E_DEVICE_ADD, 1, NULL));
	CHECK(expect(1, E_DEVICE_ADD, 1, NULL));
	CHECK(no_ctrl_message());			/* port 2 does not exist */
	ctrl_out(0, E_PORT_READY, 1);
	CHECK(expect(0, E_CONSOLE_PORT, 1, NULL));	/* named "console" */
	CHECK(expect(0, E_PORT_NAME, 1, "console"));
	CHECK(no_ctrl_message());			/* nobody on port 0's socket */
	ctrl_out(1, E_PORT_READY, 1);
	CHECK(expect(1, E_PORT_NAME, 1, "org.test.data"));
	CHECK(expect(1, E_PORT_OPEN, 1, NULL));
	close(c);
	pump(5);
	CHECK(expect(1, E_PORT_OPEN, 0, NULL));
	c = client(sock1);
	REQUIRE(c >= 0);
	CHECK(expect(1, E_PORT_OPEN, 1, NULL));
	close(c);
	CHECK(expect(1, E_PORT_OPEN, 0, NULL));
	c = client(sock0);
	REQUIRE(c >= 0);
	CHECK(expect(0, E_PORT_OPEN, 1, NULL));
	close(c);
	pump(5);
	CHECK(expect(0, E_PORT_OPEN, 0, NULL));
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* Control messages wait while the driver has no receive buffer posted. */
static void virtio_console_control_messages_wait_for_buffers(void)
{
	REQUIRE(setup());
	drv_begin(F_MULTIPORT);
	ctrl_out(0, E_DEVICE_READY, 1);
	CHECK(no_ctrl_message());
	post_ctrl_bufs(1);
	CHECK(expect(0, E_DEVICE_ADD, 1, NULL));
	CHECK(no_ctrl_message());
	post_ctrl_bufs(1);
	CHECK(expect(1, E_DEVICE_ADD, 1, NULL));
}

/* Host input is read only into posted buffers: the rest stays in the socket
 * (the sender finds it full), and nothing is lost or reordered. */
static void virtio_console_rx_waits_for_guest_buffers(void)
{
	static uint8_t big[1 << 20];
	uint32_t id, len;
	size_t sent = 0;
	int c;

	REQUIRE(setup());
	c = client(sock1);
	REQUIRE(c >= 0);
	REQUIRE(multiport_up(c));
	CHECK(send(c, "0123456789", 10, 0) == 10);
	pump(10);
	CHECK_EQ(used_idx(4), 0);
	post(4, DBUF, 4, true);
	REQUIRE(wait_used(4, 1));
	REQUIRE(next_used(4, &id, &len));
	CHECK_EQ(len, 4);
	CHECK(memcmp(ram + DBUF, "0123", 4) == 0);
	pump(10);
	CHECK_EQ(used_idx(4), 1);
	post(4, DBUF + 64, 16, true);
	REQUIRE(wait_used(4, 1));
	REQUIRE(next_used(4, &id, &len));
	CHECK_EQ(len, 6);
	CHECK(memcmp(ram + DBUF + 64, "456789", 6) == 0);
	/* With no buffers the VMM stops reading: a megabyte does not fit. */
	for (int i = 0; i < 100; i++) {
		ssize_t r = send(c, big, sizeof(big) - sent, MSG_DONTWAIT);

		if (r > 0)
			sent += (size_t)r;
		pump(1);
	}
	CHECK(sent < sizeof(big));
	close(c);
	pump(5);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* A client leaving while its input waits for the guest: the input stays for the
 * guest, and a new client takes the port (the old input going). One leaving
 * before the driver is up frees the port at once. */
static void virtio_console_client_leaving_while_input_waits(void)
{
	uint32_t id, len;
	char ch;
	int c;

	REQUIRE(setup());
	c = client(sock1);
	REQUIRE(c >= 0);
	REQUIRE(multiport_up(c));
	CHECK(send(c, "left", 4, 0) == 4);
	pump(5);
	close(c);
	CHECK(no_ctrl_message());		/* "left" is still to be read */
	post(4, DBUF, 2, true);
	REQUIRE(wait_used(4, 1));
	REQUIRE(next_used(4, &id, &len));
	CHECK(len == 2 && memcmp(ram + DBUF, "le", 2) == 0);
	c = client(sock1);			/* replaces the one that left */
	REQUIRE(c >= 0);
	CHECK(expect(1, E_PORT_OPEN, 0, NULL));
	CHECK(expect(1, E_PORT_OPEN, 1, NULL));
	CHECK(send(c, "new", 3, 0) == 3);
	post(4, DBUF + 64, 16, true);
	REQUIRE(wait_used(4, 1));
	REQUIRE(next_used(4, &id, &len));
	CHECK(len == 3 && memcmp(ram + DBUF + 64, "new", 3) == 0);
	close(c);
	pump(5);
	CHECK(expect(1, E_PORT_OPEN, 0, NULL));
	/* Before DRIVER_OK nothing is read; a client that comes and goes is let go. */
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	c = client(sock1);
	REQUIRE(c >= 0);
	CHECK(send(c, "x", 1, 0) == 1);
	pump(5);
	close(c);
	pump(5);
	c = client(sock1);
	REQUIRE(c >= 0);
	CHECK(recv(c, &ch, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);	/* accepted, open */
	close(c);
	pump(5);
}

/* A client that does not read holds the guest's chains (not dropped, not
 * buffered without bound); once it reads, every byte arrives in order. */
static void virtio_console_tx_backpressure(void)
{
	static uint8_t got[32 << 16];
	uint16_t done;
	int c;

	REQUIRE(setup());
	c = client(sock1);
	REQUIRE(c >= 0);
	REQUIRE(multiport_up(c));
	for (size_t i = 0; i < (1u << 16); i++)
		ram[BIG + i] = (uint8_t)(i * 7 + (i >> 8));
	for (int i = 0; i < 32; i++)
		post(5, BIG, 1u << 16, false);
	pump(10);
	done = used_idx(5);
	CHECK(done < 32);
	CHECK(client_read(c, got, sizeof(got)));
	CHECK(wait_used(5, 32));
	for (int i = 0; i < 32; i++)
		CHECK(memcmp(got + ((size_t)i << 16), ram + BIG, 1u << 16) == 0);
	/* A client leaving with a chain held gets it returned, unsent. */
	for (int i = 0; i < 32; i++)
		post(5, BIG, 1u << 16, false);
	pump(10);
	close(c);
	q[5].used_seen = used_idx(5);
	pump(10);
	CHECK_EQ(q[5].avail, used_idx(5));
	CHECK(expect(1, E_PORT_OPEN, 0, NULL));
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* A driver breaking the protocol is ignored, never answered with a crash or a
 * reset; the device goes on working. */
static void virtio_console_malicious_control_and_data(void)
{
	uint32_t id, len;
	char buf[8];
	int c;

	REQUIRE(setup());
	c = client(sock1);
	REQUIRE(c >= 0);
	drv_begin(F_MULTIPORT);
	post_ctrl_bufs(16);
	ctrl_out_len(0, E_DEVICE_READY, 1, 4);		/* short: ignored */
	CHECK(no_ctrl_message());
	ctrl_out(1, E_PORT_READY, 1);			/* before any DEVICE_ADD */
	ctrl_out(1, E_PORT_OPEN, 1);
	CHECK(no_ctrl_message());
	ctrl_out(0, E_DEVICE_READY, 1);
	CHECK(expect(0, E_DEVICE_ADD, 1, NULL));
	CHECK(expect(1, E_DEVICE_ADD, 1, NULL));
	ctrl_out(99, E_PORT_READY, 1);			/* no such port */
	ctrl_out(0xffffffff, E_PORT_OPEN, 1);
	ctrl_out(2, E_PORT_READY, 1);			/* a port that was never added */
	ctrl_out(1, 42, 1);				/* no such event */
	ctrl_out(1, E_DEVICE_ADD, 1);			/* the device's event */
	CHECK(no_ctrl_message());
	/* A control chain with a device-writable buffer carries no message. */
	le_put(ram + CTX + 0x800, 1, 4);
	le_put(ram + CTX + 0x804, E_PORT_READY, 2);
	le_put(ram + CTX + 0x806, 1, 2);
	post(3, CTX + 0x800, 8, true);
	CHECK(no_ctrl_message());
	/* Transmit on port 1 before the driver opened it: dropped. */
	memcpy(ram + DBUF, "early", 5);
	post(5, DBUF, 5, false);
	CHECK(client_quiet(c));
	REQUIRE(next_used(5, &id, &len));
	CHECK_EQ(len, 0);
	/* On port 2's queue (no such port) and with a writable buffer: dropped. */
	post(7, DBUF, 5, false);
	post(5, DBUF, 5, true);
	CHECK(client_quiet(c));
	CHECK_EQ(used_idx(7), 1);
	/* A receive buffer the device may not write: returned unused. */
	ctrl_out(1, E_PORT_READY, 1);
	CHECK(expect(1, E_PORT_NAME, 1, "org.test.data"));
	CHECK(expect(1, E_PORT_OPEN, 1, NULL));
	ctrl_out(1, E_PORT_OPEN, 1);
	post(4, DBUF + 64, 8, false);
	CHECK(send(c, "hi", 2, 0) == 2);
	CHECK(wait_used(4, 1));
	REQUIRE(next_used(4, &id, &len));
	CHECK_EQ(len, 0);
	/* And the device still works: the driver writes, the client reads. */
	memcpy(ram + DBUF + 128, "works\n", 6);
	post(5, DBUF + 128, 6, false);
	CHECK(client_read(c, buf, 6) && memcmp(buf, "works\n", 6) == 0);
	close(c);
	pump(5);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* Control receive buffers the device may not write, or too small for the
 * message, are returned empty and the message goes in the next one. */
static void virtio_console_bad_control_buffers_are_skipped(void)
{
	struct cmsg m;

	REQUIRE(setup());
	drv_begin(F_MULTIPORT);
	post(2, CBUF, 256, false);
	post(2, CBUF + 256, 4, true);
	post_ctrl_bufs(2);
	ctrl_out(0, E_DEVICE_READY, 1);
	REQUIRE(ctrl_in(&m));
	CHECK_EQ(m.len, 0);
	REQUIRE(ctrl_in(&m));
	CHECK_EQ(m.len, 0);
	CHECK(expect(0, E_DEVICE_ADD, 1, NULL));
	CHECK(expect(1, E_DEVICE_ADD, 1, NULL));
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* One client at a time: a second connection is closed at once. */
static void virtio_console_one_client_per_port(void)
{
	char ch;
	int c1, c2;

	REQUIRE(setup());
	drv_begin(0);
	c1 = client(sock0);
	c2 = client(sock0);
	REQUIRE(c1 >= 0 && c2 >= 0);
	pump(5);
	CHECK(recv(c2, &ch, 1, MSG_DONTWAIT) == 0);	/* closed by the VMM */
	memcpy(ram + DBUF, "one", 3);
	post(1, DBUF, 3, false);
	CHECK(client_read(c1, &ch, 1) && ch == 'o');
	close(c1);
	close(c2);
	pump(5);
}

/* A reset starts the protocol over; the connection stays. */
static void virtio_console_reset_restarts_protocol(void)
{
	char buf[4];
	int c;

	REQUIRE(setup());
	c = client(sock1);
	REQUIRE(c >= 0);
	REQUIRE(multiport_up(c));
	REQUIRE(multiport_up(c));
	memcpy(ram + DBUF, "again", 5);
	post(5, DBUF, 4, false);
	CHECK(client_read(c, buf, 4) && memcmp(buf, "agai", 4) == 0);
	close(c);
	pump(5);
}

static void virtio_console_bad_configs_are_refused(void)
{
	char opts[512], path[256], file[128], node[32];
	int fd, c;

	REQUIRE(setup());
	REQUIRE(vcon_emu() != NULL);
	snprintf(file, sizeof(file), "%s/plain", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	CHECK(vcon_refused("foo"));				/* no path */
	CHECK(vcon_refused("=/tmp/x.sock"));			/* no name */
	CHECK(vcon_refused("a="));
	snprintf(opts, sizeof(opts), "a=%s", file);		/* not a socket */
	CHECK(vcon_refused(opts));
	CHECK(access(file, F_OK) == 0);				/* and left alone */
	snprintf(opts, sizeof(opts), "a=%s", sock1);		/* in use (by dev) */
	CHECK(vcon_refused(opts));
	CHECK(vcon_refused("a=/nonexistent-dir/a.sock"));
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(opts, sizeof(opts), "a=%s", path);		/* longer than sun_path */
	CHECK(vcon_refused(opts));
	snprintf(opts, sizeof(opts), "a=%s/1.sock,a=%s/2.sock", dir, dir);	/* same name */
	CHECK(vcon_refused(opts));
	snprintf(opts, sizeof(opts), "a=%s/1.sock,b=%s/1.sock", dir, dir);	/* same path */
	CHECK(vcon_refused(opts));
	opts[0] = '\0';
	for (int i = 0; i < 17; i++)				/* 17 ports */
		snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), "%sp%d=%s/p%d",
		    i ? "," : "", i, dir, i);
	CHECK(vcon_refused(opts));
	/* A failed start-up leaves none of its sockets behind. */
	snprintf(path, sizeof(path), "%s/ok.sock", dir);
	snprintf(opts, sizeof(opts), "ok=%s,bad=/nonexistent-dir/b.sock", path);
	CHECK(vcon_refused(opts));
	CHECK(access(path, F_OK) != 0);
	/* Keys as -o would set them. */
	set_config_value_node("vtcon_test.k1", "port.16.name", "a");
	set_config_value_node("vtcon_test.k1", "port.16.path", "/tmp/a");
	CHECK(vcon_create("vtcon_test.k1", NULL) == NULL);
	set_config_value_node("vtcon_test.k2", "port.x.name", "a");
	CHECK(vcon_create("vtcon_test.k2", NULL) == NULL);
	set_config_value_node("vtcon_test.k3", "port.0.name", "a");
	CHECK(vcon_create("vtcon_test.k3", NULL) == NULL);	/* no path */
	set_config_value_node("vtcon_test.k4", "colour", "red");
	CHECK(vcon_create("vtcon_test.k4", NULL) == NULL);
	set_config_value_node("vtcon_test.k5", "port.0.name", "a b");
	set_config_value_node("vtcon_test.k5", "port.0.path", "/tmp/a");
	CHECK(vcon_create("vtcon_test.k5", NULL) == NULL);
	set_config_value_node("vtcon_test.k6", "port.0.name", "a");
	set_config_value_node("vtcon_test.k6", "port.0.path", "/tmp/a");
	set_config_value_node("vtcon_test.k6", "port.0.speed", "fast");
	CHECK(vcon_create("vtcon_test.k6", NULL) == NULL);
	/* Through -s as bhyve parses it. */
	CHECK(pci_parse_slot("28,virtio-console,nopath") != 0);
	unset_config_value("pci.0.28.0.device");
	/* A socket file nobody listens on (left by a run that was killed) is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", dir);
	{
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/stale.sock", dir);
		REQUIRE(s >= 0 && bind(s, (struct sockaddr *)&sun, sizeof(sun)) == 0);
		close(s);
	}
	snprintf(opts, sizeof(opts), "stale=%s", path);
	snprintf(node, sizeof(node), "vtcon_test.%d", node_seq++);
	stale_dev = vcon_create(node, opts);
	CHECK(stale_dev != NULL);
	c = client(path);
	CHECK(c >= 0);
	if (c >= 0)
		close(c);
	unlink(file);
}

/* bhyve's exit path removes the socket files (and only those it made). */
static void virtio_console_exit_removes_sockets(void)
{
	char other[128];
	int fd;

	REQUIRE(setup());
	snprintf(other, sizeof(other), "%s/stale.sock", dir);
	REQUIRE(access(sock0, F_OK) == 0 && access(sock1, F_OK) == 0);
	/* Someone replaced this one with a file of their own: it stays. */
	unlink(other);
	fd = open(other, O_CREAT | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	run_exit_cleanups();
	CHECK(access(sock0, F_OK) != 0);
	CHECK(access(sock1, F_OK) != 0);
	CHECK(access(other, F_OK) == 0);
	unlink(other);
}

/* The end of the suite, as a test: a reset stops each device (status and queue
 * read back 0, and nothing is written to the guest's RAM afterwards), the
 * unmapped BAR reaches no handler, and the socket directory is empty (no socket
 * file left behind) so it can be removed. The devices stay allocated (taken
 * off the bus), so nothing is said about their descriptors. */
static void virtio_console_cleanup(void)
{
	struct pci_devinst *all[] = { dev, stale_dev };
	uint8_t *before = ram != NULL ? malloc(RAM_SIZE) : NULL;

	CHECK(dev != NULL);
	for (size_t i = 0; i < nitems(all); i++) {
		if (all[i] == NULL)
			continue;
		unit_virtio_reset(all[i]);
		unit_virtio_remove(all[i]);
	}
	if (before != NULL)
		memcpy(before, ram, RAM_SIZE);
	pump(5);
	if (before != NULL)
		CHECK_MSG(memcmp(before, ram, RAM_SIZE) == 0, "guest RAM written after the reset");
	free(before);
	if (dir[0] != '\0')
		CHECK_MSG(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
	if (fx_ctx != NULL)
		fake_vm_set_ram(fx_ctx, NULL, 0);
	free(ram);
	ram = NULL;
}

void suite_virtio_console(void)
{
	RUN_DEV(virtio_console_pci_ids_and_config_space);
	RUN_DEV(virtio_console_port0_without_multiport);
	RUN_DEV(virtio_console_multiport_handshake);
	RUN_DEV(virtio_console_control_messages_wait_for_buffers);
	RUN_DEV(virtio_console_rx_waits_for_guest_buffers);
	RUN_DEV(virtio_console_client_leaving_while_input_waits);
	RUN_DEV(virtio_console_tx_backpressure);
	RUN_DEV(virtio_console_malicious_control_and_data);
	RUN_DEV(virtio_console_bad_control_buffers_are_skipped);
	RUN_DEV(virtio_console_one_client_per_port);
	RUN_DEV(virtio_console_reset_restarts_protocol);
	RUN_DEV(virtio_console_bad_configs_are_refused);
	RUN_DEV(virtio_console_exit_removes_sockets);
	RUN_DEV(virtio_console_cleanup);
}
