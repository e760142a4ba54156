/* parse_memsize and parse_uint, thread_start/thread_join, thread_sigset and
 * trim_startup_pages (bhyve/util.h), md5 (bhyve/md5.h). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "md5.h"
#include "test.h"
#include "util.h"

static void parse_memsize_accepts_suffixes(void)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} ok[] = {
		{ "512M", 512ULL << 20 }, { "512m", 512ULL << 20 }, { "2G", 2ULL << 30 },
		{ "2g", 2ULL << 30 }, { "4k", 4096 }, { "4K", 4096 }, { "1T", 1ULL << 40 },
		{ "8192B", 8192 }, { "1024", 1024ULL << 20 }, { "256", 256ULL << 20 },
		{ "16777215T", 16777215ULL << 40 },
	};
	uint64_t b;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		b = 0;
		CHECK_MSG(parse_memsize(ok[i].s, &b) == 0 && b == ok[i].bytes,
		    "\"%s\" gave %llu, want %llu", ok[i].s, (unsigned long long)b,
		    (unsigned long long)ok[i].bytes);
	}
}

static void parse_memsize_rejects_bad_input(void)
{
	static const char *const bad[] = {
		"", "M", "12X", "1GB", "1Gb", "-1", " 1", "+1", "1.5G", "1 G",
		"99999999999999999999999",	/* beyond strtoull */
		"17179869184G",			/* 2^64 bytes */
		"16777216T",			/* 2^64 bytes */
		"18446744073709551615K",	/* overflows when scaled */
	};
	uint64_t b;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = 12345;
		CHECK_MSG(parse_memsize(bad[i], &b) == -1, "\"%s\" accepted as %llu", bad[i],
		    (unsigned long long)b);
		CHECK_MSG(b == 12345, "\"%s\" changed the output on failure", bad[i]);
	}
}

/* bhyve(8)'s -m (vm_parse_memsize in libvmmapi): a bare number is MiB only when it
 * is below 1 MiB ("1024" = 1 GiB); from 1048576 up it is a byte count, so
 * "-m 1073741824" is 1 GiB. */
static void parse_memsize_bare_number_from_1M_is_bytes_as_bhyve(void)
{
	uint64_t b = 0;

	CHECK_MSG(parse_memsize("1073741824", &b) == 0 && b == (1ULL << 30),
	    "\"1073741824\" gave rc/bytes %llu, want 1073741824 (bhyve reads it as bytes)",
	    (unsigned long long)b);
	b = 0;
	CHECK_MSG(parse_memsize("1048576", &b) == 0 && b == (1ULL << 20),
	    "\"1048576\" gave %llu, want 1048576", (unsigned long long)b);
	b = 0;
	CHECK(parse_memsize("1048575", &b) == 0 && b == 1048575ULL << 20);
}

static void parse_uint_accepts_in_range(void)
{
	unsigned long v = 99;

	CHECK(parse_uint("0", 10, &v) == 0 && v == 0);
	CHECK(parse_uint("255", 255, &v) == 0 && v == 255);
	CHECK(parse_uint("0x1f", 255, &v) == 0 && v == 31);
	CHECK(parse_uint("31", 31, &v) == 0 && v == 31);
}

static void parse_uint_rejects_bad_input(void)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "12a", "x", "99999999999999999999999999",
	};
	unsigned long v = 7;

	CHECK(parse_uint("256", 255, &v) == -1);
	CHECK(parse_uint("32", 31, &v) == -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(parse_uint(bad[i], ~0UL, &v) == -1, "\"%s\" accepted", bad[i]);
	CHECK_EQ(v, 7);
}

/* RFC 1321's test suite, plus lengths around the 56-byte padding edge (checked
 * against md5sum). */
static void md5_matches_rfc1321(void)
{
	static const struct {
		const char *in, *hex;
	} v[] = {
		{ "", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "a", "0cc175b9c0f1b6a831c399e269772661" },
		{ "abc", "900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
		{ "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		  "d174ab98d277d9f5a5611c2c9f419d9f" },
		{ "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		  "57edf4a22be3c955ac49da2e2107b67a" },
		{ "1234567890123456789012345678901234567890123456789012345", NULL },
		{ "12345678901234567890123456789012345678901234567890123456", NULL },
		{ "1234567890123456789012345678901234567890123456789012345678901234", NULL },
	};
	static const char *edge[] = {
		"c9ccf168914a1bcfc3229f1948e67da0", "49f193adce178490e34d1b3a4ec0064c",
		"eb6c4179c0a7c82cc2828c1e6338e165",
	};
	int e = 0;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *want = v[i].hex != NULL ? v[i].hex : edge[e++];
		uint8_t d[MD5_LEN];
		char hex[2 * MD5_LEN + 1];

		md5(v[i].in, strlen(v[i].in), d);
		for (int k = 0; k < MD5_LEN; k++)
			snprintf(hex + 2 * k, 3, "%02x", d[k]);
		CHECK_MSG(strcmp(hex, want) == 0, "md5 of %zu bytes: %s, want %s", strlen(v[i].in), hex,
		    want);
	}
}

struct seen {
	void *arg;
	uintptr_t local;
	size_t stack;
};

static void *record_stack(void *arg)
{
	struct seen *s = arg;
	pthread_attr_t a;
	void *addr;
	int here = 1;

	s->arg = arg;
	s->local = (uintptr_t)&here;
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		if (pthread_attr_getstack(&a, &addr, &s->stack) != 0)
			s->stack = 0;
		pthread_attr_destroy(&a);
	}
	return NULL;
}

static void thread_runs_on_its_own_stack_and_join_unmaps_it(void)
{
	struct seen s = { 0 };
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	pthread_t t;

	CHECK_EQ(thread_start(&t, record_stack, &s), 0);
	thread_join(t);
	CHECK(s.arg == &s);
	CHECK_EQ(s.stack, (size_t)THREAD_STACK);
	/* Its stack is gone once joined: msync on an unmapped page is ENOMEM. */
	errno = 0;
	CHECK(msync((void *)(s.local & ~(page - 1)), page, MS_ASYNC) != 0 && errno == ENOMEM);
}

/* A thread with thread_sigset's mask: a real bus error (a page of a mapping
 * past the end of its empty file) reaches the process's handler there, and
 * an asynchronous signal stays pending. */
static sigjmp_buf fault_jmp;
static volatile sig_atomic_t faults_seen;
static int usr1_pending;

static void on_fault(int sig)
{
	(void)sig;
	faults_seen++;
	siglongjmp(fault_jmp, 1);
}

static void *fault_in_thread(void *arg)
{
	volatile uint8_t *p = arg;
	sigset_t set, pending;

	thread_sigset(&set);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	if (sigsetjmp(fault_jmp, 1) == 0)
		(void)p[0];
	pthread_kill(pthread_self(), SIGUSR1);
	sigpending(&pending);
	usr1_pending = sigismember(&pending, SIGUSR1);
	return NULL;
}

static void thread_sigset_leaves_faults_to_their_handler(void)
{
	struct sigaction sa = { .sa_handler = on_fault }, old_bus, old_usr1;
	char path[] = "/tmp/bhyve-unit-sigbus-XXXXXX";
	int fd = mkstemp(path);
	long page = sysconf(_SC_PAGESIZE);
	void *m;
	sigset_t set;
	pthread_t t;

	thread_sigset(&set);
	CHECK(!sigismember(&set, SIGSEGV) && !sigismember(&set, SIGBUS));
	CHECK(sigismember(&set, SIGTERM) && sigismember(&set, SIGINT));
	CHECK(fd >= 0);
	unlink(path);
	m = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGUSR1, &(struct sigaction){ .sa_handler = SIG_IGN }, &old_usr1);
	faults_seen = 0;
	CHECK_EQ(thread_start(&t, fault_in_thread, m), 0);
	thread_join(t);
	CHECK_EQ(faults_seen, 1);
	CHECK_EQ(usr1_pending, 1);
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGUSR1, &old_usr1, NULL);
	munmap(m, (size_t)page);
	close(fd);
}

static const char *const relocated[] = { "alpha", "beta", "gamma" };

static void trim_keeps_code_constants_and_relocated_data(void)
{
	static const uint8_t data[] = "the quick brown fox jumps over the lazy dog";
	uint8_t before[MD5_LEN], after[MD5_LEN];

	md5(data, sizeof(data), before);
	trim_startup_pages();
	/* Code and constants come back from the file; the relocated pointer
	 * table (a writable segment, made read-only after relocation) was left. */
	md5(data, sizeof(data), after);
	CHECK(memcmp(before, after, MD5_LEN) == 0);
	CHECK_STR(relocated[0], "alpha");
	CHECK_STR(relocated[2], "gamma");
	trim_startup_pages();
	CHECK_STR(relocated[1], "beta");
}

void suite_util(void)
{
	RUN(thread_runs_on_its_own_stack_and_join_unmaps_it);
	RUN(thread_sigset_leaves_faults_to_their_handler);
	RUN(trim_keeps_code_constants_and_relocated_data);
	RUN(md5_matches_rfc1321);
	RUN(parse_memsize_accepts_suffixes);
	RUN(parse_memsize_rejects_bad_input);
	RUN(parse_memsize_bare_number_from_1M_is_bytes_as_bhyve);
	RUN(parse_uint_accepts_in_range);
	RUN(parse_uint_rejects_bad_input);
}
