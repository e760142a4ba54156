/* create, destroy, rename, add, set, get, configure, templates.
 * Not written yet: each command says so. */
#include <sys/types.h>

#include "vm.h"

int cmd_create(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("create: not implemented yet");
}

int cmd_destroy(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("destroy: not implemented yet");
}

int cmd_rename(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("rename: not implemented yet");
}

int cmd_add(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("add: not implemented yet");
}

int cmd_set(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("set: not implemented yet");
}

int cmd_get(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("get: not implemented yet");
}

int cmd_configure(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("configure: not implemented yet");
}
