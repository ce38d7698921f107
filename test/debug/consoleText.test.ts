import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleText } from '../../src/debug/consoleText';

const bytes = (s: string): number[] => [...Buffer.from(s, 'utf8')];

test('CR LF becomes LF, even when the pair is split between slices', () => {
  const t = new ConsoleText();
  assert.equal(t.push(bytes('one\r\ntwo\r')), 'one\ntwo');
  assert.equal(t.push(bytes('\nthree')), '\nthree');
  assert.equal(t.push(bytes('\r')), '');
  assert.equal(t.push(bytes('x')), '\rx');
  assert.equal(t.push(bytes('end\r')), 'end');
  assert.equal(t.end(), '\r');
});

test('a UTF-8 sequence split between slices is decoded whole; NULs are dropped', () => {
  const t = new ConsoleText();
  const e = bytes('é'); // two bytes
  assert.equal(t.push([0x41, e[0] ?? 0]), 'A');
  assert.equal(t.push([e[1] ?? 0, 0, 0x42]), 'éB');
  assert.equal(t.end(), '');
});
