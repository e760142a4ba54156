/* QEMU's fw_cfg (ports 0x510/0x511, DMA at 0x514) as a guest firmware sees it,
 * and bhyve's fwctl protocol through its port handler. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_vmmapi.h"
#include "fwcfg.h"
#include "fwctl.h"
#include "test.h"

#define SEL		0x510
#define DATA		0x511
#define DMA_HI		0x514
#define DMA_LO		0x518

#define DMA_ERROR	0x01
#define DMA_READ	0x02
#define DMA_SKIP	0x04
#define DMA_SELECT	0x08
#define DMA_WRITE	0x10

#define FILE_A		"opt/test/before-init"
#define FILE_B		"opt/test/after-init"
static const char data_a[] = "firmware item A";	/* 15 bytes without the NUL */
static const uint8_t data_b[3] = { 0xde, 0xad, 0x01 };
static bool fwcfg_ready;

static void select_key(uint16_t key)
{
	port_out(SEL, 2, key);
}

static uint8_t data_in(void)
{
	return (uint8_t)port_in(DATA, 1);
}

static uint64_t read_le(int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)data_in() << (8 * i);
	return v;
}

static uint64_t read_be(int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | data_in();
	return v;
}

/* Looks a file up in the directory through the ports: its selector, or -1. */
static int find_file(const char *name, uint32_t *size)
{
	uint32_t count;

	select_key(0x19);
	count = (uint32_t)read_be(4);
	for (uint32_t i = 0; i < count && i < 1024; i++) {
		uint32_t sz = (uint32_t)read_be(4);
		uint16_t sel = (uint16_t)read_be(2);
		char n[56];

		read_be(2);
		for (int j = 0; j < 56; j++)
			n[j] = (char)data_in();
		n[55] = '\0';
		if (strcmp(n, name) == 0) {
			*size = sz;
			return sel;
		}
	}
	return -1;
}

static void fwcfg_signature_reads_qemu_byte_by_byte(void)
{
	char sig[5] = { 0 };

	REQUIRE(fwcfg_ready);
	select_key(0x0000);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)data_in();
	CHECK_STR(sig, "QEMU");
	CHECK_EQ(data_in(), 0);			/* past the end */
	select_key(0x0000);			/* selecting again starts over */
	CHECK_EQ(data_in(), 'Q');
	select_key(0x4000);			/* the write channel reads the same item */
	CHECK_EQ(data_in(), 'Q');
}

static void fwcfg_id_announces_dma(void)
{
	REQUIRE(fwcfg_ready);
	select_key(0x0001);
	CHECK_EQ(read_le(4), 0x3);		/* traditional interface and DMA */
}

static void fwcfg_cpu_count_and_ram_size(void)
{
	REQUIRE(fwcfg_ready);
	select_key(0x0005);
	CHECK_EQ(read_le(2), 2);
	select_key(0x000f);
	CHECK_EQ(read_le(2), 2);
	select_key(0x0003);
	CHECK_EQ(read_le(8), FX_LOWMEM + FX_HIGHMEM);
	select_key(FWCFG_NOGRAPHIC);
	CHECK_EQ(read_le(2), 1);
}

static void fwcfg_unknown_key_reads_zero(void)
{
	REQUIRE(fwcfg_ready);
	select_key(0x1234);
	CHECK_EQ(read_le(8), 0);
	select_key(0x0020 + 200);		/* a file slot nobody used */
	CHECK_EQ(read_le(4), 0);
}

static void fwcfg_ports_take_only_their_widths(void)
{
	uint64_t v = 0x55;

	REQUIRE(fwcfg_ready);
	CHECK_EQ(port_rc(false, DATA, 2, &v), -1);
	CHECK_EQ(port_rc(false, DATA, 4, &v), -1);
	CHECK_EQ(port_rc(true, SEL, 1, &v), -1);
	CHECK_EQ(port_rc(true, SEL, 4, &v), -1);
	/* Data-port writes are ignored, as QEMU has done since 2.4. */
	select_key(0x0000);
	v = 'X';
	CHECK_EQ(port_rc(true, DATA, 1, &v), 0);
	CHECK_EQ(data_in(), 'Q');
}

static void fwcfg_directory_lists_files_in_order(void)
{
	char name[57] = { 0 };

	REQUIRE(fwcfg_ready);
	select_key(0x0019);
	CHECK_EQ(read_be(4), 2);
	CHECK_EQ(read_be(4), sizeof(data_a) - 1);
	CHECK_EQ(read_be(2), 0x0020);
	CHECK_EQ(read_be(2), 0);
	for (int i = 0; i < 56; i++)
		name[i] = (char)data_in();
	CHECK_STR(name, FILE_A);
	CHECK_EQ(read_be(4), sizeof(data_b));
	CHECK_EQ(read_be(2), 0x0021);
	CHECK_EQ(read_be(2), 0);
	for (int i = 0; i < 56; i++)
		name[i] = (char)data_in();
	CHECK_STR(name, FILE_B);
	CHECK_EQ(data_in(), 0);
}

static void fwcfg_file_reads_its_bytes_then_zeros(void)
{
	uint32_t size = 0;
	int sel = find_file(FILE_A, &size);
	char got[sizeof(data_a)] = { 0 };

	REQUIRE(fwcfg_ready);
	REQUIRE(sel >= 0x20);
	CHECK_EQ(size, sizeof(data_a) - 1);
	select_key((uint16_t)sel);
	for (size_t i = 0; i < sizeof(data_a) - 1; i++)
		got[i] = (char)data_in();
	CHECK_STR(got, data_a);
	CHECK_EQ(read_le(8), 0);
	select_key(0x0021);
	CHECK_EQ(read_le(3), 0x01adde);
	CHECK_EQ(data_in(), 0);
}

/* Fake guest RAM for the DMA tests: [0, DMA_RAM) backed by a buffer. */
#define DMA_RAM		0x10000
#define ACC_GPA		0x1000
#define BUF_GPA		0x2000
static uint8_t *ram;

static void ram_on(void)
{
	ram = calloc(1, DMA_RAM);
	if (ram != NULL)
		fake_vm_set_ram(fx_ctx, ram, DMA_RAM);
}

static void ram_off(void)
{
	fake_vm_set_ram(fx_ctx, NULL, 0);
	free(ram);
	ram = NULL;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes the access structure at ACC_GPA and starts it as Linux and OVMF do:
 * the high half of its address, then the low half (both big-endian). */
static uint32_t dma(uint32_t control, uint32_t length, uint64_t addr)
{
	put_be(ram + ACC_GPA, control, 4);
	put_be(ram + ACC_GPA + 4, length, 4);
	put_be(ram + ACC_GPA + 8, addr, 8);
	port_out(DMA_HI, 4, __builtin_bswap32(0));
	port_out(DMA_LO, 4, __builtin_bswap32(ACC_GPA));
	return get_be32(ram + ACC_GPA);
}

static void fwcfg_dma_signature_register(void)
{
	REQUIRE(fwcfg_ready);
	/* "QEMU CFG" as a big-endian 64-bit register. */
	CHECK_EQ(port_in(DMA_HI, 4), __builtin_bswap32(0x51454d55));
	CHECK_EQ(port_in(DMA_LO, 4), __builtin_bswap32(0x20434647));
	CHECK_EQ(port_in(DMA_HI, 1), 'Q');
}

static void fwcfg_dma_select_and_read_a_file(void)
{
	REQUIRE(fwcfg_ready);
	ram_on();
	REQUIRE(ram != NULL);
	memset(ram + BUF_GPA, 0xaa, 64);
	CHECK_EQ(dma(0x0020u << 16 | DMA_SELECT | DMA_READ, 20, BUF_GPA), 0);
	CHECK(memcmp(ram + BUF_GPA, data_a, sizeof(data_a) - 1) == 0);
	for (int i = 15; i < 20; i++)
		CHECK_EQ(ram[BUF_GPA + i], 0);		/* past the end: zeros */
	CHECK_EQ(ram[BUF_GPA + 20], 0xaa);		/* and no further */
	/* The item's offset moved to its end: the data port reads 0. */
	CHECK_EQ(data_in(), 0);
	/* Only the low half written, as SeaBIOS does: the high half is 0. */
	put_be(ram + ACC_GPA, 0x0000u << 16 | DMA_SELECT | DMA_READ, 4);
	put_be(ram + ACC_GPA + 4, 4, 4);
	put_be(ram + ACC_GPA + 8, BUF_GPA, 8);
	port_out(DMA_LO, 4, __builtin_bswap32(ACC_GPA));
	CHECK_EQ(get_be32(ram + ACC_GPA), 0);
	CHECK(memcmp(ram + BUF_GPA, "QEMU", 4) == 0);
	ram_off();
}

static void fwcfg_dma_skip_then_read(void)
{
	REQUIRE(fwcfg_ready);
	ram_on();
	REQUIRE(ram != NULL);
	CHECK_EQ(dma(0x0020u << 16 | DMA_SELECT | DMA_SKIP, 9, 0), 0);
	CHECK_EQ(dma(DMA_READ, 6, BUF_GPA), 0);
	CHECK(memcmp(ram + BUF_GPA, "item A", 6) == 0);
	/* Skipping past the end stops there; a control word of 0 does nothing. */
	CHECK_EQ(dma(0x0021u << 16 | DMA_SELECT | DMA_SKIP, 100, 0), 0);
	CHECK_EQ(dma(0, 100, 8ULL << 30), 0);
	CHECK_EQ(data_in(), 0);
	ram_off();
}

static void fwcfg_dma_bad_address_sets_error_bit(void)
{
	REQUIRE(fwcfg_ready);
	ram_on();
	REQUIRE(ram != NULL);
	/* Beyond the fake RAM, and beyond the VM's memory altogether. */
	CHECK_EQ(dma(0x0020u << 16 | DMA_SELECT | DMA_READ, 16, DMA_RAM - 8), DMA_ERROR);
	CHECK_EQ(dma(0x0020u << 16 | DMA_SELECT | DMA_READ, 16, 1ULL << 40), DMA_ERROR);
	CHECK_EQ(dma(0x0020u << 16 | DMA_SELECT | DMA_READ, 0xffffffff, BUF_GPA), DMA_ERROR);
	CHECK_EQ(dma(0x0020u << 16 | DMA_SELECT | DMA_READ, 16, ~0ULL - 4), DMA_ERROR);
	/* Writes are refused: every item is read-only. */
	CHECK_EQ(dma(0x0020u << 16 | DMA_SELECT | DMA_WRITE, 4, BUF_GPA), DMA_ERROR);
	/* An access structure outside RAM is not touched (nowhere to report). */
	port_out(DMA_HI, 4, __builtin_bswap32(0x100));
	port_out(DMA_LO, 4, __builtin_bswap32(0));
	port_out(DMA_HI, 4, __builtin_bswap32(0));
	port_out(DMA_LO, 4, __builtin_bswap32(DMA_RAM - 8));
	CHECK_EQ(port_rc(true, DMA_HI + 1, 4, &(uint64_t){ 0 }), -1);
	ram_off();
}

/* vm_map_gpa also hands out the boot ROM, which the host maps read-only: a DMA
 * aimed there must fail in the guest, not fault in the VMM. In a child, so a
 * fault is a failure here rather than the end of the run. */
static void dma_into_rom_child(void *arg)
{
	const uint64_t rom_gpa = 0xd0000000;
	void *rom = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)arg;
	ram_on();
	if (rom == MAP_FAILED || ram == NULL ||
	    vm_map_host_memory(fx_ctx, rom_gpa, rom, 4096, true) != 0)
		_exit(CHILD_WRONG);
	if (dma(0x0020u << 16 | DMA_SELECT | DMA_READ, 16, rom_gpa) != DMA_ERROR)
		_exit(CHILD_WRONG);
	/* The access structure itself in the ROM: its result cannot be written. */
	port_out(DMA_LO, 4, __builtin_bswap32((uint32_t)rom_gpa));
}

static void fwcfg_dma_into_readonly_rom_is_refused(void)
{
	char why[160];
	int st;

	REQUIRE(fwcfg_ready);
	st = run_in_child(dma_into_rom_child, NULL, false);
	CHECK_MSG(child_ok(st, why, sizeof(why)), "%s", why);
}

static void fwcfg_add_file_refuses_duplicates_and_bad_names(void)
{
	char longname[64];
	uint32_t size = 0;

	REQUIRE(fwcfg_ready);
	CHECK_EQ(fwcfg_add_file(FILE_A, "x", 1), -1);
	CHECK_EQ(fwcfg_add_file("", "x", 1), -1);
	memset(longname, 'n', sizeof(longname));
	longname[56] = '\0';
	CHECK_EQ(fwcfg_add_file(longname, "x", 1), -1);
	longname[55] = '\0';
	CHECK_EQ(fwcfg_add_file(longname, "x", 1), 0);
	CHECK_EQ(find_file(longname, &size), 0x22);
	CHECK_EQ(size, 1);
	/* The directory and file slots are not items anyone may set. */
	CHECK_EQ(fwcfg_add_item(0x0019, "x", 1), -1);
	CHECK_EQ(fwcfg_add_item(0x0020, "x", 1), -1);
	CHECK_EQ(fwcfg_add_item(0x4005, "x", 1), -1);
}

static void fwcfg_add_item_replaces(void)
{
	REQUIRE(fwcfg_ready);
	CHECK_EQ(fwcfg_add_item(0x8003, "abcd", 4), 0);
	select_key(0x8003);
	CHECK_EQ(read_le(4), 0x64636261);
	CHECK_EQ(fwcfg_add_item(0x8003, "xy", 2), 0);
	select_key(0x8003);
	CHECK_EQ(read_le(4), 0x7978);
}

static void fwcfg_user_file_from_string_and_file(void)
{
	uint32_t size = 0;
	char *path;
	char spec[128];
	int sel;

	REQUIRE(fwcfg_ready);
	CHECK_EQ(fwcfg_add_user_file("opt/com.example/str,string=hello,world"), 0);
	sel = find_file("opt/com.example/str", &size);
	CHECK(sel > 0);
	CHECK_EQ(size, 11);				/* no NUL, commas kept */
	select_key((uint16_t)sel);
	CHECK_EQ(read_be(4), 0x68656c6c);		/* "hell" */

	path = make_temp_file(5000, 7);
	REQUIRE(path != NULL);
	snprintf(spec, sizeof(spec), "opt/com.example/file,file=%s", path);
	CHECK_EQ(fwcfg_add_user_file(spec), 0);
	sel = find_file("opt/com.example/file", &size);
	CHECK(sel > 0);
	CHECK_EQ(size, 5000);
	select_key((uint16_t)sel);
	for (int i = 0; i < 5000; i++) {
		uint8_t b = data_in();

		if (b != (uint8_t)(7 + i * 7)) {
			CHECK_MSG(false, "byte %d of the file is 0x%02x", i, b);
			break;
		}
	}
	CHECK_EQ(data_in(), 0);
	unlink(path);
	free(path);
}

static void fwcfg_user_file_refuses_malformed_specs(void)
{
	static const char *const bad[] = {
		"opt/x", ",string=abc", "opt/x,", "opt/x,string=", "opt/x,file=", "opt/x,foo=bar",
		"opt/x,strin=abc", "opt/x,file=/nonexistent/fwcfg-unit", "opt/x,file=/tmp",
		"opt/com.example/str,string=again",
		"opt/a-name-that-is-far-too-long-for-the-fw-cfg-directory-entry,string=x",
	};

	REQUIRE(fwcfg_ready);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(fwcfg_add_user_file(bad[i]) == -1, "\"%s\" was accepted", bad[i]);
}

/* ---- fwctl, through its port handler (fw_cfg holds the ports here) ---- */

static uint32_t ctl_inl(void)
{
	uint64_t v = 0;

	fwctl_io(false, 0x511, 4, &v);
	return (uint32_t)v;
}

static void ctl_outl(uint32_t w)
{
	uint64_t v = w;

	fwctl_io(true, 0x510, 4, &v);
}

static uint8_t ctl_inb(void)
{
	uint64_t v = 0;

	fwctl_io(false, 0x511, 1, &v);
	return (uint8_t)v;
}

static void ctl_ident(void)
{
	uint64_t v = 0;

	fwctl_io(true, 0x510, 2, &v);
	for (int i = 0; i < 4; i++)
		ctl_inb();
}

/* A request with a name, sent as a guest does: the length counts the NUL. */
static void ctl_request(uint32_t op, uint32_t txid, const char *name)
{
	uint32_t len = (uint32_t)strlen(name) + 1;
	uint8_t buf[128] = { 0 };

	memcpy(buf, name, len);
	ctl_outl(12 + len);
	ctl_outl(op);
	ctl_outl(txid);
	for (uint32_t i = 0; i < len; i += 4)
		ctl_outl((uint32_t)buf[i] | (uint32_t)buf[i + 1] << 8 |
		    (uint32_t)buf[i + 2] << 16 | (uint32_t)buf[i + 3] << 24);
}

static void fwctl_handshake_then_get_hw_ncpu(void)
{
	uint64_t v = 1;
	char sig[5] = { 0 };

	fwctl_setup(3);
	CHECK_EQ(ctl_inb(), 0xff);			/* no signature before asking */
	fwctl_io(true, 0x510, 2, &v);			/* not 0: nothing */
	CHECK_EQ(ctl_inb(), 0xff);
	v = 0;
	CHECK_EQ(fwctl_io(true, 0x510, 2, &v), 0);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)ctl_inb();
	CHECK_STR(sig, "BHYV");
	CHECK_EQ(ctl_inb(), 0xff);
	CHECK_EQ(ctl_inl(), 0xffffffff);		/* no response before a request */

	ctl_request(3, 0x1234, "hw.ncpu");		/* OP_GET */
	CHECK_EQ(ctl_inl(), 16 + 12);
	CHECK_EQ(ctl_inl(), 3);
	CHECK_EQ(ctl_inl(), 0x1234);
	CHECK_EQ(ctl_inl(), 0);				/* no error */
	CHECK_EQ(ctl_inl(), 4);				/* the value's length, 64 bits */
	CHECK_EQ(ctl_inl(), 0);
	CHECK_EQ(ctl_inl(), 3);				/* the value */
	CHECK_EQ(ctl_inl(), 0xffffffff);		/* done */

	ctl_request(4, 5, "hw.ncpu");			/* OP_GET_LEN */
	CHECK_EQ(ctl_inl(), 16 + 8);
	CHECK_EQ(ctl_inl(), 4);
	CHECK_EQ(ctl_inl(), 5);
	CHECK_EQ(ctl_inl(), 0);
	CHECK_EQ(ctl_inl(), 4);
	CHECK_EQ(ctl_inl(), 0);
	CHECK_EQ(ctl_inl(), 0xffffffff);
}

static void fwctl_unknown_nodes_and_ops_answer_errors(void)
{
	fwctl_setup(2);
	ctl_ident();
	ctl_request(3, 1, "hw.nope");
	CHECK_EQ(ctl_inl(), 16);
	CHECK_EQ(ctl_inl(), 3);
	CHECK_EQ(ctl_inl(), 1);
	CHECK_EQ(ctl_inl(), 2);				/* ENOENT */
	ctl_request(3, 2, "hw.ncpu.x");			/* no prefix matches */
	CHECK_EQ(ctl_inl(), 16);
	ctl_inl();
	ctl_inl();
	CHECK_EQ(ctl_inl(), 2);
	ctl_request(5, 3, "hw.ncpu");			/* OP_SET: not offered */
	CHECK_EQ(ctl_inl(), 16);
	CHECK_EQ(ctl_inl(), 5);
	CHECK_EQ(ctl_inl(), 3);
	CHECK_EQ(ctl_inl(), 2);
	/* A name longer than 80 bytes: E2BIG, once all its words are in. */
	ctl_outl(12 + 100);
	ctl_outl(3);
	ctl_outl(4);
	for (int i = 0; i < 24; i++)
		ctl_outl(0x41414141);
	CHECK_EQ(ctl_inl(), 0xffffffff);		/* one word still to come */
	ctl_outl(0);
	CHECK_EQ(ctl_inl(), 16);
	ctl_inl();
	CHECK_EQ(ctl_inl(), 4);
	CHECK_EQ(ctl_inl(), 7);				/* E2BIG */
	/* A header-only request (no data) is answered at once. */
	ctl_outl(12);
	ctl_outl(1);					/* OP_NULL */
	ctl_outl(9);
	CHECK_EQ(ctl_inl(), 16);
	CHECK_EQ(ctl_inl(), 1);
	CHECK_EQ(ctl_inl(), 9);
	CHECK_EQ(ctl_inl(), 2);
	/* A size below the header is not a request. */
	ctl_outl(4);
	CHECK_EQ(ctl_inl(), 0xffffffff);
}

static void fwctl_reset_mid_request_restarts(void)
{
	uint64_t v = 0;
	char sig[5] = { 0 };

	fwctl_setup(4);
	ctl_ident();
	ctl_outl(12 + 8);
	ctl_outl(3);
	fwctl_io(true, 0x510, 2, &v);			/* the guest starts over */
	for (int i = 0; i < 4; i++)
		sig[i] = (char)ctl_inb();
	CHECK_STR(sig, "BHYV");
	ctl_request(3, 77, "hw.ncpu");
	CHECK_EQ(ctl_inl(), 28);
	ctl_inl();
	CHECK_EQ(ctl_inl(), 77);
	CHECK_EQ(ctl_inl(), 0);
	ctl_inl();
	ctl_inl();
	CHECK_EQ(ctl_inl(), 4);
	/* Accesses outside the protocol are refused. */
	CHECK_EQ(fwctl_io(false, 0x510, 1, &v), -1);
	CHECK_EQ(fwctl_io(false, 0x511, 2, &v), -1);
	CHECK_EQ(fwctl_io(true, 0x511, 1, &v), -1);
}

static void fwctl_init_refuses_ports_fwcfg_holds(void)
{
	REQUIRE(fwcfg_ready);
	CHECK_EQ(fwctl_init(2), -1);
}

void suite_fwcfg(void)
{
	/* Files may come before and after fwcfg_init: one of each. */
	if (fx_ready) {
		fwcfg_ready = fwcfg_add_file(FILE_A, data_a, sizeof(data_a) - 1) == 0 &&
		    fwcfg_init(fx_ctx, 2) == 0 &&
		    fwcfg_add_file(FILE_B, data_b, sizeof(data_b)) == 0;
	}
	RUN_DEV(fwcfg_signature_reads_qemu_byte_by_byte);
	RUN_DEV(fwcfg_id_announces_dma);
	RUN_DEV(fwcfg_cpu_count_and_ram_size);
	RUN_DEV(fwcfg_unknown_key_reads_zero);
	RUN_DEV(fwcfg_ports_take_only_their_widths);
	RUN_DEV(fwcfg_directory_lists_files_in_order);
	RUN_DEV(fwcfg_file_reads_its_bytes_then_zeros);
	RUN_DEV(fwcfg_dma_signature_register);
	RUN_DEV(fwcfg_dma_select_and_read_a_file);
	RUN_DEV(fwcfg_dma_skip_then_read);
	RUN_DEV(fwcfg_dma_bad_address_sets_error_bit);
	RUN_DEV(fwcfg_dma_into_readonly_rom_is_refused);
	RUN_DEV(fwcfg_add_file_refuses_duplicates_and_bad_names);
	RUN_DEV(fwcfg_add_item_replaces);
	RUN_DEV(fwcfg_user_file_from_string_and_file);
	RUN_DEV(fwcfg_user_file_refuses_malformed_specs);
	RUN(fwctl_handshake_then_get_hw_ncpu);
	RUN(fwctl_unknown_nodes_and_ops_answer_errors);
	RUN(fwctl_reset_mid_request_restarts);
	RUN_DEV(fwctl_init_refuses_ports_fwcfg_holds);
}
