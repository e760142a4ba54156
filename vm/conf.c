/* vm-bhyve's configuration files: `key="value"` lines, # comments (vm.h). The
 * file is held as its lines; a line with a key keeps its value apart so that
 * a set rewrites that line alone. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "vm.h"

struct line {
	char *key;	/* NULL: a comment or blank line, kept as text */
	char *text;	/* the value for a key, else the whole line */
};

struct vmconf {
	struct line *l;
	size_t n, cap;
};

struct vmconf *conf_new(void)
{
	return calloc(1, sizeof(struct vmconf));
}

void conf_free(struct vmconf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->l[i].key);
		free(c->l[i].text);
	}
	free(c->l);
	free(c);
}

bool conf_key_valid(const char *key)
{
	if (key == NULL || !(isalpha((unsigned char)*key) || *key == '_'))
		return false;
	for (const char *p = key; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

static int append(struct vmconf *c, const char *key, const char *text)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct line *l = realloc(c->l, cap * sizeof(*l));

		if (l == NULL)
			return -1;
		c->l = l;
		c->cap = cap;
	}
	c->l[c->n].key = key ? strdup(key) : NULL;
	c->l[c->n].text = strdup(text);
	if ((key && !c->l[c->n].key) || !c->l[c->n].text) {
		free(c->l[c->n].key);
		free(c->l[c->n].text);
		errno = ENOMEM;
		return -1;
	}
	c->n++;
	return 0;
}

/* Splits "key=value" (value bare, "quoted" or 'quoted', then an optional
 * comment) in place. false if the line is not of that form. */
static bool parse_line(char *s, char **key, char **value)
{
	char *eq = strchr(s, '='), *v, *end;

	while (isspace((unsigned char)*s))
		s++;
	if (eq == NULL)
		return false;
	*eq = '\0';
	end = eq;
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (!conf_key_valid(s))
		return false;
	*key = s;
	v = eq + 1;
	if (*v == '"' || *v == '\'') {
		char q = *v++;

		end = strchr(v, q);
		if (end == NULL)
			return false;
		*end++ = '\0';
	} else {
		end = v + strcspn(v, " \t#");
		if (*end != '\0')
			*end++ = '\0';
	}
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0' && *end != '#')
		return false;
	*value = v;
	return true;
}

struct vmconf *conf_load(const char *path)
{
	FILE *f = fopen(path, "re");
	struct vmconf *c;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;

	if (f == NULL)
		return NULL;
	c = conf_new();
	if (c == NULL) {
		fclose(f);
		return NULL;
	}
	while ((len = getline(&buf, &cap, f)) >= 0) {
		char *p = buf, *key, *value;
		int rc;

		lineno++;
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#') {
			rc = append(c, NULL, buf);
		} else if (parse_line(p, &key, &value)) {
			/* A key given twice: the last one counts, as in sh. */
			conf_set(c, key, NULL);
			rc = append(c, key, value);
		} else {
			fprintf(stderr, "vm: ERROR: %s, line %u: not a key=\"value\" line\n", path,
			    lineno);
			errno = EINVAL;
			rc = -1;
		}
		if (rc != 0) {
			int e = errno;

			free(buf);
			fclose(f);
			conf_free(c);
			errno = e;
			return NULL;
		}
	}
	free(buf);
	fclose(f);
	return c;
}

static struct line *find(const struct vmconf *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->l[i].key && strcmp(c->l[i].key, key) == 0)
			return &c->l[i];
	return NULL;
}

const char *conf_get(const struct vmconf *c, const char *key)
{
	const struct line *l = c ? find(c, key) : NULL;

	return l ? l->text : NULL;
}

const char *conf_get_def(const struct vmconf *c, const char *key, const char *def)
{
	const char *v = conf_get(c, key);

	return v ? v : def;
}

bool conf_get_bool(const struct vmconf *c, const char *key)
{
	const char *v = conf_get(c, key);

	return v && (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0);
}

int conf_set(struct vmconf *c, const char *key, const char *value)
{
	struct line *l;

	if (!conf_key_valid(key) || (value && strpbrk(value, "\"\n"))) {
		errno = EINVAL;
		return -1;
	}
	l = find(c, key);
	if (value == NULL) {
		if (l != NULL) {
			free(l->key);
			free(l->text);
			memmove(l, l + 1, (size_t)(c->l + c->n - (l + 1)) * sizeof(*l));
			c->n--;
		}
		return 0;
	}
	if (l == NULL)
		return append(c, key, value);
	char *t = strdup(value);

	if (t == NULL)
		return -1;
	free(l->text);
	l->text = t;
	return 0;
}

int conf_save(const struct vmconf *c, const char *path)
{
	char tmp[4200];
	FILE *f;
	int rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	f = fopen(tmp, "we");
	if (f == NULL)
		return -1;
	for (size_t i = 0; i < c->n; i++) {
		if (c->l[i].key)
			fprintf(f, "%s=\"%s\"\n", c->l[i].key, c->l[i].text);
		else
			fprintf(f, "%s\n", c->l[i].text);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0) {
		int e = errno;

		unlink(tmp);
		errno = e;
	}
	return rc;
}

const char *conf_key(const struct vmconf *c, size_t i)
{
	for (size_t j = 0; j < c->n; j++)
		if (c->l[j].key && i-- == 0)
			return c->l[j].key;
	return NULL;
}

/* The word's position in a space-separated list, or NULL. */
static const char *word_at(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; p && *p;) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n == wl && n > 0 && strncmp(p, word, n) == 0)
			return p;
		p += n;
	}
	return NULL;
}

bool conf_list_has(const struct vmconf *c, const char *key, const char *word)
{
	return word_at(conf_get(c, key), word) != NULL;
}

int conf_list_add(struct vmconf *c, const char *key, const char *word)
{
	const char *old = conf_get(c, key);
	char *s;
	int rc;

	if (word_at(old, word))
		return 0;
	if (old == NULL || old[strspn(old, " \t")] == '\0')
		return conf_set(c, key, word);
	if (asprintf(&s, "%s %s", old, word) < 0)
		return -1;
	rc = conf_set(c, key, s);
	free(s);
	return rc;
}

int conf_list_remove(struct vmconf *c, const char *key, const char *word)
{
	const char *old = conf_get(c, key), *p;
	char *s, *o;
	size_t wl = strlen(word);
	int rc;

	if (old == NULL || word_at(old, word) == NULL)
		return 0;
	s = o = malloc(strlen(old) + 1);
	if (s == NULL)
		return -1;
	/* Every other word, single spaces between them. */
	for (p = old; *p;) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n > 0 && !(n == wl && strncmp(p, word, n) == 0)) {
			if (o != s)
				*o++ = ' ';
			memcpy(o, p, n);
			o += n;
		}
		p += n;
	}
	*o = '\0';
	rc = conf_set(c, key, s);
	free(s);
	return rc;
}
