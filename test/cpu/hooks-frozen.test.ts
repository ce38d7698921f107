// The engine looks at a frozen hook object once (the VMM installs one and
// runs the engine once per exit); replacing it, frozen or not, or changing
// an unfrozen one in place, is still seen at the next run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../../src/x86/machine';

// mov esi,3; l: nop; cpuid; dec esi; jnz l; cli; hlt
const LOOP = [0xbe, 3, 0, 0, 0, 0x90, 0x0f, 0xa2, 0x4e, 0x75, 0xfa, 0xfa, 0xf4];

function machine(): Machine {
  const m = new Machine();
  m.loadFlat32(new Uint8Array(LOOP), 0x100000);
  return m;
}

test('a frozen hook object: its hooks run, with exact instruction counts', () => {
  const m = machine();
  const seen: number[] = [];
  m.cpu.intercept = Object.freeze({ cpuid: () => { seen.push(m.instructionCount); return false; } });
  assert.equal(m.run(1000).reason, 'hlt');
  assert.deepEqual(seen, [2, 6, 10]); // one cpuid per four instructions: nop, cpuid, dec, jnz
});

test('replacing a frozen hook object is seen at the next run, in both directions', () => {
  const m = machine();
  const seen: number[] = [];
  const hooks = Object.freeze({ cpuid: () => { seen.push(m.instructionCount); return false; } });
  m.cpu.intercept = hooks;
  m.run(4); // mov, nop, cpuid, dec: blocks built with the hook
  assert.deepEqual(seen, [2]);
  m.cpu.intercept = Object.freeze({});
  m.run(3); // jnz, nop, cpuid without the hook
  assert.deepEqual(seen, [2]);
  m.cpu.intercept = hooks;
  assert.equal(m.run(1000).reason, 'hlt');
  assert.deepEqual(seen, [2, 10]);
});

test('an unfrozen hook object changed in place after a frozen one is still seen', () => {
  const m = machine();
  m.cpu.intercept = Object.freeze({});
  m.run(2);
  const seen: number[] = [];
  const open: { cpuid?: () => boolean } = {};
  m.cpu.intercept = open;
  m.run(1);
  open.cpuid = () => { seen.push(m.instructionCount); return false; };
  assert.equal(m.run(1000).reason, 'hlt');
  assert.deepEqual(seen, [6, 10]);
});
