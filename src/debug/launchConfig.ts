// Checks and normalizes the arguments of a `launch` request. The attributes
// are listed once, in LAUNCH_ATTRIBUTES, from which the editor side builds
// the launch-configuration schema in package.json; anything malformed is
// reported by name rather than silently replaced by a default.

import { closest } from '../vmm/config/suggest';

export type GuestMode = 'real' | 'flat32' | 'rom';

export type PagingChoice = 'ept' | 'shadow';
export const TECHNIQUE_NAMES = ['vtx', 'trap-and-emulate', 'binary-translation', 'paravirt'] as const;
export type TechniqueChoice = (typeof TECHNIQUE_NAMES)[number];

/** Where guest console output goes. */
export interface ConsoleOptions {
  /** Send guest output to the debug console as it appears (default true). */
  output: boolean;
  /** Show a line in the debug console for every VM exit (default false). */
  traceExits: boolean;
}

export interface LaunchConfig {
  program: string;
  mode: GuestMode;
  /** True when `mode` was given (otherwise a VM configuration's entry mode may decide). */
  modeGiven?: boolean;
  /** Load and start address for flat32 mode, when the configuration gives one. */
  org?: number;
  maxInstructions: number;
  stopOnEntry: boolean;
  /** The VM configuration: an inline object or a path to a JSON file. */
  vm?: Record<string, unknown> | string;
  technique?: TechniqueChoice;
  vcpus?: number;
  paging?: PagingChoice;
  /** Exit filters on from the start: reason numbers or names, or filter ids such as "any". */
  breakOnExits?: (number | string)[];
  console?: ConsoleOptions;
}

/** One launch attribute: JSON type, default and description, for the schema the extension publishes. */
export interface LaunchAttribute {
  name: string;
  type: string | string[];
  description: string;
  default?: unknown;
  enum?: readonly string[];
  /** For arrays: the type of an item. */
  items?: { type: string | string[] };
  /** For objects: the properties. */
  properties?: Record<string, { type: string | string[]; description: string; default?: unknown }>;
  required?: boolean;
}

export const LAUNCH_ATTRIBUTES: readonly LaunchAttribute[] = [
  { name: 'program', type: 'string', required: true, default: '${file}', description: 'Guest program: a NASM .asm file (assembled on launch, with a source map for breakpoints and stepping) or a raw binary image.' },
  { name: 'vm', type: ['object', 'string'], description: 'The VM configuration (docs/vm-config.md): an inline object, or the path of a JSON file, relative to the program\'s folder unless absolute.' },
  { name: 'stopOnEntry', type: 'boolean', default: false, description: 'Stop at the first guest instruction.' },
  { name: 'mode', type: 'string', enum: ['real', 'flat32'], default: 'real', description: 'Start in real mode (boot sector at 0x7C00) or in flat 32-bit protected mode at `org`. Overrides the VM configuration\'s entry mode. Without it, as `hyperstep run` decides: flat32 for a source whose `org` is not 0x7C00 (or with `org` given), real mode otherwise. The software techniques run flat32 only (their default).' },
  { name: 'org', type: ['string', 'number'], description: 'Load and start address for flat32 mode (e.g. "0x1000").' },
  { name: 'rom', type: 'boolean', default: false, description: 'Boot the image as a BIOS ROM (not available under the VMM; kept so old configurations get a clear error).' },
  { name: 'maxInstructions', type: 'number', default: 100000000, description: 'Stop the guest after this many instructions in one run (continue, step).' },
  { name: 'technique', type: 'string', enum: TECHNIQUE_NAMES, default: 'vtx', description: 'Virtualization technique; overrides the VM configuration. "vtx" runs the guest in VMX non-root operation; "trap-and-emulate", "binary-translation" and "paravirt" run a flat32 guest kernel on the software VMM (one vCPU, shadow paging), with the Virtualization hole and VMM trap filters and the Virtual CPU and Technique scopes.' },
  { name: 'vcpus', type: 'number', default: 1, description: 'Number of virtual CPUs (1..8); overrides the VM configuration. Each vCPU is a thread. The software techniques run one.' },
  { name: 'paging', type: 'string', enum: ['ept', 'shadow'], default: 'ept', description: 'Second-level translation: extended page tables or shadow paging; overrides the VM configuration. The software techniques always keep shadow page tables ("ept" is an error there).' },
  { name: 'breakOnExits', type: 'array', items: { type: ['number', 'string'] }, default: [], description: 'Exception filters on from the start: VM-exit reason numbers (30) or names (IO_INSTRUCTION), or "any", "entry-failure", "triple-fault", "virtualization-hole", "vmm-trap".' },
  {
    name: 'console',
    type: 'object',
    description: 'Guest console options.',
    properties: {
      output: { type: 'boolean', default: true, description: 'Show guest console output (COM1, port 0xE9, hypercall console, virtio) in the debug console.' },
      traceExits: { type: 'boolean', default: false, description: 'Print one line per VM exit in the debug console (per trap and hole under a software technique).' },
    },
  },
];

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

  const config: LaunchConfig = { program, mode, org, maxInstructions, stopOnEntry: stop === true };
  if (modeArg !== undefined) config.modeGiven = true;
  parseVmAttributes(args, config);
  return config;
}

/** Attributes VS Code itself puts in or reads from every launch configuration. */
const CLIENT_ATTRIBUTES = ['type', 'request', 'name', 'noDebug', 'preLaunchTask', 'postDebugTask', 'internalConsoleOptions', 'debugServer', 'presentation', 'suppressMultipleSessionWarning', 'serverReadyAction', 'bare'];

/**
 * Warnings for attributes nobody reads (a typo such as `stopOnentry` would
 * otherwise be ignored without a word), with the closest known name.
 */
export function launchWarnings(args: Readonly<Record<string, unknown>>): string[] {
  const known = LAUNCH_ATTRIBUTES.map((a) => a.name);
  const out: string[] = [];
  for (const key of Object.keys(args)) {
    if (known.includes(key) || CLIENT_ATTRIBUTES.includes(key) || key.startsWith('__')) continue;
    const near = closest(key, known);
    out.push(`Launch attribute '${key}' is not one Hyperstep knows; it is ignored.${near !== undefined ? ` Did you mean '${near}'?` : ''}`);
  }
  return out;
}

const EXIT_FILTER_WORD = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** The attributes that describe the VM: checked here for type; their values are checked with the VM configuration. */
function parseVmAttributes(args: Readonly<Record<string, unknown>>, config: LaunchConfig): void {
  const vm = args['vm'];
  if (vm !== undefined) {
    if (typeof vm === 'string' && vm.trim() !== '') config.vm = vm;
    else if (typeof vm === 'object' && vm !== null && !Array.isArray(vm)) config.vm = vm as Record<string, unknown>;
    else throw new LaunchError(`'vm' must be a VM configuration object or the path of a JSON file (got ${JSON.stringify(vm)}).`);
  }
  const technique = args['technique'];
  if (technique !== undefined) {
    if (typeof technique !== 'string' || !(TECHNIQUE_NAMES as readonly string[]).includes(technique)) {
      throw new LaunchError(`'technique' must be one of ${TECHNIQUE_NAMES.map((t) => `"${t}"`).join(', ')} (got ${JSON.stringify(technique)}).`);
    }
    config.technique = technique as TechniqueChoice;
  }
  const vcpus = args['vcpus'];
  if (vcpus !== undefined) {
    if (typeof vcpus !== 'number' || !Number.isInteger(vcpus) || vcpus < 1 || vcpus > 8) throw new LaunchError(`'vcpus' must be an integer from 1 to 8 (got ${JSON.stringify(vcpus)}).`);
    config.vcpus = vcpus;
  }
  const paging = args['paging'];
  if (paging !== undefined) {
    if (paging !== 'ept' && paging !== 'shadow') throw new LaunchError(`'paging' must be "ept" or "shadow" (got ${JSON.stringify(paging)}).`);
    config.paging = paging;
  }
  const exits = args['breakOnExits'];
  if (exits !== undefined) {
    if (!Array.isArray(exits)) throw new LaunchError(`'breakOnExits' must be an array of exit reason numbers or names (got ${JSON.stringify(exits)}).`);
    for (const e of exits as unknown[]) {
      const ok = (typeof e === 'number' && Number.isInteger(e) && e >= 0 && e <= 0xffff) || (typeof e === 'string' && EXIT_FILTER_WORD.test(e));
      if (!ok) throw new LaunchError(`'breakOnExits' entries must be exit reason numbers or names (got ${JSON.stringify(e)}).`);
    }
    config.breakOnExits = exits as (number | string)[];
  }
  const consoleArg = args['console'];
  if (consoleArg !== undefined) {
    if (typeof consoleArg !== 'object' || consoleArg === null || Array.isArray(consoleArg)) throw new LaunchError(`'console' must be an object such as { "output": true } (got ${JSON.stringify(consoleArg)}).`);
    const c = consoleArg as Record<string, unknown>;
    for (const key of Object.keys(c)) {
      if (key !== 'output' && key !== 'traceExits') throw new LaunchError(`'console.${key}' is not a console option; the options are 'output' and 'traceExits'.`);
      if (typeof c[key] !== 'boolean') throw new LaunchError(`'console.${key}' must be true or false (got ${JSON.stringify(c[key])}).`);
    }
    config.console = { output: c['output'] !== false, traceExits: c['traceExits'] === true };
  }
  if (args['bare'] !== undefined && args['bare'] !== false) throw new LaunchError("'bare': the debugger runs guests under the VMM only; remove 'bare'.");
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
