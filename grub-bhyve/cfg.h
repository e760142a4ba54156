/* grub-bhyve's grub.cfg interpreter: the subset of GRUB's script language that
 * distributions' and installers' grub.cfg files use. It builds the menu
 * (menuentry, submenu), follows set/if/search/source/configfile/functions, and
 * for a chosen entry runs its body to learn the kernel, its command line and
 * the initrds. Files and searches go through callbacks (the disks and
 * filesystems are not its business). Commands that only matter on a screen are
 * accepted and skipped. */
#ifndef GB_CFG_H
#define GB_CFG_H

#include <stdbool.h>
#include <stddef.h>

struct gb_cfg_ops {
	void *arg;
	/* A file on device dev (a GRUB name without parentheses, "" when $root is
	 * unset): its contents, malloc'd and NUL-terminated; 0, or -1. */
	int (*read_file)(void *arg, const char *dev, const char *path, char **text);
	bool (*exists)(void *arg, const char *dev, const char *path);
	/* kind "file", "label" or "fs-uuid": the first device where value is; 0, or -1. */
	int (*search)(void *arg, const char *kind, const char *value, char *dev, size_t devlen);
};

struct gb_node;

struct gb_entry {
	char *title, *id;		/* id NULL when it has none */
	char hotkey;			/* 0 when none */
	char **classes;
	int nclasses;
	bool submenu;
	struct gb_entry **sub;		/* a submenu's entries */
	int nsub;
	const struct gb_node *body;
};

#define GB_MAX_INITRD	8

struct gb_boot {
	char *title;
	char *kernel_dev, *kernel_path;	/* dev: GRUB name without parentheses, "host", or "" */
	char *cmdline;			/* "BOOT_IMAGE=path args...", as GRUB passes it */
	int ninitrd;
	char *initrd_dev[GB_MAX_INITRD], *initrd_path[GB_MAX_INITRD];
};

struct gb_cfg;

struct gb_cfg *gb_cfg_new(const struct gb_cfg_ops *ops);
void gb_cfg_free(struct gb_cfg *c);
/* Runs a script (grub.cfg's text) at the top level: 0, or -1 on a syntax error
 * or a limit (nesting, size) with a message in err. A command that fails does
 * not stop the script, as in GRUB; gb_cfg_messages says what failed. */
int gb_cfg_run(struct gb_cfg *c, const char *text, char *err, size_t errlen);
/* Runs the file path on dev as configfile would (a new menu). */
int gb_cfg_run_file(struct gb_cfg *c, const char *dev, const char *path, char *err, size_t errlen);

const char *gb_cfg_get(const struct gb_cfg *c, const char *name);
int gb_cfg_set(struct gb_cfg *c, const char *name, const char *value);
/* What failed or was skipped, one line each ("unknown command: foo"). */
const char *gb_cfg_messages(const struct gb_cfg *c);

int gb_cfg_nentries(const struct gb_cfg *c);
const struct gb_entry *gb_cfg_entry(const struct gb_cfg *c, int i);
/* $timeout in seconds, -1 when unset (wait for a choice). */
int gb_cfg_timeout(const struct gb_cfg *c);
/* The entry $default names: a number, a title or an id, with '>' to go into
 * submenus ("1>2"); "saved" or unset is 0; one that names nothing is 0, as in
 * GRUB. NULL when the menu is empty or the path ends on a submenu. */
const struct gb_entry *gb_cfg_default(const struct gb_cfg *c);

/* Runs entry e's body and fills b. console: when the command line names no
 * console=, add console=ttyS0 (before a "---" separator if there is one).
 * 0; 1 when the entry replaced the menu (configfile: choose again); -1 with a
 * message when it loads no kernel or fails. */
int gb_cfg_boot(struct gb_cfg *c, const struct gb_entry *e, bool console, struct gb_boot *b,
    char *err, size_t errlen);
void gb_boot_free(struct gb_boot *b);

/* console=ttyS0 where b's command line names none (gb_cfg_boot's console); 0, or -1. */
int gb_boot_add_console(struct gb_boot *b);

/* The interactive side (menu.c). A hook sees each expanded command before the
 * interpreter's functions and skipped commands: its status, or -2 when it does
 * not know the command either. */
typedef int (*gb_cfg_hook)(void *arg, struct gb_cfg *c, char **argv, int argc);
/* Runs one line typed at the grub> prompt through the interpreter, with hook
 * for the prompt's own commands (ls, cat, boot, ...); linux and initrd fill b.
 * Its status; -1 with a message on a syntax error. *new_menu: configfile
 * replaced the menu. What failed or what "set" and "search" print is in
 * gb_cfg_messages (gb_cfg_clear_messages first). */
int gb_cfg_run_line(struct gb_cfg *c, const char *line, gb_cfg_hook hook, void *arg,
    struct gb_boot *b, bool *new_menu, char *err, size_t errlen);
void gb_cfg_clear_messages(struct gb_cfg *c);
/* Entry e's commands as text, one a line (malloc'd), for the editor; NULL. */
char *gb_cfg_entry_text(const struct gb_entry *e);
/* Boots the commands text (an edited entry) as gb_cfg_boot boots an entry. */
int gb_cfg_boot_text(struct gb_cfg *c, const char *title, const char *text, bool console,
    struct gb_boot *b, char *err, size_t errlen);

/* "(hd0,msdos1)/boot/x" into "hd0,msdos1" and "/boot/x"; a path without a
 * device gets root. dev has devlen bytes. */
const char *gb_cfg_split_path(const char *path, const char *root, char *dev, size_t devlen);

#endif
