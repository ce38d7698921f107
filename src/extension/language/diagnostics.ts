// Assembler errors and warnings as live diagnostics. A document is assembled
// a short while after the last edit (debounced per document), with %include
// files served from open editors first (their unsaved text) and the
// workspace file system otherwise. The assembler reads includes
// synchronously, so as in src/debug/guestProgram.ts assembly runs in rounds:
// each round fetches the includes the previous one asked for.

import type * as vscodeApi from 'vscode';
import { assemble, type AsmDiagnostic, type AssembleResult } from '../../x86/asm/index';
import { stripComment, wordAt } from './asmIndex';

export type VscodeApi = typeof vscodeApi;

/** Reads a source file's text by path; undefined when it does not exist. */
export type ReadText = (path: string) => Promise<string | undefined>;

const MAX_ROUNDS = 32;

/** URI schemes of documents the extension makes itself; must match EXIT_DOCUMENT_SCHEME in exitsView.ts. */
const GENERATED_SCHEMES: ReadonlySet<string> = new Set(['hyperstep-exit']);

/** Include-only files are not programs: assembling one alone reports its missing context. */
export function isIncludeOnly(fileName: string): boolean {
  return /\.inc$/i.test(fileName);
}

/** The `bits` a source starts with when it says so early (`bits 32`, `[bits 32]`, `use32`); else 16. */
function initialBits(text: string): 16 | 32 {
  const m = /^\s*(?:\[\s*bits\s+(16|32)\s*\]|bits\s+(16|32)|use(16|32))\b/im.exec(text);
  return (m?.[1] ?? m?.[2] ?? m?.[3]) === '32' ? 32 : 16;
}

/** Assembles `text` as file `path` ('/' separators), fetching %include files through `read`. */
export async function assembleSource(text: string, path: string, read: ReadText): Promise<AssembleResult> {
  const cache = new Map<string, string | undefined>();
  const bits = initialBits(text);
  for (let round = 0; ; round++) {
    const wanted: string[] = [];
    const result = assemble(text, {
      fileName: path,
      bits,
      readFile: (p) => {
        if (cache.has(p)) return cache.get(p);
        if (!wanted.includes(p)) wanted.push(p);
        return undefined;
      },
    });
    if (wanted.length === 0 || round >= MAX_ROUNDS) return result;
    for (const p of wanted) cache.set(p, await read(p).catch(() => undefined));
  }
}

/** 0-based range of a diagnostic: the word at its column, else the rest of the line. */
export function diagnosticRange(lineText: string, d: AsmDiagnostic): { line: number; start: number; end: number } {
  const line = Math.max(0, d.line - 1);
  const code = stripComment(lineText);
  let start = Math.min(Math.max(0, d.column - 1), code.length);
  while (start < code.length && /\s/.test(code[start] ?? '')) start++;
  const w = wordAt(code, start);
  if (w && w.start === start) return { line, start, end: start + w.word.length };
  const end = code.trimEnd().length;
  return end > start ? { line, start, end } : { line, start: 0, end: Math.max(code.trimEnd().length, 1) };
}

export function toPosixPath(fsPath: string): string {
  return fsPath.replace(/\\/g, '/');
}

export interface AsmDiagnosticsOptions {
  /** Delay after the last edit before assembling, in ms. */
  delayMs: number;
}

export class AsmDiagnostics implements vscodeApi.Disposable {
  readonly collection: vscodeApi.DiagnosticCollection;
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly running = new Map<string, Promise<void>>();
  /** Symbols of the last successful assembly, by document URI, for hovers. */
  readonly symbols = new Map<string, Map<string, number>>();

  constructor(
    private readonly vscode: VscodeApi,
    private readonly read: ReadText,
    private readonly options: AsmDiagnosticsOptions,
  ) {
    this.collection = vscode.languages.createDiagnosticCollection('nasm');
  }

  private wanted(doc: vscodeApi.TextDocument): boolean {
    // Generated documents (the disassembly around a VM exit) are not sources.
    return doc.languageId === 'nasm' && !isIncludeOnly(doc.fileName) && !GENERATED_SCHEMES.has(doc.uri.scheme);
  }

  /** Assemble after the debounce delay; a newer edit restarts the wait. */
  schedule(doc: vscodeApi.TextDocument): void {
    if (!this.wanted(doc)) return;
    const key = doc.uri.toString();
    const old = this.timers.get(key);
    if (old !== undefined) clearTimeout(old);
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.update(doc);
      }, this.options.delayMs),
    );
  }

  /** Assembles the document now and publishes its diagnostics. */
  update(doc: vscodeApi.TextDocument): Promise<void> {
    const key = doc.uri.toString();
    const version = doc.version;
    const job = (async () => {
      const path = toPosixPath(doc.fileName);
      const result = await assembleSource(doc.getText(), path, this.read);
      if (doc.version !== version || doc.isClosed) return; // a newer edit will publish
      const lines = doc.getText().split(/\r?\n/);
      const own = result.diagnostics.filter((d) => d.file === path);
      const elsewhere = result.diagnostics.filter((d) => d.file !== path && d.severity === 'error');
      const list = own.map((d) => this.toDiagnostic(d, lines[d.line - 1] ?? ''));
      // Errors inside an included file are shown on the document's %include line.
      for (const d of elsewhere.slice(0, 1)) {
        const at = lines.findIndex((l) => /^\s*%\s*include\b/i.test(l));
        const line = at >= 0 ? at + 1 : 1;
        list.push(this.toDiagnostic({ ...d, line, column: 1, message: `${d.file}:${d.line}:${d.column}: ${d.message}` }, lines[line - 1] ?? ''));
      }
      this.collection.set(doc.uri, list);
      if (result.ok) this.symbols.set(key, result.symbols);
    })();
    this.running.set(key, job);
    return job.finally(() => {
      if (this.running.get(key) === job) this.running.delete(key);
    });
  }

  private toDiagnostic(d: AsmDiagnostic, lineText: string): vscodeApi.Diagnostic {
    const v = this.vscode;
    const r = diagnosticRange(lineText, d);
    const severity = d.severity === 'error' ? v.DiagnosticSeverity.Error : v.DiagnosticSeverity.Warning;
    const diagnostic = new v.Diagnostic(new v.Range(r.line, r.start, r.line, r.end), d.message, severity);
    diagnostic.source = 'nasm';
    return diagnostic;
  }

  forget(doc: vscodeApi.TextDocument): void {
    const key = doc.uri.toString();
    const t = this.timers.get(key);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(key);
    this.symbols.delete(key);
    this.collection.delete(doc.uri);
  }

  /** Resolves when no assembly is waiting or running (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.timers.size > 0 || this.running.size > 0) {
      if (this.running.size > 0) await Promise.all(this.running.values());
      else await new Promise((resolve) => setTimeout(resolve, Math.max(1, this.options.delayMs)));
    }
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.collection.dispose();
  }
}

/** Wires diagnostics to document events: open and edit schedule an assembly, close clears. */
export function registerAsmDiagnostics(
  vscode: VscodeApi,
  subscriptions: vscodeApi.Disposable[],
  read: ReadText,
  options: AsmDiagnosticsOptions = { delayMs: 300 },
): AsmDiagnostics {
  const diagnostics = new AsmDiagnostics(vscode, read, options);
  subscriptions.push(
    diagnostics,
    vscode.workspace.onDidOpenTextDocument((doc) => diagnostics.schedule(doc)),
    vscode.workspace.onDidChangeTextDocument((e) => diagnostics.schedule(e.document)),
    vscode.workspace.onDidCloseTextDocument((doc) => diagnostics.forget(doc)),
  );
  for (const doc of vscode.workspace.textDocuments) diagnostics.schedule(doc);
  return diagnostics;
}
