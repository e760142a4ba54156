/* vm clone, vm snapshot, vm rollback. vm-bhyve does these with ZFS only: a
 * guest that is a ZFS dataset (a ZFS datastore, zfs.c) gets zfs(8)'s
 * snapshots, rollbacks and clones of its dataset and the zvols below it, as
 * vm-bhyve's lib/vm-zfs does them. Elsewhere they are reflink copies
 * (FICLONE: XFS with reflink=1, btrfs) that share every block until one side
 * writes it. A filesystem without reflinks gets one line saying so: never a
 * full copy posing as a snapshot.
 *
 * A snapshot NAME@SNAP is the directory NAME/.snapshots/SNAP/ holding a
 * reflink of each of the guest's files (configuration, disks, UEFI
 * variables; not its log or run-time files) and .created (when, in ns, for
 * the order -r needs). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "vm.h"

#define ZFS_SUPER_MAGIC 0x2fc12fc1

/* A guest's run-time files (its lock, its running state with the taps it
 * made, a pending restart, the console's lock, bhyve's debug log): never part
 * of a snapshot's copy, and dropped after a ZFS clone or rollback (a ZFS
 * snapshot of a running guest, snapshot -f, holds them), or the next vm
 * command would "reclaim" taps that are another guest's by then, or restart
 * a guest that was powered off. */
static const char *const run_files[] = { "run.lock", ".run", "restart", "console.lock", "bhyve.log" };

/* Files of a guest directory that are its state, not its run time. */
static bool state_file(const char *name)
{
	for (size_t i = 0; i < sizeof(run_files) / sizeof(run_files[0]); i++)
		if (strcmp(name, run_files[i]) == 0)
			return false;
	return name[0] != '.' && strcmp(name, "vm-bhyve.log") != 0 && strstr(name, ".part") == NULL;
}

struct names {
	char **v;
	size_t n;
};

static void names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The regular state files of DIR (symlinks, directories left out). */
static int state_files(const char *dir, struct names *l)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;

	l->v = NULL;
	l->n = 0;
	if (d == NULL)
		return vm_err("cannot read %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char **v;

		if (!state_file(e->d_name) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL ||
		    (v[l->n] = strdup(e->d_name)) == NULL) {
			if (v)
				l->v = v;
			closedir(d);
			names_free(l);
			return vm_err("out of memory");
		}
		l->v = v;
		l->n++;
	}
	closedir(d);
	return 0;
}

static bool names_has(const struct names *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st, (void)type, (void)f;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool no_reflink(int e)
{
	return e == EOPNOTSUPP || e == EXDEV || e == EINVAL || e == ENOTTY || e == ENOSYS;
}

static const char *why_reflink =
    "needs a filesystem with reflinks (XFS made with reflink=1, or btrfs)";

/* SRC reflinked to DST (created; or replaced when REPLACE). -1 with errno. */
static int reflink(const char *src, const char *dst, bool replace)
{
	struct stat st;
	int in, out, e;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(in, &st) != 0 ||
	    (out = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | (replace ? O_TRUNC : O_EXCL),
		st.st_mode & 07777)) < 0) {
		e = errno;
		close(in);
		errno = e;
		return -1;
	}
	if (ioctl(out, FICLONE, in) != 0) {
		e = errno;
		close(in);
		close(out);
		unlink(dst);
		errno = e;
		return -1;
	}
	close(in);
	if (close(out) != 0) {
		e = errno;
		unlink(dst);
		errno = e;
		return -1;
	}
	return 0;
}

/* One line for a failed reflink of SRC for command CMD. */
static int reflink_err(const char *cmd, const char *src, int e)
{
	if (no_reflink(e))
		return vm_err("vm %s %s: %s cannot share blocks (%s)", cmd, why_reflink, src, strerror(e));
	return vm_err("vm %s: cannot reflink %s: %s", cmd, src, strerror(e));
}

/* Refuses ZFS, and disks that are not files in the guest's directory. */
static int check_storage(const char *cmd, const char *name, const char *dir)
{
	char path[8400], key[64];
	struct statfs sf;
	struct vmconf *c;
	const char *v;

	if (statfs(dir, &sf) == 0 && (unsigned long)sf.f_type == ZFS_SUPER_MAGIC)
		return vm_err("vm %s: %s is on ZFS but is not a guest dataset vm made in a \"zfs:POOL/DATASET\" datastore, and ZFS has no reflinks",
		    cmd, dir);
	snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	if ((c = conf_load(path)) == NULL)
		return vm_err("cannot read %s: %s", path, strerror(errno));
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "disk%d_name", i);
		if (conf_get(c, key) == NULL)
			break;
		snprintf(key, sizeof(key), "disk%d_dev", i);
		v = conf_get_def(c, key, "file");
		if (strcmp(v, "file") != 0) {
			/* zvols are copied only with the guest's dataset, on ZFS. */
			conf_free(c);
			return vm_err("vm %s: disk%d of %s is disk%d_dev=\"%s\": only file disks in the guest's directory can be copied",
			    cmd, i, name, i, v);
		}
	}
	conf_free(c);
	return 0;
}

static bool snap_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.:", s[i]))
			return false;
	return true;
}

/* "NAME[@SNAP]" split; snap "" when absent. */
static int split_at(const char *arg, char *name, size_t nn, char *snap, size_t sn)
{
	const char *at = strchr(arg, '@');
	size_t len = at ? (size_t)(at - arg) : strlen(arg);

	if (len == 0 || len >= nn)
		return -1;
	memcpy(name, arg, len);
	name[len] = '\0';
	snprintf(snap, sn, "%s", at ? at + 1 : "");
	if (at && !snap_name_valid(snap))
		return -1;
	return 0;
}

static int running_err(const char *cmd, const char *name, const char *dir, bool *running)
{
	pid_t pid = 0;
	char host[256] = "";

	switch (guest_state(dir, &pid, host, sizeof(host))) {
	case GUEST_STOPPED:
		*running = false;
		return 0;
	case GUEST_LOCKED:
		*running = true;
		return vm_err("vm %s: %s is locked by host %s", cmd, name, host);
	default:
		*running = true;
		return vm_err("vm %s: %s is running (pid %d): stop it first%s", cmd, name, (int)pid,
		    strcmp(cmd, "snapshot") == 0 ? " (or use -f)" : "");
	}
}

static long long snap_created(const char *snapdir)
{
	char path[8400];
	long long t = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/.created", snapdir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%lld", &t) != 1)
			t = 0;
		fclose(f);
	}
	return t;
}

static void random_bytes(unsigned char *b, size_t n)
{
	if (getrandom(b, n, 0) != (ssize_t)n)
		for (size_t i = 0; i < n; i++)
			b[i] = (unsigned char)(rand() ^ (int)time(NULL));
}

/* The clone's configuration: FROM with a new uuid and new MAC addresses, as
 * vm-bhyve's clone gives (networkN_mac for every networkN_type), saved as TO. */
static int clone_conf(const char *from, const char *to)
{
	char key[64], val[64];
	unsigned char r[3];
	struct vmconf *c;
	int rc = 1;

	if (guest_uuid(val, sizeof(val)) != 0)
		return vm_err("cannot make a uuid: %s", strerror(errno));
	if ((c = conf_load(from)) == NULL)
		return vm_err("cannot read %s: %s", from, strerror(errno));
	if (conf_set(c, "uuid", val) != 0)
		goto oom;
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "network%d_type", i);
		if (conf_get(c, key) == NULL)
			break;
		/* 20 random bits, the form of vm-bhyve's generated MACs. */
		random_bytes(r, sizeof(r));
		snprintf(key, sizeof(key), "network%d_mac", i);
		snprintf(val, sizeof(val), "58:9c:fc:%02x:%02x:%02x", r[0] & 0x0f, r[1], r[2]);
		if (conf_set(c, key, val) != 0)
			goto oom;
	}
	rc = conf_save(c, to) != 0 ? vm_err("cannot write %s: %s", to, strerror(errno)) : 0;
	conf_free(c);
	return rc;
oom:
	conf_free(c);
	return vm_err("out of memory");
}

/* Removes DIR's run-time files (run_files, above). */
static void drop_run_files(const char *dir)
{
	char path[8400];

	for (size_t i = 0; i < sizeof(run_files) / sizeof(run_files[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, run_files[i]) < sizeof(path))
			unlink(path);
	}
}

/* Every dataset and zvol of guest dataset DS into list, a name a line; -1
 * after one line when one of them has no snapshot SNAP (made after it) or,
 * with LATEST, has a snapshot later than SNAP (zfs rollback refuses those
 * without -r: found here, before any dataset is rolled back). */
static int zfs_all_have(const char *ds, const char *snap, bool latest, char *list, size_t n)
{
	static char snaps[65536];
	char want[8400], later[8400], *p, *e;
	const char *at, *next;

	/* Oldest first, so that what follows a snapshot is later than it. */
	if (zfs_children(ds, list, n) != 0 ||
	    zfs_cmd(snaps + 1, sizeof(snaps) - 1, "list", "-H", "-o", "name", "-t", "snapshot", "-s",
		"createtxg", "-r", ds, (char *)NULL) != 0)
		return -1;
	snaps[0] = '\n';	/* every line, the first too, starts after a newline */
	for (p = list; *p; p = *e ? e + 1 : e) {
		size_t len;

		e = strchrnul(p, '\n');
		len = (size_t)(e - p);
		if (len == 0)
			continue;
		snprintf(want, sizeof(want), "\n%.*s@%s\n", (int)len, p, snap);
		if ((at = strstr(snaps, want)) == NULL) {
			if (p == list)	/* the guest's own dataset */
				return vm_err("snapshot %s@%s does not exist", ds, snap);
			return vm_err("%.*s has no snapshot @%s (it was made after the snapshot); nothing was changed",
			    (int)len, p, snap);
		}
		snprintf(later, sizeof(later), "\n%.*s@", (int)len, p);
		if (latest && (next = strstr(at + strlen(want) - 1, later)) != NULL)
			return vm_err("more recent snapshots of %.*s exist (%.*s): use -r to destroy them",
			    (int)len, p, (int)strcspn(next + 1, "\n"), next + 1);
	}
	return 0;
}

/* The clone on ZFS (vm-bhyve's __zfs_clone): every dataset and zvol of the
 * guest cloned from SNAP (made now, from the stopped guest, when "") to the
 * same place below NEW's dataset, then NEW's configuration. On failure
 * nothing is left: neither clones nor the snapshot made for them. */
static int zfs_clone(const char *name, const char *snap, const char *dir, const char *ds,
    const char *new, const char *ndir)
{
	static char list[65536];
	char tag[80] = "", from[8700], to[8700], root[8700], *save = NULL, *fs, *base;
	unsigned char r[4];
	bool running, cloned = false;
	size_t dl = strlen(ds);
	int rc = 1;

	snprintf(to, sizeof(to), "%s", ds);
	if ((base = strrchr(to, '/')) == NULL)
		return vm_err("%s is a pool's top dataset, not a guest's", ds);
	snprintf(root, sizeof(root), "%.*s%s", (int)(base + 1 - to), to, new);
	if (*snap == '\0') {
		if (running_err("clone", name, dir, &running) != 0)
			return 1;
		random_bytes(r, sizeof(r));
		snprintf(tag, sizeof(tag), "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
		snprintf(from, sizeof(from), "%s@%s", ds, tag);
		if (zfs_cmd(NULL, 0, "snapshot", "-r", from, (char *)NULL) != 0)
			return 1;
		snap = tag;
	}
	if (zfs_all_have(ds, snap, false, list, sizeof(list)) != 0)
		goto out;
	for (fs = strtok_r(list, "\n", &save); fs; fs = strtok_r(NULL, "\n", &save)) {
		if (strncmp(fs, ds, dl) != 0 || (fs[dl] != '\0' && fs[dl] != '/'))
			continue;
		snprintf(from, sizeof(from), "%s@%s", fs, snap);
		snprintf(base + 1, sizeof(to) - (size_t)(base + 1 - to), "%s%s", new, fs + dl);
		if (zfs_cmd(NULL, 0, "clone", from, to, (char *)NULL) != 0)
			goto out;
		cloned = true;
	}
	snprintf(from, sizeof(from), "%s/%s.conf", ndir, name);
	snprintf(to, sizeof(to), "%s/%s.conf", ndir, new);
	if (access(from, F_OK) != 0) {
		vm_err("cloned %s@%s, but %s is not there", ds, snap, from);
		goto out;
	}
	if (clone_conf(from, to) != 0)
		goto out;
	unlink(from);
	snprintf(from, sizeof(from), "%s/vm-bhyve.log", ndir);
	unlink(from);
	drop_run_files(ndir);
	rc = 0;
out:
	if (rc != 0 && cloned)
		zfs_destroy(root);
	if (rc != 0 && *tag) {
		snprintf(from, sizeof(from), "%s@%s", ds, tag);
		zfs_cmd(NULL, 0, "destroy", "-r", from, (char *)NULL);
	}
	return rc;
}

/* vm clone NAME[@SNAP] NEW */
int cmd_clone(struct vmhost *h, int argc, char **argv)
{
	char name[64], snap[80], dir[4096], src[8400], ndir[8400], *slash;
	char from[8600], to[8600], cname[80], ds[4096];
	struct names files;
	bool running;
	int rc = 1;

	if (argc != 3 || split_at(argv[1], name, sizeof(name), snap, sizeof(snap)) != 0)
		return vm_err("usage: vm clone name[@snapshot] new-name");
	if (host_need_dir(h) != 0)
		return 1;
	if (guest_find(h, name, dir, sizeof(dir), NULL, 0) != 0)
		return vm_err("%s does not appear to be an existing virtual machine", name);
	if (!guest_name_valid(argv[2]))
		return vm_err("invalid name '%s' (letters, digits, - _ and ., at most 31)", argv[2]);
	if (guest_find(h, argv[2], ndir, sizeof(ndir), NULL, 0) == 0)
		return vm_err("a guest named %s already exists", argv[2]);
	snprintf(ndir, sizeof(ndir), "%s", dir);
	if ((slash = strrchr(ndir, '/')) == NULL)
		return vm_err("bad guest directory %s", dir);
	snprintf(slash + 1, sizeof(ndir) - (size_t)(slash + 1 - ndir), "%s", argv[2]);
	if (access(ndir, F_OK) == 0)
		return vm_err("directory %s already exists", ndir);
	if (guest_zfs(h, name, ds, sizeof(ds)) == 0)
		return zfs_clone(name, snap, dir, ds, argv[2], ndir);
	if (check_storage("clone", name, dir) != 0)
		return 1;
	if (*snap) {
		snprintf(src, sizeof(src), "%s/.snapshots/%s", dir, snap);
		if (access(src, F_OK) != 0)
			return vm_err("snapshot %s@%s does not exist", name, snap);
	} else {
		if (running_err("clone", name, dir, &running) != 0)
			return 1;
		snprintf(src, sizeof(src), "%s", dir);
	}
	if (state_files(src, &files) != 0)
		return 1;
	if (mkdir(ndir, 0755) != 0) {
		names_free(&files);
		return vm_err("cannot create %s: %s", ndir, strerror(errno));
	}
	snprintf(cname, sizeof(cname), "%s.conf", name);
	for (size_t i = 0; i < files.n; i++) {
		if (strcmp(files.v[i], cname) == 0)
			continue;	/* written below */
		snprintf(from, sizeof(from), "%s/%s", src, files.v[i]);
		snprintf(to, sizeof(to), "%s/%s", ndir, files.v[i]);
		if (reflink(from, to, false) != 0) {
			reflink_err("clone", from, errno);
			goto out;
		}
	}
	snprintf(from, sizeof(from), "%s/%s.conf", src, name);
	snprintf(to, sizeof(to), "%s/%s.conf", ndir, argv[2]);
	if (clone_conf(from, to) != 0)
		goto out;
	rc = 0;
out:
	names_free(&files);
	if (rc != 0)
		rm_tree(ndir);
	return rc;
}

/* vm snapshot [-f] NAME[@SNAP] */
int cmd_snapshot(struct vmhost *h, int argc, char **argv)
{
	char name[64], snap[80], dir[4096], sdir[8400], from[8600], to[8600], ds[4096];
	struct names files;
	struct timespec ts;
	bool force = false, running = false, zfs;
	int i = 1;
	FILE *f;

	if (argc > 1 && strcmp(argv[1], "-f") == 0)
		force = true, i++;
	if (argc != i + 1 || split_at(argv[i], name, sizeof(name), snap, sizeof(snap)) != 0)
		return vm_err("usage: vm snapshot [-f] name[@snapshot] (snapshot: letters, digits, - _ . :)");
	if (host_need_dir(h) != 0)
		return 1;
	if (guest_find(h, name, dir, sizeof(dir), NULL, 0) != 0)
		return vm_err("%s does not appear to be an existing virtual machine", name);
	zfs = guest_zfs(h, name, ds, sizeof(ds)) == 0;
	if (!zfs && check_storage("snapshot", name, dir) != 0)
		return 1;
	if (!force && running_err("snapshot", name, dir, &running) != 0)
		return 1;
	if (*snap == '\0') {		/* vm-bhyve's default name */
		time_t now = time(NULL);
		strftime(snap, sizeof(snap), "%Y-%m-%d-%H:%M:%S", localtime(&now));
	}
	if (zfs) {
		snprintf(from, sizeof(from), "%s@%s", ds, snap);
		return zfs_cmd(NULL, 0, "snapshot", "-r", from, (char *)NULL);
	}
	snprintf(sdir, sizeof(sdir), "%s/.snapshots", dir);
	if (mkdir(sdir, 0755) != 0 && errno != EEXIST)
		return vm_err("cannot create %s: %s", sdir, strerror(errno));
	snprintf(sdir, sizeof(sdir), "%s/.snapshots/%s", dir, snap);
	if (mkdir(sdir, 0755) != 0)
		return errno == EEXIST ? vm_err("snapshot %s@%s already exists", name, snap)
				       : vm_err("cannot create %s: %s", sdir, strerror(errno));
	if (state_files(dir, &files) != 0) {
		rm_tree(sdir);
		return 1;
	}
	for (size_t k = 0; k < files.n; k++) {
		snprintf(from, sizeof(from), "%s/%s", dir, files.v[k]);
		snprintf(to, sizeof(to), "%s/%s", sdir, files.v[k]);
		if (reflink(from, to, false) != 0) {
			reflink_err("snapshot", from, errno);
			names_free(&files);
			rm_tree(sdir);
			return 1;
		}
	}
	names_free(&files);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(to, sizeof(to), "%s/.created", sdir);
	if ((f = fopen(to, "w")) == NULL ||
	    fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec) < 0 ||
	    fclose(f) != 0) {
		rm_tree(sdir);
		return vm_err("cannot write %s: %s", to, strerror(errno));
	}
	return 0;
}

/* The rollback on ZFS (vm-bhyve's __zfs_rollback): each dataset and zvol of
 * the guest to SNAP; zfs refuses when later snapshots exist, unless -r. A
 * zvol made after SNAP is refused before anything changes. */
static int zfs_rollback(const char *name, const char *snap, const char *dir, const char *ds,
    bool destroy)
{
	static char list[65536];
	char at[8400], *save = NULL, *fs;
	bool running;

	if (running_err("rollback", name, dir, &running) != 0)
		return 1;
	if (zfs_all_have(ds, snap, !destroy, list, sizeof(list)) != 0)
		return 1;
	for (fs = strtok_r(list, "\n", &save); fs; fs = strtok_r(NULL, "\n", &save)) {
		snprintf(at, sizeof(at), "%s@%s", fs, snap);
		if (zfs_cmd(NULL, 0, "rollback", destroy ? "-r" : at, destroy ? at : (char *)NULL,
		    (char *)NULL) != 0) {
			/* The guest's own dataset may be back already: its
			 * run-time files must not be. */
			drop_run_files(dir);
			if (fs != list)
				vm_err("%s is rolled back only in part (up to the dataset before %s)", name, fs);
			return 1;
		}
	}
	drop_run_files(dir);
	return 0;
}

/* vm rollback [-r] NAME@SNAP */
int cmd_rollback(struct vmhost *h, int argc, char **argv)
{
	char name[64], snap[80], dir[4096], sdir[8400], other[8700], from[8600], to[8700];
	char later[1024] = "";
	struct names files, cur;
	struct dirent *e;
	bool destroy = false, running;
	long long t;
	int i = 1;
	DIR *d;

	if (argc > 1 && strcmp(argv[1], "-r") == 0)
		destroy = true, i++;
	if (argc != i + 1 || split_at(argv[i], name, sizeof(name), snap, sizeof(snap)) != 0)
		return vm_err("usage: vm rollback [-r] name@snapshot");
	if (*snap == '\0')
		return vm_err("a snapshot name must be provided in guest@snapshot format");
	if (host_need_dir(h) != 0)
		return 1;
	if (guest_find(h, name, dir, sizeof(dir), NULL, 0) != 0)
		return vm_err("%s does not appear to be an existing virtual machine", name);
	if (guest_zfs(h, name, other, sizeof(other)) == 0)
		return zfs_rollback(name, snap, dir, other, destroy);
	if (check_storage("rollback", name, dir) != 0)
		return 1;
	snprintf(sdir, sizeof(sdir), "%s/.snapshots/%s", dir, snap);
	if (access(sdir, F_OK) != 0)
		return vm_err("snapshot %s@%s does not exist", name, snap);
	if (running_err("rollback", name, dir, &running) != 0)
		return 1;

	/* Later snapshots: refused without -r, as zfs rollback does. */
	t = snap_created(sdir);
	snprintf(other, sizeof(other), "%s/.snapshots", dir);
	if ((d = opendir(other)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char p[9000];

			if (e->d_name[0] == '.' || strcmp(e->d_name, snap) == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", other, e->d_name);
			if (snap_created(p) <= t)
				continue;
			if (destroy)
				rm_tree(p);
			else if (strlen(later) + strlen(e->d_name) + 2 < sizeof(later))
				snprintf(later + strlen(later), sizeof(later) - strlen(later), " %s", e->d_name);
		}
		closedir(d);
	}
	if (*later)
		return vm_err("more recent snapshots of %s exist (%s): use -r to destroy them", name, later + 1);

	if (state_files(sdir, &files) != 0)
		return 1;
	/* Each file reflinked beside its place, then renamed over it. */
	for (size_t k = 0; k < files.n; k++) {
		snprintf(from, sizeof(from), "%s/%s", sdir, files.v[k]);
		snprintf(to, sizeof(to), "%s/.%s.rollback", dir, files.v[k]);
		if (reflink(from, to, true) != 0) {
			reflink_err("rollback", from, errno);
			names_free(&files);
			return 1;
		}
		snprintf(other, sizeof(other), "%s/%s", dir, files.v[k]);
		if (rename(to, other) != 0) {
			int err = errno;
			unlink(to);
			names_free(&files);
			return vm_err("cannot replace %s: %s", other, strerror(err));
		}
	}
	/* Files made since the snapshot go, as in a ZFS rollback. */
	if (state_files(dir, &cur) == 0) {
		for (size_t k = 0; k < cur.n; k++)
			if (!names_has(&files, cur.v[k])) {
				snprintf(other, sizeof(other), "%s/%s", dir, cur.v[k]);
				unlink(other);
			}
		names_free(&cur);
	}
	names_free(&files);
	return 0;
}
