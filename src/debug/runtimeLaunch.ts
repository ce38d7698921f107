// From a checked launch configuration and a loaded program to a VM: the VM
// configuration (inline or from a file, with the launch attributes that
// override it), the load address with the bare machine's rules, and the
// guest console collected from every place a guest can write to.

import { Machine } from '../x86/machine';
import { loadGuest, LoadError } from '../x86/boot';
import { createVm, type Vm, type VmOptions } from '../vmm/vtx/index';
import { formatConfigError, parseVmConfig, toVmOptions, type ConfigError } from '../vmm/config/index';
import type { FileAccessor } from './fileAccessor';
import type { GuestProgram } from './guestProgram';
import { errorText } from './guestProgram';
import { LaunchError, type LaunchConfig } from './launchConfig';
import type { GuestImage } from './runtime';

/** Where a flat32 guest without an `org` loads (the VM configuration's default). */
export const FLAT32_DEFAULT_ORG = 0x1000;

const LAUNCH_SETTINGS = { mode: "'mode'", flat32: '"mode": "flat32"', org: "'org'" };

/** The directory part of a path, with either separator. */
function dirname(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i < 0 ? '.' : path.slice(0, i);
}

function isAbsolute(path: string): boolean {
  return path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\');
}

/** The VM configuration JSON the launch asks for, before the overriding attributes are applied. */
async function readVmConfig(files: FileAccessor, config: LaunchConfig): Promise<{ json: Record<string, unknown>; where: string }> {
  if (config.vm === undefined) return { json: {}, where: "'vm'" };
  if (typeof config.vm !== 'string') return { json: { ...config.vm }, where: "'vm'" };
  const path = isAbsolute(config.vm) ? config.vm : `${dirname(config.program)}/${config.vm}`;
  let text: string;
  try {
    text = new TextDecoder('utf-8').decode(await files.readFile(path));
  } catch (e) {
    throw new LaunchError(`'vm': cannot read the VM configuration '${path}': ${errorText(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LaunchError(`'vm': ${path} is not valid JSON: ${errorText(e)}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new LaunchError(`'vm': ${path} must hold a JSON object`);
  return { json: json as Record<string, unknown>, where: `'vm' (${path})` };
}

/** Names the launch attribute a configuration error comes from, when an attribute overrode that field. */
function configProblem(errors: ConfigError[], where: string, overridden: ReadonlySet<string>): LaunchError {
  return new LaunchError(
    errors
      .map((e) => {
        const top = e.path.split('.')[0];
        const attribute = overridden.has(top) ? `'${top === 'entry' ? 'mode' : top}'` : where;
        return `${attribute}: ${formatConfigError(e)}`;
      })
      .join('\n'),
  );
}

export interface BuiltVm {
  vm: Vm;
  image: GuestImage;
  mode: 'real' | 'flat32';
  /** Settings of the VM configuration the VMM does not apply yet. */
  notApplied: string[];
}

export async function buildVm(files: FileAccessor, config: LaunchConfig, program: GuestProgram): Promise<BuiltVm> {
  if (config.mode === 'rom') throw new LaunchError("'rom': booting from the reset vector is not available under the VMM; use \"mode\": \"real\" or \"flat32\".");
  const { json, where } = await readVmConfig(files, config);
  const overridden = new Set<string>();
  if (config.technique !== undefined) {
    json['technique'] = config.technique;
    overridden.add('technique');
  }
  if (config.vcpus !== undefined) {
    json['vcpus'] = config.vcpus;
    overridden.add('vcpus');
  }
  if (config.paging !== undefined) {
    json['paging'] = config.paging;
    overridden.add('paging');
  }
  const givenEntry = typeof json['entry'] === 'object' && json['entry'] !== null ? (json['entry'] as Record<string, unknown>) : undefined;
  const mode: 'real' | 'flat32' = config.modeGiven === true || givenEntry?.['mode'] === undefined ? (config.mode === 'flat32' ? 'flat32' : 'real') : givenEntry['mode'] === 'flat32' ? 'flat32' : 'real';
  json['entry'] = { ...(givenEntry ?? {}), mode };
  if (config.modeGiven === true) overridden.add('entry');
  const parsed = parseVmConfig(json);
  if ('errors' in parsed) throw configProblem(parsed.errors, where, overridden);
  const converted = toVmOptions(parsed.config);
  if (!converted.ok) throw configProblem(converted.errors, where, overridden);

  // The load address, checked with the bare machine's rules and messages.
  const org = mode === 'flat32' ? config.org ?? (program.origin ? undefined : givenEntry?.['org'] !== undefined ? parsed.config.entry.org : FLAT32_DEFAULT_ORG) : config.org;
  let loadAddress: number;
  try {
    loadAddress = loadGuest(new Machine({ memorySize: 1 << 20 }), { name: program.path, bytes: program.bytes, origin: program.origin }, mode, org, LAUNCH_SETTINGS);
  } catch (e) {
    if (e instanceof LoadError) throw new LaunchError(e.message + '.');
    throw e;
  }
  const options: VmOptions = { ...(converted.options as Omit<VmOptions, 'image'>), image: program.bytes, mode, org: mode === 'flat32' ? loadAddress : undefined };
  let vm: Vm;
  try {
    vm = createVm(options);
  } catch (e) {
    throw new LaunchError(`${where}: the VM cannot be created: ${errorText(e)}`);
  }
  const image: GuestImage = {
    path: program.path,
    bytes: program.bytes,
    fromSource: program.fromSource,
    ...(program.sourceMap ? { sourceMap: program.sourceMap } : {}),
    ...(program.symbols ? { symbols: program.symbols } : {}),
    loadAddress,
    bits: program.bits ?? (mode === 'flat32' ? 32 : 16),
  };
  return { vm, image, mode, notApplied: converted.notApplied };
}

type CapturedPort = 'com1' | 'e9' | 'lpt1';
const CAPTURED_PORTS: readonly CapturedPort[] = ['com1', 'e9', 'lpt1'];
/** `output` event sources of the I/O handler → the machine's console capture they also land in. */
const PORT_SOURCES: Readonly<Record<string, CapturedPort>> = { 'port 3F8h': 'com1', 'port E9h': 'e9', 'port 378h': 'lpt1' };

/**
 * Calls `emit` with guest console bytes in order: the VM's output events
 * (console ports, hypercall console, UART, virtio) and the string I/O the CPU
 * carries out on the machine's bus, which only the machine's capture sees.
 * Returns `sync`, to call at each stop and exit.
 */
export function collectConsole(vm: Vm, emit: (source: string, bytes: number[]) => void): () => void {
  const capture = vm.bus === vm.machine.io ? vm.machine.console : undefined;
  const reported: Record<CapturedPort, number> = { com1: 0, e9: 0, lpt1: 0 };
  const sync = (): void => {
    if (capture === undefined) return;
    for (const port of CAPTURED_PORTS) {
      const all = capture[port];
      if (all.length > reported[port]) {
        emit(port, all.slice(reported[port]));
        reported[port] = all.length;
      }
    }
  };
  vm.events.on('output', (o) => {
    const port = PORT_SOURCES[o.source];
    if (port !== undefined) reported[port] += o.bytes.length;
    emit(o.source, o.bytes);
  });
  vm.events.on('exit', () => sync());
  return sync;
}
