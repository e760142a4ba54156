#ifndef HPET_H
#define HPET_H

struct vmctx;

/* The HPET at 0xFED00000; after init_pci (it shares IOAPIC pins 16-23) and
 * mevent_init (its timers are timerfds in the event loop). */
int hpet_init(struct vmctx *ctx);

#endif
