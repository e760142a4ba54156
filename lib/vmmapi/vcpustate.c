/* The vCPU state a loader leaves in the registry (lib/vmmapi/registry.h) and
 * bhyvectl reads back: one register a line, named as bhyvectl names them,
 * (values in hexadecimal, 0x optional)
 *   NAME VALUE                   general, control and flag registers
 *   NAME SEL BASE LIMIT ACCESS   segment registers (ACCESS in VMX layout)
 *   NAME BASE LIMIT              gdtr, idtr
 * after a "bhyve-vcpu 1" line in the file a loader writes. */
#include "vmmapi.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const names[VM_REG_LAST] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12",
	"r13", "r14", "r15", "cr0", "cr2", "cr3", "cr4", "dr7", "rsp", "rip", "rflags", "efer",
	"es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr", "idtr", "gdtr",
};

const char *vm_reg_name(int reg)
{
	return reg >= 0 && reg < VM_REG_LAST ? names[reg] : NULL;
}

int vm_reg_lookup(const char *name)
{
	for (int i = 0; i < VM_REG_LAST; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static bool is_dtable(int reg)
{
	return reg == VM_REG_GUEST_GDTR || reg == VM_REG_GUEST_IDTR;
}

static bool is_seg(int reg)
{
	return reg >= VM_REG_GUEST_ES && reg <= VM_REG_GUEST_TR;
}

/* The order registers are applied in, whatever the file's: general registers
 * and flags, then the control registers in an order where each step is a state
 * KVM accepts on the way to long mode (CR4.PAE, CR3, EFER.LME, then CR0.PG,
 * which sets EFER.LMA as the CPU does), then the descriptor tables and the
 * segments (a 64-bit CS is only valid once EFER.LMA is set). */
static int apply_rank(int reg)
{
	switch (reg) {
	case VM_REG_GUEST_CR4: return 1;
	case VM_REG_GUEST_CR3: return 2;
	case VM_REG_GUEST_EFER: return 3;
	case VM_REG_GUEST_CR0: return 4;
	default: return is_dtable(reg) ? 5 : is_seg(reg) ? 6 : 0;
	}
}

int vm_load_vcpu_state(struct vcpu *vcpu, const char *path, char *err, size_t errlen)
{
	char line[256], name[16];
	struct {
		bool set;
		int lineno;
		unsigned long long v[4];
	} st[VM_REG_LAST];
	unsigned long long a, b, c, d;
	int lineno = 0, rc = -1;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	memset(st, 0, sizeof(st));
	if (fgets(line, sizeof(line), f) == NULL || strcmp(line, "bhyve-vcpu 1\n") != 0) {
		snprintf(err, errlen, "%s: not a vCPU state file of version 1", path);
		goto out;
	}
	lineno = 1;
	while (fgets(line, sizeof(line), f) != NULL) {
		int n = sscanf(line, "%15s %llx %llx %llx %llx", name, &a, &b, &c, &d);
		int reg = n >= 2 ? vm_reg_lookup(name) : -1;
		int want = reg < 0 ? 0 : is_seg(reg) ? 5 : is_dtable(reg) ? 3 : 2;

		lineno++;
		if (reg < 0 || n != want) {
			snprintf(err, errlen, "%s line %d: expected a register and %d value(s)", path,
			    lineno, want ? want - 1 : 1);
			goto out;
		}
		st[reg].set = true;
		st[reg].lineno = lineno;
		st[reg].v[0] = a;
		st[reg].v[1] = b;
		st[reg].v[2] = c;
		st[reg].v[3] = d;
	}
	for (int rank = 0; rank <= 6; rank++)
		for (int reg = 0; reg < VM_REG_LAST; reg++) {
			const unsigned long long *v = st[reg].v;
			int r;

			if (!st[reg].set || apply_rank(reg) != rank)
				continue;
			if (is_seg(reg))
				r = vm_set_register(vcpu, reg, v[0]) != 0 ? -1 :
				    vm_set_desc(vcpu, reg, v[1], (uint32_t)v[2], (uint32_t)v[3]);
			else if (is_dtable(reg))
				r = vm_set_desc(vcpu, reg, v[0], (uint32_t)v[1], 0);
			else
				r = vm_set_register(vcpu, reg, v[0]);
			if (r != 0) {
				snprintf(err, errlen, "%s line %d: cannot set %s: %s", path,
				    st[reg].lineno, names[reg],
				    vm_errmsg()[0] ? vm_errmsg() : strerror(errno));
				goto out;
			}
		}
	rc = 0;
out:
	fclose(f);
	return rc;
}

int vm_dump_vcpu_state(struct vcpu *vcpu, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int reg = 0; reg < VM_REG_LAST; reg++) {
		uint64_t v = 0, base = 0;
		uint32_t limit = 0, access = 0;
		int n;

		if (is_dtable(reg)) {
			if (vm_get_desc(vcpu, reg, &base, &limit, &access) != 0)
				continue;
			n = snprintf(buf + off, len - off, "%s 0x%" PRIx64 " 0x%x\n", names[reg],
			    base, limit);
		} else if (is_seg(reg)) {
			if (vm_get_register(vcpu, reg, &v) != 0 ||
			    vm_get_desc(vcpu, reg, &base, &limit, &access) != 0)
				continue;
			n = snprintf(buf + off, len - off, "%s 0x%" PRIx64 " 0x%" PRIx64 " 0x%x 0x%x\n",
			    names[reg], v, base, limit, access);
		} else {
			if (vm_get_register(vcpu, reg, &v) != 0)
				continue;
			n = snprintf(buf + off, len - off, "%s 0x%" PRIx64 "\n", names[reg], v);
		}
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return off > 0 ? 0 : -1;
}
