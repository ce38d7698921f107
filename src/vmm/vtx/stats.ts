// Exit statistics in the manner of `perf kvm stat report`: per exit reason the
// count and share of exits, modelled cycles with their share of the time spent
// in exits, min / max / average per exit; drill-downs per I/O port and
// direction, MSR and access, CPUID leaf and exception vector.

import type { VmExit } from './exit-info';

/** What a drill-down or the cost model needs that the exit record itself does not hold. */
export interface ExitDetail {
  /** EAX at a CPUID exit. */
  cpuidLeaf?: number;
  /** ECX at an RDMSR/WRMSR exit. */
  msr?: number;
  /** ECX (CX with a 16-bit address size) at a REP-prefixed string I/O exit: the elements the instruction moves. */
  repCount?: number;
  /** Paging-structure levels walked for this exit (an EPT violation, a shadow-paging #PF), when the VMM knows. */
  walkLevels?: number;
}

/**
 * A cycle cost model: the cycles one exit costs (exit + handler + entry).
 * `createVm` uses the default model of src/vmm/cost when none is given.
 */
export interface ExitCostModel {
  /** Shown with the statistics. */
  readonly name?: string;
  cyclesFor(exit: VmExit, detail?: ExitDetail): number;
}

export interface ReasonStat {
  reason: number;
  name: string;
  count: number;
  /** Share of all exits (Samples%). */
  share: number;
  /** Modelled cycles of all exits with this reason. */
  cycles: number;
  /** Share of the modelled cycles of all exits (Time%). */
  timeShare: number;
  minCycles: number;
  maxCycles: number;
  avgCycles: number;
}

export interface KeyStat {
  key: string;
  count: number;
  /** Share of the exits in this drill-down. */
  share: number;
  cycles: number;
  avgCycles: number;
}

export interface ExitStatsReport {
  total: number;
  /** Modelled cycles of all exits. */
  totalCycles: number;
  /** Name of the cost model. */
  model: string;
  reasons: ReasonStat[];
  /** Key: port and direction, e.g. "0x3F8 out". */
  ioPorts: KeyStat[];
  /** Key: MSR and access, e.g. "0x174 write". */
  msrs: KeyStat[];
  /** Key: leaf in EAX, e.g. "0x40000000". */
  cpuidLeaves: KeyStat[];
  /** Key: "vector 14". */
  exceptions: KeyStat[];
}

/** One exit reason's accumulator as JSON. */
export interface AccJson { name: string; count: number; cycles: number; min: number; max: number }
/** One drill-down accumulator as JSON. */
export interface KeyJson { count: number; cycles: number }

/** The accumulators as plain JSON, for whole-VM snapshots. */
export interface StatsSnapshot {
  total: number;
  totalCycles: number;
  reasons: [number, AccJson][];
  io: [number, KeyJson][];
  msrs: [number, KeyJson][];
  cpuid: [number, KeyJson][];
  exceptions: [number, KeyJson][];
}

interface Acc { name: string; count: number; cycles: number; min: number; max: number }
interface KeyAcc { count: number; cycles: number }

/** Exit reasons with a drill-down (SDM numbers). */
const EXCEPTION_NMI = 0;
const CPUID = 10;
const IO_INSTRUCTION = 30;
const MSR_READ = 31;
const MSR_WRITE = 32;

export class ExitStats {
  private total = 0;
  private totalCycles = 0;
  private readonly reasons = new Map<number, Acc>();
  // Numeric keys keep the per-exit path free of string building; report() names them.
  /** port × 2 + 1 for IN. */
  private readonly io = new Map<number, KeyAcc>();
  /** MSR × 2 + 1 for a write. */
  private readonly msrs = new Map<number, KeyAcc>();
  private readonly cpuid = new Map<number, KeyAcc>();
  private readonly exceptions = new Map<number, KeyAcc>();

  constructor(readonly cost?: ExitCostModel) {}

  /** Counts one exit; returns the cycles the model charged for it. */
  record(exit: VmExit, detail: ExitDetail = {}): number {
    const cycles = this.cost === undefined ? 0 : this.cost.cyclesFor(exit, detail);
    this.total++;
    this.totalCycles += cycles;
    let r = this.reasons.get(exit.reason);
    if (r === undefined) {
      r = { name: exit.name, count: 0, cycles: 0, min: cycles, max: cycles };
      this.reasons.set(exit.reason, r);
    }
    r.count++;
    r.cycles += cycles;
    if (cycles < r.min) r.min = cycles;
    if (cycles > r.max) r.max = cycles;
    if (exit.reason === IO_INSTRUCTION) {
      bump(this.io, (exit.qualification >>> 16) * 2 + ((exit.qualification >>> 3) & 1), cycles);
    } else if ((exit.reason === MSR_READ || exit.reason === MSR_WRITE) && detail.msr !== undefined) {
      bump(this.msrs, (detail.msr >>> 0) * 2 + (exit.reason === MSR_WRITE ? 1 : 0), cycles);
    } else if (exit.reason === CPUID && detail.cpuidLeaf !== undefined) {
      bump(this.cpuid, detail.cpuidLeaf >>> 0, cycles);
    } else if (exit.reason === EXCEPTION_NMI) {
      bump(this.exceptions, exit.interruptionInfo & 0xff, cycles);
    }
    return cycles;
  }

  get exits(): number {
    return this.total;
  }

  get cycles(): number {
    return this.totalCycles;
  }

  snapshot(): StatsSnapshot {
    const rows = <T extends object>(m: Map<number, T>): [number, T][] => [...m].map(([k, x]) => [k, { ...x }]);
    return {
      total: this.total, totalCycles: this.totalCycles, reasons: rows(this.reasons),
      io: rows(this.io), msrs: rows(this.msrs), cpuid: rows(this.cpuid), exceptions: rows(this.exceptions),
    };
  }

  restore(s: StatsSnapshot): void {
    this.total = s.total;
    this.totalCycles = s.totalCycles;
    const fill = <T extends object>(m: Map<number, T>, rows: [number, T][]): void => {
      m.clear();
      for (const [k, x] of rows) m.set(k, { ...x });
    };
    fill(this.reasons, s.reasons);
    fill(this.io, s.io);
    fill(this.msrs, s.msrs);
    fill(this.cpuid, s.cpuid);
    fill(this.exceptions, s.exceptions);
  }

  report(): ExitStatsReport {
    const share = (n: number, of: number): number => (of === 0 ? 0 : n / of);
    const reasons = [...this.reasons.entries()]
      .map(([reason, r]): ReasonStat => ({
        reason, name: r.name, count: r.count, share: share(r.count, this.total),
        cycles: r.cycles, timeShare: share(r.cycles, this.totalCycles),
        minCycles: r.min, maxCycles: r.max, avgCycles: share(r.cycles, r.count),
      }))
      .sort((a, b) => b.count - a.count || a.reason - b.reason);
    const keys = (m: Map<number, KeyAcc>, name: (k: number) => string): KeyStat[] => {
      let sum = 0;
      for (const k of m.values()) sum += k.count;
      return [...m.entries()].map(([key, k]) => ({ key: name(key), count: k.count, share: share(k.count, sum), cycles: k.cycles, avgCycles: share(k.cycles, k.count) }))
        .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
    };
    return {
      total: this.total, totalCycles: this.totalCycles, model: this.cost?.name ?? (this.cost === undefined ? 'none' : 'custom'),
      reasons,
      ioPorts: keys(this.io, (k) => `${hex(Math.floor(k / 2))} ${k % 2 === 1 ? 'in' : 'out'}`),
      msrs: keys(this.msrs, (k) => `${hex(Math.floor(k / 2))} ${k % 2 === 1 ? 'write' : 'read'}`),
      cpuidLeaves: keys(this.cpuid, hex),
      exceptions: keys(this.exceptions, (k) => `vector ${k}`),
    };
  }
}

function bump(m: Map<number, KeyAcc>, key: number, cycles: number): void {
  const k = m.get(key);
  if (k === undefined) m.set(key, { count: 1, cycles });
  else {
    k.count++;
    k.cycles += cycles;
  }
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).toUpperCase()}`;
}
