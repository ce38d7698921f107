// Exception delivery under VMX: what an exception that causes a VM exit
// leaves in architectural state (CR2, DR6/DR7: SDM 27.1), and exceptions
// raised while an event is being delivered: the exception bitmap is
// consulted for the nested exception before the processor forms #DF
// (SDM 27.1, 25.2), with IDT-vectoring information as SDM 27.2.4 says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HANDLERS, createVm, type ExitHandler, type Vcpu, type VmExit } from '../../../src/vmm/vtx/index';
import { build, runGuest, IDENTITY_PAGING_4M } from './guest';

const MiB = 1 << 20;
const SHUTDOWN = '  mov eax, 3\n  mov ebx, 0\n  vmcall\n';
const STOP: ExitHandler = () => ({ kind: 'stop', reason: 'shutdown', message: 'test stops at the exception exit' });

/** An interrupt gate for `vector` at the IDT (0x3000) pointing to `label`; `attr` is the high word of the gate's second dword. */
const gate = (vector: number, label: string, attr = 0x8e00): string =>
  `  mov eax, ${label}\n  mov [${0x3000 + vector * 8}], ax\n  mov word [${0x3000 + vector * 8 + 2}], 0x08\n` +
  `  mov word [${0x3000 + vector * 8 + 4}], ${attr}\n  shr eax, 16\n  mov [${0x3000 + vector * 8 + 6}], ax\n`;

/** A flat32 guest with a stack at 0x8000 and an empty 256-gate IDT at 0x3000; `setup` fills gates, `body` runs next. */
function guest(setup: string, body: string, handlers = ''): string {
  return `  mov esp, 0x8000
  mov edi, 0x3000
  xor eax, eax
  mov ecx, 512
  rep stosd
${setup}  lidt [idtr]
${body}${SHUTDOWN}
idtr: dw 256*8-1
  dd 0x3000
${handlers}`;
}

const bitmap = (...vectors: number[]) => (v: Vcpu): void => {
  v.vmcs.set('EXCEPTION_BITMAP', vectors.reduce((m, x) => (m | (1 << x)) >>> 0, 0));
};
const exceptionExits = (exits: VmExit[]): VmExit[] => exits.filter((e) => e.reason === 0);

const DIVIDE = '  xor eax, eax\n  xor edx, edx\n  xor ecx, ecx\n  div ecx\n';

test('a #PF that exits leaves CR2 as the last delivered #PF set it; the qualification has the address; reflection delivers it', () => {
  // Guest paging identity-maps 0-4 MiB except pages 0x200000 and 0x201000; the #PF handler logs CR2 and maps the page.
  const setup = `${gate(14, 'h_pf')}${IDENTITY_PAGING_4M}  mov dword [0x11000 + 0x200*4], 0
  mov dword [0x11000 + 0x201*4], 0
`;
  const body = `  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  mov eax, [0x200000]
  mov dword [0x201004], 5
`;
  const handlers = `h_pf:
  push eax
  push ebx
  mov eax, cr2
  mov ebx, [0x4000]
  mov [0x4004 + ebx*4], eax
  inc dword [0x4000]
  mov ebx, eax
  shr ebx, 12
  and eax, 0xfffff000
  or eax, 3
  mov [0x11000 + ebx*4], eax
  invlpg [eax]
  pop ebx
  pop eax
  add esp, 4
  iret
`;
  const seen: { cr2: number; qualification: number; info: number; code: number }[] = [];
  const reflect: ExitHandler = (vcpu, e, ctx) => {
    seen.push({ cr2: vcpu.cpu.cr2 >>> 0, qualification: e.qualification >>> 0, info: e.interruptionInfo, code: e.interruptionErrorCode });
    const base = DEFAULT_HANDLERS[0];
    assert.ok(base !== undefined);
    return base(vcpu, e, ctx);
  };
  // Only write faults exit: PFEC mask = match = W.
  const g = runGuest(guest(setup, body, handlers), (v) => {
    bitmap(14)(v);
    v.vmcs.set('PAGE_FAULT_ERROR_CODE_MASK', 2);
    v.vmcs.set('PAGE_FAULT_ERROR_CODE_MATCH', 2);
  }, { memorySize: 16 * MiB, handlers: { 0: reflect } }, 100_000);
  assert.equal(g.stop.reason, 'shutdown', g.stop.message);
  // The read of 0x200000 was delivered natively (CR2 = A); the write to 0x201004 exited.
  assert.deepEqual(seen, [{ cr2: 0x200000, qualification: 0x201004, info: 0x80000b0e, code: 2 }]);
  const m = g.vm.machine.memory;
  assert.equal(m.read32(0x4000), 2, 'the guest handled two #PF');
  assert.deepEqual([m.read32(0x4004), m.read32(0x4008)], [0x200000, 0x201004], 'CR2 as each #PF was delivered');
  assert.equal(g.vm.vcpus[0].cpu.cr2 >>> 0, 0x201004);
});

test('a #DB that exits leaves DR6 and DR7.GD; delivered natively afterwards, it sets DR6.BD and clears GD', () => {
  const body = '  mov eax, 0x2400\n  mov dr7, eax\n  mov eax, dr0\n';
  const handlers = 'h_db:\n  mov eax, dr6\n  mov [0x4010], eax\n  mov eax, dr7\n  mov [0x4014], eax\n  mov eax, 3\n  mov ebx, 0x101\n  vmcall\n';
  const seen: { dr6: number; dr7: number; qualification: number; info: number }[] = [];
  const emulate: ExitHandler = (vcpu, e) => {
    seen.push({ dr6: vcpu.cpu.dr[6] >>> 0, dr7: vcpu.cpu.dr[7] >>> 0, qualification: e.qualification >>> 0, info: e.interruptionInfo });
    return { kind: 'emulate' };
  };
  const g = runGuest(guest(gate(1, 'h_db'), body, handlers), bitmap(1), { handlers: { 0: emulate } });
  assert.equal(g.stop.code, 0x101, g.stop.message);
  // General detect: qualification bit 13 (BD), as DR6 would have it; DR6 still has its reset value.
  assert.deepEqual(seen, [{ dr6: 0xffff0ff0, dr7: 0x2400, qualification: 0x2000, info: 0x80000301 }]);
  const m = g.vm.machine.memory;
  assert.equal(m.read32(0x4010) >>> 0, 0xffff2ff0, 'DR6 with BD, written by the delivery');
  assert.equal(m.read32(0x4014), 0x400, 'GD cleared on entry to the handler');
});

/** Guest handlers that end the run with hypercall code 0x100 + vector. */
const ENDS = (...vectors: number[]): string => vectors.map((v) => `h_${v}:\n  mov eax, 3\n  mov ebx, ${0x100 + v}\n  vmcall\n`).join('');

/**
 * An exit-0 handler that records the exit and makes the gate of `vector`
 * a valid interrupt gate (it was written with type 0), as a VMM would fix
 * what it emulates; the interrupted event is then injected again
 * (events.ts, from IDT-vectoring information) and reaches the guest.
 */
function fixGate(vector: number, seen: VmExit[]): ExitHandler {
  return (vcpu, e) => {
    seen.push(e);
    vcpu.cpu.mem.write16(0x3000 + vector * 8 + 4, 0x8e00);
    return { kind: 'resume' };
  };
}

test('#GP while delivering INT n exits as #GP with IDT-vectoring information of the software interrupt and its length', () => {
  const seen: VmExit[] = [];
  const g = runGuest(guest(gate(0x40, 'h_64', 0x8000), '  int 0x40\n', ENDS(0x40)), bitmap(13), { handlers: { 0: fixGate(0x40, seen) } });
  assert.equal(g.stop.code, 0x140, g.stop.message);
  assert.equal(seen.length, 1);
  const [e] = seen;
  assert.equal(e.interruptionInfo, 0x80000b0d);
  assert.equal(e.interruptionErrorCode, 0x40 * 8 + 2, 'IDT, not EXT: a software interrupt');
  assert.equal(e.idtVectoringInfo, 0x80000440, 'vector 0x40, type 4 (software interrupt)');
  assert.equal(e.idtVectoringErrorCode, 0);
  assert.equal(e.instructionLength, 2, 'SDM 27.2.5: the length of INT n');
  const m = g.vm.machine.memory;
  assert.deepEqual([m.read8(e.rip), m.read8(e.rip + 1)], [0xcd, 0x40], 'RIP is the INT instruction');
  assert.deepEqual(g.entries.filter((x) => x !== 0), [0x80000440], 're-injected as INT 0x40');
});

test('#GP while delivering an injected INT n: RIP is the instruction, the length the injected one', () => {
  // The first entry injects INT 0x40 (length 2) at 0x1000; IDTR limit 0 makes its delivery raise #GP(0x202).
  // The handler installs an IDT with a valid gate 0x40 at 0 (pointing at `h_64`, at 0x1002); the INT is injected again.
  const seen: VmExit[] = [];
  const fix: ExitHandler = (vcpu, e) => {
    seen.push(e);
    const m = vcpu.cpu.mem;
    m.write32(0x40 * 8, 0x00081002);
    m.write32(0x40 * 8 + 4, 0x00008e00);
    vcpu.vmcs.set('GUEST_IDTR_LIMIT', 0x7ff);
    return { kind: 'resume' };
  };
  const g = runGuest(`  jmp short start\n${ENDS(0x40)}start:\n  hlt\n`, (v) => { bitmap(13)(v); v.inject(0x40, 4, -1, 2); }, { handlers: { 0: fix } });
  assert.equal(g.stop.code, 0x140, g.stop.message);
  assert.equal(seen.length, 1);
  const [e] = seen;
  assert.deepEqual([e.interruptionInfo, e.interruptionErrorCode, e.idtVectoringInfo, e.instructionLength, e.rip],
    [0x80000b0d, 0x202, 0x80000440, 2, 0x1000]);
  assert.deepEqual(g.entries.filter((x) => x !== 0), [0x80000440, 0x80000440]);
});

test('#GP while delivering an injected external interrupt exits with IDT-vectoring information of the interrupt', () => {
  const seen: VmExit[] = [];
  const vm = createVm({ image: build(guest(gate(0x40, 'h_64', 0x8000), '  sti\n  nop\n  nop\n', ENDS(0x40))),
    configure: bitmap(13), handlers: { 0: fixGate(0x40, seen) } });
  vm.interrupts.vcpus[0].queueInterrupt(0x40);
  const stop = vm.run(10_000);
  assert.equal(stop.code, 0x140, stop.message);
  assert.equal(seen.length, 1);
  const [e] = seen;
  assert.equal(e.interruptionInfo, 0x80000b0d);
  assert.equal(e.interruptionErrorCode, 0x40 * 8 + 2 + 1, 'IDT, EXT');
  assert.equal(e.idtVectoringInfo, 0x80000040, 'vector 0x40, type 0 (external interrupt)');
  assert.equal(e.instructionLength, 0);
});

test('a contributory exception while delivering a contributory one exits when its bit is set, instead of becoming #DF', () => {
  const seen: VmExit[] = [];
  const g = runGuest(guest(gate(0, 'h_0', 0x8000) + gate(8, 'h_8'), DIVIDE, ENDS(0, 8)), bitmap(13, 8), { handlers: { 0: fixGate(0, seen) } });
  assert.equal(g.stop.code, 0x100, `the re-injected #DE reaches its handler: ${g.stop.message}`);
  assert.equal(seen.length, 1);
  const [e] = seen;
  assert.equal(e.interruptionInfo, 0x80000b0d, '#GP, not #DF');
  assert.equal(e.interruptionErrorCode, 3, 'IDT, EXT');
  assert.equal(e.idtVectoringInfo, 0x80000300, '#DE, hardware exception, no error code');
  const m = g.vm.machine.memory;
  assert.deepEqual([m.read8(e.rip), m.read8(e.rip + 1)], [0xf7, 0xf1], 'RIP is the faulting DIV');
});

test('the nested #GP not in the bitmap: the #DF the processor forms exits, with no IDT-vectoring information', () => {
  const g = runGuest(guest(gate(0, 'h_0', 0x8000), DIVIDE, ENDS(0)), bitmap(8), { handlers: { 0: STOP } });
  const exits = exceptionExits(g.exits);
  assert.equal(exits.length, 1);
  const [e] = exits;
  assert.equal(e.interruptionInfo, 0x80000b08, '#DF, hardware exception, error code valid');
  assert.equal(e.interruptionErrorCode, 0);
  // SDM 27.2.4 (Information for VM Exits During Event Delivery): "A VM exit is not considered to occur during
  // event delivery in any of the following circumstances: ... The original event results in a double-fault
  // exception that causes the VM exit directly." So the valid bit of IDT-vectoring information is clear.
  assert.equal(e.idtVectoringInfo, 0);
  assert.equal(e.idtVectoringErrorCode, 0);
});

test('an exception while delivering #DF exits when its bit is set, with the #DF as IDT-vectoring information', () => {
  // #DE -> #NP (not-present gate) = #DF; the #DF gate raises #GP, which exits (SDM 25.2: no triple fault).
  const seen: VmExit[] = [];
  const g = runGuest(guest(gate(0, 'h_0', 0x0e00) + gate(8, 'h_8', 0x8000), DIVIDE, ENDS(0, 8)), bitmap(13), { handlers: { 0: fixGate(8, seen) } });
  assert.equal(g.stop.code, 0x108, `the re-injected #DF reaches its handler: ${g.stop.message}`);
  assert.equal(seen.length, 1);
  const [e] = seen;
  assert.equal(e.interruptionInfo, 0x80000b0d);
  assert.equal(e.interruptionErrorCode, 8 * 8 + 2 + 1);
  assert.equal(e.idtVectoringInfo, 0x80000b08, '#DF with error code');
  assert.equal(e.idtVectoringErrorCode, 0);
  assert.equal(g.exits.some((x) => x.reason === 2), false);
});

test('an exception while delivering #DF that does not exit is a triple fault: exit 2', () => {
  const g = runGuest(guest(gate(0, 'h_0', 0x0e00) + gate(8, 'h_8', 0x8000), DIVIDE, ENDS(0, 8)), bitmap());
  const last = g.exits[g.exits.length - 1];
  assert.equal(last.reason, 2, 'TRIPLE_FAULT');
  assert.equal(last.idtVectoringInfo, 0, 'SDM 27.2.4: a triple fault is not an exit during event delivery');
  assert.equal(g.stop.reason, 'triple-fault');
  assert.match(g.stop.message, /#DE -> #NP\(0x3\) -> #DF\(0x0\) -> #GP\(0x43\)/);
  // With #NP in the bitmap the first nested exception exits instead (during #DE).
  const seen: VmExit[] = [];
  const n = runGuest(guest(gate(0, 'h_0', 0x0e00) + gate(8, 'h_8', 0x8000), DIVIDE, ENDS(0, 8)), bitmap(11), {
    handlers: { 0: (vcpu, e) => { seen.push(e); vcpu.cpu.mem.write16(0x3004, 0x8e00); return { kind: 'resume' }; } },
  });
  assert.equal(n.stop.code, 0x100, n.stop.message);
  assert.deepEqual(seen.map((e) => [e.interruptionInfo, e.interruptionErrorCode, e.idtVectoringInfo]), [[0x80000b0b, 3, 0x80000300]]);
});

test('without the exception bitmap the same faults are delivered as on a bare machine (#DE -> #GP = #DF)', () => {
  const handlers = 'h_df:\n  mov eax, [esp]\n  mov [0x4020], eax\n  mov eax, 3\n  mov ebx, 0x108\n  vmcall\n';
  const g = runGuest(guest(gate(0, 'h_df', 0x8000) + gate(8, 'h_df'), DIVIDE, handlers), bitmap());
  assert.equal(g.stop.code, 0x108, g.stop.message);
  assert.equal(g.vm.machine.memory.read32(0x4020), 0, '#DF error code 0');
  assert.equal(exceptionExits(g.exits).length, 0);
});

test('a handler that stops the VM at a nested-exception exit ends it once: the interrupted event is not re-injected', () => {
  // With the gate of INT 0x40 not present, every re-injection would fault and exit again.
  const g = runGuest(guest(gate(0x40, 'h_64', 0x8000), '  int 0x40\n', ENDS(0x40)), bitmap(13), { handlers: { 0: STOP } });
  assert.equal(g.stop.reason, 'shutdown');
  assert.equal(g.stop.message, 'test stops at the exception exit');
  assert.deepEqual(g.exits.map((e) => [e.reason, e.idtVectoringInfo]), [[0, 0x80000440]]);
  assert.deepEqual(g.entries.filter((x) => x !== 0), [], 'no entry injected the interrupt again');
  const m = g.vm.machine.memory;
  const eip = g.vm.vcpus[0].cpu.eip;
  assert.deepEqual([m.read8(eip), m.read8(eip + 1)], [0xcd, 0x40], 'the CPU shows the guest at the INT instruction');
});
