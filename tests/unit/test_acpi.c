/* The ACPI tables (acpi.c), checked from outside: iasl disassembles each one
 * (and compiles the result again) and the tests read the .dsl text; the
 * fw_cfg table loader is run as SeaBIOS and OVMF run it, against fake bases. */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "firmware.h"
#include "fwcfg.h"
#include "pci_emul.h"
#include "test.h"
#include "fake_vmmapi.h"

#define NO_IASL	"iasl is not installed (Debian package acpica-tools)"

static bool have_iasl(void)
{
	return system("command -v iasl >/dev/null 2>&1") == 0;
}

/* Builds the tables for ncpus vCPUs in the given topology; COM1 (and so the
 * SPCR and the DSDT's COM1) exists when com1 is true. */
static int build(int ncpus, int sockets, int cores, int threads, bool com1)
{
	struct bhyve_params p = {
		.name = "acpi", .ncpus = ncpus, .sockets = sockets, .cores = cores,
		.threads = threads, .memsize = FX_LOWMEM + FX_HIGHMEM,
	};

	if (com1)
		set_config_value("lpc.com1.path", "stdio");
	else
		unset_config_value("lpc.com1.path");
	return acpi_build(fx_ctx, &p);
}

static const struct fw_blob *table(const char *sig)
{
	size_t n;
	const struct fw_blob *t = acpi_tables(&n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, sig) == 0)
			return &t[i];
	return NULL;
}

static char *read_all(FILE *f)
{
	size_t len = 0, cap = 4096;
	char *s = malloc(cap);
	size_t got;

	if (s == NULL)
		return NULL;
	while ((got = fread(s + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (cap - len < 2) {
			char *t = realloc(s, cap * 2);

			if (t == NULL) {
				free(s);
				return NULL;
			}
			s = t;
			cap *= 2;
		}
	}
	s[len] = '\0';
	return s;
}

/* Runs a shell command in dir; its combined output, and its exit status in *rc. */
static char *run_in(const char *dir, int *rc, const char *fmt, ...)
{
	char cmd[512];
	int off = snprintf(cmd, sizeof(cmd), "cd '%s' && ", dir);
	va_list ap;
	FILE *f;
	char *out;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd + off, sizeof(cmd) - (size_t)off, fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	f = popen(cmd, "r");
	if (f == NULL)
		return NULL;
	out = read_all(f);
	st = pclose(f);
	*rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

static void remove_dir(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "acpi tests: could not remove %s\n", dir);
}

/* iasl -d on one table, then iasl on the .dsl it wrote. Returns the .dsl text,
 * or NULL after failing the test with what iasl said. */
static char *disassemble(const char *sig)
{
	const struct fw_blob *t = table(sig);
	char dir[] = "/tmp/bhyve-acpi-XXXXXX", path[300];
	char *out = NULL, *dsl = NULL;
	FILE *f;
	int rc;

	if (t == NULL) {
		CHECK_MSG(false, "no %s table", sig);
		return NULL;
	}
	if (mkdtemp(dir) == NULL) {
		CHECK_MSG(false, "mkdtemp failed");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s.dat", dir, sig);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(t->data, 1, t->len, f) != t->len) {
		CHECK_MSG(false, "could not write %s", path);
		if (f != NULL)
			fclose(f);
		goto out;
	}
	fclose(f);
	out = run_in(dir, &rc, "iasl -d %s.dat", sig);
	if (out == NULL || rc != 0 || strstr(out, "Error") != NULL ||
	    strstr(out, "Warning") != NULL || strstr(out, "Incorrect checksum") != NULL ||
	    strstr(out, "AML Parse") != NULL || strstr(out, "Invalid") != NULL) {
		CHECK_MSG(false, "iasl -d %s.dat (exit %d): %s", sig, rc, out ? out : "(no output)");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.dsl", dir, sig);
	f = fopen(path, "r");
	if (f == NULL) {
		CHECK_MSG(false, "iasl wrote no %s.dsl", sig);
		goto out;
	}
	dsl = read_all(f);
	fclose(f);
	if (dsl == NULL || strstr(dsl, "Incorrect checksum") != NULL ||
	    strstr(dsl, "Invalid") != NULL || strstr(dsl, "****") != NULL) {
		CHECK_MSG(false, "%s.dsl reports a problem:\n%s", sig, dsl ? dsl : "");
		free(dsl);
		dsl = NULL;
		goto out;
	}
	/* The disassembly compiles again without complaint. */
	free(out);
	out = run_in(dir, &rc, "iasl %s.dsl", sig);
	if (out == NULL || rc != 0 || strstr(out, "0 Errors, 0 Warnings") == NULL) {
		CHECK_MSG(false, "iasl %s.dsl (exit %d): %s", sig, rc, out ? out : "(no output)");
		free(dsl);
		dsl = NULL;
	}
out:
	free(out);
	remove_dir(dir);
	return dsl;
}

/* A data-table field as iasl prints it ("[024h 0036   4]  Label : Value"):
 * the value's first word from the nth line (0-based) whose label is label,
 * searching from text; NULL when there is none. */
static const char *field_from(const char *text, const char *label, int nth, char *val, size_t len)
{
	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n'), *colon, *p, *q;
		size_t llen = eol ? (size_t)(eol - line) : strlen(line);

		colon = memchr(line, ':', llen);
		if (colon != NULL) {
			p = line;
			if (*p == '[') {
				const char *rb = memchr(line, ']', llen);

				p = rb ? rb + 1 : p;
			}
			while (p < colon && *p == ' ')
				p++;
			q = colon;
			while (q > p && q[-1] == ' ')
				q--;
			if ((size_t)(q - p) == strlen(label) && strncmp(p, label, (size_t)(q - p)) == 0 &&
			    nth-- == 0) {
				size_t n;

				p = colon + 1;
				while (*p == ' ')
					p++;
				n = strcspn(p, " \n");
				snprintf(val, len, "%.*s", (int)n, p);
				return eol ? eol + 1 : p + n;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static unsigned long long field(const char *text, const char *label, int nth)
{
	char v[64];

	if (field_from(text, label, nth, v, sizeof(v)) == NULL) {
		CHECK_MSG(false, "no field \"%s\" #%d", label, nth);
		return ~0ULL;
	}
	return strtoull(v, NULL, 16);
}

/* The field called label inside the structure whose line is labelled outer
 * (a Generic Address Structure's "Address", say). */
static unsigned long long sub_field(const char *text, const char *outer, const char *label)
{
	char v[64];
	const char *after = field_from(text, outer, 0, v, sizeof(v));

	if (after == NULL) {
		CHECK_MSG(false, "no field \"%s\"", outer);
		return ~0ULL;
	}
	return field(after, label, 0);
}

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* ASL text without comments or white space, so that patterns can be matched
 * whatever the layout. */
static char *squeeze(const char *dsl)
{
	char *s = malloc(strlen(dsl) + 1), *o = s;

	if (s == NULL)
		return NULL;
	for (const char *p = dsl; *p != '\0';) {
		if (p[0] == '/' && p[1] == '/') {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");

			p = e ? e + 2 : p + strlen(p);
		} else if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
			p++;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return s;
}

/* A table's disassembly with the blanks squeezed out; NULL when iasl fails. */
static char *disassembled(const char *sig)
{
	char *dsl = disassemble(sig), *s;

	if (dsl == NULL)
		return NULL;
	s = squeeze(dsl);
	free(dsl);
	return s;
}

/* An integer as iasl writes it in ASL. */
static void asl_int(char *buf, size_t len, unsigned long long v)
{
	if (v == 0)
		snprintf(buf, len, "Zero");
	else if (v == 1)
		snprintf(buf, len, "One");
	else if (v <= 0xff)
		snprintf(buf, len, "0x%02llX", v);
	else if (v <= 0xffff)
		snprintf(buf, len, "0x%04llX", v);
	else
		snprintf(buf, len, "0x%08llX", v);
}

/* ---- the tables through iasl ---- */

static void acpi_every_table_disassembles_with_good_checksums(void)
{
	static const char *const sigs[] = {
		"FACS", "DSDT", "FACP", "APIC", "HPET", "MCFG", "SPCR", "RSDT", "XSDT",
	};
	const struct fw_blob *rsdp;
	size_t n;

	if (!have_iasl())
		SKIP(NO_IASL);
	REQUIRE(build(4, 4, 1, 1, true) == 0);
	acpi_tables(&n);
	CHECK_EQ(n, nitems(sigs) + 1);
	for (size_t i = 0; i < nitems(sigs); i++)
		free(disassemble(sigs[i]));
	/* iasl cannot disassemble an RSDP on its own: checked by hand. */
	rsdp = &acpi_tables(&n)[0];
	REQUIRE(n > 0);
	CHECK_STR(rsdp->name, "RSDP");
	REQUIRE(rsdp->len == 36);
	CHECK(memcmp(rsdp->data, "RSD PTR ", 8) == 0);
	CHECK(memcmp(rsdp->data + 9, "BHYVE ", 6) == 0);
	CHECK_EQ(rsdp->data[15], 2);
	CHECK_EQ(rsdp->data[20], 36);
	{
		uint8_t s20 = 0, s36 = 0;

		for (int i = 0; i < 36; i++) {
			if (i < 20)
				s20 = (uint8_t)(s20 + rsdp->data[i]);
			s36 = (uint8_t)(s36 + rsdp->data[i]);
		}
		CHECK_EQ(s20, 0);
		CHECK_EQ(s36, 0);
	}
}

/* Local APIC IDs as KVM numbers the vCPUs: thread, core and package fields. */
static void check_madt(int ncpus, int sockets, int cores, const uint32_t *ids)
{
	char *dsl;

	REQUIRE(build(ncpus, sockets, cores, 1, true) == 0);
	dsl = disassemble("APIC");
	REQUIRE(dsl != NULL);
	CHECK_EQ(count(dsl, "[Processor Local APIC]"), ncpus);
	for (int i = 0; i < ncpus; i++) {
		CHECK_EQ(field(dsl, "Processor ID", i), i);
		CHECK_EQ(field(dsl, "Local Apic ID", i), ids[i]);
	}
	CHECK_EQ(field(dsl, "Local Apic Address", 0), 0xfee00000);
	CHECK_EQ(field(dsl, "PC-AT Compatibility", 0), 1);
	CHECK_EQ(count(dsl, "[I/O APIC]"), 1);
	CHECK_EQ(field(dsl, "I/O Apic ID", 0), ids[ncpus - 1] + 1);
	CHECK_EQ(sub_field(dsl, "I/O Apic ID", "Address"), 0xfec00000);
	CHECK_EQ(sub_field(dsl, "I/O Apic ID", "Interrupt"), 0);
	/* IRQ 0 -> GSI 2 as the bus says; the SCI, IRQ 9, level and active-high. */
	CHECK_EQ(count(dsl, "[Interrupt Source Override]"), 2);
	CHECK_EQ(field(dsl, "Source", 0), 0);
	CHECK_EQ(sub_field(dsl, "Source", "Interrupt"), 2);
	CHECK_EQ(field(dsl, "Source", 1), 9);
	CHECK_EQ(field(dsl, "Polarity", 0), 0);
	CHECK_EQ(field(dsl, "Trigger Mode", 0), 0);
	CHECK_EQ(field(dsl, "Polarity", 1), 1);
	CHECK_EQ(field(dsl, "Trigger Mode", 1), 3);
	CHECK_EQ(count(dsl, "[Local APIC NMI]"), 1);
	if (strstr(dsl, "[Local APIC NMI]") != NULL)
		CHECK_EQ(field(strstr(dsl, "[Local APIC NMI]"), "Processor ID", 0), 0xff);
	CHECK_EQ(field(dsl, "Interrupt Input LINT", 0), 1);
	free(dsl);
}

static void acpi_madt_has_one_local_apic_per_vcpu(void)
{
	static const uint32_t one[] = { 0 }, four[] = { 0, 1, 2, 3 };

	if (!have_iasl())
		SKIP(NO_IASL);
	check_madt(1, 1, 1, one);
	check_madt(4, 4, 1, four);
}

static void acpi_madt_apic_ids_follow_the_topology(void)
{
	/* 2 sockets of 3 cores: the core field is 2 bits wide. */
	static const uint32_t ids[] = { 0, 1, 2, 4, 5, 6 };

	if (!have_iasl())
		SKIP(NO_IASL);
	check_madt(6, 2, 3, ids);
}

static void acpi_madt_uses_x2apic_entries_past_apic_id_254(void)
{
	char *dsl;

	if (!have_iasl())
		SKIP(NO_IASL);
	REQUIRE(build(256, 1, 256, 1, true) == 0);
	dsl = disassemble("APIC");
	REQUIRE(dsl != NULL);
	CHECK_EQ(count(dsl, "[Processor Local APIC]"), 255);
	CHECK_EQ(count(dsl, "[Processor Local x2APIC]"), 1);
	CHECK_EQ(field(dsl, "Processor x2Apic ID", 0), 255);
	CHECK_EQ(field(dsl, "Processor UID", 0), 255);
	CHECK_EQ(count(dsl, "[Local x2APIC NMI]"), 1);
	free(dsl);
	/* 256 processor devices still make a DSDT iasl reads back. */
	free(disassemble("DSDT"));
}

static void acpi_fadt_describes_bhyve_pm_registers(void)
{
	char *dsl;

	if (!have_iasl())
		SKIP(NO_IASL);
	REQUIRE(build(2, 2, 1, 1, true) == 0);
	dsl = disassemble("FACP");
	REQUIRE(dsl != NULL);
	CHECK_EQ(field(dsl, "Revision", 0), 6);
	CHECK_EQ(field(dsl, "SCI Interrupt", 0), 9);
	CHECK_EQ(field(dsl, "SMI Command Port", 0), 0xb2);
	CHECK_EQ(field(dsl, "ACPI Enable Value", 0), 0xa0);
	CHECK_EQ(field(dsl, "ACPI Disable Value", 0), 0xa1);
	CHECK_EQ(field(dsl, "PM1A Event Block Address", 0), 0x400);
	CHECK_EQ(field(dsl, "PM1A Control Block Address", 0), 0x404);
	CHECK_EQ(field(dsl, "PM Timer Block Address", 0), 0x408);
	CHECK_EQ(field(dsl, "GPE0 Block Address", 0), 0x40c);
	CHECK_EQ(field(dsl, "PM1 Event Block Length", 0), 4);
	CHECK_EQ(field(dsl, "PM1 Control Block Length", 0), 2);
	CHECK_EQ(field(dsl, "PM Timer Block Length", 0), 4);
	CHECK_EQ(field(dsl, "GPE0 Block Length", 0), 4);
	CHECK_EQ(field(dsl, "RTC Century Index", 0), 0x32);
	CHECK_EQ(field(dsl, "32-bit PM Timer (V1)", 0), 0);
	CHECK_EQ(field(dsl, "Reset Register Supported (V2)", 0), 1);
	CHECK_EQ(field(dsl, "Control Method Power Button (V1)", 0), 0);
	CHECK_EQ(field(dsl, "Hardware Reduced (V5)", 0), 0);
	CHECK_EQ(field(dsl, "Legacy Devices Supported (V2)", 0), 1);
	CHECK_EQ(field(dsl, "8042 Present on ports 60/64 (V2)", 0), 1);
	CHECK_EQ(sub_field(dsl, "Reset Register", "Space ID"), 1);
	CHECK_EQ(sub_field(dsl, "Reset Register", "Bit Width"), 8);
	CHECK_EQ(sub_field(dsl, "Reset Register", "Address"), 0xcf9);
	CHECK_EQ(field(dsl, "Value to cause reset", 0), 6);
	/* The extended blocks say the same as the 32-bit ones. */
	CHECK_EQ(sub_field(dsl, "PM1A Event Block", "Address"), 0x400);
	CHECK_EQ(sub_field(dsl, "PM1A Event Block", "Bit Width"), 32);
	CHECK_EQ(sub_field(dsl, "PM1A Control Block", "Address"), 0x404);
	CHECK_EQ(sub_field(dsl, "PM1A Control Block", "Bit Width"), 16);
	CHECK_EQ(sub_field(dsl, "PM Timer Block", "Address"), 0x408);
	CHECK_EQ(sub_field(dsl, "GPE0 Block", "Address"), 0x40c);
	/* The FACS in one of its two fields (the 32-bit one), the DSDT in both. */
	CHECK_EQ(field(dsl, "FACS Address", 1), 0);
	CHECK_EQ(field(dsl, "DSDT Address", 1), field(dsl, "DSDT Address", 0));
	free(dsl);
}

static void acpi_hpet_mcfg_and_spcr_describe_the_platform(void)
{
	char *dsl;

	if (!have_iasl())
		SKIP(NO_IASL);
	REQUIRE(build(2, 2, 1, 1, true) == 0);
	if ((dsl = disassemble("HPET")) != NULL) {
		CHECK_EQ(field(dsl, "Hardware Block ID", 0), 0x8086a201);
		CHECK_EQ(sub_field(dsl, "Timer Block Register", "Space ID"), 0);
		CHECK_EQ(sub_field(dsl, "Timer Block Register", "Address"), 0xfed00000);
		CHECK_EQ(field(dsl, "Sequence Number", 0), 0);
		free(dsl);
	}
	if ((dsl = disassemble("MCFG")) != NULL) {
		CHECK_EQ(field(dsl, "Base Address", 0), 0xe0000000);
		CHECK_EQ(field(dsl, "Segment Group Number", 0), 0);
		CHECK_EQ(field(dsl, "Start Bus Number", 0), 0);
		CHECK_EQ(field(dsl, "End Bus Number", 0), 0xff);
		CHECK_EQ(count(dsl, "Base Address"), 1);
		free(dsl);
	}
	if ((dsl = disassemble("SPCR")) != NULL) {
		CHECK_EQ(field(dsl, "Revision", 0), 2);
		CHECK_EQ(field(dsl, "Interface Type", 0), 0);
		CHECK_EQ(sub_field(dsl, "Serial Port Register", "Space ID"), 1);
		CHECK_EQ(sub_field(dsl, "Serial Port Register", "Address"), 0x3f8);
		CHECK_EQ(field(dsl, "Interrupt Type", 0), 3);
		CHECK_EQ(field(dsl, "PCAT-compatible IRQ", 0), 4);
		CHECK_EQ(field(dsl, "Interrupt", 0), 4);
		CHECK_EQ(field(dsl, "Baud Rate", 0), 7);
		CHECK_EQ(field(dsl, "Stop Bits", 0), 1);
		CHECK_EQ(field(dsl, "PCI Device ID", 0), 0xffff);
		CHECK_EQ(field(dsl, "PCI Vendor ID", 0), 0xffff);
		free(dsl);
	}
}

static void acpi_dsdt_prt_routes_every_populated_slot(void)
{
	char *s, want[128], a[16], b[16], c[16];
	int populated = 0;

	if (!have_iasl())
		SKIP(NO_IASL);
	REQUIRE(build(2, 2, 1, 1, true) == 0);
	s = disassembled("DSDT");
	REQUIRE(s != NULL);
	CHECK(strstr(s, "Device(PC00){Name(_HID,EisaId(\"PNP0A03\"))") != NULL);
	CHECK(strstr(s, "Name(_BBN,Zero)") != NULL);
	for (int slot = 0; slot < MAXSLOTS; slot++) {
		if (pci_find(0, slot, 0) == NULL) {
			asl_int(a, sizeof(a), (unsigned long long)slot << 16 | 0xffff);
			snprintf(want, sizeof(want), "Package(0x04){%s,", a);
			CHECK_MSG(strstr(s, want) == NULL, "empty slot %d is routed", slot);
			continue;
		}
		populated++;
		for (int pin = 0; pin < 4; pin++) {
			asl_int(a, sizeof(a), (unsigned long long)slot << 16 | 0xffff);
			asl_int(b, sizeof(b), (unsigned long long)pin);
			asl_int(c, sizeof(c), (unsigned long long)pci_intx_gsi(slot, pin + 1));
			snprintf(want, sizeof(want), "Package(0x04){%s,%s,Zero,%s}", a, b, c);
			CHECK_MSG(strstr(s, want) != NULL, "slot %d INT%c: no %s", slot, 'A' + pin, want);
		}
	}
	/* The fixture: hostbridge 0:0, amd_hostbridge 0:1, virtio-rnd 0:3, the test
	 * device and lpc. */
	CHECK_EQ(populated, 5);
	snprintf(want, sizeof(want), "Name(_PRT,Package(0x%02X){", populated * 4);
	CHECK_MSG(strstr(s, want) != NULL, "no %s", want);
	/* Nothing else in the _PRT, which ends where the next object starts. */
	if (strstr(s, "Name(_PRT,") != NULL) {
		char *prt = strstr(s, "Name(_PRT,"), *end = strstr(prt, "})") ;

		while (end != NULL && end[2] == ',')
			end = strstr(end + 2, "})");
		REQUIRE(end != NULL);
		end[2] = '\0';
		CHECK_EQ(count(prt, "Package(0x04){"), populated * 4);
	}
	free(s);
}

static void acpi_dsdt_has_s5_windows_and_motherboard_resources(void)
{
	char *s;

	if (!have_iasl())
		SKIP(NO_IASL);
	REQUIRE(build(2, 2, 1, 1, true) == 0);
	s = disassembled("DSDT");
	REQUIRE(s != NULL);
	CHECK(strstr(s, "Name(\\_S5,Package(0x04){0x05,0x05,Zero,Zero})") != NULL);
	CHECK(strstr(s, "WordBusNumber(ResourceProducer,MinFixed,MaxFixed,PosDecode,"
	    "0x0000,0x0000,0x00FF,0x0000,0x0100") != NULL);
	CHECK(strstr(s, "IO(Decode16,0x0CF8,0x0CF8,0x01,0x08,)") != NULL);
	CHECK(strstr(s, "0x0000,0x0000,0x0CF7,0x0000,0x0CF8") != NULL);
	CHECK(strstr(s, "0x0000,0x0D00,0xFFFF,0x0000,0xF300") != NULL);
	CHECK(strstr(s, "0x00000000,0x000A0000,0x000BFFFF,0x00000000,0x00020000") != NULL);
	CHECK(strstr(s, "0x00000000,0xC0000000,0xDFFFFFFF,0x00000000,0x20000000") != NULL);
	/* 1 GiB above 4 GiB: the 64-bit window starts at the next 32 GiB. */
	CHECK(strstr(s, "0x0000000000000000,0x0000000800000000,0x0000000FFFFFFFFF,"
	    "0x0000000000000000,0x0000000800000000") != NULL);
	CHECK(strstr(s, "Device(HPET){Name(_HID,EisaId(\"PNP0103\"))Name(_CRS,ResourceTemplate()"
	    "{Memory32Fixed(ReadOnly,0xFED00000,0x00000400,)})}") != NULL);
	CHECK(strstr(s, "Name(_HID,EisaId(\"PNP0C02\"))") != NULL);
	CHECK(strstr(s, "IO(Decode16,0x0400,0x0400,0x01,0x10,)") != NULL);
	CHECK(strstr(s, "IO(Decode16,0x00B2,0x00B2,0x01,0x01,)") != NULL);
	CHECK(strstr(s, "Memory32Fixed(ReadOnly,0xE0000000,0x10000000,)") != NULL);
	CHECK_EQ(count(s, "Name(_HID,\"ACPI0007\")"), 2);
	CHECK(strstr(s, "Device(C001){Name(_HID,\"ACPI0007\")Name(_UID,One)}") != NULL);
	free(s);
}

static void acpi_dsdt_lists_lpc_devices_and_only_configured_com_ports(void)
{
	char *s;

	if (!have_iasl())
		SKIP(NO_IASL);
	REQUIRE(build(1, 1, 1, 1, true) == 0);
	s = disassembled("DSDT");
	REQUIRE(s != NULL);
	CHECK(strstr(s, "Device(ISA){Name(_ADR,0x001F0000)") != NULL);
	CHECK(strstr(s, "Device(COM1){Name(_HID,EisaId(\"PNP0501\"))Name(_UID,One)"
	    "Name(_CRS,ResourceTemplate(){IO(Decode16,0x03F8,0x03F8,0x01,0x08,)IRQNoFlags(){4}})}") != NULL);
	CHECK(strstr(s, "Device(COM2)") == NULL);
	CHECK(strstr(s, "EisaId(\"PNP0B00\"))Name(_CRS,ResourceTemplate(){IO(Decode16,0x0070,0x0070,"
	    "0x01,0x02,)IRQNoFlags(){8}})") != NULL);
	CHECK(strstr(s, "EisaId(\"PNP0100\"))Name(_CRS,ResourceTemplate(){IO(Decode16,0x0040,0x0040,"
	    "0x01,0x04,)IRQNoFlags(){0}})") != NULL);
	CHECK(strstr(s, "EisaId(\"PNP0000\"))Name(_CRS,ResourceTemplate(){IO(Decode16,0x0020,0x0020,"
	    "0x01,0x02,)IO(Decode16,0x00A0,0x00A0,0x01,0x02,)") != NULL);
	CHECK(strstr(s, "EisaId(\"PNP0303\"))Name(_CRS,ResourceTemplate(){IO(Decode16,0x0060,0x0060,"
	    "0x01,0x01,)IO(Decode16,0x0064,0x0064,0x01,0x01,)IRQNoFlags(){1}})") != NULL);
	free(s);

	/* COM1 gone, COM2 and COM4 there: the DSDT follows, and the SPCR goes. */
	set_config_value("lpc.com2.path", "stdio");
	set_config_value("lpc.com4.path", "stdio");
	REQUIRE(build(1, 1, 1, 1, false) == 0);
	unset_config_value("lpc.com2.path");
	unset_config_value("lpc.com4.path");
	CHECK(table("SPCR") == NULL);
	s = disassembled("DSDT");
	REQUIRE(s != NULL);
	CHECK(strstr(s, "Device(COM1)") == NULL);
	CHECK(strstr(s, "Device(COM3)") == NULL);
	CHECK(strstr(s, "Device(COM2){Name(_HID,EisaId(\"PNP0501\"))Name(_UID,0x02)"
	    "Name(_CRS,ResourceTemplate(){IO(Decode16,0x02F8,0x02F8,0x01,0x08,)IRQNoFlags(){3}})}") != NULL);
	CHECK(strstr(s, "Device(COM4){Name(_HID,EisaId(\"PNP0501\"))Name(_UID,0x04)"
	    "Name(_CRS,ResourceTemplate(){IO(Decode16,0x02E8,0x02E8,0x01,0x08,)IRQNoFlags(){3}})}") != NULL);
	free(s);
	free(disassemble("XSDT"));
	free(disassemble("RSDT"));
}

/* ---- the table loader, run as firmware runs it ---- */

#define LD_ALLOCATE	1
#define LD_ADD_POINTER	2
#define LD_ADD_CHECKSUM	3

struct ld_file {
	const char *name;
	const struct fw_blob *blob;
	uint8_t *mem;		/* the allocated copy */
	uint64_t base;		/* its fake guest-physical address */
	bool allocated;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static struct ld_file *ld_find(struct ld_file *f, size_t n, const uint8_t *name)
{
	char nm[57];

	memcpy(nm, name, 56);
	nm[56] = '\0';
	CHECK_MSG(memchr(name, 0, 56) != NULL, "a file name without its NUL");
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].name, nm) == 0)
			return &f[i];
	CHECK_MSG(false, "the loader names an unknown file \"%s\"", nm);
	return NULL;
}

/* The table at guest address addr, if it lies inside the tables file. */
static const uint8_t *ld_table_at(const struct ld_file *tables, uint64_t addr, const char *sig)
{
	const uint8_t *t;

	if (addr < tables->base || addr + 36 > tables->base + tables->blob->len) {
		CHECK_MSG(false, "%s pointer 0x%llx is outside etc/acpi/tables", sig,
		    (unsigned long long)addr);
		return NULL;
	}
	t = tables->mem + (addr - tables->base);
	CHECK_MSG(memcmp(t, sig, 4) == 0, "expected %s at 0x%llx, found %.4s", sig,
	    (unsigned long long)addr, (const char *)t);
	if (addr + le32(t + 4) > tables->base + tables->blob->len) {
		CHECK_MSG(false, "%s runs past the end of etc/acpi/tables", sig);
		return NULL;
	}
	if (strcmp(sig, "FACS") != 0)
		CHECK_MSG(sum8(t, le32(t + 4)) == 0, "%s checksum is wrong after loading", sig);
	return t;
}

static void acpi_table_loader_links_and_checksums_every_table(void)
{
	struct ld_file f[2] = {
		{ .name = "etc/acpi/rsdp", .base = 0xf5a40 },	/* FSEG */
		{ .name = "etc/acpi/tables", .base = 0x7ffe0000 },	/* HIGH */
	};
	const struct fw_blob *files, *list;
	const uint8_t *rsdp, *xsdt, *rsdt, *fadt;
	size_t n, ntables;
	int nptr = 0, ncsum = 0, reached = 0;

	REQUIRE(build(4, 2, 2, 1, true) == 0);
	files = acpi_fwcfg_files(&n);
	REQUIRE(files != NULL && n == 3);
	CHECK_STR(files[0].name, "rsdp");
	CHECK_STR(files[1].name, "tables");
	CHECK_STR(files[2].name, "table-loader");
	f[0].blob = &files[0];
	f[1].blob = &files[1];
	REQUIRE(files[2].len > 0 && files[2].len % 128 == 0);
	for (size_t i = 0; i < 2; i++) {
		f[i].mem = malloc(f[i].blob->len);
		REQUIRE(f[i].mem != NULL);
	}

	for (size_t off = 0; off < files[2].len; off += 128) {
		const uint8_t *e = files[2].data + off;
		struct ld_file *a, *b;

		switch (le32(e)) {
		case LD_ALLOCATE:
			a = ld_find(f, 2, e + 4);
			if (a == NULL)
				break;
			CHECK_MSG(!a->allocated, "%s allocated twice", a->name);
			CHECK_EQ(le32(e + 60), a == &f[0] ? 16 : 64);
			CHECK_EQ(e[64], a == &f[0] ? 2 : 1);	/* FSEG for the RSDP, else HIGH */
			CHECK_EQ(a->base % le32(e + 60), 0);
			memcpy(a->mem, a->blob->data, a->blob->len);
			a->allocated = true;
			break;
		case LD_ADD_POINTER: {
			uint32_t at = le32(e + 116);
			uint8_t size = e[120];
			uint64_t v = 0;

			a = ld_find(f, 2, e + 4);
			b = ld_find(f, 2, e + 60);
			if (a == NULL || b == NULL)
				break;
			CHECK_MSG(a->allocated && b->allocated, "a pointer before its allocation");
			CHECK_MSG(size == 4 || size == 8, "pointer of %u bytes", size);
			if (at + size > a->blob->len || (size != 4 && size != 8)) {
				CHECK_MSG(false, "pointer at %u+%u outside %s", at, size, a->name);
				break;
			}
			v = size == 8 ? le64(a->mem + at) : le32(a->mem + at);
			CHECK_MSG(v < b->blob->len, "pointer value %llu outside %s",
			    (unsigned long long)v, b->name);
			v += b->base;
			for (int i = 0; i < size; i++)
				a->mem[at + i] = (uint8_t)(v >> (8 * i));
			nptr++;
			break;
		}
		case LD_ADD_CHECKSUM: {
			uint32_t res = le32(e + 60), start = le32(e + 64), len = le32(e + 68);

			a = ld_find(f, 2, e + 4);
			if (a == NULL)
				break;
			CHECK_MSG(a->allocated, "a checksum before its allocation");
			if ((uint64_t)start + len > a->blob->len || res < start || res >= start + len) {
				CHECK_MSG(false, "checksum %u over %u+%u outside %s", res, start, len, a->name);
				break;
			}
			a->mem[res] = (uint8_t)(a->mem[res] - sum8(a->mem + start, len));
			ncsum++;
			break;
		}
		default:
			CHECK_MSG(false, "unknown loader command %u", le32(e));
		}
	}
	REQUIRE(f[0].allocated && f[1].allocated);

	/* RSDP's two; FADT's FACS, DSDT and X_DSDT; 5 tables in each of RSDT and XSDT. */
	CHECK_EQ(nptr, 2 + 3 + 2 * 5);
	/* Every table but FACS, and the RSDP twice. */
	list = acpi_tables(&ntables);
	CHECK_EQ(ncsum, (int)ntables - 2 + 2);

	rsdp = f[0].mem;
	CHECK(memcmp(rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ(sum8(rsdp, 20), 0);
	CHECK_EQ(sum8(rsdp, 36), 0);
	xsdt = ld_table_at(&f[1], le64(rsdp + 24), "XSDT");
	rsdt = ld_table_at(&f[1], le32(rsdp + 16), "RSDT");
	REQUIRE(xsdt != NULL && rsdt != NULL);
	REQUIRE(le32(xsdt + 4) >= 36 && le32(rsdt + 4) >= 36);
	CHECK_EQ((le32(xsdt + 4) - 36) / 8, (le32(rsdt + 4) - 36) / 4);
	fadt = NULL;
	for (uint32_t i = 0; i < (le32(xsdt + 4) - 36) / 8; i++) {
		uint64_t addr = le64(xsdt + 36 + 8 * i);
		const uint8_t *t;

		CHECK_EQ(le32(rsdt + 36 + 4 * i), addr);
		if (addr < f[1].base || addr + 4 > f[1].base + f[1].blob->len) {
			CHECK_MSG(false, "XSDT entry %u points outside the tables", i);
			continue;
		}
		t = f[1].mem + (addr - f[1].base);
		{
			char sig[5];

			memcpy(sig, t, 4);
			sig[4] = '\0';
			CHECK_MSG(table(sig) != NULL, "XSDT entry %u: unknown table %s", i, sig);
			if (ld_table_at(&f[1], addr, sig) != NULL)
				reached++;
			if (strcmp(sig, "FACP") == 0)
				fadt = t;
		}
	}
	REQUIRE(fadt != NULL);
	/* FACS through FIRMWARE_CTRL alone, DSDT through both its fields. */
	CHECK_EQ(le64(fadt + 132), 0);
	CHECK_EQ(le32(fadt + 40), le64(fadt + 140));
	CHECK_EQ(le32(fadt + 36) % 64, 0);
	if (ld_table_at(&f[1], le32(fadt + 36), "FACS") != NULL)
		reached++;
	if (ld_table_at(&f[1], le32(fadt + 40), "DSDT") != NULL)
		reached++;
	/* Everything acpi_tables lists is reachable from the RSDP. */
	CHECK_EQ(reached + 2 + 1, (int)ntables);
	CHECK_STR(list[0].name, "RSDP");
	free(f[0].mem);
	free(f[1].mem);
}

/* The files reach a guest through fw_cfg's ports as they were built. */
static void acpi_fwcfg_files_readable_through_the_ports(void)
{
	static const char *const names[] = { "etc/acpi/rsdp", "etc/acpi/tables", "etc/table-loader" };
	const struct fw_blob *files;
	char sig[4];
	uint32_t nfiles;
	size_t n;

	REQUIRE(build(2, 2, 1, 1, true) == 0);
	REQUIRE(acpi_install_fwcfg() == 0);
	files = acpi_fwcfg_files(&n);
	REQUIRE(files != NULL && n == 3);
	port_out(0x510, 2, 0);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)port_in(0x511, 1);
	if (memcmp(sig, "QEMU", 4) != 0)
		SKIP("fw_cfg is not set up in this run (fwcfg_init)");
	for (size_t k = 0; k < nitems(names); k++) {
		int sel = -1;
		uint32_t size = 0;

		port_out(0x510, 2, 0x19);
		nfiles = 0;
		for (int i = 0; i < 4; i++)
			nfiles = nfiles << 8 | (uint32_t)port_in(0x511, 1);
		for (uint32_t i = 0; i < nfiles && i < 1024; i++) {
			uint8_t ent[64];

			for (int j = 0; j < 64; j++)
				ent[j] = (uint8_t)port_in(0x511, 1);
			ent[63] = 0;
			if (strcmp((char *)ent + 8, names[k]) == 0) {
				size = (uint32_t)ent[0] << 24 | (uint32_t)ent[1] << 16 |
				    (uint32_t)ent[2] << 8 | ent[3];
				sel = ent[4] << 8 | ent[5];
				break;
			}
		}
		CHECK_MSG(sel >= 0, "%s is not in the fw_cfg directory", names[k]);
		if (sel < 0)
			continue;
		CHECK_EQ(size, files[k].len);
		port_out(0x510, 2, (uint64_t)sel);
		for (uint32_t i = 0; i < size && i < files[k].len; i++)
			if ((uint8_t)port_in(0x511, 1) != files[k].data[i]) {
				CHECK_MSG(false, "%s differs at byte %u", names[k], i);
				break;
			}
	}
}

/* The tables in guest memory (fwcfg=bhyve, or no boot ROM): the RSDP at
 * 0xF2400 with both checksums, the XSDT and RSDT at absolute addresses in the
 * BIOS area, every table they list checksummed and inside it, and the FADT's
 * FACS and DSDT pointers absolute too. The fw_cfg blobs are left relative. */
static void acpi_tables_in_guest_memory_are_linked_absolute(void)
{
	static uint8_t ram[1 << 20];
	const uint8_t *m, *rsdp, *xsdt, *rsdt, *fadt;
	const struct fw_blob *files;
	size_t n;
	uint64_t x;

	REQUIRE(build(2, 1, 2, 1, true) == 0);
	fake_vm_set_ram(fx_ctx, ram, sizeof(ram));
	REQUIRE(acpi_install_memory(fx_ctx) == 0);
	m = ram + 0xe0000;
	rsdp = m + (0xf2400 - 0xe0000);
	CHECK(memcmp(rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ(fw_checksum(rsdp, 20), 0);
	CHECK_EQ(fw_checksum(rsdp, 36), 0);
	x = le_get(rsdp + 24, 8);
	REQUIRE(x > 0xf2400 && x < 0x100000);
	xsdt = m + (x - 0xe0000);
	CHECK(memcmp(xsdt, "XSDT", 4) == 0);
	CHECK_EQ(fw_checksum(xsdt, le_get(xsdt + 4, 4)), 0);
	x = le_get(rsdp + 16, 4);
	REQUIRE(x > 0xf2400 && x < 0x100000);
	rsdt = m + (x - 0xe0000);
	CHECK(memcmp(rsdt, "RSDT", 4) == 0);
	fadt = NULL;
	for (uint32_t off = 36; off + 8 <= le_get(xsdt + 4, 4); off += 8) {
		uint64_t a = le_get(xsdt + off, 8);
		const uint8_t *t;

		REQUIRE(a > 0xf2400 && a < 0x100000);
		t = m + (a - 0xe0000);
		CHECK_EQ(fw_checksum(t, le_get(t + 4, 4)), 0);
		CHECK(a + le_get(t + 4, 4) <= 0x100000);
		CHECK_EQ(le_get(rsdt + 36 + (off - 36) / 2, 4), a);
		if (memcmp(t, "FACP", 4) == 0)
			fadt = t;
	}
	REQUIRE(fadt != NULL);
	CHECK(memcmp(m + (le_get(fadt + 140, 8) - 0xe0000), "DSDT", 4) == 0);
	CHECK(memcmp(m + (le_get(fadt + 36, 4) - 0xe0000), "FACS", 4) == 0);
	CHECK(memcmp(m + (le_get(fadt + 40, 4) - 0xe0000), "DSDT", 4) == 0);
	/* The fw_cfg copy still holds offsets for the firmware's loader. */
	files = acpi_fwcfg_files(&n);
	REQUIRE(files != NULL && n == 3);
	CHECK(le_get(files[0].data + 24, 8) < 0x10000);
	fake_vm_set_ram(fx_ctx, NULL, 0);
}

void suite_acpi(void)
{
	RUN_DEV(acpi_every_table_disassembles_with_good_checksums);
	RUN_DEV(acpi_madt_has_one_local_apic_per_vcpu);
	RUN_DEV(acpi_madt_apic_ids_follow_the_topology);
	RUN_DEV(acpi_madt_uses_x2apic_entries_past_apic_id_254);
	RUN_DEV(acpi_fadt_describes_bhyve_pm_registers);
	RUN_DEV(acpi_hpet_mcfg_and_spcr_describe_the_platform);
	RUN_DEV(acpi_dsdt_prt_routes_every_populated_slot);
	RUN_DEV(acpi_dsdt_has_s5_windows_and_motherboard_resources);
	RUN_DEV(acpi_dsdt_lists_lpc_devices_and_only_configured_com_ports);
	RUN_DEV(acpi_table_loader_links_and_checksums_every_table);
	RUN_DEV(acpi_fwcfg_files_readable_through_the_ports);
	RUN_DEV(acpi_tables_in_guest_memory_are_linked_absolute);
	unset_config_value("lpc.com1.path");
}
