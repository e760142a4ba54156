/* What the firmware tables describe: built once at start-up from the checked
 * configuration and the VM, then handed to the guest through fw_cfg (or, for
 * fwcfg=bhyve, written into guest memory where bhyve's own firmware looks). */
#ifndef FIRMWARE_H
#define FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"

struct vmctx;

/* One finished table or blob. */
struct fw_blob {
	char name[16];		/* "DSDT", "MADT" ... or a fw_cfg file name's tail */
	uint8_t *data;
	size_t len;
};

/* ACPI (acpi.c): RSDP, XSDT, RSDT, FADT, FACS, MADT, HPET, MCFG, SPCR, DSDT. */
int acpi_build(struct vmctx *ctx, const struct bhyve_params *p);
/* The built tables, RSDP first; valid after acpi_build. */
const struct fw_blob *acpi_tables(size_t *n);
/* etc/acpi/rsdp, etc/acpi/tables and etc/table-loader for SeaBIOS/OVMF: the
 * blobs (names are the files' tails; NULL before acpi_build), and installed. */
const struct fw_blob *acpi_fwcfg_files(size_t *n);
int acpi_install_fwcfg(void);
/* The built tables written into guest memory at 0xF2400 (RSDP first), for
 * bhyve's own firmware (fwcfg=bhyve) and for guests a loader started. */
int acpi_install_memory(struct vmctx *ctx);

/* SMBIOS (smbios.c): types 0, 1, 2, 3, 4 per socket, 16, 17, 19, 32, 127, strings from
 * the bios.*, system.*, board.*, chassis.* keys and uuid. */
int smbios_build(struct vmctx *ctx, const struct bhyve_params *p);
/* The entry point and the structure table; valid after smbios_build. */
const struct fw_blob *smbios_entry(void);
const struct fw_blob *smbios_table(void);
/* etc/smbios/smbios-anchor and etc/smbios/smbios-tables. */
int smbios_install_fwcfg(void);
/* Sets the entry point's table address and recomputes both checksums. */
void smbios_set_table_address(uint32_t addr);

/* The e820 map (e820.c) of bhyve's layout, as etc/e820 entries: up to max
 * packed 20-byte entries into buf; returns how many. */
size_t e820_build(struct vmctx *ctx, uint8_t *buf, size_t max);
int e820_install_fwcfg(struct vmctx *ctx);

/* Everything above, for the guest's firmware interface (lpc.fwcfg): fw_cfg
 * with the tables, the memory map and -f files, or bhyve's fwctl. */
int firmware_init(struct vmctx *ctx, const struct bhyve_params *p);
/* The "bootorder" file: one firmware device path per line for the PCI devices
 * with a bootindex=, lowest first, NUL-terminated; its length with the NUL (0
 * when no device has one), or -1 (one line printed) for a device that cannot
 * boot or a bad index. */
int firmware_bootorder(char *buf, size_t len);

#endif
