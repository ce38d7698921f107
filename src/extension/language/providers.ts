// Document symbols, go to definition and hover for NASM sources, over
// asmIndex.ts (names and positions) and instructionTable.ts (hover text).
// Definitions are looked up in the document, then in the files it
// %includes (read through the same ReadText as diagnostics, one level per
// include, as deep as includes go up to a bound).

import type * as vscodeApi from 'vscode';
import { indexSource, resolveReference, wordAt, type AsmIndex, type AsmSymbol, type AsmSymbolKind } from './asmIndex';
import { DIRECTIVE_DOCS, INSTRUCTION_DOCS, REGISTER_DOCS, type InstructionDoc } from './instructionTable';
import { toPosixPath, type ReadText } from './diagnostics';
import { resolveRelative } from '../../x86/asm/path';

export type VscodeApi = typeof vscodeApi;

const MAX_INCLUDE_FILES = 32;

/** Index per document version, so symbols, definitions and hovers of one version share a scan. */
class IndexCache {
  private readonly entries = new Map<string, { version: number; index: AsmIndex }>();
  get(doc: vscodeApi.TextDocument): AsmIndex {
    const key = doc.uri.toString();
    const hit = this.entries.get(key);
    if (hit && hit.version === doc.version) return hit.index;
    const index = indexSource(doc.getText());
    this.entries.set(key, { version: doc.version, index });
    return index;
  }
}

export function symbolKind(vscode: VscodeApi, kind: AsmSymbolKind): vscodeApi.SymbolKind {
  switch (kind) {
    case 'label': return vscode.SymbolKind.Function;
    case 'local': return vscode.SymbolKind.Field;
    case 'constant': return vscode.SymbolKind.Constant;
    case 'define': return vscode.SymbolKind.Constant;
    case 'macro': return vscode.SymbolKind.Method;
  }
}

function toDocumentSymbol(vscode: VscodeApi, doc: vscodeApi.TextDocument, s: AsmSymbol): vscodeApi.DocumentSymbol {
  const lines = doc.getText().split(/\r?\n/);
  const endText = lines[s.endLine] ?? '';
  const range = new vscode.Range(s.line, 0, s.endLine, endText.length);
  const selection = new vscode.Range(s.line, s.column, s.line, s.column + s.name.length);
  const detail = s.kind === 'local' ? s.fullName : s.kind === 'label' ? '' : s.kind;
  const symbol = new vscode.DocumentSymbol(s.name, detail, symbolKind(vscode, s.kind), range, selection);
  symbol.children = s.children.map((c) => toDocumentSymbol(vscode, doc, c));
  return symbol;
}

/** The hover text of a mnemonic, as markdown. */
export function instructionHover(mnemonic: string, doc: InstructionDoc): string {
  const parts = [`**${mnemonic.toUpperCase()}** — ${doc.summary}`];
  parts.push(`Flags: ${doc.flags === '' ? 'none' : doc.flags === 'all' ? 'all (loaded from the stack)' : doc.flags}` + (doc.undefinedFlags ? `; undefined: ${doc.undefinedFlags}` : ''));
  if (doc.vmExit) parts.push(`VM exit: ${doc.vmExit}`);
  return parts.join('\n\n');
}

function hex(n: number): string {
  return `0x${n.toString(16).toUpperCase()}`;
}

export interface LanguageProviders {
  index(doc: vscodeApi.TextDocument): AsmIndex;
  hoverText(doc: vscodeApi.TextDocument, line: number, character: number): string | undefined;
}

export function registerLanguageProviders(
  vscode: VscodeApi,
  subscriptions: vscodeApi.Disposable[],
  read: ReadText,
  /** Values from the last successful assembly of a document (labels and equ), by document URI. */
  assembledSymbols: (uri: string) => Map<string, number> | undefined,
): LanguageProviders {
  const cache = new IndexCache();
  const selector: vscodeApi.DocumentSelector = { language: 'nasm' };

  const lineOf = (doc: vscodeApi.TextDocument, line: number): string => doc.getText().split(/\r?\n/)[line] ?? '';

  const symbols: vscodeApi.DocumentSymbolProvider = {
    provideDocumentSymbols(doc) {
      return cache.get(doc).symbols.map((s) => toDocumentSymbol(vscode, doc, s));
    },
  };

  /** Looks for a name through the document's includes, breadth first. */
  async function findInIncludes(doc: vscodeApi.TextDocument, index: AsmIndex, name: string): Promise<vscodeApi.Location | undefined> {
    const queue = index.includes.map((i) => resolveRelative(toPosixPath(doc.fileName), i.path));
    const seen = new Set<string>();
    while (queue.length > 0 && seen.size < MAX_INCLUDE_FILES) {
      const path = queue.shift() ?? '';
      if (seen.has(path)) continue;
      seen.add(path);
      const text = await read(path).catch(() => undefined);
      if (text === undefined) continue;
      const inc = indexSource(text);
      const sym = inc.byName.get(name);
      if (sym) return new vscode.Location(vscode.Uri.file(path), new vscode.Position(sym.line, sym.column));
      queue.push(...inc.includes.map((i) => resolveRelative(path, i.path)));
    }
    return undefined;
  }

  const definitions: vscodeApi.DefinitionProvider = {
    async provideDefinition(doc, position) {
      const w = wordAt(lineOf(doc, position.line), position.character);
      if (!w) return undefined;
      const index = cache.get(doc);
      const sym = resolveReference(index, w.word, position.line);
      if (sym) return new vscode.Location(doc.uri, new vscode.Position(sym.line, sym.column));
      if (w.word.startsWith('.') && !w.word.startsWith('..')) return undefined;
      return findInIncludes(doc, index, w.word.replace(/^\$/, ''));
    },
  };

  function hoverText(doc: vscodeApi.TextDocument, line: number, character: number): string | undefined {
    const text = lineOf(doc, line);
    const w = wordAt(text, character);
    if (!w) return undefined;
    // A label may share its name with an instruction only when escaped ($mov); plain words are keywords first.
    const lower = w.word.toLowerCase();
    if (text[w.start - 1] === '%') {
      const pre = DIRECTIVE_DOCS.get(`%${lower}`);
      return pre === undefined ? undefined : `**%${lower}** — ${pre.replace(/^Preprocessor: /, '')}`;
    }
    const insn = INSTRUCTION_DOCS.get(lower);
    if (insn) return instructionHover(lower, insn);
    const reg = REGISTER_DOCS.get(lower);
    if (reg) return `**${lower.toUpperCase()}** — ${reg.summary}`;
    const directive = DIRECTIVE_DOCS.get(lower);
    if (directive) return `**${lower}** — ${directive}`;
    const index = cache.get(doc);
    const sym = resolveReference(index, w.word, line);
    if (!sym) return undefined;
    const value = assembledSymbols(doc.uri.toString())?.get(sym.fullName);
    const what = sym.kind === 'local' ? 'local label' : sym.kind;
    const head = `${what} \`${sym.fullName}\``;
    return value === undefined ? `${head} (line ${sym.line + 1})` : `${head} = ${hex(value)} (line ${sym.line + 1})`;
  }

  const hovers: vscodeApi.HoverProvider = {
    provideHover(doc, position) {
      const text = hoverText(doc, position.line, position.character);
      return text === undefined ? undefined : new vscode.Hover(new vscode.MarkdownString(text));
    },
  };

  subscriptions.push(
    vscode.languages.registerDocumentSymbolProvider(selector, symbols),
    vscode.languages.registerDefinitionProvider(selector, definitions),
    vscode.languages.registerHoverProvider(selector, hovers),
  );
  return { index: (doc) => cache.get(doc), hoverText };
}
