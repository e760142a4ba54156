/* The device map's disks and filesystems behind the grub.cfg interpreter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

#define MAX_KERNEL	(256U << 20)
#define MAX_INITRD	(1U << 30)
#define MAX_CFG		(4U << 20)

void gb_loader_init(struct gb_loader *l, const struct gb_devmap *map, const char *hostdir)
{
	memset(l, 0, sizeof(*l));
	l->map = *map;
	l->hostdir = hostdir;
}

void gb_loader_fini(struct gb_loader *l)
{
	for (int i = 0; i < l->nmounts; i++)
		gb_fs_umount(l->mounts[i].fs);
	gb_devmap_free(&l->map);
	l->nmounts = 0;
}

struct gb_fs *gb_loader_fs(struct gb_loader *l, const char *dev)
{
	struct gb_range r;
	struct gb_fs *fs = NULL;

	if (dev[0] == '\0') {
		snprintf(l->err, sizeof(l->err), "no device ($root is not set)");
		return NULL;
	}
	for (int i = 0; i < l->nmounts; i++)
		if (strcmp(l->mounts[i].dev, dev) == 0) {
			if (l->mounts[i].fs == NULL)
				snprintf(l->err, sizeof(l->err), "(%s): no filesystem read", dev);
			return l->mounts[i].fs;
		}
	if (strlen(dev) >= sizeof(l->mounts[0].dev)) {
		snprintf(l->err, sizeof(l->err), "(%s): bad device", dev);
		return NULL;
	}
	if (gb_dev_resolve(&l->map, dev, &r, l->err, sizeof(l->err)) == 0) {
		if (r.path == NULL && l->hostdir == NULL)
			snprintf(l->err, sizeof(l->err), "(host): no host directory given");
		else
			fs = gb_fs_mount(r.path, r.off, r.size, l->hostdir, l->err, sizeof(l->err));
		if (fs == NULL) {
			/* Which device, first: the message names an image file or a type. */
			char why[sizeof(l->err)];

			snprintf(why, sizeof(why), "%s", l->err);
			snprintf(l->err, sizeof(l->err), "(%s): %.200s", dev, why);
		}
	}
	if (l->nmounts < GB_MOUNTS_MAX) {
		snprintf(l->mounts[l->nmounts].dev, sizeof(l->mounts[0].dev), "%s", dev);
		l->mounts[l->nmounts++].fs = fs;
	} else if (fs != NULL) {
		gb_fs_umount(fs);
		snprintf(l->err, sizeof(l->err), "more than %d filesystems", GB_MOUNTS_MAX);
		fs = NULL;
	}
	return fs;
}

static int ops_read(void *arg, const char *dev, const char *path, char **text)
{
	struct gb_loader *l = arg;
	struct gb_fs *fs = gb_loader_fs(l, dev);
	uint8_t *data;
	size_t len;

	if (fs == NULL || gb_fs_read_all(fs, path, MAX_CFG, &data, &len, l->err, sizeof(l->err)) < 0)
		return -1;
	*text = (char *)data;
	return 0;
}

static bool ops_exists(void *arg, const char *dev, const char *path)
{
	struct gb_fs *fs = gb_loader_fs(arg, dev);

	return fs != NULL && gb_fs_stat(fs, path, NULL, NULL) == 0;
}

static bool matches(struct gb_fs *fs, const char *kind, const char *value)
{
	if (strcmp(kind, "file") == 0)
		return gb_fs_stat(fs, value, NULL, NULL) == 0;
	if (strcmp(kind, "label") == 0)
		return strcmp(gb_fs_label(fs), value) == 0;
	return strcasecmp(gb_fs_uuid(fs), value) == 0;
}

/* Every device of the map, whole and its partitions (GRUB's order). */
static int ops_search(void *arg, const char *kind, const char *value, char *out, size_t outlen)
{
	struct gb_loader *l = arg;

	for (int d = 0; d < l->map.n; d++) {
		char dev[32];
		struct gb_fs *fs;

		snprintf(dev, sizeof(dev), "%s", l->map.dev[d].name);
		if ((fs = gb_loader_fs(l, dev)) != NULL && matches(fs, kind, value))
			goto found;
		for (int s = 0; s < 2; s++)
			for (int p = 1; p <= 8; p++) {
				struct gb_range r;

				snprintf(dev, sizeof(dev), "%s,%s%d", l->map.dev[d].name,
				    s == 0 ? "msdos" : "gpt", p);
				if (gb_dev_resolve(&l->map, dev, &r, l->err, sizeof(l->err)) < 0)
					continue;
				if ((fs = gb_loader_fs(l, dev)) != NULL && matches(fs, kind, value))
					goto found;
			}
		continue;
found:
		snprintf(out, outlen, "%s", dev);
		return 0;
	}
	return -1;
}

struct gb_cfg_ops gb_loader_ops(struct gb_loader *l)
{
	struct gb_cfg_ops o = { l, ops_read, ops_exists, ops_search };

	return o;
}

void gb_loaded_free(struct gb_loaded *ld)
{
	free(ld->kernel);
	for (int i = 0; i < ld->ninitrd; i++)
		free((void *)ld->initrd[i].data);
	memset(ld, 0, sizeof(*ld));
}

static int load(struct gb_loader *l, const char *dev, const char *path, size_t max,
    uint8_t **data, size_t *len, char *err, size_t errlen)
{
	struct gb_fs *fs = gb_loader_fs(l, dev);

	if (fs == NULL) {
		snprintf(err, errlen, "%s", l->err);
		return -1;
	}
	return gb_fs_read_all(fs, path, max, data, len, err, errlen);
}

int gb_loader_read(struct gb_loader *l, const struct gb_boot *b, struct gb_loaded *out,
    char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (load(l, b->kernel_dev, b->kernel_path, MAX_KERNEL, &out->kernel, &out->klen, err,
	    errlen) < 0)
		return -1;
	for (int i = 0; i < b->ninitrd; i++) {
		uint8_t *d;
		size_t n;

		if (load(l, b->initrd_dev[i], b->initrd_path[i], MAX_INITRD, &d, &n, err, errlen) < 0) {
			gb_loaded_free(out);
			return -1;
		}
		out->initrd[out->ninitrd].data = d;
		out->initrd[out->ninitrd++].len = n;
	}
	return 0;
}
