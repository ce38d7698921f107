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
  /** Assembled but not listed (the label of a line that invokes a multi-line macro). */
  hidden?: boolean;
}

interface Macro {
  params: string[] | null;
  body: Token[];
  caseless: boolean;
}

/** A multi-line macro (%macro ... %endmacro). */
interface MultiMacro {
  name: string;
  min: number;
  max: number;
  greedy: boolean;
  defaults: string[];
  body: RawLine[];
}

interface RawLine {
  text: string;
  file: string;
  line: number;
}

const MAX_INCLUDE_DEPTH = 32;
const MAX_EXPANSION_DEPTH = 64;
const MAX_LINES = 500_000;
const MAX_EXPANDED_TOKENS = 100_000;
const MAX_MACRO_DEPTH = 64;

export interface PreprocessResult {
  lines: SourceLine[];
  diagnostics: AsmDiagnostic[];
  /** The source grew past the line limit: not worth assembling. */
  fatal: boolean;
}

interface CondFrame {
  /** This branch is being assembled. */
  active: boolean;
  /** Some branch of this %if chain has already been taken. */
  done: boolean;
  /** The enclosing context is active. */
  parentActive: boolean;
}

/** The text before a `;` comment (a `;` inside quotes does not start one). */
function stripComment(text: string): string {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\' && quote === '`') i++;
      else if (ch === quote) quote = '';
    } else if (ch === "'" || ch === '"' || ch === '`') quote = ch;
    else if (ch === ';') return text.slice(0, i);
  }
  return text;
}

/** Splits macro arguments on top-level commas; braces group an argument that contains commas. */
function splitArgsRaw(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let quote = '';
  for (const ch of text) {
    if (quote) {
      cur += ch;
      if (ch === quote) quote = '';
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') quote = ch;
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    if (ch === ')' || ch === ']' || ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function splitArgs(text: string): string[] {
  return splitArgsRaw(text).map((a) => {
    const t = a.trim();
    return t.startsWith('{') && t.endsWith('}') ? t.slice(1, -1) : t;
  });
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
    if (depth > MAX_EXPANSION_DEPTH) {
      const culprit = toks.find((t) => t.kind === 'id' && !t.escaped && findMacro(t.text));
      throw new AsmError('macro expansion too deep (recursive %define?)', (culprit ?? toks[0])?.col ?? 1);
    }
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


  const multi = new Map<string, MultiMacro>();
  let tooMany = false;
  let macroSerial = 0;

  /** Index of the line closing the block opened at `start` (recs.length when missing). */
  const findBlockEnd = (recs: RawLine[], start: number, open: RegExp, close: RegExp): number => {
    let level = 0;
    for (let k = start; k < recs.length; k++) {
      const m = /^\s*(%[A-Za-z]+)/.exec(recs[k].text);
      const d = m ? m[1].toLowerCase() : '';
      if (open.test(d)) level++;
      else if (close.test(d) && --level === 0) return k;
    }
    return recs.length;
  };

  const defineMacro = (toks: Token[], caseless: boolean, body: RawLine[]): void => {
    const name = toks[1];
    if (!name || name.kind !== 'id') throw new AsmError('`%macro\' expects a macro name', (name ?? toks[0]).col);
    const spec = toks[2];
    if (!spec || spec.kind !== 'num') throw new AsmError('`%macro\' expects a parameter count', (spec ?? name).col);
    let min = Number(spec.value ?? 0n);
    let max = min;
    let j = 3;
    if (toks[j]?.text === '-') {
      const hi = toks[j + 1];
      if (hi?.text === '*') max = Infinity;
      else if (hi?.kind === 'num') max = Number(hi.value ?? 0n);
      else throw new AsmError('bad parameter range', (hi ?? toks[j]).col);
      j += 2;
    }
    let greedy = false;
    if (toks[j]?.text === '+') {
      greedy = true;
      j++;
    }
    if (toks[j]?.text.toLowerCase() === '.nolist') j++;
    const defaults = toks.slice(j).length ? splitArgs(toks.slice(j).map((t) => t.text).join(' ')) : [];
    min = Math.max(0, min);
    const key = caseless ? '\0' + name.text.toLowerCase() : name.text;
    multi.set(key, { name: name.text, min, max, greedy, defaults, body });
  };

  const findMulti = (name: string): MultiMacro | undefined => multi.get(name) ?? multi.get('\0' + name.toLowerCase());

  /** `[label[:]] NAME args` where NAME is a multi-line macro. */
  const macroCall = (toks: Token[]): { macro: MultiMacro; label?: Token[]; argStart: number; col: number } | undefined => {
    if (multi.size === 0) return undefined;
    const at = (i: number): { macro: MultiMacro; label?: Token[]; argStart: number; col: number } | undefined => {
      const t = toks[i];
      if (!t || t.kind !== 'id' || t.escaped) return undefined;
      const macro = findMulti(t.text);
      if (!macro) return undefined;
      return { macro, label: i > 0 ? toks.slice(0, i) : undefined, argStart: t.col - 1 + t.text.length, col: t.col };
    };
    return at(0) ?? (toks[0]?.kind === 'id' && toks[1]?.text === ':' ? at(2) : toks[0]?.kind === 'id' && !findMulti(toks[0].text) ? at(1) : undefined);
  };

  const instantiate = (m: MultiMacro, argText: string, col: number): string[] => {
    const text = stripComment(argText).trim();
    let args = text === '' ? [] : splitArgs(text);
    if (m.greedy && args.length > m.max) {
      const commaJoined = splitArgsRaw(text);
      args = [...commaJoined.slice(0, m.max - 1).map((a) => a.trim()), commaJoined.slice(m.max - 1).join(',').trim()];
    }
    if (args.length < m.min || args.length > m.max) {
      throw new AsmError(`macro \`${m.name}' takes ${m.min === m.max ? m.min : `${m.min}-${m.max}`} parameter(s), not ${args.length}`, col);
    }
    const all = [...args];
    for (let k = args.length; k < m.min + m.defaults.length && k < m.max; k++) all.push(m.defaults[k - m.min] ?? '');
    const serial = ++macroSerial;
    return m.body.map((r) =>
      r.text
        .replace(/%%([A-Za-z_.?@$#~][A-Za-z0-9_.?@$#~]*)/g, (_, name: string) => `..@${serial}.${name}`)
        .replace(/%\{(\d+)\}|%(\d+)/g, (_, a: string | undefined, b: string | undefined) => {
          const n = Number(a ?? b);
          return n === 0 ? String(args.length) : all[n - 1] ?? '';
        }),
    );
  };

  const process = (text: string, file: string, depth: number, stack: string[]): void => {
    const rawLines = text.split(/\r?\n/);
    // A final newline terminates the last line rather than starting an empty one.
    if (rawLines.length > 1 && rawLines[rawLines.length - 1] === '') rawLines.pop();
    const recs: RawLine[] = [];
    for (let ln = 0; ln < rawLines.length; ln++) {
      let raw = rawLines[ln];
      const lineNo = ln + 1;
      // A trailing backslash continues the line.
      while (/\\\s*$/.test(raw) && ln + 1 < rawLines.length && !raw.includes(';')) {
        raw = raw.replace(/\\\s*$/, '') + rawLines[++ln];
      }
      recs.push({ text: raw, file, line: lineNo });
    }
    processRecords(recs, depth, stack, 0);
  };

  const processRecords = (recs: RawLine[], depth: number, stack: string[], macroDepth: number): void => {
    const conds: CondFrame[] = [];
    const active = (): boolean => conds.length === 0 || conds[conds.length - 1].active;
    for (let ri = 0; ri < recs.length; ri++) {
      const { text: raw, file, line: lineNo } = recs[ri];
      if (out.length > MAX_LINES) {
        if (!tooMany) error(file, lineNo, 1, `more than ${MAX_LINES} source lines (runaway %rep or %include?)`);
        tooMany = true;
        return;
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
        if (directive && /^%(if|ifdef|ifndef|ifmacro|ifnmacro|elif|elifdef|elifndef|elifmacro|elifnmacro|else|endif)$/.test(directive)) {
          out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
          handleCond(directive, toks, conds, active);
          continue;
        }
        if (!active()) {
          // Skipped lines still appear in the listing, as in nasm's.
          out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
          continue;
        }
        if (directive === '%macro' || directive === '%imacro') {
          const end = findBlockEnd(recs, ri, /^%i?macro$/, /^%endm(acro)?$/);
          for (let k = ri; k <= Math.min(end, recs.length - 1); k++) out.push({ file: recs[k].file, line: recs[k].line, text: recs[k].text, tokens: [], depth, directive: true });
          if (end >= recs.length) throw new AsmError('`%macro\' without `%endmacro\'', first.col);
          defineMacro(toks, directive === '%imacro', recs.slice(ri + 1, end));
          ri = end;
          continue;
        }
        if (directive === '%rep') {
          const end = findBlockEnd(recs, ri, /^%rep$/, /^%endrep$/);
          out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
          if (end >= recs.length) throw new AsmError('`%rep\' without `%endrep\'', first.col);
          const body = recs.slice(ri + 1, end);
          const endRec = recs[end];
          ri = end;
          const count = constExpr(expand(toks.slice(1), 0), first.col + first.text.length);
          if (count < 0n) throw new AsmError('negative %rep count', first.col);
          if (count * BigInt(Math.max(1, body.length)) > BigInt(MAX_LINES)) throw new AsmError('%rep count too large', first.col);
          if (macroDepth >= MAX_MACRO_DEPTH) throw new AsmError('macros nested too deeply', first.col);
          for (let k = 0n; k < count && !tooMany; k++) processRecords(body, depth, stack, macroDepth + 1);
          out.push({ file: endRec.file, line: endRec.line, text: endRec.text, tokens: [], depth, directive: true });
          continue;
        }
        if (directive === '%endmacro' || directive === '%endm' || directive === '%endrep') {
          throw new AsmError(`\`${first.text}' without a matching opening directive`, first.col);
        }
        if (!directive) {
          const call = macroCall(toks);
          if (call) {
            if (macroDepth >= MAX_MACRO_DEPTH) throw new AsmError('macros nested too deeply (recursive %macro?)', call.col);
            out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
            if (call.label) out.push({ file, line: lineNo, text: raw, tokens: call.label, depth, directive: false, hidden: true });
            const lines = instantiate(call.macro, raw.slice(call.argStart), call.col);
            processRecords(lines.map((t) => ({ text: t, file, line: lineNo })), depth, stack, macroDepth + 1);
            continue;
          }
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
        const expanded = expand(toks, 0);
        noteEqu(expanded);
        out.push({ file, line: lineNo, text: raw, tokens: expanded, depth });
      } catch (e) {
        if (!(e instanceof AsmError)) throw e;
        error(file, lineNo, e.column ?? 1, e.message);
        if (out[out.length - 1]?.line !== lineNo || out[out.length - 1]?.file !== file) {
          out.push({ file, line: lineNo, text: raw, tokens: [], depth, directive: true });
        }
      }
    }
    const last = recs[recs.length - 1];
    if (conds.length > 0 && last) error(last.file, last.line, 1, 'expected `%endif\' before end of file');
  };

  // `NAME equ <constant>` seen so far: nasm's %if and %rep may use such symbols.
  const equs = new Map<string, bigint>();
  const noteEqu = (toks: Token[]): void => {
    let i = toks[1]?.text === ':' ? 2 : 1;
    if (toks[0]?.kind !== 'id' || toks[i]?.text.toLowerCase() !== 'equ') return;
    i++;
    try {
      equs.set(toks[0].text, constExpr(toks.slice(i), toks[0].col));
    } catch {
      /* not a constant the preprocessor can know (e.g. refers to a label) */
    }
  };

  const constExpr = (toks: Token[], col: number): bigint => {
    if (toks.length === 0) throw new AsmError('expression expected', col);
    const e = parseExpr(toks, (n) => n);
    const v = evaluate(e, {
      symbol: (name) => {
        const n = equs.get(name);
        return n === undefined ? undefined : { n, rel: null };
      },
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
      if (d.endsWith('macro')) {
        const name = toks[1];
        if (!name) throw new AsmError(`\`${d}' expects a macro name`, col);
        const m = findMulti(name.text);
        const n = toks[2]?.kind === 'num' ? Number(toks[2].value ?? 0n) : undefined;
        const defined = !!m && (n === undefined || (n >= m.min && n <= m.max));
        return d.endsWith('nmacro') ? !defined : defined;
      }
      if (d.endsWith('ndef') || d.endsWith('def')) {
        const name = toks[1];
        if (!name) throw new AsmError(`\`${d}' expects a macro name`, col);
        const defined = findMacro(name.text) !== undefined;
        return d.endsWith('ndef') ? !defined : defined;
      }
      return constExpr(expand(toks.slice(1), 0), col + d.length) !== 0n;
    };
    if (d === '%if' || d === '%ifdef' || d === '%ifndef' || d === '%ifmacro' || d === '%ifnmacro') {
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
  return { lines: out, diagnostics, fatal: tooMany };
}
