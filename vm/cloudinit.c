/* cloud-init NoCloud seed ISOs for `vm create -C` (cloudinit_seed, vm.h):
 * an ISO 9660 image (Rock Ridge and Joliet) with volume label "cidata"
 * holding meta-data, user-data and network-config, written with
 * libarchive's iso9660 writer. Needs only vm_err from the rest of vm(8). */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "vm.h"

struct netspec {
	char ip[80];		/* a.b.c.d/len, "" for DHCP */
	char gateway[64];
	char dns[8][64];
	int ndns;
	char hostname[64];
};

static bool hostname_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

static bool addr_valid(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* "ip=a.b.c.d/len;gateway=..;nameservers=x,y;hostname=.." (any order, any
 * subset; no ip: DHCP). -1 after one line. */
static int net_parse(const char *spec, struct netspec *ns)
{
	char buf[1024], *save = NULL, *item, *eq, *v, *d;
	unsigned char b[4];

	memset(ns, 0, sizeof(*ns));
	if (spec == NULL || *spec == '\0' || strcmp(spec, "dhcp") == 0)
		return 0;
	if (strlen(spec) >= sizeof(buf))
		return vm_err("network settings too long: %.40s...", spec);
	strcpy(buf, spec);
	for (item = strtok_r(buf, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		while (isspace((unsigned char)*item))
			item++;
		if (*item == '\0')
			continue;
		if ((eq = strchr(item, '=')) == NULL)
			return vm_err("network settings: '%s' is not key=value (ip=, gateway=, nameservers=, hostname=)", item);
		*eq = '\0';
		v = eq + 1;
		if (strcmp(item, "ip") == 0) {
			char addr[64], *slash = strchr(v, '/');
			char *endp;
			long len;

			if (slash == NULL || (size_t)(slash - v) >= sizeof(addr))
				return vm_err("network settings: ip=%s needs an IPv4 address with a prefix length (ip=192.168.1.10/24)", v);
			memcpy(addr, v, (size_t)(slash - v));
			addr[slash - v] = '\0';
			len = strtol(slash + 1, &endp, 10);
			if (inet_pton(AF_INET, addr, b) != 1 || *endp || endp == slash + 1 || len < 1 || len > 32)
				return vm_err("network settings: ip=%s is not an IPv4 address with a prefix length (ip=192.168.1.10/24)", v);
			snprintf(ns->ip, sizeof(ns->ip), "%s/%ld", addr, len);
		} else if (strcmp(item, "gateway") == 0) {
			if (inet_pton(AF_INET, v, b) != 1)
				return vm_err("network settings: gateway=%s is not an IPv4 address", v);
			snprintf(ns->gateway, sizeof(ns->gateway), "%s", v);
		} else if (strcmp(item, "nameservers") == 0 || strcmp(item, "nameserver") == 0) {
			char *sv = NULL;

			for (d = strtok_r(v, ", ", &sv); d; d = strtok_r(NULL, ", ", &sv)) {
				if (!addr_valid(d))
					return vm_err("network settings: nameserver %s is not an IP address", d);
				if (ns->ndns == 8)
					return vm_err("network settings: more than 8 nameservers");
				snprintf(ns->dns[ns->ndns++], sizeof(ns->dns[0]), "%s", d);
			}
		} else if (strcmp(item, "hostname") == 0) {
			if (!hostname_valid(v))
				return vm_err("network settings: hostname=%s is not a host name (letters, digits, - and .)", v);
			snprintf(ns->hostname, sizeof(ns->hostname), "%s", v);
		} else {
			return vm_err("network settings: unknown key '%s' (ip=, gateway=, nameservers=, hostname=)", item);
		}
	}
	if (*ns->ip == '\0' && (*ns->gateway || ns->ndns))
		return vm_err("network settings: gateway= and nameservers= need ip=a.b.c.d/len (without ip= the guest uses DHCP)");
	return 0;
}

/* A growing string. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(s->p ? s->p + s->len : NULL, s->p ? s->cap - s->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			s->oom = true;
			return;
		}
		if (s->p && s->len + (size_t)n < s->cap) {
			s->len += (size_t)n;
			return;
		}
		size_t cap = (s->cap + (size_t)n + 1) * 2;
		char *p = realloc(s->p, cap);
		if (p == NULL) {
			s->oom = true;
			return;
		}
		s->p = p;
		s->cap = cap;
	}
}

/* YAML single-quoted scalar. */
static void sb_quoted(struct sbuf *s, const char *v)
{
	sb_add(s, "'");
	for (; *v; v++)
		sb_add(s, *v == '\'' ? "''" : "%c", *v);
	sb_add(s, "'");
}

/* The keys in FILE (one per line; blank lines and # comments skipped) as
 * ssh_authorized_keys. -1 after one line. */
static int add_keys(struct sbuf *s, const char *file)
{
	char line[16384];
	FILE *f;
	int n = 0;

	if ((f = fopen(file, "r")) == NULL)
		return vm_err("cannot read public key %s: %s", file, strerror(errno));
	sb_add(s, "ssh_authorized_keys:\n");
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *e;

		if (strchr(line, '\n') == NULL && !feof(f)) {
			fclose(f);
			return vm_err("%s: a line longer than %zu characters is no public key", file, sizeof(line));
		}
		while (isspace((unsigned char)*p))
			p++;
		e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		if (strstr(p, "PRIVATE KEY")) {
			fclose(f);
			return vm_err("%s is a private key: give the public one (.pub)", file);
		}
		if (strncmp(p, "ssh-", 4) && strncmp(p, "ecdsa-", 6) && strncmp(p, "sk-", 3)) {
			fclose(f);
			return vm_err("%s: '%.20s...' is not an OpenSSH public key", file, p);
		}
		sb_add(s, "  - ");
		sb_quoted(s, p);
		sb_add(s, "\n");
		n++;
	}
	fclose(f);
	if (n == 0)
		return vm_err("%s holds no public key", file);
	return 0;
}

static int add_file(struct archive *a, const char *name, const struct sbuf *s)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	if (e == NULL)
		return -1;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)s->len);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    archive_write_data(a, s->p, s->len) != (la_ssize_t)s->len)
		rc = -1;
	archive_entry_free(e);
	return rc;
}

int cloudinit_seed(const char *iso, const char *name, const char *pubkey_file,
    const char *net)
{
	struct sbuf md = { 0 }, ud = { 0 }, nc = { 0 };
	struct netspec ns;
	struct archive *a = NULL;
	char part[4200];
	unsigned char rnd[4] = { 0 };
	const char *host;
	int rc = -1;

	if (net_parse(net, &ns) != 0)
		return -1;
	host = *ns.hostname ? ns.hostname : name;
	if (!hostname_valid(host))
		return vm_err("'%s' is not a valid host name for cloud-init (give hostname= in -n)", host);
	if ((size_t)snprintf(part, sizeof(part), "%s.part", iso) >= sizeof(part))
		return vm_err("%s: %s", iso, strerror(ENAMETOOLONG));

	/* meta-data: a fresh instance-id, so that a new seed is applied. */
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd[0] = (unsigned char)time(NULL);
	sb_add(&md, "instance-id: iid-%s-%02x%02x%02x%02x\nlocal-hostname: %s\n",
	    name, rnd[0], rnd[1], rnd[2], rnd[3], host);

	sb_add(&ud, "#cloud-config\nhostname: %s\n", host);
	if (pubkey_file && add_keys(&ud, pubkey_file) != 0)
		goto out;

	/* network-config, version 2: the first Ethernet device (en*, eth*). */
	sb_add(&nc, "version: 2\nethernets:\n  primary:\n    match:\n      name: \"e*\"\n");
	if (*ns.ip == '\0') {
		sb_add(&nc, "    dhcp4: true\n");
	} else {
		sb_add(&nc, "    dhcp4: false\n    addresses:\n      - %s\n", ns.ip);
		if (*ns.gateway)
			sb_add(&nc, "    routes:\n      - to: 0.0.0.0/0\n        via: %s\n", ns.gateway);
		if (ns.ndns) {
			sb_add(&nc, "    nameservers:\n      addresses:\n");
			for (int i = 0; i < ns.ndns; i++)
				sb_add(&nc, "        - %s\n", ns.dns[i]);
		}
	}
	if (md.oom || ud.oom || nc.oom) {
		vm_err("out of memory");
		goto out;
	}

	if ((a = archive_write_new()) == NULL) {
		vm_err("out of memory");
		goto out;
	}
	if (archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
	    archive_write_set_format_option(a, "iso9660", "volume-id", "cidata") != ARCHIVE_OK ||
	    archive_write_set_format_option(a, "iso9660", "rockridge", "1") != ARCHIVE_OK ||
	    archive_write_set_format_option(a, "iso9660", "joliet", "1") != ARCHIVE_OK) {
		vm_err("cannot make an ISO 9660 writer: %s", archive_error_string(a));
		goto out;
	}
	if (archive_write_open_filename(a, part) != ARCHIVE_OK) {
		vm_err("cannot create %s: %s", part, archive_error_string(a));
		goto out;
	}
	if (add_file(a, "meta-data", &md) != 0 || add_file(a, "user-data", &ud) != 0 ||
	    add_file(a, "network-config", &nc) != 0 || archive_write_close(a) != ARCHIVE_OK) {
		vm_err("cannot write %s: %s", iso, archive_error_string(a));
		goto out;
	}
	if (rename(part, iso) != 0) {
		vm_err("cannot rename %s to %s: %s", part, iso, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (a)
		archive_write_free(a);
	if (rc != 0)
		unlink(part);
	free(md.p), free(ud.p), free(nc.p);
	return rc;
}
