/* -l debugcon,FILE: bytes the guest writes to I/O port 0x402 go to FILE.
 * SeaBIOS (and OVMF's debug builds) print their debug log there, as on QEMU's
 * isa-debugcon; a byte read returns 0xE9 as QEMU's does, which is how SeaBIOS
 * tells the port is there (it stays silent otherwise).
 *
 * The file grows to lpc.debugcon.maxsize (DEBUGCON_MAXSIZE by default) and no
 * further: a guest writing without end costs the host that much disk, not all
 * of it. The bytes past the limit are dropped and counted.
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
static uint64_t debugcon_max, debugcon_written, debugcon_lost;

bool debugcon_byte(bool wr, uint64_t *val)
{
	uint8_t b = (uint8_t)*val;

	if (debugcon_fd < 0)
		return false;
	if (!wr) {
		*val = 0xe9;
		return true;
	}
	if (debugcon_written >= debugcon_max) {
		if (debugcon_lost++ == 0)
			warnx("debugcon: the file reached its limit of %llu bytes "
			    "(lpc.debugcon.maxsize); further output is dropped",
			    (unsigned long long)debugcon_max);
		return true;
	}
	/* A full disk (or a FIFO nobody reads) loses debug output, never the guest. */
	if (write(debugcon_fd, &b, 1) == 1)
		debugcon_written++;
	else
		debugcon_lost++;
	return true;
}

uint64_t debugcon_dropped(void)
{
	return debugcon_lost;
}

int debugcon_open(const char *path, uint64_t maxsize)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NONBLOCK,
	    0644);

	if (fd < 0)
		return -1;
	if (debugcon_fd >= 0)
		close(debugcon_fd);
	debugcon_fd = fd;
	debugcon_max = maxsize;
	debugcon_written = debugcon_lost = 0;
	return 0;
}

static int debugcon_init(struct vmctx *ctx, const char *name, const char *node)
{
	const char *path = get_config_value_node(node, "path");
	const char *max = get_config_value_node(node, "maxsize");
	uint64_t maxsize = DEBUGCON_MAXSIZE;

	(void)ctx;
	if (path == NULL) {
		warnx("%s: %s.path is not set", name, node);
		return -1;
	}
	if (max != NULL && parse_memsize(max, &maxsize) != 0) {
		warnx("%s: invalid %s.maxsize \"%s\": a size such as 64M or 1G", name, node, max);
		return -1;
	}
	if (debugcon_open(path, maxsize) != 0) {
		warnx("%s: %s: %s", name, path, strerror(errno));
		return -1;
	}
	return 0;
}

static const struct lpc_dev lpc_debugcon = { "debugcon", debugcon_init };
LPC_DEV_SET(lpc_debugcon);
