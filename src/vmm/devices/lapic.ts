// The local APIC in xAPIC mode: the register file at 0xFEE00000, read and
// written by offset (the memory hookup belongs to the VMM), interrupt
// acceptance with IRR/ISR/TMR, the processor-priority rules, EOI, the LVT
// and the timer. Time is APIC bus clocks passed to `advance()`.
//
// One processor: fixed IPIs addressed to this APIC (by shorthand, physical
// ID, broadcast or logical match) are accepted here; every IPI that also
// targets others, and every non-fixed one, is handed to `onIpi` for the VMM.

/** Register offsets (SDM Vol. 3A, Table 11-1). */
export const APIC = {
  ID: 0x020,
  VERSION: 0x030,
  TPR: 0x080,
  APR: 0x090,
  PPR: 0x0a0,
  EOI: 0x0b0,
  RRD: 0x0c0,
  LDR: 0x0d0,
  DFR: 0x0e0,
  SVR: 0x0f0,
  ISR: 0x100,
  TMR: 0x180,
  IRR: 0x200,
  ESR: 0x280,
  ICR_LOW: 0x300,
  ICR_HIGH: 0x310,
  LVT_TIMER: 0x320,
  LVT_THERMAL: 0x330,
  LVT_PERF: 0x340,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
  TIMER_INITIAL: 0x380,
  TIMER_CURRENT: 0x390,
  TIMER_DIVIDE: 0x3e0,
} as const;

export const APIC_BASE_ADDRESS = 0xfee00000;
/** Version 0x14 (integrated xAPIC), max LVT entry 5 (timer, thermal, perf, LINT0, LINT1, error). */
export const APIC_VERSION = 0x00050014;

const LVT_MASKED = 1 << 16;
const SVR_ENABLE = 1 << 8;
/** ESR bits. */
export const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
export const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;
export const ESR_ILLEGAL_REGISTER = 1 << 7;

/** LVT offsets in register order, and the bits each one keeps. */
const LVT_OFFSETS = [APIC.LVT_TIMER, APIC.LVT_THERMAL, APIC.LVT_PERF, APIC.LVT_LINT0, APIC.LVT_LINT1, APIC.LVT_ERROR];
const LVT_WRITABLE = [0x000700ff, 0x000107ff, 0x000107ff, 0x0001a7ff, 0x0001a7ff, 0x000100ff];
const LVT_TIMER_INDEX = 0;
const LVT_LINT0_INDEX = 3;
const LVT_ERROR_INDEX = 5;

/** Divide configuration (bits 3,1:0) to divisor. */
const DIVISORS = [2, 4, 8, 16, 32, 64, 128, 1];

export interface IpiMessage {
  vector: number;
  /** ICR bits 10:8: 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 6 start-up. */
  deliveryMode: number;
  logical: boolean;
  level: boolean;
  triggerLevel: boolean;
  /** 0 destination field, 1 self, 2 all including self, 3 all excluding self. */
  shorthand: number;
  destination: number;
}

export interface LapicState {
  id: number;
  tpr: number;
  ldr: number;
  dfr: number;
  svr: number;
  irr: number[];
  isr: number[];
  tmr: number[];
  esr: number;
  /** Errors collected since the last ESR write (a write moves them into ESR). */
  errors: number;
  icrLow: number;
  icrHigh: number;
  lvt: number[];
  timerInitial: number;
  timerCurrent: number;
  divide: number;
  /** Bus clocks not yet making a full timer tick at the current divisor. */
  timerRemainder: number;
}

function highestBit(words: number[]): number {
  for (let w = 7; w >= 0; w--) {
    if (words[w] !== 0) return w * 32 + 31 - Math.clz32(words[w]);
  }
  return -1;
}

const setBit = (words: number[], v: number): void => { words[v >> 5] = (words[v >> 5] | (1 << (v & 31))) >>> 0; };
const clearBit = (words: number[], v: number): void => { words[v >> 5] = (words[v >> 5] & ~(1 << (v & 31))) >>> 0; };
const testBit = (words: number[], v: number): boolean => (words[v >> 5] & (1 << (v & 31))) !== 0;

function resetState(id: number): LapicState {
  return {
    id, tpr: 0, ldr: 0, dfr: 0xffffffff, svr: 0xff, irr: new Array<number>(8).fill(0), isr: new Array<number>(8).fill(0),
    tmr: new Array<number>(8).fill(0), esr: 0, errors: 0, icrLow: 0, icrHigh: 0, lvt: LVT_OFFSETS.map(() => LVT_MASKED),
    timerInitial: 0, timerCurrent: 0, divide: 0, timerRemainder: 0,
  };
}

export class LocalApic {
  private s: LapicState;
  /** IPIs this APIC does not deliver to itself alone (INIT, SIPI, NMI, other destinations). */
  onIpi: ((ipi: IpiMessage) => void) | null = null;
  /** NMI from LINT0/LINT1 with NMI delivery mode. */
  onNmi: (() => void) | null = null;
  /** A LINT pin programmed as ExtINT: the PIC's interrupt is to be taken through it. */
  onExtInt: (() => void) | null = null;
  /** EOI of a level-triggered vector (TMR set): the I/O APIC would be told. */
  onEoi: ((vector: number) => void) | null = null;

  constructor(id = 0) {
    this.s = resetState(id);
  }

  get softwareEnabled(): boolean { return (this.s.svr & SVR_ENABLE) !== 0; }
  get state(): Readonly<LapicState> { return this.s; }

  // ---- priorities -------------------------------------------------------

  /** PPR: TPR if its class is at least that of the highest in-service vector, else that class. */
  ppr(): number {
    const isrv = Math.max(highestBit(this.s.isr), 0);
    return (this.s.tpr >> 4) >= (isrv >> 4) ? this.s.tpr & 0xff : isrv & 0xf0;
  }

  /**
   * The vector that would be delivered now, or -1: the highest IRR whose
   * class is above PPR's. A software-disabled APIC holds its IRR undelivered.
   */
  pendingVector(): number {
    if (!this.softwareEnabled) return -1;
    const v = highestBit(this.s.irr);
    return v >= 0 && (v >> 4) > (this.ppr() >> 4) ? v : -1;
  }

  hasInterrupt(): boolean {
    return this.pendingVector() >= 0;
  }

  /** INTA: moves the vector from IRR to ISR; the spurious vector if nothing qualifies any more. */
  acknowledge(): number {
    const v = this.pendingVector();
    if (v < 0) return this.s.svr & 0xff;
    clearBit(this.s.irr, v);
    setBit(this.s.isr, v);
    return v;
  }

  /** Accepts a fixed interrupt into IRR (vectors 0-15 are illegal and reported in ESR). */
  acceptInterrupt(vector: number, levelTriggered = false): void {
    const v = vector & 0xff;
    if (v < 16) {
      this.error(ESR_RECEIVE_ILLEGAL_VECTOR);
      return;
    }
    setBit(this.s.irr, v);
    if (levelTriggered) setBit(this.s.tmr, v); else clearBit(this.s.tmr, v);
  }

  private eoi(): void {
    const v = highestBit(this.s.isr);
    if (v < 0) return;
    clearBit(this.s.isr, v);
    if (testBit(this.s.tmr, v)) this.onEoi?.(v);
  }

  private error(bits: number): void {
    this.s.errors |= bits;
    // An illegal vector in the error LVT itself must not recurse.
    const lvt = this.s.lvt[LVT_ERROR_INDEX];
    if ((lvt & LVT_MASKED) === 0 && (lvt & 0xff) >= 16) this.acceptInterrupt(lvt & 0xff);
  }

  // ---- local interrupt pins ----------------------------------------------

  /** An edge on LINT0 (`pin` 0) or LINT1 (`pin` 1), delivered as its LVT entry says. */
  signalLint(pin: 0 | 1): void {
    const lvt = this.s.lvt[LVT_LINT0_INDEX + pin];
    if ((lvt & LVT_MASKED) !== 0) return;
    switch ((lvt >> 8) & 7) {
      case 0: this.acceptInterrupt(lvt & 0xff, false); break;
      case 4: this.onNmi?.(); break;
      case 7: this.onExtInt?.(); break;
      default: break; // SMI and INIT on a LINT pin are not modelled
    }
  }

  // ---- timer ----------------------------------------------------------------

  get timerDivisor(): number {
    const d = this.s.divide;
    return DIVISORS[((d >> 1) & 4) | (d & 3)];
  }

  /** Moves the timer on by `busClocks` APIC bus clocks; expiries fire the LVT timer vector. */
  advance(busClocks: number): void {
    const s = this.s;
    if (busClocks <= 0 || s.timerCurrent === 0) return;
    const total = s.timerRemainder + Math.floor(busClocks);
    const div = this.timerDivisor;
    let ticks = Math.floor(total / div);
    s.timerRemainder = total % div;
    const periodic = ((s.lvt[LVT_TIMER_INDEX] >> 17) & 3) === 1;
    let fired = false;
    while (ticks > 0 && s.timerCurrent > 0) {
      if (ticks < s.timerCurrent) { s.timerCurrent -= ticks; break; }
      ticks -= s.timerCurrent;
      fired = true;
      s.timerCurrent = periodic ? s.timerInitial : 0;
      // Whole periods beyond the first merge into the one IRR bit.
      if (periodic && ticks >= s.timerInitial) ticks %= s.timerInitial;
    }
    if (s.timerCurrent === 0) s.timerRemainder = 0;
    const lvt = s.lvt[LVT_TIMER_INDEX];
    if (fired && (lvt & LVT_MASKED) === 0) this.acceptInterrupt(lvt & 0xff);
  }

  // ---- IPIs ---------------------------------------------------------------

  private targetsSelf(ipi: IpiMessage): boolean {
    if (ipi.shorthand === 1 || ipi.shorthand === 2) return true;
    if (ipi.shorthand === 3) return false;
    const dest = ipi.destination;
    if (!ipi.logical) return dest === 0xff || dest === this.s.id;
    // Flat model: bitmask match; cluster model: cluster nibble equal and member bits overlapping.
    const ldr = this.s.ldr >>> 24;
    if ((this.s.dfr >>> 28) === 0xf) return (ldr & dest) !== 0;
    return dest === 0xff || ((ldr >> 4) === (dest >> 4) && (ldr & dest & 0xf) !== 0);
  }

  private sendIpi(): void {
    const lo = this.s.icrLow;
    const ipi: IpiMessage = {
      vector: lo & 0xff,
      deliveryMode: (lo >> 8) & 7,
      logical: (lo & (1 << 11)) !== 0,
      level: (lo & (1 << 14)) !== 0,
      triggerLevel: (lo & (1 << 15)) !== 0,
      shorthand: (lo >> 18) & 3,
      destination: this.s.icrHigh >>> 24,
    };
    const fixed = ipi.deliveryMode === 0 || ipi.deliveryMode === 1;
    if (fixed && ipi.vector < 16) {
      this.error(ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    const onlySelf = ipi.shorthand === 1 || (!ipi.logical && ipi.shorthand === 0 && ipi.destination === this.s.id);
    if (fixed && this.targetsSelf(ipi)) this.acceptInterrupt(ipi.vector, ipi.triggerLevel);
    if (!(fixed && onlySelf)) this.onIpi?.(ipi);
  }

  // ---- register file --------------------------------------------------------

  /** A 32-bit read at `offset` (16-byte aligned registers; unknown offsets read 0 and set ESR bit 7). */
  read(offset: number): number {
    const s = this.s;
    const off = offset & 0xff0;
    if (off >= APIC.ISR && off < APIC.ISR + 0x80) return s.isr[(off - APIC.ISR) >> 4] >>> 0;
    if (off >= APIC.TMR && off < APIC.TMR + 0x80) return s.tmr[(off - APIC.TMR) >> 4] >>> 0;
    if (off >= APIC.IRR && off < APIC.IRR + 0x80) return s.irr[(off - APIC.IRR) >> 4] >>> 0;
    const lvtIndex = LVT_OFFSETS.indexOf(off as (typeof LVT_OFFSETS)[number]);
    if (lvtIndex >= 0) return s.lvt[lvtIndex] >>> 0;
    switch (off) {
      case APIC.ID: return (s.id << 24) >>> 0;
      case APIC.VERSION: return APIC_VERSION;
      case APIC.TPR: return s.tpr;
      case APIC.APR: return 0;
      case APIC.PPR: return this.ppr();
      case APIC.EOI: return 0;
      case APIC.RRD: return 0; // remote reads are never issued
      case APIC.LDR: return s.ldr >>> 0;
      case APIC.DFR: return s.dfr >>> 0;
      case APIC.SVR: return s.svr;
      case APIC.ESR: return s.esr;
      // Delivery is immediate, so the delivery-status bit (12) always reads idle.
      case APIC.ICR_LOW: return s.icrLow & ~(1 << 12);
      case APIC.ICR_HIGH: return s.icrHigh >>> 0;
      case APIC.TIMER_INITIAL: return s.timerInitial >>> 0;
      case APIC.TIMER_CURRENT: return s.timerCurrent >>> 0;
      case APIC.TIMER_DIVIDE: return s.divide;
      default:
        this.error(ESR_ILLEGAL_REGISTER);
        return 0;
    }
  }

  /** A 32-bit write at `offset`; read-only registers ignore it. */
  write(offset: number, value: number): void {
    const s = this.s;
    const off = offset & 0xff0;
    const v = value >>> 0;
    const lvtIndex = LVT_OFFSETS.indexOf(off as (typeof LVT_OFFSETS)[number]);
    if (lvtIndex >= 0) {
      let lvt = v & LVT_WRITABLE[lvtIndex];
      // While the APIC is software-disabled every LVT entry stays masked.
      if (!this.softwareEnabled) lvt |= LVT_MASKED;
      s.lvt[lvtIndex] = lvt;
      return;
    }
    if (off >= APIC.ISR && off < APIC.IRR + 0x80) return; // ISR, TMR, IRR are read-only
    switch (off) {
      case APIC.ID: s.id = v >>> 24; break;
      case APIC.TPR: s.tpr = v & 0xff; break;
      case APIC.EOI: this.eoi(); break;
      case APIC.LDR: s.ldr = (v & 0xff000000) >>> 0; break;
      case APIC.DFR: s.dfr = (v | 0x0fffffff) >>> 0; break;
      case APIC.SVR:
        s.svr = v & 0x3ff;
        if (!this.softwareEnabled) s.lvt = s.lvt.map((l) => l | LVT_MASKED);
        break;
      case APIC.ESR: s.esr = s.errors; s.errors = 0; break;
      case APIC.ICR_LOW: s.icrLow = v & 0x000ccfff; this.sendIpi(); break;
      case APIC.ICR_HIGH: s.icrHigh = (v & 0xff000000) >>> 0; break;
      case APIC.TIMER_INITIAL:
        // Writing the initial count (re)starts the timer; 0 stops it.
        s.timerInitial = v;
        s.timerCurrent = v;
        s.timerRemainder = 0;
        break;
      case APIC.TIMER_DIVIDE: s.divide = v & 0x0b; break;
      case APIC.VERSION: case APIC.APR: case APIC.PPR: case APIC.RRD: case APIC.TIMER_CURRENT: break;
      default: this.error(ESR_ILLEGAL_REGISTER);
    }
  }

  snapshot(): LapicState {
    const s = this.s;
    return { ...s, irr: [...s.irr], isr: [...s.isr], tmr: [...s.tmr], lvt: [...s.lvt] };
  }

  restore(state: LapicState): void {
    this.s = { ...state, irr: [...state.irr], isr: [...state.isr], tmr: [...state.tmr], lvt: [...state.lvt] };
  }
}
