// The scheduler on its own: a driver plays the run loop (next slot, run it,
// report the instructions) and the tests check the order of slots, the
// accounting and the queues, with numbers worked out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler, type VcpuRunState } from '../../../src/vmm/sched/index';

interface Step { pcpu: number; vcpu: number; budget: number }

/** Runs `count` slots, each vCPU using its whole budget unless `use` says otherwise. */
function drive(s: Scheduler, states: VcpuRunState[], count: number, use?: (step: Step, k: number) => number): Step[] {
  const steps: Step[] = [];
  for (let k = 0; k < count; k++) {
    const slot = s.next(states);
    assert.ok(slot !== null, `slot ${k}`);
    steps.push(slot);
    s.ran(use === undefined ? slot.budget : use(slot, k));
  }
  return steps;
}

const pairs = (steps: Step[]): string => steps.map((x) => `p${x.pcpu}:v${x.vcpu}`).join(' ');

test('two vCPUs on one pCPU take turns a slice each; steal time is exact', () => {
  const s = new Scheduler({ vcpus: 2, pcpus: 1, slice: 100, initial: ['runnable', 'runnable'] });
  const states: VcpuRunState[] = ['runnable', 'runnable'];
  const steps = drive(s, states, 4);
  assert.equal(pairs(steps), 'p0:v0 p0:v1 p0:v0 p0:v1');
  assert.ok(steps.every((x) => x.budget === 100));
  const v = s.view();
  // v0 ran 0-100 and 200-300 and has waited since 300; v1 waited 0-100 and 200-300 and is running.
  assert.equal(v.now, 400);
  assert.deepEqual(v.vcpus.map((x) => [x.instructions, x.steal, x.slices, x.contextSwitches, x.migrations]), [[200, 200, 2, 2, 0], [200, 200, 2, 2, 0]]);
  assert.deepEqual(v.pcpus.map((p) => [p.busy, p.idle, p.switches, p.loaded]), [[400, 0, 4, 1]]);
  assert.equal(v.running, 1);
  assert.deepEqual(v.pcpus[0].queue, [0]);
});

test('as many pCPUs as vCPUs: each vCPU keeps its pCPU, no steal time, no VMCS switches after the first load', () => {
  const s = new Scheduler({ vcpus: 3, pcpus: 3, slice: 50, initial: ['runnable', 'runnable', 'runnable'] });
  const steps = drive(s, ['runnable', 'runnable', 'runnable'], 9);
  assert.equal(pairs(steps), 'p0:v0 p1:v1 p2:v2 p0:v0 p1:v1 p2:v2 p0:v0 p1:v1 p2:v2');
  const v = s.view();
  assert.equal(v.round, 2);
  assert.deepEqual(v.vcpus.map((x) => [x.steal, x.migrations, x.contextSwitches, x.instructions]), [[0, 0, 1, 150], [0, 0, 1, 150], [0, 0, 1, 150]]);
  assert.deepEqual(v.pcpus.map((p) => p.switches), [1, 1, 1]);
});

test('three vCPUs on two pCPUs: queues by vCPU index modulo pCPUs; an idle pCPU takes from a queue of two (a migration)', () => {
  const s = new Scheduler({ vcpus: 3, pcpus: 2, slice: 100, initial: ['runnable', 'runnable', 'runnable'] });
  const states: VcpuRunState[] = ['runnable', 'runnable', 'runnable'];
  assert.deepEqual(s.view().pcpus.map((p) => p.queue), [[0, 2], [1]]);
  // Round 0: v0 on p0; v1 on p1 halts after 10 instructions, so p1 takes v2 (the tail of p0's queue [2, 0]).
  let slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 0, vcpu: 0, budget: 100 });
  s.ran(100);
  slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 1, vcpu: 1, budget: 100 });
  s.ran(10);
  states[1] = 'halted';
  slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 1, vcpu: 0, budget: 90 });
  assert.equal(s.view().vcpus[0].migrations, 1);
  s.ran(90);
  // Round 1: p0's queue holds only v2; v0 ran on p1 and was queued there when p1's slot ended.
  slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 0, vcpu: 2, budget: 100 });
  const v = s.view();
  assert.deepEqual(v.pcpus.map((p) => p.queue), [[], [0]]);
  // v2 waited the whole of round 0: steal 100.
  assert.equal(v.vcpus[2].steal, 100);
  assert.equal(v.vcpus[1].state, 'halted');
  assert.equal(v.vcpus[1].pcpu, -1);
});

test('a halted vCPU leaves the queue, its pCPU idles, and it rejoins that pCPU when woken; halted time is counted', () => {
  const s = new Scheduler({ vcpus: 2, pcpus: 2, slice: 100, initial: ['runnable', 'runnable'] });
  const states: VcpuRunState[] = ['runnable', 'runnable'];
  drive(s, states, 2); // round 0: both run 100
  states[1] = 'halted';
  // Round 1: v0 runs; p1 has nothing (v0's queue holds one, nothing to take), so the next slot is p0 again.
  let slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 0, vcpu: 0, budget: 100 });
  s.ran(100);
  slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 0, vcpu: 0, budget: 100 });
  assert.equal(s.view().round, 2);
  assert.equal(s.view().pcpus[1].idle, 100);
  s.ran(100);
  states[1] = 'runnable';
  slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 1, vcpu: 1, budget: 100 });
  const v = s.view();
  // v1 halted at the end of its round-0 slot (time 100) and was woken after p0's slot in round 2 (time 300).
  assert.equal(v.vcpus[1].halted, 200);
  assert.equal(v.vcpus[1].lastPcpu, 1);
  assert.equal(v.vcpus[1].migrations, 0);
});

test('yield: the vCPU goes to the back of its queue and the next one gets the rest of the slot', () => {
  const s = new Scheduler({ vcpus: 2, pcpus: 1, slice: 100, initial: ['runnable', 'runnable'] });
  const states: VcpuRunState[] = ['runnable', 'runnable'];
  let slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 0, vcpu: 0, budget: 100 });
  s.ran(30);
  s.yieldCurrent(0);
  slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 0, vcpu: 1, budget: 70 });
  s.ran(70);
  slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 0, vcpu: 0, budget: 100 });
  assert.equal(s.view().vcpus[0].yields, 1);
  // Alone in its queue, a yielding vCPU gets the pCPU straight back for the rest of the slot.
  const solo = new Scheduler({ vcpus: 1, pcpus: 1, slice: 100, initial: ['runnable'] });
  solo.next(['runnable']);
  solo.ran(40);
  solo.yieldCurrent(0);
  assert.deepEqual(solo.next(['runnable']), { pcpu: 0, vcpu: 0, budget: 60 });
  assert.equal(solo.view().pcpus[0].switches, 1);
});

test('unsliced (slice 0): one slot without end; nothing runnable gives null', () => {
  const s = new Scheduler({ vcpus: 1, pcpus: 1, slice: 0, initial: ['runnable'] });
  assert.deepEqual(s.next(['runnable']), { pcpu: 0, vcpu: 0, budget: Infinity });
  s.ran(5_000_000);
  assert.deepEqual(s.next(['runnable']), { pcpu: 0, vcpu: 0, budget: Infinity });
  assert.equal(s.now(), 5_000_000);
  assert.equal(s.next(['halted']), null);
  assert.equal(s.view().vcpus[0].state, 'halted');
  assert.throws(() => new Scheduler({ vcpus: 1, pcpus: 0, slice: 0, initial: ['runnable'] }), /pcpus/);
});

test('parked vCPUs (wait-for-SIPI) are not scheduled and count parked time until they start', () => {
  const s = new Scheduler({ vcpus: 2, pcpus: 2, slice: 100, initial: ['runnable', 'wait-for-sipi'] });
  const states: VcpuRunState[] = ['runnable', 'wait-for-sipi'];
  const steps = drive(s, states, 3);
  assert.equal(pairs(steps), 'p0:v0 p0:v0 p0:v0');
  states[1] = 'runnable';
  const slot = s.next(states);
  assert.deepEqual(slot, { pcpu: 1, vcpu: 1, budget: 100 });
  assert.equal(s.view().vcpus[1].parked, 300);
  // p1's slots of rounds 0 and 1 went unused; in round 2 it now runs v1.
  assert.equal(s.view().pcpus[1].idle, 200);
});

test('snapshot and restore give the same future decisions', () => {
  const make = (): Scheduler => new Scheduler({ vcpus: 3, pcpus: 2, slice: 70, initial: ['runnable', 'runnable', 'wait-for-sipi'] });
  const a = make();
  const states: VcpuRunState[] = ['runnable', 'runnable', 'wait-for-sipi'];
  const use = (x: Step, k: number): number => (k % 3 === 0 ? Math.min(x.budget, 13) : x.budget);
  drive(a, states, 5, use);
  states[2] = 'runnable';
  const snap = JSON.parse(JSON.stringify(a.snapshot())) as ReturnType<Scheduler['snapshot']>;
  const b = make();
  b.restore(snap);
  const sa = drive(a, [...states], 12, use);
  const sb = drive(b, [...states], 12, use);
  assert.deepEqual(sb, sa);
  assert.deepEqual(b.view(), a.view());
  assert.throws(() => new Scheduler({ vcpus: 3, pcpus: 3, slice: 70, initial: states }).restore(snap), /scheduler snapshot/);
});
