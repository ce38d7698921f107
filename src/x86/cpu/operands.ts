// Turns decoded operands into small specialised closures: effective
// address calculation, register/memory/immediate readers and writers, and
// read-modify-write of a destination with one address computation and one
// translation.

import type { MemOperand, Operand } from '../decode/instr';
import { R8, type Cpu } from './cpu';

export type Fn = (c: Cpu) => void;
export type Get = (c: Cpu) => number;
export type Put = (c: Cpu, v: number) => void;

/** Effective-address (offset) function of a memory operand. */
export function ea(m: MemOperand): Get {
  const d = m.disp | 0;
  const b = m.base, i = m.index;
  if (m.addrSize === 16) {
    const d16 = d & 0xffff;
    if (b >= 0 && i >= 0) { const bb = b << 1, ii = i << 1; return (c) => (c.r16[bb] + c.r16[ii] + d16) & 0xffff; }
    if (b >= 0) { const bb = b << 1; return d16 === 0 ? (c) => c.r16[bb] : (c) => (c.r16[bb] + d16) & 0xffff; }
    if (i >= 0) { const ii = i << 1; return (c) => (c.r16[ii] + d16) & 0xffff; }
    return () => d16;
  }
  const sh = m.scale === 8 ? 3 : m.scale === 4 ? 2 : m.scale === 2 ? 1 : 0;
  if (b >= 0 && i >= 0) return (c) => (c.r[b] + (c.r[i] << sh) + d) >>> 0;
  if (b >= 0) return d === 0 ? (c) => c.r[b] >>> 0 : (c) => (c.r[b] + d) >>> 0;
  if (i >= 0) return (c) => ((c.r[i] << sh) + d) >>> 0;
  const u = d >>> 0;
  return () => u;
}

/** Size in bytes of an operand as an access (memory operands may say 0: use `fallback`). */
export function sizeOf(op: Operand, fallback: number): number {
  const s = op.size;
  return s === 1 || s === 2 || s === 4 ? s : fallback;
}

/** Reader returning the unsigned value. */
export function reader(op: Operand, size = sizeOf(op, 4)): Get {
  switch (op.kind) {
    case 'reg': {
      const n = op.reg;
      if (op.size === 4) return (c) => c.r[n] >>> 0;
      if (op.size === 2) { const k = n << 1; return (c) => c.r16[k]; }
      const k = R8[n];
      return (c) => c.r8[k];
    }
    case 'sreg': { const n = op.reg; return (c) => c.seg[n].selector; }
    case 'imm': { const v = op.value >>> 0; return () => v; }
    case 'mem': {
      const e = ea(op), s = op.seg;
      if (size === 4) return (c) => c.rd32(s, e(c)) >>> 0;
      if (size === 2) return (c) => c.rd16(s, e(c));
      return (c) => c.rd8(s, e(c));
    }
    default: throw new Error(`cannot read operand ${op.kind}`);
  }
}

export function writer(op: Operand, size = sizeOf(op, 4)): Put {
  switch (op.kind) {
    case 'reg': {
      const n = op.reg;
      if (op.size === 4) return (c, v) => { c.r[n] = v; };
      if (op.size === 2) { const k = n << 1; return (c, v) => { c.r16[k] = v; }; }
      const k = R8[n];
      return (c, v) => { c.r8[k] = v; };
    }
    case 'mem': {
      const e = ea(op), s = op.seg;
      if (size === 4) return (c, v) => c.wr32(s, e(c), v);
      if (size === 2) return (c, v) => c.wr16(s, e(c), v);
      return (c, v) => c.wr8(s, e(c), v);
    }
    default: throw new Error(`cannot write operand ${op.kind}`);
  }
}

/**
 * Read-modify-write of `op`: f gets the old unsigned value and returns the
 * new one. Memory is checked for writing before anything is computed, so a
 * fault leaves flags and registers untouched.
 */
export function rmw(op: Operand, f: (c: Cpu, v: number) => number, size = sizeOf(op, 4)): Fn {
  if (op.kind === 'reg') {
    const n = op.reg;
    if (size === 4) return (c) => { c.r[n] = f(c, c.r[n] >>> 0); };
    if (size === 2) { const k = n << 1; return (c) => { c.r16[k] = f(c, c.r16[k]); }; }
    const k = R8[n];
    return (c) => { c.r8[k] = f(c, c.r8[k]); };
  }
  if (op.kind !== 'mem') throw new Error(`cannot modify operand ${op.kind}`);
  const e = ea(op), s = op.seg;
  if (size === 4) {
    return (c) => {
      const off = e(c);
      const p = c.rmw(s, off, 4);
      if (p >= 0) c.mem.write32(p, f(c, c.mem.read32(p) >>> 0));
      else c.wr32(s, off, f(c, c.rd32(s, off) >>> 0));
    };
  }
  if (size === 2) {
    return (c) => {
      const off = e(c);
      const p = c.rmw(s, off, 2);
      if (p >= 0) c.mem.write16(p, f(c, c.mem.read16(p)));
      else c.wr16(s, off, f(c, c.rd16(s, off)));
    };
  }
  return (c) => {
    const off = e(c);
    const p = c.rmw(s, off, 1);
    c.mem.write8(p, f(c, c.mem.read8(p)));
  };
}

export const maskOf = (size: number): number => (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff);
export const signExt = (v: number, size: number): number => (size === 4 ? v | 0 : size === 2 ? (v << 16) >> 16 : (v << 24) >> 24);
