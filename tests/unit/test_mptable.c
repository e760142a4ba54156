/* The MP table (mptable.c), read back as an MP-spec 1.4 parser would: the
 * floating pointer found by scanning 0xF0000-0xFFFFF, both checksums, the
 * entries walked by type, and their content against the VM's configuration
 * (the fixture's PCI slots, the vCPUs and their topology). */
#include <stdlib.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "mptable.h"
#include "pci_emul.h"
#include "test.h"
#include "util.h"
#include "x86_topology.h"

static uint8_t ram[1 << 20];

struct parsed {
	int ncpus, nbus, nioapic, nioint, nlint;
	uint8_t apic_ids[256], bp_id;
	int bp_count;
	uint8_t ioapic_id;
	uint32_t ioapic_addr;
	uint8_t bus_pci, bus_isa;
	/* I/O interrupt entries: [bus][irq] -> INTIN + 1, flags, type. */
	uint8_t pin[2][256], type[2][256];
	uint16_t flags[2][256];
};

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Scans as a guest OS does; CHECKs what it finds. false when there is no table. */
static bool parse(struct parsed *m)
{
	const uint8_t *fp = NULL, *t, *e, *end;
	uint32_t addr;
	uint16_t len, count;

	memset(m, 0, sizeof(*m));
	m->bus_pci = m->bus_isa = 0xff;
	for (uint32_t a = 0xf0000; a < 0x100000; a += 16)
		if (memcmp(ram + a, "_MP_", 4) == 0 && sum(ram + a, 16) == 0) {
			fp = ram + a;
			break;
		}
	if (fp == NULL)
		return false;
	CHECK_EQ(fp - ram, MPTABLE_BASE);
	CHECK_EQ(fp[8], 1);			/* one paragraph */
	CHECK_EQ(fp[9], 4);			/* spec 1.4 */
	CHECK_EQ(fp[11], 0);			/* not a default configuration */
	addr = (uint32_t)le_get(fp + 4, 4);
	if (addr < 0xf0000 || addr > sizeof(ram) - 44) {
		CHECK_MSG(false, "config table pointer 0x%x outside 0xF0000-0xFFFFF", addr);
		return false;
	}
	t = ram + addr;
	CHECK(memcmp(t, "PCMP", 4) == 0);
	len = (uint16_t)le_get(t + 4, 2);
	count = (uint16_t)le_get(t + 34, 2);
	if (addr + len > sizeof(ram)) {
		CHECK_MSG(false, "config table of %u bytes runs past 1 MiB", len);
		return false;
	}
	CHECK_EQ(t[6], 4);
	CHECK_EQ(sum(t, len), 0);
	CHECK_EQ(le_get(t + 36, 4), 0xfee00000);
	CHECK_EQ(le_get(t + 40, 2), 0);		/* no extended table */
	e = t + 44;
	end = t + len;
	for (int i = 0; i < count; i++) {
		if (e >= end) {
			CHECK_MSG(false, "entry %d of %u starts past the table's length", i, count);
			return true;
		}
		switch (e[0]) {
		case 0:
			CHECK_EQ(e[3] & 1, 1);		/* enabled */
			if (e[3] & 2) {
				m->bp_id = e[1];
				m->bp_count++;
			}
			m->apic_ids[m->ncpus++ & 0xff] = e[1];
			e += 20;
			break;
		case 1:
			if (memcmp(e + 2, "PCI   ", 6) == 0)
				m->bus_pci = e[1];
			else if (memcmp(e + 2, "ISA   ", 6) == 0)
				m->bus_isa = e[1];
			m->nbus++;
			e += 8;
			break;
		case 2:
			m->nioapic++;
			m->ioapic_id = e[1];
			CHECK_EQ(e[3] & 1, 1);
			m->ioapic_addr = (uint32_t)le_get(e + 4, 4);
			e += 8;
			break;
		case 3: {
			int b = e[4] == m->bus_pci ? 0 : e[4] == m->bus_isa ? 1 : -1;

			CHECK_MSG(b >= 0, "I/O interrupt entry on unknown bus %u", e[4]);
			CHECK_EQ(e[6], m->ioapic_id);
			if (b >= 0 && e[1] == 0) {	/* INT; ExtINT counted apart */
				CHECK_MSG(m->pin[b][e[5]] == 0, "bus %d irq %u listed twice", b, e[5]);
				m->pin[b][e[5]] = (uint8_t)(e[7] + 1);
				m->flags[b][e[5]] = (uint16_t)le_get(e + 2, 2);
			}
			if (b >= 0)
				m->type[b][e[5]] |= (uint8_t)(1 << e[1]);
			m->nioint++;
			e += 8;
			break;
		}
		case 4:
			m->nlint++;
			e += 8;
			break;
		default:
			CHECK_MSG(false, "unknown entry type %u", e[0]);
			return true;
		}
	}
	CHECK_EQ(e - t, len);
	return true;
}

static int build(int ncpus, int cores, int threads)
{
	struct bhyve_params p = {
		.name = "mp", .ncpus = ncpus, .sockets = ncpus / (cores * threads),
		.cores = cores, .threads = threads, .memsize = FX_LOWMEM,
	};

	memset(ram, 0, sizeof(ram));
	fake_vm_set_ram(fx_ctx, ram, sizeof(ram));
	return mptable_build(fx_ctx, &p);
}

static void mptable_lists_every_vcpu_and_the_ioapic(void)
{
	struct parsed *m = calloc(1, sizeof(*m));

	REQUIRE(m != NULL);
	CHECK_EQ(build(4, 1, 1), 0);
	if (!parse(m)) {
		CHECK_MSG(false, "no MP floating pointer in 0xF0000-0xFFFFF");
		goto out;
	}
	CHECK_EQ(m->ncpus, 4);
	CHECK_EQ(m->bp_count, 1);
	CHECK_EQ(m->bp_id, 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(m->apic_ids[i], i);
	CHECK_EQ(m->nioapic, 1);
	CHECK_EQ(m->ioapic_addr, 0xfec00000);
	CHECK_EQ(m->ioapic_id, 4);	/* past the local APICs, as in the MADT */
	CHECK_EQ(m->nbus, 2);
	CHECK(m->bus_pci != 0xff && m->bus_isa != 0xff && m->bus_pci != m->bus_isa);
	CHECK_EQ(m->nlint, 2);		/* ExtINT on LINT0, NMI on LINT1 */
out:
	fake_vm_set_ram(fx_ctx, NULL, 0);
	free(m);
}

static void mptable_routes_isa_and_pci_interrupts(void)
{
	struct parsed *m = calloc(1, sizeof(*m));

	REQUIRE(m != NULL);
	CHECK_EQ(build(1, 1, 1), 0);
	if (!parse(m)) {
		CHECK_MSG(false, "no MP floating pointer");
		goto out;
	}
	/* ISA: IRQ 0 on pin 2 (as the MADT's override), the rest identity, no IRQ 2;
	 * the SCI level-triggered and active high; the 8259 as ExtINT. */
	CHECK_EQ(m->pin[1][0], 2 + 1);
	CHECK_EQ(m->pin[1][2], 0);
	for (int irq = 1; irq < 16; irq++)
		if (irq != 2)
			CHECK_MSG(m->pin[1][irq] == irq + 1, "ISA IRQ %d on INTIN %d", irq,
			    m->pin[1][irq] - 1);
	CHECK_EQ(m->flags[1][9], 0xd);
	CHECK_EQ(m->flags[1][4], 0);
	CHECK(m->type[1][0] & (1 << 3));
	/* PCI: each pin of each populated slot, at the GSI the devices raise. */
	for (int slot = 0; slot < MAXSLOTS; slot++) {
		for (int pin = 0; pin < 4; pin++) {
			int irq = slot << 2 | pin;

			if (pci_find(0, slot, 0) == NULL) {
				CHECK_MSG(m->pin[0][irq] == 0, "empty slot %d listed", slot);
				continue;
			}
			CHECK_MSG(m->pin[0][irq] == pci_intx_gsi(slot, pin + 1) + 1,
			    "slot %d pin %c on INTIN %d, want %d", slot, 'A' + pin,
			    m->pin[0][irq] - 1, pci_intx_gsi(slot, pin + 1));
			CHECK_EQ(m->flags[0][irq], 0xf);	/* level, active low */
		}
	}
	CHECK(pci_find(0, FX_DEV_SLOT, 0) != NULL && m->pin[0][FX_DEV_SLOT << 2] != 0);
out:
	fake_vm_set_ram(fx_ctx, NULL, 0);
	free(m);
}

/* The APIC IDs follow the CPUID topology (gaps where a field is not a power of 2). */
static void mptable_apic_ids_follow_topology(void)
{
	struct parsed *m = calloc(1, sizeof(*m));

	REQUIRE(m != NULL);
	CHECK_EQ(build(12, 3, 2), 0);
	if (!parse(m)) {
		CHECK_MSG(false, "no MP floating pointer");
		goto out;
	}
	CHECK_EQ(m->ncpus, 12);
	for (int i = 0; i < 12 && i < m->ncpus; i++)
		CHECK_EQ(m->apic_ids[i], topo_apic_id(3, 2, i));
	CHECK_EQ(m->ioapic_id, topo_apic_id(3, 2, 11) + 1);
out:
	fake_vm_set_ram(fx_ctx, NULL, 0);
	free(m);
}

/* An ID the 8-bit fields cannot hold: no table rather than a wrong one. */
static void mptable_skipped_when_apic_ids_do_not_fit(void)
{
	struct parsed *m = calloc(1, sizeof(*m));

	REQUIRE(m != NULL);
	CHECK_EQ(build(256, 1, 1), 0);
	CHECK(!parse(m));
	fake_vm_set_ram(fx_ctx, NULL, 0);
	free(m);
}

static void mptable_needs_ram_at_0xf0000(void)
{
	struct bhyve_params p = { .name = "mp", .ncpus = 1, .sockets = 1, .cores = 1, .threads = 1 };

	fake_vm_set_ram(fx_ctx, ram, 0xf0000);
	CHECK_EQ(mptable_build(fx_ctx, &p), -1);
	fake_vm_set_ram(fx_ctx, NULL, 0);
}

void suite_mptable(void)
{
	RUN_DEV(mptable_lists_every_vcpu_and_the_ioapic);
	RUN_DEV(mptable_routes_isa_and_pci_interrupts);
	RUN_DEV(mptable_apic_ids_follow_topology);
	RUN_DEV(mptable_skipped_when_apic_ids_do_not_fit);
	RUN_DEV(mptable_needs_ram_at_0xf0000);
}
