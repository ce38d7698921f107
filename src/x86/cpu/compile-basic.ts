// Data movement, arithmetic and logic, bit operations: instructions that
// never change EIP or CS and so can sit anywhere in a block.

import type { MemOperand, Operand } from '../decode/instr';
import { ALU_OPS, aaa, aad, aam, bitOp, bitScan, daa, das, divAcc, imulTrunc, mulAcc, shift, shiftDouble } from './alu';
import { CS, DS, ES, FS, GS, R8, SS, type Cpu } from './cpu';
import { EXC, fault, ud } from './fault';
import { AF, CF, PF, SF, ZF } from './flags';
import { ea, reader, rmw, sizeOf, writer, signExt, type Fn } from './operands';
import type { Ctx } from './context';

const bitsOf = (op: Operand, fallback: number): number => sizeOf(op, fallback) * 8;

/** The eight ALU operations (op 0-7 = add or adc sbb and sub xor cmp) on dst, src. */
export function aluOp(op: number, dst: Operand, src: Operand): Fn {
  const bits = bitsOf(dst, 4);
  const f = ALU_OPS[op];
  const get = reader(src, bits / 8);
  if (op === 7) {
    const a = reader(dst);
    if (dst.kind === 'reg' && bits === 32 && src.kind === 'reg') {
      const d = dst.reg, s = src.reg;
      return (c) => { c.sub(c.r[d], c.r[s], 32); };
    }
    return (c) => { f(c, a(c), get(c), bits); };
  }
  if (dst.kind === 'reg' && bits === 32) {
    const d = dst.reg;
    if (src.kind === 'reg') {
      const s = src.reg;
      if (op === 0) return (c) => { c.r[d] = c.add(c.r[d], c.r[s], 32); };
      if (op === 6 && s === d) return (c) => { c.r[d] = 0; c.logic(0, 32); };
      return (c) => { c.r[d] = f(c, c.r[d], c.r[s], 32); };
    }
    if (src.kind === 'imm') {
      const v = src.value >>> 0;
      return (c) => { c.r[d] = f(c, c.r[d], v, 32); };
    }
  }
  return rmw(dst, (c, v) => f(c, v, get(c), bits));
}

export function testOp(a: Operand, b: Operand): Fn {
  const bits = bitsOf(a, 4);
  const ga = reader(a), gb = reader(b, bits / 8);
  return (c) => { c.logic(ga(c) & gb(c), bits); };
}

export function incDec(op: Operand, dec: boolean): Fn {
  const bits = bitsOf(op, 4);
  if (op.kind === 'reg' && bits === 32) {
    const n = op.reg;
    return dec ? (c) => { c.r[n] = c.dec(c.r[n], 32); } : (c) => { c.r[n] = c.inc(c.r[n], 32); };
  }
  return rmw(op, dec ? (c, v) => c.dec(v, bits) : (c, v) => c.inc(v, bits));
}

export function notNeg(op: Operand, neg: boolean): Fn {
  const bits = bitsOf(op, 4);
  const m = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  return rmw(op, neg ? (c, v) => c.sub(0, v, bits) : (_c, v) => (~v & m) >>> 0);
}

export function mov(dst: Operand, src: Operand): Fn {
  if (dst.kind === 'reg' && dst.size === 4) {
    const d = dst.reg;
    if (src.kind === 'reg') { const s = src.reg; return (c) => { c.r[d] = c.r[s]; }; }
    if (src.kind === 'imm') { const v = src.value | 0; return (c) => { c.r[d] = v; }; }
    if (src.kind === 'mem' && src.size === 4) {
      const e = ea(src), s = src.seg;
      return (c) => { c.r[d] = c.rd32(s, e(c)); };
    }
  }
  if (dst.kind === 'mem' && dst.size === 4 && src.kind === 'reg') {
    const e = ea(dst), s = dst.seg, r = src.reg;
    return (c) => { c.wr32(s, e(c), c.r[r]); };
  }
  const size = dst.kind === 'mem' && dst.size === 0 ? src.size : dst.size;
  const get = reader(src, size);
  const put = writer(dst, size);
  return (c) => put(c, get(c));
}

/** mov to/from a segment register. */
export function movSreg(x: Ctx): Fn {
  const [dst, src] = x.ins.operands;
  if (dst.kind === 'sreg') {
    const s = dst.reg;
    if (s === CS) return () => ud();
    const get = reader(src, 2);
    return (c) => c.loadSeg(s, get(c));
  }
  const s = (src as { reg: number }).reg;
  const ins = x.ins, len = x.len;
  // A register destination takes the whole operand size (upper half zeroed with 32-bit operands).
  const put = dst.kind === 'reg' ? writer(dst) : writer(dst, 2);
  return (c) => {
    c.intercept.segRead?.(c, ins, len, s);
    put(c, c.seg[s].selector);
  };
}

export function movx(x: Ctx, signed: boolean): Fn {
  const [dst, src] = x.ins.operands;
  const sz = src.size === 1 ? 1 : 2;
  const get = reader(src, sz);
  const put = writer(dst);
  if (signed) return sz === 1 ? (c) => put(c, (get(c) << 24) >> 24) : (c) => put(c, (get(c) << 16) >> 16);
  return (c) => put(c, get(c));
}

export function lea(x: Ctx): Fn {
  const [dst, src] = x.ins.operands;
  if (src.kind !== 'mem') return () => ud();
  const e = ea(src);
  const put = writer(dst);
  return (c) => put(c, e(c));
}

export function xchg(a: Operand, b: Operand): Fn {
  const size = sizeOf(a, 4);
  if (a.kind === 'reg' && b.kind === 'reg') {
    const ga = reader(a), gb = reader(b), pa = writer(a), pb = writer(b);
    return (c) => { const t = ga(c); pa(c, gb(c)); pb(c, t); };
  }
  const [m, r] = a.kind === 'mem' ? [a, b] : [b, a];
  const gr = reader(r), pr = writer(r);
  // The memory side is written before the register, so a fault leaves both unchanged;
  // `old` carries the memory value from the write-back to the register store.
  let old = 0;
  const swap = rmw(m, (c, v) => { old = v; return gr(c); }, size);
  return (c) => { swap(c); pr(c, old); };
}

export function push(x: Ctx): Fn {
  const op = x.ins.operands[0];
  const osz = x.osz;
  if (op.kind === 'reg' && osz === 4) { const n = op.reg; return (c) => c.push32(c.r[n]); }
  if (op.kind === 'imm') { const v = op.value; return (c) => c.push(v, osz); }
  if (op.kind === 'sreg') {
    const s = op.reg;
    const ins = x.ins, len = x.len;
    if (osz === 2) return (c) => { c.intercept.segRead?.(c, ins, len, s); c.push16(c.seg[s].selector); };
    // 32-bit push of a segment register: the slot is a dword but only its low word is written.
    return (c) => {
      c.intercept.segRead?.(c, ins, len, s);
      const sp = c.stack32 ? (c.r[4] - 4) >>> 0 : (c.r16[8] - 4) & 0xffff;
      c.rmw(SS, sp, 4);
      c.wr16(SS, sp, c.seg[s].selector);
      c.sp = sp;
    };
  }
  const get = reader(op, osz);
  return (c) => c.push(get(c), osz);
}

export function pop(x: Ctx): Fn {
  const op = x.ins.operands[0];
  const osz = x.osz;
  if (op.kind === 'reg') {
    const put = writer(op);
    return (c) => put(c, c.pop(osz));
  }
  if (op.kind === 'sreg') {
    const s = op.reg;
    return (c) => { const v = c.peek(0, osz) & 0xffff; c.loadSeg(s, v); c.sp = c.sp + osz; };
  }
  // pop r/m: the address is computed with ESP already incremented.
  const put = writer(op, osz);
  return (c) => {
    const v = c.peek(0, osz);
    const sp = c.r[4];
    c.sp = c.sp + osz;
    try { put(c, v); } catch (e) { c.r[4] = sp; throw e; }
  };
}

export function pusha(x: Ctx): Fn {
  const osz = x.osz;
  return (c) => {
    const sp = c.r[4];
    const t = c.sp;
    try {
      for (let i = 0; i < 8; i++) c.push(i === 4 ? t : osz === 4 ? c.r[i] : c.r16[i << 1], osz);
    } catch (e) { c.r[4] = sp; throw e; }
  };
}

export function popa(x: Ctx): Fn {
  const osz = x.osz;
  return (c) => {
    const vals: number[] = [];
    for (let i = 0; i < 8; i++) vals.push(c.peek(i * osz, osz));
    for (let i = 0; i < 8; i++) {
      const reg = 7 - i;
      if (reg === 4) continue;
      if (osz === 4) c.r[reg] = vals[i]; else c.r16[reg << 1] = vals[i];
    }
    c.sp = c.sp + 8 * osz;
  };
}

export function cbw(x: Ctx): Fn {
  return x.osz === 4 ? (c) => { c.r[0] = (c.r[0] << 16) >> 16; } : (c) => { c.r16[0] = (c.r8[0] << 24) >> 24; };
}
export function cwd(x: Ctx): Fn {
  return x.osz === 4 ? (c) => { c.r[2] = c.r[0] >> 31; } : (c) => { c.r16[4] = (c.r16[0] & 0x8000) ? 0xffff : 0; };
}

export function shiftOp(x: Ctx): Fn {
  const [dst, cnt] = x.ins.operands;
  const kind = x.ins.ext;
  const bits = bitsOf(dst, 4);
  if (cnt.kind === 'imm') {
    const n = cnt.value & 0x1f;
    if (n === 0) return () => undefined;
    return rmw(dst, (c, v) => shift(c, kind, v, n, bits));
  }
  return rmw(dst, (c, v) => shift(c, kind, v, c.r8[R8[1]], bits));
}

export function shiftDoubleOp(x: Ctx, left: boolean): Fn {
  const [dst, src, cnt] = x.ins.operands;
  const bits = bitsOf(dst, 4);
  const gs = reader(src);
  const gc: (c: Cpu) => number = cnt.kind === 'imm' ? ((v) => () => v)(cnt.value) : (c) => c.r8[R8[1]];
  return rmw(dst, (c, v) => shiftDouble(c, left, v, gs(c), gc(c), bits));
}

export function group3(x: Ctx): Fn {
  const op = x.ins.operands[0];
  const bits = bitsOf(op, 4);
  const get = reader(op);
  switch (x.ins.ext) {
    case 0: case 1: return testOp(op, x.ins.operands[1]);
    case 2: return notNeg(op, false);
    case 3: return notNeg(op, true);
    case 4: return (c) => mulAcc(c, get(c), bits, false);
    case 5: return (c) => mulAcc(c, get(c), bits, true);
    case 6: return (c) => divAcc(c, get(c), bits, false);
    default: return (c) => divAcc(c, get(c), bits, true);
  }
}

export function imulMulti(x: Ctx): Fn {
  const ops = x.ins.operands;
  const dst = ops[0];
  const bits = bitsOf(dst, 4);
  const ga = reader(ops.length === 3 ? ops[1] : ops[0]);
  const gb = reader(ops.length === 3 ? ops[2] : ops[1], bits / 8);
  const put = writer(dst);
  return (c) => put(c, imulTrunc(c, ga(c), gb(c), bits));
}

/** bt/bts/btr/btc: op 0-3. Register bit offsets address memory beyond the operand. */
export function bitTest(x: Ctx, op: number): Fn {
  const [dst, src] = x.ins.operands;
  const bits = bitsOf(dst, 4);
  const size = bits / 8;
  if (src.kind === 'imm' || dst.kind === 'reg') {
    const gb = src.kind === 'imm' ? ((v) => () => v)(src.value & (bits - 1)) : ((g) => (c: Cpu) => g(c) & (bits - 1))(reader(src));
    if (op === 0) { const ga = reader(dst); return (c) => { bitOp(c, 0, ga(c), gb(c)); }; }
    return rmw(dst, (c, v) => bitOp(c, op, v, gb(c)));
  }
  const m = dst as MemOperand;
  const e = ea(m);
  const gsrc = reader(src);
  const amask = m.addrSize === 16 ? 0xffff : 0xffffffff;
  return (c) => {
    const off = signExt(gsrc(c), size);
    const byteOff = Math.floor(off / bits) * size;
    const addr = ((e(c) + byteOff) & amask) >>> 0;
    const bit = off & (bits - 1);
    if (op === 0) { bitOp(c, 0, c.rd(m.seg, addr, size), bit); return; }
    c.rmw(m.seg, addr, size);
    c.wr(m.seg, addr, size, bitOp(c, op, c.rd(m.seg, addr, size), bit));
  };
}

export function bsfBsr(x: Ctx, reverse: boolean): Fn {
  const [dst, src] = x.ins.operands;
  const get = reader(src);
  const put = writer(dst);
  return (c) => { const r = bitScan(c, get(c), reverse); if (r >= 0) put(c, r); };
}

export function setcc(x: Ctx): Fn {
  const put = writer(x.ins.operands[0], 1);
  const cc = x.ins.cc;
  return (c) => put(c, c.cond(cc) ? 1 : 0);
}

export function cmovcc(x: Ctx): Fn {
  const [dst, src] = x.ins.operands;
  const get = reader(src);
  const put = writer(dst);
  const cc = x.ins.cc;
  // The source is read (and may fault) whatever the condition; a 32-bit destination is written only if true.
  return (c) => { const v = get(c); if (c.cond(cc)) put(c, v); };
}

export function xadd(x: Ctx): Fn {
  const [dst, src] = x.ins.operands;
  const bits = bitsOf(dst, 4);
  const gs = reader(src), ps = writer(src);
  if (dst.kind === 'reg') {
    const gd = reader(dst), pd = writer(dst);
    return (c) => { const d = gd(c), s = gs(c); const r = c.add(d, s, bits); ps(c, d); pd(c, r); };
  }
  let old = 0;
  const add = rmw(dst, (c, v) => { old = v; return c.add(v, gs(c), bits); }, bits / 8);
  return (c) => { add(c); ps(c, old); };
}

export function cmpxchg(x: Ctx): Fn {
  const [dst, src] = x.ins.operands;
  const bits = bitsOf(dst, 4);
  const size = bits / 8;
  const gs = reader(src);
  const acc: Operand = { kind: 'reg', reg: 0, size: size as 1 | 2 | 4 };
  const ga = reader(acc), pa = writer(acc);
  if (dst.kind === 'reg') {
    const gd = reader(dst), pd = writer(dst);
    return (c) => {
      const d = gd(c);
      c.sub(ga(c), d, bits);
      if (c.getZF()) pd(c, gs(c)); else pa(c, d);
    };
  }
  // The destination is written back even when the comparison fails, as on hardware.
  let old = 0;
  const exchange = rmw(dst, (c, v) => {
    old = v;
    c.sub(ga(c), v, bits);
    return c.getZF() ? gs(c) : v;
  }, size);
  return (c) => { exchange(c); if (!c.getZF()) pa(c, old); };
}

export function bswap(x: Ctx): Fn {
  const op = x.ins.operands[0];
  const n = (op as { reg: number }).reg;
  if (x.osz === 2) return (c) => { c.r16[n << 1] = 0; }; // undefined for 16-bit operands; hardware clears the word
  return (c) => {
    const v = c.r[n];
    c.r[n] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
  };
}

export function lahf(): Fn {
  return (c) => { c.r8[1] = (c.getFlags() & 0xd5) | 2; };
}
export function sahf(): Fn {
  return (c) => { c.materialize(); c.flags = (c.flags & ~(SF | ZF | AF | PF | CF)) | (c.r8[1] & (SF | ZF | AF | PF | CF)); };
}

export function flagOp(op: number): Fn {
  switch (op) {
    case 0xf5: return (c) => { c.materialize(); c.flags ^= CF; };
    case 0xf8: return (c) => { c.materialize(); c.flags &= ~CF; };
    case 0xf9: return (c) => { c.materialize(); c.flags |= CF; };
    case 0xfc: return (c) => { c.flags &= ~0x400; };
    default: return (c) => { c.flags |= 0x400; };
  }
}

export function bcd(op: number, x: Ctx): Fn {
  switch (op) {
    case 0x27: return daa;
    case 0x2f: return das;
    case 0x37: return (c) => aaa(c, false);
    case 0x3f: return (c) => aaa(c, true);
    case 0xd4: { const imm = (x.ins.operands[0] as { value: number }).value & 0xff; return (c) => aam(c, imm); }
    default: { const imm = (x.ins.operands[0] as { value: number }).value & 0xff; return (c) => aad(c, imm); }
  }
}

export function xlat(x: Ctx): Fn {
  const seg = x.ins.segOverride >= 0 ? x.ins.segOverride : DS;
  return x.ins.addrSize === 32
    ? (c) => { c.r8[0] = c.rd8(seg, (c.r[3] + c.r8[0]) >>> 0); }
    : (c) => { c.r8[0] = c.rd8(seg, (c.r16[6] + c.r8[0]) & 0xffff); };
}

/** lds/les/lfs/lgs/lss: the far pointer is offset then selector. */
export function loadFar(x: Ctx, s: number): Fn {
  const [dst, src] = x.ins.operands;
  if (src.kind !== 'mem') return () => ud();
  const e = ea(src), seg = src.seg, osz = x.osz;
  const put = writer(dst);
  return (c) => {
    const off = e(c);
    const v = c.rd(seg, off, osz);
    const sel = c.rd16(seg, (off + osz) >>> 0);
    c.loadSeg(s, sel);
    put(c, v);
  };
}

export function bound(x: Ctx): Fn {
  const [idx, src] = x.ins.operands;
  if (src.kind !== 'mem') return () => ud();
  const e = ea(src), seg = src.seg, osz = x.osz;
  const gi = reader(idx);
  return (c) => {
    const off = e(c);
    const lo = signExt(c.rd(seg, off, osz), osz), hi = signExt(c.rd(seg, (off + osz) >>> 0, osz), osz);
    const i = signExt(gi(c), osz);
    if (i < lo || i > hi) fault(EXC.BR);
  };
}

export const SEGS_FOR_LOAD: Record<number, number> = { 0xc4: ES, 0xc5: DS, 0x0fb2: SS, 0x0fb4: FS, 0x0fb5: GS };

/** cmpxchg8b m64 (0F C7 /1): compares EDX:EAX with m64; equal stores ECX:EBX, else loads EDX:EAX. */
export function cmpxchg8b(x: Ctx): Fn {
  const m = x.ins.operands[0];
  if (m === undefined || m.kind !== 'mem') return () => ud();
  const e = ea(m), s = m.seg;
  return (c) => {
    const off = e(c);
    c.rmw(s, off, 4); c.rmw(s, (off + 4) >>> 0, 4);
    const lo = c.rd32(s, off), hi = c.rd32(s, (off + 4) >>> 0);
    c.materialize();
    if (lo === c.r[0] && hi === c.r[2]) {
      c.wr32(s, off, c.r[3]); c.wr32(s, (off + 4) >>> 0, c.r[1]);
      c.flags |= ZF;
    } else {
      // The destination is written back with its own value, as the hardware does.
      c.wr32(s, off, lo); c.wr32(s, (off + 4) >>> 0, hi);
      c.r[0] = lo; c.r[2] = hi;
      c.flags &= ~ZF;
    }
  };
}
