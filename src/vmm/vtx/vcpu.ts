// A virtual CPU in VMX non-root operation: the guest runs on the simulated
// CPU, and the CPU's interception hooks decide, from the execution controls
// in this vCPU's VMCS, whether an operation exits. An exit saves the guest
// state into the VMCS, fills the exit-information fields, hands the exit to
// the root-mode handler (TypeScript) and re-enters: the guest state is loaded
// back from the VMCS and a pending injected event is delivered.

import { CR0_BITS, CR4_BITS, bitName } from '../../x86/cpu/register-bits';
import type { Cpu } from '../../x86/cpu/cpu';
import type { Instr, MemOperand } from '../../x86/decode/instr';
import type { CpuIntercept, ExceptionContext, ExceptionKind, VmxOp } from '../../x86/cpu/intercept';
import { raiseException } from '../../x86/cpu/interrupts';
import { VmExitSignal, type DeliveringEvent } from '../../x86/cpu/fault';
import { writeCr } from '../../x86/cpu/compile-system';
import { Vmcs, EXIT_REASON, type GuestStateHolder, vmcsSlot, encodeCrAccess, encodeDrAccess, encodeIoQualification, encodeInterruptionInfo, exitReason, summarizeExitQualification, EXCEPTION_MNEMONICS, type VmcsFieldName, type ControlSetId } from '../vmx';
import { IoBitmaps, MsrBitmap, hex } from './bitmaps';
import { saveGuestState, loadGuestState, cpuGuestState } from './guest-state';
import { descriptorTableInfo, vmxInstructionInfo, type ExitRequest, type VmExit } from './exit-info';
import { checkVmEntry, type EntryCheckFailure } from './entry-checks';
import { HostMsrView, loadEntryMsrs, loadExitMsrs, storeExitMsrs } from './msr-areas';
import { CTL, PRIMARY_CONTROLS_SLOT, SEC_CONTROLS_MASK, controlRef, type ControlRef } from './control-bits';

/** Vector-numbered exceptions that push an error code (SDM 6.3.1). */
const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17, 21]);


const VMX_EXIT: Readonly<Partial<Record<VmxOp, string>>> = {
  vmcall: 'VMCALL', vmclear: 'VMCLEAR', vmlaunch: 'VMLAUNCH', vmptrld: 'VMPTRLD', vmptrst: 'VMPTRST', vmread: 'VMREAD',
  vmresume: 'VMRESUME', vmwrite: 'VMWRITE', vmxoff: 'VMOFF', vmxon: 'VMON', invept: 'INVEPT', invvpid: 'INVVPID', getsec: 'GETSEC',
};

/** The summary's guest addresses when the exit has none (most exits): no object per exit. */
const NO_ADDRESSES: { gla?: number; gpa?: number } = Object.freeze({});

/** Slots of the fields the exit and entry paths read and write on every exit. */
const F = {
  RIP: vmcsSlot('GUEST_RIP'), INTERRUPTIBILITY: vmcsSlot('GUEST_INTERRUPTIBILITY_INFO'),
  ENTRY_INTR_INFO: vmcsSlot('VM_ENTRY_INTR_INFO_FIELD'), ENTRY_ERROR_CODE: vmcsSlot('VM_ENTRY_EXCEPTION_ERROR_CODE'), ENTRY_INSTRUCTION_LEN: vmcsSlot('VM_ENTRY_INSTRUCTION_LEN'),
  EXIT_REASON: vmcsSlot('VM_EXIT_REASON'), QUALIFICATION: vmcsSlot('EXIT_QUALIFICATION'), EXIT_INSTRUCTION_LEN: vmcsSlot('VM_EXIT_INSTRUCTION_LEN'),
  INSTRUCTION_INFO: vmcsSlot('VMX_INSTRUCTION_INFO'), GLA: vmcsSlot('GUEST_LINEAR_ADDRESS'), GPA: vmcsSlot('GUEST_PHYSICAL_ADDRESS'),
  EXIT_INTR_INFO: vmcsSlot('VM_EXIT_INTR_INFO'), EXIT_INTR_ERROR_CODE: vmcsSlot('VM_EXIT_INTR_ERROR_CODE'),
  IDT_VECTORING_INFO: vmcsSlot('IDT_VECTORING_INFO_FIELD'), IDT_VECTORING_ERROR_CODE: vmcsSlot('IDT_VECTORING_ERROR_CODE'),
  VPID: vmcsSlot('VIRTUAL_PROCESSOR_ID'),
  ENTRY_MSR_LOAD_COUNT: vmcsSlot('VM_ENTRY_MSR_LOAD_COUNT'), EXIT_MSR_STORE_COUNT: vmcsSlot('VM_EXIT_MSR_STORE_COUNT'), EXIT_MSR_LOAD_COUNT: vmcsSlot('VM_EXIT_MSR_LOAD_COUNT'),
} as const;

/** What the root-mode handler decided. */
export type ExitAction =
  /** Re-enter at GUEST_RIP (the handler advanced it or injected an event). */
  | { kind: 'resume' }
  /** Re-enter and let the CPU carry out the instruction with its own semantics (as KVM's emulator would). */
  | { kind: 'emulate' }
  /** Stop the VM after this exit. */
  | { kind: 'stop'; reason: VmStopReason; message: string; code?: number };

export type VmStopReason = 'hlt' | 'shutdown' | 'triple-fault' | 'unhandled-exit' | 'error';

export type ExitSink = (vcpu: Vcpu, exit: VmExit) => ExitAction;

/** Event virtualization plugged into entries and exits (events.ts). */
export interface VcpuEventHooks {
  /** Before the entry checks: choose the event to inject and arm the window controls. */
  beforeEntry(vcpu: Vcpu): void;
  /** After a successful entry and its injection (loads the preemption timer). */
  afterEntry(vcpu: Vcpu): void;
  /** At a VM exit, once the guest state is saved (stores the preemption timer value). */
  atExit(vcpu: Vcpu): void;
  /** When the exit is over (handled and re-entered, or not): decides whether the run loop must look at the vCPU before the next instruction. */
  afterExit(vcpu: Vcpu): void;
}

export class Vcpu {
  readonly vmcs = new Vmcs();
  readonly ioBitmaps = new IoBitmaps();
  readonly msrBitmap = new MsrBitmap();
  /** Root mode's values of the MSRs the VM-exit MSR-load area loads (see msr-areas.ts). */
  readonly hostMsrs = new HostMsrView();
  /** Set when a handler stopped the VM; read by the run loop. */
  stopAction: Extract<ExitAction, { kind: 'stop' }> | null = null;
  private sequence = 0;
  /** Interruption information of the event being injected: the next call of the exception hook comes from it. */
  private injecting: number | null = null;
  /** Pending-event logic (events.ts); null runs the vCPU with injection through VM_ENTRY_INTR_INFO_FIELD only. */
  eventHooks: VcpuEventHooks | null = null;
  /**
   * A handler left the vCPU in root mode waiting for an event (HLT, as KVM's
   * kvm_vcpu_halt): the exit does not re-enter; the run loop enters again when
   * something can be injected (events.ts).
   */
  blocked = false;
  /** Host (physical) interrupts and NMI that arrived while this vCPU was scheduled, taken at the next instruction boundary. */
  readonly hostEvents: { vectors: number[]; nmi: boolean } = { vectors: [], nmi: false };
  /** The event whose delivery the CPU started most recently, to fill IDT-vectoring information. */
  private delivering: { info: number; error: number; icount: number; eip: number; cs: number } | null = null;

  /** The CPU as holder of its own guest state between an instruction exit and the entry after it (Vmcs.hold). */
  private readonly liveState: GuestStateHolder;

  constructor(readonly index: number, readonly cpu: Cpu, private readonly sink: ExitSink, private readonly nextSequence: () => number) {
    this.liveState = cpuGuestState(cpu);
  }

  // --- controls -----------------------------------------------------------

  control(set: ControlSetId, name: string): boolean {
    return this.has(controlRef(set, name));
  }

  /** `control` with the bit resolved beforehand (`controlRef`): exits and entries test several controls each. */
  has(ref: ControlRef): boolean {
    const v = this.vmcs;
    if (ref.secondary && (v.lowAt(PRIMARY_CONTROLS_SLOT) & SEC_CONTROLS_MASK) === 0) return false;
    return (v.lowAt(ref.slot) & ref.mask) !== 0;
  }

  setControl(set: ControlSetId, name: string, on: boolean): void {
    this.setBit(controlRef(set, name), on);
  }

  /** `setControl` with the bit resolved beforehand. */
  setBit(ref: ControlRef, on: boolean): void {
    const v = this.vmcs.getAt(ref.slot);
    this.vmcs.setAt(ref.slot, on ? (v | ref.mask) >>> 0 : (v & ~ref.mask) >>> 0);
  }

  // --- entry and exit -----------------------------------------------------

  /** Why the most recent VM entry failed, or null when it succeeded. */
  entryFailure: EntryCheckFailure | null = null;
  /** `vmcs.changeTakes` right after entry checks that all passed, or -1. */
  private passedAtTake = -1;
  /** `cpu.linGen` after the last successful entry loaded the guest state. */
  private passedLinGen = -1;

  /** With VPIDs the guest's cached translations survive the exit and entry (SDM 29.1). */
  private keepsTlb(): boolean {
    return this.has(CTL.vpid) && this.vmcs.lowAt(F.VPID) !== 0;
  }

  /**
   * Runs the VM-entry checks, then loads the guest state from the VMCS into
   * the CPU and delivers an injected event. Returns false when a check failed:
   * the guest was not entered and the VM is stopped.
   */
  enter(): boolean {
    this.eventHooks?.beforeEntry(this);
    const v = this.vmcs;
    const c = this.cpu;
    const keepTlb = this.keepsTlb();
    // Without VPIDs the entry flushes cached translations: that is loadGuestState's work.
    if (!keepTlb) v.release();
    // The checks are a pure function of the VMCS: when they passed and no field changed since, they pass again.
    // Held guest state is the CPU's own: a VMM write would have released it, and what the guest did itself
    // leaves a state the checks accept unless it changed modes or paging (linGen), which re-runs them.
    if (this.passedAtTake === v.changeTakes && !v.changedSinceTake() && (!v.isHeld || this.passedLinGen === c.linGen)) {
      this.entryFailure = null;
    } else {
      this.entryFailure = checkVmEntry(v);
      this.passedAtTake = this.entryFailure === null ? v.changeTakes : -1;
    }
    if (this.entryFailure === null) {
      // Still held: the CPU has exactly the state the entry would load.
      if (v.isHeld) c.dropPendingDelivery();
      else loadGuestState(c, v, keepTlb);
      this.passedLinGen = c.linGen;
      // SDM 27.4: MSRs are loaded after the guest state and before event injection (an empty list, the usual case, does nothing).
      if (this.vmcs.lowAt(F.ENTRY_MSR_LOAD_COUNT) !== 0) this.entryFailure = loadEntryMsrs(this.cpu, this.vmcs);
    }
    if (this.entryFailure !== null) {
      if (this.entryFailure.exitReason !== undefined) {
        // A failure that exits loads host state, including the VM-exit MSR-load area, but stores no guest MSRs (SDM 27.8).
        const abort = loadExitMsrs(this.cpu, this.vmcs, this.hostMsrs);
        if (abort !== null) this.entryFailure = { ...this.entryFailure, message: `${this.entryFailure.message}; then ${abort.message}` };
      }
      this.failEntry(this.entryFailure);
      return false;
    }
    const injected = this.vmcs.lowAt(F.ENTRY_INTR_INFO);
    this.entered?.(this, (injected & 0x80000000) !== 0 ? injected : 0);
    this.injectPending();
    this.eventHooks?.afterEntry(this);
    return true;
  }

  /**
   * A failed entry. Control or host-state checks: VMfailValid with the error
   * in VM_INSTRUCTION_ERROR, no exit. Guest-state checks: a VM exit that loads
   * no guest state, so only the exit reason (bit 31 set) and qualification are
   * written (SDM 27.8); it is reported as an exit and the VM stops.
   */
  private failEntry(f: EntryCheckFailure): void {
    const v = this.vmcs;
    if (f.instructionError !== undefined) {
      v.setInstructionError(f.instructionError);
    } else {
      const full = f.exitReason ?? 0;
      const reason = full & 0xffff;
      const qualification = f.qualification ?? 0;
      v.set('VM_EXIT_REASON', full);
      v.set('EXIT_QUALIFICATION', qualification);
      this.sequence++;
      this.sink(this, {
        sequence: this.nextSequence(), vcpu: this.index, reason, name: exitReason(reason)?.name ?? `reason ${reason}`,
        rip: v.get('GUEST_RIP'), qualification, summary: summarizeExitQualification(reason, qualification, {}),
        instructionLength: 0, instructionInfo: 0, interruptionInfo: 0, interruptionErrorCode: 0,
        idtVectoringInfo: 0, idtVectoringErrorCode: 0, why: f.explanation,
      });
    }
    this.stopAction = { kind: 'stop', reason: 'error', message: f.message };
    this.cpu.requestStop('error', f.message);
    // Nothing was loaded, but the compiled block that made the exit must end here so that
    // the stop is seen before another guest instruction runs.
    this.cpu.reloadState();
  }

  /** Called on every VM entry with the interruption information being injected (0 if none). */
  entered: ((vcpu: Vcpu, injected: number) => void) | null = null;

  /** Guest state from the CPU into the VMCS (what a VM exit stores). */
  saveState(): void {
    if (!this.vmcs.release()) saveGuestState(this.cpu, this.vmcs);
  }

  /** Advances GUEST_RIP past the exiting instruction and clears STI/MOV SS blocking, as a handler that completed it does. */
  skipInstruction(): void {
    const v = this.vmcs;
    if (v.isHeld) {
      // The same change made where the state is held (GUEST_RIP and the interruptibility bits read from the CPU).
      const c = this.cpu;
      c.eip = (c.eip + v.lowAt(F.EXIT_INSTRUCTION_LEN)) >>> 0;
      c.shadow = false;
      c.ssShadow = false;
      return;
    }
    v.setAt(F.RIP, (v.getAt(F.RIP) + v.getAt(F.EXIT_INSTRUCTION_LEN)) >>> 0);
    v.setAt(F.INTERRUPTIBILITY, v.getAt(F.INTERRUPTIBILITY) & ~3);
  }

  /** Queues an event for the next VM entry through VM_ENTRY_INTR_INFO_FIELD. */
  inject(vector: number, type: number, errorCode = -1, instructionLength = 0): void {
    this.vmcs.setAt(F.ENTRY_INTR_INFO, encodeInterruptionInfo({ vector, type, errorCodeValid: errorCode >= 0 }));
    this.vmcs.setAt(F.ENTRY_ERROR_CODE, errorCode >= 0 ? errorCode : 0);
    this.vmcs.setAt(F.ENTRY_INSTRUCTION_LEN, instructionLength);
  }

  /**
   * A host (physical) interrupt arrives while this vCPU is scheduled. At the
   * next instruction boundary it causes exit 1 when external-interrupt
   * exiting is set (with "acknowledge interrupt on exit" its vector is in
   * VM_EXIT_INTR_INFO), otherwise it goes through the guest's IDT.
   */
  hostInterrupt(vector: number): void {
    this.hostEvents.vectors.push(vector & 0xff);
    if (this.cpu.stopRequest === null) this.cpu.requestStop('limit', 'host interrupt');
  }

  /** A host NMI: exit 0 (interruption type NMI) with NMI exiting, otherwise delivered to the guest. */
  hostNmi(): void {
    this.hostEvents.nmi = true;
    if (this.cpu.stopRequest === null) this.cpu.requestStop('limit', 'host NMI');
  }

  /**
   * Performs a VM exit: saves guest state, writes the exit-information fields,
   * runs the handler and re-enters. Returns the handler's decision; with
   * 'emulate' the hook then lets the CPU carry out the instruction itself.
   */
  exit(req: ExitRequest, atInstruction = false): ExitAction {
    try {
      return this.exitAndEnter(req, atInstruction);
    } finally {
      this.eventHooks?.afterExit(this);
    }
  }

  /**
   * `atInstruction`: the exit comes from an instruction's interception hook,
   * at an instruction boundary with nothing of the instruction done. Then,
   * with VPIDs, the CPU holds the guest state for the VMCS instead of the
   * exit storing it (Vmcs.hold): reading a field reads the CPU, a write
   * stores them all, and an entry that finds them still held loads nothing.
   */
  private exitAndEnter(req: ExitRequest, atInstruction: boolean): ExitAction {
    const c = this.cpu;
    const v = this.vmcs;
    if (atInstruction && this.keepsTlb()) v.hold(this.liveState);
    else this.saveState();
    this.eventHooks?.atExit(this);
    // Every VM exit clears the valid bit of the VM-entry interruption-information field (SDM "Updating Non-Register State").
    v.setU32At(F.ENTRY_INTR_INFO, (v.lowAt(F.ENTRY_INTR_INFO) & 0x7fffffff) >>> 0);
    const qualification = (req.qualification ?? 0) >>> 0;
    const instructionLength = (req.instructionLength ?? 0) >>> 0;
    const instructionInfo = (req.instructionInfo ?? 0) >>> 0;
    const interruptionInfo = (req.interruptionInfo ?? 0) >>> 0;
    const interruptionErrorCode = (req.interruptionErrorCode ?? 0) >>> 0;
    v.setU32At(F.EXIT_REASON, req.reason >>> 0);
    v.setU32At(F.QUALIFICATION, qualification);
    v.setU32At(F.EXIT_INSTRUCTION_LEN, instructionLength);
    v.setU32At(F.INSTRUCTION_INFO, instructionInfo);
    v.setAt(F.GLA, req.guestLinearAddress ?? 0);
    v.setAt(F.GPA, req.guestPhysicalAddress ?? 0);
    v.setU32At(F.EXIT_INTR_INFO, interruptionInfo);
    v.setU32At(F.EXIT_INTR_ERROR_CODE, interruptionErrorCode);
    const d = this.delivering;
    const vectoring = d !== null && d.icount === c.icount && d.eip === (c.eip >>> 0) && d.cs === c.seg[1].selector && req.reason !== EXIT_REASON.TRIPLE_FAULT;
    // An exit raised outside the exception hook (an EPT violation in event delivery) names the event itself.
    const idtVectoringInfo = (req.idtVectoringInfo ?? (vectoring ? d.info : 0)) >>> 0;
    const idtVectoringErrorCode = (req.idtVectoringErrorCode ?? (vectoring ? d.error : 0)) >>> 0;
    v.setU32At(F.IDT_VECTORING_INFO, idtVectoringInfo);
    v.setU32At(F.IDT_VECTORING_ERROR_CODE, idtVectoringErrorCode);
    this.delivering = null;
    // SDM 28.4, 28.6: guest MSRs are stored and host MSRs loaded before root mode runs; a failure is a VMX abort.
    const abort = (v.lowAt(F.EXIT_MSR_STORE_COUNT) === 0 ? null : storeExitMsrs(c, v))
      ?? (v.lowAt(F.EXIT_MSR_LOAD_COUNT) === 0 ? null : loadExitMsrs(c, v, this.hostMsrs));
    if (abort !== null) {
      this.stopAction = { kind: 'stop', reason: 'error', message: abort.message };
      c.requestStop('error', abort.message);
      return this.stopAction;
    }
    const exit: VmExit = {
      sequence: this.nextSequence(),
      vcpu: this.index,
      reason: req.reason,
      name: exitReason(req.reason)?.name ?? `reason ${req.reason}`,
      // Held or saved, GUEST_RIP is the CPU's EIP at this point.
      rip: c.eip >>> 0,
      qualification,
      summary: summarizeExitQualification(req.reason, qualification,
        req.guestLinearAddress === undefined && req.guestPhysicalAddress === undefined ? NO_ADDRESSES : { gla: req.guestLinearAddress, gpa: req.guestPhysicalAddress }),
      instructionLength: v.lowAt(F.EXIT_INSTRUCTION_LEN),
      instructionInfo: v.lowAt(F.INSTRUCTION_INFO),
      guestLinearAddress: req.guestLinearAddress,
      guestPhysicalAddress: req.guestPhysicalAddress,
      interruptionInfo,
      interruptionErrorCode,
      idtVectoringInfo,
      idtVectoringErrorCode,
      why: req.why,
    };
    this.sequence++;
    const action = this.sink(this, exit);
    if (action.kind === 'stop') {
      this.stopAction = action;
      c.requestStop(action.reason === 'hlt' ? 'hlt' : action.reason === 'triple-fault' ? 'triple-fault' : 'shutdown', action.message);
    }
    if (action.kind === 'stop' && action.reason !== 'hlt') {
      // The VM ends here and is never entered again: the CPU shows the guest state the handler left in the
      // VMCS, but no event is injected (re-injecting one whose delivery faults would exit again, without end).
      if (!v.isHeld) loadGuestState(c, v, this.keepsTlb());
      return action;
    }
    if (this.blocked && action.kind === 'resume') {
      // No entry now: the CPU stays halted at the instruction boundary until the run loop enters again.
      c.halted = true;
      c.exitReq = true;
      return action;
    }
    // A failed entry stops the VM: the hooks must not carry out the instruction as 'emulate' would ask.
    if (!this.enter() && this.stopAction !== null) return this.stopAction;
    return action;
  }

  /** Exits the run loop takes between instructions (windows, MTF, timers, host interrupts) interrupt no event delivery. */
  clearDelivery(): void {
    this.delivering = null;
  }

  /** Number of exits this vCPU took. */
  get exitCount(): number { return this.sequence; }

  private injectPending(): void {
    const v = this.vmcs;
    const info = v.lowAt(F.ENTRY_INTR_INFO);
    if ((info & 0x80000000) === 0) return;
    v.setAt(F.ENTRY_INTR_INFO, info & 0x7fffffff);
    const vector = info & 0xff;
    const type = (info >>> 8) & 7;
    const error = (info & 0x800) !== 0 ? v.get('VM_ENTRY_EXCEPTION_ERROR_CODE') : -1;
    const c = this.cpu;
    // External interrupts and NMIs are delivered like a trap (EXT=1, no RF); INT1 (type 5) likewise, past the instruction.
    const kinds: Readonly<Record<number, ExceptionKind>> = { 0: 'trap', 2: 'trap', 3: vector === 1 ? 'trap' : 'fault', 4: 'software', 5: 'trap', 6: 'software-exception' };
    const kind = kinds[type];
    if (kind === undefined) {
      this.stopAction = { kind: 'stop', reason: 'error', message: `injection of interruption type ${type} is not modelled` };
      c.requestStop('error', this.stopAction.message);
      return;
    }
    // Software events are delivered with the return address past the instruction.
    if (type === 4 || type === 5 || type === 6) c.eip = (c.eip + v.get('VM_ENTRY_INSTRUCTION_LEN')) >>> 0;
    this.injecting = info >>> 0;
    const exits = this.sequence;
    try {
      raiseException(c, vector, error, kind);
    } catch (e) {
      // An EPT exit while delivering the injected interrupt or NMI itself: IDT-vectoring information must name its type.
      if (e instanceof VmExitSignal && e.event !== null && e.event.vector === vector && e.event.kind === kind && (type === 0 || type === 2)) {
        e.event = { vector, errorCode: -1, kind: type === 0 ? 'external' : 'nmi' };
      }
      throw e;
    } finally {
      this.injecting = null;
    }
    // A delivered NMI blocks further NMIs (virtual-NMI blocking with "virtual NMIs") until the guest's IRET
    // (SDM 27.6.1.2); one whose delivery caused an exit was not delivered and blocks nothing.
    if (type === 2 && this.sequence === exits) c.nmiBlocked = true;
  }

  // --- the interception hooks ---------------------------------------------

  /** Installs this vCPU's hooks on its CPU. */
  install(): void {
    const simple = (reason: string, why: () => string | undefined): ((c: Cpu, i: Instr, len: number) => boolean) => {
      const code = EXIT_REASON[reason];
      return (_c, _i, len) => this.instructionExit(code, why(), len);
    };
    const hooks: CpuIntercept = {
      cpuid: simple('CPUID', () => 'CPUID always exits in VMX non-root operation'),
      invd: simple('INVD', () => 'INVD always exits in VMX non-root operation'),
      hlt: simple('HLT', () => this.has(CTL.hlt) ? 'HLT exiting (primary control bit 7) is set' : undefined),
      rdpmc: simple('RDPMC', () => this.has(CTL.rdpmc) ? 'RDPMC exiting (primary control bit 11) is set' : undefined),
      wbinvd: simple('WBINVD', () => this.has(CTL.wbinvd) ? 'WBINVD exiting (secondary control bit 6) is set' : undefined),
      monitor: simple('MONITOR_INSTRUCTION', () => this.has(CTL.monitor) ? 'MONITOR exiting (primary control bit 29) is set' : undefined),
      pause: simple('PAUSE_INSTRUCTION', () => this.has(CTL.pause) ? 'PAUSE exiting (primary control bit 30) is set' : undefined),
      xsetbv: simple('XSETBV', () => 'XSETBV always exits in VMX non-root operation'),
      mwait: (_c, _i, len) => {
        if (!this.has(CTL.mwait)) return false;
        // Qualification bit 0 would report an armed monitor; this CPU has no monitor hardware.
        return this.instructionExit(EXIT_REASON.MWAIT_INSTRUCTION, 'MWAIT exiting (primary control bit 10) is set', len);
      },
      rdtsc: (c, _i, len) => {
        if (this.has(CTL.rdtsc)) return this.instructionExit(EXIT_REASON.RDTSC, 'RDTSC exiting (primary control bit 12) is set', len);
        if (!this.has(CTL.tscOffset)) return false;
        if ((c.cr4 & 4) !== 0 && c.cpl !== 0 && (c.cr0 & 1) !== 0) return false; // CR4.TSD: the CPU raises #GP(0)
        const t = this.guestTsc();
        c.r[0] = Number(t & 0xffffffffn); c.r[2] = Number(t >> 32n);
        c.eip = (c.eip + len) >>> 0;
        return true;
      },
      rdtscp: (c, _i, len) => {
        if (!this.has(CTL.rdtscp)) return false; // "enable RDTSCP" clear: the CPU raises #UD
        if (this.has(CTL.rdtsc)) return this.instructionExit(EXIT_REASON.RDTSCP, 'RDTSC exiting (primary control bit 12) is set and RDTSCP is enabled', len);
        const t = this.guestTsc();
        c.r[0] = Number(t & 0xffffffffn); c.r[2] = Number(t >> 32n);
        c.r[1] = Number((c.msrs.read(0xc0000103) ?? 0n) & 0xffffffffn);
        c.eip = (c.eip + len) >>> 0;
        return true;
      },
      invlpg: (_c, _i, len, linear) => {
        if (!this.has(CTL.invlpg)) return false;
        return this.instructionExit(EXIT_REASON.INVLPG, 'INVLPG exiting (primary control bit 9) is set', len, { qualification: linear });
      },
      vmx: (_c, instr, len, op) => {
        const name = VMX_EXIT[op];
        if (name === undefined) return false; // VMFUNC: #UD while "enable VM functions" is clear
        const operands = vmxInstructionInfo(instr, op);
        return this.instructionExit(EXIT_REASON[name], `${op.toUpperCase()} always exits in VMX non-root operation`, len,
          operands === undefined ? {} : { instructionInfo: operands.info, qualification: operands.qualification });
      },
      movToCr: (c, instr, len, cr, reg, value) => this.movToCr(c, instr, len, cr, reg, value),
      movFromCr: (c, _i, len, cr, reg) => this.movFromCr(c, len, cr, reg),
      smsw: (c, instr, len) => {
        const mask = this.vmcs.get('CR0_GUEST_HOST_MASK');
        const op = instr.operands[0];
        if (mask === 0 || op === undefined || (op.kind !== 'reg' && op.kind !== 'mem')) return false;
        const value = ((c.cr0 & ~mask) | (this.vmcs.get('CR0_READ_SHADOW') & mask)) >>> 0;
        // SMSW stores 16 bits to memory; a faulting store raises the fault as the CPU would.
        if (op.kind === 'mem') c.wr16(op.seg, effectiveOffset(c, op), value & 0xffff);
        else if (op.size === 4) c.r[op.reg] = value; else c.r16[op.reg << 1] = value & 0xffff;
        c.eip = (c.eip + len) >>> 0;
        return true;
      },
      movDr: (_c, _i, len, dr, reg, write) => {
        if (!this.has(CTL.movDr)) return false;
        return this.instructionExit(EXIT_REASON.DR_ACCESS, 'MOV-DR exiting (primary control bit 23) is set', len,
          { qualification: encodeDrAccess({ dr, direction: write ? 'mov-to-dr' : 'mov-from-dr', gpr: reg }) });
      },
      io: (c, instr, len, a) => {
        let why: string | undefined;
        if (this.has(CTL.ioBitmaps)) why = this.ioBitmaps.check(a.port, a.size);
        else if (this.has(CTL.uncondIo)) why = 'unconditional I/O exiting (primary control bit 24) is set';
        if (why === undefined) return false;
        const immediate = instr.operands.some((o) => o.kind === 'imm');
        const req: Omit<ExitRequest, 'reason' | 'why'> = {
          qualification: encodeIoQualification({ size: a.size, direction: a.input ? 'in' : 'out', string: a.string, rep: a.rep, immediate, port: a.port }),
        };
        if (a.string) {
          const mem = instr.operands.find((o) => o.kind === 'mem');
          const seg = a.input ? 0 : mem !== undefined && mem.kind === 'mem' ? mem.seg : 3;
          const offset = a.input ? c.r[7] : c.r[6];
          const addr32 = instr.addrSize === 32;
          req.guestLinearAddress = (c.seg[seg].base + (addr32 ? offset >>> 0 : offset & 0xffff)) >>> 0;
          // INS/OUTS instruction information: address size 9:7, segment 17:15.
          req.instructionInfo = ((addr32 ? 1 : 0) << 7) | (seg << 15);
        }
        return this.instructionExit(EXIT_REASON.IO_INSTRUCTION, why, len, req);
      },
      rdmsr: (_c, _i, len, msr) => {
        const why = this.has(CTL.msrBitmaps) ? this.msrBitmap.check(msr, false) : '"use MSR bitmaps" (primary control bit 28) is clear: every RDMSR exits';
        return why !== undefined && this.instructionExit(EXIT_REASON.MSR_READ, why, len);
      },
      wrmsr: (_c, _i, len, msr) => {
        const why = this.has(CTL.msrBitmaps) ? this.msrBitmap.check(msr, true) : '"use MSR bitmaps" (primary control bit 28) is clear: every WRMSR exits';
        return why !== undefined && this.instructionExit(EXIT_REASON.MSR_WRITE, why, len);
      },
      descTable: (_c, instr, len, op) => {
        if (!this.has(CTL.desc)) return false;
        const { info, qualification } = descriptorTableInfo(instr, op);
        const reason = op === 'lgdt' || op === 'lidt' || op === 'sgdt' || op === 'sidt' ? EXIT_REASON.GDTR_IDTR : EXIT_REASON.LDTR_TR;
        return this.instructionExit(reason, 'descriptor-table exiting (secondary control bit 2) is set', len, { instructionInfo: info, qualification });
      },
      exception: (c, vector, errorCode, kind, context) => this.exception(c, vector, errorCode, kind, context),
    };
    // Frozen: the engine then knows the hook set cannot change behind its back (it skips re-checking it on every run).
    this.cpu.intercept = Object.freeze(hooks);
  }

  /** The TSC value the guest reads: the CPU's TSC plus TSC_OFFSET when TSC offsetting is on. */
  guestTsc(): bigint {
    const t = this.cpu.readTsc();
    return this.has(CTL.tscOffset) ? BigInt.asUintN(64, t + BigInt.asIntN(64, this.vmcs.getBig('TSC_OFFSET'))) : t;
  }

  /** An instruction-caused exit, or false (native behaviour) when `why` is undefined. */
  private instructionExit(reason: number, why: string | undefined, length: number, req?: Omit<ExitRequest, 'reason' | 'why'>): boolean {
    if (why === undefined) return false;
    const action = this.exit(req === undefined ? { reason, why, instructionLength: length } : { ...req, reason, why, instructionLength: length }, true);
    return action.kind !== 'emulate';
  }

  private movToCr(c: Cpu, instr: Instr, len: number, cr: number, reg: number, value: number): boolean {
    const v = this.vmcs;
    if (cr === 3) {
      if (!this.has(CTL.cr3Load)) return false;
      const count = Math.min(v.get('CR3_TARGET_COUNT'), 4);
      const targets: VmcsFieldName[] = ['CR3_TARGET_VALUE0', 'CR3_TARGET_VALUE1', 'CR3_TARGET_VALUE2', 'CR3_TARGET_VALUE3'];
      for (let i = 0; i < count; i++) if ((v.get(targets[i]) >>> 0) === (value >>> 0)) return false;
      return this.instructionExit(EXIT_REASON.CR_ACCESS, `CR3-load exiting (primary control bit 15) is set and ${hex(value)} is none of the ${count} CR3-target values`, len,
        { qualification: encodeCrAccess({ cr: 3, accessType: 'mov-to-cr', lmswMemory: false, gpr: reg, lmswSource: 0 }) });
    }
    if (cr !== 0 && cr !== 4) return false;
    const mask = v.get(cr === 0 ? 'CR0_GUEST_HOST_MASK' : 'CR4_GUEST_HOST_MASK') >>> 0;
    const shadow = v.get(cr === 0 ? 'CR0_READ_SHADOW' : 'CR4_READ_SHADOW') >>> 0;
    const names = cr === 0 ? CR0_BITS : CR4_BITS;
    const kind = instr.mnemonic === 'clts' ? 'clts' : reg < 0 ? 'lmsw' : 'mov';
    let changed: number;
    let lmswSource = 0;
    let lmswMemory = false;
    if (kind === 'clts') {
      changed = mask & shadow & 8; // CLTS exits when TS is host-owned and the shadow has TS set
    } else if (kind === 'lmsw') {
      const op = instr.operands[0];
      lmswMemory = op !== undefined && op.kind === 'mem';
      // The CPU has already read a memory operand once, so reading it again cannot fault.
      lmswSource = op === undefined ? value & 0xf : op.kind === 'reg' ? c.r16[op.reg << 1] : op.kind === 'mem' ? c.rd16(op.seg, effectiveOffset(c, op)) : value & 0xf;
      // LMSW exits when it would set an owned PE that the shadow has clear, or change an owned MP/EM/TS.
      changed = (mask & 1 & lmswSource & ~shadow) | (mask & 0xe & (lmswSource ^ shadow));
    } else {
      changed = (mask & (value ^ shadow)) >>> 0;
    }
    if (changed === 0) {
      if (mask === 0) return false;
      // Owned bits keep their current value; the CPU's own checks (#GP) apply to what is written.
      const cur = cr === 0 ? c.cr0 : c.cr4;
      const next = ((value & ~mask) | (cur & mask)) >>> 0;
      if (kind === 'mov') writeCr(c, cr, next);
      else if (kind === 'clts') c.cr0 = (c.cr0 & ~8) >>> 0;
      else c.setCr0(next);
      c.eip = (c.eip + len) >>> 0;
      return true;
    }
    const bits: string[] = [];
    for (let b = 0; b < 32; b++) {
      if (((changed >>> b) & 1) === 0) continue;
      const name = bitName(names, b);
      bits.push(`bit ${b}${name !== undefined ? ` (${name})` : ''}`);
    }
    const what = kind === 'clts' ? 'CLTS clears' : kind === 'lmsw' ? 'LMSW changes' : 'the write changes';
    const why = `CR${cr} guest/host mask owns ${bits.join(', ')}; ${what} it against the read shadow ${hex(shadow)}`;
    const accessType = kind === 'mov' ? 'mov-to-cr' : kind;
    const req: Omit<ExitRequest, 'reason' | 'why'> = {
      qualification: encodeCrAccess({ cr: kind === 'mov' ? cr : 0, accessType, lmswMemory, gpr: kind === 'mov' ? reg : 0, lmswSource }),
    };
    if (lmswMemory) {
      const op = instr.operands[0];
      if (op !== undefined && op.kind === 'mem') req.guestLinearAddress = (c.seg[op.seg].base + effectiveOffset(c, op)) >>> 0;
    }
    return this.instructionExit(EXIT_REASON.CR_ACCESS, why, len, req);
  }

  private movFromCr(c: Cpu, len: number, cr: number, reg: number): boolean {
    const v = this.vmcs;
    if (cr === 3) {
      if (!this.has(CTL.cr3Store)) return false;
      return this.instructionExit(EXIT_REASON.CR_ACCESS, 'CR3-store exiting (primary control bit 16) is set', len,
        { qualification: encodeCrAccess({ cr: 3, accessType: 'mov-from-cr', lmswMemory: false, gpr: reg, lmswSource: 0 }) });
    }
    if (cr !== 0 && cr !== 4) return false;
    const mask = v.get(cr === 0 ? 'CR0_GUEST_HOST_MASK' : 'CR4_GUEST_HOST_MASK') >>> 0;
    if (mask === 0) return false;
    const shadow = v.get(cr === 0 ? 'CR0_READ_SHADOW' : 'CR4_READ_SHADOW') >>> 0;
    // Reads never exit: host-owned bits come from the read shadow.
    c.r[reg] = ((cr === 0 ? c.cr0 : c.cr4) & ~mask) | (shadow & mask);
    c.eip = (c.eip + len) >>> 0;
    return true;
  }

  private exception(c: Cpu, vector: number, errorCode: number, kind: ExceptionKind, context: ExceptionContext): boolean {
    const type = kind === 'software-exception' ? 6 : kind === 'software' ? 4 : 3;
    const info = encodeInterruptionInfo({ vector, type, errorCodeValid: errorCode >= 0 && type === 3 && HAS_ERROR_CODE.has(vector) });
    const record = (): void => {
      this.delivering = { info, error: errorCode >= 0 ? errorCode : 0, icount: c.icount, eip: c.eip >>> 0, cs: c.seg[1].selector };
    };
    if (this.injecting !== null) {
      // The injected event itself: IDT-vectoring information reports it with its own type.
      this.delivering = { info: this.injecting, error: errorCode >= 0 ? errorCode : 0, icount: c.icount, eip: c.eip >>> 0, cs: c.seg[1].selector };
      this.injecting = null;
      return false;
    }
    if (kind === 'software') { record(); return false; } // INT n is not subject to the exception bitmap
    const bitmap = this.vmcs.get('EXCEPTION_BITMAP') >>> 0;
    const bitSet = ((bitmap >>> vector) & 1) !== 0;
    const name = EXCEPTION_MNEMONICS[vector] ?? `vector ${vector}`;
    let why: string | undefined;
    if (vector === 14) {
      const mask = this.vmcs.get('PAGE_FAULT_ERROR_CODE_MASK') >>> 0;
      const match = this.vmcs.get('PAGE_FAULT_ERROR_CODE_MATCH') >>> 0;
      const equal = ((errorCode & mask) >>> 0) === match;
      // SDM 26.2: with bit 14 set a #PF exits when (code AND mask) = match; with it clear, when they differ.
      if (bitSet === equal) {
        why = `exception bitmap bit 14 (#PF) ${bitSet ? 'set' : 'clear'} and error code ${hex(errorCode)} AND mask ${hex(mask)} ${equal ? '=' : '≠'} match ${hex(match)}`;
      }
    } else if (bitSet) {
      why = `exception bitmap bit ${vector} (${name}) set`;
    }
    if (why === undefined) { record(); return false; }
    const software = type === 6;
    // INT3 and INTO are one byte long and report RIP of the instruction; the CPU passed the return address.
    if (software) c.eip = (c.eip - 1) >>> 0;
    // SDM 27.1: the exiting #PF leaves CR2 and the #DB leaves DR6; the qualification carries what they would have received.
    const qualification = vector === 14 ? (context.faultAddress >= 0 ? context.faultAddress : c.cr2) >>> 0
      : vector === 1 ? (context.dr6 & 0x600f) >>> 0 : 0;
    const hasCode = (info & 0x800) !== 0;
    const interruptedLength = this.noteInterrupted(c, context);
    const action = this.exit({
      reason: EXIT_REASON.EXCEPTION_NMI, why, qualification,
      instructionLength: software ? 1 : interruptedLength,
      interruptionInfo: info, interruptionErrorCode: hasCode ? errorCode >>> 0 : 0,
    });
    if (action.kind !== 'emulate') return true;
    // Deliver natively, as if the bitmap had not asked for the exit.
    if (software) c.eip = (c.eip + 1) >>> 0;
    record();
    return false;
  }

  /**
   * Before an exception exit: what IDT-vectoring information will report
   * (SDM 27.2.4). A #DF the processor formed from two exceptions is not an
   * exit during event delivery; a nested exception names the event whose
   * delivery raised it, keeping the type its record has (an injected event's
   * own). Returns the instruction length an interrupted INT n / INT3 / INTO
   * reports (SDM 27.2.5), else 0.
   */
  private noteInterrupted(c: Cpu, context: ExceptionContext): number {
    if (context.formed) { this.delivering = null; return 0; }
    const during = context.during;
    if (during === null) return 0;
    const d = this.delivering;
    let eip = c.eip >>> 0;
    let length = 0;
    if (d !== null && (d.info & 0xff) === during.vector && d.cs === c.seg[1].selector) {
      // A software event was recorded with its return address; the fault put EIP back on the instruction.
      const type = (d.info >>> 8) & 7;
      const back = (d.eip - eip) >>> 0;
      if (type === 4 || type === 5 || type === 6) {
        if (back > 0 && back <= 15) length = back;
        else if (back === 0) {
          // Injected: its delivery ran inside the VM entry, past the instruction; the exit reports the instruction.
          length = this.vmcs.get('VM_ENTRY_INSTRUCTION_LEN') >>> 0;
          eip = c.eip = (eip - length) >>> 0;
        }
      }
      this.delivering = { ...d, icount: c.icount, eip };
    } else {
      this.delivering = { info: vectoringInfo(during), error: during.errorCode >= 0 ? during.errorCode : 0, icount: c.icount, eip, cs: c.seg[1].selector };
    }
    return length;
  }

  /** A triple fault seen by the run loop becomes exit reason 2. */
  tripleFault(message: string): ExitAction {
    return this.exit({ reason: EXIT_REASON.TRIPLE_FAULT, why: message });
  }
}

/** An event the CPU reported as interrupted, in the interruption-information format of IDT-vectoring information. */
function vectoringInfo(e: DeliveringEvent): number {
  const types: Readonly<Record<DeliveringEvent['kind'], number>> = { external: 0, nmi: 2, fault: 3, trap: 3, abort: 3, software: 4, 'software-exception': 6 };
  const type = types[e.kind];
  return encodeInterruptionInfo({ vector: e.vector, type, errorCodeValid: type === 3 && e.errorCode >= 0 && HAS_ERROR_CODE.has(e.vector) });
}

/** Offset of a memory operand, computed as the CPU does (for the guest-linear address of LMSW m16). */
function effectiveOffset(c: Cpu, m: MemOperand): number {
  if (m.addrSize === 16) {
    let off = m.disp;
    if (m.base >= 0) off += c.r16[m.base << 1];
    if (m.index >= 0) off += c.r16[m.index << 1];
    return off & 0xffff;
  }
  let off = m.disp;
  if (m.base >= 0) off += c.r[m.base];
  if (m.index >= 0) off += c.r[m.index] * m.scale;
  return off >>> 0;
}
