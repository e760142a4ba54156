/* The 8042 keyboard controller at 0x60/0x64 with a PS/2 keyboard behind it, as
 * far as firmware and guests use them without a display: controller self-tests,
 * the command byte, the output port (A20, reset), the keyboard's command set
 * (reset, identify, LEDs, typematic, scan code set, enable), IRQ1, and command
 * 0xFE, the reset line that ends the VM with "reboot". No keys are ever pressed
 * (that needs a framebuffer), and no mouse answers on the aux port. */
#include <pthread.h>
#include <stdbool.h>

#include "atkbdc.h"
#include "iodispatch.h"
#include "pci_emul.h"
#include "util.h"
#include "vmmapi.h"

#define KBD_DATA	0x60
#define KBD_STS		0x64
#define KBD_IRQ		1
#define STS_OBF		0x01
#define STS_SYS		0x04
#define STS_CMD		0x08
#define CMDBYTE_KBD_INT	0x01
#define KBD_ACK		0xfa
#define KBD_RESEND	0xfe
#define OUTQ		16

static struct {
	pthread_mutex_t mtx;
	struct vmctx *ctx;
	uint8_t status;
	uint8_t outq[OUTQ];	/* bytes for the guest; outq[0] is the output buffer */
	int nout;
	uint8_t cmdbyte;
	uint8_t outport;
	uint8_t pending;	/* controller command waiting for its data byte */
	uint8_t kbd_pending;	/* keyboard command waiting for its argument */
	uint8_t scancode_set;
	bool irq;
} kbc = { .mtx = PTHREAD_MUTEX_INITIALIZER, .status = STS_SYS, .cmdbyte = 0x45,
	.outport = 0x03, .scancode_set = 2 };

static void put_out(uint8_t v)
{
	if (kbc.nout < OUTQ)
		kbc.outq[kbc.nout++] = v;
}

static void update(void)
{
	if (kbc.nout > 0)
		kbc.status |= STS_OBF;
	else
		kbc.status &= (uint8_t)~STS_OBF;
	isa_irq_follow(kbc.ctx, KBD_IRQ, &kbc.irq, kbc.nout > 0 && (kbc.cmdbyte & CMDBYTE_KBD_INT));
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

/* A byte for the keyboard itself: its command set, each answered with ACK. */
static void kbd_byte(uint8_t v)
{
	uint8_t cmd = kbc.kbd_pending;

	kbc.kbd_pending = 0;
	if (cmd == 0xf0) {			/* scan code set: 0 asks which */
		put_out(KBD_ACK);
		if (v == 0)
			put_out(kbc.scancode_set);
		else if (v <= 3)
			kbc.scancode_set = v;
		return;
	}
	if (cmd == 0xed || cmd == 0xf3) {	/* LEDs, typematic rate: the argument */
		put_out(KBD_ACK);
		return;
	}
	switch (v) {
	case 0xff:				/* reset: ACK, then self-test passed */
		put_out(KBD_ACK);
		put_out(0xaa);
		kbc.scancode_set = 2;
		break;
	case 0xf2:				/* identify: an MF2 keyboard */
		put_out(KBD_ACK);
		put_out(0xab);
		put_out(0x83);
		break;
	case 0xee:				/* echo */
		put_out(0xee);
		break;
	case 0xed: case 0xf0: case 0xf3:
		kbc.kbd_pending = v;
		put_out(KBD_ACK);
		break;
	default:				/* enable, disable, defaults, ... */
		put_out(KBD_ACK);
		break;
	}
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
		put_out(KBD_RESEND);	/* no mouse */
		break;
	default:
		kbd_byte(v);
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
	} else if (write) {
		reset = kbc_data((uint8_t)*val);
	} else {
		/* Reading takes the output buffer; with nothing new it repeats. */
		*val = kbc.outq[0];
		if (kbc.nout > 0) {
			for (int i = 1; i < kbc.nout; i++)
				kbc.outq[i - 1] = kbc.outq[i];
			kbc.nout--;
		}
	}
	update();
	pthread_mutex_unlock(&kbc.mtx);
	if (reset)
		vm_suspend(kbc.ctx, VM_SUSPEND_RESET);
	return 0;
}

int atkbdc_init(struct vmctx *ctx)
{
	struct io_range data = { .name = "atkbdc", .base = KBD_DATA, .size = 1,
	    .handler = atkbdc_io, .arg = NULL };
	struct io_range sts = { .name = "atkbdc", .base = KBD_STS, .size = 1,
	    .handler = atkbdc_io, .arg = NULL };

	kbc.ctx = ctx;
	pci_irq_reserve(KBD_IRQ);
	if (register_io(IO_PORT, &data) != 0 || register_io(IO_PORT, &sts) != 0)
		return -1;
	return 0;
}
