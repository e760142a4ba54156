/* Devices behind the LPC bridge, configured with -l (lpc.NAME.* keys). */
#ifndef LPC_H
#define LPC_H

#include <stdbool.h>

#include "util.h"

struct vmctx;

struct lpc_dev {
	const char *name;	/* "com1" */
	/* Called by the lpc bridge when node ("lpc.com1") is configured. */
	int (*init)(struct vmctx *ctx, const char *name, const char *node);
};
#define LPC_DEV_SET(x) DATA_SET(lpc_dev_set, x)

int lpc_device_parse(const char *opts);
void lpc_print_supported_devices(void);
int lpc_init_devices(struct vmctx *ctx);
/* True when any -l device (COM port, debugcon) is configured. */
bool lpc_devices_configured(void);
/* True once an lpc bridge exists: legacy devices are behind it. */
extern int lpc_bridge_present;

#endif
