/* ACPI power management (PM1a, PM timer, SMI_CMD, 0xCF9), the 8042 keyboard
 * controller and the POST port. */
#include <time.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "devices/pm.h"
#include "test.h"

#define PM1A_EVT	0x400
#define PM1A_EN		0x402
#define PM1A_CNT	0x404
#define PM_TMR		0x408
#define SMI_CMD		0xb2
#define RESET_CTL	0xcf9

static void pm_timer_runs_at_3579545_hz(void)
{
	struct timespec t0, t1;
	uint32_t a, b;
	double secs, rate;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	a = (uint32_t)port_in(PM_TMR, 4);
	usleep(200 * 1000);
	b = (uint32_t)port_in(PM_TMR, 4);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_EQ(a & 0xff000000, 0);		/* a 24-bit counter */
	CHECK_EQ(b & 0xff000000, 0);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	rate = (double)((b - a) & 0xffffff) / secs;
	CHECK_MSG(rate > 3579545 * 0.95 && rate < 3579545 * 1.05,
	    "PM timer ran at %.0f Hz over %.3f s", rate, secs);
	/* Narrower reads see the same counter's low bytes; writes are ignored. */
	port_out(PM_TMR, 4, 0);
	a = (uint32_t)port_in(PM_TMR, 4);
	b = (uint32_t)port_in(PM_TMR, 2);
	CHECK(((b - (a & 0xffff)) & 0xffff) < 0x8000);
	CHECK_EQ(port_in(PM_TMR + 3, 1), 0);
}

static void pm_power_button_ignored_before_acpi_enable(void)
{
	port_out(SMI_CMD, 1, 0xa1);
	CHECK_EQ(port_in(PM1A_CNT, 2) & 1, 0);
	fake_reset_irqs();
	CHECK(!pm_power_button());
	CHECK_EQ(port_in(PM1A_EVT, 2) & 0x100, 0);
	CHECK_EQ(fake_vmm.isa_level[9], 0);
}

static void pm_smi_cmd_enables_and_disables_acpi(void)
{
	port_out(SMI_CMD, 1, 0xa0);
	CHECK_EQ(port_in(PM1A_CNT, 2) & 1, 1);
	/* SCI_EN belongs to SMI_CMD: PM1a_CNT writes do not change it. */
	port_out(PM1A_CNT, 2, 0);
	CHECK_EQ(port_in(PM1A_CNT, 2) & 1, 1);
	port_out(SMI_CMD, 1, 0x42);		/* other commands: nothing */
	CHECK_EQ(port_in(PM1A_CNT, 2) & 1, 1);
	port_out(SMI_CMD, 1, 0xa1);
	CHECK_EQ(port_in(PM1A_CNT, 2) & 1, 0);
	port_out(PM1A_CNT, 2, 1);
	CHECK_EQ(port_in(PM1A_CNT, 2) & 1, 0);
	CHECK_EQ(port_rc(false, PM1A_CNT, 1, &(uint64_t){ 0 }), -1);	/* 16-bit register */
	port_out(SMI_CMD, 1, 0xa0);
}

static void pm_power_button_sets_status_and_raises_sci(void)
{
	port_out(SMI_CMD, 1, 0xa0);
	port_out(PM1A_EN, 2, 0x0100);		/* PWRBTN_EN */
	CHECK_EQ(port_in(PM1A_EN, 2), 0x0100);
	CHECK_EQ(port_in(PM1A_EVT, 4) >> 16, 0x0100);
	fake_reset_irqs();
	CHECK(pm_power_button());
	CHECK_EQ(port_in(PM1A_EVT, 2) & 0x100, 0x100);
	CHECK_EQ(fake_vmm.isa_level[9], 1);
	/* Writing 0 leaves status alone; writing 1 clears it and lowers the SCI. */
	port_out(PM1A_EVT, 2, 0);
	CHECK_EQ(port_in(PM1A_EVT, 2) & 0x100, 0x100);
	port_out(PM1A_EVT + 1, 1, 0x01);
	CHECK_EQ(port_in(PM1A_EVT, 2) & 0x100, 0);
	CHECK_EQ(fake_vmm.isa_level[9], 0);
	/* Without PWRBTN_EN the status is set but no SCI. */
	port_out(PM1A_EN, 2, 0);
	fake_reset_irqs();
	CHECK(pm_power_button());
	CHECK_EQ(port_in(PM1A_EVT, 2) & 0x100, 0x100);
	CHECK_EQ(fake_vmm.isa_calls, 0);
	/* Enabling it with the status pending raises the SCI then. */
	port_out(PM1A_EN, 2, 0x0100);
	CHECK_EQ(fake_vmm.isa_level[9], 1);
	port_out(PM1A_EVT, 2, 0x0100);
	CHECK_EQ(fake_vmm.isa_level[9], 0);
	port_out(PM1A_EN, 2, 0);
}

static void pm_s5_sleep_requests_poweroff(void)
{
	fake_reset_exit();
	port_out(PM1A_CNT, 2, 0x2000 | 1 << 10);	/* SLP_EN with S1 */
	port_out(PM1A_CNT, 2, 0x1400);			/* S5 without SLP_EN */
	port_out(PM1A_CNT, 2, 0x2000 | 7 << 10);
	CHECK_EQ(fake_vmm.exit_requests, 0);
	port_out(PM1A_CNT, 2, 0x3400);			/* SLP_TYP=5 | SLP_EN */
	CHECK_EQ(fake_vmm.exit_requests, 1);
	CHECK_EQ(fake_vmm.exit_first, 1);
	/* SLP_EN is write-only. */
	CHECK_EQ(port_in(PM1A_CNT, 2) & 0x2000, 0);
	port_out(PM1A_CNT, 2, 0);
	fake_reset_exit();
}

static void pm_reset_register_6_reboots(void)
{
	fake_reset_exit();
	port_out(RESET_CTL, 1, 0x02);
	CHECK_EQ(fake_vmm.exit_requests, 0);
	CHECK_EQ(port_in(RESET_CTL, 1), 0x02);
	port_out(RESET_CTL, 1, 0x06);
	CHECK_EQ(fake_vmm.exit_requests, 1);
	CHECK_EQ(fake_vmm.exit_first, 0);
	fake_reset_exit();
}

/* Accesses that start near a block's end and run past it must not make a handler
 * reach outside its registers. Each case runs in a child: ASan aborts on overflow. */
static void pm1_evt_wide_access_child(void *arg)
{
	uint64_t v = 0;
	uint16_t ctl = (uint16_t)port_in(PM1A_CNT, 2);

	(void)arg;
	port_rc(false, PM1A_EN, 4, &v);		/* 0x402-0x405 */
	port_rc(false, PM1A_EN + 1, 2, &v);	/* 0x403-0x404 */
	port_rc(true, PM1A_EN, 4, &(uint64_t){ 0xffffffff });
	port_rc(true, PM1A_EN + 1, 4, &(uint64_t){ 0xffffffff });
	if ((uint16_t)port_in(PM1A_CNT, 2) != ctl) {
		fprintf(stderr, "PM1a_CNT changed by a write to PM1a_EN\n");
		_exit(CHILD_WRONG);
	}
}

static void pm_timer_wide_access_child(void *arg)
{
	uint64_t v = 0;

	(void)arg;
	port_rc(false, PM_TMR + 3, 4, &v);	/* 0x40b-0x40e */
	port_rc(false, PM_TMR + 2, 4, &v);
}

static void gpe0_wide_access_child(void *arg)
{
	uint64_t v = 0;
	uint8_t reset = (uint8_t)port_in(RESET_CTL, 1);

	(void)arg;
	port_rc(false, 0x40f, 4, &v);		/* GPE0 is 0x40c-0x40f */
	port_rc(true, 0x40f, 4, &(uint64_t){ 0xffffffff });
	port_rc(true, 0x40e, 4, &(uint64_t){ 0xffffffff });
	if ((uint8_t)port_in(RESET_CTL, 1) != reset) {
		fprintf(stderr, "a 4-byte write at GPE0+3 changed the 0xCF9 reset register "
		    "from 0x%02x to 0x%02x\n", reset, (unsigned)port_in(RESET_CTL, 1));
		_exit(CHILD_WRONG);
	}
}

static void check_in_child(void (*fn)(void *), const char *what)
{
	char why[160];

	if (!child_ok(run_in_child(fn, NULL, false), why, sizeof(why)))
		test_fail(__FILE__, __LINE__, "%s: %s", what, why);
}

static void pm1_evt_wide_access_at_block_end_stays_inside(void)
{
	check_in_child(pm1_evt_wide_access_child, "inl/outl at 0x402, inw at 0x403");
}

static void pm_timer_wide_access_at_block_end_stays_inside(void)
{
	check_in_child(pm_timer_wide_access_child, "inl at 0x40b");
}

static void gpe0_wide_access_at_block_end_stays_inside(void)
{
	check_in_child(gpe0_wide_access_child, "inl/outl at 0x40f");
}

static void atkbdc_self_test_returns_55(void)
{
	port_out(0x64, 1, 0xaa);
	CHECK_EQ(port_in(0x64, 1) & 0x01, 0x01);	/* OBF */
	CHECK_EQ(port_in(0x60, 1), 0x55);
	CHECK_EQ(port_in(0x64, 1) & 0x01, 0);
	CHECK_EQ(port_in(0x64, 1) & 0x04, 0x04);	/* system flag */
}

static void atkbdc_command_byte_read_write(void)
{
	port_out(0x64, 1, 0x20);
	CHECK_EQ(port_in(0x64, 1) & 0x01, 0x01);
	CHECK_EQ(port_in(0x60, 1), 0x45);		/* reset value */
	port_out(0x64, 1, 0x60);
	port_out(0x60, 1, 0x47);
	port_out(0x64, 1, 0x20);
	CHECK_EQ(port_in(0x60, 1), 0x47);
	port_out(0x64, 1, 0x60);
	port_out(0x60, 1, 0x45);
}

static void atkbdc_reset_commands_request_reboot(void)
{
	fake_reset_exit();
	port_out(0x64, 1, 0xd1);
	port_out(0x60, 1, 0x03);			/* A20 on, CPU not in reset */
	CHECK_EQ(fake_vmm.exit_requests, 0);
	port_out(0x64, 1, 0xd0);
	CHECK_EQ(port_in(0x60, 1), 0x03);
	port_out(0x64, 1, 0xfe);
	CHECK_EQ(fake_vmm.exit_requests, 1);
	CHECK_EQ(fake_vmm.exit_first, 0);
	fake_reset_exit();
	port_out(0x64, 1, 0xd1);
	port_out(0x60, 1, 0x02);			/* bit 0 low: reset */
	CHECK_EQ(fake_vmm.exit_requests, 1);
	CHECK_EQ(fake_vmm.exit_first, 0);
	fake_reset_exit();
	/* Byte registers: wider accesses are refused, never taken as commands. */
	CHECK(port_rc(false, 0x60, 2, &(uint64_t){ 0 }) != 0);
	CHECK(port_rc(true, 0x64, 4, &(uint64_t){ 0xfe }) != 0);
	CHECK_EQ(fake_vmm.exit_requests, 0);
}

static void post_port_reads_ff(void)
{
	port_out(0x80, 1, 0x12);
	CHECK_EQ(port_in(0x80, 1), 0xff);
}

void suite_pm(void)
{
	RUN_DEV(pm_timer_runs_at_3579545_hz);
	RUN_DEV(pm_power_button_ignored_before_acpi_enable);
	RUN_DEV(pm_smi_cmd_enables_and_disables_acpi);
	RUN_DEV(pm_power_button_sets_status_and_raises_sci);
	RUN_DEV(pm_s5_sleep_requests_poweroff);
	RUN_DEV(pm_reset_register_6_reboots);
	RUN_DEV(pm1_evt_wide_access_at_block_end_stays_inside);
	RUN_DEV(pm_timer_wide_access_at_block_end_stays_inside);
	RUN_DEV(gpe0_wide_access_at_block_end_stays_inside);
	RUN_DEV(atkbdc_self_test_returns_55);
	RUN_DEV(atkbdc_command_byte_read_write);
	RUN_DEV(atkbdc_reset_commands_request_reboot);
	RUN_DEV(post_port_reads_ff);
}
