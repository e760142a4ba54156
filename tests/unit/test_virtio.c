/* The virtio-pci transport (bhyve/virtio.c) through virtio-rnd at 0:3, as a guest
 * driver sees it: config space, the legacy I/O BAR, MSI-X in BAR 1, the modern
 * structures in BAR 4, and rings in a fake guest RAM. A misbehaving "guest" must
 * leave the process alive and the device in DEVICE_NEEDS_RESET. */
#include <stdlib.h>
#include <unistd.h>

#include "devices/virtio_rnd.h"
#include "fake_vmmapi.h"
#include "mevent.h"
#include "pci_emul.h"
#include "test.h"
#include "virtio.h"

#define VR_SLOT		3
#define VR_QSIZE	64		/* virtio-rnd's queue size */
#define RAM_SIZE	(1u << 20)
#define PAST_RAM	0x40000000ULL
/* Guest-RAM layout the tests use. */
#define LEG_PFN		0x10		/* legacy rings at 0x10000 */
#define MOD_DESC	0x20000
#define MOD_AVAIL	0x21000
#define MOD_USED	0x22000
#define MOD_QSIZE	16
#define IND_TABLE	0x30000
#define IND_TABLE2	0x31000
#define BUF		0x40000

static uint8_t *ram;
static uint16_t io;
static uint64_t mbar, msixbar;

/* The driver's view of one split virtqueue. */
struct drv {
	uint64_t desc, avail, used;
	uint16_t n, avail_idx;
};
static struct drv q;

static struct pci_devinst *vr(void)
{
	return pci_find(0, VR_SLOT, 0);
}

static int find_cap_from(int off, uint8_t id)
{
	for (int n = 0; off != 0 && n < 48; n++) {
		if (off < 0x40 || off > 0xfc)
			return 0;
		if (cfg_in(0, VR_SLOT, 0, off, 1) == id)
			return off;
		off = (int)cfg_in(0, VR_SLOT, 0, off + 1, 1);
	}
	return 0;
}

static int find_cap(uint8_t id)
{
	return find_cap_from((int)cfg_in(0, VR_SLOT, 0, PCIR_CAP_PTR, 1), id);
}

/* Fresh guest RAM and the BAR addresses, as the guest reads them. */
static bool vr_setup(void)
{
	if (vr() == NULL)
		return false;
	if (ram == NULL)
		ram = aligned_alloc(4096, RAM_SIZE);
	if (ram == NULL)
		return false;
	memset(ram, 0, RAM_SIZE);
	fake_vm_set_ram(fx_ctx, ram, RAM_SIZE);
	io = (uint16_t)(cfg_in(0, VR_SLOT, 0, PCIR_BAR(0), 4) & ~3u);
	msixbar = cfg_in(0, VR_SLOT, 0, PCIR_BAR(1), 4) & ~0xfu;
	mbar = (cfg_in(0, VR_SLOT, 0, PCIR_BAR(4), 4) & ~0xfu) |
	    (uint64_t)cfg_in(0, VR_SLOT, 0, PCIR_BAR(5), 4) << 32;
	cfg_out(0, VR_SLOT, 0, PCIR_COMMAND, 2, PCIM_CMD_PORTEN | PCIM_CMD_MEMEN);
	return true;
}

static uint64_t lreg(int off, int size)
{
	return port_in((uint16_t)(io + off), size);
}

static void lreg_out(int off, int size, uint64_t v)
{
	port_out((uint16_t)(io + off), size, v);
}

static uint64_t mreg(uint64_t off, int size)
{
	return mmio_in(mbar + off, size);
}

static void mreg_out(uint64_t off, int size, uint64_t v)
{
	mmio_out(mbar + off, size, v);
}

static void msix_enable(bool on)
{
	int cap = find_cap(PCIY_MSIX);

	for (int i = 0; on && i < 2; i++) {
		mmio_out(msixbar + 16 * i, 4, 0xfee00000);
		mmio_out(msixbar + 16 * i + 4, 4, 0);
		mmio_out(msixbar + 16 * i + 8, 4, 0x40 + i);
		mmio_out(msixbar + 16 * i + 12, 4, 0);
	}
	cfg_out(0, VR_SLOT, 0, cap + 2, 2, on ? 0x8000 : 0);
}

/* ---- the driver side of a ring ---- */

static void put_desc(uint64_t table, int i, uint64_t addr, uint32_t len, uint16_t flags,
    uint16_t next)
{
	uint8_t *p = ram + table + 16 * (uint64_t)i;

	le_put(p, addr, 8);
	le_put(p + 8, len, 4);
	le_put(p + 12, flags, 2);
	le_put(p + 14, next, 2);
}

static void publish(uint16_t head)
{
	le_put(ram + q.avail + 4 + 2 * (q.avail_idx % q.n), head, 2);
	q.avail_idx++;
	le_put(ram + q.avail + 2, q.avail_idx, 2);
}

static uint16_t used_idx(void)
{
	return (uint16_t)le_get(ram + q.used + 2, 2);
}

static uint32_t used_id(uint16_t i)
{
	return (uint32_t)le_get(ram + q.used + 4 + 8 * (i % q.n), 4);
}

static uint32_t used_len(uint16_t i)
{
	return (uint32_t)le_get(ram + q.used + 8 + 8 * (i % q.n), 4);
}

static void set_used_event(uint16_t v)
{
	le_put(ram + q.avail + 4 + 2 * q.n, v, 2);
}

static uint16_t avail_event(void)
{
	return (uint16_t)le_get(ram + q.used + 4 + 8 * q.n, 2);
}

/* ---- bringing the device up ---- */

static void legacy_init(uint32_t features)
{
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	lreg_out(VIRTIO_PCI_GUEST_FEATURES, 4, features & lreg(VIRTIO_PCI_HOST_FEATURES, 4));
	lreg_out(VIRTIO_PCI_QUEUE_SEL, 2, 0);
	q = (struct drv){ .n = (uint16_t)lreg(VIRTIO_PCI_QUEUE_NUM, 2) };
	q.desc = LEG_PFN * 4096ULL;
	q.avail = q.desc + 16 * q.n;
	q.used = (q.avail + 6 + 2 * q.n + 4095) & ~4095ULL;
	lreg_out(VIRTIO_PCI_QUEUE_PFN, 4, LEG_PFN);
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_DRIVER_OK);
}

static void legacy_notify(void)
{
	lreg_out(VIRTIO_PCI_QUEUE_NOTIFY, 2, 0);
}

static uint8_t legacy_status(void)
{
	return (uint8_t)lreg(VIRTIO_PCI_STATUS, 1);
}

static bool modern_init(uint64_t features)
{
	uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	uint64_t offered;

	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
	mreg_out(VIRTIO_COMMON_STATUS, 1, st);
	mreg_out(VIRTIO_COMMON_DFSELECT, 4, 0);
	offered = mreg(VIRTIO_COMMON_DF, 4);
	mreg_out(VIRTIO_COMMON_DFSELECT, 4, 1);
	offered |= mreg(VIRTIO_COMMON_DF, 4) << 32;
	features &= offered;
	mreg_out(VIRTIO_COMMON_GFSELECT, 4, 0);
	mreg_out(VIRTIO_COMMON_GF, 4, (uint32_t)features);
	mreg_out(VIRTIO_COMMON_GFSELECT, 4, 1);
	mreg_out(VIRTIO_COMMON_GF, 4, (uint32_t)(features >> 32));
	st |= VIRTIO_CONFIG_S_FEATURES_OK;
	mreg_out(VIRTIO_COMMON_STATUS, 1, st);
	if (!(mreg(VIRTIO_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK))
		return false;
	mreg_out(VIRTIO_COMMON_Q_SELECT, 2, 0);
	mreg_out(VIRTIO_COMMON_Q_SIZE, 2, MOD_QSIZE);
	q = (struct drv){ .n = MOD_QSIZE, .desc = MOD_DESC, .avail = MOD_AVAIL, .used = MOD_USED };
	mreg_out(VIRTIO_COMMON_Q_DESCLO, 4, MOD_DESC);
	mreg_out(VIRTIO_COMMON_Q_DESCHI, 4, 0);
	mreg_out(VIRTIO_COMMON_Q_AVAILLO, 4, MOD_AVAIL);
	mreg_out(VIRTIO_COMMON_Q_AVAILHI, 4, 0);
	mreg_out(VIRTIO_COMMON_Q_USEDLO, 4, MOD_USED);
	mreg_out(VIRTIO_COMMON_Q_USEDHI, 4, 0);
	mreg_out(VIRTIO_COMMON_Q_MSIX, 2, 1);
	mreg_out(VIRTIO_COMMON_MSIX, 2, 0);
	mreg_out(VIRTIO_COMMON_Q_ENABLE, 2, 1);
	mreg_out(VIRTIO_COMMON_STATUS, 1, st | VIRTIO_CONFIG_S_DRIVER_OK);
	return mreg(VIRTIO_COMMON_STATUS, 1) == (st | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void modern_notify(uint16_t queue)
{
	mreg_out(VIRTIO_MODERN_NOTIFY + VIRTIO_NOTIFY_MULT * (uint64_t)queue, 2, queue);
}

static bool nonconstant(const uint8_t *p, size_t len)
{
	for (size_t i = 1; i < len; i++)
		if (p[i] != p[0])
			return true;
	return false;
}

/* ---- identity and capabilities ---- */

static void virtio_rnd_pci_ids(void)
{
	REQUIRE(vr_setup());
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, PCIR_VENDOR, 2), 0x1af4);
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, PCIR_DEVICE, 2), 0x1005);
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, PCIR_SUBVEND_0, 2), 0x1af4);
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, PCIR_SUBDEV_0, 2), 4);
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, PCIR_REVID, 1), 0);
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, PCIR_CLASS, 1), 0x10);	/* encryption controller */
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, PCIR_SUBCLASS, 1), 0x80);
	CHECK(cfg_in(0, VR_SLOT, 0, PCIR_BAR(0), 4) & 1);		/* legacy I/O */
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, PCIR_BAR(4), 4) & 7, 4);	/* 64-bit memory */
	CHECK(cfg_in(0, VR_SLOT, 0, PCIR_INTPIN, 1) != 0);
}

static void virtio_capabilities_describe_bar4_and_msix(void)
{
	bool seen[6] = { false };
	int off, msix;

	REQUIRE(vr_setup());
	msix = find_cap(PCIY_MSIX);
	REQUIRE(msix != 0);
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, msix + 2, 2) & 0x7ff, 1);	/* 2 vectors */
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, msix + 4, 4) & 7, VIRTIO_MSIX_BAR);
	for (off = find_cap(0x09); off != 0; off = find_cap_from((int)cfg_in(0, VR_SLOT, 0, off + 1, 1), 0x09)) {
		int type = (int)cfg_in(0, VR_SLOT, 0, off + 3, 1);
		uint32_t bar = cfg_in(0, VR_SLOT, 0, off + 4, 1);
		uint32_t boff = cfg_in(0, VR_SLOT, 0, off + 8, 4), len = cfg_in(0, VR_SLOT, 0, off + 12, 4);

		REQUIRE(type >= 1 && type <= 5);
		seen[type] = true;
		if (type == VIRTIO_PCI_CAP_PCI_CFG)
			continue;
		CHECK_EQ(bar, VIRTIO_MODERN_BAR);
		CHECK(len > 0 && boff + len <= vr()->pi_bar[4].size);
		if (type == VIRTIO_PCI_CAP_COMMON_CFG)
			CHECK(len >= VIRTIO_COMMON_SIZE);
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
			CHECK_EQ(cfg_in(0, VR_SLOT, 0, off + 2, 1), 20);
			CHECK_EQ(cfg_in(0, VR_SLOT, 0, off + 16, 4), VIRTIO_NOTIFY_MULT);
		}
	}
	CHECK(seen[VIRTIO_PCI_CAP_COMMON_CFG] && seen[VIRTIO_PCI_CAP_NOTIFY_CFG]);
	CHECK(seen[VIRTIO_PCI_CAP_ISR_CFG] && seen[VIRTIO_PCI_CAP_PCI_CFG]);
	CHECK(!seen[VIRTIO_PCI_CAP_DEVICE_CFG]);	/* virtio-rnd has no configuration */
}

/* The PCI_CFG window reaches BAR 4 through configuration space. */
static void virtio_pci_cfg_window_reaches_common_config(void)
{
	int cap;

	REQUIRE(vr_setup());
	for (cap = find_cap(0x09); cap != 0; cap = find_cap_from((int)cfg_in(0, VR_SLOT, 0, cap + 1, 1), 0x09))
		if (cfg_in(0, VR_SLOT, 0, cap + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG)
			break;
	REQUIRE(cap != 0);
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
	cfg_out(0, VR_SLOT, 0, cap + 4, 1, VIRTIO_MODERN_BAR);
	cfg_out(0, VR_SLOT, 0, cap + 8, 4, VIRTIO_COMMON_STATUS);
	cfg_out(0, VR_SLOT, 0, cap + 12, 4, 1);
	cfg_out(0, VR_SLOT, 0, cap + 16, 4, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	CHECK_EQ(mreg(VIRTIO_COMMON_STATUS, 1), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, cap + 16, 4), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	cfg_out(0, VR_SLOT, 0, cap + 8, 4, VIRTIO_COMMON_NUMQ);
	cfg_out(0, VR_SLOT, 0, cap + 12, 4, 2);
	CHECK_EQ(cfg_in(0, VR_SLOT, 0, cap + 16, 4), 1);
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
}

/* ---- working requests ---- */

static void virtio_legacy_request_with_intx_and_isr(void)
{
	struct pci_devinst *pi = vr();

	REQUIRE(vr_setup());
	msix_enable(false);
	legacy_init(0);
	CHECK_EQ(legacy_status() & VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(q.n, VR_QSIZE);
	CHECK_EQ(lreg(VIRTIO_PCI_QUEUE_PFN, 4), LEG_PFN);
	put_desc(q.desc, 0, BUF, 64, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	REQUIRE(used_idx() == 1);
	CHECK_EQ(used_id(0), 0);
	CHECK_EQ(used_len(0), 64);
	CHECK(nonconstant(ram + BUF, 64));
	CHECK_EQ(ram[BUF + 64], 0);		/* not a byte past the buffer */
	CHECK(pi->pi_lintr.asserted);
	CHECK_EQ(lreg(VIRTIO_PCI_ISR, 1), VIRTIO_ISR_QUEUE);
	CHECK(!pi->pi_lintr.asserted);		/* reading ISR deasserts INTx */
	CHECK_EQ(lreg(VIRTIO_PCI_ISR, 1), 0);
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
}

static void virtio_legacy_request_with_msix(void)
{
	REQUIRE(vr_setup());
	msix_enable(true);
	legacy_init(0);
	lreg_out(VIRTIO_MSI_CONFIG_VECTOR, 2, 0);
	lreg_out(VIRTIO_MSI_QUEUE_VECTOR, 2, 1);
	CHECK_EQ(lreg(VIRTIO_MSI_QUEUE_VECTOR, 2), 1);
	lreg_out(VIRTIO_MSI_QUEUE_VECTOR, 2, 7);		/* not in the table */
	CHECK_EQ(lreg(VIRTIO_MSI_QUEUE_VECTOR, 2), VIRTIO_MSI_NO_VECTOR);
	lreg_out(VIRTIO_MSI_QUEUE_VECTOR, 2, 1);
	fake_reset_msi();
	put_desc(q.desc, 3, BUF, 64, VRING_DESC_F_WRITE, 0);
	publish(3);
	legacy_notify();
	REQUIRE(used_idx() == 1);
	CHECK_EQ(used_id(0), 3);
	CHECK_EQ(used_len(0), 64);
	CHECK(nonconstant(ram + BUF, 64));
	REQUIRE(fake_last_msi() != NULL);
	CHECK_EQ(fake_last_msi()->addr, 0xfee00000);
	CHECK_EQ(fake_last_msi()->msg, 0x41);
	CHECK_EQ(lreg(VIRTIO_PCI_ISR, 1), 0);		/* MSI-X leaves the ISR alone */
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	msix_enable(false);
}

/* A readable buffer in the chain is left alone; only the writable ones count. */
static void virtio_legacy_mixed_chain_fills_only_writable(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	memset(ram + BUF, 0xaa, 16);
	put_desc(q.desc, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
	put_desc(q.desc, 1, BUF + 0x100, 32, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	put_desc(q.desc, 2, BUF + 0x200, 8, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	REQUIRE(used_idx() == 1);
	CHECK_EQ(used_len(0), 40);
	CHECK(!nonconstant(ram + BUF, 16) && ram[BUF] == 0xaa);
	CHECK(nonconstant(ram + BUF + 0x100, 32));
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
}

/* A huge buffer gets 64 KiB, no more: the used length says so and the rest of
 * the buffer is left as it was. */
static void virtio_rnd_fills_at_most_64k_per_chain(void)
{
	REQUIRE(vr_setup());
	msix_enable(false);
	legacy_init(0);
	memset(ram + BUF, 0, 0x40000);
	put_desc(q.desc, 0, BUF, 0x30000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	put_desc(q.desc, 1, BUF + 0x30000, 0x10000, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	REQUIRE(used_idx() == 1);
	CHECK_EQ(used_len(0), 65536);
	CHECK(nonconstant(ram + BUF + 65536 - 64, 64));
	CHECK(test_all_zero(ram + BUF + 65536, 0x40000 - 65536));
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	(void)lreg(VIRTIO_PCI_ISR, 1);
}

/* While the host's RNG is not ready (getrandom: EAGAIN) no chain comes back
 * empty: the device holds it, without stalling the notify, and fills it on a
 * retry from the main loop; a reset drops the chain held. */
static bool wait_used(uint16_t want)
{
	for (int i = 0; i < 200 && used_idx() != want; i++)
		mevent_poll(10);
	return used_idx() == want;
}

static void virtio_rnd_waits_for_the_host_rng(void)
{
	REQUIRE(vr_setup());
	msix_enable(false);
	legacy_init(0);
	memset(ram + BUF, 0, 0x200);
	vtrnd_test_not_ready = 3;
	put_desc(q.desc, 0, BUF, 64, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	CHECK_EQ(lreg(VIRTIO_PCI_ISR, 1), 0);
	put_desc(q.desc, 1, BUF + 0x100, 32, VRING_DESC_F_WRITE, 0);
	publish(1);
	legacy_notify();			/* tries the held chain again: not ready */
	CHECK_EQ(used_idx(), 0);
	REQUIRE(wait_used(2));
	CHECK_EQ(vtrnd_test_not_ready, 0);
	CHECK_EQ(used_id(0), 0);
	CHECK_EQ(used_len(0), 64);
	CHECK_EQ(used_id(1), 1);
	CHECK_EQ(used_len(1), 32);
	CHECK(nonconstant(ram + BUF, 64));
	CHECK(nonconstant(ram + BUF + 0x100, 32));
	CHECK_EQ(lreg(VIRTIO_PCI_ISR, 1), VIRTIO_ISR_QUEUE);
	/* Held across a reset: dropped, the ring is not written afterwards. */
	memset(ram + LEG_PFN * 4096ULL, 0, 0x3000);
	legacy_init(0);
	vtrnd_test_not_ready = 1000;
	put_desc(q.desc, 0, BUF, 64, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	vtrnd_test_not_ready = 0;
	for (int i = 0; i < 20; i++)
		mevent_poll(10);
	CHECK_EQ(used_idx(), 0);
	/* And the device works again. */
	memset(ram + LEG_PFN * 4096ULL, 0, 0x3000);
	legacy_init(0);
	put_desc(q.desc, 0, BUF, 64, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 1);
	CHECK_EQ(used_len(0), 64);
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	lreg(VIRTIO_PCI_ISR, 1);
}

static void virtio_no_interrupt_flag_suppresses(void)
{
	struct pci_devinst *pi = vr();

	REQUIRE(vr_setup());
	legacy_init(0);
	le_put(ram + q.avail, VRING_AVAIL_F_NO_INTERRUPT, 2);
	put_desc(q.desc, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 1);
	CHECK(!pi->pi_lintr.asserted);
	CHECK_EQ(lreg(VIRTIO_PCI_ISR, 1), 0);
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
}

static void virtio_modern_request_through_bar4(void)
{
	REQUIRE(vr_setup());
	msix_enable(true);
	CHECK_EQ(mreg(VIRTIO_COMMON_NUMQ, 2), 1);
	REQUIRE(modern_init(VIRTIO_F_VERSION_1));
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_SIZE, 2), MOD_QSIZE);
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_ENABLE, 2), 1);
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_DESCLO, 4), MOD_DESC);
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_NOFF, 2), 0);
	mreg_out(VIRTIO_COMMON_GFSELECT, 4, 1);
	CHECK_EQ(mreg(VIRTIO_COMMON_GF, 4), 1);		/* VERSION_1 */
	fake_reset_msi();
	for (int i = 0; i < 3; i++) {
		put_desc(q.desc, i, BUF + 0x100 * (uint64_t)i, 64, VRING_DESC_F_WRITE, 0);
		publish((uint16_t)i);
	}
	modern_notify(0);
	REQUIRE(used_idx() == 3);
	for (uint16_t i = 0; i < 3; i++) {
		CHECK_EQ(used_id(i), i);
		CHECK_EQ(used_len(i), 64);
		CHECK(nonconstant(ram + BUF + 0x100 * i, 64));
	}
	CHECK_EQ(fake_vmm.nmsi, 1);			/* one interrupt for the batch */
	REQUIRE(fake_last_msi() != NULL);
	CHECK_EQ(fake_last_msi()->msg, 0x41);
	CHECK_EQ(mreg(VIRTIO_MODERN_ISR, 1), 0);
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_ENABLE, 2), 0);	/* reset clears the queue */
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_SIZE, 2), VR_QSIZE);
	msix_enable(false);
}

static void virtio_modern_refuses_features_ok_without_version_1(void)
{
	REQUIRE(vr_setup());
	CHECK(!modern_init(0));
	CHECK_EQ(mreg(VIRTIO_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
}

static void virtio_indirect_descriptors(void)
{
	REQUIRE(vr_setup());
	REQUIRE(modern_init(VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC));
	put_desc(IND_TABLE, 0, BUF, 8, VRING_DESC_F_NEXT, 2);
	put_desc(IND_TABLE, 2, BUF + 0x100, 32, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	put_desc(IND_TABLE, 1, BUF + 0x200, 16, VRING_DESC_F_WRITE, 0);
	put_desc(q.desc, 5, IND_TABLE, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(5);
	modern_notify(0);
	REQUIRE(used_idx() == 1);
	CHECK_EQ(used_id(0), 5);
	CHECK_EQ(used_len(0), 48);
	CHECK(nonconstant(ram + BUF + 0x100, 32));
	CHECK(nonconstant(ram + BUF + 0x200, 16));
	CHECK_EQ(mreg(VIRTIO_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
}

static void virtio_event_idx_suppresses_interrupts(void)
{
	REQUIRE(vr_setup());
	msix_enable(true);
	REQUIRE(modern_init(VIRTIO_F_VERSION_1 | VIRTIO_RING_F_EVENT_IDX));
	mreg_out(VIRTIO_COMMON_GFSELECT, 4, 0);
	CHECK(mreg(VIRTIO_COMMON_GF, 4) & VIRTIO_RING_F_EVENT_IDX);
	fake_reset_msi();
	set_used_event(0);		/* interrupt once used idx passes 0 */
	put_desc(q.desc, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(0);
	modern_notify(0);
	CHECK_EQ(used_idx(), 1);
	CHECK_EQ(fake_vmm.nmsi, 1);
	CHECK_EQ(avail_event(), 1);	/* the device asks to be notified from here */
	publish(0);			/* used_event still 0: no interrupt for this one */
	modern_notify(0);
	CHECK_EQ(used_idx(), 2);
	CHECK_EQ(fake_vmm.nmsi, 1);
	set_used_event(2);		/* now interrupt once the third is used */
	publish(0);
	modern_notify(0);
	CHECK_EQ(used_idx(), 3);
	CHECK_EQ(fake_vmm.nmsi, 2);
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
	msix_enable(false);
}

/* A driver decides whether to notify from avail_event, which the device writes
 * as it stops taking chains: one that read it just before may add a chain with
 * no notify. vq_endchains publishes how far the device got and says that a
 * chain is waiting, so the device takes it instead of hanging (Linux's
 * virtio-blk with two vCPUs stopped in a nested run that way). */
static void virtio_event_idx_chain_without_notify(void)
{
	struct virtio_softc *vs;
	struct vqueue *vq;
	struct iovec iov[2];
	uint16_t head;

	REQUIRE(vr_setup());
	REQUIRE(modern_init(VIRTIO_F_VERSION_1 | VIRTIO_RING_F_EVENT_IDX));
	vs = vr()->pi_arg;
	vq = &vs->vs_queues[0];
	put_desc(q.desc, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(0);
	REQUIRE(vq_getchain(vq, iov, 2, NULL, &head) == 1);	/* the device takes it */
	vq_relchain(vq, head, 8);
	CHECK_EQ(avail_event(), 0);	/* not published yet */
	publish(0);			/* the driver read avail_event 0: no notify */
	CHECK(vq_endchains(vq, false));
	CHECK_EQ(avail_event(), 1);
	REQUIRE(vq_getchain(vq, iov, 2, NULL, &head) == 1);
	vq_relchain(vq, head, 8);
	CHECK(!vq_endchains(vq, true));	/* nothing more: now a notify will come */
	CHECK_EQ(avail_event(), 2);
	publish(0);			/* and one does: the device takes it */
	modern_notify(0);
	CHECK_EQ(used_idx(), 3);
	/* A device that needs a reset has nothing to take. */
	publish(0);
	vs->vs_status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	CHECK(!vq_endchains(vq, false));
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
}

/* ---- a malicious guest ---- */

/* The device refused the guest: NEEDS_RESET, a config interrupt (ISR bit 1), and a
 * reset brings it back to work. */
static void expect_needs_reset(void)
{
	uint8_t st = legacy_status();

	CHECK_MSG(st & VIRTIO_CONFIG_S_NEEDS_RESET, "status 0x%x lacks NEEDS_RESET", st);
	CHECK(lreg(VIRTIO_PCI_ISR, 1) & VIRTIO_ISR_CONFIG);
	/* Further notifies are ignored while broken. */
	legacy_notify();
	CHECK(legacy_status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	legacy_init(0);
	CHECK_EQ(legacy_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	memset(ram + q.desc, 0, 0x3000);
	put_desc(q.desc, 0, BUF, 16, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 1);
	CHECK_EQ(used_len(0), 16);
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	(void)lreg(VIRTIO_PCI_ISR, 1);
}

static void virtio_bad_descriptor_loop(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	put_desc(q.desc, 0, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	put_desc(q.desc, 1, BUF + 8, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

/* Every descriptor of the table in one chain, and then once more. */
static void virtio_bad_chain_longer_than_queue(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	for (int i = 0; i < VR_QSIZE; i++)
		put_desc(q.desc, i, BUF, 0, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % VR_QSIZE));
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_more_buffers_than_device_takes(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	for (int i = 0; i < 40; i++)
		put_desc(q.desc, i, BUF + 16 * (uint64_t)i, 16,
		    VRING_DESC_F_WRITE | (i < 39 ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1));
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_buffer_past_ram(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	put_desc(q.desc, 0, PAST_RAM, 64, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_huge_length(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	put_desc(q.desc, 0, BUF, 0xffffffffu, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_address_wraps(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	put_desc(q.desc, 0, ~0ULL - 8, 64, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_indirect_inside_indirect(void)
{
	REQUIRE(vr_setup());
	legacy_init((uint32_t)VIRTIO_RING_F_INDIRECT_DESC);
	put_desc(IND_TABLE2, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	put_desc(IND_TABLE, 0, IND_TABLE2, 16, VRING_DESC_F_INDIRECT, 0);
	put_desc(q.desc, 0, IND_TABLE, 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_indirect_not_negotiated(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	put_desc(IND_TABLE, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	put_desc(q.desc, 0, IND_TABLE, 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_indirect_table_length(void)
{
	REQUIRE(vr_setup());
	legacy_init((uint32_t)VIRTIO_RING_F_INDIRECT_DESC);
	put_desc(q.desc, 0, IND_TABLE, 0, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_indirect_loop(void)
{
	REQUIRE(vr_setup());
	legacy_init((uint32_t)VIRTIO_RING_F_INDIRECT_DESC);
	put_desc(IND_TABLE, 0, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	put_desc(IND_TABLE, 1, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	put_desc(q.desc, 0, IND_TABLE, 32, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_head_out_of_range(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	publish(VR_QSIZE + 3);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_avail_idx_runs_ahead(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	put_desc(q.desc, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	le_put(ram + q.avail + 2, VR_QSIZE + 1, 2);
	legacy_notify();
	CHECK_EQ(used_idx(), 0);
	expect_needs_reset();
}

static void virtio_bad_ring_past_ram(void)
{
	REQUIRE(vr_setup());
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	lreg_out(VIRTIO_PCI_QUEUE_PFN, 4, (uint32_t)(PAST_RAM / 4096));
	CHECK_EQ(lreg(VIRTIO_PCI_QUEUE_PFN, 4), 0);
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_DRIVER_OK);
	legacy_notify();
	CHECK(legacy_status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	legacy_init(0);
	CHECK_EQ(legacy_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
}

static void virtio_bad_legacy_pfn_changed_after_driver_ok(void)
{
	REQUIRE(vr_setup());
	legacy_init(0);
	lreg_out(VIRTIO_PCI_QUEUE_PFN, 4, LEG_PFN);	/* the same value: fine */
	CHECK_EQ(legacy_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	lreg_out(VIRTIO_PCI_QUEUE_PFN, 4, LEG_PFN + 0x10);
	CHECK_EQ(lreg(VIRTIO_PCI_QUEUE_PFN, 4), LEG_PFN);	/* refused */
	expect_needs_reset();
}

static void virtio_bad_queue_size_changed_after_driver_ok(void)
{
	REQUIRE(vr_setup());
	msix_enable(true);
	REQUIRE(modern_init(VIRTIO_F_VERSION_1));
	fake_reset_msi();
	mreg_out(VIRTIO_COMMON_Q_SIZE, 2, 8);
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_SIZE, 2), MOD_QSIZE);
	CHECK(mreg(VIRTIO_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	REQUIRE(fake_last_msi() != NULL);		/* config vector 0 */
	CHECK_EQ(fake_last_msi()->msg, 0x40);
	/* A broken device ignores notifies; a reset brings it back. */
	put_desc(q.desc, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(0);
	modern_notify(0);
	CHECK_EQ(used_idx(), 0);
	REQUIRE(modern_init(VIRTIO_F_VERSION_1));
	mreg_out(VIRTIO_COMMON_Q_DESCLO, 4, MOD_DESC + 0x100);
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_DESCLO, 4), MOD_DESC);
	CHECK(mreg(VIRTIO_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
	CHECK_EQ(mreg(VIRTIO_COMMON_STATUS, 1), 0);
	msix_enable(false);
}

static void virtio_bad_modern_queue_size_not_power_of_two(void)
{
	REQUIRE(vr_setup());
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
	mreg_out(VIRTIO_COMMON_Q_SELECT, 2, 0);
	mreg_out(VIRTIO_COMMON_Q_SIZE, 2, 12);
	mreg_out(VIRTIO_COMMON_Q_DESCLO, 4, MOD_DESC);
	mreg_out(VIRTIO_COMMON_Q_AVAILLO, 4, MOD_AVAIL);
	mreg_out(VIRTIO_COMMON_Q_USEDLO, 4, MOD_USED);
	mreg_out(VIRTIO_COMMON_Q_ENABLE, 2, 1);
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_ENABLE, 2), 0);
	CHECK(mreg(VIRTIO_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	mreg_out(VIRTIO_COMMON_STATUS, 1, 0);
}

static void virtio_notify_unconfigured_queue_ignored(void)
{
	REQUIRE(vr_setup());
	/* Before DRIVER_OK, with no rings at all. */
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	legacy_notify();
	lreg_out(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	    VIRTIO_CONFIG_S_DRIVER_OK);
	legacy_notify();
	CHECK_EQ(legacy_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	legacy_init(0);
	put_desc(q.desc, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(0);
	lreg_out(VIRTIO_PCI_QUEUE_NOTIFY, 2, 1);
	lreg_out(VIRTIO_PCI_QUEUE_NOTIFY, 2, 0xffff);
	modern_notify(1);
	modern_notify(200);
	mreg_out(VIRTIO_MODERN_NOTIFY + 0xffc, 4, 0);
	CHECK_EQ(used_idx(), 0);
	CHECK_EQ(legacy_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	/* Out-of-range queue selects read as absent and take no writes. */
	lreg_out(VIRTIO_PCI_QUEUE_SEL, 2, 9);
	CHECK_EQ(lreg(VIRTIO_PCI_QUEUE_NUM, 2), 0);
	lreg_out(VIRTIO_PCI_QUEUE_PFN, 4, 0x55);
	CHECK_EQ(lreg(VIRTIO_PCI_QUEUE_PFN, 4), 0);
	mreg_out(VIRTIO_COMMON_Q_SELECT, 2, 9);
	CHECK_EQ(mreg(VIRTIO_COMMON_Q_SIZE, 2), 0);
	mreg_out(VIRTIO_COMMON_Q_ENABLE, 2, 1);
	CHECK_EQ(legacy_status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	/* The queue that is set up still works. */
	legacy_notify();
	CHECK_EQ(used_idx(), 1);
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
}

/* ---- the KVM fast paths (the fake plays KVM's ioeventfd and irqfd) ---- */

static void kick(const struct fake_ioeventfd *b)
{
	uint64_t one = 1;

	CHECK_EQ(write(b->fd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

static bool poll_used(uint16_t want)
{
	for (int i = 0; i < 100 && used_idx() != want; i++)
		mevent_poll(10);
	return used_idx() == want;
}

/* An enabled queue is bound at the legacy port (matching its index) and at its
 * modern notify address; a notify through the eventfd runs the queue on the
 * main loop; the bindings follow the BARs and go at reset. */
static void virtio_ioeventfd_follows_queues_and_bars(void)
{
	const struct fake_ioeventfd *lb, *mb;
	uint16_t moved;

	REQUIRE(vr_setup());
	msix_enable(false);
	fake_reset_fastpaths(true);
	legacy_init(0);
	lb = fake_ioeventfd_at(io + VIRTIO_PCI_QUEUE_NOTIFY, true, 0);
	mb = fake_ioeventfd_at(mbar + VIRTIO_MODERN_NOTIFY, false, 0);
	REQUIRE(lb != NULL && mb != NULL);
	CHECK_EQ(lb->len, 2);
	CHECK(lb->datamatch && mb->datamatch);
	CHECK_EQ(lb->fd, mb->fd);
	put_desc(q.desc, 0, BUF, 32, VRING_DESC_F_WRITE, 0);
	publish(0);
	kick(lb);
	CHECK(poll_used(1));
	CHECK_EQ(used_len(0), 32);
	/* The guest moves BAR 0: the binding moves with it. */
	moved = 0x7000;			/* nothing else decodes there */
	cfg_out(0, VR_SLOT, 0, PCIR_BAR(0), 4, moved);
	CHECK(fake_ioeventfd_at(io + VIRTIO_PCI_QUEUE_NOTIFY, true, 0) == NULL);
	lb = fake_ioeventfd_at(moved + VIRTIO_PCI_QUEUE_NOTIFY, true, 0);
	REQUIRE(lb != NULL);
	put_desc(q.desc, 1, BUF, 16, VRING_DESC_F_WRITE, 0);
	publish(1);
	kick(lb);
	CHECK(poll_used(2));
	/* Memory decoding off: the modern binding goes, the legacy one stays. */
	cfg_out(0, VR_SLOT, 0, PCIR_COMMAND, 2, PCIM_CMD_PORTEN);
	CHECK(fake_ioeventfd_at(mbar + VIRTIO_MODERN_NOTIFY, false, 0) == NULL);
	CHECK(fake_ioeventfd_at(moved + VIRTIO_PCI_QUEUE_NOTIFY, true, 0) != NULL);
	cfg_out(0, VR_SLOT, 0, PCIR_COMMAND, 2, PCIM_CMD_PORTEN | PCIM_CMD_MEMEN);
	CHECK(fake_ioeventfd_at(mbar + VIRTIO_MODERN_NOTIFY, false, 0) != NULL);
	/* Reset unbinds; a stale kick afterwards does nothing. */
	port_out((uint16_t)(moved + VIRTIO_PCI_STATUS), 1, 0);
	CHECK(fake_ioeventfd_at(moved + VIRTIO_PCI_QUEUE_NOTIFY, true, 0) == NULL);
	CHECK(fake_ioeventfd_at(mbar + VIRTIO_MODERN_NOTIFY, false, 0) == NULL);
	kick(lb);
	mevent_poll(10);
	CHECK_EQ(used_idx(), 2);
	cfg_out(0, VR_SLOT, 0, PCIR_BAR(0), 4, io);
	fake_reset_fastpaths(false);
}

/* Without ioeventfd (bhyve-emu) the notify write itself still works. */
static void virtio_ioeventfd_refused_falls_back_to_exits(void)
{
	REQUIRE(vr_setup());
	fake_reset_fastpaths(false);
	legacy_init(0);
	CHECK(fake_ioeventfd_at(io + VIRTIO_PCI_QUEUE_NOTIFY, true, 0) == NULL);
	put_desc(q.desc, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	CHECK_EQ(used_idx(), 1);
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
}

/* MSI-X vectors go through an irqfd, which follows the guest reprogramming
 * the vector; no KVM_SIGNAL_MSI is needed. */
static void virtio_msix_through_irqfd(void)
{
	const struct fake_irqfd *f;
	uint64_t n = 0;

	REQUIRE(vr_setup());
	fake_reset_fastpaths(true);
	msix_enable(true);
	legacy_init(0);
	lreg_out(VIRTIO_MSI_QUEUE_VECTOR, 2, 1);
	fake_reset_msi();
	put_desc(q.desc, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(0);
	legacy_notify();
	REQUIRE(used_idx() == 1);
	CHECK_EQ(fake_vmm.nmsi, 0);
	REQUIRE(fake_vmm.nirqfd == 1);
	f = &fake_vmm.irqfd[0];
	CHECK_EQ(f->addr, 0xfee00000);
	CHECK_EQ(f->msg, 0x41);
	CHECK_EQ(read(f->fd, &n, sizeof(n)), (ssize_t)sizeof(n));
	CHECK_EQ(n, 1);
	/* The guest points vector 1 elsewhere: the route follows. */
	mmio_out(msixbar + 16 + 8, 4, 0x51);
	CHECK_EQ(f->msg, 0x51);
	put_desc(q.desc, 1, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(1);
	legacy_notify();
	REQUIRE(used_idx() == 2);
	CHECK_EQ(read(f->fd, &n, sizeof(n)), (ssize_t)sizeof(n));
	CHECK_EQ(fake_vmm.nirqfd, 1);		/* the same irqfd, rerouted */
	CHECK_EQ(fake_vmm.nmsi, 0);
	lreg_out(VIRTIO_PCI_STATUS, 1, 0);
	msix_enable(false);
	fake_reset_fastpaths(false);
}

void suite_virtio(void)
{
	RUN_DEV(virtio_rnd_pci_ids);
	RUN_DEV(virtio_capabilities_describe_bar4_and_msix);
	RUN_DEV(virtio_pci_cfg_window_reaches_common_config);
	RUN_DEV(virtio_legacy_request_with_intx_and_isr);
	RUN_DEV(virtio_legacy_request_with_msix);
	RUN_DEV(virtio_legacy_mixed_chain_fills_only_writable);
	RUN_DEV(virtio_rnd_waits_for_the_host_rng);
	RUN_DEV(virtio_rnd_fills_at_most_64k_per_chain);
	RUN_DEV(virtio_no_interrupt_flag_suppresses);
	RUN_DEV(virtio_modern_request_through_bar4);
	RUN_DEV(virtio_modern_refuses_features_ok_without_version_1);
	RUN_DEV(virtio_indirect_descriptors);
	RUN_DEV(virtio_event_idx_suppresses_interrupts);
	RUN_DEV(virtio_event_idx_chain_without_notify);
	RUN_DEV(virtio_bad_descriptor_loop);
	RUN_DEV(virtio_bad_chain_longer_than_queue);
	RUN_DEV(virtio_bad_more_buffers_than_device_takes);
	RUN_DEV(virtio_bad_buffer_past_ram);
	RUN_DEV(virtio_bad_huge_length);
	RUN_DEV(virtio_bad_address_wraps);
	RUN_DEV(virtio_bad_indirect_inside_indirect);
	RUN_DEV(virtio_bad_indirect_not_negotiated);
	RUN_DEV(virtio_bad_indirect_table_length);
	RUN_DEV(virtio_bad_indirect_loop);
	RUN_DEV(virtio_bad_head_out_of_range);
	RUN_DEV(virtio_bad_avail_idx_runs_ahead);
	RUN_DEV(virtio_bad_ring_past_ram);
	RUN_DEV(virtio_bad_legacy_pfn_changed_after_driver_ok);
	RUN_DEV(virtio_bad_queue_size_changed_after_driver_ok);
	RUN_DEV(virtio_bad_modern_queue_size_not_power_of_two);
	RUN_DEV(virtio_notify_unconfigured_queue_ignored);
	RUN_DEV(virtio_ioeventfd_follows_queues_and_bars);
	RUN_DEV(virtio_ioeventfd_refused_falls_back_to_exits);
	RUN_DEV(virtio_msix_through_irqfd);
	if (fx_ctx != NULL)
		fake_vm_set_ram(fx_ctx, NULL, 0);
	free(ram);
	ram = NULL;
}
