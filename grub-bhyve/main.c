/* grub-bhyve: loads a Linux guest into a VM of the registry (lib/vmmapi/registry.h)
 * for `bhyve NAME` to run, with grub2-bhyve's command line:
 *   grub-bhyve [-m device.map] [-r root] [-d dir] [-g grub.cfg] [-M mem]
 *              [-c console] [-n] [-e key=value] vmname
 * It runs the grub.cfg, shows the menu, takes the default entry, plans the
 * kernel by the Linux boot protocol (linux.c), and leaves the plan in the VM's
 * memory file and the entry state in its vCPU 0 file. The VM is made in state
 * "created" and marked "loaded" only once all is written, so a loader killed
 * half way never leaves a VM bhyve would run. On a terminal (stdin, or the -c
 * device) the menu and the grub> prompt are interactive (menu.c); otherwise the
 * default entry is booted at once, for scripts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "loader.h"
#include "menu.h"
#include "registry.h"
#include "vmmapi.h"

#define DEFAULT_MEM	(256ULL << 20)	/* grub2-bhyve's */
#define MAX_ENV		32

static void usage(void)
{
	fprintf(stderr, "usage: grub-bhyve [-m device.map] [-r root] [-d dir] [-g grub.cfg] "
	    "[-M mem] [-c console] [-n] [-e key=value] vmname\n");
	exit(1);
}

/* -M: MiB as a plain number (grub2-bhyve), or with a K, M, G or T suffix. */
static int parse_mem(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 20;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: return -1;
	}
	if (*end != '\0' || v == 0 || v > (1ULL << (63 - shift)))
		return -1;
	*out = v << shift;
	return *out >= (32ULL << 20) ? 0 : -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *nb = cap > (16U << 20) ? NULL : realloc(buf, cap = cap * 2 + 8192);

			if (nb == NULL) {
				free(buf);
				fclose(f);
				errno = EFBIG;
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* Guest address gpa as an offset of the memory file (registry.h's layout). */
static int gpa_offset(uint64_t memsize, uint64_t gpa, size_t len, uint64_t *off)
{
	uint64_t low = memsize < VM_LOWMEM_LIMIT ? memsize : VM_LOWMEM_LIMIT;

	if (gpa < low && len <= low - gpa) {
		*off = gpa;
		return 0;
	}
	if (gpa >= VM_HIGHMEM_BASE && gpa - VM_HIGHMEM_BASE <= memsize - low &&
	    len <= memsize - low - (gpa - VM_HIGHMEM_BASE)) {
		*off = low + (gpa - VM_HIGHMEM_BASE);
		return 0;
	}
	return -1;
}

static void print_menu(const struct gb_cfg *c, const struct gb_entry *def)
{
	int n = gb_cfg_nentries(c);

	printf("GNU GRUB menu (grub-bhyve)\n");
	for (int i = 0; i < n; i++) {
		const struct gb_entry *e = gb_cfg_entry(c, i);

		printf("%c %d: %s%s\n", e == def ? '*' : ' ', i, e->title, e->submenu ? " >" : "");
	}
	if (gb_cfg_timeout(c) >= 0)
		printf("timeout: %d s\n", gb_cfg_timeout(c));
	else
		printf("timeout: none\n");
}

/* The vCPU 0 state for the plan's entry, in vcpustate.c's format. Segment
 * access rights in VMX layout: present, S, accessed code or data, G, and L
 * (64-bit code) or D/B (32-bit). */
static void vcpu_text(const struct gb_plan *p, char *buf, size_t len)
{
	unsigned cs_acc = p->entry64 ? 0xa09b : 0xc09b;
	int n;

	n = snprintf(buf, len,
	    "cr4 0x%llx\ncr3 0x%llx\nefer 0x%llx\ncr0 0x%llx\n"
	    "rip 0x%llx\nrsi 0x%llx\nrsp 0x0\nrflags 0x2\n"
	    "gdtr 0x%llx 0x%x\n"
	    "cs 0x%x 0 0xffffffff 0x%x\n",
	    (unsigned long long)p->cr4, (unsigned long long)p->cr3,
	    (unsigned long long)p->efer, (unsigned long long)p->cr0,
	    (unsigned long long)p->rip, (unsigned long long)p->rsi,
	    (unsigned long long)p->gdt_base, (unsigned)p->gdt_limit, (unsigned)p->cs, cs_acc);
	for (int i = 0; i < 5 && n > 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, "%s 0x%x 0 0xffffffff 0xc093\n",
		    (const char *[]){ "ds", "es", "ss", "fs", "gs" }[i], (unsigned)p->ds);
}

int main(int argc, char **argv)
{
	const char *mapfile = NULL, *root = "hd0", *dir = "/boot/grub", *cfgname = "grub.cfg";
	const char *console = NULL, *env[MAX_ENV];
	uint64_t memsize = DEFAULT_MEM;
	bool add_console = true;
	int nenv = 0, ch, rc = 1, tin = STDIN_FILENO;
	char err[512], path[4096], state[1024];
	struct gb_devmap map = { 0 };
	struct gb_loader l;
	struct gb_cfg_ops ops;
	struct gb_cfg *c;
	const struct gb_entry *e;
	struct gb_boot b;
	struct gb_loaded ld;
	struct gb_e820 e820[8];
	struct gb_plan *p;
	struct vmreg r;
	void *mem;
	size_t ne;

	while ((ch = getopt(argc, argv, "m:r:d:g:M:c:ne:h")) != -1) {
		switch (ch) {
		case 'm': mapfile = optarg; break;
		case 'r': root = optarg; break;
		case 'd': dir = optarg; break;
		case 'g': cfgname = optarg; break;
		case 'M':
			if (parse_mem(optarg, &memsize) != 0) {
				fprintf(stderr, "grub-bhyve: -M %s: not a memory size of at least 32M\n",
				    optarg);
				return 1;
			}
			break;
		case 'c': console = optarg; break;
		case 'n': add_console = false; break;
		case 'e':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=' || nenv == MAX_ENV) {
				fprintf(stderr, "grub-bhyve: -e %s: expected key=value (at most %d)\n",
				    optarg, MAX_ENV);
				return 1;
			}
			env[nenv++] = optarg;
			break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	if (vmreg_check_name(argv[optind], err, sizeof(err)) != 0) {
		fprintf(stderr, "grub-bhyve: %s\n", err);
		return 1;
	}
	if (console != NULL && strcmp(console, "stdio") != 0 &&
	    freopen(console, "w", stdout) == NULL) {
		fprintf(stderr, "grub-bhyve: -c %s: %s\n", console, strerror(errno));
		return 1;
	}
	/* The console device is where the keys come from too (nmdm, a pty). */
	if (console != NULL && strcmp(console, "stdio") != 0) {
		tin = open(console, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (tin < 0 || !isatty(tin)) {
			if (tin >= 0)
				close(tin);
			tin = -1;
		}
	}
	if (mapfile != NULL) {
		char *text = slurp(mapfile);

		if (text == NULL) {
			fprintf(stderr, "grub-bhyve: %s: %s\n", mapfile, strerror(errno));
			return 1;
		}
		if (gb_devmap_parse(&map, text, err, sizeof(err)) != 0) {
			fprintf(stderr, "grub-bhyve: %s: %s\n", mapfile, err);
			free(text);
			return 1;
		}
		free(text);
	}
	/* (host) is the host's files from / as in grub2-bhyve. */
	gb_loader_init(&l, &map, "/");
	ops = gb_loader_ops(&l);
	c = gb_cfg_new(&ops);
	p = malloc(sizeof(*p));
	if (c == NULL || p == NULL) {
		fprintf(stderr, "grub-bhyve: out of memory\n");
		goto out_cfg;
	}
	for (int i = 0; i < nenv; i++) {
		char key[256];
		size_t k = (size_t)(strchr(env[i], '=') - env[i]);

		snprintf(key, sizeof(key), "%.*s", (int)k, env[i]);
		gb_cfg_set(c, key, env[i] + k + 1);
	}
	gb_cfg_set(c, "root", root);
	snprintf(path, sizeof(path), "%s/%s", dir, cfgname);
	if (gb_cfg_run_file(c, root, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "grub-bhyve: %s%s%s\n", err, l.err[0] ? ": " : "", l.err);
		goto out_cfg;
	}
	if (tin >= 0 && isatty(tin)) {
		int mr = gb_menu_run(c, &l, tin, stdout, add_console, &b, err, sizeof(err));

		if (mr != 0) {
			fprintf(stderr, "grub-bhyve: %s\n", err);
			goto out_cfg;
		}
	}
	for (int round = 0; tin < 0 || !isatty(tin); round++) {
		int br;

		e = gb_cfg_default(c);
		if (e == NULL) {
			fprintf(stderr, "grub-bhyve: (%s)%s: no menu entry to boot\n", root, path);
			goto out_cfg;
		}
		print_menu(c, e);
		printf("Booting '%s'\n", e->title);
		fflush(stdout);
		br = gb_cfg_boot(c, e, add_console, &b, err, sizeof(err));
		if (br < 0) {
			fprintf(stderr, "grub-bhyve: '%s': %s\n", e->title, err);
			goto out_cfg;
		}
		if (br == 0)
			break;
		if (round == 16) {
			fprintf(stderr, "grub-bhyve: more than 16 configfile menus\n");
			goto out_cfg;
		}
	}
	if (gb_loader_read(&l, &b, &ld, err, sizeof(err)) != 0) {
		fprintf(stderr, "grub-bhyve: '%s': %s\n", b.title, err);
		goto out_boot;
	}
	ne = gb_e820_bhyve(memsize, e820, 8);
	if (gb_linux_plan(ld.kernel, ld.klen, b.cmdline, ld.initrd, ld.ninitrd, e820, ne, p, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "grub-bhyve: (%s)%s: %s\n", b.kernel_dev, b.kernel_path, err);
		goto out_loaded;
	}
	/* ncpus 0: only vCPU 0 is set, any bhyve -c runs it. */
	if (vmreg_create(argv[optind], VMREG_CREATED, memsize, 0, &r) != 0) {
		fprintf(stderr, "grub-bhyve: VM %s: %s\n", argv[optind],
		    errno == EEXIST ? "exists already (bhyvectl --destroy it first)" : strerror(errno));
		goto out_loaded;
	}
	if (vmreg_map_memory(&r, &mem) != 0) {
		fprintf(stderr, "grub-bhyve: VM %s: its memory: %s\n", r.name, strerror(errno));
		goto out_vm;
	}
	for (int i = 0; i < p->nw; i++) {
		uint64_t off;

		if (gpa_offset(memsize, p->w[i].gpa, p->w[i].len, &off) != 0) {
			fprintf(stderr, "grub-bhyve: VM %s: 0x%llx bytes at 0x%llx are not RAM\n",
			    r.name, (unsigned long long)p->w[i].len,
			    (unsigned long long)p->w[i].gpa);
			munmap(mem, memsize);
			goto out_vm;
		}
		memcpy((uint8_t *)mem + off, p->w[i].data, p->w[i].len);
	}
	if (msync(mem, memsize, MS_SYNC) != 0 || munmap(mem, memsize) != 0) {
		fprintf(stderr, "grub-bhyve: VM %s: its memory: %s\n", r.name, strerror(errno));
		goto out_vm;
	}
	vcpu_text(p, state, sizeof(state));
	r.state = VMREG_LOADED;
	if (vmreg_write_vcpu(&r, 0, state) != 0 || vmreg_save(&r) != 0) {
		fprintf(stderr, "grub-bhyve: VM %s: cannot write its state: %s\n", r.name,
		    strerror(errno));
		goto out_vm;
	}
	printf("Loaded %s (%s entry at 0x%llx, kernel at 0x%llx, %d initrd(s)) into VM %s\n",
	    b.kernel_path, p->entry64 ? "64-bit" : "32-bit", (unsigned long long)p->rip,
	    (unsigned long long)p->kernel_addr, ld.ninitrd, r.name);
	vmreg_unlock(&r);
	rc = 0;
	goto out_loaded;
out_vm:
	vmreg_destroy(&r);
out_loaded:
	gb_loaded_free(&ld);
out_boot:
	gb_boot_free(&b);
out_cfg:
	/* What the script could not do, when that may be why nothing loaded. */
	if (c != NULL && rc != 0)
		fprintf(stderr, "%s", gb_cfg_messages(c));
	free(p);
	if (c != NULL)
		gb_cfg_free(c);
	gb_loader_fini(&l);
	if (tin > STDIN_FILENO)
		close(tin);
	return rc;
}
