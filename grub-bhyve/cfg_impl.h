/* The grub.cfg interpreter's parse tree (cfg_parse.c) shared with its executor (cfg.c). */
#ifndef GB_CFG_IMPL_H
#define GB_CFG_IMPL_H

#include "cfg.h"

enum node_kind { N_CMD, N_IF, N_MENU, N_FUNC, N_LIST };

/* Words stay as written (quotes and $ included) and are expanded when run. */
struct gb_node {
	enum node_kind kind;
	char **words;			/* N_CMD, N_MENU (the arguments), N_FUNC (the name) */
	int nwords;
	bool submenu;			/* N_MENU */
	/* N_IF: conds[i] then bodies[i]; bodies[ncond] is the else part (or NULL).
	 * N_MENU, N_FUNC: bodies[0]. N_LIST: kids. */
	struct gb_node **conds, **bodies, **kids;
	int ncond, nbodies, nkids;
};

/* Parses text into a list node; NULL with a message in err. */
struct gb_node *gb_cfg_parse(const char *text, char *err, size_t errlen);
void gb_cfg_node_free(struct gb_node *n);
/* The commands of a tree as text, one a line (malloc'd), or NULL. */
char *gb_cfg_node_text(const struct gb_node *n);

#endif
