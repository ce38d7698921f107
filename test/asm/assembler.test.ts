// Every fixture assembles to exactly the bytes nasm produced for it (goldens from regen-goldens.ts).

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURE_DIR, assembleFixture, diffReport, fixtureNames, stripListingWarnings } from './fixtures';

const names = fixtureNames();

test('the corpus has at least 70 fixtures, each with a disasm header and goldens', () => {
  assert.ok(names.length >= 70, `only ${names.length} fixtures`);
  for (const n of names) {
    const first = readFileSync(join(FIXTURE_DIR, `${n}.asm`), 'utf8').split('\n')[0];
    assert.match(first, /^; disasm: (16|32|none)$/, `${n}.asm first line`);
    assert.ok(existsSync(join(FIXTURE_DIR, `${n}.bin`)), `${n}.bin missing (run test/asm/regen-goldens.ts)`);
  }
});

for (const name of names) {
  test(`fixture ${name} matches nasm byte for byte`, () => {
    const { source, result } = assembleFixture(name);
    const expected = new Uint8Array(readFileSync(join(FIXTURE_DIR, `${name}.bin`)));
    const report = diffReport(name, source, result, expected);
    assert.equal(report, '', report);
    assert.equal(result.ok, true);
  });
}

// nasm's quirky "invalid operand size prefix" warning is not reproduced; compare those without warnings.
const WARNING_GAPS = new Set(['prefixes', 'strings16', 'strings32']);
// nasm lists macro and %rep expansions with the definition's line numbers and text; we list the
// expanded text under the invoking line (what the source map uses). Bytes are still compared.
const LISTING_GAPS = new Set(['macros']);

for (const name of names) {
  const lst = join(FIXTURE_DIR, `${name}.lst`);
  if (!existsSync(lst) || LISTING_GAPS.has(name)) continue;
  test(`fixture ${name} listing matches nasm -l`, () => {
    const { result } = assembleFixture(name);
    const expected = readFileSync(lst, 'utf8');
    if (WARNING_GAPS.has(name)) assert.equal(stripListingWarnings(result.listing), stripListingWarnings(expected));
    else assert.equal(result.listing, expected);
  });
}

test('a mismatch report names the offset, the source line and both byte runs', () => {
  const { source, result } = assembleFixture('hello16');
  const corrupted = new Uint8Array(result.bytes);
  corrupted[4] ^= 0xff; // inside `call puts` (line 7)
  const report = diffReport('hello16', source, result, corrupted);
  assert.match(report, /hello16: output differs from nasm at offset 0x4 \(address 0x7c04\)/);
  assert.match(report, /hello16\.asm:7: call puts/);
  assert.match(report, /expected: e8 /);
  assert.match(report, /actual: {3}e8 /);
  assert.equal(diffReport('hello16', source, result, result.bytes), '');
});
