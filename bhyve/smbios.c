/* SMBIOS (DMTF DSP0134): the structures bhyve gives its guests, behind a
 * 32-bit 2.8 entry point ("_SM_" with "_DMI_"). The table is built once from
 * the config tree and the VM; fw_cfg hands both to SeaBIOS/OVMF, which place
 * them in guest memory and fix up the table address themselves. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "config.h"
#include "firmware.h"
#include "fwcfg.h"
#include "util.h"
#include "vmmapi.h"

#define SMBIOS_MAJOR	2
#define SMBIOS_MINOR	8
#define EP_LEN		0x1f	/* the 2.1 entry point */
#define EP_IEPS		0x10	/* the intermediate ("_DMI_") part */
#define MAX_STRINGS	8
#define MAX_FORMATTED	0x30	/* the longest formatted area written (type 4) */

#define HANDLE_NONE	0xffff	/* "no such structure" in cache handle fields */
#define HANDLE_NOINFO	0xfffe	/* "not provided" in error information fields */

/* bhyve's defaults; each is overridable through the config key beside it. */
static const struct {
	const char *key, *def;
} defaults[] = {
	{ "bios.vendor", "BHYVE" },
	{ "bios.version", "14.0" },
	{ "bios.release_date", "10/17/2023" },
	{ "system.manufacturer", "FreeBSD" },
	{ "system.product_name", "BHYVE" },
	{ "system.version", "1.0" },
	{ "system.serial_number", "None" },
	{ "system.sku", "None" },
	{ "system.family_name", "Virtual Machine" },
	{ "board.manufacturer", "FreeBSD" },
	{ "board.product_name", "BHYVE" },
	{ "board.version", "1.0" },
	{ "board.serial_number", "None" },
	{ "board.asset_tag", "None" },
	{ "board.location", "None" },
	{ "chassis.manufacturer", "FreeBSD" },
	{ "chassis.version", "1.0" },
	{ "chassis.serial_number", "None" },
	{ "chassis.asset_tag", "None" },
	{ "chassis.sku", "None" },
};

/* One structure while it is filled in: the formatted area and its strings. */
struct rec {
	uint8_t f[MAX_FORMATTED];
	const char *str[MAX_STRINGS];
	int nstr;
};

/* The table under construction. */
struct table {
	uint8_t *data;
	size_t len, cap;
	uint16_t next_handle, count;
	size_t max_struct;
};

static uint8_t ep_data[EP_LEN];
static struct fw_blob ep_blob = { .name = "smbios-anchor" };
static struct fw_blob tab_blob = { .name = "smbios-tables" };
static bool built;

static const char *cfg(const char *key)
{
	const char *v = get_config_value(key);

	if (v != NULL)
		return v;
	for (size_t i = 0; i < nitems(defaults); i++)
		if (strcmp(defaults[i].key, key) == 0)
			return defaults[i].def;
	return NULL;
}

static void rec_init(struct rec *r, uint8_t type, uint8_t len)
{
	memset(r, 0, sizeof(*r));
	r->f[0] = type;
	r->f[1] = len;
}

/* The string's number in the structure's set; 0 ("none") for NULL or "",
 * which a string set cannot hold. */
static uint8_t rec_str(struct rec *r, const char *s)
{
	if (s == NULL || *s == '\0' || r->nstr == MAX_STRINGS)
		return 0;
	r->str[r->nstr++] = s;
	return (uint8_t)r->nstr;
}

static void table_append(struct table *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		while (t->len + n > t->cap)
			t->cap = t->cap ? t->cap * 2 : 1024;
		t->data = xrealloc(t->data, t->cap);
	}
	memcpy(t->data + t->len, p, n);
	t->len += n;
}

/* Gives the structure the next handle and appends it with its string set:
 * each string NUL-terminated and one more NUL after the set (two NULs when
 * the set is empty). Returns the handle. */
static uint16_t rec_commit(struct table *t, struct rec *r)
{
	size_t start = t->len;
	uint16_t h = t->next_handle++;

	le_put(&r->f[2], h, 2);
	table_append(t, r->f, r->f[1]);
	for (int i = 0; i < r->nstr; i++)
		table_append(t, r->str[i], strlen(r->str[i]) + 1);
	if (r->nstr == 0)
		table_append(t, "", 1);
	table_append(t, "", 1);
	t->count++;
	if (t->len - start > t->max_struct)
		t->max_struct = t->len - start;
	return h;
}

/* "8-4-4-4-12" hex digits; SMBIOS 2.6 and later store the first three
 * fields little-endian and the rest in the order written. */
static int parse_uuid(const char *s, uint8_t out[16])
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	uint8_t be[16];
	int n = 0;

	for (size_t g = 0; g < nitems(groups); g++) {
		for (int i = 0; i < groups[g]; i += 2) {
			char hex[3] = { s[0], s[0] ? s[1] : '\0', '\0' };

			if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
				return -1;
			be[n++] = (uint8_t)strtoul(hex, NULL, 16);
			s += 2;
		}
		if (g < nitems(groups) - 1 && *s++ != '-')
			return -1;
	}
	if (*s != '\0')
		return -1;
	for (int i = 0; i < 4; i++)
		out[i] = be[3 - i];
	out[4] = be[5];
	out[5] = be[4];
	out[6] = be[7];
	out[7] = be[6];
	memcpy(out + 8, be + 8, 8);
	return 0;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Without a configured uuid, as bhyve(8) says: one generated from the host
 * name and the VM name, so that it stays the same from one start to the next.
 * Two FNV-1a hashes make the 128 bits; the result is marked as an RFC 9562
 * version 8 (custom) UUID. */
static void derive_uuid(const char *vmname, uint8_t out[16])
{
	char host[256] = "";
	uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;

	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	if (vmname == NULL)
		vmname = "";
	a = fnv1a(a, host, strlen(host) + 1);
	a = fnv1a(a, vmname, strlen(vmname));
	b = fnv1a(b, vmname, strlen(vmname) + 1);
	b = fnv1a(b, host, strlen(host));
	b = fnv1a(b, &a, sizeof(a));
	le_put(out, a, 8);
	le_put(out + 8, b, 8);
	out[7] = (uint8_t)((out[7] & 0x0f) | 0x80);	/* version, in the LE time_hi field */
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);	/* variant 10 */
}

/* "14.0" -> 14 and 0; 0xff ("not supported") when the version is not numeric. */
static void bios_release(const char *v, uint8_t *major, uint8_t *minor)
{
	char *end;
	unsigned long ma, mi = 0;

	*major = *minor = 0xff;
	if (v == NULL || !isdigit((unsigned char)*v))
		return;
	ma = strtoul(v, &end, 10);
	if (*end == '.') {
		if (!isdigit((unsigned char)end[1]))
			return;
		mi = strtoul(end + 1, &end, 10);
	}
	if (*end != '\0' || ma >= 0xff || mi >= 0xff)
		return;
	*major = (uint8_t)ma;
	*minor = (uint8_t)mi;
}

static void type0_bios(struct table *t)
{
	struct rec r;
	uint8_t major, minor;
	/* ISA, PCI, shadowing, boot from CD, selectable boot, EDD. */
	uint64_t chars = 1ULL << 4 | 1ULL << 7 | 1ULL << 12 | 1ULL << 15 | 1ULL << 16 | 1ULL << 19;

	rec_init(&r, 0, 0x18);
	r.f[0x04] = rec_str(&r, cfg("bios.vendor"));
	r.f[0x05] = rec_str(&r, cfg("bios.version"));
	le_put(&r.f[0x06], 0xf000, 2);
	r.f[0x08] = rec_str(&r, cfg("bios.release_date"));
	r.f[0x09] = 0;			/* ROM size: 64 KiB * (n + 1) */
	le_put(&r.f[0x0a], chars, 8);
	r.f[0x12] = 0x01;		/* ACPI */
	r.f[0x13] = 0x01 | 0x10;	/* BIOS boot specification; a virtual machine */
	bios_release(cfg("bios.version"), &major, &minor);
	r.f[0x14] = major;
	r.f[0x15] = minor;
	r.f[0x16] = 0xff;		/* no embedded controller */
	r.f[0x17] = 0xff;
	rec_commit(t, &r);
}

static int type1_system(struct table *t, const char *vmname)
{
	struct rec r;
	const char *uuid = get_config_value("uuid");

	rec_init(&r, 1, 0x1b);
	r.f[0x04] = rec_str(&r, cfg("system.manufacturer"));
	r.f[0x05] = rec_str(&r, cfg("system.product_name"));
	r.f[0x06] = rec_str(&r, cfg("system.version"));
	r.f[0x07] = rec_str(&r, cfg("system.serial_number"));
	if (uuid != NULL) {
		if (parse_uuid(uuid, &r.f[0x08]) != 0) {
			warnx("invalid UUID \"%s\": expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", uuid);
			return -1;
		}
	} else {
		derive_uuid(vmname, &r.f[0x08]);
	}
	r.f[0x18] = 0x06;		/* wake-up: power switch */
	r.f[0x19] = rec_str(&r, cfg("system.sku"));
	r.f[0x1a] = rec_str(&r, cfg("system.family_name"));
	rec_commit(t, &r);
	return 0;
}

/* Type 2 names the chassis, which comes right after it. */
static void type2_board(struct table *t)
{
	struct rec r;

	rec_init(&r, 2, 0x0f);
	r.f[0x04] = rec_str(&r, cfg("board.manufacturer"));
	r.f[0x05] = rec_str(&r, cfg("board.product_name"));
	r.f[0x06] = rec_str(&r, cfg("board.version"));
	r.f[0x07] = rec_str(&r, cfg("board.serial_number"));
	r.f[0x08] = rec_str(&r, cfg("board.asset_tag"));
	r.f[0x09] = 0x01;		/* a hosting board */
	r.f[0x0a] = rec_str(&r, cfg("board.location"));
	le_put(&r.f[0x0b], (uint16_t)(t->next_handle + 1), 2);
	r.f[0x0d] = 0x0a;		/* motherboard */
	r.f[0x0e] = 0;			/* no contained objects */
	rec_commit(t, &r);
}

static void type3_chassis(struct table *t)
{
	struct rec r;

	rec_init(&r, 3, 0x16);
	r.f[0x04] = rec_str(&r, cfg("chassis.manufacturer"));
	r.f[0x05] = 0x01;		/* other, no lock */
	r.f[0x06] = rec_str(&r, cfg("chassis.version"));
	r.f[0x07] = rec_str(&r, cfg("chassis.serial_number"));
	r.f[0x08] = rec_str(&r, cfg("chassis.asset_tag"));
	r.f[0x09] = 0x03;		/* boot-up state: safe */
	r.f[0x0a] = 0x03;		/* power supply state: safe */
	r.f[0x0b] = 0x03;		/* thermal state: safe */
	r.f[0x0c] = 0x03;		/* security status: none */
	r.f[0x13] = 0;			/* no contained elements ... */
	r.f[0x14] = 0;			/* ... of no size, so the SKU is at 0x15 */
	r.f[0x15] = rec_str(&r, cfg("chassis.sku"));
	rec_commit(t, &r);
}

/* What the host CPU says of itself; the guest sees the same vendor and
 * signature through KVM's CPUID. */
struct host_cpu {
	char vendor[13];
	char brand[49];
	uint32_t sig, features;
};

static void host_cpu(struct host_cpu *c)
{
	memset(c, 0, sizeof(*c));
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a = 0, b = 0, cx = 0, d = 0, max;

	if (__get_cpuid(0, &a, &b, &cx, &d)) {
		memcpy(c->vendor, &b, 4);
		memcpy(c->vendor + 4, &d, 4);
		memcpy(c->vendor + 8, &cx, 4);
	}
	if (__get_cpuid(1, &a, &b, &cx, &d)) {
		c->sig = a;
		c->features = d;
	}
	max = __get_cpuid_max(0x80000000, NULL);
	if (max >= 0x80000004) {
		for (unsigned int i = 0; i < 3; i++) {
			__cpuid(0x80000002 + i, a, b, cx, d);
			memcpy(c->brand + 16 * i, &a, 4);
			memcpy(c->brand + 16 * i + 4, &b, 4);
			memcpy(c->brand + 16 * i + 8, &cx, 4);
			memcpy(c->brand + 16 * i + 12, &d, 4);
		}
	}
#endif
	/* The brand string is often padded with blanks. */
	size_t lead = strspn(c->brand, " "), len;

	memmove(c->brand, c->brand + lead, strlen(c->brand + lead) + 1);
	len = strlen(c->brand);
	while (len > 0 && c->brand[len - 1] == ' ')
		c->brand[--len] = '\0';
}

static void type4_processors(struct table *t, const struct bhyve_params *p)
{
	struct host_cpu hc;
	int sockets = p->sockets > 0 ? p->sockets : 1;
	unsigned cores = p->cores > 0 ? (unsigned)p->cores : 1;
	unsigned threads = cores * (p->threads > 0 ? (unsigned)p->threads : 1);
	uint16_t chars = 0x04;		/* 64-bit capable */
	char desig[24];

	if (cores > 0xffff)
		cores = 0xffff;
	if (threads > 0xffff)
		threads = 0xffff;
	if (cores > 1)
		chars |= 0x08;		/* multi-core */
	if (threads > cores)
		chars |= 0x10;		/* hardware threads */
	host_cpu(&hc);
	for (int s = 0; s < sockets; s++) {
		struct rec r;

		snprintf(desig, sizeof(desig), "CPU #%d", s);
		rec_init(&r, 4, 0x30);
		r.f[0x04] = rec_str(&r, desig);
		r.f[0x05] = 0x03;		/* central processor */
		r.f[0x06] = 0x01;		/* family: other */
		r.f[0x07] = rec_str(&r, hc.vendor);
		le_put(&r.f[0x08], hc.sig, 4);
		le_put(&r.f[0x0c], hc.features, 4);
		r.f[0x10] = rec_str(&r, hc.brand);
		r.f[0x11] = 0;			/* voltage unknown */
		r.f[0x18] = 0x41;		/* socket populated, CPU enabled */
		r.f[0x19] = 0x01;		/* upgrade: other */
		le_put(&r.f[0x1a], HANDLE_NONE, 2);	/* no cache structures */
		le_put(&r.f[0x1c], HANDLE_NONE, 2);
		le_put(&r.f[0x1e], HANDLE_NONE, 2);
		r.f[0x23] = (uint8_t)(cores > 0xff ? 0xff : cores);
		r.f[0x24] = r.f[0x23];
		r.f[0x25] = (uint8_t)(threads > 0xff ? 0xff : threads);
		le_put(&r.f[0x26], chars, 2);
		le_put(&r.f[0x28], 0x01, 2);	/* family 2: other */
		le_put(&r.f[0x2a], (uint16_t)cores, 2);
		le_put(&r.f[0x2c], (uint16_t)cores, 2);
		le_put(&r.f[0x2e], (uint16_t)threads, 2);
		rec_commit(t, &r);
	}
}

static uint16_t type16_memarray(struct table *t, uint64_t total)
{
	struct rec r;
	uint64_t kib = (total + 1023) >> 10;

	rec_init(&r, 16, 0x17);
	r.f[0x04] = 0x03;		/* system board */
	r.f[0x05] = 0x03;		/* system memory */
	r.f[0x06] = 0x03;		/* no error correction */
	if (kib >= 0x80000000ULL) {	/* 2 TiB and up: the extended field, in bytes */
		le_put(&r.f[0x07], 0x80000000u, 4);
		le_put(&r.f[0x0f], total, 8);
	} else {
		le_put(&r.f[0x07], (uint32_t)kib, 4);
	}
	le_put(&r.f[0x0b], HANDLE_NOINFO, 2);
	le_put(&r.f[0x0d], 1, 2);		/* one memory device */
	return rec_commit(t, &r);
}

static void type17_memdev(struct table *t, uint16_t array, uint64_t total)
{
	struct rec r;
	uint64_t mib = total >> 20;

	rec_init(&r, 17, 0x28);
	le_put(&r.f[0x04], array, 2);
	le_put(&r.f[0x06], HANDLE_NOINFO, 2);
	le_put(&r.f[0x08], 64, 2);		/* total width */
	le_put(&r.f[0x0a], 64, 2);		/* data width */
	if (mib == 0) {			/* below 1 MiB: in KiB, bit 15 set */
		le_put(&r.f[0x0c], (uint16_t)(0x8000 | (total >> 10)), 2);
	} else if (mib >= 0x7fff) {	/* 32 GiB - 1 MiB and up: the extended field */
		le_put(&r.f[0x0c], 0x7fff, 2);
		le_put(&r.f[0x1c], (uint32_t)(mib > 0x7fffffff ? 0x7fffffff : mib), 4);
	} else {
		le_put(&r.f[0x0c], (uint16_t)mib, 2);
	}
	r.f[0x0e] = 0x01;		/* form factor: other */
	r.f[0x10] = rec_str(&r, "DIMM 0");
	r.f[0x11] = rec_str(&r, "Bank 0");
	r.f[0x12] = 0x07;		/* RAM */
	le_put(&r.f[0x13], 0x0002, 2);	/* type detail: other */
	rec_commit(t, &r);
}

/* [start, end) of the array's address space. */
static void type19_mapped(struct table *t, uint16_t array, uint64_t start, uint64_t end)
{
	struct rec r;

	rec_init(&r, 19, 0x1f);
	if (((end - 1) >> 10) >= 0xffffffffULL) {	/* beyond 4 TiB: in bytes */
		le_put(&r.f[0x04], 0xffffffffu, 4);
		le_put(&r.f[0x08], 0xffffffffu, 4);
		le_put(&r.f[0x0f], start, 8);
		le_put(&r.f[0x17], end - 1, 8);
	} else {
		le_put(&r.f[0x04], (uint32_t)(start >> 10), 4);
		le_put(&r.f[0x08], (uint32_t)(((end - 1) >> 10)), 4);
	}
	le_put(&r.f[0x0c], array, 2);
	r.f[0x0e] = 1;			/* partition width: one device */
	rec_commit(t, &r);
}

static void type32_boot(struct table *t)
{
	struct rec r;

	rec_init(&r, 32, 0x0b);
	r.f[0x0a] = 0;			/* no errors detected */
	rec_commit(t, &r);
}

static void type127_end(struct table *t)
{
	struct rec r;

	rec_init(&r, 127, 0x04);
	rec_commit(t, &r);
}

static void fill_entry(const struct table *t)
{
	memset(ep_data, 0, sizeof(ep_data));
	memcpy(ep_data, "_SM_", 4);
	ep_data[0x05] = EP_LEN;
	ep_data[0x06] = SMBIOS_MAJOR;
	ep_data[0x07] = SMBIOS_MINOR;
	le_put(&ep_data[0x08], (uint16_t)t->max_struct, 2);
	ep_data[0x0a] = 0;		/* entry point revision 0: no formatted area */
	memcpy(&ep_data[EP_IEPS], "_DMI_", 5);
	le_put(&ep_data[0x16], (uint16_t)t->len, 2);
	le_put(&ep_data[0x1c], t->count, 2);
	ep_data[0x1e] = SMBIOS_MAJOR << 4 | SMBIOS_MINOR;
	smbios_set_table_address(0);
}

void smbios_set_table_address(uint32_t addr)
{
	le_put(&ep_data[0x18], addr, 4);
	ep_data[0x15] = 0;
	ep_data[0x15] = fw_checksum(&ep_data[EP_IEPS], EP_LEN - EP_IEPS);
	ep_data[0x04] = 0;
	ep_data[0x04] = fw_checksum(ep_data, EP_LEN);
}

int smbios_build(struct vmctx *ctx, const struct bhyve_params *p)
{
	struct table t = { 0 };
	uint64_t low = vm_get_lowmem_size(ctx), high = vm_get_highmem_size(ctx);
	uint16_t array;

	built = false;
	type0_bios(&t);
	if (type1_system(&t, p->name) != 0) {
		free(t.data);
		return -1;
	}
	type2_board(&t);
	type3_chassis(&t);
	type4_processors(&t, p);
	array = type16_memarray(&t, low + high);
	type17_memdev(&t, array, low + high);
	if (low > 0)
		type19_mapped(&t, array, 0, low);
	if (high > 0)
		type19_mapped(&t, array, VM_HIGHMEM_BASE, VM_HIGHMEM_BASE + high);
	type32_boot(&t);
	type127_end(&t);
	/* The entry point counts the table in 16 bits. */
	if (t.len > 0xffff) {
		warnx("SMBIOS table of %zu bytes is too large (the bios.*, system.*, board.* "
		    "and chassis.* strings are too long)", t.len);
		free(t.data);
		return -1;
	}
	fill_entry(&t);
	free(tab_blob.data);
	tab_blob.data = t.data;
	tab_blob.len = t.len;
	ep_blob.data = ep_data;
	ep_blob.len = sizeof(ep_data);
	built = true;
	return 0;
}

const struct fw_blob *smbios_entry(void)
{
	return built ? &ep_blob : NULL;
}

const struct fw_blob *smbios_table(void)
{
	return built ? &tab_blob : NULL;
}

int smbios_install_fwcfg(void)
{
	if (!built) {
		warnx("SMBIOS: no tables built");
		return -1;
	}
	if (fwcfg_add_file("etc/smbios/smbios-anchor", ep_blob.data, ep_blob.len) != 0 ||
	    fwcfg_add_file("etc/smbios/smbios-tables", tab_blob.data, tab_blob.len) != 0)
		return -1;
	return 0;
}
