/* libFuzzer target: the slirp backend (bhyve/backends/net_slirp.c) under
 * virtio-net, with the real libslirp: the guest's transmitted frames go through
 * bhyve's framing (the virtio-net header stripped, length limits, the bounded
 * queues) to libslirp's thread, and what libslirp answers (ARP, DHCP, ICMP, TCP
 * resets) comes back through the receive path into the guest's buffers. The
 * process first moves into a network namespace of its own (fuzz_net_setup), so
 * whatever the guest asks slirp to reach (the host's loopback, DNS, the
 * outside) is a namespace with nothing in it. The target's op (fuzz_common.h)
 * waits until the transmit thread and libslirp's are asleep again (at most
 * 20 ms) and runs the event loop, so that replies arrive; with bit 3 set it
 * runs the loop once more (the second wait returns at once, as nothing was
 * written in between). Regions: virtio-net's BAR 0, 1, 4, configuration space. */
#include <stdlib.h>

#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "pci_emul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pci_devinst *net;

static void setup(void)
{
	net = fz_net_setup("slirp");
}

static void reset(void)
{
	fz_virtio_reset(net);
	fz_pci_restore();
	fake_reset_msi();
	fake_reset_irqs();
}

static void hook(struct fz_input *in, uint8_t op)
{
	(void)in;
	fz_wait_idle(20);
	fz_poll(2);
	if (op & 8) {
		fz_wait_idle(20);
		fz_poll(2);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset, .hook = hook,
	    .finish = reset, .dma = true };

	return fz_run(&t, data, size);
}
