/* libFuzzer target: grub-bhyve's MBR and GPT readers on a hostile disk. The
 * input is the disk (its first byte picks the scheme and partition number);
 * every partition found must lie inside it. ASan and UBSan watch the rest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t len;
};

static int rd(void *arg, uint64_t off, void *buf, size_t len)
{
	struct mem *m = arg;

	if (off > m->len || len > m->len - off)
		return -1;
	memcpy(buf, m->p + off, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const schemes[] = { "msdos", "gpt", NULL };
	struct mem m;
	uint64_t off, len;
	char err[256];

	if (size < 1)
		return 0;
	m.p = data + 1;
	m.len = size - 1;
	for (unsigned part = 1; part <= 10; part++) {
		const char *s = schemes[(data[0] + part) % 3];

		if (gb_part_find(rd, &m, m.len, s, part + (data[0] >> 4), &off, &len, err,
		    sizeof(err)) == 0 && (off > m.len || len > m.len - off || len == 0))
			abort();
	}
	return 0;
}
