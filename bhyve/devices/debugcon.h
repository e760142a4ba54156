#ifndef DEBUGCON_H
#define DEBUGCON_H

#include <stdbool.h>
#include <stdint.h>

/* A byte access to port 0x402: true when -l debugcon took it. */
bool debugcon_byte(bool write, uint64_t *val);

#endif
