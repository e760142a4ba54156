/* vm console.
 * Not written yet: each command says so. */
#include <sys/types.h>

#include "vm.h"

int cmd_console(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("console: not implemented yet");
}
