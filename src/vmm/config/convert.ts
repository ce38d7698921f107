// A validated configuration → the options `createVm` takes. Settings the VT-x
// core cannot honour yet are never silently dropped: the ones that would change
// what the guest runs on are errors, the rest are listed in `notApplied`.

import { controlMask, controlSet, type VmcsFieldName } from '../vmx';
import type { ExitCostModel, Vcpu, VmExit, VmOptions } from '../vtx';
import { CONFIG_CONTROL_SETS } from './defaults';
import type { ConfigError, CostModelConfig, VmConfig } from './types';

/** Everything `createVm` needs except the guest image, which comes from the launch request. */
export type VmConfigOptions = Omit<VmOptions, 'image'>;

export type ToVmOptionsResult =
  | { ok: true; options: VmConfigOptions; notApplied: string[] }
  | { ok: false; errors: ConfigError[] };

/** A cost model from the configuration: cycles per exit-reason name, `perExit` for the rest. */
export class TableCostModel implements ExitCostModel {
  readonly name: string;
  private readonly perExit: number;
  private readonly reasons: Readonly<Record<string, number>>;

  constructor(config: CostModelConfig) {
    this.name = config.name;
    this.perExit = config.perExit;
    this.reasons = { ...config.reasons };
  }

  cyclesFor(exit: VmExit): number {
    return this.reasons[exit.name] ?? this.perExit;
  }
}

const CR3_TARGET_FIELDS: readonly VmcsFieldName[] = ['CR3_TARGET_VALUE0', 'CR3_TARGET_VALUE1', 'CR3_TARGET_VALUE2', 'CR3_TARGET_VALUE3'];

export function toVmOptions(config: VmConfig): ToVmOptionsResult {
  const errors: ConfigError[] = [];
  if (config.technique !== 'vtx') {
    errors.push({ path: 'technique', message: `"${config.technique}" is not available yet; only "vtx" runs today` });
  }
  if (config.vcpus !== 1) {
    errors.push({ path: 'vcpus', message: `${config.vcpus} vCPUs are not available yet; the VT-x core runs one vCPU per VM` });
  }
  if (config.paging === 'shadow') {
    errors.push({ path: 'paging', message: '"shadow" paging is not available yet; use "ept"' });
  }
  if (errors.length) return { ok: false, errors };

  const notApplied: string[] = [];
  notApplied.push('paging: createVm has no EPT option yet; guest-physical addresses are used as host-physical addresses');
  const slots = Object.keys(config.memory.slots);
  if (slots.length) notApplied.push(`memory.slots: createVm has no memory slots yet; ${slots.map((s) => `"${s}"`).join(', ')} not mapped (the guest sees memory.sizeMiB of flat RAM)`);
  const d = config.devices;
  const devices = [d.uart.enabled && 'uart', d.pit.enabled && 'pit', d.pic.enabled && 'pic', d.debugExit.enabled && 'debugExit'].filter((x): x is string => typeof x === 'string');
  if (devices.length) notApplied.push(`devices: createVm does not attach platform devices yet (${devices.join(', ')}); the I/O handler uses the machine's console ports`);

  const options: VmConfigOptions = {
    mode: config.entry.mode,
    memorySize: config.memory.sizeMiB * 1024 * 1024,
    configure: (vcpu) => applyControls(vcpu, config),
  };
  if (config.entry.mode === 'flat32') options.org = config.entry.org;
  if (Object.keys(config.cpuid).length) options.cpuid = config.cpuid;
  if (config.costModel !== undefined) options.costModel = new TableCostModel(config.costModel);
  return { ok: true, options, notApplied };
}

/** Writes the configuration's controls into a vCPU's VMCS and bitmaps, over the defaults `createVm` set. */
export function applyControls(vcpu: Vcpu, config: VmConfig): void {
  const v = vcpu.vmcs;
  const c = config.controls;
  for (const id of CONFIG_CONTROL_SETS) {
    const field = controlSet(id).field;
    let word = v.get(field);
    for (const [name, on] of Object.entries(c.sets[id])) {
      const mask = controlMask(id, name);
      word = on ? word | mask : word & ~mask;
    }
    v.set(field, word >>> 0);
  }
  v.set('EXCEPTION_BITMAP', c.exceptionBitmap.reduce((bits, vector) => bits | (1 << vector), 0) >>> 0);
  for (const r of c.ioBitmap) for (let port = r.from; port <= r.to; port++) vcpu.ioBitmaps.set(port, r.exit);
  for (const m of c.msrBitmap) {
    if (m.read !== undefined) vcpu.msrBitmap.set(m.msr, false, m.read);
    if (m.write !== undefined) vcpu.msrBitmap.set(m.msr, true, m.write);
  }
  v.set('CR0_GUEST_HOST_MASK', c.cr0.mask);
  if (c.cr0.readShadow !== undefined) v.set('CR0_READ_SHADOW', c.cr0.readShadow);
  v.set('CR4_GUEST_HOST_MASK', c.cr4.mask);
  if (c.cr4.readShadow !== undefined) v.set('CR4_READ_SHADOW', c.cr4.readShadow);
  c.cr3Targets.forEach((value, i) => v.set(CR3_TARGET_FIELDS[i], value));
  v.set('CR3_TARGET_COUNT', c.cr3Targets.length);
  v.set('TSC_OFFSET', c.tscOffset);
}
