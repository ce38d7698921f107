// Exceptions travel as thrown CpuFault objects from the point of detection
// (a memory access, a descriptor check) to the run loop, which rewinds EIP
// to the faulting instruction and delivers them. Faults are rare, so the
// cost of throwing is paid only when one happens.

export const EXC = {
  DE: 0, DB: 1, NMI: 2, BP: 3, OF: 4, BR: 5, UD: 6, NM: 7, DF: 8,
  TS: 10, NP: 11, SS: 12, GP: 13, PF: 14, MF: 16, AC: 17, MC: 18,
} as const;

export const EXC_NAMES: Record<number, string> = {
  0: '#DE', 1: '#DB', 2: 'NMI', 3: '#BP', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 8: '#DF',
  10: '#TS', 11: '#NP', 12: '#SS', 13: '#GP', 14: '#PF', 16: '#MF', 17: '#AC', 18: '#MC',
};

/** Vectors that push an error code. */
export function hasErrorCode(vector: number): boolean {
  return vector === 8 || (vector >= 10 && vector <= 14) || vector === 17;
}

export class CpuFault {
  constructor(
    readonly vector: number,
    /** Error code, or -1 for none. */
    readonly code: number = -1,
    readonly detail = '',
  ) {}

  describe(): string {
    const name = EXC_NAMES[this.vector] ?? `vector ${this.vector}`;
    return this.code >= 0 ? `${name}(0x${this.code.toString(16)})` : name;
  }
}

export function fault(vector: number, code = -1, detail = ''): never {
  throw new CpuFault(vector, code, detail);
}

export const gp = (code = 0): never => fault(EXC.GP, code);
export const ud = (): never => fault(EXC.UD);

/** The event the CPU was delivering when a VM exit interrupted it (for IDT-vectoring information). */
export interface DeliveringEvent {
  vector: number;
  /** Error code, or -1 for none. */
  errorCode: number;
  /**
   * How the event arose: the exception kinds of the `exception` hook
   * ('software' is INT n, 'software-exception' INT3/INTO, 'trap' also INT1),
   * 'external' for an interrupt from `requestInterrupt`, 'nmi' for an NMI.
   */
  kind: 'fault' | 'trap' | 'abort' | 'software' | 'software-exception' | 'external' | 'nmi';
}

/**
 * Thrown by an intercept hook or by the MMU's guest-physical step to end
 * the run with a VM exit. The CPU treats it like a fault of the current
 * instruction (EIP back on it, nothing of it committed) but, instead of
 * delivering anything, returns from run()/step() with reason 'vmexit' and
 * this signal in `StopInfo.vmexit`. Not an Error: exits are frequent and a
 * stack trace would be wasted work.
 */
export class VmExitSignal<T = unknown> {
  /** Set by the CPU when the exit interrupted the delivery of an event; null otherwise. */
  event: DeliveringEvent | null = null;
  constructor(
    /** Whatever the hook wants the VMM to receive (exit reason, qualification...). */
    readonly payload: T,
    readonly message = 'VM exit',
  ) {}
}

/** Records on a VM exit signal the event whose delivery it interrupted (the innermost one wins). */
export function noteDelivery(e: unknown, vector: number, errorCode: number, kind: DeliveringEvent['kind']): void {
  if (e instanceof VmExitSignal && e.event === null) e.event = { vector, errorCode, kind };
}
