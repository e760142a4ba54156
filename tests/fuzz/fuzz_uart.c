/* libFuzzer target: COM1's 16550 (ports 0x3F8-0x3FF, bhyve/devices/com.c)
 * through the op stream (fuzz_common.h), with its console on a TCP socket
 * that the harness holds the other end of: the target's op sends the next
 * bytes of the input as host input (op bit 3 clear) or drains what the guest
 * sent (bit 3 set). DLAB, FIFO control, loopback, interrupts, the scratch
 * register, receive overruns. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "devices/lpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int host = -1;

static void setup(void)
{
	static const char *const specs[] = { "0,hostbridge", "31,lpc" };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	char spec[64];

	/* A free port, then the console listens there and the harness connects. */
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) != 0)
		abort();
	close(s);
	snprintf(spec, sizeof(spec), "com1,tcp=127.0.0.1:%d", ntohs(sa.sin_port));
	if (lpc_device_parse(spec) != 0)
		abort();
	fz_pci(specs, 2);
	host = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (host < 0)
		abort();
	connect(host, (struct sockaddr *)&sa, sizeof(sa));
	fz_poll(20);
	fz_add_port(0x3f8, 8);
}

static void hook(struct fz_input *in, uint8_t op)
{
	uint8_t buf[256];
	size_t n;

	if (op & 8) {
		while (recv(host, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		return;
	}
	n = fz_take_buf(in, buf, (size_t)fz_take(in, 1) % 64);
	if (n > 0 && send(host, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		fz_poll(2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fz_target t = { .setup = setup, .hook = hook };

	return fz_run(&t, data, size);
}
