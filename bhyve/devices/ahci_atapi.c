/* The ATAPI half of the AHCI controller (devices/ahci.c): a CD-ROM port, written
 * from the MMC and SPC specifications. Read-only, 2048-byte blocks; the PACKET
 * command carries SCSI commands, errors leave a sense key and code for REQUEST
 * SENSE. Replies go through the command's PRDT, cut to what the guest allows. */
#include <string.h>

#include "ahci.h"
#include "util.h"

/* SCSI/MMC commands. */
#define SCSI_TEST_UNIT_READY	0x00
#define SCSI_REQUEST_SENSE	0x03
#define SCSI_INQUIRY		0x12
#define SCSI_START_STOP		0x1b
#define SCSI_PREVENT_ALLOW	0x1e
#define SCSI_READ_CAPACITY	0x25
#define SCSI_READ_10		0x28
#define SCSI_WRITE_10		0x2a
#define SCSI_READ_TOC		0x43
#define SCSI_GET_CONFIGURATION	0x46
#define SCSI_GET_EVENT_STATUS	0x4a
#define SCSI_MODE_SENSE_10	0x5a
#define SCSI_READ_12		0xa8
#define SCSI_WRITE_12		0xaa

/* An ATAPI command ends: D2H with the interrupt reason (command, to host). */
void atapi_finish(struct ahci_port *p, int slot, const uint8_t *cfis, bool ok,
    uint32_t bytes, bool pio)
{
	uint8_t f[20];

	memcpy(f, cfis, sizeof(f));
	f[12] = (uint8_t)((f[12] & ~7) | 3);
	if (ok)
		ahci_finish(p, slot, f, ATA_S_OK, 0, bytes, pio, true);
	else
		ahci_finish(p, slot, f, ATA_S_DRDY | ATA_S_ERR, (uint8_t)(p->sense_key << 4), 0,
		    false, false);
}

static void atapi_error(struct ahci_port *p, int slot, const uint8_t *cfis, uint8_t key,
    uint8_t asc)
{
	ahci_sense(p, key, asc);
	atapi_finish(p, slot, cfis, false, 0, false);
}

/* IDENTIFY PACKET DEVICE data of a CD-ROM port. */
void atapi_identify(const struct ahci_port *p, uint16_t *id)
{
	memset(id, 0, 512);
	id[0] = 0x8000 | 5u << 8 | 1u << 7 | 1u << 6;	/* ATAPI, CD-ROM, removable, 12-byte */
	ahci_ata_string(id, 10, p->ser, 20);
	ahci_ata_string(id, 23, p->rev, 8);
	ahci_ata_string(id, 27, p->model, 40);
	id[49] = 1u << 8 | 1u << 9 | 1u << 11;
	id[53] = 1u << 1 | 1u << 2;
	id[63] = 0x0007;
	id[64] = 0x0003;
	id[65] = id[66] = id[67] = id[68] = 120;
	id[76] = 1u << 1 | 1u << 2 | 1u << 3;
	id[80] = 0x01f0;
	id[82] = 1u << 4 | 1u << 14;		/* PACKET, NOP */
	id[83] = 0x4000;
	id[84] = 0x4000;
	id[85] = id[82];
	id[87] = 0x4000;
	id[88] = 0x007f | 1u << (8 + 6);
	id[222] = 0x1020;
	ahci_ata_checksum(id);
}

/* Sends len bytes of a reply (cut to what the guest allows) and ends the command. */
static void atapi_reply(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *prdt,
    uint32_t prdtl, const void *buf, uint32_t len, uint32_t alloc)
{
	int64_t n;

	if (len > alloc)
		len = alloc;
	n = ahci_prdt_copyout(p, prdt, prdtl, buf, len);
	if (n < 0) {
		atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	ahci_sense(p, SENSE_NONE, 0);
	atapi_finish(p, slot, cfis, true, (uint32_t)n, !(cfis[3] & 1));
}

static void lba_to_msf(uint8_t *buf, uint64_t lba)
{
	lba += 150;
	buf[0] = 0;
	buf[1] = (uint8_t)(lba / (60 * 75));
	buf[2] = (uint8_t)(lba / 75 % 60);
	buf[3] = (uint8_t)(lba % 75);
}

static void atapi_addr(uint8_t *buf, uint64_t lba, bool msf)
{
	if (msf)
		lba_to_msf(buf, lba);
	else
		be_put(buf, lba, 4);
}

static void atapi_read_toc(struct ahci_port *p, int slot, const uint8_t *cfis,
    const uint8_t *acmd, const uint8_t *prdt, uint32_t prdtl)
{
	bool msf = acmd[1] & 2;
	int format = acmd[2] & 0x0f, track = acmd[6];
	uint32_t alloc = (uint32_t)be_get(acmd + 7, 2);
	uint8_t buf[32] = { 0 };
	uint32_t len = 4;

	if (format == 0 && (acmd[9] >> 6) != 0)
		format = acmd[9] >> 6;		/* the older place of the format */
	switch (format) {
	case 0:
		if (track > 1 && track != 0xaa) {
			atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
			return;
		}
		buf[2] = buf[3] = 1;		/* first and last track */
		if (track <= 1) {
			buf[len + 1] = 0x14;	/* ADR 1, data track */
			buf[len + 2] = 1;
			atapi_addr(buf + len + 4, 0, msf);
			len += 8;
		}
		buf[len + 1] = 0x14;
		buf[len + 2] = 0xaa;		/* lead-out */
		atapi_addr(buf + len + 4, p->nsect, msf);
		len += 8;
		break;
	case 1:					/* session information */
		buf[2] = buf[3] = 1;
		buf[5] = 0x14;
		buf[6] = 1;
		atapi_addr(buf + 8, 0, msf);
		len = 12;
		break;
	default:
		atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	be_put(buf, len - 2, 2);
	atapi_reply(p, slot, cfis, prdt, prdtl, buf, len, alloc);
}

static void atapi_mode_sense(struct ahci_port *p, int slot, const uint8_t *cfis,
    const uint8_t *acmd, const uint8_t *prdt, uint32_t prdtl)
{
	int page = acmd[2] & 0x3f, pc = acmd[2] >> 6;
	uint32_t alloc = (uint32_t)be_get(acmd + 7, 2), len = 8;
	uint8_t buf[8 + 12 + 28] = { 0 };

	if (pc == 3) {
		atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_SAVING_UNSUPPORTED);
		return;
	}
	if (page != 0x01 && page != 0x2a && page != 0x3f) {
		atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	if (page == 0x01 || page == 0x3f) {	/* read error recovery */
		buf[len] = 0x01;
		buf[len + 1] = 10;
		len += 12;
	}
	if (page == 0x2a || page == 0x3f) {	/* CD/DVD capabilities */
		uint8_t *c = buf + len;

		c[0] = 0x2a;
		c[1] = 26;
		if (pc != 1) {			/* changeable values: none */
			c[2] = 0x3f;		/* reads CD-R, CD-RW, method 2, DVD-ROM ... */
			c[4] = 0x71;
			c[6] = 0x29;		/* lock, eject, tray */
			be_put(c + 8, 706, 2);
			be_put(c + 10, 2, 2);
			be_put(c + 12, 512, 2);
			be_put(c + 14, 706, 2);
		}
		len += 28;
	}
	be_put(buf, len - 2, 2);
	atapi_reply(p, slot, cfis, prdt, prdtl, buf, len, alloc);
}

static void atapi_get_configuration(struct ahci_port *p, int slot, const uint8_t *cfis,
    const uint8_t *acmd, const uint8_t *prdt, uint32_t prdtl)
{
	uint32_t alloc = (uint32_t)be_get(acmd + 7, 2), len = 8;
	uint16_t start = (uint16_t)be_get(acmd + 2, 2);
	/* A disc larger than a CD is a DVD-ROM (profile 0x10), else a CD-ROM (8). */
	uint16_t cur = p->nsect * CD_BLOCK > 900ULL * 1024 * 1024 ? 0x10 : 0x08;
	uint8_t buf[8 + 12] = { 0 };

	be_put(buf + 6, cur, 2);
	if (start == 0) {			/* the profile list feature */
		uint8_t *f = buf + 8;

		f[2] = 0x03;			/* persistent, current */
		f[3] = 8;
		be_put(f + 4, 0x10, 2);
		f[6] = cur == 0x10;
		be_put(f + 8, 0x08, 2);
		f[10] = cur == 0x08;
		len += 12;
	}
	be_put(buf, len - 4, 4);
	atapi_reply(p, slot, cfis, prdt, prdtl, buf, len, alloc);
}

static void atapi_event_status(struct ahci_port *p, int slot, const uint8_t *cfis,
    const uint8_t *acmd, const uint8_t *prdt, uint32_t prdtl)
{
	uint32_t alloc = (uint32_t)be_get(acmd + 7, 2);
	uint8_t buf[8] = { 0 };

	if (!(acmd[1] & 1)) {			/* only polled operation */
		atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	if (acmd[4] & 0x10) {			/* media class: present, no change */
		be_put(buf, 6, 2);
		buf[2] = 0x04;
		buf[3] = 0x10;
		buf[5] = 0x02;
		atapi_reply(p, slot, cfis, prdt, prdtl, buf, 8, alloc);
	} else {
		be_put(buf, 2, 2);
		buf[2] = 0x80;			/* no event available */
		buf[3] = 0x10;
		atapi_reply(p, slot, cfis, prdt, prdtl, buf, 4, alloc);
	}
}

static void atapi_read(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *acmd,
    const uint8_t *prdt, uint32_t prdtl)
{
	uint64_t lba = be_get(acmd + 2, 4);
	uint64_t n = acmd[0] == SCSI_READ_10 ? be_get(acmd + 7, 2) : be_get(acmd + 6, 4);

	if (lba > p->nsect || n > p->nsect - lba) {
		atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		return;
	}
	if (n == 0) {
		ahci_sense(p, SENSE_NONE, 0);
		atapi_finish(p, slot, cfis, true, 0, false);
		return;
	}
	if (!ahci_submit_rw(p, slot, cfis, prdt, prdtl, BLOCKIF_READ, lba * CD_BLOCK,
	    n * CD_BLOCK, false, !(cfis[3] & 1), true))
		atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
}

void atapi_command(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *acmd,
    const uint8_t *prdt, uint32_t prdtl)
{
	uint8_t buf[36] = { 0 };

	switch (acmd[0]) {
	case SCSI_TEST_UNIT_READY:
	case SCSI_START_STOP:			/* the tray is not modelled */
	case SCSI_PREVENT_ALLOW:
		ahci_sense(p, SENSE_NONE, 0);
		atapi_finish(p, slot, cfis, true, 0, false);
		return;
	case SCSI_REQUEST_SENSE:
		buf[0] = 0x70;			/* current, fixed format */
		buf[2] = p->sense_key;
		buf[7] = 10;
		buf[12] = p->asc;
		atapi_reply(p, slot, cfis, prdt, prdtl, buf, 18, acmd[4]);
		return;
	case SCSI_INQUIRY:
		if (acmd[1] & 1) {		/* no vital product data pages */
			atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
			return;
		}
		buf[0] = 0x05;			/* CD/DVD */
		buf[1] = 0x80;			/* removable */
		buf[2] = 0x05;			/* SPC-3 */
		buf[3] = 0x32;			/* response data format 2 */
		buf[4] = 31;
		memcpy(buf + 8, "BHYVE   ", 8);
		memcpy(buf + 16, "BHYVE DVD-ROM   ", 16);
		memset(buf + 32, ' ', 4);
		memcpy(buf + 32, p->rev, strlen(p->rev) < 4 ? strlen(p->rev) : 4);
		atapi_reply(p, slot, cfis, prdt, prdtl, buf, 36, (uint32_t)be_get(acmd + 3, 2));
		return;
	case SCSI_READ_CAPACITY:
		be_put(buf, p->nsect > 0 ? p->nsect - 1 : 0, 4);
		be_put(buf + 4, CD_BLOCK, 4);
		atapi_reply(p, slot, cfis, prdt, prdtl, buf, 8, 8);
		return;
	case SCSI_READ_10:
	case SCSI_READ_12:
		atapi_read(p, slot, cfis, acmd, prdt, prdtl);
		return;
	case SCSI_WRITE_10:
	case SCSI_WRITE_12:
		atapi_error(p, slot, cfis, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED);
		return;
	case SCSI_READ_TOC:
		atapi_read_toc(p, slot, cfis, acmd, prdt, prdtl);
		return;
	case SCSI_GET_CONFIGURATION:
		atapi_get_configuration(p, slot, cfis, acmd, prdt, prdtl);
		return;
	case SCSI_GET_EVENT_STATUS:
		atapi_event_status(p, slot, cfis, acmd, prdt, prdtl);
		return;
	case SCSI_MODE_SENSE_10:
		atapi_mode_sense(p, slot, cfis, acmd, prdt, prdtl);
		return;
	default:
		atapi_error(p, slot, cfis, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		return;
	}
}

/* ATA commands a CD-ROM port takes besides PACKET. */
void atapi_ata_command(struct ahci_port *p, int slot, const uint8_t *cfis,
    const uint8_t *prdt, uint32_t prdtl)
{
	uint8_t f[20];

	switch (cfis[2]) {
	case ATA_IDENTIFY_PACKET:
		ahci_identify(p, slot, cfis, prdt, prdtl);
		return;
	case ATA_IDENTIFY:
		/* Aborted with the signature, so the driver knows to use PACKET. */
		memcpy(f, cfis, sizeof(f));
		le_put(f + 4, SIG_ATAPI >> 8, 3);
		f[12] = (uint8_t)SIG_ATAPI;
		ahci_fail(p, slot, f, ATA_E_ABRT);
		return;
	case ATA_SET_FEATURES:
		ahci_set_features(p, slot, cfis);
		return;
	case ATA_CHECK_POWER:
		memcpy(f, cfis, sizeof(f));
		f[12] = 0xff;
		ahci_ok(p, slot, f);
		return;
	case ATA_STANDBY_IMM: case ATA_IDLE_IMM: case ATA_STANDBY: case ATA_IDLE:
	case ATA_SLEEP: case ATA_FLUSH: case ATA_FLUSH_EXT:
		ahci_ok(p, slot, cfis);
		return;
	default:			/* writes among them: a CD-ROM is read-only */
		ahci_fail(p, slot, cfis, ATA_E_ABRT);
		return;
	}
}
