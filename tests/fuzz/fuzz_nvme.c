/* libFuzzer target: an NVMe driver that writes anything it likes into the
 * submission queues, PRPs and registers of an nvme controller (bhyve/devices/nvme.c).
 * The harness enables the controller (admin queues of 16 entries) and creates I/O
 * queue pair 1 as a driver would; then the input supplies:
 *   byte 0: bit 0 picks the namespace (RAM, or a scratch image on worker threads),
 *           bits 1..4 how many admin commands to ring in;
 *   byte 1: how many I/O commands (0..15);
 *   15 I/O and 15 admin submission entries (64 bytes each);
 *   16 register writes (2-byte offset into BAR0, 4-byte value), applied after;
 *   the rest lands in guest RAM from DATA_GPA, where PRPs and lists may point.
 * Completions are never consumed, so full completion queues are reached too. Nothing
 * may crash, touch memory outside guest RAM or hang: ASan and UBSan watch. The
 * controller is reset at the end, which waits for requests in flight. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "iodispatch.h"
#include "mevent.h"
#include "pci_emul.h"

#define RAM_SIZE	(256 << 10)
#define ASQ_GPA		0x1000
#define ACQ_GPA		0x2000
#define IOSQ_GPA	0x3000
#define IOCQ_GPA	0x4000
#define DATA_GPA	0x8000
#define QN		16
#define NCMD		15
#define NREG		16
#define DISK_BYTES	(64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static uint64_t bar0[2];
static uint64_t bar_size[2];

static void wr(int d, uint64_t off, uint32_t v)
{
	uint64_t val = v;

	emulate_io(IO_MMIO, true, bar0[d] + off, 4, &val);
}

static uint32_t rd(int d, uint64_t off)
{
	uint64_t val = 0;

	emulate_io(IO_MMIO, false, bar0[d] + off, 4, &val);
	return (uint32_t)val;
}

static void setup(void)
{
	struct vmctx *ctx = fake_vm_create(RAM_SIZE, 0);
	char disk[] = "/tmp/fuzz-nvme-XXXXXX", spec[96];
	int fd = mkstemp(disk);

	ram = calloc(1, RAM_SIZE);
	if (ctx == NULL || ram == NULL || fd < 0 || ftruncate(fd, DISK_BYTES) != 0 ||
	    mevent_init() != 0)
		abort();
	close(fd);
	if (pci_parse_slot("3,nvme,ram=1,maxq=2,qsz=16,ioslots=4") != 0)
		abort();
	snprintf(spec, sizeof(spec), "4,nvme,%s,maxq=2,qsz=16,ioslots=4,engine=threads", disk);
	if (pci_parse_slot(spec) != 0 || init_pci(ctx) != 0)
		abort();
	unlink(disk);			/* nvme holds it open */
	fake_vm_set_ram(ctx, ram, RAM_SIZE);
	for (int i = 0; i < 2; i++) {
		struct pci_devinst *pi = pci_find(0, 3 + i, 0);

		bar0[i] = pi->pi_bar[0].addr;
		bar_size[i] = pi->pi_bar[0].size;
	}
}

static void take(const uint8_t **data, size_t *size, uint8_t *to, size_t max)
{
	size_t n = *size < max ? *size : max;

	memcpy(to, *data, n);
	memset(to + n, 0, max - n);
	*data += n;
	*size -= n;
}

/* A command the harness itself puts at slot i of the admin queue. */
static void admin_cmd(int i, uint8_t opc, uint64_t prp1, uint32_t cdw10, uint32_t cdw11)
{
	uint8_t *e = ram + ASQ_GPA + 64 * i;

	memset(e, 0, 64);
	e[0] = opc;
	le_put(e + 2, 0xf000 + (uint64_t)i, 2);
	le_put(e + 24, prp1, 8);
	le_put(e + 40, cdw10, 4);
	le_put(e + 44, cdw11, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[2], adm[NCMD * 64], io[NCMD * 64], regs[NREG * 6];
	int d, nadm, nio;

	if (ram == NULL)
		setup();
	/* I/O commands first: short inputs already reach the PRP walk. */
	take(&data, &size, hdr, sizeof(hdr));
	take(&data, &size, io, sizeof(io));
	take(&data, &size, adm, sizeof(adm));
	take(&data, &size, regs, sizeof(regs));
	d = hdr[0] & 1;
	nadm = (hdr[0] >> 1) & 0xf;
	nio = hdr[1] % (NCMD + 1);
	memset(ram, 0, DATA_GPA);
	take(&data, &size, ram + DATA_GPA, RAM_SIZE - DATA_GPA);

	/* A driver's bring-up: admin queues, then CQ 1 and SQ 1. */
	wr(d, 0x14, 0);
	wr(d, 0x24, (QN - 1) << 16 | (QN - 1));
	wr(d, 0x28, ASQ_GPA);
	wr(d, 0x2c, 0);
	wr(d, 0x30, ACQ_GPA);
	wr(d, 0x34, 0);
	wr(d, 0x14, 1 | 6 << 16 | 4 << 20);
	if ((rd(d, 0x1c) & 3) != 1)
		abort();
	admin_cmd(0, 0x05, IOCQ_GPA, (QN - 1) << 16 | 1, 3);
	admin_cmd(1, 0x01, IOSQ_GPA, (QN - 1) << 16 | 1, 1 << 16 | 1);
	wr(d, 0x1000, 2);
	if ((le_get(ram + ACQ_GPA + 16 + 12, 4) >> 17) != 0)
		abort();		/* the queues must be made */

	/* The input's commands, rung in one doorbell each. */
	memcpy(ram + ASQ_GPA + 128, adm, (size_t)nadm * 64);
	memcpy(ram + IOSQ_GPA, io, (size_t)nio * 64);
	if (nio > 0)
		wr(d, 0x1000 + 8, (uint32_t)nio);
	if (nadm > 0)
		wr(d, 0x1000, (uint32_t)(2 + nadm) % QN);
	while (mevent_poll(0) > 0)
		;
	/* Then anything at all in the registers and doorbells. */
	for (int i = 0; i < NREG; i++) {
		uint64_t off = le_get(regs + 6 * i, 2) % bar_size[d];
		uint64_t val = le_get(regs + 6 * i + 2, 4);

		emulate_io(IO_MMIO, true, bar0[d] + (off & ~3ULL), 4, &val);
	}
	while (mevent_poll(0) > 0)
		;
	/* Reset waits for requests in flight; their completions are then dropped. */
	wr(d, 0x14, 0);
	while (mevent_poll(0) > 0)
		;
	return 0;
}
