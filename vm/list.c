/* vm list and vm info (with --json).
 * Not written yet: each command says so. */
#include <sys/types.h>

#include "vm.h"

int cmd_list(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("list: not implemented yet");
}

int cmd_info(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("info: not implemented yet");
}
