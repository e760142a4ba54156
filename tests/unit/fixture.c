/* The shared device fixture (devices keep global state and register their
 * ranges once) and the helpers tests use to act as a vCPU. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/console.h"
#include "devices/atkbdc.h"
#include "config.h"
#include "fake_vmmapi.h"
#include "iodispatch.h"
#include "devices/lpc.h"
#include "mevent.h"
#include "pci_emul.h"
#include "devices/pm.h"
#include "devices/rtc.h"
#include "test.h"
#include "virtio.h"

SET_DECLARE(pci_devemu_set, struct pci_devemu);

struct vmctx *fx_ctx;
bool fx_ready;
int fx_com1_port;

void test_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 31 + seed * 101 + (i >> 9)) ^ seed);
}

bool test_all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

bool test_file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	bool ok = fd >= 0 && pread(fd, buf, len, (off_t)off) == (ssize_t)len;

	if (fd >= 0)
		close(fd);
	return ok;
}

long test_dirty_pages(const char *path, uint64_t off, uint64_t len)
{
	/* cachestat(2), Linux 6.5; the system headers may predate it. */
	struct { uint64_t off, len; } range = { off, len };
	struct { uint64_t cache, dirty, writeback, evicted, recently_evicted; } cs;
	int fd = open(path, O_RDONLY);
	long r = -1;

	if (fd < 0)
		return -1;
	if (syscall(451, fd, &range, &cs, 0) == 0)
		r = (long)(cs.dirty + cs.writeback);
	close(fd);
	return r;
}

int free_port(int type)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, type, 0), port = -1;

	if (s < 0)
		return -1;
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(s);
	return port;
}

int fixture_init(void)
{
	char path[64];

	free_config();
	fake_reset_irqs();
	fake_reset_msi();
	fake_reset_slots();
	fake_reset_exit();
	fx_ctx = fake_vm_create(FX_LOWMEM, FX_HIGHMEM);
	fx_com1_port = free_port(SOCK_STREAM);
	if (fx_ctx == NULL || fx_com1_port < 0 || mevent_init() != 0) {
		fprintf(stderr, "fixture: no fake VM, free TCP port or epoll\n");
		return -1;
	}
	snprintf(path, sizeof(path), "com1,tcp=127.0.0.1:%d", fx_com1_port);
	if (pci_parse_slot("0,hostbridge") != 0 || pci_parse_slot("1,amd_hostbridge") != 0 ||
	    pci_parse_slot("4,unittest-dev,foo=bar,flag") != 0 || pci_parse_slot("31,lpc") != 0 ||
	    pci_parse_slot("3,virtio-rnd") != 0 ||
	    lpc_device_parse(path) != 0) {
		fprintf(stderr, "fixture: configuration refused\n");
		return -1;
	}
	init_inout_ports();
	if (rtc_init(fx_ctx, 2) != 0 || pm_init(fx_ctx) != 0 || init_pci(fx_ctx) != 0 ||
	    atkbdc_init(fx_ctx) != 0) {
		fprintf(stderr, "fixture: device initialisation failed\n");
		return -1;
	}
	fx_ready = true;
	return 0;
}

void fixture_fini(void)
{
	unit_pci_remove_all();
	console_cleanup();
}

int port_rc(bool write, uint16_t port, int size, uint64_t *val)
{
	return emulate_io(IO_PORT, write, port, size, val);
}

uint64_t port_in(uint16_t port, int size)
{
	uint64_t v = 0;

	emulate_io(IO_PORT, false, port, size, &v);
	return v;
}

void port_out(uint16_t port, int size, uint64_t val)
{
	emulate_io(IO_PORT, true, port, size, &val);
}

int mmio_rc(bool write, uint64_t addr, int size, uint64_t *val)
{
	return emulate_io(IO_MMIO, write, addr, size, val);
}

uint64_t mmio_in(uint64_t addr, int size)
{
	uint64_t v = 0;

	emulate_io(IO_MMIO, false, addr, size, &v);
	return v;
}

void mmio_out(uint64_t addr, int size, uint64_t val)
{
	emulate_io(IO_MMIO, true, addr, size, &val);
}

static uint32_t cf8_addr(int bus, int slot, int func, int reg)
{
	return 0x80000000u | (uint32_t)bus << 16 | (uint32_t)slot << 11 | (uint32_t)func << 8 |
	    ((uint32_t)reg & 0xfc);
}

uint32_t cfg_in(int bus, int slot, int func, int reg, int size)
{
	port_out(0xcf8, 4, cf8_addr(bus, slot, func, reg));
	return (uint32_t)port_in((uint16_t)(0xcfc + (reg & 3)), size);
}

void cfg_out(int bus, int slot, int func, int reg, int size, uint32_t val)
{
	port_out(0xcf8, 4, cf8_addr(bus, slot, func, reg));
	port_out((uint16_t)(0xcfc + (reg & 3)), size, val);
}

static uint64_t ecam_addr(int bus, int slot, int func, int reg)
{
	return PCI_ECAM_BASE + ((uint64_t)bus << 20 | (uint64_t)slot << 15 | (uint64_t)func << 12 |
	    (uint64_t)reg);
}

uint32_t ecam_in(int bus, int slot, int func, int reg, int size)
{
	return (uint32_t)mmio_in(ecam_addr(bus, slot, func, reg), size);
}

void ecam_out(int bus, int slot, int func, int reg, int size, uint32_t val)
{
	mmio_out(ecam_addr(bus, slot, func, reg), size, val);
}

int run_in_child(void (*fn)(void *), void *arg, bool quiet)
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
				close(fd);
			}
		}
		int ub = test_ubsan_reports();

		fn(arg);
		fflush(stdout);
		_exit(test_ubsan_reports() != ub ? CHILD_UBSAN : 0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

bool child_ok(int status, char *why, size_t len)
{
	if (status == -1)
		snprintf(why, len, "could not fork");
	else if (WIFSIGNALED(status))
		snprintf(why, len, "the child died of signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) == CHILD_WRONG)
		snprintf(why, len, "wrong behaviour (details on stderr)");
	else if (WEXITSTATUS(status) == CHILD_UBSAN)
		snprintf(why, len, "UBSan reported undefined behaviour (see stderr)");
	else if (WEXITSTATUS(status) != 0)
		snprintf(why, len, "the child exited with %d: an AddressSanitizer report (see stderr)",
		    WEXITSTATUS(status));
	else
		return true;
	return false;
}

char *make_temp_file(size_t len, uint8_t seed)
{
	char *path = strdup("/tmp/bhyve-unit-XXXXXX");
	int fd;

	if (path == NULL)
		return NULL;
	fd = mkstemp(path);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	for (size_t off = 0; off < len;) {
		uint8_t buf[4096];
		size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)(seed + (off + i) * 7);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			unlink(path);
			free(path);
			return NULL;
		}
		off += n;
	}
	close(fd);
	return path;
}

const struct pci_devemu *unit_pci_emu(const char *name)
{
	struct pci_devemu **pdp;

	SET_FOREACH(pdp, pci_devemu_set)
		if (strcmp((*pdp)->pe_emu, name) == 0)
			return *pdp;
	return NULL;
}

/* Every device unit_pci_create made (never freed: the suites keep pointers to
 * them, and LeakSanitizer finds them here), and whether it has been removed. */
static struct {
	struct pci_devinst *pi;
	bool removed;
} unit_devs[256];
static int unit_ndevs;

void unit_pci_remove(struct pci_devinst *pi)
{
	for (int b = 0; b <= PCI_BARMAX; b++) {
		struct pcibar *bar = &pi->pi_bar[b];

		if (!bar->registered)
			continue;
		unregister_io(bar->type == PCIBAR_IO ? IO_PORT : IO_MMIO, bar->addr);
		bar->registered = false;
	}
	for (int i = 0; i < unit_ndevs; i++)
		if (unit_devs[i].pi == pi) {
			if (unit_devs[i].removed)
				return;
			unit_devs[i].removed = true;
		}
	if (pi->pi_d->pe_deinit != NULL)
		pi->pi_d->pe_deinit(pi);
}

void unit_virtio_reset(struct pci_devinst *pi)
{
	uint16_t io = (uint16_t)pi->pi_bar[0].addr;

	port_out(io + VIRTIO_PCI_STATUS, 1, 0);
	CHECK_EQ(port_in(io + VIRTIO_PCI_STATUS, 1), 0);
	port_out(io + VIRTIO_PCI_QUEUE_SEL, 2, 0);
	CHECK_EQ(port_in(io + VIRTIO_PCI_QUEUE_PFN, 4), 0);
}

void unit_virtio_remove(struct pci_devinst *pi)
{
	uint16_t io = (uint16_t)pi->pi_bar[0].addr;
	uint64_t v = 0;

	unit_pci_remove(pi);
	CHECK_EQ(port_rc(false, io, 4, &v), 1);
	CHECK_EQ(v, 0xffffffff);
}

void unit_pci_remove_all(void)
{
	for (int i = 0; i < unit_ndevs; i++)
		unit_pci_remove(unit_devs[i].pi);
}

struct pci_devinst *unit_pci_create(const char *emu, int slot, const char *node, const char *opts)
{
	const struct pci_devemu *pe = unit_pci_emu(emu);
	struct pci_devinst *pi;

	if (pe == NULL)
		return NULL;
	set_config_value_node(node, "device", emu);
	if (opts != NULL && pe->pe_legacy_config(node, opts) != 0)
		return NULL;
	pi = xcalloc(1, sizeof(*pi));
	pi->pi_d = pe;
	pi->pi_vmctx = fx_ctx;
	pi->pi_slot = (uint8_t)slot;
	pthread_mutex_init(&pi->pi_lock, NULL);
	snprintf(pi->pi_name, sizeof(pi->pi_name), "%s-pci-%d", emu, slot);
	pci_set_cfgdata8(pi, PCIR_INTLINE, 255);
	if (pe->pe_init(pi, node) != 0) {
		pthread_mutex_destroy(&pi->pi_lock);
		free(pi);
		return NULL;
	}
	if (unit_ndevs < (int)(sizeof(unit_devs) / sizeof(unit_devs[0])))
		unit_devs[unit_ndevs++].pi = pi;
	else
		fprintf(stderr, "unit_pci_create: more than %d devices; %s's threads are not stopped\n",
		    unit_ndevs, pi->pi_name);
	return pi;
}
