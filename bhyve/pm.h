#ifndef PM_H
#define PM_H

#include <stdbool.h>

struct vmctx;

int pm_init(struct vmctx *ctx);
/* SIGTERM: a power-button press once the guest has enabled ACPI. Returns false
 * when the guest has not, and the caller should end the VM instead. */
bool pm_power_button(void);

#endif
