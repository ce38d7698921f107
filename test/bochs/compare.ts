// Case-by-case comparison of Bochs's results with ours, split into what the
// SDM defines and what it leaves undefined, with a readable report per case.

import { categoryByName } from './categories';
import { REG_ORDER, type TestCase } from './generator';
import { RESULT_FIELDS, formatResult, type CaseResult } from './results';

const FLAG_NAMES: [number, string][] = [
  [0x1, 'CF'], [0x4, 'PF'], [0x10, 'AF'], [0x40, 'ZF'], [0x80, 'SF'], [0x100, 'TF'], [0x200, 'IF'], [0x400, 'DF'], [0x800, 'OF'],
];
const EFLAGS = RESULT_FIELDS.indexOf('eflags');

export function flagNames(v: number): string {
  return FLAG_NAMES.filter(([bit]) => v & bit).map(([, n]) => n).join(' ') || '-';
}

export interface Outcome {
  tc: TestCase;
  bochs: CaseResult;
  ours: CaseResult;
  /** Differences in what the SDM defines (registers, memory checksum, defined flags, faults). */
  defined: string[];
  /** Differences confined to flags the SDM leaves undefined (or implementation-defined results). */
  undefined: string[];
  /** Why our run had to be resumed at this case, if it did. */
  stop?: string;
}

function hex(v: number): string {
  return v.toString(16).padStart(8, '0');
}

export function compareCase(tc: TestCase, bochs: CaseResult, ours: CaseResult, stop?: string): Outcome {
  const cat = categoryByName(tc.category);
  const defined: string[] = [];
  const undef: string[] = [];
  if (bochs.kind !== 'state' || ours.kind !== 'state') {
    if (formatResult(bochs) !== formatResult(ours)) defined.push(`outcome: bochs ${formatResult(bochs)}, ours ${formatResult(ours)}`);
    return { tc, bochs, ours, defined, undefined: undef, stop };
  }
  const sink = cat.implementationDefined ? undef : defined;
  RESULT_FIELDS.forEach((field, i) => {
    const b = bochs.values[i];
    const o = ours.values[i];
    if (b === o) return;
    if (i === EFLAGS) {
      const diff = b ^ o;
      const u = diff & cat.undefinedFlags;
      const d = diff & ~cat.undefinedFlags;
      const describe = (mask: number) => FLAG_NAMES.filter(([bit]) => mask & bit)
        .map(([bit, n]) => `${n} bochs=${b & bit ? 1 : 0} ours=${o & bit ? 1 : 0}`).join(', ');
      if (d) sink.push(`eflags: ${describe(d)}${d & ~0xfd5 ? ` (other bits ${hex(d & ~0xfd5)})` : ''}`);
      if (u) undef.push(`undefined flags: ${describe(u)}`);
    } else {
      sink.push(`${field}: bochs ${hex(b)}, ours ${hex(o)}`);
    }
  });
  return { tc, bochs, ours, defined, undefined: undef, stop };
}

function stateLine(r: CaseResult): string {
  if (r.kind !== 'state') return formatResult(r);
  return RESULT_FIELDS.map((f, i) => `${f}=${hex(r.values[i])}${i === EFLAGS ? ` [${flagNames(r.values[i])}]` : ''}`).join(' ');
}

/** Everything needed to reproduce and understand one differing case. */
export function describeOutcome(o: Outcome): string {
  const tc = o.tc;
  const init = REG_ORDER.map((r, i) => `${r}=${hex(tc.regs[i])}`).join(' ');
  return [
    `case ${tc.index} [${tc.category}, ${tc.bits}-bit code]`,
    ...tc.lines.map((l) => `    ${l}`),
    `  initial: ${init} eflags=${hex(tc.eflags)} [${flagNames(tc.eflags)}] scratch-seed=${hex(tc.scratchSeed)}`,
    `  bochs:   ${stateLine(o.bochs)}`,
    `  ours:    ${stateLine(o.ours)}`,
    ...(o.stop ? [`  our run stopped here: ${o.stop}`] : []),
    ...[...o.defined, ...o.undefined].map((d) => `  differs: ${d}`),
  ].join('\n');
}

/** A failure message listing the first few differing cases. */
export function report(title: string, bad: readonly Outcome[], total: number, limit = 6): string {
  const shown = bad.slice(0, limit).map(describeOutcome).join('\n\n');
  const more = bad.length > limit ? `\n\n… and ${bad.length - limit} more` : '';
  return `${title}: ${bad.length} of ${total} cases differ\n\n${shown}${more}`;
}
