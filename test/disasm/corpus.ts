// Deterministic byte corpora for the decoder/disassembler comparison:
// random 16-byte records, and generated encodings that walk every opcode of
// the one-byte, 0F and 0F 38 maps through ModRM/SIB forms and prefix mixes.
// Records are 16 bytes; only the first instruction of each is compared.

import { uniform as prng } from '../support/prng';

export const RECORD = 16;

export function randomRecords(bits: 16 | 32, count = 4000): Uint8Array[] {
  const rnd = prng(bits === 16 ? 0x1616 : 0x3232);
  return Array.from({ length: count }, () => Uint8Array.from({ length: RECORD }, () => Math.floor(rnd() * 256)));
}

const PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/** ModRM values covering every mod/rm form and every reg field. */
function modrmSample(): number[] {
  const s = new Set<number>();
  for (let mod = 0; mod < 4; mod++) for (let rm = 0; rm < 8; rm++) s.add((mod << 6) | (((mod * 3 + rm) & 7) << 3) | rm);
  for (let reg = 0; reg < 8; reg++) { s.add((reg << 3) | 0); s.add(0xc0 | (reg << 3) | 1); s.add(0x80 | (reg << 3) | 4); }
  return [...s];
}

const PREFIX_MIXES: number[][] = [
  [0x66], [0x67], [0x66, 0x67], [0xf3], [0xf2], [0xf0], [0x2e], [0x64, 0x66], [0xf3, 0x66], [0x26, 0x67, 0xf0],
];
const MIX_MODRM = [0x05, 0x44, 0xd8];

/** Opcodes whose every ModRM byte is tried (and, for the first three, again under 67). */
const FULL_MODRM: number[][] = [
  [0x8b], [0xff], [0x0f, 0x01], [0x00], [0xf7], [0xfe], [0x8f], [0xc6], [0xc7], [0x8c], [0x8e], [0xd1], [0xc0],
  [0x0f, 0x00], [0x0f, 0x1f], [0x0f, 0x20], [0x0f, 0x22], [0x0f, 0x21], [0x0f, 0x23], [0x0f, 0xba], [0x0f, 0xc7],
  // Alias opcodes and the hint-NOP space.
  [0x82], [0xf6], [0xd3], [0x0f, 0x94], [0x0f, 0x18], [0x0f, 0x1a], [0x0f, 0x1b], [0x0f, 0x1c], [0x0f, 0x1e],
];

/** Hint-space opcodes whose every ModRM byte is tried under F3, F2 and 66 (MPX, CET, prefetch forms). */
const PREFIXED_HINTS: number[][] = [[0x0f, 0x18], [0x0f, 0x1a], [0x0f, 0x1b], [0x0f, 0x1e]];

function record(prefix: number[], body: number[], rnd: () => number): Uint8Array {
  const r = new Uint8Array(RECORD);
  const head = [...prefix, ...body];
  for (let i = 0; i < RECORD; i++) r[i] = i < head.length ? head[i] : Math.floor(rnd() * 256);
  return r;
}

/**
 * Generated encodings. `hasModrm` says whether an opcode takes a ModRM byte
 * (from the decoder's tables); opcodes it does not know (x87, SSE...) get a
 * smaller sweep, enough to show they decode as invalid where ndisasm agrees.
 */
export function corpusRecords(bits: 16 | 32, hasModrm: (opcode: number[]) => boolean | undefined): Uint8Array[] {
  const rnd = prng(bits === 16 ? 0xc016 : 0xc032);
  const out: Uint8Array[] = [];
  const opcodes: number[][] = [];
  for (let b = 0; b < 256; b++) if (!PREFIXES.has(b) && b !== 0x0f) opcodes.push([b]);
  for (let b = 0; b < 256; b++) if (b !== 0x38 && b !== 0x3a) opcodes.push([0x0f, b]);
  opcodes.push([0x0f, 0x38, 0x80], [0x0f, 0x38, 0x81]);
  const sample = modrmSample();
  const small = sample.filter((_, i) => i % 6 === 0);
  for (const opc of opcodes) {
    const pre = opc[1] === 0x38 ? [0x66] : [];
    const known = hasModrm(opc);
    const modrms = known === true ? sample : known === false ? [0x00, 0xc0] : small;
    const mixModrm = known === false ? [0x00] : MIX_MODRM;
    for (const m of modrms) out.push(record(pre, [...opc, m], rnd));
    for (const mix of PREFIX_MIXES) for (const m of mixModrm) out.push(record([...pre, ...mix], [...opc, m], rnd));
  }
  FULL_MODRM.forEach((opc, i) => {
    for (let m = 0; m < 256; m++) {
      out.push(record([], [...opc, m], rnd));
      if (i < 3) out.push(record([0x67], [...opc, m], rnd));
    }
  });
  for (const pre of [[0xf3], [0xf2], [0x66]]) {
    for (const opc of PREFIXED_HINTS) for (let m = 0; m < 256; m++) out.push(record(pre, [...opc, m], rnd));
  }
  // The three-byte maps: all of 0F 38 and 0F 3A, with and without 66.
  for (const map of [0x38, 0x3a]) {
    for (let b = 0; b < 256; b++) for (const pre of [[], [0x66]]) out.push(record(pre, [0x0f, map, b, 0x04, 0x24], rnd));
  }
  // Every SIB byte under the three SIB-bearing ModRM forms.
  for (const m of [0x04, 0x44, 0x84]) {
    for (let sib = 0; sib < 256; sib++) out.push(record(bits === 16 ? [0x67] : [], [0x8b, m, sib], rnd));
  }
  // Mandatory-prefix forms and repeated prefixes in odd orders.
  const extra: number[][] = [
    [0xf3, 0x0f, 0xc7, 0x30], [0x66, 0x0f, 0xc7, 0x30], [0xf3, 0x66, 0x0f, 0xc7, 0x30], [0x66, 0xf3, 0x0f, 0xc7, 0x30],
    [0xf2, 0x0f, 0xc7, 0x30], [0x0f, 0xc7, 0x38], [0x66, 0x0f, 0xc7, 0x38], [0xf3, 0x90], [0x66, 0xf3, 0x90], [0xf3, 0x66, 0x90],
    [0x66, 0x66, 0x90], [0x67, 0x67, 0xa4], [0xf3, 0xf2, 0xa6], [0xf2, 0xf3, 0xa6], [0x2e, 0x3e, 0x8b, 0x00], [0xf0, 0xf0, 0x01, 0x00],
    [0x9b, 0x90], [0x9b, 0xdb, 0xe3], [0x9b, 0xd9, 0x38], [0x9b, 0x9b], [0xf3, 0x0f, 0xbc, 0xc0], [0xf3, 0x0f, 0xbd, 0xc0],
    [0xf3, 0x0f, 0xb8, 0xc0], [0x0f, 0x38, 0x80, 0x00], [0xf3, 0x0f, 0x38, 0x80, 0x00], [0x66, 0x0f, 0x78, 0xc0],
    [0xf2, 0xf0, 0x01, 0x00], [0xf3, 0xf0, 0x0f, 0xc1, 0x00], [0xf2, 0x86, 0x00], [0xf3, 0x89, 0x00], [0xf0, 0x90], [0xf0, 0x01, 0xc0],
    [0x2e, 0x67, 0xa1, 0x00, 0x01, 0x00, 0x00], [0x66, 0x67, 0x2e, 0xf3, 0xa5], [0xf0, 0xf3, 0x2e, 0x66, 0x67, 0xa5],
  ];
  for (const e of extra) out.push(record([], e, rnd));
  return out;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function fromHex(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
}
