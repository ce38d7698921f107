// Alias encodings (Instr.alias) and the reserved-NOP space: decoded like
// their documented twin, with the text NASM accepts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, Instr } from '../../src/x86/decode/index';
import { AliasKind, Bits } from '../../src/x86/decode/instr';
import { formatInstr } from '../../src/x86/disasm/index';
import { hintName, supportedMnemonics } from '../../src/x86/decode/tables';
import { ALIAS_KINDS, ALIAS_TABLE, expectFromTwin, twinBytes } from './aliases';
import { judge } from './compare';
import { fromHex } from './corpus';
import { uniform as prng } from '../support/prng';

function d(hex: string, bits: Bits = 32): Instr {
  return decode(fromHex(hex.replace(/\s+/g, '')), 0, bits, 0);
}

test('explicit table: each alias decodes as valid with the expected text', () => {
  for (const kind of ALIAS_KINDS) assert.ok(ALIAS_TABLE.some((e) => e.kind === kind), kind);
  for (const e of ALIAS_TABLE) {
    const ins = d(e.hex, e.bits);
    assert.equal(ins.invalid, undefined, e.hex);
    assert.equal(ins.alias, e.kind, e.hex);
    assert.equal(ins.length, e.hex.length / 2, e.hex);
    assert.equal(formatInstr(ins, e.bits), e.text, e.hex);
  }
});

test('explicit table: the comparison counts aliases separately and still checks them', () => {
  for (const e of ALIAS_TABLE) {
    const bytes = fromHex(e.hex);
    // What ndisasm prints: the first byte as data, or a bare first prefix.
    const first = bytes[0];
    const ndText = first === 0x66 ? (e.bits === 32 ? 'o16' : 'o32') : first === 0xf0 ? 'lock' : `db 0x${first.toString(16).padStart(2, '0')}`;
    const v = judge(bytes, 0, e.bits, 0, { length: 1, text: ndText });
    assert.equal(v.outcome, 'alias', `${e.hex}: ${v.detail}`);
    assert.equal(v.detail, e.kind);
    // Were ndisasm to print a real, different instruction, the rule fails.
    assert.equal(judge(bytes, 0, e.bits, 0, { length: bytes.length, text: 'nop' }).outcome, 'fail', e.hex);
  }
  // A non-alias against ndisasm's "db" is still a failure.
  assert.equal(judge(fromHex('80c001'), 0, 32, 0, { length: 1, text: 'db 0x80' }).outcome, 'fail');
});

/** Fields that must be equal between an alias and its twin, whatever the kind. */
function common(ins: Instr): unknown {
  const { operands, length, opSize, addrSize, rep, lock, segOverride, cc, lockInvalid, invalid, truncated } = ins;
  return { operands, length, opSize, addrSize, rep, lock, segOverride, cc, lockInvalid, invalid, truncated };
}

/** Where the alias must differ from the twin: the encoding bytes it came from, and sal's name. */
const DIFFERS: Readonly<Record<AliasKind, (a: Instr, t: Instr) => void>> = {
  'alu-82': (a, t) => { assert.equal(a.opcode, 0x82); assert.equal(t.opcode, 0x80); assert.equal(a.ext, t.ext); assert.equal(a.mnemonic, t.mnemonic); },
  'test-1': (a, t) => { assert.equal(a.opcode, t.opcode); assert.equal(a.ext, 1); assert.equal(t.ext, 0); assert.equal(a.mnemonic, 'test'); assert.equal(t.mnemonic, 'test'); },
  'sal-6': (a, t) => { assert.equal(a.opcode, t.opcode); assert.equal(a.ext, 6); assert.equal(t.ext, 4); assert.equal(a.mnemonic, 'sal'); assert.equal(t.mnemonic, 'shl'); },
  'setcc-reg': (a, t) => { assert.equal(a.opcode, t.opcode); assert.notEqual(a.ext, 0); assert.equal(t.ext, 0); assert.equal(a.mnemonic, t.mnemonic); },
  'crdr-mod': (a, t) => { assert.equal(a.opcode, t.opcode); assert.equal(a.ext, t.ext); assert.equal(a.mnemonic, t.mnemonic); },
};

test('every alias ModRM form decodes to its twin\'s fields (opcode, ext, operands, length)', () => {
  const rnd = prng(0xa11a5);
  const opcodes = [[0x82], [0xf6], [0xf7], [0xc0], [0xc1], [0xd0], [0xd1], [0xd2], [0xd3],
    ...Array.from({ length: 16 }, (_, i) => [0x0f, 0x90 + i]), [0x0f, 0x20], [0x0f, 0x21], [0x0f, 0x22], [0x0f, 0x23]];
  const prefixes = [[], [0x66], [0x67], [0xf0], [0x2e, 0x66, 0x67], [0xf3]];
  const seen = new Map<AliasKind, number>();
  for (const bits of [16, 32] as const) {
    for (const opc of opcodes) {
      for (const pre of prefixes) {
        for (let m = 0; m < 256; m++) {
          const buf = Uint8Array.from([...pre, ...opc, m, ...Array.from({ length: 10 }, () => Math.floor(rnd() * 256))]);
          const a = decode(buf, 0, bits, 0x1000);
          if (!a.alias) continue;
          seen.set(a.alias, (seen.get(a.alias) ?? 0) + 1);
          const tb = twinBytes(buf, 0, a);
          const t = decode(tb, 0, bits, 0x1000);
          const where = `${bits} ${Buffer.from(buf.subarray(0, a.length)).toString('hex')}`;
          assert.equal(t.alias, undefined, where);
          assert.deepEqual(common(a), common(t), where);
          DIFFERS[a.alias](a, t);
          assert.equal(formatInstr(a, bits), expectFromTwin(buf, 0, bits, 0x1000, a).text, where);
        }
      }
    }
  }
  for (const k of ALIAS_KINDS) assert.ok((seen.get(k) ?? 0) > 0, k);
});

test('alias kinds are set exactly where the encoding is an alias', () => {
  const cases: [string, AliasKind | undefined][] = [
    ['80 c0 01', undefined], ['82 c0 01', 'alu-82'], ['f6 c0 01', undefined], ['f6 c8 01', 'test-1'], ['f6 d0', undefined],
    ['d0 e0', undefined], ['d0 f0', 'sal-6'], ['d0 f8', undefined], ['c1 f0 01', 'sal-6'],
    ['0f 94 c0', undefined], ['0f 94 c8', 'setcc-reg'], ['0f 94 f8', 'setcc-reg'],
    ['0f 20 c0', undefined], ['0f 20 00', 'crdr-mod'], ['0f 23 40', 'crdr-mod'], ['0f 21 b8', 'crdr-mod'],
  ];
  for (const [hex, kind] of cases) {
    const ins = d(hex);
    assert.equal(ins.invalid, undefined, hex);
    assert.equal(ins.alias, kind, hex);
  }
});

test('mov CRn/DRn with mod<3: register operands, no displacement read', () => {
  // mod=2 would carry a disp32: hardware ignores mod, so the instruction is 3 bytes.
  const ins = d('0f 22 98 11 22 33 44');
  assert.equal(ins.length, 3);
  assert.deepEqual(ins.operands, [{ kind: 'creg', reg: 3, size: 4 }, { kind: 'reg', reg: 0, size: 4 }]);
  // rm=4 with mod=0 would have a SIB byte: none here either.
  const sib = d('0f 21 04 24', 16);
  assert.equal(sib.length, 3);
  assert.deepEqual(sib.operands, [{ kind: 'reg', reg: 4, size: 4 }, { kind: 'dreg', reg: 0, size: 4 }]);
  // Still #UD: CR1, CR5-7 and LOCK (AMD's CR8), with any mod.
  for (const hex of ['0f 20 48', '0f 22 68 00', '0f 20 b8', 'f0 0f 22 40', 'f0 0f 20 00']) assert.ok(d(hex).invalid, hex);
  // Truncation cannot happen after the ModRM byte.
  assert.equal(decode(fromHex('0f2080'), 0, 32, 0).truncated, undefined);
});

test('hint-NOP space 0F 18-1F: every ModRM form is a NOP with the twin\'s operand and length', () => {
  const rnd = prng(0x4e0b);
  for (const bits of [16, 32] as const) {
    for (const pre of [[], [0x66], [0x67], [0xf2]]) {
      for (let op = 0x18; op <= 0x1f; op++) {
        for (let m = 0; m < 256; m++) {
          const tail = Array.from({ length: 10 }, () => Math.floor(rnd() * 256));
          const ins = decode(Uint8Array.from([...pre, 0x0f, op, m, ...tail]), 0, bits, 0);
          // The twin: 0F 1F /0 (the documented multi-byte NOP) with the same mod and rm.
          const twin = decode(Uint8Array.from([...pre, 0x0f, 0x1f, m & 0xc7, ...tail]), 0, bits, 0);
          const where = `${bits} ${pre.map((p) => p.toString(16)).join('')} 0f ${op.toString(16)} ${m.toString(16)}`;
          assert.equal(ins.invalid, undefined, where);
          assert.equal(ins.opcode, 0x0f00 | op, where);
          assert.equal(ins.ext, (m >> 3) & 7, where);
          assert.equal(ins.length, twin.length, where);
          assert.equal(ins.alias, undefined, where);
          const prefetch = op === 0x18 && m < 0xc0 && pre[0] !== 0x66 && ![4, 5].includes((m >> 3) & 7);
          if (prefetch) {
            assert.match(ins.mnemonic, /^prefetch/, where);
            assert.deepEqual(ins.operands, [{ ...twin.operands[0], size: 1 }], where);
          } else {
            assert.equal(ins.mnemonic, hintName(op, m >> 3), where);
            assert.deepEqual(ins.operands, twin.operands, where);
          }
        }
      }
    }
  }
});

test('hint-NOP names: NASM\'s hint_nopN, nop, prefetch and endbr', () => {
  const cases: [string, Bits, string][] = [
    ['0f 1f 00', 32, 'nop dword [eax]'], ['66 0f 1f 44 00 00', 32, 'nop word [eax+eax+0x0]'], ['0f 1f c0', 16, 'nop ax'],
    ['0f 1f 08', 32, 'hint_nop57 dword [eax]'], ['0f 19 c1', 32, 'hint_nop8 ecx'], ['0f 1e 3f', 16, 'hint_nop55 word [bx]'],
    ['0f 18 00', 32, 'prefetchnta byte [eax]'], ['0f 18 1f', 16, 'prefetcht2 byte [bx]'], ['66 0f 18 00', 32, 'hint_nop0 word [eax]'],
    ['0f 18 c0', 32, 'hint_nop0 eax'], ['0f 18 20', 32, 'hint_nop4 dword [eax]'], ['f3 0f 1e fb', 32, 'endbr32'],
    ['f3 0f 1e fa', 16, 'endbr64'], ['f3 0f 1e c8', 32, 'rep hint_nop49 eax'], ['f3 f2 0f 1e fb', 32, 'repne hint_nop55 ebx'],
    ['f0 0f 1f 00', 32, 'lock nop dword [eax]'],
  ];
  for (const [hex, bits, text] of cases) assert.equal(formatInstr(d(hex, bits), bits), text, hex);
  const endbr = d('f3 0f 1e fb');
  assert.deepEqual([endbr.opcode, endbr.operands, endbr.rep, endbr.length], [0x0f1e, [], 0, 4]);
  assert.ok(d('f0 0f 18 00').lockInvalid, 'LOCK on a hint NOP is #UD');
  const names = supportedMnemonics();
  for (const m of ['sal', 'hint_nop0', 'hint_nop63', 'prefetchnta', 'endbr32']) assert.ok(names.has(m), m);
  assert.ok(!names.has('hint_nop56'), 'hint_nop56 is nop');
});
