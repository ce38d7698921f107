// Golden DAP transcripts of three scenarios: the whole message sequence the
// client receives (responses, events, output), sequence numbers left out.
// An intended change is recorded again with
//   npx tsx test/debug/transcripts/regen-goldens.ts
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCENARIOS, transcript } from './transcripts/scenarios';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'transcripts');

describe('golden transcripts', () => {
  for (const s of SCENARIOS) {
    test(`${s.name}: ${s.description}`, async () => {
      const golden = JSON.parse(readFileSync(join(dir, `${s.name}.json`), 'utf8')) as { messages: unknown[] };
      const client = await s.run();
      assert.deepEqual(transcript(client), golden.messages);
    });
  }
});
