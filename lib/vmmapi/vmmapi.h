/* libvmmapi: bhyve's vocabulary for a VM, over Linux KVM. This library is the
 * only code in the project that issues KVM ioctls. */
#ifndef VMMAPI_H
#define VMMAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmctx;
struct vcpu;

/* bhyve's guest memory map: RAM from 0 up to at most 3 GiB, the rest from 4 GiB. */
#define VM_LOWMEM_LIMIT	(3ULL << 30)
#define VM_HIGHMEM_BASE	(4ULL << 30)

enum vm_exitcode {
	VM_EXITCODE_INOUT,	/* port I/O: u.inout */
	VM_EXITCODE_MMIO,	/* access outside RAM: u.mmio */
	VM_EXITCODE_TRIPLEFAULT,
	VM_EXITCODE_RESET,	/* the kernel asked for a system reset */
	VM_EXITCODE_POWEROFF,	/* the kernel asked for a power-off */
	VM_EXITCODE_INTR,	/* interrupted by a kick; nothing to emulate */
	VM_EXITCODE_RDMSR,	/* unknown MSR with x86.strictmsr=false: u.msr */
	VM_EXITCODE_WRMSR,
	VM_EXITCODE_ERROR,	/* KVM could not run the vCPU: u.error */
};

struct vm_exit {
	enum vm_exitcode exitcode;
	uint64_t rip;
	union {
		struct {
			bool in;
			uint8_t bytes;
			uint16_t port;
			uint32_t count;	/* >1 for rep ins/outs */
			uint8_t *data;	/* count * bytes, filled by the VMM on "in" */
		} inout;
		struct {
			bool write;
			uint8_t len;
			uint64_t gpa;
			uint8_t *data;
		} mmio;
		struct {
			uint32_t index;
			uint64_t *data;
			uint8_t *error;
		} msr;
		struct {
			uint32_t reason;
			uint32_t suberror;
			/* The instruction at the vCPU's rip, when it could be read
			 * (an emulation failure): insn_len bytes of insn. */
			uint8_t insn_len;
			uint8_t insn[15];
		} error;
	} u;
};

/* VM lifecycle. On failure these return NULL/-1 with errno set and, where the
 * cause is not obvious from errno, a message in vm_errmsg(). */
struct vmctx *vm_create(const char *name);
const char *vm_errmsg(void);
const char *vm_name(struct vmctx *ctx);
int vm_get_max_vcpus(struct vmctx *ctx);
void vm_destroy(struct vmctx *ctx);

/* Guest RAM, split around the PCI hole as bhyve does. */
int vm_setup_memory(struct vmctx *ctx, uint64_t len, bool wired, bool in_core);
uint64_t vm_get_lowmem_size(struct vmctx *ctx);
uint64_t vm_get_highmem_size(struct vmctx *ctx);
/* Guest-physical memory the hypervisor keeps for itself (KVM's identity-map
 * page and TSS, in the PCI hole): neither the OS nor PCI BARs may use it, and
 * the memory map given to the firmware lists it as reserved. *len is 0 when
 * there is none. */
void vm_get_reserved_range(struct vmctx *ctx, uint64_t *gpa, uint64_t *len);
/* Maps host memory at gpa as an extra slot (boot ROM, flash). A read-only slot
 * turns guest writes into MMIO exits. */
int vm_map_host_memory(struct vmctx *ctx, uint64_t gpa, void *host, size_t len, bool readonly);
/* Removes the slot vm_map_host_memory made at gpa (a framebuffer BAR that
 * moves): guest accesses there exit as MMIO again. -1 when there is none, or
 * (the software CPU, once started) the host cannot take it back. */
int vm_unmap_host_memory(struct vmctx *ctx, uint64_t gpa);
/* Takes [gpa, gpa+len) (page aligned) out of guest RAM before the vCPUs first
 * run, for a device that decodes it (legacy VGA memory at 0xA0000): the RAM
 * region around it is split in two and accesses there exit as MMIO. -1 when
 * the range is not inside one region of RAM or the vCPUs have run. */
int vm_punch_ram_hole(struct vmctx *ctx, uint64_t gpa, uint64_t len);
/* The one checked way from a guest-physical range to host memory: NULL unless
 * [gpa, gpa+len) lies entirely inside one region of writable guest memory
 * (RAM or a boot variables file; never the boot ROM). */
void *vm_map_gpa(struct vmctx *ctx, uint64_t gpa, size_t len);

/* vCPUs and the CPUID topology they report. */
int vm_set_topology(struct vmctx *ctx, int sockets, int cores, int threads);
int vm_get_topology(struct vmctx *ctx, int *sockets, int *cores, int *threads);
int vm_set_x2apic(struct vmctx *ctx, bool enable);
int vm_set_strictmsr(struct vmctx *ctx, bool strict);
struct vcpu *vm_vcpu_open(struct vmctx *ctx, int id);
int vcpu_id(struct vcpu *vcpu);
int vm_run(struct vcpu *vcpu, struct vm_exit *vme);
/* 1 while the vCPU is halted in the kernel waiting for an interrupt, 0 while it
 * runs (guest code or an exit), -1 when the host cannot tell; read without
 * stopping it. */
int vm_vcpu_blocking(struct vcpu *vcpu);
/* Makes a vm_run in progress (or the next one) return VM_EXITCODE_INTR. */
void vm_vcpu_kick(struct vcpu *vcpu);
/* started: the vCPU has left wait-for-SIPI; halted_noint: it sits in HLT with IF=0. */
int vm_vcpu_state(struct vcpu *vcpu, bool *started, bool *halted_noint);
/* The guest's instruction pointer (CS base + RIP), for messages. */
uint64_t vm_vcpu_rip(struct vcpu *vcpu);

/* Ending the VM from a device (ACPI S5, a reset through port 0xcf9 or the
 * keyboard controller), as FreeBSD's vm_suspend. Numbered as bhyve's exit
 * statuses (EXIT_REBOOT ... EXIT_TRIPLEFAULT). */
enum vm_suspend_how {
	VM_SUSPEND_RESET,
	VM_SUSPEND_POWEROFF,
	VM_SUSPEND_HALT,
	VM_SUSPEND_TRIPLEFAULT,
};
/* Hands how to the function the VMM registered (the first request wins there;
 * safe from any thread); -1 with ENOSYS when none is. */
int vm_suspend(struct vmctx *ctx, enum vm_suspend_how how);
typedef void vm_suspend_handler_t(struct vmctx *ctx, enum vm_suspend_how how);
void vm_set_suspend_handler(struct vmctx *ctx, vm_suspend_handler_t *fn);

/* The in-kernel PIT stops driving IRQ 0 while the HPET's legacy replacement
 * route is on (KVM_PIT_FLAGS_HPET_LEGACY). */
int vm_pit_hpet_legacy(struct vmctx *ctx, bool on);

/* Interrupts through the in-kernel PIC, IOAPIC and LAPIC. */
int vm_isa_irq_set(struct vmctx *ctx, int irq, int level);	/* PIC irq and IOAPIC pin */
int vm_ioapic_irq_set(struct vmctx *ctx, int pin, int level);	/* IOAPIC pin only */
int vm_atpic_irq_set(struct vmctx *ctx, int irq, int level);	/* PIC irq only */
int vm_lapic_msi(struct vmctx *ctx, uint64_t addr, uint64_t msg);
/* Fast paths for devices: an eventfd that raises an MSI, an eventfd that a guest
 * write to an address signals without leaving the kernel. */
int vm_irqfd_msi(struct vmctx *ctx, int fd, uint64_t addr, uint64_t msg, int *gsi);
int vm_irqfd_remove(struct vmctx *ctx, int fd, int gsi);
/* Points the route of an irqfd made by vm_irqfd_msi at a new MSI address/data. */
int vm_irqfd_msi_route(struct vmctx *ctx, int gsi, uint64_t addr, uint64_t msg);
int vm_ioeventfd(struct vmctx *ctx, int fd, uint64_t addr, int len, bool pio,
    bool datamatch, uint64_t data, bool deassign);

/* Guest RAM from a shared file a loader filled (the registry's "mem", len
 * bytes as memsegs_split lays it out) instead of anonymous memory: call before
 * vm_setup_memory, which maps it shared. The fd stays the caller's. */
int vm_use_memory_file(struct vmctx *ctx, int fd);
/* Guest RAM from the host's hugetlb pool in pages of pagesz bytes (2 MiB or
 * 1 GiB; 0: anonymous memory with transparent huge pages, the default): call
 * before vm_setup_memory, which then fails at once when the pool is short. */
void vm_use_hugetlb(struct vmctx *ctx, uint64_t pagesz);
/* Bytes of guest RAM resident in host memory now (mincore). */
uint64_t vm_get_resident(struct vmctx *ctx);

/* vCPU registers, named as FreeBSD's vmm (VM_REG_GUEST_*). Segment registers
 * read and write the selector; their base, limit and access rights (VMX
 * layout: type, S, DPL, P, AVL, L, D/B, G from bit 0; bit 16 "unusable") go
 * through the _desc calls, as do GDTR and IDTR (base and limit). Called on the
 * vCPU's own thread while it is not in vm_run, or before it first runs. */
enum vm_reg_name {
	VM_REG_GUEST_RAX, VM_REG_GUEST_RBX, VM_REG_GUEST_RCX, VM_REG_GUEST_RDX,
	VM_REG_GUEST_RSI, VM_REG_GUEST_RDI, VM_REG_GUEST_RBP, VM_REG_GUEST_R8,
	VM_REG_GUEST_R9, VM_REG_GUEST_R10, VM_REG_GUEST_R11, VM_REG_GUEST_R12,
	VM_REG_GUEST_R13, VM_REG_GUEST_R14, VM_REG_GUEST_R15, VM_REG_GUEST_CR0,
	VM_REG_GUEST_CR2, VM_REG_GUEST_CR3, VM_REG_GUEST_CR4, VM_REG_GUEST_DR7,
	VM_REG_GUEST_RSP, VM_REG_GUEST_RIP, VM_REG_GUEST_RFLAGS, VM_REG_GUEST_EFER,
	VM_REG_GUEST_ES, VM_REG_GUEST_CS, VM_REG_GUEST_SS, VM_REG_GUEST_DS,
	VM_REG_GUEST_FS, VM_REG_GUEST_GS, VM_REG_GUEST_LDTR, VM_REG_GUEST_TR,
	VM_REG_GUEST_IDTR, VM_REG_GUEST_GDTR,
	VM_REG_LAST
};
int vm_get_register(struct vcpu *vcpu, int reg, uint64_t *val);
int vm_set_register(struct vcpu *vcpu, int reg, uint64_t val);
int vm_get_desc(struct vcpu *vcpu, int reg, uint64_t *base, uint32_t *limit, uint32_t *access);
int vm_set_desc(struct vcpu *vcpu, int reg, uint64_t base, uint32_t limit, uint32_t access);
int vm_inject_nmi(struct vcpu *vcpu);

/* The registry's vCPU state files (lib/vmmapi/vcpustate.c): register names as
 * bhyvectl's --get-NAME; loading a file a loader wrote into a vCPU before it
 * first runs; every register as "NAME VALUE" and "NAME SEL BASE LIMIT ACCESS"
 * lines (the same format). */
const char *vm_reg_name(int reg);
int vm_reg_lookup(const char *name);
int vm_load_vcpu_state(struct vcpu *vcpu, const char *path, char *err, size_t errlen);
int vm_dump_vcpu_state(struct vcpu *vcpu, char *buf, size_t len);

#endif
