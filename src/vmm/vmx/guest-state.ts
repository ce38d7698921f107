// Guest non-register state (vmx-facts §7): the interruptibility-state and
// activity-state fields, decoded for display.

export const INTERRUPTIBILITY_BITS: readonly { bit: number; name: string; description: string }[] = [
  { bit: 0, name: 'STI', description: 'blocking by STI' },
  { bit: 1, name: 'MOV_SS', description: 'blocking by MOV SS' },
  { bit: 2, name: 'SMI', description: 'blocking by SMI' },
  { bit: 3, name: 'NMI', description: 'blocking by NMI' },
  { bit: 4, name: 'ENCLAVE', description: 'enclave interruption' },
];

/** GUEST_INTERRUPTIBILITY_INFO → names of the set bits and a summary ("blocking by STI", "not blocked"). */
export function decodeInterruptibility(value: number): { blocking: string[]; reservedBits: number; summary: string } {
  const set = INTERRUPTIBILITY_BITS.filter((b) => ((value >>> b.bit) & 1) === 1);
  const reservedBits = (value & ~0x1f) >>> 0;
  return { blocking: set.map((b) => b.name), reservedBits, summary: set.length ? set.map((b) => b.description).join(', ') : 'not blocked' };
}

/** GUEST_ACTIVITY_STATE values. */
export const ACTIVITY_STATES: readonly string[] = ['active', 'HLT', 'shutdown', 'wait-for-SIPI'];

export function activityStateName(value: number): string {
  return ACTIVITY_STATES[value] ?? `reserved (${value})`;
}
