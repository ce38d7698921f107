// Runs the real ndisasm (Node only): used by regen-goldens.ts and the oracle
// tests, never by the normal test suite.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NdisasmLine { offset: number; length: number; text: string }

export function ndisasmAvailable(): boolean {
  const r = spawnSync('ndisasm', ['-v'], { encoding: 'utf8' });
  return r.status === 0;
}

/** Parse ndisasm's listing (continuation lines "   -HEX" extend the previous instruction). */
export function parseListing(out: string): NdisasmLine[] {
  const lines: NdisasmLine[] = [];
  for (const raw of out.split('\n')) {
    if (!raw.trim()) continue;
    const cont = /^\s+-([0-9A-Fa-f]+)\s*$/.exec(raw);
    if (cont) {
      lines[lines.length - 1].length += cont[1].length / 2;
      continue;
    }
    const m = /^([0-9A-Fa-f]+)\s+([0-9A-Fa-f]+)\s+(.*)$/.exec(raw);
    if (!m) throw new Error(`unexpected ndisasm line: ${raw}`);
    lines.push({ offset: parseInt(m[1], 16), length: m[2].length / 2, text: m[3].trim() });
  }
  return lines;
}

/** Disassemble a whole stream, as `ndisasm -b BITS file` does. */
export function ndisasmStream(bytes: Uint8Array, bits: 16 | 32, syncEvery = 0): NdisasmLine[] {
  const dir = mkdtempSync(join(tmpdir(), 'ndisasm-'));
  try {
    const file = join(dir, 'in.bin');
    writeFileSync(file, bytes);
    const args = ['-b', String(bits)];
    if (syncEvery) for (let p = syncEvery; p < bytes.length; p += syncEvery) args.push('-s', String(p));
    args.push(file);
    const out = execFileSync('ndisasm', args, { encoding: 'utf8', maxBuffer: 1 << 28 });
    return parseListing(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ndisasm's first instruction of each fixed-size record (records laid end to end, sync points between). */
export function ndisasmFirsts(records: Uint8Array[], bits: 16 | 32): NdisasmLine[] {
  const size = records[0]?.length ?? 16;
  const all = new Uint8Array(records.length * size);
  records.forEach((r, i) => all.set(r, i * size));
  const byOffset = new Map<number, NdisasmLine>();
  // Chunks keep the sync-point argument list a sensible length.
  const chunk = 2048;
  for (let i = 0; i < records.length; i += chunk) {
    const part = all.subarray(i * size, Math.min(records.length, i + chunk) * size);
    for (const l of ndisasmStream(part, bits, size)) {
      if (l.offset % size === 0) byOffset.set(i * size + l.offset, l);
    }
  }
  // `offset` stays the record's address in its chunk: relative targets depend on it.
  return records.map((_, i) => {
    const l = byOffset.get(i * size);
    if (!l) throw new Error(`ndisasm gave no instruction at record ${i}`);
    return { ...l, offset: (i % chunk) * size };
  });
}
