/* Network backends for virtio-net (bhyve's net_backends): what carries the guest's
 * Ethernet frames to the host. Selected by the device's "backend" key:
 *   tapN, vmnetN, tap=NAME   a Linux tap (created or opened by name, IFF_VNET_HDR)
 *   slirp                    user-mode networking through libslirp (10.0.2.0/24)
 * Each backend file implements one and registers it with NET_BACKEND_SET.
 *
 * Frames cross this interface with a virtio-net header in front of them when
 * the device has set one with netbe_set_cap (hdr_len 10 or 12); with 0 they are
 * bare Ethernet frames. A backend that cannot carry the header itself (slirp)
 * adds and strips it.
 *
 * Threads: netbe_send may be called from any one thread at a time (the device's
 * TX path); netbe_recv/netbe_peek_recvlen from the thread the rx callback runs
 * on (the main event loop). */
#ifndef NET_BACKEND_H
#define NET_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "util.h"

struct net_backend;

/* The virtio-net offload feature bits netbe_get_cap/netbe_set_cap speak of
 * (virtio 1.x, 5.1.3), and the header fields a backend that carries offloads
 * reads and writes (5.1.6: flags, gso_type, le16 hdr_len, gso_size,
 * csum_start, csum_offset, then le16 num_buffers when hdr_len is 12). */
#define VIRTIO_NET_F_CSUM		(1ULL << 0)
#define VIRTIO_NET_F_GUEST_CSUM		(1ULL << 1)
#define VIRTIO_NET_F_GUEST_TSO4		(1ULL << 7)
#define VIRTIO_NET_F_GUEST_TSO6		(1ULL << 8)
#define VIRTIO_NET_F_GUEST_ECN		(1ULL << 9)
#define VIRTIO_NET_F_GUEST_UFO		(1ULL << 10)
#define VIRTIO_NET_F_HOST_TSO4		(1ULL << 11)
#define VIRTIO_NET_F_HOST_TSO6		(1ULL << 12)
#define VIRTIO_NET_F_HOST_ECN		(1ULL << 13)
#define VIRTIO_NET_F_HOST_UFO		(1ULL << 14)
#define VIRTIO_NET_OFFLOADS \
	(VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4 | \
	 VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_ECN | VIRTIO_NET_F_GUEST_UFO | \
	 VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_HOST_ECN | \
	 VIRTIO_NET_F_HOST_UFO)
#define VIRTIO_NET_HDR_F_NEEDS_CSUM	1
#define VIRTIO_NET_HDR_F_DATA_VALID	2
#define VIRTIO_NET_HDR_GSO_NONE		0
#define VIRTIO_NET_HDR_GSO_TCPV4	1
#define VIRTIO_NET_HDR_GSO_UDP		3
#define VIRTIO_NET_HDR_GSO_TCPV6	4
#define VIRTIO_NET_HDR_GSO_ECN		0x80

/* Called on the main event loop when frames may be waiting (the device then
 * calls netbe_recv until it returns 0, or disables rx). */
typedef void (*net_rx_ready_t)(void *arg);

/* Opens the backend the config node's "backend" key names ("pci.0.3.0") (other keys it reads:
 * "hostfwd" for slirp, "mtu"). NULL after one line on stderr naming devname
 * when the name is unknown or the backend cannot be set up. queues > 1 asks
 * for a backend that can carry that many queue pairs (a tap opened with
 * IFF_MULTI_QUEUE); netbe_max_queues says how many it can. */
struct net_backend *netbe_open(const char *devname, const char *node, int queues,
    net_rx_ready_t cb, void *arg);

/* Multi-queue (virtio-net's VIRTIO_NET_F_MQ): each further queue pair has a
 * backend of its own on the same host interface, opened from the first.
 * netbe_max_queues: how many pairs be can carry (1 for most backends).
 * netbe_open_queue: one more, with its own rx callback; NULL after one line.
 * The host side spreads its flows over all of them (a tap hashes each flow
 * to one queue), whatever number of pairs the guest uses. */
int netbe_max_queues(struct net_backend *be);
struct net_backend *netbe_open_queue(const char *devname, struct net_backend *first,
    net_rx_ready_t cb, void *arg);

/* The virtio-net feature bits (VIRTIO_NET_F_CSUM, GUEST_CSUM, HOST_TSO4 ...) the
 * backend can honour; 0 when it takes only whole, checksummed frames. */
uint64_t netbe_get_cap(struct net_backend *be);
/* Agrees on the offloads the guest accepted and the header length (0, 10 or 12)
 * frames carry from now on. 0, or -1 when the combination is impossible. */
int netbe_set_cap(struct net_backend *be, uint64_t features, unsigned hdr_len);

/* One frame (header included when hdr_len > 0). Returns the bytes taken, or -1
 * with errno (EAGAIN when the host side is full: the frame is dropped, as a
 * wire would). */
ssize_t netbe_send(struct net_backend *be, const struct iovec *iov, int iovcnt);
/* Length of the next waiting frame, header included; 0 when none. */
ssize_t netbe_peek_recvlen(struct net_backend *be);
/* Copies the next frame into iov (header included); 0 when none is waiting,
 * -1 with errno on error. A frame longer than iov is truncated and consumed. */
ssize_t netbe_recv(struct net_backend *be, const struct iovec *iov, int iovcnt);
/* Stop/start calling the rx callback (the guest has no buffers / has some). */
void netbe_rx_disable(struct net_backend *be);
void netbe_rx_enable(struct net_backend *be);
void netbe_close(struct net_backend *be);

/* What each backend file provides; NET_BACKEND_SET(x) registers it (a linker set,
 * as PCI_EMUL_SET does for devices). */
struct net_backend_ops {
	const char *prefix;	/* "tap", "slirp": matched against the name */
	const char *alias;	/* another prefix it answers to ("vmnet"), or NULL */
	size_t priv_size;
	int (*init)(struct net_backend *be, const char *devname, const char *name,
	    const char *node);
	void (*cleanup)(struct net_backend *be);
	ssize_t (*send)(struct net_backend *be, const struct iovec *iov, int iovcnt);
	ssize_t (*peek_recvlen)(struct net_backend *be);
	ssize_t (*recv)(struct net_backend *be, const struct iovec *iov, int iovcnt);
	void (*recv_enable)(struct net_backend *be);
	void (*recv_disable)(struct net_backend *be);
	uint64_t (*get_cap)(struct net_backend *be);
	int (*set_cap)(struct net_backend *be, uint64_t features, unsigned hdr_len);
	/* Multi-queue, where the backend has it (NULL: one queue pair). */
	int (*open_queue)(struct net_backend *be, const char *devname,
	    struct net_backend *first);
};

struct net_backend {
	const struct net_backend_ops *ops;
	net_rx_ready_t cb;
	void *cb_arg;
	unsigned hdr_len;	/* what the device set; 0 until then */
	uint64_t features;
	int queues;		/* asked of netbe_open; the backend's init lowers it to what it can */
	void *priv;		/* ops->priv_size bytes, zeroed */
};

#define NET_BACKEND_SET(x) DATA_SET(net_backend_set, x)

#endif
