/* Port and MMIO dispatch (bhyve/iodispatch.h), with ranges of the test's own
 * in places nothing else uses; each test removes what it registered. */
#include <pthread.h>
#include <stdatomic.h>

#include "iodispatch.h"
#include "test.h"

#define TBASE	0xf000
#define MBASE	0x7f0000000ULL

static struct {
	int calls;
	bool write;
	uint64_t addr;
	int size;
	uint64_t val;
} rec;

static int record_io(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	(void)arg;
	rec.calls++;
	rec.write = write;
	rec.addr = addr;
	rec.size = size;
	if (write)
		rec.val = *val;
	else
		*val = 0x1234567887654321ULL & ((size == 8 ? 0 : 1ULL << (size * 8)) - 1);
	return 0;
}

static int register_at(enum io_space sp, uint64_t base, uint64_t size)
{
	struct io_range r = { .name = "unittest", .base = base, .size = size, .handler = record_io, .arg = NULL };

	return register_io(sp, &r);
}

static void io_register_refuses_overlaps(void)
{
	REQUIRE(register_at(IO_PORT, TBASE, 16) == 0);
	CHECK(register_at(IO_PORT, TBASE, 16) == -1);		/* same */
	CHECK(register_at(IO_PORT, TBASE + 8, 16) == -1);	/* tail */
	CHECK(register_at(IO_PORT, TBASE - 8, 16) == -1);	/* head */
	CHECK(register_at(IO_PORT, TBASE + 15, 1) == -1);	/* last byte */
	CHECK(register_at(IO_PORT, TBASE - 16, 64) == -1);	/* around */
	CHECK(register_at(IO_PORT, TBASE + 4, 2) == -1);	/* inside */
	CHECK(register_at(IO_PORT, TBASE, 0) == -1);		/* empty */
	CHECK(register_at(IO_MMIO, ~0ULL - 4, 16) == -1);	/* wraps */
	/* Adjacent ranges and the same numbers in the other space are fine. */
	CHECK(register_at(IO_PORT, TBASE + 16, 4) == 0);
	CHECK(register_at(IO_PORT, TBASE - 4, 4) == 0);
	CHECK(register_at(IO_MMIO, TBASE, 16) == 0);
	CHECK(unregister_io(IO_PORT, TBASE + 16) == 0);
	CHECK(unregister_io(IO_PORT, TBASE - 4) == 0);
	CHECK(unregister_io(IO_MMIO, TBASE) == 0);
	CHECK(unregister_io(IO_PORT, TBASE) == 0);
	CHECK(unregister_io(IO_PORT, TBASE) == -1);
	/* Once removed, the space is free again. */
	CHECK(register_at(IO_PORT, TBASE + 8, 16) == 0);
	CHECK(unregister_io(IO_PORT, TBASE + 8) == 0);
}

static void io_unregistered_port_reads_all_ones(void)
{
	static const uint64_t ones[] = { 0, 0xff, 0xffff, 0, 0xffffffff };
	uint64_t v;

	for (int size = 1; size <= 4; size *= 2) {
		v = 0x5a;
		CHECK_EQ(port_rc(false, TBASE + 0x100, size, &v), 1);
		CHECK_EQ(v, ones[size]);
		v = 0x5a;
		CHECK_EQ(port_rc(true, TBASE + 0x100, size, &v), 1);
	}
	v = 0;
	CHECK_EQ(mmio_rc(false, MBASE, 8, &v), 1);
	CHECK_EQ(v, ~0ULL);
}

static void io_access_delivered_with_address_and_size(void)
{
	uint64_t v = 0;

	REQUIRE(register_at(IO_PORT, TBASE, 4) == 0);
	rec.calls = 0;
	CHECK_EQ(port_rc(true, TBASE + 2, 2, &(uint64_t){ 0xbeef }), 0);
	CHECK_EQ(rec.calls, 1);
	CHECK(rec.write);
	CHECK_EQ(rec.addr, TBASE + 2);
	CHECK_EQ(rec.size, 2);
	CHECK_EQ(rec.val, 0xbeef);
	CHECK_EQ(port_rc(false, TBASE, 4, &v), 0);
	CHECK_EQ(v, 0x87654321);
	CHECK_EQ(rec.calls, 2);
	unregister_io(IO_PORT, TBASE);
}

/* An access must lie inside one range, unless a port range takes wider ones
 * (0xCF8 takes a dword while 0xCF9 is another register). */
static void io_access_straddling_range_end(void)
{
	uint64_t v;

	REQUIRE(register_at(IO_PORT, TBASE, 4) == 0);
	REQUIRE(register_at(IO_MMIO, MBASE, 0x1000) == 0);
	rec.calls = 0;
	v = 0;
	CHECK_EQ(mmio_rc(false, MBASE + 0xffc, 8, &v), 1);
	CHECK_EQ(v, ~0ULL);
	CHECK_EQ(mmio_rc(true, MBASE + 0xfff, 2, &(uint64_t){ 1 }), 1);
	CHECK_EQ(mmio_rc(false, MBASE - 2, 4, &v), 1);	/* starts before the range */
	CHECK_EQ(port_rc(false, TBASE - 1, 2, &v), 1);
	CHECK_EQ(v, 0xffff);
	CHECK_EQ(rec.calls, 0);
	/* The last bytes themselves are delivered. */
	CHECK_EQ(mmio_rc(false, MBASE + 0xff8, 8, &v), 0);
	CHECK_EQ(port_rc(false, TBASE + 3, 1, &v), 0);
	CHECK_EQ(rec.calls, 2);
	/* A port access running past the end is not delivered... */
	CHECK_EQ(port_rc(false, TBASE + 2, 4, &v), 1);
	CHECK_EQ(v, 0xffffffff);
	CHECK_EQ(rec.calls, 2);
	unregister_io(IO_PORT, TBASE);
	/* ...unless the range takes wider accesses, like 0xCF8. */
	{
		struct io_range r = { .name = "wide", .base = TBASE, .size = 1, .handler = record_io, .arg = NULL, .wider = true };

		REQUIRE(register_io(IO_PORT, &r) == 0);
		CHECK_EQ(port_rc(false, TBASE, 4, &v), 0);
		CHECK_EQ(rec.calls, 3);
		CHECK_EQ(rec.addr, TBASE);
		CHECK_EQ(rec.size, 4);
	}
	unregister_io(IO_PORT, TBASE);
	unregister_io(IO_MMIO, MBASE);
}

/* ---- removal while a handler runs ---- */

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool entered, go;
	atomic_bool running;	/* inside blocking_io */
	atomic_int released;	/* release calls */
	atomic_bool released_while_running;
} blk = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* Tells the test it is in, then waits until the test lets it go. */
static int blocking_io(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	(void)arg;
	(void)write;
	(void)addr;
	(void)size;
	atomic_store(&blk.running, true);
	pthread_mutex_lock(&blk.mtx);
	blk.entered = true;
	pthread_cond_broadcast(&blk.cv);
	while (!blk.go)
		pthread_cond_wait(&blk.cv, &blk.mtx);
	pthread_mutex_unlock(&blk.mtx);
	*val = 0x5a;
	atomic_store(&blk.running, false);
	return 0;
}

static void blocking_release(void *arg)
{
	(void)arg;
	if (atomic_load(&blk.running))
		atomic_store(&blk.released_while_running, true);
	atomic_fetch_add(&blk.released, 1);
}

static void *blocking_reader(void *arg)
{
	uint64_t *v = arg;

	*v = (uint64_t)emulate_io(IO_PORT, false, TBASE + 1, 1, v) << 32 | (*v & 0xff);
	return NULL;
}

/* A vCPU sits in a handler while another thread removes its range: the removal
 * returns at once, later accesses find nothing, and the registration (and its
 * release) goes only after the running call has returned. ASan would catch a
 * registration freed under the call. */
static void io_unregister_while_handler_runs(void)
{
	struct io_range r = { .name = "blocking", .base = TBASE, .size = 4,
	    .handler = blocking_io, .release = blocking_release };
	uint64_t v = 0, got = 0;
	pthread_t t;

	blk.entered = blk.go = false;
	atomic_store(&blk.released, 0);
	atomic_store(&blk.released_while_running, false);
	REQUIRE(register_io(IO_PORT, &r) == 0);
	REQUIRE(pthread_create(&t, NULL, blocking_reader, &got) == 0);
	pthread_mutex_lock(&blk.mtx);
	while (!blk.entered)
		pthread_cond_wait(&blk.cv, &blk.mtx);
	pthread_mutex_unlock(&blk.mtx);

	CHECK_EQ(unregister_io(IO_PORT, TBASE), 0);
	CHECK_EQ(atomic_load(&blk.released), 0);	/* the call still holds it */
	CHECK_EQ(emulate_io(IO_PORT, false, TBASE + 1, 1, &v), 1);	/* gone for new ones */
	CHECK_EQ(v, 0xff);
	CHECK_EQ(unregister_io(IO_PORT, TBASE), -1);
	/* The range can be taken again at once, by another registration. */
	CHECK_EQ(register_at(IO_PORT, TBASE, 4), 0);
	CHECK_EQ(unregister_io(IO_PORT, TBASE), 0);

	pthread_mutex_lock(&blk.mtx);
	blk.go = true;
	pthread_cond_broadcast(&blk.cv);
	pthread_mutex_unlock(&blk.mtx);
	pthread_join(t, NULL);
	CHECK_EQ(got, 0x5a);	/* the running call finished normally (rc 0) */
	CHECK_EQ(atomic_load(&blk.released), 1);
	CHECK(!atomic_load(&blk.released_while_running));
}

/* With no call running, unregister_io releases at once; a handler may remove
 * its own range. */
static int self_removing_io(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	(void)arg;
	(void)write;
	(void)size;
	(void)val;
	return unregister_io(IO_PORT, addr);
}

static void io_unregister_releases_when_idle_and_from_own_handler(void)
{
	struct io_range r = { .name = "idle", .base = TBASE, .size = 4,
	    .handler = record_io, .release = blocking_release };
	uint64_t v = 0;

	atomic_store(&blk.released, 0);
	atomic_store(&blk.running, false);
	REQUIRE(register_io(IO_PORT, &r) == 0);
	CHECK_EQ(unregister_io(IO_PORT, TBASE), 0);
	CHECK_EQ(atomic_load(&blk.released), 1);

	r.handler = self_removing_io;
	REQUIRE(register_io(IO_PORT, &r) == 0);
	CHECK_EQ(emulate_io(IO_PORT, true, TBASE, 1, &v), 0);
	CHECK_EQ(atomic_load(&blk.released), 2);
	CHECK_EQ(emulate_io(IO_PORT, true, TBASE, 1, &v), 1);
}

void suite_iodispatch(void)
{
	RUN(io_register_refuses_overlaps);
	RUN(io_unregistered_port_reads_all_ones);
	RUN(io_access_delivered_with_address_and_size);
	RUN(io_access_straddling_range_end);
	RUN(io_unregister_while_handler_runs);
	RUN(io_unregister_releases_when_idle_and_from_own_handler);
}
