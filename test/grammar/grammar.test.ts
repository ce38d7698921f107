import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { Tokenizer, allPatterns, toRegExp, type Grammar, type Rule } from './textmate';
import { allForms } from '../../src/x86/asm/insns';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const grammarPath = join(root, 'syntaxes', 'nasm.tmLanguage.json');
const grammar = JSON.parse(readFileSync(grammarPath, 'utf8')) as Grammar;
const languageConfig = JSON.parse(readFileSync(join(root, 'syntaxes', 'language-configuration.json'), 'utf8')) as {
  comments: { lineComment: string };
  brackets: [string, string][];
  autoClosingPairs: { open: string; close: string }[];
  wordPattern: string;
  folding?: { markers: { start: string; end: string } };
  indentationRules?: Record<string, string>;
};
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  contributes: { grammars: { language: string; scopeName: string; path: string }[]; languages: { id: string; configuration: string }[] };
};

/** The scopes of `text` where it first occurs in `line` (at or after `from`); every character of it must share them. */
function scopesOf(line: string, text: string, from = 0): string[] {
  const at = line.indexOf(text, from);
  assert.ok(at >= 0, `"${text}" is not in "${line}"`);
  const perChar: string[][] = [];
  for (const t of new Tokenizer(grammar).tokenizeLine(line)) for (const _ of t.text) perChar.push(t.scopes);
  const first = perChar[at] ?? [];
  for (let i = at; i < at + text.length; i++) {
    assert.deepEqual(perChar[i], first, `"${text}" in "${line}" is split across tokens`);
  }
  // And it must be a whole token: its neighbours are blank or scoped differently.
  const boundary = (i: number): boolean =>
    i < 0 || i >= line.length || /\s/.test(line[i] ?? '') || (perChar[i] ?? []).join(' ') !== first.join(' ');
  assert.ok(boundary(at - 1) && boundary(at + text.length), `"${text}" in "${line}" is part of a longer token`);
  return first;
}

function innermost(line: string, text: string, from = 0): string {
  const s = scopesOf(line, text, from);
  return s[s.length - 1] ?? '';
}

describe('grammar file', () => {
  test('is the grammar package.json contributes, for the nasm language', () => {
    const entry = packageJson.contributes.grammars.find((g) => g.language === 'nasm');
    assert.ok(entry);
    assert.equal(entry.scopeName, grammar.scopeName);
    assert.equal(entry.scopeName, 'source.asm.nasm');
    assert.equal(join(root, entry.path), grammarPath);
    const lang = packageJson.contributes.languages.find((l) => l.id === 'nasm');
    assert.ok(lang && existsSync(join(root, lang.configuration)));
  });

  test('every regex compiles in JavaScript and stays in the Oniguruma/JS common subset', () => {
    const patterns = allPatterns(grammar);
    assert.ok(patterns.length > 40, `only ${patterns.length} patterns found`);
    for (const { where, pattern } of patterns) {
      assert.doesNotThrow(() => toRegExp(pattern), `${where}: /${pattern}/`);
    }
  });

  test('the subset check rejects constructs JavaScript reads differently', () => {
    assert.throws(() => toRegExp('\\h+'));
    assert.throws(() => toRegExp('a(?i)b'));
    assert.throws(() => toRegExp('(?>ab)'));
    assert.throws(() => toRegExp('a++'));
    assert.doesNotThrow(() => toRegExp('(?i)mov\\\\h'));
  });

  test('every include resolves and every repository entry is used', () => {
    const used = new Set<string>();
    const visit = (r: Rule): void => {
      if (r.include) {
        assert.ok(r.include.startsWith('#') && grammar.repository[r.include.slice(1)], `unresolved include ${r.include}`);
        used.add(r.include.slice(1));
      }
      r.patterns?.forEach(visit);
    };
    grammar.patterns.forEach(visit);
    Object.values(grammar.repository).forEach(visit);
    assert.deepEqual([...used].sort(), Object.keys(grammar.repository).sort());
  });

  test('every scope name ends in .nasm so themes and the language stay distinguishable', () => {
    const names: string[] = [];
    const visit = (r: Rule): void => {
      for (const n of [r.name, r.contentName]) if (n) names.push(n);
      for (const caps of [r.captures, r.beginCaptures, r.endCaptures]) {
        for (const c of Object.values(caps ?? {})) if (c.name) names.push(c.name);
      }
      r.patterns?.forEach(visit);
    };
    grammar.patterns.forEach(visit);
    Object.values(grammar.repository).forEach(visit);
    assert.ok(names.length > 30);
    for (const n of names) assert.match(n, /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*\.nasm$/, n);
  });
});

describe('tokenizing', () => {
  test('comments, including a comment after code', () => {
    assert.equal(innermost('; whole line', '; whole line'.slice(1)), 'comment.line.semicolon.nasm');
    assert.equal(innermost('        cli   ; interrupts off', ' interrupts off'), 'comment.line.semicolon.nasm');
    assert.equal(innermost('        cli   ; interrupts off', ';'), 'punctuation.definition.comment.nasm');
    assert.equal(innermost('        cli   ; interrupts off', 'cli'), 'keyword.mnemonic.system.nasm');
  });

  test('the three string forms; a ; inside a string is not a comment', () => {
    const line = `msg: db 'one', "two; three", \`four\\n\`, 0`;
    assert.ok(scopesOf(line, 'one').includes('string.quoted.single.nasm'));
    assert.ok(scopesOf(line, 'two; three').includes('string.quoted.double.nasm'));
    assert.ok(!scopesOf(line, 'two; three').some((s) => s.startsWith('comment')));
    assert.ok(scopesOf(line, 'four').includes('string.quoted.other.backtick.nasm'));
    assert.equal(innermost(line, '\\n'), 'constant.character.escape.nasm');
    assert.equal(innermost(line, '0', line.lastIndexOf('0')), 'constant.numeric.decimal.nasm');
    // Escapes mean nothing in single- and double-quoted strings.
    assert.ok(scopesOf(`db "a\\n"`, 'a\\n').includes('string.quoted.double.nasm'));
  });

  test('an unterminated string stops at the end of its line', () => {
    const t = new Tokenizer(grammar);
    t.tokenizeLine(`db "open`);
    const next = t.tokenizeLine('mov ax, 1');
    const mov = next.find((x) => x.text === 'mov');
    assert.ok(mov);
    assert.equal(mov.scopes[mov.scopes.length - 1], 'keyword.mnemonic.nasm');
  });

  test('numbers in every NASM form', () => {
    const cases: [string, string][] = [
      ['0x1F', 'hex'], ['0X1f', 'hex'], ['1Fh', 'hex'], ['0FFFFh', 'hex'], ['0h1F', 'hex'], ['$0F', 'hex'], ['0x00CF_9A00', 'hex'],
      ['0b101', 'binary'], ['101b', 'binary'], ['0y1001', 'binary'], ['1111_0000b', 'binary'],
      ['0o17', 'octal'], ['17q', 'octal'], ['0q17', 'octal'], ['17o', 'octal'],
      ['42', 'decimal'], ['0', 'decimal'], ['0d99', 'decimal'], ['99d', 'decimal'], ['1_000', 'decimal'],
      ['1.5', 'float'], ['3.0e-2', 'float'], ['1e10', 'float'],
    ];
    for (const [n, kind] of cases) {
      assert.equal(innermost(`        mov eax, ${n}`, n), `constant.numeric.${kind}.nasm`, n);
    }
  });

  test('$ and $$, and a $-escaped identifier that is not a number', () => {
    const line = '        times 510 - ($ - $$) db 0';
    assert.equal(innermost(line, '$$'), 'variable.language.section-start.nasm');
    assert.equal(innermost(line, '$', line.indexOf('($') + 1), 'variable.language.here.nasm');
    assert.equal(innermost(line, 'times'), 'keyword.control.directive.nasm');
    assert.equal(innermost(line, 'db'), 'storage.type.data.nasm');
    assert.equal(innermost(line, '-'), 'keyword.operator.arithmetic.nasm');
    const esc = scopesOf('        mov eax, $eax', '$eax');
    assert.ok(!esc.some((s) => s.startsWith('constant.numeric') || s.startsWith('variable.language')), esc.join(' '));
  });

  test('labels: global, local, special, and a label followed by an instruction', () => {
    assert.equal(innermost('start:', 'start'), 'entity.name.function.label.nasm');
    assert.equal(innermost('start:', ':'), 'punctuation.separator.label.nasm');
    assert.equal(innermost('.wait:  in al, dx', '.wait'), 'entity.name.function.label.local.nasm');
    assert.equal(innermost('.wait:  in al, dx', 'in'), 'keyword.mnemonic.nasm');
    assert.equal(innermost('.wait:  in al, dx', 'al'), 'variable.language.register.general.nasm');
    assert.equal(innermost('..start:', '..start'), 'entity.name.function.label.special.nasm');
    assert.equal(innermost('  msg_1: db 0', 'msg_1'), 'entity.name.function.label.nasm');
    assert.equal(innermost('msg db "hi", 0', 'msg'), 'entity.name.function.label.nasm');
    assert.equal(innermost('buffer  RESB 64', 'buffer'), 'entity.name.function.label.nasm');
    assert.equal(innermost('.pad    times 4 db 0', '.pad'), 'entity.name.function.label.nasm');
    // ...but not an instruction followed by an operand that starts like a directive.
    assert.equal(innermost('        push dword_table', 'push'), 'keyword.mnemonic.nasm');
    assert.equal(innermost('        inc dbx', 'inc'), 'keyword.mnemonic.nasm');
    assert.equal(innermost('COM1    equ 0x3F8', 'COM1'), 'entity.name.constant.nasm');
    assert.equal(innermost('COM1    equ 0x3F8', 'equ'), 'keyword.control.directive.equ.nasm');
  });

  test('directives and data definitions', () => {
    for (const d of ['bits 16', 'org 0x7C00', 'use16', 'use32', 'align 8', 'alignb 4', 'times 4 nop', 'absolute 0x500', 'global start', 'extern foo']) {
      const word = d.split(' ')[0] ?? '';
      assert.equal(innermost(`        ${d}`, word), 'keyword.control.directive.nasm', d);
    }
    assert.equal(innermost('        [bits 32]', 'bits'), 'keyword.control.directive.nasm');
    assert.equal(innermost('        [bits 32]', '['), 'punctuation.definition.bracket.square.begin.nasm');
    assert.equal(innermost('        section .text', 'section'), 'keyword.control.directive.section.nasm');
    assert.equal(innermost('        section .text', '.text'), 'entity.name.section.nasm');
    assert.equal(innermost('        segment code', 'code'), 'entity.name.section.nasm');
    for (const d of ['db', 'dw', 'dd', 'dq', 'dt', 'resb', 'resw', 'resd', 'resq', 'DB', 'Resb']) {
      assert.equal(innermost(`x: ${d} 1`, d), 'storage.type.data.nasm', d);
    }
  });

  test('preprocessor: %define, %include, %macro, parameters and local labels', () => {
    assert.equal(innermost('%define COUNT 16', '%define'.slice(1)), 'keyword.control.directive.preprocessor.define.nasm');
    assert.equal(innermost('%define COUNT 16', 'COUNT'), 'entity.name.constant.preprocessor.nasm');
    assert.equal(innermost('%include "macros.inc"', '"macros.inc"'), 'string.quoted.include.nasm');
    assert.equal(innermost('%macro print 1', 'print'), 'entity.name.function.macro.nasm');
    assert.equal(innermost('%endmacro', 'endmacro'), 'keyword.control.directive.preprocessor.nasm');
    assert.equal(innermost('%endmacro', '%'), 'punctuation.definition.directive.nasm');
    for (const d of ['%if', '%ifdef', '%ifndef', '%elif', '%else', '%endif', '%rep', '%endrep', '%assign', '%error', '%xdefine', '%undef']) {
      assert.ok(scopesOf(`${d} X`, d.slice(1)).some((s) => s.startsWith('keyword.control.directive.preprocessor')), d);
    }
    assert.equal(innermost('        mov si, %1', '%1'), 'variable.parameter.preprocessor.nasm');
    assert.equal(innermost('        call %%go', '%%go'), 'variable.parameter.preprocessor.nasm');
    assert.equal(innermost('%%go:   nop', '%%go'), 'entity.name.function.label.macro-local.nasm');
  });

  test('instructions by group, in any letter case', () => {
    const groups: [string, string[]][] = [
      ['keyword.mnemonic.nasm', ['mov', 'add', 'xor', 'lea', 'push', 'pop', 'movzx', 'cmpxchg8b', 'cmovne', 'setz', 'bswap', 'stosd', 'lodsb', 'in', 'out', 'imul', 'shld', 'nop', 'xlatb']],
      ['keyword.control.branch.nasm', ['jmp', 'call', 'ret', 'retf', 'iret', 'iretd', 'int', 'int3', 'into', 'loop', 'loopne', 'jcxz', 'jecxz', 'jz', 'jnz', 'jnae', 'jpe', 'jpo', 'jg', 'sysenter']],
      ['keyword.mnemonic.system.nasm', ['hlt', 'cli', 'sti', 'lgdt', 'lidt', 'lldt', 'ltr', 'sgdt', 'invlpg', 'rdmsr', 'wrmsr', 'cpuid', 'rdtsc', 'clts', 'wbinvd', 'lmsw', 'verr', 'arpl', 'ud2']],
      ['keyword.mnemonic.vmx.nasm', ['vmcall', 'vmlaunch', 'vmresume', 'vmxon', 'vmxoff', 'vmread', 'vmwrite', 'vmptrld', 'vmptrst', 'vmclear', 'invept', 'invvpid']],
    ];
    for (const [scope, words] of groups) {
      for (const w of words) {
        assert.equal(innermost(`        ${w} eax`, w), scope, w);
        assert.equal(innermost(`        ${w.toUpperCase()} eax`, w.toUpperCase()), scope, w.toUpperCase());
      }
    }
  });

  test('every mnemonic the assembler knows is coloured as an instruction', () => {
    const mnemonics = [...new Set(allForms().map((f) => f.mnemonic))];
    assert.ok(mnemonics.length > 100, `only ${mnemonics.length} mnemonics in the assembler's table`);
    const uncoloured = mnemonics.filter((m) => !/^keyword\./.test(innermost(`        ${m} eax`, m)));
    assert.deepEqual(uncoloured, []);
  });

  test('prefixes', () => {
    for (const p of ['rep', 'repe', 'repz', 'repne', 'repnz', 'lock', 'o16', 'o32', 'a16', 'a32']) {
      assert.equal(innermost(`        ${p} movsb`, p), 'storage.modifier.prefix.nasm', p);
    }
  });

  test('registers by class', () => {
    const classes: [string, string[]][] = [
      ['general', ['al', 'ah', 'bl', 'bh', 'cl', 'ch', 'dl', 'dh', 'ax', 'bx', 'cx', 'dx', 'si', 'di', 'sp', 'bp', 'eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'esp', 'ebp', 'EAX']],
      ['segment', ['cs', 'ds', 'es', 'fs', 'gs', 'ss']],
      ['control', ['cr0', 'cr2', 'cr3', 'cr4']],
      ['debug', ['dr0', 'dr1', 'dr2', 'dr3', 'dr6', 'dr7']],
    ];
    for (const [cls, regs] of classes) {
      for (const r of regs) assert.equal(innermost(`        mov ${r}, 0`, r), `variable.language.register.${cls}.nasm`, r);
    }
  });

  test('size and distance keywords, operators and memory operands', () => {
    for (const s of ['byte', 'word', 'dword', 'qword', 'tword']) {
      assert.equal(innermost(`        mov ${s} [bx], 0`, s), 'storage.type.size.nasm', s);
    }
    for (const s of ['short', 'near', 'far', 'strict']) {
      assert.equal(innermost(`        jmp ${s} target`, s), 'storage.modifier.distance.nasm', s);
    }
    const line = '        mov eax, [es:di + ebx*4 - 8]';
    assert.equal(innermost(line, 'es'), 'variable.language.register.segment.nasm');
    assert.equal(innermost(line, ':'), 'punctuation.separator.segment.nasm');
    assert.equal(innermost(line, '+'), 'keyword.operator.arithmetic.nasm');
    assert.equal(innermost(line, '*'), 'keyword.operator.arithmetic.nasm');
    assert.equal(innermost(line, ']'), 'punctuation.definition.bracket.square.end.nasm');
    assert.equal(innermost(line, ','), 'punctuation.separator.comma.nasm');
    assert.equal(innermost('        dd (1 << 4) | 3', '<<'), 'keyword.operator.bitwise.shift.nasm');
    assert.equal(innermost('        dd (1 << 4) | 3', '|'), 'keyword.operator.bitwise.nasm');
    assert.equal(innermost('        dd x wrt ..sym', 'wrt'), 'keyword.operator.word.nasm');
    assert.equal(innermost('        dd seg x', 'seg'), 'keyword.operator.word.nasm');
  });

  test('identifiers that merely contain keywords stay plain', () => {
    for (const [line, word] of [
      ['        call movement', 'movement'],
      ['        mov eax, eaxx', 'eaxx'],
      ['        jmp .loop', 'loop'],
      ['        dd cr0_value', 'cr0_value'],
      ['        db byte_count', 'byte_count'],
      ['        mov ax, hex2', 'hex2'],
      ['        mov ax, 12abc', '12abc'],
    ] as const) {
      const scopes = new Tokenizer(grammar).tokenizeLine(line).filter((t) => t.text.includes(word));
      for (const t of scopes) {
        assert.ok(
          !t.scopes.some((s) => /^(keyword|variable\.language|storage|constant)/.test(s)),
          `${word} in "${line}" got ${t.scopes.join(' ')}`,
        );
      }
    }
  });

  test('every statement of the fixture starts with a coloured keyword, label or directive', () => {
    const text = readFileSync(join(root, 'test', 'grammar', 'fixtures', 'sample.asm'), 'utf8');
    const t = new Tokenizer(grammar);
    let checked = 0;
    for (const line of text.split('\n')) {
      const tokens = t.tokenizeLine(line);
      const first = tokens.find((x) => x.text.trim() !== '');
      if (!first) continue;
      const inner = first.scopes[first.scopes.length - 1] ?? '';
      assert.match(inner, /^(comment|punctuation\.definition\.(comment|directive|bracket)|keyword|storage|entity\.name|variable\.parameter)/, `"${line}" starts with ${JSON.stringify(first)}`);
      checked++;
    }
    assert.ok(checked >= 30);
  });
});

describe('language configuration', () => {
  test('line comment, brackets and auto-closing quotes', () => {
    assert.equal(languageConfig.comments.lineComment, ';');
    const pairs = languageConfig.brackets.map((b) => b.join(''));
    assert.ok(pairs.includes('[]') && pairs.includes('()'));
    const auto = languageConfig.autoClosingPairs.map((p) => p.open + p.close);
    for (const p of ["''", '""', '``', '[]', '()']) assert.ok(auto.includes(p), p);
  });

  test('the word pattern takes local labels, macro-locals and numbers as whole words', () => {
    const re = new RegExp(languageConfig.wordPattern, 'g');
    const words = (s: string): string[] => [...s.matchAll(re)].map((m) => m[0]);
    assert.deepEqual(words('jz .done_1'), ['jz', '.done_1']);
    assert.deepEqual(words('call print16.next'), ['call', 'print16.next']);
    assert.deepEqual(words('mov ax, 0x7C00'), ['mov', 'ax', '0x7C00']);
    assert.deepEqual(words('jmp %%skip'), ['jmp', '%%skip']);
    assert.deepEqual(words('mov [es:di], al'), ['mov', 'es', 'di', 'al']);
    assert.deepEqual(words('jmp ..@ok'), ['jmp', '..@ok']);
  });

  test('folding and indentation regexes compile as JavaScript', () => {
    const folding = languageConfig.folding?.markers;
    assert.ok(folding);
    assert.match('%macro m 1', new RegExp(folding.start));
    assert.match('%endmacro', new RegExp(folding.end));
    for (const v of Object.values(languageConfig.indentationRules ?? {})) assert.doesNotThrow(() => new RegExp(v));
  });
});
