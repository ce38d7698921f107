// Control flow: near and far jumps, calls and returns, loops, software
// interrupts, iret, enter/leave. Every instruction here ends its block and
// sets EIP itself.

import type { Operand } from '../decode/instr';
import { CS, SS, type Cpu } from './cpu';
import { EXC, fault, ud } from './fault';
import { OF } from './flags';
import { raiseException, softwareInterrupt } from './interrupts';
import { ea, reader, type Fn } from './operands';
import { farCall, farJmp, farRet, iret } from './transfers';
import type { Ctx } from './context';

function target(x: Ctx, op: Operand): number {
  const disp = op.kind === 'rel' ? op.disp : 0;
  const t = x.next + disp;
  return x.osz === 2 ? t & 0xffff : t >>> 0;
}

function checkTarget(c: Cpu, t: number): void {
  if (t > c.seg[CS].limit) fault(EXC.GP, 0);
}

export function jcc(x: Ctx): Fn {
  const t = target(x, x.ins.operands[0]);
  const next = x.next, cc = x.ins.cc;
  // jz/jnz (the usual loop branches) test the lazy result directly instead of going through cond().
  if (cc === 5) return (c) => { if (c.getZF()) c.eip = next; else { checkTarget(c, t); c.eip = t; } };
  if (cc === 4) return (c) => { if (!c.getZF()) c.eip = next; else { checkTarget(c, t); c.eip = t; } };
  return (c) => {
    if (c.cond(cc)) { checkTarget(c, t); c.eip = t; } else c.eip = next;
  };
}

export function jmpRel(x: Ctx): Fn {
  const t = target(x, x.ins.operands[0]);
  return (c) => { checkTarget(c, t); c.eip = t; };
}

export function callRel(x: Ctx): Fn {
  const t = target(x, x.ins.operands[0]);
  const next = x.next, osz = x.osz;
  if (osz === 4) return (c) => { checkTarget(c, t); c.push32(next); c.eip = t; };
  return (c) => { checkTarget(c, t); c.push16(next); c.eip = t; };
}

/** FF /2 /4: near indirect call/jmp. */
export function nearIndirect(x: Ctx, call: boolean): Fn {
  const op = x.ins.operands[0];
  const osz = x.osz;
  const get = reader(op, osz);
  const next = x.next;
  return (c) => {
    const t = get(c);
    checkTarget(c, t);
    if (call) c.push(next, osz);
    c.eip = t;
  };
}

/** Far jmp/call, direct (ptr16:xx) or through memory (m16:xx). */
export function farJmpCall(x: Ctx, call: boolean): Fn {
  const op = x.ins.operands[0];
  const osz = x.osz;
  const next = x.next;
  let fetch: (c: Cpu) => [number, number];
  if (op.kind === 'far') {
    const sel = op.selector, off = op.offset >>> 0;
    fetch = () => [sel, off];
  } else if (op.kind === 'mem') {
    const e = ea(op), s = op.seg;
    fetch = (c) => { const a = e(c); return [c.rd16(s, (a + osz) >>> 0), c.rd(s, a, osz)]; };
  } else {
    return () => ud();
  }
  return (c) => {
    const [sel, off] = fetch(c);
    if (call) { c.eip = next; try { farCall(c, sel, off, osz); } catch (e) { c.eip = x.eip; throw e; } }
    else { c.eip = next; farJmp(c, sel, off); }
  };
}

export function retNear(x: Ctx): Fn {
  const ops = x.ins.operands;
  const imm = ops.length ? (ops[0] as { value: number }).value & 0xffff : 0;
  const osz = x.osz;
  if (osz === 4 && imm === 0) {
    return (c) => {
      const t = c.peek(0, 4);
      checkTarget(c, t);
      c.sp = c.sp + 4;
      c.eip = t;
    };
  }
  return (c) => {
    const t = c.peek(0, osz);
    checkTarget(c, t);
    c.sp = c.sp + osz + imm;
    c.eip = t;
  };
}

export function retFar(x: Ctx): Fn {
  const ops = x.ins.operands;
  const imm = ops.length ? (ops[0] as { value: number }).value & 0xffff : 0;
  const osz = x.osz;
  return (c) => farRet(c, osz, imm);
}

/** loop/loope/loopne/jcxz: the counter is CX or ECX by address size. */
export function loop(x: Ctx, kind: number): Fn {
  const t = target(x, x.ins.operands[0]);
  const next = x.next;
  const a32 = x.ins.addrSize === 32;
  return (c) => {
    let go: boolean;
    if (kind === 3) go = a32 ? c.r[1] === 0 : c.r16[2] === 0;
    else {
      let n: number;
      if (a32) { n = (c.r[1] - 1) | 0; c.r[1] = n; } else { n = (c.r16[2] - 1) & 0xffff; c.r16[2] = n; }
      go = n !== 0;
      if (kind === 0) go = go && !c.getZF();
      else if (kind === 1) go = go && c.getZF();
    }
    if (go) { checkTarget(c, t); c.eip = t; } else c.eip = next;
  };
}

export function intN(x: Ctx): Fn {
  const next = x.next;
  const op = x.ins.opcode;
  if (op === 0xcc) return (c) => { c.eip = next; softwareInterrupt(c, 3, 'software-exception'); };
  if (op === 0xf1) return (c) => { c.eip = next; raiseException(c, EXC.DB, -1, 'trap'); };
  if (op === 0xce) {
    return (c) => { c.eip = next; if (c.getOF()) softwareInterrupt(c, EXC.OF, 'software-exception'); };
  }
  const v = (x.ins.operands[0] as { value: number }).value & 0xff;
  return (c) => { c.eip = next; softwareInterrupt(c, v); };
}

export function iretOp(x: Ctx): Fn {
  const osz = x.osz, ins = x.ins, len = x.len, self = x.eip, next = x.next;
  return (c) => {
    c.eip = self;
    const h = c.intercept.iret;
    if (h !== undefined && h(c, ins, len)) return;
    iret(c, osz, next);
  };
}

export function enter(x: Ctx): Fn {
  const [a, b] = x.ins.operands as { value: number }[];
  const size = a.value & 0xffff, level = b.value & 31;
  const osz = x.osz;
  return (c) => {
    const sp0 = c.r[4], bp0 = c.r[5];
    try {
      c.push(osz === 4 ? c.r[5] : c.r16[10], osz);
      const frame = c.sp;
      if (level > 0) {
        for (let i = 1; i < level; i++) {
          if (c.stack32) c.r[5] = c.r[5] - osz; else c.r16[10] = c.r16[10] - osz;
          const bp = c.stack32 ? c.r[5] >>> 0 : c.r16[10];
          c.push(c.rd(SS, bp, osz), osz);
        }
        c.push(frame, osz);
      }
      if (osz === 4) c.r[5] = frame; else c.r16[10] = frame;
      c.sp = c.sp - size;
      // The new stack top must be writable (a #SS here is reported before anything changes).
      if (size > 0) c.rmw(SS, c.sp, 1);
    } catch (e) { c.r[4] = sp0; c.r[5] = bp0; throw e; }
  };
}

export function leave(x: Ctx): Fn {
  const osz = x.osz;
  return (c) => {
    const bp = c.stack32 ? c.r[5] >>> 0 : c.r16[10];
    const v = c.rd(SS, bp, osz);
    c.sp = bp + osz;
    if (osz === 4) c.r[5] = v; else c.r16[10] = v;
  };
}

export { OF };
