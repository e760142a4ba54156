/* virtio-net: the virtio network device (type 1), written from the virtio 1.x
 * specification. Queues: receive and transmit for each queue pair (2n, 2n + 1)
 * and control (last). Frames go to and come from a network backend
 * (bhyve/backends/net_backend.h), one per queue pair: the guest's transmit
 * chains are sent by a thread per pair when it notifies; received frames are
 * copied into its receive buffers from the main event loop when a backend has
 * some, with the backend's rx turned off while the guest has no buffers posted.
 *
 * Multi-queue (VIRTIO_NET_F_MQ): with several pairs the driver starts on the
 * first and asks for more with VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET. A driver that
 * does not negotiate it finds the control queue at 2, as with one pair. Each backend
 * queue delivers into the receive queue of its own pair while the driver uses
 * that pair, else into pair (its number modulo the pairs in use), so that no
 * frame reaches a queue the driver has not enabled.
 *
 * Settings (pci.B.S.F.*): backend (tapN, vmnetN, tap=NAME, slirp; none: an
 * unconnected card), mac (default: bhyve's, from the slot, function and VM
 * name), mtu (offered to the guest with VIRTIO_NET_F_MTU), queues (queue
 * pairs, 1 to 8; default: one per vCPU where the backend has several, else 1). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/net_backend.h"
#include "config.h"
#include "md5.h"
#include "pci_emul.h"
#include "sandbox.h"
#include "virtio.h"
#include "vmmapi.h"

#define VIRTIO_TYPE_NET		1
#define VIRTIO_DEV_NET		0x1000

#define VTNET_QSIZE		256
#define VTNET_MAXPAIRS		8
#define VTNET_MAXQ		(2 * VTNET_MAXPAIRS + 1)
#define VTNET_MAXSEGS		256		/* buffers in one chain */
#define VTNET_RXIOV		(VTNET_QSIZE + VTNET_MAXSEGS)
#define VTNET_RX_BATCH		256		/* frames per wake-up, so the loop stays fair */
#define VTNET_TX_BATCH		32		/* chains the transmit thread takes at a time */
#define VTNET_MAX_FRAME		(65535 + 14 + 4)	/* Ethernet, VLAN tag, 64 KiB payload */
#define VTNET_ETH_HLEN		14
#define VTNET_MIN_MTU		68
#define VTNET_MAX_MTU		65535
#define VTNET_DEF_MTU		1500
#define VTNET_MACTAB		64		/* MAC filter entries, unicast and multicast */
#define VTNET_CTRL_MAX		(2 + 2 * (4 + VTNET_MACTAB * 6))

/* Device feature bits besides the offloads (net_backend.h). */
#define VTNET_F_MTU		(1ULL << 3)
#define VTNET_F_MAC		(1ULL << 5)
#define VTNET_F_MRG_RXBUF	(1ULL << 15)
#define VTNET_F_STATUS		(1ULL << 16)
#define VTNET_F_CTRL_VQ		(1ULL << 17)
#define VTNET_F_CTRL_RX		(1ULL << 18)
#define VTNET_F_MQ		(1ULL << 22)
#define VTNET_F_CTRL_MAC_ADDR	(1ULL << 23)
#define VTNET_F_ANY_LAYOUT	(1ULL << 27)

/* Configuration space: mac[6], le16 status, le16 max_virtqueue_pairs, le16 mtu. */
#define VTNET_CFG_MAC		0
#define VTNET_CFG_STATUS	6
#define VTNET_CFG_MAXPAIRS	8
#define VTNET_CFG_MTU		10
#define VTNET_CFGSIZE		12
#define VTNET_S_LINK_UP		1

/* Control queue classes and commands. */
#define VTNET_CTRL_RX		0
#define VTNET_CTRL_RX_PROMISC	0
#define VTNET_CTRL_RX_ALLMULTI	1
#define VTNET_CTRL_MAC		1
#define VTNET_CTRL_MAC_TABLE_SET 0
#define VTNET_CTRL_MAC_ADDR_SET	1
#define VTNET_CTRL_MQ		4
#define VTNET_CTRL_MQ_VQ_PAIRS_SET 0
#define VTNET_OK		0
#define VTNET_ERR		1

/* bhyve's default MAC: the FreeBSD Foundation's OUI and an MD5 of slot, function, VM name. */
static const uint8_t vtnet_oui[3] = { 0x58, 0x9c, 0xfc };

/* Receive chains taken from the ring and not yet returned: their writable
 * buffers one after another in iov, so a frame can run across several. */
struct vtnet_rxheld {
	struct iovec iov[VTNET_RXIOV];
	int niov, nchains;
	size_t cap;
	struct {
		uint16_t head;
		int niov;
		size_t cap;
	} chain[VTNET_QSIZE];
};

/* What the driver asked for on the control queue (best effort, as the spec allows). */
struct vtnet_filter {
	bool promisc, allmulti;
	bool uni_overflow, multi_overflow;
	int nuni, nmulti;
	uint8_t uni[VTNET_MACTAB][6];
	uint8_t multi[VTNET_MACTAB][6];
};

/* One queue pair: its queues are 2 * idx (receive) and 2 * idx + 1 (transmit). */
struct vtnet_pair {
	struct pci_vtnet_softc *sc;
	int idx;
	struct net_backend *be;		/* NULL: an unconnected card */
	/* Under vs_mtx: */
	bool be_rx_on;			/* the backend's rx is enabled */
	struct vtnet_rxheld rx;		/* chains taken from this pair's receive queue */
	struct net_backend *be_parked;	/* refused the offloads: kept, unused */
	/* Transmit runs on a thread of its own per pair, as in FreeBSD's bhyve,
	 * so that the notifying vCPU (or the event loop, with ioeventfd) does not
	 * wait for the backend's writes: a notify only wakes it. */
	pthread_t tx_thread;
	bool tx_started;
	pthread_cond_t tx_cond;		/* with vs_mtx */
	struct sandbox_waker tx_waker;	/* the tx thread takes its role */
	bool tx_kick;			/* under vs_mtx: chains may be waiting */
	bool tx_sending;		/* under vs_mtx: a batch is out without it */
	pthread_cond_t tx_sent;		/* with vs_mtx: tx_sending went false */
	struct vtnet_txbatch *txb;	/* the thread's own */
};

struct pci_vtnet_softc {
	struct virtio_softc vsc_vs;
	struct vqueue vsc_queues[VTNET_MAXQ];
	struct virtio_consts vsc_consts;	/* per device: the features depend on the backend */
	struct vtnet_pair *vsc_pairs;		/* vsc_npairs of them */
	int vsc_npairs;				/* offered (max_virtqueue_pairs) */
	uint8_t vsc_mac[6];			/* configured, restored at reset */
	uint16_t vsc_mtu;
	/* Under vsc_vs.vs_mtx: */
	uint8_t vsc_cfg[VTNET_CFGSIZE];
	bool vsc_logged;			/* one line per device for guest errors */
	bool vsc_ready;				/* features handed to the backends */
	bool vsc_mrg;				/* mergeable receive buffers */
	int vsc_curpairs;			/* the pairs the driver uses (1 until MQ_VQ_PAIRS_SET) */
	unsigned vsc_hdrlen;			/* 10 or 12 once ready */
	struct vtnet_filter vsc_filter;
	bool vsc_tx_stop;			/* under vs_mtx: the threads return */
	uint32_t vsc_gen;			/* under vs_mtx: bumped at each reset */
};

struct vtnet_txbatch {
	struct iovec iov[VTNET_TX_BATCH][VTNET_MAXSEGS];
	uint16_t flags[VTNET_TX_BATCH][VTNET_MAXSEGS];
	uint16_t head[VTNET_TX_BATCH];
	int n[VTNET_TX_BATCH];
};

static void vtnet_log(struct pci_vtnet_softc *sc, const char *why, int err)
{
	if (sc->vsc_logged)
		return;
	sc->vsc_logged = true;
	if (err != 0)
		warnx("%s: %s: %s (reported once)", sc->vsc_vs.vs_pi->pi_name, why, strerror(err));
	else
		warnx("%s: %s (reported once)", sc->vsc_vs.vs_pi->pi_name, why);
}

/* ---- settings ---- */

static const char *const vtnet_keys[] = { "device", "backend", "mac", "mtu", "queues",
    "hostfwd", "hostloopback" };

static int vtnet_key_known(const char *key, const char *value, void *arg)
{
	(void)value;
	(void)arg;
	for (size_t i = 0; i < nitems(vtnet_keys); i++)
		if (strcmp(key, vtnet_keys[i]) == 0)
			return 0;
	warnx("virtio-net: unknown option \"%s\"", key);
	return -1;
}

/* -s N,virtio-net,BACKEND[,key=value...]: the first option names the backend
 * (a bare word, or tap=NAME); the rest are keys. */
static int pci_vtnet_legacy_config(const char *node, const char *opts)
{
	size_t n = strcspn(opts, ",");
	char *first = xstrndup(opts, n);

	if (n > 0 && (strchr(first, '=') == NULL || strncmp(first, "tap=", 4) == 0)) {
		set_config_value_node(node, "backend", first);
		opts += n;
	}
	free(first);
	if (pci_generic_legacy_config(node, opts) != 0)
		return -1;
	return config_foreach_key(node, vtnet_key_known, NULL);
}

/* bhyve's recipe: MD5 of "slot-function-vmname", its first three bytes after the OUI. */
static void vtnet_default_mac(const struct pci_devinst *pi, uint8_t *mac)
{
	const char *name = get_config_value("name");
	uint8_t digest[MD5_LEN];
	char str[96];

	snprintf(str, sizeof(str), "%d-%d-%s", pi->pi_slot, pi->pi_func, name ? name : "");
	md5(str, strlen(str), digest);
	memcpy(mac, vtnet_oui, 3);
	memcpy(mac + 3, digest, 3);
}

/* Exactly six octets of one or two hex digits, ':' between them and nothing
 * after (ether_aton(3) stops after six and ignores the rest). */
static int vtnet_parse_mac(const char *s, uint8_t *mac)
{
	for (int i = 0; i < 6; i++) {
		int n = 0, v = 0;

		for (; n < 2 && isxdigit((unsigned char)s[n]); n++)
			v = v * 16 + (isdigit((unsigned char)s[n]) ? s[n] - '0' :
			    tolower((unsigned char)s[n]) - 'a' + 10);
		if (n == 0 || s[n] != (i < 5 ? ':' : '\0'))
			return -1;
		mac[i] = (uint8_t)v;
		s += n + (i < 5);
	}
	return 0;
}

static int vtnet_read_config(struct pci_vtnet_softc *sc, struct pci_devinst *pi,
    const char *node)
{
	const char *mac = get_config_value_node(node, "mac");
	const char *mtu = get_config_value_node(node, "mtu");
	const char *queues = get_config_value_node(node, "queues");
	uint8_t ea[6];
	unsigned long v;

	if (config_foreach_key(node, vtnet_key_known, NULL) != 0)
		return -1;
	if (mac != NULL) {
		static const uint8_t zero[6];

		if (vtnet_parse_mac(mac, ea) != 0 || (ea[0] & 1) || memcmp(ea, zero, 6) == 0) {
			warnx("virtio-net: invalid mac \"%s\": six hex bytes xx:xx:xx:xx:xx:xx, "
			    "neither multicast nor all zero", mac);
			return -1;
		}
		memcpy(sc->vsc_mac, ea, 6);
	} else {
		vtnet_default_mac(pi, sc->vsc_mac);
	}
	sc->vsc_mtu = VTNET_DEF_MTU;
	if (mtu != NULL) {
		if (parse_uint(mtu, VTNET_MAX_MTU, &v) != 0 || v < VTNET_MIN_MTU) {
			warnx("virtio-net: invalid mtu \"%s\": %d to %d", mtu, VTNET_MIN_MTU,
			    VTNET_MAX_MTU);
			return -1;
		}
		sc->vsc_mtu = (uint16_t)v;
	}
	sc->vsc_npairs = 0;	/* the default: decided with the backend */
	if (queues != NULL) {
		if (parse_uint(queues, VTNET_MAXPAIRS, &v) != 0 || v < 1) {
			warnx("virtio-net: invalid queues \"%s\": 1 to %d queue pairs", queues,
			    VTNET_MAXPAIRS);
			return -1;
		}
		sc->vsc_npairs = (int)v;
	}
	return 0;
}

/* The guest's vCPUs: the topology bhyve resolved from -c (1 without a VM). */
static int vtnet_guest_cpus(struct vmctx *ctx)
{
	int sockets, cores, threads;

	if (ctx == NULL || vm_get_topology(ctx, &sockets, &cores, &threads) != 0 ||
	    sockets * cores * threads < 1)
		return 1;
	return sockets * cores * threads;
}

/* ---- configuration space ---- */

static uint32_t pci_vtnet_cfgread(void *arg, uint32_t off, int size)
{
	struct pci_vtnet_softc *sc = arg;

	return (uint32_t)le_get(sc->vsc_cfg + off, size);
}

/* A legacy driver sets its MAC by writing it here; a modern one uses the control queue. */
static void pci_vtnet_cfgwrite(void *arg, uint32_t off, int size, uint32_t val)
{
	struct pci_vtnet_softc *sc = arg;

	if (vi_negotiated(&sc->vsc_vs, VIRTIO_F_VERSION_1))
		return;
	for (int i = 0; i < size; i++)
		if (off + (uint32_t)i < VTNET_CFG_MAC + 6)
			sc->vsc_cfg[off + (uint32_t)i] = (uint8_t)(val >> (8 * i));
}

/* ---- buffers ---- */

/* Copies len bytes at offset off of the buffers out of (to = false) or into them. */
static bool iov_copy(const struct iovec *iov, int n, size_t off, void *buf, size_t len, bool to)
{
	uint8_t *b = buf;

	for (int i = 0; i < n && len > 0; i++) {
		size_t l;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		l = iov[i].iov_len - off < len ? iov[i].iov_len - off : len;
		if (to)
			memcpy((uint8_t *)iov[i].iov_base + off, b, l);
		else
			memcpy(b, (uint8_t *)iov[i].iov_base + off, l);
		b += l;
		len -= l;
		off = 0;
	}
	return len == 0;
}

static bool vtnet_running(const struct pci_vtnet_softc *sc)
{
	return (sc->vsc_vs.vs_status & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET)) ==
	    VIRTIO_CONFIG_S_DRIVER_OK;
}

/* The pair whose receive queue backend queue i fills: its own while the driver
 * uses it, else one the driver does use. */
static struct vtnet_pair *vtnet_rx_target(struct pci_vtnet_softc *sc, int i)
{
	return &sc->vsc_pairs[i < sc->vsc_curpairs ? i : i % sc->vsc_curpairs];
}

static void vtnet_rx_on(struct vtnet_pair *p)
{
	if (p->be != NULL && p->sc->vsc_ready && !p->be_rx_on) {
		p->be_rx_on = true;
		netbe_rx_enable(p->be);
	}
}

static void vtnet_rx_off(struct vtnet_pair *p)
{
	if (p->be_rx_on) {
		p->be_rx_on = false;
		netbe_rx_disable(p->be);
	}
}

/* Once the driver is running: the header length and offloads it chose go to the
 * backends, and receiving starts (a driver may have posted buffers already). */
static void vtnet_apply_features(struct pci_vtnet_softc *sc)
{
	struct virtio_softc *vs = &sc->vsc_vs;
	bool refused = false, waited = false;

	if (sc->vsc_ready || !vtnet_running(sc))
		return;
	/* A batch taken before a reset may still be going out with the header
	 * length of then: the backends learn the new one after it. */
	for (int i = 0; i < sc->vsc_npairs; i++)
		while (sc->vsc_pairs[i].tx_sending) {
			pthread_cond_wait(&sc->vsc_pairs[i].tx_sent, &vs->vs_mtx);
			waited = true;
		}
	/* None starts another before vsc_ready; but vs_mtx was let go, and
	 * another thread may have applied them meanwhile. */
	if (waited && (sc->vsc_ready || !vtnet_running(sc)))
		return;
	sc->vsc_mrg = vi_negotiated(vs, VTNET_F_MRG_RXBUF);
	sc->vsc_hdrlen = sc->vsc_mrg || vi_negotiated(vs, VIRTIO_F_VERSION_1) ? 12 : 10;
	for (int i = 0; i < sc->vsc_npairs && !refused; i++) {
		struct net_backend *be = sc->vsc_pairs[i].be;

		if (be != NULL && netbe_set_cap(be, vs->vs_negotiated & netbe_get_cap(be),
		    sc->vsc_hdrlen) != 0) {
			vtnet_log(sc, "the backend refused the negotiated offloads", errno);
			refused = true;
		}
	}
	for (int i = 0; i < sc->vsc_npairs && refused; i++) {
		/* Unconnected from now on. Not closed: a transmit thread may be
		 * sending through it this moment. */
		sc->vsc_pairs[i].be_parked = sc->vsc_pairs[i].be;
		sc->vsc_pairs[i].be = NULL;
	}
	sc->vsc_ready = true;
	for (int i = 0; i < sc->vsc_npairs; i++)
		vtnet_rx_on(&sc->vsc_pairs[i]);
}

/* ---- receive ---- */

/* Takes one more receive chain into held (one too small even for the header goes
 * back empty); false when the ring has none. */
static bool vtnet_rx_take(struct pci_vtnet_softc *sc, struct vtnet_rxheld *h, struct vqueue *vq)
{
	struct iovec *iov = h->iov + h->niov;
	uint16_t flags[VTNET_MAXSEGS], head;
	size_t cap = 0;
	int n, k = 0;

	n = vq_getchain(vq, iov, VTNET_MAXSEGS, flags, &head);
	if (n <= 0)
		return false;
	for (int i = 0; i < n; i++) {
		if (!(flags[i] & VRING_DESC_F_WRITE)) {
			vtnet_log(sc, "receive buffer not device-writable (skipped)", 0);
			continue;
		}
		iov[k++] = iov[i];
		cap += iov[i].iov_len;
	}
	if (cap < sc->vsc_hdrlen) {
		vtnet_log(sc, "receive chain too small for the header (returned empty)", 0);
		vq_relchain(vq, head, 0);
		return true;
	}
	h->chain[h->nchains].head = head;
	h->chain[h->nchains].niov = k;
	h->chain[h->nchains].cap = cap;
	h->nchains++;
	h->niov += k;
	h->cap += cap;
	return true;
}

/* Drops the first n held chains (returned to the driver). */
static void vtnet_rx_forget(struct vtnet_rxheld *h, int n)
{
	int niov = 0;
	size_t cap = 0;

	for (int i = 0; i < n; i++) {
		niov += h->chain[i].niov;
		cap += h->chain[i].cap;
	}
	memmove(h->chain, h->chain + n, (size_t)(h->nchains - n) * sizeof(h->chain[0]));
	memmove(h->iov, h->iov + niov, (size_t)(h->niov - niov) * sizeof(h->iov[0]));
	h->nchains -= n;
	h->niov -= niov;
	h->cap -= cap;
}

static bool mac_in(const uint8_t (*tab)[6], int n, const uint8_t *mac)
{
	for (int i = 0; i < n; i++)
		if (memcmp(tab[i], mac, 6) == 0)
			return true;
	return false;
}

/* The receive filter the driver set up (everything until it says otherwise). */
static bool vtnet_rx_wanted(const struct pci_vtnet_softc *sc, const uint8_t *dst)
{
	const struct vtnet_filter *f = &sc->vsc_filter;
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (f->promisc || memcmp(dst, bcast, 6) == 0)
		return true;
	if (dst[0] & 1)
		return f->allmulti || f->multi_overflow || mac_in(f->multi, f->nmulti, dst);
	return memcmp(dst, sc->vsc_cfg + VTNET_CFG_MAC, 6) == 0 || f->uni_overflow ||
	    mac_in(f->uni, f->nuni, dst);
}

/* A frame of len bytes (header included) is in the held buffers: fixes up its
 * header and returns the chains it filled. */
static void vtnet_rx_deliver(struct pci_vtnet_softc *sc, struct vtnet_rxheld *h,
    struct vqueue *vq, size_t len)
{
	uint32_t ulen[VTNET_QSIZE];
	uint8_t nbuf[2], zero = 0;
	size_t left = len;
	int used = 0;

	while (left > 0 && used < h->nchains) {
		size_t l = h->chain[used].cap < left ? h->chain[used].cap : left;

		ulen[used++] = (uint32_t)l;
		left -= l;
	}
	if (!vi_negotiated(&sc->vsc_vs, VIRTIO_NET_F_GUEST_CSUM))
		iov_copy(h->iov, h->niov, 0, &zero, 1, true);	/* flags must be 0 then */
	if (sc->vsc_hdrlen == 12) {
		le_put(nbuf, (uint64_t)used, 2);
		iov_copy(h->iov, h->niov, 10, nbuf, 2, true);
	}
	for (int i = 0; i < used; i++)
		vq_relchain(vq, h->chain[i].head, ulen[i]);
	vtnet_rx_forget(h, used);
}

/* The backends that fill pair t's receive queue: rx off while it has no
 * buffers, on again when it has (a backend holding a frame is then called). */
static void vtnet_rx_target_set(struct pci_vtnet_softc *sc, const struct vtnet_pair *t, bool on)
{
	for (int i = 0; i < sc->vsc_npairs; i++) {
		if (vtnet_rx_target(sc, i) != t)
			continue;
		if (on)
			vtnet_rx_on(&sc->vsc_pairs[i]);
		else
			vtnet_rx_off(&sc->vsc_pairs[i]);
	}
}

/* Main loop (or a notify), vs_mtx held: frames from pair s's backend into the
 * receive buffers of the pair it fills. */
static void vtnet_rx(struct pci_vtnet_softc *sc, struct vtnet_pair *s)
{
	struct vtnet_pair *t;
	struct vqueue *vq;
	struct vtnet_rxheld *h;
	bool starved = false;
	uint8_t dst[6];

	if (s->be == NULL || !vtnet_running(sc)) {
		vtnet_rx_off(s);
		return;
	}
	vtnet_apply_features(sc);
	if (s->be == NULL)
		return;			/* it refused the offloads and is gone */
	t = vtnet_rx_target(sc, s->idx);
	vq = &sc->vsc_queues[2 * t->idx];
	h = &t->rx;
	if (!vq_ring_ready(vq)) {
		vtnet_rx_off(s);
		return;
	}
again:
	for (int frames = 0; frames < VTNET_RX_BATCH; frames++) {
		ssize_t len = 0, n;

		if (sc->vsc_mrg) {
			len = netbe_peek_recvlen(s->be);
			if (len <= 0)
				break;
			/* Enough chains for the whole frame; a frame bigger than all the
			 * buffers a full ring holds is cut short. */
			while (h->cap < (size_t)len && h->nchains < vq->vq_qsize &&
			    h->niov <= VTNET_QSIZE && !starved)
				starved = !vtnet_rx_take(sc, h, vq);
		} else {
			while (h->nchains == 0 && !starved)
				starved = !vtnet_rx_take(sc, h, vq);
		}
		if (starved)
			break;
		n = netbe_recv(s->be, h->iov, h->niov);
		if (n < 0)
			vtnet_log(sc, "receiving from the backend", errno);
		if (n <= 0)
			break;
		/* Runts and frames the filter does not want leave the buffers held. */
		if ((size_t)n < sc->vsc_hdrlen + VTNET_ETH_HLEN ||
		    !iov_copy(h->iov, h->niov, sc->vsc_hdrlen, dst, 6, false) ||
		    !vtnet_rx_wanted(sc, dst))
			continue;
		vtnet_rx_deliver(sc, h, vq, (size_t)n);
	}
	if (!starved) {
		vq_endchains(vq, false);
		return;
	}
	vtnet_rx_target_set(sc, t, false);	/* until the driver posts buffers */
	if (vq_endchains(vq, true)) {
		/* It posted some while we looked, perhaps with no notify to come. */
		vtnet_rx_target_set(sc, t, true);
		starved = false;
		if (s->be_rx_on)
			goto again;
	}
}

/* New buffers in pair t's receive queue (or the pairs in use changed): the
 * backends that fill it may deliver again. A backend may hold a frame it
 * already took from its fd (the tap's, to learn its length), which no
 * readiness event would announce: receive now. */
static void vtnet_rx_resume(struct pci_vtnet_softc *sc, const struct vtnet_pair *t)
{
	for (int i = 0; i < sc->vsc_npairs; i++) {
		struct vtnet_pair *s = &sc->vsc_pairs[i];

		if (vtnet_rx_target(sc, i) != t || s->be_rx_on)
			continue;
		vtnet_rx_on(s);
		if (s->be_rx_on)
			vtnet_rx(sc, s);
	}
}

static void pci_vtnet_rx_ready(void *arg)
{
	struct vtnet_pair *p = arg;
	struct pci_vtnet_softc *sc = p->sc;

	pthread_mutex_lock(&sc->vsc_vs.vs_mtx);
	vtnet_rx(sc, p);
	pthread_mutex_unlock(&sc->vsc_vs.vs_mtx);
}

/* ---- transmit ---- */

/* What the transmit thread sends with, taken under vs_mtx for a batch. */
struct vtnet_txctx {
	struct net_backend *be;		/* NULL: unconnected, frames go nowhere */
	unsigned hdrlen;
	uint64_t features;		/* negotiated */
};

/* The header the guest wrote, checked against what was negotiated. */
static bool vtnet_tx_hdr_ok(const struct vtnet_txctx *t, const uint8_t *hdr)
{
	uint8_t gso = hdr[1] & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
#define NEG(f) ((t->features & (f)) == (f))

	if ((hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !NEG(VIRTIO_NET_F_CSUM))
		return false;
	if ((hdr[1] & VIRTIO_NET_HDR_GSO_ECN) && !NEG(VIRTIO_NET_F_HOST_ECN))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return NEG(VIRTIO_NET_F_HOST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return NEG(VIRTIO_NET_F_HOST_TSO6);
	case VIRTIO_NET_HDR_GSO_UDP:
		return NEG(VIRTIO_NET_F_HOST_UFO);
	default:
		return false;
	}
#undef NEG
}

/* One chain: a header and a frame, sent with a private copy of the header (the
 * guest cannot change it between the check and the send). The transmit
 * thread, without vs_mtx: the buffers are the device's until released. */
static void vtnet_tx_one(struct pci_vtnet_softc *sc, const struct vtnet_txctx *t,
    struct iovec *iov, const uint16_t *flags, int n)
{
	struct iovec out[VTNET_MAXSEGS + 1];
	uint8_t hdr[12] = { 0 };
	size_t total = 0, hl = t->hdrlen, skip;
	int k = 1;

	for (int i = 0; i < n; i++) {
		if (flags[i] & VRING_DESC_F_WRITE) {
			vtnet_log(sc, "transmit buffer is device-writable (dropped)", 0);
			return;
		}
		total += iov[i].iov_len;
	}
	if (total < hl + VTNET_ETH_HLEN || total - hl > VTNET_MAX_FRAME) {
		vtnet_log(sc, "transmit chain shorter than a header and an Ethernet header, "
		    "or longer than 64 KiB (dropped)", 0);
		return;
	}
	iov_copy(iov, n, 0, hdr, hl, false);
	if (!vtnet_tx_hdr_ok(t, hdr)) {
		vtnet_log(sc, "transmit header asks for an offload not negotiated (dropped)", 0);
		return;
	}
	if (hl == 12)
		le_put(hdr + 10, 0, 2);		/* num_buffers means nothing here */
	if (t->be == NULL)
		return;				/* unconnected: the frame goes nowhere */
	out[0].iov_base = hdr;
	out[0].iov_len = hl;
	skip = hl;
	for (int i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[k].iov_len = iov[i].iov_len - skip;
		skip = 0;
		k++;
	}
	if (netbe_send(t->be, out, k) < 0 && errno != EAGAIN && errno != ENOBUFS)
		vtnet_log(sc, "sending to the backend", errno);
}

/* The transmit thread: woken by a notify, it takes up to VTNET_TX_BATCH chains
 * under vs_mtx, sends them without it, and returns them under it again, until
 * the ring stays empty. Chains taken before a reset are not returned: their
 * ring is gone. */
static void vtnet_tx_wake(void *arg)
{
	struct vtnet_pair *p = arg;

	pthread_mutex_lock(&p->sc->vsc_vs.vs_mtx);
	pthread_cond_broadcast(&p->tx_cond);
	pthread_mutex_unlock(&p->sc->vsc_vs.vs_mtx);
}

static void *vtnet_tx_thread(void *arg)
{
	struct vtnet_pair *p = arg;
	struct pci_vtnet_softc *sc = p->sc;
	struct virtio_softc *vs = &sc->vsc_vs;
	struct vqueue *vq = &sc->vsc_queues[2 * p->idx + 1];
	struct vtnet_txbatch *b = p->txb;

	pthread_mutex_lock(&vs->vs_mtx);
	for (;;) {
		/* Started before the sandbox: its role once it is there. */
		sandbox_enter(SANDBOX_NET);
		while (!p->tx_kick && !sc->vsc_tx_stop) {
			pthread_cond_wait(&p->tx_cond, &vs->vs_mtx);
			sandbox_enter(SANDBOX_NET);
		}
		if (sc->vsc_tx_stop)
			break;
		p->tx_kick = false;
		for (;;) {
			struct vtnet_txctx t = {
				.be = p->be, .hdrlen = sc->vsc_hdrlen,
				.features = vs->vs_negotiated,
			};
			uint32_t gen = sc->vsc_gen;
			int nc = 0, n = 0;

			if (!vtnet_running(sc) || !sc->vsc_ready)
				break;
			vq_notify_suppress(vq, true);	/* we are here: no need to kick */
			while (nc < VTNET_TX_BATCH && (n = vq_getchain(vq, b->iov[nc],
			    VTNET_MAXSEGS, b->flags[nc], &b->head[nc])) > 0)
				b->n[nc++] = n;
			if (nc > 0) {
				p->tx_sending = true;
				pthread_mutex_unlock(&vs->vs_mtx);
				for (int i = 0; i < nc; i++)
					vtnet_tx_one(sc, &t, b->iov[i], b->flags[i], b->n[i]);
				pthread_mutex_lock(&vs->vs_mtx);
				p->tx_sending = false;
				pthread_cond_broadcast(&p->tx_sent);
				if (gen != sc->vsc_gen)
					break;
				for (int i = 0; i < nc; i++)
					vq_relchain(vq, b->head[i], 0);
			}
			vq_endchains(vq, n == 0);
			if (n < 0)
				break;
			/* The driver may have added chains before it saw that it may
			 * notify again: look once more before sleeping. */
			if (nc == 0) {
				vq_notify_suppress(vq, false);
				if (!vq_has_descs(vq))
					break;
			}
		}
	}
	pthread_mutex_unlock(&vs->vs_mtx);
	return NULL;
}

/* ---- control queue ---- */

/* The driver uses n pairs from now on: each backend queue fills the receive
 * queue of its new target, starting with what each one holds. Chains taken
 * from a queue the driver stops using stay there: it reclaims them itself. */
static void vtnet_set_pairs(struct pci_vtnet_softc *sc, int n)
{
	if (n == sc->vsc_curpairs)
		return;
	for (int i = 0; i < sc->vsc_npairs; i++)
		vtnet_rx_off(&sc->vsc_pairs[i]);
	sc->vsc_curpairs = n;
	for (int i = 0; i < n; i++)
		vtnet_rx_resume(sc, &sc->vsc_pairs[i]);
}

/* MAC_TABLE_SET: le32 count and that many unicast addresses, then the same for multicast. */
static uint8_t vtnet_ctl_mac_table(struct vtnet_filter *f, const uint8_t *d, size_t len)
{
	size_t off = 0;
	uint32_t cnt[2];

	for (int t = 0; t < 2; t++) {
		if (len - off < 4)
			return VTNET_ERR;
		cnt[t] = (uint32_t)le_get(d + off, 4);
		if (cnt[t] > (len - off - 4) / 6)
			return VTNET_ERR;
		off += 4 + 6 * (size_t)cnt[t];
	}
	if (off != len)
		return VTNET_ERR;
	f->uni_overflow = cnt[0] > VTNET_MACTAB;
	f->nuni = f->uni_overflow ? 0 : (int)cnt[0];
	memcpy(f->uni, d + 4, 6 * (size_t)f->nuni);
	off = 4 + 6 * (size_t)cnt[0];
	f->multi_overflow = cnt[1] > VTNET_MACTAB;
	f->nmulti = f->multi_overflow ? 0 : (int)cnt[1];
	memcpy(f->multi, d + off + 4, 6 * (size_t)f->nmulti);
	return VTNET_OK;
}

/* One command: {u8 class, u8 command} and its data. */
static uint8_t vtnet_ctl_cmd(struct pci_vtnet_softc *sc, const uint8_t *c, size_t len)
{
	struct virtio_softc *vs = &sc->vsc_vs;
	struct vtnet_filter *f = &sc->vsc_filter;
	const uint8_t *d = c + 2;
	size_t dlen = len - 2;

	if (len < 2)
		return VTNET_ERR;
	if (c[0] == VTNET_CTRL_RX && vi_negotiated(vs, VTNET_F_CTRL_RX)) {
		if (dlen != 1 || c[1] > VTNET_CTRL_RX_ALLMULTI)
			return VTNET_ERR;
		if (c[1] == VTNET_CTRL_RX_PROMISC)
			f->promisc = d[0] != 0;
		else
			f->allmulti = d[0] != 0;
		return VTNET_OK;
	}
	if (c[0] == VTNET_CTRL_MAC && c[1] == VTNET_CTRL_MAC_TABLE_SET &&
	    vi_negotiated(vs, VTNET_F_CTRL_RX))
		return vtnet_ctl_mac_table(f, d, dlen);
	if (c[0] == VTNET_CTRL_MAC && c[1] == VTNET_CTRL_MAC_ADDR_SET &&
	    vi_negotiated(vs, VTNET_F_CTRL_MAC_ADDR)) {
		if (dlen != 6)
			return VTNET_ERR;
		memcpy(sc->vsc_cfg + VTNET_CFG_MAC, d, 6);
		return VTNET_OK;
	}
	if (c[0] == VTNET_CTRL_MQ && c[1] == VTNET_CTRL_MQ_VQ_PAIRS_SET &&
	    vi_negotiated(vs, VTNET_F_MQ)) {
		unsigned n = dlen == 2 ? (unsigned)le_get(d, 2) : 0;

		if (n < 1 || n > (unsigned)sc->vsc_npairs)
			return VTNET_ERR;
		vtnet_set_pairs(sc, (int)n);
		return VTNET_OK;
	}
	return VTNET_ERR;
}

static void vtnet_ctl(struct pci_vtnet_softc *sc, struct vqueue *vq)
{
	struct iovec iov[VTNET_MAXSEGS];
	uint16_t flags[VTNET_MAXSEGS], head;
	uint8_t cmd[VTNET_CTRL_MAX];
	int n;

again:
	while ((n = vq_getchain(vq, iov, VTNET_MAXSEGS, flags, &head)) > 0) {
		size_t rlen = 0, wlen = 0;
		int nr = 0;
		uint8_t ack;

		while (nr < n && !(flags[nr] & VRING_DESC_F_WRITE))
			rlen += iov[nr++].iov_len;
		for (int i = nr; i < n; i++)
			wlen += (flags[i] & VRING_DESC_F_WRITE) ? iov[i].iov_len : 0;
		if (wlen == 0) {
			vtnet_log(sc, "control command without a writable ack byte", 0);
			vq_relchain(vq, head, 0);
			continue;
		}
		ack = VTNET_ERR;
		if (rlen <= sizeof(cmd)) {
			iov_copy(iov, nr, 0, cmd, rlen, false);
			ack = vtnet_ctl_cmd(sc, cmd, rlen);
		}
		for (int i = nr; i < n; i++) {
			if ((flags[i] & VRING_DESC_F_WRITE) && iov[i].iov_len > 0) {
				*(uint8_t *)iov[i].iov_base = ack;
				break;
			}
		}
		vq_relchain(vq, head, 1);
	}
	if (vq_endchains(vq, n == 0))
		goto again;	/* added while we were busy, with no notify */
}

/* ---- transport callbacks ---- */

/* vCPU thread (or the event loop), vs_mtx held. */
static void pci_vtnet_notify(void *arg, struct vqueue *vq)
{
	struct pci_vtnet_softc *sc = arg;

	bool mq = vi_negotiated(&sc->vsc_vs, VTNET_F_MQ);
	struct vtnet_pair *p;

	vtnet_apply_features(sc);
	/* The control queue comes after the pairs with MQ, else after the first
	 * (virtio 1.x 5.1.2: a driver without MQ knows three queues). */
	if (vq->vq_num == (mq ? 2 * sc->vsc_npairs : 2)) {
		vtnet_ctl(sc, vq);
		return;
	}
	if (!mq && vq->vq_num > 2)
		return;
	p = &sc->vsc_pairs[vq->vq_num / 2];
	if (vq->vq_num % 2 == 0) {
		/* New buffers: the backends that fill this queue may deliver again. */
		if (p->idx < sc->vsc_curpairs)
			vtnet_rx_resume(sc, p);
	} else {
		p->tx_kick = true;
		pthread_cond_signal(&p->tx_cond);
	}
}

static void vtnet_filter_reset(struct vtnet_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->promisc = true;	/* until the driver sets a filter, as other devices do */
}

/* vs_mtx held: back to the state before the driver came. */
static void pci_vtnet_reset(void *arg)
{
	struct pci_vtnet_softc *sc = arg;

	for (int i = 0; i < sc->vsc_npairs; i++) {
		struct vtnet_pair *p = &sc->vsc_pairs[i];

		vtnet_rx_off(p);
		p->rx.niov = p->rx.nchains = 0;
		p->rx.cap = 0;
	}
	sc->vsc_gen++;			/* the transmit threads drop what they hold */
	sc->vsc_ready = false;
	sc->vsc_mrg = false;
	sc->vsc_hdrlen = 0;
	sc->vsc_curpairs = 1;
	vtnet_filter_reset(&sc->vsc_filter);
	memcpy(sc->vsc_cfg + VTNET_CFG_MAC, sc->vsc_mac, 6);
}

static void vtnet_close_backends(struct pci_vtnet_softc *sc, int n)
{
	for (int i = 0; i < n; i++)
		netbe_close(sc->vsc_pairs[i].be);
}

/* The pairs and their backends: as many as the queues key asks (an error when
 * the backend cannot carry them), else one per vCPU up to what it carries. */
static int vtnet_open_backends(struct pci_vtnet_softc *sc, struct pci_devinst *pi,
    const char *node)
{
	const char *name = get_config_value_node(node, "backend");
	bool asked = sc->vsc_npairs > 0;
	int want = asked ? sc->vsc_npairs : name == NULL ? 1 : vtnet_guest_cpus(pi->pi_vmctx);

	if (want > VTNET_MAXPAIRS)
		want = VTNET_MAXPAIRS;
	sc->vsc_pairs = xcalloc((size_t)want, sizeof(*sc->vsc_pairs));
	for (int i = 0; i < want; i++) {
		sc->vsc_pairs[i].sc = sc;
		sc->vsc_pairs[i].idx = i;
	}
	sc->vsc_npairs = want;
	if (name == NULL)
		return 0;		/* unconnected */
	sc->vsc_pairs[0].be = netbe_open(pi->pi_name, node, want, pci_vtnet_rx_ready,
	    &sc->vsc_pairs[0]);
	if (sc->vsc_pairs[0].be == NULL)
		return -1;
	if (netbe_max_queues(sc->vsc_pairs[0].be) < want) {
		if (asked) {
			warnx("%s: queues=%d: backend %s carries one queue pair", pi->pi_name, want,
			    name);
			netbe_close(sc->vsc_pairs[0].be);
			return -1;
		}
		sc->vsc_npairs = netbe_max_queues(sc->vsc_pairs[0].be);
	}
	for (int i = 1; i < sc->vsc_npairs; i++) {
		sc->vsc_pairs[i].be = netbe_open_queue(pi->pi_name, sc->vsc_pairs[0].be,
		    pci_vtnet_rx_ready, &sc->vsc_pairs[i]);
		if (sc->vsc_pairs[i].be == NULL) {
			vtnet_close_backends(sc, i);
			return -1;
		}
	}
	return 0;
}

static int pci_vtnet_init(struct pci_devinst *pi, const char *node)
{
	struct pci_vtnet_softc *sc = xcalloc(1, sizeof(*sc));
	struct virtio_consts *vc = &sc->vsc_consts;
	struct net_backend *be;
	uint64_t features;

	if (vtnet_read_config(sc, pi, node) != 0 || vtnet_open_backends(sc, pi, node) != 0)
		goto fail;
	be = sc->vsc_pairs[0].be;
	features = VTNET_F_MAC | VTNET_F_STATUS | VTNET_F_MRG_RXBUF | VTNET_F_CTRL_VQ |
	    VTNET_F_CTRL_RX | VTNET_F_CTRL_MAC_ADDR | VTNET_F_ANY_LAYOUT;
	if (get_config_value_node(node, "mtu") != NULL)
		features |= VTNET_F_MTU;
	if (sc->vsc_npairs > 1)
		features |= VTNET_F_MQ;
	if (be != NULL)
		features |= netbe_get_cap(be) & VIRTIO_NET_OFFLOADS;
	memcpy(sc->vsc_cfg + VTNET_CFG_MAC, sc->vsc_mac, 6);
	le_put(sc->vsc_cfg + VTNET_CFG_STATUS, be != NULL ? VTNET_S_LINK_UP : 0, 2);
	le_put(sc->vsc_cfg + VTNET_CFG_MAXPAIRS, (uint64_t)sc->vsc_npairs, 2);
	le_put(sc->vsc_cfg + VTNET_CFG_MTU, sc->vsc_mtu, 2);
	*vc = (struct virtio_consts){
		.vc_name = "virtio-net",
		.vc_type = VIRTIO_TYPE_NET,
		.vc_devid = VIRTIO_DEV_NET,
		.vc_class = 0x02,	/* network controller */
		.vc_subclass = 0x00,	/* Ethernet */
		.vc_nvq = 2 * sc->vsc_npairs + 1,
		.vc_qsize = VTNET_QSIZE,
		.vc_features = features,
		.vc_cfgsize = VTNET_CFGSIZE,
		.vc_cfgread = pci_vtnet_cfgread,
		.vc_cfgwrite = pci_vtnet_cfgwrite,
		.vc_qnotify = pci_vtnet_notify,
		.vc_reset = pci_vtnet_reset,
	};
	if (vi_softc_init(&sc->vsc_vs, vc, sc, pi, sc->vsc_queues) != 0) {
		vtnet_close_backends(sc, sc->vsc_npairs);
		goto fail;
	}
	for (int i = 0; i < sc->vsc_npairs; i++) {
		struct vtnet_pair *p = &sc->vsc_pairs[i];
		char name[32];		/* at most 15 used: "virtio-net tx7" */

		p->txb = xcalloc(1, sizeof(*p->txb));
		pthread_cond_init(&p->tx_cond, NULL);
		pthread_cond_init(&p->tx_sent, NULL);
		if (thread_start(&p->tx_thread, vtnet_tx_thread, p) != 0) {
			warnx("%s: cannot start a transmit thread", pi->pi_name);
			return -1;		/* the VM does not start */
		}
		p->tx_started = true;
		snprintf(name, sizeof(name), "virtio-net tx%d", i);
		pthread_setname_np(p->tx_thread, name);
		sandbox_waker_add(&p->tx_waker, vtnet_tx_wake, p);
	}
	return 0;
fail:
	pi->pi_arg = NULL;
	free(sc->vsc_pairs);
	free(sc);
	return -1;
}

static void pci_vtnet_deinit(struct pci_devinst *pi)
{
	struct pci_vtnet_softc *sc = pi->pi_arg;

	if (sc == NULL || sc->vsc_tx_stop)
		return;
	for (int i = 0; i < sc->vsc_npairs; i++)
		if (sc->vsc_pairs[i].tx_started)
			sandbox_waker_remove(&sc->vsc_pairs[i].tx_waker);
	pthread_mutex_lock(&sc->vsc_vs.vs_mtx);
	sc->vsc_tx_stop = true;
	for (int i = 0; i < sc->vsc_npairs; i++)
		pthread_cond_signal(&sc->vsc_pairs[i].tx_cond);
	pthread_mutex_unlock(&sc->vsc_vs.vs_mtx);
	for (int i = 0; i < sc->vsc_npairs; i++)
		if (sc->vsc_pairs[i].tx_started)
			thread_join(sc->vsc_pairs[i].tx_thread);
}

static const struct pci_devemu pci_de_vnet = {
	.pe_emu = "virtio-net",
	.pe_init = pci_vtnet_init,
	.pe_deinit = pci_vtnet_deinit,
	.pe_legacy_config = pci_vtnet_legacy_config,
	.pe_barwrite = vi_pci_write,
	.pe_barread = vi_pci_read,
	.pe_cfgwrite = vi_pci_cfgwrite,
	.pe_cfgread = vi_pci_cfgread,
};
PCI_EMUL_SET(pci_de_vnet);
