#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/NAME/: op streams (the format
tests/fuzz/fuzz_common.h describes) that take each device through its valid
paths, so that the fuzzers start from real driver conversations. Run it from
the top of the tree after changing the format or a device's seeds:
    tests/fuzz/gen_seeds.py
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
    VERSION_1 = 1 << 32
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


TARGETS = {
    "rtc": rtc, "atkbdc": atkbdc, "hpet": hpet, "fwctl": fwctl, "fwcfg": fwcfg,
    "pflash": pflash, "pm": pm, "uart": uart, "virtio_pci": virtio_pci,
    "virtqueue": virtqueue, "virtio_net": virtio_net, "virtio_console": virtio_console,
    "pci": pci, "cmdline": cmdline, "config_file": config_file,
    "tap": tap, "slirp": slirp, "vga": vga,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or TARGETS:
        TARGETS[name]()
