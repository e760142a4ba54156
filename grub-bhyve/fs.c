/* The VFS: probing with libblkid, then ext2/3/4 (fs_ext.c), ISO 9660 (fs_iso.c),
 * FAT12/16/32 (fs_fat.c) or a host directory (here). XFS and other types blkid
 * names are refused with that name. */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "fs_impl.h"

/* Host directories: the path under the directory, never above it. */
static int host_path(struct gb_fs *fs, const char *path, char *out, size_t outlen)
{
	if (path[0] != '/' || strstr(path, "/../") != NULL ||
	    (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0))
		return -1;
	return snprintf(out, outlen, "%s%s", fs->hostdir, path) < (int)outlen ? 0 : -1;
}

static int host_stat(struct gb_fs *fs, const char *path, uint64_t *size, bool *isdir)
{
	char p[4096];
	struct stat st;

	if (host_path(fs, path, p, sizeof(p)) < 0 || stat(p, &st) < 0)
		return -1;
	*size = (uint64_t)st.st_size;
	*isdir = S_ISDIR(st.st_mode);
	return 0;
}

static int host_list(struct gb_fs *fs, const char *path, gb_list_fn cb, void *arg)
{
	char p[4096], q[4096 + 256];
	struct dirent *de;
	DIR *d;

	if (host_path(fs, path, p, sizeof(p)) < 0 || (d = opendir(p)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(q, sizeof(q), "%s/%s", p, de->d_name);
		if (stat(q, &st) == 0)
			cb(arg, de->d_name, S_ISDIR(st.st_mode), (uint64_t)st.st_size);
	}
	closedir(d);
	return 0;
}

static struct gb_file *host_open(struct gb_fs *fs, const char *path, char *err, size_t errlen)
{
	char p[4096];
	struct gb_file *f;
	struct stat st;
	int fd;

	if (host_path(fs, path, p, sizeof(p)) < 0) {
		gb_fail(err, errlen, "%s: bad path", path);
		return NULL;
	}
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (f = calloc(1, sizeof(*f))) == NULL) {
		gb_fail(err, errlen, "%s: %s", path, fd < 0 ? strerror(errno) : "not a file");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	f->fs = fs;
	f->fd = fd;
	f->size = (uint64_t)st.st_size;
	return f;
}

static void probe(struct gb_fs *fs, int fd, uint64_t off, uint64_t size)
{
	blkid_probe pr = blkid_new_probe();
	const char *v;

	if (pr == NULL)
		return;
	if (blkid_probe_set_device(pr, fd, (blkid_loff_t)off, (blkid_loff_t)size) == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL |
		    BLKID_SUBLKS_UUID);
		if (blkid_do_safeprobe(pr) == 0) {
			if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0)
				snprintf(fs->type, sizeof(fs->type), "%s", v);
			if (blkid_probe_lookup_value(pr, "LABEL", &v, NULL) == 0)
				snprintf(fs->label, sizeof(fs->label), "%s", v);
			if (blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0)
				snprintf(fs->uuid, sizeof(fs->uuid), "%s", v);
		}
	}
	blkid_free_probe(pr);
}

struct gb_fs *gb_fs_mount(const char *image, uint64_t off, uint64_t size, const char *hostdir,
    char *err, size_t errlen)
{
	struct gb_fs *fs = calloc(1, sizeof(*fs));
	int rc = -1;

	if (fs == NULL) {
		gb_fail(err, errlen, "out of memory");
		return NULL;
	}
	fs->fd = -1;
	if (image == NULL) {
		fs->kind = FS_HOST;
		snprintf(fs->type, sizeof(fs->type), "host");
		fs->hostdir = strdup(hostdir != NULL ? hostdir : "/");
		if (fs->hostdir != NULL)
			return fs;
		free(fs);
		return NULL;
	}
	fs->fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fs->fd < 0) {
		gb_fail(err, errlen, "%s: %s", image, strerror(errno));
		goto out;
	}
	{
		uint64_t end;

		/* The range, within the file or block device. */
		if (gb_image_size(fs->fd, &end) < 0 || off > end) {
			gb_fail(err, errlen, "%s: %llu is past its end", image,
			    (unsigned long long)off);
			goto out;
		}
		if (size > end - off)
			size = end - off;
	}
	fs->image = strdup(image);
	fs->off = off;
	fs->size = size;
	probe(fs, fs->fd, off, size);
	if (strncmp(fs->type, "ext", 3) == 0 && fs->image != NULL)
		rc = gb_ext_mount(fs, err, errlen);
	else if (strcmp(fs->type, "iso9660") == 0)
		rc = gb_iso_mount(fs, err, errlen);
	else if (strcmp(fs->type, "vfat") == 0 || strcmp(fs->type, "msdos") == 0)
		rc = gb_fat_mount(fs, err, errlen);
	else if (strcmp(fs->type, "xfs") == 0)
		gb_fail(err, errlen, "XFS is not supported by grub-bhyve; put /boot on ext4 or "
		    "FAT, or boot the guest with a boot ROM (-l bootrom,...)");
	else if (fs->type[0] != '\0')
		gb_fail(err, errlen, "%s at %llu: %s filesystems are not read", image,
		    (unsigned long long)off, fs->type);
	else
		gb_fail(err, errlen, "%s at %llu: no filesystem that blkid knows", image,
		    (unsigned long long)off);
out:
	if (rc == 0)
		return fs;
	gb_fs_umount(fs);
	return NULL;
}

void gb_fs_umount(struct gb_fs *fs)
{
	if (fs == NULL)
		return;
	if (fs->kind == FS_EXT)
		gb_ext_umount(fs);
	else if (fs->kind == FS_ISO)
		gb_iso_umount(fs);
	else if (fs->kind == FS_FAT)
		gb_fat_umount(fs);
	if (fs->fd >= 0)
		close(fs->fd);
	free(fs->image);
	free(fs->hostdir);
	free(fs);
}

const char *gb_fs_type(const struct gb_fs *fs) { return fs->type; }
const char *gb_fs_label(const struct gb_fs *fs) { return fs->label; }
const char *gb_fs_uuid(const struct gb_fs *fs) { return fs->uuid; }

int gb_fs_stat(struct gb_fs *fs, const char *path, uint64_t *size, bool *isdir)
{
	uint64_t s;
	bool d;

	if (size == NULL)
		size = &s;
	if (isdir == NULL)
		isdir = &d;
	switch (fs->kind) {
	case FS_EXT: return gb_ext_stat(fs, path, size, isdir);
	case FS_ISO: return gb_iso_stat(fs, path, size, isdir);
	case FS_FAT: return gb_fat_stat(fs, path, size, isdir);
	default: return host_stat(fs, path, size, isdir);
	}
}

int gb_fs_list(struct gb_fs *fs, const char *path, gb_list_fn cb, void *arg)
{
	switch (fs->kind) {
	case FS_EXT: return gb_ext_list(fs, path, cb, arg);
	case FS_ISO: return gb_iso_list(fs, path, cb, arg);
	case FS_FAT: return gb_fat_list(fs, path, cb, arg);
	default: return host_list(fs, path, cb, arg);
	}
}

struct gb_file *gb_file_open(struct gb_fs *fs, const char *path, char *err, size_t errlen)
{
	switch (fs->kind) {
	case FS_EXT: return gb_ext_open(fs, path, err, errlen);
	case FS_ISO: return gb_iso_open(fs, path, err, errlen);
	case FS_FAT: return gb_fat_open(fs, path, err, errlen);
	default: return host_open(fs, path, err, errlen);
	}
}

uint64_t gb_file_size(const struct gb_file *f) { return f->size; }

ssize_t gb_file_pread(struct gb_file *f, void *buf, size_t len, uint64_t off)
{
	if (off >= f->size)
		return 0;
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	if (f->data != NULL) {
		memcpy(buf, f->data + off, len);
		return (ssize_t)len;
	}
	if (f->fs->kind == FS_EXT)
		return gb_ext_pread(f, buf, len, off);
	if (f->fs->kind == FS_FAT)
		return gb_fat_pread(f, buf, len, off);
	return pread(f->fd, buf, len, (off_t)off);
}

void gb_file_close(struct gb_file *f)
{
	if (f == NULL)
		return;
	if (f->fs->kind == FS_EXT)
		gb_ext_close(f);
	if (f->fs->kind == FS_FAT)
		gb_fat_close(f);
	if (f->fd >= 0)
		close(f->fd);
	free(f->data);
	free(f);
}

int gb_fs_read_all(struct gb_fs *fs, const char *path, size_t max, uint8_t **data, size_t *len,
    char *err, size_t errlen)
{
	struct gb_file *f = gb_file_open(fs, path, err, errlen);
	uint8_t *buf;
	size_t got = 0;

	if (f == NULL)
		return -1;
	if (f->size > max) {
		gb_file_close(f);
		return gb_fail(err, errlen, "%s: larger than %zu bytes", path, max);
	}
	buf = malloc((size_t)f->size + 1);
	while (buf != NULL && got < f->size) {
		ssize_t n = gb_file_pread(f, buf + got, (size_t)f->size - got, got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (buf == NULL || got != f->size) {
		free(buf);
		gb_file_close(f);
		return gb_fail(err, errlen, "%s: read error", path);
	}
	buf[got] = '\0';
	gb_file_close(f);
	*data = buf;
	*len = got;
	return 0;
}
