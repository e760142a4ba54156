#ifndef BOOTROM_H
#define BOOTROM_H

struct vmctx;

/* Maps lpc.bootrom at the top of 4 GiB (read-only) and lpc.bootvars, when set,
 * just below it as writable flash backed by the file itself. */
int bootrom_init(struct vmctx *ctx);

#endif
