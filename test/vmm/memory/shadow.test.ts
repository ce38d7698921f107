// Shadow page tables as data: roots, fills, drops, clears, lookups, and the
// allocator bookkeeping that snapshots carry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhysicalMemory } from '../../../src/x86/mmu/memory';
import { Mmu } from '../../../src/x86/mmu/paging';
import { HostAllocator, ShadowTables } from '../../../src/vmm/memory/index';

const MiB = 1 << 20;

function setup(): { mem: PhysicalMemory; alloc: HostAllocator; sh: ShadowTables } {
  const mem = new PhysicalMemory(8 * MiB);
  const alloc = new HostAllocator(mem, 4 * MiB, 8 * MiB);
  return { mem, alloc, sh: new ShadowTables(mem, alloc) };
}

test('a filled shadow PTE is what the processor walks: GVA page to host page with the given rights', () => {
  const { mem, alloc, sh } = setup();
  const root = sh.newRoot();
  assert.equal(root, 4 * MiB);
  const pte = sh.set(root, 0x40001234, 0x123000, { writable: false, user: true });
  assert.equal(pte.value, 0x123025); // present, user, accessed; read-only
  assert.equal(sh.tableCount(root), 1);
  assert.equal(mem.read32(root + 0x100 * 4) >>> 0, (root + 0x1000) | 0x27); // PDE: the table, everything allowed
  const mmu = new Mmu(mem);
  mmu.configure(0x80010001, root, 0);
  assert.equal(mmu.probe(0x40001abc), 0x123abc);
  // A write faults (#PF, present + write): the page is read-only and CR0.WP is set.
  assert.throws(() => mmu.translate(0x40001000, 1), (e: unknown) => (e as { vector: number; code: number }).vector === 14 && (e as { code: number }).code === 3);
  const w = sh.set(root, 0x40001000, 0x124000, { writable: true, user: false });
  assert.equal(w.value, 0x124063); // present, writable, accessed, dirty; supervisor
  mmu.flush(true);
  assert.equal(mmu.translate(0x40001008, 1), 0x124008);
  assert.equal(alloc.state().next, 4 * MiB + 0x2000);
});

test('lookup shows both entries; drop clears one PTE; clear empties the root and frees its tables', () => {
  const { alloc, sh } = setup();
  const root = sh.newRoot();
  sh.set(root, 0x1000, 0x1000, { writable: true, user: true });
  sh.set(root, 0x400000, 0x200000, { writable: true, user: true });
  assert.equal(sh.tableCount(root), 2);
  const l = sh.lookup(root, 0x1004);
  assert.equal(l.pde.hpa, root);
  assert.equal(l.pte?.hpa, root + 0x1000 + 4);
  assert.equal(l.hpa, 0x1004);
  assert.equal(sh.drop(root, 0x1000), true);
  assert.equal(sh.drop(root, 0x1000), false);
  assert.equal(sh.lookup(root, 0x1004).hpa, null);
  assert.equal(sh.lookup(root, 0x800000).pte, null); // no table for that PDE
  const before = alloc.state();
  assert.equal(sh.clear(root), 2);
  assert.equal(sh.lookup(root, 0x400000).pte, null);
  const after = alloc.state();
  assert.equal(after.free.length, before.free.length + 2);
  // Freed tables are reused (zeroed) by the next fill.
  sh.set(root, 0x5000, 0x5000, { writable: false, user: false });
  assert.equal(sh.lookup(root, 0x6000).pte?.value, 0);
});

test('snapshot and restore: the roots and tables bookkeeping and the allocator state as plain JSON', () => {
  const { mem, alloc, sh } = setup();
  const root = sh.newRoot();
  sh.set(root, 0x3000, 0x3000, { writable: true, user: false });
  const state = JSON.parse(JSON.stringify({ sh: sh.snapshot(), alloc: alloc.state() })) as { sh: ReturnType<ShadowTables['snapshot']>; alloc: ReturnType<HostAllocator['state']> };
  sh.clear(root);
  alloc.allocPage();
  const other = new ShadowTables(mem, alloc);
  other.restore(state.sh);
  alloc.setState(state.alloc);
  assert.equal(other.tableCount(root), 1);
  assert.deepEqual(alloc.state(), state.alloc);
  assert.throws(() => other.tableCount(0x123000), /not a shadow root/);
  assert.throws(() => alloc.setState({ next: 0, free: [] }), /outside/);
});
