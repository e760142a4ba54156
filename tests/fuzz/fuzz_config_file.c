/* libFuzzer target: the -k configuration file parser (load_config_file: lines,
 * comments, blanks, "key = value" spacing, errors), reading the input as a file
 * (a memfd), and then the checks of the tree it built (bhyve_check_config, the
 * vCPU cpusets). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct bhyve_params p;
	uint64_t mask;

	if (fd < 0) {
		fd = memfd_create("fuzz-config", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	free_config();
	set_config_value("memory.size", "256M");
	set_config_value("name", "fuzz");
	if (load_config_file(path) == 0 && bhyve_check_config(&p) == 0)
		for (int v = 0; v < p.ncpus && v < 4; v++)
			bhyve_vcpu_cpuset(v, &mask);
	free_config();
	return 0;
}
