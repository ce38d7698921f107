// Loads a guest program onto a fresh Machine and runs it to a stop in slices,
// handing console output over between slices. Slicing keeps the host
// responsive (the session may run inline in the extension host) and lets a
// terminate or disconnect request end a long run.

import { Machine, type StopInfo } from '../x86/machine';
import type { GuestProgram } from './guestProgram';
import { LaunchError, type LaunchConfig } from './launchConfig';

/** The console channels a guest's output is read from, in the order they are flushed. */
export const CONSOLE_CHANNELS = ['com1', 'e9'] as const;
export type ConsoleChannel = (typeof CONSOLE_CHANNELS)[number];

export const DEFAULT_FLAT32_ORG = 0x100000;
/** A boot image may fill conventional memory from 0x7C00 up to the EBDA at 0x9FC00. */
const MAX_BOOT_IMAGE = 0x9fc00 - 0x7c00;
const DEFAULT_SLICE = 1_000_000;

const hex = (n: number, digits = 0): string => '0x' + n.toString(16).toUpperCase().padStart(digits, '0');

/** Creates the machine and loads the program as the configuration says; returns the load address too. */
export function bootGuest(program: GuestProgram, config: LaunchConfig): { machine: Machine; loadAddress: number } {
  const size = program.bytes.length;
  const machine = new Machine();
  switch (config.mode) {
    case 'real': {
      if (size > MAX_BOOT_IMAGE) {
        throw new LaunchError(`${program.path}: ${size} bytes is too large for a boot image at 0x7C00 (at most ${MAX_BOOT_IMAGE} bytes).`);
      }
      if (program.origin !== undefined && program.origin !== 0 && program.origin !== 0x7c00) {
        throw new LaunchError(
          `${program.path}: the source says 'org ${hex(program.origin)}', but a boot sector is loaded at 0x7C00 (set "mode": "flat32" to load it at its org).`,
        );
      }
      machine.loadBootSector(program.bytes);
      return { machine, loadAddress: 0x7c00 };
    }
    case 'flat32': {
      const sourceOrg = program.origin !== undefined && program.origin !== 0 ? program.origin : undefined;
      if (config.org !== undefined && sourceOrg !== undefined && sourceOrg !== config.org) {
        throw new LaunchError(`${program.path}: "org": ${hex(config.org)} differs from the source's 'org ${hex(sourceOrg)}'.`);
      }
      const at = config.org ?? sourceOrg ?? DEFAULT_FLAT32_ORG;
      if (at + size > 0x1_0000_0000) throw new LaunchError(`${program.path}: ${size} bytes at ${hex(at)} do not fit below 4 GiB.`);
      machine.loadFlat32(program.bytes, at);
      return { machine, loadAddress: at };
    }
    case 'rom': {
      if (size !== 0x10000 && size !== 0x20000) {
        throw new LaunchError(`${program.path}: a ROM image must be exactly 64 KiB or 128 KiB (got ${size} bytes).`);
      }
      machine.loadRom(program.bytes);
      return { machine, loadAddress: 0x1_0000_0000 - size };
    }
  }
}

export interface RunResult {
  stop: StopInfo;
  /** Instructions executed in this run, over all slices. */
  instructions: number;
  /** True when the run was cancelled before the guest stopped. */
  cancelled: boolean;
}

export interface GuestRunOptions {
  maxInstructions: number;
  /** Receives console bytes in order of channel, after each slice. */
  onConsole: (channel: ConsoleChannel, bytes: number[]) => void;
  sliceInstructions?: number;
  /** Lets the host process other work between slices; defaults to a zero timeout. */
  yieldToHost?: () => Promise<void>;
}

export class GuestRun {
  private cancelRequested = false;
  private readonly seen: Record<ConsoleChannel, number> = { com1: 0, e9: 0 };

  constructor(
    readonly machine: Machine,
    private readonly options: GuestRunOptions,
  ) {}

  /** Stops the run at the next slice boundary. */
  cancel(): void {
    this.cancelRequested = true;
  }

  get isCancelled(): boolean {
    return this.cancelRequested;
  }

  async run(): Promise<RunResult> {
    const max = this.options.maxInstructions;
    const slice = this.options.sliceInstructions ?? DEFAULT_SLICE;
    const pause = this.options.yieldToHost ?? (() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
    let total = 0;
    for (;;) {
      const stop = this.machine.run(Math.min(slice, max - total));
      total += stop.instructions;
      this.flushConsole();
      if (stop.reason !== 'limit') return { stop, instructions: total, cancelled: false };
      if (total >= max) {
        const message = `the guest did not stop by itself within maxInstructions (${max.toLocaleString('en-US')})`;
        return { stop: { ...stop, message }, instructions: total, cancelled: false };
      }
      await pause();
      if (this.cancelRequested) return { stop, instructions: total, cancelled: true };
    }
  }

  private flushConsole(): void {
    for (const channel of CONSOLE_CHANNELS) {
      const all = this.machine.console[channel];
      const from = this.seen[channel];
      if (all.length > from) {
        this.seen[channel] = all.length;
        this.options.onConsole(channel, all.slice(from));
      }
    }
  }
}

/** One line describing how the guest stopped, for the debug console. */
export function describeStop(result: RunResult): string {
  const { stop, instructions } = result;
  const where = `CS:EIP ${hex(stop.cs, 4).slice(2)}:${hex(stop.eip >>> 0, 8).slice(2)}`;
  const count = `${instructions.toLocaleString('en-US')} instruction${instructions === 1 ? '' : 's'}`;
  if (result.cancelled) return `Guest run cancelled after ${count} at ${where}.`;
  const detail = stop.message ? `: ${stop.message.replace(/\.$/, '')}` : '';
  return `Guest stopped (${stop.reason}) after ${count} at ${where}${detail}.`;
}
