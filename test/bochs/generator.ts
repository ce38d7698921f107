// Deterministic case generation: (seed, count) always gives the same cases,
// so the committed goldens only need the seed, and the test can show the
// source and initial state of any case that differs.

import { createHash } from 'node:crypto';
import { CASE_ESP, CaseBuilder, hex32 } from './builder';
import { CATEGORIES, STATUS_FLAGS, type Category } from './categories';
import { Rng, subSeed } from './prng';

/** Bumped whenever the generator's output for a given seed changes. */
export const GENERATOR_VERSION = 2;

export interface TestCase {
  index: number;
  category: string;
  /** Seed of the xorshift32 stream the harness fills the scratch area with. */
  scratchSeed: number;
  eflags: number;
  /** eax ecx edx ebx esp ebp esi edi (esp is always CASE_ESP). */
  regs: number[];
  /** Size of the code segment the case runs in. */
  bits: 16 | 32;
  lines: string[];
}

const DF = 0x400;
export const REG_ORDER = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/** Category of case i: a fixed weighted rotation, so every category gets its share at any count. */
function categoryFor(i: number): Category {
  const total = CATEGORIES.reduce((s, c) => s + c.weight, 0);
  let slot = i % total;
  for (const c of CATEGORIES) {
    if (slot < c.weight) return c;
    slot -= c.weight;
  }
  return CATEGORIES[0];
}

export function generateCase(seed: number, index: number): TestCase {
  const rng = new Rng(subSeed(seed, index));
  const cat = categoryFor(index);
  let scratchSeed = 0;
  while (scratchSeed === 0) scratchSeed = rng.u32();
  const regs = REG_ORDER.map((r) => (r === 'esp' ? CASE_ESP : rng.value(32)));
  let eflags = 2 | (rng.u32() & STATUS_FLAGS);
  if (rng.chance(0.2)) eflags |= DF;
  const bits = rng.chance(0.25) ? 16 : 32;
  const b = new CaseBuilder(rng, bits);
  const n = rng.range(cat.length[0], cat.length[1]);
  for (let k = 0; k < n; k++) cat.gen(b);
  return { index, category: cat.name, scratchSeed, eflags, regs, bits, lines: b.lines };
}

export function generateCases(seed: number, count: number): TestCase[] {
  return Array.from({ length: count }, (_, i) => generateCase(seed, i));
}

/** The cases.inc the harness includes, for cases[first, first + count). */
export function casesInclude(cases: readonly TestCase[]): string {
  const out: string[] = [`CASE_COUNT equ ${cases.length}`, 'case_table:'];
  for (let i = 0; i < cases.length; i += 8) {
    out.push(`        dd ${cases.slice(i, i + 8).map((c) => `case_${c.index}`).join(', ')}`);
  }
  for (const c of cases) {
    const r = c.regs;
    out.push(`case_${c.index}: ; ${c.category}`);
    out.push(`        dd ${[c.scratchSeed, c.eflags, r[0], r[1], r[2], r[3], r[5], r[6], r[7], c.bits].map(hex32).join(', ')}`);
    if (c.bits === 16) out.push('        bits 16');
    for (const l of c.lines) out.push(`        ${l}`);
    if (c.bits === 16) out.push('        jmp dword 0x08:case_done', '        bits 32');
    else out.push('        jmp case_done');
  }
  return out.join('\n') + '\n';
}

/** Hash of the generated source, stored in the manifest to detect generator drift. */
export function sourceHash(cases: readonly TestCase[]): string {
  return createHash('sha256').update(casesInclude(cases)).digest('hex').slice(0, 16);
}

/** Splits cases into image-sized groups. */
export function splitImages<T>(cases: readonly T[], perImage: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < cases.length; i += perImage) out.push(cases.slice(i, i + perImage));
  return out;
}
