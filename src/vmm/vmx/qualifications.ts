// Exit-qualification layouts (vmx-facts §5) and the interruption-information
// format (§6). Each decoder returns named fields plus a one-line summary that
// the debugger shows next to the exit; each encoder is its exact inverse for
// the defined bits, which is what the engine uses to fill EXIT_QUALIFICATION.

import { ENTRY_FAILURE_QUALIFICATIONS as ENTRY_FAILURES } from './instruction-errors';

export { VM_INSTRUCTION_ERRORS, vmInstructionError, vmInstructionErrorText, ENTRY_FAILURE_QUALIFICATIONS } from './instruction-errors';

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16).toUpperCase();
}

function bit(v: number, b: number): boolean {
  return ((v >>> b) & 1) === 1;
}

/** General-purpose register numbers of qualification bits 11:8, as named on this IA-32 machine. */
export const GPR_NAMES: readonly string[] = ['EAX', 'ECX', 'EDX', 'EBX', 'ESP', 'EBP', 'ESI', 'EDI', 'R8', 'R9', 'R10', 'R11', 'R12', 'R13', 'R14', 'R15'];

// ---------------------------------------------------------------- exit 28

export type CrAccessType = 'mov-to-cr' | 'mov-from-cr' | 'clts' | 'lmsw';
const CR_ACCESS_TYPES: readonly CrAccessType[] = ['mov-to-cr', 'mov-from-cr', 'clts', 'lmsw'];

export interface CrAccess {
  /** Bits 3:0: control register (0 for CLTS and LMSW, 8 for CR8). */
  cr: number;
  /** Bits 5:4. */
  accessType: CrAccessType;
  /** Bit 6: LMSW operand in memory (GUEST_LINEAR_ADDRESS holds its address). */
  lmswMemory: boolean;
  /** Bits 11:8: the general-purpose register of MOV CR. */
  gpr: number;
  /** Bits 31:16: the LMSW source data. */
  lmswSource: number;
}

export function encodeCrAccess(q: CrAccess): number {
  return ((q.cr & 0xf) | (CR_ACCESS_TYPES.indexOf(q.accessType) << 4) | (q.lmswMemory ? 0x40 : 0) | ((q.gpr & 0xf) << 8) | ((q.lmswSource & 0xffff) << 16)) >>> 0;
}

export function decodeCrAccess(value: number): CrAccess & { summary: string } {
  const q: CrAccess = {
    cr: value & 0xf,
    accessType: CR_ACCESS_TYPES[(value >>> 4) & 3],
    lmswMemory: bit(value, 6),
    gpr: (value >>> 8) & 0xf,
    lmswSource: (value >>> 16) & 0xffff,
  };
  return { ...q, summary: crAccessSummary(q) };
}

function crAccessSummary(q: CrAccess): string {
  const reg = GPR_NAMES[q.gpr];
  switch (q.accessType) {
    case 'mov-to-cr':
      return `MOV CR${q.cr}, ${reg}`;
    case 'mov-from-cr':
      return `MOV ${reg}, CR${q.cr}`;
    case 'clts':
      return 'CLTS';
    case 'lmsw':
      return `LMSW ${q.lmswMemory ? 'memory' : 'register'} operand, source ${hex(q.lmswSource)}`;
  }
}

// ---------------------------------------------------------------- exit 29

export interface DrAccess {
  /** Bits 2:0. */
  dr: number;
  /** Bit 4: 0 = MOV to DR, 1 = MOV from DR. */
  direction: 'mov-to-dr' | 'mov-from-dr';
  /** Bits 11:8. */
  gpr: number;
}

export function encodeDrAccess(q: DrAccess): number {
  return ((q.dr & 7) | (q.direction === 'mov-from-dr' ? 0x10 : 0) | ((q.gpr & 0xf) << 8)) >>> 0;
}

export function decodeDrAccess(value: number): DrAccess & { summary: string } {
  const q: DrAccess = { dr: value & 7, direction: bit(value, 4) ? 'mov-from-dr' : 'mov-to-dr', gpr: (value >>> 8) & 0xf };
  const reg = GPR_NAMES[q.gpr];
  return { ...q, summary: q.direction === 'mov-to-dr' ? `MOV DR${q.dr}, ${reg}` : `MOV ${reg}, DR${q.dr}` };
}

// ---------------------------------------------------------------- exit 30

export interface IoAccess {
  /** Bytes accessed: 1, 2 or 4 (bits 2:0 hold size - 1). */
  size: number;
  /** Bit 3. */
  direction: 'in' | 'out';
  /** Bit 4: INS/OUTS. */
  string: boolean;
  /** Bit 5. */
  rep: boolean;
  /** Bit 6: port was an immediate operand rather than DX. */
  immediate: boolean;
  /** Bits 31:16. */
  port: number;
}

export function encodeIoQualification(q: IoAccess): number {
  return (((q.size - 1) & 7) | (q.direction === 'in' ? 0x8 : 0) | (q.string ? 0x10 : 0) | (q.rep ? 0x20 : 0) | (q.immediate ? 0x40 : 0) | ((q.port & 0xffff) << 16)) >>> 0;
}

export function decodeIoQualification(value: number): IoAccess & { instruction: string; summary: string } {
  const q: IoAccess = {
    size: (value & 7) + 1,
    direction: bit(value, 3) ? 'in' : 'out',
    string: bit(value, 4),
    rep: bit(value, 5),
    immediate: bit(value, 6),
    port: (value >>> 16) & 0xffff,
  };
  const instruction = ioInstruction(q);
  return { ...q, instruction, summary: `${instruction} → port ${hex(q.port)}, ${q.size} byte${q.size === 1 ? '' : 's'}` };
}

const ACC: Readonly<Record<number, string>> = { 1: 'AL', 2: 'AX', 4: 'EAX' };
const SUFFIX: Readonly<Record<number, string>> = { 1: 'B', 2: 'W', 4: 'D' };

function ioInstruction(q: IoAccess): string {
  if (q.string) return `${q.rep ? 'REP ' : ''}${q.direction === 'in' ? 'INS' : 'OUTS'}${SUFFIX[q.size] ?? `(${q.size} bytes)`}`;
  const reg = ACC[q.size] ?? `(${q.size} bytes)`;
  const port = q.immediate ? hex(q.port) : 'DX';
  return q.direction === 'in' ? `IN ${reg}, ${port}` : `OUT ${port}, ${reg}`;
}

// ---------------------------------------------------------------- exit 48

export interface EptViolation {
  read: boolean; // bit 0
  write: boolean; // bit 1
  fetch: boolean; // bit 2
  readable: boolean; // bit 3
  writable: boolean; // bit 4
  executable: boolean; // bit 5
  userExecutable: boolean; // bit 6 (mode-based execute control only)
  linearAddressValid: boolean; // bit 7
  /** Bit 8, meaningful when bit 7 is set: access to the final translation (not a guest paging-structure entry). */
  finalTranslation: boolean;
  userLinear: boolean; // bit 9 (advanced information)
  linearWritable: boolean; // bit 10
  linearExecuteDisable: boolean; // bit 11
  nmiUnblocking: boolean; // bit 12
  shadowStack: boolean; // bit 13
  supervisorShadowStack: boolean; // bit 14
}

const EPT_BITS: readonly (keyof EptViolation)[] = [
  'read', 'write', 'fetch', 'readable', 'writable', 'executable', 'userExecutable', 'linearAddressValid',
  'finalTranslation', 'userLinear', 'linearWritable', 'linearExecuteDisable', 'nmiUnblocking', 'shadowStack', 'supervisorShadowStack',
];

export function encodeEptViolation(q: Partial<EptViolation>): number {
  let v = 0;
  EPT_BITS.forEach((k, i) => {
    if (q[k]) v |= 1 << i;
  });
  return v >>> 0;
}

/**
 * Decodes an EPT-violation qualification. GUEST_PHYSICAL_ADDRESS and, when
 * bit 7 says it is valid, GUEST_LINEAR_ADDRESS complete the summary.
 */
export function decodeEptViolation(value: number, gpa?: number, gla?: number): EptViolation & { access: string; allowed: string; summary: string } {
  const q = Object.fromEntries(EPT_BITS.map((k, i) => [k, bit(value, i)])) as unknown as EptViolation;
  const kinds = [q.read && 'data read', q.write && 'data write', q.fetch && 'instruction fetch'].filter((s): s is string => typeof s === 'string');
  const access = kinds.length ? kinds.join(' + ') : 'no access bits';
  const allowed = (q.readable ? 'r' : '-') + (q.writable ? 'w' : '-') + (q.executable ? 'x' : '-');
  let s = access;
  if (gpa !== undefined) s += ` at GPA ${hex(gpa)}`;
  s += allowed === '---' ? ': GPA not mapped by EPT' : `: EPT allows ${allowed}`;
  if (q.linearAddressValid) {
    const where = q.finalTranslation ? 'final translation' : 'guest page-table walk';
    s += gla !== undefined ? ` (GVA ${hex(gla)}, ${where})` : ` (${where})`;
  }
  return { ...q, access, allowed, summary: s };
}

// ---------------------------------------------------------------- interruption information (§6)

export const INTERRUPTION_TYPES: readonly string[] = [
  'external interrupt', 'reserved', 'NMI', 'hardware exception', 'software interrupt', 'privileged software exception', 'software exception', 'other event',
];

export const EXCEPTION_MNEMONICS: Readonly<Record<number, string>> = {
  0: '#DE', 1: '#DB', 2: 'NMI', 3: '#BP', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 8: '#DF', 10: '#TS', 11: '#NP', 12: '#SS', 13: '#GP', 14: '#PF',
  16: '#MF', 17: '#AC', 18: '#MC', 19: '#XM', 20: '#VE', 21: '#CP',
};

export interface InterruptionInfo {
  vector: number; // bits 7:0
  type: number; // bits 10:8
  errorCodeValid: boolean; // bit 11
  nmiUnblocking: boolean; // bit 12
  valid: boolean; // bit 31
}

export function encodeInterruptionInfo(q: Omit<InterruptionInfo, 'valid' | 'nmiUnblocking'> & { valid?: boolean; nmiUnblocking?: boolean }): number {
  return ((q.vector & 0xff) | ((q.type & 7) << 8) | (q.errorCodeValid ? 0x800 : 0) | (q.nmiUnblocking ? 0x1000 : 0) | (q.valid === false ? 0 : 0x80000000)) >>> 0;
}

export function decodeInterruptionInfo(value: number): InterruptionInfo & { typeName: string; summary: string } {
  const q: InterruptionInfo = {
    vector: value & 0xff,
    type: (value >>> 8) & 7,
    errorCodeValid: bit(value, 11),
    nmiUnblocking: bit(value, 12),
    valid: bit(value, 31),
  };
  const typeName = INTERRUPTION_TYPES[q.type];
  if (!q.valid) return { ...q, typeName, summary: 'no event (valid bit clear)' };
  const isException = q.type === 3 || q.type === 5 || q.type === 6;
  const name = isException && EXCEPTION_MNEMONICS[q.vector] ? ` (${EXCEPTION_MNEMONICS[q.vector]})` : '';
  const parts = [`${typeName}, vector ${q.vector}${name}`];
  if (q.errorCodeValid) parts.push('error code valid');
  if (q.nmiUnblocking) parts.push('NMI unblocking due to IRET');
  return { ...q, typeName, summary: parts.join(', ') };
}

// ---------------------------------------------------------------- by exit reason

/**
 * The one-line summary of an exit qualification for the exits whose
 * qualification has a layout modelled here; undefined for the others.
 * `gpa`/`gla` are GUEST_PHYSICAL_ADDRESS and GUEST_LINEAR_ADDRESS when known.
 */
export function summarizeExitQualification(basicReason: number, qualification: number, extra: { gpa?: number; gla?: number } = {}): string | undefined {
  switch (basicReason) {
    case 14:
      return `INVLPG of linear address ${hex(qualification)}`;
    case 28:
      return decodeCrAccess(qualification).summary;
    case 29:
      return decodeDrAccess(qualification).summary;
    case 30:
      return decodeIoQualification(qualification).summary;
    case 33:
    case 34: {
      const f = ENTRY_FAILURES.find((e) => e.value === qualification);
      return basicReason === 34 ? `VM-entry failure: loading MSR-load area entry ${qualification} (counting from 1) failed` : `VM-entry failure: ${f ? f.message : `qualification ${qualification}`}`;
    }
    case 44:
      return decodeApicAccess(qualification).summary;
    case 48:
      return decodeEptViolation(qualification, extra.gpa, extra.gla).summary;
    case 49:
      return extra.gpa === undefined ? 'EPT misconfiguration' : `EPT misconfiguration at GPA ${hex(extra.gpa)}`;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------- exit 44

/** APIC-access types of qualification bits 15:12 (other values are not defined). */
export const APIC_ACCESS_TYPES: Readonly<Record<number, string>> = {
  0: 'linear read',
  1: 'linear write',
  2: 'linear instruction fetch',
  3: 'linear access during event delivery',
  10: 'guest-physical access during event delivery',
  15: 'guest-physical access for an instruction fetch or execution',
};

export interface ApicAccess {
  /** Bits 11:0: offset in the APIC-access page. */
  offset: number;
  /** Bits 15:12. */
  accessType: number;
}

export function encodeApicAccess(q: ApicAccess): number {
  return ((q.offset & 0xfff) | ((q.accessType & 0xf) << 12)) >>> 0;
}

export function decodeApicAccess(value: number): ApicAccess & { summary: string } {
  const q: ApicAccess = { offset: value & 0xfff, accessType: (value >>> 12) & 0xf };
  const kind = APIC_ACCESS_TYPES[q.accessType] ?? `access type ${q.accessType}`;
  return { ...q, summary: `${kind} at APIC offset 0x${q.offset.toString(16).toUpperCase().padStart(3, '0')}` };
}
