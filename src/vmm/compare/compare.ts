// One guest kernel under every technique, side by side: the bare machine as
// the reference, VT-x with EPT and with shadow paging, trap-and-emulate,
// binary translation and (given a paravirtualized build) paravirtualization.
// Each row says whether the guest saw what it sees natively (its console
// output and how it ended), what the VMM had to do (exits or traps by kind,
// translated blocks, hypercalls) and what that costs in modelled cycles.
// Cycles are counted the same way in every row: one per retired guest
// instruction plus the VMM's work from the technique's cost table
// (docs/vmm-costs.md), so the ratios compare techniques, not cost models.

import { Machine } from '../../x86/machine';
import { PcPlatform, runWithPlatform } from '../devices/platform';
import { createVm } from '../vtx/index';
import { SoftVm, type SoftTechnique } from '../soft/index';

export const COMPARE_TECHNIQUES = ['native', 'vtx-ept', 'vtx-shadow', 'trap-and-emulate', 'binary-translation', 'paravirt'] as const;
export type CompareTechnique = (typeof COMPARE_TECHNIQUES)[number];

export const TECHNIQUE_LABELS: Readonly<Record<CompareTechnique, string>> = {
  native: 'native (no VMM)',
  'vtx-ept': 'VT-x, EPT',
  'vtx-shadow': 'VT-x, shadow paging',
  'trap-and-emulate': 'trap-and-emulate',
  'binary-translation': 'binary translation',
  paravirt: 'paravirtualization',
};

export interface CompareGuest {
  image: Uint8Array;
  /** Load and start address (flat 32-bit protected mode). */
  org: number;
}

export interface CompareInput {
  guest: CompareGuest;
  /** The paravirtualized build of the same kernel; without it the paravirt row is skipped. */
  pv?: CompareGuest;
  /** Default: every technique. */
  techniques?: readonly CompareTechnique[];
  /** Per technique (default 50 million). */
  maxInstructions?: number;
  /** Guest RAM in bytes (default 16 MiB). */
  memorySize?: number;
  /** The ring trap-and-emulate and binary translation run the kernel in (default 1; paravirt stays in ring 1). */
  kernelRing?: 1 | 3;
  /** Called before each technique runs (progress for long comparisons). */
  onStart?: (technique: CompareTechnique, index: number, count: number) => void;
}

export interface EventCount {
  key: string;
  count: number;
  cycles: number;
}

export interface Divergence {
  /** 1-based line of the console output where the run first differs from native. */
  line: number;
  expected: string | null;
  got: string | null;
}

export interface CompareRow {
  technique: CompareTechnique;
  label: string;
  /** Why the technique did not run (no paravirtualized build). */
  skipped?: string;
  /** The guest saw what it sees natively: the same console output and the same kind of end. */
  correct: boolean;
  /** The first console line that differs; absent when the output matches. */
  divergence?: Divergence;
  stop: { reason: string; message: string; code?: number };
  console: string;
  /** Retired guest instructions. */
  instructions: number;
  /** VM exits (VT-x) or traps into the VMM (software techniques). */
  events: number;
  eventsKind: 'exits' | 'traps' | 'none';
  byKind: EventCount[];
  /** Sensitive instructions that did not trap (trap-and-emulate; the translator removes them). */
  holes: number;
  firstHole?: { rip: number; instruction: string; saw: string; expected: string };
  translatedBlocks: number;
  callouts: number;
  hypercalls: number;
  hypercallsByName: EventCount[];
  vmmCycles: number;
  /** instructions × 1 + vmmCycles. */
  cycles: number;
  /** cycles ÷ the native row's cycles (null without a native row). */
  ratio: number | null;
}

export interface CompareResult {
  rows: CompareRow[];
  maxInstructions: number;
  /** How the cycle column is computed. */
  cycleModel: string;
}

const DEFAULT_MAX = 50_000_000;
const DEFAULT_RAM = 16 << 20;

type Run = Omit<CompareRow, 'technique' | 'label' | 'correct' | 'divergence' | 'ratio' | 'cycles'>;

const text = (bytes: readonly number[]): string => String.fromCharCode(...bytes);

function runNative(g: CompareGuest, max: number, ram: number): Run {
  const machine = new Machine({ memorySize: ram });
  machine.loadFlat32(g.image, g.org);
  const out: number[] = [];
  const platform = new PcPlatform({ onSerialOutput: (b) => out.push(b) });
  platform.attach(machine.io);
  const stop = runWithPlatform(machine, platform, max);
  const code = platform.debugExit.exitCode ?? undefined;
  return {
    stop: { reason: stop.reason, message: stop.message, ...(code !== undefined ? { code } : {}) },
    console: text(out), instructions: machine.cpu.icount, events: 0, eventsKind: 'none', byKind: [], holes: 0,
    translatedBlocks: 0, callouts: 0, hypercalls: 0, hypercallsByName: [], vmmCycles: 0,
  };
}

function runVtx(g: CompareGuest, paging: 'ept' | 'shadow', max: number, ram: number): Run {
  const vm = createVm({ image: g.image, mode: 'flat32', org: g.org, paging, memorySize: ram });
  const stop = vm.run(max);
  const report = vm.stats.report();
  const instructions = vm.vcpus.reduce((n, v) => n + v.cpu.icount, 0);
  return {
    stop: { reason: stop.reason, message: stop.message, ...(stop.code !== undefined ? { code: stop.code } : {}) },
    console: text(vm.output), instructions, events: report.total, eventsKind: 'exits',
    byKind: report.reasons.map((r) => ({ key: `${r.reason} ${r.name}`, count: r.count, cycles: r.cycles })),
    holes: 0, translatedBlocks: 0, callouts: 0, hypercalls: 0, hypercallsByName: [], vmmCycles: report.totalCycles,
  };
}

function runSoft(g: CompareGuest, technique: SoftTechnique, max: number, ram: number, kernelRing: 1 | 3): Run {
  const vm = new SoftVm({ technique, image: g.image, org: g.org, memorySize: ram, kernelRing: technique === 'paravirt' ? 1 : kernelRing });
  const stop = vm.run(max);
  const r = vm.stats.report();
  const hole = vm.holes[0];
  return {
    stop: { reason: stop.reason, message: stop.message, ...(stop.code !== undefined ? { code: stop.code } : {}) },
    console: text(vm.output), instructions: vm.cpu.icount, events: r.traps, eventsKind: 'traps',
    // Callouts are calls, not traps: the translation figures count them.
    byKind: r.byKind.filter((k) => !k.key.startsWith('callout: ')),
    holes: r.holes,
    ...(hole !== undefined ? { firstHole: { rip: hole.rip, instruction: hole.instruction, saw: hole.saw, expected: hole.expected } } : {}),
    translatedBlocks: r.translation.blocks, callouts: r.translation.callouts,
    hypercalls: r.hypercalls.reduce((n, h) => n + h.count, 0), hypercallsByName: r.hypercalls, vmmCycles: r.vmmCycles,
  };
}

/** The first line where `got` differs from `expected`, or undefined when they are equal. */
export function firstDivergence(expected: string, got: string): Divergence | undefined {
  if (expected === got) return undefined;
  const a = expected.split('\n');
  const b = got.split('\n');
  for (let i = 0; ; i++) {
    if (a[i] !== b[i]) {
      // A line that is only cut short is reported as such: the run stopped inside it.
      return { line: i + 1, expected: i < a.length ? a[i] : null, got: i < b.length ? b[i] : null };
    }
  }
}

/** Whether a run ended the way the native one did: both shut down, or both stopped for the same reason. */
function sameEnd(native: Run['stop'], run: Run['stop']): boolean {
  return native.reason === run.reason;
}

/**
 * The comparison one technique at a time: each `next()` runs one row (the
 * first also runs the native reference), so a host can report progress and
 * stay responsive between rows. The generator's return value is the result.
 */
export function* compareStepwise(input: CompareInput): Generator<CompareTechnique, CompareResult, void> {
  const max = input.maxInstructions ?? DEFAULT_MAX;
  if (!Number.isSafeInteger(max) || max <= 0) throw new RangeError(`maxInstructions must be a positive integer (got ${max})`);
  const ram = input.memorySize ?? DEFAULT_RAM;
  const techniques = input.techniques ?? COMPARE_TECHNIQUES;
  for (const t of techniques) if (!(COMPARE_TECHNIQUES as readonly string[]).includes(t)) throw new RangeError(`unknown technique "${String(t)}"; one of ${COMPARE_TECHNIQUES.join(', ')}`);
  const order = COMPARE_TECHNIQUES.filter((t) => techniques.includes(t));
  // The reference always runs: correctness is judged against it even when its row is not asked for.
  let reference: Run | undefined;
  const rows: CompareRow[] = [];
  for (const [i, t] of order.entries()) {
    input.onStart?.(t, i, order.length);
    reference ??= runNative(input.guest, max, ram);
    const label = TECHNIQUE_LABELS[t];
    if (t === 'paravirt' && input.pv === undefined) {
      rows.push({ ...skippedRow(t, label), skipped: 'needs the paravirtualized build of the kernel (--pv FILE)' });
    } else {
      const run =
        t === 'native' ? reference
        : t === 'vtx-ept' ? runVtx(input.guest, 'ept', max, ram)
        : t === 'vtx-shadow' ? runVtx(input.guest, 'shadow', max, ram)
        : runSoft(t === 'paravirt' ? (input.pv as CompareGuest) : input.guest, t, max, ram, input.kernelRing ?? 1);
      const divergence = firstDivergence(reference.console, run.console);
      rows.push({
        technique: t, label, ...run, correct: divergence === undefined && sameEnd(reference.stop, run.stop),
        ...(divergence !== undefined ? { divergence } : {}), cycles: run.instructions + run.vmmCycles, ratio: null,
      });
    }
    yield t;
  }
  const nativeCycles = reference === undefined ? 0 : reference.instructions + reference.vmmCycles;
  for (const r of rows) if (r.skipped === undefined && nativeCycles > 0) r.ratio = Math.round((r.cycles / nativeCycles) * 1000) / 1000;
  return { rows, maxInstructions: max, cycleModel: CYCLE_MODEL };
}

const CYCLE_MODEL = 'one cycle per retired guest instruction plus the VMM cycles of the technique\'s cost table (VT-x: the exit cost model; software techniques: the software cost table)';

export function compareTechniques(input: CompareInput): CompareResult {
  const steps = compareStepwise(input);
  for (;;) {
    const s = steps.next();
    if (s.done === true) return s.value;
  }
}

function skippedRow(technique: CompareTechnique, label: string): CompareRow {
  return {
    technique, label, correct: false, stop: { reason: 'skipped', message: '' }, console: '', instructions: 0, events: 0, eventsKind: 'none', byKind: [],
    holes: 0, translatedBlocks: 0, callouts: 0, hypercalls: 0, hypercallsByName: [], vmmCycles: 0, cycles: 0, ratio: null,
  };
}
