/* device.map, GRUB device names, and MBR and GPT partition tables (written here:
 * small, well specified, and every field checked against the image's size). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk.h"
#include "gb_util.h"

void gb_devmap_free(struct gb_devmap *map)
{
	for (int i = 0; i < map->n; i++)
		free(map->dev[i].path);
	map->n = 0;
}

int gb_devmap_parse(struct gb_devmap *map, const char *text, char *err, size_t errlen)
{
	int lineno = 0;

	memset(map, 0, sizeof(*map));
	while (*text != '\0') {
		const char *eol = strchr(text, '\n'), *p = text, *q;
		size_t n;

		if (eol == NULL)
			eol = text + strlen(text);
		lineno++;
		text = *eol == '\n' ? eol + 1 : eol;
		while (p < eol && isspace((unsigned char)*p))
			p++;
		if (p == eol || *p == '#')
			continue;
		if (*p != '(' || (q = memchr(p, ')', (size_t)(eol - p))) == NULL)
			goto bad;
		n = (size_t)(q - p - 1);
		if (n == 0 || n >= sizeof(map->dev[0].name) ||
		    (strncmp(p + 1, "hd", 2) != 0 && strncmp(p + 1, "cd", 2) != 0) ||
		    strspn(p + 3, "0123456789") != n - 2 || n == 2)
			goto bad;
		if (map->n == GB_DEVMAP_MAX) {
			gb_devmap_free(map);
			return gb_fail(err, errlen, "device.map line %d: more than %d devices",
			    lineno, GB_DEVMAP_MAX);
		}
		for (int i = 0; i < map->n; i++)
			if (strlen(map->dev[i].name) == n && memcmp(map->dev[i].name, p + 1, n) == 0) {
				gb_devmap_free(map);
				return gb_fail(err, errlen, "device.map line %d: (%.*s) is there twice",
				    lineno, (int)n, p + 1);
			}
		memcpy(map->dev[map->n].name, p + 1, n);
		map->dev[map->n].name[n] = '\0';
		p = q + 1;
		while (p < eol && isspace((unsigned char)*p))
			p++;
		q = eol;
		while (q > p && isspace((unsigned char)q[-1]))
			q--;
		if (q == p)
			goto bad;
		map->dev[map->n].path = strndup(p, (size_t)(q - p));
		if (map->dev[map->n].path == NULL) {
			gb_devmap_free(map);
			return gb_fail(err, errlen, "device.map: out of memory");
		}
		map->n++;
		continue;
bad:
		gb_devmap_free(map);
		return gb_fail(err, errlen, "device.map line %d: want \"(hdN) file\" or \"(cdN) file\"",
		    lineno);
	}
	return 0;
}

/* The MBR's four entries (1-4) and the logical partitions of its extended one
 * (5...), as GRUB numbers them. */
static int mbr_find(gb_read_fn rd, void *arg, uint64_t disk_size, unsigned part,
    uint64_t *off, uint64_t *size, char *err, size_t errlen)
{
	uint8_t s[GB_SECTOR];
	uint64_t ext_base = 0, ebr;
	unsigned logical = 4;

	if (rd(arg, 0, s, sizeof(s)) < 0)
		return gb_fail(err, errlen, "cannot read the MBR");
	if (s[510] != 0x55 || s[511] != 0xAA)
		return gb_fail(err, errlen, "no MBR partition table (no 0x55AA signature)");
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = s + 446 + 16 * i;
		uint8_t type = e[4];

		if (type == 0x05 || type == 0x0F || type == 0x85)
			ext_base = gb_le(e + 8, 4);
		else if (type == 0xEE && part == 1 && i == 0)
			return gb_fail(err, errlen, "msdos1 is a GPT protective entry: use gptN");
		if ((unsigned)i + 1 != part)
			continue;
		if (type == 0 || gb_le(e + 12, 4) == 0)
			return gb_fail(err, errlen, "msdos%u: no such partition", part);
		*off = gb_le(e + 8, 4) * GB_SECTOR;
		*size = gb_le(e + 12, 4) * GB_SECTOR;
		goto check;
	}
	if (part <= 4 || ext_base == 0)
		return gb_fail(err, errlen, "msdos%u: no such partition", part);
	/* The chain of extended boot records: each has the logical partition
	 * (relative to itself) and a link (relative to the extended partition). */
	ebr = ext_base;
	for (int hops = 0; hops < 128; hops++) {
		const uint8_t *e = s + 446;
		uint64_t next;

		if (ebr * GB_SECTOR >= disk_size || rd(arg, ebr * GB_SECTOR, s, sizeof(s)) < 0 ||
		    s[510] != 0x55 || s[511] != 0xAA)
			return gb_fail(err, errlen, "msdos%u: broken extended partition chain", part);
		if (e[4] != 0 && ++logical == part) {
			*off = (ebr + gb_le(e + 8, 4)) * GB_SECTOR;
			*size = gb_le(e + 12, 4) * GB_SECTOR;
			goto check;
		}
		next = gb_le(e + 16 + 8, 4);
		if (e[16 + 4] == 0 || next == 0)
			break;
		ebr = ext_base + next;
	}
	return gb_fail(err, errlen, "msdos%u: no such partition", part);
check:
	if (*size == 0 || *off >= disk_size || *size > disk_size - *off)
		return gb_fail(err, errlen, "msdos%u lies outside the disk (%llu bytes at %llu of %llu)",
		    part, (unsigned long long)*size, (unsigned long long)*off,
		    (unsigned long long)disk_size);
	return 0;
}

static int gpt_find(gb_read_fn rd, void *arg, uint64_t disk_size, unsigned part,
    uint64_t *off, uint64_t *size, char *err, size_t errlen)
{
	uint8_t h[GB_SECTOR], e[512];
	uint64_t entries_lba, first, last;
	uint32_t nent, esize;
	static const uint8_t zero[16];

	if (rd(arg, GB_SECTOR, h, sizeof(h)) < 0 || memcmp(h, "EFI PART", 8) != 0)
		return gb_fail(err, errlen, "no GPT header at LBA 1");
	entries_lba = gb_le(h + 72, 8);
	nent = (uint32_t)gb_le(h + 80, 4);
	esize = (uint32_t)gb_le(h + 84, 4);
	if (esize < 128 || esize > sizeof(e) || esize % 8 != 0)
		return gb_fail(err, errlen, "GPT: partition entries of %u bytes", esize);
	if (part == 0 || part > nent)
		return gb_fail(err, errlen, "gpt%u: no such partition (the table has %u)", part, nent);
	if (entries_lba == 0 || entries_lba > disk_size / GB_SECTOR ||
	    (uint64_t)(part - 1) * esize >= disk_size - entries_lba * GB_SECTOR)
		return gb_fail(err, errlen, "GPT: partition entries outside the disk");
	if (rd(arg, entries_lba * GB_SECTOR + (uint64_t)(part - 1) * esize, e, esize) < 0)
		return gb_fail(err, errlen, "GPT: cannot read entry %u", part);
	if (memcmp(e, zero, 16) == 0)
		return gb_fail(err, errlen, "gpt%u: no such partition", part);
	first = gb_le(e + 32, 8);
	last = gb_le(e + 40, 8);
	if (last < first || first > disk_size / GB_SECTOR || last >= disk_size / GB_SECTOR)
		return gb_fail(err, errlen, "gpt%u lies outside the disk", part);
	*off = first * GB_SECTOR;
	*size = (last - first + 1) * GB_SECTOR;
	return 0;
}

int gb_part_find(gb_read_fn rd, void *arg, uint64_t disk_size, const char *scheme,
    unsigned part, uint64_t *off, uint64_t *size, char *err, size_t errlen)
{
	if (scheme != NULL && strcmp(scheme, "msdos") == 0)
		return mbr_find(rd, arg, disk_size, part, off, size, err, errlen);
	if (scheme != NULL && strcmp(scheme, "gpt") == 0)
		return gpt_find(rd, arg, disk_size, part, off, size, err, errlen);
	if (scheme != NULL)
		return gb_fail(err, errlen, "unknown partition scheme \"%s\" (msdos or gpt)", scheme);
	/* No scheme ("hd0,1"): GPT where there is one, else MBR. */
	if (gpt_find(rd, arg, disk_size, part, off, size, err, errlen) == 0)
		return 0;
	return mbr_find(rd, arg, disk_size, part, off, size, err, errlen);
}

static int fd_read(void *arg, uint64_t off, void *buf, size_t len)
{
	ssize_t n = pread(*(int *)arg, buf, len, (off_t)off);

	return n == (ssize_t)len ? 0 : -1;
}

int gb_dev_resolve(const struct gb_devmap *map, const char *name, struct gb_range *out,
    char *err, size_t errlen)
{
	char buf[64], *comma;
	const char *scheme = NULL;
	const char *path = NULL;
	unsigned long part = 0;
	size_t n = strlen(name);
	int fd, rc;

	if (n >= 2 && name[0] == '(' && name[n - 1] == ')') {
		name++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf))
		return gb_fail(err, errlen, "bad device name");
	memcpy(buf, name, n);
	buf[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (strcmp(buf, "host") == 0)
		return 0;
	comma = strchr(buf, ',');
	if (comma != NULL) {
		char *p = comma + 1, *end;

		*comma = '\0';
		if (strncmp(p, "msdos", 5) == 0 || strncmp(p, "gpt", 3) == 0) {
			scheme = p;
			p += p[0] == 'm' ? 5 : 3;
		}
		errno = 0;
		part = strtoul(p, &end, 10);
		if (*p < '1' || *p > '9' || *end != '\0' || errno != 0 || part > 1024)
			return gb_fail(err, errlen, "(%.*s): bad partition", (int)n, name);
		if (scheme != NULL)	/* the name without its number */
			scheme = scheme[0] == 'm' ? "msdos" : "gpt";
	}
	for (int i = 0; i < map->n; i++)
		if (strcmp(map->dev[i].name, buf) == 0)
			path = map->dev[i].path;
	if (path == NULL)
		return gb_fail(err, errlen, "(%s): not in the device map", buf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gb_fail(err, errlen, "%s: %s", path, strerror(errno));
	if (gb_image_size(fd, &out->size) < 0) {
		close(fd);
		return gb_fail(err, errlen, "%s: not a regular file or a block device", path);
	}
	out->path = path;
	rc = 0;
	if (comma != NULL) {
		rc = gb_part_find(fd_read, &fd, out->size, scheme, (unsigned)part, &out->off,
		    &out->size, err, errlen);
		if (rc < 0 && errlen > 0) {
			char tmp[256];

			snprintf(tmp, sizeof(tmp), "%s", err);
			snprintf(err, errlen, "(%.*s): %s", (int)n, name, tmp);
		}
	}
	close(fd);
	return rc;
}
