/* The MC146818 RTC and CMOS RAM at 0x70/0x71 (0x72/0x73 for the upper bank). The
 * clock is the host's (UTC with -u, else local time) plus the guest's own offset. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "iodispatch.h"
#include "rtc.h"
#include "vmmapi.h"

#define RTC_SEC		0x00
#define RTC_MIN		0x02
#define RTC_HRS		0x04
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
#define SB_SET		0x80
#define SB_BIN		0x04
#define SB_24HR		0x02
#define SD_VRT		0x80

static struct {
	pthread_mutex_t mtx;
	uint8_t nvram[256];
	uint8_t index[2];
	time_t offset;		/* guest time minus host time, seconds */
	bool localtime;
	struct tm set_tm;	/* fields written while SET is held */
} rtc = { .mtx = PTHREAD_MUTEX_INITIALIZER };

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
		uint8_t v = rtc.nvram[RTC_STATUSC];

		rtc.nvram[RTC_STATUSC] = 0;
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

		if (!was_set && (v & SB_SET))
			guest_now(&rtc.set_tm, &ns);
		rtc.nvram[RTC_STATUSB] = v;
		if (was_set && !(v & SB_SET))
			apply_set_tm();
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
		/* Index; bit 7 of port 0x70 is the NMI mask, not part of the index. */
		if (write)
			rtc.index[bank] = (uint8_t)*val & 0x7f;
		else
			*val = rtc.index[bank];
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
	return register_io(IO_PORT, &r);
}
