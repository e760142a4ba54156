/* The PCI core. Devices live in bhyve/devices/, each registered with PCI_EMUL_SET. */
#include "pci_emul.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "iodispatch.h"
#include "vmmapi.h"

SET_DECLARE(pci_devemu_set, struct pci_devemu);

static struct pci_devinst *devs[MAXBUSES][MAXSLOTS][MAXFUNCS];
static uint64_t io_next = PCI_IOBASE;
static uint64_t mem32_next = PCI_MEMBASE32;
static uint64_t mem64_next, mem64_limit;
static uint32_t cf8_latch;
static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct pci_devemu *pci_emul_finddev(const char *name)
{
	struct pci_devemu **pdpp;

	SET_FOREACH(pdpp, pci_devemu_set) {
		if (strcmp((*pdpp)->pe_emu, name) == 0)
			return *pdpp;
	}
	return NULL;
}

void pci_print_supported_devices(void)
{
	struct pci_devemu **pdpp;

	SET_FOREACH(pdpp, pci_devemu_set)
		printf("%s\n", (*pdpp)->pe_emu);
}

int pci_path_legacy_config(const char *node, const char *opts)
{
	size_t n = strcspn(opts, ",");
	char *first = xstrndup(opts, n);

	if (n > 0 && strchr(first, '=') == NULL) {
		set_config_value_node(node, "path", first);
		opts += n;
	}
	free(first);
	return pci_generic_legacy_config(node, opts);
}

int pci_generic_legacy_config(const char *node, const char *opts)
{
	char *copy = xstrdup(opts), *s = copy, *tok;

	while ((tok = strsep(&s, ",")) != NULL) {
		char *eq = strchr(tok, '=');

		if (*tok == '\0')
			continue;
		if (eq == NULL) {
			set_config_value_node(node, tok, "true");
		} else {
			*eq = '\0';
			set_config_value_node(node, tok, eq + 1);
		}
	}
	free(copy);
	return 0;
}

static void slot_name(char *buf, size_t len, int b, int s, int f)
{
	/* As bhyve's messages write it: "S:F" on bus 0, "B:S:F" elsewhere. */
	if (b == 0)
		snprintf(buf, len, "%d:%d", s, f);
	else
		snprintf(buf, len, "%d:%d:%d", b, s, f);
}

int pci_parse_slot(const char *opt)
{
	char *str = xstrdup(opt), *emul, *config, *slotstr;
	unsigned long v[3];
	int n = 0, b = 0, s, f = 0, rc = -1;
	char node[48], sname[40];
	const struct pci_devemu *pe;

	slotstr = str;
	emul = strchr(str, ',');
	if (emul == NULL) {
		warnx("invalid PCI slot \"%s\": expected [bus:]slot[:func],emulation[,conf]", opt);
		goto out;
	}
	*emul++ = '\0';
	config = strchr(emul, ',');
	if (config != NULL)
		*config++ = '\0';
	for (char *p = slotstr, *tok; (tok = strsep(&p, ":")) != NULL;) {
		if (n == 3 || parse_uint(tok, 255, &v[n]) != 0) {
			warnx("invalid PCI slot \"%s\"", slotstr);
			goto out;
		}
		n++;
	}
	if (n == 1) {
		s = (int)v[0];
	} else if (n == 2) {
		s = (int)v[0];
		f = (int)v[1];
	} else {
		b = (int)v[0];
		s = (int)v[1];
		f = (int)v[2];
	}
	if (s >= MAXSLOTS || f >= MAXFUNCS) {
		warnx("invalid PCI slot \"%s\": slot 0-31, function 0-7", slotstr);
		goto out;
	}
	slot_name(sname, sizeof(sname), b, s, f);
	pe = pci_emul_finddev(emul);
	if (pe == NULL) {
		warnx("pci slot %s: unknown device \"%s\"", sname, emul);
		goto out;
	}
	snprintf(node, sizeof(node), "pci.%d.%d.%d", b, s, f);
	if (config_node_exists(node)) {
		warnx("pci slot %s: already occupied", sname);
		goto out;
	}
	set_config_value_node(node, "device", pe->pe_alias ? pe->pe_alias : pe->pe_emu);
	if (pe->pe_legacy_config != NULL)
		rc = pe->pe_legacy_config(node, config ? config : "");
	else
		rc = config ? pci_generic_legacy_config(node, config) : 0;
out:
	free(str);
	return rc;
}

struct pci_devinst *pci_find(int bus, int slot, int func)
{
	if (bus < 0 || bus >= MAXBUSES || slot < 0 || slot >= MAXSLOTS || func < 0 || func >= MAXFUNCS)
		return NULL;
	return devs[bus][slot][func];
}

/* ---- BARs ---- */

static bool bar_is_mem(enum pcibar_type t)
{
	return t == PCIBAR_MEM32 || t == PCIBAR_MEM64;
}

static int pci_bar_handler(void *arg, bool write, uint64_t addr, int size, uint64_t *val);

static bool bar_decoding(struct pci_devinst *pi, int idx)
{
	uint16_t cmd = pci_get_cfgdata16(pi, PCIR_COMMAND);

	if (pi->pi_bar[idx].type == PCIBAR_IO)
		return cmd & PCIM_CMD_PORTEN;
	return bar_is_mem(pi->pi_bar[idx].type) && (cmd & PCIM_CMD_MEMEN);
}

static void bar_unregister(struct pci_devinst *pi, int idx)
{
	struct pcibar *bar = &pi->pi_bar[idx];

	if (!bar->registered)
		return;
	unregister_io(bar->type == PCIBAR_IO ? IO_PORT : IO_MMIO, bar->addr);
	bar->registered = false;
	if (pi->pi_bar_moved != NULL)
		pi->pi_bar_moved(pi, idx);
}

static void bar_register(struct pci_devinst *pi, int idx)
{
	struct pcibar *bar = &pi->pi_bar[idx];
	struct io_range r = {
		.name = pi->pi_name, .base = bar->addr, .size = bar->size,
		.handler = pci_bar_handler, .arg = pi,
	};

	if (bar->registered || bar->addr == 0 ||
	    (bar->type == PCIBAR_IO && bar->addr + bar->size > 0x10000))
		return;
	/* A guest may move a BAR onto something else (firmware sizing BARs does,
	 * for a moment); it then just stops decoding, without a word in the log. */
	r.quiet = true;
	if (register_io(bar->type == PCIBAR_IO ? IO_PORT : IO_MMIO, &r) != 0)
		return;
	bar->registered = true;
	if (pi->pi_bar_moved != NULL)
		pi->pi_bar_moved(pi, idx);
}

int pci_emul_alloc_bar(struct pci_devinst *pi, int idx, enum pcibar_type type, uint64_t size)
{
	uint64_t *next, limit, addr;
	uint32_t lobits;

	if (idx < 0 || idx > PCI_BARMAX || size == 0 || (size & (size - 1)) != 0 ||
	    (type == PCIBAR_MEM64 && idx == PCI_BARMAX)) {
		warnx("%s: invalid BAR %d", pi->pi_name, idx);
		return -1;
	}
	switch (type) {
	case PCIBAR_IO:
		if (size < 4)
			size = 4;
		next = &io_next;
		limit = PCI_IOLIMIT;
		lobits = 1;
		break;
	case PCIBAR_MEM32:
		if (size < 4096)
			size = 4096;
		next = &mem32_next;
		limit = PCI_MEMLIMIT32;
		lobits = 0;
		break;
	case PCIBAR_MEM64:
		if (size < 4096)
			size = 4096;
		next = &mem64_next;
		limit = mem64_limit;
		lobits = 0x4;
		break;
	default:
		return -1;
	}
	addr = ROUNDUP(*next, size);
	if (addr + size > limit) {
		warnx("%s: no room for a %llu-byte BAR", pi->pi_name, (unsigned long long)size);
		return -1;
	}
	*next = addr + size;
	pi->pi_bar[idx] = (struct pcibar){ .type = type, .addr = addr, .size = size };
	pci_set_cfgdata32(pi, PCIR_BAR(idx), (uint32_t)addr | lobits);
	if (type == PCIBAR_MEM64) {
		pi->pi_bar[idx + 1] = (struct pcibar){ .type = PCIBAR_MEMHI64 };
		pci_set_cfgdata32(pi, PCIR_BAR(idx + 1), (uint32_t)(addr >> 32));
	}
	pci_set_cfgdata16(pi, PCIR_COMMAND, pci_get_cfgdata16(pi, PCIR_COMMAND) |
	    (type == PCIBAR_IO ? PCIM_CMD_PORTEN : PCIM_CMD_MEMEN));
	bar_register(pi, idx);
	return 0;
}

int pci_emul_set_bar_prefetch(struct pci_devinst *pi, int idx)
{
	if (idx < 0 || idx > PCI_BARMAX || !bar_is_mem(pi->pi_bar[idx].type))
		return -1;
	pi->pi_bar[idx].prefetch = true;
	pci_set_cfgdata32(pi, PCIR_BAR(idx), pci_get_cfgdata32(pi, PCIR_BAR(idx)) | 0x8);
	return 0;
}

static void bar_write(struct pci_devinst *pi, int idx, uint32_t val)
{
	struct pcibar *bar = &pi->pi_bar[idx];
	uint64_t addr = 0;
	int lo = idx;

	switch (bar->type) {
	case PCIBAR_NONE:
		return;
	case PCIBAR_IO:
		/* All 32 bits read back, as firmware sizing the BAR expects; only an
		 * address below 64 KiB decodes. */
		addr = val & ~(uint32_t)(bar->size - 1) & ~3u;
		pci_set_cfgdata32(pi, PCIR_BAR(idx), (uint32_t)addr | 1);
		break;
	case PCIBAR_MEM32:
		addr = val & ~(uint32_t)(bar->size - 1);
		pci_set_cfgdata32(pi, PCIR_BAR(idx), (uint32_t)addr | (bar->prefetch ? 0x8 : 0));
		break;
	case PCIBAR_MEM64:
		addr = (bar->addr & ~0xffffffffULL) | (val & ~(uint32_t)(bar->size - 1) & 0xfffffff0);
		pci_set_cfgdata32(pi, PCIR_BAR(idx), (uint32_t)addr | 0x4 | (bar->prefetch ? 0x8 : 0));
		break;
	case PCIBAR_MEMHI64:
		lo = idx - 1;
		bar = &pi->pi_bar[lo];
		addr = (bar->addr & 0xffffffffULL) | ((uint64_t)val << 32);
		/* Sizing the upper half: the size's upper bits read back. */
		addr &= ~(bar->size - 1);
		pci_set_cfgdata32(pi, PCIR_BAR(idx), (uint32_t)(addr >> 32));
		break;
	}
	if (addr == pi->pi_bar[lo].addr)
		return;
	if (bar_decoding(pi, lo)) {
		bar_unregister(pi, lo);
		pi->pi_bar[lo].addr = addr;
		bar_register(pi, lo);
	} else {
		pi->pi_bar[lo].addr = addr;
	}
}

static void rom_update(struct pci_devinst *pi);

static void command_write(struct pci_devinst *pi, uint16_t newcmd)
{
	uint16_t old = pci_get_cfgdata16(pi, PCIR_COMMAND);
	bool intx_was_masked = old & PCIM_CMD_INTxDIS;

	pci_set_cfgdata16(pi, PCIR_COMMAND, newcmd);
	for (int i = 0; i <= PCI_BARMAX; i++) {
		if (pi->pi_bar[i].type == PCIBAR_NONE || pi->pi_bar[i].type == PCIBAR_MEMHI64)
			continue;
		if (bar_decoding(pi, i))
			bar_register(pi, i);
		else
			bar_unregister(pi, i);
	}
	rom_update(pi);
	/* INTx disable toggled: the line follows the device's pending state. */
	pthread_mutex_lock(&pi->pi_lock);
	if (pi->pi_lintr.pin && pi->pi_lintr.asserted &&
	    intx_was_masked != (bool)(newcmd & PCIM_CMD_INTxDIS)) {
		if (newcmd & PCIM_CMD_INTxDIS)
			pci_irq_deassert(pi);
		else
			pci_irq_assert(pi);
	}
	pthread_mutex_unlock(&pi->pi_lock);
}

/* ---- the expansion ROM ---- */

#define ROM_MIN_SIZE	2048
#define ROM_MAX_SIZE	(16u << 20)

static int pci_rom_handler(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	struct pci_devinst *pi = arg;
	uint64_t off = addr - pi->pi_rom.addr;

	if (write)
		return 0;		/* a ROM: writes go nowhere */
	*val = 0;
	for (int i = 0; i < size; i++)
		if (off + (uint64_t)i < pi->pi_rom.size)
			*val |= (uint64_t)pi->pi_rom.image[off + (uint64_t)i] << (8 * i);
	return 0;
}

static bool rom_decoding(struct pci_devinst *pi)
{
	return pi->pi_rom.size != 0 && (pci_get_cfgdata16(pi, PCIR_COMMAND) & PCIM_CMD_MEMEN) &&
	    (pci_get_cfgdata32(pi, PCIR_ROM) & PCIM_ROM_ENABLE);
}

/* Registers or unregisters the ROM's range to match the enable bits. */
static void rom_update(struct pci_devinst *pi)
{
	bool on = rom_decoding(pi) && pi->pi_rom.addr != 0;

	if (pi->pi_rom.registered && !on) {
		unregister_io(IO_MMIO, pi->pi_rom.addr);
		pi->pi_rom.registered = false;
	} else if (!pi->pi_rom.registered && on) {
		struct io_range r = {
			.name = pi->pi_name, .base = pi->pi_rom.addr, .size = pi->pi_rom.size,
			.handler = pci_rom_handler, .arg = pi, .quiet = true,
		};

		/* On top of something else (a firmware sizing it) it does not decode. */
		pi->pi_rom.registered = register_io(IO_MMIO, &r) == 0;
	}
}

static void rom_write(struct pci_devinst *pi, uint32_t val)
{
	uint32_t addr = val & ~(uint32_t)(pi->pi_rom.size - 1) & ~0x7ffu;

	if (pi->pi_rom.size == 0)
		return;		/* no ROM: the register reads 0 */
	if (pi->pi_rom.registered) {
		unregister_io(IO_MMIO, pi->pi_rom.addr);
		pi->pi_rom.registered = false;
	}
	pi->pi_rom.addr = addr;
	pci_set_cfgdata32(pi, PCIR_ROM, addr | (val & PCIM_ROM_ENABLE));
	rom_update(pi);
}

int pci_emul_add_rom(struct pci_devinst *pi, const void *image, size_t len)
{
	uint64_t size = ROM_MIN_SIZE, addr;

	if (len == 0 || len > ROM_MAX_SIZE || pi->pi_rom.size != 0) {
		warnx("%s: invalid option ROM of %zu bytes", pi->pi_name, len);
		return -1;
	}
	while (size < len)
		size <<= 1;
	addr = ROUNDUP(mem32_next, size);
	if (addr + size > PCI_MEMLIMIT32) {
		warnx("%s: no room for a %llu-byte option ROM", pi->pi_name,
		    (unsigned long long)size);
		return -1;
	}
	mem32_next = addr + size;
	pi->pi_rom.image = xcalloc(1, size);
	memcpy(pi->pi_rom.image, image, len);
	pi->pi_rom.size = size;
	pi->pi_rom.addr = addr;
	pci_set_cfgdata32(pi, PCIR_ROM, (uint32_t)addr);	/* disabled */
	return 0;
}

int pci_emul_load_rom(struct pci_devinst *pi, const char *path)
{
	char what[96];
	struct stat st;
	uint8_t *buf;
	size_t n;
	int fd, rc = -1;

	/* open_checked: a FIFO or a device cannot hang the start-up. */
	snprintf(what, sizeof(what), "%s: cannot open the option ROM", pi->pi_name);
	fd = open_checked(what, path, O_RDONLY, OPEN_REG, ROM_MAX_SIZE, &st);
	if (fd < 0)
		return -1;
	n = (size_t)st.st_size;
	buf = xmalloc(n ? n : 1);
	snprintf(what, sizeof(what), "%s: option ROM", pi->pi_name);
	if (read_file_all(what, path, fd, buf, n) == 0) {
		if (n < 3 || buf[0] != 0x55 || buf[1] != 0xaa)
			warnx("%s: %s is not an option ROM (no 0x55 0xAA signature)", pi->pi_name,
			    path);
		else
			rc = pci_emul_add_rom(pi, buf, n);
	}
	close(fd);
	free(buf);
	return rc;
}

void pci_emul_free_rom(struct pci_devinst *pi)
{
	pthread_mutex_lock(&cfg_lock);
	if (pi->pi_rom.registered)
		unregister_io(IO_MMIO, pi->pi_rom.addr);
	pi->pi_rom.registered = false;
	pi->pi_rom.size = 0;
	pci_set_cfgdata32(pi, PCIR_ROM, 0);
	pthread_mutex_unlock(&cfg_lock);
	/* pe_deinit runs with no vCPU running, so no read of the image is either. */
	free(pi->pi_rom.image);
	pi->pi_rom.image = NULL;
}

/* ---- MSI and MSI-X ---- */

int pci_emul_add_capability(struct pci_devinst *pi, const uint8_t *cap, int caplen)
{
	int off = pi->pi_capend ? pi->pi_capend : 0x40;

	off = ROUNDUP(off, 4);
	if (off + caplen > 256) {
		warnx("%s: no room for capability", pi->pi_name);
		return -1;
	}
	memcpy(&pi->pi_cfgdata[off], cap, (size_t)caplen);
	pi->pi_cfgdata[off + 1] = 0;
	if (pi->pi_prevcap == 0)
		pci_set_cfgdata8(pi, PCIR_CAP_PTR, (uint8_t)off);
	else
		pci_set_cfgdata8(pi, pi->pi_prevcap + 1, (uint8_t)off);
	pci_set_cfgdata16(pi, PCIR_STATUS, pci_get_cfgdata16(pi, PCIR_STATUS) | PCIM_STATUS_CAPPRESENT);
	pi->pi_prevcap = off;
	pi->pi_capend = off + caplen;
	return off;
}

int pci_emul_add_msicap(struct pci_devinst *pi, int msgnum)
{
	uint8_t cap[14] = { PCIY_MSI };
	int mmc = 0;

	while ((1 << mmc) < msgnum)
		mmc++;
	if (msgnum < 1 || msgnum > 32 || (1 << mmc) != msgnum)
		return -1;
	cap[2] = (uint8_t)(0x80 | (mmc << 1));	/* 64-bit address capable */
	pi->pi_msi.capoff = pci_emul_add_capability(pi, cap, sizeof(cap));
	return pi->pi_msi.capoff < 0 ? -1 : 0;
}

int pci_emul_add_msixcap(struct pci_devinst *pi, int msgnum, int barnum)
{
	uint8_t cap[12] = { PCIY_MSIX };
	uint32_t tsize = (uint32_t)msgnum * 16, pba_off = ROUNDUP(tsize, 4096);
	uint64_t barsize = 4096;

	if (msgnum < 1 || msgnum > 2048)
		return -1;
	while (barsize < pba_off + 4096)
		barsize <<= 1;
	pi->pi_msix.table = xcalloc((size_t)msgnum, sizeof(struct msix_entry));
	pi->pi_msix.pba = xcalloc((size_t)(msgnum + 63) / 64, sizeof(uint64_t));
	for (int i = 0; i < msgnum; i++) {
		pi->pi_msix.table[i].vector_control = 1;	/* masked at reset */
		pi->pi_msix.table[i].irqfd = -1;
	}
	pi->pi_msix.table_count = msgnum;
	pi->pi_msix.table_bar = pi->pi_msix.pba_bar = barnum;
	pi->pi_msix.table_offset = 0;
	pi->pi_msix.pba_offset = pba_off;
	cap[2] = (uint8_t)(msgnum - 1);
	cap[3] = (uint8_t)((msgnum - 1) >> 8);
	cap[4] = (uint8_t)barnum;
	cap[8] = (uint8_t)(barnum | pba_off);
	cap[9] = (uint8_t)(pba_off >> 8);
	cap[10] = (uint8_t)(pba_off >> 16);
	if (pci_emul_alloc_bar(pi, barnum, PCIBAR_MEM32, barsize) != 0)
		return -1;
	pi->pi_msix.capoff = pci_emul_add_capability(pi, cap, sizeof(cap));
	return pi->pi_msix.capoff < 0 ? -1 : 0;
}

int pci_emul_add_pciecap(struct pci_devinst *pi, int type)
{
	uint8_t cap[0x3c] = { PCIY_EXPRESS };

	cap[2] = (uint8_t)(0x2 | (type << 4));	/* capability version 2, port type */
	cap[3] = 0;
	return pci_emul_add_capability(pi, cap, sizeof(cap)) < 0 ? -1 : 0;
}

static void msi_update(struct pci_devinst *pi)
{
	int off = pi->pi_msi.capoff;
	uint16_t ctl = pci_get_cfgdata16(pi, off + 2);

	pi->pi_msi.enabled = ctl & 1;
	pi->pi_msi.maxmsgnum = 1 << ((ctl >> 4) & 7);
	pi->pi_msi.addr = pci_get_cfgdata32(pi, off + 4) | (uint64_t)pci_get_cfgdata32(pi, off + 8) << 32;
	pi->pi_msi.msg_data = pci_get_cfgdata16(pi, off + 12);
}

bool pci_msi_enabled(struct pci_devinst *pi)
{
	return pi->pi_msi.enabled;
}

int pci_msi_maxmsgnum(struct pci_devinst *pi)
{
	return pi->pi_msi.enabled ? pi->pi_msi.maxmsgnum : 0;
}

void pci_generate_msi(struct pci_devinst *pi, int msgnum)
{
	if (pi->pi_msi.enabled && msgnum < pi->pi_msi.maxmsgnum)
		vm_lapic_msi(pi->pi_vmctx, pi->pi_msi.addr, pi->pi_msi.msg_data | (unsigned)msgnum);
}

bool pci_msix_enabled(struct pci_devinst *pi)
{
	return pi->pi_msix.enabled && !pi->pi_msi.enabled;
}

/* On KVM each unmasked vector gets an irqfd on first use: raising it is then an
 * eventfd write from whichever thread completes the work, and KVM injects it
 * without the VMM's vm fd. -1 when there is none (bhyve-emu has no irqchip). */
static int msix_irqfd_signal(struct pci_devinst *pi, struct msix_entry *e)
{
	uint64_t one = 1;

	if (e->irqfd < 0) {
		int fd;

		if (pi->pi_msix.irqfd_off)
			return -1;
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0 || vm_irqfd_msi(pi->pi_vmctx, fd, e->addr, e->data, &e->gsi) != 0) {
			if (fd >= 0)
				close(fd);
			pi->pi_msix.irqfd_off = true;
			return -1;
		}
		e->irqfd = fd;
	}
	return write(e->irqfd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -1;
}

/* The guest moved a vector: its irqfd follows, or goes when KVM refuses. */
static void msix_irqfd_reroute(struct pci_devinst *pi, struct msix_entry *e)
{
	if (e->irqfd < 0 || vm_irqfd_msi_route(pi->pi_vmctx, e->gsi, e->addr, e->data) == 0)
		return;
	(void)vm_irqfd_remove(pi->pi_vmctx, e->irqfd, e->gsi);
	close(e->irqfd);
	e->irqfd = -1;
	pi->pi_msix.irqfd_off = true;
}

static void msix_deliver(struct pci_devinst *pi, int index)
{
	struct msix_entry *e = &pi->pi_msix.table[index];

	if (pi->pi_msix.function_mask || (e->vector_control & 1)) {
		pi->pi_msix.pba[index / 64] |= 1ULL << (index % 64);
		return;
	}
	pi->pi_msix.pba[index / 64] &= ~(1ULL << (index % 64));
	if (msix_irqfd_signal(pi, e) != 0)
		vm_lapic_msi(pi->pi_vmctx, e->addr, e->data);
}

void pci_generate_msix(struct pci_devinst *pi, int index)
{
	if (!pci_msix_enabled(pi) || index < 0 || index >= pi->pi_msix.table_count)
		return;
	pthread_mutex_lock(&pi->pi_lock);
	msix_deliver(pi, index);
	pthread_mutex_unlock(&pi->pi_lock);
}

/* Deliver what became pending while masked, once unmasked. */
static void msix_flush_pending(struct pci_devinst *pi)
{
	for (int i = 0; i < pi->pi_msix.table_count; i++)
		if (pi->pi_msix.pba[i / 64] & (1ULL << (i % 64)))
			msix_deliver(pi, i);
}

static void msix_update(struct pci_devinst *pi)
{
	uint16_t ctl = pci_get_cfgdata16(pi, pi->pi_msix.capoff + 2);

	pthread_mutex_lock(&pi->pi_lock);
	if (!pi->pi_msix.enabled && (ctl & 0x8000))
		pi->pi_msix.irqfd_off = false;	/* one more try each time MSI-X comes on */
	pi->pi_msix.enabled = ctl & 0x8000;
	pi->pi_msix.function_mask = ctl & 0x4000;
	if (pi->pi_msix.enabled)
		msix_flush_pending(pi);
	pthread_mutex_unlock(&pi->pi_lock);
}

/* MSI-X table and PBA accesses: aligned 4- or 8-byte, as the spec requires. */
static int msix_access(struct pci_devinst *pi, bool write, uint64_t off, int size, uint64_t *val)
{
	uint64_t tend = pi->pi_msix.table_offset + (uint64_t)pi->pi_msix.table_count * 16;

	if ((size != 4 && size != 8) || (off & (uint64_t)(size - 1)))
		return -1;
	if (off >= pi->pi_msix.pba_offset) {
		uint64_t i = (off - pi->pi_msix.pba_offset) / 8;

		if (!write && i < (uint64_t)(pi->pi_msix.table_count + 63) / 64) {
			*val = pi->pi_msix.pba[i];
			if (size == 4)
				*val = (off & 4) ? *val >> 32 : (uint32_t)*val;
		}
		return 0;
	}
	if (off >= tend)
		return 0;
	pthread_mutex_lock(&pi->pi_lock);
	{
		struct msix_entry *e = &pi->pi_msix.table[off / 16];
		uint32_t w[4] = { (uint32_t)e->addr, (uint32_t)(e->addr >> 32), e->data, e->vector_control };
		int wi = (int)(off % 16) / 4;

		if (write) {
			uint64_t oaddr = e->addr;
			uint32_t odata = e->data;

			w[wi] = (uint32_t)*val;
			if (size == 8 && wi < 3)
				w[wi + 1] = (uint32_t)(*val >> 32);
			e->addr = w[0] | (uint64_t)w[1] << 32;
			e->data = w[2];
			e->vector_control = w[3] & 1;
			if (e->addr != oaddr || e->data != odata)
				msix_irqfd_reroute(pi, e);
			if (!(e->vector_control & 1))
				msix_flush_pending(pi);
		} else {
			*val = w[wi];
			if (size == 8 && wi < 3)
				*val |= (uint64_t)w[wi + 1] << 32;
		}
	}
	pthread_mutex_unlock(&pi->pi_lock);
	return 0;
}

static int pci_bar_handler(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	struct pci_devinst *pi = arg;

	for (int i = 0; i <= PCI_BARMAX; i++) {
		struct pcibar *bar = &pi->pi_bar[i];
		uint64_t off;

		if (!bar->registered || addr < bar->addr || addr - bar->addr >= bar->size)
			continue;
		off = addr - bar->addr;
		if (pi->pi_msix.table && i == pi->pi_msix.table_bar)
			return msix_access(pi, write, off, size, val);
		if (write) {
			if (pi->pi_d->pe_barwrite)
				pi->pi_d->pe_barwrite(pi, i, off, size, *val);
		} else {
			*val = pi->pi_d->pe_barread ? pi->pi_d->pe_barread(pi, i, off, size) : ~0ULL;
		}
		return 0;
	}
	return -1;
}

/* ---- configuration space ---- */

static bool in_cap(int capoff, int len, int coff)
{
	return capoff > 0 && coff >= capoff && coff < capoff + len;
}

static void cap_write(struct pci_devinst *pi, int coff, int bytes, uint32_t val)
{
	for (int i = 0; i < bytes; i++) {
		int off = coff + i;
		uint8_t b = (uint8_t)(val >> (8 * i));

		if (in_cap(pi->pi_msi.capoff, 14, off)) {
			int r = off - pi->pi_msi.capoff;

			if (r == 2)	/* enable and multiple-message enable */
				b = (uint8_t)((b & 0x71) | (pi->pi_cfgdata[off] & 0x8e));
			else if (r < 2 || r == 3)
				continue;
			pi->pi_cfgdata[off] = b;
		} else if (in_cap(pi->pi_msix.capoff, 12, off)) {
			if (off - pi->pi_msix.capoff == 3)	/* enable, function mask */
				pi->pi_cfgdata[off] = (uint8_t)((b & 0xc0) | (pi->pi_cfgdata[off] & 0x3f));
		}
	}
	if (in_cap(pi->pi_msi.capoff, 14, coff))
		msi_update(pi);
	if (in_cap(pi->pi_msix.capoff, 12, coff) || in_cap(pi->pi_msix.capoff, 12, coff + bytes - 1))
		msix_update(pi);
}

static void cfg_write(struct pci_devinst *pi, int coff, int bytes, uint32_t val)
{
	if (coff >= PCIR_BAR(0) && coff < PCIR_BAR(PCI_BARMAX + 1)) {
		if (bytes == 4 && (coff & 3) == 0)
			bar_write(pi, (coff - PCIR_BAR(0)) / 4, val);
		return;	/* partial BAR writes are ignored, as on bhyve */
	}
	if (coff >= PCIR_ROM && coff < PCIR_ROM + 4) {
		if (bytes == 4)
			rom_write(pi, val);
		return;
	}
	if (coff <= PCIR_COMMAND + 1 && coff + bytes > PCIR_COMMAND) {
		/* Merge whichever command bytes this write covers (0x04 and/or 0x05). */
		uint16_t cmd = pci_get_cfgdata16(pi, PCIR_COMMAND);

		for (int i = 0; i < bytes; i++) {
			int off = coff + i;

			if (off == PCIR_COMMAND || off == PCIR_COMMAND + 1) {
				int sh = 8 * (off - PCIR_COMMAND);

				cmd = (uint16_t)((cmd & ~(0xff << sh)) | (((val >> (8 * i)) & 0xff) << sh));
			}
		}
		command_write(pi, cmd);
		return;
	}
	if (coff < 0x40) {
		/* The rest of the header is read-only but for these. */
		for (int i = 0; i < bytes; i++) {
			int off = coff + i;

			if (off == 0x0c || off == 0x0d || off == PCIR_INTLINE)
				pi->pi_cfgdata[off] = (uint8_t)(val >> (8 * i));
		}
		return;
	}
	if (in_cap(pi->pi_msi.capoff, 14, coff) || in_cap(pi->pi_msix.capoff, 12, coff)) {
		cap_write(pi, coff, bytes, val);
		return;
	}
	if (pi->pi_capend && coff < pi->pi_capend)
		return;	/* other capabilities are read-only */
	for (int i = 0; i < bytes; i++)
		pi->pi_cfgdata[coff + i] = (uint8_t)(val >> (8 * i));
}

void pci_cfgrw(int in, int bus, int slot, int func, int coff, int bytes, uint32_t *val)
{
	struct pci_devinst *pi = pci_find(bus, slot, func);

	if (pi == NULL || coff < 0 || coff + bytes > PCI_CFG_SIZE || (coff & (bytes - 1))) {
		if (in)
			*val = bytes == 4 ? 0xffffffff : (1u << (bytes * 8)) - 1;
		return;
	}
	pthread_mutex_lock(&cfg_lock);
	if (in) {
		if (pi->pi_d->pe_cfgread == NULL || pi->pi_d->pe_cfgread(pi, coff, bytes, val) != 0) {
			*val = 0;
			for (int i = 0; i < bytes; i++)
				*val |= (uint32_t)pi->pi_cfgdata[coff + i] << (8 * i);
		}
	} else if (pi->pi_d->pe_cfgwrite == NULL || pi->pi_d->pe_cfgwrite(pi, coff, bytes, *val) != 0) {
		cfg_write(pi, coff, bytes, *val);
	}
	pthread_mutex_unlock(&cfg_lock);
}

static int pci_cf8_handler(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	(void)arg;
	(void)port;
	if (size != 4) {
		if (!write)
			*val = (1ULL << (size * 8)) - 1;
		return 0;
	}
	if (write)
		cf8_latch = (uint32_t)*val;
	else
		*val = cf8_latch;
	return 0;
}

static int pci_cfc_handler(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	uint32_t latch = cf8_latch, v = (uint32_t)*val;
	int coff = (int)((latch & 0xfc) | (port & 3));

	(void)arg;
	if (!(latch & 0x80000000u)) {
		if (!write)
			*val = (1ULL << (size * 8)) - 1;
		return 0;
	}
	pci_cfgrw(!write, (latch >> 16) & 0xff, (latch >> 11) & 0x1f, (latch >> 8) & 7,
	    coff, size, &v);
	if (!write)
		*val = v;
	return 0;
}

/* Where ECAM decodes: bhyve's 0xE0000000 unless the host bridge moves it
 * (hostbridge's Q35 personality, pci_ecam_move). 0 when off. */
static uint64_t ecam_base = PCI_ECAM_BASE;

uint64_t pci_ecam_base(void)
{
	return ecam_base;
}

static int pci_ecam_handler(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	uint64_t off = addr & (PCI_ECAM_SIZE - 1);	/* the window is size-aligned */
	uint32_t v = (uint32_t)*val;

	(void)arg;
	if (size > 4) {
		if (!write)
			*val = ~0ULL;
		return 0;
	}
	pci_cfgrw(!write, (int)(off >> 20) & 0xff, (int)(off >> 15) & 0x1f, (int)(off >> 12) & 7,
	    (int)(off & 0xfff), size, &v);
	if (!write)
		*val = v;
	return 0;
}

int pci_ecam_move(uint64_t base)
{
	struct io_range ecam = { .name = "pci-ecam", .base = base, .size = PCI_ECAM_SIZE,
	    .handler = pci_ecam_handler, .arg = NULL, .quiet = true };

	if (base % PCI_ECAM_SIZE != 0)
		return -1;
	if (base == ecam_base)
		return 0;
	if (ecam_base != 0)
		unregister_io(IO_MMIO, ecam_base);
	ecam_base = 0;
	if (base != 0 && register_io(IO_MMIO, &ecam) != 0)
		return -1;
	ecam_base = base;
	return 0;
}

/* ---- creating the configured devices ---- */

struct init_walk {
	struct vmctx *ctx;
	int bus, slot;
	int rc;
};

static int key_known(const char *key, const char *value, void *arg)
{
	const struct pci_devemu *pe = arg;

	(void)value;
	/* bootindex: firmware.c reads it, and says so when the device cannot boot. */
	if (strcmp(key, "device") == 0 || (strcmp(key, "bootindex") == 0 && pe->pe_bootdevs == NULL))
		return 0;
	for (const char *const *k = pe->pe_keys; *k != NULL; k++)
		if (strcmp(key, *k) == 0)
			return 0;
	warnx("%s: unknown option \"%s\"", pe->pe_emu, key);
	return -1;
}

static void init_func(const char *fname, void *arg)
{
	struct init_walk *w = arg;
	unsigned long f;
	char node[48], sname[40];
	const char *emul;
	const struct pci_devemu *pe;
	struct pci_devinst *pi;

	if (w->rc != 0)
		return;
	slot_name(sname, sizeof(sname), w->bus, w->slot, 0);
	if (parse_uint(fname, MAXFUNCS - 1, &f) != 0) {
		warnx("pci.%d.%d.%s: invalid function number", w->bus, w->slot, fname);
		w->rc = -1;
		return;
	}
	snprintf(node, sizeof(node), "pci.%d.%d.%lu", w->bus, w->slot, f);
	slot_name(sname, sizeof(sname), w->bus, w->slot, (int)f);
	emul = get_config_value_node(node, "device");
	if (emul == NULL) {
		warnx("pci slot %s: no device configured (%s.device)", sname, node);
		w->rc = -1;
		return;
	}
	pe = pci_emul_finddev(emul);
	if (pe == NULL) {
		warnx("pci slot %s: unknown device \"%s\"", sname, emul);
		w->rc = -1;
		return;
	}
	if (pe->pe_keys != NULL && config_foreach_key(node, key_known, (void *)pe) != 0) {
		w->rc = -1;
		return;
	}
	pi = xcalloc(1, sizeof(*pi));
	pi->pi_d = pe;
	pi->pi_vmctx = w->ctx;
	pi->pi_bus = (uint8_t)w->bus;
	pi->pi_slot = (uint8_t)w->slot;
	pi->pi_func = (uint8_t)f;
	pthread_mutex_init(&pi->pi_lock, NULL);
	snprintf(pi->pi_name, sizeof(pi->pi_name), "%s-pci-%d", pe->pe_emu, w->slot);
	pci_set_cfgdata8(pi, PCIR_INTLINE, 255);
	devs[w->bus][w->slot][f] = pi;
	if (pe->pe_init(pi, node) != 0) {
		/* The device printed why. */
		w->rc = -1;
	}
}

static void init_slot(const char *sname, void *arg)
{
	struct init_walk *w = arg;
	unsigned long s;
	char node[32];

	if (w->rc != 0)
		return;
	if (parse_uint(sname, MAXSLOTS - 1, &s) != 0) {
		warnx("pci.%d.%s: invalid slot number", w->bus, sname);
		w->rc = -1;
		return;
	}
	w->slot = (int)s;
	snprintf(node, sizeof(node), "pci.%d.%lu", w->bus, s);
	config_foreach_child(node, init_func, w);
}

static void init_bus(const char *bname, void *arg)
{
	struct init_walk *w = arg;
	unsigned long b;
	char node[32];

	if (w->rc != 0)
		return;
	if (parse_uint(bname, MAXBUSES - 1, &b) != 0) {
		warnx("pci.%s: invalid bus number", bname);
		w->rc = -1;
		return;
	}
	if (b != 0) {
		/* One root bridge (bus 0) and no PCI-to-PCI bridges: a guest never
		 * reaches another bus, and its devices would be there unseen. */
		warnx("pci.%lu: bus %lu is unreachable: no bridge leads to a bus other than 0",
		    b, b);
		w->rc = -1;
		return;
	}
	w->bus = (int)b;
	snprintf(node, sizeof(node), "pci.%lu", b);
	config_foreach_child(node, init_slot, w);
}

int init_pci(struct vmctx *ctx)
{
	struct init_walk w = { .ctx = ctx };
	struct io_range cf8 = { .name = "pci-cf8", .base = 0xcf8, .size = 1, .handler = pci_cf8_handler, .arg = NULL, .wider = true };
	struct io_range cfc = { .name = "pci-cfc", .base = 0xcfc, .size = 4, .handler = pci_cfc_handler, .arg = NULL };
	struct io_range ecam = { .name = "pci-ecam", .base = PCI_ECAM_BASE, .size = PCI_ECAM_SIZE, .handler = pci_ecam_handler, .arg = NULL };

	ecam_base = PCI_ECAM_BASE;

	mem64_next = ROUNDUP(VM_HIGHMEM_BASE + vm_get_highmem_size(ctx), PCI_MEMSIZE64);
	mem64_limit = mem64_next + PCI_MEMSIZE64;
	if (register_io(IO_PORT, &cf8) != 0 || register_io(IO_PORT, &cfc) != 0 ||
	    register_io(IO_MMIO, &ecam) != 0)
		return -1;
	pci_irq_init(ctx);
	config_foreach_child("pci", init_bus, &w);
	if (w.rc != 0)
		return -1;
	/* A guest looks for functions 1-7 only where function 0 answers. */
	for (int b = 0; b < MAXBUSES; b++)
		for (int s = 0; s < MAXSLOTS; s++)
			for (int f = 1; f < MAXFUNCS; f++)
				if (devs[b][s][0] == NULL && devs[b][s][f] != NULL) {
					char sname[40];

					slot_name(sname, sizeof(sname), b, s, f);
					warnx("pci slot %s: function 0 of the slot is empty, so a "
					    "guest would never see function %d", sname, f);
					return -1;
				}
	/* Function 0 of a slot with more functions says so in its header type. */
	for (int b = 0; b < MAXBUSES; b++)
		for (int s = 0; s < MAXSLOTS; s++)
			for (int f = 1; f < MAXFUNCS; f++)
				if (devs[b][s][0] && devs[b][s][f])
					devs[b][s][0]->pi_cfgdata[PCIR_HDRTYPE] |= PCIM_MFDEV;
	return 0;
}

/* ---- INTx ---- */

void pci_lintr_request(struct pci_devinst *pi)
{
	/* A fixed swizzle, so the firmware's _PRT can be computed from the slot. */
	pi->pi_lintr.pin = 1 + pi->pi_func % 4;
	pi->pi_lintr.pirq_pin = pirq_alloc_pin(pi);
	pi->pi_lintr.ioapic_irq = ioapic_pci_alloc_irq(pi);
	pci_set_cfgdata8(pi, PCIR_INTPIN, (uint8_t)pi->pi_lintr.pin);
	pci_set_cfgdata8(pi, PCIR_INTLINE, (uint8_t)pirq_irq(pi->pi_lintr.pirq_pin));
}

void pci_lintr_assert(struct pci_devinst *pi)
{
	pthread_mutex_lock(&pi->pi_lock);
	if (pi->pi_lintr.pin && !pi->pi_lintr.asserted) {
		pi->pi_lintr.asserted = true;
		pci_set_cfgdata16(pi, PCIR_STATUS, pci_get_cfgdata16(pi, PCIR_STATUS) | PCIM_STATUS_INTxSTATE);
		if (!(pci_get_cfgdata16(pi, PCIR_COMMAND) & PCIM_CMD_INTxDIS))
			pci_irq_assert(pi);
	}
	pthread_mutex_unlock(&pi->pi_lock);
}

void pci_lintr_deassert(struct pci_devinst *pi)
{
	pthread_mutex_lock(&pi->pi_lock);
	if (pi->pi_lintr.pin && pi->pi_lintr.asserted) {
		pi->pi_lintr.asserted = false;
		pci_set_cfgdata16(pi, PCIR_STATUS, pci_get_cfgdata16(pi, PCIR_STATUS) & ~PCIM_STATUS_INTxSTATE);
		if (!(pci_get_cfgdata16(pi, PCIR_COMMAND) & PCIM_CMD_INTxDIS))
			pci_irq_deassert(pi);
	}
	pthread_mutex_unlock(&pi->pi_lock);
}
