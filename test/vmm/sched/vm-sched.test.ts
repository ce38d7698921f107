// Scheduling inside the VM: vCPUs on pCPUs in slices, YIELD, halted vCPUs
// leaving and rejoining the run queues, steal time, and determinism — the
// same guest and options give the same exit trace (and trace hash), however
// the instruction budget is split into runs; other slice lengths or pCPU
// counts change the interleaving but not what a race-free guest computes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createVm, type Vm, type VmExit, type VmOptions } from '../../../src/vmm/vtx/index';
import { traceHash } from '../../../src/vmm/sched/index';
import { assemble } from '../../../src/x86/asm/index';
import { build, START_AP } from '../vtx/guest';
import { EXAMPLES } from '../examples/trace';

interface Run { vm: Vm; exits: VmExit[]; text: string }

function start(image: Uint8Array, options: Partial<VmOptions>): Run {
  const vm = createVm({ image, ...options });
  const exits: VmExit[] = [];
  vm.events.on('exit', (e) => exits.push(e));
  return { vm, exits, text: '' };
}

function runAll(image: Uint8Array, options: Partial<VmOptions>, budget = 2_000_000, chunk = budget): Run {
  const r = start(image, options);
  for (let left = budget; left > 0;) {
    const s = r.vm.run(Math.min(chunk, left));
    left -= s.instructions;
    if (s.reason !== 'limit') break;
  }
  r.text = String.fromCharCode(...r.vm.output);
  return r;
}

function twoVcpusExample(): Uint8Array {
  const path = join(EXAMPLES, 'two-vcpus', 'guest.asm');
  const a = assemble(readFileSync(path, 'utf8'), { fileName: path });
  assert.ok(a.ok, a.diagnostics.map((d) => d.message).join('\n'));
  return a.bytes;
}

const order = (exits: VmExit[]): string => exits.map((e) => e.vcpu).join('');
const counts = (exits: VmExit[]): string => {
  const m = new Map<string, number>();
  for (const e of exits) m.set(`${e.vcpu}:${e.name}`, (m.get(`${e.vcpu}:${e.name}`) ?? 0) + 1);
  return [...m].sort().map(([k, n]) => `${k}=${n}`).join(' ');
};

test('the two-vCPU example computes 2000 under every slice length and pCPU count; the interleaving changes', () => {
  const image = twoVcpusExample();
  const configs: Partial<VmOptions>[] = [
    { vcpus: 2, pcpus: 1, sliceInstructions: 3000 },
    { vcpus: 2, pcpus: 1, sliceInstructions: 137 },
    { vcpus: 2, pcpus: 2 },
    { vcpus: 2, pcpus: 2, sliceInstructions: 500 },
    { vcpus: 2, pcpus: 1, sliceInstructions: 100_000 },
  ];
  const runs = configs.map((c) => runAll(image, c));
  for (const [i, r] of runs.entries()) {
    assert.equal(r.text, '2000\n', JSON.stringify(configs[i]));
    assert.equal(counts(r.exits), counts(runs[0].exits), JSON.stringify(configs[i]));
  }
  const orders = new Set(runs.map((r) => order(r.exits)));
  assert.ok(orders.size >= 3, [...orders].join('\n'));
  assert.equal(new Set(runs.map((r) => r.vm.traceHash())).size, orders.size);
  // A slice longer than the whole work: vCPU 0 does all of its work first, then vCPU 1.
  assert.equal(order(runs[4].exits), '0000011111000000');
});

test('determinism: the same guest and options give the same trace hash, and the hash is that of the exit list', () => {
  const image = twoVcpusExample();
  const a = runAll(image, { vcpus: 2, pcpus: 1, sliceInstructions: 211 });
  const b = runAll(image, { vcpus: 2, pcpus: 1, sliceInstructions: 211 });
  assert.equal(a.vm.traceHash(), b.vm.traceHash());
  assert.match(a.vm.traceHash(), /^[0-9a-f]{16}$/);
  assert.equal(traceHash(a.exits), a.vm.traceHash());
  assert.deepEqual(a.vm.scheduler.view(), b.vm.scheduler.view());
  // The hash covers the exits: dropping one changes it.
  assert.notEqual(traceHash(a.exits.slice(1)), a.vm.traceHash());
});

test('how the budget is split into runs does not change the trace: a run stopped inside a slot resumes it', () => {
  const image = twoVcpusExample();
  const whole = runAll(image, { vcpus: 2, pcpus: 2, sliceInstructions: 700 });
  for (const chunk of [1, 333, 1000, 4096]) {
    const split = runAll(image, { vcpus: 2, pcpus: 2, sliceInstructions: 700 }, 2_000_000, chunk);
    assert.equal(split.vm.traceHash(), whole.vm.traceHash(), `chunk ${chunk}`);
    assert.equal(split.text, whole.text);
    assert.deepEqual(split.vm.scheduler.view(), whole.vm.scheduler.view(), `chunk ${chunk}`);
  }
});

test('YIELD ends the slice: the other vCPU runs at once instead of after a slice of spinning', () => {
  const guest = (wait: string): Uint8Array => build(`${START_AP}
bsp:
.spin:
  ${wait}
  cmp dword [flag], 1
  jne .spin
  mov eax, 3
  mov ebx, [value]
  vmcall
ap:
  cpuid
  mov dword [value], 7
  mov dword [flag], 1
  cli
  hlt
flag: dd 0
value: dd 0
`);
  const yielding = runAll(guest('mov eax, 1\n  vmcall'), { vcpus: 2, pcpus: 1 });
  // START_VCPU, YIELD; vCPU 1 runs to its HLT; vCPU 0 comes back from the yield, sees the flag, shuts down.
  assert.deepEqual(yielding.exits.map((e) => `${e.vcpu}:${e.name}`), ['0:VMCALL', '0:VMCALL', '1:CPUID', '1:HLT', '0:VMCALL']);
  assert.equal(yielding.text, '');
  assert.equal(yielding.vm.run(1).code, 7);
  const v = yielding.vm.scheduler.view();
  assert.equal(v.vcpus[0].yields, 1);
  const spinning = runAll(guest('pause'), { vcpus: 2, pcpus: 1 });
  assert.deepEqual(spinning.exits.map((e) => `${e.vcpu}:${e.name}`), ['0:VMCALL', '1:CPUID', '1:HLT', '0:VMCALL']);
  // Spinning burns vCPU 0's whole first slice (10,000 instructions) before vCPU 1 gets the pCPU.
  assert.ok(spinning.vm.scheduler.view().vcpus[0].instructions >= 10_000);
  assert.ok(v.vcpus[0].instructions < 50, String(v.vcpus[0].instructions));
});

test('a halted vCPU leaves the run queue and rejoins when woken; halted and parked time are counted', () => {
  const image = build(`${START_AP}
bsp:
  pause
  jmp bsp
ap:
  cli
  hlt
  cpuid
  hlt
`);
  const r = start(image, { vcpus: 2, pcpus: 2, sliceInstructions: 1000 });
  r.vm.run(10_000);
  assert.deepEqual(r.exits.map((e) => `${e.vcpu}:${e.name}`), ['0:VMCALL', '1:HLT']);
  assert.deepEqual(r.vm.runState, ['runnable', 'halted']);
  let v = r.vm.scheduler.view();
  assert.equal(v.vcpus[1].state, 'halted');
  assert.deepEqual(v.pcpus.map((p) => p.queue), [[], []]);
  // vCPU 1 was parked until the end of vCPU 0's first slot (time 1000), then ran 2 instructions.
  assert.equal(v.vcpus[1].parked, 1000);
  assert.equal(v.vcpus[1].instructions, 2);
  r.vm.wake(1);
  r.vm.run(3000);
  assert.deepEqual(r.exits.slice(2).map((e) => `${e.vcpu}:${e.name}`), ['1:CPUID', '1:HLT']);
  v = r.vm.scheduler.view();
  assert.ok(v.vcpus[1].halted > 0);
  assert.equal(v.vcpus[1].migrations, 0);
  assert.equal(v.vcpus[1].lastPcpu, 1);
});

test('steal time is exact for two spinning vCPUs on one pCPU', () => {
  const image = build(`${START_AP}
bsp:
  jmp bsp
ap:
  jmp ap
`);
  const r = start(image, { vcpus: 2, pcpus: 1, sliceInstructions: 1000 });
  const s = r.vm.run(4000);
  assert.equal(s.reason, 'limit');
  const v = r.vm.scheduler.view();
  // v0: 0-1000, v1: 1000-2000, v0: 2000-3000, v1: 3000-4000. vCPU 1 was parked until time 1000.
  assert.equal(v.now, 4000);
  assert.deepEqual(v.vcpus.map((x) => [x.instructions, x.steal, x.parked, x.slices]), [[2000, 2000, 0, 2], [2000, 1000, 1000, 2]]);
  assert.deepEqual(v.pcpus.map((p) => [p.busy, p.idle, p.switches]), [[4000, 0, 4]]);
});

test('one vCPU on one pCPU is not sliced: one slot over several runs', () => {
  const image = build('spin:\n  inc eax\n  jmp spin\n');
  const r = start(image, {});
  assert.equal(r.vm.sliceInstructions, 0);
  for (let k = 0; k < 3; k++) assert.equal(r.vm.run(100_000).instructions, 100_000);
  const v = r.vm.scheduler.view();
  assert.deepEqual([v.vcpus[0].slices, v.vcpus[0].instructions, v.now, v.round], [1, 300_000, 300_000, 0]);
  // Asked for, slices apply to a single vCPU too.
  const sliced = start(image, { sliceInstructions: 25_000 });
  sliced.vm.run(100_000);
  assert.equal(sliced.vm.scheduler.view().vcpus[0].slices, 4);
  assert.throws(() => createVm({ image, sliceInstructions: 0 }), /sliceInstructions/);
  assert.throws(() => createVm({ image, pcpus: 17 }), /pcpus/);
});
