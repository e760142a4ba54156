/* A CFI flash chip (Intel/Sharp command set, 8 bits wide, 4 KiB erase blocks)
 * over a file mapping: what QEMU's pflash gives its firmware, and the variable
 * store QEMU's OVMF writes through (-l bootrom,CODE,VARS with fwcfg=qemu). */
#ifndef PFLASH_H
#define PFLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PFLASH_BLOCK	4096

struct pflash;

/* A chip of len bytes (a multiple of PFLASH_BLOCK) backed by mem, decoding at
 * guest-physical base through the MMIO dispatch. NULL (one line printed) when
 * the range cannot be registered. */
struct pflash *pflash_create(const char *name, uint8_t *mem, size_t len, uint64_t base);
void pflash_destroy(struct pflash *fl);
/* The MMIO handler, for the unit tests: off is the offset in the chip. */
int pflash_access(struct pflash *fl, bool write, uint64_t off, int size, uint64_t *val);

#endif
