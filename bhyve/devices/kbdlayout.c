/* Keyboard layouts for the PS/2 keyboard (-K, keyboard.layout), in the format
 * of FreeBSD bhyve's layout files: one key a line,
 *   'c',0xSC;          the ASCII character c is typed by the key with set 2
 *                      scan code 0xSC
 *   0xKEYSYM,0xSC;     the same for an X keysym (hex)
 *   0xKEYSYM,0xSC,P;   and with P non-zero, the key takes the E0 prefix
 * anything after the ';' is a comment, as is a line starting with '#'; blank
 * lines are skipped. Each line overrides the US table (atkbdc.c) for that one
 * keysym. The files are looked up in BHYVE_KBDLAYOUT_DIR when it is set, else
 * in KBDLAYOUT_DIR (the Makefile's $(PREFIX)/share/bhyve/kbdlayout, where
 * `make install` puts share/bhyve/kbdlayout/). "us" and "us_unix" are the
 * built-in table and need no file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atkbdc.h"
#include "util.h"

#ifndef KBDLAYOUT_DIR
#define KBDLAYOUT_DIR "/usr/local/share/bhyve/kbdlayout"
#endif
#define LAYOUT_FILE_MAX	(64 * 1024)
#define LAYOUT_KEYS_MAX	512

static struct {
	uint32_t keysym;
	uint8_t set2;
	bool e0;
} keys[LAYOUT_KEYS_MAX];
static int nkeys;

/* One line: false when it is neither blank, a comment nor a key. */
static bool parse_line(char *line, uint32_t *keysym, uint8_t *set2, bool *e0, bool *is_key)
{
	char *p = line, *end;
	unsigned long v;

	*is_key = false;
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	if (*p == '\0' || *p == '#')
		return true;
	if (p[0] == '\'' && p[1] != '\0' && p[2] == '\'') {
		if ((unsigned char)p[1] < 0x20 || (unsigned char)p[1] > 0x7e)
			return false;
		*keysym = (unsigned char)p[1];
		p += 3;
	} else {
		errno = 0;
		v = strtoul(p, &end, 16);
		if (end == p || errno != 0 || v == 0 || v > 0x1ffffff)
			return false;
		*keysym = (uint32_t)v;
		p = end;
	}
	if (*p++ != ',')
		return false;
	errno = 0;
	v = strtoul(p, &end, 16);
	if (end == p || errno != 0 || v == 0 || v > 0xff)
		return false;
	*set2 = (uint8_t)v;
	p = end;
	*e0 = false;
	if (*p == ',') {
		p++;
		v = strtoul(p, &end, 16);
		if (end == p)
			return false;
		*e0 = v != 0;
		p = end;
	}
	if (*p != ';')
		return false;
	*is_key = true;
	return true;
}

int kbdlayout_load(const char *name)
{
	char path[4096], *buf, *line, *next;
	const char *dir = getenv("BHYVE_KBDLAYOUT_DIR");
	struct stat st;
	int fd, lineno = 0, rc = -1;

	nkeys = 0;
	if (strcmp(name, "us") == 0 || strcmp(name, "us_unix") == 0)
		return 0;
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL) {
		warnx("keyboard layout \"%s\": not a layout name", name);
		return -1;
	}
	if (dir == NULL || dir[0] == '\0')
		dir = KBDLAYOUT_DIR;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (access(path, F_OK) != 0) {
		warnx("keyboard layout \"%s\": no such layout (no %s)", name, path);
		return -1;
	}
	fd = open_checked("keyboard layout", path, O_RDONLY, OPEN_REG, LAYOUT_FILE_MAX, &st);
	if (fd < 0)
		return -1;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL || read_file_all("keyboard layout", path, fd, buf, (size_t)st.st_size) != 0)
		goto out;
	buf[st.st_size] = '\0';
	for (next = buf; (line = strsep(&next, "\n")) != NULL;) {
		uint32_t keysym;
		uint8_t set2, set1;
		bool e0, is_key;

		lineno++;
		if (!parse_line(line, &keysym, &set2, &e0, &is_key)) {
			warnx("keyboard layout %s, line %d: not 'c',0xSC; or 0xKEYSYM,0xSC[,PREFIX];",
			    path, lineno);
			goto out;
		}
		if (!is_key)
			continue;
		if (!atkbdc_set1_of(set2, e0, &set1)) {
			warnx("keyboard layout %s, line %d: scan code %s0x%02x is no key of an MF2 keyboard",
			    path, lineno, e0 ? "0xe0 " : "", set2);
			goto out;
		}
		if (nkeys == LAYOUT_KEYS_MAX) {
			warnx("keyboard layout %s: more than %d keys", path, LAYOUT_KEYS_MAX);
			goto out;
		}
		keys[nkeys].keysym = keysym;
		keys[nkeys].set2 = set2;
		keys[nkeys].e0 = e0;
		nkeys++;
	}
	rc = 0;
out:
	if (rc != 0)
		nkeys = 0;
	free(buf);
	close(fd);
	return rc;
}

bool kbdlayout_key(uint32_t keysym, uint8_t *set2, bool *e0)
{
	/* The last line for a keysym wins, as a later override should. */
	for (int i = nkeys - 1; i >= 0; i--)
		if (keys[i].keysym == keysym) {
			*set2 = keys[i].set2;
			*e0 = keys[i].e0;
			return true;
		}
	return false;
}
