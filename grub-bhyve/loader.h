/* What ties grub-bhyve's parts together, short of the VM: the device map's
 * disks and their filesystems as the grub.cfg interpreter's files and searches,
 * and a chosen entry's kernel and initrds read and planned into guest memory. */
#ifndef GB_LOADER_H
#define GB_LOADER_H

#include "cfg.h"
#include "disk.h"
#include "fs.h"
#include "linux.h"

#define GB_MOUNTS_MAX	64

struct gb_loader {
	struct gb_devmap map;
	const char *hostdir;		/* "host": -r host's directory, or NULL */
	struct {
		char dev[32];
		struct gb_fs *fs;	/* NULL: tried, nothing readable */
	} mounts[GB_MOUNTS_MAX];
	int nmounts;
	char err[256];			/* why the last lookup failed */
};

/* map is taken over (freed by gb_loader_fini). */
void gb_loader_init(struct gb_loader *l, const struct gb_devmap *map, const char *hostdir);
void gb_loader_fini(struct gb_loader *l);
/* The filesystem on a GRUB device ("hd0,msdos1", "cd0", "host"), mounted once. */
struct gb_fs *gb_loader_fs(struct gb_loader *l, const char *dev);
/* The interpreter's callbacks over this loader. */
struct gb_cfg_ops gb_loader_ops(struct gb_loader *l);

/* A chosen entry's kernel and initrds, read from their devices. */
struct gb_loaded {
	uint8_t *kernel;
	size_t klen;
	struct gb_initrd initrd[GB_MAX_INITRD];
	int ninitrd;
};

int gb_loader_read(struct gb_loader *l, const struct gb_boot *b, struct gb_loaded *out,
    char *err, size_t errlen);
void gb_loaded_free(struct gb_loaded *ld);

#endif
