/* The VNC (RFB) server behind fbuf: libvncserver, loaded with dlopen when a VM
 * has a framebuffer, serving a picture the device describes. */
#ifndef BHYVE_RFB_H
#define BHYVE_RFB_H

#include <stdbool.h>
#include <stdint.h>

/* What the guest shows now. base NULL: a blank (black) screen of width x
 * height. bpp 8 (palette), 15, 16, 24 or 32; stride bytes from row to row; the
 * rows up to height lie inside the memory base points into. */
struct rfb_view {
	int width, height, bpp;
	uint32_t stride;
	const uint8_t *base;
	uint32_t palette[256];	/* 0x00RRGGBB, for bpp 8 */
};

/* Called on the server's thread, about 30 times a second while a client is
 * connected and never otherwise. */
typedef void rfb_view_fn(void *arg, struct rfb_view *v);

struct rfb_config {
	const char *name;	/* the desktop's name, the VM's */
	const char *tcp;	/* "[IP:]port", "[IPv6]:port"; NULL: none */
	const char *unix_path;	/* a UNIX socket to listen on; NULL: none */
	const char *password;	/* VNC authentication; NULL: none */
	bool wait;		/* hold the vCPUs until the first client connects */
	int width, height;	/* the first desktop size */
};

struct rfb_server;

/* Opens the listening sockets and loads libvncserver; NULL, with one line on
 * stderr, when the address or the library is not to be had. */
struct rfb_server *rfb_open(const struct rfb_config *cfg, rfb_view_fn *view, void *arg);
/* Starts the server's thread. */
int rfb_start(struct rfb_server *s);
/* Stops the thread and frees everything (the unit tests; bhyve just exits). */
void rfb_close(struct rfb_server *s);

#endif
