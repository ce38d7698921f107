// The MSR lists of VM entries and VM exits (SDM 25.7.2, 25.8.2): the
// VM-entry MSR-load area (27.4), the VM-exit MSR-store area (28.4) and the
// VM-exit MSR-load area (28.6). Each list is COUNT entries of 16 bytes at a
// host-physical ADDR in the machine's memory:
//   bytes 0-3 MSR index, bytes 4-7 reserved (must be 0), bytes 8-15 MSR data.
// Entries are processed in order; the first one that fails decides:
//   - VM-entry MSR-load: the VM entry fails with exit reason 34 and bit 31 set
//     (0x80000022), the exit qualification is the entry's number counting from
//     1 (27.8); the MSRs of earlier entries stay loaded;
//   - VM-exit MSR-store or MSR-load: a VMX abort (28.7), indicator 1 or 4.
// Root mode is TypeScript, not guest code, so the host has no MSRs of its own
// on the simulated CPU: the machine's MSRs are the guest's. The VM-exit
// MSR-load area therefore writes a per-vCPU host view (`HostMsrView`), which
// shows what root mode would hold in those MSRs after the exit.

import type { Cpu } from '../../x86/cpu/cpu';
import { VMCS, EXIT_REASON, type Vmcs, type VmcsFieldName } from '../vmx';
import type { EntryCheckFailure } from './entry-checks';
import { hex } from './bitmaps';

/** IA32_VMX_MISC bits 27:25 as modelled (SDM A.6): N = 0, so each list holds at most 512 × (N + 1) entries. */
export const VMX_MISC_MSR_LIST_N = 0;
export const MAX_MSR_LIST_ENTRIES = 512 * (VMX_MISC_MSR_LIST_N + 1);
/** Bytes per list entry. */
export const MSR_ENTRY_SIZE = 16;

export type MsrAreaId = 'entry-load' | 'exit-store' | 'exit-load';

export interface MsrAreaInfo {
  count: VmcsFieldName;
  addr: VmcsFieldName;
  title: string;
  section: string;
  /** Whether the list writes MSRs (load) or reads them (store). */
  load: boolean;
}

export const MSR_AREAS: Readonly<Record<MsrAreaId, MsrAreaInfo>> = {
  'entry-load': { count: 'VM_ENTRY_MSR_LOAD_COUNT', addr: 'VM_ENTRY_MSR_LOAD_ADDR', title: 'VM-entry MSR-load area', section: 'SDM 27.4', load: true },
  'exit-store': { count: 'VM_EXIT_MSR_STORE_COUNT', addr: 'VM_EXIT_MSR_STORE_ADDR', title: 'VM-exit MSR-store area', section: 'SDM 28.4', load: false },
  'exit-load': { count: 'VM_EXIT_MSR_LOAD_COUNT', addr: 'VM_EXIT_MSR_LOAD_ADDR', title: 'VM-exit MSR-load area', section: 'SDM 28.6', load: true },
};

/** VMX-abort indicators (SDM 28.7) of the two exit lists. */
export const VMX_ABORT_SAVING_GUEST_MSRS = 1;
export const VMX_ABORT_LOADING_HOST_MSRS = 4;

/** Names for the MSRs the explanations mention. */
export const MSR_NAMES: Readonly<Record<number, string>> = {
  0x10: 'IA32_TSC', 0x1b: 'IA32_APIC_BASE', 0x3a: 'IA32_FEATURE_CONTROL', 0x79: 'IA32_BIOS_UPDT_TRIG', 0x8b: 'IA32_BIOS_SIGN_ID',
  0x9b: 'IA32_SMM_MONITOR_CTL', 0x9e: 'IA32_SMBASE', 0x174: 'IA32_SYSENTER_CS', 0x175: 'IA32_SYSENTER_ESP', 0x176: 'IA32_SYSENTER_EIP',
  0x1a0: 'IA32_MISC_ENABLE', 0x277: 'IA32_PAT', 0xc0000080: 'IA32_EFER', 0xc0000100: 'IA32_FS_BASE', 0xc0000101: 'IA32_GS_BASE',
  0xc0000102: 'IA32_KERNEL_GS_BASE', 0xc0000103: 'IA32_TSC_AUX',
};

export function msrName(index: number): string {
  const n = MSR_NAMES[index >>> 0];
  return n === undefined ? `MSR ${hex(index)}` : `MSR ${hex(index)} (${n})`;
}

const TSC = 0x10;

/** One list entry as read from memory. */
export interface MsrAreaEntry {
  /** 1-based, as the exit qualification counts. */
  number: number;
  address: number;
  index: number;
  reserved: number;
  data: bigint;
}

/** Why one entry cannot be processed (SDM 27.4, 28.4, 28.6), as a table. */
interface MsrEntryRule {
  id: string;
  areas: readonly MsrAreaId[];
  fails: (e: MsrAreaEntry, cpu: Cpu) => boolean;
  explain: (e: MsrAreaEntry, area: MsrAreaId) => string;
}

const ALL: readonly MsrAreaId[] = ['entry-load', 'exit-store', 'exit-load'];
const LOADS: readonly MsrAreaId[] = ['entry-load', 'exit-load'];

export const MSR_ENTRY_RULES: readonly MsrEntryRule[] = [
  {
    id: 'reserved', areas: ALL,
    fails: (e) => e.reserved !== 0,
    explain: (e) => `bits 63:32 of the entry are reserved and must be 0, but they hold ${hex(e.reserved)}`,
  },
  {
    id: 'fs-gs-base', areas: LOADS,
    fails: (e) => e.index === 0xc0000100 || e.index === 0xc0000101,
    explain: (e) => `${msrName(e.index)} cannot be loaded from an MSR list (FS and GS bases come from the segment fields of the state areas; this processor has no Intel 64 and no such MSR)`,
  },
  {
    id: 'x2apic', areas: ALL,
    fails: (e) => (e.index >>> 8) === 0x8,
    explain: (e, a) => `${msrName(e.index)} is in the x2APIC range 0x800-0x8FF, which cannot be ${MSR_AREAS[a].load ? 'loaded' : 'stored'} through an MSR list`,
  },
  {
    id: 'smm-only-write', areas: LOADS,
    fails: (e) => e.index === 0x9b,
    explain: (e, a) => `${msrName(e.index)} can be written only in SMM, and this ${a === 'entry-load' ? 'VM entry does not start' : 'VM exit does not end'} in SMM`,
  },
  {
    id: 'smm-only-read', areas: ['exit-store'],
    fails: (e) => e.index === 0x9e,
    explain: (e) => `${msrName(e.index)} can be read only in SMM`,
  },
  {
    // Model-specific refusals; these are the ones KVM also rejects for nested guests (microcode update and signature).
    id: 'model-specific', areas: ALL,
    fails: (e) => e.index === 0x79 || e.index === 0x8b,
    explain: (e, a) => `${msrName(e.index)} cannot be ${MSR_AREAS[a].load ? 'loaded' : 'stored'} through an MSR list on this processor (model-specific)`,
  },
  {
    id: 'not-present', areas: ALL,
    fails: (e, cpu) => e.index !== TSC && !cpu.msrs.has(e.index),
    explain: (e, a) => `this processor has no ${msrName(e.index)}: ${MSR_AREAS[a].load ? 'WRMSR' : 'RDMSR'} of it at CPL 0 would raise #GP(0)`,
  },
];

/** The entry at `address`. */
export function readMsrEntry(cpu: Cpu, address: number, number: number): MsrAreaEntry {
  const m = cpu.mem;
  const lo = BigInt(m.read32(address + 8) >>> 0);
  const hi = BigInt(m.read32(address + 12) >>> 0);
  return { number, address, index: m.read32(address) >>> 0, reserved: m.read32(address + 4) >>> 0, data: (hi << 32n) | lo };
}

/** Writes a whole list into memory (for a VMM preparing the areas, and for tests). */
export function writeMsrArea(cpu: Cpu, address: number, entries: readonly { index: number; data?: bigint; reserved?: number }[]): void {
  entries.forEach((e, i) => {
    const a = address + i * MSR_ENTRY_SIZE;
    const data = BigInt.asUintN(64, e.data ?? 0n);
    cpu.mem.write32(a, e.index >>> 0);
    cpu.mem.write32(a + 4, (e.reserved ?? 0) >>> 0);
    cpu.mem.write32(a + 8, Number(data & 0xffffffffn));
    cpu.mem.write32(a + 12, Number(data >> 32n));
  });
}

/** Reads every entry of a list (for a debugger view); `count` is capped at the list limit. */
export function readMsrArea(cpu: Cpu, vmcs: Vmcs, area: MsrAreaId): MsrAreaEntry[] {
  const info = MSR_AREAS[area];
  const base = Number(vmcs.getBig(info.addr) & 0xffffffffn);
  const count = Math.min(vmcs.get(info.count) >>> 0, MAX_MSR_LIST_ENTRIES);
  const out: MsrAreaEntry[] = [];
  for (let i = 0; i < count; i++) out.push(readMsrEntry(cpu, (base + i * MSR_ENTRY_SIZE) >>> 0, i + 1));
  return out;
}

/** What made one entry of a list fail. */
export interface MsrAreaProblem {
  area: MsrAreaId;
  rule: string;
  /** 1-based entry number. */
  number: number;
  index: number;
  address: number;
  /** e.g. "VM-entry MSR-load area entry 2 (at 0x5010): MSR 0x9B (IA32_SMM_MONITOR_CTL) can be written only in SMM, …" */
  explanation: string;
}

/**
 * Processes one list. Load lists write each entry's data with `write`;
 * the store list writes each MSR's value into the entry's data. Stops at the
 * first entry that fails and returns why, or null when all were processed.
 */
function processArea(cpu: Cpu, vmcs: Vmcs, area: MsrAreaId, write: (index: number, value: bigint) => void): MsrAreaProblem | null {
  const info = MSR_AREAS[area];
  const count = vmcs.get(info.count) >>> 0;
  if (count === 0) return null;
  const base = Number(vmcs.getBig(info.addr) & 0xffffffffn);
  const where = (n: number, a: number): string =>
    `${info.title} entry ${n} (at ${hex(a)}; ${info.addr} (0x${VMCS[info.addr].toString(16).toUpperCase()}) = ${hex(base)}, ${info.count} = ${count})`;
  for (let n = 1; n <= count; n++) {
    const address = (base + (n - 1) * MSR_ENTRY_SIZE) >>> 0;
    if (n > MAX_MSR_LIST_ENTRIES) {
      // The SDM leaves longer lists undefined; this processor processes the first 512 and fails on the next.
      return {
        area, rule: 'count', number: n, index: 0, address,
        explanation: `${where(n, address)}: the list has ${count} entries, but IA32_VMX_MISC bits 27:25 = ${VMX_MISC_MSR_LIST_N} allow at most 512 × (N + 1) = ${MAX_MSR_LIST_ENTRIES}`,
      };
    }
    const e = readMsrEntry(cpu, address, n);
    const rule = MSR_ENTRY_RULES.find((r) => r.areas.includes(area) && r.fails(e, cpu));
    if (rule !== undefined) {
      return { area, rule: rule.id, number: n, index: e.index, address, explanation: `${where(n, address)}: ${rule.explain(e, area)}` };
    }
    if (info.load) {
      write(e.index, e.data);
    } else {
      const value = e.index === TSC ? cpu.readTsc() : cpu.msrs.read(e.index) ?? 0n;
      cpu.mem.write32(address + 8, Number(value & 0xffffffffn));
      cpu.mem.write32(address + 12, Number(value >> 32n));
    }
  }
  return null;
}

/** Writes an MSR of the CPU as WRMSR at CPL 0 would (the TSC moves the CPU's own offset). */
function writeCpuMsr(cpu: Cpu, index: number, value: bigint): void {
  if (index === TSC) cpu.tscOffset = value - BigInt(cpu.icount);
  else cpu.msrs.write(index, value);
}

/**
 * The VM-entry MSR-load step (SDM 27.4), run after the guest state is loaded
 * and before event injection. Returns the failure of the VM entry (exit
 * reason 34 with bit 31, qualification = the failing entry's number) or null.
 */
export function loadEntryMsrs(cpu: Cpu, vmcs: Vmcs): EntryCheckFailure | null {
  const p = processArea(cpu, vmcs, 'entry-load', (i, v) => writeCpuMsr(cpu, i, v));
  if (p === null) return null;
  const exitReason = (EXIT_REASON.MSR_LOAD_FAIL | 0x80000000) >>> 0;
  return {
    check: `msr-load-${p.rule}`,
    // MSR loading fails after the guest state is loaded (SDM 27.8): it exits like a guest-state failure, with reason 34.
    list: 'msr-load',
    exitReason,
    qualification: p.number,
    field: 'VM_ENTRY_MSR_LOAD_ADDR',
    value: Number(vmcs.getBig('VM_ENTRY_MSR_LOAD_ADDR') & 0xffffffffn),
    explanation: p.explanation,
    message: `VM entry failed (exit reason ${hex(exitReason)}, qualification ${p.number}; SDM 27.4 loading MSRs): ${p.explanation}`,
  };
}

/** A VMX abort (SDM 28.7): the VM exit could not complete and the logical processor shuts down. */
export interface VmxAbort {
  indicator: number;
  problem: MsrAreaProblem;
  message: string;
}

function abort(indicator: number, what: string, p: MsrAreaProblem): VmxAbort {
  return { indicator, problem: p, message: `VMX abort ${indicator} (${what}; SDM 28.7): ${p.explanation}` };
}

/** The VM-exit MSR-store step (SDM 28.4): the guest's MSR values into the store area. */
export function storeExitMsrs(cpu: Cpu, vmcs: Vmcs): VmxAbort | null {
  const p = processArea(cpu, vmcs, 'exit-store', () => undefined);
  return p === null ? null : abort(VMX_ABORT_SAVING_GUEST_MSRS, 'failure saving guest MSRs', p);
}

/** The VM-exit MSR-load step (SDM 28.6): the host's MSR values from the load area into the host view. */
export function loadExitMsrs(cpu: Cpu, vmcs: Vmcs, host: HostMsrView): VmxAbort | null {
  const p = processArea(cpu, vmcs, 'exit-load', (i, v) => host.set(i, v));
  return p === null ? null : abort(VMX_ABORT_LOADING_HOST_MSRS, 'failure loading host MSRs', p);
}

/**
 * What root mode holds in the MSRs the VM-exit MSR-load areas loaded, per
 * vCPU. It starts empty (the simulated host's other MSR values are not
 * modelled) and counts the loads, so a debugger can show the switch.
 */
export class HostMsrView {
  private readonly values = new Map<number, bigint>();
  /** Number of MSR writes the exit-load areas made. */
  loads = 0;

  get(index: number): bigint | undefined {
    return this.values.get(index >>> 0);
  }

  set(index: number, value: bigint): void {
    this.values.set(index >>> 0, BigInt.asUintN(64, value));
    this.loads++;
  }

  /** Sorted by MSR index. */
  entries(): [number, bigint][] {
    return [...this.values].sort((a, b) => a[0] - b[0]);
  }
}
