/* The PCI core: slots, configuration space, BARs, INTx, MSI and MSI-X. */
#ifndef PCI_EMUL_H
#define PCI_EMUL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct vmctx;
struct pci_devinst;

#define MAXBUSES	256
#define MAXSLOTS	32
#define MAXFUNCS	8
#define PCI_BARMAX	5
#define PCI_CFG_SIZE	4096

/* bhyve's windows for BARs and the ECAM region. */
#define PCI_IOBASE	0x2000
#define PCI_IOLIMIT	0x10000
#define PCI_MEMBASE32	0xC0000000ULL
#define PCI_MEMLIMIT32	0xE0000000ULL
#define PCI_ECAM_BASE	0xE0000000ULL
#define PCI_ECAM_SIZE	(256ULL << 20)
/* Where ECAM decodes now (0 when off), and moving it: base 0 turns it off;
 * -1 when base is not 256 MiB aligned or overlaps another range. */
uint64_t pci_ecam_base(void);
int pci_ecam_move(uint64_t base);
#define PCI_MEMSIZE64	(32ULL << 30)

struct pci_devemu {
	const char *pe_emu;
	/* node is the device's config node, "pci.B.S.F". */
	int (*pe_init)(struct pci_devinst *pi, const char *node);
	/* Turns the -s option string into keys under node; NULL: generic key=value. */
	int (*pe_legacy_config)(const char *node, const char *opts);
	/* Return 0 when the device handled the access, 1 for the core's default. */
	int (*pe_cfgwrite)(struct pci_devinst *pi, int off, int bytes, uint32_t val);
	int (*pe_cfgread)(struct pci_devinst *pi, int off, int bytes, uint32_t *val);
	void (*pe_barwrite)(struct pci_devinst *pi, int baridx, uint64_t off, int size, uint64_t val);
	uint64_t (*pe_barread)(struct pci_devinst *pi, int baridx, uint64_t off, int size);
	const char *pe_alias;	/* registered name of an equivalent emulation */
	/* Its name in firmware boot paths ("/pci@i0cf8/NAME@slot"); NULL for a
	 * device that cannot be booted from (bootindex= is then refused). */
	const char *pe_fwname;
	/* Boot devices behind the function (an AHCI port each): calls add with
	 * each one's bootindex value and its path below the function
	 * ("/drive@1/disk@0"). NULL: the function's own "bootindex" key. */
	int (*pe_bootdevs)(struct pci_devinst *pi, const char *node,
	    int (*add)(void *arg, const char *index, const char *suffix), void *arg);
	/* Stops the threads the device started (its block backends' workers, its
	 * transmit thread) and closes those backends; NULL where it starts none.
	 * bhyve itself exits without calling it; the unit tests call it so that
	 * no thread outlives the test that made the device. */
	void (*pe_deinit)(struct pci_devinst *pi);
	/* The keys its node may hold besides "device" and "bootindex" (which the
	 * firmware's boot order reads), NULL-terminated; the core refuses any other by name before
	 * pe_init. NULL: the device checks its keys itself. */
	const char *const *pe_keys;
};
#define PCI_EMUL_SET(x) DATA_SET(pci_devemu_set, x)

enum pcibar_type { PCIBAR_NONE, PCIBAR_IO, PCIBAR_MEM32, PCIBAR_MEM64, PCIBAR_MEMHI64 };

struct pcibar {
	enum pcibar_type type;
	uint64_t addr;
	uint64_t size;
	bool registered;
	bool prefetch;		/* a memory BAR marked prefetchable */
};

struct msix_entry {
	uint64_t addr;
	uint32_t data;
	uint32_t vector_control;
	int irqfd;		/* KVM irqfd carrying this vector; -1: none yet */
	int gsi;		/* its route */
};

struct pci_devinst {
	const struct pci_devemu *pi_d;
	struct vmctx *pi_vmctx;
	uint8_t pi_bus, pi_slot, pi_func;
	char pi_name[48];
	pthread_mutex_t pi_lock;	/* guards the interrupt state below */
	struct {
		int pin;		/* 1..4 = INTA..INTD, 0 = none */
		int pirq_pin;		/* 1..8 */
		int ioapic_irq;
		bool asserted;
	} pi_lintr;
	struct {
		int capoff;
		bool enabled;
		uint64_t addr;
		uint16_t msg_data;
		int maxmsgnum;
	} pi_msi;
	struct {
		int capoff;
		bool enabled;
		bool function_mask;
		int table_bar, pba_bar;
		uint32_t table_offset, pba_offset;
		int table_count;
		struct msix_entry *table;
		uint64_t *pba;
		bool irqfd_off;		/* no irqfds (no irqchip, or refused): KVM_SIGNAL_MSI */
	} pi_msix;
	void *pi_arg;
	/* Called (under the config lock) after a BAR starts or stops decoding at an
	 * address; the virtio transport follows its notify registers with it. */
	void (*pi_bar_moved)(struct pci_devinst *pi, int idx);
	int pi_prevcap, pi_capend;
	struct pcibar pi_bar[PCI_BARMAX + 1];
	/* The expansion ROM (config 0x30): a read-only image that decodes where the
	 * BAR points while its enable bit and memory decoding are both on. */
	struct {
		uint8_t *image;		/* size bytes: the file, padded with zeros */
		uint64_t size;		/* a power of two, at least 2 KiB; 0: no ROM */
		uint64_t addr;
		bool registered;
	} pi_rom;
	uint8_t pi_cfgdata[PCI_CFG_SIZE];
};

static inline uint8_t pci_get_cfgdata8(struct pci_devinst *pi, int off)
{
	return pi->pi_cfgdata[off];
}
static inline uint16_t pci_get_cfgdata16(struct pci_devinst *pi, int off)
{
	return (uint16_t)(pi->pi_cfgdata[off] | pi->pi_cfgdata[off + 1] << 8);
}
static inline uint32_t pci_get_cfgdata32(struct pci_devinst *pi, int off)
{
	return pci_get_cfgdata16(pi, off) | (uint32_t)pci_get_cfgdata16(pi, off + 2) << 16;
}
static inline void pci_set_cfgdata8(struct pci_devinst *pi, int off, uint8_t v)
{
	pi->pi_cfgdata[off] = v;
}
static inline void pci_set_cfgdata16(struct pci_devinst *pi, int off, uint16_t v)
{
	pi->pi_cfgdata[off] = (uint8_t)v;
	pi->pi_cfgdata[off + 1] = (uint8_t)(v >> 8);
}
static inline void pci_set_cfgdata32(struct pci_devinst *pi, int off, uint32_t v)
{
	pci_set_cfgdata16(pi, off, (uint16_t)v);
	pci_set_cfgdata16(pi, off + 2, (uint16_t)(v >> 16));
}

/* Standard config-space offsets. */
#define PCIR_VENDOR	0x00
#define PCIR_DEVICE	0x02
#define PCIR_COMMAND	0x04
#define PCIR_STATUS	0x06
#define PCIR_REVID	0x08
#define PCIR_PROGIF	0x09
#define PCIR_SUBCLASS	0x0a
#define PCIR_CLASS	0x0b
#define PCIR_HDRTYPE	0x0e
#define PCIR_BAR(x)	(0x10 + (x) * 4)
#define PCIR_SUBVEND_0	0x2c
#define PCIR_SUBDEV_0	0x2e
#define PCIR_ROM	0x30
#define PCIM_ROM_ENABLE	0x1
#define PCIR_CAP_PTR	0x34
#define PCIR_INTLINE	0x3c
#define PCIR_INTPIN	0x3d
#define PCIM_CMD_PORTEN	0x0001
#define PCIM_CMD_MEMEN	0x0002
#define PCIM_CMD_INTxDIS 0x0400
#define PCIM_STATUS_CAPPRESENT 0x0010
#define PCIM_STATUS_INTxSTATE 0x0008
#define PCIM_MFDEV	0x80
#define PCIY_MSI	0x05
#define PCIY_EXPRESS	0x10
#define PCIY_MSIX	0x11

/* -s options "a=1,b" as keys under node (b=true). */
int pci_generic_legacy_config(const char *node, const char *opts);
/* The same for "PATH[,a=1,b...]", where a first option without '=' is the
 * path key (a disk image, as virtio-blk, nvme and ahci take it). */
int pci_path_legacy_config(const char *node, const char *opts);
/* Parses one -s argument into the config tree ("pci.B.S.F.device" ...). */
int pci_parse_slot(const char *opt);
void pci_print_supported_devices(void);
/* Creates every configured device (reads pci.*), places BARs, hooks config access. */
int init_pci(struct vmctx *ctx);
struct pci_devinst *pci_find(int bus, int slot, int func);

/* Config access as 0xCF8/0xCFC and ECAM present it; missing functions read ~0. */
void pci_cfgrw(int in, int bus, int slot, int func, int coff, int bytes, uint32_t *val);

int pci_emul_alloc_bar(struct pci_devinst *pi, int idx, enum pcibar_type type, uint64_t size);
/* Marks memory BAR idx prefetchable (bit 3), as a framebuffer's is. */
int pci_emul_set_bar_prefetch(struct pci_devinst *pi, int idx);
/* Gives the function an expansion ROM holding len bytes of image (copied; the
 * BAR's size is len rounded up to a power of two, 2 KiB at least, 16 MiB at
 * most), placed in the 32-bit window but not enabled, as after reset. */
int pci_emul_add_rom(struct pci_devinst *pi, const void *image, size_t len);
/* The same from a file; -1 with one line on stderr when it cannot be read or
 * is no option ROM (no 0x55 0xAA signature). */
int pci_emul_load_rom(struct pci_devinst *pi, const char *path);
/* Stops decoding the ROM and frees its image (a device's pe_deinit, no vCPU
 * running). */
void pci_emul_free_rom(struct pci_devinst *pi);
int pci_emul_add_capability(struct pci_devinst *pi, const uint8_t *cap, int caplen);
int pci_emul_add_msicap(struct pci_devinst *pi, int msgnum);
int pci_emul_add_msixcap(struct pci_devinst *pi, int msgnum, int barnum);
int pci_emul_add_pciecap(struct pci_devinst *pi, int type);

bool pci_msi_enabled(struct pci_devinst *pi);
int pci_msi_maxmsgnum(struct pci_devinst *pi);
void pci_generate_msi(struct pci_devinst *pi, int msgnum);
bool pci_msix_enabled(struct pci_devinst *pi);
void pci_generate_msix(struct pci_devinst *pi, int index);

/* INTx through the lpc PIRQ routing and the IOAPIC. */
void pci_lintr_request(struct pci_devinst *pi);
void pci_lintr_assert(struct pci_devinst *pi);
void pci_lintr_deassert(struct pci_devinst *pi);

/* Where INTx pin (1-4 = INTA-INTD) of a bus-0 slot arrives: PIRQ 1-8 (lpc's
 * routing registers, for the PIC) and IOAPIC pin 16-23. */
int pci_intx_pirq(int slot, int pin);
int pci_intx_gsi(int slot, int pin);
/* lpc's PIRQ registers (pci_irq.c). */
void pci_irq_init(struct vmctx *ctx);
void pci_irq_reserve(int irq);
int pirq_alloc_pin(struct pci_devinst *pi);
int pirq_irq(int pin);
uint8_t pirq_read(int pin);
void pirq_write(struct vmctx *ctx, int pin, uint8_t val);
int ioapic_pci_alloc_irq(struct pci_devinst *pi);
/* An ISA IRQ line that several devices share (COM1/COM3 on 4, COM2/COM4 on 3):
 * the line is high while any of them asserts it. Call on changes only. */
void isa_irq_assert(struct vmctx *ctx, int irq);
/* A device's own line: *raised follows level, asserting or deasserting on change. */
void isa_irq_follow(struct vmctx *ctx, int irq, bool *raised, bool level);
/* IOAPIC pins 16-23, shared (counted) between PCI INTx and the HPET. */
void ioapic_pin_assert(int pin);
void ioapic_pin_deassert(int pin);
void isa_irq_deassert(struct vmctx *ctx, int irq);
void pci_irq_assert(struct pci_devinst *pi);
void pci_irq_deassert(struct pci_devinst *pi);

#endif
