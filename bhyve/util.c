#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void die_oom(void)
{
	errx(EXIT_ERROR, "out of memory");
}

void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		die_oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n, m);

	if (p == NULL)
		die_oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		die_oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die_oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		die_oom();
	return p;
}

int parse_memsize(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long v;
	unsigned shift = 20;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0':
		/* As bhyve's -m: a bare number is MiB below 1 MiB's worth, else bytes. */
		shift = v < (1ULL << 20) ? 20 : 0;
		break;
	case 'b': case 'B': shift = 0; break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default: return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*bytes = (uint64_t)v << shift;
	return 0;
}

int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	/* strtol(3)'s syntax, as bhyve_config(5) says of integers: 0x is hex, a
	 * leading 0 octal. */
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

int open_checked(const char *what, const char *path, int flags, unsigned kinds,
    uint64_t max, struct stat *st)
{
	int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC), fl;
	const char *why = NULL;

	if (fd < 0) {
		warnx("%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0) {
		why = strerror(errno);
	} else if (S_ISREG(st->st_mode) && (kinds & OPEN_REG)) {
		if ((uint64_t)st->st_size > max) {
			warnx("%s %s: %lld bytes, more than the %llu it may have", what, path,
			    (long long)st->st_size, (unsigned long long)max);
			close(fd);
			return -1;
		}
	} else if (!(S_ISBLK(st->st_mode) && (kinds & OPEN_BLK))) {
		why = S_ISDIR(st->st_mode) ? "a directory" : S_ISFIFO(st->st_mode) ? "a FIFO" :
		    S_ISCHR(st->st_mode) ? "a character device" : S_ISSOCK(st->st_mode) ?
		    "a socket" : S_ISBLK(st->st_mode) ? "a block device" : "not a regular file";
		warnx("%s %s: %s, not a regular file%s", what, path, why,
		    (kinds & OPEN_BLK) ? " or a block device" : "");
		close(fd);
		return -1;
	}
	if (why == NULL && ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
		why = strerror(errno);
	if (why != NULL) {
		warnx("%s %s: %s", what, path, why);
		close(fd);
		return -1;
	}
	return fd;
}

int read_file_all(const char *what, const char *path, int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			warnx("%s %s: %s", what, path, n < 0 ? strerror(errno) :
			    "the file shrank while it was read");
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

struct exit_cleanup {
	void (*fn)(void *);
	void *arg;
	struct exit_cleanup *next;
};

static struct exit_cleanup *exit_cleanups;
static pthread_mutex_t exit_cleanup_mtx = PTHREAD_MUTEX_INITIALIZER;

static void run_exit_cleanups_atexit(void)
{
	run_exit_cleanups();
}

void at_exit_cleanup(void (*fn)(void *), void *arg)
{
	static bool registered;
	struct exit_cleanup *c = xmalloc(sizeof(*c));

	pthread_mutex_lock(&exit_cleanup_mtx);
	if (!registered)
		registered = atexit(run_exit_cleanups_atexit) == 0;
	c->fn = fn;
	c->arg = arg;
	c->next = exit_cleanups;
	exit_cleanups = c;
	pthread_mutex_unlock(&exit_cleanup_mtx);
}

void run_exit_cleanups(void)
{
	struct exit_cleanup *c;

	pthread_mutex_lock(&exit_cleanup_mtx);
	c = exit_cleanups;
	exit_cleanups = NULL;
	pthread_mutex_unlock(&exit_cleanup_mtx);
	while (c != NULL) {
		struct exit_cleanup *next = c->next;

		c->fn(c->arg);
		free(c);
		c = next;
	}
}

/* The stacks of thread_start's threads, found again by thread_join (without
 * pthread_getattr_np, which asks the kernel for the thread's CPU affinity). */
struct thread_stack {
	pthread_t t;
	uint8_t *m;
	struct thread_stack *next;
};
static struct thread_stack *stacks;
static pthread_mutex_t stacks_lock = PTHREAD_MUTEX_INITIALIZER;

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	size_t guard = (size_t)sysconf(_SC_PAGESIZE);
	struct thread_stack *ts;
	pthread_attr_t a;
	uint8_t *m;
	int rc;

	ts = malloc(sizeof(*ts));
	if (ts == NULL)
		return ENOMEM;
	m = mmap(NULL, THREAD_STACK + guard, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		free(ts);
		return errno;
	}
	/* NOHUGEPAGE also keeps the mapping from merging with a neighbour
	 * that could take a huge page. */
	if (mprotect(m, guard, PROT_NONE) != 0 ||
	    madvise(m + guard, THREAD_STACK, MADV_NOHUGEPAGE) != 0)
		rc = errno;
	else
		rc = pthread_attr_init(&a);
	if (rc == 0) {
		rc = pthread_attr_setstack(&a, m + guard, THREAD_STACK);
		if (rc == 0)
			rc = pthread_create(t, &a, fn, arg);
		pthread_attr_destroy(&a);
	}
	if (rc != 0) {
		munmap(m, THREAD_STACK + guard);
		free(ts);
		return rc;
	}
	ts->t = *t;
	ts->m = m;
	pthread_mutex_lock(&stacks_lock);
	ts->next = stacks;
	stacks = ts;
	pthread_mutex_unlock(&stacks_lock);
	return 0;
}

void thread_sigset(sigset_t *set)
{
	static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS };

	sigfillset(set);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(set, faults[i]);
}

void thread_join(pthread_t t)
{
	struct thread_stack **p, *ts = NULL;

	pthread_join(t, NULL);
	pthread_mutex_lock(&stacks_lock);
	for (p = &stacks; *p != NULL; p = &(*p)->next)
		if (pthread_equal((*p)->t, t)) {
			ts = *p;
			*p = ts->next;
			break;
		}
	pthread_mutex_unlock(&stacks_lock);
	if (ts != NULL) {
		munmap(ts->m, THREAD_STACK + (size_t)sysconf(_SC_PAGESIZE));
		free(ts);
	}
}

static int trim_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	(void)size;
	(void)arg;
	/* The vDSO is the kernel's, not a file's. */
	if (info->dlpi_name != NULL && strncmp(info->dlpi_name, "linux-vdso", 10) == 0)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo, hi;

		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) != 0)
			continue;
		/* Whole pages of the segment only: a page shared with a writable
		 * neighbour stays. */
		lo = (info->dlpi_addr + ph->p_vaddr + page - 1) & ~(page - 1);
		hi = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz) & ~(page - 1);
		if (hi > lo)
			madvise((void *)lo, hi - lo, MADV_DONTNEED);
	}
	return 0;
}

void trim_startup_pages(void)
{
	malloc_trim(0);
	dl_iterate_phdr(trim_object, NULL);
}
