// A fingerprint of an exit trace for determinism checks and grading: 64-bit
// FNV-1a taken over 32-bit words (each word is XORed into the low half, then
// the state is multiplied by the FNV prime), over a canonical encoding of each
// exit, kept incrementally so a VM can carry it over millions of exits. The
// 64-bit product is done in int32 arithmetic (no BigInt, no doubles on the
// per-exit path).

import type { VmExit } from '../vtx/exit-info';

/** FNV-1a 64 offset basis 0xCBF29CE484222325, split in halves. */
const BASIS_HI = 0xcbf29ce4;
const BASIS_LO = 0x84222325;
/** The FNV 64-bit prime is 2^40 + 0x1B3. */
const PRIME_LOW = 0x1b3;
/** 32-bit words hashed per exit (see exitWords). */
const WORDS = 12;

/**
 * The fields of an exit that go into the hash, in this order, each as one
 * unsigned 32-bit word: vCPU, reason, RIP, qualification, instruction length,
 * instruction information, interruption information and error code,
 * IDT-vectoring information and error code, guest-linear and guest-physical
 * address (0 when absent). The sequence number is implied by the order, and
 * the text fields (`summary`, `why`) are derived from these.
 */
export function exitWords(e: VmExit): number[] {
  return [
    e.vcpu, e.reason, e.rip, e.qualification, e.instructionLength, e.instructionInfo,
    e.interruptionInfo, e.interruptionErrorCode, e.idtVectoringInfo, e.idtVectoringErrorCode,
    e.guestLinearAddress ?? 0, e.guestPhysicalAddress ?? 0,
  ];
}

export interface TraceHashState {
  hi: number;
  lo: number;
  exits: number;
}

export class TraceHash {
  /** The state's halves as int32 (the same bits; `digest` and `snapshot` show them unsigned). */
  private hi = BASIS_HI | 0;
  private lo = BASIS_LO | 0;
  /** Exits hashed so far. */
  exits = 0;
  /** Int32: XOR needs only the bits, and int32 elements stay small integers in the engine. */
  private readonly words = new Int32Array(WORDS);

  add(e: VmExit): void {
    const w = this.words;
    w[0] = e.vcpu; w[1] = e.reason; w[2] = e.rip; w[3] = e.qualification;
    w[4] = e.instructionLength; w[5] = e.instructionInfo;
    w[6] = e.interruptionInfo; w[7] = e.interruptionErrorCode;
    w[8] = e.idtVectoringInfo; w[9] = e.idtVectoringErrorCode;
    w[10] = e.guestLinearAddress ?? 0; w[11] = e.guestPhysicalAddress ?? 0;
    let lo = this.lo, hi = this.hi;
    for (let k = 0; k < WORDS; k++) {
      lo ^= w[k];
      // h · (2^40 + 0x1B3) mod 2^64 in int32 arithmetic. The low word is Math.imul's; the carry out of it
      // comes from lo · 0x1B3 in two 16-bit halves (each product below 2^25); the 2^40 part shifts lo into
      // hi by 8 bits. The next low word depends on the imul alone, so the two halves proceed in parallel.
      const t0 = (lo & 0xffff) * PRIME_LOW;
      const carry = ((lo >>> 16) * PRIME_LOW + (t0 >>> 16)) >>> 16;
      hi = (Math.imul(hi, PRIME_LOW) + carry + (lo << 8)) | 0;
      lo = Math.imul(lo, PRIME_LOW);
    }
    this.lo = lo;
    this.hi = hi;
    this.exits++;
  }

  /** 16 hex digits. */
  digest(): string {
    return (this.hi >>> 0).toString(16).padStart(8, '0') + (this.lo >>> 0).toString(16).padStart(8, '0');
  }

  snapshot(): TraceHashState {
    return { hi: this.hi >>> 0, lo: this.lo >>> 0, exits: this.exits };
  }

  restore(s: TraceHashState): void {
    this.hi = s.hi | 0; this.lo = s.lo | 0; this.exits = s.exits;
  }
}

/** The hash of a whole trace, as `vm.traceHash()` reports it for the same exits. */
export function traceHash(exits: Iterable<VmExit>): string {
  const h = new TraceHash();
  for (const e of exits) h.add(e);
  return h.digest();
}

/** One line per exit, for diffing two traces by eye (not what is hashed). */
export function traceText(exits: Iterable<VmExit>): string {
  const hx = (n: number): string => `0x${(n >>> 0).toString(16)}`;
  const lines: string[] = [];
  for (const e of exits) lines.push(`${e.sequence} vcpu${e.vcpu} ${e.reason} ${e.name} rip=${hx(e.rip)} q=${hx(e.qualification)} len=${e.instructionLength}`);
  return lines.join('\n');
}
