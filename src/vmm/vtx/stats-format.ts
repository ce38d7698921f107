// The exit statistics as text, laid out like `perf kvm stat report`: one row
// per exit reason with Samples, Samples%, Time%, Min/Max/Avg time, then a
// total line. Times are modelled cycles ("cyc"), not measured time.

import type { ExitStatsReport, KeyStat } from './stats';

export interface StatsFormatOptions {
  /** Add the per-port, per-MSR, per-CPUID-leaf and per-vector tables (default true). */
  drillDowns?: boolean;
  /** First line; default `Analyze events for all VMs, all VCPUs (cost model: NAME):`. */
  title?: string;
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
const cyc = (x: number): string => `${Math.round(x).toLocaleString('en-US')}cyc`;
const avg = (x: number): string => `${x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}cyc`;

/** Right-aligned columns; the first column is right-aligned too, as perf prints it. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] + (i === 0 ? 2 : 0))).join('  ').trimEnd();
  return [line(header), '', ...rows.map(line)];
}

function drillDown(title: string, keyHeader: string, stats: KeyStat[]): string[] {
  if (stats.length === 0) return [];
  const rows = stats.map((s) => [s.key, String(s.count), pct(s.share), avg(s.avgCycles)]);
  return ['', `${title}:`, '', ...table([keyHeader, 'Samples', 'Samples%', 'Avg time'], rows)];
}

export function formatExitStats(report: ExitStatsReport, options: StatsFormatOptions = {}): string[] {
  const lines: string[] = [options.title ?? `Analyze events for all VMs, all VCPUs (cost model: ${report.model}):`, ''];
  const rows = report.reasons.map((r) => [r.name, String(r.count), pct(r.share), pct(r.timeShare), cyc(r.minCycles), cyc(r.maxCycles), avg(r.avgCycles)]);
  lines.push(...table(['VM-EXIT', 'Samples', 'Samples%', 'Time%', 'Min Time', 'Max Time', 'Avg time'], rows));
  lines.push('');
  lines.push(`Total Samples:${report.total}, Total modelled time:${cyc(report.totalCycles)}.`);
  if (options.drillDowns ?? true) {
    lines.push(...drillDown('I/O ports', 'PORT', report.ioPorts));
    lines.push(...drillDown('MSRs', 'MSR', report.msrs));
    lines.push(...drillDown('CPUID leaves', 'LEAF', report.cpuidLeaves));
    lines.push(...drillDown('Exception vectors', 'VECTOR', report.exceptions));
  }
  return lines;
}
