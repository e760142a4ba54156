/* The grub.cfg executor: variables and their expansion, the menu, the commands
 * and [ ] tests, and booting an entry (its linux and initrd lines). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_impl.h"

#define MAX_CALL_DEPTH	16
#define MAX_VARS	512
#define VAR_SLOTS	(2 * MAX_VARS)	/* the variables' hash index, never more than half full */
#define MAX_FUNCS	256
#define MAX_ENTRIES	1024
/* The fuzz targets set smaller MAX_SCRIPTS and MAX_STEPS (Makefile). */
#ifndef MAX_SCRIPTS
#define MAX_SCRIPTS	64
#endif
#define MAX_ARGS	1024
#define MSG_MAX		8192
#ifndef MAX_STEPS
#define MAX_STEPS	200000	/* commands per run: a hostile script ends, not hangs */
#endif
/* Bytes of words expanded per run: a script that doubles a variable again and
 * again ends too, before its words cost seconds of copying each. */
#ifndef MAX_EXPANSION
#define MAX_EXPANSION	(64L << 20)
#endif
/* A variable reference counts as this many bytes expanded, even when empty: a
 * line of thousands of references to nothing ends too. */
#define VAR_REF_COST	16

struct var {
	char *name, *value;
};

struct gb_cfg {
	struct gb_cfg_ops ops;
	struct var *vars;
	int nvars;
	int vslot[VAR_SLOTS];		/* index + 1 of the variable hashed there, or 0 */
	struct gb_entry ***menu;	/* the menu being filled */
	int *nmenu;
	struct gb_entry **top;
	int ntop;
	struct gb_node *scripts[MAX_SCRIPTS];	/* parsed files the menu points into */
	int nscripts;
	struct gb_node **funcs;		/* function definitions (N_FUNC nodes) */
	int nfuncs;
	int depth, status, nentries;
	long steps;
	long expanded;			/* bytes of words expanded this run */
	bool new_menu;			/* configfile ran during a boot */
	struct gb_boot *boot;		/* the entry being booted, or NULL */
	char msgs[MSG_MAX];
	size_t msglen;
	char *err;
	size_t errlen;
	bool fatal;
	gb_cfg_hook hook;		/* the prompt's commands, while it runs a line */
	void *hook_arg;
	struct gb_boot *prompt_boot;	/* what linux and initrd fill at the prompt */
};

struct argv {
	char **v;
	int n, cap;	/* cap: room in v, the NULL after the last word included */
	bool overflow;
};

static void msg(struct gb_cfg *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg(struct gb_cfg *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->msglen + 2 >= sizeof(c->msgs))
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->msgs + c->msglen, sizeof(c->msgs) - c->msglen - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	c->msglen += (size_t)n;
	if (c->msglen > sizeof(c->msgs) - 2)
		c->msglen = sizeof(c->msgs) - 2;
	c->msgs[c->msglen++] = '\n';
	c->msgs[c->msglen] = '\0';
}

/* The variables are found through a hash index (FNV-1a, linear probing), so
 * that a script's references cost the same with 500 variables as with 5. */
static unsigned var_slot(const struct gb_cfg *c, const char *name)
{
	unsigned h = 2166136261u;

	for (const char *p = name; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h %= VAR_SLOTS;
	while (c->vslot[h] != 0 && strcmp(c->vars[c->vslot[h] - 1].name, name) != 0)
		h = (h + 1) % VAR_SLOTS;
	return h;	/* name's slot, or the empty one where it would go */
}

static void var_reindex(struct gb_cfg *c)
{
	memset(c->vslot, 0, sizeof(c->vslot));
	for (int i = 0; i < c->nvars; i++)
		c->vslot[var_slot(c, c->vars[i].name)] = i + 1;
}

const char *gb_cfg_get(const struct gb_cfg *c, const char *name)
{
	int k = c->vslot[var_slot(c, name)];

	return k != 0 ? c->vars[k - 1].value : NULL;
}

int gb_cfg_set(struct gb_cfg *c, const char *name, const char *value)
{
	char *v = strdup(value);
	unsigned slot = var_slot(c, name);
	struct var *nv;

	if (v == NULL)
		return -1;
	if (c->vslot[slot] != 0) {
		free(c->vars[c->vslot[slot] - 1].value);
		c->vars[c->vslot[slot] - 1].value = v;
		return 0;
	}
	if (c->nvars >= MAX_VARS || (nv = realloc(c->vars, (size_t)(c->nvars + 1) * sizeof(*nv))) == NULL) {
		free(v);
		return -1;
	}
	c->vars = nv;
	c->vars[c->nvars].name = strdup(name);
	c->vars[c->nvars].value = v;
	if (c->vars[c->nvars].name == NULL) {
		free(v);
		return -1;
	}
	c->vslot[slot] = ++c->nvars;
	return 0;
}

static void unset(struct gb_cfg *c, const char *name)
{
	int k = c->vslot[var_slot(c, name)];

	if (k == 0)
		return;
	free(c->vars[k - 1].name);
	free(c->vars[k - 1].value);
	c->vars[k - 1] = c->vars[--c->nvars];
	var_reindex(c);
}

/* A copy of the variables, to put back after a submenu or an entry. */
static struct var *save_vars(const struct gb_cfg *c, int *n)
{
	struct var *s = calloc((size_t)c->nvars + 1, sizeof(*s));

	*n = 0;
	for (int i = 0; s != NULL && i < c->nvars; i++) {
		s[i].name = strdup(c->vars[i].name);
		s[i].value = strdup(c->vars[i].value);
		*n = i + 1;
	}
	return s;
}

static void free_vars(struct var *v, int n)
{
	for (int i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

static void restore_vars(struct gb_cfg *c, struct var *s, int n)
{
	if (s == NULL)
		return;
	free_vars(c->vars, c->nvars);
	c->vars = s;
	c->nvars = n;
	var_reindex(c);
}

/* Expansion: quotes, backslashes and variables; unquoted variables split into
 * several words on blanks, as in GRUB. */
struct buf {
	char *p;
	size_t n, cap;
	struct gb_cfg *c;	/* whose expansion budget the bytes count against, or NULL */
};

/* Counts n bytes against c's expansion budget for this run: false past it. */
static bool spend(struct gb_cfg *c, size_t n)
{
	return c == NULL || (c->expanded += (long)n) <= MAX_EXPANSION;
}

static bool bput(struct buf *b, const char *s, size_t n)
{
	if (!spend(b->c, n))
		return false;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p;

		if (cap > (1U << 24))	/* a word of 16 MiB: something is wrong */
			return false;
		p = realloc(b->p, cap);
		if (p == NULL)
			return false;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
	return true;
}

static bool argv_push(struct argv *a, struct buf *b)
{
	if (a->n + 2 > a->cap && a->n < MAX_ARGS) {	/* room doubles: no copy per word */
		int cap = a->n * 2 + 8;
		char **v = realloc(a->v, (size_t)cap * sizeof(*v));

		if (v != NULL) {
			a->v = v;
			a->cap = cap;
		}
	}
	if (a->n >= MAX_ARGS || a->n + 2 > a->cap) {
		a->overflow = true;
		free(b->p);
		memset(b, 0, sizeof(*b));
		return false;
	}
	a->v[a->n++] = b->p != NULL ? b->p : strdup("");
	a->v[a->n] = NULL;
	b->p = NULL;
	b->n = b->cap = 0;
	return a->v[a->n - 1] != NULL;
}

static void argv_free(struct argv *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static const char *var_value(const struct gb_cfg *c, const char *name, char *tmp, size_t len)
{
	const char *v;

	if (strcmp(name, "?") == 0) {
		snprintf(tmp, len, "%d", c->status);
		return tmp;
	}
	v = gb_cfg_get(c, name);
	return v != NULL ? v : "";
}

/* The variable name at s (after '$'); its length in *used. */
static void var_name(const char *s, char *name, size_t len, size_t *used)
{
	size_t n = 0;

	if (s[0] == '{') {
		const char *e = strchr(s, '}');

		n = e != NULL ? (size_t)(e - s - 1) : strlen(s + 1);
		snprintf(name, len, "%.*s", (int)n, s + 1);
		*used = n + (e != NULL ? 2 : 1);
		return;
	}
	if (s[0] == '?' || s[0] == '#' || s[0] == '@' || s[0] == '*') {
		n = 1;
	} else {
		while (isalnum((unsigned char)s[n]) || s[n] == '_')
			n++;
	}
	snprintf(name, len, "%.*s", (int)n, s);
	*used = n;
}

/* w starts a variable reference ($name, ${name}, $?). */
static bool is_var(const char *w)
{
	return w[0] == '$' && (w[1] == '{' || isalnum((unsigned char)w[1]) || w[1] == '_' || w[1] == '?');
}

/* The value of the reference at *w, which is moved past it; tmp holds values
 * made on the spot. */
static const char *expand_var(const struct gb_cfg *c, const char **w, char *tmp, size_t tmplen)
{
	char name[128];
	size_t used;

	var_name(*w + 1, name, sizeof(name), &used);
	*w += 1 + used;
	return var_value(c, name, tmp, tmplen);
}

static bool expand_word(struct gb_cfg *c, const char *w, struct argv *out)
{
	struct buf b = { .c = c };
	bool have = false, ok = true;
	char tmp[32];

	while (*w != '\0' && ok) {
		if (*w == '\\') {
			if (w[1] != '\0') {
				ok = bput(&b, w + 1, 1);
				w += 2;
			} else {
				w++;
			}
			have = true;
		} else if (*w == '\'') {
			const char *e = strchr(w + 1, '\'');

			if (e == NULL)
				e = w + strlen(w);
			ok = bput(&b, w + 1, (size_t)(e - w - 1));
			w = *e ? e + 1 : e;
			have = true;
		} else if (*w == '"') {
			w++;
			have = true;
			while (*w != '\0' && *w != '"' && ok) {
				if (*w == '\\' && (w[1] == '"' || w[1] == '\\' || w[1] == '$')) {
					ok = bput(&b, w + 1, 1);
					w += 2;
				} else if (is_var(w)) {
					const char *v = expand_var(c, &w, tmp, sizeof(tmp));

					ok = spend(c, VAR_REF_COST) && bput(&b, v, strlen(v));
				} else {
					ok = bput(&b, w, 1);
					w++;
				}
			}
			if (*w == '"')
				w++;
		} else if (is_var(w)) {
			const char *v = expand_var(c, &w, tmp, sizeof(tmp));

			ok = spend(c, VAR_REF_COST);
			/* Field splitting. */
			while (*v != '\0' && ok) {
				size_t n = strcspn(v, " \t\n");

				if (n > 0) {
					ok = bput(&b, v, n);
					have = true;
					v += n;
				}
				if (*v != '\0') {
					while (*v == ' ' || *v == '\t' || *v == '\n')
						v++;
					if (have || b.n > 0)
						ok = argv_push(out, &b);
					have = false;
				}
			}
		} else {
			ok = bput(&b, w, 1);
			w++;
			have = true;
		}
	}
	if (ok && (have || b.n > 0))
		return argv_push(out, &b);
	free(b.p);
	return ok;
}

static bool expand(struct gb_cfg *c, char **words, int n, struct argv *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < n; i++)
		if (!expand_word(c, words[i], out)) {
			argv_free(out);
			if (c->expanded > MAX_EXPANSION && !c->fatal) {
				msg(c, "more than %ld bytes of words expanded: stopped", (long)MAX_EXPANSION);
				if (c->errlen > 0)
					snprintf(c->err, c->errlen, "more than %ld bytes of words "
					    "expanded: stopped", (long)MAX_EXPANSION);
				c->fatal = true;
			}
			return false;
		}
	return true;
}

const char *gb_cfg_split_path(const char *path, const char *root, char *dev, size_t devlen)
{
	if (path[0] == '(') {
		const char *e = strchr(path, ')');

		if (e != NULL) {
			snprintf(dev, devlen, "%.*s", (int)(e - path - 1), path + 1);
			return e[1] != '\0' ? e + 1 : "/";
		}
	}
	snprintf(dev, devlen, "%s", root != NULL ? root : "");
	return path;
}

static bool file_exists(struct gb_cfg *c, const char *path)
{
	char dev[128];
	const char *p = gb_cfg_split_path(path, gb_cfg_get(c, "root"), dev, sizeof(dev));

	return c->ops.exists != NULL && c->ops.exists(c->ops.arg, dev, p);
}

/* [ ] and test: ! -a -o ( ), -n -z -e -f -d -s, = == != < >, and the numeric -eq ... */
struct texpr {
	struct gb_cfg *c;
	char **v;
	int n, i;
};

static bool t_or(struct texpr *t);

static bool num(const char *s, long long *v)
{
	char *e;

	errno = 0;
	*v = strtoll(s, &e, 10);
	return *s != '\0' && *e == '\0' && errno == 0;
}

static bool t_primary(struct texpr *t)
{
	const char *a, *op, *b;
	long long x, y;

	if (t->i >= t->n)
		return false;
	a = t->v[t->i];
	if (strcmp(a, "(") == 0) {
		bool r;

		t->i++;
		r = t_or(t);
		if (t->i < t->n && strcmp(t->v[t->i], ")") == 0)
			t->i++;
		return r;
	}
	if (t->i + 2 < t->n) {	/* A OP B */
		op = t->v[t->i + 1];
		b = t->v[t->i + 2];
		if (strcmp(op, "=") == 0 || strcmp(op, "==") == 0) {
			t->i += 3;
			return strcmp(a, b) == 0;
		}
		if (strcmp(op, "!=") == 0) {
			t->i += 3;
			return strcmp(a, b) != 0;
		}
		if (strcmp(op, "<") == 0 || strcmp(op, ">") == 0) {
			t->i += 3;
			return op[0] == '<' ? strcmp(a, b) < 0 : strcmp(a, b) > 0;
		}
		if (op[0] == '-' && strlen(op) == 3 && strchr("engl", op[1]) != NULL) {
			bool ok = num(a, &x) && num(b, &y);

			t->i += 3;
			if (!ok)
				return false;
			if (strcmp(op, "-eq") == 0) return x == y;
			if (strcmp(op, "-ne") == 0) return x != y;
			if (strcmp(op, "-lt") == 0) return x < y;
			if (strcmp(op, "-le") == 0) return x <= y;
			if (strcmp(op, "-gt") == 0) return x > y;
			if (strcmp(op, "-ge") == 0) return x >= y;
			return false;
		}
	}
	if (t->i + 1 < t->n && a[0] == '-' && strlen(a) == 2 && strchr("nzefds", a[1]) != NULL) {
		b = t->v[t->i + 1];
		t->i += 2;
		switch (a[1]) {
		case 'n': return b[0] != '\0';
		case 'z': return b[0] == '\0';
		default: return file_exists(t->c, b);
		}
	}
	t->i++;
	return a[0] != '\0';
}

static bool t_not(struct texpr *t)
{
	if (t->i < t->n && strcmp(t->v[t->i], "!") == 0) {
		t->i++;
		return !t_not(t);
	}
	return t_primary(t);
}

static bool t_and(struct texpr *t)
{
	bool r = t_not(t);

	while (t->i < t->n && strcmp(t->v[t->i], "-a") == 0) {
		t->i++;
		r = t_not(t) && r;
	}
	return r;
}

static bool t_or(struct texpr *t)
{
	bool r = t_and(t);

	while (t->i < t->n && strcmp(t->v[t->i], "-o") == 0) {
		t->i++;
		r = t_and(t) || r;
	}
	return r;
}

static int cmd_test(struct gb_cfg *c, char **v, int n)
{
	struct texpr t = { c, v + 1, n - 1, 0 };

	if (strcmp(v[0], "[") == 0) {
		if (n < 2 || strcmp(v[n - 1], "]") != 0) {
			msg(c, "[: missing ]");
			return 1;
		}
		t.n--;
	}
	if (t.n == 0)
		return 1;
	return t_or(&t) ? 0 : 1;
}

/* Commands that only matter on a screen, or to GRUB's own state: accepted, skipped. */
static const char *const skipped[] = {
	"insmod", "rmmod", "loadfont", "play", "background_image", "background_color",
	"terminal_output", "terminal_input", "terminal", "serial", "font", "clear", "echo",
	"load_env", "save_env", "sleep", "export", "gettext", "set_background_color",
	"videoinfo", "lsfonts", "keystatus", "cpuid", "boot", "true", "savedefault",
	"recordfail", "gfxmode", "load_video", "timeout_style", "vbeinfo", "cutmem",
	"setparams", "wrmsr", "tpm2_key_protector_init", "cryptomount", "smbios",
	"lsmod", "read", "hwmatch", "loopback",
};

static int run(struct gb_cfg *c, const struct gb_node *n);

static void entry_free(struct gb_entry *e)
{
	if (e == NULL)
		return;
	free(e->title);
	free(e->id);
	for (int i = 0; i < e->nclasses; i++)
		free(e->classes[i]);
	free(e->classes);
	for (int i = 0; i < e->nsub; i++)
		entry_free(e->sub[i]);
	free(e->sub);
	free(e);
}

static void menu_clear(struct gb_cfg *c)
{
	for (int i = 0; i < c->ntop; i++)
		entry_free(c->top[i]);
	free(c->top);
	c->top = NULL;
	c->ntop = 0;
	c->menu = NULL;
	c->nmenu = NULL;
}

/* menuentry [--class C] [--users U] [--unrestricted] [--hotkey K] [--id I] TITLE [ARGS] { }
 * and submenu: the entry joins the menu being filled; a submenu's body is run
 * at once (in a copy of the variables) to fill its entries. */
static int do_menu(struct gb_cfg *c, const struct gb_node *n)
{
	struct gb_entry *e = calloc(1, sizeof(*e)), **m;
	struct argv a;
	int rc = 1;

	if (e == NULL || !expand(c, n->words, n->nwords, &a)) {
		free(e);
		return 1;
	}
	e->submenu = n->submenu;
	e->body = n->bodies[0];
	for (int i = 0; i < a.n; i++) {
		char *v = a.v[i], *val = NULL;
		const char *opt = v;

		if (strncmp(v, "--", 2) != 0) {
			/* The first is the title, the rest are arguments for the body. */
			if (e->title == NULL)
				e->title = strdup(v);
			continue;
		}
		if (strcmp(v, "--unrestricted") == 0)
			continue;
		if (strchr(v, '=') != NULL) {
			val = strchr(v, '=') + 1;
		} else if (i + 1 < a.n) {
			val = a.v[++i];
		} else {
			msg(c, "menuentry: %s wants a value", v);
			goto out;
		}
		if (strncmp(opt, "--class", 7) == 0) {
			char **cl = realloc(e->classes, (size_t)(e->nclasses + 1) * sizeof(*cl));

			if (cl == NULL)
				goto out;
			e->classes = cl;
			if ((cl[e->nclasses] = strdup(val)) != NULL)
				e->nclasses++;
		} else if (strncmp(opt, "--hotkey", 8) == 0) {
			e->hotkey = val[0];
		} else if (strncmp(opt, "--id", 4) == 0) {
			free(e->id);
			e->id = strdup(val);
		} else if (strncmp(opt, "--users", 7) != 0 && strncmp(opt, "--source", 8) != 0) {
			msg(c, "menuentry: unknown option %s", v);
			goto out;
		}
	}
	if (e->title == NULL) {
		msg(c, "menuentry without a title");
		goto out;
	}
	if (c->nentries >= MAX_ENTRIES || c->menu == NULL) {
		msg(c, "more than %d menu entries", MAX_ENTRIES);
		goto out;
	}
	m = realloc(*c->menu, (size_t)(*c->nmenu + 1) * sizeof(*m));
	if (m == NULL)
		goto out;
	*c->menu = m;
	m[(*c->nmenu)++] = e;
	c->nentries++;
	rc = 0;
	if (e->submenu) {
		struct gb_entry ***pm = c->menu;
		int *pn = c->nmenu, nsaved;
		struct var *saved = save_vars(c, &nsaved);

		c->menu = &e->sub;
		c->nmenu = &e->nsub;
		c->depth++;
		run(c, e->body);
		c->depth--;
		restore_vars(c, saved, nsaved);
		c->menu = pm;
		c->nmenu = pn;
	}
	e = NULL;
out:
	entry_free(e);
	argv_free(&a);
	return rc;
}

/* search [--no-floppy] [--set[=VAR]] (--file|--label|--fs-uuid|-f|-l|-u) [--hint* H] VALUE */
static int cmd_search(struct gb_cfg *c, char **v, int n)
{
	const char *kind = "file", *var = NULL, *value = NULL;
	char dev[128];

	if (strcmp(v[0], "search.fs_uuid") == 0)
		kind = "fs-uuid";
	else if (strcmp(v[0], "search.fs_label") == 0)
		kind = "label";
	for (int i = 1; i < n; i++) {
		if (strcmp(v[i], "--file") == 0 || strcmp(v[i], "-f") == 0)
			kind = "file";
		else if (strcmp(v[i], "--label") == 0 || strcmp(v[i], "-l") == 0)
			kind = "label";
		else if (strcmp(v[i], "--fs-uuid") == 0 || strcmp(v[i], "-u") == 0)
			kind = "fs-uuid";
		else if (strcmp(v[i], "--set") == 0 || strcmp(v[i], "-s") == 0)
			var = i + 1 < n && v[i + 1][0] != '-' && value == NULL &&
			    i + 2 < n ? v[++i] : "root";
		else if (strncmp(v[i], "--set=", 6) == 0)
			var = v[i] + 6;
		else if (strncmp(v[i], "--hint", 6) == 0 && strchr(v[i], '=') == NULL && i + 1 < n)
			i++;
		else if (v[i][0] == '-' && v[i][1] != '\0')
			;	/* --no-floppy, --hint=..., --efidisk-only, ... */
		else if (value == NULL)
			value = v[i];
		else if (var == NULL && v[0][6] == '.')
			var = v[i];	/* search.fs_uuid UUID VAR */
	}
	if (value == NULL) {
		msg(c, "search: no value to look for");
		return 1;
	}
	if (c->ops.search == NULL || c->ops.search(c->ops.arg, kind, value, dev, sizeof(dev)) < 0) {
		msg(c, "search: no device with %s %s", kind, value);
		return 1;
	}
	if (var != NULL)
		gb_cfg_set(c, var, dev);
	else if (c->hook != NULL)
		msg(c, "%s", dev);	/* at the prompt, as GRUB prints it */
	return 0;
}

static int run_text(struct gb_cfg *c, const char *text, bool new_menu)
{
	struct gb_node *n;
	char err[256];

	if (c->nscripts >= MAX_SCRIPTS) {
		msg(c, "more than %d configuration files", MAX_SCRIPTS);
		return 1;
	}
	n = gb_cfg_parse(text, err, sizeof(err));
	if (n == NULL) {
		msg(c, "%s", err);
		if (c->depth == 0 && c->errlen > 0) {
			snprintf(c->err, c->errlen, "%s", err);
			c->fatal = true;
		}
		return 1;
	}
	c->scripts[c->nscripts++] = n;
	if (new_menu && c->menu != &c->top) {
		msg(c, "configfile inside a submenu is not supported");
		return 1;
	}
	if (new_menu) {
		menu_clear(c);
		c->menu = &c->top;
		c->nmenu = &c->ntop;
		c->new_menu = true;
	}
	return run(c, n);
}

/* configfile and source: a file on a device, relative to $root. */
static int cmd_file(struct gb_cfg *c, char **v, int n)
{
	char dev[128], *text = NULL;
	const char *p;
	int rc;

	if (n != 2) {
		msg(c, "%s: want one file", v[0]);
		return 1;
	}
	if (c->depth >= MAX_CALL_DEPTH) {
		msg(c, "%s: nested too deeply", v[0]);
		return 1;
	}
	p = gb_cfg_split_path(v[1], gb_cfg_get(c, "root"), dev, sizeof(dev));
	if (c->ops.read_file == NULL || c->ops.read_file(c->ops.arg, dev, p, &text) < 0) {
		msg(c, "%s: cannot read (%s)%s", v[0], dev, p);
		return 1;
	}
	c->depth++;
	rc = run_text(c, text, strcmp(v[0], "configfile") == 0);
	c->depth--;
	free(text);
	return rc;
}

static int cmd_linux(struct gb_cfg *c, char **v, int n)
{
	struct gb_boot *b = c->boot != NULL ? c->boot : c->prompt_boot;
	struct buf cl = { 0 };
	char dev[128];
	const char *p;
	bool ok;

	if (b == NULL) {
		msg(c, "%s outside a menu entry: ignored", v[0]);
		return 0;
	}
	if (n < 2) {
		msg(c, "%s: no kernel named", v[0]);
		return 1;
	}
	p = gb_cfg_split_path(v[1], gb_cfg_get(c, "root"), dev, sizeof(dev));
	free(b->kernel_dev);
	free(b->kernel_path);
	free(b->cmdline);
	b->kernel_dev = strdup(dev);
	b->kernel_path = strdup(p);
	/* GRUB passes BOOT_IMAGE=the path as written, then the arguments. */
	ok = bput(&cl, "BOOT_IMAGE=", 11) && bput(&cl, v[1], strlen(v[1]));
	for (int i = 2; ok && i < n; i++)
		ok = bput(&cl, " ", 1) && bput(&cl, v[i], strlen(v[i]));
	b->cmdline = ok ? cl.p : NULL;
	if (!ok)
		free(cl.p);
	return b->kernel_dev && b->kernel_path && b->cmdline ? 0 : 1;
}

static int cmd_initrd(struct gb_cfg *c, char **v, int n)
{
	struct gb_boot *b = c->boot != NULL ? c->boot : c->prompt_boot;
	char dev[128];

	if (b == NULL) {
		msg(c, "%s outside a menu entry: ignored", v[0]);
		return 0;
	}
	if (n - 1 > GB_MAX_INITRD) {
		msg(c, "%s: more than %d files", v[0], GB_MAX_INITRD);
		return 1;
	}
	for (int i = 0; i < b->ninitrd; i++) {
		free(b->initrd_dev[i]);
		free(b->initrd_path[i]);
	}
	b->ninitrd = 0;
	for (int i = 1; i < n; i++) {
		const char *p = gb_cfg_split_path(v[i], gb_cfg_get(c, "root"), dev, sizeof(dev));

		b->initrd_dev[b->ninitrd] = strdup(dev);
		b->initrd_path[b->ninitrd] = strdup(p);
		b->ninitrd++;
	}
	return 0;
}

static bool is_assignment(const char *w)
{
	const char *eq = strchr(w, '=');

	if (eq == NULL || eq == w || !(isalpha((unsigned char)w[0]) || w[0] == '_'))
		return false;
	for (const char *p = w; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

static int set_assign(struct gb_cfg *c, const char *w)
{
	const char *eq = strchr(w, '=');
	char name[128];

	snprintf(name, sizeof(name), "%.*s", (int)(eq - w), w);
	return gb_cfg_set(c, name, eq + 1) == 0 ? 0 : 1;
}

/* The latest definition of the function name, or NULL. */
static const struct gb_node *func_find(const struct gb_cfg *c, const char *name)
{
	for (int i = c->nfuncs - 1; i >= 0; i--)
		if (strcmp(c->funcs[i]->words[0], name) == 0)
			return c->funcs[i];
	return NULL;
}

static int command(struct gb_cfg *c, char **v, int n)
{
	const char *cmd = v[0];
	const struct gb_node *f;

	if (is_assignment(cmd) && n == 1)
		return set_assign(c, cmd);
	if (strcmp(cmd, "set") == 0) {
		if (n == 1 && c->hook != NULL)	/* the prompt's "set": the variables */
			for (int i = 0; i < c->nvars; i++)
				msg(c, "%s=%s", c->vars[i].name, c->vars[i].value);
		for (int i = 1; i < n; i++) {
			if (is_assignment(v[i]))
				set_assign(c, v[i]);
			else if (!gb_cfg_get(c, v[i]))
				gb_cfg_set(c, v[i], "");	/* "set x": GRUB makes it empty */
		}
		return 0;
	}
	if (strcmp(cmd, "unset") == 0) {
		for (int i = 1; i < n; i++)
			unset(c, v[i]);
		return 0;
	}
	if (strcmp(cmd, "false") == 0)
		return 1;
	if (strcmp(cmd, "[") == 0 || strcmp(cmd, "test") == 0)
		return cmd_test(c, v, n);
	if (strcmp(cmd, "search") == 0 || strncmp(cmd, "search.", 7) == 0)
		return cmd_search(c, v, n);
	if (strcmp(cmd, "linux") == 0 || strcmp(cmd, "linux16") == 0 || strcmp(cmd, "linuxefi") == 0)
		return cmd_linux(c, v, n);
	if (strcmp(cmd, "initrd") == 0 || strcmp(cmd, "initrd16") == 0 ||
	    strcmp(cmd, "initrdefi") == 0)
		return cmd_initrd(c, v, n);
	if (strcmp(cmd, "configfile") == 0 || strcmp(cmd, "source") == 0 || strcmp(cmd, ".") == 0)
		return cmd_file(c, v, n);
	if (strcmp(cmd, "default") == 0 || strcmp(cmd, "timeout") == 0)
		return n == 2 ? (gb_cfg_set(c, cmd, v[1]) == 0 ? 0 : 1) : 1;
	if (c->hook != NULL) {
		int rc = c->hook(c->hook_arg, c, v, n);

		if (rc != -2)
			return rc;
	}
	if ((f = func_find(c, cmd)) != NULL) {
		int rc;

		if (c->depth >= MAX_CALL_DEPTH) {
			msg(c, "%s: nested too deeply", cmd);
			return 1;
		}
		c->depth++;
		rc = run(c, f->bodies[0]);
		c->depth--;
		return rc;
	}
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		if (strcmp(cmd, skipped[i]) == 0)
			return 0;
	msg(c, "unknown command: %s", cmd);
	return 1;
}

static int run(struct gb_cfg *c, const struct gb_node *n)
{
	struct argv a;
	int rc = 0;

	if (c->fatal)
		return 1;
	switch (n->kind) {
	case N_LIST:
		for (int i = 0; i < n->nkids && !c->fatal; i++)
			rc = run(c, n->kids[i]);
		break;
	case N_CMD:
		if (++c->steps > MAX_STEPS) {
			msg(c, "more than %d commands: stopped", MAX_STEPS);
			if (c->errlen > 0)
				snprintf(c->err, c->errlen, "more than %d commands run: stopped", MAX_STEPS);
			c->fatal = true;
			return 1;
		}
		if (!expand(c, n->words, n->nwords, &a)) {
			msg(c, "out of memory or too many arguments");
			rc = 1;
			break;
		}
		rc = a.n > 0 ? command(c, a.v, a.n) : 0;
		argv_free(&a);
		break;
	case N_IF:
		rc = 0;
		for (int i = 0; i < n->ncond; i++)
			if (run(c, n->conds[i]) == 0)
				return c->status = run(c, n->bodies[i]);
		if (n->bodies[n->ncond] != NULL)
			rc = run(c, n->bodies[n->ncond]);
		break;
	case N_MENU:
		rc = do_menu(c, n);
		break;
	case N_FUNC: {
		struct gb_node **f;

		/* The same definition run again (in a function, say) is not kept twice. */
		if (func_find(c, n->words[0]) == n) {
			rc = 0;
			break;
		}
		if (c->nfuncs >= MAX_FUNCS) {
			msg(c, "more than %d function definitions", MAX_FUNCS);
			rc = 1;
			break;
		}
		f = realloc(c->funcs, (size_t)(c->nfuncs + 1) * sizeof(*f));
		if (f == NULL)
			return 1;
		c->funcs = f;
		f[c->nfuncs++] = (struct gb_node *)n;
		rc = 0;
		break;
	}
	}
	c->status = rc;
	return rc;
}

struct gb_cfg *gb_cfg_new(const struct gb_cfg_ops *ops)
{
	static const char *const init[][2] = {
		{ "menuentry_id_option", "--id" },
		{ "feature_menuentry_id", "y" },
		{ "feature_menuentry_options", "y" },
		{ "feature_all_video_module", "y" },
		{ "feature_default_font_path", "y" },
		{ "feature_platform_search_hint", "y" },
		{ "feature_timeout_style", "y" },
		{ "feature_200_final", "y" },
		{ "feature_nativedisk_cmd", "y" },
		{ "grub_platform", "pc" },
		{ "grub_cpu", "i386" },
	};
	struct gb_cfg *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ops = *ops;
	c->menu = &c->top;
	c->nmenu = &c->ntop;
	for (size_t i = 0; i < sizeof(init) / sizeof(init[0]); i++)
		if (gb_cfg_set(c, init[i][0], init[i][1]) < 0) {
			gb_cfg_free(c);
			return NULL;
		}
	return c;
}

void gb_cfg_free(struct gb_cfg *c)
{
	if (c == NULL)
		return;
	menu_clear(c);
	free_vars(c->vars, c->nvars);
	for (int i = 0; i < c->nscripts; i++)
		gb_cfg_node_free(c->scripts[i]);
	free(c->funcs);
	free(c);
}

/* A run starts: where its error goes, and fresh budgets of commands and expansion. */
static void run_begin(struct gb_cfg *c, char *err, size_t errlen)
{
	c->err = err;
	c->errlen = errlen;
	c->fatal = false;
	c->steps = 0;
	c->expanded = 0;
}

static int top_run(struct gb_cfg *c, const char *text, const char *dev, const char *path,
    char *err, size_t errlen)
{
	char *owned = NULL;
	int rc;

	run_begin(c, err, errlen);
	if (text == NULL) {
		if (c->ops.read_file == NULL || c->ops.read_file(c->ops.arg, dev, path, &owned) < 0) {
			snprintf(err, errlen, "(%s)%s: cannot read it", dev ? dev : "", path ? path : "");
			return -1;
		}
		text = owned;
	}
	rc = run_text(c, text, owned != NULL);
	free(owned);
	c->err = NULL;
	c->errlen = 0;
	(void)rc;
	return c->fatal ? -1 : 0;
}

int gb_cfg_run(struct gb_cfg *c, const char *text, char *err, size_t errlen)
{
	return top_run(c, text, NULL, NULL, err, errlen);
}

int gb_cfg_run_file(struct gb_cfg *c, const char *dev, const char *path, char *err, size_t errlen)
{
	return top_run(c, NULL, dev, path, err, errlen);
}

const char *gb_cfg_messages(const struct gb_cfg *c)
{
	return c->msgs;
}

int gb_cfg_nentries(const struct gb_cfg *c)
{
	return c->ntop;
}

const struct gb_entry *gb_cfg_entry(const struct gb_cfg *c, int i)
{
	return i >= 0 && i < c->ntop ? c->top[i] : NULL;
}

int gb_cfg_timeout(const struct gb_cfg *c)
{
	const char *t = gb_cfg_get(c, "timeout");
	long long v;

	if (t == NULL || !num(t, &v) || v < 0)
		return -1;
	return v > 86400 ? 86400 : (int)v;
}

static const struct gb_entry *find_entry(struct gb_entry *const *m, int n, const char *key)
{
	long long v;

	if (num(key, &v))
		return v >= 0 && v < n ? m[v] : NULL;
	for (int i = 0; i < n; i++)
		if ((m[i]->id != NULL && strcmp(m[i]->id, key) == 0) || strcmp(m[i]->title, key) == 0)
			return m[i];
	return NULL;
}

const struct gb_entry *gb_cfg_default(const struct gb_cfg *c)
{
	const char *d = gb_cfg_get(c, "default");
	struct gb_entry *const *m = c->top;
	const struct gb_entry *e = NULL;
	int n = c->ntop;
	char key[512];

	if (n == 0)
		return NULL;
	if (d == NULL || d[0] == '\0' || strcmp(d, "saved") == 0)
		d = "0";
	while (*d != '\0') {
		size_t len = strcspn(d, ">");

		snprintf(key, sizeof(key), "%.*s", (int)len, d);
		e = find_entry(m, n, key);
		if (e == NULL)
			return m == c->top ? (c->top[0]->submenu ? NULL : c->top[0]) : NULL;
		d += len + (d[len] == '>');
		m = e->sub;
		n = e->nsub;
	}
	return e != NULL && !e->submenu ? e : NULL;
}

void gb_boot_free(struct gb_boot *b)
{
	free(b->title);
	free(b->kernel_dev);
	free(b->kernel_path);
	free(b->cmdline);
	for (int i = 0; i < b->ninitrd; i++) {
		free(b->initrd_dev[i]);
		free(b->initrd_path[i]);
	}
	memset(b, 0, sizeof(*b));
}

/* console=ttyS0 where the command line names no console: before "--" (what
 * follows it the kernel hands to init) or the installer's "---" (what follows
 * it the installer copies to the installed system). */
int gb_boot_add_console(struct gb_boot *b)
{
	char *cl = b->cmdline, *sep = NULL, *p, *n;
	size_t len = strlen(cl);

	for (p = cl; *p != '\0';) {
		size_t w;

		while (*p == ' ')
			p++;
		w = strcspn(p, " ");
		if ((w == 2 && strncmp(p, "--", 2) == 0) || (w == 3 && strncmp(p, "---", 3) == 0)) {
			sep = p;
			break;
		}
		if (strncmp(p, "console=", 8) == 0)
			return 0;
		p += w;
	}
	n = malloc(len + sizeof(" console=ttyS0"));
	if (n == NULL)
		return -1;
	if (sep == NULL) {
		sprintf(n, "%s console=ttyS0", cl);
	} else {
		size_t head = (size_t)(sep - cl);

		while (head > 0 && cl[head - 1] == ' ')
			head--;
		sprintf(n, "%.*s console=ttyS0 %s", (int)head, cl, sep);
	}
	free(b->cmdline);
	b->cmdline = n;
	return 0;
}

int gb_cfg_boot(struct gb_cfg *c, const struct gb_entry *e, bool console, struct gb_boot *b,
    char *err, size_t errlen)
{
	struct var *saved;
	int nsaved;

	memset(b, 0, sizeof(*b));
	if (e == NULL || e->submenu) {
		snprintf(err, errlen, "%s", e == NULL ? "no menu entry to boot" : "that is a submenu");
		return -1;
	}
	b->title = strdup(e->title);
	saved = save_vars(c, &nsaved);
	c->boot = b;
	c->new_menu = false;
	run_begin(c, err, errlen);
	c->depth++;
	run(c, e->body);
	c->depth--;
	c->boot = NULL;
	c->err = NULL;
	c->errlen = 0;
	if (c->fatal) {
		c->fatal = false;
		free_vars(saved, nsaved);
		gb_boot_free(b);
		return -1;
	}
	if (c->new_menu) {
		free_vars(saved, nsaved);
		gb_boot_free(b);
		return 1;
	}
	restore_vars(c, saved, nsaved);
	if (b->kernel_path == NULL) {
		snprintf(err, errlen, "\"%s\" loads no kernel (no linux command ran)", e->title);
		gb_boot_free(b);
		return -1;
	}
	if (console && gb_boot_add_console(b) < 0) {
		gb_boot_free(b);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void gb_cfg_clear_messages(struct gb_cfg *c)
{
	c->msglen = 0;
	c->msgs[0] = '\0';
}

int gb_cfg_run_line(struct gb_cfg *c, const char *line, gb_cfg_hook hook, void *arg,
    struct gb_boot *b, bool *new_menu, char *err, size_t errlen)
{
	struct gb_node *n = gb_cfg_parse(line, err, errlen);
	int nfuncs = c->nfuncs, nentries = c->nentries, rc;

	*new_menu = false;
	if (n == NULL)
		return -1;
	c->hook = hook;
	c->hook_arg = arg;
	c->prompt_boot = b;
	run_begin(c, err, errlen);
	c->new_menu = false;
	rc = run(c, n);
	c->hook = NULL;
	c->prompt_boot = NULL;
	c->err = NULL;
	c->errlen = 0;
	*new_menu = c->new_menu;
	c->new_menu = false;
	/* A line that defined a function or an entry stays: they point into it. */
	if (c->nfuncs != nfuncs || c->nentries != nentries) {
		if (c->nscripts < MAX_SCRIPTS) {
			c->scripts[c->nscripts++] = n;
		} else {
			/* Cannot keep it: forget what it defined. */
			c->nfuncs = nfuncs;
			msg(c, "more than %d configuration files", MAX_SCRIPTS);
			gb_cfg_node_free(n);
		}
	} else {
		gb_cfg_node_free(n);
	}
	if (c->fatal) {
		c->fatal = false;
		return -1;
	}
	return rc;
}

char *gb_cfg_entry_text(const struct gb_entry *e)
{
	return gb_cfg_node_text(e->body);
}

int gb_cfg_boot_text(struct gb_cfg *c, const char *title, const char *text, bool console,
    struct gb_boot *b, char *err, size_t errlen)
{
	struct gb_entry e = { 0 };
	struct gb_node *n;

	memset(b, 0, sizeof(*b));
	if (c->nscripts >= MAX_SCRIPTS) {
		snprintf(err, errlen, "more than %d configuration files", MAX_SCRIPTS);
		return -1;
	}
	n = gb_cfg_parse(text, err, errlen);
	if (n == NULL)
		return -1;
	/* Kept: an edited entry may define entries (configfile) pointing into it. */
	c->scripts[c->nscripts++] = n;
	e.title = (char *)title;
	e.body = n;
	return gb_cfg_boot(c, &e, console, b, err, errlen);
}
