// test/fixtures/cpu-conformance/boot-real.asm: a real-mode boot sector that
// exercises the stack, string ops, INT n, far calls and segment arithmetic,
// then enters 32-bit protected mode and writes to COM1, 0xE9 and POST 0x80.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, runBoot, text, type GuestRun } from './guest-programs';

let cached: GuestRun | undefined;
const run = (): GuestRun => (cached ??= runBoot('boot-real'));
const word = (n: number): number => run().m.memory.read16(0x500 + 2 * n);

const t = test;

t('boot state: DL = 0x80', () => assert.equal(run().m.memory.read8(0x540), 0x80));
t('push/pop are LIFO', () => assert.deepEqual([word(0), word(1)].map(hex), [0x5678, 0x1234].map(hex)));
t('pusha/popa leave SP balanced', () => assert.equal(word(2), 0));
t('rep movsb forward advances DI', () => assert.equal(hex(word(3)), hex(0x606)));
t('rep movsb with DF=1 copies downwards and decrements SI', () => {
  assert.equal(hex(word(4)), hex(0x5ff));
  assert.equal(text(Array.from(run().m.memory.readBytes(0x600, 6))), 'AABCDE');
});
t('repne scasb without a match runs CX down to 0', () => assert.equal(word(5), 0));
t('int 0x60 runs the IVT handler, which sees IF clear; iret restores IF', () => {
  assert.equal(word(6), 42);
  assert.equal(word(11), 0);
  assert.equal(hex(word(7)), hex(0x200));
  assert.equal(run().m.memory.read16(0x60 * 4 + 2), 0);
});
t('far call sets CS to the target segment and retf comes back', () => {
  assert.equal(hex(word(8)), hex(0x07c0));
});
t('1000:0010 and 1001:0000 address the same byte', () => assert.equal(hex(word(10)), hex(0x77)));
t('protected mode: a flat data segment reaches above 1 MiB, CR0.PE set', () => {
  const m = run().m;
  assert.equal(hex(m.memory.read32(0x520)), hex(0xcafebabe));
  assert.equal(m.memory.read32(0x524) & 1, 1);
});
t('output on COM1, port 0xE9 and POST codes', () => {
  const c = run().m.console;
  assert.equal(text(c.com1), 'ABCDE\n');
  assert.equal(text(c.e9), 'PM');
  assert.deepEqual(c.post, [0x01, 0x02, 0x32]);
});
t('stops on hlt in 32-bit protected mode', () => {
  const { m, stop } = run();
  assert.equal(stop.reason, 'hlt', stop.message);
  const s = m.state();
  assert.equal(s.mode, 'protected');
  assert.equal(s.cs, 0x08);
  assert.equal(s.ds, 0x10);
});
