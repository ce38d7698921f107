// Regenerates the golden DAP transcripts: npx tsx test/debug/transcripts/regen-goldens.ts
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCENARIOS, transcript } from './scenarios';

const here = dirname(fileURLToPath(import.meta.url));
async function main(): Promise<void> {
  for (const s of SCENARIOS) {
    const client = await s.run();
    const file = join(here, `${s.name}.json`);
    writeFileSync(file, JSON.stringify({ scenario: s.description, messages: transcript(client) }, null, 2) + '\n');
    console.log(`wrote ${file}`);
  }
  process.exit(0);
}

void main();
