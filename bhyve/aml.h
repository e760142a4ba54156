/* A small encoder for ACPI Machine Language: enough of the grammar for a
 * DSDT that declares devices, names, packages and resource templates, so the
 * tables are built in binary at start-up instead of by running iasl. */
#ifndef AML_H
#define AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAXDEPTH	16

struct aml {
	uint8_t *buf;
	size_t len, cap;
	/* Open scopes, devices, packages and buffers: where each body starts. */
	size_t open[AML_MAXDEPTH];
	bool is_rt[AML_MAXDEPTH];	/* a resource template, closed with an End Tag */
	int depth;
	bool bad;		/* unbalanced nesting or a malformed name */
};

void aml_init(struct aml *a);
/* Hands the finished byte stream to the caller (who frees it); -1 when the
 * nesting was unbalanced or a name malformed. */
int aml_finish(struct aml *a, uint8_t **out, size_t *len);
void aml_free(struct aml *a);

/* Data objects. */
void aml_int(struct aml *a, uint64_t v);		/* the shortest integer encoding */
void aml_string(struct aml *a, const char *s);
void aml_eisaid(struct aml *a, const char *id);		/* "PNP0A03" as a compressed EISA ID */
void aml_namestring(struct aml *a, const char *path);	/* "\\_SB.PC00", "_HID" */

/* Name(path, <next object>); the caller emits the value right after. */
void aml_name(struct aml *a, const char *path);
void aml_name_int(struct aml *a, const char *path, uint64_t v);

/* Objects with a body; each *_begin is closed by aml_end. */
void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *path);
void aml_package_begin(struct aml *a, unsigned nelems);	/* at most 255 */
/* A ResourceTemplate (a Buffer closed with an End Tag). */
void aml_rt_begin(struct aml *a);
void aml_end(struct aml *a);

/* Resource descriptors, for use between aml_rt_begin and aml_end. */
void aml_io(struct aml *a, uint16_t base, uint8_t len);		/* IO(Decode16, base, base, 1, len) */
void aml_irq_noflags(struct aml *a, unsigned irq);
void aml_mem32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t len);
void aml_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_dword_mem(struct aml *a, uint32_t min, uint32_t max);
void aml_qword_mem(struct aml *a, uint64_t min, uint64_t max);

#endif
