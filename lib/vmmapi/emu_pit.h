#ifndef EMU_PIT_H
#define EMU_PIT_H

#include <stdbool.h>
#include <stdint.h>

/* bin/bhyve-emu's 8254 counters (emu_pit.c): ports 0x40-0x43, byte access. */
bool emu_pit_owns(uint16_t port, int size);
uint8_t emu_pit_in(uint16_t port);
void emu_pit_out(uint16_t port, uint8_t val);

#endif
