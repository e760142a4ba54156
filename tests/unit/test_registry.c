/* The VM registry (lib/vmmapi/registry.c) and the vCPU state files
 * (lib/vmmapi/vcpustate.c): create, exists, lock, stale after a killed
 * child, destroy, and the names it refuses. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "registry.h"
#include "test.h"
#include "vmmapi.h"

static char root[64];

static void setup(void)
{
	char d[96];

	snprintf(root, sizeof(root), "/tmp/unit-registry-%d", (int)getpid());
	snprintf(d, sizeof(d), "%s/vmm", root);
	setenv("BHYVE_VMM_DIR", d, 1);
	snprintf(d, sizeof(d), "%s/run", root);
	setenv("BHYVE_RUN_DIR", d, 1);
}

static bool exists(const char *sub, const char *name)
{
	char p[160];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s/%s", root, sub, name);
	return lstat(p, &st) == 0;
}

static void registry_create_exists_destroy(void)
{
	struct vmreg r, o;

	setup();
	REQUIRE(vmreg_create("a", VMREG_CREATED, 1 << 20, 2, &r) == 0);
	CHECK(exists("vmm", "a") && exists("run", "a/meta") && exists("run", "a/lock"));
	vmreg_unlock(&r);
	REQUIRE(vmreg_open("a", &o) == 0);
	CHECK_EQ(o.state, VMREG_CREATED);
	CHECK_EQ(o.memsize, 1 << 20);
	CHECK_EQ(o.ncpus, 2);
	errno = 0;
	CHECK(vmreg_create("a", VMREG_CREATED, 0, 0, &r) == -1 && errno == EEXIST);
	CHECK(vmreg_destroy(&o) == 0);
	CHECK(!exists("vmm", "a") && !exists("run", "a"));
	errno = 0;
	CHECK(vmreg_open("a", &o) == -1 && errno == ENOENT);
}

static void registry_lock_is_exclusive(void)
{
	struct vmreg r, o;
	pid_t pid;
	int st;

	setup();
	REQUIRE(vmreg_create("b", VMREG_LOADED, 0, 1, &r) == 0);	/* locked by us */
	REQUIRE(vmreg_open("b", &o) == 0);
	CHECK(vmreg_holder(&o) != 0);
	/* Another process cannot take it (flock is per open file, so fork). */
	pid = fork();
	if (pid == 0) {
		struct vmreg c;

		_exit(vmreg_open("b", &c) == 0 && vmreg_lock(&c) == -1 && errno == EWOULDBLOCK ?
		    0 : 1);
	}
	REQUIRE(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	vmreg_unlock(&r);
	CHECK_EQ(vmreg_holder(&o), 0);
	/* A loaded VM waiting for bhyve, unlocked, is not stale. */
	CHECK(vmreg_open("b", &o) == 0 && o.state == VMREG_LOADED);
	vmreg_destroy(&o);
}

static void registry_stale_after_sigkill(void)
{
	struct vmreg r;
	int fds[2], st;
	pid_t pid;
	char c;

	setup();
	REQUIRE(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		struct vmreg k;

		/* A running bhyve: the entry is running and locked until it dies. */
		if (vmreg_create("c", VMREG_RUNNING, 0, 1, &k) != 0)
			_exit(1);
		(void)!write(fds[1], "x", 1);
		pause();
		_exit(0);
	}
	REQUIRE(pid > 0);
	close(fds[1]);
	REQUIRE(read(fds[0], &c, 1) == 1);
	close(fds[0]);
	/* Alive: found, and not reclaimed. */
	CHECK(vmreg_open("c", &r) == 0 && r.state == VMREG_RUNNING && vmreg_holder(&r) != 0);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	CHECK(exists("run", "c/meta"));
	errno = 0;
	CHECK(vmreg_open("c", &r) == -1 && errno == ENOENT);	/* stale: reclaimed */
	CHECK(!exists("run", "c") && !exists("vmm", "c"));
	CHECK(vmreg_create("c", VMREG_RUNNING, 0, 1, &r) == 0);
	vmreg_destroy(&r);
}

static void registry_refuses_bad_names(void)
{
	static const char *const bad[] = {
		"", ".", "..", "a/b", "a b", "-x", "tab\tname",
		"a-name-that-is-32-characters-lo",	/* 31: fine, checked below */
	};
	char err[128];
	struct vmreg r;

	setup();
	for (size_t i = 0; i + 1 < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_MSG(vmreg_check_name(bad[i], err, sizeof(err)) == -1, "\"%s\" accepted", bad[i]);
		errno = 0;
		CHECK(vmreg_create(bad[i], VMREG_CREATED, 0, 0, &r) == -1 && errno == EINVAL);
	}
	CHECK(vmreg_check_name(bad[7], err, sizeof(err)) == 0);
	CHECK(vmreg_check_name("a-name-that-is-32-characters-lon", err, sizeof(err)) == -1);
	CHECK(strstr(err, "longer than 31") != NULL);
	CHECK(vmreg_check_name(NULL, err, sizeof(err)) == -1);
}

static void vcpu_state_round_trip(void)
{
	char path[128], dump[4096];
	struct vmctx *ctx = fake_vm_create(1 << 20, 0);
	struct vcpu *vc = ctx != NULL ? vm_vcpu_open(ctx, 0) : NULL;
	struct vmreg r;
	uint64_t v;
	uint64_t base;
	uint32_t limit, access;

	setup();
	REQUIRE(vc != NULL);
	REQUIRE(vmreg_create("d", VMREG_LOADED, 0, 1, &r) == 0);
	REQUIRE(vmreg_write_vcpu(&r, 0, "rip 0x100000\nrsi 0x90000\ncr0 0x11\n"
	    "cs 0x10 0 0xffffffff 0xc09b\ngdtr 0x5000 0x27\n") == 0);
	REQUIRE(vmreg_path(&r, "vcpu0", path, sizeof(path)) == 0);
	CHECK(vm_load_vcpu_state(vc, path, dump, sizeof(dump)) == 0);
	CHECK(vm_get_register(vc, VM_REG_GUEST_RIP, &v) == 0 && v == 0x100000);
	CHECK(vm_get_register(vc, VM_REG_GUEST_CS, &v) == 0 && v == 0x10);
	CHECK(vm_get_desc(vc, VM_REG_GUEST_CS, &base, &limit, &access) == 0 &&
	    limit == 0xffffffff && access == 0xc09b);
	CHECK(vm_get_desc(vc, VM_REG_GUEST_GDTR, &base, &limit, &access) == 0 &&
	    base == 0x5000 && limit == 0x27);
	CHECK(vm_dump_vcpu_state(vc, dump, sizeof(dump)) == 0);
	CHECK(strstr(dump, "rip 0x100000\n") != NULL && strstr(dump, "cs 0x10 0x0 0xffffffff 0xc09b\n"));
	/* A 64-bit entry written in any order is applied in one KVM accepts:
	 * CR4, CR3, EFER, CR0, then GDTR, then the segments. */
	REQUIRE(vmreg_write_vcpu(&r, 0, "cs 0x10 0 0xffffffff 0xa09b\ncr0 0x80000011\n"
	    "gdtr 0x5000 0x1f\nefer 0x500\nrip 0x1000200\ncr3 0x9000\ncr4 0x20\n") == 0);
	fake_nset = 0;
	CHECK(vm_load_vcpu_state(vc, path, dump, sizeof(dump)) == 0);
	CHECK(fake_nset == 8 && fake_set_order[0] == VM_REG_GUEST_RIP &&
	    fake_set_order[1] == VM_REG_GUEST_CR4 && fake_set_order[2] == VM_REG_GUEST_CR3 &&
	    fake_set_order[3] == VM_REG_GUEST_EFER && fake_set_order[4] == VM_REG_GUEST_CR0 &&
	    fake_set_order[5] == VM_REG_GUEST_GDTR && fake_set_order[6] == VM_REG_GUEST_CS &&
	    fake_set_order[7] == VM_REG_GUEST_CS);
	/* A bad line is refused with where it is. */
	REQUIRE(vmreg_write_vcpu(&r, 0, "rip\n") == 0);
	CHECK(vm_load_vcpu_state(vc, path, dump, sizeof(dump)) == -1 && strstr(dump, "line 2"));
	CHECK(vm_reg_lookup("efer") == VM_REG_GUEST_EFER && vm_reg_lookup("xyz") == -1);
	vmreg_destroy(&r);
	free(vc);
	vm_destroy(ctx);
	rmdir(getenv("BHYVE_VMM_DIR"));
	rmdir(getenv("BHYVE_RUN_DIR"));
	rmdir(root);
	unsetenv("BHYVE_VMM_DIR");
	unsetenv("BHYVE_RUN_DIR");
}

void suite_registry(void)
{
	RUN(registry_create_exists_destroy);
	RUN(registry_lock_is_exclusive);
	RUN(registry_stale_after_sigkill);
	RUN(registry_refuses_bad_names);
	RUN(vcpu_state_round_trip);
}
