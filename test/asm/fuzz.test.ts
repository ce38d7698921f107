// Robustness: random and mutated sources never make assemble() throw or hang, and results are well formed.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assemble, AssembleResult } from '../../src/x86/asm/index';
import { FIXTURE_DIR, fixtureNames } from './fixtures';
import { uniform as rng } from '../support/prng';


const VOCAB = [
  'mov', 'add', 'jmp', 'jz', 'call', 'push', 'pop', 'lea', 'times', 'db', 'dw', 'dd', 'dq', 'resb', 'align', 'equ', 'org',
  'bits', '16', '32', 'section', '.text', '.data', '.bss', 'ax', 'eax', 'al', 'bx', 'ebp', 'esp', 'si', 'cr0', 'ds', 'es',
  'byte', 'word', 'dword', 'short', 'near', 'far', 'strict', 'nosplit', 'rep', 'lock', 'o16', 'a32', '[', ']', '(', ')',
  ',', ':', '+', '-', '*', '/', '//', '%', '%%', '<<', '>>', '&', '|', '^', '~', '!', '$', '$$', '0x10', '1Fh', '0b101',
  "'ab'", '"str"', '`\\n`', '1000000', '-1', 'label', '.local', 'label2', '%define', '%include', '%if', '%endif', '%else',
  '%assign', 'X', 'X(1)', '\\', ';', 'int', 'ret', 'loop', 'imul', 'shl', 'cl', '1', '0', '5', 'vmread', 'invept', 'far',
  '%macro', '%endmacro', '%rep', '%endrep', '%1', '%%l', '{', '}', 'M',
];

function randomSource(r: () => number): string {
  const lines: string[] = [];
  const n = 1 + Math.floor(r() * 12);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(r() * 8);
    const words: string[] = [];
    for (let j = 0; j < k; j++) words.push(VOCAB[Math.floor(r() * VOCAB.length)]);
    lines.push(words.join(r() < 0.5 ? ' ' : ''));
  }
  return lines.join('\n');
}

function mutate(src: string, r: () => number): string {
  let s = src;
  const edits = 1 + Math.floor(r() * 6);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (s.length + 1));
    const kind = Math.floor(r() * 5);
    if (kind === 0) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 10));
    else if (kind === 1) s = s.slice(0, at) + VOCAB[Math.floor(r() * VOCAB.length)] + s.slice(at);
    else if (kind === 2) s = s.slice(0, at) + String.fromCharCode(32 + Math.floor(r() * 95)) + s.slice(at);
    else if (kind === 3) {
      const lines = s.split('\n');
      const i = Math.floor(r() * lines.length);
      lines.splice(Math.floor(r() * lines.length), 0, lines[i]);
      s = lines.join('\n');
    } else s = s.slice(0, at) + '\n' + s.slice(at);
  }
  return s;
}

function checkShape(src: string, res: AssembleResult): void {
  assert.equal(typeof res.ok, 'boolean');
  assert.ok(res.bytes instanceof Uint8Array);
  for (const d of res.diagnostics) {
    assert.ok(d.line >= 1 && d.column >= 1, `bad position in ${JSON.stringify(d)} for ${JSON.stringify(src)}`);
    assert.ok(!d.message.startsWith('internal assembler error'), `${d.message} for ${JSON.stringify(src)}`);
  }
  assert.equal(res.ok, !res.diagnostics.some((d) => d.severity === 'error'));
}

const files: Record<string, string> = { 'inc.asm': 'mov ax, 1\n%include "inc.asm"\n', 'ok.inc': 'db 1\n' };
const readFile = (p: string): string | undefined => files[p];

test('random token soup never throws and yields well-formed results', () => {
  const r = rng(12345);
  for (let i = 0; i < 600; i++) {
    const src = randomSource(r);
    let res: AssembleResult | undefined;
    assert.doesNotThrow(() => {
      res = assemble(src, { fileName: 'fuzz.asm', readFile });
    }, `source: ${JSON.stringify(src)}`);
    if (res) checkShape(src, res);
  }
});

test('mutated fixtures never throw, and unchanged input assembles deterministically', () => {
  const r = rng(777);
  const sources = fixtureNames()
    .filter((n) => !n.startsWith('enc'))
    .map((n) => readFileSync(join(FIXTURE_DIR, `${n}.asm`), 'utf8'));
  for (let i = 0; i < 250; i++) {
    const base = sources[i % sources.length];
    const src = mutate(base, r);
    let res: AssembleResult | undefined;
    assert.doesNotThrow(() => {
      res = assemble(src, { fileName: 'm.asm', readFile });
    }, `source: ${JSON.stringify(src)}`);
    if (res) {
      checkShape(src, res);
      if (res.ok && i % 10 === 0) assert.deepEqual(assemble(src, { fileName: 'm.asm', readFile }).bytes, res.bytes);
    }
  }
});

test('pathological inputs end with errors instead of hanging or exhausting memory', () => {
  const cases = [
    'times 1000000000 db 0',
    'times 0x7fffffff resb 0x7fffffff',
    'resb 1 << 40',
    '%define A A A\nA',
    '%define B(x) B(x) B(x)\nB(1)',
    '%include "inc.asm"',
    'a: jmp b\ntimes (b - a) * 2 nop\nb:',
    'x equ y\ny equ x\nmov ax, x',
    'align 1 << 40',
    'times 200000 jmp $',
    'db ' + '('.repeat(2000) + '1' + ')'.repeat(2000),
    '%rep 1500\n%rep 1500\nnop\n%endrep\n%endrep',
    '%macro R 1\nR %1\n%endmacro\nR 1',
    '%rep 10\n%include "inc.asm"\n%endrep',
  ];
  for (const src of cases) {
    const res = assemble(src, { fileName: 'p.asm', readFile });
    checkShape(src, res);
    assert.equal(res.ok, false, `expected an error for ${JSON.stringify(src.slice(0, 60))}`);
  }
});
