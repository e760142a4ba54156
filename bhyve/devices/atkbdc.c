/* The 8042 keyboard controller at 0x60/0x64, as far as firmware and guests use it
 * without a display: self-tests, the command byte, the output port (A20, reset),
 * and command 0xFE, the reset line that ends the VM with "reboot". No keyboard or
 * mouse is attached. */
#include <pthread.h>
#include <stdbool.h>

#include "iodispatch.h"
#include "util.h"
#include "vmexit.h"

#define KBD_DATA	0x60
#define KBD_STS		0x64
#define STS_OBF		0x01
#define STS_SYS		0x04
#define STS_CMD		0x08

static struct {
	pthread_mutex_t mtx;
	uint8_t status;
	uint8_t out;		/* output buffer, valid with STS_OBF */
	uint8_t cmdbyte;
	uint8_t outport;
	uint8_t pending;	/* command waiting for its data byte */
} kbc = { .mtx = PTHREAD_MUTEX_INITIALIZER, .status = STS_SYS, .cmdbyte = 0x45, .outport = 0x03 };

static void put_out(uint8_t v)
{
	kbc.out = v;
	kbc.status |= STS_OBF;
}

static bool kbc_command(uint8_t cmd)
{
	kbc.status |= STS_CMD;
	switch (cmd) {
	case 0x20: put_out(kbc.cmdbyte); break;
	case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4: kbc.pending = cmd; break;
	case 0xa7: kbc.cmdbyte |= 0x20; break;		/* disable aux */
	case 0xa8: kbc.cmdbyte &= (uint8_t)~0x20; break;
	case 0xa9: put_out(0x00); break;		/* aux interface test: ok */
	case 0xaa: put_out(0x55); kbc.status |= STS_SYS; break;	/* self-test passed */
	case 0xab: put_out(0x00); break;		/* keyboard interface test: ok */
	case 0xad: kbc.cmdbyte |= 0x10; break;
	case 0xae: kbc.cmdbyte &= (uint8_t)~0x10; break;
	case 0xd0: put_out(kbc.outport); break;
	case 0xfe: return true;				/* pulse the reset line */
	default: break;
	}
	return false;
}

static bool kbc_data(uint8_t v)
{
	uint8_t cmd = kbc.pending;

	kbc.pending = 0;
	kbc.status &= (uint8_t)~STS_CMD;
	switch (cmd) {
	case 0x60:
		kbc.cmdbyte = v;
		break;
	case 0xd1:
		kbc.outport = v;
		return !(v & 0x01);	/* bit 0 low holds the CPU in reset */
	case 0xd2: case 0xd3:
		put_out(v);		/* echo as if from the keyboard/mouse */
		break;
	case 0xd4:
		put_out(0xfe);		/* no mouse: resend */
		break;
	default:
		put_out(0xfe);		/* no keyboard behind the controller */
		break;
	}
	return false;
}

static int atkbdc_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	bool reset = false;

	(void)arg;
	if (size != 1)
		return -1;
	pthread_mutex_lock(&kbc.mtx);
	if (port == KBD_STS) {
		if (write)
			reset = kbc_command((uint8_t)*val);
		else
			*val = kbc.status;
	} else {
		if (write) {
			reset = kbc_data((uint8_t)*val);
		} else {
			*val = kbc.out;
			kbc.status &= (uint8_t)~STS_OBF;
		}
	}
	pthread_mutex_unlock(&kbc.mtx);
	if (reset)
		vm_request_exit(EXIT_REBOOT);
	return 0;
}

INOUT_PORT("atkbdc", KBD_DATA, 1, atkbdc_io);
INOUT_PORT("atkbdc", KBD_STS, 1, atkbdc_io);
