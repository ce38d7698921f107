// Regenerates the nasm goldens next to each fixture: NAME.bin (`nasm -f bin`) and NAME.lst (`nasm -l`).
// Needs nasm 2.16 on PATH. Run: npx tsx test/asm/regen-goldens.ts [NAME...]

import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'asm');
const wanted = new Set(process.argv.slice(2));
let count = 0;
for (const f of readdirSync(FIXTURES).sort()) {
  if (!f.endsWith('.asm')) continue;
  const name = f.slice(0, -4);
  if (wanted.size > 0 && !wanted.has(name)) continue;
  // Run inside the fixture directory so %include resolves as it does for the assembler under test.
  execFileSync('nasm', ['-f', 'bin', '-I', './', f, '-o', `${name}.bin`, '-l', `${name}.lst`], { cwd: FIXTURES, stdio: ['ignore', 'ignore', 'pipe'] });
  count++;
}
console.log(`regenerated ${count} golden(s) in ${FIXTURES}`);
