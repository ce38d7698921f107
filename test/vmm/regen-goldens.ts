// Writes out the generated files of the hypervisor layer: the published VM
// configuration schema, built from the same tables the validator uses, and
// the golden exit traces of the examples (examples/*/expected-exits.txt).
// Run: npx tsx test/vmm/regen-goldens.ts (npm run goldens runs it too).
// Review the diff: a golden trace should change only when an exit really changed.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { buildVmConfigSchema } from '../../src/vmm/config/index';
import { discoverExamples, runExample, REPO } from './examples/trace';

const path = 'schemas/vm-config.schema.json';
writeFileSync(path, JSON.stringify(buildVmConfigSchema(), null, 2) + '\n');
console.log(`wrote ${path}`);
for (const ex of discoverExamples()) {
  const r = runExample(ex);
  writeFileSync(ex.expected, r.trace);
  console.log(`wrote ${relative(REPO, ex.expected)} (${r.exits.length} exits)`);
}
