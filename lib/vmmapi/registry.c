/* The VM registry: see registry.h. */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const state_names[] = { "created", "loaded", "running", "stopped" };

const char *vmreg_state_name(enum vmreg_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

int vmreg_check_name(const char *name, char *err, size_t errlen)
{
	if (name == NULL || *name == '\0') {
		snprintf(err, errlen, "empty VM name");
		return -1;
	}
	if (strlen(name) > VMREG_NAMELEN) {
		snprintf(err, errlen, "VM name \"%s\" is longer than %d characters", name,
		    VMREG_NAMELEN);
		return -1;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || name[0] == '-') {
		snprintf(err, errlen, "invalid VM name \"%s\"", name);
		return -1;
	}
	for (const char *c = name; *c; c++)
		if (*c == '/' || *c <= ' ' || *c == 0x7f) {
			snprintf(err, errlen, "VM name \"%s\" may not contain '/', spaces or "
			    "control characters", name);
			return -1;
		}
	return 0;
}

/* The per-user default: $XDG_RUNTIME_DIR/leaf, else /tmp/leaf-UID. */
static const char *location(char *buf, size_t len, const char *env, const char *root_path,
    const char *leaf)
{
	const char *v = getenv(env), *xdg = getenv("XDG_RUNTIME_DIR");

	if (v != NULL && *v != '\0')
		snprintf(buf, len, "%s", v);
	else if (geteuid() == 0)
		snprintf(buf, len, "%s", root_path);
	else if (xdg != NULL && *xdg == '/')
		snprintf(buf, len, "%s/%s", xdg, leaf);
	else
		snprintf(buf, len, "/tmp/%s-%u", leaf, (unsigned)geteuid());
	return buf;
}

const char *vmreg_devdir(void)
{
	static char buf[PATH_MAX];

	return location(buf, sizeof(buf), "BHYVE_VMM_DIR", "/dev/vmm", "vmm");
}

const char *vmreg_runroot(void)
{
	static char buf[PATH_MAX];

	return location(buf, sizeof(buf), "BHYVE_RUN_DIR", "/run/bhyve", "bhyve");
}

int vmreg_path(const struct vmreg *r, const char *leaf, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", r->rundir, leaf) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int init(const char *name, struct vmreg *r)
{
	char err[128];

	memset(r, 0, sizeof(*r));
	r->lockfd = -1;
	if (vmreg_check_name(name, err, sizeof(err)) != 0) {
		errno = EINVAL;
		return -1;
	}
	snprintf(r->name, sizeof(r->name), "%s", name);
	if ((size_t)snprintf(r->rundir, sizeof(r->rundir), "%s/%s", vmreg_runroot(), name) >=
	    sizeof(r->rundir) ||
	    (size_t)snprintf(r->link, sizeof(r->link), "%s/%s", vmreg_devdir(), name) >=
	    sizeof(r->link)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int load_meta(struct vmreg *r)
{
	char path[PATH_MAX], line[128], word[32];
	unsigned long long v;
	FILE *f;
	int ok = 0;

	if (vmreg_path(r, "meta", path, sizeof(path)) != 0)
		return -1;
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) == NULL || strcmp(line, "bhyve-vm 1\n") != 0) {
		fclose(f);
		errno = EPROTO;
		return -1;
	}
	r->state = VMREG_CREATED;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "state %31s", word) == 1) {
			for (unsigned s = 0; s < sizeof(state_names) / sizeof(state_names[0]); s++)
				if (strcmp(word, state_names[s]) == 0) {
					r->state = (enum vmreg_state)s;
					ok = 1;
				}
		} else if (sscanf(line, "memsize %llu", &v) == 1) {
			r->memsize = v;
		} else if (sscanf(line, "ncpus %llu", &v) == 1) {
			r->ncpus = (int)v;
		} else if (sscanf(line, "pid %llu", &v) == 1) {
			r->pid = (long)v;
		}
	}
	fclose(f);
	if (!ok) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

int vmreg_save(const struct vmreg *r)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;
	int fd;

	if (vmreg_path(r, "meta", path, sizeof(path)) != 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	/* Made new (O_EXCL), never an existing file opened for writing: bhyve's
	 * sandbox lets its event loop create files at exit, no more. */
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "bhyve-vm 1\nstate %s\nmemsize %" PRIu64 "\nncpus %d\npid %ld\n",
	    vmreg_state_name(r->state), r->memsize, r->ncpus, r->pid);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

int vmreg_lock(struct vmreg *r)
{
	char path[PATH_MAX];

	if (r->lockfd >= 0)
		return 0;
	if (vmreg_path(r, "lock", path, sizeof(path)) != 0)
		return -1;
	r->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (r->lockfd < 0)
		return -1;
	if (flock(r->lockfd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(r->lockfd);
		r->lockfd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

void vmreg_unlock(struct vmreg *r)
{
	if (r->lockfd >= 0)
		close(r->lockfd);
	r->lockfd = -1;
}

long vmreg_holder(const struct vmreg *r)
{
	char path[PATH_MAX];
	int fd;
	long pid = 0;

	if (vmreg_path(r, "lock", path, sizeof(path)) != 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		pid = r->pid > 0 ? r->pid : 1;
	close(fd);
	return pid;
}

int vmreg_destroy(struct vmreg *r)
{
	DIR *d = opendir(r->rundir);
	struct dirent *e;
	int rc = 0;

	if (d != NULL) {
		while ((e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
			    unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT)
				rc = -1;
		closedir(d);
	}
	if (rmdir(r->rundir) != 0 && errno != ENOENT)
		rc = -1;
	if (unlink(r->link) != 0 && errno != ENOENT)
		rc = -1;
	vmreg_unlock(r);
	return rc;
}

/* A running bhyve's entry whose lock is free: the bhyve died (SIGKILL, a
 * crash) without ending it. Removed under its lock; true when it was. */
static bool reclaim_stale(struct vmreg *r)
{
	if (r->state != VMREG_RUNNING || vmreg_lock(r) != 0)
		return false;
	if (load_meta(r) != 0 || r->state != VMREG_RUNNING) {
		vmreg_unlock(r);
		return false;
	}
	vmreg_destroy(r);
	return true;
}

int vmreg_open(const char *name, struct vmreg *r)
{
	if (init(name, r) != 0)
		return -1;
	if (load_meta(r) != 0) {
		if (errno == ENOENT) {
			/* A link left without its run directory (the run root is
			 * a tmpfs emptied by a reboot): not a VM. */
			unlink(r->link);
		}
		return -1;
	}
	if (reclaim_stale(r)) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *s = strchr(buf + 1, '/');; s = strchr(s + 1, '/')) {
		if (s != NULL)
			*s = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		if (s == NULL)
			return 0;
		*s = '/';
	}
}

int vmreg_create(const char *name, enum vmreg_state state, uint64_t memsize, int ncpus,
    struct vmreg *r)
{
	struct vmreg old;

	if (vmreg_open(name, &old) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (init(name, r) != 0 || mkdir_p(vmreg_runroot()) != 0 || mkdir_p(vmreg_devdir()) != 0)
		return -1;
	if (mkdir(r->rundir, 0700) != 0) {
		/* A directory without meta is a VM being made or half removed. */
		return -1;
	}
	r->state = state;
	r->memsize = memsize;
	r->ncpus = ncpus;
	r->pid = (long)getpid();
	if (vmreg_lock(r) != 0 || vmreg_save(r) != 0)
		goto fail;
	unlink(r->link);
	if (symlink(r->rundir, r->link) != 0)
		goto fail;
	return 0;
fail:
	{
		int e = errno;

		vmreg_destroy(r);
		errno = e;
	}
	return -1;
}

int vmreg_map_memory(const struct vmreg *r, void **p)
{
	char path[PATH_MAX];
	int fd;

	if (vmreg_path(r, "mem", path, sizeof(path)) != 0)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)r->memsize) != 0) {
		close(fd);
		return -1;
	}
	*p = mmap(NULL, r->memsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return *p == MAP_FAILED ? -1 : 0;
}

int vmreg_write_vcpu(const struct vmreg *r, int cpu, const char *text)
{
	char path[PATH_MAX], leaf[16];
	FILE *f;

	snprintf(leaf, sizeof(leaf), "vcpu%d", cpu);
	if (vmreg_path(r, leaf, path, sizeof(path)) != 0)
		return -1;
	f = fopen(path, "we");
	if (f == NULL)
		return -1;
	fprintf(f, "bhyve-vcpu 1\n%s", text);
	return fclose(f);
}
