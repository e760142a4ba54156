/* libFuzzer target: bhyve's command-line parsers as bhyve_parse_args calls them,
 * and then the checks of the whole tree (bhyve_check_config, the vCPU cpusets).
 * The input is lines; each line's first byte picks the option and the rest is
 * its argument:
 *   s  -s: pci_parse_slot (slot syntax and every device's option parser)
 *   l  -l: lpc_device_parse (bootrom, comN, ...)
 *   o  -o: var=value, checked as config_option_parse does, into the tree
 *   m, U, G, K: -m, -U, -G, -K (plain values the checks read)
 *   anything else: a key=value line straight into the tree (set_config_pair)
 * bhyve_parse_args itself is not called: it exits (as FreeBSD's does) on the
 * first bad option, and so do its -c, -B and -p parsers. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "devices/lpc.h"
#include "options.h"
#include "pci_emul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void option(char opt, const char *arg)
{
	const char *eq;

	switch (opt) {
	case 's':
		pci_parse_slot(arg);
		break;
	case 'l':
		lpc_device_parse(arg);
		break;
	case 'o':
		eq = strchr(arg, '=');
		if (eq != NULL && eq != arg && eq[1] != '\0')
			set_config_pair(arg);
		break;
	case 'm':
		set_config_value("memory.size", arg);
		break;
	case 'U':
		set_config_value("uuid", arg);
		break;
	case 'G':
		set_config_value("gdb.port", arg);
		break;
	case 'K':
		set_config_value("keyboard.layout", arg);
		break;
	default:
		set_config_pair(arg);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *s, *line;
	struct bhyve_params p;
	uint64_t mask;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	free_config();
	set_config_value("memory.size", "256M");
	set_config_value("name", "fuzz");
	for (s = buf; (line = strsep(&s, "\n")) != NULL;)
		if (*line != '\0')
			option(line[0], line + 1);
	if (bhyve_check_config(&p) == 0)
		for (int v = 0; v < p.ncpus && v < 4; v++)
			bhyve_vcpu_cpuset(v, &mask);
	free_config();
	free(buf);
	return 0;
}
