// Stream fixtures (the assembler's test/fixtures/asm and this area's own
// test/fixtures/disasm/*.asm) against ndisasm's committed listings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { disassemble } from '../../src/x86/disasm/index';
import { judgeStream, streamFixtures } from './streams';
import { normalize } from './compare';

const fixtures = streamFixtures();

test('stream fixtures exist', () => {
  assert.ok(fixtures.some((f) => f.name === 'stream16') && fixtures.some((f) => f.name === 'stream32'));
});

for (const f of fixtures) {
  test(`${f.name} (${f.bits}-bit): every ndisasm boundary decodes the same`, (t) => {
    assert.ok(f.listing, `no ndisasm golden for ${f.name}; run test/disasm/regen-goldens.ts`);
    const covered = f.listing.reduce((n, l) => n + l.length, 0);
    assert.equal(covered, f.bin.length, `golden for ${f.name} is stale (the .bin changed); run test/disasm/regen-goldens.ts`);
    const { verdicts, fails } = judgeStream(f.bin, f.bits, f.listing);
    const matched = verdicts.filter((v) => v.outcome === 'match').length;
    t.diagnostic(`${verdicts.length} instructions, ${matched} compared and equal`);
    assert.deepEqual(fails, []);
    assert.ok(matched > 0);
  });

  test(`${f.name} (${f.bits}-bit): disassemble() walks the same boundaries`, () => {
    assert.ok(f.listing);
    const ours = disassemble(f.bin, f.bits);
    // Where both tools agree on an instruction the sweep stays in step.
    const ndAt = new Map(f.listing.map((l) => [l.offset, l]));
    let same = 0;
    for (const line of ours) {
      const nd = ndAt.get(line.address);
      if (nd && !line.instr.invalid && normalize(nd.text) === normalize(line.text)) same++;
    }
    // ndisasm reads an alias as one byte of data and then misreads its tail;
    // its lines that start inside our alias's bytes are not comparable.
    const aliasBytes = ours.filter((l) => l.instr.alias).map((l) => [l.address, l.address + l.bytes.length]);
    const comparable = f.listing.filter((l) => !aliasBytes.some(([a, b]) => l.offset >= a && l.offset < b)).length;
    assert.ok(same >= comparable * 0.9, `${same} of ${comparable} lines equal`);
    assert.equal(ours.reduce((n, l) => n + l.bytes.length, 0), f.bin.length);
  });
}
