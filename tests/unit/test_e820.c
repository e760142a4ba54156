/* etc/e820: bhyve's RAM split as QEMU lists it for SeaBIOS and OVMF, in packed
 * 20-byte entries. The VMs are made the way -m makes them: the fake
 * vm_setup_memory splits the RAM with lib/vmmapi/memseg.c's memsegs_split, the
 * code bhyve's vm_setup_memory (KVM and emu) uses. */
#include <stdlib.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "firmware.h"
#include "memseg.h"
#include "test.h"
#include "util.h"

#define GIB	(1ULL << 30)
#define MIB	(1ULL << 20)
#define RAM	1
#define RESERVED 2
#define KVM_AREA 0xfeffc000ULL	/* identity map and TSS */

struct entry {
	uint64_t addr, len;
	uint32_t type;
};

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* Builds the map of a VM of memsize bytes and compares it with want[n]. */
static void check_map(uint64_t memsize, const struct entry *want, size_t n)
{
	struct vmctx *ctx = vm_create("e820");
	uint8_t buf[8 * 20 + 1];
	size_t got;

	REQUIRE(ctx != NULL);
	if (vm_setup_memory(ctx, memsize, false, false) != 0) {
		vm_destroy(ctx);
		CHECK_MSG(false, "vm_setup_memory of %llu bytes failed", (unsigned long long)memsize);
		return;
	}
	memset(buf, 0xa5, sizeof(buf));
	got = e820_build(ctx, buf, 8);
	vm_destroy(ctx);
	CHECK_MSG(got == n, "-m %llu MiB: %zu entries, want %zu",
	    (unsigned long long)(memsize / MIB), got, n);
	for (size_t i = 0; i < n && i < got; i++) {
		const uint8_t *e = buf + i * 20;

		CHECK_MSG(le(e, 8) == want[i].addr && le(e + 8, 8) == want[i].len &&
		    le(e + 16, 4) == want[i].type,
		    "-m %llu MiB, entry %zu: {0x%llx, 0x%llx, %llu}, want {0x%llx, 0x%llx, %u}",
		    (unsigned long long)(memsize / MIB), i, (unsigned long long)le(e, 8),
		    (unsigned long long)le(e + 8, 8), (unsigned long long)le(e + 16, 4),
		    (unsigned long long)want[i].addr, (unsigned long long)want[i].len,
		    want[i].type);
	}
	/* Packed: nothing written past the last 20-byte entry. */
	CHECK_EQ(buf[got * 20], 0xa5);
}

static void e820_128m_is_one_low_range(void)
{
	static const struct entry want[] = {
		{ 0, 128 * MIB, RAM },
		{ KVM_AREA, 0x4000, RESERVED },
	};

	check_map(128 * MIB, want, nitems(want));
}

static void e820_3g_fills_low_memory(void)
{
	static const struct entry want[] = {
		{ 0, 3 * GIB, RAM },
		{ KVM_AREA, 0x4000, RESERVED },
	};

	check_map(3 * GIB, want, nitems(want));
}

static void e820_5g_puts_the_rest_at_4g(void)
{
	static const struct entry want[] = {
		{ 0, 3 * GIB, RAM },
		{ KVM_AREA, 0x4000, RESERVED },
		{ 4 * GIB, 2 * GIB, RAM },
	};

	check_map(5 * GIB, want, nitems(want));
}

static void e820_odd_sizes(void)
{
	static const struct entry just_over[] = {
		{ 0, 3 * GIB, RAM },
		{ KVM_AREA, 0x4000, RESERVED },
		{ 4 * GIB, 1 * MIB, RAM },
	};
	static const struct entry just_under[] = {
		{ 0, 3 * GIB - 1 * MIB, RAM },
		{ KVM_AREA, 0x4000, RESERVED },
	};
	static const struct entry huge[] = {
		{ 0, 3 * GIB, RAM },
		{ KVM_AREA, 0x4000, RESERVED },
		{ 4 * GIB, 1021 * GIB, RAM },
	};

	check_map(3 * GIB + 1 * MIB, just_over, nitems(just_over));
	check_map(3 * GIB - 1 * MIB, just_under, nitems(just_under));
	check_map(1 * MIB, (const struct entry[]){ { 0, 1 * MIB, RAM }, { KVM_AREA, 0x4000,
	    RESERVED } }, 2);
	check_map(1024 * GIB, huge, nitems(huge));
}

static void e820_build_stops_at_max(void)
{
	struct vmctx *ctx = fake_vm_create(3 * GIB, 2 * GIB);
	uint8_t buf[2 * 20 + 1];

	REQUIRE(ctx != NULL);
	memset(buf, 0xa5, sizeof(buf));
	CHECK_EQ(e820_build(ctx, buf, 2), 2);
	CHECK_EQ(buf[40], 0xa5);
	CHECK_EQ(e820_build(ctx, buf, 0), 0);
	vm_destroy(ctx);
}

static void install_child(void *arg)
{
	if (e820_install_fwcfg(arg) != 0)
		_exit(CHILD_WRONG);
}

/* In a child, so that the file does not stay in the parent's fw_cfg directory. */
static void e820_installs_fwcfg_file(void)
{
	struct vmctx *ctx = fake_vm_create(3 * GIB, 2 * GIB);
	char why[128];

	REQUIRE(ctx != NULL);
	CHECK_MSG(child_ok(run_in_child(install_child, ctx, false), why, sizeof(why)), "%s", why);
	vm_destroy(ctx);
}

/* vm_punch_ram_hole's shared step (both backends): the RAM segment holding
 * the range is taken out whole, the ROM never; the backend maps the two
 * halves again, and the checked lookup then refuses the hole and anything
 * across it. */
static void memsegs_take_splits_around_vga_hole(void)
{
	static uint8_t ram[1 << 20], rom[4096];
	struct memsegs m = { 0 };
	struct memseg s;

	REQUIRE(memsegs_add(&m, 0, ram, sizeof(ram), false) == 0);
	REQUIRE(memsegs_add(&m, 0xfffff000, rom, sizeof(rom), true) == 0);
	CHECK_EQ(memsegs_take(&m, 0xfffff000, 16, &s), -1);	/* a ROM is no RAM */
	CHECK_EQ(memsegs_take(&m, 0xff000, 0x2000, &s), -1);	/* past the RAM's end */
	REQUIRE(memsegs_take(&m, 0xa0000, 0x20000, &s) == 0);
	CHECK_EQ(s.gpa, 0);
	CHECK_EQ(s.len, sizeof(ram));
	CHECK(s.host == ram);
	CHECK_EQ(m.n, 1);
	REQUIRE(memsegs_add(&m, 0, ram, 0xa0000, false) == 0);
	REQUIRE(memsegs_add(&m, 0xc0000, ram + 0xc0000, sizeof(ram) - 0xc0000, false) == 0);
	CHECK(memsegs_find(&m, 0x9ffff, 1, false) == ram + 0x9ffff);
	CHECK(memsegs_find(&m, 0xa0000, 1, false) == NULL);
	CHECK(memsegs_find(&m, 0xbffff, 1, false) == NULL);
	CHECK(memsegs_find(&m, 0x9fff0, 0x20, false) == NULL);	/* across the hole */
	CHECK(memsegs_find(&m, 0xc0000, 16, false) == ram + 0xc0000);
	CHECK_EQ(memsegs_take(&m, 0xb0000, 0x1000, &s), -1);	/* already a hole */
}

void suite_e820(void)
{
	RUN(e820_128m_is_one_low_range);
	RUN(e820_3g_fills_low_memory);
	RUN(e820_5g_puts_the_rest_at_4g);
	RUN(e820_odd_sizes);
	RUN(e820_build_stops_at_max);
	RUN(e820_installs_fwcfg_file);
	RUN(memsegs_take_splits_around_vga_hole);
}
