/* libFuzzer target: a guest that writes anything it likes into a virtqueue.
 * The input's first byte picks the queue: virtio-rnd's, virtio-blk's (on a
 * scratch image, whose request parser then reads the buffers), or virtio-net's
 * transmit or control queue (an unconnected card: the header checks and the
 * control commands run, frames go nowhere); the next four bytes are the
 * negotiated features; then come the available ring and the descriptor table
 * (the ring first, so that short inputs already post requests), and the rest
 * lands where descriptors may point. The guest
 * notifies and the real transport and device walk what they find. Nothing may
 * crash, read or write outside guest RAM, or hang: ASan and UBSan watch, and
 * the device must end either working or in DEVICE_NEEDS_RESET: within 2 s
 * its status is the driver's (ACKNOWLEDGE, DRIVER, DRIVER_OK), plus NEEDS_RESET
 * or else with every chain the driver made available returned in the used ring
 * (no more than were made available). Anything else aborts, so libFuzzer
 * reports it with the input. */
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"
#include "virtio.h"

#define RAM_SIZE	(1 << 20)
#define RING_GPA	0x10000		/* PFN 0x10: desc, avail, then used */
#define RING_BYTES	0x4000		/* the largest queue here (256) fits */
#define SCATTER_GPA	0x20000		/* buffers and indirect tables the input points at */
#define DISK_BYTES	(64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const specs[] = { "3,virtio-rnd", "4,virtio-blk,%s", "5,virtio-net" };
static const struct {
	int slot, queue;
} targets[] = {
	{ 3, 0 },		/* virtio-rnd */
	{ 4, 0 },		/* virtio-blk */
	{ 5, 1 },		/* virtio-net transmit */
	{ 5, 2 },		/* virtio-net control */
};
static uint8_t *ram;
static uint64_t bar0[nitems(targets)];

static void io(int t, bool write, uint64_t off, int size, uint64_t val)
{
	emulate_io(IO_PORT, write, bar0[t] + off, size, &val);
}

static void setup(void)
{
	struct vmctx *ctx = fake_vm_create(RAM_SIZE, 0);
	char disk[] = "/tmp/fuzz-virtio-blk-XXXXXX", spec[64];
	int fd = mkstemp(disk);

	ram = calloc(1, RAM_SIZE);
	if (ctx == NULL || ram == NULL || fd < 0 || ftruncate(fd, DISK_BYTES) != 0 ||
	    mevent_init() != 0)
		abort();
	close(fd);
	for (size_t i = 0; i < nitems(specs); i++) {
		snprintf(spec, sizeof(spec), specs[i], disk);
		if (pci_parse_slot(spec) != 0)
			abort();
	}
	if (init_pci(ctx) != 0)
		abort();
	unlink(disk);			/* virtio-blk holds it open */
	fake_vm_set_ram(ctx, ram, RAM_SIZE);
	for (size_t i = 0; i < nitems(targets); i++)
		bar0[i] = pci_find(0, targets[i].slot, 0)->pi_bar[0].addr;
}

static uint64_t rd(int t, uint64_t off, int size)
{
	uint64_t v = 0;

	emulate_io(IO_PORT, false, bar0[t] + off, size, &v);
	return v;
}

static uint16_t ram16(size_t gpa)
{
	/* The device's threads may be writing it (the used index is aligned). */
	return le16toh(__atomic_load_n((uint16_t *)(void *)(ram + gpa), __ATOMIC_ACQUIRE));
}

static const uint8_t *take(const uint8_t **data, size_t *size, uint8_t *to, size_t max)
{
	size_t n = *size < max ? *size : max;

	memcpy(to, *data, n);
	*data += n;
	*size -= n;
	return *data;
}

/* Working or DEVICE_NEEDS_RESET, as the header says; aborts otherwise. */
static void check_outcome(int dev, uint16_t qsize)
{
	const uint8_t driver = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_DRIVER_OK;
	size_t avail = RING_GPA + 16 * (size_t)qsize;
	size_t used = (avail + 4 + 2 * (size_t)qsize + 2 + 4095) & ~(size_t)4095;
	uint16_t made = ram16(avail + 2), done = 0;
	uint8_t status = 0;

	for (int i = 0; i < 2000; i++) {
		status = (uint8_t)rd(dev, VIRTIO_PCI_STATUS, 1);
		done = ram16(used + 2);
		if ((status & VIRTIO_CONFIG_S_NEEDS_RESET) || done == made)
			break;
		mevent_poll(1);
	}
	if ((status & (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET) != driver) {
		fprintf(stderr, "fuzz_virtqueue: status 0x%x, want 0x%x (+ NEEDS_RESET)\n",
		    status, driver);
		abort();
	}
	if (status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	if (done != made) {
		fprintf(stderr, "fuzz_virtqueue: %u of %u chains returned after 2 s and no "
		    "NEEDS_RESET\n", done, made);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t features = 0;
	uint16_t qsize;
	int dev = 0, q;

	if (ram == NULL)
		setup();
	if (size >= 1) {
		dev = data[0] % (int)nitems(targets);
		data++;
		size--;
	}
	q = targets[dev].queue;
	take(&data, &size, (uint8_t *)&features, sizeof(features));
	/* A fresh driver: reset, features, the queue, DRIVER_OK. */
	io(dev, true, VIRTIO_PCI_STATUS, 1, 0);
	io(dev, true, VIRTIO_PCI_STATUS, 1, 1 | 2);
	io(dev, true, VIRTIO_PCI_GUEST_FEATURES, 4, features);
	io(dev, true, VIRTIO_PCI_QUEUE_SEL, 2, (uint64_t)q);
	{
		uint64_t v = 0;

		emulate_io(IO_PORT, false, bar0[dev] + VIRTIO_PCI_QUEUE_NUM, 2, &v);
		qsize = (uint16_t)v;
	}
	if (qsize == 0 || 16 * (size_t)qsize + 6 + 2 * (size_t)qsize + 4096 + 6 +
	    8 * (size_t)qsize > RING_BYTES)
		abort();
	memset(ram + RING_GPA, 0, RING_BYTES);
	take(&data, &size, ram + RING_GPA + 16 * (size_t)qsize, 4 + 2 * (size_t)qsize + 2);
	take(&data, &size, ram + RING_GPA, 16 * (size_t)qsize);
	take(&data, &size, ram + SCATTER_GPA, RAM_SIZE - SCATTER_GPA);
	io(dev, true, VIRTIO_PCI_QUEUE_PFN, 4, RING_GPA >> 12);
	io(dev, true, VIRTIO_PCI_STATUS, 1, 1 | 2 | 4);
	io(dev, true, VIRTIO_PCI_QUEUE_NOTIFY, 2, (uint64_t)q);
	io(dev, true, VIRTIO_PCI_QUEUE_NOTIFY, 2, (uint64_t)q);	/* again: as the device left it */
	io(dev, false, VIRTIO_PCI_ISR, 1, 0);
	check_outcome(dev, qsize);
	/* Reset waits for requests in flight; their completions are then dropped. */
	io(dev, true, VIRTIO_PCI_STATUS, 1, 0);
	while (mevent_poll(0) > 0)
		;
	return 0;
}
