#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/NAME/: op streams (the format
tests/fuzz/fuzz_common.h describes), or the input format of a target that has
its own (virtqueue, nvme, ahci, xhci, fbuf), that take each device through its
valid paths, so that the fuzzers start from real driver conversations; and
grub-bhyve's partitioned disks (grub_part) and bzImage setup headers
(grub_bzimage). grub_cfg's seeds are grub.cfg files written by hand
(corpus/grub_cfg/*.cfg), not made here. Run it
from the top of the tree after changing the format or a device's seeds:
    tests/fuzz/gen_seeds.py [NAME...]     (every target when none is named)
It replaces the seed files it writes and leaves other files alone."""
import os
import struct
import sys

SIZES = {1: 0, 2: 1, 4: 2, 8: 3}


class Ops:
    """An op stream for a target whose regions have the given sizes."""

    def __init__(self, regions):
        self.regions = regions
        self.b = bytearray()

    def _acc(self, kind, reg, off, size):
        self.b.append(kind | SIZES[size] << 3 | reg << 5)
        width = 4 if self.regions[reg] > 0x10000 else 2
        self.b += (off % self.regions[reg]).to_bytes(width, "little")

    def rd(self, reg, off, size=1):
        self._acc(0, reg, off, size)
        return self

    def wr(self, reg, off, size, val):
        self._acc(1, reg, off, size)
        self.b += (val & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        return self

    def ram(self, gpa, data):
        """Guest RAM at gpa (16-byte aligned), in fills of up to 255 bytes."""
        assert gpa % 16 == 0
        data = bytes(data)
        while data:
            chunk, data = data[:240], data[240:]
            self.b.append(2)
            self.b += (gpa // 16).to_bytes(2, "little")
            self.b.append(len(chunk))
            self.b += chunk
            gpa += len(chunk)
        return self

    def poll(self, rounds=1):
        self.b.append(3 | (min(rounds, 8) - 1) << 3)
        return self

    def hook(self, bits=0, data=b""):
        self.b.append(4 | bits << 3)
        self.b += data
        return self

    def raw(self, data):
        self.b += data
        return self


def write(name, seeds):
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", name)
    os.makedirs(d, exist_ok=True)
    for i, s in enumerate(seeds):
        data = s.b if isinstance(s, Ops) else s
        with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
            f.write(bytes(data))


# ---- port and MMIO devices ----

def rtc():
    seeds = []
    o = Ops([4])
    for reg in range(0x0e):
        o.wr(0, 0, 1, reg).rd(0, 1)
    seeds.append(o)
    # Periodic interrupt on, alarm set, update-ended, read C to acknowledge.
    seeds.append(Ops([4]).wr(0, 0, 1, 0x0a).wr(0, 1, 1, 0x26).wr(0, 0, 1, 0x0b)
                 .wr(0, 1, 1, 0x72).wr(0, 0, 1, 0x01).wr(0, 1, 1, 0x30).poll(8)
                 .wr(0, 0, 1, 0x0c).rd(0, 1))
    # Set the time in binary, 24-hour mode with SET, then read it back.
    o = Ops([4]).wr(0, 0, 1, 0x0b).wr(0, 1, 1, 0x86)
    for reg, v in ((0, 59), (2, 59), (4, 23), (7, 31), (8, 12), (9, 99), (0x32, 0x20)):
        o.wr(0, 0, 1, reg).wr(0, 1, 1, v)
    o.wr(0, 0, 1, 0x0b).wr(0, 1, 1, 0x06).wr(0, 0, 1, 0).rd(0, 1)
    seeds.append(o)
    # NVRAM, both banks (0x72/0x73 the upper 128 bytes).
    seeds.append(Ops([4]).wr(0, 0, 1, 0x40).wr(0, 1, 1, 0xaa).wr(0, 2, 1, 0x90)
                 .wr(0, 3, 1, 0x55).wr(0, 2, 1, 0x90).rd(0, 3).wr(0, 0, 1, 0x8f).rd(0, 1))
    write("rtc", seeds)


def atkbdc():
    seeds = []
    # Self test, interface test, command byte read/write, keyboard reset.
    seeds.append(Ops([1, 1]).wr(1, 0, 1, 0xaa).rd(1, 0).rd(0, 0).wr(1, 0, 1, 0xab).rd(0, 0)
                 .wr(1, 0, 1, 0x20).rd(0, 0).wr(1, 0, 1, 0x60).wr(0, 0, 1, 0x47)
                 .wr(0, 0, 1, 0xff).rd(1, 0).rd(0, 0).rd(0, 0))
    # Keyboard commands: set LEDs, scan code set, typematic, enable, echo, identify.
    seeds.append(Ops([1, 1]).wr(0, 0, 1, 0xed).rd(0, 0).wr(0, 0, 1, 0x07).rd(0, 0)
                 .wr(0, 0, 1, 0xf0).wr(0, 0, 1, 0x02).wr(0, 0, 1, 0xf3).wr(0, 0, 1, 0x20)
                 .wr(0, 0, 1, 0xf4).wr(0, 0, 1, 0xee).wr(0, 0, 1, 0xf2).rd(0, 0).rd(0, 0).rd(0, 0))
    # Output port: read, write A20, pulse reset; disable/enable keyboard and aux.
    seeds.append(Ops([1, 1]).wr(1, 0, 1, 0xd0).rd(0, 0).wr(1, 0, 1, 0xd1).wr(0, 0, 1, 0xdf)
                 .wr(1, 0, 1, 0xad).wr(1, 0, 1, 0xae).wr(1, 0, 1, 0xa7).wr(1, 0, 1, 0xa8)
                 .wr(1, 0, 1, 0xd2).wr(0, 0, 1, 0x1c).rd(0, 0).wr(1, 0, 1, 0xfe))
    write("atkbdc", seeds)


HPET = [0x400]


def hpet():
    seeds = []
    o = Ops(HPET).rd(0, 0, 8).rd(0, 0x10, 8)
    for t in range(3):
        o.rd(0, 0x100 + 0x20 * t, 8)
    seeds.append(o)
    # Timer 0 periodic with interrupts, legacy replacement, counter on, run.
    seeds.append(Ops(HPET).wr(0, 0x100, 8, 0x4c).wr(0, 0x108, 8, 0x100).wr(0, 0x108, 8, 0x100)
                 .wr(0, 0x10, 8, 3).poll(8).rd(0, 0xf0, 8).rd(0, 0x20, 8).wr(0, 0x20, 8, 1)
                 .wr(0, 0x10, 8, 0))
    # Timer 1 one-shot on an IOAPIC route, level-triggered; timer 2 FSB (MSI).
    seeds.append(Ops(HPET).wr(0, 0x120, 4, 0x0a | 20 << 9).wr(0, 0x128, 4, 0x1000)
                 .wr(0, 0x140, 4, 0xc004).wr(0, 0x150, 8, 0xfee00000 << 32 | 0x41)
                 .wr(0, 0x148, 8, 0x10).wr(0, 0x10, 4, 1).poll(8).rd(0, 0x20, 4)
                 .wr(0, 0x20, 4, 7).wr(0, 0xf0, 4, 0x12345).rd(0, 0xf4, 4))
    write("hpet", seeds)


def fwctl():
    o = Ops([2]).wr(0, 0, 2, 0)
    for _ in range(4):
        o.rd(0, 1, 1)
    name = b"hw.ncpu\0"
    for op in (3, 4):
        o.wr(0, 0, 4, 12 + len(name)).wr(0, 0, 4, op).wr(0, 0, 4, 7)
        for i in range(0, len(name), 4):
            o.wr(0, 0, 4, int.from_bytes(name[i:i + 4], "little"))
        for _ in range(8):
            o.rd(0, 1, 4)
    bad = Ops([2]).wr(0, 0, 2, 0).rd(0, 1).rd(0, 1).rd(0, 1).rd(0, 1).wr(0, 0, 4, 12 + 200) \
        .wr(0, 0, 4, 3).wr(0, 0, 4, 1)
    for _ in range(50):
        bad.wr(0, 0, 4, 0x41414141)
    for _ in range(6):
        bad.rd(0, 1, 4)
    write("fwctl", [o, bad])


def fwcfg():
    seeds = []
    # Signature and ID through the data port; the file directory.
    o = Ops([2, 8]).wr(0, 0, 2, 0)
    for _ in range(4):
        o.rd(0, 1)
    o.wr(0, 0, 2, 1).rd(0, 1).wr(0, 0, 2, 0x19)
    for _ in range(4 + 64 * 2):
        o.rd(0, 1)
    seeds.append(o)
    # DMA: select the directory and read it, then skip into a file and read;
    # then a write (refused) and a bad control word.
    def dma(ctl, length, addr, at):
        return struct.pack(">IIQ", ctl, length, addr)
    o = Ops([2, 8]).ram(0x1000, dma(0x19 << 16 | 0x08 | 0x02, 0x100, 0x2000, 0)) \
        .wr(1, 0, 4, 0).wr(1, 4, 4, int.from_bytes(struct.pack(">I", 0x1000), "little")) \
        .ram(0x1100, dma(0x20 << 16 | 0x08 | 0x04, 3, 0, 0)) \
        .wr(1, 4, 4, int.from_bytes(struct.pack(">I", 0x1100), "little")) \
        .ram(0x1200, dma(0x02, 64, 0x3000, 0)) \
        .wr(1, 4, 4, int.from_bytes(struct.pack(">I", 0x1200), "little")) \
        .ram(0x1300, dma(0x21 << 16 | 0x08 | 0x10, 16, 0x3000, 0)) \
        .wr(1, 4, 4, int.from_bytes(struct.pack(">I", 0x1300), "little")) \
        .ram(0x1400, dma(0x21 << 16 | 0x08 | 0x02, 0xffffffff, 0x3ff00, 0)) \
        .wr(1, 4, 4, int.from_bytes(struct.pack(">I", 0x1400), "little")) \
        .wr(1, 0, 8, int.from_bytes(struct.pack(">Q", 0x1000), "little"))
    seeds.append(o)
    write("fwcfg", seeds)


def pflash():
    r = [4 * 4096]
    seeds = []
    # CFI query, identifier, status, back to read array.
    o = Ops(r).wr(0, 0x55, 1, 0x98)
    for off in range(0x10, 0x40):
        o.rd(0, off)
    o.wr(0, 0, 1, 0x90).rd(0, 0).rd(0, 1).wr(0, 0, 1, 0x70).rd(0, 0).wr(0, 0, 1, 0xff).rd(0, 0, 4)
    seeds.append(o)
    # Program two bytes, erase a block (setup + confirm), clear status.
    seeds.append(Ops(r).wr(0, 0x1000, 1, 0x40).wr(0, 0x1000, 1, 0x12).rd(0, 0x1000)
                 .wr(0, 0x1001, 1, 0x10).wr(0, 0x1001, 1, 0x34).wr(0, 0, 1, 0xff)
                 .rd(0, 0x1000, 2).wr(0, 0x2000, 1, 0x20).wr(0, 0x2000, 1, 0xd0).rd(0, 0x2000)
                 .wr(0, 0, 1, 0x50).wr(0, 0x3fff, 1, 0xff).rd(0, 0x3ffc, 4))
    # Erase not confirmed, program with a wide access.
    seeds.append(Ops(r).wr(0, 0, 1, 0x20).wr(0, 0, 1, 0x55).rd(0, 0).wr(0, 0x10, 4, 0x40)
                 .wr(0, 0x10, 4, 0xdeadbeef).wr(0, 0, 1, 0xff))
    write("pflash", seeds)


PM = [1, 1, 16, 4096]


def pm():
    seeds = []
    # ACPI enable, PM1 enables, timer reads, SCI, a sleep request S5, GPE.
    seeds.append(Ops(PM).wr(0, 0, 1, 0xa0).rd(2, 4, 2).wr(2, 2, 2, 0x0121).rd(2, 8, 4)
                 .rd(2, 8, 4).rd(2, 0, 2).wr(2, 0, 2, 0xffff).wr(2, 0xe, 1, 0xff).rd(2, 0xc, 1)
                 .hook().rd(2, 0, 2).wr(2, 4, 2, 1 | 5 << 10 | 1 << 13).wr(0, 0, 1, 0xa1))
    # Move PMBASE (lpc 0x40) and enable it (0x44), then use it; reset control.
    seeds.append(Ops(PM).wr(3, 0x40, 4, 0x601).wr(3, 0x44, 1, 0x80).rd(2, 8, 4)
                 .wr(3, 0x40, 4, 0x401).wr(3, 0x44, 1, 0x00).rd(2, 0, 2).wr(3, 0x44, 1, 0x80)
                 .wr(1, 0, 1, 0x02).wr(1, 0, 1, 0x06).rd(3, 0x60, 4).wr(3, 0x60, 4, 0x0b0a0b0a))
    write("pm", seeds)


def uart():
    seeds = []
    # 8N1 at 115200 (DLAB), FIFO on, interrupts on, send, receive.
    o = Ops([8]).wr(0, 3, 1, 0x80).wr(0, 0, 1, 1).wr(0, 1, 1, 0).wr(0, 3, 1, 0x03) \
        .wr(0, 2, 1, 0xc7).wr(0, 4, 1, 0x0b).wr(0, 1, 1, 0x0f)
    for c in b"hello":
        o.rd(0, 5).wr(0, 0, 1, c)
    o.rd(0, 2).hook(0, bytes([5]) + b"input").poll(2)
    for _ in range(6):
        o.rd(0, 5).rd(0, 0)
    o.rd(0, 2).rd(0, 6).hook(1)
    seeds.append(o)
    # Loopback, scratch, overrun: more input than the FIFO holds.
    o = Ops([8]).wr(0, 4, 1, 0x10).wr(0, 0, 1, 0x41).rd(0, 0).wr(0, 7, 1, 0x5a).rd(0, 7) \
        .wr(0, 4, 1, 0x08).wr(0, 2, 1, 0x01).hook(0, bytes([40]) + bytes(range(40))).poll(4) \
        .rd(0, 5).rd(0, 2).wr(0, 2, 1, 0x03).rd(0, 5)
    seeds.append(o)
    write("uart", seeds)


# ---- virtio ----

def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def avail(heads, flags=0):
    return struct.pack("<HH", flags, len(heads)) + b"".join(struct.pack("<H", h) for h in heads)


F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
BIG = [0x10000] * 8     # region sizes only matter for the offset width (2 bytes)


class Virtio:
    """A modern (or legacy) driver for one function: bar0/bar4/cfg are region
    indices; rings are laid out from RING in 4 KiB pages per queue."""
    RING = 0x10000

    def __init__(self, o, bar0, bar4, cfg, qsize=8):
        self.o, self.bar0, self.bar4, self.cfg, self.qsize = o, bar0, bar4, cfg, qsize
        self.avail_idx = {}

    def rings(self, q):
        base = self.RING + q * 0x3000
        return base, base + 0x1000, base + 0x2000

    def modern(self, features, queues):
        o, b = self.o, self.bar4
        o.wr(b, 0x14, 1, 0).wr(b, 0x14, 1, 1).wr(b, 0x14, 1, 3)
        o.wr(b, 0x00, 4, 0).rd(b, 0x04, 4).wr(b, 0x00, 4, 1).rd(b, 0x04, 4)
        o.wr(b, 0x08, 4, 0).wr(b, 0x0c, 4, features & 0xffffffff)
        o.wr(b, 0x08, 4, 1).wr(b, 0x0c, 4, (features >> 32) | 1)
        o.wr(b, 0x14, 1, 0x0b).rd(b, 0x14, 1).rd(b, 0x12, 2)
        for q in queues:
            d, a, u = self.rings(q)
            o.wr(b, 0x16, 2, q).rd(b, 0x18, 2).wr(b, 0x18, 2, self.qsize).wr(b, 0x1a, 2, q + 1)
            o.wr(b, 0x20, 4, d).wr(b, 0x24, 4, 0).wr(b, 0x28, 4, a).wr(b, 0x2c, 4, 0)
            o.wr(b, 0x30, 4, u).wr(b, 0x34, 4, 0).wr(b, 0x1c, 2, 1).rd(b, 0x1e, 2)
        o.wr(b, 0x14, 1, 0x0f)
        return self

    def legacy(self, features, queues, qsize):
        """The legacy registers (BAR 0): the queue size is the device's."""
        o, b = self.o, self.bar0
        self.qsize = qsize
        o.wr(b, 0x12, 1, 0).wr(b, 0x12, 1, 3).rd(b, 0, 4).wr(b, 4, 4, features)
        for q in queues:
            o.wr(b, 0x0e, 2, q).rd(b, 0x0c, 2).wr(b, 0x08, 4, self.legacy_rings(q)[0] >> 12)
        o.wr(b, 0x12, 1, 7)
        return self

    def legacy_rings(self, q):
        base = self.RING + q * 0x3000
        a = base + 16 * self.qsize
        u = (a + 4 + 2 * self.qsize + 2 + 4095) & ~4095
        return base, a, u

    def notify(self, q, legacy=False):
        if legacy:
            self.o.wr(self.bar0, 0x10, 2, q)
        else:
            self.o.wr(self.bar4, 0x3000 + 4 * q, 2, q)
        self.o.poll(8)
        return self


def avail_chains(v, q, chains, legacy=False):
    """Posts chains on q with a correct avail ring (heads = first descriptor of each)."""
    d, a, _ = v.legacy_rings(q) if legacy else v.rings(q)
    start = v.avail_idx.get(q, 0)
    table, heads, i = b"", [], start
    for chain in chains:
        heads.append(i)
        for k, (addr, length, w) in enumerate(chain):
            last = k == len(chain) - 1
            table += desc(addr, length, (0 if last else F_NEXT) | (F_WRITE if w else 0),
                          0 if last else i + 1)
            i += 1
    v.o.ram(d + 16 * start, table)
    v.heads = getattr(v, "heads", {})
    v.heads.setdefault(q, []).extend(heads)
    allh = v.heads[q]
    v.o.ram(a, struct.pack("<HH", 0, len(allh)) + b"".join(struct.pack("<H", h) for h in allh))
    v.avail_idx[q] = i
    return v


BUF = 0x30000


def blk_requests(o):
    """Header, data and status buffers for IN, OUT, FLUSH, GET_ID, DISCARD and
    WRITE_ZEROES at BUF; returns the chains."""
    hdr = lambda t, sector: struct.pack("<IIQ", t, 0, sector)
    o.ram(BUF, hdr(0, 0) + hdr(1, 1) + hdr(4, 0) + hdr(8, 0) + hdr(11, 0) + hdr(13, 0))
    o.ram(BUF + 0x400, bytes(range(256)) * 2)
    o.ram(BUF + 0x800, struct.pack("<QII", 2, 4, 0) + struct.pack("<QII", 8, 2, 1))
    st = BUF + 0x1000
    return [
        [(BUF, 16, False), (BUF + 0x2000, 512, True), (st, 1, True)],
        [(BUF + 16, 16, False), (BUF + 0x400, 512, False), (st + 1, 1, True)],
        [(BUF + 32, 16, False), (st + 2, 1, True)],
        [(BUF + 48, 16, False), (BUF + 0x2400, 20, True), (st + 3, 1, True)],
        [(BUF + 64, 16, False), (BUF + 0x800, 16, False), (st + 4, 1, True)],
        [(BUF + 80, 16, False), (BUF + 0x810, 16, False), (st + 5, 1, True)],
    ]


def virtio_pci():
    seeds = []
    # blk: modern driver, every request type, ISR and device config reads.
    o = Ops(BIG)
    v = Virtio(o, 0, 2, 3).modern(1 << 9 | 1 << 13 | 1 << 14 | 1 << 2 | 1 << 6, [0])
    avail_chains(v, 0, blk_requests(o)).notify(0)
    o.rd(2, 0x1000, 1)
    for off in range(0, 0x3c, 4):
        o.rd(2, 0x2000 + off, 4)
    seeds.append(o)
    # blk with MSI-X on (capability at 0x40): table entries, vectors, PBA, mask.
    o = Ops(BIG).wr(3, 0x04, 2, 0x0007).wr(3, 0x42, 2, 0x8000)
    o.wr(1, 0, 4, 0xfee00000).wr(1, 4, 4, 0).wr(1, 8, 4, 0x41).wr(1, 12, 4, 0)
    o.wr(1, 16, 4, 0xfee00000).wr(1, 24, 4, 0x42).wr(1, 28, 4, 0)
    v = Virtio(o, 0, 2, 3).modern(1 << 9, [0])
    o.wr(2, 0x10, 2, 0)
    avail_chains(v, 0, blk_requests(o)[:2]).notify(0)
    o.rd(1, 0x1000, 8).wr(1, 12, 4, 1).wr(3, 0x42, 2, 0xc000).rd(1, 0x1000, 8).wr(3, 0x42, 2, 0)
    seeds.append(o)
    # blk through the legacy registers (queue size 256).
    o = Ops(BIG)
    v = Virtio(o, 0, 2, 3).legacy(1 << 9, [0], 256)
    avail_chains(v, 0, blk_requests(o), legacy=True).notify(0, legacy=True)
    o.rd(0, 0x13, 1).rd(0, 0x14, 4).rd(0, 0x18, 4)
    seeds.append(o)
    # rnd: modern, two buffers; then the PCI_CFG window (vendor capability).
    o = Ops(BIG)
    v = Virtio(o, 4, 6, 7).modern(0, [0])
    avail_chains(v, 0, [[(BUF, 64, True)], [(BUF + 0x100, 16, True), (BUF + 0x200, 16, True)]])
    v.notify(0)
    for off in range(0x40, 0xc0, 4):
        o.rd(7, off, 4)
    seeds.append(o)
    # An indirect table and a chain that loops, both on blk.
    o = Ops(BIG)
    v = Virtio(o, 0, 2, 3).modern(1 << 28, [0])
    reqs = blk_requests(o)
    o.ram(BUF + 0x3000, b"".join(desc(a, l, (F_NEXT if k < 2 else 0) | (F_WRITE if w else 0), k + 1)
                                 for k, (a, l, w) in enumerate(reqs[0])))
    d, a, _ = v.rings(0)
    o.ram(d, desc(BUF + 0x3000, 48, F_INDIRECT) + desc(BUF, 16, F_NEXT, 2) + desc(BUF, 16, F_NEXT, 1))
    o.ram(a, avail([0, 1]))
    v.notify(0)
    seeds.append(o)
    write("virtio_pci", seeds)


def virtqueue():
    """fuzz_virtqueue's own format: device, features, avail ring, descriptor
    table (queue size 256 for blk and net), then RAM from 0x20000."""
    def one(dev, features, chains, qsize=256, scatter=b""):
        table, heads, i = b"", [], 0
        for chain in chains:
            heads.append(i)
            for k, (addr, length, w) in enumerate(chain):
                last = k == len(chain) - 1
                table += desc(addr, length, (0 if last else F_NEXT) | (F_WRITE if w else 0),
                              0 if last else i + 1)
                i += 1
        ring = avail(heads).ljust(4 + 2 * qsize + 2, b"\0")
        return bytes([dev]) + struct.pack("<I", features) + ring + table.ljust(16 * qsize, b"\0") + scatter
    hdr = lambda t, sector: struct.pack("<IIQ", t, 0, sector)
    B = 0x20000
    scatter = (hdr(0, 0) + hdr(1, 1) + hdr(4, 0) + hdr(8, 0) + hdr(11, 0) + hdr(13, 0)).ljust(0x100, b"\0")
    scatter += struct.pack("<QII", 2, 4, 0).ljust(0x100, b"\0") + bytes(range(256)) * 2
    chains = [
        [(B, 16, False), (B + 0x1000, 512, True), (B + 0x3000, 1, True)],
        [(B + 16, 16, False), (B + 0x200, 512, False), (B + 0x3001, 1, True)],
        [(B + 32, 16, False), (B + 0x3002, 1, True)],
        [(B + 48, 16, False), (B + 0x1400, 20, True), (B + 0x3003, 1, True)],
        [(B + 64, 16, False), (B + 0x100, 16, False), (B + 0x3004, 1, True)],
        [(B + 80, 16, False), (B + 0x100, 16, False), (B + 0x3005, 1, True)],
    ]
    seeds = [one(1, 1 << 9, chains, scatter=scatter)]
    seeds += [one(1, 1 << 9 | 1 << 13 | 1 << 14, [c], scatter=scatter) for c in chains]
    # virtio-rnd (queue 0, size?), net transmit (header 10 + frame) and a control command.
    seeds.append(one(0, 0, [[(B, 64, True)], [(B + 64, 64, True)]], qsize=64))
    frame = bytes(10) + b"\xff" * 6 + b"\x02\0\0\0\0\x01" + b"\x08\x06" + bytes(46)
    seeds.append(one(2, 0, [[(B, 10, False), (B + 10, 60, False)]], scatter=frame))
    ctrl = bytes([0, 0, 1, 0])    # class RX, PROMISC, on, ack
    seeds.append(one(3, 1 << 17 | 1 << 18, [[(B, 2, False), (B + 2, 1, False), (B + 3, 1, True)]],
                     scatter=ctrl))
    write("virtqueue", seeds)


NET_HDR = 12


def virtio_net():
    seeds = []
    frame = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02" + b"\x08\x00" + bytes(range(46))
    # Modern, mergeable buffers and offloads: rx buffers, frames in, a transmit,
    # a control command.
    feats = 1 << 15 | 1 | 2 | 1 << 7 | 1 << 11 | 1 << 17 | 1 << 18 | 1 << 5 | 1 << 16
    o = Ops(BIG)
    v = Virtio(o, 0, 2, 3).modern(feats, [0, 1, 2])
    avail_chains(v, 0, [[(BUF + 0x800 * k, 0x800, True)] for k in range(4)]).notify(0)
    hdr = bytes([1, 0]) + struct.pack("<HHHHH", 0, 0, 14, 16, 1)
    o.hook(0, struct.pack("<H", NET_HDR + len(frame)) + hdr + frame)
    o.hook(0, struct.pack("<H", NET_HDR + 1514) + bytes(NET_HDR) + frame + bytes(1514 - len(frame)))
    o.hook(1).poll(2)
    o.ram(BUF + 0x4000, bytes(NET_HDR) + frame)
    avail_chains(v, 1, [[(BUF + 0x4000, NET_HDR, False), (BUF + 0x4000 + NET_HDR, len(frame), False)]])
    v.notify(1)
    o.ram(BUF + 0x5000, bytes([0, 0, 1, 0]))
    avail_chains(v, 2, [[(BUF + 0x5000, 2, False), (BUF + 0x5002, 1, False), (BUF + 0x5003, 1, True)]])
    v.notify(2)
    o.rd(2, 0x2000, 4).rd(2, 0x2004, 4).rd(2, 0x2008, 4)
    seeds.append(o)
    # No mergeable buffers: a frame larger than one buffer, chained buffers.
    o = Ops(BIG)
    v = Virtio(o, 0, 2, 3).modern(0, [0, 1])
    avail_chains(v, 0, [[(BUF, NET_HDR, True), (BUF + 0x100, 0x700, True)],
                        [(BUF + 0x1000, 64, True)]]).notify(0)
    o.hook(0, struct.pack("<H", NET_HDR + len(frame)) + bytes(NET_HDR) + frame)
    o.hook(0, struct.pack("<H", 4000) + bytes(4000)).hook(1).poll(2)
    seeds.append(o)
    # Legacy (10-byte header), queue size 256.
    o = Ops(BIG)
    v = Virtio(o, 0, 2, 3).legacy(1 << 5, [0, 1], 256)
    avail_chains(v, 0, [[(BUF, 10, True), (BUF + 0x100, 1514, True)]], legacy=True)
    v.notify(0, legacy=True)
    o.hook(0, struct.pack("<H", 10 + len(frame)) + bytes(10) + frame).poll(2)
    seeds.append(o)
    write("virtio_net", seeds)


def virtio_console():
    seeds = []
    ctrl = lambda ev, val, port=0: struct.pack("<IHH", port, ev, val)
    o = Ops(BIG)
    v = Virtio(o, 0, 2, 3).modern(1 << 1, [0, 1, 2, 3, 4, 5])
    avail_chains(v, 2, [[(BUF + 0x100 * k, 0x100, True)] for k in range(6)]).notify(2)
    o.ram(BUF + 0x1000, ctrl(0, 1) + ctrl(3, 1, 0) + ctrl(3, 1, 1) + ctrl(6, 1, 0) + ctrl(6, 1, 1))
    avail_chains(v, 3, [[(BUF + 0x1000 + 8 * k, 8, False)] for k in range(5)]).notify(3)
    avail_chains(v, 0, [[(BUF + 0x2000, 64, True)], [(BUF + 0x2100, 64, True)]]).notify(0)
    o.hook(0, bytes([5]) + b"hello").poll(2)
    o.ram(BUF + 0x3000, b"from the guest\n")
    avail_chains(v, 1, [[(BUF + 0x3000, 15, False)]]).notify(1)
    avail_chains(v, 5, [[(BUF + 0x3000, 15, False)]]).notify(5)
    o.hook(1).rd(2, 0x2000, 2).rd(2, 0x2004, 4)
    seeds.append(o)
    # Without MULTIPORT: port 0 only, legacy registers.
    o = Ops(BIG)
    v = Virtio(o, 0, 2, 3).legacy(0, [0, 1], 64)
    avail_chains(v, 0, [[(BUF, 32, True)]], legacy=True).notify(0, legacy=True)
    o.hook(0, bytes([40]) + bytes(range(40))).poll(2)
    o.ram(BUF + 0x1000, b"x" * 100)
    avail_chains(v, 1, [[(BUF + 0x1000, 100, False)]], legacy=True).notify(1, legacy=True)
    o.hook(1)
    seeds.append(o)
    write("virtio_console", seeds)


def pci():
    R = [8, 2 << 20, 4096, 4096, 4096, 4096, 0x4000, 0x2000]
    seeds = []
    # Enumerate bus 0 through 0xCF8/0xCFC: every slot's IDs and header type.
    o = Ops(R)
    for slot in range(32):
        o.wr(0, 0, 4, 0x80000000 | slot << 11).rd(0, 4, 4).wr(0, 0, 4, 0x8000000c | slot << 11).rd(0, 6, 1)
    seeds.append(o)
    # Size and move every BAR of NVMe (region 4) and virtio-rnd (5), the way firmware does.
    o = Ops(R)
    for reg in (4, 5):
        o.wr(reg, 4, 2, 0)
        for bar in range(6):
            off = 0x10 + 4 * bar
            o.rd(reg, off, 4).wr(reg, off, 4, 0xffffffff).rd(reg, off, 4).wr(reg, off, 4, 0xd0000000 + 0x100000 * bar)
        o.wr(reg, 4, 2, 7)
    seeds.append(o)
    # Walk capabilities; MSI on NVMe (0x40), MSI-X on NVMe (0x50) and rnd (0x40)
    # with table entries and the PBA; masks.
    o = Ops(R)
    for reg in (4, 5):
        o.rd(reg, 0x34, 1)
        for off in range(0x40, 0xa8, 4):
            o.rd(reg, off, 4)
    o.wr(4, 0x42, 2, 0x0001).wr(4, 0x44, 4, 0xfee00000).wr(4, 0x48, 4, 0).wr(4, 0x4c, 2, 0x51)
    o.wr(4, 0x42, 2, 0).wr(4, 0x52, 2, 0x8000).wr(6, 0, 4, 0xfee00000).wr(6, 8, 4, 0x61)
    o.wr(6, 12, 4, 0).rd(6, 0x1000, 8).wr(4, 0x52, 2, 0xc000).wr(4, 0x52, 2, 0)
    o.wr(5, 0x42, 2, 0x8000).wr(7, 0, 8, 0xfee00000).wr(7, 8, 8, 0x62).rd(7, 0x1000, 8).wr(7, 12, 4, 1)
    seeds.append(o)
    # ECAM: extended space, PCIEXBAR moves (0x60) off and on; lpc PIRQ routing.
    o = Ops(R).rd(1, 0x100, 4).rd(1, 0x8000, 4).rd(1, 0x20000 + 0x100, 4)
    o.wr(2, 0x60, 4, 0).rd(1, 0, 4).wr(2, 0x60, 4, 0xc0000001).wr(2, 0x60, 4, 0xb0000001).rd(1, 0, 4)
    o.wr(3, 0x60, 4, 0x0b0a0b0a).rd(3, 0x60, 4).wr(3, 0x68, 4, 0x80808080).rd(1, 0xf8000 + 0x60, 4)
    seeds.append(o)
    write("pci", seeds)


# ---- configuration ----

def cmdline():
    lines = [
        b"s0,hostbridge\ns31,lpc\ns2,virtio-blk,/tmp/disk.img,ro,sectorsize=512/4096\n"
        b"s3:1,virtio-net,tap0,mac=02:00:00:00:00:01,mtu=9000\ns4,ahci,hd:/a.img,cd:/b.iso\n"
        b"s5,nvme,/c.img,maxq=4,qsz=64,ser=ABC\ns6,virtio-console,port0=/tmp/s0,console=/tmp/s1\n"
        b"s7,virtio-rnd\ns0:8:0,passthru\nlcom1,stdio\nlcom2,/dev/nmdm0A\nlbootrom,/rom.fd,/vars.fd,fwcfg=qemu\n"
        b"m2G\no cpus=4\nocpus=4\nosockets=2\nocores=2\novcpu.0.cpuset=1,3-5\nU01234567-89ab-cdef-0123-456789abcdef\n",
        b"s1,virtio-net,slirp,hostfwd=tcp:127.0.0.1:2222-:22\ns2,virtio-blk,nocache,direct,/d\n"
        b"lcom1,tcp=127.0.0.1:4444\nm1023M\nox86.strictio=true\nomemory.wired=maybe\n",
        b"spci.0.3.0\ns3\ns,\ns256,virtio-rnd\ns0:32,virtio-rnd\ns0:0:8,x\nl\nlcom5,stdio\nm0\nm1T\nm16E\n"
        b"ocpus=0\nocpus=65536\novcpu.1.cpuset=64\nUnot-a-uuid\n",
    ]
    write("cmdline", lines)


def config_file():
    files = [
        b"# a VM\nname=vm0\nmemory.size = 1G\ncpus=2\n\npci.0.0.0.device=hostbridge\n"
        b"pci.0.31.0.device=lpc\nlpc.com1.path=stdio\npci.0.2.0.device=virtio-blk\n"
        b"pci.0.2.0.path=/tmp/disk.img\nvcpu.0.cpuset=0-1\nvcpu.1.cpuset=2\n  uuid =  "
        b"01234567-89ab-cdef-0123-456789abcdef  \nx86.x2apic=true\n",
        b"name=x\nsockets=2\ncores=2\nthreads=2\ncpus=8\nmemory.size=4096\n=bad\n",
        b"name=\nmemory.size=\ncpus=-1\nrtc.use_localtime=yes\nacpi_tables=2\n",
    ]
    write("config_file", files)


# ---- network backends ----

GUEST_MAC = b"\x02\x00\x00\x00\x00\x01"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff


def ip4(proto, src, dst, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def eth(dst, etype, payload):
    return dst + GUEST_MAC + struct.pack("!H", etype) + payload


GW, GUEST, DNS = bytes([10, 0, 2, 2]), bytes([10, 0, 2, 15]), bytes([10, 0, 2, 3])
BCAST = b"\xff" * 6


def net_frames():
    arp = eth(BCAST, 0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + GUEST_MAC + GUEST
              + bytes(6) + GW)
    icmp = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"ping" * 4
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ping = eth(BCAST, 0x0800, ip4(1, GUEST, GW, icmp))
    dhcp = struct.pack("!BBBBIHH4s4s4s4s16s", 1, 1, 6, 0, 0x1234, 0, 0x8000, bytes(4), bytes(4),
                       bytes(4), bytes(4), GUEST_MAC) + bytes(192) + b"\x63\x82\x53\x63" \
        + bytes([53, 1, 1, 255])
    udp = struct.pack("!HHHH", 68, 67, 8 + len(dhcp), 0) + dhcp
    disc = eth(BCAST, 0x0800, ip4(17, bytes(4), b"\xff" * 4, udp))
    syn = struct.pack("!HHIIBBHHH", 40000, 22, 1, 0, 5 << 4, 0x02, 8192, 0, 0)
    ph = GUEST + GW + struct.pack("!BBH", 0, 6, len(syn))
    syn = syn[:16] + struct.pack("!H", csum(ph + syn)) + syn[18:]
    tcp = eth(BCAST, 0x0800, ip4(6, GUEST, GW, syn))
    q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x07example\x03com\x00\x00\x01\x00\x01"
    dns = eth(BCAST, 0x0800, ip4(17, GUEST, DNS, struct.pack("!HHHH", 5353, 53, 8 + len(q), 0) + q))
    return [arp, ping, disc, tcp, dns]


def backend_seeds(name, host_hook):
    seeds = []
    for feats, hdr in ((0, NET_HDR), (1 | 1 << 11 | 1 << 15, NET_HDR)):
        o = Ops(BIG)
        v = Virtio(o, 0, 2, 3).modern(feats | 1 << 5, [0, 1])
        avail_chains(v, 0, [[(BUF + 0x800 * k, 0x800, True)] for k in range(8)]).notify(0)
        frames = net_frames()
        blob = b"".join(bytes(hdr) + f for f in frames)
        o.ram(BUF + 0x8000, blob)
        chains, off = [], 0
        for f in frames:
            chains.append([(BUF + 0x8000 + off, hdr, False), (BUF + 0x8000 + off + hdr, len(f), False)])
            off += hdr + len(f)
        avail_chains(v, 1, chains).notify(1)
        if host_hook:
            for f in frames[:2]:
                o.hook(0, struct.pack("<H", len(f)) + f)
            o.hook(1)
        else:
            o.hook(1).hook(0)
        o.poll(8)
        seeds.append(o)
    write(name, seeds)


def tap():
    backend_seeds("tap", True)


def slirp():
    backend_seeds("slirp", False)

# fbuf's legacy VGA (fuzz_vga.c): the device's ports 0x3c0-0x3df and memory at
# 0xA0000, its configuration space, its ROM, BARs 0 and 2, and the target's own
# VGA's ports and memory (rendered by the hook op).
VGA = [0x20, 0x20000, 4096, 4096, 16 << 20, 4096, 0x20, 0x20000]


def vga_mode3(o, ports, mem):
    """Mode 3 as a VGA BIOS sets it, a font glyph in plane 2, text at 0xB8000."""
    for i, v in ((0x11, 0x0e), (0x01, 79), (0x07, 0x1f), (0x09, 0x4f), (0x0a, 14),
                 (0x0b, 15), (0x0c, 0), (0x0d, 0), (0x0e, 0), (0x0f, 1), (0x12, 0x8f),
                 (0x13, 40)):
        o.wr(ports, 0x14, 2, v << 8 | i)
    o.rd(ports, 0x1a)
    for i in range(16):
        o.wr(ports, 0, 1, i).wr(ports, 0, 1, i)
    o.wr(ports, 0, 1, 0x10).wr(ports, 0, 1, 0x0c).wr(ports, 0, 1, 0x20)
    o.wr(ports, 8, 1, 0)
    for c in range(16):
        o.wr(ports, 9, 1, c * 4).wr(ports, 9, 1, c * 2).wr(ports, 9, 1, 63 - c)
    # font: plane 2, planar, 64 KiB at 0xA0000
    for i, v in ((2, 4), (4, 6)):
        o.wr(ports, 4, 2, v << 8 | i)
    for i, v in ((5, 0), (6, 4), (8, 0xff), (4, 2)):
        o.wr(ports, 0x0e, 2, v << 8 | i)
    for row in range(16):
        o.wr(mem, 0x41 * 32 + row, 1, 0x18 if row < 8 else 0x66)
    o.rd(mem, 0x41 * 32 + 3)
    # text: odd/even at 0xB8000
    for i, v in ((2, 3), (4, 2)):
        o.wr(ports, 4, 2, v << 8 | i)
    for i, v in ((5, 0x10), (6, 0x0e), (4, 0)):
        o.wr(ports, 0x0e, 2, v << 8 | i)
    for cell in range(8):
        o.wr(mem, 0x18000 + cell * 2, 2, 0x1f41 + cell)
    o.rd(mem, 0x18000, 4)
    return o


def vga():
    seeds = []
    seeds.append(vga_mode3(Ops(VGA), 0, 1))
    seeds.append(vga_mode3(Ops(VGA), 6, 7).hook())
    # The four write modes with set/reset, rotation, logic and bit mask; read mode 1.
    o = Ops(VGA).wr(6, 4, 2, 0x0f02).wr(6, 4, 2, 0x0604)
    for mode in range(4):
        o.wr(6, 0x0e, 2, mode << 8 | 5).wr(6, 0x0e, 2, 0x0500).wr(6, 0x0e, 2, 0x0301)
        o.wr(6, 0x0e, 2, (mode * 8 + 1) << 8 | 3).wr(6, 0x0e, 2, 0x5508)
        o.rd(7, 0x100 + mode).wr(7, 0x100 + mode, 1, 0xa5)
    o.wr(6, 0x0e, 2, 0x0805).wr(6, 0x0e, 2, 0x0a02).wr(6, 0x0e, 2, 0x0f07).rd(7, 0x100)
    seeds.append(o.hook())
    # Mode 13h: chain-4, 256 colours.
    o = vga_mode3(Ops(VGA), 6, 7)
    o.wr(6, 4, 2, 0x0e04).wr(6, 4, 2, 0x0f02).wr(6, 0x0e, 2, 0x4005).wr(6, 0x0e, 2, 0x0506)
    o.wr(6, 0x14, 2, 0x4109).rd(6, 0x1a).wr(6, 0, 1, 0x20)
    for x in range(0, 320, 7):
        o.wr(7, 5 * 320 + x, 1, x)
    seeds.append(o.hook())
    # The ROM BAR: memory decoding on, sized, placed, enabled, read, disabled.
    o = Ops(VGA).wr(2, 4, 2, 0x0007).wr(2, 0x30, 4, 0xfffffffe).rd(2, 0x30, 4)
    o.wr(2, 0x30, 4, 0xd0000001).rd(3, 0, 2).rd(3, 0x7fe, 8).wr(3, 0, 4, 0)
    o.rd(3, 0, 4).wr(2, 0x30, 4, 0xd0000000).rd(3, 0, 2)
    seeds.append(o)
    # The legacy picture next to the DISPI mode: BAR 2's VGA mirror and DISPI.
    o = vga_mode3(Ops(VGA), 0, 1)
    o.wr(5, 0x500 + 8, 2, 0).wr(5, 0x502, 2, 640).wr(5, 0x504, 2, 480).wr(5, 0x506, 2, 32)
    o.wr(5, 0x508, 2, 0x41).wr(5, 0x508, 2, 0).wr(5, 0x414, 2, 0x0c0c)
    seeds.append(o)
    write("vga", seeds)


# ---- targets with input formats of their own ----

def sqe(opc, cid, nsid=0, prp1=0, prp2=0, *cdw):
    """An NVMe submission queue entry; cdw are CDW10 onwards."""
    e = struct.pack("<BBHI16xQQ", opc, 0, cid, nsid, prp1, prp2)
    return (e + b"".join(struct.pack("<I", c) for c in cdw)).ljust(64, b"\0")


def nvme():
    """fuzz_nvme's format: byte 0 the controller (0: RAM namespace of 2048
    blocks, 1: a 128-block image on worker threads) | admin commands << 1,
    byte 1 the I/O commands, 15 I/O and 15 admin entries (after the harness's
    own queue set-up: CQ 1 and SQ 1 of 16), 16 register writes (2-byte offset,
    4-byte value), then guest RAM from 0x8000: PRP lists at 0x8000 and 0x8100,
    DSM ranges or SQ 2 at 0x9000, write data at 0xA000; reads go to 0x10000 up."""
    def one(d, admin=(), io=(), regs=(), ram=b""):
        assert len(admin) <= 13 and len(io) <= 15     # room in the 16-entry CQs
        return (bytes([d | len(admin) << 1, len(io)]) + b"".join(io).ljust(15 * 64, b"\0")
                + b"".join(admin).ljust(15 * 64, b"\0")
                + b"".join(struct.pack("<HI", off, v) for off, v in regs).ljust(96, b"\0") + ram)

    def data(sq2=b""):
        lists = struct.pack("<QQ", 0xB000, 0xC000).ljust(0x100, b"\0") \
            + struct.pack("<QQQ", 0x12000, 0x13000, 0x14000)
        ranges = sq2 or struct.pack("<IIQ", 0, 8, 0) + struct.pack("<IIQ", 0, 4, 100)
        return lists.ljust(0x1000, b"\0") + ranges.ljust(0x1000, b"\0") + bytes(range(256)) * 16
    READ, WRITE, FLUSH = 0x02, 0x01, 0x00
    io = [
        sqe(WRITE, 1, 1, 0xA000, 0, 0, 0, 7),                # LBA 0, 8 blocks: PRP1 only
        sqe(WRITE, 2, 1, 0xA800, 0x8000, 16, 0, 15),         # 16 blocks: PRP1 mid-page, PRP list
        sqe(WRITE, 3, 1, 0xA000, 0xB000, 32, 0, 15 | 1 << 30),  # two pages in PRP1/PRP2, FUA
        sqe(FLUSH, 4, 1),
        sqe(READ, 5, 1, 0x10000, 0, 0, 0, 7),
        sqe(READ, 6, 1, 0x11200, 0x8100, 16, 0, 23),         # 24 blocks: a 3-entry list
        sqe(READ, 7, 1, 0x16000, 0x17000, 32, 0, 15),
        sqe(0x09, 8, 1, 0x9000, 0, 1, 1 << 2),               # DSM deallocate, 2 ranges
        sqe(0x08, 9, 1, 0, 0, 64, 0, 7),                     # Write Zeroes
        sqe(FLUSH, 10, 0xffffffff),                          # every namespace
    ]
    seeds = []
    # Identify controller, namespace, active list (PRP1 mid-page + PRP2), its
    # descriptors; the SMART, error and firmware logs (from an offset); Number
    # of Queues (Set refused: the harness made queues already); an AER, held.
    seeds.append(one(0, [
        sqe(0x06, 16, 0, 0x10000, 0, 1), sqe(0x06, 17, 1, 0x11000, 0, 0),
        sqe(0x06, 18, 0, 0x12800, 0x13000, 2), sqe(0x06, 19, 1, 0x14000, 0, 3),
        sqe(0x02, 20, 0xffffffff, 0x15000, 0, 0x02 | 127 << 16),
        sqe(0x02, 21, 0, 0x15200, 0, 0x01 | 15 << 16),
        sqe(0x02, 22, 0, 0x15400, 0, 0x03 | 63 << 16, 0, 256),
        sqe(0x0a, 23, 0, 0, 0, 0x07), sqe(0x09, 24, 0, 0, 0, 0x07, 1 << 16 | 1),
        sqe(0x0c, 25)]))
    # The I/O set on each namespace, then the SMART log that counts it.
    for d in (0, 1):
        seeds.append(one(d, [sqe(0x02, 16, 1, 0x18000, 0, 0x02 | 127 << 16)], io, ram=data()))
    # Features: set and get each (current, default, capabilities); an Abort.
    seeds.append(one(1, [
        sqe(0x09, 16, 0, 0, 0, 0x01, 0x03), sqe(0x09, 17, 0, 0, 0, 0x02, 0),
        sqe(0x09, 18, 0, 0, 0, 0x04, 350), sqe(0x0a, 19, 0, 0, 0, 0x04, 1 << 20),
        sqe(0x09, 20, 0, 0, 0, 0x05, 10), sqe(0x09, 21, 0, 0, 0, 0x06, 0),
        sqe(0x0a, 22, 0, 0, 0, 0x08 | 1 << 8), sqe(0x09, 23, 0, 0, 0, 0x09, 1 | 1 << 16),
        sqe(0x09, 24, 0, 0, 0, 0x0a, 1), sqe(0x09, 25, 0, 0, 0, 0x0b, 0x1ff),
        sqe(0x0a, 26, 0, 0, 0, 0x06 | 3 << 8), sqe(0x08, 27, 0, 0, 0, 1 << 16 | 1)],
        io[:2], ram=data()))
    # Queue pair 2 (CQ at 0x1E000 on vector 2, SQ at 0x9000 holding three
    # commands), rung through the registers with the CQ head doorbells, an
    # interrupt mask and unmask, then a normal shutdown (CC.SHN).
    sq2 = io[0] + io[4] + io[3]
    seeds.append(one(0, [sqe(0x05, 16, 0, 0x1E000, 0, 15 << 16 | 2, 2 << 16 | 3),
                         sqe(0x01, 17, 0, 0x9000, 0, 15 << 16 | 2, 2 << 16 | 1)], io[:1],
                     [(0x1010, 3), (0x1014, 3), (0x100c, 1), (0x1004, 4), (0x0c, 1), (0x10, 1),
                      (0x14, 1 | 6 << 16 | 4 << 20 | 1 << 14)], data(sq2)))
    # Queue pair 1 deleted (SQ, then CQ) and made again elsewhere: on the RAM
    # namespace, where the I/O is done by then; on the workers, where the Delete
    # SQ waits for the writes in flight and the CQ is still in use.
    for d in (0, 1):
        seeds.append(one(d, [sqe(0x00, 16, 0, 0, 0, 1), sqe(0x04, 17, 0, 0, 0, 1),
                             sqe(0x05, 18, 0, 0x1E000, 0, 15 << 16 | 1, 1 << 16 | 3),
                             sqe(0x01, 19, 0, 0x1F000, 0, 15 << 16 | 1, 1 << 16 | 1),
                             sqe(0x06, 20, 0, 0x10000, 0, 1)], io[:4], ram=data()))
    write("nvme", seeds)


def ahci():
    """fuzz_ahci's format, one command each: ctl (bit 0 the port: 0 the disk of
    128 sectors, 1 the CD-ROM of 32 blocks; bit 1 the PRDT length from dw0;
    bit 3 interrupts; bit 6 SActive too), the slot, the command header's dw0
    and two unused words, the command table's 0x80 bytes (FIS, packet at 0x40),
    then PRDT entries as long as the input lasts (256 at most), then the data
    at 0x20000. A command with data to send has the full 256 entries, only its
    own counted (bit 1, dw0's PRDT length)."""
    SCATTER = 0x20000

    def fis(cmd, lba=0, count=0, feat=0):
        return struct.pack("<BBBB3sBBBBBH6x", 0x27, 0x80, cmd, feat & 0xff,
                           (lba & 0xffffff).to_bytes(3, "little"), 0x40, lba >> 24 & 0xff,
                           lba >> 32 & 0xff, lba >> 40 & 0xff, feat >> 8, count)

    def one(port, slot, cmd_fis, prds, acmd=b"", write=False, ctl=8, out=None):
        dw0 = 5 | (1 << 5 if port else 0) | (1 << 6 if write else 0) | len(prds) << 16
        prdt = b"".join(struct.pack("<QII", a, 0, (n - 1) | 1 << 31) for a, n in prds)
        if out is not None:
            ctl |= 2
            prdt = prdt.ljust(256 * 16, b"\0") + out
        return bytes([ctl | port, slot]) + struct.pack("<III", dw0, 0, 0) \
            + (cmd_fis.ljust(0x40, b"\0") + acmd).ljust(0x80, b"\0") + prdt
    pattern = bytes(range(256)) * 16
    seeds = [
        # IDENTIFY DEVICE.
        one(0, 0, fis(0xec), [(SCATTER, 512)]),
        # WRITE DMA EXT, 8 sectors at LBA 8 from two buffers; READ DMA EXT back
        # into two others.
        one(0, 1, fis(0x35, 8, 8), [(SCATTER, 2048), (SCATTER + 0x800, 2048)], write=True,
            out=pattern),
        one(0, 2, fis(0x25, 8, 8), [(0x30000, 1024), (0x31000, 3072)]),
        # FLUSH CACHE EXT.
        one(0, 3, fis(0xea), []),
        # READ FPDMA QUEUED: 4 sectors, tag 5 in slot 5, marked in SActive.
        one(0, 5, fis(0x60, 16, 5 << 3, 4), [(0x30000, 2048)], ctl=8 | 64),
        # DATA SET MANAGEMENT, TRIM: one block of ranges (8 at LBA 32, 4 at 64).
        one(0, 6, fis(0x06, 0, 1, 1), [(SCATTER, 512)], write=True,
            out=struct.pack("<QQ", 32 | 8 << 48, 64 | 4 << 48)),
        # The CD-ROM: PACKET (DMA) with INQUIRY (36 bytes), then READ(10) of 2 blocks.
        one(1, 0, fis(0xa0, feat=1), [(SCATTER, 36)], bytes([0x12, 0, 0, 0, 36, 0])),
        one(1, 1, fis(0xa0, feat=1), [(0x30000, 4096)],
            bytes([0x28, 0, 0, 0, 0, 1, 0, 0, 2, 0])),
    ]
    write("ahci", seeds)


def xhci():
    """fuzz_xhci's format: after the harness's bring-up (slots 1 and 2 for the
    tablet on port 1 and the keyboard on port 2, configured, EP 1 IN running),
    slot 1's endpoint 0 ring from its third TRB (512 bytes), its interrupt
    ring (256), more commands (512), 8 input events (3 bytes: a key when bit 0,
    else buttons << 1 and a move), 16 register writes, then guest RAM from
    0xC000 (buffers, contexts, more rings)."""
    DATA, EVR = 0xC000, 0x3100
    OP, RT, DB = 0x20, 0x2000, 0x3000
    NORMAL, SETUP, DATA_STAGE, STATUS, LINK, EVDATA = 1, 2, 3, 4, 6, 7
    CH, IOC, ISP, IDT, TC = 1 << 4, 1 << 5, 1 << 2, 1 << 6, 1 << 1

    def trb(param, status, kind, flags=0):
        return struct.pack("<QII", param, status, kind << 10 | flags | 1)

    def cmd(kind, slot=0, param=0, flags=0):
        return trb(param, 0, kind, flags | slot << 24)

    def setup(req_type, req, value, index, length, flags):
        """A Setup TRB, the request's 8 bytes immediate."""
        return trb(struct.unpack("<Q", struct.pack("<BBHHH", req_type, req, value, index,
                                                   length))[0], 8, SETUP, IDT | flags)

    def control(req_type, req, value, index, length, buf=0):
        """A control TD: Setup (immediate), Data when length (IN for a
        device-to-host request), Status."""
        td = setup(req_type, req, value, index, length,
                   (3 if req_type & 0x80 else 2) << 16 if length else 0)
        if length:
            td += trb(buf, length, DATA_STAGE, ISP | (1 << 16 if req_type & 0x80 else 0))
        return td + trb(0, 0, STATUS, IOC | (0 if req_type & 0x80 and length else 1 << 16))

    def one(ep0=b"", intr=b"", cmds=b"", events=(), regs=(), ram=b""):
        ev = b"".join(bytes(e) for e in events)
        return (ep0.ljust(512, b"\0") + intr.ljust(256, b"\0") + cmds.ljust(512, b"\0")
                + ev.ljust(24, b"\0")
                + b"".join(struct.pack("<HI", off, v) for off, v in regs).ljust(96, b"\0") + ram)

    # Having read the events: ERDP past the first n, EHB cleared; IMAN.IP and
    # USBSTS.EINT acknowledged.
    ack = lambda n: [(RT + 0x38, EVR + 16 * n | 8), (RT + 0x3c, 0), (RT + 0x20, 3), (OP + 4, 8)]
    seeds = []
    # Enumeration on endpoint 0: device, configuration, string and report
    # descriptors, GET_CONFIGURATION, SET_IDLE, SET_PROTOCOL, GET_REPORT,
    # GET_STATUS; a No Op command.
    ep0 = (control(0x80, 6, 0x0100, 0, 18, DATA) + control(0x80, 6, 0x0200, 0, 34, DATA + 0x40)
           + control(0x80, 6, 0x0300, 0, 255, DATA + 0x80)
           + control(0x80, 6, 0x0302, 0x409, 255, DATA + 0x180)
           + control(0x81, 6, 0x2200, 0, 0x100, DATA + 0x280)
           + control(0x80, 8, 0, 0, 1, DATA + 0x380) + control(0x21, 0x0a, 0, 0, 0)
           + control(0x21, 0x0b, 1, 0, 0) + control(0xa1, 1, 0x0100, 0, 8, DATA + 0x390)
           + control(0x80, 0, 0, 0, 2, DATA + 0x3a0))
    seeds.append(one(ep0, cmds=cmd(23), regs=ack(20)))
    # Interrupt IN on the tablet: one-TRB TDs, a TD of two chained TRBs and an
    # Event Data TRB, a Link back to the start (toggling the cycle); pointer
    # moves, clicks and the wheel fill them.
    intr = b"".join(trb(DATA + 16 * k, 8, NORMAL, IOC | ISP) for k in range(6))
    intr += trb(DATA + 0x100, 4, NORMAL, CH) + trb(DATA + 0x104, 4, NORMAL, CH) \
        + trb(0x1234, 0, EVDATA, IOC) + trb(0xa000, 0, LINK, TC)   # back to INT1_GPA
    moves = [(0, 40, 40), (2, 80, 60), (0, 120, 90), (4, 200, 150), (0, 255, 255),
             (16, 255, 255), (32, 10, 10), (0, 0, 0)]
    seeds.append(one(intr=intr, events=moves, regs=ack(16)))
    # Commands: No Op; Evaluate Context (slot 1's exit latency, EP 0's packet
    # size); Stop Endpoint and Set TR Dequeue Pointer onto a ring at DATA+0x800
    # for slot 1's EP 1 IN; then slot 2 deconfigured, reset, disabled, enabled
    # again, addressed in two steps (BSR), configured anew (its rings in DATA),
    # through a Link into DATA+0x600. Keys and moves then use the new rings.
    # An input context: the add flags, then the slot and endpoint contexts' words.
    ictx = lambda add, words: (struct.pack("<II", 0, add).ljust(32, b"\0") + b"".join(
        struct.pack("<I", w) for w in words)).ljust(33 * 32, b"\0")
    evaluate = ictx(3, [0, 10, 0, 0, 0, 0, 0, 0, 0, 64 << 16])
    address = ictx(3, [1 << 27 | 3 << 20, 2 << 16, 0, 0, 0, 0, 0, 0,
                       0, 3 << 1 | 4 << 3 | 64 << 16, DATA + 0xa01])
    configure = ictx(9, [3 << 27 | 3 << 20, 2 << 16] + [0] * 22 +
                     [0, 3 << 1 | 7 << 3 | 8 << 16, DATA + 0xb01])
    cmds = (cmd(23) + cmd(13, 1, DATA + 0x1000) + cmd(15, 1, flags=3 << 16)
            + cmd(16, 1, DATA + 0x801, 3 << 16) + cmd(12, 2, flags=1 << 9) + cmd(17, 2)
            + cmd(10, 2) + trb(DATA + 0x600, 0, LINK))
    more = cmd(9) + cmd(11, 2, DATA + 0x1800, 1 << 9) + cmd(11, 2, DATA + 0x1800) \
        + cmd(12, 2, DATA + 0x2000) + cmd(23)
    ring = lambda n, at: b"".join(trb(at + 16 * k, 8, NORMAL, IOC) for k in range(n))
    ram = bytearray(0x2000 + len(configure))
    for at, b in ((0x600, more), (0x800, ring(4, DATA + 0x3000)), (0xb00, ring(4, DATA + 0x3100)),
                  (0x1000, evaluate), (0x1800, address), (0x2000, configure)):
        ram[at:at + len(b)] = b
    keys = [(3, 0x61, 0), (1, 0x61, 0), (7, 0xe1, 0), (3, 0x62, 0), (5, 0xe1, 0), (1, 0x62, 0),
            (2, 100, 100), (0, 50, 50)]
    seeds.append(one(cmds=cmds, events=keys, regs=ack(24) + [(DB + 8, 3)], ram=bytes(ram)))
    # Endpoint 0 through a Link into DATA: the configuration descriptor into a
    # Data TRB chained to a Normal TRB with an Event Data TRB, SET_REPORT with
    # immediate OUT data, SET_INTERFACE, then a request it stalls (device
    # qualifier), which halts the endpoint; port 1 link state U3 and back to U0,
    # its change bits cleared; then, through the registers, the command ring
    # moved to DATA+0x600 (CRCR) for Reset Endpoint and Set TR Dequeue Pointer
    # on endpoint 0, which runs again from DATA+0x700.
    ep0 = control(0x80, 6, 0x0100, 0, 8, DATA) + trb(DATA + 0x400, 0, LINK)
    far = (setup(0x80, 6, 0x0200, 0, 34, 3 << 16)
           + trb(DATA + 0x40, 16, DATA_STAGE, CH | 1 << 16) + trb(DATA + 0x50, 18, NORMAL, CH | ISP)
           + trb(0x5678, 0, EVDATA, CH | IOC) + trb(0, 0, STATUS, IOC)
           + setup(0x21, 9, 0x0200, 0, 1, 2 << 16)
           + trb(0x01, 1, DATA_STAGE, IDT) + trb(0, 0, STATUS, IOC | 1 << 16)
           + control(0x01, 0x0b, 0, 0, 0) + control(0x80, 6, 0x0600, 0, 10, DATA + 0x80))
    ram = (bytes(0x400) + far).ljust(0x600, b"\0") \
        + (cmd(14, 1, flags=1 << 16) + cmd(16, 1, DATA + 0x701, 1 << 16)).ljust(0x100, b"\0") \
        + control(0x80, 6, 0x0100, 0, 18, DATA + 0x800)
    seeds.append(one(ep0, regs=ack(8) + [(OP + 0x400, 1 << 16 | 3 << 5 | 1 << 9),
                                          (OP + 0x400, 1 << 16 | 1 << 9),
                                          (OP + 0x400, 0x7f << 17 | 1 << 9),
                                          (OP + 0x18, DATA + 0x600 | 1), (OP + 0x1c, 0),
                                          (DB, 0), (DB + 4, 1)], ram=ram))
    # Registers: a port reset, the event ring moved to two segments of 16, the
    # command ring moved (CRCR) to 20 No Ops that fill across the segments,
    # another port reset, the controller stopped and HCRST.
    erst = struct.pack("<QII", DATA + 0x100, 16, 0) + struct.pack("<QII", DATA + 0x200, 16, 0)
    ram = erst.ljust(0x400, b"\0") + cmd(23) * 20
    seeds.append(one(cmds=cmd(23) * 3, regs=[(OP + 0x410, 1 << 4 | 1 << 9), (RT + 0x28, 2),
                                             (RT + 0x38, DATA + 0x100), (RT + 0x30, DATA),
                                             (OP + 0x18, DATA + 0x400 | 1), (OP + 0x1c, 0),
                                             (DB, 0), (OP + 0x400, 1 << 4 | 1 << 9),
                                             (OP + 0x00, 0), (OP + 0x00, 2)], ram=ram))
    write("xhci", seeds)


def fbuf():
    """fuzz_fbuf's format: 5-byte steps (op % 7, a, flags: size in bits 0-1,
    write in bit 2, BAR 2's low offset nibble in bits 4-7; a 16-bit value).
    ops: 0 DISPI ports 0x1ce + a % 3, 1 VGA ports 0x3c0 + a % 32, 2 BAR 2 (EDID
    at 0, VGA at 0x400, DISPI at 0x500), 3 BAR 0 (offset a << 17 | value << 1),
    4 the 8042 (a & 1: 0x64), 5 a key, 6 a pointer event."""
    step = lambda op, a, flags, w: bytes([op, a, flags]) + struct.pack("<H", w)
    W, S1, S2, S4, S8 = 4, 0, 1, 2, 3
    port = lambda idx, v: step(0, 0, W | S2, idx) + step(0, 1, W | S2, v)
    port_rd = lambda idx: step(0, 0, W | S2, idx) + step(0, 1, S2, 0)
    mmio = lambda off, flags, v=0: step(2, off >> 4, (off & 15) << 4 | flags, v)
    dispi = lambda idx, v: mmio(0x500 + 2 * idx, W | S2, v)
    vga = lambda p, v=None: step(1, p - 0x3c0, S1 if v is None else W | S1, v or 0)
    fb_wr = lambda off: step(3, off >> 17, W | S4, (off & 0x1ffff) >> 1)   # writes off / 2
    fb_rd = lambda off: step(3, off >> 17, S8, (off & 0x1ffff) >> 1)
    seeds = []
    # The Bochs VBE probe through the ports: ID, GETCAPS, 1024x768x32 with the
    # LFB, the memory size, a few pixels, a panned virtual screen, off again.
    o = port(0, 0xb0c5) + port_rd(0) + port(4, 2) + port_rd(1) + port_rd(2) + port_rd(3)
    o += port(4, 0) + port(1, 1024) + port(2, 768) + port(3, 32) + port(4, 0x41)
    o += port_rd(6) + port_rd(7) + port_rd(10)
    for off in (0, 4, 4096, 1024 * 4 * 767 + 4092):
        o += fb_wr(off) + fb_rd(off)
    o += port(6, 2048) + port(8, 16) + port(9, 8) + port_rd(7) + port(5, 1) + port(4, 0)
    seeds.append(o)
    # The same through BAR 2: 800x600x16 without clearing, a virtual width,
    # the EDID block read 8 bytes at a time, the palette through the VGA mirror.
    o = dispi(0, 0xb0c5) + dispi(4, 0) + dispi(1, 800) + dispi(2, 600) + dispi(3, 16)
    o += dispi(4, 0xc1) + dispi(6, 1024) + mmio(0x500 + 2 * 7, S2) + dispi(9, 100)
    for off in range(0, 128, 8):
        o += mmio(off, S8)
    o += mmio(0x408, W | S1, 0) + b"".join(mmio(0x409, W | S1, c) for c in (63, 0, 0, 0, 63, 0))
    o += mmio(0x407, W | S1, 0) + mmio(0x409, S1) + mmio(0x409, S1) + mmio(0x409, S1)
    o += fb_wr(800 * 2 * 10 + 20) + dispi(4, 0)
    seeds.append(o)
    # 8 bpp with an 8-bit DAC: the palette through the VGA ports, sequencer and
    # graphics registers, misc and input status reads, pixels.
    o = port(4, 0) + port(1, 640) + port(2, 480) + port(3, 8) + port(4, 0x61)
    o += vga(0x3c8, 0)
    for c in range(16):
        o += vga(0x3c9, c * 16) + vga(0x3c9, 255 - c * 16) + vga(0x3c9, c)
    o += vga(0x3c7, 3) + vga(0x3c9) + vga(0x3c9) + vga(0x3c9)
    o += vga(0x3c4, 1) + vga(0x3c5) + vga(0x3c4, 4) + vga(0x3c5, 0x0e) + vga(0x3ce, 5) + vga(0x3cf)
    o += vga(0x3cc) + vga(0x3da) + vga(0x3c0, 0x20) + vga(0x3c2, 0x63)
    for off in range(0, 640 * 4, 640):
        o += fb_wr(off)
    seeds.append(o + port(4, 0))
    # The console: 8042 self test, command byte, keyboard enable and scan
    # codes read back after key events; pointer moves and clicks; a 24 bpp mode.
    o = step(4, 1, W, 0xaa) + step(4, 0, 0, 0) + step(4, 1, W, 0x60) + step(4, 0, W, 0x47)
    o += step(4, 0, W, 0xf4) + step(4, 0, 0, 0)
    for a, key in ((3, 0x61), (1, 0x61), (3, 0xe1), (1, 0xe1), (3, 0x0d), (1, 0x0d)):
        o += step(5, a, 0, key) + step(4, 1, 0, 0) + step(4, 0, 0, 0)
    for b, x, y in ((0, 100, 3), (1, 200, 5), (0, 300, -2), (4, 640, 0)):
        o += step(6, b, y & 0xff, x)
    o += port(1, 1280) + port(2, 1024) + port(3, 24) + port(4, 0x41) + fb_wr(3 * 1280 * 100)
    seeds.append(o + port(4, 0))
    # The PS/2 mouse: aux port on, reset, sample rate, ID, resolution, data
    # reporting on; packets from pointer moves and clicks read through the
    # status and data ports; status request, remote mode and a read-data poll.
    aux = lambda *bs: b"".join(step(4, 1, W, 0xd4) + step(4, 0, W, v) for v in bs)
    rd = lambda n: (step(4, 1, 0, 0) + step(4, 0, 0, 0)) * n
    o = step(4, 1, W, 0xa8) + step(4, 1, W, 0x60) + step(4, 0, W, 0x47)
    o += aux(0xff) + rd(3) + aux(0xf3, 100) + rd(2) + aux(0xf2) + rd(2) + aux(0xe8, 3) + rd(2)
    o += aux(0xf4) + rd(1)
    for b, x, y in ((0, 100, 3), (1, 120, 5), (0, 90, -2), (2, 400, 40), (8, 400, 40), (0, 0, 0)):
        o += step(6, b, y & 0xff, x) + rd(3)
    o += aux(0xe9) + rd(4) + aux(0xf0) + rd(1) + step(6, 0, 7, 300) + aux(0xeb) + rd(4)
    seeds.append(o + aux(0xea, 0xf5) + rd(2))
    write("fbuf", seeds)


# ---- grub-bhyve ----

def mbr_entry(ptype, start, count):
    return struct.pack("<B3sB3sII", 0, bytes(3), ptype, bytes(3), start, count)


def grub_part():
    """Disks for fuzz_grub_part.c: byte 0 picks the scheme and partition
    numbers, the rest is the disk (sectors of 512 bytes)."""
    seeds = []
    # MBR: two primaries, an extended one (LBA 8) with two logicals chained.
    disk = bytearray(24 * 512)
    disk[446:510] = (mbr_entry(0x83, 2, 4) + mbr_entry(0x82, 6, 2)
                     + mbr_entry(0x05, 8, 16) + bytes(16))
    disk[510:512] = b"\x55\xaa"
    ebr1, ebr2 = 8 * 512, 20 * 512
    disk[ebr1 + 446:ebr1 + 478] = mbr_entry(0x83, 1, 3) + mbr_entry(0x05, 12, 4)
    disk[ebr1 + 510:ebr1 + 512] = b"\x55\xaa"
    disk[ebr2 + 446:ebr2 + 462] = mbr_entry(0x0c, 1, 3)
    disk[ebr2 + 510:ebr2 + 512] = b"\x55\xaa"
    for sel in (0, 0x12):
        seeds.append(bytes([sel]) + bytes(disk))
    # GPT: a protective MBR, the header at LBA 1, 128-byte entries at LBA 2.
    disk = bytearray(24 * 512)
    disk[446:462] = mbr_entry(0xee, 1, 23)
    disk[510:512] = b"\x55\xaa"
    hdr = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, 1, 23, 4, 22,
                      bytes(range(16)), 2, 4, 128, 0)
    disk[512:512 + len(hdr)] = hdr
    for i, (first, last) in enumerate(((4, 10), (11, 11), (12, 22))):
        e = bytes([0x28, 0x73, 0x2a, 0xc1] + [i + 1] * 12) + bytes([0xa0 + i] * 16) \
            + struct.pack("<QQQ", first, last, 0) + "part{}".format(i).encode("utf-16-le")
        disk[1024 + 128 * i:1024 + 128 * i + len(e)] = e
    for sel in (1, 0x21):
        seeds.append(bytes([sel]) + bytes(disk))
    write("grub_part", seeds)


def setup_header(version, loadflags=1, setup_sects=4, xloadflags=0, relocatable=1,
                 pref=0x1000000, init_size=0x800000, cmdline_size=2047, jump=0x6a):
    """A bzImage's setup header from 0x1F1 on (fuzz_grub_bzimage.c puts a
    short input there and pads it to 4 KiB)."""
    h = bytearray(0x268 - 0x1f1)

    def put(off, fmt, *v):
        struct.pack_into(fmt, h, off - 0x1f1, *v)
    put(0x1f1, "<B", setup_sects)
    put(0x1fe, "<H", 0xaa55)
    put(0x200, "<BB", 0xeb, jump)
    put(0x202, "<4sH", b"HdrS", version)
    put(0x211, "<B", loadflags)
    put(0x214, "<I", 0x100000)
    put(0x22c, "<I", 0x7fffffff)
    put(0x230, "<IBBH", 0x200000, relocatable, 21, xloadflags)
    put(0x238, "<I", cmdline_size)
    put(0x258, "<QI", pref, init_size)
    return bytes(h)


def grub_bzimage():
    seeds = [
        setup_header(0x020f, xloadflags=1 | 2),          # a 64-bit kernel, 2.15
        setup_header(0x020f, xloadflags=1, relocatable=0),
        setup_header(0x020a, pref=0x200000),              # 2.10: pref_address
        setup_header(0x0206, jump=0x30, setup_sects=0),   # 2.06: no pref_address
        setup_header(0x020c, init_size=0x20000000),       # wants more than the guest has
    ]
    # A whole 8 KiB file: the first header where a kernel has it, at 0x1F1.
    img = bytearray(0x2000)
    img[0x1f1:0x1f1 + len(seeds[0])] = seeds[0]
    seeds.append(bytes(img))
    write("grub_bzimage", seeds)


TARGETS = {
    "rtc": rtc, "atkbdc": atkbdc, "hpet": hpet, "fwctl": fwctl, "fwcfg": fwcfg,
    "pflash": pflash, "pm": pm, "uart": uart, "virtio_pci": virtio_pci,
    "virtqueue": virtqueue, "virtio_net": virtio_net, "virtio_console": virtio_console,
    "pci": pci, "cmdline": cmdline, "config_file": config_file,
    "tap": tap, "slirp": slirp, "vga": vga,
    "nvme": nvme, "ahci": ahci, "xhci": xhci, "fbuf": fbuf,
    "grub_part": grub_part, "grub_bzimage": grub_bzimage,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or TARGETS:
        TARGETS[name]()
