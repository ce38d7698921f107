// Operand syntax: registers, immediates (with size/jump keywords), memory references and far pointers.

import { AsmError } from './diagnostics';
import { Expr, parseExpr } from './expr';
import { Token } from './lexer';
import { Register, lookupRegister } from './registers';

export type SizeBits = 8 | 16 | 32 | 64 | 80;

export const SIZE_KEYWORDS: Record<string, SizeBits> = { byte: 8, word: 16, dword: 32, qword: 64, tword: 80 };

export interface RegOperand {
  kind: 'reg';
  reg: Register;
  col: number;
  size?: SizeBits;
}

export interface ImmOperand {
  kind: 'imm';
  expr: Expr;
  size?: SizeBits;
  strict: boolean;
  jump?: 'short' | 'near' | 'far';
  col: number;
}

export interface MemOperand {
  kind: 'mem';
  expr: Expr | null;
  seg?: Register;
  size?: SizeBits;
  /** `[byte ...]`, `[word ...]`, `[dword ...]`: displacement / address size hint. */
  dispSize?: 8 | 16 | 32;
  nosplit: boolean;
  far: boolean;
  near: boolean;
  col: number;
}

export interface FarOperand {
  kind: 'farptr';
  seg: Expr;
  off: Expr;
  size?: SizeBits;
  /** Written with the `far` keyword (which nasm rejects for seg:off). */
  far: boolean;
  col: number;
}

export type Operand = RegOperand | ImmOperand | MemOperand | FarOperand;

/** Splits tokens on top-level commas. */
export function splitCommas(toks: Token[]): Token[][] {
  const out: Token[][] = [];
  let cur: Token[] = [];
  let depth = 0;
  for (const t of toks) {
    if (t.kind === 'op' && (t.text === '(' || t.text === '[')) depth++;
    if (t.kind === 'op' && (t.text === ')' || t.text === ']')) depth--;
    if (depth === 0 && t.kind === 'op' && t.text === ',') {
      out.push(cur);
      cur = [];
    } else cur.push(t);
  }
  out.push(cur);
  return out;
}

function kw(t: Token | undefined): string | undefined {
  return t && t.kind === 'id' && !t.escaped ? t.text.toLowerCase() : undefined;
}

export function parseOperand(toks: Token[], scope: (n: string) => string, endCol: number): Operand {
  if (toks.length === 0) throw new AsmError('operand expected', endCol);
  const col = toks[0].col;
  let i = 0;
  let size: SizeBits | undefined;
  let strict = false;
  let jump: 'short' | 'near' | 'far' | undefined;
  for (;;) {
    const k = kw(toks[i]);
    if (k === undefined) break;
    if (SIZE_KEYWORDS[k] !== undefined) size = SIZE_KEYWORDS[k];
    else if (k === 'strict') strict = true;
    else if (k === 'short' || k === 'near' || k === 'far') jump = k;
    else if (k === 'to') {
      /* fpu-style `to` is meaningless here; accept silently */
    } else break;
    i++;
  }
  let rest = toks.slice(i);
  if (rest.length === 0) throw new AsmError('operand expected', toks[toks.length - 1].col + toks[toks.length - 1].text.length);
  // Segment override written outside the brackets: es:[di]
  let outerSeg: Register | undefined;
  if (rest.length >= 3 && rest[1].text === ':' && rest[2].text === '[') {
    const r = kw(rest[0]) ? lookupRegister(rest[0].text) : undefined;
    if (r && r.cls === 'sreg') {
      outerSeg = r;
      rest = rest.slice(2);
    }
  }
  if (rest[0].kind === 'op' && rest[0].text === '[') {
    const close = rest.length - 1;
    if (rest[close].text !== ']') throw new AsmError('expecting `]\'', rest[close].col);
    const inner = rest.slice(1, close);
    return parseMemory(inner, scope, { size, col, far: jump === 'far', near: jump === 'near', seg: outerSeg, endCol: rest[close].col });
  }
  // Far pointer: seg:off
  let depth = 0;
  for (let j = 0; j < rest.length; j++) {
    const t = rest[j];
    if (t.text === '(') depth++;
    if (t.text === ')') depth--;
    if (depth === 0 && t.kind === 'op' && t.text === ':') {
      const seg = parseExpr(rest.slice(0, j), scope);
      const off = parseExpr(rest.slice(j + 1), scope);
      return { kind: 'farptr', seg, off, size, far: jump === 'far', col };
    }
  }
  const expr = parseExpr(rest, scope);
  if (expr.k === 'reg') {
    return { kind: 'reg', reg: expr.reg, col, size };
  }
  return { kind: 'imm', expr, size, strict, jump, col };
}

function parseMemory(
  inner: Token[],
  scope: (n: string) => string,
  o: { size?: SizeBits; col: number; far: boolean; near: boolean; seg?: Register; endCol: number },
): MemOperand {
  let seg = o.seg;
  let dispSize: 8 | 16 | 32 | undefined;
  let nosplit = false;
  let i = 0;
  for (;;) {
    const k = kw(inner[i]);
    if (k === undefined) break;
    if (k === 'byte') dispSize = 8;
    else if (k === 'word') dispSize = 16;
    else if (k === 'dword') dispSize = 32;
    else if (k === 'nosplit') nosplit = true;
    else if (k === 'rel' || k === 'abs') {
      /* RIP-relative addressing does not exist outside 64-bit mode */
    } else {
      const r = lookupRegister(k);
      if (r && r.cls === 'sreg' && inner[i + 1]?.text === ':') {
        seg = r;
        i += 2;
        continue;
      }
      break;
    }
    i++;
  }
  const body = inner.slice(i);
  const expr = body.length === 0 ? null : parseExpr(body, scope);
  if (expr === null) throw new AsmError('empty memory reference', o.endCol);
  return { kind: 'mem', expr, seg, size: o.size, dispSize, nosplit, far: o.far, near: o.near, col: o.col };
}
