/* Host settings (vm.h), guest lookup across datastores, and the commands that
 * set the host up: init, datastore. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vm.h"

int host_load(struct vmhost *h)
{
	const char *p = getenv("VM_CONF"), *dir;

	memset(h, 0, sizeof(*h));
	snprintf(h->conf_path, sizeof(h->conf_path), "%s", p && *p ? p : "/etc/vm.conf");
	h->conf = conf_load(h->conf_path);
	if (h->conf == NULL && errno != ENOENT)
		return vm_err("cannot read %s: %s", h->conf_path, strerror(errno));
	if (h->conf == NULL && (h->conf = conf_new()) == NULL)
		return vm_err("out of memory");
	dir = conf_get_def(h->conf, "vm_dir", "");
	snprintf(h->vm_dir, sizeof(h->vm_dir), "%s", dir);
	if (*h->vm_dir) {
		snprintf(h->sys_path, sizeof(h->sys_path), "%s/.config/system.conf", h->vm_dir);
		h->sys = conf_load(h->sys_path);
		if (h->sys == NULL && errno != ENOENT)
			return vm_err("cannot read %s: %s", h->sys_path, strerror(errno));
	}
	if (h->sys == NULL && (h->sys = conf_new()) == NULL)
		return vm_err("out of memory");
	return 0;
}

int host_need_dir(struct vmhost *h)
{
	struct stat st;
	char cfg[4200];

	if (*h->vm_dir == '\0')
		return vm_err("vm_dir is not set in %s (add vm_dir=\"/path/to/vms\" there, then run vm init)",
		    h->conf_path);
	if (strncmp(h->vm_dir, "zfs:", 4) == 0)
		return vm_err("vm_dir=\"%s\": ZFS datastores are not supported yet", h->vm_dir);
	snprintf(cfg, sizeof(cfg), "%s/.config", h->vm_dir);
	if (stat(cfg, &st) != 0 || !S_ISDIR(st.st_mode))
		return vm_err("%s is not set up: run vm init", h->vm_dir);
	return 0;
}

int host_save_sys(const struct vmhost *h)
{
	if (conf_save(h->sys, h->sys_path) != 0)
		return vm_err("cannot write %s: %s", h->sys_path, strerror(errno));
	return 0;
}

void host_free(struct vmhost *h)
{
	conf_free(h->conf);
	conf_free(h->sys);
	h->conf = h->sys = NULL;
}

bool guest_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 31 || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("-_.", name[i]))
			return false;
	return true;
}

/* Datastore DS's directory into dir: "default" is vm_dir, others are
 * path_DS in system.conf. -1 if there is none. */
static int datastore_dir(const struct vmhost *h, const char *ds, char *dir, size_t n)
{
	char key[128];
	const char *p;

	if (strcmp(ds, "default") == 0)
		p = h->vm_dir;
	else if (snprintf(key, sizeof(key), "path_%s", ds) < (int)sizeof(key))
		p = conf_get(h->sys, key);
	else
		p = NULL;
	if (p == NULL || *p == '\0' || (size_t)snprintf(dir, n, "%s", p) >= n)
		return -1;
	return 0;
}

int guest_find(const struct vmhost *h, const char *name, char *dir, size_t n,
    char *ds, size_t dsn)
{
	char base[4096], conf[8400], list[4096], *save = NULL, *w;
	struct stat st;

	if (!guest_name_valid(name))
		return -1;
	snprintf(list, sizeof(list), "default %s", conf_get_def(h->sys, "datastore_list", ""));
	for (w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (datastore_dir(h, w, base, sizeof(base)) != 0)
			continue;
		snprintf(conf, sizeof(conf), "%s/%s/%s.conf", base, name, name);
		if (stat(conf, &st) != 0)
			continue;
		if ((size_t)snprintf(dir, n, "%s/%s", base, name) >= n)
			return -1;
		if (ds)
			snprintf(ds, dsn, "%s", w);
		return 0;
	}
	return -1;
}

int cmd_init(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("init: not implemented yet");
}

int cmd_datastore(struct vmhost *h, int argc, char **argv)
{
	(void)h, (void)argc, (void)argv;
	return vm_err("datastore: not implemented yet");
}
