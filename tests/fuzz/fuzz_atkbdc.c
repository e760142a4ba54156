/* libFuzzer target: the 8042 keyboard controller (ports 0x60 and 0x64):
 * controller commands, the command byte, output-port writes (the reset line),
 * keyboard commands and their replies, through the op stream (fuzz_common.h). */
#include <stdlib.h>

#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "devices/atkbdc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
	if (atkbdc_init(fz_ctx) != 0)
		abort();
	fz_add_port(0x60, 1);
	fz_add_port(0x64, 1);
}

static void reset(void)
{
	fake_reset_exit();
	fake_reset_irqs();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset };

	return fz_run(&t, data, size);
}
