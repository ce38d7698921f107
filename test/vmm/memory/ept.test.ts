// EPT structures and walks checked against hand-computed entries (SDM Vol. 3C
// 29.3 and vmx-facts sections 5 and 9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhysicalMemory } from '../../../src/x86/mmu/memory';
import {
  DEFAULT_EPT_CAPS, Ept, EptError, HostAllocator, decodeEptp, encodeEptp, eptpProblems, walkEpt, type EptWalk,
} from '../../../src/vmm/memory';

const TABLES = 0x1000000; // EPT structures are carved from [16 MiB, 32 MiB) of host memory
const PML4 = TABLES, PDPT = TABLES + 0x1000, PD = TABLES + 0x2000, PT = TABLES + 0x3000;

function setup(opts: { ad?: boolean; caps?: typeof DEFAULT_EPT_CAPS } = {}): { mem: PhysicalMemory; ept: Ept } {
  const mem = new PhysicalMemory(64 << 20);
  const ept = new Ept(mem, new HostAllocator(mem, TABLES, 0x2000000), { accessedDirty: opts.ad, caps: opts.caps });
  return { mem, ept };
}
const lo = (mem: PhysicalMemory, at: number): number => mem.read32(at) >>> 0;
const hex = (n: number | bigint): string => `0x${n.toString(16)}`;
function ok(w: EptWalk): Extract<EptWalk, { outcome: 'ok' }> {
  assert.equal(w.outcome, 'ok', JSON.stringify(w, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v)));
  return w as Extract<EptWalk, { outcome: 'ok' }>;
}
function qual(w: EptWalk): string {
  assert.equal(w.outcome, 'violation');
  return hex((w as Extract<EptWalk, { outcome: 'violation' }>).qualification);
}
function misconfig(w: EptWalk): string {
  assert.equal(w.outcome, 'misconfig');
  return (w as Extract<EptWalk, { outcome: 'misconfig' }>).reason;
}

test('EPTP: WB, 4-level walk, A/D enable and the PML4 address in the SDM bit positions', () => {
  assert.equal(hex(encodeEptp({ pml4: 0x1000000, memoryType: 6, accessedDirty: true })), '0x100005e');
  assert.equal(hex(encodeEptp({ pml4: 0x2345000, memoryType: 0 })), '0x2345018');
  assert.deepEqual(decodeEptp(0x100005en), { memoryType: 6, walkLength: 4, accessedDirty: true, pml4: 0x1000000 });
  assert.deepEqual(eptpProblems(0x100001en), []);
  assert.equal(eptpProblems(0x1000019n).length, 1, 'memory type 1 (WC) is not allowed for the EPTP');
  assert.equal(eptpProblems(0x1000026n).length, 1, 'page-walk length 5');
  assert.equal(eptpProblems(0x100009en).length, 1, 'reserved bit 7');
  assert.equal(eptpProblems(0x10100001en).length, 1, 'bit 32 is beyond MAXPHYADDR');
  assert.equal(eptpProblems(0x100005en, { ...DEFAULT_EPT_CAPS, accessedDirty: false }).length, 1);
  const { ept } = setup({ ad: true });
  assert.equal(hex(ept.eptp), '0x100005e');
});

test('a 4 KiB mapping builds PML4E, PDPTE, PDE and PTE with the expected values', () => {
  const { mem, ept } = setup();
  ept.map(0x5000, 0x300000, 0x1000, 'rwx');
  assert.equal(hex(lo(mem, PML4)), '0x1001007', 'PML4E[0] -> PDPT, RWX');
  assert.equal(hex(lo(mem, PDPT)), '0x1002007');
  assert.equal(hex(lo(mem, PD)), '0x1003007');
  assert.equal(hex(lo(mem, PT + 5 * 8)), '0x300037', 'PTE[5]: frame 0x300000, WB (6 << 3), RWX');
  assert.equal(mem.read32(PT + 5 * 8 + 4), 0, 'high half zero');
  const w = ok(ept.walk(0x5123, { kind: 'read' }));
  assert.equal(hex(w.hpa), '0x300123');
  assert.equal(w.pageSize, 0x1000);
  assert.deepEqual(w.steps.map((s) => [s.name, hex(s.entryHpa), hex(s.value)]), [
    ['PML4E', '0x1000000', '0x1001007'], ['PDPTE', '0x1001000', '0x1002007'],
    ['PDE', '0x1002000', '0x1003007'], ['PTE', '0x1003028', '0x300037'],
  ]);
  assert.equal(w.memoryType, 6);
  assert.equal(ept.tablePages, 4);
});

test('2 MiB and 1 GiB pages: bit 7 in the PDE / PDPTE and the offset carried from the GPA', () => {
  const { mem, ept } = setup();
  ept.map(0x400000, 0x800000, 0x200000, 'rw-');
  ept.map(0x40000000, 0x80000000, 0x40000000, 'r-x', { memoryType: 0, ignorePat: true });
  assert.equal(hex(lo(mem, PD + 2 * 8)), '0x8000b3', 'PDE[2]: 0x800000 | large | WB | RW-');
  assert.equal(hex(lo(mem, PDPT + 8)), '0x800000c5', 'PDPTE[1]: 0x80000000 | large | IPAT | UC | R-X');
  const w2 = ok(ept.walk(0x5abcde, { kind: 'write' }));
  assert.equal(hex(w2.hpa), '0x9abcde');
  assert.equal(w2.pageSize, 0x200000);
  assert.equal(w2.steps.length, 3);
  const w1 = ok(ept.walk(0x7fffffff, { kind: 'fetch' }));
  assert.equal(hex(w1.hpa), '0xbfffffff');
  assert.equal(w1.pageSize, 0x40000000);
  assert.equal(w1.steps.length, 2);
  assert.equal(w1.ignorePat, true);
  assert.equal(w1.memoryType, 0);
});

test('the builder picks page sizes from the alignment of both addresses and the size left', () => {
  const { ept } = setup();
  ept.map(0x1ff000, 0x1ff000, 0x202000, 'rwx');
  assert.equal(ok(ept.walk(0x1ff000, { kind: 'read' })).pageSize, 0x1000);
  assert.equal(ok(ept.walk(0x200000, { kind: 'read' })).pageSize, 0x200000);
  assert.equal(ok(ept.walk(0x3fffff, { kind: 'read' })).pageSize, 0x200000);
  assert.equal(ok(ept.walk(0x400000, { kind: 'read' })).pageSize, 0x1000);
  assert.equal(ept.walk(0x401000, { kind: 'read' }).outcome, 'violation');
  // GPA 2 MiB-aligned but HPA only 4 KiB-aligned: 4 KiB pages only.
  ept.map(0x800000, 0x901000, 0x200000, 'rwx');
  assert.equal(ok(ept.walk(0x800000, { kind: 'read' })).pageSize, 0x1000);
  assert.equal(hex(ok(ept.walk(0x9ff000, { kind: 'read' })).hpa), '0xb00000');
  // maxPage limits the size.
  ept.map(0x40000000, 0x40000000, 0x40000000, 'rwx', { maxPage: 0x200000 });
  assert.equal(ok(ept.walk(0x40000000, { kind: 'read' })).pageSize, 0x200000);
});

test('permission violations report the access and the R/W/X of the translation (exit 48 qualification)', () => {
  const { ept } = setup();
  ept.map(0x40000000, 0x40000000, 0x40000000, 'r-x');
  ept.map(0x400000, 0x400000, 0x200000, 'rw-');
  ept.map(0x5000, 0x5000, 0x1000, 'r--');
  // write (bit 1), readable (3), executable (5), GVA valid (7), final translation (8)
  assert.equal(qual(ept.walk(0x40001234, { kind: 'write' })), '0x1aa');
  // fetch (2), readable (3), writable (4), 7, 8
  assert.equal(qual(ept.walk(0x400000, { kind: 'fetch' })), '0x19c');
  assert.equal(qual(ept.walk(0x5000, { kind: 'fetch' })), '0x18c');
  // not present: read (0), no permissions, 7, 8
  assert.equal(qual(ept.walk(0x7000000, { kind: 'read' })), '0x181');
  const np = ept.walk(0x7000000, { kind: 'read' });
  assert.ok(np.outcome === 'violation' && np.notPresent);
  assert.equal(np.steps.length, 3, 'the walk stops at the not-present PDE');
  // A guest paging-structure read: bit 7 set, bit 8 clear.
  assert.equal(qual(ept.walk(0x6000, { kind: 'read', pagingStructure: true })), '0x81');
  // Not from a linear address (e.g. a PDPTE load): bits 7 and 8 clear.
  assert.equal(qual(ept.walk(0x40001000, { kind: 'write', linear: false })), '0x2a');
});

test('with EPT A/D enabled, guest paging-structure accesses are writes: bits 0 and 1 both set', () => {
  const plain = setup();
  plain.ept.map(0x10000, 0x10000, 0x1000, 'r-x');
  assert.equal(plain.ept.walk(0x10c00, { kind: 'read', pagingStructure: true }).outcome, 'ok');
  const ad = setup({ ad: true });
  ad.ept.map(0x10000, 0x10000, 0x1000, 'r-x');
  assert.equal(qual(ad.ept.walk(0x10c00, { kind: 'read', pagingStructure: true })), '0xab');
});

test('misconfigurations: write without read, unsupported execute-only, reserved memory types and bits', () => {
  const { mem, ept } = setup();
  ept.map(0x1000, 0x1000, 0x1000, '-w-');
  ept.map(0x2000, 0x2000, 0x1000, '-wx');
  ept.map(0x3000, 0x3000, 0x1000, '--x');
  ept.map(0x4000, 0x4000, 0x1000, 'rwx', { memoryType: 2 });
  ept.map(0x5000, 0x5000, 0x1000, 'rwx', { memoryType: 7 });
  ept.map(0x6000, 0x6000, 0x1000, 'rwx', { memoryType: 4 });
  assert.match(misconfig(ept.walk(0x1000, { kind: 'read' })), /writable but not readable/);
  assert.match(misconfig(ept.walk(0x2000, { kind: 'fetch' })), /writable but not readable/);
  assert.equal(ept.walk(0x3000, { kind: 'fetch' }).outcome, 'ok', 'execute-only is supported by default');
  assert.equal(qual(ept.walk(0x3000, { kind: 'read' })), '0x1a1');
  assert.match(misconfig(walkEpt(mem, ept.eptp, 0x3000, { kind: 'fetch' }, { caps: { ...DEFAULT_EPT_CAPS, executeOnly: false } })), /execute-only/);
  assert.match(misconfig(ept.walk(0x4000, { kind: 'read' })), /memory type 2/);
  assert.match(misconfig(ept.walk(0x5000, { kind: 'read' })), /memory type 7/);
  assert.equal(ok(ept.walk(0x6000, { kind: 'read' })).memoryType, 4, 'WT is a valid type');
  // Reserved bits: PML4E bit 3, bit 32 (beyond MAXPHYADDR), a 2 MiB PDE with bit 12.
  mem.write32(PML4, 0x1001007 | 8);
  assert.match(misconfig(ept.walk(0x6000, { kind: 'read' })), /PML4E has reserved bits/);
  mem.write32(PML4, 0x1001007);
  mem.write32(PD + 4, 1);
  assert.match(misconfig(ept.walk(0x6000, { kind: 'read' })), /PDE has reserved address bits 51:32/);
  mem.write32(PD + 4, 0);
  ept.map(0x200000, 0x200000, 0x200000, 'rwx');
  mem.write32(PD + 8, 0x2010b7);
  assert.match(misconfig(ept.walk(0x200000, { kind: 'read' })), /PDE has reserved bits set \(0x1000\)/);
  // A not-present entry with reserved bits is still just not present.
  mem.write32(PD + 8, 0x201000);
  assert.equal(qual(ept.walk(0x200000, { kind: 'read' })), '0x181');
});

test('1 GiB and 2 MiB leaves are reserved bit 7 when the capability is missing', () => {
  const { mem, ept } = setup();
  ept.map(0x40000000, 0x40000000, 0x40000000, 'rwx');
  ept.map(0x200000, 0x200000, 0x200000, 'rwx');
  const caps = { ...DEFAULT_EPT_CAPS, pages1G: false, pages2M: false };
  assert.match(misconfig(walkEpt(mem, ept.eptp, 0x40000000, { kind: 'read' }, { caps })), /PDPTE has reserved bits set \(0x80\)/);
  assert.match(misconfig(walkEpt(mem, ept.eptp, 0x200000, { kind: 'read' }, { caps })), /PDE has reserved bits set \(0x80\)/);
  const small = new Ept(mem, new HostAllocator(mem, 0x3000000, 0x3100000), { caps });
  small.map(0x200000, 0x200000, 0x200000, 'rwx');
  assert.equal(ok(small.walk(0x200000, { kind: 'read' })).pageSize, 0x1000, 'the builder respects the capabilities');
});

test('accessed and dirty flags are set only when EPTP bit 6 enables them', () => {
  const { mem, ept } = setup({ ad: true });
  ept.map(0x5000, 0x300000, 0x1000, 'rwx');
  ept.map(0x6000, 0x301000, 0x1000, 'r--');
  ok(ept.walk(0x5000, { kind: 'read' }));
  assert.equal(hex(lo(mem, PT + 5 * 8)), '0x300037', 'inspection walks change nothing');
  ok(ept.walk(0x5000, { kind: 'read' }, true));
  assert.equal(hex(lo(mem, PML4)), '0x1001107');
  assert.equal(hex(lo(mem, PDPT)), '0x1002107');
  assert.equal(hex(lo(mem, PD)), '0x1003107');
  assert.equal(hex(lo(mem, PT + 5 * 8)), '0x300137', 'read: accessed only');
  ok(ept.walk(0x5004, { kind: 'write' }, true));
  assert.equal(hex(lo(mem, PT + 5 * 8)), '0x300337', 'write: accessed and dirty');
  ept.walk(0x6000, { kind: 'write' }, true);
  assert.equal(hex(lo(mem, PT + 6 * 8)), '0x301031', 'a violation sets nothing');
  assert.equal(ept.walk(0x6000, { kind: 'read', pagingStructure: true }).outcome, 'violation', 'needs W with A/D on');

  const off = setup();
  off.ept.map(0x5000, 0x300000, 0x1000, 'rwx');
  ok(off.ept.walk(0x5000, { kind: 'write' }, true));
  assert.equal(hex(lo(off.mem, PT + 5 * 8)), '0x300037', 'EPTP bit 6 clear: no flags');
});

test('protect splits a 2 MiB page; unmap clears one page; remapping large frees the table', () => {
  const { mem, ept } = setup({ ad: true });
  ept.map(0x200000, 0x200000, 0x200000, 'rwx');
  ok(ept.walk(0x200000, { kind: 'write' }, true));
  assert.equal(hex(lo(mem, PD + 8)), '0x2003b7', '2 MiB leaf with A and D');
  ept.protect(0x201000, 0x1000, 'r--');
  const ptNew = TABLES + 0x3000;
  assert.equal(hex(lo(mem, PD + 8)), hex(ptNew | 0x107), 'the PDE now points to a page table (A kept)');
  assert.equal(hex(lo(mem, ptNew)), '0x200337', 'PTE[0] inherits WB, A, D, RWX');
  assert.equal(hex(lo(mem, ptNew + 8)), '0x201331', 'PTE[1] read-only');
  assert.equal(hex(lo(mem, ptNew + 511 * 8)), '0x3ff337');
  assert.equal(qual(ept.walk(0x201000, { kind: 'write' })), '0x18a');
  ept.unmap(0x202000, 0x1000);
  assert.equal(lo(mem, ptNew + 16), 0);
  assert.equal(qual(ept.walk(0x202000, { kind: 'read' })), '0x181');
  assert.equal(ept.tablePages, 4);
  ept.map(0x200000, 0x200000, 0x200000, 'rwx');
  assert.equal(ept.tablePages, 3, 'the page table under the new 2 MiB leaf was freed');
  assert.equal(hex(lo(mem, PD + 8)), '0x2000b7');
  // The freed page is reused (zeroed) by the next table.
  ept.mapPage(0x7000, 0x7000, 'rwx');
  assert.equal(hex(lo(mem, PD)), hex(ptNew | 7));
  assert.equal(lo(mem, ptNew), 0, 'stale entries of the freed table were cleared');
});

test('a 1 GiB page splits down two levels for a single 4 KiB change', () => {
  const { mem, ept } = setup();
  ept.map(0x40000000, 0xc0000000, 0x40000000, 'rwx');
  ept.protect(0x40201000, 0x1000, 'r-x');
  const w = ok(ept.walk(0x40201abc, { kind: 'read' }));
  assert.equal(w.pageSize, 0x1000);
  assert.equal(hex(w.hpa), '0xc0201abc');
  assert.equal(w.steps.length, 4);
  assert.equal(qual(ept.walk(0x40201000, { kind: 'write' })), '0x1aa');
  assert.equal(ok(ept.walk(0x40400000, { kind: 'write' })).pageSize, 0x200000, 'the rest became 2 MiB pages');
  assert.equal(hex(lo(mem, PDPT + 8)), hex(PD | 7), 'PDPTE[1] now points to a PD');
});

test('map-on-demand after a violation, and argument errors', () => {
  const { ept } = setup();
  assert.equal(qual(ept.walk(0x9abc, { kind: 'write' })), '0x182');
  ept.mapPage(0x9abc, 0x500000, 'rw-');
  assert.equal(hex(ok(ept.walk(0x9abc, { kind: 'write' })).hpa), '0x500abc');
  assert.throws(() => ept.map(0x1001, 0, 0x1000, 'rwx'), EptError);
  assert.throws(() => ept.map(0x1000, 0, 0x1000, '---'), /use unmap/);
  assert.throws(() => ept.map(0x1000, 0xfffff000, 0x2000, 'rwx'), /host range/);
  assert.throws(() => ept.protect(0x1000, 0x1000, 'rwz'), /permissions "rwz"/);
});
