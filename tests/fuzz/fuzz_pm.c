/* libFuzzer target: the ACPI PM registers: SMI_CMD (ACPI enable/disable), the
 * reset control at 0xCF9, the PM1a event, control (sleep states), timer and
 * GPE0 block wherever the guest puts it through the lpc bridge's PMBASE and
 * ACPI_CNTL (its configuration space is a region too), and the power button
 * (the target's op). Op stream: fuzz_common.h. */
#include <stdlib.h>

#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "pci_emul.h"
#include "devices/pm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The PM block, at whatever base lpc decodes it now. */
static int pm_block_io(bool write, uint64_t off, int size, uint64_t *val)
{
	return fz_port_io(write, pm_get_base() + off, size, val);
}

static void setup(void)
{
	static const char *const specs[] = { "0,hostbridge", "31,lpc" };

	if (pm_init(fz_ctx) != 0)
		abort();
	fz_pci(specs, 2);
	fz_add_port(0xb2, 1);
	fz_add_port(0xcf9, 1);
	fz_add((struct fz_region){ .kind = FZ_CALL, .size = 16, .call = pm_block_io });
	fz_add_cfg(pci_find(0, 31, 0));
}

static void reset(void)
{
	fake_reset_exit();
	fake_reset_irqs();
}

static void hook(struct fz_input *in, uint8_t op)
{
	(void)in;
	(void)op;
	pm_power_button();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset, .hook = hook };

	return fz_run(&t, data, size);
}
