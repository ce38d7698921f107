// Source map: address -> line and line -> addresses, across includes, sections, times and bits changes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assemble } from '../../src/x86/asm/index';

const MAIN = [
  'bits 16', //          1
  'org 0x7c00', //       2
  'start:', //           3
  '  mov ax, 1', //      4  7c00 (3 bytes)
  '  %include "inc.asm"', // 5
  '  times 3 nop', //    6  7c04 (3 bytes)
  '  db 1, 2', //        7  7c07
  'bits 32', //          8
  '  mov eax, 1', //     9  7c09 (5 bytes)
  'section .data', //    10
  'val: dw 5', //        11 after .text, aligned to 4: 7c10
  'section .bss', //     12
  'buf: resb 16', //     13 no bytes in the file: not mapped
  'section .text', //    14
  '  jmp start', //      15 7c0e (2 bytes)
].join('\n');

const r = assemble(MAIN, { fileName: 'main.asm', readFile: (p) => (p === 'inc.asm' ? 'inc ax\n' : undefined) });

test('the program assembles', () => {
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.origin, 0x7c00);
});

test('entries are sorted and one per emitting line', () => {
  const lines = r.sourceMap.entries.map((e) => `${e.file}:${e.line}@${e.address.toString(16)}+${e.length}/${e.bits}`);
  assert.deepEqual(lines, [
    'main.asm:4@7c00+3/16',
    'inc.asm:1@7c03+1/16',
    'main.asm:6@7c04+3/16',
    'main.asm:7@7c07+2/16',
    'main.asm:9@7c09+5/32',
    'main.asm:15@7c0e+2/32',
    'main.asm:11@7c10+2/32',
  ]);
});

test('lookup finds the entry containing an address', () => {
  assert.equal(r.sourceMap.lookup(0x7c00)?.line, 4);
  assert.equal(r.sourceMap.lookup(0x7c02)?.line, 4);
  assert.equal(r.sourceMap.lookup(0x7c03)?.file, 'inc.asm');
  assert.equal(r.sourceMap.lookup(0x7c05)?.line, 6);
  assert.equal(r.sourceMap.lookup(0x7c0d)?.line, 9);
  assert.equal(r.sourceMap.lookup(0x7c11)?.line, 11);
  assert.equal(r.sourceMap.lookup(0x7bff), undefined);
  assert.equal(r.sourceMap.lookup(0x7c12), undefined);
});

test('addressesFor gives the addresses a line emitted', () => {
  assert.deepEqual(r.sourceMap.addressesFor('main.asm', 9), [0x7c09]);
  assert.deepEqual(r.sourceMap.addressesFor('inc.asm', 1), [0x7c03]);
  assert.deepEqual(r.sourceMap.addressesFor('main.asm', 3), []);
  assert.deepEqual(r.sourceMap.addressesFor('main.asm', 13), []);
  assert.deepEqual(r.sourceMap.addressesFor('other.asm', 4), []);
});

test('both directions agree for every entry', () => {
  for (const e of r.sourceMap.entries) {
    assert.ok(r.sourceMap.addressesFor(e.file, e.line).includes(e.address));
    assert.equal(r.sourceMap.lookup(e.address + e.length - 1), e);
  }
});

test('symbols hold absolute addresses and equ values', () => {
  const s = assemble('org 0x100\na: nop\nb equ a + 0x10\nsection .bss\nc: resb 1', { fileName: 's.asm' });
  assert.equal(s.symbols.get('a'), 0x100);
  assert.equal(s.symbols.get('b'), 0x110);
  assert.equal(s.symbols.get('c'), 0x104);
});

test('options.bits and options.org set the defaults', () => {
  const s = assemble('here: mov eax, here', { fileName: 'o.asm', bits: 32, org: 0x1000 });
  assert.deepEqual([...s.bytes], [0xb8, 0x00, 0x10, 0x00, 0x00]);
  assert.equal(s.sourceMap.entries[0].bits, 32);
});
