/* libFuzzer target: virtio-net's receive path (and its transmit and control
 * queues) with a backend the input plays: this file registers backend "fuzz",
 * whose frames come from the target's op (fuzz_common.h): bit 3 clear queues
 * the frame that follows (2-byte length, at most 9000, then the bytes; with the
 * virtio-net header in front when the device asked for one) and tells the
 * device, as a backend's event would; bit 3 set only tells it again. The
 * backend offers every offload, so the header and mergeable-buffer paths run;
 * what the guest transmits is counted and dropped. The device has two queue
 * pairs (multi-queue): the frames are one stream, and bit 4 of the op says
 * which pair's backend tells the device. Regions, in order: BAR 0 (legacy),
 * BAR 1 (MSI-X), BAR 4 (modern), configuration space. */
#include <stdlib.h>
#include <string.h>

#include "backends/net_backend.h"
#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "pci_emul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAME	9000
#define MAX_QUEUED	16

static struct pci_devinst *net;
#define NQUEUES		2

static struct net_backend *fbe[NQUEUES];
static bool rx_on[NQUEUES];
static struct {
	size_t len;
	uint8_t data[MAX_FRAME];
} frames[MAX_QUEUED];
static int nframes, first;

static int fbe_init(struct net_backend *be, const char *devname, const char *name,
    const char *node)
{
	(void)devname;
	(void)name;
	(void)node;
	fbe[0] = be;
	return 0;
}

static int fbe_open_queue(struct net_backend *be, const char *devname, struct net_backend *first)
{
	(void)devname;
	(void)first;
	fbe[1] = be;
	return 0;
}

static int fbe_index(const struct net_backend *be)
{
	return be == fbe[1];
}

static void fbe_cleanup(struct net_backend *be)
{
	(void)be;
}

static ssize_t fbe_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	ssize_t n = 0;

	(void)be;
	for (int i = 0; i < iovcnt; i++) {
		/* Touch every byte, as a backend copying the frame out would. */
		volatile const uint8_t *p = iov[i].iov_base;

		for (size_t k = 0; k < iov[i].iov_len; k += 64)
			(void)p[k];
		n += (ssize_t)iov[i].iov_len;
	}
	return n;
}

static ssize_t fbe_peek(struct net_backend *be)
{
	(void)be;
	return nframes > 0 ? (ssize_t)frames[first].len : 0;
}

static ssize_t fbe_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	size_t len, off = 0;

	(void)be;
	if (nframes == 0)
		return 0;
	len = frames[first].len;
	for (int i = 0; i < iovcnt && off < len; i++) {
		size_t n = len - off < iov[i].iov_len ? len - off : iov[i].iov_len;

		memcpy(iov[i].iov_base, frames[first].data + off, n);
		off += n;
	}
	first = (first + 1) % MAX_QUEUED;
	nframes--;
	return (ssize_t)len;
}

static void fbe_enable(struct net_backend *be)
{
	rx_on[fbe_index(be)] = true;
}

static void fbe_disable(struct net_backend *be)
{
	rx_on[fbe_index(be)] = false;
}

static uint64_t fbe_get_cap(struct net_backend *be)
{
	(void)be;
	return VIRTIO_NET_OFFLOADS;
}

static int fbe_set_cap(struct net_backend *be, uint64_t features, unsigned hdr_len)
{
	be->features = features;
	be->hdr_len = hdr_len;
	return 0;
}

static const struct net_backend_ops fuzz_backend = {
	.prefix = "fuzz",
	.init = fbe_init,
	.cleanup = fbe_cleanup,
	.send = fbe_send,
	.peek_recvlen = fbe_peek,
	.recv = fbe_recv,
	.recv_enable = fbe_enable,
	.recv_disable = fbe_disable,
	.get_cap = fbe_get_cap,
	.set_cap = fbe_set_cap,
	.open_queue = fbe_open_queue,
};
NET_BACKEND_SET(fuzz_backend);

static void setup(void)
{
	static const char *const specs[] = { "5,virtio-net,backend=fuzz,queues=2" };

	fz_pci(specs, 1);
	net = pci_find(0, 5, 0);
	if (fbe[0] == NULL || fbe[1] == NULL)
		abort();
	fz_add_bars(net);
	fz_add_cfg(net);
	fz_pci_save(net);
	/* The transmit thread runs on its own; the op stream polls. */
}

static void reset(void)
{
	fz_virtio_reset(net);
	fz_pci_restore();
	nframes = first = 0;
	fake_reset_msi();
	fake_reset_irqs();
}

static void hook(struct fz_input *in, uint8_t op)
{
	if (!(op & 8) && nframes < MAX_QUEUED) {
		int slot = (first + nframes) % MAX_QUEUED;
		size_t len = (size_t)fz_take(in, 2) % (MAX_FRAME + 1);

		frames[slot].len = fz_take_buf(in, frames[slot].data, len);
		nframes++;
	}
	if (rx_on[(op >> 4) & 1])
		fbe[(op >> 4) & 1]->cb(fbe[(op >> 4) & 1]->cb_arg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset, .hook = hook,
	    .finish = reset, .dma = true };

	return fz_run(&t, data, size);
}
