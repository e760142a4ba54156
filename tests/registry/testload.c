/* A test-only loader: makes VM NAME in the registry with MiB of memory and
 * NCPUS vCPUs, copies a flat image to guest address GPA and leaves vCPU 0 in
 * real mode at 0:GPA, as a loader would for bhyve's hand-off.
 *   testload NAME MiB NCPUS IMAGE GPA */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

int main(int argc, char **argv)
{
	struct vmreg r;
	unsigned long long mib, gpa;
	char state[512];
	void *mem;
	FILE *f;
	size_t n;

	if (argc != 6) {
		fprintf(stderr, "usage: testload NAME MiB NCPUS IMAGE GPA\n");
		return 1;
	}
	mib = strtoull(argv[2], NULL, 0);
	gpa = strtoull(argv[5], NULL, 0);
	if (vmreg_create(argv[1], VMREG_LOADED, mib << 20, atoi(argv[3]), &r) != 0) {
		fprintf(stderr, "testload: VM %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	f = fopen(argv[4], "rb");
	if (f == NULL || vmreg_map_memory(&r, &mem) != 0 || gpa >= 0xa0000) {
		fprintf(stderr, "testload: %s: %s\n", argv[4], strerror(errno));
		vmreg_destroy(&r);
		return 1;
	}
	n = fread((char *)mem + gpa, 1, 0xa0000 - gpa, f);
	fclose(f);
	snprintf(state, sizeof(state),
	    "rip 0x%llx\nrsp 0x7000\nrflags 0x2\ncr0 0x10\n"
	    "cs 0 0 0xffff 0x9b\nds 0 0 0xffff 0x93\nes 0 0 0xffff 0x93\nss 0 0 0xffff 0x93\n",
	    gpa);
	if (n == 0 || vmreg_write_vcpu(&r, 0, state) != 0) {
		fprintf(stderr, "testload: cannot leave the image or vCPU state\n");
		vmreg_destroy(&r);
		return 1;
	}
	vmreg_unlock(&r);
	return 0;
}
