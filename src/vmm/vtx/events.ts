// Event virtualization: what the VMM does so that a guest receives
// interrupts, NMIs and exceptions although it never talks to real interrupt
// hardware. Per vCPU a queue of pending events (exceptions to reflect,
// interrupts and NMIs from VMM-level sources) sits next to the virtual
// interrupt controllers (the PIC pair for the BSP, one local APIC per vCPU).
// Before every VM entry the highest-priority event the guest can take is
// written to VM_ENTRY_INTR_INFO_FIELD; one it cannot take yet arms
// interrupt-window or NMI-window exiting instead (SDM Vol. 3C 26.7.5-6,
// 27.6). Between entries the run loop below plays the processor's part at
// instruction boundaries: the monitor trap flag, the VMX-preemption timer,
// the two windows, host interrupts and NMIs (external-interrupt and NMI
// exiting), and the kick that brings a running vCPU back to root mode when a
// virtual device raises an interrupt. Device time advances with retired
// guest instructions, and with idle time while a vCPU is halted.

import type { Cpu } from '../../x86/cpu/cpu';
import type { Engine, StopInfo } from '../../x86/cpu/engine';
import { VmExitSignal } from '../../x86/cpu/fault';
import { ClockDivider, type ClockState } from '../devices/clock';
import type { LocalApic } from '../devices/lapic';
import type { PicPair } from '../devices/pic';
import type { PcPlatform } from '../devices/platform';
import { EXIT_REASON, encodeInterruptionInfo, vmcsSlot } from '../vmx';
import type { ExitRequest } from './exit-info';
import type { Vcpu, VcpuEventHooks } from './vcpu';
import { CTL } from './control-bits';

/** Slots of the VMCS fields every entry reads. */
const F = {
  ACTIVITY: vmcsSlot('GUEST_ACTIVITY_STATE'), INTERRUPTIBILITY: vmcsSlot('GUEST_INTERRUPTIBILITY_INFO'), RFLAGS: vmcsSlot('GUEST_RFLAGS'),
  ENTRY_INTR_INFO: vmcsSlot('VM_ENTRY_INTR_INFO_FIELD'), IDT_VECTORING_INFO: vmcsSlot('IDT_VECTORING_INFO_FIELD'),
} as const;

/** Interruption types of the interruption-information format (SDM 25.8.3). */
export const INTR_TYPE = {
  EXTERNAL_INTERRUPT: 0, NMI: 2, HARDWARE_EXCEPTION: 3, SOFTWARE_INTERRUPT: 4, PRIVILEGED_SOFTWARE_EXCEPTION: 5, SOFTWARE_EXCEPTION: 6,
} as const;
const TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'external interrupt', 2: 'NMI', 3: 'hardware exception', 4: 'software interrupt', 5: 'privileged software exception', 6: 'software exception',
};

/**
 * Vector of the host interrupt the VMM uses to kick a vCPU out of the guest
 * (Linux's LOCAL_TIMER_VECTOR: the host timer whose callback emulates the
 * guest's device timers). It is what "acknowledge interrupt on exit" stores.
 */
export const HOST_TIMER_VECTOR = 0xec;
/** IA32_VMX_MISC bits 4:0 of the modelled processor: the preemption timer ticks when TSC bit 5 changes (every 32 TSC cycles). */
export const PREEMPTION_TIMER_RATE = 5;
/** APIC bus clock: the LAPIC timer's input before its divider (one clock per instruction at the default 100 M instructions/s). */
export const APIC_BUS_HZ = 100_000_000;
/** The message of the 'limit' stop with which `runVcpu` returns for a pause request (Vm.requestPause). */
const PAUSE_STOP = 'pause requested';
/** Instructions run between two looks at device time and pending events while the PIT counts. */
export const DEFAULT_EVENT_QUANTUM = 1000;
/** The same when no device counts time on its own: only exits and the LAPIC timer change device state then. */
const QUIET_QUANTUM = 1_000_000;

const RFLAGS_IF = 0x200;
const RFLAGS_TF = 0x100;
const BLOCKING_BY_STI = 1;
const BLOCKING_BY_MOV_SS = 2;
const BLOCKING_BY_NMI = 8;
const ACTIVITY_ACTIVE = 0;
const ACTIVITY_HLT = 1;
const ACTIVITY_WAIT_FOR_SIPI = 3;
const VALID = 0x80000000;
const LVT_TIMER = 0;
const LVT_LINT0 = 3;
const LVT_MASKED = 1 << 16;

/** An event the VMM holds for a vCPU until it can be injected. */
export interface QueuedEvent {
  /** Interruption type (INTR_TYPE). */
  type: number;
  vector: number;
  /** Error code pushed with a hardware exception, or -1. */
  errorCode: number;
  /** VM_ENTRY_INSTRUCTION_LEN for software interrupts and exceptions. */
  instructionLength: number;
  /** Who queued it: 'vmm', 'reinjection', 'lapic-ipi'… */
  source: string;
}

/** Everything that decides the next event of a vCPU, as plain data for the debugger (docs/vmm-interrupts.md). */
export interface PendingEvents {
  vcpu: number;
  /** The VMM's queue, oldest first; exceptions are injected before NMIs, NMIs before interrupts. */
  queue: { type: number; typeName: string; vector: number; errorCode: number; source: string }[];
  /** A virtual NMI is waiting for injection. */
  nmiPending: boolean;
  /** Host interrupts not yet taken (vcpu.hostInterrupt), and a host NMI. */
  hostInterrupts: number[];
  hostNmi: boolean;
  /** The event in VM_ENTRY_INTR_INFO_FIELD when it is valid (between an exit and the entry that injects it). */
  injecting: { type: number; typeName: string; vector: number; errorCode: number; info: number } | null;
  /** Guest view: RFLAGS.IF, GUEST_INTERRUPTIBILITY_INFO (live from the CPU), activity state. */
  interruptFlag: boolean;
  interruptibility: number;
  activityState: number;
  /** Halted in root mode after a HLT exit, waiting for an event to inject. */
  blocked: boolean;
  /** Controls the VMM armed, and the monitor trap flag. */
  windows: { interrupt: boolean; nmi: boolean; monitorTrap: boolean; mtfPending: boolean };
  /** The VMX-preemption timer: its remaining count while it runs. */
  preemptionTimer: { enabled: boolean; remaining: number | null };
  /** The PIC pair (BSP only): 16-bit IRR/ISR/IMR with the slave in the high byte; accepted: its INT output reaches this vCPU. */
  pic: { irr: number; isr: number; imr: number; accepted: boolean } | null;
  /** This vCPU's local APIC: vectors set in IRR and ISR, TPR, PPR, the timer. */
  lapic: { enabled: boolean; irr: number[]; isr: number[]; tpr: number; ppr: number; timerCurrent: number; timerLvt: number };
}

/** Saved state of one vCPU's event machinery. */
export interface VcpuEventsState {
  queue: QueuedEvent[];
  nmiPending: boolean;
  mtfPending: boolean;
  timer: { base: string; value: number } | null;
  apicClock: ClockState;
  hostInterrupts: number[];
  hostNmi: boolean;
  blocked: boolean;
  idle: number;
  flushedAt: number;
}

function vectorsOf(words: readonly number[]): number[] {
  const out: number[] = [];
  for (let v = 0; v < 256; v++) if ((words[v >> 5] & (1 << (v & 31))) !== 0) out.push(v);
  return out;
}

/** One vCPU's pending events and the hooks its entries and exits call. */
export class VcpuEvents implements VcpuEventHooks {
  readonly queue: QueuedEvent[] = [];
  nmiPending = false;
  /** An entry injected an event with MTF set: an MTF exit comes before the first guest instruction (SDM 26.7.2). */
  mtfPending = false;
  /** An exit happened and its entry has not come yet: IDT-vectoring information is still to be looked at. */
  private exited = false;
  /** The preemption timer as loaded by the last entry: the TSC then and the count. */
  private timer: { base: bigint; value: number } | null = null;
  readonly apicClock: ClockDivider;
  /** Idle instructions this vCPU spent halted (device time that retired nothing). */
  private idle = 0;
  /** This vCPU's device time when devices were last brought up to date. */
  private flushedAt = 0;
  /** The exit being taken is one of the run loop's own (windows, MTF, timers, kicks): it does not move device time. */
  private synthetic = false;
  /** Where this vCPU's share of platform time goes (set by VmInterrupts). */
  platformTime: ((instructions: number) => void) | null = null;
  /** The platform's instructions between device points (set by VmInterrupts). */
  deviceQuantum: (() => number) | null = null;
  /**
   * While the engine runs a chunk: the device point the run loop planned it
   * to, and whether breakpoints are set; -1 when no chunk is running.
   */
  plannedPoint = -1;
  breakpointsArmed = false;
  /** A guest-caused exit is being taken: when it is over, decide whether the run loop must plan again. */
  private replan = false;

  constructor(readonly vcpu: Vcpu, readonly lapic: LocalApic, readonly pic: PicPair | null, instructionsPerSecond: number) {
    this.apicClock = new ClockDivider(APIC_BUS_HZ, instructionsPerSecond);
    lapic.onNmi = () => this.queueNmi();
  }

  // --- device time -----------------------------------------------------------

  /** This vCPU's device time: instructions it retired plus instructions it spent halted. */
  now(): number {
    return this.vcpu.cpu.icount + this.idle;
  }

  /** Time passes while the vCPU is halted: device time and the TSC move on, no instruction retires. */
  spendIdle(n: number): void {
    this.idle += n;
    this.vcpu.cpu.tscOffset += BigInt(n);
  }

  /**
   * Brings the devices up to this vCPU's present: its LAPIC timer, and the
   * platform clock. Called at fixed points of device time and at the exits
   * the guest causes, never where a run budget happened to end, so how a run
   * is split does not change what the guest sees.
   */
  flush(): void {
    const n = this.now() - this.flushedAt;
    if (n <= 0) return;
    this.flushedAt += n;
    this.lapic.advance(this.apicClock.ticksFor(n));
    this.platformTime?.(n);
  }

  /** The next point of device time where devices are brought up to date: a multiple of `quantum`, or sooner when the LAPIC timer fires. */
  devicePoint(quantum: number): number {
    const now = this.now();
    let end = (Math.floor(now / quantum) + 1) * quantum;
    const ls = this.lapic.state;
    if (ls.timerCurrent > 0) {
      const clocks = ls.timerCurrent * this.lapic.timerDivisor - ls.timerRemainder;
      const fires = this.flushedAt + Math.max(1, Math.floor((clocks * this.apicClock.instructionsPerSecond) / APIC_BUS_HZ));
      end = Math.min(end, Math.max(fires, now + 1));
    }
    return end;
  }

  // --- sources -------------------------------------------------------------

  /** An external interrupt for the guest that bypasses the interrupt controllers (delivered before PIC and LAPIC ones). */
  queueInterrupt(vector: number, source = 'vmm'): void {
    this.queue.push({ type: INTR_TYPE.EXTERNAL_INTERRUPT, vector: vector & 0xff, errorCode: -1, instructionLength: 0, source });
    this.nudge();
  }

  /** A virtual NMI (LINT1 programmed as NMI, an NMI IPI, or the VMM itself). */
  queueNmi(): void {
    this.nmiPending = true;
    this.nudge();
  }

  /** An exception to reflect into the guest (hardware exception with an optional error code). */
  queueException(vector: number, errorCode = -1, source = 'vmm'): void {
    this.queue.push({ type: INTR_TYPE.HARDWARE_EXCEPTION, vector: vector & 0xff, errorCode, instructionLength: 0, source });
    this.nudge();
  }

  /** Ends the current run of the engine after this instruction, so the run loop looks at the new event. */
  nudge(): void {
    if (this.vcpu.cpu.stopRequest === null) this.vcpu.cpu.requestStop('limit', 'event for the VMM');
  }

  // --- what can be delivered -----------------------------------------------

  /** The PIC's INT output reaches this vCPU: BSP only, through LINT0 as ExtINT or with the LAPIC software-disabled (as KVM decides). */
  picAccepted(): boolean {
    if (this.pic === null) return false;
    if (!this.lapic.softwareEnabled) return true;
    const lint0 = this.lapic.state.lvt[LVT_LINT0];
    return (lint0 & LVT_MASKED) === 0 && ((lint0 >> 8) & 7) === 7;
  }

  /** The external interrupt to deliver next, without acknowledging it (PIC first, as KVM's kvm_cpu_get_interrupt). */
  private nextInterrupt(): 'queue' | 'pic' | 'lapic' | null {
    if (this.queue.length > 0 && this.queue.some((e) => e.type === INTR_TYPE.EXTERNAL_INTERRUPT)) return 'queue';
    if (this.pic !== null && this.picAccepted() && this.pic.hasInterrupt()) return 'pic';
    if (this.lapic.hasInterrupt()) return 'lapic';
    return null;
  }

  hasInterrupt(): boolean {
    return this.nextInterrupt() !== null;
  }

  /** The INTA cycle for the chosen source: the vector moves to the in-service state of its controller. */
  private acknowledge(source: 'queue' | 'pic' | 'lapic'): { vector: number; source: string } {
    if (source === 'queue') {
      const i = this.queue.findIndex((e) => e.type === INTR_TYPE.EXTERNAL_INTERRUPT);
      const [e] = this.queue.splice(i, 1);
      return { vector: e.vector, source: e.source };
    }
    if (source === 'pic' && this.pic !== null) return { vector: this.pic.acknowledge(), source: 'pic' };
    return { vector: this.lapic.acknowledge(), source: 'lapic' };
  }

  private exceptionIndex(): number {
    if (this.queue.length === 0) return -1;
    return this.queue.findIndex((e) => e.type !== INTR_TYPE.EXTERNAL_INTERRUPT);
  }

  // --- VM entry ----------------------------------------------------------------

  /**
   * KVM's inject_pending_event and enable_irq_window/enable_nmi_window: with
   * nothing in VM_ENTRY_INTR_INFO_FIELD yet, inject a queued exception, else
   * an NMI when the guest is not blocking NMIs, else an external interrupt
   * when RFLAGS.IF=1 and no STI/MOV SS blocking; what stays pending arms the
   * matching window. Runs before the entry checks, on the VMCS guest state.
   */
  beforeEntry(vcpu: Vcpu): void {
    const v = vcpu.vmcs;
    if (this.exited) {
      this.exited = false;
      this.completeInterrupted(vcpu);
    }
    // Most entries have nothing to inject and nothing to arm: tell that from the queues alone, before
    // reading guest state (which may be held by the CPU, RFLAGS costing a flags computation).
    if ((v.lowAt(F.ENTRY_INTR_INFO) & VALID) === 0 && this.queue.length === 0 && !this.nmiPending && this.nextInterrupt() === null) return;
    const activity = v.getAt(F.ACTIVITY);
    if (activity === ACTIVITY_WAIT_FOR_SIPI) return;
    const intr = v.getAt(F.INTERRUPTIBILITY);
    const intrOpen = (v.getAt(F.RFLAGS) & RFLAGS_IF) !== 0 && (intr & (BLOCKING_BY_STI | BLOCKING_BY_MOV_SS)) === 0;
    const nmiOpen = (intr & (BLOCKING_BY_STI | BLOCKING_BY_MOV_SS | BLOCKING_BY_NMI)) === 0;
    let injected = false;
    if ((v.getAt(F.ENTRY_INTR_INFO) & VALID) === 0) {
      const ex = this.exceptionIndex();
      if (ex >= 0) {
        const [e] = this.queue.splice(ex, 1);
        vcpu.inject(e.vector, e.type, e.errorCode, e.instructionLength);
        injected = true;
      } else if (this.nmiPending && nmiOpen) {
        this.nmiPending = false;
        vcpu.inject(2, INTR_TYPE.NMI);
        injected = true;
      } else {
        const source = this.nextInterrupt();
        if (source !== null && intrOpen) {
          vcpu.inject(this.acknowledge(source).vector, INTR_TYPE.EXTERNAL_INTERRUPT);
          injected = true;
        }
      }
    }
    // Injecting an interrupt or NMI wakes a halted guest; the VMM wakes it for an exception too.
    if (injected && activity === ACTIVITY_HLT) v.setAt(F.ACTIVITY, ACTIVITY_ACTIVE);
    // Whoever put the event there (a handler or the queue), MTF exits before the handler's first instruction.
    if ((v.getAt(F.ENTRY_INTR_INFO) & VALID) !== 0 && vcpu.has(CTL.mtf)) this.mtfPending = true;
    if (this.nmiPending && vcpu.has(CTL.virtualNmis)) vcpu.setBit(CTL.nmiWindow, true);
    if (this.hasInterrupt()) vcpu.setBit(CTL.intrWindow, true);
    // Exceptions need no window: a further queued one is taken at the next boundary (a kick).
    if (this.exceptionIndex() >= 0) this.nudge();
  }

  /**
   * KVM's vmx_complete_interrupts: an exit that interrupted the delivery of
   * an event (IDT_VECTORING_INFO_FIELD valid) did not deliver it, so it is
   * injected again, with its error code and, for software events, the
   * instruction length. If the handler injected an event of its own, an
   * interrupted external interrupt or NMI goes back to the queue instead (an
   * interrupted exception is dropped: the handler's event replaces it).
   */
  private completeInterrupted(vcpu: Vcpu): void {
    const v = vcpu.vmcs;
    const info = v.lowAt(F.IDT_VECTORING_INFO);
    if ((info & VALID) === 0) return;
    const vector = info & 0xff;
    const type = (info >>> 8) & 7;
    if ((v.getAt(F.ENTRY_INTR_INFO) & VALID) === 0) {
      const error = (info & 0x800) !== 0 ? v.get('IDT_VECTORING_ERROR_CODE') : -1;
      const software = type === INTR_TYPE.SOFTWARE_INTERRUPT || type === INTR_TYPE.PRIVILEGED_SOFTWARE_EXCEPTION || type === INTR_TYPE.SOFTWARE_EXCEPTION;
      vcpu.inject(vector, type, error, software ? v.get('VM_EXIT_INSTRUCTION_LEN') : 0);
    } else if (type === INTR_TYPE.EXTERNAL_INTERRUPT) {
      this.queue.unshift({ type, vector, errorCode: -1, instructionLength: 0, source: 'reinjection' });
    } else if (type === INTR_TYPE.NMI) {
      this.nmiPending = true;
    }
  }

  /** After a successful entry: load the preemption timer, and make the run loop look at the vCPU at the next boundary when it must. */
  afterEntry(vcpu: Vcpu): void {
    this.timer = vcpu.has(CTL.preemptionTimer) ? { base: vcpu.cpu.readTsc(), value: vcpu.vmcs.get('VMX_PREEMPTION_TIMER_VALUE') >>> 0 } : null;
    if (this.timer !== null || this.mtfPending || vcpu.has(CTL.mtf)
      || vcpu.has(CTL.intrWindow) || vcpu.has(CTL.nmiWindow)) this.nudge();
  }

  /** At a VM exit: device time catches up (the handler may read a device); "save VMX-preemption timer value" stores the remaining count. */
  atExit(vcpu: Vcpu): void {
    if (!this.synthetic) {
      this.flush();
      this.replan = true;
    }
    const left = this.timerRemaining();
    if (left !== null && vcpu.has(CTL.savePreemptionTimer)) vcpu.vmcs.set('VMX_PREEMPTION_TIMER_VALUE', left);
    this.timer = null;
    this.mtfPending = false;
    this.exited = true;
  }

  /**
   * The exit is over. The handler may have started or stopped a timer, made
   * the vCPU wait, or left an event pending, so normally the run loop plans
   * its next chunk afresh (a nudge ends the engine's run). When nothing the
   * plan depends on changed, the engine keeps running the chunk it was given:
   * that is what the new plan would be, and most exits (CPUID, port I/O to a
   * device without timers) are that kind.
   */
  afterExit(vcpu: Vcpu): void {
    if (this.replan) {
      this.replan = false;
      if (!this.planStands(vcpu)) this.nudge();
    } else if (!this.synthetic) {
      // An exit nested in another one's entry: the outer one cannot tell what changed.
      this.nudge();
    }
  }

  /** Would the run loop, looking at the vCPU now, plan the chunk the engine is running? */
  private planStands(vcpu: Vcpu): boolean {
    const c = vcpu.cpu;
    // Already stopping (afterEntry or a device asked for a look): nothing to add.
    if (c.stopRequest !== null) return true;
    if (this.plannedPoint < 0 || this.breakpointsArmed || this.deviceQuantum === null) return false;
    // States the run loop or the engine's careful path handle between instructions: shadows, single-step, debug registers, halting.
    if (vcpu.blocked || vcpu.stopAction !== null || c.halted || c.shadow || c.ssShadow || (c.flags & RFLAGS_TF) !== 0 || c.dbPending !== 0 || c.debugActive) return false;
    const host = vcpu.hostEvents;
    if (host.nmi || host.vectors.length > 0) return false;
    if (this.devicePoint(this.deviceQuantum()) !== this.plannedPoint) return false;
    // A kick the run loop would give at the next boundary (windows, timers and MTF were nudged by afterEntry).
    return !(vcpu.has(CTL.intrExiting) && this.entryWouldAct());
  }

  // --- the VMX-preemption timer -------------------------------------------------

  /** Remaining count: the loaded value less the times TSC bit X changed since the entry (SDM 26.5.1). */
  timerRemaining(): number | null {
    if (this.timer === null) return null;
    const x = BigInt(PREEMPTION_TIMER_RATE);
    const ticks = (this.vcpu.cpu.readTsc() >> x) - (this.timer.base >> x);
    return Math.max(0, this.timer.value - Number(ticks));
  }

  /** TSC cycles (instructions) until the timer reaches zero, or Infinity when it is not running. */
  timerDistance(): number {
    if (this.timer === null) return Infinity;
    const x = BigInt(PREEMPTION_TIMER_RATE);
    const deadline = ((this.timer.base >> x) + BigInt(this.timer.value)) << x;
    const d = deadline - this.vcpu.cpu.readTsc();
    return d <= 0n ? 0 : Number(d);
  }

  // --- instruction boundaries -------------------------------------------------------

  /** Can a guest interrupt or NMI be delivered at this boundary (live CPU state)? */
  private interruptOpen(): boolean {
    const c = this.vcpu.cpu;
    return (c.flags & RFLAGS_IF) !== 0 && !c.shadow;
  }
  private nmiOpen(): boolean {
    const c = this.vcpu.cpu;
    return !c.shadow && !c.nmiBlocked;
  }

  /** Would a VM entry now inject something or arm a window that is not armed yet? Then a kick is worth an exit. */
  entryWouldAct(): boolean {
    const vc = this.vcpu;
    if (this.exceptionIndex() >= 0) return true;
    if (this.nmiPending && (this.nmiOpen() || (vc.has(CTL.virtualNmis) && !vc.has(CTL.nmiWindow)))) return true;
    return this.hasInterrupt() && (this.interruptOpen() || !vc.has(CTL.intrWindow));
  }

  /**
   * The VM exits due at this instruction boundary, in the SDM's priority
   * order: a pending MTF exit, the preemption timer, NMI window, a host NMI,
   * interrupt window, a host interrupt, then the VMM's own kick. Takes at
   * most one; returns true if it did.
   */
  boundaryExit(): boolean {
    const vc = this.vcpu;
    const c = vc.cpu;
    const exit = (req: ExitRequest): true => {
      this.boundaryExitNow(req);
      return true;
    };
    if (this.mtfPending) {
      this.mtfPending = false;
      return exit({ reason: EXIT_REASON.MONITOR_TRAP_FLAG, why: 'monitor trap flag (primary control bit 27) is set and the entry injected an event: the exit comes before the handler\'s first instruction' });
    }
    if (this.timer !== null && this.timerDistance() === 0) {
      return exit({ reason: EXIT_REASON.PREEMPTION_TIMER, why: `the VMX-preemption timer (pin control bit 6) counted ${this.timer.value} down to zero (one tick per ${1 << PREEMPTION_TIMER_RATE} TSC cycles)` });
    }
    if (vc.has(CTL.nmiWindow) && this.nmiOpen()) {
      return exit({ reason: EXIT_REASON.NMI_WINDOW, why: 'NMI-window exiting (primary control bit 22) is set and the guest no longer blocks NMIs' });
    }
    const host = vc.hostEvents;
    if (host.nmi) {
      host.nmi = false;
      if (vc.has(CTL.nmiExiting)) {
        return exit({ reason: EXIT_REASON.EXCEPTION_NMI, why: 'a host NMI arrived and NMI exiting (pin control bit 3) is set', interruptionInfo: encodeInterruptionInfo({ vector: 2, type: INTR_TYPE.NMI, errorCodeValid: false }) });
      }
      c.requestNmi(); // without NMI exiting the NMI goes through the guest IDT
    }
    if (vc.has(CTL.intrWindow) && this.interruptOpen()) {
      return exit({ reason: EXIT_REASON.INTERRUPT_WINDOW, why: 'interrupt-window exiting (primary control bit 2) is set and the guest has RFLAGS.IF=1 with no STI or MOV SS blocking' });
    }
    const intrExiting = vc.has(CTL.intrExiting);
    const ack = vc.has(CTL.ackIntrOnExit);
    const external = (vector: number, why: string): true =>
      exit({ reason: EXIT_REASON.EXTERNAL_INTERRUPT, why, interruptionInfo: ack ? encodeInterruptionInfo({ vector, type: INTR_TYPE.EXTERNAL_INTERRUPT, errorCodeValid: false }) : 0 });
    if (host.vectors.length > 0) {
      const vector = host.vectors.shift() as number;
      if (intrExiting) return external(vector, `host interrupt ${hexByte(vector)} arrived and external-interrupt exiting (pin control bit 0) is set${ack ? '; acknowledged on exit' : ''}`);
      c.requestInterrupt(vector); // delivered through the guest IDT when RFLAGS.IF allows
    }
    if (intrExiting && this.entryWouldAct()) {
      return external(HOST_TIMER_VECTOR, `the VMM kicks vCPU ${vc.index} with host interrupt ${hexByte(HOST_TIMER_VECTOR)}: a virtual event is pending (external-interrupt exiting is set)`);
    }
    return false;
  }

  /** A VM exit the run loop takes between instructions: it interrupts no event delivery and does not move device time. */
  boundaryExitNow(req: ExitRequest): void {
    this.vcpu.clearDelivery();
    this.synthetic = true;
    try {
      this.vcpu.exit(req);
    } finally {
      this.synthetic = false;
    }
  }

  // --- inspection and snapshots -------------------------------------------------------

  pending(): PendingEvents {
    const vc = this.vcpu;
    const v = vc.vmcs;
    const c = vc.cpu;
    const info = v.get('VM_ENTRY_INTR_INFO_FIELD') >>> 0;
    const ls = this.lapic.state;
    const type = (info >>> 8) & 7;
    return {
      vcpu: vc.index,
      queue: this.queue.map((e) => ({ type: e.type, typeName: TYPE_NAMES[e.type] ?? `type ${e.type}`, vector: e.vector, errorCode: e.errorCode, source: e.source })),
      nmiPending: this.nmiPending,
      hostInterrupts: [...vc.hostEvents.vectors],
      hostNmi: vc.hostEvents.nmi,
      injecting: (info & VALID) === 0 ? null : {
        type, typeName: TYPE_NAMES[type] ?? `type ${type}`, vector: info & 0xff,
        errorCode: (info & 0x800) !== 0 ? v.get('VM_ENTRY_EXCEPTION_ERROR_CODE') : -1, info,
      },
      interruptFlag: (c.flags & RFLAGS_IF) !== 0,
      interruptibility: (c.shadow ? (c.ssShadow ? BLOCKING_BY_MOV_SS : BLOCKING_BY_STI) : 0) | (c.nmiBlocked ? BLOCKING_BY_NMI : 0),
      activityState: c.halted ? ACTIVITY_HLT : v.get('GUEST_ACTIVITY_STATE') === ACTIVITY_WAIT_FOR_SIPI ? ACTIVITY_WAIT_FOR_SIPI : ACTIVITY_ACTIVE,
      blocked: vc.blocked,
      windows: {
        interrupt: vc.control('primary', 'INTR_WINDOW_EXITING'), nmi: vc.control('primary', 'NMI_WINDOW_EXITING'),
        monitorTrap: vc.control('primary', 'MONITOR_TRAP_FLAG'), mtfPending: this.mtfPending,
      },
      preemptionTimer: { enabled: vc.control('pin', 'PREEMPTION_TIMER'), remaining: this.timerRemaining() },
      pic: this.pic === null ? null : { ...this.pic.registers(), accepted: this.picAccepted() },
      lapic: {
        enabled: this.lapic.softwareEnabled, irr: vectorsOf(ls.irr), isr: vectorsOf(ls.isr), tpr: ls.tpr, ppr: this.lapic.ppr(),
        timerCurrent: ls.timerCurrent, timerLvt: ls.lvt[LVT_TIMER],
      },
    };
  }

  snapshot(): VcpuEventsState {
    return {
      queue: this.queue.map((e) => ({ ...e })), nmiPending: this.nmiPending, mtfPending: this.mtfPending,
      timer: this.timer === null ? null : { base: this.timer.base.toString(), value: this.timer.value },
      apicClock: this.apicClock.snapshot(), hostInterrupts: [...this.vcpu.hostEvents.vectors], hostNmi: this.vcpu.hostEvents.nmi,
      blocked: this.vcpu.blocked, idle: this.idle, flushedAt: this.flushedAt,
    };
  }

  restore(s: VcpuEventsState): void {
    this.queue.splice(0, this.queue.length, ...s.queue.map((e) => ({ ...e })));
    this.nmiPending = s.nmiPending;
    this.mtfPending = s.mtfPending;
    this.timer = s.timer === null ? null : { base: BigInt(s.timer.base), value: s.timer.value };
    this.apicClock.restore(s.apicClock);
    this.vcpu.hostEvents.vectors.splice(0, this.vcpu.hostEvents.vectors.length, ...s.hostInterrupts);
    this.vcpu.hostEvents.nmi = s.hostNmi;
    this.vcpu.blocked = s.blocked;
    this.idle = s.idle;
    this.flushedAt = s.flushedAt;
  }
}

function hexByte(v: number): string {
  return `0x${v.toString(16).padStart(2, '0').toUpperCase()}`;
}

/**
 * The VM-wide side: the platform devices, per-vCPU event state, device time,
 * and the run loop that executes a vCPU in chunks between instruction
 * boundaries where events are looked at.
 */
export class VmInterrupts {
  readonly vcpus: VcpuEvents[] = [];
  /** The vCPU running now (devices that write to "the" CPU, like the LAPIC page and the debug-exit port, mean this one). */
  current: Vcpu | null = null;
  /** Instructions between two looks at events when nothing needs a closer look. */
  readonly quantum: number;

  constructor(readonly platform: PcPlatform | null, quantum = DEFAULT_EVENT_QUANTUM) {
    if (!Number.isInteger(quantum) || quantum < 1) throw new RangeError(`eventQuantum must be a positive integer (got ${quantum})`);
    this.quantum = quantum;
  }

  /**
   * Instructions between device points: `quantum` while the PIT counts (its
   * interrupts come from device time alone), else a long stretch, since every
   * other device event happens at an exit or at a LAPIC timer point anyway.
   */
  deviceQuantum(): number {
    const p = this.platform;
    return p !== null && p.pit.channel(0).loadTick >= 0 ? this.quantum : QUIET_QUANTUM;
  }

  /** Adds a vCPU's event state; its device time feeds the platform clock. */
  add(e: VcpuEvents): void {
    e.platformTime = (n) => this.platform?.advance(n);
    e.deviceQuantum = () => this.deviceQuantum();
    this.vcpus.push(e);
    this.pauses.push(null);
  }

  // --- pause requests ---------------------------------------------------------

  /** Pause requests not yet taken, by vCPU index (the reason given), and how many there are. */
  private readonly pauses: (string | null)[] = [];
  private pauseCount = 0;

  /**
   * Asks the run loop to stop at vCPU `index`'s next instruction boundary
   * (Vm.requestPause). A request while one is pending for the same vCPU
   * adds nothing. The nudge ends the engine's current chunk, whichever vCPU
   * it runs, so the run returns at the next boundary rather than at the end
   * of a slot.
   */
  requestPause(index: number, reason: string): void {
    if (this.pauses[index] === null) {
      this.pauses[index] = reason;
      this.pauseCount++;
    }
    this.vcpus[index].nudge();
    const running = this.current;
    if (running !== null && running.index !== index) this.vcpus[running.index].nudge();
  }

  get pausePending(): boolean {
    return this.pauseCount > 0;
  }

  /** The reason of vCPU `index`'s pending pause, or null. */
  pauseOf(index: number): string | null {
    return this.pauses[index] ?? null;
  }

  /** Takes the pending pause of vCPU `index`, or by default of the lowest-numbered vCPU that has one. */
  takePause(index = this.pauses.findIndex((p) => p !== null)): { vcpu: number; reason: string } | null {
    const reason = this.pauses[index] ?? null;
    if (reason === null) return null;
    this.pauses[index] = null;
    this.pauseCount--;
    return { vcpu: index, reason };
  }

  /** Drops every pending pause (the VM ended, or a snapshot was restored). */
  clearPauses(): void {
    this.pauses.fill(null);
    this.pauseCount = 0;
  }
  /**
   * Something can still wake halted vCPU `i`: an NMI, a queued exception,
   * the preemption timer, a host interrupt under external-interrupt
   * exiting, or (with RFLAGS.IF=1) a pending interrupt or a running timer
   * that will raise one.
   */
  canWake(i: number): boolean {
    const e = this.vcpus[i];
    const vc = e.vcpu;
    const c = vc.cpu;
    if (vc.hostEvents.nmi || (e.nmiPending && !c.nmiBlocked) || c.nmiPending) return true;
    if (e.timerRemaining() !== null || e.queue.some((q) => q.type !== INTR_TYPE.EXTERNAL_INTERRUPT)) return true;
    if (vc.hostEvents.vectors.length > 0 && vc.has(CTL.intrExiting)) return true;
    if ((c.flags & RFLAGS_IF) === 0) return false;
    if (vc.hostEvents.vectors.length > 0 || c.irqQueue.length > 0 || e.hasInterrupt()) return true;
    const ls = e.lapic.state;
    if (e.lapic.softwareEnabled && ls.timerCurrent > 0 && (ls.lvt[LVT_TIMER] & LVT_MASKED) === 0) return true;
    const p = this.platform;
    if (p !== null && e.picAccepted()) {
      const ch0 = p.pit.channel(0);
      if (ch0.loadTick >= 0 && (p.pic.registers().imr & 1) === 0) return true;
    }
    return false;
  }

  /**
   * Runs vCPU `vcpu` on `engine` for up to `budget` instructions (idle time
   * of a halted vCPU counts against the budget and is included in the
   * result's `instructions`). Stops early at any stop that is not a spent
   * budget; a halted vCPU that nothing can wake returns a 'hlt' stop. A
   * pending pause request (of any vCPU) ends it at the next boundary with a
   * 'limit' stop whose message is PAUSE_STOP.
   *
   * Chunks end at device points (`devicePoint`), where devices catch up and
   * pending events are looked at, and sooner where an exit is due at an exact
   * instruction (preemption timer, MTF and armed windows: one instruction at a
   * time). A budget that ends inside a chunk leaves the devices alone; the
   * next run continues to the same point.
   */
  runVcpu(vcpu: Vcpu, engine: Engine, budget: number): StopInfo {
    const i = vcpu.index;
    const e = this.vcpus[i];
    const c = vcpu.cpu;
    const start = c.eip >>> 0;
    const startCs = c.seg[1].selector;
    this.current = vcpu;
    let used = 0;
    let first = true;
    const stopHere = (reason: StopInfo['reason'], message: string): StopInfo => ({ reason, message, instructions: used, eip: c.eip >>> 0, cs: c.seg[1].selector });
    for (;;) {
      try {
        const r = this.step(vcpu, e, engine, budget - used, first, start, startCs);
        used += r.used;
        // Until a guest instruction has run, the resume point may still pass its breakpoint.
        if (r.ran) first = false;
        if (r.stop !== null) {
          const message = r.stop.reason === 'limit' && r.stop.message === 'instruction limit reached' ? `instruction limit ${budget} reached` : r.stop.message;
          return { ...r.stop, message, instructions: used };
        }
      } catch (err) {
        // An entry made here (a wake-up, an exit between instructions) hit an EPT violation while injecting: the VMM's memory code takes it.
        if (err instanceof VmExitSignal) return { ...stopHere('vmexit', err.message), vmexit: err };
        throw err;
      }
    }
  }

  /**
   * One pass of `runVcpu`: the events at this boundary, then one chunk of
   * guest instructions or idle time. Returns the instructions spent and the
   * stop to report, if any.
   */
  private step(vcpu: Vcpu, e: VcpuEvents, engine: Engine, budget: number, first: boolean, start: number, startCs: number): { used: number; stop: StopInfo | null; ran: boolean } {
    const i = vcpu.index;
    const c = vcpu.cpu;
    let ran = false;
    const go = (used: number): { used: number; stop: null; ran: boolean } => ({ used, stop: null, ran });
    const stop = (used: number, s: Omit<StopInfo, 'instructions'>): { used: number; stop: StopInfo; ran: boolean } => ({ used, stop: { ...s, instructions: 0 }, ran });
    const here = (reason: StopInfo['reason'], message: string): Omit<StopInfo, 'instructions'> => ({ reason, message, eip: c.eip >>> 0, cs: c.seg[1].selector });
    if (vcpu.stopAction !== null) return stop(0, stopFromAction(vcpu));
    // A stop requested outside the engine (a triple fault while an entry injected) would be dropped by its next run.
    const pending = c.stopRequest;
    c.stopRequest = null;
    if (pending !== null && pending.reason !== 'limit') return stop(0, here(pending.reason, pending.message));
    // A pause (requestPause) is taken at the first boundary after the exit and entry that asked for it: before
    // any exit due at this boundary, with an injected event already delivered. A pause of another vCPU ends this run too.
    if (this.pauseCount > 0) return stop(0, here('limit', PAUSE_STOP));
    const point = e.devicePoint(this.deviceQuantum());
    if (vcpu.blocked) {
      // Halted in root mode: enter again as soon as the entry has an event to inject.
      if (e.entryWouldAct() || vcpu.hostEvents.nmi) {
        vcpu.blocked = false;
        vcpu.enter();
        return go(0);
      }
      if (!this.canWake(i)) return stop(0, here('hlt', `vCPU ${i} halted and nothing can wake it`));
      if (budget <= 0) return stop(0, here('limit', 'instruction limit reached'));
      return go(this.idleUntil(e, point, point, budget));
    }
    if (e.boundaryExit()) return go(0);
    if (budget <= 0) return stop(0, here('limit', 'instruction limit reached'));
    // The engine does not stop at a breakpoint at the start of its run; only the resume point may pass one.
    if (!(first && (c.eip >>> 0) === start && c.seg[1].selector === startCs) && engine.breakpoints.has((c.seg[1].base + c.eip) >>> 0)) {
      return stop(0, here('breakpoint', `breakpoint at 0x${((c.seg[1].base + c.eip) >>> 0).toString(16)}`));
    }
    const mtf = vcpu.has(CTL.mtf);
    // An armed window must be seen at the first boundary where it opens: one instruction at a time until then.
    const closeLook = mtf || vcpu.has(CTL.intrWindow) || vcpu.has(CTL.nmiWindow);
    const chunk = Math.max(1, Math.min(budget, closeLook ? 1 : point - e.now(), e.timerDistance()));
    const exitsBefore = vcpu.exitCount;
    e.plannedPoint = point;
    e.breakpointsArmed = engine.breakpoints.size > 0;
    let s: StopInfo;
    try {
      s = engine.run(chunk);
    } finally {
      e.plannedPoint = -1;
    }
    // A debugger watch ends the engine's run as a breakpoint; when its listener asked for a pause instead, the
    // boundary after the instruction is handled as any other (an MTF exit is still due) and the pause taken at the next.
    if (s.reason === 'breakpoint' && this.pauseCount > 0) s = { ...s, reason: 'limit' };
    let used = s.instructions;
    ran = used > 0;
    if (stopRequestOf(c)?.reason === 'limit') c.stopRequest = null; // a nudge after the engine stopped
    if (e.now() >= point) e.flush();
    if (vcpu.stopAction !== null) return stop(used, stopFromAction(vcpu));
    if (s.reason === 'hlt') {
      // A 'hlt' stop of a CPU that is not halted was requested by someone else (a yield): theirs to handle.
      if (!c.halted || !this.canWake(i)) return stop(used, s);
      // Halted in the guest (HLT exiting off): time passes until a timer or an event can wake it.
      const devices = e.devicePoint(this.deviceQuantum());
      if (used < budget) used += this.idleUntil(e, Math.min(devices, e.now() + e.timerDistance()), devices, budget - used);
      return go(used);
    }
    if (s.reason !== 'limit') return stop(used, s);
    // MTF: an exit after every instruction that completed in the guest (one that caused an exit did not).
    if (mtf && s.instructions === 1 && vcpu.exitCount === exitsBefore && vcpu.has(CTL.mtf)) {
      e.boundaryExitNow({ reason: EXIT_REASON.MONITOR_TRAP_FLAG, why: 'monitor trap flag (primary control bit 27) is set: one guest instruction completed' });
    }
    return go(used);
  }

  /** Idles vCPU `e` towards device time `until`, at most `max` instructions; devices catch up at `devicePoint`. Returns the idle time. */
  private idleUntil(e: VcpuEvents, until: number, devicePoint: number, max: number): number {
    const n = Math.max(1, Math.min(until - e.now(), max));
    e.spendIdle(n);
    if (e.now() >= devicePoint) e.flush();
    return n;
  }
}

// Read through a call: the engine and hooks set it behind the type checker's back.
const stopRequestOf = (c: Cpu): Cpu['stopRequest'] => c.stopRequest;

function stopFromAction(vcpu: Vcpu): StopInfo {
  const a = vcpu.stopAction;
  const c = vcpu.cpu;
  c.stopRequest = null;
  return { reason: a?.reason === 'hlt' ? 'hlt' : a?.reason === 'triple-fault' ? 'triple-fault' : a?.reason === 'error' ? 'error' : 'shutdown', message: a?.message ?? '', instructions: 0, eip: c.eip >>> 0, cs: c.seg[1].selector };
}
