// Diagnostics: file:line:col, messages, several errors in one run, includes, and limits.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assemble, formatDiagnostic } from '../../src/x86/asm/index';

function diags(source: string, files: Record<string, string> = {}): string[] {
  const r = assemble(source, { fileName: 'main.asm', readFile: (p) => files[p] });
  return r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
}

const CASES: [string, string][] = [
  ['mov ax, undefined_sym', "main.asm:1:9: error: symbol `undefined_sym' not defined"],
  ['mvo ax, bx', "main.asm:1:1: error: unknown instruction `mvo'"],
  ['  mov ax, bl', 'main.asm:1:3: error: invalid combination of opcode and operands'],
  ['add [bx], 5', 'main.asm:1:1: error: operation size not specified'],
  ['inc', "main.asm:1:1: error: invalid number of operands for `inc'"],
  ['jmp short target\ntimes 200 nop\ntarget:', 'main.asm:1:5: error: short jump is out of range'],
  ['loop target\ntimes 300 nop\ntarget:', 'main.asm:1:6: error: short jump is out of range'],
  ['times -1 db 0', 'main.asm:1:1: error: TIMES value -1 is negative'],
  ['times 100000000000 db 0', 'main.asm:1:1: error: TIMES value 100000000000 is too large'],
  ['x: nop\nx: nop', "main.asm:2:1: error: label `x' inconsistently redefined"],
  ['mov ax, (1 + 2', "main.asm:1:15: error: expecting `)'"],
  ['mov ax, 1 +', 'main.asm:1:12: error: expression expected'],
  ['mov ax, [bx+cx]', 'main.asm:1:9: error: invalid 16-bit effective address'],
  ['mov ax, 10/0', 'main.asm:1:11: error: division by zero'],
  ['bits 64', "main.asm:1:6: error: `64' is not a valid segment size; must be 16 or 32"],
  ['db "unterminated', 'main.asm:1:4: error: unterminated string'],
  ['mov ax, 0x1G', "main.asm:1:9: error: invalid number `0x1G'"],
  ['align 3', 'main.asm:1:1: error: alignment must be a power of two'],
  ['ax: nop', "main.asm:1:1: error: register `ax' used as a label"],
  ['%else', "main.asm:1:1: error: `%else' without `%if'"],
  ['%include "nope.inc"', "main.asm:1:10: error: unable to open include file `nope.inc'"],
  ['%frobnicate 1', "main.asm:1:1: error: unknown preprocessor directive `%frobnicate'"],
  ['times n db 0\nn equ 3', 'main.asm:1:1: error: non-constant argument in a critical expression (forward reference?)'],
  ['section .text\nmov eax, [esp*2]', 'main.asm:2:10: error: invalid effective address: esp cannot be an index'],
];

for (const [source, expected] of CASES) {
  test(`error: ${JSON.stringify(source)}`, () => {
    assert.deepEqual(diags(source), [expected]);
  });
}

test('several errors are reported in one run, in source order, and ok is false', () => {
  const src = ['bits 16', 'mov ax, nothing', 'nop', 'frob ax', 'add [bx], 1', 'mov al, 1', 'jmp nowhere'].join('\n');
  const r = assemble(src, { fileName: 'multi.asm' });
  assert.equal(r.ok, false);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    "multi.asm:2:9: error: symbol `nothing' not defined",
    "multi.asm:4:1: error: unknown instruction `frob'",
    'multi.asm:5:1: error: operation size not specified',
    "multi.asm:7:5: error: symbol `nowhere' not defined",
  ]);
});

test('errors inside an included file name that file and line', () => {
  const files: Record<string, string> = { 'lib/defs.inc': 'ok equ 1\n\n  mov ax, [bx+bp]\n' };
  assert.deepEqual(diags('nop\n%include "lib/defs.inc"\nmov ax, ok', files), ['lib/defs.inc:3:11: error: invalid 16-bit effective address']);
});

test('includes resolve relative to the including file', () => {
  const files: Record<string, string> = {
    'src/a.inc': '%include "../common/b.inc"\ndb A_VAL',
    'common/b.inc': 'A_VAL equ 7',
  };
  const r = assemble('%include "a.inc"', { fileName: 'src/main.asm', readFile: (p) => files[p] });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual([...r.bytes], [7]);
});

test('circular includes are detected', () => {
  const files: Record<string, string> = { 'a.inc': '%include "b.inc"', 'b.inc': '%include "a.inc"' };
  assert.deepEqual(diags('%include "a.inc"', files), ["b.inc:1:10: error: circular %include of `a.inc'"]);
});

test('out-of-range values give warnings and still assemble like nasm', () => {
  const r = assemble('mov al, 300\ndw 70000', { fileName: 'w.asm' });
  assert.equal(r.ok, true);
  assert.deepEqual([...r.bytes], [0xb0, 0x2c, 0x70, 0x11]);
  assert.deepEqual(
    r.diagnostics.map(formatDiagnostic),
    ['w.asm:1:9: warning: byte data exceeds bounds', 'w.asm:2:4: warning: word data exceeds bounds'],
  );
});

test('a failed statement does not stop later statements from assembling', () => {
  const r = assemble('mov ax, nope\nmov bx, 1', { fileName: 'x.asm' });
  assert.equal(r.ok, false);
  assert.deepEqual([...r.bytes], [0xbb, 0x01, 0x00]);
});
