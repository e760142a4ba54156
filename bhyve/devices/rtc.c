/* The MC146818 RTC and CMOS RAM at 0x70/0x71 (0x72/0x73 for the upper bank). The
 * clock is the host's (UTC with -u, else local time) plus the guest's own offset.
 * Its three events (periodic, alarm, update-ended) set their flags in register C
 * whether enabled or not, so a polling guest sees them; enabled ones also raise
 * IRQ 8 until register C is read. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hpet.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"
#include "rtc.h"
#include "vmmapi.h"

#define RTC_SEC		0x00
#define RTC_ALARM_SEC	0x01
#define RTC_MIN		0x02
#define RTC_ALARM_MIN	0x03
#define RTC_HRS		0x04
#define RTC_ALARM_HRS	0x05
#define RTC_WDAY	0x06
#define RTC_DAY		0x07
#define RTC_MONTH	0x08
#define RTC_YEAR	0x09
#define RTC_STATUSA	0x0a
#define RTC_STATUSB	0x0b
#define RTC_STATUSC	0x0c
#define RTC_STATUSD	0x0d
#define RTC_CENTURY	0x32
#define SA_UIP		0x80
#define SA_RATE		0x0f
#define SB_SET		0x80
#define SB_PIE		0x40
#define SB_AIE		0x20
#define SB_UIE		0x10
#define SB_BIN		0x04
#define SB_24HR		0x02
#define SC_IRQF		0x80
#define SC_PF		0x40
#define SC_AF		0x20
#define SC_UF		0x10
#define SD_VRT		0x80
#define RTC_IRQ		8
#define NS		1000000000LL

static struct {
	pthread_mutex_t mtx;
	uint8_t nvram[256];
	uint8_t index[2];
	time_t offset;		/* guest time minus host time, seconds */
	bool localtime;
	struct tm set_tm;	/* fields written while SET is held */
	struct vmctx *ctx;
	int64_t last_eval;	/* host realtime (ns) up to which flags are in register C */
	bool irq;		/* IRQ 8 is raised */
	int timer_fd;		/* paces the enabled events; -1 until one is enabled */
} rtc = { .mtx = PTHREAD_MUTEX_INITIALIZER, .timer_fd = -1 };

static uint8_t to_reg(int v)
{
	if (rtc.nvram[RTC_STATUSB] & SB_BIN)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_reg(uint8_t v)
{
	if (rtc.nvram[RTC_STATUSB] & SB_BIN)
		return v;
	return (v >> 4) * 10 + (v & 0xf);
}

static void guest_now(struct tm *tm, long *nsec)
{
	struct timespec ts;
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec + rtc.offset;
	if (rtc.localtime)
		localtime_r(&t, tm);
	else
		gmtime_r(&t, tm);
	*nsec = ts.tv_nsec;
}

static uint8_t hour_reg(int hour)
{
	if (rtc.nvram[RTC_STATUSB] & SB_24HR)
		return to_reg(hour);
	/* 12-hour mode: 12, 1..11 with bit 7 for PM. */
	return (uint8_t)(to_reg(hour % 12 == 0 ? 12 : hour % 12) | (hour >= 12 ? 0x80 : 0));
}

/* The calendar year, kept within what the two BCD registers can show. */
static int full_year(const struct tm *tm)
{
	int y = tm->tm_year + 1900;

	return y < 0 ? 0 : y > 9999 ? 9999 : y;
}

static uint8_t rtc_time_reg(int reg, const struct tm *tm)
{
	switch (reg) {
	case RTC_SEC: return to_reg(tm->tm_sec > 59 ? 59 : tm->tm_sec);
	case RTC_MIN: return to_reg(tm->tm_min);
	case RTC_HRS: return hour_reg(tm->tm_hour);
	case RTC_WDAY: return to_reg(tm->tm_wday + 1);
	case RTC_DAY: return to_reg(tm->tm_mday);
	case RTC_MONTH: return to_reg(tm->tm_mon + 1);
	case RTC_YEAR: return to_reg(full_year(tm) % 100);
	case RTC_CENTURY: return to_reg(full_year(tm) / 100);
	}
	return rtc.nvram[reg];
}

static bool is_time_reg(int reg)
{
	return reg == RTC_SEC || reg == RTC_MIN || reg == RTC_HRS || reg == RTC_WDAY ||
	    reg == RTC_DAY || reg == RTC_MONTH || reg == RTC_YEAR || reg == RTC_CENTURY;
}

static void set_field(struct tm *tm, int reg, uint8_t v)
{
	switch (reg) {
	case RTC_SEC: tm->tm_sec = from_reg(v); break;
	case RTC_MIN: tm->tm_min = from_reg(v); break;
	case RTC_HRS:
		if (rtc.nvram[RTC_STATUSB] & SB_24HR)
			tm->tm_hour = from_reg(v);
		else
			tm->tm_hour = from_reg(v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
		break;
	case RTC_DAY: tm->tm_mday = from_reg(v); break;
	case RTC_MONTH: tm->tm_mon = from_reg(v) - 1; break;
	case RTC_YEAR: tm->tm_year = full_year(tm) / 100 * 100 + from_reg(v) - 1900; break;
	case RTC_CENTURY: tm->tm_year = from_reg(v) * 100 + full_year(tm) % 100 - 1900; break;
	}
}

/* The guest set the clock: keep the difference to the host's. */
static void apply_set_tm(void)
{
	struct tm tm = rtc.set_tm;
	time_t t, now = time(NULL);

	tm.tm_isdst = -1;
	t = rtc.localtime ? mktime(&tm) : timegm(&tm);
	if (t != (time_t)-1)
		rtc.offset = t - now;
}

/* ---- events: periodic, alarm, update-ended ---- */

static int64_t host_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

/* The periodic interval register A selects (rates 1 and 2 are 256 and 128 Hz,
 * 3-15 are 8192 Hz down to 2 Hz); 0: none. Only the 32.768 kHz time base
 * (divider 010) runs the clock and its events. */
static int64_t periodic_ns(void)
{
	int rs = rtc.nvram[RTC_STATUSA] & SA_RATE;

	if (rs == 0 || (rtc.nvram[RTC_STATUSA] & 0x70) != 0x20)
		return 0;
	if (rs < 3)
		rs += 7;
	return NS * (1LL << (rs - 1)) / 32768;
}

/* Whether an alarm register (don't-care when 0xC0-0xFF) matches value v. */
static bool alarm_field(int reg, int v, bool hours)
{
	uint8_t a = rtc.nvram[reg];

	if (a >= 0xc0)
		return true;
	if (hours && !(rtc.nvram[RTC_STATUSB] & SB_24HR)) {
		int h = from_reg(a & 0x7f) % 12 + ((a & 0x80) ? 12 : 0);

		return h == v;
	}
	return from_reg(a) == v;
}

/* Did the guest's clock pass an alarm time in the seconds (from, to]? Both are
 * guest seconds of the day plus whole days; a day at most is looked at. */
static bool alarm_between(int64_t from, int64_t to)
{
	if (to - from > 86400)
		from = to - 86400;
	for (int64_t t = from + 1; t <= to; t++) {
		int sod = (int)(((t % 86400) + 86400) % 86400);

		if (alarm_field(RTC_ALARM_SEC, sod % 60, false) &&
		    alarm_field(RTC_ALARM_MIN, sod / 60 % 60, false) &&
		    alarm_field(RTC_ALARM_HRS, sod / 3600, true))
			return true;
	}
	return false;
}

/* The guest's local seconds for host time ns (its offset and time zone). */
static int64_t guest_sec(int64_t ns)
{
	time_t t = (time_t)(ns / NS) + rtc.offset;
	struct tm tm;

	if (rtc.localtime)
		localtime_r(&t, &tm);
	else
		gmtime_r(&t, &tm);
	return (int64_t)t + tm.tm_gmtoff;
}

/* Adds the events that happened since the last look to register C, and
 * raises IRQ 8 for an enabled one. The clock is stopped while SET is held. */
static void rtc_events(void)
{
	int64_t now = host_ns(), last = rtc.last_eval, per = periodic_ns();
	uint8_t b = rtc.nvram[RTC_STATUSB], c = rtc.nvram[RTC_STATUSC];

	rtc.last_eval = now;
	if (per > 0 && now / per > last / per)
		c |= SC_PF;
	if (!(b & SB_SET) && (rtc.nvram[RTC_STATUSA] & 0x70) == 0x20 && now / NS > last / NS) {
		c |= SC_UF;
		if (alarm_between(guest_sec(last), guest_sec(now)))
			c |= SC_AF;
	}
	if (c & b & (SC_PF | SC_AF | SC_UF))
		c |= SC_IRQF;
	rtc.nvram[RTC_STATUSC] = c;
	/* Under the HPET's legacy replacement IRQ 8 is its timer 1's. */
	isa_irq_follow(rtc.ctx, RTC_IRQ, &rtc.irq, (c & SC_IRQF) && !hpet_legacy_replacement());
}

static void rtc_timer_cb(int fd, void *arg)
{
	uint64_t n;

	(void)arg;
	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	pthread_mutex_lock(&rtc.mtx);
	rtc_events();
	pthread_mutex_unlock(&rtc.mtx);
}

/* Wakes the main loop as often as the enabled events need: every periodic
 * interval with PIE, every second for alarms and updates, never otherwise. */
static void rtc_timer_update(void)
{
	uint8_t b = rtc.nvram[RTC_STATUSB];
	int64_t every = 0, per = periodic_ns();
	struct itimerspec its = { 0 };

	if ((b & SB_PIE) && per > 0)
		every = per;
	else if (b & (SB_AIE | SB_UIE))
		every = NS;
	if (every > 0 && rtc.timer_fd < 0) {
		rtc.timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
		if (rtc.timer_fd >= 0 && mevent_add(rtc.timer_fd, rtc_timer_cb, NULL) == NULL) {
			close(rtc.timer_fd);
			rtc.timer_fd = -1;
		}
	}
	if (rtc.timer_fd < 0)
		return;
	if (every > 0) {
		/* On the interval's boundaries, where rtc_events counts them. */
		int64_t next = (host_ns() / every + 1) * every;

		its.it_value = (struct timespec){ next / NS, next % NS };
		its.it_interval = (struct timespec){ every / NS, every % NS };
	}
	timerfd_settime(rtc.timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static uint8_t rtc_read(int reg)
{
	struct tm tm;
	long ns;

	if (reg < 0x0e && reg != RTC_STATUSA && reg != RTC_STATUSB && reg != RTC_STATUSC &&
	    reg != RTC_STATUSD) {
		if (rtc.nvram[RTC_STATUSB] & SB_SET)
			return rtc_time_reg(reg, &rtc.set_tm);
		guest_now(&tm, &ns);
		return (reg & 1) && reg < RTC_WDAY ? rtc.nvram[reg] : rtc_time_reg(reg, &tm);
	}
	if (reg == RTC_CENTURY) {
		if (rtc.nvram[RTC_STATUSB] & SB_SET)
			return rtc_time_reg(reg, &rtc.set_tm);
		guest_now(&tm, &ns);
		return rtc_time_reg(reg, &tm);
	}
	if (reg == RTC_STATUSA) {
		guest_now(&tm, &ns);
		/* Update-in-progress for the last 244 us of each second. */
		return (uint8_t)((rtc.nvram[RTC_STATUSA] & 0x7f) |
		    (ns >= 1000000000L - 244000 ? SA_UIP : 0));
	}
	if (reg == RTC_STATUSC) {
		uint8_t v;

		rtc_events();
		v = rtc.nvram[RTC_STATUSC];
		rtc.nvram[RTC_STATUSC] = 0;
		isa_irq_follow(rtc.ctx, RTC_IRQ, &rtc.irq, false);
		return v;
	}
	if (reg == RTC_STATUSD)
		return SD_VRT;
	return rtc.nvram[reg];
}

static void rtc_write(int reg, uint8_t v)
{
	long ns;

	if (reg == RTC_STATUSB) {
		bool was_set = rtc.nvram[RTC_STATUSB] & SB_SET;

		rtc_events();		/* what happened before, under the old rules */
		if (!was_set && (v & SB_SET))
			guest_now(&rtc.set_tm, &ns);
		/* SET stops updates, and with them update-ended interrupts. */
		rtc.nvram[RTC_STATUSB] = (v & SB_SET) ? (uint8_t)(v & ~SB_UIE) : v;
		if (was_set && !(v & SB_SET))
			apply_set_tm();
		rtc_events();		/* an enable for a flag already up interrupts now */
		rtc_timer_update();
		return;
	}
	if (reg == RTC_STATUSA) {
		rtc_events();
		rtc.nvram[RTC_STATUSA] = v & 0x7f;	/* UIP is read-only */
		rtc_timer_update();
		return;
	}
	if (reg == RTC_STATUSC || reg == RTC_STATUSD)
		return;
	if (is_time_reg(reg)) {
		if (rtc.nvram[RTC_STATUSB] & SB_SET) {
			set_field(&rtc.set_tm, reg, v);
		} else {
			guest_now(&rtc.set_tm, &ns);
			set_field(&rtc.set_tm, reg, v);
			apply_set_tm();
		}
		return;
	}
	rtc.nvram[reg] = v;
}

static int rtc_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	int bank = (port & 2) ? 1 : 0;

	(void)arg;
	if (size != 1)
		return -1;
	pthread_mutex_lock(&rtc.mtx);
	if ((port & 1) == 0) {
		/* Index; bit 7 of port 0x70 is the NMI mask, not part of the index.
		 * The port is write-only and reads 0xff, as on chipsets and QEMU:
		 * a firmware that sees no index there does not save and restore
		 * the NMI bit around every mode switch (SeaBIOS: ~900 exits a boot). */
		if (write)
			rtc.index[bank] = (uint8_t)*val & 0x7f;
		else
			*val = 0xff;
	} else {
		int reg = rtc.index[bank] + (bank ? 128 : 0);

		if (write)
			rtc_write(reg, (uint8_t)*val);
		else
			*val = rtc_read(reg);
	}
	pthread_mutex_unlock(&rtc.mtx);
	return 0;
}

static void nvram_put16(int off, uint32_t v)
{
	rtc.nvram[off] = (uint8_t)v;
	rtc.nvram[off + 1] = (uint8_t)(v >> 8);
}

int rtc_init(struct vmctx *ctx, int ncpus)
{
	uint64_t lowmem = vm_get_lowmem_size(ctx), highmem = vm_get_highmem_size(ctx);
	uint64_t ext_kb = lowmem > (1 << 20) ? (lowmem - (1 << 20)) / 1024 : 0;
	uint64_t above16 = lowmem > (16 << 20) ? (lowmem - (16 << 20)) >> 16 : 0;
	uint64_t high64k = highmem >> 16;
	bool localtime;
	struct io_range r = { .name = "rtc", .base = 0x70, .size = 4, .handler = rtc_io, .arg = NULL };

	if (get_config_bool_default("rtc.use_localtime", true, &localtime) != 0)
		return -1;
	memset(rtc.nvram, 0, sizeof(rtc.nvram));
	rtc.ctx = ctx;
	rtc.irq = false;
	rtc.last_eval = host_ns();
	rtc.localtime = localtime;
	rtc.offset = 0;
	rtc.nvram[RTC_STATUSA] = 0x26;	/* 32.768 kHz divider, 1024 Hz rate */
	rtc.nvram[RTC_STATUSB] = SB_24HR;
	/* Memory size, where firmware looks for it: base, 1M-64M, 16M-4G, above 4G. */
	nvram_put16(0x15, 640);
	nvram_put16(0x17, ext_kb > 0xffff ? 0xffff : (uint32_t)ext_kb);
	nvram_put16(0x30, ext_kb > 0xffff ? 0xffff : (uint32_t)ext_kb);
	nvram_put16(0x34, above16 > 0xffff ? 0xffff : (uint32_t)above16);
	rtc.nvram[0x5b] = (uint8_t)high64k;
	rtc.nvram[0x5c] = (uint8_t)(high64k >> 8);
	rtc.nvram[0x5d] = (uint8_t)(high64k >> 16);
	rtc.nvram[0x5f] = (uint8_t)(ncpus - 1);	/* CPU count, as QEMU's firmware reads it */
	rtc_timer_update();			/* nothing enabled: quiet */
	return register_io(IO_PORT, &r);
}
