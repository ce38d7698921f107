// Snapshot/restore exactness and step()/run() agreement on the conformance
// programs. Snapshots: stopping a program
// at some instruction, taking a snapshot through a JSON round trip, restoring
// it into a new machine and running on must end exactly like the
// uninterrupted run. Points are spread over each run, plus the places where
// the TLB holds a translation that differs from the page tables (between a
// PTE change and the INVLPG / CR3 reload that makes it visible).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Machine, type MachineSnapshot } from '../../src/x86/machine';
import { LOG, ORG, programImage, RESULTS } from './guest-programs';

interface Outcome {
  reason: string;
  instructions: number;
  state: unknown;
  results: number[];
  log: number[];
  console: unknown;
}

type Loader = (m: Machine) => void;
const flat = (name: string): Loader => (m) => m.loadFlat32(programImage(name), ORG);
const boot = (name: string): Loader => (m) => m.loadBootSector(programImage(name));
const rom = (name: string): Loader => (m) => {
  const top = programImage(name); // the top of a 64 KiB ROM, padded with 0xFF below
  const image = new Uint8Array(0x10000).fill(0xff);
  image.set(top, image.length - top.length);
  m.loadRom(image);
};
const LIMIT = 2_000_000;

function outcome(m: Machine, reason: string): Outcome {
  return {
    reason,
    instructions: m.instructionCount,
    state: m.state(),
    results: Array.from({ length: 128 }, (_, i) => m.memory.read32(RESULTS + 4 * i) >>> 0),
    log: Array.from({ length: 0x10 + 64 * 32 }, (_, i) => m.memory.read32(LOG + 4 * i) >>> 0),
    console: JSON.parse(JSON.stringify(m.console)),
  };
}

function fullRun(load: Loader): Outcome {
  const m = new Machine({ memorySize: 16 << 20 });
  load(m);
  return outcome(m, m.run(LIMIT).reason);
}

function resumedRun(load: Loader, at: number): Outcome {
  const a = new Machine({ memorySize: 16 << 20 });
  load(a);
  a.run(at);
  const snap = JSON.parse(JSON.stringify(a.snapshot())) as MachineSnapshot;
  const b = new Machine({ memorySize: 16 << 20 });
  b.restore(snap);
  return outcome(b, b.run(LIMIT).reason);
}

/** Instruction counts at which the next instruction is INVLPG or MOV CR3, found by stepping. */
function tlbWindows(load: Loader): number[] {
  const m = new Machine({ memorySize: 16 << 20 });
  load(m);
  const found: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const eip = m.state().eip; // flat code: CS base 0
    const b0 = m.memory.read8(eip), b1 = m.memory.read8(eip + 1), modrm = m.memory.read8(eip + 2);
    const invlpg = b0 === 0x0f && b1 === 0x01 && ((modrm >> 3) & 7) === 7;
    const movCr3 = b0 === 0x0f && b1 === 0x22 && ((modrm >> 3) & 7) === 3;
    if ((invlpg || movCr3) && (m.state().cr0 & 0x80000000) !== 0) found.push(m.instructionCount);
    if (m.step().reason !== 'limit') break;
  }
  return found;
}

const programs: [string, Loader][] = [
  ['boot-real', boot('boot-real')],
  ['real-mode', boot('real-mode')],
  ['exceptions', flat('exceptions')],
  ['privilege', flat('privilege')],
  ['paging', flat('paging')],
  ['instructions', flat('instructions')],
  ['system', flat('system')],
  ['v86', flat('v86')],
  ['restart', flat('restart')],
  ['rom-reset', rom('rom-reset')],
];

for (const [name, load] of programs) {
  const title = `${name}: restoring a snapshot taken anywhere in the run gives the same end`;
  test(title, () => {
    const full = fullRun(load);
    const points = [1, 2, 3].map((k) => Math.floor((full.instructions * k) / 4));
    for (const at of points) {
      assert.deepEqual(resumedRun(load, at), full, `snapshot after ${at} of ${full.instructions} instructions`);
    }
  });
}

// step() runs one instruction at a time; run() may translate whole blocks.
// Both must reach the same end.
function steppedRun(load: Loader): Outcome {
  const m = new Machine({ memorySize: 16 << 20 });
  load(m);
  let reason = 'limit';
  // The programs need well under 20,000 instructions; a stepped run that
  // has not stopped by 100,000 steps is stuck.
  for (let i = 0; i < 100_000 && reason === 'limit'; i++) reason = m.step().reason;
  return outcome(m, reason);
}

for (const [name, load] of programs) {
  const title = `${name}: single-stepping gives the same end as run()`;
  test(title, () => {
    assert.deepEqual(steppedRun(load), fullRun(load));
  });
}

for (const name of ['paging']) {
  const title = `${name}: a snapshot taken while the TLB holds a stale translation restores it`;
  test(title, () => {
    const load = flat(name);
    const full = fullRun(load);
    const windows = tlbWindows(load);
    assert.ok(windows.length > 0, 'no INVLPG / MOV CR3 with paging on found');
    // Every instruction from a little before the first INVLPG to the last CR3 reload.
    for (let at = Math.min(...windows) - 6; at <= Math.max(...windows) + 1; at++) {
      assert.deepEqual(resumedRun(load, at), full, `snapshot after ${at} instructions (TLB checks)`);
    }
  });
}
