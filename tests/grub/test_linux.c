/* The boot-protocol planner on Debian's kernel, into a 256 MiB guest. */
#include <glob.h>
#include <stdlib.h>

#include "gt.h"
#include "linux.h"
#include "loader.h"

#define MEM	(256ULL << 20)

static uint64_t get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint8_t *debian_kernel(size_t *len)
{
	glob_t g;
	uint8_t *k = NULL;

	if (glob("/boot/vmlinuz-*", 0, NULL, &g) == 0 && g.gl_pathc > 0)
		k = gt_slurp(g.gl_pathv[0], len);
	globfree(&g);
	return k;
}

static void e820_map(void)
{
	struct gb_e820 m[8];
	size_t n = gb_e820_bhyve(MEM, m, 8);

	REQUIRE(n == 4);
	CHECK(m[0].addr == 0 && m[0].len == 0x9FC00 && m[0].type == GB_E820_RAM);
	CHECK(m[1].addr == 0x9FC00 && m[1].addr + m[1].len == 0x100000 && m[1].type == GB_E820_RESERVED);
	CHECK(m[2].addr == 0x100000 && m[2].addr + m[2].len == MEM && m[2].type == GB_E820_RAM);
	CHECK(m[3].type == GB_E820_RESERVED && m[3].addr + m[3].len == 0xFF000000ULL);
	n = gb_e820_bhyve(5ULL << 30, m, 8);
	REQUIRE(n == 5);
	CHECK(m[2].addr + m[2].len == 3ULL << 30);
	CHECK(m[4].addr == 4ULL << 30 && m[4].len == 2ULL << 30);
}

static void bzimage_header(void)
{
	struct gb_bzimage h;
	size_t len;
	uint8_t *k = debian_kernel(&len);
	char err[256];

	if (k == NULL) {
		gt_skip("no /boot/vmlinuz-* (linux-image-amd64)");
		return;
	}
	REQUIRE(gb_bzimage_parse(k, len, &h, err, sizeof(err)) == 0);
	CHECK(h.version >= 0x020f);
	CHECK(h.relocatable);
	CHECK(h.xloadflags & GB_XLF_KERNEL_64);
	CHECK_EQ(h.kernel_alignment, 0x200000);
	CHECK_EQ(h.cmdline_size, 2047);
	CHECK_EQ(h.initrd_addr_max, 0x7FFFFFFF);
	CHECK_EQ(h.pref_address, 0x1000000);
	CHECK_EQ(h.kernel_off, ((size_t)k[0x1F1] + 1) * 512);
	CHECK(h.init_size >= h.kernel_len);
	/* Too old a protocol, no header, truncated. */
	k[0x206] = 0x05;
	k[0x207] = 0x02;
	CHECK(gb_bzimage_parse(k, len, &h, err, sizeof(err)) < 0);
	CHECK(strstr(err, "2.05; 2.06 or later is needed") != NULL);
	k[0x206] = 0x0f;
	CHECK(gb_bzimage_parse(k, 0x300, &h, err, sizeof(err)) < 0);
	CHECK(gb_bzimage_parse(k, 0x100, &h, err, sizeof(err)) < 0);
	k[0x202] = 'X';
	CHECK(gb_bzimage_parse(k, len, &h, err, sizeof(err)) < 0);
	CHECK(strstr(err, "not a Linux bzImage") != NULL);
	free(k);
}

static void plan_debian_kernel(void)
{
	static const char cmdline[] = "root=/dev/vda1 console=ttyS0 --- quiet";
	struct gb_e820 map[8];
	struct gb_initrd rd[2];
	struct gb_plan *p = malloc(sizeof(*p));
	uint8_t *mem = calloc(1, MEM), a[5000], b[3];
	size_t n = gb_e820_bhyve(MEM, map, 8), len;
	uint8_t *k = debian_kernel(&len), *zp;
	char err[256];

	if (k == NULL) {
		gt_skip("no /boot/vmlinuz-* (linux-image-amd64)");
		goto out;
	}
	REQUIRE(p != NULL && mem != NULL);
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 31 + 7);
	memcpy(b, "xyz", 3);
	rd[0] = (struct gb_initrd){ a, sizeof(a) };
	rd[1] = (struct gb_initrd){ b, sizeof(b) };
	if (gb_linux_plan(k, len, cmdline, rd, 2, map, n, p, err, sizeof(err)) < 0) {
		gt_fail(__FILE__, __LINE__, "%s", err);
		goto out;
	}
	/* Placement: the kernel where it prefers, aligned; initrds at the top of RAM. */
	CHECK_EQ(p->kernel_addr, 0x1000000);
	CHECK_EQ(p->kernel_addr % p->hdr.kernel_alignment, 0);
	CHECK_EQ(p->initrd_size, 5000 + 4);
	CHECK_EQ(p->initrd_addr % 4096, 0);
	CHECK(p->initrd_addr + p->initrd_size <= MEM);
	CHECK(p->initrd_addr + p->initrd_size <= (uint64_t)p->hdr.initrd_addr_max + 1);
	CHECK(p->initrd_addr + 4096 + p->initrd_size > MEM);	/* as high as it goes */
	CHECK(p->initrd_addr >= p->kernel_addr + p->hdr.init_size);
	/* The entry: 64-bit, startup_64, RSI = boot_params. */
	CHECK(p->entry64);
	CHECK_EQ(p->rip, p->kernel_addr + 0x200);
	CHECK_EQ(p->rsi, GB_ZP_ADDR);
	CHECK_EQ(p->cr3, GB_PML4_ADDR);
	CHECK_EQ(p->efer & 0x500, 0x500);
	CHECK_EQ(p->cs, 0x10);
	CHECK_EQ(p->ds, 0x18);

	REQUIRE(gb_plan_apply(p, mem, MEM) == 0);
	zp = mem + GB_ZP_ADDR;
	/* The zero page: the kernel's header copied, the loader's fields filled. */
	CHECK(memcmp(zp + 0x1F1, k + 0x1F1, 0x210 - 0x1F1) == 0);
	CHECK_EQ(get(zp + 0x202, 4), 0x53726448);
	CHECK_EQ(zp[0x210], 0xFF);
	CHECK_EQ(get(zp + 0x1FA, 2), 0xFFFF);
	CHECK_EQ(get(zp + 0x228, 4), GB_CMDLINE_ADDR);
	CHECK_EQ(get(zp + 0x218, 4), p->initrd_addr);
	CHECK_EQ(get(zp + 0x21C, 4), 5004);
	CHECK_EQ(get(zp + 0x0C0, 4), 0);
	CHECK_EQ(get(zp + 0x214, 4), p->kernel_addr);
	CHECK_EQ(zp[0x1E8], n);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(get(zp + 0x2D0 + 20 * i, 8), map[i].addr);
		CHECK_EQ(get(zp + 0x2D0 + 20 * i + 8, 8), map[i].len);
		CHECK_EQ(get(zp + 0x2D0 + 20 * i + 16, 4), map[i].type);
	}
	CHECK(strcmp((char *)mem + GB_CMDLINE_ADDR, cmdline) == 0);
	CHECK(memcmp(mem + p->kernel_addr, k + p->hdr.kernel_off, p->hdr.kernel_len) == 0);
	CHECK(memcmp(mem + p->initrd_addr, a, sizeof(a)) == 0);
	CHECK(memcmp(mem + p->initrd_addr + 5000, b, 3) == 0);
	/* GDT and page tables: flat 64-bit code at 0x10, 2 MiB identity pages. */
	CHECK_EQ(get(mem + GB_GDT_ADDR + 0x10, 8), 0x00AF9A000000FFFFULL);
	CHECK_EQ(get(mem + GB_PML4_ADDR, 8) & ~0xFFFULL, GB_PML4_ADDR + 0x1000);
	CHECK_EQ(get(mem + GB_PML4_ADDR + 0x2000 + 8 * 8, 8), (8ULL << 21) | 0x83);
	/* Nothing outside the planned writes: the memory between the zero page and
	 * the command line is zero. */
	for (uint64_t i = GB_ZP_ADDR + 4096; i < GB_PML4_ADDR; i++)
		if (mem[i] != 0) {
			gt_fail(__FILE__, __LINE__, "stray byte at 0x%llx", (unsigned long long)i);
			break;
		}
	/* 32-bit entry where the kernel has no 64-bit one. */
	k[0x236] &= (uint8_t)~GB_XLF_KERNEL_64;
	REQUIRE(gb_linux_plan(k, len, "", NULL, 0, map, n, p, err, sizeof(err)) == 0);
	CHECK(!p->entry64);
	CHECK_EQ(p->rip, p->kernel_addr);
	CHECK_EQ(p->cr0 & 0x80000001, 1);
	CHECK_EQ(p->initrd_size, 0);
	CHECK_EQ(get(p->gdt + 0x10, 8), 0x00CF9A000000FFFFULL);
	k[0x236] |= GB_XLF_KERNEL_64;
	/* Limits: a command line over cmdline_size, too little memory, an initrd
	 * that does not fit. */
	{
		char *longcl = malloc(3000);

		REQUIRE(longcl != NULL);
		memset(longcl, 'a', 2999);
		longcl[2999] = '\0';
		CHECK(gb_linux_plan(k, len, longcl, NULL, 0, map, n, p, err, sizeof(err)) < 0);
		CHECK(strstr(err, "command line") != NULL);
		free(longcl);
	}
	n = gb_e820_bhyve(32ULL << 20, map, 8);
	CHECK(gb_linux_plan(k, len, "", NULL, 0, map, n, p, err, sizeof(err)) < 0);
	n = gb_e820_bhyve(MEM, map, 8);
	rd[0].len = MEM - (32ULL << 20);
	CHECK(gb_linux_plan(k, len, "", rd, 1, map, n, p, err, sizeof(err)) < 0);
	CHECK(strstr(err, "initrd") != NULL);
out:
	free(k);
	free(mem);
	free(p);
}

/* The whole path short of the VM: device.map, the ISO's grub.cfg, its search,
 * the entry's kernel and initrds read from the ISO and from the GPT disk, planned. */
static void load_from_images(void)
{
	static const char *const roots[] = { "cd0", "hd0,gpt2", "hd1,msdos1" };
	struct gb_devmap m;
	char text[2048], err[256];

	SKIP_IF_NO_DIR();
	snprintf(text, sizeof(text), "# test disks\n(cd0) %s\n(hd0) %s\n(hd1) %s\n",
	    gt_path("cd.iso"), gt_path("gpt.img"), gt_path("mbr.img"));
	for (size_t r = 0; r < 3; r++) {
		struct gb_loader l;
		struct gb_cfg_ops ops;
		struct gb_cfg *c;
		struct gb_boot b;
		struct gb_loaded ld;
		struct gb_e820 map[8];
		struct gb_plan *p;
		size_t alen, blen, n;
		uint8_t *a, *bb;

		REQUIRE(gb_devmap_parse(&m, text, err, sizeof(err)) == 0);
		gb_loader_init(&l, &m, NULL);
		ops = gb_loader_ops(&l);
		c = gb_cfg_new(&ops);
		REQUIRE(c != NULL);
		if (gb_cfg_run_file(c, roots[r], "/boot/grub/grub.cfg", err, sizeof(err)) < 0) {
			gt_fail(__FILE__, __LINE__, "%s: %s", roots[r], err);
			goto next;
		}
		/* The config's search --fs-uuid: the ISO's copy finds the ext4 on the GPT disk. */
		CHECK_STR(gb_cfg_get(c, "root"), "hd0,gpt2");
		CHECK_EQ(gb_cfg_timeout(c), 3);
		if (gb_cfg_boot(c, gb_cfg_default(c), true, &b, err, sizeof(err)) < 0) {
			gt_fail(__FILE__, __LINE__, "%s", err);
			goto next;
		}
		CHECK_STR(b.cmdline, "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro console=ttyS0");
		if (gb_loader_read(&l, &b, &ld, err, sizeof(err)) < 0) {
			gt_fail(__FILE__, __LINE__, "%s", err);
			gb_boot_free(&b);
			goto next;
		}
		a = gt_slurp(gt_path("root/boot/initrd-a"), &alen);
		bb = gt_slurp(gt_path("root/boot/initrd-b"), &blen);
		CHECK(ld.ninitrd == 2 && a != NULL && bb != NULL && ld.initrd[0].len == alen &&
		    memcmp(ld.initrd[0].data, a, alen) == 0 && ld.initrd[1].len == blen &&
		    memcmp(ld.initrd[1].data, bb, blen) == 0);
		free(a);
		free(bb);
		n = gb_e820_bhyve(MEM, map, 8);
		p = malloc(sizeof(*p));
		REQUIRE(p != NULL);
		if (gb_linux_plan(ld.kernel, ld.klen, b.cmdline, ld.initrd, ld.ninitrd, map, n, p, err,
		    sizeof(err)) < 0)
			gt_fail(__FILE__, __LINE__, "%s", err);
		else
			CHECK(p->entry64 && p->initrd_size == ((alen + 3) & ~3ULL) + ((blen + 3) & ~3ULL));
		free(p);
		gb_loaded_free(&ld);
		gb_boot_free(&b);
next:
		gb_cfg_free(c);
		gb_loader_fini(&l);
	}
	/* A device that is not there, and the host directory. */
	{
		struct gb_loader l;

		REQUIRE(gb_devmap_parse(&m, text, err, sizeof(err)) == 0);
		gb_loader_init(&l, &m, gt_path("root"));
		CHECK(gb_loader_fs(&l, "hd5") == NULL);
		CHECK(strstr(l.err, "not in the device map") != NULL);
		CHECK(gb_loader_fs(&l, "host") != NULL);
		CHECK(gb_loader_fs(&l, "hd1,msdos5") == NULL);
		gb_loader_fini(&l);
	}
}

void suite_linux(void)
{
	RUN(e820_map);
	RUN(bzimage_header);
	RUN(plan_debian_kernel);
	RUN(load_from_images);
}
