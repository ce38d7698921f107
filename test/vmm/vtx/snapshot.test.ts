// Whole-VM snapshots: taken mid-run, passed through JSON, restored into a
// fresh VM created with the same options, the VM continues exactly as the
// original: the same remaining exits (every field, sequence numbers
// included), output, stop, statistics, scheduler state and trace hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createVm, type Vm, type VmExit, type VmOptions, type VmStop } from '../../../src/vmm/vtx/index';
import type { VmSnapshot } from '../../../src/vmm/vtx/vm';
import { assemble } from '../../../src/x86/asm/index';
import { build, WAIT_FOR_AP_GUEST } from './guest';
import { EXAMPLES } from '../examples/trace';

interface Tail { exits: VmExit[]; stops: VmStop[]; output: string; hash: string; view: unknown; stats: unknown; regs: number[][] }

function make(image: Uint8Array, options: Partial<VmOptions>): Vm {
  return createVm({ image, ...options });
}

/** Runs in chunks until the VM stops for good, recording what happens. */
function finish(vm: Vm, chunk: number): Tail {
  const exits: VmExit[] = [];
  const off = vm.events.on('exit', (e) => exits.push(e));
  const stops: VmStop[] = [];
  for (let k = 0; k < 1000; k++) {
    const s = vm.run(chunk);
    stops.push(s);
    if (s.reason !== 'limit') break;
  }
  off();
  return {
    exits, stops, output: String.fromCharCode(...vm.output), hash: vm.traceHash(), view: vm.scheduler.view(), stats: vm.stats.report(),
    regs: vm.vcpus.map((v) => [...v.cpu.r, v.cpu.eip >>> 0, v.cpu.eflags, v.cpu.icount]),
  };
}

function viaJson(s: VmSnapshot): VmSnapshot {
  return JSON.parse(JSON.stringify(s)) as VmSnapshot;
}

/** Snapshot after `at` instructions; the original and a restored copy then run to the end. */
function checkContinuation(image: Uint8Array, options: Partial<VmOptions>, at: number, chunk: number): Tail {
  const original = make(image, options);
  original.run(at);
  const snap = viaJson(original.snapshot());
  const copy = make(image, options);
  copy.restore(snap);
  const a = finish(original, chunk);
  const b = finish(copy, chunk);
  assert.ok(a.exits.length > 0, `exits after ${at}`);
  assert.deepEqual(b.exits, a.exits, `exits after ${at}`);
  assert.deepEqual(b.stops, a.stops);
  assert.equal(b.output, a.output);
  assert.equal(b.hash, a.hash);
  assert.deepEqual(b.view, a.view);
  assert.deepEqual(b.stats, a.stats);
  assert.deepEqual(b.regs, a.regs);
  return a;
}

const ONE_VCPU = build(`
  mov esi, 40
.loop:
  mov eax, esi
  cpuid
  rdtsc
  mov [0x6000 + esi*4], eax
  mov al, 'a'
  add al, [counter]
  out 0xE9, al
  inc byte [counter]
  cmp byte [counter], 26
  jne .next
  mov byte [counter], 0
.next:
  mov ecx, 0x174
  rdmsr
  dec esi
  jnz .loop
  mov eax, 3
  mov ebx, 5
  vmcall
counter: db 0
`);

test('one vCPU: a snapshot at any point, through JSON, continues with the same exits, output and statistics', () => {
  for (const at of [1, 57, 200, 333]) checkContinuation(ONE_VCPU, {}, at, 1_000_000);
  const full = finish(make(ONE_VCPU, {}), 1_000_000);
  assert.equal(full.stops.at(-1)?.code, 5);
});

function example(): Uint8Array {
  const path = join(EXAMPLES, 'two-vcpus', 'guest.asm');
  const a = assemble(readFileSync(path, 'utf8'), { fileName: path });
  assert.ok(a.ok);
  return a.bytes;
}

test('two vCPUs: snapshots inside slots, before and after the AP starts, continue identically', () => {
  const image = example();
  for (const options of [{ vcpus: 2, pcpus: 1, sliceInstructions: 3000 }, { vcpus: 2, pcpus: 2, sliceInstructions: 777 }]) {
    for (const at of [3, 2500, 4321, 9000]) {
      const tail = checkContinuation(image, options, at, 1234);
      assert.equal(tail.stops.at(-1)?.reason, 'shutdown');
    }
  }
});

test('the restored VM carries the whole trace hash, exit counter and output, not just what follows', () => {
  const image = example();
  const options = { vcpus: 2, pcpus: 1, sliceInstructions: 3000 };
  const whole = make(image, options);
  whole.run(2_000_000);
  const original = make(image, options);
  original.run(7000);
  const copy = make(image, options);
  copy.restore(viaJson(original.snapshot()));
  assert.equal(copy.traceHash(), original.traceHash());
  copy.run(2_000_000);
  assert.equal(copy.traceHash(), whole.traceHash());
  assert.deepEqual(copy.output, whole.output);
  assert.deepEqual(copy.vcpus.map((v) => v.exitCount), whole.vcpus.map((v) => v.exitCount));
  // A VM that has ended stays ended after a restore.
  const ended = make(image, options);
  ended.restore(viaJson(whole.snapshot()));
  const again = ended.run(100);
  assert.deepEqual([again.reason, again.code, again.instructions], ['shutdown', 0, 0]);
});

test('pending INIT/SIPI signals and parked vCPUs are part of the snapshot', () => {
  const image = build(WAIT_FOR_AP_GUEST);
  const original = make(image, { vcpus: 2 });
  original.run(500);
  original.sendInit(1);
  original.sendSipi(1, 9);
  const copy = make(image, { vcpus: 2 });
  copy.restore(viaJson(original.snapshot()));
  assert.deepEqual(copy.pendingSignals(1), original.pendingSignals(1));
  const a = finish(original, 10_000);
  const b = finish(copy, 10_000);
  assert.deepEqual(b.exits, a.exits);
  assert.deepEqual(a.exits.map((e) => e.reason), [3, 4, 12, 18]);
});

test('registered state parts are saved and restored; a VM with other parts or vCPUs refuses the snapshot', () => {
  const image = example();
  const options = { vcpus: 2, pcpus: 2 };
  const counted = (): { vm: Vm; box: { n: number; log: string[] } } => {
    const vm = make(image, options);
    const box = { n: 0, log: [] as string[] };
    vm.registerState('counter', { snapshot: () => ({ n: box.n, log: box.log }), restore: (s) => { const x = s as { n: number; log: string[] }; box.n = x.n; box.log = x.log; } });
    vm.events.on('exit', (e) => { box.n++; box.log.push(e.name); });
    return { vm, box };
  };
  const a = counted();
  a.vm.run(6000);
  const snap = viaJson(a.vm.snapshot());
  assert.deepEqual(snap.parts.counter, { n: a.box.n, log: a.box.log });
  const b = counted();
  b.vm.restore(snap);
  assert.equal(b.box.n, a.box.n);
  // The part got a copy: changing the original afterwards does not reach the snapshot or the copy.
  a.box.log.push('x');
  assert.notDeepEqual(b.box.log, a.box.log);
  a.box.log.pop();
  a.vm.run(2_000_000);
  b.vm.run(2_000_000);
  assert.deepEqual(b.box, a.box);

  assert.throws(() => make(image, options).restore(snap), /"counter" not registered here/);
  assert.throws(() => make(image, { vcpus: 3 }).restore(viaJson(make(image, { vcpus: 2 }).snapshot())), /2 vCPUs, this VM 3/);
  const plain = viaJson(make(image, options).snapshot());
  assert.equal(plain.format, 'hyperstep-vm');
  assert.equal(plain.machine.processors?.length, 1);
  assert.deepEqual(plain.vcpus[0].ioBitmapA, [[0xff, 4096]]);
  assert.deepEqual(plain.runState, ['runnable', 'wait-for-sipi']);
});

test('memory virtualization state is carried too: EPT mapped on demand and shadow page tables', () => {
  const image = build(`
  mov esi, 30
.loop:
  mov eax, esi
  cpuid
  mov edi, esi
  shl edi, 12
  mov [0x200000 + edi], eax
  out 0xE9, al
  dec esi
  jnz .loop
  mov eax, 3
  xor ebx, ebx
  vmcall
`);
  for (const paging of ['ept', 'shadow'] as const) {
    for (const at of [50, 150]) {
      const tail = checkContinuation(image, { paging, vcpus: 2 }, at, 100_000);
      assert.equal(tail.stops.at(-1)?.reason, 'shutdown', `${paging} at ${at}`);
    }
  }
});
