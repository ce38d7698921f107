// Every case of the native flags goldens (test/fixtures/cpu-conformance/
// flags-*.txt, made on a real x86 CPU by test/oracle-native/flags.c) replayed
// on the emulated CPU: registers compared in full, EFLAGS compared on the
// flags the SDM defines for that instruction and input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definedFlags, loadGoldens, STATUS, type GoldenForm, type Regs } from './flags-golden';
import { replay } from './flags-guest';

const hex = (v: number): string => (v >>> 0).toString(16);
const names = ['eax', 'ebx', 'ecx', 'edx'];

function mismatches(form: GoldenForm, mode: 'flat32' | 'real' = 'flat32'): string[] {
  // Real mode replays every fourth case: the point there is the decoding.
  const cases = mode === 'real' ? form.cases.filter((_, i) => i % 4 === 0) : form.cases;
  const { outputs, stop } = replay(form, mode, cases);
  const found: string[] = [];
  cases.forEach((c, i) => {
    const got = outputs[i];
    const diffs: string[] = [];
    for (let r = 0; r < 4; r++) {
      if (got[r] !== c.output[r]) diffs.push(`${names[r]} ${hex(c.output[r])} != ${hex(got[r])}`);
    }
    const mask = definedFlags(form, c.input);
    if ((got[4] & mask) !== (c.output[4] & mask)) {
      diffs.push(`flags ${hex(c.output[4] & STATUS)} != ${hex(got[4] & STATUS)} (compared ${hex(mask)})`);
    }
    if (diffs.length) found.push(`[${c.input.map(hex).join(' ')}] expected != got: ${diffs.join(', ')}`);
  });
  if (found.length) found.unshift(`guest stop: ${stop}`);
  return found;
}

const forms = loadGoldens();
const total = forms.reduce((n, f) => n + f.cases.length, 0);

test('the goldens hold enough cases', () => {
  assert.ok(forms.length >= 150, `${forms.length} forms`);
  assert.ok(total >= 20000, `${total} cases`);
});

test('the flag mask table follows the SDM on sample inputs', () => {
  const shl = forms.find((f) => f.text === 'shl al, cl');
  assert.ok(shl);
  const regs = (count: number): Regs => [0, 0, count, 0, 0];
  assert.equal(definedFlags(shl, regs(0)), STATUS);
  assert.equal(definedFlags(shl, regs(32)), STATUS, 'count is masked to 5 bits');
  assert.equal(definedFlags(shl, regs(1)), STATUS & ~0x10);
  assert.equal(definedFlags(shl, regs(8)), STATUS & ~0x10 & ~0x800 & ~0x1);
  const div = forms.find((f) => f.text === 'div ebx');
  assert.ok(div);
  assert.equal(definedFlags(div, regs(0)), 0);
});

for (const form of forms) {
  test(`${form.group}: ${form.text} (${form.cases.length} cases)`, () => {
    const bad = mismatches(form);
    const shown = bad.slice(0, 12).join('\n  ');
    assert.equal(bad.length, 0, `${bad.length - 1} of ${form.cases.length} cases differ:\n  ${shown}`);
  });
}

// The same goldens from a 16-bit code segment (real mode), where the
// operand-size prefix selects 32 bits instead of 16. (Memory forms use a
// 32-bit address, out of reach there.)
for (const form of forms.filter((f) => !f.text.includes('['))) {
  const name = `real mode: ${form.text}`;
  test(`${name} (${Math.ceil(form.cases.length / 4)} cases)`, () => {
    const bad = mismatches(form, 'real');
    const shown = bad.slice(0, 12).join('\n  ');
    assert.equal(bad.length, 0, `${bad.length - 1} cases differ:\n  ${shown}`);
  });
}
