/* libFuzzer target: bhyve's fwctl protocol on ports 0x510 (requests, 16- and
 * 32-bit) and 0x511 (the signature and the replies), through the op stream
 * (fuzz_common.h): the handshake, request lengths, node names, reply reads
 * at any point. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "fwctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
	if (fwctl_init(2) != 0)
		abort();
	fz_add_port(0x510, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup };

	return fz_run(&t, data, size);
}
