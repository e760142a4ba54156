/* libFuzzer target: virtio-console with two ports (MULTIPORT, so the control
 * queues carry DEVICE_READY, PORT_READY, PORT_OPEN and the device's DEVICE_ADD,
 * CONSOLE_PORT and PORT_NAME messages), each a UNIX socket; the harness is
 * connected to port 0 as its client. The target's op (fuzz_common.h) sends the
 * bytes that follow to port 0 (bit 3 clear: a length byte, then the bytes; the
 * device reads them into the guest's receive buffers) or reads what the guest
 * sent (bit 3 set). Regions, in order: BAR 0 (legacy), BAR 1 (MSI-X), BAR 4
 * (modern), configuration space. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "fuzz_common.h"
#include "pci_emul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pci_devinst *con;
static int client = -1;
static char dir[] = "/tmp/bhyve-fuzz-vcon-XXXXXX";

static void cleanup(void)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/p0", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/p1", dir);
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char spec[160];
	const char *specs[] = { spec };

	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(spec, sizeof(spec), "6,virtio-console,port0=%s/p0,console=%s/p1", dir, dir);
	fz_pci(specs, 1);
	con = pci_find(0, 6, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/p0", dir);
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (client < 0 || connect(client, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		abort();
	fz_poll(4);
	fz_add_bars(con);
	fz_add_cfg(con);
	fz_pci_save(con);
}

static void drain(void)
{
	uint8_t buf[4096];

	while (recv(client, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void reset(void)
{
	fz_virtio_reset(con);
	fz_pci_restore();
	drain();
	fake_reset_msi();
	fake_reset_irqs();
}

static void hook(struct fz_input *in, uint8_t op)
{
	uint8_t buf[256];
	size_t n;

	if (op & 8) {
		drain();
		return;
	}
	n = fz_take_buf(in, buf, (size_t)fz_take(in, 1));
	if (n > 0 && send(client, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		fz_poll(2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .reset = reset, .hook = hook,
	    .finish = reset, .dma = true };

	return fz_run(&t, data, size);
}
