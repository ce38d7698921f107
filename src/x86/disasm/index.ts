// NASM-syntax disassembler: prints a decoded Instr the way ndisasm 2.16
// does, so listings in the debugger match what users see from the tools.
// The rules for when ndisasm adds size keywords and shows unused prefixes
// are ndisasm's, learned by comparison (see test/disasm); they live in
// style.ts so this file only assembles the text.

import { decode, entryOf, F_LOCK } from '../decode/index';
import { Bits, Instr, MemOperand, Operand, REP_NE } from '../decode/instr';
import { hex, memSizeShown, immPrefix, showsAddrPrefix, showsOpPrefix, branchKeyword } from './style';

export interface DisasmLine {
  address: number;
  bytes: Uint8Array;
  text: string;
  instr: Instr;
}

const REG8 = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
const REG16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const REG32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const SREG = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'segr6', 'segr7'];
const SIZE_WORD: Readonly<Record<number, string>> = { 1: 'byte ', 2: 'word ', 4: 'dword ', 8: 'qword ', 10: 'tword ' };

export function regName(reg: number, size: 1 | 2 | 4): string {
  return (size === 1 ? REG8 : size === 2 ? REG16 : REG32)[reg & 7];
}

export function sregName(reg: number): string {
  return SREG[reg & 7];
}

function formatMem(ins: Instr, m: MemOperand, sizeShown: boolean, bits: Bits): string {
  let s = '';
  if (isFarIndirect(ins)) s = (ins.opSize === bits ? '' : SIZE_WORD[ins.opSize / 8]) + 'far ';
  else if (sizeShown && m.size) s = SIZE_WORD[m.size] ?? '';
  s += '[';
  const seg = m.segOverride ? sregName(m.seg) + ':' : '';
  const absolute = m.base < 0 && m.index < 0;
  // ndisasm's address-size keyword: before the segment for ModRM forms,
  // after it for moffs; the ModRM absolute form (mod=0 rm=5) always has one,
  // the SIB absolute form only when the address size is not the mode's, and
  // in 16-bit code every SIB form carries "dword".
  let addrWord = '';
  if (absolute) {
    if (m.addrSize !== bits || (m.addrSize === 32 && !m.sib && !isMoffs(ins))) addrWord = m.addrSize === 16 ? 'word ' : 'dword ';
  } else if (bits === 16 && m.addrSize === 32 && m.sib) {
    addrWord = 'dword ';
  }
  s += isMoffs(ins) ? seg + addrWord : addrWord + seg;
  const regs = m.addrSize === 16 ? REG16 : REG32;
  let started = false;
  if (m.base >= 0) { s += regs[m.base]; started = true; }
  if (m.index >= 0) {
    if (started) s += '+';
    s += regs[m.index];
    if (m.scale > 1) s += '*' + m.scale;
    started = true;
  }
  if (m.dispSize) {
    if (started) s += (m.disp < 0 ? '-' : '+') + hex(Math.abs(m.disp));
    else s += hex(m.addrSize === 16 ? m.disp & 0xffff : m.disp >>> 0);
  }
  return s + ']';
}

const HLE_GROUPS = new Set([0x80, 0x81, 0x82, 0x83, 0xf6, 0xf7, 0xfe, 0xff, 0x0fba]);

// F2/F3 as ndisasm names them: HLE hints on locked or xchg/mov-to-memory
// forms, BND on near branches, otherwise rep/repe/repne.
function repName(ins: Instr, hasMem: boolean): string {
  const op = ins.opcode;
  const f2 = ins.rep === REP_NE;
  const lockable = ins.lock && ((entryOf(ins)?.flags ?? 0) & F_LOCK) !== 0;
  // ndisasm's HLE templates: locked memory forms, and the register forms of
  // the group opcodes, whose templates cover both.
  if ((lockable && (hasMem || HLE_GROUPS.has(op))) || (hasMem && (op === 0x86 || op === 0x87))) {
    return f2 ? 'xacquire' : 'xrelease';
  }
  if (!f2 && ((hasMem && (op === 0x88 || op === 0x89)) || op === 0xc6 || op === 0xc7)) return 'xrelease';
  if (f2) return isBranch(ins) ? 'bnd' : 'repne';
  return /^(cmps|scas)/.test(ins.mnemonic) ? 'repe' : 'rep';
}

// ndisasm reads F2 on a near branch as the MPX BND prefix.
function isBranch(ins: Instr): boolean {
  const op = ins.opcode;
  return (op >= 0x70 && op <= 0x7f) || (op >= 0x0f80 && op <= 0x0f8f) || op === 0xe8 || op === 0xe9 ||
    op === 0xc2 || op === 0xc3 || (op === 0xff && (ins.ext === 2 || ins.ext === 4));
}

function isMoffs(ins: Instr): boolean {
  return ins.opcode >= 0xa0 && ins.opcode <= 0xa3;
}

function isFarIndirect(ins: Instr): boolean {
  return (ins.opcode === 0xff && (ins.ext === 3 || ins.ext === 5));
}

function formatOperand(ins: Instr, o: Operand, bits: Bits): string {
  switch (o.kind) {
    case 'reg': return regName(o.reg, o.size);
    case 'sreg': return sregName(o.reg);
    case 'creg': return 'cr' + o.reg;
    case 'dreg': return 'dr' + o.reg;
    case 'mem': return formatMem(ins, o, memSizeShown(ins, o, bits), bits);
    case 'imm': {
      if (o.encSize === 0) return String(o.value);
      const p = immPrefix(ins, o);
      if (p === 'signed') {
        const v = o.value >= 2 ** (o.size * 8 - 1) ? o.value - 2 ** (o.size * 8) : o.value;
        return 'byte ' + (v < 0 ? '-' : '+') + hex(Math.abs(v));
      }
      return p + hex(o.value);
    }
    case 'rel': return branchKeyword(ins, bits) + hex(o.target);
    case 'far': return branchKeyword(ins, bits) + hex(o.selector) + ':' + hex(o.offset);
  }
}

/** ndisasm's text for one decoded instruction (`bits` is the code's mode). */
export function formatInstr(instr: Instr, bits: Bits = instr.mode ?? instr.opSize): string {
  if (instr.invalid || instr.truncated) {
    const b = instr.operands[0];
    return b && b.kind === 'imm' ? 'db ' + hex(b.value, 2) : 'db';
  }
  const pfx: string[] = [];
  const hasMem = instr.operands.some((o) => o.kind === 'mem');
  if (instr.segOverride >= 0 && !hasMem) pfx.push(sregName(instr.segOverride));
  if (instr.rep !== 0) pfx.push(repName(instr, hasMem));
  if (instr.lock) pfx.push('lock');
  if (showsOpPrefix(instr, bits)) pfx.push(instr.opSize === 16 ? 'o16' : 'o32');
  if (showsAddrPrefix(instr, bits)) pfx.push(instr.addrSize === 16 ? 'a16' : 'a32');
  // ndisasm's name for the 16-bit near return with an immediate in 32-bit code.
  const mnemonic = instr.opcode === 0xc2 && instr.mnemonic === 'retw' ? 'retnw' : instr.mnemonic;
  let text = pfx.map((p) => p + ' ').join('') + mnemonic;
  // aam/aad with the usual base 10 are shown without it.
  const implicitTen = (instr.opcode === 0xd4 || instr.opcode === 0xd5) && instr.addrSize === bits &&
    instr.operands[0]?.kind === 'imm' && instr.operands[0].value === 10;
  const ops = implicitTen ? [] : instr.operands.map((o) => formatOperand(instr, o, bits));
  if (isLoopWithCounter(instr, bits)) ops.push(instr.addrSize === 16 ? 'cx' : 'ecx');
  if (ops.length) text += ' ' + ops.join(',');
  return text;
}

function isLoopWithCounter(ins: Instr, bits: Bits): boolean {
  return ins.opcode >= 0xe0 && ins.opcode <= 0xe2 && ins.addrSize !== bits;
}

/** Disassemble a whole buffer, linear sweep, the way ndisasm walks a file. */
export function disassemble(bytes: Uint8Array, bits: Bits, org = 0): DisasmLine[] {
  const out: DisasmLine[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const instr = decode(bytes, pos, bits, org + pos);
    const len = instr.truncated || instr.invalid || instr.length === 0 ? 1 : instr.length;
    const shown = instr.truncated
      ? { ...instr, operands: [{ kind: 'imm' as const, size: 1 as const, value: bytes[pos], encSize: 1 as const }] }
      : instr;
    out.push({ address: org + pos, bytes: bytes.subarray(pos, pos + len), text: formatInstr(shown, bits), instr });
    pos += len;
  }
  return out;
}
