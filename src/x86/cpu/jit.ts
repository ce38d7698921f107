// Hot blocks translated into JavaScript source (new Function). Common
// register/memory instructions are emitted inline (with lazy flags written
// directly); anything else calls the instruction's compiled closure. A
// block whose last instruction branches back to its own start loops inside
// the generated function while the instruction budget allows. Where eval is
// not allowed the translation fails once and the closure interpreter runs.

import type { Instr, MemOperand, Operand } from '../decode/instr';
import type { Cpu } from './cpu';
import type { Fn } from './operands';

/** Returns the number of instructions executed; on a fault sets c.jitDone / c.jitIndex and rethrows. */
export type JitFn = (c: Cpu, budget: number) => number;

export interface JitInput { instrs: Instr[]; eips: number[]; fns: Fn[]; endEip: number; endsWithBranch: boolean; eip: number; code32: boolean }

let jitAvailable = true;

const R32 = (n: number): string => `r[${n}]`;

function ea32(m: MemOperand): string | null {
  if (m.addrSize !== 32) return null;
  const parts: string[] = [];
  if (m.base >= 0) parts.push(`r[${m.base}]`);
  if (m.index >= 0) parts.push(m.scale === 1 ? `r[${m.index}]` : `(r[${m.index}] << ${Math.log2(m.scale)})`);
  if (m.disp !== 0 || parts.length === 0) parts.push(String(m.disp | 0));
  return `((${parts.join(' + ')}) >>> 0)`;
}

/** Source reading a 32-bit operand as int32, or null. */
function src32(op: Operand): string | null {
  if (op.kind === 'reg' && op.size === 4) return R32(op.reg);
  if (op.kind === 'imm') return String(op.value | 0);
  if (op.kind === 'mem' && op.size === 4) { const e = ea32(op); return e ? `c.rd32(${op.seg}, ${e})` : null; }
  return null;
}

const ALU_SRC: Record<number, string> = {
  0: 'ADD', 1: 'OR', 4: 'AND', 5: 'SUB', 6: 'XOR', 7: 'CMP',
};

function aluBody(kind: string, a: string, b: string): string {
  switch (kind) {
    case 'ADD': return `{ const x = ${a}, y = ${b}, t = (x + y) | 0; c.lop = 1; c.la = x; c.lb = y; c.lr = t; c.lsz = 32; RES = t; }`;
    case 'SUB': case 'CMP': return `{ const x = ${a}, y = ${b}, t = (x - y) | 0; c.lop = 3; c.la = x; c.lb = y; c.lr = t; c.lsz = 32; RES = t; }`;
    case 'AND': return `{ const t = ${a} & ${b}; c.lop = 7; c.lr = t; c.lsz = 32; RES = t; }`;
    case 'OR': return `{ const t = ${a} | ${b}; c.lop = 7; c.lr = t; c.lsz = 32; RES = t; }`;
    default: return `{ const t = ${a} ^ ${b}; c.lop = 7; c.lr = t; c.lsz = 32; RES = t; }`;
  }
}

const COND_SRC: Record<number, string> = {
  4: '(c.lop === 0 ? (c.flags & 0x40) !== 0 : c.lr === 0)',
  5: '(c.lop === 0 ? (c.flags & 0x40) === 0 : c.lr !== 0)',
};

interface Emitted { code: string; mayExit: boolean }

/** Inline source for one non-branch instruction, or null to call its closure. */
function emitInline(ins: Instr): Emitted | null {
  if (ins.opSize !== 32 || ins.addrSize !== 32 || ins.lock) return null;
  const op = ins.opcode;
  const o = ins.operands;
  // mov
  if (op === 0x89 || op === 0x8b || op === 0xa1 || op === 0xa3 || (op >= 0xb8 && op <= 0xbf) || op === 0xc7) {
    const [d, s] = o;
    const sv = src32(s);
    if (sv === null) return null;
    if (d.kind === 'reg' && d.size === 4) return { code: `${R32(d.reg)} = ${sv};`, mayExit: false };
    if (d.kind === 'mem' && d.size === 4) { const e = ea32(d); if (e) return { code: `c.wr32(${d.seg}, ${e}, ${sv});`, mayExit: true }; }
    return null;
  }
  // alu r/m32, r32/imm and r32, r/m32
  let kind: string | undefined;
  if (op < 0x40 && (op & 7) < 6 && (op & 7) !== 0 && (op & 7) !== 2 && (op & 7) !== 4) kind = ALU_SRC[op >> 3];
  else if (op === 0x81 || op === 0x83) kind = ALU_SRC[ins.ext];
  if (kind !== undefined) {
    const [d, s] = o;
    const sv = src32(s);
    if (sv === null) return null;
    if (d.kind === 'reg' && d.size === 4) {
      const body = aluBody(kind, R32(d.reg), sv);
      return { code: kind === 'CMP' ? body.replace('RES = t;', '') : body.replace('RES', R32(d.reg)), mayExit: false };
    }
    if (d.kind === 'mem' && d.size === 4 && kind !== 'CMP') {
      const e = ea32(d);
      if (e) return { code: rmw32(d.seg, e, aluBody(kind, 'x0', sv)), mayExit: true };
    }
    if (d.kind === 'mem' && d.size === 4 && kind === 'CMP') {
      const e = ea32(d);
      if (e) return { code: aluBody(kind, `c.rd32(${d.seg}, ${e})`, sv).replace('RES = t;', ''), mayExit: false };
    }
    return null;
  }
  if (op === 0x85 && o[0].kind === 'reg' && o[1].kind === 'reg' && o[0].size === 4) {
    return { code: `{ const t = r[${o[0].reg}] & r[${o[1].reg}]; c.lop = 7; c.lr = t; c.lsz = 32; }`, mayExit: false };
  }
  if (op === 0xff && ins.ext <= 1 && o[0].kind === 'mem' && o[0].size === 4) {
    const e = ea32(o[0]);
    const dec = ins.ext === 1;
    if (e) {
      return {
        code: rmw32(o[0].seg, e, `{ const cf = c.getCF(), t = (x0 ${dec ? '-' : '+'} 1) | 0; c.flags = (c.flags & ~1) | cf; c.lop = ${dec ? 6 : 5}; c.la = x0; c.lb = 1; c.lr = t; c.lsz = 32; RES = t; }`),
        mayExit: true,
      };
    }
  }
  // inc/dec r32
  if ((op >= 0x40 && op <= 0x4f) || ((op === 0xff) && ins.ext <= 1 && o[0].kind === 'reg')) {
    const d = o[0];
    if (d.kind !== 'reg' || d.size !== 4) return null;
    const dec = op >= 0x48 && op <= 0x4f || (op === 0xff && ins.ext === 1);
    return {
      code: `{ const cf = c.getCF(), x = r[${d.reg}], t = (x ${dec ? '-' : '+'} 1) | 0; c.flags = (c.flags & ~1) | cf; c.lop = ${dec ? 6 : 5}; c.la = x; c.lb = 1; c.lr = t; c.lsz = 32; r[${d.reg}] = t; }`,
      mayExit: false,
    };
  }
  if (op >= 0x50 && op <= 0x57) return { code: `c.push32(r[${op - 0x50}]);`, mayExit: true };
  if (op >= 0x58 && op <= 0x5f) return { code: `r[${op - 0x58}] = c.pop32();`, mayExit: false };
  if (op === 0x8d && o[1].kind === 'mem' && o[0].kind === 'reg' && o[0].size === 4) {
    const e = ea32(o[1]);
    if (e) return { code: `r[${o[0].reg}] = ${e};`, mayExit: false };
  }
  if (op === 0x90 && ins.mnemonic === 'nop') return { code: '', mayExit: false };
  return null;
}

/** Read-modify-write of a 32-bit memory operand; `body` reads x0 and assigns RES. */
function rmw32(seg: number, e: string, body: string): string {
  return `{ const o = ${e}, p = c.rmw(${seg}, o, 4); const x0 = p >= 0 ? c.mem.read32(p) : c.rd32(${seg}, o); let y0 = 0; ${body.replace('RES', 'y0')} if (p >= 0) c.mem.write32(p, y0); else c.wr32(${seg}, o, y0); }`;
}

/** Builds the block function, or null when translation is unavailable. */
export function translate(b: JitInput): JitFn | null {
  if (!jitAvailable || !b.code32) return null;
  const n = b.instrs.length;
  const lines: string[] = [];
  const last = n - 1;
  const lastIns = b.instrs[last];
  /** EIP after instruction k of the block (the next one's address, or the block's end). */
  const after = (k: number): number => b.eips[k + 1] ?? b.endEip;
  for (let k = 0; k < n; k++) {
    const ins = b.instrs[k];
    lines.push(`i = ${k};`);
    const isLast = k === last && b.endsWithBranch;
    if (isLast) {
      const op = lastIns.opcode;
      const rel = lastIns.operands[0];
      if (((op >= 0x70 && op <= 0x7f) || (op >= 0x0f80 && op <= 0x0f8f)) && rel && rel.kind === 'rel' && lastIns.opSize === 32) {
        const t = (b.endEip + rel.disp) >>> 0;
        const cond = COND_SRC[lastIns.cc] ?? `c.cond(${lastIns.cc})`;
        const loops = t === b.eip;
        lines.push(`if (${cond}) {`);
        if (loops) lines.push(`  n += ${n}; if (n + ${n} <= budget && !c.exitReq) continue; c.eip = ${t}; return n;`);
        else lines.push(`  if (${t} > c.seg[1].limit) { f[${k}](c); } else c.eip = ${t}; return n + ${n};`);
        lines.push(`}`);
        lines.push(`c.eip = ${b.endEip}; return n + ${n};`);
        continue;
      }
      if ((op === 0xe9 || op === 0xeb) && rel && rel.kind === 'rel' && lastIns.opSize === 32) {
        const t = (b.endEip + rel.disp) >>> 0;
        if (t === b.eip) lines.push(`n += ${n}; if (n + ${n} <= budget && !c.exitReq) continue; c.eip = ${t}; return n;`);
        else lines.push(`f[${k}](c); return n + ${n};`);
        continue;
      }
      if (op === 0xe8 && rel && rel.kind === 'rel' && lastIns.opSize === 32 && lastIns.addrSize === 32) {
        const t = (b.endEip + rel.disp) >>> 0;
        lines.push(`if (${t} > c.seg[1].limit) { f[${k}](c); return n + ${n}; }`);
        lines.push(`c.push32(${b.endEip}); c.eip = ${t}; return n + ${n};`);
        continue;
      }
      if (op === 0xc3 && lastIns.opSize === 32) {
        lines.push(`if (!c.stack32) { f[${k}](c); return n + ${n}; }`);
        lines.push(`{ const sp = r[4] >>> 0, t = c.rd32(2, sp) >>> 0; if (t > c.seg[1].limit) { f[${k}](c); return n + ${n}; } r[4] = sp + 4; c.eip = t; return n + ${n}; }`);
        continue;
      }
      lines.push(`f[${k}](c); return n + ${n};`);
      continue;
    }
    const op = ins.opcode;
    const rel = ins.operands[0];
    if ((op === 0xe8 || op === 0xe9 || op === 0xeb) && rel !== undefined && rel.kind === 'rel') {
      // A direct jmp/call followed inside the block.
      const next = ins.opSize === 32 ? (b.eips[k] + ins.length) >>> 0 : (b.eips[k] + ins.length) & 0xffff;
      const t = after(k);
      lines.push(`if (${t} > c.seg[1].limit) f[${k}](c);`);
      if (op === 0xe8) lines.push(ins.opSize === 32 ? `c.push32(${next});` : `c.push16(${next});`);
      lines.push(`if (c.exitReq) { c.eip = ${t}; return n + ${k + 1}; }`);
      continue;
    }
    if (op === 0xc3) {
      // A guarded return inside the block (see Engine.build).
      const expected = after(k);
      const slow = `f[${k}](c); if (c.exitReq) { if (!c.keepEip) c.eip = ${expected}; c.keepEip = false; return n + ${k + 1}; }`;
      if (ins.opSize === 32) {
        lines.push(`if (c.stack32) { const sp = r[4] >>> 0; if ((c.rd32(2, sp) >>> 0) === ${expected}) r[4] = sp + 4; else { ${slow} } } else { ${slow} }`);
      } else {
        lines.push(slow);
      }
      continue;
    }
    const em = emitInline(ins);
    if (em !== null) {
      lines.push(em.code);
      if (em.mayExit) lines.push(`if (c.exitReq) { c.eip = ${after(k)}; return n + ${k + 1}; }`);
    } else {
      lines.push(`f[${k}](c);`);
      lines.push(`if (c.exitReq) { c.eip = ${after(k)}; return n + ${k + 1}; }`);
    }
  }
  if (!b.endsWithBranch) lines.push(`c.eip = ${b.endEip}; return n + ${n};`);
  const src = `"use strict"; return function block(c, budget) {\n const r = c.r; let n = 0, i = 0;\n try { for (;;) {\n${lines.join('\n')}\n } } catch (e) { c.jitDone = n; c.jitIndex = i; throw e; }\n};`;
  try {
    const make = new Function('f', src) as (f: Fn[]) => JitFn;
    return make(b.fns);
  } catch {
    jitAvailable = false;
    return null;
  }
}
