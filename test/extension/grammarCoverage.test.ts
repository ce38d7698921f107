// The grammar colours every register the assembler accepts, and the hover
// table describes them: the three lists cannot drift apart silently.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tokenizer, type Grammar } from '../grammar/textmate';
import { lookupRegister } from '../../src/x86/asm/registers';
import { REGISTER_DOCS } from '../../src/extension/language/instructionTable';

const grammar = JSON.parse(readFileSync('syntaxes/nasm.tmLanguage.json', 'utf8')) as Grammar;

const CANDIDATES = [
  ...['a', 'b', 'c', 'd'].flatMap((r) => [`${r}l`, `${r}h`, `${r}x`, `e${r}x`]),
  ...['sp', 'bp', 'si', 'di'].flatMap((r) => [r, `e${r}`]),
  'cs', 'ds', 'es', 'fs', 'gs', 'ss',
  ...Array.from({ length: 8 }, (_, i) => [`cr${i}`, `dr${i}`]).flat(),
];

test('every register the assembler accepts is coloured as a register and has hover text', () => {
  const registers = CANDIDATES.filter((r) => lookupRegister(r) !== undefined);
  assert.equal(registers.length, CANDIDATES.length);
  for (const r of registers) {
    const line = `        mov ${r}, ${r}`;
    const tokens = new Tokenizer(grammar).tokenizeLine(line);
    const token = tokens.find((t) => t.text === r);
    assert.ok(token, `${r} is not a token of its own`);
    assert.match(token.scopes[token.scopes.length - 1] ?? '', /^variable\.language\.register\./, r);
    assert.ok(REGISTER_DOCS.has(r), `${r} has no hover text`);
  }
});
