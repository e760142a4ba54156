/* libFuzzer target: a guest that writes anything it likes into a virtqueue.
 * Each input becomes the available ring and descriptor table of virtio-rnd's
 * queue (its first bytes pick the negotiated features; the ring comes first
 * so that short inputs already post requests), the guest notifies,
 * and the real transport and device walk what they find. Nothing may crash,
 * read or write outside guest RAM, or hang: ASan and UBSan watch, and the
 * device must end either working or in DEVICE_NEEDS_RESET. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "iodispatch.h"
#include "pci_emul.h"
#include "virtio.h"

#define RAM_SIZE	(1 << 20)
#define RING_GPA	0x10000		/* PFN 0x10: desc, avail, then used at 0x11000 */
#define QSIZE		64		/* virtio-rnd's queue */
#define DESC_BYTES	(16 * QSIZE)
#define AVAIL_GPA	(RING_GPA + DESC_BYTES)
#define AVAIL_BYTES	(4 + 2 * QSIZE + 2)
#define RING_BYTES	0x2000
#define SCATTER_GPA	0x20000		/* buffers and indirect tables the input points at */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static uint64_t bar0;

static void io(bool write, uint64_t off, int size, uint64_t val)
{
	emulate_io(IO_PORT, write, bar0 + off, size, &val);
}

static void setup(void)
{
	struct vmctx *ctx = fake_vm_create(RAM_SIZE, 0);

	ram = calloc(1, RAM_SIZE);
	if (ctx == NULL || ram == NULL || pci_parse_slot("3,virtio-rnd") != 0 || init_pci(ctx) != 0)
		abort();
	fake_vm_set_ram(ctx, ram, RAM_SIZE);
	bar0 = pci_find(0, 3, 0)->pi_bar[0].addr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t features = 0;
	size_t n;

	if (ram == NULL)
		setup();
	if (size >= 4) {
		memcpy(&features, data, 4);
		data += 4;
		size -= 4;
	}
	/* A fresh driver: reset, features, the queue, DRIVER_OK. */
	io(true, VIRTIO_PCI_STATUS, 1, 0);
	io(true, VIRTIO_PCI_STATUS, 1, 1 | 2);
	io(true, VIRTIO_PCI_GUEST_FEATURES, 4, features);
	io(true, VIRTIO_PCI_QUEUE_SEL, 2, 0);
	memset(ram + RING_GPA, 0, RING_BYTES);
	n = size < AVAIL_BYTES ? size : AVAIL_BYTES;
	memcpy(ram + AVAIL_GPA, data, n);
	data += n;
	size -= n;
	n = size < DESC_BYTES ? size : DESC_BYTES;
	memcpy(ram + RING_GPA, data, n);
	data += n;
	size -= n;
	if (size > RAM_SIZE - SCATTER_GPA)
		size = RAM_SIZE - SCATTER_GPA;
	memcpy(ram + SCATTER_GPA, data, size);
	io(true, VIRTIO_PCI_QUEUE_PFN, 4, RING_GPA >> 12);
	io(true, VIRTIO_PCI_STATUS, 1, 1 | 2 | 4);
	io(true, VIRTIO_PCI_QUEUE_NOTIFY, 2, 0);
	io(true, VIRTIO_PCI_QUEUE_NOTIFY, 2, 0);	/* again: the ring as the device left it */
	io(false, VIRTIO_PCI_ISR, 1, 0);
	return 0;
}
