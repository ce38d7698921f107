// NASM language features against the stand-in vscode API: live diagnostics
// (debounced, %include through workspace files and open editors), document
// symbols, go to definition, hover.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeVscode, FakeDocument, FakeUri, type Location, type DocumentSymbol, type Hover, type Diagnostic, Position } from './fakeVscode';
import { registerAsmDiagnostics } from '../../src/extension/language/diagnostics';
import { registerLanguageProviders } from '../../src/extension/language/providers';
import { workspaceSourceReader } from '../../src/extension/language/sourceReader';
import { indexSource } from '../../src/extension/language/asmIndex';
import { INSTRUCTION_DOCS, REGISTER_DOCS } from '../../src/extension/language/instructionTable';
import { allForms } from '../../src/x86/asm/insns';
import { assemble } from '../../src/x86/asm/index';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const GUEST = [
  'org 0x7C00', //            0
  'BUFSZ equ 16', //          1
  '%define PORT 0xE9', //     2
  '%macro putc 1', //         3
  '  mov al, %1', //          4
  '%%out: out PORT, al', //   5  (inside the macro body: not a symbol)
  '%endmacro', //             6
  'start:', //                7
  '  mov cx, 3', //           8
  '.loop:', //                9
  '  putc "A"', //            10
  '  loop .loop', //          11
  '  jmp second', //          12
  'second:', //               13
  '.loop: cpuid', //          14
  '  vmcall', //              15
  '  jmp .loop', //           16
  '  jmp start.loop', //      17
  'msg db "hi", 0', //        18
  '  hlt', //                 19
].join('\n');

function setup(files: Record<string, string> = {}) {
  const fake = fakeVscode(files);
  const subscriptions: { dispose(): unknown }[] = [];
  const read = workspaceSourceReader(fake.api);
  const diagnostics = registerAsmDiagnostics(fake.api, subscriptions, read, { delayMs: 1 });
  const language = registerLanguageProviders(fake.api, subscriptions, read, (uri) => diagnostics.symbols.get(uri));
  return { ...fake, diagnostics, language, subscriptions };
}

const diagnosticsOf = (state: ReturnType<typeof fakeVscode>['state'], doc: FakeDocument): Diagnostic[] => state.diagnostics.get(doc.uri.toString()) ?? [];

test('an assembler error becomes a diagnostic at its line and column; fixing it clears the list', async () => {
  const { state, open, edit, diagnostics } = setup();
  const doc = open('/w/bad.asm', 'org 0x7C00\nstart:\n  mov ax, 1\n  movv bx, 2\n  jmp nowhere\n');
  await diagnostics.idle();
  const list = diagnosticsOf(state, doc);
  assert.equal(list.length, 2, list.map((d) => d.message).join('; '));
  const [first, second] = list;
  assert.ok(first && second);
  assert.equal(first.range.start.line, 3);
  assert.equal(first.range.start.character, 2);
  assert.equal(first.range.end.character, 6); // the word "movv"
  assert.equal(first.severity, 0);
  assert.equal(first.source, 'nasm');
  assert.match(first.message, /movv/);
  assert.equal(second.range.start.line, 4);
  assert.match(second.message, /nowhere/);

  edit(doc, 'org 0x7C00\nstart:\n  mov ax, 1\n  hlt\n');
  await diagnostics.idle();
  assert.deepEqual(diagnosticsOf(state, doc), []);
});

test('edits in quick succession are assembled once, with the last text', async () => {
  const { state, open, edit, diagnostics } = setup();
  const doc = open('/w/typing.asm', 'hlt\n');
  let assemblies = 0;
  const original = diagnostics.update.bind(diagnostics);
  diagnostics.update = (d) => {
    assemblies++;
    return original(d);
  };
  edit(doc, 'h\n');
  edit(doc, 'hl\n');
  edit(doc, 'hlt\nfoo ax\n');
  await diagnostics.idle();
  assert.equal(assemblies, 1);
  const list = diagnosticsOf(state, doc);
  assert.equal(list.length, 1);
  assert.equal(list[0]?.range.start.line, 1);
});

test('%include is read from the workspace, or from an open editor with unsaved text', async () => {
  const { state, open, edit, diagnostics } = setup({ '/w/inc/defs.inc': 'VALUE equ 5\n' });
  const doc = open('/w/main.asm', '%include "inc/defs.inc"\nmov ax, VALUE\nmov bx, MISSING\n');
  await diagnostics.idle();
  let list = diagnosticsOf(state, doc);
  assert.equal(list.length, 1);
  assert.match(list[0]?.message ?? '', /MISSING/);
  assert.equal(list[0]?.range.start.line, 2);
  // The include opened with an edit that defines MISSING too: the unsaved text wins.
  const inc = open('/w/inc/defs.inc', 'VALUE equ 5\n');
  edit(inc, 'VALUE equ 5\nMISSING equ 6\n');
  edit(doc, doc.getText() + '\n');
  await diagnostics.idle();
  list = diagnosticsOf(state, doc);
  assert.deepEqual(list, []);
  // Include-only files are not assembled on their own.
  assert.equal(state.diagnostics.has(inc.uri.toString()), false);
});

test('an error inside an included file is reported on the %include line', async () => {
  const { state, open, diagnostics } = setup({ '/w/b.inc': 'nop\nbogus_insn eax\n' });
  const doc = open('/w/a.asm', 'bits 32\nnop\n%include "b.inc"\n');
  await diagnostics.idle();
  const list = diagnosticsOf(state, doc);
  assert.equal(list.length, 1);
  assert.equal(list[0]?.range.start.line, 2);
  assert.match(list[0]?.message ?? '', /^\/w\/b\.inc:2:\d+: /);
});

test('generated documents (disassembly around an exit) and include files are not assembled', async () => {
  const { state, events, open, diagnostics } = setup();
  const generated = new FakeDocument('/exit-1.asm', 'movv ax\n', 'nasm', new FakeUri('hyperstep-exit', '/exit-1.asm'));
  events.open.fire(generated);
  open('/w/lib.inc', 'movv ax\n');
  const real = open('/w/real.asm', 'movv ax\n');
  await diagnostics.idle();
  assert.deepEqual([...state.diagnostics.keys()], [real.uri.toString()]);
});

test('closing a document drops its diagnostics', async () => {
  const { state, open, close, diagnostics } = setup();
  const doc = open('/w/x.asm', 'movv ax\n');
  await diagnostics.idle();
  assert.equal(diagnosticsOf(state, doc).length, 1);
  close(doc);
  assert.equal(state.diagnostics.has(doc.uri.toString()), false);
});

test('document symbols: globals with their local labels nested, constants, defines and macros', async () => {
  const { state, open } = setup();
  const doc = open('/w/g.asm', GUEST);
  const provider = state.symbolProviders[0];
  assert.ok(provider);
  const symbols = (await provider['provideDocumentSymbols']!(doc as never)) as DocumentSymbol[];
  const outline = (s: DocumentSymbol): string => (s.children.length ? `${s.name}[${s.children.map(outline).join(',')}]` : s.name);
  assert.deepEqual(symbols.map(outline), ['BUFSZ', 'PORT', 'putc', 'start[.loop]', 'second[.loop]', 'msg']);
  const start = symbols[3];
  assert.ok(start);
  assert.equal(start.kind, 11); // Function
  assert.equal(start.children[0]?.kind, 7); // Field
  assert.equal(start.children[0]?.detail, 'start.loop');
  assert.equal(start.range.start.line, 7);
  assert.equal(start.range.end.line, 12); // up to the next global label
  assert.equal(symbols[2]?.range.end.line, 6); // %macro .. %endmacro
});

test('go to definition: a local label resolves in the scope of its global label', async () => {
  const { state, open } = setup();
  const doc = open('/w/g.asm', GUEST);
  const provider = state.definitionProviders[0];
  assert.ok(provider);
  const define = async (line: number, character: number): Promise<string | undefined> => {
    const loc = (await provider['provideDefinition']!(doc as never, new Position(line, character) as never)) as Location | undefined;
    if (!loc) return undefined;
    const p = loc.range as Position;
    return `${loc.uri.fsPath}:${p.line}:${p.character}`;
  };
  assert.equal(await define(11, 9), '/w/g.asm:9:0'); // `.loop` under start
  assert.equal(await define(16, 8), '/w/g.asm:14:0'); // `.loop` under second
  assert.equal(await define(17, 12), '/w/g.asm:9:0'); // `start.loop`
  assert.equal(await define(12, 8), '/w/g.asm:13:0'); // `second`
  assert.equal(await define(10, 3), '/w/g.asm:3:7'); // macro `putc`
  assert.equal(await define(8, 3), undefined); // `mov` is no symbol
});

test('go to definition follows %include files', async () => {
  const { state, open } = setup({ '/w/lib/io.inc': '%include "more.inc"\n', '/w/lib/more.inc': '\nprint_char:\n  ret\n' });
  const doc = open('/w/k.asm', '%include "lib/io.inc"\ncall print_char\n');
  const provider = state.definitionProviders[0];
  assert.ok(provider);
  const loc = (await provider['provideDefinition']!(doc as never, new Position(1, 7) as never)) as Location | undefined;
  assert.ok(loc);
  assert.equal(loc.uri.fsPath, '/w/lib/more.inc');
  assert.equal((loc.range as Position).line, 1);
});

test('hover: instruction summaries with flags and VM exits, registers, labels with their address', async () => {
  const { state, open, diagnostics } = setup();
  const doc = open('/w/g.asm', GUEST);
  await diagnostics.idle(); // assembled: label values are known
  const provider = state.hoverProviders[0];
  assert.ok(provider);
  const hover = async (line: number, character: number): Promise<string | undefined> =>
    ((await provider['provideHover']!(doc as never, new Position(line, character) as never)) as Hover | undefined)?.contents.value;
  const mov = await hover(8, 3);
  assert.match(mov ?? '', /^\*\*MOV\*\* — Copy the source operand/);
  assert.match(mov ?? '', /Flags: none/);
  const cpuid = await hover(14, 8);
  assert.match(cpuid ?? '', /\*\*CPUID\*\*/);
  assert.match(cpuid ?? '', /VM exit: CPUID, always/);
  const vmcall = await hover(15, 4);
  assert.match(vmcall ?? '', /hypercall/);
  assert.match(vmcall ?? '', /VM exit: VMCALL, always/);
  assert.match(await hover(8, 7) ?? '', /\*\*CX\*\* — 16-bit register CX/);
  assert.equal(await hover(12, 8), 'label `second` = 0x7C0B (line 14)');
  assert.match(await hover(11, 9) ?? '', /^local label `start\.loop` = 0x7C03/);
  assert.equal(await hover(0, 6), undefined); // a number
  assert.match(await hover(0, 1) ?? '', /^\*\*org\*\* — Directive: the address/);
  assert.match(await hover(2, 3) ?? '', /^\*\*%define\*\* — define a single-line macro/);
  assert.match(await hover(18, 5) ?? '', /^\*\*db\*\* — Data: define bytes/);
  assert.equal(await hover(2, 10), 'define `PORT` (line 3)');
});

test('every mnemonic the assembler accepts has hover text, and so does every register', () => {
  const mnemonics = [...new Set(allForms().map((f) => f.mnemonic))];
  const missing = mnemonics.filter((m) => !INSTRUCTION_DOCS.has(m));
  assert.deepEqual(missing, []);
  for (const r of ['eax', 'ax', 'al', 'ah', 'esp', 'sp', 'ds', 'cr0', 'cr3', 'cr4', 'dr7']) assert.ok(REGISTER_DOCS.has(r), r);
  for (const [m, d] of INSTRUCTION_DOCS) assert.ok(d.summary.endsWith('.'), `${m}: ${d.summary}`);
});

test('the scanner: bare data labels, escaped names; special labels and equ do not reset the local scope', () => {
  const index = indexSource('a:\n..@x: nop\n.l1: nop\nK equ 1\n.l3: nop\n$mov dw 0\n.l2 db 1\nstr: db "a;b" ; c:\n%%m: nop\n');
  assert.deepEqual([...index.byName.keys()], ['a', '..@x', 'a.l1', 'K', 'a.l3', 'mov', 'mov.l2', 'str']);
});

test('on the assembler corpus, the scanner finds exactly the labels and constants the assembler defines', () => {
  const dirs = ['test/fixtures/asm', ...readdirSync('examples').map((e) => join('examples', e))];
  const files = dirs.flatMap((d) => (statSync(d).isDirectory() ? readdirSync(d).filter((f) => f.endsWith('.asm')).map((f) => join(d, f)) : []));
  let checked = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (/%\s*include/i.test(text)) continue; // names from other files
    const result = assemble(text, { fileName: file });
    if (!result.ok) continue;
    checked++;
    const expected = [...result.symbols.keys()].filter((n) => !n.startsWith('..@')).sort();
    const found = [...indexSource(text).byName.values()].filter((s) => s.kind !== 'define' && s.kind !== 'macro').map((s) => s.fullName).sort();
    assert.deepEqual(found, expected, file);
  }
  assert.ok(checked > 50, `only ${checked} sources checked`);
});
