// Bit layouts of the architectural registers (SDM Vol. 3A 2.3, 2.5, 17.2): one table that
// the VMM's exit explanations, the debugger's views and the CLI's register dumps all name
// bits from.

export interface RegisterBit {
  name: string;
  lsb: number;
  /** Default 1. */
  width?: number;
  description: string;
}

/** The names of the one-bit fields of `value` that are set, lowest first. */
export function setBitNames(table: readonly RegisterBit[], value: number): string[] {
  return table.filter((f) => (f.width ?? 1) === 1 && ((value >>> f.lsb) & 1) === 1).map((f) => f.name);
}

/** The name of bit `bit` in `table`, if it has one. */
export function bitName(table: readonly RegisterBit[], bit: number): string | undefined {
  return table.find((f) => f.lsb === bit && (f.width ?? 1) === 1)?.name;
}

export const EFLAGS_BITS: readonly RegisterBit[] = [
  { name: 'CF', lsb: 0, description: 'carry' },
  { name: 'PF', lsb: 2, description: 'parity' },
  { name: 'AF', lsb: 4, description: 'auxiliary carry' },
  { name: 'ZF', lsb: 6, description: 'zero' },
  { name: 'SF', lsb: 7, description: 'sign' },
  { name: 'TF', lsb: 8, description: 'trap (single step)' },
  { name: 'IF', lsb: 9, description: 'interrupt enable' },
  { name: 'DF', lsb: 10, description: 'direction' },
  { name: 'OF', lsb: 11, description: 'overflow' },
  { name: 'IOPL', lsb: 12, width: 2, description: 'I/O privilege level' },
  { name: 'NT', lsb: 14, description: 'nested task' },
  { name: 'RF', lsb: 16, description: 'resume' },
  { name: 'VM', lsb: 17, description: 'virtual-8086 mode' },
  { name: 'AC', lsb: 18, description: 'alignment check' },
  { name: 'VIF', lsb: 19, description: 'virtual interrupt flag' },
  { name: 'VIP', lsb: 20, description: 'virtual interrupt pending' },
  { name: 'ID', lsb: 21, description: 'CPUID available' },
];

export const CR0_BITS: readonly RegisterBit[] = [
  { name: 'PE', lsb: 0, description: 'protection enable' },
  { name: 'MP', lsb: 1, description: 'monitor coprocessor' },
  { name: 'EM', lsb: 2, description: 'x87 emulation' },
  { name: 'TS', lsb: 3, description: 'task switched' },
  { name: 'ET', lsb: 4, description: 'extension type' },
  { name: 'NE', lsb: 5, description: 'numeric error' },
  { name: 'WP', lsb: 16, description: 'write protect' },
  { name: 'AM', lsb: 18, description: 'alignment mask' },
  { name: 'NW', lsb: 29, description: 'not write-through' },
  { name: 'CD', lsb: 30, description: 'cache disable' },
  { name: 'PG', lsb: 31, description: 'paging' },
];

export const CR4_BITS: readonly RegisterBit[] = [
  { name: 'VME', lsb: 0, description: 'virtual-8086 mode extensions' },
  { name: 'PVI', lsb: 1, description: 'protected-mode virtual interrupts' },
  { name: 'TSD', lsb: 2, description: 'time stamp disable' },
  { name: 'DE', lsb: 3, description: 'debugging extensions' },
  { name: 'PSE', lsb: 4, description: 'page size extensions (4 MiB pages)' },
  { name: 'PAE', lsb: 5, description: 'physical address extension' },
  { name: 'MCE', lsb: 6, description: 'machine-check enable' },
  { name: 'PGE', lsb: 7, description: 'page global enable' },
  { name: 'PCE', lsb: 8, description: 'performance-counter enable' },
  { name: 'OSFXSR', lsb: 9, description: 'FXSAVE/FXRSTOR support' },
  { name: 'OSXMMEXCPT', lsb: 10, description: 'unmasked SIMD exceptions' },
  { name: 'UMIP', lsb: 11, description: 'user-mode instruction prevention' },
  { name: 'VMXE', lsb: 13, description: 'VMX enable' },
  { name: 'SMXE', lsb: 14, description: 'SMX enable' },
  { name: 'FSGSBASE', lsb: 16, description: 'RDFSBASE etc.' },
  { name: 'PCIDE', lsb: 17, description: 'process-context identifiers' },
  { name: 'OSXSAVE', lsb: 18, description: 'XSAVE enable' },
  { name: 'SMEP', lsb: 20, description: 'supervisor-mode execution prevention' },
  { name: 'SMAP', lsb: 21, description: 'supervisor-mode access prevention' },
  { name: 'PKE', lsb: 22, description: 'protection keys' },
];

export const DR6_BITS: readonly RegisterBit[] = [
  { name: 'B0', lsb: 0, description: 'breakpoint 0 condition met' },
  { name: 'B1', lsb: 1, description: 'breakpoint 1 condition met' },
  { name: 'B2', lsb: 2, description: 'breakpoint 2 condition met' },
  { name: 'B3', lsb: 3, description: 'breakpoint 3 condition met' },
  { name: 'BD', lsb: 13, description: 'debug-register access detected' },
  { name: 'BS', lsb: 14, description: 'single step' },
  { name: 'BT', lsb: 15, description: 'task switch' },
];
