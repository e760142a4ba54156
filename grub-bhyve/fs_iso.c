/* ISO 9660 with Rock Ridge and Joliet through libarchive, on a byte range of an
 * image file: one pass over the tree at mount keeps an index (path, size, type,
 * place in the archive); a file is read by walking to its place again. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_impl.h"

/* A directory tree of at most this many entries: a crafted image of 53 KB gave
 * libarchive entries until this limit (the mount then fails, after 0.8 s). The
 * fuzz target sets a smaller one (Makefile): such inputs took it from about 3,000
 * to 40 executions a second. */
#ifndef ISO_MAX_ENTRIES
#define ISO_MAX_ENTRIES	200000
#endif
#define ISO_MAX_FILE	(1ULL << 31)

struct iso_ent {
	char *path;		/* "/boot/grub/grub.cfg" */
	char *link;		/* symbolic link's target, or NULL */
	uint64_t size;
	bool isdir;
};

struct src {
	int fd;
	uint64_t base, size, pos;
	uint8_t buf[65536];
};

static la_ssize_t src_read(struct archive *a, void *arg, const void **out)
{
	struct src *s = arg;
	size_t n = sizeof(s->buf);
	ssize_t got;

	(void)a;
	if (s->pos >= s->size)
		return 0;
	if (n > s->size - s->pos)
		n = (size_t)(s->size - s->pos);
	got = pread(s->fd, s->buf, n, (off_t)(s->base + s->pos));
	if (got < 0)
		return -1;
	s->pos += (uint64_t)got;
	*out = s->buf;
	return got;
}

static la_int64_t src_seek(struct archive *a, void *arg, la_int64_t off, int whence)
{
	struct src *s = arg;
	int64_t to;

	(void)a;
	switch (whence) {
	case SEEK_SET: to = off; break;
	case SEEK_CUR: to = (int64_t)s->pos + off; break;
	case SEEK_END: to = (int64_t)s->size + off; break;
	default: return ARCHIVE_FATAL;
	}
	if (to < 0)
		return ARCHIVE_FATAL;
	s->pos = (uint64_t)to > s->size ? s->size : (uint64_t)to;
	return (la_int64_t)s->pos;
}

static la_int64_t src_skip(struct archive *a, void *arg, la_int64_t n)
{
	struct src *s = arg;

	(void)a;
	if (n < 0)
		return 0;
	if ((uint64_t)n > s->size - s->pos)
		n = (la_int64_t)(s->size - s->pos);
	s->pos += (uint64_t)n;
	return n;
}

static struct archive *iso_open(struct gb_fs *fs, struct src *s)
{
	struct archive *a = archive_read_new();

	if (a == NULL)
		return NULL;
	s->fd = fs->fd;
	s->base = fs->off;
	s->size = fs->size;
	s->pos = 0;
	archive_read_support_format_iso9660(a);
	archive_read_set_callback_data(a, s);
	archive_read_set_read_callback(a, src_read);
	archive_read_set_seek_callback(a, src_seek);
	archive_read_set_skip_callback(a, src_skip);
	if (archive_read_open1(a) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* "./a/b/" or "a/b" as "/a/b"; "/" for the root. */
static char *norm(const char *p)
{
	size_t n;
	char *r;

	while (p[0] == '.' && p[1] == '/')
		p += 2;
	while (*p == '/')
		p++;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	r = malloc(n + 2);
	if (r != NULL) {
		r[0] = '/';
		memcpy(r + 1, p, n);
		r[n + 1] = '\0';
	}
	return r;
}

void gb_iso_umount(struct gb_fs *fs)
{
	for (size_t i = 0; i < fs->nents; i++) {
		free(fs->ents[i].path);
		free(fs->ents[i].link);
	}
	free(fs->ents);
	fs->ents = NULL;
	fs->nents = 0;
}

/* libarchive reads a directory whole, into a buffer of the size its record
 * declares (up to 4 GiB): the volume descriptors' root directories are
 * checked against the image first. */
static int check_roots(struct gb_fs *fs, char *err, size_t errlen)
{
	uint8_t vd[2048];

	for (uint64_t s = 16; s < 64; s++) {
		const uint8_t *r = vd + 156;
		uint64_t lba, len;

		if ((s + 1) * 2048 > fs->size ||
		    pread(fs->fd, vd, sizeof(vd), (off_t)(fs->off + s * 2048)) != (ssize_t)sizeof(vd) ||
		    memcmp(vd + 1, "CD001", 5) != 0 || vd[0] == 255)
			break;
		if (vd[0] != 1 && vd[0] != 2)
			continue;
		lba = (uint64_t)r[2] | (uint64_t)r[3] << 8 | (uint64_t)r[4] << 16 | (uint64_t)r[5] << 24;
		len = (uint64_t)r[10] | (uint64_t)r[11] << 8 | (uint64_t)r[12] << 16 |
		    (uint64_t)r[13] << 24;
		if (lba * 2048 > fs->size || len > fs->size - lba * 2048)
			return gb_fail(err, errlen, "%s at %llu: ISO 9660 root directory outside the image",
			    fs->image, (unsigned long long)fs->off);
	}
	return 0;
}

int gb_iso_mount(struct gb_fs *fs, char *err, size_t errlen)
{
	struct src *s = malloc(sizeof(*s));
	struct archive_entry *ae;
	struct archive *a;
	size_t cap = 0;
	int r;

	if (check_roots(fs, err, errlen) < 0) {
		free(s);
		return -1;
	}
	if (s == NULL || (a = iso_open(fs, s)) == NULL) {
		free(s);
		return gb_fail(err, errlen, "%s at %llu: libarchive cannot open the ISO",
		    fs->image, (unsigned long long)fs->off);
	}
	fs->kind = FS_ISO;
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		struct iso_ent *e;
		const char *name = archive_entry_pathname(ae), *link = archive_entry_symlink(ae);

		if (name == NULL)
			continue;
		if (fs->nents == ISO_MAX_ENTRIES) {
			r = ARCHIVE_FATAL;
			break;
		}
		if (fs->nents == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct iso_ent *n = realloc(fs->ents, ncap * sizeof(*n));

			if (n == NULL) {
				r = ARCHIVE_FATAL;
				break;
			}
			fs->ents = n;
			cap = ncap;
		}
		e = &fs->ents[fs->nents];
		e->path = norm(name);
		e->link = link != NULL ? strdup(link) : NULL;
		e->size = archive_entry_size_is_set(ae) ? (uint64_t)archive_entry_size(ae) : 0;
		e->isdir = archive_entry_filetype(ae) == AE_IFDIR;
		if (e->path == NULL) {
			free(e->link);
			r = ARCHIVE_FATAL;
			break;
		}
		fs->nents++;
	}
	archive_read_free(a);
	free(s);
	if (r != ARCHIVE_EOF) {
		gb_iso_umount(fs);
		return gb_fail(err, errlen, "%s at %llu: broken ISO 9660 directory tree",
		    fs->image, (unsigned long long)fs->off);
	}
	return 0;
}

static struct iso_ent *find(struct gb_fs *fs, const char *path, size_t *idx)
{
	char *p = norm(path);
	struct iso_ent *r = NULL;

	for (size_t i = 0; p != NULL && i < fs->nents; i++)
		if (strcmp(fs->ents[i].path, p) == 0) {
			r = &fs->ents[i];
			if (idx != NULL)
				*idx = i;
			break;
		}
	free(p);
	return r;
}

/* A directory that has entries under it but none of its own. */
static bool implied_dir(struct gb_fs *fs, const char *path)
{
	char *p = norm(path);
	size_t n = p != NULL ? strlen(p) : 0;
	bool r = p != NULL && strcmp(p, "/") == 0;

	for (size_t i = 0; !r && p != NULL && i < fs->nents; i++)
		r = strncmp(fs->ents[i].path, p, n) == 0 && fs->ents[i].path[n] == '/';
	free(p);
	return r;
}

int gb_iso_stat(struct gb_fs *fs, const char *path, uint64_t *size, bool *isdir)
{
	struct iso_ent *e = find(fs, path, NULL);

	if (e == NULL) {
		if (!implied_dir(fs, path))
			return -1;
		*size = 0;
		*isdir = true;
		return 0;
	}
	*size = e->size;
	*isdir = e->isdir;
	return 0;
}

int gb_iso_list(struct gb_fs *fs, const char *path, gb_list_fn cb, void *arg)
{
	char *p = norm(path);
	size_t n;

	if (p == NULL || !implied_dir(fs, path)) {
		free(p);
		return -1;
	}
	n = strcmp(p, "/") == 0 ? 0 : strlen(p);
	for (size_t i = 0; i < fs->nents; i++) {
		const char *c = fs->ents[i].path;

		if (strncmp(c, p, n) == 0 && c[n] == '/' && c[n + 1] != '\0' &&
		    strchr(c + n + 1, '/') == NULL)
			cb(arg, c + n + 1, fs->ents[i].isdir, fs->ents[i].size);
	}
	free(p);
	return 0;
}

/* A symbolic link's target as an absolute path, relative to the link's directory. */
static char *link_target(const struct iso_ent *e)
{
	const char *slash = strrchr(e->path, '/');
	char *r;

	if (e->link[0] == '/')
		return strdup(e->link);
	if (asprintf(&r, "%.*s/%s", (int)(slash - e->path), e->path, e->link) < 0)
		return NULL;
	return r;
}

struct gb_file *gb_iso_open(struct gb_fs *fs, const char *path, char *err, size_t errlen)
{
	struct archive_entry *ae;
	struct iso_ent *e = NULL;
	struct gb_file *f = NULL;
	struct archive *a = NULL;
	struct src *s = NULL;
	char *cur = strdup(path);
	size_t idx = 0, i = 0;

	for (int hops = 0; cur != NULL && hops < 8; hops++) {
		e = find(fs, cur, &idx);
		if (e == NULL || e->link == NULL)
			break;
		free(cur);
		cur = link_target(e);
		e = NULL;
	}
	free(cur);
	if (e == NULL || e->link != NULL || e->isdir) {
		gb_fail(err, errlen, "%s: %s", path, e == NULL ? "file not found" : "not a file");
		return NULL;
	}
	if (e->size > ISO_MAX_FILE) {
		gb_fail(err, errlen, "%s: larger than %llu bytes", path, ISO_MAX_FILE);
		return NULL;
	}
	s = malloc(sizeof(*s));
	f = calloc(1, sizeof(*f));
	if (s == NULL || f == NULL || (a = iso_open(fs, s)) == NULL)
		goto fail;
	f->fs = fs;
	f->fd = -1;
	f->size = e->size;
	f->data = malloc(e->size ? (size_t)e->size : 1);
	if (f->data == NULL)
		goto fail;
	/* The same walk as at mount: the idx-th entry with a name is the file. */
	for (;;) {
		int r = archive_read_next_header(a, &ae);

		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			goto fail;
		if (archive_entry_pathname(ae) == NULL)
			continue;
		if (i++ == idx)
			break;
	}
	if (archive_read_data(a, f->data, (size_t)e->size) != (la_ssize_t)e->size)
		goto fail;
	archive_read_free(a);
	free(s);
	return f;
fail:
	gb_fail(err, errlen, "%s: cannot read it from the ISO", path);
	if (a != NULL)
		archive_read_free(a);
	free(s);
	if (f != NULL)
		free(f->data);
	free(f);
	return NULL;
}
