/* libFuzzer target: QEMU's fw_cfg as bhyve gives it, both interfaces: the
 * selector and data ports (0x510, 0x511) and the DMA address register
 * (0x514-0x51b) whose FWCfgDmaAccess structures, and the buffers they name,
 * the op stream's RAM fills put in guest memory (fuzz_common.h). Items: the
 * fixed ones, two files and a numbered item. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "fwcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
	static const char blob[] = "a file of a few bytes";
	static const uint8_t big[5000];

	if (fwcfg_init(fz_ctx, 2) != 0 || fwcfg_add_file("etc/fuzz", blob, sizeof(blob)) != 0 ||
	    fwcfg_add_file("opt/big", big, sizeof(big)) != 0 ||
	    fwcfg_add_item(0x0004, "\1\0", 2) != 0)
		abort();
	fz_add_port(0x510, 2);
	fz_add_port(0x514, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .dma = true };

	return fz_run(&t, data, size);
}
