/* ahci, ahci-hd, ahci-cd (bhyve/devices/ahci.c) driven as an AHCI driver drives
 * them: temporary images, command lists, FIS areas, command tables and buffers in
 * a fake guest RAM, registers written through the device's BAR handlers and
 * completions pumped through the main event loop.
 *
 * As in test_virtio_blk.c the devices are made by hand outside the fixture's
 * PCI bus (nominal slots 11, 19, 27 share slot 3's PIRQ pin) and live until the
 * process exits; each ends with an HBA reset so no backend request outlives the
 * test's RAM. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "mevent.h"
#include "pci_emul.h"
#include "test.h"

#define IMG_SIZE	(1u << 20)
#define NSECT		(IMG_SIZE / 512)
#define ISO_BLOCKS	64
#define RAM_SIZE	(4u << 20)
#define CLB_GPA(p)	(0x10000 + 0x400 * (uint64_t)(p))	/* port p's command list */
#define FB_GPA(p)	(0x20000 + 0x100 * (uint64_t)(p))	/* port p's FIS area */
#define CT_GPA(s)	(0x30000 + 0x1000 * (uint64_t)(s))	/* slot s's command table */
#define DATA_GPA	0x100000				/* buffers, 1 MiB on */
#define OUTSIDE		0x7fff0000ULL				/* not guest RAM */

#define PX(p, r)	(0x100 + 0x80 * (p) + (r))
#define P_CLB	0x00
#define P_CLBU	0x04
#define P_FB	0x08
#define P_IS	0x10
#define P_IE	0x14
#define P_CMD	0x18
#define P_TFD	0x20
#define P_SIG	0x24
#define P_SSTS	0x28
#define P_SCTL	0x2c
#define P_SERR	0x30
#define P_SACT	0x34
#define P_CI	0x38

struct ahcidev {
	struct pci_devinst *pi;
	char *img, *iso;
};
/* mix: port 0 a disk (ser, model, rev, nmrr=1), port 1 a CD-ROM;
 * nd: ahci-hd with nodelete,sectorsize=512/4096 on the worker threads (the others
 * take the default engine, io_uring where the kernel allows it); big: ahci-hd,
 * sectorsize=4096,ro. */
static struct ahcidev mix, nd, big;
static uint8_t *ram;
static int node_seq;

static bool dev_make(struct ahcidev *d, const char *emu, int slot, const char *fmt, uint8_t seed)
{
	char opts[512], node[32];

	if (d->pi != NULL)
		return true;
	if (d->img == NULL)
		d->img = make_temp_file(IMG_SIZE, seed);
	if (d->iso == NULL)
		d->iso = make_temp_file(ISO_BLOCKS * 2048, (uint8_t)(seed + 100));
	if (d->img == NULL || d->iso == NULL)
		return false;
	snprintf(opts, sizeof(opts), fmt, d->img, d->iso);
	snprintf(node, sizeof(node), "ahci_test.%d", node_seq++);
	d->pi = unit_pci_create(emu, slot, node, opts);
	return d->pi != NULL;
}

static bool setup(void)
{
	if (ram == NULL)
		ram = aligned_alloc(4096, RAM_SIZE);
	if (ram == NULL)
		return false;
	fake_vm_set_ram(fx_ctx, ram, RAM_SIZE);
	return dev_make(&mix, "ahci", 11,
	    "hd:%s,ser=SER123,model=Test Model,rev=R1,nmrr=1,cd:%s", 1) &&
	    dev_make(&nd, "ahci-hd", 19, "%s,nodelete,sectorsize=512/4096,engine=threads%.0s", 2) &&
	    dev_make(&big, "ahci-hd", 27, "%s,sectorsize=4096,ro%.0s", 3);
}

static uint32_t rd(struct pci_devinst *pi, int off)
{
	return (uint32_t)pi->pi_d->pe_barread(pi, 5, (uint64_t)off, 4);
}

static void wr(struct pci_devinst *pi, int off, uint32_t v)
{
	pi->pi_d->pe_barwrite(pi, 5, (uint64_t)off, 4, v);
}

/* HBA reset, then port p with its command list and FIS area, started. */
static void port_start(struct pci_devinst *pi, int p)
{
	wr(pi, 0x04, 1);			/* GHC.HR */
	memset(ram + CLB_GPA(p), 0, 0x400);
	memset(ram + FB_GPA(p), 0, 0x100);
	wr(pi, PX(p, P_CLB), (uint32_t)CLB_GPA(p));
	wr(pi, PX(p, P_CLBU), 0);
	wr(pi, PX(p, P_FB), (uint32_t)FB_GPA(p));
	wr(pi, PX(p, P_SERR), ~0u);
	wr(pi, PX(p, P_IS), ~0u);
	wr(pi, PX(p, P_CMD), 1u << 4);		/* FRE */
	wr(pi, PX(p, P_CMD), 1u << 4 | 1u << 0);	/* FRE, ST */
}

/* An H2D register FIS. */
static void h2d(uint8_t *f, uint8_t cmd, uint16_t feat, uint64_t lba, uint16_t count)
{
	memset(f, 0, 20);
	f[0] = 0x27;
	f[1] = 0x80;
	f[2] = cmd;
	f[3] = (uint8_t)feat;
	le_put(f + 4, lba, 3);
	f[7] = 0x40;
	le_put(f + 8, lba >> 24, 3);
	f[11] = (uint8_t)(feat >> 8);
	le_put(f + 12, count, 2);
}

struct prd {
	uint64_t gpa;
	uint32_t len;
};

/* Slot s of port p: header and table for cfis (and a packet), with PRDs. */
static void put_cmd(int p, int s, const uint8_t *cfis, const uint8_t *acmd, bool write,
    const struct prd *prd, int nprd)
{
	uint8_t *h = ram + CLB_GPA(p) + 32 * (size_t)s, *t = ram + CT_GPA(s);

	memset(h, 0, 32);
	le_put(h, 5u | (acmd ? 1u << 5 : 0) | (write ? 1u << 6 : 0) | (uint32_t)nprd << 16, 4);
	le_put(h + 4, 0xdeadbeef, 4);		/* PRDBC: the device sets it */
	le_put(h + 8, CT_GPA(s), 8);
	memset(t, 0, 0x80);
	memcpy(t, cfis, 20);
	if (acmd != NULL)
		memcpy(t + 0x40, acmd, 16);
	for (int i = 0; i < nprd; i++) {
		le_put(t + 0x80 + 16 * (size_t)i, prd[i].gpa, 8);
		le_put(t + 0x80 + 16 * (size_t)i + 8, 0, 4);
		le_put(t + 0x80 + 16 * (size_t)i + 12, prd[i].len - 1, 4);
	}
}

/* Pumps the event loop until reg's bits in mask clear (5 s at most). */
static bool wait_clear(struct pci_devinst *pi, int off, uint32_t mask)
{
	for (int i = 0; i < 500 && (rd(pi, off) & mask) != 0; i++)
		mevent_poll(10);
	return (rd(pi, off) & mask) == 0;
}

/* Issues slot s on port p and waits for it; returns PxTFD (~0 on a timeout). */
static uint32_t issue(struct pci_devinst *pi, int p, int s)
{
	wr(pi, PX(p, P_CI), 1u << s);
	if (!wait_clear(pi, PX(p, P_CI), 1u << s))
		return ~0u;
	return rd(pi, PX(p, P_TFD));
}

/* One command with one buffer of len bytes at DATA_GPA + off; PxTFD. */
static uint32_t run_ata(struct pci_devinst *pi, int p, uint8_t cmd, uint16_t feat, uint64_t lba,
    uint16_t count, uint64_t off, uint32_t len, bool write)
{
	uint8_t f[20];
	struct prd d = { DATA_GPA + off, len };

	h2d(f, cmd, feat, lba, count);
	put_cmd(p, 0, f, NULL, write, &d, len ? 1 : 0);
	return issue(pi, p, 0);
}

/* An ATAPI packet on port p reading into a buffer of len bytes at DATA_GPA. */
static uint32_t run_atapi(struct pci_devinst *pi, int p, const uint8_t *cdb, uint32_t len)
{
	uint8_t f[20], acmd[16] = { 0 };
	struct prd d = { DATA_GPA, len };

	memcpy(acmd, cdb, 12);
	h2d(f, 0xa0, 1, 0, 0);
	put_cmd(p, 0, f, acmd, false, &d, len ? 1 : 0);
	return issue(pi, p, 0);
}

static uint32_t prdbc(int p, int s)
{
	return (uint32_t)le_get(ram + CLB_GPA(p) + 32 * (size_t)s + 4, 4);
}

static uint8_t *data(uint64_t off)
{
	return ram + DATA_GPA + off;
}

/* An ATA string (IDENTIFY words, bytes swapped) into s, trailing spaces cut. */
static void id_string(const uint8_t *id, int word, int len, char *s)
{
	for (int i = 0; i < len; i += 2) {
		s[i] = (char)id[2 * word + i + 1];
		s[i + 1] = (char)id[2 * word + i];
	}
	s[len] = '\0';
	for (int i = len - 1; i >= 0 && s[i] == ' '; i--)
		s[i] = '\0';
}

static uint16_t idw(const uint8_t *id, int w)
{
	return (uint16_t)le_get(id + 2 * w, 2);
}

#define TFD_OK		0x50
#define TFD_ERR(e)	((uint32_t)(e) << 8 | 0x41)

/* ---- tests ---- */

static void ahci_pci_ids_and_hba_registers(void)
{
	struct pci_devinst *pi;
	uint32_t cap;

	REQUIRE(setup());
	pi = mix.pi;
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_VENDOR), 0x8086);
	CHECK_EQ(pci_get_cfgdata16(pi, PCIR_DEVICE), 0x2821);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_CLASS), 0x01);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_SUBCLASS), 0x06);
	CHECK_EQ(pci_get_cfgdata8(pi, PCIR_PROGIF), 0x01);
	CHECK_EQ(pi->pi_bar[5].type, PCIBAR_MEM32);
	CHECK(pi->pi_msi.capoff > 0);
	wr(pi, 0x04, 1);			/* GHC.HR */
	cap = rd(pi, 0x00);
	CHECK_EQ(cap & 0x1f, 1);		/* two ports */
	CHECK_EQ((cap >> 8) & 0x1f, 31);	/* 32 command slots */
	CHECK_EQ(cap & (1u << 31 | 1u << 30 | 1u << 18), 1u << 31 | 1u << 30 | 1u << 18);
	CHECK_EQ(rd(pi, 0x04), 1u << 31);	/* AE, HR done, IE off */
	CHECK_EQ(rd(pi, 0x0c), 3);		/* PI */
	CHECK_EQ(rd(pi, 0x10), 0x10300);	/* AHCI 1.3 */
	CHECK_EQ(rd(pi, PX(0, P_SSTS)), 0x133);
	CHECK_EQ(rd(pi, PX(0, P_SIG)), 0x00000101);
	CHECK_EQ(rd(pi, PX(1, P_SIG)), 0xeb140101);
	CHECK_EQ(rd(pi, PX(0, P_TFD)) & 0x89, 0);	/* neither BSY nor DRQ nor ERR */
	CHECK_EQ(rd(pi, PX(0, P_CMD)) & 0xc011, 0);	/* stopped */
	CHECK_EQ(rd(pi, PX(1, P_CMD)) & (1u << 24), 1u << 24);	/* ATAPI */
	/* Byte reads see the bytes of the dword. */
	CHECK_EQ(pi->pi_d->pe_barread(pi, 5, 0x12, 1), 0x01);
	/* A one-port device: CAP.NP 0, PI 1. */
	CHECK_EQ(rd(nd.pi, 0x00) & 0x1f, 0);
	CHECK_EQ(rd(nd.pi, 0x0c), 1);
	/* Start and stop: CR and FR follow ST and FRE. */
	port_start(pi, 0);
	CHECK_EQ(rd(pi, PX(0, P_CMD)) & 0xc011, 0xc011);
	wr(pi, PX(0, P_CMD), 0);
	CHECK_EQ(rd(pi, PX(0, P_CMD)) & 0xc011, 0);
}

static void ahci_identify_reports_serial_model_and_sizes(void)
{
	char s[41];
	uint8_t *id = data(0);
	uint8_t sum = 0;

	REQUIRE(setup());
	port_start(mix.pi, 0);
	memset(id, 0xee, 512);
	CHECK_EQ(run_ata(mix.pi, 0, 0xec, 0, 0, 0, 0, 512, false), TFD_OK);
	CHECK_EQ(prdbc(0, 0), 512);
	/* SeaBIOS reads the status from the PIO setup FIS, Linux from the D2H. */
	CHECK_EQ(rd(mix.pi, PX(0, P_IS)) & 3, 3);
	CHECK_EQ(ram[FB_GPA(0) + 0x20], 0x5f);
	CHECK_EQ(ram[FB_GPA(0) + 0x22], 0x50);
	CHECK_EQ(ram[FB_GPA(0) + 0x40], 0x34);
	id_string(id, 10, 20, s);
	CHECK_STR(s, "SER123");
	id_string(id, 23, 8, s);
	CHECK_STR(s, "R1");
	id_string(id, 27, 40, s);
	CHECK_STR(s, "Test Model");
	CHECK_EQ(le_get(id + 200, 8), NSECT);	/* words 100-103 */
	CHECK_EQ(le_get(id + 120, 4), NSECT);	/* words 60-61 */
	CHECK_EQ(idw(id, 83) & (1u << 10), 1u << 10);	/* 48-bit */
	CHECK_EQ(idw(id, 75), 31);		/* queue depth 32 */
	CHECK_EQ(idw(id, 76) & (1u << 8), 1u << 8);	/* NCQ */
	CHECK_EQ(idw(id, 169) & 1, 1);		/* TRIM */
	CHECK_EQ(idw(id, 217), 1);		/* nmrr=1: not rotating */
	CHECK_EQ(idw(id, 106), 0x4000);		/* 512/512 */
	for (int i = 0; i < 512; i++)
		sum = (uint8_t)(sum + id[i]);
	CHECK_EQ(sum, 0);
	CHECK_EQ(id[510], 0xa5);

	/* nodelete, 512-byte logical sectors in 4096-byte physical ones. */
	port_start(nd.pi, 0);
	CHECK_EQ(run_ata(nd.pi, 0, 0xec, 0, 0, 0, 0, 512, false), TFD_OK);
	CHECK_EQ(idw(id, 106), 0x6003);
	CHECK_EQ(idw(id, 169) & 1, 0);
	CHECK_EQ(idw(id, 217), 0);
	id_string(id, 27, 40, s);
	CHECK_STR(s, "BHYVE SATA DISK");
	id_string(id, 10, 20, s);
	CHECK(strncmp(s, "BHYVE-", 6) == 0);

	/* 4096-byte logical sectors: words 117-118 count words. */
	port_start(big.pi, 0);
	CHECK_EQ(run_ata(big.pi, 0, 0xec, 0, 0, 0, 0, 512, false), TFD_OK);
	CHECK_EQ(idw(id, 106), 0x5000);
	CHECK_EQ(le_get(id + 234, 4), 2048);
	CHECK_EQ(le_get(id + 200, 8), IMG_SIZE / 4096);

	/* A disk refuses IDENTIFY PACKET DEVICE (SeaBIOS tries it first). */
	CHECK_EQ(run_ata(mix.pi, 0, 0xa1, 0, 0, 0, 0, 512, false), TFD_ERR(0x04));
	CHECK_EQ(rd(mix.pi, PX(0, P_IS)) & (1u << 30), 1u << 30);
	wr(mix.pi, 0x04, 1);
	wr(nd.pi, 0x04, 1);
	wr(big.pi, 0x04, 1);
}

static void ahci_dma_write_then_read_back(void)
{
	uint8_t disk[8192], f[20];
	struct prd two[2] = { { DATA_GPA, 3072 }, { DATA_GPA + 0x10000, 8192 - 3072 } };

	REQUIRE(setup());
	port_start(mix.pi, 0);
	test_pattern(data(0), 3072, 5);
	test_pattern(data(0x10000), 8192 - 3072, 6);
	h2d(f, 0x35, 0, 16, 16);		/* WRITE DMA EXT, LBA 16, 16 sectors */
	put_cmd(0, 0, f, NULL, true, two, 2);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_OK);
	CHECK_EQ(prdbc(0, 0), 8192);
	REQUIRE(test_file_read(mix.img, 16 * 512, disk, sizeof(disk)));
	CHECK(memcmp(disk, data(0), 3072) == 0);
	CHECK(memcmp(disk + 3072, data(0x10000), 8192 - 3072) == 0);

	memset(data(0x20000), 0, sizeof(disk));
	CHECK_EQ(run_ata(mix.pi, 0, 0x25, 0, 16, 16, 0x20000, 8192, false), TFD_OK);
	CHECK(memcmp(data(0x20000), disk, sizeof(disk)) == 0);
	/* The 28-bit READ DMA reads the same. */
	memset(data(0x20000), 0, sizeof(disk));
	CHECK_EQ(run_ata(mix.pi, 0, 0xc8, 0, 16, 16, 0x20000, 8192, false), TFD_OK);
	CHECK(memcmp(data(0x20000), disk, sizeof(disk)) == 0);
	CHECK_EQ(rd(mix.pi, PX(0, P_IS)) & (1u << 30), 0);
	wr(mix.pi, 0x04, 1);
}

static void ahci_ncq_write_then_read_back(void)
{
	uint8_t disk[4096], f[20];
	struct prd w = { DATA_GPA, 4096 }, r = { DATA_GPA + 0x10000, 4096 };

	REQUIRE(setup());
	port_start(mix.pi, 0);
	test_pattern(data(0), 4096, 9);
	/* WRITE FPDMA QUEUED in slot 3: count in the features, tag in the count. */
	h2d(f, 0x61, 8, 100, 3 << 3);
	put_cmd(0, 3, f, NULL, true, &w, 1);
	wr(mix.pi, PX(0, P_SACT), 1u << 3);
	wr(mix.pi, PX(0, P_CI), 1u << 3);
	CHECK_EQ(rd(mix.pi, PX(0, P_CI)) & (1u << 3), 0);	/* accepted at once */
	REQUIRE(wait_clear(mix.pi, PX(0, P_SACT), 1u << 3));
	CHECK_EQ(rd(mix.pi, PX(0, P_TFD)), 0x50);
	CHECK_EQ(rd(mix.pi, PX(0, P_IS)) & (1u << 3), 1u << 3);	/* SDBS */
	CHECK_EQ(ram[FB_GPA(0) + 0x58], 0xa1);
	CHECK_EQ(le_get(ram + FB_GPA(0) + 0x5c, 4), 1u << 3);
	REQUIRE(test_file_read(mix.img, 100 * 512, disk, sizeof(disk)));
	CHECK(memcmp(disk, data(0), sizeof(disk)) == 0);

	/* READ FPDMA QUEUED in slot 7 and 8 together. */
	memset(data(0x10000), 0, 8192);
	h2d(f, 0x60, 8, 100, 7 << 3);
	put_cmd(0, 7, f, NULL, false, &r, 1);
	r.gpa += 4096;
	h2d(f, 0x60, 4, 102, 8 << 3);
	put_cmd(0, 8, f, NULL, false, &r, 1);
	wr(mix.pi, PX(0, P_SACT), 3u << 7);
	wr(mix.pi, PX(0, P_CI), 3u << 7);
	REQUIRE(wait_clear(mix.pi, PX(0, P_SACT), 3u << 7));
	CHECK(memcmp(data(0x10000), disk, 4096) == 0);
	CHECK(memcmp(data(0x11000), disk + 1024, 2048) == 0);
	CHECK_EQ(rd(mix.pi, PX(0, P_TFD)), 0x50);
	/* A tag that is not the slot is refused. */
	h2d(f, 0x60, 1, 0, 5 << 3);
	put_cmd(0, 4, f, NULL, false, &r, 1);
	wr(mix.pi, PX(0, P_SACT), 1u << 4);
	CHECK_EQ(issue(mix.pi, 0, 4), TFD_ERR(0x04));
	wr(mix.pi, 0x04, 1);
}

static void ahci_read_log_reports_the_failed_ncq_command(void)
{
	uint8_t f[20], *d = data(0), sum = 0;
	struct prd b = { DATA_GPA + 0x10000, 512 };

	REQUIRE(setup());
	port_start(mix.pi, 0);
	/* No error yet: log 10h says NQ; the directory lists it. */
	CHECK_EQ(run_ata(mix.pi, 0, 0x2f, 0, 0x00, 1, 0, 512, false), TFD_OK);
	CHECK_EQ(le_get(d, 2), 1);
	CHECK_EQ(le_get(d + 0x20, 2), 1);
	CHECK_EQ(run_ata(mix.pi, 0, 0x2f, 0, 0x10, 1, 0, 512, false), TFD_OK);
	CHECK_EQ(d[0], 0x80);
	/* A queued read past the end in slot 6, then the log names it. */
	h2d(f, 0x60, 2, NSECT - 1, 6 << 3);
	put_cmd(0, 6, f, NULL, false, &b, 1);
	wr(mix.pi, PX(0, P_SACT), 1u << 6);
	CHECK_EQ(issue(mix.pi, 0, 6), TFD_ERR(0x10));
	memset(d, 0xee, 512);
	CHECK_EQ(run_ata(mix.pi, 0, 0x47, 0, 0x10, 1, 0, 512, false), TFD_OK);	/* DMA form */
	CHECK_EQ(d[0], 6);
	CHECK_EQ(d[2], 0x41);
	CHECK_EQ(d[3], 0x10);
	CHECK_EQ(le_get(d + 4, 3), (NSECT - 1) & 0xffffff);
	CHECK_EQ(d[12], 2);
	for (int i = 0; i < 512; i++)
		sum = (uint8_t)(sum + d[i]);
	CHECK_EQ(sum, 0);
	/* Read once: the next read says NQ again; other logs and pages are refused. */
	CHECK_EQ(run_ata(mix.pi, 0, 0x2f, 0, 0x10, 1, 0, 512, false), TFD_OK);
	CHECK_EQ(d[0], 0x80);
	CHECK_EQ(run_ata(mix.pi, 0, 0x2f, 0, 0x10 | 1 << 8, 1, 0, 512, false), TFD_ERR(0x04));
	CHECK_EQ(run_ata(mix.pi, 0, 0x2f, 0, 0x13, 1, 0, 512, false), TFD_ERR(0x04));
	/* IDENTIFY says general purpose logging is there. */
	CHECK_EQ(run_ata(mix.pi, 0, 0xec, 0, 0, 0, 0, 512, false), TFD_OK);
	CHECK_EQ(idw(d, 84) & (1u << 5), 1u << 5);
	wr(mix.pi, 0x04, 1);
}

static void ahci_flush_completes(void)
{
	REQUIRE(setup());
	port_start(mix.pi, 0);
	CHECK_EQ(run_ata(mix.pi, 0, 0xea, 0, 0, 0, 0, 0, false), TFD_OK);
	CHECK_EQ(run_ata(mix.pi, 0, 0xe7, 0, 0, 0, 0, 0, false), TFD_OK);
	/* CHECK POWER MODE: active (count 0xff); SMART is not offered. */
	CHECK_EQ(run_ata(mix.pi, 0, 0xe5, 0, 0, 0, 0, 0, false), TFD_OK);
	CHECK_EQ(ram[FB_GPA(0) + 0x40 + 12], 0xff);
	CHECK_EQ(run_ata(mix.pi, 0, 0xb0, 0xda, 0xc24f00, 0, 0, 0, false), TFD_ERR(0x04));
	CHECK_EQ(run_ata(mix.pi, 0, 0xef, 0x03, 0, 0x46, 0, 0, false), TFD_OK);	/* UDMA 6 */
	CHECK_EQ(run_ata(mix.pi, 0, 0xef, 0x77, 0, 0, 0, 0, false), TFD_ERR(0x04));
	CHECK_EQ(run_ata(mix.pi, 0, 0xc6, 0, 0, 16, 0, 0, false), TFD_OK);
	CHECK_EQ(run_ata(mix.pi, 0, 0xc6, 0, 0, 3, 0, 0, false), TFD_ERR(0x04));
	CHECK_EQ(run_ata(mix.pi, 0, 0x42, 0, 10, 10, 0, 0, false), TFD_OK);
	CHECK_EQ(run_ata(mix.pi, 0, 0xe1, 0, 0, 0, 0, 0, false), TFD_OK);
	wr(mix.pi, 0x04, 1);
}

/* SET FEATURES 82h turns the write cache off: IDENTIFY says so (word 85 bit 5)
 * and every write is on the disk when it completes (no dirty pages left, by
 * cachestat(2)); 02h turns it back on. A queued write with FUA is durable with
 * the cache on. */
static void ahci_write_cache_off_is_write_through(void)
{
	uint8_t *id = data(0x30000), f[20];
	struct prd w = { DATA_GPA, 16384 };
	int fd;

	REQUIRE(setup());
	if (test_dirty_pages(mix.img, 0, IMG_SIZE) < 0) {
		SKIP("cachestat(2) unavailable (Linux 6.5+)");
		return;
	}
	fd = open(mix.img, O_RDONLY);
	REQUIRE(fd >= 0 && fdatasync(fd) == 0);
	close(fd);
	port_start(mix.pi, 0);
	CHECK_EQ(run_ata(mix.pi, 0, 0xec, 0, 0, 0, 0x30000, 512, false), TFD_OK);
	CHECK_EQ(idw(id, 82) & (1u << 5), 1u << 5);
	CHECK_EQ(idw(id, 85) & (1u << 5), 1u << 5);
	/* Cache on: the write may wait in the host's page cache until FLUSH. */
	test_pattern(data(0), 16384, 31);
	CHECK_EQ(run_ata(mix.pi, 0, 0x35, 0, 256, 32, 0, 16384, true), TFD_OK);
	CHECK(test_dirty_pages(mix.img, 256 * 512, 16384) > 0);
	CHECK_EQ(run_ata(mix.pi, 0, 0xe7, 0, 0, 0, 0, 0, false), TFD_OK);
	CHECK_EQ(test_dirty_pages(mix.img, 256 * 512, 16384), 0);
	/* Cache off. */
	CHECK_EQ(run_ata(mix.pi, 0, 0xef, 0x82, 0, 0, 0, 0, false), TFD_OK);
	CHECK_EQ(run_ata(mix.pi, 0, 0xec, 0, 0, 0, 0x30000, 512, false), TFD_OK);
	CHECK_EQ(idw(id, 82) & (1u << 5), 1u << 5);
	CHECK_EQ(idw(id, 85) & (1u << 5), 0);
	test_pattern(data(0), 16384, 32);
	CHECK_EQ(run_ata(mix.pi, 0, 0x35, 0, 256, 32, 0, 16384, true), TFD_OK);
	CHECK_EQ(test_dirty_pages(mix.img, 256 * 512, 16384), 0);
	/* Back on; then a queued write with FUA (device register bit 7). */
	CHECK_EQ(run_ata(mix.pi, 0, 0xef, 0x02, 0, 0, 0, 0, false), TFD_OK);
	CHECK_EQ(run_ata(mix.pi, 0, 0xec, 0, 0, 0, 0x30000, 512, false), TFD_OK);
	CHECK_EQ(idw(id, 85) & (1u << 5), 1u << 5);
	test_pattern(data(0), 16384, 33);
	h2d(f, 0x61, 32, 512, 2 << 3);
	f[7] |= 0x80;
	put_cmd(0, 2, f, NULL, true, &w, 1);
	wr(mix.pi, PX(0, P_SACT), 1u << 2);
	wr(mix.pi, PX(0, P_CI), 1u << 2);
	REQUIRE(wait_clear(mix.pi, PX(0, P_SACT), 1u << 2));
	CHECK_EQ(rd(mix.pi, PX(0, P_TFD)), 0x50);
	CHECK_EQ(test_dirty_pages(mix.img, 512 * 512, 16384), 0);
	wr(mix.pi, 0x04, 1);
}

/* A TRIM range list in DATA_GPA + off: (lba, n) pairs. */
static void put_ranges(uint64_t off, const uint64_t (*r)[2], int n)
{
	memset(data(off), 0, 512);
	for (int i = 0; i < n; i++)
		le_put(data(off) + 8 * i, r[i][0] | r[i][1] << 48, 8);
}

static void ahci_trim_reads_back_zeros(void)
{
	static const uint64_t ranges[][2] = { { 64, 8 }, { 200, 8 } };
	static const uint64_t past[][2] = { { NSECT - 1, 2 } };
	uint8_t disk[4096];

	REQUIRE(setup());
	port_start(mix.pi, 0);
	test_pattern(data(0x10000), 4096, 3);
	CHECK_EQ(run_ata(mix.pi, 0, 0x35, 0, 64, 8, 0x10000, 4096, true), TFD_OK);
	CHECK_EQ(run_ata(mix.pi, 0, 0x35, 0, 200, 8, 0x10000, 4096, true), TFD_OK);
	REQUIRE(test_file_read(mix.img, 64 * 512, disk, 4096));
	CHECK(!test_all_zero(disk, 4096));
	put_ranges(0, ranges, 2);
	CHECK_EQ(run_ata(mix.pi, 0, 0x06, 1, 0, 1, 0, 512, true), TFD_OK);	/* DSM TRIM */
	memset(data(0x20000), 0xff, 4096);
	CHECK_EQ(run_ata(mix.pi, 0, 0x25, 0, 64, 8, 0x20000, 4096, false), TFD_OK);
	CHECK(test_all_zero(data(0x20000), 4096));
	REQUIRE(test_file_read(mix.img, 200 * 512, disk, 4096));
	CHECK(test_all_zero(disk, 4096));
	/* A range past the end, and a DSM without the TRIM bit, are refused. */
	put_ranges(0, past, 1);
	CHECK_EQ(run_ata(mix.pi, 0, 0x06, 1, 0, 1, 0, 512, true), TFD_ERR(0x10));
	CHECK_EQ(run_ata(mix.pi, 0, 0x06, 0, 0, 1, 0, 512, true), TFD_ERR(0x04));

	/* nodelete: TRIM is refused and the data stays. */
	port_start(nd.pi, 0);
	CHECK_EQ(run_ata(nd.pi, 0, 0x35, 0, 64, 8, 0x10000, 4096, true), TFD_OK);
	put_ranges(0, ranges, 1);
	CHECK_EQ(run_ata(nd.pi, 0, 0x06, 1, 0, 1, 0, 512, true), TFD_ERR(0x04));
	REQUIRE(test_file_read(nd.img, 64 * 512, disk, 4096));
	CHECK(memcmp(disk, data(0x10000), 4096) == 0);
	wr(mix.pi, 0x04, 1);
	wr(nd.pi, 0x04, 1);
}

static void atapi_inquiry_capacity_read_toc(void)
{
	static const uint8_t inquiry[12] = { 0x12, 0, 0, 0, 96, 0 };
	static const uint8_t capacity[12] = { 0x25 };
	static const uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 2, 0, 0, 3, 0 };
	static const uint8_t read12[12] = { 0xa8, 0, 0, 0, 0, 60, 0, 0, 0, 4, 0 };
	static const uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 64, 0 };
	static const uint8_t toc_msf[12] = { 0x43, 2, 0, 0, 0, 0, 0, 0, 64, 0 };
	static const uint8_t session[12] = { 0x43, 0, 1, 0, 0, 0, 0, 0, 12, 0 };
	static const uint8_t tur[12] = { 0 };
	static const uint8_t gesn[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0 };
	static const uint8_t getconf[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 32, 0 };
	static const uint8_t sense10[12] = { 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64, 0 };
	uint8_t iso[4 * 2048], *d = data(0);
	char s[41];

	REQUIRE(setup());
	port_start(mix.pi, 1);
	CHECK_EQ(run_atapi(mix.pi, 1, tur, 0), TFD_OK);
	/* IDENTIFY PACKET DEVICE: a removable CD-ROM. */
	CHECK_EQ(run_ata(mix.pi, 1, 0xa1, 0, 0, 0, 0, 512, false), TFD_OK);
	CHECK_EQ(idw(d, 0), 0x85c0);
	id_string(d, 27, 40, s);
	CHECK_STR(s, "BHYVE SATA DVD ROM");
	/* IDENTIFY DEVICE is aborted with the ATAPI signature. */
	CHECK_EQ(run_ata(mix.pi, 1, 0xec, 0, 0, 0, 0, 512, false), TFD_ERR(0x04));
	CHECK_EQ(ram[FB_GPA(1) + 0x40 + 5], 0x14);
	CHECK_EQ(ram[FB_GPA(1) + 0x40 + 6], 0xeb);

	memset(d, 0, 96);
	CHECK_EQ(run_atapi(mix.pi, 1, inquiry, 96), TFD_OK);
	CHECK_EQ(prdbc(1, 0), 36);
	CHECK_EQ(d[0], 0x05);
	CHECK_EQ(d[1], 0x80);
	CHECK(memcmp(d + 8, "BHYVE   ", 8) == 0);
	CHECK_EQ(run_atapi(mix.pi, 1, capacity, 8), TFD_OK);
	CHECK_EQ(be_get(d, 4), ISO_BLOCKS - 1);
	CHECK_EQ(be_get(d + 4, 4), 2048);
	REQUIRE(test_file_read(mix.iso, 0, iso, sizeof(iso)));
	memset(d, 0, sizeof(iso));
	CHECK_EQ(run_atapi(mix.pi, 1, read10, 3 * 2048), TFD_OK);
	CHECK_EQ(prdbc(1, 0), 3 * 2048);
	CHECK(memcmp(d, iso + 2 * 2048, 2 * 2048) == 0);
	REQUIRE(test_file_read(mix.iso, 60 * 2048, iso, sizeof(iso)));
	CHECK_EQ(run_atapi(mix.pi, 1, read12, 4 * 2048), TFD_OK);
	CHECK(memcmp(d, iso, sizeof(iso)) == 0);

	/* TOC: track 1 at 0 and the lead-out at 64, in LBA and MSF form. */
	memset(d, 0xee, 64);
	CHECK_EQ(run_atapi(mix.pi, 1, toc, 64), TFD_OK);
	CHECK_EQ(be_get(d, 2), 18);
	CHECK_EQ(d[2], 1);
	CHECK_EQ(d[3], 1);
	CHECK_EQ(d[6], 1);
	CHECK_EQ(be_get(d + 8, 4), 0);
	CHECK_EQ(d[14], 0xaa);
	CHECK_EQ(be_get(d + 16, 4), ISO_BLOCKS);
	CHECK_EQ(run_atapi(mix.pi, 1, toc_msf, 64), TFD_OK);
	CHECK_EQ(be_get(d + 8, 4), 0x000200);	/* 00:02:00 */
	CHECK_EQ(be_get(d + 16, 4), 0x000240);	/* 64 + 150 frames = 00:02:64 */
	CHECK_EQ(run_atapi(mix.pi, 1, session, 12), TFD_OK);
	CHECK_EQ(be_get(d, 2), 10);
	CHECK_EQ(d[6], 1);
	/* GET EVENT STATUS NOTIFICATION, GET CONFIGURATION, MODE SENSE(10). */
	CHECK_EQ(run_atapi(mix.pi, 1, gesn, 8), TFD_OK);
	CHECK_EQ(d[2], 0x04);
	CHECK_EQ(d[5], 0x02);
	CHECK_EQ(run_atapi(mix.pi, 1, getconf, 32), TFD_OK);
	CHECK_EQ(be_get(d + 6, 2), 0x08);	/* a small disc: CD-ROM */
	CHECK_EQ(run_atapi(mix.pi, 1, sense10, 64), TFD_OK);
	CHECK_EQ(d[8], 0x2a);
	CHECK_EQ(be_get(d, 2), 34);
	wr(mix.pi, 0x04, 1);
}

static void atapi_request_sense_after_error(void)
{
	static const uint8_t past_end[12] = { 0x28, 0, 0, 0, 0x10, 0, 0, 0, 1, 0 };
	static const uint8_t sense[12] = { 0x03, 0, 0, 0, 18, 0 };
	static const uint8_t bad_op[12] = { 0xff };
	static const uint8_t toc_bad[12] = { 0x43, 0, 5, 0, 0, 0, 0, 0, 12, 0 };
	uint8_t *d = data(0);

	REQUIRE(setup());
	port_start(mix.pi, 1);
	CHECK_EQ(run_atapi(mix.pi, 1, past_end, 2048), TFD_ERR(0x50));	/* ILLEGAL REQUEST */
	CHECK_EQ(rd(mix.pi, PX(1, P_IS)) & (1u << 30), 1u << 30);
	memset(d, 0, 18);
	CHECK_EQ(run_atapi(mix.pi, 1, sense, 18), TFD_OK);
	CHECK_EQ(d[0], 0x70);
	CHECK_EQ(d[2], 0x05);
	CHECK_EQ(d[12], 0x21);			/* LBA out of range */
	CHECK_EQ(run_atapi(mix.pi, 1, sense, 18), TFD_OK);
	CHECK_EQ(d[2], 0);			/* reported once */
	CHECK_EQ(run_atapi(mix.pi, 1, bad_op, 0), TFD_ERR(0x50));
	CHECK_EQ(run_atapi(mix.pi, 1, sense, 18), TFD_OK);
	CHECK_EQ(d[12], 0x20);			/* invalid command */
	CHECK_EQ(run_atapi(mix.pi, 1, toc_bad, 12), TFD_ERR(0x50));
	CHECK_EQ(run_atapi(mix.pi, 1, sense, 18), TFD_OK);
	CHECK_EQ(d[12], 0x24);			/* invalid field */
	wr(mix.pi, 0x04, 1);
}

static void ahci_cd_refuses_writes(void)
{
	static const uint8_t write10[12] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	static const uint8_t sense[12] = { 0x03, 0, 0, 0, 18, 0 };
	uint8_t before[2048], after[2048];

	REQUIRE(setup());
	REQUIRE(test_file_read(mix.iso, 0, before, sizeof(before)));
	port_start(mix.pi, 1);
	test_pattern(data(0x10000), 2048, 77);
	CHECK_EQ(run_ata(mix.pi, 1, 0x35, 0, 0, 4, 0x10000, 2048, true), TFD_ERR(0x04));
	CHECK_EQ(run_atapi(mix.pi, 1, write10, 2048), TFD_ERR(0x70));	/* DATA PROTECT */
	CHECK_EQ(run_atapi(mix.pi, 1, sense, 18), TFD_OK);
	CHECK_EQ(data(0)[2], 0x07);
	CHECK_EQ(data(0)[12], 0x27);		/* write protected */
	REQUIRE(test_file_read(mix.iso, 0, after, sizeof(after)));
	CHECK(memcmp(before, after, sizeof(before)) == 0);
	/* A disk opened ro refuses writes too. */
	port_start(big.pi, 0);
	CHECK_EQ(run_ata(big.pi, 0, 0x35, 0, 0, 1, 0x10000, 4096, true), TFD_ERR(0x04));
	wr(mix.pi, 0x04, 1);
	wr(big.pi, 0x04, 1);
}

static void ahci_malicious_commands_fail_alone(void)
{
	uint8_t f[20], *h;
	struct prd out = { OUTSIDE, 4096 }, straddle = { RAM_SIZE - 512, 4096 };
	struct prd shortp = { DATA_GPA, 512 };

	REQUIRE(setup());
	port_start(mix.pi, 0);
	/* PRDT outside guest RAM, and straddling its end. */
	h2d(f, 0x25, 0, 0, 8);
	put_cmd(0, 0, f, NULL, false, &out, 1);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_ERR(0x04));
	put_cmd(0, 0, f, NULL, false, &straddle, 1);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_ERR(0x04));
	/* PRDT shorter than the transfer, and none at all. */
	put_cmd(0, 0, f, NULL, false, &shortp, 1);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_ERR(0x04));
	put_cmd(0, 0, f, NULL, false, NULL, 0);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_ERR(0x04));
	/* LBA past the end, a count running past it, and a 48-bit LBA far out. */
	CHECK_EQ(run_ata(mix.pi, 0, 0x25, 0, NSECT, 1, 0, 512, false), TFD_ERR(0x10));
	CHECK_EQ(run_ata(mix.pi, 0, 0x25, 0, NSECT - 1, 2, 0, 1024, false), TFD_ERR(0x10));
	CHECK_EQ(run_ata(mix.pi, 0, 0x35, 0, 0xffffffffffffULL, 1, 0, 512, true), TFD_ERR(0x10));
	/* Zero count: 65536 sectors, past this small disk. */
	CHECK_EQ(run_ata(mix.pi, 0, 0x25, 0, 0, 0, 0, 512, false), TFD_ERR(0x10));
	/* An NCQ read past the end clears its SActive bit. */
	h2d(f, 0x60, 8, NSECT, 0);
	put_cmd(0, 0, f, NULL, false, &shortp, 1);
	wr(mix.pi, PX(0, P_SACT), 1);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_ERR(0x10));
	CHECK_EQ(rd(mix.pi, PX(0, P_SACT)), 0);
	/* Command table outside RAM, and a PRDT length running past RAM. */
	h2d(f, 0xec, 0, 0, 0);
	put_cmd(0, 0, f, NULL, false, &shortp, 1);
	h = ram + CLB_GPA(0);
	le_put(h + 8, OUTSIDE, 8);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_ERR(0x04));
	le_put(h + 8, RAM_SIZE - 0x80, 8);
	le_put(h, 5 | 0xffffu << 16, 4);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_ERR(0x04));
	/* A FIS shorter than five dwords and one that is not a register FIS. */
	put_cmd(0, 0, f, NULL, false, &shortp, 1);
	le_put(h, 2 | 1u << 16, 4);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_ERR(0x04));
	f[0] = 0x46;
	put_cmd(0, 0, f, NULL, false, &shortp, 1);
	CHECK_EQ(issue(mix.pi, 0, 0), TFD_ERR(0x04));
	/* Unknown commands are aborted. */
	CHECK_EQ(run_ata(mix.pi, 0, 0x00, 0, 0, 0, 0, 0, false), TFD_ERR(0x04));
	CHECK_EQ(run_ata(mix.pi, 0, 0x2f, 0, 0x30, 1, 0, 512, false), TFD_ERR(0x04));	/* log 30h */
	/* After all that the port still works. */
	CHECK_EQ(run_ata(mix.pi, 0, 0xec, 0, 0, 0, 0, 512, false), TFD_OK);
	wr(mix.pi, 0x04, 1);
}

static void ahci_bad_port_setup_stops_the_port(void)
{
	REQUIRE(setup());
	/* CLB outside RAM: starting sets HBFS, commands do not run. */
	wr(mix.pi, 0x04, 1);
	wr(mix.pi, PX(0, P_CLB), 0xfffff000u);
	wr(mix.pi, PX(0, P_CLBU), 0x7f);
	wr(mix.pi, PX(0, P_FB), (uint32_t)FB_GPA(0));
	wr(mix.pi, PX(0, P_CMD), 1u << 4 | 1u << 0);
	CHECK_EQ(rd(mix.pi, PX(0, P_IS)) & (1u << 29), 1u << 29);
	wr(mix.pi, PX(0, P_CI), 1);
	mevent_poll(10);
	/* Cleared ST, a good CLB, started again: it works. */
	wr(mix.pi, PX(0, P_CMD), 1u << 4);
	CHECK_EQ(rd(mix.pi, PX(0, P_CI)), 0);
	wr(mix.pi, PX(0, P_CLB), (uint32_t)CLB_GPA(0));
	wr(mix.pi, PX(0, P_CLBU), 0);
	wr(mix.pi, PX(0, P_CMD), 1u << 4 | 1u << 0);
	CHECK_EQ(run_ata(mix.pi, 0, 0xec, 0, 0, 0, 0, 512, false), TFD_OK);
	/* FB outside RAM. */
	wr(mix.pi, 0x04, 1);
	wr(mix.pi, PX(0, P_CLB), (uint32_t)CLB_GPA(0));
	wr(mix.pi, PX(0, P_FB), (uint32_t)RAM_SIZE);	/* just past RAM */
	wr(mix.pi, PX(0, P_CMD), 1u << 4 | 1u << 0);
	CHECK_EQ(rd(mix.pi, PX(0, P_IS)) & (1u << 29), 1u << 29);
	/* The other port is not affected. */
	port_start(mix.pi, 1);
	CHECK_EQ(run_ata(mix.pi, 1, 0xa1, 0, 0, 0, 0, 512, false), TFD_OK);
	wr(mix.pi, 0x04, 1);
}

static void ahci_bogus_register_accesses_are_ignored(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	REQUIRE(setup());
	port_start(mix.pi, 0);
	/* Every offset of the BAR, every size, junk values; the unimplemented
	 * ports and HBA's reserved registers keep reading 0. */
	for (int i = 0; i < 20000; i++) {
		int sizes[] = { 1, 2, 4, 8 };
		uint64_t off = (x >> 11) % 0x2100;
		int size = sizes[(x >> 3) & 3];

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		if (off >= 0x100 && off < 0x200 && (off & 0x7f) == P_CMD)
			continue;		/* keep port 0's ST/FRE as they are */
		if ((x >> 60) & 1)
			mix.pi->pi_d->pe_barwrite(mix.pi, 5, off, size, x);
		else
			(void)mix.pi->pi_d->pe_barread(mix.pi, 5, off, size);
		mevent_poll(0);
	}
	CHECK_EQ(rd(mix.pi, PX(5, P_SIG)), 0);
	CHECK_EQ(rd(mix.pi, 0x1000), 0);
	for (int i = 0; i < 50; i++)
		mevent_poll(10);
	/* A reset brings the device back. */
	port_start(mix.pi, 0);
	CHECK_EQ(run_ata(mix.pi, 0, 0xec, 0, 0, 0, 0, 512, false), TFD_OK);
	wr(mix.pi, 0x04, 1);
}

static void ahci_reset_quiesces_the_backend(void)
{
	uint8_t f[20];
	struct prd d = { DATA_GPA, 65536 };

	REQUIRE(setup());
	port_start(mix.pi, 0);
	/* 32 reads in flight, then an HBA reset: nothing completes into RAM after it. */
	for (int s = 0; s < 32; s++) {
		h2d(f, 0x60, 128, 0, (uint16_t)(s << 3));
		put_cmd(0, s, f, NULL, false, &d, 1);
	}
	wr(mix.pi, PX(0, P_SACT), ~0u);
	wr(mix.pi, PX(0, P_CI), ~0u);
	wr(mix.pi, 0x04, 1);
	CHECK_EQ(rd(mix.pi, PX(0, P_SACT)), 0);
	CHECK_EQ(rd(mix.pi, PX(0, P_CI)), 0);
	memset(data(0), 0xab, 65536);
	for (int i = 0; i < 20; i++)
		mevent_poll(10);
	CHECK_EQ(data(0)[0], 0xab);
	CHECK_EQ(data(0)[65535], 0xab);
	/* COMRESET through SCTL: the link drops and comes back with the signature. */
	port_start(mix.pi, 1);
	wr(mix.pi, PX(1, P_CMD), 1u << 4);
	wr(mix.pi, PX(1, P_SCTL), 1);
	CHECK_EQ(rd(mix.pi, PX(1, P_SSTS)), 0);
	wr(mix.pi, PX(1, P_SERR), ~0u);
	wr(mix.pi, PX(1, P_SCTL), 0);
	CHECK_EQ(rd(mix.pi, PX(1, P_SSTS)), 0x133);
	CHECK_EQ(rd(mix.pi, PX(1, P_SIG)), 0xeb140101);
	CHECK_EQ(rd(mix.pi, PX(1, P_SERR)) & (1u << 26), 1u << 26);
	CHECK_EQ(ram[FB_GPA(1) + 0x40], 0x34);	/* the signature FIS arrived */
	wr(mix.pi, PX(1, P_CMD), 1u << 4 | 1u << 0);
	CHECK_EQ(run_ata(mix.pi, 1, 0xa1, 0, 0, 0, 0, 512, false), TFD_OK);
	/* A software reset (two control FISes) reports the signature too. */
	h2d(f, 0, 0, 0, 0);
	f[1] = 0;
	f[15] = 0x04;				/* SRST */
	put_cmd(0, 0, f, NULL, false, NULL, 0);
	port_start(mix.pi, 0);
	put_cmd(0, 0, f, NULL, false, NULL, 0);
	CHECK_EQ(issue(mix.pi, 0, 0), 0x150);
	f[15] = 0;
	put_cmd(0, 0, f, NULL, false, NULL, 0);
	CHECK_EQ(issue(mix.pi, 0, 0), 0x150);
	CHECK_EQ(ram[FB_GPA(0) + 0x40 + 12], 0x01);	/* signature count/LBA */
	wr(mix.pi, 0x04, 1);
}

static void ahci_interrupts_msi_and_intx(void)
{
	struct pci_devinst *pi;

	REQUIRE(setup());
	pi = mix.pi;
	port_start(pi, 0);
	/* INTx: follows GHC.IE, PxIE and the status bits. */
	wr(pi, PX(0, P_IE), 1);			/* DHRS */
	wr(pi, 0x04, 2);			/* GHC.IE */
	CHECK(!pi->pi_lintr.asserted);
	CHECK_EQ(run_ata(pi, 0, 0xe7, 0, 0, 0, 0, 0, false), TFD_OK);
	CHECK_EQ(rd(pi, 0x08), 1);		/* HBA IS: port 0 */
	CHECK(pi->pi_lintr.asserted);
	wr(pi, PX(0, P_IS), ~0u);
	wr(pi, 0x08, ~0u);
	CHECK(!pi->pi_lintr.asserted);
	CHECK_EQ(rd(pi, 0x08), 0);
	/* MSI, once the guest enables it: a message per event, INTx stays low. */
	pi->pi_msi.enabled = true;
	pi->pi_msi.maxmsgnum = 1;
	pi->pi_msi.addr = 0xfee00000;
	pi->pi_msi.msg_data = 0x45;
	fake_reset_msi();
	CHECK_EQ(run_ata(pi, 0, 0xe7, 0, 0, 0, 0, 0, false), TFD_OK);
	CHECK(!pi->pi_lintr.asserted);
	REQUIRE(fake_last_msi() != NULL);
	CHECK_EQ(fake_last_msi()->addr, 0xfee00000);
	CHECK_EQ(fake_last_msi()->msg & 0xff, 0x45);
	CHECK_EQ(fake_vmm.nmsi, 1);
	/* Masked by PxIE: no message. */
	wr(pi, PX(0, P_IS), ~0u);
	wr(pi, 0x08, ~0u);
	wr(pi, PX(0, P_IE), 0);
	CHECK_EQ(run_ata(pi, 0, 0xe7, 0, 0, 0, 0, 0, false), TFD_OK);
	CHECK_EQ(fake_vmm.nmsi, 1);
	pi->pi_msi.enabled = false;
	wr(pi, 0x04, 1);
}

/* ---- boot order ---- */

struct boots {
	int n;
	char index[4][8], suffix[4][32];
};

static int boot_add(void *arg, const char *index, const char *suffix)
{
	struct boots *b = arg;

	if (b->n == 4)
		return -1;
	snprintf(b->index[b->n], sizeof(b->index[0]), "%s", index);
	snprintf(b->suffix[b->n], sizeof(b->suffix[0]), "%s", suffix);
	b->n++;
	return 0;
}

static void ahci_boot_paths_name_the_port(void)
{
	struct boots b = { 0 };
	char node[32];

	REQUIRE(setup());
	REQUIRE(mix.pi->pi_d->pe_bootdevs != NULL);
	CHECK_STR(mix.pi->pi_d->pe_fwname, "ide");
	/* mix was the first device made: node ahci_test.0; its CD-ROM boots first. */
	snprintf(node, sizeof(node), "ahci_test.0");
	set_config_value_node("ahci_test.0.port.1", "bootindex", "3");
	CHECK_EQ(mix.pi->pi_d->pe_bootdevs(mix.pi, node, boot_add, &b), 0);
	REQUIRE(b.n == 1);
	CHECK_STR(b.index[0], "3");
	CHECK_STR(b.suffix[0], "/drive@1/disk@0");
	unset_config_value("ahci_test.0.port.1.bootindex");
}

/* ---- options ---- */

/* Whether the device could be made; it is taken off the bus again at once, so
 * that its images are unlocked for the next. */
static bool made(const char *emu, const char *opts)
{
	struct pci_devinst *pi;
	char node[32];

	snprintf(node, sizeof(node), "ahci_test.%d", node_seq++);
	pi = unit_pci_create(emu, 28, node, opts);
	if (pi != NULL)
		unit_pci_remove(pi);
	return pi != NULL;
}

static bool made_keys(const char *const *kv, int n)
{
	struct pci_devinst *pi;
	char node[32], key[64];

	snprintf(node, sizeof(node), "ahci_test.%d", node_seq++);
	set_config_value_node(node, "device", "ahci");
	for (int i = 0; i < n; i += 2) {
		snprintf(key, sizeof(key), "%s", kv[i]);
		set_config_value_node(node, key, kv[i + 1]);
	}
	pi = unit_pci_create("ahci", 28, node, NULL);
	if (pi != NULL)
		unit_pci_remove(pi);
	return pi != NULL;
}

static void ahci_options_good_and_bad(void)
{
	char o[1024], many[40 * 64];
	size_t used = 0;
	/* Images of its own: mix and nd hold theirs locked. */
	char *img = make_temp_file(IMG_SIZE, 40), *img2 = make_temp_file(IMG_SIZE, 41);

	REQUIRE(img != NULL && img2 != NULL);
	REQUIRE(setup());
	snprintf(o, sizeof(o), "%s", img);
	CHECK(made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,ro,nmrr=7200,ser=S,rev=1.0,model=M,sectorsize=4096,"
	    "bootindex=2,nodelete,direct,engine=threads", img);
	CHECK(made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,ro,bootindex=1", mix.iso);
	CHECK(made("ahci-cd", o));
	snprintf(o, sizeof(o), "hd:%s,cd:%s,nmrr=1,hd:%s,ro", img, mix.iso, img2);
	CHECK(made("ahci", o));
	{
		const char *kv[] = { "port.3.type", "cd", "port.3.path", mix.iso,
		    "port.7.type", "hd", "port.7.path", img, "port.7.ser", "K" };

		CHECK(made_keys(kv, (int)nitems(kv)));
	}
	/* 32 ports are fine, 33 are not. */
	for (int i = 0; i < 32; i++)
		used += (size_t)snprintf(many + used, sizeof(many) - used, "%shd:%s,ro",
		    i ? "," : "", img);
	CHECK(made("ahci", many));
	snprintf(many + used, sizeof(many) - used, ",hd:%s,ro", img);
	CHECK(!made("ahci", many));

	snprintf(o, sizeof(o), "%s,bogus=1", img);
	CHECK(!made("ahci-hd", o));
	snprintf(o, sizeof(o), "xx:%s", img);
	CHECK(!made("ahci", o));
	snprintf(o, sizeof(o), "%s", img);
	CHECK(!made("ahci", o));		/* no hd: or cd: */
	snprintf(o, sizeof(o), "%s,nmrr=5", img);
	CHECK(!made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,nmrr=65535", img);
	CHECK(!made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,ser=123456789012345678901", img);
	CHECK(!made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,rev=123456789", img);
	CHECK(!made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,model=12345678901234567890123456789012345678901", img);
	CHECK(!made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,sectorsize=1000", img);
	CHECK(!made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,sectorsize=4096", mix.iso);
	CHECK(!made("ahci-cd", o));
	snprintf(o, sizeof(o), "%s,bootindex=x", img);
	CHECK(!made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,ro=maybe", img);
	CHECK(!made("ahci-hd", o));
	CHECK(!made("ahci-hd", ""));
	CHECK(!made("ahci", ""));
	CHECK(!made("ahci", "hd:"));
	CHECK(!made("ahci-hd", "/nonexistent/disk.img"));
	{
		const char *bad_port[] = { "port.32.type", "hd", "port.32.path", img };
		const char *bad_type[] = { "port.0.type", "fd", "port.0.path", img };
		const char *bad_key[] = { "port.0.type", "hd", "port.0.path", img, "color", "red" };
		const char *deep[] = { "port.0.type", "hd", "port.0.path", img,
		    "port.0.x.y", "1" };

		CHECK(!made_keys(bad_port, 4));
		CHECK(!made_keys(bad_type, 4));
		CHECK(!made_keys(bad_key, 6));
		CHECK(!made_keys(deep, 6));
	}
	/* Image locks: mix's disk is held for writing, so neither a writer nor a
	 * reader gets it; readers share an image, which a writer then cannot have. */
	snprintf(o, sizeof(o), "%s", mix.img);
	CHECK(!made("ahci-hd", o));
	snprintf(o, sizeof(o), "%s,ro", mix.img);
	CHECK(!made("ahci-hd", o));
	{
		struct pci_devinst *reader;
		char node[32];

		snprintf(o, sizeof(o), "%s,ro", img);
		snprintf(node, sizeof(node), "ahci_test.%d", node_seq++);
		reader = unit_pci_create("ahci-hd", 28, node, o);
		CHECK(reader != NULL);
		CHECK(made("ahci-hd", o));
		snprintf(o, sizeof(o), "%s", img);
		CHECK(!made("ahci-hd", o));
		if (reader != NULL)
			unit_pci_remove(reader);
		CHECK(made("ahci-hd", o));
	}
	unlink(img);
	unlink(img2);
	free(img);
	free(img2);
}

void suite_ahci(void)
{
	RUN_DEV(ahci_pci_ids_and_hba_registers);
	RUN_DEV(ahci_identify_reports_serial_model_and_sizes);
	RUN_DEV(ahci_dma_write_then_read_back);
	RUN_DEV(ahci_ncq_write_then_read_back);
	RUN_DEV(ahci_flush_completes);
	RUN_DEV(ahci_write_cache_off_is_write_through);
	RUN_DEV(ahci_read_log_reports_the_failed_ncq_command);
	RUN_DEV(ahci_trim_reads_back_zeros);
	RUN_DEV(atapi_inquiry_capacity_read_toc);
	RUN_DEV(atapi_request_sense_after_error);
	RUN_DEV(ahci_cd_refuses_writes);
	RUN_DEV(ahci_malicious_commands_fail_alone);
	RUN_DEV(ahci_bad_port_setup_stops_the_port);
	RUN_DEV(ahci_bogus_register_accesses_are_ignored);
	RUN_DEV(ahci_reset_quiesces_the_backend);
	RUN_DEV(ahci_interrupts_msi_and_intx);
	RUN_DEV(ahci_boot_paths_name_the_port);
	RUN_DEV(ahci_options_good_and_bad);
	/* Its devices' BARs out of the later suites' reach, their block workers stopped. */
	unit_pci_remove_all();
}
