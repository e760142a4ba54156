/* The sandbox: what it installs and why is in docs/security.md; the programs
 * are compiled from tools/sandbox-gen.c's rules with libseccomp at build time
 * (build/sandbox_bpf.h), so bhyve only hands them to the kernel. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
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
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "config.h"
#include "sandbox_bpf.h"
#include "util.h"

/* Rights of later Landlock ABIs than Debian 12's headers (6.1) know. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#endif

static atomic_bool armed;
/* Each role's Landlock ruleset (-1: none), made by sandbox_init. */
static int ruleset[SANDBOX_NROLES] = { -1, -1, -1, -1, -1, -1 };
_Static_assert(SANDBOX_NROLES == 6, "one initializer per role");
/* The event loop's paths (sandbox_allow_path), kept until sandbox_init. */
#define MAX_PATHS	32
static struct { char *path; enum sandbox_path how; } paths[MAX_PATHS];
static int npaths;
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

void sandbox_allow_path(const char *path, enum sandbox_path how)
{
	char *copy;

	if (path == NULL || path[0] == '\0' || npaths == MAX_PATHS || (copy = strdup(path)) == NULL)
		return;
	paths[npaths].path = copy;
	paths[npaths].how = how;
	npaths++;
}

/*
 * Landlock (Linux 5.13 and later, where the kernel enables it) bounds by path
 * what seccomp cannot: which files the slirp thread's read-only opens reach,
 * and where the event loop's exit-time work may make and remove files. The
 * rights a kernel knows grow with its ABI version; a right it does not know
 * is neither handled nor granted.
 */
static uint64_t fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1: bits 0-12 */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

static int ll_ruleset(uint64_t handled)
{
	struct landlock_ruleset_attr a = { .handled_access_fs = handled };

	return (int)syscall(SYS_landlock_create_ruleset, &a, sizeof(a), 0U);
}

/* Grants rights beneath path (a directory) or on it (a file); a path that is
 * not there, or a rule the kernel refuses, grants nothing. */
static void ll_allow(int rs, const char *path, uint64_t rights)
{
	struct landlock_path_beneath_attr b = { .allowed_access = rights };
	struct stat st;

	b.parent_fd = open(path, O_PATH | O_CLOEXEC);
	if (b.parent_fd < 0)
		return;
	/* A file takes only the rights that apply to files. */
	if (fstat(b.parent_fd, &st) == 0 && !S_ISDIR(st.st_mode))
		b.allowed_access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
		    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
		    LANDLOCK_ACCESS_FS_IOCTL_DEV;
	(void)syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &b, 0U);
	close(b.parent_fd);
}

/* The slirp thread reads /etc/resolv.conf (the file it names, if a link)
 * and nothing else; the event loop makes and removes files in the VM's own
 * directories and removes the files it registered, and touches nothing
 * else by path. Without Landlock in the kernel both stay as seccomp leaves
 * them (docs/security.md). */
static void make_rulesets(void)
{
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	uint64_t all, own, rm = LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR;

	if (abi < 1)
		return;
	all = fs_rights(abi);
	own = all & (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
	    LANDLOCK_ACCESS_FS_READ_DIR | rm | LANDLOCK_ACCESS_FS_MAKE_REG |
	    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE);
	ruleset[SANDBOX_SLIRP] = ll_ruleset(all);
	if (ruleset[SANDBOX_SLIRP] >= 0)
		ll_allow(ruleset[SANDBOX_SLIRP], "/etc/resolv.conf", LANDLOCK_ACCESS_FS_READ_FILE);
	ruleset[SANDBOX_LOOP] = ll_ruleset(all);
	for (int i = 0; ruleset[SANDBOX_LOOP] >= 0 && i < npaths; i++) {
		char *dir = strdup(paths[i].path);

		if (paths[i].how == SANDBOX_PATH_OWN)
			ll_allow(ruleset[SANDBOX_LOOP], paths[i].path, own);
		else if (dir != NULL)
			ll_allow(ruleset[SANDBOX_LOOP], dirname(dir), rm);
		free(dir);
	}
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
	make_rulesets();
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
	/* Landlock first: the role's program does not allow taking a domain. */
	if ((ruleset[role] >= 0 && syscall(SYS_landlock_restrict_self, ruleset[role], 0U) != 0) ||
	    install(sandbox_roles[role].filter, sandbox_roles[role].len, 0) != 0) {
		static const char msg[] = "bhyve: sandbox: a thread cannot take its role\n";

		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		_exit(EXIT_ERROR);
	}
	entered = true;
}
