/* Console backends. Output never blocks the caller (a vCPU under its UART's
 * lock): bytes go to a non-blocking descriptor, what it cannot take now waits
 * in a bounded buffer (CONSOLE_OUTBUF) that the main loop empties when the
 * reader makes room, and what does not fit is dropped and counted, as a real
 * line without flow control would lose it. */
#include "console.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "mevent.h"
#include "sandbox.h"
#include "util.h"

#define CONSOLE_OUTBUF	65536	/* output bytes held for a reader that is behind */
#define CONSOLE_EXIT_DRAIN_S	1	/* at exit, the longest wait for those to go out */

enum console_kind { CON_STDIO, CON_PTY, CON_TCP };

struct console {
	enum console_kind kind;
	int rfd, wfd;		/* -1 when nobody is connected */
	int listen_fd;
	int pty_slave;		/* held open so the pty survives without a reader */
	char link[256];		/* the B side's path for CON_PTY */
	struct mevent *rx_ev, *listen_ev;
	console_rx_cb_t cb;
	void *arg;
	int paused;
	/* Output, under out_mtx (taken inside the device's lock): */
	pthread_mutex_t out_mtx;
	uint8_t *out;		/* ring of CONSOLE_OUTBUF bytes */
	size_t out_head, out_len;
	int tx_fd;		/* wfd's duplicate that the main loop watches for room */
	struct mevent *tx_ev;
	bool tx_on;
	uint64_t dropped;
	bool drop_logged;
	struct console *next;
};

static struct console *consoles;
static bool stdio_used;
static bool stdin_raw;
static struct termios stdin_saved;

static void rx_ready(int fd, void *arg)
{
	struct console *c = arg;

	(void)fd;
	c->cb(c->arg);
}

/* Stops watching for room and forgets what waits; out_mtx held. */
static void out_reset(struct console *c)
{
	if (c->tx_ev != NULL)
		mevent_delete(c->tx_ev);
	c->tx_ev = NULL;
	c->tx_on = false;
	if (c->tx_fd >= 0)
		close(c->tx_fd);
	c->tx_fd = -1;
	c->dropped += c->out_len;
	c->out_head = c->out_len = 0;
}

static void drop_client(struct console *c)
{
	if (c->rx_ev != NULL)
		mevent_delete(c->rx_ev);
	c->rx_ev = NULL;
	if (c->kind == CON_TCP && c->rfd >= 0)
		close(c->rfd);
	c->rfd = -1;
	if (c->kind == CON_TCP) {
		pthread_mutex_lock(&c->out_mtx);
		out_reset(c);
		c->wfd = -1;
		pthread_mutex_unlock(&c->out_mtx);
	}
}

size_t console_read(struct console *c, uint8_t *buf, size_t n)
{
	ssize_t r;

	if (c->rfd < 0 || n == 0)
		return 0;
	/* Never block a vCPU: stdin is left blocking, as the user's terminal was. */
	if (poll(&(struct pollfd){ .fd = c->rfd, .events = POLLIN }, 1, 0) <= 0)
		return 0;
	r = read(c->rfd, buf, n);
	if (r > 0)
		return (size_t)r;
	if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
		/* End of input (stdin at EOF, client gone): stop watching it. The pty's
		 * master reads EIO while no one holds the B side open; that is not the end. */
		if (c->kind == CON_PTY) {
			return 0;
		}
		drop_client(c);
	}
	return 0;
}

static void tx_ready(int fd, void *arg);

/* Writes what waits until the descriptor would block; out_mtx held. Then
 * watches for room while anything is left. A write error other than "would
 * block" (the reader went away for good) drops what waits. */
static void out_flush(struct console *c)
{
	while (c->out_len > 0) {
		size_t n = CONSOLE_OUTBUF - c->out_head < c->out_len ?
		    CONSOLE_OUTBUF - c->out_head : c->out_len;
		ssize_t r = write(c->wfd, c->out + c->out_head, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN) {
				c->dropped += c->out_len;
				c->out_head = c->out_len = 0;
			}
			break;
		}
		c->out_head = (c->out_head + (size_t)r) % CONSOLE_OUTBUF;
		c->out_len -= (size_t)r;
	}
	if (c->tx_ev != NULL && (c->out_len > 0) != c->tx_on) {
		c->tx_on = c->out_len > 0;
		(void)mevent_set_events(c->tx_ev, c->tx_on ? MEVENT_WRITE : 0);
	}
}

/* Main loop: the reader made room. */
static void tx_ready(int fd, void *arg)
{
	struct console *c = arg;

	(void)fd;
	pthread_mutex_lock(&c->out_mtx);
	if (c->wfd >= 0)
		out_flush(c);
	pthread_mutex_unlock(&c->out_mtx);
}

/* Sets up, not yet armed, the watch for room on a new wfd (at open or when a
 * client connects, so that a vCPU writing later only arms it): a duplicate,
 * as epoll already watches wfd itself for input. A regular file, which epoll
 * refuses, gets none; it never stays full. out_mtx held. */
static void out_watch(struct console *c)
{
	c->tx_fd = fcntl(c->wfd, F_DUPFD_CLOEXEC, 3);
	if (c->tx_fd < 0)
		return;
	c->tx_ev = mevent_add(c->tx_fd, tx_ready, c);
	if (c->tx_ev == NULL || mevent_set_events(c->tx_ev, 0) != 0) {
		out_reset(c);
		return;
	}
	c->tx_on = false;
}

void console_write(struct console *c, uint8_t byte)
{
	pthread_mutex_lock(&c->out_mtx);
	if (c->wfd < 0) {
		c->dropped++;		/* nobody connected */
	} else if (c->out_len == CONSOLE_OUTBUF) {
		c->dropped++;
		if (!c->drop_logged) {
			c->drop_logged = true;
			warnx("console: the reader is not keeping up; output is dropped "
			    "(reported once)");
		}
	} else {
		c->out[(c->out_head + c->out_len) % CONSOLE_OUTBUF] = byte;
		c->out_len++;
		out_flush(c);
	}
	pthread_mutex_unlock(&c->out_mtx);
}

uint64_t console_dropped(struct console *c)
{
	uint64_t n;

	pthread_mutex_lock(&c->out_mtx);
	n = c->dropped;
	pthread_mutex_unlock(&c->out_mtx);
	return n;
}

void console_rx_pause(struct console *c, int paused)
{
	if (c->rx_ev == NULL || c->paused == paused)
		return;
	c->paused = paused;
	if (paused)
		mevent_disable(c->rx_ev);
	else
		mevent_enable(c->rx_ev);
}

static void restore_stdin(void)
{
	if (stdin_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &stdin_saved);
	stdin_raw = false;
}

/* A non-blocking descriptor for stdout that leaves stdout's own flags alone
 * (the shell shares them): a pipe or terminal opened again through /proc. A
 * regular file (reopening would lose O_APPEND and the offset) never blocks; a
 * socket keeps stdout, made non-blocking, as nothing else can be had. */
static int stdout_nonblocking(void)
{
	struct stat st;
	int fd, fl;

	if (fstat(STDOUT_FILENO, &st) != 0 || S_ISREG(st.st_mode))
		return STDOUT_FILENO;
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	fl = fcntl(STDOUT_FILENO, F_GETFL);
	if (fl >= 0)
		(void)fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK);
	return STDOUT_FILENO;
}

static int open_stdio(struct console *c, const char *devname)
{
	if (stdio_used) {
		warnx("%s: stdio is already used by another device", devname);
		return -1;
	}
	stdio_used = true;
	c->kind = CON_STDIO;
	c->rfd = STDIN_FILENO;
	c->wfd = stdout_nonblocking();
	out_watch(c);
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &stdin_saved) == 0) {
		struct termios raw = stdin_saved;

		cfmakeraw(&raw);
		raw.c_oflag |= OPOST | ONLCR;	/* our own messages stay readable */
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
			stdin_raw = true;
	}
	c->rx_ev = mevent_add(STDIN_FILENO, rx_ready, c);
	/* stdin may be a file or /dev/null, which epoll refuses: then there is no input. */
	if (c->rx_ev == NULL)
		c->rfd = -1;
	return 0;
}

/* bhyve's null-modem form: "/dev/nmdm0A" is the guest's end; users attach to the
 * B path. Here the guest gets a pty master and the B path links to its slave. */
static bool is_nmdm(const char *path)
{
	size_t n = strlen(path);

	return strncmp(path, "/dev/nmdm", 9) == 0 && n > 9 && path[n - 1] == 'A';
}

static int open_pty(struct console *c, const char *path, const char *devname)
{
	struct stat st;
	struct termios t;
	const char *slave;
	int m;

	snprintf(c->link, sizeof(c->link), "%s", path);
	c->link[strlen(c->link) - 1] = 'B';
	if (lstat(c->link, &st) == 0) {
		/* A link left by a crashed run points nowhere; a live one is in use. */
		if (!S_ISLNK(st.st_mode) || stat(c->link, &st) == 0) {
			warnx("%s: console device %s already in use", devname, c->link);
			c->link[0] = '\0';
			return -1;
		}
		unlink(c->link);
	}
	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || (slave = ptsname(m)) == NULL ||
	    (c->pty_slave = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		warnx("%s: cannot create a pty: %s", devname, strerror(errno));
		goto fail;
	}
	if (tcgetattr(c->pty_slave, &t) == 0) {
		cfmakeraw(&t);	/* no echo back into the guest */
		tcsetattr(c->pty_slave, TCSANOW, &t);
	}
	if (symlink(slave, c->link) < 0) {
		warnx("%s: cannot create %s: %s", devname, c->link, strerror(errno));
		goto fail;
	}
	sandbox_allow_path(c->link, SANDBOX_PATH_REMOVE);	/* removed at exit */
	c->kind = CON_PTY;
	c->rfd = c->wfd = m;
	out_watch(c);
	c->rx_ev = mevent_add(m, rx_ready, c);
	return 0;
fail:
	c->link[0] = '\0';
	if (c->pty_slave >= 0)
		close(c->pty_slave);
	c->pty_slave = -1;
	if (m >= 0)
		close(m);
	return -1;
}

static void tcp_accept(int fd, void *arg)
{
	struct console *c = arg;
	int s = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (s < 0)
		return;
	if (c->rfd >= 0) {
		/* One client at a time, like a serial line. */
		close(s);
		return;
	}
	pthread_mutex_lock(&c->out_mtx);
	c->wfd = s;
	out_watch(c);
	pthread_mutex_unlock(&c->out_mtx);
	c->rfd = s;
	c->rx_ev = mevent_add(s, rx_ready, c);
	if (c->paused && c->rx_ev)
		mevent_disable(c->rx_ev);
}

static int open_tcp(struct console *c, const char *spec, const char *devname)
{
	char *copy = xstrdup(spec), *colon = strrchr(copy, ':'), *host = copy;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	int s = -1, one = 1, rc = -1;

	if (colon == NULL || colon[1] == '\0') {
		warnx("%s: invalid tcp address \"%s\": expected tcp=ip:port", devname, spec);
		goto out;
	}
	*colon = '\0';
	if (host[0] == '[' && colon[-1] == ']') {
		host++;
		colon[-1] = '\0';
	}
	if (getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai) != 0) {
		warnx("%s: invalid tcp address \"%s\"", devname, spec);
		goto out;
	}
	s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, ai->ai_addr, ai->ai_addrlen) < 0 || listen(s, 1) < 0) {
		warnx("%s: cannot listen on %s: %s", devname, spec, strerror(errno));
		if (s >= 0)
			close(s);
		goto out;
	}
	c->kind = CON_TCP;
	c->listen_fd = s;
	c->rfd = c->wfd = -1;
	c->listen_ev = mevent_add(s, tcp_accept, c);
	rc = 0;
out:
	if (ai)
		freeaddrinfo(ai);
	free(copy);
	return rc;
}

struct console *console_open(const char *path, const char *devname,
    console_rx_cb_t cb, void *arg)
{
	struct console *c = xcalloc(1, sizeof(*c));
	int rc;

	c->cb = cb;
	c->arg = arg;
	c->rfd = c->wfd = c->listen_fd = c->pty_slave = c->tx_fd = -1;
	c->out = xmalloc(CONSOLE_OUTBUF);
	pthread_mutex_init(&c->out_mtx, NULL);
	if (strcmp(path, "stdio") == 0)
		rc = open_stdio(c, devname);
	else if (strncmp(path, "tcp=", 4) == 0)
		rc = open_tcp(c, path + 4, devname);
	else if (is_nmdm(path))
		rc = open_pty(c, path, devname);
	else {
		warnx("%s: unsupported console \"%s\" (use stdio, /dev/nmdmNA or tcp=ip:port)",
		    devname, path);
		rc = -1;
	}
	if (rc != 0) {
		pthread_mutex_destroy(&c->out_mtx);
		free(c->out);
		free(c);
		return NULL;
	}
	c->next = consoles;
	consoles = c;
	return c;
}

/* At exit what still waits gets a moment to go out, so that a reader a
 * little behind (a pipe into a script) still sees the guest's last lines; a
 * vCPU caught holding the lock loses it, as does a reader that stays away. */
static void out_drain_at_exit(struct console *c, const struct timespec *end)
{
	struct timespec now;
	int ms;

	if (pthread_mutex_trylock(&c->out_mtx) != 0)
		return;
	while (c->wfd >= 0 && c->out_len > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (int)((end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000);
		if (ms <= 0 || poll(&(struct pollfd){ .fd = c->wfd, .events = POLLOUT }, 1, ms) <= 0)
			break;
		out_flush(c);
	}
	pthread_mutex_unlock(&c->out_mtx);
}

void console_cleanup(void)
{
	struct timespec end;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += CONSOLE_EXIT_DRAIN_S;
	for (struct console *c = consoles; c != NULL; c = c->next)
		out_drain_at_exit(c, &end);
	restore_stdin();
	for (struct console *c = consoles; c != NULL; c = c->next)
		if (c->kind == CON_PTY && c->link[0] != '\0')
			unlink(c->link);
}
