// Golden files for the record corpora: one text file per set and mode,
//   # comment lines (tool version, record count, digest of the record bytes)
//   <ip> <length> <ndisasm text>
// The records themselves are regenerated from corpus.ts; the digest catches
// a generator change that was not followed by a regen.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { opcodeHasModrm } from '../../src/x86/decode/index';
import { corpusRecords, randomRecords } from './corpus';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const DISASM_FIXTURES = join(FIXTURES, 'disasm');

export interface GoldenEntry { ip: number; length: number; text: string }
export type SetName = 'random' | 'corpus';

export function records(set: SetName, bits: 16 | 32): Uint8Array[] {
  return set === 'random' ? randomRecords(bits) : corpusRecords(bits, opcodeHasModrm);
}

export function digest(recs: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const r of recs) h.update(r);
  return h.digest('hex');
}

export function goldenPath(set: SetName, bits: 16 | 32): string {
  return join(DISASM_FIXTURES, `${set}-${bits}.txt`);
}

export function writeGolden(set: SetName, bits: 16 | 32, recs: Uint8Array[], entries: GoldenEntry[], version: string): void {
  const lines = [
    `# ${version}, -b ${bits}: first instruction of each 16-byte record of the ${set} set`,
    `# records ${recs.length} sha256 ${digest(recs)}`,
    ...entries.map((e) => `${e.ip} ${e.length} ${e.text}`),
  ];
  writeFileSync(goldenPath(set, bits), lines.join('\n') + '\n');
}

export function readGolden(set: SetName, bits: 16 | 32): { entries: GoldenEntry[]; count: number; sha: string } {
  const text = readFileSync(goldenPath(set, bits), 'utf8');
  let count = -1;
  let sha = '';
  const entries: GoldenEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /records (\d+) sha256 ([0-9a-f]+)/.exec(line);
      if (m) { count = Number(m[1]); sha = m[2]; }
      continue;
    }
    const m = /^(\d+) (\d+) (.*)$/.exec(line);
    if (!m) throw new Error(`bad golden line: ${line}`);
    entries.push({ ip: Number(m[1]), length: Number(m[2]), text: m[3] });
  }
  return { entries, count, sha };
}
