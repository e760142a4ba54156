/* The filesystems, read back from images built at test time and compared with
 * the files they were made from. */
#include <stdlib.h>
#include <unistd.h>

#include "disk.h"
#include "fs.h"
#include "gt.h"
#include "loader.h"

static bool same_file(struct gb_fs *fs, const char *path, const char *host)
{
	uint8_t *a, *b;
	size_t alen, blen = 0;
	char err[256];
	bool ok;

	if (gb_fs_read_all(fs, path, 1U << 30, &a, &alen, err, sizeof(err)) < 0) {
		gt_fail(__FILE__, __LINE__, "%s: %s", path, err);
		return false;
	}
	b = gt_slurp(gt_path(host), &blen);
	ok = b != NULL && alen == blen && memcmp(a, b, alen) == 0;
	if (!ok)
		gt_fail(__FILE__, __LINE__, "%s differs from %s (%zu and %zu bytes)", path, host, alen, blen);
	free(a);
	free(b);
	return ok;
}

struct names {
	char buf[1024];
	int n;
};

static void collect(void *arg, const char *name, bool isdir, uint64_t size)
{
	struct names *nm = arg;
	size_t l = strlen(nm->buf);

	(void)size;
	snprintf(nm->buf + l, sizeof(nm->buf) - l, "%s%s ", name, isdir ? "/" : "");
	nm->n++;
}

static bool listed(const struct names *nm, const char *name)
{
	char w[300];

	snprintf(w, sizeof(w), "%s ", name);
	return strstr(nm->buf, w) != NULL;
}

/* What every image of the test tree holds. */
static void check_tree(struct gb_fs *fs, bool symlink)
{
	struct names nm = { .n = 0 };
	struct gb_file *f;
	uint64_t size;
	bool isdir;
	uint8_t buf[16];
	char err[256];

	same_file(fs, "/boot/vmlinuz", "root/boot/vmlinuz");
	same_file(fs, "/boot/initrd-a", "root/boot/initrd-a");
	same_file(fs, "/boot/initrd-b", "root/boot/initrd-b");
	same_file(fs, "/boot/grub/grub.cfg", "root/boot/grub/grub.cfg");
	if (symlink)
		same_file(fs, "/boot/vmlinuz-link", "root/boot/vmlinuz");
	CHECK(gb_fs_stat(fs, "/boot", &size, &isdir) == 0 && isdir);
	CHECK(gb_fs_stat(fs, "/boot/initrd-b", &size, &isdir) == 0 && !isdir && size == 4099);
	CHECK(gb_fs_stat(fs, "/boot/nothing", &size, &isdir) < 0);
	CHECK(gb_fs_stat(fs, "/etc/hostname/x", &size, &isdir) < 0);
	CHECK(gb_fs_list(fs, "/boot", collect, &nm) == 0);
	CHECK(listed(&nm, "vmlinuz") && listed(&nm, "initrd-a") && listed(&nm, "grub/"));
	CHECK_EQ(nm.n, symlink ? 5 : 4);
	CHECK(gb_fs_list(fs, "/boot/initrd-a", collect, &nm) < 0);
	CHECK(gb_file_open(fs, "/boot", err, sizeof(err)) == NULL);
	CHECK(gb_file_open(fs, "/missing", err, sizeof(err)) == NULL);
	/* Reads at an offset and past the end. */
	f = gb_file_open(fs, "/etc/hostname", err, sizeof(err));
	REQUIRE(f != NULL);
	CHECK_EQ(gb_file_size(f), 16);
	CHECK_EQ(gb_file_pread(f, buf, 4, 5), 4);
	CHECK(memcmp(buf, "bhyv", 4) == 0);
	CHECK_EQ(gb_file_pread(f, buf, sizeof(buf), 10), 6);
	CHECK_EQ(gb_file_pread(f, buf, sizeof(buf), 16), 0);
	gb_file_close(f);
}

static void ext4_image(void)
{
	struct gb_fs *fs;
	char err[256];

	SKIP_IF_NO_DIR();
	fs = gb_fs_mount(gt_path("fs.img"), 0, 48 << 20, NULL, err, sizeof(err));
	if (fs == NULL)
		gt_fail(__FILE__, __LINE__, "%s", err);
	REQUIRE(fs != NULL);
	CHECK_STR(gb_fs_type(fs), "ext4");
	CHECK_STR(gb_fs_label(fs), "gbroot");
	CHECK_STR(gb_fs_uuid(fs), "6a4c1f2e-7d3b-4c55-9e0a-1b2c3d4e5f60");
	check_tree(fs, true);
	gb_fs_umount(fs);
	/* The filesystem claims more than the range it is given. */
	CHECK(gb_fs_mount(gt_path("fs.img"), 0, 8 << 20, NULL, err, sizeof(err)) == NULL);
}

static void ext4_in_partitions(void)
{
	static const char *const devs[] = { "hd0,msdos1", "hd1,gpt2" };
	struct gb_devmap m;
	char text[1024], err[256];

	SKIP_IF_NO_DIR();
	snprintf(text, sizeof(text), "(hd0) %s\n(hd1) %s\n", gt_path("mbr.img"), gt_path("gpt.img"));
	REQUIRE(gb_devmap_parse(&m, text, err, sizeof(err)) == 0);
	for (size_t i = 0; i < 2; i++) {
		struct gb_range r;
		struct gb_fs *fs;

		if (gb_dev_resolve(&m, devs[i], &r, err, sizeof(err)) < 0) {
			gt_fail(__FILE__, __LINE__, "%s: %s", devs[i], err);
			continue;
		}
		fs = gb_fs_mount(r.path, r.off, r.size, NULL, err, sizeof(err));
		if (fs == NULL) {
			gt_fail(__FILE__, __LINE__, "%s: %s", devs[i], err);
			continue;
		}
		CHECK_STR(gb_fs_type(fs), "ext4");
		check_tree(fs, true);
		gb_fs_umount(fs);
	}
	/* The whole MBR disk and its empty logical partition hold no filesystem. */
	CHECK(gb_fs_mount(gt_path("mbr.img"), 0, 64 << 20, NULL, err, sizeof(err)) == NULL);
	CHECK(gb_fs_mount(gt_path("mbr.img"), 102400ULL * 512, 8192 * 512, NULL, err, sizeof(err)) == NULL);
	gb_devmap_free(&m);
}

static void iso_rock_ridge(void)
{
	struct names nm = { .n = 0 };
	struct gb_fs *fs;
	uint64_t size = 0;
	char err[256];

	SKIP_IF_NO_DIR();
	fs = gb_fs_mount(gt_path("cd.iso"), 0, 1ULL << 40, NULL, err, sizeof(err));
	if (fs == NULL)
		gt_fail(__FILE__, __LINE__, "%s", err);
	REQUIRE(fs != NULL);
	CHECK_STR(gb_fs_type(fs), "iso9660");
	CHECK_STR(gb_fs_label(fs), "GBISO");
	CHECK(strlen(gb_fs_uuid(fs)) > 0);
	check_tree(fs, true);
	/* Rock Ridge's names: lower case, long, with spaces. */
	CHECK(gb_fs_stat(fs, "/A long Joliet file name.txt", &size, NULL) == 0 && size == 7);
	CHECK(gb_fs_list(fs, "/", collect, &nm) == 0);
	CHECK(listed(&nm, "boot/") && listed(&nm, "etc/"));
	gb_fs_umount(fs);
}

static void iso_joliet(void)
{
	struct gb_fs *fs;
	uint64_t size = 0;
	char err[256];

	SKIP_IF_NO_DIR();
	fs = gb_fs_mount(gt_path("joliet.iso"), 0, 1ULL << 40, NULL, err, sizeof(err));
	if (fs == NULL)
		gt_fail(__FILE__, __LINE__, "%s", err);
	REQUIRE(fs != NULL);
	check_tree(fs, false);
	CHECK(gb_fs_stat(fs, "/A long Joliet file name.txt", &size, NULL) == 0 && size == 7);
	gb_fs_umount(fs);
}

/* A root directory record that claims 4 GiB: refused before libarchive would
 * set aside a buffer that size. */
static void iso_hostile_root(void)
{
	size_t len = 0;
	uint8_t *iso;
	char path[] = "/tmp/gb-iso-XXXXXX", err[256] = "";
	FILE *f;
	int fd;

	SKIP_IF_NO_DIR();
	iso = gt_slurp(gt_path("cd.iso"), &len);
	REQUIRE(iso != NULL && len > 17 * 2048);
	memcpy(iso + 16 * 2048 + 156 + 10, "\x00\x10\x00\xff", 4);
	fd = mkstemp(path);
	f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (f != NULL) {
		fwrite(iso, 1, len, f);
		fclose(f);
		CHECK(gb_fs_mount(path, 0, len, NULL, err, sizeof(err)) == NULL);
		CHECK(strstr(err, "root directory outside the image") != NULL);
		unlink(path);
	} else {
		gt_fail(__FILE__, __LINE__, "mkstemp");
	}
	free(iso);
}

/* What test_grub.sh put on each FAT image. */
static void check_fat_tree(struct gb_fs *fs)
{
	struct names nm = { .n = 0 };
	uint64_t size = 0;
	bool isdir = false;

	same_file(fs, "/boot/vmlinuz", "root/boot/vmlinuz");
	same_file(fs, "/boot/initrd-a", "root/boot/initrd-a");
	same_file(fs, "/boot/initrd-b", "root/boot/initrd-b");
	same_file(fs, "/etc/hostname", "root/etc/hostname");
	same_file(fs, "/boot/grub/grub.cfg", "fat.cfg");
	/* Long names, any case (FAT compares without it), in a subdirectory. */
	same_file(fs, "/Long Directory Name/An initrd with a long name.img", "root/boot/initrd-a");
	same_file(fs, "/long directory NAME/an INITRD with a long name.img", "root/boot/initrd-a");
	CHECK(gb_fs_stat(fs, "/BOOT/VMLINUZ", &size, &isdir) == 0 && !isdir && size > 1000000);
	CHECK(gb_fs_stat(fs, "/Long Directory Name", &size, &isdir) == 0 && isdir);
	CHECK(gb_fs_stat(fs, "/boot/nothing", NULL, NULL) < 0);
	CHECK(gb_fs_stat(fs, "/boot/vmlinuz/x", NULL, NULL) < 0);
	CHECK(gb_fs_stat(fs, "/boot/../boot", NULL, NULL) < 0);
	CHECK(gb_fs_list(fs, "/", collect, &nm) == 0);
	CHECK(listed(&nm, "boot/") && listed(&nm, "etc/") && listed(&nm, "Long Directory Name/"));
	CHECK_EQ(nm.n, 3);
	nm.buf[0] = '\0';
	nm.n = 0;
	CHECK(gb_fs_list(fs, "/Long Directory Name", collect, &nm) == 0);
	CHECK(listed(&nm, "An initrd with a long name.img"));
	CHECK_EQ(nm.n, 1);
	CHECK(gb_fs_list(fs, "/boot/vmlinuz", collect, &nm) < 0);
}

static void fat_12_16_32(void)
{
	static const struct { int bits; uint64_t size; } fats[] = {
		{ 12, 12 << 20 }, { 16, 16 << 20 }, { 32, 40 << 20 },
	};

	SKIP_IF_NO_DIR();
	for (size_t i = 0; i < sizeof(fats) / sizeof(fats[0]); i++) {
		char name[32], label[32], uuid[32], err[256];
		struct gb_fs *fs;

		snprintf(name, sizeof(name), "fat%d.img", fats[i].bits);
		snprintf(label, sizeof(label), "GBFAT%d", fats[i].bits);
		snprintf(uuid, sizeof(uuid), "12AB-00%d", fats[i].bits);
		fs = gb_fs_mount(gt_path(name), 0, fats[i].size, NULL, err, sizeof(err));
		if (fs == NULL) {
			gt_fail(__FILE__, __LINE__, "%s: %s", name, err);
			continue;
		}
		CHECK_STR(gb_fs_type(fs), "vfat");
		CHECK_STR(gb_fs_label(fs), label);
		CHECK_STR(gb_fs_uuid(fs), uuid);
		check_fat_tree(fs);
		gb_fs_umount(fs);
	}
	/* A small FAT32 (its BPB's 16-bit FAT size is 0): empty, with its label. */
	{
		struct gb_fs *fs;
		struct names nm = { .n = 0 };
		char err[256];

		fs = gb_fs_mount(gt_path("fat32small.img"), 0, 256 << 10, NULL, err, sizeof(err));
		if (fs == NULL)
			gt_fail(__FILE__, __LINE__, "fat32small.img: %s", err);
		REQUIRE(fs != NULL);
		CHECK_STR(gb_fs_label(fs), "SMALL32");
		CHECK(gb_fs_list(fs, "/", collect, &nm) == 0 && nm.n == 0);
		gb_fs_umount(fs);
	}
	/* The 1.44 MB floppy mformat made: an empty FAT12. */
	{
		struct gb_fs *fs;
		struct names nm = { .n = 0 };
		char err[256];

		fs = gb_fs_mount(gt_path("fat.img"), 0, 1474560, NULL, err, sizeof(err));
		REQUIRE(fs != NULL);
		CHECK(gb_fs_list(fs, "/", collect, &nm) == 0 && nm.n == 0);
		gb_fs_umount(fs);
	}
}

/* FAT32 as the first partition of an MBR and of a GPT disk (an EFI system
 * partition), found by search --label and --fs-uuid through the loader. */
static void fat_in_partitions(void)
{
	struct gb_devmap m;
	struct gb_loader l;
	struct gb_cfg_ops ops;
	struct gb_fs *fs;
	char text[1024], err[256], dev[64];

	SKIP_IF_NO_DIR();
	snprintf(text, sizeof(text), "(hd0) %s\n(hd1) %s\n", gt_path("fatmbr.img"),
	    gt_path("fatgpt.img"));
	REQUIRE(gb_devmap_parse(&m, text, err, sizeof(err)) == 0);
	gb_loader_init(&l, &m, NULL);
	ops = gb_loader_ops(&l);
	fs = gb_loader_fs(&l, "hd0,msdos1");
	if (fs == NULL)
		gt_fail(__FILE__, __LINE__, "%s", l.err);
	else
		check_fat_tree(fs);
	fs = gb_loader_fs(&l, "hd1,gpt1");
	if (fs == NULL)
		gt_fail(__FILE__, __LINE__, "%s", l.err);
	else
		check_fat_tree(fs);
	CHECK(ops.search(ops.arg, "label", "GBFAT32", dev, sizeof(dev)) == 0);
	CHECK_STR(dev, "hd0,msdos1");
	CHECK(ops.search(ops.arg, "fs-uuid", "12ab-0032", dev, sizeof(dev)) == 0);
	CHECK_STR(dev, "hd0,msdos1");
	CHECK(ops.search(ops.arg, "file", "/Long Directory Name/An initrd with a long name.img",
	    dev, sizeof(dev)) == 0);
	CHECK(ops.search(ops.arg, "label", "NOSUCH", dev, sizeof(dev)) < 0);
	gb_loader_fini(&l);
}

/* Hostile FAT values: a cluster chain that loops, a file that claims more
 * clusters than its chain has, a directory whose chain points outside. */
static void fat_hostile(void)
{
	char path[] = "/tmp/gb-fat-XXXXXX", err[256] = "";
	uint8_t *img;
	size_t len = 0;
	uint32_t fatoff, bps;
	struct gb_fs *fs;
	FILE *fp;
	int fd;

	SKIP_IF_NO_DIR();
	img = gt_slurp(gt_path("fat16.img"), &len);
	REQUIRE(img != NULL && len == 16 << 20);
	bps = img[11] | img[12] << 8;
	fatoff = (uint32_t)(img[14] | img[15] << 8) * bps;
	/* Every FAT entry points at cluster 2: chains loop there. */
	for (uint32_t c = 2; c < 4096; c++) {
		img[fatoff + c * 2] = 2;
		img[fatoff + c * 2 + 1] = 0;
	}
	fd = mkstemp(path);
	fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
	REQUIRE(fp != NULL);
	fwrite(img, 1, len, fp);
	fclose(fp);
	fs = gb_fs_mount(path, 0, len, NULL, err, sizeof(err));
	REQUIRE(fs != NULL);
	/* Directories (/boot, /etc) whose chains loop: errors, never hangs. The
	 * root directory of FAT16 is not a chain: it still lists. */
	CHECK(gb_fs_stat(fs, "/boot", NULL, NULL) == 0);
	CHECK(gb_fs_stat(fs, "/boot/vmlinuz", NULL, NULL) < 0);
	CHECK(gb_file_open(fs, "/etc/hostname", err, sizeof(err)) == NULL);
	gb_fs_umount(fs);
	/* A root directory count far past the image: refused at mount. */
	img[17] = 0xff;
	img[18] = 0xff;
	img[22] = 0xff;
	img[23] = 0xff;
	fp = fopen(path, "wb");
	REQUIRE(fp != NULL);
	fwrite(img, 1, len, fp);
	fclose(fp);
	CHECK(gb_fs_mount(path, 0, len, NULL, err, sizeof(err)) == NULL);
	unlink(path);
	free(img);
}

/* A long-name part numbered 0 (ord 0x80) after part 1: the long name is
 * dropped and the 8.3 name listed, nothing written before the name buffer. */
static void fat_bad_long_name(void)
{
	char path[] = "/tmp/gb-lfn-XXXXXX", err[256];
	struct names nm = { .n = 0 };
	uint8_t *img;
	size_t len = 0;
	uint32_t bps, root, hits = 0;
	struct gb_fs *fs;
	FILE *fp;
	int fd;

	SKIP_IF_NO_DIR();
	img = gt_slurp(gt_path("fat12.img"), &len);
	REQUIRE(img != NULL && len == 12 << 20);
	bps = img[11] | img[12] << 8;
	root = ((uint32_t)(img[14] | img[15] << 8) + (uint32_t)img[16] * (uint32_t)(img[22] | img[23] << 8)) * bps;
	/* "Long Directory Name" is 19 characters: parts 0x42 then 0x01, made
	 * 0x41 (a first part 1) then 0x80 (a part 0, same checksum). */
	for (uint32_t o = root; o + 64 <= root + 16 * 32; o += 32)
		if (img[o] == 0x42 && img[o + 11] == 0x0f && img[o + 32] == 0x01) {
			img[o] = 0x41;
			img[o + 32] = 0x80;
			hits++;
		}
	REQUIRE(hits == 1);
	fd = mkstemp(path);
	fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
	REQUIRE(fp != NULL);
	fwrite(img, 1, len, fp);
	fclose(fp);
	fs = gb_fs_mount(path, 0, len, NULL, err, sizeof(err));
	REQUIRE(fs != NULL);
	CHECK(gb_fs_list(fs, "/", collect, &nm) == 0);
	CHECK(!listed(&nm, "Long Directory Name/") && strstr(nm.buf, "~1/") != NULL);
	CHECK_EQ(nm.n, 3);
	gb_fs_umount(fs);
	unlink(path);
	free(img);
}

static void xfs_refused(void)
{
	struct gb_devmap m;
	struct gb_loader l;
	char text[1024], err[256];

	SKIP_IF_NO_DIR();
	if (access(gt_path("xfs.img"), R_OK) != 0) {
		gt_skip("no XFS image (mkfs.xfs from xfsprogs is not installed)");
		return;
	}
	snprintf(text, sizeof(text), "(hd0) %s\n", gt_path("xfs.img"));
	REQUIRE(gb_devmap_parse(&m, text, err, sizeof(err)) == 0);
	gb_loader_init(&l, &m, NULL);
	CHECK(gb_loader_fs(&l, "hd0") == NULL);
	CHECK(strncmp(l.err, "(hd0): XFS is not supported by grub-bhyve; ", 43) == 0);
	gb_loader_fini(&l);
}

static void host_dir(void)
{
	struct gb_fs *fs;
	char err[256];

	SKIP_IF_NO_DIR();
	fs = gb_fs_mount(NULL, 0, 0, gt_path("root"), err, sizeof(err));
	REQUIRE(fs != NULL);
	CHECK_STR(gb_fs_type(fs), "host");
	check_tree(fs, true);
	CHECK(gb_fs_stat(fs, "/../root", NULL, NULL) < 0);
	CHECK(gb_fs_stat(fs, "boot", NULL, NULL) < 0);
	gb_fs_umount(fs);
}

static void garbage_image(void)
{
	char path[] = "/tmp/gb-garbage-XXXXXX", err[256];
	uint8_t junk[65536];
	FILE *f;
	int fd = mkstemp(path);

	REQUIRE(fd >= 0);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7919 >> 3);
	f = fdopen(fd, "wb");
	REQUIRE(f != NULL);
	fwrite(junk, 1, sizeof(junk), f);
	fclose(f);
	CHECK(gb_fs_mount(path, 0, sizeof(junk), NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "no filesystem") != NULL);
	CHECK(gb_fs_mount("/nonexistent/x.img", 0, 1, NULL, err, sizeof(err)) == NULL);
	unlink(path);
}

void suite_fs(void)
{
	RUN(ext4_image);
	RUN(ext4_in_partitions);
	RUN(iso_rock_ridge);
	RUN(iso_joliet);
	RUN(iso_hostile_root);
	RUN(fat_12_16_32);
	RUN(fat_in_partitions);
	RUN(fat_hostile);
	RUN(fat_bad_long_name);
	RUN(xfs_refused);
	RUN(host_dir);
	RUN(garbage_image);
}
