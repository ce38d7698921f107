// `hyperstep run`: load a guest onto the bare machine and run it to a stop.
import { Machine } from '../x86/machine';
import type { StopInfo } from '../x86/machine';
import { InputError, type LoadedProgram } from './program';
import { loadGuest, LoadError, type StartMode } from '../x86/boot';

export type { StartMode } from '../x86/boot';

export interface RunOptions {
  mode: StartMode;
  /** Load/start address in flat32 mode. */
  org?: number;
  maxInstructions: number;
  /** Called with console bytes as they appear, between run slices. */
  onConsole?: (port: 'com1' | 'lpt1' | 'e9', bytes: number[]) => void;
}

export interface RunOutcome {
  machine: Machine;
  stop: StopInfo;
  instructions: number;
  loadAddress: number;
}

/** Instructions per slice: console output is flushed between slices so long runs show progress. */
const SLICE = 4_000_000;

const CLI_SETTINGS = { mode: '--mode', flat32: '--mode flat32', org: '--org' };

export function loadOnto(machine: Machine, program: LoadedProgram, mode: StartMode, org?: number): number {
  try {
    return loadGuest(machine, { name: program.path, bytes: program.bytes, origin: program.origin }, mode, org, CLI_SETTINGS);
  } catch (e) {
    if (e instanceof LoadError) throw new InputError(e.message);
    throw e;
  }
}

export function runProgram(program: LoadedProgram, opts: RunOptions): RunOutcome {
  if (!Number.isSafeInteger(opts.maxInstructions) || opts.maxInstructions <= 0)
    throw new InputError(`--max-instructions must be a positive integer (got ${opts.maxInstructions})`);
  const machine = new Machine();
  const loadAddress = loadOnto(machine, program, opts.mode, opts.org);
  const seen = { com1: 0, lpt1: 0, e9: 0 };
  const flush = () => {
    if (!opts.onConsole) return;
    for (const port of ['com1', 'lpt1', 'e9'] as const) {
      const all = machine.console[port];
      if (all.length > seen[port]) {
        opts.onConsole(port, all.slice(seen[port]));
        seen[port] = all.length;
      }
    }
  };
  let left = opts.maxInstructions;
  let total = 0;
  let stop: StopInfo;
  for (;;) {
    const slice = Math.min(left, SLICE);
    stop = machine.run(slice);
    total += stop.instructions;
    left -= stop.instructions;
    flush();
    if (stop.reason !== 'limit') break;
    if (left <= 0) {
      stop = { ...stop, message: `instruction limit reached (${opts.maxInstructions.toLocaleString('en-US')} instructions) — the guest did not stop by itself` };
      break;
    }
  }
  return { machine, stop, instructions: total, loadAddress };
}

/** Process exit codes of `hyperstep run`, documented in the README. */
export function exitCodeFor(stop: StopInfo): number {
  switch (stop.reason) {
    case 'hlt':
    case 'shutdown':
      return 0;
    case 'triple-fault':
      return 3;
    case 'limit':
      return 4;
    default:
      return 5;
  }
}
