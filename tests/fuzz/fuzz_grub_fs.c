/* libFuzzer target: grub-bhyve's filesystems on a hostile image. The input is
 * the image (in a memfd); it is probed, mounted (ext2/3/4 through libext2fs,
 * ISO 9660 through libarchive, FAT12/16/32 by fs_fat.c), its root and /boot
 * listed and the files there read. tests/run seeds it with a small ext2, a
 * small ISO, a FAT12 and a FAT32 (seed_grub_fs.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct gb_fs *fs;
	const char *dir;
	int n;
};

static void visit(void *arg, const char *name, bool isdir, uint64_t size)
{
	struct ctx *c = arg;
	char path[512], err[128];
	uint8_t buf[4096];
	struct gb_file *f;

	if (isdir || c->n++ >= 16 || size > (1 << 20))
		return;
	snprintf(path, sizeof(path), "%s/%s", strcmp(c->dir, "/") == 0 ? "" : c->dir, name);
	f = gb_file_open(c->fs, path, err, sizeof(err));
	if (f == NULL)
		return;
	for (uint64_t off = 0; off < gb_file_size(f) && off < (1 << 20); off += sizeof(buf))
		if (gb_file_pread(f, buf, sizeof(buf), off) <= 0)
			break;
	gb_file_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct ctx c = { NULL, "/", 0 };
	char err[256];

	if (fd < 0) {
		fd = memfd_create("fuzz_grub_fs", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	c.fs = gb_fs_mount(path, 0, size, NULL, err, sizeof(err));
	if (c.fs == NULL)
		return 0;
	gb_fs_list(c.fs, "/", visit, &c);
	c.dir = "/boot";
	gb_fs_list(c.fs, "/boot", visit, &c);
	(void)gb_fs_stat(c.fs, "/boot/grub/grub.cfg", NULL, NULL);
	gb_fs_umount(c.fs);
	return 0;
}
