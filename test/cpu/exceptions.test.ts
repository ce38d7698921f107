// test/fixtures/cpu-conformance/exceptions.asm: protected-mode exceptions
// delivered through the IDT, their error codes and saved EIPs, a double
// fault, and the triple fault that ends the program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, readLog, result, runFlat, type GuestRun, type LogEntry } from './guest-programs';

let cached: GuestRun | undefined;
const run = (): GuestRun => (cached ??= runFlat('exceptions'));

interface Expected {
  id: number; // TRY id in exceptions.asm (source order)
  name: string;
  vector: number;
  error: number;
  savedEip: 'fault' | 'trap' | 'undefined';
}

const DE = 0, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11, SS = 12, GP = 13;
const expected: Expected[] = [
  { id: 1, name: '#DE on div by zero', vector: DE, error: 0, savedEip: 'fault' },
  { id: 2, name: '#DE on idiv overflow (-2^31 / -1)', vector: DE, error: 0, savedEip: 'fault' },
  { id: 3, name: '#DE on 8-bit div quotient overflow', vector: DE, error: 0, savedEip: 'fault' },
  { id: 4, name: '#UD on ud2', vector: UD, error: 0, savedEip: 'fault' },
  { id: 5, name: '#UD on FF /7', vector: UD, error: 0, savedEip: 'fault' },
  { id: 6, name: '#UD on lock with a register destination', vector: UD, error: 0, savedEip: 'fault' },
  { id: 7, name: '#BP on int3 (trap)', vector: BP, error: 0, savedEip: 'trap' },
  { id: 8, name: '#OF on into with OF=1 (trap)', vector: OF, error: 0, savedEip: 'trap' },
  { id: 9, name: '#BR on bound out of range', vector: BR, error: 0, savedEip: 'fault' },
  { id: 10, name: '#GP(sel) for a selector past the GDT limit', vector: GP, error: 0x60, savedEip: 'fault' },
  { id: 11, name: '#GP(sel) for a TSS selector loaded into DS', vector: GP, error: 0x28, savedEip: 'fault' },
  { id: 12, name: '#NP(sel) for a not-present data segment', vector: NP, error: 0x30, savedEip: 'fault' },
  { id: 13, name: '#SS(sel) for a not-present stack segment', vector: SS, error: 0x30, savedEip: 'fault' },
  { id: 14, name: '#GP(sel) for a read-only stack segment', vector: GP, error: 0x38, savedEip: 'fault' },
  { id: 15, name: '#GP(0) past the segment limit', vector: GP, error: 0, savedEip: 'fault' },
  { id: 16, name: '#GP(0) writing through CS', vector: GP, error: 0, savedEip: 'fault' },
  { id: 17, name: '#GP(vector*8+2) for int n past the IDT limit', vector: GP, error: 0x90 * 8 + 2, savedEip: 'fault' },
  { id: 18, name: '#NP(vector*8+2) for a not-present gate', vector: NP, error: 0x82 * 8 + 2, savedEip: 'fault' },
  { id: 19, name: '#TS(sel) for a jmp to a TSS below the minimum limit', vector: TS, error: 0x48, savedEip: 'fault' },
  { id: 20, name: '#DF(0) when the #GP gate is not present', vector: DF, error: 0, savedEip: 'undefined' },
  { id: 21, name: '#GP(0) for a memory access through a null DS', vector: GP, error: 0, savedEip: 'fault' },
  { id: 22, name: '#GP(0) for a null selector loaded into SS', vector: GP, error: 0, savedEip: 'fault' },
  { id: 23, name: '#GP(sel) for a far jmp to a data segment', vector: GP, error: 0x10, savedEip: 'fault' },
  { id: 24, name: '#NP(sel) for a far call to a not-present code segment', vector: NP, error: 0x50, savedEip: 'fault' },
  { id: 25, name: '#GP(sel) for a far jmp to a DPL-3 non-conforming code segment from ring 0', vector: GP, error: 0x18, savedEip: 'fault' },
  { id: 26, name: '#UD for mov cs, ax', vector: UD, error: 0, savedEip: 'fault' },
  { id: 27, name: '#GP(sel) for lldt of a data segment selector', vector: GP, error: 0x10, savedEip: 'fault' },
  { id: 28, name: '#GP(sel) for ltr of a busy TSS', vector: GP, error: 0x28, savedEip: 'fault' },
  { id: 29, name: '#UD for mov cr5, eax', vector: UD, error: 0, savedEip: 'fault' },
  { id: 30, name: '#GP(0) for setting a reserved CR4 bit', vector: GP, error: 0, savedEip: 'fault' },
  { id: 31, name: '#GP(0) for CR0.PG=1 with CR0.PE=0', vector: GP, error: 0, savedEip: 'fault' },
  { id: 32, name: '#NM for an x87 instruction with CR0.EM=1', vector: NM, error: 0, savedEip: 'fault' },
  { id: 33, name: '#UD for lock mov', vector: UD, error: 0, savedEip: 'fault' },
  { id: 34, name: '#GP(0) for an instruction longer than 15 bytes', vector: GP, error: 0, savedEip: 'fault' },
  { id: 35, name: '#DE for aam with base 0', vector: DE, error: 0, savedEip: 'fault' },
  { id: 36, name: '#GP(0) for a far jmp past the target segment limit', vector: GP, error: 0, savedEip: 'fault' },
  { id: 37, name: '#GP(sel) for an interrupt gate whose selector is a data segment', vector: GP, error: 0x10, savedEip: 'fault' },
  { id: 38, name: '#BR: bound compares signed (-6 below [-5, 5]; -3 inside)', vector: BR, error: 0, savedEip: 'fault' },
];

function entryFor(id: number): LogEntry | undefined {
  return readLog(run().m).find((e) => e.id === id);
}

for (const x of expected) {
  const name = `${x.name}: vector ${x.vector}, error ${hex(x.error)}, saved EIP = ${x.savedEip}`;
  test(name, () => {
    const e = entryFor(x.id);
    assert.ok(e, `no exception logged for TRY ${x.id}; log: ${JSON.stringify(readLog(run().m).map((l) => [l.id, l.vector, l.error]))}`);
    assert.equal(e.vector, x.vector, 'vector');
    assert.equal(e.error, x.error, 'error code');
    assert.equal(e.cs, 0x08, 'saved CS');
    if (x.savedEip !== 'undefined') assert.equal(hex(e.eip), hex(e.expectedEip), 'saved EIP');
    // CPL 0 to CPL 0: no stack switch, EFLAGS, CS, EIP pushed below ESP = 0x80000.
    assert.equal(hex(e.frame), hex(0x80000 - 12), 'saved EIP position on the stack');
  });
}

const RF = 0x10000;
const rfFaults = 'faults push EFLAGS with RF=1 (SDM vol. 3, 6.12.1 / 17.3.1.1: every fault but an instruction breakpoint)';
test(rfFaults, () => {
  // Only the faults that happened as expected (the others fail on their own).
  const missing = expected
    .filter((x) => x.savedEip === 'fault' && entryFor(x.id)?.vector === x.vector)
    .filter((x) => !((entryFor(x.id)?.eflags ?? 0) & RF))
    .map((x) => x.name);
  assert.deepEqual(missing, []);
});

test('interrupt gates enter the handler with IF and TF clear', () => {
  for (const e of readLog(run().m)) assert.equal(e.handlerEflags & 0x300, 0, `vector ${e.vector}`);
});

test('traps (int3, into) push EFLAGS with RF=0', () => {
  for (const x of expected.filter((y) => y.savedEip === 'trap')) {
    const e = entryFor(x.id);
    assert.ok(e);
    assert.equal(e.eflags & RF, 0, x.name);
  }
});

const inOrder = 'exactly the expected exceptions happen, in order';
test(inOrder, () => {
  const ids = readLog(run().m).map((e) => e.id);
  assert.deepEqual(ids, expected.map((x) => x.id));
});

test('the program reaches its end marker', () => {
  assert.equal(hex(result(run().m, 0)), hex(0x600df00d));
});

test('an int3 with no IDT ends in a triple fault', () => {
  assert.equal(run().stop.reason, 'triple-fault', run().stop.message);
});
