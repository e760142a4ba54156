/* The 8254 PIT's counters for bin/bhyve-emu, which has no in-kernel PIT as KVM
 * has: firmware that keeps time by reading counter 0 (SeaBIOS does, on a CPU
 * without a TSC, the emulator's case) needs a count that moves, or its first
 * delay never ends. The counters count down at 1.193182 MHz from the host's
 * monotonic clock, with the latch and read-back commands and the byte access
 * modes. There are no interrupts: the emulator has no interrupt controller.
 * One vCPU calls these from its port hooks, so there is no lock. */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "emu_pit.h"

#define PIT_HZ		1193182ULL
#define PIT_MODE_PORT	0x43

struct pit_chan {
	uint16_t reload;	/* 0 stands for 65536 */
	uint8_t mode, access;	/* access: 1 low byte, 2 high byte, 3 low then high */
	bool read_hi, write_hi;	/* the next byte of a two-byte access is the high one */
	bool latched, status_latched;
	uint16_t latch;
	uint8_t status;
	uint64_t start;		/* ticks when the count was loaded */
};

static struct pit_chan chans[3] = {
	{ .access = 3, .mode = 2 }, { .access = 3, .mode = 2 }, { .access = 3, .mode = 2 },
};

static uint64_t pit_ticks(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PIT_HZ + (uint64_t)ts.tv_nsec * PIT_HZ / 1000000000ULL;
}

static uint16_t pit_count(const struct pit_chan *c)
{
	uint64_t n = c->reload != 0 ? c->reload : 65536, t = pit_ticks() - c->start;

	if (c->mode == 2 || c->mode == 3)	/* periodic: reloads at zero */
		return (uint16_t)(n - t % n);
	return (uint16_t)(n - t);		/* one-shot modes wrap on past zero */
}

static void pit_latch(struct pit_chan *c)
{
	if (!c->latched) {
		c->latch = pit_count(c);
		c->latched = true;
		c->read_hi = false;
	}
}

bool emu_pit_owns(uint16_t port, int size)
{
	return size == 1 && port >= 0x40 && port <= PIT_MODE_PORT;
}

uint8_t emu_pit_in(uint16_t port)
{
	struct pit_chan *c;
	uint16_t v;
	uint8_t b;

	if (port == PIT_MODE_PORT)
		return 0xff;		/* write-only */
	c = &chans[port - 0x40];
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	v = c->latched ? c->latch : pit_count(c);
	if (c->access == 1 || (c->access == 3 && !c->read_hi)) {
		b = (uint8_t)v;
		if (c->access == 3) {
			c->read_hi = true;
			return b;	/* a latch holds until its high byte is read */
		}
	} else {
		b = (uint8_t)(v >> 8);
		c->read_hi = false;
	}
	c->latched = false;
	return b;
}

void emu_pit_out(uint16_t port, uint8_t val)
{
	struct pit_chan *c;

	if (port != PIT_MODE_PORT) {
		c = &chans[port - 0x40];
		if (c->access == 1 || (c->access == 3 && !c->write_hi)) {
			c->reload = (uint16_t)((c->reload & 0xff00) | val);
			c->write_hi = c->access == 3;
			if (c->write_hi)
				return;		/* the count loads with its high byte */
		} else {
			c->reload = (uint16_t)((c->reload & 0x00ff) | (val << 8));
			c->write_hi = false;
		}
		c->start = pit_ticks();
		return;
	}
	if ((val >> 6) == 3) {			/* read-back: bit 5 clear latches counts, bit 4 status */
		for (int i = 0; i < 3; i++) {
			c = &chans[i];
			if (!(val & (2u << i)))
				continue;
			if (!(val & 0x20))
				pit_latch(c);
			if (!(val & 0x10) && !c->status_latched) {
				c->status = (uint8_t)((c->access << 4) | (c->mode << 1));
				c->status_latched = true;
			}
		}
		return;
	}
	c = &chans[val >> 6];
	if (((val >> 4) & 3) == 0) {		/* counter latch */
		pit_latch(c);
		return;
	}
	c->access = (val >> 4) & 3;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4;			/* 6 and 7 are 2 and 3 */
	c->latched = c->status_latched = false;
	c->read_hi = c->write_hi = false;
}
