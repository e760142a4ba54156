/* libvmmapi over a software CPU (Unicorn, QEMU's TCG as a library), for hosts
 * without /dev/kvm. It builds bin/bhyve-emu, which runs the same devices, exit
 * handling, consoles and signals as bin/bhyve, so the project's test guest can
 * drive the whole VMM process where KVM is missing.
 *
 * What it is not: a KVM. There is one vCPU, no in-kernel LAPIC/IOAPIC/PIC (the
 * PIT is only its counters, emu_pit.c)
 * (interrupt calls fail with ENOSYS, LAPIC/IOAPIC accesses reach the MMIO
 * dispatch), no INIT/SIPI, and no triple-fault reset. Unicorn hands every
 * interrupt and exception to a hook instead of delivering it; the hook
 * delivers real-mode ones through the IVT (firmware's BIOS calls) and ends
 * the run as an error for any other. Unicorn cannot put the real-mode CS base at 0xFFFF0000, so
 * the CPU starts at F000:FFF0 in the legacy BIOS area; when the platform has
 * not put the ROM's image there (fwcfg=qemu does), the first run copies the
 * ROM's last 4 KiB to 0xFF000. Only that page: below it the legacy area is
 * the platform's (bhyve's MP table at 0xF0000), so the ROM's real-mode entry
 * must lie in its last page, as edk2's reset vector and the test guest's do.
 *
 * Each exit is a hand-off between two threads: the emulator thread stops in
 * its port/MMIO hook, posts the exit and waits; vm_run returns it; the next
 * vm_run lets the hook finish with the data the VMM filled in. */
#include "vmmapi.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

#include "memseg.h"
#include "emu_pit.h"

#define LEGACY_RESET_PAGE 0xFF000ULL
#define LEGACY_END	0x100000ULL
#define TOP_OF_4G	(1ULL << 32)
#define PAGE		4096ULL
#define ROUNDUP_PAGE(x)	(((x) + PAGE - 1) / PAGE * PAGE)

enum emu_state {
	EMU_NOT_STARTED,
	EMU_RUNNING,	/* the emulator thread executes guest code */
	EMU_POSTED,	/* an exit waits for vm_run to pick it up */
	EMU_TAKEN,	/* vm_run returned it; the VMM is handling it */
	EMU_HALTED,	/* HLT: nothing can wake the CPU (no interrupts here) */
	EMU_STOPPED,	/* the emulator gave up: an error exit */
};

struct vcpu {
	struct vmctx *ctx;
	pthread_t thread;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	enum emu_state state;
	bool kicked;
	struct vm_exit exit;
	uint8_t data[8];
	uc_err error;
};

struct vmctx {
	uc_engine *uc;
	char name[32];
	struct memsegs mem;
	struct vcpu *vcpu;
	bool mmio_mapped;
};

static __thread char errbuf[160];

const char *vm_errmsg(void)
{
	return errbuf;
}

struct vmctx *vm_create(const char *name)
{
	struct vmctx *ctx = calloc(1, sizeof(*ctx));
	uc_err e;

	if (ctx == NULL)
		return NULL;
	snprintf(ctx->name, sizeof(ctx->name), "%s", name);
	e = uc_open(UC_ARCH_X86, UC_MODE_16, &ctx->uc);
	if (e != UC_ERR_OK) {
		snprintf(errbuf, sizeof(errbuf), "software CPU: %s", uc_strerror(e));
		free(ctx);
		errno = ENODEV;
		return NULL;
	}
	return ctx;
}

const char *vm_name(struct vmctx *ctx)
{
	return ctx->name;
}

int vm_get_max_vcpus(struct vmctx *ctx)
{
	(void)ctx;
	return 1;
}

void vm_destroy(struct vmctx *ctx)
{
	if (ctx == NULL)
		return;
	uc_close(ctx->uc);
	memsegs_free(&ctx->mem);
	free(ctx);
}

static int map(struct vmctx *ctx, uint64_t gpa, void *host, uint64_t len, uint32_t perms)
{
	uc_err e = uc_mem_map_ptr(ctx->uc, gpa, len, perms, host);

	if (e != UC_ERR_OK) {
		snprintf(errbuf, sizeof(errbuf), "mapping 0x%llx: %s", (unsigned long long)gpa,
		    uc_strerror(e));
		errno = EINVAL;
		return -1;
	}
	return memsegs_add(&ctx->mem, gpa, host, len, !(perms & UC_PROT_WRITE));
}

int vm_setup_memory(struct vmctx *ctx, uint64_t len, bool wired, bool in_core)
{
	uint8_t *base;

	base = memsegs_alloc_ram(&ctx->mem, ctx->name, len, wired, in_core, errbuf, sizeof(errbuf));
	if (base == NULL)
		return -1;
	if (map(ctx, 0, base, ctx->mem.lowmem, UC_PROT_ALL) != 0 ||
	    (ctx->mem.highmem &&
	     map(ctx, VM_HIGHMEM_BASE, base + ctx->mem.lowmem, ctx->mem.highmem, UC_PROT_ALL) != 0))
		return -1;
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

/* The software CPU needs no TSS or identity map; the range vmmapi.c gives KVM
 * stays reserved all the same, so that the guest sees the same memory map. */
void vm_get_reserved_range(struct vmctx *ctx, uint64_t *gpa, uint64_t *len)
{
	(void)ctx;
	*gpa = 0xfeffc000ULL;
	*len = 0x4000ULL;
}

int vm_map_host_memory(struct vmctx *ctx, uint64_t gpa, void *host, size_t len, bool readonly)
{
	uint32_t perms = readonly ? UC_PROT_READ | UC_PROT_EXEC : UC_PROT_ALL;

	return map(ctx, gpa, host, len, perms);
}

/* Before the first run only: afterwards the holes between segments are MMIO
 * regions of Unicorn's, which a slot taken back would leave unmapped. */
int vm_unmap_host_memory(struct vmctx *ctx, uint64_t gpa)
{
	for (int i = 0; i < ctx->mem.n; i++) {
		if (ctx->mem.seg[i].gpa != gpa)
			continue;
		if (ctx->mmio_mapped) {
			snprintf(errbuf, sizeof(errbuf), "the software CPU cannot unmap memory once started");
			errno = ENOTSUP;
			return -1;
		}
		if (uc_mem_unmap(ctx->uc, gpa, ctx->mem.seg[i].len) != UC_ERR_OK) {
			snprintf(errbuf, sizeof(errbuf), "unmapping 0x%llx", (unsigned long long)gpa);
			errno = EINVAL;
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
	uint64_t end = gpa + len, old_end;

	if (ctx->mmio_mapped) {
		snprintf(errbuf, sizeof(errbuf), "the software CPU cannot unmap memory once started");
		errno = ENOTSUP;
		return -1;
	}
	if (len == 0 || (gpa | len) & (PAGE - 1) || memsegs_take(&ctx->mem, gpa, len, &old) != 0) {
		snprintf(errbuf, sizeof(errbuf), "no RAM region holds 0x%llx-0x%llx",
		    (unsigned long long)gpa, (unsigned long long)(end - 1));
		errno = ENOENT;
		return -1;
	}
	old_end = old.gpa + old.len;
	/* Unicorn splits its region; the first run maps the hole as MMIO. */
	if (uc_mem_unmap(ctx->uc, gpa, len) != UC_ERR_OK ||
	    (gpa > old.gpa && memsegs_add(&ctx->mem, old.gpa, old.host, gpa - old.gpa, false) != 0) ||
	    (end < old_end &&
	     memsegs_add(&ctx->mem, end, old.host + (end - old.gpa), old_end - end, false) != 0)) {
		snprintf(errbuf, sizeof(errbuf), "unmapping 0x%llx", (unsigned long long)gpa);
		errno = EINVAL;
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
	(void)ctx;
	(void)sockets;
	(void)cores;
	(void)threads;
	return 0;	/* one vCPU: there is no topology to report */
}

int vm_get_topology(struct vmctx *ctx, int *sockets, int *cores, int *threads)
{
	(void)ctx;
	*sockets = *cores = *threads = 1;
	return 0;
}

int vm_set_x2apic(struct vmctx *ctx, bool enable)
{
	(void)ctx;
	(void)enable;
	return 0;	/* no local APIC at all */
}

int vm_set_strictmsr(struct vmctx *ctx, bool strict)
{
	(void)ctx;
	if (!strict) {
		snprintf(errbuf, sizeof(errbuf), "x86.strictmsr=false needs KVM");
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

/* ---- the hand-off between the emulator thread and vm_run ---- */

/* Called on the emulator thread: post the exit, wait until the VMM handled it. */
static void post_and_wait(struct vcpu *v)
{
	pthread_mutex_lock(&v->mtx);
	v->state = EMU_POSTED;
	pthread_cond_broadcast(&v->cv);
	while (v->state != EMU_RUNNING)
		pthread_cond_wait(&v->cv, &v->mtx);
	pthread_mutex_unlock(&v->mtx);
}

static uint32_t hook_in(uc_engine *uc, uint32_t port, int size, void *arg)
{
	struct vcpu *v = arg;
	uint32_t val = 0;

	(void)uc;
	if (emu_pit_owns((uint16_t)port, size))
		return emu_pit_in((uint16_t)port);
	v->exit = (struct vm_exit){ .exitcode = VM_EXITCODE_INOUT };
	v->exit.u.inout.in = true;
	v->exit.u.inout.bytes = (uint8_t)size;
	v->exit.u.inout.port = (uint16_t)port;
	v->exit.u.inout.count = 1;
	v->exit.u.inout.data = v->data;
	post_and_wait(v);
	memcpy(&val, v->data, (size_t)size);
	return val;
}

static void hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *arg)
{
	struct vcpu *v = arg;

	(void)uc;
	if (emu_pit_owns((uint16_t)port, size)) {
		emu_pit_out((uint16_t)port, (uint8_t)value);
		return;
	}
	v->exit = (struct vm_exit){ .exitcode = VM_EXITCODE_INOUT };
	v->exit.u.inout.bytes = (uint8_t)size;
	v->exit.u.inout.port = (uint16_t)port;
	v->exit.u.inout.count = 1;
	v->exit.u.inout.data = v->data;
	memcpy(v->data, &value, (size_t)size);
	post_and_wait(v);
}

struct mmio_region {
	struct vcpu *v;
	uint64_t base;
};

static uint64_t mmio_read(uc_engine *uc, uint64_t off, unsigned size, void *arg)
{
	struct mmio_region *r = arg;
	struct vcpu *v = r->v;
	uint64_t val = 0;

	(void)uc;
	v->exit = (struct vm_exit){ .exitcode = VM_EXITCODE_MMIO };
	v->exit.u.mmio.len = (uint8_t)size;
	v->exit.u.mmio.gpa = r->base + off;
	v->exit.u.mmio.data = v->data;
	post_and_wait(v);
	memcpy(&val, v->data, size > 8 ? 8 : size);
	return val;
}

static void mmio_write(uc_engine *uc, uint64_t off, unsigned size, uint64_t value, void *arg)
{
	struct mmio_region *r = arg;
	struct vcpu *v = r->v;

	(void)uc;
	v->exit = (struct vm_exit){ .exitcode = VM_EXITCODE_MMIO };
	v->exit.u.mmio.write = true;
	v->exit.u.mmio.len = (uint8_t)size;
	v->exit.u.mmio.gpa = r->base + off;
	v->exit.u.mmio.data = v->data;
	memcpy(v->data, &value, size > 8 ? 8 : size);
	post_and_wait(v);
}

/* Everything below 4 GiB that is not memory is device space (a hole that
 * vm_punch_ram_hole made in low RAM too). */
static int map_mmio_holes(struct vmctx *ctx, struct vcpu *v)
{
	uint64_t a = 0;

	while (a < TOP_OF_4G) {
		uint64_t end = TOP_OF_4G;

		for (int i = 0; i < ctx->mem.n; i++) {
			const struct memseg *s = &ctx->mem.seg[i];

			if (s->gpa <= a && a < s->gpa + s->len) {
				a = s->gpa + s->len;
				end = 0;
				break;
			}
			if (s->gpa > a && s->gpa < end)
				end = s->gpa;
		}
		if (end == 0)
			continue;
		{
			struct mmio_region *r = malloc(sizeof(*r));

			if (r == NULL)
				return -1;
			*r = (struct mmio_region){ v, a };
			if (uc_mmio_map(ctx->uc, a, end - a, mmio_read, r, mmio_write, r) != UC_ERR_OK) {
				snprintf(errbuf, sizeof(errbuf), "MMIO at 0x%llx", (unsigned long long)a);
				free(r);
				return -1;
			}
		}
		a = end;
	}
	return 0;
}

/* The real-mode start at F000:FFF0 needs the ROM's image in the legacy BIOS
 * area: see the top of the file. */
static void legacy_reset_image(struct vmctx *ctx)
{
	uint64_t n = LEGACY_END - LEGACY_RESET_PAGE;
	uint8_t *dst = memsegs_find(&ctx->mem, LEGACY_RESET_PAGE, n, false);
	const uint8_t *rom = memsegs_find(&ctx->mem, TOP_OF_4G - n, n, true);

	if (dst == NULL || rom == NULL)
		return;
	for (uint64_t i = n - 16; i < n; i++)
		if (dst[i] != 0)
			return;	/* already there */
	memcpy(dst, rom, n);
}

/* Real mode: what the CPU does for INT n or an exception, through the IVT at 0. */
static void hook_intr(uc_engine *uc, uint32_t intno, void *arg)
{
	struct vcpu *v = arg;
	uint64_t cr0 = 0, flags = 0, cs = 0, ip = 0, sp = 0, ss = 0;
	uint16_t frame[3], vec[2];

	uc_reg_read(uc, UC_X86_REG_CR0, &cr0);
	uc_reg_read(uc, UC_X86_REG_EFLAGS, &flags);
	uc_reg_read(uc, UC_X86_REG_CS, &cs);
	uc_reg_read(uc, UC_X86_REG_IP, &ip);
	uc_reg_read(uc, UC_X86_REG_SP, &sp);
	uc_reg_read(uc, UC_X86_REG_SS, &ss);
	if ((cr0 & 1) || intno > 255 ||
	    uc_mem_read(uc, intno * 4, vec, sizeof(vec)) != UC_ERR_OK) {
		v->error = UC_ERR_EXCEPTION;
		uc_emu_stop(uc);
		return;
	}
	frame[0] = (uint16_t)ip;
	frame[1] = (uint16_t)cs;
	frame[2] = (uint16_t)flags;
	sp = (uint16_t)(sp - sizeof(frame));
	if (uc_mem_write(uc, (ss << 4) + sp, frame, sizeof(frame)) != UC_ERR_OK) {
		v->error = UC_ERR_EXCEPTION;
		uc_emu_stop(uc);
		return;
	}
	flags &= ~(uint64_t)0x300;	/* IF and TF */
	cs = vec[1];
	ip = vec[0];
	uc_reg_write(uc, UC_X86_REG_SP, &sp);
	uc_reg_write(uc, UC_X86_REG_EFLAGS, &flags);
	uc_reg_write(uc, UC_X86_REG_CS, &cs);
	uc_reg_write(uc, UC_X86_REG_IP, &ip);
}

static void *emu_thread(void *arg)
{
	struct vcpu *v = arg;
	uint64_t ip = 0;
	uc_err e;

	/* From F000:FFF0, or where a loader left the vCPU (vm_set_register). */
	uc_reg_read(v->ctx->uc, UC_X86_REG_IP, &ip);
	e = uc_emu_start(v->ctx->uc, ip & 0xffff, 0, 0, 0);

	pthread_mutex_lock(&v->mtx);
	if (e == UC_ERR_OK && v->error != UC_ERR_OK)
		e = v->error;	/* stopped by hook_intr */
	v->error = e;
	/* Without an error, Unicorn returns when the CPU executes HLT. */
	v->state = e == UC_ERR_OK ? EMU_HALTED : EMU_STOPPED;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mtx);
	return NULL;
}

struct vcpu *vm_vcpu_open(struct vmctx *ctx, int id)
{
	struct vcpu *v;
	uc_hook h;
	int cs = 0xf000, ip = 0xfff0;

	if (id != 0 || ctx->vcpu != NULL) {
		snprintf(errbuf, sizeof(errbuf), "the software CPU runs one vCPU only");
		errno = EINVAL;
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return NULL;
	v->ctx = ctx;
	pthread_mutex_init(&v->mtx, NULL);
	pthread_cond_init(&v->cv, NULL);
	if (uc_hook_add(ctx->uc, &h, UC_HOOK_INSN, (void *)hook_in, v, 1, 0, UC_X86_INS_IN) != UC_ERR_OK ||
	    uc_hook_add(ctx->uc, &h, UC_HOOK_INSN, (void *)hook_out, v, 1, 0, UC_X86_INS_OUT) != UC_ERR_OK ||
	    uc_hook_add(ctx->uc, &h, UC_HOOK_INTR, (void *)hook_intr, v, 1, 0) != UC_ERR_OK ||
	    uc_reg_write(ctx->uc, UC_X86_REG_CS, &cs) != UC_ERR_OK ||
	    uc_reg_write(ctx->uc, UC_X86_REG_IP, &ip) != UC_ERR_OK) {
		snprintf(errbuf, sizeof(errbuf), "software CPU hooks");
		free(v);
		return NULL;
	}
	ctx->vcpu = v;
	return v;
}

int vcpu_id(struct vcpu *vcpu)
{
	(void)vcpu;
	return 0;
}

int vm_run(struct vcpu *v, struct vm_exit *vme)
{
	int rc = 0;

	pthread_mutex_lock(&v->mtx);
	if (v->state == EMU_NOT_STARTED) {
		legacy_reset_image(v->ctx);
		if (!v->ctx->mmio_mapped && map_mmio_holes(v->ctx, v) != 0) {
			pthread_mutex_unlock(&v->mtx);
			errno = ENOMEM;
			return -1;
		}
		v->ctx->mmio_mapped = true;
		v->state = EMU_RUNNING;
		if (pthread_create(&v->thread, NULL, emu_thread, v) != 0) {
			pthread_mutex_unlock(&v->mtx);
			return -1;
		}
	} else if (v->state == EMU_TAKEN) {
		v->state = EMU_RUNNING;	/* the VMM has handled the last exit */
		pthread_cond_broadcast(&v->cv);
	}
	while ((v->state == EMU_RUNNING || v->state == EMU_HALTED) && !v->kicked)
		pthread_cond_wait(&v->cv, &v->mtx);
	if (v->state == EMU_POSTED) {
		*vme = v->exit;
		v->state = EMU_TAKEN;
	} else if (v->state == EMU_STOPPED) {
		*vme = (struct vm_exit){ .exitcode = VM_EXITCODE_ERROR };
		vme->u.error.suberror = (uint32_t)v->error;
		fprintf(stderr, "bhyve: software CPU: %s\n", uc_strerror(v->error));
	} else {
		*vme = (struct vm_exit){ .exitcode = VM_EXITCODE_INTR };
	}
	v->kicked = false;
	pthread_mutex_unlock(&v->mtx);
	return rc;
}

int vm_vcpu_blocking(struct vcpu *v)
{
	int b;

	pthread_mutex_lock(&v->mtx);
	b = v->state == EMU_HALTED;
	pthread_mutex_unlock(&v->mtx);
	return b;
}

void vm_vcpu_kick(struct vcpu *v)
{
	pthread_mutex_lock(&v->mtx);
	v->kicked = true;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mtx);
}

int vm_vcpu_state(struct vcpu *v, bool *started, bool *halted_noint)
{
	uint32_t eflags = 0;
	bool halted;

	pthread_mutex_lock(&v->mtx);
	halted = v->state == EMU_HALTED;
	pthread_mutex_unlock(&v->mtx);
	*started = true;
	if (halted)
		uc_reg_read(v->ctx->uc, UC_X86_REG_EFLAGS, &eflags);
	*halted_noint = halted && !(eflags & (1u << 9));
	return 0;
}

uint64_t vm_vcpu_rip(struct vcpu *v)
{
	uint64_t pc = 0;

	/* Read while the emulator thread waits in a hook or has stopped. */
	uc_reg_read(v->ctx->uc, UC_X86_REG_EIP, &pc);
	return (uint32_t)pc;
}

/* No interrupt controllers in the software CPU. */
static int no_irqchip(void)
{
	errno = ENOSYS;
	return -1;
}

int vm_isa_irq_set(struct vmctx *ctx, int irq, int level)
{
	(void)ctx; (void)irq; (void)level;
	return no_irqchip();
}

int vm_ioapic_irq_set(struct vmctx *ctx, int pin, int level)
{
	(void)ctx; (void)pin; (void)level;
	return no_irqchip();
}

int vm_atpic_irq_set(struct vmctx *ctx, int irq, int level)
{
	(void)ctx; (void)irq; (void)level;
	return no_irqchip();
}

int vm_lapic_msi(struct vmctx *ctx, uint64_t addr, uint64_t msg)
{
	(void)ctx; (void)addr; (void)msg;
	return no_irqchip();
}

int vm_pit_hpet_legacy(struct vmctx *ctx, bool on)
{
	(void)ctx; (void)on;
	return no_irqchip();	/* and no PIT either */
}

int vm_irqfd_msi(struct vmctx *ctx, int fd, uint64_t addr, uint64_t msg, int *gsi)
{
	(void)ctx; (void)fd; (void)addr; (void)msg; (void)gsi;
	return no_irqchip();
}

int vm_irqfd_msi_route(struct vmctx *ctx, int gsi, uint64_t addr, uint64_t msg)
{
	(void)ctx; (void)gsi; (void)addr; (void)msg;
	return no_irqchip();
}

int vm_irqfd_remove(struct vmctx *ctx, int fd, int gsi)
{
	(void)ctx; (void)fd; (void)gsi;
	return no_irqchip();
}

int vm_ioeventfd(struct vmctx *ctx, int fd, uint64_t addr, int len, bool pio,
    bool datamatch, uint64_t data, bool deassign)
{
	(void)ctx; (void)fd; (void)addr; (void)len; (void)pio; (void)datamatch; (void)data;
	(void)deassign;
	errno = ENOSYS;
	return -1;
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

/* ---- registers: the real-mode CPU Unicorn runs here ---- */

static const int uc_regs[VM_REG_LAST] = {
	[VM_REG_GUEST_RAX] = UC_X86_REG_EAX, [VM_REG_GUEST_RBX] = UC_X86_REG_EBX,
	[VM_REG_GUEST_RCX] = UC_X86_REG_ECX, [VM_REG_GUEST_RDX] = UC_X86_REG_EDX,
	[VM_REG_GUEST_RSI] = UC_X86_REG_ESI, [VM_REG_GUEST_RDI] = UC_X86_REG_EDI,
	[VM_REG_GUEST_RBP] = UC_X86_REG_EBP, [VM_REG_GUEST_RSP] = UC_X86_REG_ESP,
	[VM_REG_GUEST_RIP] = UC_X86_REG_EIP, [VM_REG_GUEST_RFLAGS] = UC_X86_REG_EFLAGS,
	[VM_REG_GUEST_CR0] = UC_X86_REG_CR0, [VM_REG_GUEST_CR2] = UC_X86_REG_CR2,
	[VM_REG_GUEST_CR3] = UC_X86_REG_CR3, [VM_REG_GUEST_CR4] = UC_X86_REG_CR4,
	[VM_REG_GUEST_DR7] = UC_X86_REG_DR7,
	[VM_REG_GUEST_ES] = UC_X86_REG_ES, [VM_REG_GUEST_CS] = UC_X86_REG_CS,
	[VM_REG_GUEST_SS] = UC_X86_REG_SS, [VM_REG_GUEST_DS] = UC_X86_REG_DS,
	[VM_REG_GUEST_FS] = UC_X86_REG_FS, [VM_REG_GUEST_GS] = UC_X86_REG_GS,
	[VM_REG_GUEST_LDTR] = UC_X86_REG_LDTR, [VM_REG_GUEST_TR] = UC_X86_REG_TR,
	[VM_REG_GUEST_IDTR] = UC_X86_REG_IDTR, [VM_REG_GUEST_GDTR] = UC_X86_REG_GDTR,
};

/* Unicorn's registers may be read only while its thread is not executing
 * guest code: wait (up to a second) for it to stop at an exit or a HLT. */
static int quiesce(struct vcpu *v)
{
	struct timespec t;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec++;
	pthread_mutex_lock(&v->mtx);
	while (v->state == EMU_RUNNING && rc == 0)
		rc = pthread_cond_timedwait(&v->cv, &v->mtx, &t);
	rc = v->state == EMU_RUNNING ? -1 : 0;
	pthread_mutex_unlock(&v->mtx);
	if (rc != 0)
		errno = EBUSY;
	return rc;
}

static int reg_check(int reg)
{
	if (reg < 0 || reg >= VM_REG_LAST || (uc_regs[reg] == 0 && reg != VM_REG_GUEST_RAX)) {
		snprintf(errbuf, sizeof(errbuf), "the software CPU has no such register");
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int vm_get_register(struct vcpu *v, int reg, uint64_t *val)
{
	if (reg == VM_REG_GUEST_EFER) {
		*val = 0;	/* no long mode here */
		return 0;
	}
	if (reg_check(reg) != 0 || quiesce(v) != 0)
		return -1;
	*val = 0;
	if (reg == VM_REG_GUEST_IDTR || reg == VM_REG_GUEST_GDTR) {
		errno = EINVAL;
		return -1;
	}
	return uc_reg_read(v->ctx->uc, uc_regs[reg], val) == UC_ERR_OK ? 0 : (errno = EIO, -1);
}

int vm_set_register(struct vcpu *v, int reg, uint64_t val)
{
	if (reg == VM_REG_GUEST_EFER && val == 0)
		return 0;
	if (reg_check(reg) != 0 || reg == VM_REG_GUEST_IDTR || reg == VM_REG_GUEST_GDTR) {
		errno = EINVAL;
		return -1;
	}
	if (v->state != EMU_NOT_STARTED && quiesce(v) != 0)
		return -1;
	return uc_reg_write(v->ctx->uc, uc_regs[reg], &val) == UC_ERR_OK ? 0 : (errno = EIO, -1);
}

static bool is_segment(int reg)
{
	return reg >= VM_REG_GUEST_ES && reg <= VM_REG_GUEST_GS;
}

int vm_get_desc(struct vcpu *v, int reg, uint64_t *base, uint32_t *limit, uint32_t *access)
{
	uint64_t sel = 0;

	if (reg_check(reg) != 0 || quiesce(v) != 0)
		return -1;
	if (reg == VM_REG_GUEST_IDTR || reg == VM_REG_GUEST_GDTR) {
		uc_x86_mmr t = { 0 };

		if (uc_reg_read(v->ctx->uc, uc_regs[reg], &t) != UC_ERR_OK)
			return errno = EIO, -1;
		*base = t.base;
		*limit = t.limit;
		*access = 0;
		return 0;
	}
	if (!is_segment(reg)) {
		errno = EINVAL;
		return -1;
	}
	/* Real mode: the base is the selector times 16. */
	uc_reg_read(v->ctx->uc, uc_regs[reg], &sel);
	*base = (sel & 0xffff) << 4;
	*limit = 0xffff;
	*access = reg == VM_REG_GUEST_CS ? 0x9b : 0x93;
	return 0;
}

int vm_set_desc(struct vcpu *v, int reg, uint64_t base, uint32_t limit, uint32_t access)
{
	(void)access;
	if (reg_check(reg) != 0)
		return -1;
	if (v->state != EMU_NOT_STARTED && quiesce(v) != 0)
		return -1;
	if (reg == VM_REG_GUEST_IDTR || reg == VM_REG_GUEST_GDTR) {
		uc_x86_mmr t = { .base = base, .limit = limit };

		return uc_reg_write(v->ctx->uc, uc_regs[reg], &t) == UC_ERR_OK ? 0 : (errno = EIO, -1);
	}
	/* Only real-mode segments (the base follows the selector); anything
	 * else needs a CPU with descriptor caches one can load: KVM. */
	if (is_segment(reg) && base < 0x100000 && (base & 0xf) == 0 && limit == 0xffff)
		return 0;
	snprintf(errbuf, sizeof(errbuf),
	    "the software CPU takes real-mode segments only (base = selector * 16, limit 0xffff)");
	errno = ENOTSUP;
	return -1;
}

int vm_inject_nmi(struct vcpu *v)
{
	(void)v;
	snprintf(errbuf, sizeof(errbuf), "the software CPU cannot take an NMI");
	errno = ENOSYS;
	return -1;
}
