/* Host settings (vm.h), guest lookup across datastores, and the commands that
 * set the host up: init, datastore. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "vm.h"

int host_load(struct vmhost *h)
{
	const char *p = getenv("VM_CONF"), *dir;

	memset(h, 0, sizeof(*h));
	snprintf(h->conf_path, sizeof(h->conf_path), "%s", p && *p ? p : "/etc/vm.conf");
	h->conf = conf_load(h->conf_path);
	if (h->conf == NULL && errno != ENOENT)
		return vm_err("cannot read %s: %s", h->conf_path, strerror(errno));
	if (h->conf == NULL && (h->conf = conf_new()) == NULL)
		return vm_err("out of memory");
	dir = conf_get_def(h->conf, "vm_dir", "");
	snprintf(h->vm_dir, sizeof(h->vm_dir), "%s", dir);
	/* vm_dir="zfs:DATASET": the dataset's mountpoint (vm-bhyve's __zfs_init);
	 * vm_dir stays "zfs:..." while it is not mounted (host_need_dir says so). */
	if (strncmp(dir, "zfs:", 4) == 0) {
		snprintf(h->zfs_dataset, sizeof(h->zfs_dataset), "%s", dir + 4);
		if (zfs_mountpoint(h->zfs_dataset, h->vm_dir, sizeof(h->vm_dir), true) != 0)
			snprintf(h->vm_dir, sizeof(h->vm_dir), "%s", dir);
	}
	if (*h->vm_dir && strncmp(h->vm_dir, "zfs:", 4) != 0) {
		snprintf(h->sys_path, sizeof(h->sys_path), "%s/.config/system.conf", h->vm_dir);
		h->sys = conf_load(h->sys_path);
		if (h->sys == NULL && errno != ENOENT)
			return vm_err("cannot read %s: %s", h->sys_path, strerror(errno));
	}
	if (h->sys == NULL && (h->sys = conf_new()) == NULL)
		return vm_err("out of memory");
	return 0;
}

int host_need_dir(struct vmhost *h)
{
	struct stat st;
	char cfg[4200];

	if (*h->vm_dir == '\0')
		return vm_err("vm_dir is not set in %s (add vm_dir=\"/path/to/vms\" there, then run vm init)",
		    h->conf_path);
	if (strncmp(h->vm_dir, "zfs:", 4) == 0) {
		char mnt[4096];

		if (zfs_mountpoint(h->vm_dir + 4, mnt, sizeof(mnt), false) == 0)
			vm_err("%s was mounted just now: run the command again", h->vm_dir);
		return -1;
	}
	snprintf(cfg, sizeof(cfg), "%s/.config", h->vm_dir);
	if (stat(cfg, &st) != 0 || !S_ISDIR(st.st_mode))
		return vm_err("%s is not set up: run vm init", h->vm_dir);
	return 0;
}

int host_save_sys(const struct vmhost *h)
{
	if (conf_save(h->sys, h->sys_path) != 0)
		return vm_err("cannot write %s: %s", h->sys_path, strerror(errno));
	return 0;
}

void host_free(struct vmhost *h)
{
	conf_free(h->conf);
	conf_free(h->sys);
	h->conf = h->sys = NULL;
}

bool guest_name_valid(const char *name)
{
	size_t n = strlen(name);

	/* vm-bhyve: a letter or digit at each end, so at least two characters. */
	if (n < 2 || n > 31 || !isalnum((unsigned char)name[0]) ||
	    !isalnum((unsigned char)name[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("-_.", name[i]))
			return false;
	return true;
}

int datastore_dir(const struct vmhost *h, const char *ds, char *dir, size_t n)
{
	char key[128];
	const char *p;

	if (strcmp(ds, "default") == 0)
		p = h->vm_dir;
	else if (snprintf(key, sizeof(key), "path_%s", ds) < (int)sizeof(key))
		p = conf_get(h->sys, key);
	else
		p = NULL;
	if (p == NULL || *p == '\0' || strncmp(p, "iso:", 4) == 0)
		return -1;
	if (strncmp(p, "zfs:", 4) == 0 && strcmp(ds, "default") != 0)
		return zfs_mountpoint(p + 4, dir, n, true);
	if ((size_t)snprintf(dir, n, "%s", p) >= n || strncmp(dir, "zfs:", 4) == 0)
		return -1;
	return 0;
}

int datastore_zfs(const struct vmhost *h, const char *ds, char *out, size_t n)
{
	char key[128];
	const char *p;

	if (strcmp(ds, "default") == 0)
		p = *h->zfs_dataset ? h->zfs_dataset : NULL;
	else if (snprintf(key, sizeof(key), "path_%s", ds) < (int)sizeof(key) &&
	    (p = conf_get(h->sys, key)) != NULL && strncmp(p, "zfs:", 4) == 0)
		p += 4;
	else
		p = NULL;
	if (p == NULL || (size_t)snprintf(out, n, "%s", p) >= n)
		return -1;
	return 0;
}

int guest_zfs(const struct vmhost *h, const char *name, char *out, size_t n)
{
	char dir[4096], ds[160], zds[4096], want[4200], got[4200];

	if (guest_find(h, name, dir, sizeof(dir), ds, sizeof(ds)) != 0 ||
	    datastore_zfs(h, ds, zds, sizeof(zds)) != 0 ||
	    (size_t)snprintf(want, sizeof(want), "%s/%s", zds, name) >= sizeof(want) ||
	    zfs_dataset_at(dir, got, sizeof(got)) != 0 || strcmp(got, want) != 0 ||
	    (size_t)snprintf(out, n, "%s", got) >= n)
		return -1;
	return 0;
}

int guest_find(const struct vmhost *h, const char *name, char *dir, size_t n,
    char *ds, size_t dsn)
{
	char base[4096], conf[8400], list[4096], *save = NULL, *w;
	struct stat st;

	if (!guest_name_valid(name))
		return -1;
	snprintf(list, sizeof(list), "default %s", conf_get_def(h->sys, "datastore_list", ""));
	for (w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (datastore_dir(h, w, base, sizeof(base)) != 0)
			continue;
		snprintf(conf, sizeof(conf), "%s/%s/%s.conf", base, name, name);
		if (stat(conf, &st) != 0)
			continue;
		if ((size_t)snprintf(dir, n, "%s/%s", base, name) >= n)
			return -1;
		if (ds)
			snprintf(ds, dsn, "%s", w);
		return 0;
	}
	return -1;
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void warn(const char *fmt, ...)
{
	va_list ap;

	fputs("vm: WARNING: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* What guests need from this host; one line for each thing missing. */
static void check_host(void)
{
	struct utsname u;
	struct stat st;
	char mod[512];
	int fd;

	if (stat("/dev/kvm", &st) != 0)
		warn("/dev/kvm is missing: enable VT-x/AMD-V in the firmware and load kvm_intel or kvm_amd (modprobe kvm_intel); guests cannot start without it");
	else if ((fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
		warn("/dev/kvm cannot be opened (%s): run vm as root or add the user to the kvm group",
		    strerror(errno));
	else
		close(fd);
	if (stat("/dev/net/tun", &st) != 0)
		warn("/dev/net/tun is missing: modprobe tun (guests' network devices need it)");
	mod[0] = '\0';
	if (uname(&u) == 0)
		snprintf(mod, sizeof(mod), "/lib/modules/%s/kernel/net/bridge", u.release);
	if (stat("/sys/module/bridge", &st) != 0 && (*mod == '\0' || stat(mod, &st) != 0))
		warn("no bridge support in this kernel: modprobe bridge (virtual switches need it)");
	if (stat("/usr/share/OVMF/OVMF_CODE.fd", &st) != 0)
		warn("/usr/share/OVMF/OVMF_CODE.fd is missing: apt-get install ovmf (loader=\"uefi\" needs it)");
	if (stat("/usr/share/seabios/bios.bin", &st) != 0)
		warn("/usr/share/seabios/bios.bin is missing: apt-get install seabios (loader=\"uefi-csm\" needs it)");
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return vm_err("cannot create %s: %s", path, strerror(errno));
	return 0;
}

int cmd_init(struct vmhost *h, int argc, char **argv)
{
	static const char *const sub[] = { ".config", ".templates", ".iso", ".img" };
	char path[4200];
	struct stat st;

	(void)argv;
	if (argc > 1)
		return vm_err("usage: vm init");
	if (*h->vm_dir == '\0' || strncmp(h->vm_dir, "zfs:", 4) == 0)
		return host_need_dir(h) != 0;
	if (make_dir(h->vm_dir) != 0)
		return 1;
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", h->vm_dir, sub[i]);
		if (make_dir(path) != 0)
			return 1;
	}
	if (stat(h->sys_path, &st) != 0 && host_save_sys(h) != 0)
		return 1;
	if (templates_install(h) != 0)
		return 1;
	check_host();
	return switch_init_all(h) != 0;
}

/* vm datastore list: vm-bhyve's table. */
static int datastore_list(const struct vmhost *h)
{
	char list[4096], key[160], *save = NULL, *w;
	const char *spec;

	printf("%-15s %-11s %-25s %s\n", "NAME", "TYPE", "PATH", "ZFS DATASET");
	printf("%-15s %-11s %-25s %s\n", "default", *h->zfs_dataset ? "zfs" : "directory",
	    h->vm_dir, *h->zfs_dataset ? h->zfs_dataset : "-");
	snprintf(list, sizeof(list), "%s", conf_get_def(h->sys, "datastore_list", ""));
	for (w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		snprintf(key, sizeof(key), "path_%s", w);
		if ((spec = conf_get(h->sys, key)) == NULL || *spec == '\0')
			continue;
		if (strncmp(spec, "zfs:", 4) == 0) {
			char mnt[4096];

			if (zfs_mountpoint(spec + 4, mnt, sizeof(mnt), true) != 0)
				snprintf(mnt, sizeof(mnt), "-");
			printf("%-15s %-11s %-25s %s\n", w, "zfs", mnt, spec + 4);
		}
		else if (strncmp(spec, "iso:", 4) == 0)
			printf("%-15s %-11s %-25s %s\n", w, "iso", spec + 4, "-");
		else
			printf("%-15s %-11s %-25s %s\n", w, "directory", spec, "-");
	}
	return 0;
}

/* vm datastore add NAME PATH, vm datastore iso NAME PATH. */
static int datastore_add(struct vmhost *h, const char *name, const char *path, bool iso)
{
	char key[160], spec[4200], real[PATH_MAX], vmreal[PATH_MAX];
	struct stat st;

	if (!guest_name_valid(name))
		return vm_err("invalid datastore name '%s' (letters, digits, - _ . ; at most 31)", name);
	if (strcmp(name, "default") == 0 || conf_list_has(h->sys, "datastore_list", name))
		return vm_err("datastore '%s' already exists", name);
	if (strncmp(path, "zfs:", 4) == 0) {
		/* vm-bhyve's rule: the dataset must exist and be mounted. */
		if (iso)
			return vm_err("an iso datastore is a directory, not %s", path);
		if (zfs_mountpoint(path + 4, real, sizeof(real), false) != 0)
			return 1;
		if (strcmp(real, h->vm_dir) == 0)
			return vm_err("%s is already the default datastore", path);
		snprintf(key, sizeof(key), "path_%s", name);
		if (conf_list_add(h->sys, "datastore_list", name) != 0 || conf_set(h->sys, key, path) != 0)
			return vm_err("out of memory");
		return host_save_sys(h);
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return vm_err("%s is not a directory (create it first)", path);
	if (realpath(path, real) == NULL)
		return vm_err("%s: %s", path, strerror(errno));
	if (realpath(h->vm_dir, vmreal) != NULL && strcmp(real, vmreal) == 0)
		return vm_err("%s is already the default datastore", path);
	snprintf(key, sizeof(key), "path_%s", name);
	snprintf(spec, sizeof(spec), "%s%s", iso ? "iso:" : "", real);
	if (conf_list_add(h->sys, "datastore_list", name) != 0 || conf_set(h->sys, key, spec) != 0)
		return vm_err("out of memory");
	return host_save_sys(h);
}

static int datastore_remove(struct vmhost *h, const char *name)
{
	char key[160];

	if (strcmp(name, "default") == 0)
		return vm_err("cannot remove the default datastore");
	if (!conf_list_has(h->sys, "datastore_list", name))
		return vm_err("no datastore '%s' (vm datastore list shows them)", name);
	snprintf(key, sizeof(key), "path_%s", name);
	if (conf_list_remove(h->sys, "datastore_list", name) != 0 || conf_set(h->sys, key, NULL) != 0)
		return vm_err("out of memory");
	return host_save_sys(h);
}

int cmd_datastore(struct vmhost *h, int argc, char **argv)
{
	if (host_need_dir(h) != 0)
		return 1;
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return datastore_list(h);
	if (argc == 4 && strcmp(argv[1], "add") == 0)
		return datastore_add(h, argv[2], argv[3], false);
	if (argc == 4 && strcmp(argv[1], "iso") == 0)
		return datastore_add(h, argv[2], argv[3], true);
	if (argc == 3 && strcmp(argv[1], "remove") == 0)
		return datastore_remove(h, argv[2]);
	return vm_err("usage: vm datastore list | add name path|zfs:pool/dataset | iso name path | remove name");
}
