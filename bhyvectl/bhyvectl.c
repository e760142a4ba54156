/* bhyvectl(8): inspects and controls the VMs in the registry
 * (lib/vmmapi/registry.h); what needs the running VM (registers, statistics,
 * reset, power-off, NMI) is asked of its bhyve through the control socket. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "registry.h"

#define EX_USAGE_BHYVE	1
#define EX_BADVALUE	64
#define EX_RUNTIME	4
#define LOWMEM_LIMIT	(3ULL << 30)
#define HIGHMEM_BASE	(4ULL << 30)

/* Registers bhyvectl reads, --get-NAME; and how FreeBSD's prints each. */
static const char *const gprs[] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12",
	"r13", "r14", "r15", "cr0", "cr2", "cr3", "cr4", "dr7", "rsp", "rip", "rflags", "efer",
};
static const char *const segs[] = { "cs", "ds", "es", "fs", "gs", "ss", "tr", "ldtr" };

enum {
	OPT_VM = 256, OPT_CPU, OPT_CREATE, OPT_DESTROY, OPT_STATS, OPT_RESET, OPT_POWEROFF,
	OPT_NMI, OPT_ACTIVE, OPT_SUSPENDED, OPT_LOWMEM, OPT_HIGHMEM, OPT_MEMMAP, OPT_ALL,
	OPT_REG,	/* OPT_REG + i: --get-NAME, NAME one of regnames[] */
};

static const char *regnames[64];
static int nregnames;
static bool want[64];

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "Usage: bhyvectl --vm=<vmname> [--cpu=<vcpu>] [--create] [--destroy]\n"
	    "       [--get-stats] [--force-reset] [--force-poweroff] [--inject-nmi]\n"
	    "       [--get-active-cpus] [--get-suspended-cpus] [--get-lowmem]\n"
	    "       [--get-highmem] [--get-memmap] [--get-all] [--get-<register>]\n"
	    "       registers: rax ... r15, rsp, rip, rflags, cr0, cr2, cr3, cr4, dr7, efer,\n"
	    "       cs, ds, es, fs, gs, ss, tr, ldtr, desc-<segment>, gdtr, idtr\n");
	exit(EX_USAGE_BHYVE);
}

/* One request to the VM's bhyve; its reply's body in buf. -1 after a message. */
static int ask(const struct vmreg *r, const char *req, char *buf, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[PATH_MAX];
	size_t off = 0;
	ssize_t n;
	int fd;

	if (vmreg_holder(r) == 0) {
		warnx("VM %s is not running (no bhyve runs it)", r->name);
		return -1;
	}
	if (vmreg_path(r, "ctl", path, sizeof(path)) != 0 || strlen(path) >= sizeof(sa.sun_path)) {
		warnx("VM %s: control socket path too long", r->name);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		warn("VM %s: control socket %s", r->name, path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	dprintf(fd, "%s\n", req);
	while (off < len - 1 && (n = read(fd, buf + off, len - 1 - off)) > 0)
		off += (size_t)n;
	close(fd);
	buf[off] = '\0';
	if (strncmp(buf, "ok\n", 3) == 0) {
		memmove(buf, buf + 3, off - 2);
		return 0;
	}
	if (strncmp(buf, "error ", 6) == 0) {
		buf[strcspn(buf, "\n")] = '\0';
		warnx("VM %s: %s", r->name, buf + 6);
	} else {
		warnx("VM %s: no answer from its bhyve", r->name);
	}
	return -1;
}

/* Waits (up to 10 s) for the bhyve running r to let go of it. */
static bool wait_free(const struct vmreg *r)
{
	for (int i = 0; i < 1000; i++) {
		if (vmreg_holder(r) == 0)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	return false;
}

static void print_reg(const char *body, const char *name, int cpu)
{
	char key[24], line[160];
	const char *p = body;
	unsigned long long sel, base, limit, access;
	bool desc = strncmp(name, "desc-", 5) == 0;
	const char *reg = desc ? name + 5 : name;
	size_t kl;

	snprintf(key, sizeof(key), "%s ", reg);
	kl = strlen(key);
	for (; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != '\0')) {
		size_t l = strcspn(p, "\n");

		if (l >= sizeof(line) || strncmp(p, key, kl) != 0)
			continue;
		memcpy(line, p, l);
		line[l] = '\0';
		if (strcmp(reg, "gdtr") == 0 || strcmp(reg, "idtr") == 0) {
			if (sscanf(line + kl, "%llx %llx", &base, &limit) == 2)
				printf("%s[%d]\t\t0x%016llx/0x%08llx\n", reg, cpu, base, limit);
		} else if (sscanf(line + kl, "%llx %llx %llx %llx", &sel, &base, &limit,
		    &access) == 4) {
			if (desc)
				printf("%s desc[%d]\t0x%016llx/0x%08llx/0x%08llx\n", reg, cpu, base,
				    limit, access);
			else
				printf("%s[%d]\t\t0x%04llx\n", reg, cpu, sel);
		} else if (sscanf(line + kl, "%llx", &sel) == 1) {
			printf("%s[%d]%s0x%016llx\n", reg, cpu,
			    strlen(reg) >= 6 ? "\t" : "\t\t", sel);
		}
		return;
	}
	warnx("vcpu %d: %s cannot be read here", cpu, reg);
}

static void add_regname(const char *n)
{
	regnames[nregnames++] = n;
}

int main(int argc, char **argv)
{
	static struct option opts[64 + 20];
	static char optnames[64][24];
	const char *vm = NULL;
	bool o[OPT_REG] = { false }, any_reg = false;
	unsigned long cpu = 0;
	char *end, buf[16384];
	struct vmreg r;
	int c, n = 0, rc = 0;
	static const struct { const char *name; int has_arg, val; } base[] = {
		{ "vm", 1, OPT_VM }, { "cpu", 1, OPT_CPU }, { "create", 0, OPT_CREATE },
		{ "destroy", 0, OPT_DESTROY }, { "get-stats", 0, OPT_STATS },
		{ "force-reset", 0, OPT_RESET }, { "force-poweroff", 0, OPT_POWEROFF },
		{ "inject-nmi", 0, OPT_NMI }, { "get-active-cpus", 0, OPT_ACTIVE },
		{ "get-suspended-cpus", 0, OPT_SUSPENDED }, { "get-lowmem", 0, OPT_LOWMEM },
		{ "get-highmem", 0, OPT_HIGHMEM }, { "get-memmap", 0, OPT_MEMMAP },
		{ "get-all", 0, OPT_ALL },
	};

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		opts[n++] = (struct option){ base[i].name, base[i].has_arg, NULL, base[i].val };
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		add_regname(gprs[i]);
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
		add_regname(segs[i]);
	add_regname("desc-cs"); add_regname("desc-ds"); add_regname("desc-es");
	add_regname("desc-fs"); add_regname("desc-gs"); add_regname("desc-ss");
	add_regname("desc-tr"); add_regname("desc-ldtr");
	add_regname("gdtr"); add_regname("idtr");
	for (int i = 0; i < nregnames; i++) {
		snprintf(optnames[i], sizeof(optnames[i]), "get-%s", regnames[i]);
		opts[n++] = (struct option){ optnames[i], 0, NULL, OPT_REG + i };
	}
	opts[n] = (struct option){ 0 };

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == OPT_VM) {
			vm = optarg;
		} else if (c == OPT_CPU) {
			errno = 0;
			cpu = strtoul(optarg, &end, 0);
			if (*optarg == '\0' || *end != '\0' || errno != 0 || cpu > 255 ||
			    optarg[0] == '-') {
				warnx("invalid --cpu \"%s\": expected a vCPU number from 0 to 255", optarg);
				exit(EX_BADVALUE);
			}
		} else if (c >= OPT_REG) {
			want[c - OPT_REG] = any_reg = true;
		} else if (c > OPT_VM && c < OPT_REG) {
			o[c] = true;
		} else {
			warnx("unknown option \"%s\"", argv[optind - 1]);
			usage();
		}
	}
	if (optind < argc) {
		warnx("unexpected argument \"%s\"", argv[optind]);
		usage();
	}
	if (vm == NULL) {
		warnx("no VM given (--vm=NAME)");
		usage();
	}
	if (vmreg_check_name(vm, buf, sizeof(buf)) != 0) {
		warnx("%s", buf);
		exit(EX_BADVALUE);
	}
	if (o[OPT_ALL]) {
		o[OPT_STATS] = o[OPT_LOWMEM] = o[OPT_HIGHMEM] = o[OPT_ACTIVE] = true;
		o[OPT_SUSPENDED] = true;
		for (int i = 0; i < nregnames; i++)
			want[i] = any_reg = true;
	}

	if (o[OPT_CREATE]) {
		if (vmreg_create(vm, VMREG_CREATED, 0, 0, &r) != 0) {
			if (errno == EEXIST)
				warnx("VM %s already exists", vm);
			else
				warnx("VM %s: cannot create it in %s: %s", vm, vmreg_runroot(),
				    strerror(errno));
			exit(EX_RUNTIME);
		}
		vmreg_unlock(&r);
	}
	if (vmreg_open(vm, &r) != 0) {
		if (errno == ENOENT)
			warnx("VM %s does not exist (no %s/%s)", vm, vmreg_devdir(), vm);
		else
			warnx("VM %s: %s/%s: %s", vm, vmreg_runroot(), vm, strerror(errno));
		exit(EX_RUNTIME);
	}
	if (r.ncpus > 0 && cpu >= (unsigned long)r.ncpus && (any_reg || o[OPT_NMI] || o[OPT_STATS])) {
		warnx("VM %s has no vcpu %lu (it has %d)", vm, cpu, r.ncpus);
		exit(EX_BADVALUE);
	}
	if (o[OPT_LOWMEM]) {
		uint64_t low = r.memsize > LOWMEM_LIMIT ? LOWMEM_LIMIT : r.memsize;

		printf("lowmem\t\t0x%016llx/%llu\n", 0ULL, (unsigned long long)low);
	}
	if (o[OPT_HIGHMEM] && r.memsize > LOWMEM_LIMIT)
		printf("highmem\t\t0x%016llx/%llu\n", (unsigned long long)HIGHMEM_BASE,
		    (unsigned long long)(r.memsize - LOWMEM_LIMIT));
	if (o[OPT_MEMMAP]) {
		uint64_t low = r.memsize > LOWMEM_LIMIT ? LOWMEM_LIMIT : r.memsize;

		printf("%-20s%-20s%-20s%s\n", "Address", "Length", "Segment", "Prot");
		if (low)
			printf("%-20s0x%-18llx%-20s%s\n", "0x0", (unsigned long long)low,
			    "sysmem", "RWX");
		if (r.memsize > LOWMEM_LIMIT)
			printf("0x%-18llx0x%-18llx%-20s%s\n", (unsigned long long)HIGHMEM_BASE,
			    (unsigned long long)(r.memsize - LOWMEM_LIMIT), "sysmem", "RWX");
	}
	if (o[OPT_ACTIVE] || o[OPT_SUSPENDED]) {
		char a[256] = "<none>", s[256] = "<none>";

		if (vmreg_holder(&r) != 0) {
			if (ask(&r, "cpus", buf, sizeof(buf)) != 0)
				exit(EX_RUNTIME);
			sscanf(buf, "active %255[^\n]\nsuspended %255[^\n]", a, s);
		}
		if (o[OPT_ACTIVE])
			printf("active cpus:\t%s\n", a);
		if (o[OPT_SUSPENDED])
			printf("suspended cpus:\t%s\n", s);
	}
	if (any_reg) {
		char req[32];

		snprintf(req, sizeof(req), "regs %lu", cpu);
		if (ask(&r, req, buf, sizeof(buf)) != 0)
			exit(EX_RUNTIME);
		for (int i = 0; i < nregnames; i++)
			if (want[i])
				print_reg(buf, regnames[i], (int)cpu);
	}
	if (o[OPT_STATS]) {
		char req[32];

		snprintf(req, sizeof(req), "stats %lu", cpu);
		if (ask(&r, req, buf, sizeof(buf)) != 0)
			exit(EX_RUNTIME);
		fputs(buf, stdout);
	}
	if (o[OPT_NMI]) {
		char req[32];

		snprintf(req, sizeof(req), "nmi %lu", cpu);
		if (ask(&r, req, buf, sizeof(buf)) != 0)
			rc = EX_RUNTIME;
	}
	if (o[OPT_RESET] || o[OPT_POWEROFF]) {
		if (ask(&r, o[OPT_RESET] ? "reset" : "poweroff", buf, sizeof(buf)) != 0)
			exit(EX_RUNTIME);
	}
	if (o[OPT_DESTROY]) {
		/* A running bhyve is stopped first; it removes the entry as it ends. */
		if (vmreg_holder(&r) != 0 && ask(&r, "destroy", buf, sizeof(buf)) == 0 &&
		    !wait_free(&r)) {
			warnx("VM %s: its bhyve did not stop", vm);
			exit(EX_RUNTIME);
		}
		if (vmreg_lock(&r) != 0 && errno != ENOENT) {
			warnx("VM %s is in use by process %ld", vm, r.pid);
			exit(EX_RUNTIME);
		}
		if (vmreg_destroy(&r) != 0) {
			warn("VM %s: removing %s", vm, r.rundir);
			exit(EX_RUNTIME);
		}
	}
	return rc;
}
