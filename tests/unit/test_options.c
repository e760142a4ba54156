/* The command line into the config tree: -s (pci_parse_slot), -l (lpc_device_parse),
 * bhyve_check_config, and bhyve_parse_args in child processes (it may exit). */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "devices/lpc.h"
#include "options.h"
#include "pci_emul.h"
#include "test.h"

static void pci_parse_slot_forms(void)
{
	free_config();
	CHECK(pci_parse_slot("0,hostbridge") == 0);
	CHECK_STR(get_config_value("pci.0.0.0.device"), "hostbridge");
	CHECK(pci_parse_slot("3:1,lpc") == 0);
	CHECK_STR(get_config_value("pci.0.3.1.device"), "lpc");
	CHECK(pci_parse_slot("1:2:3,hostbridge") == 0);
	CHECK_STR(get_config_value("pci.1.2.3.device"), "hostbridge");
	CHECK(pci_parse_slot("31:7,hostbridge") == 0);
	CHECK_STR(get_config_value("pci.0.31.7.device"), "hostbridge");
	free_config();
}

static void pci_parse_slot_options_go_under_node(void)
{
	free_config();
	CHECK(pci_parse_slot("5,hostbridge,foo=bar,flag,,x=a=b") == 0);
	CHECK_STR(get_config_value("pci.0.5.0.device"), "hostbridge");
	CHECK_STR(get_config_value("pci.0.5.0.foo"), "bar");
	CHECK_STR(get_config_value("pci.0.5.0.flag"), "true");
	CHECK_STR(get_config_value("pci.0.5.0.x"), "a=b");
	free_config();
}

static void pci_parse_slot_amd_hostbridge_sets_amd_ids(void)
{
	free_config();
	CHECK(pci_parse_slot("0,amd_hostbridge") == 0);
	CHECK_STR(get_config_value("pci.0.0.0.device"), "hostbridge");
	CHECK_STR(get_config_value("pci.0.0.0.vendor"), "0x1022");
	CHECK_STR(get_config_value("pci.0.0.0.devid"), "0x7432");
	free_config();
}

static void pci_parse_slot_rejects_bad_slots(void)
{
	static const char *const bad[] = {
		"2,no-such-device", "32,hostbridge", "0:8,hostbridge", "1:2:8,hostbridge",
		"256:0:0,hostbridge", "1:2:3:4,hostbridge", "x,hostbridge", ",hostbridge",
		"hostbridge", "-1,hostbridge", "3:,hostbridge",
	};

	free_config();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(pci_parse_slot(bad[i]) == -1, "\"%s\" accepted", bad[i]);
	CHECK(get_config_value("pci.0.32.0.device") == NULL);
	CHECK(get_config_value("pci.0.2.0.device") == NULL);
	CHECK(pci_parse_slot("0,hostbridge") == 0);
	CHECK_MSG(pci_parse_slot("0,lpc") == -1, "a second device in slot 0 accepted");
	CHECK_MSG(pci_parse_slot("0:0,lpc") == -1, "slot 0:0 given twice accepted");
	CHECK_STR(get_config_value("pci.0.0.0.device"), "hostbridge");
	CHECK(pci_parse_slot("0:1,lpc") == 0);
	free_config();
}

static void lpc_device_parse_com_ports(void)
{
	free_config();
	CHECK(lpc_device_parse("com1,stdio") == 0);
	CHECK_STR(get_config_value("lpc.com1.path"), "stdio");
	CHECK(lpc_device_parse("COM2,tcp=127.0.0.1:4000") == 0);
	CHECK_STR(get_config_value("lpc.com2.path"), "tcp=127.0.0.1:4000");
	CHECK(lpc_device_parse("com3,/dev/nmdm0A") == 0);
	CHECK_STR(get_config_value("lpc.com3.path"), "/dev/nmdm0A");
	CHECK(lpc_device_parse("com4") == -1);
	CHECK(lpc_device_parse("com4,") == -1);
	CHECK(get_config_value("lpc.com4.path") == NULL);
	free_config();
}

static void lpc_device_parse_bootrom(void)
{
	free_config();
	CHECK(lpc_device_parse("bootrom,/x.rom,/y.vars") == 0);
	CHECK_STR(get_config_value("lpc.bootrom"), "/x.rom");
	CHECK_STR(get_config_value("lpc.bootvars"), "/y.vars");
	free_config();
	CHECK(lpc_device_parse("bootrom,/x.rom") == 0);
	CHECK_STR(get_config_value("lpc.bootrom"), "/x.rom");
	CHECK(get_config_value("lpc.bootvars") == NULL);
	free_config();
	CHECK(lpc_device_parse("bootrom") == -1);
	CHECK(lpc_device_parse("bootrom,") == -1);
	CHECK(lpc_device_parse("bootrom,/a,/b,/c") == -1);
	CHECK(lpc_device_parse("nosuchdev,foo") == -1);
	CHECK(lpc_device_parse("") == -1);
	free_config();
}

/* The smallest tree bhyve_check_config accepts. */
static void base_config(void)
{
	free_config();
	set_config_value("name", "vm0");
	set_config_value("memory.size", "256M");
}

static void check_config_topology(void)
{
	struct bhyve_params p;

	base_config();
	CHECK(bhyve_check_config(&p) == 0);
	CHECK_EQ(p.ncpus, 1);
	CHECK_EQ(p.sockets, 1);

	set_config_value("cpus", "4");
	REQUIRE(bhyve_check_config(&p) == 0);
	CHECK_EQ(p.ncpus, 4);
	CHECK_EQ(p.sockets, 4);
	CHECK_EQ(p.cores, 1);
	CHECK_EQ(p.threads, 1);

	set_config_value("cores", "2");
	REQUIRE(bhyve_check_config(&p) == 0);
	CHECK_EQ(p.sockets, 2);
	CHECK_EQ(p.cores, 2);

	set_config_value("threads", "2");
	REQUIRE(bhyve_check_config(&p) == 0);
	CHECK_EQ(p.sockets, 1);

	set_config_value("sockets", "2");	/* 2 x 2 x 2 = 8, not 4 */
	CHECK(bhyve_check_config(&p) != 0);

	base_config();
	set_config_value("cpus", "5");
	set_config_value("cores", "2");
	CHECK(bhyve_check_config(&p) != 0);

	base_config();
	set_config_value("sockets", "2");
	set_config_value("cores", "3");
	REQUIRE(bhyve_check_config(&p) == 0);
	CHECK_EQ(p.ncpus, 6);

	base_config();
	set_config_value("cpus", "0");
	CHECK(bhyve_check_config(&p) != 0);
	set_config_value("cpus", "257");
	CHECK(bhyve_check_config(&p) != 0);
	set_config_value("cpus", "two");
	CHECK(bhyve_check_config(&p) != 0);
	free_config();
}

static void check_config_memory_size(void)
{
	static const char *const bad[] = { "0", "512K", "1000000B", "2T", "junk", "" };
	struct bhyve_params p;

	base_config();
	set_config_value("memory.size", "512M");
	REQUIRE(bhyve_check_config(&p) == 0);
	CHECK_EQ(p.memsize, 512ULL << 20);
	/* More than the host's MemTotal (this machine has less than 1T): only with
	 * memory.overcommit. */
	set_config_value("memory.size", "1T");
	CHECK_EQ(bhyve_check_config(&p), 4);
	set_config_value("memory.overcommit", "true");
	CHECK(bhyve_check_config(&p) == 0);
	set_config_value("memory.overcommit", "maybe");
	CHECK_EQ(bhyve_check_config(&p), 4);
	unset_config_value("memory.overcommit");
	set_config_value("memory.size", "1M");
	CHECK(bhyve_check_config(&p) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_config_value("memory.size", bad[i]);
		/* EX_USAGE, as FreeBSD's "invalid memsize"; beyond 1T, 4 (a limit of this VMM) */
		CHECK_MSG(bhyve_check_config(&p) == (strcmp(bad[i], "2T") == 0 ? 4 : EX_USAGE),
		    "memory.size \"%s\"", bad[i]);
	}
	free_config();
}

static void check_config_name_length_and_chars(void)
{
	struct bhyve_params p;
	char name[40];

	base_config();
	memset(name, 'a', sizeof(name));
	name[31] = '\0';
	set_config_value("name", name);
	CHECK(bhyve_check_config(&p) == 0);
	CHECK_STR(p.name, name);
	name[31] = 'b';
	name[32] = '\0';
	set_config_value("name", name);
	CHECK(bhyve_check_config(&p) != 0);
	set_config_value("name", "");
	CHECK(bhyve_check_config(&p) != 0);
	set_config_value("name", "a/b");
	CHECK(bhyve_check_config(&p) != 0);
	free_config();
	set_config_value("memory.size", "256M");
	CHECK(bhyve_check_config(&p) != 0);	/* no name at all */
	free_config();
}

static void check_config_uuid(void)
{
	static const char *const good[] = {
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
	};
	static const char *const bad[] = {
		"6ba7b810-9dad-11d1-80b4-00c04fd430c", "6ba7b810-9dad-11d1-80b4-00c04fd430c8a",
		"6ba7b8109dad-11d1-80b4-00c04fd430c8a", "6ba7b810-9dad-11d1-80b4_00c04fd430c8",
		"6ba7b810-9dad-11d1-80b4-00c04fd430cg", "", "not-a-uuid",
	};
	struct bhyve_params p;

	base_config();
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		set_config_value("uuid", good[i]);
		CHECK_MSG(bhyve_check_config(&p) == 0, "\"%s\" refused", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_config_value("uuid", bad[i]);
		CHECK_MSG(bhyve_check_config(&p) != 0, "\"%s\" accepted", bad[i]);
	}
	free_config();
}

static void check_config_rejects_bad_booleans(void)
{
	struct bhyve_params p;

	base_config();
	set_config_value("x86.strictio", "maybe");
	CHECK(bhyve_check_config(&p) != 0);
	set_config_value("x86.strictio", "yes");
	set_config_value("x86.strictmsr", "off");
	REQUIRE(bhyve_check_config(&p) == 0);
	CHECK(p.strictio);
	CHECK(!p.strictmsr);
	free_config();
}

static void vcpu_cpuset_parses_lists_and_ranges(void)
{
	uint64_t m = 0;

	free_config();
	set_config_value("vcpu.0.cpuset", "1,3-5");
	CHECK(bhyve_vcpu_cpuset(0, &m) == 0);
	CHECK_EQ(m, 0x3a);
	CHECK(bhyve_vcpu_cpuset(1, &m) == 0);
	CHECK_EQ(m, 0);
	set_config_value("vcpu.0.cpuset", "64");
	CHECK(bhyve_vcpu_cpuset(0, &m) == -1);
	set_config_value("vcpu.0.cpuset", "1,,2");
	CHECK(bhyve_vcpu_cpuset(0, &m) == -1);
	free_config();
}

/* ---- bhyve_parse_args, which exits on errors: in child processes ---- */

struct argv_case {
	int argc;
	char **argv;
};

/* bhyve_parse_args ends with exit() on errors: leave then without the sanitizer's
 * leak check, which would change the status being tested. */
static void exit_now(int status, void *arg)
{
	(void)arg;
	fflush(stdout);
	_exit(status);
}

static void parse_args_child(void *arg)
{
	const struct argv_case *c = arg;

	on_exit(exit_now, NULL);
	free_config();
	bhyve_parse_args(c->argc, c->argv);
}

/* Exit status 0 only if the tree holds what the flags say. */
static void parse_args_and_check_child(void *arg)
{
	struct bhyve_params p;
	int bad = 0;

	parse_args_child(arg);
	bad |= get_config_value("cpus") == NULL || strcmp(get_config_value("cpus"), "4") != 0;
	bad |= get_config_value("cores") == NULL || strcmp(get_config_value("cores"), "2") != 0;
	bad |= get_config_value("memory.size") == NULL ||
	    strcmp(get_config_value("memory.size"), "1G") != 0;
	bad |= get_config_value("pci.0.0.0.device") == NULL ||
	    strcmp(get_config_value("pci.0.0.0.device"), "hostbridge") != 0;
	bad |= get_config_value("lpc.com1.path") == NULL ||
	    strcmp(get_config_value("lpc.com1.path"), "stdio") != 0;
	bad |= config_bool("rtc.use_localtime", true) != false;
	bad |= get_config_value("name") == NULL || strcmp(get_config_value("name"), "vm1") != 0;
	bad |= get_config_value("x.y") == NULL || strcmp(get_config_value("x.y"), "z") != 0;
	if (bhyve_check_config(&p) != 0 || p.sockets != 2 || p.cores != 2 || p.ncpus != 4 ||
	    p.memsize != (1ULL << 30))
		bad |= 2;
	fflush(stdout);
	_exit(bad ? 10 + bad : 0);
}

static void parse_args_fills_the_tree(void)
{
	char *argv[] = {
		"bhyve", "-c", "4,cores=2", "-m", "1G", "-s", "0,hostbridge", "-l", "com1,stdio",
		"-u", "-o", "x.y=z", "vm1", NULL,
	};
	struct argv_case c = { 13, argv };
	int st = run_in_child(parse_args_and_check_child, &c, false);

	REQUIRE(st != -1);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
}

static int exit_status_of(char **argv, int argc)
{
	struct argv_case c = { argc, argv };
	int st = run_in_child(parse_args_child, &c, true);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* The statuses of FreeBSD's bhyverun.c: usage() 1 (0 for -h), EX_USAGE for bad
 * -c/-l/-o/-p/-f values, 4 for a bad -s. */
static void parse_args_errors_exit_as_freebsd(void)
{
	char *bad_flag[] = { "bhyve", "-Q", "vm", NULL };
	char *no_arg[] = { "bhyve", "vm", "-m", NULL };
	char *bad_slot[] = { "bhyve", "-s", "32,hostbridge", "vm", NULL };
	char *bad_lpc[] = { "bhyve", "-l", "bootrom", "vm", NULL };
	char *bad_cpus[] = { "bhyve", "-c", "dies=2", "vm", NULL };
	char *bad_pin[] = { "bhyve", "-p", "1", "vm", NULL };
	char *bad_pair[] = { "bhyve", "-o", "novalue", "vm", NULL };
	char *bad_fwcfg[] = { "bhyve", "-f", "opt/x", "vm", NULL };
	char *two_names[] = { "bhyve", "vm1", "vm2", NULL };
	char *no_name[] = { "bhyve", "-m", "1G", NULL };
	char *help[] = { "bhyve", "-s", "help", NULL };
	char *h[] = { "bhyve", "-h", NULL };

	CHECK_EQ(exit_status_of(bad_flag, 3), 1);
	CHECK_EQ(exit_status_of(no_arg, 3), 1);
	CHECK_EQ(exit_status_of(bad_slot, 4), 4);
	CHECK_EQ(exit_status_of(bad_lpc, 4), EX_USAGE);
	CHECK_EQ(exit_status_of(bad_cpus, 4), EX_USAGE);
	CHECK_EQ(exit_status_of(bad_pin, 4), EX_USAGE);
	CHECK_EQ(exit_status_of(bad_pair, 4), EX_USAGE);
	CHECK_EQ(exit_status_of(bad_fwcfg, 4), EX_USAGE);
	CHECK_EQ(exit_status_of(two_names, 3), 1);
	CHECK_EQ(exit_status_of(no_name, 3), 1);
	CHECK_EQ(exit_status_of(help, 3), 0);
	CHECK_EQ(exit_status_of(h, 2), 0);
}

void suite_options(void)
{
	RUN(pci_parse_slot_forms);
	RUN(pci_parse_slot_options_go_under_node);
	RUN(pci_parse_slot_amd_hostbridge_sets_amd_ids);
	RUN(pci_parse_slot_rejects_bad_slots);
	RUN(lpc_device_parse_com_ports);
	RUN(lpc_device_parse_bootrom);
	RUN(check_config_topology);
	RUN(check_config_memory_size);
	RUN(check_config_name_length_and_chars);
	RUN(check_config_uuid);
	RUN(check_config_rejects_bad_booleans);
	RUN(vcpu_cpuset_parses_lists_and_ranges);
	RUN(parse_args_fills_the_tree);
	RUN(parse_args_errors_exit_as_freebsd);
	free_config();
}
