/* The process sandbox: a seccomp filter installed in every thread once the VM
 * is set up, before any guest code runs. */
#ifndef SANDBOX_H
#define SANDBOX_H

/* Reads the "sandbox" key (default true) and installs the filter. 0, or -1
 * after one line on stderr (the key is not a boolean, or seccomp refused). */
int sandbox_init(void);

#endif
