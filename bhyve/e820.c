/* The guest's memory map as QEMU's fw_cfg file "etc/e820" gives it to
 * SeaBIOS and OVMF: packed little-endian entries of {u64 address, u64 length,
 * u32 type}. As QEMU does, RAM is listed whole from 0 (the firmware carves out
 * the 640 KiB - 1 MiB hole and its own areas itself). */
#include <string.h>

#include "firmware.h"
#include "fwcfg.h"
#include "util.h"
#include "vmmapi.h"

#define E820_ENTRY_SIZE	20
#define E820_MAX	4
#define E820_RAM	1
#define E820_RESERVED	2

static size_t add(uint8_t *buf, size_t n, size_t max, uint64_t addr, uint64_t len,
    uint32_t type)
{
	if (len == 0 || n >= max)
		return n;
	le_put(buf + n * E820_ENTRY_SIZE, addr, 8);
	le_put(buf + n * E820_ENTRY_SIZE + 8, len, 8);
	le_put(buf + n * E820_ENTRY_SIZE + 16, type, 4);
	return n + 1;
}

/* Writes up to max entries (max * 20 bytes) of the map to buf, in address
 * order, and returns how many. */
size_t e820_build(struct vmctx *ctx, uint8_t *buf, size_t max)
{
	uint64_t low = vm_get_lowmem_size(ctx), high = vm_get_highmem_size(ctx);
	uint64_t rsvd, rsvd_len;
	size_t n = 0;

	/* What the hypervisor keeps for itself (KVM's identity map and TSS). */
	vm_get_reserved_range(ctx, &rsvd, &rsvd_len);
	n = add(buf, n, max, 0, low, E820_RAM);
	n = add(buf, n, max, rsvd, rsvd_len, E820_RESERVED);
	n = add(buf, n, max, VM_HIGHMEM_BASE, high, E820_RAM);
	return n;
}

int e820_install_fwcfg(struct vmctx *ctx)
{
	uint8_t buf[E820_MAX * E820_ENTRY_SIZE];
	size_t n;

	memset(buf, 0, sizeof(buf));
	n = e820_build(ctx, buf, E820_MAX);
	return fwcfg_add_file("etc/e820", buf, n * E820_ENTRY_SIZE);
}
