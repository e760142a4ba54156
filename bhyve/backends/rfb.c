/* The VNC server (rfb.h), through libvncserver: its encodings (raw, zlib,
 * tight, ZRLE, ...), its VNC authentication, and its client handling.
 *
 * libvncserver pulls in some 17 libraries (GnuTLS, libjpeg, ...), so it is
 * loaded with dlopen when a VM has a framebuffer: a VM without one neither maps
 * it nor pays its start-up. Only its header is needed to build.
 *
 * One thread of ours owns the library's screen: it accepts connections on our
 * own sockets (TCP over IPv4 or IPv6, and a UNIX socket) and hands them over
 * with rfbNewClient, runs rfbProcessEvents, and while a client is connected
 * compares the guest's picture with the copy the clients were sent, in
 * RFB_TILE-pixel tiles about 30 times a second, marking only the tiles that
 * changed. With no client it sleeps in poll: an idle VM pays nothing; an idle
 * screen with clients pays the comparison and sends nothing, and the
 * comparison slows down while nothing changes (down to RFB_IDLE_PERIOD_NS
 * apart; a change, a key or the pointer brings it back to 30 a second). */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfb.h>

#include "backends/rfb.h"
#include "input.h"
#include "sandbox.h"
#include "util.h"

#define RFB_TILE	32
#define RFB_PERIOD_NS	33333333LL	/* the picture is compared 30 times a second */
#define RFB_IDLE_PERIOD_NS 300000000LL	/* ... and at least every 300 ms */
#define RFB_DEFAULT_PORT "5900"
#define RFB_LIB		"libvncserver.so.1"

/* What is taken from the library. */
static struct {
	void *dl;
	rfbScreenInfoPtr (*get_screen)(int *, char **, int, int, int, int, int);
	void (*init_server)(rfbScreenInfoPtr);
	rfbClientPtr (*new_client)(rfbScreenInfoPtr, rfbSocket);
	rfbBool (*process_events)(rfbScreenInfoPtr, long);
	void (*mark_rect)(rfbScreenInfoPtr, int, int, int, int);
	void (*new_framebuffer)(rfbScreenInfoPtr, char *, int, int, int, int, int);
	void (*cleanup)(rfbScreenInfoPtr);
	rfbBool (*check_password)(rfbClientPtr, const char *, int);
	void (*log_enable)(int);
	rfbLogProc *log, *err;
} vnc;

struct rfb_server {
	rfbScreenInfoPtr screen;
	rfb_view_fn *view_fn;
	void *view_arg;
	struct rfb_view view;
	int lfd[2];		/* listening: TCP, UNIX (-1: none) */
	char *unix_path;
	int wake_fd;		/* rfb_close's signal to the thread (1), and the
				 * sandbox's, to take its role (RFB_ROLE_WAKE) */
	struct sandbox_waker waker;
	bool stop;
	pthread_t thread;
	bool running;
	bool wait;		/* a start gate hold is ours until the first client */
	int nclients;		/* under mtx */
	pthread_mutex_t mtx;
	char *passwords[2];
	uint32_t *shadow;	/* what the clients were sent, in the server's format */
	/* The guest's bytes the shadow was made from, so that an unchanged row
	 * costs one memcmp and no conversion; invalid after a change of size,
	 * depth, palette or a blank screen. */
	uint8_t *raw;
	size_t raw_len;
	bool raw_valid;
	int raw_bpp;
	uint32_t raw_palette[256];
	int width, height;
	int rshift, gshift, bshift;
	int lastx, lasty, lastbuttons;
	int64_t next, period;	/* the next comparison, and the time between (thread's) */
};

static void rfb_quiet_log(const char *fmt, ...)
{
	(void)fmt;
}

static int rfb_load(void)
{
	if (vnc.dl != NULL)
		return 0;
	vnc.dl = dlopen(RFB_LIB, RTLD_NOW | RTLD_LOCAL);
	if (vnc.dl == NULL) {
		warnx("fbuf: cannot load %s (install libvncserver1): %s", RFB_LIB, dlerror());
		return -1;
	}
#define SYM(f, n) do { \
	*(void **)&vnc.f = dlsym(vnc.dl, n); \
	if (vnc.f == NULL) { \
		warnx("fbuf: %s lacks %s", RFB_LIB, n); \
		dlclose(vnc.dl); \
		vnc.dl = NULL; \
		return -1; \
	} \
} while (0)
	SYM(get_screen, "rfbGetScreen");
	SYM(init_server, "rfbInitServerWithPthreadsAndZRLE");
	SYM(new_client, "rfbNewClient");
	SYM(process_events, "rfbProcessEvents");
	SYM(mark_rect, "rfbMarkRectAsModified");
	SYM(new_framebuffer, "rfbNewFramebuffer");
	SYM(cleanup, "rfbScreenCleanup");
	SYM(check_password, "rfbCheckPasswordByList");
	SYM(log_enable, "rfbLogEnable");
	SYM(log, "rfbLog");
	SYM(err, "rfbErr");
#undef SYM
	/* Its messages (every connection, every encoding) are not ours to print. */
	*vnc.log = rfb_quiet_log;
	*vnc.err = rfb_quiet_log;
	vnc.log_enable(0);
	return 0;
}

/* VNC authentication encrypts with DES through libgcrypt (libvncserver's
 * dependency). Its first use initializes libgcrypt, which, uninitialized,
 * opens a syslog socket to complain: under the sandbox that would happen in
 * the VNC thread and kill bhyve. So libgcrypt is initialized here, at set-up,
 * as its manual asks of a program, and the encryption path run once. */
static void rfb_crypto_warmup(void)
{
	void *g = dlopen("libgcrypt.so.20", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	const char *(*check_version)(const char *) = NULL;
	int (*control)(int, ...) = NULL;
	void (*encrypt)(unsigned char *, char *) = NULL;
	unsigned char challenge[16] = { 0 };
	char pw[] = "warmup";

	if (g != NULL) {
		*(void **)&check_version = dlsym(g, "gcry_check_version");
		*(void **)&control = dlsym(g, "gcry_control");
		if (check_version != NULL && control != NULL) {
			check_version(NULL);
			control(38 /* GCRYCTL_INITIALIZATION_FINISHED */, 0);
		}
		dlclose(g);
	}
	*(void **)&encrypt = dlsym(vnc.dl, "rfbEncryptBytes");
	if (encrypt != NULL)
		encrypt(challenge, pw);
}

/* ---- listening ---- */

static int listen_tcp(struct rfb_server *s, const char *spec)
{
	char *copy = xstrdup(spec), *host = copy, *port, *p;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	int fd = -1, one = 1, rc = -1;
	unsigned long pn;

	/* "port", "IP:port" or "[IPv6]:port"; no IP: the loopback, as bhyve. */
	if (copy[0] == '[') {
		p = strchr(copy, ']');
		if (p == NULL || p[1] != ':')
			goto bad;
		*p = '\0';
		host = copy + 1;
		port = p + 2;
	} else if ((p = strrchr(copy, ':')) != NULL) {
		if (strchr(copy, ':') != p)
			goto bad;	/* an IPv6 address wants its brackets */
		*p = '\0';
		port = p + 1;
	} else {
		host = "";
		port = copy;
	}
	if (host[0] == '\0')
		host = "127.0.0.1";
	if (parse_uint(port, 65535, &pn) != 0 || getaddrinfo(host, port, &hints, &ai) != 0)
		goto bad;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 8) < 0) {
		warnx("fbuf: cannot listen on %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	s->lfd[0] = fd;
	rc = 0;
	goto out;
bad:
	warnx("fbuf: invalid tcp address \"%s\": expected [IP:]port or [IPv6]:port", spec);
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	free(copy);
	return rc;
}

/* At exit: the socket's path goes; the copy is the cleanup's to free. */
static void unlink_path(void *arg)
{
	unlink(arg);
	free(arg);
}

static int listen_unix(struct rfb_server *s, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		warnx("fbuf: invalid unix socket path \"%s\"", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0) {
		warnx("fbuf: cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	s->lfd[1] = fd;
	s->unix_path = xstrdup(path);
	at_exit_cleanup(unlink_path, s->unix_path);
	sandbox_allow_path(path, SANDBOX_PATH_REMOVE);
	return 0;
}

/* ---- the picture ---- */

static uint32_t rfb_pixel(const struct rfb_server *s, uint32_t rgb)
{
	return ((rgb >> 16) & 0xff) << s->rshift | ((rgb >> 8) & 0xff) << s->gshift |
	    (rgb & 0xff) << s->bshift;
}

/* One row of n guest pixels into the server's format. */
static void rfb_convert(const struct rfb_server *s, const struct rfb_view *v,
    const uint8_t *src, uint32_t *dst, int n)
{
	for (int i = 0; i < n; i++) {
		uint32_t rgb, p;

		switch (v->bpp) {
		case 32:
			rgb = (uint32_t)le_get(src + 4 * i, 4);
			break;
		case 24:
			rgb = (uint32_t)le_get(src + 3 * i, 3);
			break;
		case 16:
			p = (uint32_t)le_get(src + 2 * i, 2);
			rgb = ((p >> 11) & 0x1f) << 19 | ((p >> 5) & 0x3f) << 10 | (p & 0x1f) << 3;
			break;
		case 15:
			p = (uint32_t)le_get(src + 2 * i, 2);
			rgb = ((p >> 10) & 0x1f) << 19 | ((p >> 5) & 0x1f) << 11 | (p & 0x1f) << 3;
			break;
		default:
			rgb = v->palette[src[i]];
			break;
		}
		dst[i] = rfb_pixel(s, rgb);
	}
}

static void rfb_resize(struct rfb_server *s, int w, int h)
{
	uint32_t *old = s->shadow;

	s->shadow = xcalloc((size_t)w * (size_t)h, 4);
	s->width = w;
	s->height = h;
	input_desktop_size(w, h);	/* an absolute pointer (the USB tablet) scales by it */
	/* The clients are told the new size (those that can take it). */
	vnc.new_framebuffer(s->screen, (char *)s->shadow, w, h, 8, 3, 4);
	s->screen->cursor = NULL;
	s->rshift = s->screen->serverFormat.redShift;
	s->gshift = s->screen->serverFormat.greenShift;
	s->bshift = s->screen->serverFormat.blueShift;
	free(old);
	s->raw_valid = false;
	vnc.mark_rect(s->screen, 0, 0, w, h);
}

/* Compares the guest's picture with what was last sent, tile by tile: a row
 * whose guest bytes did not change costs a memcmp; a changed one is converted
 * into the shadow, and changed tiles are marked for the clients. */
static bool rfb_refresh(struct rfb_server *s)
{
	bool any = false;
	struct rfb_view *v = &s->view;
	size_t bytespp, rowlen;
	uint32_t row[RFB_TILE];

	memset(v, 0, sizeof(*v));
	s->view_fn(s->view_arg, v);
	if (v->width <= 0 || v->height <= 0)
		return false;
	if (v->width != s->width || v->height != s->height) {
		rfb_resize(s, v->width, v->height);
		any = true;
	}
	bytespp = (size_t)(v->bpp + 7) / 8;
	rowlen = (size_t)s->width * bytespp;
	if (v->base == NULL) {
		memset(row, 0, sizeof(row));
		s->raw_valid = false;
	} else {
		if (s->raw_len < rowlen * (size_t)s->height) {
			free(s->raw);
			s->raw_len = rowlen * (size_t)s->height;
			s->raw = xmalloc(s->raw_len);
			s->raw_valid = false;
		}
		if (v->bpp != s->raw_bpp || (v->bpp == 8 &&
		    memcmp(v->palette, s->raw_palette, sizeof(v->palette)) != 0))
			s->raw_valid = false;
		s->raw_bpp = v->bpp;
		memcpy(s->raw_palette, v->palette, sizeof(v->palette));
	}
	for (int ty = 0; ty < s->height; ty += RFB_TILE) {
		int th = s->height - ty < RFB_TILE ? s->height - ty : RFB_TILE;

		for (int tx = 0; tx < s->width; tx += RFB_TILE) {
			int tw = s->width - tx < RFB_TILE ? s->width - tx : RFB_TILE;
			size_t seg = (size_t)tw * bytespp;
			bool changed = false;

			for (int y = ty; y < ty + th; y++) {
				uint32_t *dst = s->shadow + (size_t)y * (size_t)s->width + tx;

				if (v->base != NULL) {
					const uint8_t *src = v->base + (size_t)y * v->stride +
					    (size_t)tx * bytespp;
					uint8_t *last = s->raw + (size_t)y * rowlen + (size_t)tx * bytespp;

					if (s->raw_valid && memcmp(src, last, seg) == 0)
						continue;
					memcpy(last, src, seg);
					rfb_convert(s, v, last, row, tw);
				}
				if (memcmp(dst, row, (size_t)tw * 4) != 0) {
					memcpy(dst, row, (size_t)tw * 4);
					changed = true;
				}
			}
			if (changed) {
				vnc.mark_rect(s->screen, tx, ty, tx + tw, ty + th);
				any = true;
			}
		}
	}
	s->raw_valid = v->base != NULL;
	return any;
}

/* ---- clients and their input ---- */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Input from a client (on the thread): the screen is about to change, so it
 * is compared at full rate again, the next time within a period. */
static void rfb_busy(struct rfb_server *s)
{
	int64_t soon = now_ns() + RFB_PERIOD_NS;

	s->period = RFB_PERIOD_NS;
	if (s->next > soon)
		s->next = soon;
}

static void rfb_client_gone(rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;

	pthread_mutex_lock(&s->mtx);
	s->nclients--;
	pthread_mutex_unlock(&s->mtx);
}

/* "wait" ends once a client is through authentication and asks for pictures. */
static void rfb_client_ready(rfbClientPtr cl, rfbFramebufferUpdateRequestMsg *msg)
{
	struct rfb_server *s = cl->screen->screenData;

	(void)msg;
	if (s->wait) {
		s->wait = false;
		start_gate_release();
	}
}

static enum rfbNewClientAction rfb_client_new(rfbClientPtr cl)
{
	struct rfb_server *s = cl->screen->screenData;

	cl->clientGoneHook = rfb_client_gone;
	cl->clientFramebufferUpdateRequestHook = rfb_client_ready;
	pthread_mutex_lock(&s->mtx);
	s->nclients++;
	pthread_mutex_unlock(&s->mtx);
	return RFB_CLIENT_ACCEPT;
}

static void rfb_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	rfb_busy(cl->screen->screenData);
	input_key(down != 0, (uint32_t)keysym);
}

static void rfb_pointer(int buttons, int x, int y, rfbClientPtr cl)
{
	rfb_busy(cl->screen->screenData);
	input_pointer(buttons, x, y);
}

static void rfb_accept(struct rfb_server *s, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (vnc.new_client(s->screen, fd) == NULL)
			close(fd);
		else
			rfb_busy(s);	/* its first picture is a fresh one */
	}
}

#define RFB_ROLE_WAKE	(1ULL << 32)

static void rfb_role_wake(void *arg)
{
	struct rfb_server *s = arg;

	(void)!write(s->wake_fd, &(uint64_t){ RFB_ROLE_WAKE }, 8);
}

static void *rfb_thread(void *arg)
{
	struct rfb_server *s = arg;

	pthread_setname_np(pthread_self(), "vnc");
	for (;;) {
		struct pollfd p[3];
		int n = 0, clients;

		pthread_mutex_lock(&s->mtx);
		clients = s->nclients;
		pthread_mutex_unlock(&s->mtx);
		p[n++] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		for (int i = 0; i < 2; i++)
			if (s->lfd[i] >= 0)
				p[n++] = (struct pollfd){ .fd = s->lfd[i], .events = POLLIN };
		/* Without clients nothing is compared or sent: sleep until one comes. */
		if (poll(p, (nfds_t)n, clients > 0 ? 0 : -1) < 0 && errno != EINTR)
			break;
		/* Started during set-up: the thread takes its role (a no-op
		 * until the sandbox is there, and once taken) before any work;
		 * the sandbox wakes it for that once it is in place. */
		sandbox_enter(SANDBOX_RFB);
		if (p[0].revents & POLLIN) {
			uint64_t v = 0;

			if (read(s->wake_fd, &v, 8) == 8 && (v & (RFB_ROLE_WAKE - 1)) == 0)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++)
			if (s->lfd[i] >= 0)
				rfb_accept(s, s->lfd[i]);
		if (s->screen->clientHead == NULL)
			continue;
		{
			int64_t t = now_ns();

			if (t >= s->next) {
				/* Nothing changed: the next comparison comes a
				 * period later than this one did, up to the idle
				 * period. */
				if (rfb_refresh(s))
					s->period = RFB_PERIOD_NS;
				else if (s->period < RFB_IDLE_PERIOD_NS)
					s->period += RFB_PERIOD_NS;
				s->next = t + s->period;
				/* What changed goes out now, to the clients that
				 * asked, not after the wait for their input below. */
				vnc.process_events(s->screen, 0);
				t = now_ns();
			}
			vnc.process_events(s->screen,
			    (long)((s->next > t ? s->next - t : 0) / 1000));
		}
	}
	return NULL;
}

/* ---- the server ---- */

struct rfb_server *rfb_open(const struct rfb_config *cfg, rfb_view_fn *view, void *arg)
{
	struct rfb_server *s = xcalloc(1, sizeof(*s));
	int argc = 0;

	s->lfd[0] = s->lfd[1] = s->wake_fd = -1;
	s->view_fn = view;
	s->view_arg = arg;
	s->period = RFB_PERIOD_NS;
	pthread_mutex_init(&s->mtx, NULL);
	if ((cfg->tcp != NULL && listen_tcp(s, cfg->tcp) != 0) ||
	    (cfg->unix_path != NULL && listen_unix(s, cfg->unix_path) != 0))
		goto fail;
	if (cfg->tcp == NULL && cfg->unix_path == NULL &&
	    listen_tcp(s, "127.0.0.1:" RFB_DEFAULT_PORT) != 0)
		goto fail;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0 || rfb_load() != 0)
		goto fail;
	s->screen = vnc.get_screen(&argc, NULL, cfg->width, cfg->height, 8, 3, 4);
	if (s->screen == NULL) {
		warnx("fbuf: libvncserver refused a %dx%d screen", cfg->width, cfg->height);
		goto fail;
	}
	s->screen->screenData = s;
	s->screen->desktopName = cfg->name != NULL ? cfg->name : "bhyve";
	/* Our sockets only: the library opens none of its own. */
	s->screen->autoPort = FALSE;
	s->screen->port = 0;
	s->screen->ipv6port = 0;
	s->screen->httpPort = 0;
	s->screen->httpDir = NULL;
	s->screen->alwaysShared = TRUE;	/* several clients at once */
	s->screen->newClientHook = rfb_client_new;
	s->screen->kbdAddEvent = rfb_key;
	s->screen->ptrAddEvent = rfb_pointer;
	s->screen->displayFinishedHook = NULL;
	/* Updates are gathered 30 times a second by rfb_refresh: the library's
	 * own deferral (5 ms, counted from a later rfbProcessEvents) would only
	 * hold each one back until the next period. */
	s->screen->deferUpdateTime = 0;
	if (cfg->password != NULL) {
		rfb_crypto_warmup();
		s->passwords[0] = xstrdup(cfg->password);
		s->screen->authPasswdData = s->passwords;
		s->screen->passwordCheck = vnc.check_password;
	}
	vnc.init_server(s->screen);
	rfb_resize(s, cfg->width, cfg->height);
	s->wait = cfg->wait;
	if (s->wait)
		start_gate_hold();
	return s;
fail:
	rfb_close(s);
	return NULL;
}

int rfb_start(struct rfb_server *s)
{
	if (thread_start(&s->thread, rfb_thread, s) != 0) {
		warnx("fbuf: cannot start the VNC thread");
		return -1;
	}
	s->running = true;
	sandbox_waker_add(&s->waker, rfb_role_wake, s);
	return 0;
}

void rfb_close(struct rfb_server *s)
{
	if (s == NULL)
		return;
	if (s->running) {
		sandbox_waker_remove(&s->waker);
		(void)!write(s->wake_fd, &(uint64_t){ 1 }, 8);
		thread_join(s->thread);
	}
	if (s->screen != NULL)
		vnc.cleanup(s->screen);
	if (s->wait)
		start_gate_release();
	for (int i = 0; i < 2; i++)
		if (s->lfd[i] >= 0)
			close(s->lfd[i]);
	if (s->unix_path != NULL)
		unlink(s->unix_path);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s->passwords[0]);
	free(s->shadow);
	free(s->raw);
	pthread_mutex_destroy(&s->mtx);
	/* unix_path stays: it belongs to its exit cleanup (unlink_path). */
	free(s);
}
