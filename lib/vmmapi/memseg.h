/* Guest-physical memory bookkeeping shared by libvmmapi's backends: which host
 * memory sits at which guest address, and the one checked lookup. */
#ifndef MEMSEG_H
#define MEMSEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_MEMSEGS	8

struct memseg {
	uint64_t gpa;
	uint64_t len;
	uint8_t *host;
	bool readonly;		/* a ROM: the host mapping itself is read-only */
	uint32_t slot;		/* the hypervisor's id for it (KVM's memory slot) */
};

struct memsegs {
	struct memseg seg[MAX_MEMSEGS];
	int n;
	uint8_t *ram;		/* the memfd mapping behind all RAM */
	uint64_t ram_len;
	uint64_t lowmem;	/* RAM from 0: at most VM_LOWMEM_LIMIT */
	uint64_t highmem;	/* the rest, from VM_HIGHMEM_BASE */
	bool ram_shared;	/* RAM is ram_fd mapped shared (a loader filled it) */
	uint64_t hugetlb;	/* RAM from the hugetlb pool in pages of this size; 0: not */
	int ram_fd;
};

/* bhyve's layout of len bytes of RAM: up to VM_LOWMEM_LIMIT from 0 (*lowmem),
 * the rest from VM_HIGHMEM_BASE (*highmem). */
void memsegs_split(uint64_t len, uint64_t *lowmem, uint64_t *highmem);
/* Allocates len bytes of RAM in one shared memfd named name and splits it
 * around the PCI hole (lowmem, highmem; memsegs_split). NULL with a message in err. */
uint8_t *memsegs_alloc_ram(struct memsegs *m, const char *name, uint64_t len,
    bool wired, bool in_core, char *err, size_t errlen);
int memsegs_add(struct memsegs *m, uint64_t gpa, void *host, uint64_t len, bool readonly);
/* Drops the segment that starts at gpa; -1 (ENOENT) when none does. */
int memsegs_remove(struct memsegs *m, uint64_t gpa);
/* Host memory for [gpa, gpa+len) when it lies inside one segment; read-only
 * segments only when with_rom is set (a device write there would fault). */
/* The writable segment that holds [gpa, gpa+len) whole, copied to *out and
 * removed; -1 (ENOENT) when none does (vm_punch_ram_hole's first step). */
int memsegs_take(struct memsegs *m, uint64_t gpa, uint64_t len, struct memseg *out);
void *memsegs_find(const struct memsegs *m, uint64_t gpa, uint64_t len, bool with_rom);
void memsegs_free(struct memsegs *m);
/* Bytes of RAM resident in host memory (mincore), 0 when unknown. */
uint64_t memsegs_resident(const struct memsegs *m);

#endif
