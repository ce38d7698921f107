// The decoder never throws, whatever the bytes, and reports truncation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, MAX_INSTR_LENGTH } from '../../src/x86/decode/index';
import { formatInstr } from '../../src/x86/disasm/index';
import { uniform as prng } from '../support/prng';

test('decode at every offset of random buffers never throws', () => {
  const rnd = prng(0xf00d);
  let decoded = 0;
  for (let n = 0; n < 300; n++) {
    const len = 1 + Math.floor(rnd() * 64);
    const buf = Uint8Array.from({ length: len }, () => Math.floor(rnd() * 256));
    for (const bits of [16, 32] as const) {
      for (let pos = 0; pos <= len; pos++) {
        const ins = decode(buf, pos, bits, 0x1000 + pos);
        decoded++;
        assert.ok(ins.length <= MAX_INSTR_LENGTH);
        if (ins.truncated) {
          assert.equal(ins.invalid, undefined);
          assert.equal(ins.length, len - pos);
        } else if (ins.invalid) {
          assert.equal(ins.length, 1);
          assert.equal(ins.mnemonic, 'db');
        } else {
          assert.ok(ins.length >= 1 && pos + ins.length <= len);
        }
        assert.equal(typeof formatInstr(ins), 'string');
      }
    }
  }
  assert.ok(decoded > 10000);
});

test('every prefix of a valid instruction is reported as truncated', () => {
  const samples: [number[], 16 | 32][] = [
    [[0x66, 0x2e, 0xc7, 0x84, 0x88, 0x78, 0x56, 0x34, 0x12, 0xef, 0xcd], 32],
    [[0xf0, 0x67, 0x81, 0x80, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12], 32],
    [[0x0f, 0x84, 0x10, 0x00], 16],
    [[0x66, 0xea, 0x00, 0x00, 0x01, 0x00, 0x08, 0x00], 16],
    [[0x66, 0x0f, 0x38, 0x80, 0x04, 0x24], 32],
    [[0xf3, 0x0f, 0xc7, 0x30], 32],
  ];
  for (const [bytes, bits] of samples) {
    const buf = Uint8Array.from(bytes);
    const full = decode(buf, 0, bits, 0);
    assert.equal(full.invalid, undefined, `${bytes} should be valid`);
    assert.equal(full.length, bytes.length);
    for (let end = 0; end < bytes.length; end++) {
      const t = decode(buf, 0, bits, 0, end);
      assert.equal(t.truncated, true, `${bytes} cut at ${end}`);
      assert.equal(t.length, end);
    }
  }
});

test('the end argument is honoured and reading never passes the buffer', () => {
  const buf = Uint8Array.from([0xb8, 0x01, 0x02, 0x03, 0x04]);
  assert.equal(decode(buf, 0, 32, 0).length, 5);
  assert.equal(decode(buf, 0, 32, 0, 3).truncated, true);
  assert.equal(decode(buf, 0, 32, 0, 99).length, 5);
  assert.equal(decode(buf, 5, 32, 0).truncated, true);
  assert.equal(decode(buf, 9, 32, 0).truncated, true);
});

test('more than 15 bytes of prefixes is invalid, not truncated', () => {
  const buf = new Uint8Array(20).fill(0x66);
  buf[19] = 0x90;
  const ins = decode(buf, 0, 32, 0);
  assert.ok(ins.invalid);
  assert.equal(ins.length, 1);
});
