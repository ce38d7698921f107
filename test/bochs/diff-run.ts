// Runs every case on our Machine and pairs the results with Bochs's.

import { CATEGORIES, categoryByName } from './categories';
import { compareCase, type Outcome } from './compare';
import type { TestCase } from './generator';
import type { Paging } from './image';
import { runOnMachine } from './our-machine';
import type { CaseResult } from './results';

export interface ImageRun {
  image: Uint8Array;
  cases: readonly TestCase[];
  /** Bochs's results, keyed by the GLOBAL case index. */
  bochs: Map<number, CaseResult>;
}

/** Compares every case; `paging` picks the paging mode per image (default off). */
export function diffImages(runs: readonly ImageRun[], paging: (image: number) => Paging = () => 'off'): Outcome[] {
  const out: Outcome[] = [];
  for (const [k, run] of runs.entries()) {
    const ours = runOnMachine(run.image, run.cases.length, paging(k));
    run.cases.forEach((tc, local) => {
      const b = run.bochs.get(tc.index) ?? { kind: 'missing' as const };
      const o = ours.results.get(local) ?? { kind: 'missing' as const };
      out.push(compareCase(tc, b, o, ours.stops.get(local)));
    });
  }
  return out;
}

export interface CategorySummary {
  name: string;
  total: number;
  definedBad: Outcome[];
  undefinedBad: Outcome[];
}

export function summarize(outcomes: readonly Outcome[]): CategorySummary[] {
  return CATEGORIES.map((c) => {
    const mine = outcomes.filter((o) => o.tc.category === c.name);
    return {
      name: c.name,
      total: mine.length,
      definedBad: mine.filter((o) => o.defined.length > 0),
      undefinedBad: mine.filter((o) => o.undefined.length > 0),
    };
  });
}

/** Cases outside the exceptions category that did not finish with a register dump (a generator bug). */
export function unexpectedFaults(cases: readonly TestCase[], results: ReadonlyMap<number, CaseResult>): TestCase[] {
  return cases.filter((tc) => !categoryByName(tc.category).faults && results.get(tc.index)?.kind !== 'state');
}
