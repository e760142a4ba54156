/* virtio-blk (bhyve/devices/virtio_blk.c) and its block backend, driven as a legacy
 * guest driver drives them: temporary 1 MiB images, rings in a fake guest RAM,
 * completions pumped through the main event loop.
 *
 * The fixture's init_pci has run already, so the devices here are made by hand:
 * the emulation is found in the PCI linker set, a pci_devinst allocated here is
 * passed to pe_legacy_config and pe_init (config nodes "vtblk_test.N", outside
 * "pci"), and the transport registers the BARs it allocates. They are not in the
 * PCI core's slot table, so config space is read from pi_cfgdata directly. The
 * nominal slots 11, 19 and 27 share slot 3's PIRQ pin, leaving the routing as it is.
 * The devices' memory lives until the process exits; at the end each is reset
 * and taken off the bus (pe_deinit closes its workers), so nothing touches the
 * test RAM afterwards.
 *
 * The suite runs once per block engine: worker threads, io_uring, and io_uring
 * with every transfer of more than one buffer cut short and every third
 * completion turned into -EAGAIN (the engine's test hooks), so its resubmission
 * is what the device tests go through. The block backend's own tests follow. */
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block.h"
#include "uring_seam.h"
#include "config.h"
#include "fake_vmmapi.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"
#include "test.h"
#include "virtio.h"


#define IMG_SIZE	(1u << 20)
#define NSECT		(IMG_SIZE / 512)
#define RAM_SIZE	(2u << 20)
#define RING_PFN	0x10		/* desc 0x10000, avail 0x11000, used 0x12000 */
#define HDR_BASE	0x20000		/* slot i: header at +32 i, status at +32 i + 16 */
#define DATA_BASE	0x40000		/* slot i: 64 KiB at +0x10000 i */
#define DATA_SLOT	0x10000
#define NSLOTS		16

/* Device features and request codes, as the virtio spec numbers them. */
#define F_SEG_MAX	(1u << 2)
#define F_RO		(1u << 5)
#define F_BLK_SIZE	(1u << 6)
#define F_FLUSH		(1u << 9)
#define F_TOPOLOGY	(1u << 10)
#define F_CONFIG_WCE	(1u << 11)
#define F_DISCARD	(1u << 13)
#define F_WRITE_ZEROES	(1u << 14)
#define T_IN		0
#define T_OUT		1
#define T_FLUSH		4
#define T_GET_ID	8
#define T_DISCARD	11
#define T_WZ		13
#define S_OK		0
#define S_IOERR		1
#define S_UNSUPP	2
#define NO_STATUS	0xee		/* what the driver leaves in the status byte */

struct blkdev {
	struct pci_devinst *pi;
	char *path;
};
/* rw: defaults; ro: ro,ser=RO-DISK,sectorsize=4096; nd: nodelete,sectorsize=512/4096. */
static struct blkdev rw, ro, nd;
/* Devices of earlier engine passes, kept reachable (they are never freed). */
static struct pci_devinst *retired[16];
static size_t nretired;
/* The engine= setting of this pass. */
static const char *engine = "threads";
static uint8_t *ram;
static uint16_t io;

/* The driver's view of the queue. */
static struct {
	uint16_t n, avail_idx, used_seen, next_desc;
} q;

static const struct pci_devemu *blk_emu(void)
{
	return unit_pci_emu("virtio-blk");
}

static int node_seq;

/* What pci_parse_slot + init_pci do for one function (a fresh config node each
 * time); NULL when either refuses. opts NULL: node already holds the settings. */
static struct pci_devinst *blk_create(int slot, const char *node, const char *opts)
{
	return unit_pci_create("virtio-blk", slot, node, opts);
}

/* A config node with an unusable setting: init must refuse it. */
static bool blk_refused(const char *opts)
{
	char node[32];

	snprintf(node, sizeof(node), "vtblk_test.%d", node_seq++);
	return blk_create(28, node, opts) == NULL;
}

static bool dev_make(struct blkdev *d, int slot, const char *extra, uint8_t seed)
{
	char opts[256], node[32];

	if (d->pi != NULL)
		return true;
	if (d->path == NULL)
		d->path = make_temp_file(IMG_SIZE, seed);
	if (d->path == NULL)
		return false;
	snprintf(opts, sizeof(opts), "%s%s,engine=%s", d->path, extra, engine);
	snprintf(node, sizeof(node), "vtblk_test.%d", node_seq++);
	d->pi = blk_create(slot, node, opts);
	return d->pi != NULL;
}

static bool setup(void)
{
	if (ram == NULL)
		ram = aligned_alloc(4096, RAM_SIZE);
	if (ram == NULL)
		return false;
	fake_vm_set_ram(fx_ctx, ram, RAM_SIZE);
	return dev_make(&rw, 11, "", 1) && dev_make(&ro, 19, ",ro,ser=RO-DISK,sectorsize=4096", 2) &&
	    dev_make(&nd, 27, ",nodelete,sectorsize=512/4096", 3);
}

static uint64_t lreg(int off, int size)
{
	return port_in((uint16_t)(io + off), size);
}

static void lreg_out(int off, int size, uint64_t v)
{
	port_out((uint16_t)(io + off), size, v);
}

static uint32_t cfg32(int off)
{
	return (uint32_t)lreg(VIRTIO_PCI_CONFIG(false) + off, 4);
}

static uint8_t cfg8(int off)
{
	return (uint8_t)lreg(VIRTIO_PCI_CONFIG(false) + off, 1);
}

/* Resets d and brings it up with the offered features in mask and fresh rings. */
static void drv_begin_with(const struct blkdev *d, uint32_t mask)
{
	uint64_t desc = RING_PFN * 4096ULL;

	io = (uint16_t)d->pi->pi_bar[0].addr;
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	memset(ram + desc, 0, 3 * 4096);
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	lreg_out(VIRTIO_PCI_GUEST_FEATURES, 4, lreg(VIRTIO_PCI_HOST_FEATURES, 4) & mask);
	lreg_out(VIRTIO_PCI_QUEUE_SEL, 2, 0);
	q.n = (uint16_t)lreg(VIRTIO_PCI_QUEUE_NUM, 2);
	q.avail_idx = q.used_seen = q.next_desc = 0;
	lreg_out(VIRTIO_PCI_QUEUE_PFN, 4, RING_PFN);
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_DRIVER_OK);
}

/* ... with all offered features. */
static void drv_begin(const struct blkdev *d)
{
	drv_begin_with(d, ~0u);
}

static uint8_t drv_status(void)
{
	return (uint8_t)lreg(VIRTIO_PCI_STATUS, 1);
}

static uint8_t *desc_table(void)
{
	return ram + RING_PFN * 4096ULL;
}

static uint16_t put_desc(uint64_t addr, uint32_t len, bool writable)
{
	uint16_t i = q.next_desc++ % q.n;
	uint8_t *p = desc_table() + 16 * (size_t)i;

	le_put(p, addr, 8);
	le_put(p + 8, len, 4);
	le_put(p + 12, writable ? VRING_DESC_F_WRITE : 0, 2);
	le_put(p + 14, 0, 2);
	return i;
}

/* Links descriptors a -> b. */
static void link_desc(uint16_t a, uint16_t b)
{
	uint8_t *p = desc_table() + 16 * (size_t)a;

	le_put(p + 12, le_get(p + 12, 2) | VRING_DESC_F_NEXT, 2);
	le_put(p + 14, b, 2);
}

static void publish(uint16_t head)
{
	uint8_t *avail = desc_table() + 16 * (size_t)q.n;

	le_put(avail + 4 + 2 * (q.avail_idx % q.n), head, 2);
	q.avail_idx++;
	le_put(avail + 2, q.avail_idx, 2);
}

static uint8_t *used_ring(void)
{
	return ram + (RING_PFN + 2) * 4096ULL;
}

static uint16_t used_idx(void)
{
	return (uint16_t)le_get(used_ring() + 2, 2);
}

static uint32_t used_len_of(uint16_t head)
{
	for (uint16_t i = 0; i < used_idx(); i++)
		if (le_get(used_ring() + 4 + 8 * (i % q.n), 4) == head)
			return (uint32_t)le_get(used_ring() + 8 + 8 * (i % q.n), 4);
	return ~0u;
}

static void notify(void)
{
	lreg_out(VIRTIO_PCI_QUEUE_NOTIFY, 2, 0);
}

/* Pumps the event loop until want more chains are used (5 s at most). */
static bool wait_used(uint16_t want)
{
	uint16_t target = (uint16_t)(q.used_seen + want);

	for (int i = 0; i < 500 && (uint16_t)(used_idx() - target) > 0x8000; i++)
		mevent_poll(10);
	if ((uint16_t)(used_idx() - target) > 0x8000)
		return false;
	q.used_seen = used_idx();
	return true;
}

static uint8_t *hdr_of(int slot)
{
	return ram + HDR_BASE + 32 * slot;
}

static uint8_t *status_of(int slot)
{
	return hdr_of(slot) + 16;
}

static uint8_t *data_of(int slot)
{
	return ram + DATA_BASE + (size_t)DATA_SLOT * slot;
}

/* A request in slot: header, one data buffer of len (none when 0), status. */
static uint16_t post(int slot, uint32_t type, uint64_t sector, uint32_t len, bool data_writable)
{
	uint16_t h, d, s;

	le_put(hdr_of(slot), type, 4);
	le_put(hdr_of(slot) + 4, 0, 4);
	le_put(hdr_of(slot) + 8, sector, 8);
	*status_of(slot) = NO_STATUS;
	h = put_desc(HDR_BASE + 32 * (uint64_t)slot, 16, false);
	s = put_desc(HDR_BASE + 32 * (uint64_t)slot + 16, 1, true);
	if (len > 0) {
		d = put_desc(DATA_BASE + (uint64_t)DATA_SLOT * slot, len, data_writable);
		link_desc(h, d);
		link_desc(d, s);
	} else {
		link_desc(h, s);
	}
	publish(h);
	return h;
}

/* One request, run to completion; returns its status byte. */
static uint8_t run1(uint32_t type, uint64_t sector, uint32_t len, bool data_writable)
{
	post(0, type, sector, len, data_writable);
	notify();
	if (!wait_used(1))
		return NO_STATUS;
	return *status_of(0);
}

/* A discard/write-zeroes segment in slot's data buffer. */
static void put_seg(int slot, uint64_t sector, uint32_t n, uint32_t flags)
{
	le_put(data_of(slot), sector, 8);
	le_put(data_of(slot) + 8, n, 4);
	le_put(data_of(slot) + 12, flags, 4);
}

/* ---- tests ---- */

static void virtio_blk_pci_ids_and_config_space(void)
{
	struct pci_devinst *pi;

	REQUIRE(setup());
	pi = rw.pi;
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_VENDOR), 0x1af4);
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_DEVICE), 0x1001);
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_SUBDEV_0), 2);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_CLASS), 0x01);
	drv_begin(&rw);
	CHECK_EQ(q.n, 256);
	CHECK_EQ(lreg(VIRTIO_PCI_HOST_FEATURES, 4) & (F_SEG_MAX | F_BLK_SIZE | F_FLUSH |
	    F_CONFIG_WCE | F_TOPOLOGY | F_DISCARD | F_WRITE_ZEROES | F_RO),
	    F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_CONFIG_WCE | F_TOPOLOGY | F_DISCARD |
	    F_WRITE_ZEROES);
	CHECK_EQ(cfg32(0) | (uint64_t)cfg32(4) << 32, NSECT);
	CHECK_EQ(cfg32(12), 254);		/* seg_max */
	CHECK_EQ(cfg32(20), 512);		/* blk_size */
	CHECK_EQ(cfg8(24), 0);			/* physical_block_exp */
	CHECK_EQ(cfg32(36), 1u << 22);		/* max_discard_sectors */
	CHECK_EQ(cfg32(40), 1);			/* max_discard_seg */
	CHECK_EQ(cfg32(52), 1);			/* max_write_zeroes_seg */
	CHECK_EQ(cfg8(56), 1);			/* write_zeroes_may_unmap */

	drv_begin(&ro);
	CHECK_EQ(lreg(VIRTIO_PCI_HOST_FEATURES, 4) & (F_RO | F_FLUSH | F_DISCARD | F_WRITE_ZEROES),
	    F_RO | F_FLUSH);
	CHECK_EQ(cfg32(20), 4096);
	CHECK_EQ(cfg32(36), 0);

	drv_begin(&nd);
	CHECK_EQ(lreg(VIRTIO_PCI_HOST_FEATURES, 4) & (F_RO | F_DISCARD | F_WRITE_ZEROES), 0);
	CHECK_EQ(cfg32(20), 512);
	CHECK_EQ(cfg8(24), 3);			/* 4096 = 512 << 3 */
	CHECK_EQ(cfg32(0), NSECT);
}

/* The write cache: a write the driver cannot flush is on the disk when it
 * completes; with FLUSH it may sit in the host's page cache until FLUSH; clearing
 * "writeback" (CONFIG_WCE) makes writes durable again. Seen with cachestat(2):
 * the written range's dirty pages. */
static void virtio_blk_write_cache_follows_flush_and_wce(void)
{
	const uint64_t sector = 64, len = 32768;
	int fd;

	REQUIRE(setup());
	if (test_dirty_pages(rw.path, 0, IMG_SIZE) < 0) {
		SKIP("cachestat(2) unavailable (Linux 6.5+)");
		return;
	}
	fd = open(rw.path, O_RDONLY);
	REQUIRE(fd >= 0 && fdatasync(fd) == 0);
	close(fd);
	REQUIRE(test_dirty_pages(rw.path, 0, IMG_SIZE) == 0);

	/* No FLUSH negotiated: write-through, and "writeback" says 0. */
	drv_begin_with(&rw, ~F_FLUSH);
	CHECK_EQ(cfg8(32), 0);
	test_pattern(data_of(0), len, 21);
	CHECK_EQ(run1(T_OUT, sector, len, false), S_OK);
	CHECK_EQ(test_dirty_pages(rw.path, sector * 512, len), 0);
	/* CONFIG_WCE without FLUSH: writing "writeback" changes nothing. */
	drv_begin_with(&rw, ~F_FLUSH);
	lreg_out(VIRTIO_PCI_CONFIG(false) + 32, 1, 1);
	CHECK_EQ(cfg8(32), 0);

	/* FLUSH negotiated: write-back; FLUSH empties the cache. */
	drv_begin(&rw);
	CHECK_EQ(cfg8(32), 1);
	test_pattern(data_of(0), len, 22);
	CHECK_EQ(run1(T_OUT, sector, len, false), S_OK);
	CHECK_MSG(test_dirty_pages(rw.path, sector * 512, len) > 0,
	    "a write-back write went to the disk at once (still correct, but not what is tested)");
	CHECK_EQ(run1(T_FLUSH, 0, 0, false), S_OK);
	CHECK_EQ(test_dirty_pages(rw.path, sector * 512, len), 0);

	/* The driver turns the cache off (writeback = 0): write-through again. */
	lreg_out(VIRTIO_PCI_CONFIG(false) + 32, 1, 0);
	CHECK_EQ(cfg8(32), 0);
	test_pattern(data_of(0), len, 23);
	CHECK_EQ(run1(T_OUT, sector, len, false), S_OK);
	CHECK_EQ(test_dirty_pages(rw.path, sector * 512, len), 0);
	/* A reset brings the cache back. */
	drv_begin(&rw);
	CHECK_EQ(cfg8(32), 1);
	/* FLUSH only (no CONFIG_WCE): write-back, "writeback" read-only. */
	drv_begin_with(&rw, ~F_CONFIG_WCE);
	lreg_out(VIRTIO_PCI_CONFIG(false) + 32, 1, 0);
	CHECK_EQ(cfg8(32), 1);
}

static void virtio_blk_write_then_read_back(void)
{
	uint8_t disk[16384];
	uint16_t h, d1, d2, s;

	REQUIRE(setup());
	drv_begin(&rw);
	test_pattern(data_of(0), sizeof(disk), 7);
	CHECK_EQ(run1(T_OUT, 8, sizeof(disk), false), S_OK);
	CHECK_EQ(used_len_of(0), 1);
	REQUIRE(test_file_read(rw.path, 8 * 512, disk, sizeof(disk)));
	CHECK(memcmp(disk, data_of(0), sizeof(disk)) == 0);

	/* Read it back into two buffers of a three-descriptor data part. */
	memset(data_of(1), 0, sizeof(disk));
	le_put(hdr_of(1), T_IN, 4);
	le_put(hdr_of(1) + 8, 8, 8);
	*status_of(1) = NO_STATUS;
	h = put_desc(HDR_BASE + 32, 16, false);
	d1 = put_desc(DATA_BASE + DATA_SLOT, 4096, true);
	d2 = put_desc(DATA_BASE + DATA_SLOT + 4096, sizeof(disk) - 4096, true);
	s = put_desc(HDR_BASE + 32 + 16, 1, true);
	link_desc(h, d1);
	link_desc(d1, d2);
	link_desc(d2, s);
	publish(h);
	notify();
	REQUIRE(wait_used(1));
	CHECK_EQ(*status_of(1), S_OK);
	CHECK_EQ(used_len_of(h), sizeof(disk) + 1);
	CHECK(memcmp(data_of(1), data_of(0), sizeof(disk)) == 0);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static void virtio_blk_many_requests_in_flight(void)
{
	uint8_t disk[8192];

	REQUIRE(setup());
	drv_begin(&rw);
	for (int i = 0; i < 8; i++) {
		test_pattern(data_of(i), 8192, 100 + (uint32_t)i);
		post(i, T_OUT, 256 + 16 * (uint64_t)i, 8192, false);
	}
	notify();
	REQUIRE(wait_used(8));
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(*status_of(i), S_OK);
		REQUIRE(test_file_read(rw.path, (256 + 16 * (uint64_t)i) * 512, disk, sizeof(disk)));
		CHECK(memcmp(disk, data_of(i), sizeof(disk)) == 0);
	}
	for (int i = 0; i < 8; i++) {
		memset(data_of(8 + i), 0, 8192);
		post(8 + i, T_IN, 256 + 16 * (uint64_t)i, 8192, true);
	}
	notify();
	REQUIRE(wait_used(8));
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(*status_of(8 + i), S_OK);
		CHECK(memcmp(data_of(8 + i), data_of(i), 8192) == 0);
	}
}

/* Gives sectors [first, first + n) of path contents that tell them apart (the
 * temporary files repeat every 256 bytes). */
static bool stamp_sectors(const char *path, uint64_t first, int n)
{
	int fd = open(path, O_WRONLY);
	bool ok = fd >= 0;
	uint8_t sect[512];

	for (int k = 0; ok && k < n; k++) {
		test_pattern(sect, sizeof(sect), (uint32_t)(first + (uint64_t)k) * 3 + 1);
		le_put(sect, first + (uint64_t)k, 8);
		ok = pwrite(fd, sect, sizeof(sect), (off_t)((first + (uint64_t)k) * 512)) == 512;
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

/* One notification with reads of adjacent sectors (merged into one backend
 * request), a write right after them (not merged: another op) and reads
 * elsewhere: each chain gets its own bytes, status and used length. */
static void virtio_blk_adjacent_requests_complete_each_chain(void)
{
	static const struct { uint32_t type; uint64_t sector; uint32_t len; } r[] = {
		{ T_IN, 64, 4096 }, { T_IN, 72, 512 }, { T_IN, 73, 3584 }, { T_OUT, 80, 4096 },
		{ T_IN, 200, 1024 }, { T_IN, 202, 2048 }, { T_IN, 0, 512 },
	};
	uint8_t disk[4096];
	uint16_t h[nitems(r)];

	REQUIRE(setup());
	REQUIRE(stamp_sectors(rw.path, 0, 256));
	drv_begin(&rw);
	for (size_t i = 0; i < nitems(r); i++) {
		memset(data_of((int)i), 0xee, r[i].len);
		if (r[i].type == T_OUT)
			test_pattern(data_of((int)i), r[i].len, 77);
		h[i] = post((int)i, r[i].type, r[i].sector, r[i].len, r[i].type == T_IN);
	}
	notify();
	REQUIRE(wait_used(nitems(r)));
	for (size_t i = 0; i < nitems(r); i++) {
		CHECK_EQ(*status_of((int)i), S_OK);
		CHECK_EQ(used_len_of(h[i]), r[i].type == T_IN ? r[i].len + 1 : 1);
		REQUIRE(test_file_read(rw.path, r[i].sector * 512, disk, r[i].len));
		CHECK_MSG(memcmp(disk, data_of((int)i), r[i].len) == 0, "request %zu", i);
	}
}

static void virtio_blk_flush_completes_ok(void)
{
	REQUIRE(setup());
	drv_begin(&rw);
	CHECK_EQ(run1(T_FLUSH, 0, 0, false), S_OK);
	CHECK_EQ(used_len_of(0), 1);
	drv_begin(&ro);
	CHECK_EQ(run1(T_FLUSH, 0, 0, false), S_OK);
}

static void virtio_blk_get_id_returns_serial(void)
{
	REQUIRE(setup());
	drv_begin(&ro);
	memset(data_of(0), 0xff, 20);
	CHECK_EQ(run1(T_GET_ID, 0, 20, true), S_OK);
	CHECK(memcmp(data_of(0), "RO-DISK", 7) == 0 && test_all_zero(data_of(0) + 7, 13));
	CHECK_EQ(used_len_of(0), 21);

	/* Without ser: 20 characters derived from the path, no NUL. */
	drv_begin(&rw);
	memset(data_of(0), 0, 21);
	CHECK_EQ(run1(T_GET_ID, 0, 20, true), S_OK);
	CHECK(memcmp(data_of(0), "BHYVE-", 6) == 0);
	CHECK(strlen((const char *)data_of(0)) == 20);
}

static void virtio_blk_ro_refuses_writes(void)
{
	uint8_t before[8192], after[8192];

	REQUIRE(setup());
	REQUIRE(test_file_read(ro.path, 0, before, sizeof(before)));
	drv_begin(&ro);
	memset(data_of(0), 0x5a, sizeof(before));
	CHECK_EQ(run1(T_OUT, 0, sizeof(before), false), S_IOERR);
	put_seg(0, 0, 8, 0);
	CHECK_EQ(run1(T_DISCARD, 0, 16, false), S_UNSUPP);
	CHECK_EQ(run1(T_WZ, 0, 16, false), S_UNSUPP);
	REQUIRE(test_file_read(ro.path, 0, after, sizeof(after)));
	CHECK(memcmp(before, after, sizeof(before)) == 0);
	/* Reads still work. */
	CHECK_EQ(run1(T_IN, 0, 4096, true), S_OK);
	CHECK(memcmp(data_of(0), before, 4096) == 0);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static void virtio_blk_discard_and_write_zeroes_zero_the_range(void)
{
	static const struct { uint32_t type, flags; } ops[] = {
		{ T_DISCARD, 0 }, { T_WZ, 0 }, { T_WZ, 1 },
	};
	uint8_t disk[4096];

	REQUIRE(setup());
	drv_begin(&rw);
	for (size_t k = 0; k < nitems(ops); k++) {
		test_pattern(data_of(1), sizeof(disk), 9 + (uint32_t)k);
		post(1, T_OUT, 512, sizeof(disk), false);
		notify();
		REQUIRE(wait_used(1));
		REQUIRE(*status_of(1) == S_OK);
		put_seg(0, 512, 8, ops[k].flags);
		CHECK_EQ(run1(ops[k].type, 0, 16, false), S_OK);
		REQUIRE(test_file_read(rw.path, 512 * 512, disk, sizeof(disk)));
		CHECK_MSG(test_all_zero(disk, sizeof(disk)), "op %zu left data on disk", k);
		memset(data_of(2), 0xff, sizeof(disk));
		post(2, T_IN, 512, sizeof(disk), true);
		notify();
		REQUIRE(wait_used(1));
		CHECK(test_all_zero(data_of(2), sizeof(disk)));
	}
	/* The neighbours are untouched (the image's original pattern). */
	REQUIRE(test_file_read(rw.path, 520 * 512, disk, 16));
	CHECK(!test_all_zero(disk, 16));
	/* Discard with the unmap flag, unknown flags, past the end. */
	put_seg(0, 512, 8, 1);
	CHECK_EQ(run1(T_DISCARD, 0, 16, false), S_UNSUPP);
	put_seg(0, 512, 8, 2);
	CHECK_EQ(run1(T_WZ, 0, 16, false), S_UNSUPP);
	put_seg(0, NSECT - 4, 8, 0);
	CHECK_EQ(run1(T_WZ, 0, 16, false), S_IOERR);

	drv_begin(&nd);
	put_seg(0, 0, 8, 0);
	CHECK_EQ(run1(T_DISCARD, 0, 16, false), S_UNSUPP);
	CHECK_EQ(run1(T_WZ, 0, 16, false), S_UNSUPP);
}

static void virtio_blk_out_of_range_is_ioerr(void)
{
	REQUIRE(setup());
	drv_begin(&rw);
	CHECK_EQ(run1(T_IN, NSECT, 512, true), S_IOERR);
	CHECK_EQ(run1(T_IN, NSECT - 1, 1024, true), S_IOERR);
	CHECK_EQ(run1(T_IN, 1ULL << 63, 512, true), S_IOERR);
	CHECK_EQ(run1(T_IN, ~0ULL, 512, true), S_IOERR);
	CHECK_EQ(run1(T_OUT, NSECT - 1, 1024, false), S_IOERR);
	CHECK_EQ(run1(T_IN, 0, 100, true), S_IOERR);		/* not whole sectors */
	CHECK_EQ(run1(T_IN, NSECT - 1, 512, true), S_OK);	/* the last sector */
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static void virtio_blk_malformed_requests_keep_the_device_running(void)
{
	uint16_t h, s;

	REQUIRE(setup());
	drv_begin(&rw);
	/* Header too short. */
	le_put(hdr_of(0), T_IN, 4);
	h = put_desc(HDR_BASE, 8, false);
	s = put_desc(HDR_BASE + 16, 1, true);
	*status_of(0) = NO_STATUS;
	link_desc(h, s);
	publish(h);
	notify();
	REQUIRE(wait_used(1));
	CHECK_EQ(*status_of(0), S_IOERR);
	/* No writable status byte: completed with nothing written. */
	le_put(hdr_of(0), T_FLUSH, 4);
	*status_of(0) = NO_STATUS;
	h = put_desc(HDR_BASE, 16, false);
	s = put_desc(HDR_BASE + 16, 1, false);
	link_desc(h, s);
	publish(h);
	notify();
	REQUIRE(wait_used(1));
	CHECK_EQ(*status_of(0), NO_STATUS);
	CHECK_EQ(used_len_of(h), 0);
	/* A lone status byte, no header. */
	*status_of(0) = NO_STATUS;
	publish(put_desc(HDR_BASE + 16, 1, true));
	notify();
	REQUIRE(wait_used(1));
	CHECK_EQ(*status_of(0), S_IOERR);
	/* No data buffers; data in the wrong direction; an unknown type. */
	CHECK_EQ(run1(T_IN, 0, 0, false), S_IOERR);
	CHECK_EQ(run1(T_OUT, 0, 0, false), S_IOERR);
	CHECK_EQ(run1(T_IN, 0, 512, false), S_IOERR);
	CHECK_EQ(run1(T_OUT, 0, 512, true), S_IOERR);
	CHECK_EQ(run1(T_FLUSH, 0, 512, false), S_IOERR);
	CHECK_EQ(run1(T_GET_ID, 0, 0, false), S_IOERR);
	CHECK_EQ(run1(99, 0, 0, false), S_UNSUPP);
	/* And a good request still works. */
	CHECK_EQ(run1(T_IN, 0, 512, true), S_OK);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* The same chain in every avail slot, published at once: the device holds the
 * first, so each one after it is a driver reusing descriptors it has not got
 * back. The second is refused with NEEDS_RESET (no request made for it, so a
 * driver can never have more than a queue's worth in flight) and the first
 * still completes. A driver that gets its chain back may publish it over and
 * over, for more than a ring's worth. */
static void virtio_blk_more_in_flight_than_the_queue_needs_reset(void)
{
	uint16_t h;

	REQUIRE(setup());
	drv_begin(&rw);
	h = post(0, T_IN, 0, 512, true);
	notify();			/* nothing comes back before the event loop runs */
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	CHECK_EQ(used_idx(), 0);
	for (int i = 1; i < q.n; i++)
		publish(h);
	notify();
	CHECK(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	for (int i = 0; i < 200 && used_idx() != 1; i++)
		mevent_poll(10);
	for (int i = 0; i < 5; i++)
		mevent_poll(5);
	CHECK_MSG(used_idx() == 1, "%u used, 1 was taken", used_idx());
	CHECK_EQ(*status_of(0), S_OK);
	/* Within the bound: one chain, each time after it came back. */
	drv_begin(&rw);
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	h = post(0, T_IN, 0, 512, true);
	for (int round = 0; round < 2 * q.n + 1; round++) {
		if (round > 0)
			publish(h);
		*status_of(0) = NO_STATUS;
		notify();
		bool back = wait_used(1);

		CHECK_MSG(back, "round %d did not come back", round);
		if (!back)
			break;
		CHECK_EQ(*status_of(0), S_OK);
	}
	CHECK_EQ(drv_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

/* A reset with requests in flight: nothing completes into the old rings, and the
 * device works again afterwards. */
static void virtio_blk_reset_with_requests_in_flight(void)
{
	REQUIRE(setup());
	drv_begin(&rw);
	for (int i = 0; i < 12; i++)
		post(i, T_IN, 128 * (uint64_t)i, DATA_SLOT, true);
	notify();
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	le_put(used_ring() + 2, 0x1234, 2);
	for (int i = 0; i < 20; i++)
		mevent_poll(5);
	CHECK_EQ(used_idx(), 0x1234);
	drv_begin(&rw);
	CHECK_EQ(run1(T_IN, 0, 512, true), S_OK);
	CHECK_EQ(used_idx(), 1);
}

static void virtio_blk_bad_configs_are_refused(void)
{
	char *odd = make_temp_file(1000, 4);
	char opts[4200];

	REQUIRE(odd != NULL);
	REQUIRE(blk_emu() != NULL);
	CHECK(blk_refused(""));				/* no path */
	CHECK(blk_refused("/nonexistent/disk.img"));
	CHECK(blk_refused("/tmp"));				/* a directory */
	CHECK(blk_refused(odd));				/* not whole sectors */
	snprintf(opts, sizeof(opts), "%s,frobnicate", odd);
	CHECK(blk_refused(opts));				/* unknown option */
	CHECK(blk_refused(",foo=1"));
	snprintf(opts, sizeof(opts), "%s,sectorsize=1000", odd);
	CHECK(blk_refused(opts));
	snprintf(opts, sizeof(opts), "%s,sectorsize=4096/512", odd);
	CHECK(blk_refused(opts));
	snprintf(opts, sizeof(opts), "%s,ser=123456789012345678901", odd);
	CHECK(blk_refused(opts));
	snprintf(opts, sizeof(opts), "%s,ro=maybe", odd);
	CHECK(blk_refused(opts));
	snprintf(opts, sizeof(opts), "%s,bootindex=x", odd);
	CHECK(blk_refused(opts));
	snprintf(opts, sizeof(opts), "%s,engine=aio", odd);
	CHECK(blk_refused(opts));
	/* An unknown key set as -o pci.B.S.F.colour=red would set it. */
	set_config_value_node("vtblk_test.oset", "path", odd);
	set_config_value_node("vtblk_test.oset", "colour", "red");
	CHECK(blk_create(28, "vtblk_test.oset", NULL) == NULL);
	/* Through -s as bhyve parses it. */
	CHECK(pci_parse_slot("28,virtio-blk,/tmp/x.img,bogus=1") != 0);
	unset_config_value("pci.0.28.0.device");
	unset_config_value("pci.0.28.0.path");
	unset_config_value("pci.0.28.0.bogus");
	unlink(odd);
	free(odd);
}

/* The end of a pass, as a test: a reset stops each device (status and queue read
 * back 0, and nothing is written to the guest's RAM afterwards), the unmapped BAR
 * reaches no handler (the storm's random accesses cannot reach it), the image is
 * gone. The devices stay allocated (pe_deinit stops their workers), so nothing
 * is said about their memory. */
static void virtio_blk_cleanup(void)
{
	struct blkdev *all[] = { &rw, &ro, &nd };
	uint8_t *before = ram != NULL ? malloc(RAM_SIZE) : NULL;
	int live = 0;

	for (size_t i = 0; i < nitems(all); i++) {
		if (all[i]->pi != NULL) {
			live++;
			unit_virtio_reset(all[i]->pi);	/* quiesces the workers */
			/* Out of reach of the later suites (the storm's random accesses). */
			unit_virtio_remove(all[i]->pi);
		}
		if (all[i]->path != NULL) {
			CHECK_EQ(unlink(all[i]->path), 0);
			CHECK(access(all[i]->path, F_OK) != 0);
			free(all[i]->path);
			all[i]->path = NULL;
		}
		if (all[i]->pi != NULL && nretired < nitems(retired))
			retired[nretired++] = all[i]->pi;
		all[i]->pi = NULL;
	}
	CHECK_MSG(live == (int)nitems(all), "%d of %zu devices were made", live, nitems(all));
	if (before != NULL)
		memcpy(before, ram, RAM_SIZE);
	for (int i = 0; i < 10; i++)
		mevent_poll(1);			/* frees any completions still queued */
	if (before != NULL)
		CHECK_MSG(memcmp(before, ram, RAM_SIZE) == 0, "guest RAM written after the reset");
	free(before);
	if (fx_ctx != NULL)
		fake_vm_set_ram(fx_ctx, NULL, 0);
	free(ram);
	ram = NULL;
}

/* ---- the block backend itself, per engine ---- */

static enum blockif_engine blk_engine = BLOCKIF_ENGINE_THREADS;
static struct {
	struct blockif_req *reqs[64];
	int n;
	bool late;			/* a completion after the backend was closed */
} got;

static void blk_done(void *arg, struct blockif_req *list)
{
	(void)arg;
	for (; list != NULL; list = list->br_next) {
		if (got.n < (int)nitems(got.reqs))
			got.reqs[got.n] = list;
		got.n++;
	}
}

static void blk_done_after_close(void *arg, struct blockif_req *list)
{
	(void)arg;
	(void)list;
	got.late = true;
}

/* Pumps the event loop until n completions have arrived (5 s at most). */
static bool blk_wait(int n)
{
	for (int i = 0; i < 500 && got.n < n; i++)
		mevent_poll(10);
	return got.n >= n;
}

static struct blockif *blk_open(const char *path, bool nocache, blockif_done_t done)
{
	struct blockif_opts o = { .engine = blk_engine, .nocache = nocache };

	got.n = 0;
	return blockif_open("block-test", path, &o, done, NULL);
}

/* One request run to completion; its error, or -1 when it never completed. */
static int blk_run(struct blockif *bc, struct blockif_req *br)
{
	got.n = 0;
	blockif_submit(bc, br);
	if (!blk_wait(1) || got.reqs[0] != br)
		return -1;
	return br->br_error;
}

static bool uring_available(char *why, size_t len)
{
	struct io_uring ring;
	int r = io_uring_queue_init(2, &ring, 0);

	if (r < 0) {
		snprintf(why, len, "the kernel refuses io_uring: %s", strerror(-r));
		return false;
	}
	io_uring_queue_exit(&ring);
	return true;
}

static void block_engine_is_the_one_asked_for(void)
{
	char *path = make_temp_file(65536, 5);
	struct blockif_opts o = { 0 };
	struct blockif *bc;
	char why[128];

	REQUIRE(path != NULL);
	bc = blk_open(path, false, blk_done);
	REQUIRE(bc != NULL);
	CHECK_STR(blockif_engine_name(bc), blk_engine == BLOCKIF_ENGINE_URING ? "uring" : "threads");
	blockif_close(bc);
	/* auto: io_uring wherever the kernel allows it. */
	bc = blockif_open("block-test", path, &o, blk_done, NULL);
	REQUIRE(bc != NULL);
	CHECK_STR(blockif_engine_name(bc), uring_available(why, sizeof(why)) ? "uring" : "threads");
	blockif_close(bc);
	CHECK(blockif_engine_parse("auto", &o.engine) == 0 && o.engine == BLOCKIF_ENGINE_AUTO);
	CHECK(blockif_engine_parse("uring", &o.engine) == 0 && o.engine == BLOCKIF_ENGINE_URING);
	CHECK(blockif_engine_parse("threads", &o.engine) == 0 &&
	    o.engine == BLOCKIF_ENGINE_THREADS);
	CHECK(blockif_engine_parse("io_uring", &o.engine) != 0);
	unlink(path);
	free(path);
}

/* Four buffers of odd sizes: with at most one buffer per submission (the test
 * hook) every transfer comes back short and is finished by resubmission; with
 * every other completion an -EAGAIN, it is retried. The bytes must be the file's. */
static void block_short_transfers_are_finished(void)
{
	static const size_t sizes[] = { 1000, 24, 3000, 72 };
	char *path = make_temp_file(65536, 6);
	uint8_t buf[4096], want[4096];
	struct iovec iov[4];
	struct blockif_req br;
	struct blockif *bc;
	size_t off = 0;

	REQUIRE(path != NULL);
	bc = blk_open(path, false, blk_done);
	REQUIRE(bc != NULL);
	blockif_uring_test_max_iov = 1;
	for (int pass = 0; pass < 2; pass++) {
		blockif_uring_test_eagain_every = pass == 0 ? 0 : 2;
		memset(buf, 0, sizeof(buf));
		off = 0;
		for (int i = 0; i < 4; i++) {
			iov[i] = (struct iovec){ buf + off, sizes[i] };
			off += sizes[i];
		}
		br = (struct blockif_req){ .br_op = BLOCKIF_READ, .br_iov = iov, .br_iovcnt = 4,
		    .br_offset = 512 };
		CHECK_EQ(blk_run(bc, &br), 0);
		REQUIRE(test_file_read(path, 512, want, sizeof(want)));
		CHECK_MSG(memcmp(buf, want, sizeof(buf)) == 0, "pass %d: read differs", pass);

		test_pattern(buf, sizeof(buf), 40 + (uint32_t)pass);
		off = 0;
		for (int i = 0; i < 4; i++) {
			iov[i] = (struct iovec){ buf + off, sizes[i] };
			off += sizes[i];
		}
		br = (struct blockif_req){ .br_op = BLOCKIF_WRITE, .br_iov = iov, .br_iovcnt = 4,
		    .br_offset = 8192 };
		CHECK_EQ(blk_run(bc, &br), 0);
		REQUIRE(test_file_read(path, 8192, want, sizeof(want)));
		CHECK_MSG(memcmp(buf, want, sizeof(buf)) == 0, "pass %d: write differs", pass);
	}
	blockif_uring_test_max_iov = 0;
	blockif_uring_test_eagain_every = 0;
	blockif_close(bc);
	unlink(path);
	free(path);
}

/* The image shrinks under the backend: a read across the new end comes back
 * short from the kernel, the rest reads nothing, and the request fails with EIO
 * instead of hanging or returning stale bytes as good. */
static void block_read_past_a_shrunk_image_is_eio(void)
{
	char *path = make_temp_file(65536, 7);
	uint8_t buf[8192];
	struct iovec iov = { buf, sizeof(buf) };
	struct blockif_req br = { .br_op = BLOCKIF_READ, .br_iov = &iov, .br_iovcnt = 1,
	    .br_offset = 16384 };
	struct blockif *bc;

	REQUIRE(path != NULL);
	bc = blk_open(path, false, blk_done);
	REQUIRE(bc != NULL);
	REQUIRE(truncate(path, 16384 + 1000) == 0);
	CHECK_EQ(blk_run(bc, &br), EIO);
	blockif_close(bc);
	unlink(path);
	free(path);
}

/* O_DIRECT (nocache): aligned 4 KiB writes and reads, eight at a time. */
static void block_nocache_requests_in_flight(void)
{
	enum { N = 8, SZ = 4096 };
	char *path = make_temp_file(1u << 20, 8);
	uint8_t *mem = aligned_alloc(4096, 2 * N * SZ), disk[SZ];
	struct iovec iov[2 * N];
	struct blockif_req br[2 * N];
	struct blockif *bc = NULL;

	REQUIRE(path != NULL && mem != NULL);
	bc = blk_open(path, true, blk_done);
	if (bc == NULL) {
		test_skip("%s does not take O_DIRECT", path);
		goto out;
	}
	for (int i = 0; i < N; i++) {
		test_pattern(mem + i * SZ, SZ, 60 + (uint32_t)i);
		iov[i] = (struct iovec){ mem + i * SZ, SZ };
		br[i] = (struct blockif_req){ .br_op = BLOCKIF_WRITE, .br_iov = &iov[i],
		    .br_iovcnt = 1, .br_offset = (uint64_t)(3 * i + 1) * SZ };
		blockif_submit(bc, &br[i]);
	}
	REQUIRE(blk_wait(N));
	for (int i = 0; i < N; i++) {
		CHECK_EQ(br[i].br_error, 0);
		REQUIRE(test_file_read(path, (uint64_t)(3 * i + 1) * SZ, disk, SZ));
		CHECK(memcmp(disk, mem + i * SZ, SZ) == 0);
	}
	got.n = 0;
	memset(mem + N * SZ, 0, N * SZ);
	for (int i = 0; i < N; i++) {
		iov[N + i] = (struct iovec){ mem + (N + i) * SZ, SZ };
		br[N + i] = (struct blockif_req){ .br_op = BLOCKIF_READ, .br_iov = &iov[N + i],
		    .br_iovcnt = 1, .br_offset = (uint64_t)(3 * i + 1) * SZ };
		blockif_submit(bc, &br[N + i]);
	}
	REQUIRE(blk_wait(N));
	for (int i = 0; i < N; i++) {
		CHECK_EQ(br[N + i].br_error, 0);
		CHECK(memcmp(mem + (N + i) * SZ, mem + i * SZ, SZ) == 0);
	}
out:
	if (bc != NULL)
		blockif_close(bc);
	free(mem);
	unlink(path);
	free(path);
}

/* Quiesce right after a burst of O_DIRECT reads (so that they are still on their
 * way from the disk): every request comes back through the callback, done or
 * ECANCELED, and nothing writes into the buffers once it has returned. */
static void block_quiesce_leaves_buffers_alone(void)
{
	enum { N = 48, SZ = 65536 };
	char *path = make_temp_file(4u << 20, 9);
	uint8_t *mem = aligned_alloc(4096, (size_t)N * SZ);
	struct iovec iov[N];
	struct blockif_req br[N];
	struct blockif *bc;
	int ok = 0, canceled = 0;

	REQUIRE(path != NULL && mem != NULL);
	bc = blk_open(path, true, blk_done);
	if (bc == NULL) {
		free(mem);
		unlink(path);
		free(path);
		SKIP("/tmp does not take O_DIRECT");
	}
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){ mem + (size_t)i * SZ, SZ };
		br[i] = (struct blockif_req){ .br_op = BLOCKIF_READ, .br_iov = &iov[i],
		    .br_iovcnt = 1, .br_offset = (uint64_t)(i % 64) * SZ };
		br[i].br_error = -1;
		blockif_submit(bc, &br[i]);
	}
	blockif_quiesce(bc);
	memset(mem, 0xa5, (size_t)N * SZ);
	CHECK(blk_wait(N));
	CHECK_EQ(got.n, N);
	for (int i = 0; i < N; i++) {
		if (br[i].br_error == 0)
			ok++;
		else if (br[i].br_error == ECANCELED)
			canceled++;
	}
	CHECK_MSG(ok + canceled == N, "%d done, %d canceled of %d", ok, canceled, N);
	for (size_t i = 0; i < (size_t)N * SZ; i++) {
		if (mem[i] != 0xa5) {
			CHECK_MSG(false, "byte %zu written after blockif_quiesce returned", i);
			break;
		}
	}
	/* And the backend still works. */
	CHECK_EQ(blk_run(bc, &br[0]), 0);
	blockif_close(bc);
	free(mem);
	unlink(path);
	free(path);
}

/* Close with requests in flight: they are dropped, never completed later. */
/* The backend holds at most 32768 requests (block.c's BLOCKIF_MAXREQ) until
 * the device has their completions: the one past it completes at once with
 * EBUSY; once the completions are handed over, requests are taken again. */
#define BLK_MAXREQ	32768
static int blk_ebusy;
static struct blockif_req *blk_ebusy_req;

static void blk_done_count(void *arg, struct blockif_req *list)
{
	(void)arg;
	for (; list != NULL; list = list->br_next) {
		got.n++;
		if (list->br_error == EBUSY) {
			blk_ebusy++;
			blk_ebusy_req = list;
		}
	}
}

static void block_holds_at_most_32768_requests(void)
{
	char *path = make_temp_file(65536, 9);
	struct blockif_req *r = calloc(BLK_MAXREQ + 1, sizeof(*r));
	struct blockif *bc = NULL;
	struct timespec t0, t1;

	REQUIRE(path != NULL && r != NULL);
	blk_ebusy = 0;
	blk_ebusy_req = NULL;
	bc = blk_open(path, false, blk_done_count);
	REQUIRE(bc != NULL);
	/* Empty reads, which the workers finish at once; the event loop does not
	 * run meanwhile, so none is handed back. */
	for (int i = 0; i <= BLK_MAXREQ; i++) {
		r[i].br_op = BLOCKIF_READ;
		blockif_submit(bc, &r[i]);
	}
	/* Up to 60 s, however many polls that takes: while the workers are still
	 * finishing them, each poll returns at once with a few. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		mevent_poll(10);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (got.n < BLK_MAXREQ + 1 && t1.tv_sec - t0.tv_sec < 60);
	CHECK_MSG(got.n == BLK_MAXREQ + 1, "%d of %d completed in %ld ms", got.n, BLK_MAXREQ + 1,
	    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	CHECK_EQ(blk_ebusy, 1);
	CHECK(blk_ebusy_req == &r[BLK_MAXREQ]);
	got.n = 0;
	r[0].br_error = -1;
	blockif_submit(bc, &r[0]);
	CHECK(blk_wait(1));
	CHECK_EQ(r[0].br_error, 0);
	CHECK_EQ(blk_ebusy, 1);
	blockif_close(bc);
	unlink(path);
	free(path);
	free(r);
}

static void block_close_drops_requests_in_flight(void)
{
	enum { N = 32, SZ = 65536 };
	char *path = make_temp_file(2u << 20, 10);
	uint8_t *mem = malloc((size_t)N * SZ);
	struct iovec iov[N];
	struct blockif_req br[N];
	struct blockif *bc;

	REQUIRE(path != NULL && mem != NULL);
	got.late = false;
	bc = blk_open(path, false, blk_done_after_close);
	REQUIRE(bc != NULL);
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){ mem + (size_t)i * SZ, SZ };
		br[i] = (struct blockif_req){ .br_op = i % 2 ? BLOCKIF_READ : BLOCKIF_WRITE,
		    .br_iov = &iov[i], .br_iovcnt = 1, .br_offset = (uint64_t)i * SZ };
		blockif_submit(bc, &br[i]);
	}
	blockif_close(bc);
	for (int i = 0; i < 20; i++)
		mevent_poll(5);
	CHECK(!got.late);
	free(mem);
	unlink(path);
	free(path);
}

/* Plugged, io_uring holds the requests back and hands them over at unplug. */
static void block_plug_batches_until_unplug(void)
{
	enum { N = 8, SZ = 4096 };
	char *path = make_temp_file(65536, 11);
	uint8_t *mem = calloc(N, SZ), want[SZ];
	struct iovec iov[N];
	struct blockif_req br[N];
	struct blockif *bc;

	REQUIRE(path != NULL && mem != NULL);
	bc = blk_open(path, false, blk_done);
	REQUIRE(bc != NULL);
	blockif_plug(bc);
	blockif_plug(bc);			/* plugs nest */
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){ mem + i * SZ, SZ };
		br[i] = (struct blockif_req){ .br_op = BLOCKIF_READ, .br_iov = &iov[i],
		    .br_iovcnt = 1, .br_offset = (uint64_t)i * SZ };
		blockif_submit(bc, &br[i]);
	}
	for (int i = 0; i < 10; i++)
		mevent_poll(5);
	CHECK_EQ(got.n, 0);
	blockif_unplug(bc);
	for (int i = 0; i < 10; i++)
		mevent_poll(5);
	CHECK_EQ(got.n, 0);
	blockif_unplug(bc);
	REQUIRE(blk_wait(N));
	for (int i = 0; i < N; i++) {
		CHECK_EQ(br[i].br_error, 0);
		REQUIRE(test_file_read(path, (uint64_t)i * SZ, want, SZ));
		CHECK(memcmp(mem + i * SZ, want, SZ) == 0);
	}
	blockif_close(bc);
	free(mem);
	unlink(path);
	free(path);
}

/* ---- the passes ---- */

struct blk_test {
	const char *name;
	test_fn fn;
};
#define T(fn) { #fn, fn }

static const struct blk_test device_tests[] = {
	T(virtio_blk_pci_ids_and_config_space),
	T(virtio_blk_write_then_read_back),
	T(virtio_blk_many_requests_in_flight),
	T(virtio_blk_adjacent_requests_complete_each_chain),
	T(virtio_blk_flush_completes_ok),
	T(virtio_blk_write_cache_follows_flush_and_wce),
	T(virtio_blk_get_id_returns_serial),
	T(virtio_blk_ro_refuses_writes),
	T(virtio_blk_discard_and_write_zeroes_zero_the_range),
	T(virtio_blk_out_of_range_is_ioerr),
	T(virtio_blk_malformed_requests_keep_the_device_running),
	T(virtio_blk_more_in_flight_than_the_queue_needs_reset),
	T(virtio_blk_reset_with_requests_in_flight),
	T(virtio_blk_cleanup),
};

static const struct blk_test backend_tests[] = {
	T(block_engine_is_the_one_asked_for),
	T(block_read_past_a_shrunk_image_is_eio),
	T(block_nocache_requests_in_flight),
	T(block_quiesce_leaves_buffers_alone),
	T(block_close_drops_requests_in_flight),
	T(block_holds_at_most_32768_requests),
};

static const char *skip_why;

static void skipped(void)
{
	SKIP("%s", skip_why);
}

void suite_virtio_blk(void)
{
	static const struct {
		const char *label, *engine;
		int max_iov, eagain_every;
	} passes[] = {
		{ "threads", "threads", 0, 0 },
		{ "uring", "uring", 0, 0 },
		{ "uring-short", "uring", 1, 3 },
	};
	char name[128], why[128];
	bool have_uring = uring_available(why, sizeof(why));

	skip_why = why;
	for (size_t p = 0; p < nitems(passes); p++) {
		bool uring = strcmp(passes[p].engine, "uring") == 0;

		engine = passes[p].engine;
		blk_engine = uring ? BLOCKIF_ENGINE_URING : BLOCKIF_ENGINE_THREADS;
		for (size_t i = 0; i < nitems(device_tests); i++) {
			snprintf(name, sizeof(name), "%s[%s]", device_tests[i].name, passes[p].label);
			blockif_uring_test_max_iov = passes[p].max_iov;
			blockif_uring_test_eagain_every = passes[p].eagain_every;
			test_run(name, uring && !have_uring ? skipped : device_tests[i].fn, true);
			blockif_uring_test_max_iov = blockif_uring_test_eagain_every = 0;
		}
		if (p == 2)
			continue;
		for (size_t i = 0; i < nitems(backend_tests); i++) {
			snprintf(name, sizeof(name), "%s[%s]", backend_tests[i].name, passes[p].label);
			test_run(name, uring && !have_uring ? skipped : backend_tests[i].fn, true);
		}
	}
	blk_engine = BLOCKIF_ENGINE_URING;
	test_run("block_short_transfers_are_finished[uring]",
	    have_uring ? block_short_transfers_are_finished : skipped, true);
	test_run("block_plug_batches_until_unplug[uring]",
	    have_uring ? block_plug_batches_until_unplug : skipped, true);
	RUN_DEV(virtio_blk_bad_configs_are_refused);
}
