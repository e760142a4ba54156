/* The 8042 keyboard controller at 0x60/0x64 with a PS/2 keyboard (IRQ1) and a
 * PS/2 mouse on its aux port (IRQ12): controller self-tests, the command byte,
 * the output port (A20, reset), the keyboard's and the mouse's command sets,
 * and command 0xFE, the reset line that ends the VM with "reboot".
 *
 * Keys and pointer movement come from the graphical console (input.h): a key
 * (an X keysym; the US layout, or -K's layout file through kbdlayout.c)
 * becomes scan code set 2, which the controller hands
 * the guest as set 1 while its translation bit (command byte bit 6) is on, as
 * an 8042 does; the pointer's absolute positions become the mouse's relative
 * 3-byte packets while the guest has data reporting on.
 *
 * The controller has one output buffer; the keyboard and the mouse each queue
 * bytes behind it, and answers to controller commands go first. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "atkbdc.h"
#include "input.h"
#include "iodispatch.h"
#include "pci_emul.h"
#include "util.h"
#include "vmmapi.h"

#define KBD_DATA	0x60
#define KBD_STS		0x64
#define KBD_IRQ		1
#define AUX_IRQ		12
#define STS_OBF		0x01
#define STS_SYS		0x04
#define STS_CMD		0x08
#define STS_UNLOCKED	0x10
#define STS_AUXB	0x20	/* the output buffer holds a mouse byte */
#define CMDBYTE_KBD_INT	0x01
#define CMDBYTE_AUX_INT	0x02
#define CMDBYTE_KBD_OFF	0x10
#define CMDBYTE_AUX_OFF	0x20
#define CMDBYTE_XLAT	0x40
#define PS2_ACK		0xfa
#define PS2_RESEND	0xfe
#define QLEN		64

struct byteq {
	uint8_t b[QLEN];
	int head, n;
};

static struct {
	pthread_mutex_t mtx;
	struct vmctx *ctx;
	uint8_t status;
	uint8_t out;		/* the output buffer */
	bool out_full, out_aux;
	struct byteq ctlq, kbdq, auxq;
	uint8_t cmdbyte;
	uint8_t outport;
	uint8_t pending;	/* controller command waiting for its data byte */
	bool irq1, irq12;
	/* the keyboard */
	uint8_t kbd_pending;	/* command waiting for its argument */
	uint8_t scancode_set;
	bool kbd_scanning;
	/* the mouse */
	uint8_t aux_pending;
	bool aux_reporting, aux_remote, aux_wrap, aux_scale21;
	uint8_t aux_rate, aux_res;
	int aux_buttons;	/* PS/2 order: bit 0 left, 1 right, 2 middle */
	int aux_dx, aux_dy;	/* movement not yet reported */
	int ptr_x, ptr_y;
	bool ptr_known;
} kbc = { .mtx = PTHREAD_MUTEX_INITIALIZER, .status = STS_SYS | STS_UNLOCKED,
	.cmdbyte = 0x45, .outport = 0x03, .scancode_set = 2, .kbd_scanning = true,
	.aux_rate = 100, .aux_res = 2 };

static void q_put(struct byteq *q, uint8_t v)
{
	if (q->n < QLEN)
		q->b[(q->head + q->n++) % QLEN] = v;	/* full: dropped, as a FIFO overrun */
}

static uint8_t q_get(struct byteq *q)
{
	uint8_t v = q->b[q->head];

	q->head = (q->head + 1) % QLEN;
	q->n--;
	return v;
}

/* Moves the next byte into an empty output buffer and follows the IRQ lines. */
static void update(void)
{
	if (!kbc.out_full) {
		if (kbc.ctlq.n > 0) {
			kbc.out = q_get(&kbc.ctlq);
			kbc.out_full = true;
			kbc.out_aux = false;
		} else if (kbc.kbdq.n > 0 && !(kbc.cmdbyte & CMDBYTE_KBD_OFF)) {
			kbc.out = q_get(&kbc.kbdq);
			kbc.out_full = true;
			kbc.out_aux = false;
		} else if (kbc.auxq.n > 0 && !(kbc.cmdbyte & CMDBYTE_AUX_OFF)) {
			kbc.out = q_get(&kbc.auxq);
			kbc.out_full = true;
			kbc.out_aux = true;
		}
	}
	kbc.status &= (uint8_t)~(STS_OBF | STS_AUXB);
	if (kbc.out_full)
		kbc.status |= (uint8_t)(STS_OBF | (kbc.out_aux ? STS_AUXB : 0));
	isa_irq_follow(kbc.ctx, KBD_IRQ, &kbc.irq1,
	    kbc.out_full && !kbc.out_aux && (kbc.cmdbyte & CMDBYTE_KBD_INT));
	isa_irq_follow(kbc.ctx, AUX_IRQ, &kbc.irq12,
	    kbc.out_full && kbc.out_aux && (kbc.cmdbyte & CMDBYTE_AUX_INT));
}

static bool kbc_command(uint8_t cmd)
{
	kbc.status |= STS_CMD;
	switch (cmd) {
	case 0x20: q_put(&kbc.ctlq, kbc.cmdbyte); break;
	case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4: kbc.pending = cmd; break;
	case 0xa7: kbc.cmdbyte |= CMDBYTE_AUX_OFF; break;
	case 0xa8: kbc.cmdbyte &= (uint8_t)~CMDBYTE_AUX_OFF; break;
	case 0xa9: q_put(&kbc.ctlq, 0x00); break;	/* aux interface test: ok */
	case 0xaa: q_put(&kbc.ctlq, 0x55); kbc.status |= STS_SYS; break; /* self-test passed */
	case 0xab: q_put(&kbc.ctlq, 0x00); break;	/* keyboard interface test: ok */
	case 0xad: kbc.cmdbyte |= CMDBYTE_KBD_OFF; break;
	case 0xae: kbc.cmdbyte &= (uint8_t)~CMDBYTE_KBD_OFF; break;
	case 0xd0: q_put(&kbc.ctlq, kbc.outport); break;
	case 0xfe: return true;				/* pulse the reset line */
	default: break;
	}
	return false;
}

/* ---- the keyboard ---- */

static void kbd_byte(uint8_t v)
{
	uint8_t cmd = kbc.kbd_pending;

	kbc.kbd_pending = 0;
	if (cmd == 0xf0) {			/* scan code set: 0 asks which */
		q_put(&kbc.kbdq, PS2_ACK);
		if (v == 0)
			q_put(&kbc.kbdq, kbc.scancode_set);
		else if (v <= 3)
			kbc.scancode_set = v;
		return;
	}
	if (cmd == 0xed || cmd == 0xf3) {	/* LEDs, typematic rate: the argument */
		q_put(&kbc.kbdq, PS2_ACK);
		return;
	}
	switch (v) {
	case 0xff:				/* reset: ACK, then self-test passed */
		kbc.kbdq.n = 0;
		q_put(&kbc.kbdq, PS2_ACK);
		q_put(&kbc.kbdq, 0xaa);
		kbc.scancode_set = 2;
		kbc.kbd_scanning = true;
		break;
	case 0xf2:				/* identify: an MF2 keyboard */
		q_put(&kbc.kbdq, PS2_ACK);
		q_put(&kbc.kbdq, 0xab);
		q_put(&kbc.kbdq, 0x83);
		break;
	case 0xee:				/* echo */
		q_put(&kbc.kbdq, 0xee);
		break;
	case 0xed: case 0xf0: case 0xf3:
		kbc.kbd_pending = v;
		q_put(&kbc.kbdq, PS2_ACK);
		break;
	case 0xf4:				/* enable scanning */
		kbc.kbd_scanning = true;
		q_put(&kbc.kbdq, PS2_ACK);
		break;
	case 0xf5:				/* disable scanning, defaults */
		kbc.kbd_scanning = false;
		q_put(&kbc.kbdq, PS2_ACK);
		break;
	case 0xf6:				/* defaults */
		kbc.kbd_scanning = true;
		q_put(&kbc.kbdq, PS2_ACK);
		break;
	default:
		q_put(&kbc.kbdq, PS2_ACK);
		break;
	}
}

/* A key: its scan code in set 1 and set 2, and whether both are E0-prefixed. */
struct ps2_key {
	uint8_t set1, set2;
	bool e0;
};

/* Keysyms 0x20-0x7e on the US layout, as the key that types them. */
static const char us_base[] = "`1234567890-=qwertyuiop[]\\asdfghjkl;'zxcvbnm,./ ";
static const char us_shift[] = "~!@#$%^&*()_+QWERTYUIOP{}|ASDFGHJKL:\"ZXCVBNM<>? ";
static const struct ps2_key us_keys[] = {
	{ 0x29, 0x0e, 0 }, { 0x02, 0x16, 0 }, { 0x03, 0x1e, 0 }, { 0x04, 0x26, 0 },
	{ 0x05, 0x25, 0 }, { 0x06, 0x2e, 0 }, { 0x07, 0x36, 0 }, { 0x08, 0x3d, 0 },
	{ 0x09, 0x3e, 0 }, { 0x0a, 0x46, 0 }, { 0x0b, 0x45, 0 }, { 0x0c, 0x4e, 0 },
	{ 0x0d, 0x55, 0 },
	{ 0x10, 0x15, 0 }, { 0x11, 0x1d, 0 }, { 0x12, 0x24, 0 }, { 0x13, 0x2d, 0 },
	{ 0x14, 0x2c, 0 }, { 0x15, 0x35, 0 }, { 0x16, 0x3c, 0 }, { 0x17, 0x43, 0 },
	{ 0x18, 0x44, 0 }, { 0x19, 0x4d, 0 }, { 0x1a, 0x54, 0 }, { 0x1b, 0x5b, 0 },
	{ 0x2b, 0x5d, 0 },
	{ 0x1e, 0x1c, 0 }, { 0x1f, 0x1b, 0 }, { 0x20, 0x23, 0 }, { 0x21, 0x2b, 0 },
	{ 0x22, 0x34, 0 }, { 0x23, 0x33, 0 }, { 0x24, 0x3b, 0 }, { 0x25, 0x42, 0 },
	{ 0x26, 0x4b, 0 }, { 0x27, 0x4c, 0 }, { 0x28, 0x52, 0 },
	{ 0x2c, 0x1a, 0 }, { 0x2d, 0x22, 0 }, { 0x2e, 0x21, 0 }, { 0x2f, 0x2a, 0 },
	{ 0x30, 0x32, 0 }, { 0x31, 0x31, 0 }, { 0x32, 0x3a, 0 }, { 0x33, 0x41, 0 },
	{ 0x34, 0x49, 0 }, { 0x35, 0x4a, 0 },
	{ 0x39, 0x29, 0 },
};

/* The keys that type no character: X keysyms 0xffXX. */
static const struct {
	uint16_t sym;
	struct ps2_key key;
} fn_keys[] = {
	{ 0xff08, { 0x0e, 0x66, 0 } },	/* BackSpace */
	{ 0xff09, { 0x0f, 0x0d, 0 } },	/* Tab */
	{ 0xff0d, { 0x1c, 0x5a, 0 } },	/* Return */
	{ 0xff14, { 0x46, 0x7e, 0 } },	/* Scroll_Lock */
	{ 0xff1b, { 0x01, 0x76, 0 } },	/* Escape */
	{ 0xff50, { 0x47, 0x6c, 1 } },	/* Home */
	{ 0xff51, { 0x4b, 0x6b, 1 } },	/* Left */
	{ 0xff52, { 0x48, 0x75, 1 } },	/* Up */
	{ 0xff53, { 0x4d, 0x74, 1 } },	/* Right */
	{ 0xff54, { 0x50, 0x72, 1 } },	/* Down */
	{ 0xff55, { 0x49, 0x7d, 1 } },	/* Page_Up */
	{ 0xff56, { 0x51, 0x7a, 1 } },	/* Page_Down */
	{ 0xff57, { 0x4f, 0x69, 1 } },	/* End */
	{ 0xff63, { 0x52, 0x70, 1 } },	/* Insert */
	{ 0xff67, { 0x5d, 0x2f, 1 } },	/* Menu */
	{ 0xff7f, { 0x45, 0x77, 0 } },	/* Num_Lock */
	{ 0xff8d, { 0x1c, 0x5a, 1 } },	/* KP_Enter */
	{ 0xff95, { 0x47, 0x6c, 0 } },	/* KP_Home */
	{ 0xff96, { 0x4b, 0x6b, 0 } },	/* KP_Left */
	{ 0xff97, { 0x48, 0x75, 0 } },	/* KP_Up */
	{ 0xff98, { 0x4d, 0x74, 0 } },	/* KP_Right */
	{ 0xff99, { 0x50, 0x72, 0 } },	/* KP_Down */
	{ 0xff9a, { 0x49, 0x7d, 0 } },	/* KP_Page_Up */
	{ 0xff9b, { 0x51, 0x7a, 0 } },	/* KP_Page_Down */
	{ 0xff9c, { 0x4f, 0x69, 0 } },	/* KP_End */
	{ 0xff9d, { 0x4c, 0x73, 0 } },	/* KP_Begin */
	{ 0xff9e, { 0x52, 0x70, 0 } },	/* KP_Insert */
	{ 0xff9f, { 0x53, 0x71, 0 } },	/* KP_Delete */
	{ 0xffaa, { 0x37, 0x7c, 0 } },	/* KP_Multiply */
	{ 0xffab, { 0x4e, 0x79, 0 } },	/* KP_Add */
	{ 0xffad, { 0x4a, 0x7b, 0 } },	/* KP_Subtract */
	{ 0xffae, { 0x53, 0x71, 0 } },	/* KP_Decimal */
	{ 0xffaf, { 0x35, 0x4a, 1 } },	/* KP_Divide */
	{ 0xffb0, { 0x52, 0x70, 0 } },	/* KP_0 ... */
	{ 0xffb1, { 0x4f, 0x69, 0 } },
	{ 0xffb2, { 0x50, 0x72, 0 } },
	{ 0xffb3, { 0x51, 0x7a, 0 } },
	{ 0xffb4, { 0x4b, 0x6b, 0 } },
	{ 0xffb5, { 0x4c, 0x73, 0 } },
	{ 0xffb6, { 0x4d, 0x74, 0 } },
	{ 0xffb7, { 0x47, 0x6c, 0 } },
	{ 0xffb8, { 0x48, 0x75, 0 } },
	{ 0xffb9, { 0x49, 0x7d, 0 } },	/* ... KP_9 */
	{ 0xffbe, { 0x3b, 0x05, 0 } },	/* F1 */
	{ 0xffbf, { 0x3c, 0x06, 0 } },
	{ 0xffc0, { 0x3d, 0x04, 0 } },
	{ 0xffc1, { 0x3e, 0x0c, 0 } },
	{ 0xffc2, { 0x3f, 0x03, 0 } },
	{ 0xffc3, { 0x40, 0x0b, 0 } },
	{ 0xffc4, { 0x41, 0x83, 0 } },
	{ 0xffc5, { 0x42, 0x0a, 0 } },
	{ 0xffc6, { 0x43, 0x01, 0 } },
	{ 0xffc7, { 0x44, 0x09, 0 } },	/* F10 */
	{ 0xffc8, { 0x57, 0x78, 0 } },	/* F11 */
	{ 0xffc9, { 0x58, 0x07, 0 } },	/* F12 */
	{ 0xffe1, { 0x2a, 0x12, 0 } },	/* Shift_L */
	{ 0xffe2, { 0x36, 0x59, 0 } },	/* Shift_R */
	{ 0xffe3, { 0x1d, 0x14, 0 } },	/* Control_L */
	{ 0xffe4, { 0x1d, 0x14, 1 } },	/* Control_R */
	{ 0xffe5, { 0x3a, 0x58, 0 } },	/* Caps_Lock */
	{ 0xffe7, { 0x5b, 0x1f, 1 } },	/* Meta_L: as Super_L */
	{ 0xffe8, { 0x5c, 0x27, 1 } },	/* Meta_R */
	{ 0xffe9, { 0x38, 0x11, 0 } },	/* Alt_L */
	{ 0xffea, { 0x38, 0x11, 1 } },	/* Alt_R */
	{ 0xffeb, { 0x5b, 0x1f, 1 } },	/* Super_L */
	{ 0xffec, { 0x5c, 0x27, 1 } },	/* Super_R */
	{ 0xfe03, { 0x38, 0x11, 1 } },	/* ISO_Level3_Shift (AltGr) */
	{ 0xffff, { 0x53, 0x71, 1 } },	/* Delete */
};

/* Keys on no US keyboard that layouts name (set 1 through the 8042's
 * translation): the ISO key next to left Shift, and the Japanese keys. */
static const struct ps2_key extra_keys[] = {
	{ 0x56, 0x61, 0 },	/* ISO 102nd key (<>|) */
	{ 0x73, 0x51, 0 },	/* JIS Ro (\_) */
	{ 0x7d, 0x6a, 0 },	/* JIS Yen (|) */
	{ 0x70, 0x13, 0 },	/* Hiragana/Katakana */
	{ 0x79, 0x64, 0 },	/* Henkan */
	{ 0x7b, 0x67, 0 },	/* Muhenkan */
};

bool atkbdc_set1_of(uint8_t set2, bool e0, uint8_t *set1)
{
	for (size_t i = 0; i < nitems(us_keys); i++)
		if (us_keys[i].set2 == set2 && us_keys[i].e0 == e0) {
			*set1 = us_keys[i].set1;
			return true;
		}
	for (size_t i = 0; i < nitems(fn_keys); i++)
		if (fn_keys[i].key.set2 == set2 && fn_keys[i].key.e0 == e0) {
			*set1 = fn_keys[i].key.set1;
			return true;
		}
	for (size_t i = 0; i < nitems(extra_keys); i++)
		if (extra_keys[i].set2 == set2 && extra_keys[i].e0 == e0) {
			*set1 = extra_keys[i].set1;
			return true;
		}
	return false;
}

/* The key that types keysym on the layout (-K; kbdlayout.c), else on the US
 * layout; false for none. */
bool atkbdc_keysym_key(uint32_t keysym, uint8_t *set1, uint8_t *set2, bool *e0)
{
	const struct ps2_key *k = NULL;

	if (kbdlayout_key(keysym, set2, e0))
		return atkbdc_set1_of(*set2, *e0, set1);
	if (keysym >= 0x20 && keysym <= 0x7e) {
		const char *p;

		if ((p = strchr(us_base, (int)keysym)) != NULL)
			k = &us_keys[p - us_base];
		else if ((p = strchr(us_shift, (int)keysym)) != NULL)
			k = &us_keys[p - us_shift];
	} else {
		for (size_t i = 0; i < nitems(fn_keys); i++)
			if (fn_keys[i].sym == keysym)
				k = &fn_keys[i].key;
	}
	if (k == NULL)
		return false;
	*set1 = k->set1;
	*set2 = k->set2;
	*e0 = k->e0;
	return true;
}

/* A key pressed or released: set 1 when the controller translates (or the
 * guest chose set 1), else set 2 (set 3 is answered as set 2). */
static void kbd_key(bool down, uint32_t keysym)
{
	uint8_t s1, s2;
	bool e0;

	if (!kbc.kbd_scanning || !atkbdc_keysym_key(keysym, &s1, &s2, &e0))
		return;
	if (e0)
		q_put(&kbc.kbdq, 0xe0);
	if ((kbc.cmdbyte & CMDBYTE_XLAT) || kbc.scancode_set == 1) {
		q_put(&kbc.kbdq, down ? s1 : (uint8_t)(s1 | 0x80));
	} else {
		if (!down)
			q_put(&kbc.kbdq, 0xf0);
		q_put(&kbc.kbdq, s2);
	}
}

static void atkbdc_key_event(void *arg, bool down, uint32_t keysym)
{
	(void)arg;
	pthread_mutex_lock(&kbc.mtx);
	kbd_key(down, keysym);
	update();
	pthread_mutex_unlock(&kbc.mtx);
}

/* ---- the mouse ---- */

static void aux_defaults(void)
{
	kbc.aux_reporting = kbc.aux_remote = kbc.aux_wrap = kbc.aux_scale21 = false;
	kbc.aux_rate = 100;
	kbc.aux_res = 2;
	kbc.aux_dx = kbc.aux_dy = 0;
}

/* One movement packet: at most 255 counts each way; the rest waits. */
static void aux_packet(void)
{
	int dx = kbc.aux_dx, dy = kbc.aux_dy;
	uint8_t b0 = (uint8_t)(0x08 | (kbc.aux_buttons & 0x07));

	dx = dx > 255 ? 255 : dx < -256 ? -256 : dx;
	dy = dy > 255 ? 255 : dy < -256 ? -256 : dy;
	kbc.aux_dx -= dx;
	kbc.aux_dy -= dy;
	if (dx < 0)
		b0 |= 0x10;
	if (dy < 0)
		b0 |= 0x20;
	q_put(&kbc.auxq, b0);
	q_put(&kbc.auxq, (uint8_t)dx);
	q_put(&kbc.auxq, (uint8_t)dy);
}

static void aux_byte(uint8_t v)
{
	uint8_t cmd = kbc.aux_pending;

	kbc.aux_pending = 0;
	if (cmd == 0xf3 || cmd == 0xe8) {	/* the argument of a command */
		if (cmd == 0xf3)
			kbc.aux_rate = v;
		else if (v <= 3)
			kbc.aux_res = v;
		q_put(&kbc.auxq, PS2_ACK);
		return;
	}
	if (kbc.aux_wrap && v != 0xec && v != 0xff) {
		q_put(&kbc.auxq, v);		/* wrap mode echoes */
		return;
	}
	switch (v) {
	case 0xff:				/* reset: ACK, passed, ID 0 */
		kbc.auxq.n = 0;
		aux_defaults();
		q_put(&kbc.auxq, PS2_ACK);
		q_put(&kbc.auxq, 0xaa);
		q_put(&kbc.auxq, 0x00);
		break;
	case 0xf6:				/* defaults */
		aux_defaults();
		q_put(&kbc.auxq, PS2_ACK);
		break;
	case 0xf5:				/* data reporting off */
		kbc.aux_reporting = false;
		q_put(&kbc.auxq, PS2_ACK);
		break;
	case 0xf4:				/* data reporting on */
		kbc.aux_reporting = true;
		kbc.aux_dx = kbc.aux_dy = 0;
		q_put(&kbc.auxq, PS2_ACK);
		break;
	case 0xf3: case 0xe8:			/* sample rate, resolution: an argument */
		kbc.aux_pending = v;
		q_put(&kbc.auxq, PS2_ACK);
		break;
	case 0xf2:				/* get ID: a standard mouse */
		q_put(&kbc.auxq, PS2_ACK);
		q_put(&kbc.auxq, 0x00);
		break;
	case 0xf0:				/* remote mode */
		kbc.aux_remote = true;
		q_put(&kbc.auxq, PS2_ACK);
		break;
	case 0xee:				/* wrap mode */
		kbc.aux_wrap = true;
		q_put(&kbc.auxq, PS2_ACK);
		break;
	case 0xec:				/* leave wrap mode */
		kbc.aux_wrap = false;
		q_put(&kbc.auxq, PS2_ACK);
		break;
	case 0xeb:				/* read data: a packet now */
		q_put(&kbc.auxq, PS2_ACK);
		aux_packet();
		break;
	case 0xea:				/* stream mode */
		kbc.aux_remote = false;
		q_put(&kbc.auxq, PS2_ACK);
		break;
	case 0xe9:				/* status request */
		q_put(&kbc.auxq, PS2_ACK);
		q_put(&kbc.auxq, (uint8_t)((kbc.aux_remote ? 0x40 : 0) |
		    (kbc.aux_reporting ? 0x20 : 0) | (kbc.aux_scale21 ? 0x10 : 0) |
		    (kbc.aux_buttons & 1 ? 0x04 : 0) | (kbc.aux_buttons & 4 ? 0x02 : 0) |
		    (kbc.aux_buttons & 2 ? 0x01 : 0)));
		q_put(&kbc.auxq, kbc.aux_res);
		q_put(&kbc.auxq, kbc.aux_rate);
		break;
	case 0xe7: case 0xe6:			/* scaling 2:1, 1:1 */
		kbc.aux_scale21 = v == 0xe7;
		q_put(&kbc.auxq, PS2_ACK);
		break;
	default:
		q_put(&kbc.auxq, PS2_RESEND);	/* not a command */
		break;
	}
}

/* VNC gives absolute positions and buttons (bit 0 left, 1 middle, 2 right);
 * the mouse reports what changed since the last event. */
static void atkbdc_pointer_event(void *arg, int buttons, int x, int y)
{
	int ps2 = (buttons & 1) | (buttons & 2 ? 4 : 0) | (buttons & 4 ? 2 : 0);

	(void)arg;
	pthread_mutex_lock(&kbc.mtx);
	if (kbc.ptr_known && kbc.aux_reporting) {
		kbc.aux_dx += x - kbc.ptr_x;
		kbc.aux_dy -= y - kbc.ptr_y;	/* PS/2's y grows upwards */
	}
	kbc.ptr_x = x;
	kbc.ptr_y = y;
	kbc.ptr_known = true;
	if (kbc.aux_reporting && !kbc.aux_remote && !kbc.aux_wrap &&
	    (kbc.aux_dx != 0 || kbc.aux_dy != 0 || ps2 != kbc.aux_buttons)) {
		kbc.aux_buttons = ps2;
		do
			aux_packet();
		while ((kbc.aux_dx != 0 || kbc.aux_dy != 0) && kbc.auxq.n + 3 <= QLEN);
		kbc.aux_dx = kbc.aux_dy = 0;
	}
	kbc.aux_buttons = ps2;
	update();
	pthread_mutex_unlock(&kbc.mtx);
}

/* ---- the controller's ports ---- */

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
	case 0xd2:
		q_put(&kbc.kbdq, v);	/* as if from the keyboard */
		break;
	case 0xd3:
		q_put(&kbc.auxq, v);	/* as if from the mouse */
		break;
	case 0xd4:
		aux_byte(v);
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
		/* Reading empties the output buffer; with nothing new it repeats.
		 * The IRQ line drops with it, so that the next byte (the 0x50
		 * after an 0xE0) raises it again: the PIC takes IRQ 1 and 12 on
		 * edges, and a line left high would never interrupt again. */
		*val = kbc.out;
		if (kbc.out_full) {
			kbc.out_full = false;
			isa_irq_follow(kbc.ctx, KBD_IRQ, &kbc.irq1, false);
			isa_irq_follow(kbc.ctx, AUX_IRQ, &kbc.irq12, false);
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
	pci_irq_reserve(AUX_IRQ);
	if (register_io(IO_PORT, &data) != 0 || register_io(IO_PORT, &sts) != 0)
		return -1;
	input_set_keyboard(atkbdc_key_event, NULL);
	input_set_pointer(atkbdc_pointer_event, NULL);
	return 0;
}
