/* PCI INTx wiring: lpc's eight PIRQ routing registers steer each shared line to an
 * ISA IRQ on the PIC; the IOAPIC sees the same lines on pins 16-23. */
#include <assert.h>
#include <pthread.h>

#include "pci_emul.h"
#include "vmmapi.h"

#define NPIRQS		8
#define PIRQ_DIS	0x80
#define PIRQ_IRQ	0x0f

static struct {
	uint8_t reg;
	int use_count;
	int active_count;
} pirqs[NPIRQS];

static int ioapic_active[8];
static int irq_counts[16];
static int isa_active[16];
static struct vmctx *irq_ctx;
static pthread_mutex_t irq_lock = PTHREAD_MUTEX_INITIALIZER;

/* ISA IRQs a PCI line may be given: never the legacy devices' own. */
static const int pci_isa_irqs[] = { 5, 10, 11 };

void pci_irq_init(struct vmctx *ctx)
{
	irq_ctx = ctx;
	for (int i = 0; i < NPIRQS; i++) {
		pirqs[i].reg = PIRQ_DIS;
		pirqs[i].use_count = pirqs[i].active_count = 0;
	}
	for (int i = 0; i < 8; i++)
		ioapic_active[i] = 0;
}

void pci_irq_reserve(int irq)
{
	if (irq >= 0 && irq < 16)
		irq_counts[irq]++;
}

/* The fixed swizzle behind INTx: what ACPI's _PRT and the devices both use. */
int pci_intx_pirq(int slot, int pin)
{
	return 1 + (slot + pin - 1) % NPIRQS;
}

int pci_intx_gsi(int slot, int pin)
{
	return 16 + (slot + pin - 1) % 8;
}

int pirq_alloc_pin(struct pci_devinst *pi)
{
	int pin = pci_intx_pirq(pi->pi_slot, pi->pi_lintr.pin) - 1;

	pthread_mutex_lock(&irq_lock);
	pirqs[pin].use_count++;
	if (pirqs[pin].reg & PIRQ_DIS) {
		int best = pci_isa_irqs[0];

		for (size_t i = 1; i < nitems(pci_isa_irqs); i++)
			if (irq_counts[pci_isa_irqs[i]] < irq_counts[best])
				best = pci_isa_irqs[i];
		irq_counts[best]++;
		pirqs[pin].reg = (uint8_t)best;
	}
	pthread_mutex_unlock(&irq_lock);
	return pin + 1;
}

int ioapic_pci_alloc_irq(struct pci_devinst *pi)
{
	return pci_intx_gsi(pi->pi_slot, pi->pi_lintr.pin);
}

int pirq_irq(int pin)
{
	uint8_t reg;

	if (pin < 1 || pin > NPIRQS)
		return 255;
	reg = pirqs[pin - 1].reg;
	return (reg & PIRQ_DIS) ? 255 : reg & PIRQ_IRQ;
}

uint8_t pirq_read(int pin)
{
	return (pin >= 1 && pin <= NPIRQS) ? pirqs[pin - 1].reg : PIRQ_DIS;
}

static bool valid_isa(uint8_t reg)
{
	int irq = reg & PIRQ_IRQ;

	return !(reg & PIRQ_DIS) && irq >= 3 && irq != 8 && irq != 13;
}

void pirq_write(struct vmctx *ctx, int pin, uint8_t val)
{
	(void)ctx;
	if (pin < 1 || pin > NPIRQS)
		return;
	pthread_mutex_lock(&irq_lock);
	val &= PIRQ_DIS | PIRQ_IRQ;
	if (pirqs[pin - 1].reg != val) {
		if (pirqs[pin - 1].active_count && valid_isa(pirqs[pin - 1].reg))
			vm_atpic_irq_set(irq_ctx, pirqs[pin - 1].reg & PIRQ_IRQ, 0);
		pirqs[pin - 1].reg = val;
		if (pirqs[pin - 1].active_count && valid_isa(val))
			vm_atpic_irq_set(irq_ctx, val & PIRQ_IRQ, 1);
	}
	pthread_mutex_unlock(&irq_lock);
}

void isa_irq_assert(struct vmctx *ctx, int irq)
{
	static_assert(nitems(isa_active) == 16, "one count per ISA IRQ");
	if (irq < 0 || irq > 15)
		return;
	pthread_mutex_lock(&irq_lock);
	if (isa_active[irq]++ == 0)
		vm_isa_irq_set(ctx, irq, 1);
	pthread_mutex_unlock(&irq_lock);
}

void isa_irq_deassert(struct vmctx *ctx, int irq)
{
	if (irq < 0 || irq > 15)
		return;
	pthread_mutex_lock(&irq_lock);
	if (isa_active[irq] > 0 && --isa_active[irq] == 0)
		vm_isa_irq_set(ctx, irq, 0);
	pthread_mutex_unlock(&irq_lock);
}

/* Lines are shared and level-triggered: the first assert raises, the last deassert lowers. */
void isa_irq_follow(struct vmctx *ctx, int irq, bool *raised, bool level)
{
	if (level == *raised)
		return;
	*raised = level;
	if (level)
		isa_irq_assert(ctx, irq);
	else
		isa_irq_deassert(ctx, irq);
}

/* IOAPIC pins 16-23 are shared by PCI INTx lines and the HPET's timers. */
static void ioapic_pin_up(int a)
{
	if (ioapic_active[a]++ == 0)
		vm_ioapic_irq_set(irq_ctx, a + 16, 1);
}

static void ioapic_pin_down(int a)
{
	if (ioapic_active[a] > 0 && --ioapic_active[a] == 0)
		vm_ioapic_irq_set(irq_ctx, a + 16, 0);
}

void ioapic_pin_assert(int pin)
{
	if (pin < 16 || pin > 23)
		return;
	pthread_mutex_lock(&irq_lock);
	ioapic_pin_up(pin - 16);
	pthread_mutex_unlock(&irq_lock);
}

void ioapic_pin_deassert(int pin)
{
	if (pin < 16 || pin > 23)
		return;
	pthread_mutex_lock(&irq_lock);
	ioapic_pin_down(pin - 16);
	pthread_mutex_unlock(&irq_lock);
}

void pci_irq_assert(struct pci_devinst *pi)
{
	int p = pi->pi_lintr.pirq_pin - 1, a = pi->pi_lintr.ioapic_irq - 16;

	pthread_mutex_lock(&irq_lock);
	ioapic_pin_up(a);
	if (pirqs[p].active_count++ == 0 && valid_isa(pirqs[p].reg))
		vm_atpic_irq_set(irq_ctx, pirqs[p].reg & PIRQ_IRQ, 1);
	pthread_mutex_unlock(&irq_lock);
}

void pci_irq_deassert(struct pci_devinst *pi)
{
	int p = pi->pi_lintr.pirq_pin - 1, a = pi->pi_lintr.ioapic_irq - 16;

	pthread_mutex_lock(&irq_lock);
	ioapic_pin_down(a);
	if (pirqs[p].active_count > 0 && --pirqs[p].active_count == 0 && valid_isa(pirqs[p].reg))
		vm_atpic_irq_set(irq_ctx, pirqs[p].reg & PIRQ_IRQ, 0);
	pthread_mutex_unlock(&irq_lock);
}
