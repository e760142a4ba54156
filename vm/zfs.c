/* ZFS datastores, as vm-bhyve's lib/vm-zfs keeps them, through zfs(8) (the
 * OpenZFS tools; Debian's zfsutils-linux and zfs-dkms, from contrib). A
 * datastore "zfs:POOL/DATASET" is that dataset, mounted: its mountpoint is the
 * datastore's directory. Each guest is a child dataset, POOL/DATASET/NAME
 * (mounted below it), and its zvol disks (diskN_dev="zvol" or "sparse-zvol")
 * are children of that, POOL/DATASET/NAME/DISK. Destroy, rename, snapshot,
 * rollback and clone act on the guest's dataset and everything below it.
 *
 * Which dataset is mounted where comes from /proc/self/mounts (as vm-bhyve
 * reads mount(8)); zfs(8) is run, without a shell, for everything it changes.
 * A guest "is on ZFS" when it is in a zfs: datastore and its directory is the
 * mounted dataset DATASTORE/NAME (guest_zfs, host.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vm.h"

/* OpenZFS on Linux: the dataset name of a zvol's block device. */
#define ZFS_NAME_MAX	256
#define BLKZNAME	_IOR(0x12, 125, char[ZFS_NAME_MAX])

const char *zfs_missing(void)
{
	if (access("/sys/module/zfs", F_OK) != 0)
		return "ZFS support requested but ZFS is not available: no zfs kernel module "
		    "(Debian's zfs-dkms and zfsutils-linux, from contrib; then modprobe zfs)";
	return NULL;
}

/* The mount of ZFS dataset DS (fsname, dir) or of DIR, from /proc/self/mounts. */
static int find_mount(const char *ds, const char *dir, char *out, size_t n)
{
	struct mntent m, *e;
	char buf[8192];
	int rc = -1;
	FILE *f = setmntent("/proc/self/mounts", "r");

	if (f == NULL)
		return -1;
	while ((e = getmntent_r(f, &m, buf, sizeof(buf))) != NULL) {
		if (strcmp(e->mnt_type, "zfs") != 0)
			continue;
		if (ds != NULL && strcmp(e->mnt_fsname, ds) == 0)
			rc = (size_t)snprintf(out, n, "%s", e->mnt_dir) < n ? 0 : -1;
		else if (dir != NULL && strcmp(e->mnt_dir, dir) == 0)
			rc = (size_t)snprintf(out, n, "%s", e->mnt_fsname) < n ? 0 : -1;
		else
			continue;
		break;
	}
	endmntent(f);
	return rc;
}

int zfs_mountpoint(const char *dataset, char *dir, size_t n, bool quiet)
{
	const char *why;

	if (find_mount(dataset, NULL, dir, n) == 0)
		return 0;
	if (quiet)
		return -1;
	if ((why = zfs_missing()) != NULL)
		return vm_err("zfs:%s: %s", dataset, why);
	return vm_err("zfs:%s doesn't seem to be a valid, mounted dataset (zfs list shows them)",
	    dataset);
}

int zfs_dataset_at(const char *dir, char *ds, size_t n)
{
	char real[4096];

	if (realpath(dir, real) == NULL)
		return -1;
	return find_mount(NULL, real, ds, n);
}

/* zfs ARGV: its standard output into out (if not NULL), its standard error
 * into err, both read as they come (poll), so that neither pipe can fill and
 * stall zfs. *overflow is set when standard output did not fit. The exit
 * status, or -1. */
static int zfs_exec(char *const argv[], char *out, size_t outn, char *err, size_t errn,
    bool *overflow)
{
	struct pollfd pf[2];
	char *buf[2] = { out, err }, junk[512];
	size_t len[2] = { 0, 0 }, cap[2] = { out ? outn : 0, errn };
	int po[2], pe[2], st, open_fds = 2;
	bool failed = false;
	pid_t pid;

	*overflow = false;
	if (pipe2(po, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) != 0) {
		close(po[0]), close(po[1]);
		return -1;
	}
	if ((pid = fork()) < 0) {
		close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execvp(argv[0], argv);
		dprintf(2, "%s: %s\n", argv[0], errno == ENOENT ?
		    "not found (Debian's zfsutils-linux, from contrib)" : strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	pf[0] = (struct pollfd){ .fd = po[0], .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = pe[0], .events = POLLIN };
	while (open_fds > 0) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			failed = true;
			break;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t r;

			if (pf[i].fd < 0 || pf[i].revents == 0)
				continue;
			if (len[i] + 1 < cap[i])
				r = read(pf[i].fd, buf[i] + len[i], cap[i] - 1 - len[i]);
			else
				r = read(pf[i].fd, junk, sizeof(junk));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
				open_fds--;
				continue;
			}
			if (len[i] + 1 < cap[i])
				len[i] += (size_t)r;
			else if (i == 0 && out != NULL)
				*overflow = true;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (pf[i].fd >= 0)
			close(pf[i].fd);
		if (buf[i] != NULL && cap[i] > 0)
			buf[i][len[i]] = '\0';
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (failed)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The one line for ARGV that ended with status RC (0: its output did not fit
 * in OUTN bytes) and standard error ERR (its lines joined here). Returns 1. */
static int zfs_fail(char *const argv[], int rc, char *err, size_t outn)
{
	char line[4096] = "", *p;
	size_t len = 0;

	for (size_t i = 1; argv[i] != NULL && len < sizeof(line); i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %s", argv[i]);
	if (rc == 0)
		return vm_err("zfs%s: its output is longer than %zu bytes", line, outn ? outn - 1 : 0);
	for (p = err + strlen(err); p > err && (p[-1] == '\n' || p[-1] == ' '); p--)
		p[-1] = '\0';
	for (p = err; *p; p++)
		if (*p == '\n')
			*p = ';';
	return vm_err("zfs%s failed: %s", line, *err ? err : rc < 0 ? "could not run zfs" : "no message");
}

/* Runs ARGV (argv[0] the zfs program): 0, or (unless QUIET) one line with
 * zfs's own message. Output that does not fit in out is an error. */
static int zfs_argv(char *const argv[], char *out, size_t outn, bool quiet)
{
	char err[2048] = "";
	bool overflow;
	int rc;

	rc = zfs_exec(argv, out, outn, err, sizeof(err), &overflow);
	if (rc == 0 && !overflow)
		return 0;
	return quiet ? -1 : zfs_fail(argv, rc, err, outn);
}

int zfs_run(bool quiet, char *out, size_t outn, const char *arg, ...)
{
	char *argv[24];
	size_t k = 0;
	va_list ap;

	argv[k++] = (char *)vm_tool("zfs");
	va_start(ap, arg);
	for (const char *a = arg; a != NULL && k < 23; a = va_arg(ap, const char *))
		argv[k++] = (char *)a;
	va_end(ap);
	argv[k] = NULL;
	return zfs_argv(argv, out, outn, quiet);
}

int zfs_destroy(const char *dataset)
{
	char *argv[] = { (char *)vm_tool("zfs"), "destroy", "-rf", (char *)dataset, NULL };
	char err[2048];
	bool overflow;
	int rc;

	/* A zvol just made or written may be held a moment by udev's probe:
	 * "busy" is tried again for 2 s; a dataset already gone is no error. */
	for (int t = 0;; t++) {
		if ((rc = zfs_exec(argv, NULL, 0, err, sizeof(err), &overflow)) == 0 ||
		    strstr(err, "does not exist") != NULL)
			return 0;
		if (rc < 0 || strstr(err, "busy") == NULL || t == 9)
			return zfs_fail(argv, rc, err, 0);
		usleep(200000);
	}
}

bool zfs_exists(const char *dataset)
{
	return zfs_query(NULL, 0, "list", "-H", "-o", "name", dataset, (char *)NULL) == 0;
}

int zfs_children(const char *dataset, char *out, size_t n)
{
	return zfs_cmd(out, n, "list", "-H", "-o", "name", "-r", "-t", "filesystem,volume", dataset,
	    (char *)NULL);
}

bool zfs_disk_dev(const char *dev)
{
	return dev != NULL && (strcmp(dev, "zvol") == 0 || strcmp(dev, "sparse-zvol") == 0);
}

int zvol_device(const char *dataset, char *path, size_t n)
{
	char name[ZFS_NAME_MAX];
	struct dirent *e;
	DIR *d;

	/* udev's link, where udev runs. */
	if ((size_t)snprintf(path, n, "/dev/zvol/%s", dataset) < n && access(path, F_OK) == 0)
		return 0;
	/* Else the zdN device that names that dataset. */
	if ((d = opendir("/dev")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		int fd;

		if (strncmp(e->d_name, "zd", 2) != 0 ||
		    strspn(e->d_name + 2, "0123456789") != strlen(e->d_name + 2) || e->d_name[2] == '\0')
			continue;
		snprintf(path, n, "/dev/%s", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
			continue;
		memset(name, 0, sizeof(name));
		if (ioctl(fd, BLKZNAME, name) == 0 && strcmp(name, dataset) == 0) {
			close(fd);
			closedir(d);
			return 0;
		}
		close(fd);
	}
	closedir(d);
	return -1;
}

int zvol_of(const char *dir, const char *name, char *vol, size_t n)
{
	char ds[4096];

	if (zfs_dataset_at(dir, ds, sizeof(ds)) != 0 ||
	    (size_t)snprintf(vol, n, "%s/%s", ds, name) >= n)
		return -1;
	return 0;
}

int guest_disk_path(const char *dir, const char *name, const char *dev, char *path, size_t n)
{
	char vol[4400];

	if (dev != NULL && strcmp(dev, "custom") == 0) {
		snprintf(path, n, "%s", name);
		return 0;
	}
	if (!zfs_disk_dev(dev)) {
		snprintf(path, n, "%s/%s", dir, name);
		return 0;
	}
	if (zvol_of(dir, name, vol, sizeof(vol)) != 0) {
		snprintf(path, n, "%s/%s", dir, name);
		return vm_err("disk %s is a %s, but %s is not a ZFS dataset", name, dev, dir);
	}
	if (zvol_device(vol, path, n) != 0) {
		snprintf(path, n, "/dev/zvol/%s", vol);
		return vm_err("zvol %s has no device (/dev/zvol/%s, or a /dev/zdN naming it)", vol, vol);
	}
	return 0;
}

int zfs_create(const char *dataset, const char *opts, uint64_t vol_size, bool sparse)
{
	char *argv[48], copy[1024], sz[32], *save = NULL, *w;
	uint64_t block = 128u << 10, v;
	int k = 0, nopts = 0;

	argv[k++] = (char *)vm_tool("zfs");
	argv[k++] = "create";
	/* zfs_dataset_opts / zfs_zvol_opts: "prop=value ...", each a -o. */
	if ((size_t)snprintf(copy, sizeof(copy), "%s", opts ? opts : "") >= sizeof(copy))
		return vm_err("zfs options \"%s\" are too long", opts);
	for (w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (++nopts > 16 || strchr(w, '=') == NULL || *w == '-')
			return vm_err("zfs options \"%s\": give at most 16 words of the form property=value",
			    opts);
		argv[k++] = "-o";
		argv[k++] = w;
		/* A volblocksize above 128 KiB: sizes are rounded up to it. */
		if (strncmp(w, "volblocksize=", 13) == 0 && parse_size(w + 13, &v) == 0 && v > block)
			block = v;
	}
	if (vol_size) {
		/* A whole number of blocks (zfs refuses others): the largest
		 * default volblocksize, 128 KiB, or a larger one asked for. */
		vol_size = (vol_size + block - 1) / block * block;
		snprintf(sz, sizeof(sz), "%llu", (unsigned long long)vol_size);
		if (sparse)
			argv[k++] = "-s";
		argv[k++] = "-V";
		argv[k++] = sz;
		argv[k++] = "-o";
		argv[k++] = "volmode=dev";
	}
	argv[k++] = (char *)dataset;
	argv[k] = NULL;
	return zfs_argv(argv, NULL, 0, false);
}
