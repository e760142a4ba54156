/* The op stream and fake VM the device fuzzers share (fuzz_common.h). */
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "mevent.h"
#include "pci_emul.h"
#include "virtio.h"

uint8_t *fz_ram;
struct vmctx *fz_ctx;

static struct fz_region regions[FZ_MAX_REGIONS];
static int nregions;

void fz_vm(void)
{
	fz_ctx = fake_vm_create(FZ_RAM_SIZE, 0);
	fz_ram = calloc(1, FZ_RAM_SIZE);
	if (fz_ctx == NULL || fz_ram == NULL || mevent_init() != 0)
		abort();
	fake_vm_set_ram(fz_ctx, fz_ram, FZ_RAM_SIZE);
	init_inout_ports();
}

void fz_pci(const char *const *specs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pci_parse_slot(specs[i]) != 0) {
			fprintf(stderr, "fuzz: -s %s refused\n", specs[i]);
			abort();
		}
	if (init_pci(fz_ctx) != 0)
		abort();
}

void fz_add(struct fz_region r)
{
	if (nregions == FZ_MAX_REGIONS || r.size == 0)
		abort();
	regions[nregions++] = r;
}

void fz_add_port(uint64_t base, uint64_t size)
{
	fz_add((struct fz_region){ .kind = FZ_PORT, .base = base, .size = size });
}

void fz_add_mmio(uint64_t base, uint64_t size)
{
	fz_add((struct fz_region){ .kind = FZ_MMIO, .base = base, .size = size });
}

void fz_add_bars(struct pci_devinst *pi)
{
	for (int b = 0; b <= PCI_BARMAX; b++)
		if (pi->pi_bar[b].type != PCIBAR_NONE && pi->pi_bar[b].type != PCIBAR_MEMHI64)
			fz_add((struct fz_region){ .kind = FZ_BAR, .pi = pi, .bar = b,
			    .size = pi->pi_bar[b].size });
}

void fz_add_cfg(struct pci_devinst *pi)
{
	fz_add((struct fz_region){ .kind = FZ_CFG, .pi = pi, .size = PCI_CFG_SIZE });
}

void fz_clear_regions(void)
{
	nregions = 0;
}

static struct saved_pci {
	struct pci_devinst *pi;
	uint32_t cmd, bar[PCI_BARMAX + 1];
	uint16_t msictl, msixctl;
} saved[FZ_MAX_REGIONS];
static int nsaved;

void fz_pci_save(struct pci_devinst *pi)
{
	struct saved_pci *sp = &saved[nsaved];

	if (pi == NULL || nsaved == FZ_MAX_REGIONS)
		abort();
	nsaved++;
	sp->pi = pi;
	sp->cmd = pci_get_cfgdata16(pi, PCIR_COMMAND);
	for (int b = 0; b <= PCI_BARMAX; b++)
		sp->bar[b] = pci_get_cfgdata32(pi, PCIR_BAR(b));
	if (pi->pi_msi.capoff != 0)
		sp->msictl = pci_get_cfgdata16(pi, pi->pi_msi.capoff + 2);
	if (pi->pi_msix.capoff != 0)
		sp->msixctl = pci_get_cfgdata16(pi, pi->pi_msix.capoff + 2);
}

void fz_pci_restore(void)
{
	for (int i = 0; i < nsaved; i++) {
		struct saved_pci *sp = &saved[i];
		struct fz_region cfg = { .kind = FZ_CFG, .pi = sp->pi, .size = PCI_CFG_SIZE };
		uint64_t v = 0;

		fz_access(&cfg, true, PCIR_COMMAND, 2, &v);
		for (int b = 0; b <= PCI_BARMAX; b++) {
			v = sp->bar[b];
			fz_access(&cfg, true, (uint64_t)PCIR_BAR(b), 4, &v);
		}
		if (sp->pi->pi_msi.capoff != 0) {
			v = sp->msictl;
			fz_access(&cfg, true, (uint64_t)sp->pi->pi_msi.capoff + 2, 2, &v);
		}
		if (sp->pi->pi_msix.capoff != 0) {
			v = sp->msixctl;
			fz_access(&cfg, true, (uint64_t)sp->pi->pi_msix.capoff + 2, 2, &v);
		}
		v = sp->cmd;
		fz_access(&cfg, true, PCIR_COMMAND, 2, &v);
	}
}

void fz_virtio_reset(struct pci_devinst *pi)
{
	pi->pi_d->pe_barwrite(pi, VIRTIO_MODERN_BAR, VIRTIO_COMMON_STATUS, 1, 0);
	while (mevent_poll(0) > 0)
		;
}

/* An interface up (and running) in the current namespace. */
void fz_link_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		abort();
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
		abort();
	close(s);
}

struct pci_devinst *fz_net_setup(const char *be)
{
	char spec[64];
	const char *specs[] = { spec };
	struct pci_devinst *pi;

	if (unshare(CLONE_NEWNET) != 0) {
		perror("fuzz: unshare(CLONE_NEWNET) (needs root or user namespaces)");
		abort();
	}
	fz_link_up("lo");
	snprintf(spec, sizeof(spec), "5,virtio-net,backend=%s", be);
	fz_pci(specs, 1);
	pi = pci_find(0, 5, 0);
	fz_add_bars(pi);
	fz_add_cfg(pi);
	fz_pci_save(pi);
	/* The transmit thread and the backend run on their own. */
	return pi;
}

uint64_t fz_take(struct fz_input *in, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes && in->n > 0; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

size_t fz_take_buf(struct fz_input *in, void *to, size_t max)
{
	size_t n = in->n < max ? in->n : max;

	memcpy(to, in->p, n);
	in->p += n;
	in->n -= n;
	return n;
}

int fz_poll_sleep_us;

void fz_poll(int rounds)
{
	const struct timespec ts = { 0, 1000L * fz_poll_sleep_us };

	for (int i = 0; i < rounds; i++) {
		if (i > 0 && fz_poll_sleep_us > 0)
			nanosleep(&ts, NULL);
		mevent_poll(0);
	}
}

/* The other threads' stat files, kept open (a stat file reads afresh from offset
 * 0), and the task directory, read again on each check for threads that came. */
#define FZ_MAX_TASKS 32
static struct {
	int tid, fd;
} tasks[FZ_MAX_TASKS];
static int ntasks;
static DIR *taskdir;

static void tasks_rescan(void)
{
	struct dirent *e;
	int self = gettid();

	if (taskdir == NULL && (taskdir = opendir("/proc/self/task")) == NULL)
		abort();
	rewinddir(taskdir);
	while ((e = readdir(taskdir)) != NULL) {
		int tid = atoi(e->d_name), i;
		char path[64];

		if (tid <= 0 || tid == self)
			continue;
		for (i = 0; i < ntasks && tasks[i].tid != tid; i++)
			;
		if (i < ntasks || ntasks == FZ_MAX_TASKS)
			continue;
		snprintf(path, sizeof(path), "%d/stat", tid);
		tasks[ntasks].fd = openat(dirfd(taskdir), path, O_RDONLY | O_CLOEXEC);
		if (tasks[ntasks].fd >= 0)
			tasks[ntasks++].tid = tid;
	}
}

/* Every other task asleep (S) or gone; a gone one is forgotten. */
static bool others_asleep(void)
{
	tasks_rescan();
	for (int i = 0; i < ntasks; i++) {
		char buf[256], *p;
		ssize_t n = pread(tasks[i].fd, buf, sizeof(buf) - 1, 0);

		if (n <= 0) {
			close(tasks[i].fd);
			tasks[i--] = tasks[--ntasks];
			continue;
		}
		buf[n] = '\0';
		p = strrchr(buf, ')');	/* "tid (comm) S ..." */
		if (p == NULL || p[1] != ' ' || p[2] != 'S')
			return false;
	}
	return true;
}

/* Writes the input made (and resets): what can wake a device's thread. The
 * count when the other threads were last all found asleep: until the input
 * writes again, they have nothing new to do (timers aside). */
static unsigned long writes, writes_when_idle = ~0UL;

void fz_wait_idle(int max_ms)
{
	struct timespec t0, t;

	if (writes == writes_when_idle)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!others_asleep()) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= max_ms)
			return;
		sched_yield();
	}
	writes_when_idle = writes;
}

char *fz_temp_file(size_t len)
{
	char *path = strdup("/tmp/bhyve-fuzz-XXXXXX");
	int fd = path != NULL ? mkstemp(path) : -1;

	if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
		abort();
	close(fd);
	return path;
}

int fz_port_io(bool write, uint64_t port, int size, uint64_t *val)
{
	return emulate_io(IO_PORT, write, port, size == 8 ? 4 : size, val);
}

int fz_access(const struct fz_region *r, bool write, uint64_t off, int size, uint64_t *val)
{
	const struct pci_devinst *pi = r->pi;
	uint64_t a;

	switch (r->kind) {
	case FZ_PORT:
		return fz_port_io(write, r->base + off, size, val);
	case FZ_MMIO:
		return emulate_io(IO_MMIO, write, r->base + off, size, val);
	case FZ_BAR:
		a = pi->pi_bar[r->bar].addr + off;
		if (pi->pi_bar[r->bar].type == PCIBAR_IO)
			return fz_port_io(write, a, size, val);
		return emulate_io(IO_MMIO, write, a, size, val);
	case FZ_CFG:
		if (off < 256) {
			uint64_t cf8 = 0x80000000u | (uint32_t)pi->pi_bus << 16 |
			    (uint32_t)pi->pi_slot << 11 | (uint32_t)pi->pi_func << 8 | (off & 0xfc);

			emulate_io(IO_PORT, true, 0xcf8, 4, &cf8);
			return fz_port_io(write, 0xcfc + (off & 3), size, val);
		}
		if (pci_ecam_base() == 0)
			return 1;
		a = pci_ecam_base() + ((uint64_t)pi->pi_bus << 20 | (uint64_t)pi->pi_slot << 15 |
		    (uint64_t)pi->pi_func << 12 | off);
		return emulate_io(IO_MMIO, write, a, size, val);
	case FZ_CALL:
		return r->call(write, off, size, val);
	}
	return 1;
}

int fz_run(const struct fz_target *t, const uint8_t *data, size_t size)
{
	static bool ready;
	static size_t dirty_lo = FZ_RAM_SIZE, dirty_hi;
	struct fz_input in = { data, size };

	if (!ready) {
		/* As bin/bhyve (bhyverun.c): a write to a socket whose peer is gone
		 * fails with EPIPE rather than killing the process. libslirp sends on
		 * its TCP sockets without MSG_NOSIGNAL, and libFuzzer does not catch
		 * SIGPIPE: such a death would leave no report at all. */
		signal(SIGPIPE, SIG_IGN);
		fz_vm();
		t->setup();
		if (nregions == 0)
			abort();
		ready = true;
	}
	/* Fresh RAM: all of it where the device writes there, else what fills touched. */
	if (t->dma)
		memset(fz_ram, 0, FZ_RAM_SIZE);
	else if (dirty_hi > dirty_lo)
		memset(fz_ram + dirty_lo, 0, dirty_hi - dirty_lo);
	dirty_lo = FZ_RAM_SIZE;
	dirty_hi = 0;
	writes++;
	if (t->reset != NULL)
		t->reset();
	for (int ops = 0; ops < FZ_MAX_OPS && in.n > 0; ops++) {
		uint8_t op = (uint8_t)fz_take(&in, 1);
		const struct fz_region *r = &regions[(op >> 5) % nregions];
		int sz = 1 << ((op >> 3) & 3);
		uint64_t off, val, gpa;
		size_t len;

		switch (op & 7) {
		case 0:
		case 5:
		case 1:
		case 6:
		case 7:
			off = fz_take(&in, r->size > 0x10000 ? 4 : 2) % r->size;
			val = (op & 7) == 0 || (op & 7) == 5 ? 0 : fz_take(&in, sz);
			writes += (op & 7) != 0 && (op & 7) != 5;
			fz_access(r, (op & 7) != 0 && (op & 7) != 5, off, sz, &val);
			break;
		case 2:
			gpa = (fz_take(&in, 2) * 16) % FZ_RAM_SIZE;
			len = (size_t)fz_take(&in, 1);
			if (len > FZ_RAM_SIZE - gpa)
				len = FZ_RAM_SIZE - gpa;
			len = fz_take_buf(&in, fz_ram + gpa, len);
			dirty_lo = gpa < dirty_lo ? gpa : dirty_lo;
			dirty_hi = gpa + len > dirty_hi ? gpa + len : dirty_hi;
			break;
		case 3:
			fz_poll(1 + ((op >> 3) & 7));
			break;
		case 4:
			if (t->hook != NULL)
				t->hook(&in, op);
			break;
		}
	}
	if (t->finish != NULL)
		t->finish();
	return 0;
}
