// Shared helpers for the assembler tests: fixture discovery, assembling a fixture, byte-diff reports.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble, AssembleResult, formatDiagnostic } from '../../src/x86/asm/index';

export const FIXTURE_DIR = join(import.meta.dirname, '..', 'fixtures', 'asm');

export function fixtureNames(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.asm'))
    .map((f) => f.slice(0, -4))
    .sort();
}

export function readFixtureFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const cache = new Map<string, { source: string; result: AssembleResult }>();

/** Assembles a fixture (memoised: several tests look at the same result). */
export function assembleFixture(name: string): { source: string; result: AssembleResult } {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = join(FIXTURE_DIR, `${name}.asm`);
  const source = readFileSync(file, 'utf8');
  const out = { source, result: assemble(source, { fileName: file, readFile: readFixtureFile }) };
  cache.set(name, out);
  return out;
}

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

/** Empty string when equal; otherwise a readable report of the first difference. */
export function diffReport(name: string, source: string, result: AssembleResult, expected: Uint8Array): string {
  const actual = result.bytes;
  const errors = result.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
  if (errors.length === 0 && actual.length === expected.length && actual.every((b, i) => b === expected[i])) return '';
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  const address = result.origin + i;
  const entry = result.sourceMap.lookup(address);
  const lines = source.split('\n');
  const where = entry ? `${entry.file}:${entry.line}: ${lines[entry.line - 1]?.trim() ?? ''}` : '(no source line)';
  const from = entry ? entry.address - result.origin : i;
  return [
    `${name}: output differs from nasm at offset 0x${i.toString(16)} (address 0x${address.toString(16)})`,
    `  source:   ${where}`,
    `  expected: ${hex(expected.subarray(from, from + 16))}`,
    `  actual:   ${hex(actual.subarray(from, from + 16))}`,
    `  lengths:  expected ${expected.length}, actual ${actual.length}`,
    ...errors.slice(0, 5).map((e) => `  ${e}`),
  ].join('\n');
}

/** Listing lines without nasm's warning lines (their [-w+...] tags are nasm-specific). */
export function stripListingWarnings(s: string): string {
  return s
    .split('\n')
    .filter((l) => !l.includes('******************'))
    .join('\n');
}
