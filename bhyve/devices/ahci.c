/* ahci, ahci-hd, ahci-cd: an AHCI 1.3 SATA host bus adapter, written from the
 * AHCI 1.3, ATA8-ACS and MMC specifications. It presents itself as bhyve's does
 * (Intel 8086:2821, class 01/06/01, the registers in BAR 5) with up to 32 ports,
 * each a disk (ATA: DMA, NCQ, FLUSH, TRIM; its ATA half is ahci_ata.c) or a
 * CD-ROM (ATAPI, read-only, 2048-byte blocks; its ATAPI half is ahci_atapi.c) on
 * an image served by the block backend. Commands run asynchronously in the
 * backend and complete on the main event loop. This file holds the settings,
 * interrupts, FISes, completions, guest buffers, the command list, resets,
 * registers and init; ahci.h holds what the three files share.
 *
 * Settings: pci.B.S.F.port.N.{type (hd|cd), path, nmrr, ser, rev, model, ro,
 * nocache, direct, sync, nodelete, sectorsize, bootindex, engine}. ahci-hd and
 * ahci-cd are ahci with one port (port 0); the -s forms are
 * "ahci-hd,PATH[,opts]", "ahci-cd,PATH[,opts]" and "ahci,hd:PATH[,opts],cd:PATH...".
 *
 * Every guest address (command list, FIS area, command tables, PRDTs) goes
 * through vm_map_gpa with its length; a bad one fails that command (or, for the
 * command list and FIS area, stops that port), never the VMM. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "backends/block.h"
#include "config.h"
#include "pci_emul.h"
#include "vmmapi.h"
#include "ahci.h"

#define AHCI_MAX_PORTS		32
#define AHCI_BAR		5
#define AHCI_BAR_SIZE		0x2000		/* 0x100 + 32 ports * 0x80, a power of 2 */
#define AHCI_PORT_BASE		0x100
#define AHCI_PORT_LEN		0x80
#define AHCI_IOV_MAX		1024		/* buffers in one backend request (IOV_MAX) */

/* HBA registers. */
#define HBA_CAP		0x00
#define HBA_GHC		0x04
#define HBA_IS		0x08
#define HBA_PI		0x0c
#define HBA_VS		0x10
#define HBA_CAP2	0x24
#define CAP_S64A	(1u << 31)
#define CAP_SNCQ	(1u << 30)
#define CAP_SSNTF	(1u << 29)
#define CAP_SALP	(1u << 26)
#define CAP_SAL		(1u << 25)
#define CAP_SCLO	(1u << 24)
#define CAP_ISS_GEN3	(3u << 20)
#define CAP_SAM		(1u << 18)
#define CAP_SSC		(1u << 14)
#define CAP_PSC		(1u << 13)
#define CAP_NCS		((AHCI_NSLOTS - 1u) << 8)
#define GHC_HR		(1u << 0)
#define GHC_IE		(1u << 1)
#define GHC_AE		(1u << 31)
#define AHCI_VERSION	0x00010300

/* Port registers (offsets in a port's 0x80 bytes). */
#define P_CLB		0x00
#define P_CLBU		0x04
#define P_FB		0x08
#define P_FBU		0x0c
#define P_IS		0x10
#define P_IE		0x14
#define P_CMD		0x18
#define P_TFD		0x20
#define P_SIG		0x24
#define P_SSTS		0x28
#define P_SCTL		0x2c
#define P_SERR		0x30
#define P_SACT		0x34
#define P_CI		0x38
#define IS_DHRS		(1u << 0)
#define IS_PSS		(1u << 1)
#define IS_SDBS		(1u << 3)
#define IS_HBFS		(1u << 29)
#define IS_TFES		(1u << 30)
#define IS_MASK		0xfdc000ffu	/* the defined bits: RWC in PxIS, RW in PxIE */
#define CMD_ST		(1u << 0)
#define CMD_SUD		(1u << 1)
#define CMD_POD		(1u << 2)
#define CMD_CLO		(1u << 3)
#define CMD_FRE		(1u << 4)
#define CMD_FR		(1u << 14)
#define CMD_CR		(1u << 15)
#define CMD_ATAPI	(1u << 24)
#define CMD_RW		(CMD_ST | CMD_CLO | CMD_FRE | CMD_ATAPI | (7u << 25))
#define SIG_ATA		0x00000101u
#define SSTS_UP		0x133u		/* device present, Gen3 speed, interface active */
#define SERR_DIAG_X	(1u << 26)

/* The command list header, the command table and the FIS receive area. */
#define CH_SIZE		32
#define CH_CFL(dw0)	((dw0) & 0x1f)
#define CH_PRDTL(dw0)	((dw0) >> 16)
#define CT_ACMD		0x40
#define CT_PRDT		0x80
#define PRD_SIZE	16
#define FIS_AREA	256
#define RFIS_PIO	0x20
#define RFIS_D2H	0x40
#define RFIS_SDB	0x58
#define FIS_H2D		0x27
#define FIS_D2H		0x34
#define FIS_SDB		0xa1
#define FIS_PIO		0x5f

struct ahci_softc {
	struct pci_devinst *pi;
	pthread_mutex_t mtx;
	uint32_t ghc, is, pi_bits;
	int nports;			/* CAP.NP + 1: the highest port configured + 1 */
	struct ahci_port port[AHCI_MAX_PORTS];
};

/* ---- settings ---- */

static const char *const ahci_port_keys[] = {
	"type", "path", "nmrr", "ser", "rev", "model", "ro", "nocache", "direct", "sync",
	"nodelete", "sectorsize", "bootindex", "engine",
};

static int ahci_port_key_known(const char *key, const char *value, void *arg)
{
	const char *port = arg;

	(void)value;
	for (size_t i = 0; i < nitems(ahci_port_keys); i++)
		if (strcmp(key, ahci_port_keys[i]) == 0)
			return 0;
	warnx("ahci: port %s: unknown option \"%s\"", port, key);
	return -1;
}

static int ahci_dev_key_known(const char *key, const char *value, void *arg)
{
	(void)value;
	(void)arg;
	if (strcmp(key, "device") == 0)
		return 0;
	warnx("ahci: unknown option \"%s\" (port options follow hd:PATH or cd:PATH)", key);
	return -1;
}

struct ahci_scan {
	const char *node;
	int bad;
};

static void ahci_check_child(const char *child, void *arg)
{
	struct ahci_scan *s = arg;

	if (s->bad == 0 && strcmp(child, "port") != 0) {
		warnx("ahci: unknown setting %s.%s", s->node, child);
		s->bad = -1;
	}
}

static bool ahci_port_number(const char *s, unsigned long *n)
{
	return parse_uint(s, AHCI_MAX_PORTS - 1, n) == 0;
}

static void ahci_no_child(const char *child, void *arg)
{
	struct ahci_scan *s = arg;

	if (s->bad == 0) {
		warnx("ahci: unknown setting %s.%s", s->node, child);
		s->bad = -1;
	}
}

static void ahci_check_port(const char *child, void *arg)
{
	struct ahci_scan *s = arg;
	char pnode[96];
	struct ahci_scan sub;
	unsigned long n;

	if (s->bad != 0)
		return;
	if (!ahci_port_number(child, &n)) {
		warnx("ahci: invalid port \"%s\": 0 to %d", child, AHCI_MAX_PORTS - 1);
		s->bad = -1;
		return;
	}
	snprintf(pnode, sizeof(pnode), "%s.port.%s", s->node, child);
	sub = (struct ahci_scan){ .node = pnode };
	config_foreach_child(pnode, ahci_no_child, &sub);
	if (sub.bad != 0 || config_foreach_key(pnode, ahci_port_key_known, (void *)child) != 0)
		s->bad = -1;
}

/* Refuses keys the device does not know, under node and each port. */
static int ahci_check_keys(const char *node)
{
	struct ahci_scan s = { .node = node };
	char pnode[80];

	if (config_foreach_key(node, ahci_dev_key_known, NULL) != 0)
		return -1;
	config_foreach_child(node, ahci_check_child, &s);
	if (s.bad != 0)
		return -1;
	snprintf(pnode, sizeof(pnode), "%s.port", node);
	if (config_foreach_key(pnode, ahci_dev_key_known, NULL) != 0)
		return -1;
	config_foreach_child(pnode, ahci_check_port, &s);
	return s.bad;
}

/* "PATH[,opts]" for port n of the given type. */
static int ahci_legacy_port(const char *node, int n, const char *type, const char *opts)
{
	char pnode[80];

	snprintf(pnode, sizeof(pnode), "%s.port.%d", node, n);
	set_config_value_node(pnode, "type", type);
	return pci_path_legacy_config(pnode, opts);
}

static int ahci_legacy_single(const char *node, const char *opts, const char *type)
{
	if (ahci_legacy_port(node, 0, type, opts) != 0)
		return -1;
	return ahci_check_keys(node);
}

static int pci_ahci_hd_legacy_config(const char *node, const char *opts)
{
	return ahci_legacy_single(node, opts, "hd");
}

static int pci_ahci_cd_legacy_config(const char *node, const char *opts)
{
	return ahci_legacy_single(node, opts, "cd");
}

/* "hd:PATH[,opts],cd:PATH[,opts]...": each hd: or cd: starts the next port. */
static int pci_ahci_legacy_config(const char *node, const char *opts)
{
	char *copy = xstrdup(opts), *s = copy;
	int n = 0, rc = 0;

	if (*s == '\0') {
		free(copy);
		return ahci_check_keys(node);
	}
	while (s != NULL && rc == 0) {
		char *next = NULL, *type = s;

		for (char *c = strchr(s, ','); c != NULL; c = strchr(c + 1, ',')) {
			if (strncmp(c + 1, "hd:", 3) == 0 || strncmp(c + 1, "cd:", 3) == 0) {
				next = c + 1;
				*c = '\0';
				break;
			}
		}
		if (strncmp(type, "hd:", 3) != 0 && strncmp(type, "cd:", 3) != 0) {
			warnx("ahci: \"%s\": each port is hd:PATH or cd:PATH", type);
			rc = -1;
		} else if (n == AHCI_MAX_PORTS) {
			warnx("ahci: more than %d ports", AHCI_MAX_PORTS);
			rc = -1;
		} else {
			type[2] = '\0';
			rc = ahci_legacy_port(node, n++, type, type + 3);
		}
		s = next;
	}
	free(copy);
	return rc != 0 ? -1 : ahci_check_keys(node);
}

static int ahci_parse_sectorsize(const char *port, const char *s, struct blockif_opts *o)
{
	if (blockif_parse_sectorsize(s, o) != 0) {
		warnx("ahci: port %s: invalid sectorsize \"%s\": logical[/physical], powers of 2 "
		    "from 512 to 65536, physical at least logical", port, s);
		return -1;
	}
	return 0;
}

/* A string setting of at most max printable characters into dst. */
static int ahci_string(const char *port, const char *key, const char *v, char *dst, size_t max)
{
	size_t len = strlen(v);

	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			len = max + 1;
	if (len > max) {
		warnx("ahci: port %s: %s \"%s\" must be at most %zu printable characters",
		    port, key, v, max);
		return -1;
	}
	memcpy(dst, v, len + 1);
	return 0;
}

/* A serial number when none is set: "BHYVE-" and a hash of the path. */
static void ahci_default_ser(char *ser, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (const char *c = path; *c != '\0'; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
	snprintf(ser, 21, "BHYVE-%014llX", (unsigned long long)(h >> 8));
}

static void ahci_done(void *arg, struct blockif_req *list);

static int ahci_port_config(struct ahci_port *p, const char *node, const char *num)
{
	char pnode[80];
	const char *type, *path, *v;
	struct blockif_opts o = { 0 };
	bool direct, sync, nodelete;
	unsigned long n;

	snprintf(pnode, sizeof(pnode), "%s.port.%s", node, num);
	type = get_config_value_node(pnode, "type");
	path = get_config_value_node(pnode, "path");
	if (type == NULL || (strcmp(type, "hd") != 0 && strcmp(type, "cd") != 0)) {
		warnx("ahci: port %s: type must be hd or cd (%s.type)", num, pnode);
		return -1;
	}
	p->atapi = strcmp(type, "cd") == 0;
	if (path == NULL || *path == '\0') {
		warnx("ahci: port %s: no backing file or device (%s.path)", num, pnode);
		return -1;
	}
	if (get_config_bool_node_default(pnode, "ro", false, &o.ro) != 0 ||
	    get_config_bool_node_default(pnode, "nocache", false, &o.nocache) != 0 ||
	    get_config_bool_node_default(pnode, "direct", false, &direct) != 0 ||
	    get_config_bool_node_default(pnode, "sync", false, &sync) != 0 ||
	    get_config_bool_node_default(pnode, "nodelete", false, &nodelete) != 0)
		return -1;
	o.sync = direct || sync;
	if (p->atapi)
		o.ro = true;		/* a CD-ROM is read-only whatever the options say */
	if ((v = get_config_value_node(pnode, "sectorsize")) != NULL) {
		if (p->atapi) {
			warnx("ahci: port %s: sectorsize is for hd ports (a CD has 2048-byte "
			    "blocks)", num);
			return -1;
		}
		if (ahci_parse_sectorsize(num, v, &o) != 0)
			return -1;
	}
	if ((v = get_config_value_node(pnode, "engine")) != NULL &&
	    blockif_engine_parse(v, &o.engine) != 0) {
		warnx("ahci: port %s: invalid engine \"%s\": auto, uring or threads", num, v);
		return -1;
	}
	if ((v = get_config_value_node(pnode, "nmrr")) != NULL) {
		/* 0: not reported, 1: not rotating (SSD), else 1025-65534 rpm. */
		if (parse_uint(v, 0xfffe, &n) != 0 || (n > 1 && n < 0x401)) {
			warnx("ahci: port %s: invalid nmrr \"%s\": 0, 1 or 1025-65534 (rpm)",
			    num, v);
			return -1;
		}
		p->nmrr = (uint16_t)n;
	}
	if ((v = get_config_value_node(pnode, "bootindex")) != NULL &&
	    parse_uint(v, 65535, &n) != 0) {
		warnx("ahci: port %s: invalid bootindex \"%s\"", num, v);
		return -1;
	}
	if ((v = get_config_value_node(pnode, "ser")) != NULL) {
		if (ahci_string(num, "ser", v, p->ser, 20) != 0)
			return -1;
	} else {
		ahci_default_ser(p->ser, path);
	}
	v = get_config_value_node(pnode, "rev");
	if (ahci_string(num, "rev", v != NULL ? v : "001", p->rev, 8) != 0)
		return -1;
	v = get_config_value_node(pnode, "model");
	if (ahci_string(num, "model", v != NULL ? v :
	    p->atapi ? "BHYVE SATA DVD ROM" : "BHYVE SATA DISK", p->model, 40) != 0)
		return -1;
	p->ro = o.ro;
	p->delete_ok = !nodelete && !o.ro;
	p->wce = true;
	snprintf(pnode, sizeof(pnode), "%s-port%s", p->sc->pi->pi_name, num);
	p->bc = blockif_open(pnode, path, &o, ahci_done, p);
	if (p->bc == NULL)
		return -1;
	if (p->atapi) {
		p->sectsz = p->psectsz = CD_BLOCK;
		p->nsect = blockif_size(p->bc) / CD_BLOCK;
	} else {
		p->sectsz = blockif_sectsz(p->bc);
		p->psectsz = blockif_psectsz(p->bc);
		p->nsect = blockif_size(p->bc) / p->sectsz;
	}
	return 0;
}

/* ---- interrupts ---- */

static struct vmctx *ahci_ctx(const struct ahci_port *p)
{
	return p->sc->pi->pi_vmctx;
}

/* sc->mtx held. HBA IS follows each port's enabled status bits; an MSI goes
 * out when fire (a port gained an enabled bit), INTx follows the level. */
static void ahci_update_intr(struct ahci_softc *sc, bool fire)
{
	struct pci_devinst *pi = sc->pi;
	bool level;

	for (int i = 0; i < sc->nports; i++)
		if (sc->port[i].is & sc->port[i].ie)
			sc->is |= 1u << i;
	level = (sc->ghc & GHC_IE) && sc->is != 0;
	if (pci_msi_enabled(pi)) {
		pci_lintr_deassert(pi);
		if (level && fire)
			pci_generate_msi(pi, 0);
	} else if (level) {
		pci_lintr_assert(pi);
	} else {
		pci_lintr_deassert(pi);
	}
}

static void ahci_port_event(struct ahci_port *p, uint32_t bits)
{
	p->is |= bits;
	ahci_update_intr(p->sc, (bits & p->ie) != 0);
}

void ahci_log(struct ahci_port *p, const char *why)
{
	if (p->logged)
		return;
	p->logged = true;
	warnx("%s: port %d: %s (reported once)", p->sc->pi->pi_name, p->num, why);
}

/* ---- FISes ---- */

/* The FIS receive area, or NULL (FRE off, or outside RAM: the port then stops). */
static uint8_t *ahci_fis_area(struct ahci_port *p)
{
	uint8_t *fb;

	if (!(p->cmd & CMD_FR))
		return NULL;
	fb = vm_map_gpa(ahci_ctx(p), p->fb, FIS_AREA);
	if (fb == NULL) {
		ahci_log(p, "FIS receive area outside guest RAM");
		p->broken = true;
		p->is |= IS_HBFS;
	}
	return fb;
}

static void ahci_fis_regs(uint8_t *fis, const uint8_t *cfis)
{
	memcpy(fis + 4, cfis + 4, 3);		/* LBA 7:0 .. 23:16 */
	fis[7] = cfis[7];			/* device */
	memcpy(fis + 8, cfis + 8, 3);		/* LBA 31:24 .. 47:40 */
	fis[12] = cfis[12];
	fis[13] = cfis[13];
}

void ahci_write_d2h(struct ahci_port *p, const uint8_t *cfis, uint8_t st, uint8_t er,
    bool irq)
{
	uint8_t *fb = ahci_fis_area(p), fis[20] = { FIS_D2H };

	fis[1] = irq ? 0x40 : 0;
	fis[2] = st;
	fis[3] = er;
	if (cfis != NULL)
		ahci_fis_regs(fis, cfis);
	if (fb != NULL)
		memcpy(fb + RFIS_D2H, fis, sizeof(fis));
	p->tfd = (uint32_t)er << 8 | st;
}

static void ahci_write_pio_setup(struct ahci_port *p, const uint8_t *cfis, uint32_t len, bool read)
{
	uint8_t *fb = ahci_fis_area(p), fis[20] = { FIS_PIO };

	fis[1] = (uint8_t)((read ? 0x20 : 0) | 0x40);
	fis[2] = ATA_S_OK;
	ahci_fis_regs(fis, cfis);
	fis[15] = ATA_S_OK;			/* E_Status */
	le_put(fis + 16, len > 0xffff ? 0xffff : len, 2);
	if (fb != NULL)
		memcpy(fb + RFIS_PIO, fis, sizeof(fis));
}

/* The signature a device sends after reset (its type in LBA mid/high and in PxSIG). */
static void ahci_write_signature(struct ahci_port *p)
{
	uint8_t cfis[20] = { 0 };

	if (p->bc == NULL)
		return;
	p->sig = p->atapi ? SIG_ATAPI : SIG_ATA;
	le_put(cfis + 4, p->sig >> 8, 3);
	cfis[12] = (uint8_t)p->sig;
	ahci_write_d2h(p, cfis, p->atapi ? 0 : ATA_S_OK, 1, false);
	p->tfd = (p->atapi ? 0 : ATA_S_OK) | 1u << 8;
}

/* ---- completing commands ---- */

static void ahci_set_prdbc(struct ahci_port *p, int slot, uint32_t bytes)
{
	uint8_t *hdr = vm_map_gpa(ahci_ctx(p), p->clb + (uint64_t)slot * CH_SIZE, CH_SIZE);

	if (hdr != NULL)
		le_put(hdr + 4, bytes, 4);
}

/* A command that is not queued (NCQ) ends: its status in a D2H register FIS. */
void ahci_finish(struct ahci_port *p, int slot, const uint8_t *cfis, uint8_t st,
    uint8_t er, uint32_t bytes, bool pio, bool read)
{
	uint32_t ev = IS_DHRS;

	ahci_set_prdbc(p, slot, bytes);
	if (pio && !(st & ATA_S_ERR)) {
		ahci_write_pio_setup(p, cfis, bytes, read);
		ev |= IS_PSS;
	}
	ahci_write_d2h(p, cfis, st, er, true);
	if (st & ATA_S_ERR)
		ev |= IS_TFES;
	p->ci &= ~(1u << slot);
	p->busy &= ~(1u << slot);
	ahci_port_event(p, ev);
}

void ahci_fail(struct ahci_port *p, int slot, const uint8_t *cfis, uint8_t er)
{
	ahci_finish(p, slot, cfis, ATA_S_DRDY | ATA_S_ERR, er, 0, false, false);
}

void ahci_ok(struct ahci_port *p, int slot, const uint8_t *cfis)
{
	ahci_finish(p, slot, cfis, ATA_S_OK, 0, 0, false, false);
}

/* What log 10h reports of a failed NCQ command until it is read. */
void ahci_note_ncq_error(struct ahci_port *p, int slot, const uint8_t *cfis, uint8_t st,
    uint8_t er)
{
	uint8_t *l = p->ncq_err_log;

	memset(l, 0, sizeof(p->ncq_err_log));
	l[0] = (uint8_t)slot;
	l[2] = st;
	l[3] = er;
	if (cfis != NULL) {
		memcpy(l + 4, cfis + 4, 3);
		l[7] = cfis[7];
		memcpy(l + 8, cfis + 8, 3);
		l[12] = cfis[3];		/* an NCQ command's count is in its features */
		l[13] = cfis[11];
	}
	p->ncq_err = true;
}

/* A queued command ends: a Set Device Bits FIS clears its SActive bit. */
static void ahci_finish_ncq(struct ahci_port *p, int slot, uint8_t st, uint8_t er)
{
	uint8_t *fb = ahci_fis_area(p), fis[8] = { FIS_SDB, 0x40 };
	uint32_t ev = IS_SDBS;

	fis[2] = st & 0x77;
	fis[3] = er;
	le_put(fis + 4, 1u << slot, 4);
	if (fb != NULL)
		memcpy(fb + RFIS_SDB, fis, sizeof(fis));
	p->tfd = (uint32_t)er << 8 | (st & 0x77);
	if (st & ATA_S_ERR)
		ev |= IS_TFES;
	p->sact &= ~(1u << slot);
	p->busy &= ~(1u << slot);
	ahci_port_event(p, ev);
}

static void ahci_cmd_free(struct ahci_cmd *c)
{
	free(c->iov);
	free(c);
}

/* sc->mtx held: the backend finished every request of c. */
static void ahci_cmd_complete(struct ahci_cmd *c)
{
	struct ahci_port *p = c->p;
	bool write = c->req[0].br.br_op == BLOCKIF_WRITE;

	if (c->error != 0 && !(c->error == EOPNOTSUPP && c->req[0].br.br_op == BLOCKIF_DISCARD))
		ahci_log(p, "I/O error");
	if (c->error == EOPNOTSUPP && c->req[0].br.br_op == BLOCKIF_DISCARD)
		c->error = 0;		/* TRIM is advisory: nothing to unmap is fine */
	if (c->atapi) {
		if (c->error != 0)
			ahci_sense(p, SENSE_MEDIUM_ERROR, ASC_READ_ERROR);
		else
			ahci_sense(p, SENSE_NONE, 0);
		atapi_finish(p, c->slot, c->cfis, c->error == 0, c->bytes, c->pio);
	} else if (c->ncq) {
		if (c->error != 0) {
			uint8_t er = write ? ATA_E_ABRT : ATA_E_UNC;

			ahci_note_ncq_error(p, c->slot, c->cfis, ATA_S_DRDY | ATA_S_ERR, er);
			ahci_finish_ncq(p, c->slot, ATA_S_DRDY | ATA_S_ERR, er);
		} else
			ahci_finish_ncq(p, c->slot, ATA_S_OK, 0);
	} else if (c->error != 0) {
		ahci_fail(p, c->slot, c->cfis, write ? ATA_E_ABRT : ATA_E_UNC);
	} else {
		ahci_finish(p, c->slot, c->cfis, ATA_S_OK, 0, c->bytes, c->pio, !write);
	}
}

/* Main loop: the backend finished these. Commands from before a reset are dropped. */
static void ahci_done(void *arg, struct blockif_req *list)
{
	struct ahci_port *p = arg;

	pthread_mutex_lock(&p->sc->mtx);
	while (list != NULL) {
		struct ahci_ioreq *r = (struct ahci_ioreq *)(void *)list;
		struct ahci_cmd *c = r->cmd;

		list = list->br_next;
		if (r->br.br_error != 0 && c->error == 0)
			c->error = r->br.br_error;
		if (--c->left > 0)
			continue;
		if (c->gen == p->gen)
			ahci_cmd_complete(c);
		ahci_cmd_free(c);
	}
	pthread_mutex_unlock(&p->sc->mtx);
}

/* ---- guest buffers ---- */

/* Maps up to len bytes of the PRDT's buffers: *iovp (allocated), *n buffers,
 * *got bytes. -1 when an entry lies outside guest RAM. */
int ahci_prdt_map(struct ahci_port *p, const uint8_t *prdt, uint32_t prdtl, uint64_t len,
    struct iovec **iovp, int *n, uint64_t *got)
{
	struct iovec *iov = xcalloc(prdtl > 0 ? prdtl : 1, sizeof(*iov));
	uint64_t left = len;
	int k = 0;

	for (uint32_t i = 0; i < prdtl && left > 0; i++) {
		const uint8_t *e = prdt + (size_t)i * PRD_SIZE;
		uint64_t dba = le_get(e, 8) & ~1ULL;
		uint64_t l = (le_get(e + 12, 4) & 0x3fffff) + 1;
		uint8_t *h;

		if (l > left)
			l = left;
		h = vm_map_gpa(ahci_ctx(p), dba, l);
		if (h == NULL) {
			free(iov);
			ahci_log(p, "PRDT entry outside guest RAM");
			return -1;
		}
		if (k > 0 && (uint8_t *)iov[k - 1].iov_base + iov[k - 1].iov_len == h) {
			iov[k - 1].iov_len += l;
		} else {
			iov[k].iov_base = h;
			iov[k].iov_len = l;
			k++;
		}
		left -= l;
	}
	*iovp = iov;
	*n = k;
	*got = len - left;
	return 0;
}

/* Copies len bytes out to the guest's buffers (as many as they hold); bytes
 * copied, or -1 when an entry lies outside guest RAM. */
int64_t ahci_prdt_copyout(struct ahci_port *p, const uint8_t *prdt, uint32_t prdtl,
    const void *src, uint64_t len)
{
	struct iovec *iov;
	uint64_t got;
	int n;
	const uint8_t *s = src;

	if (ahci_prdt_map(p, prdt, prdtl, len, &iov, &n, &got) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, s, iov[i].iov_len);
		s += iov[i].iov_len;
	}
	free(iov);
	return (int64_t)got;
}

/* Hands a transfer of len bytes at offset to the backend, in requests of at
 * most AHCI_IOV_MAX buffers. false (nothing submitted) when the PRDT is bad
 * or describes fewer than len bytes. */
bool ahci_submit_rw(struct ahci_port *p, int slot, const uint8_t *cfis, const uint8_t *prdt,
    uint32_t prdtl, enum blockif_op op, uint64_t offset, uint64_t len, bool ncq, bool pio,
    bool atapi)
{
	struct iovec *iov;
	struct ahci_cmd *c;
	uint64_t got, off = offset;
	int n, nreq;

	if (len > UINT32_MAX) {
		/* 65536 sectors of 64 KiB: more than PRDBC can count. */
		ahci_log(p, "transfer of 4 GiB or more");
		return false;
	}
	if (ahci_prdt_map(p, prdt, prdtl, len, &iov, &n, &got) != 0)
		return false;
	if (got < len) {
		free(iov);
		ahci_log(p, "PRDT shorter than the transfer");
		return false;
	}
	nreq = n == 0 ? 1 : (n + AHCI_IOV_MAX - 1) / AHCI_IOV_MAX;
	c = xcalloc(1, sizeof(*c) + (size_t)nreq * sizeof(c->req[0]));
	*c = (struct ahci_cmd){ .p = p, .gen = p->gen, .slot = slot, .ncq = ncq, .pio = pio,
	    .atapi = atapi, .nreq = nreq, .left = nreq, .bytes = (uint32_t)len, .iov = iov };
	memcpy(c->cfis, cfis, sizeof(c->cfis));
	for (int r = 0; r < nreq; r++) {
		struct blockif_req *br = &c->req[r].br;
		int first = r * AHCI_IOV_MAX, cnt = n - first < AHCI_IOV_MAX ? n - first : AHCI_IOV_MAX;

		c->req[r].cmd = c;
		br->br_op = op;
		/* FUA: WRITE FPDMA QUEUED's bit 7 of the device register. */
		br->br_fua = op == BLOCKIF_WRITE && (!p->wce ||
		    (ncq && cfis[2] == ATA_WRITE_FPDMA && (cfis[7] & 0x80)));
		br->br_iov = iov + first;
		br->br_iovcnt = cnt < 0 ? 0 : cnt;
		br->br_offset = off;
		for (int i = 0; i < br->br_iovcnt; i++)
			off += br->br_iov[i].iov_len;
	}
	p->busy |= 1u << slot;
	blockif_plug(p->bc);
	for (int r = 0; r < nreq; r++)
		blockif_submit(p->bc, &c->req[r].br);
	blockif_unplug(p->bc);
	return true;
}

/* ---- the command list ---- */

/* A device reset through the control register (a software reset: SRST set,
 * then cleared): the signature follows the second FIS. */
static void ahci_control_fis(struct ahci_port *p, int slot, const uint8_t *cfis)
{
	p->ci &= ~(1u << slot);
	if (!(cfis[15] & ATA_CTL_SRST)) {
		ahci_write_signature(p);
		ahci_port_event(p, IS_DHRS);
	}
}

static void ahci_handle_slot(struct ahci_port *p, int slot)
{
	struct vmctx *ctx = ahci_ctx(p);
	uint8_t *hdr = vm_map_gpa(ctx, p->clb + (uint64_t)slot * CH_SIZE, CH_SIZE);
	uint8_t cfis[20], acmd[16];
	uint32_t dw0, prdtl, cfl;
	uint64_t ctba;
	uint8_t *tbl;

	if (hdr == NULL) {
		ahci_log(p, "command list outside guest RAM");
		p->broken = true;
		p->ci = 0;
		ahci_port_event(p, IS_HBFS);
		return;
	}
	dw0 = (uint32_t)le_get(hdr, 4);
	cfl = CH_CFL(dw0);
	prdtl = CH_PRDTL(dw0);
	ctba = le_get(hdr + 8, 8) & ~0x7fULL;
	le_put(hdr + 4, 0, 4);			/* PRDBC */
	tbl = vm_map_gpa(ctx, ctba, CT_PRDT + (size_t)prdtl * PRD_SIZE);
	if (tbl == NULL || cfl < 5) {
		ahci_log(p, tbl == NULL ? "command table outside guest RAM" :
		    "command FIS shorter than 5 dwords");
		ahci_fail(p, slot, NULL, ATA_E_ABRT);
		return;
	}
	/* Copies: the guest may change its memory while the command runs. */
	memcpy(cfis, tbl, sizeof(cfis));
	memcpy(acmd, tbl + CT_ACMD, sizeof(acmd));
	if (cfis[0] != FIS_H2D) {
		ahci_fail(p, slot, cfis, ATA_E_ABRT);
		return;
	}
	if (!(cfis[1] & 0x80)) {
		ahci_control_fis(p, slot, cfis);
		return;
	}
	if (!p->atapi)
		ata_command(p, slot, cfis, tbl + CT_PRDT, prdtl);
	else if (cfis[2] == ATA_PACKET)
		atapi_command(p, slot, cfis, acmd, tbl + CT_PRDT, prdtl);
	else
		atapi_ata_command(p, slot, cfis, tbl + CT_PRDT, prdtl);
}

/* sc->mtx held: runs each issued slot not already running. */
static void ahci_port_run(struct ahci_port *p)
{
	if (!(p->cmd & CMD_ST) || p->broken || p->bc == NULL)
		return;
	for (int slot = 0; slot < AHCI_NSLOTS; slot++) {
		uint32_t bit = 1u << slot;

		if ((p->ci & bit) && !(p->busy & bit))
			ahci_handle_slot(p, slot);
		if (p->broken)
			return;
	}
}

/* ---- resets ---- */

/* Nothing of the backend's still touches guest buffers, and completions of
 * what was in flight are dropped. */
static void ahci_port_quiesce(struct ahci_port *p)
{
	if (p->bc != NULL && p->busy != 0)
		blockif_quiesce(p->bc);
	p->gen++;
	p->busy = 0;
}

/* The link comes (back) up after COMRESET or an HBA reset. */
static void ahci_port_link_up(struct ahci_port *p)
{
	p->mult = 0;
	p->ncq_err = false;
	ahci_sense(p, SENSE_NONE, 0);
	if (p->bc == NULL) {
		p->ssts = 0;
		p->sig = 0xffffffff;
		p->tfd = 0x7f;
		return;
	}
	/* SERR.DIAG.X says the link came up; no PxIS.PCS interrupt, which Linux
	 * would take for a hot plug. */
	p->ssts = SSTS_UP;
	p->serr |= SERR_DIAG_X;
	ahci_write_signature(p);
}

static void ahci_port_reset(struct ahci_port *p)
{
	ahci_port_quiesce(p);
	p->clb = p->fb = 0;
	p->is = p->ie = p->serr = p->sact = p->ci = p->sctl = 0;
	p->cmd = CMD_SUD | CMD_POD | (p->atapi ? CMD_ATAPI : 0);
	p->broken = false;
	ahci_port_link_up(p);
	p->is = 0;
}

static void ahci_hba_reset(struct ahci_softc *sc)
{
	for (int i = 0; i < sc->nports; i++)
		ahci_port_reset(&sc->port[i]);
	sc->ghc = GHC_AE;
	sc->is = 0;
	ahci_update_intr(sc, false);
}

/* ---- registers ---- */

static uint32_t ahci_cap(const struct ahci_softc *sc)
{
	return CAP_S64A | CAP_SNCQ | CAP_SSNTF | CAP_SALP | CAP_SAL | CAP_SCLO | CAP_ISS_GEN3 |
	    CAP_SAM | CAP_SSC | CAP_PSC | CAP_NCS | (uint32_t)(sc->nports - 1);
}

static void ahci_port_write_cmd(struct ahci_port *p, uint32_t val)
{
	uint32_t old = p->cmd;

	p->cmd = (p->cmd & ~CMD_RW) | (val & CMD_RW);
	p->cmd |= CMD_SUD | CMD_POD;
	if (val & CMD_CLO) {
		p->tfd &= ~(uint32_t)(ATA_S_BSY | ATA_S_DRQ);
		p->cmd &= ~CMD_CLO;
	}
	if ((val & CMD_FRE) && !(old & CMD_FR)) {
		p->cmd |= CMD_FR;
		if (vm_map_gpa(ahci_ctx(p), p->fb, FIS_AREA) == NULL) {
			ahci_log(p, "FIS receive area outside guest RAM");
			p->broken = true;
			ahci_port_event(p, IS_HBFS);
		}
	} else if (!(val & CMD_FRE)) {
		p->cmd &= ~CMD_FR;
	}
	if ((val & CMD_ST) && !(old & CMD_CR)) {
		p->cmd |= CMD_CR;
		if (vm_map_gpa(ahci_ctx(p), p->clb, CH_SIZE * AHCI_NSLOTS) == NULL) {
			ahci_log(p, "command list outside guest RAM");
			p->broken = true;
			ahci_port_event(p, IS_HBFS);
		}
		ahci_port_run(p);
	} else if (!(val & CMD_ST) && (old & CMD_CR)) {
		/* Stopped: whatever ran is abandoned, CI and SACT clear. */
		ahci_port_quiesce(p);
		p->cmd &= ~CMD_CR;
		p->ci = p->sact = 0;
		p->broken = false;
	}
}

static void ahci_port_write(struct ahci_port *p, int off, uint32_t val)
{
	switch (off) {
	case P_CLB:
		if (!(p->cmd & CMD_CR))
			p->clb = (p->clb & ~0xffffffffULL) | (val & ~0x3ffu);
		break;
	case P_CLBU:
		if (!(p->cmd & CMD_CR))
			p->clb = (p->clb & 0xffffffffULL) | (uint64_t)val << 32;
		break;
	case P_FB:
		if (!(p->cmd & CMD_FR))
			p->fb = (p->fb & ~0xffffffffULL) | (val & ~0xffu);
		break;
	case P_FBU:
		if (!(p->cmd & CMD_FR))
			p->fb = (p->fb & 0xffffffffULL) | (uint64_t)val << 32;
		break;
	case P_IS:
		p->is &= ~(val & IS_MASK);
		p->sc->is &= ~(1u << p->num);
		ahci_update_intr(p->sc, (p->is & p->ie) != 0);
		break;
	case P_IE:
		p->ie = val & IS_MASK;
		ahci_update_intr(p->sc, (p->is & p->ie) != 0);
		break;
	case P_CMD:
		ahci_port_write_cmd(p, val);
		break;
	case P_SCTL:
		/* DET=1 holds COMRESET; back to 0 brings the link up again. */
		if ((p->sctl & 0xf) == 1 && (val & 0xf) != 1) {
			p->sctl = val;
			ahci_port_link_up(p);
		} else if ((val & 0xf) == 1 && (p->sctl & 0xf) != 1) {
			ahci_port_quiesce(p);
			p->ci = p->sact = 0;
			p->ssts = 0;
			p->tfd = 0x80 | (p->tfd & 0xff00);
			p->sctl = val;
		} else {
			p->sctl = val;
		}
		break;
	case P_SERR:
		p->serr &= ~val;
		break;
	case P_SACT:
		if (p->cmd & CMD_ST)
			p->sact |= val;
		break;
	case P_CI:
		if (p->cmd & CMD_ST) {
			p->ci |= val;
			ahci_port_run(p);
		}
		break;
	default:			/* read-only or reserved */
		break;
	}
}

static uint32_t ahci_port_read(struct ahci_port *p, int off)
{
	switch (off) {
	case P_CLB: return (uint32_t)p->clb;
	case P_CLBU: return (uint32_t)(p->clb >> 32);
	case P_FB: return (uint32_t)p->fb;
	case P_FBU: return (uint32_t)(p->fb >> 32);
	case P_IS: return p->is;
	case P_IE: return p->ie;
	case P_CMD: return p->cmd;
	case P_TFD: return p->tfd;
	case P_SIG: return p->sig;
	case P_SSTS: return p->ssts;
	case P_SCTL: return p->sctl;
	case P_SERR: return p->serr;
	case P_SACT: return p->sact;
	case P_CI: return p->ci;
	default: return 0;
	}
}

static void ahci_hba_write(struct ahci_softc *sc, int off, uint32_t val)
{
	switch (off) {
	case HBA_GHC:
		if (val & GHC_HR) {
			ahci_hba_reset(sc);
			break;
		}
		sc->ghc = GHC_AE | (val & GHC_IE);
		ahci_update_intr(sc, true);
		break;
	case HBA_IS:
		sc->is &= ~val;
		ahci_update_intr(sc, false);
		break;
	default:			/* CAP, PI, VS, CAP2 are read-only */
		break;
	}
}

static uint32_t ahci_hba_read(struct ahci_softc *sc, int off)
{
	switch (off) {
	case HBA_CAP: return ahci_cap(sc);
	case HBA_GHC: return sc->ghc;
	case HBA_IS: return sc->is;
	case HBA_PI: return sc->pi_bits;
	case HBA_VS: return AHCI_VERSION;
	case HBA_CAP2: return 0;
	default: return 0;
	}
}

/* Registers are dwords; a narrower or misaligned access reads (or writes) the
 * bytes of the dword it falls in. */
static void pci_ahci_write(struct pci_devinst *pi, int baridx, uint64_t off, int size,
    uint64_t val)
{
	struct ahci_softc *sc = pi->pi_arg;

	if (baridx != AHCI_BAR || off >= AHCI_BAR_SIZE || size != 4 || (off & 3) != 0)
		return;			/* only aligned dword writes, as the spec asks */
	pthread_mutex_lock(&sc->mtx);
	if (off < AHCI_PORT_BASE) {
		ahci_hba_write(sc, (int)off, (uint32_t)val);
	} else {
		int n = (int)((off - AHCI_PORT_BASE) / AHCI_PORT_LEN);

		if (n < sc->nports && (sc->pi_bits & (1u << n)))
			ahci_port_write(&sc->port[n], (int)((off - AHCI_PORT_BASE) % AHCI_PORT_LEN),
			    (uint32_t)val);
	}
	pthread_mutex_unlock(&sc->mtx);
}

static uint64_t pci_ahci_read(struct pci_devinst *pi, int baridx, uint64_t off, int size)
{
	struct ahci_softc *sc = pi->pi_arg;
	uint64_t base = off & ~3ULL;
	uint32_t v;

	if (baridx != AHCI_BAR || off >= AHCI_BAR_SIZE || size < 1 || size > 8)
		return 0;
	pthread_mutex_lock(&sc->mtx);
	if (base < AHCI_PORT_BASE) {
		v = ahci_hba_read(sc, (int)base);
	} else {
		int n = (int)((base - AHCI_PORT_BASE) / AHCI_PORT_LEN);

		v = n < sc->nports && (sc->pi_bits & (1u << n)) ?
		    ahci_port_read(&sc->port[n], (int)((base - AHCI_PORT_BASE) % AHCI_PORT_LEN)) : 0;
	}
	pthread_mutex_unlock(&sc->mtx);
	if (size >= 4)
		return v;
	return (v >> (8 * (off & 3))) & ((1u << (8 * size)) - 1);
}

/* ---- boot order, init ---- */

/* SeaBIOS looks an AHCI disk up as /pci@i0cf8/ *@S/drive@P/disk@0. */
static int pci_ahci_bootdevs(struct pci_devinst *pi, const char *node,
    int (*add)(void *arg, const char *index, const char *suffix), void *arg)
{
	struct ahci_softc *sc = pi->pi_arg;

	for (int i = 0; i < sc->nports; i++) {
		char pnode[80], suffix[32];
		const char *v;

		snprintf(pnode, sizeof(pnode), "%s.port.%d", node, i);
		v = get_config_value_node(pnode, "bootindex");
		if (v == NULL)
			continue;
		snprintf(suffix, sizeof(suffix), "/drive@%x/disk@0", i);
		if (add(arg, v, suffix) != 0)
			return -1;
	}
	return 0;
}

struct ahci_portlist {
	unsigned long seen;
	int bad;
};

static void ahci_collect_port(const char *child, void *arg)
{
	struct ahci_portlist *l = arg;
	unsigned long n;

	if (ahci_port_number(child, &n))
		l->seen |= 1UL << n;
	else
		l->bad = -1;
}

static int pci_ahci_init(struct pci_devinst *pi, const char *node)
{
	struct ahci_softc *sc = xcalloc(1, sizeof(*sc));
	struct ahci_portlist l = { 0 };
	char pnode[80];

	sc->pi = pi;
	pthread_mutex_init(&sc->mtx, NULL);
	pi->pi_arg = sc;
	if (ahci_check_keys(node) != 0)
		goto fail;
	snprintf(pnode, sizeof(pnode), "%s.port", node);
	config_foreach_child(pnode, ahci_collect_port, &l);
	if (l.bad != 0)
		goto fail;
	if (l.seen == 0) {
		warnx("ahci: no ports (%s.port.N.path and .type)", node);
		goto fail;
	}
	for (int i = 0; i < AHCI_MAX_PORTS; i++) {
		struct ahci_port *p = &sc->port[i];
		char num[12];

		p->sc = sc;
		p->num = i;
		if (!(l.seen & (1UL << i)))
			continue;
		snprintf(num, sizeof(num), "%d", i);
		if (ahci_port_config(p, node, num) != 0)
			goto fail;
		sc->pi_bits |= 1u << i;
		sc->nports = i + 1;
	}
	pci_set_cfgdata16(pi, PCIR_VENDOR, 0x8086);
	pci_set_cfgdata16(pi, PCIR_DEVICE, 0x2821);
	pci_set_cfgdata8(pi, PCIR_CLASS, 0x01);		/* mass storage */
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, 0x06);	/* SATA */
	pci_set_cfgdata8(pi, PCIR_PROGIF, 0x01);	/* AHCI 1.0 */
	if (pci_emul_add_msicap(pi, 1) != 0 ||
	    pci_emul_alloc_bar(pi, AHCI_BAR, PCIBAR_MEM32, AHCI_BAR_SIZE) != 0)
		goto fail;
	pci_lintr_request(pi);
	pthread_mutex_lock(&sc->mtx);
	ahci_hba_reset(sc);
	pthread_mutex_unlock(&sc->mtx);
	return 0;
fail:
	for (int i = 0; i < AHCI_MAX_PORTS; i++)
		if (sc->port[i].bc != NULL)
			blockif_close(sc->port[i].bc);
	pthread_mutex_destroy(&sc->mtx);
	pi->pi_arg = NULL;
	free(sc);
	return -1;
}

static void pci_ahci_deinit(struct pci_devinst *pi)
{
	struct ahci_softc *sc = pi->pi_arg;

	for (int i = 0; sc != NULL && i < AHCI_MAX_PORTS; i++)
		if (sc->port[i].bc != NULL) {
			blockif_close(sc->port[i].bc);
			sc->port[i].bc = NULL;
		}
}

static const struct pci_devemu pci_de_ahci = {
	.pe_emu = "ahci",
	.pe_fwname = "ide",		/* QEMU's name for it; SeaBIOS matches by slot */
	.pe_init = pci_ahci_init,
	.pe_deinit = pci_ahci_deinit,
	.pe_legacy_config = pci_ahci_legacy_config,
	.pe_barwrite = pci_ahci_write,
	.pe_barread = pci_ahci_read,
	.pe_bootdevs = pci_ahci_bootdevs,
};
PCI_EMUL_SET(pci_de_ahci);

static const struct pci_devemu pci_de_ahci_hd = {
	.pe_emu = "ahci-hd",
	.pe_alias = "ahci",
	.pe_fwname = "ide",
	.pe_init = pci_ahci_init,
	.pe_deinit = pci_ahci_deinit,
	.pe_legacy_config = pci_ahci_hd_legacy_config,
	.pe_barwrite = pci_ahci_write,
	.pe_barread = pci_ahci_read,
	.pe_bootdevs = pci_ahci_bootdevs,
};
PCI_EMUL_SET(pci_de_ahci_hd);

static const struct pci_devemu pci_de_ahci_cd = {
	.pe_emu = "ahci-cd",
	.pe_alias = "ahci",
	.pe_fwname = "ide",
	.pe_init = pci_ahci_init,
	.pe_deinit = pci_ahci_deinit,
	.pe_legacy_config = pci_ahci_cd_legacy_config,
	.pe_barwrite = pci_ahci_write,
	.pe_barread = pci_ahci_read,
	.pe_bootdevs = pci_ahci_bootdevs,
};
PCI_EMUL_SET(pci_de_ahci_cd);
