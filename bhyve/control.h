/* The VM's registry entry while this bhyve runs it, and its control socket,
 * which bhyvectl talks to (see lib/vmmapi/registry.h). */
#ifndef CONTROL_H
#define CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Finds or makes the VM's entry and locks it for this process: 0, or an exit
 * status after one line on stderr. Without a boot ROM the VM must exist and
 * hold what a loader left (the hand-off); *memfd is then its memory file. */
int control_attach(const char *name, bool bootrom, uint64_t memsize, int ncpus,
    bool *handoff, int *memfd);
/* The vCPU state file a loader left for cpu. */
int control_vcpu_state(int cpu, char *buf, size_t len);
/* One request line in, a reply (0) or an error message (-1) out. */
typedef int control_handler_t(const char *req, char *reply, size_t len);
/* The control socket, served on the event loop. */
int control_listen(control_handler_t *fn);
/* How the process ends, for the entry: a VM whose bhyve powered off under
 * destroy_on_poweroff, or that bhyvectl --destroy stopped, is removed; any
 * other stays (stopped), as FreeBSD's VMs do. */
void control_set_exit(int status, bool destroy);

#endif
