/* QEMU's firmware configuration interface (fw_cfg), which SeaBIOS and OVMF
 * read: a selector at port 0x510, data at 0x511, DMA at 0x514. Items are
 * numbered; files (named blobs) are listed in a directory item. */
#ifndef FWCFG_H
#define FWCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmctx;

/* Registers the ports and the fixed items (signature, ID, CPU count, RAM size,
 * the file directory). ncpus is the VM's vCPU count. */
int fwcfg_init(struct vmctx *ctx, int ncpus);
/* Adds a named file (the data is copied); -1 with a message on a duplicate
 * name, a name of 56 bytes or more, or a full directory. Files may be added
 * before or after fwcfg_init, until the first vCPU runs. */
int fwcfg_add_file(const char *name, const void *data, size_t len);
/* Adds or replaces a numbered item (the data is copied). */
int fwcfg_add_item(uint16_t key, const void *data, size_t len);
/* bhyve's -f name,string=STRING or -f name,file=PATH: adds a file (a string
 * without its NUL, as QEMU's -fw_cfg stores it); -1 with one message when the
 * spec is malformed, the file unreadable or fwcfg_add_file refuses. */
int fwcfg_add_user_file(const char *spec);

/* Items fwcfg_init sets only when nobody has (all little-endian): RAM_SIZE
 * (u64), NB_CPUS and MAX_CPUS (u16), and NOGRAPHIC (u16, 1: no display). */
#define FWCFG_NOGRAPHIC	0x0004

/* lpc.fwcfg: "qemu" (the default: QEMU's fw_cfg, for SeaBIOS and OVMF) or
 * "bhyve" (bhyve's fwctl). */
bool fwcfg_mode_qemu(void);

#endif
