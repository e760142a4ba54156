/* The block backend's io_uring engine. Submitters (vCPU threads, the main loop
 * when it resubmits) and reapers (the main loop, a quiescing thread) share the
 * ring under one mutex. The kernel signals an eventfd, registered with the ring,
 * when it posts a completion; the main loop reaps the completion queue, finishes
 * short transfers and retries -EAGAIN, and hands the finished requests to the
 * device, oldest first. At most URING_DEPTH requests are in the kernel; the
 * rest wait in order for room (block.c holds at most BLOCKIF_MAXREQ in all). */
#include "backends/block_uring.h"

#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mevent.h"
#include "util.h"

#define URING_DEPTH	256	/* a whole virtqueue in flight */
#define URING_RETRIES	10000	/* io_uring_enter -EAGAIN/-EBUSY before giving up for now */

struct blockif_uring {
	struct io_uring ur_ring;
	int ur_fd;			/* index 0 when ur_fixed, else the image's fd */
	bool ur_fixed;			/* the image is a registered file */
	bool ur_fallocate;		/* the kernel has IORING_OP_FALLOCATE */
	int ur_efd;
	struct mevent *ur_mev;
	blockif_done_t ur_done;
	void *ur_done_arg;
	blockif_punt_t ur_punt;
	void *ur_punt_arg;
	pthread_mutex_t ur_mtx;		/* everything below, and the ring */
	unsigned ur_inflight;		/* requests the kernel holds */
	bool ur_closing;		/* completions are final: no resubmission */
	bool ur_warned;
	int ur_plugged;			/* uring_plug nesting */
	struct blockif_req *ur_wait, **ur_wait_tail;	/* waiting for room */
	struct blockif_req *ur_doneq, **ur_doneq_tail;	/* for the main loop */
};

static size_t iov_bytes(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* Fills one SQE for br; false when the submission queue is full. */
static bool uring_prep(struct blockif_uring *u, struct blockif_req *br)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ur_ring);
	int nr = br->br_iovcnt > IOV_MAX ? IOV_MAX : br->br_iovcnt;
	int mode;

	if (sqe == NULL)
		return false;
	switch (br->br_op) {
	case BLOCKIF_READ:
		io_uring_prep_readv(sqe, u->ur_fd, br->br_iov, (unsigned)nr, br->br_offset);
		break;
	case BLOCKIF_WRITE:
		io_uring_prep_writev(sqe, u->ur_fd, br->br_iov, (unsigned)nr, br->br_offset);
		if (br->br_fua)
			sqe->rw_flags = RWF_DSYNC;
		break;
	case BLOCKIF_FLUSH:
		io_uring_prep_fsync(sqe, u->ur_fd, IORING_FSYNC_DATASYNC);
		break;
	case BLOCKIF_DISCARD:
	case BLOCKIF_WRITE_ZEROES:
		mode = br->br_op == BLOCKIF_DISCARD || br->br_unmap ? FALLOC_FL_PUNCH_HOLE :
		    FALLOC_FL_ZERO_RANGE;
		io_uring_prep_fallocate(sqe, u->ur_fd, mode | FALLOC_FL_KEEP_SIZE,
		    (off_t)br->br_offset, (off_t)br->br_len);
		break;
	}
	if (u->ur_fixed)
		io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	io_uring_sqe_set_data(sqe, br);
	u->ur_inflight++;
	return true;
}

/* Starts br now, or queues it until a request in the kernel completes. */
static void uring_start(struct blockif_uring *u, struct blockif_req *br)
{
	if (u->ur_wait == NULL && u->ur_inflight < URING_DEPTH && uring_prep(u, br))
		return;
	br->br_next = NULL;
	*u->ur_wait_tail = br;
	u->ur_wait_tail = &br->br_next;
}

/* Hands what uring_prep filled to the kernel. The SQEs stay in the ring when the
 * kernel is short of memory, and go with the next submission. */
static void uring_flush(struct blockif_uring *u)
{
	for (int i = 0; io_uring_sq_ready(&u->ur_ring) > 0 && i < URING_RETRIES; i++) {
		int r = io_uring_submit(&u->ur_ring);

		if (r >= 0 || (r != -EINTR && r != -EAGAIN && r != -EBUSY)) {
			if (r < 0 && !u->ur_warned) {
				u->ur_warned = true;
				warnx("block: io_uring_submit: %s", strerror(-r));
			}
			return;
		}
		sched_yield();
	}
}

static void uring_finish(struct blockif_uring *u, struct blockif_req *br, int error)
{
	br->br_error = error;
	br->br_next = NULL;
	*u->ur_doneq_tail = br;
	u->ur_doneq_tail = &br->br_next;
}

/* One completion: finished, resubmitted (the rest of a short transfer, -EAGAIN),
 * or handed to the workers (a write-zeroes the file system cannot fallocate, a
 * durable write it cannot do with RWF_DSYNC). */
static void uring_complete(struct blockif_uring *u, struct blockif_req *br, int res)
{
	if ((res == -EAGAIN || res == -EINTR) && !u->ur_closing) {
		uring_start(u, br);
		return;
	}
	if (res < 0) {
		if (br->br_op == BLOCKIF_WRITE_ZEROES && !u->ur_closing &&
		    (res == -EOPNOTSUPP || res == -ENOSYS || res == -EINVAL)) {
			u->ur_punt(u->ur_punt_arg, br);	/* it writes zeros instead */
			return;
		}
		if (br->br_op == BLOCKIF_WRITE && br->br_fua && !u->ur_closing &&
		    res == -EOPNOTSUPP) {
			u->ur_punt(u->ur_punt_arg, br);	/* it writes, then syncs */
			return;
		}
		uring_finish(u, br, -res);
		return;
	}
	if (br->br_op == BLOCKIF_READ || br->br_op == BLOCKIF_WRITE) {
		size_t left = iov_bytes(br->br_iov, br->br_iovcnt);

		if ((size_t)res < left) {
			if (res == 0 || u->ur_closing) {
				uring_finish(u, br, EIO);	/* the image shrank under us */
				return;
			}
			blockif_iov_advance(&br->br_iov, &br->br_iovcnt, (size_t)res);
			br->br_offset += (uint64_t)res;
			uring_start(u, br);
			return;
		}
	}
	uring_finish(u, br, 0);
}

/* Takes every posted completion and refills the ring; ur_mtx held. */
static void uring_reap(struct blockif_uring *u)
{
	struct io_uring_cqe *cqe;

	/* One at a time through io_uring_peek_batch_cqe, a library function (not an
	 * inline) that the unit tests can wrap (tests/unit/uring_seam.c). */
	while (io_uring_peek_batch_cqe(&u->ur_ring, &cqe, 1) == 1) {
		struct blockif_req *br = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&u->ur_ring, cqe);
		u->ur_inflight--;
		uring_complete(u, br, res);
	}
	while (u->ur_wait != NULL && u->ur_inflight < URING_DEPTH) {
		struct blockif_req *br = u->ur_wait;

		if (!uring_prep(u, br))
			break;
		u->ur_wait = br->br_next;
		if (u->ur_wait == NULL)
			u->ur_wait_tail = &u->ur_wait;
	}
	uring_flush(u);
}

/* The main loop's side. */
static void uring_drain(int fd, void *arg)
{
	struct blockif_uring *u = arg;
	struct blockif_req *list;
	uint64_t cnt;

	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&u->ur_mtx);
	uring_reap(u);
	list = u->ur_doneq;
	u->ur_doneq = NULL;
	u->ur_doneq_tail = &u->ur_doneq;
	pthread_mutex_unlock(&u->ur_mtx);
	if (list != NULL)
		u->ur_done(u->ur_done_arg, list);
}

static bool uring_submit(void *e, struct blockif_req *br)
{
	struct blockif_uring *u = e;

	switch (br->br_op) {
	case BLOCKIF_READ:
	case BLOCKIF_WRITE:
		if (iov_bytes(br->br_iov, br->br_iovcnt) == 0)
			return false;	/* nothing for the kernel to do */
		break;
	case BLOCKIF_FLUSH:
		break;
	case BLOCKIF_DISCARD:
	case BLOCKIF_WRITE_ZEROES:
		/* Durable ones go to the workers, which sync after them. */
		if (!u->ur_fallocate || br->br_fua)
			return false;
		break;
	default:
		return false;
	}
	br->br_next = NULL;
	br->br_error = 0;
	pthread_mutex_lock(&u->ur_mtx);
	uring_start(u, br);
	if (u->ur_plugged == 0)
		uring_flush(u);
	pthread_mutex_unlock(&u->ur_mtx);
	return true;
}

static void uring_plug(void *e, bool plug)
{
	struct blockif_uring *u = e;

	pthread_mutex_lock(&u->ur_mtx);
	if (plug)
		u->ur_plugged++;
	else if (u->ur_plugged > 0 && --u->ur_plugged == 0)
		uring_flush(u);
	pthread_mutex_unlock(&u->ur_mtx);
}

/* Reaps until the kernel holds nothing; ur_mtx held. The completions that arrive
 * here were signalled on the eventfd when posted, so the main loop still comes
 * for them. */
static void uring_wait_idle(struct blockif_uring *u)
{
	uring_reap(u);
	while (u->ur_inflight > 0) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&u->ur_ring, &cqe);

		if (r < 0 && r != -EINTR && r != -EAGAIN) {
			warnx("block: io_uring_wait_cqe: %s", strerror(-r));
			break;
		}
		uring_reap(u);
	}
}

static void uring_quiesce(void *e)
{
	struct blockif_uring *u = e;
	uint64_t one = 1;
	bool canceled;

	pthread_mutex_lock(&u->ur_mtx);
	canceled = u->ur_wait != NULL;
	while (u->ur_wait != NULL) {
		struct blockif_req *br = u->ur_wait;

		u->ur_wait = br->br_next;
		uring_finish(u, br, ECANCELED);
	}
	u->ur_wait_tail = &u->ur_wait;
	uring_wait_idle(u);
	/* Resubmissions while waiting could have queued again; cancel those too. */
	while (u->ur_wait != NULL) {
		struct blockif_req *br = u->ur_wait;

		u->ur_wait = br->br_next;
		uring_finish(u, br, ECANCELED);
		canceled = true;
	}
	u->ur_wait_tail = &u->ur_wait;
	pthread_mutex_unlock(&u->ur_mtx);
	/* Canceled requests were never posted by the kernel: wake the main loop. */
	if (canceled && write(u->ur_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		warn("block: eventfd");
}

static void uring_close(void *e)
{
	struct blockif_uring *u = e;

	pthread_mutex_lock(&u->ur_mtx);
	u->ur_closing = true;
	u->ur_wait = NULL;
	u->ur_wait_tail = &u->ur_wait;
	uring_wait_idle(u);
	u->ur_doneq = NULL;		/* dropped, as the header says */
	pthread_mutex_unlock(&u->ur_mtx);
	if (u->ur_mev != NULL)
		mevent_delete(u->ur_mev);
	io_uring_queue_exit(&u->ur_ring);
	if (u->ur_efd >= 0)
		close(u->ur_efd);
	pthread_mutex_destroy(&u->ur_mtx);
	free(u);
}

/*
 * What runs through a ring escapes seccomp: the kernel's io_uring workers open,
 * connect, send... for whoever submits. So the ring takes only the operations
 * this engine submits (vectored read and write, fsync, fallocate, only on the
 * registered disk file when it could be registered) and no registration once
 * enabled (docs/security.md);
 * a kernel without restrictions (before 5.10) leaves the disk to the threads.
 */
static int uring_restrict(struct blockif_uring *u)
{
	struct io_uring_restriction res[6];
	unsigned n = 0;
	int r;

	memset(res, 0, sizeof(res));
	res[n].opcode = IORING_RESTRICTION_SQE_OP;
	res[n++].sqe_op = IORING_OP_READV;
	res[n].opcode = IORING_RESTRICTION_SQE_OP;
	res[n++].sqe_op = IORING_OP_WRITEV;
	res[n].opcode = IORING_RESTRICTION_SQE_OP;
	res[n++].sqe_op = IORING_OP_FSYNC;
	res[n].opcode = IORING_RESTRICTION_SQE_OP;
	res[n++].sqe_op = IORING_OP_FALLOCATE;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = u->ur_fixed ? IOSQE_FIXED_FILE : 0;
	/* With the disk registered, the ring reaches that file and no other. */
	if (u->ur_fixed) {
		res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
		res[n++].sqe_flags = IOSQE_FIXED_FILE;
	}
	/* Debian's liburing exports no helper for these two: the plain call. */
	r = io_uring_register((unsigned)u->ur_ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
	return r < 0 ? r : io_uring_register((unsigned)u->ur_ring.ring_fd,
	    IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

void *blockif_uring_open(int fd, blockif_done_t done, void *done_arg,
    blockif_punt_t punt, void *punt_arg, int *err)
{
	struct blockif_uring *u = xcalloc(1, sizeof(*u));
	struct io_uring_probe *probe;
	int r;

	u->ur_fd = fd;
	u->ur_done = done;
	u->ur_done_arg = done_arg;
	u->ur_punt = punt;
	u->ur_punt_arg = punt_arg;
	u->ur_wait_tail = &u->ur_wait;
	u->ur_doneq_tail = &u->ur_doneq;
	u->ur_efd = -1;
	/* Made disabled, to take its restrictions before its first request. */
	r = io_uring_queue_init(URING_DEPTH, &u->ur_ring, IORING_SETUP_R_DISABLED);
	if (r < 0) {
		*err = -r;
		free(u);
		return NULL;
	}
	pthread_mutex_init(&u->ur_mtx, NULL);
	probe = io_uring_get_probe_ring(&u->ur_ring);
	if (probe != NULL) {
		bool rw = io_uring_opcode_supported(probe, IORING_OP_READV) &&
		    io_uring_opcode_supported(probe, IORING_OP_WRITEV) &&
		    io_uring_opcode_supported(probe, IORING_OP_FSYNC);

		u->ur_fallocate = io_uring_opcode_supported(probe, IORING_OP_FALLOCATE);
		io_uring_free_probe(probe);
		if (!rw) {
			*err = ENOSYS;
			goto fail;
		}
	}
	/* A registered file saves the kernel a file lookup per request. */
	if (io_uring_register_files(&u->ur_ring, &fd, 1) == 0) {
		u->ur_fixed = true;
		u->ur_fd = 0;
	}
	u->ur_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->ur_efd < 0) {
		*err = errno;
		goto fail;
	}
	r = io_uring_register_eventfd(&u->ur_ring, u->ur_efd);
	if (r < 0) {
		*err = -r;
		goto fail;
	}
	r = uring_restrict(u);
	if (r < 0) {
		*err = -r;
		goto fail;
	}
	u->ur_mev = mevent_add(u->ur_efd, uring_drain, u);
	if (u->ur_mev == NULL) {
		*err = errno != 0 ? errno : ENOMEM;
		goto fail;
	}
	return u;
fail:
	uring_close(u);
	return NULL;
}

const struct blockif_engine_ops blockif_uring_ops = {
	.name = "uring",
	.submit = uring_submit,
	.plug = uring_plug,
	.quiesce = uring_quiesce,
	.close = uring_close,
};
