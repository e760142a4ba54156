/* "A misbehaving guest never crashes the VMM": a seeded storm of random port and
 * MMIO accesses, biased towards what is registered, in a child process under
 * ASan/UBSan. Exit requests are only recorded by the fake. The child notes each
 * access in shared memory first, so a crash can be pinned to the access. */
#include <stdlib.h>
#include <sys/mman.h>

#include "fake_vmmapi.h"
#include "iodispatch.h"
#include "pci_emul.h"
#include "test.h"

#define STORM_ACCESSES	200000

#define STORM_ROUNDS	6

/* Shared with the child: the access under way, and the port blocks to leave out
 * (where earlier rounds crashed), so that one crash does not hide the next. */
struct storm_shared {
	long n;
	int space;
	int write;
	uint64_t addr;
	int size;
	uint64_t val;
	int nexcl;
	uint64_t excl[STORM_ROUNDS];
};

static struct storm_shared *last;
static uint64_t rng;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_val(void)
{
	switch (rnd() % 8) {
	case 0: return 0;
	case 1: return ~0ULL;
	case 2: return rnd() & 0xff;
	default: return rnd();
	}
}

static int rnd_size(bool mmio)
{
	static const int sizes[] = { 1, 2, 4, 8 };

	return sizes[rnd() % (mmio ? 4 : 3)];
}

static int rnd_slot(void)
{
	static const int slots[] = { 0, 1, FX_DEV_SLOT, FX_LPC_SLOT };

	return rnd() % 5 == 0 ? (int)(rnd() % 32) : slots[rnd() % 4];
}

static void do_access(int space, bool write, uint64_t addr, int size, uint64_t val)
{
	uint64_t v = write ? val : rnd();

	for (int i = 0; i < last->nexcl; i++)
		if (space == 0 && size > 1 && (addr & ~7ULL) == last->excl[i])
			return;
	last->n++;
	last->space = space;
	last->write = write;
	last->addr = addr;
	last->size = size;
	last->val = val;
	emulate_io(space == 0 ? IO_PORT : IO_MMIO, write, addr, size, &v);
}

static void one_access(struct pci_devinst *ut)
{
	static const struct {
		uint16_t base, len;
	} ports[] = {
		{ 0x60, 1 }, { 0x64, 1 }, { 0x70, 4 }, { 0x80, 1 }, { 0xb2, 1 }, { 0x3f8, 8 },
		{ 0x400, 16 }, { 0xcf8, 1 }, { 0xcf9, 1 }, { 0xcfc, 4 }, { 0x510, 12 },
	};
	unsigned kind = (unsigned)(rnd() % 100);
	bool write = rnd() & 1;

	if (kind < 25) {
		do_access(0, write, rnd() & 0xffff, rnd_size(false), rnd_val());
	} else if (kind < 55) {
		unsigned i = (unsigned)(rnd() % nitems(ports));

		do_access(0, write, ports[i].base + rnd() % ports[i].len, rnd_size(false), rnd_val());
	} else if (kind < 65) {
		uint32_t a = 0x80000000u | (uint32_t)(rnd() % 8 == 0 ? rnd() % 256 : 0) << 16 |
		    (uint32_t)rnd_slot() << 11 | (uint32_t)(rnd() % 8 == 0 ? rnd() % 8 : 0) << 8 |
		    (uint32_t)(rnd() & 0xfc);

		if (rnd() % 16 == 0)
			a = (uint32_t)rnd();
		do_access(0, true, 0xcf8, 4, a);
		do_access(0, write, 0xcfc + rnd() % 4, rnd_size(false), rnd_val());
	} else if (kind < 80) {
		uint64_t off = (uint64_t)(rnd() % 16 == 0 ? rnd() % 256 : 0) << 20 |
		    (uint64_t)rnd_slot() << 15 | (uint64_t)(rnd() % 8 == 0 ? rnd() % 8 : 0) << 12 |
		    (rnd() % 4 == 0 ? rnd() % 0x1000 : rnd() % 0x100);

		do_access(1, write, PCI_ECAM_BASE + off, rnd_size(true), rnd_val());
	} else if (kind < 95) {
		static const int bars[] = { 0, 1, 2, 4 };
		int b = bars[rnd() % nitems(bars)];
		const struct pcibar *bar = &ut->pi_bar[b];
		uint64_t size = bar->size ? bar->size : 4096;

		do_access(b == 0 ? 0 : 1, write, bar->addr + rnd() % size, rnd_size(b != 0), rnd_val());
	} else if (kind < 98) {
		do_access(1, write, 0xfed00000ULL + rnd() % 0x400, rnd_size(true), rnd_val());	/* HPET */
	} else {
		do_access(1, write, PCI_MEMBASE32 + rnd() % (0x100000000ULL - PCI_MEMBASE32),
		    rnd_size(true), rnd_val());
	}
}

static void storm_child(void *arg)
{
	struct pci_devinst *ut = pci_find(0, FX_DEV_SLOT, 0);

	rng = *(const uint64_t *)arg;
	for (long i = 0; i < STORM_ACCESSES; i++)
		one_access(ut);
}

static void robustness_random_io_storm(void)
{
	const char *env = getenv("UNIT_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5eed2026ULL;
	char why[160], report[1024] = "";
	size_t len = 0;
	int st;

	if (seed == 0)
		seed = 1;
	last = mmap(NULL, sizeof(*last), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(last != MAP_FAILED);
	memset(last, 0, sizeof(*last));
	fprintf(stderr, "storm: seed 0x%llx (set UNIT_SEED to change), %d accesses\n",
	    (unsigned long long)seed, STORM_ACCESSES);
	for (int round = 0; round < STORM_ROUNDS; round++) {
		last->n = 0;
		st = run_in_child(storm_child, &seed, false);
		if (child_ok(st, why, sizeof(why))) {
			CHECK(last->n >= STORM_ACCESSES);
			break;
		}
		len += (size_t)snprintf(report + len, sizeof(report) - len, "%s%s at access #%ld "
		    "(%s %s 0x%llx size %d", len ? "; " : "", why, last->n,
		    last->space == 0 ? "port" : "MMIO", last->write ? "write" : "read",
		    (unsigned long long)last->addr, last->size);
		if (len < sizeof(report))
			len += (size_t)(last->write ? snprintf(report + len, sizeof(report) - len,
			    " value 0x%llx)", (unsigned long long)last->val) :
			    snprintf(report + len, sizeof(report) - len, ")"));
		if (len >= sizeof(report))
			break;
		/* Crashed on a port: run again without wide accesses to that block. */
		if (WIFEXITED(st) && WEXITSTATUS(st) == CHILD_UBSAN)
			break;
		if (last->space != 0)
			break;
		last->excl[last->nexcl++] = last->addr & ~7ULL;
	}
	if (report[0] != '\0')
		test_fail(__FILE__, __LINE__, "seed 0x%llx: %s", (unsigned long long)seed, report);
	munmap(last, sizeof(*last));
}

void suite_storm(void)
{
	RUN_DEV(robustness_random_io_storm);
}
