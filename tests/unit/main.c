/* The unit-test runner: runs the suites in order and prints one line per test.
 * Exit status 1 when any test failed, else 0.
 *
 * The code under test says what it refuses on stderr, and many tests make it
 * refuse on purpose: stderr (fd 2, which forked children and the sanitizers'
 * reports share) goes to a log file, build/unit-stderr.log (UNIT_STDERR_LOG
 * names another), and only a failed test shows what it wrote there. */
#include <errno.h>
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
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
/* The log stderr goes to, the terminal's stderr saved, the log's size when the
 * current test began (-1: stderr was not redirected). */
static const char *err_log;
static int err_fd = -1, real_stderr = -1;
static off_t test_err_start = -1;
static const char *cur_name;
static pid_t main_pid;	/* children that run_in_child forks share the log, not on_death */

static void stderr_to_log(void)
{
	const char *path = getenv("UNIT_STDERR_LOG");
	int fd;

	err_log = path != NULL && path[0] != '\0' ? path : "build/unit-stderr.log";
	fd = open(err_log, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "unit tests: %s: %s; the code's messages stay on stderr\n",
		    err_log, strerror(errno));
		return;
	}
	fflush(stderr);
	real_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (real_stderr < 0 || dup2(fd, STDERR_FILENO) < 0) {
		close(fd);
		return;
	}
	err_fd = fd;
	setvbuf(stderr, NULL, _IOLBF, 0);
}

static off_t err_size(void)
{
	fflush(stderr);
	return err_fd >= 0 ? lseek(err_fd, 0, SEEK_END) : -1;
}

/* What the current test wrote to stderr (its last 8 KiB), indented, on out. */
static void show_test_stderr(int out)
{
	off_t end = err_size(), from = test_err_start;
	char buf[8192];
	ssize_t n;
	bool bol = true;

	if (from < 0 || end <= from)
		return;
	if (end - from > (off_t)sizeof(buf)) {
		from = end - (off_t)sizeof(buf);
		dprintf(out, "    ... (the start is in %s)\n", err_log);
	}
	n = pread(err_fd, buf, (size_t)(end - from), from);
	for (ssize_t i = 0; i < n; i++) {
		if (bol && write(out, "    ", 4) < 0)
			return;
		bol = buf[i] == '\n';
		if (write(out, &buf[i], 1) < 0)
			return;
	}
	if (!bol && write(out, "\n", 1) < 0)
		return;
}

/* A sanitizer's fatal report (a crash, an ASan error) ends the run: say which
 * test it was and show the report, which went to the log. */
static void on_death(void)
{
	if (getpid() != main_pid)
		return;
	fflush(stdout);
	dprintf(STDOUT_FILENO, "FAIL %s: the run stopped here (a sanitizer's fatal report); its stderr:\n",
	    cur_name != NULL ? cur_name : "(between tests)");
	show_test_stderr(STDOUT_FILENO);
}

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
	cur_name = name;
	test_err_start = err_size();
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
		fflush(stdout);
		show_test_stderr(STDOUT_FILENO);
		n_fail++;
	} else if (cur_skipped) {
		printf("SKIP %s: %s\n", name, cur_skip_msg);
		n_skip++;
	} else {
		printf("PASS %s\n", name);
		n_pass++;
	}
	fflush(stdout);
	cur_name = NULL;
}

/* Leaks in the code under test: checked once everything has run. */
static void no_memory_leaks(void)
{
	CHECK_MSG(__lsan_do_recoverable_leak_check() == 0, "LeakSanitizer found leaks (see stderr)");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	main_pid = getpid();
	stderr_to_log();
	__sanitizer_set_death_callback(on_death);
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
	suite_registry();

	test_err_start = err_size();
	if (fixture_init() != 0) {
		printf("FAIL fixture_init: the device fixture could not be set up; its stderr:\n");
		fflush(stdout);
		show_test_stderr(STDOUT_FILENO);
		n_fail++;
	}
	suite_pci();
	suite_uart();
	suite_console();
	suite_rtc();
	suite_pm();
	suite_bootrom();
	suite_fwcfg();
	suite_bootorder();
	suite_hpet();
	suite_atkbdc();
	suite_fbuf();
	suite_virtio();
	suite_virtio_blk();
	suite_nvme();
	suite_xhci();
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

	printf("unit tests: %d passed, %d failed, %d skipped; %d UBSan report(s)%s%s\n",
	    n_pass, n_fail, n_skip, ubsan_reports,
	    err_fd >= 0 ? "; the code's messages are in " : "", err_fd >= 0 ? err_log : "");
	fflush(stdout);
	fflush(stderr);
	/* The leak check has run; skip the sanitizer's second one at exit. */
	_exit(n_fail ? 1 : 0);
}
