// Generates test/fixtures/asm/enc{16,32}-NN.asm: every row of the instruction table instantiated
// with sample operands, in 16- and 32-bit code. Lines the real nasm rejects are dropped, so this
// needs nasm; the generated files are committed and their goldens made by regen-goldens.ts.
// Existing files are kept as they are (other areas derive goldens from them): only lines for new
// table rows are written, into new files after the last one. `--rebuild` regenerates everything.
// Run: npx tsx test/asm/gen-encoding-fixtures.ts [--rebuild]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allForms, InsnForm } from '../../src/x86/asm/insns';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'asm');
const CHUNK = 160;

function mem(bits: 16 | 32, size: string, variant: number): string {
  const m16 = ['[bx+si+0x10]', '[bp]', '[di-4]', '[0x1234]'];
  const m32 = ['[ebx+ecx*2+0x10]', '[ebp]', '[esp+8]', '[0x12345678]'];
  const m = (bits === 16 ? m16 : m32)[variant % 4];
  return size ? `${size} ${m}` : m;
}

const SIZE_NAME: Record<string, string> = { '8': 'byte', '16': 'word', '32': 'dword', '64': 'qword' };

function samples(slot: string, form: InsnForm, bits: 16 | 32): string[] {
  const fixed = ['al', 'ax', 'eax', 'cl', 'dx', 'cx', 'ecx', 'es', 'cs', 'ss', 'ds', 'fs', 'gs'];
  if (fixed.includes(slot)) return [slot];
  const sized = (n: string, v: string): string => (form.sz && Number(n) !== bits ? `${SIZE_NAME[n]} ${v}` : v);
  switch (slot) {
    case 'r8': return ['cl', 'bh'];
    case 'r16': return ['dx', 'si'];
    case 'r32': return ['ebx', 'edi'];
    case 'rm8': return ['ah', mem(bits, 'byte', 0), mem(bits, 'byte', 1)];
    case 'rm16': return ['bp', mem(bits, 'word', 2), mem(bits, 'word', 3)];
    case 'rm32': return ['esp', mem(bits, 'dword', 0), mem(bits, 'dword', 1)];
    case 'm': case 'mu': case 'm64': return [mem(bits, '', 0), mem(bits, '', 2)];
    case 'm8': case 'm16': case 'm32': return [mem(bits, SIZE_NAME[slot.slice(1)], 3)];
    case 'sreg': return ['es', 'ss', 'gs'];
    case 'creg': return ['cr0', 'cr3', 'cr4'];
    case 'dreg': return ['dr1', 'dr7'];
    case 'imm8': return ['0x12', '0xfe'];
    case 'imm16': return [sized('16', '0x1234'), sized('16', '300')];
    case 'imm32': return [sized('32', '0x12345678'), sized('32', '-300')];
    case 'sbx': return ['byte 5', 'byte -2'];
    case 'sb16': return [sized('16', '-3'), sized('16', '0x7f')];
    case 'sb32': return [sized('32', '-128'), sized('32', '100')];
    case 'one': return ['1'];
    case 'rel8': return ['$', 'short $+0x20'];
    case 'rel16': return bits === 16 ? ['near $', '$+0x300'] : ['word $'];
    case 'rel32': return bits === 32 ? ['near $', '$+0x300'] : ['dword $'];
    case 'far16': return ['0x1234:0x5678', 'word 0x10:0x20'];
    case 'far32': return ['dword 0x10:0x12345678'];
    case 'mfar16': return [`far word ${mem(bits, '', 0)}`];
    case 'mfar32': return [`far dword ${mem(bits, '', 1)}`];
    case 'moffs8': case 'moffs16': case 'moffs32': return [bits === 16 ? '[0x1234]' : '[0x12345678]'];
  }
  throw new Error(`no samples for slot ${slot}`);
}

function linesFor(form: InsnForm, bits: 16 | 32): string[] {
  if (form.slots.length === 0) return [form.mnemonic];
  const lists = form.slots.map((s) => samples(s, form, bits));
  const out: string[] = [];
  const n = Math.max(...lists.map((l) => l.length));
  for (let i = 0; i < n; i++) out.push(`${form.mnemonic} ${lists.map((l) => l[i % l.length]).join(', ')}`);
  return out;
}

function nasmRejects(lines: string[], bits: 16 | 32, dir: string): Set<number> {
  const file = join(dir, 't.asm');
  writeFileSync(file, `bits ${bits}\n${lines.join('\n')}\n`);
  try {
    execFileSync('nasm', ['-f', 'bin', '-w-all', file, '-o', join(dir, 't.bin')], { stdio: 'pipe' });
    return new Set();
  } catch (e) {
    const text = String((e as { stderr?: Buffer }).stderr ?? '');
    const bad = new Set<number>();
    for (const m of text.matchAll(/t\.asm:(\d+): error/g)) bad.add(Number(m[1]) - 2);
    if (bad.size === 0) throw new Error(`nasm failed: ${text}`);
    return bad;
  }
}

const rebuild = process.argv.includes('--rebuild');
const dir = mkdtempSync(join(tmpdir(), 'hyperstep-enc-'));
if (rebuild) for (const f of readdirSync(FIXTURES)) if (/^enc(16|32)-\d+\.(asm|bin|lst)$/.test(f)) unlinkSync(join(FIXTURES, f));
for (const bits of [16, 32] as const) {
  const existing = readdirSync(FIXTURES).filter((f) => new RegExp(`^enc${bits}-\\d+\\.asm$`).test(f)).sort();
  const seen = new Set<string>();
  for (const f of existing) {
    for (const l of readFileSync(join(FIXTURES, f), 'utf8').split('\n')) if (/^ {4}\S/.test(l)) seen.add(l.trim());
  }
  let lines: string[] = [];
  for (const form of allForms()) {
    for (const l of linesFor(form, bits)) {
      if (!seen.has(l)) {
        seen.add(l);
        lines.push(l);
      }
    }
  }
  for (;;) {
    if (lines.length === 0) break;
    const bad = nasmRejects(lines, bits, dir);
    if (bad.size === 0) break;
    lines = lines.filter((_, i) => !bad.has(i));
  }
  for (let c = 0; c * CHUNK < lines.length; c++) {
    const name = `enc${bits}-${String(existing.length + c + 1).padStart(2, '0')}.asm`;
    const body = lines.slice(c * CHUNK, (c + 1) * CHUNK).map((l) => `    ${l}`);
    const header = [`; disasm: ${bits}`, `; Generated by test/asm/gen-encoding-fixtures.ts: instruction-table rows with sample operands.`, `bits ${bits}`];
    writeFileSync(join(FIXTURES, name), [...header, ...body].join('\n') + '\n');
    console.log(`${name}: ${body.length} lines`);
  }
}
rmSync(dir, { recursive: true, force: true });
