/* grub.cfg's syntax: words (quotes, escapes, $var, ${var}), comments, ';' and
 * newlines, and the compound commands if/elif/else/fi, menuentry, submenu and
 * function with their { } bodies. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_impl.h"

#define MAX_DEPTH	64
#define MAX_WORDS	1024

enum tok { T_WORD, T_SEP, T_LBRACE, T_RBRACE, T_EOF, T_ERR };

struct lexer {
	const char *p;
	int line;
	char *word;			/* T_WORD's raw text */
	enum tok tok;
	char *err;
	size_t errlen;
	bool failed;
};

static void lerr(struct lexer *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lerr(struct lexer *l, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (l->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->errlen > 0)
		snprintf(l->err, l->errlen, "grub.cfg line %d: %s", l->line, msg);
	l->failed = true;
}

static bool word_end(char ch)
{
	return ch == '\0' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == ';';
}

static void next(struct lexer *l)
{
	const char *s;

	free(l->word);
	l->word = NULL;
	if (l->failed) {
		l->tok = T_ERR;
		return;
	}
	for (;;) {
		while (*l->p == ' ' || *l->p == '\t' || *l->p == '\r')
			l->p++;
		if (l->p[0] == '\\' && l->p[1] == '\n') {
			l->p += 2;
			l->line++;
			continue;
		}
		if (*l->p == '#') {
			while (*l->p != '\0' && *l->p != '\n')
				l->p++;
			continue;
		}
		break;
	}
	if (*l->p == '\0') {
		l->tok = T_EOF;
		return;
	}
	if (*l->p == '\n' || *l->p == ';') {
		l->line += *l->p == '\n';
		l->p++;
		l->tok = T_SEP;
		return;
	}
	if ((*l->p == '{' || *l->p == '}') && word_end(l->p[1])) {
		l->tok = *l->p == '{' ? T_LBRACE : T_RBRACE;
		l->p++;
		return;
	}
	s = l->p;
	while (!word_end(*l->p)) {
		char q = *l->p;

		if (q == '\\') {
			l->p += l->p[1] != '\0' ? 2 : 1;
		} else if (q == '\'' || q == '"') {
			l->p++;
			while (*l->p != '\0' && *l->p != q) {
				if (q == '"' && *l->p == '\\' && l->p[1] != '\0')
					l->p++;
				l->line += *l->p == '\n';
				l->p++;
			}
			if (*l->p != q) {
				lerr(l, "unterminated %c quote", q);
				l->tok = T_ERR;
				return;
			}
			l->p++;
		} else if (q == '$' && l->p[1] == '{') {
			const char *e = strchr(l->p, '}');

			if (e == NULL || memchr(l->p, '\n', (size_t)(e - l->p)) != NULL) {
				lerr(l, "unterminated ${");
				l->tok = T_ERR;
				return;
			}
			l->p = e + 1;
		} else {
			l->p++;
		}
	}
	l->word = strndup(s, (size_t)(l->p - s));
	l->tok = l->word != NULL ? T_WORD : T_ERR;
	if (l->word == NULL)
		lerr(l, "out of memory");
}

static bool is_kw(const struct lexer *l, const char *kw)
{
	return l->tok == T_WORD && strcmp(l->word, kw) == 0;
}

void gb_cfg_node_free(struct gb_node *n)
{
	if (n == NULL)
		return;
	for (int i = 0; i < n->nwords; i++)
		free(n->words[i]);
	free(n->words);
	for (int i = 0; i < n->ncond; i++)
		gb_cfg_node_free(n->conds[i]);
	for (int i = 0; i < n->nbodies; i++)
		gb_cfg_node_free(n->bodies[i]);
	for (int i = 0; i < n->nkids; i++)
		gb_cfg_node_free(n->kids[i]);
	free(n->conds);
	free(n->bodies);
	free(n->kids);
	free(n);
}

static bool push(void *arrp, int *n, void *item)
{
	void ***arr = arrp;
	void **a;

	if (*n >= MAX_WORDS * 16)
		return false;
	a = realloc(*arr, (size_t)(*n + 1) * sizeof(void *));
	if (a == NULL)
		return false;
	a[(*n)++] = item;
	*arr = a;
	return true;
}

static struct gb_node *node(enum node_kind k)
{
	struct gb_node *n = calloc(1, sizeof(*n));

	if (n != NULL)
		n->kind = k;
	return n;
}

static struct gb_node *parse_list(struct lexer *l, int depth, const char *const *stop);

/* Takes words up to the end of the command (or a '{'). */
static bool take_words(struct lexer *l, struct gb_node *n)
{
	while (l->tok == T_WORD) {
		if (n->nwords >= MAX_WORDS || !push(&n->words, &n->nwords, l->word)) {
			lerr(l, "too many words");
			return false;
		}
		l->word = NULL;
		next(l);
	}
	return !l->failed;
}

static struct gb_node *parse_if(struct lexer *l, int depth)
{
	static const char *const to_then[] = { "then", NULL };
	static const char *const to_end[] = { "elif", "else", "fi", NULL };
	struct gb_node *n = node(N_IF);

	if (n == NULL)
		return NULL;
	/* "if" or "elif" is the current word. */
	for (;;) {
		struct gb_node *cond, *body;

		next(l);
		cond = parse_list(l, depth + 1, to_then);
		if (cond == NULL || !is_kw(l, "then")) {
			gb_cfg_node_free(cond);
			lerr(l, "\"if\" without \"then\"");
			goto bad;
		}
		next(l);
		body = parse_list(l, depth + 1, to_end);
		if (body == NULL || !push(&n->conds, &n->ncond, cond)) {
			gb_cfg_node_free(cond);
			gb_cfg_node_free(body);
			goto bad;
		}
		if (!push(&n->bodies, &n->nbodies, body)) {
			gb_cfg_node_free(body);
			goto bad;
		}
		if (is_kw(l, "elif"))
			continue;
		break;
	}
	{
		struct gb_node *els = NULL;

		if (is_kw(l, "else")) {
			static const char *const to_fi[] = { "fi", NULL };

			next(l);
			els = parse_list(l, depth + 1, to_fi);
			if (els == NULL)
				goto bad;
		}
		if (!push(&n->bodies, &n->nbodies, els)) {
			gb_cfg_node_free(els);
			goto bad;
		}
	}
	if (!is_kw(l, "fi")) {
		lerr(l, "\"if\" without \"fi\"");
		goto bad;
	}
	next(l);
	return n;
bad:
	lerr(l, "bad if");
	gb_cfg_node_free(n);
	return NULL;
}

/* menuentry/submenu ARGS { BODY } and function NAME { BODY }. */
static struct gb_node *parse_block(struct lexer *l, int depth, enum node_kind k, bool submenu)
{
	static const char *const none[] = { NULL };
	struct gb_node *n = node(k), *body;

	if (n == NULL)
		return NULL;
	n->submenu = submenu;
	next(l);
	if (!take_words(l, n))
		goto bad;
	while (l->tok == T_SEP && k == N_FUNC)	/* "function f\n{" */
		next(l);
	if (l->tok != T_LBRACE || n->nwords == 0 || (k == N_FUNC && n->nwords != 1)) {
		lerr(l, "%s: want %s { ... }", k == N_FUNC ? "function" : "menuentry",
		    k == N_FUNC ? "NAME" : "TITLE");
		goto bad;
	}
	next(l);
	body = parse_list(l, depth + 1, none);
	if (body == NULL)
		goto bad;
	if (!push(&n->bodies, &n->nbodies, body)) {
		gb_cfg_node_free(body);
		goto bad;
	}
	if (l->tok != T_RBRACE) {
		lerr(l, "missing }");
		goto bad;
	}
	next(l);
	return n;
bad:
	gb_cfg_node_free(n);
	return NULL;
}

static struct gb_node *parse_list(struct lexer *l, int depth, const char *const *stop)
{
	struct gb_node *list = node(N_LIST);

	if (list == NULL) {
		lerr(l, "out of memory");
		return NULL;
	}
	if (depth > MAX_DEPTH) {
		lerr(l, "nested too deeply");
		goto bad;
	}
	for (;;) {
		struct gb_node *n = NULL;

		while (l->tok == T_SEP)
			next(l);
		if (l->tok == T_EOF || l->tok == T_RBRACE || l->tok == T_ERR)
			break;
		if (l->tok == T_LBRACE) {
			lerr(l, "unexpected {");
			goto bad;
		}
		for (int i = 0; stop[i] != NULL; i++)
			if (is_kw(l, stop[i]))
				return list;
		if (is_kw(l, "if")) {
			n = parse_if(l, depth);
		} else if (is_kw(l, "menuentry") || is_kw(l, "submenu")) {
			n = parse_block(l, depth, N_MENU, is_kw(l, "submenu"));
		} else if (is_kw(l, "function")) {
			n = parse_block(l, depth, N_FUNC, false);
		} else if (is_kw(l, "for") || is_kw(l, "while") || is_kw(l, "until") ||
		    is_kw(l, "then") || is_kw(l, "fi") || is_kw(l, "elif") || is_kw(l, "else") ||
		    is_kw(l, "do") || is_kw(l, "done")) {
			lerr(l, "\"%s\" is not supported here", l->word);
			goto bad;
		} else {
			n = node(N_CMD);
			if (n != NULL && !take_words(l, n)) {
				gb_cfg_node_free(n);
				n = NULL;
			}
			if (n != NULL && l->tok == T_LBRACE) {
				lerr(l, "unexpected {");
				gb_cfg_node_free(n);
				n = NULL;
			}
		}
		if (n == NULL || !push(&list->kids, &list->nkids, n)) {
			gb_cfg_node_free(n);
			lerr(l, "syntax error");
			goto bad;
		}
	}
	if (l->failed)
		goto bad;
	return list;
bad:
	gb_cfg_node_free(list);
	return NULL;
}

struct gb_node *gb_cfg_parse(const char *text, char *err, size_t errlen)
{
	static const char *const none[] = { NULL };
	struct lexer l = { .p = text, .line = 1, .err = err, .errlen = errlen };
	struct gb_node *n;

	next(&l);
	n = parse_list(&l, 0, none);
	if (n != NULL && l.tok != T_EOF) {
		lerr(&l, l.tok == T_RBRACE ? "unexpected }" : "syntax error");
		gb_cfg_node_free(n);
		n = NULL;
	}
	free(l.word);
	return n;
}

/* The text of a parse tree, one command a line, as the entry editor shows it. */
struct tbuf {
	char *p;
	size_t n, cap;
	bool bad;
};

static void tput(struct tbuf *b, const char *s)
{
	size_t len = strlen(s);

	if (b->bad)
		return;
	if (b->n + len + 1 > b->cap) {
		size_t cap = (b->n + len + 1) * 2;
		char *p = cap > (4U << 20) ? NULL : realloc(b->p, cap);

		if (p == NULL) {
			b->bad = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, len + 1);
	b->n += len;
}

static void tindent(struct tbuf *b, int depth)
{
	for (int i = 0; i < depth && i < 16; i++)
		tput(b, "\t");
}

static void twords(struct tbuf *b, char **w, int n)
{
	for (int i = 0; i < n; i++) {
		if (i > 0)
			tput(b, " ");
		tput(b, w[i]);
	}
}

static void ttext(struct tbuf *b, const struct gb_node *n, int depth, bool inline_list)
{
	if (n == NULL)
		return;
	switch (n->kind) {
	case N_LIST:
		for (int i = 0; i < n->nkids; i++) {
			if (inline_list && i > 0)
				tput(b, "; ");
			ttext(b, n->kids[i], depth, inline_list);
		}
		break;
	case N_CMD:
		if (!inline_list)
			tindent(b, depth);
		twords(b, n->words, n->nwords);
		if (!inline_list)
			tput(b, "\n");
		break;
	case N_IF:
		for (int i = 0; i < n->ncond; i++) {
			tindent(b, depth);
			tput(b, i == 0 ? "if " : "elif ");
			ttext(b, n->conds[i], depth, true);
			tput(b, "; then\n");
			ttext(b, n->bodies[i], depth + 1, false);
		}
		if (n->bodies[n->ncond] != NULL) {
			tindent(b, depth);
			tput(b, "else\n");
			ttext(b, n->bodies[n->ncond], depth + 1, false);
		}
		tindent(b, depth);
		tput(b, "fi\n");
		break;
	case N_MENU:
	case N_FUNC:
		tindent(b, depth);
		tput(b, n->kind == N_FUNC ? "function " : n->submenu ? "submenu " : "menuentry ");
		twords(b, n->words, n->nwords);
		tput(b, " {\n");
		ttext(b, n->bodies[0], depth + 1, false);
		tindent(b, depth);
		tput(b, "}\n");
		break;
	}
}

char *gb_cfg_node_text(const struct gb_node *n)
{
	struct tbuf b = { 0 };

	tput(&b, "");
	ttext(&b, n, 0, false);
	if (b.bad) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
