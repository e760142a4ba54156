/* The ATA half of the AHCI controller (devices/ahci.c): a disk port's commands,
 * written from ATA8-ACS. IDENTIFY DEVICE; READ/WRITE as DMA, PIO, MULTIPLE and
 * FPDMA QUEUED (through ahci.c's ahci_submit_rw); FLUSH; DATA SET MANAGEMENT
 * (TRIM); READ LOG (DMA) EXT; SET FEATURES, SET MULTIPLE, READ VERIFY. Power
 * commands succeed without effect; SMART and the rest abort. The IDENTIFY
 * strings, IDENTIFY and SET FEATURES serve the ATAPI half too. */
#include <stdlib.h>
#include <string.h>

#include "ahci.h"
#include "util.h"

#define AHCI_DSM_BLOCKS		8		/* 512-byte blocks of TRIM ranges per command */

static void ahci_submit_simple(struct ahci_port *p, int slot, const uint8_t *cfis,
    enum blockif_op op, bool atapi)
{
	struct ahci_cmd *c = xcalloc(1, sizeof(*c) + sizeof(c->req[0]));

	*c = (struct ahci_cmd){ .p = p, .gen = p->gen, .slot = slot, .atapi = atapi, .nreq = 1,
	    .left = 1 };
	memcpy(c->cfis, cfis, sizeof(c->cfis));
	c->req[0].cmd = c;
	c->req[0].br.br_op = op;
	p->busy |= 1u << slot;
	blockif_submit(p->bc, &c->req[0].br);
}

void ahci_ata_string(uint16_t *id, int word, const char *s, int len)
{
	size_t sl = strlen(s);

	for (int i = 0; i < len; i++) {
		uint8_t c = (size_t)i < sl ? (uint8_t)s[i] : ' ';
		uint16_t *w = &id[word + i / 2];

		if (i % 2 == 0)
			*w = (uint16_t)((*w & 0x00ff) | c << 8);
		else
			*w = (uint16_t)((*w & 0xff00) | c);
	}
}

void ahci_ata_checksum(uint16_t *id)
{
	uint8_t sum = 0xa5;

	for (int i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (id[i] & 0xff) + (id[i] >> 8));
	id[255] = (uint16_t)(0xa5 | (uint8_t)-sum << 8);
}

/* IDENTIFY DEVICE data of a disk port. */
static void ata_identify(const struct ahci_port *p, uint16_t *id)
{
	uint64_t n = p->nsect, chs = n / (16 * 63);
	int exp = 0;

	memset(id, 0, 512);
	id[0] = 0x0040;				/* fixed device */
	id[1] = (uint16_t)(chs > 16383 ? 16383 : chs);
	id[3] = 16;
	id[6] = 63;
	ahci_ata_string(id, 10, p->ser, 20);
	ahci_ata_string(id, 23, p->rev, 8);
	ahci_ata_string(id, 27, p->model, 40);
	id[47] = 0x8000 | 128;			/* READ/WRITE MULTIPLE: 128 sectors */
	id[49] = 1u << 8 | 1u << 9 | 1u << 11;	/* DMA, LBA, IORDY */
	id[50] = 0x4000;
	id[53] = 1u << 1 | 1u << 2;		/* words 64-70 and 88 are valid */
	id[54] = id[1];
	id[55] = 16;
	id[56] = 63;
	le_put((uint8_t *)&id[57], (uint32_t)id[1] * 16 * 63, 4);
	id[59] = (uint16_t)(0x100 | p->mult);
	le_put((uint8_t *)&id[60], n > 0x0fffffff ? 0x0fffffff : n, 4);
	id[63] = 0x0007;
	id[64] = 0x0003;			/* PIO modes 3 and 4 */
	id[65] = id[66] = id[67] = id[68] = 120;
	if (p->delete_ok)
		id[69] = 1u << 14 | 1u << 5;	/* deterministic zeros after TRIM */
	id[75] = AHCI_NSLOTS - 1;		/* queue depth 32 */
	id[76] = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 8;	/* SATA Gen1-3, NCQ */
	id[80] = 0x01f0;			/* ATA/ATAPI-4 to ACS-? */
	id[81] = 0x0028;
	id[82] = 1u << 3 | 1u << 5 | 1u << 6 | 1u << 14;	/* PM, write cache, look-ahead, NOP */
	id[83] = 0x4000 | 1u << 10 | 1u << 12 | 1u << 13;	/* LBA48, FLUSH (EXT) */
	id[84] = 0x4000 | 1u << 5;		/* general purpose logging */
	id[85] = (uint16_t)(id[82] & ~(p->wce ? 0 : 1u << 5));	/* write cache on? */
	id[86] = (uint16_t)(id[83] & ~0x4000);
	id[87] = 0x4000 | 1u << 5;
	id[88] = 0x007f | 1u << (8 + 6);	/* UDMA 0-6, mode 6 selected */
	le_put((uint8_t *)&id[100], n, 8);
	while ((p->sectsz << exp) < p->psectsz)
		exp++;
	id[106] = (uint16_t)(0x4000 | (exp > 0 ? 1u << 13 : 0) | (p->sectsz > 512 ? 1u << 12 : 0) |
	    (unsigned)exp);
	if (p->sectsz > 512)
		le_put((uint8_t *)&id[117], p->sectsz / 2, 4);
	if (p->delete_ok) {
		id[105] = AHCI_DSM_BLOCKS;
		id[169] = 1;			/* DATA SET MANAGEMENT: TRIM */
	}
	id[217] = p->nmrr;
	id[222] = 0x1020;			/* SATA 3.0 */
	ahci_ata_checksum(id);
}

void ahci_identify(struct ahci_port *p, int slot, const uint8_t *cfis,
    const uint8_t *prdt, uint32_t prdtl)
{
	uint16_t id[256];
	uint8_t buf[512];
	int64_t n;

	if (p->atapi)
		atapi_identify(p, id);
	else
		ata_identify(p, id);
	for (int i = 0; i < 256; i++)
		le_put(buf + 2 * i, id[i], 2);
	n = ahci_prdt_copyout(p, prdt, prdtl, buf, sizeof(buf));
	if (n < (int64_t)sizeof(buf))
		ahci_fail(p, slot, cfis, ATA_E_ABRT);
	else
		ahci_finish(p, slot, cfis, ATA_S_OK, 0, sizeof(buf), true, true);
}

static uint64_t ata_lba48(const uint8_t *cfis)
{
	return le_get(cfis + 4, 3) | le_get(cfis + 8, 3) << 24;
}

/* READ/WRITE DMA, PIO, MULTIPLE (EXT) and FPDMA QUEUED. */
static void ata_rw(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *prdt,
    uint32_t prdtl)
{
	uint8_t op = cfis[2];
	bool write = op == ATA_WRITE || op == ATA_WRITE_EXT || op == ATA_WRITE_DMA ||
	    op == ATA_WRITE_DMA_EXT || op == ATA_WRITE_MUL || op == ATA_WRITE_MUL_EXT ||
	    op == ATA_WRITE_FPDMA;
	bool ncq = op == ATA_READ_FPDMA || op == ATA_WRITE_FPDMA;
	bool pio = op == ATA_READ || op == ATA_READ_EXT || op == ATA_WRITE || op == ATA_WRITE_EXT ||
	    op == ATA_READ_MUL || op == ATA_READ_MUL_EXT || op == ATA_WRITE_MUL ||
	    op == ATA_WRITE_MUL_EXT;
	bool ext = ncq || op == ATA_READ_EXT || op == ATA_READ_DMA_EXT || op == ATA_READ_MUL_EXT ||
	    op == ATA_WRITE_EXT || op == ATA_WRITE_DMA_EXT || op == ATA_WRITE_MUL_EXT;
	uint64_t lba, count;
	uint8_t er;
	bool ok;

	if (ncq) {
		lba = ata_lba48(cfis);
		count = cfis[3] | (uint64_t)cfis[11] << 8;
		if (count == 0)
			count = 65536;
	} else if (ext) {
		lba = ata_lba48(cfis);
		count = cfis[12] | (uint64_t)cfis[13] << 8;
		if (count == 0)
			count = 65536;
	} else {
		lba = le_get(cfis + 4, 3) | (uint64_t)(cfis[7] & 0x0f) << 24;
		count = cfis[12] == 0 ? 256 : cfis[12];
	}
	if (ncq && (cfis[12] >> 3) != (unsigned)slot) {
		ahci_log(p, "NCQ tag differs from its command slot");
		er = ATA_E_ABRT;
	} else if (write && p->ro) {
		er = ATA_E_ABRT;
	} else if (lba > p->nsect || count > p->nsect - lba) {
		er = ATA_E_IDNF;
	} else {
		ok = ahci_submit_rw(p, slot, cfis, prdt, prdtl,
		    write ? BLOCKIF_WRITE : BLOCKIF_READ, lba * p->sectsz, count * p->sectsz,
		    ncq, pio, false);
		er = ok ? 0 : ATA_E_ABRT;
	}
	if (er != 0) {
		/* Refused before it was queued: its SActive bit goes too. */
		if (ncq) {
			p->sact &= ~(1u << slot);
			ahci_note_ncq_error(p, slot, cfis, ATA_S_DRDY | ATA_S_ERR, er);
		}
		ahci_fail(p, slot, cfis, er);
		return;
	}
	if (ncq) {
		/* Accepted: a D2H FIS without interrupt clears BSY and the slot's CI bit. */
		ahci_write_d2h(p, NULL, ATA_S_OK, 0, false);
		p->ci &= ~(1u << slot);
	}
}

/* DATA SET MANAGEMENT, TRIM: count 512-byte blocks of 8-byte ranges
 * (LBA 47:0, sectors 63:48); one DISCARD each. */
static void ata_dsm(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *prdt,
    uint32_t prdtl)
{
	uint32_t blocks = cfis[12] | (uint32_t)cfis[13] << 8;
	uint8_t buf[AHCI_DSM_BLOCKS * 512];
	struct iovec *iov;
	struct ahci_cmd *c;
	uint64_t got;
	int n, nr = 0;
	uint8_t *d = buf;

	if (!p->delete_ok || !(cfis[3] & 1) || blocks == 0 || blocks > AHCI_DSM_BLOCKS) {
		ahci_fail(p, slot, cfis, ATA_E_ABRT);
		return;
	}
	if (ahci_prdt_map(p, prdt, prdtl, blocks * 512ULL, &iov, &n, &got) != 0) {
		ahci_fail(p, slot, cfis, ATA_E_ABRT);
		return;
	}
	if (got < blocks * 512ULL) {
		free(iov);
		ahci_log(p, "PRDT shorter than the TRIM ranges");
		ahci_fail(p, slot, cfis, ATA_E_ABRT);
		return;
	}
	for (int i = 0; i < n; i++) {
		memcpy(d, iov[i].iov_base, iov[i].iov_len);
		d += iov[i].iov_len;
	}
	free(iov);
	c = xcalloc(1, sizeof(*c) + blocks * 64 * sizeof(c->req[0]));
	*c = (struct ahci_cmd){ .p = p, .gen = p->gen, .slot = slot };
	memcpy(c->cfis, cfis, sizeof(c->cfis));
	for (uint32_t i = 0; i < blocks * 64; i++) {
		uint64_t e = le_get(buf + 8 * i, 8), lba = e & 0xffffffffffffULL, cnt = e >> 48;
		struct blockif_req *br = &c->req[nr].br;

		if (cnt == 0)
			continue;
		if (lba > p->nsect || cnt > p->nsect - lba) {
			free(c);
			ahci_fail(p, slot, cfis, ATA_E_IDNF);
			return;
		}
		c->req[nr].cmd = c;
		br->br_op = BLOCKIF_DISCARD;
		br->br_fua = !p->wce;
		br->br_offset = lba * p->sectsz;
		br->br_len = cnt * p->sectsz;
		nr++;
	}
	if (nr == 0) {
		free(c);
		ahci_ok(p, slot, cfis);
		return;
	}
	c->nreq = c->left = nr;
	p->busy |= 1u << slot;
	blockif_plug(p->bc);
	for (int i = 0; i < nr; i++)
		blockif_submit(p->bc, &c->req[i].br);
	blockif_unplug(p->bc);
}

/* READ LOG (DMA) EXT: the log directory (00h) and the NCQ command error log
 * (10h), one page each; reading 10h clears the error it reports. */
static void ata_read_log(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *prdt,
    uint32_t prdtl)
{
	uint8_t log = cfis[4], buf[512] = { 0 };
	uint32_t page = cfis[5] | (uint32_t)cfis[9] << 8, count = cfis[12] | (uint32_t)cfis[13] << 8;
	int64_t n;

	if (page != 0 || count == 0 || (log != 0x00 && log != 0x10)) {
		ahci_fail(p, slot, cfis, ATA_E_ABRT);
		return;
	}
	if (log == 0x00) {
		buf[0] = 1;			/* version 1 */
		buf[2 * 0x10] = 1;		/* log 10h: one page */
	} else {
		if (p->ncq_err)
			memcpy(buf, p->ncq_err_log, sizeof(p->ncq_err_log));
		else
			buf[0] = 0x80;		/* NQ: no queued command failed */
		buf[511] = fw_checksum(buf, 511);
	}
	n = ahci_prdt_copyout(p, prdt, prdtl, buf, sizeof(buf));
	if (n < (int64_t)sizeof(buf)) {
		ahci_fail(p, slot, cfis, ATA_E_ABRT);
		return;
	}
	if (log == 0x10)
		p->ncq_err = false;
	ahci_finish(p, slot, cfis, ATA_S_OK, 0, sizeof(buf), cfis[2] == ATA_READ_LOG_EXT, true);
}

void ahci_set_features(struct ahci_port *p, int slot, const uint8_t *cfis)
{
	switch (cfis[3]) {
	case 0x02: case 0x82:		/* write cache on/off */
		p->wce = cfis[3] == 0x02;
		ahci_ok(p, slot, cfis);
		return;
	case 0x10: case 0x90:		/* SATA features on/off */
	case 0x55: case 0xaa:		/* look-ahead off/on */
	case 0x66: case 0xcc:		/* reverting to defaults off/on */
		ahci_ok(p, slot, cfis);
		return;
	case 0x03:			/* transfer mode: PIO, MWDMA or UDMA */
		if ((cfis[12] & 0xf8) == 0x08 || (cfis[12] & 0xf8) == 0x00 ||
		    (cfis[12] & 0xf8) == 0x20 || (cfis[12] & 0xf8) == 0x40) {
			ahci_ok(p, slot, cfis);
			return;
		}
		break;
	default:
		break;
	}
	ahci_fail(p, slot, cfis, ATA_E_ABRT);
}

void ata_command(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *prdt,
    uint32_t prdtl)
{
	uint8_t f[20];
	uint64_t lba, count;

	switch (cfis[2]) {
	case ATA_IDENTIFY:
		ahci_identify(p, slot, cfis, prdt, prdtl);
		return;
	case ATA_READ: case ATA_READ_EXT: case ATA_READ_DMA: case ATA_READ_DMA_EXT:
	case ATA_READ_MUL: case ATA_READ_MUL_EXT: case ATA_READ_FPDMA:
	case ATA_WRITE: case ATA_WRITE_EXT: case ATA_WRITE_DMA: case ATA_WRITE_DMA_EXT:
	case ATA_WRITE_MUL: case ATA_WRITE_MUL_EXT: case ATA_WRITE_FPDMA:
		ata_rw(p, slot, cfis, prdt, prdtl);
		return;
	case ATA_FLUSH:
	case ATA_FLUSH_EXT:
		ahci_submit_simple(p, slot, cfis, BLOCKIF_FLUSH, false);
		return;
	case ATA_DSM:
		ata_dsm(p, slot, cfis, prdt, prdtl);
		return;
	case ATA_SET_FEATURES:
		ahci_set_features(p, slot, cfis);
		return;
	case ATA_READ_LOG_EXT:
	case ATA_READ_LOG_DMA_EXT:
		ata_read_log(p, slot, cfis, prdt, prdtl);
		return;
	case ATA_SET_MULTIPLE:
		if (cfis[12] > 128 || (cfis[12] & (cfis[12] - 1)) != 0) {
			ahci_fail(p, slot, cfis, ATA_E_ABRT);
			return;
		}
		p->mult = cfis[12];
		ahci_ok(p, slot, cfis);
		return;
	case ATA_READ_VERIFY:
	case ATA_READ_VERIFY_EXT:
		if (cfis[2] == ATA_READ_VERIFY_EXT) {
			lba = ata_lba48(cfis);
			count = cfis[12] | (uint64_t)cfis[13] << 8;
			count = count == 0 ? 65536 : count;
		} else {
			lba = le_get(cfis + 4, 3) | (uint64_t)(cfis[7] & 0x0f) << 24;
			count = cfis[12] == 0 ? 256 : cfis[12];
		}
		if (lba > p->nsect || count > p->nsect - lba)
			ahci_fail(p, slot, cfis, ATA_E_IDNF);
		else
			ahci_ok(p, slot, cfis);
		return;
	case ATA_CHECK_POWER:
		memcpy(f, cfis, sizeof(f));
		f[12] = 0xff;			/* active or idle */
		ahci_ok(p, slot, f);
		return;
	case ATA_STANDBY_IMM: case ATA_IDLE_IMM: case ATA_STANDBY: case ATA_IDLE:
	case ATA_SLEEP:
	case 0x94: case 0x95: case 0x96: case 0x97: case 0x98: case 0x99:
		ahci_ok(p, slot, cfis);		/* power states are not modelled */
		return;
	case ATA_SMART:			/* not offered, as bhyve: aborted */
	default:
		ahci_fail(p, slot, cfis, ATA_E_ABRT);
		return;
	}
}
