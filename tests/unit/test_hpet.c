/* The HPET (bhyve/devices/hpet.c) through its MMIO registers, with its timers
 * firing from the event loop as in the VMM. */
#include <time.h>

#include "fake_vmmapi.h"
#include "devices/hpet.h"
#include "mevent.h"
#include "test.h"

#define HPET		0xFED00000ULL
#define GCAP		(HPET + 0x000)
#define CONF		(HPET + 0x010)
#define ISR		(HPET + 0x020)
#define COUNTER		(HPET + 0x0f0)
#define TCONF(n)	(HPET + 0x100 + 0x20 * (n))
#define TCMP(n)		(HPET + 0x108 + 0x20 * (n))
#define TFSB(n)		(HPET + 0x110 + 0x20 * (n))
#define FREQ		16777216ULL

static bool hpet_ready;

static void hpet_setup(void)
{
	if (!hpet_ready)
		hpet_ready = hpet_init(fx_ctx) == 0;
}

/* Runs the event loop until cond() or ms milliseconds pass. */
static bool pump_until(bool (*cond)(void), int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		mevent_poll(5);
		if (cond())
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	return cond();
}

static void hpet_capabilities(void)
{
	uint64_t cap;

	hpet_setup();
	REQUIRE(hpet_ready);
	cap = mmio_in(GCAP, 8);
	CHECK_EQ(cap & 0xff, 1);			/* revision */
	CHECK_EQ((cap >> 8) & 0x1f, 2);			/* three timers */
	CHECK(cap & (1 << 13));				/* 64-bit counter */
	CHECK(cap & (1 << 15));				/* legacy replacement */
	CHECK_EQ((cap >> 16) & 0xffff, 0x8086);
	CHECK_EQ(cap >> 32, 1000000000000000ULL / FREQ);	/* period in fs */
	/* The low half is what the ACPI HPET table's block ID repeats. */
	CHECK_EQ(mmio_in(GCAP, 4), 0x8086A201);
	CHECK_EQ(mmio_in(TCONF(0), 8) >> 32, 0x00ff0000);	/* IOAPIC pins 16-23 */
	CHECK_EQ(mmio_rc(false, GCAP + 1, 4, &(uint64_t){ 0 }), -1);	/* unaligned */
}

static void hpet_counter_runs_at_16mhz_only_when_enabled(void)
{
	uint64_t a, b;
	struct timespec d = { 0, 200000000 };

	hpet_setup();
	REQUIRE(hpet_ready);
	mmio_out(CONF, 8, 0);
	mmio_out(COUNTER, 8, 1000);			/* writable while halted */
	CHECK_EQ(mmio_in(COUNTER, 8), 1000);
	nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	CHECK_EQ(mmio_in(COUNTER, 8), 1000);		/* and still */
	mmio_out(CONF, 8, 1);
	a = mmio_in(COUNTER, 8);
	nanosleep(&d, NULL);
	b = mmio_in(COUNTER, 8);
	/* 200 ms at 2^24 Hz, with room for a busy host. */
	CHECK_MSG(b - a > FREQ / 5 * 95 / 100 && b - a < FREQ / 5 * 130 / 100,
	    "counter advanced %llu in 200 ms", (unsigned long long)(b - a));
	mmio_out(COUNTER, 8, 5);			/* ignored while running */
	CHECK(mmio_in(COUNTER, 8) > 1000);
	mmio_out(CONF, 8, 0);
}

static bool isr_timer0(void)
{
	return mmio_in(ISR, 8) & 1;
}

static void hpet_level_timer_raises_pin_until_acknowledged(void)
{
	hpet_setup();
	REQUIRE(hpet_ready);
	fake_reset_irqs();
	mmio_out(CONF, 8, 0);
	mmio_out(COUNTER, 8, 0);
	/* Timer 0: level, enabled, routed to IOAPIC pin 20, due 5 ms after start. */
	mmio_out(TCONF(0), 8, (20 << 9) | (1 << 2) | (1 << 1));
	mmio_out(TCMP(0), 8, FREQ / 200);
	CHECK_EQ(mmio_in(TCMP(0), 8), FREQ / 200);
	mmio_out(CONF, 8, 1);
	CHECK(pump_until(isr_timer0, 2000));
	CHECK_EQ(fake_vmm.ioapic_level[20], 1);
	mmio_out(ISR, 8, 1);				/* write one to clear */
	CHECK_EQ(mmio_in(ISR, 8) & 1, 0);
	CHECK_EQ(fake_vmm.ioapic_level[20], 0);
	mmio_out(TCONF(0), 8, 0);
	mmio_out(CONF, 8, 0);
}

/* Legacy replacement: timer 0 drives IRQ 0 and the in-kernel PIT is told to
 * stand down; turning it off hands IRQ 0 back. */
static void hpet_legacy_replacement_silences_the_pit(void)
{
	hpet_setup();
	REQUIRE(hpet_ready);
	fake_reset_irqs();
	mmio_out(CONF, 8, 0);
	mmio_out(COUNTER, 8, 0);
	fake_vmm.pit_hpet_legacy = false;
	mmio_out(CONF, 8, 2);
	CHECK(fake_vmm.pit_hpet_legacy);
	CHECK(hpet_legacy_replacement());
	mmio_out(TCONF(0), 8, (1 << 2) | (1 << 1));	/* level, enabled, route ignored */
	mmio_out(TCMP(0), 8, FREQ / 200);
	mmio_out(CONF, 8, 3);
	CHECK(pump_until(isr_timer0, 2000));
	CHECK_EQ(fake_vmm.isa_level[0], 1);
	mmio_out(ISR, 8, 1);
	CHECK_EQ(fake_vmm.isa_level[0], 0);
	mmio_out(TCONF(0), 8, 0);
	mmio_out(CONF, 8, 0);
	CHECK(!fake_vmm.pit_hpet_legacy);
	CHECK(!hpet_legacy_replacement());
}

static bool five_edges(void)
{
	return fake_vmm.ioapic_calls >= 10;	/* each edge is a raise and a lower */
}

static void hpet_periodic_timer_keeps_firing(void)
{
	hpet_setup();
	REQUIRE(hpet_ready);
	fake_reset_irqs();
	mmio_out(CONF, 8, 0);
	mmio_out(COUNTER, 8, 0);
	/* Timer 1: periodic, edge, pin 21, every 2 ms. */
	mmio_out(TCONF(1), 8, (21 << 9) | (1 << 3) | (1 << 2));
	mmio_out(TCMP(1), 8, FREQ / 500);
	mmio_out(CONF, 8, 1);
	CHECK(pump_until(five_edges, 2000));
	CHECK_EQ(fake_vmm.ioapic_level[21], 0);		/* edges leave the line low */
	CHECK_EQ(mmio_in(ISR, 8) & 2, 0);		/* status is for level mode */
	mmio_out(TCONF(1), 8, 0);
	mmio_out(CONF, 8, 0);
}

static bool never(void)
{
	return false;
}

/* A 1-tick periodic timer fires no more often than the 100 us floor. */
static void hpet_periodic_floor_bounds_the_rate(void)
{
	struct timespec t0, t1;
	uint64_t us, edges;

	hpet_setup();
	REQUIRE(hpet_ready);
	fake_reset_irqs();
	mmio_out(CONF, 8, 0);
	mmio_out(COUNTER, 8, 0);
	mmio_out(TCONF(1), 8, (21 << 9) | (1 << 3) | (1 << 2));
	mmio_out(TCMP(1), 8, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mmio_out(CONF, 8, 1);
	(void)pump_until(never, 200);
	mmio_out(CONF, 8, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
	edges = (uint64_t)fake_vmm.ioapic_calls / 2;	/* a raise and a lower each */
	CHECK(edges >= 10);				/* it still fires */
	CHECK(edges <= us / 100 + 2);
	mmio_out(TCONF(1), 8, 0);
}

static bool an_msi(void)
{
	return fake_last_msi() != NULL;
}

static void hpet_fsb_delivery_sends_msi(void)
{
	const struct fake_msi *m;

	hpet_setup();
	REQUIRE(hpet_ready);
	fake_reset_msi();
	mmio_out(CONF, 8, 0);
	mmio_out(COUNTER, 8, 0);
	mmio_out(TFSB(2), 8, 0xfee00000ULL << 32 | 0x4041);
	mmio_out(TCONF(2), 8, (1 << 14) | (1 << 2));	/* FSB, enabled */
	mmio_out(TCMP(2), 8, FREQ / 1000);
	mmio_out(CONF, 8, 1);
	CHECK(pump_until(an_msi, 2000));
	m = fake_last_msi();
	if (m != NULL) {
		CHECK_EQ(m->addr, 0xfee00000ULL);
		CHECK_EQ(m->msg, 0x4041);
	}
	mmio_out(TCONF(2), 8, 0);
	mmio_out(CONF, 8, 0);
}

void suite_hpet(void)
{
	RUN_DEV(hpet_capabilities);
	RUN_DEV(hpet_counter_runs_at_16mhz_only_when_enabled);
	RUN_DEV(hpet_level_timer_raises_pin_until_acknowledged);
	RUN_DEV(hpet_legacy_replacement_silences_the_pit);
	RUN_DEV(hpet_periodic_timer_keeps_firing);
	RUN_DEV(hpet_periodic_floor_bounds_the_rate);
	RUN_DEV(hpet_fsb_delivery_sends_msi);
}
