/* The VM registry: what makes a VM outlive the process that made it, as
 * FreeBSD's /dev/vmm/NAME does. Each VM has a run directory holding
 *   meta   "bhyve-vm 1" then "state S", "memsize N", "ncpus N", "pid P" lines
 *   lock   flock(2)ed by the one process (loader or bhyve) using the VM
 *   mem    guest RAM as a shared file (only for a VM a loader filled)
 *   vcpu0  the vCPU state a loader set ("bhyve-vcpu 1", then "REG VALUE" and
 *          "REG SEL BASE LIMIT ACCESS" lines in hex, as bhyvectl names registers)
 *   ctl    the running bhyve's control socket (bhyvectl talks to it)
 * and a symbolic link DEVDIR/NAME -> its run directory.
 *
 * Locations: DEVDIR is /dev/vmm for root, $XDG_RUNTIME_DIR/vmm (else
 * /tmp/vmm-UID) for others; run directories are under /run/bhyve for root,
 * $XDG_RUNTIME_DIR/bhyve (else /tmp/bhyve-UID) for others. BHYVE_VMM_DIR and
 * BHYVE_RUN_DIR override them. */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMREG_NAMELEN	31	/* as FreeBSD's VM_MAX_NAMELEN */

enum vmreg_state {
	VMREG_CREATED,	/* bhyvectl --create: nothing loaded */
	VMREG_LOADED,	/* a loader left memory and vCPU state: bhyve runs it */
	VMREG_RUNNING,	/* a bhyve runs it (holding the lock) */
	VMREG_STOPPED,	/* its bhyve exited (reboot, power-off): it still exists */
};

struct vmreg {
	char name[VMREG_NAMELEN + 1];
	char rundir[PATH_MAX];
	char link[PATH_MAX];
	int lockfd;		/* -1 unless vmreg_lock succeeded */
	enum vmreg_state state;
	uint64_t memsize;
	int ncpus;
	long pid;
};

/* 0 when name can name a VM; -1 with a message in err. */
int vmreg_check_name(const char *name, char *err, size_t errlen);
const char *vmreg_devdir(void);
const char *vmreg_runroot(void);
const char *vmreg_state_name(enum vmreg_state s);
/* The path of one of the VM's files (meta, lock, mem, vcpu0, ctl). */
int vmreg_path(const struct vmreg *r, const char *leaf, char *buf, size_t len);

/* Opens an existing VM into *r (unlocked). An entry a killed bhyve left
 * (state running, lock free) is stale: it is removed and this fails with
 * ENOENT, as for a VM that does not exist. -1 with errno otherwise. */
int vmreg_open(const char *name, struct vmreg *r);
/* Makes a new VM in state (its run directory, meta and link), locked by the
 * caller; -1 with EEXIST when the name is taken (a stale entry is reclaimed
 * first). */
int vmreg_create(const char *name, enum vmreg_state state, uint64_t memsize, int ncpus,
    struct vmreg *r);
/* Takes the VM's lock without waiting: -1 with EWOULDBLOCK while another
 * process holds it. */
int vmreg_lock(struct vmreg *r);
void vmreg_unlock(struct vmreg *r);
int vmreg_save(const struct vmreg *r);
/* The pid holding the lock, as meta says, or 0 when the lock is free. */
long vmreg_holder(const struct vmreg *r);
/* Removes the VM: every file in its run directory, the directory, the link. */
int vmreg_destroy(struct vmreg *r);

/* A loader's side: the shared memory file (memsize bytes, RAM from guest
 * address 0 up to VM_LOWMEM_LIMIT, the rest from VM_HIGHMEM_BASE, as
 * memsegs_split) mapped into *p; and the vCPU state text. */
int vmreg_map_memory(const struct vmreg *r, void **p);
int vmreg_write_vcpu(const struct vmreg *r, int cpu, const char *text);

#endif
