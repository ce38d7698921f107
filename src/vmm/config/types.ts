// A validated VM configuration with every default filled in. Numbers that the
// JSON may give as hex strings ("0x3F8") are plain numbers here.

import type { CpuidRegs } from '../vtx';
import type { InstructionClass } from '../cost';
import type { ConfigControlSet, EntryMode, PagingMode, SlotKind, Technique } from './defaults';

export interface MemorySlotConfig { kind: SlotKind; base: number; size: number }

export interface IoRangeConfig { from: number; to: number; exit: boolean }

export interface MsrEntryConfig { msr: number; read?: boolean; write?: boolean }

export interface CrConfig {
  mask: number;
  /** Undefined: the VM derives it from the initial register (host-owned bits as the guest starts). */
  readShadow?: number;
}

export interface ControlsConfig {
  /** Per set: control name → forced on (true) or off (false) over the KVM-like defaults. */
  sets: Record<ConfigControlSet, Record<string, boolean>>;
  /** Vectors whose exceptions exit. */
  exceptionBitmap: number[];
  /** PAGE_FAULT_ERROR_CODE_MASK and _MATCH: which #PFs the exception bitmap's bit 14 applies to. */
  pageFaultErrorCode: { mask: number; match: number };
  /** Applied in order over the default (every port exits). */
  ioBitmap: IoRangeConfig[];
  /** Applied over the default (no MSR in the bitmap ranges exits). */
  msrBitmap: MsrEntryConfig[];
  cr0: CrConfig;
  cr4: CrConfig;
  cr3Targets: number[];
  /** 64-bit two's complement, as the TSC_OFFSET field holds it. */
  tscOffset: bigint;
}

export interface DevicesConfig {
  uart: { enabled: boolean; port: number; irq: number };
  pit: { enabled: boolean };
  pic: { enabled: boolean };
  debugExit: { enabled: boolean; port: number };
  /** The paravirtual console (docs/vmm-virtio.md): legacy virtio register block at `port`, interrupt on `irq`. */
  virtioConsole: { enabled: boolean; port: number; irq: number };
}

/**
 * The cycle cost model (src/vmm/cost, docs/vmm-costs.md) with every default
 * filled in. `perExit` and `reasons` are flat per-exit cycles that replace
 * `roundTrip + handler`; the other fields override the default table.
 */
export interface CostModelConfig {
  name: string;
  /** Flat cycles for an exit whose reason has no `reasons` entry; 0: charge roundTrip + handler instead. */
  perExit: number;
  /** Flat cycles per exit reason, by name (e.g. IO_INSTRUCTION). */
  reasons: Record<string, number>;
  roundTrip: number;
  /** Root-mode handler cycles per exit-reason name, merged over the default table. */
  handlers: Record<string, number>;
  defaultHandler: number;
  stringIoPerElement: number;
  instruction: Record<InstructionClass, number>;
  walkLevel: number;
  guestLevels: number;
  eptLevels: number;
}

export interface VmConfig {
  vcpus: number;
  /** Physical CPUs; absent: one per vCPU (createVm's default). */
  pcpus?: number;
  /** Guest instructions per time slice; absent: createVm's default (10,000, no slicing for one vCPU on one pCPU). */
  sliceInstructions?: number;
  memory: { sizeMiB: number; slots: Record<string, MemorySlotConfig> };
  paging: PagingMode;
  technique: Technique;
  /** The ring trap-and-emulate and binary translation run the guest kernel in (docs/techniques.md). */
  kernelRing: 1 | 3;
  controls: ControlsConfig;
  /** Leaf → registers that replace the leaf. */
  cpuid: Record<number, CpuidRegs>;
  devices: DevicesConfig;
  costModel?: CostModelConfig;
  entry: { mode: EntryMode; org: number };
}

export interface ConfigError {
  /** JSON path of the offending value, e.g. "controls.primary.HLT_EXITING" ("" for the whole document). */
  path: string;
  message: string;
}

/** "path: message", the form the debugger and CLI print. */
export function formatConfigError(e: ConfigError): string {
  return e.path === '' ? e.message : `${e.path}: ${e.message}`;
}
