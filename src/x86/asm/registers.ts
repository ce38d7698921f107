// Register names and their encodings.

export type RegClass = 'gp' | 'sreg' | 'creg' | 'dreg';

export interface Register {
  name: string;
  cls: RegClass;
  /** Operand size in bits (segment/control/debug registers report 16/32 nominally). */
  size: 8 | 16 | 32;
  num: number;
}

const table = new Map<string, Register>();

function add(names: string[], cls: RegClass, size: 8 | 16 | 32): void {
  names.forEach((name, num) => table.set(name, { name, cls, size, num }));
}

add(['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'], 'gp', 8);
add(['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'], 'gp', 16);
add(['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'], 'gp', 32);
add(['es', 'cs', 'ss', 'ds', 'fs', 'gs'], 'sreg', 16);
add(['cr0', 'cr1', 'cr2', 'cr3', 'cr4', 'cr5', 'cr6', 'cr7'], 'creg', 32);
add(['dr0', 'dr1', 'dr2', 'dr3', 'dr4', 'dr5', 'dr6', 'dr7'], 'dreg', 32);

export function lookupRegister(name: string): Register | undefined {
  return table.get(name.toLowerCase());
}
