// Listing format (nasm -l style), checked on small programs without needing nasm.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assemble } from '../../src/x86/asm/index';

function listing(src: string, files: Record<string, string> = {}): string[] {
  return assemble(src, { fileName: 't.asm', readFile: (p) => files[p] }).listing.split('\n').filter((l) => l !== '');
}

test('line number, offset, bytes and source are in fixed columns', () => {
  assert.deepEqual(listing('bits 16\nstart: mov ax, 1\n  jmp start'), [
    '     1                                  bits 16',
    '     2 00000000 B80100                  start: mov ax, 1',
    '     3 00000003 EBFB                      jmp start',
  ]);
});

test('long data wraps nine bytes per line with a continuation dash', () => {
  assert.deepEqual(listing('db 1,2,3,4,5,6,7,8,9,10,11'), [
    '     1 00000000 010203040506070809-     db 1,2,3,4,5,6,7,8,9,10,11',
    '     1 00000009 0A0B               ',
  ]);
});

test('label-relative fields are bracketed; times shows <rep>; resb shows ?? or <res>', () => {
  assert.deepEqual(listing('org 0x100\nl: mov ax, l\ntimes 4 db 0\nresb 2\nsection .bss\nresb 32'), [
    '     1                                  org 0x100',
    '     2 00000000 B8[0000]                l: mov ax, l',
    '     3 00000003 00<rep 4h>              times 4 db 0',
    '     4 00000007 ????                    resb 2',
    '     4          ******************       warning: uninitialized space declared in .text section: zeroing [-w+zeroing]',
    '     5                                  section .bss',
    '     6 00000000 <res 20h>               resb 32',
  ]);
});

test('included lines carry their own numbers and a nesting marker', () => {
  assert.deepEqual(listing('%include "a.inc"\nnop', { 'a.inc': 'cli\n' }), [
    '     1                                  %include "a.inc"',
    '     1 00000000 FA                  <1> cli',
    '     2 00000001 90                      nop',
  ]);
});

test('lines skipped by %if are listed without bytes', () => {
  assert.deepEqual(listing('%if 0\nnop\n%endif'), [
    '     1                                  %if 0',
    '     2                                  nop',
    '     3                                  %endif',
  ]);
});
