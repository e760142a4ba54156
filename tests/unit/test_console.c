/* Output that nobody reads costs the host a bounded amount and never blocks:
 * the console backend (bhyve/backends/console.c) behind a pipe that is not
 * read, and the debug port's file (bhyve/devices/debugcon.c) at its size limit.
 * Both run in a child: each changes process-wide state (stdout, the port). */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/console.h"
#include "devices/debugcon.h"
#include "mevent.h"
#include "test.h"

#define CON_OUTBUF	65536		/* console.c's buffer */
#define CON_BYTES	(256 * 1024)

static uint8_t con_byte(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 12));
}

static void no_input(void *arg)
{
	(void)arg;
}

static double secs_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

#define WRONG(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); \
	_exit(CHILD_WRONG); } while (0)

struct exit_reader {
	int fd;
	uint8_t *buf;
	size_t want, n;
};

/* Starts reading a little later than the console's exit drain begins. */
static void *exit_reader(void *arg)
{
	struct exit_reader *e = arg;
	struct timespec t0;

	usleep(100 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (e->n < e->want && secs_since(&t0) < 3) {
		ssize_t r = read(e->fd, e->buf + e->n, e->want - e->n);

		if (r > 0)
			e->n += (size_t)r;
		else
			usleep(1000);
	}
	return NULL;
}

/* stdout is a 4 KiB pipe nobody reads: the writes return at once, the pipe
 * and the 64 KiB buffer fill, the rest is dropped and counted; once the reader
 * comes, the main loop hands it what was buffered, in order; at exit, a
 * reader that comes soon still gets it. */
static void console_child(void *arg)
{
	struct console *c;
	struct exit_reader ex;
	struct timespec t0;
	pthread_t t;
	uint8_t *got = malloc(CON_BYTES);
	size_t cap, n = 0;
	int p[2], null = open("/dev/null", O_RDONLY);

	(void)arg;
	if (got == NULL || null < 0 || mevent_init() != 0 || pipe2(p, O_CLOEXEC) != 0)
		WRONG("no memory, /dev/null, epoll or pipe");
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);
	cap = (size_t)fcntl(p[1], F_GETPIPE_SZ);
	if (dup2(null, STDIN_FILENO) < 0 || dup2(p[1], STDOUT_FILENO) < 0)
		WRONG("dup2");
	close(p[1]);
	c = console_open("stdio", "test-console", no_input, NULL);
	if (c == NULL)
		WRONG("console_open(stdio) refused");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < CON_BYTES; i++)
		console_write(c, con_byte(i));
	if (secs_since(&t0) > 5)
		WRONG("%d bytes took %.1f s", CON_BYTES, secs_since(&t0));
	if (console_dropped(c) != CON_BYTES - CON_OUTBUF - cap)
		WRONG("%llu dropped, expected %zu (pipe of %zu)",
		    (unsigned long long)console_dropped(c), CON_BYTES - CON_OUTBUF - cap, cap);
	/* The reader catches up: the pipe's bytes, then the buffer's through the loop. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	while (n < cap + CON_OUTBUF && secs_since(&t0) < 5) {
		ssize_t r = read(p[0], got + n, CON_BYTES - n);

		if (r > 0)
			n += (size_t)r;
		else
			mevent_poll(10);
	}
	if (n != cap + CON_OUTBUF)
		WRONG("the reader got %zu bytes, expected %zu", n, cap + CON_OUTBUF);
	for (size_t i = 0; i < n; i++)
		if (got[i] != con_byte(i))
			WRONG("byte %zu is 0x%02x, expected 0x%02x", i, got[i], con_byte(i));
	/* With room again, output flows with nothing more dropped. */
	console_write(c, 0x5a);
	if (read(p[0], got, 1) != 1 || got[0] != 0x5a ||
	    console_dropped(c) != CON_BYTES - CON_OUTBUF - cap)
		WRONG("a byte after the reader caught up did not arrive alone");
	/* At exit a reader that comes within the second gets what waits. */
	for (size_t i = 0; i < cap + CON_OUTBUF; i++)
		console_write(c, con_byte(i));
	ex = (struct exit_reader){ .fd = p[0], .buf = got, .want = cap + CON_OUTBUF };
	if (pthread_create(&t, NULL, exit_reader, &ex) != 0)
		WRONG("pthread_create");
	console_cleanup();
	pthread_join(t, NULL);
	if (ex.n != cap + CON_OUTBUF)
		WRONG("at exit the reader got %zu bytes, expected %zu", ex.n, cap + CON_OUTBUF);
	free(got);
}

static void console_unread_stdout_drops_without_blocking(void)
{
	char why[128];

	CHECK_MSG(child_ok(run_in_child(console_child, NULL, false), why, sizeof(why)), "%s", why);
}

/* lpc.debugcon.maxsize: the file stops growing there, the rest is counted. */
static void debugcon_child(void *arg)
{
	const char *path = arg;
	struct stat st;
	uint64_t v;

	if (debugcon_open(path, 1000) != 0)
		WRONG("debugcon_open %s", path);
	for (int i = 0; i < 5000; i++) {
		v = 'a' + i % 26;
		if (!debugcon_byte(true, &v))
			WRONG("byte %d not taken", i);
	}
	v = 0;
	if (!debugcon_byte(false, &v) || v != 0xe9)
		WRONG("a read returned 0x%llx, not 0xe9", (unsigned long long)v);
	if (stat(path, &st) != 0 || st.st_size != 1000)
		WRONG("the file holds %lld bytes, not 1000", (long long)st.st_size);
	if (debugcon_dropped() != 4000)
		WRONG("%llu dropped, not 4000", (unsigned long long)debugcon_dropped());
}

static void debugcon_file_stops_at_its_limit(void)
{
	char *path = make_temp_file(0, 0), why[128];

	REQUIRE(path != NULL);
	CHECK_MSG(child_ok(run_in_child(debugcon_child, path, false), why, sizeof(why)), "%s", why);
	unlink(path);
	free(path);
}

void suite_console(void)
{
	RUN(console_unread_stdout_drops_without_blocking);
	RUN(debugcon_file_stops_at_its_limit);
}
