#ifndef OPTIONS_H
#define OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the checked config tree says, in the form start-up needs. */
struct bhyve_params {
	const char *name;
	int ncpus, sockets, cores, threads;
	uint64_t memsize;
	bool strictio, strictmsr, x2apic, wired, in_core;
	uint64_t hugetlb;	/* memory.hugetlb: the huge page size, 0 for none */
};

/* Fills the config tree from argv. Exits as FreeBSD's bhyve: 0 after -h, -s help
 * and -l help; 1 (usage on stderr) for an unknown flag, a missing argument or
 * VM name; EX_USAGE (64) for a bad -B, -c, -f, -l, -o or -p; 4 for a bad -s or
 * -k file. */
void bhyve_parse_args(int argc, char **argv);
/* Validates the tree (from flags, -o and -k alike): 0, or after one line, the
 * exit status (EX_USAGE for a bad memory size, as FreeBSD's; else 4). */
int bhyve_check_config(struct bhyve_params *p);
/* Checks the boot ROM and refuses features that are configured but not built
 * yet (-1, one line). */
int bhyve_check_startable(void);
/* The -f name,string=...|file=... specs, in order. */
const char *const *bhyve_fwcfg_user_files(size_t *n);
/* vcpu.N.cpuset ("1,3-5") as a bit mask of host CPUs; 0 when unset. */
int bhyve_vcpu_cpuset(int vcpu, uint64_t *mask);

#endif
