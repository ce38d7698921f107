// The checks a processor makes on VMLAUNCH/VMRESUME before it runs the guest
// (SDM Vol. 3C, "VM Entries"), as one table: each row names its SDM list, the
// VMCS fields it reads, a predicate and an explanation. The lists run in SDM
// order; the first failing row decides the outcome:
//  - VM-execution, VM-exit and VM-entry control fields: VMfailValid, VM-instruction error 7;
//  - host-state area: VMfailValid, error 8;
//  - guest-state area: a VM exit with basic reason 33 and bit 31 set (0x80000021).
// Only state the simulated IA-32 processor has is checked. The modelled
// capability MSRs: a control bit outside the named set is reserved; reserved
// bits in a set's default1 class must be 1 and all other reserved bits 0
// (named controls are free, as with the TRUE_* MSRs); IA-32e controls must be
// 0 (no Intel 64); IA32_VMX_MISC bit 30 (zero-length instruction injection) is
// clear; CR0 fixed0 = PE | NE | PG, CR4 fixed0 = VMXE.
// Deliberately not enforced, so that the product's guests keep running:
// guest CR0.NE (guests load with NE clear and the CPU has no legacy FPU-error
// mode to hide).

import { Vmcs, VMCS, controlSet, controlMask, EXIT_REASON, vmInstructionErrorText, vmcsSlot, type ControlSetId, type VmcsFieldName } from '../vmx';
import { hex } from './bitmaps';
import { eptpProblems } from '../memory/eptFormat';

/** The three check lists of SDM 27.2/27.3, and MSR loading (27.4), which fails after them. */
export type EntryCheckList = 'controls' | 'host-state' | 'guest-state' | 'msr-load';

/** What a list's failure does (SDM "Checks on VMX Controls and Host-State Area", "Checks on the Guest State Area"). */
export const ENTRY_CHECK_LISTS: Readonly<Record<EntryCheckList, { title: string; section: string; instructionError?: number; exitReason?: number }>> = {
  controls: { title: 'checks on VMX controls', section: 'SDM 27.2.1', instructionError: 7 },
  'host-state': { title: 'checks on host control registers, MSRs and segment/descriptor-table registers', section: 'SDM 27.2.2-27.2.3', instructionError: 8 },
  'guest-state': { title: 'checks on the guest-state area', section: 'SDM 27.3.1', exitReason: EXIT_REASON.INVALID_STATE },
  'msr-load': { title: 'loading MSRs from the VM-entry MSR-load area', section: 'SDM 27.4', exitReason: EXIT_REASON.MSR_LOAD_FAIL },
};

/** The VM-entry failure qualifications (exit 33/34) this table uses. */
export const ENTRY_FAIL_DEFAULT = 0;
export const ENTRY_FAIL_NMI = 3;
export const ENTRY_FAIL_VMCS_LINK_PTR = 4;

/** The view of one VMCS a check reads, with the facts several checks derive from it. */
export interface CheckContext {
  get(name: VmcsFieldName): number;
  getBig(name: VmcsFieldName): bigint;
  /** A control as the processor sees it: secondary ones only while "activate secondary controls" is set. */
  control(set: ControlSetId, name: string): boolean;
  unrestricted: boolean;
}

export interface EntryCheck {
  id: string;
  list: EntryCheckList;
  /** Fields the check reads; the first is the one an explanation names unless `field` says otherwise. */
  fields: readonly VmcsFieldName[];
  /** Only checked when this holds (e.g. a control that makes the field count). */
  applies?: (c: CheckContext) => boolean;
  ok: (c: CheckContext) => boolean;
  /** Why it fails, in words; the field and its value are appended. */
  explain: (c: CheckContext) => string;
  /** The field holding the bad value, when not the first of `fields`. */
  field?: (c: CheckContext) => VmcsFieldName;
  /** Exit qualification of a guest-state failure; default ENTRY_FAIL_DEFAULT. */
  qualification?: number;
}

export interface EntryCheckFailure {
  check: string;
  list: EntryCheckList;
  /** VM-instruction error (7 or 8) for a VMfailValid; undefined for a failure that exits. */
  instructionError?: number;
  /** Full exit reason, bit 31 set (0x80000021), for a failure that exits. */
  exitReason?: number;
  qualification?: number;
  field: VmcsFieldName;
  value: number;
  /** e.g. "guest CR0.PG is set but CR0.PE is clear: GUEST_CR0 (0x6800) = 0x80000010" */
  explanation: string;
  /** One line for a stop message: outcome, SDM list and explanation. */
  message: string;
}

// --- helpers -----------------------------------------------------------------

const bit = (v: number, n: number): boolean => ((v >>> n) & 1) === 1;
const UNUSABLE = 1 << 16;
const TYPE = (ar: number): number => ar & 0xf;
const DPL = (ar: number): number => (ar >>> 5) & 3;
/** Bits 11:8 and 31:17 of an access-rights field are reserved. */
const AR_RESERVED = 0xfffe0f00;
const ERROR_CODE_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17]);

function describe(c: CheckContext, name: VmcsFieldName): string {
  const enc = VMCS[name].toString(16).toUpperCase().padStart(4, '0');
  return `${name} (0x${enc}) = 0x${c.getBig(name).toString(16).toUpperCase()}`;
}

/** G-bit/limit consistency (SDM 27.3.1.2): limit bits 11:0 not all ones needs G = 0; any of bits 31:20 set needs G = 1. */
function granularityOk(limit: number, ar: number): boolean {
  const g = bit(ar, 15);
  if ((limit & 0xfff) !== 0xfff && g) return false;
  if ((limit & 0xfff00000) !== 0 && !g) return false;
  return true;
}

// --- controls ----------------------------------------------------------------

const CONTROL_FIELD: Readonly<Record<ControlSetId, VmcsFieldName>> = {
  pin: 'PIN_BASED_VM_EXEC_CONTROL', primary: 'CPU_BASED_VM_EXEC_CONTROL', secondary: 'SECONDARY_VM_EXEC_CONTROL',
  tertiary: 'TERTIARY_VM_EXEC_CONTROL', exit: 'VM_EXIT_CONTROLS', entry: 'VM_ENTRY_CONTROLS',
};

function namedMask(id: ControlSetId): number {
  let m = 0;
  for (const b of controlSet(id).controls) if (b.bit < 32) m |= 2 ** b.bit;
  return m >>> 0;
}

function bitList(mask: number): string {
  const out: number[] = [];
  for (let b = 0; b < 32; b++) if (bit(mask, b)) out.push(b);
  return out.join(', ');
}

/** Two rows per control set: reserved default1 bits must be 1, other reserved bits 0. */
function reservedRows(id: ControlSetId, applies?: (c: CheckContext) => boolean): EntryCheck[] {
  const s = controlSet(id);
  const field = CONTROL_FIELD[id];
  const named = namedMask(id);
  const must1 = (s.default1 & ~named) >>> 0;
  const must0 = (~s.default1 & ~named) >>> 0;
  const rows: EntryCheck[] = [];
  if (must1 !== 0) {
    rows.push({
      id: `${id}-reserved-default1`, list: 'controls', fields: [field], applies,
      ok: (c) => ((c.get(field) & must1) >>> 0) === must1,
      explain: (c) => `reserved bit(s) ${bitList(must1 & ~c.get(field))} of the ${s.title} are in the default1 class and must be 1`,
    });
  }
  rows.push({
    id: `${id}-reserved-zero`, list: 'controls', fields: [field], applies,
    ok: (c) => (c.get(field) & must0) === 0 && (s.bits === 32 || c.getBig(field) >> 32n === 0n),
    explain: (c) => {
      const low = (c.get(field) & must0) >>> 0;
      const parts = [low !== 0 ? `bit(s) ${bitList(low)}` : '', s.bits === 64 && c.getBig(field) >> 32n !== 0n ? 'bits 63:32' : ''].filter((p) => p !== '');
      return `${parts.join(' and ')} of the ${s.title} are reserved (not supported by this processor) and must be 0`;
    },
  });
  return rows;
}

const INTR_INFO: VmcsFieldName = 'VM_ENTRY_INTR_INFO_FIELD';
const injecting = (c: CheckContext): boolean => bit(c.get(INTR_INFO), 31);
const injType = (c: CheckContext): number => (c.get(INTR_INFO) >>> 8) & 7;
const injVector = (c: CheckContext): number => c.get(INTR_INFO) & 0xff;

function aligned(field: VmcsFieldName, what: string, applies: (c: CheckContext) => boolean, alignment: number): EntryCheck {
  return {
    id: `${field.toLowerCase().replace(/_/g, '-')}-aligned`, list: 'controls', fields: [field], applies,
    ok: (c) => c.getBig(field) % BigInt(alignment) === 0n && c.getBig(field) >> 32n === 0n,
    explain: () => `${what} must be ${alignment === 4096 ? '4 KiB' : `${alignment}-byte`} aligned and below 4 GiB (the processor's physical-address width)`,
  };
}

const CONTROL_CHECKS: EntryCheck[] = [
  ...reservedRows('pin'),
  ...reservedRows('primary'),
  ...reservedRows('secondary', (c) => c.control('primary', 'SEC_CONTROLS')),
  ...reservedRows('tertiary', (c) => c.control('primary', 'TERTIARY_CONTROLS')),
  {
    id: 'cr3-target-count', list: 'controls', fields: ['CR3_TARGET_COUNT'],
    ok: (c) => c.get('CR3_TARGET_COUNT') <= 4,
    explain: () => 'the CR3-target count must not be greater than 4',
  },
  aligned('IO_BITMAP_A', 'with "use I/O bitmaps" set, the address of I/O bitmap A', (c) => c.control('primary', 'USE_IO_BITMAPS'), 4096),
  aligned('IO_BITMAP_B', 'with "use I/O bitmaps" set, the address of I/O bitmap B', (c) => c.control('primary', 'USE_IO_BITMAPS'), 4096),
  aligned('MSR_BITMAP', 'with "use MSR bitmaps" set, the address of the MSR bitmap', (c) => c.control('primary', 'USE_MSR_BITMAPS'), 4096),
  {
    id: 'vpid-nonzero', list: 'controls', fields: ['VIRTUAL_PROCESSOR_ID'], applies: (c) => c.control('secondary', 'VPID'),
    ok: (c) => c.get('VIRTUAL_PROCESSOR_ID') !== 0,
    explain: () => 'with "enable VPID" set, the VPID must not be 0000H (VPID 0 belongs to the VMM)',
  },
  {
    id: 'virtual-nmis-need-nmi-exiting', list: 'controls', fields: ['PIN_BASED_VM_EXEC_CONTROL'],
    ok: (c) => !c.control('pin', 'VIRTUAL_NMIS') || c.control('pin', 'NMI_EXITING'),
    explain: () => '"virtual NMIs" (pin-based bit 5) is set but "NMI exiting" (bit 3) is clear',
  },
  {
    id: 'unrestricted-guest-needs-ept', list: 'controls', fields: ['SECONDARY_VM_EXEC_CONTROL'], applies: (c) => c.unrestricted,
    ok: (c) => c.control('secondary', 'EPT'),
    explain: () => '"unrestricted guest" (secondary bit 7) is set but "enable EPT" (secondary bit 1) is clear: an unpaged guest needs EPT to translate its addresses',
  },
  {
    id: 'ept-pointer', list: 'controls', fields: ['EPT_POINTER'], applies: (c) => c.control('secondary', 'EPT'),
    ok: (c) => eptpProblems(c.getBig('EPT_POINTER')).length === 0,
    explain: (c) => `with "enable EPT" set, the EPT pointer must be valid: ${eptpProblems(c.getBig('EPT_POINTER')).join('; ')}`,
  },
  {
    id: 'nmi-window-needs-virtual-nmis', list: 'controls', fields: ['CPU_BASED_VM_EXEC_CONTROL', 'PIN_BASED_VM_EXEC_CONTROL'],
    ok: (c) => !c.control('primary', 'NMI_WINDOW_EXITING') || c.control('pin', 'VIRTUAL_NMIS'),
    explain: () => '"NMI-window exiting" (primary bit 22) is set but "virtual NMIs" (pin-based bit 5) is clear',
  },
  {
    id: 'preemption-timer-save', list: 'controls', fields: ['VM_EXIT_CONTROLS', 'PIN_BASED_VM_EXEC_CONTROL'],
    ok: (c) => c.control('pin', 'PREEMPTION_TIMER') || !c.control('exit', 'VM_EXIT_SAVE_VMX_PREEMPTION_TIMER'),
    explain: () => '"save VMX-preemption timer value" (exit bit 22) is set but "activate VMX-preemption timer" (pin-based bit 6) is clear',
  },
  ...reservedRows('exit'),
  {
    id: 'exit-host-address-space-size', list: 'controls', fields: ['VM_EXIT_CONTROLS'],
    ok: (c) => !c.control('exit', 'VM_EXIT_HOST_ADDR_SPACE_SIZE'),
    explain: () => '"host address-space size" (exit bit 9) must be 0 on a processor without Intel 64',
  },
  aligned('VM_EXIT_MSR_STORE_ADDR', 'with a non-zero VM-exit MSR-store count, the VM-exit MSR-store address', (c) => c.get('VM_EXIT_MSR_STORE_COUNT') !== 0, 16),
  aligned('VM_EXIT_MSR_LOAD_ADDR', 'with a non-zero VM-exit MSR-load count, the VM-exit MSR-load address', (c) => c.get('VM_EXIT_MSR_LOAD_COUNT') !== 0, 16),
  ...reservedRows('entry'),
  {
    id: 'entry-ia32e-mode', list: 'controls', fields: ['VM_ENTRY_CONTROLS'],
    ok: (c) => !c.control('entry', 'VM_ENTRY_IA32E_MODE'),
    explain: () => '"IA-32e mode guest" (entry bit 9) must be 0 on a processor without Intel 64',
  },
  {
    id: 'entry-smm', list: 'controls', fields: ['VM_ENTRY_CONTROLS'],
    ok: (c) => !c.control('entry', 'VM_ENTRY_SMM') && !c.control('entry', 'VM_ENTRY_DEACT_DUAL_MONITOR'),
    explain: () => '"entry to SMM" (entry bit 10) and "deactivate dual-monitor treatment" (bit 11) must be 0 outside SMM',
  },
  aligned('VM_ENTRY_MSR_LOAD_ADDR', 'with a non-zero VM-entry MSR-load count, the VM-entry MSR-load address', (c) => c.get('VM_ENTRY_MSR_LOAD_COUNT') !== 0, 16),
  {
    id: 'injection-reserved', list: 'controls', fields: [INTR_INFO], applies: injecting,
    ok: (c) => (c.get(INTR_INFO) & 0x7ffff000) === 0,
    explain: () => 'bits 30:12 of the VM-entry interruption-information field are reserved and must be 0',
  },
  {
    id: 'injection-type', list: 'controls', fields: [INTR_INFO], applies: injecting,
    ok: (c) => injType(c) !== 1,
    explain: () => 'interruption type 1 is reserved',
  },
  {
    id: 'injection-nmi-vector', list: 'controls', fields: [INTR_INFO], applies: (c) => injecting(c) && injType(c) === 2,
    ok: (c) => injVector(c) === 2,
    explain: (c) => `an NMI (type 2) must have vector 2, not ${injVector(c)}`,
  },
  {
    id: 'injection-exception-vector', list: 'controls', fields: [INTR_INFO], applies: (c) => injecting(c) && injType(c) === 3,
    ok: (c) => injVector(c) < 32,
    explain: (c) => `a hardware exception (type 3) must have a vector below 32, not ${injVector(c)}`,
  },
  {
    id: 'injection-other-event-vector', list: 'controls', fields: [INTR_INFO], applies: (c) => injecting(c) && injType(c) === 7,
    ok: (c) => injVector(c) === 0,
    explain: (c) => `an "other event" (type 7, pending MTF) must have vector 0, not ${injVector(c)}`,
  },
  {
    id: 'injection-error-code', list: 'controls', fields: [INTR_INFO, 'GUEST_CR0'], applies: injecting,
    ok: (c) => bit(c.get(INTR_INFO), 11) === (injType(c) === 3 && ERROR_CODE_VECTORS.has(injVector(c)) && (!c.unrestricted || bit(c.get('GUEST_CR0'), 0))),
    explain: (c) => bit(c.get(INTR_INFO), 11)
      ? `"deliver error code" (bit 11) is set but vector ${injVector(c)} of type ${injType(c)} pushes none${c.unrestricted && !bit(c.get('GUEST_CR0'), 0) ? ' (and with unrestricted guest, CR0.PE is clear: real mode pushes no error code)' : ''}`
      : `"deliver error code" (bit 11) is clear but hardware exception ${injVector(c)} pushes one in protected mode`,
  },
  {
    id: 'injection-error-code-reserved', list: 'controls', fields: ['VM_ENTRY_EXCEPTION_ERROR_CODE', INTR_INFO], applies: (c) => injecting(c) && bit(c.get(INTR_INFO), 11),
    ok: (c) => (c.get('VM_ENTRY_EXCEPTION_ERROR_CODE') & 0xffff0000) === 0,
    explain: () => 'with "deliver error code" set, bits 31:16 of the VM-entry exception error code must be 0',
  },
  {
    id: 'injection-instruction-length', list: 'controls', fields: ['VM_ENTRY_INSTRUCTION_LEN', INTR_INFO], applies: (c) => injecting(c) && [4, 5, 6].includes(injType(c)),
    ok: (c) => c.get('VM_ENTRY_INSTRUCTION_LEN') >= 1 && c.get('VM_ENTRY_INSTRUCTION_LEN') <= 15,
    explain: (c) => `a software interrupt or exception (type ${injType(c)}) needs a VM-entry instruction length of 1 to 15`,
  },
];

// --- host state --------------------------------------------------------------

const HOST_SELECTORS: readonly VmcsFieldName[] = ['HOST_ES_SELECTOR', 'HOST_CS_SELECTOR', 'HOST_SS_SELECTOR', 'HOST_DS_SELECTOR', 'HOST_FS_SELECTOR', 'HOST_GS_SELECTOR', 'HOST_TR_SELECTOR'];

const HOST_CHECKS: EntryCheck[] = [
  {
    id: 'host-cr0-fixed', list: 'host-state', fields: ['HOST_CR0'],
    ok: (c) => ((c.get('HOST_CR0') & 0x80000021) >>> 0) === 0x80000021,
    explain: (c) => `host CR0 must have the bits fixed to 1 in VMX operation set (PE, NE, PG); missing ${['PE', 'NE', 'PG'].filter((_, i) => !bit(c.get('HOST_CR0'), [0, 5, 31][i])).join(', ')}`,
  },
  {
    id: 'host-cr4-vmxe', list: 'host-state', fields: ['HOST_CR4'],
    ok: (c) => bit(c.get('HOST_CR4'), 13),
    explain: () => 'host CR4.VMXE (bit 13) is fixed to 1 in VMX operation but is clear',
  },
  ...HOST_SELECTORS.map((f): EntryCheck => ({
    id: `${f.toLowerCase().replace(/_/g, '-')}-rpl-ti`, list: 'host-state', fields: [f],
    ok: (c) => (c.get(f) & 7) === 0,
    explain: () => `host ${f.slice(5, 7)} selector must have RPL (bits 1:0) and TI (bit 2) 0`,
  })),
  ...(['HOST_CS_SELECTOR', 'HOST_TR_SELECTOR', 'HOST_SS_SELECTOR'] as const).map((f): EntryCheck => ({
    id: `${f.toLowerCase().replace(/_/g, '-')}-not-null`, list: 'host-state', fields: [f],
    ok: (c) => c.get(f) !== 0,
    explain: () => `host ${f.slice(5, 7)} selector must not be null${f === 'HOST_SS_SELECTOR' ? ' while "host address-space size" is 0' : ''}`,
  })),
];

// --- guest state -------------------------------------------------------------

type SegName = 'CS' | 'SS' | 'DS' | 'ES' | 'FS' | 'GS' | 'TR' | 'LDTR';
const sel = (s: SegName): VmcsFieldName => `GUEST_${s}_SELECTOR` as VmcsFieldName;
const lim = (s: SegName): VmcsFieldName => `GUEST_${s}_LIMIT` as VmcsFieldName;
const arf = (s: SegName): VmcsFieldName => `GUEST_${s}_AR_BYTES` as VmcsFieldName;
const baseField = (s: SegName): VmcsFieldName => `GUEST_${s}_BASE` as VmcsFieldName;
const ar = (c: CheckContext, s: SegName): number => c.get(arf(s));
const usable = (c: CheckContext, s: SegName): boolean => (ar(c, s) & UNUSABLE) === 0;
const v86 = (c: CheckContext): boolean => bit(c.get('GUEST_RFLAGS'), 17);
const DATA_SEGS: readonly SegName[] = ['SS', 'DS', 'ES', 'FS', 'GS'];

/** The common access-rights rules of a usable segment: S, P, reserved bits, G against the limit. */
function segmentShapeRows(s: SegName, system: boolean, when: (c: CheckContext) => boolean): EntryCheck[] {
  return [
    {
      id: `guest-${s.toLowerCase()}-ar-s-p`, list: 'guest-state', fields: [arf(s)], applies: when,
      ok: (c) => bit(ar(c, s), 4) === !system && bit(ar(c, s), 7),
      explain: () => `guest ${s} access rights need S (bit 4) = ${system ? 0 : 1} and P (bit 7) = 1`,
    },
    {
      id: `guest-${s.toLowerCase()}-ar-reserved`, list: 'guest-state', fields: [arf(s)], applies: when,
      ok: (c) => (ar(c, s) & AR_RESERVED) === 0,
      explain: () => `guest ${s} access rights bits 11:8 and 31:17 are reserved and must be 0`,
    },
    {
      id: `guest-${s.toLowerCase()}-granularity`, list: 'guest-state', fields: [lim(s), arf(s)], applies: when,
      ok: (c) => granularityOk(c.get(lim(s)), ar(c, s)),
      explain: (c) => `guest ${s} limit and G bit disagree (G = ${bit(ar(c, s), 15) ? 1 : 0}: ${bit(ar(c, s), 15) ? 'limit bits 11:0 must be all ones' : 'limit bits 31:20 must be 0'}), ${describe(c, arf(s))}`,
    },
  ];
}

const notV86 = (c: CheckContext): boolean => !v86(c);

const GUEST_CHECKS: EntryCheck[] = [
  {
    id: 'guest-cr0-pg-needs-pe', list: 'guest-state', fields: ['GUEST_CR0'],
    ok: (c) => !bit(c.get('GUEST_CR0'), 31) || bit(c.get('GUEST_CR0'), 0),
    explain: () => 'guest CR0.PG is set but CR0.PE is clear',
  },
  {
    id: 'guest-cr0-fixed', list: 'guest-state', fields: ['GUEST_CR0', 'SECONDARY_VM_EXEC_CONTROL'], applies: (c) => !c.unrestricted,
    ok: (c) => bit(c.get('GUEST_CR0'), 0) && bit(c.get('GUEST_CR0'), 31),
    explain: (c) => {
      const why = (c.get('SECONDARY_VM_EXEC_CONTROL') & controlMask('secondary', 'UNRESTRICTED_GUEST')) !== 0
        ? '"unrestricted guest" is set in SECONDARY_VM_EXEC_CONTROL but "activate secondary controls" (primary bit 31) is clear, so it does not count'
        : '"unrestricted guest" (secondary bit 7) is clear';
      return `guest CR0.PE and CR0.PG are fixed to 1 in VMX operation unless the guest is unrestricted; ${why}`;
    },
  },
  {
    id: 'guest-cr4-vmxe', list: 'guest-state', fields: ['GUEST_CR4'],
    ok: (c) => bit(c.get('GUEST_CR4'), 13),
    explain: () => 'guest CR4.VMXE (bit 13) is fixed to 1 in VMX operation but is clear (hide it with the CR4 guest/host mask and read shadow)',
  },
  {
    id: 'guest-rflags-reserved', list: 'guest-state', fields: ['GUEST_RFLAGS'],
    ok: (c) => (c.get('GUEST_RFLAGS') & 0xffc0802a) === 0x2,
    explain: () => 'guest RFLAGS bit 1 must be 1 and bits 3, 5, 15 and 31:22 must be 0',
  },
  {
    id: 'guest-rflags-vm-real', list: 'guest-state', fields: ['GUEST_RFLAGS', 'GUEST_CR0'],
    ok: (c) => !v86(c) || bit(c.get('GUEST_CR0'), 0),
    explain: () => 'guest RFLAGS.VM is set but CR0.PE is clear (virtual-8086 mode needs protected mode)',
  },
  {
    id: 'guest-rflags-if-for-interrupt', list: 'guest-state', fields: ['GUEST_RFLAGS', INTR_INFO], applies: (c) => injecting(c) && injType(c) === 0,
    ok: (c) => bit(c.get('GUEST_RFLAGS'), 9),
    explain: () => 'an external interrupt is being injected but guest RFLAGS.IF is clear',
  },
  // Virtual-8086 mode: every segment register is a real-mode-style segment.
  ...(['CS', 'SS', 'DS', 'ES', 'FS', 'GS'] as const).map((s): EntryCheck => ({
    id: `guest-${s.toLowerCase()}-v86`, list: 'guest-state', fields: [arf(s), baseField(s), lim(s)], applies: v86,
    ok: (c) => c.get(baseField(s)) === c.get(sel(s)) * 16 && c.get(lim(s)) === 0xffff && ar(c, s) === 0xf3,
    explain: (c) => `in virtual-8086 mode guest ${s} must have base = selector × 16 (${hex(c.get(sel(s)) * 16)}), limit 0xFFFF and access rights 0xF3`,
    field: (c) => (ar(c, s) !== 0xf3 ? arf(s) : c.get(lim(s)) !== 0xffff ? lim(s) : baseField(s)),
  })),
  {
    id: 'guest-tr-ti', list: 'guest-state', fields: ['GUEST_TR_SELECTOR'],
    ok: (c) => !bit(c.get('GUEST_TR_SELECTOR'), 2),
    explain: () => 'guest TR selector must have TI (bit 2) = 0',
  },
  {
    id: 'guest-ldtr-ti', list: 'guest-state', fields: ['GUEST_LDTR_SELECTOR'], applies: (c) => usable(c, 'LDTR'),
    ok: (c) => !bit(c.get('GUEST_LDTR_SELECTOR'), 2),
    explain: () => 'a usable guest LDTR selector must have TI (bit 2) = 0',
  },
  {
    id: 'guest-ss-rpl', list: 'guest-state', fields: ['GUEST_SS_SELECTOR', 'GUEST_CS_SELECTOR'], applies: (c) => notV86(c) && !c.unrestricted,
    ok: (c) => (c.get('GUEST_SS_SELECTOR') & 3) === (c.get('GUEST_CS_SELECTOR') & 3),
    explain: (c) => `guest SS.RPL must equal CS.RPL (${c.get('GUEST_CS_SELECTOR') & 3}) unless the guest is unrestricted`,
  },
  {
    id: 'guest-cs-type', list: 'guest-state', fields: ['GUEST_CS_AR_BYTES'], applies: notV86,
    ok: (c) => [9, 11, 13, 15].includes(TYPE(ar(c, 'CS'))) || (c.unrestricted && TYPE(ar(c, 'CS')) === 3),
    explain: (c) => `guest CS type ${TYPE(ar(c, 'CS'))} is not an accessed code segment (9, 11, 13, 15${c.unrestricted ? ', or 3 with unrestricted guest' : ''})`,
  },
  {
    id: 'guest-cs-usable', list: 'guest-state', fields: ['GUEST_CS_AR_BYTES'], applies: notV86,
    ok: (c) => usable(c, 'CS'),
    explain: () => 'guest CS must be usable (access-rights bit 16 clear)',
  },
  ...segmentShapeRows('CS', false, notV86),
  {
    id: 'guest-cs-dpl', list: 'guest-state', fields: ['GUEST_CS_AR_BYTES', 'GUEST_SS_AR_BYTES'], applies: notV86,
    ok: (c) => {
      const t = TYPE(ar(c, 'CS'));
      const d = DPL(ar(c, 'CS'));
      if (t === 3) return d === 0;
      if (t === 9 || t === 11) return d === DPL(ar(c, 'SS'));
      return d <= DPL(ar(c, 'SS'));
    },
    explain: (c) => {
      const t = TYPE(ar(c, 'CS'));
      const rule = t === 3 ? 'must be 0 for a data-type CS' : t === 9 || t === 11 ? 'must equal SS.DPL for a non-conforming CS' : 'must not exceed SS.DPL for a conforming CS';
      return `guest CS.DPL (${DPL(ar(c, 'CS'))}) ${rule} (SS.DPL = ${DPL(ar(c, 'SS'))})`;
    },
  },
  {
    id: 'guest-ss-type', list: 'guest-state', fields: ['GUEST_SS_AR_BYTES'], applies: (c) => notV86(c) && usable(c, 'SS'),
    ok: (c) => TYPE(ar(c, 'SS')) === 3 || TYPE(ar(c, 'SS')) === 7,
    explain: (c) => `a usable guest SS must be a read/write accessed data segment (type 3 or 7), not type ${TYPE(ar(c, 'SS'))}`,
  },
  {
    id: 'guest-ss-dpl-rpl', list: 'guest-state', fields: ['GUEST_SS_AR_BYTES', 'GUEST_SS_SELECTOR'], applies: (c) => notV86(c) && !c.unrestricted,
    ok: (c) => DPL(ar(c, 'SS')) === (c.get('GUEST_SS_SELECTOR') & 3),
    explain: (c) => `guest SS.DPL (${DPL(ar(c, 'SS'))}) must equal the RPL of its selector (${c.get('GUEST_SS_SELECTOR') & 3}) unless the guest is unrestricted`,
  },
  {
    id: 'guest-ss-dpl-zero', list: 'guest-state', fields: ['GUEST_SS_AR_BYTES', 'GUEST_CR0'], applies: (c) => notV86(c) && (TYPE(ar(c, 'CS')) === 3 || !bit(c.get('GUEST_CR0'), 0)),
    ok: (c) => DPL(ar(c, 'SS')) === 0,
    explain: (c) => `guest SS.DPL must be 0 when CS is a data-type segment or CR0.PE is clear (SS.DPL = ${DPL(ar(c, 'SS'))})`,
  },
  ...['DS', 'ES', 'FS', 'GS'].map((n): EntryCheck => {
    const s = n as SegName;
    return {
      id: `guest-${s.toLowerCase()}-type`, list: 'guest-state', fields: [arf(s)], applies: (c) => notV86(c) && usable(c, s),
      ok: (c) => bit(ar(c, s), 0) && (!bit(ar(c, s), 3) || bit(ar(c, s), 1)),
      explain: (c) => `a usable guest ${s} must be accessed (type bit 0) and, if code, readable (type bit 1); type is ${TYPE(ar(c, s))}`,
    };
  }),
  ...['DS', 'ES', 'FS', 'GS'].map((n): EntryCheck => {
    const s = n as SegName;
    return {
      id: `guest-${s.toLowerCase()}-dpl`, list: 'guest-state', fields: [arf(s), sel(s)], applies: (c) => notV86(c) && usable(c, s) && !c.unrestricted && TYPE(ar(c, s)) <= 11,
      ok: (c) => DPL(ar(c, s)) >= (c.get(sel(s)) & 3),
      explain: (c) => `guest ${s}.DPL (${DPL(ar(c, s))}) must not be below the RPL of its selector (${c.get(sel(s)) & 3}) unless the guest is unrestricted`,
    };
  }),
  ...DATA_SEGS.flatMap((s) => segmentShapeRows(s, false, (c) => notV86(c) && usable(c, s))),
  {
    id: 'guest-tr-type', list: 'guest-state', fields: ['GUEST_TR_AR_BYTES'],
    ok: (c) => TYPE(ar(c, 'TR')) === 3 || TYPE(ar(c, 'TR')) === 11,
    explain: (c) => `guest TR must be a busy TSS (type 3 or 11), not type ${TYPE(ar(c, 'TR'))}`,
  },
  {
    id: 'guest-tr-usable', list: 'guest-state', fields: ['GUEST_TR_AR_BYTES'],
    ok: (c) => usable(c, 'TR'),
    explain: () => 'guest TR must be usable (access-rights bit 16 clear)',
  },
  ...segmentShapeRows('TR', true, () => true),
  {
    id: 'guest-ldtr-type', list: 'guest-state', fields: ['GUEST_LDTR_AR_BYTES'], applies: (c) => usable(c, 'LDTR'),
    ok: (c) => TYPE(ar(c, 'LDTR')) === 2,
    explain: (c) => `a usable guest LDTR must have type 2 (LDT), not ${TYPE(ar(c, 'LDTR'))}`,
  },
  ...segmentShapeRows('LDTR', true, (c) => usable(c, 'LDTR')),
  ...(['GUEST_GDTR_LIMIT', 'GUEST_IDTR_LIMIT'] as const).map((f): EntryCheck => ({
    id: `${f.toLowerCase().replace(/_/g, '-')}`, list: 'guest-state', fields: [f],
    ok: (c) => c.get(f) <= 0xffff,
    explain: () => `bits 31:16 of the guest ${f.slice(6, 10)} limit must be 0`,
  })),
  {
    id: 'guest-activity-state', list: 'guest-state', fields: ['GUEST_ACTIVITY_STATE'],
    ok: (c) => c.get('GUEST_ACTIVITY_STATE') <= 3,
    explain: () => 'the guest activity state must be 0 (active), 1 (HLT), 2 (shutdown) or 3 (wait-for-SIPI)',
  },
  {
    id: 'guest-hlt-ss-dpl', list: 'guest-state', fields: ['GUEST_ACTIVITY_STATE', 'GUEST_SS_AR_BYTES'], applies: (c) => c.get('GUEST_ACTIVITY_STATE') === 1,
    ok: (c) => DPL(ar(c, 'SS')) === 0,
    explain: (c) => `the HLT activity state needs SS.DPL = 0 (SS.DPL = ${DPL(ar(c, 'SS'))})`,
  },
  {
    id: 'guest-hlt-blocking', list: 'guest-state', fields: ['GUEST_ACTIVITY_STATE', 'GUEST_INTERRUPTIBILITY_INFO'], applies: (c) => c.get('GUEST_ACTIVITY_STATE') === 1,
    ok: (c) => (c.get('GUEST_INTERRUPTIBILITY_INFO') & 3) === 0,
    explain: (c) => `the HLT activity state is not allowed with blocking by STI or MOV SS, ${describe(c, 'GUEST_INTERRUPTIBILITY_INFO')}`,
  },
  {
    id: 'guest-activity-injection', list: 'guest-state', fields: ['GUEST_ACTIVITY_STATE', INTR_INFO], applies: (c) => injecting(c) && c.get('GUEST_ACTIVITY_STATE') !== 0,
    ok: (c) => {
      const t = injType(c);
      const v = injVector(c);
      switch (c.get('GUEST_ACTIVITY_STATE')) {
        case 1: return t === 0 || t === 2 || t === 7 || (t === 3 && (v === 1 || v === 18));
        case 2: return t === 2 || (t === 3 && v === 18);
        default: return false;
      }
    },
    explain: (c) => {
      const allowed: Readonly<Record<number, string>> = {
        1: 'HLT allows only external interrupts, NMIs, #DB, #MC and pending MTF',
        2: 'shutdown allows only NMIs and #MC',
        3: 'wait-for-SIPI allows no injected event',
      };
      return `the event being injected (type ${injType(c)}, vector ${injVector(c)}) is not allowed in activity state ${c.get('GUEST_ACTIVITY_STATE')}: ${allowed[c.get('GUEST_ACTIVITY_STATE')] ?? ''}, ${describe(c, INTR_INFO)}`;
    },
    field: () => 'GUEST_ACTIVITY_STATE',
  },
  {
    id: 'guest-interruptibility-reserved', list: 'guest-state', fields: ['GUEST_INTERRUPTIBILITY_INFO'],
    ok: (c) => (c.get('GUEST_INTERRUPTIBILITY_INFO') & 0xfffffff0) === 0,
    explain: () => 'guest interruptibility-state bits 31:5 are reserved and bit 4 (enclave interruption) needs SGX: all must be 0',
  },
  {
    id: 'guest-interruptibility-sti-mov-ss', list: 'guest-state', fields: ['GUEST_INTERRUPTIBILITY_INFO'],
    ok: (c) => (c.get('GUEST_INTERRUPTIBILITY_INFO') & 3) !== 3,
    explain: () => 'guest blocking by STI (bit 0) and blocking by MOV SS (bit 1) must not both be set',
  },
  {
    id: 'guest-interruptibility-sti-if', list: 'guest-state', fields: ['GUEST_INTERRUPTIBILITY_INFO', 'GUEST_RFLAGS'], applies: (c) => bit(c.get('GUEST_INTERRUPTIBILITY_INFO'), 0),
    ok: (c) => bit(c.get('GUEST_RFLAGS'), 9),
    explain: (c) => `guest blocking by STI is set but RFLAGS.IF is clear, ${describe(c, 'GUEST_RFLAGS')}`,
  },
  {
    id: 'guest-interruptibility-smi', list: 'guest-state', fields: ['GUEST_INTERRUPTIBILITY_INFO'],
    ok: (c) => !bit(c.get('GUEST_INTERRUPTIBILITY_INFO'), 2),
    explain: () => 'guest blocking by SMI (bit 2) must be 0 outside SMM',
  },
  {
    id: 'guest-interruptibility-interrupt-injection', list: 'guest-state', fields: ['GUEST_INTERRUPTIBILITY_INFO', INTR_INFO], applies: (c) => injecting(c) && injType(c) === 0,
    ok: (c) => (c.get('GUEST_INTERRUPTIBILITY_INFO') & 3) === 0,
    explain: () => 'an external interrupt is being injected while blocking by STI or MOV SS is set',
  },
  {
    id: 'guest-interruptibility-nmi-injection', list: 'guest-state', fields: ['GUEST_INTERRUPTIBILITY_INFO', INTR_INFO], applies: (c) => injecting(c) && injType(c) === 2,
    ok: (c) => !bit(c.get('GUEST_INTERRUPTIBILITY_INFO'), 1),
    explain: () => 'an NMI is being injected while blocking by MOV SS is set',
  },
  {
    id: 'guest-virtual-nmi-blocking', list: 'guest-state', fields: ['GUEST_INTERRUPTIBILITY_INFO', INTR_INFO, 'PIN_BASED_VM_EXEC_CONTROL'],
    applies: (c) => injecting(c) && injType(c) === 2 && c.control('pin', 'VIRTUAL_NMIS'),
    ok: (c) => !bit(c.get('GUEST_INTERRUPTIBILITY_INFO'), 3),
    explain: () => 'with "virtual NMIs" set, an NMI is being injected while blocking by NMI (bit 3) is set',
    qualification: ENTRY_FAIL_NMI,
  },
  {
    id: 'guest-pending-debug-reserved', list: 'guest-state', fields: ['GUEST_PENDING_DBG_EXCEPTIONS'],
    ok: (c) => (c.get('GUEST_PENDING_DBG_EXCEPTIONS') & 0xfffeaff0) === 0,
    explain: () => 'guest pending debug exceptions bits 11:4, 13, 15 and 31:17 are reserved and must be 0',
  },
  {
    id: 'guest-vmcs-link-pointer', list: 'guest-state', fields: ['VMCS_LINK_POINTER'],
    ok: (c) => c.getBig('VMCS_LINK_POINTER') === 0xffffffffffffffffn,
    explain: () => 'the VMCS link pointer must be FFFFFFFF_FFFFFFFFH: this processor has no VMCS shadowing and no other VMCS it could name',
    qualification: ENTRY_FAIL_VMCS_LINK_PTR,
  },
];

/** Every check, in the order the processor makes them. */
export const ENTRY_CHECKS: readonly EntryCheck[] = [...CONTROL_CHECKS, ...HOST_CHECKS, ...GUEST_CHECKS];

function contextOf(vmcs: Vmcs): CheckContext {
  const get = (name: VmcsFieldName): number => vmcs.get(name);
  const control = (set: ControlSetId, name: string): boolean => {
    if (set === 'secondary' && (get('CPU_BASED_VM_EXEC_CONTROL') & controlMask('primary', 'SEC_CONTROLS')) === 0) return false;
    if (set === 'tertiary' && (get('CPU_BASED_VM_EXEC_CONTROL') & controlMask('primary', 'TERTIARY_CONTROLS')) === 0) return false;
    return (get(CONTROL_FIELD[set]) & controlMask(set, name)) !== 0;
  };
  return { get, getBig: (name) => vmcs.getBig(name), control, unrestricted: control('secondary', 'UNRESTRICTED_GUEST') };
}

function failure(check: EntryCheck, c: CheckContext): EntryCheckFailure {
  const field = check.field?.(c) ?? check.fields[0];
  const list = ENTRY_CHECK_LISTS[check.list];
  const explanation = `${check.explain(c)}: ${describe(c, field)}`;
  const base = { check: check.id, list: check.list, field, value: c.get(field), explanation };
  if (list.instructionError !== undefined) {
    return { ...base, instructionError: list.instructionError, message: `VM entry failed (VMfailValid, VM-instruction error ${vmInstructionErrorText(list.instructionError)}; ${list.section} ${list.title}): ${explanation}` };
  }
  const exitReason = ((list.exitReason ?? 0) | 0x80000000) >>> 0;
  const qualification = check.qualification ?? ENTRY_FAIL_DEFAULT;
  return { ...base, exitReason, qualification, message: `VM entry failed (exit reason ${hex(exitReason)}, qualification ${qualification}; ${list.section} ${list.title}): ${explanation}` };
}

/** Every failing check, in SDM order (the debugger may list them all; the processor reports the first). */
export function entryCheckFailures(vmcs: Vmcs): EntryCheckFailure[] {
  const c = contextOf(vmcs);
  return ENTRY_CHECKS.filter((k) => (k.applies === undefined || k.applies(c)) && !k.ok(c)).map((k) => failure(k, c));
}

/**
 * What the last VM entry of a VMCS found: per check, pass (1) or fail (0),
 * and per field slot the checks that read it. Checks are pure functions of
 * the VMCS, so after an exit only the checks reading a changed field (RIP,
 * RSP, RFLAGS…) need to run again; the result is the same as running all.
 */
interface EntryMemo {
  pass: Uint8Array;
  readers: Set<number>[];
}

const memos = new WeakMap<Vmcs, EntryMemo>();

function evaluate(vmcs: Vmcs, memo: EntryMemo, k: number): void {
  const read: number[] = [];
  const get = (name: VmcsFieldName): number => { read.push(vmcsSlot(name)); return vmcs.get(name); };
  const getBig = (name: VmcsFieldName): bigint => { read.push(vmcsSlot(name)); return vmcs.getBig(name); };
  const control = (set: ControlSetId, name: string): boolean => {
    if (set === 'secondary' && (get('CPU_BASED_VM_EXEC_CONTROL') & controlMask('primary', 'SEC_CONTROLS')) === 0) return false;
    if (set === 'tertiary' && (get('CPU_BASED_VM_EXEC_CONTROL') & controlMask('primary', 'TERTIARY_CONTROLS')) === 0) return false;
    return (get(CONTROL_FIELD[set]) & controlMask(set, name)) !== 0;
  };
  const c: CheckContext = { get, getBig, control, get unrestricted() { return control('secondary', 'UNRESTRICTED_GUEST'); } };
  const check = ENTRY_CHECKS[k];
  memo.pass[k] = (check.applies === undefined || check.applies(c)) && !check.ok(c) ? 0 : 1;
  for (const slot of read) (memo.readers[slot] ??= new Set()).add(k);
}

/** The failure a VM entry with this VMCS reports, or null when every check passes. */
export function checkVmEntry(vmcs: Vmcs): EntryCheckFailure | null {
  const changes = vmcs.takeChanges();
  let memo = memos.get(vmcs);
  if (memo === undefined || changes === 'all') {
    memo = { pass: new Uint8Array(ENTRY_CHECKS.length), readers: [] };
    memos.set(vmcs, memo);
    for (let k = 0; k < ENTRY_CHECKS.length; k++) evaluate(vmcs, memo, k);
  } else if (changes.length > 0) {
    const again = new Set<number>();
    for (const slot of changes) for (const k of memo.readers[slot] ?? []) again.add(k);
    for (const k of again) evaluate(vmcs, memo, k);
  }
  const first = memo.pass.indexOf(0);
  return first < 0 ? null : failure(ENTRY_CHECKS[first], contextOf(vmcs));
}
