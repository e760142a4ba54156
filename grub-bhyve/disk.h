/* grub-bhyve's disks: device.map (which image file is (hd0), (cd0), ...), GRUB
 * device names (hd0, cd0, hd0,msdos1, hd0,gpt2, host) and the MBR and GPT
 * partition tables that turn them into a byte range of an image file. */
#ifndef GB_DISK_H
#define GB_DISK_H

#include <stddef.h>
#include <stdint.h>

#define GB_DEVMAP_MAX	32
#define GB_SECTOR	512

struct gb_devmap {
	int n;
	struct {
		char name[16];		/* "hd0", "cd0" */
		char *path;		/* the image file */
	} dev[GB_DEVMAP_MAX];
};

/* A resolved device: path NULL for "host" (the host's files, under -r's directory). */
struct gb_range {
	const char *path;
	uint64_t off, size;
};

/* Parses device.map text: lines "(hd0) ./linux.img", '#' comments, blank lines.
 * Relative paths stay as written (relative to the current directory, as
 * grub2-bhyve has them). 0, or -1 with a message in err. */
int gb_devmap_parse(struct gb_devmap *map, const char *text, char *err, size_t errlen);
void gb_devmap_free(struct gb_devmap *map);

/* Reads len bytes at off of a disk; 0, or -1 when they are not all there. */
typedef int (*gb_read_fn)(void *arg, uint64_t off, void *buf, size_t len);

/* Finds partition number part (1-based, as GRUB counts: msdos5 is the first
 * logical one) in the table of scheme "msdos" or "gpt" (NULL: either) of a disk
 * of disk_size bytes. The range is checked against the disk. 0, or -1 with a
 * message in err; hostile tables give -1, never a crash or a loop. */
int gb_part_find(gb_read_fn rd, void *arg, uint64_t disk_size, const char *scheme,
    unsigned part, uint64_t *off, uint64_t *size, char *err, size_t errlen);

/* Resolves a GRUB device name ("hd0", "(hd0,msdos1)", "hd0,gpt2", "cd0", "host")
 * through the map to a byte range of its image file (opened to read the table
 * and learn its size). 0, or -1 with a message in err. */
int gb_dev_resolve(const struct gb_devmap *map, const char *name, struct gb_range *out,
    char *err, size_t errlen);

#endif
