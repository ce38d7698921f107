// A hook sees the exact number of retired instructions, whether the guest is
// run or single-stepped: hooked instructions start a block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../../src/x86/machine';

// flat32: nop ×3, mov eax, 0 ; cpuid ; add eax, 1 ; out 0xe9, al ; cli ; hlt
const CODE = [0x90, 0x90, 0x90, 0xb8, 0, 0, 0, 0, 0x0f, 0xa2, 0x83, 0xc0, 0x01, 0xe6, 0xe9, 0xfa, 0xf4];

function counts(stepwise: boolean, jit: boolean): number[] {
  const m = new Machine();
  m.engine.jitEnabled = jit;
  m.loadFlat32(new Uint8Array(CODE), 0x100000);
  const seen: number[] = [];
  m.cpu.intercept.cpuid = () => { seen.push(m.instructionCount); return false; };
  m.cpu.intercept.io = () => { seen.push(m.instructionCount); return false; };
  if (stepwise) {
    for (let i = 0; i < 20 && m.step().reason !== 'hlt'; i++);
  } else {
    // Run the loop-free code many times over so the block would be hot enough to translate.
    assert.equal(m.run(100).reason, 'hlt');
  }
  return seen;
}

test('hooks see the same instruction count under run() and step()', () => {
  const expected = [4, 6]; // cpuid is the 5th instruction, out the 7th
  assert.deepEqual(counts(false, true), expected);
  assert.deepEqual(counts(false, false), expected);
  assert.deepEqual(counts(true, true), expected);
});

test('installing a hook after blocks were built cuts them at the next run', () => {
  const m = new Machine();
  const loop = [0xbe, 100, 0, 0, 0, 0x90, 0x0f, 0xa2, 0x4e, 0x75, 0xfa, 0xfa, 0xf4]; // mov esi,100; l: nop; cpuid; dec esi; jnz l; cli; hlt (cpuid clobbers ecx)
  m.loadFlat32(new Uint8Array(loop), 0x100000);
  m.run(50); // blocks built without hooks
  const seen: number[] = [];
  m.cpu.intercept.cpuid = () => { seen.push(m.instructionCount); return false; };
  assert.equal(m.run(1000).reason, 'hlt');
  // Each loop iteration is 4 instructions; every cpuid must see mov + 4k + nop = 2 + 4k retired before it.
  for (const n of seen) assert.equal((n - 2) % 4, 0, `count ${n} is not exact`);
  assert.ok(seen.length > 30);
});
