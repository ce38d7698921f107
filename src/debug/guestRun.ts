// Loads a guest program onto a fresh Machine and runs it to a stop in slices,
// handing console output over between slices. Slicing keeps the host
// responsive (the session may run inline in the extension host) and lets a
// terminate or disconnect request end a long run.

import { Machine, type StopInfo } from '../x86/machine';
import { loadGuest, LoadError } from '../x86/boot';
import type { GuestProgram } from './guestProgram';
import { LaunchError, type LaunchConfig } from './launchConfig';

/** The console channels a guest's output is read from, in the order they are flushed. */
export const CONSOLE_CHANNELS = ['com1', 'e9'] as const;
export type ConsoleChannel = (typeof CONSOLE_CHANNELS)[number];

const DEFAULT_SLICE = 1_000_000;

const hexDigits = (n: number, digits: number): string => (n >>> 0).toString(16).toUpperCase().padStart(digits, '0');

const LAUNCH_SETTINGS = { mode: "'mode'", flat32: '"mode": "flat32"', org: "'org'" };

/** Creates the machine and loads the program as the configuration says; returns the load address too. */
export function bootGuest(program: GuestProgram, config: LaunchConfig): { machine: Machine; loadAddress: number } {
  const machine = new Machine();
  try {
    const loadAddress = loadGuest(machine, { name: program.path, bytes: program.bytes, origin: program.origin }, config.mode, config.org, LAUNCH_SETTINGS);
    return { machine, loadAddress };
  } catch (e) {
    if (e instanceof LoadError) throw new LaunchError(e.message + '.');
    throw e;
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
  const where = `CS:EIP ${hexDigits(stop.cs, 4)}:${hexDigits(stop.eip, 8)}`;
  const count = `${instructions.toLocaleString('en-US')} instruction${instructions === 1 ? '' : 's'}`;
  if (result.cancelled) return `Guest run cancelled after ${count} at ${where}.`;
  const detail = stop.message ? `: ${stop.message.replace(/\.$/, '')}` : '';
  return `Guest stopped (${stop.reason}) after ${count} at ${where}${detail}.`;
}
