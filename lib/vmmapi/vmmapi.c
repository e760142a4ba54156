/* libvmmapi over Linux KVM. See vmmapi.h. */
#include "vmmapi.h"
#include "memseg.h"
#include "x86_topology.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_VCPUS	256
#define MAX_GSI_ROUTES	1024
#define GSI_PIC_ONLY	24	/* GSIs 24..39: PIC pins alone (PCI INTx via PIRQ) */
#define GSI_MSI_FIRST	40
#define KICK_SIGNAL	SIGUSR2
/* Kept clear of the boot ROM (the top 16 MiB) and the PCI windows. */
#define TSS_ADDR	0xFEFFD000ULL	/* three pages */
#define IDENTITY_MAP	0xFEFFC000ULL	/* one page, just below */
#define RESERVED_LEN	0x4000ULL

struct vmctx {
	int kvm_fd;
	int vm_fd;
	char name[32];
	int run_size;
	struct memsegs mem;
	int sockets, cores, threads;
	bool x2apic;
	struct kvm_cpuid2 *cpuid;
	pthread_mutex_t route_lock;
	struct kvm_irq_routing *routes;
	int next_gsi;
	int irqchip;		/* 0 not made yet, 1 made, -1 failed */
};

struct vcpu {
	struct vmctx *ctx;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	volatile int in_run;
	int stats_fd;		/* KVM's binary statistics, -1 without */
	off_t blocking_at;	/* where its "blocking" value is, 0 if absent */
};

static __thread char errbuf[160];

const char *vm_errmsg(void)
{
	return errbuf;
}

static void set_err(const char *fmt, const char *what)
{
	snprintf(errbuf, sizeof(errbuf), fmt, what);
}

static int kvm_check(int kvm_fd, long cap)
{
	int r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

static void route_add(struct kvm_irq_routing *t, uint32_t gsi, uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry *e = &t->entries[t->nr++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/* bhyve's wiring: ISA IRQ n reaches PIC pin n and IOAPIC pin n, except the PIT's
 * IRQ 0, which the IOAPIC sees on pin 2 (the MADT's interrupt override). */
static int setup_routing(struct vmctx *ctx)
{
	struct kvm_irq_routing *t;

	t = calloc(1, sizeof(*t) + MAX_GSI_ROUTES * sizeof(t->entries[0]));
	if (t == NULL)
		return -1;
	/*
	 * KVM maps each irqchip pin back to one GSI, the last one routed to it,
	 * and reports an end-of-interrupt on that pin as that GSI. An in-kernel
	 * PIT that reinjects lost ticks (KVM's default, see vm_create) waits for
	 * the EOI of GSI 0 before it raises the next tick, so the PIC-only GSIs
	 * go first and GSIs 0-15 last: otherwise a guest taking the timer through
	 * the PIC (real mode, BIOS services) gets one tick.
	 */
	for (uint32_t i = 0; i < 16; i++)
		if (i != 2)
			route_add(t, GSI_PIC_ONLY + i,
			    i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i % 8);
	for (uint32_t i = 0; i < 16; i++) {
		if (i != 2)
			route_add(t, i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i % 8);
		if (i != 2)
			route_add(t, i, KVM_IRQCHIP_IOAPIC, i == 0 ? 2 : i);
	}
	for (uint32_t i = 16; i < 24; i++)
		route_add(t, i, KVM_IRQCHIP_IOAPIC, i);
	ctx->routes = t;
	ctx->next_gsi = GSI_MSI_FIRST;
	return ioctl(ctx->vm_fd, KVM_SET_GSI_ROUTING, t);
}

static void kick_handler(int sig)
{
	(void)sig;
}

/*
 * The interrupt controllers (PIC, IOAPIC, the LAPICs' kernel side) and the PIT
 * are made when first needed, at the latest as the first vCPU is: after the
 * memory slots for RAM and the boot ROM, since the first slot change after
 * KVM_CREATE_IRQCHIP waits for an SRCU grace period (about 6 ms of start-up).
 */
static int irqchip_ready(struct vmctx *ctx)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int r;

	/* Made already: every interrupt comes through here, so no lock then. */
	if (__atomic_load_n(&ctx->irqchip, __ATOMIC_ACQUIRE) > 0)
		return 0;
	pthread_mutex_lock(&ctx->route_lock);
	if (ctx->irqchip == 0) {
		int made = -1;

		if (ioctl(ctx->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0 ||
		    ioctl(ctx->vm_fd, KVM_CREATE_PIT2, &pit) < 0 || setup_routing(ctx) < 0) {
			set_err("in-kernel irqchip: %s", strerror(errno));
		} else {
			made = 1;
			/*
			 * Ticks the guest has not taken yet merge into one, as
			 * bhyve's vatpit does, instead of KVM's default of queueing
			 * them all and delivering them back to back later: a guest
			 * slowed down (interrupts off for long, an emulated real
			 * mode) would then see its clock run fast, e.g. SeaBIOS
			 * counted 83 ticks in 2 s on a PVM host. It also spares an
			 * exit for the end of every PIT interrupt. A KVM without the
			 * control keeps its default.
			 */
			if (kvm_check(ctx->kvm_fd, KVM_CAP_REINJECT_CONTROL))
				(void)ioctl(ctx->vm_fd, KVM_REINJECT_CONTROL,
				    &(struct kvm_reinject_control){ 0 });
		}
		__atomic_store_n(&ctx->irqchip, made, __ATOMIC_RELEASE);
	}
	r = ctx->irqchip > 0 ? 0 : -1;
	pthread_mutex_unlock(&ctx->route_lock);
	if (r < 0)
		errno = ENXIO;
	return r;
}

struct vmctx *vm_create(const char *name)
{
	struct vmctx *ctx;
	static const struct { long cap; const char *name; } need[] = {
		{ KVM_CAP_IRQCHIP, "IRQCHIP" }, { KVM_CAP_PIT2, "PIT2" },
		{ KVM_CAP_IRQFD, "IRQFD" }, { KVM_CAP_IOEVENTFD, "IOEVENTFD" },
		{ KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI" }, { KVM_CAP_IRQ_ROUTING, "IRQ_ROUTING" },
		{ KVM_CAP_READONLY_MEM, "READONLY_MEM" }, { KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
	};
	struct sigaction sa = { .sa_handler = kick_handler };
	int nent = 256;

	errbuf[0] = '\0';
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return NULL;
	snprintf(ctx->name, sizeof(ctx->name), "%s", name);
	ctx->vm_fd = -1;
	ctx->sockets = ctx->cores = ctx->threads = 1;
	pthread_mutex_init(&ctx->route_lock, NULL);
	ctx->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (ctx->kvm_fd < 0) {
		int e = errno;

		set_err("/dev/kvm: %s (is KVM loaded and accessible to this user?)",
		    strerror(e));
		free(ctx);
		errno = e;
		return NULL;
	}
	if (ioctl(ctx->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		set_err("%s: unsupported KVM API version", "/dev/kvm");
		goto fail;
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!kvm_check(ctx->kvm_fd, need[i].cap)) {
			set_err("/dev/kvm lacks KVM_CAP_%s", need[i].name);
			errno = ENOTSUP;
			goto fail;
		}
	}
	ctx->run_size = ioctl(ctx->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	ctx->vm_fd = ioctl(ctx->kvm_fd, KVM_CREATE_VM, 0);
	if (ctx->vm_fd < 0 || ctx->run_size <= 0) {
		set_err("KVM_CREATE_VM: %s", strerror(errno));
		goto fail;
	}
	if (ioctl(ctx->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)TSS_ADDR) < 0 ||
	    ioctl(ctx->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ IDENTITY_MAP }) < 0) {
		set_err("KVM_SET_TSS_ADDR: %s", strerror(errno));
		goto fail;
	}
	for (;;) {
		ctx->cpuid = calloc(1, sizeof(*ctx->cpuid) + nent * sizeof(ctx->cpuid->entries[0]));
		if (ctx->cpuid == NULL)
			goto fail;
		ctx->cpuid->nent = nent;
		if (ioctl(ctx->kvm_fd, KVM_GET_SUPPORTED_CPUID, ctx->cpuid) == 0)
			break;
		free(ctx->cpuid);
		ctx->cpuid = NULL;
		if (errno != E2BIG || nent > 4096) {
			set_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
			goto fail;
		}
		nent *= 2;
	}
	sigaction(KICK_SIGNAL, &sa, NULL);
	return ctx;
fail:
	vm_destroy(ctx);
	return NULL;
}

const char *vm_name(struct vmctx *ctx)
{
	return ctx->name;
}

int vm_get_max_vcpus(struct vmctx *ctx)
{
	int n = kvm_check(ctx->kvm_fd, KVM_CAP_MAX_VCPUS);

	if (n <= 0)
		n = kvm_check(ctx->kvm_fd, KVM_CAP_NR_VCPUS);
	return n > MAX_VCPUS ? MAX_VCPUS : n;
}

void vm_destroy(struct vmctx *ctx)
{
	if (ctx == NULL)
		return;
	memsegs_free(&ctx->mem);
	if (ctx->vm_fd >= 0)
		close(ctx->vm_fd);
	if (ctx->kvm_fd >= 0)
		close(ctx->kvm_fd);
	free(ctx->cpuid);
	free(ctx->routes);
	free(ctx);
}

/* The lowest KVM slot id no segment holds (slots come and go with BARs). */
static uint32_t free_slot_id(const struct memsegs *m)
{
	for (uint32_t id = 0;; id++) {
		bool used = false;

		for (int i = 0; i < m->n; i++)
			used |= m->seg[i].slot == id;
		if (!used)
			return id;
	}
}

static int add_slot(struct vmctx *ctx, uint64_t gpa, void *host, uint64_t len, bool ro)
{
	struct kvm_userspace_memory_region r = {
		.slot = free_slot_id(&ctx->mem),
		.flags = ro ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = len,
		.userspace_addr = (uintptr_t)host,
	};

	if (ctx->mem.n == MAX_MEMSEGS) {
		errno = ENOSPC;
		return -1;
	}
	if (ioctl(ctx->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -1;
	if (memsegs_add(&ctx->mem, gpa, host, len, ro) != 0)
		return -1;
	ctx->mem.seg[ctx->mem.n - 1].slot = r.slot;
	return 0;
}

int vm_setup_memory(struct vmctx *ctx, uint64_t len, bool wired, bool in_core)
{
	uint8_t *base;

	base = memsegs_alloc_ram(&ctx->mem, ctx->name, len, wired, in_core, errbuf, sizeof(errbuf));
	if (base == NULL)
		return -1;
	if (add_slot(ctx, 0, base, ctx->mem.lowmem, false) < 0 ||
	    (ctx->mem.highmem &&
	     add_slot(ctx, VM_HIGHMEM_BASE, base + ctx->mem.lowmem, ctx->mem.highmem, false) < 0)) {
		set_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -1;
	}
	return 0;
}

uint64_t vm_get_lowmem_size(struct vmctx *ctx)
{
	return ctx->mem.lowmem;
}

uint64_t vm_get_highmem_size(struct vmctx *ctx)
{
	return ctx->mem.highmem;
}

void vm_get_reserved_range(struct vmctx *ctx, uint64_t *gpa, uint64_t *len)
{
	(void)ctx;
	*gpa = IDENTITY_MAP;
	*len = RESERVED_LEN;
}

int vm_map_host_memory(struct vmctx *ctx, uint64_t gpa, void *host, size_t len, bool readonly)
{
	if (add_slot(ctx, gpa, host, len, readonly) < 0) {
		set_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int vm_unmap_host_memory(struct vmctx *ctx, uint64_t gpa)
{
	for (int i = 0; i < ctx->mem.n; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = ctx->mem.seg[i].slot,
			.guest_phys_addr = gpa,
		};

		if (ctx->mem.seg[i].gpa != gpa)
			continue;
		/* Size 0 deletes the slot. */
		if (ioctl(ctx->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			set_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
			return -1;
		}
		return memsegs_remove(&ctx->mem, gpa);
	}
	errno = ENOENT;
	return -1;
}

int vm_punch_ram_hole(struct vmctx *ctx, uint64_t gpa, uint64_t len)
{
	struct memseg old;
	struct kvm_userspace_memory_region r = { 0 };
	uint64_t end = gpa + len, old_end;

	if (len == 0 || (gpa | len) & 0xfff || memsegs_take(&ctx->mem, gpa, len, &old) != 0) {
		snprintf(errbuf, sizeof(errbuf), "no RAM region holds 0x%llx-0x%llx",
		    (unsigned long long)gpa, (unsigned long long)(end - 1));
		errno = ENOENT;
		return -1;
	}
	old_end = old.gpa + old.len;
	r.slot = old.slot;
	r.guest_phys_addr = old.gpa;
	/* Size 0 deletes the slot; the two halves take new ones. */
	if (ioctl(ctx->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ||
	    (gpa > old.gpa && add_slot(ctx, old.gpa, old.host, gpa - old.gpa, false) < 0) ||
	    (end < old_end && add_slot(ctx, end, old.host + (end - old.gpa), old_end - end, false) < 0)) {
		set_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void *vm_map_gpa(struct vmctx *ctx, uint64_t gpa, size_t len)
{
	return memsegs_find(&ctx->mem, gpa, len, false);
}

int vm_set_topology(struct vmctx *ctx, int sockets, int cores, int threads)
{
	ctx->sockets = sockets;
	ctx->cores = cores;
	ctx->threads = threads;
	return 0;
}

int vm_get_topology(struct vmctx *ctx, int *sockets, int *cores, int *threads)
{
	*sockets = ctx->sockets;
	*cores = ctx->cores;
	*threads = ctx->threads;
	return 0;
}

int vm_set_x2apic(struct vmctx *ctx, bool enable)
{
	ctx->x2apic = enable;
	return 0;
}

int vm_set_strictmsr(struct vmctx *ctx, bool strict)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_USER_SPACE_MSR,
		.args = { KVM_MSR_EXIT_REASON_UNKNOWN },
	};

	/* Strict is KVM's own behaviour: #GP on an MSR it does not know. */
	if (strict)
		return 0;
	if (ioctl(ctx->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		set_err("KVM_CAP_X86_USER_SPACE_MSR: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* CPUID as the -c topology describes it. */
static void patch_cpuid(struct vmctx *ctx, struct kvm_cpuid2 *c, int id)
{
	int tbits = topo_bits(ctx->threads), cbits = topo_bits(ctx->cores);
	uint32_t apic = topo_apic_id(ctx->cores, ctx->threads, id);
	uint32_t per_pkg = 1u << (tbits + cbits);	/* addressable IDs per package */
	bool amd = false;

	/* AMD's guests (and Linux on them) take the topology from leaves
	 * 0x80000008 and 0x8000001E, not from Intel's 4 and 0xB. */
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0)
			amd = c->entries[i].ebx == 0x68747541 ||	/* "Auth"enticAMD */
			    c->entries[i].ebx == 0x6f677948;		/* "Hygo"nGenuine */
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) | ((per_pkg > 255 ? 255 : per_pkg) << 16) |
			    ((apic & 0xff) << 24);
			if (ctx->cores * ctx->threads > 1)
				e->edx |= 1u << 28;	/* HTT: more than one logical CPU */
			else
				e->edx &= ~(1u << 28);
			if (!ctx->x2apic)
				e->ecx &= ~(1u << 21);
			/* The hypervisor bit, as FreeBSD's bhyve sets it: without it a
			 * guest does not look at the KVM leaves (no kvm-clock) and Linux
			 * tests the IO-APIC timer as on hardware. */
			e->ecx |= 1u << 31;
			break;
		case 0x80000001:
			if (amd && ctx->cores * ctx->threads > 1)
				e->ecx |= 1u << 1;	/* CmpLegacy: HTT counts cores */
			else if (amd)
				e->ecx &= ~(1u << 1);
			break;
		case 0x80000008:
			if (amd)	/* cores per package - 1; APIC ID bits for them */
				e->ecx = (e->ecx & ~0xf0ffu) | ((uint32_t)(tbits + cbits) << 12) |
				    ((uint32_t)(ctx->cores * ctx->threads - 1) & 0xff);
			break;
		case 0x8000001e:
			if (amd) {
				e->eax = apic;
				e->ebx = ((apic >> tbits) & ((1u << cbits) - 1)) |
				    ((uint32_t)(ctx->threads - 1) << 8);
				e->ecx = 0;	/* node 0, one node per package */
			}
			break;
		case 4:
			e->eax = (e->eax & 0x03ffffff) |
			    ((uint32_t)(((1 << cbits) - 1) > 63 ? 63 : ((1 << cbits) - 1)) << 26);
			break;
		case 0xb:
			if (e->index == 0) {
				e->eax = (uint32_t)tbits;
				e->ebx = (uint32_t)ctx->threads;
				e->ecx = 0 | (1u << 8);
			} else if (e->index == 1) {
				e->eax = (uint32_t)(tbits + cbits);
				e->ebx = (uint32_t)(ctx->cores * ctx->threads);
				e->ecx = 1 | (2u << 8);
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			e->edx = apic;
			break;
		default:
			break;
		}
	}
}

static void stats_open(struct vcpu *v);

struct vcpu *vm_vcpu_open(struct vmctx *ctx, int id)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	size_t csz = sizeof(*ctx->cpuid) + ctx->cpuid->nent * sizeof(ctx->cpuid->entries[0]);
	struct kvm_cpuid2 *c;

	if (v == NULL)
		return NULL;
	if (irqchip_ready(ctx) < 0) {
		free(v);
		return NULL;
	}
	v->ctx = ctx;
	v->id = id;
	/* KVM's vCPU id is the APIC ID; vCPU 0, the BSP, has APIC ID 0. */
	v->fd = ioctl(ctx->vm_fd, KVM_CREATE_VCPU,
	    (unsigned long)topo_apic_id(ctx->cores, ctx->threads, id));
	if (v->fd < 0) {
		set_err("KVM_CREATE_VCPU: %s", strerror(errno));
		free(v);
		return NULL;
	}
	v->run = mmap(NULL, (size_t)ctx->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	c = malloc(csz);
	if (v->run == MAP_FAILED || c == NULL) {
		set_err("vCPU state: %s", strerror(errno));
		close(v->fd);
		free(c);
		free(v);
		return NULL;
	}
	memcpy(c, ctx->cpuid, csz);
	patch_cpuid(ctx, c, id);
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0) {
		set_err("KVM_SET_CPUID2: %s", strerror(errno));
		free(c);
		close(v->fd);
		free(v);
		return NULL;
	}
	free(c);
	stats_open(v);
	return v;
}

int vcpu_id(struct vcpu *vcpu)
{
	return vcpu->id;
}

/* The bytes of the instruction KVM failed to emulate: from KVM where it gives
 * them, else read from guest memory at cs:rip through the vCPU's page tables. */
static void insn_bytes(struct vcpu *v, struct vm_exit *vme)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t n = 0;

	if ((run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
	    run->emulation_failure.ndata >= 3) {
		n = run->emulation_failure.insn_size;
		if (n > sizeof(vme->u.error.insn))
			n = sizeof(vme->u.error.insn);
		memcpy(vme->u.error.insn, run->emulation_failure.insn_bytes, n);
		vme->u.error.insn_len = n;
		return;
	}
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return;
	for (; n < sizeof(vme->u.error.insn); n++) {
		struct kvm_translation tr = { .linear_address = sregs.cs.base + regs.rip + n };
		const uint8_t *p;

		if (ioctl(v->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
			break;
		p = vm_map_gpa(v->ctx, tr.physical_address, 1);
		if (p == NULL)
			break;
		vme->u.error.insn[n] = *p;
	}
	vme->u.error.insn_len = n;
}

int vm_run(struct vcpu *v, struct vm_exit *vme)
{
	struct kvm_run *run = v->run;
	int r;

	v->thread = pthread_self();
	v->in_run = 1;
	r = ioctl(v->fd, KVM_RUN, 0);
	v->in_run = 0;
	run->immediate_exit = 0;
	memset(vme, 0, sizeof(*vme));
	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN) {
			vme->exitcode = VM_EXITCODE_INTR;
			return 0;
		}
		return -1;
	}
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vme->exitcode = VM_EXITCODE_INOUT;
		vme->u.inout.in = run->io.direction == KVM_EXIT_IO_IN;
		vme->u.inout.bytes = run->io.size;
		vme->u.inout.port = run->io.port;
		vme->u.inout.count = run->io.count;
		vme->u.inout.data = (uint8_t *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		vme->exitcode = VM_EXITCODE_MMIO;
		vme->u.mmio.write = run->mmio.is_write;
		vme->u.mmio.len = (uint8_t)run->mmio.len;
		vme->u.mmio.gpa = run->mmio.phys_addr;
		vme->u.mmio.data = run->mmio.data;
		break;
	case KVM_EXIT_SHUTDOWN:
		vme->exitcode = VM_EXITCODE_TRIPLEFAULT;
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vme->exitcode = VM_EXITCODE_RESET;
		} else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
			vme->exitcode = VM_EXITCODE_POWEROFF;
		} else {	/* a crash, or an event this VMM does not know */
			vme->exitcode = VM_EXITCODE_ERROR;
			vme->u.error.reason = run->exit_reason;
			vme->u.error.suberror = run->system_event.type;
		}
		break;
	case KVM_EXIT_INTR:
		vme->exitcode = VM_EXITCODE_INTR;
		break;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		vme->exitcode = run->exit_reason == KVM_EXIT_X86_RDMSR ?
		    VM_EXITCODE_RDMSR : VM_EXITCODE_WRMSR;
		vme->u.msr.index = run->msr.index;
		vme->u.msr.data = (uint64_t *)&run->msr.data;
		vme->u.msr.error = &run->msr.error;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vme->exitcode = VM_EXITCODE_ERROR;
		vme->u.error.reason = run->exit_reason;
		vme->u.error.suberror = run->internal.suberror;
		if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
			insn_bytes(v, vme);
		break;
	default:
		vme->exitcode = VM_EXITCODE_ERROR;
		vme->u.error.reason = run->exit_reason;
		break;
	}
	return 0;
}

/* Finds the vCPU's "blocking" statistic (1 while KVM has it halted, waiting for
 * an interrupt), which another thread can read without stopping the vCPU. */
static void stats_open(struct vcpu *v)
{
	struct kvm_stats_header h;
	size_t dsz;
	char *descs = NULL;

	v->stats_fd = ioctl(v->fd, KVM_GET_STATS_FD, NULL);
	v->blocking_at = 0;
	if (v->stats_fd < 0)
		return;
	if (pread(v->stats_fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.num_desc > 4096 ||
	    h.name_size > 256)
		goto none;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = malloc(dsz * h.num_desc);
	if (descs == NULL ||
	    pread(v->stats_fd, descs, dsz * h.num_desc, h.desc_offset) != (ssize_t)(dsz * h.num_desc))
		goto none;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + i * dsz);

		if (d->size == 1 && strncmp(d->name, "blocking", h.name_size) == 0) {
			v->blocking_at = (off_t)h.data_offset + d->offset;
			free(descs);
			return;
		}
	}
none:
	free(descs);
	close(v->stats_fd);
	v->stats_fd = -1;
}

int vm_vcpu_blocking(struct vcpu *v)
{
	uint64_t b;

	if (v->stats_fd < 0 || v->blocking_at == 0 ||
	    pread(v->stats_fd, &b, sizeof(b), v->blocking_at) != (ssize_t)sizeof(b))
		return -1;
	return b != 0;
}

void vm_vcpu_kick(struct vcpu *v)
{
	v->run->immediate_exit = 1;
	if (v->in_run)
		pthread_kill(v->thread, KICK_SIGNAL);
}

int vm_vcpu_state(struct vcpu *v, bool *started, bool *halted_noint)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
		return -1;
	*started = mp.mp_state != KVM_MP_STATE_UNINITIALIZED &&
	    mp.mp_state != KVM_MP_STATE_INIT_RECEIVED &&
	    mp.mp_state != KVM_MP_STATE_SIPI_RECEIVED;
	*halted_noint = false;
	if (mp.mp_state == KVM_MP_STATE_HALTED) {
		if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
			return -1;
		*halted_noint = (regs.rflags & (1u << 9)) == 0;
	}
	return 0;
}

uint64_t vm_vcpu_rip(struct vcpu *v)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return 0;
	return sregs.cs.base + regs.rip;
}

static int irq_line(struct vmctx *ctx, uint32_t gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };

	if (irqchip_ready(ctx) < 0)
		return -1;
	return ioctl(ctx->vm_fd, KVM_IRQ_LINE, &l);
}

int vm_isa_irq_set(struct vmctx *ctx, int irq, int level)
{
	if (irq < 0 || irq > 15)
		return -1;
	return irq_line(ctx, irq == 2 ? 0 : (uint32_t)irq, level);
}

int vm_ioapic_irq_set(struct vmctx *ctx, int pin, int level)
{
	if (pin < 16 || pin > 23)
		return -1;
	return irq_line(ctx, (uint32_t)pin, level);
}

int vm_atpic_irq_set(struct vmctx *ctx, int irq, int level)
{
	if (irq < 0 || irq > 15 || irq == 2)
		return -1;
	return irq_line(ctx, GSI_PIC_ONLY + (uint32_t)irq, level);
}

int vm_lapic_msi(struct vmctx *ctx, uint64_t addr, uint64_t msg)
{
	struct kvm_msi m = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = (uint32_t)msg,
	};

	if (irqchip_ready(ctx) < 0)
		return -1;
	return ioctl(ctx->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -1 : 0;
}

int vm_pit_hpet_legacy(struct vmctx *ctx, bool on)
{
	struct kvm_pit_state2 ps;

	if (irqchip_ready(ctx) < 0 || ioctl(ctx->vm_fd, KVM_GET_PIT2, &ps) < 0)
		return -1;
	if (on)
		ps.flags |= KVM_PIT_FLAGS_HPET_LEGACY;
	else
		ps.flags &= ~(uint32_t)KVM_PIT_FLAGS_HPET_LEGACY;
	return ioctl(ctx->vm_fd, KVM_SET_PIT2, &ps) < 0 ? -1 : 0;
}

int vm_irqfd_msi(struct vmctx *ctx, int fd, uint64_t addr, uint64_t msg, int *gsi)
{
	struct kvm_irq_routing_entry *e;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd };
	int r;

	if (irqchip_ready(ctx) < 0)
		return -1;
	pthread_mutex_lock(&ctx->route_lock);
	if (ctx->routes->nr == MAX_GSI_ROUTES) {
		pthread_mutex_unlock(&ctx->route_lock);
		errno = ENOSPC;
		return -1;
	}
	e = &ctx->routes->entries[ctx->routes->nr++];
	memset(e, 0, sizeof(*e));
	e->gsi = (uint32_t)ctx->next_gsi++;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = (uint32_t)msg;
	r = ioctl(ctx->vm_fd, KVM_SET_GSI_ROUTING, ctx->routes);
	irqfd.gsi = e->gsi;
	*gsi = (int)e->gsi;
	pthread_mutex_unlock(&ctx->route_lock);
	if (r < 0)
		return -1;
	return ioctl(ctx->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -1 : 0;
}

int vm_irqfd_msi_route(struct vmctx *ctx, int gsi, uint64_t addr, uint64_t msg)
{
	int r = -1;

	if (irqchip_ready(ctx) < 0)
		return -1;
	pthread_mutex_lock(&ctx->route_lock);
	errno = ENOENT;
	for (uint32_t i = 0; i < ctx->routes->nr; i++) {
		struct kvm_irq_routing_entry *e = &ctx->routes->entries[i];

		if (e->gsi != (uint32_t)gsi || e->type != KVM_IRQ_ROUTING_MSI)
			continue;
		e->u.msi.address_lo = (uint32_t)addr;
		e->u.msi.address_hi = (uint32_t)(addr >> 32);
		e->u.msi.data = (uint32_t)msg;
		r = ioctl(ctx->vm_fd, KVM_SET_GSI_ROUTING, ctx->routes) < 0 ? -1 : 0;
		break;
	}
	pthread_mutex_unlock(&ctx->route_lock);
	return r;
}

int vm_irqfd_remove(struct vmctx *ctx, int fd, int gsi)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd, .gsi = (uint32_t)gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN,
	};

	return ioctl(ctx->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -1 : 0;
}

int vm_ioeventfd(struct vmctx *ctx, int fd, uint64_t addr, int len, bool pio,
    bool datamatch, uint64_t data, bool deassign)
{
	struct kvm_ioeventfd io = {
		.datamatch = data,
		.addr = addr,
		.len = (uint32_t)len,
		.fd = fd,
	};

	if (pio)
		io.flags |= KVM_IOEVENTFD_FLAG_PIO;
	if (datamatch)
		io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
	if (deassign)
		io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	return ioctl(ctx->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -1 : 0;
}

int vm_use_memory_file(struct vmctx *ctx, int fd)
{
	ctx->mem.ram_shared = true;
	ctx->mem.ram_fd = fd;
	return 0;
}

void vm_use_hugetlb(struct vmctx *ctx, uint64_t pagesz)
{
	ctx->mem.hugetlb = pagesz;
}

uint64_t vm_get_resident(struct vmctx *ctx)
{
	return memsegs_resident(&ctx->mem);
}

/* ---- registers, as FreeBSD's vm_get_register and friends ---- */

static __u64 *gpr(struct kvm_regs *r, int reg)
{
	switch (reg) {
	case VM_REG_GUEST_RAX: return &r->rax;
	case VM_REG_GUEST_RBX: return &r->rbx;
	case VM_REG_GUEST_RCX: return &r->rcx;
	case VM_REG_GUEST_RDX: return &r->rdx;
	case VM_REG_GUEST_RSI: return &r->rsi;
	case VM_REG_GUEST_RDI: return &r->rdi;
	case VM_REG_GUEST_RBP: return &r->rbp;
	case VM_REG_GUEST_R8: return &r->r8;
	case VM_REG_GUEST_R9: return &r->r9;
	case VM_REG_GUEST_R10: return &r->r10;
	case VM_REG_GUEST_R11: return &r->r11;
	case VM_REG_GUEST_R12: return &r->r12;
	case VM_REG_GUEST_R13: return &r->r13;
	case VM_REG_GUEST_R14: return &r->r14;
	case VM_REG_GUEST_R15: return &r->r15;
	case VM_REG_GUEST_RSP: return &r->rsp;
	case VM_REG_GUEST_RIP: return &r->rip;
	case VM_REG_GUEST_RFLAGS: return &r->rflags;
	default: return NULL;
	}
}

static struct kvm_segment *seg(struct kvm_sregs *s, int reg)
{
	switch (reg) {
	case VM_REG_GUEST_ES: return &s->es;
	case VM_REG_GUEST_CS: return &s->cs;
	case VM_REG_GUEST_SS: return &s->ss;
	case VM_REG_GUEST_DS: return &s->ds;
	case VM_REG_GUEST_FS: return &s->fs;
	case VM_REG_GUEST_GS: return &s->gs;
	case VM_REG_GUEST_LDTR: return &s->ldt;
	case VM_REG_GUEST_TR: return &s->tr;
	default: return NULL;
	}
}

#define CR0_PG_BIT	0x80000000ULL
#define EFER_LME_BIT	0x100ULL
#define EFER_LMA_BIT	0x400ULL

static __u64 *sreg(struct kvm_sregs *s, int reg)
{
	switch (reg) {
	case VM_REG_GUEST_CR0: return &s->cr0;
	case VM_REG_GUEST_CR2: return &s->cr2;
	case VM_REG_GUEST_CR3: return &s->cr3;
	case VM_REG_GUEST_CR4: return &s->cr4;
	case VM_REG_GUEST_EFER: return &s->efer;
	default: return NULL;
	}
}

static int regs_io(struct vcpu *v, int reg, uint64_t *val, bool set)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_debugregs d;
	__u64 *p;

	if (gpr(&r, reg) != NULL) {
		if (ioctl(v->fd, KVM_GET_REGS, &r) < 0)
			return -1;
		p = gpr(&r, reg);
		if (!set) {
			*val = *p;
			return 0;
		}
		*p = *val;
		return ioctl(v->fd, KVM_SET_REGS, &r) < 0 ? -1 : 0;
	}
	if (reg == VM_REG_GUEST_DR7) {
		if (ioctl(v->fd, KVM_GET_DEBUGREGS, &d) < 0)
			return -1;
		if (!set) {
			*val = d.dr7;
			return 0;
		}
		d.dr7 = *val;
		return ioctl(v->fd, KVM_SET_DEBUGREGS, &d) < 0 ? -1 : 0;
	}
	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	if (sreg(&s, reg) != NULL) {
		p = sreg(&s, reg);
		if (!set) {
			*val = *p;
			return 0;
		}
		*p = *val;
		/* EFER.LMA follows CR0.PG and EFER.LME as on the CPU, so that a loader
		 * can set CR0 and EFER one at a time (KVM refuses PG|LME without LMA). */
		if (reg == VM_REG_GUEST_CR0 || reg == VM_REG_GUEST_EFER) {
			if ((s.efer & EFER_LME_BIT) && (s.cr0 & CR0_PG_BIT))
				s.efer |= EFER_LMA_BIT;
			else
				s.efer &= ~(__u64)EFER_LMA_BIT;
		}
	} else if (seg(&s, reg) != NULL) {
		if (!set) {
			*val = seg(&s, reg)->selector;
			return 0;
		}
		seg(&s, reg)->selector = (uint16_t)*val;
	} else {
		errno = EINVAL;
		return -1;
	}
	return ioctl(v->fd, KVM_SET_SREGS, &s) < 0 ? -1 : 0;
}

int vm_get_register(struct vcpu *v, int reg, uint64_t *val)
{
	return regs_io(v, reg, val, false);
}

int vm_set_register(struct vcpu *v, int reg, uint64_t val)
{
	return regs_io(v, reg, &val, true);
}

static uint32_t seg_access(const struct kvm_segment *g)
{
	return (uint32_t)(g->type | g->s << 4 | g->dpl << 5 | g->present << 7 | g->avl << 12 |
	    g->l << 13 | g->db << 14 | g->g << 15 | g->unusable << 16);
}

int vm_get_desc(struct vcpu *v, int reg, uint64_t *base, uint32_t *limit, uint32_t *access)
{
	struct kvm_sregs s;
	struct kvm_segment *g;

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	if (reg == VM_REG_GUEST_GDTR || reg == VM_REG_GUEST_IDTR) {
		struct kvm_dtable *t = reg == VM_REG_GUEST_GDTR ? &s.gdt : &s.idt;

		*base = t->base;
		*limit = t->limit;
		*access = 0;
		return 0;
	}
	g = seg(&s, reg);
	if (g == NULL) {
		errno = EINVAL;
		return -1;
	}
	*base = g->base;
	*limit = g->limit;
	*access = seg_access(g);
	return 0;
}

int vm_set_desc(struct vcpu *v, int reg, uint64_t base, uint32_t limit, uint32_t access)
{
	struct kvm_sregs s;
	struct kvm_segment *g;

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	if (reg == VM_REG_GUEST_GDTR || reg == VM_REG_GUEST_IDTR) {
		struct kvm_dtable *t = reg == VM_REG_GUEST_GDTR ? &s.gdt : &s.idt;

		t->base = base;
		t->limit = (uint16_t)limit;
	} else if ((g = seg(&s, reg)) != NULL) {
		g->base = base;
		g->limit = limit;
		g->type = access & 0xf;
		g->s = (access >> 4) & 1;
		g->dpl = (access >> 5) & 3;
		g->present = (access >> 7) & 1;
		g->avl = (access >> 12) & 1;
		g->l = (access >> 13) & 1;
		g->db = (access >> 14) & 1;
		g->g = (access >> 15) & 1;
		g->unusable = (access >> 16) & 1;
	} else {
		errno = EINVAL;
		return -1;
	}
	return ioctl(v->fd, KVM_SET_SREGS, &s) < 0 ? -1 : 0;
}

int vm_inject_nmi(struct vcpu *v)
{
	return ioctl(v->fd, KVM_NMI, 0) < 0 ? -1 : 0;
}
