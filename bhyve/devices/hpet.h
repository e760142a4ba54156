#ifndef HPET_H
#define HPET_H

#include <stdbool.h>

struct vmctx;

/* The HPET at 0xFED00000; after init_pci (it shares IOAPIC pins 16-23) and
 * mevent_init (its timers are timerfds in the event loop). */
int hpet_init(struct vmctx *ctx);
/* The guest turned on legacy replacement: timer 0 drives IRQ 0 instead of the
 * PIT, timer 1 IRQ 8 instead of the RTC. */
bool hpet_legacy_replacement(void);

#endif
