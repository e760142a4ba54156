/* The block backend: opening and probing the image, and the thread-pool engine.
 * Workers take requests from one queue and put them on a done list; an eventfd
 * wakes the main loop, which hands the list to the device. The io_uring engine
 * (block_uring.c) runs beside it and gives the workers what it cannot do; with
 * io_uring one worker is enough for those. Both are driven through
 * struct blockif_engine_ops (block_engine.h). */
#include "backends/block.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block_engine.h"
#include "backends/block_uring.h"
#include "mevent.h"
#include "sandbox.h"
#include "util.h"

#define BLOCKIF_NWORKERS	4
#define BLOCKIF_NWORKERS_URING	1
#define BLOCKIF_ZEROBUF		65536
/* Requests held at once, from blockif_submit until the done callback has them:
 * beyond every device's own bound (virtio-blk 256, NVMe ioslots <= 1024, AHCI
 * 32 slots of at most 512 TRIM ranges each), a backstop for a device that
 * lost count. One more completes at once with EBUSY. */
#define BLOCKIF_MAXREQ		32768

struct blockif {
	int bc_fd;
	int bc_efd;			/* completions for the main loop */
	struct mevent *bc_mev;
	uint64_t bc_size;
	uint32_t bc_sectsz, bc_psectsz;
	blockif_done_t bc_done;
	void *bc_arg;
	pthread_mutex_t bc_mtx;		/* the lists, bc_busy, bc_stop */
	pthread_cond_t bc_work;		/* a request was queued, or stop */
	struct sandbox_waker bc_waker;	/* the workers take their role */
	pthread_cond_t bc_idle;		/* a worker finished one */
	struct blockif_req *bc_pend, **bc_pend_tail;
	struct blockif_req *bc_doneq;
	int bc_busy;
	bool bc_stop;
	atomic_int bc_held;		/* requests submitted and not yet handed back */
	atomic_bool bc_full_logged;
	char bc_name[32];		/* the device's, for the one line when full */
	pthread_t bc_threads[BLOCKIF_NWORKERS];
	int bc_nthreads;
	/* The engines, in order: io_uring when there is a ring, then the workers. */
	struct blockif_eng {
		const struct blockif_engine_ops *ops;
		void *e;
	} bc_eng[2];
	int bc_neng;
};

/* Aligned so that it also serves O_DIRECT writes. */
static const uint8_t zeros[BLOCKIF_ZEROBUF] __attribute__((aligned(4096)));

static int blockif_rw(struct blockif *bc, struct blockif_req *br)
{
	struct iovec *iov = br->br_iov;
	int cnt = br->br_iovcnt;
	off_t off = (off_t)br->br_offset;

	while (cnt > 0) {
		ssize_t n;

		if (iov->iov_len == 0) {
			blockif_iov_advance(&iov, &cnt, 0);
			continue;
		}
		n = br->br_op == BLOCKIF_READ ? preadv(bc->bc_fd, iov, cnt > IOV_MAX ? IOV_MAX : cnt, off) :
		    pwritev2(bc->bc_fd, iov, cnt > IOV_MAX ? IOV_MAX : cnt, off,
		    br->br_fua ? RWF_DSYNC : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return EIO;	/* the image shrank under us */
		off += n;
		blockif_iov_advance(&iov, &cnt, (size_t)n);
	}
	return 0;
}

static int blockif_write_zeroes(struct blockif *bc, uint64_t off, uint64_t len)
{
	while (len > 0) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t w = pwrite(bc->bc_fd, zeros, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

static int blockif_fallocate(struct blockif *bc, int mode, uint64_t off, uint64_t len)
{
	int r;

	do {
		r = fallocate(bc->bc_fd, mode, (off_t)off, (off_t)len);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? errno : 0;
}

static int blockif_sync(struct blockif *bc)
{
	return fdatasync(bc->bc_fd) < 0 ? errno : 0;
}

static int blockif_exec(struct blockif *bc, struct blockif_req *br)
{
	int r;

	switch (br->br_op) {
	case BLOCKIF_READ:
		return blockif_rw(bc, br);
	case BLOCKIF_WRITE:
		r = blockif_rw(bc, br);
		/* A file system without RWF_DSYNC support fails the write before
		 * writing: write, then sync. */
		if (r == EOPNOTSUPP && br->br_fua) {
			br->br_fua = false;
			r = blockif_rw(bc, br);
			br->br_fua = true;
			if (r == 0)
				r = blockif_sync(bc);
		}
		return r;
	case BLOCKIF_FLUSH:
		return blockif_sync(bc);
	case BLOCKIF_DISCARD:
		r = blockif_fallocate(bc, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		    br->br_offset, br->br_len);
		break;
	case BLOCKIF_WRITE_ZEROES:
		r = blockif_fallocate(bc, (br->br_unmap ? FALLOC_FL_PUNCH_HOLE :
		    FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE, br->br_offset, br->br_len);
		if (r == EOPNOTSUPP || r == ENOSYS || r == EINVAL)
			r = blockif_write_zeroes(bc, br->br_offset, br->br_len);
		break;
	default:
		return EINVAL;
	}
	if (r == 0 && br->br_fua)
		r = blockif_sync(bc);
	return r;
}

/* Puts br on the done list and wakes the main loop; called with bc_mtx held. */
static void blockif_complete(struct blockif *bc, struct blockif_req *br)
{
	uint64_t one = 1;

	br->br_next = bc->bc_doneq;
	bc->bc_doneq = br;
	/* Cannot fail short of a counter overflow; the main loop drains it. */
	if (write(bc->bc_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		warn("block: eventfd");
}

static void *blockif_worker(void *arg)
{
	struct blockif *bc = arg;

	pthread_mutex_lock(&bc->bc_mtx);
	for (;;) {
		struct blockif_req *br = bc->bc_pend;

		/* Started before the sandbox: its role once it is there. */
		sandbox_enter(SANDBOX_BLOCK);
		if (bc->bc_stop)
			break;
		if (br == NULL) {
			pthread_cond_wait(&bc->bc_work, &bc->bc_mtx);
			continue;
		}
		bc->bc_pend = br->br_next;
		if (bc->bc_pend == NULL)
			bc->bc_pend_tail = &bc->bc_pend;
		bc->bc_busy++;
		pthread_mutex_unlock(&bc->bc_mtx);
		br->br_error = blockif_exec(bc, br);
		pthread_mutex_lock(&bc->bc_mtx);
		bc->bc_busy--;
		blockif_complete(bc, br);
		pthread_cond_broadcast(&bc->bc_idle);
	}
	pthread_mutex_unlock(&bc->bc_mtx);
	return NULL;
}

/* Hands list to the device; they are no longer held. Either engine's main-loop
 * side comes here. */
static void blockif_done_held(void *arg, struct blockif_req *list)
{
	struct blockif *bc = arg;
	int n = 0;

	for (struct blockif_req *br = list; br != NULL; br = br->br_next)
		n++;
	atomic_fetch_sub(&bc->bc_held, n);
	bc->bc_done(bc->bc_arg, list);
}

/* The main loop's side: hands everything completed so far to the device, oldest first. */
static void blockif_drain(int fd, void *arg)
{
	struct blockif *bc = arg;
	struct blockif_req *list, *rev = NULL;
	uint64_t cnt;

	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&bc->bc_mtx);
	list = bc->bc_doneq;
	bc->bc_doneq = NULL;
	pthread_mutex_unlock(&bc->bc_mtx);
	while (list != NULL) {
		struct blockif_req *next = list->br_next;

		list->br_next = rev;
		rev = list;
		list = next;
	}
	if (rev != NULL)
		blockif_done_held(bc, rev);
}

/* Queues br for a worker. */
static void blockif_enqueue(void *arg, struct blockif_req *br)
{
	struct blockif *bc = arg;

	br->br_next = NULL;
	br->br_error = 0;
	pthread_mutex_lock(&bc->bc_mtx);
	*bc->bc_pend_tail = br;
	bc->bc_pend_tail = &br->br_next;
	pthread_cond_signal(&bc->bc_work);
	pthread_mutex_unlock(&bc->bc_mtx);
}

static bool threads_submit(void *e, struct blockif_req *br)
{
	blockif_enqueue(e, br);
	return true;
}

static void threads_quiesce(void *e)
{
	struct blockif *bc = e;

	pthread_mutex_lock(&bc->bc_mtx);
	while (bc->bc_pend != NULL) {
		struct blockif_req *br = bc->bc_pend;

		bc->bc_pend = br->br_next;
		br->br_error = ECANCELED;
		blockif_complete(bc, br);
	}
	bc->bc_pend_tail = &bc->bc_pend;
	while (bc->bc_busy > 0)
		pthread_cond_wait(&bc->bc_idle, &bc->bc_mtx);
	pthread_mutex_unlock(&bc->bc_mtx);
}

static void blockif_wake(void *arg)
{
	struct blockif *bc = arg;

	pthread_mutex_lock(&bc->bc_mtx);
	pthread_cond_broadcast(&bc->bc_work);
	pthread_mutex_unlock(&bc->bc_mtx);
}

/* Stops the workers; struct blockif itself is blockif_close's to free. */
static void threads_close(void *e)
{
	struct blockif *bc = e;

	pthread_mutex_lock(&bc->bc_mtx);
	bc->bc_stop = true;
	pthread_cond_broadcast(&bc->bc_work);
	pthread_mutex_unlock(&bc->bc_mtx);
	for (int i = 0; i < bc->bc_nthreads; i++)
		thread_join(bc->bc_threads[i]);
}

/* The thread pool, the last engine: it takes every request. */
static const struct blockif_engine_ops blockif_threads_ops = {
	.name = "threads",
	.submit = threads_submit,
	.quiesce = threads_quiesce,
	.close = threads_close,
};

void blockif_submit(struct blockif *bc, struct blockif_req *br)
{
	if (atomic_fetch_add(&bc->bc_held, 1) >= BLOCKIF_MAXREQ) {
		if (!atomic_exchange(&bc->bc_full_logged, true))
			warnx("%s: more than %d block requests at once; refusing the excess "
			    "with EBUSY (reported once)", bc->bc_name, BLOCKIF_MAXREQ);
		pthread_mutex_lock(&bc->bc_mtx);
		br->br_error = EBUSY;
		blockif_complete(bc, br);
		pthread_mutex_unlock(&bc->bc_mtx);
		return;
	}
	for (int i = 0; i < bc->bc_neng; i++)
		if (bc->bc_eng[i].ops->submit(bc->bc_eng[i].e, br))
			return;
}

static void blockif_plug_all(struct blockif *bc, bool plug)
{
	for (int i = 0; i < bc->bc_neng; i++)
		if (bc->bc_eng[i].ops->plug != NULL)
			bc->bc_eng[i].ops->plug(bc->bc_eng[i].e, plug);
}

void blockif_plug(struct blockif *bc)
{
	blockif_plug_all(bc, true);
}

void blockif_unplug(struct blockif *bc)
{
	blockif_plug_all(bc, false);
}

void blockif_quiesce(struct blockif *bc)
{
	/* In order: what the ring reaps may still go to the workers. */
	for (int i = 0; i < bc->bc_neng; i++)
		bc->bc_eng[i].ops->quiesce(bc->bc_eng[i].e);
}

/* Size and sector sizes of what fd refers to; -1 with a message. */
static int blockif_probe(struct blockif *bc, const char *devname, const char *path,
    const struct blockif_opts *o)
{
	uint32_t dev_sectsz = 512, dev_psectsz = 0;
	struct stat st;

	if (fstat(bc->bc_fd, &st) < 0) {
		warn("%s: %s", devname, path);
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		bc->bc_size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		int ss = 0, ps = 0;

		if (ioctl(bc->bc_fd, BLKGETSIZE64, &bc->bc_size) < 0 ||
		    ioctl(bc->bc_fd, BLKSSZGET, &ss) < 0 || ioctl(bc->bc_fd, BLKPBSZGET, &ps) < 0) {
			warn("%s: %s: cannot read the block device's geometry", devname, path);
			return -1;
		}
		dev_sectsz = (uint32_t)ss;
		dev_psectsz = (uint32_t)ps;
		if (o->sectsz != 0 && o->sectsz < dev_sectsz) {
			warnx("%s: %s: sectorsize %u is below the device's %u", devname, path,
			    o->sectsz, dev_sectsz);
			return -1;
		}
	} else {
		warnx("%s: %s is %s", devname, path, S_ISDIR(st.st_mode) ? "a directory" :
		    S_ISFIFO(st.st_mode) ? "a FIFO, not a regular file or a block device" :
		    "neither a regular file nor a block device");
		return -1;
	}
	bc->bc_sectsz = o->sectsz != 0 ? o->sectsz : dev_sectsz;
	bc->bc_psectsz = o->psectsz != 0 ? o->psectsz :
	    (dev_psectsz > bc->bc_sectsz ? dev_psectsz : bc->bc_sectsz);
	if (bc->bc_size == 0 || bc->bc_size % bc->bc_sectsz != 0) {
		warnx("%s: %s: size %llu is not a whole, non-zero number of %u-byte sectors",
		    devname, path, (unsigned long long)bc->bc_size, bc->bc_sectsz);
		return -1;
	}
	return 0;
}

/* An OFD lock on the whole image, held while the fd is open: shared for ro,
 * exclusive otherwise, so that a second VM (or a second device of this one)
 * cannot write an image another is using, nor read one being written. A file
 * system that has no locks leaves the image unlocked. */
static int blockif_lock(struct blockif *bc, const char *devname, const char *path,
    const struct blockif_opts *o)
{
	struct flock fl = { .l_type = o->ro ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
	const struct timespec pause = { 0, 50 * 1000 * 1000 };

	/* A VM that has just ended may hold it a moment longer: the kernel lets
	 * go of an OFD lock with the last reference to the open file, and an
	 * io_uring ring, which holds one, is torn down after its process has
	 * gone. So a held lock is asked for again for up to a second. */
	for (int tries = 0;; tries++) {
		if (fcntl(bc->bc_fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES)
			return 0;	/* a file system without locks */
		if (tries == 20)
			break;
		nanosleep(&pause, NULL);
	}
	if (o->ro)
		warnx("%s: %s is being written by another VM or device (it holds "
		    "the image's lock)", devname, path);
	else
		warnx("%s: %s is in use by another VM or device (it holds the "
		    "image's lock): refusing to write it too", devname, path);
	return -1;
}

static bool pow2_in(unsigned long v, unsigned long lo, unsigned long hi)
{
	return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

int blockif_parse_sectorsize(const char *s, struct blockif_opts *o)
{
	char *end;
	unsigned long l, p;

	errno = 0;
	l = strtoul(s, &end, 10);
	p = l;
	if (*end == '/')
		p = strtoul(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || !pow2_in(l, 512, 65536) || !pow2_in(p, l, 65536))
		return -1;
	o->sectsz = (uint32_t)l;
	o->psectsz = (uint32_t)p;
	return 0;
}

int blockif_engine_parse(const char *s, enum blockif_engine *e)
{
	static const char *const names[] = {
		[BLOCKIF_ENGINE_AUTO] = "auto",
		[BLOCKIF_ENGINE_URING] = "uring",
		[BLOCKIF_ENGINE_THREADS] = "threads",
	};

	for (size_t i = 0; i < nitems(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			*e = (enum blockif_engine)i;
			return 0;
		}
	}
	return -1;
}

/* The io_uring engine, when o asks for it or leaves the choice; -1 only when
 * io_uring was asked for and the kernel refuses it. */
static int blockif_open_ring(struct blockif *bc, const char *devname,
    const struct blockif_opts *o)
{
	int err = 0;
	void *ring;

	if (o->engine == BLOCKIF_ENGINE_THREADS)
		return 0;
	ring = blockif_uring_open(bc->bc_fd, blockif_done_held, bc, blockif_enqueue, bc, &err);
	if (ring != NULL)
		bc->bc_eng[bc->bc_neng++] = (struct blockif_eng){ &blockif_uring_ops, ring };
	if (ring != NULL || o->engine == BLOCKIF_ENGINE_AUTO)
		return 0;
	warnx("%s: engine=uring: the kernel refuses io_uring: %s", devname, strerror(err));
	return -1;
}

struct blockif *blockif_open(const char *devname, const char *path,
    const struct blockif_opts *o, blockif_done_t done, void *arg)
{
	struct blockif *bc = xcalloc(1, sizeof(*bc));
	/* O_NONBLOCK: a FIFO (refused by the probe) cannot hang the open. */
	int flags = (o->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK |
	    (o->nocache ? O_DIRECT : 0) | (o->sync ? O_DSYNC : 0);
	sigset_t all, old;
	bool ring;

	bc->bc_efd = -1;
	snprintf(bc->bc_name, sizeof(bc->bc_name), "%s", devname);
	bc->bc_done = done;
	bc->bc_arg = arg;
	bc->bc_pend_tail = &bc->bc_pend;
	pthread_mutex_init(&bc->bc_mtx, NULL);
	pthread_cond_init(&bc->bc_work, NULL);
	pthread_cond_init(&bc->bc_idle, NULL);
	bc->bc_fd = open(path, flags);
	if (bc->bc_fd < 0) {
		warn("%s: cannot open %s%s", devname, path,
		    errno == EINVAL && o->nocache ? " with O_DIRECT (nocache)" : "");
		goto fail;
	}
	if (blockif_probe(bc, devname, path, o) != 0 || blockif_lock(bc, devname, path, o) != 0)
		goto fail;
	if (fcntl(bc->bc_fd, F_SETFL, fcntl(bc->bc_fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		warn("%s: %s", devname, path);
		goto fail;
	}
	bc->bc_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (bc->bc_efd < 0 || (bc->bc_mev = mevent_add(bc->bc_efd, blockif_drain, bc)) == NULL) {
		warn("%s: completion eventfd", devname);
		goto fail;
	}
	if (blockif_open_ring(bc, devname, o) != 0)
		goto fail;
	ring = bc->bc_neng > 0;
	bc->bc_eng[bc->bc_neng++] = (struct blockif_eng){ &blockif_threads_ops, bc };
	/* Workers take no signals: those belong to the main loop and the vCPUs. */
	thread_sigset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; bc->bc_nthreads < (ring ? BLOCKIF_NWORKERS_URING : BLOCKIF_NWORKERS);
	    bc->bc_nthreads++)
		if (thread_start(&bc->bc_threads[bc->bc_nthreads], blockif_worker, bc) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (bc->bc_nthreads == 0) {
		warnx("%s: cannot start the I/O threads", devname);
		goto fail;
	}
	sandbox_waker_add(&bc->bc_waker, blockif_wake, bc);
	return bc;
fail:
	blockif_close(bc);
	return NULL;
}

void blockif_close(struct blockif *bc)
{
	sandbox_waker_remove(&bc->bc_waker);
	for (int i = 0; i < bc->bc_neng; i++)
		bc->bc_eng[i].ops->close(bc->bc_eng[i].e);
	if (bc->bc_mev != NULL)
		mevent_delete(bc->bc_mev);
	if (bc->bc_efd >= 0)
		close(bc->bc_efd);
	if (bc->bc_fd >= 0) {
		/* Now: a ring's reference to the file may outlive close(). */
		struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

		(void)fcntl(bc->bc_fd, F_OFD_SETLK, &fl);
		close(bc->bc_fd);
	}
	pthread_cond_destroy(&bc->bc_idle);
	pthread_cond_destroy(&bc->bc_work);
	pthread_mutex_destroy(&bc->bc_mtx);
	free(bc);
}

uint64_t blockif_size(const struct blockif *bc)
{
	return bc->bc_size;
}

uint32_t blockif_sectsz(const struct blockif *bc)
{
	return bc->bc_sectsz;
}

const char *blockif_engine_name(const struct blockif *bc)
{
	return bc->bc_neng > 0 ? bc->bc_eng[0].ops->name : "threads";
}

uint32_t blockif_psectsz(const struct blockif *bc)
{
	return bc->bc_psectsz;
}
