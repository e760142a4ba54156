/* What fs.c, fs_ext.c, fs_iso.c and fs_fat.c share (not part of the API). */
#ifndef GB_FS_IMPL_H
#define GB_FS_IMPL_H

#include "fs.h"
#include "gb_util.h"

enum fs_kind { FS_HOST, FS_EXT, FS_ISO, FS_FAT };

struct iso_ent;

struct gb_fs {
	enum fs_kind kind;
	char type[16], label[256], uuid[64];
	char *image, *hostdir;
	int fd;
	uint64_t off, size;
	void *ext;			/* ext2_filsys */
	struct iso_ent *ents;		/* ISO: every entry, from one pass */
	size_t nents;
	void *fat;			/* FAT: struct fat (fs_fat.c) */
};

struct gb_file {
	struct gb_fs *fs;
	uint64_t size;
	int fd;				/* host */
	void *ext;			/* ext2_file_t */
	uint8_t *data;			/* ISO: the contents */
	void *fat;			/* FAT: the file's clusters */
};


int gb_ext_mount(struct gb_fs *fs, char *err, size_t errlen);
void gb_ext_umount(struct gb_fs *fs);
int gb_ext_stat(struct gb_fs *fs, const char *path, uint64_t *size, bool *isdir);
int gb_ext_list(struct gb_fs *fs, const char *path, gb_list_fn cb, void *arg);
struct gb_file *gb_ext_open(struct gb_fs *fs, const char *path, char *err, size_t errlen);
ssize_t gb_ext_pread(struct gb_file *f, void *buf, size_t len, uint64_t off);
void gb_ext_close(struct gb_file *f);

int gb_iso_mount(struct gb_fs *fs, char *err, size_t errlen);
void gb_iso_umount(struct gb_fs *fs);
int gb_iso_stat(struct gb_fs *fs, const char *path, uint64_t *size, bool *isdir);
int gb_iso_list(struct gb_fs *fs, const char *path, gb_list_fn cb, void *arg);
struct gb_file *gb_iso_open(struct gb_fs *fs, const char *path, char *err, size_t errlen);

int gb_fat_mount(struct gb_fs *fs, char *err, size_t errlen);
void gb_fat_umount(struct gb_fs *fs);
int gb_fat_stat(struct gb_fs *fs, const char *path, uint64_t *size, bool *isdir);
int gb_fat_list(struct gb_fs *fs, const char *path, gb_list_fn cb, void *arg);
struct gb_file *gb_fat_open(struct gb_fs *fs, const char *path, char *err, size_t errlen);
ssize_t gb_fat_pread(struct gb_file *f, void *buf, size_t len, uint64_t off);
void gb_fat_close(struct gb_file *f);

#endif
