/* SMBIOS: the table is walked structure by structure here, then read back by
 * dmidecode from a --dump-bin style file (entry point at 0, table at 0x20). */
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "config.h"
#include "fake_vmmapi.h"
#include "firmware.h"
#include "test.h"
#include "util.h"

/* Not yet in firmware.h. */
void smbios_set_table_address(uint32_t addr);

#define GIB	(1ULL << 30)
#define MIB	(1ULL << 20)
#define TEST_UUID	"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

/* ---- helpers --------------------------------------------------------------- */

static struct bhyve_params params(int sockets, int cores, int threads)
{
	struct bhyve_params p = { .name = "smbiosvm", .sockets = sockets, .cores = cores,
	    .threads = threads, .ncpus = sockets * cores * threads };

	return p;
}

static int build(uint64_t low, uint64_t high, const struct bhyve_params *p)
{
	struct vmctx *ctx = fake_vm_create(low, high);
	int rc;

	if (ctx == NULL)
		return -1;
	rc = smbios_build(ctx, p);
	vm_destroy(ctx);
	return rc;
}

static int build_default(uint64_t low, uint64_t high)
{
	struct bhyve_params p = params(1, 1, 1);

	return build(low, high, &p);
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

/* The structure of the given type, the nth of them; NULL when there is none. */
static const uint8_t *find_struct(uint8_t type, int nth)
{
	const struct fw_blob *t = smbios_table();
	size_t off = 0;

	while (t != NULL && off + 4 <= t->len) {
		const uint8_t *s = t->data + off;
		size_t end = off + s[1];

		if (s[0] == type && nth-- == 0)
			return s;
		while (end + 1 < t->len && (t->data[end] || t->data[end + 1]))
			end++;
		off = end + 2;
	}
	return NULL;
}

static const char *dmidecode_path(void)
{
	static const char *const paths[] = { "/usr/sbin/dmidecode", "/sbin/dmidecode",
	    "/usr/bin/dmidecode", "/usr/local/sbin/dmidecode" };

	for (size_t i = 0; i < nitems(paths); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Runs dmidecode on a dump of the current tables (args: extra options, e.g.
 * "-t 4"); returns its stdout and stderr together, or NULL. */
static char *dmidecode(const char *args)
{
	const struct fw_blob *ep = smbios_entry(), *tab = smbios_table();
	char path[] = "/tmp/bhyve-smbios-XXXXXX", cmd[256];
	uint8_t head[0x20] = { 0 };
	char *out = NULL;
	size_t cap = 0;
	FILE *fp;
	int fd;

	if (ep == NULL || tab == NULL || ep->len > sizeof(head) || (fd = mkstemp(path)) < 0)
		return NULL;
	/* As dmidecode --dump-bin writes it: the table address is 0x20, the
	 * checksums fixed up for that. */
	memcpy(head, ep->data, ep->len);
	head[0x18] = 0x20;
	head[0x19] = head[0x1a] = head[0x1b] = 0;
	head[0x15] = 0;
	head[0x15] = (uint8_t)-sum8(head + 0x10, 0x0f);
	head[0x04] = 0;
	head[0x04] = (uint8_t)-sum8(head, ep->len);
	if (write(fd, head, sizeof(head)) != (ssize_t)sizeof(head) ||
	    write(fd, tab->data, tab->len) != (ssize_t)tab->len) {
		close(fd);
		unlink(path);
		return NULL;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s --from-dump %s %s 2>&1", dmidecode_path(), path, args);
	fp = popen(cmd, "r");
	if (fp != NULL) {
		/* The whole output: it holds no NUL. */
		if (getdelim(&out, &cap, '\0', fp) < 0) {
			free(out);
			out = NULL;
		}
		pclose(fp);
	}
	unlink(path);
	return out;
}

/* What dmidecode says when it finds something wrong. */
static const char *complaint(const char *out)
{
	static const char *const words[] = { "checksum", "Checksum", "Invalid entry", "wrong",
	    "truncated", "Truncated", "No SMBIOS", "Bad", "invalid" };

	for (size_t i = 0; i < nitems(words); i++)
		if (strstr(out, words[i]) != NULL)
			return words[i];
	return NULL;
}

static int count(const char *out, const char *what)
{
	int n = 0;

	for (const char *s = out; (s = strstr(s, what)) != NULL; s += strlen(what))
		n++;
	return n;
}

/* Runs dmidecode and fails the test on a complaint; NULL (and a skip or a
 * failure recorded) when there is no output to check. */
static char *dmidecode_checked(const char *args)
{
	char *out;
	const char *bad;

	if (dmidecode_path() == NULL) {
		test_skip("dmidecode is not installed (apt-get install dmidecode)");
		return NULL;
	}
	out = dmidecode(args);
	CHECK_MSG(out != NULL, "could not run dmidecode %s", args);
	if (out == NULL)
		return NULL;
	bad = complaint(out);
	CHECK_MSG(bad == NULL, "dmidecode %s complained (\"%s\"):\n%s", args, bad, out);
	return out;
}

#define CHECK_HAS(out, text) \
	CHECK_MSG(strstr((out), (text)) != NULL, "no \"%s\" in dmidecode's output:\n%s", \
	    (text), (out))

/* ---- tests ----------------------------------------------------------------- */

static void smbios_table_is_well_formed(void)
{
	const struct fw_blob *ep, *t;
	size_t off = 0, max = 0;
	int n = 0;
	bool handles[64] = { false };
	uint8_t last = 0;

	free_config();
	REQUIRE(build_default(3 * GIB, 2 * GIB) == 0);
	ep = smbios_entry();
	t = smbios_table();
	REQUIRE(ep != NULL && t != NULL);
	REQUIRE(ep->len == 0x1f);
	CHECK(memcmp(ep->data, "_SM_", 4) == 0);
	CHECK(memcmp(ep->data + 0x10, "_DMI_", 5) == 0);
	CHECK_EQ(ep->data[0x05], 0x1f);
	CHECK_EQ(ep->data[0x06], 2);
	CHECK_EQ(ep->data[0x07], 8);
	CHECK_EQ(ep->data[0x1e], 0x28);
	CHECK_EQ(sum8(ep->data, ep->len), 0);
	CHECK_EQ(sum8(ep->data + 0x10, 0x0f), 0);
	CHECK_EQ(le32(ep->data + 0x18), 0);	/* the firmware places the table */
	CHECK_EQ(le16(ep->data + 0x16), t->len);
	while (off < t->len) {
		const uint8_t *s = t->data + off;
		size_t end;

		REQUIRE(off + 4 <= t->len && s[1] >= 4 && off + s[1] + 2 <= t->len);
		CHECK_MSG(le16(s + 2) < nitems(handles) && !handles[le16(s + 2)],
		    "handle %u of type %u repeated or out of range", le16(s + 2), s[0]);
		if (le16(s + 2) < nitems(handles))
			handles[le16(s + 2)] = true;
		/* The string set ends at the first double NUL after the formatted area. */
		end = off + s[1];
		while (end + 1 < t->len && (t->data[end] || t->data[end + 1]))
			end++;
		REQUIRE(end + 1 < t->len);
		if (end + 2 - off > max)
			max = end + 2 - off;
		last = s[0];
		off = end + 2;
		n++;
	}
	CHECK_EQ(off, t->len);
	CHECK_EQ(last, 127);
	CHECK_EQ(le16(ep->data + 0x1c), n);
	CHECK_EQ(le16(ep->data + 0x08), max);
	/* 0, 1, 2, 3, 4, 16, 17, 19 twice, 32, 127 */
	CHECK_EQ(n, 11);
	/* The memory device and both mapped ranges name the memory array. */
	REQUIRE(find_struct(16, 0) && find_struct(17, 0) && find_struct(19, 1));
	CHECK_EQ(le16(find_struct(17, 0) + 4), le16(find_struct(16, 0) + 2));
	CHECK_EQ(le16(find_struct(19, 1) + 0x0c), le16(find_struct(16, 0) + 2));
	/* The board names the chassis. */
	REQUIRE(find_struct(2, 0) && find_struct(3, 0));
	CHECK_EQ(le16(find_struct(2, 0) + 0x0b), le16(find_struct(3, 0) + 2));
}

static void smbios_dmidecode_reads_whole_table(void)
{
	char *out;

	free_config();
	REQUIRE(build_default(128 * MIB, 0) == 0);
	out = dmidecode_checked("");
	if (out == NULL)
		return;
	CHECK_HAS(out, "SMBIOS 2.8 present.");
	CHECK_HAS(out, "BIOS Information");
	CHECK_HAS(out, "System Information");
	CHECK_HAS(out, "Base Board Information");
	CHECK_HAS(out, "Chassis Information");
	CHECK_HAS(out, "Processor Information");
	CHECK_HAS(out, "Physical Memory Array");
	CHECK_HAS(out, "Memory Device");
	CHECK_HAS(out, "Memory Array Mapped Address");
	CHECK_HAS(out, "System Boot Information");
	CHECK_HAS(out, "Status: No errors detected");
	CHECK_HAS(out, "End Of Table");
	CHECK_HAS(out, "10 structures occupying");
	free(out);
}

static void smbios_strings_default_to_bhyves(void)
{
	char *out;

	free_config();
	REQUIRE(build_default(128 * MIB, 0) == 0);
	out = dmidecode_checked("-t 0 -t 1 -t 2 -t 3");
	if (out == NULL)
		return;
	CHECK_HAS(out, "Vendor: BHYVE");
	CHECK_HAS(out, "Version: 14.0");
	CHECK_HAS(out, "Release Date: 10/17/2023");
	CHECK_HAS(out, "BIOS Revision: 14.0");
	CHECK_HAS(out, "PCI is supported");
	CHECK_HAS(out, "System is a virtual machine");
	CHECK_HAS(out, "Manufacturer: FreeBSD");
	CHECK_HAS(out, "Product Name: BHYVE");
	CHECK_HAS(out, "Serial Number: None");
	CHECK_HAS(out, "Wake-up Type: Power Switch");
	CHECK_HAS(out, "SKU Number: None");
	CHECK_HAS(out, "Family: Virtual Machine");
	CHECK_HAS(out, "Type: Motherboard");
	CHECK_HAS(out, "Type: Other");
	CHECK_EQ(count(out, "Manufacturer: FreeBSD"), 3);
	free(out);
}

static void smbios_strings_follow_config_keys(void)
{
	static const char *const kv[][2] = {
		{ "bios.vendor", "Acme BIOS" }, { "bios.version", "2.7" },
		{ "bios.release_date", "01/02/2034" },
		{ "system.manufacturer", "Acme Systems" }, { "system.product_name", "Roadrunner" },
		{ "system.version", "v9" }, { "system.serial_number", "SN-1234" },
		{ "system.sku", "SKU-77" }, { "system.family_name", "Cartoon" },
		{ "board.manufacturer", "Acme Boards" }, { "board.product_name", "Mainboard X" },
		{ "board.version", "rev B" }, { "board.serial_number", "BSN-5" },
		{ "board.asset_tag", "Asset-B" }, { "board.location", "Slot 3" },
		{ "chassis.manufacturer", "Acme Cases" }, { "chassis.version", "c2" },
		{ "chassis.serial_number", "CSN-6" }, { "chassis.asset_tag", "Asset-C" },
		{ "chassis.sku", "CSKU-8" },
	};
	static const char *const want[] = {
		"Vendor: Acme BIOS", "Version: 2.7", "Release Date: 01/02/2034",
		"BIOS Revision: 2.7", "Manufacturer: Acme Systems", "Product Name: Roadrunner",
		"Version: v9", "Serial Number: SN-1234", "SKU Number: SKU-77", "Family: Cartoon",
		"Manufacturer: Acme Boards", "Product Name: Mainboard X", "Version: rev B",
		"Serial Number: BSN-5", "Asset Tag: Asset-B", "Location In Chassis: Slot 3",
		"Manufacturer: Acme Cases", "Version: c2", "Serial Number: CSN-6",
		"Asset Tag: Asset-C", "SKU Number: CSKU-8",
	};
	char *out;

	free_config();
	for (size_t i = 0; i < nitems(kv); i++)
		set_config_value(kv[i][0], kv[i][1]);
	REQUIRE(build_default(128 * MIB, 0) == 0);
	free_config();
	out = dmidecode_checked("-t 0 -t 1 -t 2 -t 3");
	if (out == NULL)
		return;
	for (size_t i = 0; i < nitems(want); i++)
		CHECK_HAS(out, want[i]);
	CHECK_MSG(strstr(out, "FreeBSD") == NULL && strstr(out, "BHYVE") == NULL,
	    "a default string is left:\n%s", out);
	free(out);
}

static void smbios_empty_string_is_not_specified(void)
{
	char *out;

	free_config();
	set_config_value("system.serial_number", "");
	set_config_value("bios.version", "");
	REQUIRE(build_default(128 * MIB, 0) == 0);
	free_config();
	REQUIRE(find_struct(1, 0) != NULL);
	CHECK_EQ(find_struct(1, 0)[0x07], 0);
	out = dmidecode_checked("-t 0 -t 1");
	if (out == NULL)
		return;
	CHECK_HAS(out, "Serial Number: Not Specified");
	CHECK_HAS(out, "Version: Not Specified");
	free(out);
}

static void smbios_uuid_from_config(void)
{
	static const uint8_t want[16] = { 0x3c, 0x2d, 0x1e, 0x0f, 0x5a, 0x4b, 0x78, 0x69,
	    0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0 };
	char *out;

	free_config();
	set_config_value("uuid", TEST_UUID);
	REQUIRE(build_default(128 * MIB, 0) == 0);
	free_config();
	REQUIRE(find_struct(1, 0) != NULL);
	CHECK(memcmp(find_struct(1, 0) + 8, want, 16) == 0);
	out = dmidecode_checked("-s system-uuid");
	if (out == NULL)
		return;
	CHECK_MSG(strcasecmp(out, TEST_UUID "\n") == 0, "dmidecode says %s", out);
	free(out);
	/* Upper-case digits read the same. */
	set_config_value("uuid", "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0");
	REQUIRE(build_default(128 * MIB, 0) == 0);
	free_config();
	REQUIRE(find_struct(1, 0) != NULL);
	CHECK(memcmp(find_struct(1, 0) + 8, want, 16) == 0);
}

static void smbios_uuid_derived_from_name_is_stable(void)
{
	struct bhyve_params p = params(1, 1, 1);
	uint8_t a[16], b[16], c[16];

	free_config();
	REQUIRE(build(128 * MIB, 0, &p) == 0 && find_struct(1, 0) != NULL);
	memcpy(a, find_struct(1, 0) + 8, 16);
	REQUIRE(build(256 * MIB, 0, &p) == 0 && find_struct(1, 0) != NULL);
	memcpy(b, find_struct(1, 0) + 8, 16);
	p.name = "othervm";
	REQUIRE(build(128 * MIB, 0, &p) == 0 && find_struct(1, 0) != NULL);
	memcpy(c, find_struct(1, 0) + 8, 16);
	CHECK(memcmp(a, b, 16) == 0);
	CHECK(memcmp(a, c, 16) != 0);
	CHECK_EQ(a[7] >> 4, 8);		/* RFC 9562 version 8 */
	CHECK_EQ(a[8] >> 6, 2);		/* variant 10 */
}

/* Sets arg[0] = arg[1] and expects smbios_build to refuse. */
static void refused_child(void *arg)
{
	const char *const *kv = arg;

	set_config_value(kv[0], kv[1]);
	if (build_default(128 * MIB, 0) != -1)
		_exit(CHILD_WRONG);
}

static void smbios_malformed_uuid_refused(void)
{
	static const char *const bad[] = { "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f", "not-a-uuid",
	    "0f1e2d3c4b5a-6978-8796-a5b4c3d2e1f0-", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f00",
	    "0g1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "" };
	char why[128];

	free_config();
	for (size_t i = 0; i < nitems(bad); i++) {
		const char *kv[2] = { "uuid", bad[i] };

		CHECK_MSG(child_ok(run_in_child(refused_child, kv, true), why, sizeof(why)),
		    "uuid \"%s\": %s", bad[i], why);
	}
}

/* The entry point holds the table length in 16 bits. */
static void smbios_oversized_strings_refused(void)
{
	char *big = malloc(70000), why[128];
	const char *kv[2] = { "system.manufacturer", big };

	REQUIRE(big != NULL);
	memset(big, 'x', 69999);
	big[69999] = '\0';
	free_config();
	CHECK_MSG(child_ok(run_in_child(refused_child, kv, true), why, sizeof(why)), "%s", why);
	free(big);
}

static void smbios_one_processor_per_socket(void)
{
	struct bhyve_params p = params(2, 2, 2);
	char *out;

	free_config();
	REQUIRE(build(128 * MIB, 0, &p) == 0);
	CHECK(find_struct(4, 1) != NULL && find_struct(4, 2) == NULL);
	out = dmidecode_checked("-t 4");
	if (out == NULL)
		return;
	CHECK_EQ(count(out, "Processor Information"), 2);
	CHECK_HAS(out, "Socket Designation: CPU #0");
	CHECK_HAS(out, "Socket Designation: CPU #1");
	CHECK_EQ(count(out, "Core Count: 2\n"), 2);
	CHECK_EQ(count(out, "Core Enabled: 2\n"), 2);
	CHECK_EQ(count(out, "Thread Count: 4\n"), 2);
	CHECK_EQ(count(out, "Type: Central Processor"), 2);
	CHECK_EQ(count(out, "Status: Populated, Enabled"), 2);
	CHECK_HAS(out, "64-bit capable");
	CHECK_HAS(out, "Multi-Core");
	CHECK_HAS(out, "Hardware Thread");
#if defined(__x86_64__) || defined(__i386__)
	{
		unsigned int a, b, c, d;
		char vendor[64] = "Manufacturer: ", id[64];

		__cpuid(0, a, b, c, d);
		memcpy(vendor + 14, &b, 4);
		memcpy(vendor + 18, &d, 4);
		memcpy(vendor + 22, &c, 4);
		CHECK_EQ(count(out, vendor), 2);
		/* The ID is CPUID 1's EAX then EDX, little-endian. */
		__cpuid(1, a, b, c, d);
		snprintf(id, sizeof(id), "ID: %02X %02X %02X %02X %02X %02X %02X %02X\n",
		    a & 0xff, a >> 8 & 0xff, a >> 16 & 0xff, a >> 24, d & 0xff, d >> 8 & 0xff,
		    d >> 16 & 0xff, d >> 24);
		CHECK_EQ(count(out, id), 2);
	}
#endif
	free(out);
}

static void smbios_processor_counts_above_255(void)
{
	struct bhyve_params p = params(1, 200, 2);
	const uint8_t *s;

	free_config();
	REQUIRE(build(128 * MIB, 0, &p) == 0);
	s = find_struct(4, 0);
	REQUIRE(s != NULL && s[1] >= 0x30);
	CHECK_EQ(s[0x23], 200);
	CHECK_EQ(s[0x25], 0xff);
	CHECK_EQ(le16(s + 0x2e), 400);
}

static void smbios_memory_512m(void)
{
	char *out;

	free_config();
	REQUIRE(build_default(512 * MIB, 0) == 0);
	CHECK(find_struct(19, 0) != NULL && find_struct(19, 1) == NULL);
	out = dmidecode_checked("-t 16 -t 17 -t 19");
	if (out == NULL)
		return;
	CHECK_HAS(out, "Maximum Capacity: 512 MB");
	CHECK_HAS(out, "Number Of Devices: 1");
	CHECK_HAS(out, "Size: 512 MB");
	CHECK_HAS(out, "Type: RAM");
	CHECK_EQ(count(out, "Memory Array Mapped Address"), 1);
	CHECK_HAS(out, "Starting Address: 0x00000000000");
	CHECK_HAS(out, "Ending Address: 0x0001FFFFFFF");
	CHECK_HAS(out, "Range Size: 512 MB");
	free(out);
}

static void smbios_memory_5g_has_two_ranges(void)
{
	char *out;

	free_config();
	REQUIRE(build_default(3 * GIB, 2 * GIB) == 0);
	out = dmidecode_checked("-t 16 -t 17 -t 19");
	if (out == NULL)
		return;
	CHECK_HAS(out, "Maximum Capacity: 5 GB");
	CHECK_HAS(out, "Size: 5 GB");
	CHECK_EQ(count(out, "Memory Array Mapped Address"), 2);
	CHECK_HAS(out, "Ending Address: 0x000BFFFFFFF");
	CHECK_HAS(out, "Range Size: 3 GB");
	CHECK_HAS(out, "Starting Address: 0x00100000000");
	CHECK_HAS(out, "Ending Address: 0x0017FFFFFFF");
	CHECK_HAS(out, "Range Size: 2 GB");
	free(out);
}

static void smbios_memory_large_uses_extended_fields(void)
{
	const uint8_t *s;
	char *out;

	/* 64 GiB: the memory device size no longer fits its 15 bits of MiB. */
	free_config();
	REQUIRE(build_default(3 * GIB, 61 * GIB) == 0);
	s = find_struct(17, 0);
	REQUIRE(s != NULL);
	CHECK_EQ(le16(s + 0x0c), 0x7fff);
	CHECK_EQ(le32(s + 0x1c), 64 * 1024);
	out = dmidecode_checked("-t 17");
	if (out != NULL) {
		CHECK_HAS(out, "Size: 64 GB");
		free(out);
	}
	/* 8 TiB: so do the array's capacity and the mapped range's addresses. */
	REQUIRE(build_default(3 * GIB, 8189 * GIB) == 0);
	s = find_struct(16, 0);
	REQUIRE(s != NULL);
	CHECK_EQ(le32(s + 0x07), 0x80000000u);
	s = find_struct(19, 1);
	REQUIRE(s != NULL);
	CHECK_EQ(le32(s + 0x04), 0xffffffffu);
	out = dmidecode_checked("-t 16 -t 17 -t 19");
	if (out != NULL) {
		CHECK_HAS(out, "Maximum Capacity: 8 TB");
		CHECK_HAS(out, "Size: 8 TB");
		/* dmidecode 3.4 prints a stray "k" after extended addresses. */
		CHECK_HAS(out, "Starting Address: 0x0000000100000000");
		CHECK_HAS(out, "Ending Address: 0x000008003FFFFFFF");
		CHECK_HAS(out, "Range Size: 8189 GB");
		free(out);
	}
}

static void smbios_table_address_keeps_checksums(void)
{
	const struct fw_blob *ep;

	free_config();
	REQUIRE(build_default(128 * MIB, 0) == 0);
	ep = smbios_entry();
	REQUIRE(ep != NULL);
	smbios_set_table_address(0x000f1230);
	CHECK_EQ(le32(ep->data + 0x18), 0x000f1230);
	CHECK_EQ(sum8(ep->data, ep->len), 0);
	CHECK_EQ(sum8(ep->data + 0x10, 0x0f), 0);
	smbios_set_table_address(0);
	CHECK_EQ(sum8(ep->data, ep->len), 0);
}

static void install_child(void *arg)
{
	(void)arg;
	if (smbios_install_fwcfg() != 0)
		_exit(CHILD_WRONG);
}

/* In a child, so that the files do not stay in the parent's fw_cfg directory. */
static void smbios_installs_anchor_and_tables(void)
{
	char why[128];

	free_config();
	REQUIRE(build_default(128 * MIB, 0) == 0);
	CHECK_MSG(child_ok(run_in_child(install_child, NULL, false), why, sizeof(why)), "%s", why);
}

void suite_smbios(void)
{
	RUN(smbios_table_is_well_formed);
	RUN(smbios_dmidecode_reads_whole_table);
	RUN(smbios_strings_default_to_bhyves);
	RUN(smbios_strings_follow_config_keys);
	RUN(smbios_empty_string_is_not_specified);
	RUN(smbios_uuid_from_config);
	RUN(smbios_uuid_derived_from_name_is_stable);
	RUN(smbios_malformed_uuid_refused);
	RUN(smbios_oversized_strings_refused);
	RUN(smbios_one_processor_per_socket);
	RUN(smbios_processor_counts_above_255);
	RUN(smbios_memory_512m);
	RUN(smbios_memory_5g_has_two_ranges);
	RUN(smbios_memory_large_uses_extended_fields);
	RUN(smbios_table_address_keeps_checksums);
	RUN(smbios_installs_anchor_and_tables);
	free_config();
}
