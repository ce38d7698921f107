// A validated configuration → the options `createVm` takes. Settings the VT-x
// core cannot honour yet are never silently dropped: the ones that would change
// what the guest runs on are errors, the rest are listed in `notApplied`.

import { controlMask, controlSet, type VmcsFieldName } from '../vmx';
import type { Vcpu, VmOptions } from '../vtx';
import { CycleCostModel } from '../cost';
import { CONFIG_CONTROL_SETS } from './defaults';
import type { ConfigError, CostModelConfig, VmConfig } from './types';

/** Everything `createVm` needs except the guest image, which comes from the launch request. */
export type VmConfigOptions = Omit<VmOptions, 'image'>;

export type ToVmOptionsResult =
  | { ok: true; options: VmConfigOptions; notApplied: string[] }
  | { ok: false; errors: ConfigError[] };

/** The cycle cost model a configuration describes: the default table with the configuration's values. */
export class TableCostModel extends CycleCostModel {
  constructor(config: CostModelConfig) {
    const { perExit, ...rest } = config;
    // perExit 0 (the default) means "no flat cost": exits are charged roundTrip + handler.
    super(perExit > 0 ? { ...rest, perExit } : rest);
  }
}

const CR3_TARGET_FIELDS: readonly VmcsFieldName[] = ['CR3_TARGET_VALUE0', 'CR3_TARGET_VALUE1', 'CR3_TARGET_VALUE2', 'CR3_TARGET_VALUE3'];

export function toVmOptions(config: VmConfig): ToVmOptionsResult {
  const errors: ConfigError[] = [];
  if (config.technique !== 'vtx') {
    errors.push({ path: 'technique', message: `"${config.technique}" runs on the software VMM, not VT-x: convert it with toSoftVmOptions` });
  }
  if (config.kernelRing !== 1) {
    errors.push({ path: 'kernelRing', message: 'under "vtx" the guest kernel runs in ring 0 of VMX non-root operation; kernelRing 3 is for trap-and-emulate and binary-translation' });
  }
  if (config.paging === 'shadow' && config.entry.mode === 'real') {
    errors.push({ path: 'paging', message: '"shadow" paging cannot run a real-mode guest (real mode needs "unrestricted guest", which requires EPT); use "ept" or entry.mode "flat32"' });
  }
  const ramSize = config.memory.sizeMiB * 1024 * 1024;
  for (const [name, slot] of Object.entries(config.memory.slots)) {
    if (slot.base < ramSize && slot.base + slot.size > ramSize) errors.push({ path: `memory.slots.${name}`, message: `slot [0x${slot.base.toString(16)}, 0x${(slot.base + slot.size).toString(16)}) crosses the end of guest RAM at 0x${ramSize.toString(16)} (memory.sizeMiB)` });
  }
  if (errors.length) return { ok: false, errors };

  const notApplied: string[] = [];
  const d = config.devices;
  const names = ['uart', 'pit', 'pic'] as const;
  const off = names.filter((n) => !d[n].enabled);
  // createVm attaches the PC platform whole, or nothing when every device is disabled.
  const virtio = d.virtioConsole.enabled ? { virtioConsole: { port: d.virtioConsole.port, irq: d.virtioConsole.irq } } : {};
  const platform: VmConfigOptions['platform'] = off.length === names.length && !d.virtioConsole.enabled && !d.debugExit.enabled ? false : { debugExitPort: d.debugExit.port, debugExit: d.debugExit.enabled, ...virtio };
  if (platform !== false && off.length) notApplied.push(`devices: the PC platform is attached whole; ${off.join(', ')} cannot be left out (disable every device for none)`);
  if (platform !== false && (d.uart.port !== 0x3f8 || d.uart.irq !== 4)) notApplied.push('devices.uart: the UART is at 0x3F8 on IRQ 4; port and irq are not applied');

  const options: VmConfigOptions = {
    mode: config.entry.mode,
    memorySize: config.memory.sizeMiB * 1024 * 1024,
    configure: (vcpu) => applyControls(vcpu, config),
    paging: config.paging,
    platform,
  };
  const slots = Object.entries(config.memory.slots).map(([name, s]) => ({ name, kind: s.kind, gpa: s.base, size: s.size }));
  if (slots.length) options.memory = { slots };
  if (config.entry.mode === 'flat32') options.org = config.entry.org;
  if (Object.keys(config.cpuid).length) options.cpuid = config.cpuid;
  if (config.costModel !== undefined) options.costModel = new TableCostModel(config.costModel);
  if (config.vcpus !== 1) options.vcpus = config.vcpus;
  if (config.pcpus !== undefined) options.pcpus = config.pcpus;
  if (config.sliceInstructions !== undefined) options.sliceInstructions = config.sliceInstructions;
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
  v.set('PAGE_FAULT_ERROR_CODE_MASK', c.pageFaultErrorCode.mask);
  v.set('PAGE_FAULT_ERROR_CODE_MATCH', c.pageFaultErrorCode.match);
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
