/* The bhyve command line a guest's configuration makes, as vm-bhyve's vm::run
 * builds it: slots hostbridge 0, install ISO 3, disks from 4, networks from 15,
 * virtio-rnd 26, fbuf 30 (and xhci_mouse's tablet at 30:1), lpc 31 (each
 * overridable by vm-bhyve's *_slot keys). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vm.h"

#define OVMF_CODE	"/usr/share/OVMF/OVMF_CODE.fd"
#define OVMF_VARS	"/usr/share/OVMF/OVMF_VARS.fd"
#define SEABIOS		"/usr/share/seabios/bios.bin"

int strv_add(struct strv *s, const char *fmt, ...)
{
	va_list ap;
	char *str;
	int r;

	if (s->n + 2 > s->cap) {
		int cap = s->cap ? s->cap * 2 : 16;
		char **v = realloc(s->v, (size_t)cap * sizeof(*v));

		if (v == NULL)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	va_start(ap, fmt);
	r = vasprintf(&str, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
	return 0;
}

void strv_free(struct strv *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void strv_join(const struct strv *s, int from, char *buf, size_t n)
{
	size_t len = 0;

	if (n == 0)
		return;
	buf[0] = '\0';
	for (int i = from; i < s->n && len < n; i++)
		len += (size_t)snprintf(buf + len, n - len, "%s%s", i > from ? " " : "", s->v[i]);
}

void run_plan_free(struct runplan *p)
{
	strv_free(&p->opts);
	strv_free(&p->devs);
	strv_free(&p->coms);
	strv_free(&p->loader);
	strv_free(&p->loader_after);
	conf_free(p->conf);
	p->conf = NULL;
}

static int getint(const struct vmconf *c, const char *key, int def)
{
	const char *v = conf_get(c, key);
	char *end;
	long l;

	if (v == NULL || *v == '\0')
		return def;
	l = strtol(v, &end, 10);
	if (*end != '\0' || l < 0 || l > 255)
		return -1;
	return (int)l;
}

/* A key of the form PREFIXn (n a number): true and n in *idx. */
static bool indexed(const char *key, const char *prefix, int *idx)
{
	size_t n = strlen(prefix);

	if (strncmp(key, prefix, n) != 0 || !isdigit((unsigned char)key[n]))
		return false;
	*idx = atoi(key + n);
	return true;
}

/* Keys of vm-bhyve's that this vm cannot honour: one line naming the key. */
static int refuse_unsupported(const struct runplan *p)
{
	const char *k, *v;
	int i;

	for (size_t n = 0; (k = conf_key(p->conf, n)) != NULL; n++) {
		v = conf_get(p->conf, k);
		if (indexed(k, "passthru", &i))
			return vm_err("%s: %s: PCI passthrough is not supported (no VFIO support yet)",
			    p->name, k);
		if (indexed(k, "virt_console", &i))
			return vm_err("%s: %s: virtio-console ports are not supported by vm yet", p->name, k);
		if (strcmp(k, "sound") == 0 && conf_get_bool(p->conf, k))
			return vm_err("%s: sound=yes: bhyve here has no hda device", p->name);
		if (strcmp(k, "prestart") == 0)
			return vm_err("%s: prestart scripts are not supported by vm yet", p->name);
		if (strncmp(k, "limit_", 6) == 0)
			return vm_err("%s: %s: resource limits (rctl) are not supported on Linux", p->name, k);
		if (strcmp(k, "uefi") == 0)
			return vm_err("%s: uefi=\"%s\" is vm-bhyve's old key: use loader=\"uefi\" or "
			    "loader=\"uefi-csm\"", p->name, v);
		if (strcmp(k, "ahci_device_limit") == 0 && getint(p->conf, k, 1) != 1)
			return vm_err("%s: ahci_device_limit: several disks per AHCI controller are "
			    "not supported by vm yet", p->name);
		if ((indexed(k, "network", &i) && strstr(k, "_span") && conf_get_bool(p->conf, k)))
			return vm_err("%s: %s: span ports are not supported", p->name, k);
	}
	return 0;
}

/* A fresh random UUID (the kernel's), saved into the guest's configuration. */
static int ensure_uuid(struct runplan *p, char *uuid, size_t n)
{
	const char *u = conf_get(p->conf, "uuid");
	char path[4200];
	FILE *f;

	if (u != NULL && *u) {
		snprintf(uuid, n, "%s", u);
		return 0;
	}
	f = fopen("/proc/sys/kernel/random/uuid", "r");
	if (f == NULL || fgets(uuid, (int)n, f) == NULL) {
		if (f)
			fclose(f);
		return vm_err("%s: cannot make a UUID: %s", p->name, strerror(errno));
	}
	fclose(f);
	uuid[strcspn(uuid, "\n")] = '\0';
	if (p->dry_run)
		return 0;
	snprintf(path, sizeof(path), "%s/%s.conf", p->dir, p->name);
	if (conf_set(p->conf, "uuid", uuid) != 0 || conf_save(p->conf, path) != 0)
		return vm_err("%s: cannot save uuid in %s: %s", p->name, path, strerror(errno));
	return 0;
}

/* vm-bhyve's static MAC: bhyve's OUI 58:9c:fc and 20 bits from the guest's
 * name, the interface and the time, saved so it never changes. */
static int ensure_mac(struct runplan *p, int idx, char *mac, size_t n)
{
	char key[32], path[4200];
	const char *m;
	uint32_t hsh = 2166136261u;
	char seed[128];

	snprintf(key, sizeof(key), "network%d_mac", idx);
	if ((m = conf_get(p->conf, key)) != NULL && *m) {
		snprintf(mac, n, "%s", m);
		return 0;
	}
	snprintf(seed, sizeof(seed), "%s:%d:%ld:%ld", p->name, idx, (long)time(NULL), (long)getpid());
	for (const char *c = seed; *c; c++)
		hsh = (hsh ^ (unsigned char)*c) * 16777619u;
	hsh &= 0xfffff;
	if (hsh == 0)
		hsh = 1;
	snprintf(mac, n, "58:9c:fc:%02x:%02x:%02x", hsh >> 16, (hsh >> 8) & 0xff, hsh & 0xff);
	if (p->dry_run)
		return 0;
	snprintf(path, sizeof(path), "%s/%s.conf", p->dir, p->name);
	if (conf_set(p->conf, key, mac) != 0 || conf_save(p->conf, path) != 0)
		return vm_err("%s: cannot save %s in %s: %s", p->name, key, path, strerror(errno));
	return 0;
}

static int copy_file(const char *src, const char *dst)
{
	char buf[65536];
	int in, out;
	ssize_t r;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		close(in);
		return -1;
	}
	while ((r = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)r) != r) {
			r = -1;
			break;
		}
	close(in);
	if (close(out) != 0 || r < 0) {
		unlink(dst);
		return -1;
	}
	return 0;
}

/* The datastore directory holding the guest: its directory's parent. */
static void ds_dir(const struct runplan *p, char *buf, size_t n)
{
	char *slash;

	snprintf(buf, n, "%s", p->dir);
	if ((slash = strrchr(buf, '/')) != NULL && slash != buf)
		*slash = '\0';
}

static int plan_loader(struct runplan *p, const char *loader, char *rom, size_t romn)
{
	char ds[4096], vars[4200], tmpl[4200];
	bool want_vars = conf_get_bool(p->conf, "uefi_vars");

	*rom = '\0';
	if (strcmp(loader, "bhyveload") == 0)
		return vm_err("%s: loader=\"bhyveload\" cannot boot guests here yet (bhyveload(8) "
		    "refuses); use loader=\"uefi\" (OVMF) instead", p->name);
	if (strcmp(loader, "grub") == 0)
		return 0;
	if (strcmp(loader, "uefi") == 0) {
		snprintf(rom, romn, "%s", OVMF_CODE);
		snprintf(tmpl, sizeof(tmpl), "%s", OVMF_VARS);
	} else if (strcmp(loader, "uefi-csm") == 0) {
		/* FreeBSD's CSM firmware boots BIOS guests; SeaBIOS stands in for it. */
		snprintf(rom, romn, "%s", SEABIOS);
		want_vars = false;
	} else if (strcmp(loader, "uefi-custom") == 0) {
		ds_dir(p, ds, sizeof(ds));
		snprintf(rom, romn, "%s/.config/BHYVE_UEFI.fd", ds);
		snprintf(tmpl, sizeof(tmpl), "%s/.config/BHYVE_UEFI_VARS.fd", ds);
		if (access(tmpl, R_OK) != 0)
			snprintf(tmpl, sizeof(tmpl), "%s", OVMF_VARS);
	} else {
		return vm_err("%s: loader=\"%s\" is not one of grub, uefi, uefi-csm, uefi-custom",
		    p->name, loader);
	}
	p->uefi = true;
	if (access(rom, R_OK) != 0)
		return vm_err("%s: unable to locate firmware %s", p->name, rom);
	if (want_vars) {
		snprintf(vars, sizeof(vars), "%s/uefi-vars.fd", p->dir);
		if (!p->dry_run && access(vars, F_OK) != 0 && copy_file(tmpl, vars) != 0)
			return vm_err("%s: cannot copy the UEFI variables template %s to %s: %s",
			    p->name, tmpl, vars, strerror(errno));
		if (strlen(rom) + strlen(vars) + 2 < romn)
			strcat(strcat(rom, ","), vars);
	}
	return 0;
}

/* The slot and function of the next disk or network device: KEY (its
 * diskN_slot or networkN_slot) puts it at function 0 of that slot; else it
 * takes the next function, moving to the next slot after function 7. -1 after
 * one line when the slot is not 0-31. */
static int next_slot(const struct runplan *p, const char *key, const char *what, int *slot,
    int *func)
{
	if (conf_get(p->conf, key) != NULL) {
		*slot = getint(p->conf, key, 0);
		*func = 0;
	} else if (*func >= 8) {
		*func = 0;
		(*slot)++;
	}
	if (*slot < 0 || *slot > 31) {
		vm_err("%s: a %s slot is not 0-31", p->name, what);
		return -1;
	}
	return 0;
}

static int plan_disks(struct runplan *p)
{
	int slot = getint(p->conf, "disk_slot_start", 4), func = 0;
	char key[48], path[4200];
	const char *name, *type, *dev, *opts;

	for (int i = 0;; i++) {
		snprintf(key, sizeof(key), "disk%d_name", i);
		name = conf_get(p->conf, key);
		snprintf(key, sizeof(key), "disk%d_type", i);
		type = conf_get(p->conf, key);
		if (name == NULL || *name == '\0' || type == NULL || *type == '\0')
			break;
		if (strcmp(type, "virtio-blk") != 0 && strcmp(type, "ahci-hd") != 0 &&
		    strcmp(type, "ahci-cd") != 0 && strcmp(type, "nvme") != 0)
			return vm_err("%s: disk%d_type=\"%s\" is not one of virtio-blk, ahci-hd, ahci-cd, nvme",
			    p->name, i, type);
		snprintf(key, sizeof(key), "disk%d_dev", i);
		dev = conf_get(p->conf, key);
		if (dev != NULL && *dev && strcmp(dev, "file") != 0 && strcmp(dev, "custom") != 0 &&
		    !zfs_disk_dev(dev))
			return vm_err("%s: disk%d_dev=\"%s\": one of file, zvol, sparse-zvol, custom "
			    "(iSCSI is not supported)", p->name, i, dev);
		snprintf(key, sizeof(key), "disk%d_opts", i);
		opts = conf_get(p->conf, key);
		snprintf(key, sizeof(key), "disk%d_slot", i);
		if (next_slot(p, key, "disk", &slot, &func) != 0)
			return -1;
		if (guest_disk_path(p->dir, name, dev, path, sizeof(path)) != 0)
			return -1;
		if (strv_add(&p->devs, "-s") || strv_add(&p->devs, "%d:%d,%s,%s%s%s", slot, func,
		    type, path, opts && *opts ? "," : "", opts && *opts ? opts : ""))
			return vm_err("out of memory");
		/* Each disk on a slot of its own for UEFI (as vm-bhyve does). */
		if (p->uefi)
			slot++;
		else
			func++;
	}
	return 0;
}

static int plan_networks(const struct vmhost *h, struct runplan *p)
{
	int slot = getint(p->conf, "network_slot_start", 15), func = 0;
	char key[48], mac[32];
	const char *type, *sw, *device;

	for (int i = 0;; i++) {
		snprintf(key, sizeof(key), "network%d_type", i);
		if ((type = conf_get(p->conf, key)) == NULL || *type == '\0')
			break;
		if (strcmp(type, "virtio-net") != 0)
			return vm_err("%s: network%d_type=\"%s\": only virtio-net is supported", p->name, i, type);
		if (p->ntaps >= RUN_MAX_NICS)
			return vm_err("%s: more than %d network interfaces", p->name, RUN_MAX_NICS);
		snprintf(key, sizeof(key), "network%d_slot", i);
		if (next_slot(p, key, "network", &slot, &func) != 0)
			return -1;
		if (ensure_mac(p, i, mac, sizeof(mac)) != 0)
			return -1;
		snprintf(key, sizeof(key), "network%d_switch", i);
		sw = conf_get(p->conf, key);
		snprintf(key, sizeof(key), "network%d_device", i);
		device = conf_get(p->conf, key);
		if (device != NULL && *device) {
			/* The user's own device: used, never made or destroyed. */
			snprintf(p->taps[p->ntaps], sizeof(p->taps[0]), "%s", device);
		} else if (p->dry_run) {
			snprintf(p->taps[p->ntaps], sizeof(p->taps[0]), "tap%d", i);
		} else {
			if (net_tap_create(h, p->name, i, sw, p->taps[p->ntaps], sizeof(p->taps[0])) != 0)
				return -1;
			p->tap_made[p->ntaps] = true;
		}
		p->ntaps++;
		if (strv_add(&p->devs, "-s") || strv_add(&p->devs, "%d:%d,virtio-net,%s,mac=%s", slot,
		    func++, p->taps[p->ntaps - 1], mac))
			return vm_err("out of memory");
	}
	return 0;
}

/* The first TCP port from 5900 on that nothing listens on. */
static int free_vnc_port(void)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	for (int port = 5900; port < 6100; port++) {
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return port;
		}
		close(fd);
	}
	return -1;
}

static int plan_graphics(struct runplan *p)
{
	const char *port = conf_get(p->conf, "graphics_port"), *listen, *res, *vga, *pass, *wait;
	int slot = getint(p->conf, "fbuf_slot", 30), w = 0, h = 0, nport;
	char conf[512];
	size_t len;

	if (!conf_get_bool(p->conf, "graphics"))
		return 0;
	if (!p->uefi)
		return vm_err("%s: graphics=yes needs a UEFI loader (loader=\"uefi\"), as in vm-bhyve",
		    p->name);
	listen = conf_get_def(p->conf, "graphics_listen", "0.0.0.0");
	res = conf_get(p->conf, "graphics_res");
	vga = conf_get(p->conf, "graphics_vga");
	pass = conf_get(p->conf, "vnc_password");
	wait = conf_get_def(p->conf, "graphics_wait", "auto");
	if (port != NULL && *port)
		nport = atoi(port);
	else if ((nport = free_vnc_port()) < 0)
		return vm_err("%s: no free TCP port from 5900 for VNC (set graphics_port)", p->name);
	if (nport <= 0 || nport > 65535)
		return vm_err("%s: graphics_port=\"%s\" is not a TCP port", p->name, port);
	len = (size_t)snprintf(conf, sizeof(conf), "tcp=%s:%d", listen, nport);
	if (res != NULL && *res) {
		if (sscanf(res, "%dx%d", &w, &h) != 2)
			return vm_err("%s: graphics_res=\"%s\" is not WIDTHxHEIGHT", p->name, res);
		len += (size_t)snprintf(conf + len, sizeof(conf) - len, ",w=%d,h=%d", w, h);
	}
	if (vga != NULL && *vga) {
		if (strcmp(vga, "io") != 0 && strcmp(vga, "on") != 0 && strcmp(vga, "off") != 0)
			return vm_err("%s: graphics_vga=\"%s\": use io, on or off", p->name, vga);
		len += (size_t)snprintf(conf + len, sizeof(conf) - len, ",vga=%s", vga);
	}
	if (pass != NULL && *pass)
		len += (size_t)snprintf(conf + len, sizeof(conf) - len, ",password=%s", pass);
	/* auto: wait for a VNC client during an install's first run only. */
	p->fbuf_auto_wait = strcmp(wait, "auto") == 0 && *p->iso;
	if (strcmp(wait, "auto") != 0 && conf_get_bool(p->conf, "graphics_wait"))
		snprintf(conf + len, sizeof(conf) - len, ",wait");
	snprintf(p->vnc, sizeof(p->vnc), "%s:%d", listen, nport);
	p->fbuf_idx = p->devs.n + 1;
	if (strv_add(&p->devs, "-s") || strv_add(&p->devs, "%d:0,fbuf,%s", slot, conf))
		return vm_err("out of memory");
	/* xhci_mouse: a USB tablet as function 1 of the fbuf's slot, as vm-bhyve
	 * adds it (only with graphics, where a VNC client can use it). */
	if (conf_get_bool(p->conf, "xhci_mouse") &&
	    (strv_add(&p->devs, "-s") || strv_add(&p->devs, "%d:1,xhci,tablet", slot)))
		return vm_err("out of memory");
	return 0;
}

static int plan_coms(struct runplan *p)
{
	char list[256], *save = NULL, *w;
	int n = 0;

	snprintf(list, sizeof(list), "%s", conf_get_def(p->conf, "comports", "com1"));
	for (w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (strlen(w) != 4 || strncmp(w, "com", 3) != 0 || w[3] < '1' || w[3] > '4')
			return vm_err("%s: comports=\"%s\": each port is com1 ... com4", p->name,
			    conf_get(p->conf, "comports"));
		if (n >= RUN_MAX_COMS)
			return vm_err("%s: more than %d com ports", p->name, RUN_MAX_COMS);
		snprintf(p->comname[n], sizeof(p->comname[0]), "%s", w);
		if (n == 0 && p->foreground) {
			snprintf(p->compath[n], sizeof(p->compath[0]), "stdio");
			if (strv_add(&p->coms, "-l") || strv_add(&p->coms, "%s,stdio", w))
				return vm_err("out of memory");
		} else {
			snprintf(p->compath[n], sizeof(p->compath[0]), "/dev/nmdm-%s.%dB", p->name, n + 1);
			if (strv_add(&p->coms, "-l") ||
			    strv_add(&p->coms, "%s,/dev/nmdm-%s.%dA", w, p->name, n + 1))
				return vm_err("out of memory");
		}
		n++;
	}
	p->ncoms = n;
	return 0;
}

/* grub-bhyve's argv (vm-bhyve's guest::load for grub): a device.map with
 * disk0 as hd0 and the ISO as cd0; grub_installN / grub_runN lines become a
 * grub.cfg in the guest's directory read from the host device. */
static int plan_grub(struct runplan *p, const char *memory, bool install, struct strv *out)
{
	char map[4200], cfg[4200], key[48], path[4200];
	const char *disk = conf_get(p->conf, "disk0_name"), *dev = conf_get(p->conf, "disk0_dev");
	const char *prefix = install ? "grub_install" : "grub_run", *v, *part, *rdir, *rfile;
	bool own_cfg = false;
	FILE *f = NULL;

	snprintf(map, sizeof(map), "%s/device.map", p->dir);
	snprintf(cfg, sizeof(cfg), "%s/%s", p->dir, install ? "grub-install.cfg" : "grub.cfg");
	if (!p->dry_run) {
		if ((f = fopen(map, "w")) == NULL)
			return vm_err("%s: cannot write %s: %s", p->name, map, strerror(errno));
		if (disk != NULL && *disk) {
			if (guest_disk_path(p->dir, disk, dev, path, sizeof(path)) != 0) {
				fclose(f);
				return -1;
			}
			fprintf(f, "(hd0) %s\n", path);
		}
		if (install)
			fprintf(f, "(cd0) %s\n", p->iso);
		if (fclose(f) != 0)
			return vm_err("%s: cannot write %s: %s", p->name, map, strerror(errno));
		f = NULL;
	}
	for (int i = 0;; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		if ((v = conf_get(p->conf, key)) == NULL)
			break;
		own_cfg = true;
		if (p->dry_run)
			continue;
		/* vm-bhyve feeds these lines to grub as commands, "boot" last;
		 * grub-bhyve boots menu entries, so they become the default one. */
		if (f == NULL) {
			if ((f = fopen(cfg, "w")) == NULL)
				return vm_err("%s: cannot write %s: %s", p->name, cfg, strerror(errno));
			fprintf(f, "set timeout=0\nmenuentry '%s' {\n", prefix);
		}
		if (strcmp(v, "boot") != 0)
			fprintf(f, "\t%s\n", v);
	}
	if (f != NULL)
		fprintf(f, "}\n");
	if (f != NULL && fclose(f) != 0)
		return vm_err("%s: cannot write %s: %s", p->name, cfg, strerror(errno));
	if (strv_add(out, "%s", vm_tool("grub-bhyve")) || strv_add(out, "-m") ||
	    strv_add(out, "%s", map))
		return vm_err("out of memory");
	part = conf_get(p->conf, "grub_run_partition");
	rdir = conf_get(p->conf, "grub_run_dir");
	rfile = conf_get(p->conf, "grub_run_file");
	if (own_cfg) {
		if (strv_add(out, "-r") || strv_add(out, "host") ||
		    strv_add(out, "-d") || strv_add(out, "%s", p->dir) || strv_add(out, "-g") ||
		    strv_add(out, "%s", install ? "grub-install.cfg" : "grub.cfg"))
			return vm_err("out of memory");
	} else if (install) {
		if (strv_add(out, "-r") || strv_add(out, "cd0"))
			return vm_err("out of memory");
	} else {
		if (strv_add(out, "-r") ||
		    strv_add(out, "hd0,%s", part && *part ? part : "msdos1"))
			return vm_err("out of memory");
		if (rdir && *rdir && (strv_add(out, "-d") || strv_add(out, "%s", rdir)))
			return vm_err("out of memory");
		if (rfile && *rfile && (strv_add(out, "-g") || strv_add(out, "%s", rfile)))
			return vm_err("out of memory");
	}
	if (strv_add(out, "-M") || strv_add(out, "%s", memory) ||
	    strv_add(out, "%s", p->name))
		return vm_err("out of memory");
	return 0;
}

int run_plan(const struct vmhost *h, const char *name, const char *dir,
    const char *iso, bool foreground, bool dry_run, struct runplan *p)
{
	char path[4200], rom[8500], uuid[64], cpu[128], words[1024], *save = NULL, *w;
	const char *loader, *memory, *hb, *c;
	int slot;

	(void)h;
	memset(p, 0, sizeof(*p));
	p->fbuf_idx = -1;
	p->foreground = foreground;
	p->dry_run = dry_run;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	snprintf(p->iso, sizeof(p->iso), "%s", iso ? iso : "");
	snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	if ((p->conf = conf_load(path)) == NULL)
		return errno == EINVAL ? -1 : vm_err("cannot read %s: %s", path, strerror(errno));
	if (refuse_unsupported(p) != 0)
		return -1;
	loader = conf_get(p->conf, "loader");
	memory = conf_get(p->conf, "memory");
	c = conf_get(p->conf, "cpu");
	if (loader == NULL || *loader == '\0' || memory == NULL || *memory == '\0' || c == NULL || *c == '\0')
		return vm_err("%s: unable to start - missing required configuration (loader, cpu and "
		    "memory must be set in %s)", name, path);
	p->debug = conf_get_bool(p->conf, "debug");
	p->nice = atoi(conf_get_def(p->conf, "nice", "0"));
	if (plan_loader(p, loader, rom, sizeof(rom)) != 0 || ensure_uuid(p, uuid, sizeof(uuid)) != 0)
		return -1;

	/* -c cpu[,sockets=..,cores=..,threads=..] -m memory -A -H -P [-w] ... */
	snprintf(cpu, sizeof(cpu), "%s", c);
	if ((c = conf_get(p->conf, "cpu_sockets")) && *c)
		snprintf(cpu + strlen(cpu), sizeof(cpu) - strlen(cpu), ",sockets=%s", c);
	if ((c = conf_get(p->conf, "cpu_cores")) && *c)
		snprintf(cpu + strlen(cpu), sizeof(cpu) - strlen(cpu), ",cores=%s", c);
	if ((c = conf_get(p->conf, "cpu_threads")) && *c)
		snprintf(cpu + strlen(cpu), sizeof(cpu) - strlen(cpu), ",threads=%s", c);
	if (strv_add(&p->opts, "-c") || strv_add(&p->opts, "%s", cpu) || strv_add(&p->opts, "-m") ||
	    strv_add(&p->opts, "%s", memory) || strv_add(&p->opts, "-A") || strv_add(&p->opts, "-H") ||
	    strv_add(&p->opts, "-P"))
		return vm_err("out of memory");
	/* vm-bhyve passes -w with UEFI; here only with ignore_msr=yes, as bhyve-emu
	 * (no KVM) refuses it. */
	if (conf_get_bool(p->conf, "ignore_msr") && strv_add(&p->opts, "-w"))
		return vm_err("out of memory");
	if (*rom && (strv_add(&p->opts, "-l") || strv_add(&p->opts, "bootrom,%s", rom)))
		return vm_err("out of memory");
	snprintf(words, sizeof(words), "%s", conf_get_def(p->conf, "bhyve_options", ""));
	for (w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		if (strv_add(&p->opts, "%s", w))
			return vm_err("out of memory");
	if (conf_get_bool(p->conf, "wired_memory") && strv_add(&p->opts, "-S"))
		return vm_err("out of memory");
	if (strv_add(&p->opts, "-U") || strv_add(&p->opts, "%s", uuid))
		return vm_err("out of memory");
	/* utctime defaults to yes in vm-bhyve. */
	if ((conf_get(p->conf, "utctime") == NULL || conf_get_bool(p->conf, "utctime")) &&
	    strv_add(&p->opts, "-u"))
		return vm_err("out of memory");

	if (plan_coms(p) != 0)
		return -1;
	hb = conf_get_def(p->conf, "hostbridge", "standard");
	slot = getint(p->conf, "hostbridge_slot", 0);
	/* Debian's OVMF (loader uefi) finds its power management registers and
	 * places ECAM only behind Q35's host bridge IDs (bhyve(8), OVMF). */
	if (strncmp(hb, "no", 2) != 0 && (strv_add(&p->devs, "-s") ||
	    strv_add(&p->devs, "%d,%s", slot, strcmp(hb, "amd") == 0 ? "amd_hostbridge" :
	    strcmp(loader, "uefi") == 0 ? "hostbridge,vendor=0x8086,devid=0x29c0" : "hostbridge")))
		return vm_err("out of memory");
	if (strv_add(&p->devs, "-s") || strv_add(&p->devs, "%d,lpc", getint(p->conf, "lpc_slot", 31)))
		return vm_err("out of memory");
	if (plan_disks(p) != 0 || plan_networks(h, p) != 0)
		return -1;
	if (conf_get_bool(p->conf, "virt_random") && (strv_add(&p->devs, "-s") ||
	    strv_add(&p->devs, "%d:0,virtio-rnd", getint(p->conf, "virt_random_slot", 26))))
		return vm_err("out of memory");
	if (plan_graphics(p) != 0)
		return -1;
	/* A device.map with the ISO for the install's first run, without after. */
	if (strcmp(loader, "grub") == 0 && (plan_grub(p, memory, false, &p->loader_after) != 0 ||
	    (*p->iso && plan_grub(p, memory, true, &p->loader) != 0)))
		return -1;
	return 0;
}

int run_argv(const struct runplan *p, int run, struct strv *argv)
{
	size_t n;

	memset(argv, 0, sizeof(*argv));
	if (strv_add(argv, "%s", vm_tool("bhyve")))
		return -1;
	for (int i = 0; i < p->opts.n; i++)
		if (strv_add(argv, "%s", p->opts.v[i]))
			return -1;
	for (int i = 0; i < p->devs.n; i++) {
		if (strv_add(argv, "%s", p->devs.v[i]))
			return -1;
		if (i == p->fbuf_idx && p->fbuf_auto_wait && run == 1 &&
		    (n = strlen(argv->v[argv->n - 1]), true)) {
			char *s = realloc(argv->v[argv->n - 1], n + 6);

			if (s == NULL)
				return -1;
			memcpy(s + n, ",wait", 6);
			argv->v[argv->n - 1] = s;
		}
	}
	/* The install ISO is attached on the first run only (vm-bhyve's install). */
	if (*p->iso && run == 1) {
		n = strlen(p->iso);
		if (strv_add(argv, "-s") || strv_add(argv, "%d:0,%s,%s,ro",
		    getint(p->conf, "install_slot", 3),
		    n > 4 && strcasecmp(p->iso + n - 4, ".iso") == 0 ? "ahci-cd" : "ahci-hd", p->iso))
			return -1;
	}
	for (int i = 0; i < p->coms.n; i++)
		if (strv_add(argv, "%s", p->coms.v[i]))
			return -1;
	return strv_add(argv, "%s", p->name);
}
