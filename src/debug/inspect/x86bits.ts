// Bit layouts of the x86 registers the views decode (SDM Vol. 3A 2.3, 2.5, 3.4.5, 17.2).
import type { BitField } from './bits';
import { CR0_BITS, CR4_BITS, DR6_BITS, EFLAGS_BITS } from '../../x86/cpu/register-bits';

export const EFLAGS_FIELDS: readonly BitField[] = EFLAGS_BITS;

export const CR0_FIELDS: readonly BitField[] = CR0_BITS;

export const CR3_FIELDS: readonly BitField[] = [
  { name: 'PWT', lsb: 3, description: 'page-level write-through' },
  { name: 'PCD', lsb: 4, description: 'page-level cache disable' },
  { name: 'page directory', lsb: 12, width: 20, inPlace: true, description: 'physical address of the page directory' },
];

export const CR4_FIELDS: readonly BitField[] = CR4_BITS;

export const DR6_FIELDS: readonly BitField[] = DR6_BITS;

const RW_NAMES = { 0: 'execute', 1: 'write', 2: 'I/O', 3: 'read/write' };
const LEN_NAMES = { 0: '1 byte', 1: '2 bytes', 2: '8 bytes', 3: '4 bytes' };

export const DR7_FIELDS: readonly BitField[] = [
  ...[0, 1, 2, 3].flatMap((n): BitField[] => [
    { name: `L${n}`, lsb: n * 2, description: `local enable of breakpoint ${n}` },
    { name: `G${n}`, lsb: n * 2 + 1, description: `global enable of breakpoint ${n}` },
  ]),
  { name: 'LE', lsb: 8, description: 'local exact breakpoint' },
  { name: 'GE', lsb: 9, description: 'global exact breakpoint' },
  { name: 'GD', lsb: 13, description: 'general detect' },
  ...[0, 1, 2, 3].flatMap((n): BitField[] => [
    { name: `R/W${n}`, lsb: 16 + n * 4, width: 2, values: RW_NAMES, description: `condition of breakpoint ${n}` },
    { name: `LEN${n}`, lsb: 18 + n * 4, width: 2, values: LEN_NAMES, description: `length of breakpoint ${n}` },
  ]),
];

const DATA_CODE_TYPES: readonly string[] = [
  'data read-only', 'data read-only, accessed', 'data read/write', 'data read/write, accessed',
  'data read-only, expand-down', 'data read-only, expand-down, accessed', 'data read/write, expand-down', 'data read/write, expand-down, accessed',
  'code execute-only', 'code execute-only, accessed', 'code execute/read', 'code execute/read, accessed',
  'code execute-only, conforming', 'code execute-only, conforming, accessed', 'code execute/read, conforming', 'code execute/read, conforming, accessed',
];

const SYSTEM_TYPES: Readonly<Record<number, string>> = {
  1: '16-bit TSS (available)', 2: 'LDT', 3: '16-bit TSS (busy)', 4: '16-bit call gate', 5: 'task gate',
  6: '16-bit interrupt gate', 7: '16-bit trap gate', 9: '32-bit TSS (available)', 11: '32-bit TSS (busy)',
  12: '32-bit call gate', 14: '32-bit interrupt gate', 15: '32-bit trap gate',
};

/** The VMX access-rights layout the CPU model keeps its hidden segment attributes in (SDM 25.4.1). */
export const ACCESS_RIGHTS_FIELDS: readonly BitField[] = [
  { name: 'type', lsb: 0, width: 4, describe: (t, whole) => ((whole & 0x10) !== 0 ? DATA_CODE_TYPES[t] : SYSTEM_TYPES[t] ?? 'reserved system type') },
  { name: 'S', lsb: 4, description: 'code or data (1) / system (0)' },
  { name: 'DPL', lsb: 5, width: 2, description: 'descriptor privilege level' },
  { name: 'P', lsb: 7, description: 'present' },
  { name: 'AVL', lsb: 12, description: 'available to software' },
  { name: 'L', lsb: 13, description: '64-bit code (always 0 on this IA-32 processor)' },
  { name: 'D/B', lsb: 14, description: 'default operation size 32-bit / big' },
  { name: 'G', lsb: 15, description: 'granularity (limit in 4 KiB units)' },
  { name: 'unusable', lsb: 16, description: 'segment unusable (null selector loaded)' },
];

/** 32-bit paging entries (SDM 4.3). */
export function guestEntryFields(level: 2 | 1, large: boolean): BitField[] {
  const f: BitField[] = [
    { name: 'P', lsb: 0, description: 'present' },
    { name: 'R/W', lsb: 1, description: 'writable' },
    { name: 'U/S', lsb: 2, description: 'user accessible' },
    { name: 'PWT', lsb: 3, description: 'write-through' },
    { name: 'PCD', lsb: 4, description: 'cache disable' },
    { name: 'A', lsb: 5, description: 'accessed' },
  ];
  if (level === 1 || large) f.push({ name: 'D', lsb: 6, description: 'dirty' });
  if (level === 2) f.push({ name: 'PS', lsb: 7, description: 'page size (4 MiB page with CR4.PSE)' });
  else f.push({ name: 'PAT', lsb: 7, description: 'page attribute table index' });
  if (level === 1 || large) f.push({ name: 'G', lsb: 8, description: 'global' });
  f.push(large
    ? { name: 'frame', lsb: 22, width: 10, inPlace: true, description: '4 MiB page frame' }
    : { name: level === 2 ? 'table address' : 'frame', lsb: 12, width: 20, inPlace: true, description: level === 2 ? 'page-table address' : '4 KiB page frame' });
  return f;
}

export const MSR_NAMES: Readonly<Record<number, string>> = {
  0x10: 'IA32_TIME_STAMP_COUNTER', 0x1b: 'IA32_APIC_BASE', 0x3a: 'IA32_FEATURE_CONTROL', 0x8b: 'IA32_BIOS_SIGN_ID',
  0x174: 'IA32_SYSENTER_CS', 0x175: 'IA32_SYSENTER_ESP', 0x176: 'IA32_SYSENTER_EIP', 0x1a0: 'IA32_MISC_ENABLE',
  0x1d9: 'IA32_DEBUGCTL', 0x277: 'IA32_PAT', 0xc0000080: 'IA32_EFER', 0xc0000103: 'IA32_TSC_AUX',
};
