/* libFuzzer target: a guest that issues any AHCI command it likes. An AHCI
 * controller with a disk (port 0) and a CD-ROM (port 1) on scratch images; the
 * input picks the port, the command slot, whether the command is also marked in
 * SActive (NCQ), the command header (FIS length, ATAPI/write bits, PRDT length),
 * optionally the command table's address, the command FIS, the ATAPI packet and
 * the PRDT (addresses folded into twice the guest RAM, so about half of them
 * lie outside it); the rest lands where the buffers may point. The command is
 * issued through the BAR and the event loop runs until the slot is done (or the
 * port reports a fatal error). Nothing may crash, read or write outside guest
 * RAM, or hang: ASan and UBSan watch, and a slot still busy after 5 s aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fake_vmmapi.h"
#include "mevent.h"
#include "pci_emul.h"

#define RAM_SIZE	(1 << 20)
#define CLB_GPA(p)	(0x1000 + 0x400 * (p))
#define FB_GPA(p)	(0x2000 + 0x100 * (p))
#define CT_GPA		0x10000
#define SCATTER_GPA	0x20000
#define DISK_BYTES	(64 * 1024)
#define PX(p, r)	(0x100 + 0x80 * (p) + (r))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static struct pci_devinst *pi;

static void wr(int off, uint32_t v)
{
	pi->pi_d->pe_barwrite(pi, 5, (uint64_t)off, 4, v);
}

static uint32_t rd(int off)
{
	return (uint32_t)pi->pi_d->pe_barread(pi, 5, (uint64_t)off, 4);
}

static void setup(void)
{
	struct vmctx *ctx = fake_vm_create(RAM_SIZE, 0);
	char disk[] = "/tmp/fuzz-ahci-hd-XXXXXX", iso[] = "/tmp/fuzz-ahci-cd-XXXXXX", spec[128];
	int fd = mkstemp(disk), fd2 = mkstemp(iso);

	ram = calloc(1, RAM_SIZE);
	if (ctx == NULL || ram == NULL || fd < 0 || fd2 < 0 || ftruncate(fd, DISK_BYTES) != 0 ||
	    ftruncate(fd2, DISK_BYTES) != 0 || mevent_init() != 0)
		abort();
	close(fd);
	close(fd2);
	snprintf(spec, sizeof(spec), "4,ahci,hd:%s,cd:%s", disk, iso);
	if (pci_parse_slot(spec) != 0 || init_pci(ctx) != 0)
		abort();
	unlink(disk);			/* the device holds them open */
	unlink(iso);
	fake_vm_set_ram(ctx, ram, RAM_SIZE);
	pi = pci_find(0, 4, 0);
	if (pi == NULL)
		abort();
}

static size_t take(const uint8_t **data, size_t *size, uint8_t *to, size_t max)
{
	size_t n = *size < max ? *size : max;

	memcpy(to, *data, n);
	*data += n;
	*size -= n;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t ctl[2] = { 0 }, hdr[12] = { 0 }, *tbl;
	uint32_t dw0, bit, nprd;
	int port, slot, i;

	if (ram == NULL)
		setup();
	take(&data, &size, ctl, sizeof(ctl));
	take(&data, &size, hdr, sizeof(hdr));
	port = ctl[0] & 1;
	slot = ctl[1] & 31;
	bit = 1u << slot;

	/* A fresh controller and port. */
	wr(0x04, 1);
	wr(0x04, (ctl[0] & 8) ? 2 : 0);		/* interrupts on or off */
	wr(PX(port, 0x14), (ctl[0] & 8) ? ~0u : 0);
	memset(ram, 0, RAM_SIZE);
	wr(PX(port, 0x00), (ctl[0] & 4) ? (uint32_t)le_get(hdr + 4, 4) : CLB_GPA(port));
	wr(PX(port, 0x08), (ctl[0] & 16) ? (uint32_t)le_get(hdr + 8, 4) : FB_GPA(port));
	wr(PX(port, 0x18), 1u << 4);
	wr(PX(port, 0x18), 1u << 4 | 1u << 0);

	/* The command header, its table (FIS, packet, PRDT) and the rest. */
	dw0 = (uint32_t)le_get(hdr, 4);
	tbl = ram + CT_GPA;
	take(&data, &size, tbl, 0x80);
	nprd = (uint32_t)(size / 16) < 256 ? (uint32_t)(size / 16) : 256;
	for (uint32_t k = 0; k < nprd; k++) {
		uint8_t e[16];

		take(&data, &size, e, sizeof(e));
		le_put(e, le_get(e, 8) & (2ULL * RAM_SIZE - 1), 8);
		memcpy(tbl + 0x80 + 16 * k, e, sizeof(e));
	}
	take(&data, &size, ram + SCATTER_GPA, RAM_SIZE - SCATTER_GPA);
	if (!(ctl[0] & 2))
		dw0 = (dw0 & 0xffff) | (nprd << 16);	/* else the input's PRDT length */
	if ((ctl[0] & 4) == 0) {
		uint8_t *h = ram + CLB_GPA(port) + 32 * slot;

		le_put(h, dw0, 4);
		le_put(h + 8, (ctl[0] & 32) ? le_get(hdr + 4, 4) & (2ULL * RAM_SIZE - 1) : CT_GPA, 8);
	}
	if (ctl[0] & 64)
		wr(PX(port, 0x34), bit);		/* SActive, as for NCQ */
	wr(PX(port, 0x38), bit);
	/* Until the slot's CI bit clears or the port stops with a fatal error; then,
	 * for a queued command, a while for its SActive bit (a command that is not
	 * NCQ leaves a bit the guest set there, as SeaBIOS does): until a poll finds
	 * nothing more to complete for 1 ms, or an error stopped the port. */
	for (i = 0; i < 5000; i++) {
		if ((rd(PX(port, 0x38)) & bit) == 0 || (rd(PX(port, 0x10)) & (1u << 29)))
			break;
		mevent_poll(1);
	}
	if (i == 5000)
		abort();			/* a command that never ends */
	for (i = 0; i < 50 && (tbl[2] == 0x60 || tbl[2] == 0x61) &&
	    (rd(PX(port, 0x34)) & bit) != 0 && (rd(PX(port, 0x10)) & (3u << 29)) == 0; i++)
		if (mevent_poll(1) == 0)
			break;
	/* Stop the port: nothing in flight may touch RAM after this. */
	wr(0x04, 1);
	mevent_poll(0);
	return 0;
}
