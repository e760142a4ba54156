/* Port 0x80, where firmware writes POST codes: accepted and dropped, reads 0xff. */
#include "iodispatch.h"
#include "util.h"

static int post_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	(void)arg;
	(void)port;
	(void)size;
	if (!write)
		*val = 0xff;
	return 0;
}

INOUT_PORT("post", 0x80, 1, post_io);
