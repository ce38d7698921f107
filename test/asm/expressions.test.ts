// Number literals and expression evaluation.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assemble } from '../../src/x86/asm/index';
import { parseNumber } from '../../src/x86/asm/lexer';

test('number literals in every radix form', () => {
  const cases: [string, bigint][] = [
    ['0x1F', 31n], ['1Fh', 31n], ['0h1f', 31n], ['$1F', 31n], ['0b101', 5n], ['101b', 5n], ['0y11', 3n], ['11y', 3n],
    ['0o17', 15n], ['0q17', 15n], ['17q', 15n], ['17o', 15n], ['99', 99n], ['0d99', 99n], ['99d', 99n], ['0t10', 10n],
    ['1_000', 1000n], ['0x', 0n], ['0xdead_beef', 0xdeadbeefn], ['0', 0n], ['0ah', 10n],
  ];
  for (const [text, v] of cases) assert.equal(parseNumber(text), v, text);
  for (const bad of ['12z', '0b2', '19q', '0xg']) assert.equal(parseNumber(bad), undefined, bad);
});

function dd(expr: string): number {
  const r = assemble(`dd ${expr}`, { fileName: 'e.asm' });
  assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error'), [], expr);
  return new DataView(r.bytes.buffer).getInt32(0, true);
}

test('operators, precedence and signedness', () => {
  assert.equal(dd('1 + 2 * 3'), 7);
  assert.equal(dd('(1 + 2) * 3'), 9);
  assert.equal(dd('1 << 2 + 1'), 8);
  assert.equal(dd('1 | 2 ^ 3 & 1'), 3);
  assert.equal(dd('-7 / 2'), -4); // unsigned 64-bit division: 0x7ffffffffffffffc, truncated as nasm does
  assert.equal(dd('-7 // 2'), -3);
  assert.equal(dd('-7 %% 2'), -1);
  assert.equal(dd('7 % 3'), 1);
  assert.equal(dd('~0'), -1);
  assert.equal(dd('!0 + !7'), 1);
  assert.equal(dd("'AB'"), 0x4241);
  assert.equal(dd('3 < 4 && 4 > 3'), 1);
  assert.equal(dd('-1 >> 60'), 15);
  assert.equal(dd('-16 >>> 2'), -4);
});

test('label arithmetic: differences are plain numbers, $ and $$ follow org and sections', () => {
  const r = assemble('org 0x100\na: db 0\nb: dw b - a, $, $$, $ - $$\nsection .data\nc: dw $$, c - $$', { fileName: 'l.asm' });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual([...r.bytes], [0, 1, 0, 0x01, 0x01, 0x00, 0x01, 0x01, 0x00, 0, 0, 0, 0x0c, 0x01, 0, 0]);
});
