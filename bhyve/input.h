/* Where a graphical console's keyboard and pointer events go: the VNC server
 * sends them here, and the PS/2 keyboard and mouse take them, or the xHCI's
 * USB keyboard and tablet once the guest has configured those (a USB handler
 * returns false while it does not take the event, which then goes to PS/2).
 * Keeping the two apart lets the server stay a backend that knows no device. */
#ifndef INPUT_H
#define INPUT_H

#include <stdbool.h>
#include <stdint.h>

/* keysym as X11 and RFB number keys; buttons a mask (bit 0 left, 1 middle,
 * 2 right, 3 and 4 the wheel up and down); x, y absolute in the desktop. */
typedef void input_key_fn(void *arg, bool down, uint32_t keysym);
typedef void input_pointer_fn(void *arg, int buttons, int x, int y);

void input_set_keyboard(input_key_fn *fn, void *arg);
void input_set_pointer(input_pointer_fn *fn, void *arg);
typedef bool input_key_take_fn(void *arg, bool down, uint32_t keysym);
typedef bool input_pointer_take_fn(void *arg, int buttons, int x, int y);
void input_set_usb_keyboard(input_key_take_fn *fn, void *arg);
void input_set_usb_pointer(input_pointer_take_fn *fn, void *arg);
/* The desktop's size (the VNC server's; 640x480 until it says), which an
 * absolute pointer scales its positions by. */
void input_desktop_size(int w, int h);
void input_desktop(int *w, int *h);
/* Dropped when no device takes them. */
void input_key(bool down, uint32_t keysym);
void input_pointer(int buttons, int x, int y);

/* Holding the vCPUs at their start until every hold is released (fbuf's
 * "wait": until a VNC client connects). */
void start_gate_hold(void);
void start_gate_release(void);
void start_gate_wait(void);

#endif
