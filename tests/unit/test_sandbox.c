/* The seccomp sandbox (bhyve/sandbox.c), installed in a child process: what a
 * taken-over VMM would do next fails, what the VMM itself does still works. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "config.h"
#include "sandbox.h"
#include "test.h"

static void *thread_fn(void *arg)
{
	return arg;
}

/* /proc's Seccomp field: 0 none, 2 a filter. */
static int seccomp_mode(void)
{
	char line[128];
	int mode = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return mode;
}

static int wrong(const char *what)
{
	fprintf(stderr, "sandbox: %s\n", what);
	return 1;
}

static void sandboxed(void *arg)
{
	char *const argv[] = { "true", NULL };
	pthread_t t;
	static int token;
	void *ret = NULL;
	int bad = 0;

	(void)arg;
	if (sandbox_init() != 0 || seccomp_mode() != 2)
		_exit(CHILD_WRONG);
	errno = 0;
	if (execv("/bin/true", argv) != -1 || errno != EPERM)
		bad += wrong("execv was not refused with EPERM");
	if (fork() != -1 || errno != EPERM)
		bad += wrong("fork was not refused with EPERM");
	if (unshare(CLONE_NEWNET) != -1 || errno != EPERM)
		bad += wrong("unshare was not refused");
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM)
		bad += wrong("ptrace was not refused");
	if (mount("none", "/tmp", "tmpfs", 0, NULL) != -1 || errno != EPERM)
		bad += wrong("mount was not refused");
	/* Threads are the VMM's own business. */
	if (pthread_create(&t, NULL, thread_fn, &token) != 0 || pthread_join(t, &ret) != 0 ||
	    ret != &token)
		bad += wrong("a thread could not be started");
	if (getpid() <= 0)
		bad += wrong("getpid failed");
	_exit(bad ? CHILD_WRONG : 0);
}

static void sandbox_denies_exec_fork_and_namespaces_not_threads(void)
{
	char why[128];
	int st = run_in_child(sandboxed, NULL, false);

	CHECK_MSG(child_ok(st, why, sizeof(why)), why);
}

static void off_child(void *arg)
{
	(void)arg;
	set_config_bool("sandbox", false);
	_exit(sandbox_init() == 0 && seccomp_mode() == 0 ? 0 : CHILD_WRONG);
}

static void sandbox_off_installs_nothing(void)
{
	char why[128];
	int st = run_in_child(off_child, NULL, true);

	CHECK_MSG(child_ok(st, why, sizeof(why)), why);
}

void suite_sandbox(void)
{
	RUN(sandbox_denies_exec_fork_and_namespaces_not_threads);
	RUN(sandbox_off_installs_nothing);
}
