/* nvme (bhyve/devices/nvme.c), driven as an NVMe driver drives it: registers
 * through BAR0, queues and data buffers in a fake guest RAM, completions of the
 * image-backed namespace pumped through the main event loop.
 *
 * Devices (made by hand, as test_virtio_blk.c does, outside the PCI slot table):
 *   img: a 1 MiB image, 512-byte sectors, ser and eui64 given, engine=threads;
 *   nod: a 1 MiB image, sectsz=4096, dsm=disable, maxq=2;
 *   ram: ram=4 (MiB), maxq=4, qsz=64.
 * They live until the process exits and are disabled and unmapped at the end. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"
#include "test.h"

#define IMG_SIZE	(1u << 20)
#define RAM_SIZE	(8u << 20)
#define ASQ_GPA		0x10000		/* 64 entries each */
#define ACQ_GPA		0x11000
#define IOSQ_GPA	0x12000
#define IOCQ_GPA	0x14000
#define LIST_GPA	0x20000		/* PRP lists */
#define DATA_GPA	0x100000	/* write buffers */
#define RBUF_GPA	0x400000	/* read buffers */
#define QN		64

/* Status values as the completion entry's bits 31:17 hold them (SC | SCT << 8 | DNR). */
#define S_OK		0x0000
#define S_INV_OPC	0x4001
#define S_INV_FIELD	0x4002
#define S_XFER		0x0004
#define S_INV_NS	0x400b
#define S_PRP_OFF	0x4013
#define S_LBA_RANGE	0x4080
#define S_CQ_INVALID	0x4100
#define S_INV_QID	0x4101
#define S_INV_QSIZE	0x4102
#define S_INV_DELETE	0x410c
#define S_INV_LOG	0x4109
#define S_NONE		0xffff		/* no completion arrived */

struct nvdev {
	struct pci_devinst *pi;
	char *path;
	uint64_t bar;
};
static struct nvdev img, nod, ramd;
static uint8_t *ram;
static int node_seq;

/* The driver's view of its queues. */
static struct drv {
	struct nvdev *d;
	uint16_t sqt[2], cqh[2];
	bool phase[2];
	uint16_t cid;
	uint32_t dw0;
} drv;

static bool dev_make(struct nvdev *d, int slot, const char *opts, uint8_t seed)
{
	char node[32], all[512];

	if (d->pi != NULL)
		return true;
	if (opts[0] != 'r') {
		if (d->path == NULL)
			d->path = make_temp_file(IMG_SIZE, seed);
		if (d->path == NULL)
			return false;
		snprintf(all, sizeof(all), "%s,%s", d->path, opts);
	} else {
		snprintf(all, sizeof(all), "%s", opts);
	}
	snprintf(node, sizeof(node), "nvme_test.%d", node_seq++);
	d->pi = unit_pci_create("nvme", slot, node, all);
	if (d->pi == NULL)
		return false;
	d->bar = d->pi->pi_bar[0].addr;
	return true;
}

static bool setup(void)
{
	if (ram == NULL)
		ram = aligned_alloc(4096, RAM_SIZE);
	if (ram == NULL)
		return false;
	fake_vm_set_ram(fx_ctx, ram, RAM_SIZE);
	return dev_make(&img, 12, "ser=NVME-UNIT-1,eui64=0x0102030405060708,engine=threads", 1) &&
	    dev_make(&nod, 13, "sectsz=4096,dsm=disable,maxq=2", 2) &&
	    dev_make(&ramd, 14, "ram=4,maxq=4,qsz=64", 3);
}

static uint32_t rd32(uint64_t off)
{
	return (uint32_t)mmio_in(drv.d->bar + off, 4);
}

static uint64_t rd64(uint64_t off)
{
	return mmio_in(drv.d->bar + off, 8);
}

static void wr32(uint64_t off, uint32_t v)
{
	mmio_out(drv.d->bar + off, 4, v);
}

static void wr64(uint64_t off, uint64_t v)
{
	mmio_out(drv.d->bar + off, 8, v);
}

/* Disables d, then enables it with 64-entry admin queues at asq/acq. */
static bool ctrl_enable_at(struct nvdev *d, uint64_t asq, uint64_t acq)
{
	drv = (struct drv){ .d = d, .phase = { true, true } };
	wr32(0x14, 0);
	memset(ram + ASQ_GPA, 0, 0x8000);
	wr32(0x24, (QN - 1) << 16 | (QN - 1));
	wr64(0x28, asq);
	wr64(0x30, acq);
	wr32(0x14, 1 | 6 << 16 | 4 << 20);
	return (rd32(0x1c) & 3) == 1;
}

static bool ctrl_enable(struct nvdev *d)
{
	return ctrl_enable_at(d, ASQ_GPA, ACQ_GPA);
}

struct sqe {
	uint8_t opc;
	uint8_t flags;
	uint32_t nsid;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13;
};

static uint8_t *sq_entry(int q)
{
	return ram + (q == 0 ? ASQ_GPA : IOSQ_GPA) + 64 * (size_t)drv.sqt[q];
}

static uint8_t *cq_entry(int q)
{
	return ram + (q == 0 ? ACQ_GPA : IOCQ_GPA) + 16 * (size_t)drv.cqh[q];
}

static void put_sqe(int q, const struct sqe *c)
{
	uint8_t *e = sq_entry(q);

	memset(e, 0, 64);
	e[0] = c->opc;
	e[1] = c->flags;
	le_put(e + 2, ++drv.cid, 2);
	le_put(e + 4, c->nsid, 4);
	le_put(e + 24, c->prp1, 8);
	le_put(e + 32, c->prp2, 8);
	le_put(e + 40, c->cdw10, 4);
	le_put(e + 44, c->cdw11, 4);
	le_put(e + 48, c->cdw12, 4);
	le_put(e + 52, c->cdw13, 4);
	drv.sqt[q] = (uint16_t)((drv.sqt[q] + 1) % QN);
}

static bool cqe_ready(int q)
{
	return ((le_get(cq_entry(q) + 12, 4) >> 16) & 1) == drv.phase[q];
}

/* Waits (5 s at most) for the next completion on q; its status or S_NONE, and
 * its command ID in *cid. */
static uint16_t reap_cid(int q, uint16_t *cid)
{
	uint8_t *e;
	uint16_t st;

	for (int i = 0; i < 500 && !cqe_ready(q); i++)
		mevent_poll(10);
	if (!cqe_ready(q))
		return S_NONE;
	e = cq_entry(q);
	st = (uint16_t)(le_get(e + 12, 4) >> 17);
	drv.dw0 = (uint32_t)le_get(e, 4);
	*cid = (uint16_t)le_get(e + 12, 2);
	CHECK_EQ(le_get(e + 10, 2), q);		/* SQ identifier */
	drv.cqh[q] = (uint16_t)((drv.cqh[q] + 1) % QN);
	if (drv.cqh[q] == 0)
		drv.phase[q] = !drv.phase[q];
	wr32(0x1000 + 8 * (uint64_t)q + 4, drv.cqh[q]);
	return st;
}

/* The next completion on q, which must be for the last command sent. */
static uint16_t reap(int q)
{
	uint16_t cid = 0, st = reap_cid(q, &cid);

	if (st != S_NONE)
		CHECK_EQ(cid, drv.cid);
	return st;
}

/* Completions ready on q now, without waiting. */
static int cqes_ready(int q)
{
	int n = 0;
	uint16_t h = drv.cqh[q];
	bool ph = drv.phase[q];
	uint8_t *base = ram + (q == 0 ? ACQ_GPA : IOCQ_GPA);

	while (((le_get(base + 16 * (size_t)h + 12, 4) >> 16) & 1) == ph && n < QN) {
		n++;
		h = (uint16_t)((h + 1) % QN);
		if (h == 0)
			ph = !ph;
	}
	return n;
}

static uint16_t run(int q, const struct sqe *c)
{
	put_sqe(q, c);
	wr32(0x1000 + 8 * (uint64_t)q, drv.sqt[q]);
	return reap(q);
}

static uint16_t admin(const struct sqe *c)
{
	return run(0, c);
}

static bool io_queues(void)
{
	struct sqe cq = { .opc = 0x05, .prp1 = IOCQ_GPA, .cdw10 = (QN - 1) << 16 | 1, .cdw11 = 1 };
	struct sqe sq = { .opc = 0x01, .prp1 = IOSQ_GPA, .cdw10 = (QN - 1) << 16 | 1,
	    .cdw11 = 1 << 16 | 1 };

	memset(ram + IOSQ_GPA, 0, 0x8000);
	drv.sqt[1] = drv.cqh[1] = 0;
	drv.phase[1] = true;
	return admin(&cq) == S_OK && admin(&sq) == S_OK;
}

static uint16_t rw(uint8_t opc, uint64_t slba, uint32_t nlb, uint64_t prp1, uint64_t prp2)
{
	struct sqe c = { .opc = opc, .nsid = 1, .prp1 = prp1, .prp2 = prp2,
	    .cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32), .cdw12 = nlb - 1 };

	return run(1, &c);
}

static uint16_t identify(uint32_t cns, uint32_t nsid, uint64_t buf)
{
	struct sqe c = { .opc = 0x06, .nsid = nsid, .prp1 = buf, .cdw10 = cns };

	return admin(&c);
}

static bool file_matches(const char *path, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *buf = malloc(len);
	int fd = open(path, O_RDONLY);
	bool ok = buf != NULL && fd >= 0 && pread(fd, buf, len, (off_t)off) == (ssize_t)len &&
	    memcmp(buf, want, len) == 0;

	if (fd >= 0)
		close(fd);
	free(buf);
	return ok;
}

/* ---- tests ---- */

static void nvme_pci_identity_and_bars(void)
{
	struct pci_devinst *pi;

	REQUIRE(setup());
	pi = img.pi;
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_VENDOR), 0xfb5d);
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_DEVICE), 0x0a0a);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_CLASS), 0x01);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_SUBCLASS), 0x08);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_PROGIF), 0x02);
	CHECK_EQ(pi->pi_bar[0].type, PCIBAR_MEM64);
	CHECK(pi->pi_bar[0].size >= 0x1000 + 8 * 17);
	CHECK_EQ(pi->pi_msix.table_count, 17);		/* maxq + 1 */
	CHECK_EQ(pi->pi_msix.table_bar, 4);
	CHECK_EQ(ramd.pi->pi_msix.table_count, 5);
	CHECK_STR(pi->pi_d->pe_fwname, "nvme");
}

static void nvme_enable_sets_ready_and_disable_clears_it(void)
{
	uint64_t cap;

	REQUIRE(setup());
	drv.d = &img;
	cap = rd64(0x00);
	CHECK_EQ(cap & 0xffff, 2057);			/* MQES: qsz 2058 */
	CHECK(cap & (1ULL << 16));			/* contiguous queues required */
	CHECK(cap & (1ULL << 37));			/* NVM command set */
	CHECK_EQ((cap >> 32) & 0xf, 0);			/* doorbell stride */
	CHECK_EQ(rd32(0x08), 0x00010400);
	CHECK(ctrl_enable(&img));
	CHECK_EQ(rd64(0x28), ASQ_GPA);
	wr32(0x14, 0);
	CHECK_EQ(rd32(0x1c), 0);
	drv.d = &ramd;
	CHECK_EQ(rd64(0x00) & 0xffff, 63);		/* qsz=64 */
	/* Shutdown is reported complete: at once for RAM, after a flush for an image. */
	CHECK(ctrl_enable(&ramd));
	wr32(0x14, 1 | 6 << 16 | 4 << 20 | 1 << 14);
	CHECK_EQ((rd32(0x1c) >> 2) & 3, 2);
	wr32(0x14, 0);
	CHECK_EQ(rd32(0x1c), 0);
	CHECK(ctrl_enable(&img));
	REQUIRE(io_queues());
	for (int i = 0; i < 4; i++)
		put_sqe(1, &(struct sqe){ .opc = 0x01, .nsid = 1, .prp1 = DATA_GPA,
		    .cdw10 = 8 * (uint32_t)i, .cdw12 = 7 });
	wr32(0x1000 + 8, drv.sqt[1]);
	wr32(0x14, 1 | 6 << 16 | 4 << 20 | 1 << 14);
	for (int i = 0; i < 500 && ((rd32(0x1c) >> 2) & 3) != 2; i++)
		mevent_poll(10);
	CHECK_EQ((rd32(0x1c) >> 2) & 3, 2);
	CHECK_EQ(cqes_ready(1), 4);			/* the writes finished first */
	wr32(0x14, 0);
	CHECK_EQ(rd32(0x1c), 0);
}

static void nvme_identify_controller_and_namespace(void)
{
	uint8_t *d = ram + RBUF_GPA;

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&img));
	memset(d, 0xee, 4096);
	CHECK_EQ(identify(1, 0, RBUF_GPA), S_OK);
	CHECK_EQ(le_get(d, 2), 0xfb5d);
	CHECK(memcmp(d + 4, "NVME-UNIT-1         ", 20) == 0);
	CHECK(memcmp(d + 24, "bhyve-NVMe", 10) == 0);
	CHECK_EQ(d[77], 9);				/* MDTS: 2 MiB */
	CHECK_EQ(le_get(d + 80, 4), 0x00010400);
	CHECK_EQ(d[512], 0x66);
	CHECK_EQ(d[513], 0x44);
	CHECK_EQ(le_get(d + 516, 4), 1);		/* one namespace */
	CHECK_EQ(le_get(d + 520, 2), 0x0c);		/* DSM and Write Zeroes */
	CHECK_EQ(d[525] & 1, 1);			/* a volatile write cache */
	CHECK_EQ(le_get(d + 536, 4), 0);		/* no SGLs */
	memset(d, 0xee, 4096);
	CHECK_EQ(identify(0, 1, RBUF_GPA), S_OK);
	CHECK_EQ(le_get(d, 8), IMG_SIZE / 512);		/* NSZE */
	CHECK_EQ(le_get(d + 8, 8), IMG_SIZE / 512);	/* NCAP */
	CHECK_EQ(d[25], 0);				/* one LBA format */
	CHECK_EQ(d[26] & 0xf, 0);
	CHECK_EQ(le_get(d + 128, 4), 9 << 16);		/* 512-byte blocks, no metadata */
	CHECK_EQ(be_get(d + 120, 8), 0x0102030405060708ULL);
	CHECK_EQ(d[33], 0x09);				/* DLFEAT: zeros; Write Zeroes may deallocate */
	/* The active namespace list and the identification descriptors. */
	CHECK_EQ(identify(2, 0, RBUF_GPA), S_OK);
	CHECK_EQ(le_get(d, 4), 1);
	CHECK_EQ(le_get(d + 4, 4), 0);
	CHECK_EQ(identify(2, 1, RBUF_GPA), S_OK);
	CHECK_EQ(le_get(d, 4), 0);
	CHECK_EQ(identify(3, 1, RBUF_GPA), S_OK);
	CHECK_EQ(d[0], 1);
	CHECK_EQ(d[1], 8);
	CHECK_EQ(be_get(d + 4, 8), 0x0102030405060708ULL);
	CHECK_EQ(identify(0, 2, RBUF_GPA), S_INV_NS);
	CHECK_EQ(identify(0x10, 0, RBUF_GPA), S_INV_FIELD);
	/* 4096-byte sectors; no DSM when dsm=disable. */
	REQUIRE(ctrl_enable(&nod));
	CHECK_EQ(identify(0, 1, RBUF_GPA), S_OK);
	CHECK_EQ(le_get(d, 8), IMG_SIZE / 4096);
	CHECK_EQ(le_get(d + 128, 4), 12 << 16);
	CHECK_EQ(be_get(d + 120, 8) >> 40, 0x589cfc);	/* the default: bhyve's OUI */
	CHECK_EQ(identify(1, 0, RBUF_GPA), S_OK);
	CHECK_EQ(le_get(d + 520, 2), 0x08);
	CHECK(memcmp(d + 4, "NVME-13-0 ", 10) == 0);	/* bhyve's default serial */
	wr32(0x14, 0);
}

static void nvme_number_of_queues_answers_per_maxq(void)
{
	struct sqe set = { .opc = 0x09, .cdw10 = 0x07, .cdw11 = 31 << 16 | 31 };
	struct sqe get = { .opc = 0x0a, .cdw10 = 0x07 };

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&ramd));
	CHECK_EQ(admin(&get), S_OK);
	CHECK_EQ(drv.dw0, 3 << 16 | 3);
	CHECK_EQ(admin(&set), S_OK);
	CHECK_EQ(drv.dw0, 3 << 16 | 3);			/* maxq=4 */
	set.cdw11 = 0;
	CHECK_EQ(admin(&set), S_OK);
	CHECK_EQ(drv.dw0, 0);				/* one of each, as asked */
	/* Only queue 1 exists now. */
	{
		struct sqe cq = { .opc = 0x05, .prp1 = IOCQ_GPA, .cdw10 = 3 << 16 | 2, .cdw11 = 1 };

		CHECK_EQ(admin(&cq), S_INV_QID);
	}
	REQUIRE(io_queues());
	set.cdw11 = 1;
	CHECK_EQ(admin(&set), 0x400c);			/* after queues exist: sequence error */
	set.cdw11 = 0xffff;
	CHECK_EQ(admin(&set), S_INV_FIELD);
	/* The other features answer and keep what was set. */
	set.cdw10 = 0x06;
	set.cdw11 = 0;
	get.cdw10 = 0x06;
	CHECK_EQ(admin(&set), S_OK);
	CHECK_EQ(admin(&get), S_OK);
	CHECK_EQ(drv.dw0, 0);
	set.cdw10 = 0x04;
	set.cdw11 = 350;
	get.cdw10 = 0x04;
	get.cdw11 = 0;
	CHECK_EQ(admin(&set), S_OK);
	CHECK_EQ(admin(&get), S_OK);
	CHECK_EQ(drv.dw0, 350);
	for (uint32_t fid = 1; fid <= 0x0b; fid++) {
		get.cdw10 = fid;
		get.cdw11 = 0;
		CHECK_EQ(admin(&get), fid == 3 ? S_INV_FIELD : S_OK);
	}
	set.cdw10 = 0x09;
	set.cdw11 = 5;					/* vector 5: only 0..4 exist */
	CHECK_EQ(admin(&set), S_INV_FIELD);
	set.cdw10 = 0x80000001;				/* saving is not offered */
	CHECK_EQ(admin(&set), 0x410d);
	wr32(0x14, 0);
}

/* WRITE through PRP1 only, PRP1+PRP2, and a PRP list; the image and READ agree. */
static void nvme_write_read_back_through_prps(void)
{
	uint8_t *w = ram + DATA_GPA, *r = ram + RBUF_GPA;
	uint8_t *list = ram + LIST_GPA;

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&img));
	REQUIRE(io_queues());
	/* 512 bytes at an offset inside the page. */
	test_pattern(w + 0x100, 512, 1);
	CHECK_EQ(rw(0x01, 3, 1, DATA_GPA + 0x100, 0), S_OK);
	CHECK(file_matches(img.path, 3 * 512, w + 0x100, 512));
	memset(r, 0, 512);
	CHECK_EQ(rw(0x02, 3, 1, RBUF_GPA, 0), S_OK);
	CHECK(memcmp(r, w + 0x100, 512) == 0);
	/* 8 KiB: PRP1 and PRP2 both data pages (PRP2 not after PRP1). */
	test_pattern(w, 4096, 2);
	test_pattern(w + 0x3000, 4096, 3);
	CHECK_EQ(rw(0x01, 16, 16, DATA_GPA, DATA_GPA + 0x3000), S_OK);
	CHECK(file_matches(img.path, 16 * 512, w, 4096));
	CHECK(file_matches(img.path, 24 * 512, w + 0x3000, 4096));
	memset(r, 0, 0x10000);
	CHECK_EQ(rw(0x02, 16, 16, RBUF_GPA + 0x8000, RBUF_GPA), S_OK);
	CHECK(memcmp(r + 0x8000, w, 4096) == 0 && memcmp(r, w + 0x3000, 4096) == 0);
	/* 64 KiB through a PRP list of scattered pages, PRP1 starting mid-page. */
	test_pattern(w + 0x10000 + 0x200, 0x1000 - 0x200, 4);
	for (int i = 0; i < 16; i++) {
		le_put(list + 8 * i, DATA_GPA + 0x20000 + 0x2000 * (uint64_t)i, 8);
		test_pattern(w + 0x20000 + 0x2000 * (size_t)i, 4096, 5 + (uint32_t)i);
	}
	CHECK_EQ(rw(0x01, 100, 128, DATA_GPA + 0x10200, LIST_GPA), S_OK);
	CHECK(file_matches(img.path, 100 * 512, w + 0x10200, 0xe00));
	for (int i = 0; i < 15; i++)
		CHECK(file_matches(img.path, 100 * 512 + 0xe00 + 4096 * (uint64_t)i,
		    w + 0x20000 + 0x2000 * (size_t)i, 4096));
	CHECK(file_matches(img.path, 100 * 512 + 0xe00 + 4096 * 15, w + 0x20000 + 0x2000 * 15, 0x200));
	/* Read it back into one contiguous buffer through a list of contiguous pages. */
	for (int i = 0; i < 16; i++)
		le_put(list + 8 * i, RBUF_GPA + 0x1000 * (uint64_t)(i + 1), 8);
	memset(r, 0, 0x20000);
	CHECK_EQ(rw(0x02, 100, 128, RBUF_GPA + 0x200, LIST_GPA), S_OK);
	CHECK(memcmp(r + 0x200, w + 0x10200, 0xe00) == 0);
	CHECK(memcmp(r + 0x1000, w + 0x20000, 4096) == 0);
	CHECK(memcmp(r + 0x1000 * 16, w + 0x20000 + 0x2000 * 15, 0x200) == 0);
	wr32(0x14, 0);
}

/* A 2 MiB (MDTS) transfer needs a chained PRP list; the RAM namespace serves it. */
static void nvme_ram_namespace_and_chained_prp_list(void)
{
	uint8_t *w = ram + DATA_GPA, *r = ram + RBUF_GPA, *list = ram + LIST_GPA;
	uint64_t pages = 512;

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&ramd));
	REQUIRE(io_queues());
	test_pattern(w, 2u << 20, 9);
	/* PRP1 is page 0; pages 1..511 go in a list that starts 16 bytes into its
	 * page: 509 entries there, the 510th chains to a second list page. */
	for (int pass = 0; pass < 2; pass++) {
		uint64_t base = pass == 0 ? DATA_GPA : RBUF_GPA;

		for (uint64_t i = 1; i < pages; i++) {
			uint64_t k = i - 1;

			le_put(k < 509 ? list + 16 + 8 * k : list + 0x1000 + 8 * (k - 509),
			    base + 0x1000 * i, 8);
		}
		le_put(list + 16 + 8 * 509, LIST_GPA + 0x1000, 8);
		if (pass == 0) {
			CHECK_EQ(rw(0x01, 10, 512, DATA_GPA, LIST_GPA + 16), S_OK);
		} else {
			memset(r, 0, 2u << 20);
			CHECK_EQ(rw(0x02, 10, 512, RBUF_GPA, LIST_GPA + 16), S_OK);
			CHECK(memcmp(r, w, 2u << 20) == 0);
		}
	}
	/* A chain pointer that is not page aligned. */
	le_put(list + 16 + 8 * 509, LIST_GPA + 0x1008, 8);
	CHECK_EQ(rw(0x02, 10, 512, RBUF_GPA, LIST_GPA + 16), S_PRP_OFF);
	/* One block more than MDTS is refused. */
	CHECK_EQ(rw(0x02, 10, 513, RBUF_GPA, LIST_GPA), S_INV_FIELD);
	/* The last block, and one past the end. */
	CHECK_EQ(rw(0x02, 1023, 1, RBUF_GPA, 0), S_OK);
	CHECK_EQ(rw(0x02, 1023, 2, RBUF_GPA, 0), S_LBA_RANGE);
	wr32(0x14, 0);
}

static void nvme_flush_dsm_and_write_zeroes(void)
{
	uint8_t *w = ram + DATA_GPA, *r = ram + RBUF_GPA, *rg = ram + LIST_GPA;
	struct sqe flush = { .opc = 0x00, .nsid = 1 };
	struct sqe dsm = { .opc = 0x09, .nsid = 1, .prp1 = LIST_GPA, .cdw10 = 2, .cdw11 = 1 << 2 };
	struct sqe wz = { .opc = 0x08, .nsid = 1, .cdw10 = 300, .cdw12 = 7 };

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&img));
	REQUIRE(io_queues());
	CHECK_EQ(run(1, &flush), S_OK);
	flush.nsid = 0xffffffff;			/* every namespace */
	CHECK_EQ(run(1, &flush), S_OK);
	test_pattern(w, 0x8000, 7);
	/* Three ranges: 8 blocks at 200, an empty one, 8 blocks at 300 (after writing). */
	CHECK_EQ(rw(0x01, 200, 8, DATA_GPA, 0), S_OK);
	CHECK_EQ(rw(0x01, 300, 8, DATA_GPA + 0x1000, 0), S_OK);
	memset(rg, 0, 64);
	le_put(rg + 4, 8, 4);
	le_put(rg + 8, 200, 8);
	le_put(rg + 16 + 8, 250, 8);			/* zero length: nothing */
	le_put(rg + 32 + 4, 8, 4);
	le_put(rg + 32 + 8, 300, 8);
	CHECK_EQ(run(1, &dsm), S_OK);
	memset(r, 0xaa, 8192);
	CHECK_EQ(rw(0x02, 200, 8, RBUF_GPA, 0), S_OK);
	CHECK_EQ(rw(0x02, 300, 8, RBUF_GPA + 4096, 0), S_OK);
	CHECK(test_all_zero(r, 8192));
	/* A range past the end fails the command. */
	le_put(rg + 8, 2047, 8);
	CHECK_EQ(run(1, &dsm), S_LBA_RANGE);
	/* Write Zeroes: 8 blocks at 300 after writing them again. */
	CHECK_EQ(rw(0x01, 300, 8, DATA_GPA, 0), S_OK);
	CHECK(file_matches(img.path, 300 * 512, w, 4096));
	CHECK_EQ(run(1, &wz), S_OK);
	memset(r, 0xaa, 4096);
	CHECK_EQ(rw(0x02, 300, 8, RBUF_GPA, 0), S_OK);
	CHECK(test_all_zero(r, 4096));
	wz.cdw10 = 2045;
	CHECK_EQ(run(1, &wz), S_LBA_RANGE);
	/* dsm=disable: DSM is not offered. */
	REQUIRE(ctrl_enable(&nod));
	REQUIRE(io_queues());
	le_put(rg + 8, 0, 8);
	CHECK_EQ(run(1, &dsm), S_INV_OPC);
	wr32(0x14, 0);
	drv.d = &img;
	wr32(0x14, 0);
}

static void nvme_smart_and_other_log_pages(void)
{
	uint8_t *d = ram + RBUF_GPA;
	struct sqe log = { .opc = 0x02, .nsid = 0xffffffff, .prp1 = RBUF_GPA,
	    .cdw10 = 127u << 16 | 0x02 };

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&img));
	REQUIRE(io_queues());
	CHECK_EQ(rw(0x02, 0, 8, DATA_GPA, 0), S_OK);
	CHECK_EQ(rw(0x01, 0, 8, DATA_GPA, 0), S_OK);
	memset(d, 0xee, 4096);
	CHECK_EQ(admin(&log), S_OK);
	CHECK_EQ(le_get(d + 1, 2), 296);		/* composite temperature, K */
	CHECK_EQ(d[3], 100);				/* available spare */
	CHECK(le_get(d + 32, 8) >= 1);			/* data units read */
	CHECK(le_get(d + 48, 8) >= 1);			/* data units written */
	CHECK(le_get(d + 64, 8) >= 1);			/* read commands */
	CHECK(le_get(d + 80, 8) >= 1);			/* write commands */
	CHECK_EQ(d[600], 0xee);				/* 512 bytes asked, 512 written */
	log.cdw10 = 15u << 16 | 0x01;			/* error information */
	CHECK_EQ(admin(&log), S_OK);
	CHECK(test_all_zero(d, 64));
	log.cdw10 = 127u << 16 | 0x03;			/* firmware slots */
	CHECK_EQ(admin(&log), S_OK);
	CHECK_EQ(d[0], 1);
	CHECK(memcmp(d + 8, "1.0     ", 8) == 0);
	log.cdw10 = 127u << 16 | 0x7f;
	CHECK_EQ(admin(&log), S_INV_LOG);
	log.cdw10 = 127u << 16 | 0x02;
	log.cdw12 = 1024;				/* offset past the page */
	CHECK_EQ(admin(&log), S_INV_FIELD);
	wr32(0x14, 0);
}

/* Every queue-management check answers with its own status. */
static void nvme_queue_management_errors(void)
{
	struct sqe c;

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&ramd));
	c = (struct sqe){ .opc = 0x05, .prp1 = IOCQ_GPA, .cdw10 = 7 << 16 | 5, .cdw11 = 1 };
	CHECK_EQ(admin(&c), S_INV_QID);			/* maxq=4 */
	c.cdw10 = 7 << 16 | 0;
	CHECK_EQ(admin(&c), S_INV_QID);			/* the admin queue's id */
	c.cdw10 = 64u << 16 | 1;
	CHECK_EQ(admin(&c), S_INV_QSIZE);		/* 65 entries > MQES + 1 */
	c.cdw10 = 0 << 16 | 1;
	CHECK_EQ(admin(&c), S_INV_QSIZE);		/* one entry */
	c.cdw10 = 7 << 16 | 1;
	c.cdw11 = 0;
	CHECK_EQ(admin(&c), S_INV_FIELD);		/* not physically contiguous */
	c.cdw11 = 1 | 9u << 16;
	CHECK_EQ(admin(&c), 0x4108);			/* interrupt vector 9 of 5 */
	c.cdw11 = 1;
	c.prp1 = IOCQ_GPA + 0x10;
	CHECK_EQ(admin(&c), S_PRP_OFF);
	c.prp1 = RAM_SIZE;
	CHECK_EQ(admin(&c), S_INV_FIELD);		/* outside RAM */
	c = (struct sqe){ .opc = 0x01, .prp1 = IOSQ_GPA, .cdw10 = 7 << 16 | 1, .cdw11 = 2 << 16 | 1 };
	CHECK_EQ(admin(&c), S_CQ_INVALID);		/* CQ 2 does not exist */
	REQUIRE(io_queues());
	CHECK_EQ(admin(&c), S_INV_QID);			/* SQ 1 exists already */
	c = (struct sqe){ .opc = 0x04, .cdw10 = 1 };
	CHECK_EQ(admin(&c), S_INV_DELETE);		/* SQ 1 still completes there */
	c = (struct sqe){ .opc = 0x00, .cdw10 = 3 };
	CHECK_EQ(admin(&c), S_INV_QID);			/* no SQ 3 */
	c.cdw10 = 0;
	CHECK_EQ(admin(&c), S_INV_QID);			/* the admin queue */
	c.cdw10 = 1;
	CHECK_EQ(admin(&c), S_OK);
	c.opc = 0x04;
	CHECK_EQ(admin(&c), S_OK);			/* now the CQ can go */
	CHECK_EQ(admin(&c), S_INV_QID);
	c = (struct sqe){ .opc = 0x80 };		/* Format NVM: not offered */
	CHECK_EQ(admin(&c), S_INV_OPC);
	c = (struct sqe){ .opc = 0xc1 };
	CHECK_EQ(admin(&c), S_INV_OPC);
	c = (struct sqe){ .opc = 0x06, .flags = 0x40, .prp1 = RBUF_GPA, .cdw10 = 1 };
	CHECK_EQ(admin(&c), S_INV_FIELD);		/* an SGL */
	c = (struct sqe){ .opc = 0x08, .cdw10 = 1 | 5u << 16 };
	CHECK_EQ(admin(&c), S_OK);			/* Abort: nothing aborted */
	CHECK_EQ(drv.dw0 & 1, 1);
	wr32(0x14, 0);
}

/* A hostile driver: bad PRPs, sizes, LBAs, queues and doorbells fail their
 * command or are ignored; the controller keeps working. */
static void nvme_malicious_commands_fail_cleanly(void)
{
	uint8_t *list = ram + LIST_GPA;
	struct sqe c;

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&img));
	REQUIRE(io_queues());
	CHECK_EQ(rw(0x02, 0, 1, RAM_SIZE, 0), S_XFER);			/* PRP1 outside RAM */
	CHECK_EQ(rw(0x02, 0, 1, RAM_SIZE - 256, RAM_SIZE), S_XFER);	/* runs past its end */
	CHECK_EQ(rw(0x02, 0, 1, 0xfffffffffffff000ULL, 0), S_XFER);
	CHECK_EQ(rw(0x02, 0, 1, DATA_GPA + 2, 0), S_PRP_OFF);		/* not dword aligned */
	CHECK_EQ(rw(0x02, 0, 16, DATA_GPA, DATA_GPA + 0x1100), S_PRP_OFF);	/* PRP2 mid-page */
	CHECK_EQ(rw(0x02, 0, 16, DATA_GPA, RAM_SIZE + 0x1000), S_XFER);	/* PRP2 outside RAM */
	le_put(list, DATA_GPA + 0x1000, 8);
	le_put(list + 8, (uint64_t)RAM_SIZE + 0x10000, 8);
	CHECK_EQ(rw(0x02, 0, 24, DATA_GPA, LIST_GPA), S_XFER);		/* list entry outside RAM */
	le_put(list + 8, DATA_GPA + 0x2008, 8);
	CHECK_EQ(rw(0x02, 0, 24, DATA_GPA, LIST_GPA), S_PRP_OFF);	/* misaligned entry */
	CHECK_EQ(rw(0x02, 0, 24, DATA_GPA, LIST_GPA + 4), S_PRP_OFF);	/* misaligned list */
	le_put(ram + RAM_SIZE - 8, RAM_SIZE, 8);
	CHECK_EQ(rw(0x02, 0, 24, DATA_GPA, RAM_SIZE - 8), S_XFER);	/* list chains off RAM */
	CHECK_EQ(rw(0x02, 0, 4097, DATA_GPA, LIST_GPA), S_INV_FIELD);	/* past MDTS */
	CHECK_EQ(rw(0x02, 2048, 1, DATA_GPA, 0), S_LBA_RANGE);
	CHECK_EQ(rw(0x01, 2040, 9, DATA_GPA, LIST_GPA), S_LBA_RANGE);
	CHECK_EQ(rw(0x02, 0xffffffffffffffffULL, 2, DATA_GPA, 0), S_LBA_RANGE);	/* wraps */
	CHECK_EQ(rw(0x7f, 0, 1, DATA_GPA, 0), S_INV_OPC);
	c = (struct sqe){ .opc = 0x02, .nsid = 2, .prp1 = DATA_GPA };
	CHECK_EQ(run(1, &c), S_INV_NS);
	c.nsid = 0;
	CHECK_EQ(run(1, &c), S_INV_NS);
	c = (struct sqe){ .opc = 0x02, .nsid = 1, .flags = 0x40, .prp1 = DATA_GPA };
	CHECK_EQ(run(1, &c), S_INV_FIELD);				/* SGL */
	/* Doorbells: beyond maxq, past a queue's end, of a queue never made. */
	wr32(0x1000 + 8 * 17, 1);
	wr32(0x1000 + 8 * 200, 1);
	wr32(0x1000 + 8 * 1, 1000);
	wr32(0x1000 + 8 * 2, 1);
	wr32(0x1000 + 8 * 2 + 4, 1);
	mmio_out(img.bar + 0x1002, 2, 1);
	CHECK_EQ(rd32(0x1c), 1);					/* ready, no CFS */
	/* Still working. */
	CHECK_EQ(rw(0x02, 0, 1, DATA_GPA, 0), S_OK);
	/* Commands on a deleted queue: never fetched, never completed. */
	c = (struct sqe){ .opc = 0x00, .cdw10 = 1 };
	CHECK_EQ(admin(&c), S_OK);
	put_sqe(1, &(struct sqe){ .opc = 0x02, .nsid = 1, .prp1 = DATA_GPA });
	wr32(0x1000 + 8, drv.sqt[1]);
	mevent_poll(10);
	CHECK(!cqe_ready(1));
	CHECK_EQ(identify(1, 0, RBUF_GPA), S_OK);
	CHECK_EQ(identify(1, 0, RAM_SIZE), S_XFER);			/* data off RAM's end */
	CHECK_EQ(rd32(0x1c), 1);
	wr32(0x14, 0);
}

static void nvme_admin_queue_outside_ram_is_fatal_status(void)
{
	REQUIRE(setup());
	CHECK(!ctrl_enable_at(&img, RAM_SIZE, ACQ_GPA));
	CHECK_EQ(rd32(0x1c) & 3, 2);				/* CFS, not ready */
	CHECK(!ctrl_enable_at(&img, ASQ_GPA, RAM_SIZE));
	CHECK_EQ(rd32(0x1c) & 3, 2);
	CHECK(!ctrl_enable_at(&img, 0xfffffffffffff000ULL, ACQ_GPA));
	CHECK_EQ(rd32(0x1c) & 3, 2);
	wr32(0x1000, 1);					/* doorbells ignored */
	/* Unsupported page size: fatal too. */
	drv.d = &img;
	wr32(0x14, 0);
	wr32(0x14, 1 | 1 << 7);
	CHECK_EQ(rd32(0x1c) & 3, 2);
	/* A reset clears it and the controller comes up. */
	CHECK(ctrl_enable(&img));
	CHECK_EQ(identify(1, 0, RBUF_GPA), S_OK);
	wr32(0x14, 0);
}

/* Completions raise the CQ's MSI-X vector, one per doorbell batch. */
static void nvme_msix_vector_per_completion_queue(void)
{
	struct pci_devinst *pi;
	struct sqe cq = { .opc = 0x05, .prp1 = IOCQ_GPA, .cdw10 = (QN - 1) << 16 | 1,
	    .cdw11 = 3 | 2u << 16 };
	struct sqe sq = { .opc = 0x01, .prp1 = IOSQ_GPA, .cdw10 = (QN - 1) << 16 | 1,
	    .cdw11 = 1 << 16 | 1 };
	const struct fake_msi *m;

	REQUIRE(setup());
	pi = ramd.pi;
	REQUIRE(ctrl_enable(&ramd));
	pi->pi_msix.enabled = true;
	for (int i = 0; i < pi->pi_msix.table_count; i++) {
		pi->pi_msix.table[i].addr = 0xfee00000;
		pi->pi_msix.table[i].data = 0x40 + (uint32_t)i;
		pi->pi_msix.table[i].vector_control = 0;
	}
	fake_reset_msi();
	memset(ram + IOSQ_GPA, 0, 0x8000);
	CHECK_EQ(admin(&cq), S_OK);
	m = fake_last_msi();
	CHECK(m != NULL && m->msg == 0x40);			/* the admin queue: vector 0 */
	CHECK_EQ(admin(&sq), S_OK);
	fake_reset_msi();
	/* Three reads in one doorbell: one interrupt, vector 2. */
	for (int i = 0; i < 3; i++)
		put_sqe(1, &(struct sqe){ .opc = 0x02, .nsid = 1, .prp1 = RBUF_GPA, .cdw10 = (uint32_t)i });
	wr32(0x1000 + 8, drv.sqt[1]);
	CHECK_EQ(fake_vmm.nmsi, 1);
	m = fake_last_msi();
	CHECK(m != NULL && m->msg == 0x42);
	pi->pi_msix.enabled = false;
	for (int i = 0; i < pi->pi_msix.table_count; i++)
		pi->pi_msix.table[i].vector_control = 1;
	wr32(0x14, 0);
}

/* INTx (neither MSI nor MSI-X on): asserted while a completion queue with
 * interrupts enabled holds entries, dropped by its head doorbell, held back by
 * INTMS and let through by INTMC. */
static void nvme_intx_follows_completion_queues(void)
{
	struct pci_devinst *pi;
	struct sqe id = { .opc = 0x06, .prp1 = RBUF_GPA, .cdw10 = 1 };

	REQUIRE(setup());
	pi = ramd.pi;
	REQUIRE(!pci_msix_enabled(pi) && !pci_msi_enabled(pi));
	REQUIRE(ctrl_enable(&ramd));
	CHECK(!pi->pi_lintr.asserted);
	put_sqe(0, &id);
	wr32(0x1000, drv.sqt[0]);
	CHECK(pi->pi_lintr.asserted);
	CHECK_EQ(reap(0), S_OK);			/* the head doorbell */
	CHECK(!pi->pi_lintr.asserted);
	wr32(0x0c, 1);					/* INTMS */
	CHECK_EQ(rd32(0x0c), 1);
	put_sqe(0, &id);
	wr32(0x1000, drv.sqt[0]);
	CHECK(!pi->pi_lintr.asserted);
	wr32(0x10, 1);					/* INTMC */
	CHECK_EQ(rd32(0x0c), 0);
	CHECK(pi->pi_lintr.asserted);
	CHECK_EQ(reap(0), S_OK);
	CHECK(!pi->pi_lintr.asserted);
	wr32(0x14, 0);
	CHECK(!pi->pi_lintr.asserted);
}

/* 40 reads in one doorbell with ioslots=8: the queue waits for free slots and
 * every command completes, once. */
static void nvme_more_commands_than_ioslots_all_complete(void)
{
	bool seen[64] = { false };
	uint16_t first, cid;

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&img));
	REQUIRE(io_queues());
	first = (uint16_t)(drv.cid + 1);
	for (int i = 0; i < 40; i++)
		put_sqe(1, &(struct sqe){ .opc = 0x02, .nsid = 1, .prp1 = RBUF_GPA + 0x1000 * (uint64_t)i,
		    .cdw10 = 8 * (uint32_t)i, .cdw12 = 7 });
	wr32(0x1000 + 8, drv.sqt[1]);
	for (int i = 0; i < 40; i++) {
		CHECK_EQ(reap_cid(1, &cid), S_OK);
		REQUIRE((uint16_t)(cid - first) < 40);
		CHECK(!seen[cid - first]);
		seen[cid - first] = true;
	}
	CHECK_EQ(cqes_ready(1), 0);
	wr32(0x14, 0);
}

/* Delete I/O SQ with commands in the block layer completes after them. */
static void nvme_delete_sq_waits_for_its_commands(void)
{
	struct sqe del = { .opc = 0x00, .cdw10 = 1 };

	REQUIRE(setup());
	REQUIRE(ctrl_enable(&img));
	REQUIRE(io_queues());
	for (int i = 0; i < 8; i++)
		put_sqe(1, &(struct sqe){ .opc = 0x02, .nsid = 1, .prp1 = RBUF_GPA + 0x10000 * (uint64_t)i,
		    .cdw10 = 128 * (uint32_t)i, .cdw12 = 127 });
	wr32(0x1000 + 8, drv.sqt[1]);
	CHECK_EQ(admin(&del), S_OK);
	CHECK_EQ(cqes_ready(1), 8);			/* all of them before the delete */
	wr32(0x14, 0);
}

/* Clearing CC.EN with commands in flight quiesces the block layer; their
 * completions are dropped, and every slot comes back for the next enable. */
static void nvme_reset_with_commands_in_flight(void)
{
	uint16_t cid;

	REQUIRE(setup());
	for (int round = 0; round < 3; round++) {
		REQUIRE(ctrl_enable(&img));
		REQUIRE(io_queues());
		for (int i = 0; i < 8; i++)
			put_sqe(1, &(struct sqe){ .opc = i % 2 ? 0x01 : 0x02, .nsid = 1,
			    .prp1 = RBUF_GPA + 0x10000 * (uint64_t)i, .cdw10 = 128 * (uint32_t)i,
			    .cdw12 = 127 });
		wr32(0x1000 + 8, drv.sqt[1]);
		wr32(0x14, 0);
		CHECK_EQ(rd32(0x1c), 0);
		for (int i = 0; i < 20; i++)
			mevent_poll(5);
	}
	/* All eight slots are free again: eight reads in one doorbell complete. */
	REQUIRE(ctrl_enable(&img));
	REQUIRE(io_queues());
	for (int i = 0; i < 8; i++)
		put_sqe(1, &(struct sqe){ .opc = 0x02, .nsid = 1, .prp1 = RBUF_GPA, .cdw10 = (uint32_t)i });
	wr32(0x1000 + 8, drv.sqt[1]);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(reap_cid(1, &cid), S_OK);
	wr32(0x14, 0);
}

/* Devices the config tests made: kept reachable, unmapped at the end. */
static struct pci_devinst *extra[8];
static size_t nextra;

static bool nvme_refused(const char *opts)
{
	char node[32];
	struct pci_devinst *pi;

	snprintf(node, sizeof(node), "nvme_test.%d", node_seq++);
	pi = unit_pci_create("nvme", 29, node, opts);
	if (pi != NULL && nextra < nitems(extra))
		extra[nextra++] = pi;
	return pi == NULL;
}

static void nvme_bad_configs_are_refused(void)
{
	char *img2 = make_temp_file(4096, 4), *odd = make_temp_file(1000, 5);
	char o[4200];
	static const char *const bad[] = {
		"maxq=0", "maxq=2048", "maxq=x", "qsz=1", "qsz=65537", "ioslots=0",
		"ioslots=100000", "sectsz=1024", "sectsz=4095", "ser=123456789012345678901",
		"eui64=xyz", "eui64=0x1ffffffffffffffff", "dsm=maybe", "ro=perhaps",
		"bootindex=x", "engine=aio", "frobnicate", "colour=red",
	};

	REQUIRE(img2 != NULL && odd != NULL);
	CHECK(nvme_refused(""));				/* no path, no ram */
	CHECK(nvme_refused("/nonexistent/disk.img"));
	CHECK(nvme_refused("/tmp"));
	CHECK(nvme_refused(odd));				/* not whole sectors */
	CHECK(nvme_refused("ram=0"));
	CHECK(nvme_refused("ram=x"));
	snprintf(o, sizeof(o), "%s,ram=4", img2);
	CHECK(nvme_refused(o));				/* both */
	for (size_t i = 0; i < nitems(bad); i++) {
		snprintf(o, sizeof(o), "%s,%s", img2, bad[i]);
		CHECK_MSG(nvme_refused(o), "accepted \"%s\"", bad[i]);
	}
	/* Good forms (made, then left alone: they have no queues). */
	snprintf(o, sizeof(o), "%s,maxq=1,qsz=2,ioslots=1,sectsz=4096,ser=ABC,eui64=7,dsm=enable,"
	    "direct,ro,bootindex=3", img2);
	CHECK(!nvme_refused(o));
	CHECK(!nvme_refused("ram=1,dsm=auto,sectsz=512"));
	CHECK(pci_parse_slot("29,nvme,/tmp/x.img,bogus=1") != 0);
	unset_config_value("pci.0.29.0.device");
	unset_config_value("pci.0.29.0.path");
	unset_config_value("pci.0.29.0.bogus");
	unlink(img2);
	unlink(odd);
	free(img2);
	free(odd);
}

static void nvme_cleanup(void)
{
	struct nvdev *all[] = { &img, &nod, &ramd };

	for (size_t i = 0; i < nitems(all); i++) {
		struct nvdev *d = all[i];

		if (d->pi != NULL) {
			mmio_out(d->bar + 0x14, 4, 0);	/* quiesces the block layer */
			unit_pci_remove(d->pi);
		}
		if (d->path != NULL) {
			unlink(d->path);
			free(d->path);
			d->path = NULL;
		}
	}
	for (size_t i = 0; i < nextra; i++)
		unit_pci_remove(extra[i]);
	for (int i = 0; i < 10; i++)
		mevent_poll(1);
	if (fx_ctx != NULL)
		fake_vm_set_ram(fx_ctx, NULL, 0);
	free(ram);
	ram = NULL;
}

void suite_nvme(void)
{
	RUN_DEV(nvme_pci_identity_and_bars);
	RUN_DEV(nvme_enable_sets_ready_and_disable_clears_it);
	RUN_DEV(nvme_identify_controller_and_namespace);
	RUN_DEV(nvme_number_of_queues_answers_per_maxq);
	RUN_DEV(nvme_write_read_back_through_prps);
	RUN_DEV(nvme_ram_namespace_and_chained_prp_list);
	RUN_DEV(nvme_flush_dsm_and_write_zeroes);
	RUN_DEV(nvme_smart_and_other_log_pages);
	RUN_DEV(nvme_queue_management_errors);
	RUN_DEV(nvme_malicious_commands_fail_cleanly);
	RUN_DEV(nvme_admin_queue_outside_ram_is_fatal_status);
	RUN_DEV(nvme_msix_vector_per_completion_queue);
	RUN_DEV(nvme_intx_follows_completion_queues);
	RUN_DEV(nvme_more_commands_than_ioslots_all_complete);
	RUN_DEV(nvme_delete_sq_waits_for_its_commands);
	RUN_DEV(nvme_reset_with_commands_in_flight);
	RUN_DEV(nvme_bad_configs_are_refused);
	RUN_DEV(nvme_cleanup);
}
