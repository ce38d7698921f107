// test/fixtures/cpu-conformance/real-mode.asm: real-mode exceptions through
// the IVT, 64 KiB segment-limit faults, lidt in real mode, SS-relative BP
// addressing, PUSH SP and PUSHA, and unreal mode. Cross-checked on Bochs
// with test/cpu/bochs-check.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, runBoot, type GuestRun } from './guest-programs';

let cached: GuestRun | undefined;
const run = (): GuestRun => (cached ??= runBoot('real-mode'));
const r = (slot: number): number => run().m.memory.read32(0x600 + 4 * slot) >>> 0;

interface RealLogEntry { vector: number; ip: number; cs: number; flags: number; expectedIp: number; id: number }
function log(): RealLogEntry[] {
  const m = run().m;
  const n = Math.min(m.memory.read16(0x7f0), 20);
  return Array.from({ length: n }, (_, i) => {
    const w = (k: number): number => m.memory.read16(0x800 + 16 * i + 2 * k);
    return { vector: w(0), ip: w(1), cs: w(2), flags: w(3), expectedIp: w(4), id: w(5) };
  });
}

const t = test;

const expected: [number, string, number][] = [
  [1, '#DE (div by zero) saves the IP of the div', 0],
  [2, 'int3 saves the IP after it', 3],
  [3, 'into with OF=1 saves the IP after it', 4],
  [4, 'bound out of range raises #BR at the bound', 5],
  [5, 'ud2 raises #UD', 6],
  [6, 'a word at DS:0xFFFF crosses the segment limit: exception 13', 13],
  [7, 'a word at SS:0xFFFF (BP base) crosses the segment limit: exception 12', 12],
  [8, 'a 32-bit offset of 0x10000 is past the 64 KiB limit: exception 13', 13],
];
for (const [id, name, vector] of expected) {
  t(`real mode: ${name}`, () => {
    const e = log().find((x) => x.id === id);
    assert.ok(e, `not logged; log: ${JSON.stringify(log())}`);
    assert.equal(e.vector, vector, 'vector');
    assert.equal(hex(e.ip), hex(e.expectedIp), 'saved IP');
    assert.equal(e.cs, 0, 'saved CS');
  });
}

t('real mode: exactly the expected exceptions, in order', () => {
  assert.deepEqual(log().map((e) => [e.id, e.vector]), expected.map(([id, , v]) => [id, v]));
});
t('real mode: [bp] addresses through SS', () => assert.equal(hex(r(0)), hex(0x4321)));
t('real mode: push sp pushes the value SP had before the push', () => assert.equal(r(1), 0));
t('real mode: pusha stores the original SP', () => assert.equal(hex(r(2)), hex(r(8))));
t('real mode: lidt moves the interrupt vector table', () => assert.equal(hex(r(3)), hex(0x42424242)));
t('real mode: jmp far [mem] loads CS:IP from memory', () => assert.equal(hex(r(4)), hex(0x07c0)));
t('real mode: 32-bit operands and a scaled 32-bit address', () => assert.equal(hex(r(5)), hex(0x12345)));
t('real mode: smsw shows PE=0', () => assert.equal(r(6) & 1, 0));
t('unreal mode: a 4 GiB limit loaded in protected mode survives a real-mode segment load', () => {
  assert.equal(hex(r(7)), hex(0xfeedface));
});
t('real mode: the program runs to its end and halts in real mode', () => {
  assert.equal(hex(r(31)), hex(0x600df00d));
  assert.equal(run().stop.reason, 'hlt', run().stop.message);
  assert.equal(run().m.state().mode, 'real');
});
