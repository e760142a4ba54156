/* The config tree (bhyve/config.h). Each test starts from an empty tree. */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static void config_set_get_roundtrip(void)
{
	free_config();
	CHECK(get_config_value("memory.size") == NULL);
	set_config_value("memory.size", "512M");
	set_config_value("name", "vm0");
	CHECK_STR(get_config_value("memory.size"), "512M");
	CHECK_STR(get_config_value("name"), "vm0");
	CHECK(get_config_value("memory") == NULL);
	CHECK(get_config_value("memory.siz") == NULL);
	free_config();
	CHECK(get_config_value("memory.size") == NULL);
}

static void config_overwrite_replaces_value(void)
{
	free_config();
	set_config_value("a.b", "one");
	set_config_value("a.b", "two");
	CHECK_STR(get_config_value("a.b"), "two");
	set_config_bool("a.c", true);
	CHECK_STR(get_config_value("a.c"), "true");
	set_config_bool("a.c", false);
	CHECK_STR(get_config_value("a.c"), "false");
	free_config();
}

static void config_unset_removes_only_that_key(void)
{
	free_config();
	set_config_value("a.a", "1");
	set_config_value("a.b", "2");
	set_config_value("a.c", "3");
	unset_config_value("a.b");
	unset_config_value("a.missing");	/* no-op */
	CHECK(get_config_value("a.b") == NULL);
	CHECK_STR(get_config_value("a.a"), "1");
	CHECK_STR(get_config_value("a.c"), "3");
	set_config_value("a.b", "again");
	CHECK_STR(get_config_value("a.b"), "again");
	unset_config_value("a.a");
	unset_config_value("a.b");
	unset_config_value("a.c");
	CHECK(!config_node_exists("a"));
	free_config();
}

static int collect_key(const char *key, const char *value, void *arg)
{
	char *buf = arg;

	strcat(buf, key);
	strcat(buf, "=");
	strcat(buf, value);
	strcat(buf, ";");
	return strcmp(key, "stop") == 0 ? 7 : 0;
}

static void config_foreach_key_lists_leaves_only(void)
{
	char buf[256] = "";

	free_config();
	set_config_value("pci.0.3.0.device", "virtio-blk");
	set_config_value("pci.0.3.0.path", "disk.img");
	set_config_value("pci.0.3.0.sub.key", "deeper");	/* a child node, not a key */
	set_config_value("pci.0.3.1.device", "other");		/* a sibling node */
	set_config_value("pci.0.3.00", "prefix, not below");
	CHECK_EQ(config_foreach_key("pci.0.3.0", collect_key, buf), 0);
	CHECK_STR(buf, "device=virtio-blk;path=disk.img;");
	/* A non-zero return stops the walk and is passed on. */
	buf[0] = '\0';
	set_config_value("pci.0.3.0.stop", "x");
	set_config_value("pci.0.3.0.zzz", "never seen");
	CHECK_EQ(config_foreach_key("pci.0.3.0", collect_key, buf), 7);
	CHECK_STR(buf, "device=virtio-blk;path=disk.img;stop=x;");
	free_config();
}

static void config_node_values_join_with_dot(void)
{
	free_config();
	set_config_value_node("pci.0.3.0", "path", "disk.img");
	CHECK_STR(get_config_value("pci.0.3.0.path"), "disk.img");
	CHECK_STR(get_config_value_node("pci.0.3.0", "path"), "disk.img");
	CHECK(get_config_value_node("pci.0.3.0", "ro") == NULL);
	free_config();
}

static void config_bool_accepts_all_spellings(void)
{
	static const char *const yes[] = { "true", "on", "yes", "1", "TRUE", "On", "YES" };
	static const char *const no[] = { "false", "off", "no", "0", "False", "OFF", "No" };
	bool b;

	free_config();
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		set_config_value("x.b", yes[i]);
		b = false;
		CHECK_MSG(get_config_bool_default("x.b", false, &b) == 0 && b, "\"%s\" not true", yes[i]);
		CHECK_MSG(config_bool("x.b", false), "config_bool(\"%s\") not true", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		set_config_value("x.b", no[i]);
		b = true;
		CHECK_MSG(get_config_bool_default("x.b", true, &b) == 0 && !b, "\"%s\" not false", no[i]);
	}
	set_config_value("n.k", "yes");
	CHECK(get_config_bool_node_default("n", "k", false, &b) == 0 && b);
	free_config();
}

static void config_bool_rejects_junk(void)
{
	static const char *const junk[] = { "maybe", "", "2", "tru", "yess", " true", "0x1" };
	bool b;

	free_config();
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		set_config_value("x.b", junk[i]);
		CHECK_MSG(get_config_bool_default("x.b", false, &b) == -1, "\"%s\" accepted", junk[i]);
		/* config_bool is for validated keys: junk falls back to the default. */
		CHECK(config_bool("x.b", true) == true);
	}
	free_config();
}

static void config_bool_default_when_unset(void)
{
	bool b = false;

	free_config();
	CHECK(get_config_bool_default("no.such", true, &b) == 0 && b);
	CHECK(get_config_bool_default("no.such", false, &b) == 0 && !b);
	CHECK(config_bool("no.such", true));
}

static void config_node_exists_only_above_keys(void)
{
	free_config();
	set_config_value("a.b.c", "1");
	set_config_value("a.bx", "2");
	set_config_value("x.yz.w", "3");
	CHECK(config_node_exists("a"));
	CHECK(config_node_exists("a.b"));
	CHECK(!config_node_exists("a.b.c"));	/* a leaf, not a node */
	CHECK(!config_node_exists("a.b.c.d"));
	CHECK(!config_node_exists("a.bx"));
	CHECK(!config_node_exists("x.y"));	/* only a prefix of "x.yz" */
	CHECK(config_node_exists("x.yz"));
	CHECK(!config_node_exists("b"));
	free_config();
	CHECK(!config_node_exists("a"));
}

struct children {
	char names[16][32];
	int n;
};

static void collect_child(const char *child, void *arg)
{
	struct children *c = arg;

	if (c->n < 16)
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s", child);
	c->n++;
}

static int count_child(const struct children *c, const char *name)
{
	int k = 0;

	for (int i = 0; i < c->n && i < 16; i++)
		if (strcmp(c->names[i], name) == 0)
			k++;
	return k;
}

static void config_foreach_child_lists_each_once(void)
{
	struct children c = { .n = 0 };

	free_config();
	set_config_value("pci.0.1.0.device", "a");
	set_config_value("pci.0.1.0.path", "p");
	set_config_value("pci.0.1.1.device", "b");
	set_config_value("pci.0.10.0.device", "c");
	set_config_value("pci.0.2.0.device", "d");
	set_config_value("pci.0.1-x.0.device", "e");	/* sorts before "pci.0.1." */
	set_config_value("pci.0.leaf", "not a child node");
	set_config_value("pci.1.5.0.device", "other bus");
	set_config_value("pcix.0.9.0.device", "other tree");
	config_foreach_child("pci.0", collect_child, &c);
	CHECK_EQ(c.n, 4);
	CHECK_EQ(count_child(&c, "1"), 1);
	CHECK_EQ(count_child(&c, "10"), 1);
	CHECK_EQ(count_child(&c, "2"), 1);
	CHECK_EQ(count_child(&c, "1-x"), 1);
	CHECK_EQ(count_child(&c, "leaf"), 0);

	c.n = 0;
	config_foreach_child("pci", collect_child, &c);
	CHECK_EQ(c.n, 2);
	CHECK_EQ(count_child(&c, "0"), 1);
	CHECK_EQ(count_child(&c, "1"), 1);

	c.n = 0;
	config_foreach_child("nothing", collect_child, &c);
	CHECK_EQ(c.n, 0);
	free_config();
}

static void config_set_pair_errors(void)
{
	free_config();
	CHECK(set_config_pair("novalue") == -1);
	CHECK(set_config_pair("=x") == -1);
	CHECK(set_config_pair("") == -1);
	CHECK(set_config_pair("a.b=") == 0);
	CHECK_STR(get_config_value("a.b"), "");
	CHECK(set_config_pair("a.c=x=y") == 0);
	CHECK_STR(get_config_value("a.c"), "x=y");
	free_config();
}

static char *write_file(const char *text)
{
	char *path = strdup("/tmp/bhyve-unit-cfg-XXXXXX");
	int fd;

	if (path == NULL)
		return NULL;
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		if (fd >= 0)
			close(fd);
		free(path);
		return NULL;
	}
	close(fd);
	return path;
}

static void config_load_file_skips_comments_and_blanks(void)
{
	char *p = write_file("# a comment\n\n   \nname=vm1\n  # indented comment\n"
	    "\tmemory.size=1G  \npci.0.3.0.device=virtio-blk\nlpc.com1.path=tcp=1.2.3.4:5\n");

	REQUIRE(p != NULL);
	free_config();
	CHECK(load_config_file(p) == 0);
	CHECK_STR(get_config_value("name"), "vm1");
	CHECK_STR(get_config_value("memory.size"), "1G");
	CHECK_STR(get_config_value("pci.0.3.0.device"), "virtio-blk");
	CHECK_STR(get_config_value("lpc.com1.path"), "tcp=1.2.3.4:5");
	CHECK(get_config_value("# a comment") == NULL);
	unlink(p);
	free(p);
	free_config();
}

static void config_load_file_rejects_bad_line(void)
{
	char *p = write_file("x=1\nthis line has no equals sign\ny=2\n");
	char *q = write_file("=novalue\n");

	REQUIRE(p != NULL && q != NULL);
	free_config();
	CHECK(load_config_file(p) == -1);
	CHECK_STR(get_config_value("x"), "1");
	CHECK(get_config_value("y") == NULL);	/* stops at the bad line */
	CHECK(load_config_file(q) == -1);
	CHECK(load_config_file("/nonexistent/bhyve-unit.cfg") == -1);
	unlink(p);
	unlink(q);
	free(p);
	free(q);
	free_config();
}

static void config_dump_is_sorted_key_value_lines(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	REQUIRE(fp != NULL);
	free_config();
	set_config_value("name", "vm");
	set_config_value("cpus", "2");
	set_config_value("pci.0.3.0.device", "virtio-net");
	set_config_value("memory.size", "1G");
	set_config_value("cpus", "4");
	dump_config(fp);
	fclose(fp);
	CHECK_STR(buf, "cpus=4\nmemory.size=1G\nname=vm\npci.0.3.0.device=virtio-net\n");
	free(buf);
	free_config();
}

void suite_config(void)
{
	RUN(config_set_get_roundtrip);
	RUN(config_overwrite_replaces_value);
	RUN(config_unset_removes_only_that_key);
	RUN(config_foreach_key_lists_leaves_only);
	RUN(config_node_values_join_with_dot);
	RUN(config_bool_accepts_all_spellings);
	RUN(config_bool_rejects_junk);
	RUN(config_bool_default_when_unset);
	RUN(config_node_exists_only_above_keys);
	RUN(config_foreach_child_lists_each_once);
	RUN(config_set_pair_errors);
	RUN(config_load_file_skips_comments_and_blanks);
	RUN(config_load_file_rejects_bad_line);
	RUN(config_dump_is_sorted_key_value_lines);
}
