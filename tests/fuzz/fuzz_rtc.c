/* libFuzzer target: the RTC/CMOS at ports 0x70-0x73 (index and data, both
 * banks) driven by a guest's accesses in the op stream (fuzz_common.h): the
 * time registers, the alarm, the periodic interrupt and the NVRAM. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "devices/rtc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
	if (rtc_init(fz_ctx, 2) != 0)
		abort();
	fz_add_port(0x70, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup };

	return fz_run(&t, data, size);
}
