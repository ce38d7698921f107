// Writes out the generated files of the hypervisor layer: the published VM
// configuration schema, built from the same tables the validator uses.
// Run: npx tsx test/vmm/regen-goldens.ts (npm run goldens runs it too).
import { writeFileSync } from 'node:fs';
import { buildVmConfigSchema } from '../../src/vmm/config/index';

const path = 'schemas/vm-config.schema.json';
writeFileSync(path, JSON.stringify(buildVmConfigSchema(), null, 2) + '\n');
console.log(`wrote ${path}`);
