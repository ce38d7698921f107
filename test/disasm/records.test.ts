// Decoder + disassembler against ndisasm's goldens for the random and the
// generated record sets (first instruction of each 16-byte record).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, Outcome, OUTCOMES } from './compare';
import { digest, readGolden, records, SetName } from './goldens';
import { RECORD } from './corpus';
import { ALIAS_KINDS } from './aliases';

for (const set of ['random', 'corpus'] as SetName[]) {
  for (const bits of [16, 32] as const) {
    test(`${set} records, ${bits}-bit: first instruction matches ndisasm`, (t) => {
      const recs = records(set, bits);
      const golden = readGolden(set, bits);
      assert.equal(golden.count, recs.length, 'golden record count (regenerate with test/disasm/regen-goldens.ts)');
      assert.equal(golden.sha, digest(recs), 'golden was made from different records (regenerate)');
      assert.equal(golden.entries.length, recs.length);
      if (set === 'random') assert.ok(recs.length >= 4000);
      const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
      const fails: string[] = [];
      const classes = new Map<string, number>();
      recs.forEach((r, i) => {
        const g = golden.entries[i];
        assert.equal(r.length, RECORD);
        const v = judge(r, 0, bits, g.ip, g);
        counts[v.outcome]++;
        if (v.outcome === 'known-divergence' || v.outcome === 'alias') {
          const k = `${v.outcome}: ${v.detail}`;
          classes.set(k, (classes.get(k) ?? 0) + 1);
        }
        if (v.outcome === 'fail' && fails.length < 20) {
          fails.push(`${Buffer.from(r).toString('hex')}: ours ${v.ourLength} "${v.ours}" vs ndisasm ${g.length} "${g.text}"`);
        }
      });
      t.diagnostic(`${recs.length} records: ${counts.match} compared and equal, ${counts['both-unsupported']} unsupported by both, ` +
        `${counts['known-divergence']} documented divergences, ${counts.alias} alias encodings ndisasm lacks, ${counts.fail} failures`);
      for (const [k, n] of [...classes].sort()) t.diagnostic(`  ${n} ${k}`);
      assert.deepEqual(fails, []);
      // The generated set walks every alias opcode, so each kind must show up.
      if (set === 'corpus') {
        for (const kind of ALIAS_KINDS) assert.ok((classes.get(`alias: ${kind}`) ?? 0) > 0, `no ${kind} alias in the corpus`);
      }
      // The sets must exercise real comparisons, not only invalid bytes.
      assert.ok(counts.match > recs.length / 2, `only ${counts.match} compared`);
    });
  }
}

test('the comparison rule rejects wrong text, wrong length and wrongly invalid decodes', () => {
  const bytes = Uint8Array.from([0x8b, 0x43, 0x04, 0x90]);
  assert.equal(judge(bytes, 0, 32, 0, { length: 3, text: 'mov eax,[ebx+0x4]' }).outcome, 'match');
  assert.equal(judge(bytes, 0, 32, 0, { length: 3, text: 'MOV  EAX,[EBX+0X4]' }).outcome, 'match');
  assert.equal(judge(bytes, 0, 32, 0, { length: 3, text: 'mov eax,[ebx+0x5]' }).outcome, 'fail');
  assert.equal(judge(bytes, 0, 32, 0, { length: 4, text: 'mov eax,[ebx+0x4]' }).outcome, 'fail');
  const salc = Uint8Array.from([0xd6]);
  assert.equal(judge(salc, 0, 32, 0, { length: 1, text: 'salc' }).outcome, 'both-unsupported');
  // Were the decoder to reject a supported instruction, that is a failure.
  assert.equal(judge(salc, 0, 32, 0, { length: 1, text: 'nop' }).outcome, 'fail');
});
