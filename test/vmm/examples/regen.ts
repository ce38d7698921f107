// Regenerates examples/*/expected-exits.txt from the current engine.
//   npx tsx test/vmm/examples/regen.ts            every example that has an expected-exits.txt
//   npx tsx test/vmm/examples/regen.ts DIR...     these example directories (creates the file)
// Review the diff: a golden trace changes only when an exit really changed.
import { writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { discoverExamples, exampleIn, runExample, fnv1a, EXAMPLES, REPO } from './trace';

const args = process.argv.slice(2);
const examples = args.length === 0
  ? discoverExamples()
  : args.map((a) => {
    const dir = resolve(a.includes('/') ? a : join(EXAMPLES, a));
    const ex = exampleIn(dir);
    if (ex === undefined) throw new Error(`${a}: no guest.asm (or single .asm file) in ${dir}`);
    return ex;
  });

for (const ex of examples) {
  const r = runExample(ex);
  writeFileSync(ex.expected, r.trace);
  console.log(`${relative(REPO, ex.expected)}: ${r.exits.length} exits, stop ${r.stop.reason}, fnv1a ${fnv1a(r.trace).toString(16).padStart(8, '0')}`);
}
