// The `techniques` bench workload: examples/techniques/kernel.asm (and its
// paravirtualized build) under every technique, wall time per technique as a
// ratio to the bare machine's in the same run, next to the modelled cycle
// ratio `hyperstep compare` reports. Median of the runs.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compareStepwise, type CompareResult, type CompareTechnique } from '../vmm/compare/index';
import { loadProgram } from './program';

function examplesDir(): string {
  for (const root of [join(__dirname, '..'), process.cwd()]) {
    const p = join(root, 'examples', 'techniques');
    if (existsSync(join(p, 'kernel.asm'))) return p;
  }
  throw new Error('cannot find examples/techniques');
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

export function techniquesBench(quick: boolean): Record<string, unknown> {
  const dir = examplesDir();
  const kernel = loadProgram(join(dir, 'kernel.asm'), { bits: 32 });
  const pv = loadProgram(join(dir, 'kernel-pv.asm'), { bits: 32 });
  const runs = quick ? 1 : 5;
  const seconds = new Map<CompareTechnique, number[]>();
  let result: CompareResult | undefined;
  for (let i = 0; i < runs; i++) {
    const steps = compareStepwise({ guest: { image: kernel.bytes, org: kernel.origin ?? 0x10000 }, pv: { image: pv.bytes, org: pv.origin ?? 0x10000 } });
    for (;;) {
      const t0 = performance.now();
      const s = steps.next();
      if (s.done === true) {
        result = s.value;
        break;
      }
      const list = seconds.get(s.value) ?? [];
      list.push((performance.now() - t0) / 1000);
      seconds.set(s.value, list);
    }
  }
  // The native row is the reference run itself (compareStepwise runs the bare machine once).
  const nativeSeconds = median(seconds.get('native') ?? [NaN]);
  const rows = (result?.rows ?? []).map((r) => {
    const s = r.technique === 'native' ? nativeSeconds : median(seconds.get(r.technique) ?? [NaN]);
    return {
      technique: r.technique, correct: r.correct, instructions: r.instructions, seconds: round(s, 4),
      guestMips: round(r.instructions / s / 1e6, 1), wallRatioToNative: round(s / nativeSeconds, 2), modelledCycleRatioToNative: r.ratio,
    };
  });
  return {
    workload: 'techniques',
    description: 'examples/techniques/kernel.asm (and kernel-pv.asm for paravirt) under every technique: simulator wall time per technique as a ratio to the bare machine in the same run, and the modelled cycle ratio hyperstep compare reports',
    runs,
    rows,
  };
}
