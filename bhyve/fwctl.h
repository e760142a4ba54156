/* bhyve's own firmware interface (fwctl, for -l bootrom,...,fwcfg=bhyve) on
 * QEMU's fw_cfg ports: the guest writes 0 to port 0x510 (16 bits) and reads
 * "BHYV" from 0x511 a byte at a time; then it writes requests as 32-bit words
 * to 0x510 and reads the responses as 32-bit words from 0x511. */
#ifndef FWCTL_H
#define FWCTL_H

#include <stdbool.h>
#include <stdint.h>

/* Sets up the protocol and registers the ports: either this or fwcfg_init,
 * never both. The only node is "hw.ncpu" (u32). */
int fwctl_init(int ncpus);

/* The protocol without the ports, for the unit tests: fwctl_setup is
 * fwctl_init without the registration, fwctl_io the handler of both ports. */
void fwctl_setup(int ncpus);
int fwctl_io(bool write, uint64_t port, int size, uint64_t *val);

#endif
