#ifndef UTIL_H
#define UTIL_H

#include <err.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define nitems(x) (sizeof(x) / sizeof((x)[0]))
#define ROUNDUP(x, a) (((x) + (a) - 1) / (a) * (a))

/* Exit statuses, as bhyve(8) defines them. */
#define EXIT_REBOOT	0
#define EXIT_POWEROFF	1
#define EXIT_HALT	2
#define EXIT_TRIPLEFAULT 3
#define EXIT_ERROR	4

/* A linker set: each file adds entries to a named section; the core walks it. */
#define DATA_SET(set, sym) \
	static const void *const __set_##set##_##sym \
	__attribute__((section("set_" #set), used)) = &(sym)
#define SET_DECLARE(set, type) \
	extern type *__start_set_##set[]; \
	extern type *__stop_set_##set[]
/* Counted through integers: __start and __stop are distinct objects to C. */
#define SET_COUNT(set) \
	((size_t)(((uintptr_t)__stop_set_##set - (uintptr_t)__start_set_##set) / sizeof(void *)))
#define SET_FOREACH(var, set) \
	for (size_t set##_i = 0; set##_i < SET_COUNT(set) && \
	    ((var) = &__start_set_##set[set##_i], 1); set##_i++)

/* Byte order in guest-visible structures (firmware tables, registers). */
static inline void le_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline void be_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static inline uint64_t be_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The byte that makes a firmware table's bytes sum to zero. */
static inline uint8_t fw_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

void die_oom(void) __attribute__((noreturn));
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* "512M", "2G", "1024" -> bytes. A bare number is MiB when below 1048576 and
 * bytes from there on, as bhyve's -m reads it. */
int parse_memsize(const char *s, uint64_t *bytes);
int parse_uint(const char *s, unsigned long max, unsigned long *out);
/* What open_checked accepts. */
#define OPEN_REG	1u	/* a regular file */
#define OPEN_BLK	2u	/* a block device */
/* Opens path with flags | O_NONBLOCK | O_CLOEXEC, so that a FIFO or a device
 * cannot hang the open, and checks with fstat that it is of a kind in kinds and
 * (a regular file) of at most max bytes; O_NONBLOCK is then cleared. Returns the
 * fd (st filled), or -1 after one line "WHAT PATH: why" on stderr. */
int open_checked(const char *what, const char *path, int flags, unsigned kinds,
    uint64_t max, struct stat *st);
/* Reads len bytes at offset 0 of fd; -1 after one line "WHAT PATH: why" (a read
 * error, or the file shrank). */
int read_file_all(const char *what, const char *path, int fd, void *buf, size_t len);
/* fn(arg) runs when the process ends, through bhyve's exit path or exit(3): for
 * files made at start-up that must not outlive it (UNIX socket paths). */
void at_exit_cleanup(void (*fn)(void *), void *arg);
/* Runs (once) what at_exit_cleanup registered, last first. */
void run_exit_cleanups(void);

/* A thread of bhyve's own (vCPU, device worker): fn(arg) on a stack of
 * THREAD_STACK bytes mapped here, with a guard page below it and no
 * transparent huge pages. glibc's default is an 8 MiB mapping whose first
 * write (the thread's descriptor, at its top) takes a whole 2 MiB huge page
 * where THP is "always"; 2 MiB of RSS per thread for a few KiB of stack.
 * 0, or an errno value as pthread_create's. */
#define THREAD_STACK	(512u << 10)
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* The set of signals a thread of bhyve's own blocks (all of them) less the
 * ones a fault raises (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS): the
 * kernel delivers those anyway, and blocked they bypass any handler (a
 * sanitizer's report) and kill the process without a word. */
void thread_sigset(sigset_t *set);
/* pthread_join for a thread from thread_start; its stack is unmapped. */
void thread_join(pthread_t t);

/* Once start-up is over: unmaps (MADV_DONTNEED) the pages of the program's and
 * its libraries' read-only file segments (code, constants, symbol tables) from
 * this process, and gives the heap's free pages back (malloc_trim). The page
 * cache keeps them; what runs again is mapped again at its next use, as after
 * the kernel's own reclaim, so what stays resident is what a running VM uses,
 * not what the dynamic linker, the option parser and the firmware-table
 * builders touched once. Only segments that are never written (not PF_W, so
 * never relocated) are touched. */
void trim_startup_pages(void);

#endif
