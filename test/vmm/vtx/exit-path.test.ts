// The fast VM exit path: exits that change nothing the run loop planned keep
// the engine running, and the result must be the same as when the run loop
// looks at the vCPU after every exit (which it still does while breakpoints
// are set, so arming an unreachable breakpoint gives the reference run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVm, type Vm, type VmStop } from '../../../src/vmm/vtx/index';
import { assembleExample, discoverExamples, exampleOptions, MAX_INSTRUCTIONS } from '../examples/trace';
import { build } from './guest';

/** Linear address no example executes: arming it only switches the run loop to its per-exit planning. */
const NOWHERE = 0xfffffff0;

interface Outcome { stop: VmStop; hash: string; stats: unknown; output: number[]; exits: string[]; entries: number[] }

function outcome(vm: Vm, listen: boolean): Outcome {
  const exits: string[] = [];
  const entries: number[] = [];
  if (listen) {
    vm.events.on('exit', (e) => exits.push(`${e.sequence} ${e.vcpu} ${e.reason} ${e.rip} ${e.qualification} ${e.instructionLength} ${e.interruptionInfo} ${e.idtVectoringInfo}`));
    vm.events.on('entry', (e) => entries.push(e.injected));
  }
  const stop = vm.run(MAX_INSTRUCTIONS);
  return { stop, hash: vm.traceHash(), stats: vm.stats.report(), output: [...vm.output], exits, entries };
}

for (const ex of discoverExamples()) {
  test(`examples/${ex.name}: the same exits, statistics and trace hash with per-exit planning as without`, () => {
    const image = assembleExample(ex).bytes;
    const fast = outcome(createVm({ ...exampleOptions(ex), image }), true);
    const careful = createVm({ ...exampleOptions(ex), image });
    for (const p of careful.processors) p.engine.breakpoints.add(NOWHERE);
    const reference = outcome(careful, true);
    assert.ok(fast.exits.length > 0);
    assert.deepEqual(fast, reference);
    // Without listeners the VM builds no event records, and the trace hash is still over every exit.
    const quiet = outcome(createVm({ ...exampleOptions(ex), image }), false);
    assert.equal(quiet.hash, fast.hash);
    assert.deepEqual(quiet.stats, fast.stats);
    assert.deepEqual(quiet.stop, fast.stop);
  });
}

const CPUID_LOOP = 'mov esi, 500\n.loop:\n  xor eax, eax\n  cpuid\n  dec esi\n  jnz .loop\n  cli\n  hlt\n';

/** Calls of the engine's run during one VM run (each one a return to the run loop). */
function engineRuns(vm: Vm): number {
  let runs = 0;
  const engine = vm.processors[0].engine;
  const run = engine.run.bind(engine);
  engine.run = (max, step) => { runs++; return run(max, step); };
  vm.run(1_000_000);
  return runs;
}

test('CPUID exits keep the engine running: the run loop does not plan again per exit', () => {
  const vm = createVm({ image: build(CPUID_LOOP) });
  const runs = engineRuns(vm);
  assert.equal(vm.stats.report().total, 501); // and the final HLT
  assert.ok(runs < 10, `${runs} engine runs for 500 exits`);
});

test('with a breakpoint set, every exit returns to the run loop', () => {
  const vm = createVm({ image: build(CPUID_LOOP) });
  vm.processors[0].engine.breakpoints.add(NOWHERE);
  assert.ok(engineRuns(vm) > 500);
});

const LOOP_50 = '  mov esi, 50\n.loop:\n  xor eax, eax\n  cpuid\n  dec esi\n  jnz .loop\n  cli\n  hlt\n';
const DEVICE_GUESTS: Record<string, string> = {
  // xAPIC page writes (APIC-access exits): divide by 1, LVT timer masked, initial count.
  'LAPIC timer': '  mov dword [0xfee003e0], 0xb\n  mov dword [0xfee00320], 0x10030\n  mov dword [0xfee00380], 100000\n',
  // PIT channel 0, mode 2, count 0xFFFF: device points come every eventQuantum instructions from then on.
  PIT: '  mov al, 0x34\n  out 0x43, al\n  mov al, 0xff\n  out 0x40, al\n  out 0x40, al\n',
};

for (const [name, setup] of Object.entries(DEVICE_GUESTS)) {
  test(`exits that start the ${name} make the run loop plan again, with the same outcome as per-exit planning`, () => {
    const image = build(setup + LOOP_50);
    const plain = engineRuns(createVm({ image: build(LOOP_50) }));
    const vm = createVm({ image });
    const runs = engineRuns(vm);
    assert.equal(vm.stats.report().total, 54);
    assert.ok(runs > plain, `${runs} engine runs with the ${name}, ${plain} without`);
    const fast = outcome(createVm({ image }), true);
    const careful = createVm({ image });
    careful.processors[0].engine.breakpoints.add(NOWHERE);
    assert.deepEqual(fast, outcome(careful, true));
  });
}
