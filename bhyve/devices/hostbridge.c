/* hostbridge / amd_hostbridge: the host-PCI bridge at 00:00.0. */
#include <string.h>

#include "config.h"
#include "fwcfg.h"
#include "pci_emul.h"

static int parse_id(const char *node, const char *key, unsigned long def, uint16_t *out)
{
	const char *v = get_config_value_node(node, key);
	unsigned long id = def;

	if (v != NULL && parse_uint(v, 0xffff, &id) != 0) {
		warnx("%s.%s: invalid ID \"%s\"", node, key, v);
		return -1;
	}
	*out = (uint16_t)id;
	return 0;
}

static int pci_hostbridge_init(struct pci_devinst *pi, const char *node)
{
	bool amd = strcmp(pi->pi_d->pe_emu, "amd_hostbridge") == 0;
	uint16_t vendor, device;

	if (parse_id(node, "vendor", amd ? 0x1022 : 0x1275, &vendor) != 0 ||
	    parse_id(node, "devid", amd ? 0x7432 : 0x1275, &device) != 0)
		return -1;
	pci_set_cfgdata16(pi, PCIR_VENDOR, vendor);
	pci_set_cfgdata16(pi, PCIR_DEVICE, device);
	pci_set_cfgdata8(pi, PCIR_HDRTYPE, 0);
	pci_set_cfgdata8(pi, PCIR_CLASS, 0x06);		/* bridge */
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, 0x00);	/* host */
	/* QEMU's firmware (SeaBIOS) reads fw_cfg only on a machine whose 00:00.0
	 * carries QEMU's subsystem IDs; the device's own IDs stay bhyve's. */
	if (fwcfg_mode_qemu() && pi->pi_bus == 0 && pi->pi_slot == 0 && pi->pi_func == 0) {
		pci_set_cfgdata16(pi, PCIR_SUBVEND_0, 0x1af4);
		pci_set_cfgdata16(pi, PCIR_SUBDEV_0, 0x1100);
	}
	return pci_emul_add_pciecap(pi, 0x4);		/* root port, as bhyve's */
}

static int pci_amd_hostbridge_legacy_config(const char *node, const char *opts)
{
	set_config_value_node(node, "vendor", "0x1022");
	set_config_value_node(node, "devid", "0x7432");
	return pci_generic_legacy_config(node, opts);	/* vendor=/devid= still win */
}

static const struct pci_devemu pci_de_hostbridge = {
	.pe_emu = "hostbridge",
	.pe_init = pci_hostbridge_init,
};
PCI_EMUL_SET(pci_de_hostbridge);

/* As in bhyve, amd_hostbridge is hostbridge with AMD's IDs. */
static const struct pci_devemu pci_de_amd_hostbridge = {
	.pe_emu = "amd_hostbridge",
	.pe_legacy_config = pci_amd_hostbridge_legacy_config,
	.pe_alias = "hostbridge",
	.pe_init = pci_hostbridge_init,
};
PCI_EMUL_SET(pci_de_amd_hostbridge);
