// The execution engine: decodes straight-line runs of instructions once
// into blocks of compiled closures (cached by physical address, dropped
// when their page is written), runs them in a tight loop with one
// instruction-count update per block, and handles everything that happens
// between instructions: faults, external interrupts and NMI, the STI/MOV SS
// shadow, single-step traps, HLT, breakpoints and exact instruction limits.

import { decode } from '../decode/index';
import type { Bits, Instr } from '../decode/instr';
import { compile, x87Escape } from './compile';
import { CS, fetchPhys, type Cpu } from './cpu';
import { CpuFault, EXC, VmExitSignal, noteDelivery } from './fault';
import { IF, RF, TF } from './flags';
import { deliver, raiseException } from './interrupts';
import type { Fn } from './operands';
import { translate, type JitFn } from './jit';
import { hookKeyOf, hookSignature } from './hookable';
import type { CpuIntercept } from './intercept';

/** Executions of a block before it is translated to JavaScript. */
const JIT_THRESHOLD = 16;

export type StopReason = 'hlt' | 'triple-fault' | 'limit' | 'breakpoint' | 'shutdown' | 'error' | 'vmexit';
export interface StopInfo {
  reason: StopReason;
  message: string;
  instructions: number;
  eip: number;
  cs: number;
  /** With reason 'vmexit': the signal a hook threw (its payload, and the event being delivered if any). */
  vmexit?: VmExitSignal;
}

const MAX_BLOCK = 64;
const ZERO_PAGE = new Uint8Array(4096);
const FF_PAGE = new Uint8Array(4096).fill(0xff);

/** Target of a direct near jmp/call (rel operand), or -1. */
function directTarget(ins: Instr, next: number): number {
  const op = ins.opcode;
  if (op !== 0xe8 && op !== 0xe9 && op !== 0xeb) return -1;
  const rel = ins.operands[0];
  if (rel === undefined || rel.kind !== 'rel') return -1;
  const t = next + rel.disp;
  return ins.opSize === 32 ? t >>> 0 : t & 0xffff;
}

// Read through a call: instructions and hooks set stopRequest behind the loop's back, and a
// plain read after `c.stopRequest = null` would be narrowed to null by the type checker.
const pendingStop = (c: Cpu): Cpu['stopRequest'] => c.stopRequest;

export class Block {
  fns: Fn[] = [];
  eips: number[] = [];
  endEip = 0;
  endsWithBranch = false;
  valid = true;
  /** The first instruction is at a breakpoint address. */
  bp = false;
  /** Successor cache: the block that last followed this one, valid while linGen is unchanged. */
  link: Block | null = null;
  linkGen = -1;
  instrs: Instr[] = [];
  hits = 0;
  /** The translated form; null when not (yet) translated or not translatable. */
  jit: JitFn | null = null;
  /** DR6 bits of enabled DR0-DR3 execution breakpoints at the first instruction. */
  drMask = 0;
  /** Starts with rdtsc/rdmsr: never translated (the count must be exact when it runs). */
  readsCount = false;
  /** Contains a direct jmp/call followed inside the block. */
  inner = false;
  constructor(readonly phys: number, readonly eip: number, readonly csBase: number, readonly code32: boolean) {}
}

export class Engine {
  private readonly blocks = new Map<number, Block>();
  private readonly pageBlocks = new Map<number, Block[]>();
  readonly breakpoints = new Set<number>();
  /** Translate hot blocks to JavaScript (falls back to closures when eval is unavailable). */
  jitEnabled = true;

  constructor(private readonly c: Cpu) {
    c.mem.addCodeWriteListener((page) => this.invalidatePage(page));
    c.onDebugChange = () => this.flush();
  }

  invalidatePage(page: number): void {
    const list = this.pageBlocks.get(page);
    if (list !== undefined) {
      for (const b of list) {
        b.valid = false;
        if (this.blocks.get(b.phys) === b) this.blocks.delete(b.phys);
      }
      this.pageBlocks.delete(page);
    }
    this.c.exitReq = true;
  }

  /** The instruction hooks installed when the cached blocks were built. */
  private hookSig = 0;
  /** The frozen hook object `hookSig` was computed from, if it was frozen. */
  private frozenHooks: CpuIntercept | null = null;

  private hooked(ins: Instr): boolean {
    if (this.hookSig === 0) return false;
    const key = hookKeyOf(ins);
    return key !== null && this.c.intercept[key] !== undefined;
  }

  /** Drops every compiled block (breakpoints changed, snapshot restored...). */
  flush(): void {
    for (const b of this.blocks.values()) b.valid = false;
    for (const page of this.pageBlocks.keys()) this.c.mem.unmarkCode(page);
    this.blocks.clear();
    this.pageBlocks.clear();
  }

  private lookup(): Block {
    const c = this.c;
    const cs = c.seg[CS];
    if (c.eip > cs.limit) throw new CpuFault(EXC.GP, 0);
    const lin = (cs.base + c.eip) >>> 0;
    const phys = fetchPhys(c, lin);
    const b = this.blocks.get(phys);
    if (b !== undefined && b.eip === c.eip && b.csBase === cs.base && b.code32 === c.code32) return b;
    return this.build(lin, phys);
  }

  /** The block at the current EIP, through b's successor link while that is still valid. */
  private successor(b: Block): Block {
    const c = this.c;
    let nb = b.link;
    if (nb === null || b.linkGen !== c.linGen || !nb.valid || nb.eip !== c.eip) {
      nb = this.lookup();
      b.link = nb;
      b.linkGen = c.linGen;
    }
    return nb;
  }

  private build(lin: number, phys: number): Block {
    const c = this.c;
    const cs = c.seg[CS];
    const bits: Bits = c.code32 ? 32 : 16;
    const b = new Block(phys, c.eip, cs.base, c.code32);
    const page = phys >>> 12;
    const buf = c.mem.rpages[page] ?? (c.mem.isBacked(phys) ? ZERO_PAGE : FF_PAGE);
    let pos = phys & 0xfff;
    let eip = c.eip;
    let cacheable = true;
    const rets: number[] = [];
    b.bp = this.breakpoints.has(lin);
    b.drMask = c.dbExec.get(lin) ?? 0;
    for (;;) {
      const here = (cs.base + eip) >>> 0;
      if (b.fns.length > 0 && (this.breakpoints.has(here) || c.dbExec.has(here) || b.fns.length >= MAX_BLOCK)) break;
      let ins = decode(buf, pos, bits, eip, 4096);
      // Instructions that read the instruction count (the TSC), and those whose
      // interception hook is installed, start a block, so the count of retired
      // instructions is exact when they (or their hook) run.
      if (ins.opcode === 0x0f31 || ins.opcode === 0x0f32 || this.hooked(ins)) {
        if (b.fns.length > 0) break;
        b.readsCount = true;
      }
      if (ins.truncated) {
        if (b.fns.length > 0) break;
        // The instruction crosses into the next page: gather its bytes through translation.
        const bytes = new Uint8Array(15);
        const have = 4096 - pos;
        bytes.set(buf.subarray(pos, 4096));
        const nextPhys = fetchPhys(c, (here + have) >>> 0);
        for (let i = have; i < 15; i++) bytes[i] = c.mem.read8((nextPhys + i - have) >>> 0);
        ins = decode(bytes, 0, bits, eip, 15);
        cacheable = false;
      }
      let compiled;
      const esc = ins.invalid !== undefined ? x87Escape(buf, pos, 4096) : null;
      if (esc !== null && !ins.truncated) {
        compiled = esc;
      } else if (eip + ins.length - 1 > cs.limit) {
        if (b.fns.length > 0) break;
        compiled = { fn: () => { throw new CpuFault(EXC.GP, 0); }, ends: true };
      } else {
        compiled = compile(ins, eip, c.code32);
      }
      b.fns.push(compiled.fn);
      b.eips.push(eip);
      b.instrs.push(ins);
      eip = c.code32 ? (eip + ins.length) >>> 0 : (eip + ins.length) & 0xffff;
      pos += ins.length;
      if (compiled.ends) {
        // Direct near jmp/call to the same page: keep going at the target.
        let t = cacheable ? directTarget(ins, eip) : -1;
        if (t >= 0 && ins.opcode === 0xe8) rets.push(eip);
        // A near ret matching a followed call: keep going at the return
        // address, guarded (a different return address ends the block there).
        if (t < 0 && cacheable && ins.opcode === 0xc3 && rets.length > 0) {
          const expected = rets.pop() as number;
          const inner = compiled.fn;
          b.fns[b.fns.length - 1] = (cc: Cpu) => { inner(cc); if (cc.eip !== expected) { cc.exitReq = true; cc.keepEip = true; } };
          t = expected;
        }
        if (t >= 0 && (((cs.base + t) >>> 12) === (lin >>> 12)) && t <= cs.limit && b.fns.length < MAX_BLOCK) {
          b.inner = true;
          eip = t;
          pos = (cs.base + t) & 0xfff;
          continue;
        }
        b.endsWithBranch = true;
        break;
      }
      if (pos >= 4096) break;
    }
    b.endEip = eip;
    if (cacheable) {
      this.blocks.set(phys, b);
      let list = this.pageBlocks.get(page);
      if (list === undefined) {
        list = [];
        this.pageBlocks.set(page, list);
        c.mem.markCode(page);
      }
      list.push(b);
    }
    return b;
  }

  /**
   * Runs up to `max` instructions. In step mode it returns after one
   * instruction or one event delivery.
   */
  run(max: number, step = false): StopInfo {
    const c = this.c;
    let done = 0;
    let first = true;
    let skipBp = false;
    c.stopRequest = null;
    // Blocks are cut at hooked instructions: rebuild them when the hooks change. A frozen hook
    // object cannot change in place, so once seen it needs no second look (the VMM's run loop calls run often).
    const intercept = c.intercept;
    if (intercept !== this.frozenHooks) {
      const sig = hookSignature(intercept);
      if (sig !== this.hookSig) {
        this.flush();
        this.hookSig = sig;
      }
      this.frozenHooks = Object.isFrozen(intercept) ? intercept : null;
    }
    const stop = (reason: StopReason, message: string): StopInfo =>
      ({ reason, message, instructions: done, eip: c.eip >>> 0, cs: c.seg[CS].selector });
    // Taken when a hook ends the run with a VM exit; `inhibit` is restored because the
    // interrupted instruction has not run, so its STI/MOV SS shadow still applies.
    let inhibit = false;
    const vmexit = (e: VmExitSignal): StopInfo => {
      if (inhibit) c.shadow = true;
      c.exitReq = false;
      return { ...stop('vmexit', e.message), vmexit: e };
    };
    try {
      for (;;) {
        const r = pendingStop(c);
        if (r !== null) {
          c.stopRequest = null;
          return stop(r.reason, r.message);
        }
        // Debugger watches hit by the instructions before this boundary (cpu.debugWatch): the debugger decides here, after them.
        if (c.debugWatch.hits.length > 0) {
          const w = c.debugWatch;
          const hits = w.hits;
          w.hits = [];
          if (w.onHits !== null && w.onHits(hits)) {
            return stop('breakpoint', `data watch ${hits.map((h) => h.id).join(', ')}`);
          }
        }
        inhibit = false;
        if (c.shadow) { inhibit = true; c.shadow = false; }
        if (!inhibit && (c.nmiPending || c.irqQueue.length > 0)) {
          if (this.events()) {
            if (pendingStop(c) !== null) continue;
            if (step) return stop('limit', 'event delivered');
            continue;
          }
        }
        if (c.halted) return stop('hlt', (c.flags & IF) === 0 ? 'hlt with interrupts disabled' : 'hlt with no interrupt pending');
        if (done >= max) {
          // The next run starts with the instruction this shadow covers: keep it for that run.
          if (inhibit) c.shadow = true;
          return stop('limit', `instruction limit ${max} reached`);
        }
        let b: Block;
        try {
          b = this.lookup();
        } catch (e) {
          if (e instanceof VmExitSignal) return vmexit(e);
          if (!(e instanceof CpuFault)) return stop('error', String(e instanceof Error ? e.stack ?? e.message : e));
          raiseException(c, e.vector, e.code, 'fault');
          if (step && pendingStop(c) === null) return stop('limit', `${e.describe()} delivered`);
          continue;
        }
        // A rep instruction continuing after a chunk is the same instruction: no second stop.
        if (b.bp && !first && !skipBp) return stop('breakpoint', `breakpoint at 0x${((c.seg[CS].base + c.eip) >>> 0).toString(16)}`);
        first = false;
        skipBp = false;
        if (b.drMask !== 0 && (c.flags & RF) === 0) {
          // Instruction breakpoint in DR0-DR3: a fault before the instruction.
          // DR6 takes the hit bits only when the #DB is delivered: one that causes a VM exit leaves DR6 alone (SDM 27.1).
          c.pendingDr6 = ((c.dr[6] & ~0xf) | b.drMask) >>> 0;
          raiseException(c, EXC.DB, -1, 'fault');
          if (step && pendingStop(c) === null) return stop('limit', '#DB delivered');
          continue;
        }
        const tf = (c.flags & TF) !== 0;
        let i = 0;
        let inLookup = false;
        let inJit = false;
        c.exitReq = false;
        // RF (set by IRET from a fault frame) has done its work: it suppressed the DR0-DR3 check
        // above for this one instruction. It is dropped now so later pushes show it clear.
        if ((c.flags & RF) !== 0) c.flags &= ~RF;
        try {
          let partial = true;
          if (!inhibit && !tf && !step && !c.debugActive) {
            // Fast path: whole blocks, chained through their successor links.
            for (;;) {
              const fns = b.fns;
              const n = fns.length;
              if (n > max - done) break;
              let jf = b.jit;
              if (jf === null && this.jitEnabled && ++b.hits === JIT_THRESHOLD && !b.bp && !b.readsCount) jf = b.jit = translate(b);
              if (jf !== null) {
                inJit = true;
                const k = jf(c, max - done);
                inJit = false;
                done += k; c.icount += k;
                if (c.repPartial) { c.repPartial = false; done--; c.icount--; skipBp = true; }
                c.keepEip = false;
                i = 0;
                if (c.exitReq) { partial = false; break; }
                inLookup = true;
                b = this.successor(b);
                inLookup = false;
                if (b.bp) { partial = false; break; }
                continue;
              }
              for (i = 0; i < n; i++) {
                fns[i](c);
                if (c.exitReq) { i++; break; }
              }
              done += i; c.icount += i;
              if (c.repPartial) { c.repPartial = false; done--; c.icount--; skipBp = true; }
              if (c.keepEip) { c.keepEip = false; partial = false; break; }
              if (i < n) { c.eip = b.eips[i]; partial = false; break; }
              if (!b.endsWithBranch) c.eip = b.endEip;
              i = 0;
              if (c.exitReq) { partial = false; break; }
              inLookup = true;
              b = this.successor(b);
              inLookup = false;
              if (b.bp) { partial = false; break; }
            }
          }
          if (partial) {
            const fns = b.fns;
            let n = fns.length;
            if (n > max - done) n = max - done;
            if (inhibit || tf) n = 1;
            for (i = 0; i < n; i++) {
              fns[i](c);
              if (c.exitReq) { i++; break; }
            }
            done += i; c.icount += i;
            // Debugger watches force this path (debugActive): the hitting instruction is the last one run.
            if (i > 0 && c.debugWatch.hits.length > 0) c.debugWatch.eip = b.eips[i - 1];
            if (c.repPartial) { c.repPartial = false; done--; c.icount--; skipBp = true; }
            if (c.keepEip) c.keepEip = false;
            else if (i < fns.length) c.eip = b.eips[i];
            else if (!b.endsWithBranch) c.eip = b.endEip;
          }
        } catch (e) {
          c.keepEip = false;
          if (inJit) {
            const k = c.jitDone + c.jitIndex;
            done += k; c.icount += k;
            c.eip = b.eips[c.jitIndex];
          } else if (!inLookup) {
            done += i; c.icount += i;
            if (c.repPartial) { c.repPartial = false; done--; c.icount--; skipBp = true; }
            c.eip = b.eips[i];
          }
          if (e instanceof VmExitSignal) return vmexit(e);
          if (!(e instanceof CpuFault)) return stop('error', `internal error at 0x${c.eip.toString(16)}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
          raiseException(c, e.vector, e.code, 'fault');
          if (step && pendingStop(c) === null) return stop('limit', `${e.describe()} delivered`);
          continue;
        }
        inhibit = false;
        // After MOV SS / POP SS, debug traps wait for the next instruction too.
        const ssShadow = c.ssShadow;
        c.ssShadow = false;
        if ((tf || c.dbPending !== 0) && pendingStop(c) === null && !ssShadow) {
          // Single-step and data breakpoints: one #DB trap after the instruction.
          c.pendingDr6 = ((c.dr[6] & ~0xf) | c.dbPending | (tf ? 0x4000 : 0)) >>> 0;
          c.dbPending = 0;
          raiseException(c, EXC.DB, -1, 'trap');
        }
        if (step) {
          if (pendingStop(c) !== null) continue;
          return stop('limit', 'single step');
        }
      }
    } catch (e) {
      // From event delivery between instructions or a hook (after the rewind for a fault).
      if (e instanceof VmExitSignal) return vmexit(e);
      throw e;
    }
  }

  /** Delivers a pending NMI or external interrupt; true if one was delivered. */
  private events(): boolean {
    const c = this.c;
    if (c.nmiPending && !c.nmiBlocked) {
      c.nmiPending = false;
      c.halted = false;
      const h = c.intercept.interrupt;
      if (h !== undefined && h(c, -1)) return true;
      c.nmiBlocked = true;
      try {
        this.deliverExternal(EXC.NMI, true);
      } catch (e) {
        // Not delivered: the VMM re-injects it, and the injection blocks NMIs again.
        if (e instanceof VmExitSignal) c.nmiBlocked = false;
        throw e;
      }
      return true;
    }
    if (c.irqQueue.length > 0 && (c.flags & IF) !== 0) {
      const v = c.irqQueue.shift() as number;
      c.halted = false;
      const h = c.intercept.interrupt;
      if (h !== undefined && h(c, v)) return true;
      this.deliverExternal(v);
      return true;
    }
    return false;
  }

  private deliverExternal(vector: number, nmi = false): void {
    const c = this.c;
    try {
      deliver(c, vector, -1, false, true);
    } catch (e) {
      if (!(e instanceof CpuFault)) { noteDelivery(e, vector, -1, nmi ? 'nmi' : 'external'); throw e; }
      // A fault while delivering the interrupt: a VM exit it causes reports the interrupt as IDT-vectoring information.
      c.faultDuring = { vector, errorCode: -1, kind: nmi ? 'nmi' : 'external' };
      raiseException(c, e.vector, e.code, 'fault');
    }
  }
}
