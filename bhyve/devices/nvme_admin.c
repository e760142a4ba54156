/* The admin command set of the NVMe controller (devices/nvme.c): Identify,
 * Get Log Page, Get/Set Features and their defaults, Create/Delete I/O
 * Submission and Completion Queue, Abort and Asynchronous Event Request.
 * All of it runs under sc->nsc_mtx (or at init, before the guest can reach the
 * device); data goes to and from the guest through the command's PRPs. */
#include <stdio.h>
#include <string.h>

#include "pci_emul.h"
#include "util.h"
#include "vmmapi.h"
#include "nvme.h"

#define NVME_SQES		6		/* 64-byte submission entries */
#define NVME_CQES		4		/* 16-byte completion entries */
#define NVME_TEMP		296		/* Kelvin: what SMART reports */
#define NVME_WCTEMP		343
#define NVME_CCTEMP		373

/* Admin opcodes. */
#define ADM_DELETE_SQ		0x00
#define ADM_CREATE_SQ		0x01
#define ADM_GET_LOG		0x02
#define ADM_DELETE_CQ		0x04
#define ADM_CREATE_CQ		0x05
#define ADM_IDENTIFY		0x06
#define ADM_ABORT		0x08
#define ADM_SET_FEATURES	0x09
#define ADM_GET_FEATURES	0x0a
#define ADM_AER			0x0c

/* Features. */
#define FEAT_ARBITRATION	0x01
#define FEAT_POWER		0x02
#define FEAT_TEMP		0x04
#define FEAT_ERROR_RECOVERY	0x05
#define FEAT_WRITE_CACHE	0x06
#define FEAT_NUM_QUEUES		0x07
#define FEAT_INTR_COALESCE	0x08
#define FEAT_INTR_VECTOR	0x09
#define FEAT_WRITE_ATOMIC	0x0a
#define FEAT_ASYNC_EVENT	0x0b

static void nvme_pad(uint8_t *dst, const char *s, size_t len)
{
	size_t n = strlen(s);

	memset(dst, ' ', len);
	memcpy(dst, s, n < len ? n : len);
}

static void nvme_identify_ctrl(struct pci_nvme_softc *sc, uint8_t *d)
{
	char nqn[128];

	le_put(d + 0, NVME_VID, 2);
	le_put(d + 2, NVME_VID, 2);
	nvme_pad(d + 4, sc->nsc_ser, 20);
	nvme_pad(d + 24, "bhyve-NVMe", 40);
	nvme_pad(d + 64, "1.0", 8);
	d[72] = 4;				/* RAB */
	be_put(d + 73, 0xfc9c58, 3);		/* IEEE OUI 58-9C-FC, low byte first */
	d[77] = NVME_MDTS;
	le_put(d + 80, 0x00010400, 4);		/* VER 1.4 */
	d[111] = 1;				/* an I/O controller */
	d[258] = 3;				/* ACL: 4 aborts */
	d[259] = NVME_AERL - 1;			/* AERL */
	d[260] = 0x03;				/* FRMW: one slot, slot 1 read-only */
	d[261] = 0x04;				/* LPA: extended data for Get Log Page */
	d[262] = 0;				/* ELPE: one error log entry */
	le_put(d + 266, NVME_WCTEMP, 2);
	le_put(d + 268, NVME_CCTEMP, 2);
	d[512] = NVME_SQES << 4 | NVME_SQES;	/* SQES */
	d[513] = NVME_CQES << 4 | NVME_CQES;	/* CQES */
	le_put(d + 516, 1, 4);			/* NN */
	le_put(d + 520, (sc->nsc_dsm ? 1u << 2 : 0) | 1u << 3, 2);	/* ONCS: DSM, Write Zeroes */
	d[525] = 1;				/* VWC: a volatile write cache */
	/* No NQN is assigned: the form the specification gives for that case. */
	snprintf(nqn, sizeof(nqn), "nqn.2014.08.org.nvmexpress:%04x%04x", NVME_VID, NVME_VID);
	memcpy(d + 768, nqn, strlen(nqn));
	nvme_pad(d + 768 + strlen(nqn), sc->nsc_ser, 20);
	nvme_pad(d + 768 + strlen(nqn) + 20, "bhyve-NVMe", 40);
	le_put(d + 2048, 2500, 2);		/* power state 0: 25 W */
}

static void nvme_identify_ns(struct pci_nvme_softc *sc, uint8_t *d)
{
	le_put(d + 0, sc->nsc_nsze, 8);		/* NSZE */
	le_put(d + 8, sc->nsc_nsze, 8);		/* NCAP */
	le_put(d + 16, sc->nsc_nsze, 8);	/* NUSE */
	/* DLFEAT: deallocated blocks read as zeros (a backend that cannot punch a
	 * hole writes them), and Write Zeroes may deallocate. */
	d[33] = 0x01 | 0x08;
	d[25] = 0;				/* NLBAF: one format */
	d[26] = 0;				/* FLBAS: format 0 */
	d[99] = sc->nsc_ro ? 1 : 0;		/* NSATTR: write protected */
	be_put(d + 120, sc->nsc_eui64, 8);	/* EUI64 */
	le_put(d + 128, (uint32_t)sc->nsc_lbads << 16, 4);	/* LBAF0: no metadata */
}

static uint16_t nvme_identify(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd)
{
	uint8_t *d = sc->nsc_buf;

	memset(d, 0, NVME_PAGE);
	switch (cmd->cdw10 & 0xff) {
	case 0x00:
		if (cmd->nsid != NVME_NSID)
			return ST_INVALID_NS;
		nvme_identify_ns(sc, d);
		break;
	case 0x01:
		nvme_identify_ctrl(sc, d);
		break;
	case 0x02:
		if (cmd->nsid >= 0xfffffffe)
			return ST_INVALID_NS;
		if (cmd->nsid < NVME_NSID)
			le_put(d, NVME_NSID, 4);
		break;
	case 0x03:
		if (cmd->nsid != NVME_NSID)
			return ST_INVALID_NS;
		d[0] = 1;			/* NIDT: EUI-64 */
		d[1] = 8;
		be_put(d + 4, sc->nsc_eui64, 8);
		break;
	default:
		return ST_INVALID_FIELD;
	}
	return nvme_prp_copy(sc, cmd, d, NVME_PAGE, NVME_PAGE, true);
}

static void put128(uint8_t *p, uint64_t v)
{
	le_put(p, v, 8);
	le_put(p + 8, 0, 8);
}

static uint16_t nvme_get_log(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd)
{
	uint64_t numd = ((uint64_t)(cmd->cdw11 & 0xffff) << 16 | cmd->cdw10 >> 16) + 1;
	uint64_t len = numd * 4, off = cmd->cdw12 | (uint64_t)cmd->cdw13 << 32, size;
	uint8_t *d = sc->nsc_buf;

	memset(d, 0, NVME_PAGE);
	switch (cmd->cdw10 & 0xff) {
	case 0x01:			/* error information: one entry, empty */
		size = 64;
		break;
	case 0x02:			/* SMART / health */
		size = 512;
		le_put(d + 1, NVME_TEMP, 2);
		if (NVME_TEMP > sc->nsc_tmpth_over || NVME_TEMP < sc->nsc_tmpth_under)
			d[0] |= 1u << 1;	/* a temperature threshold crossed */
		d[3] = 100;		/* available spare */
		d[4] = 10;		/* its threshold */
		put128(d + 32, (sc->nsc_units_read + 999) / 1000);
		put128(d + 48, (sc->nsc_units_written + 999) / 1000);
		put128(d + 64, sc->nsc_reads);
		put128(d + 80, sc->nsc_writes);
		put128(d + 112, 1);	/* power cycles */
		break;
	case 0x03:			/* firmware slots */
		size = 512;
		d[0] = 1;		/* slot 1 active */
		nvme_pad(d + 8, "1.0", 8);
		break;
	default:
		return ST_INVALID_LOG;
	}
	if ((off & 3) || off > size || len > NVME_MAX_XFER)
		return ST_INVALID_FIELD;
	return nvme_prp_copy(sc, cmd, d + off, (size_t)(size - off), (size_t)len, true);
}

static uint16_t nvme_features(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd, bool set,
    uint32_t *dw0)
{
	uint8_t fid = cmd->cdw10 & 0xff, sel = (cmd->cdw10 >> 8) & 7;
	uint32_t v = cmd->cdw11;
	uint32_t nvec = (uint32_t)(sc->nsc_pi->pi_msix.table_count > 0 ?
	    sc->nsc_pi->pi_msix.table_count : 1);
	bool def = !set && (sel == 1 || sel == 2);

	if (set && (cmd->cdw10 & (1u << 31)))
		return ST_NOT_SAVEABLE;
	if (!set && sel == 3) {
		if (fid < FEAT_ARBITRATION || fid > FEAT_ASYNC_EVENT || fid == 3)
			return ST_INVALID_FIELD;
		*dw0 = 1u << 2;			/* changeable, not saveable, not per namespace */
		return ST_OK;
	}
	if (!set && sel > 3)
		return ST_INVALID_FIELD;
	switch (fid) {
	case FEAT_ARBITRATION:
		if (set)
			sc->nsc_arb = v;
		*dw0 = def ? 0 : sc->nsc_arb;
		return ST_OK;
	case FEAT_POWER:
		if (set) {
			if ((v & 0x1f) != 0)
				return ST_INVALID_FIELD;	/* one power state */
			sc->nsc_power = v & 0xff;
		}
		*dw0 = def ? 0 : sc->nsc_power;
		return ST_OK;
	case FEAT_TEMP: {
		uint32_t tmpsel = (v >> 16) & 0xf, thsel = (v >> 20) & 3;

		if (tmpsel != 0 || thsel > 1)
			return ST_INVALID_FIELD;	/* the composite temperature only */
		if (set) {
			if (thsel == 0)
				sc->nsc_tmpth_over = v & 0xffff;
			else
				sc->nsc_tmpth_under = v & 0xffff;
		}
		if (def)
			*dw0 = thsel == 0 ? NVME_WCTEMP : 0;
		else
			*dw0 = thsel == 0 ? sc->nsc_tmpth_over : sc->nsc_tmpth_under;
		return ST_OK;
	}
	case FEAT_ERROR_RECOVERY:
		if (set) {
			if (v & (1u << 16))
				return ST_INVALID_FIELD;	/* no DULBE */
			sc->nsc_errrec = v & 0xffff;
		}
		*dw0 = def ? 0 : sc->nsc_errrec;
		return ST_OK;
	case FEAT_WRITE_CACHE:
		if (set)
			sc->nsc_wce = v & 1;
		*dw0 = def ? 1 : sc->nsc_wce;
		return ST_OK;
	case FEAT_NUM_QUEUES:
		if (set) {
			uint32_t nsq = (v & 0xffff) + 1, ncq = (v >> 16) + 1;

			if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff)
				return ST_INVALID_FIELD;
			if (sc->nsc_ioqs_made > 0)
				return ST_SEQ_ERROR;
			sc->nsc_nsq = nsq < sc->nsc_maxq ? nsq : sc->nsc_maxq;
			sc->nsc_ncq = ncq < sc->nsc_maxq ? ncq : sc->nsc_maxq;
		}
		*dw0 = def ? (sc->nsc_maxq - 1) | (sc->nsc_maxq - 1) << 16 :
		    (sc->nsc_nsq - 1) | (sc->nsc_ncq - 1) << 16;
		return ST_OK;
	case FEAT_INTR_COALESCE:
		if (set)
			sc->nsc_coalesce = v & 0xffff;
		*dw0 = def ? 0 : sc->nsc_coalesce;
		return ST_OK;
	case FEAT_INTR_VECTOR: {
		uint32_t iv = v & 0xffff;

		if (iv >= nvec)
			return ST_INVALID_FIELD;
		if (set)
			sc->nsc_ivc_cd[iv] = (v >> 16) & 1;
		*dw0 = iv | (def ? 0 : (uint32_t)sc->nsc_ivc_cd[iv] << 16);
		return ST_OK;
	}
	case FEAT_WRITE_ATOMIC:
		if (set)
			sc->nsc_wan = v & 1;
		*dw0 = def ? 0 : sc->nsc_wan;
		return ST_OK;
	case FEAT_ASYNC_EVENT:
		if (set)
			sc->nsc_aec = v & 0x3ff;
		*dw0 = def ? 0 : sc->nsc_aec;
		return ST_OK;
	default:
		return ST_INVALID_FIELD;
	}
}

void nvme_features_default(struct pci_nvme_softc *sc)
{
	sc->nsc_arb = sc->nsc_power = sc->nsc_errrec = sc->nsc_coalesce = 0;
	sc->nsc_aec = sc->nsc_wan = 0;
	sc->nsc_tmpth_over = NVME_WCTEMP;
	sc->nsc_tmpth_under = 0;
	sc->nsc_wce = true;
	memset(sc->nsc_ivc_cd, 0, sc->nsc_maxq + 1);
	sc->nsc_nsq = sc->nsc_ncq = sc->nsc_maxq;
}

static uint16_t nvme_create_cq(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd)
{
	uint32_t qid = cmd->cdw10 & 0xffff, size = (cmd->cdw10 >> 16) + 1;
	uint32_t iv = cmd->cdw11 >> 16;
	uint32_t nvec = (uint32_t)(sc->nsc_pi->pi_msix.table_count > 0 ?
	    sc->nsc_pi->pi_msix.table_count : 1);
	struct nvme_cq *cq;
	uint8_t *ring;

	if (qid == 0 || qid > sc->nsc_ncq || sc->nsc_cq[qid].valid)
		return ST_INVALID_QID;
	if (size < 2 || size > (sc->nsc_cap & 0xffff) + 1)
		return ST_INVALID_QSIZE;
	if (!(cmd->cdw11 & 1))
		return ST_INVALID_FIELD;	/* physically contiguous only (CAP.CQR) */
	if (iv >= nvec)
		return ST_INVALID_VECTOR;
	if (CC_IOCQES(sc->nsc_cc) != NVME_CQES)
		return ST_INVALID_FIELD;
	if (cmd->prp1 & NVME_PAGE_MASK)
		return ST_PRP_OFFSET;
	ring = vm_map_gpa(sc->nsc_pi->pi_vmctx, cmd->prp1, (size_t)size * 16);
	if (ring == NULL)
		return ST_INVALID_FIELD;
	cq = &sc->nsc_cq[qid];
	*cq = (struct nvme_cq){ .ring = ring, .size = size, .iv = (uint16_t)iv, .valid = true,
	    .ien = (cmd->cdw11 >> 1) & 1, .phase = true };
	sc->nsc_ioqs_made++;
	return ST_OK;
}

static uint16_t nvme_create_sq(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd)
{
	uint32_t qid = cmd->cdw10 & 0xffff, size = (cmd->cdw10 >> 16) + 1;
	uint32_t cqid = cmd->cdw11 >> 16;
	struct nvme_sq *sq;
	uint8_t *ring;

	if (qid == 0 || qid > sc->nsc_nsq || sc->nsc_sq[qid].valid)
		return ST_INVALID_QID;
	if (size < 2 || size > (sc->nsc_cap & 0xffff) + 1)
		return ST_INVALID_QSIZE;
	if (cqid == 0 || cqid > sc->nsc_ncq || !sc->nsc_cq[cqid].valid)
		return ST_CQ_INVALID;
	if (!(cmd->cdw11 & 1))
		return ST_INVALID_FIELD;	/* physically contiguous only */
	if (CC_IOSQES(sc->nsc_cc) != NVME_SQES)
		return ST_INVALID_FIELD;
	if (cmd->prp1 & NVME_PAGE_MASK)
		return ST_PRP_OFFSET;
	ring = vm_map_gpa(sc->nsc_pi->pi_vmctx, cmd->prp1, (size_t)size * 64);
	if (ring == NULL)
		return ST_INVALID_FIELD;
	sq = &sc->nsc_sq[qid];
	*sq = (struct nvme_sq){ .ring = ring, .size = size, .cqid = (uint16_t)cqid, .valid = true };
	sc->nsc_cq[cqid].nsq++;
	sc->nsc_ioqs_made++;
	return ST_OK;
}

/* The SQ goes once none of its commands is in the block layer; the Delete
 * completes then. */
void nvme_sq_finish_delete(struct pci_nvme_softc *sc, uint16_t qid)
{
	struct nvme_sq *sq = &sc->nsc_sq[qid];
	uint16_t cid = sq->delete_cid;

	sc->nsc_cq[sq->cqid].nsq--;
	*sq = (struct nvme_sq){ 0 };
	nvme_complete(sc, 0, cid, ST_OK, 0);
}

static uint16_t nvme_delete_sq(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd)
{
	uint32_t qid = cmd->cdw10 & 0xffff;
	struct nvme_sq *sq;

	if (qid == 0 || qid > sc->nsc_maxq || !sc->nsc_sq[qid].valid || sc->nsc_sq[qid].deleting)
		return ST_INVALID_QID;
	sq = &sc->nsc_sq[qid];
	sq->deleting = true;
	sq->delete_cid = cmd->cid;
	if (sq->inflight > 0)
		return ST_HELD;
	nvme_sq_finish_delete(sc, (uint16_t)qid);
	return ST_HELD;
}

static uint16_t nvme_delete_cq(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd)
{
	uint32_t qid = cmd->cdw10 & 0xffff;

	if (qid == 0 || qid > sc->nsc_maxq || !sc->nsc_cq[qid].valid)
		return ST_INVALID_QID;
	if (sc->nsc_cq[qid].nsq > 0)
		return ST_INVALID_DELETE;
	sc->nsc_cq[qid] = (struct nvme_cq){ 0 };
	return ST_OK;
}

void nvme_admin(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd)
{
	uint32_t dw0 = 0;
	uint16_t st;

	if (cmd->psdt != 0) {
		nvme_complete(sc, 0, cmd->cid, ST_INVALID_FIELD, 0);
		return;
	}
	switch (cmd->opc) {
	case ADM_DELETE_SQ:
		st = nvme_delete_sq(sc, cmd);
		break;
	case ADM_CREATE_SQ:
		st = nvme_create_sq(sc, cmd);
		break;
	case ADM_GET_LOG:
		st = nvme_get_log(sc, cmd);
		break;
	case ADM_DELETE_CQ:
		st = nvme_delete_cq(sc, cmd);
		break;
	case ADM_CREATE_CQ:
		st = nvme_create_cq(sc, cmd);
		break;
	case ADM_IDENTIFY:
		st = nvme_identify(sc, cmd);
		break;
	case ADM_ABORT:
		st = ST_OK;
		dw0 = 1;			/* not aborted: commands here finish on their own */
		break;
	case ADM_SET_FEATURES:
	case ADM_GET_FEATURES:
		st = nvme_features(sc, cmd, cmd->opc == ADM_SET_FEATURES, &dw0);
		break;
	case ADM_AER:
		/* Held until an event; this controller raises none, so until reset. */
		if (sc->nsc_naer == NVME_AERL) {
			st = ST_AER_LIMIT;
		} else {
			sc->nsc_aer_cid[sc->nsc_naer++] = cmd->cid;
			st = ST_HELD;
		}
		break;
	default:				/* Format NVM, firmware, namespace management... */
		st = ST_INVALID_OPCODE;
		break;
	}
	if (st != ST_HELD)
		nvme_complete(sc, 0, cmd->cid, st, dw0);
}
