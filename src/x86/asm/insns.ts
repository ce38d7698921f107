// The instruction table, in the spirit of nasm's insns.dat: one row per encoding form, tried in order.
// Row syntax:  MNEMONIC  slot,slot,...  roles  encoding...
//   slots  r8 r16 r32, rm8 rm16 rm32, m (any memory), mu (memory without size keyword), m8 m16 m32 m64,
//          al ax eax cl dx cx ecx, es cs ss ds fs gs, sreg creg dreg,
//          imm8 imm16 imm32, sbx (byte-sized immediate), sb16 sb32 (fits a sign-extended byte),
//          one (literal 1), rel8 rel16 rel32, far16 far32 (seg:off), mfar16 mfar32 (far memory),
//          moffs8 moffs16 moffs32, void (no operands)
//   roles  one letter per operand: r = ModRM.reg or opcode+r, m = ModRM.rm, b = both, i = immediate,
//          j = jump target, f = far pointer, o = moffs, - = implied
//   encoding: o16/o32 (operand size), a16/a32 (address size), hex bytes, XX+r, /r, /0-/7,
//          ib iw id (immediates), ibs (sign-extended byte), ibu (unsigned byte), rb rw rd (relative), far, moffs
//   flags (after `;`): sz = an unsized immediate takes the operand size of the current BITS

export interface InsnForm {
  mnemonic: string;
  slots: string[];
  /** Operand size of each slot in bits, when the slot has one (r16 → 16, moffs8 → 8). */
  sizes: (number | undefined)[];
  roles: string;
  code: string[];
  sz: boolean;
  /** This mnemonic also has a near (rel16/rel32) form, so its rel8 form may grow. */
  hasNear: boolean;
}

const rows: string[] = [];

function row(s: string): void {
  rows.push(s);
}

const CC: [string, number][] = [
  ['o', 0], ['no', 1], ['b', 2], ['c', 2], ['nae', 2], ['nb', 3], ['nc', 3], ['ae', 3], ['e', 4], ['z', 4],
  ['ne', 5], ['nz', 5], ['be', 6], ['na', 6], ['nbe', 7], ['a', 7], ['s', 8], ['ns', 9], ['p', 10], ['pe', 10],
  ['np', 11], ['po', 11], ['l', 12], ['nge', 12], ['nl', 13], ['ge', 13], ['le', 14], ['ng', 14], ['nle', 15], ['g', 15],
];

const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

// --- data movement
row('mov al,moffs8 -o A0 moffs');
row('mov ax,moffs16 -o o16 A1 moffs');
row('mov eax,moffs32 -o o32 A1 moffs');
row('mov moffs8,al o- A2 moffs');
row('mov moffs16,ax o- o16 A3 moffs');
row('mov moffs32,eax o- o32 A3 moffs');
row('mov m16,sreg mr 8C /r');
row('mov r16,sreg mr o16 8C /r');
row('mov r32,sreg mr o32 8C /r');
row('mov sreg,m16 rm 8E /r');
row('mov sreg,r16 rm 8E /r');
row('mov sreg,r32 rm 8E /r');
row('mov r32,creg mr 0F 20 /r');
row('mov creg,r32 rm 0F 22 /r');
row('mov r32,dreg mr 0F 21 /r');
row('mov dreg,r32 rm 0F 23 /r');
row('mov rm8,r8 mr 88 /r');
row('mov rm16,r16 mr o16 89 /r');
row('mov rm32,r32 mr o32 89 /r');
row('mov r8,rm8 rm 8A /r');
row('mov r16,rm16 rm o16 8B /r');
row('mov r32,rm32 rm o32 8B /r');
row('mov r8,imm8 ri B0+r ib');
row('mov r16,imm16 ri o16 B8+r iw');
row('mov r32,imm32 ri o32 B8+r id');
row('mov rm8,imm8 mi C6 /0 ib');
row('mov rm16,imm16 mi o16 C7 /0 iw');
row('mov rm32,imm32 mi o32 C7 /0 id');

row('movzx r16,rm8 rm o16 0F B6 /r');
row('movzx r32,rm8 rm o32 0F B6 /r');
row('movzx r32,rm16 rm o32 0F B7 /r');
row('movzx r16,rm16 rm o16 0F B7 /r');
row('movsx r16,rm8 rm o16 0F BE /r');
row('movsx r32,rm8 rm o32 0F BE /r');
row('movsx r32,rm16 rm o32 0F BF /r');
row('movsx r16,rm16 rm o16 0F BF /r');
row('lea r16,m rm o16 8D /r');
row('lea r32,m rm o32 8D /r');

row('xchg ax,r16 -r o16 90+r');
row('xchg eax,r32 -r o32 90+r');
row('xchg r16,ax r- o16 90+r');
row('xchg r32,eax r- o32 90+r');
row('xchg r8,r8 rm 86 /r');
row('xchg rm8,r8 mr 86 /r');
row('xchg r8,rm8 rm 86 /r');
row('xchg r16,r16 rm o16 87 /r');
row('xchg rm16,r16 mr o16 87 /r');
row('xchg r16,rm16 rm o16 87 /r');
row('xchg r32,r32 rm o32 87 /r');
row('xchg rm32,r32 mr o32 87 /r');
row('xchg r32,rm32 rm o32 87 /r');

for (const [r, op] of [['es', '06'], ['cs', '0E'], ['ss', '16'], ['ds', '1E'], ['fs', '0F A0'], ['gs', '0F A8']]) row(`push ${r} - ${op}`);
row('push r16 r o16 50+r');
row('push r32 r o32 50+r');
row('push rm16 m o16 FF /6');
row('push rm32 m o32 FF /6');
row('push sbx i 6A ibs');
row('push sb16 i o16 6A ibs ;sz');
row('push imm16 i o16 68 iw ;sz');
row('push sb32 i o32 6A ibs ;sz');
row('push imm32 i o32 68 id ;sz');
for (const [r, op] of [['es', '07'], ['cs', '0F'], ['ss', '17'], ['ds', '1F'], ['fs', '0F A1'], ['gs', '0F A9']]) row(`pop ${r} - ${op}`);
row('pop r16 r o16 58+r');
row('pop r32 r o32 58+r');
row('pop rm16 m o16 8F /0');
row('pop rm32 m o32 8F /0');
for (const [m, op] of [['pusha', '60'], ['popa', '61'], ['pushf', '9C'], ['popf', '9D']]) {
  row(`${m} void - ${op}`);
  row(`${m}w void - o16 ${op}`);
  row(`${m}d void - o32 ${op}`);
}

// --- arithmetic and logic
['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'].forEach((m, d) => {
  const b = d * 8;
  row(`${m} rm8,r8 mr ${hex(b)} /r`);
  row(`${m} rm16,r16 mr o16 ${hex(b + 1)} /r`);
  row(`${m} rm32,r32 mr o32 ${hex(b + 1)} /r`);
  row(`${m} r8,rm8 rm ${hex(b + 2)} /r`);
  row(`${m} r16,rm16 rm o16 ${hex(b + 3)} /r`);
  row(`${m} r32,rm32 rm o32 ${hex(b + 3)} /r`);
  row(`${m} rm16,sbx mi o16 83 /${d} ibs`);
  row(`${m} rm32,sbx mi o32 83 /${d} ibs`);
  row(`${m} al,imm8 -i ${hex(b + 4)} ib`);
  row(`${m} ax,sb16 mi o16 83 /${d} ibs`);
  row(`${m} ax,imm16 -i o16 ${hex(b + 5)} iw`);
  row(`${m} eax,sb32 mi o32 83 /${d} ibs`);
  row(`${m} eax,imm32 -i o32 ${hex(b + 5)} id`);
  row(`${m} rm8,imm8 mi 80 /${d} ib`);
  row(`${m} rm16,sb16 mi o16 83 /${d} ibs`);
  row(`${m} rm16,imm16 mi o16 81 /${d} iw`);
  row(`${m} rm32,sb32 mi o32 83 /${d} ibs`);
  row(`${m} rm32,imm32 mi o32 81 /${d} id`);
});

row('test rm8,r8 mr 84 /r');
row('test rm16,r16 mr o16 85 /r');
row('test rm32,r32 mr o32 85 /r');
row('test r8,m8 rm 84 /r');
row('test r16,m16 rm o16 85 /r');
row('test r32,m32 rm o32 85 /r');
row('test al,imm8 -i A8 ib');
row('test ax,imm16 -i o16 A9 iw');
row('test eax,imm32 -i o32 A9 id');
row('test rm8,imm8 mi F6 /0 ib');
row('test rm16,imm16 mi o16 F7 /0 iw');
row('test rm32,imm32 mi o32 F7 /0 id');

for (const [m, d] of [['inc', 0], ['dec', 1]] as const) {
  row(`${m} r16 r o16 ${hex(0x40 + d * 8)}+r`);
  row(`${m} r32 r o32 ${hex(0x40 + d * 8)}+r`);
  row(`${m} rm8 m FE /${d}`);
  row(`${m} rm16 m o16 FF /${d}`);
  row(`${m} rm32 m o32 FF /${d}`);
}
for (const [m, d] of [['not', 2], ['neg', 3], ['mul', 4], ['imul', 5], ['div', 6], ['idiv', 7]] as const) {
  row(`${m} rm8 m F6 /${d}`);
  row(`${m} rm16 m o16 F7 /${d}`);
  row(`${m} rm32 m o32 F7 /${d}`);
}
for (const s of [16, 32]) {
  const o = `o${s}`;
  row(`imul r${s},rm${s} rm ${o} 0F AF /r`);
  row(`imul r${s},sbx bi ${o} 6B /r ibs`);
  row(`imul r${s},sb${s} bi ${o} 6B /r ibs`);
  row(`imul r${s},imm${s} bi ${o} 69 /r ${s === 16 ? 'iw' : 'id'}`);
  row(`imul r${s},rm${s},sbx rmi ${o} 6B /r ibs`);
  row(`imul r${s},rm${s},sb${s} rmi ${o} 6B /r ibs`);
  row(`imul r${s},rm${s},imm${s} rmi ${o} 69 /r ${s === 16 ? 'iw' : 'id'}`);
}

['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'].forEach((m) => {
  const d = { rol: 0, ror: 1, rcl: 2, rcr: 3, shl: 4, sal: 4, shr: 5, sar: 7 }[m] ?? 0;
  row(`${m} rm8,one m- D0 /${d}`);
  row(`${m} rm8,cl m- D2 /${d}`);
  row(`${m} rm8,imm8 mi C0 /${d} ibu`);
  row(`${m} rm16,one m- o16 D1 /${d}`);
  row(`${m} rm16,cl m- o16 D3 /${d}`);
  row(`${m} rm16,imm8 mi o16 C1 /${d} ibu`);
  row(`${m} rm32,one m- o32 D1 /${d}`);
  row(`${m} rm32,cl m- o32 D3 /${d}`);
  row(`${m} rm32,imm8 mi o32 C1 /${d} ibu`);
});
for (const [m, op] of [['shld', 0xa4], ['shrd', 0xac]] as const) {
  row(`${m} rm16,r16,imm8 mri o16 0F ${hex(op)} /r ibu`);
  row(`${m} rm16,r16,cl mr- o16 0F ${hex(op + 1)} /r`);
  row(`${m} rm32,r32,imm8 mri o32 0F ${hex(op)} /r ibu`);
  row(`${m} rm32,r32,cl mr- o32 0F ${hex(op + 1)} /r`);
}
for (const [m, op, d] of [['bt', 0xa3, 4], ['bts', 0xab, 5], ['btr', 0xb3, 6], ['btc', 0xbb, 7]] as const) {
  row(`${m} rm16,r16 mr o16 0F ${hex(op)} /r`);
  row(`${m} rm32,r32 mr o32 0F ${hex(op)} /r`);
  row(`${m} rm16,imm8 mi o16 0F BA /${d} ibu`);
  row(`${m} rm32,imm8 mi o32 0F BA /${d} ibu`);
}
for (const [m, op] of [['bsf', 'BC'], ['bsr', 'BD']]) {
  row(`${m} r16,rm16 rm o16 0F ${op} /r`);
  row(`${m} r32,rm32 rm o32 0F ${op} /r`);
}
for (const [m, op] of [['xadd', 0xc0], ['cmpxchg', 0xb0]] as const) {
  row(`${m} rm8,r8 mr 0F ${hex(op)} /r`);
  row(`${m} rm16,r16 mr o16 0F ${hex(op + 1)} /r`);
  row(`${m} rm32,r32 mr o32 0F ${hex(op + 1)} /r`);
}
row('bswap r32 r o32 0F C8+r');
row('cmpxchg8b m64 m 0F C7 /1');

for (const [cc, n] of CC) {
  row(`set${cc} rm8 m 0F ${hex(0x90 + n)} /0`);
  row(`cmov${cc} r16,rm16 rm o16 0F ${hex(0x40 + n)} /r`);
  row(`cmov${cc} r32,rm32 rm o32 0F ${hex(0x40 + n)} /r`);
  row(`j${cc} rel8 j ${hex(0x70 + n)} rb`);
  row(`j${cc} rel16 j o16 0F ${hex(0x80 + n)} rw`);
  row(`j${cc} rel32 j o32 0F ${hex(0x80 + n)} rd`);
}

// --- control transfer
row('jmp rel8 j EB rb');
row('jmp rel16 j o16 E9 rw');
row('jmp rel32 j o32 E9 rd');
row('jmp far16 f o16 EA far');
row('jmp far32 f o32 EA far');
row('jmp mfar16 m o16 FF /5');
row('jmp mfar32 m o32 FF /5');
row('jmp mu m FF /4');
row('jmp rm16 m o16 FF /4');
row('jmp rm32 m o32 FF /4');
row('call rel16 j o16 E8 rw');
row('call rel32 j o32 E8 rd');
row('call far16 f o16 9A far');
row('call far32 f o32 9A far');
row('call mfar16 m o16 FF /3');
row('call mfar32 m o32 FF /3');
row('call mu m FF /2');
row('call rm16 m o16 FF /2');
row('call rm32 m o32 FF /2');
for (const m of ['ret', 'retn']) {
  row(`${m} void - C3`);
  row(`${m} imm16 i C2 iw`);
}
row('retf void - CB');
row('retf imm16 i CA iw');
for (const [m, op] of [['loopne', 'E0'], ['loopnz', 'E0'], ['loope', 'E1'], ['loopz', 'E1'], ['loop', 'E2']]) {
  row(`${m} rel8 j ${op} rb`);
  row(`${m} rel8,cx j- a16 ${op} rb`);
  row(`${m} rel8,ecx j- a32 ${op} rb`);
}
row('jcxz rel8 j a16 E3 rb');
row('jecxz rel8 j a32 E3 rb');
row('int imm8 i CD ibu');
row('int3 void - CC');
row('int1 void - F1');
row('icebp void - F1');
row('into void - CE');
row('iret void - CF');
row('iretw void - o16 CF');
row('iretd void - o32 CF');
row('enter imm16,imm8 ii C8 iw ibu');
row('leave void - C9');

// --- string instructions
for (const [m, op] of [['movs', 0xa4], ['cmps', 0xa6], ['stos', 0xaa], ['lods', 0xac], ['scas', 0xae], ['ins', 0x6c], ['outs', 0x6e]] as const) {
  row(`${m}b void - ${hex(op)}`);
  row(`${m}w void - o16 ${hex(op + 1)}`);
  row(`${m}d void - o32 ${hex(op + 1)}`);
}

// --- flags, BCD and miscellaneous one-byte instructions
for (const [m, op] of [
  ['clc', 'F8'], ['stc', 'F9'], ['cmc', 'F5'], ['cld', 'FC'], ['std', 'FD'], ['cli', 'FA'], ['sti', 'FB'],
  ['lahf', '9F'], ['sahf', '9E'], ['daa', '27'], ['das', '2F'], ['aaa', '37'], ['aas', '3F'], ['hlt', 'F4'],
  ['nop', '90'], ['pause', 'F3 90'], ['wait', '9B'], ['fwait', '9B'], ['xlat', 'D7'], ['xlatb', 'D7'],
  ['cbw', 'o16 98'], ['cwde', 'o32 98'], ['cwd', 'o16 99'], ['cdq', 'o32 99'],
  ['cpuid', '0F A2'], ['rdtsc', '0F 31'], ['rdtscp', '0F 01 F9'], ['rdmsr', '0F 32'], ['wrmsr', '0F 30'],
  ['rdpmc', '0F 33'], ['clts', '0F 06'], ['invd', '0F 08'], ['wbinvd', '0F 09'], ['ud2', '0F 0B'],
  ['monitor', '0F 01 C8'], ['mwait', '0F 01 C9'], ['xsetbv', '0F 01 D1'],
  ['vmcall', '0F 01 C1'], ['vmlaunch', '0F 01 C2'], ['vmresume', '0F 01 C3'], ['vmxoff', '0F 01 C4'], ['vmfunc', '0F 01 D4'],
]) {
  row(`${m} void - ${op}`);
}
row('nop rm16 m o16 0F 1F /0');
row('nop rm32 m o32 0F 1F /0');
row('aam void - D4 0A');
row('aam imm8 i D4 ibu');
row('aad void - D5 0A');
row('aad imm8 i D5 ibu');
row('bound r16,m rm o16 62 /r');
row('bound r32,m rm o32 62 /r');
for (const [m, op] of [['les', 'C4'], ['lds', 'C5'], ['lss', '0F B2'], ['lfs', '0F B4'], ['lgs', '0F B5']]) {
  row(`${m} r16,m rm o16 ${op} /r`);
  row(`${m} r32,m rm o32 ${op} /r`);
}

// --- I/O
row('in al,imm8 -i E4 ibu');
row('in ax,imm8 -i o16 E5 ibu');
row('in eax,imm8 -i o32 E5 ibu');
row('in al,dx -- EC');
row('in ax,dx -- o16 ED');
row('in eax,dx -- o32 ED');
row('out imm8,al i- E6 ibu');
row('out imm8,ax i- o16 E7 ibu');
row('out imm8,eax i- o32 E7 ibu');
row('out dx,al -- EE');
row('out dx,ax -- o16 EF');
row('out dx,eax -- o32 EF');

// --- system
row('arpl rm16,r16 mr 63 /r');
for (const [m, op] of [['lar', '02'], ['lsl', '03']]) {
  row(`${m} r16,rm16 rm o16 0F ${op} /r`);
  row(`${m} r32,r16 rm o32 0F ${op} /r`);
  row(`${m} r32,m rm o32 0F ${op} /r`);
  row(`${m} r32,r32 rm o32 0F ${op} /r`);
}
for (const [m, op] of [['sgdt', '0F 01 /0'], ['sidt', '0F 01 /1'], ['lgdt', '0F 01 /2'], ['lidt', '0F 01 /3'], ['invlpg', '0F 01 /7']]) {
  row(`${m} m m ${op}`);
}
for (const [m, op] of [['sldt', '0F 00 /0'], ['str', '0F 00 /1'], ['smsw', '0F 01 /4']]) {
  row(`${m} m16 m ${op}`);
  row(`${m} r16 m o16 ${op}`);
  row(`${m} r32 m o32 ${op}`);
}
for (const [m, op] of [['lldt', '0F 00 /2'], ['ltr', '0F 00 /3'], ['verr', '0F 00 /4'], ['verw', '0F 00 /5'], ['lmsw', '0F 01 /6']]) {
  row(`${m} rm16 m ${op}`);
}

// --- VMX
row('vmxon m64 m F3 0F C7 /6');
row('vmclear m64 m 66 0F C7 /6');
row('vmptrld m64 m 0F C7 /6');
row('vmptrst m64 m 0F C7 /7');
row('vmread rm32,r32 mr 0F 78 /r');
row('vmwrite r32,rm32 rm 0F 79 /r');
row('invept r32,m rm 66 0F 38 80 /r');
row('invvpid r32,m rm 66 0F 38 81 /r');

function parseRow(s: string): InsnForm {
  const [main, flags = ''] = s.split(';');
  const parts = main.trim().split(/\s+/);
  const [mnemonic, slotText, roles, ...code] = parts;
  const slots = slotText === 'void' ? [] : slotText.split(',');
  const sizes = slots.map((sl) => {
    const m = /^(?:r|rm|m|imm|sb|moffs|rel|far|mfar)(8|16|32|64)$/.exec(sl);
    return m ? Number(m[1]) : undefined;
  });
  return { mnemonic, slots, sizes, roles: slotText === 'void' ? '' : roles, code, sz: flags.includes('sz'), hasNear: false };
}

const byMnemonic = new Map<string, InsnForm[]>();
for (const r of rows) {
  const f = parseRow(r);
  const list = byMnemonic.get(f.mnemonic) ?? [];
  list.push(f);
  byMnemonic.set(f.mnemonic, list);
}

for (const list of byMnemonic.values()) {
  const hasNear = list.some((f) => f.slots[0] === 'rel16');
  for (const f of list) f.hasNear = hasNear;
}

export function formsFor(mnemonic: string): InsnForm[] | undefined {
  return byMnemonic.get(mnemonic.toLowerCase());
}

export function allForms(): InsnForm[] {
  return [...byMnemonic.values()].flat();
}

export function isMnemonic(word: string): boolean {
  return byMnemonic.has(word.toLowerCase());
}
