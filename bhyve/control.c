/* The registry entry of the VM this bhyve runs, and its control socket. The
 * protocol is one line each way and then the body: bhyvectl writes
 * "REQUEST [ARG]\n", bhyve answers "ok\n" and text, or "error MESSAGE\n", and
 * closes the connection. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "mevent.h"
#include "registry.h"
#include "sandbox.h"
#include "util.h"

#define REPLY_MAX	16384

static struct vmreg reg;
static bool attached, destroy_at_exit, created_here, listening;
static int exit_code = -1;
static int listen_fd = -1;
static control_handler_t *handler;

static void drop_loader_files(void)
{
	char path[PATH_MAX], leaf[16];

	if (vmreg_path(&reg, "mem", path, sizeof(path)) == 0)
		unlink(path);
	for (int i = 0; i < (reg.ncpus > 0 ? reg.ncpus : 1); i++) {
		snprintf(leaf, sizeof(leaf), "vcpu%d", i);
		if (vmreg_path(&reg, leaf, path, sizeof(path)) == 0)
			unlink(path);
	}
}

static void detach(void *arg)
{
	char path[PATH_MAX];

	(void)arg;
	if (!attached)
		return;
	attached = false;
	/* A VM this process made and never got to run (start-up failed) goes. */
	if (destroy_at_exit || (created_here && !listening) ||
	    (exit_code == EXIT_POWEROFF && config_bool("destroy_on_poweroff", false))) {
		vmreg_destroy(&reg);
		return;
	}
	if (vmreg_path(&reg, "ctl", path, sizeof(path)) == 0)
		unlink(path);
	drop_loader_files();
	reg.state = VMREG_STOPPED;
	reg.pid = 0;
	vmreg_save(&reg);
	vmreg_unlock(&reg);
}

void control_set_exit(int status, bool destroy)
{
	exit_code = status;
	destroy_at_exit = destroy_at_exit || destroy;
}

int control_attach(const char *name, bool bootrom, uint64_t memsize, int ncpus,
    bool *handoff, int *memfd)
{
	char path[PATH_MAX];
	struct stat st;

	*handoff = false;
	*memfd = -1;
	if (vmreg_open(name, &reg) == 0) {
		if (vmreg_lock(&reg) != 0) {
			warnx("VM %s is in use by process %ld", name, reg.pid);
			return EXIT_ERROR;
		}
		if (!bootrom) {
			if (reg.state != VMREG_LOADED) {
				warnx("VM %s has nothing loaded (it is %s): run a loader first, or "
				    "boot it with -l bootrom,FILE", name, vmreg_state_name(reg.state));
				goto fail;
			}
			if (reg.memsize != memsize) {
				warnx("VM %s was loaded with %llu MiB of memory, -m asks for %llu MiB",
				    name, (unsigned long long)(reg.memsize >> 20),
				    (unsigned long long)(memsize >> 20));
				goto fail;
			}
			/* 0: a loader that sets vCPU 0 only (grub-bhyve) and takes any -c. */
			if (reg.ncpus != 0 && reg.ncpus != ncpus) {
				warnx("VM %s was loaded for %d vCPU(s), -c asks for %d", name,
				    reg.ncpus, ncpus);
				goto fail;
			}
			if (vmreg_path(&reg, "mem", path, sizeof(path)) != 0 ||
			    (*memfd = open(path, O_RDWR | O_CLOEXEC)) < 0 ||
			    fstat(*memfd, &st) != 0 || (uint64_t)st.st_size != memsize) {
				warnx("VM %s: its memory file is missing or not %llu bytes", name,
				    (unsigned long long)memsize);
				goto fail;
			}
			*handoff = true;
		} else {
			/* A boot ROM starts from scratch: what a loader left goes. */
			drop_loader_files();
		}
	} else if (errno == ENOENT) {
		if (!bootrom) {
			warnx("no boot ROM and no VM %s loaded: use -l bootrom,FILE or a loader "
			    "(bhyveload is not implemented yet)", name);
			return EXIT_ERROR;
		}
		if (vmreg_create(name, VMREG_RUNNING, memsize, ncpus, &reg) != 0) {
			warnx("VM %s: cannot make its entry in %s: %s", name, vmreg_runroot(),
			    strerror(errno));
			return EXIT_ERROR;
		}
		created_here = true;
	} else {
		warnx("VM %s: %s/%s: %s", name, vmreg_runroot(), name, strerror(errno));
		return EXIT_ERROR;
	}
	reg.state = VMREG_RUNNING;
	reg.pid = (long)getpid();
	reg.memsize = memsize;
	reg.ncpus = ncpus;
	if (vmreg_save(&reg) != 0) {
		warnx("VM %s: cannot write its state: %s", name, strerror(errno));
		goto fail;
	}
	attached = true;
	at_exit_cleanup(detach, NULL);
	/* What detach() and a destroy do at exit, the event loop may do by path. */
	sandbox_allow_path(reg.rundir, SANDBOX_PATH_OWN);
	sandbox_allow_path(reg.rundir, SANDBOX_PATH_REMOVE);
	sandbox_allow_path(reg.link, SANDBOX_PATH_REMOVE);
	return 0;
fail:
	if (*memfd >= 0)
		close(*memfd);
	*memfd = -1;
	vmreg_unlock(&reg);
	return EXIT_ERROR;
}

int control_vcpu_state(int cpu, char *buf, size_t len)
{
	char leaf[16];

	snprintf(leaf, sizeof(leaf), "vcpu%d", cpu);
	return vmreg_path(&reg, leaf, buf, len);
}

static void serve(int fd, void *arg)
{
	char req[128], *reply;
	struct timeval tv = { .tv_sec = 2 };
	ssize_t n;
	int c, rc;

	(void)arg;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = recv(c, req, sizeof(req) - 1, 0);
	if (n <= 0) {
		close(c);
		return;
	}
	req[n] = '\0';
	req[strcspn(req, "\n")] = '\0';
	reply = xmalloc(REPLY_MAX);
	reply[0] = '\0';
	rc = handler(req, reply, REPLY_MAX);
	dprintf(c, "%s%s%s", rc == 0 ? "ok\n" : "error ", reply, rc == 0 ? "" : "\n");
	free(reply);
	close(c);
}

int control_listen(control_handler_t *fn)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[PATH_MAX];

	handler = fn;
	if (vmreg_path(&reg, "ctl", path, sizeof(path)) != 0 || strlen(path) >= sizeof(sa.sun_path)) {
		warnx("VM %s: the control socket's path is too long", reg.name);
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(listen_fd, 4) != 0 || mevent_add(listen_fd, serve, NULL) == NULL) {
		warn("VM %s: control socket %s", reg.name, path);
		return -1;
	}
	listening = true;
	return 0;
}
