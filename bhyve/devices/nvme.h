/* The parts of the NVMe controller (devices/nvme.c) that its admin command set
 * (devices/nvme_admin.c) shares: the softc, its queues and requests, the status
 * codes and the helpers that complete a command and copy its data. Not an
 * interface for other devices. */
#ifndef NVME_H
#define NVME_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/block.h"

#define NVME_VID		0xFB5D		/* bhyve's IDs */
#define NVME_PAGE		4096u
#define NVME_PAGE_MASK		(NVME_PAGE - 1)
#define NVME_MDTS		9		/* 2^9 pages: 2 MiB a command */
#define NVME_MAX_XFER		((uint64_t)NVME_PAGE << NVME_MDTS)
#define NVME_MAX_IOV		((NVME_MAX_XFER / NVME_PAGE) + 1)
#define NVME_AERL		4		/* asynchronous event requests held */
#define NVME_NSID		1
#define NVME_SERLEN		20

/* CC's I/O queue entry sizes, which Create I/O SQ/CQ check. */
#define CC_IOSQES(cc)		(((cc) >> 16) & 0xf)
#define CC_IOCQES(cc)		(((cc) >> 20) & 0xf)

/* Status: SC in bits 7:0, SCT in 10:8, DNR in 14 (the CQE's bits 31:17). */
#define SCT_CMD			(1u << 8)
#define SCT_MEDIA		(2u << 8)
#define ST_DNR			(1u << 14)
#define ST_OK			0x00
#define ST_INVALID_OPCODE	(0x01 | ST_DNR)
#define ST_INVALID_FIELD	(0x02 | ST_DNR)
#define ST_DATA_XFER		0x04
#define ST_INTERNAL		0x06
#define ST_SEQ_ERROR		(0x0c | ST_DNR)
#define ST_INVALID_NS		(0x0b | ST_DNR)
#define ST_PRP_OFFSET		(0x13 | ST_DNR)
#define ST_WRITE_PROTECTED	(0x20 | ST_DNR)
#define ST_LBA_RANGE		(0x80 | ST_DNR)
#define ST_CQ_INVALID		(SCT_CMD | 0x00 | ST_DNR)
#define ST_INVALID_QID		(SCT_CMD | 0x01 | ST_DNR)
#define ST_INVALID_QSIZE	(SCT_CMD | 0x02 | ST_DNR)
#define ST_AER_LIMIT		(SCT_CMD | 0x05 | ST_DNR)
#define ST_INVALID_VECTOR	(SCT_CMD | 0x08 | ST_DNR)
#define ST_INVALID_LOG		(SCT_CMD | 0x09 | ST_DNR)
#define ST_INVALID_DELETE	(SCT_CMD | 0x0c | ST_DNR)
#define ST_NOT_SAVEABLE		(SCT_CMD | 0x0d | ST_DNR)
#define ST_WRITE_FAULT		(SCT_MEDIA | 0x80)
#define ST_READ_ERROR		(SCT_MEDIA | 0x81)
#define ST_HELD			0xffff		/* no completion now (AER, delete in progress) */

struct pci_devinst;

/* A submission queue entry, copied out of guest memory before it is looked at. */
struct nvme_cmd {
	uint8_t opc, psdt;
	uint16_t cid;
	uint32_t nsid;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13;
};

struct nvme_sq {
	uint8_t *ring;
	uint32_t size, head, tail;
	uint16_t cqid;
	bool valid;
	bool deleting;			/* Delete I/O SQ waits for its commands */
	uint16_t delete_cid;
	uint32_t inflight;
};

struct nvme_cq {
	uint8_t *ring;
	uint32_t size, head, tail;
	uint16_t iv;
	bool valid, ien, phase;
	bool notify;			/* entries posted since the last interrupt */
	uint32_t nsq;			/* submission queues completing here */
};

struct pci_nvme_softc;

/* An I/O command in the block layer; ioslots of them, preallocated. */
struct nvme_req {
	struct blockif_req nr_br;	/* first: the backend hands this back */
	struct nvme_req *nr_next;	/* free list */
	uint32_t nr_gen;		/* the controller's, at submission */
	uint16_t nr_sqid, nr_cid;
	uint8_t nr_opc;
	bool nr_flush_after;		/* FUA, or the write cache is off */
	int nr_iovcnt;
	uint8_t *nr_dsm;		/* DSM: the ranges (owned) and the next one */
	int nr_dsm_n, nr_dsm_i;
	struct iovec nr_iov[NVME_MAX_IOV];
};

struct pci_nvme_softc {
	struct pci_devinst *nsc_pi;
	pthread_mutex_t nsc_mtx;
	/* The namespace: one of these two. */
	struct blockif *nsc_bc;
	uint8_t *nsc_ram;
	uint64_t nsc_ramsize;
	uint64_t nsc_nsze;		/* in logical blocks */
	uint32_t nsc_sectsz;
	uint8_t nsc_lbads;
	bool nsc_ro, nsc_dsm;
	char nsc_ser[NVME_SERLEN + 1];
	uint64_t nsc_eui64;
	uint32_t nsc_maxq, nsc_qsz, nsc_ioslots;
	/* Registers. */
	uint64_t nsc_cap;
	uint32_t nsc_cc, nsc_csts, nsc_aqa, nsc_intms;
	uint64_t nsc_asq, nsc_acq;
	/* Queues 0..maxq; I/O queues 1..nsc_nsq (nsc_ncq) as Number of Queues set. */
	struct nvme_sq *nsc_sq;
	struct nvme_cq *nsc_cq;
	uint32_t nsc_nsq, nsc_ncq;
	uint32_t nsc_ioqs_made;		/* I/O queues created since enable */
	/* Requests. */
	struct nvme_req *nsc_reqs, *nsc_free;
	uint32_t nsc_gen;		/* bumped on reset: older completions are dropped */
	bool nsc_sq_blocked;		/* an SQ waits for a free slot */
	/* Features. */
	uint32_t nsc_arb, nsc_power, nsc_tmpth_over, nsc_tmpth_under, nsc_errrec;
	uint32_t nsc_coalesce, nsc_aec, nsc_wan;
	bool nsc_wce;
	uint8_t *nsc_ivc_cd;		/* Interrupt Vector Configuration's CD, per vector */
	uint16_t nsc_aer_cid[NVME_AERL];
	int nsc_naer;
	/* SMART counters: 512-byte units and commands. */
	uint64_t nsc_units_read, nsc_units_written, nsc_reads, nsc_writes;
	uint32_t nsc_logged;		/* one line per kind of guest error */
	bool nsc_intx;			/* INTx asserted */
	/* Shutdown: once no command is in the block layer, a flush; then SHST done. */
	uint32_t nsc_inflight;
	bool nsc_shut_pending, nsc_shut_busy;
	uint32_t nsc_shut_gen;
	struct blockif_req nsc_shut_br;
	uint8_t nsc_buf[NVME_PAGE];	/* identify data, log pages */
	struct iovec nsc_admin_iov[NVME_MAX_IOV];	/* admin data buffers */
};

/* nvme.c: a command's completion, and its data through PRP1/PRP2. */
void nvme_complete(struct pci_nvme_softc *sc, uint16_t sqid, uint16_t cid,
    uint16_t status, uint32_t dw0);
uint16_t nvme_prp_copy(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd,
    uint8_t *buf, size_t buflen, size_t len, bool to_guest);

/* nvme_admin.c: an admin command from SQ 0; the end of a Delete I/O SQ held
 * for its commands; the features as reset leaves them. */
void nvme_admin(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd);
void nvme_sq_finish_delete(struct pci_nvme_softc *sc, uint16_t qid);
void nvme_features_default(struct pci_nvme_softc *sc);

#endif
