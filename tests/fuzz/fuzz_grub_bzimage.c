/* libFuzzer target: grub-bhyve's bzImage header parser and boot planner. The
 * input is the kernel file (a real header where the input is short), planned
 * with an initrd into a 256 MiB guest; every write must land in RAM. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool in_ram(const struct gb_e820 *m, size_t n, uint64_t a, uint64_t len)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].type == GB_E820_RAM && a >= m[i].addr && a + len <= m[i].addr + m[i].len)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gb_plan p;
	static const uint8_t initrd[100];
	struct gb_initrd rd = { initrd, size % 2 ? sizeof(initrd) : 0 };
	struct gb_e820 map[8];
	size_t n = gb_e820_bhyve(256ULL << 20, map, 8);
	char err[256];
	uint8_t *k;
	size_t len = size < 0x1000 ? 0x1000 : size;

	if (size > (1 << 20))
		return 0;
	/* Short inputs get a plausible header around them, to go deeper. */
	k = calloc(1, len);
	if (k == NULL)
		return 0;
	memcpy(k + 0x202, "HdrS", 4);
	k[0x1FE] = 0x55;
	k[0x1FF] = 0xAA;
	k[0x206] = 0x0F;
	k[0x207] = 0x02;
	k[0x211] = 1;
	memcpy(size < 0x1000 ? k + 0x1F1 : k, data, size < 0x1000 && size > 0x1000 - 0x1F1 ?
	    0x1000 - 0x1F1 : size);
	if (gb_linux_plan(k, len, size % 3 ? "console=ttyS0" : "", &rd, 1, map, n, &p, err,
	    sizeof(err)) == 0) {
		for (int i = 0; i < p.nw; i++)
			if (!in_ram(map, n, p.w[i].gpa, p.w[i].len))
				abort();
	}
	free(k);
	return 0;
}
