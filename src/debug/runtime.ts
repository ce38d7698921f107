// The debugger's hold on a running guest (a debug target: the VT-x VM or
// the software VMM, target.ts): breakpoints on every vCPU's engine,
// exception filters over VM exits, holes and traps, stops asked for by event
// listeners (data breakpoints), stepping by instruction or by source line,
// pause. It runs the guest in slices with a yield to the host between them,
// so a debug adapter on the same thread keeps answering requests and a pause
// stops a runaway guest promptly. No DAP types here: session.ts translates.

import type { VmStop } from '../vmm/vtx/index';
import { decode } from '../x86/decode/index';
import type { SourceMap } from '../x86/asm/index';
import { compileExpr, type CompiledExpr, type ExprContext, interpolate } from './expr';
import { exprContext, linearIp, stackPointer } from './runtimeState';
import { captureExitRegisters, type ExitFilter } from './runtimeExits';
import { eventDescription, eventVcpu, HOLE_FILTER, matchesFilter, TRAP_FILTER } from './runtimeEvents';
import type { DebugTarget, TargetEvent } from './target';

/** Instructions per slice of a continue: small enough that a pause is answered quickly. */
export const SLICE_INSTRUCTIONS = 100_000;
/**
 * VM exits per slice. An exit costs far more than an instruction (a guest
 * that exits on every other instruction runs about 60 times slower), so the
 * slice shrinks with the exits the previous one took. Counting, not timing:
 * the same guest is sliced the same way on every machine.
 */
const SLICE_EXITS = 4_000;
const MIN_SLICE = 1_000;
/** Single steps between two yields to the host while stepping by line. */
const STEPS_PER_YIELD = 5_000;

export interface GuestImage {
  path: string;
  bytes: Uint8Array;
  fromSource: boolean;
  sourceMap?: SourceMap;
  symbols?: Map<string, number>;
  /** Where the image was loaded (guest-physical = linear at start). */
  loadAddress: number;
  bits: 16 | 32;
}

export type BreakpointKind = 'source' | 'function' | 'instruction';

export interface BreakpointSpec {
  id: number;
  kind: BreakpointKind;
  address: number;
  condition?: CompiledExpr;
  /** e.g. "3", ">= 3", "% 2"; checked against the hit count. */
  hitCondition?: string;
  logMessage?: string;
  hits: number;
}

export type StopReason = 'entry' | 'step' | 'breakpoint' | 'function breakpoint' | 'instruction breakpoint' | 'data breakpoint' | 'exception' | 'pause';

export interface RuntimeStop {
  reason: StopReason;
  vcpu: number;
  description: string;
  /** The VM exit, hole or trap a filter stopped at. */
  event?: TargetEvent;
  /** Id of the exit filter that matched. */
  filterId?: string;
  /** A VM stop reported as an exception (triple fault, VM-entry failure). */
  vmStop?: VmStop;
  breakpointIds: number[];
}

export type RunOutcome = { kind: 'stopped'; stop: RuntimeStop } | { kind: 'ended'; vmStop: VmStop; instructions: number } | { kind: 'cancelled' };

export type StepKind = 'continue' | 'instruction' | 'next' | 'stepIn' | 'stepOut';

export interface RuntimeHooks {
  /** A logpoint's message, with its {expressions} replaced. */
  onLog?: (text: string, vcpu: number) => void;
  /** A condition that could not be evaluated: the breakpoint stops, and this says why. */
  onConditionError?: (message: string) => void;
  /** Lets the host answer requests between slices; defaults to a zero timeout. */
  yieldToHost?: () => Promise<void>;
}

interface RunToTarget {
  vcpu: number;
  address: number;
  /** The stack pointer must be at least this (the call has returned, not a recursive entry). */
  minSp: number;
}

export class Runtime {
  private readonly groups = new Map<string, BreakpointSpec[]>();
  private filters: ExitFilter[] = [];
  private pendingEvent: { event: TargetEvent; filter: ExitFilter } | null = null;
  /** A stop asked for by a VM event listener (`requestStop`), taken at the vCPU's next instruction boundary. */
  private requested: RuntimeStop | null = null;
  private runTo: RunToTarget | null = null;
  private pauseRequested = false;
  private cancelled = false;
  private running = false;
  private totalInstructions = 0;
  /** A VM-ending stop (triple fault, failed entry) was already reported as an exception stop. */
  private endReported = false;
  /** The exit the VM last stopped at through a filter, for exceptionInfo. */
  lastStop: RuntimeStop | null = null;

  constructor(
    readonly target: DebugTarget,
    readonly image: GuestImage,
    readonly maxInstructions: number,
    private readonly hooks: RuntimeHooks = {},
  ) {
    target.onEvent((e) => this.onEvent(e));
  }

  get isRunning(): boolean {
    return this.running;
  }

  get instructionsExecuted(): number {
    return this.totalInstructions;
  }

  // ---- breakpoints --------------------------------------------------------

  /** Replaces a group of breakpoints (one source file, all function or all instruction breakpoints). */
  setBreakpoints(group: string, specs: BreakpointSpec[]): void {
    const old = this.groups.get(group) ?? [];
    // Hit counts survive re-sending the same breakpoint (VS Code re-sends a file's list on every edit).
    for (const s of specs) {
      const before = old.find((o) => o.address === s.address && o.kind === s.kind);
      if (before !== undefined) s.hits = before.hits;
    }
    this.groups.set(group, specs);
    this.install();
  }

  breakpointsAt(address: number): BreakpointSpec[] {
    const out: BreakpointSpec[] = [];
    for (const list of this.groups.values()) for (const b of list) if (b.address === address) out.push(b);
    return out;
  }

  setExitFilters(filters: ExitFilter[]): void {
    this.filters = filters;
  }

  get exitFilters(): readonly ExitFilter[] {
    return this.filters;
  }

  /** Puts the union of user and run-to addresses on every vCPU's engine. */
  private install(): void {
    const user = new Set<number>();
    for (const list of this.groups.values()) for (const b of list) user.add(b.address >>> 0);
    for (let i = 0; i < this.target.vcpuCount; i++) {
      const engine = this.target.engine(i);
      const want = new Set(user);
      if (this.runTo !== null && this.runTo.vcpu === i) want.add(this.runTo.address >>> 0);
      const have = engine.breakpoints;
      const same = have.size === want.size && [...want].every((a) => have.has(a));
      if (same) continue;
      have.clear();
      for (const a of want) have.add(a);
      engine.flush();
    }
  }

  // ---- VM events ----------------------------------------------------------

  /**
   * A matching exit is stopped at where the vCPU resumes, once the handler
   * ran and the vCPU re-entered; a hole right after the hole instruction; a
   * trap where the guest resumes once the VMM handled it (a pause request).
   */
  private onEvent(e: TargetEvent): void {
    if (!this.running || this.pendingEvent !== null) return;
    if (e.kind === 'exit' && this.target.vtx !== null) captureExitRegisters(this.target.vtx, e.exit);
    // Traps come by the hundred thousand: no expression context for them unless their filter is on.
    else if (!this.filters.some((f) => f.id === (e.kind === 'hole' ? HOLE_FILTER : TRAP_FILTER))) return;
    const vcpu = eventVcpu(e);
    const ctx = this.contextWith(vcpu, e);
    for (const f of this.filters) {
      if (matchesFilter(f, e, ctx, (m) => this.hooks.onConditionError?.(m))) {
        this.pendingEvent = { event: e, filter: f };
        this.target.requestPause(vcpu, `${f.id} filter`);
        return;
      }
    }
  }

  /**
   * A stop asked for from a VM event listener while the guest runs (an exit,
   * an entry, a debugger watch): the run stops at the vCPU's next
   * instruction boundary, after the exit is handled and the vCPU re-entered,
   * and reports this stop. During a line step the step goes on to the end of
   * its line first. False (nothing done) when not running or a stop was
   * already asked for.
   */
  requestStop(vcpu: number, reason: StopReason, description: string, breakpointIds: number[]): boolean {
    if (!this.running || this.requested !== null) return false;
    this.requested = { reason, vcpu, description, breakpointIds };
    this.target.requestPause(vcpu, description);
    return true;
  }

  /** A stop was asked for in this run and not reported yet. */
  get stopRequested(): boolean {
    return this.requested !== null;
  }

  // ---- running ------------------------------------------------------------

  pause(): void {
    if (this.running) this.pauseRequested = true;
  }

  /** Ends any run at its next slice boundary for good (terminate, disconnect, restart). */
  cancel(): void {
    this.cancelled = true;
  }

  get isCancelled(): boolean {
    return this.cancelled;
  }

  async resume(vcpu: number, kind: StepKind): Promise<RunOutcome> {
    if (this.running) throw new Error('the guest is already running');
    this.running = true;
    this.pauseRequested = false;
    this.pendingEvent = null;
    this.requested = null;
    try {
      const outcome = kind === 'continue' ? await this.continueRun(vcpu) : await this.step(vcpu, kind);
      if (outcome.kind === 'stopped') this.lastStop = outcome.stop;
      return outcome;
    } finally {
      this.running = false;
      this.runTo = null;
      this.requested = null;
      this.install();
    }
  }

  private yieldToHost(): Promise<void> {
    return this.hooks.yieldToHost?.() ?? new Promise<void>((resolve) => setTimeout(resolve, 0));
  }

  private pausedStop(vcpu: number): RunOutcome {
    return { kind: 'stopped', stop: { reason: 'pause', vcpu, description: 'Paused', breakpointIds: [] } };
  }

  private async continueRun(vcpu: number): Promise<RunOutcome> {
    let left = this.maxInstructions;
    // Start small and grow: the first slice of an exit-heavy guest must not be the long one.
    let slice = 20_000;
    for (;;) {
      const stop = this.target.run(Math.min(slice, left));
      left -= stop.instructions;
      slice = stop.exits > SLICE_EXITS ? Math.max(MIN_SLICE, Math.floor((slice * SLICE_EXITS) / stop.exits)) : Math.min(SLICE_INSTRUCTIONS, slice * 2);
      this.totalInstructions += stop.instructions;
      const o = this.classify(stop);
      if (o !== null) return o;
      if (left <= 0) return this.limitReached(stop);
      await this.yieldToHost();
      if (this.cancelled) return { kind: 'cancelled' };
      if (this.pauseRequested) return this.pausedStop(vcpu);
    }
  }

  private limitReached(stop: VmStop): RunOutcome {
    const message = `the guest did not stop by itself within maxInstructions (${this.maxInstructions.toLocaleString('en-US')})`;
    return { kind: 'ended', vmStop: { ...stop, reason: 'limit', message }, instructions: this.totalInstructions };
  }

  /**
   * What a VM stop means to the debugger: a stop to report, the end of the
   * guest, or null to keep running (a limit, a breakpoint whose condition is
   * false, a logpoint, a run-to address reached too deep in the stack).
   */
  private classify(stop: VmStop): RunOutcome | null {
    const requested = this.requested;
    if (this.pendingEvent !== null) {
      const { event, filter } = this.pendingEvent;
      this.pendingEvent = null;
      this.requested = null;
      const vmStop = stop.reason === 'breakpoint' || stop.reason === 'limit' || stop.reason === 'pause' ? undefined : stop;
      if (vmStop !== undefined && (vmStop.reason === 'triple-fault' || vmStop.reason === 'error' || vmStop.reason === 'shutdown' || vmStop.reason === 'unhandled-exit')) this.endReported = true;
      const name = eventDescription(event);
      const description = filter.id === 'entry-failure' ? `VM-entry failure (${name})` : name;
      const at: RuntimeStop = { reason: 'exception', vcpu: eventVcpu(event), description, event, filterId: filter.id, ...(vmStop ? { vmStop } : {}), breakpointIds: [] };
      // A data breakpoint stop asked for at the same exit names the stop; the exit frame stays.
      const reported = requested === null ? at : { ...at, reason: requested.reason, vcpu: requested.vcpu, description: requested.description, breakpointIds: requested.breakpointIds };
      return { kind: 'stopped', stop: stop.reason === 'pause' ? this.withBreakpointsAt(reported) : reported };
    }
    if (stop.reason === 'pause') {
      this.requested = null;
      // A pause nobody here asked for (none is expected) only ends the slice.
      return requested === null ? null : { kind: 'stopped', stop: this.withBreakpointsAt(requested) };
    }
    if (stop.reason === 'limit') return null;
    if (stop.reason === 'breakpoint') return this.atBreakpoint();
    const special = stop.reason === 'triple-fault' ? 'triple-fault' : stop.entryFailure !== undefined ? 'entry-failure' : null;
    const filter = special === null || this.endReported ? undefined : this.filters.find((f) => f.id === special);
    if (filter !== undefined) {
      // The VM cannot go on: the next run ends the session instead of stopping here again.
      this.endReported = true;
      const vcpu = Math.max(0, this.target.vtx?.vcpus.findIndex((v) => v.entryFailure !== null) ?? 0);
      const description = special === 'triple-fault' ? 'Triple fault' : 'VM-entry failure';
      return { kind: 'stopped', stop: { reason: 'exception', vcpu: special === 'triple-fault' ? 0 : vcpu, description, filterId: filter.id, vmStop: stop, breakpointIds: [] } };
    }
    return { kind: 'ended', vmStop: stop, instructions: this.totalInstructions };
  }

  private atBreakpoint(): RunOutcome | null {
    for (let i = 0; i < this.target.vcpuCount; i++) {
      const address = linearIp(this.target, i);
      if (!this.target.engine(i).breakpoints.has(address)) continue;
      // A run-to address reached by the right frame is a step's end, handled by the caller.
      if (this.runTo !== null && this.runTo.vcpu === i && this.runTo.address === address && stackPointer(this.target, i) >= this.runTo.minSp) {
        return { kind: 'stopped', stop: { reason: 'step', vcpu: i, description: 'Step', breakpointIds: [] } };
      }
      const hit = this.evaluateBreakpoints(i, address);
      if (hit !== null) return { kind: 'stopped', stop: hit };
    }
    return null;
  }

  /**
   * A stop at an exit or a data breakpoint where the vCPU stands at a
   * breakpoint is that breakpoint's arrival too: its condition and hit count
   * are evaluated (a logpoint prints) and its id joins the stop when it says
   * so. Continuing from here does not count it again, so hit counts are the
   * same as in a run that did not stop here. A halted vCPU has not arrived.
   */
  private withBreakpointsAt(stop: RuntimeStop): RuntimeStop {
    const v = stop.vcpu;
    if (this.target.waitsHalted(v)) return stop;
    const address = linearIp(this.target, v);
    if (!this.target.engine(v).breakpoints.has(address)) return stop;
    const hit = this.evaluateBreakpoints(v, address);
    return hit === null ? stop : { ...stop, breakpointIds: [...stop.breakpointIds, ...hit.breakpointIds.filter((id) => !stop.breakpointIds.includes(id))] };
  }

  /** Counts hits and runs conditions and logpoints at an address; a stop when one of them says so. */
  private evaluateBreakpoints(vcpu: number, address: number): RuntimeStop | null {
    const specs = this.breakpointsAt(address);
    if (specs.length === 0) return null;
    const ctx = this.contextWith(vcpu, undefined);
    const ids: number[] = [];
    let kind: BreakpointKind = 'source';
    for (const b of specs) {
      if (b.condition !== undefined) {
        let ok: boolean;
        try {
          ok = b.condition.evaluate(ctx) !== 0;
        } catch (e) {
          this.hooks.onConditionError?.(`Breakpoint condition '${b.condition.text}': ${e instanceof Error ? e.message : String(e)}`);
          ok = true;
        }
        if (!ok) continue;
      }
      b.hits++;
      if (b.hitCondition !== undefined && !hitConditionMet(b.hitCondition, b.hits)) continue;
      if (b.logMessage !== undefined) {
        this.hooks.onLog?.(interpolate(b.logMessage, ctx), vcpu);
        continue;
      }
      ids.push(b.id);
      kind = b.kind;
    }
    if (ids.length === 0) return null;
    const reason: StopReason = kind === 'function' ? 'function breakpoint' : kind === 'instruction' ? 'instruction breakpoint' : 'breakpoint';
    return { reason, vcpu, description: `Breakpoint at 0x${address.toString(16).toUpperCase()}`, breakpointIds: ids };
  }

  /**
   * One instruction of `vcpu` alone (an instruction that exits counts as
   * one); the other vCPUs do not run (Vm.runVcpu). Null when it simply
   * completed, also when a data breakpoint asked for a stop: that is
   * reported when the step ends.
   */
  private stepInstruction(vcpu: number): RunOutcome | null {
    const stop = this.target.runVcpu(vcpu, 1);
    this.totalInstructions += stop.instructions;
    if (this.pendingEvent !== null) return this.classify(stop);
    if (stop.reason === 'pause' || stop.reason === 'limit' || stop.reason === 'breakpoint') return null;
    return this.classify(stop);
  }

  private async step(vcpu: number, kind: Exclude<StepKind, 'continue'>): Promise<RunOutcome> {
    // A stop asked for during the step (a data breakpoint hit in the middle of a line) is reported where the step ends.
    const done = (): RunOutcome => {
      const requested = this.requested;
      this.requested = null;
      return { kind: 'stopped', stop: requested ?? { reason: 'step', vcpu, description: 'Step', breakpointIds: [] } };
    };
    const map = this.image.sourceMap;
    const lineKey = (address: number): string | undefined => {
      const e = map?.lookup(address);
      return e === undefined || address >= e.address + Math.max(1, e.length) ? undefined : `${e.file}\0${e.line}`;
    };
    const startLine = lineKey(linearIp(this.target, vcpu));
    const startSp = stackPointer(this.target, vcpu);
    // Without a source line every instruction is a line of its own (still stepping over calls for `next`).
    const byInstruction = kind === 'instruction';
    let steps = 0;
    for (;;) {
      const ins = this.instructionAt(vcpu);
      const address = linearIp(this.target, vcpu);
      // A call, or a software interrupt (its handler returns with IRET to the next instruction), is stepped over by running to where it returns.
      if (!byInstruction && ins !== null && (ins.mnemonic === 'call' || ins.mnemonic === 'int') && kind !== 'stepIn') {
        const o = await this.runToReturn(vcpu, address + ins.length, stackPointer(this.target, vcpu));
        if (o !== null) return o;
      } else {
        const isRet = ins !== null && /^(ret|retf|iret|iretd|iretw)$/.test(ins.mnemonic);
        const o = this.stepInstruction(vcpu);
        if (o !== null) return o;
        // A vCPU that halted with nothing to wake it, or waits for SIPI, cannot go on alone: the step ends.
        if (byInstruction || this.target.runState(vcpu) !== 'runnable') return done();
        if (kind === 'stepOut' && isRet && stackPointer(this.target, vcpu) > startSp) return done();
      }
      if (kind !== 'stepOut') {
        const now = lineKey(linearIp(this.target, vcpu));
        if (now === undefined || now !== startLine) return done();
      }
      if (++steps % STEPS_PER_YIELD === 0) {
        await this.yieldToHost();
        if (this.cancelled) return { kind: 'cancelled' };
        if (this.pauseRequested) return this.pausedStop(vcpu);
      }
      if (this.totalInstructions > Number.MAX_SAFE_INTEGER - 1) return done();
    }
  }

  /** Runs until `vcpu` reaches `address` with its stack pointer at `minSp` or above (over a CALL). */
  private async runToReturn(vcpu: number, address: number, minSp: number): Promise<RunOutcome | null> {
    this.runTo = { vcpu, address: address >>> 0, minSp };
    this.install();
    try {
      const o = await this.continueRun(vcpu);
      if (o.kind === 'stopped' && o.stop.reason === 'step') return null;
      return o;
    } finally {
      this.runTo = null;
      this.install();
    }
  }

  /** The instruction at vCPU's IP, decoded from guest memory; null when unreadable. */
  instructionAt(vcpu: number): ReturnType<typeof decode> | null {
    const c = this.target.cpu(vcpu);
    const bytes = this.target.readCode(vcpu, linearIp(this.target, vcpu), 16);
    if (bytes === null || bytes.length === 0) return null;
    const bits = (c.cr0 & 1) !== 0 && (c.seg[1].attr & 0x4000) !== 0 ? 32 : 16;
    const ins = decode(bytes, 0, bits, c.eip >>> 0);
    return ins.invalid || ins.truncated ? null : ins;
  }

  /** An expression context at a vCPU (and the exit, hole or trap of the current stop, when it stopped at one). */
  context(vcpu: number): ExprContext {
    const event = this.lastStop?.event;
    return this.contextWith(vcpu, event !== undefined && eventVcpu(event) === vcpu ? event : undefined);
  }

  /** The expression context with the program's labels. */
  private contextWith(vcpu: number, event: TargetEvent | undefined): ExprContext {
    const ctx = exprContext(this.target, vcpu, event);
    const symbols = this.image.symbols;
    return symbols === undefined ? ctx : { ...ctx, symbol: (name) => symbols.get(name) };
  }
}

/** VS Code's hit-condition forms: "5" (from the 5th hit on), ">= 5", "> 5", "== 5", "% 5" (every 5th). */
export function hitConditionMet(condition: string, hits: number): boolean {
  const m = /^\s*(>=|>|==|=|<=|<|%)?\s*(\d+)\s*$/.exec(condition);
  if (m === null) return true;
  const n = Number(m[2]);
  switch (m[1]) {
    case '>':
      return hits > n;
    case '==':
    case '=':
      return hits === n;
    case '<':
      return hits < n;
    case '<=':
      return hits <= n;
    case '%':
      return n > 0 && hits % n === 0;
    default:
      return hits >= n;
  }
}

export function isValidHitCondition(condition: string): boolean {
  return /^\s*(>=|>|==|=|<=|<|%)?\s*(\d+)\s*$/.test(condition);
}

/** Compiles a condition; the error (with its column) is returned for the breakpoint's message. */
export function compileCondition(text: string | undefined): { expr?: CompiledExpr; error?: string } {
  if (text === undefined || text.trim() === '') return {};
  try {
    return { expr: compileExpr(text) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
