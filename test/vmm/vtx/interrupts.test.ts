// Event virtualization: injection through VM_ENTRY_INTR_INFO_FIELD, the
// interrupt and NMI windows, external-interrupt and NMI exiting, IDT-vectoring
// re-injection, the preemption timer, MTF, HLT idling, the platform devices in
// the VM, and the pending-event view (docs/vmm-interrupts.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build, runGuest, PIC_INIT } from './guest';
import { createVm, type Vm, type VmExit, type VmOptions, type ExitHandler } from '../../../src/vmm/vtx/index';

/** Where the guest's handlers log: a count at LOG, the vectors from LOG+4, each handler's return EIP at EIPS + 4*vector. */
const LOG = 0x5000;
const EIPS = 0x5400;

/**
 * A flat32 guest: stack at 0x8000, an IDT at 0x3000 with a logging handler
 * for each of `vectors` (interrupt gates), then `body`. PIC vectors (0x20-0x2F)
 * send a non-specific EOI to the PIC(s); `lapicEoi` vectors write the LAPIC EOI.
 */
function guest(body: string, vectors: number[], opts: { lapicEoi?: number[]; handlerBody?: Record<number, string> } = {}): string {
  const gates = vectors.map((v) => `  mov eax, h_${v}\n  mov [${0x3000 + v * 8}], ax\n  mov word [${0x3000 + v * 8 + 2}], 0x08\n  mov word [${0x3000 + v * 8 + 4}], 0x8E00\n  shr eax, 16\n  mov [${0x3000 + v * 8 + 6}], ax\n`).join('');
  const handlers = vectors.map((v) => {
    const eoi = v >= 0x20 && v < 0x30 ? `  mov al, 0x20\n${v >= 0x28 ? '  out 0xa0, al\n' : ''}  out 0x20, al\n` : '';
    const lapic = opts.lapicEoi?.includes(v) ? '  mov dword [0xfee000b0], 0\n' : '';
    return `h_${v}:\n  push eax\n  mov eax, [${LOG}]\n  mov byte [${LOG + 4}+eax], ${v}\n  inc dword [${LOG}]\n  mov eax, [esp+4]\n  mov [${EIPS + v * 4}], eax\n${opts.handlerBody?.[v] ?? ''}${eoi}${lapic}  pop eax\n  iret\n`;
  }).join('');
  return `  mov esp, 0x8000
${gates}  lidt [idtr]
${body}
  mov eax, 3
  mov ebx, 0
  vmcall
idtr: dw 256*8-1
  dd 0x3000
${handlers}`;
}

const SHUTDOWN = '  mov eax, 3\n  mov ebx, 0\n  vmcall\n';

function log(vm: Vm): number[] {
  const m = vm.machine.cpu.mem;
  const n = m.read8(LOG);
  return Array.from({ length: n }, (_, i) => m.read8(LOG + 4 + i));
}
const returnEip = (vm: Vm, vector: number): number => vm.machine.cpu.mem.read32(EIPS + vector * 4) >>> 0;

interface Run { vm: Vm; exits: VmExit[]; entries: number[]; stop: ReturnType<Vm['run']> }
function run(source: string, options: Partial<VmOptions> = {}, max = 100_000, before?: (vm: Vm) => void): Run {
  const vm = createVm({ image: build(source), ...options });
  const exits: VmExit[] = [];
  const entries: number[] = [];
  vm.events.on('exit', (e) => exits.push(e));
  vm.events.on('entry', (e) => { if (e.injected !== 0) entries.push(e.injected); });
  before?.(vm);
  const stop = vm.run(max);
  return { vm, exits, entries, stop };
}

/** A CPUID handler that runs `act` on the n-th CPUID exit (0-based) and completes the instruction. */
function onCpuid(act: (vm: Vm, n: number) => void, vmRef: { vm?: Vm }): ExitHandler {
  let n = 0;
  return (vcpu) => {
    act(vmRef.vm as Vm, n++);
    vcpu.skipInstruction();
    return { kind: 'resume' };
  };
}

/** A run whose CPUID exits call `act(vm, n)`. */
function runWithCpuid(source: string, act: (vm: Vm, n: number) => void, options: Partial<VmOptions> = {}, max = 100_000): Run {
  const ref: { vm?: Vm } = {};
  return run(source, { ...options, handlers: { 10: onCpuid(act, ref), ...options.handlers } }, max, (vm) => { ref.vm = vm; });
}

// --- injection -------------------------------------------------------------

test('each interruption type is injected with the exact VM_ENTRY_INTR_INFO_FIELD encoding and reaches the guest handler', () => {
  const cases: { type: number; vector: number; error?: number; len?: number; info: number }[] = [
    { type: 0, vector: 0x30, info: 0x80000030 },
    { type: 2, vector: 2, info: 0x80000202 },
    { type: 3, vector: 13, error: 0x1234, info: 0x80000b0d },
    { type: 4, vector: 0x80, len: 2, info: 0x80000480 },
    { type: 6, vector: 3, len: 1, info: 0x80000603 },
  ];
  for (const k of cases) {
    // The injected event is delivered at the instruction after CPUID; a software event's length skips the two NOPs there
    // (they stand for the INT n or INT3 it reports).
    const g = runWithCpuid(guest('  sti\n  nop\n  cpuid\n  nop\n  nop\n', [k.vector], {
      handlerBody: k.type === 3 ? { [k.vector]: '  mov eax, [esp+8]\n  mov [0x5300], eax\n  pop eax\n  add esp, 4\n  push eax\n' } : {},
    }), (vm) => vm.vcpus[0].inject(k.vector, k.type, k.error ?? -1, k.len ?? 0));
    assert.equal(g.stop.reason, 'shutdown', `type ${k.type}: ${g.stop.message}`);
    assert.deepEqual(g.entries, [k.info], `type ${k.type}`);
    assert.deepEqual(log(g.vm), [k.vector], `type ${k.type}`);
    const cpuidExit = g.exits.find((e) => e.reason === 10) as VmExit;
    // Software events return past the instruction length given; the others to the next instruction (RIP after CPUID).
    // #GP pushed an error code under the return address: the handler saved the EIP at 0x5300 instead.
    const eip = k.type === 3 ? g.vm.machine.cpu.mem.read32(0x5300) : returnEip(g.vm, k.vector);
    assert.equal(eip, cpuidExit.rip + 2 + (k.len ?? 0), `type ${k.type}`);
    if (k.type === 3) assert.equal(returnEip(g.vm, k.vector), 0x1234, 'the error code was pushed');
  }
});

test('a queued external interrupt waits for RFLAGS.IF: interrupt-window exit 7 after the instruction that follows STI', () => {
  const g = run(guest('  sti\n  nop\n  nop\n  nop\n', [0x40]), {}, 10_000, (vm) => vm.interrupts.vcpus[0].queueInterrupt(0x40));
  const w = g.exits.filter((e) => e.reason === 7);
  assert.equal(w.length, 1);
  const sti = g.exits[0].rip - 2; // exit 7 is at the second NOP: STI (1 byte), NOP (1 byte) under STI blocking
  assert.equal(g.exits[0].reason, 7);
  assert.equal(g.vm.machine.cpu.mem.read8(sti), 0xfb, 'two bytes before the exit is the STI');
  assert.equal(g.exits[0].why, 'interrupt-window exiting (primary control bit 2) is set and the guest has RFLAGS.IF=1 with no STI or MOV SS blocking');
  assert.deepEqual(g.entries, [0x80000040]);
  assert.deepEqual(log(g.vm), [0x40]);
  assert.equal(returnEip(g.vm, 0x40), g.exits[0].rip, 'the interrupt came at the window');
  assert.equal(g.vm.vcpus[0].control('primary', 'INTR_WINDOW_EXITING'), false, 'the exit-7 handler cleared the control');
});

test('interrupt-window exiting set by the VMM with IF=0: the exit comes after the instruction that follows STI, not before', () => {
  // STI at 0x1002, the NOP it covers at 0x1003: the window opens at 0x1004.
  const g = runGuest('  cli\n  nop\n  sti\n  nop\n  nop\n  hlt\n', (v) => v.setControl('primary', 'INTR_WINDOW_EXITING', true));
  assert.deepEqual(g.exits.map((e) => [e.reason, e.rip]), [[7, 0x1004], [12, 0x1005]]);
});

test('NMI window (exit 8): a second NMI waits for the IRET of the first handler (virtual-NMI blocking)', () => {
  // The NMI handler makes a CPUID; the first main-line CPUID queues NMI #1, the one in the handler NMI #2.
  const body = { 2: '  cpuid\n' };
  let blockedInHandler = -1;
  const g = runWithCpuid(guest('  cpuid\n  nop\n  nop\n', [2], { handlerBody: body }), (vm, n) => {
    if (n === 1) blockedInHandler = vm.vcpus[0].vmcs.get('GUEST_INTERRUPTIBILITY_INFO');
    if (n < 2) vm.interrupts.vcpus[0].queueNmi();
  });
  assert.equal(g.stop.reason, 'shutdown');
  assert.deepEqual(g.exits.map((e) => e.reason), [10, 10, 8, 10, 18]);
  assert.equal(blockedInHandler & 8, 8, 'blocking by NMI while the handler runs');
  assert.deepEqual(g.entries, [0x80000202, 0x80000202]);
  assert.deepEqual(log(g.vm), [2, 2]);
  // The window opened at the return address of the first NMI: the IRET went back to the main line.
  assert.equal(g.exits[2].rip, returnEip(g.vm, 2));
  assert.equal(g.vm.vcpus[0].vmcs.get('GUEST_INTERRUPTIBILITY_INFO') & 8, 0, 'IRET ended the blocking');
});

test('NMIs before external interrupts; the interrupt then waits for the NMI handler\'s IRET', () => {
  const g = runWithCpuid(guest('  sti\n  cpuid\n  nop\n  nop\n', [2, 0x41]), (vm) => {
    vm.interrupts.vcpus[0].queueInterrupt(0x41);
    vm.interrupts.vcpus[0].queueNmi();
  });
  assert.deepEqual(log(g.vm), [2, 0x41]);
  assert.deepEqual(g.entries, [0x80000202, 0x80000041]);
  assert.deepEqual(g.exits.map((e) => e.reason), [10, 7, 18]);
});

// --- host interrupts and NMIs ---------------------------------------------------

test('external-interrupt exiting: a host interrupt is exit 1 with the vector acknowledged on exit; the guest never sees it', () => {
  const g = run(guest('  sti\n  nop\n', [0x31]), {}, 10_000, (vm) => vm.vcpus[0].hostInterrupt(0x31));
  assert.equal(g.exits[0].reason, 1);
  assert.equal(g.exits[0].interruptionInfo, 0x80000031);
  assert.equal(g.exits[0].rip, 0x1000, 'at the first instruction boundary');
  assert.deepEqual(log(g.vm), []);
  assert.equal(g.stop.reason, 'shutdown');
});

test('without "acknowledge interrupt on exit" VM_EXIT_INTR_INFO is not valid', () => {
  const g = run(guest('  nop\n', [0x31]), { configure: (v) => v.setControl('exit', 'VM_EXIT_ACK_INTR_ON_EXIT', false) }, 10_000, (vm) => vm.vcpus[0].hostInterrupt(0x31));
  assert.equal(g.exits[0].reason, 1);
  assert.equal(g.exits[0].interruptionInfo, 0);
});

test('without external-interrupt exiting a host interrupt goes through the guest IDT once RFLAGS.IF=1', () => {
  const g = run(guest('  sti\n  nop\n  nop\n', [0x31]), { configure: (v) => v.setControl('pin', 'INTR_EXITING', false) }, 10_000, (vm) => vm.vcpus[0].hostInterrupt(0x31));
  assert.deepEqual(g.exits.map((e) => e.reason), [18]);
  assert.deepEqual(log(g.vm), [0x31]);
});

test('NMI exiting: a host NMI is exit 0 with interruption type 2; without it the guest takes vector 2', () => {
  const on = run(guest('  nop\n', [2]), {}, 10_000, (vm) => vm.vcpus[0].hostNmi());
  assert.deepEqual(on.exits.map((e) => [e.reason, e.interruptionInfo]), [[0, 0x80000202], [18, 0]]);
  assert.deepEqual(log(on.vm), []);
  // Once the guest has an IDT: the host NMI arrives during its CPUID.
  const off = runWithCpuid(guest('  cpuid\n  nop\n', [2]), (vm) => vm.vcpus[0].hostNmi(),
    { configure: (v) => { v.setControl('pin', 'VIRTUAL_NMIS', false); v.setControl('pin', 'NMI_EXITING', false); } });
  assert.deepEqual(off.exits.map((e) => e.reason), [10, 18]);
  assert.deepEqual(log(off.vm), [2]);
});

// --- IDT vectoring ----------------------------------------------------------------

test('an exit during delivery (#NP on a not-present gate) reports IDT vectoring; the interrupt is re-injected and handled once', () => {
  const ref: { vm?: Vm } = {};
  const fixGate: ExitHandler = (vcpu, e) => {
    assert.equal(e.interruptionInfo & 0xff, 11);
    // The VMM makes the gate present instead of reflecting #NP; the interrupted event must still arrive.
    const m = vcpu.cpu.mem;
    m.write8(0x3000 + 0x40 * 8 + 5, m.read8(0x3000 + 0x40 * 8 + 5) | 0x80);
    return { kind: 'resume' };
  };
  const g = run(guest(`  and byte [${0x3000 + 0x40 * 8 + 5}], 0x7f\n  sti\n  nop\n  nop\n`, [0x40]), {
    handlers: { 0: fixGate }, configure: (v) => v.vmcs.set('EXCEPTION_BITMAP', v.vmcs.get('EXCEPTION_BITMAP') | (1 << 11)),
  }, 10_000, (vm) => { ref.vm = vm; vm.interrupts.vcpus[0].queueInterrupt(0x40); });
  assert.equal(g.stop.reason, 'shutdown', g.stop.message);
  assert.deepEqual(g.exits.map((e) => e.reason), [7, 0, 18]);
  assert.equal(g.exits[1].idtVectoringInfo, 0x80000040);
  assert.equal(g.exits[1].interruptionInfo, 0x80000b0b, '#NP with an error code');
  assert.equal(g.exits[1].interruptionErrorCode, 0x40 * 8 + 2 + 1, 'IDT, EXT');
  assert.deepEqual(g.entries, [0x80000040, 0x80000040]);
  assert.deepEqual(log(g.vm), [0x40]);
});

// --- preemption timer and MTF ---------------------------------------------------------

const NOPS = (n: number): string => '  nop\n'.repeat(n);

test('VMX-preemption timer: exit 52 when TSC bit 5 has changed VALUE times since the entry', () => {
  // Entry at TSC 0 with value 3: the count reaches zero at TSC 96, before the 97th instruction.
  const g = runGuest(`${NOPS(200)}${SHUTDOWN}`, (v) => { v.setControl('pin', 'PREEMPTION_TIMER', true); v.vmcs.set('VMX_PREEMPTION_TIMER_VALUE', 3); });
  assert.deepEqual(g.exits.map((e) => [e.reason, e.rip]), [[52, 0x1000 + 96], [18, 0x1000 + 200 + 10]]);
  assert.equal(g.vm.vcpus[0].control('pin', 'PREEMPTION_TIMER'), false, 'the default handler makes it one-shot');
});

test('"save VMX-preemption timer value" stores the remaining count at an exit; without it the timer restarts from the field', () => {
  const src = `${NOPS(40)}  cpuid\n${NOPS(400)}${SHUTDOWN}`;
  // CPUID is instruction 41 (TSC 40 when it exits, 41 after it): one tick (TSC 32) of 10 has passed.
  const saved = runGuest(src, (v) => {
    v.setControl('pin', 'PREEMPTION_TIMER', true); v.setControl('exit', 'VM_EXIT_SAVE_VMX_PREEMPTION_TIMER', true); v.vmcs.set('VMX_PREEMPTION_TIMER_VALUE', 10);
  });
  assert.equal(saved.exits[0].reason, 10);
  // Re-entered at TSC 41 with 9 left: zero when TSC reaches (41 >> 5) + 9 = 10 ticks, TSC 320 = instruction 321 at 0x102A + 279.
  assert.deepEqual(saved.exits.map((e) => [e.reason, e.rip]), [[10, 0x1028], [52, 0x102a + 279], [18, 0x102a + 400 + 10]]);
  assert.equal(saved.vm.vcpus[0].vmcs.get('VMX_PREEMPTION_TIMER_VALUE'), 0);
  const restarted = runGuest(src, (v) => { v.setControl('pin', 'PREEMPTION_TIMER', true); v.vmcs.set('VMX_PREEMPTION_TIMER_VALUE', 10); });
  // Re-entered at TSC 41 with 10: zero at TSC (1 + 10) * 32 = 352.
  assert.deepEqual(restarted.exits.map((e) => [e.reason, e.rip]), [[10, 0x1028], [52, 0x102a + 311], [18, 0x102a + 400 + 10]]);
  assert.equal(restarted.vm.vcpus[0].vmcs.get('VMX_PREEMPTION_TIMER_VALUE'), 10);
});

test('preemption timer value 0: the exit comes before the first instruction', () => {
  const g = runGuest(SHUTDOWN, (v) => v.setControl('pin', 'PREEMPTION_TIMER', true));
  assert.deepEqual(g.exits.map((e) => [e.reason, e.rip]), [[52, 0x1000], [18, 0x100a]]);
});

test('monitor trap flag: exit 37 after every instruction that completes; an instruction that exits gets no MTF exit', () => {
  const g = runGuest(`  nop\n  inc eax\n  cpuid\n  nop\n${SHUTDOWN}`, (v) => v.setControl('primary', 'MONITOR_TRAP_FLAG', true));
  assert.deepEqual(g.exits.map((e) => [e.reason, e.rip]), [
    [37, 0x1001], [37, 0x1002], [10, 0x1002], [37, 0x1005], [37, 0x100a], [37, 0x100f], [18, 0x100f],
  ]);
  assert.ok(g.exits.filter((e) => e.reason === 37).every((e) => e.why.startsWith('monitor trap flag')));
});

test('MTF with an injected event: the MTF exit comes before the handler\'s first instruction', () => {
  const ref: { mtf: boolean } = { mtf: false };
  const g = runWithCpuid(guest('  sti\n  nop\n  cpuid\n  nop\n', [0x30]), (vm) => {
    vm.vcpus[0].inject(0x30, 0);
    vm.vcpus[0].setControl('primary', 'MONITOR_TRAP_FLAG', true);
    ref.mtf = true;
  }, { handlers: { 37: (vcpu) => { vcpu.setControl('primary', 'MONITOR_TRAP_FLAG', false); return { kind: 'resume' }; } } });
  const i = g.exits.findIndex((e) => e.reason === 10);
  assert.equal(g.exits[i + 1].reason, 37);
  assert.equal(g.exits[i + 1].rip, g.vm.machine.cpu.mem.read16(0x3000 + 0x30 * 8) | (g.vm.machine.cpu.mem.read16(0x3000 + 0x30 * 8 + 6) << 16), 'at the handler entry');
  assert.deepEqual(log(g.vm), [0x30]);
});

// --- platform devices ------------------------------------------------------------


test('PIC priority: IRQ 1 is delivered before IRQ 3 although raised after it', () => {
  const g = runWithCpuid(guest(`${PIC_INIT(0xfff5)}  cpuid\n  sti\n  nop\n  nop\n  nop\n`, [0x21, 0x23]), (vm) => {
    const pic = vm.platform?.pic;
    assert.ok(pic);
    pic.raiseIrq(3); pic.lowerIrq(3);
    pic.raiseIrq(1); pic.lowerIrq(1);
  });
  assert.equal(g.stop.reason, 'shutdown');
  assert.deepEqual(log(g.vm), [0x21, 0x23]);
  assert.deepEqual(g.entries, [0x80000021, 0x80000023]);
  assert.equal(g.vm.platform?.pic.registers().isr, 0, 'both handlers sent EOI');
});

test('LAPIC priority classes: 0x51 before 0x35, and 0x35 only after the EOI of 0x51', () => {
  const g = runWithCpuid(guest('  mov dword [0xfee000f0], 0x1ff\n  cpuid\n  sti\n  nop\n  nop\n  nop\n', [0x35, 0x51], { lapicEoi: [0x35, 0x51], handlerBody: { 0x51: '  mov eax, [0xfee000a0]\n  mov [0x5200], eax\n' } }), (vm) => {
    vm.lapics[0].acceptInterrupt(0x35);
    vm.lapics[0].acceptInterrupt(0x51);
  });
  assert.equal(g.stop.reason, 'shutdown', g.stop.message);
  assert.deepEqual(log(g.vm), [0x51, 0x35]);
  assert.equal(g.vm.machine.cpu.mem.read32(0x5200), 0x50, 'PPR read through the APIC page while 0x51 is in service');
  assert.deepEqual(g.vm.lapics[0].state.isr, [0, 0, 0, 0, 0, 0, 0, 0]);
});

/** PIT channel 0 in mode 2 at `count`, IRQ 0 on vector 0x20, HLT until `ticks` ticks, then print and shut down. */
const TIMER_GUEST = (count: number, ticks: number): string => guest(`${PIC_INIT(0xfffe)}  mov al, 0x34
  out 0x43, al
  mov al, ${count & 0xff}
  out 0x40, al
  mov al, ${count >> 8}
  out 0x40, al
  sti
.wait:
  hlt
  cmp dword [${LOG}], ${ticks}
  jb .wait
  cli
  mov dx, 0x3f8
  mov al, 'T'
  out dx, al
  mov dx, 0x501
  mov al, 7
  out dx, al
  hlt`, [0x20]);

test('PIT ticks wake a halted vCPU: HLT exit, idle time, then injection of IRQ 0 each tick; COM1 and the debug-exit port', () => {
  const outputs: string[] = [];
  const vm = createVm({ image: build(TIMER_GUEST(1000, 3)) });
  vm.events.on('output', (o) => outputs.push(`${o.source}:${o.text}`));
  const exits: VmExit[] = [];
  const entries: { rip: number; injected: number }[] = [];
  vm.events.on('exit', (e) => exits.push(e));
  vm.events.on('entry', (e) => entries.push(e));
  const stop = vm.run(10_000_000);
  assert.equal(stop.reason, 'shutdown');
  assert.equal(stop.code, 15, 'debug exit: (7 << 1) | 1');
  assert.match(stop.message, /debug-exit port: the guest wrote 7, exit status 15/);
  assert.deepEqual(log(vm), [0x20, 0x20, 0x20]);
  assert.deepEqual(outputs, ['com1:T']);
  // A tick is 1000 PIT clocks = 83,809 instructions of device time at 100 M instructions/s: the guest mostly idles.
  assert.ok(stop.instructions > 3 * 83_000 && stop.instructions < 4 * 84_000, String(stop.instructions));
  const hlts = exits.filter((e) => e.reason === 12);
  assert.equal(hlts.length, 3, 'one HLT exit per tick');
  // Each tick: the vCPU waits in root mode after its HLT exit; the entry that wakes it injects vector 0x20 at the
  // instruction after HLT. No exit is needed to wake it.
  assert.deepEqual(exits.filter((e) => e.reason !== 30).map((e) => e.reason), [12, 12, 12]);
  const wakes = entries.filter((e) => e.injected !== 0);
  assert.deepEqual(wakes.map((e) => [e.injected, e.rip]), hlts.map((h) => [0x80000020, h.rip + 1]));
  assert.ok(vm.platform !== null && vm.platform.pit.irq0Edges >= 3);
});

test('a halted vCPU with interrupts enabled but no timer running stops the VM; so does CLI; HLT', () => {
  const g = runGuest('  sti\n  hlt\n');
  assert.equal(g.stop.reason, 'hlt');
  assert.match(g.stop.message, /no interrupt pending/);
});

test('LAPIC timer (one-shot) wakes the halted vCPU after its count of bus clocks', () => {
  const src = guest(`  mov dword [0xfee000f0], 0x1ff
  mov dword [0xfee003e0], 0xb
  mov dword [0xfee00320], 0x50
  mov dword [0xfee00380], 5000
  sti
  hlt
  cli`, [0x50], { lapicEoi: [0x50] });
  const g = run(src, {}, 1_000_000);
  assert.equal(g.stop.reason, 'shutdown', g.stop.message);
  assert.deepEqual(log(g.vm), [0x50]);
  assert.deepEqual(g.entries, [0x80000050]);
  assert.ok(g.stop.instructions >= 5000 && g.stop.instructions < 5000 + 100, `the idle time counts: ${g.stop.instructions}`);
});

test('COM1 output comes from the UART with source com1; 0xE9 stays a console port; platform: false keeps the capture-only COM1', () => {
  const src = `  mov dx, 0x3f8\n  mov al, 'a'\n  out dx, al\n  mov al, 'b'\n  out 0xe9, al\n${SHUTDOWN}`;
  const seen: string[] = [];
  const vm = createVm({ image: build(src) });
  vm.events.on('output', (o) => seen.push(`${o.source}:${o.text}`));
  vm.run(100);
  assert.deepEqual(seen, ['com1:a', 'port E9h:b']);
  const bare: string[] = [];
  const vm2 = createVm({ image: build(src), platform: false });
  vm2.events.on('output', (o) => bare.push(`${o.source}:${o.text}`));
  vm2.run(100);
  assert.deepEqual(bare, ['port 3F8h:a', 'port E9h:b']);
  assert.equal(vm2.platform, null);
  assert.deepEqual(vm2.machine.console.com1, [0x61]);
});

// --- determinism and inspection -----------------------------------------------------

test('the same guest and configuration give the same exit trace twice', () => {
  const trace = (): string[] => {
    const vm = createVm({ image: build(TIMER_GUEST(300, 5)) });
    const t: string[] = [];
    vm.events.on('exit', (e) => t.push(`${e.reason}@${e.rip.toString(16)}:${e.interruptionInfo.toString(16)}`));
    vm.events.on('entry', (e) => t.push(`entry ${e.injected.toString(16)}`));
    const s = vm.run(5_000_000);
    t.push(`${s.reason} ${s.instructions}`);
    return t;
  };
  const a = trace();
  assert.ok(a.length > 20);
  assert.deepEqual(trace(), a);
});

test('pendingEvents shows the VMM queue, NMI, PIC and LAPIC registers, the injection field and the armed windows', () => {
  const vm = createVm({ image: build('  cli\n  nop\n  nop\n  hlt\n') });
  const ev = vm.interrupts.vcpus[0];
  ev.queueException(13, 0);
  ev.queueInterrupt(0x44);
  ev.queueNmi();
  vm.platform?.pic.raiseIrq(5);
  vm.lapics[0].write(0xf0, 0x1ff);
  vm.lapics[0].acceptInterrupt(0x61);
  vm.vcpus[0].hostInterrupt(0x33);
  const before = vm.pendingEvents(0);
  assert.deepEqual(before.queue, [
    { type: 3, typeName: 'hardware exception', vector: 13, errorCode: 0, source: 'vmm' },
    { type: 0, typeName: 'external interrupt', vector: 0x44, errorCode: -1, source: 'vmm' },
  ]);
  assert.equal(before.nmiPending, true);
  assert.deepEqual(before.hostInterrupts, [0x33]);
  assert.deepEqual(before.pic, { irr: 0x20, isr: 0, imr: 0, accepted: false });
  assert.deepEqual(before.lapic.irr, [0x61]);
  assert.equal(before.lapic.enabled, true);
  assert.equal(before.injecting, null);
  assert.equal(before.interruptFlag, false);
  // The launch injects the exception; the NMI and the interrupts wait.
  const seen: number[] = [];
  vm.events.on('entry', (e) => seen.push(e.injected));
  vm.run(1);
  assert.equal(seen[0], 0x80000b0d);
  const after = vm.pendingEvents(0);
  assert.deepEqual(after.queue.map((q) => q.vector), [0x44]);
  assert.equal(after.windows.interrupt, true, 'IF=0: interrupt-window exiting is armed');
  assert.deepEqual(JSON.parse(JSON.stringify(after)), after, 'plain data');
});

/** Exits and injecting entries of a run, as text. */
function traceOf(vm: Vm): string[] {
  const t: string[] = [];
  vm.events.on('exit', (e) => t.push(`exit ${e.reason}@${e.rip.toString(16)} ${e.interruptionInfo.toString(16)}`));
  vm.events.on('entry', (e) => { if (e.injected !== 0) t.push(`inject ${e.injected.toString(16)}@${e.rip.toString(16)}`); });
  return t;
}

test('how the instruction budget is split into runs does not change the trace', () => {
  const whole = createVm({ image: build(TIMER_GUEST(300, 4)) });
  const a = traceOf(whole);
  const sa = whole.run(5_000_000);
  const pieces = createVm({ image: build(TIMER_GUEST(300, 4)) });
  const b = traceOf(pieces);
  let total = 0;
  let sb = pieces.run(777);
  total += sb.instructions;
  while (sb.reason === 'limit' || sb.reason === 'hlt') { sb = pieces.run(777); total += sb.instructions; }
  assert.equal(sa.reason, 'shutdown');
  assert.equal(sb.reason, 'shutdown');
  assert.deepEqual(b, a);
  assert.equal(total, sa.instructions);
});

test('a guest halted without HLT exiting is woken by the kick (exit 1) and the injection', () => {
  const vm = createVm({ image: build(TIMER_GUEST(300, 2)), configure: (v) => v.setControl('primary', 'HLT_EXITING', false) });
  const t = traceOf(vm);
  const stop = vm.run(2_000_000);
  assert.equal(stop.reason, 'shutdown');
  assert.deepEqual(log(vm), [0x20, 0x20]);
  // Each tick: exit 1 at the instruction after HLT (the CPU was halted in the guest), then vector 0x20 is injected there.
  const kicks = t.filter((l) => l.startsWith('exit 1@'));
  assert.equal(kicks.length, 2);
  assert.ok(kicks.every((l) => l.endsWith(' 800000ec')));
});

test('without external-interrupt exiting a vCPU blocked after HLT is still woken (it is not in the guest)', () => {
  const vm = createVm({ image: build(TIMER_GUEST(300, 2)), configure: (v) => v.setControl('pin', 'INTR_EXITING', false) });
  const t = traceOf(vm);
  assert.equal(vm.run(2_000_000).reason, 'shutdown');
  assert.deepEqual(log(vm), [0x20, 0x20]);
  assert.ok(!t.some((l) => l.startsWith('exit 1@')));
  assert.equal(t.filter((l) => l.startsWith('inject 80000020')).length, 2);
});

test('a self-IPI through the LAPIC page (ICR, shorthand self) reaches the guest', () => {
  const g = run(guest('  mov dword [0xfee000f0], 0x1ff\n  sti\n  mov dword [0xfee00300], 0x40045\n' + NOPS(20), [0x45], { lapicEoi: [0x45] }), {}, 10_000);
  assert.equal(g.stop.reason, 'shutdown', g.stop.message);
  assert.deepEqual(log(g.vm), [0x45]);
  assert.deepEqual(g.entries, [0x80000045]);
});

test('a breakpoint where a chunk of the run loop starts still stops the VM', () => {
  // Once the PIT counts, device points are every 3 instructions: 5 instructions start it, the chunk after the
  // first NOP (0x100A) ends at 6, and the next one starts at the second NOP (0x100B), a breakpoint.
  const vm = createVm({ image: build(`  mov al, 0x34\n  out 0x43, al\n  mov al, 0x10\n  out 0x40, al\n  out 0x40, al\n${NOPS(20)}${SHUTDOWN}`), eventQuantum: 3 });
  vm.processors[0].engine.breakpoints.add(0x100b);
  const s = vm.run(100);
  assert.equal(s.reason, 'breakpoint');
  assert.equal(s.rip, 0x100b);
  assert.equal(s.instructions, 6);
  // A host interrupt taken at the resume point (exit 1 before any instruction) does not make it stop there again.
  vm.vcpus[0].hostInterrupt(0x30);
  const exits: number[] = [];
  vm.events.on('exit', (e) => exits.push(e.reason));
  assert.equal(vm.run(100).reason, 'shutdown', 'the next run passes the breakpoint it stopped at');
  assert.deepEqual(exits, [1, 18]);
});

test('a whole-VM snapshot taken while the vCPU idles in HLT continues with the same trace', () => {
  const image = build(TIMER_GUEST(300, 4));
  const original = createVm({ image });
  original.run(40_000);
  assert.equal(original.pendingEvents(0).blocked, true, 'halted in root mode, waiting for the second tick');
  const snap = JSON.parse(JSON.stringify(original.snapshot())) as ReturnType<Vm['snapshot']>;
  const copy = createVm({ image });
  copy.restore(snap);
  const a = traceOf(original);
  const b = traceOf(copy);
  const sa = original.run(5_000_000);
  const sb = copy.run(5_000_000);
  assert.equal(sa.reason, 'shutdown');
  assert.deepEqual(b, a);
  assert.deepEqual(sb, sa);
  assert.deepEqual(log(copy), [0x20, 0x20, 0x20, 0x20]);
});

test('a fixed IPI from vCPU 0 to APIC ID 1 wakes halted vCPU 1 and is injected there', () => {
  const src = guest(`  mov dword [0xfee000f0], 0x1ff
  mov eax, 4
  mov ebx, 1
  mov ecx, ap
  mov edx, 0x9000
  vmcall
.wait:
  cmp dword [0x5500], 1
  jne .wait
  mov dword [0xfee00310], 0x01000000
  mov dword [0xfee00300], 0x00046
.spin:
  pause
  jmp .spin
ap:
  lidt [idtr]
  mov dword [0xfee000f0], 0x1ff
  sti
  mov dword [0x5500], 1
.halt:
  hlt
  cmp dword [${LOG}], 1
  jb .halt`, [0x46], { lapicEoi: [0x46] });
  const g = run(src, { vcpus: 2 }, 1_000_000);
  assert.equal(g.stop.reason, 'shutdown', g.stop.message);
  assert.deepEqual(log(g.vm), [0x46]);
  const vcpu1 = g.exits.filter((e) => e.vcpu === 1);
  assert.ok(vcpu1.some((e) => e.reason === 12), 'vCPU 1 halted');
  assert.equal(g.vm.lapics[1].state.isr.every((w) => w === 0), true, 'vCPU 1 sent EOI to its own APIC');
  assert.deepEqual(g.vm.lapics[0].state.irr, [0, 0, 0, 0, 0, 0, 0, 0], 'the sender did not take its own IPI');
});

test('an EPT violation while the injected interrupt pushes its frame: IDT vectoring names it (type 0), and it is re-injected once', () => {
  // The stack moves to a 2 MiB region the on-demand EPT has not mapped yet: the first push of the delivery exits.
  const g = run(guest('  mov esp, 0x300000\n  sti\n  nop\n  nop\n', [0x40]), { memory: { eptMapOnDemand: true } }, 10_000, (vm) => vm.interrupts.vcpus[0].queueInterrupt(0x40));
  assert.equal(g.stop.reason, 'shutdown', g.stop.message);
  const ept = g.exits.filter((e) => e.reason === 48 && e.idtVectoringInfo !== 0);
  assert.equal(ept.length, 1);
  assert.equal(ept[0].idtVectoringInfo, 0x80000040);
  assert.deepEqual(g.entries, [0x80000040, 0x80000040]);
  assert.deepEqual(log(g.vm), [0x40]);
});
