/* The process sandbox (docs/security.md): inherited descriptors closed at
 * start-up; once the VM is set up, privileges dropped and a seccomp allow-list
 * over every thread, which each thread narrows to its role's. tools/sandbox-gen.c
 * includes this header too, so it holds nothing but plain C. */
#ifndef SANDBOX_H
#define SANDBOX_H

/* Each thread's role, and the program (build/sandbox_bpf.h) it runs under. */
enum sandbox_role {
	SANDBOX_VCPU,	/* vCPU threads, and bhyve-emu's software CPU thread */
	SANDBOX_LOOP,	/* the main thread's event loop (mevent), control socket */
	SANDBOX_BLOCK,	/* the block backend's worker threads */
	SANDBOX_NET,	/* virtio-net's transmit thread */
	SANDBOX_SLIRP,	/* the slirp backend's thread (libslirp) */
	SANDBOX_RFB,	/* fbuf's VNC thread (libvncserver) */
	SANDBOX_NROLES
};

/* Stands for the process's pid in the programs until sandbox_init patches it. */
#define SANDBOX_PID_MAGIC	0x5ad0b0c5u

/* Closes every descriptor above stderr: bhyve takes none by number, and a
 * launcher's leftovers must not reach a guest's attacker. Call first in main. */
void sandbox_close_inherited(void);

/* Reads "sandbox" (default true) and "sandbox.user", then drops to the user
 * (if one is named), drops every capability and installs the base program in
 * every thread. 0, or -1 after one line on stderr. */
int sandbox_init(void);

/* The calling thread takes its role: its program, stacked over the base one,
 * from now on. Once per thread; nothing while the sandbox is off. A thread that
 * cannot take it ends the process (it would otherwise run under the base only). */
void sandbox_enter(enum sandbox_role role);

/* The files the event loop may still touch by path once the sandbox is in
 * place (a Landlock domain over that thread, where the kernel has Landlock):
 * SANDBOX_PATH_OWN, a directory of this VM's own (the registry's run
 * directory), in which it may make, write, rename and remove files;
 * SANDBOX_PATH_REMOVE, a file or directory it removes at exit (a console's
 * link, a socket it made), for which the directory holding it lets files and
 * directories be removed. Registered during set-up, before sandbox_init; a
 * path that does not exist then is left out. */
enum sandbox_path { SANDBOX_PATH_OWN, SANDBOX_PATH_REMOVE };
void sandbox_allow_path(const char *path, enum sandbox_path how);

/* A thread started before the sandbox waits for work; its waker, kept in its
 * owner's struct, wakes it once the sandbox is there, so that it takes its
 * role at once rather than at its first piece of work. Removed before the
 * owner goes away (removing one never added does nothing). */
struct sandbox_waker {
	void (*fn)(void *arg);
	void *arg;
	struct sandbox_waker *next;
};
void sandbox_waker_add(struct sandbox_waker *w, void (*fn)(void *), void *arg);
void sandbox_waker_remove(struct sandbox_waker *w);

#endif
