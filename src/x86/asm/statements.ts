// Turns preprocessed token lines into statements: label, prefixes, instruction or directive.

import { AsmError } from './diagnostics';
import { InsnPrefixes, JumpState } from './encoder';
import { Expr, ExprParser, parseExpr } from './expr';
import { isMnemonic } from './insns';
import { Token } from './lexer';
import { Operand, parseOperand, splitCommas } from './operands';
import { lookupRegister } from './registers';

export type DataItem = { k: 'bytes'; bytes: number[] } | { k: 'expr'; expr: Expr; col: number };

export type Stmt =
  | { k: 'none' }
  /** `relative`: a branch whose encoding depends on its own address (re-encoded per `times` repetition). */
  | { k: 'insn'; mnemonic: string; ops: Operand[]; prefixes: InsnPrefixes; jump: JumpState; col: number; relative: boolean }
  | { k: 'data'; unit: number; items: DataItem[]; col: number }
  | { k: 'res'; unit: number; count: Expr; col: number }
  | { k: 'times'; count: Expr; inner: Stmt; col: number }
  | { k: 'align'; value: Expr; fill: Stmt | null; bss: boolean; col: number }
  | { k: 'section'; name: string; align?: number; nobits?: boolean; col: number }
  | { k: 'bits'; bits: 16 | 32; col: number }
  | { k: 'org'; value: Expr; col: number }
  | { k: 'equ'; value: Expr; col: number };

export interface Line {
  file: string;
  line: number;
  text: string;
  label?: { name: string; col: number };
  stmt: Stmt;
  warnings?: { col: number; message: string }[];
  /** The statement after the label could not be parsed. */
  error?: AsmError;
}

const DATA_UNITS: Record<string, number> = { db: 1, dw: 2, dd: 4, dq: 8, dt: 10, do: 16 };
const RES_UNITS: Record<string, number> = { resb: 1, resw: 2, resd: 4, resq: 8, rest: 10, reso: 16 };
const REP_PREFIXES: Record<string, number> = { rep: 0xf3, repe: 0xf3, repz: 0xf3, repne: 0xf2, repnz: 0xf2 };
const IGNORED = new Set(['global', 'extern', 'common', 'cpu', 'default', 'static', 'warning']);

export function isKeywordStart(word: string): boolean {
  const w = word.toLowerCase();
  return (
    isMnemonic(w) || DATA_UNITS[w] !== undefined || RES_UNITS[w] !== undefined || REP_PREFIXES[w] !== undefined ||
    ['times', 'equ', 'align', 'alignb', 'section', 'segment', 'bits', 'use16', 'use32', 'org', 'lock', 'a16', 'a32', 'o16', 'o32', 'absolute'].includes(w) ||
    IGNORED.has(w)
  );
}

export class StatementParser {
  private scope = '';

  /** Local labels (.name) hang off the most recent ordinary label. */
  qualify = (name: string): string => {
    if (name.startsWith('.') && !name.startsWith('..')) return this.scope + name;
    return name;
  };

  parseLine(toks: Token[], file: string, line: number, text: string): Line {
    const res: Line = { file, line, text, stmt: { k: 'none' } };
    for (const t of toks) {
      // MASM habits: nasm warns about `ptr`, which it treats as an ordinary symbol.
      if (t.kind === 'id' && !t.escaped && t.text.toLowerCase() === 'ptr') {
        (res.warnings ??= []).push({ col: t.col, message: "`ptr' is not a NASM keyword" });
      }
    }
    let i = 0;
    // [directive ...] form
    if (toks[0]?.text === '[' && toks[toks.length - 1]?.text === ']') {
      toks = toks.slice(1, -1);
    }
    const t0 = toks[0];
    if (t0 && t0.kind === 'id' && t0.text !== '$' && t0.text !== '$$' && (t0.escaped || !isKeywordStart(t0.text) || toks[1]?.text === ':')) {
      if (!t0.escaped && lookupRegister(t0.text)) {
        if (!(lookupRegister(t0.text)?.cls === 'sreg' && toks[1]?.text !== ':')) throw new AsmError(`register \`${t0.text}' used as a label`, t0.col);
      } else {
        const isEqu = toks[1]?.text.toLowerCase() === 'equ' || (toks[1]?.text === ':' && toks[2]?.text.toLowerCase() === 'equ');
        const name = t0.text.startsWith('.') && !t0.text.startsWith('..') ? this.scope + t0.text : t0.text;
        if (!t0.text.startsWith('.') && !isEqu) this.scope = t0.text;
        res.label = { name, col: t0.col };
        i = toks[1]?.text === ':' ? 2 : 1;
        const next = toks[i];
        if (i === 1 && next && !(next.kind === 'id' && !next.escaped && isKeywordStart(next.text))) {
          // "mvo ax, bx": a word followed by operands is a misspelt instruction, not a label.
          throw new AsmError(`unknown instruction \`${t0.text}'`, t0.col);
        }
      }
    }
    try {
      res.stmt = this.parseStmt(toks.slice(i), res, toks);
    } catch (e) {
      // Keep the label of a bad line so later references to it do not cascade into more errors.
      if (!(e instanceof AsmError) || !res.label) throw e;
      res.error = e;
    }
    return res;
  }

  private parseStmt(toks: Token[], line: Line, all: Token[]): Stmt {
    const t = toks[0];
    if (!t) return { k: 'none' };
    const endCol = all.length ? all[all.length - 1].col + all[all.length - 1].text.length : 1;
    if (t.kind !== 'id') throw new AsmError(`label or instruction expected at start of line`, t.col);
    const w = t.text.toLowerCase();
    const rest = toks.slice(1);
    if (w === 'equ') {
      if (!line.label) throw new AsmError('`equ\' without a label', t.col);
      return { k: 'equ', value: this.expr(rest, endCol), col: t.col };
    }
    if (w === 'times') {
      const p = new ExprParser(rest, this.qualify);
      const count = p.parse();
      const inner = this.parseStmt(rest.slice(p.pos), line, all);
      return { k: 'times', count, inner, col: t.col };
    }
    if (DATA_UNITS[w] !== undefined) {
      const items: DataItem[] = [];
      for (const part of splitCommas(rest)) {
        if (part.length === 0) throw new AsmError('expression expected', endCol);
        if (part.length === 1 && part[0].kind === 'str') {
          items.push({ k: 'bytes', bytes: part[0].bytes ?? [] });
          continue;
        }
        const e = parseExpr(part, this.qualify);
        items.push({ k: 'expr', expr: e, col: part[0].col });
      }
      if (items.length === 0) throw new AsmError(`no operand for data declaration`, t.col);
      return { k: 'data', unit: DATA_UNITS[w], items, col: t.col };
    }
    if (RES_UNITS[w] !== undefined) {
      return { k: 'res', unit: RES_UNITS[w], count: this.expr(rest, endCol), col: t.col };
    }
    if (w === 'align' || w === 'alignb') {
      const parts = splitCommas(rest);
      const value = this.expr(parts[0], endCol);
      let fill: Stmt | null = null;
      if (parts.length > 1) fill = this.parseStmt(rest.slice(parts[0].length + 1), line, all);
      return { k: 'align', value, fill, bss: w === 'alignb', col: t.col };
    }
    if (w === 'section' || w === 'segment') {
      const name = rest[0];
      if (!name) throw new AsmError('section name expected', endCol);
      let nameText = name.text;
      let j = 1;
      // Section names may contain dots and other identifier characters only; join simple forms.
      while (j < rest.length && rest[j].col === rest[j - 1].col + rest[j - 1].text.length && rest[j].text !== '=') nameText += rest[j++].text;
      const st: Stmt = { k: 'section', name: nameText, col: name.col };
      for (; j < rest.length; j++) {
        const a = rest[j].text.toLowerCase();
        if (a === 'nobits') st.nobits = true;
        else if (a === 'progbits') st.nobits = false;
        else if (a === 'align' && rest[j + 1]?.text === '=' && rest[j + 2]?.kind === 'num') {
          st.align = Number(rest[j + 2].value ?? 1n);
          j += 2;
        } else if (rest[j + 1]?.text === '=') j += 2;
      }
      return st;
    }
    if (w === 'bits' || w === 'use16' || w === 'use32') {
      let bits: number;
      if (w === 'bits') {
        const n = rest[0];
        if (!n || n.kind !== 'num') throw new AsmError('`bits\' expects 16 or 32', (n ?? t).col);
        bits = Number(n.value);
      } else bits = w === 'use16' ? 16 : 32;
      if (bits !== 16 && bits !== 32) throw new AsmError(`\`${bits}' is not a valid segment size; must be 16 or 32`, rest[0]?.col ?? t.col);
      return { k: 'bits', bits, col: t.col };
    }
    if (w === 'org') return { k: 'org', value: this.expr(rest, endCol), col: t.col };
    if (IGNORED.has(w)) return { k: 'none' };
    // Instruction with optional prefixes.
    const prefixes: InsnPrefixes = {};
    let j = 0;
    for (; j < toks.length; j++) {
      const p = toks[j];
      if (p.kind !== 'id' || p.escaped) break;
      const pw = p.text.toLowerCase();
      if (REP_PREFIXES[pw] !== undefined) prefixes.rep = REP_PREFIXES[pw];
      else if (pw === 'lock') prefixes.lock = true;
      else if (pw === 'o16' || pw === 'o32') prefixes.osize = pw === 'o16' ? 16 : 32;
      else if (pw === 'a16' || pw === 'a32') prefixes.asize = pw === 'a16' ? 16 : 32;
      else if (lookupRegister(pw)?.cls === 'sreg' && j + 1 < toks.length && toks[j + 1].kind === 'id') prefixes.seg = lookupRegister(pw);
      else break;
    }
    const m = toks[j];
    if (!m) {
      // A prefix on its own line, e.g. "rep" followed by nothing: nasm emits the bare prefix byte.
      return { k: 'insn', mnemonic: '', ops: [], prefixes, jump: { long: false, grew: false }, col: t.col, relative: false };
    }
    if (m.kind !== 'id' || !isMnemonic(m.text)) {
      throw new AsmError(m.kind === 'id' ? `unknown instruction \`${m.text}'` : `parser: instruction expected`, m.col);
    }
    const opToks = toks.slice(j + 1);
    const ops: Operand[] = opToks.length === 0 ? [] : splitCommas(opToks).map((p) => parseOperand(p, this.qualify, endCol));
    const mn = m.text.toLowerCase();
    const relative = /^(j|loop|call)/.test(mn);
    return { k: 'insn', mnemonic: mn, ops, prefixes, jump: { long: false, grew: false }, col: m.col, relative };
  }

  private expr(toks: Token[], endCol: number): Expr {
    if (toks.length === 0) throw new AsmError('expression expected', endCol);
    return parseExpr(toks, this.qualify);
  }
}
