// A virtual machine under a software technique (trap-and-emulate, binary
// translation, paravirtualization): one vCPU, no VMX. The guest kernel runs
// deprivileged on the simulated CPU; every exception comes to the VMM first
// (the CPU's exception hook stands for the VMM's real IDT), which emulates,
// fills shadow entries, answers hypercalls, or reflects the event into the
// guest. Devices are the PC platform's, reached through emulated I/O.
// docs/techniques.md.

import { Machine, type StopInfo } from '../../x86/machine';
import { CS, SS, type Cpu } from '../../x86/cpu/cpu';
import { ATTR_UNUSABLE } from '../../x86/cpu/segment';
import type { Engine } from '../../x86/cpu/engine';
import type { CpuIntercept, ExceptionContext, ExceptionKind } from '../../x86/cpu/intercept';
import { decode } from '../../x86/decode/index';
import type { Instr } from '../../x86/decode/instr';
import { EXC_NAMES } from '../../x86/cpu/fault';
import { PcPlatform } from '../devices/platform';
import { HostAllocator } from '../memory';
import { Emitter } from '../vtx/emitter';
import { NO_SEGMENT, PV_SELECTORS, REAL_GDT_LINEAR, syncGdt, writePvGdt } from './descriptors';
import { deliverTo, hasErrorCode, idtTarget, type DeliveryHost, type DeliveryProblem, type EventTarget } from './deliver';
import { applyFlags, emulate, type EmulateResult, type EmulationHost } from './emulate';
import { GuestMemory } from './guest-memory';
import { holeHooks, type HoleEvent } from './holes';
import { SoftShadow } from './shadow';
import { SoftStats, type SoftCostTable } from './stats';
import { initialVirtualCpu, type VirtualCpuState } from './vcpu-state';
import { Translator } from './translator';
import { Paravirt } from './paravirt';

export type SoftTechnique = 'trap-and-emulate' | 'binary-translation' | 'paravirt';
export const SOFT_TECHNIQUES: readonly SoftTechnique[] = ['trap-and-emulate', 'binary-translation', 'paravirt'];

/** The ring the guest kernel really runs in (docs/techniques.md, "Kernel in ring 3"). */
export type SoftKernelRing = 1 | 3;
export const SOFT_KERNEL_RINGS: readonly SoftKernelRing[] = [1, 3];

export interface SoftVmOptions {
  technique: SoftTechnique;
  image: Uint8Array;
  /** Load and start address (flat 32-bit protected mode, as the VT-x VM's flat32 mode). Default 0x1000. */
  org?: number;
  /** Guest RAM in bytes (default 16 MiB). */
  memorySize?: number;
  /** Guest instructions per second of device time (default 100 million, as the VT-x VM). */
  instructionsPerSecond?: number;
  /** Instructions between two looks at device time and pending interrupts (default 1000). */
  eventQuantum?: number;
  costs?: Partial<SoftCostTable>;
  /**
   * The ring the guest kernel runs in (default 1). 3: kernel and user task
   * share ring 3; the VMM tracks the virtual CPL and keeps a shadow root per
   * privilege. trap-and-emulate and binary-translation only (paravirt's ABI is ring 1).
   */
  kernelRing?: SoftKernelRing;
  /** The isa-debug-exit port (default: attached at 0x501, as the VT-x VM's default platform). */
  debugExit?: boolean;
  debugExitPort?: number;
}

/** 'pause': a pause request (`requestPause`) was taken; the VM goes on at the next `run`. */
export type SoftStopReason = 'hlt' | 'shutdown' | 'triple-fault' | 'error' | 'limit' | 'breakpoint' | 'pause';

export interface SoftVmStop {
  reason: SoftStopReason;
  message: string;
  instructions: number;
  rip: number;
  code?: number;
}

export interface SoftTrap {
  vcpu: number;
  /** Sequence number from 1. */
  seq: number;
  key: string;
  rip: number;
  cycles: number;
}

export interface SoftVmEvents {
  trap: SoftTrap;
  hole: HoleEvent;
  output: { vcpu: number; bytes: number[]; text: string; source: string };
  stop: SoftVmStop;
}

const DEFAULT_RAM = 16 << 20;
const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

export class SoftVm {
  readonly technique: SoftTechnique;
  readonly machine: Machine;
  readonly cpu: Cpu;
  readonly engine: Engine;
  readonly platform: PcPlatform;
  readonly v: VirtualCpuState;
  readonly guest: GuestMemory;
  readonly shadow: SoftShadow;
  readonly stats: SoftStats;
  readonly events = new Emitter<SoftVmEvents>();
  readonly output: number[] = [];
  readonly holes: HoleEvent[] = [];
  readonly ramSize: number;
  /** The ring the guest kernel really runs in. */
  readonly ring: SoftKernelRing;
  /** The binary translator (binary-translation only). */
  readonly translator: Translator | null = null;
  /** The hypercall interface (paravirt only). */
  readonly pv: Paravirt | null = null;
  private readonly gdtHpa: number;
  /** The guest's own DPL of each GDT entry (by selector >> 3), from the last sync of the real GDT. */
  private guestDpl: Uint8Array = new Uint8Array(512).fill(NO_SEGMENT);
  private readonly quantum: number;
  private ended: SoftVmStop | null = null;
  private stopNow: { reason: SoftStopReason; message: string; code?: number } | null = null;
  /** A pause asked for (`requestPause`) and not taken yet. */
  private pauseReason: string | null = null;
  private trapSeq = 0;
  /** Device time in instructions (retired plus idle). */
  private now = 0;

  constructor(options: SoftVmOptions) {
    this.technique = options.technique;
    if (!SOFT_TECHNIQUES.includes(this.technique)) throw new RangeError(`technique must be one of ${SOFT_TECHNIQUES.join(', ')} (got ${String(this.technique)})`);
    this.ring = options.kernelRing ?? 1;
    if (!SOFT_KERNEL_RINGS.includes(this.ring)) throw new RangeError(`kernelRing must be 1 or 3 (got ${String(options.kernelRing)})`);
    if (this.technique === 'paravirt' && this.ring !== 1) throw new RangeError('kernelRing 3 is not available under paravirt: the paravirtualized kernel runs in ring 1 by its ABI (FLAT_RING1 segments, int 0x82 from ring 1); use trap-and-emulate or binary-translation');
    this.ramSize = options.memorySize ?? DEFAULT_RAM;
    // Host memory: guest RAM at HPA = GPA, then 4 MiB for the VMM (real GDT, shadow tables).
    this.machine = new Machine({ memorySize: this.ramSize + (4 << 20) });
    const org = options.org ?? 0x1000;
    this.machine.loadFlat32(options.image, org);
    this.cpu = this.machine.cpu;
    this.engine = this.machine.engine;
    this.quantum = options.eventQuantum ?? 1000;
    this.stats = new SoftStats({ ...new SoftStats().costs, ...options.costs });
    const c = this.cpu;
    this.v = initialVirtualCpu(c.cr0, c.gdtr, c.idtr);
    this.guest = new GuestMemory(c.mem, this.v, this.ramSize);
    const alloc = new HostAllocator(c.mem, this.ramSize, this.ramSize + (4 << 20));
    this.gdtHpa = alloc.allocPage();
    this.shadow = new SoftShadow(c.mem, alloc, this.v, this.ramSize, this.gdtHpa, this.ring, () => this.stats.rootSwitch());
    this.platform = new PcPlatform({ instructionsPerSecond: options.instructionsPerSecond, debugExit: options.debugExit, debugExitPort: options.debugExitPort });
    this.platform.attach(c.io);
    this.platform.uart.onTransmit = (byte) => this.emitOutput([byte], 'com1');
    this.platform.debugExit.onExit = (code) => this.requestStop('shutdown', `debug-exit port: the guest wrote ${this.platform.debugExit.value ?? 0}, exit status ${code}`, code);
    if (this.technique === 'binary-translation') this.translator = new Translator(this);
    if (this.technique === 'paravirt') this.pv = new Paravirt(this);
    this.deprivilege();
    c.intercept = this.hooks();
  }

  /** Moves the loaded guest from ring 0 to the VMM's arrangement: ring 1 (or 3), the real GDT, shadow paging, IF on. */
  private deprivilege(): void {
    const c = this.cpu;
    if (this.technique === 'paravirt') {
      writePvGdt(c.mem, this.gdtHpa);
      this.v.gdtr = { base: REAL_GDT_LINEAR, limit: 0x27 };
    } else {
      const sync = syncGdt(c.mem, this.gdtHpa, this.guest, this.v.gdtr.base, this.v.gdtr.limit, this.ring);
      if (sync === null) throw new Error('the loader\'s GDT is not readable');
      this.guestDpl = sync.guestDpl;
    }
    c.gdtr = { base: REAL_GDT_LINEAR, limit: this.technique === 'paravirt' ? 0x27 : Math.min(this.v.gdtr.limit, 0xfff) };
    c.idtr = { base: 0, limit: 0 };
    this.shadow.apply(c);
    const read = (sel: number): [number, number] => [c.mem.read32(this.gdtHpa + (sel & 0xfff8)) >>> 0, c.mem.read32(this.gdtHpa + (sel & 0xfff8) + 4) >>> 0];
    const code = this.technique === 'paravirt' ? PV_SELECTORS.kernelCode : c.seg[CS].selector;
    const data = this.technique === 'paravirt' ? PV_SELECTORS.kernelData : c.seg[SS].selector;
    const [clo, chi] = read(code);
    c.setCs(code, clo, chi, this.ring);
    const [dlo, dhi] = read(data);
    for (const s of [0, 3, 4, 5]) {
      const sel = this.technique === 'paravirt' ? data : c.seg[s].selector;
      const [lo, hi] = read(sel);
      c.seg[s].set(sel, 0, 0xffffffff, ((hi >>> 8) & 0xf0ff) | 1);
      void lo;
    }
    c.setSs((data & 0xfffc) | this.ring, dlo, dhi);
    c.flags |= 0x200;
    c.reloadState();
  }

  private hooks(): CpuIntercept {
    const holes = this.technique === 'paravirt' ? {} : holeHooks(this.v, (h) => this.reportHole(h), this.ring);
    return Object.freeze({
      ...holes,
      exception: (c: Cpu, vector: number, code: number, kind: ExceptionKind, ctx: ExceptionContext) => this.onException(c, vector, code, kind, ctx),
    });
  }

  private reportHole(h: Omit<HoleEvent, 'vcpu'>): void {
    // Under binary translation the kernel's sensitive instructions never run natively; a hole there is from user mode.
    const e: HoleEvent = { vcpu: 0, ...h };
    this.holes.push(e);
    this.stats.holes++;
    this.events.emit('hole', e);
  }

  emitOutput(bytes: number[], source: string): void {
    this.output.push(...bytes);
    this.events.emit('output', { vcpu: 0, bytes, text: String.fromCharCode(...bytes), source });
  }

  /**
   * Asks `run` to stop at the next instruction boundary with reason 'pause'
   * (`message` = `reason`) without ending the VM, as `Vm.requestPause` does:
   * for event listeners (a hole, a trap) and debugger watches, which cannot
   * end a run themselves. The instruction or trap being handled finishes
   * first: a hole stops after the hole instruction, a trap where the guest
   * resumes (an emulated instruction done, a reflected event's handler
   * entered). Made outside a run, it is taken at the start of the next. One
   * pause per request, however many came before it was taken; a stop that
   * ends the VM drops it; it comes before a breakpoint at the same boundary.
   */
  requestPause(reason = 'pause requested'): void {
    this.pauseReason ??= reason;
    if (this.cpu.stopRequest === null) this.cpu.requestStop('limit', reason);
    else this.cpu.exitReq = true;
  }

  /** The reason of the pause request not taken yet, or null. */
  get pauseRequested(): string | null {
    return this.pauseReason;
  }

  requestStop(reason: SoftStopReason, message: string, code?: number): void {
    this.stopNow = code === undefined ? { reason, message } : { reason, message, code };
    this.cpu.requestStop('limit', message);
  }

  /** Counts a trap and tells listeners. */
  trap(key: string, extra: number): void {
    const cycles = this.stats.trap(key, extra);
    this.events.emit('trap', { vcpu: 0, seq: ++this.trapSeq, key, rip: (this.cpu.seg[CS].base + this.cpu.eip) >>> 0, cycles });
  }

  // --- traps ---------------------------------------------------------------

  private onException(c: Cpu, vector: number, code: number, kind: ExceptionKind, ctx: ExceptionContext): boolean {
    this.syncCpl();
    const costs = this.stats.costs;
    if (kind === 'software') {
      if (this.pv !== null && vector === 0x82 && this.v.cpl === 0) {
        this.pv.hypercall();
        return true;
      }
      this.trap(`int 0x${vector.toString(16)}`, costs.reflect);
      this.reflect(vector, -1, true, false);
      return true;
    }
    if (vector === 14 && ctx.faultAddress >= 0) {
      const r = this.shadow.pageFault(c, ctx.faultAddress, code, this.v.cpl === 3);
      if (r.kind === 'filled') {
        this.trap('#PF: shadow fill', costs.shadowFill);
        return true;
      }
      if (r.kind === 'stop') {
        this.trap('#PF: outside the guest', 0);
        this.requestStop('error', r.message);
        return true;
      }
      this.trap('#PF: reflected', costs.shadowFill + costs.reflect);
      this.v.cr2 = ctx.faultAddress >>> 0;
      if (this.pv !== null) this.pv.faultAddress = ctx.faultAddress >>> 0;
      this.reflect(14, r.errorCode, false, false);
      return true;
    }
    if ((vector === 13 || vector === 6) && this.v.cpl === 0 && this.pv === null) {
      const ins = this.instructionAt();
      if (ins !== null && this.emulates(ins.mnemonic, ins)) {
        this.trap(`#GP: ${ins.mnemonic}`, this.stats.emulationCost(ins.mnemonic));
        this.emulateInstruction(ins, ins.length);
        return true;
      }
    }
    this.trap(`${EXC_NAMES[vector] ?? `vector ${vector}`}: reflected`, costs.reflect);
    this.reflect(vector, hasErrorCode(vector) ? code : -1, false, false);
    return true;
  }

  /**
   * Ring 1: the guest's mode follows the real ring (ring 3 is its user mode,
   * ring 1 its kernel). Ring 3: the real ring says nothing; the VMM keeps the
   * virtual CPL itself, changed where it delivers an event into the guest
   * kernel and where it carries out the kernel's IRET (then `enteredMode`).
   */
  syncCpl(): void {
    if (this.ring === 1) this.v.cpl = this.cpu.cpl === 3 ? 3 : 0;
  }

  /** The virtual CPL may have changed: with the kernel in ring 3, the real CR3 goes to that privilege's shadow root. */
  private enteredMode(): void {
    this.shadow.select(this.cpu);
  }

  private emulates(mnemonic: string, ins: { operands: { kind: string; reg?: number }[] }): boolean {
    if (mnemonic === 'mov') return ins.operands.some((o) => o.kind === 'creg' || o.kind === 'dreg' || (o.kind === 'sreg' && o.reg === SS && ins.operands[0] === o));
    if (mnemonic === 'pop') return ins.operands[0]?.kind === 'sreg';
    return EMULATED.has(mnemonic);
  }

  /** Decodes the instruction at CS:EIP through the guest's own paging (null when it cannot be read). */
  instructionAt(eip = this.cpu.eip): ReturnType<typeof decode> | null {
    const lin = (this.cpu.seg[CS].base + eip) >>> 0;
    const bytes = this.guest.read(lin, 15);
    let buf: Uint8Array;
    if (bytes instanceof Uint8Array) buf = bytes;
    else {
      // The instruction may end before an unmapped page: read what there is.
      const part: number[] = [];
      for (let i = 0; i < 15; i++) {
        const b = this.guest.read((lin + i) >>> 0, 1);
        if (!(b instanceof Uint8Array)) break;
        part.push(b[0]);
      }
      if (part.length === 0) return null;
      buf = Uint8Array.from(part);
    }
    const ins = decode(buf, 0, 32, eip);
    return ins.invalid !== undefined || ins.truncated === true ? null : ins;
  }

  /**
   * Emulates one guest instruction (trapped, or a translated callout). The
   * emulation reads and writes the guest's stack through the processor, so it
   * can meet a page the shadow tables do not map yet: the VMM fills the entry
   * and emulates again, as the processor would have re-executed the
   * instruction. A fault on the guest's own tables goes to the guest.
   */
  emulateInstruction(ins: Instr, length: number): void {
    // One fill per page the instruction touches; an IRET to user mode reads at most two.
    for (let fills = 0; ; fills++) {
      const r = emulate(this.emulationHost(), ins, length);
      if (r.kind !== 'exception' || r.fault === undefined || !r.fault.shadow || fills === 4) {
        this.finishEmulation(r);
        return;
      }
      const f = this.shadow.pageFault(this.cpu, r.fault.address, r.errorCode, this.v.cpl === 3);
      if (f.kind === 'filled') {
        this.trap('#PF: shadow fill', this.stats.costs.shadowFill);
        continue;
      }
      if (f.kind === 'stop') {
        this.trap('#PF: outside the guest', 0);
        this.requestStop('error', f.message);
        return;
      }
      this.trap('#PF: reflected', this.stats.costs.shadowFill + this.stats.costs.reflect);
      this.finishEmulation({ kind: 'exception', vector: 14, errorCode: f.errorCode, fault: { address: r.fault.address, shadow: false } });
      return;
    }
  }

  finishEmulation(r: EmulateResult): void {
    if (r.kind === 'done') {
      this.cpu.exitReq = true;
      return;
    }
    if (r.kind === 'unsupported') {
      this.requestStop('error', `${r.message} (at ${hex(this.cpu.eip)})`);
      return;
    }
    if (r.vector === 14 && r.fault !== undefined) {
      this.v.cr2 = r.fault.address;
      if (this.pv !== null) this.pv.faultAddress = r.fault.address;
    }
    this.reflect(r.vector, hasErrorCode(r.vector) ? r.errorCode : -1, false, false);
  }

  emulationHost(): EmulationHost {
    return {
      cpu: this.cpu, v: this.v, guest: this.guest, bus: this.cpu.io, ring: this.ring,
      pagingChanged: () => this.shadow.flush(this.cpu),
      invlpg: (lin) => this.shadow.invlpg(this.cpu, lin),
      gdtChanged: () => this.resyncGdt(),
      interruptsEnabled: () => { if (this.platform.pic.hasInterrupt()) this.cpu.requestStop('limit', 'virtual interrupts enabled'); },
      halt: () => { this.v.halted = true; this.cpu.requestStop('limit', 'virtual HLT'); },
      iret: (eip, cs, flags, esp, ss) => this.emulatedIret(eip, cs, flags, esp, ss),
    };
  }

  resyncGdt(): string | null {
    if (this.technique === 'paravirt') return null;
    if (this.v.gdtr.limit > 0xfff) return `the guest's GDT limit ${hex(this.v.gdtr.limit)} is larger than the one page the VMM shadows`;
    const s = syncGdt(this.cpu.mem, this.gdtHpa, this.guest, this.v.gdtr.base, this.v.gdtr.limit, this.ring);
    if (s === null) return `the guest's GDT at ${hex(this.v.gdtr.base)} is not readable`;
    this.guestDpl = s.guestDpl;
    this.cpu.gdtr = { base: REAL_GDT_LINEAR, limit: this.v.gdtr.limit };
    return null;
  }

  /** IRET emulated for the virtual kernel (trapped, a callout, or the IRET hypercall). */
  emulatedIret(eip: number, cs: number, flags: number, esp: number | null, ss: number | null): EmulateResult {
    const c = this.cpu;
    const toUser = (cs & 3) === 3;
    const sel = toUser ? cs : (cs & 0xfffc) | this.ring;
    if ((sel & 0xfffc) === 0 || (sel | 7) > c.gdtr.limit) return { kind: 'exception', vector: 13, errorCode: cs & 0xfffc };
    const lo = c.mem.read32(this.gdtHpa + (sel & 0xfff8)) >>> 0, hi = c.mem.read32(this.gdtHpa + (sel & 0xfff8) + 4) >>> 0;
    if ((hi & 0x1800) !== 0x1800 || (hi & 0x8000) === 0) return { kind: 'exception', vector: 13, errorCode: cs & 0xfffc };
    // Flags as the virtual kernel's IRET would leave them: IF and IOPL into the virtual CPU.
    this.v.cpl = 0;
    applyFlags(c, this.v, flags, 4);
    c.setCs(sel, lo, hi, toUser ? 3 : this.ring);
    c.eip = eip >>> 0;
    if (toUser && ss !== null && esp !== null) {
      try {
        c.loadSeg(SS, ss);
      } catch {
        return { kind: 'exception', vector: 13, errorCode: ss & 0xfffc };
      }
      c.r[4] = esp | 0;
      c.nullInaccessibleSegs();
      if (this.ring === 3) this.nullKernelSegs();
      this.v.cpl = 3;
    }
    this.enteredMode();
    c.exitReq = true;
    if (this.v.interrupts) this.emulationHost().interruptsEnabled();
    return { kind: 'done' };
  }

  private deliveryHost(): DeliveryHost {
    return {
      cpu: this.cpu, v: this.v, guest: this.guest, ring: this.ring, gdtHpa: this.gdtHpa,
      kernelStack: () => {
        if (this.pv !== null) return this.pv.kernelStack();
        const tss = this.v.tr;
        if (tss.selector === 0) return { kind: 'unsupported', message: 'an event from user mode needs a kernel stack, but the guest has loaded no TSS (LTR)' } as DeliveryProblem;
        const esp0 = this.guest.read32(tss.base + 4), ss0 = this.guest.read32(tss.base + 8);
        if (typeof esp0 !== 'number') return { kind: 'exception', vector: 10, errorCode: tss.selector & 0xfffc };
        if (typeof ss0 !== 'number') return { kind: 'exception', vector: 10, errorCode: tss.selector & 0xfffc };
        return [ss0 & 0xffff, esp0];
      },
      pushedKernelCs: (real) => (this.pv !== null ? real : real & ~3),
      kernelCode: (sel, realDpl) => (this.ring === 3 && this.pv === null ? this.guestDpl[(sel >>> 3) & 511] < 3 : realDpl === this.ring),
    };
  }

  /**
   * An IRET to user mode nulls the data segment registers that hold a kernel
   * segment. In ring 3 the processor finds every such descriptor at DPL 3 and
   * keeps them: the VMM nulls them by the guest's own DPLs.
   */
  private nullKernelSegs(): void {
    for (const s of [0, 3, 4, 5]) {
      const g = this.cpu.seg[s];
      if (!g.usable || (g.selector & 4) !== 0) continue;
      const dpl = this.guestDpl[(g.selector >>> 3) & 511];
      const conformingCode = (g.attr & 0xc) === 0xc;
      if (dpl !== NO_SEGMENT && dpl < 3 && !conformingCode) g.set(0, 0, 0, ATTR_UNUSABLE);
    }
  }

  /**
   * Delivers an event to the guest. A problem delivering it is itself
   * delivered (a contributory fault or #PF during an exception's delivery
   * becomes #DF, a fault during #DF's is a triple fault).
   */
  reflect(vector: number, errorCode: number, software: boolean, external: boolean): void {
    const c = this.cpu;
    const eip = c.eip;
    let vec = vector, err = errorCode, soft = software, ext = external;
    for (let depth = 0; ; depth++) {
      const host = this.deliveryHost();
      const target: EventTarget | DeliveryProblem = this.pv !== null ? this.pv.target(vec, soft) : idtTarget(host, vec, soft, ext);
      const problem = 'selector' in target ? deliverTo(host, target, eip, err) : target;
      if (problem === null) {
        this.enteredMode();
        c.requestStop('limit', 'event reflected');
        return;
      }
      if (problem.kind === 'unsupported') {
        this.requestStop('error', `delivering ${EXC_NAMES[vec] ?? `vector ${vec}`} to the guest: ${problem.message}`);
        return;
      }
      if (problem.cr2 !== undefined) this.v.cr2 = problem.cr2;
      if (vec === 8 || depth >= 2) {
        this.requestStop('triple-fault', `triple fault: ${EXC_NAMES[problem.vector] ?? problem.vector} while delivering ${EXC_NAMES[vec] ?? vec} to the guest (at ${hex(eip)})`);
        return;
      }
      const contributory = (n: number): boolean => n === 0 || (n >= 10 && n <= 13);
      if ((vec === 14 && (problem.vector === 14 || contributory(problem.vector))) || (contributory(vec) && contributory(problem.vector))) {
        vec = 8; err = 0;
      } else {
        vec = problem.vector; err = problem.errorCode;
      }
      soft = false; ext = false;
    }
  }

  // --- running -------------------------------------------------------------

  /** Runs the guest for at most `maxInstructions` instructions (idle time while halted counts). */
  run(maxInstructions: number): SoftVmStop {
    if (this.ended !== null) {
      const again = { ...this.ended, instructions: 0 };
      this.events.emit('stop', again);
      return again;
    }
    let done = 0;
    let stop: SoftVmStop | null = null;
    const c = this.cpu;
    // Until a guest instruction has run, the resume point may pass its breakpoint (the engine's rule, kept across its runs).
    const start = (c.seg[CS].base + c.eip) >>> 0;
    let ran = false;
    while (done < maxInstructions) {
      if (this.stopNow !== null || this.pauseReason !== null) break;
      this.syncCpl();
      this.takeInterrupt();
      if (this.stopNow !== null || this.pauseReason !== null) break;
      const point = this.quantum - (this.now % this.quantum);
      const budget = Math.min(point, maxInstructions - done);
      if (this.v.halted) {
        if (!this.v.interrupts) {
          this.stopNow = { reason: 'hlt', message: 'the guest halted with its (virtual) interrupts disabled: nothing can wake it' };
          break;
        }
        this.advance(budget);
        done += budget;
        continue;
      }
      const at = (c.seg[CS].base + c.eip) >>> 0;
      const pass = !ran && at === start ? at : -1;
      // The engine does not stop at a breakpoint where its run starts: a trap or a reflected event may have led here.
      if (pass < 0 && this.engine.breakpoints.has(at)) { stop = { reason: 'breakpoint', message: `breakpoint at ${hex(at)}`, instructions: done, rip: at }; break; }
      const s: StopInfo = this.translator !== null && this.v.cpl === 0 ? this.translator.run(budget, pass) : this.engine.run(budget);
      if (s.instructions > 0) ran = true;
      this.advance(s.instructions);
      done += s.instructions;
      if (this.pauseReason !== null && (s.reason === 'limit' || s.reason === 'breakpoint')) break;
      if (s.reason === 'limit') continue;
      if (s.reason === 'breakpoint') { stop = { reason: 'breakpoint', message: s.message, instructions: done, rip: (c.seg[CS].base + c.eip) >>> 0 }; break; }
      if (s.reason === 'triple-fault') { this.stopNow = { reason: 'triple-fault', message: s.message }; break; }
      if (s.reason === 'shutdown') { this.stopNow ??= { reason: 'shutdown', message: s.message }; break; }
      this.stopNow = { reason: 'error', message: s.message };
      break;
    }
    if (stop === null && this.stopNow === null && this.pauseReason !== null) {
      stop = { reason: 'pause', message: this.pauseReason, instructions: done, rip: (c.seg[CS].base + c.eip) >>> 0 };
    }
    this.pauseReason = null;
    if (stop === null) {
      const s = this.stopNow;
      stop = s === null
        ? { reason: 'limit', message: `instruction limit ${maxInstructions} reached`, instructions: done, rip: (c.seg[CS].base + c.eip) >>> 0 }
        : { ...s, instructions: done, rip: (c.seg[CS].base + c.eip) >>> 0 };
      if (s !== null) this.ended = stop;
    }
    this.events.emit('stop', stop);
    return stop;
  }

  private advance(instructions: number): void {
    this.now += instructions;
    this.platform.advance(instructions);
  }

  /** At an instruction boundary: a device interrupt the guest can take now is reflected into it. */
  private takeInterrupt(): void {
    const pic = this.platform.pic;
    if (!pic.hasInterrupt() || !this.v.interrupts || this.cpu.icount < this.v.stiShadowUntil) return;
    if (this.cpu.shadow) return;
    const vector = pic.acknowledge();
    this.v.halted = false;
    this.trap(`interrupt: vector ${hex(vector)}`, this.stats.costs.interrupt + this.stats.costs.reflect);
    this.reflect(vector, -1, false, true);
  }

  /** Guest instructions plus idle time so far (device time). */
  get deviceTime(): number {
    return this.now;
  }
}

/** Privileged instructions a trapped #GP is emulated for (besides MOV CR/DR/SS and POP SS). */
const EMULATED = new Set(['cli', 'sti', 'hlt', 'clts', 'invd', 'wbinvd', 'lmsw', 'in', 'out', 'lgdt', 'lidt', 'lldt', 'ltr', 'invlpg', 'iret', 'iretd', 'rdmsr', 'wrmsr']);

export function createSoftVm(options: SoftVmOptions): SoftVm {
  return new SoftVm(options);
}
