/* libFuzzer target: the tap backend's paths (bhyve/backends/net_tap.c) under
 * virtio-net: a real Linux tap, in a network namespace of the process's own
 * (fuzz_net_setup), receives the guest's transmitted frames with the virtio-net
 * header the guest wrote (offloads negotiated or not); the target's op
 * (fuzz_common.h) sends frames from the host side (bit 3 clear: a packet
 * socket on the tap, 2-byte length then the bytes) into the device's receive
 * path, or drains what reached the host (bit 3 set). Needs CAP_NET_ADMIN (root)
 * and /dev/net/tun. Regions: virtio-net's BAR 0, 1, 4, configuration space. */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "pci_emul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pci_devinst *net;
static int host = -1;

static void setup(void)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };

	net = fz_net_setup("tap=fuzz0");
	fz_link_up("fuzz0");
	sll.sll_ifindex = (int)if_nametoindex("fuzz0");
	host = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (host < 0 || sll.sll_ifindex == 0 || bind(host, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		abort();
}

static void drain(void)
{
	uint8_t buf[2048];

	while (recv(host, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void reset(void)
{
	fz_virtio_reset(net);
	fz_pci_restore();
	drain();
	fake_reset_msi();
	fake_reset_irqs();
}

static void hook(struct fz_input *in, uint8_t op)
{
	uint8_t frame[1514];
	size_t n;

	if (op & 8) {
		drain();
		return;
	}
	n = fz_take_buf(in, frame, (size_t)fz_take(in, 2) % (sizeof(frame) + 1));
	if (n >= ETH_HLEN && send(host, frame, n, MSG_DONTWAIT) > 0)
		fz_poll(2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset, .hook = hook,
	    .finish = reset, .dma = true };

	return fz_run(&t, data, size);
}
