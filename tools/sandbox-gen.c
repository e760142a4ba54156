/* Build tool: compiles bhyve's seccomp filter (the rules below) with libseccomp
 * and writes it as C, build/sandbox_bpf.h, which bhyve/sandbox.c embeds. bhyve
 * itself then needs neither libseccomp nor its run-time work (about 240 KiB of
 * RSS and the time to build the program at each start).
 *
 * The filter denies what an attacker who took over the process through a
 * device bug would reach for next: running a program, making a process,
 * tracing or reading another one, loading kernel code, entering namespaces,
 * mounting, rebooting the host. Those fail with EPERM. It is a deny list, not
 * an allow list: KVM, io_uring, libslirp and glibc need a wide set of calls
 * that changes with their versions. */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

static const int denied[] = {
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork), SCMP_SYS(vfork),
	SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
	SCMP_SYS(pidfd_getfd), SCMP_SYS(kcmp),
	SCMP_SYS(init_module), SCMP_SYS(finit_module), SCMP_SYS(delete_module),
	SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load), SCMP_SYS(bpf),
	SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd),
	SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot),
	SCMP_SYS(setns), SCMP_SYS(unshare), SCMP_SYS(fsopen), SCMP_SYS(fsmount),
	SCMP_SYS(open_tree), SCMP_SYS(move_mount),
	SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(acct),
	SCMP_SYS(settimeofday), SCMP_SYS(clock_settime), SCMP_SYS(clock_adjtime),
	SCMP_SYS(adjtimex), SCMP_SYS(sethostname), SCMP_SYS(setdomainname),
	SCMP_SYS(iopl), SCMP_SYS(ioperm), SCMP_SYS(personality),
	SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(keyctl),
	SCMP_SYS(setuid), SCMP_SYS(setgid), SCMP_SYS(setreuid), SCMP_SYS(setregid),
	SCMP_SYS(setresuid), SCMP_SYS(setresgid), SCMP_SYS(setgroups),
};

int main(void)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
	struct sock_filter ins;
	FILE *tmp = tmpfile();
	int r, n = 0;

	if (f == NULL || tmp == NULL) {
		fprintf(stderr, "sandbox-gen: out of memory\n");
		return 1;
	}
	r = 0;
	for (size_t i = 0; r == 0 && i < nitems(denied); i++)
		r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), denied[i], 0);
	/* New threads yes, new processes no. clone3 hides its flags in memory a
	 * filter cannot read: ENOSYS sends glibc back to clone. */
	if (r == 0)
		r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	if (r == 0)
		r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0)
		r = seccomp_export_bpf(f, fileno(tmp));
	seccomp_release(f);
	if (r != 0) {
		fprintf(stderr, "sandbox-gen: libseccomp: %s\n", strerror(-r));
		return 1;
	}
	rewind(tmp);
	printf("/* Made by tools/sandbox-gen.c from its rules with libseccomp: do not edit. */\n");
	printf("static const struct sock_filter sandbox_bpf[] = {\n");
	while (fread(&ins, sizeof(ins), 1, tmp) == 1) {
		printf("\t{ 0x%04x, %u, %u, 0x%08x },\n", ins.code, ins.jt, ins.jf, ins.k);
		n++;
	}
	printf("};\n");
	if (n == 0 || fflush(stdout) != 0) {
		fprintf(stderr, "sandbox-gen: no filter written\n");
		return 1;
	}
	return 0;
}
