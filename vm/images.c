/* vm iso, vm img, clone, snapshot, rollback.
 * Not written yet: each command says so. */
#include <sys/types.h>

#include "vm.h"

int cmd_iso(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("iso: not implemented yet");
}

int cmd_img(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("img: not implemented yet");
}

int cmd_clone(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("clone: not implemented yet");
}

int cmd_snapshot(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("snapshot: not implemented yet");
}

int cmd_rollback(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("rollback: not implemented yet");
}

int image_to_disk(const char *src, const char *dst)
{
	(void)src, (void)dst;
	return vm_err("create -i: not implemented yet");
}

int cloudinit_seed(const char *iso, const char *name, const char *pubkey_file,
    const char *net)
{
	(void)iso, (void)name, (void)pubkey_file, (void)net;
	return vm_err("create -C: not implemented yet");
}
