/* The USB HID tablet and keyboard (usb_hid.h), written from the USB 2.0
 * specification (chapter 9: standard requests and descriptors) and the HID 1.11
 * specification (class requests, report descriptors, the boot keyboard report,
 * the usage tables' keyboard page).
 *
 * Both are high-speed devices with one configuration, one interface and one
 * interrupt IN endpoint (0x81, 8 bytes, every 8 ms). The tablet's report is
 * buttons (left, right, middle), X and Y (16 bits each, 0..32767, absolute)
 * and a wheel (signed, relative); the keyboard's is the 8-byte boot report
 * (modifiers, a reserved byte, six keys), which it sends in both protocols. */
#include <string.h>

#include "devices/atkbdc.h"
#include "devices/usb_hid.h"
#include "util.h"

#define USB_VID		0xfb5d
#define USB_PID_TABLET	0x0001
#define USB_PID_KBD	0x0002

static const uint8_t tablet_report_desc[] = {
	0x05, 0x01,		/* usage page: generic desktop */
	0x09, 0x02,		/* usage: mouse */
	0xa1, 0x01,		/* collection: application */
	0x09, 0x01,		/*  usage: pointer */
	0xa1, 0x00,		/*  collection: physical */
	0x05, 0x09,		/*   usage page: buttons */
	0x19, 0x01, 0x29, 0x03,	/*   usage 1..3 */
	0x15, 0x00, 0x25, 0x01,	/*   logical 0..1 */
	0x95, 0x03, 0x75, 0x01,	/*   3 fields of 1 bit */
	0x81, 0x02,		/*   input: data, variable, absolute */
	0x95, 0x01, 0x75, 0x05,	/*   5 bits of padding */
	0x81, 0x01,		/*   input: constant */
	0x05, 0x01,		/*   usage page: generic desktop */
	0x09, 0x30, 0x09, 0x31,	/*   usage X, Y */
	0x15, 0x00, 0x26, 0xff, 0x7f,	/* logical 0..32767 */
	0x35, 0x00, 0x46, 0xff, 0x7f,	/* physical 0..32767 */
	0x75, 0x10, 0x95, 0x02,	/*   2 fields of 16 bits */
	0x81, 0x02,		/*   input: data, variable, absolute */
	0x09, 0x38,		/*   usage: wheel */
	0x15, 0x81, 0x25, 0x7f,	/*   logical -127..127 */
	0x35, 0x00, 0x45, 0x00,	/*   no physical range */
	0x75, 0x08, 0x95, 0x01,	/*   1 field of 8 bits */
	0x81, 0x06,		/*   input: data, variable, relative */
	0xc0,			/*  end collection */
	0xc0,			/* end collection */
};

static const uint8_t kbd_report_desc[] = {
	0x05, 0x01,		/* usage page: generic desktop */
	0x09, 0x06,		/* usage: keyboard */
	0xa1, 0x01,		/* collection: application */
	0x05, 0x07,		/*  usage page: keyboard */
	0x19, 0xe0, 0x29, 0xe7,	/*  usage 0xe0..0xe7 (the modifiers) */
	0x15, 0x00, 0x25, 0x01,	/*  logical 0..1 */
	0x75, 0x01, 0x95, 0x08,	/*  8 fields of 1 bit */
	0x81, 0x02,		/*  input: data, variable, absolute */
	0x95, 0x01, 0x75, 0x08,	/*  one reserved byte */
	0x81, 0x01,		/*  input: constant */
	0x95, 0x05, 0x75, 0x01,	/*  5 LEDs */
	0x05, 0x08,		/*  usage page: LEDs */
	0x19, 0x01, 0x29, 0x05,	/*  usage 1..5 */
	0x91, 0x02,		/*  output: data, variable, absolute */
	0x95, 0x01, 0x75, 0x03,	/*  3 bits of padding */
	0x91, 0x01,		/*  output: constant */
	0x95, 0x06, 0x75, 0x08,	/*  6 key codes */
	0x15, 0x00, 0x25, 0x65,	/*  logical 0..101 */
	0x05, 0x07,		/*  usage page: keyboard */
	0x19, 0x00, 0x29, 0x65,	/*  usage 0..101 */
	0x81, 0x00,		/*  input: data, array */
	0xc0,			/* end collection */
};

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void usb_hid_init(struct usb_hid *h, enum usb_hid_kind kind)
{
	memset(h, 0, sizeof(*h));
	h->kind = kind;
	h->protocol = 1;
}

size_t usb_hid_report_len(const struct usb_hid *h)
{
	return h->kind == USB_HID_TABLET ? 6 : 8;
}

static size_t device_desc(const struct usb_hid *h, uint8_t *d)
{
	static const uint8_t base[18] = {
		18, 1, 0x00, 0x02,	/* USB 2.0 */
		0, 0, 0,		/* class in the interface */
		64,			/* endpoint 0's max packet */
		0, 0, 0, 0,		/* vendor, product: below */
		0x00, 0x01,		/* device release 1.00 */
		1, 2, 3,		/* strings: manufacturer, product, serial */
		1,			/* one configuration */
	};

	memcpy(d, base, sizeof(base));
	put16(d + 8, USB_VID);
	put16(d + 10, h->kind == USB_HID_TABLET ? USB_PID_TABLET : USB_PID_KBD);
	return sizeof(base);
}

static size_t hid_desc(const struct usb_hid *h, uint8_t *d)
{
	size_t rlen = h->kind == USB_HID_TABLET ? sizeof(tablet_report_desc) :
	    sizeof(kbd_report_desc);

	d[0] = 9;
	d[1] = 0x21;		/* HID */
	put16(d + 2, 0x0111);	/* HID 1.11 */
	d[4] = 0;		/* no country */
	d[5] = 1;		/* one class descriptor: */
	d[6] = 0x22;		/* the report descriptor */
	put16(d + 7, (unsigned)rlen);
	return 9;
}

static size_t config_desc(const struct usb_hid *h, uint8_t *d)
{
	bool kbd = h->kind == USB_HID_KBD;
	uint8_t *p = d;

	/* The configuration. */
	p[0] = 9; p[1] = 2; put16(p + 2, 9 + 9 + 9 + 7); p[4] = 1; p[5] = 1; p[6] = 0;
	p[7] = 0x80;		/* bus powered; no remote wakeup, so never suspended */
	p[8] = 50;		/* 100 mA */
	p += 9;
	/* The interface: HID, boot keyboard or no subclass. */
	p[0] = 9; p[1] = 4; p[2] = 0; p[3] = 0; p[4] = 1; p[5] = 3;
	p[6] = kbd ? 1 : 0; p[7] = kbd ? 1 : 0; p[8] = 0;
	p += 9;
	p += hid_desc(h, p);
	/* Endpoint 1 IN, interrupt, 8 bytes, 2^(7-1) microframes (8 ms). */
	p[0] = 7; p[1] = 5; p[2] = 0x81; p[3] = 3; put16(p + 4, USB_HID_REPMAX); p[6] = 7;
	p += 7;
	return (size_t)(p - d);
}

static size_t string_desc(const struct usb_hid *h, unsigned idx, uint8_t *d, bool *ok)
{
	const char *s;
	size_t n;

	*ok = true;
	switch (idx) {
	case 0:
		d[0] = 4; d[1] = 3; put16(d + 2, 0x0409);	/* US English */
		return 4;
	case 1: s = "bhyve"; break;
	case 2: s = h->kind == USB_HID_TABLET ? "HID Tablet" : "HID Keyboard"; break;
	case 3: s = "1"; break;
	default:
		*ok = false;
		return 0;
	}
	n = strlen(s);
	d[0] = (uint8_t)(2 + 2 * n);
	d[1] = 3;
	for (size_t i = 0; i < n; i++)
		put16(d + 2 + 2 * i, (uint8_t)s[i]);
	return 2 + 2 * n;
}

int usb_hid_control(struct usb_hid *h, const uint8_t setup[8], uint8_t *data, size_t cap,
    size_t *len)
{
	uint8_t type = setup[0], req = setup[1];
	unsigned value = setup[2] | setup[3] << 8, wlen = setup[6] | setup[7] << 8;
	uint8_t buf[256];
	size_t n = 0;
	bool ok = true;

	switch (type << 8 | req) {
	case 0x8006:		/* GET_DESCRIPTOR (device) */
	case 0x8106:		/* GET_DESCRIPTOR (interface): HID, report */
		switch (value >> 8) {
		case 1: n = device_desc(h, buf); break;
		case 2: n = config_desc(h, buf); break;
		case 3: n = string_desc(h, value & 0xff, buf, &ok); break;
		case 0x21: n = hid_desc(h, buf); break;
		case 0x22:
			if (h->kind == USB_HID_TABLET) {
				n = sizeof(tablet_report_desc);
				memcpy(buf, tablet_report_desc, n);
			} else {
				n = sizeof(kbd_report_desc);
				memcpy(buf, kbd_report_desc, n);
			}
			break;
		default: ok = false; break;	/* device qualifier and others: stall */
		}
		break;
	case 0x8000: case 0x8100: case 0x8200:	/* GET_STATUS */
		buf[0] = buf[1] = 0;
		n = 2;
		break;
	case 0x0001: case 0x0003: case 0x0101: case 0x0103: case 0x0201: case 0x0203:
		break;		/* CLEAR_FEATURE, SET_FEATURE: remote wakeup, halt */
	case 0x0005:		/* SET_ADDRESS (Address Device did it) */
		break;
	case 0x0009:		/* SET_CONFIGURATION */
		if (value > 1)
			ok = false;
		else
			h->config = (uint8_t)value;
		break;
	case 0x8008:		/* GET_CONFIGURATION */
		buf[0] = h->config;
		n = 1;
		break;
	case 0x010b:		/* SET_INTERFACE: alternate 0 only */
		ok = value == 0;
		break;
	case 0x810a:		/* GET_INTERFACE */
		buf[0] = 0;
		n = 1;
		break;
	case 0xa101:		/* GET_REPORT */
		n = usb_hid_report_len(h);
		memcpy(buf, h->cur, n);
		break;
	case 0xa102:		/* GET_IDLE */
		buf[0] = h->idle;
		n = 1;
		break;
	case 0xa103:		/* GET_PROTOCOL */
		buf[0] = h->protocol;
		n = 1;
		break;
	case 0x2109:		/* SET_REPORT: the keyboard's LEDs */
		if (*len >= 1)
			h->leds = data[0];
		*len = 0;
		return 0;
	case 0x210a:		/* SET_IDLE */
		h->idle = (uint8_t)(value >> 8);
		break;
	case 0x210b:		/* SET_PROTOCOL */
		h->protocol = (uint8_t)(value & 1);
		break;
	default:
		ok = false;
		break;
	}
	if (!ok)
		return -1;
	if (n > wlen)
		n = wlen;
	if (n > cap)
		n = cap;
	memcpy(data, buf, n);
	*len = n;
	return 0;
}

bool usb_hid_next_report(struct usb_hid *h, uint8_t *buf, size_t *len)
{
	if (h->qlen == 0)
		return false;
	*len = usb_hid_report_len(h);
	memcpy(buf, h->q[h->qhead], *len);
	h->qhead = (h->qhead + 1) % USB_HID_QLEN;
	h->qlen--;
	return true;
}

/* Queues cur; when the queue is full the newest report replaces the last one
 * (a pointer's position is what matters; a keyboard loses a key state only
 * when the guest has not read 32 reports). */
static void queue_report(struct usb_hid *h)
{
	unsigned slot;

	if (h->qlen == USB_HID_QLEN)
		slot = (h->qhead + h->qlen - 1) % USB_HID_QLEN;
	else
		slot = (h->qhead + h->qlen++) % USB_HID_QLEN;
	memcpy(h->q[slot], h->cur, USB_HID_REPMAX);
}

static unsigned scale(int v, int size)
{
	if (v <= 0 || size <= 1)
		return 0;
	if (v >= size - 1)
		return USB_TABLET_MAX;
	return (unsigned)((int64_t)v * USB_TABLET_MAX / (size - 1));
}

bool usb_hid_pointer(struct usb_hid *h, int buttons, int x, int y, int w, int h_)
{
	unsigned sx = scale(x, w), sy = scale(y, h_);
	int8_t wheel = 0;

	if (h->kind != USB_HID_TABLET)
		return false;
	/* The wheel: VNC's buttons 4 and 5 (bits 3, 4) pressed, one step each. */
	if ((buttons & 8) && !(h->last_buttons & 8))
		wheel = 1;
	if ((buttons & 16) && !(h->last_buttons & 16))
		wheel = -1;
	h->last_buttons = buttons;
	/* VNC's bit 0 left, 1 middle, 2 right; HID's button 1 left, 2 right, 3 middle. */
	h->cur[0] = (uint8_t)((buttons & 1) | (buttons & 4 ? 2 : 0) | (buttons & 2 ? 4 : 0));
	put16(h->cur + 1, sx);
	put16(h->cur + 3, sy);
	h->cur[5] = (uint8_t)wheel;
	queue_report(h);
	h->cur[5] = 0;
	return true;
}

/* Set 1 scan codes (without E0) -> HID keyboard usages. */
static const uint8_t set1_usage[0x59] = {
	[0x01] = 0x29, [0x02] = 0x1e, [0x03] = 0x1f, [0x04] = 0x20, [0x05] = 0x21,
	[0x06] = 0x22, [0x07] = 0x23, [0x08] = 0x24, [0x09] = 0x25, [0x0a] = 0x26,
	[0x0b] = 0x27, [0x0c] = 0x2d, [0x0d] = 0x2e, [0x0e] = 0x2a, [0x0f] = 0x2b,
	[0x10] = 0x14, [0x11] = 0x1a, [0x12] = 0x08, [0x13] = 0x15, [0x14] = 0x17,
	[0x15] = 0x1c, [0x16] = 0x18, [0x17] = 0x0c, [0x18] = 0x12, [0x19] = 0x13,
	[0x1a] = 0x2f, [0x1b] = 0x30, [0x1c] = 0x28, [0x1d] = 0xe0, [0x1e] = 0x04,
	[0x1f] = 0x16, [0x20] = 0x07, [0x21] = 0x09, [0x22] = 0x0a, [0x23] = 0x0b,
	[0x24] = 0x0d, [0x25] = 0x0e, [0x26] = 0x0f, [0x27] = 0x33, [0x28] = 0x34,
	[0x29] = 0x35, [0x2a] = 0xe1, [0x2b] = 0x31, [0x2c] = 0x1d, [0x2d] = 0x1b,
	[0x2e] = 0x06, [0x2f] = 0x19, [0x30] = 0x05, [0x31] = 0x11, [0x32] = 0x10,
	[0x33] = 0x36, [0x34] = 0x37, [0x35] = 0x38, [0x36] = 0xe5, [0x37] = 0x55,
	[0x38] = 0xe2, [0x39] = 0x2c, [0x3a] = 0x39, [0x3b] = 0x3a, [0x3c] = 0x3b,
	[0x3d] = 0x3c, [0x3e] = 0x3d, [0x3f] = 0x3e, [0x40] = 0x3f, [0x41] = 0x40,
	[0x42] = 0x41, [0x43] = 0x42, [0x44] = 0x43, [0x45] = 0x53, [0x46] = 0x47,
	[0x47] = 0x5f, [0x48] = 0x60, [0x49] = 0x61, [0x4a] = 0x56, [0x4b] = 0x5c,
	[0x4c] = 0x5d, [0x4d] = 0x5e, [0x4e] = 0x57, [0x4f] = 0x59, [0x50] = 0x5a,
	[0x51] = 0x5b, [0x52] = 0x62, [0x53] = 0x63, [0x56] = 0x64, [0x57] = 0x44,
	[0x58] = 0x45,
};

/* E0-prefixed set 1 scan codes -> usages. */
static const struct { uint8_t sc, usage; } e0_usage[] = {
	{ 0x1c, 0x58 }, { 0x1d, 0xe4 }, { 0x35, 0x54 }, { 0x37, 0x46 }, { 0x38, 0xe6 },
	{ 0x47, 0x4a }, { 0x48, 0x52 }, { 0x49, 0x4b }, { 0x4b, 0x50 }, { 0x4d, 0x4f },
	{ 0x4f, 0x4d }, { 0x50, 0x51 }, { 0x51, 0x4e }, { 0x52, 0x49 }, { 0x53, 0x4c },
	{ 0x5b, 0xe3 }, { 0x5c, 0xe7 }, { 0x5d, 0x65 },
};

/* The keysym -> key table is the PS/2 keyboard's (atkbdc.c): one US layout. */
uint8_t usb_hid_usage(uint32_t keysym)
{
	uint8_t s1, s2;
	bool e0;

	if (!atkbdc_keysym_key(keysym, &s1, &s2, &e0))
		return 0;
	if (!e0)
		return s1 < sizeof(set1_usage) ? set1_usage[s1] : 0;
	for (size_t i = 0; i < nitems(e0_usage); i++)
		if (e0_usage[i].sc == s1)
			return e0_usage[i].usage;
	return 0;
}

bool usb_hid_key(struct usb_hid *h, bool down, uint32_t keysym)
{
	uint8_t u = usb_hid_usage(keysym);
	int i, free_at = -1, at = -1;

	if (h->kind != USB_HID_KBD || u == 0)
		return false;
	if (u >= 0xe0) {
		uint8_t bit = (uint8_t)(1u << (u - 0xe0));

		h->mods = down ? (uint8_t)(h->mods | bit) : (uint8_t)(h->mods & ~bit);
	} else {
		for (i = 0; i < 6; i++) {
			if (h->keys[i] == u)
				at = i;
			else if (h->keys[i] == 0 && free_at < 0)
				free_at = i;
		}
		if (down && at < 0) {
			if (free_at < 0)
				return false;	/* a seventh key: not reported */
			h->keys[free_at] = u;
		} else if (!down && at >= 0) {
			h->keys[at] = 0;
		} else {
			return false;		/* no change */
		}
	}
	/* The report lists the keys down in order, zeros after. */
	h->cur[0] = h->mods;
	h->cur[1] = 0;
	memset(h->cur + 2, 0, 6);
	for (i = 0, at = 2; i < 6; i++)
		if (h->keys[i] != 0)
			h->cur[at++] = h->keys[i];
	queue_report(h);
	return true;
}
