#include "iodispatch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A registration. Handlers run without io_lock, so each is counted, as
 * kvmtool's mmio.c counts its mappings: the table holds one reference and each
 * call in progress another; the last one dropped frees the registration (and
 * calls its release). Removal never waits, so a handler may remove its own
 * range, or another's, while holding locks other handlers take. */
struct io_reg {
	struct io_range r;
	atomic_uint refs;
};

/* Few ranges, looked up often and changed rarely: sorted arrays under a rwlock. */
struct io_table {
	struct io_reg **r;
	size_t n, cap;
};

static struct io_table tables[2];
static pthread_rwlock_t io_lock = PTHREAD_RWLOCK_INITIALIZER;

static const char *space_name(enum io_space sp)
{
	return sp == IO_PORT ? "I/O port" : "MMIO";
}

static void io_reg_put(struct io_reg *reg)
{
	if (atomic_fetch_sub(&reg->refs, 1) != 1)
		return;
	if (reg->r.release != NULL)
		reg->r.release(reg->r.arg);
	free(reg);
}

int register_io(enum io_space sp, const struct io_range *nr)
{
	struct io_table *t = &tables[sp];
	struct io_reg *reg;
	size_t i;

	if (nr->size == 0 || nr->base + nr->size < nr->base) {
		warnx("%s range for %s is empty or wraps", space_name(sp), nr->name);
		return -1;
	}
	pthread_rwlock_wrlock(&io_lock);
	for (i = 0; i < t->n && t->r[i]->r.base < nr->base; i++)
		;
	if ((i > 0 && t->r[i - 1]->r.base + t->r[i - 1]->r.size > nr->base) ||
	    (i < t->n && nr->base + nr->size > t->r[i]->r.base)) {
		const char *o = (i > 0 && t->r[i - 1]->r.base + t->r[i - 1]->r.size > nr->base) ?
		    t->r[i - 1]->r.name : t->r[i]->r.name;

		pthread_rwlock_unlock(&io_lock);
		if (nr->quiet)
			return -1;
		warnx("%s 0x%llx-0x%llx of %s overlaps %s", space_name(sp),
		    (unsigned long long)nr->base, (unsigned long long)(nr->base + nr->size - 1),
		    nr->name, o);
		return -1;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->r = xrealloc(t->r, t->cap * sizeof(*t->r));
	}
	reg = xmalloc(sizeof(*reg));
	reg->r = *nr;
	atomic_init(&reg->refs, 1);	/* the table's */
	memmove(&t->r[i + 1], &t->r[i], (t->n - i) * sizeof(*t->r));
	t->r[i] = reg;
	t->n++;
	pthread_rwlock_unlock(&io_lock);
	return 0;
}

int unregister_io(enum io_space sp, uint64_t base)
{
	struct io_table *t = &tables[sp];
	struct io_reg *reg = NULL;

	pthread_rwlock_wrlock(&io_lock);
	for (size_t i = 0; i < t->n; i++) {
		if (t->r[i]->r.base == base) {
			reg = t->r[i];
			memmove(&t->r[i], &t->r[i + 1], (t->n - i - 1) * sizeof(*t->r));
			t->n--;
			break;
		}
	}
	pthread_rwlock_unlock(&io_lock);
	if (reg == NULL)
		return -1;
	io_reg_put(reg);	/* the table's: calls still running keep it */
	return 0;
}

int emulate_io(enum io_space sp, bool write, uint64_t addr, int size, uint64_t *val)
{
	struct io_table *t = &tables[sp];
	struct io_reg *reg = NULL;
	const struct io_range *r;
	size_t lo = 0, hi;
	int rc;

	pthread_rwlock_rdlock(&io_lock);
	hi = t->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < t->r[mid]->r.base) {
			hi = mid;
		} else if (addr - t->r[mid]->r.base >= t->r[mid]->r.size) {
			lo = mid + 1;
		} else {
			reg = t->r[mid];
			atomic_fetch_add(&reg->refs, 1);	/* this call's */
			break;
		}
	}
	pthread_rwlock_unlock(&io_lock);
	r = reg != NULL ? &reg->r : NULL;
	/* Handlers see only accesses inside their range, so none has to check. */
	if (r == NULL || (addr - r->base + (uint64_t)size > r->size && !(sp == IO_PORT && r->wider))) {
		if (reg != NULL)
			io_reg_put(reg);
		if (!write)
			*val = size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
		return 1;
	}
	if (!write)
		*val = 0;
	rc = r->handler(r->arg, write, addr, size, val);
	io_reg_put(reg);
	return rc;
}

SET_DECLARE(inout_port_set, struct inout_port);

void init_inout_ports(void)
{
	struct inout_port **pp;

	SET_FOREACH(pp, inout_port_set) {
		struct io_range r = {
			.name = (*pp)->name, .base = (*pp)->port, .size = (*pp)->size,
			.handler = (*pp)->handler,
		};

		if (register_io(IO_PORT, &r) != 0)
			errx(EXIT_ERROR, "cannot register I/O port handler %s", (*pp)->name);
	}
}
