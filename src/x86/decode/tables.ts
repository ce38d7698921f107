// Opcode tables: opcode -> mnemonic + operand pattern. The decoder walks
// these instead of a switch, so adding an instruction is one line here.
//
// Operand codes (after the Intel manual's appendix A, trimmed to what the
// supported set needs):
//   E* ModRM r/m, register or memory      M* ModRM r/m, memory only
//   R* ModRM r/m, register only           G* ModRM reg field, general register
//   U* ModRM r/m as a register whatever mod says (mov CRn/DRn ignore mod)
//   S  ModRM reg field, segment register  C / D  ModRM reg, CRn / DRn
//   I* immediate  (Ibs: imm8 sign-extended to the operand size)
//   J* relative branch   A  direct far pointer   O* moffs (address-size offset)
//   Z* register in the low 3 bits of the opcode
//   AL CL DX eAX fixed registers ("e" = operand size), ES..GS segment registers,
//   1  the implicit count of D0-D3.
// Size suffixes: b=byte w=word d=dword v=operand size (16/32) q=qword
//   p=far pointer (4 or 6 bytes) a=bound pair (2x operand size) s=pseudo-descriptor (6)
//   z=no size (lea, invlpg...), o=16 bytes (shown without size),
//   x=word in memory but operand size as a register (mov sreg, sldt, smsw).
// A mnemonic "a|b" means a for 16-bit operand size, b for 32-bit; "a*" means a
// for the mode's default operand size and a+'w' / a+'d' for the other one
// (ndisasm prints iret in 32-bit code and iretw with a 66 prefix).

export type OperandCode =
  | 'Eb' | 'Ew' | 'Ev' | 'Ed' | 'Ex'
  | 'Mz' | 'Mw' | 'Md' | 'Mq' | 'Mp' | 'Ma' | 'Ms' | 'Mo'
  | 'Rd' | 'Rv' | 'Ud'
  | 'Gb' | 'Gw' | 'Gv' | 'Gd'
  | 'S' | 'C' | 'D'
  | 'Ib' | 'Iw' | 'Iz' | 'Ibs' | 'Ibv'
  | 'Jb' | 'Jz' | 'A'
  | 'Ob' | 'Ov'
  | 'Zb' | 'Zv'
  | 'AL' | 'CL' | 'DX' | 'eAX'
  | 'ES' | 'CS' | 'SS' | 'DS' | 'FS' | 'GS'
  | '1';

/** The instruction accepts a LOCK prefix (when its destination is memory). */
export const F_LOCK = 1;
/** The mnemonic gets a condition code suffix from the low nibble of the opcode. */
export const F_CC = 2;
/** String instruction (rep prefixes apply). */
export const F_STRING = 4;
/**
 * Reserved-NOP (hint) space 0F 18-1F: the mnemonic is hint_nopN, N = the
 * opcode's low three bits * 8 + ModRM.reg, as NASM names it (0F 1F /0 is nop).
 */
export const F_HINT = 8;

export interface OpEntry {
  mnem: string;
  ops: readonly OperandCode[];
  flags: number;
  /** A ModRM byte follows the opcode (some operand is E/M/R/G/S/C/D). */
  modrm: boolean;
}

/** A ModRM-extended group: entry per ModRM.reg; `mod3` overrides for register forms. */
export interface GroupEntry {
  group: readonly (OpEntry | null)[];
  /** Register forms keyed by the whole ModRM byte (0F 01 C1 vmcall...); they take precedence. */
  byModrm?: Readonly<Record<number, OpEntry>>;
}

export type TableEntry = OpEntry | GroupEntry | null;

export const isGroup = (e: OpEntry | GroupEntry): e is GroupEntry => 'group' in e;

function op(mnem: string, ops = '', flags = 0): OpEntry {
  const codes = ops ? (ops.split(',') as OperandCode[]) : [];
  return { mnem, ops: codes, flags, modrm: codes.some((c) => /^[EMRGU][a-z]$|^[SCD]$/.test(c)) };
}

function group(entries: (OpEntry | null)[], byModrm?: Record<number, OpEntry>): GroupEntry {
  return { group: entries, byModrm };
}

/** Condition code names as ndisasm prints them, by the low opcode nibble. */
export const CC_NAMES = ['o', 'no', 'c', 'nc', 'z', 'nz', 'na', 'a', 's', 'ns', 'pe', 'po', 'l', 'nl', 'ng', 'g'];

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
// /6 is an undocumented alias of shl that every IA-32 CPU executes; NASM
// accepts "sal" as input (it assembles it as /4), so the alias prints as sal.
const SHIFT = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];

function shiftGroup(ops: string): GroupEntry {
  return group(SHIFT.map((m) => (m ? op(m, ops) : null)));
}

function aluGroup(ops: string): GroupEntry {
  return group(ALU.map((m) => op(m, ops, m === 'cmp' ? 0 : F_LOCK)));
}

function build(defs: [number, TableEntry][]): TableEntry[] {
  const t: TableEntry[] = new Array(256).fill(null);
  for (const [k, v] of defs) t[k] = v;
  return t;
}

function range(from: number, n: number, f: (i: number) => TableEntry): [number, TableEntry][] {
  return Array.from({ length: n }, (_, i) => [from + i, f(i)] as [number, TableEntry]);
}

export const ONE_BYTE: TableEntry[] = build([
  // 00-3F: the eight ALU operations in six forms each, plus the odd ones out.
  ...ALU.flatMap((m, i): [number, TableEntry][] => {
    const lock = m === 'cmp' ? 0 : F_LOCK;
    return [
      [i * 8 + 0, op(m, 'Eb,Gb', lock)],
      [i * 8 + 1, op(m, 'Ev,Gv', lock)],
      [i * 8 + 2, op(m, 'Gb,Eb')],
      [i * 8 + 3, op(m, 'Gv,Ev')],
      [i * 8 + 4, op(m, 'AL,Ib')],
      [i * 8 + 5, op(m, 'eAX,Iz')],
    ];
  }),
  [0x06, op('push', 'ES')], [0x07, op('pop', 'ES')],
  [0x0e, op('push', 'CS')],
  [0x16, op('push', 'SS')], [0x17, op('pop', 'SS')],
  [0x1e, op('push', 'DS')], [0x1f, op('pop', 'DS')],
  [0x27, op('daa')], [0x2f, op('das')], [0x37, op('aaa')], [0x3f, op('aas')],
  ...range(0x40, 8, () => op('inc', 'Zv')),
  ...range(0x48, 8, () => op('dec', 'Zv')),
  ...range(0x50, 8, () => op('push', 'Zv')),
  ...range(0x58, 8, () => op('pop', 'Zv')),
  [0x60, op('pusha*')], [0x61, op('popa*')],
  [0x62, op('bound', 'Gv,Ma')], [0x63, op('arpl', 'Ew,Gw')],
  [0x68, op('push', 'Iz')], [0x69, op('imul', 'Gv,Ev,Iz')],
  [0x6a, op('push', 'Ibv')], [0x6b, op('imul', 'Gv,Ev,Ibs')],
  [0x6c, op('insb', '', F_STRING)], [0x6d, op('insw|insd', '', F_STRING)],
  [0x6e, op('outsb', '', F_STRING)], [0x6f, op('outsw|outsd', '', F_STRING)],
  ...range(0x70, 16, () => op('j', 'Jb', F_CC)),
  [0x80, aluGroup('Eb,Ib')], [0x81, aluGroup('Ev,Iz')],
  // 82 is an alias of 80 in 16/32-bit code (#UD only in 64-bit mode).
  // ndisasm has no template for it; see docs/decoder.md, "Aliases".
  [0x82, aluGroup('Eb,Ib')],
  [0x83, aluGroup('Ev,Ibs')],
  [0x84, op('test', 'Eb,Gb')], [0x85, op('test', 'Ev,Gv')],
  [0x86, op('xchg', 'Gb,Eb', F_LOCK)], [0x87, op('xchg', 'Gv,Ev', F_LOCK)],
  [0x88, op('mov', 'Eb,Gb')], [0x89, op('mov', 'Ev,Gv')],
  [0x8a, op('mov', 'Gb,Eb')], [0x8b, op('mov', 'Gv,Ev')],
  [0x8c, op('mov', 'Ex,S')], [0x8d, op('lea', 'Gv,Mz')], [0x8e, op('mov', 'S,Ex')],
  [0x8f, group([op('pop', 'Ev'), null, null, null, null, null, null, null])],
  [0x90, op('nop')],
  ...range(0x91, 7, () => op('xchg', 'eAX,Zv')),
  [0x98, op('cbw|cwde')], [0x99, op('cwd|cdq')],
  [0x9a, op('call', 'A')], [0x9b, op('wait')],
  [0x9c, op('pushf*')], [0x9d, op('popf*')],
  [0x9e, op('sahf')], [0x9f, op('lahf')],
  [0xa0, op('mov', 'AL,Ob')], [0xa1, op('mov', 'eAX,Ov')],
  [0xa2, op('mov', 'Ob,AL')], [0xa3, op('mov', 'Ov,eAX')],
  [0xa4, op('movsb', '', F_STRING)], [0xa5, op('movsw|movsd', '', F_STRING)],
  [0xa6, op('cmpsb', '', F_STRING)], [0xa7, op('cmpsw|cmpsd', '', F_STRING)],
  [0xa8, op('test', 'AL,Ib')], [0xa9, op('test', 'eAX,Iz')],
  [0xaa, op('stosb', '', F_STRING)], [0xab, op('stosw|stosd', '', F_STRING)],
  [0xac, op('lodsb', '', F_STRING)], [0xad, op('lodsw|lodsd', '', F_STRING)],
  [0xae, op('scasb', '', F_STRING)], [0xaf, op('scasw|scasd', '', F_STRING)],
  ...range(0xb0, 8, () => op('mov', 'Zb,Ib')),
  ...range(0xb8, 8, () => op('mov', 'Zv,Iz')),
  [0xc0, shiftGroup('Eb,Ib')], [0xc1, shiftGroup('Ev,Ib')],
  [0xc2, op('ret*', 'Iw')], [0xc3, op('ret*')],
  [0xc4, op('les', 'Gv,Mp')], [0xc5, op('lds', 'Gv,Mp')],
  [0xc6, group([op('mov', 'Eb,Ib'), null, null, null, null, null, null, null])],
  [0xc7, group([op('mov', 'Ev,Iz'), null, null, null, null, null, null, null])],
  [0xc8, op('enter', 'Iw,Ib')], [0xc9, op('leave')],
  [0xca, op('retf*', 'Iw')], [0xcb, op('retf*')],
  [0xcc, op('int3')], [0xcd, op('int', 'Ib')], [0xce, op('into')], [0xcf, op('iret*')],
  [0xd0, shiftGroup('Eb,1')], [0xd1, shiftGroup('Ev,1')],
  [0xd2, shiftGroup('Eb,CL')], [0xd3, shiftGroup('Ev,CL')],
  [0xd4, op('aam', 'Ib')], [0xd5, op('aad', 'Ib')],
  [0xd7, op('xlatb')],
  [0xe0, op('loopne', 'Jb')], [0xe1, op('loope', 'Jb')], [0xe2, op('loop', 'Jb')],
  [0xe3, op('jcxz', 'Jb')],
  [0xe4, op('in', 'AL,Ib')], [0xe5, op('in', 'eAX,Ib')],
  [0xe6, op('out', 'Ib,AL')], [0xe7, op('out', 'Ib,eAX')],
  [0xe8, op('call', 'Jz')], [0xe9, op('jmp', 'Jz')], [0xea, op('jmp', 'A')], [0xeb, op('jmp', 'Jb')],
  [0xec, op('in', 'AL,DX')], [0xed, op('in', 'eAX,DX')],
  [0xee, op('out', 'DX,AL')], [0xef, op('out', 'DX,eAX')],
  [0xf1, op('int1')], [0xf4, op('hlt')], [0xf5, op('cmc')],
  // F6/F7 /1 are aliases of test /0 (undocumented, run by every IA-32 CPU).
  [0xf6, group([op('test', 'Eb,Ib'), op('test', 'Eb,Ib'), op('not', 'Eb', F_LOCK), op('neg', 'Eb', F_LOCK),
    op('mul', 'Eb'), op('imul', 'Eb'), op('div', 'Eb'), op('idiv', 'Eb')])],
  [0xf7, group([op('test', 'Ev,Iz'), op('test', 'Ev,Iz'), op('not', 'Ev', F_LOCK), op('neg', 'Ev', F_LOCK),
    op('mul', 'Ev'), op('imul', 'Ev'), op('div', 'Ev'), op('idiv', 'Ev')])],
  [0xf8, op('clc')], [0xf9, op('stc')], [0xfa, op('cli')], [0xfb, op('sti')],
  [0xfc, op('cld')], [0xfd, op('std')],
  [0xfe, group([op('inc', 'Eb', F_LOCK), op('dec', 'Eb', F_LOCK), null, null, null, null, null, null])],
  [0xff, group([op('inc', 'Ev', F_LOCK), op('dec', 'Ev', F_LOCK), op('call', 'Ev'), op('call', 'Mp'),
    op('jmp', 'Ev'), op('jmp', 'Mp'), op('push', 'Ev'), null])],
]);

const BT = ['bt', 'bts', 'btr', 'btc'];

export const TWO_BYTE: TableEntry[] = build([
  [0x00, group([op('sldt', 'Ex'), op('str', 'Ex'), op('lldt', 'Ew'), op('ltr', 'Ew'),
    op('verr', 'Ew'), op('verw', 'Ew'), null, null])],
  [0x01, group(
    [op('sgdt', 'Ms'), op('sidt', 'Ms'), op('lgdt', 'Ms'), op('lidt', 'Ms'), op('smsw', 'Ex'), null, op('lmsw', 'Ew'), op('invlpg', 'Mz')],
    {
      0xc1: op('vmcall'), 0xc2: op('vmlaunch'), 0xc3: op('vmresume'), 0xc4: op('vmxoff'),
      0xc8: op('monitor'), 0xc9: op('mwait'), 0xd1: op('xsetbv'), 0xd4: op('vmfunc'), 0xf9: op('rdtscp'),
    },
  )],
  [0x02, op('lar', 'Gv,Ew')], [0x03, op('lsl', 'Gv,Ew')],
  [0x06, op('clts')], [0x08, op('invd')], [0x09, op('wbinvd')], [0x0b, op('ud2')],
  // Reserved-NOP space: every ModRM form runs as a NOP that does not touch
  // its memory operand (prefetch and the like are hints). Names: see F_HINT
  // and checkSpecial (prefetch*, endbr32/64).
  ...range(0x18, 8, () => op('hint_nop', 'Ev', F_HINT)),
  // The manual says mod is ignored for mov CRn/DRn: the ModRM always names a
  // register and no displacement follows. Assemblers only emit mod=3.
  [0x20, op('mov', 'Ud,C')], [0x21, op('mov', 'Ud,D')],
  [0x22, op('mov', 'C,Ud')], [0x23, op('mov', 'D,Ud')],
  [0x30, op('wrmsr')], [0x31, op('rdtsc')], [0x32, op('rdmsr')], [0x33, op('rdpmc')],
  ...range(0x40, 16, () => op('cmov', 'Gv,Ev', F_CC)),
  [0x78, op('vmread', 'Ed,Gd')], [0x79, op('vmwrite', 'Gd,Ed')],
  ...range(0x80, 16, () => op('j', 'Jz', F_CC)),
  // setcc ignores ModRM.reg on hardware; assemblers only emit /0.
  ...range(0x90, 16, () => op('set', 'Eb', F_CC)),
  [0xa0, op('push', 'FS')], [0xa1, op('pop', 'FS')], [0xa2, op('cpuid')],
  [0xa3, op('bt', 'Ev,Gv')], [0xa4, op('shld', 'Ev,Gv,Ib')], [0xa5, op('shld', 'Ev,Gv,CL')],
  [0xa8, op('push', 'GS')], [0xa9, op('pop', 'GS')],
  [0xab, op('bts', 'Ev,Gv', F_LOCK)], [0xac, op('shrd', 'Ev,Gv,Ib')], [0xad, op('shrd', 'Ev,Gv,CL')],
  [0xaf, op('imul', 'Gv,Ev')],
  [0xb0, op('cmpxchg', 'Eb,Gb', F_LOCK)], [0xb1, op('cmpxchg', 'Ev,Gv', F_LOCK)],
  [0xb2, op('lss', 'Gv,Mp')], [0xb3, op('btr', 'Ev,Gv', F_LOCK)],
  [0xb4, op('lfs', 'Gv,Mp')], [0xb5, op('lgs', 'Gv,Mp')],
  [0xb6, op('movzx', 'Gv,Eb')], [0xb7, op('movzx', 'Gv,Ew')],
  [0xba, group([null, null, null, null, ...BT.map((m) => op(m, 'Ev,Ib', m === 'bt' ? 0 : F_LOCK))])],
  [0xbb, op('btc', 'Ev,Gv', F_LOCK)],
  [0xbc, op('bsf', 'Gv,Ev')], [0xbd, op('bsr', 'Gv,Ev')],
  [0xbe, op('movsx', 'Gv,Eb')], [0xbf, op('movsx', 'Gv,Ew')],
  [0xc0, op('xadd', 'Eb,Gb', F_LOCK)], [0xc1, op('xadd', 'Ev,Gv', F_LOCK)],
  // 0F C7 /6 and /7 depend on the mandatory prefix; see MANDATORY_C7 below.
  ...range(0xc8, 8, () => op('bswap', 'Zv')),
]);

/** 0F C7 memory forms by ModRM.reg and mandatory prefix (none / 66 / F3). */
export const MANDATORY_C7: Readonly<Record<number, { none?: OpEntry; p66?: OpEntry; pF3?: OpEntry }>> = {
  6: { none: op('vmptrld', 'Mq'), p66: op('vmclear', 'Mq'), pF3: op('vmxon', 'Mq') },
  7: { none: op('vmptrst', 'Mq') },
};

/** 0F C7 /1 (memory only): unlike /6 and /7 it takes 66 and F3 as ordinary prefixes. */
export const CMPXCHG8B: OpEntry = op('cmpxchg8b', 'Mq', F_LOCK);

/** 0F 38 map: only the VMX invalidations, which need the 66 prefix. */
export const THREE_BYTE_38: TableEntry[] = build([
  [0x80, op('invept', 'Gd,Mo')],
  [0x81, op('invvpid', 'Gd,Mo')],
]);

/** 0F 18 memory forms without a 66 prefix, by ModRM.reg: the prefetch hints NASM names. */
export const PREFETCH_NAMES: readonly (string | null)[] = [
  'prefetchnta', 'prefetcht0', 'prefetcht1', 'prefetcht2', null, null, 'prefetchit1', 'prefetchit0',
];

/** The name of a hint-space encoding: 0F 1F /0 is nop, the rest hint_nop0..hint_nop63. */
export function hintName(opcode: number, reg: number): string {
  const n = ((opcode & 7) << 3) | (reg & 7);
  return n === 56 ? 'nop' : 'hint_nop' + n;
}

/** Every mnemonic the decoder can produce (for tests and tooling). */
export function supportedMnemonics(): Set<string> {
  const out = new Set<string>(['pause', 'jcxz', 'jecxz', 'endbr32', 'endbr64']);
  for (const p of PREFETCH_NAMES) if (p) out.add(p);
  const add = (e: OpEntry | null | undefined): void => {
    if (!e) return;
    if (e.flags & F_HINT) { for (let n = 0; n < 64; n++) out.add(hintName(0x18 + (n >> 3), n)); return; }
    if (e.flags & F_CC) { for (const c of CC_NAMES) out.add(e.mnem + c); return; }
    if (e.mnem.endsWith('*')) { const b = e.mnem.slice(0, -1); out.add(b); out.add(b + 'w'); out.add(b + 'd'); return; }
    for (const m of e.mnem.split('|')) out.add(m);
  };
  for (const t of [ONE_BYTE, TWO_BYTE, THREE_BYTE_38]) {
    for (const e of t) {
      if (!e) continue;
      if (isGroup(e)) { e.group.forEach(add); Object.values(e.byModrm ?? {}).forEach(add); } else add(e);
    }
  }
  for (const f of Object.values(MANDATORY_C7)) { add(f.none); add(f.p66); add(f.pF3); }
  add(CMPXCHG8B);
  return out;
}
