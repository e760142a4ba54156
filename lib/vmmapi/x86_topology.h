/* How a vCPU number maps to an x86 APIC ID under a sockets/cores/threads
 * topology: thread, core and package in bit fields as wide as the topology
 * needs (what CPUID leaf 0xB reports). libvmmapi creates the vCPUs with these
 * IDs; the ACPI MADT must list the same. */
#ifndef X86_TOPOLOGY_H
#define X86_TOPOLOGY_H

#include <stdint.h>

/* Bits needed for n values: ceil(log2(n)). */
static inline int topo_bits(int n)
{
	int s = 0;

	while ((1 << s) < n)
		s++;
	return s;
}

static inline uint32_t topo_apic_id(int cores, int threads, int vcpu)
{
	int tbits = topo_bits(threads), cbits = topo_bits(cores);
	uint32_t thread = (uint32_t)(vcpu % threads);
	uint32_t core = (uint32_t)((vcpu / threads) % cores);
	uint32_t pkg = (uint32_t)(vcpu / (threads * cores));

	return pkg << (tbits + cbits) | core << tbits | thread;
}

#endif
