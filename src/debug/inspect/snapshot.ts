// What a stop remembers for the next one, so that the views can mark what
// changed in between (registers and VMCS fields). Opaque to the session.
import type { Vm } from '../../vmm/vtx/index';
import type { Cpu } from '../../x86/cpu/cpu';
import { VMCS_FIELDS } from '../../vmm/vmx/fields';
import { readCpuRegisters, readRegisters } from './registers';

export interface StopSnapshot {
  readonly vcpu: number;
  /** Register values by key ("EAX", "CS.base", "CR0", "MSR 0x10"). */
  readonly regs: ReadonlyMap<string, number | bigint>;
  /** VMCS field values by name (64-bit fields whole). */
  readonly vmcs: ReadonlyMap<string, bigint>;
}

export function takeStopSnapshot(vm: Vm, vcpuIndex: number): StopSnapshot {
  const vcpu = vm.vcpus[vcpuIndex];
  if (vcpu === undefined) throw new RangeError(`no vCPU ${vcpuIndex}`);
  const vmcs = new Map<string, bigint>();
  for (const f of VMCS_FIELDS) vmcs.set(f.name, vcpu.vmcs.getBig(f.name));
  return { vcpu: vcpuIndex, regs: readRegisters(vm, vcpuIndex), vmcs };
}

/** A processor's snapshot where there is no VMCS (a software technique), with more values by key (the virtual CPU's). */
export function takeCpuSnapshot(cpu: Cpu, vcpuIndex: number, extra?: ReadonlyMap<string, number>): StopSnapshot {
  const regs = readCpuRegisters(cpu);
  for (const [k, v] of extra ?? []) regs.set(k, v);
  return { vcpu: vcpuIndex, regs, vmcs: new Map() };
}

/** The snapshot when it belongs to this vCPU (a snapshot of another vCPU marks nothing). */
export function previousFor(previous: unknown, vcpuIndex: number): StopSnapshot | undefined {
  if (typeof previous !== 'object' || previous === null) return undefined;
  const p = previous as Partial<StopSnapshot>;
  if (p.vcpu !== vcpuIndex || !(p.regs instanceof Map) || !(p.vmcs instanceof Map)) return undefined;
  return p as StopSnapshot;
}
