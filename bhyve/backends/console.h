/* Where a serial port's bytes go: stdio, a pty pair (bhyve's /dev/nmdmNA form),
 * or tcp=ip:port. */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct console;

/* Input is waiting: the device calls console_read until it has room or data ends. */
typedef void (*console_rx_cb_t)(void *arg);

/* NULL with one line printed when the path is unusable or already in use. */
struct console *console_open(const char *path, const char *devname,
    console_rx_cb_t cb, void *arg);
/* Reads up to n bytes; 0 when nothing is waiting. */
size_t console_read(struct console *c, uint8_t *buf, size_t n);
/* Never blocks: a byte the reader cannot take now waits in a bounded buffer
 * (64 KiB) that the main loop empties; with the buffer full, or nobody
 * connected, it is dropped and counted. Any thread. */
void console_write(struct console *c, uint8_t byte);
/* Bytes dropped so far. */
uint64_t console_dropped(struct console *c);
/* Stops/starts watching for input (the device's FIFO is full / drained). */
void console_rx_pause(struct console *c, int paused);
/* Restores terminals and removes links; called at exit. */
void console_cleanup(void);

#endif
