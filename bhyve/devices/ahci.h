/* The parts of the AHCI controller (devices/ahci.c) that its ATA and ATAPI halves
 * (devices/ahci_ata.c, devices/ahci_atapi.c) share: a port, a command in the
 * backend, ATA's status bits and commands, and the helpers that end a command.
 * Not an interface for other devices. */
#ifndef AHCI_H
#define AHCI_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/block.h"

#define AHCI_NSLOTS		32
#define CD_BLOCK		2048
#define SIG_ATAPI		0xeb140101u

/* SCSI sense keys and additional sense codes. */
#define SENSE_NONE		0x00
#define SENSE_MEDIUM_ERROR	0x03
#define SENSE_ILLEGAL_REQUEST	0x05
#define SENSE_DATA_PROTECT	0x07
#define ASC_INVALID_OPCODE	0x20
#define ASC_LBA_OUT_OF_RANGE	0x21
#define ASC_INVALID_FIELD	0x24
#define ASC_WRITE_PROTECTED	0x27
#define ASC_SAVING_UNSUPPORTED	0x39
#define ASC_READ_ERROR		0x11

/* ATA status and error bits, commands. */
#define ATA_S_ERR	0x01
#define ATA_S_DRQ	0x08
#define ATA_S_DSC	0x10
#define ATA_S_DRDY	0x40
#define ATA_S_BSY	0x80
#define ATA_S_OK	(ATA_S_DRDY | ATA_S_DSC)
#define ATA_E_ABRT	0x04
#define ATA_E_IDNF	0x10
#define ATA_E_UNC	0x40
#define ATA_CTL_SRST	0x04

#define ATA_DSM			0x06
#define ATA_READ		0x20
#define ATA_READ_EXT		0x24
#define ATA_READ_DMA_EXT	0x25
#define ATA_READ_MUL_EXT	0x29
#define ATA_WRITE		0x30
#define ATA_WRITE_EXT		0x34
#define ATA_WRITE_DMA_EXT	0x35
#define ATA_WRITE_MUL_EXT	0x39
#define ATA_READ_LOG_EXT	0x2f
#define ATA_READ_VERIFY		0x40
#define ATA_READ_VERIFY_EXT	0x42
#define ATA_READ_FPDMA		0x60
#define ATA_WRITE_FPDMA		0x61
#define ATA_READ_LOG_DMA_EXT	0x47
#define ATA_PACKET		0xa0
#define ATA_IDENTIFY_PACKET	0xa1
#define ATA_SMART		0xb0
#define ATA_READ_MUL		0xc4
#define ATA_WRITE_MUL		0xc5
#define ATA_SET_MULTIPLE	0xc6
#define ATA_READ_DMA		0xc8
#define ATA_WRITE_DMA		0xca
#define ATA_STANDBY_IMM		0xe0
#define ATA_IDLE_IMM		0xe1
#define ATA_STANDBY		0xe2
#define ATA_IDLE		0xe3
#define ATA_CHECK_POWER		0xe5
#define ATA_SLEEP		0xe6
#define ATA_FLUSH		0xe7
#define ATA_FLUSH_EXT		0xea
#define ATA_IDENTIFY		0xec
#define ATA_SET_FEATURES	0xef

struct ahci_softc;

struct ahci_port {
	struct ahci_softc *sc;
	struct blockif *bc;		/* NULL: nothing attached */
	int num;
	bool atapi, ro, delete_ok;
	uint32_t sectsz, psectsz;	/* an ATA disk's logical and physical sector */
	uint64_t nsect;			/* logical sectors, or 2048-byte blocks */
	uint16_t nmrr;
	char ser[21], rev[9], model[41];
	/* Registers and device state, under sc->mtx. */
	uint64_t clb, fb;
	uint32_t is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
	uint32_t busy;			/* slots handed to the backend */
	uint32_t gen;			/* bumped on reset: older completions are dropped */
	bool broken;			/* CLB or FB outside RAM: stopped until ST is cleared */
	bool logged;
	uint8_t mult;
	/* The write cache (SET FEATURES 02h/82h; on at start): off, every write and
	 * TRIM is durable before it completes. Kept across resets, so that a
	 * driver's choice is never undone behind its back. */
	bool wce;
	bool ncq_err;			/* an NCQ command failed: log 10h describes it */
	uint8_t ncq_err_log[14];	/* tag, then status, error and the FIS's LBA/count */
	uint8_t sense_key, asc;
};

/* One command in the backend: one or more requests (a transfer of more than
 * AHCI_IOV_MAX buffers, or a TRIM of several ranges) that complete together. */
struct ahci_cmd;
struct ahci_ioreq {
	struct blockif_req br;		/* first: the backend hands this back */
	struct ahci_cmd *cmd;
};

struct ahci_cmd {
	struct ahci_port *p;
	uint32_t gen;
	int slot;
	bool ncq, pio, atapi;
	int nreq, left;
	int error;
	uint32_t bytes;
	uint8_t cfis[20];
	struct iovec *iov;		/* owned */
	struct ahci_ioreq req[];
};

static inline void ahci_sense(struct ahci_port *p, uint8_t key, uint8_t asc)
{
	p->sense_key = key;
	p->asc = asc;
}

/* ahci.c: the port's one-time log line, the D2H FIS, ending a command that is
 * not queued, the NCQ error log, the guest's buffers. sc->mtx is held for all
 * of these. */
void ahci_log(struct ahci_port *p, const char *why);
void ahci_write_d2h(struct ahci_port *p, const uint8_t *cfis, uint8_t st, uint8_t er,
    bool irq);
void ahci_finish(struct ahci_port *p, int slot, const uint8_t *cfis, uint8_t st,
    uint8_t er, uint32_t bytes, bool pio, bool read);
void ahci_fail(struct ahci_port *p, int slot, const uint8_t *cfis, uint8_t er);
void ahci_ok(struct ahci_port *p, int slot, const uint8_t *cfis);
void ahci_note_ncq_error(struct ahci_port *p, int slot, const uint8_t *cfis, uint8_t st,
    uint8_t er);
int ahci_prdt_map(struct ahci_port *p, const uint8_t *prdt, uint32_t prdtl, uint64_t len,
    struct iovec **iovp, int *n, uint64_t *got);
int64_t ahci_prdt_copyout(struct ahci_port *p, const uint8_t *prdt, uint32_t prdtl,
    const void *src, uint64_t len);
bool ahci_submit_rw(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *prdt,
    uint32_t prdtl, enum blockif_op op, uint64_t offset, uint64_t len, bool ncq, bool pio,
    bool atapi);

/* ahci_ata.c: a disk port's commands, and the IDENTIFY strings, IDENTIFY and
 * SET FEATURES that the ATAPI half shares. */
void ahci_ata_string(uint16_t *id, int word, const char *s, int len);
void ahci_ata_checksum(uint16_t *id);
void ahci_set_features(struct ahci_port *p, int slot, const uint8_t *cfis);
/* IDENTIFY (PACKET) DEVICE: the port's data through the PRDT. */
void ahci_identify(struct ahci_port *p, int slot, const uint8_t *cfis,
    const uint8_t *prdt, uint32_t prdtl);
void ata_command(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *prdt,
    uint32_t prdtl);

/* ahci_atapi.c: a CD-ROM port's commands. */
void atapi_identify(const struct ahci_port *p, uint16_t *id);
void atapi_finish(struct ahci_port *p, int slot, const uint8_t *cfis, bool ok,
    uint32_t bytes, bool pio);
void atapi_command(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *acmd,
    const uint8_t *prdt, uint32_t prdtl);
void atapi_ata_command(struct ahci_port *p, int slot, const uint8_t *cfis,
    const uint8_t *prdt, uint32_t prdtl);

#endif
