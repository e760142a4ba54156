/* A flat, sorted store of dotted keys. The tree shape is implied by the dots,
 * which keeps lookups and dumps simple and the dump order stable. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define CONFIG_FILE_MAX	(1u << 20)	/* a -k file: key=value lines, not data */

struct cfg_entry {
	char *key;
	char *value;
};

static struct cfg_entry *cfg;
static size_t cfg_len, cfg_cap;

static size_t cfg_find(const char *key, bool *found)
{
	size_t lo = 0, hi = cfg_len;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(cfg[mid].key, key);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

void set_config_value(const char *path, const char *value)
{
	bool found;
	size_t i = cfg_find(path, &found);

	if (found) {
		free(cfg[i].value);
		cfg[i].value = xstrdup(value);
		return;
	}
	if (cfg_len == cfg_cap) {
		cfg_cap = cfg_cap ? cfg_cap * 2 : 32;
		cfg = xrealloc(cfg, cfg_cap * sizeof(*cfg));
	}
	memmove(&cfg[i + 1], &cfg[i], (cfg_len - i) * sizeof(*cfg));
	cfg[i].key = xstrdup(path);
	cfg[i].value = xstrdup(value);
	cfg_len++;
}

static char *join(const char *node, const char *key)
{
	char *p;

	if (asprintf(&p, "%s.%s", node, key) < 0)
		die_oom();
	return p;
}

void set_config_value_node(const char *node, const char *key, const char *value)
{
	char *p = join(node, key);

	set_config_value(p, value);
	free(p);
}

void unset_config_value(const char *path)
{
	bool found;
	size_t i = cfg_find(path, &found);

	if (!found)
		return;
	free(cfg[i].key);
	free(cfg[i].value);
	memmove(&cfg[i], &cfg[i + 1], (cfg_len - i - 1) * sizeof(*cfg));
	cfg_len--;
}

void set_config_bool(const char *path, bool value)
{
	set_config_value(path, value ? "true" : "false");
}

const char *get_config_value(const char *path)
{
	bool found;
	size_t i = cfg_find(path, &found);

	return found ? cfg[i].value : NULL;
}

const char *get_config_value_node(const char *node, const char *key)
{
	char *p = join(node, key);
	const char *v = get_config_value(p);

	free(p);
	return v;
}

bool config_node_exists(const char *node)
{
	bool found;
	size_t n = strlen(node);
	size_t i = cfg_find(node, &found);

	/* A node exists when some key lies below it: "node.x". */
	for (; i < cfg_len; i++) {
		if (strncmp(cfg[i].key, node, n) != 0)
			return false;
		if (cfg[i].key[n] == '.')
			return true;
	}
	return false;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "on", "yes", "1" };
	static const char *const no[] = { "false", "off", "no", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int get_config_bool_default(const char *path, bool def, bool *out)
{
	const char *v = get_config_value(path);

	*out = def;
	if (v == NULL)
		return 0;
	if (parse_bool(v, out) != 0) {
		warnx("invalid boolean value \"%s\" for \"%s\"", v, path);
		return -1;
	}
	return 0;
}

int get_config_bool_node_default(const char *node, const char *key, bool def, bool *out)
{
	char *p = join(node, key);
	int r = get_config_bool_default(p, def, out);

	free(p);
	return r;
}

bool config_bool(const char *path, bool def)
{
	bool b;

	if (get_config_bool_default(path, def, &b) != 0)
		return def;
	return b;
}

int config_foreach_key(const char *node, int (*fn)(const char *, const char *, void *),
    void *arg)
{
	size_t n = strlen(node);

	for (size_t i = 0; i < cfg_len; i++) {
		const char *k = cfg[i].key;
		int rc;

		if (strncmp(k, node, n) != 0 || k[n] != '.' || strchr(k + n + 1, '.') != NULL)
			continue;
		rc = fn(k + n + 1, cfg[i].value, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int config_check_names(void)
{
	for (size_t i = 0; i < cfg_len; i++) {
		const char *k = cfg[i].key;

		for (const char *p = k; *p != '\0';) {
			size_t len = strcspn(p, ".");

			if (len > CONFIG_NAME_MAX) {
				warnx("config key \"%.40s...\": a name in it is longer than %d "
				    "characters", k, CONFIG_NAME_MAX);
				return -1;
			}
			p += len;
			if (*p == '.')
				p++;
		}
	}
	return 0;
}

void config_foreach_child(const char *node, void (*fn)(const char *, void *), void *arg)
{
	size_t n = strlen(node);
	char last[CONFIG_NAME_MAX + 1] = "";

	for (size_t i = 0; i < cfg_len; i++) {
		const char *k = cfg[i].key;
		const char *child, *end;
		size_t len;

		if (strncmp(k, node, n) != 0 || k[n] != '.')
			continue;
		child = k + n + 1;
		end = strchr(child, '.');
		if (end == NULL)
			continue;	/* a leaf value, not a child node */
		len = (size_t)(end - child);
		if (len >= sizeof(last) || (strncmp(last, child, len) == 0 && last[len] == '\0'))
			continue;
		memcpy(last, child, len);
		last[len] = '\0';
		fn(last, arg);
	}
}

int set_config_pair(const char *pair)
{
	const char *eq = strchr(pair, '=');
	char *key;

	if (eq == NULL || eq == pair) {
		warnx("invalid config option \"%s\": expected key=value", pair);
		return -1;
	}
	key = xstrndup(pair, (size_t)(eq - pair));
	set_config_value(key, eq + 1);
	free(key);
	return 0;
}

int load_config_file(const char *path)
{
	struct stat st;
	int fd = open_checked("config file", path, O_RDONLY, OPEN_REG, CONFIG_FILE_MAX, &st);
	FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = 0;

	if (fp == NULL) {
		if (fd >= 0) {
			warnx("config file %s: %s", path, strerror(errno));
			close(fd);
		}
		return -1;
	}
	while ((len = getline(&line, &cap, fp)) >= 0) {
		char *s = line, *e;

		lineno++;
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			s[--len] = '\0';
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		e = strchr(s, '=');
		if (e == NULL || e == s) {
			warnx("config file %s line %d: expected key=value", path, lineno);
			rc = -1;
			break;
		}
		/* "key = value" means key=value. */
		{
			char *k_end = e, *v = e + 1;

			while (k_end > s && isspace((unsigned char)k_end[-1]))
				k_end--;
			while (isspace((unsigned char)*v))
				v++;
			*k_end = '\0';
			if (*s == '\0') {
				warnx("config file %s line %d: expected key=value", path, lineno);
				rc = -1;
				break;
			}
			set_config_value(s, v);
		}
	}
	if (rc == 0 && ferror(fp)) {
		warnx("config file %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}

void dump_config(FILE *fp)
{
	for (size_t i = 0; i < cfg_len; i++)
		fprintf(fp, "%s=%s\n", cfg[i].key, cfg[i].value);
}

void free_config(void)
{
	for (size_t i = 0; i < cfg_len; i++) {
		free(cfg[i].key);
		free(cfg[i].value);
	}
	free(cfg);
	cfg = NULL;
	cfg_len = cfg_cap = 0;
}
