/* Build tool: compiles bhyve's seccomp allow-lists (the rules below) with
 * libseccomp and writes them as C, build/sandbox_bpf.h, which bhyve/sandbox.c
 * embeds. bhyve itself then needs neither libseccomp nor its run-time work.
 *
 * One program per thread role, each killing the process on any call it does
 * not list, and a base program, the union of the roles plus what a thread
 * needs to take its role (seccomp itself, naming and pinning a new thread),
 * which sandbox.c installs in every thread at once (TSYNC); each thread then
 * stacks its role's program over it. docs/security.md explains each list.
 *
 * The roles' lists come from strace of the test guests with every device under
 * bin/bhyve-emu, from lib/vmmapi/vmmapi.c's run-time ioctls, and from what
 * glibc's functions in use call. The process's own pid is not known here: it
 * is written as PID_MAGIC and patched in by sandbox.c at start-up. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>

#include "sandbox.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define VCPU	(1u << SANDBOX_VCPU)
#define LOOP	(1u << SANDBOX_LOOP)
#define BLOCK	(1u << SANDBOX_BLOCK)
#define NET	(1u << SANDBOX_NET)
#define SLIRP	(1u << SANDBOX_SLIRP)
#define RFB	(1u << SANDBOX_RFB)
#define BASE	(1u << SANDBOX_NROLES)	/* only while a thread takes its role */
#define ALL	(VCPU | LOOP | BLOCK | NET | SLIRP | RFB)
#define DEVICES	(VCPU | LOOP | NET)	/* run device code: raise interrupts, kick */
#define IRQS	(DEVICES | RFB)		/* raise interrupts (VNC input: keys, pointer) */

/* Calls allowed whatever their arguments, and by which roles. */
static const struct {
	int nr;
	unsigned roles;
} plain[] = {
	/* What any glibc thread does: locks, memory, time, signals, leaving. */
	{ SCMP_SYS(futex), ALL }, { SCMP_SYS(exit), ALL }, { SCMP_SYS(exit_group), ALL },
	{ SCMP_SYS(rt_sigreturn), ALL }, { SCMP_SYS(rt_sigprocmask), ALL },
	{ SCMP_SYS(sigaltstack), ALL },
	{ SCMP_SYS(restart_syscall), ALL }, { SCMP_SYS(madvise), ALL }, { SCMP_SYS(munmap), ALL },
	{ SCMP_SYS(mremap), ALL }, { SCMP_SYS(brk), ALL }, { SCMP_SYS(clock_gettime), ALL },
	{ SCMP_SYS(clock_getres), ALL }, { SCMP_SYS(gettimeofday), ALL },
	{ SCMP_SYS(clock_nanosleep), ALL }, { SCMP_SYS(nanosleep), ALL },
	{ SCMP_SYS(sched_yield), ALL }, { SCMP_SYS(sched_getaffinity), ALL },
	{ SCMP_SYS(pause), ALL }, { SCMP_SYS(getpid), ALL }, { SCMP_SYS(gettid), ALL },
	{ SCMP_SYS(getrandom), ALL }, { SCMP_SYS(read), ALL }, { SCMP_SYS(write), ALL },
	{ SCMP_SYS(close), ALL }, { SCMP_SYS(newfstatat), ALL }, { SCMP_SYS(fstat), ALL },
	{ SCMP_SYS(lseek), ALL }, { SCMP_SYS(readv), ALL }, { SCMP_SYS(writev), ALL },
	/* Device code: file and socket back ends, eventfds, io_uring submission,
	 * ioeventfds made when the guest moves a BAR. */
	{ SCMP_SYS(pread64), DEVICES | BLOCK }, { SCMP_SYS(pwrite64), DEVICES | BLOCK },
	{ SCMP_SYS(preadv), DEVICES | BLOCK }, { SCMP_SYS(pwritev), DEVICES | BLOCK },
	{ SCMP_SYS(preadv2), DEVICES | BLOCK }, { SCMP_SYS(pwritev2), DEVICES | BLOCK },
	{ SCMP_SYS(fdatasync), DEVICES | BLOCK }, { SCMP_SYS(fsync), DEVICES | BLOCK },
	{ SCMP_SYS(fallocate), DEVICES | BLOCK }, { SCMP_SYS(msync), DEVICES | BLOCK },
	{ SCMP_SYS(io_uring_enter), DEVICES }, { SCMP_SYS(eventfd2), DEVICES },
	{ SCMP_SYS(epoll_ctl), DEVICES }, { SCMP_SYS(timerfd_settime), DEVICES },
	{ SCMP_SYS(timerfd_create), DEVICES },	/* the RTC's, when the guest enables one */
	{ SCMP_SYS(timerfd_gettime), DEVICES }, { SCMP_SYS(fcntl), DEVICES | SLIRP | RFB },
	{ SCMP_SYS(sendto), DEVICES | SLIRP | RFB }, { SCMP_SYS(recvfrom), DEVICES | SLIRP | RFB },
	{ SCMP_SYS(sendmsg), DEVICES | SLIRP | RFB }, { SCMP_SYS(recvmsg), DEVICES | SLIRP | RFB },
	{ SCMP_SYS(shutdown), DEVICES | SLIRP | RFB }, { SCMP_SYS(poll), DEVICES | SLIRP | RFB },
	{ SCMP_SYS(ppoll), DEVICES | SLIRP | RFB },
	/* vCPU threads: bhyve-emu's vCPU starts the software CPU's thread. */
	{ SCMP_SYS(rseq), VCPU | BASE }, { SCMP_SYS(set_robust_list), VCPU | BASE },
	/* The event loop: its waits, console and control sockets, and at exit the
	 * registry entry and the sockets it made (docs/security.md). */
	{ SCMP_SYS(epoll_wait), LOOP }, { SCMP_SYS(epoll_pwait), LOOP },
	{ SCMP_SYS(accept), LOOP | SLIRP | RFB }, { SCMP_SYS(accept4), LOOP | SLIRP | RFB },
	{ SCMP_SYS(getsockopt), LOOP | SLIRP | RFB }, { SCMP_SYS(setsockopt), LOOP | SLIRP | RFB },
	{ SCMP_SYS(getsockname), LOOP | SLIRP | RFB }, { SCMP_SYS(getpeername), LOOP | SLIRP | RFB },
	{ SCMP_SYS(unlink), LOOP }, { SCMP_SYS(unlinkat), LOOP }, { SCMP_SYS(rename), LOOP },
	{ SCMP_SYS(rmdir), LOOP }, { SCMP_SYS(getdents64), LOOP }, { SCMP_SYS(flock), LOOP },
	{ SCMP_SYS(mincore), LOOP },	/* bhyvectl --get-stats: resident memory */
	/* slirp: connections for the guest (socket() below, by family). */
	{ SCMP_SYS(connect), SLIRP }, { SCMP_SYS(bind), SLIRP }, { SCMP_SYS(listen), SLIRP },
	{ SCMP_SYS(select), SLIRP | RFB }, { SCMP_SYS(pselect6), SLIRP | RFB },
	{ SCMP_SYS(uname), SLIRP },
	/* Before a thread takes its role: pinning a vCPU (-p); glibc's first
	 * pthread_create installs its internal signal handler (the vCPU role too:
	 * in bhyve-emu a vCPU thread starts a thread). */
	{ SCMP_SYS(sched_setaffinity), BASE }, { SCMP_SYS(rt_sigaction), BASE | VCPU },
	/* Taking a role: its Landlock domain first (sandbox.c), where it has one. */
	{ SCMP_SYS(landlock_restrict_self), BASE },
};

/* ioctl request numbers (compared on their 32 bits), by role. */
static const struct {
	unsigned long req;
	unsigned roles;
} ioctls[] = {
	/* Interrupts and the in-kernel devices, from any thread running device
	 * code: lines, MSIs, routes, irqfds, ioeventfds, the PIT (HPET legacy). */
	{ KVM_IRQ_LINE, IRQS }, { KVM_SIGNAL_MSI, IRQS }, { KVM_SET_GSI_ROUTING, IRQS },
	{ KVM_IRQFD, DEVICES }, { KVM_IOEVENTFD, DEVICES }, { KVM_GET_PIT2, DEVICES },
	{ KVM_SET_PIT2, DEVICES }, { KVM_CHECK_EXTENSION, IRQS },
	{ KVM_CREATE_IRQCHIP, IRQS }, { KVM_CREATE_PIT2, IRQS },
	{ KVM_REINJECT_CONTROL, IRQS },
	/* The vCPU itself: running, registers for instruction decoding and
	 * bhyvectl's requests, NMIs, its state for the watchdog. */
	{ KVM_RUN, VCPU }, { KVM_GET_REGS, VCPU }, { KVM_SET_REGS, VCPU },
	{ KVM_GET_SREGS, VCPU }, { KVM_SET_SREGS, VCPU }, { KVM_GET_DEBUGREGS, VCPU },
	{ KVM_SET_DEBUGREGS, VCPU }, { KVM_TRANSLATE, VCPU }, { KVM_NMI, VCPU },
	{ KVM_GET_MP_STATE, VCPU },
	/* A memory BAR backed by host memory (fbuf's framebuffer) follows the
	 * guest's config-space write that moves it: its slot is removed and
	 * added again from the vCPU thread that made the write. */
	{ KVM_SET_USER_MEMORY_REGION, VCPU },
	/* A tap's offloads follow the features the guest's driver takes. */
	{ TUNSETOFFLOAD, VCPU | LOOP }, { TUNSETVNETHDRSZ, VCPU | LOOP },
	/* The terminal put back at exit (com1,stdio), and a socket's backlog. */
	{ TCGETS, LOOP }, { TCSETS, LOOP }, { TCSETSW, LOOP }, { TCSETSF, LOOP },
	{ TIOCGWINSZ, LOOP }, { FIONREAD, DEVICES | SLIRP | RFB },
	{ FIONBIO, DEVICES | SLIRP | RFB },
};

static int add(scmp_filter_ctx f, int nr, unsigned n, const struct scmp_arg_cmp *c)
{
	return seccomp_rule_add_array(f, SCMP_ACT_ALLOW, nr, n, c);
}

/* Everything the roles in mask may do (with BASE: the base program). */
static int rules(scmp_filter_ctx f, unsigned mask)
{
	const unsigned wr = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND |
	    (O_TMPFILE & ~O_DIRECTORY) | O_PATH;
	int r = 0;

	for (size_t i = 0; r == 0 && i < nitems(plain); i++)
		if (plain[i].roles & mask)
			r = add(f, plain[i].nr, 0, NULL);
	for (size_t i = 0; r == 0 && i < nitems(ioctls); i++)
		if (ioctls[i].roles & mask)
			r = add(f, SCMP_SYS(ioctl), 1,
			    &SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i].req & 0xffffffffu));
	/* Memory, never executable: no new code in the process. */
	if (r == 0)
		r = add(f, SCMP_SYS(mmap), 1, &SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = add(f, SCMP_SYS(mprotect), 1, &SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Signals to this process only: the vCPU kick, abort(). */
	if (r == 0)
		r = add(f, SCMP_SYS(tgkill), 1, &SCMP_A0(SCMP_CMP_EQ, SANDBOX_PID_MAGIC));
	if (r == 0)
		r = add(f, SCMP_SYS(kill), 1, &SCMP_A0(SCMP_CMP_EQ, SANDBOX_PID_MAGIC));
	/* Threads, never processes (vCPU threads start the software CPU's). clone3
	 * keeps its flags in memory a filter cannot read: ENOSYS sends glibc to clone. */
	if (r == 0 && (mask & (VCPU | BASE)))
		r = add(f, SCMP_SYS(clone), 1, &SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (r == 0)
		r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* Opening files: slirp reads /etc/resolv.conf for the guest's DNS, the
	 * event loop saves the registry entry at exit into a file it makes
	 * (O_EXCL: no existing file, /proc/PID/mem included, opens for writing);
	 * nobody else opens anything. */
	if (r == 0 && (mask & SLIRP))
		r = add(f, SCMP_SYS(openat), 1, &SCMP_A2(SCMP_CMP_MASKED_EQ, wr, 0));
	/* The loop reads directories only (the registry entry's, to empty it). */
	if (r == 0 && (mask & LOOP) && !(mask & SLIRP))
		r = add(f, SCMP_SYS(openat), 1, &SCMP_A2(SCMP_CMP_MASKED_EQ, wr | O_DIRECTORY,
		    O_DIRECTORY));
	if (r == 0 && (mask & LOOP))
		r = add(f, SCMP_SYS(openat), 1, &SCMP_A2(SCMP_CMP_MASKED_EQ, wr | O_EXCL,
		    O_WRONLY | O_CREAT | O_EXCL));
	/* New sockets: slirp's connections for the guest, IPv4 and IPv6 only. */
	if (r == 0 && (mask & SLIRP))
		r = add(f, SCMP_SYS(socket), 1, &SCMP_A0(SCMP_CMP_EQ, AF_INET));
	if (r == 0 && (mask & SLIRP))
		r = add(f, SCMP_SYS(socket), 1, &SCMP_A0(SCMP_CMP_EQ, AF_INET6));
	/* Taking a role: a filter over this thread only, and a thread's name. */
	if (r == 0 && (mask & BASE))
		r = add(f, SCMP_SYS(seccomp), 2, (const struct scmp_arg_cmp[]){
		    SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER), SCMP_A1(SCMP_CMP_EQ, 0) });
	if (r == 0 && (mask & BASE))
		r = add(f, SCMP_SYS(prctl), 1, &SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	return r;
}

static int emit(const char *name, unsigned mask)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	struct sock_filter ins;
	FILE *tmp = tmpfile();
	int r, n = 0, magic = 0;

	if (f == NULL || tmp == NULL) {
		fprintf(stderr, "sandbox-gen: out of memory\n");
		return -1;
	}
	r = rules(f, mask);
	if (r == 0)
		r = seccomp_export_bpf(f, fileno(tmp));
	seccomp_release(f);
	if (r != 0) {
		fprintf(stderr, "sandbox-gen: %s: libseccomp: %s\n", name, strerror(-r));
		return -1;
	}
	rewind(tmp);
	printf("static struct sock_filter sandbox_bpf_%s[] = {\n", name);
	while (fread(&ins, sizeof(ins), 1, tmp) == 1) {
		/* The placeholder must only be what the pid comparisons test. */
		if (ins.k == SANDBOX_PID_MAGIC) {
			if (ins.code != (BPF_JMP | BPF_JEQ | BPF_K)) {
				fprintf(stderr, "sandbox-gen: %s: the pid placeholder is used "
				    "other than as a comparison\n", name);
				return -1;
			}
			magic++;
		}
		printf("\t{ 0x%04x, %u, %u, 0x%08x },\n", ins.code, ins.jt, ins.jf, ins.k);
		n++;
	}
	printf("};\n");
	fclose(tmp);
	if (n == 0 || magic == 0) {
		fprintf(stderr, "sandbox-gen: %s: no program, or no pid check in it\n", name);
		return -1;
	}
	return 0;
}

int main(void)
{
	static const char *const names[SANDBOX_NROLES] = {
		[SANDBOX_VCPU] = "vcpu", [SANDBOX_LOOP] = "loop", [SANDBOX_BLOCK] = "block",
		[SANDBOX_NET] = "net", [SANDBOX_SLIRP] = "slirp", [SANDBOX_RFB] = "rfb",
	};

	printf("/* Made by tools/sandbox-gen.c from its rules with libseccomp: do not edit. */\n");
	if (emit("base", ALL | BASE) != 0)
		return 1;
	for (int i = 0; i < SANDBOX_NROLES; i++)
		if (emit(names[i], 1u << i) != 0)
			return 1;
	printf("static struct sock_fprog sandbox_roles[] = {\n");
	for (int i = 0; i < SANDBOX_NROLES; i++)
		printf("\t[%d] = { sizeof(sandbox_bpf_%s) / sizeof(struct sock_filter), "
		    "sandbox_bpf_%s },\n", i, names[i], names[i]);
	printf("};\n");
	if (fflush(stdout) != 0) {
		fprintf(stderr, "sandbox-gen: no filter written\n");
		return 1;
	}
	return 0;
}
