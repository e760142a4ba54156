/* The seccomp sandbox (bhyve/sandbox.c), installed in a child process per
 * role: what a taken-over thread would do next kills the process, what the
 * thread does for the VM still works. */
#include <dirent.h>
#include <errno.h>
#include <liburing.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/landlock.h>
#include <poll.h>
#include <limits.h>

#include "backends/block.h"
#include "config.h"
#include "sandbox.h"
#include "test.h"

/* /proc's Seccomp field: 0 none, 2 a filter. */
static int seccomp_mode(void)
{
	char line[128];
	int mode = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return mode;
}

static int wrong(const char *what)
{
	fprintf(stderr, "sandbox: %s\n", what);
	return 1;
}

/* What a taken-over thread would try next. Each runs in a child of its own
 * that has installed the sandbox and taken one role; the kernel must kill it
 * (SIGSYS) at the call. */
enum act {
	ACT_SHADOW_RDONLY, ACT_SHADOW_RDWR, ACT_CREATE, ACT_PROC_MEM_WRITE,
	ACT_AF_PACKET, ACT_AF_INET, ACT_AF_UNIX, ACT_URING_SETUP, ACT_KILL_INIT, ACT_KILL_PARENT,
	ACT_TGKILL_PARENT, ACT_EXECVE, ACT_FORK, ACT_PTRACE, ACT_PROCESS_VM_WRITEV, ACT_MOUNT,
	ACT_UNSHARE, ACT_MMAP_EXEC, ACT_MPROTECT_EXEC, ACT_TUNSETIFF, ACT_SETUID, ACT_N
};

static const char *const act_name[ACT_N] = {
	[ACT_SHADOW_RDONLY] = "open /etc/shadow O_RDONLY",
	[ACT_SHADOW_RDWR] = "open /etc/shadow O_RDWR",
	[ACT_CREATE] = "creat a file", [ACT_PROC_MEM_WRITE] = "open /proc/self/mem for writing",
	[ACT_AF_PACKET] = "socket(AF_PACKET)", [ACT_AF_INET] = "socket(AF_INET)",
	[ACT_AF_UNIX] = "socket(AF_UNIX)", [ACT_URING_SETUP] = "io_uring_setup",
	[ACT_KILL_INIT] = "kill(1, 0)", [ACT_KILL_PARENT] = "kill(parent, 0)",
	[ACT_TGKILL_PARENT] = "tgkill(parent, parent, 0)", [ACT_EXECVE] = "execve",
	[ACT_FORK] = "fork", [ACT_PTRACE] = "ptrace", [ACT_PROCESS_VM_WRITEV] = "process_vm_writev",
	[ACT_MOUNT] = "mount", [ACT_UNSHARE] = "unshare", [ACT_MMAP_EXEC] = "mmap PROT_EXEC",
	[ACT_MPROTECT_EXEC] = "mprotect PROT_EXEC", [ACT_TUNSETIFF] = "ioctl TUNSETIFF",
	[ACT_SETUID] = "setuid",
};

static const char *const role_name[SANDBOX_NROLES] = {
	[SANDBOX_VCPU] = "vcpu", [SANDBOX_LOOP] = "loop", [SANDBOX_BLOCK] = "block",
	[SANDBOX_NET] = "net", [SANDBOX_SLIRP] = "slirp", [SANDBOX_RFB] = "rfb",
};

/* The exceptions, as docs/security.md lists them: slirp opens read-only (libslirp
 * reads /etc/resolv.conf for the guest's DNS) and makes IPv4 and IPv6 sockets. */
static bool allowed(int role, enum act a)
{
	return role == SANDBOX_SLIRP && (a == ACT_SHADOW_RDONLY || a == ACT_AF_INET);
}

#define CREATED	"/tmp/bhyve-unit-sandbox-created"

struct attempt {
	int role;
	enum act act;
	int ready_fd;	/* a byte here says the child got as far as the call */
};

static void attempt_child(void *arg)
{
	const struct attempt *at = arg;
	pid_t parent = getppid();
	char *const argv[] = { "true", NULL };
	static char page[8192] __attribute__((aligned(4096)));
	struct ifreq ifr;
	long r = 0;

	memset(&ifr, 0, sizeof(ifr));
	if (sandbox_init() != 0)
		_exit(CHILD_WRONG);
	sandbox_enter(at->role);
	if (write(at->ready_fd, "r", 1) != 1)
		_exit(CHILD_WRONG);
	switch (at->act) {
	case ACT_SHADOW_RDONLY: r = open("/etc/shadow", O_RDONLY); break;
	case ACT_SHADOW_RDWR: r = open("/etc/shadow", O_RDWR); break;
	case ACT_CREATE: r = open(CREATED, O_WRONLY | O_CREAT | O_TRUNC, 0600); break;
	case ACT_PROC_MEM_WRITE: r = open("/proc/self/mem", O_RDWR); break;
	case ACT_AF_PACKET: r = socket(AF_PACKET, SOCK_RAW, 0); break;
	case ACT_AF_INET: r = socket(AF_INET, SOCK_STREAM, 0); break;
	case ACT_AF_UNIX: r = socket(AF_UNIX, SOCK_STREAM, 0); break;
	case ACT_URING_SETUP: r = syscall(SYS_io_uring_setup, 4, page); break;
	case ACT_KILL_INIT: r = kill(1, 0); break;
	case ACT_KILL_PARENT: r = kill(parent, 0); break;
	case ACT_TGKILL_PARENT: r = syscall(SYS_tgkill, parent, parent, 0); break;
	case ACT_EXECVE: r = execv("/bin/true", argv); break;
	case ACT_FORK: r = syscall(SYS_fork); break;
	case ACT_PTRACE: r = ptrace(PTRACE_ATTACH, parent, NULL, NULL); break;
	case ACT_PROCESS_VM_WRITEV: {
		struct iovec l = { page, 8 }, rv = { page, 8 };

		r = syscall(SYS_process_vm_writev, parent, &l, 1, &rv, 1, 0);
		break;
	}
	case ACT_MOUNT: r = mount("none", "/tmp", "tmpfs", 0, NULL); break;
	case ACT_UNSHARE: r = unshare(CLONE_NEWNET); break;
	case ACT_MMAP_EXEC:
		r = (long)(uintptr_t)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case ACT_MPROTECT_EXEC: r = mprotect(page, 4096, PROT_READ | PROT_EXEC); break;
	case ACT_TUNSETIFF: r = ioctl(0, TUNSETIFF, &ifr); break;
	case ACT_SETUID: r = setuid(0); break;
	case ACT_N: break;
	}
	(void)r;
	_exit(0);	/* survived the call */
}

static void each_role_is_killed_at_each_forbidden_call(void)
{
	for (int role = 0; role < SANDBOX_NROLES; role++) {
		for (int a = 0; a < ACT_N; a++) {
			struct attempt at = { role, (enum act)a, -1 };
			char msg[192], c;
			int p[2], st;
			bool reached, killed;

			if (pipe2(p, O_NONBLOCK) != 0) {
				CHECK_MSG(false, "pipe");
				return;
			}
			at.ready_fd = p[1];
			st = run_in_child(attempt_child, &at, true);
			reached = read(p[0], &c, 1) == 1;
			close(p[0]);
			close(p[1]);
			(void)unlink(CREATED);
			killed = st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
			if (allowed(role, at.act)) {
				snprintf(msg, sizeof(msg), "role %s: %s, which it needs, was refused "
				    "(status %#x)", role_name[role], act_name[a], st);
				CHECK_MSG(reached && st == 0, msg);
				continue;
			}
			snprintf(msg, sizeof(msg), "role %s: %s was not killed by SIGSYS at the call "
			    "(status %#x, %s the call)", role_name[role], act_name[a], st,
			    reached ? "reached" : "before");
			CHECK_MSG(reached && killed, msg);
		}
	}
}

/* What each role does for the VM still works under its program. */
static void *thread_fn(void *arg)
{
	return arg;
}

static void works_child(void *arg)
{
	int role = *(const int *)arg, pfd[2], sp[2], efd, ep;
	uint64_t one = 1;
	char buf[64];
	void *p;
	int bad = 0;

	/* What bhyve makes during set-up (the event loop's epoll among them). */
	if (pipe(pfd) != 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0 ||
	    (efd = eventfd(0, EFD_NONBLOCK)) < 0 ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		_exit(CHILD_WRONG);
	if (sandbox_init() != 0 || seccomp_mode() != 2)
		_exit(CHILD_WRONG);
	sandbox_enter(role);
	sandbox_enter(role == SANDBOX_VCPU ? SANDBOX_LOOP : SANDBOX_VCPU);	/* once only */
	p = malloc(1 << 20);	/* mmap by malloc, freed by munmap */
	if (p == NULL)
		bad += wrong("malloc failed");
	free(p);
	if (write(pfd[1], "x", 1) != 1 || read(pfd[0], buf, 1) != 1)
		bad += wrong("pipe I/O failed");
	if (write(efd, &one, sizeof(one)) != sizeof(one))
		bad += wrong("eventfd write failed");
	if (getrandom(buf, sizeof(buf), GRND_NONBLOCK) < 0 && errno != EAGAIN)
		bad += wrong("getrandom failed");
	if (kill(getpid(), 0) != 0 || syscall(SYS_tgkill, getpid(), gettid(), 0) != 0)
		bad += wrong("a signal to this process was refused");
	if (role == SANDBOX_VCPU || role == SANDBOX_LOOP || role == SANDBOX_NET) {
		/* Device code: the RTC makes its timer when the guest first enables
		 * an RTC interrupt; a moved BAR gets an ioeventfd, watched by epoll. */
		struct itimerspec its = { .it_value = { 1000, 0 } };
		int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		int kfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN };

		if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0)
			bad += wrong("a device could not make and arm a timerfd");
		if (kfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, kfd, &ev) != 0 ||
		    epoll_ctl(ep, EPOLL_CTL_DEL, kfd, NULL) != 0)
			bad += wrong("a device could not watch a new eventfd");
		close(tfd);
		close(kfd);
	}
	if (role == SANDBOX_VCPU) {
		pthread_t t;
		static int token;
		void *ret = NULL;

		/* bhyve-emu's vCPU thread starts the software CPU's. */
		if (pthread_create(&t, NULL, thread_fn, &token) != 0 || pthread_join(t, &ret) != 0 ||
		    ret != &token)
			bad += wrong("the vCPU role could not start a thread");
	}
	if (role == SANDBOX_RFB) {
		/* A VNC client's socket (made before, as the listening one is). */
		struct pollfd pf = { .fd = sp[0], .events = POLLIN };
		int one1 = 1;

		if (setsockopt(sp[0], SOL_SOCKET, SO_KEEPALIVE, &one1, sizeof(one1)) != 0 ||
		    send(sp[1], "k", 1, 0) != 1 || poll(&pf, 1, 1000) != 1 ||
		    recv(sp[0], buf, 1, 0) != 1 || accept4(ep, NULL, NULL, 0) >= 0)
			bad += wrong("the VNC thread could not use its sockets");
	}
	if (role == SANDBOX_SLIRP) {
		int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		if (s < 0)
			bad += wrong("slirp could not make an IPv6 socket");
		close(s);
	}
	_exit(bad ? CHILD_WRONG : 0);
}

static void each_role_still_does_its_work(void)
{
	for (int role = 0; role < SANDBOX_NROLES; role++) {
		char why[128], msg[192];
		int st = run_in_child(works_child, &role, false);

		snprintf(msg, sizeof(msg), "role %s: %s", role_name[role],
		    child_ok(st, why, sizeof(why)) ? "" : why);
		CHECK_MSG(child_ok(st, why, sizeof(why)), msg);
	}
}

static void no_done(void *arg, struct blockif_req *list)
{
	(void)arg;
	(void)list;
}

/* The block engine's io_uring ring, which seccomp cannot see through, is
 * restricted: once enabled it takes no registration (a probe is refused), and
 * no ring of this process is left unrestricted. */
static void block_ring_is_restricted(void)
{
	struct blockif_opts o = { .engine = BLOCKIF_ENGINE_URING };
	char *path = make_temp_file(65536, 1);
	struct blockif *bc;
	DIR *d;
	struct dirent *e;
	int rings = 0, open_rings = 0;

	REQUIRE(path != NULL);
	bc = blockif_open("sandbox-test", path, &o, no_done, NULL);
	if (bc == NULL) {
		unlink(path);
		free(path);
		SKIP("the kernel refuses io_uring here");
	}
	d = opendir("/proc/self/fd");
	while (d != NULL && (e = readdir(d)) != NULL) {
		char link[300], target[64];
		ssize_t n;
		/* A probe's header and room for 256 operations. */
		static uint64_t room[(sizeof(struct io_uring_probe) +
		    256 * sizeof(struct io_uring_probe_op)) / 8 + 1];

		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:[io_uring]") != 0)
			continue;
		rings++;
		memset(room, 0, sizeof(room));
		if (io_uring_register((unsigned)atoi(e->d_name), IORING_REGISTER_PROBE, room, 256) == 0)
			open_rings++;
	}
	if (d != NULL)
		closedir(d);
	blockif_close(bc);
	unlink(path);
	free(path);
	CHECK_MSG(rings >= 1, "no io_uring ring found for engine=uring");
	CHECK_MSG(open_rings == 0, "%d of %d rings still take registrations", open_rings, rings);
}

static void off_child(void *arg)
{
	(void)arg;
	set_config_bool("sandbox", false);
	_exit(sandbox_init() == 0 && seccomp_mode() == 0 ? 0 : CHILD_WRONG);
}

static void sandbox_off_installs_nothing(void)
{
	char why[128];
	int st = run_in_child(off_child, NULL, true);

	CHECK_MSG(child_ok(st, why, sizeof(why)), why);
}

/*
 * Landlock, where the kernel has it: slirp's read-only opens reach
 * /etc/resolv.conf and nothing else; the event loop makes, renames and
 * removes files in the directories registered as its own and nowhere else.
 */
struct ll_case {
	int role;
	char dir[64];	/* registered as the loop's own */
	char outside[64];	/* a directory it was not given */
};

static void landlock_child(void *arg)
{
	const struct ll_case *c = arg;
	char a[PATH_MAX], b[PATH_MAX];
	bool resolv = access("/etc/resolv.conf", R_OK) == 0;
	int bad = 0, fd;

	sandbox_allow_path(c->dir, SANDBOX_PATH_OWN);
	if (sandbox_init() != 0)
		_exit(CHILD_WRONG);
	sandbox_enter(c->role);
	if (c->role == SANDBOX_SLIRP) {
		if ((fd = open("/etc/shadow", O_RDONLY)) >= 0 || errno != EACCES)
			bad += wrong("slirp opened /etc/shadow, or failed otherwise than EACCES");
		if ((fd = open("/etc/passwd", O_RDONLY)) >= 0 || errno != EACCES)
			bad += wrong("slirp opened /etc/passwd, or failed otherwise than EACCES");
		if (resolv && (fd = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC)) < 0)
			bad += wrong("slirp could not read /etc/resolv.conf");
		if (resolv && fd >= 0)
			close(fd);
		_exit(bad ? CHILD_WRONG : 0);
	}
	/* The registry's way of saving: a new file, renamed over the old. */
	snprintf(a, sizeof(a), "%s/meta.tmp", c->dir);
	snprintf(b, sizeof(b), "%s/meta", c->dir);
	if ((fd = open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, "x", 1) != 1 || close(fd) != 0 || rename(a, b) != 0 || unlink(b) != 0)
		bad += wrong("the event loop could not save and remove a file in its own directory");
	snprintf(a, sizeof(a), "%s/new", c->outside);
	if ((fd = open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0 || errno != EACCES)
		bad += wrong("the event loop made a file outside its directories");
	snprintf(a, sizeof(a), "%s/old", c->outside);
	if (unlink(a) == 0 || errno != EACCES)
		bad += wrong("the event loop removed a file outside its directories");
	_exit(bad ? CHILD_WRONG : 0);
}

static void landlock_bounds_paths(void)
{
	/* Outside /tmp: earlier tests registered paths there, and the
	 * registrations last for the process, as in bhyve. */
	struct ll_case c = { .dir = "/tmp/bhyve-unit-ll-own.XXXXXX",
		.outside = "build/unit-ll-out.XXXXXX" };
	char old[PATH_MAX], why[128];
	int roles[] = { SANDBOX_SLIRP, SANDBOX_LOOP }, fd;

	if (syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) < 1)
		SKIP("this kernel has no Landlock (Linux 5.13 and later, when enabled): the "
		    "sandbox bounds these paths by seccomp only");
	REQUIRE(mkdtemp(c.dir) != NULL && mkdtemp(c.outside) != NULL);
	snprintf(old, sizeof(old), "%s/old", c.outside);
	fd = open(old, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		int st;

		c.role = roles[i];
		st = run_in_child(landlock_child, &c, false);
		CHECK_MSG(child_ok(st, why, sizeof(why)), "role %s: %s", role_name[c.role], why);
	}
	CHECK_MSG(access(old, F_OK) == 0, "the file outside the loop's directories is gone");
	unlink(old);
	rmdir(c.outside);
	rmdir(c.dir);
}

void suite_sandbox(void)
{
	RUN(each_role_is_killed_at_each_forbidden_call);
	RUN(each_role_still_does_its_work);
	RUN(sandbox_off_installs_nothing);
	RUN(landlock_bounds_paths);
	RUN_DEV(block_ring_is_restricted);
}
