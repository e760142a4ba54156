/* The RTC and CMOS at 0x70/0x71 (0x72/0x73). main() sets TZ to UTC+5:30 so that
 * local time and UTC differ. Tests that change the clock re-create the RTC. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "mevent.h"
#include "iodispatch.h"
#include "devices/rtc.h"
#include "test.h"

static uint8_t cmos(uint8_t reg)
{
	port_out(0x70, 1, reg);
	return (uint8_t)port_in(0x71, 1);
}

static void cmos_set(uint8_t reg, uint8_t v)
{
	port_out(0x70, 1, reg);
	port_out(0x71, 1, v);
}

static int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

/* A fresh RTC with the given time zone mode (and the clock offset back to 0). */
static int rtc_reinit(bool localtime)
{
	set_config_bool("rtc.use_localtime", localtime);
	unregister_io(IO_PORT, 0x70);
	return rtc_init(fx_ctx, 2);
}

/* The guest's clock as seconds since the epoch, read the way an OS does (until
 * two reads agree), with its fields taken as UTC. */
static time_t guest_clock(bool binary)
{
	struct tm tm;
	uint8_t r[7], again[7];
	static const uint8_t regs[7] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32 };

	for (int tries = 0; tries < 10; tries++) {
		for (int i = 0; i < 7; i++)
			r[i] = cmos(regs[i]);
		for (int i = 0; i < 7; i++)
			again[i] = cmos(regs[i]);
		if (memcmp(r, again, sizeof(r)) == 0)
			break;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_sec = binary ? r[0] : bcd(r[0]);
	tm.tm_min = binary ? r[1] : bcd(r[1]);
	tm.tm_hour = binary ? r[2] : bcd(r[2]);
	tm.tm_mday = binary ? r[3] : bcd(r[3]);
	tm.tm_mon = (binary ? r[4] : bcd(r[4])) - 1;
	tm.tm_year = (binary ? r[6] * 100 + r[5] : bcd(r[6]) * 100 + bcd(r[5])) - 1900;
	return timegm(&tm);
}

/* The host's clock in the same terms: local wall time or UTC, as seconds. */
static time_t host_clock(bool localtime)
{
	time_t now = time(NULL);
	struct tm tm;

	if (localtime)
		localtime_r(&now, &tm);
	else
		gmtime_r(&now, &tm);
	return timegm(&tm);
}

static long diff(time_t a, time_t b)
{
	return labs((long)(a - b));
}

static void rtc_time_matches_host_localtime_in_bcd(void)
{
	time_t g, h;

	REQUIRE(rtc_reinit(true) == 0);
	CHECK_EQ(cmos(0x0b), 0x02);		/* 24-hour, BCD */
	CHECK_EQ(cmos(0x0a) & 0x7f, 0x26);
	g = guest_clock(false);
	h = host_clock(true);
	CHECK_MSG(diff(g, h) <= 2, "guest clock is %ld s from host local time", (long)(g - h));
	CHECK_MSG(diff(g, host_clock(false)) > 3600, "guest clock is UTC, not local time");
	/* Day of week 1-7, Sunday = 1. */
	{
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		CHECK_EQ(bcd(cmos(0x06)), tm.tm_wday + 1);
	}
}

static void rtc_time_is_utc_when_use_localtime_false(void)
{
	time_t g;

	REQUIRE(rtc_reinit(false) == 0);
	g = guest_clock(false);
	CHECK_MSG(diff(g, host_clock(false)) <= 2, "guest clock is %ld s from UTC",
	    (long)(g - host_clock(false)));
	REQUIRE(rtc_reinit(true) == 0);
}

static void rtc_binary_mode_changes_encoding(void)
{
	time_t g;

	REQUIRE(rtc_reinit(true) == 0);
	cmos_set(0x0b, 0x06);			/* 24-hour, binary */
	CHECK_EQ(cmos(0x0b), 0x06);
	g = guest_clock(true);
	CHECK_MSG(diff(g, host_clock(true)) <= 2, "binary clock is %ld s off", (long)(g - host_clock(true)));
	/* 12-hour BCD: 1-12 with bit 7 for PM. */
	cmos_set(0x0b, 0x00);
	{
		time_t now = time(NULL);
		struct tm tm;
		uint8_t h = cmos(0x04);
		int want;

		localtime_r(&now, &tm);
		want = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
		if (tm.tm_min == 59 && tm.tm_sec == 59)
			SKIP("too close to the hour to compare");
		CHECK_EQ(bcd(h & 0x7f), want);
		CHECK_EQ(h & 0x80, tm.tm_hour >= 12 ? 0x80 : 0);
	}
	cmos_set(0x0b, 0x02);
}

static void rtc_set_time_moves_clock_and_persists(void)
{
	time_t g, want;
	struct tm tm = { .tm_year = 2031 - 1900, .tm_mon = 5, .tm_mday = 15,
	    .tm_hour = 12, .tm_min = 34, .tm_sec = 56 };

	REQUIRE(rtc_reinit(true) == 0);
	want = timegm(&tm);
	cmos_set(0x0b, 0x82);			/* SET: the clock holds while it is written */
	cmos_set(0x00, 0x56);
	cmos_set(0x02, 0x34);
	cmos_set(0x04, 0x12);
	cmos_set(0x07, 0x15);
	cmos_set(0x08, 0x06);
	cmos_set(0x09, 0x31);
	cmos_set(0x32, 0x20);
	CHECK_EQ(cmos(0x00), 0x56);		/* reads back what was set */
	CHECK_EQ(cmos(0x09), 0x31);
	cmos_set(0x0b, 0x02);
	g = guest_clock(false);
	CHECK_MSG(g - want >= 0 && g - want <= 2, "after setting, clock is %ld s from what was set",
	    (long)(g - want));
	usleep(1200 * 1000);
	g = guest_clock(false);
	CHECK_MSG(g - want >= 1 && g - want <= 4, "1.2 s later, clock is %ld s from what was set",
	    (long)(g - want));
	/* One field written without SET moves the clock too. */
	cmos_set(0x09, 0x29);
	CHECK_EQ(cmos(0x09), 0x29);
	CHECK_EQ(cmos(0x04), 0x12);
	REQUIRE(rtc_reinit(true) == 0);
	g = guest_clock(false);
	CHECK(diff(g, host_clock(true)) <= 2);
}

static void rtc_status_registers(void)
{
	CHECK_EQ(cmos(0x0d), 0x80);		/* valid RAM and time */
	cmos_set(0x0d, 0x00);
	CHECK_EQ(cmos(0x0d), 0x80);
	cmos_set(0x0a, 0x20);			/* no periodic events for now */
	(void)cmos(0x0c);
	cmos_set(0x0c, 0xff);			/* read-only */
	CHECK_EQ(cmos(0x0c) & ~0x10, 0x00);	/* an update may have ended since */
	cmos_set(0x0a, 0x26);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Runs the main loop until IRQ 8 goes up or ms pass; true if it did. */
static bool wait_irq8(int ms)
{
	int64_t end = now_ns() + ms * 1000000LL;

	while (fake_vmm.isa_level[8] != 1 && now_ns() < end)
		mevent_poll(5);
	return fake_vmm.isa_level[8] == 1;
}

/* Register C's flags come up whether or not their interrupt is enabled, so a
 * polling guest sees them: PF at the rate register A sets. */
static void rtc_periodic_flag_and_interrupt(void)
{
	int64_t t0;
	int n = 0;

	REQUIRE(rtc_reinit(true) == 0);
	cmos_set(0x0a, 0x26);			/* 1024 Hz */
	(void)cmos(0x0c);
	usleep(3000);
	CHECK_EQ(cmos(0x0c) & 0xc0, 0x40);	/* PF, no IRQF: PIE is off */
	CHECK_EQ(fake_vmm.isa_level[8], 0);
	cmos_set(0x0a, 0x2a);			/* 64 Hz */
	cmos_set(0x0b, 0x02 | 0x40);		/* PIE */
	t0 = now_ns();
	while (now_ns() - t0 < 250000000LL) {
		if (wait_irq8(100)) {
			CHECK_EQ(cmos(0x0c) & 0xc0, 0xc0);	/* IRQF and PF */
			CHECK_EQ(fake_vmm.isa_level[8], 0);	/* reading C lowers it */
			n++;
		}
	}
	/* 64 Hz for a quarter of a second: 16 interrupts, give or take scheduling. */
	CHECK(n >= 10 && n <= 17);
	cmos_set(0x0b, 0x02);
	cmos_set(0x0a, 0x20);			/* periodic off: nothing more */
	(void)cmos(0x0c);
	usleep(20000);
	CHECK_EQ(cmos(0x0c) & 0x40, 0);
	cmos_set(0x0a, 0x26);
}

/* The update-ended flag once a second, and the alarm when the clock reaches
 * the alarm registers (0xC0 and up: any value). */
static void rtc_update_and_alarm_interrupts(void)
{
	time_t t;
	struct tm tm;
	uint8_t c;

	REQUIRE(rtc_reinit(false) == 0);
	cmos_set(0x0a, 0x20);
	cmos_set(0x0b, 0x02 | 0x04);		/* 24 h, binary */
	t = time(NULL) + 2;
	gmtime_r(&t, &tm);
	cmos_set(0x01, (uint8_t)tm.tm_sec);	/* alarm: this second of any minute, any hour */
	cmos_set(0x03, 0xc0);
	cmos_set(0x05, 0xff);
	(void)cmos(0x0c);
	cmos_set(0x0b, 0x02 | 0x04 | 0x10);	/* UIE */
	REQUIRE(wait_irq8(1500));
	c = cmos(0x0c);
	CHECK_EQ(c & 0x90, 0x90);		/* IRQF, UF */
	cmos_set(0x0b, 0x02 | 0x04 | 0x20);	/* AIE only */
	REQUIRE(wait_irq8(3500));
	c = cmos(0x0c);
	CHECK_EQ(c & 0xa0, 0xa0);		/* IRQF, AF */
	CHECK(labs((long)(time(NULL) - t)) <= 1);
	cmos_set(0x0b, 0x02);
	cmos_set(0x0a, 0x26);
	(void)cmos(0x0c);
}

static void rtc_cmos_reports_memory_sizes(void)
{
	uint64_t above16 = (FX_LOWMEM - (16ULL << 20)) >> 16, high = FX_HIGHMEM >> 16;

	REQUIRE(rtc_reinit(true) == 0);
	CHECK_EQ(cmos(0x34) | cmos(0x35) << 8, above16);
	CHECK_EQ(cmos(0x5b) | cmos(0x5c) << 8 | (uint32_t)cmos(0x5d) << 16, high);
	CHECK_EQ(cmos(0x15) | cmos(0x16) << 8, 640);
	CHECK_EQ(cmos(0x17) | cmos(0x18) << 8, 0xffff);	/* 1M-64M, saturated */
	CHECK_EQ(cmos(0x30) | cmos(0x31) << 8, 0xffff);
	CHECK_EQ(cmos(0x5f), 1);				/* 2 vCPUs */
}

static void rtc_nmi_mask_bit_ignored_in_index(void)
{
	CHECK_EQ(cmos(0x80 | 0x0d), 0x80);
	CHECK_EQ(cmos(0x80 | 0x34), cmos(0x34));
	cmos_set(0x80 | 0x40, 0x5a);
	CHECK_EQ(cmos(0x40), 0x5a);
	cmos_set(0x40, 0xa5);
	CHECK_EQ(cmos(0xc0), 0xa5);
	/* The upper bank at 0x72/0x73 is separate RAM. */
	port_out(0x72, 1, 0x40);
	port_out(0x73, 1, 0x3c);
	port_out(0x72, 1, 0x40);
	CHECK_EQ(port_in(0x73, 1), 0x3c);
	CHECK_EQ(cmos(0x40), 0xa5);
	/* Wider accesses are refused. */
	CHECK_EQ(port_rc(false, 0x70, 2, &(uint64_t){ 0 }), -1);
	/* The index ports are write-only: they read 0xff, and reading them
	 * leaves the index as it was. */
	port_out(0x70, 1, 0x40);
	CHECK_EQ(port_in(0x70, 1), 0xff);
	CHECK_EQ(port_in(0x71, 1), 0xa5);
	port_out(0x72, 1, 0x40);
	CHECK_EQ(port_in(0x72, 1), 0xff);
	CHECK_EQ(port_in(0x73, 1), 0x3c);
}

/* Years before 1900 are a guest's choice too (century register 0x00): the
 * registers must still hold valid BCD, and computing them must not be undefined
 * behaviour (UBSan flags a left shift of a negative value). */
static void rtc_year_before_1900_reads_back_valid_bcd(void)
{
	REQUIRE(rtc_reinit(false) == 0);
	cmos_set(0x0b, 0x82);
	cmos_set(0x09, 0x25);
	cmos_set(0x32, 0x00);
	cmos_set(0x0b, 0x02);
	CHECK_MSG(cmos(0x09) == 0x25, "year set to 0025 reads back as 0x%02x", cmos(0x09));
	CHECK_MSG(cmos(0x32) == 0x00, "century set to 00 reads back as 0x%02x", cmos(0x32));
	REQUIRE(rtc_reinit(true) == 0);
}

void suite_rtc(void)
{
	RUN_DEV(rtc_time_matches_host_localtime_in_bcd);
	RUN_DEV(rtc_time_is_utc_when_use_localtime_false);
	RUN_DEV(rtc_binary_mode_changes_encoding);
	RUN_DEV(rtc_set_time_moves_clock_and_persists);
	RUN_DEV(rtc_status_registers);
	RUN_DEV(rtc_periodic_flag_and_interrupt);
	RUN_DEV(rtc_update_and_alarm_interrupts);
	RUN_DEV(rtc_cmos_reports_memory_sizes);
	RUN_DEV(rtc_nmi_mask_bit_ignored_in_index);
	RUN_DEV(rtc_year_before_1900_reads_back_valid_bcd);
}
