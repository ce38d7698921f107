// Arithmetic, logic, shifts and rotates, multiply/divide, bit operations
// and BCD adjustment. Flags follow the SDM; where it says "undefined" the
// choices are documented in docs/cpu.md.

import { EXC, fault } from './fault';
import { AF, ARITH, CF, OF, PARITY, SF, ZF } from './flags';
import type { Cpu } from './cpu';
import { R8 } from './cpu';

export type AluOp = (c: Cpu, a: number, b: number, bits: number) => number;

export const ALU_OPS: AluOp[] = [
  (c, a, b, bits) => c.add(a, b, bits),
  (c, a, b, bits) => c.logic(a | b, bits),
  (c, a, b, bits) => c.adc(a, b, bits),
  (c, a, b, bits) => c.sbb(a, b, bits),
  (c, a, b, bits) => c.logic(a & b, bits),
  (c, a, b, bits) => c.sub(a, b, bits),
  (c, a, b, bits) => c.logic(a ^ b, bits),
  (c, a, b, bits) => c.sub(a, b, bits),
];

const msb = (v: number, bits: number): number => (v >>> (bits - 1)) & 1;
const maskB = (bits: number): number => (bits === 32 ? 0xffffffff : (1 << bits) - 1);

/** Sets CF and OF only (rotates), keeping the other flags. */
function setCfOf(c: Cpu, cf: number, of: number): void {
  c.materialize();
  c.flags = (c.flags & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0);
}

/** Shift/rotate group: kind 0-7 = rol ror rcl rcr shl shr sal sar. Returns the new value. */
export function shift(c: Cpu, kind: number, v: number, count: number, bits: number): number {
  count &= 0x1f;
  if (count === 0) return v;
  const m = maskB(bits);
  v = (v & m) >>> 0;
  switch (kind) {
    case 0: { // rol
      const n = count % bits;
      const r = n === 0 ? v : (((v << n) | (v >>> (bits - n))) & m) >>> 0;
      const cf = r & 1;
      setCfOf(c, cf, cf ^ msb(r, bits));
      return r;
    }
    case 1: { // ror
      const n = count % bits;
      const r = n === 0 ? v : (((v >>> n) | (v << (bits - n))) & m) >>> 0;
      const cf = msb(r, bits);
      setCfOf(c, cf, cf ^ ((r >>> (bits - 2)) & 1));
      return r;
    }
    case 2: { // rcl
      const n = bits === 32 ? count : count % (bits + 1);
      let cf = c.getCF();
      let r = v;
      for (let i = 0; i < n; i++) {
        const out = msb(r, bits);
        r = (((r << 1) | cf) & m) >>> 0;
        cf = out;
      }
      if (n !== 0) setCfOf(c, cf, cf ^ msb(r, bits));
      return r;
    }
    case 3: { // rcr
      const n = bits === 32 ? count : count % (bits + 1);
      let cf = c.getCF();
      let r = v;
      for (let i = 0; i < n; i++) {
        const out = r & 1;
        r = ((r >>> 1) | (cf << (bits - 1))) >>> 0;
        cf = out;
      }
      if (n !== 0) setCfOf(c, cf, msb(r, bits) ^ ((r >>> (bits - 2)) & 1));
      return r;
    }
    case 4: case 6: { // shl/sal
      const r = count >= 32 ? 0 : ((v << count) & m) >>> 0;
      const cf = count > bits ? 0 : (v >>> (bits - count)) & 1;
      return c.result(r, bits, cf, cf ^ msb(r, bits), 0);
    }
    case 5: { // shr
      const r = v >>> count;
      const cf = count > bits ? 0 : (v >>> (count - 1)) & 1;
      return c.result(r, bits, cf, count === 1 ? msb(v, bits) : 0, 0);
    }
    default: { // sar
      const sv = bits === 32 ? v | 0 : bits === 16 ? (v << 16) >> 16 : (v << 24) >> 24;
      const r = ((sv >> Math.min(count, 31)) & m) >>> 0;
      const cf = (sv >> Math.min(count - 1, 31)) & 1;
      return c.result(r, bits, cf, 0, 0);
    }
  }
}

/** shld (left=true) / shrd of dest v with src, count masked to 5 bits. */
export function shiftDouble(c: Cpu, left: boolean, v: number, src: number, count: number, bits: number): number {
  count &= 0x1f;
  if (count === 0) return v;
  const m = maskB(bits);
  v = (v & m) >>> 0; src = (src & m) >>> 0;
  if (bits === 16) {
    // Counts above 16 are undefined; the 32-bit concatenation is rotated like the hardware typically does.
    if (left) {
      const wide = ((v << 16) | src) >>> 0;
      const full = count <= 16 ? wide : (((wide << 16) | v) >>> 0);
      const n = count <= 16 ? count : count - 16;
      const r = ((full << n) | (n === 0 ? 0 : (count <= 16 ? 0 : src) >>> (16 - n))) >>> 16 & 0xffff;
      const cf = (full >>> (32 - n)) & 1;
      return c.result(r, 16, cf, cf ^ msb(r, 16), 0);
    }
    const wide = ((src << 16) | v) >>> 0;
    const full = count <= 16 ? wide : (((v << 16) | src) >>> 0);
    const n = count <= 16 ? count : count - 16;
    const r = (n === 0 ? full : ((full >>> n) | (count <= 16 ? 0 : (src << (32 - n))))) & 0xffff;
    const cf = (full >>> (n - 1)) & 1;
    return c.result(r >>> 0, 16, cf, msb(r, 16) ^ ((r >>> 14) & 1), 0);
  }
  if (left) {
    const r = ((v << count) | (src >>> (32 - count))) >>> 0;
    const cf = (v >>> (32 - count)) & 1;
    return c.result(r, 32, cf, cf ^ msb(r, 32), 0);
  }
  const r = ((v >>> count) | (src << (32 - count))) >>> 0;
  const cf = (v >>> (count - 1)) & 1;
  return c.result(r, 32, cf, msb(r, 32) ^ ((r >>> 30) & 1), 0);
}

/** Unsigned 32x32 -> [lo, hi]. */
export function mul32(a: number, b: number): [number, number] {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  const lo = ((mid << 16) | (ll & 0xffff)) >>> 0;
  const hi = (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
  return [lo, hi];
}

/** Signed 32x32 -> [lo, hi] (hi as unsigned bits). */
export function imul32(a: number, b: number): [number, number] {
  const [lo, hi] = mul32(a >>> 0, b >>> 0);
  let h = hi;
  if ((a | 0) < 0) h -= b >>> 0;
  if ((b | 0) < 0) h -= a >>> 0;
  return [lo, h >>> 0];
}

/** One-operand MUL/IMUL (F6/F7 /4 /5). */
export function mulAcc(c: Cpu, v: number, bits: number, signed: boolean): void {
  if (bits === 8) {
    const al = c.r8[0];
    let r: number, over: boolean;
    if (signed) { r = ((al << 24) >> 24) * ((v << 24) >> 24); over = r !== ((r << 24) >> 24); }
    else { r = al * v; over = r > 0xff; }
    c.r16[0] = r;
    c.result(r & 0xff, 8, over ? 1 : 0, over ? 1 : 0, 0);
    return;
  }
  if (bits === 16) {
    const ax = c.r16[0];
    let r: number, over: boolean;
    if (signed) { r = ((ax << 16) >> 16) * ((v << 16) >> 16); over = r !== ((r << 16) >> 16); }
    else { r = ax * v; over = r > 0xffff; }
    c.r16[0] = r; c.r16[4] = r >> 16;
    c.result(r & 0xffff, 16, over ? 1 : 0, over ? 1 : 0, 0);
    return;
  }
  const [lo, hi] = signed ? imul32(c.r[0], v) : mul32(c.r[0] >>> 0, v >>> 0);
  const over = signed ? hi !== ((lo | 0) < 0 ? 0xffffffff : 0) : hi !== 0;
  c.r[0] = lo; c.r[2] = hi;
  c.result(lo, 32, over ? 1 : 0, over ? 1 : 0, 0);
}

/** Two- and three-operand IMUL: returns the truncated product and sets CF=OF. */
export function imulTrunc(c: Cpu, a: number, b: number, bits: number): number {
  if (bits === 16) {
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    const over = r !== ((r << 16) >> 16);
    return c.result(r & 0xffff, 16, over ? 1 : 0, over ? 1 : 0, 0);
  }
  const [lo, hi] = imul32(a, b);
  const over = hi !== ((lo | 0) < 0 ? 0xffffffff : 0);
  return c.result(lo, 32, over ? 1 : 0, over ? 1 : 0, 0);
}

/** DIV/IDIV (flags unchanged; #DE on zero divisor or overflow). */
export function divAcc(c: Cpu, v: number, bits: number, signed: boolean): void {
  if (v === 0) fault(EXC.DE);
  if (bits === 8) {
    const ax = c.r16[0];
    let q: number, r: number;
    if (signed) {
      const n = (ax << 16) >> 16, d = (v << 24) >> 24;
      q = Math.trunc(n / d); r = n - q * d;
      if (q > 127 || q < -128) fault(EXC.DE);
    } else {
      q = Math.floor(ax / v); r = ax % v;
      if (q > 0xff) fault(EXC.DE);
    }
    c.r8[0] = q; c.r8[1] = r;
    return;
  }
  if (bits === 16) {
    const n = ((c.r16[4] << 16) | c.r16[0]) >>> 0;
    let q: number, r: number;
    if (signed) {
      const sn = n | 0, d = (v << 16) >> 16;
      q = Math.trunc(sn / d); r = sn - q * d;
      if (q > 32767 || q < -32768) fault(EXC.DE);
    } else {
      q = Math.floor(n / v); r = n % v;
      if (q > 0xffff) fault(EXC.DE);
    }
    c.r16[0] = q; c.r16[4] = r;
    return;
  }
  const hi = c.r[2] >>> 0, lo = c.r[0] >>> 0;
  if (!signed) {
    if (hi === 0) { c.r[0] = Math.floor(lo / (v >>> 0)); c.r[2] = lo % (v >>> 0); return; }
    const n = (BigInt(hi) << 32n) | BigInt(lo);
    const d = BigInt(v >>> 0);
    const q = n / d;
    if (q > 0xffffffffn) fault(EXC.DE);
    c.r[0] = Number(q); c.r[2] = Number(n % d);
    return;
  }
  const n = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  const d = BigInt(v | 0);
  const q = n / d;
  if (q > 0x7fffffffn || q < -0x80000000n) fault(EXC.DE);
  c.r[0] = Number(q); c.r[2] = Number(n % d);
}

/** BT/BTS/BTR/BTC on a value: op 0-3; returns the new value and sets CF. */
export function bitOp(c: Cpu, op: number, v: number, bit: number): number {
  const mask = 1 << bit;
  const cf = (v & mask) !== 0 ? 1 : 0;
  c.materialize();
  c.flags = (c.flags & ~CF) | cf;
  switch (op) {
    case 1: return (v | mask) >>> 0;
    case 2: return (v & ~mask) >>> 0;
    case 3: return (v ^ mask) >>> 0;
    default: return v;
  }
}

/** BSF (reverse=false) / BSR: returns the index, or -1 (dest unchanged, ZF=1) for zero. */
export function bitScan(c: Cpu, v: number, reverse: boolean): number {
  c.materialize();
  if (v === 0) { c.flags |= ZF; return -1; }
  // A non-zero source: CF OF SF AF ZF clear, PF from the index (as Intel cores and Bochs do).
  const idx = reverse ? 31 - Math.clz32(v) : 31 - Math.clz32(v & -v);
  c.flags = (c.flags & ~ARITH) | PARITY[idx];
  return idx;
}

export function daa(c: Cpu): void {
  const oldAl = c.r8[0], oldCf = c.getCF();
  let al = oldAl, af = 0, cf = 0;
  if ((al & 0xf) > 9 || c.getAF()) { al = (al + 6) & 0xff; af = 1; }
  if (oldAl > 0x99 || oldCf) { al = (al + 0x60) & 0xff; cf = 1; }
  c.r8[0] = al;
  c.result(al, 8, cf, 0, af);
}

export function das(c: Cpu): void {
  const oldAl = c.r8[0], oldCf = c.getCF();
  let al = oldAl, af = 0, cf = 0;
  if ((al & 0xf) > 9 || c.getAF()) { cf = oldCf || al < 6 ? 1 : 0; al = (al - 6) & 0xff; af = 1; }
  if (oldAl > 0x99 || oldCf) { al = (al - 0x60) & 0xff; cf = 1; }
  c.r8[0] = al;
  c.result(al, 8, cf, 0, af);
}

export function aaa(c: Cpu, sub: boolean): void {
  const al = c.r8[0];
  if ((al & 0xf) > 9 || c.getAF()) {
    if (sub) { c.r16[0] = (c.r16[0] - 6) & 0xffff; c.r8[1] = (c.r8[1] - 1) & 0xff; }
    else c.r16[0] = (c.r16[0] + 0x106) & 0xffff;
    c.r8[0] &= 0xf;
    c.result(c.r8[0], 8, 1, 0, 1);
  } else {
    c.r8[0] &= 0xf;
    c.result(c.r8[0], 8, 0, 0, 0);
  }
}

export function aam(c: Cpu, imm: number): void {
  if (imm === 0) fault(EXC.DE);
  const al = c.r8[0];
  c.r8[1] = Math.floor(al / imm);
  c.r8[0] = al % imm;
  c.logic(c.r8[0], 8);
}

export function aad(c: Cpu, imm: number): void {
  const al = (c.r8[0] + c.r8[1] * imm) & 0xff;
  c.r16[0] = al;
  c.logic(al, 8);
}

export { R8, SF, AF };
