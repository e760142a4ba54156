/* AML encoding (ACPI specification, "ACPI Machine Language Specification"
 * and "Resource Data Types for ACPI"). Objects with a body are written with
 * their body first and get their PkgLength inserted when they are closed. */
#include <stdlib.h>
#include <string.h>

#include "aml.h"
#include "util.h"

#define ZERO_OP		0x00
#define ONE_OP		0x01
#define NAME_OP		0x08
#define BYTE_PREFIX	0x0a
#define WORD_PREFIX	0x0b
#define DWORD_PREFIX	0x0c
#define STRING_PREFIX	0x0d
#define QWORD_PREFIX	0x0e
#define SCOPE_OP	0x10
#define BUFFER_OP	0x11
#define PACKAGE_OP	0x12
#define EXT_OP_PREFIX	0x5b
#define DEVICE_OP	0x82	/* after EXT_OP_PREFIX */
#define ONES_OP		0xff
#define ROOT_CHAR	'\\'
#define PARENT_CHAR	'^'
#define DUAL_NAME_PREFIX  0x2e
#define MULTI_NAME_PREFIX 0x2f

/* Resource descriptor tags. */
#define RD_IRQ_NOFLAGS	0x22	/* small item 0x04, length 2 */
#define RD_IO		0x47	/* small item 0x08, length 7 */
#define RD_END		0x79	/* small item 0x0f, length 1 */
#define RD_MEM32_FIXED	0x86
#define RD_DWORD_ADDR	0x87
#define RD_WORD_ADDR	0x88
#define RD_QWORD_ADDR	0x8a
#define ADDR_MEM	0
#define ADDR_IO		1
#define ADDR_BUS	2
/* General flags of a bridge window: producer, positive decode, min and max fixed. */
#define ADDR_FIXED_WINDOW 0x0c
#define IO_ENTIRE_RANGE	0x03
#define MEM_RW_UNCACHED	0x01

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	aml_init(a);
}

int aml_finish(struct aml *a, uint8_t **out, size_t *len)
{
	if (a->bad || a->depth != 0) {
		aml_free(a);
		return -1;
	}
	*out = a->buf;
	*len = a->len;
	a->buf = NULL;
	aml_free(a);
	return 0;
}

static void reserve(struct aml *a, size_t n)
{
	if (a->len + n > a->cap) {
		a->cap = (a->len + n) * 2 + 256;
		a->buf = xrealloc(a->buf, a->cap);
	}
}

static void put(struct aml *a, const void *p, size_t n)
{
	reserve(a, n);
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void put8(struct aml *a, uint8_t v)
{
	put(a, &v, 1);
}

static void put_le(struct aml *a, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		put8(a, (uint8_t)(v >> (8 * i)));
}

static void insert(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
	reserve(a, n);
	memmove(a->buf + at + n, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, n);
	a->len += n;
}

/* The shortest integer object for v, in out (at most 9 bytes); returns its size. */
static size_t encode_int(uint64_t v, uint8_t *out)
{
	int bytes;

	if (v == 0 || v == 1 || v == UINT64_MAX) {
		out[0] = v == 0 ? ZERO_OP : v == 1 ? ONE_OP : ONES_OP;
		return 1;
	}
	if (v <= 0xff) {
		out[0] = BYTE_PREFIX;
		bytes = 1;
	} else if (v <= 0xffff) {
		out[0] = WORD_PREFIX;
		bytes = 2;
	} else if (v <= 0xffffffff) {
		out[0] = DWORD_PREFIX;
		bytes = 4;
	} else {
		out[0] = QWORD_PREFIX;
		bytes = 8;
	}
	for (int i = 0; i < bytes; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return (size_t)bytes + 1;
}

void aml_int(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	size_t n = encode_int(v, b);

	put(a, b, n);
}

void aml_string(struct aml *a, const char *s)
{
	put8(a, STRING_PREFIX);
	put(a, s, strlen(s) + 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Three letters in five bits each, then four hex digits, stored big-endian. */
void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t vendor = 0, product = 0;

	if (strlen(id) != 7) {
		a->bad = true;
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			a->bad = true;
		vendor = vendor << 5 | (uint32_t)((id[i] - 0x40) & 0x1f);
	}
	for (int i = 3; i < 7; i++) {
		int h = hexval(id[i]);

		if (h < 0)
			a->bad = true;
		product = product << 4 | (uint32_t)(h & 0xf);
	}
	put8(a, DWORD_PREFIX);
	put8(a, (uint8_t)(vendor >> 8));
	put8(a, (uint8_t)vendor);
	put8(a, (uint8_t)(product >> 8));
	put8(a, (uint8_t)product);
}

static bool seg_char_ok(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void aml_namestring(struct aml *a, const char *path)
{
	const char *p = path;
	char segs[32][4];
	size_t nseg = 0;

	while (*p == ROOT_CHAR || *p == PARENT_CHAR)
		put8(a, (uint8_t)*p++);
	while (*p != '\0') {
		size_t n = strcspn(p, ".");

		if (n == 0 || n > 4 || nseg == nitems(segs)) {
			a->bad = true;
			return;
		}
		for (size_t i = 0; i < 4; i++) {
			segs[nseg][i] = i < n ? p[i] : '_';
			if (!seg_char_ok(segs[nseg][i], i == 0))
				a->bad = true;
		}
		nseg++;
		p += n;
		if (*p == '.')
			p++;
	}
	if (nseg == 0) {
		put8(a, 0x00);		/* NullName */
		return;
	}
	if (nseg == 2) {
		put8(a, DUAL_NAME_PREFIX);
	} else if (nseg > 2) {
		put8(a, MULTI_NAME_PREFIX);
		put8(a, (uint8_t)nseg);
	}
	put(a, segs, nseg * 4);
}

void aml_name(struct aml *a, const char *path)
{
	put8(a, NAME_OP);
	aml_namestring(a, path);
}

void aml_name_int(struct aml *a, const char *path, uint64_t v)
{
	aml_name(a, path);
	aml_int(a, v);
}

static void open_body(struct aml *a, bool rt)
{
	if (a->depth == AML_MAXDEPTH) {
		a->bad = true;
		return;
	}
	a->is_rt[a->depth] = rt;
	a->open[a->depth++] = a->len;
}

void aml_scope_begin(struct aml *a, const char *path)
{
	put8(a, SCOPE_OP);
	open_body(a, false);
	aml_namestring(a, path);
}

void aml_device_begin(struct aml *a, const char *path)
{
	put8(a, EXT_OP_PREFIX);
	put8(a, DEVICE_OP);
	open_body(a, false);
	aml_namestring(a, path);
}

void aml_package_begin(struct aml *a, unsigned nelems)
{
	put8(a, PACKAGE_OP);
	open_body(a, false);
	if (nelems > 255)
		a->bad = true;
	put8(a, (uint8_t)nelems);
}

void aml_rt_begin(struct aml *a)
{
	put8(a, BUFFER_OP);
	open_body(a, true);
}

/* PkgLength counts its own bytes: one byte up to 63, else a lead byte with
 * the low nibble and the byte count in bits 6-7, then the rest 8 bits at a time. */
void aml_end(struct aml *a)
{
	uint8_t enc[9];
	size_t start, body, total, n;

	if (a->depth == 0) {
		a->bad = true;
		return;
	}
	a->depth--;
	start = a->open[a->depth];
	if (a->is_rt[a->depth]) {
		put8(a, RD_END);
		put8(a, 0);		/* checksum 0: treated as valid */
		n = encode_int(a->len - start, enc);
		insert(a, start, enc, n);	/* BufferSize */
	}
	body = a->len - start;
	for (n = 1; n <= 4; n++) {
		total = body + n;
		if (n == 1 ? total <= 0x3f : total < (1ULL << (4 + 8 * (n - 1))))
			break;
	}
	if (n > 4) {
		a->bad = true;
		return;
	}
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (size_t i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	insert(a, start, enc, n);
}

void aml_io(struct aml *a, uint16_t base, uint8_t len)
{
	put8(a, RD_IO);
	put8(a, 0x01);		/* 16-bit decode */
	put_le(a, base, 2);
	put_le(a, base, 2);
	put8(a, 1);		/* alignment */
	put8(a, len);
}

void aml_irq_noflags(struct aml *a, unsigned irq)
{
	put8(a, RD_IRQ_NOFLAGS);
	put_le(a, irq < 16 ? 1u << irq : 0, 2);
}

void aml_mem32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t len)
{
	put8(a, RD_MEM32_FIXED);
	put_le(a, 9, 2);
	put8(a, writable ? 1 : 0);
	put_le(a, base, 4);
	put_le(a, len, 4);
}

/* Word, DWord and QWord Address Space Descriptors: one layout, three widths. */
static void addr_space(struct aml *a, uint8_t tag, int width, uint8_t type, uint8_t tflags,
    uint64_t min, uint64_t max)
{
	put8(a, tag);
	put_le(a, 3 + 5 * (uint64_t)width, 2);
	put8(a, type);
	put8(a, ADDR_FIXED_WINDOW);
	put8(a, tflags);
	put_le(a, 0, width);		/* granularity */
	put_le(a, min, width);
	put_le(a, max, width);
	put_le(a, 0, width);		/* translation offset */
	put_le(a, max - min + 1, width);
}

void aml_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	addr_space(a, RD_WORD_ADDR, 2, ADDR_BUS, 0, min, max);
}

void aml_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	addr_space(a, RD_WORD_ADDR, 2, ADDR_IO, IO_ENTIRE_RANGE, min, max);
}

void aml_dword_mem(struct aml *a, uint32_t min, uint32_t max)
{
	addr_space(a, RD_DWORD_ADDR, 4, ADDR_MEM, MEM_RW_UNCACHED, min, max);
}

void aml_qword_mem(struct aml *a, uint64_t min, uint64_t max)
{
	addr_space(a, RD_QWORD_ADDR, 8, ADDR_MEM, MEM_RW_UNCACHED, min, max);
}
