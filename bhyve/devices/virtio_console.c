/* virtio-console: the virtio console device (type 3), written from the virtio 1.x
 * specification. Up to 16 ports, each a UNIX stream socket the VMM listens on;
 * one client at a time per port. With VIRTIO_CONSOLE_F_MULTIPORT the driver
 * learns of the ports through the control queues; without it only port 0 exists.
 *
 * Queues: 0/1 port 0 receive/transmit, 2/3 control receive/transmit, then
 * 2(N+1) and 2(N+1)+1 for port N. "Receive" is the guest's: host-to-guest data.
 *
 * Settings (pci.B.S.F.*): port.N.name and port.N.path, N from 0 to 15;
 * -s S,virtio-console,NAME=PATH[,NAME=PATH...] numbers the ports from 0 in order.
 * A port named "console" is announced to the driver as a console port.
 *
 * Socket I/O runs on the main event loop, except that a guest's transmit goes
 * out at once with a non-blocking send from the thread that saw the notify; a
 * chain the client cannot take yet stays held (not returned to the guest) until
 * the socket is writable again. Host input is read only into buffers the guest
 * has posted: with none, the socket is left unread. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "mevent.h"
#include "pci_emul.h"
#include "sandbox.h"
#include "virtio.h"

#define VIRTIO_TYPE_CONSOLE	3
#define VIRTIO_DEV_CONSOLE	0x1003

#define VTCON_MAXPORTS		16
#define VTCON_NVQ		(2 * VTCON_MAXPORTS + 2)
#define VTCON_QSIZE		64
#define VTCON_CTRL_RXQ		2
#define VTCON_CTRL_TXQ		3
#define VTCON_NAME_MAX		127

/* Feature bits. */
#define VTCON_F_MULTIPORT	(1ULL << 1)
#define VTCON_F_EMERG_WRITE	(1ULL << 2)

/* struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
#define VTCON_CFG_MAX_NR_PORTS	4
#define VTCON_CFG_EMERG_WR	8
#define VTCON_CFGSIZE		12

/* Control messages: le32 id, le16 event, le16 value, then any payload. */
#define VTCON_CTRL_LEN		8
#define VTCON_DEVICE_READY	0
#define VTCON_DEVICE_ADD	1
#define VTCON_PORT_READY	3
#define VTCON_CONSOLE_PORT	4
#define VTCON_PORT_OPEN		6
#define VTCON_PORT_NAME		7

struct pci_vtcon_softc;

struct vtcon_port {
	struct pci_vtcon_softc *p_sc;
	int p_id;
	char *p_name, *p_path;		/* p_path NULL: no such port */
	bool p_console;
	int p_lfd;			/* listening socket */
	struct mevent *p_lev;
	dev_t p_dev;			/* the socket file made, removed at exit */
	ino_t p_ino;
	/* Under vs_mtx from here on. */
	int p_cfd;			/* the client, -1 when none */
	struct mevent *p_cev;		/* made and deleted on the main thread only */
	bool p_broken;			/* a send failed; the main loop closes it */
	bool p_rx_wait;			/* reading paused until the guest posts buffers */
	bool p_hup;			/* the client left, with input not yet read */
	/* The control protocol, as far as this port has gone. */
	bool p_add_pending, p_added, p_guest_ready;
	bool p_console_pending, p_name_pending, p_open_pending;
	bool p_guest_open;		/* the driver's PORT_OPEN */
	/* A transmit chain the client has not taken all of yet. */
	bool p_tx_held;
	uint16_t p_tx_head;
	int p_tx_n;
	size_t p_tx_done;
	struct iovec p_tx_iov[VTCON_QSIZE];
};

struct pci_vtcon_softc {
	struct virtio_softc vcsc_vs;
	struct vqueue vcsc_vq[VTCON_NVQ];
	struct vtcon_port vcsc_ports[VTCON_MAXPORTS];
	bool vcsc_ready;		/* the driver sent DEVICE_READY */
	bool vcsc_logged;		/* one line per device for guest errors */
	bool vcsc_cleanup;		/* the socket files are registered for removal */
};

static void vtcon_log(struct pci_vtcon_softc *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vtcon_log(struct pci_vtcon_softc *sc, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (sc->vcsc_logged)
		return;
	sc->vcsc_logged = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warnx("%s: %s (reported once)", sc->vcsc_vs.vs_pi->pi_name, msg);
}

static bool vtcon_multiport(const struct pci_vtcon_softc *sc)
{
	return vi_negotiated(&sc->vcsc_vs, VTCON_F_MULTIPORT);
}

static int vtcon_rxq(int id)
{
	return id == 0 ? 0 : 2 * (id + 1);
}

/* The port a data queue belongs to, or NULL (control queues, unconfigured ports,
 * and every port but 0 while MULTIPORT is off). */
static struct vtcon_port *vtcon_queue_port(struct pci_vtcon_softc *sc, int q)
{
	int id = q < 2 ? 0 : q / 2 - 1;

	if (q == VTCON_CTRL_RXQ || q == VTCON_CTRL_TXQ || (id != 0 && !vtcon_multiport(sc)))
		return NULL;
	return sc->vcsc_ports[id].p_path != NULL ? &sc->vcsc_ports[id] : NULL;
}

static bool vtcon_running(const struct pci_vtcon_softc *sc)
{
	return (sc->vcsc_vs.vs_status & (VIRTIO_CONFIG_S_DRIVER_OK |
	    VIRTIO_CONFIG_S_NEEDS_RESET)) == VIRTIO_CONFIG_S_DRIVER_OK;
}

/* Whether the guest side of a port is open: always for port 0 without
 * MULTIPORT; with it, once the driver said PORT_OPEN. */
static bool vtcon_guest_open(const struct vtcon_port *p)
{
	return vtcon_multiport(p->p_sc) ? p->p_guest_open : p->p_id == 0;
}

static bool vtcon_connected(const struct vtcon_port *p)
{
	return p->p_cfd >= 0 && !p->p_broken;
}

/* ---- the control queues ---- */

/* Puts one message in the next control receive buffer; false when the driver
 * has posted none. A buffer too small or not writable is returned unused. */
static bool vtcon_ctrl_send(struct pci_vtcon_softc *sc, int id, uint16_t event, uint16_t value,
    const char *payload)
{
	struct vqueue *vq = &sc->vcsc_vq[VTCON_CTRL_RXQ];
	struct iovec iov[VTCON_QSIZE];
	uint16_t flags[VTCON_QSIZE], head;
	uint8_t msg[VTCON_CTRL_LEN + VTCON_NAME_MAX];
	size_t len = VTCON_CTRL_LEN, room, off;
	int n;

	le_put(msg, (uint32_t)id, 4);
	le_put(msg + 4, event, 2);
	le_put(msg + 6, value, 2);
	if (payload != NULL) {
		memcpy(msg + len, payload, strlen(payload));
		len += strlen(payload);
	}
	while ((n = vq_getchain(vq, iov, VTCON_QSIZE, flags, &head)) > 0) {
		bool ok = true;

		room = 0;
		for (int i = 0; i < n; i++) {
			ok = ok && (flags[i] & VRING_DESC_F_WRITE);
			room += iov[i].iov_len;
		}
		if (!ok || room < len) {
			vtcon_log(sc, "control receive buffer not writable or under %zu bytes", len);
			vq_relchain(vq, head, 0);
			continue;
		}
		off = 0;
		for (int i = 0; i < n && off < len; i++) {
			size_t k = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;

			memcpy(iov[i].iov_base, msg + off, k);
			off += k;
		}
		vq_relchain(vq, head, (uint32_t)len);
		return true;
	}
	return false;
}

/* Sends what the ports owe the driver, in the order the spec gives: DEVICE_ADD,
 * and after the driver's PORT_READY, CONSOLE_PORT, PORT_NAME and PORT_OPEN.
 * False when a message found no buffer (it stays owed). */
static bool vtcon_ctrl_send_owed(struct pci_vtcon_softc *sc)
{
	for (int i = 0; i < VTCON_MAXPORTS; i++) {
		struct vtcon_port *p = &sc->vcsc_ports[i];

		if (p->p_path == NULL)
			continue;
		if (p->p_add_pending) {
			if (!vtcon_ctrl_send(sc, i, VTCON_DEVICE_ADD, 1, NULL))
				return false;
			p->p_add_pending = false;
			p->p_added = true;
		}
		if (!p->p_guest_ready)
			continue;
		if (p->p_console_pending) {
			if (!vtcon_ctrl_send(sc, i, VTCON_CONSOLE_PORT, 1, NULL))
				return false;
			p->p_console_pending = false;
		}
		if (p->p_name_pending) {
			if (!vtcon_ctrl_send(sc, i, VTCON_PORT_NAME, 1, p->p_name))
				return false;
			p->p_name_pending = false;
		}
		if (p->p_open_pending) {
			if (!vtcon_ctrl_send(sc, i, VTCON_PORT_OPEN, vtcon_connected(p), NULL))
				return false;
			p->p_open_pending = false;
		}
	}
	return true;
}

/* Sends what is owed; whatever finds no buffer waits for the next control
 * receive notify, or goes at once if buffers came meanwhile without one. */
static void vtcon_ctrl_flush(struct pci_vtcon_softc *sc)
{
	struct vqueue *vq = &sc->vcsc_vq[VTCON_CTRL_RXQ];
	uint16_t used = vq->vq_used_idx;
	bool all;

	if (!vtcon_multiport(sc) || !sc->vcsc_ready || !vtcon_running(sc))
		return;
	do {
		all = vtcon_ctrl_send_owed(sc);
		if (all && vq->vq_used_idx == used)
			return;
	} while (vq_endchains(vq, false) && !all);
}

/* The host side opened or closed: tell a driver that knows the port. */
static void vtcon_host_open_changed(struct vtcon_port *p)
{
	if (p->p_guest_ready) {
		p->p_open_pending = true;
		vtcon_ctrl_flush(p->p_sc);
	}
}

static void vtcon_port_rx_resume(struct vtcon_port *p);

static void vtcon_ctrl_event(struct pci_vtcon_softc *sc, uint32_t id, uint16_t event,
    uint16_t value)
{
	struct vtcon_port *p;

	if (event == VTCON_DEVICE_READY) {
		sc->vcsc_ready = value == 1;
		if (!sc->vcsc_ready) {
			vtcon_log(sc, "the driver could not set the device up (DEVICE_READY 0)");
			return;
		}
		for (int i = 0; i < VTCON_MAXPORTS; i++)
			if (sc->vcsc_ports[i].p_path != NULL && !sc->vcsc_ports[i].p_added)
				sc->vcsc_ports[i].p_add_pending = true;
		return;
	}
	if (event != VTCON_PORT_READY && event != VTCON_PORT_OPEN) {
		vtcon_log(sc, "control event %u is not one a driver sends", event);
		return;
	}
	if (id >= VTCON_MAXPORTS || sc->vcsc_ports[id].p_path == NULL ||
	    !sc->vcsc_ports[id].p_added) {
		vtcon_log(sc, "control event %u for port %u, which the device never added",
		    event, id);
		return;
	}
	p = &sc->vcsc_ports[id];
	if (event == VTCON_PORT_READY) {
		p->p_guest_ready = value == 1;
		if (p->p_guest_ready) {
			p->p_console_pending = p->p_console;
			p->p_name_pending = true;
			p->p_open_pending = vtcon_connected(p);
		}
		return;
	}
	p->p_guest_open = value != 0;
	if (p->p_guest_open)
		vtcon_port_rx_resume(p);
}

/* The driver's control messages: each chain holds one, in its readable part. */
static void vtcon_ctrl_tx(struct pci_vtcon_softc *sc, struct vqueue *vq)
{
	struct iovec iov[VTCON_QSIZE];
	uint16_t flags[VTCON_QSIZE], head;
	uint8_t msg[VTCON_CTRL_LEN];
	int n;

again:
	while ((n = vq_getchain(vq, iov, VTCON_QSIZE, flags, &head)) > 0) {
		size_t got = 0;

		for (int i = 0; i < n && got < sizeof(msg); i++) {
			size_t k;

			if (flags[i] & VRING_DESC_F_WRITE)
				break;
			k = iov[i].iov_len < sizeof(msg) - got ? iov[i].iov_len : sizeof(msg) - got;
			memcpy(msg + got, iov[i].iov_base, k);
			got += k;
		}
		vq_relchain(vq, head, 0);
		if (got < sizeof(msg)) {
			vtcon_log(sc, "control message of %zu bytes, under %d", got, VTCON_CTRL_LEN);
			continue;
		}
		vtcon_ctrl_event(sc, (uint32_t)le_get(msg, 4), (uint16_t)le_get(msg + 4, 2),
		    (uint16_t)le_get(msg + 6, 2));
	}
	if (vq_endchains(vq, n == 0))
		goto again;	/* added while we were busy, with no notify */
	vtcon_ctrl_flush(sc);
}

/* ---- data: host to guest ---- */

static void vtcon_set_events(struct vtcon_port *p)
{
	/* A broken connection wakes the main loop at once, which closes it; while
	 * reading waits, a client leaving is still noticed. */
	if (p->p_cev != NULL)
		mevent_set_events(p->p_cev,
		    (!p->p_rx_wait || p->p_broken ? MEVENT_READ : 0) |
		    (p->p_tx_held || p->p_broken ? MEVENT_WRITE : 0) |
		    (p->p_rx_wait && !p->p_hup ? MEVENT_HANGUP : 0));
}

static void vtcon_port_rx_resume(struct vtcon_port *p)
{
	if (p->p_rx_wait) {
		p->p_rx_wait = false;
		vtcon_set_events(p);
	}
}

static void vtcon_disconnect(struct vtcon_port *p);

/* Main loop: moves what the client sent into the buffers the guest posted, as
 * long as there are some; then stops reading until the guest posts more. */
static void vtcon_port_rx(struct vtcon_port *p)
{
	struct pci_vtcon_softc *sc = p->p_sc;
	struct vqueue *vq = &sc->vcsc_vq[vtcon_rxq(p->p_id)];
	struct iovec iov[VTCON_QSIZE];
	uint16_t flags[VTCON_QSIZE], head;
	bool empty = false;
	char c;

	if (!vtcon_running(sc) || !vq_ring_ready(vq) || !vtcon_guest_open(p) ||
	    vtcon_queue_port(sc, vq->vq_num) != p) {
		p->p_rx_wait = true;
		vtcon_set_events(p);
		return;
	}
	for (int k = 0; k < VTCON_QSIZE; k++) {
		ssize_t r = recv(p->p_cfd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		int n;
		bool ok = true;

		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			vtcon_disconnect(p);
			break;
		}
		if (r < 0)
			break;
		n = vq_getchain(vq, iov, VTCON_QSIZE, flags, &head);
		if (n <= 0) {
			empty = n == 0;
			p->p_rx_wait = true;
			vtcon_set_events(p);
			break;
		}
		for (int i = 0; i < n; i++)
			ok = ok && (flags[i] & VRING_DESC_F_WRITE);
		if (!ok) {
			vtcon_log(sc, "port %d receive buffer not device-writable", p->p_id);
			vq_relchain(vq, head, 0);
			continue;
		}
		r = readv(p->p_cfd, iov, n);
		vq_relchain(vq, head, r > 0 ? (uint32_t)r : 0);
		if (r <= 0)
			break;
	}
	/* Buffers posted while we looked may come with no notify: read on. */
	if (vq_endchains(vq, empty) && empty)
		vtcon_port_rx_resume(p);
}

/* ---- data: guest to host ---- */

/* Sends the rest of the held chain; true once it is done with (sent, or dropped
 * because the client went away), false while the client cannot take more. */
static bool vtcon_tx_flush(struct vtcon_port *p, struct vqueue *vq)
{
	while (vtcon_connected(p)) {
		struct iovec part[VTCON_QSIZE];
		struct msghdr mh = { .msg_iov = part };
		size_t skip = p->p_tx_done;
		ssize_t r;

		for (int i = 0; i < p->p_tx_n; i++) {
			if (skip >= p->p_tx_iov[i].iov_len) {
				skip -= p->p_tx_iov[i].iov_len;
				continue;
			}
			part[mh.msg_iovlen].iov_base = (uint8_t *)p->p_tx_iov[i].iov_base + skip;
			part[mh.msg_iovlen++].iov_len = p->p_tx_iov[i].iov_len - skip;
			skip = 0;
		}
		if (mh.msg_iovlen == 0)
			break;
		r = sendmsg(p->p_cfd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			p->p_tx_done += (size_t)r;
		} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			vtcon_set_events(p);
			return false;
		} else if (r < 0 && errno != EINTR) {
			/* Closed from whatever thread this is: the main loop finishes it. */
			p->p_broken = true;
		}
	}
	vq_relchain(vq, p->p_tx_head, 0);
	p->p_tx_held = false;
	vtcon_set_events(p);
	return true;
}

/* The guest's transmit chains go to the client; with none, or on a port the
 * driver has not opened, they are dropped. */
static void vtcon_port_tx(struct pci_vtcon_softc *sc, struct vtcon_port *p, struct vqueue *vq)
{
	struct iovec iov[VTCON_QSIZE];
	uint16_t flags[VTCON_QSIZE], head;
	int n = 0;

	if (p != NULL && p->p_tx_held && !vtcon_tx_flush(p, vq)) {
		vq_endchains(vq, n == 0);
		return;
	}
	do {
		while ((n = vq_getchain(vq, iov, VTCON_QSIZE, flags, &head)) > 0) {
			bool ok = true;

			for (int i = 0; i < n; i++)
				ok = ok && !(flags[i] & VRING_DESC_F_WRITE);
			if (!ok)
				vtcon_log(sc, "transmit buffer on queue %u is device-writable", vq->vq_num);
			else if (p == NULL)
				vtcon_log(sc, "transmit on queue %u, which belongs to no port", vq->vq_num);
			else if (!vtcon_guest_open(p))
				vtcon_log(sc, "transmit on port %d, which the driver has not opened", p->p_id);
			if (!ok || p == NULL || !vtcon_guest_open(p) || !vtcon_connected(p)) {
				vq_relchain(vq, head, 0);
				continue;
			}
			memcpy(p->p_tx_iov, iov, (size_t)n * sizeof(iov[0]));
			p->p_tx_n = n;
			p->p_tx_head = head;
			p->p_tx_done = 0;
			p->p_tx_held = true;
			if (!vtcon_tx_flush(p, vq))
				break;
		}
		/* Chains added while we were busy come with no notify: take them now,
		 * unless one waits for the client to read. */
	} while (vq_endchains(vq, n == 0) && !(p != NULL && p->p_tx_held));
}

/* ---- the sockets (main loop) ---- */

/* The client hung up while reading waits: with nothing unread that is the end
 * of it; else its input stays for the guest until a new client comes. */
static void vtcon_client_left(struct vtcon_port *p)
{
	char c;
	ssize_t r = recv(p->p_cfd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (r > 0) {
		p->p_hup = true;
		vtcon_set_events(p);
	} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
		vtcon_disconnect(p);
	}
}

/* The client's fd is readable or writable (or hung up). */
static void vtcon_client_event(int fd, void *arg)
{
	struct vtcon_port *p = arg;
	struct pci_vtcon_softc *sc = p->p_sc;

	(void)fd;
	pthread_mutex_lock(&sc->vcsc_vs.vs_mtx);
	if (p->p_cfd >= 0 && p->p_tx_held)
		vtcon_port_tx(sc, p, &sc->vcsc_vq[vtcon_rxq(p->p_id) + 1]);
	if (p->p_cfd >= 0 && p->p_broken)
		vtcon_disconnect(p);
	else if (p->p_cfd >= 0 && !p->p_rx_wait)
		vtcon_port_rx(p);
	else if (p->p_cfd >= 0 && !p->p_hup)
		vtcon_client_left(p);
	pthread_mutex_unlock(&sc->vcsc_vs.vs_mtx);
}

/* Main loop, vs_mtx held. A held chain goes back to the guest unsent. */
static void vtcon_disconnect(struct vtcon_port *p)
{
	if (p->p_cev != NULL)
		mevent_delete(p->p_cev);
	p->p_cev = NULL;
	close(p->p_cfd);
	p->p_cfd = -1;
	p->p_broken = p->p_rx_wait = p->p_hup = false;
	if (p->p_tx_held) {
		struct vqueue *vq = &p->p_sc->vcsc_vq[vtcon_rxq(p->p_id) + 1];

		vq_relchain(vq, p->p_tx_head, 0);
		vq_endchains(vq, false);
		p->p_tx_held = false;
	}
	vtcon_host_open_changed(p);
}

static void vtcon_accept(int fd, void *arg)
{
	struct vtcon_port *p = arg;
	struct pci_vtcon_softc *sc = p->p_sc;
	int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (s < 0)
		return;
	pthread_mutex_lock(&sc->vcsc_vs.vs_mtx);
	if (p->p_cfd >= 0 && p->p_hup)
		vtcon_disconnect(p);	/* a new client: the old one's input goes */
	if (p->p_cfd >= 0) {
		close(s);		/* one client at a time, as bhyve */
	} else {
		p->p_cev = mevent_add(s, vtcon_client_event, p);
		if (p->p_cev == NULL) {
			close(s);
		} else {
			p->p_cfd = s;
			p->p_broken = p->p_rx_wait = p->p_hup = false;
			vtcon_host_open_changed(p);
		}
	}
	pthread_mutex_unlock(&sc->vcsc_vs.vs_mtx);
}

/* ---- transport callbacks (vs_mtx held) ---- */

static void pci_vtcon_notify(void *arg, struct vqueue *vq)
{
	struct pci_vtcon_softc *sc = arg;
	struct vtcon_port *p = vtcon_queue_port(sc, vq->vq_num);

	if (vq->vq_num == VTCON_CTRL_RXQ || vq->vq_num == VTCON_CTRL_TXQ) {
		if (!vtcon_multiport(sc)) {
			vtcon_port_tx(sc, NULL, vq);	/* drops what is there */
			return;
		}
		if (vq->vq_num == VTCON_CTRL_RXQ) {
			vtcon_ctrl_flush(sc);
			return;
		}
		vtcon_ctrl_tx(sc, vq);
		/* The protocol moved on: a port may take input now. */
		for (int i = 0; i < VTCON_MAXPORTS; i++)
			vtcon_port_rx_resume(&sc->vcsc_ports[i]);
		return;
	}
	/* New receive buffers, or any sign of a driver at work (one that kicked
	 * before DRIVER_OK went unheard): read the socket again. */
	if (p != NULL)
		vtcon_port_rx_resume(p);
	if (vq->vq_num & 1)
		vtcon_port_tx(sc, p, vq);
}

static uint32_t pci_vtcon_cfgread(void *arg, uint32_t off, int size)
{
	uint8_t cfg[VTCON_CFGSIZE] = { 0 };

	(void)arg;
	le_put(cfg + VTCON_CFG_MAX_NR_PORTS, VTCON_MAXPORTS, 4);
	return (uint32_t)le_get(cfg + off, size);
}

/* Emergency write: one character for port 0, before or without the queues. */
static void pci_vtcon_cfgwrite(void *arg, uint32_t off, int size, uint32_t val)
{
	struct pci_vtcon_softc *sc = arg;
	struct vtcon_port *p = &sc->vcsc_ports[0];
	char c = (char)val;

	(void)size;
	if (off != VTCON_CFG_EMERG_WR || !vi_negotiated(&sc->vcsc_vs, VTCON_F_EMERG_WRITE))
		return;
	if (p->p_path != NULL && vtcon_connected(p) && !p->p_tx_held &&
	    send(p->p_cfd, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK)
		p->p_broken = true;
}

/* After a reset the driver starts the protocol afresh; connections stay. */
static void pci_vtcon_reset(void *arg)
{
	struct pci_vtcon_softc *sc = arg;

	sc->vcsc_ready = false;
	for (int i = 0; i < VTCON_MAXPORTS; i++) {
		struct vtcon_port *p = &sc->vcsc_ports[i];

		p->p_add_pending = p->p_added = p->p_guest_ready = false;
		p->p_console_pending = p->p_name_pending = p->p_open_pending = false;
		p->p_guest_open = false;
		p->p_tx_held = false;	/* its ring is gone: nothing to return it to */
		vtcon_set_events(p);
	}
}

/* ---- settings and start-up ---- */

/* -s S,virtio-console,NAME=PATH,...: port.0, port.1 ... in order. */
static int pci_vtcon_legacy_config(const char *node, const char *opts)
{
	char *copy = xstrdup(opts), *s = copy, *tok, key[32];
	int nports = 0, rc = 0;

	while ((tok = strsep(&s, ",")) != NULL) {
		char *eq = strchr(tok, '=');

		if (*tok == '\0')
			continue;
		if (eq == NULL || eq == tok || eq[1] == '\0') {
			warnx("virtio-console: \"%s\": each port is NAME=/path/to/socket", tok);
			rc = -1;
			break;
		}
		if (nports == VTCON_MAXPORTS) {
			warnx("virtio-console: at most %d ports", VTCON_MAXPORTS);
			rc = -1;
			break;
		}
		*eq = '\0';
		snprintf(key, sizeof(key), "port.%d.name", nports);
		set_config_value_node(node, key, tok);
		snprintf(key, sizeof(key), "port.%d.path", nports);
		set_config_value_node(node, key, eq + 1);
		nports++;
	}
	free(copy);
	return rc;
}

struct vtcon_names {
	char *v[VTCON_MAXPORTS + 1];
	int n;
	bool too_many;
};

static void vtcon_collect(const char *child, void *arg)
{
	struct vtcon_names *c = arg;

	if (c->n == (int)nitems(c->v))
		c->too_many = true;
	else
		c->v[c->n++] = xstrdup(child);
}

static void vtcon_names_free(struct vtcon_names *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->v[i]);
}

static int vtcon_key_check(const char *key, const char *value, void *arg)
{
	const char *const *allowed = arg;

	(void)value;
	for (; *allowed != NULL; allowed++)
		if (strcmp(key, *allowed) == 0)
			return 0;
	warnx("virtio-console: unknown option \"%s\"", key);
	return -1;
}

/* Nothing under node but the keys allowed, and no child node but "child". */
static int vtcon_node_check(const char *node, const char *const *allowed, const char *child)
{
	struct vtcon_names c = { .n = 0 };
	int rc = config_foreach_key(node, vtcon_key_check, (void *)allowed);

	config_foreach_child(node, vtcon_collect, &c);
	for (int i = 0; rc == 0 && i < c.n; i++) {
		if (child == NULL || strcmp(c.v[i], child) != 0) {
			warnx("virtio-console: unknown option \"%s.%s\"", node, c.v[i]);
			rc = -1;
		}
	}
	vtcon_names_free(&c);
	return rc;
}

static bool vtcon_name_ok(const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x21 || name[i] > 0x7e)
			return false;
	return len > 0 && len <= VTCON_NAME_MAX;
}

static int vtcon_port_config(struct pci_vtcon_softc *sc, const char *node, const char *n)
{
	static const char *const port_keys[] = { "name", "path", NULL };
	struct vtcon_port *p;
	const char *name, *path;
	unsigned long id;
	char pnode[96];

	snprintf(pnode, sizeof(pnode), "%s.port.%s", node, n);
	if (parse_uint(n, VTCON_MAXPORTS - 1, &id) != 0) {
		warnx("virtio-console: %s: ports are numbered 0 to %d", pnode, VTCON_MAXPORTS - 1);
		return -1;
	}
	if (vtcon_node_check(pnode, port_keys, NULL) != 0)
		return -1;
	p = &sc->vcsc_ports[id];
	name = get_config_value_node(pnode, "name");
	path = get_config_value_node(pnode, "path");
	if (p->p_path != NULL) {
		warnx("virtio-console: port %lu is given twice", id);
		return -1;
	}
	if (name == NULL || !vtcon_name_ok(name)) {
		warnx("virtio-console: %s.name must be 1 to %d printable characters, no spaces",
		    pnode, VTCON_NAME_MAX);
		return -1;
	}
	if (path == NULL || *path == '\0') {
		warnx("virtio-console: port %s has no socket path (%s.path)", name, pnode);
		return -1;
	}
	for (int i = 0; i < VTCON_MAXPORTS; i++) {
		struct vtcon_port *o = &sc->vcsc_ports[i];

		if (o->p_path != NULL && (strcmp(o->p_name, name) == 0 || strcmp(o->p_path, path) == 0)) {
			warnx("virtio-console: ports %d and %lu have the same %s", i, id,
			    strcmp(o->p_name, name) == 0 ? "name" : "path");
			return -1;
		}
	}
	p->p_name = xstrdup(name);
	p->p_path = xstrdup(path);
	p->p_console = strcmp(name, "console") == 0;
	return 0;
}

static int vtcon_read_config(struct pci_vtcon_softc *sc, const char *node)
{
	static const char *const dev_keys[] = { "device", NULL }, *const no_keys[] = { NULL };
	struct vtcon_names ports = { .n = 0 };
	char pnode[80];
	int rc;

	snprintf(pnode, sizeof(pnode), "%s.port", node);
	rc = vtcon_node_check(node, dev_keys, "port");
	if (rc == 0)	/* port.N nodes only: no values directly under "port" */
		rc = config_foreach_key(pnode, vtcon_key_check, (void *)no_keys);
	config_foreach_child(pnode, vtcon_collect, &ports);
	if (rc == 0 && ports.too_many) {
		warnx("virtio-console: at most %d ports", VTCON_MAXPORTS);
		rc = -1;
	}
	for (int i = 0; rc == 0 && i < ports.n; i++)
		rc = vtcon_port_config(sc, node, ports.v[i]);
	vtcon_names_free(&ports);
	return rc;
}

/* Removes a socket file this process made, unless something else replaced it. */
static void vtcon_unlink(struct vtcon_port *p)
{
	struct stat st;

	if (p->p_lfd >= 0 && lstat(p->p_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == p->p_dev && st.st_ino == p->p_ino)
		unlink(p->p_path);
}

static void vtcon_exit_cleanup(void *arg)
{
	struct pci_vtcon_softc *sc = arg;

	for (int i = 0; i < VTCON_MAXPORTS; i++)
		if (sc->vcsc_ports[i].p_path != NULL)
			vtcon_unlink(&sc->vcsc_ports[i]);
}

/* A socket file left by an earlier run that nobody listens on is replaced; a
 * live socket or any other kind of file is refused. */
static int vtcon_clear_path(const struct vtcon_port *p, const struct sockaddr_un *sun)
{
	struct stat st;
	int s, rc;

	if (lstat(p->p_path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		warnx("virtio-console: port %s: %s exists and is not a socket", p->p_name,
		    p->p_path);
		return -2;
	}
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	rc = connect(s, (const struct sockaddr *)sun, sizeof(*sun));
	close(s);
	if (rc == 0) {
		warnx("virtio-console: port %s: %s is in use by another process", p->p_name,
		    p->p_path);
		return -2;
	}
	return unlink(p->p_path);
}

static int vtcon_listen(struct vtcon_port *p)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int rc;

	if (strlen(p->p_path) >= sizeof(sun.sun_path)) {
		warnx("virtio-console: port %s: socket path longer than %zu bytes", p->p_name,
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	strcpy(sun.sun_path, p->p_path);
	rc = vtcon_clear_path(p, &sun);
	if (rc == -2)
		return -1;
	if (rc == 0) {
		p->p_lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (p->p_lfd >= 0 && bind(p->p_lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
			rc = errno;
			close(p->p_lfd);
			p->p_lfd = -1;
			errno = rc;
		}
	}
	if (rc != 0 || p->p_lfd < 0) {
		warnx("virtio-console: port %s: %s: %s", p->p_name, p->p_path, strerror(errno));
		return -1;
	}
	if (stat(p->p_path, &st) == 0) {
		p->p_dev = st.st_dev;
		p->p_ino = st.st_ino;
	}
	sandbox_allow_path(p->p_path, SANDBOX_PATH_REMOVE);	/* removed at exit */
	if (listen(p->p_lfd, 1) != 0 ||
	    (p->p_lev = mevent_add(p->p_lfd, vtcon_accept, p)) == NULL) {
		warnx("virtio-console: port %s: %s: %s", p->p_name, p->p_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Undoes a start-up that failed part way (main thread, before the loop runs). */
static void vtcon_teardown(struct pci_vtcon_softc *sc)
{
	for (int i = 0; i < VTCON_MAXPORTS; i++) {
		struct vtcon_port *p = &sc->vcsc_ports[i];

		if (p->p_lev != NULL)
			mevent_delete(p->p_lev);
		if (p->p_lfd >= 0) {
			vtcon_unlink(p);
			close(p->p_lfd);
		}
		free(p->p_name);
		free(p->p_path);
	}
	free(sc);
}

static const struct virtio_consts vtcon_consts = {
	.vc_name = "virtio-console",
	.vc_type = VIRTIO_TYPE_CONSOLE,
	.vc_devid = VIRTIO_DEV_CONSOLE,
	.vc_class = 0x07,	/* simple communications controller */
	.vc_subclass = 0x80,	/* other: not a UART a serial driver should claim */
	.vc_nvq = VTCON_NVQ,
	.vc_qsize = VTCON_QSIZE,
	.vc_features = VTCON_F_MULTIPORT | VTCON_F_EMERG_WRITE,
	.vc_cfgsize = VTCON_CFGSIZE,
	.vc_cfgread = pci_vtcon_cfgread,
	.vc_cfgwrite = pci_vtcon_cfgwrite,
	.vc_qnotify = pci_vtcon_notify,
	.vc_reset = pci_vtcon_reset,
};

static int pci_vtcon_init(struct pci_devinst *pi, const char *node)
{
	struct pci_vtcon_softc *sc = xcalloc(1, sizeof(*sc));
	int i;

	for (i = 0; i < VTCON_MAXPORTS; i++) {
		sc->vcsc_ports[i].p_sc = sc;
		sc->vcsc_ports[i].p_id = i;
		sc->vcsc_ports[i].p_lfd = sc->vcsc_ports[i].p_cfd = -1;
	}
	if (vtcon_read_config(sc, node) != 0)
		goto fail;
	for (i = 0; i < VTCON_MAXPORTS; i++)
		if (sc->vcsc_ports[i].p_path != NULL && vtcon_listen(&sc->vcsc_ports[i]) != 0)
			goto fail;
	if (vi_softc_init(&sc->vcsc_vs, &vtcon_consts, sc, pi, sc->vcsc_vq) != 0)
		goto fail;
	at_exit_cleanup(vtcon_exit_cleanup, sc);
	return 0;
fail:
	vtcon_teardown(sc);
	pi->pi_arg = NULL;
	return -1;
}

static const struct pci_devemu pci_de_vcon = {
	.pe_emu = "virtio-console",
	.pe_init = pci_vtcon_init,
	.pe_legacy_config = pci_vtcon_legacy_config,
	.pe_barwrite = vi_pci_write,
	.pe_barread = vi_pci_read,
	.pe_cfgwrite = vi_pci_cfgwrite,
	.pe_cfgread = vi_pci_cfgread,
};
PCI_EMUL_SET(pci_de_vcon);
