/* The tap backend (bhyve/backends/net_tap.c) against a real Linux tap, in a
 * child process with a network namespace of its own (so nothing is left on the
 * host): a packet socket on the tap is the host side. Needs root and
 * /dev/net/tun; skipped with the reason otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/net_backend.h"
#include "config.h"
#include "mevent.h"
#include "test.h"

#define TAP_NAME	"vtnt0"
#define ETYPE		0x88b5		/* IEEE local experimental: nothing else sends it */
#define CHILD_SKIP	77

static const uint8_t mac_guest[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t mac_host[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };

static int rx_calls;

static void rx_ready(void *arg)
{
	(void)arg;
	rx_calls++;
}

static void frame(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint8_t seed)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	be_put(f + 12, ETYPE, 2);
	for (int i = 14; i < 60; i++)
		f[i] = (uint8_t)(i * 3 + seed);
}

/* The next frame of ours the packet socket sees, within 1 s: its length, or -1. */
static ssize_t host_recv(int ps, uint8_t *b, size_t len)
{
	for (int i = 0; i < 20; i++) {
		struct pollfd p = { .fd = ps, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(ps, b, len, 0);
		if (n >= 14 && be_get(b + 12, 2) == ETYPE)
			return n;
	}
	return -1;
}

/* The next frame of ours the backend has, within 1 s (its rx enabled): length or -1. */
static ssize_t be_recv(struct net_backend *be, uint8_t *b, size_t len, size_t hl)
{
	for (int i = 0; i < 20; i++) {
		struct iovec iov = { b, len };
		ssize_t n;

		mevent_poll(50);
		while ((n = netbe_recv(be, &iov, 1)) > 0)
			if ((size_t)n >= hl + 14 && be_get(b + hl + 12, 2) == ETYPE)
				return n;
	}
	return -1;
}

static bool write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	bool ok = f != NULL && fputs(s, f) >= 0;

	if (f != NULL && fclose(f) != 0)
		ok = false;
	return ok;
}

#define WANT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
	exit(CHILD_WRONG); } } while (0)

static void tap_child(void *arg)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	uint8_t out[60], in[256], hdr[12] = { 0 };
	struct iovec iov[2] = { { hdr, 12 }, { out, 60 } };
	struct net_backend *be;
	struct ifreq ifr;
	int ps, s, calls;

	(void)arg;
	if (unshare(CLONE_NEWNET) != 0)
		exit(CHILD_SKIP);
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");	/* less chatter */
	WANT(mevent_init() == 0);	/* an event loop of the child's own */
	set_config_value_node("taptest", "backend", "tap=" TAP_NAME);
	be = netbe_open("taptest", "taptest", 1, rx_ready, NULL);
	WANT(be != NULL);
	WANT((netbe_get_cap(be) & (VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM |
	    VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_GUEST_TSO4)) ==
	    (VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_HOST_TSO4 |
	    VIRTIO_NET_F_GUEST_TSO4));
	WANT(netbe_set_cap(be, 1ULL << 40, 12) != 0);	/* not a tap offload */
	WANT(netbe_set_cap(be, 0, 12) == 0);
	/* The link up, and a packet socket as the host side. */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, TAP_NAME);
	WANT(s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
	ifr.ifr_flags |= IFF_UP;
	WANT(ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
	sll.sll_ifindex = (int)if_nametoindex(TAP_NAME);
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	WANT(ps >= 0 && bind(ps, (struct sockaddr *)&sll, sizeof(sll)) == 0);

	/* Guest to host: the 12-byte header goes to the tap, the frame comes out bare. */
	frame(out, mac_host, mac_guest, 1);
	WANT(netbe_send(be, iov, 2) == 72);
	WANT(host_recv(ps, in, sizeof(in)) == 60);
	WANT(memcmp(in, out, 60) == 0);

	/* Host to guest: readiness through the event loop, the frame behind a header. */
	netbe_rx_enable(be);
	frame(out, mac_guest, mac_host, 2);
	WANT(send(ps, out, 60, 0) == 60);
	WANT(be_recv(be, in, sizeof(in), 12) == 72);
	WANT(rx_calls > 0);
	WANT(in[0] == 0 && in[1] == VIRTIO_NET_HDR_GSO_NONE);
	WANT(memcmp(in + 12, out, 60) == 0);
	/* peek gives the length (header included) and recv the same frame after it. */
	frame(out, mac_guest, mac_host, 3);
	WANT(send(ps, out, 60, 0) == 60);
	for (int i = 0; i < 20 && netbe_peek_recvlen(be) == 0; i++)
		mevent_poll(50);
	WANT(netbe_peek_recvlen(be) >= 26);
	{
		ssize_t len = netbe_peek_recvlen(be);
		struct iovec one = { in, sizeof(in) };

		WANT(netbe_recv(be, &one, 1) == len);
	}

	/* Bare frames (header length 0): the backend adds and strips the tap's header. */
	WANT(netbe_set_cap(be, 0, 0) == 0);
	WANT(netbe_set_cap(be, VIRTIO_NET_F_GUEST_CSUM, 0) != 0);	/* offloads need a header */
	frame(out, mac_host, mac_guest, 4);
	WANT(netbe_send(be, iov + 1, 1) == 60);
	WANT(host_recv(ps, in, sizeof(in)) == 60);
	WANT(memcmp(in, out, 60) == 0);
	frame(out, mac_guest, mac_host, 5);
	WANT(send(ps, out, 60, 0) == 60);
	WANT(be_recv(be, in, sizeof(in), 0) == 60);
	WANT(memcmp(in, out, 60) == 0);

	/* Offloads the guest accepted are agreed with the tap. */
	WANT(netbe_set_cap(be, VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4 |
	    VIRTIO_NET_F_CSUM | VIRTIO_NET_F_HOST_TSO4, 12) == 0);

	/* rx off: the loop no longer calls back, however much waits. */
	netbe_rx_disable(be);
	while (mevent_poll(20) > 0)
		;
	calls = rx_calls;
	frame(out, mac_guest, mac_host, 6);
	WANT(send(ps, out, 60, 0) == 60);
	for (int i = 0; i < 5; i++)
		mevent_poll(20);
	WANT(rx_calls == calls);

	/* A frame the backend already read ahead (peek) leaves the fd with nothing
	 * to read: turning rx back on must still announce it. */
	WANT(netbe_peek_recvlen(be) == 72);	/* frame 6, now held by the backend */
	netbe_rx_enable(be);
	netbe_rx_disable(be);
	for (int i = 0; i < 3; i++)
		mevent_poll(20);
	calls = rx_calls;
	netbe_rx_enable(be);
	for (int i = 0; i < 10 && rx_calls == calls; i++)
		mevent_poll(20);
	WANT(rx_calls > calls);
	{
		struct iovec one = { in, sizeof(in) };

		WANT(netbe_recv(be, &one, 1) == 72);
		WANT(memcmp(in + 12, out, 60) == 0);
	}
	netbe_rx_disable(be);

	/* A tap the backend created goes away with it. */
	netbe_close(be);
	WANT(if_nametoindex(TAP_NAME) == 0);
	exit(0);
}

/* TUNSETIFF on a descriptor of its own (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and
 * extra), and TUNSETPERSIST when asked: 0, or -1 with errno. */
static int tun_set(const char *name, short extra, bool persist)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), r, e;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | extra);
	strcpy(ifr.ifr_name, name);
	r = ioctl(fd, TUNSETIFF, &ifr);
	if (r == 0 && persist)
		r = ioctl(fd, TUNSETPERSIST, 1);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* Multi-queue: a tap the backend creates takes two queues (two descriptors,
 * each sending); one that exists without multi_queue gives one queue, or an
 * error when the queues key asked for more. */
static void tap_mq_child(void *arg)
{
	uint8_t out[60], in[256], hdr[12] = { 0 };
	struct iovec iov[2] = { { hdr, 12 }, { out, 60 } };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct net_backend *be, *be1;
	struct ifreq ifr;
	int s, ps;

	(void)arg;
	/* A sysfs of this network namespace, for the backend's check of who else
	 * has the tap. */
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("sysfs", "/sys", "sysfs", 0, NULL) != 0)
		exit(CHILD_SKIP);
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	WANT(mevent_init() == 0);
	set_config_value_node("tapmq", "backend", "tap=vtmq0");
	be = netbe_open("tapmq", "tapmq", 2, rx_ready, NULL);
	WANT(be != NULL && netbe_max_queues(be) == 2);
	be1 = netbe_open_queue("tapmq", be, rx_ready, NULL);
	WANT(be1 != NULL);
	/* A second user of the same multi-queue tap is refused, as a plain tap's is. */
	set_config_value_node("tapmq2", "backend", "tap=vtmq0");
	WANT(netbe_open("tapmq2", "tapmq2", 2, rx_ready, NULL) == NULL);
	/* The kernel made it a multi-queue tap: a plain open of it is refused. */
	WANT(tun_set("vtmq0", 0, false) != 0 && errno == EINVAL);
	WANT(netbe_set_cap(be, 0, 12) == 0 && netbe_set_cap(be1, 0, 12) == 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "vtmq0");
	WANT(s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
	ifr.ifr_flags |= IFF_UP;
	WANT(ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
	sll.sll_ifindex = (int)if_nametoindex("vtmq0");
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	WANT(ps >= 0 && bind(ps, (struct sockaddr *)&sll, sizeof(sll)) == 0);
	/* Each queue sends. */
	frame(out, mac_host, mac_guest, 7);
	WANT(netbe_send(be1, iov, 2) == 72);
	WANT(host_recv(ps, in, sizeof(in)) == 60 && memcmp(in, out, 60) == 0);
	frame(out, mac_host, mac_guest, 8);
	WANT(netbe_send(be, iov, 2) == 72);
	WANT(host_recv(ps, in, sizeof(in)) == 60 && memcmp(in, out, 60) == 0);
	netbe_close(be1);
	netbe_close(be);

	/* A persistent tap made without multi_queue. */
	WANT(tun_set("vtsq0", 0, true) == 0);
	set_config_value_node("tapsq", "backend", "tap=vtsq0");
	be = netbe_open("tapsq", "tapsq", 2, rx_ready, NULL);
	WANT(be != NULL && netbe_max_queues(be) == 1);
	netbe_close(be);
	set_config_value_node("tapsq", "queues", "2");		/* asked by name: an error */
	WANT(netbe_open("tapsq", "tapsq", 2, rx_ready, NULL) == NULL);

	/* A persistent multi-queue tap (as vm switch makes them) opens for one queue too. */
	WANT(tun_set("vtmp0", IFF_MULTI_QUEUE, true) == 0);
	set_config_value_node("tapmp", "backend", "tap=vtmp0");
	be = netbe_open("tapmp", "tapmp", 1, rx_ready, NULL);
	WANT(be != NULL && netbe_max_queues(be) == 1);
	netbe_close(be);
	exit(0);
}

/* Runs child in a process of its own, as both tests do (SKIP returns from here). */
static void run_tap_test(void (*child)(void *))
{
	char why[128];
	int st;

	if (geteuid() != 0)
		SKIP("needs root for a tap and a network namespace");
	if (access("/dev/net/tun", R_OK | W_OK) != 0)
		SKIP("/dev/net/tun is not there");
	st = run_in_child(child, NULL, false);
	if (WIFEXITED(st) && WEXITSTATUS(st) == CHILD_SKIP)
		SKIP("no network or mount namespace could be made (unshare: not permitted)");
	CHECK_MSG(child_ok(st, why, sizeof(why)), "%s", why);
}

static void net_tap_backend_on_a_real_tap(void)
{
	run_tap_test(tap_child);
}

static void net_tap_multiqueue(void)
{
	run_tap_test(tap_mq_child);
}

void suite_net_tap(void)
{
	RUN(net_tap_backend_on_a_real_tap);
	RUN(net_tap_multiqueue);
}
