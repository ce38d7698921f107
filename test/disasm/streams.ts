// Stream fixtures: binaries with an ndisasm listing. Walks ndisasm's
// instruction boundaries and judges our decode at each one.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { judge, Verdict } from './compare';
import { parseListing, NdisasmLine } from './ndisasm';
import { DISASM_FIXTURES, FIXTURES } from './goldens';

/** The mode from a fixture's first line ("; disasm: 16|32|none"), or null. */
export function disasmMode(source: string): 16 | 32 | null {
  const m = /^\s*;\s*disasm:\s*(16|32|none)\b/i.exec(source.split('\n')[0] ?? '');
  return m && m[1] !== 'none' ? (Number(m[1]) as 16 | 32) : null;
}

export interface StreamFixture { name: string; bits: 16 | 32; bin: Uint8Array; listing?: NdisasmLine[] }

/** Fixtures from test/fixtures/asm (the assembler's) and this area's own. */
export function streamFixtures(): StreamFixture[] {
  const out: StreamFixture[] = [];
  for (const dir of [join(FIXTURES, 'asm'), DISASM_FIXTURES]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.asm')).sort()) {
      const bits = disasmMode(readFileSync(join(dir, f), 'utf8'));
      const bin = join(dir, f.replace(/\.asm$/, '.bin'));
      if (!bits || !existsSync(bin)) continue;
      const golden = join(DISASM_FIXTURES, f.replace(/\.asm$/, '.ndisasm.txt'));
      out.push({
        name: f.replace(/\.asm$/, ''), bits, bin: new Uint8Array(readFileSync(bin)),
        listing: existsSync(golden) ? parseListing(readFileSync(golden, 'utf8')) : undefined,
      });
    }
  }
  return out;
}

export function judgeStream(bin: Uint8Array, bits: 16 | 32, listing: NdisasmLine[]): { verdicts: Verdict[]; fails: string[] } {
  const verdicts: Verdict[] = [];
  const fails: string[] = [];
  for (const l of listing) {
    const v = judge(bin, l.offset, bits, l.offset, l);
    verdicts.push(v);
    if (v.outcome === 'fail') fails.push(`0x${l.offset.toString(16)}: ours ${v.ourLength} "${v.ours}" vs ndisasm ${l.length} "${l.text}"`);
  }
  return { verdicts, fails };
}
