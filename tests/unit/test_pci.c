/* The PCI core through 0xCF8/0xCFC and ECAM, as a guest sees it: the hostbridges,
 * lpc and its PIRQ registers, and "unittest-dev", a device defined here with an
 * I/O BAR, a 32-bit and a 64-bit memory BAR, MSI, MSI-X (in BAR 4) and INTx. */
#include "config.h"
#include "fake_vmmapi.h"
#include "pci_emul.h"
#include "test.h"

#define UT_VENDOR	0x1234
#define UT_DEVICE	0xabcd
#define UT_IOSIZE	256
#define UT_MEMSIZE	8192
#define UT_MEM64SIZE	(1ULL << 20)
#define UT_MSIXBAR	4
#define UT_MSIXNUM	8

static struct {
	int calls;
	bool write;
	int bar;
	uint64_t off;
	int size;
	uint64_t val;
} ut_rec;

static struct {
	bool init_called;
	char foo[16];
	bool flag;
	int rc_bar[3], rc_msi, rc_msix;
} ut_init_seen;

static void ut_barwrite(struct pci_devinst *pi, int baridx, uint64_t off, int size, uint64_t val)
{
	(void)pi;
	ut_rec.calls++;
	ut_rec.write = true;
	ut_rec.bar = baridx;
	ut_rec.off = off;
	ut_rec.size = size;
	ut_rec.val = val;
}

static uint64_t ut_barread(struct pci_devinst *pi, int baridx, uint64_t off, int size)
{
	(void)pi;
	ut_rec.calls++;
	ut_rec.write = false;
	ut_rec.bar = baridx;
	ut_rec.off = off;
	ut_rec.size = size;
	return (0xb0000000u | (uint32_t)baridx << 16 | (uint32_t)off) &
	    (size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1);
}

static int ut_init(struct pci_devinst *pi, const char *node)
{
	const char *foo = get_config_value_node(node, "foo");

	ut_init_seen.init_called = true;
	snprintf(ut_init_seen.foo, sizeof(ut_init_seen.foo), "%s", foo ? foo : "");
	ut_init_seen.flag = config_bool("pci.0.4.0.flag", false);
	pci_set_cfgdata16(pi, PCIR_VENDOR, UT_VENDOR);
	pci_set_cfgdata16(pi, PCIR_DEVICE, UT_DEVICE);
	pci_set_cfgdata8(pi, PCIR_CLASS, 0xff);
	ut_init_seen.rc_bar[0] = pci_emul_alloc_bar(pi, 0, PCIBAR_IO, UT_IOSIZE);
	ut_init_seen.rc_bar[1] = pci_emul_alloc_bar(pi, 1, PCIBAR_MEM32, UT_MEMSIZE);
	ut_init_seen.rc_bar[2] = pci_emul_alloc_bar(pi, 2, PCIBAR_MEM64, UT_MEM64SIZE);
	ut_init_seen.rc_msi = pci_emul_add_msicap(pi, 4);
	ut_init_seen.rc_msix = pci_emul_add_msixcap(pi, UT_MSIXNUM, UT_MSIXBAR);
	pci_lintr_request(pi);
	return 0;
}

static const struct pci_devemu pci_de_unittest = {
	.pe_emu = "unittest-dev",
	.pe_fwname = "unittest",
	.pe_init = ut_init,
	.pe_barwrite = ut_barwrite,
	.pe_barread = ut_barread,
};
PCI_EMUL_SET(pci_de_unittest);

static struct pci_devinst *ut(void)
{
	return pci_find(0, FX_DEV_SLOT, 0);
}

static uint16_t ut_cmd(void)
{
	return (uint16_t)cfg_in(0, FX_DEV_SLOT, 0, PCIR_COMMAND, 2);
}

static void ut_set_cmd(uint16_t cmd)
{
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_COMMAND, 2, cmd);
}

/* Walks the capability list from 0x34; returns the offset of id, or 0. */
static int find_cap(int slot, uint8_t id)
{
	int off = (int)cfg_in(0, slot, 0, PCIR_CAP_PTR, 1);

	for (int n = 0; off != 0 && n < 48; n++) {
		if (off < 0x40 || off > 0xfc || (off & 3))
			return 0;
		if (cfg_in(0, slot, 0, off, 1) == id)
			return off;
		off = (int)cfg_in(0, slot, 0, off + 1, 1);
	}
	return 0;
}

static void pci_unittest_dev_initialised_from_config(void)
{
	REQUIRE(ut() != NULL);
	CHECK(ut_init_seen.init_called);
	CHECK_STR(ut_init_seen.foo, "bar");
	CHECK(ut_init_seen.flag);
	CHECK_EQ(ut_init_seen.rc_bar[0], 0);
	CHECK_EQ(ut_init_seen.rc_bar[1], 0);
	CHECK_EQ(ut_init_seen.rc_bar[2], 0);
	CHECK_EQ(ut_init_seen.rc_msi, 0);
	CHECK_EQ(ut_init_seen.rc_msix, 0);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_VENDOR, 4), (uint32_t)UT_DEVICE << 16 | UT_VENDOR);
	/* BARs in bhyve's windows. */
	CHECK(ut()->pi_bar[0].addr >= PCI_IOBASE && ut()->pi_bar[0].addr < PCI_IOLIMIT);
	CHECK(ut()->pi_bar[1].addr >= PCI_MEMBASE32 && ut()->pi_bar[1].addr < PCI_MEMLIMIT32);
	CHECK(ut()->pi_bar[2].addr >= (4ULL << 30) + FX_HIGHMEM);
	CHECK_EQ(ut()->pi_bar[1].addr % UT_MEMSIZE, 0);
	CHECK_EQ(ut()->pi_bar[2].addr % UT_MEM64SIZE, 0);
}

static void pci_hostbridge_ids_via_cf8_and_ecam(void)
{
	CHECK_EQ(cfg_in(0, 0, 0, PCIR_VENDOR, 2), 0x1275);
	CHECK_EQ(cfg_in(0, 0, 0, PCIR_DEVICE, 2), 0x1275);
	CHECK_EQ(cfg_in(0, 0, 0, PCIR_VENDOR, 4), 0x12751275);
	CHECK_EQ(cfg_in(0, 0, 0, PCIR_CLASS, 1), 0x06);
	CHECK_EQ(cfg_in(0, 0, 0, PCIR_SUBCLASS, 1), 0x00);
	CHECK_EQ(cfg_in(0, 0, 0, 0x08, 4) >> 8, 0x060000);
	CHECK_EQ(ecam_in(0, 0, 0, PCIR_VENDOR, 4), 0x12751275);
	CHECK_EQ(ecam_in(0, 0, 0, PCIR_CLASS, 1), 0x06);
	CHECK(find_cap(0, PCIY_EXPRESS) != 0);
}

static void pci_amd_hostbridge_ids(void)
{
	CHECK_EQ(cfg_in(0, 1, 0, PCIR_VENDOR, 2), 0x1022);
	CHECK_EQ(cfg_in(0, 1, 0, PCIR_DEVICE, 2), 0x7432);
	CHECK_EQ(ecam_in(0, 1, 0, PCIR_VENDOR, 4), 0x74321022);
	CHECK_EQ(cfg_in(0, 1, 0, PCIR_CLASS, 1), 0x06);
}

static void pci_lpc_ids(void)
{
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, PCIR_VENDOR, 4), 0x70008086);
	CHECK_EQ(ecam_in(0, FX_LPC_SLOT, 0, PCIR_VENDOR, 4), 0x70008086);
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, PCIR_CLASS, 1), 0x06);
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, PCIR_SUBCLASS, 1), 0x01);
}

static void pci_empty_slot_reads_all_ones(void)
{
	CHECK_EQ(cfg_in(0, 5, 0, PCIR_VENDOR, 4), 0xffffffff);
	CHECK_EQ(cfg_in(0, 5, 0, PCIR_VENDOR, 2), 0xffff);
	CHECK_EQ(cfg_in(0, 5, 0, 0x3f, 1), 0xff);
	CHECK_EQ(cfg_in(0, 0, 3, PCIR_VENDOR, 4), 0xffffffff);
	CHECK_EQ(cfg_in(7, 0, 0, PCIR_VENDOR, 4), 0xffffffff);
	CHECK_EQ(ecam_in(0, 5, 0, PCIR_VENDOR, 4), 0xffffffff);
	CHECK_EQ(ecam_in(255, 31, 7, 0xffc, 4), 0xffffffff);
	/* Without the enable bit in 0xCF8, 0xCFC reads all-ones even for a real device. */
	port_out(0xcf8, 4, 0x00000000);
	CHECK_EQ(port_in(0xcfc, 4), 0xffffffff);
	/* 0xCF8 reads back what was written. */
	port_out(0xcf8, 4, 0x8000f80c);
	CHECK_EQ(port_in(0xcf8, 4), 0x8000f80c);
	/* Writes to an empty slot go nowhere and do not crash. */
	cfg_out(0, 5, 0, PCIR_COMMAND, 2, 0xffff);
	CHECK_EQ(cfg_in(0, 5, 0, PCIR_COMMAND, 2), 0xffff);
}

static void pci_vendor_and_device_ids_read_only(void)
{
	cfg_out(0, 0, 0, PCIR_VENDOR, 2, 0xdead);
	cfg_out(0, 0, 0, PCIR_VENDOR, 4, 0xdeadbeef);
	ecam_out(0, 0, 0, PCIR_VENDOR, 4, 0xdeadbeef);
	CHECK_EQ(cfg_in(0, 0, 0, PCIR_VENDOR, 4), 0x12751275);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_VENDOR, 4, 0);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_VENDOR, 2), UT_VENDOR);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_CLASS, 1, 0x01);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_CLASS, 1), 0xff);
	/* The interrupt line register is the guest's to write. */
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_INTLINE, 1, 0x0a);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_INTLINE, 1), 0x0a);
}

static void pci_lpc_pirq_registers_read_back_masked(void)
{
	static const int regs[] = { 0x60, 0x61, 0x62, 0x63, 0x68, 0x69, 0x6a, 0x6b };
	uint32_t saved_lo = cfg_in(0, FX_LPC_SLOT, 0, 0x60, 4);
	uint32_t saved_hi = cfg_in(0, FX_LPC_SLOT, 0, 0x68, 4);

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		cfg_out(0, FX_LPC_SLOT, 0, regs[i], 1, 0xff);
		CHECK_MSG(cfg_in(0, FX_LPC_SLOT, 0, regs[i], 1) == 0x8f, "PIRQ 0x%x", regs[i]);
		cfg_out(0, FX_LPC_SLOT, 0, regs[i], 1, 0x0b);
		CHECK_MSG(cfg_in(0, FX_LPC_SLOT, 0, regs[i], 1) == 0x0b, "PIRQ 0x%x", regs[i]);
	}
	cfg_out(0, FX_LPC_SLOT, 0, 0x60, 4, 0x7f8e0a05);
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, 0x60, 4), 0x0f8e0a05);
	ecam_out(0, FX_LPC_SLOT, 0, 0x68, 2, 0x0380);
	CHECK_EQ(ecam_in(0, FX_LPC_SLOT, 0, 0x68, 2), 0x0380);
	cfg_out(0, FX_LPC_SLOT, 0, 0x60, 4, saved_lo);
	cfg_out(0, FX_LPC_SLOT, 0, 0x68, 4, saved_hi);
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, 0x68, 4), saved_hi);
	/* Next to them, ordinary config space is still ordinary. */
	cfg_out(0, FX_LPC_SLOT, 0, 0x64, 4, 0x11223344);
	CHECK_EQ(cfg_in(0, FX_LPC_SLOT, 0, 0x64, 4), 0x11223344);
}

static void pci_bar_sizing_returns_size_mask(void)
{
	uint16_t cmd = ut_cmd();
	uint32_t b0 = cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(0), 4);
	uint32_t b1 = cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(1), 4);
	uint32_t b2 = cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(2), 4);
	uint32_t b3 = cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(3), 4);

	CHECK_EQ(b0 & 3, 1);		/* I/O */
	CHECK_EQ(b1 & 0xf, 0);		/* 32-bit memory */
	CHECK_EQ(b2 & 0x6, 0x4);	/* 64-bit memory */
	CHECK_EQ(((uint64_t)b3 << 32 | (b2 & ~0xfu)), ut()->pi_bar[2].addr);
	/* As firmware does it: decoding off, all-ones, read, restore. */
	ut_set_cmd(cmd & ~(PCIM_CMD_PORTEN | PCIM_CMD_MEMEN));
	for (int i = 0; i < 4; i++)
		cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(i), 4, 0xffffffff);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(0), 4) & 0xffff, (0x10000 - UT_IOSIZE) | 1);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(1), 4), (uint32_t)-UT_MEMSIZE);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(2), 4), (uint32_t)-UT_MEM64SIZE | 0x4);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(3), 4), 0xffffffff);
	/* A BAR that does not exist sizes to 0. */
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(5), 4, 0xffffffff);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(5), 4), 0);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(0), 4, b0);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(1), 4, b1);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(2), 4, b2);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(3), 4, b3);
	ut_set_cmd(cmd);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(0), 4), b0);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(1), 4), b1);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(2), 4), b2);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(3), 4), b3);
	/* Restored and decoding again: accesses arrive. */
	ut_rec.calls = 0;
	CHECK_EQ(mmio_in(ut()->pi_bar[1].addr + 8, 4), 0xb0010008);
	CHECK_EQ(port_in((uint16_t)(ut()->pi_bar[0].addr + 4), 1), 0x04);
	CHECK_EQ(mmio_in(ut()->pi_bar[2].addr + 0x10, 4), 0xb0020010);
	CHECK_EQ(ut_rec.calls, 3);
}

static void pci_bar_accesses_reach_device(void)
{
	uint64_t io = ut()->pi_bar[0].addr, m32 = ut()->pi_bar[1].addr, m64 = ut()->pi_bar[2].addr;

	ut_rec.calls = 0;
	port_out((uint16_t)(io + 0x10), 2, 0xabcd);
	CHECK_EQ(ut_rec.calls, 1);
	CHECK(ut_rec.write);
	CHECK_EQ(ut_rec.bar, 0);
	CHECK_EQ(ut_rec.off, 0x10);
	CHECK_EQ(ut_rec.size, 2);
	CHECK_EQ(ut_rec.val, 0xabcd);
	mmio_out(m32 + UT_MEMSIZE - 4, 4, 0x11223344);
	CHECK_EQ(ut_rec.bar, 1);
	CHECK_EQ(ut_rec.off, UT_MEMSIZE - 4);
	CHECK_EQ(ut_rec.val, 0x11223344);
	mmio_out(m64 + 0x100, 8, 0x1122334455667788ULL);
	CHECK_EQ(ut_rec.bar, 2);
	CHECK_EQ(ut_rec.off, 0x100);
	CHECK_EQ(ut_rec.size, 8);
	CHECK_EQ(ut_rec.val, 0x1122334455667788ULL);
	CHECK_EQ(ut_rec.calls, 3);
	/* Just past the 64-bit BAR is nobody's. */
	CHECK_EQ(mmio_rc(false, m64 + UT_MEM64SIZE, 4, &(uint64_t){ 0 }), 1);
	CHECK_EQ(ut_rec.calls, 3);
}

/* As on bhyve, a BAR access must lie inside the BAR: a port access that starts in
 * the last bytes of an I/O BAR must not reach the device with off + size past
 * the BAR (devices index their registers by offset). */
static void pci_io_bar_access_past_end_not_delivered(void)
{
	uint64_t io = ut()->pi_bar[0].addr, v = 0;
	int rc;

	ut_rec.calls = 0;
	rc = port_rc(false, (uint16_t)(io + UT_IOSIZE - 2), 4, &v);
	CHECK_MSG(ut_rec.calls == 0,
	    "a 4-byte read at I/O BAR offset 0x%x reached pe_barread as off 0x%llx size %d "
	    "(BAR is 0x%x bytes); emulate_io returned %d", UT_IOSIZE - 2,
	    (unsigned long long)ut_rec.off, ut_rec.size, UT_IOSIZE, rc);
	ut_rec.calls = 0;
	port_rc(true, (uint16_t)(io + UT_IOSIZE - 1), 2, &(uint64_t){ 0xffff });
	CHECK_MSG(ut_rec.calls == 0, "a 2-byte write at the last I/O BAR byte reached pe_barwrite");
	/* Inside, it is delivered. */
	ut_rec.calls = 0;
	port_rc(false, (uint16_t)(io + UT_IOSIZE - 4), 4, &v);
	CHECK_EQ(ut_rec.calls, 1);
}

static void pci_bar_move_changes_where_accesses_go(void)
{
	uint64_t old1 = ut()->pi_bar[1].addr, old0 = ut()->pi_bar[0].addr;
	uint64_t new1 = 0xd0000000, new0 = 0x5000;
	uint64_t v;

	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(1), 4, (uint32_t)new1);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(0), 4, (uint32_t)new0);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(1), 4), new1);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_BAR(0), 4), new0 | 1);
	ut_rec.calls = 0;
	CHECK_EQ(mmio_rc(false, new1 + 0x20, 4, &v), 0);
	CHECK_EQ(v, 0xb0010020);
	CHECK_EQ(mmio_rc(false, old1 + 0x20, 4, &v), 1);
	CHECK_EQ(port_rc(false, (uint16_t)(new0 + 1), 1, &v), 0);
	CHECK_EQ(port_rc(false, (uint16_t)(old0 + 1), 1, &v), 1);
	CHECK_EQ(ut_rec.calls, 2);
	/* A 64-bit BAR moves with its two halves. */
	{
		uint64_t old2 = ut()->pi_bar[2].addr, new2 = 0x900000000ULL;

		cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(2), 4, (uint32_t)new2 | 4);
		cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(3), 4, (uint32_t)(new2 >> 32));
		CHECK_EQ(ut()->pi_bar[2].addr, new2);
		CHECK_EQ(mmio_rc(false, new2 + 0x40, 4, &v), 0);
		CHECK_EQ(v, 0xb0020040);
		CHECK_EQ(mmio_rc(false, old2 + 0x40, 4, &v), 1);
		cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(2), 4, (uint32_t)old2 | 4);
		cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(3), 4, (uint32_t)(old2 >> 32));
		CHECK_EQ(mmio_rc(false, old2 + 0x40, 4, &v), 0);
	}
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(1), 4, (uint32_t)old1);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(0), 4, (uint32_t)old0);
	CHECK_EQ(mmio_rc(false, old1 + 0x20, 4, &v), 0);
	CHECK_EQ(mmio_rc(false, new1 + 0x20, 4, &v), 1);
	CHECK_EQ(port_rc(false, (uint16_t)(old0 + 1), 1, &v), 0);
}

static void pci_bar_moved_onto_other_range_is_not_decoded(void)
{
	uint64_t old1 = ut()->pi_bar[1].addr, v;

	/* Onto the ECAM window: refused there, ECAM keeps working. */
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(1), 4, (uint32_t)PCI_ECAM_BASE);
	ut_rec.calls = 0;
	CHECK_EQ(ecam_in(0, 0, 0, PCIR_VENDOR, 4), 0x12751275);
	CHECK_EQ(ut_rec.calls, 0);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_BAR(1), 4, (uint32_t)old1);
	CHECK_EQ(mmio_rc(false, old1, 4, &v), 0);
	CHECK_EQ(ut_rec.calls, 1);
}

static void pci_command_decode_bits_gate_delivery(void)
{
	uint16_t cmd = ut_cmd();
	uint64_t io = ut()->pi_bar[0].addr, m32 = ut()->pi_bar[1].addr, v;

	CHECK(cmd & PCIM_CMD_PORTEN);
	CHECK(cmd & PCIM_CMD_MEMEN);
	ut_rec.calls = 0;
	ut_set_cmd(cmd & ~PCIM_CMD_MEMEN);
	CHECK_EQ(mmio_rc(false, m32, 4, &v), 1);
	CHECK_EQ(port_rc(false, (uint16_t)io, 1, &v), 0);	/* I/O still on */
	CHECK_EQ(ut_rec.calls, 1);
	ut_set_cmd(cmd & ~PCIM_CMD_PORTEN);
	CHECK_EQ(port_rc(false, (uint16_t)io, 1, &v), 1);
	CHECK_EQ(mmio_rc(false, m32, 4, &v), 0);
	CHECK_EQ(ut_rec.calls, 2);
	ut_set_cmd(cmd & ~(PCIM_CMD_PORTEN | PCIM_CMD_MEMEN));
	CHECK_EQ(port_rc(true, (uint16_t)io, 1, &(uint64_t){ 1 }), 1);
	CHECK_EQ(mmio_rc(true, m32, 4, &(uint64_t){ 1 }), 1);
	CHECK_EQ(ut_rec.calls, 2);
	ut_set_cmd(cmd);
	CHECK_EQ(port_rc(false, (uint16_t)io, 1, &v), 0);
	CHECK_EQ(mmio_rc(false, m32, 4, &v), 0);
	CHECK_EQ(ut_rec.calls, 4);
}

/* A byte write to the command register changes that byte only (PCI byte enables). */
static void pci_command_byte_writes_touch_only_their_byte(void)
{
	uint16_t cmd = ut_cmd();

	ut_set_cmd(cmd | PCIM_CMD_INTxDIS);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_COMMAND, 1, cmd & 0xff);
	CHECK_MSG(ut_cmd() & PCIM_CMD_INTxDIS,
	    "an 8-bit write of 0x%02x to COMMAND (0x04) cleared INTx Disable in the high byte: "
	    "command reads 0x%04x", cmd & 0xff, ut_cmd());
	ut_set_cmd(cmd & ~PCIM_CMD_INTxDIS);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_COMMAND + 1, 1, PCIM_CMD_INTxDIS >> 8);
	CHECK_MSG(ut_cmd() & PCIM_CMD_INTxDIS,
	    "an 8-bit write of 0x04 to COMMAND+1 (0x05) did not set INTx Disable: command reads 0x%04x",
	    ut_cmd());
	CHECK_EQ(ut_cmd() & 0xff, cmd & 0xff);
	ut_set_cmd(cmd);
}

static void pci_capability_list_has_msi_and_msix(void)
{
	int msi = find_cap(FX_DEV_SLOT, PCIY_MSI), msix = find_cap(FX_DEV_SLOT, PCIY_MSIX);

	CHECK(cfg_in(0, FX_DEV_SLOT, 0, PCIR_STATUS, 2) & PCIM_STATUS_CAPPRESENT);
	CHECK(msi != 0);
	CHECK(msix != 0);
	CHECK_EQ(msi, ut()->pi_msi.capoff);
	CHECK_EQ(msix, ut()->pi_msix.capoff);
	/* MSI: 64-bit capable, 4 messages (MMC=2), disabled. */
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, msi + 2, 2), 0x80 | 2 << 1);
	/* MSI-X: table size N-1, table and PBA in BAR 4. */
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, msix + 2, 2), UT_MSIXNUM - 1);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, msix + 4, 4) & 7, UT_MSIXBAR);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, msix + 8, 4) & 7, UT_MSIXBAR);
	/* The same through ECAM. */
	CHECK_EQ(ecam_in(0, FX_DEV_SLOT, 0, msix, 1), PCIY_MSIX);
}

static void pci_msi_delivers_programmed_message(void)
{
	int msi = find_cap(FX_DEV_SLOT, PCIY_MSI);
	struct pci_devinst *pi = ut();
	const struct fake_msi *m;

	REQUIRE(msi != 0);
	CHECK(!pci_msi_enabled(pi));
	cfg_out(0, FX_DEV_SLOT, 0, msi + 4, 4, 0xfee01000);
	cfg_out(0, FX_DEV_SLOT, 0, msi + 8, 4, 0);
	cfg_out(0, FX_DEV_SLOT, 0, msi + 12, 2, 0x4040);
	cfg_out(0, FX_DEV_SLOT, 0, msi + 2, 2, 0x0001 | 2 << 4);	/* enable, 4 messages */
	CHECK(pci_msi_enabled(pi));
	CHECK_EQ(pci_msi_maxmsgnum(pi), 4);
	/* The capability bits stay; the enable and MME read back. */
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, msi + 2, 2), 0x80 | 2 << 1 | 2 << 4 | 1);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, msi + 4, 4), 0xfee01000);
	fake_reset_msi();
	pci_generate_msi(pi, 0);
	pci_generate_msi(pi, 3);
	pci_generate_msi(pi, 4);	/* beyond what was enabled: dropped */
	CHECK_EQ(fake_vmm.nmsi, 2);
	CHECK_EQ(fake_vmm.msi[0].addr, 0xfee01000);
	CHECK_EQ(fake_vmm.msi[0].msg, 0x4040);
	CHECK_EQ(fake_vmm.msi[1].msg, 0x4043);
	/* Disabled: nothing. */
	cfg_out(0, FX_DEV_SLOT, 0, msi + 2, 2, 0);
	CHECK(!pci_msi_enabled(pi));
	fake_reset_msi();
	pci_generate_msi(pi, 0);
	m = fake_last_msi();
	CHECK(m == NULL);
}

static uint64_t msix_table(void)
{
	return ut()->pi_bar[UT_MSIXBAR].addr;
}

static void msix_program(int i, uint64_t addr, uint32_t data, uint32_t ctl)
{
	uint64_t e = msix_table() + (uint64_t)i * 16;

	mmio_out(e, 4, (uint32_t)addr);
	mmio_out(e + 4, 4, (uint32_t)(addr >> 32));
	mmio_out(e + 8, 4, data);
	mmio_out(e + 12, 4, ctl);
}

static uint64_t msix_pba_addr(void)
{
	int msix = find_cap(FX_DEV_SLOT, PCIY_MSIX);

	return msix_table() + (cfg_in(0, FX_DEV_SLOT, 0, msix + 8, 4) & ~7u);
}

static void pci_msix_table_programmed_through_bar_delivers(void)
{
	int msix = find_cap(FX_DEV_SLOT, PCIY_MSIX);
	struct pci_devinst *pi = ut();
	const struct fake_msi *m;

	REQUIRE(msix != 0);
	/* Entries are masked at reset. */
	CHECK_EQ(mmio_in(msix_table() + 2 * 16 + 12, 4), 1);
	msix_program(2, 0xfee02000, 0x55, 0);
	CHECK_EQ(mmio_in(msix_table() + 2 * 16, 4), 0xfee02000);
	CHECK_EQ(mmio_in(msix_table() + 2 * 16 + 8, 4), 0x55);
	CHECK_EQ(mmio_in(msix_table() + 2 * 16, 8), 0xfee02000);
	CHECK_EQ(mmio_in(msix_table() + 2 * 16 + 12, 4), 0);
	/* Not enabled yet: nothing. */
	fake_reset_msi();
	pci_generate_msix(pi, 2);
	CHECK_EQ(fake_vmm.nmsi, 0);
	cfg_out(0, FX_DEV_SLOT, 0, msix + 2, 2, 0x8000);
	CHECK(pci_msix_enabled(pi));
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, msix + 2, 2), 0x8000 | (UT_MSIXNUM - 1));
	pci_generate_msix(pi, 2);
	m = fake_last_msi();
	REQUIRE(m != NULL);
	CHECK_EQ(fake_vmm.nmsi, 1);
	CHECK_EQ(m->addr, 0xfee02000);
	CHECK_EQ(m->msg, 0x55);
	/* Out-of-range vectors are ignored. */
	pci_generate_msix(pi, UT_MSIXNUM);
	pci_generate_msix(pi, -1);
	CHECK_EQ(fake_vmm.nmsi, 1);
	/* Sub-dword table accesses are refused, not crashes. */
	CHECK_EQ(mmio_rc(false, msix_table() + 2 * 16, 2, &(uint64_t){ 0 }), -1);
	CHECK_EQ(mmio_rc(true, msix_table() + 2 * 16 + 1, 1, &(uint64_t){ 0 }), -1);
}

static void pci_msix_masked_entry_sets_pba_then_delivers_on_unmask(void)
{
	int msix = find_cap(FX_DEV_SLOT, PCIY_MSIX);
	struct pci_devinst *pi = ut();
	const struct fake_msi *m;

	REQUIRE(msix != 0);
	cfg_out(0, FX_DEV_SLOT, 0, msix + 2, 2, 0x8000);
	REQUIRE(pci_msix_enabled(pi));
	msix_program(3, 0xfee03000, 0x66, 1);	/* masked */
	fake_reset_msi();
	pci_generate_msix(pi, 3);
	CHECK_EQ(fake_vmm.nmsi, 0);
	CHECK_EQ(mmio_in(msix_pba_addr(), 8) & 0xff, 1 << 3);
	CHECK_EQ(mmio_in(msix_pba_addr(), 4) & 0xff, 1 << 3);
	mmio_out(msix_table() + 3 * 16 + 12, 4, 0);	/* unmask */
	m = fake_last_msi();
	REQUIRE(m != NULL);
	CHECK_EQ(fake_vmm.nmsi, 1);
	CHECK_EQ(m->addr, 0xfee03000);
	CHECK_EQ(m->msg, 0x66);
	CHECK_EQ(mmio_in(msix_pba_addr(), 8), 0);

	/* The function mask holds every vector; clearing it delivers what is pending. */
	msix_program(4, 0xfee04000, 0x77, 0);
	cfg_out(0, FX_DEV_SLOT, 0, msix + 2, 2, 0xc000);
	fake_reset_msi();
	pci_generate_msix(pi, 4);
	CHECK_EQ(fake_vmm.nmsi, 0);
	CHECK_EQ(mmio_in(msix_pba_addr(), 8), 1 << 4);
	cfg_out(0, FX_DEV_SLOT, 0, msix + 2, 2, 0x8000);
	m = fake_last_msi();
	REQUIRE(m != NULL);
	CHECK_EQ(m->msg, 0x77);
	CHECK_EQ(mmio_in(msix_pba_addr(), 8), 0);
	/* MSI enabled takes precedence over MSI-X. */
	{
		int msi = find_cap(FX_DEV_SLOT, PCIY_MSI);

		cfg_out(0, FX_DEV_SLOT, 0, msi + 2, 2, 1);
		CHECK(!pci_msix_enabled(pi));
		cfg_out(0, FX_DEV_SLOT, 0, msi + 2, 2, 0);
	}
	cfg_out(0, FX_DEV_SLOT, 0, msix + 2, 2, 0);
	CHECK(!pci_msix_enabled(pi));
}

static void pci_intx_raises_ioapic_and_routed_pic_line(void)
{
	struct pci_devinst *pi = ut();
	int pin = pi->pi_lintr.pirq_pin, ioapic = pi->pi_lintr.ioapic_irq;
	int pirq_reg = pin <= 4 ? 0x60 + pin - 1 : 0x68 + pin - 5;
	uint8_t saved = (uint8_t)cfg_in(0, FX_LPC_SLOT, 0, pirq_reg, 1);
	uint16_t cmd = ut_cmd();

	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_INTPIN, 1), 1);
	CHECK(ioapic >= 16 && ioapic <= 23);
	CHECK(pin >= 1 && pin <= 8);
	/* Unrouted PIRQ: the IOAPIC pin only. */
	cfg_out(0, FX_LPC_SLOT, 0, pirq_reg, 1, 0x80);
	fake_reset_irqs();
	pci_lintr_assert(pi);
	CHECK_EQ(fake_vmm.ioapic_level[ioapic], 1);
	CHECK_EQ(fake_vmm.atpic_calls, 0);
	CHECK(cfg_in(0, FX_DEV_SLOT, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTxSTATE);
	/* Routing it to IRQ 11 while asserted raises IRQ 11 on the PIC. */
	cfg_out(0, FX_LPC_SLOT, 0, pirq_reg, 1, 0x0b);
	CHECK_EQ(fake_vmm.atpic_level[11], 1);
	/* INTx disable lowers both; enabling again raises them. */
	ut_set_cmd(cmd | PCIM_CMD_INTxDIS);
	CHECK_EQ(fake_vmm.ioapic_level[ioapic], 0);
	CHECK_EQ(fake_vmm.atpic_level[11], 0);
	CHECK(cfg_in(0, FX_DEV_SLOT, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTxSTATE);
	ut_set_cmd(cmd & ~PCIM_CMD_INTxDIS);
	CHECK_EQ(fake_vmm.ioapic_level[ioapic], 1);
	CHECK_EQ(fake_vmm.atpic_level[11], 1);
	/* Rerouting moves the PIC line. */
	cfg_out(0, FX_LPC_SLOT, 0, pirq_reg, 1, 0x0a);
	CHECK_EQ(fake_vmm.atpic_level[11], 0);
	CHECK_EQ(fake_vmm.atpic_level[10], 1);
	pci_lintr_deassert(pi);
	CHECK_EQ(fake_vmm.ioapic_level[ioapic], 0);
	CHECK_EQ(fake_vmm.atpic_level[10], 0);
	CHECK(!(cfg_in(0, FX_DEV_SLOT, 0, PCIR_STATUS, 2) & PCIM_STATUS_INTxSTATE));
	/* Asserted while INTx is disabled: the line stays low. */
	ut_set_cmd(cmd | PCIM_CMD_INTxDIS);
	fake_reset_irqs();
	pci_lintr_assert(pi);
	CHECK_EQ(fake_vmm.ioapic_calls, 0);
	pci_lintr_deassert(pi);
	CHECK_EQ(fake_vmm.ioapic_calls, 0);
	ut_set_cmd(cmd);
	cfg_out(0, FX_LPC_SLOT, 0, pirq_reg, 1, saved);
}

/* The expansion ROM BAR at 0x30: sized to a power of two (3000 bytes -> 4
 * KiB), read-only, decoding only while its enable bit and memory decoding are
 * on; the image reads back where the guest put it. */
static void pci_rom_bar_sizes_enables_and_reads_back(void)
{
	struct pci_devinst *pi = ut();
	uint8_t img[3000];
	uint16_t cmd = ut_cmd();
	uint32_t base;
	uint64_t v = 0;

	REQUIRE(pi != NULL);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_ROM, 4), 0);		/* no ROM yet */
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_ROM, 4, 0xfffff801);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_ROM, 4), 0);		/* and none appears */
	for (size_t i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 7 + 3);
	img[0] = 0x55;
	img[1] = 0xaa;
	REQUIRE(pci_emul_add_rom(pi, img, sizeof(img)) == 0);
	CHECK_EQ(pi->pi_rom.size, 4096);
	base = cfg_in(0, FX_DEV_SLOT, 0, PCIR_ROM, 4);
	CHECK(base != 0 && (base & 0xfff) == 0);			/* placed, disabled */
	CHECK(base >= PCI_MEMBASE32 && base < PCI_MEMLIMIT32);
	CHECK_EQ(mmio_rc(false, base, 2, &v), 1);			/* not decoding */
	/* Sizing: all ones but the enable bit reads back the size mask. */
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_ROM, 4, 0xfffffffe);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_ROM, 4), 0xfffff000);
	/* Placed and enabled: the image, little endian, zeros past its end. */
	ut_set_cmd(cmd | PCIM_CMD_MEMEN);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_ROM, 4, base | PCIM_ROM_ENABLE);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_ROM, 4), base | PCIM_ROM_ENABLE);
	CHECK_EQ(mmio_in(base, 2), 0xaa55);
	CHECK_EQ(mmio_in(base + 100, 4), (uint32_t)img[100] | (uint32_t)img[101] << 8 |
	    (uint32_t)img[102] << 16 | (uint32_t)img[103] << 24);
	CHECK_EQ(mmio_in(base + 2998, 4), (uint32_t)img[2998] | (uint32_t)img[2999] << 8);
	CHECK_EQ(mmio_in(base + 4092, 4), 0);
	/* Read-only. */
	mmio_out(base, 4, 0x12345678);
	CHECK_EQ(mmio_in(base, 2), 0xaa55);
	/* Memory decoding off, then the enable bit off: nothing there. */
	ut_set_cmd(cmd & (uint16_t)~PCIM_CMD_MEMEN);
	CHECK_EQ(mmio_rc(false, base, 2, &v), 1);
	ut_set_cmd(cmd | PCIM_CMD_MEMEN);
	CHECK_EQ(mmio_in(base, 2), 0xaa55);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_ROM, 2, 0);			/* partial: ignored */
	CHECK_EQ(mmio_in(base, 2), 0xaa55);
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_ROM, 4, base);
	CHECK_EQ(mmio_rc(false, base, 2, &v), 1);
	/* Moved and enabled elsewhere: it follows. */
	cfg_out(0, FX_DEV_SLOT, 0, PCIR_ROM, 4, (base + 0x10000) | PCIM_ROM_ENABLE);
	CHECK_EQ(mmio_in(base + 0x10000, 2), 0xaa55);
	CHECK_EQ(mmio_rc(false, base, 2, &v), 1);
	pci_emul_free_rom(pi);
	CHECK_EQ(mmio_rc(false, base + 0x10000, 2, &v), 1);
	CHECK_EQ(cfg_in(0, FX_DEV_SLOT, 0, PCIR_ROM, 4), 0);
	ut_set_cmd(cmd);
	/* Too large, or empty. */
	CHECK_EQ(pci_emul_add_rom(pi, img, 0), -1);
}

void suite_pci(void)
{
	RUN_DEV(pci_unittest_dev_initialised_from_config);
	RUN_DEV(pci_hostbridge_ids_via_cf8_and_ecam);
	RUN_DEV(pci_amd_hostbridge_ids);
	RUN_DEV(pci_lpc_ids);
	RUN_DEV(pci_empty_slot_reads_all_ones);
	RUN_DEV(pci_vendor_and_device_ids_read_only);
	RUN_DEV(pci_lpc_pirq_registers_read_back_masked);
	RUN_DEV(pci_bar_sizing_returns_size_mask);
	RUN_DEV(pci_bar_accesses_reach_device);
	RUN_DEV(pci_io_bar_access_past_end_not_delivered);
	RUN_DEV(pci_bar_move_changes_where_accesses_go);
	RUN_DEV(pci_bar_moved_onto_other_range_is_not_decoded);
	RUN_DEV(pci_command_decode_bits_gate_delivery);
	RUN_DEV(pci_command_byte_writes_touch_only_their_byte);
	RUN_DEV(pci_capability_list_has_msi_and_msix);
	RUN_DEV(pci_msi_delivers_programmed_message);
	RUN_DEV(pci_msix_table_programmed_through_bar_delivers);
	RUN_DEV(pci_msix_masked_entry_sets_pba_then_delivers_on_unmask);
	RUN_DEV(pci_intx_raises_ioapic_and_routed_pic_line);
	RUN_DEV(pci_rom_bar_sizes_enables_and_reads_back);
}
