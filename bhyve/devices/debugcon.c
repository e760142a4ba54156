/* -l debugcon,FILE: bytes the guest writes to I/O port 0x402 go to FILE.
 * SeaBIOS (and OVMF's debug builds) print their debug log there, as on QEMU's
 * isa-debugcon; a byte read returns 0xE9 as QEMU's does, which is how SeaBIOS
 * tells the port is there (it stays silent otherwise).
 *
 * On bhyve's platform 0x402 is also PM1a_EN, a 16-bit register, so the port
 * is not registered here: pm.c hands byte accesses at 0x402 to debugcon_byte. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "debugcon.h"
#include "lpc.h"
#include "util.h"

static int debugcon_fd = -1;

bool debugcon_byte(bool wr, uint64_t *val)
{
	uint8_t b = (uint8_t)*val;

	if (debugcon_fd < 0)
		return false;
	if (!wr) {
		*val = 0xe9;
		return true;
	}
	/* A full disk loses debug output, never the guest. */
	if (write(debugcon_fd, &b, 1) < 0)
		return true;
	return true;
}

static int debugcon_init(struct vmctx *ctx, const char *name, const char *node)
{
	const char *path = get_config_value_node(node, "path");

	(void)ctx;
	if (path == NULL) {
		warnx("%s: %s.path is not set", name, node);
		return -1;
	}
	debugcon_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (debugcon_fd < 0) {
		warnx("%s: %s: %s", name, path, strerror(errno));
		return -1;
	}
	return 0;
}

static const struct lpc_dev lpc_debugcon = { "debugcon", debugcon_init };
LPC_DEV_SET(lpc_debugcon);
