/* device.map, device names, and MBR/GPT tables: real disks made by sfdisk and
 * hostile tables built in memory. */
#include <stdlib.h>

#include "disk.h"
#include "gt.h"

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i); }

static void devmap_parse(void)
{
	struct gb_devmap m;
	char err[256];

	REQUIRE(gb_devmap_parse(&m, "# the disks\n(hd0) ./linux.img\n\n  (cd0)\t/srv/debian 12.iso  \n"
	    "(hd1) disk2.img", err, sizeof(err)) == 0);
	CHECK_EQ(m.n, 3);
	CHECK_STR(m.dev[0].name, "hd0");
	CHECK_STR(m.dev[0].path, "./linux.img");
	CHECK_STR(m.dev[1].name, "cd0");
	CHECK_STR(m.dev[1].path, "/srv/debian 12.iso");
	CHECK_STR(m.dev[2].path, "disk2.img");
	gb_devmap_free(&m);
	CHECK(gb_devmap_parse(&m, "(hd0) a\n(fd0) b\n", err, sizeof(err)) < 0);
	CHECK(strstr(err, "line 2") != NULL);
	CHECK(gb_devmap_parse(&m, "(hd0) a\n(hd0) b\n", err, sizeof(err)) < 0);
	CHECK(strstr(err, "twice") != NULL);
	CHECK(gb_devmap_parse(&m, "(hd0)\n", err, sizeof(err)) < 0);
	CHECK(gb_devmap_parse(&m, "hd0 a\n", err, sizeof(err)) < 0);
	CHECK(gb_devmap_parse(&m, "(hdx) a\n", err, sizeof(err)) < 0);
}

struct mem {
	const uint8_t *p;
	size_t len;
};

static int mem_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct mem *m = arg;

	if (off > m->len || len > m->len - off)
		return -1;
	memcpy(buf, m->p + off, len);
	return 0;
}

static void mbr_entry(uint8_t *d, int i, uint8_t type, uint32_t lba, uint32_t n)
{
	uint8_t *e = d + 446 + 16 * i;

	e[4] = type;
	put32(e + 8, lba);
	put32(e + 12, n);
	d[510] = 0x55;
	d[511] = 0xAA;
}

static void hostile_mbr(void)
{
	static uint8_t d[64 * 512];
	struct mem m = { d, sizeof(d) };
	uint64_t off, size;
	char err[256];

	memset(d, 0, sizeof(d));
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "msdos", 1, &off, &size, err, sizeof(err)) < 0);
	CHECK(strstr(err, "0x55AA") != NULL);
	mbr_entry(d, 0, 0x83, 8, 8);
	REQUIRE(gb_part_find(mem_read, &m, sizeof(d), "msdos", 1, &off, &size, err, sizeof(err)) == 0);
	CHECK_EQ(off, 8 * 512);
	CHECK_EQ(size, 8 * 512);
	/* Past the end of the disk, and wrapping around. */
	mbr_entry(d, 1, 0x83, 60, 8);
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "msdos", 2, &off, &size, err, sizeof(err)) < 0);
	CHECK(strstr(err, "outside") != NULL);
	mbr_entry(d, 1, 0x83, 0xFFFFFFFF, 0xFFFFFFFF);
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "msdos", 2, &off, &size, err, sizeof(err)) < 0);
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "msdos", 3, &off, &size, err, sizeof(err)) < 0);
	/* An extended partition whose EBR links to itself: no loop, no partition 6. */
	mbr_entry(d, 2, 0x05, 32, 16);
	mbr_entry(d + 32 * 512, 0, 0x83, 2, 4);
	mbr_entry(d + 32 * 512, 1, 0x05, 0, 16);
	put32(d + 32 * 512 + 446 + 16 + 8, 0);
	REQUIRE(gb_part_find(mem_read, &m, sizeof(d), "msdos", 5, &off, &size, err, sizeof(err)) == 0);
	CHECK_EQ(off, 34 * 512);
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "msdos", 6, &off, &size, err, sizeof(err)) < 0);
	put32(d + 32 * 512 + 446 + 16 + 8, 0xFFFFFF00);	/* a link off the disk */
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "msdos", 6, &off, &size, err, sizeof(err)) < 0);
	/* Two EBRs that link to each other: the walk gives up, it does not loop. */
	put32(d + 32 * 512 + 446 + 16 + 8, 8);
	mbr_entry(d + 40 * 512, 1, 0x05, 0, 16);
	put32(d + 40 * 512 + 446 + 16 + 8, 0);
	put32(d + 40 * 512 + 446 + 16 + 8, 8);
	put32(d + 40 * 512 + 446 + 16 + 12, 16);
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "msdos", 7, &off, &size, err, sizeof(err)) < 0);
	/* A truncated disk: the read fails, not the program. */
	m.len = 100;
	CHECK(gb_part_find(mem_read, &m, 100, "msdos", 1, &off, &size, err, sizeof(err)) < 0);
}

static void hostile_gpt(void)
{
	static uint8_t d[64 * 512];
	struct mem m = { d, sizeof(d) };
	uint64_t off, size;
	char err[256];
	uint8_t *h = d + 512, *e = d + 2 * 512;

	memset(d, 0, sizeof(d));
	mbr_entry(d, 0, 0xEE, 1, 63);
	memcpy(h, "EFI PART", 8);
	put64(h + 72, 2);
	put32(h + 80, 4);
	put32(h + 84, 128);
	e[0] = 1;		/* a type GUID that is not zero */
	put64(e + 32, 34);
	put64(e + 40, 63);
	REQUIRE(gb_part_find(mem_read, &m, sizeof(d), "gpt", 1, &off, &size, err, sizeof(err)) == 0);
	CHECK_EQ(off, 34 * 512);
	CHECK_EQ(size, 30 * 512);
	/* No scheme named: GPT is found first. */
	REQUIRE(gb_part_find(mem_read, &m, sizeof(d), NULL, 1, &off, &size, err, sizeof(err)) == 0);
	CHECK_EQ(off, 34 * 512);
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "msdos", 1, &off, &size, err, sizeof(err)) < 0);
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "gpt", 2, &off, &size, err, sizeof(err)) < 0);
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "gpt", 5, &off, &size, err, sizeof(err)) < 0);
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "apple", 1, &off, &size, err, sizeof(err)) < 0);
	put64(e + 40, 64);	/* last LBA past the end */
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "gpt", 1, &off, &size, err, sizeof(err)) < 0);
	put64(e + 40, 20);	/* last before first */
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "gpt", 1, &off, &size, err, sizeof(err)) < 0);
	put64(e + 40, 63);
	put32(h + 80, 0xFFFFFFFF);
	put64(h + 72, 0xFFFFFFFFFFFFULL);	/* entries far off the disk */
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "gpt", 3000000, &off, &size, err, sizeof(err)) < 0);
	put64(h + 72, 2);
	put32(h + 84, 100000);	/* absurd entry size */
	CHECK(gb_part_find(mem_read, &m, sizeof(d), "gpt", 1, &off, &size, err, sizeof(err)) < 0);
}

static struct gb_devmap images_map(void)
{
	struct gb_devmap m;
	char text[4096], err[256];

	snprintf(text, sizeof(text), "(hd0) %s\n(hd1) %s\n(cd0) %s\n(hd2) %s\n", gt_path("mbr.img"),
	    gt_path("gpt.img"), gt_path("cd.iso"), gt_path("fs.img"));
	if (gb_devmap_parse(&m, text, err, sizeof(err)) < 0)
		m.n = 0;
	return m;
}

static void resolve_real_disks(void)
{
	struct gb_devmap m;
	struct gb_range r;
	char err[256];

	SKIP_IF_NO_DIR();
	m = images_map();
	REQUIRE(m.n == 4);
	REQUIRE(gb_dev_resolve(&m, "(hd0,msdos1)", &r, err, sizeof(err)) == 0);
	CHECK_EQ(r.off, 2048 * 512);
	CHECK_EQ(r.size, 98304 * 512);
	REQUIRE(gb_dev_resolve(&m, "hd0,5", &r, err, sizeof(err)) == 0);
	CHECK_EQ(r.off, 102400ULL * 512);
	CHECK_EQ(r.size, 8192 * 512);
	REQUIRE(gb_dev_resolve(&m, "hd0,msdos5", &r, err, sizeof(err)) == 0);
	CHECK_EQ(r.off, 102400ULL * 512);
	CHECK(gb_dev_resolve(&m, "hd0,msdos6", &r, err, sizeof(err)) < 0);
	CHECK(gb_dev_resolve(&m, "hd0,msdos3", &r, err, sizeof(err)) < 0);
	CHECK(gb_dev_resolve(&m, "hd0,gpt1", &r, err, sizeof(err)) < 0);
	REQUIRE(gb_dev_resolve(&m, "hd1,gpt2", &r, err, sizeof(err)) == 0);
	CHECK_EQ(r.off, 4096 * 512);
	CHECK_EQ(r.size, 98304 * 512);
	REQUIRE(gb_dev_resolve(&m, "hd1,gpt1", &r, err, sizeof(err)) == 0);
	CHECK_EQ(r.off, 2048 * 512);
	CHECK_EQ(r.size, 2048 * 512);
	CHECK(gb_dev_resolve(&m, "hd1,gpt3", &r, err, sizeof(err)) < 0);
	REQUIRE(gb_dev_resolve(&m, "cd0", &r, err, sizeof(err)) == 0);
	CHECK_EQ(r.off, 0);
	CHECK(r.size > 8 << 20);
	REQUIRE(gb_dev_resolve(&m, "host", &r, err, sizeof(err)) == 0);
	CHECK(r.path == NULL);
	CHECK(gb_dev_resolve(&m, "hd7", &r, err, sizeof(err)) < 0);
	CHECK(strstr(err, "not in the device map") != NULL);
	CHECK(gb_dev_resolve(&m, "hd0,msdos0", &r, err, sizeof(err)) < 0);
	CHECK(gb_dev_resolve(&m, "hd0,msdosx", &r, err, sizeof(err)) < 0);
	gb_devmap_free(&m);
}

void suite_disk(void)
{
	RUN(devmap_parse);
	RUN(hostile_mbr);
	RUN(hostile_gpt);
	RUN(resolve_real_disks);
}
