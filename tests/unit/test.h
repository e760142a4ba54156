/* A small test framework for the unit tests: one line per test on stdout,
 * "PASS name", "FAIL name: why" or "SKIP name: why". Checks do not stop a test;
 * REQUIRE does (for checks whose failure would make the rest meaningless). */
#ifndef UNIT_TEST_H
#define UNIT_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct vmctx;

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool test_failed(void);
/* How many UBSan reports the process has printed so far. */
int test_ubsan_reports(void);

#define CHECK(cond) do { \
	if (!(cond)) \
		test_fail(__FILE__, __LINE__, "%s", #cond); \
} while (0)

#define CHECK_MSG(cond, ...) do { \
	if (!(cond)) \
		test_fail(__FILE__, __LINE__, __VA_ARGS__); \
} while (0)

#define CHECK_EQ(got, want) do { \
	unsigned long long got_ = (unsigned long long)(got); \
	unsigned long long want_ = (unsigned long long)(want); \
	if (got_ != want_) \
		test_fail(__FILE__, __LINE__, "%s is 0x%llx, want 0x%llx", #got, got_, want_); \
} while (0)

#define CHECK_STR(got, want) do { \
	const char *got_ = (got), *want_ = (want); \
	if (got_ == NULL || want_ == NULL ? got_ != want_ : strcmp(got_, want_) != 0) \
		test_fail(__FILE__, __LINE__, "%s is \"%s\", want \"%s\"", #got, \
		    got_ ? got_ : "(null)", want_ ? want_ : "(null)"); \
} while (0)

#define REQUIRE(cond) do { \
	if (!(cond)) { \
		test_fail(__FILE__, __LINE__, "required: %s", #cond); \
		return; \
	} \
} while (0)

#define SKIP(...) do { \
	test_skip(__VA_ARGS__); \
	return; \
} while (0)

/* Disk tests: len bytes of a pattern that differs with seed and from sector to
 * sector; whether len bytes are all zero; len bytes of a file at off. */
void test_pattern(uint8_t *p, size_t len, uint32_t seed);
bool test_all_zero(const uint8_t *p, size_t len);
bool test_file_read(const char *path, uint64_t off, void *buf, size_t len);
/* Pages of path's [off, off + len) in the host's page cache not yet on the disk
 * (dirty or under writeback), by cachestat(2); -1 where the kernel lacks it. */
long test_dirty_pages(const char *path, uint64_t off, uint64_t len);

typedef void (*test_fn)(void);
/* needs_fixture: the test drives the shared device fixture and is skipped without it. */
void test_run(const char *name, test_fn fn, bool needs_fixture);
#define RUN(fn) test_run(#fn, fn, false)
#define RUN_DEV(fn) test_run(#fn, fn, true)

/* Suites, in the order main runs them. The first ones reset the config tree
 * freely; the fixture is built after them and the rest run against it. */
void suite_config(void);
void suite_util(void);
void suite_options(void);
void suite_iodispatch(void);
void suite_smbios(void);
void suite_e820(void);
void suite_pci(void);
void suite_uart(void);
void suite_console(void);
void suite_rtc(void);
void suite_pm(void);
void suite_bootrom(void);
void suite_fwcfg(void);
void suite_bootorder(void);
void suite_hpet(void);
void suite_virtio(void);
void suite_virtio_blk(void);
void suite_nvme(void);
void suite_xhci(void);
void suite_ahci(void);
void suite_net_slirp(void);
void suite_sandbox(void);
void suite_mevent(void);
void suite_virtio_net(void);
void suite_net_tap(void);
void suite_virtio_console(void);
void suite_storm(void);
void suite_acpi(void);
void suite_mptable(void);
void suite_firmware_platform(void);
void suite_registry(void);
void suite_atkbdc(void);
void suite_fbuf(void);

/* The shared fixture: hostbridge 0:0, amd_hostbridge 0:1, virtio-rnd 0:3,
 * unittest-dev 0:4 and lpc 0:31 with com1 on tcp=127.0.0.1:fx_com1_port; RTC, PM,
 * the keyboard and the static ports registered; a fake VM of 3 GiB low and 1 GiB
 * high memory. */
#define FX_LOWMEM	(3ULL << 30)
#define FX_HIGHMEM	(1ULL << 30)
#define FX_DEV_SLOT	4
#define FX_LPC_SLOT	31
extern struct vmctx *fx_ctx;
extern bool fx_ready;
extern int fx_com1_port;
int fixture_init(void);
void fixture_fini(void);

/* Guest accesses, as a vCPU makes them. The _rc forms return emulate_io's result. */
uint64_t port_in(uint16_t port, int size);
void port_out(uint16_t port, int size, uint64_t val);
int port_rc(bool write, uint16_t port, int size, uint64_t *val);
uint64_t mmio_in(uint64_t addr, int size);
void mmio_out(uint64_t addr, int size, uint64_t val);
int mmio_rc(bool write, uint64_t addr, int size, uint64_t *val);
/* Configuration space through 0xCF8/0xCFC and through ECAM. */
uint32_t cfg_in(int bus, int slot, int func, int reg, int size);
void cfg_out(int bus, int slot, int func, int reg, int size, uint32_t val);
uint32_t ecam_in(int bus, int slot, int func, int reg, int size);
void ecam_out(int bus, int slot, int func, int reg, int size, uint32_t val);

/* Runs fn in a child process and returns its wait status (-1 if fork failed).
 * quiet: the child's stdout and stderr go to /dev/null. */
int run_in_child(void (*fn)(void *), void *arg, bool quiet);
/* Exit statuses of such a child, besides 0 (fine) and ASan's 1: */
#define CHILD_WRONG	2	/* it checked something and found it wrong */
#define CHILD_UBSAN	3	/* UBSan reported while fn ran */
/* True when status is a clean exit 0; else why says what went wrong. */
bool child_ok(int status, char *why, size_t len);
/* A port on 127.0.0.1 nothing is bound to just now (SOCK_STREAM or SOCK_DGRAM); -1 on error. */
int free_port(int type);
/* A PCI device made as pci_parse_slot and init_pci would make it, outside the
 * fixture's bus: emu's -s options opts (may be NULL) into node, then its init.
 * NULL when the options or the init refuse. */
struct pci_devinst;
struct pci_devemu;
const struct pci_devemu *unit_pci_emu(const char *name);
struct pci_devinst *unit_pci_create(const char *emu, int slot, const char *node, const char *opts);
/* Takes a device off the bus: its registered BARs out of the I/O dispatch (without
 * telling the device), so that later suites, the random storm's among them, never
 * reach it, and its threads stopped (pe_deinit), so that none outlives its suite:
 * a child a later test forks would otherwise find them in LeakSanitizer's list. */
void unit_pci_remove(struct pci_devinst *pi);
/* unit_pci_remove on every device unit_pci_create made that is still there. */
void unit_pci_remove_all(void);
/* A legacy virtio device reset through its I/O BAR (BAR 0), and checked: status
 * and queue 0's PFN read back 0. */
void unit_virtio_reset(struct pci_devinst *pi);
/* unit_pci_remove, then checks that the I/O BAR (BAR 0) reaches nothing. */
void unit_virtio_remove(struct pci_devinst *pi);
/* A temporary file with len bytes of a pattern; the caller unlinks and frees the path. */
char *make_temp_file(size_t len, uint8_t seed);

#endif
