/* vm list and vm info, in vm-bhyve's layouts, and both with --json. Each
 * guest's figures are gathered once into a json-c object; the text layouts
 * are written from it. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vm.h"

/* A guest seen in a datastore. */
struct guest {
	char name[64], ds[64], dir[4200];
};

struct guests {
	struct guest *g;
	size_t n, cap;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct guest *)a)->name, ((const struct guest *)b)->name);
}

/* Every guest in every datastore, by datastore then name, as vm-bhyve's ls. */
static int guests_all(const struct vmhost *h, struct guests *gs)
{
	char list[4096], base[4096], conf[8400], *save = NULL, *w;
	struct dirent *e;
	struct stat st;
	size_t first;
	DIR *d;

	snprintf(list, sizeof(list), "default %s", conf_get_def(h->sys, "datastore_list", ""));
	for (w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (datastore_dir(h, w, base, sizeof(base)) != 0 || (d = opendir(base)) == NULL)
			continue;
		first = gs->n;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.' || !guest_name_valid(e->d_name))
				continue;
			snprintf(conf, sizeof(conf), "%s/%s/%s.conf", base, e->d_name, e->d_name);
			if (stat(conf, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			if (gs->n == gs->cap) {
				size_t cap = gs->cap ? gs->cap * 2 : 32;
				struct guest *g = realloc(gs->g, cap * sizeof(*g));

				if (g == NULL) {
					closedir(d);
					return vm_err("out of memory");
				}
				gs->g = g;
				gs->cap = cap;
			}
			if ((size_t)snprintf(gs->g[gs->n].name, sizeof(gs->g[gs->n].name), "%s",
			    e->d_name) >= sizeof(gs->g[gs->n].name) ||
			    (size_t)snprintf(gs->g[gs->n].ds, sizeof(gs->g[gs->n].ds), "%s", w) >=
			    sizeof(gs->g[gs->n].ds) ||
			    (size_t)snprintf(gs->g[gs->n].dir, sizeof(gs->g[gs->n].dir), "%s/%s",
			    base, e->d_name) >= sizeof(gs->g[gs->n].dir))
				continue;
			gs->n++;
		}
		closedir(d);
		qsort(gs->g + first, gs->n - first, sizeof(*gs->g), by_name);
	}
	return 0;
}

/* vm-bhyve's human sizes: divided by 1024 while at least 1024, three
 * decimals truncated at each step (bc's scale=3), then B, K, M, G or T. */
static void human(uint64_t v, char *out, size_t n)
{
	static const char ext[] = "BKMGT";
	uint64_t t = v * 1000;
	int i = 0;

	if (v > UINT64_MAX / 1000) {
		t = v / 1024 * 1000;
		i = 1;
	}
	while (t / 1000 >= 1024 && i < 4) {
		t /= 1024;
		i++;
	}
	snprintf(out, n, "%" PRIu64 ".%03" PRIu64 "%c", t / 1000, t % 1000, ext[i]);
}

static const char *state_word(enum guest_state s)
{
	switch (s) {
	case GUEST_RUNNING: return "running";
	case GUEST_BOOTLOADER: return "bootloader";
	case GUEST_LOCKED: return "locked";
	default: return "stopped";
	}
}

/* vm-bhyve's STATE column: "Running (PID)", "Stopped", "Locked (host)"... */
static void state_text(json_object *g, char *out, size_t n)
{
	json_object *v;
	const char *s = "stopped", *host = "";
	int pid = 0;

	if (json_object_object_get_ex(g, "state", &v))
		s = json_object_get_string(v);
	if (json_object_object_get_ex(g, "pid", &v))
		pid = json_object_get_int(v);
	if (json_object_object_get_ex(g, "lock_host", &v))
		host = json_object_get_string(v);
	if (strcmp(s, "running") == 0)
		snprintf(out, n, "Running (%d)", pid);
	else if (strcmp(s, "bootloader") == 0)
		snprintf(out, n, "Bootloader (%d)", pid);
	else if (strcmp(s, "locked") == 0)
		snprintf(out, n, "Locked (%s)", host);
	else
		snprintf(out, n, "Stopped");
}

static void put_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return NULL;
	return json_object_get_string(v);
}

/* A line of the output of a program (argv), the first that starts with
 * PREFIX after leading blanks, into out. -1 if none. */
static int run_line(char *const argv[], const char *prefix, char *out, size_t n)
{
	char buf[512];
	int fds[2], st, rc = -1;
	pid_t pid;
	FILE *f;

	if (pipe(fds) != 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	if ((f = fdopen(fds[0], "r")) == NULL) {
		close(fds[0]);
	} else {
		while (fgets(buf, sizeof(buf), f)) {
			const char *p = buf + strspn(buf, " \t");

			if (rc != 0 && strncmp(p, prefix, strlen(prefix)) == 0) {
				snprintf(out, n, "%s", p + strlen(prefix));
				rc = 0;
			}
		}
		fclose(f);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return rc;
}

/* bhyvectl --get-stats' "Resident memory" figure, in bytes. */
static int resident_memory(const char *name, uint64_t *bytes)
{
	char arg[128], line[256], *p;
	char *argv[] = { (char *)vm_tool("bhyvectl"), "--get-stats", arg, NULL };

	snprintf(arg, sizeof(arg), "--vm=%s", name);
	if (run_line(argv, "Resident memory", line, sizeof(line)) != 0)
		return -1;
	p = line + strspn(line, " \t");
	if (*p < '0' || *p > '9')
		return -1;
	*bytes = strtoull(p, NULL, 10);
	return 0;
}

/* /sys/class/net/IF/FILE's first line into out; "" if there is none. */
static void sys_net(const char *ifname, const char *file, char *out, size_t n)
{
	char path[256];
	FILE *f;

	*out = '\0';
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, file);
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fgets(out, (int)n, f) == NULL)
		*out = '\0';
	out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

static json_object *networks(const struct vmconf *c, const struct vmconf *run, bool live)
{
	json_object *arr = json_object_new_array(), *o;
	char key[64], tap[64], buf[256], path[256], link[PATH_MAX];
	const char *v;
	uint64_t in, out;
	ssize_t len;

	for (int i = 0;; i++) {
		snprintf(key, sizeof(key), "network%d_type", i);
		if ((v = conf_get(c, key)) == NULL || *v == '\0')
			break;
		o = json_object_new_object();
		json_object_object_add(o, "number", json_object_new_int(i));
		put_str(o, "emulation", v);
		snprintf(key, sizeof(key), "network%d_switch", i);
		put_str(o, "virtual-switch", conf_get(c, key));
		snprintf(key, sizeof(key), "network%d_mac", i);
		put_str(o, "fixed-mac-address", conf_get(c, key));
		snprintf(key, sizeof(key), "network%d_device", i);
		put_str(o, "fixed-device", conf_get(c, key));
		if (live) {
			snprintf(key, sizeof(key), "tap%d", i);
			snprintf(tap, sizeof(tap), "%s", conf_get_def(run, key, ""));
			put_str(o, "active-device", *tap ? tap : NULL);
			sys_net(tap, "ifalias", buf, sizeof(buf));
			put_str(o, "desc", *tap && *buf ? buf : NULL);
			sys_net(tap, "mtu", buf, sizeof(buf));
			put_str(o, "mtu", *tap && *buf ? buf : NULL);
			snprintf(path, sizeof(path), "/sys/class/net/%s/master", tap);
			len = *tap ? readlink(path, link, sizeof(link) - 1) : -1;
			if (len > 0) {
				link[len] = '\0';
				put_str(o, "bridge", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
			} else {
				put_str(o, "bridge", NULL);
			}
			if (*tap && net_iface_bytes(tap, &in, &out) == 0) {
				json_object_object_add(o, "bytes-in", json_object_new_int64((int64_t)in));
				json_object_object_add(o, "bytes-out", json_object_new_int64((int64_t)out));
			}
		}
		json_object_array_add(arr, o);
	}
	return arr;
}

/* A zvol disk: its device into path, and its size and the space it uses
 * (zfs's volsize and used) into O. */
static void disk_zvol(const char *dir, const char *name, char *path, size_t n, json_object *o)
{
	char vol[4400], out[256];
	unsigned long long size, used;

	if (zvol_of(dir, name, vol, sizeof(vol)) != 0) {
		snprintf(path, n, "-");
		return;
	}
	if (zvol_device(vol, path, n) != 0)
		snprintf(path, n, "/dev/zvol/%s", vol);
	if (zfs_query(out, sizeof(out), "get", "-Hp", "-o", "value", "volsize,used", vol, (char *)NULL) == 0 &&
	    sscanf(out, "%llu %llu", &size, &used) == 2) {
		json_object_object_add(o, "bytes-size", json_object_new_int64((int64_t)size));
		json_object_object_add(o, "bytes-used", json_object_new_int64((int64_t)used));
	}
}

static json_object *disks(const struct vmconf *c, const char *dir)
{
	json_object *arr = json_object_new_array(), *o;
	char key[64], path[8400];
	const char *name, *type, *dev;
	struct stat st;

	for (int i = 0;; i++) {
		snprintf(key, sizeof(key), "disk%d_name", i);
		name = conf_get(c, key);
		snprintf(key, sizeof(key), "disk%d_type", i);
		type = conf_get(c, key);
		if (name == NULL || *name == '\0' || type == NULL || *type == '\0')
			break;
		snprintf(key, sizeof(key), "disk%d_dev", i);
		dev = conf_get_def(c, key, "file");
		o = json_object_new_object();
		json_object_object_add(o, "number", json_object_new_int(i));
		put_str(o, "device-type", dev);
		put_str(o, "emulation", type);
		snprintf(key, sizeof(key), "disk%d_opts", i);
		put_str(o, "options", conf_get(c, key));
		if (zfs_disk_dev(dev))
			disk_zvol(dir, name, path, sizeof(path), o);
		else if (strcmp(dev, "file") == 0)
			snprintf(path, sizeof(path), "%s/%s", dir, name);
		else
			snprintf(path, sizeof(path), "%s", name);
		put_str(o, "system-path", path);
		if (!zfs_disk_dev(dev) && stat(path, &st) == 0) {
			json_object_object_add(o, "bytes-size", json_object_new_int64((int64_t)st.st_size));
			json_object_object_add(o, "bytes-used",
			    json_object_new_int64((int64_t)st.st_blocks * 512));
		}
		json_object_array_add(arr, o);
	}
	return arr;
}

/* Everything list and info show of one guest. */
static json_object *guest_json(const struct vmhost *h, const struct guest *g, bool full)
{
	json_object *o = json_object_new_object(), *ports;
	char path[8400], host[256] = "", key[16];
	struct vmconf *c, *run;
	enum guest_state s;
	const char *k;
	uint64_t res;
	pid_t pid = 0;
	bool live;
	int pos;

	snprintf(path, sizeof(path), "%s/%s.conf", g->dir, g->name);
	if ((c = conf_load(path)) == NULL)
		c = conf_new();
	snprintf(path, sizeof(path), "%s/.run", g->dir);
	if ((run = conf_load(path)) == NULL)
		run = conf_new();
	s = guest_state(g->dir, &pid, host, sizeof(host));
	live = s == GUEST_RUNNING || s == GUEST_BOOTLOADER;
	put_str(o, "name", g->name);
	put_str(o, "state", state_word(s));
	if (live) {
		json_object_object_add(o, "pid", json_object_new_int((int)guest_shown_pid(g->dir, s, pid)));
		json_object_object_add(o, "supervisor_pid", json_object_new_int((int)pid));
	}
	if (s == GUEST_LOCKED)
		put_str(o, "lock_host", host);
	put_str(o, "datastore", g->ds);
	put_str(o, "loader", conf_get_def(c, "loader", "none"));
	put_str(o, "cpu", conf_get(c, "cpu"));
	put_str(o, "memory", conf_get(c, "memory"));
	pos = autostart_pos(h, g->name);
	json_object_object_add(o, "autostart", json_object_new_boolean(pos > 0));
	if (pos > 0)
		json_object_object_add(o, "autostart-position", json_object_new_int(pos));
	put_str(o, "vnc", live && conf_get_bool(c, "graphics") ? conf_get(run, "vnc") : NULL);
	if (full) {
		put_str(o, "uuid", conf_get_def(c, "uuid", "auto"));
		if (conf_get(c, "cpu_sockets")) {
			put_str(o, "cpu-sockets", conf_get(c, "cpu_sockets"));
			put_str(o, "cpu-cores", conf_get(c, "cpu_cores"));
			put_str(o, "cpu-threads", conf_get(c, "cpu_threads"));
		}
		if (live && resident_memory(g->name, &res) == 0)
			json_object_object_add(o, "memory-resident", json_object_new_int64((int64_t)res));
		if (live) {
			ports = json_object_new_object();
			for (size_t i = 0; (k = conf_key(run, i)) != NULL; i++) {
				if (strncmp(k, "com", 3) != 0 || strlen(k) >= sizeof(key))
					continue;
				put_str(ports, k, conf_get(run, k));
			}
			json_object_object_add(o, "console-ports", ports);
		}
		json_object_object_add(o, "network-interfaces", networks(c, run, live));
		json_object_object_add(o, "virtual-disks", disks(c, g->dir));
	}
	conf_free(c);
	conf_free(run);
	return o;
}

enum { COLS = 8 };

/* column -t's layout: each column as wide as its widest cell, two spaces
 * apart, the last one unpadded. */
static void print_row(const char *const *cells, const size_t *w)
{
	for (size_t c = 0; c + 1 < COLS; c++)
		printf("%-*s  ", (int)w[c], cells[c]);
	printf("%s\n", cells[COLS - 1]);
}

int cmd_list(struct vmhost *h, int argc, char **argv)
{
	static const char *const head[COLS] = { "NAME", "DATASTORE", "LOADER", "CPU", "MEMORY",
		"VNC", "AUTO", "STATE" };
	struct guests gs = { 0 };
	json_object *arr, *o;
	bool json = false, running = false;
	size_t w[COLS], n;
	char ***rows, buf[300];
	const char *s;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "-r") == 0)
			running = true;
		else
			return vm_err("usage: vm list [-r] [--json]");
	}
	if (host_need_dir(h) != 0 || guests_all(h, &gs) != 0)
		return 1;
	arr = json_object_new_array();
	for (size_t i = 0; i < gs.n; i++) {
		o = guest_json(h, &gs.g[i], false);
		if (running && strcmp(get_str(o, "state"), "stopped") == 0) {
			json_object_put(o);
			continue;
		}
		json_object_array_add(arr, o);
	}
	free(gs.g);
	if (json) {
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
		return 0;
	}
	n = json_object_array_length(arr);
	rows = calloc(n + 1, sizeof(*rows));
	for (size_t c = 0; c < COLS; c++)
		w[c] = strlen(head[c]);
	for (size_t r = 0; rows && r < n; r++) {
		o = json_object_array_get_idx(arr, r);
		if ((rows[r] = calloc(COLS, sizeof(char *))) == NULL)
			break;
		rows[r][0] = strdup(get_str(o, "name"));
		rows[r][1] = strdup(get_str(o, "datastore"));
		rows[r][2] = strdup(get_str(o, "loader"));
		rows[r][3] = strdup((s = get_str(o, "cpu")) && *s ? s : "-");
		rows[r][4] = strdup((s = get_str(o, "memory")) && *s ? s : "-");
		rows[r][5] = strdup((s = get_str(o, "vnc")) && *s ? s : "-");
		if (json_object_object_get_ex(o, "autostart-position", &o) && o)
			snprintf(buf, sizeof(buf), "Yes [%d]", json_object_get_int(o));
		else
			snprintf(buf, sizeof(buf), "No");
		rows[r][6] = strdup(buf);
		state_text(json_object_array_get_idx(arr, r), buf, sizeof(buf));
		rows[r][7] = strdup(buf);
		for (size_t c = 0; c < COLS; c++) {
			if (rows[r][c] == NULL) {
				rc = vm_err("out of memory");
				break;
			}
			if (strlen(rows[r][c]) > w[c])
				w[c] = strlen(rows[r][c]);
		}
	}
	if (rows == NULL || rc != 0) {
		json_object_put(arr);
		return rows == NULL ? vm_err("out of memory") : rc;
	}
	print_row(head, w);
	for (size_t r = 0; r < n; r++) {
		print_row((const char *const *)rows[r], w);
		for (size_t c = 0; c < COLS; c++)
			free(rows[r][c]);
		free(rows[r]);
	}
	free(rows);
	json_object_put(arr);
	return 0;
}

static void info_field(json_object *o, const char *indent, const char *key, const char *title,
    const char *def)
{
	const char *v = get_str(o, key);

	printf("%s%s: %s\n", indent, title ? title : key, v && *v ? v : def);
}

static void info_bytes(json_object *o, const char *indent, const char *key)
{
	json_object *v;
	char hb[32];
	uint64_t b;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return;
	b = (uint64_t)json_object_get_int64(v);
	human(b, hb, sizeof(hb));
	printf("%s%s: %" PRIu64 " (%s)\n", indent, key, b, hb);
}

/* vm-bhyve's vm info layout for one guest. */
static void info_text(json_object *g)
{
	json_object *arr, *o;
	char st[300];
	const char *s;

	printf("------------------------\nVirtual Machine: %s\n------------------------\n",
	    get_str(g, "name"));
	state_text(g, st, sizeof(st));
	for (char *p = st; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	printf("  state: %s\n", st);
	info_field(g, "  ", "datastore", NULL, "-");
	info_field(g, "  ", "loader", NULL, "none");
	info_field(g, "  ", "uuid", NULL, "auto");
	info_field(g, "  ", "cpu", NULL, "-");
	if ((s = get_str(g, "cpu-sockets")) != NULL) {
		printf("  cpu-topology: sockets=%s", s);
		if ((s = get_str(g, "cpu-cores")) != NULL)
			printf(", cores=%s", s);
		if ((s = get_str(g, "cpu-threads")) != NULL)
			printf(", threads=%s", s);
		printf("\n");
	}
	info_field(g, "  ", "memory", NULL, "-");
	info_bytes(g, "  ", "memory-resident");
	if (json_object_object_get_ex(g, "console-ports", &o) && o) {
		printf("\n  console-ports\n");
		struct json_object_iterator it = json_object_iter_begin(o);
		struct json_object_iterator end = json_object_iter_end(o);

		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
			printf("    %s: %s\n", json_object_iter_peek_name(&it),
			    json_object_get_string(json_object_iter_peek_value(&it)));
	}
	json_object_object_get_ex(g, "network-interfaces", &arr);
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		printf("\n  network-interface\n    number: %zu\n", i);
		info_field(o, "    ", "emulation", NULL, "-");
		info_field(o, "    ", "virtual-switch", NULL, "-");
		info_field(o, "    ", "fixed-mac-address", NULL, "-");
		info_field(o, "    ", "fixed-device", NULL, "-");
		if (strcmp(get_str(g, "state"), "running") == 0 ||
		    strcmp(get_str(g, "state"), "bootloader") == 0) {
			info_field(o, "    ", "active-device", NULL, "-");
			info_field(o, "    ", "desc", NULL, "-");
			info_field(o, "    ", "mtu", NULL, "");
			info_field(o, "    ", "bridge", NULL, "-");
			info_bytes(o, "    ", "bytes-in");
			info_bytes(o, "    ", "bytes-out");
		}
	}
	json_object_object_get_ex(g, "virtual-disks", &arr);
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		printf("\n  virtual-disk\n    number: %zu\n", i);
		info_field(o, "    ", "device-type", NULL, "file");
		info_field(o, "    ", "emulation", NULL, "-");
		info_field(o, "    ", "options", NULL, "-");
		info_field(o, "    ", "system-path", NULL, "-");
		info_bytes(o, "    ", "bytes-size");
		info_bytes(o, "    ", "bytes-used");
	}
	printf("\n");
}

int cmd_info(struct vmhost *h, int argc, char **argv)
{
	struct guests gs = { 0 };
	json_object *arr;
	bool json = false;
	int rc = 0, first = 1;

	if (argc > 1 && strcmp(argv[1], "--json") == 0) {
		json = true;
		first = 2;
	}
	if (host_need_dir(h) != 0)
		return 1;
	if (first == argc) {
		if (guests_all(h, &gs) != 0)
			return 1;
	} else {
		if ((gs.g = calloc((size_t)(argc - first), sizeof(*gs.g))) == NULL)
			return vm_err("out of memory");
		for (int i = first; i < argc; i++) {
			struct guest *g = &gs.g[gs.n];

			if (guest_find(h, argv[i], g->dir, sizeof(g->dir), g->ds, sizeof(g->ds)) != 0) {
				rc = vm_err("%s doesn't appear to be a valid virtual machine", argv[i]);
				continue;
			}
			snprintf(g->name, sizeof(g->name), "%s", argv[i]);
			gs.n++;
		}
	}
	arr = json_object_new_array();
	for (size_t i = 0; i < gs.n; i++)
		json_object_array_add(arr, guest_json(h, &gs.g[i], true));
	free(gs.g);
	if (json)
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
	else
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			info_text(json_object_array_get_idx(arr, i));
	json_object_put(arr);
	return rc;
}
