// test/fixtures/cpu-conformance/paging.asm: 4 KiB and 4 MiB pages, accessed
// and dirty bits, #PF error codes and CR2, CR0.WP, INVLPG and CR3 reloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, readLog, result, runFlat, type GuestRun } from './guest-programs';

let cached: GuestRun | undefined;
const run = (): GuestRun => (cached ??= runFlat('paging'));
const r = (slot: number): number => result(run().m, slot);

const t = test;

t('non-identity 4 KiB page: 0xC00000 maps to physical 0x300000', () => {
  assert.equal(hex(r(0)), hex(0x11223344));
});
t('4 MiB page: 0x400010 maps to physical 0x800010', () => {
  assert.equal(hex(r(1)), hex(0x55667788));
});
t('a written page has A and D set in its PTE', () => assert.equal(hex(r(2)), hex(0x60)));
t('a page only read has A set and D clear', () => assert.equal(hex(r(3)), hex(0x20)));
t('the first write through a cached translation sets D', () => assert.equal(hex(r(4)), hex(0x60)));
t('a PDE pointing to a page table gets A', () => assert.equal(hex(r(5)), hex(0x20)));
t('a written 4 MiB page has A and D in its PDE', () => assert.equal(hex(r(6)), hex(0x60)));
t('a read 4 MiB page has A only in its PDE', () => assert.equal(hex(r(7)), hex(0x20)));
t('CR0.WP=0: ring 0 writes a read-only page', () => assert.equal(hex(r(8)), hex(0x0ddba11)));
t('CR0.WP=1: the faulting write did not happen', () => assert.equal(r(9), 0));
t('TLB: the old mapping is used before the PTE changes', () => assert.equal(hex(r(10)), hex(0xaaaa0001)));
t('TLB: a changed PTE is not seen before INVLPG (stale entry)', () => assert.equal(hex(r(11)), hex(0xaaaa0001)));
t('TLB: INVLPG makes the new mapping visible', () => assert.equal(hex(r(12)), hex(0xbbbb0002)));
t('TLB: a changed PTE is not seen before a CR3 reload (stale entry)', () => assert.equal(hex(r(13)), hex(0xbbbb0002)));
t('TLB: mov cr3 flushes the non-global entries', () => assert.equal(hex(r(14)), hex(0xaaaa0001)));
t('global page: the PTE.G translation survives a CR3 reload', () => {
  assert.equal(hex(r(16)), hex(0xaaaa0001));
  assert.equal(hex(r(17)), hex(0xaaaa0001));
});
t('global page: clearing CR4.PGE flushes global translations', () => assert.equal(hex(r(18)), hex(0xbbbb0002)));
t('ring 3 reads a page under a read-only user PDE', () => assert.equal(hex(r(19)), hex(0x5eed)));
t('lea and nop [mem] with a not-present address do not fault', () => assert.equal(hex(r(20)), hex(0xc03000)));
t('ring 3 writes a user RW page', () => assert.equal(hex(r(15)), hex(0x3333)));

const faults: { id: number; name: string; error: number; cr2: number; cs: number }[] = [
  { id: 1, name: 'not-present read from ring 0', error: 0, cr2: 0xc03000, cs: 0x08 },
  { id: 2, name: 'not-present write from ring 0', error: 2, cr2: 0xc03004, cs: 0x08 },
  { id: 3, name: 'write to a read-only page from ring 0 with CR0.WP=1', error: 3, cr2: 0xc01004, cs: 0x08 },
  { id: 4, name: 'read of a supervisor page from ring 3', error: 5, cr2: 0xc02000, cs: 0x1b },
  { id: 5, name: 'write to a read-only page from ring 3', error: 7, cr2: 0xc01008, cs: 0x1b },
  { id: 6, name: 'not-present read from ring 3', error: 4, cr2: 0xc03010, cs: 0x1b },
  { id: 7, name: 'read of a supervisor 4 MiB page from ring 3', error: 5, cr2: 0x400000, cs: 0x1b },
  { id: 8, name: 'user read under a supervisor PDE (the PTE says user)', error: 5, cr2: 0x1000000, cs: 0x1b },
  { id: 9, name: 'user write under a read-only PDE (the PTE says writable)', error: 7, cr2: 0x1400000, cs: 0x1b },
  { id: 10, name: 'cmpxchg on a read-only page whose comparison fails (still a write)', error: 7, cr2: 0xc01000, cs: 0x1b },
  { id: 11, name: 'add [ro], 0 (a write that changes nothing)', error: 7, cr2: 0xc01000, cs: 0x1b },
  { id: 12, name: 'lock or [ro], 0', error: 7, cr2: 0xc01000, cs: 0x1b },
  { id: 13, name: 'cmovnz with a false condition still reads its operand', error: 4, cr2: 0xc03000, cs: 0x1b },
];
for (const f of faults) {
  t(`#PF: ${f.name}: error ${f.error}, CR2 ${hex(f.cr2)}, faulting EIP saved`, () => {
    const e = readLog(run().m).find((x) => x.id === f.id);
    assert.ok(e, 'no #PF logged');
    assert.equal(e.vector, 14);
    assert.equal(e.error, f.error, 'error code (P, W/R, U/S bits)');
    assert.equal(hex(e.cr2), hex(f.cr2), 'CR2');
    assert.equal(hex(e.eip), hex(e.expectedEip), 'saved EIP');
    assert.equal(e.cs, f.cs, 'saved CS');
  });
}

t('#PF pushes EFLAGS with RF=1 (a fault)', () => {
  const log = readLog(run().m).filter((e) => e.vector === 14);
  assert.equal(log.length, faults.length);
  for (const e of log) assert.equal(hex(e.eflags & 0x10000), hex(0x10000), `TRY ${e.id}`);
});

t('exactly the expected exceptions happen, in order', () => {
  assert.deepEqual(readLog(run().m).map((e) => [e.id, e.vector]), [
    [1, 14], [2, 14], [3, 14], [4, 14], [5, 14], [6, 14], [7, 14], [8, 14], [9, 14], [10, 14], [11, 14], [12, 14], [13, 14], [0, 0x81],
  ]);
});

t('the program ends on hlt with paging, PSE and WP on', () => {
  const { m, stop } = run();
  assert.equal(stop.reason, 'hlt', stop.message);
  const s = m.state();
  assert.equal(s.cr3 >>> 0, 0x200000);
  assert.equal(hex(s.cr0 & 0x80010001), hex(0x80010001));
  assert.equal(s.cr4 & 0x90, 0x10, 'PSE on, PGE off again');
});
