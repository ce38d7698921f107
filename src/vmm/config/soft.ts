// A validated configuration → the options of the software VMM (SoftVm), for
// the techniques that run without VMX. What only VT-x has (VMCS controls,
// EPT, several vCPUs) is an error where it would change what the guest runs
// on and a note where it merely does not apply.

import type { SoftTechnique, SoftVmOptions } from '../soft/index';
import type { ConfigError, VmConfig } from './types';
import { DEFAULTS } from './defaults';

export type SoftConfigOptions = Omit<SoftVmOptions, 'image'>;

export type ToSoftVmOptionsResult =
  | { ok: true; options: SoftConfigOptions; notApplied: string[] }
  | { ok: false; errors: ConfigError[] };

export function isSoftTechnique(t: string): t is SoftTechnique {
  return t === 'trap-and-emulate' || t === 'binary-translation' || t === 'paravirt';
}

export function toSoftVmOptions(config: VmConfig): ToSoftVmOptionsResult {
  const t = config.technique;
  if (!isSoftTechnique(t)) return { ok: false, errors: [{ path: 'technique', message: `"${t}" is not a software technique` }] };
  const errors: ConfigError[] = [];
  if (config.vcpus !== 1) errors.push({ path: 'vcpus', message: `the software techniques run one vCPU; "${t}" cannot run ${config.vcpus} (use "technique": "vtx" for SMP guests)` });
  if (config.entry.mode !== 'flat32') errors.push({ path: 'entry.mode', message: `"${t}" runs a flat32 protected-mode guest kernel; a real-mode guest needs "technique": "vtx"` });
  if (Object.keys(config.memory.slots).length > 0) errors.push({ path: 'memory.slots', message: `"${t}" has guest RAM only; memory slots (MMIO, ROM) need "technique": "vtx"` });
  if (config.kernelRing === 3 && t === 'paravirt') errors.push({ path: 'kernelRing', message: '"paravirt" runs its kernel in ring 1 by its hypercall ABI; kernelRing 3 is for trap-and-emulate and binary-translation' });
  if (errors.length) return { ok: false, errors };
  const notApplied: string[] = [];
  if (config.paging !== DEFAULTS.paging) notApplied.push(`paging: "${t}" always keeps shadow page tables (docs/techniques.md)`);
  if (Object.keys(config.cpuid).length) notApplied.push('cpuid: CPUID does not trap without VMX; the guest sees the simulated CPU\'s values');
  if (config.costModel !== undefined) notApplied.push('costModel: the VT-x exit cost table; the software techniques use their own (docs/vmm-costs.md)');
  if (config.pcpus !== undefined || config.sliceInstructions !== undefined) notApplied.push('pcpus, sliceInstructions: one vCPU, not scheduled');
  if (config.devices.virtioConsole.enabled) notApplied.push('devices.virtioConsole: not attached under the software techniques');
  const options: SoftConfigOptions = {
    technique: t,
    kernelRing: config.kernelRing,
    org: config.entry.org,
    memorySize: config.memory.sizeMiB * 1024 * 1024,
    debugExit: config.devices.debugExit.enabled,
    debugExitPort: config.devices.debugExit.port,
  };
  return { ok: true, options, notApplied };
}
