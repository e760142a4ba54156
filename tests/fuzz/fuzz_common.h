/* What the device fuzzers share: a fake VM with guest RAM (the fake vmmapi's,
 * so DMA reaches it through vm_map_gpa as in bhyve), and an op stream that
 * turns a fuzz input into a sequence of guest accesses through the VMM's own
 * entry points (emulate_io for ports, MMIO and BARs; 0xCF8/0xCFC and ECAM for
 * configuration space; or a device's handler where bhyve calls it directly).
 *
 * The op stream: up to FZ_MAX_OPS ops, each starting with one byte
 *   bits 0-2  the kind: 0, 5 read; 1, 6, 7 write; 2 guest RAM fill;
 *             3 run the event loop; 4 the target's own op (its hook)
 *   bits 3-4  access size: 1, 2, 4 or 8 bytes (read and write)
 *   bits 5-7  the region (modulo the target's region count)
 * (port accesses: 8 bytes become 4, as no in/out moves more)
 * then, for a read or write, the offset in the region (2 bytes little-endian,
 * 4 when the region is larger than 64 KiB; modulo its size) and, for a write,
 * the value (size bytes, little-endian). A RAM fill is a 2-byte address in
 * 16-byte units (modulo the RAM), a length byte and that many bytes. The event
 * loop op runs mevent_poll(0) once plus (bits 3-5) times, sleeping
 * fz_poll_sleep_us between rounds where a target has device threads (block
 * workers) to wait for.
 * A missing byte reads as 0: a short input is still a valid stream. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iodispatch.h"

struct pci_devinst;
struct vmctx;

#define FZ_RAM_SIZE	(256 * 1024)
#define FZ_MAX_OPS	4096
#define FZ_MAX_REGIONS	8

enum fz_kind {
	FZ_PORT,	/* emulate_io(IO_PORT, base + off) */
	FZ_MMIO,	/* emulate_io(IO_MMIO, base + off) */
	FZ_BAR,		/* emulate_io at BAR bar of pi, wherever the guest put it now */
	FZ_CFG,		/* pi's configuration space: 0xCF8/0xCFC below 256, ECAM above */
	FZ_CALL,	/* call(off): a handler bhyve calls without the dispatch */
};

struct fz_region {
	enum fz_kind kind;
	uint64_t base, size;
	struct pci_devinst *pi;
	int bar;
	int (*call)(bool write, uint64_t off, int size, uint64_t *val);
};

/* The unread rest of the input. */
struct fz_input {
	const uint8_t *p;
	size_t n;
};

struct fz_target {
	/* Once, before the first input: make the devices, add the regions. */
	void (*setup)(void);
	/* Before each input (optional): a fresh driver state. */
	void (*reset)(void);
	/* Op kind 4 (optional): the target's own action, reading its operands from in. */
	void (*hook)(struct fz_input *in, uint8_t op);
	/* After each input (optional): quiesce (nothing in flight may touch RAM). */
	void (*finish)(void);
	/* The device writes guest RAM (DMA): all of it is cleared before each
	 * input, not only what the input's fills wrote. */
	bool dma;
};

extern uint8_t *fz_ram;
extern struct vmctx *fz_ctx;

/* The fake VM (FZ_RAM_SIZE of RAM, zero at the start of each input), the event loop
 * and the static ports. */
void fz_vm(void);
/* pci_parse_slot for each spec, then init_pci; aborts when either refuses. */
void fz_pci(const char *const *specs, size_t n);
/* Adds a region; aborts past FZ_MAX_REGIONS. */
void fz_add(struct fz_region r);
void fz_add_port(uint64_t base, uint64_t size);
void fz_add_mmio(uint64_t base, uint64_t size);
void fz_add_bars(struct pci_devinst *pi);	/* every BAR pi has */
void fz_add_cfg(struct pci_devinst *pi);
/* Drops the regions (a target whose regions depend on the input). */
void fz_clear_regions(void);

/* Keeps pi's command register, BARs and MSI/MSI-X controls as set-up left them;
 * fz_pci_restore writes them back through configuration space (a guest may have
 * moved BARs, turned decoding off or masked everything), so that each input
 * starts from the same device. */
void fz_pci_save(struct pci_devinst *pi);
void fz_pci_restore(void);
/* Resets a virtio function through its device status (waiting for requests in
 * flight, as the transport does), then runs the event loop dry. */
void fz_virtio_reset(struct pci_devinst *pi);

/* Moves the process into a network namespace of its own with the loopback up
 * (so the tap and slirp targets reach no host network or service), and makes
 * virtio-net at slot 5 with backend be: its BARs and configuration space are
 * the regions. Aborts with a message when the namespace cannot be made. */
struct pci_devinst *fz_net_setup(const char *be);
void fz_link_up(const char *ifname);

uint64_t fz_take(struct fz_input *in, int bytes);
size_t fz_take_buf(struct fz_input *in, void *to, size_t max);
/* mevent_poll(0) rounds times, with fz_poll_sleep_us (0 unless a target sets it)
 * between them. */
extern int fz_poll_sleep_us;
void fz_poll(int rounds);
/* Until every other thread of the process is asleep (state S in
 * /proc/self/task: blocked, with no wake-up pending), or max_ms have passed:
 * for targets whose devices and backends have threads of their own (a
 * transmit thread, libslirp's), so that what the input started has run.
 * Returns at once when the input has written nothing since they were last all
 * found asleep. */
void fz_wait_idle(int max_ms);
/* A temporary file of len zero bytes: the caller unlinks it once the device
 * holds it open. */
char *fz_temp_file(size_t len);

/* The whole of LLVMFuzzerTestOneInput for an op-stream target. */
int fz_run(const struct fz_target *t, const uint8_t *data, size_t size);

/* A port access as a vCPU makes one: in/out move 1, 2 or 4 bytes, so the op
 * stream's 8-byte size becomes 4 (8 is for MMIO only). */
int fz_port_io(bool write, uint64_t port, int size, uint64_t *val);

/* One access, as the op stream does it (also for targets' own set-up). */
int fz_access(const struct fz_region *r, bool write, uint64_t off, int size, uint64_t *val);

#endif
