// Guest state held by the CPU between an instruction exit and the entry after
// it (Vmcs.hold): the exit stores nothing and the entry loads nothing, yet
// every reader of the VMCS must see what an exit that stored the state would
// have left there, and every VMM write must reach the guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVm, saveGuestState, type Vm, type VmStop } from '../../../src/vmm/vtx/index';
import { Vmcs, VMCS_FIELDS, vmcsSlot, EXIT_REASON } from '../../../src/vmm/vmx/index';
import { assembleExample, discoverExamples, exampleOptions, MAX_INSTRUCTIONS } from '../examples/trace';
import { build, runGuest } from './guest';

interface Outcome { stop: VmStop; hash: string; stats: unknown; output: number[]; exits: string[]; entries: number[]; eip: number; flags: number }

function outcome(vm: Vm): Outcome {
  const exits: string[] = [];
  const entries: number[] = [];
  vm.events.on('exit', (e) => exits.push(`${e.sequence} ${e.vcpu} ${e.reason} ${e.rip} ${e.qualification} ${e.instructionLength} ${e.interruptionInfo} ${e.idtVectoringInfo}`));
  vm.events.on('entry', (e) => entries.push(e.rip, e.injected));
  const stop = vm.run(MAX_INSTRUCTIONS);
  const c = vm.vcpus[0].cpu;
  return { stop, hash: vm.traceHash(), stats: vm.stats.report(), output: [...vm.output], exits, entries, eip: c.eip >>> 0, flags: c.eflags >>> 0 };
}

// Without VPIDs every entry flushes cached translations, which is the loading entry's work: no exit holds.
// The examples' guests do not depend on stale translations, so the two runs must agree in everything.
for (const ex of discoverExamples()) {
  test(`examples/${ex.name}: exits, entries and results are the same with the state held (VPID) and stored (no VPID)`, () => {
    const image = assembleExample(ex).bytes;
    const options = exampleOptions(ex);
    const held = outcome(createVm({ ...options, image }));
    const stored = outcome(createVm({
      ...options, image,
      configure: (v) => { options.configure?.(v); v.setControl('secondary', 'VPID', false); },
    }));
    assert.ok(held.exits.length > 0);
    assert.deepEqual(held, stored);
  });
}

const GUEST_SLOTS = VMCS_FIELDS.filter((f) => f.group === 'guest-state' && f.width !== 64).map((f) => ({ name: f.name, slot: vmcsSlot(f.name) }));

test('at every exit, each guest-state field reads as an exit that stored the state would have left it', () => {
  // Segment loads, CR and flag changes, CPUID/I-O/RDMSR exits in between.
  const source = `
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    xor eax, eax
    cpuid
    mov eax, cr0
    or eax, 0x20
    mov cr0, eax
    std
    mov al, 'x'
    out 0xe9, al
    cld
    mov ecx, 0x174
    rdmsr
    pushfd
    pop eax
    or eax, 0x40
    push eax
    popfd
    mov eax, 1
    cpuid
    cli
    hlt
  `;
  const vm = createVm({ image: build(source) });
  const vcpu = vm.vcpus[0];
  let checked = 0;
  vm.events.on('exit', () => {
    assert.ok(vcpu.vmcs.isHeld || vcpu.vmcs.get('VM_EXIT_REASON') === EXIT_REASON.HLT);
    const stored = new Vmcs();
    saveGuestState(vcpu.cpu, stored);
    for (const { name, slot } of GUEST_SLOTS) assert.equal(vcpu.vmcs.getAt(slot), stored.getAt(slot), `${name} at exit ${vcpu.vmcs.get('VM_EXIT_REASON')}`);
    checked++;
  });
  const stop = vm.run(1000);
  assert.equal(stop.reason, 'hlt');
  assert.ok(checked >= 4, `${checked} exits checked`);
});

test('a handler that writes a held field (GUEST_RIP) moves the guest: the write stores the held state first', () => {
  const source = `
    xor eax, eax
    cpuid
    mov ebx, 1          ; skipped by the handler
    mov ecx, 2
    cli
    hlt
  `;
  const image = build(source);
  const vm = createVm({
    image,
    handlers: {
      [EXIT_REASON.CPUID]: (vcpu) => {
        const v = vcpu.vmcs;
        assert.ok(v.isHeld);
        // cpuid (2 bytes) + mov ebx, imm32 (5 bytes)
        v.set('GUEST_RIP', v.get('GUEST_RIP') + 2 + 5);
        assert.ok(!v.isHeld, 'a write to a held field stores the state');
        return { kind: 'resume' };
      },
    },
  });
  const stop = vm.run(100);
  assert.equal(stop.reason, 'hlt');
  const c = vm.vcpus[0].cpu;
  assert.equal(c.r[3], 0, 'mov ebx, 1 was skipped');
  assert.equal(c.r[1], 2);
});

test('a handler that breaks held guest state gets the entry checks: exit 33 names the field', () => {
  const run = runGuest('xor eax, eax\ncpuid\ncli\nhlt\n', undefined, {
    handlers: {
      [EXIT_REASON.CPUID]: (vcpu) => {
        vcpu.skipInstruction();
        // Type 1 (a 16-bit TSS, available) is no type CS may have, unrestricted guest or not (SDM 26.3.1.2).
        vcpu.vmcs.set('GUEST_CS_AR_BYTES', 0xc091);
        return { kind: 'resume' };
      },
    },
  });
  assert.equal(run.stop.reason, 'error');
  assert.match(run.stop.message, /CS/);
  const last = run.exits[run.exits.length - 1];
  assert.equal(last.reason, EXIT_REASON.INVALID_STATE);
});

test('between runs the VMCS shows the guest state the CPU has (what a debugger stopped in the guest reads)', () => {
  const vm = createVm({ image: build('mov esi, 50\n.l: xor eax, eax\ncpuid\ninc edi\ndec esi\njnz .l\ncli\nhlt\n') });
  vm.run(37);
  const c = vm.vcpus[0].cpu;
  const v = vm.vcpus[0].vmcs;
  assert.equal(v.get('GUEST_RIP'), c.eip >>> 0);
  assert.equal(v.get('GUEST_RFLAGS'), c.eflags >>> 0);
  assert.equal(v.get('GUEST_RSP'), c.r[4] >>> 0);
  // A snapshot stores the held state; the restored VM finishes exactly as the original.
  const snap = vm.snapshot();
  const rest = vm.run(MAX_INSTRUCTIONS);
  const again = createVm({ image: build('mov esi, 50\n.l: xor eax, eax\ncpuid\ninc edi\ndec esi\njnz .l\ncli\nhlt\n') });
  again.restore(snap);
  const rest2 = again.run(MAX_INSTRUCTIONS);
  assert.deepEqual(rest2, rest);
  assert.equal(again.traceHash(), vm.traceHash());
});
