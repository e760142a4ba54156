/* libFuzzer target: the HPET's registers at 0xFED00000 (capabilities, the
 * general configuration with legacy replacement, the main counter, each timer's
 * configuration, comparator and FSB route) through the op stream
 * (fuzz_common.h); its event-loop op lets armed timers fire. */
#include <stdlib.h>

#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "devices/hpet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HPET_BASE	0xFED00000ULL

static void setup(void)
{
	static const char *const specs[] = { "0,hostbridge", "31,lpc" };

	fz_pci(specs, 2);
	if (hpet_init(fz_ctx) != 0)
		abort();
	fz_add_mmio(HPET_BASE, 0x400);
}

static void reset(void)
{
	uint64_t off = 0;

	/* Halt the counter and turn off legacy replacement, as a fresh driver finds it. */
	emulate_io(IO_MMIO, true, HPET_BASE + 0x10, 8, &off);
	fake_reset_irqs();
	fake_reset_msi();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset };

	return fz_run(&t, data, size);
}
