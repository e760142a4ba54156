/* -l bootrom,ROM[,VARS]: firmware at the top of 4 GiB. The reset vector at
 * 0xFFFFFFF0 runs from the ROM; VARS is mapped shared, so what the guest writes
 * reaches the file and persists across runs. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bootrom.h"
#include "config.h"
#include "iodispatch.h"
#include "pflash.h"
#include "util.h"
#include "vmmapi.h"

#define BOOTROM_TOP	(1ULL << 32)
#define BOOTROM_MAX	(16ULL << 20)	/* the region bhyve reserves below 4 GiB */
#define PAGE		4096
#define LEGACY_BIOS_END	0x100000ULL
#define LEGACY_BIOS_SIZE (256 * 1024)

static bool legacy_copy;
static struct pflash *vars_flash;	/* fwcfg=qemu's variable store */

bool bootrom_in_legacy_area(void)
{
	return legacy_copy;
}

/* The guest cannot write its ROM: writes to the read-only slot land here. */
static int bootrom_write_io(void *arg, bool write, uint64_t addr, int size, uint64_t *val)
{
	(void)arg;
	(void)addr;
	(void)size;
	if (!write)
		*val = ~0ULL;
	return 0;
}

static void *map_file(const char *what, const char *path, bool writable, size_t *len)
{
	struct stat st;
	void *p;
	int fd = open_checked(what, path, writable ? O_RDWR : O_RDONLY, OPEN_REG, BOOTROM_MAX, &st);

	if (fd < 0)
		return NULL;
	if (st.st_size == 0 || st.st_size % PAGE != 0 || (uint64_t)st.st_size > BOOTROM_MAX) {
		warnx("%s %s: size %lld is not a multiple of 4 KiB up to 16 MiB", what, path,
		    (long long)st.st_size);
		close(fd);
		return NULL;
	}
	*len = (size_t)st.st_size;
	p = mmap(NULL, *len, PROT_READ | (writable ? PROT_WRITE : 0),
	    writable ? MAP_SHARED : MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		warnx("%s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	return p;
}

int bootrom_init(struct vmctx *ctx, bool fwcfg_qemu)
{
	const char *rom = get_config_value("lpc.bootrom");
	const char *vars = get_config_value("lpc.bootvars");
	size_t rom_len, vars_len = 0;
	void *rom_p, *vars_p = NULL;
	uint64_t rom_gpa;
	struct io_range r;

	legacy_copy = false;
	pflash_destroy(vars_flash);
	vars_flash = NULL;
	if (rom == NULL)
		return 0;
	rom_p = map_file("boot ROM", rom, false, &rom_len);
	if (rom_p == NULL)
		return -1;
	if (vars != NULL) {
		vars_p = map_file("boot variables", vars, true, &vars_len);
		if (vars_p == NULL)
			return -1;
		if (rom_len + vars_len > BOOTROM_MAX) {
			warnx("boot ROM and variables together exceed 16 MiB");
			return -1;
		}
	}
	rom_gpa = BOOTROM_TOP - rom_len;
	if (vm_map_host_memory(ctx, rom_gpa, rom_p, rom_len, true) != 0 ||
	    (vars_p && !fwcfg_qemu &&
	     vm_map_host_memory(ctx, rom_gpa - vars_len, vars_p, vars_len, false) != 0)) {
		warnx("boot ROM: %s", vm_errmsg());
		return -1;
	}
	/* For QEMU's firmware (fwcfg=qemu) VARS is a CFI flash chip, as QEMU's
	 * second pflash: OVMF probes for one and writes its variables through
	 * flash commands. bhyve's own firmware (fwcfg=bhyve) writes the memory. */
	if (vars_p && fwcfg_qemu) {
		vars_flash = pflash_create("bootvars", vars_p, vars_len, rom_gpa - vars_len);
		if (vars_flash == NULL)
			return -1;
	}
	/* QEMU's PCs show the ROM's last 128 KiB at 0xE0000 too. SeaBIOS then
	 * unlocks the RAM below 1 MiB through the i440FX's PAM registers and
	 * copies its image down there, up to 256 KiB (from 0xC0000), to run from
	 * it. bhyve's host bridge has no PAM registers: SeaBIOS says "Unable to
	 * unlock ram" and carries on, so for QEMU's firmware (fwcfg=qemu) the
	 * image is put there at start-up, as that copy would have left it. */
	if (fwcfg_qemu) {
		size_t n = rom_len < LEGACY_BIOS_SIZE ? rom_len : LEGACY_BIOS_SIZE;
		void *dst = vm_map_gpa(ctx, LEGACY_BIOS_END - n, n);

		if (dst == NULL) {
			warnx("boot ROM: the guest needs at least 1 MiB of RAM for the BIOS image");
			return -1;
		}
		memcpy(dst, (uint8_t *)rom_p + rom_len - n, n);
		legacy_copy = true;
	}
	r = (struct io_range){ .name = "bootrom", .base = rom_gpa, .size = rom_len,
	    .handler = bootrom_write_io, .arg = NULL };
	return register_io(IO_MMIO, &r);
}
