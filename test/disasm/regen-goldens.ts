// Regenerates the disassembler goldens from the real ndisasm (and nasm for
// this area's own stream fixtures). Run: npx tsx test/disasm/regen-goldens.ts
//   - test/fixtures/disasm/NAME.ndisasm.txt for every test/fixtures/asm/NAME.asm
//     whose first line is "; disasm: 16" or "; disasm: 32" (from NAME.bin),
//     and for this area's own test/fixtures/disasm/NAME.asm (assembled here);
//   - test/fixtures/disasm/{random,corpus}-{16,32}.txt.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ndisasmFirsts } from './ndisasm';
import { DISASM_FIXTURES, FIXTURES, records, SetName, writeGolden } from './goldens';
import { disasmMode } from './streams';

const version = execFileSync('ndisasm', ['-v'], { encoding: 'utf8' }).trim().split('\n')[0];

function ndisasmFile(bin: string, bits: 16 | 32, out: string): void {
  writeFileSync(out, execFileSync('ndisasm', ['-b', String(bits), bin], { encoding: 'utf8', maxBuffer: 1 << 26 }));
  console.log(`wrote ${out}`);
}

const asmDir = join(FIXTURES, 'asm');
if (existsSync(asmDir)) {
  for (const f of readdirSync(asmDir).filter((n) => n.endsWith('.asm')).sort()) {
    const bits = disasmMode(readFileSync(join(asmDir, f), 'utf8'));
    const bin = join(asmDir, f.replace(/\.asm$/, '.bin'));
    if (!bits) continue;
    if (!existsSync(bin)) { console.warn(`skipping ${f}: no ${bin}`); continue; }
    ndisasmFile(bin, bits, join(DISASM_FIXTURES, f.replace(/\.asm$/, '.ndisasm.txt')));
  }
}

for (const f of readdirSync(DISASM_FIXTURES).filter((n) => n.endsWith('.asm')).sort()) {
  const src = join(DISASM_FIXTURES, f);
  const bits = disasmMode(readFileSync(src, 'utf8'));
  if (!bits) continue;
  const bin = src.replace(/\.asm$/, '.bin');
  execFileSync('nasm', ['-f', 'bin', '-o', bin, src]);
  ndisasmFile(bin, bits, src.replace(/\.asm$/, '.ndisasm.txt'));
}

for (const set of ['random', 'corpus'] as SetName[]) {
  for (const bits of [16, 32] as const) {
    const recs = records(set, bits);
    const nd = ndisasmFirsts(recs, bits);
    writeGolden(set, bits, recs, nd.map((l) => ({ ip: l.offset, length: l.length, text: l.text })), version);
    console.log(`wrote ${set}-${bits}.txt (${recs.length} records)`);
  }
}
