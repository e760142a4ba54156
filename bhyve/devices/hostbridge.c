/* hostbridge / amd_hostbridge: the host-PCI bridge at 00:00.0.
 *
 * With Intel's Q35 IDs (vendor=0x8086,devid=0x29c0) at 00:00.0 it also has the
 * one MCH register QEMU's OVMF programs and then relies on: PCIEXBAR (0x60,
 * 0x64), which places ECAM. It starts at 0xB0000000, where OVMF puts it (and
 * where the ACPI MCFG says it is), enabled, 256 buses; a write moves or
 * disables the window. RAM below 4 GiB must then end at or below that. */
#include <string.h>

#include "config.h"
#include "fwcfg.h"
#include "pci_emul.h"
#include "vmmapi.h"

#define Q35_VENDOR		0x8086
#define Q35_DEVICE		0x29c0
#define MCH_PCIEXBAR		0x60	/* and its high half at 0x64 */
#define PCIEXBAR_EN		0x1
#define Q35_ECAM_BASE		0xb0000000u

static bool is_q35(struct pci_devinst *pi)
{
	return pi->pi_bus == 0 && pi->pi_slot == 0 && pi->pi_func == 0 &&
	    pci_get_cfgdata16(pi, PCIR_VENDOR) == Q35_VENDOR &&
	    pci_get_cfgdata16(pi, PCIR_DEVICE) == Q35_DEVICE;
}

static int pci_hostbridge_cfgwrite(struct pci_devinst *pi, int off, int bytes, uint32_t val)
{
	uint64_t base;
	bool en;

	if (!is_q35(pi) || off + bytes <= MCH_PCIEXBAR || off >= MCH_PCIEXBAR + 8)
		return 1;	/* plain config space */
	for (int i = 0; i < bytes; i++)
		if (off + i >= MCH_PCIEXBAR && off + i < MCH_PCIEXBAR + 8)
			pi->pi_cfgdata[off + i] = (uint8_t)(val >> (8 * i));
	en = pci_get_cfgdata32(pi, MCH_PCIEXBAR) & PCIEXBAR_EN;
	/* 256 MiB aligned, below 1 TiB: the bits a 256-bus PCIEXBAR keeps. */
	base = ((uint64_t)pci_get_cfgdata32(pi, MCH_PCIEXBAR + 4) << 32 |
	    pci_get_cfgdata32(pi, MCH_PCIEXBAR)) & 0xfff0000000ULL;
	pci_set_cfgdata32(pi, MCH_PCIEXBAR, (uint32_t)base | (en ? PCIEXBAR_EN : 0));
	pci_set_cfgdata32(pi, MCH_PCIEXBAR + 4, (uint32_t)(base >> 32));
	if (pci_ecam_move(en ? base : 0) != 0)
		warnx("hostbridge: PCIEXBAR 0x%llx overlaps another range; ECAM is off",
		    (unsigned long long)base);
	return 0;
}

static int q35_init(struct pci_devinst *pi)
{
	uint64_t low = vm_get_lowmem_size(pi->pi_vmctx);

	if (low > Q35_ECAM_BASE) {
		warnx("hostbridge: the Q35 IDs put ECAM at 0x%x, but RAM below 4 GiB ends at "
		    "0x%llx: use -m %uM or less", Q35_ECAM_BASE, (unsigned long long)low,
		    Q35_ECAM_BASE >> 20);
		return -1;
	}
	if (pci_ecam_move(Q35_ECAM_BASE) != 0) {
		warnx("hostbridge: cannot place ECAM at 0x%x", Q35_ECAM_BASE);
		return -1;
	}
	pci_set_cfgdata32(pi, MCH_PCIEXBAR, Q35_ECAM_BASE | PCIEXBAR_EN);
	pci_set_cfgdata32(pi, MCH_PCIEXBAR + 4, 0);
	return 0;
}

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
	if (is_q35(pi) && q35_init(pi) != 0)
		return -1;
	return pci_emul_add_pciecap(pi, 0x4);		/* root port, as bhyve's */
}

static int pci_amd_hostbridge_legacy_config(const char *node, const char *opts)
{
	set_config_value_node(node, "vendor", "0x1022");
	set_config_value_node(node, "devid", "0x7432");
	return pci_generic_legacy_config(node, opts);	/* vendor=/devid= still win */
}

static const char *const hostbridge_keys[] = { "vendor", "devid", NULL };

static const struct pci_devemu pci_de_hostbridge = {
	.pe_emu = "hostbridge",
	.pe_keys = hostbridge_keys,
	.pe_init = pci_hostbridge_init,
	.pe_cfgwrite = pci_hostbridge_cfgwrite,
};
PCI_EMUL_SET(pci_de_hostbridge);

/* As in bhyve, amd_hostbridge is hostbridge with AMD's IDs. */
static const struct pci_devemu pci_de_amd_hostbridge = {
	.pe_emu = "amd_hostbridge",
	.pe_legacy_config = pci_amd_hostbridge_legacy_config,
	.pe_alias = "hostbridge",
	.pe_keys = hostbridge_keys,
	.pe_init = pci_hostbridge_init,
	.pe_cfgwrite = pci_hostbridge_cfgwrite,
};
PCI_EMUL_SET(pci_de_amd_hostbridge);
