// Memory slots and the host allocator: ranges, overlaps, lookups, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhysicalMemory } from '../../../src/x86/mmu/memory';
import { Ept, HostAllocator, HostMemoryError, MemorySlots, SlotError } from '../../../src/vmm/memory';

function vmSlots(): MemorySlots {
  const s = new MemorySlots(64 << 20);
  s.addRam({ name: 'low', gpa: 0, size: 0xa0000, hpa: 0x1000000 });
  s.addMmio({ name: 'vga', gpa: 0xa0000, size: 0x20000 });
  s.addRam({ name: 'bios', gpa: 0xf0000, size: 0x10000, hpa: 0x10a0000, readOnly: true });
  s.addRam({ name: 'high', gpa: 0x100000, size: 0x700000, hpa: 0x1200000 });
  s.addMmio({ name: 'ioapic', gpa: 0xfec00000, size: 0x1000 });
  return s;
}

test('lookup: RAM gives the host address, MMIO the slot and offset, holes nothing', () => {
  const s = vmSlots();
  assert.deepEqual(s.list().map((x) => x.name), ['low', 'vga', 'bios', 'high', 'ioapic']);
  const r = s.resolve(0x7c00);
  assert.ok(r.kind === 'ram' && r.hpa === 0x1007c00 && r.slot.name === 'low');
  const h = s.resolve(0x123456);
  assert.ok(h.kind === 'ram' && h.hpa === 0x1223456);
  const m = s.resolve(0xb8004);
  assert.ok(m.kind === 'mmio' && m.slot.name === 'vga' && m.offset === 0x18004);
  assert.equal(s.resolve(0xc0000).kind, 'unmapped');
  assert.equal(s.resolve(0x800000).kind, 'unmapped');
  const io = s.resolve(0xfec00010);
  assert.ok(io.kind === 'mmio' && io.offset === 0x10);
  assert.equal(s.find(0xfffff)?.name, 'bios');
  assert.equal(s.find(0x100000)?.name, 'high');
});

test('overlaps, misalignment and bad ranges are refused with the slot names and ranges', () => {
  const s = vmSlots();
  assert.throws(() => s.addRam({ name: 'x', gpa: 0x9f000, size: 0x2000, hpa: 0x3000000 }),
    { name: 'SlotError', message: 'slot "x" [0x9f000, 0xa1000) overlaps slot "low" [0x0, 0xa0000)' });
  assert.throws(() => s.addMmio({ name: 'y', gpa: 0x7ff000, size: 0x2000 }), /overlaps slot "high"/);
  assert.throws(() => s.addRam({ name: 'z', gpa: 0x900000, size: 0x1000, hpa: 0x1201000 }),
    /host range \[0x1201000, 0x1202000\) overlaps the host memory of slot "high"/);
  assert.throws(() => s.addRam({ name: 'a', gpa: 0x900800, size: 0x1000, hpa: 0x3000000 }), /not 4 KiB-aligned/);
  assert.throws(() => s.addRam({ name: 'b', gpa: 0x900000, size: 0x800, hpa: 0x3000000 }), /multiple of 4 KiB/);
  assert.throws(() => s.addRam({ name: 'c', gpa: 0x900000, size: 0x1000, hpa: 0x3000800 }), /host address 0x3000800/);
  assert.throws(() => s.addRam({ name: 'd', gpa: 0x900000, size: 0x1000, hpa: 0x4000000 }), /outside host RAM/);
  assert.throws(() => s.addMmio({ name: 'e', gpa: 0xfffff000, size: 0x2000 }), /4 GiB/);
  assert.throws(() => s.addMmio({ name: 'low', gpa: 0x900000, size: 0x1000 }), /already exists/);
  assert.throws(() => s.remove('nope'), SlotError);
  assert.equal(s.remove('vga').kind, 'mmio');
  assert.equal(s.resolve(0xb8000).kind, 'unmapped');
  s.addRam({ name: 'vram', gpa: 0xa0000, size: 0x20000, hpa: 0x3000000 });
  assert.equal(s.list()[1].name, 'vram');
});

test('the host allocator aligns ranges, zeroes pages, reuses freed pages and reports exhaustion', () => {
  const mem = new PhysicalMemory(32 << 20);
  mem.write32(0x1000000, 0x12345678);
  const a = new HostAllocator(mem, 0x1000000, 0x1800000);
  const p = a.allocPage();
  assert.equal(p, 0x1000000);
  assert.equal(mem.read32(p), 0, 'pages are zeroed');
  const big = a.allocRange(0x400000, 0x200000);
  assert.equal(big, 0x1200000, '2 MiB alignment skips ahead');
  assert.equal(a.allocPage(), 0x11ff000, 'pages skipped for alignment are reused');
  a.freePage(p);
  assert.equal(a.allocPage(), 0x1000000);
  assert.throws(() => a.allocRange(0x400000), HostMemoryError);
  assert.equal(a.remaining, 0x200000);
  assert.throws(() => new HostAllocator(mem, 0x1000000, 0x4000000), /past host RAM/);
  assert.throws(() => a.freePage(0x1700000), /not a page handed out/);
});

test('an EPT built from slots: RAM mapped (ROM read-only), MMIO not present or misconfigured', () => {
  const mem = new PhysicalMemory(64 << 20);
  const slots = vmSlots();
  const ept = new Ept(mem, new HostAllocator(mem, 0x3000000, 0x3100000));
  ept.mapSlots(slots);
  const r = ept.walk(0x7c00, { kind: 'write' });
  assert.ok(r.outcome === 'ok' && r.hpa === 0x1007c00);
  const hi = ept.walk(0x3fffff, { kind: 'fetch' });
  assert.ok(hi.outcome === 'ok' && hi.hpa === 0x14fffff && hi.pageSize === 0x1000, 'GPA and HPA differ mod 2 MiB: 4 KiB pages');
  const rom = ept.walk(0xffff0, { kind: 'write' });
  assert.ok(rom.outcome === 'violation' && rom.qualification === 0x1aa, 'ROM: write to R-X');
  const vga = ept.walk(0xb8000, { kind: 'write' });
  assert.ok(vga.outcome === 'violation' && vga.qualification === 0x182 && vga.notPresent);
  const ept2 = new Ept(mem, new HostAllocator(mem, 0x3100000, 0x3200000));
  ept2.mapSlots(slots, { mmio: 'misconfig' });
  const io = ept2.walk(0xfec00000, { kind: 'read' });
  assert.ok(io.outcome === 'misconfig' && /writable but not readable/.test(io.reason));
});

test('RAM slots carved from the allocator: 2 MiB-aligned host memory for 2 MiB-aligned guest RAM', () => {
  const mem = new PhysicalMemory(64 << 20);
  const alloc = new HostAllocator(mem, 0x1001000, 0x3000000);
  const slots = new MemorySlots(mem.size);
  const low = slots.addRamFrom(alloc, { name: 'low', gpa: 0, size: 0x400000 });
  assert.equal(low.hpa, 0x1200000);
  const bios = slots.addRamFrom(alloc, { name: 'bios', gpa: 0xfffff000, size: 0x1000, readOnly: true });
  assert.equal(bios.hpa, 0x1600000, 'a 4 KiB slot takes the next page');
  assert.equal(bios.readOnly, true);
  assert.throws(() => slots.addRamFrom(alloc, { name: 'x', gpa: 0x200000, size: 0x1000 }), /overlaps slot "low"/);
  assert.equal(alloc.remaining, 0x3000000 - 0x1601000, 'a refused slot allocates nothing');
  const ept = new Ept(mem, new HostAllocator(mem, 0x3000000, 0x3100000));
  ept.mapSlots(slots);
  const w = ept.walk(0x3fffff, { kind: 'read' });
  assert.ok(w.outcome === 'ok' && w.pageSize === 0x200000 && w.hpa === 0x15fffff);
});
