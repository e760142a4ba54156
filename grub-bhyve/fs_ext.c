/* ext2/3/4 through libext2fs, opened inside an image file with unix_io's
 * "offset=N" channel option. */
#include <ext2fs/ext2fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_impl.h"

int gb_ext_mount(struct gb_fs *fs, char *err, size_t errlen)
{
	char opts[64];
	ext2_filsys e;
	errcode_t rc;

	snprintf(opts, sizeof(opts), "offset=%llu", (unsigned long long)fs->off);
	rc = ext2fs_open2(fs->image, opts, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &e);
	if (rc != 0)
		return gb_fail(err, errlen, "%s at %llu: ext2fs_open: %s", fs->image,
		    (unsigned long long)fs->off, error_message(rc));
	if ((uint64_t)ext2fs_blocks_count(e->super) * e->blocksize > fs->size) {
		ext2fs_close_free(&e);
		return gb_fail(err, errlen, "%s at %llu: the filesystem is larger than its partition",
		    fs->image, (unsigned long long)fs->off);
	}
	fs->ext = e;
	fs->kind = FS_EXT;
	return 0;
}

void gb_ext_umount(struct gb_fs *fs)
{
	ext2_filsys e = fs->ext;

	if (e != NULL)
		ext2fs_close_free(&e);
	fs->ext = NULL;
}

static int lookup(struct gb_fs *fs, const char *path, ext2_ino_t *ino, struct ext2_inode *inode)
{
	ext2_filsys e = fs->ext;

	if (path[0] != '/')
		return -1;
	if (ext2fs_namei_follow(e, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino) != 0)
		return -1;
	return ext2fs_read_inode(e, *ino, inode) == 0 ? 0 : -1;
}

int gb_ext_stat(struct gb_fs *fs, const char *path, uint64_t *size, bool *isdir)
{
	struct ext2_inode inode;
	ext2_ino_t ino;

	if (lookup(fs, path, &ino, &inode) < 0)
		return -1;
	*size = EXT2_I_SIZE(&inode);
	*isdir = LINUX_S_ISDIR(inode.i_mode);
	return 0;
}

struct list_ctx {
	struct gb_fs *fs;
	gb_list_fn cb;
	void *arg;
};

static int list_one(struct ext2_dir_entry *d, int off, int bs, char *buf, void *priv)
{
	struct list_ctx *c = priv;
	struct ext2_inode inode;
	char name[256];
	int len = ext2fs_dirent_name_len(d);

	(void)off, (void)bs, (void)buf;
	memcpy(name, d->name, (size_t)len);
	name[len] = '\0';
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	if (ext2fs_read_inode(c->fs->ext, d->inode, &inode) != 0)
		return 0;
	c->cb(c->arg, name, LINUX_S_ISDIR(inode.i_mode), EXT2_I_SIZE(&inode));
	return 0;
}

int gb_ext_list(struct gb_fs *fs, const char *path, gb_list_fn cb, void *arg)
{
	struct list_ctx c = { fs, cb, arg };
	struct ext2_inode inode;
	ext2_ino_t ino;

	if (lookup(fs, path, &ino, &inode) < 0 || !LINUX_S_ISDIR(inode.i_mode))
		return -1;
	return ext2fs_dir_iterate(fs->ext, ino, 0, NULL, list_one, &c) == 0 ? 0 : -1;
}

struct gb_file *gb_ext_open(struct gb_fs *fs, const char *path, char *err, size_t errlen)
{
	struct ext2_inode inode;
	struct gb_file *f;
	ext2_file_t ef;
	ext2_ino_t ino;

	if (lookup(fs, path, &ino, &inode) < 0) {
		gb_fail(err, errlen, "%s: file not found", path);
		return NULL;
	}
	if (!LINUX_S_ISREG(inode.i_mode)) {
		gb_fail(err, errlen, "%s: not a regular file", path);
		return NULL;
	}
	if (ext2fs_file_open(fs->ext, ino, 0, &ef) != 0) {
		gb_fail(err, errlen, "%s: cannot open", path);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		ext2fs_file_close(ef);
		gb_fail(err, errlen, "out of memory");
		return NULL;
	}
	f->fs = fs;
	f->fd = -1;
	f->ext = ef;
	f->size = ext2fs_file_get_size(ef);
	return f;
}

ssize_t gb_ext_pread(struct gb_file *f, void *buf, size_t len, uint64_t off)
{
	unsigned int got = 0;

	if (len > 1U << 30)
		len = 1U << 30;
	if (ext2fs_file_llseek(f->ext, off, EXT2_SEEK_SET, NULL) != 0 ||
	    ext2fs_file_read(f->ext, buf, (unsigned int)len, &got) != 0)
		return -1;
	return got;
}

void gb_ext_close(struct gb_file *f)
{
	if (f->ext != NULL)
		ext2fs_file_close(f->ext);
	f->ext = NULL;
}
