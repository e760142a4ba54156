/* libFuzzer target: the CFI flash (bhyve/pflash.c) through the MMIO dispatch:
 * read array, status, CFI query and identifier modes, byte program, block
 * erase and its confirmation, clear status, in any order and at any size and
 * alignment (op stream: fuzz_common.h). A 4-block chip over host memory. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "pflash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FLASH_BASE	0xFFC00000ULL
#define FLASH_LEN	(4 * PFLASH_BLOCK)

static void setup(void)
{
	static uint8_t mem[FLASH_LEN];

	if (pflash_create("fuzz-vars", mem, sizeof(mem), FLASH_BASE) == NULL)
		abort();
	fz_add_mmio(FLASH_BASE, FLASH_LEN);
}

static void reset(void)
{
	uint64_t v = 0xff;	/* read array: what a fresh boot finds */

	emulate_io(IO_MMIO, true, FLASH_BASE, 1, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset };

	return fz_run(&t, data, size);
}
