/* ACPI power management at bhyve's ports: PM1a event/control, the PM timer,
 * GPE0, SMI_CMD (ACPI enable/disable) and the reset register 0xCF9. */
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "debugcon.h"
#include "iodispatch.h"
#include "pci_emul.h"
#include "pm.h"
#include "util.h"
#include "vmmapi.h"

/* The PM register block: PM1a_EVT +0, PM1a_CNT +4, PM timer +8, GPE0 +0xC,
 * at 0x400 unless the guest moves it through lpc's PMBASE (pm_set_base). */
#define PM_BASE_DEFAULT	0x400
#define SMI_CMD		0xb2
#define DEBUGCON_PORT	0x402	/* PM1a_EN at the default base; alone elsewhere */
#define RESET_CTL	0xcf9
#define ACPI_ENABLE	0xa0
#define ACPI_DISABLE	0xa1
#define SCI_IRQ		9
#define PM_TMR_HZ	3579545ULL

#define PM1_TMR_STS	0x0001
#define PM1_GBL_STS	0x0020
#define PM1_PWRBTN_STS	0x0100
#define PM1_SLPBTN_STS	0x0200
#define PM1_RTC_STS	0x0400
#define PM1_WAK_STS	0x8000
#define PM1_SCI_EN	0x0001
#define PM1_SLP_TYP	0x1c00
#define PM1_SLP_EN	0x2000
#define S5_TYP		5	/* the _S5 value bhyve's DSDT gives */

static struct {
	pthread_mutex_t mtx;
	struct vmctx *ctx;
	uint16_t status, enable, control;
	uint8_t gpe[4];
	uint8_t reset;
	bool sci_level;
	uint16_t base;		/* where the block decodes ... */
	bool decoded;		/* ... when this is set */
} pm = { .mtx = PTHREAD_MUTEX_INITIALIZER, .base = PM_BASE_DEFAULT };

static void sci_update(void)
{
	bool need = (pm.status & pm.enable &
	    (PM1_TMR_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS)) != 0;

	isa_irq_follow(pm.ctx, SCI_IRQ, &pm.sci_level, need);
}

bool pm_power_button(void)
{
	bool acpi;

	pthread_mutex_lock(&pm.mtx);
	acpi = pm.control & PM1_SCI_EN;
	if (acpi) {
		pm.status |= PM1_PWRBTN_STS;
		sci_update();
	}
	pthread_mutex_unlock(&pm.mtx);
	return acpi;
}

static int pm1_evt_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	int off = (int)(port & 3);	/* the block is 128-port aligned */
	uint8_t regs[4];

	(void)arg;
	/* Firmware's debug port shares 0x402 with PM1a_EN; ACPI uses 16-bit accesses. */
	if (size == 1 && port == DEBUGCON_PORT && debugcon_byte(write, val))
		return 0;
	pthread_mutex_lock(&pm.mtx);
	regs[0] = (uint8_t)pm.status;
	regs[1] = (uint8_t)(pm.status >> 8);
	regs[2] = (uint8_t)pm.enable;
	regs[3] = (uint8_t)(pm.enable >> 8);
	if (!write) {
		*val = le_get(regs + off, size);
	} else {
		for (int i = 0; i < size; i++) {
			uint8_t b = (uint8_t)(*val >> (8 * i));
			int r = off + i;

			if (r < 2)	/* status bits are write-one-to-clear */
				pm.status &= (uint16_t)~(b << (8 * r));
			else
				pm.enable = (uint16_t)((pm.enable & ~(0xff << (8 * (r - 2)))) |
				    (b << (8 * (r - 2))));
		}
		sci_update();
	}
	pthread_mutex_unlock(&pm.mtx);
	return 0;
}

static int pm1_cnt_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	bool poweroff = false;

	(void)arg;
	(void)port;
	if (size != 2)
		return -1;
	pthread_mutex_lock(&pm.mtx);
	if (!write) {
		*val = pm.control;
	} else {
		/* SCI_EN belongs to SMI_CMD; SLP_EN is write-only. */
		pm.control = (uint16_t)((pm.control & PM1_SCI_EN) | (*val & ~(PM1_SLP_EN | PM1_SCI_EN)));
		if ((*val & PM1_SLP_EN) && ((*val & PM1_SLP_TYP) >> 10) == S5_TYP)
			poweroff = true;
	}
	pthread_mutex_unlock(&pm.mtx);
	if (poweroff)
		vm_suspend(pm.ctx, VM_SUSPEND_POWEROFF);
	return 0;
}

static struct timespec pm_t0;	/* the counter reads 0 at start-up */

static uint32_t pm_timer_now(void)
{
	struct timespec ts;
	uint64_t sec, nsec, ticks;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_nsec < pm_t0.tv_nsec) {
		ts.tv_sec--;
		ts.tv_nsec += 1000000000L;
	}
	nsec = (uint64_t)(ts.tv_nsec - pm_t0.tv_nsec);
	sec = (uint64_t)(ts.tv_sec - pm_t0.tv_sec);
	ticks = sec * PM_TMR_HZ + nsec * PM_TMR_HZ / 1000000000ULL;
	return (uint32_t)(ticks & 0xffffff);
}

static int pm_tmr_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	(void)arg;
	if (!write) {
		uint32_t t = pm_timer_now();
		uint8_t b[4] = { (uint8_t)t, (uint8_t)(t >> 8), (uint8_t)(t >> 16), 0 };

		*val = le_get(b + (int)(port & 3), size);
	}
	return 0;
}

static int gpe0_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	int off = (int)(port & 3);

	(void)arg;
	pthread_mutex_lock(&pm.mtx);
	if (!write) {
		*val = le_get(pm.gpe + off, size);
	} else {
		for (int i = 0; i < size; i++) {
			uint8_t b = (uint8_t)(*val >> (8 * i));

			if (off + i < 2)
				pm.gpe[off + i] &= (uint8_t)~b;
			else
				pm.gpe[off + i] = b;
		}
	}
	pthread_mutex_unlock(&pm.mtx);
	return 0;
}

static int smi_cmd_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	(void)arg;
	(void)port;
	if (size != 1)
		return -1;
	if (!write) {
		*val = 0;
		return 0;
	}
	pthread_mutex_lock(&pm.mtx);
	if (*val == ACPI_ENABLE)
		pm.control |= PM1_SCI_EN;
	else if (*val == ACPI_DISABLE)
		pm.control &= (uint16_t)~PM1_SCI_EN;
	sci_update();
	pthread_mutex_unlock(&pm.mtx);
	return 0;
}

static int reset_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	(void)arg;
	(void)port;
	if (size != 1)
		return -1;
	if (!write) {
		*val = pm.reset;
		return 0;
	}
	pm.reset = (uint8_t)(*val & 0x0e);
	/* Hard and soft resets alike end the process with "reboot". */
	if (*val & 0x04)
		vm_suspend(pm.ctx, VM_SUSPEND_RESET);
	return 0;
}

static int pm_block(bool add, uint16_t base)
{
	struct io_range ranges[] = {
		{ .name = "pm1a_evt", .base = base, .size = 4, .handler = pm1_evt_io, .quiet = true },
		{ .name = "pm1a_cnt", .base = base + 0x4, .size = 2, .handler = pm1_cnt_io, .quiet = true },
		{ .name = "pm_tmr", .base = base + 0x8, .size = 4, .handler = pm_tmr_io, .quiet = true },
		{ .name = "gpe0", .base = base + 0xc, .size = 4, .handler = gpe0_io, .quiet = true },
	};
	int rc = 0;

	for (size_t i = 0; i < nitems(ranges); i++) {
		if (!add) {
			unregister_io(IO_PORT, ranges[i].base);
		} else if (register_io(IO_PORT, &ranges[i]) != 0) {
			while (i-- > 0)
				unregister_io(IO_PORT, ranges[i].base);
			rc = -1;
			break;
		}
	}
	return rc;
}

/* The debug port on its own, while the PM block is not at 0x400 to carry it. */
static int debugcon_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	(void)arg;
	(void)port;
	if (size != 1)
		return -1;
	if (!debugcon_byte(write, val) && !write)
		*val = 0xff;		/* no -l debugcon: nothing there */
	return 0;
}

static void debugcon_alone(bool want)
{
	static bool alone;
	struct io_range r = { .name = "debugcon", .base = DEBUGCON_PORT, .size = 1,
	    .handler = debugcon_io, .quiet = true };

	if (want == alone)
		return;
	if (!want)
		unregister_io(IO_PORT, DEBUGCON_PORT);
	alone = want && register_io(IO_PORT, &r) == 0;
}

int pm_set_base(uint16_t base, bool decode)
{
	static pthread_mutex_t move_mtx = PTHREAD_MUTEX_INITIALIZER;
	int rc = 0;

	base &= PM_BASE_MASK;
	pthread_mutex_lock(&move_mtx);
	if (base != pm.base || decode != pm.decoded) {
		if (pm.decoded)
			pm_block(false, pm.base);
		debugcon_alone(false);	/* the block may want 0x402 back */
		/* A block moved onto ports another device holds decodes nowhere. */
		pm.decoded = decode && base != 0 && pm_block(true, base) == 0;
		pm.base = base;
		rc = decode && !pm.decoded ? -1 : 0;
		debugcon_alone(!(pm.decoded && pm.base == PM_BASE_DEFAULT));
	}
	pthread_mutex_unlock(&move_mtx);
	return rc;
}

uint16_t pm_get_base(void)
{
	return pm.base;
}

int pm_init(struct vmctx *ctx)
{
	static const struct io_range ranges[] = {
		{ .name = "smi_cmd", .base = SMI_CMD, .size = 1, .handler = smi_cmd_io, .arg = NULL },
		{ .name = "reset", .base = RESET_CTL, .size = 1, .handler = reset_io, .arg = NULL },
	};

	pm.ctx = ctx;
	clock_gettime(CLOCK_MONOTONIC, &pm_t0);
	for (size_t i = 0; i < nitems(ranges); i++)
		if (register_io(IO_PORT, &ranges[i]) != 0)
			return -1;
	pm.base = PM_BASE_DEFAULT;
	pm.decoded = pm_block(true, pm.base) == 0;
	return pm.decoded ? 0 : -1;
}
