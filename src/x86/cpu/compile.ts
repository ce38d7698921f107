// Compiles one decoded instruction into a closure, dispatching on the
// opcode (and ModRM.reg for groups) rather than on mnemonic text.

import type { Instr } from '../decode/instr';
import { SS } from './cpu';
import { fault, ud, EXC } from './fault';
import * as B from './compile-basic';
import * as F from './compile-flow';
import * as S from './compile-system';
import { stringOp } from './compile-string';
import { ender, normal, type Compiled, type Ctx } from './context';
import type { Fn } from './operands';

export function compile(ins: Instr, eip: number, code32: boolean): Compiled {
  const next = code32 ? (eip + ins.length) >>> 0 : (eip + ins.length) & 0xffff;
  const x: Ctx = { ins, eip, next, len: ins.length, osz: ins.opSize === 32 ? 4 : 2 };
  if (ins.invalid !== undefined || ins.opcode < 0) {
    // Over-long instructions are #GP(0) on hardware, everything else #UD.
    if (ins.invalid !== undefined && ins.invalid.includes('longer than 15')) return normal(() => fault(EXC.GP, 0));
    return normal(() => ud());
  }
  if (ins.lock && !lockOk(ins)) return normal(() => ud());
  const r = compileOp(x);
  return r ?? normal(() => ud());
}

/** Opcodes that accept LOCK (with a memory destination); for groups, the allowed ModRM.reg values. */
const LOCKABLE: Record<number, number[] | true> = {
  0x00: true, 0x01: true, 0x08: true, 0x09: true, 0x10: true, 0x11: true, 0x18: true, 0x19: true,
  0x20: true, 0x21: true, 0x28: true, 0x29: true, 0x30: true, 0x31: true,
  0x80: [0, 1, 2, 3, 4, 5, 6], 0x81: [0, 1, 2, 3, 4, 5, 6], 0x82: [0, 1, 2, 3, 4, 5, 6], 0x83: [0, 1, 2, 3, 4, 5, 6],
  0x86: true, 0x87: true, 0xf6: [2, 3], 0xf7: [2, 3], 0xfe: [0, 1], 0xff: [0, 1],
  0x0fab: true, 0x0fb3: true, 0x0fbb: true, 0x0fba: [5, 6, 7], 0x0fb0: true, 0x0fb1: true,
  0x0fc0: true, 0x0fc1: true, 0x0fc7: [1],
};

function lockOk(ins: Instr): boolean {
  // The locked operand is the memory destination; xchg is printed (and
  // decoded) register-first, so its memory operand may come second.
  const d = ins.opcode === 0x86 || ins.opcode === 0x87 ? ins.operands.find((o) => o.kind === 'mem') : ins.operands[0];
  if (d === undefined || d.kind !== 'mem') return false;
  const l = LOCKABLE[ins.opcode];
  return l === true || (l !== undefined && l.includes(ins.ext));
}

/** x87 escape (D8-DF) at the start of an undecodable instruction: #NM when CR0.EM or CR0.TS, else #UD. */
export function x87Escape(bytes: Uint8Array, pos: number, end: number): Compiled | null {
  let p = pos;
  while (p < end && [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65].includes(bytes[p])) p++;
  if (p >= end || bytes[p] < 0xd8 || bytes[p] > 0xdf) return null;
  return normal((c) => { if ((c.cr0 & 0xc) !== 0) fault(EXC.NM); ud(); });
}

function compileOp(x: Ctx): Compiled | null {
  const ins = x.ins;
  const op = ins.opcode;
  const ops = ins.operands;
  if (op < 0x40 && (op & 7) < 6) return normal(B.aluOp(op >> 3, ops[0], ops[1]));
  if (op >= 0x80 && op <= 0x83) return normal(B.aluOp(ins.ext, ops[0], ops[1]));
  if (op >= 0x40 && op <= 0x4f) return normal(B.incDec(ops[0], op >= 0x48));
  if (op >= 0x50 && op <= 0x57) return normal(B.push(x));
  if (op >= 0x58 && op <= 0x5f) return normal(B.pop(x));
  if (op >= 0x70 && op <= 0x7f) return ender(F.jcc(x));
  if (op >= 0x0f80 && op <= 0x0f8f) return ender(F.jcc(x));
  if (op >= 0x0f90 && op <= 0x0f9f) return normal(B.setcc(x));
  if (op >= 0x0f40 && op <= 0x0f4f) return normal(B.cmovcc(x));
  if (op >= 0x91 && op <= 0x97) return normal(B.xchg(ops[0], ops[1]));
  if (op >= 0xb0 && op <= 0xbf) return normal(B.mov(ops[0], ops[1]));
  if (op >= 0x0fc8 && op <= 0x0fcf) return normal(B.bswap(x));
  if ((op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) || (op >= 0x6c && op <= 0x6f)) return stringOp(x);
  if (S.isVmx(ins.mnemonic)) return S.vmx(x);
  switch (op) {
    case 0x06: case 0x0e: case 0x16: case 0x1e: case 0x0fa0: case 0x0fa8: return normal(B.push(x));
    case 0x07: case 0x1f: case 0x0fa1: case 0x0fa9: return normal(B.pop(x));
    case 0x17: return ender(seqEnd(x, B.pop(x))); // pop ss: interrupt shadow
    case 0x27: case 0x2f: case 0x37: case 0x3f: case 0xd4: case 0xd5: return normal(B.bcd(op, x));
    case 0x60: return normal(B.pusha(x));
    case 0x61: return normal(B.popa(x));
    case 0x62: return normal(B.bound(x));
    case 0x63: return S.arpl(x);
    case 0x68: case 0x6a: return normal(B.push(x));
    case 0x69: case 0x6b: case 0x0faf: return normal(B.imulMulti(x));
    case 0x84: case 0x85: case 0xa8: case 0xa9: return normal(B.testOp(ops[0], ops[1]));
    case 0x86: case 0x87: return normal(B.xchg(ops[0], ops[1]));
    case 0x88: case 0x89: case 0x8a: case 0x8b: case 0xa0: case 0xa1: case 0xa2: case 0xa3: case 0xc6: case 0xc7:
      return normal(B.mov(ops[0], ops[1]));
    case 0x8c: return normal(B.movSreg(x));
    case 0x8e: {
      const f = B.movSreg(x);
      return (ops[0] as { reg: number }).reg === SS ? ender(seqEnd(x, f)) : normal(f);
    }
    case 0x8d: return normal(B.lea(x));
    case 0x8f: return normal(B.pop(x));
    case 0x90: return ins.mnemonic === 'pause' ? S.pause(x) : normal(() => undefined);
    case 0x98: return normal(B.cbw(x));
    case 0x99: return normal(B.cwd(x));
    case 0x9a: return ender(F.farJmpCall(x, true));
    case 0x9b: return normal((c) => { if ((c.cr0 & 0xa) === 0xa) fault(EXC.NM); }); // wait: #NM when TS and MP
    case 0x9c: return S.pushfOp(x);
    case 0x9d: return S.popfOp(x);
    case 0x9e: return normal(B.sahf());
    case 0x9f: return normal(B.lahf());
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: return normal(B.shiftOp(x));
    case 0xc2: case 0xc3: return ender(F.retNear(x));
    case 0xc4: case 0xc5: case 0x0fb2: case 0x0fb4: case 0x0fb5: {
      const f = B.loadFar(x, B.SEGS_FOR_LOAD[op]);
      return op === 0x0fb2 ? ender(seqEnd(x, f)) : normal(f);
    }
    case 0xc8: return normal(F.enter(x));
    case 0xc9: return normal(F.leave(x));
    case 0xca: case 0xcb: return ender(F.retFar(x));
    case 0xcc: case 0xcd: case 0xce: case 0xf1: return ender(F.intN(x));
    case 0xcf: return ender(F.iretOp(x));
    case 0xd7: return normal(B.xlat(x));
    case 0xe0: case 0xe1: case 0xe2: case 0xe3: return ender(F.loop(x, op - 0xe0));
    case 0xe4: case 0xe5: case 0xe6: case 0xe7: case 0xec: case 0xed: case 0xee: case 0xef: return S.inOut(x);
    case 0xe8: return ender(F.callRel(x));
    case 0xe9: case 0xeb: return ender(F.jmpRel(x));
    case 0xea: return ender(F.farJmpCall(x, false));
    case 0xf4: return S.hlt(x);
    case 0xf5: case 0xf8: case 0xf9: case 0xfc: case 0xfd: return normal(B.flagOp(op));
    case 0xf6: case 0xf7: return normal(B.group3(x));
    case 0xfa: return S.cliSti(x, false);
    case 0xfb: return S.cliSti(x, true);
    case 0xfe: return normal(B.incDec(ops[0], ins.ext === 1));
    case 0xff:
      switch (ins.ext) {
        case 0: case 1: return normal(B.incDec(ops[0], ins.ext === 1));
        case 2: return ender(F.nearIndirect(x, true));
        case 3: return ender(F.farJmpCall(x, true));
        case 4: return ender(F.nearIndirect(x, false));
        case 5: return ender(F.farJmpCall(x, false));
        case 6: return normal(B.push(x));
        default: return null;
      }
    // Two-byte opcodes.
    case 0x0f00: case 0x0f01:
      switch (ins.mnemonic) {
        case 'monitor': case 'mwait': case 'xsetbv': case 'rdtscp': return S.unsupportedHooked(x, ins.mnemonic);
        default: return S.descTable(x);
      }
    case 0x0f02: return S.larLsl(x, false);
    case 0x0f03: return S.larLsl(x, true);
    case 0x0f06: return S.clts(x);
    case 0x0f08: return S.privileged(x, 'invd');
    case 0x0f09: return S.privileged(x, 'wbinvd');
    case 0x0f0b: return normal(() => ud());
    // The hint space 0F 18-1F is reserved-NOP: the operand is never accessed.
    case 0x0f18: case 0x0f19: case 0x0f1a: case 0x0f1b: case 0x0f1c: case 0x0f1d: case 0x0f1e: case 0x0f1f:
      return normal(() => undefined);
    case 0x0f20: case 0x0f22: return S.movCr(x);
    case 0x0f21: case 0x0f23: return S.movDr(x);
    case 0x0f30: return S.msr(x, true);
    case 0x0f31: return S.rdtsc(x);
    case 0x0f32: return S.msr(x, false);
    case 0x0f33: return S.rdpmc(x);
    case 0x0fa2: return S.cpuid(x);
    case 0x0fa3: return normal(B.bitTest(x, 0));
    case 0x0fab: return normal(B.bitTest(x, 1));
    case 0x0fb3: return normal(B.bitTest(x, 2));
    case 0x0fbb: return normal(B.bitTest(x, 3));
    case 0x0fba: return normal(B.bitTest(x, ins.ext - 4));
    case 0x0fa4: case 0x0fa5: return normal(B.shiftDoubleOp(x, true));
    case 0x0fac: case 0x0fad: return normal(B.shiftDoubleOp(x, false));
    case 0x0fb0: case 0x0fb1: return normal(B.cmpxchg(x));
    case 0x0fb6: case 0x0fb7: return normal(B.movx(x, false));
    case 0x0fbe: case 0x0fbf: return normal(B.movx(x, true));
    case 0x0fbc: return normal(B.bsfBsr(x, false));
    case 0x0fbd: return normal(B.bsfBsr(x, true));
    case 0x0fc0: case 0x0fc1: return normal(B.xadd(x));
    case 0x0fc7: return ins.mnemonic === 'cmpxchg8b' ? normal(B.cmpxchg8b(x)) : null;
    default: return null;
  }
}

/** Turns a plain instruction into a block ender that sets EIP (mov ss / pop ss / lss). */
function seqEnd(x: Ctx, f: Fn): Fn {
  const next = x.next;
  return (c) => { f(c); c.eip = next; };
}

