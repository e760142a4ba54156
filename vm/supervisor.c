/* start, stop, restart, reset, poweroff, startall, stopall, install and the per-guest supervisor.
 * Not written yet: each command says so. */
#include <sys/types.h>

#include "vm.h"

int cmd_start(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("start: not implemented yet");
}

int cmd_stop(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("stop: not implemented yet");
}

int cmd_restart(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("restart: not implemented yet");
}

int cmd_reset(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("reset: not implemented yet");
}

int cmd_poweroff(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("poweroff: not implemented yet");
}

int cmd_startall(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("startall: not implemented yet");
}

int cmd_stopall(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("stopall: not implemented yet");
}

int cmd_install(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("install: not implemented yet");
}

int cmd_supervise(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("supervise: not implemented yet");
}

enum guest_state guest_state(const char *dir, pid_t *pid, char *host, size_t hn)
{
	(void)dir, (void)host, (void)hn;
	*pid = 0;
	return GUEST_STOPPED;
}
