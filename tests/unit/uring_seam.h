/* Fault injection for the block backend's io_uring engine, at link time: the
 * unit tests are linked with --wrap=io_uring_submit and
 * --wrap=io_uring_peek_batch_cqe (see the Makefile), and uring_seam.c bends
 * what goes to the kernel and what comes back. Both 0 (off) by default. */
#ifndef URING_SEAM_H
#define URING_SEAM_H

/* At most this many buffers per readv/writev submission, so that a request with
 * more completes short and is resubmitted as the kernel's own short transfers
 * are. */
extern int blockif_uring_test_max_iov;
/* Every Nth completion (N >= 2) is turned into -EAGAIN, which the engine
 * resubmits. */
extern int blockif_uring_test_eagain_every;

#endif
