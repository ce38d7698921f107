// `hyperstep run`: load a guest onto the bare machine and run it to a stop.
import { Machine } from '../x86/machine';
import type { StopInfo } from '../x86/machine';
import { InputError, type LoadedProgram } from './program';
import { hex } from './format';

export type StartMode = 'real' | 'flat32' | 'rom';

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

/** The flat32 default when neither --org nor the source says where: 1 MiB, like a multiboot kernel. */
export const DEFAULT_FLAT32_ORG = 0x100000;
/** Largest boot image: from 0x7C00 up to the EBDA/VGA hole at 0x9FC00... keep it simple and conventional. */
const MAX_BOOT_IMAGE = 0x9fc00 - 0x7c00;
/** Instructions per slice: console output is flushed between slices so long runs show progress. */
const SLICE = 4_000_000;

export function loadOnto(machine: Machine, program: LoadedProgram, mode: StartMode, org?: number): number {
  const size = program.bytes.length;
  switch (mode) {
    case 'real':
      if (size > MAX_BOOT_IMAGE) throw new InputError(`${program.path}: ${size} bytes is too large for a boot image at 0x7C00 (at most ${MAX_BOOT_IMAGE} bytes)`);
      if (program.origin !== undefined && program.origin !== 0x7c00 && program.origin !== 0)
        throw new InputError(`${program.path}: the source says 'org ${hex(program.origin)}', but a boot sector is loaded at 0x7C00 (use --mode flat32 --org ${hex(program.origin)} to load it there)`);
      machine.loadBootSector(program.bytes);
      return 0x7c00;
    case 'flat32': {
      const at = org ?? program.origin ?? DEFAULT_FLAT32_ORG;
      if (org !== undefined && program.origin !== undefined && program.origin !== 0 && program.origin !== org)
        throw new InputError(`${program.path}: --org ${hex(org)} differs from the source's 'org ${hex(program.origin)}'`);
      if (at < 0 || at + size > 0x1_0000_0000) throw new InputError(`--org ${hex(at)}: the ${size}-byte image does not fit below 4 GiB`);
      machine.loadFlat32(program.bytes, at);
      return at;
    }
    case 'rom':
      if (size !== 0x10000 && size !== 0x20000)
        throw new InputError(`${program.path}: a ROM image must be exactly 64 KiB or 128 KiB (got ${size} bytes); pad it with 'times' to the full size`);
      machine.loadRom(program.bytes);
      return 0x1_0000_0000 - size;
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
