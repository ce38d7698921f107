// Unit tests of the Bochs-diff generator and result parsing: determinism,
// addressing that always lands in the scratch area, and the 0xE9 line format.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CASE_ESP, CaseBuilder, SCRATCH, SCRATCH_SIZE, imm, parent32 } from './builder';
import { CATEGORIES } from './categories';
import { casesInclude, generateCase, generateCases, sourceHash } from './generator';
import { Rng } from './prng';
import { formatResult, parseOutput, parseResult } from './results';

test('generation is deterministic per seed and index', () => {
  assert.deepEqual(generateCases(42, 200), generateCases(42, 200));
  assert.deepEqual(generateCase(42, 150), generateCases(42, 151)[150]);
  assert.notEqual(sourceHash(generateCases(42, 200)), sourceHash(generateCases(43, 200)));
});

test('every category appears and every case has instructions and a sane start state', () => {
  const cases = generateCases(7, 2000);
  for (const c of CATEGORIES) assert.ok(cases.some((tc) => tc.category === c.name), c.name);
  for (const tc of cases) {
    assert.ok(tc.lines.length > 0, `case ${tc.index} is empty`);
    assert.equal(tc.regs[4], CASE_ESP);
    assert.notEqual(tc.scratchSeed, 0);
    assert.equal(tc.eflags & ~0xcd7, 0, `case ${tc.index}: only status flags and DF are randomized`);
    assert.equal(tc.eflags & 2, 2);
  }
});

test('immediates print negative when their sign bit is set', () => {
  assert.equal(imm(0xff, 8), '-0x1');
  assert.equal(imm(0x7f, 8), '0x7f');
  assert.equal(imm(0x8000, 16), '-0x8000');
  assert.equal(imm(0xfffffff0, 32), '-0x10');
  assert.equal(imm(0x12345678, 32), '0x12345678');
});

test('parent32 maps partial registers to their container', () => {
  assert.equal(parent32('ah'), 'eax');
  assert.equal(parent32('bl'), 'ebx');
  assert.equal(parent32('si'), 'esi');
  assert.equal(parent32('edi'), 'edi');
});

/** Evaluates the setup moves and the address expression the builder produced. */
function evaluate(lines: readonly string[], expr: string): number {
  const regs = new Map<string, number>();
  const r32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
  r32.forEach((r) => regs.set(r, 0xdead0000 | r32.indexOf(r)));
  regs.set('esp', CASE_ESP);
  for (const l of lines) {
    const m = /^mov (\w+), (-?0x[0-9a-f]+)$/.exec(l);
    assert.ok(m, `unexpected setup line ${l}`);
    const v = Number(m[2]) >>> 0;
    if (r32.includes(m[1])) regs.set(m[1], v);
    else {
      const p = parent32(m[1]);
      regs.set(p, ((regs.get(p) ?? 0) & 0xffff0000 | (v & 0xffff)) >>> 0);
    }
  }
  const inner = /^\[(.*)\]$/.exec(expr);
  assert.ok(inner, expr);
  const a16 = /\b(bx|bp|si|di)\b/.test(inner[1]) && !/\be(bx|bp|si|di)\b/.test(inner[1]);
  let sum = 0;
  for (const term of inner[1].replace(/-/g, '+-').split('+').filter(Boolean)) {
    const [name, scale] = term.split('*');
    const neg = name.startsWith('-');
    const bare = neg ? name.slice(1) : name;
    let v: number;
    if (/^0x/.test(bare)) v = Number(bare);
    else if (r32.includes(bare)) v = regs.get(bare) ?? 0;
    else v = (regs.get(parent32(bare)) ?? 0) & 0xffff;
    sum += (neg ? -v : v) * (scale ? Number(scale) : 1);
  }
  return a16 ? sum & 0xffff : sum >>> 0;
}

test('memory operands always address the requested scratch bytes', () => {
  const rng = new Rng(99);
  for (let i = 0; i < 3000; i++) {
    const b = new CaseBuilder(rng);
    const span = rng.pick([1, 2, 4, 8]);
    const target = b.target(span);
    assert.ok(target >= SCRATCH && target + span <= SCRATCH + SCRATCH_SIZE);
    const expr = b.address(target);
    assert.equal(evaluate(b.lines, expr), target, `${b.lines.join('; ')} ${expr}`);
  }
});

test('cases.inc lists every case with its data block and ends each with the jump back', () => {
  const cases = generateCases(5, 20);
  const text = casesInclude(cases);
  assert.match(text, /^CASE_COUNT equ 20$/m);
  assert.equal(text.match(/jmp (dword 0x08:)?case_done/g)?.length, 20);
  assert.equal(text.match(/bits 16/g)?.length ?? 0, cases.filter((c) => c.bits === 16).length);
  for (const tc of cases) assert.match(text, new RegExp(`^case_${tc.index}: ; ${tc.category}$`, 'm'));
});

test('harness output is parsed despite the debugger prompt, with faults and error codes', () => {
  const regs = '00000001 00000002 00000003 00000004 00001180 00000006 00000007 00000008 00000046 deadbeef';
  const out = parseOutput(`<bochs:1> @BEGIN\n@0000 ${regs}\n@0001 #06\n@0002 #0d 00000018\ngarbage\n@END\n`);
  assert.equal(out.size, 3);
  assert.deepEqual(out.get(0), { kind: 'state', values: [1, 2, 3, 4, 0x1180, 6, 7, 8, 0x46, 0xdeadbeef] });
  assert.deepEqual(out.get(1), { kind: 'fault', vector: 6 });
  assert.deepEqual(out.get(2), { kind: 'fault', vector: 13, errorCode: 0x18 });
  for (const r of out.values()) assert.deepEqual(parseResult(formatResult(r)), r);
  assert.throws(() => parseResult('00000001 00000002'));
});
