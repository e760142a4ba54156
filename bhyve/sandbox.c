/* A seccomp filter over every thread of the VMM, installed once the devices are
 * set up. What it denies, and why a deny list, is written with its rules in
 * tools/sandbox-gen.c, which compiles them with libseccomp at build time into
 * build/sandbox_bpf.h: bhyve only hands the finished program to the kernel. */
#include "sandbox.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "config.h"
#include "sandbox_bpf.h"
#include "util.h"

int sandbox_init(void)
{
	struct sock_fprog prog = {
		.len = (unsigned short)nitems(sandbox_bpf),
		.filter = (struct sock_filter *)(uintptr_t)sandbox_bpf,
	};
	long r;
	bool on;

	if (get_config_bool_default("sandbox", true, &on) != 0)
		return -1;
	if (!on)
		return 0;
	/* Every thread, including the block and slirp workers already running
	 * (TSYNC: it fails, naming a thread, if one could not take it). */
	r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (r == 0)
		r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (r != 0) {
		warnx("sandbox: cannot install the seccomp filter: %s (-o sandbox=false runs "
		    "without it)", r < 0 ? strerror(errno) : "a thread could not take it");
		return -1;
	}
	return 0;
}
