// The VM-configuration validator. Hand-written (the engine runs in a browser
// and takes no dependencies) and exhaustive: it walks the whole document and
// reports every problem at once, each with the JSON path of the value and a
// message naming the allowed values, so a launch.json can be fixed in one go.
// It accepts exactly what schemas/vm-config.schema.json accepts, plus the
// checks a schema cannot express (overlaps, ranges of hex strings, MSR ranges).

import type { CpuidRegs } from '../vtx';
import {
  CONFIG_CONTROL_SETS, DEFAULTS, ENTRY_MODES, EXCEPTION_VECTORS, EXIT_REASON_NAMES, LIMITS, PAGING_MODES, SLOT_KINDS, TECHNIQUES,
  controlNames, type ConfigControlSet,
} from './defaults';
import { DEFAULT_COST_TABLE, INSTRUCTION_CLASSES } from '../cost';
import { CPUID_LEAF_PATTERN } from './schema';
import { closest } from './suggest';
import type {
  ConfigError, ControlsConfig, CostModelConfig, CrConfig, DevicesConfig, IoRangeConfig, MemorySlotConfig, MsrEntryConfig, VmConfig,
} from './types';

type Json = Record<string, unknown>;

export interface ValidationResult { config?: VmConfig; errors: ConfigError[] }

const TOP_LEVEL = ['vcpus', 'pcpus', 'sliceInstructions', 'memory', 'paging', 'technique', 'kernelRing', 'controls', 'cpuid', 'devices', 'costModel', 'entry'];
const CONTROLS_KEYS = [...CONFIG_CONTROL_SETS, 'exceptionBitmap', 'pageFaultErrorCode', 'ioBitmap', 'msrBitmap', 'cr0', 'cr4', 'cr3Targets', 'tscOffset'];
const HEX = /^0[xX][0-9a-fA-F]+$/;
const SIGNED_HEX = /^-?0[xX][0-9a-fA-F]+$/;

export function hex(n: number): string {
  return `0x${n.toString(16).toUpperCase()}`;
}

/** How a value reads in a message: strings quoted, everything else as JSON would print it. */
function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (v !== null && typeof v === 'object') return 'an object';
  return JSON.stringify(v) ?? String(v);
}

const at = (path: string, key: string | number): string => (typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const quoteList = (values: readonly string[]): string => values.map((v) => JSON.stringify(v)).join(', ');

class Checker {
  readonly errors: ConfigError[] = [];

  fail(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  /** An optional object: undefined when absent or not an object (the latter reported). Unknown keys are reported. */
  object(path: string, v: unknown, allowed: readonly string[], what = 'field'): Json | undefined {
    if (v === undefined) return undefined;
    if (!isObject(v)) { this.fail(path, `expected an object, got ${show(v)}`); return undefined; }
    for (const key of Object.keys(v)) {
      if (allowed.includes(key)) continue;
      const near = closest(key, allowed);
      this.fail(at(path, key), near !== undefined ? `unknown ${what}; did you mean "${near}"?` : `unknown ${what}; allowed: ${allowed.join(', ')}`);
    }
    return v;
  }

  bool(path: string, v: unknown, def: boolean): boolean {
    if (v === undefined) return def;
    if (typeof v !== 'boolean') { this.fail(path, `expected true or false, got ${show(v)}`); return def; }
    return v;
  }

  integer(path: string, v: unknown, min: number, max: number, def: number): number {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v)) { this.fail(path, `expected an integer ${min}..${max}, got ${show(v)}`); return def; }
    if (v < min || v > max) { this.fail(path, `${v} is out of range (${min}..${max})`); return def; }
    return v;
  }

  number(path: string, v: unknown, def: number): number {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v)) { this.fail(path, `expected a number ≥ 0, got ${show(v)}`); return def; }
    if (v < 0) { this.fail(path, `${v} is negative; expected a number ≥ 0`); return def; }
    return v;
  }

  oneOf<T extends string>(path: string, v: unknown, values: readonly T[], def: T): T {
    if (v === undefined) return def;
    const hit = values.find((x) => x === v);
    if (hit !== undefined) return hit;
    const near = typeof v === 'string' ? closest(v, values) : undefined;
    this.fail(path, `expected one of ${quoteList(values)}, got ${show(v)}${near !== undefined ? `; did you mean "${near}"?` : ''}`);
    return def;
  }

  /** An unsigned value given as an integer or a hex string, within 0..max. Undefined when absent or wrong. */
  unsigned(path: string, v: unknown, max: number, maxDigits: number): number | undefined {
    if (v === undefined) return undefined;
    const expected = `expected an integer 0..${hex(max)} or a hex string like "0x3F8"`;
    let n: number;
    if (typeof v === 'number' && Number.isInteger(v)) n = v;
    else if (typeof v === 'string' && HEX.test(v)) {
      if (v.length - 2 > maxDigits) { this.fail(path, `${v} is out of range (0..${hex(max)})`); return undefined; }
      n = parseInt(v.slice(2), 16);
    } else { this.fail(path, `${expected}, got ${show(v)}`); return undefined; }
    if (n < 0 || n > max) { this.fail(path, `${typeof v === 'string' ? v : n} is out of range (0..${hex(max)})`); return undefined; }
    return n;
  }

  u32(path: string, v: unknown): number | undefined { return this.unsigned(path, v, LIMITS.u32, 8); }
  port(path: string, v: unknown): number | undefined { return this.unsigned(path, v, LIMITS.port, 4); }

  array(path: string, v: unknown): unknown[] | undefined {
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) { this.fail(path, `expected an array, got ${show(v)}`); return undefined; }
    return v;
  }
}

export function validateVmConfig(json: unknown): ValidationResult {
  const c = new Checker();
  if (!isObject(json)) {
    c.fail('', `a VM configuration is a JSON object, got ${show(json)}`);
    return { errors: c.errors };
  }
  const top = c.object('', json, TOP_LEVEL) ?? {};
  const config: VmConfig = {
    vcpus: c.integer('vcpus', top.vcpus, LIMITS.vcpus.min, LIMITS.vcpus.max, DEFAULTS.vcpus),
    // Scheduling settings stay absent when not given, so createVm picks its defaults (docs/vmm-vcpus.md).
    ...(top.pcpus !== undefined ? { pcpus: c.integer('pcpus', top.pcpus, LIMITS.pcpus.min, LIMITS.pcpus.max, 1) } : {}),
    ...(top.sliceInstructions !== undefined ? { sliceInstructions: c.integer('sliceInstructions', top.sliceInstructions, LIMITS.sliceInstructions.min, LIMITS.sliceInstructions.max, 1) } : {}),
    memory: memory(c, top.memory),
    paging: c.oneOf('paging', top.paging, PAGING_MODES, DEFAULTS.paging),
    technique: c.oneOf('technique', top.technique, TECHNIQUES, DEFAULTS.technique),
    kernelRing: kernelRing(c, top.kernelRing),
    controls: controls(c, top.controls),
    cpuid: cpuid(c, top.cpuid),
    devices: devices(c, top.devices),
    entry: entry(c, top.entry),
  };
  const cost = costModel(c, top.costModel);
  if (cost !== undefined) config.costModel = cost;
  return c.errors.length ? { errors: c.errors } : { config, errors: [] };
}

function kernelRing(c: Checker, v: unknown): 1 | 3 {
  if (v === undefined) return DEFAULTS.kernelRing;
  if (v === 1 || v === 3) return v;
  c.fail('kernelRing', `must be 1 or 3 (the ring a software technique runs the guest kernel in), got ${show(v)}`);
  return DEFAULTS.kernelRing;
}

function memory(c: Checker, v: unknown): VmConfig['memory'] {
  const m = c.object('memory', v, ['sizeMiB', 'slots']) ?? {};
  const sizeMiB = c.integer('memory.sizeMiB', m.sizeMiB, LIMITS.memorySizeMiB.min, LIMITS.memorySizeMiB.max, DEFAULTS.memorySizeMiB);
  const slots: Record<string, MemorySlotConfig> = {};
  if (m.slots !== undefined && !isObject(m.slots)) c.fail('memory.slots', `expected an object of named slots, got ${show(m.slots)}`);
  for (const [name, s] of Object.entries(isObject(m.slots) ? m.slots : {})) {
    const path = at('memory.slots', name);
    const o = c.object(path, s, ['kind', 'base', 'size']);
    if (o === undefined) continue;
    for (const key of ['kind', 'base', 'size']) if (o[key] === undefined) c.fail(at(path, key), 'required field is missing');
    const kind = o.kind === undefined ? undefined : c.oneOf(at(path, 'kind'), o.kind, SLOT_KINDS, 'ram');
    const base = pageNumber(c, at(path, 'base'), o.base, false);
    const size = pageNumber(c, at(path, 'size'), o.size, true);
    if (kind === undefined || base === undefined || size === undefined) continue;
    if (base + size > LIMITS.fourGiB) { c.fail(path, `[${hex(base)}, ${hex(base + size)}) ends above 4 GiB (guest-physical addresses are 32-bit)`); continue; }
    slots[name] = { kind, base, size };
  }
  // Every pair, so each overlap is named once with both ranges.
  const list = Object.entries(slots).sort((a, b) => a[1].base - b[1].base);
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const [an, a] = list[i];
      const [bn, b] = list[j];
      if (b.base < a.base + a.size) {
        c.fail(at('memory.slots', bn), `[${hex(b.base)}, ${hex(b.base + b.size)}) overlaps slot "${an}" [${hex(a.base)}, ${hex(a.base + a.size)})`);
      }
    }
  }
  return { sizeMiB, slots };
}

/** A 4 KiB-granular address (or a non-zero size) below 4 GiB. */
function pageNumber(c: Checker, path: string, v: unknown, isSize: boolean): number | undefined {
  if (v === undefined) return undefined;
  const max = isSize ? LIMITS.fourGiB : LIMITS.fourGiB - 1;
  const n = c.unsigned(path, v, max, 9);
  if (n === undefined) return undefined;
  if (n % LIMITS.page !== 0) { c.fail(path, `${hex(n)} is not a multiple of 4 KiB (0x1000)`); return undefined; }
  if (isSize && n === 0) { c.fail(path, 'a slot cannot be empty; expected a size of at least 0x1000'); return undefined; }
  return n;
}

function controls(c: Checker, v: unknown): ControlsConfig {
  const o = c.object('controls', v, CONTROLS_KEYS) ?? {};
  const sets = {} as Record<ConfigControlSet, Record<string, boolean>>;
  for (const id of CONFIG_CONTROL_SETS) {
    const path = at('controls', id);
    const names = controlNames(id);
    const raw = c.object(path, o[id], names, 'control') ?? {};
    const set: Record<string, boolean> = {};
    for (const [name, value] of Object.entries(raw)) {
      if (!names.includes(name)) continue;
      if (typeof value !== 'boolean') { c.fail(at(path, name), `expected true or false, got ${show(value)}`); continue; }
      set[name] = value;
    }
    sets[id] = set;
  }
  return {
    sets,
    exceptionBitmap: exceptionBitmap(c, o.exceptionBitmap),
    pageFaultErrorCode: pageFaultErrorCode(c, o.pageFaultErrorCode),
    ioBitmap: ioBitmap(c, o.ioBitmap),
    msrBitmap: msrBitmap(c, o.msrBitmap),
    cr0: cr(c, 'controls.cr0', o.cr0, DEFAULTS.cr0Mask),
    cr4: cr(c, 'controls.cr4', o.cr4, DEFAULTS.cr4Mask),
    cr3Targets: cr3Targets(c, o.cr3Targets),
    tscOffset: tscOffset(c, o.tscOffset),
  };
}

function exceptionBitmap(c: Checker, v: unknown): number[] {
  const list = c.array('controls.exceptionBitmap', v);
  if (list === undefined) return vectorsOf(DEFAULTS.exceptionBitmap);
  const mnemonics = Object.keys(EXCEPTION_VECTORS);
  const out = new Set<number>();
  list.forEach((item, i) => {
    const path = at('controls.exceptionBitmap', i);
    if (typeof item === 'number' && Number.isInteger(item)) {
      if (item < 0 || item > 31) c.fail(path, `${item} is out of range (vectors 0..31)`); else out.add(item);
    } else if (typeof item === 'string' && EXCEPTION_VECTORS[item] !== undefined) {
      out.add(EXCEPTION_VECTORS[item]);
    } else {
      const near = typeof item === 'string' ? closest(item, mnemonics) : undefined;
      c.fail(path, `expected a vector 0..31 or one of ${quoteList(mnemonics)}, got ${show(item)}${near !== undefined ? `; did you mean "${near}"?` : ''}`);
    }
  });
  return [...out].sort((a, b) => a - b);
}

function vectorsOf(bitmap: number): number[] {
  const out: number[] = [];
  for (let v = 0; v < 32; v++) if ((bitmap >>> v) & 1) out.push(v);
  return out;
}

function ioBitmap(c: Checker, v: unknown): IoRangeConfig[] {
  const out: IoRangeConfig[] = [];
  (c.array('controls.ioBitmap', v) ?? []).forEach((item, i) => {
    const path = at('controls.ioBitmap', i);
    const o = c.object(path, item, ['from', 'to', 'exit']);
    if (o === undefined) return;
    if (o.from === undefined) c.fail(at(path, 'from'), 'required field is missing');
    const from = c.port(at(path, 'from'), o.from);
    const to = o.to === undefined ? from : c.port(at(path, 'to'), o.to);
    const exit = c.bool(at(path, 'exit'), o.exit, true);
    if (from === undefined || to === undefined) return;
    if (to < from) { c.fail(path, `the range ${hex(from)}..${hex(to)} is empty: "to" is below "from"`); return; }
    out.push({ from, to, exit });
  });
  return out;
}

/** The ranges the MSR bitmap covers (SDM 25.6.9); other MSRs always exit. */
const MSR_RANGES: readonly [number, number][] = [[0, 0x1fff], [0xc0000000, 0xc0001fff]];

function msrBitmap(c: Checker, v: unknown): MsrEntryConfig[] {
  const out: MsrEntryConfig[] = [];
  (c.array('controls.msrBitmap', v) ?? []).forEach((item, i) => {
    const path = at('controls.msrBitmap', i);
    const o = c.object(path, item, ['msr', 'read', 'write']);
    if (o === undefined) return;
    if (o.msr === undefined) c.fail(at(path, 'msr'), 'required field is missing');
    const msr = c.u32(at(path, 'msr'), o.msr);
    const read = o.read === undefined ? undefined : c.bool(at(path, 'read'), o.read, false);
    const write = o.write === undefined ? undefined : c.bool(at(path, 'write'), o.write, false);
    if (msr === undefined) return;
    if (!MSR_RANGES.some(([lo, hi]) => msr >= lo && msr <= hi)) {
      c.fail(at(path, 'msr'), `${hex(msr)} is outside the MSR bitmap (0..0x1FFF and 0xC0000000..0xC0001FFF); accesses to it always exit`);
      return;
    }
    out.push({ msr, ...(read !== undefined ? { read } : {}), ...(write !== undefined ? { write } : {}) });
  });
  return out;
}

function cr(c: Checker, path: string, v: unknown, defaultMask: number): CrConfig {
  const o = c.object(path, v, ['mask', 'readShadow']) ?? {};
  const mask = c.u32(at(path, 'mask'), o.mask) ?? defaultMask;
  const readShadow = c.u32(at(path, 'readShadow'), o.readShadow);
  return readShadow === undefined ? { mask } : { mask, readShadow };
}

function pageFaultErrorCode(c: Checker, v: unknown): { mask: number; match: number } {
  const path = 'controls.pageFaultErrorCode';
  const o = c.object(path, v, ['mask', 'match']) ?? {};
  return { mask: c.u32(at(path, 'mask'), o.mask) ?? 0, match: c.u32(at(path, 'match'), o.match) ?? 0 };
}

function cr3Targets(c: Checker, v: unknown): number[] {
  const list = c.array('controls.cr3Targets', v) ?? [];
  if (list.length > LIMITS.cr3Targets) c.fail('controls.cr3Targets', `${list.length} values given; at most ${LIMITS.cr3Targets} CR3-target values exist`);
  const out: number[] = [];
  list.forEach((item, i) => {
    const n = c.u32(at('controls.cr3Targets', i), item);
    if (n !== undefined) out.push(n);
  });
  return out;
}

function tscOffset(c: Checker, v: unknown): bigint {
  if (v === undefined) return BigInt(DEFAULTS.tscOffset);
  const path = 'controls.tscOffset';
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (Math.abs(v) > Number.MAX_SAFE_INTEGER) { c.fail(path, `${v} is not exact in JSON; give it as a hex string like "0x20000000000000"`); return 0n; }
    return BigInt.asUintN(64, BigInt(v));
  }
  if (typeof v === 'string' && SIGNED_HEX.test(v)) {
    const negative = v.startsWith('-');
    const digits = v.slice(negative ? 3 : 2);
    if (digits.length > 16) { c.fail(path, `${v} does not fit in 64 bits`); return 0n; }
    const n = BigInt(`0x${digits}`);
    return BigInt.asUintN(64, negative ? -n : n);
  }
  c.fail(path, `expected an integer or a hex string like "0x1000" or "-0x1000", got ${show(v)}`);
  return 0n;
}

function cpuid(c: Checker, v: unknown): Record<number, CpuidRegs> {
  const out: Record<number, CpuidRegs> = {};
  if (v === undefined) return out;
  if (!isObject(v)) { c.fail('cpuid', `expected an object keyed by leaf, got ${show(v)}`); return out; }
  const keyPattern = new RegExp(CPUID_LEAF_PATTERN);
  for (const [key, regs] of Object.entries(v)) {
    const path = at('cpuid', key);
    const leaf = keyPattern.test(key) ? (HEX.test(key) ? parseInt(key.slice(2), 16) : Number(key)) : undefined;
    if (leaf === undefined || leaf > LIMITS.u32) c.fail(path, `"${key}" is not a CPUID leaf; expected a number 0..0xFFFFFFFF, decimal or hex like "0x40000000"`);
    const o = c.object(path, regs, ['eax', 'ebx', 'ecx', 'edx'], 'register');
    if (o === undefined || leaf === undefined || leaf > LIMITS.u32) continue;
    out[leaf] = {
      eax: c.u32(at(path, 'eax'), o.eax) ?? 0,
      ebx: c.u32(at(path, 'ebx'), o.ebx) ?? 0,
      ecx: c.u32(at(path, 'ecx'), o.ecx) ?? 0,
      edx: c.u32(at(path, 'edx'), o.edx) ?? 0,
    };
  }
  return out;
}

function devices(c: Checker, v: unknown): DevicesConfig {
  const o = c.object('devices', v, ['uart', 'pit', 'pic', 'debugExit', 'virtioConsole'], 'device') ?? {};
  const u = c.object('devices.uart', o.uart, ['enabled', 'port', 'irq']) ?? {};
  const uart = {
    enabled: c.bool('devices.uart.enabled', u.enabled, DEFAULTS.uart.enabled),
    port: c.port('devices.uart.port', u.port) ?? DEFAULTS.uart.port,
    irq: c.integer('devices.uart.irq', u.irq, 0, LIMITS.irq, DEFAULTS.uart.irq),
  };
  // The UART decodes eight registers from its base.
  if (uart.port > LIMITS.port - 7) c.fail('devices.uart.port', `${hex(uart.port)} leaves no room for the UART's 8 ports; expected 0..0xFFF8`);
  const pit = { enabled: c.bool('devices.pit.enabled', (c.object('devices.pit', o.pit, ['enabled']) ?? {}).enabled, DEFAULTS.pit.enabled) };
  const pic = { enabled: c.bool('devices.pic.enabled', (c.object('devices.pic', o.pic, ['enabled']) ?? {}).enabled, DEFAULTS.pic.enabled) };
  const d = c.object('devices.debugExit', o.debugExit, ['enabled', 'port']) ?? {};
  const debugExit = {
    enabled: c.bool('devices.debugExit.enabled', d.enabled, DEFAULTS.debugExit.enabled),
    port: c.port('devices.debugExit.port', d.port) ?? DEFAULTS.debugExit.port,
  };
  const vc = c.object('devices.virtioConsole', o.virtioConsole, ['enabled', 'port', 'irq']) ?? {};
  const virtioConsole = {
    enabled: c.bool('devices.virtioConsole.enabled', vc.enabled, DEFAULTS.virtioConsole.enabled),
    port: c.port('devices.virtioConsole.port', vc.port) ?? DEFAULTS.virtioConsole.port,
    irq: c.integer('devices.virtioConsole.irq', vc.irq, 0, LIMITS.irq, DEFAULTS.virtioConsole.irq),
  };
  // The legacy register block is 0x14 ports of common registers plus the console's configuration.
  if (virtioConsole.port > LIMITS.port - 0x1f) c.fail('devices.virtioConsole.port', `${hex(virtioConsole.port)} leaves no room for the 32-port virtio register block; expected 0..0xFFE0`);
  if (virtioConsole.enabled && uart.enabled && virtioConsole.irq === uart.irq) c.fail('devices.virtioConsole.irq', `IRQ ${virtioConsole.irq} is already the UART's`);
  if (debugExit.enabled) {
    const claimed: [string, number, number][] = [];
    if (uart.enabled) claimed.push(['uart', uart.port, uart.port + 7]);
    if (pit.enabled) claimed.push(['pit', 0x40, 0x43]);
    if (pic.enabled) claimed.push(['pic', 0x20, 0x21], ['pic', 0xa0, 0xa1]);
    const clash = claimed.find(([, lo, hi]) => debugExit.port >= lo && debugExit.port <= hi);
    if (clash !== undefined) c.fail('devices.debugExit.port', `${hex(debugExit.port)} is already claimed by devices.${clash[0]} (${hex(clash[1])}..${hex(clash[2])})`);
  }
  return { uart, pit, pic, debugExit, virtioConsole };
}

const COST_FIELDS = ['name', 'perExit', 'reasons', 'roundTrip', 'handlers', 'defaultHandler', 'stringIoPerElement', 'instruction', 'walkLevel', 'guestLevels', 'eptLevels'];

function costModel(c: Checker, v: unknown): CostModelConfig | undefined {
  const o = c.object('costModel', v, COST_FIELDS);
  if (o === undefined) return undefined;
  const d = DEFAULT_COST_TABLE;
  let name: string = DEFAULTS.costModelName;
  if (o.name !== undefined) {
    if (typeof o.name !== 'string' || o.name === '') c.fail('costModel.name', `expected a non-empty string, got ${show(o.name)}`);
    else name = o.name;
  }
  const cycles = (key: string, def: number): number => c.number(`costModel.${key}`, o[key], def);
  const perReason = (key: string, base: Readonly<Record<string, number>>): Record<string, number> => {
    const r = c.object(`costModel.${key}`, o[key], EXIT_REASON_NAMES, 'exit reason') ?? {};
    const out: Record<string, number> = { ...base };
    for (const [reason, value] of Object.entries(r)) {
      if (EXIT_REASON_NAMES.includes(reason)) out[reason] = c.number(at(`costModel.${key}`, reason), value, base[reason] ?? 0);
    }
    return out;
  };
  const ins = c.object('costModel.instruction', o.instruction, INSTRUCTION_CLASSES, 'instruction class') ?? {};
  const instruction = { ...d.instruction };
  for (const cls of INSTRUCTION_CLASSES) instruction[cls] = c.number(`costModel.instruction.${cls}`, ins[cls], d.instruction[cls]);
  return {
    name,
    perExit: cycles('perExit', DEFAULTS.costPerExit),
    reasons: perReason('reasons', {}),
    roundTrip: cycles('roundTrip', d.roundTrip),
    handlers: perReason('handlers', d.handlers),
    defaultHandler: cycles('defaultHandler', d.defaultHandler),
    stringIoPerElement: cycles('stringIoPerElement', d.stringIoPerElement),
    instruction,
    walkLevel: cycles('walkLevel', d.walkLevel),
    guestLevels: c.integer('costModel.guestLevels', o.guestLevels, 0, 5, d.guestLevels),
    eptLevels: c.integer('costModel.eptLevels', o.eptLevels, 0, 5, d.eptLevels),
  };
}

function entry(c: Checker, v: unknown): VmConfig['entry'] {
  const o = c.object('entry', v, ['mode', 'org']) ?? {};
  return {
    mode: c.oneOf('entry.mode', o.mode, ENTRY_MODES, DEFAULTS.entryMode),
    org: c.u32('entry.org', o.org) ?? DEFAULTS.org,
  };
}
