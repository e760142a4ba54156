/* The menu, the entry editor and the grub> prompt on a terminal (menu.h).
 * Keys are read one at a time from a terminal in raw mode (no echo, no line
 * buffering; output processing and signals as they were), escape sequences
 * for the arrows, Home, End, PgUp, PgDn and F10 included. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "menu.h"

enum {
	K_TIMEOUT = -1, K_EOF = -2,
	K_ESC = 27, K_ENTER = '\r',
	K_UP = 0x100, K_DOWN, K_LEFT, K_RIGHT, K_HOME, K_END, K_PGUP, K_PGDN, K_F10,
};

#define MAX_LINE	1024
#define MAX_EDIT_LINES	256
#define MAX_LEVELS	16
#define MAX_CAT		(1U << 20)

/* The terminal as it was, put back by term_restore on every way out. */
static struct termios saved_tio;
static volatile sig_atomic_t raw_fd = -1;
static struct sigaction old_act[3];
static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };

static void term_restore(void)
{
	int fd = raw_fd;

	if (fd >= 0) {
		tcsetattr(fd, TCSANOW, &saved_tio);
		raw_fd = -1;
	}
}

static void on_signal(int sig)
{
	term_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int term_raw(int fd)
{
	static bool registered;
	struct termios t;
	struct sigaction sa;

	if (tcgetattr(fd, &saved_tio) < 0)
		return -1;
	t = saved_tio;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | IEXTEN);
	t.c_iflag &= ~(tcflag_t)(IXON | ICRNL | INLCR | IGNCR);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old_act[i]);
	if (!registered) {
		atexit(term_restore);
		registered = true;
	}
	raw_fd = fd;
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		raw_fd = -1;
		return -1;
	}
	return 0;
}

static void term_leave(void)
{
	term_restore();
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old_act[i], NULL);
}

/* One byte within ms milliseconds (-1: wait): 0..255, K_TIMEOUT or K_EOF. */
static int get_byte(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	unsigned char ch;
	int r;

	do {
		r = poll(&p, 1, ms);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return K_TIMEOUT;
	if (r < 0)
		return K_EOF;
	do {
		r = (int)read(fd, &ch, 1);
	} while (r < 0 && errno == EINTR);
	return r == 1 ? ch : K_EOF;
}

/* A key: a byte, or an escape sequence's meaning. */
static int get_key(int fd, int ms)
{
	char seq[8];
	int ch = get_byte(fd, ms), n = 0;

	if (ch == '\n')
		return K_ENTER;
	if (ch != K_ESC)
		return ch;
	ch = get_byte(fd, 50);
	if (ch != '[' && ch != 'O')
		return K_ESC;	/* a lone Escape (the next byte, if any, is lost) */
	while (n < (int)sizeof(seq) - 1) {
		ch = get_byte(fd, 50);
		if (ch < 0)
			return K_ESC;
		seq[n++] = (char)ch;
		if ((ch >= 'A' && ch <= 'Z') || ch == '~')
			break;
	}
	seq[n] = '\0';
	switch (seq[n - 1]) {
	case 'A': return K_UP;
	case 'B': return K_DOWN;
	case 'C': return K_RIGHT;
	case 'D': return K_LEFT;
	case 'H': return K_HOME;
	case 'F': return K_END;
	default: break;
	}
	if (strcmp(seq, "1~") == 0 || strcmp(seq, "7~") == 0) return K_HOME;
	if (strcmp(seq, "4~") == 0 || strcmp(seq, "8~") == 0) return K_END;
	if (strcmp(seq, "5~") == 0) return K_PGUP;
	if (strcmp(seq, "6~") == 0) return K_PGDN;
	if (strcmp(seq, "21~") == 0) return K_F10;
	return 0;	/* a key that means nothing here */
}

/* A line typed at prompt, prefilled with buf: 0 on Enter, 1 on Escape, -1
 * when input ends (or Ctrl-D on an empty line). Backspace and Ctrl-U edit. */
static int read_line(int in, FILE *out, const char *prompt, char *buf, size_t len)
{
	size_t n = strlen(buf);

	fprintf(out, "\r\033[K%s%s", prompt, buf);
	fflush(out);
	for (;;) {
		int k = get_key(in, -1);

		if (k == K_EOF || (k == 4 && n == 0))
			return -1;
		if (k == K_ENTER) {
			fprintf(out, "\n");
			return 0;
		}
		if (k == K_ESC) {
			fprintf(out, "\n");
			return 1;
		}
		if ((k == 0x7f || k == 8) && n > 0) {
			buf[--n] = '\0';
			fprintf(out, "\b \b");
		} else if (k == 0x15) {
			n = 0;
			buf[0] = '\0';
			fprintf(out, "\r\033[K%s", prompt);
		} else if (((k >= 0x20 && k < 0x7f) || (k >= 0x80 && k <= 0xff) || k == '\t') &&
		    n + 1 < len) {
			buf[n++] = (char)k;
			buf[n] = '\0';
			fputc(k, out);
		} else {
			continue;
		}
		fflush(out);
	}
}

struct ui {
	struct gb_cfg *c;
	struct gb_loader *l;
	int in;
	FILE *out;
	bool console;
	struct gb_boot pb;		/* what the prompt's linux and initrd set */
	bool want_boot, want_menu;
};

static void wait_key(struct ui *u)
{
	fprintf(u->out, "Press any key to continue...");
	fflush(u->out);
	get_key(u->in, -1);
	fprintf(u->out, "\n");
}

/* The kernel and initrds are there (GRUB's linux and initrd read them at once;
 * here they are read after the choice, so a missing one is found now). */
static int check_files(struct ui *u, const struct gb_boot *b, char *err, size_t errlen)
{
	for (int i = -1; i < b->ninitrd; i++) {
		const char *dev = i < 0 ? b->kernel_dev : b->initrd_dev[i];
		const char *path = i < 0 ? b->kernel_path : b->initrd_path[i];
		struct gb_fs *fs = gb_loader_fs(u->l, dev);
		bool isdir = false;

		if (fs == NULL) {
			snprintf(err, errlen, "%s", u->l->err);
			return -1;
		}
		if (gb_fs_stat(fs, path, NULL, &isdir) < 0 || isdir) {
			snprintf(err, errlen, "(%s)%s: file not found", dev, path);
			return -1;
		}
	}
	return 0;
}

/* The prompt's commands. */
static void print_dev_info(struct ui *u, const char *dev)
{
	struct gb_fs *fs = gb_loader_fs(u->l, dev);

	if (fs == NULL) {
		fprintf(u->out, "(%s): %s\n", dev, u->l->err);
		return;
	}
	fprintf(u->out, "(%s): filesystem type %s", dev, gb_fs_type(fs));
	if (gb_fs_label(fs)[0] != '\0')
		fprintf(u->out, ", label '%s'", gb_fs_label(fs));
	if (gb_fs_uuid(fs)[0] != '\0')
		fprintf(u->out, ", UUID %s", gb_fs_uuid(fs));
	fprintf(u->out, "\n");
}

static void ls_devices(struct ui *u, bool details)
{
	const struct gb_devmap *m = &u->l->map;

	for (int d = 0; d < m->n; d++) {
		char dev[48];

		snprintf(dev, sizeof(dev), "%s", m->dev[d].name);
		if (details)
			print_dev_info(u, dev);
		else
			fprintf(u->out, "(%s) ", dev);
		for (int s = 0; s < 2; s++)
			for (int p = 1; p <= 16; p++) {
				struct gb_range r;
				char e[256];

				snprintf(dev, sizeof(dev), "%s,%s%d", m->dev[d].name,
				    s == 0 ? "msdos" : "gpt", p);
				if (gb_dev_resolve(m, dev, &r, e, sizeof(e)) < 0)
					continue;
				if (details)
					print_dev_info(u, dev);
				else
					fprintf(u->out, "(%s) ", dev);
			}
	}
	if (details)
		fprintf(u->out, "(host): the host's files\n");
	else
		fprintf(u->out, "(host)\n");
}

static void ls_one(void *arg, const char *name, bool isdir, uint64_t size)
{
	struct ui *u = arg;

	(void)size;
	fprintf(u->out, "%s%s  ", name, isdir ? "/" : "");
}

static int cmd_ls(struct ui *u, char **v, int n)
{
	bool details = false;
	const char *arg = NULL, *path;
	char dev[128];
	struct gb_fs *fs;
	bool isdir = false;
	uint64_t size = 0;

	for (int i = 1; i < n; i++) {
		if (strcmp(v[i], "-l") == 0 || strcmp(v[i], "-a") == 0 || strcmp(v[i], "-h") == 0)
			details = details || v[i][1] == 'l';
		else
			arg = v[i];
	}
	if (arg == NULL) {
		ls_devices(u, details);
		return 0;
	}
	path = gb_cfg_split_path(arg, gb_cfg_get(u->c, "root"), dev, sizeof(dev));
	if (arg[0] == '(' && arg[strlen(arg) - 1] == ')') {
		print_dev_info(u, dev);
		return 0;
	}
	fs = gb_loader_fs(u->l, dev);
	if (fs == NULL) {
		fprintf(u->out, "error: %s\n", u->l->err);
		return 1;
	}
	if (gb_fs_stat(fs, path, &size, &isdir) < 0) {
		fprintf(u->out, "error: (%s)%s: file not found\n", dev, path);
		return 1;
	}
	if (!isdir) {
		fprintf(u->out, "%s  %llu\n", path, (unsigned long long)size);
		return 0;
	}
	gb_fs_list(fs, path, ls_one, u);
	fprintf(u->out, "\n");
	return 0;
}

static int cmd_cat(struct ui *u, char **v, int n)
{
	char dev[128], err[256];
	const char *path;
	struct gb_fs *fs;
	uint8_t *data;
	size_t len;

	if (n != 2) {
		fprintf(u->out, "error: cat FILE\n");
		return 1;
	}
	path = gb_cfg_split_path(v[1], gb_cfg_get(u->c, "root"), dev, sizeof(dev));
	fs = gb_loader_fs(u->l, dev);
	if (fs == NULL) {
		fprintf(u->out, "error: %s\n", u->l->err);
		return 1;
	}
	if (gb_fs_read_all(fs, path, MAX_CAT, &data, &len, err, sizeof(err)) < 0) {
		fprintf(u->out, "error: (%s)%s\n", dev, err);
		return 1;
	}
	fwrite(data, 1, len, u->out);
	if (len > 0 && data[len - 1] != '\n')
		fprintf(u->out, "\n");
	free(data);
	return 0;
}

static const char help_text[] =
	"Commands of this prompt (and all that grub.cfg may hold):\n"
	"  ls [-l] [(DEVICE)|PATH]   devices, a device's filesystem, or a directory\n"
	"  cat FILE                  a file's contents\n"
	"  set [NAME=VALUE]          set a variable, or list them\n"
	"  linux KERNEL [ARGS...]    the kernel and its command line\n"
	"  initrd FILE...            the initrds\n"
	"  boot                      load what linux and initrd named\n"
	"  search [--file|--label|--fs-uuid] [--set=VAR] VALUE\n"
	"  configfile FILE           run FILE as a new menu\n"
	"  echo [-n] TEXT            print TEXT\n"
	"  normal, exit or Escape    back to the menu\n";

static int hook(void *arg, struct gb_cfg *c, char **v, int n)
{
	struct ui *u = arg;

	(void)c;
	if (strcmp(v[0], "ls") == 0)
		return cmd_ls(u, v, n);
	if (strcmp(v[0], "cat") == 0)
		return cmd_cat(u, v, n);
	if (strcmp(v[0], "boot") == 0) {
		u->want_boot = true;
		return 0;
	}
	if (strcmp(v[0], "normal") == 0 || strcmp(v[0], "exit") == 0) {
		u->want_menu = true;
		return 0;
	}
	if (strcmp(v[0], "help") == 0) {
		fputs(help_text, u->out);
		return 0;
	}
	if (strcmp(v[0], "clear") == 0) {
		fprintf(u->out, "\033[H\033[J");
		return 0;
	}
	if (strcmp(v[0], "echo") == 0) {
		bool nl = true;
		int i = 1;

		if (i < n && strcmp(v[i], "-n") == 0) {
			nl = false;
			i++;
		}
		for (int j = i; j < n; j++)
			fprintf(u->out, "%s%s", j > i ? " " : "", v[j]);
		if (nl)
			fprintf(u->out, "\n");
		return 0;
	}
	return -2;
}

/* The grub> prompt: 0 when b is filled (boot), 1 back to the menu, -1 when
 * input ended. */
static int prompt(struct ui *u, struct gb_boot *b)
{
	char line[MAX_LINE], err[256];

	fprintf(u->out, "\nMinimal line editing: Backspace, Ctrl-U. 'help' lists the commands; "
	    "'normal', 'exit' or Escape goes back to the menu.\n\n");
	for (;;) {
		bool new_menu = false;
		int r;

		line[0] = '\0';
		r = read_line(u->in, u->out, "grub> ", line, sizeof(line));
		if (r != 0)
			return r;
		u->want_boot = u->want_menu = false;
		err[0] = '\0';
		gb_cfg_clear_messages(u->c);
		if (u->pb.title == NULL)
			u->pb.title = strdup("grub> command line");
		r = gb_cfg_run_line(u->c, line, hook, u, &u->pb, &new_menu, err, sizeof(err));
		fputs(gb_cfg_messages(u->c), u->out);
		if (r < 0 && err[0] != '\0')
			fprintf(u->out, "error: %s\n", err);
		if (u->want_boot) {
			if (u->pb.kernel_path == NULL) {
				fprintf(u->out, "error: you need to load the kernel first (linux)\n");
			} else if (check_files(u, &u->pb, err, sizeof(err)) < 0) {
				fprintf(u->out, "error: %s\n", err);
			} else if (u->console && gb_boot_add_console(&u->pb) < 0) {
				fprintf(u->out, "error: out of memory\n");
			} else {
				*b = u->pb;
				memset(&u->pb, 0, sizeof(u->pb));
				fprintf(u->out, "Booting a command list\n");
				return 0;
			}
		}
		if (u->want_menu || new_menu)
			return 1;
		fflush(u->out);
	}
}

/* The entry editor: 0 when b is filled, 1 back to the menu, -1 when input ended. */
static int edit(struct ui *u, const struct gb_entry *e, struct gb_boot *b)
{
	char *text = gb_cfg_entry_text(e), *lines[MAX_EDIT_LINES], buf[MAX_LINE], err[256];
	char *title = strdup(e->title);	/* e may go: a failed boot can replace the menu */
	int n = 0, sel = 0, rc = 1;

	if (text == NULL || title == NULL) {
		free(text);
		free(title);
		return 1;
	}
	for (char *p = text, *nl; *p != '\0' && n < MAX_EDIT_LINES - 1; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p) - 1;
		lines[n] = strndup(p, (size_t)(nl - p + (*nl != '\n')));
		if (lines[n] != NULL)
			n++;
		if (nl[1] == '\0' && *nl != '\n')
			break;
	}
	free(text);
	for (;;) {
		int k;

		fprintf(u->out, "\033[H\033[JEditing '%s': Up/Down choose a line, Enter edits it, "
		    "'o' adds a line after it, 'd' deletes it,\nCtrl-X or F10 boots, Escape goes "
		    "back to the menu.\n\n", title);
		for (int i = 0; i < n; i++)
			fprintf(u->out, "%s%s\n", i == sel ? "> " : "  ", lines[i]);
		if (n == 0)
			fprintf(u->out, "> \n");
		fflush(u->out);
		k = get_key(u->in, -1);
		if (k == K_EOF) {
			rc = -1;
			break;
		}
		if (k == K_ESC)
			break;
		if ((k == K_UP || k == 'k') && sel > 0)
			sel--;
		else if ((k == K_DOWN || k == 'j') && sel < n - 1)
			sel++;
		else if ((k == K_ENTER && n > 0) || (k == 'o' && n < MAX_EDIT_LINES - 1)) {
			bool add = k == 'o' || n == 0;
			char *nl;

			snprintf(buf, sizeof(buf), "%s", add ? "" : lines[sel]);
			if (read_line(u->in, u->out, "edit> ", buf, sizeof(buf)) != 0 ||
			    (nl = strdup(buf)) == NULL)
				continue;
			if (add) {
				int at = n == 0 ? 0 : sel + 1;

				memmove(&lines[at + 1], &lines[at], (size_t)(n - at) * sizeof(*lines));
				lines[at] = nl;
				n++;
				sel = at;
			} else {
				free(lines[sel]);
				lines[sel] = nl;
			}
		} else if (k == 'd' && n > 0) {
			free(lines[sel]);
			memmove(&lines[sel], &lines[sel + 1], (size_t)(n - sel - 1) * sizeof(*lines));
			n--;
			if (sel > 0 && sel >= n)
				sel--;
		} else if (k == 0x18 || k == K_F10) {
			size_t len = 1;
			char *all;
			int r;

			for (int i = 0; i < n; i++)
				len += strlen(lines[i]) + 1;
			all = malloc(len);
			if (all == NULL)
				continue;
			all[0] = '\0';
			for (int i = 0; i < n; i++) {
				strcat(all, lines[i]);
				strcat(all, "\n");
			}
			r = gb_cfg_boot_text(u->c, title, all, u->console, b, err, sizeof(err));
			free(all);
			if (r == 0 && check_files(u, b, err, sizeof(err)) == 0) {
				fprintf(u->out, "\nBooting '%s' (edited)\n", title);
				rc = 0;
				break;
			}
			if (r == 0)
				gb_boot_free(b);
			if (r == 1)	/* configfile: the new menu */
				break;
			fprintf(u->out, "\nerror: %s\n", err);
			wait_key(u);
		}
	}
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(title);
	return rc;
}

static const struct gb_entry *level_entry(const struct gb_cfg *c, const struct gb_entry *parent,
    int i)
{
	return parent == NULL ? gb_cfg_entry(c, i) : parent->sub[i];
}

static int level_count(const struct gb_cfg *c, const struct gb_entry *parent)
{
	return parent == NULL ? gb_cfg_nentries(c) : parent->nsub;
}

/* The default entry's place in the top menu (a submenu holding it counts). */
static int default_index(const struct gb_cfg *c)
{
	const struct gb_entry *d = gb_cfg_default(c);
	int n = gb_cfg_nentries(c);

	for (int i = 0; d != NULL && i < n; i++) {
		const struct gb_entry *e = gb_cfg_entry(c, i);

		if (e == d)
			return i;
		for (int j = 0; j < e->nsub; j++)
			if (e->sub[j] == d)
				return i;
	}
	return 0;
}

static void draw(struct ui *u, const struct gb_entry *parent, int sel, int def)
{
	int n = level_count(u->c, parent);

	fprintf(u->out, "\033[H\033[J%s\n\n", parent == NULL ? "GNU GRUB menu (grub-bhyve)" :
	    parent->title);
	for (int i = 0; i < n; i++) {
		const struct gb_entry *e = level_entry(u->c, parent, i);

		fprintf(u->out, "%s%c %d: %s%s\n", i == sel ? "> " : "  ",
		    parent == NULL && i == def ? '*' : ' ', i, e->title, e->submenu ? " >" : "");
	}
	fprintf(u->out, "\nUse Up/Down, j/k or a number to choose, Enter to boot it, 'e' to see "
	    "and edit its commands,\n'c' for a command line%s.\n",
	    parent != NULL ? ", Escape to go back" : "");
}

int gb_menu_run(struct gb_cfg *c, struct gb_loader *l, int in, FILE *out, bool console,
    struct gb_boot *b, char *err, size_t errlen)
{
	struct ui u = { .c = c, .l = l, .in = in, .out = out, .console = console };
	const struct gb_entry *stack[MAX_LEVELS];
	int sels[MAX_LEVELS], depth = 0, rc = -1;
	bool touched = false;		/* a key was pressed: no countdown any more */

restart:
	{
		int def = default_index(c), remaining = gb_cfg_timeout(c), sel = def;
		bool counting = remaining >= 0 && !touched;

		if (term_raw(in) < 0) {
			snprintf(err, errlen, "the console: %s", strerror(errno));
			gb_boot_free(&u.pb);
			return -1;
		}
		depth = 0;
		stack[0] = NULL;
		for (;;) {
			const struct gb_entry *parent = stack[depth], *e;
			int n = level_count(c, parent), k, r;

			if (n == 0 && depth == 0) {
				/* No menu: the prompt, as GRUB gives. */
				r = prompt(&u, b);
				if (r == 0) {
					rc = 0;
					goto out;
				}
				if (r < 0 || gb_cfg_nentries(c) == 0) {
					snprintf(err, errlen, r < 0 ? "the console closed" :
					    "no menu entry chosen");
					rc = r < 0 ? -1 : 1;
					goto out;
				}
				term_leave();
				goto restart;
			}
			if (sel >= n)
				sel = n - 1;
			draw(&u, parent, sel, def);
			if (counting && remaining == 0) {
				k = K_ENTER;
			} else {
				if (counting)
					fprintf(out, "The highlighted entry will be booted automatically "
					    "in %d s.\n", remaining);
				fflush(out);
				k = get_key(in, counting ? 1000 : -1);
				if (k == K_TIMEOUT) {
					remaining--;
					continue;
				}
				counting = false;
				touched = true;
			}
			if (k == K_EOF) {
				snprintf(err, errlen, "the console closed");
				goto out;
			}
			e = level_entry(c, parent, sel);
			for (int i = 0; i < n && k < 0x100 && k > ' '; i++) {
				const struct gb_entry *h = level_entry(c, parent, i);

				if (h->hotkey != 0 && h->hotkey == k) {
					sel = i;
					e = h;
					k = K_ENTER;
				}
			}
			if (k == K_UP || k == 'k' || k == 0x10)
				sel = sel > 0 ? sel - 1 : 0;
			else if (k == K_DOWN || k == 'j' || k == 0x0e)
				sel = sel < n - 1 ? sel + 1 : n - 1;
			else if (k == K_HOME || k == K_PGUP)
				sel = 0;
			else if (k == K_END || k == K_PGDN)
				sel = n - 1;
			else if (k >= '0' && k <= '9' && k - '0' < n)
				sel = k - '0';
			else if ((k == K_ESC || k == K_LEFT) && depth > 0)
				sel = sels[--depth];
			else if (k == 'c' || k == 'e' || ((k == K_ENTER || k == K_RIGHT) && !e->submenu)) {
				if (k == 'e' && e->submenu)
					continue;
				r = k == 'c' ? prompt(&u, b) : k == 'e' ? edit(&u, e, b) : -2;
				if (r == -2) {
					fprintf(out, "\nBooting '%s'\n", e->title);
					fflush(out);
					r = gb_cfg_boot(c, e, console, b, err, errlen);
					if (r == 0 && check_files(&u, b, err, errlen) < 0) {
						gb_boot_free(b);
						r = -1;
					}
					if (r < 0) {
						/* From the top: a configfile that ran
						 * before the failure may have replaced
						 * the menu (and its entries). */
						fprintf(out, "error: %s\n", err);
						wait_key(&u);
						touched = true;
						term_leave();
						goto restart;
					}
					r = r == 1 ? 2 : 0;
				}
				if (r == 0) {
					rc = 0;
					goto out;
				}
				if (r < 0) {
					snprintf(err, errlen, "the console closed");
					goto out;
				}
				/* Back to the menu, a new one after configfile. */
				term_leave();
				goto restart;
			} else if ((k == K_ENTER || k == K_RIGHT) && e->submenu && depth < MAX_LEVELS - 1) {
				sels[depth++] = sel;
				stack[depth] = e;
				sel = 0;
			}
		}
	}
out:
	term_leave();
	gb_boot_free(&u.pb);
	fprintf(out, "\n");
	fflush(out);
	return rc;
}
