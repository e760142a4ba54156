/* virtio-net (bhyve/devices/virtio_net.c) driven as a legacy guest driver drives
 * it, with rings in a fake guest RAM, over a backend of the test's own: a
 * SOCK_SEQPACKET socketpair whose far end the test reads and writes, so frames
 * cross exactly as they would through a tap (virtio-net header included) and
 * receive readiness goes through the real event loop.
 *
 * As in test_virtio_blk.c, the devices are made by hand (config nodes
 * "vtnet_test.N", nominal slots 12, 20 and 28, which share slot 4's PIRQ pin)
 * and their BARs unregistered at the end. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/net_backend.h"
#include "config.h"
#include "fake_vmmapi.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"
#include "test.h"
#include "virtio.h"


#define RAM_SIZE	(4u << 20)
#define RING_PFN(q)	(0x10 + 4 * (q))	/* rx 0x10000, tx 0x14000, ctl 0x18000 */
#define BUF_BASE	0x40000
#define BUF_SIZE	0x1000			/* buffer i at BUF_BASE + i * BUF_SIZE */
#define BIG_BASE	0x200000		/* a 128 KiB transmit buffer */
#define RXQ		0
#define TXQ		1
#define MAXQ		7			/* three queue pairs and control */

/* Feature bits and constants as the virtio spec numbers them. */
#define F_CSUM		(1u << 0)
#define F_GUEST_CSUM	(1u << 1)
#define F_MTU		(1u << 3)
#define F_MAC		(1u << 5)
#define F_HOST_TSO4	(1u << 11)
#define F_MRG_RXBUF	(1u << 15)
#define F_STATUS	(1u << 16)
#define F_CTRL_VQ	(1u << 17)
#define F_CTRL_RX	(1u << 18)
#define F_MQ		(1u << 22)
#define F_CTRL_MAC_ADDR	(1u << 23)

/* ---- the test's backend ---- */

struct fakebe {
	int fd, peer;
	struct mevent *me;
	bool rx_on;
	int callbacks;
};
static uint64_t fake_caps;		/* what the next backend made offers */
static struct fakebe *fake_last;	/* the backend made last */
static struct fakebe *fake_queue[MAXQ];	/* a multi-queue backend's queues, in order */
static int fake_nqueues;

static struct fakebe *fb(struct net_backend *be)
{
	return be->priv;
}

static void fake_ready(int fd, void *arg)
{
	struct net_backend *be = arg;

	(void)fd;
	fb(be)->callbacks++;
	be->cb(be->cb_arg);
}

static int fake_init(struct net_backend *be, const char *devname, const char *name,
    const char *node)
{
	struct fakebe *p = fb(be);
	int sv[2];

	(void)devname;
	(void)name;
	(void)node;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	p->fd = sv[0];
	p->peer = sv[1];
	p->me = mevent_add(p->fd, fake_ready, be);
	if (p->me == NULL)
		return -1;
	mevent_disable(p->me);
	fake_last = p;
	fake_nqueues = 0;
	fake_queue[fake_nqueues++] = p;
	if (be->queues > MAXQ / 2)
		be->queues = MAXQ / 2;	/* as a tap opened without multi_queue lowers it to 1 */
	return 0;
}

/* One more queue: a socketpair of its own, as a multi-queue tap gives a descriptor. */
static int fake_open_queue(struct net_backend *be, const char *devname, struct net_backend *first)
{
	int n = fake_nqueues;

	if (fake_init(be, devname, NULL, NULL) != 0)
		return -1;
	be->queues = first->queues;
	fake_queue[0] = fb(first);
	fake_queue[n] = fb(be);
	fake_nqueues = n + 1;
	return 0;
}

/* A gate for the transmit thread: while it is closed a send waits (its batch is
 * out, vs_mtx let go); while gate_log is set, sends and set_cap calls are logged
 * in the order they finish. */
static pthread_mutex_t gate_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_closed, gate_waiting, gate_log;
static char gate_events[128];

static void gate_event(const char *what)
{
	size_t n = strlen(gate_events);

	if (gate_log)
		snprintf(gate_events + n, sizeof(gate_events) - n, "%s;", what);
}

static ssize_t fake_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct msghdr m = { .msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n;

	pthread_mutex_lock(&gate_mtx);
	if (gate_closed) {
		gate_waiting = true;
		pthread_cond_broadcast(&gate_cond);
		while (gate_closed)
			pthread_cond_wait(&gate_cond, &gate_mtx);
	}
	n = sendmsg(fb(be)->fd, &m, MSG_DONTWAIT);
	gate_event("send");
	pthread_mutex_unlock(&gate_mtx);
	return n;
}

static ssize_t fake_peek(struct net_backend *be)
{
	ssize_t n = recv(fb(be)->fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);

	return n < 0 && errno == EAGAIN ? 0 : n;
}

static ssize_t fake_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct msghdr m = { .msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n = recvmsg(fb(be)->fd, &m, MSG_DONTWAIT);
	size_t cap = 0;

	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	for (int i = 0; i < iovcnt; i++)
		cap += iov[i].iov_len;
	return (size_t)n < cap ? n : (ssize_t)cap;
}

static void fake_enable(struct net_backend *be)
{
	fb(be)->rx_on = true;
	mevent_enable(fb(be)->me);
}

static void fake_disable(struct net_backend *be)
{
	fb(be)->rx_on = false;
	mevent_disable(fb(be)->me);
}

static uint64_t fake_get_cap(struct net_backend *be)
{
	(void)be;
	return fake_caps;
}

static int fake_set_cap(struct net_backend *be, uint64_t features, unsigned hdr_len)
{
	char what[16];

	(void)be;
	snprintf(what, sizeof(what), "cap%u", hdr_len);
	pthread_mutex_lock(&gate_mtx);
	gate_event(what);
	pthread_mutex_unlock(&gate_mtx);
	return (features & ~fake_caps) != 0 ? -1 : 0;
}

/* "unittest": multi-queue, as a tap is; "unitsingle": one queue pair, as slirp is. */
#define FAKE_BACKEND(var, name, oq) \
	static const struct net_backend_ops var = { \
		.prefix = name, \
		.priv_size = sizeof(struct fakebe), \
		.init = fake_init, \
		.send = fake_send, \
		.peek_recvlen = fake_peek, \
		.recv = fake_recv, \
		.recv_enable = fake_enable, \
		.recv_disable = fake_disable, \
		.get_cap = fake_get_cap, \
		.set_cap = fake_set_cap, \
		.open_queue = oq, \
	}; \
	NET_BACKEND_SET(var)
FAKE_BACKEND(fake_backend, "unittest", fake_open_queue);
FAKE_BACKEND(fake_single_backend, "unitsingle", NULL);

/* ---- devices and the driver's view of them ---- */

struct netdev {
	struct pci_devinst *pi;
	struct fakebe *be;
};
/* plain: mac=, mtu=9000, no offloads; off: offloads offered, default MAC; none: no backend. */
static struct netdev plain, off, none, again, other, mq;
static struct fakebe *mq_be[MAXQ / 2];	/* mq's queue pairs' backends */
static uint8_t *ram;
static uint16_t io;
static unsigned hdrlen;
static int nq = 3, ctlq = 2;		/* the device drv_begin brought up */
static const uint8_t plain_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

static struct {
	uint16_t n, avail_idx, used_seen, next_desc;
} q[MAXQ];

static const struct pci_devemu *net_emu(void)
{
	return unit_pci_emu("virtio-net");
}

static int node_seq;

/* What pci_parse_slot + init_pci do for one function; NULL when refused. */
static struct pci_devinst *net_create(int slot, const char *opts)
{
	char node[32];

	snprintf(node, sizeof(node), "vtnet_test.%d", node_seq++);
	return unit_pci_create("virtio-net", slot, node, opts);
}

static bool dev_make(struct netdev *d, int slot, const char *opts, uint64_t caps)
{
	if (d->pi != NULL)
		return true;
	fake_caps = caps;
	fake_last = NULL;
	d->pi = net_create(slot, opts);
	d->be = fake_last;
	return d->pi != NULL;
}

static bool setup(void)
{
	if (ram == NULL)
		ram = aligned_alloc(4096, RAM_SIZE);
	if (ram == NULL)
		return false;
	fake_vm_set_ram(fx_ctx, ram, RAM_SIZE);
	set_config_value("name", "testvm");
	return dev_make(&plain, 20, "unittest0,mac=02:11:22:33:44:55,mtu=9000", 0) &&
	    dev_make(&off, 12, "unittest1", F_CSUM | F_GUEST_CSUM | F_HOST_TSO4) &&
	    dev_make(&none, 28, "mac=02:00:00:00:00:01", 0) && plain.be != NULL && off.be != NULL;
}

static uint64_t lreg(int off_, int size)
{
	return port_in((uint16_t)(io + off_), size);
}

static void lreg_out(int off_, int size, uint64_t v)
{
	port_out((uint16_t)(io + off_), size, v);
}

static uint8_t cfg8(int o)
{
	return (uint8_t)lreg(VIRTIO_PCI_CONFIG(false) + o, 1);
}

static uint16_t cfg16(int o)
{
	return (uint16_t)lreg(VIRTIO_PCI_CONFIG(false) + o, 2);
}

static uint8_t drv_status(void)
{
	return (uint8_t)lreg(VIRTIO_PCI_STATUS, 1);
}

static uint8_t *ring(int qi)
{
	return ram + RING_PFN(qi) * 4096ULL;
}

static uint8_t *used_ring(int qi)
{
	return ring(qi) + 2 * 4096;		/* 256 entries: used ring on the third page */
}

static uint16_t used_idx(int qi)
{
	return (uint16_t)le_get(used_ring(qi) + 2, 2);
}

static uint32_t used_len(int qi, uint16_t k)
{
	return (uint32_t)le_get(used_ring(qi) + 8 + 8 * (k % q[qi].n), 4);
}

static uint32_t used_id(int qi, uint16_t k)
{
	return (uint32_t)le_get(used_ring(qi) + 4 + 8 * (k % q[qi].n), 4);
}

/* Resets d and brings it up with these features (of those offered) and fresh rings. */
static void drv_begin(const struct netdev *d, uint32_t features)
{
	uint32_t f;

	io = (uint16_t)d->pi->pi_bar[0].addr;
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	memset(ram, 0, RAM_SIZE);
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	f = features & (uint32_t)lreg(VIRTIO_PCI_HOST_FEATURES, 4);
	lreg_out(VIRTIO_PCI_GUEST_FEATURES, 4, f);
	hdrlen = (f & F_MRG_RXBUF) ? 12 : 10;
	for (nq = 0; nq < MAXQ; nq++) {
		lreg_out(VIRTIO_PCI_QUEUE_SEL, 2, (uint64_t)nq);
		if (lreg(VIRTIO_PCI_QUEUE_NUM, 2) == 0)
			break;
	}
	ctlq = (f & F_MQ) ? nq - 1 : 2;		/* without MQ the control queue is 2 */
	for (int i = 0; i < nq; i++) {
		lreg_out(VIRTIO_PCI_QUEUE_SEL, 2, (uint64_t)i);
		q[i].n = (uint16_t)lreg(VIRTIO_PCI_QUEUE_NUM, 2);
		q[i].avail_idx = q[i].used_seen = q[i].next_desc = 0;
		lreg_out(VIRTIO_PCI_QUEUE_PFN, 4, RING_PFN(i));
	}
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_DRIVER_OK);
}

static uint16_t put_desc(int qi, uint64_t addr, uint32_t len, bool writable)
{
	uint16_t i = q[qi].next_desc++ % q[qi].n;
	uint8_t *p = ring(qi) + 16 * (size_t)i;

	le_put(p, addr, 8);
	le_put(p + 8, len, 4);
	le_put(p + 12, writable ? VRING_DESC_F_WRITE : 0, 2);
	le_put(p + 14, 0, 2);
	return i;
}

static void link_desc(int qi, uint16_t a, uint16_t b)
{
	uint8_t *p = ring(qi) + 16 * (size_t)a;

	le_put(p + 12, le_get(p + 12, 2) | VRING_DESC_F_NEXT, 2);
	le_put(p + 14, b, 2);
}

static void publish(int qi, uint16_t head)
{
	uint8_t *avail = ring(qi) + 16 * (size_t)q[qi].n;

	le_put(avail + 4 + 2 * (q[qi].avail_idx % q[qi].n), head, 2);
	q[qi].avail_idx++;
	le_put(avail + 2, q[qi].avail_idx, 2);
}

static void notify(int qi)
{
	lreg_out(VIRTIO_PCI_QUEUE_NOTIFY, 2, (uint64_t)qi);
}

static uint8_t *buf(int i)
{
	return ram + BUF_BASE + (size_t)BUF_SIZE * i;
}

static uint64_t buf_gpa(int i)
{
	return BUF_BASE + (uint64_t)BUF_SIZE * i;
}

/* Posts n receive buffers of len bytes (buffers first..first+n-1). */
static void post_rx(int first, int n, uint32_t len)
{
	for (int i = first; i < first + n; i++)
		publish(RXQ, put_desc(RXQ, buf_gpa(i), len, true));
	notify(RXQ);
}

/* Pumps the event loop until the ring's used idx reaches want more entries
 * (2 s at most); false if it does not. */
static bool wait_used(int qi, uint16_t want)
{
	uint16_t target = (uint16_t)(q[qi].used_seen + want);

	for (int i = 0; i < 200 && (uint16_t)(used_idx(qi) - target) > 0x8000; i++)
		mevent_poll(10);
	if ((uint16_t)(used_idx(qi) - target) > 0x8000)
		return false;
	q[qi].used_seen = used_idx(qi);
	return true;
}

/* Lets the event loop run a while (for things that must not happen). */
static void pump(int rounds)
{
	for (int i = 0; i < rounds; i++)
		mevent_poll(5);
}

/* A frame from the host side: header (zeros, num_buffers garbage) and an
 * Ethernet frame of len bytes to dst with a pattern after the header. */
static void host_send(const struct netdev *d, const uint8_t *dst, size_t len, uint8_t seed)
{
	uint8_t f[4096] = { 0 };

	memset(f + 10, 0xee, 2);
	memcpy(f + hdrlen, dst, 6);
	memcpy(f + hdrlen + 6, "\x02\x99\x99\x99\x99\x99", 6);
	f[hdrlen + 12] = 0x08;
	for (size_t i = 14; i < len; i++)
		f[hdrlen + i] = (uint8_t)(i * 13 + seed);
	CHECK_EQ(send(d->be->peer, f, hdrlen + len, 0), hdrlen + len);
}

/* The frame as host_send made it, from byte 14 on, is at p? */
static bool frame_ok(const uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 14; i < len; i++)
		if (p[i] != (uint8_t)(i * 13 + seed))
			return false;
	return true;
}

/* What the host side received: its length, or -1 when nothing came. */
static ssize_t host_recv(const struct netdev *d, uint8_t *b, size_t len)
{
	ssize_t n = recv(d->be->peer, b, len, MSG_DONTWAIT);

	return n < 0 ? -1 : n;
}

/* A control command: class, command, data; the ack byte the device wrote. */
static uint8_t ctl(uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
	uint8_t *c = buf(40), *ack = buf(41);
	uint16_t h, d, a;

	c[0] = cls;
	c[1] = cmd;
	memcpy(c + 2, data, len);
	*ack = 0xee;
	h = put_desc(ctlq, buf_gpa(40), 2, false);
	d = put_desc(ctlq, buf_gpa(40) + 2, len, false);
	a = put_desc(ctlq, buf_gpa(41), 1, true);
	link_desc(ctlq, h, d);
	link_desc(ctlq, d, a);
	publish(ctlq, h);
	notify(ctlq);
	if (!wait_used(ctlq, 1))
		return 0xee;
	return *ack;
}

/* ---- tests ---- */

static void virtio_net_pci_ids_and_config_space(void)
{
	struct pci_devinst *pi;
	uint32_t f;

	REQUIRE(setup());
	pi = plain.pi;
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_VENDOR), 0x1af4);
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_DEVICE), 0x1000);
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_SUBDEV_0), 1);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_CLASS), 0x02);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_SUBCLASS), 0x00);
	drv_begin(&plain, 0);
	CHECK_EQ(q[RXQ].n, 256);
	CHECK_EQ(q[TXQ].n, 256);
	CHECK_EQ(nq, 3);		/* one pair and control: no MQ without a multi-queue backend */
	CHECK_EQ(q[2].n, 256);
	f = (uint32_t)lreg(VIRTIO_PCI_HOST_FEATURES, 4);
	CHECK_EQ(f & (F_MAC | F_STATUS | F_MRG_RXBUF | F_CTRL_VQ | F_CTRL_RX | F_MTU),
	    F_MAC | F_STATUS | F_MRG_RXBUF | F_CTRL_VQ | F_CTRL_RX | F_MTU);
	CHECK_EQ(f & (F_CSUM | F_GUEST_CSUM | F_HOST_TSO4), 0);	/* the backend has none */
	for (int i = 0; i < 6; i++)
		CHECK_EQ(cfg8(i), plain_mac[i]);
	CHECK_EQ(cfg16(6), 1);		/* link up */
	CHECK_EQ(cfg16(10), 9000);	/* mtu */

	drv_begin(&off, 0);
	f = (uint32_t)lreg(VIRTIO_PCI_HOST_FEATURES, 4);
	CHECK_EQ(f & (F_CSUM | F_GUEST_CSUM | F_HOST_TSO4 | F_MTU), F_CSUM | F_GUEST_CSUM | F_HOST_TSO4);
	CHECK_EQ(cfg16(10), 1500);

	drv_begin(&none, 0);
	CHECK_EQ(cfg16(6), 0);		/* no backend: link down */
	CHECK_EQ(cfg8(0), 0x02);
	CHECK_EQ(cfg8(5), 0x01);
}

/* bhyve's recipe: 58:9c:fc and the first three bytes of MD5("slot-func-vmname"). */
static void virtio_net_default_mac_is_bhyves(void)
{
	/* MD5("12-0-testvm") is e22bfc... (md5sum agrees) */
	static const uint8_t want[6] = { 0x58, 0x9c, 0xfc, 0xe2, 0x2b, 0xfc };
	uint8_t mac[6];

	REQUIRE(setup());
	drv_begin(&off, 0);
	for (int i = 0; i < 6; i++)
		mac[i] = cfg8(i);
	CHECK(memcmp(mac, want, 6) == 0);
	/* Stable: the same slot and name give the same address; another slot another. */
	REQUIRE(dev_make(&again, 12, "unittest9", 0));
	io = (uint16_t)again.pi->pi_bar[0].addr;
	for (int i = 0; i < 6; i++)
		CHECK_EQ(cfg8(i), want[i]);
	REQUIRE(dev_make(&other, 13, "unittest9", 0));
	io = (uint16_t)other.pi->pi_bar[0].addr;
	CHECK_EQ(cfg8(0), 0x58);
	CHECK(cfg8(3) != want[3] || cfg8(4) != want[4] || cfg8(5) != want[5]);
}

static void virtio_net_transmit_reaches_the_backend(void)
{
	uint8_t got[256], *h = buf(0), *f = buf(1);
	uint16_t d0, d1;

	REQUIRE(setup());
	drv_begin(&plain, F_MAC | F_MRG_RXBUF);
	memset(h, 0, 12);
	le_put(h + 10, 0x7777, 2);	/* num_buffers: the device must not pass it on */
	for (int i = 0; i < 60; i++)
		f[i] = (uint8_t)(i + 1);
	d0 = put_desc(TXQ, buf_gpa(0), 12, false);
	d1 = put_desc(TXQ, buf_gpa(1), 60, false);
	link_desc(TXQ, d0, d1);
	publish(TXQ, d0);
	notify(TXQ);
	REQUIRE(wait_used(TXQ, 1));
	CHECK_EQ(used_id(TXQ, 0), d0);
	CHECK_EQ(used_len(TXQ, 0), 0);
	CHECK_EQ(host_recv(&plain, got, sizeof(got)), 72);
	CHECK_EQ(le_get(got + 10, 2), 0);
	CHECK(memcmp(got + 12, f, 60) == 0);
	/* The header and the frame in one buffer (any layout) work as well. */
	memcpy(buf(2), h, 12);
	memcpy(buf(2) + 12, f, 60);
	publish(TXQ, put_desc(TXQ, buf_gpa(2), 72, false));
	notify(TXQ);
	REQUIRE(wait_used(TXQ, 1));
	CHECK_EQ(host_recv(&plain, got, sizeof(got)), 72);
	CHECK(memcmp(got + 12, f, 60) == 0);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static void *gate_open_later(void *arg)
{
	(void)arg;
	usleep(200 * 1000);
	pthread_mutex_lock(&gate_mtx);
	gate_closed = false;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_mtx);
	return NULL;
}

/* A frame taken with a 10-byte header is still being sent when the driver
 * resets the device and comes back with a 12-byte one: the backend learns the
 * new length only after that send (else a tap would cut the frame by it). */
static void virtio_net_new_header_length_waits_for_a_send(void)
{
	struct timespec until;
	pthread_t opener;
	uint8_t got[256];
	bool inside;

	REQUIRE(setup());
	drv_begin(&plain, F_MAC);
	memset(buf(0), 0, 10);
	memset(buf(0) + 10, 0x5a, 60);
	pthread_mutex_lock(&gate_mtx);
	gate_closed = gate_log = true;
	gate_waiting = false;
	gate_events[0] = '\0';
	pthread_mutex_unlock(&gate_mtx);
	publish(TXQ, put_desc(TXQ, buf_gpa(0), 70, false));
	notify(TXQ);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&gate_mtx);
	while (!gate_waiting && pthread_cond_timedwait(&gate_cond, &gate_mtx, &until) == 0)
		;
	inside = gate_waiting;
	if (!inside)
		gate_closed = false;
	pthread_mutex_unlock(&gate_mtx);
	REQUIRE(inside);
	REQUIRE(pthread_create(&opener, NULL, gate_open_later, NULL) == 0);
	drv_begin(&plain, F_MAC | F_MRG_RXBUF);
	notify(RXQ);			/* the device applies the driver's features */
	pthread_join(opener, NULL);
	pthread_mutex_lock(&gate_mtx);
	CHECK_STR(gate_events, "cap10;send;cap12;");
	gate_log = false;
	pthread_mutex_unlock(&gate_mtx);
	CHECK_EQ(host_recv(&plain, got, sizeof(got)), 70);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static void virtio_net_bad_transmit_chains_are_dropped(void)
{
	uint8_t got[256];
	uint16_t d0, d1;

	REQUIRE(setup());
	drv_begin(&plain, F_MAC | F_MRG_RXBUF);
	/* Shorter than the 12-byte header. */
	publish(TXQ, put_desc(TXQ, buf_gpa(0), 8, false));
	/* A header and no Ethernet header. */
	publish(TXQ, put_desc(TXQ, buf_gpa(0), 20, false));
	/* Longer than 64 KiB, inside guest RAM. */
	publish(TXQ, put_desc(TXQ, BIG_BASE, 100000, false));
	/* A device-writable buffer in a transmit chain. */
	publish(TXQ, put_desc(TXQ, buf_gpa(0), 72, true));
	/* Segmentation offload that was not negotiated. */
	memset(buf(1), 0, 72);
	buf(1)[1] = 1;		/* GSO_TCPV4 */
	publish(TXQ, put_desc(TXQ, buf_gpa(1), 72, false));
	/* A checksum offload that was not negotiated. */
	memset(buf(2), 0, 72);
	buf(2)[0] = 1;		/* NEEDS_CSUM */
	publish(TXQ, put_desc(TXQ, buf_gpa(2), 72, false));
	notify(TXQ);
	REQUIRE(wait_used(TXQ, 6));
	CHECK_EQ(host_recv(&plain, got, sizeof(got)), -1);	/* none of them sent */
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	/* A good one still goes. */
	memset(buf(3), 0, 72);
	publish(TXQ, put_desc(TXQ, buf_gpa(3), 72, false));
	notify(TXQ);
	REQUIRE(wait_used(TXQ, 1));
	CHECK_EQ(host_recv(&plain, got, sizeof(got)), 72);
	/* A length running past guest RAM: the device needs a reset, the VMM goes on. */
	d0 = put_desc(TXQ, buf_gpa(0), 12, false);
	d1 = put_desc(TXQ, RAM_SIZE - 16, 0xfffffff0u, false);
	link_desc(TXQ, d0, d1);
	publish(TXQ, d0);
	notify(TXQ);
	/* Transmit runs on the device's own thread: give it a moment. */
	for (int i = 0; i < 200 && !(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET); i++)
		pump(1);
	CHECK(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(host_recv(&plain, got, sizeof(got)), -1);
	/* And after a reset it works again. */
	drv_begin(&plain, F_MAC);
	memset(buf(3), 0, 70);
	publish(TXQ, put_desc(TXQ, buf_gpa(3), 70, false));
	notify(TXQ);
	REQUIRE(wait_used(TXQ, 1));
	CHECK_EQ(host_recv(&plain, got, sizeof(got)), 70);
}

static void virtio_net_offloads_pass_when_negotiated(void)
{
	uint8_t got[256];

	REQUIRE(setup());
	drv_begin(&off, F_MAC | F_CSUM | F_HOST_TSO4 | F_GUEST_CSUM);
	memset(buf(0), 0, 80);
	buf(0)[0] = 1;		/* NEEDS_CSUM */
	buf(0)[1] = 1;		/* GSO_TCPV4 */
	le_put(buf(0) + 4, 1448, 2);
	publish(TXQ, put_desc(TXQ, buf_gpa(0), 80, false));
	notify(TXQ);
	REQUIRE(wait_used(TXQ, 1));
	CHECK_EQ(host_recv(&off, got, sizeof(got)), 80);
	CHECK_EQ(got[0], 1);
	CHECK_EQ(got[1], 1);
	CHECK_EQ(le_get(got + 4, 2), 1448);
}

static void virtio_net_receive_fills_a_buffer(void)
{
	uint8_t *p = buf(0);

	REQUIRE(setup());
	drv_begin(&plain, F_MAC | F_MRG_RXBUF);
	post_rx(0, 4, 2048);
	host_send(&plain, plain_mac, 100, 3);
	REQUIRE(wait_used(RXQ, 1));
	CHECK_EQ(used_id(RXQ, 0), 0);
	CHECK_EQ(used_len(RXQ, 0), 112);
	CHECK_EQ(le_get(p + 10, 2), 1);		/* num_buffers */
	CHECK_EQ(p[0], 0);
	CHECK(memcmp(p + 12, plain_mac, 6) == 0);
	CHECK(frame_ok(p + 12, 100, 3));
	/* A broadcast too, into the next buffer. */
	host_send(&plain, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 60, 4);
	REQUIRE(wait_used(RXQ, 1));
	CHECK_EQ(used_id(RXQ, 1), 1);
	CHECK(frame_ok(buf(1) + 12, 60, 4));
}

static void virtio_net_receive_merges_buffers(void)
{
	REQUIRE(setup());
	drv_begin(&plain, F_MAC | F_MRG_RXBUF);
	post_rx(0, 8, 256);
	host_send(&plain, plain_mac, 1000, 5);	/* 1012 bytes: 256 + 256 + 256 + 244 */
	REQUIRE(wait_used(RXQ, 4));
	CHECK_EQ(le_get(buf(0) + 10, 2), 4);
	for (uint16_t k = 0; k < 3; k++)
		CHECK_EQ(used_len(RXQ, k), 256);
	CHECK_EQ(used_len(RXQ, 3), 244);
	{
		uint8_t whole[1012];

		for (int i = 0; i < 4; i++)
			memcpy(whole + 256 * i, buf(i), i < 3 ? 256 : 244);
		CHECK(memcmp(whole + 12, plain_mac, 6) == 0);
		CHECK(frame_ok(whole + 12, 1000, 5));
	}
	/* A frame bigger than the buffers left waits until more come, then arrives whole. */
	host_send(&plain, plain_mac, 1400, 6);	/* 1412 bytes: 6 buffers, 4 posted */
	pump(10);
	CHECK_EQ(used_idx(RXQ), 4);
	CHECK(!plain.be->rx_on);
	post_rx(8, 4, 256);
	REQUIRE(wait_used(RXQ, 6));
	CHECK_EQ(le_get(buf(4) + 10, 2), 6);
	CHECK_EQ(used_len(RXQ, 9), 1412 - 5 * 256);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static void virtio_net_receive_without_buffers_waits(void)
{
	int before;

	REQUIRE(setup());
	drv_begin(&plain, F_MAC | F_MRG_RXBUF);
	notify(RXQ);			/* a driver that kicks with nothing posted */
	host_send(&plain, plain_mac, 80, 7);
	pump(5);
	CHECK(!plain.be->rx_on);	/* turned off, not spinning on a ready socket */
	before = plain.be->callbacks;
	pump(10);
	CHECK_EQ(plain.be->callbacks, before);
	CHECK_EQ(used_idx(RXQ), 0);
	post_rx(0, 1, 2048);
	REQUIRE(wait_used(RXQ, 1));
	CHECK(frame_ok(buf(0) + 12, 80, 7));
}

static void virtio_net_receive_without_mergeable_truncates(void)
{
	REQUIRE(setup());
	drv_begin(&plain, F_MAC);		/* 10-byte header, one chain per frame */
	post_rx(0, 1, 64);
	post_rx(1, 1, 4);			/* too small even for the header */
	post_rx(2, 1, 2048);
	host_send(&plain, plain_mac, 200, 8);
	host_send(&plain, plain_mac, 90, 9);
	REQUIRE(wait_used(RXQ, 3));
	CHECK_EQ(used_id(RXQ, 0), 0);
	CHECK_EQ(used_len(RXQ, 0), 64);		/* cut short, not overflowed */
	CHECK_EQ(used_id(RXQ, 1), 1);
	CHECK_EQ(used_len(RXQ, 1), 0);		/* returned empty */
	CHECK_EQ(used_id(RXQ, 2), 2);
	CHECK_EQ(used_len(RXQ, 2), 100);
	CHECK(frame_ok(buf(2) + 10, 90, 9));
	CHECK_EQ(buf(0)[64], 0);		/* nothing written past the 64 bytes */
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static void virtio_net_control_queue_sets_the_filter(void)
{
	static const uint8_t other[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	static const uint8_t newmac[6] = { 0x02, 0x01, 0x02, 0x03, 0x04, 0x05 };
	uint8_t off_ = 0, on = 1, tab[4 + 6 + 4], bad[8] = { 0xff, 0xff, 0xff, 0xff };

	REQUIRE(setup());
	drv_begin(&plain, F_MAC | F_MRG_RXBUF | F_CTRL_VQ | F_CTRL_RX | F_CTRL_MAC_ADDR);
	post_rx(0, 16, 2048);
	/* Promiscuous until the driver says otherwise. */
	host_send(&plain, other, 60, 1);
	REQUIRE(wait_used(RXQ, 1));
	CHECK_EQ(ctl(0, 0, &off_, 1), 0);		/* RX_PROMISC off */
	host_send(&plain, other, 60, 2);		/* not for us: dropped */
	host_send(&plain, mcast, 60, 3);		/* multicast not asked for: dropped */
	host_send(&plain, plain_mac, 60, 4);		/* ours */
	REQUIRE(wait_used(RXQ, 1));
	CHECK(frame_ok(buf(1) + 12, 60, 4));
	CHECK_EQ(ctl(0, 1, &on, 1), 0);			/* RX_ALLMULTI on */
	host_send(&plain, mcast, 60, 5);
	REQUIRE(wait_used(RXQ, 1));
	CHECK(frame_ok(buf(2) + 12, 60, 5));
	/* MAC_TABLE_SET: one unicast address, no multicast. */
	le_put(tab, 1, 4);
	memcpy(tab + 4, other, 6);
	le_put(tab + 10, 0, 4);
	CHECK_EQ(ctl(1, 0, tab, sizeof(tab)), 0);
	host_send(&plain, other, 60, 6);
	REQUIRE(wait_used(RXQ, 1));
	CHECK(frame_ok(buf(3) + 12, 60, 6));
	/* MAC_ADDR_SET: the new address is in config space and receives. */
	CHECK_EQ(ctl(1, 1, newmac, 6), 0);
	CHECK_EQ(cfg8(1), 0x01);
	CHECK_EQ(cfg8(5), 0x05);
	host_send(&plain, newmac, 60, 7);
	REQUIRE(wait_used(RXQ, 1));
	CHECK(frame_ok(buf(4) + 12, 60, 7));
	/* Malformed or unknown commands are refused with VIRTIO_NET_ERR. */
	CHECK_EQ(ctl(1, 0, bad, sizeof(bad)), 1);	/* a table count past the data */
	CHECK_EQ(ctl(0, 0, tab, 3), 1);			/* RX_PROMISC with 3 data bytes */
	CHECK_EQ(ctl(9, 0, &on, 1), 1);			/* no such class */
	CHECK_EQ(ctl(1, 1, newmac, 5), 1);		/* a short address */
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	/* A reset brings back the configured address and promiscuous mode. */
	drv_begin(&plain, F_MAC | F_MRG_RXBUF);
	CHECK_EQ(cfg8(1), plain_mac[1]);
	post_rx(0, 1, 2048);
	host_send(&plain, other, 60, 8);
	REQUIRE(wait_used(RXQ, 1));
}

static void virtio_net_without_backend_drops_frames(void)
{
	REQUIRE(setup());
	drv_begin(&none, F_MAC | F_MRG_RXBUF);
	memset(buf(0), 0, 72);
	publish(TXQ, put_desc(TXQ, buf_gpa(0), 72, false));
	notify(TXQ);
	REQUIRE(wait_used(TXQ, 1));
	post_rx(1, 2, 2048);
	pump(5);
	CHECK_EQ(used_idx(RXQ), 0);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* A frame from the host side into queue pair k's backend (as host_send does). */
static void host_send_q(int k, const uint8_t *dst, uint8_t seed)
{
	struct netdev d = { mq.pi, mq_be[k] };

	host_send(&d, dst, 60, seed);
}

/* A frame into pair k's backend arrives in receive queue qi, in buffer b? */
static bool mq_delivers(int k, int qi, int b, uint8_t seed)
{
	host_send_q(k, plain_mac, seed);
	return wait_used(qi, 1) && frame_ok(buf(b) + 12, 60, seed);
}

static void post_rx_q(int qi, int first, int n)
{
	for (int i = first; i < first + n; i++)
		publish(qi, put_desc(qi, buf_gpa(i), 2048, true));
	notify(qi);
}

/* Multi-queue: three pairs offered; the driver starts on the first, moves to
 * three and then to two with MQ_VQ_PAIRS_SET; each backend queue fills its
 * own pair's receive queue while the driver uses it and pair (k mod pairs)
 * otherwise; each transmit queue sends through its pair's backend. */
static void virtio_net_multiqueue_pairs(void)
{
	uint8_t pairs[2], out[256];

	REQUIRE(setup());
	fake_caps = 0;
	mq.pi = net_create(21, "unittest2,queues=3");
	REQUIRE(mq.pi != NULL);
	REQUIRE(fake_nqueues == 3);
	for (int k = 0; k < 3; k++)
		mq_be[k] = fake_queue[k];
	mq.be = mq_be[0];
	drv_begin(&mq, F_MAC | F_MRG_RXBUF | F_CTRL_VQ | F_MQ);
	CHECK((lreg(VIRTIO_PCI_HOST_FEATURES, 4) & F_MQ) != 0);
	CHECK_EQ(nq, 7);			/* rx/tx for 3 pairs, control last */
	CHECK_EQ(cfg16(8), 3);			/* max_virtqueue_pairs */
	for (int qi = 0; qi < 6; qi += 2)
		post_rx_q(qi, 8 * qi, 4);
	/* Before MQ_VQ_PAIRS_SET only the first pair is used. */
	CHECK(mq_delivers(2, 0, 0, 1));
	pump(3);
	CHECK_EQ(used_idx(4), 0);
	/* Three pairs: queue 2 fills receive queue 4, queue 1 fills queue 2. */
	le_put(pairs, 3, 2);
	CHECK_EQ(ctl(4, 0, pairs, 2), 0);
	CHECK(mq_delivers(2, 4, 32, 2));
	CHECK(mq_delivers(1, 2, 16, 3));
	CHECK_EQ(used_idx(0), 1);
	/* Two pairs: queue 2's frames go to pair 0 (2 mod 2), none to queue 4. */
	le_put(pairs, 2, 2);
	CHECK_EQ(ctl(4, 0, pairs, 2), 0);
	CHECK(mq_delivers(2, 0, 1, 4));
	CHECK_EQ(used_idx(4), 1);
	/* Out of range, or a short command: VIRTIO_NET_ERR, nothing changes. */
	le_put(pairs, 0, 2);
	CHECK_EQ(ctl(4, 0, pairs, 2), 1);
	le_put(pairs, 4, 2);
	CHECK_EQ(ctl(4, 0, pairs, 2), 1);
	CHECK_EQ(ctl(4, 0, pairs, 1), 1);
	CHECK_EQ(ctl(4, 1, pairs, 2), 1);	/* no such command */
	/* Transmit queue 3 (pair 1) sends through pair 1's backend. */
	memset(buf(60), 0, 12);
	memcpy(buf(60) + 12, "\xff\xff\xff\xff\xff\xff\x02\x11\x22\x33\x44\x55\x08\x00", 14);
	memset(buf(60) + 26, 0x5a, 46);
	publish(3, put_desc(3, buf_gpa(60), 72, false));
	notify(3);
	REQUIRE(wait_used(3, 1));
	CHECK_EQ(recv(mq_be[1]->peer, out, sizeof(out), MSG_DONTWAIT), 72);
	CHECK_EQ(out[12 + 26], 0x5a);
	CHECK_EQ(recv(mq_be[0]->peer, out, sizeof(out), MSG_DONTWAIT), -1);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	/* Without F_MQ negotiated the control queue is 2 (as with one pair) and the
	 * command is refused; a reset is back to one pair. */
	drv_begin(&mq, F_MAC | F_MRG_RXBUF | F_CTRL_VQ | F_CTRL_RX);
	CHECK_EQ(ctlq, 2);
	le_put(pairs, 2, 2);
	CHECK_EQ(ctl(4, 0, pairs, 2), 1);
	CHECK_EQ(ctl(0, 0, pairs, 1), 0);	/* RX_PROMISC: answered on queue 2 */
	post_rx_q(0, 0, 2);
	CHECK(mq_delivers(1, 0, 0, 5));
}

static bool net_refused(const char *opts)
{
	return net_create(29, opts) == NULL;
}

static void virtio_net_bad_configs_are_refused(void)
{
	REQUIRE(net_emu() != NULL);
	CHECK(net_refused("unittest0,mac=01:00:5e:00:00:01"));	/* multicast */
	CHECK(net_refused("unittest0,mac=00:00:00:00:00:00"));
	CHECK(net_refused("unittest0,mac=02:00:00:00:00"));
	CHECK(net_refused("unittest0,mac=zz:00:00:00:00:00"));
	CHECK(net_refused("unittest0,mac=02:00:00:00:00:01:02"));	/* 7 octets */
	CHECK(net_refused("unittest0,mac=02:00:00:00:00:01x"));
	CHECK(net_refused("unittest0,mac=02:00:00:00:00:01:"));
	CHECK(net_refused("unittest0,mac=002:00:00:00:00:01"));
	CHECK(net_refused("unittest0,mac=02::00:00:00:00:01"));
	CHECK(net_refused("unittest0,mac=02-00-00-00-00-01"));
	CHECK(net_refused("unittest0,mtu=67"));
	CHECK(net_refused("unittest0,mtu=65536"));
	CHECK(net_refused("unittest0,mtu=big"));
	CHECK(net_refused("unittest0,queues=0"));
	CHECK(net_refused("unittest0,queues=9"));
	CHECK(net_refused("unittest0,queues=two"));
	CHECK(net_refused("unitsingle0,queues=2"));	/* a backend with one pair */
	CHECK(net_refused("unittest0,colour=red"));
	CHECK(net_refused("nosuchbackend0"));
	CHECK(net_refused("tapx"));
	CHECK(net_refused("tap"));
	CHECK(net_refused("tap="));
	CHECK(net_refused("tap=a/b"));
	CHECK(net_refused("tap=abcdefghijklmnop"));	/* 16 characters */
	CHECK(net_refused("vmnet"));
	CHECK(net_refused("tap0,hostfwd=tcp::22-:22"));
	/* Through -s as bhyve parses it. */
	CHECK(pci_parse_slot("29,virtio-net,tap0,bogus=1") != 0);
	unset_config_value("pci.0.29.0.device");
	unset_config_value("pci.0.29.0.backend");
	unset_config_value("pci.0.29.0.bogus");
}

/* The end of the suite, as a test: a reset stops each device (status and queue
 * read back 0, its backend's receiving is off: a frame then waiting wakes
 * nothing, and nothing is written to the guest's RAM afterwards) and the
 * unmapped BAR reaches no handler. The devices stay allocated (taken off
 * the bus, pe_deinit joins the transmit thread), so nothing is said about their
 * descriptors. */
static void virtio_net_cleanup(void)
{
	struct netdev *all[] = { &plain, &off, &none, &again, &other, &mq };
	uint8_t *before = ram != NULL ? malloc(RAM_SIZE) : NULL;
	static const uint8_t frame[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
	int callbacks[nitems(all)];

	CHECK(plain.pi != NULL && plain.be != NULL);
	for (size_t i = 0; i < nitems(all); i++) {
		callbacks[i] = 0;
		if (all[i]->pi == NULL)
			continue;
		unit_virtio_reset(all[i]->pi);
		if (all[i]->be != NULL) {
			CHECK(!all[i]->be->rx_on);
			callbacks[i] = all[i]->be->callbacks;
			CHECK_EQ(send(all[i]->be->peer, frame, sizeof(frame), MSG_DONTWAIT),
			    sizeof(frame));
		}
		unit_virtio_remove(all[i]->pi);
	}
	if (before != NULL)
		memcpy(before, ram, RAM_SIZE);
	pump(5);
	if (before != NULL)
		CHECK_MSG(memcmp(before, ram, RAM_SIZE) == 0, "guest RAM written after the reset");
	free(before);
	for (size_t i = 0; i < nitems(all); i++) {
		if (all[i]->pi != NULL && all[i]->be != NULL)
			CHECK_MSG(all[i]->be->callbacks == callbacks[i],
			    "device %zu: backend woke %d times after the reset", i,
			    all[i]->be->callbacks - callbacks[i]);
	}
	unset_config_value("name");
	if (fx_ctx != NULL)
		fake_vm_set_ram(fx_ctx, NULL, 0);
	free(ram);
	ram = NULL;
}

void suite_virtio_net(void)
{
	RUN_DEV(virtio_net_pci_ids_and_config_space);
	RUN_DEV(virtio_net_default_mac_is_bhyves);
	RUN_DEV(virtio_net_transmit_reaches_the_backend);
	RUN_DEV(virtio_net_new_header_length_waits_for_a_send);
	RUN_DEV(virtio_net_bad_transmit_chains_are_dropped);
	RUN_DEV(virtio_net_offloads_pass_when_negotiated);
	RUN_DEV(virtio_net_receive_fills_a_buffer);
	RUN_DEV(virtio_net_receive_merges_buffers);
	RUN_DEV(virtio_net_receive_without_buffers_waits);
	RUN_DEV(virtio_net_receive_without_mergeable_truncates);
	RUN_DEV(virtio_net_control_queue_sets_the_filter);
	RUN_DEV(virtio_net_without_backend_drops_frames);
	RUN_DEV(virtio_net_multiqueue_pairs);
	RUN_DEV(virtio_net_bad_configs_are_refused);
	RUN_DEV(virtio_net_cleanup);
}
