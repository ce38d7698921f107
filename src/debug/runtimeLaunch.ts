// From a checked launch configuration and a loaded program to a debug
// target: the VM configuration (inline or from a file, with the launch
// attributes that override it), the load address with the bare machine's
// rules, and the VM its technique calls for: the VT-x VM, or the software
// VMM of trap-and-emulate, binary translation and paravirtualization.

import { Machine } from '../x86/machine';
import { loadGuest, LoadError } from '../x86/boot';
import { createVm, type Vm, type VmOptions } from '../vmm/vtx/index';
import { SoftVm } from '../vmm/soft/index';
import { formatConfigError, isSoftTechnique, parseVmConfig, toSoftVmOptions, toVmOptions, type ConfigError, type VmConfig } from '../vmm/config/index';
import type { FileAccessor } from './fileAccessor';
import type { GuestProgram } from './guestProgram';
import { errorText, loadGuestProgram } from './guestProgram';
import { LaunchError, type LaunchConfig } from './launchConfig';
import type { GuestImage } from './runtime';
import type { DebugTarget } from './target';
import { vtxTarget } from './targetVtx';
import { softTarget } from './targetSoft';

/** Where a flat32 guest without an `org` loads (the VM configuration's default). */
export const FLAT32_DEFAULT_ORG = 0x1000;

const LAUNCH_SETTINGS = { mode: "'mode'", flat32: '"mode": "flat32"', org: "'org'" };

/** An `org` that makes a source a flat32 guest when the launch does not say: anything but none, 0 and 0x7C00. */
function isFlat32Origin(origin: number | undefined): boolean {
  return origin !== undefined && origin !== 0 && origin !== 0x7c00;
}

/** The directory part of a path, with either separator. */
function dirname(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i < 0 ? '.' : path.slice(0, i);
}

function isAbsolute(path: string): boolean {
  // A URI (vscode-remote://…, file:///…) is absolute too; a scheme has two letters at least, a drive one.
  return path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\') || /^[A-Za-z][A-Za-z0-9+.-]+:\/\//.test(path);
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

export interface BuiltTarget {
  target: DebugTarget;
  image: GuestImage;
  mode: 'real' | 'flat32';
  /** Settings of the VM configuration the VMM does not apply, and why. */
  notApplied: string[];
  /** The same as lines for the debug console. */
  notes: string[];
}

export interface BuiltVm {
  vm: Vm;
  image: GuestImage;
  mode: 'real' | 'flat32';
  /** Settings of the VM configuration the VMM does not apply yet. */
  notApplied: string[];
}

/** buildTarget where only the VT-x VM will do (the paging comparison): a software technique is an error naming 'technique'. */
export async function buildVm(files: FileAccessor, config: LaunchConfig, program: GuestProgram): Promise<BuiltVm> {
  const built = await buildTarget(files, config, program);
  const vm = built.target.vtx;
  if (vm === null) throw new LaunchError(`'technique': "${built.target.technique}" runs on the software VMM; this needs "vtx".`);
  return { vm, image: built.image, mode: built.mode, notApplied: built.notApplied };
}

export { collectConsole } from './targetVtx';

export async function buildTarget(files: FileAccessor, config: LaunchConfig, loaded: GuestProgram): Promise<BuiltTarget> {
  let program = loaded;
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
  const technique = typeof json['technique'] === 'string' ? json['technique'] : 'vtx';
  const soft = isSoftTechnique(technique);
  if (soft && config.paging === 'ept') throw new LaunchError(`'paging': "ept" cannot apply under ${technique}: without VT-x there is no second-level translation, and the software techniques always keep shadow page tables (docs/techniques.md). Use "shadow" or leave 'paging' out.`);
  const givenEntry = typeof json['entry'] === 'object' && json['entry'] !== null ? (json['entry'] as Record<string, unknown>) : undefined;
  // A software technique runs a flat32 kernel: that is its default, and "real" is an error below. Otherwise,
  // as `hyperstep run` decides: a source with an `org` other than 0x7C00 (or an 'org' given) is a flat32 guest.
  const byDefault = soft || config.mode === 'flat32' || config.org !== undefined || isFlat32Origin(program.origin) ? 'flat32' : 'real';
  const mode: 'real' | 'flat32' = config.modeGiven === true ? (config.mode === 'flat32' ? 'flat32' : 'real') : givenEntry?.['mode'] === undefined ? byDefault : givenEntry['mode'] === 'flat32' ? 'flat32' : 'real';
  json['entry'] = { ...(givenEntry ?? {}), mode };
  if (config.modeGiven === true) overridden.add('entry');
  const parsed = parseVmConfig(json);
  if ('errors' in parsed) throw configProblem(parsed.errors, where, overridden);
  // Assembled as a boot sector (16-bit) before the mode was known: assemble it again for flat32.
  if (mode === 'flat32' && program.fromSource && program.bits === 16 && config.modeGiven !== true) program = await loadGuestProgram(files, { ...config, mode: 'flat32' });
  const maker = soft ? softMaker(parsed.config, program, where, overridden) : vtxMaker(parsed.config, program, mode, where, overridden);

  // The load address, checked with the bare machine's rules and messages.
  const org = mode === 'flat32' ? config.org ?? (program.origin ? undefined : givenEntry?.['org'] !== undefined ? parsed.config.entry.org : FLAT32_DEFAULT_ORG) : config.org;
  let loadAddress: number;
  try {
    loadAddress = loadGuest(new Machine({ memorySize: 1 << 20 }), { name: program.path, bytes: program.bytes, origin: program.origin }, mode, org, LAUNCH_SETTINGS);
  } catch (e) {
    if (e instanceof LoadError) throw new LaunchError(e.message + '.');
    throw e;
  }
  const target = maker.create(loadAddress);
  const image: GuestImage = {
    path: program.path,
    bytes: program.bytes,
    fromSource: program.fromSource,
    ...(program.sourceMap ? { sourceMap: program.sourceMap } : {}),
    ...(program.symbols ? { symbols: program.symbols } : {}),
    loadAddress,
    bits: program.bits ?? (mode === 'flat32' ? 32 : 16),
  };
  return { target, image, mode, notApplied: maker.notApplied, notes: maker.notes };
}

/** The configuration checked for a VMM (errors name the attribute), and how to create it once the load address is known. */
interface TargetMaker {
  notApplied: string[];
  notes: string[];
  create(loadAddress: number): DebugTarget;
}

function vtxMaker(config: VmConfig, program: GuestProgram, mode: 'real' | 'flat32', where: string, overridden: ReadonlySet<string>): TargetMaker {
  const converted = toVmOptions(config);
  if (!converted.ok) throw configProblem(converted.errors, where, overridden);
  return {
    notApplied: converted.notApplied,
    notes: converted.notApplied.map((n) => `VM configuration: ${n} is not applied yet.`),
    create: (loadAddress) => {
      const options: VmOptions = { ...(converted.options as Omit<VmOptions, 'image'>), image: program.bytes, mode, org: mode === 'flat32' ? loadAddress : undefined };
      let vm: Vm;
      try {
        vm = createVm(options);
      } catch (e) {
        throw new LaunchError(`${where}: the VM cannot be created: ${errorText(e)}`);
      }
      return vtxTarget(vm);
    },
  };
}

/** The software VMM: one vCPU, a flat32 kernel, shadow paging (src/vmm/soft, docs/techniques.md). */
function softMaker(config: VmConfig, program: GuestProgram, where: string, overridden: ReadonlySet<string>): TargetMaker {
  const converted = toSoftVmOptions(config);
  if (!converted.ok) throw configProblem(converted.errors, where, overridden);
  return {
    notApplied: converted.notApplied,
    notes: converted.notApplied.map((n) => `VM configuration: ${n}.`),
    create: (loadAddress) => {
      let vm: SoftVm;
      try {
        vm = new SoftVm({ ...converted.options, image: program.bytes, org: loadAddress });
      } catch (e) {
        throw new LaunchError(`${overridden.has('technique') ? "'technique'" : where}: the ${converted.options.technique} VM cannot be created: ${errorText(e)}`);
      }
      return softTarget(vm);
    },
  };
}
