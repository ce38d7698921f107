// A software technique's statistics as text, laid out like the VT-x exit
// statistics (src/vmm/vtx/stats-format.ts, after `perf kvm stat report`):
// one row per kind of trap into the VMM, then the translator's and the
// hypercall interface's figures. Times are modelled cycles.

import type { SoftStatsReport, TrapStat } from './stats';

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
const cyc = (x: number): string => `${Math.round(x).toLocaleString('en-US')}cyc`;
const avg = (x: number): string => `${x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}cyc`;
const n = (x: number): string => x.toLocaleString('en-US');

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] + (i === 0 ? 2 : 0))).join('  ').trimEnd();
  return [line(header), '', ...rows.map(line)];
}

function rows(stats: TrapStat[], count: number, cycles: number): string[][] {
  return stats.map((s) => [s.key, n(s.count), pct(count === 0 ? 0 : s.count / count), pct(cycles === 0 ? 0 : s.cycles / cycles), avg(s.cycles / s.count)]);
}

export function formatSoftStats(report: SoftStatsReport, technique: string): string[] {
  const lines = [`Analyze VMM work for the guest under ${technique} (cost model: ${report.model}):`, ''];
  const traps = report.byKind.filter((k) => !k.key.startsWith('callout: '));
  if (traps.length === 0) lines.push('no traps into the VMM');
  else lines.push(...table(['VMM-TRAP', 'Samples', 'Samples%', 'Time%', 'Avg time'], rows(traps, report.traps, report.trapCycles)));
  lines.push('', `Total traps:${n(report.traps)}, Total modelled time:${cyc(report.trapCycles)}. Virtualization holes:${n(report.holes)}.`);
  const t = report.translation;
  if (t.blocks > 0) {
    const callouts = report.byKind.filter((k) => k.key.startsWith('callout: ')).map((k) => ({ ...k, key: k.key.slice('callout: '.length) }));
    lines.push('', 'Binary translation:', '');
    lines.push(`  ${n(t.blocks)} blocks (${n(t.instructions)} instructions) translated, ${n(t.invalidations)} invalidated by writes to translated code`);
    lines.push(`  ${n(t.chained)} chained block transitions, ${n(t.lookups)} translation-cache lookups`);
    lines.push(`  ${n(t.callouts)} callouts, ${cyc(t.cycles)} in all (translation, lookups, callouts)`);
    if (callouts.length > 0) lines.push('', ...table(['CALLOUT', 'Samples', 'Samples%', 'Time%', 'Avg time'], rows(callouts, t.callouts, callouts.reduce((s, c) => s + c.cycles, 0))));
  }
  if (report.hypercalls.length > 0) {
    const count = report.hypercalls.reduce((s, h) => s + h.count, 0);
    const cycles = report.hypercalls.reduce((s, h) => s + h.cycles, 0);
    lines.push('', 'Hypercalls:', '', ...table(['HYPERCALL', 'Samples', 'Samples%', 'Time%', 'Avg time'], rows(report.hypercalls, count, cycles)));
  }
  if (report.rootSwitches.count > 0) lines.push('', `Shadow root switches (kernel in ring 3): ${n(report.rootSwitches.count)}, ${cyc(report.rootSwitches.cycles)}.`);
  lines.push('', `VMM modelled time in all:${cyc(report.vmmCycles)}.`);
  return lines;
}
