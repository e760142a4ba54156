/* A libvmmapi without KVM: it records what the device models asked of the
 * VM (interrupt lines, MSIs, memory slots, exit requests) for the tests to check. */
#ifndef FAKE_VMMAPI_H
#define FAKE_VMMAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmmapi.h"

#define FAKE_MAX_SLOTS	16
#define FAKE_MAX_MSI	64
#define FAKE_MAX_BINDINGS 64

struct fake_slot {
	uint64_t gpa;
	void *host;
	size_t len;
	bool readonly;
};

struct fake_msi {
	uint64_t addr;
	uint64_t msg;
};

struct fake_vmm {
	/* Last level set on each line, and how many times each kind was called. */
	int isa_level[16];
	int ioapic_level[32];
	int atpic_level[16];
	int isa_calls, ioapic_calls, atpic_calls;
	/* MSIs in the order sent (the first FAKE_MAX_MSI of them) and how many in all. */
	struct fake_msi msi[FAKE_MAX_MSI];
	int nmsi;
	struct fake_slot slots[FAKE_MAX_SLOTS];
	int nslots;
	/* vm_punch_ram_hole's range (one at most): vm_map_gpa refuses it. */
	uint64_t hole_gpa, hole_len;
	/* The in-kernel fast paths: refused (ENOSYS, as under bhyve-emu) unless
	 * fastpaths is set; then every irqfd and ioeventfd binding is kept here. */
	bool pit_hpet_legacy;	/* vm_pit_hpet_legacy's last word */
	bool fastpaths;
	struct fake_irqfd {
		int fd, gsi;
		uint64_t addr, msg;
		bool live;
	} irqfd[FAKE_MAX_BINDINGS];
	int nirqfd;
	struct fake_ioeventfd {
		int fd, len;
		uint64_t addr, data;
		bool pio, datamatch, live;
	} ioev[FAKE_MAX_BINDINGS];
	int nioev;
	/* vm_suspend: how many requests, the first how and the last (numbered as
	 * bhyve's exit statuses). */
	int exit_requests;
	int exit_first, exit_last;
};

extern struct fake_vmm fake_vmm;

/* A VM with the given RAM split, as vm_setup_memory would leave it. */
struct vmctx *fake_vm_create(uint64_t lowmem, uint64_t highmem);
/* Lets vm_map_gpa hand out [0, len) of guest RAM from buf. */
void fake_vm_set_ram(struct vmctx *ctx, void *buf, size_t len);

void fake_reset_irqs(void);	/* levels to 0, call counts to 0 */
void fake_reset_msi(void);
void fake_reset_slots(void);
void fake_reset_exit(void);
/* Forgets every binding; fastpaths on or off. */
void fake_reset_fastpaths(bool on);
/* The live ioeventfd bound at addr (pio or MMIO) for datamatch data, or NULL. */
const struct fake_ioeventfd *fake_ioeventfd_at(uint64_t addr, bool pio, uint64_t data);
/* The last MSI sent, or NULL when none since fake_reset_msi. */
const struct fake_msi *fake_last_msi(void);
/* The registers vm_set_register and vm_set_desc set, in order (at most 64
 * kept; fake_nset counts them all); fake_nset = 0 starts again. */
extern int fake_set_order[64], fake_nset;

#endif
