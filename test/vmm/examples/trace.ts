// Example guests under examples/: find them, run them under the VMM with
// their vm.json, and turn the exit events into the golden trace text that
// expected-exits.txt holds (one line per exit, then the console output and
// the stop).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../../../src/x86/asm/index';
import { createVm, exitRegisterNote, formatExitLine, type Vcpu, type Vm, type VmExit, type VmOptions, type VmStop } from '../../../src/vmm/vtx/index';
import { parseVmConfig, toVmOptions, formatConfigError } from '../../../src/vmm/config/index';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const EXAMPLES = join(REPO, 'examples');
export const EXPECTED = 'expected-exits.txt';
/** Instruction budget of one example run; the examples stop long before it. */
export const MAX_INSTRUCTIONS = 2_000_000;

export interface Example {
  /** Directory name under examples/. */
  name: string;
  dir: string;
  /** The guest: `guest.asm`, or the directory's only .asm file. */
  asm: string;
  /** `vm.json`, when the directory has one. */
  vmJson?: string;
  /** Path of expected-exits.txt (it may not exist yet when regenerating). */
  expected: string;
}

/** The example in one directory, or undefined when it has no guest to run. */
export function exampleIn(dir: string): Example | undefined {
  const asmFiles = readdirSync(dir).filter((f) => f.endsWith('.asm')).sort();
  const asm = asmFiles.includes('guest.asm') ? 'guest.asm' : asmFiles.length === 1 ? asmFiles[0] : undefined;
  if (asm === undefined) return undefined;
  const vmJson = join(dir, 'vm.json');
  return { name: basename(dir), dir, asm: join(dir, asm), ...(existsSync(vmJson) ? { vmJson } : {}), expected: join(dir, EXPECTED) };
}

/** Every examples/ directory that has an expected-exits.txt, by name. */
export function discoverExamples(root = EXAMPLES): Example[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, EXPECTED)))
    .map((d) => d.name)
    .sort()
    .map((n) => exampleIn(join(root, n)))
    .filter((e): e is Example => e !== undefined);
}

/** Assembles the guest with the project's assembler; throws with the diagnostics. */
export function assembleExample(ex: Example): { bytes: Uint8Array; symbols: Map<string, number> } {
  const r = assemble(readFileSync(ex.asm, 'utf8'), { fileName: relative(REPO, ex.asm) });
  if (!r.ok) throw new Error(`${relative(REPO, ex.asm)}: ${r.diagnostics.map((d) => d.message).join('\n')}`);
  return { bytes: r.bytes, symbols: r.symbols };
}

/** The createVm options of vm.json (the defaults when there is none). */
export function exampleOptions(ex: Example): Omit<VmOptions, 'image'> {
  if (ex.vmJson === undefined) return {};
  const parsed = parseVmConfig(JSON.parse(readFileSync(ex.vmJson, 'utf8')));
  if ('errors' in parsed) throw new Error(parsed.errors.map((e) => `vm.json: ${formatConfigError(e)}`).join('\n'));
  const r = toVmOptions(parsed.config);
  if (!r.ok) throw new Error(r.errors.map((e) => `vm.json: ${formatConfigError(e)}`).join('\n'));
  return r.options;
}

export interface ExampleRun {
  vm: Vm;
  exits: VmExit[];
  /** The VM-entry interruption information of each VM entry after the launch (0: nothing injected). */
  injected: number[];
  stop: VmStop;
  console: string;
  trace: string;
  /** The guest's labels. */
  symbols: Map<string, number>;
}

/**
 * Runs an example. `configure` runs after vm.json's own configure, for tests
 * that change a field the configuration cannot express.
 */
export function runExample(ex: Example, configure?: (v: Vcpu) => void): ExampleRun {
  const options = exampleOptions(ex);
  const own = options.configure;
  const { bytes, symbols } = assembleExample(ex);
  const vm = createVm({
    ...options,
    image: bytes,
    configure: (v) => { own?.(v); configure?.(v); },
  });
  const exits: VmExit[] = [];
  const notes: string[] = [];
  const injected: number[] = [];
  vm.events.on('exit', (e) => { exits.push(e); notes.push(exitRegisterNote(vm, e)); });
  vm.events.on('entry', (e) => injected.push(e.injected));
  const stop = vm.run(MAX_INSTRUCTIONS);
  const output = vm.output.map((c) => String.fromCharCode(c)).join('');
  return { vm, exits, injected: injected.slice(1), stop, console: output, trace: formatTrace(ex, exits, stop, output, notes), symbols };
}

export { formatExitLine as formatExit };


export function formatStop(s: VmStop): string {
  return `stop ${s.reason}${s.code !== undefined ? ` code=${s.code}` : ''} exits=${s.exits}: ${s.message}`;
}

export function formatTrace(ex: Example, exits: readonly VmExit[], stop: VmStop, output: string, notes: readonly string[] = []): string {
  const lines = [
    `# exits of examples/${ex.name}/${basename(ex.asm)}${ex.vmJson !== undefined ? ' with vm.json' : ''}; regenerate with: npx tsx test/vmm/examples/regen.ts`,
    ...exits.map((e, i) => formatExitLine(e, notes[i])),
    `console ${JSON.stringify(output)}`,
    formatStop(stop),
  ];
  return `${lines.join('\n')}\n`;
}

/** 32-bit FNV-1a over the UTF-16 code units of a text: a small, stable fingerprint of a trace. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
