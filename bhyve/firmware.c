/* The guest's firmware interface, chosen with -l bootrom,...,fwcfg=: QEMU's
 * fw_cfg (the default; what Debian's SeaBIOS and OVMF read) carrying the ACPI
 * tables, SMBIOS, the e820 map, the serial console port and -f files; or
 * bhyve's own fwctl. */
#include <string.h>

#include "config.h"
#include "firmware.h"
#include "fwcfg.h"
#include "fwctl.h"
#include "options.h"
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

int firmware_init(struct vmctx *ctx, const struct bhyve_params *p)
{
	size_t nfiles;
	uint16_t sercon = COM1_PORT;

	if (!fwcfg_mode_qemu()) {
		bhyve_fwcfg_user_files(&nfiles);
		if (nfiles > 0) {
			warnx("-f needs QEMU's fw_cfg (lpc.fwcfg=qemu), not fwcfg=bhyve");
			return -1;
		}
		if (get_config_value("acpi_tables") != NULL && config_bool("acpi_tables", false)) {
			warnx("ACPI tables (-A) need QEMU's fw_cfg (lpc.fwcfg=qemu), not fwcfg=bhyve");
			return -1;
		}
		return fwctl_init(p->ncpus);
	}
	if (fwcfg_init(ctx, p->ncpus) != 0 || e820_install_fwcfg(ctx) != 0 ||
	    smbios_build(ctx, p) != 0 || smbios_install_fwcfg() != 0)
		return -1;
	if (config_bool("acpi_tables", true) &&
	    (acpi_build(ctx, p) != 0 || acpi_install_fwcfg() != 0))
		return -1;
	/* No display exists yet, so SeaBIOS shows its screen on COM1. */
	if (get_config_value("lpc.com1.path") != NULL &&
	    fwcfg_add_file("etc/sercon-port", &sercon, sizeof(sercon)) != 0)
		return -1;
	return user_files();
}
