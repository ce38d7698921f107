// `npm run bench`: guest workloads on the bare machine and under the VMM, one
// JSON line each.
//
// Each line gives guest MIPS and ratios against baselines measured in the
// same run: the same workload with 100 breakpoints registered, a plain
// JavaScript loop doing the ALU loop's arithmetic (a yardstick for how fast
// this machine runs JavaScript at all), and Bochs running the same boot
// sector when Bochs is installed (bochs, bochsbios, vgabios and a display
// plugin such as bochs-sdl or bochs-term).
//
// Under the VMM: "vm-exits-cpuid" (VM exits per second on a CPUID loop, with
// the same loop on the bare machine, where CPUID does not exit, as baseline)
// and "shadow-vs-ept" (a page-touching guest with paging: 'shadow' and 'ept':
// exits, modelled cycles and wall time of each, and their ratios).
//
// The debugger (src/cli/bench-dap.ts): "dap-step-line" and
// "dap-step-instruction" (step → stopped → stackTrace → scopes → VMCS
// variables, median/p90/p99/max in ms against one vm.run(1) on the Vm) and
// "dap-launch-5000-lines" (launch to stopped on entry against assembling the
// same source), in-process and, with a "-stdio" suffix, through
// dist/adapter.js.
//
//   node dist/bench.js [--quick] [--only NAME[,NAME]] [--no-bochs]
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { assemble, formatDiagnostic } from '../x86/asm/index';
import { Machine, type StopInfo } from '../x86/machine';
import { techniquesBench } from './bench-techniques';
import { readTextFile } from './program';
import { createVm, type VmOptions, type VmStop } from '../vmm/vtx/index';
import { defaultCostModel } from '../vmm/cost/index';
import { dapBenchLines } from './bench-dap';

interface Workload {
  name: string;
  file: string;
  iterations: number;
  quickIterations: number;
  description: string;
  targetMips?: number;
  /** Bytes moved per iteration, for copy throughput. */
  bytesPerIteration?: number;
}

const WORKLOADS: Workload[] = [
  { name: 'alu-loop', file: 'alu.asm', iterations: 100_000_000, quickIterations: 5_000_000, targetMips: 130,
    description: 'add eax, ecx / dec ecx / jnz in flat protected mode' },
  { name: 'memory-loop', file: 'memory.asm', iterations: 25_000_000, quickIterations: 1_000_000, targetMips: 72,
    description: 'load, add, store, call/inc [mem]/ret with paging on' },
  { name: 'string-copy', file: 'strcopy.asm', iterations: 2_000, quickIterations: 100, bytesPerIteration: 65536,
    description: 'rep movsd of 64 KiB, repeated' },
];

function benchDir(): string {
  for (const root of [join(__dirname, '..'), process.cwd()]) {
    const p = join(root, 'bench');
    if (existsSync(join(p, 'alu.asm'))) return p;
  }
  throw new Error('cannot find the bench/ guests');
}

function build(dir: string, w: Workload, iterations: number): Uint8Array {
  const path = join(dir, w.file);
  const source = readFileSync(path, 'utf8').replace(/^%define ITERATIONS \d+/m, `%define ITERATIONS ${iterations}`);
  const r = assemble(source, { fileName: path, readFile: readTextFile });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.bytes;
}

interface Measured { instructions: number; seconds: number; stop: string }

function runOnce(image: Uint8Array, breakpoints: number): Measured {
  const m = new Machine();
  m.loadBootSector(image);
  // Breakpoints a debugger session would hold: on the same code page as the
  // hot loop (in the boot sector's padding, which never runs), so any cost
  // they add to translating or checking that page shows up.
  for (let i = 0; i < breakpoints; i++) m.addBreakpoint(0x7d00 + i * 2);
  const t0 = process.hrtime.bigint();
  const stop = m.run(2_000_000_000);
  const t1 = process.hrtime.bigint();
  return { instructions: stop.instructions, seconds: Number(t1 - t0) / 1e9, stop: stop.reason };
}

/** The ALU loop's arithmetic as plain JavaScript: three "instructions" per iteration. */
function hostLoopMips(iterations: number): number {
  const t0 = process.hrtime.bigint();
  let eax = 0;
  for (let ecx = iterations; ecx !== 0; ecx = (ecx - 1) | 0) eax = (eax + ecx) | 0;
  const t1 = process.hrtime.bigint();
  if (eax === 0x7fffffff) console.error(''); // keep the loop observable
  return (iterations * 3) / (Number(t1 - t0) / 1e3);
}

interface BochsResult { mips: number; instructions: number; seconds: number }

function bochsAvailable(): boolean {
  const r = spawnSync('bochs', ['--help'], { encoding: 'utf8' });
  return r.error === undefined && existsSync('/usr/share/bochs/BIOS-bochs-latest');
}

/** Runs the boot sector under Bochs twice (tiny and full iteration counts) and takes the difference, removing BIOS and start-up time. */
function bochsMips(dir: string, w: Workload, iterations: number): BochsResult | string {
  const tmp = mkdtempSync(join(tmpdir(), 'hyperstep-bochs-'));
  try {
    const display = ['sdl2', 'term'].find((d) => existsSync(`/usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_${d}_gui.so`));
    if (!display) return 'no Bochs display plugin (install bochs-sdl or bochs-term)';
    const vga = ['/usr/share/bochs/VGABIOS-lgpl-latest', '/usr/share/vgabios/vgabios.bin'].find(existsSync);
    const runs: { ticks: number; seconds: number }[] = [];
    for (const n of [1, iterations]) {
      const img = new Uint8Array(1474560);
      img.set(build(dir, w, n));
      writeFileSync(join(tmp, 'disk.img'), img);
      writeFileSync(join(tmp, 'bochsrc'), [
        'megs: 32', 'romimage: file=/usr/share/bochs/BIOS-bochs-latest', vga ? `vgaromimage: file=${vga}` : '',
        'floppya: 1_44=disk.img, status=inserted', 'boot: floppy', `display_library: ${display}`,
        'log: bochs.log', 'panic: action=fatal', 'error: action=report', 'info: action=report', 'debug: action=ignore',
        'speaker: enabled=0', 'sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy', 'cpu: count=1, reset_on_triple_fault=0',
      ].join('\n') + '\n');
      const t0 = process.hrtime.bigint();
      spawnSync('bochs', ['-q', '-f', 'bochsrc'], { cwd: tmp, input: 'c\n', env: { ...process.env, SDL_VIDEODRIVER: 'dummy', TERM: 'dumb' }, timeout: 600_000 });
      const t1 = process.hrtime.bigint();
      const log = existsSync(join(tmp, 'bochs.log')) ? readFileSync(join(tmp, 'bochs.log'), 'utf8') : '';
      const m = /^(\d+)p\[UNMAP \] >>PANIC<< Shutdown port/m.exec(log);
      if (!m) return 'Bochs did not reach the shutdown port';
      runs.push({ ticks: Number(m[1]), seconds: Number(t1 - t0) / 1e9 });
    }
    const instructions = runs[1].ticks - runs[0].ticks;
    const seconds = runs[1].seconds - runs[0].seconds;
    return { instructions, seconds, mips: instructions / seconds / 1e6 };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? (argv[onlyAt + 1] ?? '').split(',') : undefined;
  const bochsSkipped = argv.includes('--no-bochs');
  const useBochs = !bochsSkipped && bochsAvailable();
  const dir = benchDir();
  // Measured only when a workload it is the yardstick of runs.
  const host = WORKLOADS.some((w) => !only || only.includes(w.name)) ? hostLoopMips(quick ? 20_000_000 : 200_000_000) : NaN;

  for (const w of WORKLOADS) {
    if (only && !only.includes(w.name)) continue;
    const iterations = quick ? w.quickIterations : w.iterations;
    const image = build(dir, w, iterations);
    const base = runOnce(image, 0);
    const mips = base.instructions / base.seconds / 1e6;
    const line: Record<string, unknown> = {
      workload: w.name,
      description: w.description,
      instructions: base.instructions,
      seconds: round(base.seconds, 3),
      // A rep-prefixed string instruction counts once, however many iterations it runs.
      mips: round(mips, 1),
      stop: base.stop,
    };
    if (w.targetMips) line.targetMips = w.targetMips;
    if (w.bytesPerIteration) line.copyMBps = round((w.bytesPerIteration * iterations) / base.seconds / 1e6, 0);
    if (w.name === 'alu-loop') {
      const bp = runOnce(image, 100);
      const bpMips = bp.instructions / bp.seconds / 1e6;
      line.mipsWith100Breakpoints = round(bpMips, 1);
      line.slowdownWith100Breakpoints = round(1 - bpMips / mips, 3);
    }
    if (!w.bytesPerIteration) {
      line.hostJsLoopMips = round(host, 0);
      line.ratioToHostJsLoop = round(mips / host, 3);
    }
    if (useBochs) {
      const b = bochsMips(dir, w, iterations);
      if (typeof b === 'string') line.bochs = b;
      else if (w.bytesPerIteration) {
        // Bochs counts every rep iteration as an instruction; compare throughput instead.
        const bochsMBps = (w.bytesPerIteration * iterations) / b.seconds / 1e6;
        line.bochsCopyMBps = round(bochsMBps, 0);
        line.ratioToBochs = round((w.bytesPerIteration * iterations) / base.seconds / 1e6 / bochsMBps, 2);
      } else {
        line.bochsMips = round(b.mips, 1);
        line.ratioToBochs = round(mips / b.mips, 2);
      }
    } else if (!useBochs) line.bochs = bochsSkipped ? 'skipped (--no-bochs)' : 'not installed (apt-get install bochs bochsbios vgabios bochs-sdl)';
    line.heapMB = round(process.memoryUsage().heapUsed / 1e6, 1);
    line.rssMB = round(process.memoryUsage().rss / 1e6, 1);
    console.log(JSON.stringify(line));
  }
  if (!only || only.includes('vm-exits-cpuid')) console.log(JSON.stringify(vmExitsBench(dir, quick)));
  if (!only || only.includes('shadow-vs-ept')) console.log(JSON.stringify(shadowVsEptBench(dir, quick)));
  if (!only || only.includes('techniques')) console.log(JSON.stringify(techniquesBench(quick)));
  const adapter = join(__dirname, 'adapter.js');
  for (const line of await dapBenchLines({ quick, only, adapterPath: existsSync(adapter) ? adapter : undefined })) console.log(JSON.stringify(line));
}

/** Assembles a bench guest with `%define NAME value` lines replaced. */
function buildWith(dir: string, file: string, defines: Record<string, number>): Uint8Array {
  const path = join(dir, file);
  let source = readFileSync(path, 'utf8');
  for (const [name, value] of Object.entries(defines)) source = source.replace(new RegExp(`^%define ${name} \\d+`, 'm'), `%define ${name} ${value}`);
  const r = assemble(source, { fileName: path, readFile: readTextFile });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.bytes;
}

const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;

/** The target of the exit path: two million exits per second (about 500 ns per exit, handler included). */
const TARGET_EXITS_PER_SECOND = 2_000_000;

function vmExitsBench(dir: string, quick: boolean): Record<string, unknown> {
  const iterations = quick ? 20_000 : 500_000;
  const warmupIterations = quick ? 5_000 : 300_000;
  const runs = quick ? 1 : 5;
  const image = buildWith(dir, 'cpuid-loop.asm', { ITERATIONS: iterations });
  // A first, shorter VM runs the same exit path before the measured ones, so that the figure is the
  // steady rate of the exit path and not the JavaScript engine compiling it; that first run is reported
  // too. Then `runs` fresh VMs run the loop and the median is the figure (this machine class is noisy).
  const warm = createVm({ image: buildWith(dir, 'cpuid-loop.asm', { ITERATIONS: warmupIterations }) });
  let t0 = process.hrtime.bigint();
  warm.run(2_000_000_000);
  const warmupSeconds = seconds(t0);
  const rates: number[] = [];
  let vm = warm;
  let stop: VmStop | undefined;
  let vmSeconds = 0;
  for (let i = 0; i < runs; i++) {
    vm = createVm({ image });
    t0 = process.hrtime.bigint();
    stop = vm.run(2_000_000_000);
    const s = seconds(t0);
    rates.push(vm.stats.exits / s);
    vmSeconds += s;
  }
  const exits = vm.stats.exits;
  // The same loop on the bare machine, warmed up the same way: the baseline of the slowdown.
  const bareRates: number[] = [];
  let bareStop: StopInfo | undefined;
  for (let i = 0; i <= runs; i++) {
    const bare = new Machine();
    bare.loadFlat32(image, 0x1000);
    t0 = process.hrtime.bigint();
    bareStop = bare.run(2_000_000_000);
    if (i > 0) bareRates.push(bareStop.instructions / seconds(t0));
  }
  const exitsPerSecond = median(rates);
  const bareIps = median(bareRates);
  const instructionsPerExit = (stop?.instructions ?? 0) / Math.max(1, exits);
  return {
    workload: 'vm-exits-cpuid',
    description: `${iterations.toLocaleString('en-US')} CPUIDs under createVm (each one an exit), median of ${runs} VMs after a first VM of ${warmupIterations.toLocaleString('en-US')}, vs the same loop on the bare machine`,
    iterations,
    exits,
    runs,
    warmupExits: warm.stats.exits,
    warmupExitsPerSecond: Math.round(warm.stats.exits / warmupSeconds),
    stop: stop?.reason,
    seconds: round(vmSeconds / runs, 3),
    exitsPerSecond: Math.round(exitsPerSecond),
    exitsPerSecondRange: [Math.round(Math.min(...rates)), Math.round(Math.max(...rates))],
    nsPerExit: round(1e9 / exitsPerSecond, 0),
    targetExitsPerSecond: TARGET_EXITS_PER_SECOND,
    meetsTarget: exitsPerSecond >= TARGET_EXITS_PER_SECOND,
    bareStop: bareStop?.reason,
    bareMips: round(bareIps / 1e6, 1),
    // Time per loop iteration (one CPUID and its neighbours) under the VMM over the same on the bare machine.
    slowdownVsBare: round(bareIps / (exitsPerSecond * instructionsPerExit), 1),
    modelledCycles: vm.stats.cycles,
    modelledCyclesPerExit: round(vm.stats.cycles / Math.max(1, exits), 1),
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface PagingRun { exits: number; byReason: Record<string, number>; modelledCycles: number; seconds: number; stop: string; instructions: number; counters?: Record<string, number> }

function pagingRun(image: Uint8Array, paging: 'ept' | 'shadow'): PagingRun | string {
  // `paging` is newer than some builds of createVm: pass it loosely and check below that it took effect.
  const options: VmOptions & { paging?: 'ept' | 'shadow' } = { image, paging };
  let vm;
  try {
    vm = createVm(options);
  } catch (e) {
    return `${paging} paging not available: ${e instanceof Error ? e.message : String(e)}`;
  }
  const t0 = process.hrtime.bigint();
  const stop = vm.run(2_000_000_000);
  const s = seconds(t0);
  const report = vm.stats.report();
  const memory = (vm as unknown as { memory?: { counters?: Record<string, number> } }).memory;
  return {
    exits: report.total, byReason: Object.fromEntries(report.reasons.map((r) => [r.name, r.count])), modelledCycles: report.totalCycles,
    seconds: round(s, 3), stop: `${stop.reason}: ${stop.message}`, instructions: stop.instructions,
    ...(memory?.counters !== undefined ? { counters: { ...memory.counters } } : {}),
  };
}

function shadowVsEptBench(dir: string, quick: boolean): Record<string, unknown> {
  const rounds = quick ? 4 : 20;
  const pages = 1024;
  const image = buildWith(dir, 'page-touch.asm', { PAGES: pages, ROUNDS: rounds });
  const line: Record<string, unknown> = {
    workload: 'shadow-vs-ept',
    description: `${pages} distinct pages written per round, CR3 reload and INVLPG each round, ${rounds} rounds, paging on`,
  };
  const ept = pagingRun(image, 'ept');
  const shadow = pagingRun(image, 'shadow');
  line.ept = ept;
  if (typeof ept === 'string') return line;
  // A VMM that ignores the option runs both with the same translation and gives the same exits.
  if (typeof shadow === 'string') line.shadow = shadow;
  else if (JSON.stringify(shadow.byReason) === JSON.stringify(ept.byReason) && shadow.counters === undefined) line.shadow = 'shadow paging not available (createVm ignored paging: \'shadow\')';
  else {
    line.shadow = shadow;
    line.exitRatioShadowToEpt = round(shadow.exits / Math.max(1, ept.exits), 2);
    line.modelledCycleRatioShadowToEpt = round(shadow.modelledCycles / Math.max(1, ept.modelledCycles), 2);
    line.wallTimeRatioShadowToEpt = round(shadow.seconds / Math.max(1e-9, ept.seconds), 2);
    // The CPU does not count TLB misses; this guest takes one per page touched (the CR3 reload
    // flushes the TLB each round). Their walks, not in the exit statistics: two-dimensional with
    // EPT, the guest's own levels on the shadow tables.
    const model = defaultCostModel();
    const misses = pages * rounds;
    const eptWalks = misses * model.tlbMissCycles();
    const shadowWalks = misses * model.table.walkLevel * model.table.guestLevels;
    line.tlbMissesByConstruction = misses;
    line.estimatedWalkCycles = { ept: eptWalks, shadow: shadowWalks };
    line.modelledCycleRatioWithWalks = round((shadow.modelledCycles + shadowWalks) / Math.max(1, ept.modelledCycles + eptWalks), 2);
  }
  return line;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exitCode = 1;
});
