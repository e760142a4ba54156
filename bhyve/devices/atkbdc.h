#ifndef ATKBDC_H
#define ATKBDC_H

struct vmctx;

#include <stdbool.h>
#include <stdint.h>

/* The 8042 at 0x60/0x64, its keyboard (IRQ1) and mouse (IRQ12), fed by the
 * graphical console's input (input.h) with the US layout built in, or the
 * layout options.c loaded for keyboard.layout (-K) with kbdlayout_load. */
int atkbdc_init(struct vmctx *ctx);
/* The key that types an X keysym on the layout: its set 1 and set 2 codes
 * and whether they take the E0 prefix; false when no key does. */
bool atkbdc_keysym_key(uint32_t keysym, uint8_t *set1, uint8_t *set2, bool *e0);
/* The set 1 code of an MF2 (or JIS) keyboard's key given by its set 2 code;
 * false when no key has that code. */
bool atkbdc_set1_of(uint8_t set2, bool e0, uint8_t *set1);

/* kbdlayout.c: loads layout name ("us" and "us_unix": the built-in table)
 * from BHYVE_KBDLAYOUT_DIR or KBDLAYOUT_DIR; -1 after one line on stderr
 * (no such layout, a bad line). */
int kbdlayout_load(const char *name);
/* The key the loaded layout gives keysym (set 2, E0 prefix); false when the
 * layout leaves it to the US table. */
bool kbdlayout_key(uint32_t keysym, uint8_t *set2, bool *e0);

#endif
