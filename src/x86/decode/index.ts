// x86 instruction decoder for 16- and 32-bit code. Table driven (see
// tables.ts); this file handles prefixes, the escape bytes, ModRM and the
// construction of operands. decode() never throws.

import {
  AliasKind, Bits, Instr, MemOperand, Operand, OpSize, REP_E, REP_NE, REP_NONE,
} from './instr';
import { ByteReader, decodeMem } from './modrm';
import {
  CC_NAMES, CMPXCHG8B, F_CC, F_HINT, F_LOCK, GroupEntry, hintName, isGroup, MANDATORY_C7, ONE_BYTE, OpEntry, OperandCode,
  PREFETCH_NAMES, TableEntry, THREE_BYTE_38, TWO_BYTE,
} from './tables';

export * from './instr';
export { F_LOCK, F_STRING } from './tables';
export type { OpEntry, OperandCode } from './tables';

/** Architectural limit: longer instructions fault (#GP) on real hardware. */
export const MAX_INSTR_LENGTH = 15;

const TRUNCATED = Symbol('truncated');
const TOO_LONG = Symbol('too long');

class Cursor implements ByteReader {
  p: number;
  constructor(readonly buf: Uint8Array, readonly start: number, readonly end: number) {
    this.p = start;
  }
  u8(): number {
    if (this.p >= this.end) throw TRUNCATED;
    if (this.p - this.start >= MAX_INSTR_LENGTH) throw TOO_LONG;
    return this.buf[this.p++];
  }
  i8(): number { return (this.u8() << 24) >> 24; }
  u16(): number { const lo = this.u8(); return lo | (this.u8() << 8); }
  i16(): number { return (this.u16() << 16) >> 16; }
  u32(): number { return this.i32() >>> 0; }
  i32(): number { const lo = this.u16(); return (lo | (this.u16() << 16)) | 0; }
}

class Invalid {
  constructor(readonly reason: string) {}
}

const MEM_SIZES: Readonly<Record<string, (op: Bits) => OpSize>> = {
  b: () => 1, w: () => 2, d: () => 4, v: (o) => (o === 16 ? 2 : 4), q: () => 8,
  p: (o) => (o === 16 ? 4 : 6), a: (o) => (o === 16 ? 4 : 8), s: () => 6, z: () => 0, o: () => 0,
  x: () => 2,
};

function regSize(code: string, opSize: Bits): 1 | 2 | 4 {
  switch (code[1]) {
    case 'b': return 1;
    case 'w': return 2;
    case 'd': return 4;
    default: return opSize === 16 ? 2 : 4; // v, x
  }
}

const SEG_OPERANDS: Readonly<Record<string, number>> = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5 };

function mask(v: number, size: number): number {
  return size === 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff;
}

function baseInstr(length: number, bits: Bits): Instr {
  return {
    mnemonic: 'db', cc: -1, operands: [], length, opSize: bits, addrSize: bits,
    rep: REP_NONE, lock: false, segOverride: -1, opcode: -1, ext: -1,
  };
}

/**
 * Decode one instruction at buf[pos]. `ip` is the instruction's offset (used
 * for relative branch targets); bytes at or after `end` are not read.
 */
export function decode(buf: Uint8Array, pos: number, bits: Bits, ip: number, end = buf.length): Instr {
  const limit = Math.min(end, buf.length);
  try {
    return decodeAt(new Cursor(buf, pos, limit), bits, ip);
  } catch (e) {
    if (e === TRUNCATED) {
      const ins = baseInstr(Math.max(0, limit - pos), bits);
      ins.truncated = true;
      ins.mode = bits;
      return ins;
    }
    const reason = e instanceof Invalid ? e.reason : e === TOO_LONG ? 'instruction longer than 15 bytes' : `decoder error: ${String(e)}`;
    return invalidInstr(buf, pos, bits, reason);
  }
}

/** The Instr for bytes that are not a supported instruction: `db <first byte>`. */
export function invalidInstr(buf: Uint8Array, pos: number, bits: Bits, reason: string): Instr {
  const ins = baseInstr(1, bits);
  ins.invalid = reason;
  ins.operands = [{ kind: 'imm', size: 1, value: buf[pos] ?? 0, encSize: 1 }];
  ins.mode = bits;
  return ins;
}

interface Prefixes {
  opSize: Bits;
  addrSize: Bits;
  has66: boolean;
  rep: 0 | 1 | 2;
  lock: boolean;
  seg: number;
}

function readPrefixes(c: Cursor, bits: Bits): [Prefixes, number] {
  const p: Prefixes = { opSize: bits, addrSize: bits, has66: false, rep: REP_NONE, lock: false, seg: -1 };
  const other: Bits = bits === 16 ? 32 : 16;
  for (;;) {
    const b = c.u8();
    switch (b) {
      case 0x26: p.seg = 0; break;
      case 0x2e: p.seg = 1; break;
      case 0x36: p.seg = 2; break;
      case 0x3e: p.seg = 3; break;
      case 0x64: p.seg = 4; break;
      case 0x65: p.seg = 5; break;
      case 0x66: p.has66 = true; p.opSize = other; break;
      case 0x67: p.addrSize = other; break;
      case 0xf0: p.lock = true; break;
      case 0xf2: p.rep = REP_NE; break;
      case 0xf3: p.rep = REP_E; break;
      default: return [p, b];
    }
  }
}

function decodeAt(c: Cursor, bits: Bits, ip: number): Instr {
  const [px, b0] = readPrefixes(c, bits);
  let opcode = b0;
  let entry: TableEntry;
  if (b0 === 0x0f) {
    const b1 = c.u8();
    if (b1 === 0x38) {
      const b2 = c.u8();
      opcode = 0x0f3800 | b2;
      entry = px.has66 && px.rep === REP_NONE ? THREE_BYTE_38[b2] : null;
      // The 66 here is a mandatory prefix, not an operand-size override.
      if (entry) px.opSize = bits;
    } else {
      opcode = 0x0f00 | b1;
      entry = TWO_BYTE[b1];
      if (px.rep === REP_E && (b1 === 0xb8 || b1 === 0xbc || b1 === 0xbd || b1 === 0x09)) {
        throw new Invalid('popcnt/tzcnt/lzcnt/wbnoinvd not supported');
      }
      if ((b1 === 0x78 || b1 === 0x79) && (px.has66 || px.rep !== REP_NONE)) {
        throw new Invalid('SSE4a extrq/insertq not supported');
      }
    }
  } else {
    entry = ONE_BYTE[b0];
  }

  let modrm = -1;
  let def: OpEntry | null;
  if (opcode === 0x0fc7) {
    modrm = c.u8();
    const forms = (modrm >> 6) !== 3 ? MANDATORY_C7[(modrm >> 3) & 7] : undefined;
    def = (modrm >> 6) !== 3 && ((modrm >> 3) & 7) === 1 ? CMPXCHG8B : null;
    if (forms) {
      if (px.rep === REP_E) def = forms.pF3 ?? null;
      else if (px.has66 && px.rep === REP_NONE) def = forms.p66 ?? null;
      else if (px.rep === REP_NONE) def = forms.none ?? null;
      // The prefix selected the instruction: it is neither a rep nor an operand size.
      if (px.rep === REP_E) px.rep = REP_NONE;
      else if (px.has66) px.opSize = bits;
    }
  } else if (entry && isGroup(entry)) {
    modrm = c.u8();
    def = groupMember(entry, modrm, px);
  } else {
    def = entry;
  }
  if (!def) throw new Invalid('unsupported opcode');
  // LOCK mov CRn is AMD's alternative encoding of CR8, which 32-bit code cannot use.
  if (px.lock && (opcode === 0x0f20 || opcode === 0x0f22)) throw new Invalid('lock mov cr (CR8 access) not supported');

  const ins = baseInstr(0, bits);
  ins.mode = bits;
  ins.opcode = opcode;
  ins.opSize = px.opSize;
  ins.addrSize = px.addrSize;
  ins.rep = px.rep;
  ins.lock = px.lock;
  ins.segOverride = px.seg;

  if (modrm < 0 && def.modrm) modrm = c.u8();
  if (modrm >= 0) ins.ext = (modrm >> 3) & 7;

  const ops: Operand[] = def.ops.map((code) => operand(code, c, ins, modrm, opcode));
  ins.operands = ops;
  ins.length = c.p - c.start;
  // Branch targets need the length, known only now.
  for (const o of ops) if (o.kind === 'rel') o.target = mask(ip + ins.length + o.disp, ins.opSize / 8);

  ins.mnemonic = mnemonic(def, opcode, ins, bits);
  if (def.flags & F_CC) ins.cc = opcode & 15;
  // Lockable entries only ever have memory as their destination operand.
  if (ins.lock && !((def.flags & F_LOCK) && ops.some((o) => o.kind === 'mem'))) ins.lockInvalid = true;
  checkSpecial(ins, px);
  const alias = aliasKind(opcode, modrm);
  if (alias) ins.alias = alias;
  return ins;
}

/**
 * Encodings real CPUs execute as their documented twin but that assemblers
 * never emit (and ndisasm does not know); see Instr.alias.
 */
function aliasKind(opcode: number, modrm: number): AliasKind | undefined {
  const reg = (modrm >> 3) & 7;
  if (opcode === 0x82) return 'alu-82';
  if ((opcode === 0xf6 || opcode === 0xf7) && reg === 1) return 'test-1';
  if ((opcode === 0xc0 || opcode === 0xc1 || (opcode >= 0xd0 && opcode <= 0xd3)) && reg === 6) return 'sal-6';
  if (opcode >= 0x0f90 && opcode <= 0x0f9f && reg !== 0) return 'setcc-reg';
  if (opcode >= 0x0f20 && opcode <= 0x0f23 && (modrm >> 6) !== 3) return 'crdr-mod';
  return undefined;
}

function groupMember(g: GroupEntry, modrm: number, px: Prefixes): OpEntry | null {
  if ((modrm >> 6) === 3 && g.byModrm) {
    const m = g.byModrm[modrm];
    // F2/F3 0F 01 C1 is another instruction (vmgexit), not supported.
    if (m) return px.rep !== REP_NONE && modrm === 0xc1 ? null : m;
  }
  return g.group[(modrm >> 3) & 7];
}

/**
 * Whether the opcode bytes (after prefixes: [b], [0x0F, b] or [0x0F, 0x38, b])
 * take a ModRM byte, or undefined when the opcode is not supported.
 */
export function opcodeHasModrm(opcode: number[]): boolean | undefined {
  const e = opcode[0] !== 0x0f ? ONE_BYTE[opcode[0]] : opcode[1] === 0x38 ? THREE_BYTE_38[opcode[2]] : TWO_BYTE[opcode[1]];
  if (opcode[0] === 0x0f && opcode[1] === 0xc7) return true;
  if (!e) return undefined;
  return isGroup(e) || e.modrm;
}

const RM_CODES: ReadonlySet<string> = new Set(['Eb', 'Ew', 'Ev', 'Ed', 'Ex', 'Mz', 'Mw', 'Md', 'Mq', 'Mp', 'Ma', 'Ms', 'Mo', 'Rd', 'Rv']);

/**
 * The table entry an Instr was decoded from (null for the few forms keyed
 * by the whole ModRM byte, which have no operands). Lets tools look at the
 * operand pattern without re-decoding.
 */
export function entryOf(ins: Instr): OpEntry | null {
  const op = ins.opcode;
  if (op === 0x0fc7) {
    if (ins.ext === 1) return CMPXCHG8B;
    const forms = MANDATORY_C7[ins.ext];
    return (forms && [forms.none, forms.p66, forms.pF3].find((f) => f?.mnem === ins.mnemonic)) ?? null;
  }
  const e = op >= 0x0f3800 ? THREE_BYTE_38[op & 0xff] : op >= 0x0f00 ? TWO_BYTE[op & 0xff] : op >= 0 ? ONE_BYTE[op] : null;
  const m = e && isGroup(e) ? e.group[ins.ext] : e;
  // Forms named by the whole ModRM byte (vmcall...) and endbr take no operands.
  return m && m.ops.length === ins.operands.length ? m : null;
}

function mnemonic(def: OpEntry, opcode: number, ins: Instr, bits: Bits): string {
  let m = def.mnem;
  if (def.flags & F_CC) return m + CC_NAMES[opcode & 15];
  if (def.flags & F_HINT) return hintName(opcode, ins.ext);
  if (m.endsWith('*')) {
    m = m.slice(0, -1);
    return ins.opSize === bits ? m : m + (ins.opSize === 16 ? 'w' : 'd');
  }
  const bar = m.indexOf('|');
  if (bar >= 0) return ins.opSize === 16 ? m.slice(0, bar) : m.slice(bar + 1);
  if (opcode === 0xe3) return ins.addrSize === 16 ? 'jcxz' : 'jecxz';
  return m;
}

function operand(code: OperandCode, c: Cursor, ins: Instr, modrm: number, opcode: number): Operand {
  const opSize = ins.opSize;
  const osBytes = (opSize / 8) as 2 | 4;
  const kind = code[0];
  if (RM_CODES.has(code)) {
    const isReg = (modrm >> 6) === 3;
    if (kind === 'R' && !isReg) throw new Invalid('memory form of a register-only operand');
    if (isReg) {
      if (kind === 'M') throw new Invalid('register form of a memory-only operand');
      return { kind: 'reg', reg: modrm & 7, size: regSize(code, opSize) };
    }
    return decodeMem(c, modrm, ins.addrSize, ins.segOverride, MEM_SIZES[code[1]](opSize));
  }
  switch (code) {
    case 'Gb': case 'Gw': case 'Gv': case 'Gd':
      return { kind: 'reg', reg: (modrm >> 3) & 7, size: regSize(code, opSize) };
    case 'S': {
      const reg = (modrm >> 3) & 7;
      if (reg > 5) throw new Invalid('no such segment register');
      if (reg === 1 && opcode === 0x8e) throw new Invalid('mov to cs');
      return { kind: 'sreg', reg, size: 2 };
    }
    case 'C': {
      const reg = (modrm >> 3) & 7;
      if (reg === 1 || reg > 4) throw new Invalid('no such control register');
      return { kind: 'creg', reg, size: 4 };
    }
    case 'D':
      return { kind: 'dreg', reg: (modrm >> 3) & 7, size: 4 };
    case 'Ud': return { kind: 'reg', reg: modrm & 7, size: 4 };
    case 'Ib': return { kind: 'imm', size: 1, value: c.u8(), encSize: 1 };
    case 'Iw': return { kind: 'imm', size: 2, value: c.u16(), encSize: 2 };
    case 'Iz':
      return opSize === 16
        ? { kind: 'imm', size: 2, value: c.u16(), encSize: 2 }
        : { kind: 'imm', size: 4, value: c.u32(), encSize: 4 };
    case 'Ibs': case 'Ibv':
      return { kind: 'imm', size: osBytes, value: mask(c.i8(), osBytes), encSize: 1 };
    case 'Jb': return { kind: 'rel', size: 1, disp: c.i8(), target: 0 };
    case 'Jz':
      return opSize === 16
        ? { kind: 'rel', size: 2, disp: c.i16(), target: 0 }
        : { kind: 'rel', size: 4, disp: c.i32(), target: 0 };
    case 'A': {
      const offset = opSize === 16 ? c.u16() : c.u32();
      return { kind: 'far', selector: c.u16(), offset, size: opSize === 16 ? 4 : 6 };
    }
    case 'Ob': case 'Ov': {
      const disp = ins.addrSize === 16 ? c.i16() : c.i32();
      const m: MemOperand = {
        kind: 'mem', size: code === 'Ob' ? 1 : osBytes,
        seg: ins.segOverride >= 0 ? ins.segOverride : 3, segOverride: ins.segOverride >= 0,
        base: -1, index: -1, scale: 1, disp, dispSize: ins.addrSize === 16 ? 2 : 4, addrSize: ins.addrSize,
      };
      return m;
    }
    case 'Zb': return { kind: 'reg', reg: opcode & 7, size: 1 };
    case 'Zv': return { kind: 'reg', reg: opcode & 7, size: osBytes };
    case 'AL': return { kind: 'reg', reg: 0, size: 1 };
    case 'CL': return { kind: 'reg', reg: 1, size: 1 };
    case 'DX': return { kind: 'reg', reg: 2, size: 2 };
    case 'eAX': return { kind: 'reg', reg: 0, size: osBytes };
    case '1': return { kind: 'imm', size: 1, value: 1, encSize: 0 };
    default:
      if (code in SEG_OPERANDS) return { kind: 'sreg', reg: SEG_OPERANDS[code], size: 2 };
      throw new Invalid(`bad operand code ${code}`);
  }
}

/** Encoding rules that do not fit the tables. */
function checkSpecial(ins: Instr, px: Prefixes): void {
  if (ins.opcode === 0x0f18 || ins.opcode === 0x0f1e) hintForms(ins, px);
  if (ins.opcode === 0x90) {
    // 90 is xchg eax,eax; F3 90 is pause; with a 66 prefix ndisasm shows the xchg.
    // ndisasm does not see pause when both 66 and 67 are present (hardware ignores them).
    if (ins.rep === REP_E && !(px.has66 && px.addrSize !== ins.mode)) {
      ins.mnemonic = 'pause';
      ins.rep = REP_NONE;
    }
    else if (px.has66 || px.addrSize !== ins.mode) {
      const size = (ins.opSize / 8) as 2 | 4;
      ins.mnemonic = 'xchg';
      ins.operands = [{ kind: 'reg', reg: 0, size }, { kind: 'reg', reg: 0, size }];
    }
  }
}

/**
 * Hint-space encodings that NASM names as instructions. They stay NOPs for
 * the CPU (no memory access, no fault); only the name and shown size change.
 * NASM has no prefetch template with an operand-size override, so 66 keeps
 * the hint_nop name.
 */
function hintForms(ins: Instr, px: Prefixes): void {
  const o = ins.operands[0];
  if (ins.opcode === 0x0f18) {
    const name = PREFETCH_NAMES[ins.ext];
    if (name && o?.kind === 'mem' && !px.has66) {
      ins.mnemonic = name;
      o.size = 1;
    }
    return;
  }
  // F3 0F 1E FB / FA: CET's endbr32 / endbr64, a NOP without CET.
  if (ins.rep === REP_E && o?.kind === 'reg' && ins.ext === 7 && (o.reg === 3 || o.reg === 2)) {
    ins.mnemonic = o.reg === 3 ? 'endbr32' : 'endbr64';
    ins.operands = [];
    ins.rep = REP_NONE;
  }
}
