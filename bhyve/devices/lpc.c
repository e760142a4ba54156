/* lpc: the PCI-ISA bridge (8086:7000) with PIRQ routing registers; -l devices
 * (COM ports, boot ROM) hang off it. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <ctype.h>

#include "config.h"
#include "lpc.h"
#include "pci_emul.h"
#include "pm.h"

/* ICH9-style power management registers, where Q35 firmware (OVMF) looks for
 * them: PMBASE (the PM block's I/O base, bit 0 hard-wired to 1 for I/O) and
 * ACPI_CNTL (bit 7 enables the block's decoding). The block starts at bhyve's
 * 0x400, decoding, so firmware that finds ACPI_EN set leaves it there. */
#define LPC_PMBASE	0x40
#define LPC_ACPI_CNTL	0x44
#define PMBASE_RTE	0x1
#define ACPI_CNTL_EN	0x80

SET_DECLARE(lpc_dev_set, struct lpc_dev);

int lpc_bridge_present;

/* Names -l accepts besides the registered devices. */
static const char *const lpc_builtin[] = { "bootrom" };

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* -l help: bootrom, then the devices by name (com1 to com4 in order, whatever
 * order the linker left the set in). */
void lpc_print_supported_devices(void)
{
	const char *names[16] = { NULL };
	struct lpc_dev **ldpp;
	size_t n = 0;

	for (size_t i = 0; i < nitems(lpc_builtin); i++)
		printf("%s\n", lpc_builtin[i]);
	SET_FOREACH(ldpp, lpc_dev_set)
		if (n < nitems(names))
			names[n++] = (*ldpp)->name;
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++)
		printf("%s\n", names[i]);
}

static const struct lpc_dev *lpc_find(const char *name)
{
	struct lpc_dev **ldpp;

	SET_FOREACH(ldpp, lpc_dev_set)
		if (strcasecmp((*ldpp)->name, name) == 0)
			return *ldpp;
	return NULL;
}

/* -l bootrom,ROM[,VARS][,key=value] and -l comN,path as bhyve(8) writes them. */
int lpc_device_parse(const char *opts)
{
	char *copy = xstrdup(opts), *s = copy, *name, *tok;
	bool vars_seen;
	int rc = -1;

	name = strsep(&s, ",");
	if (strcasecmp(name, "bootrom") == 0) {
		tok = strsep(&s, ",");
		if (tok == NULL || *tok == '\0') {
			warnx("-l bootrom: a ROM file is required");
			goto out;
		}
		/* A later -l bootrom replaces an earlier one whole. */
		set_config_value("lpc.bootrom", tok);
		unset_config_value("lpc.bootvars");
		unset_config_value("lpc.fwcfg");
		vars_seen = false;
		while ((tok = strsep(&s, ",")) != NULL) {
			char *eq = strchr(tok, '=');

			if (eq != NULL && strncmp(tok, "fwcfg=", 6) == 0) {
				set_config_value("lpc.fwcfg", eq + 1);
			} else if (eq != NULL) {
				*eq = '\0';
				warnx("-l bootrom: unknown option \"%s\"", tok);
				goto out;
			} else if (!vars_seen) {
				set_config_value("lpc.bootvars", tok);
				vars_seen = true;
			} else {
				warnx("-l bootrom: unexpected \"%s\"", tok);
				goto out;
			}
		}
		rc = 0;
	} else if (lpc_find(name) != NULL) {
		char node[32], lname[16];

		snprintf(lname, sizeof(lname), "%s", name);
		for (char *p = lname; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		snprintf(node, sizeof(node), "lpc.%s", lname);
		if (s == NULL || *s == '\0') {
			if (strncmp(lname, "com", 3) == 0)
				warnx("-l %s: a backend is required (stdio, /dev/nmdmNA or tcp=ip:port)", lname);
			else
				warnx("-l %s: a file is required", lname);
			goto out;
		}
		set_config_value_node(node, "path", s);
		rc = 0;
	} else {
		warnx("unknown lpc device \"%s\" (-l help lists them)", name);
	}
out:
	free(copy);
	return rc;
}

int lpc_init_devices(struct vmctx *ctx)
{
	struct lpc_dev **ldpp;

	SET_FOREACH(ldpp, lpc_dev_set) {
		char node[32];

		snprintf(node, sizeof(node), "lpc.%s", (*ldpp)->name);
		if (config_node_exists(node) && (*ldpp)->init(ctx, (*ldpp)->name, node) != 0)
			return -1;
	}
	return 0;
}

bool lpc_devices_configured(void)
{
	struct lpc_dev **ldpp;

	SET_FOREACH(ldpp, lpc_dev_set) {
		char node[32];

		snprintf(node, sizeof(node), "lpc.%s", (*ldpp)->name);
		if (config_node_exists(node))
			return true;
	}
	return false;
}

static int pirq_pin_of(int off)
{
	if (off >= 0x60 && off <= 0x63)
		return off - 0x60 + 1;
	if (off >= 0x68 && off <= 0x6b)
		return off - 0x68 + 5;
	return 0;
}

static bool pm_reg(int off, int bytes)
{
	return off < LPC_ACPI_CNTL + 1 && off + bytes > LPC_PMBASE;
}

static int pci_lpc_cfgwrite(struct pci_devinst *pi, int off, int bytes, uint32_t val)
{
	bool any = false;

	if (pm_reg(off, bytes)) {
		uint16_t base;

		for (int i = 0; i < bytes; i++)
			if (off + i >= LPC_PMBASE && off + i <= LPC_ACPI_CNTL)
				pi->pi_cfgdata[off + i] = (uint8_t)(val >> (8 * i));
		base = (uint16_t)((pci_get_cfgdata16(pi, LPC_PMBASE) & PM_BASE_MASK) | PMBASE_RTE);
		pci_set_cfgdata32(pi, LPC_PMBASE, base);
		pi->pi_cfgdata[LPC_ACPI_CNTL] &= ACPI_CNTL_EN;
		pm_set_base(base & PM_BASE_MASK, pi->pi_cfgdata[LPC_ACPI_CNTL] & ACPI_CNTL_EN);
		return 0;
	}

	for (int i = 0; i < bytes; i++) {
		int pin = pirq_pin_of(off + i);

		if (pin) {
			pirq_write(pi->pi_vmctx, pin, (uint8_t)(val >> (8 * i)));
			any = true;
		}
	}
	return any ? 0 : 1;
}

static int pci_lpc_cfgread(struct pci_devinst *pi, int off, int bytes, uint32_t *val)
{
	bool any = false;

	(void)pi;
	*val = 0;
	for (int i = 0; i < bytes; i++) {
		int pin = pirq_pin_of(off + i);

		if (pin)
			any = true;
		*val |= (uint32_t)(pin ? pirq_read(pin) : pi->pi_cfgdata[off + i]) << (8 * i);
	}
	return any ? 0 : 1;
}

static int pci_lpc_init(struct pci_devinst *pi, const char *node)
{
	(void)node;
	if (pi->pi_bus != 0) {
		warnx("lpc bridge must be on bus 0, not %d", pi->pi_bus);
		return -1;
	}
	if (lpc_bridge_present) {
		warnx("only one lpc bridge is allowed");
		return -1;
	}
	lpc_bridge_present = 1;
	pci_set_cfgdata16(pi, PCIR_VENDOR, 0x8086);
	pci_set_cfgdata16(pi, PCIR_DEVICE, 0x7000);
	pci_set_cfgdata8(pi, PCIR_CLASS, 0x06);		/* bridge */
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, 0x01);	/* ISA */
	pci_set_cfgdata32(pi, LPC_PMBASE, pm_get_base() | PMBASE_RTE);
	pci_set_cfgdata8(pi, LPC_ACPI_CNTL, ACPI_CNTL_EN);
	return lpc_init_devices(pi->pi_vmctx);
}

static const char *const lpc_keys[] = { NULL };	/* its devices are lpc.* */

static const struct pci_devemu pci_de_lpc = {
	.pe_emu = "lpc",
	.pe_keys = lpc_keys,
	.pe_init = pci_lpc_init,
	.pe_cfgwrite = pci_lpc_cfgwrite,
	.pe_cfgread = pci_lpc_cfgread,
};
PCI_EMUL_SET(pci_de_lpc);
