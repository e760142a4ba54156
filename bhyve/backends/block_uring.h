/* The block backend's io_uring engine (liburing), used by block.c through
 * blockif_uring_ops (block_engine.h): requests go straight to the kernel and
 * their completions come back on the main event loop through an eventfd
 * registered with the ring. What the ring cannot do is handed back to block.c's
 * worker threads (punt). Internal to the block backend. */
#ifndef BLOCK_URING_H
#define BLOCK_URING_H

#include "backends/block_engine.h"

/* A ring for fd, to be driven through blockif_uring_ops; NULL with *err set (a
 * positive errno) when the kernel refuses one (ENOSYS, EPERM, ENOMEM ...).
 * Nothing is printed. */
void *blockif_uring_open(int fd, blockif_done_t done, void *done_arg,
    blockif_punt_t punt, void *punt_arg, int *err);
extern const struct blockif_engine_ops blockif_uring_ops;

#endif
