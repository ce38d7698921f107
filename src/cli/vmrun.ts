// `hyperstep run` under the VMM: load a guest into a VM (default KVM-like
// controls, or a VM configuration file), run it in slices, report every exit
// as it happens and the statistics at the end.
import { readFileSync } from 'node:fs';
import { Machine } from '../x86/machine';
import { collectConsole, createVm, exitRegisterNote, formatExitLine, type Vm, type VmExit, type VmOptions, type VmStop } from '../vmm/vtx/index';
import { formatConfigError, parseVmConfig, toVmOptions, type VmConfig } from '../vmm/config/index';
import { InputError, type LoadedProgram } from './program';
import { loadOnto } from './run';

export { formatExitLine };

/** Where a flat32 guest without an `org` loads under the VMM (the VM configuration's default). */
export const VMM_FLAT32_ORG = 0x1000;
/** `--json` lists at most this many exits, then sets `exitsTruncated`. */
export const MAX_JSON_EXITS = 100_000;
/** Instructions per slice: output and trace lines are written between slices at the latest. */
const SLICE = 4_000_000;


export interface LoadedVmConfig {
  path: string;
  config: VmConfig;
  options: Omit<VmOptions, 'image'>;
  /** Settings of the file the VMM does not apply yet (from toVmOptions). */
  notApplied: string[];
}

/** Reads and validates a VM configuration, `technique` (a command-line override) in place of the file's. */
export function readVmConfig(path: string, override: { technique?: string } = {}): { path: string; config: VmConfig } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InputError(`${path}: no such file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (override.technique !== undefined && json !== null && typeof json === 'object' && !Array.isArray(json)) json = { ...json, technique: override.technique };
  const parsed = parseVmConfig(json);
  if ('errors' in parsed) throw new InputError(parsed.errors.map((e) => `${path}: ${formatConfigError(e)}`).join('\n'));
  return { path, config: parsed.config };
}

/** Reads, validates and converts a VM configuration for VT-x; every problem is an InputError naming the file and field. */
export function loadVmConfig(path: string, override: { technique?: string } = {}): LoadedVmConfig {
  const { config } = readVmConfig(path, override);
  const converted = toVmOptions(config);
  if (!converted.ok) throw new InputError(converted.errors.map((e) => `${path}: ${formatConfigError(e)}`).join('\n'));
  return { path, config, options: converted.options, notApplied: converted.notApplied };
}

export interface VmRunOptions {
  mode: 'real' | 'flat32';
  org?: number;
  maxInstructions: number;
  vmConfig?: LoadedVmConfig;
  /** Keep the exit records (for --json), at most `exitCap`. */
  keepExits?: boolean;
  /** Default MAX_JSON_EXITS. */
  exitCap?: number;
  /** Each exit as it happens (for --trace exits), with `registerNote`. */
  onExit?: (exit: VmExit, note: string) => void;
  /** Guest console output (hypercall console write, COM1, LPT1, port 0xE9) as it happens. */
  onOutput?: (text: string) => void;
  /** After each slice of at most 4,000,000 instructions: a place to flush buffered output. */
  onSlice?: () => void;
}

export interface VmRunOutcome {
  vm: Vm;
  stop: VmStop;
  instructions: number;
  exitCount: number;
  exits: VmExit[];
  exitsTruncated: boolean;
  loadAddress: number;
  /** Everything the guest wrote to the console (hypercall, COM1, LPT1, port 0xE9, string I/O included), in order. */
  console: string;
}


/** The load address under the VMM, checked with the same rules (and messages) as the bare machine. */
function loadAddress(program: LoadedProgram, mode: 'real' | 'flat32', org: number | undefined): number {
  const at = mode === 'flat32' && org === undefined && !program.origin ? VMM_FLAT32_ORG : org;
  // The same loading rules and messages as a bare run, checked on a scratch machine.
  return loadOnto(new Machine({ memorySize: 1 << 20 }), program, mode, at);
}

export function runUnderVmm(program: LoadedProgram, opts: VmRunOptions): VmRunOutcome {
  if (!Number.isSafeInteger(opts.maxInstructions) || opts.maxInstructions <= 0)
    throw new InputError(`--max-instructions must be a positive integer (got ${opts.maxInstructions})`);
  const at = loadAddress(program, opts.mode, opts.org);
  const base = opts.vmConfig?.options ?? {};
  const vm = createVm({ ...base, image: program.bytes, mode: opts.mode, ...(opts.mode === 'flat32' ? { org: at } : { org: undefined }) });
  // Console text in order: the VM's output events and the string I/O only the machine's capture sees.
  const text: string[] = [];
  const syncCapture = collectConsole(vm, (_source, bytes) => {
    const t = String.fromCharCode(...bytes);
    text.push(t);
    opts.onOutput?.(t);
  });
  const exits: VmExit[] = [];
  let exitCount = 0;
  let truncated = false;
  vm.events.on('exit', (e) => {
    exitCount++;
    if (opts.keepExits) {
      if (exits.length < (opts.exitCap ?? MAX_JSON_EXITS)) exits.push(e);
      else truncated = true;
    }
    if (opts.onExit) opts.onExit(e, exitRegisterNote(vm, e));
  });
  let left = opts.maxInstructions;
  let total = 0;
  let stop: VmStop;
  for (;;) {
    stop = vm.run(Math.min(left, SLICE));
    total += stop.instructions;
    left -= stop.instructions;
    syncCapture();
    opts.onSlice?.();
    if (stop.reason !== 'limit') break;
    if (left <= 0) {
      stop = { ...stop, message: `instruction limit reached (${opts.maxInstructions.toLocaleString('en-US')} instructions) — the guest did not stop by itself` };
      break;
    }
  }
  return { vm, stop, instructions: total, exitCount, exits, exitsTruncated: truncated, loadAddress: at, console: text.join('') };
}

const hex = (n: number, width = 8): string => '0x' + (n >>> 0).toString(16).toUpperCase().padStart(width, '0');



/** An exit record as `--json` lists it: the fields a reader needs first, then the rest of the record. */
export function exitJson(e: VmExit): Record<string, unknown> {
  const { sequence, reason, name, vcpu, rip, qualification, instructionLength, summary, why, ...rest } = e;
  return { sequence, reason, name, vcpu, rip, qualification, instructionLength, summary: summary ?? null, why, ...rest };
}

/**
 * Process exit codes of a VMM run (README, USAGE): 0 halted or shut down with
 * code 0, 3 triple fault, 4 instruction limit, 5 unhandled exit, failed VM
 * entry or other error, 6 shutdown with a non-zero code. A shutdown through
 * the debug-exit port counts the value the guest wrote (`debugExitValue`), not
 * the QEMU-style status (value << 1) | 1 the stop reports, which is never 0.
 */
export function vmExitCodeFor(stop: { reason: string; message?: string; code?: number }, debugExitValue: number | null = null): number {
  switch (stop.reason) {
    case 'hlt':
      return 0;
    case 'shutdown':
      if (debugExitValue !== null) return debugExitValue === 0 ? 0 : 6;
      return stop.code === undefined || stop.code === 0 ? 0 : 6;
    case 'triple-fault':
      return 3;
    case 'limit':
      return 4;
    default:
      return 5;
  }
}

/** The stop in words for stderr when it is a failure the user must act on (unhandled exit, failed VM entry). */
export function stopProblem(stop: VmStop): string | undefined {
  if (stop.entryFailure !== undefined) {
    const f = stop.entryFailure;
    return `VM entry failed: check "${f.check}" (${f.list} checks) on ${f.field} = ${hex(f.value, 0)}: ${f.explanation}`;
  }
  if (stop.reason === 'unhandled-exit') return `unhandled VM exit: ${stop.message}`;
  if (stop.reason === 'error') return `VM error: ${stop.message}`;
  return undefined;
}
