/* QEMU's fw_cfg at the PC ports: a 16-bit selector at 0x510, a byte-wide data
 * port at 0x511 and the DMA address register at 0x514. Items are numbered
 * blobs; files are items from 0x20 on, listed by name in the directory item.
 * Guest memory is reached only through vm_map_gpa. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fwcfg.h"
#include "iodispatch.h"
#include "util.h"
#include "vmmapi.h"

#define FWCFG_SELECTOR	0x510
#define FWCFG_DATA	0x511
#define FWCFG_DMA	0x514

#define KEY_SIGNATURE	0x0000
#define KEY_ID		0x0001
#define KEY_RAM_SIZE	0x0003
#define KEY_NB_CPUS	0x0005
#define KEY_MAX_CPUS	0x000f
#define KEY_FILE_DIR	0x0019
#define KEY_FILE_FIRST	0x0020
#define KEY_WRITE	0x4000	/* the write channel: the same item, its writes ignored */
#define FWCFG_FILE_MAX	(64u << 20)	/* -f name,file=: read into memory whole */

#define ID_TRADITIONAL	0x01
#define ID_DMA		0x02

#define DMA_ERROR	0x01
#define DMA_READ	0x02
#define DMA_SKIP	0x04
#define DMA_SELECT	0x08
#define DMA_WRITE	0x10
#define DMA_ACCESS_LEN	16	/* be32 control, be32 length, be64 address */

#define NAME_LEN	56	/* a file name with its NUL */
#define DIR_ENTRY_LEN	(4 + 2 + 2 + NAME_LEN)
#define MAX_FILES	256	/* QEMU's default is 32 slots; firmware needs fewer */

struct item {
	uint16_t key;
	uint32_t len;
	uint8_t *data;
};

static struct {
	pthread_mutex_t mtx;
	struct vmctx *ctx;
	struct item *items;
	size_t nitems, cap;
	char names[MAX_FILES][NAME_LEN];
	int nfiles;
	/* Guest-visible state. */
	uint16_t selector;
	uint32_t offset;
	uint32_t dma_high;
} fc = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static const uint8_t dma_signature[8] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };

static struct item *find_item(uint16_t key)
{
	key &= (uint16_t)~KEY_WRITE;
	for (size_t i = 0; i < fc.nitems; i++)
		if (fc.items[i].key == key)
			return &fc.items[i];
	return NULL;
}

/* Takes ownership of data (malloc'ed, or NULL when len is 0). Lock held. */
static void set_item(uint16_t key, uint8_t *data, uint32_t len)
{
	struct item *it = find_item(key);

	if (it == NULL) {
		if (fc.nitems == fc.cap) {
			fc.cap = fc.cap ? 2 * fc.cap : 32;
			fc.items = xrealloc(fc.items, fc.cap * sizeof(*fc.items));
		}
		it = &fc.items[fc.nitems++];
		it->key = key;
		it->data = NULL;
	}
	free(it->data);
	it->data = data;
	it->len = len;
}

static uint8_t *copy_data(const void *data, size_t len)
{
	uint8_t *p;

	if (len == 0)
		return NULL;
	p = xmalloc(len);
	memcpy(p, data, len);
	return p;
}

/* The directory: be32 count, then per file be32 size, be16 select, be16 reserved
 * and the NUL-padded name. Lock held. */
static void rebuild_dir(void)
{
	uint32_t len = 4 + (uint32_t)fc.nfiles * DIR_ENTRY_LEN;
	uint8_t *dir = xcalloc(1, len);

	be_put(dir, (uint32_t)fc.nfiles, 4);
	for (int i = 0; i < fc.nfiles; i++) {
		uint8_t *e = dir + 4 + (size_t)i * DIR_ENTRY_LEN;
		uint16_t key = (uint16_t)(KEY_FILE_FIRST + i);
		const struct item *it = find_item(key);

		be_put(e, it != NULL ? it->len : 0, 4);
		e[4] = (uint8_t)(key >> 8);
		e[5] = (uint8_t)key;
		memcpy(e + 8, fc.names[i], NAME_LEN);
	}
	set_item(KEY_FILE_DIR, dir, len);
}

int fwcfg_add_file(const char *name, const void *data, size_t len)
{
	size_t nlen = strlen(name);
	int rc = -1;

	if (nlen == 0 || nlen >= NAME_LEN) {
		warnx("fw_cfg file name \"%s\": must be 1 to %d bytes", name, NAME_LEN - 1);
		return -1;
	}
	if (len > UINT32_MAX) {
		warnx("fw_cfg file %s: %zu bytes is too large", name, len);
		return -1;
	}
	pthread_mutex_lock(&fc.mtx);
	for (int i = 0; i < fc.nfiles; i++) {
		if (strcmp(fc.names[i], name) == 0) {
			warnx("fw_cfg file %s: added twice", name);
			goto out;
		}
	}
	if (fc.nfiles == MAX_FILES) {
		warnx("fw_cfg file %s: the directory is full (%d files)", name, MAX_FILES);
		goto out;
	}
	memset(fc.names[fc.nfiles], 0, NAME_LEN);
	memcpy(fc.names[fc.nfiles], name, nlen);
	set_item((uint16_t)(KEY_FILE_FIRST + fc.nfiles), copy_data(data, len), (uint32_t)len);
	fc.nfiles++;
	rebuild_dir();
	rc = 0;
out:
	pthread_mutex_unlock(&fc.mtx);
	return rc;
}

int fwcfg_add_item(uint16_t key, const void *data, size_t len)
{
	if ((key & KEY_WRITE) || key == KEY_FILE_DIR ||
	    (key >= KEY_FILE_FIRST && key < KEY_FILE_FIRST + MAX_FILES)) {
		warnx("fw_cfg item 0x%04x: reserved for the file directory and files", key);
		return -1;
	}
	if (len > UINT32_MAX) {
		warnx("fw_cfg item 0x%04x: %zu bytes is too large", key, len);
		return -1;
	}
	pthread_mutex_lock(&fc.mtx);
	set_item(key, copy_data(data, len), (uint32_t)len);
	pthread_mutex_unlock(&fc.mtx);
	return 0;
}

/* -f name,string=STRING or -f name,file=PATH. As with QEMU's -fw_cfg, a
 * string is stored without its NUL. */
int fwcfg_add_user_file(const char *spec)
{
	const char *comma = strchr(spec, ',');
	const char *val;
	char *name;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, rc;

	if (comma == NULL || comma == spec) {
		warnx("-f %s: expected name,string=STRING or name,file=PATH", spec);
		return -1;
	}
	if (strncmp(comma + 1, "string=", 7) == 0) {
		val = comma + 8;
		if (*val == '\0') {
			warnx("-f %s: empty string", spec);
			return -1;
		}
		name = xstrndup(spec, (size_t)(comma - spec));
		rc = fwcfg_add_file(name, val, strlen(val));
		free(name);
		return rc;
	}
	if (strncmp(comma + 1, "file=", 5) != 0 || comma[6] == '\0') {
		warnx("-f %s: expected name,string=STRING or name,file=PATH", spec);
		return -1;
	}
	val = comma + 6;
	fd = open_checked("-f", val, O_RDONLY, OPEN_REG, FWCFG_FILE_MAX, &st);
	if (fd < 0)
		return -1;
	len = (size_t)st.st_size;
	if (len > 0)
		buf = xmalloc(len);
	if (read_file_all("-f", val, fd, buf, len) != 0) {
		close(fd);
		free(buf);
		return -1;
	}
	close(fd);
	name = xstrndup(spec, (size_t)(comma - spec));
	rc = fwcfg_add_file(name, buf, len);
	free(name);
	free(buf);
	return rc;
}

static int selector_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	(void)arg;
	(void)port;
	if (size != 2)
		return -1;
	if (write) {
		pthread_mutex_lock(&fc.mtx);
		fc.selector = (uint16_t)*val;
		fc.offset = 0;
		pthread_mutex_unlock(&fc.mtx);
	}
	return 0;
}

static int data_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	const struct item *it;

	(void)arg;
	(void)port;
	if (size != 1)
		return -1;
	if (write)
		return 0;	/* QEMU has ignored data-port writes since 2.4 */
	pthread_mutex_lock(&fc.mtx);
	it = find_item(fc.selector);
	if (it != NULL && fc.offset < it->len)
		*val = it->data[fc.offset++];
	else
		*val = 0;
	pthread_mutex_unlock(&fc.mtx);
	return 0;
}

/* Guest RAM only. vm_map_gpa also reaches the boot ROM, which the host maps
 * read-only: a guest aiming a DMA there must get an error, not a SIGSEGV. */
static void *map_ram(uint64_t gpa, uint64_t len)
{
	uint64_t low = vm_get_lowmem_size(fc.ctx), high = vm_get_highmem_size(fc.ctx);
	bool in_ram = (gpa < low && len <= low - gpa) ||
	    (gpa >= VM_HIGHMEM_BASE && gpa - VM_HIGHMEM_BASE < high &&
	    len <= high - (gpa - VM_HIGHMEM_BASE));

	return in_ram ? vm_map_gpa(fc.ctx, gpa, (size_t)len) : NULL;
}

/* Runs the DMA request whose access structure is at gpa and writes its result
 * back into the control word: 0 when done, DMA_ERROR when not. Lock held. */
static void dma_transfer(uint64_t gpa)
{
	uint8_t *acc = map_ram(gpa, DMA_ACCESS_LEN);
	uint8_t *dst;
	uint32_t control, length, result = 0, avail, n;
	uint64_t addr;
	const struct item *it;

	if (acc == NULL)
		return;		/* nowhere to report to */
	/* Read once: another vCPU may change the structure meanwhile. */
	control = (uint32_t)be_get(acc, 4);
	length = (uint32_t)be_get(acc + 4, 4);
	addr = (uint64_t)(uint32_t)be_get(acc + 8, 4) << 32 | (uint32_t)be_get(acc + 12, 4);

	if (control & DMA_SELECT) {
		fc.selector = (uint16_t)(control >> 16);
		fc.offset = 0;
	}
	it = find_item(fc.selector);
	avail = it != NULL && fc.offset < it->len ? it->len - fc.offset : 0;
	n = length < avail ? length : avail;
	if (control & DMA_READ) {
		dst = length ? map_ram(addr, length) : NULL;
		if (length && dst == NULL) {
			result = DMA_ERROR;
		} else if (length) {
			/* it is not NULL whenever n > 0 */
			if (n > 0)
				memcpy(dst, it->data + fc.offset, n);
			memset(dst + n, 0, length - n);
			fc.offset += n;
		}
	} else if (control & DMA_WRITE) {
		result = DMA_ERROR;	/* every item is read-only */
	} else if (control & DMA_SKIP) {
		fc.offset += n;
	}
	be_put(acc, result, 4);
}

/* The DMA register is big-endian: the guest writes the high half (0x514) and
 * then the low half (0x518), which starts the transfer; SeaBIOS writes only the
 * low half, so the high half returns to 0 after each transfer. Reads give the
 * signature "QEMU CFG". */
static int dma_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	int off = (int)(port - FWCFG_DMA);

	(void)arg;
	if (!write) {
		*val = 0;
		for (int i = size - 1; i >= 0; i--)
			*val = (*val << 8) | dma_signature[off + i];
		return 0;
	}
	pthread_mutex_lock(&fc.mtx);
	if (size == 4 && off == 0) {
		fc.dma_high = __builtin_bswap32((uint32_t)*val);
	} else if (size == 4 && off == 4) {
		dma_transfer((uint64_t)fc.dma_high << 32 | __builtin_bswap32((uint32_t)*val));
		fc.dma_high = 0;
	} else if (size == 8 && off == 0) {
		dma_transfer(__builtin_bswap64(*val));
		fc.dma_high = 0;
	} else {
		pthread_mutex_unlock(&fc.mtx);
		return -1;
	}
	pthread_mutex_unlock(&fc.mtx);
	return 0;
}

/* A little-endian integer item; a default (keep) stays out of the way of an
 * item the caller has already set. Lock held. */
static void set_le(uint16_t key, uint64_t v, int n, bool keep)
{
	uint8_t *p;

	if (keep && find_item(key) != NULL)
		return;
	p = xmalloc((size_t)n);
	le_put(p, v, n);
	set_item(key, p, (uint32_t)n);
}

int fwcfg_init(struct vmctx *ctx, int ncpus)
{
	static const struct io_range ranges[] = {
		/* Byte-wide ranges that take wider accesses: the selector is 16
		 * bits and sits just below the data port. */
		{ .name = "fwcfg_selector", .base = FWCFG_SELECTOR, .size = 1,
		  .handler = selector_io, .arg = NULL, .wider = true },
		{ .name = "fwcfg_data", .base = FWCFG_DATA, .size = 1,
		  .handler = data_io, .arg = NULL, .wider = true },
		{ .name = "fwcfg_dma", .base = FWCFG_DMA, .size = 8,
		  .handler = dma_io, .arg = NULL },
	};
	uint64_t ram = vm_get_lowmem_size(ctx) + vm_get_highmem_size(ctx);

	pthread_mutex_lock(&fc.mtx);
	fc.ctx = ctx;
	set_item(KEY_SIGNATURE, copy_data("QEMU", 4), 4);
	set_le(KEY_ID, ID_TRADITIONAL | ID_DMA, 4, false);
	set_le(KEY_RAM_SIZE, ram, 8, true);
	set_le(FWCFG_NOGRAPHIC, 1, 2, true);
	set_le(KEY_NB_CPUS, (uint64_t)ncpus, 2, true);
	set_le(KEY_MAX_CPUS, (uint64_t)ncpus, 2, true);
	rebuild_dir();
	fc.selector = KEY_SIGNATURE;
	fc.offset = 0;
	pthread_mutex_unlock(&fc.mtx);

	for (size_t i = 0; i < nitems(ranges); i++)
		if (register_io(IO_PORT, &ranges[i]) != 0)
			return -1;
	return 0;
}
