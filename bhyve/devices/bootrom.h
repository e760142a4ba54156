#ifndef BOOTROM_H
#define BOOTROM_H

#include <stdbool.h>

struct vmctx;

/* Maps lpc.bootrom at the top of 4 GiB (read-only) and lpc.bootvars, when set,
 * just below it as writable flash backed by the file itself. fwcfg_qemu: the
 * firmware interface is QEMU's fw_cfg (lpc.fwcfg=qemu), not bhyve's fwctl. */
int bootrom_init(struct vmctx *ctx, bool fwcfg_qemu);
/* True once bootrom_init has copied the image below 1 MiB (fwcfg=qemu): the
 * legacy BIOS area is then the firmware's, not the VMM's. */
bool bootrom_in_legacy_area(void);

#endif
