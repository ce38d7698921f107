// Live comparison against the installed ndisasm (npm run test:oracles).
// Without ndisasm these tests skip, or fail when CI is set.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, Outcome } from './compare';
import { records, SetName } from './goldens';
import { ndisasmAvailable, ndisasmFirsts, ndisasmStream } from './ndisasm';
import { judgeStream, streamFixtures } from './streams';
import { prng } from './corpus';

const available = ndisasmAvailable();
const skip = !available && !process.env.CI ? 'ndisasm not installed (set CI=1 to make this a failure)' : false;

function requireTool(): void {
  assert.ok(available, 'ndisasm is not installed but CI is set');
}

for (const set of ['random', 'corpus'] as SetName[]) {
  for (const bits of [16, 32] as const) {
    test(`live ndisasm: ${set} records, ${bits}-bit`, { skip }, (t) => {
      requireTool();
      const recs = records(set, bits);
      const nd = ndisasmFirsts(recs, bits);
      const counts: Record<Outcome, number> = { match: 0, 'both-unsupported': 0, 'known-divergence': 0, fail: 0 };
      const fails: string[] = [];
      recs.forEach((r, i) => {
        const v = judge(r, 0, bits, nd[i].offset, nd[i]);
        counts[v.outcome]++;
        if (v.outcome === 'fail' && fails.length < 20) fails.push(`${Buffer.from(r).toString('hex')}: ours "${v.ours}" vs "${nd[i].text}"`);
      });
      t.diagnostic(`${recs.length} records: ${counts.match} compared and equal, ${counts['both-unsupported']} unsupported by both, ` +
        `${counts['known-divergence']} documented divergences`);
      assert.deepEqual(fails, []);
    });
  }
}

test('live ndisasm: fresh random records (new seed each run)', { skip }, (t) => {
  requireTool();
  const seed = (Date.now() ^ (process.pid << 8)) >>> 0;
  const rnd = prng(seed);
  for (const bits of [16, 32] as const) {
    const recs = Array.from({ length: 4000 }, () => Uint8Array.from({ length: 16 }, () => Math.floor(rnd() * 256)));
    const nd = ndisasmFirsts(recs, bits);
    const fails = recs.flatMap((r, i) => {
      const v = judge(r, 0, bits, nd[i].offset, nd[i]);
      return v.outcome === 'fail' ? [`${Buffer.from(r).toString('hex')}: ours "${v.ours}" vs "${nd[i].text}"`] : [];
    });
    t.diagnostic(`seed ${seed}, ${bits}-bit: ${recs.length} records`);
    assert.deepEqual(fails.slice(0, 20), [], `seed ${seed}`);
  }
});

test('live ndisasm: stream fixtures', { skip }, () => {
  requireTool();
  for (const f of streamFixtures()) {
    const { fails } = judgeStream(f.bin, f.bits, ndisasmStream(f.bin, f.bits));
    assert.deepEqual(fails, [], f.name);
  }
});
