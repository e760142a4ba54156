/* virtio-rnd: the virtio entropy device (type 4), one queue whose device-writable
 * buffers are filled from getrandom(2). It has no settings. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "pci_emul.h"
#include "virtio.h"

#define VTRND_QSIZE	64
#define VTRND_MAXSEGS	16

struct pci_vtrnd_softc {
	struct virtio_softc vrsc_vs;
	struct vqueue vrsc_vq;
};

/* Fills the writable buffers; a getrandom failure completes the request empty. */
static uint32_t pci_vtrnd_fill(const struct iovec *iov, const uint16_t *flags, int n)
{
	uint32_t len = 0;

	for (int i = 0; i < n; i++) {
		size_t done = 0;

		if (!(flags[i] & VRING_DESC_F_WRITE))
			continue;
		while (done < iov[i].iov_len) {
			ssize_t r = getrandom((uint8_t *)iov[i].iov_base + done,
			    iov[i].iov_len - done, GRND_NONBLOCK);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return 0;
			done += (size_t)r;
		}
		len += (uint32_t)done;
	}
	return len;
}

static void pci_vtrnd_notify(void *sc, struct vqueue *vq)
{
	struct iovec iov[VTRND_MAXSEGS];
	uint16_t flags[VTRND_MAXSEGS], head;
	int n;

	(void)sc;
	do {
		while ((n = vq_getchain(vq, iov, VTRND_MAXSEGS, flags, &head)) > 0)
			vq_relchain(vq, head, pci_vtrnd_fill(iov, flags, n));
	} while (vq_endchains(vq, n == 0));
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

static const struct pci_devemu pci_de_vrnd = {
	.pe_emu = "virtio-rnd",
	.pe_init = pci_vtrnd_init,
	.pe_barwrite = vi_pci_write,
	.pe_barread = vi_pci_read,
	.pe_cfgwrite = vi_pci_cfgwrite,
	.pe_cfgread = vi_pci_cfgread,
};
PCI_EMUL_SET(pci_de_vrnd);
