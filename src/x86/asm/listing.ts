// nasm-style listing (`nasm -l`): line number, section offset, bytes (label-relative fields in
// brackets, repeats as <rep N>, reservations as ?? or <res N>), include level, source text.

import { AsmDiagnostic } from './diagnostics';

export interface Reloc {
  at: number;
  size: number;
  shown: bigint;
  /** A relative field aimed at a plain address: listed as (address). */
  absolute?: boolean;
}

/** One emitted run: bytes repeated `repeat` times, or `reserve` bytes of uninitialised space. */
export type Part = { bytes: number[]; repeat: number; relocs?: Reloc[] } | { reserve: number; zero: boolean };

export interface ListingLine {
  line: number;
  depth: number;
  text: string;
  offset: bigint;
  parts: Part[];
  nobits: boolean;
  diags: AsmDiagnostic[];
}

const HEX_WIDTH = 18;

/** nasm names the warning class after each warning message. */
function warningTag(d: AsmDiagnostic): string {
  if (d.severity !== 'warning') return '';
  if (/exceeds bounds/.test(d.message)) return ' [-w+number-overflow]';
  if (/zeroing/.test(d.message)) return ' [-w+zeroing]';
  if (/not a NASM keyword/.test(d.message)) return ' [-w+ptr]';
  if (/obsolete/.test(d.message)) return ' [-w+obsolete-removed]';
  if (/operand size prefix/.test(d.message)) return ' [-w+prefix-opsize]';
  return ' [-w+other]';
}

const hex = (n: number | bigint, w: number): string => {
  const v = BigInt.asUintN(w * 4, BigInt(n));
  return v.toString(16).toUpperCase().padStart(w, '0');
};

/** Hex text for a run of bytes, bracketing label-relative fields. */
function hexBytes(bytes: number[], relocs: Reloc[] = []): { text: string; units: { s: string; bytes: number }[] } {
  const units: { s: string; bytes: number }[] = [];
  let i = 0;
  while (i < bytes.length) {
    const r = relocs.find((x) => x.at === i);
    if (r) {
      const le: string[] = [];
      for (let k = 0; k < r.size; k++) le.push(hex((r.shown >> BigInt(8 * k)) & 0xffn, 2));
      units.push({ s: r.absolute ? `(${le.join('')})` : `[${le.join('')}]`, bytes: r.size });
      i += r.size;
    } else {
      units.push({ s: hex(bytes[i], 2), bytes: 1 });
      i++;
    }
  }
  return { text: units.map((u) => u.s).join(''), units };
}

export function formatListing(lines: ListingLine[]): string {
  const out: string[] = [];
  for (const l of lines) {
    const num = String(l.line).padStart(6);
    const marker = l.depth > 0 ? `<${l.depth}> ` : '    ';
    const size = l.parts.reduce((a, p) => a + ('reserve' in p ? p.reserve : p.bytes.length * p.repeat), 0);
    if (l.parts.length === 0 || size === 0) {
      out.push(`${num} ${' '.repeat(8)} ${' '.repeat(HEX_WIDTH)}  ${marker}${l.text}`);
    } else {
      const first = l.parts[0];
      let chunks: { s: string; bytes: number }[][];
      if ('reserve' in first) {
        const s = size * 2 <= HEX_WIDTH ? '??'.repeat(size) : `<res ${size.toString(16).toUpperCase()}h>`;
        chunks = [[{ s, bytes: size }]];
      } else {
        const { units } = hexBytes(first.bytes, first.relocs);
        const reps = l.parts.length > 1 ? l.parts.length : first.repeat;
        if (reps > 1) {
          units.push({ s: `<rep ${reps.toString(16).toUpperCase()}h>`, bytes: 0 });
          chunks = [units];
        } else {
          chunks = [];
          let cur: { s: string; bytes: number }[] = [];
          let len = 0;
          for (const u of units) {
            if (len + u.s.length > HEX_WIDTH && cur.length > 0) {
              chunks.push(cur);
              cur = [];
              len = 0;
            }
            cur.push(u);
            len += u.s.length;
          }
          chunks.push(cur);
        }
      }
      let addr = l.offset;
      chunks.forEach((c, i) => {
        const text = c.map((u) => u.s).join('');
        const more = i < chunks.length - 1 ? '-' : '';
        const tail = i === 0 ? ` ${marker}${l.text}` : '';
        out.push(`${num} ${hex(addr, 8)} ${(text + more).padEnd(HEX_WIDTH + 1)}${tail}`);
        addr += BigInt(c.reduce((a, u) => a + u.bytes, 0));
      });
    }
    for (const d of l.diags) out.push(`${num}          ${'*'.repeat(18)}       ${d.severity}: ${d.message}${warningTag(d)}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}
