/* The block backend: an image file or a block device, served by one of two
 * engines: io_uring (liburing: readv/writev/fsync/fallocate go straight to the
 * kernel) where the kernel allows it, else a small pool of worker threads that run
 * preadv/pwritev/fdatasync/fallocate. The io_uring engine hands the workers what
 * it cannot do. Either way completions come back on the main event loop (an
 * eventfd watched by mevent), never on a worker or vCPU thread, and the device
 * sees the same results. */
#ifndef BLOCK_H
#define BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct blockif;

enum blockif_op {
	BLOCKIF_READ,
	BLOCKIF_WRITE,
	BLOCKIF_FLUSH,		/* fdatasync(2): the data really reaches the disk */
	BLOCKIF_DISCARD,	/* deallocate (punch a hole); reads back zeros */
	BLOCKIF_WRITE_ZEROES,
};

/* A request, owned by the caller; the backend holds it from blockif_submit until
 * it is handed back to the done callback. */
struct blockif_req {
	enum blockif_op br_op;
	struct iovec *br_iov;		/* READ/WRITE; the backend may advance it */
	int br_iovcnt;
	uint64_t br_offset;		/* bytes */
	uint64_t br_len;		/* DISCARD/WRITE_ZEROES: bytes */
	bool br_unmap;			/* WRITE_ZEROES may deallocate */
	/* WRITE, DISCARD, WRITE_ZEROES: durable when it completes (RWF_DSYNC, or
	 * fdatasync after it), for a device whose write cache is off or a
	 * force-unit-access command. */
	bool br_fua;
	int br_error;			/* on completion: 0 or an errno (ECANCELED) */
	struct blockif_req *br_next;	/* the backend's list link */
};

enum blockif_engine {
	BLOCKIF_ENGINE_AUTO,	/* io_uring when the kernel allows it, else threads */
	BLOCKIF_ENGINE_URING,	/* io_uring or fail */
	BLOCKIF_ENGINE_THREADS,
};

struct blockif_opts {
	enum blockif_engine engine;
	bool ro;		/* O_RDONLY */
	bool nocache;		/* O_DIRECT: buffers must then be suitably aligned */
	bool sync;		/* O_DSYNC: every write is durable when it completes */
	uint32_t sectsz;	/* logical sector size; 0: 512, or the block device's */
	uint32_t psectsz;	/* physical; 0: the logical size, or the block device's */
};

/* Called on the main event loop with the completed requests, linked by br_next. */
typedef void (*blockif_done_t)(void *arg, struct blockif_req *list);

/* The sectorsize= setting, "logical[/physical]": powers of 2 from 512 to
 * 65536, physical at least logical. Sets o->sectsz and o->psectsz; -1 (nothing
 * printed) for anything else. */
int blockif_parse_sectorsize(const char *s, struct blockif_opts *o);

/* "auto", "uring" or "threads" (the engine= setting); -1 for anything else. */
int blockif_engine_parse(const char *s, enum blockif_engine *e);

/* Opens path; NULL with one line naming devname when it is missing, unreadable,
 * a directory, or not a whole number of logical sectors, or when engine is
 * URING and the kernel refuses io_uring. */
struct blockif *blockif_open(const char *devname, const char *path,
    const struct blockif_opts *o, blockif_done_t done, void *arg);
uint64_t blockif_size(const struct blockif *bc);	/* bytes */
uint32_t blockif_sectsz(const struct blockif *bc);
uint32_t blockif_psectsz(const struct blockif *bc);
/* "uring" or "threads": the engine in use. */
const char *blockif_engine_name(const struct blockif *bc);
/* Starts a request (io_uring) or queues it for a worker; any thread. */
void blockif_submit(struct blockif *bc, struct blockif_req *br);
/* Between blockif_plug and blockif_unplug the requests submitted may be held
 * back and handed to the kernel together at unplug (with io_uring, one system
 * call for the batch). Plugs nest; any thread. */
void blockif_plug(struct blockif *bc);
void blockif_unplug(struct blockif *bc);
/* Completes every queued request with ECANCELED and waits for the running ones
 * (with io_uring, every request the kernel holds; a short transfer is finished):
 * afterwards neither a worker nor the kernel touches a request's buffers.
 * Completions still arrive through the done callback. */
void blockif_quiesce(struct blockif *bc);
/* Waits for the running requests, stops the workers and closes the image;
 * requests still held are dropped. */
void blockif_close(struct blockif *bc);

#endif
