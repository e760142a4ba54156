/* kbdlayout-gen: writes one of bhyve's keyboard layout files (-K, the format
 * bhyve/devices/kbdlayout.c reads) from the X keyboard data (xkb-data), read
 * through libxkbcommon:
 *
 *   kbdlayout-gen NAME 'DESCRIPTION' SOURCE...
 *
 * A SOURCE is an XKB layout with an optional variant and option,
 * LAYOUT[(VARIANT)][:OPTION], e.g. de(nodeadkeys) or gb:ctrl:swapcaps. Every
 * keysym that a key of the first source types (alone, with Shift, AltGr or
 * both) is mapped to that key; the later sources add the keysyms the earlier
 * ones lack (the same layout without dead keys, say, so that a VNC client
 * sending either finds the key). Only keysyms that sit elsewhere than on the
 * US layout (XKB's "us", computed the same way) are written: the rest are
 * where bhyve's built-in US table has them (the US reference has only the
 * keys of a US keyboard: XKB's "us" puts < and > on the ISO key too). Keys:
 * the typing keys of an ISO or JIS keyboard, Caps Lock and left Control
 * (for the capsctrl layouts);
 * the file goes to stdout. tools/kbdlayouts.list names bhyve's layouts and
 * their sources; `make kbdlayouts` writes share/bhyve/kbdlayout/ from it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xkbcommon/xkbcommon.h>

/* XKB's key names and their set 2 scan codes (no E0 prefix), in the order a
 * keysym found on two keys is given to the first. */
static const struct {
	const char *name;
	uint8_t set2;
} keys[] = {
	{ "AE01", 0x16 }, { "AE02", 0x1e }, { "AE03", 0x26 }, { "AE04", 0x25 },
	{ "AE05", 0x2e }, { "AE06", 0x36 }, { "AE07", 0x3d }, { "AE08", 0x3e },
	{ "AE09", 0x46 }, { "AE10", 0x45 }, { "AE11", 0x4e }, { "AE12", 0x55 },
	{ "AD01", 0x15 }, { "AD02", 0x1d }, { "AD03", 0x24 }, { "AD04", 0x2d },
	{ "AD05", 0x2c }, { "AD06", 0x35 }, { "AD07", 0x3c }, { "AD08", 0x43 },
	{ "AD09", 0x44 }, { "AD10", 0x4d }, { "AD11", 0x54 }, { "AD12", 0x5b },
	{ "AC01", 0x1c }, { "AC02", 0x1b }, { "AC03", 0x23 }, { "AC04", 0x2b },
	{ "AC05", 0x34 }, { "AC06", 0x33 }, { "AC07", 0x3b }, { "AC08", 0x42 },
	{ "AC09", 0x4b }, { "AC10", 0x4c }, { "AC11", 0x52 },
	{ "AB01", 0x1a }, { "AB02", 0x22 }, { "AB03", 0x21 }, { "AB04", 0x2a },
	{ "AB05", 0x32 }, { "AB06", 0x31 }, { "AB07", 0x3a }, { "AB08", 0x41 },
	{ "AB09", 0x49 }, { "AB10", 0x4a },
	{ "TLDE", 0x0e }, { "BKSL", 0x5d }, { "SPCE", 0x29 },
	{ "LCTL", 0x14 }, { "CAPS", 0x58 },
	/* Keys a US (ANSI) keyboard lacks, left out of the US reference: */
#define FIRST_EXTRA "LSGT"
	{ "LSGT", 0x61 },	/* ISO: the key right of left Shift */
	{ "AB11", 0x51 },	/* JIS Ro, ABNT2's /? key */
	{ "AE13", 0x6a },	/* JIS Yen */
	{ "HKTG", 0x13 },	/* JIS Hiragana/Katakana */
	{ "HENK", 0x64 },	/* JIS Henkan */
	{ "MUHE", 0x67 },	/* JIS Muhenkan */
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define NLEVELS 4
#define MAXSYMS 2048

static const char *const level_name[NLEVELS] = { "", "Shift+", "AltGr+", "Shift+AltGr+" };

struct mapping {
	int n;
	struct {
		xkb_keysym_t sym;
		int key, level;
	} e[MAXSYMS];
};

static const struct mapping *lookup_in;

static int find(const struct mapping *m, xkb_keysym_t sym)
{
	for (int i = 0; i < m->n; i++)
		if (m->e[i].sym == sym)
			return i;
	return -1;
}

/* Adds the keysyms of one source that m has not got yet; with ansi, only
 * those of the keys before FIRST_EXTRA. */
static void add_source(struct xkb_context *ctx, const char *source, bool ansi, struct mapping *m)
{
	char layout[64], variant[64] = "", *p;
	const char *option = strchr(source, ':');
	size_t len = option != NULL ? (size_t)(option - source) : strlen(source);
	struct xkb_rule_names names = { .rules = "evdev", .model = "pc105" };
	struct xkb_keymap *km;

	if (len >= sizeof(layout)) {
		fprintf(stderr, "kbdlayout-gen: %s: too long\n", source);
		exit(2);
	}
	memcpy(layout, source, len);
	layout[len] = '\0';
	if ((p = strchr(layout, '(')) != NULL) {
		snprintf(variant, sizeof(variant), "%s", p + 1);
		*p = '\0';
		if ((p = strchr(variant, ')')) != NULL)
			*p = '\0';
	}
	names.layout = layout;
	names.variant = variant;
	names.options = option != NULL ? option + 1 : "";
	km = xkb_keymap_new_from_names(ctx, &names, XKB_KEYMAP_COMPILE_NO_FLAGS);
	if (km == NULL) {
		fprintf(stderr, "kbdlayout-gen: XKB has no layout %s\n", source);
		exit(1);
	}
	for (int level = 0; level < NLEVELS; level++) {
		for (size_t k = 0; k < NKEYS; k++) {
			xkb_keycode_t kc = xkb_keymap_key_by_name(km, keys[k].name);
			const xkb_keysym_t *syms;
			int n;

			if (ansi && strcmp(keys[k].name, FIRST_EXTRA) == 0)
				break;
			if (kc == XKB_KEYCODE_INVALID ||
			    (int)xkb_keymap_num_levels_for_key(km, kc, 0) <= level)
				continue;
			n = xkb_keymap_key_get_syms_by_level(km, kc, 0, (xkb_level_index_t)level, &syms);
			/* One keysym a level; none, or several at once, type nothing we can map. */
			if (n != 1 || syms[0] == XKB_KEY_NoSymbol || syms[0] == XKB_KEY_VoidSymbol ||
			    find(m, syms[0]) >= 0)
				continue;
			if (m->n == MAXSYMS) {
				fprintf(stderr, "kbdlayout-gen: %s: more than %d keysyms\n", source, MAXSYMS);
				exit(1);
			}
			m->e[m->n].sym = syms[0];
			m->e[m->n].key = (int)k;
			m->e[m->n].level = level;
			m->n++;
		}
	}
	xkb_keymap_unref(km);
}

/* In key order, then level, so that the file reads like the keyboard. */
static int by_key(const void *a, const void *b)
{
	const int *x = a, *y = b;
	const struct mapping *m = lookup_in;

	if (m->e[*x].key != m->e[*y].key)
		return m->e[*x].key - m->e[*y].key;
	if (m->e[*x].level != m->e[*y].level)
		return m->e[*x].level - m->e[*y].level;
	return *x - *y;
}

int main(int argc, char **argv)
{
	static struct mapping us, m;
	static int order[MAXSYMS];
	struct xkb_context *ctx;
	int n = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: kbdlayout-gen NAME 'DESCRIPTION' LAYOUT[(VARIANT)][:OPTION]...\n");
		return 2;
	}
	ctx = xkb_context_new(XKB_CONTEXT_NO_FLAGS);
	if (ctx == NULL) {
		fprintf(stderr, "kbdlayout-gen: no XKB context (is xkb-data installed?)\n");
		return 1;
	}
	add_source(ctx, "us", true, &us);
	/* The US layouts are for US keyboards: XKB's "us" puts < and > on the ISO
	 * key, where a US guest's own keyboard has none. */
	for (int i = 3; i < argc; i++)
		add_source(ctx, argv[i], strncmp(argv[i], "us", 2) == 0 && strchr("(:", argv[i][2]) != NULL, &m);
	for (int i = 0; i < m.n; i++) {
		int u = find(&us, m.e[i].sym);

		if (u < 0 || keys[us.e[u].key].set2 != keys[m.e[i].key].set2)
			order[n++] = i;
	}
	lookup_in = &m;
	qsort(order, (size_t)n, sizeof(order[0]), by_key);

	printf("# bhyve PS/2 keyboard layout: %s (%s)\n", argv[1], argv[2]);
	printf("# Made by tools/kbdlayout-gen from XKB's");
	for (int i = 3; i < argc; i++)
		printf(" %s", argv[i]);
	printf(" (xkb-data).\n");
	printf("# Each line names a character (or an X keysym, hex) and the set 2 scan code\n");
	printf("# of the key that types it on this layout, alone, with Shift or with AltGr.\n");
	printf("# Keys not named here are where the US layout has them.\n");
	for (int j = 0; j < n; j++) {
		xkb_keysym_t sym = m.e[order[j]].sym;
		char name[64], line[96];

		if (xkb_keysym_get_name(sym, name, sizeof(name)) < 0)
			snprintf(name, sizeof(name), "0x%x", sym);
		if (sym >= 0x20 && sym <= 0x7e)
			snprintf(line, sizeof(line), "'%c',0x%02x;", (char)sym, keys[m.e[order[j]].key].set2);
		else
			snprintf(line, sizeof(line), "0x%x,0x%02x;", sym, keys[m.e[order[j]].key].set2);
		printf("%s\t%s, %s<%s>\n", line, name, level_name[m.e[order[j]].level],
		    keys[m.e[order[j]].key].name);
	}
	xkb_context_unref(ctx);
	return 0;
}
