/* vm switch: virtual switches on Linux bridges, taps for guests.
 * Not written yet: each command says so. */
#include <sys/types.h>

#include "vm.h"

int cmd_switch(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("switch: not implemented yet");
}

int net_tap_create(const struct vmhost *h, const char *guest, int idx,
    const char *sw, char *ifname, size_t n)
{
	(void)h, (void)guest, (void)idx, (void)sw, (void)ifname, (void)n;
	return vm_err("network devices: not implemented yet");
}

void net_tap_destroy(const char *ifname)
{
	(void)ifname;
}

int net_iface_bytes(const char *ifname, uint64_t *in, uint64_t *out)
{
	(void)ifname;
	*in = *out = 0;
	return -1;
}

int switch_init_all(struct vmhost *h)
{
	(void)h;
	return 0;
}
