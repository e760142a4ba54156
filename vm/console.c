/* vm console NAME [comN]: the guest's serial port, through the pty link bhyve
 * makes (/dev/nmdm-NAME.NB), in the manner of cu(1): ~. at the start of a
 * line leaves, ~? lists the escapes. One user at a time: DIR/console.lock
 * (flock, holding the user's pid) says who has it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <termios.h>
#include <unistd.h>

#include "vm.h"

static struct termios saved;
static bool raw_set;

static void restore(void)
{
	if (raw_set)
		tcsetattr(0, TCSAFLUSH, &saved);
	raw_set = false;
}

static void say(const char *s)
{
	(void)!write(1, s, strlen(s));
}

static int pump(int fd)
{
	bool line_start = true, tilde = false;
	struct pollfd pf[2] = { { .fd = 0, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	char buf[4096], out[8192];
	ssize_t n;

	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0) {
				say("\r\n[the guest's console closed: it stopped]\r\n");
				return 0;
			}
			(void)!write(1, buf, (size_t)n);
		}
		if (!(pf[0].revents & (POLLIN | POLLHUP)))
			continue;
		n = read(0, buf, sizeof(buf));
		if (n <= 0)
			return 0;
		size_t o = 0;

		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];

			if (tilde) {
				tilde = false;
				if (c == '.') {
					if (o)
						(void)!write(fd, out, o);
					say("\r\n[EOT]\r\n");
					return 0;
				}
				if (c == '?') {
					say("\r\n~.  leave the console\r\n~?  this help\r\n~~  send a ~\r\n");
					continue;
				}
				if (c != '~')
					out[o++] = '~';
				out[o++] = c;
			} else if (line_start && c == '~') {
				tilde = true;
				continue;
			} else {
				out[o++] = c;
			}
			line_start = c == '\r' || c == '\n';
		}
		if (o && write(fd, out, o) < 0)
			return 0;
	}
}

int cmd_console(struct vmhost *h, int argc, char **argv)
{
	char dir[4096], path[4200], host[256], pidbuf[32];
	const char *port, *dev;
	struct vmconf *run;
	struct termios t;
	int lock, fd, rc;
	pid_t pid;
	ssize_t n;

	if (argc < 2 || argc > 3)
		return vm_err("usage: vm console name [comN]");
	port = argc == 3 ? argv[2] : "com1";
	if (host_need_dir(h) != 0)
		return 1;
	if (guest_find(h, argv[1], dir, sizeof(dir), NULL, 0) != 0)
		return vm_err("%s doesn't appear to be a valid virtual machine", argv[1]);
	switch (guest_state(dir, &pid, host, sizeof(host))) {
	case GUEST_RUNNING:
	case GUEST_BOOTLOADER:
		break;
	case GUEST_LOCKED:
		return vm_err("%s runs on host %s: its console is there", argv[1], host);
	default:
		return vm_err("%s is not running", argv[1]);
	}
	snprintf(path, sizeof(path), "%s/.run", dir);
	if ((run = conf_load(path)) == NULL)
		return vm_err("%s: cannot read %s: %s", argv[1], path, strerror(errno));
	dev = conf_get(run, port);
	if (dev == NULL) {
		conf_free(run);
		return vm_err("%s has no %s (comports in its configuration)", argv[1], port);
	}
	snprintf(path, sizeof(path), "%s", dev);
	conf_free(run);
	if (strcmp(path, "stdio") == 0)
		return vm_err("%s's %s is the terminal of vm start -f", argv[1], port);

	{
		char lpath[4200];

		snprintf(lpath, sizeof(lpath), "%s/console.lock", dir);
		if ((lock = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
			return vm_err("cannot open %s: %s", lpath, strerror(errno));
	}
	if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
		n = pread(lock, pidbuf, sizeof(pidbuf) - 1, 0);
		pidbuf[n > 0 ? n : 0] = '\0';
		pidbuf[strcspn(pidbuf, "\n")] = '\0';
		close(lock);
		return vm_err("%s's console is in use by vm console (pid %s); leave that one with ~.",
		    argv[1], *pidbuf ? pidbuf : "?");
	}
	snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(lock, 0) != 0 || pwrite(lock, pidbuf, strlen(pidbuf), 0) < 0) {
		close(lock);
		return vm_err("cannot write %s/console.lock: %s", dir, strerror(errno));
	}
	if ((fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		close(lock);
		return vm_err("%s: cannot open %s: %s", argv[1], path, strerror(errno));
	}
	/* The guest's side is raw too: no echo or line editing by the pty. */
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	if (isatty(0) && tcgetattr(0, &saved) == 0) {
		t = saved;
		cfmakeraw(&t);
		if (tcsetattr(0, TCSAFLUSH, &t) == 0)
			raw_set = true;
	}
	signal(SIGPIPE, SIG_IGN);
	say("Connected (~. to leave, ~? for help)\r\n");
	rc = pump(fd);
	restore();
	close(fd);
	close(lock);
	return rc;
}
