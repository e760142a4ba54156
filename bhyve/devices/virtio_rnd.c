/* virtio-rnd: the virtio entropy device (type 4), one queue whose device-writable
 * buffers are filled from getrandom(2). It has no settings.
 *
 * A chain is returned only filled: while the host's RNG is not ready (getrandom
 * fails, EAGAIN before it is seeded) the device holds the chain it took and
 * tries again every VTRND_RETRY_MS on the main loop, never stalling the vCPU
 * and never handing the driver an empty buffer as entropy.
 *
 * A chain gets at most VTRND_MAXFILL bytes (the used length says how many), so
 * a driver offering huge buffers cannot hold the device's lock, or a host CPU,
 * for long; Linux asks for at most a page or so at a time anyway. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "devices/virtio_rnd.h"
#include "mevent.h"
#include "pci_emul.h"
#include "virtio.h"

#define VTRND_QSIZE	64
#define VTRND_MAXSEGS	16
#define VTRND_RETRY_MS	50
#define VTRND_MAXFILL	65536	/* bytes given per chain */

int vtrnd_test_not_ready;

struct pci_vtrnd_softc {
	struct virtio_softc vrsc_vs;
	struct vqueue vrsc_vq;
	/* Under vs_mtx: the chain taken and waiting for the host's RNG. */
	bool vrsc_held;
	uint16_t vrsc_head;
	int vrsc_n;
	struct iovec vrsc_iov[VTRND_MAXSEGS];
	uint16_t vrsc_flags[VTRND_MAXSEGS];
	struct mevent *vrsc_retry;	/* enabled while a chain is held */
};

static void pci_vtrnd_retry(int fd, void *arg);

static ssize_t vtrnd_getrandom(void *buf, size_t len)
{
	if (vtrnd_test_not_ready > 0) {
		vtrnd_test_not_ready--;
		errno = EAGAIN;
		return -1;
	}
	return getrandom(buf, len, GRND_NONBLOCK);
}

/* Fills the writable buffers in order, VTRND_MAXFILL bytes at most: false when
 * the host's RNG cannot now. */
static bool pci_vtrnd_fill(const struct iovec *iov, const uint16_t *flags, int n,
    uint32_t *len)
{
	*len = 0;
	for (int i = 0; i < n && *len < VTRND_MAXFILL; i++) {
		size_t done = 0, want = iov[i].iov_len;

		if (!(flags[i] & VRING_DESC_F_WRITE))
			continue;
		if (want > VTRND_MAXFILL - *len)
			want = VTRND_MAXFILL - *len;
		while (done < want) {
			ssize_t r = vtrnd_getrandom((uint8_t *)iov[i].iov_base + done,
			    want - done);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return false;
			done += (size_t)r;
		}
		*len += (uint32_t)done;
	}
	return true;
}

/* vs_mtx held, the device running: fills and returns chains until the ring is
 * empty or the host's RNG is not ready (the chain then stays held). */
static void pci_vtrnd_run(struct pci_vtrnd_softc *sc)
{
	struct vqueue *vq = &sc->vrsc_vq;
	uint32_t len;
	int n = 0;

	do {
		for (;;) {
			if (!sc->vrsc_held) {
				n = vq_getchain(vq, sc->vrsc_iov, VTRND_MAXSEGS, sc->vrsc_flags,
				    &sc->vrsc_head);
				if (n <= 0)
					break;
				sc->vrsc_n = n;
				sc->vrsc_held = true;
			}
			if (!pci_vtrnd_fill(sc->vrsc_iov, sc->vrsc_flags, sc->vrsc_n, &len))
				break;
			vq_relchain(vq, sc->vrsc_head, len);
			sc->vrsc_held = false;
		}
		if (sc->vrsc_held) {
			/* Interrupts for what was returned; the retry takes the rest. */
			(void)vq_endchains(vq, false);
			if (sc->vrsc_retry == NULL)
				sc->vrsc_retry = mevent_add_timer(VTRND_RETRY_MS,
				    pci_vtrnd_retry, sc);
			else
				mevent_enable(sc->vrsc_retry);
			return;
		}
	} while (vq_endchains(vq, n == 0));
}

static void pci_vtrnd_retry(int fd, void *arg)
{
	struct pci_vtrnd_softc *sc = arg;
	struct virtio_softc *vs = &sc->vrsc_vs;

	(void)fd;
	pthread_mutex_lock(&vs->vs_mtx);
	if (sc->vrsc_held && (vs->vs_status & (VIRTIO_CONFIG_S_DRIVER_OK |
	    VIRTIO_CONFIG_S_NEEDS_RESET)) == VIRTIO_CONFIG_S_DRIVER_OK &&
	    vq_ring_ready(&sc->vrsc_vq))
		pci_vtrnd_run(sc);
	if (!sc->vrsc_held)
		mevent_disable(sc->vrsc_retry);
	pthread_mutex_unlock(&vs->vs_mtx);
}

static void pci_vtrnd_notify(void *arg, struct vqueue *vq)
{
	struct pci_vtrnd_softc *sc = arg;

	(void)vq;
	pci_vtrnd_run(sc);		/* a chain held is tried again first */
}

/* vs_mtx held: a chain held is the driver's no more. */
static void pci_vtrnd_reset(void *arg)
{
	struct pci_vtrnd_softc *sc = arg;

	sc->vrsc_held = false;
	if (sc->vrsc_retry != NULL)
		mevent_disable(sc->vrsc_retry);
}

static const struct virtio_consts vtrnd_consts = {
	.vc_name = "virtio-rnd",
	.vc_type = VIRTIO_TYPE_ENTROPY,
	.vc_devid = VIRTIO_DEV_ENTROPY,
	.vc_class = 0x10,	/* encryption controller, as bhyve presents it */
	.vc_subclass = 0x80,	/* other */
	.vc_nvq = 1,
	.vc_qsize = VTRND_QSIZE,
	.vc_qnotify = pci_vtrnd_notify,
	.vc_reset = pci_vtrnd_reset,
};

static int pci_vtrnd_init(struct pci_devinst *pi, const char *node)
{
	struct pci_vtrnd_softc *sc;

	(void)node;	/* no settings */
	sc = xcalloc(1, sizeof(*sc));
	if (vi_softc_init(&sc->vrsc_vs, &vtrnd_consts, sc, pi, &sc->vrsc_vq) != 0) {
		pi->pi_arg = NULL;
		free(sc);
		return -1;
	}
	return 0;
}

static const char *const vtrnd_keys[] = { NULL };

static const struct pci_devemu pci_de_vrnd = {
	.pe_emu = "virtio-rnd",
	.pe_keys = vtrnd_keys,
	.pe_init = pci_vtrnd_init,
	.pe_barwrite = vi_pci_write,
	.pe_barread = vi_pci_read,
	.pe_cfgwrite = vi_pci_cfgwrite,
	.pe_cfgread = vi_pci_cfgread,
};
PCI_EMUL_SET(pci_de_vrnd);
