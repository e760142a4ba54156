#include "memseg.h"
#include "vmmapi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/mman.h>

#define RAM_ALIGN	(2u << 20)	/* an x86 huge page */

static uint8_t *alloc_ram(struct memsegs *m, const char *name, uint64_t len,
    bool wired, bool in_core)
{
	uint8_t *p, *base;
	size_t head, tail;
	int e;

	(void)name;
	/* The hugetlb pool (memory.hugetlb): reserved at once, so a pool too
	 * small fails here rather than when the guest touches the memory.
	 * Naturally aligned to its page size; the mapping is rounded up to it. */
	if (m->hugetlb != 0) {
		size_t hlen = (len + m->hugetlb - 1) & ~(m->hugetlb - 1);

		if (m->ram_shared) {
			errno = EOPNOTSUPP;
			return NULL;
		}
		p = mmap(NULL, hlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		    MAP_HUGETLB | (m->hugetlb == (1ULL << 30) ? MAP_HUGE_1GB : MAP_HUGE_2MB),
		    -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		base = p;
		goto mapped;
	}
	/*
	 * Anonymous private memory, which gets transparent huge pages wherever the
	 * host allows them (THP "enabled" always or madvise); a shared memfd gets
	 * them only with shmem_enabled set, which hosts rarely have. Nothing maps
	 * guest RAM from another process but a loader, which leaves a shared file
	 * (ram_shared; see lib/vmmapi/registry.h). Aligned to 2 MiB, so that
	 * guest-physical 2 MiB pages are host huge pages.
	 */
	p = mmap(NULL, len + RAM_ALIGN, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	head = (RAM_ALIGN - ((uintptr_t)p & (RAM_ALIGN - 1))) & (RAM_ALIGN - 1);
	tail = RAM_ALIGN - head;
	base = p + head;
	/* A loader's memory file (the registry's "mem"), shared so that what it
	 * wrote is what the guest finds, over the aligned reservation. */
	if (m->ram_shared &&
	    mmap(base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, m->ram_fd, 0) ==
	    MAP_FAILED) {
		e = errno;
		munmap(p, len + RAM_ALIGN);
		errno = e;
		return NULL;
	}
	if (head != 0)
		munmap(p, head);
	if (tail != 0)
		munmap(base + len, tail);
	/* Huge pages: fewer TLB misses for KVM, and large O_DIRECT transfers stay
	 * large (fewer segments). */
	madvise(base, len, MADV_HUGEPAGE);
mapped:
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
	m->seg[m->n++] = (struct memseg){ gpa, len, host, readonly, 0 };
	return 0;
}

int memsegs_remove(struct memsegs *m, uint64_t gpa)
{
	for (int i = 0; i < m->n; i++) {
		if (m->seg[i].gpa != gpa)
			continue;
		for (int j = i + 1; j < m->n; j++)
			m->seg[j - 1] = m->seg[j];
		m->n--;
		return 0;
	}
	errno = ENOENT;
	return -1;
}

int memsegs_take(struct memsegs *m, uint64_t gpa, uint64_t len, struct memseg *out)
{
	for (int i = 0; i < m->n; i++) {
		const struct memseg *s = &m->seg[i];

		if (s->readonly || gpa < s->gpa || gpa - s->gpa >= s->len ||
		    len > s->len - (gpa - s->gpa))
			continue;
		*out = *s;
		return memsegs_remove(m, s->gpa);
	}
	errno = ENOENT;
	return -1;
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
	/* A hugetlb mapping is unmapped whole, its length a multiple of its pages. */
	if (m->ram != NULL)
		munmap(m->ram, m->hugetlb != 0 ?
		    (m->ram_len + m->hugetlb - 1) & ~(m->hugetlb - 1) : m->ram_len);
	m->ram = NULL;
	m->n = 0;
}

uint64_t memsegs_resident(const struct memsegs *m)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n;
	unsigned char *vec;
	uint64_t res = 0;

	if (m->ram == NULL)
		return 0;
	n = (size_t)((m->ram_len + pg - 1) / pg);
	vec = malloc(n);
	if (vec == NULL)
		return 0;
	if (mincore(m->ram, m->ram_len, vec) == 0)
		for (size_t i = 0; i < n; i++)
			res += vec[i] & 1;
	free(vec);
	return res * pg;
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

	if (base == NULL && m->hugetlb != 0 && errno == EOPNOTSUPP) {
		snprintf(err, errlen, "memory.hugetlb: not for a VM a loader filled (its "
		    "memory is a shared file)");
		return NULL;
	}
	if (base == NULL && m->hugetlb != 0 && !wired) {
		snprintf(err, errlen, "guest memory from the hugetlb pool (memory.hugetlb, "
		    "%llu MiB pages): %s (see /proc/sys/vm/nr_hugepages%s)",
		    (unsigned long long)(m->hugetlb >> 20), strerror(errno),
		    m->hugetlb == (1ULL << 30) ? " and hugepagesz=1G" : "");
		return NULL;
	}
	if (base == NULL) {
		snprintf(err, errlen, wired ?
		    "allocating and wiring (-S) guest memory: %s (see RLIMIT_MEMLOCK)" :
		    "guest memory: %s", strerror(errno));
		return NULL;
	}
	memsegs_split(len, &m->lowmem, &m->highmem);
	return base;
}
