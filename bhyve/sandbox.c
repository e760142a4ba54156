/* The sandbox: what it installs and why is in docs/security.md; the programs
 * are compiled from tools/sandbox-gen.c's rules with libseccomp at build time
 * (build/sandbox_bpf.h), so bhyve only hands them to the kernel. */
#include "sandbox.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "config.h"
#include "sandbox_bpf.h"
#include "util.h"

static atomic_bool armed;
static __thread bool entered;
static pthread_mutex_t wakers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sandbox_waker *wakers;

void sandbox_waker_add(struct sandbox_waker *w, void (*fn)(void *), void *arg)
{
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_lock(&wakers_lock);
	w->next = wakers;
	wakers = w;
	pthread_mutex_unlock(&wakers_lock);
}

void sandbox_waker_remove(struct sandbox_waker *w)
{
	pthread_mutex_lock(&wakers_lock);
	for (struct sandbox_waker **p = &wakers; *p != NULL; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&wakers_lock);
}

void sandbox_close_inherited(void)
{
	/* Kernels before 5.9 lack close_range: close one by one. */
	if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
		for (int fd = 3; fd < 65536; fd++)
			(void)close(fd);
}

static void patch_pid(struct sock_filter *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i].code == (BPF_JMP | BPF_JEQ | BPF_K) && p[i].k == SANDBOX_PID_MAGIC)
			p[i].k = (uint32_t)getpid();
}

/* The bounding and ambient sets emptied (while CAP_SETPCAP is still there), so
 * no later exec could give anything back. */
static void drop_bounding(void)
{
	for (int c = 0; c <= 63; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno == EINVAL)
			break;
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

static int drop_user(const char *name)
{
	struct passwd *pw = getpwnam(name);
	uid_t ruid, euid, suid;
	gid_t gid;

	if (pw == NULL) {
		warnx("sandbox.user %s: no such user", name);
		return -1;
	}
	gid = pw->pw_gid;
	if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
		warn("sandbox.user %s: cannot become that user", name);
		return -1;
	}
	/* No way back: uid 0 is gone from all three ids. */
	if (getresuid(&ruid, &euid, &suid) != 0 || ruid != pw->pw_uid || euid != pw->pw_uid ||
	    suid != pw->pw_uid || (pw->pw_uid != 0 && setuid(0) == 0)) {
		warnx("sandbox.user %s: the user ids did not change for good", name);
		return -1;
	}
	return 0;
}

static int drop_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) != 0) {
		warn("sandbox: cannot drop the capabilities");
		return -1;
	}
	return 0;
}

static int install(struct sock_filter *p, size_t n, unsigned flags)
{
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = p };

	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

int sandbox_init(void)
{
	const char *user = get_config_value("sandbox.user");
	bool on;
	long r;

	if (get_config_bool_default("sandbox", true, &on) != 0)
		return -1;
	/* localtime_r() would read /etc/localtime on first use, in a vCPU. */
	tzset();

	if (on)
		drop_bounding();
	if (user != NULL && drop_user(user) != 0)
		return -1;
	if (!on)
		return 0;
	if (drop_caps() != 0)
		return -1;
	patch_pid(sandbox_bpf_base, nitems(sandbox_bpf_base));
	for (int i = 0; i < SANDBOX_NROLES; i++)
		patch_pid(sandbox_roles[i].filter, sandbox_roles[i].len);
	/* Every thread, including the block, net and slirp ones already waiting
	 * (TSYNC: the call fails, naming a thread, if one could not take it). */
	r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (r == 0)
		r = install(sandbox_bpf_base, nitems(sandbox_bpf_base), SECCOMP_FILTER_FLAG_TSYNC);
	if (r != 0) {
		warnx("sandbox: cannot install the seccomp filter: %s (-o sandbox=false runs "
		    "without it)", r < 0 ? strerror(errno) : "a thread could not take it");
		return -1;
	}
	atomic_store(&armed, true);
	pthread_mutex_lock(&wakers_lock);
	for (struct sandbox_waker *w = wakers; w != NULL; w = w->next)
		w->fn(w->arg);
	pthread_mutex_unlock(&wakers_lock);
	return 0;
}

void sandbox_enter(enum sandbox_role role)
{
	if (entered || !atomic_load(&armed))
		return;
	if (install(sandbox_roles[role].filter, sandbox_roles[role].len, 0) != 0) {
		static const char msg[] = "bhyve: sandbox: a thread cannot take its role\n";

		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		_exit(EXIT_ERROR);
	}
	entered = true;
}
