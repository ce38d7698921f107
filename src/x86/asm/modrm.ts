// Effective-address encoding: ModRM, SIB and displacement, choosing forms exactly as nasm does.

import { AsmError } from './diagnostics';
import { Value } from './expr';
import { lookupRegister } from './registers';

export interface EaResult {
  bytes: number[];
  /** Address size the memory operand requires (16 or 32). */
  asize: 16 | 32;
  /** A byte displacement was used for a value that only fits after wrapping (nasm warns). */
  dispOverflow?: boolean;
}

export interface EaOptions {
  nosplit: boolean;
  dispSize?: 8 | 16 | 32;
  /** Address size forced by a16/a32 when the reference names no register. */
  defaultAsize: 16 | 32;
}

const RM16: Record<string, number> = { 'bx+si': 0, 'bx+di': 1, 'bp+si': 2, 'bp+di': 3, si: 4, di: 5, bp: 6, bx: 7 };

function pushLE(out: number[], v: bigint, n: number): void {
  for (let i = 0; i < n; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
}

/** A displacement may be shortened only when it is a plain number (not label-relative). */
function fitsDisp8(v: Value, asize: 16 | 32): boolean {
  // Unknown yet (forward reference): assume short until a pass shows otherwise, as nasm does.
  if (v.unknown) return true;
  if (v.rel !== null) return false;
  const s = BigInt.asIntN(asize, v.n);
  return s >= -128n && s <= 127n;
}

function isZero(v: Value): boolean {
  return v.unknown || (v.rel === null && BigInt.asIntN(32, v.n) === 0n);
}

export function encodeEa(regField: number, v: Value, o: EaOptions): EaResult {
  const regs = [...v.regs.entries()].map(([name, scale]) => ({ reg: lookupRegister(name), scale }));
  for (const r of regs) {
    if (!r.reg || r.reg.cls !== 'gp' || r.reg.size === 8) throw new AsmError('invalid effective address', undefined);
  }
  let asize: 16 | 32;
  if (regs.length === 0) asize = o.dispSize === 16 ? 16 : o.dispSize === 32 ? 32 : o.defaultAsize;
  else {
    const sizes = new Set(regs.map((r) => r.reg?.size));
    if (sizes.size > 1) throw new AsmError('impossible combination of address sizes', undefined);
    asize = regs[0].reg?.size === 16 ? 16 : 32;
  }
  const out: number[] = [];
  const reg = (regField & 7) << 3;
  if (asize === 16) {
    for (const r of regs) if (r.scale !== 1n) throw new AsmError('invalid 16-bit effective address', undefined);
    const names = regs.map((r) => r.reg?.name ?? '').sort((a, b) => (a === 'bx' || a === 'bp' ? -1 : b === 'bx' || b === 'bp' ? 1 : 0));
    if (names.length === 0) {
      out.push(reg | 6);
      pushLE(out, v.n, 2);
      return { bytes: out, asize };
    }
    const rm = RM16[names.join('+')];
    if (rm === undefined) throw new AsmError('invalid 16-bit effective address', undefined);
    let mod: number;
    if (o.dispSize === 8) mod = 1;
    else if (o.dispSize === 16 || o.dispSize === 32) mod = 2;
    else if (isZero(v) && rm !== 6) mod = 0;
    else mod = fitsDisp8(v, 16) ? 1 : 2;
    out.push((mod << 6) | reg | rm);
    if (mod === 1) pushLE(out, v.n, 1);
    if (mod === 2) pushLE(out, v.n, 2);
    return { bytes: out, asize, dispOverflow: mod === 1 && (v.n < -128n || v.n > 127n) };
  }
  // 32-bit addressing: pick base and index the way nasm does.
  let base: number | undefined;
  let index: number | undefined;
  let scale = 1n;
  if (regs.length > 2) throw new AsmError('invalid effective address', undefined);
  if (regs.length === 1) {
    const r = regs[0];
    const n = r.reg?.num ?? 0;
    const s = r.scale;
    if (s === 1n && !o.nosplit) base = n;
    else if (!o.nosplit && (s === 2n || s === 3n || s === 5n || s === 9n)) {
      base = n;
      index = n;
      scale = s - 1n;
    } else {
      index = n;
      scale = s;
    }
  } else if (regs.length === 2) {
    let [a, b] = regs;
    // The base is the first plain register; a register written with `*` goes to the index, and when
    // both were multiplied nasm takes the second as the base.
    const aScaled = v.scaled?.has(a.reg?.name ?? '') ?? false;
    if (a.scale !== 1n && b.scale === 1n) [a, b] = [b, a];
    else if (a.scale === 1n && b.scale === 1n && aScaled) [a, b] = [b, a];
    if (a.scale !== 1n) throw new AsmError('invalid effective address', undefined);
    base = a.reg?.num;
    index = b.reg?.num;
    scale = b.scale;
    if (index === 4 && scale === 1n) [base, index] = [index, base];
  }
  if (index === 4) throw new AsmError('invalid effective address: esp cannot be an index', undefined);
  if (scale !== 1n && scale !== 2n && scale !== 4n && scale !== 8n) throw new AsmError('invalid effective address: bad scale', undefined);
  const ss = scale === 1n ? 0 : scale === 2n ? 1 : scale === 4n ? 2 : 3;
  if (base === undefined && index === undefined) {
    out.push(reg | 5);
    pushLE(out, v.n, 4);
    return { bytes: out, asize };
  }
  if (base === undefined) {
    out.push(reg | 4, (ss << 6) | ((index ?? 0) << 3) | 5);
    pushLE(out, v.n, 4);
    return { bytes: out, asize };
  }
  let mod: number;
  if (o.dispSize === 8) mod = 1;
  else if (o.dispSize === 16 || o.dispSize === 32) mod = 2;
  else if (isZero(v) && base !== 5) mod = 0;
  else mod = fitsDisp8(v, 32) ? 1 : 2;
  if (index === undefined && base !== 4) {
    out.push((mod << 6) | reg | base);
  } else {
    out.push((mod << 6) | reg | 4, (ss << 6) | ((index ?? 4) << 3) | base);
  }
  if (mod === 1) pushLE(out, v.n, 1);
  if (mod === 2) pushLE(out, v.n, 4);
  return { bytes: out, asize, dispOverflow: mod === 1 && (v.n < -128n || v.n > 127n) };
}

export { pushLE };
