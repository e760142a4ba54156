/* The tap backend: the guest's frames go through a Linux tap interface.
 * Names: "tapN" and "vmnetN" (bhyve's; the Linux interface has that name) and
 * "tap=NAME" for any other interface name. The tap is opened through
 * /dev/net/tun, or created when it does not exist (it then goes away with the
 * process); configuring and bringing up the host side is the administrator's
 * job. Frames carry a virtio-net header (IFF_VNET_HDR), so the checksum and
 * segmentation offloads the guest accepts pass straight through. With several
 * queue pairs (virtio-net's queues key) the tap is opened with IFF_MULTI_QUEUE,
 * one descriptor per pair; a tap that exists without multi_queue gives one pair
 * (or an error, when the queues key asked for more). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "config.h"
#include "mevent.h"
#include "net_backend.h"

#define TAP_DEV		"/dev/net/tun"
#define TAP_HDR_MIN	10		/* struct virtio_net_hdr, the tap's default */
#define TAP_BOUNCE	(65536 + 256)	/* the largest frame a tap hands over, with header */
#define TAP_MAXIOV	256

/* What TUNSETOFFLOAD lets the tap hand us, per guest-side feature. */
#define TAP_CAPS \
	(VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4 | \
	 VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_ECN | VIRTIO_NET_F_HOST_TSO4 | \
	 VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_HOST_ECN | VIRTIO_NET_F_HOST_UFO)

struct tap_priv {
	int fd;
	struct mevent *me;
	bool rx_on;
	char ifname[IFNAMSIZ];
	uint64_t caps;
	unsigned tap_hdr;	/* the header length the tap itself uses */
	uint8_t *bounce;	/* one frame read ahead (peek), as the tap gave it */
	size_t bounce_len;	/* 0: none */
	/* A frame in bounce makes no fd readable: re-enabling rx signals this
	 * eventfd so that the device is told about it on the main loop. */
	int kick_fd;
	struct mevent *kick_me;
	struct iovec txiov[TAP_MAXIOV + 1];
};

static struct tap_priv *tap_priv(struct net_backend *be)
{
	return be->priv;
}

/* Bytes of the tap's header the device does not want (it asked for bare frames). */
static size_t tap_skip(struct net_backend *be)
{
	return be->hdr_len == 0 ? tap_priv(be)->tap_hdr : 0;
}

static void tap_rx_ready(int fd, void *arg)
{
	struct net_backend *be = arg;

	(void)fd;
	be->cb(be->cb_arg);
}

static void tap_kick_ready(int fd, void *arg)
{
	struct net_backend *be = arg;
	struct tap_priv *p = be->priv;
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
	if (p->rx_on && p->bounce_len > 0)
		be->cb(be->cb_arg);
}

/* "tapN", "vmnetN" or "tap=NAME" -> the interface name; -1 when it is none of them. */
static int tap_ifname(const char *name, char *ifname)
{
	const char *n = name;
	size_t len;

	if (strncmp(name, "tap=", 4) == 0) {
		n = name + 4;
		len = strlen(n);
		if (len == 0 || len >= IFNAMSIZ || strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
		    strpbrk(n, "/: \t\n") != NULL)
			return -1;
	} else {
		const char *d = name + (strncmp(name, "tap", 3) == 0 ? 3 : 5);

		len = strlen(name);
		if (*d == '\0' || strspn(d, "0123456789") != strlen(d) || len >= IFNAMSIZ)
			return -1;
	}
	memcpy(ifname, n, strlen(n) + 1);
	return 0;
}

static unsigned tap_offload_flags(uint64_t features)
{
	unsigned f = 0;

	if (!(features & VIRTIO_NET_F_GUEST_CSUM))
		return 0;	/* segmentation needs the checksum offload */
	f |= TUN_F_CSUM;
	if (features & VIRTIO_NET_F_GUEST_TSO4)
		f |= TUN_F_TSO4;
	if (features & VIRTIO_NET_F_GUEST_TSO6)
		f |= TUN_F_TSO6;
	if ((features & VIRTIO_NET_F_GUEST_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	if (features & VIRTIO_NET_F_GUEST_UFO)
		f |= TUN_F_UFO;
	return f;
}

static const char *const slirp_only[] = { "hostfwd", "hostloopback" };

/* The queues attached to a tap, as this /sys shows them (its rx-N entries);
 * -1 when it does not show this interface (it is another network namespace's). */
static int tap_queues_attached(const char *ifname)
{
	char path[64], idx[16] = "";
	struct dirent *e;
	FILE *f;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/sys/class/net/%s/ifindex", ifname);
	f = fopen(path, "re");
	if (f == NULL || fgets(idx, sizeof(idx), f) == NULL ||
	    strtoul(idx, NULL, 10) != if_nametoindex(ifname)) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "rx-", 3) == 0;
	closedir(d);
	return n;
}

/* Opens the tap for one queue: with IFF_MULTI_QUEUE when be->queues > 1, or
 * when the interface exists as a multi-queue tap (which takes nothing else);
 * a tap that exists without it gives one queue (be->queues becomes 1) when
 * may_drop_mq allows. A multi-queue tap takes queues from any process, so the
 * first queue checks that it is the only one: another process's guest would
 * get some of this one's frames (a plain tap refuses with EBUSY itself). */
static int tap_open(struct net_backend *be, const char *devname, bool may_drop_mq,
    bool first)
{
	struct tap_priv *p = tap_priv(be);
	bool mq = be->queues > 1, tried_mq = false;
	struct ifreq ifr;
	int e, attached;

	p->fd = open(TAP_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (p->fd < 0) {
		warnx("%s: %s: %s", devname, TAP_DEV, strerror(errno));
		return -1;
	}
	for (;;) {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (mq ? IFF_MULTI_QUEUE : 0);
		memcpy(ifr.ifr_name, p->ifname, strlen(p->ifname) + 1);
		tried_mq = tried_mq || mq;
		if (ioctl(p->fd, TUNSETIFF, &ifr) == 0)
			break;
		e = errno;
		if (e == EINVAL && mq && be->queues > 1 && may_drop_mq) {
			be->queues = 1;		/* a tap made without multi_queue */
			mq = false;
			continue;
		}
		if (e == EINVAL && !mq && !tried_mq) {
			mq = true;		/* one queue of a multi-queue tap */
			continue;
		}
		warnx("%s: cannot open or create tap %s: %s%s", devname, p->ifname, strerror(e),
		    e == EPERM ? " (needs CAP_NET_ADMIN, or a tap owned by this user)" :
		    e == EBUSY ? " (another process has it open)" :
		    e == EINVAL && be->queues > 1 ? " (it exists without multi_queue, or is "
		    "not a tap: ip tuntap add NAME mode tap multi_queue)" :
		    e == EINVAL ? " (an interface of that name exists and is not a tap)" : "");
		close(p->fd);
		return -1;
	}
	attached = mq && first ? tap_queues_attached(p->ifname) : 0;
	if (attached > 1) {
		warnx("%s: cannot open tap %s: another process has it open (a multi-queue "
		    "tap with %d queues attached)", devname, p->ifname, attached - 1);
		close(p->fd);
		return -1;
	}
	p->bounce = xmalloc(TAP_BOUNCE);
	p->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->me = mevent_add(p->fd, tap_rx_ready, be);
	p->kick_me = p->kick_fd >= 0 ? mevent_add(p->kick_fd, tap_kick_ready, be) : NULL;
	if (p->me == NULL || p->kick_me == NULL) {
		warnx("%s: tap %s: cannot watch it: %s", devname, p->ifname, strerror(errno));
		if (p->me != NULL)
			mevent_delete(p->me);
		if (p->kick_me != NULL)
			mevent_delete(p->kick_me);
		if (p->kick_fd >= 0)
			close(p->kick_fd);
		free(p->bounce);
		close(p->fd);
		return -1;
	}
	mevent_disable(p->me);	/* until the guest has buffers */
	p->tap_hdr = TAP_HDR_MIN;
	return 0;
}

static int tap_init(struct net_backend *be, const char *devname, const char *name,
    const char *node)
{
	struct tap_priv *p = tap_priv(be);
	bool explicit = get_config_value_node(node, "queues") != NULL;

	if (tap_ifname(name, p->ifname) != 0) {
		warnx("%s: invalid tap name \"%s\": tapN, vmnetN or tap=IFNAME (at most %d "
		    "characters)", devname, name, IFNAMSIZ - 1);
		return -1;
	}
	for (size_t i = 0; i < nitems(slirp_only); i++) {
		if (get_config_value_node(node, slirp_only[i]) != NULL) {
			warnx("%s: %s is an option of the slirp backend, not of %s", devname,
			    slirp_only[i], name);
			return -1;
		}
	}
	/* Queue pairs the user did not ask for by name are not worth a failure. */
	if (tap_open(be, devname, !explicit, true) != 0)
		return -1;
	/* The offloads this kernel's tap takes; UFO is not everywhere. */
	p->caps = TAP_CAPS;
	if (ioctl(p->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN |
	    TUN_F_UFO) == 0)
		p->caps |= VIRTIO_NET_F_GUEST_UFO;
	else if (ioctl(p->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 |
	    TUN_F_TSO_ECN) != 0)
		p->caps = 0;
	if (ioctl(p->fd, TUNSETOFFLOAD, 0) != 0)
		p->caps = 0;
	return 0;
}

/* One more queue of the same (multi-queue) tap. */
static int tap_open_queue(struct net_backend *be, const char *devname,
    struct net_backend *first)
{
	struct tap_priv *p = tap_priv(be), *f = tap_priv(first);

	memcpy(p->ifname, f->ifname, sizeof(p->ifname));
	p->caps = f->caps;
	return tap_open(be, devname, false, false);
}

static void tap_cleanup(struct net_backend *be)
{
	struct tap_priv *p = tap_priv(be);

	mevent_delete(p->me);
	mevent_delete(p->kick_me);
	close(p->kick_fd);
	close(p->fd);
	free(p->bounce);
}

static uint64_t tap_get_cap(struct net_backend *be)
{
	return tap_priv(be)->caps;
}

static int tap_set_cap(struct net_backend *be, uint64_t features, unsigned hdr_len)
{
	struct tap_priv *p = tap_priv(be);
	unsigned off = tap_offload_flags(features);

	if ((features & ~p->caps) != 0 || (hdr_len == 0 && features != 0))
		return -1;
	if (hdr_len != 0) {
		int sz = (int)hdr_len;

		if (ioctl(p->fd, TUNSETVNETHDRSZ, &sz) != 0)
			return -1;
		p->tap_hdr = hdr_len;
	}
	if (ioctl(p->fd, TUNSETOFFLOAD, off) != 0)
		return -1;
	p->bounce_len = 0;	/* read with the old header length */
	return 0;
}

static ssize_t tap_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct tap_priv *p = tap_priv(be);
	static const uint8_t zero_hdr[12];	/* the longest header a tap takes here */
	ssize_t n;

	if (tap_skip(be) == 0)
		return writev(p->fd, iov, iovcnt);
	/* Bare frame: the tap still wants a header, one that asks for nothing. */
	if (iovcnt > TAP_MAXIOV) {
		errno = EINVAL;
		return -1;
	}
	p->txiov[0].iov_base = (void *)(uintptr_t)zero_hdr;
	p->txiov[0].iov_len = p->tap_hdr;
	memcpy(p->txiov + 1, iov, (size_t)iovcnt * sizeof(*iov));
	n = writev(p->fd, p->txiov, iovcnt + 1);
	return n < 0 ? n : n - (ssize_t)p->tap_hdr;
}

/* Reads the next frame into the bounce buffer: its length there, 0 when none. */
static ssize_t tap_fill(struct tap_priv *p)
{
	ssize_t n;

	if (p->bounce_len > 0)
		return (ssize_t)p->bounce_len;
	do
		n = read(p->fd, p->bounce, TAP_BOUNCE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	p->bounce_len = (size_t)n;
	return n;
}

static ssize_t tap_peek_recvlen(struct net_backend *be)
{
	struct tap_priv *p = tap_priv(be);
	ssize_t n = tap_fill(p);
	size_t skip = tap_skip(be);

	if (n <= 0)
		return n;
	return (size_t)n > skip ? n - (ssize_t)skip : 0;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t t = 0;

	for (int i = 0; i < iovcnt; i++)
		t += iov[i].iov_len;
	return t;
}

static ssize_t tap_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct tap_priv *p = tap_priv(be);
	size_t skip = tap_skip(be), left, done = 0;
	const uint8_t *src;
	ssize_t n;

	if (p->bounce_len == 0 && skip == 0) {
		/* Straight into the guest's buffers; a longer frame is cut short. */
		do
			n = readv(p->fd, iov, iovcnt);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		left = iov_total(iov, iovcnt);
		return (size_t)n < left ? n : (ssize_t)left;
	}
	n = tap_fill(p);
	if (n <= 0)
		return n;
	p->bounce_len = 0;
	if ((size_t)n <= skip)
		return 0;	/* shorter than its header: nothing to give */
	src = p->bounce + skip;
	left = (size_t)n - skip;
	for (int i = 0; i < iovcnt && left > 0; i++) {
		size_t l = iov[i].iov_len < left ? iov[i].iov_len : left;

		memcpy(iov[i].iov_base, src, l);
		src += l;
		left -= l;
		done += l;
	}
	return (ssize_t)done;
}

static void tap_recv_enable(struct net_backend *be)
{
	struct tap_priv *p = tap_priv(be);

	if (!p->rx_on && mevent_enable(p->me) == 0)
		p->rx_on = true;
	if (p->rx_on && p->bounce_len > 0) {
		uint64_t one = 1;

		(void)!write(p->kick_fd, &one, sizeof(one));
	}
}

static void tap_recv_disable(struct net_backend *be)
{
	struct tap_priv *p = tap_priv(be);

	if (p->rx_on && mevent_disable(p->me) == 0)
		p->rx_on = false;
}

/* FreeBSD's vmnetN is a tap that outlives its user; here it is a tap by that name. */
static const struct net_backend_ops tap_backend = {
	.prefix = "tap",
	.alias = "vmnet",
	.priv_size = sizeof(struct tap_priv),
	.init = tap_init,
	.cleanup = tap_cleanup,
	.send = tap_send,
	.peek_recvlen = tap_peek_recvlen,
	.recv = tap_recv,
	.recv_enable = tap_recv_enable,
	.recv_disable = tap_recv_disable,
	.get_cap = tap_get_cap,
	.set_cap = tap_set_cap,
	.open_queue = tap_open_queue,
};
NET_BACKEND_SET(tap_backend);
