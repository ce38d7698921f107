// The configuration's vocabulary and defaults. The defaults mirror what
// `createVm` does when given no options, so `{}` describes the default VM.

import { CONTROL_SETS, EXCEPTION_MNEMONICS, EXIT_REASONS, type ControlSetId } from '../vmx';
import { DEFAULT_CR0_MASK, DEFAULT_CR4_MASK, DEFAULT_EXCEPTION_BITMAP } from '../vtx';

export const TECHNIQUES = ['vtx', 'trap-and-emulate', 'binary-translation', 'paravirt'] as const;
export type Technique = (typeof TECHNIQUES)[number];
export const PAGING_MODES = ['ept', 'shadow'] as const;
export type PagingMode = (typeof PAGING_MODES)[number];
export const ENTRY_MODES = ['real', 'flat32'] as const;
export type EntryMode = (typeof ENTRY_MODES)[number];
export const SLOT_KINDS = ['ram', 'rom', 'mmio'] as const;
export type SlotKind = (typeof SLOT_KINDS)[number];

/** The control sets a configuration may override (the tertiary set has nothing the VM implements). */
export const CONFIG_CONTROL_SETS = ['pin', 'primary', 'secondary', 'exit', 'entry'] as const satisfies readonly ControlSetId[];
export type ConfigControlSet = (typeof CONFIG_CONTROL_SETS)[number];

export function controlNames(id: ConfigControlSet): string[] {
  const set = CONTROL_SETS.find((s) => s.id === id);
  return set === undefined ? [] : set.controls.map((c) => c.name);
}

export const EXIT_REASON_NAMES: readonly string[] = EXIT_REASONS.map((r) => r.name);

/** Exception vectors the bitmap may name: 0..31, or a mnemonic such as "#PF". */
export const EXCEPTION_VECTORS: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(EXCEPTION_MNEMONICS).map(([v, m]) => [m, Number(v)]),
);

export const LIMITS = {
  vcpus: { min: 1, max: 8 },
  /** Simulated physical CPUs the vCPUs are scheduled on. */
  pcpus: { min: 1, max: 16 },
  /** Guest instructions per scheduling time slice. */
  sliceInstructions: { min: 1, max: 100_000_000 },
  /** Guest RAM stays below the 32-bit PCI hole, so it fits under 4 GiB with MMIO above it. */
  memorySizeMiB: { min: 1, max: 3072 },
  /** Intel CPUs report 4 CR3-target values in IA32_VMX_MISC bits 24:16. */
  cr3Targets: 4,
  port: 0xffff,
  u32: 0xffffffff,
  irq: 15,
  page: 4096,
  fourGiB: 0x1_0000_0000,
} as const;

export const DEFAULTS = {
  vcpus: 1,
  memorySizeMiB: 256,
  paging: 'ept' as PagingMode,
  technique: 'vtx' as Technique,
  kernelRing: 1 as 1 | 3,
  exceptionBitmap: DEFAULT_EXCEPTION_BITMAP,
  cr0Mask: DEFAULT_CR0_MASK,
  cr4Mask: DEFAULT_CR4_MASK,
  tscOffset: 0,
  uart: { enabled: true, port: 0x3f8, irq: 4 },
  pit: { enabled: true },
  pic: { enabled: true },
  // On, as on the VM `hyperstep run` builds without a configuration: a guest that powers off does so under either.
  debugExit: { enabled: true, port: 0x501 },
  virtioConsole: { enabled: false, port: 0xc000, irq: 5 },
  costModelName: 'custom',
  costPerExit: 0,
  entryMode: 'flat32' as EntryMode,
  org: 0x1000,
} as const;

/** The mnemonics of the default exception bitmap, lowest vector first. */
export function defaultExceptionNames(): string[] {
  const out: string[] = [];
  for (let v = 0; v < 32; v++) if ((DEFAULT_EXCEPTION_BITMAP >>> v) & 1) out.push(EXCEPTION_MNEMONICS[v] ?? String(v));
  return out;
}
