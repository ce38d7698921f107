// The preprocessor: %include, single-line macros (%define with or without parameters, %undef,
// %assign) and conditional assembly (%ifdef/%ifndef/%if/%elif/%else/%endif).

import { AsmDiagnostic, AsmError } from './diagnostics';
import { evaluate, parseExpr } from './expr';
import { Token, lex } from './lexer';
import { resolveRelative } from './path';

export interface SourceLine {
  file: string;
  line: number;
  text: string;
  tokens: Token[];
  /** Include nesting level (0 for the main file), shown as <N> in listings. */
  depth: number;
  /** A preprocessor directive: listed but assembles to nothing. */
  directive?: boolean;
}

interface Macro {
  params: string[] | null;
  body: Token[];
  caseless: boolean;
}

const MAX_INCLUDE_DEPTH = 32;
const MAX_EXPANSION_DEPTH = 64;
const MAX_LINES = 2_000_000;
const MAX_EXPANDED_TOKENS = 100_000;

export interface PreprocessResult {
  lines: SourceLine[];
  diagnostics: AsmDiagnostic[];
}

interface CondFrame {
  /** This branch is being assembled. */
  active: boolean;
  /** Some branch of this %if chain has already been taken. */
  done: boolean;
  /** The enclosing context is active. */
  parentActive: boolean;
}

export function preprocess(source: string, fileName: string, readFile?: (p: string) => string | undefined): PreprocessResult {
  const macros = new Map<string, Macro>();
  const out: SourceLine[] = [];
  const diagnostics: AsmDiagnostic[] = [];
  const error = (file: string, line: number, column: number, message: string): void => {
    diagnostics.push({ file, line, column, severity: 'error', message });
  };

  const findMacro = (name: string): Macro | undefined => {
    const m = macros.get(name);
    if (m) return m;
    const ci = macros.get('\0' + name.toLowerCase());
    return ci;
  };

  const expand = (toks: Token[], depth: number): Token[] => {
    if (depth > MAX_EXPANSION_DEPTH) throw new AsmError('macro expansion too deep (recursive %define?)', toks[0]?.col ?? 1);
    let changed = false;
    const res: Token[] = [];
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i];
      const m = t.kind === 'id' && !t.escaped ? findMacro(t.text) : undefined;
      if (!m) {
        res.push(t);
        continue;
      }
      if (m.params === null) {
        res.push(...m.body.map((b) => ({ ...b, col: t.col })));
        changed = true;
        continue;
      }
      if (toks[i + 1]?.text !== '(') {
        res.push(t);
        continue;
      }
      // Collect comma-separated arguments up to the matching parenthesis.
      const args: Token[][] = [[]];
      let depthP = 0;
      let j = i + 2;
      for (; j < toks.length; j++) {
        const a = toks[j];
        if (a.text === '(') depthP++;
        if (a.text === ')') {
          if (depthP === 0) break;
          depthP--;
        }
        if (a.text === ',' && depthP === 0) args.push([]);
        else args[args.length - 1].push(a);
      }
      if (j >= toks.length) throw new AsmError(`unterminated macro call \`${t.text}'`, t.col);
      const argc = args.length === 1 && args[0].length === 0 ? 0 : args.length;
      if (argc !== m.params.length) {
        res.push(t);
        continue;
      }
      const params = m.params;
      for (const b of m.body) {
        const k = b.kind === 'id' ? params.indexOf(b.text) : -1;
        if (k >= 0) res.push(...args[k]);
        else res.push({ ...b, col: t.col });
      }
      i = j;
      changed = true;
    }
    if (res.length > MAX_EXPANDED_TOKENS) throw new AsmError('macro expansion too large', toks[0]?.col ?? 1);
    return changed ? expand(res, depth + 1) : res;
  };

  const process = (text: string, file: string, depth: number, stack: string[]): void => {
    const rawLines = text.split(/\r?\n/);
    // A final newline terminates the last line rather than starting an empty one.
    if (rawLines.length > 1 && rawLines[rawLines.length - 1] === '') rawLines.pop();
    const conds: CondFrame[] = [];
    const active = (): boolean => conds.length === 0 || conds[conds.length - 1].active;
    for (let ln = 0; ln < rawLines.length; ln++) {
      if (out.length > MAX_LINES) {
        error(file, ln + 1, 1, 'too many source lines');
        return;
      }
      let raw = rawLines[ln];
      const lineNo = ln + 1;
      // A trailing backslash continues the line.
      while (/\\\s*$/.test(raw) && ln + 1 < rawLines.length && !raw.includes(';')) {
        raw = raw.replace(/\\\s*$/, '') + rawLines[++ln];
      }
      const lx = lex(raw);
      if (lx.error) {
        if (active()) error(file, lineNo, lx.error.col, lx.error.message);
        out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
        continue;
      }
      const toks = lx.tokens;
      const first = toks[0];
      const directive = first && first.kind === 'id' && first.text.startsWith('%') ? first.text.toLowerCase() : undefined;
      try {
        if (directive && /^%(if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)$/.test(directive)) {
          out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
          handleCond(directive, toks, conds, active);
          continue;
        }
        if (!active()) {
          // Skipped lines still appear in the listing, as in nasm's.
          out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
          continue;
        }
        if (directive) out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
        if (directive === '%define' || directive === '%idefine' || directive === '%xdefine' || directive === '%xidefine') {
          const name = toks[1];
          if (!name || name.kind !== 'id') throw new AsmError('`%define\' expects a macro name', (name ?? first).col);
          let params: string[] | null = null;
          let bodyStart = 2;
          if (toks[2]?.text === '(' && toks[2].col === name.col + name.text.length) {
            params = [];
            let j = 3;
            while (j < toks.length && toks[j].text !== ')') {
              if (toks[j].kind === 'id') params.push(toks[j].text);
              else if (toks[j].text !== ',') throw new AsmError('bad macro parameter list', toks[j].col);
              j++;
            }
            if (j >= toks.length) throw new AsmError('unterminated macro parameter list', name.col);
            bodyStart = j + 1;
          }
          let body = toks.slice(bodyStart);
          if (directive.startsWith('%x')) body = expand(body, 0);
          const caseless = directive === '%idefine' || directive === '%xidefine';
          macros.set(caseless ? '\0' + name.text.toLowerCase() : name.text, { params, body, caseless });
          continue;
        }
        if (directive === '%undef') {
          const name = toks[1];
          if (!name) throw new AsmError('`%undef\' expects a macro name', first.col);
          macros.delete(name.text);
          macros.delete('\0' + name.text.toLowerCase());
          continue;
        }
        if (directive === '%assign' || directive === '%iassign') {
          const name = toks[1];
          if (!name || name.kind !== 'id') throw new AsmError('`%assign\' expects a macro name', first.col);
          const v = constExpr(expand(toks.slice(2), 0), name.col + name.text.length);
          macros.set(name.text, { params: null, body: [{ kind: 'num', text: String(v), col: name.col, value: v }], caseless: false });
          continue;
        }
        if (directive === '%include') {
          const f = toks[1];
          if (!f || f.kind !== 'str') throw new AsmError('`%include\' expects a file name in quotes', (f ?? first).col);
          const target = resolveRelative(file, f.text.slice(1, -1));
          if (stack.includes(target)) throw new AsmError(`circular %include of \`${target}'`, f.col);
          if (depth >= MAX_INCLUDE_DEPTH) throw new AsmError('%include nested too deeply', f.col);
          let content: string | undefined;
          try {
            content = readFile ? readFile(target) : undefined;
          } catch {
            content = undefined;
          }
          if (content === undefined) throw new AsmError(`unable to open include file \`${target}'`, f.col);
          process(content, target, depth + 1, [...stack, target]);
          continue;
        }
        if (directive === '%error' || directive === '%warning' || directive === '%fatal') {
          const msg = raw.slice(first.col - 1 + first.text.length).trim();
          diagnostics.push({ file, line: lineNo, column: first.col, severity: directive === '%warning' ? 'warning' : 'error', message: msg });
          continue;
        }
        if (directive && !/^%[0-9+]/.test(directive) && directive !== '%') {
          throw new AsmError(`unknown preprocessor directive \`${first.text}'`, first.col);
        }
        out.push({ file, line: lineNo, text: raw, tokens: expand(toks, 0), depth });
      } catch (e) {
        if (!(e instanceof AsmError)) throw e;
        error(file, lineNo, e.column ?? 1, e.message);
        if (out[out.length - 1]?.line !== lineNo || out[out.length - 1]?.file !== file) {
          out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
        }
      }
    }
    if (conds.length > 0) error(file, rawLines.length, 1, 'expected `%endif\' before end of file');
  };

  const constExpr = (toks: Token[], col: number): bigint => {
    if (toks.length === 0) throw new AsmError('expression expected', col);
    const e = parseExpr(toks, (n) => n);
    const v = evaluate(e, {
      symbol: () => undefined,
      here: () => ({ n: 0n, rel: null }),
      base: () => ({ n: 0n, rel: null }),
      strict: false,
    });
    if (v.unknown || v.rel !== null || v.regs.size > 0) throw new AsmError('non-constant value given to the preprocessor', toks[0].col);
    return v.n;
  };

  const handleCond = (d: string, toks: Token[], conds: CondFrame[], active: () => boolean): void => {
    const col = toks[0].col;
    const test = (): boolean => {
      if (d.endsWith('ndef') || d.endsWith('def')) {
        const name = toks[1];
        if (!name) throw new AsmError(`\`${d}' expects a macro name`, col);
        const defined = findMacro(name.text) !== undefined;
        return d.endsWith('ndef') ? !defined : defined;
      }
      return constExpr(expand(toks.slice(1), 0), col + d.length) !== 0n;
    };
    if (d === '%if' || d === '%ifdef' || d === '%ifndef') {
      const parentActive = active();
      const frame = { active: false, done: false, parentActive };
      conds.push(frame);
      // A bad condition still opens a block, so the matching %endif does not report a second error.
      const take = parentActive && test();
      frame.active = take;
      frame.done = take;
      return;
    }
    const top = conds[conds.length - 1];
    if (!top) throw new AsmError(`\`${d}' without \`%if'`, col);
    if (d === '%endif') {
      conds.pop();
      return;
    }
    if (d === '%else') {
      top.active = top.parentActive && !top.done;
      top.done = true;
      return;
    }
    // %elif family
    const take = top.parentActive && !top.done && test();
    top.active = take;
    if (take) top.done = true;
  };

  process(source, fileName, 0, [fileName]);
  return { lines: out, diagnostics };
}
