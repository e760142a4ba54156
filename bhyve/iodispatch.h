/* Port I/O and MMIO dispatch: devices register address ranges with a handler;
 * the vCPU loop (and the unit tests) send each guest access through here. */
#ifndef IODISPATCH_H
#define IODISPATCH_H

#include <stdbool.h>
#include <stdint.h>

/* addr is the port or guest-physical address; size 1, 2, 4 or 8 bytes.
 * A handler returns 0, or -1 when the access is one it refuses. */
typedef int (*io_handler_t)(void *arg, bool write, uint64_t addr, int size, uint64_t *val);

struct io_range {
	const char *name;
	uint64_t base;
	uint64_t size;
	io_handler_t handler;
	void *arg;
	/* Ports only: also take accesses that start here and run past the end.
	 * 0xCF8 is one port wide yet takes a dword, while 0xCF9 is another
	 * device's byte register. */
	bool wider;
	bool quiet;	/* an overlap is refused without a message (guest-driven moves) */
	/* Optional: called with arg once the range is unregistered and no call of
	 * its handler is running any more; at once from unregister_io when none
	 * is, else when the last running call returns (on that call's thread). */
	void (*release)(void *arg);
};

enum io_space { IO_PORT, IO_MMIO };

/* Fails (returns -1, with a message) when the range overlaps another. */
int register_io(enum io_space sp, const struct io_range *r);
/* Removes the range at base: no access is sent to it from now on. Calls of its
 * handler already running (on other threads, or the caller's own) finish; the
 * registration is freed, and release called, after the last. Never waits.
 * -1 when nothing is registered at base. */
int unregister_io(enum io_space sp, uint64_t base);

/* A static port handler, registered at start-up wherever the device is defined. */
struct inout_port {
	const char *name;
	uint16_t port;
	uint16_t size;
	io_handler_t handler;
};
#define INOUT_PORT(nm, p, sz, h) \
	static const struct inout_port __inout_##h##_##p = { nm, p, sz, h }; \
	DATA_SET(inout_port_set, __inout_##h##_##p)
void init_inout_ports(void);

/* An access must lie inside one range (but see io_range.wider). 0 when handled; 1 when nothing is there (reads return all-ones, writes are
 * dropped); -1 when a handler refused the access. */
int emulate_io(enum io_space sp, bool write, uint64_t addr, int size, uint64_t *val);

#endif
