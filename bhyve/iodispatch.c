#include "iodispatch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Few ranges, looked up often and changed rarely: sorted arrays under a rwlock. */
struct io_table {
	struct io_range *r;
	size_t n, cap;
};

static struct io_table tables[2];
static pthread_rwlock_t io_lock = PTHREAD_RWLOCK_INITIALIZER;

static const char *space_name(enum io_space sp)
{
	return sp == IO_PORT ? "I/O port" : "MMIO";
}

int register_io(enum io_space sp, const struct io_range *nr)
{
	struct io_table *t = &tables[sp];
	size_t i;

	if (nr->size == 0 || nr->base + nr->size < nr->base) {
		warnx("%s range for %s is empty or wraps", space_name(sp), nr->name);
		return -1;
	}
	pthread_rwlock_wrlock(&io_lock);
	for (i = 0; i < t->n && t->r[i].base < nr->base; i++)
		;
	if ((i > 0 && t->r[i - 1].base + t->r[i - 1].size > nr->base) ||
	    (i < t->n && nr->base + nr->size > t->r[i].base)) {
		const struct io_range *o = (i > 0 && t->r[i - 1].base + t->r[i - 1].size > nr->base) ?
		    &t->r[i - 1] : &t->r[i];

		pthread_rwlock_unlock(&io_lock);
		if (nr->quiet)
			return -1;
		warnx("%s 0x%llx-0x%llx of %s overlaps %s", space_name(sp),
		    (unsigned long long)nr->base, (unsigned long long)(nr->base + nr->size - 1),
		    nr->name, o->name);
		return -1;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->r = xrealloc(t->r, t->cap * sizeof(*t->r));
	}
	memmove(&t->r[i + 1], &t->r[i], (t->n - i) * sizeof(*t->r));
	t->r[i] = *nr;
	t->n++;
	pthread_rwlock_unlock(&io_lock);
	return 0;
}

int unregister_io(enum io_space sp, uint64_t base)
{
	struct io_table *t = &tables[sp];
	int rc = -1;

	pthread_rwlock_wrlock(&io_lock);
	for (size_t i = 0; i < t->n; i++) {
		if (t->r[i].base == base) {
			memmove(&t->r[i], &t->r[i + 1], (t->n - i - 1) * sizeof(*t->r));
			t->n--;
			rc = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&io_lock);
	return rc;
}

int emulate_io(enum io_space sp, bool write, uint64_t addr, int size, uint64_t *val)
{
	struct io_table *t = &tables[sp];
	struct io_range r;
	size_t lo = 0, hi;
	bool found = false;

	pthread_rwlock_rdlock(&io_lock);
	hi = t->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < t->r[mid].base) {
			hi = mid;
		} else if (addr - t->r[mid].base >= t->r[mid].size) {
			lo = mid + 1;
		} else {
			r = t->r[mid];
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&io_lock);
	/* Handlers see only accesses inside their range, so none has to check. */
	if (!found || (addr - r.base + (uint64_t)size > r.size && !(sp == IO_PORT && r.wider))) {
		if (!write)
			*val = size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
		return 1;
	}
	if (!write)
		*val = 0;
	return r.handler(r.arg, write, addr, size, val);
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
