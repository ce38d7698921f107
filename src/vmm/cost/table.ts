// The cycle cost table: plain data, so a VM configuration can override any
// number. docs/vmm-costs.md gives the source (or says "estimate") for each
// default value.

/** Guest instruction classes the model charges separately. */
export const INSTRUCTION_CLASSES = ['alu', 'memory', 'branch', 'string', 'system'] as const;
export type InstructionClass = (typeof INSTRUCTION_CLASSES)[number];

export interface CostTable {
  /** Shown with the statistics. */
  name: string;
  /** Hardware VM exit + VM entry round trip (state save/load, pipeline drain), charged on every exit. */
  roundTrip: number;
  /**
   * Root-mode software work per exit reason, by the names of src/vmm/vmx/exit-reasons.ts
   * (e.g. CPUID, IO_INSTRUCTION). Added to `roundTrip`.
   */
  handlers: Record<string, number>;
  /** Root-mode work for a reason `handlers` does not list. */
  defaultHandler: number;
  /**
   * Flat cycles per exit, replacing `roundTrip + handler`, for the listed
   * reasons (the original `costModel.reasons` of a VM configuration).
   */
  reasons: Record<string, number>;
  /** Flat cycles per exit for every reason not in `reasons` (the original `costModel.perExit`); unset: use roundTrip + handler. */
  perExit?: number;
  /** Extra root-mode work per element of a string I/O instruction (INS/OUTS, the emulator moves one element at a time). */
  stringIoPerElement: number;
  /** Cycles per guest instruction, by class; `string` is per iteration of a rep-prefixed string instruction. */
  instruction: Record<InstructionClass, number>;
  /** One paging-structure reference of a page walk (guest or EPT level) that misses the caches of the walker. */
  walkLevel: number;
  /** Levels of the guest's page tables (32-bit paging without PAE: 2). */
  guestLevels: number;
  /** Levels of the extended page tables (4). */
  eptLevels: number;
}

/**
 * The default model: a recent Intel server core under KVM. Sources and
 * estimates: docs/vmm-costs.md.
 */
export const DEFAULT_COST_TABLE: Readonly<CostTable> = Object.freeze({
  name: 'kvm-default',
  roundTrip: 1200,
  handlers: Object.freeze({
    EXCEPTION_NMI: 900,
    TRIPLE_FAULT: 200,
    CPUID: 100,
    HLT: 300,
    INVD: 100,
    INVLPG: 250,
    RDPMC: 1500,
    RDTSC: 80,
    VMCALL: 250,
    CR_ACCESS: 250,
    DR_ACCESS: 1500,
    IO_INSTRUCTION: 700,
    MSR_READ: 150,
    MSR_WRITE: 250,
    INVALID_STATE: 0,
    MSR_LOAD_FAIL: 0,
    MWAIT_INSTRUCTION: 100,
    MONITOR_INSTRUCTION: 100,
    PAUSE_INSTRUCTION: 100,
    GDTR_IDTR: 1500,
    LDTR_TR: 1500,
    EPT_VIOLATION: 1000,
    EPT_MISCONFIG: 2500,
    RDTSCP: 100,
    WBINVD: 100,
    XSETBV: 200,
  }) as Record<string, number>,
  defaultHandler: 500,
  reasons: Object.freeze({}) as Record<string, number>,
  stringIoPerElement: 250,
  instruction: Object.freeze({ alu: 1, memory: 4, branch: 2, string: 2, system: 30 }) as Record<InstructionClass, number>,
  walkLevel: 30,
  guestLevels: 2,
  eptLevels: 4,
});

/** A partial table as a configuration gives it: every field optional, nested records merged key by key. */
export interface CostTableOverride {
  name?: string;
  roundTrip?: number;
  handlers?: Record<string, number>;
  defaultHandler?: number;
  reasons?: Record<string, number>;
  perExit?: number;
  stringIoPerElement?: number;
  instruction?: Partial<Record<InstructionClass, number>>;
  walkLevel?: number;
  guestLevels?: number;
  eptLevels?: number;
}

/** `base` with `override` applied; the records (handlers, reasons, instruction) merge per key. */
export function mergeCostTable(base: Readonly<CostTable>, override: CostTableOverride = {}): CostTable {
  const t: CostTable = {
    name: override.name ?? base.name,
    roundTrip: override.roundTrip ?? base.roundTrip,
    handlers: { ...base.handlers, ...override.handlers },
    defaultHandler: override.defaultHandler ?? base.defaultHandler,
    reasons: { ...base.reasons, ...override.reasons },
    stringIoPerElement: override.stringIoPerElement ?? base.stringIoPerElement,
    instruction: { ...base.instruction, ...override.instruction },
    walkLevel: override.walkLevel ?? base.walkLevel,
    guestLevels: override.guestLevels ?? base.guestLevels,
    eptLevels: override.eptLevels ?? base.eptLevels,
  };
  const perExit = override.perExit ?? base.perExit;
  if (perExit !== undefined) t.perExit = perExit;
  return t;
}
