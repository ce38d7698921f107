// Encoding-table checks that need no nasm: every mnemonic of the table is exercised by the generated
// nasm-checked fixtures (enc16-*/enc32-*), and spot checks of nasm's encoding choices.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assemble } from '../../src/x86/asm/index';
import { allForms } from '../../src/x86/asm/insns';
import { FIXTURE_DIR, fixtureNames } from './fixtures';

test('every mnemonic in the table appears in the nasm-checked fixtures', () => {
  // The generated enc16-*/enc32-* files cover the table as it was when they were made; later rows
  // are exercised by hand-written fixtures such as late-forms.asm.
  const used = new Set<string>();
  for (const n of fixtureNames()) {
    for (const line of readFileSync(join(FIXTURE_DIR, `${n}.asm`), 'utf8').split('\n')) {
      const m = /^\s+([a-z0-9]+)/.exec(line);
      if (m) used.add(m[1]);
    }
  }
  const missing = [...new Set(allForms().map((f) => f.mnemonic))].filter((m) => !used.has(m));
  assert.deepEqual(missing, []);
});

test('every table row is well formed', () => {
  for (const f of allForms()) {
    assert.equal(f.roles.length, f.slots.length, `${f.mnemonic} ${f.slots.join(',')}`);
    for (const t of f.code) assert.match(t, /^(o16|o32|a16|a32|[0-9A-F]{2}|[0-9A-F]{2}\+r|\/r|\/[0-7]|ib|ibs|ibu|iw|id|rb|rw|rd|far|moffs)$/);
  }
});

const SPOT: [string, 16 | 32, number[]][] = [
  ['mov eax, ebx', 32, [0x89, 0xd8]],
  ['mov ax, [bp]', 16, [0x8b, 0x46, 0x00]],
  ['mov eax, [esp]', 32, [0x8b, 0x04, 0x24]],
  ['mov eax, [eax*2]', 32, [0x8b, 0x04, 0x00]],
  ['mov eax, [nosplit eax*2]', 32, [0x8b, 0x04, 0x45, 0, 0, 0, 0]],
  ['add ax, 5', 16, [0x83, 0xc0, 0x05]],
  ['add ax, 0x1234', 16, [0x05, 0x34, 0x12]],
  ['add ax, strict word 5', 16, [0x05, 0x05, 0x00]],
  ['push 5', 32, [0x6a, 0x05]],
  ['push word 5', 32, [0x66, 0x6a, 0x05]],
  ['push 300', 32, [0x68, 0x2c, 0x01, 0x00, 0x00]],
  ['jmp $', 16, [0xeb, 0xfe]],
  ['jmp near $', 16, [0xe9, 0xfd, 0xff]],
  ['je $', 32, [0x74, 0xfe]],
  ['xchg ax, ax', 16, [0x90]],
  ['xchg eax, eax', 16, [0x66, 0x90]],
  ['shl ax, 1', 16, [0xd1, 0xe0]],
  ['lock add [es:ebx], eax', 16, [0xf0, 0x26, 0x66, 0x67, 0x01, 0x03]],
  ['vmclear [eax]', 16, [0x67, 0x66, 0x0f, 0xc7, 0x30]],
  ['jmp 0x08:0x1234', 16, [0xea, 0x34, 0x12, 0x08, 0x00]],
  ['o16 movsd', 16, [0xa5]],
];

for (const [src, bits, bytes] of SPOT) {
  test(`nasm's choice for \`${src}' in ${bits}-bit code`, () => {
    const r = assemble(src, { fileName: 's.asm', bits });
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual([...r.bytes], bytes);
  });
}
