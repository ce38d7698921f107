// test/fixtures/cpu-conformance/rom-reset.asm: a firmware image started at
// the reset vector by Machine.loadRom.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../../src/x86/machine';
import { hex, programImage, text, type GuestRun } from './guest-programs';

/** The 8 KiB program padded with 0xFF below to a 64 KiB ROM. */
function romImage(): Uint8Array {
  const top = programImage('rom-reset');
  const rom = new Uint8Array(0x10000).fill(0xff);
  rom.set(top, rom.length - top.length);
  return rom;
}

let cached: GuestRun | undefined;
const run = (): GuestRun => {
  if (cached) return cached;
  const m = new Machine({ memorySize: 16 << 20 });
  m.loadRom(romImage());
  return (cached = { m, stop: m.run(10_000) });
};
const r = (slot: number): number => run().m.memory.read32(0x500 + 4 * slot) >>> 0;

const t = test;

t('reset state: CS:IP = F000:FFF0 with CS base 0xFFFF0000', () => {
  const m = new Machine({ memorySize: 16 << 20 });
  m.loadRom(romImage());
  const s = m.state();
  assert.equal(hex(s.cs), hex(0xf000));
  assert.equal(hex(s.eip), hex(0xfff0));
  assert.equal(hex(m.cpu.seg[1].base), hex(0xffff0000));
  assert.equal(s.mode, 'real');
});

t('the first instruction comes from the top of the 4 GiB space and the far jump lands in F000:E000', () => {
  assert.equal(run().stop.reason, 'hlt', run().stop.message);
  assert.equal(hex(r(3)), hex(0xf000), 'CS after the far jump');
  assert.deepEqual(run().m.console.post, [0x11]);
  assert.equal(text(run().m.console.e9), 'ROM');
});

t('EDX after reset holds the processor signature (SDM vol. 3, table 9-1), the same as CPUID.1:EAX', () => {
  assert.notEqual(r(0), 0);
  assert.equal(hex(r(0)), hex(r(1)));
});

t('CR0 after reset is 0x60000010 (CD, NW, ET)', () => assert.equal(hex(r(2)), hex(0x60000010)));

t('the ROM is also visible below 1 MiB: F000:FFF0 holds the reset jump', () => {
  assert.equal(hex(r(4) & 0xffffff), hex(0x00e000ea));
});
