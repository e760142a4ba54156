/* vm(8): the command table and `vm help`; errors and tool paths are util.c's. */
#include <stdio.h>
#include <string.h>

#include "vm.h"

static const struct {
	const char *name;
	vm_cmd_fn *fn;
	const char *usage;
} cmds[] = {
	{ "init", cmd_init, "init" },
	{ "datastore", cmd_datastore, "datastore list|add|remove|iso ..." },
	{ "switch", cmd_switch, "switch list|info|create|destroy|add|remove|vlan|address|private ..." },
	{ "list", cmd_list, "list [-r] [--json]" },
	{ "info", cmd_info, "info [--json] [name...]" },
	{ "create", cmd_create, "create [-d datastore] [-t template] [-s size] [-m memory] [-c cpus] [-i image]\n           [-C [-k pubkey] [-n ip=..;gateway=..;nameservers=..;hostname=..]] name" },
	{ "install", cmd_install, "install [-f] name iso" },
	{ "start", cmd_start, "start [-f] name..." },
	{ "stop", cmd_stop, "stop name..." },
	{ "restart", cmd_restart, "restart name" },
	{ "reset", cmd_reset, "reset [-f] name" },
	{ "poweroff", cmd_poweroff, "poweroff [-f] name" },
	{ "startall", cmd_startall, "startall" },
	{ "stopall", cmd_stopall, "stopall" },
	{ "console", cmd_console, "console name [comN]" },
	{ "configure", cmd_configure, "configure name" },
	{ "set", cmd_set, "set name key=value..." },
	{ "get", cmd_get, "get name key...|all" },
	{ "add", cmd_add, "add [-d device] [-t type] [-s size|switch] name" },
	{ "rename", cmd_rename, "rename name new-name" },
	{ "destroy", cmd_destroy, "destroy [-f] name" },
	{ "iso", cmd_iso, "iso [url]" },
	{ "img", cmd_img, "img [url]" },
	{ "clone", cmd_clone, "clone name[@snapshot] new-name" },
	{ "snapshot", cmd_snapshot, "snapshot [-f] name[@snapshot]" },
	{ "rollback", cmd_rollback, "rollback [-r] name@snapshot" },
	/* Not for users: the supervisor vm start runs in the background. */
	{ "_supervise", cmd_supervise, NULL },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: vm ...\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (cmds[i].usage)
			fprintf(f, "    %s\n", cmds[i].usage);
	fprintf(f, "    help [command]\n    version\n");
}

static int help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (cmds[i].usage && strcmp(cmds[i].name, argv[1]) == 0) {
			printf("Usage: vm %s\n", cmds[i].usage);
			return 0;
		}
	return vm_err("unknown command '%s' (vm help lists them)", argv[1]);
}

int main(int argc, char **argv)
{
	struct vmhost h;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)
		return help(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "-v") == 0) {
		printf("vm (bhyve for Linux)\n");
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, argv[1]) != 0)
			continue;
		if (host_load(&h) != 0)
			return 1;
		rc = cmds[i].fn(&h, argc - 1, argv + 1);
		host_free(&h);
		return rc;
	}
	return vm_err("unknown command '%s' (vm help lists them)", argv[1]);
}
