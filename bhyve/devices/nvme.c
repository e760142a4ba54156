/* nvme: an NVM Express 1.4 controller with one namespace, written from the NVMe
 * base specification and FreeBSD's bhyve(8)/bhyve_config(5) description of its
 * options. The namespace is an image file or block device served by the shared
 * block layer (io_uring or worker threads, completions on the main event loop),
 * or a RAM buffer (ram=MiB) served synchronously on the vCPU thread.
 *
 * BAR0 holds the registers and the doorbells (stride 0), BAR4 the MSI-X table
 * (one vector per queue); MSI and INTx are the fallbacks. Queues must be
 * physically contiguous (CAP.CQR); SGLs are not offered; the page size is 4 KiB.
 * Every guest address goes through vm_map_gpa: a bad PRP fails its command, a
 * bad admin queue sets CSTS.CFS, and neither reaches the VMM. The admin
 * command set (Identify, log pages, features, I/O queue creation and deletion)
 * is in nvme_admin.c; nvme.h holds what the two files share.
 *
 * Settings (pci.B.S.F.*): path or ram (MiB), maxq, qsz, ioslots, sectsz (512,
 * 4096 or 8192), ser, eui64, dsm (auto, enable, disable), and the block options
 * ro, nocache, direct/sync, nodelete, engine and bootindex. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backends/block.h"
#include "config.h"
#include "pci_emul.h"
#include "vmmapi.h"
#include "nvme.h"

#define NVME_DID		0x0A0A
#define NVME_MSIX_BAR		4
#define NVME_DB_BASE		0x1000

/* Defaults and limits of the settings. */
#define NVME_DEF_MAXQ		16
#define NVME_DEF_QSZ		2058
#define NVME_DEF_IOSLOTS	8
#define NVME_MAX_MAXQ		2047		/* MSI-X: maxq + 1 vectors, at most 2048 */
#define NVME_MAX_IOSLOTS	1024

/* Registers. */
#define NVME_CAP		0x00
#define NVME_VS			0x08
#define NVME_INTMS		0x0c
#define NVME_INTMC		0x10
#define NVME_CC			0x14
#define NVME_CSTS		0x1c
#define NVME_NSSR		0x20
#define NVME_AQA		0x24
#define NVME_ASQ		0x28
#define NVME_ACQ		0x30
#define CC_EN			(1u << 0)
#define CC_CSS(cc)		(((cc) >> 4) & 7)
#define CC_MPS(cc)		(((cc) >> 7) & 0xf)
#define CC_AMS(cc)		(((cc) >> 11) & 7)
#define CC_SHN(cc)		(((cc) >> 14) & 3)
#define CC_WRITABLE		0x00fffff1u
#define CSTS_RDY		(1u << 0)
#define CSTS_CFS		(1u << 1)
#define CSTS_SHST_BUSY		(1u << 2)
#define CSTS_SHST_DONE		(2u << 2)
#define CSTS_SHST		(3u << 2)

/* I/O opcodes. */
#define IO_FLUSH		0x00
#define IO_WRITE		0x01
#define IO_READ			0x02
#define IO_WRITE_ZEROES		0x08
#define IO_DSM			0x09

enum { LOG_DOORBELL = 1, LOG_CQ_FULL = 2, LOG_CFS = 4, LOG_IOERR = 8 };

static void nvme_log(struct pci_nvme_softc *sc, uint32_t kind, const char *fmt, const char *why)
{
	if (sc->nsc_logged & kind)
		return;
	sc->nsc_logged |= kind;
	warnx(fmt, sc->nsc_pi->pi_name, why);
}

/* ---- settings ---- */

static const char *const nvme_keys[] = {
	"device", "path", "ram", "maxq", "qsz", "ioslots", "sectsz", "ser", "eui64", "dsm",
	"nocache", "direct", "sync", "ro", "nodelete", "bootindex", "engine",
};

static int nvme_key_known(const char *key, const char *value, void *arg)
{
	(void)value;
	(void)arg;
	for (size_t i = 0; i < nitems(nvme_keys); i++)
		if (strcmp(key, nvme_keys[i]) == 0)
			return 0;
	warnx("nvme: unknown option \"%s\"", key);
	return -1;
}

/* -s N,nvme,devpath|ram=MiB[,key[=value]...]: a first bare option is the path. */
static int pci_nvme_legacy_config(const char *node, const char *opts)
{
	if (pci_path_legacy_config(node, opts) != 0)
		return -1;
	return config_foreach_key(node, nvme_key_known, NULL);
}

static int nvme_uint(const char *node, const char *key, unsigned long lo, unsigned long hi,
    unsigned long def, uint32_t *out)
{
	const char *v = get_config_value_node(node, key);
	unsigned long x = def;

	if (v != NULL && (parse_uint(v, hi, &x) != 0 || x < lo)) {
		warnx("nvme: invalid %s \"%s\": an integer from %lu to %lu", key, v, lo, hi);
		return -1;
	}
	*out = (uint32_t)x;
	return 0;
}

/* The default EUI-64: bhyve's OUI and a hash of the VM's name and the slot. */
static uint64_t nvme_default_eui64(const struct pci_devinst *pi)
{
	const char *name = get_config_value("name");
	char buf[128];
	uint32_t h = 2166136261u;	/* FNV-1a */

	snprintf(buf, sizeof(buf), "%s/%u/%u/%u", name ? name : "", pi->pi_bus, pi->pi_slot,
	    pi->pi_func);
	for (const char *p = buf; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return 0x589cfc0000000000ULL | (uint64_t)(h & 0xffffff) << 16 | NVME_NSID;
}

static int nvme_read_config(struct pci_nvme_softc *sc, const char *node, struct blockif_opts *o,
    const char **path)
{
	const char *ram = get_config_value_node(node, "ram");
	const char *ser = get_config_value_node(node, "ser");
	const char *eui = get_config_value_node(node, "eui64");
	const char *dsm = get_config_value_node(node, "dsm");
	const char *eng = get_config_value_node(node, "engine");
	const char *bi = get_config_value_node(node, "bootindex");
	bool direct, sync, nodelete;
	uint32_t sectsz = 0;
	unsigned long v;

	if (config_foreach_key(node, nvme_key_known, NULL) != 0)
		return -1;
	*path = get_config_value_node(node, "path");
	if (*path != NULL && **path == '\0')
		*path = NULL;
	if (*path != NULL && ram != NULL) {
		warnx("nvme: %s.path and %s.ram both given: one namespace, one backing", node, node);
		return -1;
	}
	if (*path == NULL && ram == NULL) {
		warnx("nvme: no backing file, device or ram=MiB (%s.path or %s.ram)", node, node);
		return -1;
	}
	if (ram != NULL) {
		if (parse_uint(ram, 1UL << 20, &v) != 0 || v == 0) {
			warnx("nvme: invalid ram \"%s\": a size in MiB from 1 to 1048576", ram);
			return -1;
		}
		sc->nsc_ramsize = (uint64_t)v << 20;
	}
	if (nvme_uint(node, "maxq", 1, NVME_MAX_MAXQ, NVME_DEF_MAXQ, &sc->nsc_maxq) != 0 ||
	    nvme_uint(node, "qsz", 2, 65536, NVME_DEF_QSZ, &sc->nsc_qsz) != 0 ||
	    nvme_uint(node, "ioslots", 1, NVME_MAX_IOSLOTS, NVME_DEF_IOSLOTS, &sc->nsc_ioslots) != 0 ||
	    nvme_uint(node, "sectsz", 0, 8192, 0, &sectsz) != 0)
		return -1;
	if (sectsz != 0 && sectsz != 512 && sectsz != 4096 && sectsz != 8192) {
		warnx("nvme: invalid sectsz \"%u\": 512, 4096 or 8192", sectsz);
		return -1;
	}
	o->sectsz = sectsz;
	sc->nsc_sectsz = sectsz;
	if (get_config_bool_node_default(node, "ro", false, &o->ro) != 0 ||
	    get_config_bool_node_default(node, "nocache", false, &o->nocache) != 0 ||
	    get_config_bool_node_default(node, "direct", false, &direct) != 0 ||
	    get_config_bool_node_default(node, "sync", false, &sync) != 0 ||
	    get_config_bool_node_default(node, "nodelete", false, &nodelete) != 0)
		return -1;
	o->sync = direct || sync;
	if (eng != NULL && blockif_engine_parse(eng, &o->engine) != 0) {
		warnx("nvme: invalid engine \"%s\": auto, uring or threads", eng);
		return -1;
	}
	if (ser != NULL) {
		size_t len = strlen(ser);

		for (size_t i = 0; i < len; i++)
			if (ser[i] < 0x20 || ser[i] > 0x7e)
				len = NVME_SERLEN + 1;
		if (len > NVME_SERLEN) {
			warnx("nvme: ser \"%s\" must be at most %d printable characters", ser,
			    NVME_SERLEN);
			return -1;
		}
		snprintf(sc->nsc_ser, sizeof(sc->nsc_ser), "%s", ser);
	} else {
		snprintf(sc->nsc_ser, sizeof(sc->nsc_ser), "NVME-%u-%u", sc->nsc_pi->pi_slot,
		    sc->nsc_pi->pi_func);
	}
	sc->nsc_eui64 = 0;
	if (eui != NULL) {
		char *end;

		errno = 0;
		sc->nsc_eui64 = strtoull(eui, &end, 0);
		if (errno != 0 || *eui < '0' || *eui > '9' || *end != '\0') {
			warnx("nvme: invalid eui64 \"%s\": a 64-bit integer", eui);
			return -1;
		}
	}
	if (sc->nsc_eui64 == 0)
		sc->nsc_eui64 = nvme_default_eui64(sc->nsc_pi);
	if (bi != NULL && parse_uint(bi, 65535, &v) != 0) {
		warnx("nvme: invalid bootindex \"%s\"", bi);
		return -1;
	}
	sc->nsc_ro = o->ro;
	if (dsm == NULL || strcmp(dsm, "auto") == 0) {
		sc->nsc_dsm = !o->ro && !nodelete;
	} else if (strcmp(dsm, "enable") == 0) {
		sc->nsc_dsm = true;
	} else if (strcmp(dsm, "disable") == 0) {
		sc->nsc_dsm = false;
	} else {
		warnx("nvme: invalid dsm \"%s\": auto, enable or disable", dsm);
		return -1;
	}
	return 0;
}

/* ---- guest memory: PRPs ---- */

/* Appends [gpa, gpa + len) to iov, merged with the previous buffer when the host
 * memory follows on. */
static uint16_t nvme_iov_add(struct pci_nvme_softc *sc, struct iovec *iov, int *n, int max,
    uint64_t gpa, uint64_t len)
{
	uint8_t *p = vm_map_gpa(sc->nsc_pi->pi_vmctx, gpa, (size_t)len);

	if (p == NULL)
		return ST_DATA_XFER;
	if (*n > 0 && (uint8_t *)iov[*n - 1].iov_base + iov[*n - 1].iov_len == p) {
		iov[*n - 1].iov_len += (size_t)len;
		return ST_OK;
	}
	if (*n == max)
		return ST_INTERNAL;
	iov[*n].iov_base = p;
	iov[*n].iov_len = (size_t)len;
	(*n)++;
	return ST_OK;
}

/* Maps the len bytes (at most NVME_MAX_XFER) that PRP1/PRP2 describe into iov.
 * PRP1 may start anywhere dword aligned; every later page starts at offset 0; a
 * PRP list's last entry chains to the next list page when more remains. */
static uint16_t nvme_prp_map(struct pci_nvme_softc *sc, uint64_t prp1, uint64_t prp2,
    uint64_t len, struct iovec *iov, int max, int *niov)
{
	uint64_t chunk, list;
	uint16_t st;

	*niov = 0;
	if (len == 0)
		return ST_OK;
	if (prp1 & 3)
		return ST_PRP_OFFSET;
	chunk = NVME_PAGE - (prp1 & NVME_PAGE_MASK);
	if (chunk > len)
		chunk = len;
	if ((st = nvme_iov_add(sc, iov, niov, max, prp1, chunk)) != ST_OK)
		return st;
	len -= chunk;
	if (len == 0)
		return ST_OK;
	if (len <= NVME_PAGE) {
		if (prp2 & NVME_PAGE_MASK)
			return ST_PRP_OFFSET;
		return nvme_iov_add(sc, iov, niov, max, prp2, len);
	}
	list = prp2;
	if (list & 7)
		return ST_PRP_OFFSET;
	while (len > 0) {
		uint64_t nent = (NVME_PAGE - (list & NVME_PAGE_MASK)) / 8;
		uint64_t need = (len + NVME_PAGE - 1) / NVME_PAGE;
		uint64_t take = need <= nent ? need : nent;
		const uint8_t *lp = vm_map_gpa(sc->nsc_pi->pi_vmctx, list, (size_t)take * 8);

		if (lp == NULL)
			return ST_DATA_XFER;
		for (uint64_t i = 0; i < take; i++) {
			uint64_t e = le_get(lp + 8 * i, 8);

			if (i == nent - 1 && need > nent) {
				/* The last entry of a full page points at the next one. */
				if (e & NVME_PAGE_MASK)
					return ST_PRP_OFFSET;
				list = e;
				break;
			}
			if (e & NVME_PAGE_MASK)
				return ST_PRP_OFFSET;
			chunk = len < NVME_PAGE ? len : NVME_PAGE;
			if ((st = nvme_iov_add(sc, iov, niov, max, e, chunk)) != ST_OK)
				return st;
			len -= chunk;
		}
	}
	return ST_OK;
}

/* Copies len bytes between buf (buflen of them; zeros beyond when writing to the
 * guest) and the PRP-described guest buffer. */
uint16_t nvme_prp_copy(struct pci_nvme_softc *sc, const struct nvme_cmd *cmd,
    uint8_t *buf, size_t buflen, size_t len, bool to_guest)
{
	struct iovec *iov = sc->nsc_admin_iov;
	size_t done = 0;
	int n;
	uint16_t st = nvme_prp_map(sc, cmd->prp1, cmd->prp2, len, iov, NVME_MAX_IOV, &n);

	if (st != ST_OK)
		return st;
	for (int i = 0; i < n; i++) {
		size_t l = iov[i].iov_len;
		size_t have = done < buflen ? buflen - done : 0;
		size_t c = l < have ? l : have;

		if (to_guest) {
			if (c > 0)
				memcpy(iov[i].iov_base, buf + done, c);
			memset((uint8_t *)iov[i].iov_base + c, 0, l - c);
		} else if (c > 0) {
			memcpy(buf + done, iov[i].iov_base, c);
		}
		done += l;
	}
	return ST_OK;
}

/* ---- completions and interrupts ---- */

static void nvme_intx_update(struct pci_nvme_softc *sc)
{
	struct pci_devinst *pi = sc->nsc_pi;
	bool level = false;

	if (pci_msix_enabled(pi) || pci_msi_enabled(pi)) {
		level = false;
	} else if (!(sc->nsc_intms & 1)) {
		for (uint32_t i = 0; i <= sc->nsc_maxq && !level; i++) {
			const struct nvme_cq *cq = &sc->nsc_cq[i];

			level = cq->valid && cq->ien && cq->head != cq->tail;
		}
	}
	if (level == sc->nsc_intx)
		return;
	sc->nsc_intx = level;
	if (level)
		pci_lintr_assert(pi);
	else
		pci_lintr_deassert(pi);
}

/* One interrupt per completion queue that got entries since the last call. */
static void nvme_intr_flush(struct pci_nvme_softc *sc)
{
	struct pci_devinst *pi = sc->nsc_pi;
	bool msix = pci_msix_enabled(pi), msi = pci_msi_enabled(pi);

	for (uint32_t i = 0; i <= sc->nsc_maxq; i++) {
		struct nvme_cq *cq = &sc->nsc_cq[i];

		if (!cq->notify)
			continue;
		cq->notify = false;
		if (!cq->valid || !cq->ien)
			continue;
		if (msix)
			pci_generate_msix(pi, cq->iv);
		else if (msi && !(sc->nsc_intms & 1))
			pci_generate_msi(pi, 0);
	}
	if (!msix && !msi)
		nvme_intx_update(sc);
}

/* Posts a completion entry, the phase tag last. */
static void nvme_post(struct pci_nvme_softc *sc, uint16_t cqid, uint16_t sqid, uint16_t cid,
    uint16_t status, uint32_t dw0)
{
	struct nvme_cq *cq = &sc->nsc_cq[cqid];
	uint32_t next;
	uint8_t *e;

	if (!cq->valid)
		return;
	next = cq->tail + 1 == cq->size ? 0 : cq->tail + 1;
	if (next == cq->head) {
		nvme_log(sc, LOG_CQ_FULL, "%s: %s (reported once)",
		    "completion queue full: the driver lost a completion");
		return;
	}
	e = cq->ring + (size_t)cq->tail * 16;
	le_put(e, dw0, 4);
	le_put(e + 4, 0, 4);
	le_put(e + 8, sc->nsc_sq[sqid].head | (uint32_t)sqid << 16, 4);
	atomic_thread_fence(memory_order_release);
	__atomic_store_n((uint32_t *)(void *)(e + 12),
	    (uint32_t)cid | (uint32_t)cq->phase << 16 | (uint32_t)(status & 0x7fff) << 17,
	    __ATOMIC_RELEASE);
	cq->tail = next;
	if (next == 0)
		cq->phase = !cq->phase;
	cq->notify = true;
}

void nvme_complete(struct pci_nvme_softc *sc, uint16_t sqid, uint16_t cid,
    uint16_t status, uint32_t dw0)
{
	nvme_post(sc, sc->nsc_sq[sqid].cqid, sqid, cid, status, dw0);
}

/* ---- I/O commands ---- */

static struct nvme_req *nvme_req_get(struct pci_nvme_softc *sc, uint16_t sqid,
    const struct nvme_cmd *cmd)
{
	struct nvme_req *r = sc->nsc_free;

	sc->nsc_free = r->nr_next;
	r->nr_next = NULL;
	r->nr_gen = sc->nsc_gen;
	r->nr_sqid = sqid;
	r->nr_cid = cmd->cid;
	r->nr_opc = cmd->opc;
	r->nr_flush_after = false;
	r->nr_dsm = NULL;
	r->nr_dsm_n = r->nr_dsm_i = 0;
	r->nr_br = (struct blockif_req){ .br_iov = r->nr_iov };
	return r;
}

static void nvme_req_put(struct pci_nvme_softc *sc, struct nvme_req *r)
{
	free(r->nr_dsm);
	r->nr_dsm = NULL;
	r->nr_next = sc->nsc_free;
	sc->nsc_free = r;
}

static bool nvme_lba_ok(const struct pci_nvme_softc *sc, uint64_t slba, uint64_t nlb)
{
	return slba < sc->nsc_nsze && nlb <= sc->nsc_nsze - slba;
}

/* RAM namespace: the request runs here and now. */
static uint16_t nvme_ram_io(struct pci_nvme_softc *sc, struct blockif_req *br)
{
	uint8_t *p = sc->nsc_ram + br->br_offset;

	switch (br->br_op) {
	case BLOCKIF_READ:
	case BLOCKIF_WRITE:
		for (int i = 0; i < br->br_iovcnt; i++) {
			if (br->br_op == BLOCKIF_READ)
				memcpy(br->br_iov[i].iov_base, p, br->br_iov[i].iov_len);
			else
				memcpy(p, br->br_iov[i].iov_base, br->br_iov[i].iov_len);
			p += br->br_iov[i].iov_len;
		}
		break;
	case BLOCKIF_DISCARD:
	case BLOCKIF_WRITE_ZEROES:
		memset(p, 0, (size_t)br->br_len);
		break;
	case BLOCKIF_FLUSH:
		break;
	}
	return ST_OK;
}

/* Points the request at the next DSM range with a length; false when none is left. */
static bool nvme_dsm_next(struct pci_nvme_softc *sc, struct nvme_req *r)
{
	while (r->nr_dsm_i < r->nr_dsm_n) {
		const uint8_t *rg = r->nr_dsm + 16 * r->nr_dsm_i++;
		uint64_t nlb = le_get(rg + 4, 4), slba = le_get(rg + 8, 8);

		if (nlb == 0)
			continue;
		r->nr_br.br_op = BLOCKIF_DISCARD;
		r->nr_br.br_offset = slba * sc->nsc_sectsz;
		r->nr_br.br_len = nlb * sc->nsc_sectsz;
		return true;
	}
	return false;
}

/* Builds the request; ST_OK and a request for the block layer, else a status. */
static uint16_t nvme_io_prep(struct pci_nvme_softc *sc, struct nvme_req *r,
    const struct nvme_cmd *cmd)
{
	struct blockif_req *br = &r->nr_br;
	uint64_t slba = cmd->cdw10 | (uint64_t)cmd->cdw11 << 32;
	uint64_t nlb = (cmd->cdw12 & 0xffff) + 1, bytes = nlb * sc->nsc_sectsz;
	uint16_t st;
	int n;

	if (cmd->opc != IO_FLUSH || cmd->nsid != 0xffffffff) {
		if (cmd->nsid != NVME_NSID)
			return ST_INVALID_NS;
	}
	switch (cmd->opc) {
	case IO_READ:
	case IO_WRITE:
		if (bytes > NVME_MAX_XFER)
			return ST_INVALID_FIELD;
		if (!nvme_lba_ok(sc, slba, nlb))
			return ST_LBA_RANGE;
		if (cmd->opc == IO_WRITE && sc->nsc_ro)
			return ST_WRITE_PROTECTED;
		st = nvme_prp_map(sc, cmd->prp1, cmd->prp2, bytes, r->nr_iov, NVME_MAX_IOV, &n);
		if (st != ST_OK)
			return st;
		br->br_op = cmd->opc == IO_READ ? BLOCKIF_READ : BLOCKIF_WRITE;
		br->br_offset = slba * sc->nsc_sectsz;
		br->br_iovcnt = r->nr_iovcnt = n;
		r->nr_flush_after = cmd->opc == IO_WRITE && (!sc->nsc_wce || (cmd->cdw12 & (1u << 30)));
		if (cmd->opc == IO_READ) {
			sc->nsc_reads++;
			sc->nsc_units_read += bytes / 512;
		} else {
			sc->nsc_writes++;
			sc->nsc_units_written += bytes / 512;
		}
		return ST_OK;
	case IO_FLUSH:
		br->br_op = BLOCKIF_FLUSH;
		return ST_OK;
	case IO_WRITE_ZEROES:
		if (!nvme_lba_ok(sc, slba, nlb))
			return ST_LBA_RANGE;
		if (sc->nsc_ro)
			return ST_WRITE_PROTECTED;
		br->br_op = BLOCKIF_WRITE_ZEROES;
		br->br_offset = slba * sc->nsc_sectsz;
		br->br_len = bytes;
		br->br_unmap = (cmd->cdw12 >> 25) & 1;
		r->nr_flush_after = !sc->nsc_wce || (cmd->cdw12 & (1u << 30));
		return ST_OK;
	case IO_DSM: {
		int nr = (int)(cmd->cdw10 & 0xff) + 1;

		if (!sc->nsc_dsm)
			return ST_INVALID_OPCODE;
		if (!(cmd->cdw11 & (1u << 2)))
			return ST_OK;		/* attributes only: nothing to do */
		if (sc->nsc_ro)
			return ST_WRITE_PROTECTED;
		r->nr_dsm = xmalloc((size_t)nr * 16);
		st = nvme_prp_copy(sc, cmd, r->nr_dsm, (size_t)nr * 16, (size_t)nr * 16, false);
		if (st != ST_OK)
			return st;
		for (int i = 0; i < nr; i++) {
			const uint8_t *rg = r->nr_dsm + 16 * i;
			uint64_t len = le_get(rg + 4, 4);

			if (len != 0 && !nvme_lba_ok(sc, le_get(rg + 8, 8), len))
				return ST_LBA_RANGE;
		}
		r->nr_dsm_n = nr;
		return ST_OK;
	}
	default:
		return ST_INVALID_OPCODE;
	}
}

/* Takes one I/O command: completed at once, or handed to the block layer. */
static void nvme_io(struct pci_nvme_softc *sc, uint16_t sqid, const struct nvme_cmd *cmd)
{
	struct nvme_req *r = nvme_req_get(sc, sqid, cmd);
	uint16_t st = cmd->psdt != 0 ? ST_INVALID_FIELD : nvme_io_prep(sc, r, cmd);

	if (st == ST_OK && cmd->opc == IO_DSM && !nvme_dsm_next(sc, r)) {
		nvme_req_put(sc, r);		/* attributes only, or empty ranges */
		nvme_complete(sc, sqid, cmd->cid, ST_OK, 0);
		return;
	}
	if (st != ST_OK || sc->nsc_bc == NULL) {
		if (st == ST_OK) {
			st = nvme_ram_io(sc, &r->nr_br);
			while (st == ST_OK && r->nr_dsm_i < r->nr_dsm_n && nvme_dsm_next(sc, r))
				st = nvme_ram_io(sc, &r->nr_br);
		}
		nvme_req_put(sc, r);
		nvme_complete(sc, sqid, cmd->cid, st, 0);
		return;
	}
	sc->nsc_sq[sqid].inflight++;
	sc->nsc_inflight++;
	blockif_submit(sc->nsc_bc, &r->nr_br);
}

/* ---- submission queues ---- */

static void nvme_cmd_parse(struct nvme_cmd *c, const uint8_t *e)
{
	uint8_t raw[64];

	memcpy(raw, e, sizeof(raw));		/* one read: the guest may change it */
	c->opc = raw[0];
	c->psdt = raw[1] >> 6;
	c->cid = (uint16_t)le_get(raw + 2, 2);
	c->nsid = (uint32_t)le_get(raw + 4, 4);
	c->prp1 = le_get(raw + 24, 8);
	c->prp2 = le_get(raw + 32, 8);
	c->cdw10 = (uint32_t)le_get(raw + 40, 4);
	c->cdw11 = (uint32_t)le_get(raw + 44, 4);
	c->cdw12 = (uint32_t)le_get(raw + 48, 4);
	c->cdw13 = (uint32_t)le_get(raw + 52, 4);
}

static void nvme_sq_run(struct pci_nvme_softc *sc, uint16_t sqid)
{
	struct nvme_sq *sq = &sc->nsc_sq[sqid];
	struct nvme_cmd cmd;

	while (sq->valid && !sq->deleting && sq->head != sq->tail &&
	    (sc->nsc_csts & (CSTS_RDY | CSTS_CFS)) == CSTS_RDY) {
		if (sqid != 0 && sc->nsc_free == NULL) {
			sc->nsc_sq_blocked = true;
			return;
		}
		nvme_cmd_parse(&cmd, sq->ring + (size_t)sq->head * 64);
		sq->head = sq->head + 1 == sq->size ? 0 : sq->head + 1;
		if (sqid == 0)
			nvme_admin(sc, &cmd);
		else
			nvme_io(sc, sqid, &cmd);
	}
}

/* Submission queues that stopped for want of a slot, in order. */
static void nvme_sq_resume(struct pci_nvme_softc *sc)
{
	if (!sc->nsc_sq_blocked)
		return;
	sc->nsc_sq_blocked = false;
	if (sc->nsc_bc != NULL)
		blockif_plug(sc->nsc_bc);
	for (uint32_t q = 1; q <= sc->nsc_maxq && !sc->nsc_sq_blocked; q++)
		nvme_sq_run(sc, (uint16_t)q);
	if (sc->nsc_bc != NULL)
		blockif_unplug(sc->nsc_bc);
}

/* A normal shutdown's flush goes once nothing else is in the block layer, so
 * that it covers every write completed before it. */
static void nvme_shutdown_step(struct pci_nvme_softc *sc)
{
	if (!sc->nsc_shut_pending || sc->nsc_inflight > 0 || sc->nsc_shut_busy)
		return;
	sc->nsc_shut_pending = false;
	if (sc->nsc_bc == NULL) {
		sc->nsc_csts = (sc->nsc_csts & ~CSTS_SHST) | CSTS_SHST_DONE;
		return;
	}
	sc->nsc_shut_busy = true;
	sc->nsc_shut_gen = sc->nsc_gen;
	sc->nsc_shut_br = (struct blockif_req){ .br_op = BLOCKIF_FLUSH };
	blockif_submit(sc->nsc_bc, &sc->nsc_shut_br);
}

/* Main loop: the block layer finished these. */
static void pci_nvme_done(void *arg, struct blockif_req *list)
{
	struct pci_nvme_softc *sc = arg;

	pthread_mutex_lock(&sc->nsc_mtx);
	while (list != NULL) {
		struct nvme_req *r = (struct nvme_req *)(void *)list;
		int err = list->br_error;
		uint16_t st = ST_OK;
		struct nvme_sq *sq;

		list = list->br_next;
		if (&r->nr_br == &sc->nsc_shut_br) {	/* the shutdown's flush */
			sc->nsc_shut_busy = false;
			if (sc->nsc_shut_gen == sc->nsc_gen &&
			    (sc->nsc_csts & CSTS_SHST) == CSTS_SHST_BUSY) {
				if (err != 0)
					nvme_log(sc, LOG_IOERR, "%s: flush at shutdown: %s (reported once)",
					    strerror(err));
				sc->nsc_csts = (sc->nsc_csts & ~CSTS_SHST) | CSTS_SHST_DONE;
			}
			continue;
		}
		r->nr_br.br_next = NULL;
		if (r->nr_gen != sc->nsc_gen) {	/* from before a reset */
			nvme_req_put(sc, r);
			continue;
		}
		sq = &sc->nsc_sq[r->nr_sqid];
		if (err == 0 && r->nr_flush_after) {
			r->nr_flush_after = false;
			r->nr_br = (struct blockif_req){ .br_op = BLOCKIF_FLUSH };
			blockif_submit(sc->nsc_bc, &r->nr_br);
			continue;
		}
		if (err == EOPNOTSUPP && r->nr_br.br_op == BLOCKIF_DISCARD) {
			/* No hole punching here: zeros keep DLFEAT's promise. */
			r->nr_br.br_op = BLOCKIF_WRITE_ZEROES;
			r->nr_br.br_unmap = true;
			r->nr_br.br_error = 0;
			blockif_submit(sc->nsc_bc, &r->nr_br);
			continue;
		}
		if (err == 0 && r->nr_opc == IO_DSM && nvme_dsm_next(sc, r)) {
			r->nr_br.br_error = 0;
			blockif_submit(sc->nsc_bc, &r->nr_br);
			continue;
		}
		if (err != 0) {
			nvme_log(sc, LOG_IOERR, "%s: I/O error: %s (reported once)", strerror(err));
			st = r->nr_opc == IO_READ ? ST_READ_ERROR :
			    r->nr_opc == IO_WRITE ? ST_WRITE_FAULT : ST_INTERNAL;
		}
		sq->inflight--;
		sc->nsc_inflight--;
		nvme_complete(sc, r->nr_sqid, r->nr_cid, st, 0);
		nvme_req_put(sc, r);
		if (sq->deleting && sq->inflight == 0)
			nvme_sq_finish_delete(sc, r->nr_sqid);
	}
	nvme_sq_resume(sc);
	nvme_shutdown_step(sc);
	nvme_intr_flush(sc);
	pthread_mutex_unlock(&sc->nsc_mtx);
}

/* ---- controller state ---- */

/* CC.EN 1 -> 0: nothing of the old queues survives, and the block layer is quiet
 * before they go (older completions are then dropped by generation). */
static void nvme_reset(struct pci_nvme_softc *sc)
{
	if (sc->nsc_bc != NULL)
		blockif_quiesce(sc->nsc_bc);
	sc->nsc_gen++;
	for (uint32_t i = 0; i <= sc->nsc_maxq; i++) {
		sc->nsc_sq[i] = (struct nvme_sq){ 0 };
		sc->nsc_cq[i] = (struct nvme_cq){ 0 };
	}
	sc->nsc_csts = 0;
	sc->nsc_inflight = 0;
	sc->nsc_shut_pending = false;
	sc->nsc_intms = 0;
	sc->nsc_naer = 0;
	sc->nsc_ioqs_made = 0;
	sc->nsc_sq_blocked = false;
	nvme_features_default(sc);
	nvme_intx_update(sc);
}

static void nvme_fatal(struct pci_nvme_softc *sc, const char *why)
{
	nvme_log(sc, LOG_CFS, "%s: controller fatal status: %s (reported once)", why);
	sc->nsc_csts |= CSTS_CFS;
}

/* CC.EN 0 -> 1: the admin queues from AQA/ASQ/ACQ. */
static void nvme_enable(struct pci_nvme_softc *sc)
{
	uint32_t sqs = (sc->nsc_aqa & 0xfff) + 1, cqs = ((sc->nsc_aqa >> 16) & 0xfff) + 1;
	struct vmctx *ctx = sc->nsc_pi->pi_vmctx;
	uint8_t *sring, *cring;

	if (CC_MPS(sc->nsc_cc) != 0 || CC_CSS(sc->nsc_cc) != 0 || CC_AMS(sc->nsc_cc) != 0) {
		nvme_fatal(sc, "CC asks for a page size, command set or arbitration not offered");
		return;
	}
	if (sqs < 2 || cqs < 2) {
		nvme_fatal(sc, "admin queue of one entry");
		return;
	}
	sring = vm_map_gpa(ctx, sc->nsc_asq, (size_t)sqs * 64);
	cring = vm_map_gpa(ctx, sc->nsc_acq, (size_t)cqs * 16);
	if (sring == NULL || cring == NULL) {
		nvme_fatal(sc, "admin queue outside guest RAM");
		return;
	}
	sc->nsc_sq[0] = (struct nvme_sq){ .ring = sring, .size = sqs, .valid = true };
	sc->nsc_cq[0] = (struct nvme_cq){ .ring = cring, .size = cqs, .valid = true, .ien = true,
	    .phase = true, .nsq = 1 };
	sc->nsc_csts = CSTS_RDY;
}

static void nvme_cc_write(struct pci_nvme_softc *sc, uint32_t val)
{
	uint32_t old = sc->nsc_cc;

	sc->nsc_cc = val & CC_WRITABLE;
	if ((old & CC_EN) && !(val & CC_EN)) {
		nvme_reset(sc);
	} else if (!(old & CC_EN) && (val & CC_EN)) {
		nvme_enable(sc);
	}
	/* Shutdown: SHST says "occurring" until the commands in the block layer
	 * have finished and a flush after them has too. */
	if (CC_SHN(sc->nsc_cc) != 0 && (sc->nsc_cc & CC_EN)) {
		if ((sc->nsc_csts & CSTS_SHST) == 0) {
			sc->nsc_csts |= CSTS_SHST_BUSY;
			sc->nsc_shut_pending = true;
			nvme_shutdown_step(sc);
		}
	} else if (CC_SHN(sc->nsc_cc) == 0) {
		sc->nsc_csts &= ~CSTS_SHST;
		sc->nsc_shut_pending = false;
	}
}

static void nvme_doorbell(struct pci_nvme_softc *sc, uint64_t off, uint32_t val)
{
	uint64_t idx = (off - NVME_DB_BASE) / 4;
	uint64_t qid = idx / 2;
	bool cqdb = idx & 1;

	if ((off & 3) || qid > sc->nsc_maxq) {
		nvme_log(sc, LOG_DOORBELL, "%s: %s (reported once)",
		    "doorbell write beyond the configured queues ignored");
		return;
	}
	if ((sc->nsc_csts & (CSTS_RDY | CSTS_CFS)) != CSTS_RDY)
		return;
	if (cqdb) {
		struct nvme_cq *cq = &sc->nsc_cq[qid];

		if (!cq->valid || val >= cq->size) {
			nvme_log(sc, LOG_DOORBELL, "%s: %s (reported once)",
			    "completion doorbell of a missing queue or past its end ignored");
			return;
		}
		cq->head = val;
		if (!pci_msix_enabled(sc->nsc_pi) && !pci_msi_enabled(sc->nsc_pi))
			nvme_intx_update(sc);
		/* A full queue may have held back nothing: completions are never held. */
		return;
	}
	{
		struct nvme_sq *sq = &sc->nsc_sq[qid];

		if (!sq->valid || sq->deleting || val >= sq->size) {
			nvme_log(sc, LOG_DOORBELL, "%s: %s (reported once)",
			    "submission doorbell of a missing queue or past its end ignored");
			return;
		}
		sq->tail = val;
		if (sc->nsc_bc != NULL)
			blockif_plug(sc->nsc_bc);	/* one submission for the batch */
		if (qid != 0 && sc->nsc_sq_blocked)
			nvme_sq_resume(sc);	/* keep the older queues first */
		nvme_sq_run(sc, (uint16_t)qid);
		if (sc->nsc_bc != NULL)
			blockif_unplug(sc->nsc_bc);
		nvme_intr_flush(sc);
	}
}

/* ---- registers ---- */

static uint32_t nvme_reg_read(struct pci_nvme_softc *sc, uint64_t off)
{
	switch (off) {
	case NVME_CAP:
		return (uint32_t)sc->nsc_cap;
	case NVME_CAP + 4:
		return (uint32_t)(sc->nsc_cap >> 32);
	case NVME_VS:
		return 0x00010400;
	case NVME_INTMS:
	case NVME_INTMC:
		return sc->nsc_intms;
	case NVME_CC:
		return sc->nsc_cc;
	case NVME_CSTS:
		return sc->nsc_csts;
	case NVME_AQA:
		return sc->nsc_aqa;
	case NVME_ASQ:
		return (uint32_t)sc->nsc_asq;
	case NVME_ASQ + 4:
		return (uint32_t)(sc->nsc_asq >> 32);
	case NVME_ACQ:
		return (uint32_t)sc->nsc_acq;
	case NVME_ACQ + 4:
		return (uint32_t)(sc->nsc_acq >> 32);
	default:
		return 0;		/* NSSR, reserved, doorbells */
	}
}

static void nvme_reg_write(struct pci_nvme_softc *sc, uint64_t off, uint32_t val)
{
	bool vectors = pci_msix_enabled(sc->nsc_pi);

	if (off >= NVME_DB_BASE) {
		nvme_doorbell(sc, off, val);
		return;
	}
	switch (off) {
	case NVME_INTMS:
	case NVME_INTMC:
		if (vectors)
			return;		/* not for MSI-X */
		if (off == NVME_INTMS)
			sc->nsc_intms |= val;
		else
			sc->nsc_intms &= ~val;
		if (pci_msi_enabled(sc->nsc_pi) && !(sc->nsc_intms & 1)) {
			/* What completed while masked is signalled now. */
			for (uint32_t i = 0; i <= sc->nsc_maxq; i++)
				if (sc->nsc_cq[i].valid && sc->nsc_cq[i].ien &&
				    sc->nsc_cq[i].head != sc->nsc_cq[i].tail)
					sc->nsc_cq[i].notify = true;
			nvme_intr_flush(sc);
		}
		nvme_intx_update(sc);
		return;
	case NVME_CC:
		nvme_cc_write(sc, val);
		return;
	case NVME_AQA:
		sc->nsc_aqa = val & 0x0fff0fff;
		return;
	case NVME_ASQ:
	case NVME_ACQ: {
		uint64_t *r = off == NVME_ASQ ? &sc->nsc_asq : &sc->nsc_acq;

		*r = (*r & ~0xffffffffULL) | (val & ~NVME_PAGE_MASK);
		return;
	}
	case NVME_ASQ + 4:
	case NVME_ACQ + 4: {
		uint64_t *r = off == NVME_ASQ + 4 ? &sc->nsc_asq : &sc->nsc_acq;

		*r = (*r & 0xffffffffULL) | (uint64_t)val << 32;
		return;
	}
	default:
		return;			/* CAP, VS, CSTS, NSSR (not supported) are read-only */
	}
}

static uint64_t pci_nvme_read(struct pci_devinst *pi, int baridx, uint64_t off, int size)
{
	struct pci_nvme_softc *sc = pi->pi_arg;
	uint64_t v;

	if (baridx != 0)
		return ~0ULL;
	pthread_mutex_lock(&sc->nsc_mtx);
	v = nvme_reg_read(sc, off & ~3ULL);
	if (size == 8)
		v |= (uint64_t)nvme_reg_read(sc, (off & ~3ULL) + 4) << 32;
	pthread_mutex_unlock(&sc->nsc_mtx);
	if (size < 4)
		v = (v >> (8 * (off & 3))) & ((1ULL << (8 * size)) - 1);
	return v;
}

static void pci_nvme_write(struct pci_devinst *pi, int baridx, uint64_t off, int size,
    uint64_t val)
{
	struct pci_nvme_softc *sc = pi->pi_arg;

	if (baridx != 0 || (size != 4 && size != 8) || (off & 3))
		return;			/* registers are 32 or 64 bits wide */
	pthread_mutex_lock(&sc->nsc_mtx);
	nvme_reg_write(sc, off, (uint32_t)val);
	if (size == 8)
		nvme_reg_write(sc, off + 4, (uint32_t)(val >> 32));
	pthread_mutex_unlock(&sc->nsc_mtx);
}

/* ---- init ---- */

static int pci_nvme_init(struct pci_devinst *pi, const char *node)
{
	struct pci_nvme_softc *sc = xcalloc(1, sizeof(*sc));
	struct blockif_opts o = { 0 };
	const char *path;
	uint64_t dbsize, barsize = 1ULL << 14;

	sc->nsc_pi = pi;
	pi->pi_arg = sc;
	if (nvme_read_config(sc, node, &o, &path) != 0)
		goto fail;
	if (path != NULL) {
		sc->nsc_bc = blockif_open(pi->pi_name, path, &o, pci_nvme_done, sc);
		if (sc->nsc_bc == NULL)
			goto fail;
		sc->nsc_sectsz = blockif_sectsz(sc->nsc_bc);
		if (sc->nsc_sectsz != 512 && sc->nsc_sectsz != 4096 && sc->nsc_sectsz != 8192) {
			warnx("%s: %s has %u-byte sectors: give sectsz=512, 4096 or 8192",
			    pi->pi_name, path, sc->nsc_sectsz);
			goto fail;
		}
		sc->nsc_nsze = blockif_size(sc->nsc_bc) / sc->nsc_sectsz;
	} else {
		if (sc->nsc_sectsz == 0)
			sc->nsc_sectsz = 4096;	/* as bhyve's RAM namespace */
		sc->nsc_ram = mmap(NULL, (size_t)sc->nsc_ramsize, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (sc->nsc_ram == MAP_FAILED) {
			sc->nsc_ram = NULL;
			warnx("%s: cannot map %llu MiB for ram=: %s", pi->pi_name,
			    (unsigned long long)(sc->nsc_ramsize >> 20), strerror(errno));
			goto fail;
		}
		sc->nsc_nsze = sc->nsc_ramsize / sc->nsc_sectsz;
	}
	while ((1u << sc->nsc_lbads) < sc->nsc_sectsz)
		sc->nsc_lbads++;
	pthread_mutex_init(&sc->nsc_mtx, NULL);
	sc->nsc_sq = xcalloc(sc->nsc_maxq + 1, sizeof(*sc->nsc_sq));
	sc->nsc_cq = xcalloc(sc->nsc_maxq + 1, sizeof(*sc->nsc_cq));
	sc->nsc_ivc_cd = xcalloc(sc->nsc_maxq + 1, 1);
	sc->nsc_reqs = xcalloc(sc->nsc_ioslots, sizeof(*sc->nsc_reqs));
	for (uint32_t i = 0; i < sc->nsc_ioslots; i++)
		nvme_req_put(sc, &sc->nsc_reqs[i]);
	nvme_features_default(sc);
	/* CAP: MQES, contiguous queues required, 30 s timeout, NVM command set,
	 * 4 KiB pages only, doorbell stride 0. */
	sc->nsc_cap = (uint64_t)(sc->nsc_qsz - 1) | 1ULL << 16 | 60ULL << 24 | 1ULL << 37;

	pci_set_cfgdata16(pi, PCIR_VENDOR, NVME_VID);
	pci_set_cfgdata16(pi, PCIR_DEVICE, NVME_DID);
	pci_set_cfgdata16(pi, PCIR_SUBVEND_0, NVME_VID);
	pci_set_cfgdata16(pi, PCIR_SUBDEV_0, NVME_DID);
	pci_set_cfgdata8(pi, PCIR_CLASS, 0x01);		/* mass storage */
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, 0x08);	/* non-volatile memory */
	pci_set_cfgdata8(pi, PCIR_PROGIF, 0x02);	/* NVM Express */
	dbsize = NVME_DB_BASE + 8ULL * (sc->nsc_maxq + 1);
	while (barsize < dbsize)
		barsize <<= 1;
	if (pci_emul_alloc_bar(pi, 0, PCIBAR_MEM64, barsize) != 0 ||
	    pci_emul_add_msicap(pi, 1) != 0 ||
	    pci_emul_add_msixcap(pi, (int)sc->nsc_maxq + 1, NVME_MSIX_BAR) != 0 ||
	    pci_emul_add_pciecap(pi, 9) != 0)	/* a root-complex integrated endpoint */
		goto fail;
	pci_lintr_request(pi);
	return 0;
fail:
	if (sc->nsc_bc != NULL)
		blockif_close(sc->nsc_bc);
	if (sc->nsc_ram != NULL)
		munmap(sc->nsc_ram, (size_t)sc->nsc_ramsize);
	free(sc->nsc_sq);
	free(sc->nsc_cq);
	free(sc->nsc_ivc_cd);
	free(sc->nsc_reqs);
	pi->pi_arg = NULL;
	free(sc);
	return -1;
}

static void pci_nvme_deinit(struct pci_devinst *pi)
{
	struct pci_nvme_softc *sc = pi->pi_arg;

	if (sc != NULL && sc->nsc_bc != NULL) {
		blockif_close(sc->nsc_bc);
		sc->nsc_bc = NULL;
	}
}

static const struct pci_devemu pci_de_nvme = {
	.pe_emu = "nvme",
	/* SeaBIOS finds an NVMe boot device by its slot (bootprio_find_pci_device). */
	.pe_fwname = "nvme",
	.pe_init = pci_nvme_init,
	.pe_deinit = pci_nvme_deinit,
	.pe_legacy_config = pci_nvme_legacy_config,
	.pe_barwrite = pci_nvme_write,
	.pe_barread = pci_nvme_read,
};
PCI_EMUL_SET(pci_de_nvme);
