// What a software technique costs: traps into the VMM by kind, the binary
// translator's work and callouts, hypercalls, and the cycles the cost table
// charges for each. The software counterpart of the VT-x exit statistics.

/** Cycle costs of the software techniques (estimates, docs/vmm-costs.md "Software techniques"). */
export interface SoftCostTable {
  name: string;
  /** An exception into the real ring 0 and the IRET back to the guest. */
  trapRoundTrip: number;
  /** Decoding and emulating one privileged or sensitive instruction (trapped, or reached as a callout). */
  emulate: number;
  /**
   * The device model's work for one port access, in place of `emulate` for IN/OUT and on top of the
   * I/O hypercalls: the same figure as the VT-x model's IO_INSTRUCTION handler, so that every technique
   * pays the same for the device and differs only in how it reaches it.
   */
  ioDevice: number;
  /** Walking the guest's tables and writing one shadow entry (on top of the trap). */
  shadowFill: number;
  /** Building the guest's exception frame and entering its handler in software. */
  reflect: number;
  /** A device interrupt taken by the VMM (on top of reflecting it). */
  interrupt: number;
  /** A hypercall's handler (on top of the trap round trip). */
  hypercall: number;
  /** A translated callout: a call into the VMM's emulation, no privilege change. */
  callout: number;
  /** Translating one guest instruction (decode, classify, emit). */
  translatePerInstruction: number;
  /** A translation-cache lookup at an unchained block exit. */
  lookup: number;
  /**
   * Switching the real CR3 between the kernel's and the user's shadow root (kernel in ring 3):
   * the load and the TLB refill the next stretch of guest code pays for.
   */
  rootSwitch: number;
  /** One guest instruction run natively (the cost model's CPI, also the native baseline's). */
  instruction: number;
}

export const DEFAULT_SOFT_COSTS: Readonly<SoftCostTable> = Object.freeze({
  name: 'soft-default',
  trapRoundTrip: 800,
  emulate: 300,
  ioDevice: 700,
  shadowFill: 600,
  reflect: 400,
  interrupt: 300,
  hypercall: 250,
  callout: 40,
  translatePerInstruction: 200,
  lookup: 30,
  rootSwitch: 150,
  instruction: 1,
});

export interface TrapStat {
  key: string;
  count: number;
  cycles: number;
}

export interface SoftStatsReport {
  model: string;
  traps: number;
  trapCycles: number;
  /** By kind and detail: "#GP: cli", "#PF: shadow fill", "interrupt: vector 0x20", "hypercall: CONSOLE_WRITE"… */
  byKind: TrapStat[];
  holes: number;
  translation: { blocks: number; instructions: number; callouts: number; chained: number; lookups: number; invalidations: number; cycles: number };
  hypercalls: TrapStat[];
  /** Shadow-root switches with the kernel in ring 3 (none in ring 1). */
  rootSwitches: { count: number; cycles: number };
  /** Every VMM cycle: traps, callouts, translation, lookups, root switches. */
  vmmCycles: number;
}

export class SoftStats {
  private readonly kinds = new Map<string, TrapStat>();
  private readonly calls = new Map<string, TrapStat>();
  traps = 0;
  trapCycles = 0;
  holes = 0;
  readonly translation = { blocks: 0, instructions: 0, callouts: 0, chained: 0, lookups: 0, invalidations: 0, cycles: 0 };
  readonly rootSwitches = { count: 0, cycles: 0 };

  constructor(readonly costs: Readonly<SoftCostTable> = DEFAULT_SOFT_COSTS) {}

  /** One trap into the VMM, `extra` cycles of work beyond the round trip. */
  trap(key: string, extra: number): number {
    const cycles = this.costs.trapRoundTrip + extra;
    this.traps++;
    this.trapCycles += cycles;
    add(this.kinds, key, cycles);
    return cycles;
  }

  /** One hypercall by name; `cycles` as its trap was charged (default: round trip and handler). */
  hypercall(name: string, cycles = this.costs.trapRoundTrip + this.costs.hypercall): void {
    add(this.calls, name, cycles);
  }

  /** Cycles of emulating one instruction: the device model's for port I/O, the generic figure otherwise. */
  emulationCost(mnemonic: string): number {
    return IO_MNEMONICS.has(mnemonic) ? this.costs.ioDevice : this.costs.emulate;
  }

  /** A translated callout: the call into the VMM (no privilege change) and the emulation it runs. */
  callout(mnemonic: string): void {
    const cycles = this.costs.callout + this.emulationCost(mnemonic);
    this.translation.callouts++;
    this.translation.cycles += cycles;
    add(this.kinds, `callout: ${mnemonic}`, cycles);
  }

  translated(instructions: number): void {
    this.translation.blocks++;
    this.translation.instructions += instructions;
    this.translation.cycles += instructions * this.costs.translatePerInstruction;
  }

  lookup(): void {
    this.translation.lookups++;
    this.translation.cycles += this.costs.lookup;
  }

  /** The real CR3 went to the other shadow root (the guest's virtual privilege changed, kernel in ring 3). */
  rootSwitch(): void {
    this.rootSwitches.count++;
    this.rootSwitches.cycles += this.costs.rootSwitch;
  }

  get vmmCycles(): number {
    return this.trapCycles + this.translation.cycles + this.rootSwitches.cycles;
  }

  report(): SoftStatsReport {
    const sorted = (m: Map<string, TrapStat>): TrapStat[] => [...m.values()].sort((a, b) => b.count - a.count || a.key.localeCompare(b.key)).map((s) => ({ ...s }));
    return {
      model: this.costs.name, traps: this.traps, trapCycles: this.trapCycles, byKind: sorted(this.kinds), holes: this.holes,
      translation: { ...this.translation }, hypercalls: sorted(this.calls), rootSwitches: { ...this.rootSwitches }, vmmCycles: this.vmmCycles,
    };
  }
}

const IO_MNEMONICS: ReadonlySet<string> = new Set(['in', 'out', 'insb', 'insw', 'insd', 'outsb', 'outsw', 'outsd']);

function add(m: Map<string, TrapStat>, key: string, cycles: number): void {
  const s = m.get(key);
  if (s === undefined) m.set(key, { key, count: 1, cycles });
  else {
    s.count++;
    s.cycles += cycles;
  }
}
