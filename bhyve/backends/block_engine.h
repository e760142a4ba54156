/* What the block backend (block.c) asks of an engine that runs its requests:
 * the thread pool (block.c) and io_uring (block_uring.c) both implement it.
 * block.c keeps its engines in order, io_uring first when there is a ring: a
 * request goes to the first engine that takes it; quiesce and close go to each
 * in that order. Internal to the block backend. */
#ifndef BLOCK_ENGINE_H
#define BLOCK_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/block.h"

/* Hands a request to the next engine (the worker threads); any thread. */
typedef void (*blockif_punt_t)(void *arg, struct blockif_req *br);

struct blockif_engine_ops {
	const char *name;	/* blockif_engine_name of the first engine */
	/* Starts br; false when this engine cannot run this kind of request
	 * (it then goes to the next). Any thread. */
	bool (*submit)(void *e, struct blockif_req *br);
	/* plug: requests submitted from now on wait, and go to the kernel together
	 * when the last plug is undone (false). NULL: the engine does not batch. */
	void (*plug)(void *e, bool plug);
	/* Completes the requests still waiting with ECANCELED and waits until those
	 * running are done. Completions still arrive through the done callback. */
	void (*quiesce)(void *e);
	/* Waits for what is running, drops every request, frees the engine. */
	void (*close)(void *e);
};

/* Advances an iovec array by n bytes (short transfers, in either engine). */
static inline void blockif_iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0 && n > 0) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

#endif
