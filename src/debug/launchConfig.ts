// Checks and normalizes the arguments of a `launch` request. The attributes
// are those package.json declares for the `hyperstep` debug type; anything
// malformed is reported by name rather than silently replaced by a default.

export type GuestMode = 'real' | 'flat32' | 'rom';

export interface LaunchConfig {
  program: string;
  mode: GuestMode;
  /** Load and start address for flat32 mode, when the configuration gives one. */
  org?: number;
  maxInstructions: number;
  stopOnEntry: boolean;
}

export const DEFAULT_MAX_INSTRUCTIONS = 100_000_000;

/** A launch problem the user can fix; its message is shown as is. */
export class LaunchError extends Error {}

export function parseLaunchConfig(args: Readonly<Record<string, unknown>>): LaunchConfig {
  const program = args['program'];
  if (typeof program !== 'string' || program.trim() === '') {
    throw new LaunchError(
      "The launch configuration has no 'program'. Set \"program\" to a NASM .asm file or a raw binary image, for example \"${file}\".",
    );
  }

  let mode: GuestMode = 'real';
  const modeArg = args['mode'];
  if (modeArg !== undefined) {
    if (modeArg !== 'real' && modeArg !== 'flat32') {
      throw new LaunchError(`'mode' must be "real" or "flat32" (got ${JSON.stringify(modeArg)}).`);
    }
    mode = modeArg;
  }
  const rom = args['rom'];
  if (rom !== undefined && typeof rom !== 'boolean') throw new LaunchError(`'rom' must be true or false (got ${JSON.stringify(rom)}).`);
  if (rom === true) {
    if (modeArg === 'flat32') throw new LaunchError("'rom': true boots from the reset vector; it cannot be combined with 'mode': \"flat32\".");
    mode = 'rom';
  }

  let org: number | undefined;
  if (args['org'] !== undefined) {
    org = parseAddress(args['org']);
    if (org === undefined) {
      throw new LaunchError(`'org' must be an address below 4 GiB such as "0x100000" or 1048576 (got ${JSON.stringify(args['org'])}).`);
    }
    if (mode !== 'flat32') throw new LaunchError(`'org' applies to "flat32" mode only; ${mode === 'rom' ? 'a ROM is mapped below 4 GiB' : 'a boot sector is loaded at 0x7C00'}.`);
  }

  let maxInstructions = DEFAULT_MAX_INSTRUCTIONS;
  const max = args['maxInstructions'];
  if (max !== undefined) {
    if (typeof max !== 'number' || !Number.isSafeInteger(max) || max <= 0) {
      throw new LaunchError(`'maxInstructions' must be a positive integer (got ${JSON.stringify(max)}).`);
    }
    maxInstructions = max;
  }

  const stop = args['stopOnEntry'];
  if (stop !== undefined && typeof stop !== 'boolean') {
    throw new LaunchError(`'stopOnEntry' must be true or false (got ${JSON.stringify(stop)}).`);
  }

  return { program, mode, org, maxInstructions, stopOnEntry: stop === true };
}

/** Parses 1048576, "1048576", "0x100000", "100000h" or "0b1..."; undefined if it is not an address below 4 GiB. */
export function parseAddress(value: unknown): number | undefined {
  let n: number;
  if (typeof value === 'number') {
    n = value;
  } else if (typeof value === 'string') {
    const s = value.trim().replace(/_/g, '');
    let m: RegExpExecArray | null;
    if ((m = /^0x([0-9a-f]+)$/i.exec(s)) || (m = /^([0-9][0-9a-f]*)h$/i.exec(s))) n = parseInt(m[1] ?? '', 16);
    else if ((m = /^0b([01]+)$/i.exec(s))) n = parseInt(m[1] ?? '', 2);
    else if (/^[0-9]+$/.test(s)) n = parseInt(s, 10);
    else return undefined;
  } else {
    return undefined;
  }
  return Number.isSafeInteger(n) && n >= 0 && n < 0x1_0000_0000 ? n : undefined;
}
