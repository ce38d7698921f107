// The Instr the decoder fills in: the fields the CPU relies on, beyond what
// the ndisasm text comparison can show.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, Instr, MemOperand, SEG } from '../../src/x86/decode/index';
import { formatInstr, disassemble } from '../../src/x86/disasm/index';
import { Bits } from '../../src/x86/decode/instr';

function d(hex: string, bits: Bits = 32, ip = 0): Instr {
  const bytes = Uint8Array.from(hex.replace(/\s+/g, '').match(/../g)!.map((h) => parseInt(h, 16)));
  return decode(bytes, 0, bits, ip);
}

function mem(ins: Instr, i: number): MemOperand {
  const o = ins.operands[i];
  assert.equal(o.kind, 'mem');
  return o as MemOperand;
}

test('32-bit ModRM/SIB memory operand fields', () => {
  const ins = d('8b 44 8d fc'); // mov eax,[ebp+ecx*4-0x4]
  assert.equal(ins.mnemonic, 'mov');
  assert.equal(ins.length, 4);
  assert.equal(ins.opcode, 0x8b);
  assert.equal(ins.ext, 0);
  assert.deepEqual(ins.operands[0], { kind: 'reg', reg: 0, size: 4 });
  const m = mem(ins, 1);
  assert.equal(m.base, 5);
  assert.equal(m.index, 1);
  assert.equal(m.scale, 4);
  assert.equal(m.disp, -4);
  assert.equal(m.dispSize, 1);
  assert.equal(m.seg, SEG.SS, 'EBP base defaults to SS');
  assert.equal(m.segOverride, false);
  assert.equal(m.size, 4);
  assert.equal(m.addrSize, 32);
  assert.equal(mem(d('8b 04 24'), 1).seg, SEG.SS, 'ESP base defaults to SS');
  assert.equal(mem(d('8b 04 65 00 00 00 00'), 1).seg, SEG.DS, 'no base: DS even with index 4 scale');
  const abs = mem(d('8b 05 78 56 34 12'), 1);
  assert.equal(abs.base, -1);
  assert.equal(abs.index, -1);
  assert.equal(abs.disp, 0x12345678);
  assert.equal(abs.dispSize, 4);
});

test('16-bit addressing forms and segment defaults', () => {
  const forms: [string, number, number, number][] = [
    ['8b 00', 3, 6, SEG.DS], ['8b 01', 3, 7, SEG.DS], ['8b 02', 5, 6, SEG.SS], ['8b 03', 5, 7, SEG.SS],
    ['8b 04', 6, -1, SEG.DS], ['8b 05', 7, -1, SEG.DS], ['8b 46 00', 5, -1, SEG.SS], ['8b 07', 3, -1, SEG.DS],
  ];
  for (const [hex, base, index, seg] of forms) {
    const m = mem(d(hex, 16), 1);
    assert.deepEqual([m.base, m.index, m.seg, m.addrSize], [base, index, seg, 16], hex);
  }
  const abs = mem(d('8b 06 34 82', 16), 1);
  assert.deepEqual([abs.base, abs.index, abs.disp & 0xffff, abs.dispSize], [-1, -1, 0x8234, 2]);
  const over = mem(d('26 8b 46 02', 16), 1);
  assert.deepEqual([over.seg, over.segOverride, over.disp], [SEG.ES, true, 2]);
  assert.equal(d('26 8b 46 02', 16).segOverride, SEG.ES);
  // 67 switches a 16-bit instruction to 32-bit addressing.
  const a32 = d('67 8b 04 24', 16);
  assert.equal(a32.addrSize, 32);
  assert.equal(a32.opSize, 16);
  assert.equal(mem(a32, 1).base, 4);
});

test('immediates: sizes, sign extension and implicit 1', () => {
  const add = d('83 c0 ff');
  assert.deepEqual(add.operands[1], { kind: 'imm', size: 4, value: 0xffffffff, encSize: 1 });
  assert.deepEqual(d('66 83 c0 80').operands[1], { kind: 'imm', size: 2, value: 0xff80, encSize: 1 });
  assert.deepEqual(d('6a fe', 16).operands[0], { kind: 'imm', size: 2, value: 0xfffe, encSize: 1 });
  assert.deepEqual(d('68 78 56 34 12').operands[0], { kind: 'imm', size: 4, value: 0x12345678, encSize: 4 });
  assert.deepEqual(d('d1 e0').operands[1], { kind: 'imm', size: 1, value: 1, encSize: 0 });
  assert.deepEqual(d('c1 e0 05').operands[1], { kind: 'imm', size: 1, value: 5, encSize: 1 });
  const enter = d('c8 10 00 01');
  assert.deepEqual(enter.operands.map((o) => (o.kind === 'imm' ? [o.size, o.value] : null)), [[2, 16], [1, 1]]);
});

test('relative and far branches', () => {
  const jmp = d('eb fe', 16, 0x7c00);
  assert.deepEqual(jmp.operands[0], { kind: 'rel', size: 1, disp: -2, target: 0x7c00 });
  assert.equal(d('e9 fd ff', 16, 0).operands[0].kind, 'rel');
  assert.deepEqual(d('e9 fd ff', 16, 0).operands[0], { kind: 'rel', size: 2, disp: -3, target: 0 });
  assert.deepEqual(d('e9 f0 ff', 16, 0).operands[0], { kind: 'rel', size: 2, disp: -16, target: 0xfff3 });
  assert.deepEqual(d('e8 00 00 00 00', 32, 0xfffffffb).operands[0], { kind: 'rel', size: 4, disp: 0, target: 0 });
  const jz = d('0f 84 10 00 00 00', 32, 0x1000);
  assert.equal(jz.mnemonic, 'jz');
  assert.equal(jz.cc, 4);
  assert.deepEqual(jz.operands[0], { kind: 'rel', size: 4, disp: 16, target: 0x1016 });
  assert.deepEqual(d('ea f0 ff 00 f0', 16).operands[0], { kind: 'far', selector: 0xf000, offset: 0xfff0, size: 4 });
  assert.deepEqual(d('66 ea 78 56 34 12 08 00', 16).operands[0], { kind: 'far', selector: 8, offset: 0x12345678, size: 6 });
  const callFar = d('ff 18', 16);
  assert.equal(callFar.mnemonic, 'call');
  assert.equal(callFar.ext, 3);
  assert.equal(mem(callFar, 0).size, 4);
  assert.equal(mem(d('ff 18'), 0).size, 6);
  assert.equal(d('e3 00', 32).mnemonic, 'jecxz');
  assert.equal(d('67 e3 00', 32).mnemonic, 'jcxz');
  assert.equal(d('67 e2 00', 32).addrSize, 16, 'loop counts CX under 67');
});

test('condition codes on jcc, setcc and cmovcc', () => {
  for (let cc = 0; cc < 16; cc++) {
    assert.equal(d((0x70 + cc).toString(16) + '00').cc, cc);
    assert.equal(d('0f' + (0x90 + cc).toString(16) + 'c0').cc, cc);
    assert.equal(d('0f' + (0x40 + cc).toString(16) + 'c0').cc, cc);
  }
  assert.equal(d('90').cc, -1);
});

test('prefix fields: operand/address size, rep, lock, segment', () => {
  const movsd = d('f3 a5');
  assert.deepEqual([movsd.mnemonic, movsd.rep, movsd.opSize], ['movsd', 1, 32]);
  const movsw = d('66 f3 a5');
  assert.deepEqual([movsw.mnemonic, movsw.rep, movsw.opSize], ['movsw', 1, 16]);
  assert.equal(d('f2 ae').rep, 2);
  assert.equal(d('f3 f2 ae').rep, 2, 'the last of F2/F3 wins');
  assert.equal(d('2e 3e 8b 00').segOverride, SEG.DS, 'the last segment override wins');
  assert.equal(d('66 66 b8 34 12').length, 5, 'a repeated 66 still means 16-bit');
  const lock = d('f0 01 00');
  assert.deepEqual([lock.lock, lock.lockInvalid], [true, undefined]);
  assert.equal(d('f0 01 c0').lockInvalid, true, 'lock needs a memory destination');
  assert.equal(d('f0 8b 00').lockInvalid, true, 'mov is not lockable');
  assert.equal(d('f0 90').lockInvalid, true);
  assert.equal(d('f0 87 00').lockInvalid, undefined);
  assert.equal(d('f0 0f ab 00').lockInvalid, undefined, 'bts');
  assert.equal(d('f0 0f a3 00').lockInvalid, true, 'bt');
  assert.equal(d('f0 0f ba 28 01').lockInvalid, undefined, 'bts imm');
  assert.equal(d('f0 80 38 01').lockInvalid, true, 'cmp');
  assert.equal(formatInstr(d('f0 90')), 'lock nop');
});

test('register forms of memory-only operands are invalid (#UD)', () => {
  for (const hex of ['8d c0', '0f 01 d0', '0f 01 d8', '0f 01 c0', 'c5 c0', 'c4 c0', '62 c0', '0f b2 c0', 'ff d8', 'ff e8',
    '0f 01 f8', '0f c7 f0', '66 0f 38 80 c0']) {
    const ins = d(hex);
    assert.ok(ins.invalid, hex);
    assert.equal(ins.length, 1);
    assert.equal(formatInstr(ins), 'db 0x' + hex.slice(0, 2));
  }
});

test('cmpxchg8b: memory form only, lockable, 66/F3 are ordinary prefixes', () => {
  const ins = d('f0 0f c7 0b');
  assert.equal(ins.invalid, undefined);
  assert.equal(ins.mnemonic, 'cmpxchg8b');
  assert.equal(ins.ext, 1);
  assert.equal(ins.lock, true);
  assert.equal(formatInstr(ins), 'lock cmpxchg8b qword [ebx]');
  assert.equal(formatInstr(d('66 0f c7 08')), 'o16 cmpxchg8b qword [eax]');
  assert.ok(d('0f c7 c8').invalid, 'register form');
});

test('unsupported opcodes are invalid: x87, SSE, salc, CR1/CR5-7, lock mov cr', () => {
  for (const hex of ['d6', 'd8 c0', 'df e0', '0f 10 00', '0f 05', '0f 0f c0 b4', 'f3 0f bc c0', '0f 38 80 00', 'f3 0f 01 c1',
    '8e c8', '0f 20 c8', '0f 20 48', '0f 22 38', '0f c7 c8', 'f0 0f 20 c0', 'f0 0f 22 00', '0f 0d 00', '0f 17 00']) {
    assert.ok(d(hex).invalid, hex);
  }
});

test('VMX and system instructions', () => {
  const cases: [string, string][] = [
    ['0f 01 c1', 'vmcall'], ['0f 01 c2', 'vmlaunch'], ['0f 01 c3', 'vmresume'], ['0f 01 c4', 'vmxoff'],
    ['f3 0f c7 30', 'vmxon'], ['66 0f c7 30', 'vmclear'], ['0f c7 30', 'vmptrld'], ['0f c7 38', 'vmptrst'],
    ['0f 78 c0', 'vmread'], ['0f 79 c0', 'vmwrite'], ['66 0f 38 80 00', 'invept'], ['66 0f 38 81 00', 'invvpid'],
    ['0f 01 d4', 'vmfunc'], ['0f 01 c8', 'monitor'], ['0f 01 c9', 'mwait'], ['0f 01 d1', 'xsetbv'], ['0f 01 f9', 'rdtscp'],
    ['0f a2', 'cpuid'], ['0f 31', 'rdtsc'], ['0f 32', 'rdmsr'], ['0f 30', 'wrmsr'], ['0f 33', 'rdpmc'], ['0f 06', 'clts'],
    ['0f 08', 'invd'], ['0f 09', 'wbinvd'], ['0f 0b', 'ud2'], ['0f 01 38', 'invlpg'], ['0f 01 10', 'lgdt'], ['f3 90', 'pause'],
    ['0f 1f 00', 'nop'], ['f1', 'int1'], ['cc', 'int3'], ['9b', 'wait'], ['f4', 'hlt'],
  ];
  for (const [hex, m] of cases) {
    const ins = d(hex);
    assert.equal(ins.invalid, undefined, hex);
    assert.equal(ins.mnemonic, m, hex);
  }
  const vmxon = d('f3 0f c7 30');
  assert.equal(vmxon.rep, 0, 'a mandatory F3 is not a rep');
  assert.equal(mem(vmxon, 0).size, 8);
  const invept = d('66 0f 38 80 08');
  assert.equal(invept.opcode, 0x0f3880);
  assert.equal(invept.opSize, 32, 'a mandatory 66 is not an operand-size override');
  assert.deepEqual(invept.operands[0], { kind: 'reg', reg: 1, size: 4 });
  assert.equal(d('0f 78 c0', 16).operands[0].kind === 'reg' && d('0f 78 c0', 16).operands[0].size, 4, 'vmread is 32-bit outside long mode');
  const cr = d('0f 22 d8');
  assert.deepEqual(cr.operands, [{ kind: 'creg', reg: 3, size: 4 }, { kind: 'reg', reg: 0, size: 4 }]);
  assert.deepEqual(d('0f 21 f8').operands[1], { kind: 'dreg', reg: 7, size: 4 });
  assert.equal(mem(d('0f 01 10'), 0).size, 6);
});

test('segment register operands', () => {
  assert.deepEqual(d('8e d8', 16).operands, [{ kind: 'sreg', reg: SEG.DS, size: 2 }, { kind: 'reg', reg: 0, size: 2 }]);
  assert.deepEqual(d('8c 00').operands[1], { kind: 'sreg', reg: SEG.ES, size: 2 });
  assert.equal(mem(d('8c 00'), 0).size, 2, 'a segment register stored to memory is a word');
  assert.deepEqual(d('0f a8').operands, [{ kind: 'sreg', reg: SEG.GS, size: 2 }]);
  assert.equal(d('17').mnemonic, 'pop');
});

test('opcode numbering and ModRM extension', () => {
  assert.equal(d('0f af c1').opcode, 0x0faf);
  assert.equal(d('f7 d8').ext, 3);
  assert.equal(d('f7 d8').mnemonic, 'neg');
  assert.equal(d('90').ext, -1);
});

test('mode-relative names follow ndisasm', () => {
  assert.equal(d('cf', 32).mnemonic, 'iret');
  assert.equal(d('66 cf', 32).mnemonic, 'iretw');
  assert.equal(d('66 cf', 16).mnemonic, 'iretd');
  assert.equal(d('60', 16).mnemonic, 'pusha');
  assert.equal(d('66 60', 16).mnemonic, 'pushad');
  assert.equal(d('66 60', 16).opSize, 32);
  assert.equal(d('98', 32).mnemonic, 'cwde');
  assert.equal(d('98', 16).mnemonic, 'cbw');
});

test('formatInstr examples', () => {
  const cases: [string, Bits, string][] = [
    ['8b 43 04', 32, 'mov eax,[ebx+0x4]'],
    ['eb 0e', 16, 'jmp short 0x10'],
    ['f3 a5', 32, 'rep movsd'],
    ['83 c0 05', 16, 'add ax,byte +0x5'],
    ['83 00 ff', 16, 'add word [bx+si],byte -0x1'],
    ['ea 78 56 34 12', 16, 'jmp 0x1234:0x5678'],
    ['66 ff 1f', 16, 'call dword far [bx]'],
    ['26 90', 32, 'es nop'],
    ['8b 05 10 00 00 00', 32, 'mov eax,[dword 0x10]'],
    ['2e 67 a1 00 01', 32, 'mov eax,[cs:word 0x100]'],
    ['f2 f0 01 00', 32, 'xacquire lock add [eax],eax'],
    ['66 06', 16, 'o32 push es'],
    ['67 e2 00', 32, 'loop 0x3,cx'],
    ['d4 0a', 16, 'aam'],
    ['0f 20 c0', 32, 'mov eax,cr0'],
    ['d6', 32, 'db 0xd6'],
  ];
  for (const [hex, bits, text] of cases) assert.equal(formatInstr(d(hex, bits)), text, hex);
});

test('disassemble() sweeps a buffer with addresses from org', () => {
  const lines = disassemble(Uint8Array.from([0xb8, 0x01, 0x00, 0xd6, 0xeb, 0xfe, 0x0f]), 16, 0x7c00);
  assert.deepEqual(lines.map((l) => [l.address, l.bytes.length, l.text]), [
    [0x7c00, 3, 'mov ax,0x1'], [0x7c03, 1, 'db 0xd6'], [0x7c04, 2, 'jmp short 0x7c04'], [0x7c06, 1, 'db 0x0f'],
  ]);
  assert.equal(lines[3].instr.truncated, true);
});
