#ifndef ATKBDC_H
#define ATKBDC_H

struct vmctx;

#include <stdbool.h>
#include <stdint.h>

/* The 8042 at 0x60/0x64, its keyboard (IRQ1) and mouse (IRQ12), fed by the
 * graphical console's input (input.h) with the US layout: the only one built
 * in, as options.c checks keyboard.layout (-K). */
int atkbdc_init(struct vmctx *ctx);
/* The key that types an X keysym on the US layout: its set 1 and set 2 codes
 * and whether they take the E0 prefix; false when no key does. */
bool atkbdc_keysym_key(uint32_t keysym, uint8_t *set1, uint8_t *set2, bool *e0);

#endif
