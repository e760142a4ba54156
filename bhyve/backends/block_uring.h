/* The block backend's io_uring engine (liburing), used by block.c: requests go
 * straight to the kernel and their completions come back on the main event loop
 * through an eventfd registered with the ring. What the ring cannot do is handed
 * back to block.c's worker threads. Internal to the block backend. */
#ifndef BLOCK_URING_H
#define BLOCK_URING_H

#include <stdbool.h>

#include "backends/block.h"

struct blockif_uring;

/* Hands a request to the worker threads (the ring cannot run it); any thread. */
typedef void (*blockif_punt_t)(void *arg, struct blockif_req *br);

/* A ring for fd; NULL with *err set (a positive errno) when the kernel refuses
 * one (ENOSYS, EPERM, ENOMEM ...). Nothing is printed. */
struct blockif_uring *blockif_uring_open(int fd, blockif_done_t done, void *done_arg,
    blockif_punt_t punt, void *punt_arg, int *err);
/* Starts br; false when the ring cannot run this kind of request (the caller
 * then uses the worker threads). Any thread. */
bool blockif_uring_submit(struct blockif_uring *u, struct blockif_req *br);
/* plug: requests submitted from now on wait in the ring, and go to the kernel
 * together when the last plug is undone (false). */
void blockif_uring_plug(struct blockif_uring *u, bool plug);
/* Completes the requests still waiting for room with ECANCELED and waits until
 * the kernel is done with every request it holds (short transfers are finished
 * first). Completions still arrive through the done callback. */
void blockif_uring_quiesce(struct blockif_uring *u);
/* Waits for what the kernel holds, drops every request, frees the ring. */
void blockif_uring_close(struct blockif_uring *u);

/* Advances an iovec array by n bytes (shared with the worker threads). */
void blockif_iov_advance(struct iovec **iov, int *cnt, size_t n);

/* Test hooks, 0 in normal use. max_iov: at most this many buffers per
 * submission, so a request with more completes short and is resubmitted as the
 * kernel's own short transfers are. eagain_every: every Nth completion of a ring
 * (N >= 2) is taken as -EAGAIN and resubmitted. */
extern int blockif_uring_test_max_iov;
extern int blockif_uring_test_eagain_every;

#endif
