/* The virtio-pci transport (virtio 1.x, transitional): the legacy I/O interface in
 * BAR 0, MSI-X in BAR 1, the modern structures in BAR 4, and split virtqueues.
 * A device embeds a struct virtio_softc, describes itself with virtio_consts and
 * points its pci_devemu handlers at vi_pci_*. */
#ifndef VIRTIO_H
#define VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct pci_devinst;
struct vqueue;

#define VIRTIO_VENDOR		0x1af4
#define VIRTIO_TYPE_ENTROPY	4
/* Transitional device IDs are a table, not a formula (entropy is 0x1005). */
#define VIRTIO_DEV_ENTROPY	0x1005

/* Device status. */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE	0x01
#define VIRTIO_CONFIG_S_DRIVER		0x02
#define VIRTIO_CONFIG_S_DRIVER_OK	0x04
#define VIRTIO_CONFIG_S_FEATURES_OK	0x08
#define VIRTIO_CONFIG_S_NEEDS_RESET	0x40
#define VIRTIO_CONFIG_S_FAILED		0x80

/* Transport feature bits (the device's own are below 24). */
#define VIRTIO_F_NOTIFY_ON_EMPTY	(1ULL << 24)
#define VIRTIO_RING_F_INDIRECT_DESC	(1ULL << 28)
#define VIRTIO_RING_F_EVENT_IDX		(1ULL << 29)
#define VIRTIO_F_VERSION_1		(1ULL << 32)

/* Descriptor flags, as vq_getchain reports them per buffer. */
#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4
#define VRING_AVAIL_F_NO_INTERRUPT	1
#define VRING_USED_F_NO_NOTIFY		1

#define VIRTIO_MSI_NO_VECTOR	0xffff
#define VIRTIO_ISR_QUEUE	0x1
#define VIRTIO_ISR_CONFIG	0x2

/* Legacy I/O registers (BAR 0). */
#define VIRTIO_PCI_HOST_FEATURES	0x00
#define VIRTIO_PCI_GUEST_FEATURES	0x04
#define VIRTIO_PCI_QUEUE_PFN		0x08
#define VIRTIO_PCI_QUEUE_NUM		0x0c
#define VIRTIO_PCI_QUEUE_SEL		0x0e
#define VIRTIO_PCI_QUEUE_NOTIFY		0x10
#define VIRTIO_PCI_STATUS		0x12
#define VIRTIO_PCI_ISR			0x13
#define VIRTIO_MSI_CONFIG_VECTOR	0x14	/* these two only while MSI-X is on */
#define VIRTIO_MSI_QUEUE_VECTOR		0x16
#define VIRTIO_PCI_CONFIG(msix)		((msix) ? 0x18 : 0x14)
#define VIRTIO_PCI_VRING_ALIGN		4096

/* The modern structures: where they sit in BAR 4 and their vendor-cap types. */
#define VIRTIO_MODERN_BAR	4
#define VIRTIO_MSIX_BAR		1
#define VIRTIO_LEGACY_BAR	0
#define VIRTIO_PCI_CAP_COMMON_CFG	1
#define VIRTIO_PCI_CAP_NOTIFY_CFG	2
#define VIRTIO_PCI_CAP_ISR_CFG		3
#define VIRTIO_PCI_CAP_DEVICE_CFG	4
#define VIRTIO_PCI_CAP_PCI_CFG		5
#define VIRTIO_MODERN_COMMON	0x0000
#define VIRTIO_MODERN_ISR	0x1000
#define VIRTIO_MODERN_DEVICE	0x2000
#define VIRTIO_MODERN_NOTIFY	0x3000
#define VIRTIO_MODERN_BARSIZE	0x4000
#define VIRTIO_NOTIFY_MULT	4	/* queue n is notified at NOTIFY + 4 * n */

/* Common configuration structure offsets. */
#define VIRTIO_COMMON_DFSELECT	0x00
#define VIRTIO_COMMON_DF	0x04
#define VIRTIO_COMMON_GFSELECT	0x08
#define VIRTIO_COMMON_GF	0x0c
#define VIRTIO_COMMON_MSIX	0x10
#define VIRTIO_COMMON_NUMQ	0x12
#define VIRTIO_COMMON_STATUS	0x14
#define VIRTIO_COMMON_CFGGEN	0x15
#define VIRTIO_COMMON_Q_SELECT	0x16
#define VIRTIO_COMMON_Q_SIZE	0x18
#define VIRTIO_COMMON_Q_MSIX	0x1a
#define VIRTIO_COMMON_Q_ENABLE	0x1c
#define VIRTIO_COMMON_Q_NOFF	0x1e
#define VIRTIO_COMMON_Q_DESCLO	0x20
#define VIRTIO_COMMON_Q_DESCHI	0x24
#define VIRTIO_COMMON_Q_AVAILLO	0x28
#define VIRTIO_COMMON_Q_AVAILHI	0x2c
#define VIRTIO_COMMON_Q_USEDLO	0x30
#define VIRTIO_COMMON_Q_USEDHI	0x34
#define VIRTIO_COMMON_SIZE	0x38

/* What a device tells the transport about itself. */
struct virtio_consts {
	const char *vc_name;
	uint16_t vc_type;		/* virtio device type: 4 = entropy; the subsystem ID */
	uint16_t vc_devid;		/* transitional PCI device ID, 0x1000-0x103f */
	uint8_t vc_class, vc_subclass;	/* PCI class code */
	int vc_nvq;
	uint16_t vc_qsize;		/* maximum (and legacy) queue size, a power of 2, <= VQ_MAX_QSIZE */
	uint64_t vc_features;		/* the device's own feature bits */
	uint32_t vc_cfgsize;		/* device-specific configuration bytes */
	/* Device configuration accesses, off < vc_cfgsize; NULL: reads 0, writes ignored. */
	uint32_t (*vc_cfgread)(void *sc, uint32_t off, int size);
	void (*vc_cfgwrite)(void *sc, uint32_t off, int size, uint32_t val);
	/* The driver notified vq (DRIVER_OK set, queue enabled, device healthy). */
	void (*vc_qnotify)(void *sc, struct vqueue *vq);
	void (*vc_reset)(void *sc);	/* after the transport reset its own state */
};

#define VQ_MAX_QSIZE	1024		/* the largest vc_qsize a device may give */

struct vqueue {
	struct virtio_softc *vq_vs;
	uint16_t vq_num;		/* this queue's index */
	uint16_t vq_qsize;		/* as the driver set it */
	bool vq_enabled;		/* rings mapped, ready for use */
	uint64_t vq_desc_gpa, vq_avail_gpa, vq_used_gpa;
	uint16_t vq_msix_idx;
	uint16_t vq_last_avail;		/* next avail entry the device takes */
	uint16_t vq_used_idx;		/* the used idx the device last published */
	uint16_t vq_used_at_intr;	/* used idx when an interrupt was last decided */
	/* Chain heads the device has taken and not yet returned, one bit each. */
	uint64_t vq_busy[VQ_MAX_QSIZE / 64];
	/* Host views of the rings, checked by vm_map_gpa at enable time. */
	uint8_t *vq_desc;
	uint8_t *vq_avail;	/* le16 flags, idx, ring[qsize], used_event */
	uint8_t *vq_used;	/* le16 flags, idx; {le32 id, len}[qsize]; le16 avail_event */
	/* KVM ioeventfd: the kernel signals vq_kick_fd on a notify write to these
	 * addresses (0: not bound) and the main loop runs the queue. */
	int vq_kick_fd;
	uint64_t vq_kick_legacy, vq_kick_modern;
};

struct virtio_softc {
	const struct virtio_consts *vs_vc;
	struct pci_devinst *vs_pi;
	void *vs_sc;			/* the device's softc, handed to callbacks */
	pthread_mutex_t vs_mtx;		/* register accesses and queue processing */
	struct vqueue *vs_queues;
	uint8_t vs_status;
	uint8_t vs_isr;
	uint8_t vs_cfggen;
	bool vs_logged;			/* a guest error was reported once already */
	uint16_t vs_curq;
	uint16_t vs_msix_cfg_idx;
	uint32_t vs_dfselect, vs_gfselect;
	uint64_t vs_negotiated;
	int vs_pcicfg_off;		/* VIRTIO_PCI_CAP_PCI_CFG in config space */
	bool vs_kick_off;		/* no ioeventfds (bhyve-emu, or KVM refused) */
};

/* Sets up the PCI function: IDs, BARs, capabilities, interrupts. The device
 * provides queues[vc_nvq]; pi->pi_arg becomes vs. Returns 0 or -1. */
int vi_softc_init(struct virtio_softc *vs, const struct virtio_consts *vc, void *sc,
    struct pci_devinst *pi, struct vqueue *queues);

/* pci_devemu handlers shared by every virtio device. */
void vi_pci_write(struct pci_devinst *pi, int baridx, uint64_t off, int size, uint64_t val);
uint64_t vi_pci_read(struct pci_devinst *pi, int baridx, uint64_t off, int size);
int vi_pci_cfgwrite(struct pci_devinst *pi, int off, int bytes, uint32_t val);
int vi_pci_cfgread(struct pci_devinst *pi, int off, int bytes, uint32_t *val);

/* The vq_* helpers run under vs_mtx: the transport holds it around vc_qnotify; a
 * device completing requests from another thread takes it itself. */

/* Takes the next available chain: 0 when the ring is empty, the number of buffers
 * (at most niov; flags[i] holds VRING_DESC_F_WRITE for device-writable ones), or
 * -1 for a malformed chain, which has put the device into DEVICE_NEEDS_RESET. */
int vq_getchain(struct vqueue *vq, struct iovec *iov, int niov, uint16_t *flags,
    uint16_t *head);
/* Returns chain head to the driver with len bytes written. */
void vq_relchain(struct vqueue *vq, uint16_t head, uint32_t len);
/* Interrupts the driver for the chains released, unless it asked not to be.
 * used_all: the avail ring is now empty (with VIRTIO_F_NOTIFY_ON_EMPTY that forces
 * the interrupt for chains just released). With the event index it also tells
 * the driver how far the device has taken chains, which is when the driver
 * notifies next; a driver that looked before that may have added chains without
 * a notify. Returns true when chains are available now: a device that stopped
 * taking them (or waits for buffers) takes them at once, as no notify may come. */
bool vq_endchains(struct vqueue *vq, bool used_all);
bool vq_ring_ready(const struct vqueue *vq);
/* The driver has made chains available that vq_getchain has not taken yet
 * (never while the device needs a reset). */
bool vq_has_descs(const struct vqueue *vq);
/* Asks the driver not to notify (VRING_USED_F_NO_NOTIFY) while a device thread
 * is busy with the queue, or to notify again; with the event index, which
 * vq_endchains keeps, this does nothing. After allowing notifications again,
 * check vq_has_descs before sleeping. */
void vq_notify_suppress(struct vqueue *vq, bool suppress);
bool vi_negotiated(const struct virtio_softc *vs, uint64_t feature);

#endif
