/* CFI flash (Intel/Sharp "command set 0001") as QEMU's pflash presents it to
 * OVMF: reads return the array until a command selects the status register,
 * the identifier codes or the CFI query table; bytes are programmed with
 * 0x10/0x40 and 4 KiB blocks erased with 0x20 then 0xD0; 0xFF returns to the
 * array. A program stores the byte as given (QEMU does the same; real NOR
 * could only clear bits). Nothing is ever locked. Every access traps: the
 * store is small and firmware touches it rarely. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "iodispatch.h"
#include "pflash.h"
#include "util.h"

#define CMD_READ_ARRAY	0xff
#define CMD_PROGRAM	0x10
#define CMD_PROGRAM_ALT	0x40
#define CMD_ERASE	0x20
#define CMD_ERASE_ALT	0x28
#define CMD_CONFIRM	0xd0
#define CMD_CLEAR_SR	0x50
#define CMD_LOCK_SETUP	0x60
#define CMD_READ_SR	0x70
#define CMD_READ_ID	0x90
#define CMD_CFI_QUERY	0x98

#define SR_READY	0x80
#define SR_ERASE_ERR	0x20
#define SR_PROGRAM_ERR	0x10

#define MFR_INTEL	0x89
#define DEV_ID		0x18

enum mode { M_ARRAY, M_STATUS, M_ID, M_CFI };

struct pflash {
	pthread_mutex_t mtx;
	uint8_t *mem;
	size_t len;
	uint64_t base;
	enum mode mode;
	uint8_t pending;	/* the first cycle of a two-cycle command, or 0 */
	uint8_t status;
	uint8_t cfi[0x31];
};

static void build_cfi(struct pflash *fl)
{
	uint8_t *q = fl->cfi;
	size_t blocks = fl->len / PFLASH_BLOCK;
	int n = 0;

	while (((size_t)1 << n) < fl->len)
		n++;
	memcpy(q + 0x10, "QRY", 3);
	le_put(q + 0x13, 0x0001, 2);	/* Intel/Sharp command set */
	q[0x1b] = 0x45;			/* Vcc 4.5-5.5 V, no Vpp */
	q[0x1c] = 0x55;
	q[0x1f] = 7;			/* typical byte program 2^7 us */
	q[0x21] = 10;			/* typical block erase 2^10 ms */
	q[0x23] = 4;			/* maximum: 2^4 times typical */
	q[0x25] = 4;
	q[0x27] = (uint8_t)n;		/* size, 2^n bytes (rounded up) */
	q[0x2c] = 1;			/* one erase block region: */
	le_put(q + 0x2d, blocks - 1, 2);	/* ... blocks - 1 */
	le_put(q + 0x2f, PFLASH_BLOCK / 256, 2);	/* ... of 256-byte units */
}

static uint8_t read_byte(struct pflash *fl, uint64_t off)
{
	switch (fl->mode) {
	case M_ARRAY:
		return fl->mem[off];
	case M_STATUS:
		return fl->status;
	case M_ID:
		switch (off % PFLASH_BLOCK) {
		case 0: return MFR_INTEL;
		case 1: return DEV_ID;
		default: return 0;	/* block lock status: unlocked */
		}
	case M_CFI:
		return (off & 0xff) < sizeof(fl->cfi) ? fl->cfi[off & 0xff] : 0;
	}
	return 0xff;
}

static void command(struct pflash *fl, uint64_t off, int size, uint64_t val)
{
	uint8_t cmd = (uint8_t)val;

	if (fl->pending == CMD_PROGRAM) {
		/* The data cycle: as wide as the write. */
		memcpy(fl->mem + off, &val, (size_t)size);
		fl->status |= SR_READY;
		fl->pending = 0;
		fl->mode = M_STATUS;
		return;
	}
	if (fl->pending == CMD_ERASE) {
		fl->pending = 0;
		if (cmd == CMD_CONFIRM) {
			memset(fl->mem + off / PFLASH_BLOCK * PFLASH_BLOCK, 0xff, PFLASH_BLOCK);
			fl->status |= SR_READY;
			fl->mode = M_STATUS;
			return;
		}
		if (cmd != CMD_READ_ARRAY) {
			fl->status |= SR_ERASE_ERR | SR_PROGRAM_ERR;	/* sequence error */
			fl->mode = M_STATUS;
			return;
		}
	}
	if (fl->pending == CMD_LOCK_SETUP) {
		/* Lock, unlock, lock-down: nothing is locked here. */
		fl->pending = 0;
		fl->status |= SR_READY;
		fl->mode = M_STATUS;
		return;
	}
	switch (cmd) {
	case 0x00:		/* QEMU's reset value of the command register */
	case CMD_READ_ARRAY:
		fl->mode = M_ARRAY;
		break;
	case CMD_PROGRAM:
	case CMD_PROGRAM_ALT:
		fl->pending = CMD_PROGRAM;
		fl->mode = M_STATUS;
		break;
	case CMD_ERASE:
	case CMD_ERASE_ALT:
		fl->pending = CMD_ERASE;
		fl->mode = M_STATUS;
		break;
	case CMD_LOCK_SETUP:
		fl->pending = CMD_LOCK_SETUP;
		fl->mode = M_STATUS;
		break;
	case CMD_CLEAR_SR:
		/* As QEMU: the status clears and the array reads again. */
		fl->status = 0;
		fl->mode = M_ARRAY;
		break;
	case CMD_READ_SR:
		fl->mode = M_STATUS;
		break;
	case CMD_READ_ID:
		fl->mode = M_ID;
		break;
	case CMD_CFI_QUERY:
		fl->mode = M_CFI;
		break;
	default:		/* buffered writes and the rest: a sequence error */
		fl->status |= SR_ERASE_ERR | SR_PROGRAM_ERR;
		fl->mode = M_STATUS;
		break;
	}
}

int pflash_access(struct pflash *fl, bool write, uint64_t off, int size, uint64_t *val)
{
	if (size < 1 || size > 8 || off >= fl->len || fl->len - off < (uint64_t)size) {
		if (!write)
			*val = ~0ULL;
		return 0;
	}
	pthread_mutex_lock(&fl->mtx);
	if (write) {
		command(fl, off, size, *val);
	} else {
		uint64_t v = 0;

		for (int i = size - 1; i >= 0; i--)
			v = v << 8 | read_byte(fl, off + (uint64_t)i);
		*val = v;
	}
	pthread_mutex_unlock(&fl->mtx);
	return 0;
}

static int pflash_mmio(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	struct pflash *fl = arg;

	return pflash_access(fl, write, addr - fl->base, size, val);
}

static void pflash_free(void *arg)
{
	struct pflash *fl = arg;

	pthread_mutex_destroy(&fl->mtx);
	free(fl);
}

struct pflash *pflash_create(const char *name, uint8_t *mem, size_t len, uint64_t base)
{
	struct pflash *fl = calloc(1, sizeof(*fl));
	struct io_range r;

	if (fl == NULL || len == 0 || len % PFLASH_BLOCK != 0) {
		warnx("%s: a flash of %zu bytes is not whole 4 KiB blocks", name, len);
		free(fl);
		return NULL;
	}
	pthread_mutex_init(&fl->mtx, NULL);
	fl->mem = mem;
	fl->len = len;
	fl->base = base;
	fl->mode = M_ARRAY;
	/* QEMU's status reads 0 until an operation completes (real parts show
	 * SR.7, ready), and OVMF's flash probe wants exactly that 0. */
	fl->status = 0;
	build_cfi(fl);
	r = (struct io_range){ .name = name, .base = base, .size = len, .handler = pflash_mmio,
	    .arg = fl, .release = pflash_free };
	if (register_io(IO_MMIO, &r) != 0) {
		pthread_mutex_destroy(&fl->mtx);
		free(fl);
		return NULL;
	}
	return fl;
}

void pflash_destroy(struct pflash *fl)
{
	if (fl == NULL)
		return;
	/* fl goes once no vCPU is in pflash_mmio any more (the range's release). */
	if (unregister_io(IO_MMIO, fl->base) != 0)
		pflash_free(fl);
}
