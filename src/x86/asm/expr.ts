// Expression trees and their evaluation. Registers may appear as leaves so that the same
// parser serves immediates and effective addresses ("[ebx+ecx*4+label-2]").

import { AsmError } from './diagnostics';
import { Token, bytesToNumber } from './lexer';
import { Register, lookupRegister } from './registers';

export type Expr =
  | { k: 'num'; v: bigint; col: number }
  | { k: 'sym'; name: string; col: number }
  | { k: 'here'; col: number }
  | { k: 'base'; col: number }
  | { k: 'reg'; reg: Register; col: number }
  | { k: 'un'; op: string; a: Expr; col: number }
  | { k: 'bin'; op: string; a: Expr; b: Expr; col: number };

/** Value of an expression. `rel` names the section a label-derived value moves with (nasm: not "simple"). */
export interface Value {
  n: bigint;
  rel: string | null;
  /** Some symbol had no value yet (forward reference in an early pass, or undefined). */
  unknown: boolean;
  /** Register terms (effective addresses only): register name -> scale. */
  regs: Map<string, bigint>;
  /** Registers written with an explicit multiplication (`eax*1`): nasm prefers them as the index. */
  scaled?: Set<string>;
  /** Section terms with their coefficients (`$ - $$` cancels to none); `rel` is derived from them. */
  terms?: Map<string, bigint>;
}

function termsOf(v: Value): Map<string, bigint> {
  if (v.terms) return v.terms;
  return v.rel === null ? new Map() : new Map([[v.rel, 1n]]);
}

function combineTerms(a: Map<string, bigint>, b: Map<string, bigint>, k: bigint): Map<string, bigint> {
  const m = new Map(a);
  for (const [s, c] of b) m.set(s, (m.get(s) ?? 0n) + c * k);
  for (const [s, c] of m) if (c === 0n) m.delete(s);
  return m;
}

function relOf(terms: Map<string, bigint>): string | null {
  if (terms.size === 0) return null;
  const [[s, c]] = [...terms];
  return terms.size === 1 && c === 1n && s !== '?' ? s : '?';
}

/** The single section a value moves with and in which direction (`-lbl` moves against it). */
export function relocOf(v: Value): { sec: string; coef: bigint } | undefined {
  const terms = termsOf(v);
  if (terms.size !== 1) return undefined;
  const [[sec, coef]] = [...terms];
  return sec === '?' || (coef !== 1n && coef !== -1n) ? undefined : { sec, coef };
}

function sameTerms(a: Map<string, bigint>, b: Map<string, bigint>): boolean {
  if (a.size !== b.size) return false;
  for (const [s, c] of a) if (b.get(s) !== c || s === '?') return false;
  return true;
}

export interface EvalContext {
  symbol(name: string, col: number): { n: bigint; rel: string | null } | undefined;
  here(): { n: bigint; rel: string | null };
  base(): { n: bigint; rel: string | null };
  /** Undefined symbols raise an error only when true (final pass). */
  strict: boolean;
}

const BINARY_LEVELS: string[][] = [
  ['||'],
  ['^^'],
  ['&&'],
  ['=', '==', '!=', '<>', '<', '<=', '>', '>=', '<=>'],
  ['|'],
  ['^'],
  ['&'],
  ['<<', '>>', '<<<', '>>>'],
  ['+', '-'],
  ['*', '/', '%', '//', '%%'],
];

/** Recursive-descent parser over a token slice. */
const MAX_NESTING = 200;

export class ExprParser {
  pos = 0;
  private nesting = 0;
  constructor(private readonly toks: Token[], private readonly localScope: (name: string) => string) {
    // `x%y` lexes as `x` `%y`; split such tokens back into operator + name.
    const fixed: Token[] = [];
    for (const t of toks) {
      if (t.kind === 'id' && t.text.length > 1 && t.text[0] === '%' && t.text[1] !== '%') {
        fixed.push({ kind: 'op', text: '%', col: t.col });
        fixed.push({ kind: 'id', text: t.text.slice(1), col: t.col + 1 });
      } else fixed.push(t);
    }
    this.toks = fixed;
  }

  peek(): Token | undefined {
    return this.toks[this.pos];
  }

  atEnd(): boolean {
    return this.pos >= this.toks.length;
  }

  parse(): Expr {
    return this.level(0);
  }

  private level(n: number): Expr {
    if (n >= BINARY_LEVELS.length) return this.unary();
    let left = this.level(n + 1);
    for (;;) {
      const t = this.peek();
      if (!t || t.kind !== 'op' || !BINARY_LEVELS[n].includes(t.text)) return left;
      this.pos++;
      const right = this.level(n + 1);
      left = { k: 'bin', op: t.text, a: left, b: right, col: t.col };
    }
  }

  private unary(): Expr {
    const t = this.peek();
    if (!t) throw new AsmError('expression expected', this.endCol());
    if (t.kind === 'op' && ['-', '+', '~', '!'].includes(t.text)) {
      this.pos++;
      if (++this.nesting > MAX_NESTING) throw new AsmError('expression too deeply nested', t.col);
      const a = this.unary();
      this.nesting--;
      return { k: 'un', op: t.text, a, col: t.col };
    }
    return this.primary();
  }

  private endCol(): number {
    const last = this.toks[this.toks.length - 1];
    return last ? last.col + last.text.length : 1;
  }

  private primary(): Expr {
    const t = this.peek();
    if (!t) throw new AsmError('expression expected', this.endCol());
    this.pos++;
    if (t.kind === 'num') return { k: 'num', v: t.value ?? 0n, col: t.col };
    if (t.kind === 'str') {
      if ((t.bytes ?? []).length > 8) throw new AsmError('character constant too long', t.col);
      return { k: 'num', v: bytesToNumber(t.bytes ?? []), col: t.col };
    }
    if (t.kind === 'op' && t.text === '(') {
      if (++this.nesting > MAX_NESTING) throw new AsmError('expression too deeply nested', t.col);
      const e = this.level(0);
      this.nesting--;
      const c = this.peek();
      if (!c || c.text !== ')') throw new AsmError('expecting `)\'', c ? c.col : this.endCol());
      this.pos++;
      return e;
    }
    if (t.kind === 'id') {
      if (t.text === '$') return { k: 'here', col: t.col };
      if (t.text === '$$') return { k: 'base', col: t.col };
      if (!t.escaped) {
        const reg = lookupRegister(t.text);
        if (reg) return { k: 'reg', reg, col: t.col };
        if (/^(byte|word|dword|qword|tword|short|near|far|strict)$/i.test(t.text)) {
          throw new AsmError(`unexpected \`${t.text}' in expression`, t.col);
        }
      }
      if (t.text.startsWith('%')) throw new AsmError(`unexpected \`${t.text}'`, t.col);
      return { k: 'sym', name: this.localScope(t.text), col: t.col };
    }
    throw new AsmError(`unexpected \`${t.text}' in expression`, t.col);
  }
}

export function parseExpr(toks: Token[], localScope: (name: string) => string): Expr {
  const p = new ExprParser(toks, localScope);
  const e = p.parse();
  const rest = p.peek();
  if (rest) throw new AsmError(`unexpected \`${rest.text}' after expression`, rest.col);
  return e;
}

const MASK64 = (1n << 64n) - 1n;
const COMPARISONS = new Set(['=', '==', '!=', '<>', '<', '<=', '>', '>=', '<=>']);

function toSigned64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

function scalar(n: bigint): Value {
  return { n, rel: null, unknown: false, regs: new Map() };
}

function isScalar(v: Value): boolean {
  return v.rel === null && v.regs.size === 0;
}

function requireScalar(v: Value, op: string, col: number): void {
  if (v.regs.size > 0) throw new AsmError('invalid effective address', col);
  if (v.rel !== null) throw new AsmError(`\`${op}' operator may only be applied to scalar values`, col);
}

function addRegs(a: Map<string, bigint>, b: Map<string, bigint>, sign: bigint): Map<string, bigint> {
  const m = new Map(a);
  for (const [r, s] of b) m.set(r, (m.get(r) ?? 0n) + s * sign);
  for (const [r, s] of m) if (s === 0n) m.delete(r);
  return m;
}

export function evaluate(e: Expr, ctx: EvalContext): Value {
  switch (e.k) {
    case 'num':
      return scalar(e.v);
    case 'reg':
      return { n: 0n, rel: null, unknown: false, regs: new Map([[e.reg.name, 1n]]) };
    case 'here': {
      const h = ctx.here();
      return { n: h.n, rel: h.rel, unknown: false, regs: new Map() };
    }
    case 'base': {
      const h = ctx.base();
      return { n: h.n, rel: h.rel, unknown: false, regs: new Map() };
    }
    case 'sym': {
      const s = ctx.symbol(e.name, e.col);
      if (!s) {
        if (ctx.strict) throw new AsmError(`symbol \`${e.name}' not defined`, e.col);
        return { n: 0n, rel: null, unknown: true, regs: new Map() };
      }
      return { n: s.n, rel: s.rel, unknown: false, regs: new Map() };
    }
    case 'un': {
      const a = evaluate(e.a, ctx);
      if (e.op === '+') return a;
      if (e.op === '-') {
        // nasm allows negating a label; the result is a number but no longer a plain one.
        const terms = combineTerms(new Map(), termsOf(a), -1n);
        return { n: BigInt.asIntN(64, -a.n), rel: relOf(terms), terms, unknown: a.unknown, regs: addRegs(new Map(), a.regs, -1n) };
      }
      requireScalar(a, e.op, e.col);
      const n = e.op === '~' ? ~a.n : a.n === 0n ? 1n : 0n;
      return { ...scalar(n), unknown: a.unknown };
    }
    case 'bin': {
      const a = evaluate(e.a, ctx);
      const b = evaluate(e.b, ctx);
      const unknown = a.unknown || b.unknown;
      if (e.op === '+' || e.op === '-') {
        const sign = e.op === '+' ? 1 : -1;
        const scaled = a.scaled || b.scaled ? new Set([...(a.scaled ?? []), ...(b.scaled ?? [])]) : undefined;
        const terms = combineTerms(termsOf(a), termsOf(b), BigInt(sign));
        return {
          n: BigInt.asIntN(64, sign === 1 ? a.n + b.n : a.n - b.n),
          rel: relOf(terms),
          terms,
          unknown,
          regs: addRegs(a.regs, b.regs, BigInt(sign)),
          scaled,
        };
      }
      if (e.op === '*') {
        // label*1 stays the label and label*0 is 0 (nasm accepts both); other multiples are rejected.
        if ((a.rel === null && a.regs.size === 0 && a.n === 0n) || (b.rel === null && b.regs.size === 0 && b.n === 0n)) {
          return { ...scalar(0n), unknown };
        }
        if (a.rel !== null && b.rel === null && b.regs.size === 0 && b.n === 1n) return a;
        if (b.rel !== null && a.rel === null && a.regs.size === 0 && a.n === 1n) return b;
        if (a.rel !== null || b.rel !== null) throw new AsmError('expression is not simple or relocatable', e.col);
        if (a.regs.size > 0 && b.regs.size > 0) throw new AsmError('invalid effective address: register multiplied by register', e.col);
        const regs = new Map<string, bigint>();
        if (a.regs.size > 0) for (const [r, s] of a.regs) regs.set(r, s * b.n);
        if (b.regs.size > 0) for (const [r, s] of b.regs) regs.set(r, s * a.n);
        for (const [r, s] of regs) if (s === 0n) regs.delete(r);
        return { n: BigInt.asIntN(64, a.n * b.n), rel: null, unknown, regs, scaled: new Set(regs.keys()) };
      }
      if (COMPARISONS.has(e.op) && a.regs.size === 0 && b.regs.size === 0 && (a.rel !== null || b.rel !== null)) {
        // Labels compare by address when they share a section. Otherwise nasm calls (in)equality
        // false (true) and rejects ordering.
        if (sameTerms(termsOf(a), termsOf(b))) return { ...scalar(binaryScalar(e.op, a.n, b.n, unknown, e.col)), unknown };
        if (e.op === '=' || e.op === '==') return { ...scalar(0n), unknown };
        if (e.op === '!=' || e.op === '<>') return { ...scalar(1n), unknown };
        throw new AsmError(`\`${e.op}': operands differ by a non-scalar`, e.col);
      }
      requireScalar(a, e.op, e.col);
      requireScalar(b, e.op, e.col);
      // Before the final pass a zero divisor may be a label difference still settling.
      return { ...scalar(binaryScalar(e.op, a.n, b.n, unknown || !ctx.strict, e.col)), unknown };
    }
  }
}

function binaryScalar(op: string, x: bigint, y: bigint, unknown: boolean, col: number): bigint {
  const ux = x & MASK64;
  const uy = y & MASK64;
  const sx = toSigned64(x);
  const sy = toSigned64(y);
  const b = (c: boolean): bigint => (c ? 1n : 0n);
  switch (op) {
    case '/':
    case '//':
    case '%':
    case '%%':
      if (y === 0n) {
        if (unknown) return 0n;
        throw new AsmError('division by zero', col);
      }
      if (op === '/') return ux / uy;
      if (op === '%') return ux % uy;
      if (op === '//') return sx / sy;
      return sx % sy;
    // Shift counts wrap modulo 64, as nasm's (C, x86) shifts do.
    case '<<':
    case '<<<':
      return toSigned64(x << (uy & 63n));
    case '>>':
      return ux >> (uy & 63n);
    case '>>>':
      return sx >> (uy & 63n);
    case '&':
      return x & y;
    case '|':
      return x | y;
    case '^':
      return x ^ y;
    case '&&':
      return b(x !== 0n && y !== 0n);
    case '||':
      return b(x !== 0n || y !== 0n);
    case '^^':
      return b((x !== 0n) !== (y !== 0n));
    // nasm compares by the sign of the 64-bit difference, so (5 << 63) >= 1 holds.
    case '=':
    case '==':
      return b(toSigned64(x - y) === 0n);
    case '!=':
    case '<>':
      return b(toSigned64(x - y) !== 0n);
    case '<':
      return b(toSigned64(x - y) < 0n);
    case '<=':
      return b(toSigned64(x - y) <= 0n);
    case '>':
      return b(toSigned64(x - y) > 0n);
    case '>=':
      return b(toSigned64(x - y) >= 0n);
    case '<=>': {
      const d = toSigned64(x - y);
      return d < 0n ? -1n : d > 0n ? 1n : 0n;
    }
  }
  throw new AsmError(`unknown operator \`${op}'`, col);
}

export { isScalar };
