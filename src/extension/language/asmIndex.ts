// A line scanner for the names a NASM source defines: labels (global, local
// `.x` under the previous global one), `equ` constants, `%define`/`%assign`
// names and `%macro` names, with their positions. It reads the text as
// written, without running the preprocessor, so it works on sources that do
// not assemble yet; the assembler stays the authority on what a name means.

import { isMnemonic } from '../../x86/asm/insns';
import { lookupRegister } from '../../x86/asm/registers';

export type AsmSymbolKind = 'label' | 'local' | 'constant' | 'define' | 'macro';

export interface AsmSymbol {
  /** As written (`.loop`, `start`). */
  name: string;
  /** How other code refers to it: a local label prefixed with its global (`start.loop`). */
  fullName: string;
  kind: AsmSymbolKind;
  /** 0-based line and column of the name. */
  line: number;
  column: number;
  /** Last line the symbol spans (a label: up to the next global label; a macro: its %endmacro). */
  endLine: number;
  children: AsmSymbol[];
}

export interface AsmIndex {
  /** Top-level symbols in source order; local labels are children of their global label. */
  symbols: AsmSymbol[];
  /** Every symbol, by fullName (first definition wins). */
  byName: Map<string, AsmSymbol>;
  /** `%include` lines: 0-based line and the path as written. */
  includes: { line: number; path: string }[];
}

const IDENT = /[A-Za-z0-9_.?$@~#]/;
const NAME = String.raw`\$?[A-Za-z_.?@~#][A-Za-z0-9_.?$@~#]*`;
const DATA = /^(?:d[bwdqto]|res[bwdqto]|rest|times|equ)$/i;
const LABEL_COLON = new RegExp(String.raw`^(\s*)(${NAME})\s*:`);
const LABEL_BARE = new RegExp(String.raw`^(\s*)(${NAME})\s+([A-Za-z]+)\b`);
const DEFINE = new RegExp(String.raw`^(\s*)%\s*(?:i|x|ix)?(define|assign)\s+(${NAME})`, 'i');
const MACRO = new RegExp(String.raw`^(\s*)%\s*i?macro\s+(${NAME})`, 'i');
/** A word alone on a line: a label when it is not an instruction or prefix (nasm warns, but defines it). */
const LABEL_ALONE = new RegExp(String.raw`^(\s*)(${NAME})\s*$`);
const PREFIXES = /^(?:rep|repe|repz|repne|repnz|lock|o16|o32|a16|a32|wait)$/i;
const DIRECTIVES = /^(?:bits|use16|use32|org|section|segment|align|alignb|global|extern|cpu|default|absolute|times)$/i;
const END_MACRO = /^\s*%\s*endmacro\b/i;
const INCLUDE = /^\s*%\s*include\s+(["'<])([^"'>]*)["'>]/i;

/** The line without its comment (a `;` outside quotes). */
export function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'" || c === '`') {
      quote = c;
    } else if (c === ';') {
      return line.slice(0, i);
    }
  }
  return line;
}

function isInstruction(word: string): boolean {
  return isMnemonic(word) || PREFIXES.test(word);
}

/** A word at the start of a line that can only be a label: not an instruction, prefix (segment registers too), directive or macro. */
function isPlainName(word: string, macros: ReadonlySet<string>): boolean {
  if (word.startsWith('$')) return true;
  return !isInstruction(word) && !lookupRegister(word) && !DIRECTIVES.test(word) && !DATA.test(word) && !macros.has(word.toLowerCase());
}

function unescape(name: string): string {
  return name.startsWith('$') ? name.slice(1) : name;
}

export function indexSource(text: string): AsmIndex {
  const lines = text.split(/\r?\n/);
  const symbols: AsmSymbol[] = [];
  const byName = new Map<string, AsmSymbol>();
  const includes: { line: number; path: string }[] = [];
  let parent: AsmSymbol | undefined;
  let macro: AsmSymbol | undefined;
  const macros = new Set<string>();

  const add = (sym: AsmSymbol, under?: AsmSymbol): void => {
    (under ? under.children : symbols).push(sym);
    if (!byName.has(sym.fullName)) byName.set(sym.fullName, sym);
  };
  const closeParent = (line: number): void => {
    if (parent) parent.endLine = Math.max(parent.line, line);
  };

  for (let i = 0; i < lines.length; i++) {
    const line = stripComment(lines[i] ?? '');
    if (macro) {
      if (END_MACRO.test(line)) {
        macro.endLine = i;
        macro = undefined;
      }
      continue; // names inside a macro body belong to its expansions
    }
    let m: RegExpExecArray | null;
    if ((m = INCLUDE.exec(line))) {
      includes.push({ line: i, path: m[2] ?? '' });
      continue;
    }
    if ((m = MACRO.exec(line))) {
      const name = m[2] ?? '';
      macros.add(name.toLowerCase());
      macro = { name, fullName: name, kind: 'macro', line: i, column: line.indexOf(name, (m[1] ?? '').length), endLine: lines.length - 1, children: [] };
      add(macro);
      continue;
    }
    if ((m = DEFINE.exec(line))) {
      const name = m[3] ?? '';
      add({ name, fullName: name, kind: 'define', line: i, column: line.lastIndexOf(name, m.index + m[0].length), endLine: i, children: [] });
      continue;
    }
    if (/^\s*[%[]/.test(line)) continue;
    let written: string | undefined;
    let column = 0;
    let kind: AsmSymbolKind = 'label';
    if ((m = LABEL_COLON.exec(line))) {
      written = m[2];
      column = (m[1] ?? '').length;
      if (/^\s*equ\b/i.test(line.slice(m[0].length))) kind = 'constant';
    } else if ((m = LABEL_ALONE.exec(line)) && isPlainName(m[2] ?? '', macros)) {
      written = m[2];
      column = (m[1] ?? '').length;
    } else if ((m = LABEL_BARE.exec(line)) && (DATA.test(m[3] ?? '') || (isInstruction(m[3] ?? '') && isPlainName(m[2] ?? '', macros)))) {
      written = m[2];
      column = (m[1] ?? '').length;
      if ((m[3] ?? '').toLowerCase() === 'equ') kind = 'constant';
    }
    if (written === undefined) continue;
    const name = unescape(written);
    if (name.startsWith('%%')) continue;
    const isLocal = name.startsWith('.') && !name.startsWith('..');
    if (isLocal) {
      const fullName = parent ? parent.fullName + name : name;
      add({ name, fullName, kind: kind === 'constant' ? 'constant' : 'local', line: i, column, endLine: i, children: [] }, parent);
      continue;
    }
    const sym: AsmSymbol = { name, fullName: name, kind, line: i, column, endLine: i, children: [] };
    add(sym);
    // `..@x`, `..start` and equ constants do not start a new scope for local labels (as in nasm).
    if (!name.startsWith('..') && kind === 'label') {
      closeParent(i - 1);
      parent = sym;
    }
  }
  closeParent(lastCodeLine(lines));
  return { symbols, byName, includes };
}

function lastCodeLine(lines: string[]): number {
  for (let i = lines.length - 1; i >= 0; i--) if ((lines[i] ?? '').trim() !== '') return i;
  return 0;
}

/** The identifier under a 0-based column of a line, with where it starts. */
export function wordAt(line: string, column: number): { word: string; start: number } | undefined {
  let start = column;
  let end = column;
  while (start > 0 && IDENT.test(line[start - 1] ?? '')) start--;
  while (end < line.length && IDENT.test(line[end] ?? '')) end++;
  if (start === end) return undefined;
  // `%%x` and `$x` keep their sigil out of the name.
  return { word: line.slice(start, end), start };
}

/** The global label whose scope holds a line (the base of `.local` names there). */
export function scopeAt(index: AsmIndex, line: number): AsmSymbol | undefined {
  let scope: AsmSymbol | undefined;
  for (const s of index.symbols) {
    if (s.line > line) break;
    if (s.kind === 'label' && !s.name.startsWith('..')) scope = s;
  }
  return scope;
}

/** The symbol a reference at (line) names: `.x` in the scope of its global label, else by full name. */
export function resolveReference(index: AsmIndex, word: string, line: number): AsmSymbol | undefined {
  const name = unescape(word);
  if (name.startsWith('.') && !name.startsWith('..')) {
    const scope = scopeAt(index, line);
    return index.byName.get(scope ? scope.fullName + name : name);
  }
  return index.byName.get(name);
}
