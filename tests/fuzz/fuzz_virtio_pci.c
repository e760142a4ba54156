/* libFuzzer target: virtio's PCI transport as a guest driver sees it: the modern
 * structures in BAR 4 (common configuration: feature windows, status, queue
 * select, size, MSI-X vectors, enable, ring addresses; the ISR; the device
 * configuration; the notify registers), the legacy registers in BAR 0, the
 * MSI-X table and PBA in BAR 1, and configuration space with the virtio
 * capabilities and the VIRTIO_PCI_CAP_PCI_CFG window. Two functions: virtio-blk
 * on a scratch image (so a notify walks real requests, which the op stream's RAM
 * fills place) and virtio-rnd. Regions, in order: blk BAR 0, 1, 4, blk config
 * space, rnd BAR 0, 1, 4, rnd config space. Op stream: fuzz_common.h. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "pci_emul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pci_devinst *blk, *rnd;

static void setup(void)
{
	char *disk = fz_temp_file(64 * 1024), spec[96];
	const char *specs[] = { spec, "5,virtio-rnd" };

	snprintf(spec, sizeof(spec), "4,virtio-blk,%s", disk);
	fz_pci(specs, 2);
	unlink(disk);
	free(disk);
	blk = pci_find(0, 4, 0);
	rnd = pci_find(0, 5, 0);
	fz_add_bars(blk);
	fz_add_cfg(blk);
	fz_add_bars(rnd);
	fz_add_cfg(rnd);
	fz_pci_save(blk);
	fz_pci_save(rnd);
}

static void reset(void)
{
	fz_virtio_reset(blk);
	fz_virtio_reset(rnd);
	fz_pci_restore();
	fake_reset_msi();
	fake_reset_irqs();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset, .finish = reset,
	    .dma = true };

	return fz_run(&t, data, size);
}
