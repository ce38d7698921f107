// EFLAGS bits and the lazy-flag evaluator. Arithmetic instructions record
// (op, a, b, result, size) instead of computing six flags; the flags are
// derived only when something reads them (jcc, pushf, adc...). Operands and
// results are stored truncated to the operation size (see the recorders below).

export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const TF = 0x100;
export const IF = 0x200;
export const DF = 0x400;
export const OF = 0x800;
export const IOPL = 0x3000;
export const NT = 0x4000;
export const RF = 0x10000;
export const VM = 0x20000;
export const AC = 0x40000;
export const VIF = 0x80000;
export const VIP = 0x100000;
export const ID = 0x200000;
export const ARITH = CF | PF | AF | ZF | SF | OF;

/** Lazy operation kinds. */
export const LF_NONE = 0; // all arithmetic flags are in `flags`
export const LF_ADD = 1;
export const LF_ADC = 2;
export const LF_SUB = 3;
export const LF_SBB = 4;
export const LF_INC = 5; // add-like, CF kept in `flags`
export const LF_DEC = 6; // sub-like, CF kept in `flags`
export const LF_LOGIC = 7; // CF = OF = AF = 0
export const LF_RES = 8; // ZF SF PF from the result, CF OF AF from `flags`

export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i, p = 1;
  while (b) { p ^= b & 1; b >>= 1; }
  PARITY[i] = p ? PF : 0;
}

/** The lazy-flag state; the Cpu extends this. */
export class LazyFlags {
  /** EFLAGS; arithmetic bits are authoritative only as the lazy op says. */
  flags = 0x2;
  lop = LF_NONE;
  la = 0;
  lb = 0;
  lr = 0;
  /** Operation size in bits: 8, 16 or 32. */
  lsz = 32;
  /** Carry-in of adc/sbb. */
  lcin = 0;

  getCF(): number {
    switch (this.lop) {
      case LF_ADD: return (this.lr >>> 0) < (this.la >>> 0) ? 1 : 0;
      case LF_ADC: return (this.lcin ? (this.lr >>> 0) <= (this.la >>> 0) : (this.lr >>> 0) < (this.la >>> 0)) ? 1 : 0;
      case LF_SUB: return (this.la >>> 0) < (this.lb >>> 0) ? 1 : 0;
      case LF_SBB: return (this.lcin ? (this.la >>> 0) <= (this.lb >>> 0) : (this.la >>> 0) < (this.lb >>> 0)) ? 1 : 0;
      case LF_LOGIC: return 0;
      default: return this.flags & CF;
    }
  }

  getZF(): boolean {
    return this.lop === LF_NONE ? (this.flags & ZF) !== 0 : this.lr === 0;
  }

  getSF(): boolean {
    return this.lop === LF_NONE ? (this.flags & SF) !== 0 : ((this.lr >>> (this.lsz - 1)) & 1) !== 0;
  }

  getOF(): boolean {
    const s = this.lsz - 1;
    switch (this.lop) {
      case LF_ADD: case LF_ADC: case LF_INC:
        return (((this.la ^ this.lr) & (this.lb ^ this.lr)) >>> s & 1) !== 0;
      case LF_SUB: case LF_SBB: case LF_DEC:
        return (((this.la ^ this.lb) & (this.la ^ this.lr)) >>> s & 1) !== 0;
      case LF_LOGIC: return false;
      default: return (this.flags & OF) !== 0;
    }
  }

  getPF(): boolean {
    return this.lop === LF_NONE ? (this.flags & PF) !== 0 : PARITY[this.lr & 0xff] !== 0;
  }

  getAF(): number {
    switch (this.lop) {
      case LF_NONE: case LF_RES: return this.flags & AF;
      case LF_LOGIC: return 0;
      default: return (this.la ^ this.lb ^ this.lr) & AF;
    }
  }

  /** The full EFLAGS value. */
  getFlags(): number {
    if (this.lop === LF_NONE) return this.flags;
    let f = this.flags & ~ARITH;
    f |= this.getCF();
    if (PARITY[this.lr & 0xff]) f |= PF;
    f |= this.getAF();
    if (this.lr === 0) f |= ZF;
    if ((this.lr >>> (this.lsz - 1)) & 1) f |= SF;
    if (this.getOF()) f |= OF;
    return f;
  }

  /** Folds the lazy state into `flags`. */
  materialize(): void {
    if (this.lop !== LF_NONE) {
      this.flags = this.getFlags();
      this.lop = LF_NONE;
    }
  }

  /** Evaluates condition code 0-15. */
  cond(cc: number): boolean {
    let r: boolean;
    switch (cc >> 1) {
      case 0: r = this.getOF(); break;
      case 1: r = this.getCF() !== 0; break;
      case 2: r = this.getZF(); break;
      case 3: r = this.getCF() !== 0 || this.getZF(); break;
      case 4: r = this.getSF(); break;
      case 5: r = this.getPF(); break;
      case 6: r = this.getSF() !== this.getOF(); break;
      default: r = this.getZF() || this.getSF() !== this.getOF(); break;
    }
    return (cc & 1) !== 0 ? !r : r;
  }

  // Recorders used by the instruction implementations. Lazy operands are
  // kept truncated to the operation size: 8/16-bit ones as small unsigned
  // numbers, 32-bit ones as int32 (so they stay small integers in the VM).
  add(a: number, b: number, bits: number): number {
    const m = bits === 32 ? -1 : (1 << bits) - 1;
    a &= m; b &= m;
    const r = (a + b) & m;
    this.lop = LF_ADD; this.la = a; this.lb = b; this.lr = r; this.lsz = bits;
    return r;
  }
  adc(a: number, b: number, bits: number): number {
    const c = this.getCF();
    const m = bits === 32 ? -1 : (1 << bits) - 1;
    a &= m; b &= m;
    const r = (a + b + c) & m;
    this.lop = LF_ADC; this.la = a; this.lb = b; this.lr = r; this.lsz = bits; this.lcin = c;
    return r;
  }
  sub(a: number, b: number, bits: number): number {
    const m = bits === 32 ? -1 : (1 << bits) - 1;
    a &= m; b &= m;
    const r = (a - b) & m;
    this.lop = LF_SUB; this.la = a; this.lb = b; this.lr = r; this.lsz = bits;
    return r;
  }
  sbb(a: number, b: number, bits: number): number {
    const c = this.getCF();
    const m = bits === 32 ? -1 : (1 << bits) - 1;
    a &= m; b &= m;
    const r = (a - b - c) & m;
    this.lop = LF_SBB; this.la = a; this.lb = b; this.lr = r; this.lsz = bits; this.lcin = c;
    return r;
  }
  inc(a: number, bits: number): number {
    const c = this.getCF();
    const m = bits === 32 ? -1 : (1 << bits) - 1;
    a &= m;
    const r = (a + 1) & m;
    this.flags = (this.flags & ~CF) | c;
    this.lop = LF_INC; this.la = a; this.lb = 1; this.lr = r; this.lsz = bits;
    return r;
  }
  dec(a: number, bits: number): number {
    const c = this.getCF();
    const m = bits === 32 ? -1 : (1 << bits) - 1;
    a &= m;
    const r = (a - 1) & m;
    this.flags = (this.flags & ~CF) | c;
    this.lop = LF_DEC; this.la = a; this.lb = 1; this.lr = r; this.lsz = bits;
    return r;
  }
  logic(r: number, bits: number): number {
    r &= bits === 32 ? -1 : (1 << bits) - 1;
    this.lop = LF_LOGIC; this.lr = r; this.lsz = bits;
    return r;
  }
  /** ZF SF PF from r; CF OF AF given explicitly (shifts, multiplies...). */
  result(r: number, bits: number, cf: number, of: number, af: number): number {
    r &= bits === 32 ? -1 : (1 << bits) - 1;
    this.flags = (this.flags & ~(CF | OF | AF)) | (cf ? CF : 0) | (of ? OF : 0) | (af ? AF : 0);
    this.lop = LF_RES; this.lr = r; this.lsz = bits;
    return r;
  }
}
