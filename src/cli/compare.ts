// `hyperstep compare FILE [--pv FILE]`: one guest kernel under every
// technique, one row each (src/vmm/compare). The guest is a flat 32-bit
// protected-mode kernel, as the software techniques require.

import { parseArgs, parseNumber, flagString, UsageError } from './args';
import { InputError, loadProgram, type LoadedProgram } from './program';
import { VMM_FLAT32_ORG } from './vmrun';
import { COMPARE_TECHNIQUES, compareTechniques, formatCompareText, type CompareGuest, type CompareTechnique } from '../vmm/compare/index';

export const COMPARE_USAGE = `  compare FILE [--pv FILE] [--techniques all|LIST] [--org ADDR]
              [--kernel-ring 1|3] [--max-instructions N] [--json]
        run one flat32 guest kernel under each technique (native, vtx-ept,
        vtx-shadow, trap-and-emulate, binary-translation, paravirt) and print
        one row per technique: whether the guest saw its native result (and
        where it first diverged), VM exits or traps by kind, translated blocks,
        hypercalls, modelled cycles and the ratio to native. --pv names the
        paravirtualized build of the same kernel (the paravirt row needs it).
        LIST is comma-separated; default all. --kernel-ring 3 runs the
        kernel in ring 3 under trap-and-emulate and binary translation
        (default 1). --max-instructions per run
        (default 50000000). A wrong result is a finding, not a failure: the
        exit code is 0 whenever the table was produced`;

function guestOf(program: LoadedProgram, org: number | undefined): CompareGuest {
  return { image: program.bytes, org: org ?? program.origin ?? VMM_FLAT32_ORG };
}

export function parseTechniques(text: string | undefined): CompareTechnique[] {
  if (text === undefined || text === 'all') return [...COMPARE_TECHNIQUES];
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new UsageError('--techniques needs "all" or a comma-separated list');
  for (const t of list) {
    if (!(COMPARE_TECHNIQUES as readonly string[]).includes(t)) throw new UsageError(`--techniques: unknown technique '${t}' (one of ${COMPARE_TECHNIQUES.join(', ')}, or all)`);
  }
  return list as CompareTechnique[];
}

/** --kernel-ring: 1 (default) or 3. */
export function parseKernelRing(text: string | undefined): 1 | 3 {
  if (text === undefined || text === '1') return 1;
  if (text === '3') return 3;
  throw new UsageError(`--kernel-ring must be 1 or 3 (got '${text}')`);
}

export function runCompare(argv: string[], out: (line: string) => void, err: (line: string) => void): number {
  const p = parseArgs(argv, { pv: { value: true }, techniques: { value: true }, org: { value: true }, 'kernel-ring': { value: true }, 'max-instructions': { value: true }, json: {} });
  if (p.positional.length !== 1) throw new UsageError('compare needs exactly one FILE (the unmodified kernel)');
  const techniques = parseTechniques(flagString(p, 'techniques'));
  const orgText = flagString(p, 'org');
  const org = orgText === undefined ? undefined : parseNumber(orgText, '--org');
  const maxText = flagString(p, 'max-instructions');
  const maxInstructions = maxText === undefined ? undefined : parseNumber(maxText, '--max-instructions');
  if (maxInstructions !== undefined && maxInstructions <= 0) throw new UsageError('--max-instructions must be positive');
  const json = p.flags.has('json');
  const kernelRing = parseKernelRing(flagString(p, 'kernel-ring'));
  const program = loadProgram(p.positional[0], { bits: 32 });
  const pvPath = flagString(p, 'pv');
  const pv = pvPath === undefined ? undefined : loadProgram(pvPath, { bits: 32 });
  if (pvPath === undefined && techniques.includes('paravirt') && flagString(p, 'techniques') !== undefined) {
    throw new UsageError('--techniques paravirt needs the paravirtualized build: --pv FILE');
  }
  if (!json) for (const w of [...program.warnings, ...(pv?.warnings ?? [])]) err(w);
  let result;
  try {
    result = compareTechniques({
      guest: guestOf(program, org),
      ...(pv !== undefined ? { pv: guestOf(pv, undefined) } : {}),
      techniques,
      kernelRing,
      ...(maxInstructions !== undefined ? { maxInstructions } : {}),
      onStart: json ? undefined : (t, i, count) => err(`[${i + 1}/${count}] ${t}`),
    });
  } catch (e) {
    // An image that does not fit the guest's memory, or a load address outside it, is bad input, not a crash.
    if (e instanceof RangeError) throw new InputError(`${program.path}: ${e.message}`);
    throw e;
  }
  if (json) {
    out(JSON.stringify({ file: program.path, pv: pv?.path ?? null, kernelRing, ...result }, null, 2));
  } else {
    for (const line of formatCompareText(result)) out(line);
  }
  return 0;
}
