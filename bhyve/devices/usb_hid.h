/* USB HID devices behind the xHCI controller (xhci.c): the tablet (an
 * absolute pointer, as bhyve's "tablet") and a boot-protocol keyboard ("kbd",
 * beyond bhyve). Each answers the control requests of its default endpoint
 * and queues input reports for its interrupt IN endpoint (endpoint 1).
 * Not thread-safe: the controller calls everything under its own lock. */
#ifndef USB_HID_H
#define USB_HID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum usb_hid_kind { USB_HID_TABLET, USB_HID_KBD };

#define USB_HID_QLEN		32	/* reports queued */
#define USB_HID_REPMAX		8	/* bytes in a report */
#define USB_TABLET_MAX		32767	/* the tablet's logical X and Y range: 0..32767 */

struct usb_hid {
	enum usb_hid_kind kind;
	uint8_t config;			/* SET_CONFIGURATION's value (0: not configured) */
	uint8_t protocol;		/* 0 boot, 1 report */
	uint8_t idle;
	uint8_t leds;			/* the keyboard's LEDs, as the guest set them */
	/* The last report (GET_REPORT) and the queue not yet read. */
	uint8_t cur[USB_HID_REPMAX];
	uint8_t q[USB_HID_QLEN][USB_HID_REPMAX];
	unsigned qhead, qlen;
	/* The keyboard's state: modifiers and up to 6 keys down. */
	uint8_t mods, keys[6];
	int last_buttons;
};

void usb_hid_init(struct usb_hid *h, enum usb_hid_kind kind);
/* Its length in bytes (6 for the tablet, 8 for the keyboard). */
size_t usb_hid_report_len(const struct usb_hid *h);
/* A control transfer on endpoint 0: setup is the 8-byte SETUP packet; for an
 * IN request up to cap bytes are written to data and *len says how many, for
 * an OUT request data holds *len bytes from the host. -1: the request is not
 * supported (the endpoint stalls). */
int usb_hid_control(struct usb_hid *h, const uint8_t setup[8], uint8_t *data, size_t cap,
    size_t *len);
/* The next queued report into buf (USB_HID_REPMAX bytes); false when none. */
bool usb_hid_next_report(struct usb_hid *h, uint8_t *buf, size_t *len);
/* Input: a pointer event (VNC buttons mask, absolute x, y in a w x h desktop)
 * for the tablet, a key (X keysym) for the keyboard; true when a report was
 * queued. */
bool usb_hid_pointer(struct usb_hid *h, int buttons, int x, int y, int w, int h_);
bool usb_hid_key(struct usb_hid *h, bool down, uint32_t keysym);
/* The HID usage (page 7) of the key that types keysym on a US layout; 0: none. */
uint8_t usb_hid_usage(uint32_t keysym);

#endif
