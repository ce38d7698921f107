// The expected decode of an alias encoding (Instr.alias), derived from its
// documented twin: the same bytes with the opcode or ModRM rewritten to the
// form assemblers emit, which ndisasm knows and the strict comparison covers.
// The alias must print as the twin does (sal for the shift alias) and have
// the same length.

import { decode } from '../../src/x86/decode/index';
import { AliasKind, Bits, Instr } from '../../src/x86/decode/instr';
import { formatInstr } from '../../src/x86/disasm/index';

const PREFIX_BYTES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/** The twin's bytes: a copy of the instruction with the alias rewritten. */
export function twinBytes(buf: Uint8Array, pos: number, ins: Instr): Uint8Array {
  const b = buf.slice(pos, pos + ins.length);
  let q = 0;
  while (q < b.length && PREFIX_BYTES.has(b[q])) q++;
  const kind = ins.alias as AliasKind;
  switch (kind) {
    case 'alu-82': b[q] = 0x80; break;
    case 'test-1': b[q + 1] &= ~0x38; break;
    case 'sal-6': b[q + 1] = (b[q + 1] & ~0x38) | 0x20; break;
    case 'setcc-reg': b[q + 2] &= ~0x38; break;
    case 'crdr-mod': b[q + 2] |= 0xc0; break;
  }
  return b;
}

export const ALIAS_KINDS: readonly AliasKind[] = ['alu-82', 'test-1', 'sal-6', 'setcc-reg', 'crdr-mod'];

/** How the alias's text follows from the twin's. */
export const TEXT_FROM_TWIN: Readonly<Record<AliasKind, (twin: string) => string>> = {
  'alu-82': (t) => t,
  'test-1': (t) => t,
  'sal-6': (t) => t.replace(/\bshl\b/, 'sal'),
  'setcc-reg': (t) => t,
  'crdr-mod': (t) => t,
};

export interface TwinExpectation { twin: Uint8Array; twinText: string; text: string; length: number }

export function expectFromTwin(buf: Uint8Array, pos: number, bits: Bits, ip: number, ins: Instr): TwinExpectation {
  const twin = twinBytes(buf, pos, ins);
  const t = decode(twin, 0, bits, ip);
  const twinText = formatInstr(t, bits);
  return { twin, twinText, text: TEXT_FROM_TWIN[ins.alias as AliasKind](twinText), length: t.length };
}

/**
 * An explicit table of alias encodings and the text they must print, one or
 * more per kind and mode. Hex is the whole instruction.
 */
export const ALIAS_TABLE: readonly { hex: string; bits: Bits; kind: AliasKind; text: string }[] = [
  { hex: '82c001', bits: 32, kind: 'alu-82', text: 'add al,0x1' },
  { hex: '820001', bits: 16, kind: 'alu-82', text: 'add byte [bx+si],0x1' },
  { hex: '82780380', bits: 32, kind: 'alu-82', text: 'cmp byte [eax+0x3],0x80' },
  { hex: 'f0822b7f', bits: 32, kind: 'alu-82', text: 'lock sub byte [ebx],0x7f' },
  { hex: '6682f1ff', bits: 32, kind: 'alu-82', text: 'o16 xor cl,0xff' },
  { hex: '82e50f', bits: 16, kind: 'alu-82', text: 'and ch,0xf' },
  { hex: 'f6c805', bits: 32, kind: 'test-1', text: 'test al,0x5' },
  { hex: 'f64e0440', bits: 16, kind: 'test-1', text: 'test byte [bp+0x4],0x40' },
  { hex: 'f7c978563412', bits: 32, kind: 'test-1', text: 'test ecx,0x12345678' },
  { hex: 'f7083412', bits: 16, kind: 'test-1', text: 'test word [bx+si],0x1234' },
  { hex: '66f70b3412', bits: 32, kind: 'test-1', text: 'test word [ebx],0x1234' },
  { hex: 'd0f0', bits: 32, kind: 'sal-6', text: 'sal al,1' },
  { hex: 'd1f3', bits: 16, kind: 'sal-6', text: 'sal bx,1' },
  { hex: 'd230', bits: 32, kind: 'sal-6', text: 'sal byte [eax],cl' },
  { hex: 'd3f6', bits: 16, kind: 'sal-6', text: 'sal si,cl' },
  { hex: 'c0f503', bits: 32, kind: 'sal-6', text: 'sal ch,byte 0x3' },
  { hex: 'c1700805', bits: 32, kind: 'sal-6', text: 'sal dword [eax+0x8],byte 0x5' },
  { hex: '66d1f0', bits: 32, kind: 'sal-6', text: 'sal ax,1' },
  { hex: '0f94c8', bits: 32, kind: 'setcc-reg', text: 'setz al' },
  { hex: '0f9f3f', bits: 16, kind: 'setcc-reg', text: 'setg [bx]' },
  { hex: '0f92580c', bits: 32, kind: 'setcc-reg', text: 'setc [eax+0xc]' },
  { hex: '0f2000', bits: 32, kind: 'crdr-mod', text: 'mov eax,cr0' },
  { hex: '0f2263', bits: 32, kind: 'crdr-mod', text: 'mov cr4,ebx' },
  { hex: '0f209a', bits: 16, kind: 'crdr-mod', text: 'mov edx,cr3' },
  { hex: '0f2145', bits: 32, kind: 'crdr-mod', text: 'mov ebp,dr0' },
  { hex: '0f2379', bits: 16, kind: 'crdr-mod', text: 'mov dr7,ecx' },
];
