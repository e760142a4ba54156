/* Ending the VM: devices and vCPUs ask, the main thread carries it out. */
#ifndef VMEXIT_H
#define VMEXIT_H

/* status is one of bhyve's exit codes (EXIT_REBOOT ... EXIT_ERROR); the first
 * request wins. Safe from any thread; the caller's vCPU stops running. */
void vm_request_exit(int status);

#endif
