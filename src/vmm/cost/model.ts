// The cycle cost model: turns one VM exit (and what the VMM knew about it)
// into modelled cycles, from a CostTable. Pure arithmetic on the table and the
// exit record, so the same guest always gives the same numbers.

import type { Instr } from '../../x86/decode/instr';
import type { VmExit } from '../vtx/exit-info';
import type { ExitCostModel, ExitDetail } from '../vtx/stats';
import { DEFAULT_COST_TABLE, mergeCostTable, type CostTable, type CostTableOverride, type InstructionClass } from './table';

/** Exit reasons with a cost term beyond the fixed part (SDM numbers). */
const EXCEPTION_NMI = 0;
const IO_INSTRUCTION = 30;
const EPT_VIOLATION = 48;
const EPT_MISCONFIG = 49;
const PF_VECTOR = 14;

/** Qualification of exit 30 (SDM "Exit Qualification for I/O Instructions"): bit 4 string instruction, bit 5 REP prefix. */
const IO_STRING = 1 << 4;
const IO_REP = 1 << 5;

/**
 * Paging-structure references of one two-dimensional walk: each of the
 * guest's `guestLevels` entries and the final guest-physical address is
 * translated through `eptLevels` EPT levels, plus the guest entries
 * themselves: (g + 1)(e + 1) − 1. Four-level guest on four-level EPT: 24.
 */
export function twoDimensionalWalkRefs(guestLevels: number, eptLevels: number): number {
  return (guestLevels + 1) * (eptLevels + 1) - 1;
}

/** The parts one exit's cycles are made of, for display and tests. */
export interface ExitCostBreakdown {
  /** roundTrip + handler, or the flat `reasons` / `perExit` value that replaces them. */
  fixed: number;
  /** String I/O elements moved by the emulator. */
  stringIo: number;
  /** Page-walk levels charged (EPT walk of a violation, software walk of a shadow-paging #PF). */
  walk: number;
  total: number;
}

export class CycleCostModel implements ExitCostModel {
  readonly table: Readonly<CostTable>;

  /**
   * Fixed cycles per exit reason: the table is frozen all the way down, so they never change. Kept by
   * reason number (the name, the table's key, follows from it): an array index costs less than hashing a name.
   */
  private readonly fixedByReason: (number | undefined)[] = [];

  constructor(override: CostTableOverride = {}, base: Readonly<CostTable> = DEFAULT_COST_TABLE) {
    const t = mergeCostTable(base, override);
    Object.freeze(t.handlers);
    Object.freeze(t.reasons);
    Object.freeze(t.instruction);
    this.table = Object.freeze(t);
  }

  get name(): string {
    return this.table.name;
  }

  cyclesFor(exit: VmExit, detail?: ExitDetail): number {
    return this.fixedCycles(exit) + this.stringIoCycles(exit, detail) + this.walkCycles(exit, detail);
  }

  breakdown(exit: VmExit, detail?: ExitDetail): ExitCostBreakdown {
    const fixed = this.fixedCycles(exit);
    const stringIo = this.stringIoCycles(exit, detail);
    const walk = this.walkCycles(exit, detail);
    return { fixed, stringIo, walk, total: fixed + stringIo + walk };
  }

  private fixedCycles(exit: VmExit): number {
    const known = this.fixedByReason[exit.reason];
    if (known !== undefined) return known;
    const t = this.table;
    const fixed = t.reasons[exit.name] ?? t.perExit ?? t.roundTrip + (t.handlers[exit.name] ?? t.defaultHandler);
    this.fixedByReason[exit.reason] = fixed;
    return fixed;
  }

  /** The emulator moves string I/O one element at a time, each one a port access in root mode. */
  private stringIoCycles(exit: VmExit, detail: ExitDetail | undefined): number {
    if (exit.reason !== IO_INSTRUCTION || (exit.qualification & IO_STRING) === 0) return 0;
    const elements = (exit.qualification & IO_REP) !== 0 ? Math.max(0, detail?.repCount ?? 1) : 1;
    return elements * (this.table.stringIoPerElement + this.table.instruction.string);
  }

  private walkCycles(exit: VmExit, detail: ExitDetail | undefined): number {
    const t = this.table;
    if (exit.reason === EPT_VIOLATION || exit.reason === EPT_MISCONFIG) return t.walkLevel * (detail?.walkLevels ?? t.eptLevels);
    // Shadow paging: the VMM walks the guest's tables in software to decide what the fault means.
    if (exit.reason === EXCEPTION_NMI && (exit.interruptionInfo & 0xff) === PF_VECTOR) return t.walkLevel * (detail?.walkLevels ?? t.guestLevels);
    return 0;
  }

  /** Cycles of one TLB miss with EPT on: a full two-dimensional walk (estimate, see docs/vmm-costs.md). */
  tlbMissCycles(): number {
    return this.table.walkLevel * twoDimensionalWalkRefs(this.table.guestLevels, this.table.eptLevels);
  }

  /** Cycles of one guest instruction; `iterations` counts the iterations of a rep-prefixed string instruction. */
  instructionCycles(instr: Instr, iterations = 1): number {
    const cls = classifyInstruction(instr);
    return cls === 'string' ? this.table.instruction.string * Math.max(0, iterations) : this.table.instruction[cls];
  }

  /** Cycles of a guest instruction mix (class → count; for `string`, iterations). */
  guestCycles(mix: Partial<Record<InstructionClass, number>>): number {
    let sum = 0;
    for (const [cls, n] of Object.entries(mix) as [InstructionClass, number][]) sum += this.table.instruction[cls] * n;
    return sum;
  }
}

const STRING_OPS = new Set(['movsb', 'movsw', 'movsd', 'stosb', 'stosw', 'stosd', 'lodsb', 'lodsw', 'lodsd', 'cmpsb', 'cmpsw', 'cmpsd', 'scasb', 'scasw', 'scasd', 'insb', 'insw', 'insd', 'outsb', 'outsw', 'outsd']);
const BRANCH_OPS = new Set(['jmp', 'call', 'ret', 'retf', 'loop', 'loope', 'loopne', 'jcxz', 'jecxz']);
/** Privileged, serialising or mode-changing instructions: the "system" class. */
const SYSTEM_OPS = new Set([
  'cpuid', 'hlt', 'in', 'out', 'rdmsr', 'wrmsr', 'rdtsc', 'rdtscp', 'rdpmc', 'invd', 'wbinvd', 'invlpg', 'lgdt', 'lidt', 'sgdt', 'sidt',
  'lldt', 'sldt', 'ltr', 'str', 'lmsw', 'smsw', 'clts', 'cli', 'sti', 'int', 'int3', 'into', 'iret', 'iretd', 'pushf', 'pushfd', 'popf', 'popfd',
  'xsetbv', 'monitor', 'mwait', 'pause', 'vmcall', 'vmlaunch', 'vmresume', 'vmxoff', 'vmxon', 'vmptrld', 'vmptrst', 'vmclear', 'vmread',
  'vmwrite', 'invept', 'invvpid', 'vmfunc', 'ud2', 'lar', 'lsl', 'verr', 'verw', 'arpl',
]);

/** The cost class of a decoded instruction: its mnemonic, then whether an operand is in memory. */
export function classifyInstruction(instr: Instr): InstructionClass {
  const m = instr.mnemonic;
  if (STRING_OPS.has(m) && instr.operands.every((o) => o.kind !== 'reg' && o.kind !== 'imm')) return 'string';
  if (SYSTEM_OPS.has(m) || instr.operands.some((o) => o.kind === 'creg' || o.kind === 'dreg' || o.kind === 'sreg' || o.kind === 'far')) return 'system';
  if (BRANCH_OPS.has(m) || instr.cc >= 0 && m.startsWith('j')) return 'branch';
  if (instr.operands.some((o) => o.kind === 'mem') || m.startsWith('push') || m.startsWith('pop')) return 'memory';
  return 'alu';
}

/** A fresh model with the default table (the one a VM without a `costModel` option uses). */
export function defaultCostModel(): CycleCostModel {
  return new CycleCostModel();
}
