/* The slirp network backend (bhyve/backends/net_slirp.c), driven through its ops
 * as virtio-net drives it: frames written by hand as a guest would send them
 * (ARP, DHCP, ICMP, TCP), and the frames libslirp answers with read back on the
 * main event loop (mevent_poll, the fixture's epoll). The struct net_backend is
 * built here, as netbe_open would build it. Config nodes "slirp_test.*". */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backends/net_backend.h"
#include "config.h"
#include "mevent.h"
#include "sandbox.h"
#include "test.h"
#include "util.h"

SET_DECLARE(net_backend_set, const struct net_backend_ops);

#define GUEST_IP	0x0a00020fu
#define HOST_IP		0x0a000202u
#define DNS_IP		0x0a000203u
#define ETH_ARP		0x0806
#define ETH_IP		0x0800

static const uint8_t guest_mac[6] = { 0x58, 0x9c, 0xfc, 0x00, 0x00, 0x01 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static int rx_calls;

static void rx_ready(void *arg)
{
	(*(int *)arg)++;
}

static const struct net_backend_ops *slirp_ops(void)
{
	const struct net_backend_ops **opp;

	SET_FOREACH(opp, net_backend_set) {
		if (strcmp((*opp)->prefix, "slirp") == 0)
			return *opp;
	}
	return NULL;
}

/* As netbe_open does it: the struct, zeroed private bytes, then init. */
static struct net_backend *be_open_name(const char *node, const char *name)
{
	const struct net_backend_ops *ops = slirp_ops();
	struct net_backend *be;

	if (ops == NULL)
		return NULL;
	be = xcalloc(1, sizeof(*be));
	be->ops = ops;
	be->cb = rx_ready;
	be->cb_arg = &rx_calls;
	be->priv = xcalloc(1, ops->priv_size);
	if (ops->init(be, "virtio-net", name, node) != 0) {
		ops->cleanup(be);	/* harmless after a failed init */
		free(be->priv);
		free(be);
		return NULL;
	}
	return be;
}

static struct net_backend *be_open(const char *node)
{
	return be_open_name(node, "slirp");
}

static void be_close(struct net_backend *be)
{
	if (be == NULL)
		return;
	be->ops->cleanup(be);
	free(be->priv);
	free(be);
}

static ssize_t be_send(struct net_backend *be, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return be->ops->send(be, &iov, 1);
}

static ssize_t be_recv(struct net_backend *be, uint8_t *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return be->ops->recv(be, &iov, 1);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Receives frames (header included) on the main loop until match accepts one;
 * returns its length, or 0 after timeout_ms. Others are discarded. */
static size_t wait_frame(struct net_backend *be, uint8_t *buf, size_t cap,
    bool (*match)(const uint8_t *f, size_t len, const void *arg), const void *arg,
    int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	do {
		ssize_t n;

		mevent_poll(10);
		while ((n = be_recv(be, buf, cap)) > 0) {
			size_t h = be->hdr_len;

			if ((size_t)n >= h && match(buf + h, (size_t)n - h, arg))
				return (size_t)n;
		}
	} while (now_ms() < end);
	return 0;
}

static uint16_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t csum(const uint8_t *p, size_t len)
{
	return (uint16_t)~csum_add(0, p, len);
}

static size_t eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, guest_mac, 6);
	be_put(f + 12, type, 2);
	return 14;
}

static size_t arp_request(uint8_t *f, uint32_t target)
{
	size_t n = eth(f, bcast, ETH_ARP);
	uint8_t *a = f + n;

	memset(a, 0, 28);
	be_put(a, 1, 2);		/* Ethernet */
	be_put(a + 2, ETH_IP, 2);
	a[4] = 6;
	a[5] = 4;
	be_put(a + 6, 1, 2);		/* request */
	memcpy(a + 8, guest_mac, 6);
	be_put(a + 14, GUEST_IP, 4);
	be_put(a + 24, target, 4);
	return n + 28;
}

/* An IPv4 header (20 bytes, checksummed) for len bytes of payload. */
static size_t ip_hdr(uint8_t *p, uint8_t proto, uint32_t src, uint32_t dst, size_t len)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	be_put(p + 2, 20 + len, 2);
	be_put(p + 4, 0x1234, 2);
	p[8] = 64;
	p[9] = proto;
	be_put(p + 12, src, 4);
	be_put(p + 16, dst, 4);
	be_put(p + 10, csum(p, 20), 2);
	return 20;
}

static bool is_arp_reply_from(const uint8_t *f, size_t len, const void *arg)
{
	uint32_t from = *(const uint32_t *)arg;

	return len >= 42 && be_get(f + 12, 2) == ETH_ARP && be_get(f + 20, 2) == 2 &&
	    be_get(f + 28, 4) == from;
}

/* ARP for 10.0.2.2 (slirp learns the guest's MAC from it too); its MAC into mac. */
static bool arp_gateway(struct net_backend *be, uint8_t *mac)
{
	uint8_t f[64], r[2048];
	uint32_t from = HOST_IP;

	if (be_send(be, f, arp_request(f, HOST_IP)) <= 0 ||
	    wait_frame(be, r, sizeof(r), is_arp_reply_from, &from, 2000) == 0)
		return false;
	memcpy(mac, r + 22, 6);
	return true;
}

static void net_slirp_is_registered(void)
{
	const struct net_backend_ops *ops = slirp_ops();

	REQUIRE(ops != NULL);
	CHECK(ops->priv_size > 0);
	CHECK(ops->init && ops->cleanup && ops->send && ops->recv && ops->peek_recvlen);
	CHECK(ops->recv_enable && ops->recv_disable && ops->get_cap && ops->set_cap);
}

static void net_slirp_answers_arp_for_the_gateway(void)
{
	struct net_backend *be = be_open("slirp_test.arp");
	uint8_t f[64], r[2048];
	uint32_t from = HOST_IP;
	size_t n;

	REQUIRE(be != NULL);
	CHECK_EQ(be->ops->get_cap(be), 0);
	CHECK_EQ(be->ops->peek_recvlen(be), 0);
	rx_calls = 0;
	CHECK_EQ(be_send(be, f, arp_request(f, HOST_IP)), 42);
	n = wait_frame(be, r, sizeof(r), is_arp_reply_from, &from, 2000);
	CHECK_MSG(n > 0, "no ARP reply for 10.0.2.2");
	if (n > 0) {
		CHECK(memcmp(r, guest_mac, 6) == 0);		/* to us */
		CHECK(memcmp(r + 22, "\0\0\0\0\0\0", 6) != 0);	/* the gateway's MAC */
		CHECK(memcmp(r + 6, r + 22, 6) == 0);		/* sent from it */
		CHECK(memcmp(r + 32, guest_mac, 6) == 0);
		CHECK_EQ(be_get(r + 38, 4), GUEST_IP);
	}
	CHECK_MSG(rx_calls > 0, "the rx callback never ran on the main loop");
	/* And for the DNS forwarder. */
	from = DNS_IP;
	CHECK_EQ(be_send(be, f, arp_request(f, DNS_IP)), 42);
	CHECK_MSG(wait_frame(be, r, sizeof(r), is_arp_reply_from, &from, 2000) > 0,
	    "no ARP reply for 10.0.2.3");
	be_close(be);
}

/* BOOTP/DHCP, as RFC 2131 lays it out. */
#define BOOTP_LEN	300
#define DHCP_COOKIE	0x63825363u

static size_t dhcp_discover(uint8_t *f, uint32_t xid)
{
	size_t n = eth(f, bcast, ETH_IP);
	uint8_t *ip = f + n, *udp = ip + 20, *b = udp + 8;

	memset(b, 0, BOOTP_LEN);
	b[0] = 1;			/* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	be_put(b + 4, xid, 4);
	be_put(b + 10, 0x8000, 2);	/* broadcast */
	memcpy(b + 28, guest_mac, 6);
	be_put(b + 236, DHCP_COOKIE, 4);
	b[240] = 53;			/* message type: DISCOVER */
	b[241] = 1;
	b[242] = 1;
	b[243] = 255;
	be_put(udp, 68, 2);
	be_put(udp + 2, 67, 2);
	be_put(udp + 4, 8 + BOOTP_LEN, 2);
	be_put(udp + 6, 0, 2);		/* no checksum */
	ip_hdr(ip, 17, 0, 0xffffffffu, 8 + BOOTP_LEN);
	return n + 20 + 8 + BOOTP_LEN;
}

static bool is_dhcp_reply(const uint8_t *f, size_t len, const void *arg)
{
	uint32_t xid = *(const uint32_t *)arg;

	return len >= 14 + 20 + 8 + 240 && be_get(f + 12, 2) == ETH_IP && f[23] == 17 &&
	    be_get(f + 34, 2) == 67 && be_get(f + 36, 2) == 68 && f[42] == 2 &&
	    be_get(f + 46, 4) == xid;
}

/* The value of DHCP option code in the reply's options, or -1. */
static int dhcp_option(const uint8_t *f, size_t len, uint8_t code, uint32_t *val)
{
	size_t off = 14 + 20 + 8 + 240;

	while (off + 2 <= len && f[off] != 255) {
		uint8_t c = f[off], l = f[off + 1];

		if (c == 0) {
			off++;
			continue;
		}
		if (off + 2 + l > len)
			break;
		if (c == code) {
			*val = (uint32_t)be_get(f + off + 2, l > 4 ? 4 : l);
			return 0;
		}
		off += 2 + (size_t)l;
	}
	return -1;
}

static void net_slirp_dhcp_offers_10_0_2_15(void)
{
	struct net_backend *be = be_open("slirp_test.dhcp");
	uint8_t f[600], r[2048];
	uint32_t xid = 0x5eed1234, v = 0;
	size_t n;

	REQUIRE(be != NULL);
	CHECK(be_send(be, f, dhcp_discover(f, xid)) > 0);
	n = wait_frame(be, r, sizeof(r), is_dhcp_reply, &xid, 2000);
	CHECK_MSG(n > 0, "no DHCP reply to DISCOVER");
	if (n > 0) {
		CHECK_EQ(be_get(r + 14 + 28 + 16, 4), GUEST_IP);	/* yiaddr */
		CHECK(dhcp_option(r, n, 53, &v) == 0 && v == 2);	/* OFFER */
		CHECK(dhcp_option(r, n, 54, &v) == 0 && v == HOST_IP);	/* server id */
		CHECK(dhcp_option(r, n, 3, &v) == 0 && v == HOST_IP);	/* router */
		CHECK(dhcp_option(r, n, 6, &v) == 0 && v == DNS_IP);	/* DNS */
		CHECK(dhcp_option(r, n, 1, &v) == 0 && v == 0xffffff00u);	/* netmask */
	}
	be_close(be);
}

static size_t icmp_echo(uint8_t *f, const uint8_t *gw_mac, uint32_t dst, uint16_t id,
    uint16_t seq)
{
	size_t n = eth(f, gw_mac, ETH_IP);
	uint8_t *ip = f + n, *ic = ip + 20;

	memset(ic, 0, 8 + 32);
	ic[0] = 8;			/* echo request */
	be_put(ic + 4, id, 2);
	be_put(ic + 6, seq, 2);
	for (int i = 0; i < 32; i++)
		ic[8 + i] = (uint8_t)('a' + i % 26);
	be_put(ic + 2, csum(ic, 40), 2);
	ip_hdr(ip, 1, GUEST_IP, dst, 40);
	return n + 60;
}

static bool is_echo_reply(const uint8_t *f, size_t len, const void *arg)
{
	uint16_t id = *(const uint16_t *)arg;

	return len >= 14 + 20 + 8 && be_get(f + 12, 2) == ETH_IP && f[23] == 1 && f[34] == 0 &&
	    be_get(f + 38, 2) == id;
}

/* libslirp answers pings to its own addresses itself. */
static void net_slirp_answers_ping_to_the_gateway(void)
{
	struct net_backend *be = be_open("slirp_test.icmp");
	uint8_t f[128], r[2048], gw[6];
	uint16_t id = 0xb1e5;
	size_t n;

	REQUIRE(be != NULL);
	REQUIRE(arp_gateway(be, gw));
	CHECK(be_send(be, f, icmp_echo(f, gw, HOST_IP, id, 1)) > 0);
	n = wait_frame(be, r, sizeof(r), is_echo_reply, &id, 2000);
	CHECK_MSG(n > 0, "no ICMP echo reply from 10.0.2.2");
	if (n > 0) {
		CHECK_EQ(be_get(r + 26, 4), HOST_IP);		/* from the gateway */
		CHECK_EQ(be_get(r + 30, 4), GUEST_IP);
		CHECK_EQ(be_get(r + 40, 2), 1);			/* seq */
		CHECK(memcmp(r + 42, f + 42, 32) == 0);		/* the payload, echoed */
		CHECK_EQ(csum(r + 14, 20), 0);
		CHECK_EQ(csum(r + 34, n - 34 < 40 ? n - 34 : 40), 0);
	}
	be_close(be);
}

/* IPv4 fragments never reach libslirp (its reassembly wrote through a wild
 * pointer under the fuzzer): a ping in two fragments, which libslirp would
 * put together and answer, gets nothing; the same ping whole still does. */
static void net_slirp_drops_ipv4_fragments(void)
{
	struct net_backend *be = be_open("slirp_test.frag");
	uint8_t f[128], a[128], b[128], r[2048], gw[6];
	uint16_t id = 0xf4a9;
	size_t n, hl = 14 + 20;

	REQUIRE(be != NULL);
	REQUIRE(arp_gateway(be, gw));
	n = icmp_echo(f, gw, HOST_IP, id, 7);		/* 40 bytes of ICMP */
	/* The first 24 bytes with "more fragments", then the last 16 at offset 24. */
	memcpy(a, f, hl + 24);
	be_put(a + 14 + 2, 20 + 24, 2);
	be_put(a + 14 + 6, 0x2000, 2);
	be_put(a + 14 + 10, 0, 2);
	be_put(a + 14 + 10, csum(a + 14, 20), 2);
	memcpy(b, f, hl);
	memcpy(b + hl, f + hl + 24, 16);
	be_put(b + 14 + 2, 20 + 16, 2);
	be_put(b + 14 + 6, 24 / 8, 2);
	be_put(b + 14 + 10, 0, 2);
	be_put(b + 14 + 10, csum(b + 14, 20), 2);
	CHECK_EQ(be_send(be, a, hl + 24), (ssize_t)(hl + 24));
	CHECK_EQ(be_send(be, b, hl + 16), (ssize_t)(hl + 16));
	CHECK_MSG(wait_frame(be, r, sizeof(r), is_echo_reply, &id, 500) == 0,
	    "a ping in fragments was put together and answered");
	CHECK(be_send(be, f, n) > 0);
	CHECK_MSG(wait_frame(be, r, sizeof(r), is_echo_reply, &id, 2000) > 0,
	    "no answer to the whole ping after the fragments");
	be_close(be);
}

/* Whether something already holds 127.0.0.1:port (for type). */
static bool port_taken(int type, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, type, 0), one = 1;
	bool taken;

	if (s < 0)
		return false;
	/* A TCP connection of the test's own in TIME_WAIT does not hold the port:
	 * only a listener does (SO_REUSEADDR tells the two apart; for UDP it would
	 * share the port with slirp's own SO_REUSEADDR socket). */
	if (type == SOCK_STREAM)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	taken = bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno == EADDRINUSE;
	close(s);
	return taken;
}

struct tcp_match {
	uint16_t dport;
	uint8_t flags;		/* all of these set */
	size_t payload;		/* at least this much data */
};

static bool is_tcp_to_guest(const uint8_t *f, size_t len, const void *arg)
{
	const struct tcp_match *m = arg;
	size_t ihl, doff;

	if (len < 14 + 20 + 20 || be_get(f + 12, 2) != ETH_IP || f[23] != 6 ||
	    be_get(f + 30, 4) != GUEST_IP)
		return false;
	ihl = (size_t)(f[14] & 15) * 4;
	doff = (size_t)(f[14 + ihl + 12] >> 4) * 4;
	return be_get(f + 14 + ihl + 2, 2) == m->dport && (f[14 + ihl + 13] & m->flags) == m->flags &&
	    be_get(f + 16, 2) >= ihl + doff + m->payload;
}

/* A TCP segment from the guest's port gport to (src, sport) with data. */
static size_t tcp_seg(uint8_t *f, const uint8_t *dmac, uint32_t dst, uint16_t sport,
    uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, const void *data, size_t dlen)
{
	size_t n = eth(f, dmac, ETH_IP);
	uint8_t *ip = f + n, *t = ip + 20, pseudo[12];
	uint32_t sum;

	memset(t, 0, 20);
	be_put(t, sport, 2);
	be_put(t + 2, dport, 2);
	be_put(t + 4, seq, 4);
	be_put(t + 8, ack, 4);
	t[12] = 5 << 4;
	t[13] = flags;
	be_put(t + 14, 65535, 2);
	if (dlen > 0)
		memcpy(t + 20, data, dlen);
	be_put(pseudo, GUEST_IP, 4);
	be_put(pseudo + 4, dst, 4);
	pseudo[8] = 0;
	pseudo[9] = 6;
	be_put(pseudo + 10, 20 + dlen, 2);
	sum = csum_add(0, pseudo, 12);
	be_put(t + 16, (uint16_t)~csum_add(sum, t, 20 + dlen), 2);
	ip_hdr(ip, 6, GUEST_IP, dst, 20 + dlen);
	return n + 40 + dlen;
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* hostfwd: a host connect() to the forwarded port becomes a SYN to the guest's
 * port; the guest's answer completes the connection and data flows both ways. */
static void net_slirp_hostfwd_reaches_the_guest(void)
{
	int port = free_port(SOCK_STREAM), uport = free_port(SOCK_DGRAM), s = -1;
	struct tcp_match m = { .dport = 8022, .flags = TCP_SYN };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct net_backend *be;
	uint8_t f[256], r[4096], smac[6];
	char rule[128], got[16] = { 0 };
	uint32_t hseq, gseq = 1000, src;
	uint16_t sport;
	size_t n, ihl;

	REQUIRE(port > 0 && uport > 0);
	snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%d-:8022;udp:127.0.0.1:%d-10.0.2.15:53",
	    port, uport);
	set_config_value_node("slirp_test.fwd", "hostfwd", rule);
	be = be_open("slirp_test.fwd");
	REQUIRE(be != NULL);
	/* Both rules hold their host ports. */
	CHECK(port_taken(SOCK_STREAM, port));
	CHECK(port_taken(SOCK_DGRAM, uport));
	/* Teach slirp the guest's MAC, as a guest's first ARP does. */
	CHECK(arp_gateway(be, smac));

	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	REQUIRE(s >= 0);
	sa.sin_port = htons((uint16_t)port);
	CHECK(connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	n = wait_frame(be, r, sizeof(r), is_tcp_to_guest, &m, 3000);
	CHECK_MSG(n > 0, "no SYN for 10.0.2.15:8022 after connect() to 127.0.0.1:%d", port);
	if (n == 0)
		goto out;
	CHECK(memcmp(r, guest_mac, 6) == 0);
	CHECK_EQ(r[14 + 20 + 13] & (TCP_SYN | TCP_ACK), TCP_SYN);
	ihl = (size_t)(r[14] & 15) * 4;
	memcpy(smac, r + 6, 6);
	sport = (uint16_t)be_get(r + 14 + ihl, 2);
	hseq = (uint32_t)be_get(r + 14 + ihl + 4, 4);
	src = (uint32_t)be_get(r + 26, 4);

	/* SYN-ACK from the guest; then the host's bytes arrive as data. */
	CHECK(be_send(be, f, tcp_seg(f, smac, src, 8022, sport, gseq, hseq + 1,
	    TCP_SYN | TCP_ACK, NULL, 0)) > 0);
	gseq++;
	for (int i = 0; i < 100 && write(s, "hello", 5) < 0 && errno == EAGAIN; i++)
		mevent_poll(10);
	m.flags = TCP_ACK;
	m.payload = 5;
	n = wait_frame(be, r, sizeof(r), is_tcp_to_guest, &m, 3000);
	CHECK_MSG(n > 0, "the host's bytes did not reach the guest");
	if (n > 0) {
		size_t doff = (size_t)(r[14 + ihl + 12] >> 4) * 4;

		CHECK(memcmp(r + 14 + ihl + doff, "hello", 5) == 0);
		hseq = (uint32_t)be_get(r + 14 + ihl + 4, 4) + 5;
	} else {
		hseq++;
	}
	/* The guest's bytes reach the host's socket. */
	CHECK(be_send(be, f, tcp_seg(f, smac, src, 8022, sport, gseq, hseq, TCP_ACK | TCP_PSH,
	    "world", 5)) > 0);
	for (int64_t end = now_ms() + 3000; now_ms() < end;) {
		mevent_poll(10);
		while (be_recv(be, r, sizeof(r)) > 0)
			;
		if (read(s, got, 5) == 5)
			break;
	}
	CHECK_STR(got, "world");
	gseq += 5;
	CHECK(be_send(be, f, tcp_seg(f, smac, src, 8022, sport, gseq, hseq, TCP_ACK | TCP_FIN,
	    NULL, 0)) > 0);
out:
	if (s >= 0)
		close(s);
	be_close(be);
	/* Cleanup let the ports go. */
	CHECK(!port_taken(SOCK_STREAM, port));
	CHECK(!port_taken(SOCK_DGRAM, uport));
	unset_config_value("slirp_test.fwd.hostfwd");
}

/* Runs init with stderr in a file; returns init's result and what it printed. */
static int init_stderr(const char *node, const char *name, char *msg, size_t len)
{
	char path[] = "/tmp/bhyve-unit-slirp-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO), ok = -1;
	struct net_backend *be;
	ssize_t n;

	msg[0] = '\0';
	if (fd < 0 || saved < 0)
		return -2;
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	be = be_open_name(node, name);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	if (be != NULL) {
		be_close(be);
		ok = 0;
	}
	n = pread(fd, msg, len - 1, 0);
	msg[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return ok;
}

/* Outbound, through the NAT: a guest's SYN to dst:port, a listener on the host's
 * 127.0.0.1:port. With allowed, the SYN-ACK comes from dst and the guest's bytes
 * reach the listener; without, neither happens (libslirp answers a refused
 * connect with a RST, or the frame is dropped). */
static void guest_to_loopback(const char *node, uint32_t dst, bool allowed)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	struct tcp_match m = { .dport = 40000, .flags = TCP_SYN | TCP_ACK };
	struct net_backend *be = be_open(node);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = -1;
	uint8_t f[256], r[2048], gw[6];
	char got[8] = { 0 };
	uint16_t port;
	uint32_t hseq;
	size_t n, ihl;

	REQUIRE(be != NULL && l >= 0);
	REQUIRE(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 1) == 0);
	REQUIRE(getsockname(l, (struct sockaddr *)&sa, &salen) == 0);
	fcntl(l, F_SETFL, O_NONBLOCK);
	port = ntohs(sa.sin_port);
	REQUIRE(arp_gateway(be, gw));
	CHECK(be_send(be, f, tcp_seg(f, gw, dst, 40000, port, 5000, 0, TCP_SYN, NULL, 0)) > 0);
	n = wait_frame(be, r, sizeof(r), is_tcp_to_guest, &m, allowed ? 3000 : 1500);
	if (!allowed) {
		CHECK_MSG(n == 0, "SYN-ACK from %08x:%u: the guest reached the host's loopback",
		    dst, port);
		c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
		CHECK_MSG(c < 0, "slirp connected to 127.0.0.1:%u for a SYN to %08x", port, dst);
		goto out;
	}
	CHECK_MSG(n > 0, "no SYN-ACK from %08x:%u (127.0.0.1 listening)", dst, port);
	if (n > 0) {
		ihl = (size_t)(r[14] & 15) * 4;
		CHECK_EQ(be_get(r + 26, 4), dst);
		CHECK_EQ(be_get(r + 14 + ihl, 2), port);
		CHECK_EQ(be_get(r + 14 + ihl + 8, 4), 5001);		/* our SYN, acked */
		hseq = (uint32_t)be_get(r + 14 + ihl + 4, 4) + 1;
		CHECK(be_send(be, f, tcp_seg(f, gw, dst, 40000, port, 5001, hseq,
		    TCP_ACK | TCP_PSH, "out", 3)) > 0);
		for (int64_t end = now_ms() + 3000; now_ms() < end;) {
			mevent_poll(10);
			while (be_recv(be, r, sizeof(r)) > 0)
				;
			if (c < 0)
				c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
			if (c >= 0 && read(c, got, 3) == 3)
				break;
		}
		CHECK_MSG(c >= 0, "slirp never connected to 127.0.0.1:%u", port);
		CHECK_STR(got, "out");
	}
out:
	if (c >= 0)
		close(c);
	close(l);
	be_close(be);
}

/* Closed by default: neither 10.0.2.2 (libslirp's alias for the host's
 * loopback) nor 127.0.0.1 itself reaches a listener on 127.0.0.1. */
static void net_slirp_host_loopback_is_closed_by_default(void)
{
	guest_to_loopback("slirp_test.closed", HOST_IP, false);
	guest_to_loopback("slirp_test.closed", 0x7f000001u, false);
	set_config_value_node("slirp_test.closed", "hostloopback", "false");
	guest_to_loopback("slirp_test.closed", HOST_IP, false);
	unset_config_value("slirp_test.closed.hostloopback");
}

/* hostloopback=true: 10.0.2.2:P reaches 127.0.0.1:P, as QEMU's user network does. */
static void net_slirp_hostloopback_lets_the_guest_reach_it(void)
{
	char msg[256];

	set_config_value_node("slirp_test.out", "hostloopback", "true");
	guest_to_loopback("slirp_test.out", HOST_IP, true);
	guest_to_loopback("slirp_test.out", 0x7f000001u, true);
	set_config_value_node("slirp_test.out", "hostloopback", "sometimes");
	CHECK(init_stderr("slirp_test.out", "slirp", msg, sizeof(msg)) == -1);
	CHECK_MSG(strstr(msg, "hostloopback") != NULL && strchr(msg, '\n') == msg + strlen(msg) - 1,
	    "stderr was \"%s\"", msg);
	unset_config_value("slirp_test.out.hostloopback");
}

/* The local address of the TCP listener on port in /proc/net/tcp (network byte
 * order, as the kernel prints it in hex), or -1 when none listens there. */
static int64_t tcp_listen_addr(int port)
{
	FILE *fp = fopen("/proc/net/tcp", "r");
	char line[256];
	int64_t addr = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned a, p, st;

		if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X", &a, &p, &st) == 3 &&
		    (int)p == port && st == 0x0a)
			addr = a;
	}
	fclose(fp);
	return addr;
}

/* hostfwd without a host address listens on 127.0.0.1 only; 0.0.0.0 is asked for. */
static void net_slirp_hostfwd_defaults_to_loopback(void)
{
	int port = free_port(SOCK_STREAM);
	struct net_backend *be;
	char rule[64];

	REQUIRE(port > 0);
	snprintf(rule, sizeof(rule), "tcp::%d-:22", port);
	set_config_value_node("slirp_test.fwdaddr", "hostfwd", rule);
	be = be_open("slirp_test.fwdaddr");
	REQUIRE(be != NULL);
	CHECK_EQ(tcp_listen_addr(port), htonl(INADDR_LOOPBACK));
	be_close(be);
	CHECK_EQ(tcp_listen_addr(port), -1);
	snprintf(rule, sizeof(rule), "tcp:0.0.0.0:%d-:22", port);
	set_config_value_node("slirp_test.fwdaddr", "hostfwd", rule);
	be = be_open("slirp_test.fwdaddr");
	REQUIRE(be != NULL);
	CHECK_EQ(tcp_listen_addr(port), 0);
	be_close(be);
	unset_config_value("slirp_test.fwdaddr.hostfwd");
}

static void net_slirp_malformed_hostfwd_is_refused(void)
{
	static const char *const bad[] = {
		"tcp:127.0.0.1:2222",			/* no guest side */
		"tcp:127.0.0.1:2222-22",		/* guest side without ':' */
		"sctp::2222-:22",
		"tcp",
		"",
		"tcp:1.2.3:2222-:22",
		"tcp:localhost:2222-:22",
		"tcp::0-:22",
		"tcp::70000-:22",
		"tcp::-:22",
		"tcp::2222-:",
		"tcp::22x2-:22",
		"tcp::2222-:+22",
		"tcp::2222-192.168.1.5:22",		/* outside 10.0.2.0/24 */
		"tcp::2222-:22;",			/* an empty rule */
		"tcp::2222-:22;;udp::2223-:53",
	};
	char msg[512];
	int port = free_port(SOCK_STREAM), busy;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	for (size_t i = 0; i < nitems(bad); i++) {
		set_config_value_node("slirp_test.bad", "hostfwd", bad[i]);
		CHECK_MSG(init_stderr("slirp_test.bad", "slirp", msg, sizeof(msg)) == -1,
		    "hostfwd \"%s\" was accepted", bad[i]);
		CHECK_MSG(strstr(msg, "hostfwd") != NULL && strchr(msg, '\n') == msg + strlen(msg) - 1,
		    "hostfwd \"%s\": stderr was \"%s\", want one line naming hostfwd", bad[i], msg);
	}
	/* A host port already taken: one line saying so. */
	REQUIRE(port > 0);
	busy = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(busy >= 0);
	sa.sin_port = htons((uint16_t)port);
	CHECK(bind(busy, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(busy, 1) == 0);
	snprintf(msg, sizeof(msg), "tcp:127.0.0.1:%d-:22", port);
	set_config_value_node("slirp_test.bad", "hostfwd", msg);
	CHECK(init_stderr("slirp_test.bad", "slirp", msg, sizeof(msg)) == -1);
	CHECK_MSG(strstr(msg, "in use") != NULL, "stderr was \"%s\"", msg);
	close(busy);
	unset_config_value("slirp_test.bad.hostfwd");
	/* mtu outside what libslirp takes. */
	set_config_value_node("slirp_test.bad", "mtu", "65536");
	CHECK(init_stderr("slirp_test.bad", "slirp", msg, sizeof(msg)) == -1);
	CHECK_MSG(strstr(msg, "mtu") != NULL, "stderr was \"%s\"", msg);
	set_config_value_node("slirp_test.bad", "mtu", "9000");
	CHECK(init_stderr("slirp_test.bad", "slirp", msg, sizeof(msg)) == 0);
	CHECK_STR(msg, "");
	unset_config_value("slirp_test.bad.mtu");
	/* Only "slirp" itself names this backend. */
	CHECK(init_stderr("slirp_test.bad", "slirpy", msg, sizeof(msg)) == -1);
	CHECK_MSG(strstr(msg, "slirpy") != NULL, "stderr was \"%s\"", msg);
}

static void net_slirp_vnet_header_is_added_and_stripped(void)
{
	struct net_backend *be = be_open("slirp_test.hdr");
	uint8_t f[64], full[80], r[2048];
	uint32_t from = HOST_IP;
	size_t len, n;

	REQUIRE(be != NULL);
	/* No offloads; only the three header lengths. */
	CHECK(be->ops->set_cap(be, 1u << 0, 12) != 0);		/* CSUM */
	CHECK(be->ops->set_cap(be, 1u << 11, 12) != 0);		/* HOST_TSO4 */
	CHECK(be->ops->set_cap(be, 0, 11) != 0);
	CHECK(be->ops->set_cap(be, 1ull << 15 | 1ull << 32, 12) == 0);	/* MRG_RXBUF, VERSION_1 */
	CHECK_EQ(be->hdr_len, 12);
	/* The frame split across three buffers, the header cut in two. */
	memset(full, 0, 12);
	le_put(full + 10, 1, 2);
	len = arp_request(full + 12, HOST_IP);
	memcpy(f, full + 12, len);
	{
		struct iovec iov[3] = { { full, 7 }, { full + 7, 8 }, { full + 15, len - 3 } };

		CHECK_EQ(be->ops->send(be, iov, 3), 12 + len);
	}
	/* Too short to hold the header and an Ethernet header. */
	CHECK(be->ops->send(be, &(struct iovec){ full, 12 }, 1) < 0 && errno == EINVAL);
	n = wait_frame(be, r, sizeof(r), is_arp_reply_from, &from, 2000);
	CHECK_MSG(n > 0, "no ARP reply with a 12-byte header");
	if (n > 0) {
		uint8_t want[12] = { [10] = 1 };

		CHECK(memcmp(r, want, 12) == 0);	/* zero, num_buffers 1 */
		CHECK(memcmp(r + 12, guest_mac, 6) == 0);
	}
	/* peek_recvlen counts the header; a short buffer truncates and consumes. */
	CHECK(be->ops->set_cap(be, 0, 10) == 0);
	CHECK_EQ(be_send(be, f, 0) < 0, 1);
	{
		uint8_t f10[80];

		memset(f10, 0, 10);
		memcpy(f10 + 10, f, len);
		CHECK_EQ(be_send(be, f10, 10 + len), 10 + len);
	}
	for (int64_t end = now_ms() + 2000; be->ops->peek_recvlen(be) == 0 && now_ms() < end;)
		mevent_poll(10);
	n = (size_t)be->ops->peek_recvlen(be);
	CHECK(n >= 10 + 42);
	memset(r, 0xee, sizeof(r));
	CHECK_EQ(be_recv(be, r, 20), 20);
	CHECK(memcmp(r, "\0\0\0\0\0\0\0\0\0\0", 10) == 0);
	CHECK(memcmp(r + 10, guest_mac, 6) == 0);
	CHECK_EQ(r[20], 0xee);
	CHECK_EQ(be->ops->peek_recvlen(be), 0);
	CHECK_EQ(be_recv(be, r, sizeof(r)), 0);
	/* Back to bare frames. */
	CHECK(be->ops->set_cap(be, 0, 0) == 0);
	CHECK_EQ(be_send(be, f, len), len);
	n = wait_frame(be, r, sizeof(r), is_arp_reply_from, &from, 2000);
	CHECK(n >= 42 && memcmp(r, guest_mac, 6) == 0);
	be_close(be);
}

/* With rx disabled the callback stays quiet and the queue stops growing at its
 * bound; enabling it offers what waits. */
static void net_slirp_rx_queue_is_bounded(void)
{
	struct net_backend *be = be_open("slirp_test.bound");
	uint8_t f[64], r[2048];
	int sent = 0, got = 0;

	REQUIRE(be != NULL);
	be->ops->recv_disable(be);
	rx_calls = 0;
	arp_request(f, HOST_IP);
	for (int i = 0; i < 2000; i++) {
		if (be_send(be, f, 42) == 42)
			sent++;
		else
			CHECK(errno == EAGAIN);
		if (i % 16 == 0)
			usleep(2000);
	}
	for (int i = 0; i < 50; i++)
		mevent_poll(10);
	CHECK_EQ(rx_calls, 0);
	CHECK(be->ops->peek_recvlen(be) > 0);
	be->ops->recv_enable(be);
	for (int i = 0; i < 10 && rx_calls == 0; i++)
		mevent_poll(10);
	CHECK_MSG(rx_calls > 0, "enabling rx did not offer the waiting frames");
	while (be_recv(be, r, sizeof(r)) > 0)
		got++;
	CHECK_MSG(sent > 512, "only %d of 2000 frames were taken", sent);
	CHECK_MSG(got == 512, "%d frames were queued for the guest, want the bound, 512", got);
	be_close(be);
}

/* Frames the guest should never send are refused, not passed on. */
static void net_slirp_refuses_bad_frames(void)
{
	struct net_backend *be = be_open("slirp_test.badf");
	uint8_t *big = xcalloc(1, 70000), gw[6];

	REQUIRE(be != NULL);
	CHECK(be_send(be, big, 10) < 0 && errno == EINVAL);
	CHECK(be_send(be, big, 70000) < 0 && errno == EMSGSIZE);
	/* Garbage of a sane length goes to libslirp, which ignores it. */
	for (int i = 0; i < 100; i++)
		big[i] = (uint8_t)(i * 37);
	CHECK_EQ(be_send(be, big, 100), 100);
	CHECK(arp_gateway(be, gw));
	free(big);
	be_close(be);
}

/* A device takes frames a batch at a time (virtio-net: 256 per pass); what one
 * pass leaves is offered again on the next, with no new traffic to prompt it. */
static struct net_backend *batch_be;
static int batch_calls, batch_taken;

static void take_a_batch(void *arg)
{
	uint8_t r[2048];

	(void)arg;
	batch_calls++;
	for (int i = 0; i < 100; i++)
		if (be_recv(batch_be, r, sizeof(r)) > 0)
			batch_taken++;
}

static void net_slirp_offers_again_what_a_batch_left(void)
{
	static const uint8_t arp[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x58, 0x9c, 0xfc, 0, 0, 1, 0x08, 0x06,
		0, 1, 0x08, 0x00, 6, 4, 0, 1, 0x58, 0x9c, 0xfc, 0, 0, 1, 10, 0, 2, 15,
		0, 0, 0, 0, 0, 0, 10, 0, 2, 2 };
	int sent = 0;

	batch_be = be_open("slirp_test.batch");
	REQUIRE(batch_be != NULL);
	batch_be->cb = take_a_batch;
	batch_calls = batch_taken = 0;
	batch_be->ops->recv_disable(batch_be);
	for (int i = 0; i < 300; i++) {
		if (be_send(batch_be, arp, sizeof(arp)) == (ssize_t)sizeof(arp))
			sent++;
		if (i % 16 == 0)
			usleep(2000);
	}
	usleep(300000);			/* slirp answers every one */
	batch_be->ops->recv_enable(batch_be);
	for (int i = 0; i < 100 && batch_be->ops->peek_recvlen(batch_be) > 0; i++)
		mevent_poll(10);
	CHECK_EQ(sent, 300);
	CHECK_EQ(batch_taken, 300);
	CHECK(batch_calls >= 3);
	CHECK_EQ(batch_be->ops->peek_recvlen(batch_be), 0);
	be_close(batch_be);
}

static bool no_frame(const uint8_t *f, size_t len, const void *arg)
{
	(void)f;
	(void)len;
	(void)arg;
	return false;
}

/* Each thread's /proc status, opened before the sandbox (which lets this thread
 * open nothing but directories) and read again after. */
static int open_task_status(int *fds, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d != NULL && n < max && (e = readdir(d)) != NULL) {
		char path[300];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		if ((fds[n] = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
			n++;
	}
	if (d != NULL)
		closedir(d);
	return n;
}

static int filters_of(int fd)
{
	char buf[4096], *p;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "Seccomp_filters:");
	return p != NULL ? atoi(p + strlen("Seccomp_filters:")) : -1;
}

/* The slirp thread under the sandbox, as in bhyve: started before it, it takes its
 * role when woken, then serves DHCP, makes a UDP socket for a DNS query (reading
 * /etc/resolv.conf) and a TCP one for a connection to 192.0.2.1 (TEST-NET-1: the
 * connect goes nowhere, which is fine). Any call its role lacks kills the child. */
static void slirp_sandboxed(void *arg)
{
	struct net_backend *be = be_open("slirp_test.sandbox");
	uint8_t f[600], r[2048], gw[6];
	uint32_t xid = 0x5eed4321;
	size_t n;
	int fds[8], nfd;

	(void)arg;
	nfd = open_task_status(fds, 8);
	if (be == NULL || nfd < 2 || !arp_gateway(be, gw) || sandbox_init() != 0)
		_exit(CHILD_WRONG);
	sandbox_enter(SANDBOX_LOOP);	/* this thread plays the event loop */
	if (be_send(be, f, dhcp_discover(f, xid)) <= 0 ||
	    wait_frame(be, r, sizeof(r), is_dhcp_reply, &xid, 2000) == 0) {
		fprintf(stderr, "no DHCP reply under the sandbox\n");
		_exit(CHILD_WRONG);
	}
	/* A DNS query to 10.0.2.3: slirp forwards it from a UDP socket of its own. */
	n = eth(f, gw, ETH_IP);
	memset(f + n + 20, 0, 8 + 17);
	be_put(f + n + 20, 40002, 2);
	be_put(f + n + 22, 53, 2);
	be_put(f + n + 24, 8 + 17, 2);
	memcpy(f + n + 28, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01x\x00\x00\x01", 17);
	ip_hdr(f + n, 17, GUEST_IP, DNS_IP, 8 + 17);
	if (be_send(be, f, n + 20 + 8 + 17) <= 0)
		_exit(CHILD_WRONG);
	if (be_send(be, f, tcp_seg(f, gw, 0xc0000201u, 40003, 80, 7000, 0, TCP_SYN, NULL, 0)) <= 0)
		_exit(CHILD_WRONG);
	(void)wait_frame(be, r, sizeof(r), no_frame, NULL, 1500);
	/* The base program and the role's, in this thread and slirp's. */
	for (int i = 0; i < nfd; i++)
		if (filters_of(fds[i]) != 2) {
			fprintf(stderr, "a thread runs under %d seccomp programs, not 2\n",
			    filters_of(fds[i]));
			_exit(CHILD_WRONG);
		}
	_exit(0);
}

static void net_slirp_works_under_its_sandbox_role(void)
{
	char why[128];
	int st = run_in_child(slirp_sandboxed, NULL, false);

	CHECK_MSG(child_ok(st, why, sizeof(why)), why);
}

void suite_net_slirp(void)
{
	RUN(net_slirp_is_registered);
	RUN_DEV(net_slirp_answers_arp_for_the_gateway);
	RUN_DEV(net_slirp_dhcp_offers_10_0_2_15);
	RUN_DEV(net_slirp_answers_ping_to_the_gateway);
	RUN_DEV(net_slirp_drops_ipv4_fragments);
	RUN_DEV(net_slirp_hostfwd_reaches_the_guest);
	RUN_DEV(net_slirp_host_loopback_is_closed_by_default);
	RUN_DEV(net_slirp_hostloopback_lets_the_guest_reach_it);
	RUN_DEV(net_slirp_hostfwd_defaults_to_loopback);
	RUN_DEV(net_slirp_malformed_hostfwd_is_refused);
	RUN_DEV(net_slirp_vnet_header_is_added_and_stripped);
	RUN_DEV(net_slirp_rx_queue_is_bounded);
	RUN_DEV(net_slirp_offers_again_what_a_batch_left);
	RUN_DEV(net_slirp_refuses_bad_frames);
	RUN_DEV(net_slirp_works_under_its_sandbox_role);
}
