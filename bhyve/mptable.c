/* The Intel MultiProcessor Specification 1.4 table, as bhyve writes it: a
 * floating pointer at 0xF0000 and the configuration table after it, with one
 * processor entry per vCPU, the PCI and ISA buses, the I/O APIC, the ISA IRQs
 * and the PCI INTx lines as they reach the I/O APIC, and the local APICs'
 * LINT0/LINT1 wiring. Only written where the legacy BIOS area is RAM the VMM
 * owns (firmware.c decides); a QEMU-style BIOS copied there builds its own. */
#include <cpuid.h>
#include <string.h>

#include "config.h"
#include "mptable.h"
#include "pci_emul.h"
#include "util.h"
#include "vmmapi.h"
#include "x86_topology.h"

#define LAPIC_BASE	0xfee00000u
#define IOAPIC_BASE	0xfec00000u
#define LAPIC_VERSION	0x14	/* what KVM's local APIC reports */
#define IOAPIC_VERSION	0x11
#define SCI_IRQ		9
#define MP_SPEC_REV	4	/* 1.4 */

#define FP_LEN		16
#define HDR_LEN		44
#define PROC_LEN	20
#define SHORT_LEN	8	/* bus, I/O APIC, I/O and local interrupt entries */

enum { ENT_PROC, ENT_BUS, ENT_IOAPIC, ENT_IOINT, ENT_LINT };
enum { INT_INT, INT_NMI, INT_SMI, INT_EXTINT };

#define PROC_EN		0x01
#define PROC_BP		0x02
#define IOAPIC_EN	0x01
/* Interrupt flags: polarity in bits 1:0, trigger mode in bits 3:2. */
#define POL_HIGH	0x1
#define POL_LOW		0x3
#define TRIG_EDGE	(0x1 << 2)
#define TRIG_LEVEL	(0x3 << 2)

#define BUS_PCI		0
#define BUS_ISA		1

struct mp_writer {
	uint8_t *p;
	size_t off;
	uint16_t count;
};

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

static uint8_t *entry(struct mp_writer *w, size_t len)
{
	uint8_t *e = w->p + w->off;

	w->off += len;
	w->count++;
	return e;
}

static void io_int(struct mp_writer *w, int type, uint16_t flags, int bus, int irq,
    int apic, int pin)
{
	uint8_t *e = entry(w, SHORT_LEN);

	e[0] = ENT_IOINT;
	e[1] = (uint8_t)type;
	le_put(e + 2, flags, 2);
	e[4] = (uint8_t)bus;
	e[5] = (uint8_t)irq;
	e[6] = (uint8_t)apic;
	e[7] = (uint8_t)pin;
}

static void local_int(struct mp_writer *w, int type, int lint)
{
	uint8_t *e = entry(w, SHORT_LEN);

	e[0] = ENT_LINT;
	e[1] = (uint8_t)type;
	le_put(e + 2, 0, 2);		/* conforms to the bus */
	e[4] = BUS_ISA;
	e[5] = 0;
	e[6] = 0xff;			/* every local APIC */
	e[7] = (uint8_t)lint;
}

size_t mptable_size(int ncpus)
{
	/* Header, processors, 2 buses, the I/O APIC, 16 ISA lines (with ExtINT),
	 * 4 pins for each of 32 slots, 2 local interrupts; the pointer first. */
	return FP_LEN + HDR_LEN + (size_t)ncpus * PROC_LEN +
	    (2 + 1 + 16 + 4 * MAXSLOTS + 2) * SHORT_LEN;
}

int mptable_build(struct vmctx *ctx, const struct bhyve_params *p)
{
	int cores = p->cores > 0 ? p->cores : 1, threads = p->threads > 0 ? p->threads : 1;
	size_t max = mptable_size(p->ncpus);
	uint8_t *fp = vm_map_gpa(ctx, MPTABLE_BASE, max), *hdr, *e;
	struct mp_writer w;
	unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
	uint32_t top = 0;
	int ioapic;

	if (fp == NULL) {
		warnx("MP table: no guest RAM at 0x%x", MPTABLE_BASE);
		return -1;
	}
	for (int i = 0; i < p->ncpus; i++) {
		uint32_t id = topo_apic_id(cores, threads, i);

		if (id >= 0xff) {
			/* An 8-bit field cannot name it: the guest has ACPI's MADT. */
			warnx("MP table: APIC ID %u does not fit in the table; none written", id);
			return 0;
		}
		if (id >= top)
			top = id + 1;
	}
	ioapic = (int)top;		/* as the MADT: the first ID past the local APICs */
	__get_cpuid(1, &eax, &ebx, &ecx, &edx);

	memset(fp, 0, max);
	hdr = fp + FP_LEN;
	w = (struct mp_writer){ .p = hdr, .off = HDR_LEN };

	for (int i = 0; i < p->ncpus; i++) {
		e = entry(&w, PROC_LEN);
		e[0] = ENT_PROC;
		e[1] = (uint8_t)topo_apic_id(cores, threads, i);
		e[2] = LAPIC_VERSION;
		e[3] = (uint8_t)(PROC_EN | (i == 0 ? PROC_BP : 0));
		le_put(e + 4, eax & 0xfff, 4);	/* stepping, model, family */
		le_put(e + 8, edx, 4);		/* CPUID.1 feature flags */
	}
	e = entry(&w, SHORT_LEN);
	e[0] = ENT_BUS;
	e[1] = BUS_PCI;
	memcpy(e + 2, "PCI   ", 6);
	e = entry(&w, SHORT_LEN);
	e[0] = ENT_BUS;
	e[1] = BUS_ISA;
	memcpy(e + 2, "ISA   ", 6);
	e = entry(&w, SHORT_LEN);
	e[0] = ENT_IOAPIC;
	e[1] = (uint8_t)ioapic;
	e[2] = IOAPIC_VERSION;
	e[3] = IOAPIC_EN;
	le_put(e + 4, IOAPIC_BASE, 4);

	/* ISA: the 8259 behind pin 0, the PIT's IRQ 0 on pin 2, the rest 1:1;
	 * IRQ 2 is the cascade and has no line of its own. */
	io_int(&w, INT_EXTINT, 0, BUS_ISA, 0, ioapic, 0);
	for (int irq = 0; irq < 16; irq++) {
		if (irq == 2)
			continue;
		io_int(&w, INT_INT, irq == SCI_IRQ ? POL_HIGH | TRIG_LEVEL : 0, BUS_ISA, irq,
		    ioapic, irq == 0 ? 2 : irq);
	}
	/* PCI: every pin of every populated bus-0 slot, as the DSDT's _PRT has it. */
	for (int slot = 0; slot < MAXSLOTS; slot++) {
		if (pci_find(0, slot, 0) == NULL)
			continue;
		for (int pin = 0; pin < 4; pin++)
			io_int(&w, INT_INT, POL_LOW | TRIG_LEVEL, BUS_PCI, slot << 2 | pin, ioapic,
			    pci_intx_gsi(slot, pin + 1));
	}
	local_int(&w, INT_EXTINT, 0);
	local_int(&w, INT_NMI, 1);

	memcpy(hdr, "PCMP", 4);
	le_put(hdr + 4, w.off, 2);
	hdr[6] = MP_SPEC_REV;
	memcpy(hdr + 8, "BHYVE   ", 8);
	memcpy(hdr + 16, "1.0         ", 12);
	le_put(hdr + 34, w.count, 2);
	le_put(hdr + 36, LAPIC_BASE, 4);
	hdr[7] = checksum(hdr, w.off);

	memcpy(fp, "_MP_", 4);
	le_put(fp + 4, MPTABLE_BASE + FP_LEN, 4);
	fp[8] = 1;			/* length in 16-byte paragraphs */
	fp[9] = MP_SPEC_REV;
	/* Feature byte 1 zero: the configuration table is there. Byte 2 zero:
	 * virtual wire mode, no IMCR. */
	fp[10] = checksum(fp, FP_LEN);
	return 0;
}
