/* The 8042 (bhyve/devices/atkbdc.c): keys from the graphical console as scan
 * codes (set 1 through the controller's translation, set 2 without it), the
 * PS/2 mouse's command protocol on the aux port, its packets from absolute
 * pointer positions, and IRQ1/IRQ12. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/atkbdc.h"
#include "fake_vmmapi.h"
#include "input.h"
#include "test.h"

#define DATA	0x60
#define STS	0x64

/* Everything the controller holds for the guest, read as a driver would. */
static int drain(uint8_t *buf, int max, bool *aux)
{
	int n = 0;

	while ((port_in(STS, 1) & 0x01) && n < max) {
		if (aux != NULL)
			aux[n] = port_in(STS, 1) & 0x20;
		buf[n++] = (uint8_t)port_in(DATA, 1);
	}
	return n;
}

static void set_cmdbyte(uint8_t v)
{
	port_out(STS, 1, 0x60);
	port_out(DATA, 1, v);
}

static uint8_t get_cmdbyte(void)
{
	uint8_t b[4];

	port_out(STS, 1, 0x20);
	return drain(b, 4, NULL) == 1 ? b[0] : 0xee;
}

static void aux_cmd(uint8_t v)
{
	port_out(STS, 1, 0xd4);
	port_out(DATA, 1, v);
}

static void test_keysym_table(void)
{
	uint8_t s1, s2;
	bool e0;

	CHECK(atkbdc_keysym_key('a', &s1, &s2, &e0));
	CHECK_EQ(s1, 0x1e); CHECK_EQ(s2, 0x1c); CHECK(!e0);
	CHECK(atkbdc_keysym_key('A', &s1, &s2, &e0));	/* the same key, shifted */
	CHECK_EQ(s1, 0x1e);
	CHECK(atkbdc_keysym_key('!', &s1, &s2, &e0));	/* shift+1 */
	CHECK_EQ(s1, 0x02); CHECK_EQ(s2, 0x16);
	CHECK(atkbdc_keysym_key(' ', &s1, &s2, &e0));
	CHECK_EQ(s1, 0x39); CHECK_EQ(s2, 0x29);
	CHECK(atkbdc_keysym_key('/', &s1, &s2, &e0));
	CHECK_EQ(s1, 0x35); CHECK_EQ(s2, 0x4a);
	CHECK(atkbdc_keysym_key(0xff0d, &s1, &s2, &e0));	/* Return */
	CHECK_EQ(s1, 0x1c); CHECK_EQ(s2, 0x5a); CHECK(!e0);
	CHECK(atkbdc_keysym_key(0xff52, &s1, &s2, &e0));	/* Up: E0-prefixed */
	CHECK_EQ(s1, 0x48); CHECK_EQ(s2, 0x75); CHECK(e0);
	CHECK(atkbdc_keysym_key(0xffc4, &s1, &s2, &e0));	/* F7: set 2's odd 0x83 */
	CHECK_EQ(s1, 0x41); CHECK_EQ(s2, 0x83);
	CHECK(!atkbdc_keysym_key(0x20ac, &s1, &s2, &e0));	/* EuroSign: no US key */
	CHECK(!atkbdc_keysym_key(0x7f, &s1, &s2, &e0));
}

/* The layout files of share/bhyve/kbdlayout (-K): each loads, and its keys
 * override the US table's; "us" goes back to the table alone. */
static void test_layout_files(void)
{
	static const struct {
		const char *name;
		uint32_t keysym;
		uint8_t set1, set2;
	} want[] = {
		{ "de", 'z', 0x15, 0x35 },	/* QWERTZ: Z where US has Y */
		{ "de", 'y', 0x2c, 0x1a },
		{ "de", 0xfc, 0x1a, 0x54 },	/* u diaeresis right of P */
		{ "de", '-', 0x35, 0x4a },
		{ "fr", 'a', 0x10, 0x15 },	/* AZERTY */
		{ "fr", 'm', 0x27, 0x4c },
		{ "fr", 0xe9, 0x03, 0x1e },	/* e acute on the 2 key */
		{ "uk", '#', 0x2b, 0x5d },
		{ "uk", '"', 0x03, 0x1e },
		{ "uk", '\\', 0x56, 0x61 },	/* the ISO key right of left Shift */
		{ "es", 0xf1, 0x27, 0x4c },	/* n tilde right of L */
		{ "es", '\'', 0x0c, 0x4e },
		{ "jp", '\\', 0x73, 0x51 },	/* Ro */
		{ "jp", '@', 0x1a, 0x54 },
		{ "jp", '|', 0x7d, 0x6a },	/* Shift+Yen */
		{ "jp", 0xff27, 0x70, 0x13 },	/* Hiragana_Katakana */
		{ "de_noacc", '^', 0x29, 0x0e },
		{ "de_acc", 0xfe52, 0x29, 0x0e },	/* dead_circumflex */
		{ "us_dvorak", 'o', 0x1f, 0x1b },	/* Dvorak's home row: a o e u */
		{ "ru", 0x6c6, 0x1e, 0x1c },	/* Cyrillic_ef on A */
		{ "uk_capsctrl", 0xffe3, 0x3a, 0x58 },	/* Control_L on Caps Lock */
		{ "br", '/', 0x73, 0x51 },	/* ABNT2's key right of ; */
	};
	char exe[4096], dir[4200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	uint8_t s1, s2;
	bool e0;
	DIR *dp;
	struct dirent *de;
	int files = 0;

	REQUIRE(n > 0);
	exe[n] = '\0';
	/* build/tests/unit_tests -> the tree's top */
	for (int i = 0; i < 3; i++)
		*strrchr(exe, '/') = '\0';
	snprintf(dir, sizeof(dir), "%s/share/bhyve/kbdlayout", exe);
	setenv("BHYVE_KBDLAYOUT_DIR", dir, 1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		REQUIRE(kbdlayout_load(want[i].name) == 0);
		CHECK(atkbdc_keysym_key(want[i].keysym, &s1, &s2, &e0));
		CHECK_EQ(s1, want[i].set1);
		CHECK_EQ(s2, want[i].set2);
		CHECK(!e0);
	}
	/* Every file of the tree loads (tools/kbdlayouts.list names 70). */
	dp = opendir(dir);
	REQUIRE(dp != NULL);
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		CHECK(kbdlayout_load(de->d_name) == 0);
		files++;
	}
	closedir(dp);
	CHECK_EQ(files, 70);
	REQUIRE(kbdlayout_load("de") == 0);
	CHECK(atkbdc_keysym_key(0xff52, &s1, &s2, &e0));	/* Up: not in the file */
	CHECK_EQ(s1, 0x48); CHECK(e0);
	CHECK(kbdlayout_load("no_such_layout") == -1);
	CHECK(kbdlayout_load("../de") == -1);
	REQUIRE(kbdlayout_load("us") == 0);
	CHECK(atkbdc_keysym_key('z', &s1, &s2, &e0));
	CHECK_EQ(s1, 0x2c);
	unsetenv("BHYVE_KBDLAYOUT_DIR");
}

static void test_key_translated_to_set1(void)
{
	uint8_t b[16], cmd = get_cmdbyte();

	CHECK(cmd & 0x40);			/* translation on, as firmware leaves it */
	drain(b, 16, NULL);
	input_key(true, 'a');
	input_key(false, 'a');
	REQUIRE(drain(b, 16, NULL) == 2);
	CHECK_EQ(b[0], 0x1e);
	CHECK_EQ(b[1], 0x9e);
	input_key(true, 0xff51);		/* Left: E0 4B, E0 CB */
	input_key(false, 0xff51);
	REQUIRE(drain(b, 16, NULL) == 4);
	CHECK_EQ(b[0], 0xe0); CHECK_EQ(b[1], 0x4b); CHECK_EQ(b[2], 0xe0); CHECK_EQ(b[3], 0xcb);
	input_key(true, 0x20ac);		/* no key: nothing */
	CHECK_EQ(drain(b, 16, NULL), 0);
}

static void test_key_set2_untranslated(void)
{
	uint8_t b[16], cmd = get_cmdbyte();

	set_cmdbyte(cmd & (uint8_t)~0x40);
	input_key(true, 'a');
	input_key(false, 'a');
	input_key(false, 0xffe4);		/* Control_R released: E0 F0 14 */
	REQUIRE(drain(b, 16, NULL) == 6);
	CHECK_EQ(b[0], 0x1c); CHECK_EQ(b[1], 0xf0); CHECK_EQ(b[2], 0x1c);
	CHECK_EQ(b[3], 0xe0); CHECK_EQ(b[4], 0xf0); CHECK_EQ(b[5], 0x14);
	set_cmdbyte(cmd);
}

/* Each byte is an edge on IRQ 1: reading the E0 of an E0-prefixed key drops
 * the line and the next byte raises it again (the PIC latches edges; a line
 * left high would never interrupt again). */
static void test_irq1_edge_per_byte(void)
{
	uint8_t b[16], cmd = get_cmdbyte();
	int calls;

	drain(b, 16, NULL);
	set_cmdbyte(cmd | 0x01);
	input_key(true, 0xff54);		/* Down: E0 50 */
	CHECK_EQ(fake_vmm.isa_level[1], 1);
	calls = fake_vmm.isa_calls;
	CHECK_EQ(port_in(DATA, 1), 0xe0);
	CHECK_EQ(fake_vmm.isa_level[1], 1);	/* up again for the 0x50 */
	CHECK_EQ(fake_vmm.isa_calls, calls + 2);	/* after going down */
	CHECK_EQ(port_in(DATA, 1), 0x50);
	CHECK_EQ(fake_vmm.isa_level[1], 0);
	set_cmdbyte(cmd);
}

static void test_key_irq1_and_disable(void)
{
	uint8_t b[16], cmd = get_cmdbyte();

	drain(b, 16, NULL);
	set_cmdbyte(cmd | 0x01);
	input_key(true, 'q');
	CHECK_EQ(fake_vmm.isa_level[1], 1);
	CHECK(drain(b, 16, NULL) == 1 && b[0] == 0x10);
	CHECK_EQ(fake_vmm.isa_level[1], 0);
	/* Scanning off (F5): keys are not sent; F4 turns it back on. */
	port_out(DATA, 1, 0xf5);
	CHECK(drain(b, 16, NULL) == 1 && b[0] == 0xfa);
	input_key(true, 'q');
	CHECK_EQ(drain(b, 16, NULL), 0);
	port_out(DATA, 1, 0xf4);
	CHECK(drain(b, 16, NULL) == 1 && b[0] == 0xfa);
	input_key(false, 'q');
	CHECK(drain(b, 16, NULL) == 1 && b[0] == 0x90);
	set_cmdbyte(cmd);
}

static void test_mouse_commands(void)
{
	uint8_t b[16];
	bool aux[16];
	int n;

	drain(b, 16, NULL);
	aux_cmd(0xff);				/* reset */
	n = drain(b, 16, aux);
	REQUIRE(n == 3);
	CHECK_EQ(b[0], 0xfa); CHECK_EQ(b[1], 0xaa); CHECK_EQ(b[2], 0x00);
	CHECK(aux[0] && aux[1] && aux[2]);	/* status bit 5: from the mouse */
	aux_cmd(0xf2);				/* get ID */
	CHECK(drain(b, 16, NULL) == 2 && b[0] == 0xfa && b[1] == 0x00);
	aux_cmd(0xf3);				/* sample rate 40 */
	aux_cmd(40);
	CHECK(drain(b, 16, NULL) == 2 && b[0] == 0xfa && b[1] == 0xfa);
	aux_cmd(0xe8);				/* resolution 3 */
	aux_cmd(3);
	CHECK(drain(b, 16, NULL) == 2 && b[0] == 0xfa && b[1] == 0xfa);
	aux_cmd(0xe7);				/* scaling 2:1 */
	CHECK(drain(b, 16, NULL) == 1 && b[0] == 0xfa);
	aux_cmd(0xe9);				/* status */
	n = drain(b, 16, NULL);
	REQUIRE(n == 4);
	CHECK_EQ(b[0], 0xfa);
	CHECK_EQ(b[1], 0x10);			/* stream, reporting off, scaling 2:1 */
	CHECK_EQ(b[2], 3);
	CHECK_EQ(b[3], 40);
	aux_cmd(0xf4);				/* reporting on */
	CHECK(drain(b, 16, NULL) == 1 && b[0] == 0xfa);
	aux_cmd(0xe9);
	CHECK(drain(b, 16, NULL) == 4 && b[1] == 0x30);
	aux_cmd(0x42);				/* not a command */
	CHECK(drain(b, 16, NULL) == 1 && b[0] == 0xfe);
	aux_cmd(0xee);				/* wrap mode echoes ... */
	aux_cmd(0x55);
	aux_cmd(0xec);				/* ... until reset-wrap */
	CHECK(drain(b, 16, NULL) == 3 && b[0] == 0xfa && b[1] == 0x55 && b[2] == 0xfa);
	aux_cmd(0xf6);				/* defaults: reporting off */
	CHECK(drain(b, 16, NULL) == 1 && b[0] == 0xfa);
}

static void test_mouse_packets(void)
{
	uint8_t b[32], cmd = get_cmdbyte();
	int n;

	drain(b, 32, NULL);
	input_pointer(0, 100, 100);		/* reporting off: nothing */
	input_pointer(0, 110, 100);
	CHECK_EQ(drain(b, 32, NULL), 0);
	set_cmdbyte(cmd | 0x02);		/* IRQ12 on */
	aux_cmd(0xf4);
	CHECK(drain(b, 32, NULL) == 1 && b[0] == 0xfa);
	input_pointer(0, 115, 90);		/* +5 right, 10 up */
	CHECK_EQ(fake_vmm.isa_level[12], 1);
	n = drain(b, 32, NULL);
	REQUIRE(n == 3);
	CHECK_EQ(b[0], 0x08); CHECK_EQ(b[1], 5); CHECK_EQ(b[2], 10);
	CHECK_EQ(fake_vmm.isa_level[12], 0);
	input_pointer(1, 112, 94);		/* left button, 3 left, 4 down */
	n = drain(b, 32, NULL);
	REQUIRE(n == 3);
	CHECK_EQ(b[0], 0x08 | 0x01 | 0x10 | 0x20);
	CHECK_EQ(b[1], (uint8_t)-3); CHECK_EQ(b[2], (uint8_t)-4);
	input_pointer(4, 112, 94);		/* VNC's right button is PS/2's bit 1 */
	CHECK(drain(b, 32, NULL) == 3 && b[0] == (0x08 | 0x02) && b[1] == 0 && b[2] == 0);
	input_pointer(0, 712, 94);		/* 600 right: split over packets */
	n = drain(b, 32, NULL);
	REQUIRE(n == 9);
	CHECK_EQ(b[1] + b[4] + b[7], 600);
	aux_cmd(0xf5);
	drain(b, 32, NULL);
	set_cmdbyte(cmd);
}

void suite_atkbdc(void)
{
	RUN(test_keysym_table);
	RUN(test_layout_files);
	RUN_DEV(test_key_translated_to_set1);
	RUN_DEV(test_key_set2_untranslated);
	RUN_DEV(test_key_irq1_and_disable);
	RUN_DEV(test_irq1_edge_per_byte);
	RUN_DEV(test_mouse_commands);
	RUN_DEV(test_mouse_packets);
}
