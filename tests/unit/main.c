/* The unit-test runner: runs the suites in order and prints one line per test.
 * Exit status 1 when any test failed, else 0. */
#include <sanitizer/lsan_interface.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static int n_pass, n_fail, n_skip;
static bool cur_failed, cur_skipped;
static char cur_msg[512], cur_skip_msg[256];
static int cur_nfail;
static volatile int ubsan_reports;

/* Called by the UBSan runtime after each report it prints: undefined behaviour
 * is recoverable for the sanitizer, but a failure for the test that caused it. */
void __ubsan_on_report(void);
void __ubsan_on_report(void)
{
	ubsan_reports++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	const char *base = strrchr(file, '/');

	cur_nfail++;
	if (cur_failed)
		return;	/* the first failure says why; the rest would repeat it */
	cur_failed = true;
	va_start(ap, fmt);
	snprintf(cur_msg, sizeof(cur_msg), "%s:%d: ", base ? base + 1 : file, line);
	vsnprintf(cur_msg + strlen(cur_msg), sizeof(cur_msg) - strlen(cur_msg), fmt, ap);
	va_end(ap);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	cur_skipped = true;
	va_start(ap, fmt);
	vsnprintf(cur_skip_msg, sizeof(cur_skip_msg), fmt, ap);
	va_end(ap);
}

int test_ubsan_reports(void)
{
	return ubsan_reports;
}

bool test_failed(void)
{
	return cur_failed;
}

void test_run(const char *name, test_fn fn, bool needs_fixture)
{
	int ub_before = ubsan_reports;

	cur_failed = cur_skipped = false;
	cur_nfail = 0;
	cur_msg[0] = cur_skip_msg[0] = '\0';
	if (needs_fixture && !fx_ready) {
		printf("SKIP %s: the device fixture could not be set up\n", name);
		n_skip++;
		return;
	}
	fn();
	if (ubsan_reports != ub_before && !cur_failed) {
		cur_failed = true;
		snprintf(cur_msg, sizeof(cur_msg),
		    "UBSan reported %d runtime error(s) (see stderr)", ubsan_reports - ub_before);
	}
	if (cur_failed) {
		printf("FAIL %s: %s", name, cur_msg);
		if (cur_nfail > 1)
			printf(" (and %d more failed checks)", cur_nfail - 1);
		printf("\n");
		n_fail++;
	} else if (cur_skipped) {
		printf("SKIP %s: %s\n", name, cur_skip_msg);
		n_skip++;
	} else {
		printf("PASS %s\n", name);
		n_pass++;
	}
	fflush(stdout);
}

/* Leaks in the code under test: checked once everything has run. */
static void no_memory_leaks(void)
{
	CHECK_MSG(__lsan_do_recoverable_leak_check() == 0, "LeakSanitizer found leaks (see stderr)");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* As bhyverun does: a console peer that goes away must not kill the VMM. */
	signal(SIGPIPE, SIG_IGN);
	/* A local time zone that is not UTC, so that the RTC's local and UTC modes differ. */
	setenv("TZ", "UNIT-05:30", 1);
	tzset();

	suite_config();
	suite_util();
	suite_options();
	suite_iodispatch();
	suite_smbios();
	suite_e820();

	if (fixture_init() != 0) {
		printf("FAIL fixture_init: the device fixture could not be set up (see stderr)\n");
		n_fail++;
	}
	suite_pci();
	suite_uart();
	suite_rtc();
	suite_pm();
	suite_bootrom();
	suite_fwcfg();
	suite_bootorder();
	suite_hpet();
	suite_virtio();
	suite_virtio_blk();
	suite_nvme();
	suite_ahci();
	suite_net_slirp();
	suite_sandbox();
	suite_mevent();
	suite_virtio_net();
	suite_net_tap();
	suite_virtio_console();
	suite_storm();
	suite_acpi();
	suite_mptable();
	suite_firmware_platform();
	fixture_fini();
	RUN(no_memory_leaks);

	fprintf(stderr, "unit tests: %d passed, %d failed, %d skipped; %d UBSan report(s)\n",
	    n_pass, n_fail, n_skip, ubsan_reports);
	fflush(stdout);
	fflush(stderr);
	/* The leak check has run; skip the sanitizer's second one at exit. */
	_exit(n_fail ? 1 : 0);
}
