// Binary translation of the guest kernel (the VMware approach). Before a
// block of kernel code first runs, the translator decodes it up to and
// including its first control transfer and marks every sensitive or
// privileged instruction as a *callout*: a call of the VMM's emulation in
// place of the instruction. Everything else runs natively, in the kernel's
// ring (1, or 3: the same callouts serve both). The cache is keyed by
// guest-linear address; a store to a page holding translated code drops that
// page's blocks (self-modifying code); a block remembers the translated
// blocks it went to, so going there again is a chained jump with no lookup.
// User-mode code is never translated.
//
// The simulator runs a block's native stretches on the CPU engine, exactly
// as many instructions as lie before the next callout, and performs each
// callout itself: the guest's EIP stays a guest address throughout.

import type { StopInfo } from '../../x86/machine';
import { CS, type Cpu } from '../../x86/cpu/cpu';
import type { Instr } from '../../x86/decode/instr';
import { formatInstr } from '../../x86/disasm/index';
import type { SoftVm } from './soft-vm';

export interface TranslatedInstr {
  /** Guest-linear address. */
  address: number;
  length: number;
  /** The original instruction (NASM syntax). */
  text: string;
  /** Rewritten into a call of the VMM's emulation. */
  callout: boolean;
  /** The translated form: the instruction itself, or the VMM routine it calls. */
  translated: string;
  instr: Instr;
}

export interface TranslatedBlock {
  id: number;
  start: number;
  instrs: TranslatedInstr[];
  /** Guest-physical pages the block's bytes came from. */
  pages: number[];
  /** Translated blocks control went to from this one (chained jumps). */
  links: Map<number, TranslatedBlock>;
  valid: boolean;
  runs: number;
}

/** Most instructions one block holds. */
const MAX_BLOCK = 32;
const TERMINATORS = new Set(['jmp', 'call', 'ret', 'retf', 'iret', 'iretd', 'iretw', 'int', 'int3', 'into', 'int1', 'loop', 'loope', 'loopne', 'jcxz', 'jecxz', 'hlt', 'ud2', 'sysenter', 'sysexit']);
const CALLOUTS = new Set(['cli', 'sti', 'hlt', 'clts', 'invd', 'wbinvd', 'lmsw', 'smsw', 'in', 'out', 'lgdt', 'lidt', 'sgdt', 'sidt', 'sldt', 'str', 'lldt', 'ltr', 'invlpg', 'iret', 'iretd', 'pushf', 'pushfd', 'popf', 'popfd', 'rdmsr', 'wrmsr']);

/** Whether the translator rewrites `ins` into a callout (sensitive or privileged for a ring-1 or ring-3 kernel). */
export function isCallout(ins: Instr): boolean {
  if (CALLOUTS.has(ins.mnemonic)) return true;
  const ops = ins.operands;
  if (ins.mnemonic === 'mov') return ops.some((o) => o.kind === 'creg' || o.kind === 'dreg') || (ops[0].kind === 'sreg' && ops[0].reg === 2) || (ops[1]?.kind === 'sreg' && (ops[1].reg === 1 || ops[1].reg === 2));
  if (ins.mnemonic === 'push') return ops[0]?.kind === 'sreg' && (ops[0].reg === 1 || ops[0].reg === 2);
  if (ins.mnemonic === 'pop') return ops[0]?.kind === 'sreg' && ops[0].reg === 2;
  return false;
}

const isTerminator = (ins: Instr): boolean => TERMINATORS.has(ins.mnemonic) || (ins.cc >= 0 && ins.mnemonic.startsWith('j'));

export class Translator {
  private readonly blocks = new Map<number, TranslatedBlock>();
  /** Every translated instruction's address → its block (a run resumes mid-block after a callout). */
  private readonly byAddress = new Map<number, TranslatedBlock>();
  private readonly pageBlocks = new Map<number, Set<TranslatedBlock>>();
  private nextId = 1;
  /** The block execution last left at its end, for chaining. */
  private from: TranslatedBlock | null = null;

  constructor(private readonly vm: SoftVm) {
    vm.cpu.mem.addCodeWriteListener((page) => this.invalidatePage(page));
  }

  /** Translated blocks now in the cache, by start address. */
  cached(): TranslatedBlock[] {
    return [...this.blocks.values()].sort((a, b) => a.start - b.start);
  }

  /** The block holding the instruction at `linear`, if translated. */
  blockAt(linear: number): TranslatedBlock | undefined {
    return this.byAddress.get(linear >>> 0);
  }

  private invalidatePage(page: number): void {
    const set = this.pageBlocks.get(page);
    if (set === undefined) return;
    for (const b of set) {
      if (!b.valid) continue;
      b.valid = false;
      this.blocks.delete(b.start);
      for (const i of b.instrs) if (this.byAddress.get(i.address) === b) this.byAddress.delete(i.address);
      this.vm.stats.translation.invalidations++;
    }
    this.pageBlocks.delete(page);
    this.from = null;
    this.vm.cpu.exitReq = true;
  }

  /** Translates the block starting at CS:EIP; null when its first instruction cannot be fetched. */
  private translate(eip: number): TranslatedBlock | null {
    const vm = this.vm;
    const base = vm.cpu.seg[CS].base;
    const instrs: TranslatedInstr[] = [];
    const pages = new Set<number>();
    let at = eip >>> 0;
    while (instrs.length < MAX_BLOCK) {
      const ins = vm.instructionAt(at);
      if (ins === null) break;
      const linear = (base + at) >>> 0;
      for (const a of [linear, (linear + ins.length - 1) >>> 0]) {
        const r = vm.guest.resolve(a, false, false, false);
        if (r.ok) pages.add(r.gpa >>> 12);
      }
      const callout = isCallout(ins);
      const text = formatInstr(ins, 32);
      instrs.push({ address: linear, length: ins.length, text, callout, translated: callout ? `call vmm_${ins.mnemonic}` : text, instr: ins });
      at = (at + ins.length) >>> 0;
      if (isTerminator(ins)) break;
    }
    if (instrs.length === 0) return null;
    const block: TranslatedBlock = { id: this.nextId++, start: instrs[0].address, instrs, pages: [...pages], links: new Map(), valid: true, runs: 0 };
    this.blocks.set(block.start, block);
    for (const i of instrs) this.byAddress.set(i.address, block);
    for (const p of pages) {
      let set = this.pageBlocks.get(p);
      if (set === undefined) this.pageBlocks.set(p, (set = new Set()));
      set.add(block);
      vm.cpu.mem.markCode(p);
    }
    vm.stats.translated(instrs.length);
    return block;
  }

  /**
   * Runs virtual-kernel code through the translation cache for at most
   * `budget` instructions. It stops at the engine's breakpoints, also where
   * a dispatch or a callout starts, except at `passBreakpointAt` until an
   * instruction has run (the resume point), and gives way to a pause request.
   */
  run(budget: number, passBreakpointAt = -1): StopInfo {
    const vm = this.vm;
    const c = vm.cpu;
    let used = 0;
    let passAt = passBreakpointAt;
    const stop = (s: StopInfo | null): StopInfo => s === null
      ? { reason: 'limit', message: 'translated run', instructions: used, eip: c.eip >>> 0, cs: c.seg[CS].selector }
      : { ...s, instructions: used };
    const breakpointAt = (linear: number): boolean => linear !== passAt && vm.engine.breakpoints.has(linear);
    const atBreakpoint = (linear: number): StopInfo => stop({ reason: 'breakpoint', message: `breakpoint at 0x${linear.toString(16)}`, instructions: 0, eip: c.eip >>> 0, cs: c.seg[CS].selector });
    // As the engine does: a request made before this run (a nudge to look at interrupts) was answered by the caller.
    c.stopRequest = null;
    while (used < budget) {
      vm.syncCpl();
      if (vm.v.cpl !== 0 || vm.v.halted || vm.pauseRequested !== null) break;
      const linear = (c.seg[CS].base + c.eip) >>> 0;
      if (breakpointAt(linear)) return atBreakpoint(linear);
      let block = this.byAddress.get(linear);
      const atStart = block !== undefined && block.start === linear;
      if (block === undefined || !block.valid) {
        const made = this.translate(c.eip);
        if (made === null) {
          // Not fetchable: let the processor fault on it (the VMM then fills or reflects the #PF).
          const s = vm.engine.run(1);
          used += s.instructions;
          if (s.instructions > 0) passAt = -1;
          if (s.reason !== 'limit') return stop(s);
          continue;
        }
        block = made;
        if (this.from !== null) this.from.links.set(linear, block);
      } else if (atStart) {
        if (this.from !== null && this.from.links.get(linear) === block) vm.stats.translation.chained++;
        else {
          vm.stats.lookup();
          if (this.from !== null) this.from.links.set(linear, block);
        }
      }
      if (block.start === linear) block.runs++;
      this.from = null;
      let idx = block.instrs.findIndex((i) => i.address === linear);
      let n = 0;
      while (idx + n < block.instrs.length && !block.instrs[idx + n].callout) n++;
      if (n > 0) {
        const want = Math.min(n, budget - used);
        const s = vm.engine.run(want);
        used += s.instructions;
        if (s.instructions > 0) passAt = -1;
        if (s.reason !== 'limit') return stop(s);
        const after = (c.seg[CS].base + c.eip) >>> 0;
        idx += n;
        // Left at the block's end (not redirected by a trap): the next dispatch may chain.
        if (s.instructions === n && idx >= block.instrs.length) this.from = block;
        if (s.instructions !== n || idx >= block.instrs.length || block.instrs[idx].address !== after) continue;
      }
      const call = block.instrs[idx];
      if (breakpointAt(call.address)) return atBreakpoint(call.address);
      vm.stats.callout(call.instr.mnemonic);
      vm.emulateInstruction(call.instr, call.length);
      c.icount++;
      used++;
      passAt = -1;
      if (idx === block.instrs.length - 1) this.from = block;
      const req = stopRequestOf(c);
      if (req !== null) {
        if (req.reason === 'limit') c.stopRequest = null;
        break;
      }
    }
    return stop(null);
  }
}

// Read through a call: emulation sets it behind the type checker's back.
const stopRequestOf = (c: Cpu): Cpu['stopRequest'] => c.stopRequest;
