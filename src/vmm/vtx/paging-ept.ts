// EPT mode: the VMM's extended page tables under every vCPU, and the two
// exits they cause. An EPT violation (48) on RAM maps the region from its
// slot (2 MiB when the slot and host memory allow, else 4 KiB) and restarts
// the instruction; on an MMIO slot the instruction is emulated; anywhere
// else, or a write to ROM, stops the VM with a report. An EPT
// misconfiguration (49) always stops the VM: this VMM never builds one.

import type { StopInfo } from '../../x86/machine';
import { EPTQ, installEpt, permString, type Ept, type EptExit, type InstalledEpt, type MmioSlot, type RamSlot } from '../memory';
import type { DeliveringEvent } from '../../x86/cpu/fault';
import { EXIT_REASON, encodeInterruptionInfo } from '../vmx';
import type { VmExit } from './exit-info';
import type { ExitHandler } from './handlers';
import { emulateMmio } from './mmio';
import { hex, type VmMemory } from './paging-memory';
import type { ExitAction, Vcpu } from './vcpu';

const PAGE = 0x1000;
const LARGE = 0x200000;
const RESUME: ExitAction = { kind: 'resume' };

/** The access an EPT-violation qualification describes, in words. */
export function eptAccessText(q: number): string {
  const paging = (q & EPTQ.GVA_VALID) !== 0 && (q & EPTQ.GVA_TRANSLATED) === 0;
  if (paging) {
    // A guest paging-structure access: a read, an accessed/dirty update (a write), or with EPT A/D both.
    const read = (q & EPTQ.READ) !== 0, write = (q & EPTQ.WRITE) !== 0;
    return read && write ? 'paging-structure access (EPT A/D: read and write)' : write ? 'paging-structure write (accessed/dirty update)' : 'paging-structure read';
  }
  return (q & EPTQ.FETCH) !== 0 ? 'instruction fetch' : (q & EPTQ.WRITE) !== 0 ? 'write' : 'read';
}

function exitWhy(x: EptExit): string {
  if (x.walk.outcome === 'misconfig') return `EPT misconfiguration at GPA ${hex(x.gpa)}: ${x.walk.reason}`;
  const last = x.walk.steps[x.walk.steps.length - 1];
  const rights = x.walk.outcome === 'violation' ? (x.qualification >>> 3) & 7 : 7;
  const what = x.walk.outcome === 'violation' && x.walk.notPresent ? `the EPT ${last.name} for it is not present` : `the EPT allows only ${permString(rights)}`;
  return `guest ${eptAccessText(x.qualification)} of GPA ${hex(x.gpa)} (linear ${hex(x.guestLinear)}): ${what}`;
}

/** Interruption types (SDM 25.8.3) of the events the CPU reports as being delivered. */
const EVENT_TYPE: Readonly<Record<DeliveringEvent['kind'], number>> = { external: 0, nmi: 2, fault: 3, trap: 3, abort: 3, software: 4, 'software-exception': 6 };

/** IDT-vectoring information of an EPT exit that interrupted the delivery of an event (SDM 28.2.4). */
function vectoringOf(event: DeliveringEvent | null): { idtVectoringInfo: number; idtVectoringErrorCode: number } {
  if (event === null) return { idtVectoringInfo: 0, idtVectoringErrorCode: 0 };
  const type = EVENT_TYPE[event.kind];
  const withCode = type === 3 && event.errorCode >= 0;
  return { idtVectoringInfo: encodeInterruptionInfo({ vector: event.vector, type, errorCodeValid: withCode }), idtVectoringErrorCode: withCode ? event.errorCode >>> 0 : 0 };
}

export class EptPaging {
  /** Regions mapped by EPT violations, in order. */
  readonly onDemand: { gpa: number; size: number }[] = [];
  private readonly installed: (InstalledEpt | null)[] = [];

  constructor(private readonly vm: VmMemory, readonly tables: Ept, readonly mapOnDemand: boolean) {
    if (!mapOnDemand) for (const s of vm.slots.list()) if (s.kind === 'ram') tables.map(s.gpa, s.hpa, s.size, s.readOnly ? 'r-x' : 'rwx');
  }

  setupVcpu(vcpu: Vcpu): void {
    // CR3-load/-store exiting stay as the default controls have them (default1 bits); with EPT a
    // configuration may clear them, as KVM does, and the guest then owns CR3.
    vcpu.setControl('secondary', 'EPT', true);
    vcpu.vmcs.set('EPT_POINTER', this.tables.eptp);
  }

  finishVcpu(vcpu: Vcpu): void {
    // A configuration that turned "enable EPT" off runs with GPA = HPA, as the processor would.
    this.installed[vcpu.index] = vcpu.control('secondary', 'EPT') ? installEpt(vcpu.cpu, this.tables) : null;
  }

  unmapMmio(slot: MmioSlot): void {
    this.tables.unmap(slot.gpa, slot.size);
    this.flushAll();
  }

  handlers(): Partial<Record<number, ExitHandler>> {
    return {
      [EXIT_REASON.EPT_VIOLATION]: (vcpu, e) => this.violation(vcpu, e),
      [EXIT_REASON.EPT_MISCONFIG]: (_vcpu, e) => ({ kind: 'stop', reason: 'error', message: `${e.why} (RIP ${hex(e.rip)})` }),
    };
  }

  /** Turns the CPU's 'vmexit' stop into exit 48 or 49 through the vCPU's normal exit path. */
  vmexitStop(vcpu: Vcpu, s: StopInfo): ExitAction | null {
    const x = this.installed[vcpu.index]?.exitFromStop(s) ?? null;
    if (x === null) return null;
    const linearValid = x.exitReason === 48 && (x.qualification & EPTQ.GVA_VALID) !== 0;
    const action = vcpu.exit({
      reason: x.exitReason, why: exitWhy(x), qualification: x.qualification,
      guestPhysicalAddress: x.gpa, ...(linearValid ? { guestLinearAddress: x.guestLinear } : {}),
      // SDM: the VM-exit instruction length is undefined for EPT exits; this VMM reports 0.
      instructionLength: 0,
      ...vectoringOf(x.event),
    });
    return action.kind === 'emulate' ? RESUME : action;
  }

  private violation(vcpu: Vcpu, e: VmExit): ExitAction {
    const gpa = e.guestPhysicalAddress ?? 0;
    const q = e.qualification;
    const where = `${eptAccessText(q)} of GPA ${hex(gpa)}${(q & EPTQ.GVA_VALID) !== 0 ? ` (linear ${hex(e.guestLinearAddress ?? 0)})` : ''} at RIP ${hex(e.rip)}`;
    const r = this.vm.slots.resolve(gpa);
    if (r.kind === 'unmapped') return { kind: 'stop', reason: 'error', message: `EPT violation: guest ${where} is outside every memory slot` };
    if (r.kind === 'mmio') {
      const device = this.vm.devices.get(r.slot.name);
      if (device === undefined) return { kind: 'stop', reason: 'error', message: `EPT violation: guest ${where} is in MMIO slot "${r.slot.name}", which has no device` };
      return emulateMmio(this.vm, vcpu, { gpa, slot: r.slot, offset: r.offset, device });
    }
    const write = (q & EPTQ.WRITE) !== 0 && (q & EPTQ.READ) === 0;
    if (write && r.slot.readOnly) return { kind: 'stop', reason: 'error', message: `EPT violation: guest ${where} writes ROM slot "${r.slot.name}"` };
    this.mapRegion(r.slot, gpa);
    return RESUME;
  }

  /** Maps the 2 MiB region around gpa when it lies in the slot with 2 MiB-aligned host memory, else its 4 KiB page. */
  private mapRegion(slot: RamSlot, gpa: number): void {
    const perms = slot.readOnly ? 'r-x' : 'rwx';
    const base = gpa - (gpa % LARGE);
    const fits = base >= slot.gpa && base + LARGE <= slot.gpa + slot.size && (slot.hpa + base - slot.gpa) % LARGE === 0;
    const start = fits ? base : gpa - (gpa % PAGE);
    const size = fits ? LARGE : PAGE;
    this.tables.map(start, slot.hpa + (start - slot.gpa), size, perms);
    this.onDemand.push({ gpa: start, size });
    this.vm.counters.eptOnDemandMaps++;
    this.vm.counters.eptOnDemandBytes += size;
    this.flushAll();
  }

  /** The INVEPT of this model: every processor drops its cached translations. */
  private flushAll(): void {
    this.vm.machine.cpu.flushTlb();
    for (const p of this.vm.machine.processors) p.cpu.flushTlb();
  }
}
