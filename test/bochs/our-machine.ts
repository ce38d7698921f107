// Runs a harness image on the project's Machine. The whole image is placed
// at 0x7C00 (the boot sector sees the stage-two magic and skips its BIOS
// disk loads). A case that wedges the machine is recorded and the run
// resumes at the next case, so one bug does not hide all later results.

import { Machine } from '../../src/x86/machine';
import { patchImage, type Paging } from './image';
import { parseOutput, type CaseResult } from './results';

/** Generous per-case instruction budget: the harness spends ~3,000 per case. */
const BUDGET_PER_CASE = 50_000;

export interface OurRun {
  results: Map<number, CaseResult>;
  /** Why a resume was needed, per case index. */
  stops: Map<number, string>;
}

export function runOnMachine(image: Uint8Array, caseCount: number, paging: Paging = 'off'): OurRun {
  const results = new Map<number, CaseResult>();
  const stops = new Map<number, string>();
  let first = 0;
  while (first < caseCount) {
    const img = patchImage(image, { firstCase: first, paging });
    const m = new Machine({ memorySize: 32 * 1024 * 1024 });
    m.loadBootSector(img);
    let stop = '';
    try {
      // run in slices; a slice without new output means a case is stuck
      let seen = -1;
      for (;;) {
        const info = m.run(BUDGET_PER_CASE);
        if (info.reason !== 'limit') {
          stop = `${info.reason}: ${info.message} at ${info.cs.toString(16)}:${info.eip.toString(16)}`;
          break;
        }
        if (m.console.e9.length === seen) {
          stop = `no progress in ${BUDGET_PER_CASE} instructions, at ${info.cs.toString(16)}:${info.eip.toString(16)}`;
          break;
        }
        seen = m.console.e9.length;
      }
    } catch (e) {
      stop = `exception: ${e instanceof Error ? e.message : String(e)}`;
    }
    const text = new TextDecoder().decode(new Uint8Array(m.console.e9));
    for (const [i, r] of parseOutput(text)) results.set(i, r);
    if (text.includes('@END')) break;
    // the case after the last printed one stopped the machine
    let next = first;
    while (results.has(next)) next++;
    if (next >= caseCount) break;
    stops.set(next, stop);
    first = next + 1;
  }
  return { results, stops };
}
