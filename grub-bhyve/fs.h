/* grub-bhyve's one small filesystem API over a byte range of an image file (or
 * a host directory): ext2/3/4 through libext2fs, ISO 9660 with Rock Ridge and
 * Joliet through libarchive, FAT12/16/32 with long names (fs_fat.c, by hand),
 * probed (type, label, UUID) by libblkid. XFS and other types are refused with
 * a message naming them. */
#ifndef GB_FS_H
#define GB_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct gb_fs;
struct gb_file;

/* The filesystem of size bytes at off of image; image NULL: the host directory
 * hostdir ("host" in GRUB's names). NULL with a message in err. */
struct gb_fs *gb_fs_mount(const char *image, uint64_t off, uint64_t size, const char *hostdir,
    char *err, size_t errlen);
void gb_fs_umount(struct gb_fs *fs);
/* "ext2", "ext3", "ext4", "iso9660", "vfat", "host"; label and UUID as blkid reports
 * them ("" when there is none). */
const char *gb_fs_type(const struct gb_fs *fs);
const char *gb_fs_label(const struct gb_fs *fs);
const char *gb_fs_uuid(const struct gb_fs *fs);

/* 0 and what path is, or -1 when it does not exist. Paths are absolute ("/boot/x"). */
int gb_fs_stat(struct gb_fs *fs, const char *path, uint64_t *size, bool *isdir);
/* Calls cb for each entry of directory path but "." and ".."; 0, or -1. */
typedef void (*gb_list_fn)(void *arg, const char *name, bool isdir, uint64_t size);
int gb_fs_list(struct gb_fs *fs, const char *path, gb_list_fn cb, void *arg);

struct gb_file *gb_file_open(struct gb_fs *fs, const char *path, char *err, size_t errlen);
uint64_t gb_file_size(const struct gb_file *f);
/* Up to len bytes at off; the count (0 at the end), or -1. */
ssize_t gb_file_pread(struct gb_file *f, void *buf, size_t len, uint64_t off);
void gb_file_close(struct gb_file *f);
/* The whole file in a malloc'd buffer (NUL-terminated, for text), if at most max bytes. */
int gb_fs_read_all(struct gb_fs *fs, const char *path, size_t max, uint8_t **data, size_t *len,
    char *err, size_t errlen);

#endif
