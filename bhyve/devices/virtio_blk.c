/* virtio-blk: the virtio block device (type 2), written from the virtio 1.x
 * specification. One queue; requests run asynchronously in the block backend
 * (io_uring or worker threads) and complete on the main event loop. Reads (or
 * writes) of adjacent sectors that one notification brings are merged into one
 * backend request, as QEMU does: fewer, larger transfers.
 *
 * Settings (pci.B.S.F.*): path, ro, nocache (O_DIRECT), direct or sync (O_DSYNC),
 * nodelete (no discard/write-zeroes), sectorsize=logical[/physical], ser (GET_ID,
 * at most 20 characters), bootindex (kept for the firmware boot order), engine
 * (the block backend's: auto, uring or threads).
 *
 * The write cache: with FLUSH negotiated a write completes when the host has it
 * (its page cache) and FLUSH makes it durable; without FLUSH, or once the driver
 * clears "writeback" (CONFIG_WCE), every write, discard and write-zeroes is
 * durable before it completes (RWF_DSYNC or fdatasync), as the specification
 * asks of a device whose driver cannot flush. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/block.h"
#include "config.h"
#include "pci_emul.h"
#include "virtio.h"

#define VIRTIO_TYPE_BLOCK	2
#define VIRTIO_DEV_BLOCK	0x1001

#define VTBLK_QSIZE		256
#define VTBLK_SEGMAX		(VTBLK_QSIZE - 2)	/* data buffers besides header and status */
#define VTBLK_SECT		512			/* the unit of sector numbers */
#define VTBLK_IDLEN		20
#define VTBLK_HDRLEN		16
#define VTBLK_DSEGLEN		16			/* a discard/write-zeroes segment */
#define VTBLK_MAX_DISCARD	(1u << 22)		/* sectors per request: 2 GiB */
#define VTBLK_MERGE_IOV		1024			/* IOV_MAX: buffers of a merged request */
#define VTBLK_MERGE_BYTES	(16u << 20)		/* bytes of a merged request */

/* Feature bits. */
#define VTBLK_F_SEG_MAX		(1ULL << 2)
#define VTBLK_F_RO		(1ULL << 5)
#define VTBLK_F_BLK_SIZE	(1ULL << 6)
#define VTBLK_F_FLUSH		(1ULL << 9)
#define VTBLK_F_TOPOLOGY	(1ULL << 10)
#define VTBLK_F_CONFIG_WCE	(1ULL << 11)
#define VTBLK_F_DISCARD		(1ULL << 13)
#define VTBLK_F_WRITE_ZEROES	(1ULL << 14)

/* Request types and status values. */
#define VTBLK_T_IN		0
#define VTBLK_T_OUT		1
#define VTBLK_T_FLUSH		4
#define VTBLK_T_GET_ID		8
#define VTBLK_T_DISCARD		11
#define VTBLK_T_WRITE_ZEROES	13
#define VTBLK_S_OK		0
#define VTBLK_S_IOERR		1
#define VTBLK_S_UNSUPP		2
#define VTBLK_WZ_F_UNMAP	1

/* struct virtio_blk_config, up to write_zeroes_may_unmap and its padding. */
#define VTBLK_CFG_CAPACITY	0
#define VTBLK_CFG_SEG_MAX	12
#define VTBLK_CFG_BLK_SIZE	20
#define VTBLK_CFG_PHYS_EXP	24
#define VTBLK_CFG_MIN_IO	26
#define VTBLK_CFG_WRITEBACK	32
#define VTBLK_CFG_NUM_QUEUES	34
#define VTBLK_CFG_MAX_DISCARD	36
#define VTBLK_CFG_DISCARD_SEG	40
#define VTBLK_CFG_DISCARD_ALIGN	44
#define VTBLK_CFG_MAX_WZ	48
#define VTBLK_CFG_WZ_SEG	52
#define VTBLK_CFG_WZ_UNMAP	56
#define VTBLK_CFGSIZE		60

struct pci_vtblk_softc {
	struct virtio_softc vbsc_vs;
	struct vqueue vbsc_vq;
	struct blockif *vbsc_bc;
	uint8_t vbsc_cfg[VTBLK_CFGSIZE];
	struct virtio_consts vbsc_consts;	/* per device: the features depend on settings */
	char vbsc_ident[VTBLK_IDLEN];		/* not NUL-terminated when 20 long */
	uint64_t vbsc_nsect;			/* capacity in 512-byte sectors */
	bool vbsc_ro, vbsc_delete;
	bool vbsc_logged;			/* one line per device for guest or I/O errors */
	int vbsc_bootindex;			/* -1: none; for the firmware boot order */
	/* Under vbsc_vs.vs_mtx: */
	uint32_t vbsc_gen;			/* bumped on reset: older completions are dropped */
	bool vbsc_wce;				/* "writeback" as the driver set it (CONFIG_WCE) */
	int vbsc_inflight;
};

/* One request on its way through the backend. */
struct vtblk_req {
	struct blockif_req vr_br;		/* first: the backend hands this back */
	uint8_t *vr_status;
	uint32_t vr_len;			/* bytes the device writes into the chain */
	uint32_t vr_gen;
	uint16_t vr_head;
	struct vtblk_req *vr_merged;		/* chains merged into this request */
	struct iovec *vr_miov;			/* the merged buffers (owned), or NULL */
	int vr_miovcap;
	struct iovec vr_iov[];
};

struct vtblk_chain {
	const struct iovec *iov;
	int n, nr;				/* buffers; the first nr are device-readable */
	size_t rlen, wlen;			/* bytes in each part */
	uint8_t *status;
};

/* ---- settings ---- */

static const char *const vtblk_keys[] = {
	"device", "path", "nocache", "direct", "sync", "ro", "nodelete", "sectorsize", "ser",
	"bootindex", "engine",
};

static bool vtblk_known_key(const char *key)
{
	for (size_t i = 0; i < nitems(vtblk_keys); i++)
		if (strcmp(key, vtblk_keys[i]) == 0)
			return true;
	return false;
}

static int vtblk_key_known(const char *key, const char *value, void *arg)
{
	(void)value;
	(void)arg;
	if (vtblk_known_key(key))
		return 0;
	warnx("virtio-blk: unknown option \"%s\"", key);
	return -1;
}

/* Refuses any key under node this device does not know. */
static int vtblk_check_keys(const char *node)
{
	return config_foreach_key(node, vtblk_key_known, NULL);
}

/* -s N,virtio-blk,path[,key[=value]...]: the first bare option is the path. */
static int pci_vtblk_legacy_config(const char *node, const char *opts)
{
	if (pci_path_legacy_config(node, opts) != 0)
		return -1;
	return vtblk_check_keys(node);
}

/* "logical[/physical]": powers of 2 from 512 to 64 KiB, physical >= logical. */
static int vtblk_parse_sectorsize(const char *s, struct blockif_opts *o)
{
	if (blockif_parse_sectorsize(s, o) != 0) {
		warnx("virtio-blk: invalid sectorsize \"%s\": logical[/physical], powers of 2 "
		    "from 512 to 65536, physical at least logical", s);
		return -1;
	}
	return 0;
}

/* A serial number for GET_ID when none is set: "BHYVE-" and a hash of the path. */
static void vtblk_default_ident(char *id, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	char buf[VTBLK_IDLEN + 1];

	for (const char *p = path; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	snprintf(buf, sizeof(buf), "BHYVE-%014llX", (unsigned long long)(h >> 8));
	memcpy(id, buf, VTBLK_IDLEN);
}

static int vtblk_read_config(struct pci_vtblk_softc *sc, const char *node,
    struct blockif_opts *o, const char **path)
{
	const char *ser = get_config_value_node(node, "ser");
	const char *ss = get_config_value_node(node, "sectorsize");
	const char *bi = get_config_value_node(node, "bootindex");
	const char *eng = get_config_value_node(node, "engine");
	bool direct, sync, nodelete;
	unsigned long v;

	if (vtblk_check_keys(node) != 0)
		return -1;
	*path = get_config_value_node(node, "path");
	if (*path == NULL || **path == '\0') {
		warnx("virtio-blk: no backing file or device (%s.path)", node);
		return -1;
	}
	if (get_config_bool_node_default(node, "ro", false, &o->ro) != 0 ||
	    get_config_bool_node_default(node, "nocache", false, &o->nocache) != 0 ||
	    get_config_bool_node_default(node, "direct", false, &direct) != 0 ||
	    get_config_bool_node_default(node, "sync", false, &sync) != 0 ||
	    get_config_bool_node_default(node, "nodelete", false, &nodelete) != 0)
		return -1;
	o->sync = direct || sync;
	if (ss != NULL && vtblk_parse_sectorsize(ss, o) != 0)
		return -1;
	if (eng != NULL && blockif_engine_parse(eng, &o->engine) != 0) {
		warnx("virtio-blk: invalid engine \"%s\": auto, uring or threads", eng);
		return -1;
	}
	if (ser != NULL) {
		size_t len = strlen(ser);

		for (size_t i = 0; i < len; i++) {
			if (ser[i] < 0x20 || ser[i] > 0x7e)
				len = VTBLK_IDLEN + 1;
		}
		if (len > VTBLK_IDLEN) {
			warnx("virtio-blk: ser \"%s\" must be at most %d printable characters",
			    ser, VTBLK_IDLEN);
			return -1;
		}
		strncpy(sc->vbsc_ident, ser, VTBLK_IDLEN);
	} else {
		vtblk_default_ident(sc->vbsc_ident, *path);
	}
	sc->vbsc_bootindex = -1;
	if (bi != NULL) {
		if (parse_uint(bi, 65535, &v) != 0) {
			warnx("virtio-blk: invalid bootindex \"%s\"", bi);
			return -1;
		}
		sc->vbsc_bootindex = (int)v;
	}
	sc->vbsc_ro = o->ro;
	sc->vbsc_delete = !nodelete && !o->ro;
	return 0;
}

/* ---- device configuration ---- */

/* vs_mtx held. Whether writes must be durable before they complete. */
static bool vtblk_writethrough(const struct pci_vtblk_softc *sc)
{
	const struct virtio_softc *vs = &sc->vbsc_vs;

	return !vi_negotiated(vs, VTBLK_F_FLUSH) ||
	    (vi_negotiated(vs, VTBLK_F_CONFIG_WCE) && !sc->vbsc_wce);
}

/* vs_mtx held (as for the writes). "writeback" shows the mode in force. */
static uint32_t pci_vtblk_cfgread(void *arg, uint32_t off, int size)
{
	struct pci_vtblk_softc *sc = arg;

	sc->vbsc_cfg[VTBLK_CFG_WRITEBACK] = vtblk_writethrough(sc) ? 0 : 1;
	return (uint32_t)le_get(sc->vbsc_cfg + off, size);
}

/* Only "writeback" is writable, and only with CONFIG_WCE negotiated. */
static void pci_vtblk_cfgwrite(void *arg, uint32_t off, int size, uint32_t val)
{
	struct pci_vtblk_softc *sc = arg;

	if (off == VTBLK_CFG_WRITEBACK && size == 1 &&
	    vi_negotiated(&sc->vbsc_vs, VTBLK_F_CONFIG_WCE))
		sc->vbsc_wce = (val & 1) != 0;
}

static void vtblk_build_config(struct pci_vtblk_softc *sc)
{
	uint32_t lss = blockif_sectsz(sc->vbsc_bc), pss = blockif_psectsz(sc->vbsc_bc);
	uint8_t *c = sc->vbsc_cfg, exp = 0;

	while ((lss << exp) < pss)
		exp++;
	le_put(c + VTBLK_CFG_CAPACITY, sc->vbsc_nsect, 8);
	le_put(c + VTBLK_CFG_SEG_MAX, VTBLK_SEGMAX, 4);
	le_put(c + VTBLK_CFG_BLK_SIZE, lss, 4);
	c[VTBLK_CFG_PHYS_EXP] = exp;		/* alignment_offset stays 0 */
	le_put(c + VTBLK_CFG_MIN_IO, 1u << exp, 2);
	le_put(c + VTBLK_CFG_NUM_QUEUES, 1, 2);
	if (sc->vbsc_delete) {
		le_put(c + VTBLK_CFG_MAX_DISCARD, VTBLK_MAX_DISCARD, 4);
		le_put(c + VTBLK_CFG_DISCARD_SEG, 1, 4);
		le_put(c + VTBLK_CFG_DISCARD_ALIGN, lss / VTBLK_SECT, 4);
		le_put(c + VTBLK_CFG_MAX_WZ, VTBLK_MAX_DISCARD, 4);
		le_put(c + VTBLK_CFG_WZ_SEG, 1, 4);
		c[VTBLK_CFG_WZ_UNMAP] = 1;
	}
}

/* ---- requests ---- */

static void vtblk_log(struct pci_vtblk_softc *sc, const char *why, int err)
{
	if (sc->vbsc_logged)
		return;
	sc->vbsc_logged = true;
	if (err != 0)
		warnx("%s: %s: %s (reported once)", sc->vbsc_vs.vs_pi->pi_name, why, strerror(err));
	else
		warnx("%s: %s (reported once)", sc->vbsc_vs.vs_pi->pi_name, why);
}

/* Describes bytes [off, off + len) of the chain's buffers iov[from..to) in out. */
static int iov_slice(const struct iovec *iov, int from, int to, size_t off, size_t len,
    struct iovec *out)
{
	int k = 0;

	for (int i = from; i < to && len > 0; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = l - off < len ? l - off : len;
		len -= out[k].iov_len;
		off = 0;
		k++;
	}
	return k;
}

/* Copies the first len bytes of the readable part (the header, a segment) out. */
static void vtblk_copyin(const struct vtblk_chain *ch, size_t off, void *dst, size_t len)
{
	struct iovec part[VTBLK_QSIZE];
	int k = iov_slice(ch->iov, 0, ch->nr, off, len, part);
	uint8_t *d = dst;

	for (int i = 0; i < k; i++) {
		memcpy(d, part[i].iov_base, part[i].iov_len);
		d += part[i].iov_len;
	}
}

/* Splits a chain into its readable and writable parts and finds the status byte
 * (the last byte written); false when a writable buffer precedes a readable one. */
static bool vtblk_parse_chain(struct vtblk_chain *ch, const struct iovec *iov,
    const uint16_t *flags, int n)
{
	bool ordered = true;

	*ch = (struct vtblk_chain){ .iov = iov, .n = n };
	while (ch->nr < n && !(flags[ch->nr] & VRING_DESC_F_WRITE))
		ch->rlen += iov[ch->nr++].iov_len;
	for (int i = ch->nr; i < n; i++) {
		if (!(flags[i] & VRING_DESC_F_WRITE))
			ordered = false;
		else
			ch->wlen += iov[i].iov_len;
	}
	for (int i = n - 1; i >= ch->nr; i--) {
		if ((flags[i] & VRING_DESC_F_WRITE) && iov[i].iov_len > 0) {
			ch->status = (uint8_t *)iov[i].iov_base + iov[i].iov_len - 1;
			break;
		}
	}
	return ordered;
}

static void vtblk_complete_now(struct vqueue *vq, uint16_t head, uint8_t *status,
    uint8_t val, uint32_t len)
{
	*status = val;
	vq_relchain(vq, head, len);
}

/* Sector and byte count within the capacity, in whole 512-byte sectors. */
static bool vtblk_in_range(const struct pci_vtblk_softc *sc, uint64_t sector, uint64_t bytes)
{
	return bytes % VTBLK_SECT == 0 && sector <= sc->vbsc_nsect &&
	    bytes / VTBLK_SECT <= sc->vbsc_nsect - sector;
}

/* DISCARD/WRITE_ZEROES: one segment {le64 sector, le32 num_sectors, le32 flags}. */
static uint8_t vtblk_prep_delete(struct pci_vtblk_softc *sc, const struct vtblk_chain *ch,
    uint32_t type, struct blockif_req *br)
{
	uint8_t seg[VTBLK_DSEGLEN];
	uint64_t sector;
	uint32_t nsect, fl;

	if (!sc->vbsc_delete)
		return VTBLK_S_UNSUPP;
	if (ch->rlen != VTBLK_HDRLEN + VTBLK_DSEGLEN || ch->wlen != 1)
		return VTBLK_S_IOERR;	/* max_discard_seg and max_write_zeroes_seg are 1 */
	vtblk_copyin(ch, VTBLK_HDRLEN, seg, sizeof(seg));
	sector = le_get(seg, 8);
	nsect = (uint32_t)le_get(seg + 8, 4);
	fl = (uint32_t)le_get(seg + 12, 4);
	if ((fl & ~(uint32_t)VTBLK_WZ_F_UNMAP) != 0 ||
	    (type == VTBLK_T_DISCARD && (fl & VTBLK_WZ_F_UNMAP)))
		return VTBLK_S_UNSUPP;
	if (nsect == 0 || nsect > VTBLK_MAX_DISCARD ||
	    !vtblk_in_range(sc, sector, (uint64_t)nsect * VTBLK_SECT))
		return VTBLK_S_IOERR;
	br->br_op = type == VTBLK_T_DISCARD ? BLOCKIF_DISCARD : BLOCKIF_WRITE_ZEROES;
	br->br_offset = sector * VTBLK_SECT;
	br->br_len = (uint64_t)nsect * VTBLK_SECT;
	br->br_unmap = (fl & VTBLK_WZ_F_UNMAP) != 0;
	return VTBLK_S_OK;
}

/* Fills req for the backend, or returns a status to complete the chain with now. */
static uint8_t vtblk_prep(struct pci_vtblk_softc *sc, const struct vtblk_chain *ch,
    struct vtblk_req *req, uint32_t *len)
{
	struct blockif_req *br = &req->vr_br;
	uint8_t hdr[VTBLK_HDRLEN];
	size_t drlen, dwlen;
	uint64_t sector;
	uint32_t type;

	if (ch->rlen < VTBLK_HDRLEN) {
		vtblk_log(sc, "request header too short", 0);
		return VTBLK_S_IOERR;
	}
	vtblk_copyin(ch, 0, hdr, sizeof(hdr));
	type = (uint32_t)le_get(hdr, 4);
	sector = le_get(hdr + 8, 8);
	drlen = ch->rlen - VTBLK_HDRLEN;
	dwlen = ch->wlen - 1;
	*len = 1;
	br->br_fua = type != VTBLK_T_IN && vtblk_writethrough(sc);
	switch (type) {
	case VTBLK_T_IN:
	case VTBLK_T_OUT:
		if (type == VTBLK_T_IN ? drlen != 0 || dwlen == 0 : dwlen != 0 || drlen == 0)
			return VTBLK_S_IOERR;	/* data buffers in the wrong direction, or none */
		if (type == VTBLK_T_OUT && sc->vbsc_ro)
			return VTBLK_S_IOERR;	/* as the spec asks when RO is offered */
		if (!vtblk_in_range(sc, sector, drlen + dwlen))
			return VTBLK_S_IOERR;
		br->br_op = type == VTBLK_T_IN ? BLOCKIF_READ : BLOCKIF_WRITE;
		br->br_offset = sector * VTBLK_SECT;
		br->br_iov = req->vr_iov;
		br->br_iovcnt = type == VTBLK_T_IN ?
		    iov_slice(ch->iov, ch->nr, ch->n, 0, dwlen, req->vr_iov) :
		    iov_slice(ch->iov, 0, ch->nr, VTBLK_HDRLEN, drlen, req->vr_iov);
		*len = (uint32_t)(dwlen + 1);
		return VTBLK_S_OK;
	case VTBLK_T_FLUSH:
		if (drlen != 0 || dwlen != 0)
			return VTBLK_S_IOERR;
		br->br_op = BLOCKIF_FLUSH;
		return VTBLK_S_OK;
	case VTBLK_T_DISCARD:
	case VTBLK_T_WRITE_ZEROES:
		return vtblk_prep_delete(sc, ch, type, br);
	default:
		return VTBLK_S_UNSUPP;
	}
}

/* GET_ID: the serial, zero-padded, in as much of the 20 bytes as the buffer holds. */
static uint32_t vtblk_get_id(struct pci_vtblk_softc *sc, const struct vtblk_chain *ch,
    uint8_t *status)
{
	struct iovec part[VTBLK_QSIZE];
	size_t len = ch->wlen - 1 < VTBLK_IDLEN ? ch->wlen - 1 : VTBLK_IDLEN;
	int k = iov_slice(ch->iov, ch->nr, ch->n, 0, len, part);
	const char *src = sc->vbsc_ident;

	if (ch->rlen != VTBLK_HDRLEN || len == 0) {
		*status = VTBLK_S_IOERR;
		return 1;
	}
	for (int i = 0; i < k; i++) {
		memcpy(part[i].iov_base, src, part[i].iov_len);
		src += part[i].iov_len;
	}
	*status = VTBLK_S_OK;
	return (uint32_t)len + 1;
}

/* Takes one chain: completes it at once (errors, GET_ID; NULL) or returns the
 * request for the backend. */
static struct vtblk_req *vtblk_start(struct pci_vtblk_softc *sc, struct vqueue *vq, const struct iovec *iov,
    const uint16_t *flags, int n, uint16_t head)
{
	struct vtblk_chain ch;
	struct vtblk_req *req;
	uint8_t hdr0[4] = { 0 }, st;
	uint32_t len;

	if (!vtblk_parse_chain(&ch, iov, flags, n) || ch.status == NULL) {
		vtblk_log(sc, "request without a writable status byte at its end", 0);
		if (ch.status != NULL)
			vtblk_complete_now(vq, head, ch.status, VTBLK_S_IOERR, 1);
		else
			vq_relchain(vq, head, 0);
		return NULL;
	}
	if (ch.rlen >= sizeof(hdr0))
		vtblk_copyin(&ch, 0, hdr0, sizeof(hdr0));
	if (le_get(hdr0, 4) == VTBLK_T_GET_ID && ch.rlen >= VTBLK_HDRLEN) {
		st = VTBLK_S_OK;
		len = vtblk_get_id(sc, &ch, &st);
		vtblk_complete_now(vq, head, ch.status, st, len);
		return NULL;
	}
	req = xcalloc(1, sizeof(*req) + (size_t)n * sizeof(struct iovec));
	st = vtblk_prep(sc, &ch, req, &len);
	if (st != VTBLK_S_OK) {
		free(req);
		vtblk_complete_now(vq, head, ch.status, st, 1);
		return NULL;
	}
	req->vr_status = ch.status;
	req->vr_len = len;
	req->vr_head = head;
	req->vr_gen = sc->vbsc_gen;
	sc->vbsc_inflight++;
	return req;
}

static uint64_t vtblk_req_bytes(const struct vtblk_req *req)
{
	uint64_t n = 0;

	for (int i = 0; i < req->vr_br.br_iovcnt; i++)
		n += req->vr_br.br_iov[i].iov_len;
	return n;
}

/* Appends next to req when it reads (writes) the sectors right after req's. */
static bool vtblk_merge(struct vtblk_req *req, struct vtblk_req *next)
{
	struct blockif_req *a = &req->vr_br, *b = &next->vr_br;
	uint64_t alen = vtblk_req_bytes(req), blen = vtblk_req_bytes(next);
	int cnt = a->br_iovcnt + b->br_iovcnt;

	if (a->br_op != b->br_op || a->br_fua != b->br_fua ||
	    (a->br_op != BLOCKIF_READ && a->br_op != BLOCKIF_WRITE) ||
	    a->br_offset + alen != b->br_offset || cnt > VTBLK_MERGE_IOV ||
	    alen + blen > VTBLK_MERGE_BYTES)
		return false;
	if (cnt > req->vr_miovcap) {
		int cap = req->vr_miovcap == 0 ? 64 : req->vr_miovcap;
		struct iovec *m;

		while (cap < cnt)
			cap *= 2;
		m = xcalloc((size_t)cap, sizeof(*m));
		memcpy(m, a->br_iov, (size_t)a->br_iovcnt * sizeof(*m));
		free(req->vr_miov);
		req->vr_miov = m;
		req->vr_miovcap = cap;
		a->br_iov = m;
	}
	memcpy(a->br_iov + a->br_iovcnt, b->br_iov, (size_t)b->br_iovcnt * sizeof(*b->br_iov));
	a->br_iovcnt = cnt;
	/* Kept in order: completions go back in the order the guest made them. */
	while (req->vr_merged != NULL)
		req = req->vr_merged;
	req->vr_merged = next;
	return true;
}

static void vtblk_req_free(struct vtblk_req *req)
{
	while (req != NULL) {
		struct vtblk_req *next = req->vr_merged;

		free(req->vr_miov);
		free(req);
		req = next;
	}
}

/* vCPU thread, vs_mtx held: submits every available chain. */
static void pci_vtblk_notify(void *arg, struct vqueue *vq)
{
	struct pci_vtblk_softc *sc = arg;
	struct iovec iov[VTBLK_QSIZE];
	uint16_t flags[VTBLK_QSIZE], head;
	struct vtblk_req *pend = NULL, *req;
	int n;

	do {
		blockif_plug(sc->vbsc_bc);	/* one submission for the whole batch */
		while ((n = vq_getchain(vq, iov, VTBLK_QSIZE, flags, &head)) > 0) {
			req = vtblk_start(sc, vq, iov, flags, n, head);
			if (req == NULL || (pend != NULL && vtblk_merge(pend, req)))
				continue;
			if (pend != NULL)
				blockif_submit(sc->vbsc_bc, &pend->vr_br);
			pend = req;
		}
		if (pend != NULL)
			blockif_submit(sc->vbsc_bc, &pend->vr_br);
		pend = NULL;
		blockif_unplug(sc->vbsc_bc);
		/* Chains the driver added without a notify, while we were busy. */
	} while (vq_endchains(vq, n == 0 && sc->vbsc_inflight == 0));
}

/* Main loop: the backend finished these. Requests from before a reset are dropped. */
static void pci_vtblk_done(void *arg, struct blockif_req *list)
{
	struct pci_vtblk_softc *sc = arg;
	struct vqueue *vq = &sc->vbsc_vq;
	bool released = false;

	pthread_mutex_lock(&sc->vbsc_vs.vs_mtx);
	while (list != NULL) {
		struct vtblk_req *first = (struct vtblk_req *)(void *)list;
		int err = list->br_error;
		uint8_t st = VTBLK_S_OK;

		list = list->br_next;
		if (err == EOPNOTSUPP && first->vr_br.br_op == BLOCKIF_DISCARD) {
			st = VTBLK_S_UNSUPP;
		} else if (err != 0 && first->vr_gen == sc->vbsc_gen) {
			vtblk_log(sc, "I/O error", err);
			st = VTBLK_S_IOERR;
		}
		/* Every chain merged into the request shares its outcome. */
		for (struct vtblk_req *req = first; req != NULL; req = req->vr_merged) {
			if (req->vr_gen != sc->vbsc_gen)
				continue;
			sc->vbsc_inflight--;
			vtblk_complete_now(vq, req->vr_head, req->vr_status, st,
			    st == VTBLK_S_OK ? req->vr_len : 1);
			released = true;
		}
		vtblk_req_free(first);
	}
	if (released)
		vq_endchains(vq, sc->vbsc_inflight == 0);
	pthread_mutex_unlock(&sc->vbsc_vs.vs_mtx);
}

/* vs_mtx held. After the backend is quiet no worker touches guest buffers;
 * completions of older requests still arrive and are dropped by generation. */
static void pci_vtblk_reset(void *arg)
{
	struct pci_vtblk_softc *sc = arg;

	if (sc->vbsc_bc != NULL)
		blockif_quiesce(sc->vbsc_bc);
	sc->vbsc_gen++;
	sc->vbsc_inflight = 0;
	sc->vbsc_wce = true;
}

static int pci_vtblk_init(struct pci_devinst *pi, const char *node)
{
	struct pci_vtblk_softc *sc = xcalloc(1, sizeof(*sc));
	struct blockif_opts o = { 0 };
	struct virtio_consts *vc = &sc->vbsc_consts;
	const char *path;

	if (vtblk_read_config(sc, node, &o, &path) != 0)
		goto fail;
	sc->vbsc_bc = blockif_open(pi->pi_name, path, &o, pci_vtblk_done, sc);
	if (sc->vbsc_bc == NULL)
		goto fail;
	sc->vbsc_nsect = blockif_size(sc->vbsc_bc) / VTBLK_SECT;
	sc->vbsc_wce = true;
	vtblk_build_config(sc);
	*vc = (struct virtio_consts){
		.vc_name = "virtio-blk",
		.vc_type = VIRTIO_TYPE_BLOCK,
		.vc_devid = VIRTIO_DEV_BLOCK,
		.vc_class = 0x01,	/* mass storage */
		.vc_subclass = 0x80,	/* other, as bhyve presents it */
		.vc_nvq = 1,
		.vc_qsize = VTBLK_QSIZE,
		.vc_features = VTBLK_F_SEG_MAX | VTBLK_F_BLK_SIZE | VTBLK_F_FLUSH |
		    VTBLK_F_CONFIG_WCE | VTBLK_F_TOPOLOGY | (sc->vbsc_ro ? VTBLK_F_RO : 0) |
		    (sc->vbsc_delete ? VTBLK_F_DISCARD | VTBLK_F_WRITE_ZEROES : 0),
		.vc_cfgsize = VTBLK_CFGSIZE,
		.vc_cfgread = pci_vtblk_cfgread,
		.vc_cfgwrite = pci_vtblk_cfgwrite,
		.vc_qnotify = pci_vtblk_notify,
		.vc_reset = pci_vtblk_reset,
	};
	if (vi_softc_init(&sc->vbsc_vs, vc, sc, pi, &sc->vbsc_vq) != 0)
		goto fail;
	return 0;
fail:
	if (sc->vbsc_bc != NULL)
		blockif_close(sc->vbsc_bc);
	pi->pi_arg = NULL;
	free(sc);
	return -1;
}

static void pci_vtblk_deinit(struct pci_devinst *pi)
{
	struct pci_vtblk_softc *sc = pi->pi_arg;

	if (sc != NULL && sc->vbsc_bc != NULL) {
		blockif_close(sc->vbsc_bc);
		sc->vbsc_bc = NULL;
	}
}

static const struct pci_devemu pci_de_vblk = {
	.pe_emu = "virtio-blk",
	.pe_fwname = "scsi",	/* QEMU's name for it, which SeaBIOS matches by slot */
	.pe_init = pci_vtblk_init,
	.pe_deinit = pci_vtblk_deinit,
	.pe_legacy_config = pci_vtblk_legacy_config,
	.pe_barwrite = vi_pci_write,
	.pe_barread = vi_pci_read,
	.pe_cfgwrite = vi_pci_cfgwrite,
	.pe_cfgread = vi_pci_cfgread,
};
PCI_EMUL_SET(pci_de_vblk);
