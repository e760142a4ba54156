#include "console.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "mevent.h"
#include "util.h"

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

static void drop_client(struct console *c)
{
	if (c->rx_ev != NULL)
		mevent_delete(c->rx_ev);
	c->rx_ev = NULL;
	if (c->kind == CON_TCP && c->rfd >= 0)
		close(c->rfd);
	c->rfd = -1;
	if (c->kind == CON_TCP)
		c->wfd = -1;
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

void console_write(struct console *c, uint8_t byte)
{
	ssize_t r;

	if (c->wfd < 0)
		return;
	do {
		r = write(c->wfd, &byte, 1);
	} while (r < 0 && errno == EINTR);
	/* A reader that is not keeping up loses bytes, as a real line would. */
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

static int open_stdio(struct console *c, const char *devname)
{
	if (stdio_used) {
		warnx("%s: stdio is already used by another device", devname);
		return -1;
	}
	stdio_used = true;
	c->kind = CON_STDIO;
	c->rfd = STDIN_FILENO;
	c->wfd = STDOUT_FILENO;
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
	c->kind = CON_PTY;
	c->rfd = c->wfd = m;
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
	c->rfd = c->wfd = s;
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
	c->rfd = c->wfd = c->listen_fd = c->pty_slave = -1;
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
		free(c);
		return NULL;
	}
	c->next = consoles;
	consoles = c;
	return c;
}

void console_cleanup(void)
{
	restore_stdin();
	for (struct console *c = consoles; c != NULL; c = c->next)
		if (c->kind == CON_PTY && c->link[0] != '\0')
			unlink(c->link);
}
