// Pause requests (`vm.requestPause`) from exit and entry listeners: where the
// run stops (after the handler, where the vCPU resumes, an injected event
// delivered), that a paused and resumed run is the run it would have been,
// several vCPUs, a vCPU that halts or a VM that stops after the request. And
// `vm.runVcpu`: one vCPU alone for exactly N instructions.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createVm, type Vm, type VmExit, type VmStop, type VmOptions } from '../../../src/vmm/vtx/index';
import { assembleExample, discoverExamples, exampleOptions, MAX_INSTRUCTIONS } from '../examples/trace';
import { build, START_AP } from './guest';

const GENU = 0x756e6547; // CPUID leaf 0 EBX: "Genu"

function vmOf(source: string, options: Partial<VmOptions> = {}): Vm {
  return createVm({ image: build(source), ...options });
}

describe('vm.requestPause', () => {
  test('asked at a CPUID exit: the run stops at the next instruction, with the registers the handler wrote', () => {
    const vm = vmOf('  mov esi, 7\n  xor eax, eax\n  cpuid\n  mov esi, 1\n  cli\n  hlt\n');
    const exits: VmExit[] = [];
    vm.events.on('exit', (e) => {
      exits.push(e);
      if (e.name === 'CPUID') vm.requestPause(e.vcpu, 'at CPUID');
    });
    const stop = vm.run(1000);
    assert.equal(stop.reason, 'pause');
    assert.equal(stop.vcpu, 0);
    assert.equal(stop.message, 'at CPUID');
    assert.equal(stop.instructions, 3);
    assert.equal(stop.exits, 1);
    const c = vm.vcpus[0].cpu;
    assert.equal(c.eip >>> 0, exits[0].rip + exits[0].instructionLength);
    assert.equal(stop.rip, c.eip >>> 0);
    assert.equal(c.r[3] >>> 0, GENU);
    assert.equal(c.r[6], 7, 'the instruction after the CPUID has not run');
    assert.equal(vm.pauseRequested(0), null);
    // Resumed: the guest goes on to its HLT; the pause is not reported again.
    const end = vm.run(1000);
    assert.equal(end.reason, 'hlt');
    assert.equal(c.r[6], 1);
  });

  test('an event injected at the entry is delivered first: the pause is at its handler\'s first instruction, the frame pushed', () => {
    const vm = vmOf(`
  mov eax, handler
  mov [0x3000 + 0x40*8], ax
  mov word [0x3000 + 0x40*8 + 2], 0x08
  mov word [0x3000 + 0x40*8 + 4], 0x8E00
  shr eax, 16
  mov [0x3000 + 0x40*8 + 6], ax
  lidt [idtr]
  mov esp, 0x80000
  sti
  xor eax, eax
  cpuid
after:
  mov esi, 1
  cli
  hlt
handler:
  mov edi, 0x42
  iret
idtr: dw 0x40*8+7
  dd 0x3000
`);
    let resume = -1;
    vm.events.on('exit', (e) => {
      if (e.name !== 'CPUID') return;
      resume = e.rip + e.instructionLength;
      vm.interrupts.vcpus[0].queueInterrupt(0x40);
      vm.requestPause(0, 'with an interrupt');
    });
    const injected: number[] = [];
    vm.events.on('entry', (e) => injected.push(e.injected));
    const stop = vm.run(10_000);
    assert.equal(stop.reason, 'pause');
    assert.deepEqual(injected, [0, 0x80000040]);
    const c = vm.vcpus[0].cpu;
    assert.equal(c.r[4] >>> 0, 0x80000 - 12, 'EIP, CS and EFLAGS pushed');
    assert.equal(vm.machine.memory.read32(0x80000 - 12) >>> 0, resume, 'the frame returns to where the vCPU resumed');
    assert.equal(c.r[7], 0, 'the handler has not run yet');
    assert.notEqual(c.eip >>> 0, resume);
    assert.equal(vm.run(10_000).reason, 'hlt');
    assert.equal(c.r[7], 0x42);
    assert.equal(c.r[6], 1);
  });

  test('an EPT violation (an exit raised inside an instruction): the pause is at that instruction, which runs after the resume', () => {
    const vm = vmOf('  mov dword [0x300000], 5\n  mov esi, [0x300000]\n  cli\n  hlt\n', { memory: { eptMapOnDemand: true } });
    let at = -1;
    vm.events.on('exit', (e) => {
      if (e.reason !== 48 || at >= 0) return;
      at = e.rip;
      vm.requestPause(0, 'EPT violation');
    });
    const stop = vm.run(1000);
    assert.equal(stop.reason, 'pause');
    assert.equal(vm.vcpus[0].cpu.eip >>> 0, at);
    assert.equal(vm.machine.memory.read32(0x300000), 0);
    assert.equal(vm.run(1000).reason, 'hlt');
    assert.equal(vm.vcpus[0].cpu.r[6], 5);
  });

  test('requests at the exit and at the entry of one exit are one pause; a request between runs is taken at once', () => {
    const vm = vmOf('  mov esi, 3\n.l:\n  xor eax, eax\n  cpuid\n  dec esi\n  jnz .l\n  cli\n  hlt\n');
    // Not at the launch (the first entry): at the exits and the entries after them.
    let exited = false;
    vm.events.on('exit', (e) => {
      exited = true;
      vm.requestPause(e.vcpu, 'exit');
    });
    vm.events.on('entry', (e) => {
      if (exited) vm.requestPause(e.vcpu, 'entry');
    });
    const first = vm.run(1000);
    assert.equal(first.reason, 'pause');
    assert.equal(first.message, 'exit');
    assert.equal(vm.run(1000).reason, 'pause');
    assert.equal(vm.run(1000).reason, 'pause');
    vm.requestPause(0, 'from outside');
    const outside = vm.run(1000);
    assert.deepEqual([outside.reason, outside.message, outside.instructions], ['pause', 'from outside', 0]);
    // The last exit (HLT) pauses once; then the VM halts for good.
    const reasons: string[] = [];
    for (let i = 0; i < 3; i++) reasons.push(vm.run(1000).reason);
    assert.deepEqual(reasons, ['pause', 'hlt', 'hlt']);
  });

  test('a pause asked at an exit whose handler stops the VM is dropped: the VM\'s stop is reported, once more at every later run', () => {
    const vm = vmOf('  mov eax, 3\n  mov ebx, 9\n  vmcall\n  hlt\n');
    vm.events.on('exit', (e) => vm.requestPause(e.vcpu, 'at the shutdown hypercall'));
    const stop = vm.run(1000);
    assert.equal(stop.reason, 'shutdown');
    assert.equal(stop.code, 9);
    assert.equal(vm.pauseRequested(0), null);
    assert.equal(vm.run(1000).reason, 'shutdown');
  });

  test('several vCPUs: the pause is for the vCPU that exited; a request for another vCPU stops the run at the running one\'s next boundary', () => {
    const source = `${START_AP}
bsp:
  inc dword [0x5000]
  cmp dword [0x5004], 3
  jb bsp
  mov eax, 3
  xor ebx, ebx
  vmcall
ap:
  xor eax, eax
  cpuid
  inc dword [0x5004]
  jmp ap
`;
    const vm = vmOf(source, { vcpus: 2, sliceInstructions: 500 });
    const cpuidExits: VmExit[] = [];
    vm.events.on('exit', (e) => {
      if (e.name !== 'CPUID') return;
      cpuidExits.push(e);
      vm.requestPause(1, 'AP at CPUID');
    });
    const stops: VmStop[] = [];
    for (let i = 0; i < 10_000; i++) {
      const s = vm.run(100_000);
      stops.push(s);
      if (s.reason !== 'pause') break;
      assert.equal(s.vcpu, 1);
      const e = cpuidExits[cpuidExits.length - 1];
      assert.equal(vm.vcpus[1].cpu.eip >>> 0, e.rip + e.instructionLength);
    }
    assert.equal(stops[stops.length - 1].reason, 'shutdown');
    assert.equal(stops.filter((s) => s.reason === 'pause').length, cpuidExits.length);

    // vCPU 0's first exit (START_VCPU) asks for vCPU 1: the run ends at vCPU 0's next boundary, reporting vCPU 1.
    const vm2 = vmOf(source, { vcpus: 2, sliceInstructions: 500 });
    let vmcall: VmExit | undefined;
    vm2.events.on('exit', (e) => {
      if (vmcall !== undefined) return;
      vmcall = e;
      vm2.requestPause(1, 'the AP');
    });
    const s = vm2.run(100_000);
    assert.equal(s.reason, 'pause');
    assert.equal(s.vcpu, 1);
    assert.equal(vm2.vcpus[0].cpu.eip >>> 0, (vmcall as VmExit).rip + 3);
    assert.equal(vm2.vcpus[1].cpu.icount, 0);
  });

  test('a vCPU that halts for good after the request: the pause is reported once, with the vCPU halted, and the others run on', () => {
    const vm = vmOf(`${START_AP}
bsp:
  cmp dword [0x5004], 1
  jne bsp
  mov eax, 3
  xor ebx, ebx
  vmcall
ap:
  mov dword [0x5004], 1
  cli
  hlt
`, { vcpus: 2 });
    vm.events.on('exit', (e) => {
      if (e.name === 'HLT') vm.requestPause(e.vcpu, 'AP halts');
    });
    const pause = vm.run(100_000);
    assert.equal(pause.reason, 'pause');
    assert.equal(pause.vcpu, 1);
    assert.equal(vm.runState[1], 'halted');
    const end = vm.run(100_000);
    assert.equal(end.reason, 'shutdown');
  });
});

describe('paused and resumed runs are the runs they would have been', () => {
  interface Outcome { hash: string; stats: unknown; output: number[]; exits: string[]; stop: string }

  function outcome(vm: Vm, pauseAtExits: boolean): Outcome & { pauses: number } {
    const exits: string[] = [];
    // Per vCPU: the entry since its last exit (null: not entered again yet).
    const entered: ({ rip: number; injected: number } | null)[] = vm.vcpus.map(() => null);
    vm.events.on('exit', (e) => {
      exits.push(`${e.sequence} ${e.vcpu} ${e.reason} ${e.rip} ${e.qualification} ${e.interruptionInfo} ${e.idtVectoringInfo}`);
      entered[e.vcpu] = null;
      if (pauseAtExits) vm.requestPause(e.vcpu, `exit ${e.sequence}`);
    });
    vm.events.on('entry', (e) => { entered[e.vcpu] = { rip: e.rip, injected: e.injected }; });
    let left = MAX_INSTRUCTIONS;
    let pauses = 0;
    let stop: VmStop;
    for (;;) {
      stop = vm.run(left);
      left -= stop.instructions;
      if (stop.reason !== 'pause') break;
      pauses++;
      const v = stop.vcpu as number;
      const at = entered[v];
      const cpu = vm.vcpus[v];
      // Entered without an event to deliver: the vCPU stands at GUEST_RIP, the instruction it resumes at.
      if (at !== null && at.injected === 0 && !cpu.cpu.halted) assert.equal(cpu.cpu.eip >>> 0, at.rip >>> 0, `pause ${pauses} of vCPU ${v}`);
    }
    // The stop's message is left out: a 'hlt' that gave way to a pause is found again by the next run, which words it as the CPU does.
    return { hash: vm.traceHash(), stats: vm.stats.report(), output: [...vm.output], exits, stop: `${stop.reason} ${stop.rip} ${stop.code ?? ''}`, pauses };
  }

  for (const ex of discoverExamples()) {
    test(`examples/${ex.name}: a pause at every exit changes no exit, statistic, output or trace hash`, () => {
      const image = assembleExample(ex).bytes;
      const { pauses: none, ...plain } = outcome(createVm({ ...exampleOptions(ex), image }), false);
      const { pauses, ...paused } = outcome(createVm({ ...exampleOptions(ex), image }), true);
      assert.equal(none, 0);
      assert.ok(pauses > 0);
      assert.deepEqual(paused, plain);
    });
  }
});

describe('vm.runVcpu', () => {
  /** Both vCPUs count in a loop: vCPU 0 at 0x5000, vCPU 1 at 0x5004. */
  const TWO_COUNTERS = `${START_AP}
bsp:
  inc dword [0x5000]
  jmp bsp
ap:
  inc dword [0x5004]
  jmp ap
`;

  test('steps vCPU 1 of two by exactly one instruction; vCPU 0 and its device time stand still; scheduler time does not move', () => {
    const vm = vmOf(TWO_COUNTERS, { vcpus: 2, sliceInstructions: 1000 });
    assert.equal(vm.run(2500).reason, 'limit');
    const [c0, c1] = [vm.vcpus[0].cpu, vm.vcpus[1].cpu];
    // vCPU 0 holds the slot: vCPU 1's steps are out of turn.
    assert.equal(vm.scheduler.view().running, 0);
    for (let i = 0; i < 5; i++) {
      const before = { icount0: c0.icount, eip0: c0.eip, icount1: c1.icount, eip1: c1.eip, now0: vm.interrupts.vcpus[0].now(), sched: vm.scheduler.view() };
      const s = vm.runVcpu(1, 1);
      assert.equal(s.reason, 'limit');
      assert.equal(s.vcpu, 1);
      assert.equal(s.instructions, 1);
      assert.equal(c1.icount, before.icount1 + 1);
      assert.notEqual(c1.eip, before.eip1);
      assert.equal(c0.icount, before.icount0);
      assert.equal(c0.eip, before.eip0);
      assert.equal(vm.interrupts.vcpus[0].now(), before.now0);
      const after = vm.scheduler.view();
      assert.equal(after.vcpus[1].instructions, before.sched.vcpus[1].instructions + 1);
      assert.equal(after.vcpus[0].instructions, before.sched.vcpus[0].instructions);
      if (before.sched.running !== 1) {
        // Out of turn: no simulated time passes, so vCPU 0 gains no steal time either.
        assert.equal(after.now, before.sched.now);
        assert.equal(after.vcpus[0].steal, before.sched.vcpus[0].steal);
      }
    }
    // The VM runs on from here with both vCPUs.
    const counts = [vm.machine.memory.read32(0x5000), vm.machine.memory.read32(0x5004)];
    assert.equal(vm.run(5000).reason, 'limit');
    assert.ok(vm.machine.memory.read32(0x5000) > counts[0]);
    assert.ok(vm.machine.memory.read32(0x5004) > counts[1]);
  });

  test('steps of the vCPU that holds the slot use the slot; a vCPU waiting for SIPI does not move; with nothing runnable the stop is hlt', () => {
    const vm = vmOf(TWO_COUNTERS, { vcpus: 2, sliceInstructions: 1000 });
    const parked = vm.runVcpu(1, 1);
    assert.deepEqual([parked.reason, parked.instructions], ['limit', 0]);
    assert.match(parked.message, /cannot run \(wait-for-sipi\)/);
    assert.equal(vm.run(10).reason, 'limit');
    const view = vm.scheduler.view();
    assert.equal(view.running, 0);
    vm.runVcpu(0, 7);
    assert.equal(vm.scheduler.view().now, view.now + 7);
    const halted = vmOf('  cli\n  hlt\n', { vcpus: 2 });
    assert.equal(halted.run(100).reason, 'hlt');
    assert.equal(halted.runVcpu(0, 1).reason, 'hlt');
  });

  for (const name of ['cpuid-hlt-io-msr', 'timer-interrupt', 'exceptions']) {
    test(`examples/${name}: single instruction steps of its one vCPU, then a run, give the run's trace`, () => {
      const ex = discoverExamples().find((e) => e.name === name);
      assert.ok(ex !== undefined);
      const image = assembleExample(ex).bytes;
      const whole = createVm({ ...exampleOptions(ex), image });
      const end = whole.run(MAX_INSTRUCTIONS);
      const stepped = createVm({ ...exampleOptions(ex), image });
      let left = MAX_INSTRUCTIONS;
      let s: VmStop | undefined;
      for (let i = 0; i < 3000; i++) {
        s = stepped.runVcpu(0, 1);
        left -= s.instructions;
        if (s.reason !== 'limit') break;
      }
      if (s?.reason === 'limit') s = stepped.run(left);
      assert.equal(s?.reason, end.reason);
      assert.equal(stepped.traceHash(), whole.traceHash());
      assert.deepEqual(stepped.output, whole.output);
      assert.deepEqual(stepped.stats.report(), whole.stats.report());
    });
  }
});
