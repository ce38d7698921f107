// The committed Bochs goldens: manifest, harness images and per-case results.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseResult, type CaseResult } from './results';

export const DEFAULT_SEED = 0x2026b0c5;
export const DEFAULT_COUNT = 6000;
export const DEFAULT_PER_IMAGE = 750;
export const RESULTS_FILE = 'results.txt.gz';
export const GOLDEN_DIR = join(import.meta.dirname, '..', 'fixtures', 'bochs');

export function imageFile(i: number): string {
  return `image-${i}.bin.gz`;
}

export interface Manifest {
  generatorVersion: number;
  seed: number;
  count: number;
  perImage: number;
  /** sourceHash() of all generated cases: detects a generator that drifted from the goldens. */
  sourceHash: string;
  results: string;
  images: { file: string; first: number; count: number; bytes: number }[];
}

export function loadManifest(): Manifest {
  return JSON.parse(readFileSync(join(GOLDEN_DIR, 'manifest.json'), 'utf8')) as Manifest;
}

export function loadImage(file: string): Uint8Array {
  return new Uint8Array(gunzipSync(readFileSync(join(GOLDEN_DIR, file))));
}

/** Bochs's results by global case index. */
export function loadResults(m: Manifest): Map<number, CaseResult> {
  const out = new Map<number, CaseResult>();
  const text = gunzipSync(readFileSync(join(GOLDEN_DIR, m.results))).toString('utf8');
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sp = line.indexOf(' ');
    out.set(Number(line.slice(0, sp)), parseResult(line.slice(sp + 1)));
  }
  return out;
}
