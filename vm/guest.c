/* create, destroy, rename, add, set, get, configure, and the example
 * templates vm init writes: vm-bhyve's commands on a guest's NAME/NAME.conf. */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vm.h"

/* The examples in .templates. loader="bhyveload" (vm-bhyve's default) needs a
 * FreeBSD loader this project does not have yet, so default.conf boots UEFI. */
static const struct {
	const char *name, *text;
} templates[] = {
	{ "default", "# The template vm create uses without -t.\n"
	    "loader=\"uefi\"\ncpu=1\nmemory=512M\n"
	    "network0_type=\"virtio-net\"\nnetwork0_switch=\"public\"\n"
	    "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\n" },
	{ "debian", "# Debian from its netinst ISO (vm install NAME debian-*.iso).\n"
	    "# loader=\"uefi-csm\" boots it through SeaBIOS instead.\n"
	    "loader=\"uefi\"\ncpu=1\nmemory=1G\n"
	    "network0_type=\"virtio-net\"\nnetwork0_switch=\"public\"\n"
	    "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\n" },
	{ "alpine", "# Alpine Linux through grub-bhyve: the installer from the ISO, then\n"
	    "# GRUB's configuration in /boot/grub on the first partition.\n"
	    "loader=\"grub\"\ncpu=1\nmemory=512M\n"
	    "network0_type=\"virtio-net\"\nnetwork0_switch=\"public\"\n"
	    "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\n"
	    "grub_run_partition=\"1\"\ngrub_run_dir=\"/boot/grub\"\n" },
	{ "ubuntu-cloud", "# An Ubuntu cloud image: vm img URL, then\n"
	    "# vm create -t ubuntu-cloud -i noble-server-cloudimg-amd64.img -C -k ~/.ssh/id_ed25519.pub NAME\n"
	    "loader=\"uefi\"\ncpu=2\nmemory=2G\n"
	    "network0_type=\"virtio-net\"\nnetwork0_switch=\"public\"\n"
	    "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\ndisk0_size=\"10G\"\n" },
	{ "freebsd", "# FreeBSD through UEFI (bhyveload is not there yet).\n"
	    "loader=\"uefi\"\ncpu=1\nmemory=1G\n"
	    "network0_type=\"virtio-net\"\nnetwork0_switch=\"public\"\n"
	    "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\n" },
	{ "windows", "# Windows through UEFI, installed over VNC (graphics). bhyve here has\n"
	    "# no e1000: Windows needs virtio-win's NetKVM driver for its network.\n"
	    "# Debian's OVMF takes at most 2816M of memory (Q35's ECAM, bhyve(8)).\n"
	    "loader=\"uefi\"\ngraphics=\"yes\"\nxhci_mouse=\"yes\"\ncpu=2\nmemory=2816M\n"
	    "network0_type=\"virtio-net\"\nnetwork0_switch=\"public\"\n"
	    "disk0_type=\"ahci-hd\"\ndisk0_name=\"disk0.img\"\ndisk0_opts=\"sectorsize=512\"\n"
	    "disk0_size=\"64G\"\nutctime=\"no\"\n" },
};

int templates_install(const struct vmhost *h)
{
	char path[4300];
	FILE *f;

	for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++) {
		snprintf(path, sizeof(path), "%s/.templates/%s.conf", h->vm_dir, templates[i].name);
		if (access(path, F_OK) == 0)
			continue;	/* the user's own edits stay */
		if ((f = fopen(path, "w")) == NULL)
			return vm_err("cannot write %s: %s", path, strerror(errno));
		fputs(templates[i].text, f);
		if (fclose(f) != 0)
			return vm_err("cannot write %s: %s", path, strerror(errno));
	}
	return 0;
}

int parse_size(const char *s, uint64_t *bytes)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (toupper((unsigned char)*p)) {
	case 'K': mul = 1ULL << 10; p++; break;
	case 'M': mul = 1ULL << 20; p++; break;
	case 'G': mul = 1ULL << 30; p++; break;
	case 'T': mul = 1ULL << 40; p++; break;
	default: break;
	}
	if (mul > 1 && toupper((unsigned char)*p) == 'B')
		p++;
	if (*p != '\0' || v == 0 || v > UINT64_MAX / mul || v * mul > (uint64_t)INT64_MAX)
		return -1;
	*bytes = v * mul;
	return 0;
}

int autostart_pos(const struct vmhost *h, const char *name)
{
	char list[4096], *save = NULL, *w;
	int n = 0;

	snprintf(list, sizeof(list), "%s", conf_get_def(h->conf, "vm_list", ""));
	for (w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		n++;
		if (strcmp(w, name) == 0)
			return n;
	}
	return 0;
}

static int random_fill(void *buf, size_t n)
{
	return getrandom(buf, n, 0) == (ssize_t)n ? 0 : -1;
}

int guest_uuid(char *out, size_t n)
{
	uint8_t b[16];

	if (random_fill(b, sizeof(b)) != 0)
		return -1;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	    b[13], b[14], b[15]);
	return 0;
}

/* bhyve's OUI and three random bytes. */
static int make_mac(char *out, size_t n)
{
	uint8_t b[3];

	if (random_fill(b, sizeof(b)) != 0)
		return -1;
	snprintf(out, n, "58:9c:fc:%02x:%02x:%02x", b[0], b[1], b[2]);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) != 0 ? -1 : 0;
}

static int rmtree(const char *dir)
{
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int name_check(const char *name)
{
	if (strlen(name) > 31)
		return vm_err("virtual machine name '%s' is too long: at most 31 characters (bhyve's limit)",
		    name);
	if (!guest_name_valid(name))
		return vm_err("invalid virtual machine name '%s' (letters, digits, - _ . ; beginning and ending with a letter or digit)",
		    name);
	return 0;
}

/* The guest NAME: its directory and configuration file, or one line. */
static int guest_open(const struct vmhost *h, const char *name, char *dir, size_t n,
    char *conf, size_t cn)
{
	if (host_need_dir((struct vmhost *)h) != 0)
		return -1;
	if (guest_find(h, name, dir, n, NULL, 0) != 0) {
		vm_err("%s doesn't appear to be a valid virtual machine", name);
		return -1;
	}
	snprintf(conf, cn, "%s/%s.conf", dir, name);
	return 0;
}

static struct vmconf *guest_conf(const char *path)
{
	struct vmconf *c = conf_load(path);

	if (c == NULL && errno != EINVAL)
		vm_err("cannot read %s: %s", path, strerror(errno));
	return c;
}

static int guest_save(const struct vmconf *c, const char *path)
{
	if (conf_save(c, path) != 0)
		return vm_err("cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* One line unless the guest is stopped. */
static int need_stopped(const char *dir, const char *name, const char *what)
{
	char host[256] = "";
	pid_t pid;

	switch (guest_state(dir, &pid, host, sizeof(host))) {
	case GUEST_STOPPED:
		return 0;
	case GUEST_LOCKED:
		return vm_err("%s is locked by host %s: cannot %s it", name, host, what);
	default:
		return vm_err("%s is running (pid %d): stop it before you %s it (vm stop %s)",
		    name, (int)pid, what, name);
	}
}

/* A new sparse file of SIZE bytes, readable by its owner alone. */
static int make_sparse(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return vm_err("cannot create %s: %s", path, strerror(errno));
	if (ftruncate(fd, (off_t)size) != 0) {
		int e = errno;

		close(fd);
		unlink(path);
		return vm_err("cannot size %s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

static int disk_size_of(const struct vmconf *c, int i, const char *override, uint64_t *size)
{
	char key[64];
	const char *s;

	snprintf(key, sizeof(key), "disk%d_size", i);
	s = override ? override : conf_get_def(c, key, "20G");
	if (parse_size(s, size) != 0)
		return vm_err("bad size '%s' (a number with K, M, G or T, e.g. 20G)", s);
	return 0;
}

struct create_opts {
	const char *ds, *tmpl, *size, *mem, *cpus, *image, *pubkey, *net;
	bool cloudinit;
};

/* Copies the raw image file SRC onto the block device DEV (a new zvol, which
 * reads as zeros: blocks of zeros are skipped, so a sparse zvol stays sparse). */
static int copy_to_device(const char *src, const char *dev)
{
	static char buf[1 << 16], zero[1 << 16];
	int in, out, rc = 0;
	off_t off = 0;
	ssize_t r;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return vm_err("cannot read %s: %s", src, strerror(errno));
	if ((out = open(dev, O_WRONLY | O_CLOEXEC)) < 0) {
		close(in);
		return vm_err("cannot open %s: %s", dev, strerror(errno));
	}
	while ((r = read(in, buf, sizeof(buf))) > 0) {
		if (memcmp(buf, zero, (size_t)r) != 0 && pwrite(out, buf, (size_t)r, off) != r) {
			rc = vm_err("cannot write %s: %s", dev, strerror(errno));
			break;
		}
		off += r;
	}
	if (r < 0)
		rc = vm_err("cannot read %s: %s", src, strerror(errno));
	if (rc == 0 && fsync(out) != 0)
		rc = vm_err("cannot write %s: %s", dev, strerror(errno));
	close(in);
	close(out);
	return rc;
}

/* Disk I of a guest in ZFS dataset GDS: the zvol GDS/DISK, of SIZE bytes or
 * as big as IMAGE (converted to raw in DIR first), IMAGE copied onto it. */
static int create_zvol(const char *dir, const char *gds, int i, const char *disk,
    const char *dev, uint64_t size, const char *image, const char *opts)
{
	char vol[4400], tmp[8400], devpath[4500];
	struct stat st;
	int rc;

	if (gds == NULL)
		return vm_err("disk%d_dev=\"%s\" needs a ZFS datastore (vm_dir or a datastore \"zfs:POOL/DATASET\")",
		    i, dev);
	if (strchr(disk, '/') || strchr(disk, '@'))
		return vm_err("disk%d_name=\"%s\": a zvol is named below the guest's dataset", i, disk);
	snprintf(vol, sizeof(vol), "%s/%s", gds, disk);
	if (image) {
		snprintf(tmp, sizeof(tmp), "%s/.%s.image", dir, disk);
		if (image_to_disk(image, tmp) != 0)
			return 1;
		if (stat(tmp, &st) == 0 && (uint64_t)st.st_size > size)
			size = (uint64_t)st.st_size;
	}
	rc = zfs_create(vol, opts, size ? size : 1, strcmp(dev, "sparse-zvol") == 0);
	if (rc == 0 && image) {
		/* udev may make /dev/zvol/... a moment after zfs returns. */
		for (int t = 0; t < 50 && zvol_device(vol, devpath, sizeof(devpath)) != 0; t++)
			usleep(100000);
		rc = zvol_device(vol, devpath, sizeof(devpath)) != 0 ?
		    vm_err("zvol %s has no device to copy %s onto", vol, image) :
		    copy_to_device(tmp, devpath);
	}
	if (image)
		unlink(tmp);
	return rc;
}

/* Fills the new guest's directory DIR (its dataset GDS on ZFS, else NULL);
 * the caller removes it on failure. */
static int create_in(const char *name, const char *dir, const char *gds,
    struct vmconf *c, const struct create_opts *o, const char *image)
{
	char key[64], path[8400], val[64];
	uint64_t size;
	const char *disk, *dev;
	int i;

	if (guest_uuid(val, sizeof(val)) != 0 || conf_set(c, "uuid", val) != 0)
		return vm_err("cannot make a uuid: %s", strerror(errno));
	if (conf_get(c, "network0_type") && !conf_get(c, "network0_mac") &&
	    (make_mac(val, sizeof(val)) != 0 || conf_set(c, "network0_mac", val) != 0))
		return vm_err("cannot make a MAC address: %s", strerror(errno));
	if ((o->cpus && conf_set(c, "cpu", o->cpus) != 0) ||
	    (o->mem && conf_set(c, "memory", o->mem) != 0))
		return vm_err("out of memory");
	for (i = 0;; i++) {
		snprintf(key, sizeof(key), "disk%d_name", i);
		if ((disk = conf_get(c, key)) == NULL)
			break;
		snprintf(key, sizeof(key), "disk%d_dev", i);
		dev = conf_get_def(c, key, "file");
		if (disk_size_of(c, i, i == 0 ? o->size : NULL, &size) != 0)
			return 1;
		snprintf(key, sizeof(key), "disk%d_size", i);
		conf_set(c, key, NULL);
		if (strcmp(dev, "custom") == 0 || strcmp(dev, "iscsi") == 0)
			continue;
		if (zfs_disk_dev(dev)) {
			if (create_zvol(dir, gds, i, disk, dev, size, i == 0 ? image : NULL,
			    conf_get(c, "zfs_zvol_opts")) != 0)
				return 1;
			continue;
		}
		if (strcmp(dev, "file") != 0)
			return vm_err("disk%d_dev=\"%s\": one of file, zvol, sparse-zvol, custom", i, dev);
		if (strchr(disk, '/'))
			return vm_err("disk%d_name=\"%s\": a file disk is named inside the guest's directory",
			    i, disk);
		snprintf(path, sizeof(path), "%s/%s", dir, disk);
		if (make_sparse(path, size) != 0)
			return 1;
		if (i == 0 && image) {
			struct stat st;

			if (unlink(path) != 0 || image_to_disk(image, path) != 0)
				return 1;
			/* An image smaller than the disk asked for grows to it. */
			if (stat(path, &st) == 0 && (uint64_t)st.st_size < size &&
			    truncate(path, (off_t)size) != 0)
				return vm_err("cannot size %s: %s", path, strerror(errno));
		}
	}
	if (o->cloudinit) {
		snprintf(path, sizeof(path), "%s/seed.iso", dir);
		if (cloudinit_seed(path, name, o->pubkey, o->net) != 0)
			return 1;
		snprintf(key, sizeof(key), "disk%d_type", i);
		conf_set(c, key, "ahci-cd");
		snprintf(key, sizeof(key), "disk%d_name", i);
		conf_set(c, key, "seed.iso");
		snprintf(key, sizeof(key), "disk%d_dev", i);
		if (conf_set(c, key, "file") != 0)
			return vm_err("out of memory");
	}
	snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	return guest_save(c, path);
}

/* -i IMAGE: a path, else a file in $vm_dir/.img. */
static int find_image(const struct vmhost *h, const char *img, char *out, size_t n)
{
	if (strchr(img, '/') || access(img, R_OK) == 0)
		snprintf(out, n, "%s", img);
	else
		snprintf(out, n, "%s/.img/%s", h->vm_dir, img);
	if (access(out, R_OK) != 0)
		return vm_err("unable to locate img file '%s' (not a path, nor in %s/.img)", img,
		    h->vm_dir);
	return 0;
}

int cmd_create(struct vmhost *h, int argc, char **argv)
{
	struct create_opts o = { .ds = "default", .tmpl = "default" };
	char base[4096], dir[4200], tpath[4400], img[4200], d2[4200], zds[4096], gds[4200];
	bool zfs;
	struct vmconf *c;
	uint64_t size;
	const char *name;
	int opt, rc;

	optind = 1;
	while ((opt = getopt(argc, argv, "+d:t:s:m:c:i:Ck:n:")) != -1) {
		switch (opt) {
		case 'd': o.ds = optarg; break;
		case 't': o.tmpl = optarg; break;
		case 's': o.size = optarg; break;
		case 'm': o.mem = optarg; break;
		case 'c': o.cpus = optarg; break;
		case 'i': o.image = optarg; break;
		case 'C': o.cloudinit = true; break;
		case 'k': o.pubkey = optarg; break;
		case 'n': o.net = optarg; break;
		default:
			return vm_err("usage: vm create [-d datastore] [-t template] [-s size] [-m memory] [-c cpus] [-i image] [-C [-k pubkey] [-n netspec]] name");
		}
	}
	if (optind != argc - 1)
		return vm_err("usage: vm create [-d datastore] [-t template] [-s size] [-m memory] [-c cpus] [-i image] [-C [-k pubkey] [-n netspec]] name");
	name = argv[optind];
	if (name_check(name) != 0 || host_need_dir(h) != 0)
		return 1;
	if ((o.pubkey || o.net) && !o.cloudinit)
		return vm_err("-k and -n are for cloud-init: add -C");
	if (o.pubkey && access(o.pubkey, R_OK) != 0)
		return vm_err("cannot read the public key %s: %s", o.pubkey, strerror(errno));
	if (guest_find(h, name, d2, sizeof(d2), NULL, 0) == 0)
		return vm_err("virtual machine %s already exists in %s", name, d2);
	if (datastore_dir(h, o.ds, base, sizeof(base)) != 0)
		return vm_err("unable to load datastore '%s' (vm datastore list shows them)", o.ds);
	if (o.size && parse_size(o.size, &size) != 0)
		return vm_err("bad size '%s' (a number with K, M, G or T, e.g. 20G)", o.size);
	if (o.mem && parse_size(o.mem, &size) != 0)
		return vm_err("bad memory size '%s' (a number with K, M, G or T, e.g. 512M)", o.mem);
	if (o.cpus && (strspn(o.cpus, "0123456789") != strlen(o.cpus) || atoi(o.cpus) < 1))
		return vm_err("bad cpu count '%s'", o.cpus);
	if (strchr(o.tmpl, '/'))
		return vm_err("template '%s': give a name from %s/.templates", o.tmpl, h->vm_dir);
	snprintf(tpath, sizeof(tpath), "%s/.templates/%s.conf", h->vm_dir, o.tmpl);
	if (access(tpath, R_OK) != 0)
		return vm_err("unable to find template %s", tpath);
	if (o.image && find_image(h, o.image, img, sizeof(img)) != 0)
		return 1;
	if ((c = guest_conf(tpath)) == NULL)
		return 1;
	if (!conf_get(c, "disk0_name")) {
		conf_free(c);
		return vm_err("template %s has no disk0_name", tpath);
	}
	if (disk_size_of(c, 0, o.size, &size) != 0) {
		conf_free(c);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/%s", base, name);
	/* On ZFS the guest is a dataset of its own (vm-bhyve's __zfs_make_dataset),
	 * mounted at DIR below the datastore's. */
	if ((zfs = datastore_zfs(h, o.ds, zds, sizeof(zds)) == 0)) {
		snprintf(gds, sizeof(gds), "%s/%s", zds, name);
		/* zfs would mount over (or refuse) a directory already there. */
		if (access(dir, F_OK) == 0) {
			conf_free(c);
			return vm_err("directory %s already exists", dir);
		}
		/* A dataset of that name that vm did not make (mounted elsewhere,
		 * or not at all) is never touched. */
		if (zfs_exists(gds)) {
			conf_free(c);
			return vm_err("dataset %s already exists", gds);
		}
		if (zfs_create(gds, conf_get(c, "zfs_dataset_opts"), 0, false) != 0) {
			conf_free(c);
			/* "created, but not mounted" still made it. */
			if (zfs_exists(gds))
				zfs_destroy(gds);
			return 1;
		}
		if (zfs_dataset_at(dir, d2, sizeof(d2)) != 0 || strcmp(d2, gds) != 0) {
			conf_free(c);
			zfs_destroy(gds);
			return vm_err("made dataset %s, but it is not mounted at %s", gds, dir);
		}
	} else if (mkdir(dir, 0755) != 0) {
		conf_free(c);
		return vm_err("cannot create %s: %s", dir, strerror(errno));
	}
	rc = create_in(name, dir, zfs ? gds : NULL, c, &o, o.image ? img : NULL);
	conf_free(c);
	if (rc != 0) {
		/* Nothing left behind; a dataset that would not go keeps its files. */
		if (!zfs)
			rmtree(dir);
		else if (zfs_destroy(gds) == 0)
			rmdir(dir);
	}
	return rc;
}

/* y/n on the terminal, as vm-bhyve asks. */
static bool confirm(const char *question)
{
	char line[64];

	printf("%s (y/n)? ", question);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

static int save_host(const struct vmhost *h)
{
	if (conf_save(h->conf, h->conf_path) != 0)
		return vm_err("cannot write %s: %s", h->conf_path, strerror(errno));
	return 0;
}

int cmd_destroy(struct vmhost *h, int argc, char **argv)
{
	char dir[4200], conf[4400], ds[4096];
	bool force = false;
	int opt;

	optind = 1;
	while ((opt = getopt(argc, argv, "+f")) != -1) {
		if (opt != 'f')
			return vm_err("usage: vm destroy [-f] name");
		force = true;
	}
	if (optind != argc - 1)
		return vm_err("usage: vm destroy [-f] name");
	if (strchr(argv[optind], '@'))
		return vm_err("destroy name@snapshot: snapshots are removed by vm snapshot's tools, not destroy");
	if (guest_open(h, argv[optind], dir, sizeof(dir), conf, sizeof(conf)) != 0)
		return 1;
	if (need_stopped(dir, argv[optind], "destroy") != 0)
		return 1;
	if (!force && !confirm("Are you sure you want to completely remove this virtual machine"))
		return 0;
	/* A guest that is a ZFS dataset goes with everything below it. */
	if (guest_zfs(h, argv[optind], ds, sizeof(ds)) == 0 && zfs_destroy(ds) != 0)
		return 1;
	if (access(dir, F_OK) == 0 && rmtree(dir) != 0)
		return vm_err("cannot remove %s: %s", dir, strerror(errno));
	/* A destroyed guest leaves the start list too, so startall does not trip. */
	if (conf_list_has(h->conf, "vm_list", argv[optind])) {
		conf_list_remove(h->conf, "vm_list", argv[optind]);
		return save_host(h);
	}
	return 0;
}

/* OLD's place in vm_list goes to NEW. */
static int rename_in_list(struct vmhost *h, const char *old, const char *new)
{
	char list[4096], out[4096] = "", *save = NULL, *w;
	size_t len = 0;

	if (!conf_list_has(h->conf, "vm_list", old))
		return 0;
	snprintf(list, sizeof(list), "%s", conf_get_def(h->conf, "vm_list", ""));
	for (w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", len ? " " : "",
		    strcmp(w, old) == 0 ? new : w);
	if (len >= sizeof(out) || conf_set(h->conf, "vm_list", out) != 0)
		return vm_err("vm_list is too long");
	return save_host(h);
}

int cmd_rename(struct vmhost *h, int argc, char **argv)
{
	char dir[4200], conf[4400], ndir[4200], nconf[4400], ds[4096], nds[4200], *slash;

	if (argc != 3)
		return vm_err("usage: vm rename name new-name");
	if (name_check(argv[2]) != 0)
		return 1;
	if (guest_open(h, argv[1], dir, sizeof(dir), conf, sizeof(conf)) != 0)
		return 1;
	if (guest_find(h, argv[2], ndir, sizeof(ndir), NULL, 0) == 0)
		return vm_err("virtual machine %s already exists in %s", argv[2], ndir);
	if (need_stopped(dir, argv[1], "rename") != 0)
		return 1;
	snprintf(ndir, sizeof(ndir), "%s", dir);
	slash = strrchr(ndir, '/');
	snprintf(slash + 1, sizeof(ndir) - (size_t)(slash + 1 - ndir), "%s", argv[2]);
	if (access(ndir, F_OK) == 0)
		return vm_err("%s already exists", ndir);
	if (guest_zfs(h, argv[1], ds, sizeof(ds)) == 0) {
		/* zfs rename moves the mountpoint (inherited) and the zvols below. */
		snprintf(nds, sizeof(nds), "%s", ds);
		slash = strrchr(nds, '/');
		if (slash == NULL)
			return vm_err("%s is a pool's top dataset, not a guest's", ds);
		snprintf(slash + 1, sizeof(nds) - (size_t)(slash + 1 - nds), "%s", argv[2]);
		if (zfs_cmd(NULL, 0, "rename", ds, nds, (char *)NULL) != 0)
			return 1;
		if (access(ndir, F_OK) != 0)
			return vm_err("renamed dataset %s to %s, but it is not mounted at %s", ds, nds, ndir);
	} else if (rename(dir, ndir) != 0)
		return vm_err("cannot rename %s: %s", dir, strerror(errno));
	snprintf(conf, sizeof(conf), "%s/%s.conf", ndir, argv[1]);
	snprintf(nconf, sizeof(nconf), "%s/%s.conf", ndir, argv[2]);
	if (rename(conf, nconf) != 0)
		return vm_err("renamed the directory to %s but not %s: %s", ndir, conf, strerror(errno));
	return rename_in_list(h, argv[1], argv[2]);
}

/* The first unused index of PREFIXn_SUFFIX, and the last used one's value of
 * PREFIXn_type into type (skipping VALUE_SKIP). */
static int next_index(const struct vmconf *c, const char *prefix, const char *suffix,
    const char *skip, char *type, size_t tn)
{
	char key[64];
	const char *t;
	int i;

	for (i = 0;; i++) {
		snprintf(key, sizeof(key), "%s%d_%s", prefix, i, suffix);
		if (!conf_get(c, key))
			return i;
		snprintf(key, sizeof(key), "%s%d_type", prefix, i);
		t = conf_get(c, key);
		if (t && *t && !(skip && strcmp(t, skip) == 0))
			snprintf(type, tn, "%s", t);
	}
}

/* Disk of TYPE for the guest in DIR (its dataset GDS on ZFS, else NULL). */
static int add_disk(const char *dir, const char *gds, struct vmconf *c, const char *type,
    const char *size_s)
{
	char emul[64] = "virtio-blk", key[64], name[64], path[4400];
	uint64_t size;
	int i;

	if (type == NULL)
		type = "file";
	if (strcmp(type, "file") != 0 && !zfs_disk_dev(type))
		return vm_err("add -d disk -t %s: the type is one of file, zvol, sparse-zvol", type);
	if (size_s == NULL)
		return vm_err("add -d disk needs -s size");
	if (parse_size(size_s, &size) != 0)
		return vm_err("bad size '%s' (a number with K, M, G or T, e.g. 20G)", size_s);
	/* The emulation of the last disk, not of a CD (a cloud-init seed). */
	i = next_index(c, "disk", "name", "ahci-cd", emul, sizeof(emul));
	if (zfs_disk_dev(type)) {
		/* vm-bhyve names a guest's zvols diskN, below its dataset. */
		snprintf(name, sizeof(name), "disk%d", i);
		if (create_zvol(dir, gds, i, name, type, size, NULL, conf_get(c, "zfs_zvol_opts")) != 0)
			return 1;
	} else {
		snprintf(name, sizeof(name), "disk%d.img", i);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (make_sparse(path, size) != 0)
			return 1;
	}
	snprintf(key, sizeof(key), "disk%d_name", i);
	conf_set(c, key, name);
	snprintf(key, sizeof(key), "disk%d_type", i);
	conf_set(c, key, emul);
	snprintf(key, sizeof(key), "disk%d_dev", i);
	return conf_set(c, key, type) != 0 ? vm_err("out of memory") : 0;
}

static int add_network(struct vmconf *c, const char *sw)
{
	char emul[64] = "virtio-net", key[64], mac[32];
	int i;

	if (sw == NULL)
		return vm_err("add -d network needs -s switch");
	i = next_index(c, "network", "type", NULL, emul, sizeof(emul));
	if (make_mac(mac, sizeof(mac)) != 0)
		return vm_err("cannot make a MAC address: %s", strerror(errno));
	snprintf(key, sizeof(key), "network%d_type", i);
	conf_set(c, key, emul);
	snprintf(key, sizeof(key), "network%d_switch", i);
	conf_set(c, key, sw);
	snprintf(key, sizeof(key), "network%d_mac", i);
	return conf_set(c, key, mac) != 0 ? vm_err("out of memory") : 0;
}

int cmd_add(struct vmhost *h, int argc, char **argv)
{
	const char *dev = NULL, *type = NULL, *sopt = NULL;
	char dir[4200], conf[4400], gds[4096];
	struct vmconf *c;
	int opt, rc;

	optind = 1;
	while ((opt = getopt(argc, argv, "+d:t:s:")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 't': type = optarg; break;
		case 's': sopt = optarg; break;
		default: return vm_err("usage: vm add -d disk|network [-t type] [-s size|switch] name");
		}
	}
	if (optind != argc - 1)
		return vm_err("usage: vm add -d disk|network [-t type] [-s size|switch] name");
	if (dev == NULL || (strcmp(dev, "disk") != 0 && strcmp(dev, "network") != 0))
		return vm_err("device must be one of the following: disk network");
	if (guest_open(h, argv[optind], dir, sizeof(dir), conf, sizeof(conf)) != 0)
		return 1;
	if ((c = guest_conf(conf)) == NULL)
		return 1;
	if (strcmp(dev, "disk") == 0)
		rc = add_disk(dir, guest_zfs(h, argv[optind], gds, sizeof(gds)) == 0 ? gds : NULL, c,
		    type, sopt);
	else
		rc = add_network(c, sopt);
	if (rc == 0)
		rc = guest_save(c, conf);
	conf_free(c);
	return rc;
}

/* autostart=yes|no: the guest's place in the host's vm_list. */
static int set_autostart(struct vmhost *h, const char *name, const char *v)
{
	bool on = strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0;

	if (on == conf_list_has(h->conf, "vm_list", name))
		return 0;
	if ((on ? conf_list_add(h->conf, "vm_list", name) :
	    conf_list_remove(h->conf, "vm_list", name)) != 0)
		return vm_err("out of memory");
	return save_host(h);
}

static bool is_bool(const char *v)
{
	static const char *const words[] = { "yes", "no", "true", "false", "on", "off", "1", "0" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(v, words[i]) == 0)
			return true;
	return false;
}

int cmd_set(struct vmhost *h, int argc, char **argv)
{
	char dir[4200], conf[4400], key[128];
	struct vmconf *c;
	const char *eq;
	int rc = 0;

	if (argc < 3)
		return vm_err("usage: vm set name key=value...");
	for (int i = 2; i < argc; i++) {
		eq = strchr(argv[i], '=');
		if (eq == NULL || (size_t)(eq - argv[i]) >= sizeof(key))
			return vm_err("'%s' is not key=value", argv[i]);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		if (!conf_key_valid(key))
			return vm_err("bad key '%s' (letters, digits and _, not starting with a digit)", key);
		if (strcmp(key, "autostart") == 0 && !is_bool(eq + 1))
			return vm_err("autostart=%s: give yes or no", eq + 1);
	}
	if (guest_open(h, argv[1], dir, sizeof(dir), conf, sizeof(conf)) != 0)
		return 1;
	if ((c = guest_conf(conf)) == NULL)
		return 1;
	for (int i = 2; i < argc && rc == 0; i++) {
		eq = strchr(argv[i], '=');
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		if (strcmp(key, "autostart") == 0)
			rc = set_autostart(h, argv[1], eq + 1);
		else if (conf_set(c, key, eq[1] ? eq + 1 : NULL) != 0)
			rc = vm_err("out of memory");
	}
	if (rc == 0)
		rc = guest_save(c, conf);
	conf_free(c);
	return rc;
}

int cmd_get(struct vmhost *h, int argc, char **argv)
{
	char dir[4200], conf[4400];
	struct vmconf *c;
	const char *k;

	if (argc < 3)
		return vm_err("usage: vm get name key...|all");
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "all") != 0 && !conf_key_valid(argv[i]))
			return vm_err("bad key '%s' (letters, digits and _, not starting with a digit)",
			    argv[i]);
	if (guest_open(h, argv[1], dir, sizeof(dir), conf, sizeof(conf)) != 0)
		return 1;
	if ((c = guest_conf(conf)) == NULL)
		return 1;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "all") == 0) {
			for (size_t j = 0; (k = conf_key(c, j)) != NULL; j++)
				printf("%s=%s\n", k, conf_get_def(c, k, ""));
			printf("autostart=%s\n", autostart_pos(h, argv[1]) ? "yes" : "no");
		} else if (strcmp(argv[i], "autostart") == 0) {
			printf("%s\n", autostart_pos(h, argv[1]) ? "yes" : "no");
		} else {
			printf("%s\n", conf_get_def(c, argv[i], ""));
		}
	}
	conf_free(c);
	return 0;
}

int cmd_configure(struct vmhost *h, int argc, char **argv)
{
	char dir[4200], conf[4400];
	struct vmconf *c;
	pid_t pid;
	int st;

	if (argc != 2)
		return vm_err("usage: vm configure name");
	if (guest_open(h, argv[1], dir, sizeof(dir), conf, sizeof(conf)) != 0)
		return 1;
	if ((pid = fork()) < 0)
		return vm_err("fork: %s", strerror(errno));
	if (pid == 0) {
		/* $EDITOR may carry its own arguments ("emacs -nw"). */
		execl("/bin/sh", "sh", "-c", "exec ${EDITOR:-vi} \"$1\"", "sh", conf, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return vm_err("waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return vm_err("the editor (%s) failed", getenv("EDITOR") ? getenv("EDITOR") : "vi");
	/* Say now, not at the next start, when the file no longer parses. */
	if ((c = guest_conf(conf)) == NULL)
		return 1;
	conf_free(c);
	return 0;
}
