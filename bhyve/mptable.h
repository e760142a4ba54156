#ifndef MPTABLE_H
#define MPTABLE_H

#include <stddef.h>

#include "options.h"

struct vmctx;

/* Where bhyve puts the MP floating pointer; the configuration table follows. */
#define MPTABLE_BASE	0xf0000u

/* The most bytes the pointer and table take for ncpus vCPUs. */
size_t mptable_size(int ncpus);
/* Writes the MP table (Intel MP Spec 1.4) for p's vCPUs and the configured PCI
 * slots into guest RAM at MPTABLE_BASE. -1 (one line printed) when that is not
 * RAM; 0 without a table when an APIC ID does not fit in its 8-bit fields. */
int mptable_build(struct vmctx *ctx, const struct bhyve_params *p);

#endif
