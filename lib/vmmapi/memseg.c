#include "memseg.h"
#include "vmmapi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

static uint8_t *alloc_ram(struct memsegs *m, const char *name, uint64_t len,
    bool wired, bool in_core)
{
	uint8_t *base;
	int fd, e;

	/* One shared file backs all RAM, so later tools can map the same memory. */
	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)len) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	e = errno;
	close(fd);
	if (base == MAP_FAILED) {
		errno = e;
		return NULL;
	}
	/* Huge pages where the host allows them for shared memory (shmem_enabled
	 * "advise" or more in /sys/kernel/mm/transparent_hugepage): fewer TLB misses
	 * for KVM, and large O_DIRECT transfers stay large (fewer segments). */
	madvise(base, len, MADV_HUGEPAGE);
	if (!in_core)
		madvise(base, len, MADV_DONTDUMP);
	if (wired && mlock(base, len) < 0) {
		e = errno;
		munmap(base, len);
		errno = e;
		return NULL;
	}
	m->ram = base;
	m->ram_len = len;
	return base;
}

int memsegs_add(struct memsegs *m, uint64_t gpa, void *host, uint64_t len, bool readonly)
{
	if (m->n == MAX_MEMSEGS) {
		errno = ENOSPC;
		return -1;
	}
	m->seg[m->n++] = (struct memseg){ gpa, len, host, readonly };
	return 0;
}

void *memsegs_find(const struct memsegs *m, uint64_t gpa, uint64_t len, bool with_rom)
{
	for (int i = 0; i < m->n; i++) {
		const struct memseg *s = &m->seg[i];

		if (s->readonly && !with_rom)
			continue;
		if (gpa >= s->gpa && gpa - s->gpa < s->len && len <= s->len - (gpa - s->gpa))
			return s->host + (gpa - s->gpa);
	}
	return NULL;
}

void memsegs_free(struct memsegs *m)
{
	if (m->ram != NULL)
		munmap(m->ram, m->ram_len);
	m->ram = NULL;
	m->n = 0;
}

void memsegs_split(uint64_t len, uint64_t *lowmem, uint64_t *highmem)
{
	*lowmem = len > VM_LOWMEM_LIMIT ? VM_LOWMEM_LIMIT : len;
	*highmem = len - *lowmem;
}

uint8_t *memsegs_alloc_ram(struct memsegs *m, const char *name, uint64_t len,
    bool wired, bool in_core, char *err, size_t errlen)
{
	uint8_t *base = alloc_ram(m, name, len, wired, in_core);

	if (base == NULL) {
		snprintf(err, errlen, wired ?
		    "allocating and wiring (-S) guest memory: %s (see RLIMIT_MEMLOCK)" :
		    "guest memory: %s", strerror(errno));
		return NULL;
	}
	memsegs_split(len, &m->lowmem, &m->highmem);
	return base;
}
