/* The virtio-pci transport, written from the virtio 1.x specification: a
 * transitional function that speaks the legacy I/O interface (BAR 0) and the
 * modern capability-described one (BAR 4), with split virtqueues. A guest that
 * breaks the rules gets DEVICE_NEEDS_RESET, never a crashed VMM. */
#include "virtio.h"

#include <endian.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "mevent.h"
#include "pci_emul.h"
#include "vmmapi.h"

#define VI_TRANSPORT_FEATURES \
	(VIRTIO_F_NOTIFY_ON_EMPTY | VIRTIO_RING_F_INDIRECT_DESC | VIRTIO_RING_F_EVENT_IDX | \
	 VIRTIO_F_VERSION_1)

/* Offsets inside a vendor-specific (virtio) capability. */
#define VCAP_BAR	4
#define VCAP_OFFSET	8
#define VCAP_LENGTH	12
#define VCAP_DATA	16	/* PCI_CFG: the access window; NOTIFY: the multiplier */
#define VCAP_LEN	16
#define VCAP_LEN_EXT	20

static uint64_t vi_offered(const struct virtio_softc *vs)
{
	return vs->vs_vc->vc_features | VI_TRANSPORT_FEATURES;
}

bool vi_negotiated(const struct virtio_softc *vs, uint64_t feature)
{
	return (vs->vs_negotiated & feature) == feature;
}

bool vq_ring_ready(const struct vqueue *vq)
{
	return vq->vq_enabled;
}

/* Ring indexes shared with the guest: single aligned 16-bit accesses (alignment
 * checked at enable), so a racing guest cannot make us read a torn value. */
static uint16_t ring_get16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}

static void ring_put16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

bool vq_has_descs(const struct vqueue *vq)
{
	return vq_ring_ready(vq) && !(vq->vq_vs->vs_status & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	    ring_get16(vq->vq_avail + 2) != vq->vq_last_avail;
}

void vq_notify_suppress(struct vqueue *vq, bool suppress)
{
	if (!vq_ring_ready(vq) || vi_negotiated(vq->vq_vs, VIRTIO_RING_F_EVENT_IDX))
		return;
	ring_put16(vq->vq_used, suppress ? VRING_USED_F_NO_NOTIFY : 0);
	/* The flag is visible before we look at the avail index again. */
	atomic_thread_fence(memory_order_seq_cst);
}

/* ---- interrupts and error state ---- */

/* With MSI-X on, each queue and the configuration have their own vector; without
 * it, the ISR says why and MSI (if enabled) or INTx carries the interrupt. On
 * KVM an MSI-X vector is an irqfd write (pci_emul.c). */
static void vi_intr(struct virtio_softc *vs, uint16_t msix_idx, uint8_t isrbit)
{
	struct pci_devinst *pi = vs->vs_pi;

	if (pci_msix_enabled(pi)) {
		if (msix_idx != VIRTIO_MSI_NO_VECTOR)
			pci_generate_msix(pi, msix_idx);
		return;
	}
	vs->vs_isr |= isrbit;
	if (pci_msi_enabled(pi))
		pci_generate_msi(pi, 0);
	else
		pci_lintr_assert(pi);
}

static void vi_set_broken(struct virtio_softc *vs, const char *why)
{
	if (!vs->vs_logged) {
		warnx("%s: %s; the device needs a reset", vs->vs_pi->pi_name, why);
		vs->vs_logged = true;
	}
	if (vs->vs_status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	vs->vs_status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (vs->vs_status & VIRTIO_CONFIG_S_DRIVER_OK)
		vi_intr(vs, vs->vs_msix_cfg_idx, VIRTIO_ISR_CONFIG);
}

static uint8_t vi_isr_read(struct virtio_softc *vs)
{
	uint8_t isr = vs->vs_isr;

	vs->vs_isr = 0;
	pci_lintr_deassert(vs->vs_pi);
	return isr;
}

/* ---- notifications through ioeventfd ---- */

static void vi_notify(struct virtio_softc *vs, uint64_t qidx);

/* The kernel saw a notify write: run the queue on the main loop. */
static void vi_kick_cb(int fd, void *arg)
{
	struct vqueue *vq = arg;
	struct virtio_softc *vs = vq->vq_vs;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	pthread_mutex_lock(&vs->vs_mtx);
	vi_notify(vs, vq->vq_num);
	pthread_mutex_unlock(&vs->vs_mtx);
}

/* Binds (want != 0) or unbinds the queue's eventfd at one notify address. The
 * driver writes the 16-bit queue index there, so the binding matches it. */
static void vi_kick_bind(struct virtio_softc *vs, struct vqueue *vq, uint64_t *cur,
    uint64_t want, bool pio)
{
	struct vmctx *ctx = vs->vs_pi->pi_vmctx;

	if (*cur == want)
		return;
	if (*cur != 0)
		(void)vm_ioeventfd(ctx, vq->vq_kick_fd, *cur, 2, pio, true, vq->vq_num, true);
	*cur = 0;
	if (want == 0 || vs->vs_kick_off)
		return;
	/* Without a binding (bhyve-emu, no ioeventfd support) every notify stays a
	 * BAR write that exits to vi_pci_write: the same, only slower. */
	if (vq->vq_kick_fd < 0) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd >= 0 && vm_ioeventfd(ctx, fd, want, 2, pio, true, vq->vq_num, false) != 0) {
			close(fd);
			fd = -1;
		}
		/* Made once and never closed: the main loop may be about to run it. */
		if (fd >= 0 && mevent_add(fd, vi_kick_cb, vq) == NULL) {
			(void)vm_ioeventfd(ctx, fd, want, 2, pio, true, vq->vq_num, true);
			close(fd);
			fd = -1;
		}
		vq->vq_kick_fd = fd;
	} else if (vm_ioeventfd(ctx, vq->vq_kick_fd, want, 2, pio, true, vq->vq_num, false) != 0) {
		vs->vs_kick_off = true;
		return;
	}
	if (vq->vq_kick_fd < 0) {
		vs->vs_kick_off = true;
		return;
	}
	*cur = want;
}

/* Makes the bindings match the queues and BARs: an enabled queue is notified
 * through the kernel at the legacy port and the modern notify address, while
 * those decode. Called after anything that changes either. */
static void vi_kick_sync(struct virtio_softc *vs)
{
	const struct pcibar *lb = &vs->vs_pi->pi_bar[VIRTIO_LEGACY_BAR];
	const struct pcibar *mb = &vs->vs_pi->pi_bar[VIRTIO_MODERN_BAR];

	for (int i = 0; i < vs->vs_vc->vc_nvq; i++) {
		struct vqueue *vq = &vs->vs_queues[i];
		bool on = vq->vq_enabled;

		vi_kick_bind(vs, vq, &vq->vq_kick_legacy,
		    on && lb->registered ? lb->addr + VIRTIO_PCI_QUEUE_NOTIFY : 0, true);
		vi_kick_bind(vs, vq, &vq->vq_kick_modern, on && mb->registered ?
		    mb->addr + VIRTIO_MODERN_NOTIFY + VIRTIO_NOTIFY_MULT * (uint64_t)i : 0, false);
	}
}

static void vi_bar_moved(struct pci_devinst *pi, int idx)
{
	struct virtio_softc *vs = pi->pi_arg;

	if (vs == NULL || (idx != VIRTIO_LEGACY_BAR && idx != VIRTIO_MODERN_BAR))
		return;
	pthread_mutex_lock(&vs->vs_mtx);
	vi_kick_sync(vs);
	pthread_mutex_unlock(&vs->vs_mtx);
}

/* ---- queues ---- */

static void vq_clear(struct vqueue *vq)
{
	vq->vq_qsize = vq->vq_vs->vs_vc->vc_qsize;
	vq->vq_enabled = false;
	vq->vq_desc_gpa = vq->vq_avail_gpa = vq->vq_used_gpa = 0;
	vq->vq_msix_idx = VIRTIO_MSI_NO_VECTOR;
	vq->vq_last_avail = vq->vq_used_idx = vq->vq_used_at_intr = 0;
	memset(vq->vq_busy, 0, sizeof(vq->vq_busy));
	vq->vq_desc = vq->vq_avail = vq->vq_used = NULL;
}

/* Maps the three rings through vm_map_gpa; false (and NEEDS_RESET) if they do not fit. */
static bool vq_enable(struct virtio_softc *vs, struct vqueue *vq)
{
	struct vmctx *ctx = vs->vs_pi->pi_vmctx;
	uint32_t n = vq->vq_qsize;

	if (n == 0 || (n & (n - 1)) != 0 || n > vs->vs_vc->vc_qsize) {
		vi_set_broken(vs, "queue size is not a power of 2 within the maximum");
		return false;
	}
	if ((vq->vq_desc_gpa & 15) || (vq->vq_avail_gpa & 1) || (vq->vq_used_gpa & 3)) {
		vi_set_broken(vs, "misaligned virtqueue");
		return false;
	}
	vq->vq_desc = vm_map_gpa(ctx, vq->vq_desc_gpa, 16 * (size_t)n);
	vq->vq_avail = vm_map_gpa(ctx, vq->vq_avail_gpa, 6 + 2 * (size_t)n);
	vq->vq_used = vm_map_gpa(ctx, vq->vq_used_gpa, 6 + 8 * (size_t)n);
	if (vq->vq_desc == NULL || vq->vq_avail == NULL || vq->vq_used == NULL) {
		vq->vq_desc = vq->vq_avail = vq->vq_used = NULL;
		vi_set_broken(vs, "virtqueue outside guest RAM");
		return false;
	}
	vq->vq_last_avail = vq->vq_used_idx = vq->vq_used_at_intr = 0;
	memset(vq->vq_busy, 0, sizeof(vq->vq_busy));
	vq->vq_enabled = true;
	vi_kick_sync(vs);
	return true;
}

static int vq_bad(struct vqueue *vq, const char *why)
{
	vi_set_broken(vq->vq_vs, why);
	return -1;
}

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

/* A private copy, so the guest cannot change a descriptor between check and use. */
static void desc_read(const uint8_t *table, uint32_t i, struct vdesc *d)
{
	const uint8_t *p = table + 16 * (size_t)i;

	d->addr = le_get(p, 8);
	d->len = (uint32_t)le_get(p + 8, 4);
	d->flags = (uint16_t)le_get(p + 12, 2);
	d->next = (uint16_t)le_get(p + 14, 2);
}

int vq_getchain(struct vqueue *vq, struct iovec *iov, int niov, uint16_t *flags,
    uint16_t *head)
{
	struct virtio_softc *vs = vq->vq_vs;
	struct vmctx *ctx = vs->vs_pi->pi_vmctx;
	uint32_t n = vq->vq_qsize, tsize = n, visited = 0;
	const uint8_t *table = vq->vq_desc;
	bool in_indirect = false;
	uint16_t avail_idx, idx;
	struct vdesc d;
	int nb = 0;

	if (!vq_ring_ready(vq) || (vs->vs_status & VIRTIO_CONFIG_S_NEEDS_RESET))
		return 0;
	avail_idx = ring_get16(vq->vq_avail + 2);
	if (avail_idx == vq->vq_last_avail)
		return 0;
	if ((uint16_t)(avail_idx - vq->vq_last_avail) > n)
		return vq_bad(vq, "avail index ran ahead of the ring");
	/* A chain keeps its descriptors until the device returns it, so a driver
	 * never has more than the queue size out: more is a driver reusing what it
	 * has not got back, which would grow the device's requests without bound.
	 * The head check below refuses that first; this count is the backstop. */
	if ((uint16_t)(vq->vq_last_avail - vq->vq_used_idx) >= n)
		return vq_bad(vq, "more chains in flight than the queue size");
	/* The ring entries are read only after the index that published them. */
	atomic_thread_fence(memory_order_acquire);
	idx = ring_get16(vq->vq_avail + 4 + 2 * (vq->vq_last_avail & (n - 1)));
	vq->vq_last_avail++;
	if (idx >= n)
		return vq_bad(vq, "chain head out of range");
	/* A chain the device still holds, made available again: the driver
	 * reused descriptors it has not got back (the count above catches it
	 * only once a whole ring is out). */
	if (vq->vq_busy[idx / 64] & (1ull << (idx % 64)))
		return vq_bad(vq, "chain head made available again while in flight");
	vq->vq_busy[idx / 64] |= 1ull << (idx % 64);
	*head = idx;
	for (;;) {
		void *p;

		/* A chain can visit each descriptor of its table once: more is a loop. */
		if (++visited > tsize)
			return vq_bad(vq, "descriptor chain loops or is longer than its table");
		desc_read(table, idx, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vi_negotiated(vs, VIRTIO_RING_F_INDIRECT_DESC))
				return vq_bad(vq, "indirect descriptor without the feature");
			if (in_indirect || (d.flags & VRING_DESC_F_NEXT))
				return vq_bad(vq, "nested or chained indirect descriptor table");
			if (d.len == 0 || (d.len % 16) != 0)
				return vq_bad(vq, "bad indirect table length");
			table = vm_map_gpa(ctx, d.addr, d.len);
			if (table == NULL)
				return vq_bad(vq, "indirect table outside guest RAM");
			tsize = d.len / 16;
			in_indirect = true;
			visited = 0;
			idx = 0;
			continue;
		}
		if (nb >= niov)
			return vq_bad(vq, "chain has more buffers than the device accepts");
		p = vm_map_gpa(ctx, d.addr, d.len);
		if (p == NULL)
			return vq_bad(vq, "buffer outside guest RAM");
		iov[nb].iov_base = p;
		iov[nb].iov_len = d.len;
		if (flags != NULL)
			flags[nb] = d.flags & VRING_DESC_F_WRITE;
		nb++;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return nb;
		idx = d.next;
		if (idx >= tsize)
			return vq_bad(vq, "next descriptor out of range");
	}
}

void vq_relchain(struct vqueue *vq, uint16_t head, uint32_t len)
{
	uint8_t *e;

	if (!vq_ring_ready(vq))
		return;
	if (head < vq->vq_qsize)
		vq->vq_busy[head / 64] &= ~(1ull << (head % 64));
	e = vq->vq_used + 4 + 8 * (size_t)(vq->vq_used_idx & (vq->vq_qsize - 1));
	le_put(e, head, 4);
	le_put(e + 4, len, 4);
	vq->vq_used_idx++;
	/* The element is visible before the index that publishes it. */
	atomic_thread_fence(memory_order_release);
	ring_put16(vq->vq_used + 2, vq->vq_used_idx);
}

bool vq_endchains(struct vqueue *vq, bool used_all)
{
	struct virtio_softc *vs = vq->vq_vs;
	uint16_t old, new, event;
	bool intr;

	if (!vq_ring_ready(vq))
		return false;
	if (vi_negotiated(vs, VIRTIO_RING_F_EVENT_IDX))
		ring_put16(vq->vq_used + 4 + 8 * (size_t)vq->vq_qsize, vq->vq_last_avail);
	/* Our used idx store is ordered before reading the driver's suppression state. */
	atomic_thread_fence(memory_order_seq_cst);
	old = vq->vq_used_at_intr;
	new = vq->vq_used_idx;
	vq->vq_used_at_intr = new;
	if (used_all && new != old && vi_negotiated(vs, VIRTIO_F_NOTIFY_ON_EMPTY)) {
		intr = true;
	} else if (vi_negotiated(vs, VIRTIO_RING_F_EVENT_IDX)) {
		event = ring_get16(vq->vq_avail + 4 + 2 * (size_t)vq->vq_qsize);
		intr = (uint16_t)(new - event - 1) < (uint16_t)(new - old);
	} else {
		intr = new != old && !(ring_get16(vq->vq_avail) & VRING_AVAIL_F_NO_INTERRUPT);
	}
	if (intr)
		vi_intr(vs, vq->vq_msix_idx, VIRTIO_ISR_QUEUE);
	/* The fence above orders the avail_event store before this load, as the
	 * driver orders its avail idx store before its avail_event load: one of
	 * the two sees the other. */
	return vq_has_descs(vq);
}

static void vi_notify(struct virtio_softc *vs, uint64_t qidx)
{
	struct vqueue *vq;

	if (qidx >= (uint64_t)vs->vs_vc->vc_nvq)
		return;
	vq = &vs->vs_queues[qidx];
	if ((vs->vs_status & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET)) !=
	    VIRTIO_CONFIG_S_DRIVER_OK || !vq_ring_ready(vq))
		return;
	vs->vs_vc->vc_qnotify(vs->vs_sc, vq);
}

/* ---- status, features, reset ---- */

static void vi_reset(struct virtio_softc *vs)
{
	vs->vs_status = 0;
	vs->vs_kick_off = false;	/* one more try per reset, not one per notify */
	(void)vi_isr_read(vs);
	vs->vs_negotiated = 0;
	vs->vs_dfselect = vs->vs_gfselect = 0;
	vs->vs_curq = 0;
	vs->vs_msix_cfg_idx = VIRTIO_MSI_NO_VECTOR;
	for (int i = 0; i < vs->vs_vc->vc_nvq; i++)
		vq_clear(&vs->vs_queues[i]);
	vi_kick_sync(vs);
	if (vs->vs_vc->vc_reset != NULL)
		vs->vs_vc->vc_reset(vs->vs_sc);
}

/* The driver only adds status bits; 0 resets. A modern driver must accept VERSION_1. */
static void vi_set_status(struct virtio_softc *vs, uint8_t val, bool modern)
{
	if (val == 0) {
		vi_reset(vs);
		return;
	}
	val &= (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET;
	if ((val & VIRTIO_CONFIG_S_FEATURES_OK) && !(vs->vs_status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    modern && !vi_negotiated(vs, VIRTIO_F_VERSION_1))
		val &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	vs->vs_status |= val;
}

static bool vi_features_open(const struct virtio_softc *vs)
{
	return !(vs->vs_status & (VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK));
}

static uint16_t vi_msix_idx(struct virtio_softc *vs, uint64_t val)
{
	/* A vector the table does not have reads back as NO_VECTOR, as the spec asks. */
	if (vs->vs_pi->pi_msix.table == NULL || val >= (uint64_t)vs->vs_pi->pi_msix.table_count)
		return VIRTIO_MSI_NO_VECTOR;
	return (uint16_t)val;
}

static struct vqueue *vi_curq(struct virtio_softc *vs)
{
	return vs->vs_curq < vs->vs_vc->vc_nvq ? &vs->vs_queues[vs->vs_curq] : NULL;
}

/* ---- device-specific configuration ---- */

static uint64_t vi_devcfg_read(struct virtio_softc *vs, uint64_t off, int size)
{
	const struct virtio_consts *vc = vs->vs_vc;

	if (vc->vc_cfgread == NULL || size > 4 || off + (uint64_t)size > vc->vc_cfgsize)
		return 0;
	return vc->vc_cfgread(vs->vs_sc, (uint32_t)off, size);
}

static void vi_devcfg_write(struct virtio_softc *vs, uint64_t off, int size, uint64_t val)
{
	const struct virtio_consts *vc = vs->vs_vc;

	if (vc->vc_cfgwrite == NULL || size > 4 || off + (uint64_t)size > vc->vc_cfgsize)
		return;
	vc->vc_cfgwrite(vs->vs_sc, (uint32_t)off, size, (uint32_t)val);
}

/* ---- the legacy interface (BAR 0) ---- */

static uint64_t vi_legacy_read(struct virtio_softc *vs, uint64_t off, int size)
{
	bool msix = pci_msix_enabled(vs->vs_pi);
	struct vqueue *vq = vi_curq(vs);

	if (off >= VIRTIO_PCI_CONFIG(msix))
		return vi_devcfg_read(vs, off - VIRTIO_PCI_CONFIG(msix), size);
	switch (off) {
	case VIRTIO_PCI_HOST_FEATURES:
		return (uint32_t)vi_offered(vs);
	case VIRTIO_PCI_GUEST_FEATURES:
		return (uint32_t)vs->vs_negotiated;
	case VIRTIO_PCI_QUEUE_PFN:
		return vq != NULL && vq->vq_enabled ? vq->vq_desc_gpa / VIRTIO_PCI_VRING_ALIGN : 0;
	case VIRTIO_PCI_QUEUE_NUM:
		return vq != NULL ? vs->vs_vc->vc_qsize : 0;
	case VIRTIO_PCI_QUEUE_SEL:
		return vs->vs_curq;
	case VIRTIO_PCI_STATUS:
		return vs->vs_status;
	case VIRTIO_PCI_ISR:
		return vi_isr_read(vs);
	case VIRTIO_MSI_CONFIG_VECTOR:
		return vs->vs_msix_cfg_idx;
	case VIRTIO_MSI_QUEUE_VECTOR:
		return vq != NULL ? vq->vq_msix_idx : VIRTIO_MSI_NO_VECTOR;
	default:
		return 0;
	}
}

/* Legacy PFN: desc at PFN * 4096, avail right after it, used on the next 4 KiB. */
static void vi_legacy_set_pfn(struct virtio_softc *vs, struct vqueue *vq, uint32_t pfn)
{
	uint64_t desc = (uint64_t)pfn * VIRTIO_PCI_VRING_ALIGN;
	uint32_t n = vs->vs_vc->vc_qsize;

	if (vs->vs_status & VIRTIO_CONFIG_S_DRIVER_OK) {
		if (vq->vq_enabled ? desc != vq->vq_desc_gpa : pfn != 0)
			vi_set_broken(vs, "queue address changed after DRIVER_OK");
		return;
	}
	vq_clear(vq);
	if (pfn == 0) {
		vi_kick_sync(vs);
		return;
	}
	vq->vq_desc_gpa = desc;
	vq->vq_avail_gpa = desc + 16 * n;
	vq->vq_used_gpa = ROUNDUP(vq->vq_avail_gpa + 6 + 2 * n, VIRTIO_PCI_VRING_ALIGN);
	vq_enable(vs, vq);
}

static void vi_legacy_write(struct virtio_softc *vs, uint64_t off, int size, uint64_t val)
{
	bool msix = pci_msix_enabled(vs->vs_pi);
	struct vqueue *vq = vi_curq(vs);

	if (off >= VIRTIO_PCI_CONFIG(msix)) {
		vi_devcfg_write(vs, off - VIRTIO_PCI_CONFIG(msix), size, val);
		return;
	}
	switch (off) {
	case VIRTIO_PCI_GUEST_FEATURES:
		if (vi_features_open(vs))
			vs->vs_negotiated = (uint32_t)(val & vi_offered(vs));
		break;
	case VIRTIO_PCI_QUEUE_PFN:
		if (vq != NULL)
			vi_legacy_set_pfn(vs, vq, (uint32_t)val);
		break;
	case VIRTIO_PCI_QUEUE_SEL:
		vs->vs_curq = (uint16_t)val;
		break;
	case VIRTIO_PCI_QUEUE_NOTIFY:
		vi_notify(vs, (uint16_t)val);
		break;
	case VIRTIO_PCI_STATUS:
		vi_set_status(vs, (uint8_t)val, false);
		break;
	case VIRTIO_MSI_CONFIG_VECTOR:
		if (msix)
			vs->vs_msix_cfg_idx = vi_msix_idx(vs, val & 0xffff);
		break;
	case VIRTIO_MSI_QUEUE_VECTOR:
		if (msix && vq != NULL)
			vq->vq_msix_idx = vi_msix_idx(vs, val & 0xffff);
		break;
	default:
		break;
	}
}

/* ---- the modern interface (BAR 4) ---- */

static uint64_t vi_common_read(struct virtio_softc *vs, uint64_t off)
{
	struct vqueue *vq = vi_curq(vs);
	uint64_t feat = vi_offered(vs);

	switch (off) {
	case VIRTIO_COMMON_DFSELECT:
		return vs->vs_dfselect;
	case VIRTIO_COMMON_DF:
		return vs->vs_dfselect < 2 ? (uint32_t)(feat >> (32 * vs->vs_dfselect)) : 0;
	case VIRTIO_COMMON_GFSELECT:
		return vs->vs_gfselect;
	case VIRTIO_COMMON_GF:
		return vs->vs_gfselect < 2 ? (uint32_t)(vs->vs_negotiated >> (32 * vs->vs_gfselect)) : 0;
	case VIRTIO_COMMON_MSIX:
		return vs->vs_msix_cfg_idx;
	case VIRTIO_COMMON_NUMQ:
		return (uint16_t)vs->vs_vc->vc_nvq;
	case VIRTIO_COMMON_STATUS:
		return vs->vs_status;
	case VIRTIO_COMMON_CFGGEN:
		return vs->vs_cfggen;
	case VIRTIO_COMMON_Q_SELECT:
		return vs->vs_curq;
	case VIRTIO_COMMON_Q_NOFF:
		return vs->vs_curq;
	default:
		break;
	}
	if (vq == NULL)
		return 0;
	switch (off) {
	case VIRTIO_COMMON_Q_SIZE:
		return vq->vq_qsize;
	case VIRTIO_COMMON_Q_MSIX:
		return vq->vq_msix_idx;
	case VIRTIO_COMMON_Q_ENABLE:
		return vq->vq_enabled;
	case VIRTIO_COMMON_Q_DESCLO:
	case VIRTIO_COMMON_Q_DESCHI:
		return (uint32_t)(vq->vq_desc_gpa >> (off == VIRTIO_COMMON_Q_DESCHI ? 32 : 0));
	case VIRTIO_COMMON_Q_AVAILLO:
	case VIRTIO_COMMON_Q_AVAILHI:
		return (uint32_t)(vq->vq_avail_gpa >> (off == VIRTIO_COMMON_Q_AVAILHI ? 32 : 0));
	case VIRTIO_COMMON_Q_USEDLO:
	case VIRTIO_COMMON_Q_USEDHI:
		return (uint32_t)(vq->vq_used_gpa >> (off == VIRTIO_COMMON_Q_USEDHI ? 32 : 0));
	default:
		return 0;
	}
}

/* A queue's size and addresses are latched once it is enabled or the driver is
 * running: a change then is a driver bug, answered with NEEDS_RESET. */
static bool vq_latched(struct virtio_softc *vs, struct vqueue *vq)
{
	return vq->vq_enabled || (vs->vs_status & VIRTIO_CONFIG_S_DRIVER_OK);
}

static void vq_set_addr(struct virtio_softc *vs, struct vqueue *vq, uint64_t *gpa, bool hi,
    uint32_t val)
{
	uint64_t v = hi ? (*gpa & 0xffffffffULL) | (uint64_t)val << 32 :
	    (*gpa & ~0xffffffffULL) | val;

	if (v == *gpa)
		return;
	if (vq_latched(vs, vq))
		vi_set_broken(vs, "queue address changed after enable or DRIVER_OK");
	else
		*gpa = v;
}

static void vi_common_write_queue(struct virtio_softc *vs, struct vqueue *vq, uint64_t off,
    uint32_t val)
{
	switch (off) {
	case VIRTIO_COMMON_Q_SIZE:
		if ((uint16_t)val == vq->vq_qsize)
			break;
		if (vq_latched(vs, vq))
			vi_set_broken(vs, "queue size changed after enable or DRIVER_OK");
		else
			vq->vq_qsize = (uint16_t)val;
		break;
	case VIRTIO_COMMON_Q_MSIX:
		vq->vq_msix_idx = vi_msix_idx(vs, val & 0xffff);
		break;
	case VIRTIO_COMMON_Q_ENABLE:
		if ((val & 1) == vq->vq_enabled)
			break;
		if (!(val & 1) || (vs->vs_status & VIRTIO_CONFIG_S_DRIVER_OK))
			vi_set_broken(vs, "queue enable changed after enable or DRIVER_OK");
		else
			vq_enable(vs, vq);
		break;
	case VIRTIO_COMMON_Q_DESCLO:
	case VIRTIO_COMMON_Q_DESCHI:
		vq_set_addr(vs, vq, &vq->vq_desc_gpa, off == VIRTIO_COMMON_Q_DESCHI, val);
		break;
	case VIRTIO_COMMON_Q_AVAILLO:
	case VIRTIO_COMMON_Q_AVAILHI:
		vq_set_addr(vs, vq, &vq->vq_avail_gpa, off == VIRTIO_COMMON_Q_AVAILHI, val);
		break;
	case VIRTIO_COMMON_Q_USEDLO:
	case VIRTIO_COMMON_Q_USEDHI:
		vq_set_addr(vs, vq, &vq->vq_used_gpa, off == VIRTIO_COMMON_Q_USEDHI, val);
		break;
	default:
		break;
	}
}

static void vi_common_write(struct virtio_softc *vs, uint64_t off, uint32_t val)
{
	struct vqueue *vq = vi_curq(vs);

	switch (off) {
	case VIRTIO_COMMON_DFSELECT:
		vs->vs_dfselect = val;
		break;
	case VIRTIO_COMMON_GFSELECT:
		vs->vs_gfselect = val;
		break;
	case VIRTIO_COMMON_GF:
		if (vs->vs_gfselect < 2 && vi_features_open(vs)) {
			int sh = 32 * (int)vs->vs_gfselect;

			vs->vs_negotiated = (vs->vs_negotiated & ~(0xffffffffULL << sh)) |
			    (((uint64_t)val << sh) & vi_offered(vs));
		}
		break;
	case VIRTIO_COMMON_MSIX:
		vs->vs_msix_cfg_idx = vi_msix_idx(vs, val & 0xffff);
		break;
	case VIRTIO_COMMON_STATUS:
		vi_set_status(vs, (uint8_t)val, true);
		break;
	case VIRTIO_COMMON_Q_SELECT:
		vs->vs_curq = (uint16_t)val;
		break;
	default:
		if (vq != NULL)
			vi_common_write_queue(vs, vq, off, val);
		break;
	}
}

static uint64_t vi_modern_read(struct virtio_softc *vs, uint64_t off, int size)
{
	if (off < VIRTIO_MODERN_COMMON + VIRTIO_COMMON_SIZE)
		return vi_common_read(vs, off);
	if (off == VIRTIO_MODERN_ISR)
		return vi_isr_read(vs);
	if (off >= VIRTIO_MODERN_DEVICE && off < VIRTIO_MODERN_NOTIFY)
		return vi_devcfg_read(vs, off - VIRTIO_MODERN_DEVICE, size);
	return 0;
}

static void vi_modern_write(struct virtio_softc *vs, uint64_t off, int size, uint64_t val)
{
	if (off < VIRTIO_MODERN_COMMON + VIRTIO_COMMON_SIZE) {
		vi_common_write(vs, off, (uint32_t)val);
		/* A 64-bit store to a queue address covers both halves. */
		if (size == 8 && off >= VIRTIO_COMMON_Q_DESCLO)
			vi_common_write(vs, off + 4, (uint32_t)(val >> 32));
	} else if (off >= VIRTIO_MODERN_DEVICE && off < VIRTIO_MODERN_NOTIFY) {
		vi_devcfg_write(vs, off - VIRTIO_MODERN_DEVICE, size, val);
	} else if (off >= VIRTIO_MODERN_NOTIFY) {
		/* The address says which queue; the value (without NOTIFICATION_DATA) too. */
		vi_notify(vs, (off - VIRTIO_MODERN_NOTIFY) / VIRTIO_NOTIFY_MULT);
	}
}

/* ---- pci_devemu handlers ---- */

static uint64_t vi_bar_read(struct virtio_softc *vs, int baridx, uint64_t off, int size)
{
	uint64_t v = 0;

	if (baridx == VIRTIO_LEGACY_BAR)
		v = vi_legacy_read(vs, off, size);
	else if (baridx == VIRTIO_MODERN_BAR)
		v = vi_modern_read(vs, off, size);
	return size >= 8 ? v : v & ((1ULL << (8 * size)) - 1);
}

static void vi_bar_write(struct virtio_softc *vs, int baridx, uint64_t off, int size, uint64_t val)
{
	if (size < 8)
		val &= (1ULL << (8 * size)) - 1;
	if (baridx == VIRTIO_LEGACY_BAR)
		vi_legacy_write(vs, off, size, val);
	else if (baridx == VIRTIO_MODERN_BAR)
		vi_modern_write(vs, off, size, val);
}

uint64_t vi_pci_read(struct pci_devinst *pi, int baridx, uint64_t off, int size)
{
	struct virtio_softc *vs = pi->pi_arg;
	uint64_t v;

	pthread_mutex_lock(&vs->vs_mtx);
	v = vi_bar_read(vs, baridx, off, size);
	pthread_mutex_unlock(&vs->vs_mtx);
	return v;
}

void vi_pci_write(struct pci_devinst *pi, int baridx, uint64_t off, int size, uint64_t val)
{
	struct virtio_softc *vs = pi->pi_arg;

	pthread_mutex_lock(&vs->vs_mtx);
	vi_bar_write(vs, baridx, off, size, val);
	pthread_mutex_unlock(&vs->vs_mtx);
}

/* The PCI_CFG capability: a window into the BARs through configuration space, for
 * firmware that cannot reach a 64-bit BAR. bar/offset/length are the driver's to set. */
static bool vi_pcicfg_window(struct virtio_softc *vs, int *bar, uint32_t *off, int *len)
{
	struct pci_devinst *pi = vs->vs_pi;
	int cap = vs->vs_pcicfg_off;

	*bar = pci_get_cfgdata8(pi, cap + VCAP_BAR);
	*off = pci_get_cfgdata32(pi, cap + VCAP_OFFSET);
	*len = (int)pci_get_cfgdata32(pi, cap + VCAP_LENGTH);
	return (*bar == VIRTIO_LEGACY_BAR || *bar == VIRTIO_MODERN_BAR) &&
	    (*len == 1 || *len == 2 || *len == 4) && (*off & (uint32_t)(*len - 1)) == 0 &&
	    (uint64_t)*off + (uint64_t)*len <= pi->pi_bar[*bar].size;
}

int vi_pci_cfgwrite(struct pci_devinst *pi, int off, int bytes, uint32_t val)
{
	struct virtio_softc *vs = pi->pi_arg;
	int cap = vs->vs_pcicfg_off, bar, len;
	uint32_t boff;

	if (cap == 0 || off < cap + VCAP_BAR || off >= cap + VCAP_LEN_EXT)
		return 1;
	if (off >= cap + VCAP_DATA) {
		if (vi_pcicfg_window(vs, &bar, &boff, &len))
			vi_pci_write(pi, bar, boff, len, val);
		return 0;
	}
	for (int i = 0; i < bytes; i++) {
		int o = off + i;

		if (o == cap + VCAP_BAR || (o >= cap + VCAP_OFFSET && o < cap + VCAP_DATA))
			pci_set_cfgdata8(pi, o, (uint8_t)(val >> (8 * i)));
	}
	return 0;
}

int vi_pci_cfgread(struct pci_devinst *pi, int off, int bytes, uint32_t *val)
{
	struct virtio_softc *vs = pi->pi_arg;
	int cap = vs->vs_pcicfg_off, bar, len;
	uint32_t boff;

	(void)bytes;
	if (cap == 0 || off < cap + VCAP_DATA || off >= cap + VCAP_LEN_EXT)
		return 1;
	*val = vi_pcicfg_window(vs, &bar, &boff, &len) ?
	    (uint32_t)vi_pci_read(pi, bar, boff, len) : 0;
	return 0;
}

/* ---- setting up the function ---- */

static int vi_add_vcap(struct pci_devinst *pi, uint8_t type, uint32_t off, uint32_t len,
    int caplen, uint32_t extra)
{
	uint8_t cap[VCAP_LEN_EXT] = { 0x09, 0, (uint8_t)caplen, type, VIRTIO_MODERN_BAR };

	if (type == VIRTIO_PCI_CAP_PCI_CFG)
		cap[VCAP_BAR] = 0;
	le_put(cap + VCAP_OFFSET, off, 4);
	le_put(cap + VCAP_LENGTH, len, 4);
	le_put(cap + VCAP_DATA, extra, 4);
	return pci_emul_add_capability(pi, cap, caplen);
}

int vi_softc_init(struct virtio_softc *vs, const struct virtio_consts *vc, void *sc,
    struct pci_devinst *pi, struct vqueue *queues)
{
	uint64_t iosize = 32;
	bool use_msix;

	if (get_config_bool_default("virtio_msix", true, &use_msix) != 0)
		return -1;
	if (vc->vc_nvq < 1 || vc->vc_qsize > VQ_MAX_QSIZE || vc->vc_cfgsize > VIRTIO_MODERN_NOTIFY - VIRTIO_MODERN_DEVICE) {
		warnx("%s: invalid virtio device description", pi->pi_name);
		return -1;
	}
	memset(vs, 0, sizeof(*vs));
	vs->vs_vc = vc;
	vs->vs_pi = pi;
	vs->vs_sc = sc;
	vs->vs_queues = queues;
	pthread_mutex_init(&vs->vs_mtx, NULL);
	for (int i = 0; i < vc->vc_nvq; i++) {
		queues[i].vq_vs = vs;
		queues[i].vq_num = (uint16_t)i;
		queues[i].vq_kick_fd = -1;
	}
	pi->pi_arg = vs;
	pi->pi_bar_moved = vi_bar_moved;
	pci_set_cfgdata16(pi, PCIR_VENDOR, VIRTIO_VENDOR);
	pci_set_cfgdata16(pi, PCIR_DEVICE, vc->vc_devid);
	pci_set_cfgdata8(pi, PCIR_REVID, 0);	/* transitional */
	pci_set_cfgdata8(pi, PCIR_CLASS, vc->vc_class);
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, vc->vc_subclass);
	pci_set_cfgdata16(pi, PCIR_SUBVEND_0, VIRTIO_VENDOR);
	pci_set_cfgdata16(pi, PCIR_SUBDEV_0, vc->vc_type);
	while (iosize < VIRTIO_PCI_CONFIG(true) + (uint64_t)vc->vc_cfgsize)
		iosize <<= 1;
	if (pci_emul_alloc_bar(pi, VIRTIO_LEGACY_BAR, PCIBAR_IO, iosize) != 0)
		return -1;
	if (use_msix ? pci_emul_add_msixcap(pi, vc->vc_nvq + 1, VIRTIO_MSIX_BAR) :
	    pci_emul_add_msicap(pi, 1))
		return -1;
	if (pci_emul_alloc_bar(pi, VIRTIO_MODERN_BAR, PCIBAR_MEM64, VIRTIO_MODERN_BARSIZE) != 0)
		return -1;
	if (vi_add_vcap(pi, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_MODERN_COMMON,
	    VIRTIO_COMMON_SIZE, VCAP_LEN, 0) < 0 ||
	    vi_add_vcap(pi, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_MODERN_NOTIFY,
	    (uint32_t)vc->vc_nvq * VIRTIO_NOTIFY_MULT, VCAP_LEN_EXT, VIRTIO_NOTIFY_MULT) < 0 ||
	    vi_add_vcap(pi, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_MODERN_ISR, 1, VCAP_LEN, 0) < 0 ||
	    (vc->vc_cfgsize > 0 && vi_add_vcap(pi, VIRTIO_PCI_CAP_DEVICE_CFG,
	    VIRTIO_MODERN_DEVICE, vc->vc_cfgsize, VCAP_LEN, 0) < 0))
		return -1;
	vs->vs_pcicfg_off = vi_add_vcap(pi, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, VCAP_LEN_EXT, 0);
	if (vs->vs_pcicfg_off < 0)
		return -1;
	/* INTx stays the fallback while the driver has MSI-X (or MSI) off. */
	pci_lintr_request(pi);
	vi_reset(vs);
	return 0;
}
