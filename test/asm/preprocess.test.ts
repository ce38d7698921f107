// Preprocessor behaviour checked directly: macros, conditionals, includes, and their error paths.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assemble, formatDiagnostic } from '../../src/x86/asm/index';

function run(src: string, files: Record<string, string> = {}): { bytes: number[]; diags: string[] } {
  const r = assemble(src, { fileName: 'p.asm', readFile: (p) => files[p] });
  return { bytes: [...r.bytes], diags: r.diagnostics.map(formatDiagnostic) };
}

test('%define with parameters expands arguments, including nested calls', () => {
  const r = run('%define SQ(x) ((x) * (x))\n%define ADD(a, b) (a + b)\ndb SQ(3), ADD(1, SQ(2)), SQ(ADD(1, 1))');
  assert.deepEqual(r, { bytes: [9, 5, 4], diags: [] });
});

test('a parameterless %define can stand for a register or a whole operand', () => {
  assert.deepEqual(run('%define R ax\n%define SRC [bx+2]\nmov R, SRC').bytes, [0x8b, 0x47, 0x02]);
});

test('%xdefine freezes the expansion; %define sees later changes', () => {
  assert.deepEqual(run('%define A 1\n%xdefine X A\n%define Y A\n%define A 2\ndb X, Y').bytes, [1, 2]);
});

test('%idefine is case-insensitive, %define is not', () => {
  const r = run('%idefine Foo 7\n%define Bar 8\ndb FOO, foo\ndb bar');
  assert.deepEqual(r.bytes.slice(0, 2), [7, 7]);
  assert.deepEqual(r.diags, ["p.asm:4:4: error: symbol `bar' not defined"]);
});

test('%assign evaluates now and can be reassigned', () => {
  assert.deepEqual(run('%assign i 1\n%assign i i * 10 + 2\ndb i').bytes, [12]);
});

test('conditionals choose one branch and nest', () => {
  const src = ['%define ON', '%ifdef ON', '%if 2 > 3', 'db 1', '%elif 1', 'db 2', '%else', 'db 3', '%endif', '%else', 'db 4', '%endif'].join('\n');
  assert.deepEqual(run(src).bytes, [2]);
});

test('recursive macros and unbalanced conditionals are errors, not hangs', () => {
  assert.deepEqual(run('%define A A + 1\ndb A').diags, ['p.asm:2:4: error: macro expansion too deep (recursive %define?)']);
  assert.deepEqual(run('%if 1\ndb 1').diags, ["p.asm:2:1: error: expected `%endif' before end of file"]);
  assert.deepEqual(run('%endif').diags, ["p.asm:1:1: error: `%endif' without `%if'"]);
});

test('%error reports at its line; %warning does not fail the run', () => {
  assert.deepEqual(run('nop\n%error stop here').diags, ['p.asm:2:1: error: stop here']);
  const w = assemble('%warning careful\nnop', { fileName: 'w.asm' });
  assert.equal(w.ok, true);
  assert.deepEqual(w.diagnostics.map(formatDiagnostic), ['w.asm:1:1: warning: careful']);
});

test('an included file may define macros used after the %include', () => {
  assert.deepEqual(run('%include "m.inc"\ndb TWICE(4)', { 'm.inc': '%define TWICE(x) (2*(x))' }).bytes, [8]);
});

test('multi-line macros: parameters, defaults, greedy last parameter, %0 and %%labels', () => {
  const src = [
    '%macro PAIR 1-2 9', '  db %1, %2, %0', '%endmacro',
    '%macro LIST 1+', '  db %1', '%endmacro',
    '%macro SPIN 0', '%%l: jmp %%l', '%endmacro',
    'PAIR 1', 'PAIR 3, 4', 'LIST 5, 6, 7', 'SPIN', 'SPIN',
  ].join('\n');
  assert.deepEqual(run(src), { bytes: [1, 9, 1, 3, 4, 2, 5, 6, 7, 0xeb, 0xfe, 0xeb, 0xfe], diags: [] });
});

test('macro lines map to the invoking line; a label before the call is kept', () => {
  const r = assemble('%macro TWO 0\nnop\nnop\n%endmacro\nhere: TWO\njmp here', { fileName: 'm.asm' });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.sourceMap.addressesFor('m.asm', 5), [0, 1]);
  assert.equal(r.symbols.get('here'), 0);
});

test('%rep repeats lines; counts may use earlier equ constants; runaway macros stop', () => {
  assert.deepEqual(run('N equ 3\n%assign k 1\n%rep N\ndb k\n%assign k k*2\n%endrep').bytes, [1, 2, 4]);
  assert.deepEqual(run('%macro R 0\nR\n%endmacro\nR').diags, ['p.asm:4:1: error: macros nested too deeply (recursive %macro?)']);
  assert.deepEqual(run('%macro M 2\n%endmacro\nM 1').diags, ["p.asm:3:1: error: macro `M' takes 2 parameter(s), not 1"]);
  assert.deepEqual(run('%rep 2\nnop').diags, ["p.asm:1:1: error: `%rep' without `%endrep'"]);
});
