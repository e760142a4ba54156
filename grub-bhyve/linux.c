/* The Linux x86 boot protocol planner. Field offsets are those of struct
 * boot_params and its setup header as Documentation/arch/x86/boot.rst and
 * zero-page.rst give them. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gb_util.h"
#include "linux.h"

/* boot_params (the zero page). */
#define ZP_EXT_RAMDISK_IMAGE	0x0C0
#define ZP_EXT_RAMDISK_SIZE	0x0C4
#define ZP_EXT_CMD_LINE_PTR	0x0C8
#define ZP_E820_ENTRIES		0x1E8
#define ZP_E820_TABLE		0x2D0
/* The setup header, at the same offsets in the file and in the zero page. */
#define HDR_SETUP_SECTS		0x1F1
#define HDR_VID_MODE		0x1FA
#define HDR_BOOT_FLAG		0x1FE
#define HDR_JUMP		0x200
#define HDR_HEADER		0x202
#define HDR_VERSION		0x206
#define HDR_TYPE_OF_LOADER	0x210
#define HDR_LOADFLAGS		0x211
#define HDR_CODE32_START	0x214
#define HDR_RAMDISK_IMAGE	0x218
#define HDR_RAMDISK_SIZE	0x21C
#define HDR_CMD_LINE_PTR	0x228
#define HDR_INITRD_ADDR_MAX	0x22C
#define HDR_KERNEL_ALIGNMENT	0x230
#define HDR_RELOCATABLE		0x234
#define HDR_XLOADFLAGS		0x236
#define HDR_CMDLINE_SIZE	0x238
#define HDR_PREF_ADDRESS	0x258
#define HDR_INIT_SIZE		0x260

static void put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

size_t gb_e820_bhyve(uint64_t memsize, struct gb_e820 *map, size_t max)
{
	const uint64_t lowlimit = 3ULL << 30, rsvd = 0xFEFFC000ULL, rsvd_len = 0x4000;
	uint64_t low = memsize < lowlimit ? memsize : lowlimit;
	struct gb_e820 all[6] = {
		{ 0, 0x9FC00, GB_E820_RAM },
		{ 0x9FC00, 0x100000 - 0x9FC00, GB_E820_RESERVED },
		{ 0x100000, low > 0x100000 ? low - 0x100000 : 0, GB_E820_RAM },
		{ rsvd, rsvd_len, GB_E820_RESERVED },
		{ 4ULL << 30, memsize - low, GB_E820_RAM },
	};
	size_t n = 0;

	for (size_t i = 0; i < 5 && n < max; i++)
		if (all[i].len != 0)
			map[n++] = all[i];
	return n;
}

int gb_bzimage_parse(const uint8_t *img, size_t len, struct gb_bzimage *h, char *err,
    size_t errlen)
{
	size_t setup;

	memset(h, 0, sizeof(*h));
	if (len < 0x250 || gb_le(img + HDR_HEADER, 4) != 0x53726448 /* "HdrS" */)
		return gb_fail(err, errlen, "not a Linux bzImage (no \"HdrS\" setup header)");
	if (gb_le(img + HDR_BOOT_FLAG, 2) != 0xAA55)
		return gb_fail(err, errlen, "bzImage: boot_flag is not 0xAA55");
	h->version = (uint16_t)gb_le(img + HDR_VERSION, 2);
	if (h->version < 0x0206)
		return gb_fail(err, errlen, "bzImage: boot protocol %u.%02u; 2.06 or later is needed",
		    h->version >> 8, h->version & 0xFF);
	h->loadflags = img[HDR_LOADFLAGS];
	if (!(h->loadflags & GB_LOADED_HIGH))
		return gb_fail(err, errlen, "a zImage (loaded at 0x10000) is not supported; want a bzImage");
	h->setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	h->hdr_end = 0x202 + (size_t)img[HDR_JUMP + 1];
	if (h->hdr_end > len || h->hdr_end > 0x1000)
		return gb_fail(err, errlen, "bzImage: setup header ends past the file");
	setup = ((size_t)h->setup_sects + 1) * 512;
	if (setup >= len)
		return gb_fail(err, errlen, "bzImage: %u setup sectors but the file has %zu bytes",
		    h->setup_sects, len);
	h->kernel_off = setup;
	h->kernel_len = len - setup;
	h->code32_start = (uint32_t)gb_le(img + HDR_CODE32_START, 4);
	h->initrd_addr_max = (uint32_t)gb_le(img + HDR_INITRD_ADDR_MAX, 4);
	h->kernel_alignment = (uint32_t)gb_le(img + HDR_KERNEL_ALIGNMENT, 4);
	h->relocatable = img[HDR_RELOCATABLE] != 0;
	h->cmdline_size = (uint32_t)gb_le(img + HDR_CMDLINE_SIZE, 4);
	if (h->version >= 0x020c)
		h->xloadflags = (uint16_t)gb_le(img + HDR_XLOADFLAGS, 2);
	if (h->version >= 0x020a && h->hdr_end >= HDR_INIT_SIZE + 4) {
		h->pref_address = gb_le(img + HDR_PREF_ADDRESS, 8);
		h->init_size = (uint32_t)gb_le(img + HDR_INIT_SIZE, 4);
	}
	if (h->init_size < h->kernel_len)
		h->init_size = h->kernel_len > UINT32_MAX ? UINT32_MAX : (uint32_t)h->kernel_len;
	if (h->kernel_alignment < 0x1000 || (h->kernel_alignment & (h->kernel_alignment - 1)) != 0)
		h->kernel_alignment = 0x100000;
	return 0;
}

/* Whether [a, a + len) lies in one RAM entry. */
static bool in_ram(const struct gb_e820 *map, size_t n, uint64_t a, uint64_t len)
{
	for (size_t i = 0; i < n; i++)
		if (map[i].type == GB_E820_RAM && a >= map[i].addr && len <= map[i].len &&
		    a - map[i].addr <= map[i].len - len)
			return true;
	return false;
}

static void add(struct gb_plan *p, uint64_t gpa, const uint8_t *data, size_t len)
{
	p->w[p->nw].gpa = gpa;
	p->w[p->nw].data = data;
	p->w[p->nw].len = len;
	p->nw++;
}

/* The kernel's place: where it prefers to be if that is RAM, else the lowest
 * aligned place from 1 MiB (a relocatable kernel), else 1 MiB. */
static int place_kernel(struct gb_plan *p, const struct gb_e820 *map, size_t n)
{
	const struct gb_bzimage *h = &p->hdr;
	uint64_t a;

	if (!h->relocatable) {
		p->kernel_addr = 0x100000;
		return in_ram(map, n, p->kernel_addr, h->init_size) ? 0 : -1;
	}
	if (h->pref_address != 0 && h->pref_address % h->kernel_alignment == 0 &&
	    in_ram(map, n, h->pref_address, h->init_size)) {
		p->kernel_addr = h->pref_address;
		return 0;
	}
	/* The lowest aligned place from 1 MiB in each RAM entry below 4 GiB. */
	for (size_t i = 0; i < n; i++) {
		if (map[i].type != GB_E820_RAM)
			continue;
		a = map[i].addr < 0x100000 ? 0x100000 : map[i].addr;
		a = (a + h->kernel_alignment - 1) / h->kernel_alignment * h->kernel_alignment;
		if (a + h->init_size <= (4ULL << 30) && in_ram(map, n, a, h->init_size)) {
			p->kernel_addr = a;
			return 0;
		}
	}
	return -1;
}

/* The initrds: as high as initrd_addr_max and the RAM below it allow, above the kernel. */
static int place_initrd(struct gb_plan *p, const struct gb_e820 *map, size_t n)
{
	uint64_t max = (uint64_t)p->hdr.initrd_addr_max + 1, best = 0;
	uint64_t floor = p->kernel_addr + p->hdr.init_size;

	if (p->hdr.initrd_addr_max == 0)
		max = 0x38000000;	/* protocols before 2.03 */
	for (size_t i = 0; i < n; i++) {
		uint64_t end = map[i].addr + map[i].len, a;

		if (map[i].type != GB_E820_RAM)
			continue;
		if (end > max)
			end = max;
		if (end < map[i].addr + p->initrd_size || end < floor + p->initrd_size)
			continue;
		a = (end - p->initrd_size) & ~0xFFFULL;
		if (a >= map[i].addr && a >= floor && a > best)
			best = a;
	}
	p->initrd_addr = best;
	return best != 0 ? 0 : -1;
}

static void build_tables(struct gb_plan *p)
{
	/* GDT: null, null, __BOOT_CS (0x10), __BOOT_DS (0x18), all flat 4 GiB. */
	put(p->gdt + 0x10, p->entry64 ? 0x00AF9A000000FFFFULL : 0x00CF9A000000FFFFULL, 8);
	put(p->gdt + 0x18, 0x00CF92000000FFFFULL, 8);
	p->gdt_base = GB_GDT_ADDR;
	p->gdt_limit = sizeof(p->gdt) - 1;
	p->cs = 0x10;
	p->ds = 0x18;
	if (!p->entry64)
		return;
	/* Identity map of the first 4 GiB in 2 MiB pages: PML4, PDPT, 4 PDs. */
	put(p->pt, (GB_PML4_ADDR + 0x1000) | 0x3, 8);
	for (int i = 0; i < 4; i++) {
		put(p->pt + 0x1000 + 8 * i, (GB_PML4_ADDR + 0x2000 + 0x1000ULL * i) | 0x3, 8);
		for (int j = 0; j < 512; j++)
			put(p->pt + 0x2000 + 0x1000 * i + 8 * j,
			    (((uint64_t)i * 512 + (uint64_t)j) << 21) | 0x83, 8);
	}
}

int gb_linux_plan(const uint8_t *kernel, size_t klen, const char *cmdline,
    const struct gb_initrd *initrds, int n, const struct gb_e820 *map, size_t nmap,
    struct gb_plan *p, char *err, size_t errlen)
{
	uint8_t *zp = p->zero_page;
	size_t clen = strlen(cmdline), ram = 0;
	uint64_t off = 0;

	memset(p, 0, sizeof(*p));
	if (gb_bzimage_parse(kernel, klen, &p->hdr, err, errlen) < 0)
		return -1;
	if (n < 0 || n > GB_MAX_INITRDS)
		return gb_fail(err, errlen, "at most %d initrds", GB_MAX_INITRDS);
	if (nmap > GB_E820_MAX)
		return gb_fail(err, errlen, "more than %d e820 entries", GB_E820_MAX);
	if (clen >= GB_CMDLINE_MAX || (p->hdr.cmdline_size != 0 && clen > p->hdr.cmdline_size))
		return gb_fail(err, errlen, "the command line has %zu bytes; the kernel takes %u", clen,
		    p->hdr.cmdline_size ? p->hdr.cmdline_size : GB_CMDLINE_MAX - 1);
	if (!in_ram(map, nmap, 0, GB_CMDLINE_ADDR + GB_CMDLINE_MAX))
		return gb_fail(err, errlen, "the memory map has no RAM below 0x%llx for boot_params",
		    GB_CMDLINE_ADDR + GB_CMDLINE_MAX);
	if (place_kernel(p, map, nmap) < 0)
		return gb_fail(err, errlen, "no RAM for the kernel (%u bytes, aligned to 0x%x)",
		    p->hdr.init_size, p->hdr.kernel_alignment);
	for (int i = 0; i < n; i++) {
		if (initrds[i].len > (4ULL << 30))
			return gb_fail(err, errlen, "an initrd of %zu bytes: more than 4 GiB", initrds[i].len);
		p->initrd_size += (initrds[i].len + 3) & ~(size_t)3;
	}
	if (n > 0 && p->initrd_size > 0 && place_initrd(p, map, nmap) < 0)
		return gb_fail(err, errlen, "no RAM below 0x%llx above the kernel for %llu bytes of initrd",
		    (unsigned long long)p->hdr.initrd_addr_max + 1,
		    (unsigned long long)p->initrd_size);
	p->entry64 = p->hdr.version >= 0x020c && (p->hdr.xloadflags & GB_XLF_KERNEL_64);
	build_tables(p);
	memcpy(p->cmdline, cmdline, clen + 1);

	/* The zero page: the kernel's own setup header, then what the loader fills. */
	memcpy(zp + HDR_SETUP_SECTS, kernel + HDR_SETUP_SECTS, p->hdr.hdr_end - HDR_SETUP_SECTS);
	put(zp + HDR_VID_MODE, 0xFFFF, 2);		/* "normal" */
	zp[HDR_TYPE_OF_LOADER] = 0xFF;			/* no assigned loader id */
	put(zp + HDR_CODE32_START, p->kernel_addr, 4);
	put(zp + HDR_CMD_LINE_PTR, GB_CMDLINE_ADDR, 4);
	put(zp + ZP_EXT_CMD_LINE_PTR, 0, 4);
	put(zp + HDR_RAMDISK_IMAGE, p->initrd_addr & 0xFFFFFFFF, 4);
	put(zp + HDR_RAMDISK_SIZE, p->initrd_size & 0xFFFFFFFF, 4);
	put(zp + ZP_EXT_RAMDISK_IMAGE, p->initrd_addr >> 32, 4);
	put(zp + ZP_EXT_RAMDISK_SIZE, p->initrd_size >> 32, 4);
	zp[ZP_E820_ENTRIES] = (uint8_t)nmap;
	for (size_t i = 0; i < nmap; i++) {
		put(zp + ZP_E820_TABLE + 20 * i, map[i].addr, 8);
		put(zp + ZP_E820_TABLE + 20 * i + 8, map[i].len, 8);
		put(zp + ZP_E820_TABLE + 20 * i + 16, map[i].type, 4);
		ram += map[i].type == GB_E820_RAM;
	}
	if (ram == 0)
		return gb_fail(err, errlen, "the memory map has no RAM");

	add(p, GB_GDT_ADDR, p->gdt, sizeof(p->gdt));
	if (p->entry64)
		add(p, GB_PML4_ADDR, p->pt, sizeof(p->pt));
	add(p, GB_ZP_ADDR, p->zero_page, sizeof(p->zero_page));
	add(p, GB_CMDLINE_ADDR, (const uint8_t *)p->cmdline, clen + 1);
	add(p, p->kernel_addr, kernel + p->hdr.kernel_off, p->hdr.kernel_len);
	for (int i = 0; i < n; i++) {
		if (initrds[i].len > 0)
			add(p, p->initrd_addr + off, initrds[i].data, initrds[i].len);
		off += (initrds[i].len + 3) & ~(size_t)3;
	}

	p->rsi = GB_ZP_ADDR;
	if (p->entry64) {
		p->rip = p->kernel_addr + 0x200;	/* startup_64 */
		p->cr0 = 0x80000011;			/* PG, ET, PE */
		p->cr3 = GB_PML4_ADDR;
		p->cr4 = 0x20;				/* PAE */
		p->efer = 0x500;			/* LMA, LME */
	} else {
		p->rip = p->kernel_addr;		/* startup_32 */
		p->cr0 = 0x11;				/* ET, PE */
	}
	return 0;
}

int gb_plan_apply(const struct gb_plan *p, uint8_t *mem, size_t memlen)
{
	for (int i = 0; i < p->nw; i++) {
		if (p->w[i].gpa > memlen || p->w[i].len > memlen - p->w[i].gpa)
			return -1;
		memcpy(mem + p->w[i].gpa, p->w[i].data, p->w[i].len);
	}
	return 0;
}
