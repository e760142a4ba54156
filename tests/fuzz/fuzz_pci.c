/* libFuzzer target: PCI configuration space and what it controls, as a guest
 * reaches it: the 0xCF8 address latch and 0xCFC data window (any size and
 * alignment), ECAM wherever the Q35 hostbridge's PCIEXBAR puts it, each
 * function's header (command, BAR sizing and moves, interrupt line), the
 * capability lists, MSI (NVMe) and MSI-X (NVMe, virtio-rnd) control, their
 * tables and PBAs in the BARs, and the lpc bridge's PIRQ routing. Regions, in
 * order: ports 0xCF8-0xCFF, ECAM (buses 0-1), hostbridge, lpc, NVMe and
 * virtio-rnd configuration spaces, NVMe's MSI-X BAR, virtio-rnd's MSI-X BAR.
 * Op stream: fuzz_common.h. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "pci_emul.h"
#include "virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NVME_MSIX_BAR	4

static struct pci_devinst *hb, *lpc, *nvme, *rnd;

/* ECAM wherever PCIEXBAR has it now. */
static int ecam_io(bool write, uint64_t off, int size, uint64_t *val)
{
	if (pci_ecam_base() == 0)
		return 1;
	return emulate_io(IO_MMIO, write, pci_ecam_base() + off, size, val);
}

static void setup(void)
{
	char *disk = fz_temp_file(64 * 1024), spec[96];
	const char *specs[] = { "0,hostbridge,vendor=0x8086,devid=0x29c0", "31,lpc", spec,
	    "5,virtio-rnd" };

	snprintf(spec, sizeof(spec), "4,nvme,%s", disk);
	fz_pci(specs, 4);
	unlink(disk);
	free(disk);
	hb = pci_find(0, 0, 0);
	lpc = pci_find(0, 31, 0);
	nvme = pci_find(0, 4, 0);
	rnd = pci_find(0, 5, 0);
	fz_add_port(0xcf8, 8);
	fz_add((struct fz_region){ .kind = FZ_CALL, .size = 2 << 20, .call = ecam_io });
	fz_add_cfg(hb);
	fz_add_cfg(lpc);
	fz_add_cfg(nvme);
	fz_add_cfg(rnd);
	fz_add((struct fz_region){ .kind = FZ_BAR, .pi = nvme, .bar = NVME_MSIX_BAR,
	    .size = nvme->pi_bar[NVME_MSIX_BAR].size });
	fz_add((struct fz_region){ .kind = FZ_BAR, .pi = rnd, .bar = VIRTIO_MSIX_BAR,
	    .size = rnd->pi_bar[VIRTIO_MSIX_BAR].size });
	fz_pci_save(hb);
	fz_pci_save(lpc);
	fz_pci_save(nvme);
	fz_pci_save(rnd);
}

static void reset(void)
{
	uint64_t v = 0xb0000001;
	const struct fz_region hbcfg = { .kind = FZ_CFG, .pi = hb, .size = PCI_CFG_SIZE };

	fz_access(&hbcfg, true, 0x60, 4, &v);		/* ECAM back at 0xB0000000 */
	v = 0;
	fz_access(&hbcfg, true, 0x64, 4, &v);
	fz_virtio_reset(rnd);
	fz_pci_restore();
	fake_reset_msi();
	fake_reset_irqs();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset };

	return fz_run(&t, data, size);
}
