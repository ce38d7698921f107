// The Interrupts scope: what decides the vCPU's next event — the VMM's
// pending-injection queue, the windows it armed, the interruption fields of
// the VMCS, the PIC pair and this vCPU's local APIC.
import type { Vm } from '../../vmm/vtx/index';
import type { PicChipState } from '../../vmm/devices/pic';
import { APIC_VERSION } from '../../vmm/devices/lapic';
import { fieldByName } from '../../vmm/vmx/fields';
import { decodeInterruptibility, activityStateName } from '../../vmm/vmx/guest-state';
import type { FormatOptions, VarNode } from './node';
import { fieldNodes, type BitField } from './bits';
import { fmtNum, group, leaf, vectorList, yesNo } from './format';
import { fieldNode } from './vmcs';

const LVT_NAMES = ['timer', 'thermal', 'performance counter', 'LINT0', 'LINT1', 'error'];
const DELIVERY_MODES = { 0: 'fixed', 1: 'lowest priority', 2: 'SMI', 4: 'NMI', 5: 'INIT', 6: 'start-up', 7: 'ExtINT' };
const TIMER_MODES = { 0: 'one-shot', 1: 'periodic', 2: 'TSC-deadline' };

function lvtFields(index: number): BitField[] {
  const f: BitField[] = [{ name: 'vector', lsb: 0, width: 8 }];
  if (index !== 0 && index !== 5) f.push({ name: 'delivery mode', lsb: 8, width: 3, values: DELIVERY_MODES });
  f.push({ name: 'delivery status', lsb: 12, values: { 0: 'idle', 1: 'send pending' }, access: 'read-only' });
  if (index === 3 || index === 4) {
    f.push({ name: 'polarity', lsb: 13, values: { 0: 'active high', 1: 'active low' } });
    f.push({ name: 'remote IRR', lsb: 14, access: 'read-only' });
    f.push({ name: 'trigger mode', lsb: 15, values: { 0: 'edge', 1: 'level' } });
  }
  f.push({ name: 'mask', lsb: 16, values: { 0: 'unmasked', 1: 'masked' } });
  if (index === 0) f.push({ name: 'timer mode', lsb: 17, width: 2, values: TIMER_MODES });
  return f;
}

const IRQ_BITS: readonly BitField[] = Array.from({ length: 8 }, (_, i): BitField => ({ name: `IR${i}`, lsb: i, access: 'read-only' }));

function irqList(v: number, base: number): string {
  const out: string[] = [];
  for (let i = 0; i < 8; i++) if ((v >> i) & 1) out.push(`IRQ${base + i}`);
  return out.length === 0 ? 'none' : out.join(', ');
}

function picChip(name: string, s: PicChipState, irqBase: number, fmt: FormatOptions): VarNode {
  const reg = (label: string, v: number, what: string): VarNode => ({
    ...leaf(label, `${fmtNum(v, 8, fmt)} (${irqList(v, irqBase)})`, { type: what }),
    children: () => fieldNodes(v, IRQ_BITS, fmt),
  });
  return group(name, `IRR ${fmtNum(s.irr, 8, fmt)} ISR ${fmtNum(s.isr, 8, fmt)} IMR ${fmtNum(s.imr, 8, fmt)}${s.initStep !== 0 ? `, waiting for ICW${s.initStep}` : ''}`, () => [
    reg('IRR', s.irr, 'interrupt request register'),
    reg('ISR', s.isr, 'in-service register'),
    reg('IMR', s.imr, 'interrupt mask register (OCW1)'),
    leaf('vector base', fmtNum(s.vectorBase, 8, fmt), { type: 'ICW2: IR0 vector' }),
    leaf('ICW1', fmtNum(s.icw1, 8, fmt), { type: `${(s.icw1 & 8) ? 'level' : 'edge'} triggered, ${(s.icw1 & 2) ? 'single' : 'cascade'}, ${(s.icw1 & 1) ? 'ICW4 needed' : 'no ICW4'}` }),
    leaf('ICW3', fmtNum(s.icw3, 8, fmt), { type: irqBase === 0 ? 'slave lines (bit mask)' : 'slave ID' }),
    leaf('ICW4', fmtNum(s.icw4, 8, fmt), { type: `${(s.icw4 & 1) ? '8086 mode' : 'MCS-80 mode'}${(s.icw4 & 2) ? ', auto EOI' : ''}${(s.icw4 & 0x10) ? ', special fully nested' : ''}` }),
    leaf('initialization', s.initStep === 0 ? 'done' : `waiting for ICW${s.initStep}`),
    leaf('lowest priority IR', String((s.priorityAdd + 7) & 7)),
    leaf('ELCR', `${fmtNum(s.elcr, 8, fmt)} (level-triggered: ${irqList(s.elcr, irqBase)})`),
    leaf('input lines', `${fmtNum(s.lines, 8, fmt)} (${irqList(s.lines, irqBase)})`),
    leaf('read register', s.readIsr ? 'ISR' : 'IRR', { type: 'OCW3 RR/RIS' }),
    leaf('poll / special mask / rotate on AEOI', `${yesNo(s.poll)} / ${yesNo(s.specialMask)} / ${yesNo(s.rotateOnAutoEoi)}`),
  ]);
}

function lapicNode(vm: Vm, vcpuIndex: number, fmt: FormatOptions): VarNode | null {
  const apic = vm.lapics[vcpuIndex];
  if (apic === undefined) return null;
  const s = apic.state;
  const vectors = (words: readonly number[]): number[] => {
    const out: number[] = [];
    for (let v = 0; v < 256; v++) if ((words[v >> 5] >>> (v & 31)) & 1) out.push(v);
    return out;
  };
  const divisors = [2, 4, 8, 16, 32, 64, 128, 1];
  const divisor = divisors[((s.divide >> 1) & 4) | (s.divide & 3)];
  return group('Local APIC', `ID ${s.id}, ${apic.softwareEnabled ? 'enabled' : 'software-disabled'}, TPR ${fmtNum(s.tpr, 8, fmt)}, PPR ${fmtNum(apic.ppr(), 8, fmt)}, IRR ${vectorList(vectors(s.irr), fmt)}`, () => [
    leaf('ID', String(s.id)),
    leaf('version', fmtNum(APIC_VERSION, 32, fmt)),
    leaf('TPR', fmtNum(s.tpr, 8, fmt), { type: `task priority class ${s.tpr >> 4}` }),
    leaf('PPR', fmtNum(apic.ppr(), 8, fmt), { type: 'processor priority' }),
    leaf('SVR', fmtNum(s.svr, 32, fmt), { type: `spurious vector ${fmtNum(s.svr & 0xff, 8, fmt)}, APIC ${apic.softwareEnabled ? 'software-enabled' : 'software-disabled'}` }),
    leaf('LDR / DFR', `${fmtNum(s.ldr, 32, fmt)} / ${fmtNum(s.dfr, 32, fmt)}`),
    leaf('IRR', vectorList(vectors(s.irr), fmt), { type: 'requested vectors' }),
    leaf('ISR', vectorList(vectors(s.isr), fmt), { type: 'vectors in service' }),
    leaf('TMR', vectorList(vectors(s.tmr), fmt), { type: 'level-triggered vectors' }),
    leaf('ESR', fmtNum(s.esr, 32, fmt)),
    leaf('ICR', `${fmtNum(s.icrHigh, 32, fmt)}:${fmtNum(s.icrLow, 32, fmt)}`),
    group('LVT', `${s.lvt.length} entries`, () => s.lvt.map((v, i) => ({
      ...leaf(LVT_NAMES[i] ?? `LVT ${i}`, `${fmtNum(v, 32, fmt)}${(v & 0x10000) ? ' (masked)' : ` vector ${fmtNum(v & 0xff, 8, fmt)}`}`),
      children: () => fieldNodes(v, lvtFields(i), fmt),
    }))),
    group('timer', `initial ${fmtNum(s.timerInitial, 32, fmt)}, current ${fmtNum(s.timerCurrent, 32, fmt)}, divide by ${divisor}`, () => [
      leaf('initial count', fmtNum(s.timerInitial, 32, fmt)),
      leaf('current count', fmtNum(s.timerCurrent, 32, fmt)),
      leaf('divide configuration', `${fmtNum(s.divide, 8, fmt)} (divide by ${divisor})`),
      leaf('mode', TIMER_MODES[((s.lvt[0] >>> 17) & 3) as 0 | 1 | 2] ?? 'reserved'),
    ]),
  ]);
}

export function interruptNodes(vm: Vm, vcpuIndex: number, fmt: FormatOptions): VarNode[] {
  const vcpu = vm.vcpus[vcpuIndex];
  if (vcpu === undefined) throw new RangeError(`no vCPU ${vcpuIndex}`);
  const p = vm.pendingEvents(vcpuIndex);
  const out: VarNode[] = [];
  out.push(group('Pending events', `${p.queue.length} queued${p.nmiPending ? ', NMI pending' : ''}${p.injecting ? `, injecting ${p.injecting.typeName} ${fmtNum(p.injecting.vector, 8, fmt)}` : ''}`, () => [
    group('queue', p.queue.length === 0 ? 'empty' : `${p.queue.length} events, oldest first`, () => p.queue.map((e, i) => leaf(`[${i}]`,
      `${e.typeName} vector ${fmtNum(e.vector, 8, fmt)}${e.errorCode >= 0 ? ` error code ${fmtNum(e.errorCode, 32, fmt)}` : ''}`, { type: `queued by ${e.source}` }))),
    leaf('virtual NMI pending', yesNo(p.nmiPending)),
    leaf('host interrupts', vectorList(p.hostInterrupts, fmt), { type: 'host (physical) interrupts not yet taken' }),
    leaf('host NMI', yesNo(p.hostNmi)),
    leaf('injecting', p.injecting === null ? 'nothing (VM_ENTRY_INTR_INFO_FIELD not valid)' : `${p.injecting.typeName} vector ${fmtNum(p.injecting.vector, 8, fmt)}${p.injecting.errorCode >= 0 ? ` error code ${fmtNum(p.injecting.errorCode, 32, fmt)}` : ''}`),
    leaf('RFLAGS.IF', yesNo(p.interruptFlag)),
    leaf('interruptibility', `${fmtNum(p.interruptibility, 32, fmt)} (${decodeInterruptibility(p.interruptibility).summary})`),
    leaf('activity state', `${p.activityState} (${activityStateName(p.activityState)})`),
    leaf('blocked in root mode', yesNo(p.blocked), { type: 'halted after a HLT exit, waiting for an event' }),
    group('windows', [p.windows.interrupt ? 'interrupt' : '', p.windows.nmi ? 'NMI' : '', p.windows.monitorTrap ? 'MTF' : ''].filter((x) => x).join(', ') || 'none armed', () => [
      leaf('interrupt-window exiting', yesNo(p.windows.interrupt), { type: 'primary control bit 2' }),
      leaf('NMI-window exiting', yesNo(p.windows.nmi), { type: 'primary control bit 22' }),
      leaf('monitor trap flag', yesNo(p.windows.monitorTrap), { type: 'primary control bit 27' }),
      leaf('MTF exit pending', yesNo(p.windows.mtfPending)),
    ]),
    leaf('preemption timer', p.preemptionTimer.enabled ? `running, ${p.preemptionTimer.remaining ?? '?'} left` : 'off'),
  ]));
  for (const name of ['VM_ENTRY_INTR_INFO_FIELD', 'IDT_VECTORING_INFO_FIELD', 'VM_EXIT_INTR_INFO'] as const) {
    const f = fieldByName(name);
    if (f !== undefined) out.push(fieldNode(vm, vcpuIndex, f, fmt));
  }
  const pic = vm.platform?.pic;
  if (pic !== undefined) {
    out.push(group('PIC', `${p.pic?.accepted === false ? 'output does not reach this vCPU' : 'master and slave 8259A'}`, () => [
      picChip('master (0x20)', pic.master.s, 0, fmt),
      picChip('slave (0xA0)', pic.slave.s, 8, fmt),
    ]));
  }
  const apic = lapicNode(vm, vcpuIndex, fmt);
  if (apic !== null) out.push(apic);
  return out;
}
