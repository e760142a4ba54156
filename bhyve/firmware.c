/* The guest's firmware interface, chosen with -l bootrom,...,fwcfg=: QEMU's
 * fw_cfg (the default; what Debian's SeaBIOS and OVMF read) carrying the ACPI
 * tables, SMBIOS, the e820 map, the serial console port and -f files; or
 * bhyve's own fwctl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bootrom.h"
#include "config.h"
#include "firmware.h"
#include "fwcfg.h"
#include "fwctl.h"
#include "mptable.h"
#include "options.h"
#include "pci_emul.h"
#include "util.h"

#define COM1_PORT	0x3f8

static int user_files(void)
{
	size_t n;
	const char *const *specs = bhyve_fwcfg_user_files(&n);

	for (size_t i = 0; i < n; i++)
		if (fwcfg_add_user_file(specs[i]) != 0)
			return -1;
	return 0;
}

struct boot_entry {
	unsigned long index;
	char path[64];
};

struct boot_list {
	struct boot_entry e[64];
	size_t n;
	const char *node;
	char prefix[32];		/* "/pci@i0cf8/NAME@S[,F]" */
};

static int boot_entry_cmp(const void *a, const void *b)
{
	const struct boot_entry *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

/* One boot device: its bootindex value and its path below the function. */
static int boot_add(void *arg, const char *index, const char *suffix)
{
	struct boot_list *l = arg;

	if (l->n == nitems(l->e) || parse_uint(index, 0xffff, &l->e[l->n].index) != 0) {
		warnx("%s.bootindex: invalid \"%s\"", l->node, index);
		return -1;
	}
	snprintf(l->e[l->n].path, sizeof(l->e[l->n].path), "%s%s", l->prefix, suffix);
	l->n++;
	return 0;
}

/* A boot device behind a function that cannot boot (off bus 0). */
static int boot_refuse(void *arg, const char *index, const char *suffix)
{
	struct boot_list *l = arg;

	(void)index;
	(void)suffix;
	warnx("%s: a port cannot be a boot device on a bus other than 0", l->node);
	return -1;
}

int firmware_bootorder(char *buf, size_t len)
{
	static struct boot_list l;
	size_t used = 0, n;
	struct boot_entry *e = l.e;

	l.n = 0;
	buf[0] = '\0';
	for (int b = 0; b < MAXBUSES; b++) {
		for (int s = 0; s < MAXSLOTS; s++) {
			for (int f = 0; f < MAXFUNCS; f++) {
				struct pci_devinst *pi = pci_find(b, s, f);
				const struct pci_devemu *pe;
				char node[48];
				const char *v;

				if (pi == NULL)
					continue;
				pe = pi->pi_d;
				snprintf(node, sizeof(node), "pci.%d.%d.%d", b, s, f);
				l.node = node;
				/* SeaBIOS finds a device here by its slot and function: it
				 * takes any name before the "@". */
				if (f == 0)
					snprintf(l.prefix, sizeof(l.prefix), "/pci@i0cf8/%s@%x",
					    pe->pe_fwname ? pe->pe_fwname : "", s);
				else
					snprintf(l.prefix, sizeof(l.prefix), "/pci@i0cf8/%s@%x,%x",
					    pe->pe_fwname ? pe->pe_fwname : "", s, f);
				if (pe->pe_bootdevs != NULL) {
					if (pe->pe_bootdevs(pi, node, pe->pe_fwname != NULL && b == 0 ?
					    boot_add : boot_refuse, &l) != 0)
						return -1;
					continue;
				}
				v = get_config_value_node(node, "bootindex");
				if (v == NULL)
					continue;
				if (pe->pe_fwname == NULL || b != 0) {
					warnx("%s: %s cannot be a boot device%s", node, pe->pe_emu,
					    b != 0 ? " on a bus other than 0" : "");
					return -1;
				}
				if (boot_add(&l, v, "") != 0)
					return -1;
			}
		}
	}
	n = l.n;
	qsort(e, n, sizeof(e[0]), boot_entry_cmp);
	/* As QEMU writes it: one path a line, no newline after the last, and the
	 * terminating NUL counted in the file. */
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i ? "\n" : "", e[i].path);

		if (w < 0 || (size_t)w >= len - used) {
			warnx("bootorder: too many boot devices");
			return -1;
		}
		used += (size_t)w;
	}
	return n ? (int)used + 1 : 0;
}

int firmware_init(struct vmctx *ctx, const struct bhyve_params *p)
{
	size_t nfiles;
	uint16_t sercon = COM1_PORT;
	char order[64 * 64];
	int olen;

	/* The MP table goes at 0xF0000 only where that is the VMM's RAM: a BIOS
	 * image copied there (fwcfg=qemu) builds its own, as SeaBIOS does. */
	if (config_bool("x86.mptable", true) && !bootrom_in_legacy_area() &&
	    mptable_build(ctx, p) != 0)
		return -1;
	if (!fwcfg_mode_qemu()) {
		bhyve_fwcfg_user_files(&nfiles);
		if (nfiles > 0) {
			warnx("-f needs QEMU's fw_cfg (lpc.fwcfg=qemu), not fwcfg=bhyve");
			return -1;
		}
		/* bhyve's own firmware finds the tables in memory, as on FreeBSD. */
		if (config_bool("acpi_tables", true) && !bootrom_in_legacy_area() &&
		    (acpi_build(ctx, p) != 0 || acpi_install_memory(ctx) != 0))
			return -1;
		return fwctl_init(p->ncpus);
	}
	if (fwcfg_init(ctx, p->ncpus) != 0 || e820_install_fwcfg(ctx) != 0 ||
	    smbios_build(ctx, p) != 0 || smbios_install_fwcfg() != 0)
		return -1;
	/* Without a boot ROM (a VM a loader started) no firmware reads fw_cfg:
	 * the operating system finds the tables in memory. */
	if (config_bool("acpi_tables", true) &&
	    (acpi_build(ctx, p) != 0 || acpi_install_fwcfg() != 0 ||
	     (get_config_value("lpc.bootrom") == NULL && acpi_install_memory(ctx) != 0)))
		return -1;
	/* No display exists yet, so SeaBIOS shows its screen on COM1. */
	if (get_config_value("lpc.com1.path") != NULL &&
	    fwcfg_add_file("etc/sercon-port", &sercon, sizeof(sercon)) != 0)
		return -1;
	/* The devices' bootindex= values, in order (SeaBIOS's and OVMF's "bootorder"). */
	olen = firmware_bootorder(order, sizeof(order));
	if (olen < 0 || (olen > 0 && fwcfg_add_file("bootorder", order, (size_t)olen) != 0))
		return -1;
	return user_files();
}
