// Exit statistics in the manner of `perf kvm stat`: count and share per exit
// reason, with drill-downs per I/O port, MSR, CPUID leaf and exception vector.

import type { VmExit } from './exit-info';

/**
 * The place for a cycle cost model: given one exit, the cycles it would cost
 * (exit + handler + entry). No model is built in yet; when one is given to
 * `createVm`, the statistics add up its cycles per reason.
 */
export interface ExitCostModel {
  cyclesFor(exit: VmExit): number;
}

export interface ReasonStat { reason: number; name: string; count: number; share: number; cycles?: number }
export interface KeyStat { key: string; count: number; share: number }

export interface ExitStatsReport {
  total: number;
  reasons: ReasonStat[];
  ioPorts: KeyStat[];
  msrs: KeyStat[];
  cpuidLeaves: KeyStat[];
  exceptions: KeyStat[];
}

/** What a drill-down needs that the exit record itself does not hold (e.g. the CPUID leaf in EAX). */
export interface ExitDetail { cpuidLeaf?: number; msr?: number }

export class ExitStats {
  private total = 0;
  private readonly reasons = new Map<number, { name: string; count: number; cycles: number }>();
  private readonly io = new Map<string, number>();
  private readonly msrs = new Map<string, number>();
  private readonly cpuid = new Map<string, number>();
  private readonly exceptions = new Map<string, number>();

  constructor(private readonly cost?: ExitCostModel) {}

  record(exit: VmExit, detail: ExitDetail = {}): void {
    this.total++;
    const r = this.reasons.get(exit.reason) ?? { name: exit.name, count: 0, cycles: 0 };
    r.count++;
    if (this.cost !== undefined) r.cycles += this.cost.cyclesFor(exit);
    this.reasons.set(exit.reason, r);
    if (exit.reason === 30) {
      const port = exit.qualification >>> 16;
      const dir = (exit.qualification & 8) !== 0 ? 'in' : 'out';
      bump(this.io, `${hex(port)} ${dir}`);
    } else if ((exit.reason === 31 || exit.reason === 32) && detail.msr !== undefined) {
      bump(this.msrs, `${hex(detail.msr)} ${exit.reason === 31 ? 'read' : 'write'}`);
    } else if (exit.reason === 10 && detail.cpuidLeaf !== undefined) {
      bump(this.cpuid, hex(detail.cpuidLeaf));
    } else if (exit.reason === 0) {
      bump(this.exceptions, `vector ${exit.interruptionInfo & 0xff}`);
    }
  }

  report(): ExitStatsReport {
    const share = (n: number, of: number): number => (of === 0 ? 0 : n / of);
    const reasons = [...this.reasons.entries()]
      .map(([reason, r]): ReasonStat => ({ reason, name: r.name, count: r.count, share: share(r.count, this.total), ...(this.cost ? { cycles: r.cycles } : {}) }))
      .sort((a, b) => b.count - a.count || a.reason - b.reason);
    const keys = (m: Map<string, number>): KeyStat[] => {
      const sum = [...m.values()].reduce((a, b) => a + b, 0);
      return [...m.entries()].map(([key, count]) => ({ key, count, share: share(count, sum) }))
        .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
    };
    return { total: this.total, reasons, ioPorts: keys(this.io), msrs: keys(this.msrs), cpuidLeaves: keys(this.cpuid), exceptions: keys(this.exceptions) };
  }
}

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).toUpperCase()}`;
}
