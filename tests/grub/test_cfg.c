/* The grub.cfg interpreter: hand-written configurations for every construct,
 * Debian's grub-mkconfig output and the Debian installer's grub.cfg. */
#include <stdlib.h>

#include "cfg.h"
#include "gt.h"
#include "loader.h"

/* A fake world: files as "dev:path" → text; devices with labels and UUIDs. */
static const char *const files[][2] = {
	{ "hd0,gpt2:/boot/vmlinuz", "k" },
	{ "hd0,gpt2:/boot/grub/extra.cfg", "set from_source=yes\nmenuentry 'Sourced' { linux /sourced }\n" },
	{ "cd0:/boot/grub/other.cfg",
	  "set timeout=7\nmenuentry Other --id other { linux (cd0)/other.krn a=1; initrd /o.img }\n" },
	{ "cd0:/.disk/info", "x" },
	{ "hd0,gpt2:/broken.cfg", "if true; then\n" },
};

static int fake_read(void *arg, const char *dev, const char *path, char **text)
{
	char key[256];

	(void)arg;
	snprintf(key, sizeof(key), "%s:%s", dev, path);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(files[i][0], key) == 0)
			return (*text = strdup(files[i][1])) != NULL ? 0 : -1;
	return -1;
}

static bool fake_exists(void *arg, const char *dev, const char *path)
{
	char *t = NULL;
	int rc = fake_read(arg, dev, path, &t);

	free(t);
	return rc == 0;
}

static int fake_search(void *arg, const char *kind, const char *value, char *dev, size_t len)
{
	const char *r = NULL;

	(void)arg;
	if (strcmp(kind, "file") == 0) {
		if (fake_exists(NULL, "cd0", value))
			r = "cd0";
		else if (fake_exists(NULL, "hd0,gpt2", value))
			r = "hd0,gpt2";
	} else if (strcmp(kind, "label") == 0 && strcmp(value, "ROOTFS") == 0) {
		r = "hd0,gpt2";
	} else if (strcmp(kind, "fs-uuid") == 0 && strcmp(value, "1234-abcd") == 0) {
		r = "hd0,msdos1";
	}
	if (r == NULL)
		return -1;
	snprintf(dev, len, "%s", r);
	return 0;
}

static const struct gb_cfg_ops fake_ops = { NULL, fake_read, fake_exists, fake_search };

static const char every_construct[] =
	"# A comment; then assignments\n"
	"set timeout=10\n"
	"set default=\"gnulinux-advanced>recovery\"\n"
	"insmod part_gpt; insmod ext2 ; loadfont unicode\n"
	"set gfxpayload=keep\n"
	"terminal_output gfxterm\nplay 960 440 1 0 4 440 1\nbackground_image /splash.png\n"
	"name=world\n"
	"set greeting=\"hello ${name}\" quoted='$name' esc=a\\ b\n"
	"search --no-floppy --label --set=lab ROOTFS\n"
	"search --fs-uuid --set=uu 1234-abcd\n"
	"search -f /.disk/info --set\n"
	"search.fs_label ROOTFS second\n"
	"search --file /absent --set=none\n"
	"if [ -e /.disk/info ]; then set e1=yes; else set e1=no; fi\n"
	"if [ -e /nothere ] ; then set e2=yes\nelif [ -n \"$greeting\" -a -z \"$empty\" ]; then set e2=elif\n"
	"else set e2=else\nfi\n"
	"if [ \"$name\" = world ]; then if [ x$name != xworld ]; then set e3=bad; else set e3=nested; fi; fi\n"
	"if [ ! -e (hd0,gpt2)/boot/vmlinuz ]; then set e4=no; else set e4=yes; fi\n"
	"if [ 10 -gt 9 -o 1 -eq 2 ]; then set e5=num; fi\n"
	"if false; then set e6=bad; elif true; then set e6=true; fi\n"
	"function load_video { insmod all_video; set videoloaded=1; }\n"
	"load_video\n"
	"source (hd0,gpt2)/boot/grub/extra.cfg\n"
	"nosuchcommand --flag\n"
	"menuentry 'Debian GNU/Linux' --class debian --class gnu-linux $menuentry_id_option 'gnulinux-simple' {\n"
	"\tload_video\n\tset root='hd0,gpt2'\n"
	"\tlinux\t/boot/vmlinuz root=UUID=abc ro quiet\n"
	"\tinitrd\t/boot/initrd.img\n}\n"
	"submenu --hotkey=a \"Advanced options for $name\" --id gnulinux-advanced {\n"
	"\tset inner=1\n"
	"\tmenuentry 'With console' --hotkey c { linux16 /k console=tty0 ---; }\n"
	"\tmenuentry \"Recovery \\\"mode\\\"\" --id recovery {\n"
	"\t\tsearch --label --set ROOTFS\n"
	"\t\tlinuxefi /boot/vmlinuz single --- quiet splash\n"
	"\t\tinitrdefi /boot/initrd-1 (cd0)/extra.img\n\t}\n"
	"}\n"
	"menuentry --id=other-cd 'Other menu' { configfile (cd0)/boot/grub/other.cfg }\n"
	"menuentry 'No kernel' { echo nothing }\n";

static void cfg_every_construct(void)
{
	struct gb_cfg *c = gb_cfg_new(&fake_ops);
	const struct gb_entry *e, *sub;
	struct gb_boot b;
	char err[256] = "";

	REQUIRE(c != NULL);
	if (gb_cfg_run(c, every_construct, err, sizeof(err)) < 0)
		gt_fail(__FILE__, __LINE__, "%s", err);
	CHECK_STR(gb_cfg_get(c, "greeting"), "hello world");
	CHECK_STR(gb_cfg_get(c, "quoted"), "$name");
	CHECK_STR(gb_cfg_get(c, "esc"), "a b");
	CHECK_STR(gb_cfg_get(c, "lab"), "hd0,gpt2");
	CHECK_STR(gb_cfg_get(c, "uu"), "hd0,msdos1");
	CHECK_STR(gb_cfg_get(c, "root"), "cd0");
	CHECK_STR(gb_cfg_get(c, "second"), "hd0,gpt2");
	CHECK(gb_cfg_get(c, "none") == NULL);
	CHECK_STR(gb_cfg_get(c, "e1"), "yes");
	CHECK_STR(gb_cfg_get(c, "e2"), "elif");
	CHECK_STR(gb_cfg_get(c, "e3"), "nested");
	CHECK_STR(gb_cfg_get(c, "e4"), "yes");
	CHECK_STR(gb_cfg_get(c, "e5"), "num");
	CHECK_STR(gb_cfg_get(c, "e6"), "true");
	CHECK_STR(gb_cfg_get(c, "videoloaded"), "1");
	CHECK_STR(gb_cfg_get(c, "from_source"), "yes");
	CHECK(gb_cfg_get(c, "inner") == NULL);	/* a submenu's variables stay in it */
	CHECK(strstr(gb_cfg_messages(c), "unknown command: nosuchcommand") != NULL);
	CHECK(strstr(gb_cfg_messages(c), "search: no device with file /absent") != NULL);
	CHECK(strstr(gb_cfg_messages(c), "insmod") == NULL);
	CHECK_EQ(gb_cfg_timeout(c), 10);

	/* The menu: Debian, Advanced (2 entries), Sourced (from source), Other, No kernel. */
	REQUIRE(gb_cfg_nentries(c) == 5);
	e = gb_cfg_entry(c, 0);
	CHECK_STR(e->title, "Sourced");
	e = gb_cfg_entry(c, 1);
	CHECK_STR(e->title, "Debian GNU/Linux");
	CHECK_STR(e->id, "gnulinux-simple");
	CHECK_EQ(e->nclasses, 2);
	CHECK(e->nclasses == 2 && strcmp(e->classes[1], "gnu-linux") == 0);
	sub = gb_cfg_entry(c, 2);
	CHECK(sub->submenu);
	CHECK_STR(sub->title, "Advanced options for world");
	CHECK_EQ(sub->hotkey, 'a');
	REQUIRE(sub->nsub == 2);
	CHECK_EQ(sub->sub[0]->hotkey, 'c');
	CHECK_STR(sub->sub[1]->title, "Recovery \"mode\"");
	CHECK_STR(gb_cfg_entry(c, 3)->id, "other-cd");

	/* default = "gnulinux-advanced>recovery" */
	e = gb_cfg_default(c);
	REQUIRE(e != NULL);
	CHECK_STR(e->title, "Recovery \"mode\"");
	REQUIRE(gb_cfg_boot(c, e, true, &b, err, sizeof(err)) == 0);
	CHECK_STR(b.kernel_dev, "hd0,gpt2");
	CHECK_STR(b.kernel_path, "/boot/vmlinuz");
	CHECK_STR(b.cmdline, "BOOT_IMAGE=/boot/vmlinuz single console=ttyS0 --- quiet splash");
	REQUIRE(b.ninitrd == 2);
	CHECK_STR(b.initrd_dev[0], "hd0,gpt2");
	CHECK_STR(b.initrd_path[0], "/boot/initrd-1");
	CHECK_STR(b.initrd_dev[1], "cd0");
	CHECK_STR(b.initrd_path[1], "/extra.img");
	gb_boot_free(&b);
	CHECK_STR(gb_cfg_get(c, "root"), "cd0");	/* the entry's "search --set" stayed in it */

	/* By number, title, id; console= already there; console off; no kernel. */
	gb_cfg_set(c, "default", "1");
	e = gb_cfg_default(c);
	REQUIRE(e != NULL && gb_cfg_boot(c, e, false, &b, err, sizeof(err)) == 0);
	CHECK_STR(b.cmdline, "BOOT_IMAGE=/boot/vmlinuz root=UUID=abc ro quiet");
	CHECK_STR(b.kernel_dev, "hd0,gpt2");
	CHECK(b.ninitrd == 1 && strcmp(b.initrd_path[0], "/boot/initrd.img") == 0);
	gb_boot_free(&b);
	REQUIRE(gb_cfg_boot(c, e, true, &b, err, sizeof(err)) == 0);
	CHECK_STR(b.cmdline, "BOOT_IMAGE=/boot/vmlinuz root=UUID=abc ro quiet console=ttyS0");
	gb_boot_free(&b);
	gb_cfg_set(c, "default", "Advanced options for world>With console");
	e = gb_cfg_default(c);
	REQUIRE(e != NULL && gb_cfg_boot(c, e, true, &b, err, sizeof(err)) == 0);
	CHECK_STR(b.cmdline, "BOOT_IMAGE=/k console=tty0 ---");
	CHECK_STR(b.kernel_dev, "cd0");
	CHECK_EQ(b.ninitrd, 0);
	gb_boot_free(&b);
	gb_cfg_set(c, "default", "2");
	CHECK(gb_cfg_default(c) == NULL);	/* a submenu */
	gb_cfg_set(c, "default", "saved");
	CHECK_STR(gb_cfg_default(c)->title, "Sourced");
	gb_cfg_set(c, "default", "no such entry");
	CHECK_STR(gb_cfg_default(c)->title, "Sourced");
	gb_cfg_set(c, "default", "4");
	e = gb_cfg_default(c);
	REQUIRE(e != NULL);
	CHECK(gb_cfg_boot(c, e, true, &b, err, sizeof(err)) < 0);
	CHECK(strstr(err, "loads no kernel") != NULL);

	/* configfile from an entry: a new menu, chosen again. */
	gb_cfg_set(c, "default", "other-cd");
	e = gb_cfg_default(c);
	REQUIRE(e != NULL);
	CHECK_EQ(gb_cfg_boot(c, e, true, &b, err, sizeof(err)), 1);
	REQUIRE(gb_cfg_nentries(c) == 1);
	CHECK_EQ(gb_cfg_timeout(c), 7);
	gb_cfg_set(c, "default", "0");
	e = gb_cfg_default(c);
	REQUIRE(e != NULL && gb_cfg_boot(c, e, true, &b, err, sizeof(err)) == 0);
	CHECK_STR(b.kernel_dev, "cd0");
	CHECK_STR(b.kernel_path, "/other.krn");
	CHECK_STR(b.cmdline, "BOOT_IMAGE=(cd0)/other.krn a=1 console=ttyS0");
	gb_boot_free(&b);
	gb_cfg_free(c);
}

/* Functions that call f 4^3 times for each k. */
#define FAN_OUT "function g { f; f; f; f; }\nfunction h { g; g; g; g; }\nfunction k { h; h; h; h; }\n"

/* text stops at the expansion budget, before its last line sets "after". */
static void stops_expanding(struct gb_cfg *c, const char *text)
{
	char err[256];

	CHECK(gb_cfg_run(c, text, err, sizeof(err)) < 0);
	CHECK(strstr(err, "more than 67108864 bytes of words expanded: stopped") != NULL);
	CHECK(gb_cfg_get(c, "after") == NULL);
}

static void cfg_errors(void)
{
	static const char *const bad[] = {
		"menuentry 'x' {\n linux /k\n",		/* no } */
		"if [ a = a ]; then\nset x=1\n",		/* no fi */
		"if true\nset x=1\nfi\n",			/* no then */
		"set x='unterminated\n",
		"menuentry { linux /k }\n",			/* no title */
		"for i in 1 2; do echo $i; done\n",		/* not supported: said so */
		"}\n",
		"set x=${unterminated\n",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gb_cfg *c = gb_cfg_new(&fake_ops);

		err[0] = '\0';
		REQUIRE(c != NULL);
		if (i == 4) {	/* runs, but makes no entry */
			CHECK(gb_cfg_run(c, bad[i], err, sizeof(err)) < 0 || gb_cfg_nentries(c) == 0);
		} else {
			if (gb_cfg_run(c, bad[i], err, sizeof(err)) == 0)
				gt_fail(__FILE__, __LINE__, "config %zu was accepted", i);
			else if (strstr(err, "grub.cfg line") == NULL)
				gt_fail(__FILE__, __LINE__, "config %zu: message \"%s\"", i, err);
		}
		gb_cfg_free(c);
	}
	{
		struct gb_cfg *c = gb_cfg_new(&fake_ops);

		REQUIRE(c != NULL);
		/* A sourced file that does not parse: said, and the rest goes on. */
		CHECK(gb_cfg_run(c, "set root=hd0,gpt2\nsource /broken.cfg\nset after=1\n"
		    "source /missing.cfg\n", err, sizeof(err)) == 0);
		CHECK_STR(gb_cfg_get(c, "after"), "1");
		CHECK(strstr(gb_cfg_messages(c), "grub.cfg line") != NULL);
		CHECK(strstr(gb_cfg_messages(c), "source: cannot read (hd0,gpt2)/missing.cfg") != NULL);
		/* A function that calls itself stops at the nesting limit. */
		CHECK(gb_cfg_run(c, "function f { f; }\nf\nset alive=1\n", err, sizeof(err)) == 0);
		CHECK_STR(gb_cfg_get(c, "alive"), "1");
		CHECK(strstr(gb_cfg_messages(c), "nested too deeply") != NULL);
		CHECK(gb_cfg_default(c) == NULL);
		CHECK_EQ(gb_cfg_timeout(c), -1);
		gb_cfg_free(c);
	}
	{
		struct gb_cfg *c = gb_cfg_new(&fake_ops);
		struct gb_boot b;

		REQUIRE(c != NULL);
		/* Calls that fan out (4^16 of them) stop at a budget of commands. */
		CHECK(gb_cfg_run(c, "function f { f; f; f; f; }\nf\nset after=1\n", err,
		    sizeof(err)) < 0);
		CHECK(strstr(err, "commands run: stopped") != NULL);
		CHECK(gb_cfg_get(c, "after") == NULL);
		CHECK(gb_cfg_run(c, "menuentry x { f; linux /k; }\n", err, sizeof(err)) == 0);
		REQUIRE(gb_cfg_nentries(c) == 1);
		CHECK(gb_cfg_boot(c, gb_cfg_entry(c, 0), true, &b, err, sizeof(err)) < 0);
		CHECK(strstr(err, "commands run: stopped") != NULL);
		gb_cfg_free(c);
	}
	{
		struct gb_cfg *c = gb_cfg_new(&fake_ops);
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);

		REQUIRE(c != NULL && f != NULL);
		/* A 64 KiB value (64 bytes doubled ten times) expanded 1,280 times
		 * in a few commands: the run stops at its budget of expanded bytes
		 * (64 MiB) long before its budget of commands. */
		fputs("set a=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", f);
		for (int i = 0; i < 10; i++)
			fputs("set a=$a$a\n", f);
		fputs("function f { set b=$a; set b=$a; set b=$a; set b=$a; }\n" FAN_OUT
		    "k; k; k; k; k\nset after=1\n", f);
		REQUIRE(fclose(f) == 0);
		stops_expanding(c, text);
		CHECK_EQ(strlen(gb_cfg_get(c, "a")), 65536);
		/* The next run has a budget of its own. */
		CHECK(gb_cfg_run(c, "set after=$a\n", err, sizeof(err)) == 0);
		CHECK_EQ(strlen(gb_cfg_get(c, "after")), 65536);
		free(text);
		gb_cfg_free(c);
	}
	{
		struct gb_cfg *c = gb_cfg_new(&fake_ops);
		char *text = NULL, name[16], val[16], unsets[2048] = "";
		size_t len = 0;
		FILE *f;
		int n;

		REQUIRE(c != NULL);
		/* Many variables, some unset again: each still found by name. */
		for (int i = 0; i < 400; i++) {
			snprintf(name, sizeof(name), "v%d", i);
			snprintf(val, sizeof(val), "x%d", i);
			CHECK(gb_cfg_set(c, name, val) == 0);
		}
		for (int i = 0; i < 400; i += 3)
			snprintf(unsets + strlen(unsets), sizeof(unsets) - strlen(unsets), "unset v%d\n", i);
		CHECK(gb_cfg_run(c, unsets, err, sizeof(err)) == 0);
		for (int i = 0; i < 400; i++) {
			snprintf(name, sizeof(name), "v%d", i);
			snprintf(val, sizeof(val), "x%d", i);
			if (i % 3 == 0)
				CHECK(gb_cfg_get(c, name) == NULL);
			else
				CHECK_STR(gb_cfg_get(c, name), val);
		}
		/* Up to 512 variables in all, then no more. */
		for (n = 0; n < 1000; n++) {
			snprintf(name, sizeof(name), "w%d", n);
			if (gb_cfg_set(c, name, "y") < 0)
				break;
		}
		CHECK(n > 200 && n < 512);
		CHECK_STR(gb_cfg_get(c, "w0"), "y");
		CHECK_STR(gb_cfg_get(c, "v1"), "x1");
		/* A word of 5,000 references to nothing, 1,024 times: empty values,
		 * but each reference counts 16 bytes, and the run stops at 64 MiB. */
		f = open_memstream(&text, &len);
		REQUIRE(f != NULL);
		fputs("function f { set e=", f);
		for (int i = 0; i < 5000; i++)
			fputs("$z", f);
		fputs("; }\n" FAN_OUT "k; k; k; k; k; k; k; k; k; k; k; k; k; k; k; k\nset after=1\n", f);
		REQUIRE(fclose(f) == 0);
		stops_expanding(c, text);
		free(text);
		gb_cfg_free(c);
	}
	{
		struct gb_cfg *c = gb_cfg_new(&fake_ops);
		static char line[16384];
		struct gb_boot b;
		size_t at = 0;

		REQUIRE(c != NULL);
		/* A command of 1,001 words keeps them all, in order; one that a
		 * variable splits into 1,101 (past 1,024) fails alone. */
		at += (size_t)snprintf(line + at, sizeof(line) - at, "menuentry x { linux /k");
		for (int i = 0; i < 1000; i++)
			at += (size_t)snprintf(line + at, sizeof(line) - at, " a%d", i);
		at += (size_t)snprintf(line + at, sizeof(line) - at, "; }\nset l=\"");
		for (int i = 0; i < 1100; i++)
			at += (size_t)snprintf(line + at, sizeof(line) - at, " w");
		snprintf(line + at, sizeof(line) - at, "\"\necho $l\nset after=1\n");
		CHECK(gb_cfg_run(c, line, err, sizeof(err)) == 0);
		CHECK(strstr(gb_cfg_messages(c), "out of memory or too many arguments") != NULL);
		CHECK_STR(gb_cfg_get(c, "after"), "1");
		REQUIRE(gb_cfg_nentries(c) == 1);
		REQUIRE(gb_cfg_boot(c, gb_cfg_entry(c, 0), false, &b, err, sizeof(err)) == 0);
		CHECK(strncmp(b.cmdline, "BOOT_IMAGE=/k a0 a1 a2 ", 23) == 0);
		CHECK(strstr(b.cmdline, " a998 a999") != NULL &&
		    strcmp(strstr(b.cmdline, " a998 a999"), " a998 a999") == 0);
		gb_boot_free(&b);
		gb_cfg_free(c);
	}
	{
		struct gb_cfg *c = gb_cfg_new(&fake_ops);
		static char defs[16384];
		size_t at = 0;

		REQUIRE(c != NULL);
		/* A definition run 4,096 times is kept once: no limit reached. */
		CHECK(gb_cfg_run(c, "function g { function h { set x=1; }; }\n"
		    "function a { g; g; g; g; g; g; g; g; }\nfunction b { a; a; a; a; a; a; a; a; }\n"
		    "function d { b; b; b; b; b; b; b; b; }\nd; d; d; d; d; d; d; d\nh\n", err,
		    sizeof(err)) == 0);
		CHECK_STR(gb_cfg_get(c, "x"), "1");
		CHECK(strstr(gb_cfg_messages(c), "function definitions") == NULL);
		/* 300 functions: the first 256 in all are kept, the rest refused. */
		for (int i = 0; i < 300; i++)
			at += (size_t)snprintf(defs + at, sizeof(defs) - at, "function f%d { set y=%d; }\n",
			    i, i);
		snprintf(defs + at, sizeof(defs) - at, "f200\nset first=$y\nf299\n");
		CHECK(gb_cfg_run(c, defs, err, sizeof(err)) == 0);
		CHECK_STR(gb_cfg_get(c, "first"), "200");
		CHECK_STR(gb_cfg_get(c, "y"), "200");
		CHECK(strstr(gb_cfg_messages(c), "more than 256 function definitions") != NULL);
		CHECK(strstr(gb_cfg_messages(c), "unknown command: f299") != NULL);
		gb_cfg_free(c);
	}
}

static void cfg_debian_installer(void)
{
	const char *path = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/grub/grub.cfg";
	const struct gb_entry *e;
	struct gb_cfg *c;
	struct gb_boot b;
	char err[256];
	size_t len;
	char *text = (char *)gt_slurp(path, &len);

	if (text == NULL) {
		gt_skip("%s missing (debian-installer-12-netboot-amd64)", path);
		return;
	}
	c = gb_cfg_new(&fake_ops);
	REQUIRE(c != NULL);
	if (gb_cfg_run(c, text, err, sizeof(err)) < 0)
		gt_fail(__FILE__, __LINE__, "%s", err);
	CHECK_STR(gb_cfg_messages(c), "");	/* every command known or skipped */
	REQUIRE(gb_cfg_nentries(c) == 3);
	CHECK_STR(gb_cfg_entry(c, 0)->title, "Install");
	CHECK(gb_cfg_entry(c, 1)->submenu);
	CHECK_EQ(gb_cfg_entry(c, 1)->hotkey, 'a');
	CHECK(gb_cfg_entry(c, 1)->nsub >= 7);
	CHECK_STR(gb_cfg_entry(c, 2)->title, "Accessible dark contrast installer menu ...");
	CHECK_EQ(gb_cfg_entry(c, 2)->hotkey, 'd');
	/* Skipped commands succeed: background_image took the first branch. */
	CHECK_STR(gb_cfg_get(c, "color_normal"), "light-gray/black");
	CHECK_STR(gb_cfg_get(c, "font"), "unicode");	/* a bare assignment */
	e = gb_cfg_default(c);
	REQUIRE(e != NULL);
	CHECK_STR(e->title, "Install");
	REQUIRE(gb_cfg_boot(c, e, true, &b, err, sizeof(err)) == 0);
	CHECK_STR(b.kernel_path, "/debian-installer/amd64/linux");
	CHECK_STR(b.cmdline, "BOOT_IMAGE=/debian-installer/amd64/linux vga=788 console=ttyS0 --- quiet");
	REQUIRE(b.ninitrd == 1);
	CHECK_STR(b.initrd_path[0], "/debian-installer/amd64/initrd.gz");
	gb_boot_free(&b);
	/* The expert install in the advanced submenu, console left alone. */
	gb_cfg_set(c, "default", "1>0");
	e = gb_cfg_default(c);
	REQUIRE(e != NULL);
	CHECK_STR(e->title, "... Expert install");
	REQUIRE(gb_cfg_boot(c, e, false, &b, err, sizeof(err)) == 0);
	CHECK_STR(b.cmdline, "BOOT_IMAGE=/debian-installer/amd64/linux priority=low vga=788 ---");
	gb_boot_free(&b);
	gb_cfg_free(c);
	free(text);
}

/* grub.cfg from Debian's /etc/grub.d (test_grub.sh ran them on the ext4 image),
 * read through the loader: its search --fs-uuid finds the GPT partition. */
static void cfg_grub_mkconfig(void)
{
	struct gb_devmap m;
	struct gb_loader l;
	struct gb_cfg_ops ops;
	const struct gb_entry *e;
	struct gb_cfg *c;
	struct gb_boot b;
	char text[1024], err[256], *cfg, want[512];
	size_t len;

	SKIP_IF_NO_DIR();
	cfg = (char *)gt_slurp(gt_path("mkconfig.cfg"), &len);
	if (cfg == NULL) {
		gt_skip("the /etc/grub.d scripts did not run (see test_grub.sh's output)");
		return;
	}
	snprintf(text, sizeof(text), "(hd0) %s\n(cd0) %s\n", gt_path("gpt.img"), gt_path("cd.iso"));
	REQUIRE(gb_devmap_parse(&m, text, err, sizeof(err)) == 0);
	gb_loader_init(&l, &m, NULL);
	ops = gb_loader_ops(&l);
	c = gb_cfg_new(&ops);
	REQUIRE(c != NULL);
	if (gb_cfg_run(c, cfg, err, sizeof(err)) < 0)
		gt_fail(__FILE__, __LINE__, "%s", err);
	CHECK_EQ(gb_cfg_timeout(c), 5);
	REQUIRE(gb_cfg_nentries(c) == 2);
	CHECK_STR(gb_cfg_entry(c, 0)->title, "Debian GNU/Linux");
	CHECK(strncmp(gb_cfg_entry(c, 0)->id, "gnulinux-simple-", 16) == 0);
	CHECK(gb_cfg_entry(c, 1)->submenu && gb_cfg_entry(c, 1)->nsub >= 2);
	e = gb_cfg_default(c);
	REQUIRE(e != NULL);
	REQUIRE(gb_cfg_boot(c, e, true, &b, err, sizeof(err)) == 0);
	CHECK_STR(b.kernel_dev, "hd0,gpt2");
	CHECK(strncmp(b.kernel_path, "/boot/vmlinuz-", 14) == 0);
	snprintf(want, sizeof(want), "BOOT_IMAGE=%s root=", b.kernel_path);
	CHECK(strncmp(b.cmdline, want, strlen(want)) == 0);
	CHECK(strstr(b.cmdline, " ro net.ifnames=0 quiet console=ttyS0") != NULL);
	CHECK(b.ninitrd == 1 && strncmp(b.initrd_path[0], "/boot/initrd.img-", 17) == 0);
	CHECK(b.ninitrd == 1 && strcmp(b.initrd_dev[0], "hd0,gpt2") == 0);
	gb_boot_free(&b);
	gb_cfg_free(c);
	gb_loader_fini(&l);
	free(cfg);
}

/* console=ttyS0 goes before "--" (the kernel hands what follows to init). */
static void cfg_console_before_init_args(void)
{
	struct gb_cfg *c = gb_cfg_new(&fake_ops);
	struct gb_boot b;
	char err[256] = "";

	REQUIRE(c != NULL);
	REQUIRE(gb_cfg_run(c, "menuentry 'x' { linux /k ro -- single x=1 }\n", err, sizeof(err)) == 0);
	REQUIRE(gb_cfg_boot(c, gb_cfg_default(c), true, &b, err, sizeof(err)) == 0);
	CHECK_STR(b.cmdline, "BOOT_IMAGE=/k ro console=ttyS0 -- single x=1");
	gb_boot_free(&b);
	gb_cfg_free(c);
}

void suite_cfg(void)
{
	RUN(cfg_every_construct);
	RUN(cfg_errors);
	RUN(cfg_debian_installer);
	RUN(cfg_grub_mkconfig);
	RUN(cfg_console_before_init_args);
}
