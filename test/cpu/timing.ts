// Local timing helper (not a test): runs small guests and prints MIPS.
// Usage: npx tsx test/cpu/timing.ts [file.bin ...]  (boot sectors)
import { readFileSync } from 'node:fs';
import { Machine } from '../../src/x86/machine';

for (const file of process.argv.slice(2)) {
  const m = new Machine();
  m.loadBootSector(new Uint8Array(readFileSync(file)));
  const t0 = performance.now();
  const stop = m.run(2_000_000_000);
  const ms = performance.now() - t0;
  console.log(`${file}: ${stop.reason} ${stop.instructions} instructions in ${ms.toFixed(0)} ms = ${(stop.instructions / ms / 1000).toFixed(1)} MIPS (${stop.message})`);
}
