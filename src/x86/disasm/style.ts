// ndisasm's presentation rules: which memory operands carry a size keyword,
// which immediates are printed as "byte +0x5" or "dword 0x100", and when an
// operand- or address-size prefix is shown as o16/o32/a16/a32 because the
// instruction text does not otherwise reflect it. ndisasm derives these from
// its instruction templates; here they are keyed by opcode.

import { entryOf } from '../decode/index';
import { Bits, ImmOperand, Instr, MemOperand } from '../decode/instr';

export function hex(v: number, minDigits = 1): string {
  return '0x' + v.toString(16).padStart(minDigits, '0');
}

/** Opcodes whose memory operand never shows a size (its size is implied by the instruction). */
const MEM_SIZE_NEVER = new Set([
  0x8d, 0x62, 0xc4, 0xc5, 0x8c, 0x8e, 0x63,
  0x0f00, 0x0f01, 0x0f02, 0x0f03, 0x0fb2, 0x0fb4, 0x0fb5, 0x0fc7, 0x0f3880, 0x0f3881,
]);

/** Opcodes whose memory operand always shows its size. */
const MEM_SIZE_ALWAYS = new Set([0x8f, 0x0f18, 0x0f19, 0x0f1a, 0x0f1b, 0x0f1c, 0x0f1d, 0x0f1e, 0x0f1f, 0x0f78, 0x0f79, 0x0fb6, 0x0fb7, 0x0fbe, 0x0fbf, 0x0fba]);

export function memSizeShown(ins: Instr, m: MemOperand, bits: Bits): boolean {
  const op = ins.opcode;
  if (m.size === 0) return false;
  if (op === 0x0fc7 && ins.ext === 1) return true; // cmpxchg8b qword [..]
  if (MEM_SIZE_NEVER.has(op)) return false;
  if (op === 0xff) {
    if (ins.ext === 6) return true; // push
    if (ins.ext === 2 || ins.ext === 4 || ins.ext === 3 || ins.ext === 5) return ins.opSize !== bits;
  }
  if ((op === 0x0fb6 || op === 0x0fbe) && ins.opSize === 16) return false;
  if (op >= 0x0f90 && op <= 0x0f9f) return false;
  if (MEM_SIZE_ALWAYS.has(op)) return true;
  // Otherwise the size shows when no register operand pins it down.
  return !ins.operands.some((o) => o.kind === 'reg' && !(o.size === 1 && o.reg === 1 && isShiftByCl(ins)));
}

function isShiftByCl(ins: Instr): boolean {
  return ins.opcode === 0xd2 || ins.opcode === 0xd3;
}

/**
 * The keyword before an immediate: '' (none), 'byte ', 'word ', 'dword ', or
 * 'signed' for sign-extended imm8 forms printed as "byte +0x5".
 */
export function immPrefix(ins: Instr, o: ImmOperand): string {
  const op = ins.opcode;
  if (o.encSize === 1 && o.size > 1) return 'signed'; // 83 /x, 6A, 6B
  if (op === 0xc0 || op === 0xc1 || op === 0x0fba) return 'byte ';
  if (op === 0x68 || op === 0x69) return o.size === 2 ? 'word ' : 'dword ';
  return '';
}

/** Operand codes whose printed form reflects the operand size. */
const OSIZE_CODES = new Set(['Ev', 'Gv', 'Iz', 'Ibs', 'Jz', 'A', 'Ov', 'Zv', 'eAX', 'Mp', 'Ma', 'Rv']);

/**
 * ndisasm shows o16/o32 when a 66 prefix changed nothing visible in the
 * text: byte operations, push/pop of segment registers, short branches...
 */
export function showsOpPrefix(ins: Instr, bits: Bits): boolean {
  if (ins.opSize === bits) return false;
  if (ins.opcode === 0x90) return ins.mnemonic === 'pause'; // else shown as xchg ax,ax / xchg eax,eax
  const e = entryOf(ins);
  if (!e) return true;
  if (/[*|]/.test(e.mnem)) return false;
  const memForm = ins.operands.some((o) => o.kind === 'mem');
  return !e.ops.some((c) => OSIZE_CODES.has(c) || (c === 'Ex' && !memForm));
}

/** Register operands after which ndisasm keeps a 67 prefix hidden in 16-bit code. */
const A32_HIDDEN = new Set([
  0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x0fa0, 0x0fa1, 0x0fa8, 0x0fa9,
  0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0xec, 0xed, 0xee, 0xef, 0xd2, 0xd3, 0x0fa5, 0x0fad,
]);

/**
 * Whether ndisasm shows an unused 67 prefix as a16/a32. It does for
 * instructions without operands in both modes; in 16-bit code also for
 * most all-register forms (a quirk of its template matching).
 */
export function showsAddrPrefix(ins: Instr, bits: Bits): boolean {
  if (ins.addrSize === bits) return false;
  if (ins.operands.length === 0) return !(ins.opcode >= 0xe0 && ins.opcode <= 0xe3);
  if (bits === 32) return false;
  if (A32_HIDDEN.has(ins.opcode) || ins.opcode === 0x90) return false;
  return ins.operands.every((o) => o.kind === 'reg' || o.kind === 'sreg' || o.kind === 'creg' || o.kind === 'dreg');
}

/** 'short ', 'near ', 'word '/'dword ' (non-default size) or '' before a branch target. */
export function branchKeyword(ins: Instr, bits: Bits): string {
  const op = ins.opcode;
  if (op === 0xeb) return 'short ';
  if (op === 0x9a || op === 0xea || op === 0xe8 || op === 0xe9) {
    return ins.opSize === bits ? '' : ins.opSize === 16 ? 'word ' : 'dword ';
  }
  if (op >= 0x0f80 && op <= 0x0f8f) {
    return ins.opSize === bits ? 'near ' : ins.opSize === 16 ? 'word ' : 'dword ';
  }
  return '';
}
