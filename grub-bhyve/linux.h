/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), as a planner:
 * reads a bzImage's setup header and, for a guest's e820 map, decides where the
 * protected-mode kernel, the command line, boot_params (the zero page) and the
 * initrds go, builds the zero page, the GDT and (for the 64-bit entry) the
 * identity page tables, and says how the vCPU starts. What it produces is a
 * list of (guest address, bytes) writes; handing them to a VM is not here. */
#ifndef GB_LINUX_H
#define GB_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GB_E820_RAM		1
#define GB_E820_RESERVED	2
#define GB_E820_MAX		128

struct gb_e820 {
	uint64_t addr, len;
	uint32_t type;
};

/* bhyve's guest RAM as the guest is told: RAM from 0 to 640 KiB less the EBDA
 * (0x9FC00), reserved EBDA and BIOS area, RAM from 1 MiB to the top of low
 * memory (at most 3 GiB), KVM's reserved pages below 4 GiB, the rest of
 * memsize from 4 GiB. Returns the number of entries (at most 6). */
size_t gb_e820_bhyve(uint64_t memsize, struct gb_e820 *map, size_t max);

struct gb_bzimage {
	uint8_t setup_sects;		/* 0 read as 4 */
	uint16_t version;		/* 0x020f is 2.15 */
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t code32_start, initrd_addr_max, kernel_alignment, cmdline_size, init_size;
	bool relocatable;
	uint64_t pref_address;
	size_t hdr_end;			/* the setup header ends here (0x202 + byte 0x201) */
	size_t kernel_off, kernel_len;	/* the protected-mode kernel in the file */
};

#define GB_XLF_KERNEL_64	0x1
#define GB_LOADED_HIGH		0x1

/* 0, or -1 with a message: not a bzImage, protocol older than 2.06, a header
 * that does not fit in the file. */
int gb_bzimage_parse(const uint8_t *img, size_t len, struct gb_bzimage *h, char *err,
    size_t errlen);

/* Fixed low-memory places the planner uses (all below 0x9FC00). */
#define GB_GDT_ADDR	0x5000ULL
#define GB_ZP_ADDR	0x7000ULL
#define GB_PML4_ADDR	0x9000ULL	/* then a PDPT and four page directories */
#define GB_CMDLINE_ADDR	0x20000ULL
#define GB_CMDLINE_MAX	0x10000U

struct gb_write {
	uint64_t gpa;
	const uint8_t *data;
	size_t len;
};

struct gb_initrd {
	const uint8_t *data;
	size_t len;
};

#define GB_MAX_INITRDS	8

struct gb_plan {
	struct gb_bzimage hdr;
	uint64_t kernel_addr, initrd_addr, initrd_size;
	struct gb_write w[8 + GB_MAX_INITRDS];
	int nw;
	/* The vCPU's start. */
	bool entry64;
	uint64_t rip, rsi, cr0, cr3, cr4, efer, gdt_base;
	uint16_t gdt_limit, cs, ds;
	/* Bytes the writes point into (the kernel and the initrds stay the caller's). */
	uint8_t zero_page[4096];
	uint8_t gdt[32];
	uint8_t pt[6 * 4096];
	char cmdline[GB_CMDLINE_MAX];
};

/* Plans kernel (a bzImage of klen bytes) with cmdline and n initrds (placed one
 * after the other, each at a 4-byte boundary, as one block) into a guest whose
 * memory is map. 0, or -1 with a message in err (nothing fits, the command line
 * is too long, ...). The plan points into kernel and the initrds. */
int gb_linux_plan(const uint8_t *kernel, size_t klen, const char *cmdline,
    const struct gb_initrd *initrds, int n, const struct gb_e820 *map, size_t nmap,
    struct gb_plan *p, char *err, size_t errlen);

/* Carries out the writes into mem, a buffer standing for guest memory from
 * address 0 (tests); -1 when one falls outside it. */
int gb_plan_apply(const struct gb_plan *p, uint8_t *mem, size_t memlen);

#endif
