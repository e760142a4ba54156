/* bhyve(8)'s command line, turned into bhyve_config(5) keys. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "fwcfg.h"
#include "devices/atkbdc.h"
#include "devices/lpc.h"
#include "pci_emul.h"
#include "util.h"

#define VM_MAX_NAMELEN	31
#define MAX_TOPOLOGY	256

/* -f specs, kept as given: they are files for fw_cfg, not configuration. */
static const char *user_files[64];
static size_t nuser_files;

const char *const *bhyve_fwcfg_user_files(size_t *n)
{
	*n = nuser_files;
	return user_files;
}

/* As FreeBSD's bhyve: always on stderr (libvirt reads the flags from it), status 0
 * for -h and 1 for any other misuse of the command line. */
static void __attribute__((noreturn)) usage(int code)
{
	const char *prog = program_invocation_short_name;
	int w = (int)strlen(prog);

	fprintf(stderr,
	    "Usage: %s [-aACDeHhIPSuWwxY]\n"
	    "       %*s [-c [[cpus=]numcpus][,sockets=n][,cores=n][,threads=n]]\n"
	    "       %*s [-B 1,key=value,...] [-f name,string=STRING|file=PATH] [-G port]\n"
	    "       %*s [-k config_file] [-K layout] [-l lpc] [-m mem] [-o var=value]\n"
	    "       %*s [-p vcpu:hostcpu] [-r file] [-s pci] [-U uuid] vmname\n"
	    "       -a: local apic is in xAPIC mode (deprecated)\n"
	    "       -A: create ACPI tables (always done; accepted for compatibility)\n"
	    "       -B: SMBIOS system strings: 1,manufacturer=,product=,version=,serial=,sku=,family=,uuid=\n"
	    "       -c: number of CPUs and/or topology specification\n"
	    "       -C: include guest memory in core file\n"
	    "       -D: destroy on power-off\n"
	    "       -e: exit on unhandled I/O access\n"
	    "       -f: fw_cfg file: name,string=STRING or name,file=PATH\n"
	    "       -G: start a debug server (not implemented yet)\n"
	    "       -h: help\n"
	    "       -H: vmexit from the guest on HLT\n"
	    "       -I: ignored (deprecated; an I/O APIC is always present)\n"
	    "       -k: key=value flat config file\n"
	    "       -K: PS2 keyboard layout (us, de, fr, uk, es, jp, ...)\n"
	    "       -l: LPC device configuration (-l help lists them)\n"
	    "       -m: memory size (default 256M; a bare number below 1048576 is MiB)\n"
	    "       -o: set config 'var' to 'value'\n"
	    "       -p: pin 'vcpu' to 'hostcpu'\n"
	    "       -P: vmexit from the guest on pause\n"
	    "       -r: path to checkpoint file (not implemented yet)\n"
	    "       -s: <slot,driver,configinfo> PCI slot config (-s help lists them)\n"
	    "       -S: guest memory cannot be swapped\n"
	    "       -u: RTC keeps UTC time\n"
	    "       -U: UUID\n"
	    "       -w: ignore unimplemented MSRs\n"
	    "       -W: force virtio to use single-vector MSI\n"
	    "       -x: local APIC is in x2APIC mode\n"
	    "       -Y: disable MPtable generation\n",
	    prog, w, "", w, "", w, "", w, "");
	exit(code);
}

/* -c: as FreeBSD's, the parse only sorts the values into keys (an unknown key is
 * EX_USAGE); the numbers are checked with the rest of the tree (status 4). An
 * empty -c is one vCPU. */
static void topology_parse(const char *opt)
{
	static const char *const keys[] = { "cpus", "sockets", "cores", "threads" };
	char *copy, *s, *tok;

	if (*opt == '\0') {
		for (size_t i = 0; i < nitems(keys); i++)
			set_config_value(keys[i], "1");
		return;
	}
	copy = s = xstrdup(opt);
	while ((tok = strsep(&s, ",")) != NULL) {
		char *eq = strchr(tok, '=');
		const char *key = NULL;

		if (eq != NULL) {
			*eq = '\0';
			for (size_t i = 0; i < nitems(keys) && key == NULL; i++)
				if (strcmp(tok, keys[i]) == 0)
					key = keys[i];
			if (key == NULL)
				errx(EX_USAGE, "invalid cpu topology '%s': \"%s\" is not cpus, sockets, "
				    "cores or threads", opt, tok);
		} else if (tok != copy) {
			errx(EX_USAGE, "invalid cpu topology '%s': only the first item may be a bare "
			    "CPU count", opt);
		}
		set_config_value(key != NULL ? key : "cpus", eq != NULL ? eq + 1 : tok);
	}
	free(copy);
}

/* -B 1,manufacturer=...,product=...: bhyve's SMBIOS system strings (type 1). */
static void smbios_parse(const char *opt)
{
	static const struct { const char *key, *config; } keys[] = {
		{ "manufacturer", "system.manufacturer" }, { "product", "system.product_name" },
		{ "version", "system.version" }, { "serial", "system.serial_number" },
		{ "sku", "system.sku" }, { "family", "system.family_name" }, { "uuid", "uuid" },
	};
	char *copy = xstrdup(opt), *s = copy, *tok = strsep(&s, ",");

	if (strcmp(tok, "1") != 0 && strcmp(tok, "type=1") != 0)
		errx(EX_USAGE, "invalid -B \"%s\": only SMBIOS type 1 can be set", opt);
	while ((tok = strsep(&s, ",")) != NULL) {
		char *eq = strchr(tok, '=');
		const char *key = NULL;

		if (eq == NULL)
			errx(EX_USAGE, "invalid -B option \"%s\": expected key=value", tok);
		*eq = '\0';
		for (size_t i = 0; i < nitems(keys) && key == NULL; i++)
			if (strcmp(tok, keys[i].key) == 0)
				key = keys[i].config;
		if (key == NULL)
			errx(EX_USAGE, "invalid -B key \"%s\": expected manufacturer, product, "
			    "version, serial, sku, family or uuid", tok);
		else
			set_config_value(key, eq + 1);
	}
	free(copy);
}

static void pin_parse(const char *opt)
{
	unsigned long vcpu, host;
	char *copy = xstrdup(opt), *colon = strchr(copy, ':'), key[32];
	const char *old;

	if (colon == NULL)
		errx(EX_USAGE, "invalid vcpu pinning configuration '%s': expected vcpu:hostcpu", opt);
	*colon = '\0';
	if (parse_uint(copy, MAX_TOPOLOGY - 1, &vcpu) != 0 || parse_uint(colon + 1, 63, &host) != 0)
		errx(EX_USAGE, "invalid vcpu pinning configuration '%s': expected vcpu:hostcpu "
		    "(vCPUs 0-%d, host CPUs 0-63)", opt, MAX_TOPOLOGY - 1);
	snprintf(key, sizeof(key), "vcpu.%lu.cpuset", vcpu);
	old = get_config_value(key);
	if (old != NULL) {
		char *v;

		if (asprintf(&v, "%s,%lu", old, host) < 0)
			die_oom();
		set_config_value(key, v);
		free(v);
	} else {
		set_config_value(key, colon + 1);
	}
	free(copy);
}

/* -o var=value, as FreeBSD's: an empty name or value is a usage error. */
static void config_option_parse(const char *opt)
{
	const char *eq = strchr(opt, '=');

	if (eq == NULL || eq == opt || eq[1] == '\0')
		errx(EX_USAGE, "invalid configuration option '%s': expected var=value", opt);
	if (set_config_pair(opt) != 0)
		exit(EX_USAGE);
}

void bhyve_parse_args(int argc, char **argv)
{
	int c;

	set_config_value("memory.size", "256M");
	opterr = 0;	/* the message below, then usage(), as FreeBSD's getopt and bhyve */
	while ((c = getopt(argc, argv, ":aAB:c:CDeG:hHIk:K:l:m:o:p:Pr:s:SuU:wWxYf:")) != -1) {
		switch (c) {
		case 'a': set_config_bool("x86.x2apic", false); break;
		case 'A': set_config_bool("acpi_tables", true); break;
		case 'B': smbios_parse(optarg); break;
		case 'c': topology_parse(optarg); break;
		case 'C': set_config_bool("memory.guest_in_core", true); break;
		case 'D': set_config_bool("destroy_on_poweroff", true); break;
		case 'e': set_config_bool("x86.strictio", true); break;
		case 'f':
			if (nuser_files == nitems(user_files))
				errx(EX_USAGE, "invalid fwcfg item '%s': at most %zu -f files", optarg,
				    nitems(user_files));
			if (strchr(optarg, ',') == NULL)
				errx(EX_USAGE, "invalid fwcfg item '%s': expected name,string=STRING or "
				    "name,file=PATH", optarg);
			user_files[nuser_files++] = optarg;
			break;
		case 'G': set_config_value("gdb.port", optarg); break;
		case 'h': usage(0);
		case 'H': set_config_bool("x86.vmexit_on_hlt", true); break;
		case 'I': break;	/* FreeBSD's old "add an I/O APIC": there always is one */
		case 'k':
			if (load_config_file(optarg) != 0)
				exit(EXIT_ERROR);
			break;
		case 'K': set_config_value("keyboard.layout", optarg); break;
		case 'l':
			if (strcmp(optarg, "help") == 0) {
				lpc_print_supported_devices();
				exit(0);
			}
			if (lpc_device_parse(optarg) != 0)
				errx(EX_USAGE, "invalid lpc device configuration '%s'", optarg);
			break;
		case 'm': set_config_value("memory.size", optarg); break;
		case 'o': config_option_parse(optarg); break;
		case 'p': pin_parse(optarg); break;
		case 'P': set_config_bool("x86.vmexit_on_pause", true); break;
		case 'r': errx(EXIT_ERROR, "-r (restore from a snapshot) is not implemented yet");
		case 's':
			if (strcmp(optarg, "help") == 0) {
				pci_print_supported_devices();
				exit(0);
			}
			/* FreeBSD's status for a bad -s is 4, not EX_USAGE. */
			if (pci_parse_slot(optarg) != 0)
				exit(EXIT_ERROR);
			break;
		case 'S': set_config_bool("memory.wired", true); break;
		case 'u': set_config_bool("rtc.use_localtime", false); break;
		case 'U': set_config_value("uuid", optarg); break;
		case 'w': set_config_bool("x86.strictmsr", false); break;
		case 'W': set_config_bool("virtio_msix", false); break;
		case 'x': set_config_bool("x86.x2apic", true); break;
		case 'Y': set_config_bool("x86.mptable", false); break;
		case ':':
			warnx("option requires an argument -- %c", optopt);
			usage(1);
		default:
			warnx("illegal option -- %c", optopt);
			usage(1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage(1);
	if (argc == 1)
		set_config_value("name", argv[0]);
	if (get_config_value("name") == NULL)
		usage(1);
}

static int config_uint(const char *key, unsigned long max, unsigned long def, unsigned long *out)
{
	const char *v = get_config_value(key);

	*out = def;
	if (v == NULL)
		return 0;
	if (parse_uint(v, max, out) != 0 || *out == 0) {
		warnx("Invalid value for %s: '%s' (expected 1-%lu)", key, v, max);
		return -1;
	}
	return 0;
}

static int check_topology(struct bhyve_params *p)
{
	unsigned long cpus, sockets, cores, threads;
	bool explicit_cpus = get_config_value("cpus") != NULL;

	if (config_uint("cpus", MAX_TOPOLOGY, 1, &cpus) != 0 ||
	    config_uint("cores", MAX_TOPOLOGY, 1, &cores) != 0 ||
	    config_uint("threads", MAX_TOPOLOGY, 1, &threads) != 0)
		return -1;
	/* Only a CPU count: that many single-core sockets, as bhyve does. */
	if (config_uint("sockets", MAX_TOPOLOGY,
	    explicit_cpus && cpus % (cores * threads) == 0 ? cpus / (cores * threads) : 1,
	    &sockets) != 0)
		return -1;
	if (sockets * cores * threads > MAX_TOPOLOGY) {
		warnx("Topology of %lu sockets, %lu cores, %lu threads is too large", sockets, cores, threads);
		return -1;
	}
	if (!explicit_cpus)
		cpus = sockets * cores * threads;
	if (cpus != sockets * cores * threads) {
		warnx("Topology (%lu sockets, %lu cores, %lu threads) does not match %lu vCPUs",
		    sockets, cores, threads, cpus);
		return -1;
	}
	p->ncpus = (int)cpus;
	p->sockets = (int)sockets;
	p->cores = (int)cores;
	p->threads = (int)threads;
	return 0;
}

static void check_cpuset_node(const char *child, void *arg)
{
	int *state = arg;	/* [0] = vCPU count, [1] = failed */
	unsigned long n;
	uint64_t m;

	if (state[1])
		return;
	if (parse_uint(child, MAX_TOPOLOGY - 1, &n) != 0 || (int)n >= state[0]) {
		warnx("vcpu.%s: the VM has %d vCPUs (0-%d)", child, state[0], state[0] - 1);
		state[1] = 1;
	} else if (bhyve_vcpu_cpuset((int)n, &m) != 0) {
		state[1] = 1;
	}
}

/* Every vcpu.N node names a vCPU that exists and a valid host CPU set. */
static int check_cpusets(int ncpus)
{
	int state[2] = { ncpus, 0 };

	config_foreach_child("vcpu", check_cpuset_node, state);
	return state[1] ? -1 : 0;
}

static bool valid_uuid(const char *s)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };

	for (size_t g = 0; g < nitems(groups); g++) {
		for (int i = 0; i < groups[g]; i++, s++)
			if (!isxdigit((unsigned char)*s))
				return false;
		if (g < nitems(groups) - 1 && *s++ != '-')
			return false;
	}
	return *s == '\0';
}

bool fwcfg_mode_qemu(void)
{
	const char *v = get_config_value("lpc.fwcfg");

	return v == NULL || strcmp(v, "qemu") == 0;
}

int bhyve_vcpu_cpuset(int vcpu, uint64_t *mask)
{
	char key[32], *copy, *s, *tok;
	const char *v;

	snprintf(key, sizeof(key), "vcpu.%d.cpuset", vcpu);
	*mask = 0;
	v = get_config_value(key);
	if (v == NULL)
		return 0;
	copy = s = xstrdup(v);
	while ((tok = strsep(&s, ",")) != NULL) {
		char *dash = strchr(tok, '-');
		unsigned long lo, hi;

		if (dash)
			*dash = '\0';
		if (parse_uint(tok, 63, &lo) != 0 || (dash && parse_uint(dash + 1, 63, &hi) != 0) ||
		    (dash && hi < lo)) {
			warnx("invalid %s \"%s\": expected host CPUs 0-63, e.g. 1,3-5", key, v);
			free(copy);
			return -1;
		}
		if (!dash)
			hi = lo;
		for (unsigned long c = lo; c <= hi; c++)
			*mask |= 1ULL << c;
	}
	free(copy);
	return 0;
}

/* MemTotal of /proc/meminfo, in bytes; -1 when it cannot be read. */
static int host_memtotal(uint64_t *bytes)
{
	FILE *fp = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kib;
	int rc = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1) {
			*bytes = (uint64_t)kib << 10;
			rc = 0;
			break;
		}
	fclose(fp);
	return rc;
}

int bhyve_check_config(struct bhyve_params *p)
{
	static const char *const bools[] = {
		"x86.strictio", "x86.strictmsr", "x86.x2apic", "x86.mptable", "x86.vmexit_on_hlt",
		"x86.vmexit_on_pause", "memory.wired", "memory.guest_in_core", "rtc.use_localtime",
		"acpi_tables", "virtio_msix", "destroy_on_poweroff", "config.dump", "sandbox",
		"memory.overcommit",
	};
	uint64_t host;
	const char *v;
	bool b;

	memset(p, 0, sizeof(*p));
	if (config_check_names() != 0)
		return EXIT_ERROR;
	v = get_config_value("sandbox.user");
	if (v != NULL && (*v == '\0' || getpwnam(v) == NULL)) {
		warnx("sandbox.user %s: no such user", v);
		return EXIT_ERROR;
	}
	p->name = get_config_value("name");
	if (p->name == NULL || *p->name == '\0') {
		warnx("no VM name given (usage: bhyve [options] vmname)");
		return EXIT_ERROR;
	}
	if (strlen(p->name) > VM_MAX_NAMELEN) {
		warnx("VM name \"%s\" is longer than %d characters", p->name, VM_MAX_NAMELEN);
		return EXIT_ERROR;
	}
	if (strchr(p->name, '/') != NULL) {
		warnx("VM name \"%s\" may not contain '/'", p->name);
		return EXIT_ERROR;
	}
	for (size_t i = 0; i < nitems(bools); i++)
		if (get_config_bool_default(bools[i], false, &b) != 0)
			return EXIT_ERROR;
	/* In FreeBSD's order: the topology and pinning (status 4), then the memory
	 * size (EX_USAGE). */
	if (check_topology(p) != 0)
		return EXIT_ERROR;
	if (check_cpusets(p->ncpus) != 0)
		return EXIT_ERROR;
	v = get_config_value("memory.size");
	if (parse_memsize(v, &p->memsize) != 0 || p->memsize < (1 << 20) || p->memsize % 4096) {
		warnx("invalid memsize '%s': expected a multiple of 4 KiB, at least 1M (e.g. 512M, 2G)", v);
		return EX_USAGE;
	}
	if (p->memsize > (1ULL << 40)) {
		warnx("memory size \"%s\" is larger than 1T", v);
		return EXIT_ERROR;
	}
	if (!config_bool("memory.overcommit", false) && host_memtotal(&host) == 0 &&
	    p->memsize > host) {
		warnx("memory size \"%s\" is more than the host's memory (%llu MiB); "
		    "-o memory.overcommit=true allows it", v, (unsigned long long)(host >> 20));
		return EXIT_ERROR;
	}
	v = get_config_value("uuid");
	if (v != NULL && !valid_uuid(v)) {
		warnx("invalid UUID \"%s\": expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", v);
		return EXIT_ERROR;
	}
	p->strictio = config_bool("x86.strictio", false);
	p->strictmsr = config_bool("x86.strictmsr", true);
	p->x2apic = config_bool("x86.x2apic", false);
	p->wired = config_bool("memory.wired", false);
	p->in_core = config_bool("memory.guest_in_core", false);
	/* Guest RAM from the host's hugetlb pool: true (2 MiB pages), 2M or 1G. */
	v = get_config_value("memory.hugetlb");
	if (v != NULL && (strcmp(v, "2M") == 0 || strcmp(v, "2m") == 0))
		p->hugetlb = 2ULL << 20;
	else if (v != NULL && (strcmp(v, "1G") == 0 || strcmp(v, "1g") == 0))
		p->hugetlb = 1ULL << 30;
	else if (v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "on") == 0 ||
	    strcmp(v, "yes") == 0 || strcmp(v, "1") == 0))
		p->hugetlb = 2ULL << 20;
	else if (v != NULL && strcmp(v, "false") != 0 && strcmp(v, "off") != 0 &&
	    strcmp(v, "no") != 0 && strcmp(v, "0") != 0) {
		warnx("memory.hugetlb \"%s\": expected true, false, 2M or 1G", v);
		return EXIT_ERROR;
	}
	return 0;
}

/* What a VM needs to start, and features that are configured but not built yet:
 * refused, never ignored. */
int bhyve_check_startable(void)
{
	const char *v;
	int stdio_users = 0;

	for (int i = 1; i <= 4; i++) {
		char key[32];

		snprintf(key, sizeof(key), "lpc.com%d.path", i);
		v = get_config_value(key);
		if (v != NULL && strcmp(v, "stdio") == 0 && ++stdio_users > 1) {
			warnx("com%d: stdio is already used by another COM port", i);
			return -1;
		}
	}

	/* No boot ROM: the VM must be one a loader filled (bhyverun's hand-off). */
	v = get_config_value("lpc.bootrom");
	if (v != NULL && access(v, R_OK) != 0) {
		warnx("boot ROM %s: %s", v, strerror(errno));
		return -1;
	}
	v = get_config_value("lpc.bootvars");
	if (v != NULL && access(v, R_OK | W_OK) != 0) {
		warnx("boot variables %s: %s", v, strerror(errno));
		return -1;
	}
	if (get_config_value("gdb.port") != NULL) {
		warnx("the GDB stub (-G, gdb.port) is not implemented yet");
		return -1;
	}
	/* The PS/2 keyboard's layout (devices/kbdlayout.c): a file, read now. */
	v = get_config_value("keyboard.layout");
	if (v != NULL && kbdlayout_load(v) != 0)
		return -1;
	v = get_config_value("lpc.fwcfg");
	if (v != NULL && strcmp(v, "qemu") != 0 && strcmp(v, "bhyve") != 0) {
		warnx("invalid lpc.fwcfg \"%s\": expected qemu or bhyve", v);
		return -1;
	}
	return 0;
}
