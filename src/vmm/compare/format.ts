// The comparison as a plain-text table (the CLI) and as Markdown (the
// editor's preview). Both list the same columns; the details under the table
// say why a row is wrong and what the VMM spent its cycles on.

import type { CompareResult, CompareRow, EventCount } from './compare';

const n = (v: number): string => v.toLocaleString('en-US');
const hex = (v: number): string => `0x${(v >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
/** How many kinds of exit or trap the details list per row. */
const TOP_KINDS = 4;

export const COMPARE_COLUMNS = ['technique', 'result', 'stop', 'exits/traps', 'holes', 'blocks', 'hypercalls', 'instructions', 'VMM cycles', 'cycles', '× native'] as const;

function cells(r: CompareRow): string[] {
  if (r.skipped !== undefined) return [r.label, 'skipped', '', '', '', '', '', '', '', '', ''];
  const events = r.eventsKind === 'none' ? '-' : `${n(r.events)} ${r.eventsKind}`;
  return [
    r.label,
    r.correct ? 'correct' : 'WRONG',
    r.stop.reason,
    events,
    r.eventsKind === 'traps' ? n(r.holes) : '-',
    r.technique === 'binary-translation' ? n(r.translatedBlocks) : '-',
    r.technique === 'paravirt' ? n(r.hypercalls) : '-',
    n(r.instructions),
    n(r.vmmCycles),
    n(r.cycles),
    r.ratio === null ? '-' : r.ratio.toFixed(2),
  ];
}

const kinds = (list: EventCount[]): string =>
  list.slice(0, TOP_KINDS).map((k) => `${k.key} ×${n(k.count)}`).join(', ') + (list.length > TOP_KINDS ? `, … (${list.length - TOP_KINDS} more)` : '');

/** What a reader needs under the table: per row, why it is wrong, its costliest kinds, hypercalls, cache. */
export function compareDetails(r: CompareRow): string[] {
  if (r.skipped !== undefined) return [`${r.label}: skipped — ${r.skipped}`];
  const lines: string[] = [];
  if (!r.correct) {
    const d = r.divergence;
    if (d !== undefined) {
      const show = (s: string | null): string => (s === null ? '(no such line)' : JSON.stringify(s));
      lines.push(`${r.label}: output differs from native at line ${d.line}: expected ${show(d.expected)}, got ${show(d.got)}`);
    }
    lines.push(`${r.label}: stopped with ${r.stop.reason} — ${r.stop.message}`);
    if (r.ratio !== null) lines.push(`${r.label}: the cycle ratio counts a run that ended early; it is not comparable`);
  }
  if (r.firstHole !== undefined) {
    const h = r.firstHole;
    lines.push(`${r.label}: first virtualization hole at ${hex(h.rip)} \`${h.instruction}\`: the guest saw ${h.saw}; expected ${h.expected}`);
  }
  if (r.byKind.length > 0) lines.push(`${r.label}: ${r.eventsKind} by kind: ${kinds(r.byKind)}`);
  if (r.technique === 'binary-translation') lines.push(`${r.label}: ${n(r.translatedBlocks)} blocks translated, ${n(r.callouts)} callouts`);
  if (r.hypercallsByName.length > 0) lines.push(`${r.label}: hypercalls: ${kinds(r.hypercallsByName)}`);
  return lines;
}

/** The table as aligned plain text, then the details. */
export function formatCompareText(result: CompareResult): string[] {
  const rows = [COMPARE_COLUMNS as readonly string[], ...result.rows.map(cells)];
  const width = COMPARE_COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  // Text columns align left, figures right.
  const left = new Set([0, 1, 2]);
  const line = (r: readonly string[]): string => r.map((c, i) => (left.has(i) ? c.padEnd(width[i]) : c.padStart(width[i]))).join('  ').trimEnd();
  const out = [line(rows[0]), ...rows.slice(1).map(line), ''];
  for (const r of result.rows) out.push(...compareDetails(r));
  out.push('', `cycles: ${result.cycleModel}`);
  return out;
}

/** The table as a Markdown document (the editor's "Compare techniques" preview). */
export function formatCompareMarkdown(result: CompareResult, title: string): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [`# ${esc(title)}`, '', `| ${COMPARE_COLUMNS.join(' | ')} |`, `|${COMPARE_COLUMNS.map((_, i) => (i < 3 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of result.rows) out.push(`| ${cells(r).map(esc).join(' | ')} |`);
  out.push('');
  for (const r of result.rows) for (const d of compareDetails(r)) out.push(`- ${esc(d)}`);
  out.push('', `Cycles: ${result.cycleModel}. Each run is limited to ${n(result.maxInstructions)} instructions.`, '');
  return out.join('\n');
}
