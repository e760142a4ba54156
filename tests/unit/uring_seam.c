/* See uring_seam.h. */
#include "uring_seam.h"

#include <errno.h>
#include <liburing.h>

int blockif_uring_test_max_iov;
int blockif_uring_test_eagain_every;

int __real_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring);
unsigned __real_io_uring_peek_batch_cqe(struct io_uring *ring, struct io_uring_cqe **cqes,
    unsigned count);
unsigned __wrap_io_uring_peek_batch_cqe(struct io_uring *ring, struct io_uring_cqe **cqes,
    unsigned count);

/* The SQEs filled since the last submission are sqe_head .. sqe_tail. */
int __wrap_io_uring_submit(struct io_uring *ring)
{
	struct io_uring_sq *sq = &ring->sq;
	unsigned max = (unsigned)blockif_uring_test_max_iov;

	if (blockif_uring_test_max_iov > 0) {
		for (unsigned i = sq->sqe_head; i != sq->sqe_tail; i++) {
			struct io_uring_sqe *sqe = &sq->sqes[i & sq->ring_mask];

			if ((sqe->opcode == IORING_OP_READV || sqe->opcode == IORING_OP_WRITEV) &&
			    sqe->len > max)
				sqe->len = max;
		}
	}
	return __real_io_uring_submit(ring);
}

unsigned __wrap_io_uring_peek_batch_cqe(struct io_uring *ring, struct io_uring_cqe **cqes,
    unsigned count)
{
	static unsigned ncompleted;
	unsigned n = __real_io_uring_peek_batch_cqe(ring, cqes, count);

	for (unsigned i = 0; i < n; i++)
		if (blockif_uring_test_eagain_every > 1 &&
		    ++ncompleted % (unsigned)blockif_uring_test_eagain_every == 0)
			cqes[i]->res = -EAGAIN;
	return n;
}
