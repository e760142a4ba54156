/* vm_suspend: how device models end the VM (power-off, reset). FreeBSD's
 * libvmmapi asks vmm(4) to stop every vCPU; KVM has no such request, so the
 * VMM registers the function that stops its vCPUs and ends the process. */
#include "vmmapi.h"

#include <errno.h>

static vm_suspend_handler_t *suspend_handler;

void vm_set_suspend_handler(struct vmctx *ctx, vm_suspend_handler_t *fn)
{
	(void)ctx;
	suspend_handler = fn;
}

int vm_suspend(struct vmctx *ctx, enum vm_suspend_how how)
{
	if (suspend_handler == NULL) {
		errno = ENOSYS;
		return -1;
	}
	suspend_handler(ctx, how);
	return 0;
}
