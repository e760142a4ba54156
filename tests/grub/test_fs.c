/* The filesystems, read back from images built at test time and compared with
 * the files they were made from. */
#include <stdlib.h>
#include <unistd.h>

#include "disk.h"
#include "fs.h"
#include "gt.h"

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

static void fat_refused(void)
{
	char err[256] = "";

	SKIP_IF_NO_DIR();
	CHECK(gb_fs_mount(gt_path("fat.img"), 0, 1474560, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "FAT filesystems are not read yet") != NULL);
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
	RUN(fat_refused);
	RUN(host_dir);
	RUN(garbage_image);
}
