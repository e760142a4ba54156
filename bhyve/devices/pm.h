#ifndef PM_H
#define PM_H

#include <stdbool.h>
#include <stdint.h>

struct vmctx;

int pm_init(struct vmctx *ctx);
/* lpc's PMBASE: the PM register block (PM1a_EVT, PM1a_CNT, the PM timer, GPE0:
 * 16 ports) decodes at base (0x400 at reset; 128-port aligned, as ICH9's
 * PMBASE) while decode is set. -1 when the new place overlaps another
 * device's ports; the block then decodes nowhere until moved again. */
#define PM_BASE_MASK	0xff80
int pm_set_base(uint16_t base, bool decode);
uint16_t pm_get_base(void);
/* SIGTERM: a power-button press once the guest has enabled ACPI. Returns false
 * when the guest has not, and the caller should end the VM instead. */
bool pm_power_button(void);

#endif
