/* FAT12, FAT16 and FAT32 with VFAT long names, read-only, on a byte range of
 * an image file. Written by hand: Debian ships no library that reads FAT from
 * user space without mounting it (dosfstools and mtools are programs; fusefat
 * and fatcat are tools, not libraries with headers), and the format is small.
 * Every on-disk value is bounded before use: the BPB against the range, each
 * cluster number against the cluster count, chains by their length (a chain
 * longer than the cluster count loops), directories by FAT's 65536 entries,
 * long names by their 20 parts and checksum. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fs_impl.h"

#define FAT_MAX_TABLE	(128U << 20)	/* a FAT larger than this is refused */
#define FAT_MAX_DIRENTS	65536		/* FAT's own limit for a directory */
#define FAT_ATTR_DIR	0x10
#define FAT_ATTR_VOLUME	0x08
#define FAT_ATTR_LFN	0x0f

struct fat {
	int bits;			/* 12, 16, 32 */
	uint32_t bps, spc, csize;	/* bytes a sector, sectors and bytes a cluster */
	uint32_t nclusters;		/* data clusters: numbers 2 .. nclusters + 1 */
	uint64_t data;			/* byte offset of cluster 2 in the range */
	uint64_t rootoff;		/* FAT12/16: the fixed root directory */
	uint32_t rootents;
	uint32_t rootclus;		/* FAT32 */
	uint8_t *table;			/* the first FAT */
	size_t tablen;
};

struct fat_file {
	uint32_t *clus;			/* the file's clusters, in order */
	uint32_t n;
};

struct dirent_fat {
	char name[256 * 3 + 1];		/* UTF-8 */
	bool isdir;
	uint32_t first;
	uint32_t size;
};

static int range_read(struct gb_fs *fs, uint64_t off, void *buf, size_t len)
{
	if (off > fs->size || len > fs->size - off)
		return -1;
	return pread(fs->fd, buf, len, (off_t)(fs->off + off)) == (ssize_t)len ? 0 : -1;
}

static bool pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

int gb_fat_mount(struct gb_fs *fs, char *err, size_t errlen)
{
	uint8_t bs[512];
	struct fat *f;
	uint32_t rsvd, nfats, fatsz, fatsz16, total, rootsecs;
	uint64_t fatbytes;

	if (range_read(fs, 0, bs, sizeof(bs)) < 0)
		return gb_fail(err, errlen, "%s at %llu: FAT: cannot read the boot sector",
		    fs->image, (unsigned long long)fs->off);
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return gb_fail(err, errlen, "out of memory");
	f->bps = (uint32_t)gb_le(bs + 11, 2);
	f->spc = bs[13];
	rsvd = (uint32_t)gb_le(bs + 14, 2);
	nfats = bs[16];
	f->rootents = (uint32_t)gb_le(bs + 17, 2);
	total = (uint32_t)gb_le(bs + 19, 2);
	if (total == 0)
		total = (uint32_t)gb_le(bs + 32, 4);
	fatsz = fatsz16 = (uint32_t)gb_le(bs + 22, 2);
	if (fatsz == 0)
		fatsz = (uint32_t)gb_le(bs + 36, 4);
	if (!pow2(f->bps) || f->bps < 512 || f->bps > 4096 || !pow2(f->spc) || rsvd == 0 ||
	    nfats == 0 || nfats > 4 || fatsz == 0 || total == 0) {
		free(f);
		return gb_fail(err, errlen, "%s at %llu: FAT: a bad boot sector", fs->image,
		    (unsigned long long)fs->off);
	}
	f->csize = f->bps * f->spc;
	rootsecs = (f->rootents * 32 + f->bps - 1) / f->bps;
	{
		uint64_t meta = (uint64_t)rsvd + (uint64_t)nfats * fatsz + rootsecs;
		uint64_t n;

		if (meta >= total || (uint64_t)total * f->bps > fs->size) {
			free(f);
			return gb_fail(err, errlen, "%s at %llu: FAT: the filesystem is larger than "
			    "its partition", fs->image, (unsigned long long)fs->off);
		}
		n = (total - meta) / f->spc;
		f->nclusters = (uint32_t)(n > 0x0ffffff5 ? 0x0ffffff5 : n);
		f->data = meta * f->bps;
		f->rootoff = ((uint64_t)rsvd + (uint64_t)nfats * fatsz) * f->bps;
	}
	/* FAT32 is the BPB whose 16-bit FAT size is 0 (as Linux decides: mkfs.vfat
	 * -F 32 makes small ones too); FAT12 or FAT16 by the cluster count, as the
	 * specification says, and no more clusters than the entries can name. */
	f->bits = fatsz16 == 0 ? 32 : f->nclusters < 4085 ? 12 : 16;
	if (f->bits == 16 && f->nclusters > 0xfff5)
		f->nclusters = 0xfff5;
	if (f->bits == 32) {
		f->rootclus = (uint32_t)gb_le(bs + 44, 4) & 0x0fffffff;
		if (f->rootclus < 2 || f->rootclus > f->nclusters + 1 || f->rootents != 0) {
			free(f);
			return gb_fail(err, errlen, "%s at %llu: FAT32: a bad root directory",
			    fs->image, (unsigned long long)fs->off);
		}
	} else if (f->rootents == 0) {
		int bits = f->bits;

		free(f);
		return gb_fail(err, errlen, "%s at %llu: FAT%d: no root directory", fs->image,
		    (unsigned long long)fs->off, bits);
	}
	/* The entries the clusters need, of the FAT's size (both bounded). */
	fatbytes = f->bits == 12 ? (((uint64_t)f->nclusters + 2) * 3 + 1) / 2 :
	    ((uint64_t)f->nclusters + 2) * (uint64_t)(f->bits / 8);
	if (fatbytes > (uint64_t)fatsz * f->bps || fatbytes > FAT_MAX_TABLE) {
		uint32_t n = f->nclusters;

		free(f);
		return gb_fail(err, errlen, "%s at %llu: FAT: the table is too small or too large "
		    "for %u clusters", fs->image, (unsigned long long)fs->off, n);
	}
	f->tablen = (size_t)fatbytes;
	/* Two bytes more: FAT12's last entry is read as a 16-bit word. */
	f->table = calloc(1, f->tablen + 2);
	if (f->table == NULL || range_read(fs, (uint64_t)rsvd * f->bps, f->table, f->tablen) < 0) {
		free(f->table);
		free(f);
		return gb_fail(err, errlen, "%s at %llu: FAT: cannot read the table", fs->image,
		    (unsigned long long)fs->off);
	}
	fs->fat = f;
	fs->kind = FS_FAT;
	return 0;
}

void gb_fat_umount(struct gb_fs *fs)
{
	struct fat *f = fs->fat;

	if (f != NULL)
		free(f->table);
	free(f);
	fs->fat = NULL;
}

/* The entry after cluster c: the next cluster, 0 at the chain's end, -1 for a
 * bad entry (free, reserved, bad, or out of range). */
static int64_t next_cluster(const struct fat *f, uint32_t c)
{
	uint32_t v;

	if (f->bits == 12) {
		size_t o = c + c / 2;

		v = (uint32_t)gb_le(f->table + o, 2);
		v = (c & 1) ? v >> 4 : v & 0xfff;
		if (v >= 0xff8)
			return 0;
	} else if (f->bits == 16) {
		v = (uint32_t)gb_le(f->table + (size_t)c * 2, 2);
		if (v >= 0xfff8)
			return 0;
	} else {
		v = (uint32_t)gb_le(f->table + (size_t)c * 4, 4) & 0x0fffffff;
		if (v >= 0x0ffffff8)
			return 0;
	}
	if (v < 2 || v > f->nclusters + 1)
		return -1;
	return v;
}

/* The chain from first, at most max clusters. NULL when it is broken: a bad
 * entry, or a loop (Brent's cycle finding: a cluster kept at each power of two
 * of steps is met again inside a loop, in no more than twice its length). */
static uint32_t *chain(const struct fat *f, uint32_t first, uint32_t max, uint32_t *n)
{
	uint32_t *v, cap = 16, c = first, mark = first;
	uint64_t power = 1, steps = 0;

	*n = 0;
	if (first < 2 || first > f->nclusters + 1)
		return NULL;
	v = malloc(cap * sizeof(*v));
	while (v != NULL) {
		int64_t nx;

		if (*n == cap) {
			uint32_t *nv = realloc(v, (size_t)cap * 2 * sizeof(*v));

			if (nv == NULL)
				break;
			v = nv;
			cap *= 2;
		}
		v[(*n)++] = c;
		nx = next_cluster(f, c);
		if (*n >= max || nx == 0)
			return v;
		if (nx < 0)
			break;
		c = (uint32_t)nx;
		if (c == mark)
			break;		/* a loop */
		if (++steps == power) {
			mark = c;
			power *= 2;
			steps = 0;
		}
	}
	free(v);
	return NULL;
}

static uint64_t cluster_off(const struct fat *f, uint32_t c)
{
	return f->data + (uint64_t)(c - 2) * f->csize;
}

/* A directory's raw entries (cluster 0: the root), malloc'd; NULL. */
static uint8_t *read_dir(struct gb_fs *fs, uint32_t first, size_t *len)
{
	struct fat *f = fs->fat;
	uint32_t maxcl = (uint32_t)(((uint64_t)FAT_MAX_DIRENTS * 32 + f->csize - 1) / f->csize), n;
	uint32_t *cl;
	uint8_t *buf;

	if (first == 0 && f->bits != 32) {
		*len = (size_t)f->rootents * 32;
		buf = malloc(*len);
		if (buf != NULL && range_read(fs, f->rootoff, buf, *len) < 0) {
			free(buf);
			buf = NULL;
		}
		return buf;
	}
	if (first == 0)
		first = f->rootclus;
	cl = chain(f, first, maxcl, &n);
	if (cl == NULL)
		return NULL;
	*len = (size_t)n * f->csize;
	buf = malloc(*len);
	for (uint32_t i = 0; buf != NULL && i < n; i++)
		if (range_read(fs, cluster_off(f, cl[i]), buf + (size_t)i * f->csize, f->csize) < 0) {
			free(buf);
			buf = NULL;
		}
	free(cl);
	return buf;
}

static void put_utf8(char **p, const char *end, uint32_t u)
{
	char tmp[4];
	int n;

	if (u < 0x80) {
		tmp[0] = (char)u;
		n = 1;
	} else if (u < 0x800) {
		tmp[0] = (char)(0xc0 | u >> 6);
		tmp[1] = (char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		tmp[0] = (char)(0xe0 | u >> 12);
		tmp[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		tmp[2] = (char)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		tmp[0] = (char)(0xf0 | u >> 18);
		tmp[1] = (char)(0x80 | ((u >> 12) & 0x3f));
		tmp[2] = (char)(0x80 | ((u >> 6) & 0x3f));
		tmp[3] = (char)(0x80 | (u & 0x3f));
		n = 4;
	}
	if (*p + n < end) {
		memcpy(*p, tmp, (size_t)n);
		*p += n;
	}
}

/* A long name's UTF-16 units as UTF-8 (lone surrogates become '?'). */
static void lfn_utf8(const uint16_t *u, int n, char *out, size_t outlen)
{
	char *p = out, *end = out + outlen;

	for (int i = 0; i < n && u[i] != 0; i++) {
		uint32_t c = u[i];

		if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && u[i + 1] >= 0xdc00 && u[i + 1] < 0xe000) {
			c = 0x10000 + ((c - 0xd800) << 10) + (u[i + 1] - 0xdc00);
			i++;
		} else if (c >= 0xd800 && c < 0xe000) {
			c = '?';
		}
		put_utf8(&p, end, c);
	}
	*p = '\0';
}

static uint8_t short_sum(const uint8_t *e)
{
	uint8_t s = 0;

	for (int i = 0; i < 11; i++)
		s = (uint8_t)(((s & 1) << 7) + (s >> 1) + e[i]);
	return s;
}

/* 8.3 as "name.ext", lower case where the NT flags of byte 12 say so. */
static void short_name(const uint8_t *e, char *out)
{
	int n = 0, b;

	for (b = 8; b > 0 && e[b - 1] == ' '; b--)
		;
	for (int i = 0; i < b; i++) {
		char ch = (char)(i == 0 && e[0] == 0x05 ? 0xe5 : e[i]);

		out[n++] = (e[12] & 0x08) && ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
	}
	for (b = 3; b > 0 && e[8 + b - 1] == ' '; b--)
		;
	if (b > 0)
		out[n++] = '.';
	for (int i = 0; i < b; i++) {
		char ch = (char)e[8 + i];

		out[n++] = (e[12] & 0x10) && ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
	}
	out[n] = '\0';
}

typedef bool (*dir_fn)(void *arg, const struct dirent_fat *d);	/* true: stop */

/* Calls fn for each entry of the directory at cluster first (0: the root). */
static int walk_dir(struct gb_fs *fs, uint32_t first, dir_fn fn, void *arg)
{
	uint16_t lfn[20 * 13];
	int lfn_parts = 0, lfn_seq = 0;
	uint8_t lfn_sum = 0, *buf;
	size_t len;
	struct dirent_fat d;

	buf = read_dir(fs, first, &len);
	if (buf == NULL)
		return -1;
	for (size_t o = 0; o + 32 <= len; o += 32) {
		const uint8_t *e = buf + o;

		if (e[0] == 0x00)
			break;
		if (e[0] == 0xe5) {
			lfn_parts = 0;
			continue;
		}
		if ((e[11] & 0x3f) == FAT_ATTR_LFN) {
			int seq = e[0] & 0x1f;
			static const int pos[13] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };

			if (e[0] & 0x40) {
				lfn_parts = seq;
				lfn_seq = seq;
				lfn_sum = e[13];
				if (seq == 0 || seq > 20)
					lfn_parts = 0;
				else
					memset(lfn, 0, sizeof(lfn));
			} else if (lfn_parts == 0 || seq == 0 || seq != lfn_seq - 1 ||
			    e[13] != lfn_sum) {
				lfn_parts = 0;
				continue;
			} else {
				lfn_seq = seq;
			}
			if (lfn_parts > 0)
				for (int i = 0; i < 13; i++)
					lfn[(seq - 1) * 13 + i] = (uint16_t)gb_le(e + pos[i], 2);
			continue;
		}
		if (e[11] & FAT_ATTR_VOLUME) {
			lfn_parts = 0;
			continue;
		}
		if (lfn_parts > 0 && lfn_seq == 1 && short_sum(e) == lfn_sum)
			lfn_utf8(lfn, lfn_parts * 13, d.name, sizeof(d.name));
		else
			short_name(e, d.name);
		lfn_parts = 0;
		if (strcmp(d.name, ".") == 0 || strcmp(d.name, "..") == 0 || d.name[0] == '\0')
			continue;
		d.isdir = (e[11] & FAT_ATTR_DIR) != 0;
		d.first = (uint32_t)gb_le(e + 26, 2);
		if (((struct fat *)fs->fat)->bits == 32)
			d.first |= (uint32_t)gb_le(e + 20, 2) << 16;
		d.size = d.isdir ? 0 : (uint32_t)gb_le(e + 28, 4);
		if (fn(arg, &d))
			break;
	}
	free(buf);
	return 0;
}

struct find {
	const char *name;
	size_t len;
	struct dirent_fat found;
	bool ok;
};

static bool find_one(void *arg, const struct dirent_fat *d)
{
	struct find *f = arg;

	/* FAT's names are case-insensitive (ASCII; other letters as stored). */
	if (strlen(d->name) == f->len && strncasecmp(d->name, f->name, f->len) == 0) {
		f->found = *d;
		f->ok = true;
		return true;
	}
	return false;
}

/* What path is: the root is a directory at cluster 0. */
static int lookup(struct gb_fs *fs, const char *path, struct dirent_fat *out)
{
	struct dirent_fat cur = { .isdir = true, .first = 0 };
	const char *p = path;
	int depth = 0;

	if (path[0] != '/')
		return -1;
	for (;;) {
		struct find f = { 0 };

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		f.name = p;
		f.len = strcspn(p, "/");
		p += f.len;
		if (f.len == 1 && f.name[0] == '.')
			continue;
		if (!cur.isdir || ++depth > 256 || (f.len == 2 && strncmp(f.name, "..", 2) == 0))
			return -1;
		if (walk_dir(fs, cur.first, find_one, &f) < 0 || !f.ok)
			return -1;
		cur = f.found;
	}
	*out = cur;
	return 0;
}

int gb_fat_stat(struct gb_fs *fs, const char *path, uint64_t *size, bool *isdir)
{
	struct dirent_fat d;

	if (lookup(fs, path, &d) < 0)
		return -1;
	*size = d.size;
	*isdir = d.isdir;
	return 0;
}

struct list {
	gb_list_fn cb;
	void *arg;
};

static bool list_one(void *arg, const struct dirent_fat *d)
{
	struct list *l = arg;

	l->cb(l->arg, d->name, d->isdir, d->size);
	return false;
}

int gb_fat_list(struct gb_fs *fs, const char *path, gb_list_fn cb, void *arg)
{
	struct list l = { cb, arg };
	struct dirent_fat d;

	if (lookup(fs, path, &d) < 0 || !d.isdir)
		return -1;
	return walk_dir(fs, d.first, list_one, &l);
}

struct gb_file *gb_fat_open(struct gb_fs *fs, const char *path, char *err, size_t errlen)
{
	struct fat *fat = fs->fat;
	struct fat_file *ff;
	struct gb_file *f;
	struct dirent_fat d;
	uint32_t need;

	if (lookup(fs, path, &d) < 0) {
		gb_fail(err, errlen, "%s: file not found", path);
		return NULL;
	}
	if (d.isdir) {
		gb_fail(err, errlen, "%s: not a regular file", path);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	ff = calloc(1, sizeof(*ff));
	if (f == NULL || ff == NULL) {
		free(f);
		free(ff);
		gb_fail(err, errlen, "out of memory");
		return NULL;
	}
	f->fs = fs;
	f->fd = -1;
	f->size = d.size;
	f->fat = ff;
	need = (uint32_t)(((uint64_t)d.size + fat->csize - 1) / fat->csize);
	if (need > 0) {
		ff->clus = chain(fat, d.first, need, &ff->n);
		if (ff->clus == NULL || ff->n < need) {
			gb_fail(err, errlen, "%s: a broken cluster chain", path);
			gb_fat_close(f);
			free(f);
			return NULL;
		}
	}
	return f;
}

ssize_t gb_fat_pread(struct gb_file *f, void *buf, size_t len, uint64_t off)
{
	const struct fat *fat = f->fs->fat;
	const struct fat_file *ff = f->fat;
	size_t done = 0;

	while (done < len) {
		uint64_t pos = off + done;
		uint64_t idx = pos / fat->csize, in = pos % fat->csize;
		size_t n = (size_t)(fat->csize - in);

		if (idx >= ff->n)
			break;
		if (n > len - done)
			n = len - done;
		if (range_read(f->fs, cluster_off(fat, ff->clus[idx]) + in, (uint8_t *)buf + done, n) < 0)
			return -1;
		done += n;
	}
	return (ssize_t)done;
}

void gb_fat_close(struct gb_file *f)
{
	struct fat_file *ff = f->fat;

	if (ff != NULL)
		free(ff->clus);
	free(ff);
	f->fat = NULL;
}
