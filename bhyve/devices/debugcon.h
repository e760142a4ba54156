#ifndef DEBUGCON_H
#define DEBUGCON_H

#include <stdbool.h>
#include <stdint.h>

/* The file's size limit unless lpc.debugcon.maxsize says otherwise. */
#define DEBUGCON_MAXSIZE	(64ULL << 20)

/* A byte access to port 0x402: true when -l debugcon took it. */
bool debugcon_byte(bool write, uint64_t *val);
/* Opens (creates, truncates) the file the port writes to, which grows to
 * maxsize bytes at most; -1 with errno. */
int debugcon_open(const char *path, uint64_t maxsize);
/* Bytes dropped: past the limit, or refused by the file. */
uint64_t debugcon_dropped(void);

#endif
