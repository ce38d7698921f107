// Live differential run against Bochs with a fresh seed each time (set
// BOCHS_SEED to repeat one, BOCHS_CASES for the number of cases). Our side
// runs with paging off, 4 KiB or 4 MiB identity pages, picked from the seed
// (BOCHS_PAGING=off|4k|4m to choose); Bochs runs with paging off. Needs nasm
// and bochs; skips with a message where they are missing, even under CI,
// because CI does not install Bochs.
//
// It asserts the results the SDM defines; categories listed in known-bugs.ts
// and undefined-flag differences are reported as diagnostics only. Failure
// messages carry everything needed to turn a case into a bug report.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bochsResultsMany, haveBochs } from './bochs-runner';
import { report } from './compare';
import { diffImages, summarize, unexpectedFaults, type ImageRun } from './diff-run';
import { generateCases, splitImages } from './generator';
import type { Paging } from './image';
import { KNOWN_BUGS } from './known-bugs';
import type { CaseResult } from './results';

const available = haveBochs();
const skip = available ? false : 'bochs and nasm are required for the live Bochs oracle (Debian: bochs bochsbios vgabios bochs-sdl nasm); skipped';

test('live differential run against Bochs', { skip }, async (t) => {
  const seed = process.env.BOCHS_SEED ? Number(process.env.BOCHS_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  const count = Number(process.env.BOCHS_CASES ?? 6000);
  const modes: Paging[] = ['off', '4k', '4m'];
  const paging = modes.find((m) => m === process.env.BOCHS_PAGING) ?? modes[seed % 3];
  t.diagnostic(`seed ${seed} (repeat with BOCHS_SEED=${seed}), ${count} cases, our paging ${paging}`);
  const cases = generateCases(seed, count);
  const work = mkdtempSync(join(tmpdir(), 'bochs-oracle-'));
  try {
    const groups = splitImages(cases, 750);
    const built = await bochsResultsMany(groups, work);
    const runs: ImageRun[] = groups.map((g, i) => {
      const bochs = new Map<number, CaseResult>();
      for (const [local, r] of built[i].results) bochs.set(g[local].index, r);
      return { image: built[i].image, cases: g, bochs };
    });
    const stray = runs.flatMap((r) => unexpectedFaults(r.cases, r.bochs));
    assert.deepEqual(stray.map((tc) => `${tc.index}: ${tc.lines.join('; ')}`), [], 'cases faulted on Bochs: a generator bug');
    const failures: string[] = [];
    for (const s of summarize(diffImages(runs, () => paging))) {
      const known = KNOWN_BUGS[s.name]?.defined;
      if (s.definedBad.length && known) t.diagnostic(`${s.name}: ${s.definedBad.length}/${s.total} cases differ (known: ${known})`);
      else if (s.definedBad.length) failures.push(report(`${s.name} (seed ${seed})`, s.definedBad, s.total, 3));
      if (s.undefinedBad.length) t.diagnostic(`${s.name}: ${s.undefinedBad.length}/${s.total} cases differ in undefined flags or implementation-defined results`);
    }
    assert.ok(failures.length === 0, failures.join('\n\n'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
