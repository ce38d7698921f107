// Live comparison against the installed ndisasm (npm run test:oracles).
// Without ndisasm these tests skip, or fail when CI is set.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, Outcome, OUTCOMES } from './compare';
import { records, SetName } from './goldens';
import { ndisasmAvailable, ndisasmFirsts, ndisasmStream } from './ndisasm';
import { judgeStream, streamFixtures } from './streams';
import { RECORD } from './corpus';
import { uniform as prng } from '../support/prng';
import { ALIAS_TABLE, expectFromTwin, TEXT_FROM_TWIN } from './aliases';
import { decode } from '../../src/x86/decode/index';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
      const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
      const fails: string[] = [];
      const twins: { rec: Uint8Array; text: string }[] = [];
      recs.forEach((r, i) => {
        const v = judge(r, 0, bits, nd[i].offset, nd[i]);
        counts[v.outcome]++;
        if (v.outcome === 'fail' && fails.length < 20) fails.push(`${Buffer.from(r).toString('hex')}: ours "${v.ours}" vs "${nd[i].text}"`);
        if (v.outcome === 'alias') {
          const e = expectFromTwin(r, 0, bits, nd[i].offset, decode(r, 0, bits, nd[i].offset));
          const rec = new Uint8Array(RECORD);
          rec.set(e.twin);
          twins.push({ rec, text: e.twinText });
        }
      });
      // The twins the alias texts were derived from, against ndisasm itself.
      if (twins.length) {
        const ndTwins = ndisasmFirsts(twins.map((t) => t.rec), bits);
        twins.forEach((t, i) => {
          if (t.text !== ndTwins[i].text && fails.length < 20) fails.push(`twin ${Buffer.from(t.rec).toString('hex')}: ours "${t.text}" vs "${ndTwins[i].text}"`);
        });
      }
      t.diagnostic(`${recs.length} records: ${counts.match} compared and equal, ${counts['both-unsupported']} unsupported by both, ` +
        `${counts['known-divergence']} documented divergences, ${counts.alias} alias encodings ndisasm lacks`);
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

function nasmAvailable(): boolean {
  return spawnSync('nasm', ['-v'], { encoding: 'utf8' }).status === 0;
}

const skipNasm = !(available && nasmAvailable()) && !process.env.CI ? 'nasm/ndisasm not installed (set CI=1 to make this a failure)' : false;

test('live nasm: every alias text assembles to its twin (as ndisasm reads it)', { skip: skipNasm }, () => {
  assert.ok(available && nasmAvailable(), 'nasm or ndisasm is not installed but CI is set');
  const dir = mkdtempSync(join(tmpdir(), 'alias-'));
  try {
    for (const e of ALIAS_TABLE) {
      const bytes = Uint8Array.from(e.hex.match(/../g) ?? [], (h) => parseInt(h, 16));
      const ins = decode(bytes, 0, e.bits, 0);
      const twin = expectFromTwin(bytes, 0, e.bits, 0, ins).twin;
      const rec = new Uint8Array(RECORD);
      rec.set(twin);
      const ndTwin = ndisasmFirsts([rec], e.bits)[0].text;
      assert.equal(TEXT_FROM_TWIN[e.kind](ndTwin), e.text, `${e.hex}: ndisasm reads the twin as "${ndTwin}"`);
      const src = join(dir, 'a.asm');
      const bin = join(dir, 'a.bin');
      writeFileSync(src, `bits ${e.bits}\n${e.text}\n`);
      execFileSync('nasm', ['-f', 'bin', '-o', bin, src]);
      const back = ndisasmStream(new Uint8Array(readFileSync(bin)), e.bits);
      assert.equal(back.length, 1, e.text);
      assert.equal(back[0].text, ndTwin, `nasm assembled "${e.text}" to something else`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
