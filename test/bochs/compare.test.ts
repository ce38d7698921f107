// The classification of differences: defined results versus the flags the
// SDM leaves undefined for a category, and the report a difference prints.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CF, OF, SF } from './categories';
import { compareCase, describeOutcome, flagNames } from './compare';
import type { TestCase } from './generator';
import type { CaseResult } from './results';

function tc(category: string): TestCase {
  return { index: 7, category, scratchSeed: 0x1234, eflags: 0x2, regs: [1, 2, 3, 4, 0x1180, 6, 7, 8], bits: 32, lines: ['mul ecx'] };
}
function state(eflags: number, eax = 0x10): CaseResult {
  return { kind: 'state', values: [eax, 2, 3, 4, 0x1180, 6, 7, 8, eflags, 0xabcd] };
}

test('equal results give no differences', () => {
  const o = compareCase(tc('mul'), state(0x2), state(0x2));
  assert.deepEqual([o.defined, o.undefined], [[], []]);
});

test('a flag the SDM leaves undefined for the category is reported apart', () => {
  const o = compareCase(tc('mul'), state(0x2 | SF), state(0x2));
  assert.deepEqual(o.defined, []);
  assert.equal(o.undefined.length, 1);
  assert.match(o.undefined[0], /SF bochs=1 ours=0/);
});

test('a defined flag or a register difference counts as defined', () => {
  const o = compareCase(tc('mul'), state(0x2 | CF | OF), state(0x2, 0x11));
  assert.equal(o.defined.length, 2);
  assert.match(o.defined.join('\n'), /eax: bochs 00000010, ours 00000011/);
  assert.match(o.defined.join('\n'), /CF bochs=1 ours=0, OF bochs=1 ours=0/);
  assert.match(describeOutcome(o), /case 7 \[mul, 32-bit code\]\n {4}mul ecx\n {2}initial: eax=00000001/);
});

test('every difference in an implementation-defined category is kept apart', () => {
  const o = compareCase(tc('shld-shrd-16-over'), state(0x2 | CF), state(0x2, 0x99));
  assert.deepEqual(o.defined, []);
  assert.equal(o.undefined.length, 2);
});

test('a fault on one side only is a defined difference', () => {
  const o = compareCase(tc('alu'), { kind: 'fault', vector: 13, errorCode: 0x18 }, state(0x2));
  assert.match(o.defined[0], /bochs #0d:00000018/);
  const same = compareCase(tc('exceptions'), { kind: 'fault', vector: 6 }, { kind: 'fault', vector: 6 });
  assert.deepEqual(same.defined, []);
});

test('flag names', () => {
  assert.equal(flagNames(0x8d5), 'CF PF AF ZF SF OF');
  assert.equal(flagNames(0x2), '-');
});
