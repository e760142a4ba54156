/* The HPET at 0xFED00000 (IA-PC HPET 1.0a): a 64-bit main counter at 2^24 Hz
 * and three timers. KVM has none, so it lives here: the counter is read from
 * the host's monotonic clock, and each armed timer is a timerfd in the event
 * loop. Interrupts go to IOAPIC pins 16-23, to IRQ0/IRQ8 in legacy
 * replacement mode, or out as an MSI (FSB delivery). */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "hpet.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"
#include "util.h"
#include "vmmapi.h"

#define HPET_BASE	0xFED00000ULL
#define HPET_SIZE	0x400
#define HPET_FREQ	(1ULL << 24)
#define HPET_PERIOD_FS	(1000000000000000ULL / HPET_FREQ)
#define NTIMERS		3
/* A periodic timer fires at most every HPET_MIN_PERIOD_US: a shorter period
 * (down to 1 tick, 60 ns) would keep the event loop busy on a host CPU. The
 * comparator stays on the guest's period grid; the periods inside the floor
 * are skipped, as edges that came too fast would merge anyway. */
#define HPET_MIN_PERIOD_US	100
#define HPET_MIN_PERIOD		(HPET_FREQ * HPET_MIN_PERIOD_US / 1000000)

#define GCAP_ID		0x000
#define GEN_CONF	0x010
#define GINTR_STA	0x020
#define MAIN_CNT	0x0f0
#define TIMER_BASE	0x100
#define TIMER_STRIDE	0x20
#define CONF_ENABLE	0x1
#define CONF_LEGACY	0x2
#define TN_LEVEL	(1ULL << 1)
#define TN_INT_ENB	(1ULL << 2)
#define TN_PERIODIC	(1ULL << 3)
#define TN_PER_CAP	(1ULL << 4)
#define TN_SIZE_CAP	(1ULL << 5)
#define TN_VAL_SET	(1ULL << 6)
#define TN_32BIT	(1ULL << 8)
#define TN_ROUTE_SHIFT	9
#define TN_ROUTE_MASK	(0x1fULL << TN_ROUTE_SHIFT)
#define TN_FSB_EN	(1ULL << 14)
#define TN_FSB_CAP	(1ULL << 15)
#define TN_ROUTE_CAP	(0x00ff0000ULL << 32)	/* IOAPIC pins 16-23 */
#define TN_WRITABLE	(TN_LEVEL | TN_INT_ENB | TN_PERIODIC | TN_32BIT | TN_ROUTE_MASK | TN_FSB_EN)

struct hpet_timer {
	uint64_t config;
	uint64_t comparator;
	uint64_t period;	/* periodic mode: the step added at each expiry */
	uint64_t fsb;		/* FSB route: message (low) and address (high) */
	int tfd;
	struct mevent *ev;
	int line;		/* the pin or IRQ currently raised, or -1 */
};

static struct {
	pthread_mutex_t mtx;
	struct vmctx *ctx;
	uint64_t config;
	uint64_t isr;
	uint64_t count_base;	/* counter value at t_base, or while stopped */
	struct timespec t_base;
	struct hpet_timer t[NTIMERS];
} hpet = { .mtx = PTHREAD_MUTEX_INITIALIZER };
/* The RTC asks without the HPET's lock: config is stored atomically for it. */
bool hpet_legacy_replacement(void)
{
	return __atomic_load_n(&hpet.config, __ATOMIC_RELAXED) & CONF_LEGACY;
}

static uint64_t ns_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t0->tv_sec) * 1000000000ULL + (uint64_t)now.tv_nsec -
	    (uint64_t)t0->tv_nsec;
}

static uint64_t counter(void)
{
	uint64_t ns;

	if (!(hpet.config & CONF_ENABLE))
		return hpet.count_base;
	ns = ns_since(&hpet.t_base);
	/* ns * 2^24 / 10^9 without overflow for any realistic uptime. */
	return hpet.count_base + (ns / 1000000000ULL) * HPET_FREQ +
	    (ns % 1000000000ULL) * HPET_FREQ / 1000000000ULL;
}

static int timer_pin(int n)
{
	if (hpet.config & CONF_LEGACY) {
		if (n == 0)
			return 0;	/* IRQ0, IOAPIC pin 2 */
		if (n == 1)
			return 8;
	}
	return (int)((hpet.t[n].config & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT);
}

static void line_set(int pin, bool level)
{
	if (pin < 16)
		vm_isa_irq_set(hpet.ctx, pin, level);
	else if (level)
		ioapic_pin_assert(pin);
	else
		ioapic_pin_deassert(pin);
}

static void timer_lower(int n)
{
	if (hpet.t[n].line >= 0)
		line_set(hpet.t[n].line, false);
	hpet.t[n].line = -1;
}

static void timer_interrupt(int n)
{
	struct hpet_timer *t = &hpet.t[n];
	int pin;

	if (!(t->config & TN_INT_ENB))
		return;
	if (t->config & TN_FSB_EN) {
		vm_lapic_msi(hpet.ctx, t->fsb >> 32, (uint32_t)t->fsb);
		return;
	}
	pin = timer_pin(n);
	if (!(hpet.config & CONF_LEGACY) && (pin < 16 || pin > 23))
		return;	/* not a route the capability offers */
	if (t->config & TN_LEVEL) {
		hpet.isr |= 1ULL << n;
		if (t->line < 0) {
			t->line = pin;
			line_set(pin, true);
		}
	} else {
		line_set(pin, true);
		line_set(pin, false);
	}
}

/* Arms the timerfd for the next comparator match, or disarms it. */
static void timer_arm(int n)
{
	struct hpet_timer *t = &hpet.t[n];
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	uint64_t now, delta, ns;

	if ((hpet.config & CONF_ENABLE) && (t->config & TN_INT_ENB)) {
		now = counter();
		delta = t->comparator - now;
		if (t->config & TN_32BIT)
			delta = (uint32_t)delta;
		if (delta == 0 || delta > (1ULL << 62))
			delta = 1;	/* already due */
		ns = (delta / HPET_FREQ) * 1000000000ULL + (delta % HPET_FREQ) * 1000000000ULL / HPET_FREQ;
		if (ns == 0)
			ns = 1;
		its.it_value.tv_sec = (time_t)(ns / 1000000000ULL);
		its.it_value.tv_nsec = (long)(ns % 1000000000ULL);
	}
	timerfd_settime(t->tfd, 0, &its, NULL);
}

static void timer_expired(int fd, void *arg)
{
	int n = (int)(intptr_t)arg;
	struct hpet_timer *t = &hpet.t[n];
	uint64_t ticks;

	if (read(fd, &ticks, sizeof(ticks)) < 0)
		return;
	pthread_mutex_lock(&hpet.mtx);
	if ((hpet.config & CONF_ENABLE) && (t->config & TN_INT_ENB)) {
		uint64_t now = counter();
		uint64_t behind = now - t->comparator;

		if (t->config & TN_32BIT)
			behind = (uint32_t)behind;
		if (behind < (1ULL << 62)) {	/* the counter has reached the comparator */
			timer_interrupt(n);
			if ((t->config & TN_PERIODIC) && t->period != 0) {
				/* Skip the periods that passed, as a real HPET would have fired
				 * them, and below the floor those inside it. */
				uint64_t skip = behind + (t->period < HPET_MIN_PERIOD ? HPET_MIN_PERIOD : 0);

				t->comparator += (skip / t->period + 1) * t->period;
				if (t->config & TN_32BIT)
					t->comparator = (uint32_t)t->comparator;
				timer_arm(n);
			}
		} else {
			timer_arm(n);	/* woke early */
		}
	}
	pthread_mutex_unlock(&hpet.mtx);
}

static uint64_t merge(uint64_t old, uint64_t val, int off, int size)
{
	int shift = (off & 7) * 8;
	uint64_t mask = (size == 8 ? ~0ULL : ((1ULL << (size * 8)) - 1)) << shift;

	return (old & ~mask) | ((val << shift) & mask);
}

static uint64_t timer_read(int n, int reg)
{
	struct hpet_timer *t = &hpet.t[n];

	switch (reg) {
	case 0x00: return t->config | TN_PER_CAP | TN_SIZE_CAP | TN_FSB_CAP | TN_ROUTE_CAP;
	case 0x08: return (t->config & TN_32BIT) ? (uint32_t)t->comparator : t->comparator;
	case 0x10: return t->fsb;
	default: return 0;
	}
}

static void timer_write(int n, int reg, uint64_t val, int off, int size)
{
	struct hpet_timer *t = &hpet.t[n];

	switch (reg) {
	case 0x00: {
		uint64_t old = t->config;

		t->config = merge(t->config, val, off, size) & (TN_WRITABLE | TN_VAL_SET);
		if (!(t->config & TN_LEVEL) || !(t->config & TN_INT_ENB) ||
		    ((old ^ t->config) & (TN_ROUTE_MASK | TN_FSB_EN))) {
			hpet.isr &= ~(1ULL << n);
			timer_lower(n);
		}
		break;
	}
	case 0x08: {
		uint64_t cmp = merge(t->comparator, val, off, size);

		if (t->config & TN_32BIT)
			cmp = (uint32_t)cmp;
		/* In periodic mode a write sets the period, unless VAL_SET asks to
		 * set the accumulator (the next match) too. */
		if ((t->config & TN_PERIODIC) && !(t->config & TN_VAL_SET)) {
			t->period = cmp;
			t->comparator = counter() + cmp;
		} else {
			t->comparator = cmp;
			if (t->config & TN_PERIODIC)
				t->period = cmp;
		}
		if (t->config & TN_32BIT)
			t->comparator = (uint32_t)t->comparator;
		t->config &= ~TN_VAL_SET;
		break;
	}
	case 0x10:
		t->fsb = merge(t->fsb, val, off, size);
		break;
	default:
		return;
	}
	timer_arm(n);
}

static int hpet_mmio(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	int off = (int)(addr - HPET_BASE), reg = off & ~7;

	(void)arg;
	if ((size != 4 && size != 8) || (off & (size - 1)))
		return -1;
	pthread_mutex_lock(&hpet.mtx);
	if (!write) {
		uint64_t v = 0;

		if (reg == GCAP_ID)
			v = HPET_PERIOD_FS << 32 | 0x8086ULL << 16 | 1ULL << 15 | 1ULL << 13 |
			    (uint64_t)(NTIMERS - 1) << 8 | 0x01;
		else if (reg == GEN_CONF)
			v = hpet.config;
		else if (reg == GINTR_STA)
			v = hpet.isr;
		else if (reg == MAIN_CNT)
			v = counter();
		else if (reg >= TIMER_BASE && reg < TIMER_BASE + NTIMERS * TIMER_STRIDE)
			v = timer_read((reg - TIMER_BASE) / TIMER_STRIDE, (reg - TIMER_BASE) % TIMER_STRIDE);
		*val = size == 8 ? v : (uint32_t)(v >> ((off & 4) * 8));
	} else if (reg == GEN_CONF) {
		uint64_t old = hpet.config, now = counter();

		__atomic_store_n(&hpet.config, merge(hpet.config, *val, off, size) &
		    (CONF_ENABLE | CONF_LEGACY), __ATOMIC_RELAXED);
		if ((old ^ hpet.config) & CONF_ENABLE) {
			/* Start or stop the counter where it stands. */
			hpet.count_base = now;
			clock_gettime(CLOCK_MONOTONIC, &hpet.t_base);
		}
		for (int n = 0; n < NTIMERS; n++) {
			if ((old ^ hpet.config) & CONF_LEGACY)
				timer_lower(n);
			timer_arm(n);
		}
		/* Legacy replacement takes IRQ 0 from the PIT (and IRQ 8 from the RTC). */
		if ((old ^ hpet.config) & CONF_LEGACY)
			(void)vm_pit_hpet_legacy(hpet.ctx, hpet.config & CONF_LEGACY);
	} else if (reg == GINTR_STA) {
		uint64_t clr = merge(0, *val, off, size);

		for (int n = 0; n < NTIMERS; n++) {
			if (clr & hpet.isr & (1ULL << n)) {
				hpet.isr &= ~(1ULL << n);
				timer_lower(n);
			}
		}
	} else if (reg == MAIN_CNT) {
		if (!(hpet.config & CONF_ENABLE))	/* writable only while halted */
			hpet.count_base = merge(hpet.count_base, *val, off, size);
	} else if (reg >= TIMER_BASE && reg < TIMER_BASE + NTIMERS * TIMER_STRIDE) {
		timer_write((reg - TIMER_BASE) / TIMER_STRIDE, (reg - TIMER_BASE) % TIMER_STRIDE,
		    *val, off, size);
	}
	pthread_mutex_unlock(&hpet.mtx);
	return 0;
}

int hpet_init(struct vmctx *ctx)
{
	struct io_range r = { .name = "hpet", .base = HPET_BASE, .size = HPET_SIZE,
	    .handler = hpet_mmio, .arg = NULL };

	hpet.ctx = ctx;
	for (int n = 0; n < NTIMERS; n++) {
		struct hpet_timer *t = &hpet.t[n];

		memset(t, 0, sizeof(*t));
		t->line = -1;
		t->comparator = ~0ULL;
		t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (t->tfd < 0 || (t->ev = mevent_add(t->tfd, timer_expired, (void *)(intptr_t)n)) == NULL) {
			warn("hpet: timer");
			return -1;
		}
	}
	return register_io(IO_MMIO, &r);
}
