/* start, stop, restart, reset, poweroff, startall, stopall, install and the
 * per-guest supervisor (`vm _supervise`), which runs the loader and bhyve in
 * vm-bhyve's loop and cleans up after them.
 *
 * A running guest is its supervisor holding an flock on DIR/run.lock ("PID
 * HOST"); DIR/.run (conf format) says what it made: pid, host, state
 * (bootloader|running), bhyve_pid or loader_pid, tapN (+ tapN_made), comN,
 * vnc. A lock nobody holds was left by a killed supervisor: whoever finds it
 * reclaims what .run names. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vm.h"

static volatile sig_atomic_t stop_requested;
static volatile pid_t child_pid;

const char *vmm_dir(char *buf, size_t n)
{
	const char *v = getenv("BHYVE_VMM_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");

	/* As bhyve's registry (lib/vmmapi/registry.c) places it. */
	if (v != NULL && *v)
		snprintf(buf, n, "%s", v);
	else if (geteuid() == 0)
		snprintf(buf, n, "/dev/vmm");
	else if (xdg != NULL && *xdg == '/')
		snprintf(buf, n, "%s/vmm", xdg);
	else
		snprintf(buf, n, "/tmp/vmm-%u", (unsigned)geteuid());
	return buf;
}

static void our_host(char *buf, size_t n)
{
	if (gethostname(buf, n) != 0)
		snprintf(buf, n, "localhost");
	buf[n - 1] = '\0';
}

static void dpath(char *buf, size_t n, const char *dir, const char *leaf)
{
	snprintf(buf, n, "%s/%s", dir, leaf);
}

/* A line of DIR/vm-bhyve.log, "Mon DD HH:MM:SS: message", as vm-bhyve writes. */
static void glog(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void glog(const char *dir, const char *fmt, ...)
{
	char path[4200], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	FILE *f;

	dpath(path, sizeof(path), dir, "vm-bhyve.log");
	if ((f = fopen(path, "a")) == NULL)
		return;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %d %H:%M:%S", &tm);
	fprintf(f, "%s: ", stamp);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static bool vmm_exists(const char *name)
{
	char d[PATH_MAX], p[PATH_MAX + 40];

	vmm_dir(d, sizeof(d));
	snprintf(p, sizeof(p), "%s/%s", d, name);
	return access(p, F_OK) == 0 || (errno != ENOENT);
}

/* Runs a tool quietly; its exit status, or -1. */
static int run_quiet(char *const argv[])
{
	pid_t pid = fork();
	int st, fd;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int bhyvectl(const char *name, const char *what)
{
	char vmarg[64];
	char *argv[] = { (char *)vm_tool("bhyvectl"), (char *)what, vmarg, NULL };

	snprintf(vmarg, sizeof(vmarg), "--vm=%s", name);
	return run_quiet(argv);
}

static const char *base_name(const char *dir)
{
	const char *s = strrchr(dir, '/');

	return s ? s + 1 : dir;
}

/* Is PID alive and running something about guest NAME (its argv names it)? */
static bool pid_is_guests(long pid, const char *name)
{
	char path[64], buf[8192];
	ssize_t n;
	int fd;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
		const char *w = buf + i, *sp = strrchr(w, ' ');

		/* "NAME" as an argument, or bhyve's title "bhyve: NAME". */
		if (strcmp(w, name) == 0 || (sp && strcmp(sp + 1, name) == 0))
			return true;
	}
	return false;
}

/* Cleans up after a supervisor that was killed: its bhyve or loader (if
 * still there), its taps, the VM, its runtime file. The caller holds the lock. */
static void reclaim(const char *dir)
{
	const char *name = base_name(dir), *v;
	char path[4200], key[32];
	struct vmconf *run;

	dpath(path, sizeof(path), dir, ".run");
	if ((run = conf_load(path)) != NULL) {
		const char *pids[] = { "bhyve_pid", "loader_pid" };

		for (size_t i = 0; i < 2; i++) {
			long pid = atol(conf_get_def(run, pids[i], "0"));

			if (pid_is_guests(pid, name)) {
				kill((pid_t)pid, SIGKILL);
				for (int t = 0; t < 50 && kill((pid_t)pid, 0) == 0; t++)
					usleep(20000);
			}
		}
		for (int i = 0; i < RUN_MAX_NICS; i++) {
			snprintf(key, sizeof(key), "tap%d_made", i);
			if (!conf_get_bool(run, key))
				continue;
			snprintf(key, sizeof(key), "tap%d", i);
			if ((v = conf_get(run, key)) != NULL && *v) {
				glog(dir, "destroying network device %s (left by a killed supervisor)", v);
				net_tap_destroy(v);
			}
		}
		conf_free(run);
		glog(dir, "reclaimed what a killed supervisor left");
	}
	unlink(path);
	if (vmm_exists(name))
		bhyvectl(name, "--destroy");
	dpath(path, sizeof(path), dir, "restart");
	unlink(path);
}

/* Reads "PID HOST" from the lock file. */
static void read_lock(int fd, long *pid, char *host, size_t hn)
{
	char buf[512];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *sp;

	*pid = 0;
	if (hn)
		*host = '\0';
	if (n <= 0)
		return;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	*pid = strtol(buf, &sp, 10);
	while (*sp == ' ')
		sp++;
	if (hn)
		snprintf(host, hn, "%s", sp);
}

/* Takes DIR/run.lock: its fd, or -1 (held: errno EWOULDBLOCK). A stale
 * lock's leftovers are reclaimed first. */
static int take_lock(const char *dir)
{
	char path[4200];
	struct stat a, b;
	int fd;

	dpath(path, sizeof(path), dir, "run.lock");
	for (;;) {
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		/* Someone may have removed the file between open and flock. */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			break;
		close(fd);
	}
	dpath(path, sizeof(path), dir, ".run");
	if (access(path, F_OK) == 0)
		reclaim(dir);
	return fd;
}

static void drop_lock(const char *dir, int fd)
{
	char path[4200];

	dpath(path, sizeof(path), dir, "run.lock");
	unlink(path);
	close(fd);
}

enum guest_state guest_state(const char *dir, pid_t *pid, char *host, size_t hn)
{
	char path[4200], me[256], h[256];
	enum guest_state st = GUEST_STOPPED;
	struct vmconf *run;
	long lp;
	int fd;

	*pid = 0;
	if (hn)
		*host = '\0';
	dpath(path, sizeof(path), dir, "run.lock");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return GUEST_STOPPED;
	read_lock(fd, &lp, h, sizeof(h));
	our_host(me, sizeof(me));
	if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
		close(fd);
		if (*h && strcmp(h, me) != 0) {
			if (hn)
				snprintf(host, hn, "%s", h);
			return GUEST_LOCKED;
		}
		*pid = (pid_t)lp;
		dpath(path, sizeof(path), dir, ".run");
		if ((run = conf_load(path)) != NULL) {
			if (strcmp(conf_get_def(run, "state", ""), "bootloader") == 0)
				st = GUEST_BOOTLOADER;
			conf_free(run);
		}
		return st == GUEST_BOOTLOADER ? st : GUEST_RUNNING;
	}
	close(fd);
	if (*h && strcmp(h, me) != 0) {
		/* Another host's lock: that host may run it (shared storage). */
		if (hn)
			snprintf(host, hn, "%s", h);
		return GUEST_LOCKED;
	}
	/* Nobody holds it: a supervisor was killed. Reclaim under the lock. */
	if ((fd = take_lock(dir)) >= 0)
		drop_lock(dir, fd);
	return GUEST_STOPPED;
}

pid_t guest_shown_pid(const char *dir, enum guest_state st, pid_t supervisor)
{
	char path[4200];
	struct vmconf *run;
	long v = 0;

	if (st != GUEST_RUNNING && st != GUEST_BOOTLOADER)
		return supervisor;
	dpath(path, sizeof(path), dir, ".run");
	if ((run = conf_load(path)) == NULL)
		return supervisor;
	v = strtol(conf_get_def(run, st == GUEST_RUNNING ? "bhyve_pid" : "loader_pid", "0"), NULL, 10);
	conf_free(run);
	if (v <= 0 || v > INT_MAX)
		return supervisor;
	snprintf(path, sizeof(path), "/proc/%ld", v);
	return access(path, F_OK) == 0 ? (pid_t)v : supervisor;
}

/* ---- the supervisor */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	/* SIGTERM to bhyve is the ACPI power button; to grub-bhyve, an end. */
	if (child_pid > 0)
		kill(child_pid, SIGTERM);
}

static int save_run(const char *dir, const struct runplan *p, const char *state, const char *pidkey,
    pid_t pid)
{
	char path[4200], key[32], host[256], num[32];
	struct vmconf *c = conf_new();
	int rc = 0;

	if (c == NULL)
		return -1;
	our_host(host, sizeof(host));
	snprintf(num, sizeof(num), "%ld", (long)getpid());
	rc |= conf_set(c, "pid", num);
	rc |= conf_set(c, "host", host);
	rc |= conf_set(c, "state", state);
	if (pidkey) {
		snprintf(num, sizeof(num), "%ld", (long)pid);
		rc |= conf_set(c, pidkey, num);
	}
	for (int i = 0; i < p->ntaps; i++) {
		snprintf(key, sizeof(key), "tap%d", i);
		rc |= conf_set(c, key, p->taps[i]);
		snprintf(key, sizeof(key), "tap%d_made", i);
		rc |= conf_set(c, key, p->tap_made[i] ? "yes" : "no");
	}
	for (int i = 0; i < p->ncoms; i++)
		rc |= conf_set(c, p->comname[i], p->compath[i]);
	if (*p->vnc)
		rc |= conf_set(c, "vnc", p->vnc);
	dpath(path, sizeof(path), dir, ".run");
	if (rc == 0)
		rc = conf_save(c, path);
	conf_free(c);
	return rc;
}

/* Forks ARGV with stdin/stdout/stderr as given (-1: inherit), dying with us. */
static pid_t spawn(char *const argv[], int in, int out, int err, int nice_val)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (in >= 0)
		dup2(in, 0);
	if (out >= 0)
		dup2(out, 1);
	if (err >= 0)
		dup2(err, 2);
	if (nice_val)
		setpriority(PRIO_PROCESS, 0, nice_val);
	execvp(argv[0], argv);
	fprintf(stderr, "vm: ERROR: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 4;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* True once process PID's title is "bhyve: NAME": bhyve sets it when its
 * devices, firmware and registry entry are all set up, just before its vCPUs
 * start, so a start-up failure (a device refused, a file missing) comes
 * before it. */
static bool titled(pid_t pid, const char *name)
{
	char path[64], want[300], got[300];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, got, sizeof(got) - 1);
	close(fd);
	if (n <= 0)
		return false;
	got[n] = '\0';
	snprintf(want, sizeof(want), "bhyve: %s", name);
	return strcmp(got, want) == 0;
}

/* Waits for bhyve (PID) to be up (titled) or to end: 0 while it runs, else
 * PID with its wait status in *st. Polled every 2 ms at first, then every
 * 20 ms; a bhyve still setting up after 30 s (a slow disk) counts as up, its
 * failure then goes to vm-bhyve.log only. */
static pid_t wait_up(pid_t pid, const char *name, int *st)
{
	struct timespec t0, now;
	long delay = 2000;
	pid_t r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((r = waitpid(pid, st, WNOHANG)) != 0)
			return r == pid ? r : 0;
		if (titled(pid, name))
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 30)
			return 0;
		usleep((useconds_t)delay);
		if (delay < 20000)
			delay += 2000;
	}
}

/* vm-bhyve's vm::handle_exit: true to run the guest again. */
static bool again(const char *dir, const struct runplan *p, int status)
{
	char path[4200];
	const char *a;

	if (status == 0) {
		a = conf_get_def(p->conf, "on_restart", "restart");
		return strcmp(a, "restart") == 0;
	}
	if (status == 1 || status == 2) {
		dpath(path, sizeof(path), dir, "restart");
		return unlink(path) == 0;	/* vm restart asked for it */
	}
	a = conf_get_def(p->conf, "on_fault", "shutdown");
	return strcmp(a, "restart") == 0;
}

/* The last line of FILE into buf ("" if none). */
static void last_line(const char *file, char *buf, size_t n)
{
	char line[1024];

	if (n > sizeof(line))
		n = sizeof(line);
	FILE *f = fopen(file, "r");

	*buf = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
		if (line[0] != '\n') {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, n, "%s", line);
		}
	fclose(f);
}

static int supervise(struct vmhost *h, const char *name, const char *dir, const char *iso, bool fg)
{
	char path[4200], host[256], buf[16384], blog[4200];
	int lockfd, status = 0, nullfd, logfd = -1;
	struct runplan p;
	struct sigaction sa;
	bool startup = !fg;
	pid_t pid;

	if ((lockfd = take_lock(dir)) < 0) {
		pid_t lp;

		if (errno != EWOULDBLOCK)
			return vm_err("%s: cannot lock %s/run.lock: %s", name, dir, strerror(errno));
		guest_state(dir, &lp, host, sizeof(host));
		return vm_err("%s is already running (pid %ld)", name, (long)lp);
	}
	our_host(host, sizeof(host));
	snprintf(buf, sizeof(buf), "%ld %s\n", (long)getpid(), host);
	if (ftruncate(lockfd, 0) != 0 || pwrite(lockfd, buf, strlen(buf), 0) != (ssize_t)strlen(buf)) {
		drop_lock(dir, lockfd);
		return vm_err("%s: cannot write %s/run.lock: %s", name, dir, strerror(errno));
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (!fg)
		sigaction(SIGINT, &sa, NULL);
	else
		signal(SIGINT, SIG_IGN);	/* ^C is the guest's (bhyve's raw terminal) */

	/* vm-bhyve's log_rotate: a log over 1 MiB becomes vm-bhyve.log.0. */
	{
		char old[4200];
		struct stat st;

		dpath(path, sizeof(path), dir, "vm-bhyve.log");
		dpath(old, sizeof(old), dir, "vm-bhyve.log.0");
		if (stat(path, &st) == 0 && st.st_size > (1 << 20))
			rename(path, old);
	}
	glog(dir, "initialising");
	if (run_plan(h, name, dir, iso, fg, false, &p) != 0) {
		glog(dir, "fatal; unable to start (see vm start's message)");
		status = 1;
		goto out;
	}
	glog(dir, " [loader: %s]", conf_get_def(p.conf, "loader", ""));
	glog(dir, " [cpu: %s]", conf_get_def(p.conf, "cpu", ""));
	glog(dir, " [memory: %s]", conf_get_def(p.conf, "memory", ""));
	glog(dir, " [com ports: %s]", conf_get_def(p.conf, "comports", "com1"));
	glog(dir, " [uuid: %s]", conf_get_def(p.conf, "uuid", ""));
	glog(dir, " [debug mode: %s]", p.debug ? "yes" : "no");
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	dpath(blog, sizeof(blog), dir, "bhyve.log");
	if (!fg && (logfd = open(blog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		logfd = nullfd;
	glog(dir, "booting");
	for (int run = 1; !stop_requested; run++) {
		struct strv av;
		const struct strv *ldr = run == 1 && p.loader.n ? &p.loader : &p.loader_after;
		time_t t0;

		if (!p.uefi && vmm_exists(name) && bhyvectl(name, "--destroy") != 0) {
			glog(dir, "fatal; failed to destroy existing vmm device");
			status = 15;
			break;
		}
		if (ldr->n) {
			strv_join(ldr, 0, buf, sizeof(buf));
			glog(dir, " [loader command: %s]", buf);
			/* Its refusal reaches vm start (our stderr) on the first run. */
			pid = spawn(ldr->v, fg ? -1 : nullfd, fg ? -1 : logfd, fg ? -1 : (startup ? 2 : logfd), 0);
			child_pid = pid;
			save_run(dir, &p, "bootloader", "loader_pid", pid);
			status = pid < 0 ? 4 : wait_child(pid);
			child_pid = 0;
			if (status != 0) {
				glog(dir, "fatal; loader returned error %d", status);
				break;
			}
		}
		if (run_argv(&p, run, &av) != 0) {
			status = 4;
			vm_err("out of memory");
			break;
		}
		strv_join(&av, 0, buf, sizeof(buf));
		glog(dir, " [bhyve command: %s]", buf);
		glog(dir, "starting bhyve (run %d)", run);
		t0 = time(NULL);
		pid = spawn(av.v, fg ? -1 : nullfd, fg ? -1 : logfd, fg ? -1 : logfd, p.nice);
		strv_free(&av);
		child_pid = pid;
		save_run(dir, &p, "running", "bhyve_pid", pid);
		if (stop_requested && pid > 0)
			kill(pid, SIGTERM);
		if (startup) {
			/* A bhyve that fails at start-up: say why to vm start. */
			int st = 0;
			pid_t r = 0;

			r = wait_up(pid, name, &st);
			if (r == pid) {
				status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				pid = -1;
				if (status > 2) {
					last_line(blog, buf, 1100);
					vm_err("%s: bhyve exited with status %d at start-up%s%s", name, status,
					    *buf ? ": " : "", buf);
				}
			}
			/* One byte tells vm start the guest is up. */
			if (r == 0 || status <= 2)
				(void)!write(2, "\1", 1);
			dup2(nullfd, 2);
			startup = false;
		}
		if (pid > 0)
			status = wait_child(pid);
		child_pid = 0;
		glog(dir, "bhyve exited with status %d", status);
		save_run(dir, &p, "running", NULL, 0);
		if (stop_requested || !again(dir, &p, status))
			break;
		glog(dir, "restarting");
		/* Never spin on a guest that reboots at once. */
		if (time(NULL) - t0 < 1)
			sleep(1);
	}
	if (nullfd >= 0)
		close(nullfd);
	if (logfd >= 0 && logfd != nullfd)
		close(logfd);
out:
	for (int i = 0; i < p.ntaps; i++)
		if (p.tap_made[i]) {
			glog(dir, "destroying network device %s", p.taps[i]);
			net_tap_destroy(p.taps[i]);
		}
	glog(dir, "stopped");
	if (vmm_exists(name))
		bhyvectl(name, "--destroy");
	dpath(path, sizeof(path), dir, ".run");
	unlink(path);
	dpath(path, sizeof(path), dir, "restart");
	unlink(path);
	run_plan_free(&p);
	drop_lock(dir, lockfd);
	/* Reboot, power-off and halt are normal ends (vm start -f returns 0). */
	return status <= 2 ? 0 : status;
}

/* vm _supervise [-n] [-f] [-i ISO] NAME: -n prints the loader and bhyve
 * command lines and starts nothing (no taps: tapN stands for them). */
int cmd_supervise(struct vmhost *h, int argc, char **argv)
{
	const char *iso = NULL;
	bool dry = false, fg = false;
	char dir[4096], buf[16384];
	struct runplan p;
	struct strv av;
	int opt, rc;

	optind = 1;
	while ((opt = getopt(argc, argv, "nfi:")) != -1) {
		switch (opt) {
		case 'n': dry = true; break;
		case 'f': fg = true; break;
		case 'i': iso = optarg; break;
		default: return vm_err("usage: vm _supervise [-n] [-f] [-i iso] name");
		}
	}
	if (optind != argc - 1)
		return vm_err("usage: vm _supervise [-n] [-f] [-i iso] name");
	if (host_need_dir(h) != 0)
		return 1;
	if (guest_find(h, argv[optind], dir, sizeof(dir), NULL, 0) != 0)
		return vm_err("%s doesn't appear to be a valid virtual machine", argv[optind]);
	if (!dry)
		return supervise(h, argv[optind], dir, iso, fg);
	rc = run_plan(h, argv[optind], dir, iso, fg, true, &p);
	if (rc == 0) {
		if (p.loader.n || p.loader_after.n) {
			strv_join(p.loader.n ? &p.loader : &p.loader_after, 0, buf, sizeof(buf));
			printf("%s\n", buf);
		}
		if (run_argv(&p, 1, &av) == 0) {
			strv_join(&av, 0, buf, sizeof(buf));
			printf("%s\n", buf);
		}
		strv_free(&av);
	}
	run_plan_free(&p);
	return rc ? 1 : 0;
}

/* ---- the commands */

static int find(struct vmhost *h, const char *name, char *dir, size_t n)
{
	if (guest_find(h, name, dir, n, NULL, 0) != 0)
		return vm_err("%s doesn't appear to be a valid virtual machine", name);
	return 0;
}

/* Starts NAME's supervisor in the background; what it says before the guest
 * is up (a refused key, a loader's refusal) comes back through a pipe. */
static int start_one(struct vmhost *h, const char *name, const char *iso)
{
	char dir[4096], host[256], self[PATH_MAX], buf[4096];
	int fds[2], st, fd;
	size_t len = 0;
	bool up;
	ssize_t r;
	pid_t pid, lp;

	if (find(h, name, dir, sizeof(dir)) != 0)
		return 1;
	switch (guest_state(dir, &lp, host, sizeof(host))) {
	case GUEST_RUNNING:
	case GUEST_BOOTLOADER:
		return vm_err("%s is already running (pid %ld)", name, (long)lp);
	case GUEST_LOCKED:
		return vm_err("%s appears to be running on %s (locked: %s/run.lock)", name, host, dir);
	default:
		break;
	}
	r = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (r <= 0)
		return vm_err("cannot find the vm program: %s", strerror(errno));
	self[r] = '\0';
	printf("Starting %s\n  * found guest in %s\n", name, dir);
	fflush(stdout);
	if (pipe2(fds, O_CLOEXEC) != 0 || (pid = fork()) < 0)
		return vm_err("%s: cannot start its supervisor: %s", name, strerror(errno));
	if (pid == 0) {
		char *args[8];
		int n = 0;

		setsid();
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		dup2(fds[1], 2);
		args[n++] = (char *)"vm";
		args[n++] = (char *)"_supervise";
		if (iso) {
			args[n++] = (char *)"-i";
			args[n++] = (char *)iso;
		}
		args[n++] = (char *)name;
		args[n] = NULL;
		execv(self, args);
		_exit(127);
	}
	close(fds[1]);
	while ((r = read(fds[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (len += (size_t)r) >= sizeof(buf) - 1)
			break;
	}
	close(fds[0]);
	buf[len] = '\0';
	up = len > 0 && buf[len - 1] == '\1';
	if (up)
		buf[--len] = '\0';
	if (len)
		fputs(buf, stderr);
	if (!up) {
		waitpid(pid, &st, 0);
		return 1;
	}
	printf("  * booting...\n");
	return 0;
}

static int parse_f(int argc, char **argv, bool *force, const char *usage)
{
	int opt;

	optind = 1;
	while ((opt = getopt(argc, argv, "+f")) != -1) {
		if (opt != 'f')
			return vm_err("usage: vm %s", usage);
		*force = true;
	}
	return 0;
}

int cmd_start(struct vmhost *h, int argc, char **argv)
{
	bool fg = false;
	char dir[4096];
	int rc = 0;

	if (parse_f(argc, argv, &fg, "start [-f] name...") != 0)
		return 1;
	if (optind >= argc)
		return vm_err("usage: vm start [-f] name...");
	if (host_need_dir(h) != 0)
		return 1;
	if (fg) {
		if (optind != argc - 1)
			return vm_err("start -f runs one guest in the foreground: name one");
		if (find(h, argv[optind], dir, sizeof(dir)) != 0)
			return 1;
		return supervise(h, argv[optind], dir, NULL, true);
	}
	for (int i = optind; i < argc; i++)
		rc |= start_one(h, argv[i], NULL);
	return rc;
}

int cmd_install(struct vmhost *h, int argc, char **argv)
{
	bool fg = false;
	char dir[4096], cand[8400], iso[PATH_MAX];
	const char *file;

	if (parse_f(argc, argv, &fg, "install [-f] name iso") != 0)
		return 1;
	if (argc - optind != 2)
		return vm_err("usage: vm install [-f] name iso");
	if (host_need_dir(h) != 0)
		return 1;
	file = argv[optind + 1];
	/* vm-bhyve looks in $vm_dir/.iso; a path or a file here works too. */
	snprintf(cand, sizeof(cand), "%s/.iso/%s", h->vm_dir, file);
	if (strchr(file, '/') != NULL || access(cand, R_OK) != 0)
		snprintf(cand, sizeof(cand), "%s", file);
	if (access(cand, R_OK) != 0 || realpath(cand, iso) == NULL)
		return vm_err("unable to find %s in %s/.iso or here", file, h->vm_dir);
	if (fg) {
		if (find(h, argv[optind], dir, sizeof(dir)) != 0)
			return 1;
		return supervise(h, argv[optind], dir, iso, true);
	}
	return start_one(h, argv[optind], iso);
}

/* The running guest's bhyve (or loader) pid from .run; 0 if none. */
static pid_t running_pid(const char *dir, bool *loader)
{
	char path[4200];
	struct vmconf *run;
	long pid = 0;

	*loader = false;
	dpath(path, sizeof(path), dir, ".run");
	if ((run = conf_load(path)) == NULL)
		return 0;
	if (strcmp(conf_get_def(run, "state", ""), "bootloader") == 0) {
		*loader = true;
		pid = atol(conf_get_def(run, "loader_pid", "0"));
	} else {
		pid = atol(conf_get_def(run, "bhyve_pid", "0"));
	}
	conf_free(run);
	return (pid_t)pid;
}

/* Checks NAME runs here: its directory into dir. */
static int need_running(struct vmhost *h, const char *name, char *dir, size_t n)
{
	char host[256];
	pid_t lp;

	if (find(h, name, dir, n) != 0)
		return 1;
	switch (guest_state(dir, &lp, host, sizeof(host))) {
	case GUEST_RUNNING:
	case GUEST_BOOTLOADER:
		return 0;
	case GUEST_LOCKED:
		return vm_err("%s runs on host %s, not here", name, host);
	default:
		return vm_err("%s doesn't appear to be a running virtual machine", name);
	}
}

static int stop_one(struct vmhost *h, const char *name)
{
	char dir[4096];
	bool loader;
	pid_t pid;

	if (need_running(h, name, dir, sizeof(dir)) != 0)
		return 1;
	pid = running_pid(dir, &loader);
	if (pid <= 0)
		return vm_err("%s is between runs; try again in a second", name);
	if (loader)
		printf("%s is in its bootloader, stopping it\n", name);
	else
		printf("Sending ACPI shutdown to %s\n", name);
	if (kill(pid, SIGTERM) != 0)
		return vm_err("%s: cannot signal pid %ld: %s", name, (long)pid, strerror(errno));
	return 0;
}

int cmd_stop(struct vmhost *h, int argc, char **argv)
{
	int rc = 0;

	if (argc < 2)
		return vm_err("usage: vm stop name...");
	if (host_need_dir(h) != 0)
		return 1;
	for (int i = 1; i < argc; i++)
		rc |= stop_one(h, argv[i]);
	return rc;
}

int cmd_restart(struct vmhost *h, int argc, char **argv)
{
	char dir[4096], path[4200];
	int fd;

	if (argc != 2)
		return vm_err("usage: vm restart name");
	if (host_need_dir(h) != 0 || need_running(h, argv[1], dir, sizeof(dir)) != 0)
		return 1;
	/* As vm-bhyve: the supervisor sees this file when bhyve powers off. */
	dpath(path, sizeof(path), dir, "restart");
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return vm_err("cannot write %s: %s", path, strerror(errno));
	close(fd);
	if (stop_one(h, argv[1]) != 0) {
		unlink(path);
		return 1;
	}
	return 0;
}

static bool confirm(const char *question)
{
	char line[64];

	printf("%s (y/n)? ", question);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

static int force_op(struct vmhost *h, int argc, char **argv, const char *what, const char *flag,
    const char *question)
{
	char dir[4096], usage[64];
	bool force = false;
	int rc;

	snprintf(usage, sizeof(usage), "%s [-f] name", what);
	if (parse_f(argc, argv, &force, usage) != 0)
		return 1;
	if (argc - optind != 1)
		return vm_err("usage: vm %s", usage);
	if (host_need_dir(h) != 0 || need_running(h, argv[optind], dir, sizeof(dir)) != 0)
		return 1;
	if (!force && !confirm(question))
		return vm_err("%s of %s not confirmed (vm %s -f skips the question)", what, argv[optind], what);
	rc = bhyvectl(argv[optind], flag);
	if (rc != 0)
		return vm_err("%s: bhyvectl %s failed (status %d)", argv[optind], flag, rc);
	return 0;
}

int cmd_reset(struct vmhost *h, int argc, char **argv)
{
	return force_op(h, argc, argv, "reset", "--force-reset",
	    "Are you sure you want to forcefully reset this virtual machine");
}

int cmd_poweroff(struct vmhost *h, int argc, char **argv)
{
	return force_op(h, argc, argv, "poweroff", "--force-poweroff",
	    "Are you sure you want to forcefully poweroff this virtual machine");
}

int cmd_startall(struct vmhost *h, int argc, char **argv)
{
	char list[4096], *save = NULL, *w;
	int delay = atoi(conf_get_def(h->conf, "vm_delay", "5")), rc = 0;
	bool first = true;

	(void)argv;
	if (argc != 1)
		return vm_err("usage: vm startall");
	if (host_need_dir(h) != 0)
		return 1;
	snprintf(list, sizeof(list), "%s", conf_get_def(h->conf, "vm_list", ""));
	for (w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		char dir[4096], host[256];
		pid_t lp;

		if (guest_find(h, w, dir, sizeof(dir), NULL, 0) == 0 &&
		    guest_state(dir, &lp, host, sizeof(host)) != GUEST_STOPPED)
			continue;
		if (!first && delay > 0)
			sleep((unsigned)delay);
		first = false;
		rc |= start_one(h, w, NULL);
	}
	return rc;
}

/* Running guests to stop: vm_list in reverse, then any other running one in
 * vm_dir. */
static int running_guests(struct vmhost *h, char names[][32], int max)
{
	char list[4096], *save = NULL, *w, *words[256], dir[4096], host[256];
	int nw = 0, n = 0;
	pid_t lp;
	struct dirent *de;
	DIR *dp;

	snprintf(list, sizeof(list), "%s", conf_get_def(h->conf, "vm_list", ""));
	for (w = strtok_r(list, " \t", &save); w && nw < 256; w = strtok_r(NULL, " \t", &save))
		words[nw++] = w;
	for (int i = nw - 1; i >= 0 && n < max; i--)
		if (guest_find(h, words[i], dir, sizeof(dir), NULL, 0) == 0 &&
		    guest_state(dir, &lp, host, sizeof(host)) != GUEST_STOPPED &&
		    guest_state(dir, &lp, host, sizeof(host)) != GUEST_LOCKED)
			snprintf(names[n++], 32, "%.31s", words[i]);
	if ((dp = opendir(h->vm_dir)) == NULL)
		return n;
	while (n < max && (de = readdir(dp)) != NULL) {
		bool dup = false;

		for (int i = 0; i < n; i++)
			dup |= strcmp(names[i], de->d_name) == 0;
		if (dup || !guest_name_valid(de->d_name) ||
		    guest_find(h, de->d_name, dir, sizeof(dir), NULL, 0) != 0)
			continue;
		enum guest_state st = guest_state(dir, &lp, host, sizeof(host));

		if (st == GUEST_RUNNING || st == GUEST_BOOTLOADER)
			snprintf(names[n++], 32, "%.31s", de->d_name);
	}
	closedir(dp);
	return n;
}

int cmd_stopall(struct vmhost *h, int argc, char **argv)
{
	char names[256][32], dir[4096], host[256];
	int n, left, timeout = atoi(conf_get_def(h->conf, "vm_stop_timeout", "60"));
	time_t t0 = time(NULL);
	pid_t lp;

	(void)argv;
	if (argc != 1)
		return vm_err("usage: vm stopall");
	if (host_need_dir(h) != 0)
		return 1;
	n = running_guests(h, names, 256);
	for (int i = 0; i < n; i++)
		stop_one(h, names[i]);
	if (n)
		printf("Waiting for %d guest%s to stop\n", n, n > 1 ? "s" : "");
	fflush(stdout);
	do {
		left = 0;
		for (int i = 0; i < n; i++)
			if (guest_find(h, names[i], dir, sizeof(dir), NULL, 0) == 0 &&
			    guest_state(dir, &lp, host, sizeof(host)) != GUEST_STOPPED)
				left++;
		if (left)
			usleep(200000);
	} while (left && time(NULL) - t0 < timeout);
	for (int i = 0; left && i < n; i++)
		if (guest_find(h, names[i], dir, sizeof(dir), NULL, 0) == 0 &&
		    guest_state(dir, &lp, host, sizeof(host)) != GUEST_STOPPED) {
			fprintf(stderr, "vm: %s did not stop within %d s: powering it off\n", names[i], timeout);
			bhyvectl(names[i], "--force-poweroff");
		}
	return 0;
}
