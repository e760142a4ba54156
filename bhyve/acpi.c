/* The ACPI tables of bhyve's platform, built in binary at start-up: RSDP,
 * RSDT, XSDT, FADT, FACS, MADT, HPET, MCFG, SPCR (when COM1 exists) and a
 * DSDT encoded with aml.c.
 *
 * Every pointer between tables holds the offset of its target inside the
 * fw_cfg file that target lives in ("etc/acpi/tables"), as QEMU's table
 * loader expects: the firmware allocates the files, adds each file's base to
 * the pointers the loader script names and recomputes the checksums. The
 * checksums here are right for the blobs as they are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aml.h"
#include "config.h"
#include "firmware.h"
#include "fwcfg.h"
#include "devices/lpc.h"
#include "pci_emul.h"
#include "util.h"
#include "vmmapi.h"
#include "x86_topology.h"

/* The platform (ARCHITECTURE.md, "bhyve's guest platform"; devices/pm.c). */
#define PM1A_EVT_BLK	0x400
#define PM1A_CNT_BLK	0x404
#define PM_TMR_BLK	0x408
#define GPE0_BLK	0x40c
#define PM_IO_LEN	0x10
#define SCI_IRQ		9
#define SMI_CMD		0xb2
#define ACPI_ENABLE	0xa0
#define ACPI_DISABLE	0xa1
#define RESET_PORT	0xcf9
#define RESET_VALUE	6
#define S5_SLP_TYP	5
#define RTC_CENTURY	0x32
#define LAPIC_BASE	0xfee00000u
#define IOAPIC_BASE	0xfec00000u
#define HPET_BASE	0xfed00000u
#define HPET_LEN	0x400
/* Where bhyve writes the tables into guest memory itself (bhyve's address). */
#define ACPI_MEM_BASE	0xf2400u
#define ACPI_MEM_END	0x100000u
#define HPET_BLOCK_ID	0x8086a201u	/* what bhyve's HPET reports in its capabilities */

#define OEM_ID		"BHYVE "
#define CREATOR_ID	"BHYV"
#define OEM_REVISION	1
#define CREATOR_REVISION 1

/* ACPI layout facts. */
#define HDR_LEN		36
#define HDR_CHECKSUM	9
#define RSDP_LEN	36
#define RSDP_V1_LEN	20
#define FADT_LEN	276	/* revision 6 */
#define FACS_LEN	64
#define GAS_MEM		0
#define GAS_IO		1
#define ACCESS_BYTE	1
#define ACCESS_WORD	2
#define ACCESS_DWORD	3

/* FADT flags and IA-PC boot architecture flags. */
#define FADT_WBINVD	(1u << 0)
#define FADT_PROC_C1	(1u << 2)
#define FADT_SLP_BUTTON	(1u << 5)	/* no fixed-feature sleep button */
#define FADT_RTC_S4	(1u << 7)
#define FADT_RESET_REG_SUP (1u << 10)
#define BOOT_LEGACY_DEVICES (1u << 0)
#define BOOT_8042	(1u << 1)

/* MADT structure types and flags. */
#define MADT_LAPIC	0
#define MADT_IOAPIC	1
#define MADT_ISO	2
#define MADT_LAPIC_NMI	4
#define MADT_X2APIC	9
#define MADT_X2APIC_NMI	10
#define MADT_PCAT_COMPAT 1
#define MADT_ENABLED	1
#define MPS_POLARITY_HIGH 0x1
#define MPS_TRIGGER_LEVEL 0xc

/* QEMU's table loader (etc/table-loader): 128-byte commands. */
#define LOADER_ALLOCATE	1
#define LOADER_ADD_POINTER 2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ENTRY	128
#define LOADER_FILESZ	56
#define LOADER_ZONE_HIGH 1
#define LOADER_ZONE_FSEG 2
#define FILE_RSDP	"etc/acpi/rsdp"
#define FILE_TABLES	"etc/acpi/tables"
#define FILE_LOADER	"etc/table-loader"

enum { T_RSDP, T_FACS, T_DSDT, T_FADT, T_MADT, T_HPET, T_MCFG, T_SPCR, T_RSDT, T_XSDT, T_MAX };

/* The tables as built, indexed by T_*; absent ones have no data. */
static struct fw_blob tab[T_MAX];
/* Where each table sits in etc/acpi/tables (the RSDP is a file of its own). */
static uint32_t file_off[T_MAX];
/* The tables in acpi_tables() order: RSDP first. */
static struct fw_blob listed[T_MAX];
static size_t nlisted;

/* A pointer field: size bytes at off inside table "from" point to table "to". */
struct acpi_ptr {
	int from, to;
	uint32_t off;
	uint8_t size;
};
static struct acpi_ptr ptrs[32];
static size_t nptrs;

/* etc/acpi/rsdp, etc/acpi/tables and etc/table-loader, as last built. */
static struct fw_blob files[3];

static void w8(uint8_t *p, uint32_t off, uint8_t v)
{
	p[off] = v;
}

static void w16(uint8_t *p, uint32_t off, uint16_t v)
{
	le_put(p + off, v, 2);
}

static void w32(uint8_t *p, uint32_t off, uint32_t v)
{
	le_put(p + off, v, 4);
}

static void w64(uint8_t *p, uint32_t off, uint64_t v)
{
	le_put(p + off, v, 8);
}

/* A Generic Address Structure. */
static void gas(uint8_t *p, uint32_t off, uint8_t space, uint8_t bits, uint8_t access, uint64_t addr)
{
	w8(p, off, space);
	w8(p, off + 1, bits);
	w8(p, off + 2, 0);
	w8(p, off + 3, access);
	w64(p, off + 4, addr);
}

/* A zeroed table of len bytes with its header filled in (but for the checksum). */
static uint8_t *table_new(int t, const char *sig, size_t len, uint8_t rev, const char *oem_table)
{
	uint8_t *p = xcalloc(1, len);

	memcpy(p, sig, 4);
	w32(p, 4, (uint32_t)len);
	w8(p, 8, rev);
	memcpy(p + 10, OEM_ID, 6);
	memcpy(p + 16, oem_table, 8);
	w32(p, 24, OEM_REVISION);
	memcpy(p + 28, CREATOR_ID, 4);
	w32(p, 32, CREATOR_REVISION);
	snprintf(tab[t].name, sizeof(tab[t].name), "%.4s", sig);
	tab[t].data = p;
	tab[t].len = len;
	return p;
}

/* Trims a table built in a generous buffer to the length used. */
static void table_trim(int t, size_t len)
{
	tab[t].len = len;
	w32(tab[t].data, 4, (uint32_t)len);
}

static int add_ptr(int from, uint32_t off, uint8_t size, int to)
{
	if (nptrs == nitems(ptrs))
		return -1;
	ptrs[nptrs++] = (struct acpi_ptr){ .from = from, .to = to, .off = off, .size = size };
	return 0;
}

/* The APIC ID KVM gives vCPU id: see lib/vmmapi/x86_topology.h. */
static uint32_t apic_id(const struct bhyve_params *p, int id)
{
	return topo_apic_id(p->cores > 0 ? p->cores : 1, p->threads > 0 ? p->threads : 1, id);
}

static bool com_configured(int n)
{
	char key[32];

	snprintf(key, sizeof(key), "lpc.com%d.path", n);
	return get_config_value(key) != NULL;
}

static void build_facs(void)
{
	uint8_t *p = table_new(T_FACS, "FACS", FACS_LEN, 0, "        ");

	/* FACS has the signature and length of a header, then its own fields. */
	memset(p + 8, 0, FACS_LEN - 8);
	w8(p, 32, 2);			/* version */
}

static int build_fadt(void)
{
	uint8_t *p = table_new(T_FADT, "FACP", FADT_LEN, 6, "BVFACP  ");

	w8(p, 45, 0);			/* preferred PM profile: unspecified */
	w16(p, 46, SCI_IRQ);
	w32(p, 48, SMI_CMD);
	w8(p, 52, ACPI_ENABLE);
	w8(p, 53, ACPI_DISABLE);
	w32(p, 56, PM1A_EVT_BLK);
	w32(p, 64, PM1A_CNT_BLK);
	w32(p, 76, PM_TMR_BLK);
	w32(p, 80, GPE0_BLK);
	w8(p, 88, 4);			/* PM1_EVT_LEN */
	w8(p, 89, 2);			/* PM1_CNT_LEN */
	w8(p, 91, 4);			/* PM_TMR_LEN */
	w8(p, 92, 4);			/* GPE0_BLK_LEN */
	w16(p, 96, 101);		/* P_LVL2_LAT > 100: no C2 */
	w16(p, 98, 1001);		/* P_LVL3_LAT > 1000: no C3 */
	w8(p, 108, RTC_CENTURY);
	w16(p, 109, BOOT_LEGACY_DEVICES | BOOT_8042);
	/* TMR_VAL_EXT clear: the PM timer is 24 bits wide. */
	w32(p, 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RTC_S4 | FADT_RESET_REG_SUP);
	gas(p, 116, GAS_IO, 8, ACCESS_BYTE, RESET_PORT);
	w8(p, 128, RESET_VALUE);
	gas(p, 148, GAS_IO, 32, ACCESS_WORD, PM1A_EVT_BLK);
	gas(p, 172, GAS_IO, 16, ACCESS_WORD, PM1A_CNT_BLK);
	gas(p, 208, GAS_IO, 32, ACCESS_DWORD, PM_TMR_BLK);
	gas(p, 220, GAS_IO, 32, ACCESS_BYTE, GPE0_BLK);
	/* The FACS in FIRMWARE_CTRL only: at most one of it and X_FIRMWARE_CTRL
	 * may be nonzero. The DSDT in both its fields, which must then agree. */
	if (add_ptr(T_FADT, 36, 4, T_FACS) != 0 || add_ptr(T_FADT, 40, 4, T_DSDT) != 0 ||
	    add_ptr(T_FADT, 140, 8, T_DSDT) != 0)
		return -1;
	return 0;
}

static void madt_lapic(uint8_t *p, uint32_t *off, uint32_t uid, uint32_t id)
{
	if (id < 255 && uid < 255) {
		w8(p, *off, MADT_LAPIC);
		w8(p, *off + 1, 8);
		w8(p, *off + 2, (uint8_t)uid);
		w8(p, *off + 3, (uint8_t)id);
		w32(p, *off + 4, MADT_ENABLED);
		*off += 8;
	} else {
		w8(p, *off, MADT_X2APIC);
		w8(p, *off + 1, 16);
		w32(p, *off + 4, id);
		w32(p, *off + 8, MADT_ENABLED);
		w32(p, *off + 12, uid);
		*off += 16;
	}
}

static void madt_iso(uint8_t *p, uint32_t *off, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	w8(p, *off, MADT_ISO);
	w8(p, *off + 1, 10);
	w8(p, *off + 2, 0);		/* ISA */
	w8(p, *off + 3, irq);
	w32(p, *off + 4, gsi);
	w16(p, *off + 8, flags);
	*off += 10;
}

static void build_madt(const struct bhyve_params *p)
{
	size_t max = 44 + (size_t)p->ncpus * 16 + 12 + 2 * 10 + 6 + 12;
	uint8_t *t = table_new(T_MADT, "APIC", max, 4, "BVMADT  ");
	uint32_t off = 44, top = 0;
	bool x2 = false;

	w32(t, 36, LAPIC_BASE);
	w32(t, 40, MADT_PCAT_COMPAT);
	for (int i = 0; i < p->ncpus; i++) {
		uint32_t id = apic_id(p, i);

		madt_lapic(t, &off, (uint32_t)i, id);
		if (id >= top)
			top = id + 1;
		x2 |= id >= 255 || i >= 255;
	}
	/* The I/O APIC takes the first ID past the local APICs (they once shared a bus). */
	w8(t, off, MADT_IOAPIC);
	w8(t, off + 1, 12);
	w8(t, off + 2, (uint8_t)(top < 255 ? top : 0));
	w32(t, off + 4, IOAPIC_BASE);
	w32(t, off + 8, 0);		/* GSI base */
	off += 12;
	madt_iso(t, &off, 0, 2, 0);	/* the PIT's IRQ 0 arrives on pin 2, as ISA signals it */
	madt_iso(t, &off, SCI_IRQ, SCI_IRQ, MPS_POLARITY_HIGH | MPS_TRIGGER_LEVEL);
	/* NMI on LINT1 of every processor. */
	w8(t, off, MADT_LAPIC_NMI);
	w8(t, off + 1, 6);
	w8(t, off + 2, 0xff);
	w16(t, off + 3, 0);
	w8(t, off + 5, 1);
	off += 6;
	if (x2) {
		w8(t, off, MADT_X2APIC_NMI);
		w8(t, off + 1, 12);
		w16(t, off + 2, 0);
		w32(t, off + 4, 0xffffffffu);
		w8(t, off + 8, 1);
		off += 12;
	}
	table_trim(T_MADT, off);
}

static void build_hpet(void)
{
	uint8_t *p = table_new(T_HPET, "HPET", 56, 1, "BVHPET  ");

	w32(p, 36, HPET_BLOCK_ID);
	gas(p, 40, GAS_MEM, 0, 0, HPET_BASE);
	w8(p, 52, 0);			/* HPET number */
	w16(p, 53, 128);		/* minimum clock tick in periodic mode */
	w8(p, 55, 0);			/* no page protection */
}

static void build_mcfg(void)
{
	uint8_t *p = table_new(T_MCFG, "MCFG", 44 + 16, 1, "BVMCFG  ");

	w64(p, 44, pci_ecam_base());
	w16(p, 52, 0);			/* segment */
	w8(p, 54, 0);			/* buses 0 ... */
	w8(p, 55, (uint8_t)(PCI_ECAM_SIZE / (1 << 20) - 1));	/* ... 255 */
}

/* Microsoft's Serial Port Console Redirection table, revision 2: COM1. */
static void build_spcr(void)
{
	uint8_t *p = table_new(T_SPCR, "SPCR", 80, 2, "BVSPCR  ");

	w8(p, 36, 0);			/* full 16550 */
	gas(p, 40, GAS_IO, 8, ACCESS_BYTE, 0x3f8);
	w8(p, 52, 0x03);		/* PC-AT 8259 IRQ and I/O APIC GSI */
	w8(p, 53, 4);
	w32(p, 54, 4);
	w8(p, 58, 7);			/* 115200 baud */
	w8(p, 59, 0);			/* no parity */
	w8(p, 60, 1);			/* one stop bit */
	w8(p, 61, 0);			/* no flow control */
	w8(p, 62, 0);			/* VT100 */
	w16(p, 64, 0xffff);		/* not a PCI device */
	w16(p, 66, 0xffff);
}

/* RSDT (4-byte entries) or XSDT (8-byte entries) listing every table but
 * FACS and DSDT, which the FADT points to. */
static int build_sdt(int t, const char *sig, const char *oem_table, uint8_t width)
{
	static const int listed_in_sdt[] = { T_FADT, T_MADT, T_HPET, T_MCFG, T_SPCR };
	uint32_t off = HDR_LEN;

	table_new(t, sig, HDR_LEN + nitems(listed_in_sdt) * width, 1, oem_table);
	for (size_t i = 0; i < nitems(listed_in_sdt); i++) {
		if (tab[listed_in_sdt[i]].data == NULL)
			continue;
		if (add_ptr(t, off, width, listed_in_sdt[i]) != 0)
			return -1;
		off += width;
	}
	table_trim(t, off);
	return 0;
}

static int build_rsdp(void)
{
	uint8_t *p = xcalloc(1, RSDP_LEN);

	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, OEM_ID, 6);
	w8(p, 15, 2);			/* ACPI 2.0 and later: XSDT */
	w32(p, 20, RSDP_LEN);
	snprintf(tab[T_RSDP].name, sizeof(tab[T_RSDP].name), "RSDP");
	tab[T_RSDP].data = p;
	tab[T_RSDP].len = RSDP_LEN;
	if (add_ptr(T_RSDP, 16, 4, T_RSDT) != 0 || add_ptr(T_RSDP, 24, 8, T_XSDT) != 0)
		return -1;
	return 0;
}

/* ---- DSDT ---- */

static struct pci_devinst *find_lpc(void)
{
	for (int slot = 0; slot < MAXSLOTS; slot++)
		for (int func = 0; func < MAXFUNCS; func++) {
			struct pci_devinst *pi = pci_find(0, slot, func);

			if (pi != NULL && pi->pi_d != NULL && strcmp(pi->pi_d->pe_emu, "lpc") == 0)
				return pi;
		}
	return NULL;
}

static void dsdt_device_hid(struct aml *a, const char *name, const char *eisaid)
{
	aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_eisaid(a, eisaid);
}

/* The root bridge's windows: bus numbers, I/O around the 0xCF8 config ports,
 * the legacy VGA hole and the 32- and 64-bit BAR windows init_pci uses. */
static void dsdt_root_crs(struct aml *a, struct vmctx *ctx)
{
	uint64_t mem64 = ROUNDUP(VM_HIGHMEM_BASE + vm_get_highmem_size(ctx), PCI_MEMSIZE64);

	aml_name(a, "_CRS");
	aml_rt_begin(a);
	aml_word_bus(a, 0, MAXBUSES - 1);
	aml_io(a, 0xcf8, 8);
	aml_word_io(a, 0x0000, 0x0cf7);
	aml_word_io(a, 0x0d00, 0xffff);
	aml_dword_mem(a, 0x000a0000, 0x000bffff);
	aml_dword_mem(a, (uint32_t)PCI_MEMBASE32, (uint32_t)(PCI_MEMLIMIT32 - 1));
	aml_qword_mem(a, mem64, mem64 + PCI_MEMSIZE64 - 1);
	aml_end(a);
}

/* APIC-mode INTx routing: each populated bus-0 slot's four pins to their GSIs. */
static void dsdt_prt(struct aml *a)
{
	unsigned n = 0;

	for (int slot = 0; slot < MAXSLOTS; slot++)
		if (pci_find(0, slot, 0) != NULL)
			n += 4;
	aml_name(a, "_PRT");
	aml_package_begin(a, n);
	for (int slot = 0; slot < MAXSLOTS; slot++) {
		if (pci_find(0, slot, 0) == NULL)
			continue;
		for (int pin = 0; pin < 4; pin++) {
			aml_package_begin(a, 4);
			aml_int(a, (uint64_t)slot << 16 | 0xffff);
			aml_int(a, (uint64_t)pin);
			aml_int(a, 0);		/* no link device: the last field is a GSI */
			aml_int(a, (uint64_t)pci_intx_gsi(slot, pin + 1));
			aml_end(a);
		}
	}
	aml_end(a);
}

/* Legacy devices behind the lpc bridge. */
/* A legacy device behind the ISA bridge: I/O ranges and one IRQ. */
struct isa_dev {
	const char *name, *hid;
	struct { uint16_t port; uint8_t len; } io[3];
	uint8_t irq;
};

static void dsdt_isa_device(struct aml *a, const struct isa_dev *d, int uid)
{
	dsdt_device_hid(a, d->name, d->hid);
	if (uid > 0)
		aml_name_int(a, "_UID", (uint64_t)uid);
	aml_name(a, "_CRS");
	aml_rt_begin(a);
	for (size_t i = 0; i < nitems(d->io) && d->io[i].len != 0; i++)
		aml_io(a, d->io[i].port, d->io[i].len);
	aml_irq_noflags(a, d->irq);
	aml_end(a);
	aml_end(a);
}

static void dsdt_isa(struct aml *a, const struct pci_devinst *lpc)
{
	static const struct isa_dev com[] = {
		{ "COM1", "PNP0501", { { 0x3f8, 8 } }, 4 }, { "COM2", "PNP0501", { { 0x2f8, 8 } }, 3 },
		{ "COM3", "PNP0501", { { 0x3e8, 8 } }, 4 }, { "COM4", "PNP0501", { { 0x2e8, 8 } }, 3 },
	};
	static const struct isa_dev fixed[] = {
		{ "RTC", "PNP0B00", { { 0x70, 2 } }, 8 },
		{ "TIMR", "PNP0100", { { 0x40, 4 } }, 0 },
		/* The PIC, with its edge/level control registers. */
		{ "PIC", "PNP0000", { { 0x20, 2 }, { 0xa0, 2 }, { 0x4d0, 2 } }, 2 },
		{ "KBD", "PNP0303", { { 0x60, 1 }, { 0x64, 1 } }, 1 },
	};

	aml_device_begin(a, "ISA");
	aml_name_int(a, "_ADR", (uint64_t)lpc->pi_slot << 16 | lpc->pi_func);
	for (int i = 0; i < 4; i++)
		if (com_configured(i + 1))
			dsdt_isa_device(a, &com[i], i + 1);
	for (size_t i = 0; i < nitems(fixed); i++)
		dsdt_isa_device(a, &fixed[i], 0);
	aml_end(a);
}

static int build_dsdt(struct vmctx *ctx, const struct bhyve_params *p)
{
	const struct pci_devinst *lpc = lpc_bridge_present ? find_lpc() : NULL;
	struct aml a;
	char name[16];
	uint8_t *body;
	size_t len;
	uint8_t *t;

	aml_init(&a);
	aml_name(&a, "\\_S5");
	aml_package_begin(&a, 4);
	aml_int(&a, S5_SLP_TYP);	/* PM1a_CNT.SLP_TYP */
	aml_int(&a, S5_SLP_TYP);	/* PM1b (absent) */
	aml_int(&a, 0);
	aml_int(&a, 0);
	aml_end(&a);

	aml_scope_begin(&a, "\\_SB");
	/* Processor devices, their _UID matching the MADT's processor UIDs. */
	for (int i = 0; i < p->ncpus; i++) {
		snprintf(name, sizeof(name), "C%03X", (unsigned)i & 0xfff);
		aml_device_begin(&a, name);
		aml_name(&a, "_HID");
		aml_string(&a, "ACPI0007");
		aml_name_int(&a, "_UID", (uint64_t)i);
		aml_end(&a);
	}

	/* No _ADR beside the _HID: a device has one or the other. */
	dsdt_device_hid(&a, "PC00", "PNP0A03");
	aml_name_int(&a, "_BBN", 0);
	aml_name_int(&a, "_UID", 0);
	dsdt_root_crs(&a, ctx);
	dsdt_prt(&a);

	dsdt_device_hid(&a, "HPET", "PNP0103");
	aml_name(&a, "_CRS");
	aml_rt_begin(&a);
	aml_mem32_fixed(&a, false, HPET_BASE, HPET_LEN);
	aml_end(&a);
	aml_end(&a);

	/* Motherboard resources: the PM block, SMI_CMD and ECAM, so that guests
	 * neither place BARs there nor refuse MCFG as unreserved. 0xCF9 lies
	 * inside the root bridge's 0xCF8-0xCFF and is not listed again. */
	dsdt_device_hid(&a, "MRES", "PNP0C02");
	aml_name(&a, "_CRS");
	aml_rt_begin(&a);
	aml_io(&a, PM1A_EVT_BLK, PM_IO_LEN);
	aml_io(&a, SMI_CMD, 1);
	aml_mem32_fixed(&a, false, (uint32_t)pci_ecam_base(), (uint32_t)PCI_ECAM_SIZE);
	aml_end(&a);
	aml_end(&a);

	if (lpc != NULL)
		dsdt_isa(&a, lpc);
	aml_end(&a);		/* PC00 */
	aml_end(&a);		/* \_SB */

	if (aml_finish(&a, &body, &len) != 0) {
		warnx("acpi: the DSDT could not be encoded");
		return -1;
	}
	t = table_new(T_DSDT, "DSDT", HDR_LEN + len, 2, "BVDSDT  ");
	memcpy(t + HDR_LEN, body, len);
	free(body);
	return 0;
}

static void acpi_free(void)
{
	for (int t = 0; t < T_MAX; t++) {
		free(tab[t].data);
		memset(&tab[t], 0, sizeof(tab[t]));
	}
	nptrs = 0;
	nlisted = 0;
}

static uint32_t table_align(int t)
{
	return t == T_FACS ? 64 : 8;
}

/* Places the tables in etc/acpi/tables, fills every pointer with its target's
 * offset there plus base (0 for the fw_cfg files, whose pointers the firmware
 * completes; the guest address of the tables when bhyve writes them into guest
 * memory itself), and sets the checksums. */
static void acpi_link(uint64_t base)
{
	uint32_t off = 0;

	for (int t = T_RSDP + 1; t < T_MAX; t++) {
		if (tab[t].data == NULL)
			continue;
		off = ROUNDUP(off, table_align(t));
		file_off[t] = off;
		off += (uint32_t)tab[t].len;
	}
	for (size_t i = 0; i < nptrs; i++) {
		uint8_t *p = tab[ptrs[i].from].data;

		if (ptrs[i].size == 8)
			w64(p, ptrs[i].off, base + file_off[ptrs[i].to]);
		else
			w32(p, ptrs[i].off, (uint32_t)(base + file_off[ptrs[i].to]));
	}
	for (int t = T_RSDP + 1; t < T_MAX; t++) {
		if (tab[t].data == NULL || t == T_FACS)
			continue;
		tab[t].data[HDR_CHECKSUM] = 0;
		tab[t].data[HDR_CHECKSUM] = fw_checksum(tab[t].data, tab[t].len);
	}
	tab[T_RSDP].data[8] = 0;
	tab[T_RSDP].data[32] = 0;
	tab[T_RSDP].data[8] = fw_checksum(tab[T_RSDP].data, RSDP_V1_LEN);
	tab[T_RSDP].data[32] = fw_checksum(tab[T_RSDP].data, RSDP_LEN);
}

int acpi_build(struct vmctx *ctx, const struct bhyve_params *p)
{
	acpi_free();
	if (p->ncpus < 1) {
		warnx("acpi: no vCPUs");
		return -1;
	}
	build_facs();
	if (build_dsdt(ctx, p) != 0 || build_fadt() != 0)
		goto fail;
	build_madt(p);
	build_hpet();
	build_mcfg();
	if (com_configured(1))
		build_spcr();
	if (build_sdt(T_RSDT, "RSDT", "BVRSDT  ", 4) != 0 ||
	    build_sdt(T_XSDT, "XSDT", "BVXSDT  ", 8) != 0 || build_rsdp() != 0) {
		warnx("acpi: too many table pointers");
		goto fail;
	}
	acpi_link(0);
	for (int t = 0; t < T_MAX; t++)
		if (tab[t].data != NULL)
			listed[nlisted++] = tab[t];
	return 0;
fail:
	acpi_free();
	return -1;
}

const struct fw_blob *acpi_tables(size_t *n)
{
	*n = nlisted;
	return listed;
}

/* The tables in guest memory, as bhyve writes them for its own firmware and
 * for a guest a loader started: the RSDP at ACPI_MEM_BASE (inside the BIOS area
 * 0xE0000-0xFFFFF where an operating system looks for it), the other tables
 * after it. The fw_cfg blobs are left as they were. */
int acpi_install_memory(struct vmctx *ctx)
{
	const uint64_t tables = ACPI_MEM_BASE + ROUNDUP(RSDP_LEN, 64);
	uint64_t end = tables;
	uint8_t *mem;

	if (tab[T_RSDP].data == NULL) {
		warnx("acpi: no tables built");
		return -1;
	}
	for (int t = T_RSDP + 1; t < T_MAX; t++)
		if (tab[t].data != NULL && tables + file_off[t] + tab[t].len > end)
			end = tables + file_off[t] + tab[t].len;
	if (end > ACPI_MEM_END ||
	    (mem = vm_map_gpa(ctx, ACPI_MEM_BASE, (size_t)(end - ACPI_MEM_BASE))) == NULL) {
		warnx("acpi: the tables (%llu bytes) do not fit in guest RAM at 0x%x-0x%x",
		    (unsigned long long)(end - ACPI_MEM_BASE), ACPI_MEM_BASE, ACPI_MEM_END);
		return -1;
	}
	acpi_link(tables);
	memcpy(mem, tab[T_RSDP].data, tab[T_RSDP].len);
	for (int t = T_RSDP + 1; t < T_MAX; t++)
		if (tab[t].data != NULL)
			memcpy(mem + (tables - ACPI_MEM_BASE) + file_off[t], tab[t].data, tab[t].len);
	acpi_link(0);
	return 0;
}

/* ---- QEMU's table loader ---- */

static uint8_t *loader_cmd(struct fw_blob *ld, uint32_t command)
{
	uint8_t *e;

	ld->data = xrealloc(ld->data, ld->len + LOADER_ENTRY);
	e = ld->data + ld->len;
	memset(e, 0, LOADER_ENTRY);
	ld->len += LOADER_ENTRY;
	w32(e, 0, command);
	return e;
}

static const char *file_of(int t)
{
	return t == T_RSDP ? FILE_RSDP : FILE_TABLES;
}

static uint32_t offset_in_file(int t)
{
	return t == T_RSDP ? 0 : file_off[t];
}

static void loader_allocate(struct fw_blob *ld, const char *file, uint32_t align, uint8_t zone)
{
	uint8_t *e = loader_cmd(ld, LOADER_ALLOCATE);

	strncpy((char *)e + 4, file, LOADER_FILESZ - 1);
	w32(e, 60, align);
	w8(e, 64, zone);
}

static void loader_checksum(struct fw_blob *ld, const char *file, uint32_t result,
    uint32_t start, uint32_t len)
{
	uint8_t *e = loader_cmd(ld, LOADER_ADD_CHECKSUM);

	strncpy((char *)e + 4, file, LOADER_FILESZ - 1);
	w32(e, 60, result);
	w32(e, 64, start);
	w32(e, 68, len);
}

static void free_files(void)
{
	for (size_t i = 0; i < nitems(files); i++) {
		free(files[i].data);
		memset(&files[i], 0, sizeof(files[i]));
	}
}

static int build_files(void)
{
	struct fw_blob *rsdp = &files[0], *tables = &files[1], *ld = &files[2];
	size_t end = 0;

	if (nlisted == 0) {
		warnx("acpi: no tables built");
		return -1;
	}
	free_files();
	snprintf(rsdp->name, sizeof(rsdp->name), "rsdp");
	snprintf(tables->name, sizeof(tables->name), "tables");
	snprintf(ld->name, sizeof(ld->name), "table-loader");

	rsdp->len = tab[T_RSDP].len;
	rsdp->data = xmalloc(rsdp->len);
	memcpy(rsdp->data, tab[T_RSDP].data, rsdp->len);
	for (int t = T_RSDP + 1; t < T_MAX; t++)
		if (tab[t].data != NULL && file_off[t] + tab[t].len > end)
			end = file_off[t] + tab[t].len;
	tables->len = end;
	tables->data = xcalloc(1, end);
	for (int t = T_RSDP + 1; t < T_MAX; t++)
		if (tab[t].data != NULL)
			memcpy(tables->data + file_off[t], tab[t].data, tab[t].len);

	/* Allocations first, then pointers, then the checksums over patched data. */
	loader_allocate(ld, FILE_TABLES, 64, LOADER_ZONE_HIGH);
	loader_allocate(ld, FILE_RSDP, 16, LOADER_ZONE_FSEG);
	for (size_t i = 0; i < nptrs; i++) {
		uint8_t *e = loader_cmd(ld, LOADER_ADD_POINTER);

		strncpy((char *)e + 4, file_of(ptrs[i].from), LOADER_FILESZ - 1);
		strncpy((char *)e + 60, file_of(ptrs[i].to), LOADER_FILESZ - 1);
		w32(e, 116, offset_in_file(ptrs[i].from) + ptrs[i].off);
		w8(e, 120, ptrs[i].size);
	}
	for (int t = T_RSDP + 1; t < T_MAX; t++)
		if (tab[t].data != NULL && t != T_FACS)
			loader_checksum(ld, FILE_TABLES, file_off[t] + HDR_CHECKSUM, file_off[t],
			    (uint32_t)tab[t].len);
	loader_checksum(ld, FILE_RSDP, 8, 0, RSDP_V1_LEN);
	loader_checksum(ld, FILE_RSDP, 32, 0, RSDP_LEN);

	return 0;
}

int acpi_install_fwcfg(void)
{
	if (build_files() != 0)
		return -1;
	if (fwcfg_add_file(FILE_RSDP, files[0].data, files[0].len) != 0 ||
	    fwcfg_add_file(FILE_TABLES, files[1].data, files[1].len) != 0 ||
	    fwcfg_add_file(FILE_LOADER, files[2].data, files[2].len) != 0)
		return -1;
	return 0;
}

const struct fw_blob *acpi_fwcfg_files(size_t *n)
{
	*n = 0;
	if (build_files() != 0)
		return NULL;
	*n = nitems(files);
	return files;
}
