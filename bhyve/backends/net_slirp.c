/* The slirp network backend: user-mode networking through libslirp, as bhyve's
 * "slirp" backend and QEMU's "-netdev user" give it. The guest sees a NATed
 * 10.0.2.0/24: itself at 10.0.2.15 (by DHCP), the gateway and host at 10.0.2.2,
 * a DNS forwarder at 10.0.2.3. "hostfwd" rules
 * (proto:hostaddr:hostport-guestaddr:guestport, ';' between rules) forward host
 * ports to the guest; an empty hostaddr is 127.0.0.1.
 *
 * Closed by default: the guest does not reach the host's loopback (libslirp's
 * disable_host_loopback turns 10.0.2.2:P -> 127.0.0.1:P off, and frames to
 * 127.0.0.0/8 or 0.0.0.0/8, which the host's sockets would also deliver to its
 * own services, are dropped) unless "hostloopback=true" allows it.
 *
 * IPv4 fragments from the guest are dropped too: libslirp 4.7's reassembly
 * (ip_reass) wrote through a wild pointer on a sequence of hostile fragments
 * in the slirp fuzz target. Guests send whole packets (TCP, and path MTU
 * discovery, set DF); a UDP datagram larger than the MTU does not get through.
 *
 * libslirp is not thread-safe, so one thread of its own owns the Slirp instance
 * (its sockets, timers and input). Frames from the guest reach it through a
 * bounded queue (netbe_send, on the device's TX thread); frames for the guest
 * wait in another bounded queue until the device takes them on the main event
 * loop, woken through an eventfd. A full queue drops the frame, as a wire would;
 * TCP inside slirp or the guest retransmits. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <slirp/libslirp.h>

#include "config.h"
#include "mevent.h"
#include "net_backend.h"
#include "sandbox.h"
#include "util.h"

#define SLIRP_NET	0x0a000200u	/* 10.0.2.0/24 */
#define SLIRP_MASK	0xffffff00u
#define SLIRP_HOST	0x0a000202u	/* gateway and host */
#define SLIRP_DNS	0x0a000203u
#define SLIRP_GUEST	0x0a00020fu	/* the first (and usually only) DHCP lease */

#define ETH_HDR		14
#define SLIRP_MTU_DEFAULT 1500
#define SLIRP_MTU_MIN	68		/* libslirp's IF_MTU_MIN and IF_MTU_MAX */
#define SLIRP_MTU_MAX	65521
/* The longest frame the guest may hand us: an IP datagram's 64 KiB, an Ethernet
 * header and a VLAN tag. Longer is a broken guest. */
#define SLIRP_TX_MAX	(65535 + ETH_HDR + 4)

/* Per direction: beyond this many frames or bytes, new frames are dropped. */
#define SLIRP_QUEUE_FRAMES 512
#define SLIRP_QUEUE_BYTES (2u << 20)

/* The virtio-net offloads (CSUM, GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN, GUEST_UFO,
 * HOST_TSO4/6, HOST_ECN, HOST_UFO): slirp takes and gives only whole,
 * checksummed frames, so none of them. */
#define VTNET_OFFLOADS	(0x3ull | 0xffull << 7)

struct frame {
	struct frame *next;
	size_t len;
	uint8_t data[];
};

struct frame_queue {
	struct frame *head, **tail;
	size_t frames, bytes;
	uint64_t dropped;
};

struct slirp_timer {
	struct slirp_timer *next;
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms;		/* -1: not armed */
};

struct slirp_priv {
	bool inited;			/* what follows is set up (cleanup's guard) */
	Slirp *slirp;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	int wake_fd;			/* wakes the slirp thread: TX frames or stop */
	struct sandbox_waker waker;	/* ... or its role to take */
	int rx_fd;			/* wakes the main loop: frames for the guest */
	struct mevent *rx_mev;
	atomic_bool rx_enabled;
	pthread_mutex_t mtx;		/* the two queues */
	struct frame_queue txq, rxq;
	size_t rx_max;			/* the longest frame slirp sends (mtu + header) */
	/* Owned by the slirp thread (or by init/cleanup while it is not running). */
	struct pollfd *pfd;
	size_t npfd, pfd_cap;
	struct slirp_timer *timers;
	bool guest_error_told;
	atomic_bool frag_told;		/* the first dropped fragment was logged */
	bool host_loopback;		/* hostloopback=true: the guest may reach 127.0.0.1 */
	const char *devname;
};

static void queue_init(struct frame_queue *q)
{
	q->head = NULL;
	q->tail = &q->head;
	q->frames = q->bytes = 0;
}

/* Appends f, or frees it when the queue is full. Returns whether it was queued. */
static bool queue_put(struct frame_queue *q, struct frame *f)
{
	if (q->frames >= SLIRP_QUEUE_FRAMES || q->bytes + f->len > SLIRP_QUEUE_BYTES) {
		q->dropped++;
		free(f);
		return false;
	}
	f->next = NULL;
	*q->tail = f;
	q->tail = &f->next;
	q->frames++;
	q->bytes += f->len;
	return true;
}

static struct frame *queue_take(struct frame_queue *q)
{
	struct frame *f = q->head;

	if (f == NULL)
		return NULL;
	q->head = f->next;
	if (q->head == NULL)
		q->tail = &q->head;
	q->frames--;
	q->bytes -= f->len;
	return f;
}

/* Empties q, handing back its frames as a list. */
static struct frame *queue_take_all(struct frame_queue *q)
{
	struct frame *all = q->head;

	queue_init(q);
	return all;
}

static void free_frames(struct frame *f)
{
	while (f != NULL) {
		struct frame *next = f->next;

		free(f);
		f = next;
	}
}

static void kick(int fd)
{
	uint64_t one = 1;

	/* EAGAIN only when the counter is already huge: still readable. */
	(void)!write(fd, &one, sizeof(one));
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* libslirp's callbacks, all on the slirp thread (or during init and cleanup). */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_priv *sp = opaque;
	struct frame *f;
	bool queued;

	if (len > sp->rx_max)
		return (ssize_t)len;	/* cannot happen with if_mtu set; drop */
	f = malloc(sizeof(*f) + len);
	if (f == NULL)
		return (ssize_t)len;	/* dropped, as a full queue would */
	f->len = len;
	memcpy(f->data, buf, len);
	pthread_mutex_lock(&sp->mtx);
	queued = queue_put(&sp->rxq, f);
	pthread_mutex_unlock(&sp->mtx);
	/* Every new frame offers the queue again, as a readable tap would: a device
	 * that left frames waiting without disabling rx is asked again. */
	if (queued)
		kick(sp->rx_fd);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct slirp_priv *sp = opaque;

	if (!sp->guest_error_told) {
		sp->guest_error_told = true;
		warnx("%s: slirp: %s (reported once)", sp->devname, msg);
	}
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct slirp_priv *sp = opaque;
	struct slirp_timer *t = xcalloc(1, sizeof(*t));

	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = sp->timers;
	sp->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct slirp_priv *sp = opaque;

	for (struct slirp_timer **pp = &sp->timers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = ((struct slirp_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

/* Some socket can take more data: go round the poll loop again. */
static void cb_notify(void *opaque)
{
	struct slirp_priv *sp = opaque;

	kick(sp->wake_fd);
}

/*
 * libslirp, and glib behind it (about 1.1 MiB of RSS and a millisecond of
 * dynamic linking), is loaded when the first slirp device is made, so that a
 * VM without one does not carry it. The functions used, by their own types.
 */
static struct {
	bool loaded;
	typeof(slirp_new) *new_;
	typeof(slirp_input) *input;
	typeof(slirp_pollfds_fill) *pollfds_fill;
	typeof(slirp_pollfds_poll) *pollfds_poll;
	typeof(slirp_cleanup) *cleanup;
	typeof(slirp_add_hostxfwd) *add_hostxfwd;
} lib;

#define SLIRP_SONAME	"libslirp.so.0"

static int slirp_lib_load(const char *devname)
{
	void *h;

	if (lib.loaded)
		return 0;
	h = dlopen(SLIRP_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		warnx("%s: slirp needs %s (Debian package libslirp0): %s", devname, SLIRP_SONAME,
		    dlerror());
		return -1;
	}
	lib.new_ = (typeof(lib.new_))dlsym(h, "slirp_new");
	lib.input = (typeof(lib.input))dlsym(h, "slirp_input");
	lib.pollfds_fill = (typeof(lib.pollfds_fill))dlsym(h, "slirp_pollfds_fill");
	lib.pollfds_poll = (typeof(lib.pollfds_poll))dlsym(h, "slirp_pollfds_poll");
	lib.cleanup = (typeof(lib.cleanup))dlsym(h, "slirp_cleanup");
	lib.add_hostxfwd = (typeof(lib.add_hostxfwd))dlsym(h, "slirp_add_hostxfwd");
	if (lib.new_ == NULL || lib.input == NULL || lib.pollfds_fill == NULL ||
	    lib.pollfds_poll == NULL || lib.cleanup == NULL || lib.add_hostxfwd == NULL) {
		warnx("%s: %s lacks a function this bhyve uses (libslirp 4.5 or later is needed)",
		    devname, SLIRP_SONAME);
		dlclose(h);
		return -1;
	}
	lib.loaded = true;	/* never closed: its threads and timers may run until exit */
	return 0;
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
};

/* The slirp thread's poll loop. */

static int add_poll(int fd, int events, void *opaque)
{
	struct slirp_priv *sp = opaque;
	short ev = 0;

	if (sp->npfd == sp->pfd_cap) {
		sp->pfd_cap = sp->pfd_cap ? 2 * sp->pfd_cap : 16;
		sp->pfd = xrealloc(sp->pfd, sp->pfd_cap * sizeof(*sp->pfd));
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	sp->pfd[sp->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)sp->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct slirp_priv *sp = opaque;
	short rev;
	int ev = 0;

	if (idx < 0 || (size_t)idx >= sp->npfd)
		return 0;
	rev = sp->pfd[idx].revents;
	if (rev & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (rev & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (rev & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (rev & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (rev & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

/* Milliseconds until the next armed timer is due, at most timeout. */
static uint32_t timers_next(struct slirp_priv *sp, uint32_t timeout)
{
	int64_t now = now_ns() / 1000000;

	for (struct slirp_timer *t = sp->timers; t != NULL; t = t->next) {
		if (t->expire_ms < 0)
			continue;
		if (t->expire_ms <= now)
			return 0;
		if ((uint64_t)(t->expire_ms - now) < timeout)
			timeout = (uint32_t)(t->expire_ms - now);
	}
	return timeout;
}

static void timers_run(struct slirp_priv *sp)
{
	int64_t now = now_ns() / 1000000;
	bool ran;

	/* A callback may re-arm or free timers: rescan after each one. */
	do {
		ran = false;
		for (struct slirp_timer *t = sp->timers; t != NULL; t = t->next) {
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				t->cb(t->cb_opaque);
				ran = true;
				break;
			}
		}
	} while (ran);
}

static void slirp_wake(void *arg)
{
	kick(((struct slirp_priv *)arg)->wake_fd);
}

static void *slirp_thread(void *arg)
{
	struct slirp_priv *sp = arg;

	pthread_setname_np(pthread_self(), "slirp");
	while (!atomic_load(&sp->stop)) {
		struct frame *tx;
		uint32_t timeout = UINT32_MAX;
		uint64_t cnt;
		int n;

		/* Started before the sandbox: its role once it is there. */
		sandbox_enter(SANDBOX_SLIRP);
		pthread_mutex_lock(&sp->mtx);
		tx = queue_take_all(&sp->txq);
		pthread_mutex_unlock(&sp->mtx);
		for (struct frame *f = tx; f != NULL; f = f->next)
			lib.input(sp->slirp, f->data, (int)f->len);
		free_frames(tx);

		sp->npfd = 0;
		add_poll(sp->wake_fd, SLIRP_POLL_IN, sp);
		lib.pollfds_fill(sp->slirp, &timeout, add_poll, sp);
		timeout = timers_next(sp, timeout);
		n = poll(sp->pfd, sp->npfd, timeout == UINT32_MAX ? -1 : (int)timeout);
		sandbox_enter(SANDBOX_SLIRP);	/* armed while this thread waited */
		if (n > 0 && (sp->pfd[0].revents & POLLIN))
			(void)!read(sp->wake_fd, &cnt, sizeof(cnt));
		lib.pollfds_poll(sp->slirp, n < 0 && errno != EINTR, get_revents, sp);
		timers_run(sp);
	}
	return NULL;
}

/* The main loop's side: frames are waiting for the guest. */
static void slirp_rx_ready(int fd, void *arg)
{
	struct net_backend *be = arg;
	struct slirp_priv *sp = be->priv;
	uint64_t cnt;

	(void)!read(fd, &cnt, sizeof(cnt));
	if (atomic_load(&sp->rx_enabled) && be->cb != NULL) {
		bool more;

		be->cb(be->cb_arg);
		/* The device takes a batch at a time: what it left, it gets offered
		 * again on the next pass, as a tap's fd would stay readable. */
		pthread_mutex_lock(&sp->mtx);
		more = sp->rxq.head != NULL;
		pthread_mutex_unlock(&sp->mtx);
		if (more && atomic_load(&sp->rx_enabled))
			kick(fd);
	}
}

/* hostfwd: "proto:hostaddr:hostport-guestaddr:guestport", as bhyve(8) writes
 * it. An empty host address is the loopback address (127.0.0.1: reachable from
 * this host only; 0.0.0.0 must be asked for), an empty guest address the guest's
 * DHCP address. */

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "addr:port" (addr may be empty) -> sin; why says what is wrong. */
static int parse_endpoint(const char *s, size_t len, in_addr_t dflt, struct sockaddr_in *sin,
    const char **why)
{
	const char *colon = memchr(s, ':', len);
	char addr[INET_ADDRSTRLEN];
	size_t alen;

	*sin = (struct sockaddr_in){ .sin_family = AF_INET };
	if (colon == NULL) {
		*why = "expected address:port";
		return -1;
	}
	alen = (size_t)(colon - s);
	if (alen == 0) {
		sin->sin_addr.s_addr = htonl(dflt);
	} else {
		if (alen >= sizeof(addr)) {
			*why = "not an IPv4 address";
			return -1;
		}
		memcpy(addr, s, alen);
		addr[alen] = '\0';
		if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
			*why = "not an IPv4 address";
			return -1;
		}
	}
	if (parse_port(colon + 1, len - alen - 1, &sin->sin_port) != 0) {
		*why = "the port must be a number from 1 to 65535";
		return -1;
	}
	sin->sin_port = htons(sin->sin_port);
	return 0;
}

static int add_hostfwd(struct slirp_priv *sp, const char *devname, const char *rule, size_t len)
{
	const char *colon = memchr(rule, ':', len), *dash, *why = NULL;
	struct sockaddr_in host, guest;
	int flags;

	if (len == 0) {
		why = "an empty rule (a ';' too many)";
		goto bad;
	}
	if (colon == NULL) {
		why = "expected tcp|udp:hostaddr:hostport-guestaddr:guestport";
		goto bad;
	}
	if (colon - rule == 3 && memcmp(rule, "tcp", 3) == 0) {
		flags = 0;
	} else if (colon - rule == 3 && memcmp(rule, "udp", 3) == 0) {
		flags = SLIRP_HOSTFWD_UDP;
	} else {
		why = "the protocol must be tcp or udp";
		goto bad;
	}
	colon++;
	dash = memchr(colon, '-', len - (size_t)(colon - rule));
	if (dash == NULL) {
		why = "expected tcp|udp:hostaddr:hostport-guestaddr:guestport";
		goto bad;
	}
	if (parse_endpoint(colon, (size_t)(dash - colon), INADDR_LOOPBACK, &host, &why) != 0 ||
	    parse_endpoint(dash + 1, len - (size_t)(dash + 1 - rule), SLIRP_GUEST, &guest,
	    &why) != 0)
		goto bad;
	if ((ntohl(guest.sin_addr.s_addr) & SLIRP_MASK) != SLIRP_NET) {
		why = "the guest address must be in 10.0.2.0/24";
		goto bad;
	}
	errno = 0;
	if (lib.add_hostxfwd(sp->slirp, (struct sockaddr *)&host, sizeof(host),
	    (struct sockaddr *)&guest, sizeof(guest), flags) != 0) {
		warnx("%s: hostfwd rule \"%.*s\": %s", devname, (int)len, rule,
		    errno != 0 ? strerror(errno) : "refused by libslirp");
		return -1;
	}
	return 0;
bad:
	warnx("%s: invalid hostfwd rule \"%.*s\": %s", devname, (int)len, rule, why);
	return -1;
}

static int add_hostfwds(struct slirp_priv *sp, const char *devname, const char *rules)
{
	const char *p = rules;

	for (;;) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (add_hostfwd(sp, devname, p, len) != 0)
			return -1;
		if (end == NULL)
			return 0;
		p = end + 1;
	}
}

static int slirp_get_mtu(const char *devname, const char *node, unsigned *mtu)
{
	const char *s = get_config_value_node(node, "mtu");
	unsigned long v;

	*mtu = SLIRP_MTU_DEFAULT;
	if (s == NULL)
		return 0;
	if (parse_uint(s, ULONG_MAX, &v) != 0 || v < SLIRP_MTU_MIN || v > SLIRP_MTU_MAX) {
		warnx("%s: mtu \"%s\": the slirp backend takes %d to %d", devname, s,
		    SLIRP_MTU_MIN, SLIRP_MTU_MAX);
		return -1;
	}
	*mtu = (unsigned)v;
	return 0;
}

static void slirp_be_cleanup(struct net_backend *be)
{
	struct slirp_priv *sp = be->priv;

	if (sp == NULL || !sp->inited)
		return;
	sandbox_waker_remove(&sp->waker);
	if (sp->thread_started) {
		atomic_store(&sp->stop, true);
		kick(sp->wake_fd);
		thread_join(sp->thread);
		sp->thread_started = false;
	}
	if (sp->rx_mev != NULL) {
		mevent_delete(sp->rx_mev);
		sp->rx_mev = NULL;
	}
	if (sp->slirp != NULL) {
		lib.cleanup(sp->slirp);	/* frees its timers through timer_free */
		sp->slirp = NULL;
	}
	while (sp->timers != NULL) {
		struct slirp_timer *t = sp->timers;

		sp->timers = t->next;
		free(t);
	}
	free(sp->pfd);
	sp->pfd = NULL;
	sp->npfd = sp->pfd_cap = 0;
	if (sp->wake_fd >= 0)
		close(sp->wake_fd);
	if (sp->rx_fd >= 0)
		close(sp->rx_fd);
	sp->wake_fd = sp->rx_fd = -1;
	free_frames(queue_take_all(&sp->txq));
	free_frames(queue_take_all(&sp->rxq));
	pthread_mutex_destroy(&sp->mtx);
	sp->inited = false;
}

static int slirp_be_init(struct net_backend *be, const char *devname, const char *name,
    const char *node)
{
	struct slirp_priv *sp = be->priv;
	SlirpConfig cfg = {
		.version = 4,
		.restricted = 0,		/* NAT to the outside, as bhyve(8) describes */
		.in_enabled = true,
		.vnetwork.s_addr = htonl(SLIRP_NET),
		.vnetmask.s_addr = htonl(SLIRP_MASK),
		.vhost.s_addr = htonl(SLIRP_HOST),
		.vdhcp_start.s_addr = htonl(SLIRP_GUEST),
		.vnameserver.s_addr = htonl(SLIRP_DNS),
		.in6_enabled = false,
		.enable_emu = false,		/* libslirp: "not safe" */
	};
	const char *hostfwd = get_config_value_node(node, "hostfwd");
	sigset_t all, old;
	unsigned mtu;
	bool loopback;

	if (strcmp(name, "slirp") != 0) {
		warnx("%s: unknown network backend \"%s\"", devname, name);
		return -1;
	}
	if (slirp_get_mtu(devname, node, &mtu) != 0)
		return -1;
	if (get_config_bool_node_default(node, "hostloopback", false, &loopback) != 0)
		return -1;		/* it said which key */
	if (slirp_lib_load(devname) != 0)
		return -1;
	sp->host_loopback = loopback;
	cfg.disable_host_loopback = !loopback;
	sp->inited = true;
	sp->devname = devname;
	sp->wake_fd = sp->rx_fd = -1;
	pthread_mutex_init(&sp->mtx, NULL);
	queue_init(&sp->txq);
	queue_init(&sp->rxq);
	atomic_init(&sp->stop, false);
	atomic_init(&sp->rx_enabled, true);
	sp->rx_max = mtu + ETH_HDR;
	cfg.if_mtu = cfg.if_mru = mtu;
	sp->slirp = lib.new_(&cfg, &slirp_callbacks, sp);
	if (sp->slirp == NULL) {
		warnx("%s: cannot start libslirp", devname);
		goto fail;
	}
	if (hostfwd != NULL && add_hostfwds(sp, devname, hostfwd) != 0)
		goto fail;
	sp->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sp->rx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sp->wake_fd < 0 || sp->rx_fd < 0 ||
	    (sp->rx_mev = mevent_add(sp->rx_fd, slirp_rx_ready, be)) == NULL) {
		warn("%s: slirp eventfd", devname);
		goto fail;
	}
	/* Signals belong to the main loop and the vCPUs. */
	thread_sigset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	sp->thread_started = thread_start(&sp->thread, slirp_thread, sp) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!sp->thread_started) {
		warnx("%s: cannot start the slirp thread", devname);
		goto fail;
	}
	sandbox_waker_add(&sp->waker, slirp_wake, sp);
	return 0;
fail:
	slirp_be_cleanup(be);
	return -1;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* An IPv4 packet to 127.0.0.0/8 or 0.0.0.0/8: libslirp would connect() the
 * host's socket there as to any outside address, and both reach the host's own
 * listeners. */
static bool to_host_itself(const uint8_t *frame, size_t len)
{
	uint8_t net;

	if (len < ETH_HDR + 20 || frame[12] != 0x08 || frame[13] != 0x00)
		return false;
	net = frame[ETH_HDR + 16];
	return net == 127 || net == 0;
}

/* An IPv4 fragment: more fragments follow, or it is not the first. */
static bool is_fragment(const uint8_t *frame, size_t len)
{
	if (len < ETH_HDR + 20 || frame[12] != 0x08 || frame[13] != 0x00)
		return false;
	return (frame[ETH_HDR + 6] & 0x3f) != 0 || frame[ETH_HDR + 7] != 0;
}

static ssize_t slirp_be_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct slirp_priv *sp = be->priv;
	size_t total = iov_total(iov, iovcnt), skip = be->hdr_len, off = 0;
	struct frame *f;
	bool queued;

	if (total < skip + ETH_HDR) {
		errno = EINVAL;
		return -1;
	}
	if (total - skip > SLIRP_TX_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	f = malloc(sizeof(*f) + total - skip);
	if (f == NULL) {
		errno = ENOBUFS;
		return -1;
	}
	f->len = total - skip;
	/* The virtio-net header carries no offload slirp could honour: drop it. */
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		memcpy(f->data + off, p + skip, len - skip);
		off += len - skip;
		skip = 0;
	}
	if (!sp->host_loopback && to_host_itself(f->data, f->len)) {
		free(f);		/* dropped, as a filtering router would */
		return (ssize_t)total;
	}
	if (is_fragment(f->data, f->len)) {
		free(f);
		if (!atomic_exchange(&sp->frag_told, true))
			warnx("%s: slirp: IPv4 fragments from the guest are dropped (reported once)",
			    sp->devname);
		return (ssize_t)total;
	}
	pthread_mutex_lock(&sp->mtx);
	queued = queue_put(&sp->txq, f);
	pthread_mutex_unlock(&sp->mtx);
	if (!queued) {
		errno = EAGAIN;
		return -1;
	}
	kick(sp->wake_fd);
	return (ssize_t)total;
}

static ssize_t slirp_be_peek_recvlen(struct net_backend *be)
{
	struct slirp_priv *sp = be->priv;
	ssize_t n = 0;

	pthread_mutex_lock(&sp->mtx);
	if (sp->rxq.head != NULL)
		n = (ssize_t)(sp->rxq.head->len + be->hdr_len);
	pthread_mutex_unlock(&sp->mtx);
	return n;
}

/* Copies len bytes of src to iov from byte offset off on; returns what fitted. */
static size_t iov_put(const struct iovec *iov, int iovcnt, size_t off, const void *src,
    size_t len)
{
	const uint8_t *s = src;
	size_t done = 0;

	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - off;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, s + done, n);
		done += n;
		off = 0;
	}
	return done;
}

static ssize_t slirp_be_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct slirp_priv *sp = be->priv;
	uint8_t hdr[12] = { 0 };
	struct frame *f;
	size_t n;

	pthread_mutex_lock(&sp->mtx);
	f = queue_take(&sp->rxq);
	pthread_mutex_unlock(&sp->mtx);
	if (f == NULL)
		return 0;
	/* A header that asks for nothing: a whole, checksummed frame in one buffer. */
	if (be->hdr_len == 12)
		le_put(hdr + 10, 1, 2);		/* num_buffers */
	n = iov_put(iov, iovcnt, 0, hdr, be->hdr_len);
	if (n == be->hdr_len)
		n += iov_put(iov, iovcnt, n, f->data, f->len);
	free(f);
	return (ssize_t)n;
}

static void slirp_be_recv_enable(struct net_backend *be)
{
	struct slirp_priv *sp = be->priv;
	bool waiting;

	atomic_store(&sp->rx_enabled, true);
	/* Frames that came while disabled: have the main loop offer them. */
	pthread_mutex_lock(&sp->mtx);
	waiting = sp->rxq.head != NULL;
	pthread_mutex_unlock(&sp->mtx);
	if (waiting)
		kick(sp->rx_fd);
}

static void slirp_be_recv_disable(struct net_backend *be)
{
	struct slirp_priv *sp = be->priv;

	atomic_store(&sp->rx_enabled, false);
}

static uint64_t slirp_be_get_cap(struct net_backend *be)
{
	(void)be;
	return 0;
}

static int slirp_be_set_cap(struct net_backend *be, uint64_t features, unsigned hdr_len)
{
	if ((features & VTNET_OFFLOADS) != 0 || (hdr_len != 0 && hdr_len != 10 && hdr_len != 12))
		return -1;
	be->features = features;
	be->hdr_len = hdr_len;
	return 0;
}

static const struct net_backend_ops slirp_backend = {
	.prefix = "slirp",
	.priv_size = sizeof(struct slirp_priv),
	.init = slirp_be_init,
	.cleanup = slirp_be_cleanup,
	.send = slirp_be_send,
	.peek_recvlen = slirp_be_peek_recvlen,
	.recv = slirp_be_recv,
	.recv_enable = slirp_be_recv_enable,
	.recv_disable = slirp_be_recv_disable,
	.get_cap = slirp_be_get_cap,
	.set_cap = slirp_be_set_cap,
};
NET_BACKEND_SET(slirp_backend);
