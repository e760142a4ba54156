/* bhyve: one process per guest. Start-up, the vCPU threads and their exits,
 * and the main thread's event loop. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "devices/atkbdc.h"
#include "backends/console.h"
#include "devices/bootrom.h"
#include "config.h"
#include "control.h"
#include "firmware.h"
#include "fwcfg.h"
#include "input.h"
#include "devices/hpet.h"
#include "iodispatch.h"
#include "devices/lpc.h"
#include "mevent.h"
#include "options.h"
#include "pci_emul.h"
#include "devices/pm.h"
#include "devices/rtc.h"
#include "sandbox.h"
#include "util.h"
#include "vmmapi.h"

#define WATCHDOG_MS	100

struct vcpu_info {
	struct vcpu *vcpu;
	int id;
	pthread_t thread;
	atomic_ulong exits;	/* exits handled in user space */
	unsigned long seen_exits;
	bool idle;			/* watchdog: no exit last tick, not running */
	atomic_bool started, halted_noint;
	_Atomic uint64_t halt_rip;	/* where it sat, when halted_noint */
};

static struct vcpu_info *vcpus;
static int nvcpus;
static bool strictio;
static atomic_int exit_status = -1;
static int exit_fd = -1;
static int halted_ticks;
static FILE *iotrace;	/* debug.iotrace: every port and MMIO exit, one a line */
static struct vmctx *the_ctx;
static bool wired_ram;

/* A question for one vCPU's thread (bhyvectl's registers, an NMI), asked by
 * the main thread: registers are read on the vCPU's own thread, between two
 * runs. One at a time; vreq_cpu is the vCPU asked, -1 when none is. */
enum { VREQ_REGS, VREQ_NMI };
static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int what, rc;
	bool done;
	char *buf;
	size_t len;
} vreq = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
static atomic_int vreq_cpu = -1;

/* Ending the VM: devices (through vm_suspend) and vCPUs ask, the main thread
 * carries it out. status is one of bhyve's exit codes (EXIT_REBOOT ...
 * EXIT_ERROR); the first request wins. Safe from any thread; the caller's vCPU
 * stops running. */
static void vm_request_exit(int status)
{
	int expected = -1;
	uint64_t one = 1;

	if (atomic_compare_exchange_strong(&exit_status, &expected, status))
		if (write(exit_fd, &one, sizeof(one)) < 0)
			_exit(status);
}

_Static_assert(VM_SUSPEND_RESET == EXIT_REBOOT && VM_SUSPEND_POWEROFF == EXIT_POWEROFF &&
    VM_SUSPEND_HALT == EXIT_HALT && VM_SUSPEND_TRIPLEFAULT == EXIT_TRIPLEFAULT,
    "vm_suspend_how is numbered as bhyve's exit statuses");

static void vm_suspended(struct vmctx *ctx, enum vm_suspend_how how)
{
	(void)ctx;
	vm_request_exit((int)how);
}

static void __attribute__((noreturn)) finish(int status)
{
	control_set_exit(status, false);
	console_cleanup();
	run_exit_cleanups();
	fflush(stdout);
	fflush(stderr);
	_exit(status);
}

static void exit_requested(int fd, void *arg)
{
	(void)fd;
	(void)arg;
	finish(atomic_load(&exit_status));
}

static const char *io_name(bool in, int bytes)
{
	static const char *const n[2][5] = {
		{ "", "out8", "out16", "", "out32" }, { "", "in8", "in16", "", "in32" },
	};

	return bytes == 1 || bytes == 2 || bytes == 4 ? n[in][bytes] : "io";
}

static int vmexit_inout(struct vcpu_info *vi, struct vm_exit *vme)
{
	uint8_t *data = vme->u.inout.data;
	int bytes = vme->u.inout.bytes;

	for (uint32_t i = 0; i < vme->u.inout.count; i++, data += bytes) {
		uint64_t v = 0;
		int rc;

		if (!vme->u.inout.in)
			memcpy(&v, data, (size_t)bytes);
		rc = emulate_io(IO_PORT, !vme->u.inout.in, vme->u.inout.port, bytes, &v);
		if (rc != 0 && strictio) {
			warnx("vcpu %d: unhandled %s port 0x%04x at 0x%llx (x86.strictio)", vi->id,
			    io_name(vme->u.inout.in, bytes), vme->u.inout.port,
			    (unsigned long long)vm_vcpu_rip(vi->vcpu));
			return -1;
		}
		if (rc < 0 && vme->u.inout.in)
			v = ~0ULL;
		if (vme->u.inout.in)
			memcpy(data, &v, (size_t)bytes);
		if (iotrace != NULL)
			fprintf(iotrace, "io %s 0x%04x %d 0x%llx\n", vme->u.inout.in ? "in" : "out",
			    vme->u.inout.port, bytes, (unsigned long long)v);
	}
	return 0;
}

static void vmexit_mmio(struct vcpu_info *vi, struct vm_exit *vme)
{
	static atomic_int warned;
	uint64_t v = 0;
	int len = vme->u.mmio.len;

	if (len > 8)
		len = 8;
	if (vme->u.mmio.write)
		memcpy(&v, vme->u.mmio.data, (size_t)len);
	if (emulate_io(IO_MMIO, vme->u.mmio.write, vme->u.mmio.gpa, len, &v) != 0) {
		/* Nothing there: reads float high, writes vanish, as on a PC bus. */
		if (atomic_fetch_add(&warned, 1) < 8)
			warnx("vcpu %d: unhandled MMIO %s of %d bytes at 0x%llx", vi->id,
			    vme->u.mmio.write ? "write" : "read", len,
			    (unsigned long long)vme->u.mmio.gpa);
		v = ~0ULL;
	}
	if (!vme->u.mmio.write)
		memcpy(vme->u.mmio.data, &v, (size_t)len);
	if (iotrace != NULL)
		fprintf(iotrace, "mmio %s 0x%llx %d 0x%llx\n", vme->u.mmio.write ? "w" : "r",
		    (unsigned long long)vme->u.mmio.gpa, len, (unsigned long long)v);
}

static void __attribute__((noreturn)) vcpu_park(void)
{
	for (;;)
		pause();
}

/* A vCPU KVM could not run: say where and, for an emulation failure, which
 * instruction bytes (as FreeBSD's bhyve does for inst_emul failures). */
static void report_error(struct vcpu_info *vi, const struct vm_exit *vme)
{
	char bytes[sizeof(vme->u.error.insn) * 3 + 1] = "";

	for (unsigned i = 0; i < vme->u.error.insn_len; i++)
		snprintf(bytes + i * 3, sizeof(bytes) - i * 3, " %02x", vme->u.error.insn[i]);
	if (vme->u.error.insn_len > 0)
		warnx("vcpu %d: failed to emulate instruction sequence [%s ] at 0x%llx"
		    " (exit reason %u, suberror %u)", vi->id, bytes,
		    (unsigned long long)vm_vcpu_rip(vi->vcpu), vme->u.error.reason,
		    vme->u.error.suberror);
	else
		warnx("vcpu %d: the CPU could not run the guest (exit reason %u, suberror %u) at 0x%llx",
		    vi->id, vme->u.error.reason, vme->u.error.suberror,
		    (unsigned long long)vm_vcpu_rip(vi->vcpu));
}

static void vcpu_answer(struct vcpu_info *vi)
{
	pthread_mutex_lock(&vreq.mtx);
	if (atomic_load(&vreq_cpu) == vi->id && !vreq.done) {
		if (vreq.what == VREQ_REGS)
			vreq.rc = vm_dump_vcpu_state(vi->vcpu, vreq.buf, vreq.len);
		else
			vreq.rc = vm_inject_nmi(vi->vcpu);
		if (vreq.rc != 0)
			snprintf(vreq.buf, vreq.len, "vcpu %d: %s", vi->id,
			    vm_errmsg()[0] ? vm_errmsg() : strerror(errno));
		vreq.done = true;
		atomic_store(&vreq_cpu, -1);
		pthread_cond_broadcast(&vreq.cv);
	}
	pthread_mutex_unlock(&vreq.mtx);
}

/* Asks vCPU cpu's thread and waits for it (up to 3 s). */
static int vcpu_ask(int cpu, int what, char *buf, size_t len)
{
	struct timespec t;
	int rc;

	pthread_mutex_lock(&vreq.mtx);
	vreq.what = what;
	vreq.buf = buf;
	vreq.len = len;
	vreq.done = false;
	vreq.rc = -1;
	atomic_store(&vreq_cpu, cpu);
	pthread_mutex_unlock(&vreq.mtx);
	vm_vcpu_kick(vcpus[cpu].vcpu);
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 3;
	pthread_mutex_lock(&vreq.mtx);
	while (!vreq.done && pthread_cond_timedwait(&vreq.cv, &vreq.mtx, &t) == 0)
		;
	if (!vreq.done)
		snprintf(buf, len, "vcpu %d did not answer (the VM is ending?)", cpu);
	rc = vreq.done ? vreq.rc : -1;
	atomic_store(&vreq_cpu, -1);
	pthread_mutex_unlock(&vreq.mtx);
	return rc;
}

static void cpu_list(char *buf, size_t len, bool (*pred)(int))
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < nvcpus && off < len; i++)
		if (pred(i))
			off += (size_t)snprintf(buf + off, len - off, "%s%d", off ? ", " : "", i);
	if (off == 0)
		snprintf(buf, len, "<none>");
}

static bool cpu_active(int i)
{
	(void)i;
	return atomic_load(&exit_status) < 0;
}

static bool cpu_suspended(int i)
{
	(void)i;
	return atomic_load(&exit_status) >= 0;
}

/* bhyvectl's requests (bhyve/control.c's socket), on the main thread. */
static int control_request(const char *req, char *reply, size_t len)
{
	char word[32], a[128], b[128];
	int cpu = 0, n = sscanf(req, "%31s %d", word, &cpu);

	if (n < 1) {
		snprintf(reply, len, "empty request");
		return -1;
	}
	if (n == 2 && (cpu < 0 || cpu >= nvcpus)) {
		snprintf(reply, len, "vcpu %d does not exist (the VM has %d)", cpu, nvcpus);
		return -1;
	}
	if (strcmp(word, "reset") == 0) {
		vm_request_exit(EXIT_REBOOT);
	} else if (strcmp(word, "poweroff") == 0) {
		vm_request_exit(EXIT_POWEROFF);
	} else if (strcmp(word, "destroy") == 0) {
		warnx("VM %s destroyed (bhyvectl --destroy)", vm_name(the_ctx));
		control_set_exit(EXIT_ERROR, true);
		vm_request_exit(EXIT_ERROR);
	} else if (strcmp(word, "regs") == 0) {
		return vcpu_ask(cpu, VREQ_REGS, reply, len);
	} else if (strcmp(word, "nmi") == 0) {
		return vcpu_ask(cpu, VREQ_NMI, reply, len);
	} else if (strcmp(word, "cpus") == 0) {
		cpu_list(a, sizeof(a), cpu_active);
		cpu_list(b, sizeof(b), cpu_suspended);
		snprintf(reply, len, "active %s\nsuspended %s\n", a, b);
	} else if (strcmp(word, "stats") == 0) {
		uint64_t ram = vm_get_lowmem_size(the_ctx) + vm_get_highmem_size(the_ctx);

		snprintf(reply, len, "vcpu%d\n%-40s\t%lu\n%-40s\t%llu\n%-40s\t%llu\n", cpu,
		    "vm exits handled in user space", atomic_load(&vcpus[cpu].exits),
		    "Resident memory", (unsigned long long)vm_get_resident(the_ctx),
		    "Wired memory", (unsigned long long)(wired_ram ? ram : 0));
	} else {
		snprintf(reply, len, "unknown request \"%s\"", word);
		return -1;
	}
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu_info *vi = arg;
	struct vm_exit vme;
	uint64_t mask;
	char name[16];

	snprintf(name, sizeof(name), "vcpu %d", vi->id);
	pthread_setname_np(pthread_self(), name);
	if (bhyve_vcpu_cpuset(vi->id, &mask) == 0 && mask != 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		for (int c = 0; c < 64; c++)
			if (mask & (1ULL << c))
				CPU_SET(c, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			warnx("vcpu %d: cannot pin to the requested host CPUs", vi->id);
	}
	sandbox_enter(SANDBOX_VCPU);
	start_gate_wait();	/* fbuf's "wait": until a VNC client connects */
	for (;;) {
		if (atomic_load(&exit_status) >= 0)
			vcpu_park();
		if (vm_run(vi->vcpu, &vme) != 0) {
			warnx("vcpu %d: KVM_RUN: %s", vi->id, strerror(errno));
			vm_request_exit(EXIT_ERROR);
			vcpu_park();
		}
		if (atomic_load(&vreq_cpu) == vi->id)
			vcpu_answer(vi);
		if (vme.exitcode == VM_EXITCODE_INTR) {
			bool started, halted;

			/* A watchdog kick: note whether the vCPU sits in HLT with IF=0. */
			if (vm_vcpu_state(vi->vcpu, &started, &halted) == 0) {
				if (halted)
					atomic_store(&vi->halt_rip, vm_vcpu_rip(vi->vcpu));
				atomic_store(&vi->started, started);
				atomic_store(&vi->halted_noint, halted);
			}
			continue;
		}
		atomic_store(&vi->halted_noint, false);
		atomic_store(&vi->started, true);
		atomic_fetch_add(&vi->exits, 1);
		switch (vme.exitcode) {
		case VM_EXITCODE_INOUT:
			if (vmexit_inout(vi, &vme) != 0)
				vm_request_exit(EXIT_ERROR);
			break;
		case VM_EXITCODE_MMIO:
			vmexit_mmio(vi, &vme);
			break;
		case VM_EXITCODE_TRIPLEFAULT: {
			/* Where, so that a guest that dies early can be looked at. KVM
			 * on AMD resets the vCPU before it reports a shutdown, so there
			 * the reset vector is all that is left. */
			unsigned long long rip = vm_vcpu_rip(vi->vcpu);

			warnx("vcpu %d: triple fault at 0x%llx%s", vi->id, rip,
			    rip == 0xfffffff0 ? " (or elsewhere: KVM on AMD resets the vCPU "
			    "before it reports one)" : "");
			vm_request_exit(EXIT_TRIPLEFAULT);
			break;
		}
		case VM_EXITCODE_RESET:
			vm_request_exit(EXIT_REBOOT);
			break;
		case VM_EXITCODE_POWEROFF:
			vm_request_exit(EXIT_POWEROFF);
			break;
		case VM_EXITCODE_RDMSR:
			*vme.u.msr.data = 0;	/* x86.strictmsr=false: unknown MSRs read 0 */
			*vme.u.msr.error = 0;
			break;
		case VM_EXITCODE_WRMSR:
			*vme.u.msr.error = 0;	/* ... and ignore writes */
			break;
		case VM_EXITCODE_ERROR:
		default:
			report_error(vi, &vme);
			vm_request_exit(EXIT_ERROR);
			break;
		}
	}
	return NULL;
}

/* bhyve's "halt" exit: every running vCPU sits in HLT with interrupts off. KVM
 * keeps such a vCPU in the kernel, so idle vCPUs are kicked to look, and only
 * when none has run in the last tick: one with exits, or that KVM says is not
 * halted, is running guest code, so the VM is not halted and no vCPU needs an
 * exit (nor a KVM_GET_MP_STATE, which processes pending INIT and SIPI, while
 * the guest brings up its APs). */
static void watchdog(int fd, void *arg)
{
	int running = 0, halted = 0;
	bool busy = false;

	(void)fd;
	(void)arg;
	for (int i = 0; i < nvcpus; i++) {
		struct vcpu_info *vi = &vcpus[i];
		unsigned long e = atomic_load(&vi->exits);

		vi->idle = e == vi->seen_exits && vm_vcpu_blocking(vi->vcpu) != 0;
		if (!vi->idle) {
			atomic_store(&vi->halted_noint, false);
			busy = busy || atomic_load(&vi->started);
		}
		vi->seen_exits = e;
	}
	for (int i = 0; i < nvcpus; i++) {
		struct vcpu_info *vi = &vcpus[i];

		if (!busy && vi->idle)
			vm_vcpu_kick(vi->vcpu);
		if (atomic_load(&vi->started)) {
			running++;
			if (atomic_load(&vi->halted_noint))
				halted++;
		}
	}
	halted_ticks = (running > 0 && halted == running) ? halted_ticks + 1 : 0;
	if (halted_ticks == 2) {
		/* Where, as for a triple fault: a guest that stops early can be looked at. */
		warnx("every vCPU halted with interrupts off (vcpu 0 at 0x%llx)",
		    (unsigned long long)atomic_load(&vcpus[0].halt_rip));
		vm_request_exit(EXIT_HALT);
	}
}

static void sigterm(int fd, void *arg)
{
	(void)fd;
	(void)arg;
	/* Once the guest has enabled ACPI, SIGTERM is its power button. */
	if (!pm_power_button()) {
		warnx("SIGTERM before the guest enabled ACPI: powering off");
		finish(EXIT_POWEROFF);
	}
}

static void sigint(int fd, void *arg)
{
	(void)fd;
	(void)arg;
	finish(EXIT_ERROR);
}

/* "bhyve: NAME" in ps and /proc/PID/cmdline, written over argv as BSD's
 * setproctitle would; tools find guests by it. */
static void set_proctitle(int argc, char **argv, const char *name)
{
	char title[64], comm[16];
	char *start = argv[0], *end = argv[0];
	size_t room;

	/* err(3) prints these; they point into the argv we are about to overwrite. */
	program_invocation_name = program_invocation_short_name = (char *)"bhyve";
	snprintf(title, sizeof(title), "bhyve: %s", name);
	for (int i = 0; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	room = (size_t)(end - start);
	if (room > 1) {
		memset(start, 0, room);
		memcpy(start, title, strlen(title) < room - 1 ? strlen(title) : room - 1);
	}
	snprintf(comm, sizeof(comm), "%s", title);
	prctl(PR_SET_NAME, comm);
}

static void __attribute__((noreturn)) fail(void)
{
	finish(EXIT_ERROR);
}

int main(int argc, char **argv)
{
	struct bhyve_params p;
	struct vmctx *ctx;
	sigset_t set;
	int maxcpus, rc, memfd;
	bool handoff;

	sandbox_close_inherited();
	/*
	 * One malloc arena, before any thread exists: glibc reads
	 * /proc/sys/vm/overcommit_memory the first time it gives a thread
	 * arena's memory back (a guest's burst of requests freed in a worker),
	 * an open the sandbox would kill bhyve for; the main arena is trimmed
	 * with brk and never does so.
	 */
	mallopt(M_ARENA_MAX, 1);
	bhyve_parse_args(argc, argv);
	if (config_bool("config.dump", false)) {
		/* As bhyve: print the tree, unchecked, and stop. */
		dump_config(stdout);
		exit(1);
	}
	rc = bhyve_check_config(&p);
	if (rc != 0)
		exit(rc);
	if (bhyve_check_startable() != 0)
		exit(EXIT_ERROR);
	strictio = p.strictio;
	if (get_config_value("debug.iotrace") != NULL) {
		iotrace = fopen(get_config_value("debug.iotrace"), "we");
		if (iotrace == NULL)
			err(EXIT_ERROR, "debug.iotrace %s", get_config_value("debug.iotrace"));
		setvbuf(iotrace, NULL, _IOLBF, 0);
	}

	/* The VM's registry entry (/dev/vmm/NAME): made here for a boot ROM, or
	 * left by a loader, whose memory and vCPU state this bhyve then runs. */
	rc = control_attach(p.name, get_config_value("lpc.bootrom") != NULL, p.memsize, p.ncpus,
	    &handoff, &memfd);
	if (rc != 0)
		exit(rc);
	ctx = vm_create(p.name);
	if (ctx == NULL) {
		warnx("%s", vm_errmsg()[0] ? vm_errmsg() : strerror(errno));
		exit(EXIT_ERROR);
	}
	the_ctx = ctx;
	wired_ram = p.wired;
	if (handoff)
		vm_use_memory_file(ctx, memfd);
	vm_use_hugetlb(ctx, p.hugetlb);
	maxcpus = vm_get_max_vcpus(ctx);
	if (p.ncpus > maxcpus)
		errx(EXIT_ERROR, "%d vCPUs requested; this VM backend allows at most %d", p.ncpus, maxcpus);
	vm_set_topology(ctx, p.sockets, p.cores, p.threads);
	vm_set_x2apic(ctx, p.x2apic);
	if (vm_set_strictmsr(ctx, p.strictmsr) != 0 ||
	    vm_setup_memory(ctx, p.memsize, p.wired, p.in_core) != 0)
		errx(EXIT_ERROR, "%s", vm_errmsg());

	if (mevent_init() != 0)
		err(EXIT_ERROR, "epoll");
	exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (exit_fd < 0 || mevent_add(exit_fd, exit_requested, NULL) == NULL)
		err(EXIT_ERROR, "eventfd");
	if (control_listen(control_request) != 0)
		exit(EXIT_ERROR);
	vm_set_suspend_handler(ctx, vm_suspended);
	/* Signals wait in the loop from here on, so one during start-up still ends
	 * the process through finish() (terminal restored, links removed). */
	if (mevent_add_signal(SIGTERM, sigterm, NULL) == NULL ||
	    mevent_add_signal(SIGINT, sigint, NULL) == NULL ||
	    mevent_add_signal(SIGHUP, sigint, NULL) == NULL) {
		warn("signals");
		fail();
	}
	init_inout_ports();
	if (rtc_init(ctx, p.ncpus) != 0 || pm_init(ctx) != 0 || init_pci(ctx) != 0 ||
	    hpet_init(ctx) != 0 || atkbdc_init(ctx) != 0)
		fail();
	if (!lpc_bridge_present && lpc_devices_configured()) {
		warnx("COM ports and debugcon sit behind the lpc bridge: add -s 31,lpc");
		fail();
	}
	if (bootrom_init(ctx, fwcfg_mode_qemu()) != 0 || firmware_init(ctx, &p) != 0)
		fail();

	nvcpus = p.ncpus;
	vcpus = xcalloc((size_t)nvcpus, sizeof(*vcpus));
	for (int i = 0; i < nvcpus; i++) {
		vcpus[i].id = i;
		vcpus[i].vcpu = vm_vcpu_open(ctx, i);
		if (vcpus[i].vcpu == NULL) {
			warnx("vcpu %d: %s", i, vm_errmsg());
			fail();
		}
		/* The hand-off: the state the loader set (vCPU 0's at least). */
		if (handoff) {
			char path[4096], msg[512] = "its vCPU state path is too long";

			if (control_vcpu_state(i, path, sizeof(path)) != 0 ||
			    ((i == 0 || access(path, F_OK) == 0) &&
			     vm_load_vcpu_state(vcpus[i].vcpu, path, msg, sizeof(msg)) != 0)) {
				warnx("VM %s: %s", p.name, msg);
				fail();
			}
		}
	}
	if (mevent_add_timer(WATCHDOG_MS, watchdog, NULL) == NULL) {
		warn("timerfd");
		fail();
	}
	signal(SIGPIPE, SIG_IGN);
	set_proctitle(argc, argv, p.name);

	/* From here on each thread runs under its role's allow-list: the base one
	 * now, over all threads; each narrows it to its own when it next runs. */
	if (sandbox_init() != 0)
		fail();

	/* vCPU threads take only the kick signal; the rest goes to the event loop. */
	thread_sigset(&set);
	sigdelset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < nvcpus; i++) {
		/* vCPU 0 runs from the reset vector; the others wait in KVM for INIT/SIPI. */
		if (thread_start(&vcpus[i].thread, vcpu_thread, &vcpus[i]) != 0) {
			warnx("vcpu %d: cannot start its thread", i);
			fail();
		}
	}
	/* After the vCPU threads, which took the base program from this one. */
	sandbox_enter(SANDBOX_LOOP);
	trim_startup_pages();
	mevent_dispatch();
}
