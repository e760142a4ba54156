/* The fake libvmmapi (see fake_vmmapi.h). Every function of vmmapi.h is here, so that a
 * device added to bhyve/devices links without touching the tests. */
#include "fake_vmmapi.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memseg.h"

struct vmctx {
	char name[64];
	uint64_t lowmem, highmem;
	void *ram;
	size_t ram_len;
	int sockets, cores, threads;
	bool x2apic, strictmsr;
};

struct vcpu {
	struct vmctx *ctx;
	int id;
};

struct fake_vmm fake_vmm;
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static char errmsg[128];

struct vmctx *fake_vm_create(uint64_t lowmem, uint64_t highmem)
{
	struct vmctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL)
		return NULL;
	snprintf(ctx->name, sizeof(ctx->name), "unittest");
	ctx->lowmem = lowmem;
	ctx->highmem = highmem;
	return ctx;
}

void fake_vm_set_ram(struct vmctx *ctx, void *buf, size_t len)
{
	ctx->ram = buf;
	ctx->ram_len = len;
}

void fake_reset_irqs(void)
{
	pthread_mutex_lock(&fake_lock);
	memset(fake_vmm.isa_level, 0, sizeof(fake_vmm.isa_level));
	memset(fake_vmm.ioapic_level, 0, sizeof(fake_vmm.ioapic_level));
	memset(fake_vmm.atpic_level, 0, sizeof(fake_vmm.atpic_level));
	fake_vmm.isa_calls = fake_vmm.ioapic_calls = fake_vmm.atpic_calls = 0;
	pthread_mutex_unlock(&fake_lock);
}

void fake_reset_msi(void)
{
	pthread_mutex_lock(&fake_lock);
	fake_vmm.nmsi = 0;
	pthread_mutex_unlock(&fake_lock);
}

void fake_reset_slots(void)
{
	pthread_mutex_lock(&fake_lock);
	fake_vmm.nslots = 0;
	pthread_mutex_unlock(&fake_lock);
}

void fake_reset_exit(void)
{
	pthread_mutex_lock(&fake_lock);
	fake_vmm.exit_requests = 0;
	fake_vmm.exit_first = fake_vmm.exit_last = -1;
	pthread_mutex_unlock(&fake_lock);
}

const struct fake_msi *fake_last_msi(void)
{
	if (fake_vmm.nmsi == 0)
		return NULL;
	return &fake_vmm.msi[(fake_vmm.nmsi > FAKE_MAX_MSI ? FAKE_MAX_MSI : fake_vmm.nmsi) - 1];
}

int vm_suspend(struct vmctx *ctx, enum vm_suspend_how how)
{
	(void)ctx;
	pthread_mutex_lock(&fake_lock);
	if (fake_vmm.exit_requests++ == 0)
		fake_vmm.exit_first = (int)how;
	fake_vmm.exit_last = (int)how;
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

void vm_set_suspend_handler(struct vmctx *ctx, vm_suspend_handler_t *fn)
{
	(void)ctx;
	(void)fn;
}

/* ---- lifecycle ---- */

struct vmctx *vm_create(const char *name)
{
	struct vmctx *ctx = fake_vm_create(0, 0);

	if (ctx != NULL)
		snprintf(ctx->name, sizeof(ctx->name), "%s", name);
	return ctx;
}

const char *vm_errmsg(void)
{
	return errmsg[0] ? errmsg : "no error";
}

const char *vm_name(struct vmctx *ctx)
{
	return ctx->name;
}

int vm_get_max_vcpus(struct vmctx *ctx)
{
	(void)ctx;
	return 16;
}

void vm_destroy(struct vmctx *ctx)
{
	free(ctx);
}

/* ---- memory ---- */

int vm_setup_memory(struct vmctx *ctx, uint64_t len, bool wired, bool in_core)
{
	(void)wired;
	(void)in_core;
	/* The real layout (lib/vmmapi/memseg.c), without allocating the RAM. */
	memsegs_split(len, &ctx->lowmem, &ctx->highmem);
	return 0;
}

uint64_t vm_get_lowmem_size(struct vmctx *ctx)
{
	return ctx->lowmem;
}

uint64_t vm_get_highmem_size(struct vmctx *ctx)
{
	return ctx->highmem;
}

/* Where the real libvmmapi puts KVM's identity map and TSS. */
void vm_get_reserved_range(struct vmctx *ctx, uint64_t *gpa, uint64_t *len)
{
	(void)ctx;
	*gpa = 0xfeffc000ULL;
	*len = 0x4000ULL;
}

int vm_map_host_memory(struct vmctx *ctx, uint64_t gpa, void *host, size_t len, bool readonly)
{
	int rc = -1;

	(void)ctx;
	pthread_mutex_lock(&fake_lock);
	/* KVM refuses overlapping memory slots; so does the fake. */
	for (int i = 0; i < fake_vmm.nslots; i++) {
		const struct fake_slot *s = &fake_vmm.slots[i];

		if (gpa < s->gpa + s->len && s->gpa < gpa + len) {
			snprintf(errmsg, sizeof(errmsg), "slot at 0x%llx overlaps another",
			    (unsigned long long)gpa);
			errno = EEXIST;
			goto out;
		}
	}
	if (len == 0 || fake_vmm.nslots == FAKE_MAX_SLOTS) {
		snprintf(errmsg, sizeof(errmsg), "bad slot");
		errno = EINVAL;
		goto out;
	}
	fake_vmm.slots[fake_vmm.nslots++] = (struct fake_slot){ gpa, host, len, readonly };
	rc = 0;
out:
	pthread_mutex_unlock(&fake_lock);
	return rc;
}

int vm_unmap_host_memory(struct vmctx *ctx, uint64_t gpa)
{
	int rc = -1;

	(void)ctx;
	pthread_mutex_lock(&fake_lock);
	for (int i = 0; i < fake_vmm.nslots; i++) {
		if (fake_vmm.slots[i].gpa != gpa)
			continue;
		for (int j = i + 1; j < fake_vmm.nslots; j++)
			fake_vmm.slots[j - 1] = fake_vmm.slots[j];
		fake_vmm.nslots--;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&fake_lock);
	if (rc != 0)
		errno = ENOENT;
	return rc;
}

int vm_punch_ram_hole(struct vmctx *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	if (len == 0 || fake_vmm.hole_len != 0) {
		errno = EINVAL;
		return -1;
	}
	fake_vmm.hole_gpa = gpa;
	fake_vmm.hole_len = len;
	return 0;
}

void *vm_map_gpa(struct vmctx *ctx, uint64_t gpa, size_t len)
{
	if (gpa + len < gpa)
		return NULL;
	if (fake_vmm.hole_len != 0 && gpa < fake_vmm.hole_gpa + fake_vmm.hole_len &&
	    fake_vmm.hole_gpa < gpa + len)
		return NULL;	/* a hole punched in RAM is device space */
	if (ctx->ram != NULL && gpa + len <= ctx->ram_len)
		return (uint8_t *)ctx->ram + gpa;
	for (int i = 0; i < fake_vmm.nslots; i++) {
		const struct fake_slot *s = &fake_vmm.slots[i];

		if (s->readonly)
			continue;	/* as libvmmapi: never the boot ROM */
		if (gpa >= s->gpa && gpa + len <= s->gpa + s->len)
			return (uint8_t *)s->host + (gpa - s->gpa);
	}
	return NULL;
}

/* ---- vCPUs ---- */

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
	ctx->strictmsr = strict;
	return 0;
}

struct vcpu *vm_vcpu_open(struct vmctx *ctx, int id)
{
	struct vcpu *v = calloc(1, sizeof(*v));

	if (v != NULL) {
		v->ctx = ctx;
		v->id = id;
	}
	return v;
}

int vcpu_id(struct vcpu *vcpu)
{
	return vcpu->id;
}

int vm_run(struct vcpu *vcpu, struct vm_exit *vme)
{
	(void)vcpu;
	(void)vme;
	errno = ENOSYS;
	return -1;
}

int vm_vcpu_blocking(struct vcpu *vcpu)
{
	(void)vcpu;
	return -1;
}

void vm_vcpu_kick(struct vcpu *vcpu)
{
	(void)vcpu;
}

int vm_vcpu_state(struct vcpu *vcpu, bool *started, bool *halted_noint)
{
	(void)vcpu;
	*started = false;
	*halted_noint = false;
	return 0;
}

uint64_t vm_vcpu_rip(struct vcpu *vcpu)
{
	(void)vcpu;
	return 0;
}

/* ---- interrupts ---- */

static int set_level(int *levels, int n, int *calls, int line, int level)
{
	if (line < 0 || line >= n) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&fake_lock);
	levels[line] = level;
	(*calls)++;
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int vm_isa_irq_set(struct vmctx *ctx, int irq, int level)
{
	(void)ctx;
	return set_level(fake_vmm.isa_level, 16, &fake_vmm.isa_calls, irq, level);
}

int vm_ioapic_irq_set(struct vmctx *ctx, int pin, int level)
{
	(void)ctx;
	return set_level(fake_vmm.ioapic_level, 32, &fake_vmm.ioapic_calls, pin, level);
}

int vm_atpic_irq_set(struct vmctx *ctx, int irq, int level)
{
	(void)ctx;
	return set_level(fake_vmm.atpic_level, 16, &fake_vmm.atpic_calls, irq, level);
}

int vm_lapic_msi(struct vmctx *ctx, uint64_t addr, uint64_t msg)
{
	(void)ctx;
	pthread_mutex_lock(&fake_lock);
	if (fake_vmm.nmsi < FAKE_MAX_MSI)
		fake_vmm.msi[fake_vmm.nmsi] = (struct fake_msi){ addr, msg };
	fake_vmm.nmsi++;
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

int vm_pit_hpet_legacy(struct vmctx *ctx, bool on)
{
	(void)ctx;
	fake_vmm.pit_hpet_legacy = on;
	return 0;
}

/* The fast paths: refused unless a test turns them on, so devices are seen to
 * fall back to the slow ones by default. */
void fake_reset_fastpaths(bool on)
{
	pthread_mutex_lock(&fake_lock);
	fake_vmm.fastpaths = on;
	fake_vmm.nirqfd = fake_vmm.nioev = 0;
	pthread_mutex_unlock(&fake_lock);
}

int vm_irqfd_msi(struct vmctx *ctx, int fd, uint64_t addr, uint64_t msg, int *gsi)
{
	int r = -1;

	(void)ctx;
	pthread_mutex_lock(&fake_lock);
	errno = fake_vmm.fastpaths ? ENOSPC : ENOSYS;
	if (fake_vmm.fastpaths && fake_vmm.nirqfd < FAKE_MAX_BINDINGS) {
		*gsi = 100 + fake_vmm.nirqfd;
		fake_vmm.irqfd[fake_vmm.nirqfd++] = (struct fake_irqfd){ fd, *gsi, addr, msg, true };
		r = 0;
	}
	pthread_mutex_unlock(&fake_lock);
	return r;
}

static struct fake_irqfd *find_irqfd(int gsi)
{
	for (int i = 0; i < fake_vmm.nirqfd; i++)
		if (fake_vmm.irqfd[i].live && fake_vmm.irqfd[i].gsi == gsi)
			return &fake_vmm.irqfd[i];
	errno = fake_vmm.fastpaths ? ENOENT : ENOSYS;
	return NULL;
}

int vm_irqfd_msi_route(struct vmctx *ctx, int gsi, uint64_t addr, uint64_t msg)
{
	struct fake_irqfd *f;

	(void)ctx;
	pthread_mutex_lock(&fake_lock);
	f = find_irqfd(gsi);
	if (f != NULL) {
		f->addr = addr;
		f->msg = msg;
	}
	pthread_mutex_unlock(&fake_lock);
	return f != NULL ? 0 : -1;
}

int vm_irqfd_remove(struct vmctx *ctx, int fd, int gsi)
{
	struct fake_irqfd *f;

	(void)ctx;
	pthread_mutex_lock(&fake_lock);
	f = find_irqfd(gsi);
	if (f != NULL && f->fd == fd)
		f->live = false;
	pthread_mutex_unlock(&fake_lock);
	return f != NULL ? 0 : -1;
}

static struct fake_ioeventfd *find_ioev(uint64_t addr, bool pio, uint64_t data)
{
	for (int i = 0; i < fake_vmm.nioev; i++) {
		struct fake_ioeventfd *b = &fake_vmm.ioev[i];

		if (b->live && b->addr == addr && b->pio == pio && b->data == data)
			return b;
	}
	return NULL;
}

const struct fake_ioeventfd *fake_ioeventfd_at(uint64_t addr, bool pio, uint64_t data)
{
	const struct fake_ioeventfd *b;

	pthread_mutex_lock(&fake_lock);
	b = find_ioev(addr, pio, data);
	pthread_mutex_unlock(&fake_lock);
	return b;
}

/* As KVM: a second binding of the same address and match is EEXIST, removing
 * one that is not there ENOENT. */
int vm_ioeventfd(struct vmctx *ctx, int fd, uint64_t addr, int len, bool pio,
    bool datamatch, uint64_t data, bool deassign)
{
	struct fake_ioeventfd *b;
	int r = -1;

	(void)ctx;
	pthread_mutex_lock(&fake_lock);
	b = find_ioev(addr, pio, data);
	if (!fake_vmm.fastpaths) {
		errno = ENOSYS;
	} else if (deassign) {
		if (b != NULL && b->fd == fd) {
			b->live = false;
			r = 0;
		} else {
			errno = ENOENT;
		}
	} else if (b != NULL) {
		errno = EEXIST;
	} else if (fake_vmm.nioev == FAKE_MAX_BINDINGS) {
		errno = ENOSPC;
	} else {
		fake_vmm.ioev[fake_vmm.nioev++] = (struct fake_ioeventfd){
			fd, len, addr, data, pio, datamatch, true };
		r = 0;
	}
	pthread_mutex_unlock(&fake_lock);
	return r;
}

/* Registers: one set, shared by every fake vCPU, for the vCPU state files. */
static uint64_t fake_regs[VM_REG_LAST];
int fake_set_order[64], fake_nset;

static void log_set(int reg)
{
	if (fake_nset < 64)
		fake_set_order[fake_nset] = reg;
	fake_nset++;
}
static struct { uint64_t base; uint32_t limit, access; } fake_descs[VM_REG_LAST];

int vm_use_memory_file(struct vmctx *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	errno = ENOSYS;
	return -1;
}

uint64_t vm_get_resident(struct vmctx *ctx)
{
	(void)ctx;
	return 0;
}

int vm_get_register(struct vcpu *vcpu, int reg, uint64_t *val)
{
	(void)vcpu;
	if (reg < 0 || reg >= VM_REG_LAST)
		return errno = EINVAL, -1;
	*val = fake_regs[reg];
	return 0;
}

int vm_set_register(struct vcpu *vcpu, int reg, uint64_t val)
{
	(void)vcpu;
	if (reg < 0 || reg >= VM_REG_LAST)
		return errno = EINVAL, -1;
	fake_regs[reg] = val;
	log_set(reg);
	return 0;
}

int vm_get_desc(struct vcpu *vcpu, int reg, uint64_t *base, uint32_t *limit, uint32_t *access)
{
	(void)vcpu;
	if (reg < 0 || reg >= VM_REG_LAST)
		return errno = EINVAL, -1;
	*base = fake_descs[reg].base;
	*limit = fake_descs[reg].limit;
	*access = fake_descs[reg].access;
	return 0;
}

int vm_set_desc(struct vcpu *vcpu, int reg, uint64_t base, uint32_t limit, uint32_t access)
{
	(void)vcpu;
	if (reg < 0 || reg >= VM_REG_LAST)
		return errno = EINVAL, -1;
	fake_descs[reg].base = base;
	fake_descs[reg].limit = limit;
	fake_descs[reg].access = access;
	log_set(reg);
	return 0;
}

int vm_inject_nmi(struct vcpu *vcpu)
{
	(void)vcpu;
	errno = ENOSYS;
	return -1;
}
