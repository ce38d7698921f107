// The technique comparison (src/vmm/compare) on the example kernels: one row
// per technique in a fixed order, correctness judged against the bare
// machine, the figures each technique is known for, and the same table twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildKernel, EXPECTED_CONSOLE, TECHNIQUES_DIR } from '../../examples/techniques-kernels';
import { compareTechniques, firstDivergence, formatCompareMarkdown, formatCompareText, COMPARE_COLUMNS, type CompareResult } from '../../../src/vmm/compare/index';

const kernel = buildKernel('kernel.asm');
const pv = buildKernel('kernel-pv.asm');
const guest = { image: kernel.bytes, org: kernel.origin };
const pvGuest = { image: pv.bytes, org: pv.origin };

let cached: CompareResult | undefined;
const full = (): CompareResult => (cached ??= compareTechniques({ guest, pv: pvGuest }));
const row = (r: CompareResult, t: string) => {
  const found = r.rows.find((x) => x.technique === t);
  assert.ok(found, t);
  return found;
};

test('every technique gets a row, in the fixed order, with the native console as the reference', () => {
  const r = full();
  assert.deepEqual(r.rows.map((x) => x.technique), ['native', 'vtx-ept', 'vtx-shadow', 'trap-and-emulate', 'binary-translation', 'paravirt']);
  assert.equal(row(r, 'native').console, EXPECTED_CONSOLE);
  assert.equal(row(r, 'native').ratio, 1);
  for (const t of ['native', 'vtx-ept', 'vtx-shadow', 'binary-translation', 'paravirt']) {
    const x = row(r, t);
    assert.equal(x.correct, true, `${t}: ${x.stop.message}`);
    assert.equal(x.console, EXPECTED_CONSOLE, t);
    assert.equal(x.stop.reason, 'shutdown', t);
    assert.equal(x.divergence, undefined, t);
  }
});

test('trap-and-emulate is wrong: its output stops at line 3, the guest halts, the first hole is the critical section\'s popf', () => {
  const x = row(full(), 'trap-and-emulate');
  assert.equal(x.correct, false);
  assert.deepEqual(x.divergence, { line: 3, expected: 'kernel: tick 3, starting the user task in ring 3', got: '' });
  assert.equal(x.stop.reason, 'hlt');
  assert.equal(x.firstHole?.instruction, 'popf');
  assert.equal(x.holes, 199);
  assert.equal(x.eventsKind, 'traps');
  assert.deepEqual(x.byKind[0], { key: '#GP: cli', count: 100, cycles: 110_000 });
});

test('each technique shows what it is known for: exits under VT-x, #PF exits only with shadow paging, blocks under BT, hypercalls under PV', () => {
  const r = full();
  const ept = row(r, 'vtx-ept'), shadow = row(r, 'vtx-shadow'), bt = row(r, 'binary-translation'), para = row(r, 'paravirt');
  assert.equal(ept.eventsKind, 'exits');
  assert.equal(ept.events, 731);
  assert.equal(shadow.events, 743);
  assert.ok(!ept.byKind.some((k) => k.key === '0 EXCEPTION_NMI'), 'no #PF exits with EPT');
  assert.equal(shadow.byKind.find((k) => k.key === '0 EXCEPTION_NMI')?.count, 12);
  assert.equal(bt.holes, 0);
  assert.equal(bt.translatedBlocks, 69);
  assert.equal(bt.callouts, 1051);
  assert.ok(!bt.byKind.some((k) => k.key.startsWith('#GP')), 'the translator leaves nothing to trap');
  assert.equal(para.hypercalls, 281);
  assert.deepEqual(para.hypercallsByName.slice(0, 2).map((h) => [h.key, h.count]), [['IRQ_DISABLE', 101], ['IRQ_RESTORE', 101]]);
  // Cycles: one per instruction plus the VMM's; the ratio is to native.
  for (const x of r.rows) assert.equal(x.cycles, x.instructions + x.vmmCycles, x.technique);
  const native = row(r, 'native').cycles;
  for (const x of r.rows) assert.equal(x.ratio, Math.round((x.cycles / native) * 1000) / 1000, x.technique);
  assert.ok(ept.ratio! > bt.ratio! && bt.ratio! > para.ratio! && para.ratio! > 1, `VT-x ${ept.ratio} > BT ${bt.ratio} > PV ${para.ratio} > native`);
  assert.ok(shadow.cycles > ept.cycles, 'shadow paging costs more than EPT here');
});

test('the comparison is deterministic: the same table twice', () => {
  const again = compareTechniques({ guest, pv: pvGuest });
  assert.deepEqual(again, full());
  assert.equal(formatCompareText(again).join('\n'), formatCompareText(full()).join('\n'));
});

test('without the paravirtualized build the paravirt row is skipped with the reason; a subset runs only what is asked', () => {
  const r = compareTechniques({ guest, techniques: ['binary-translation', 'paravirt'] });
  assert.deepEqual(r.rows.map((x) => x.technique), ['binary-translation', 'paravirt']);
  assert.match(r.rows[1].skipped ?? '', /paravirtualized build/);
  assert.equal(r.rows[1].ratio, null);
  // Correctness is still judged against native, which ran without a row of its own.
  assert.equal(r.rows[0].correct, true);
  assert.ok(r.rows[0].ratio !== null && r.rows[0].ratio > 1);
  assert.throws(() => compareTechniques({ guest, techniques: ['nope' as never] }), /unknown technique "nope"/);
  assert.throws(() => compareTechniques({ guest, maxInstructions: 0 }), /positive integer/);
});

test('the text and Markdown tables have every column and a line per row; details explain the wrong row', () => {
  const text = formatCompareText(full());
  for (const c of COMPARE_COLUMNS) assert.ok(text[0].includes(c), c);
  assert.match(text[4], /^trap-and-emulate\s+WRONG\s+hlt\s+297 traps\s+199/);
  assert.ok(text.some((l) => l.startsWith('trap-and-emulate: output differs from native at line 3')));
  assert.ok(text.some((l) => /first virtualization hole at 0x[0-9A-F]{8} `popf`/.test(l)));
  const md = formatCompareMarkdown(full(), 'kernel.asm');
  const tableLines = md.split('\n').filter((l) => l.startsWith('|'));
  assert.equal(tableLines.length, 2 + 6);
  assert.match(md, /\| binary translation \| correct \| shutdown \| 32 traps \| 0 \| 69 \|/);
});

test('firstDivergence: equal texts, a cut-short run, an extra line', () => {
  assert.equal(firstDivergence('a\nb\n', 'a\nb\n'), undefined);
  assert.deepEqual(firstDivergence('a\nb\n', 'a\n'), { line: 2, expected: 'b', got: '' });
  assert.deepEqual(firstDivergence('a\n', 'a\nx'), { line: 2, expected: '', got: 'x' });
  assert.deepEqual(firstDivergence('abc', 'abd'), { line: 1, expected: 'abc', got: 'abd' });
});

test('the table in examples/techniques/README.md is the one compare prints today', () => {
  const readme = readFileSync(join(TECHNIQUES_DIR, 'README.md'), 'utf8').split('\n');
  const start = readme.findIndex((l) => l.startsWith('technique  '));
  assert.ok(start > 0, 'the README shows the table');
  const text = formatCompareText(full());
  assert.deepEqual(readme.slice(start, start + 7), text.slice(0, 7), 'update the table in examples/techniques/README.md');
});
