// The expression language of conditions, logpoints and the debug console.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { compileExpr, evaluateExpr, interpolate, ExprError, type ExprContext } from '../../src/debug/expr';
import { hitConditionMet, isValidHitCondition } from '../../src/debug/runtime';

const memory = new Map<number, number>([
  [0x1000, 0x78],
  [0x1001, 0x56],
  [0x1002, 0x34],
  [0x1003, 0x12],
]);

const ctx = (exit = true): ExprContext => ({
  register: (n) => new Map([['eax', 0x10], ['ecx', 3], ['zf', 1], ['cf', 0], ['eip', 0x7c00]]).get(n),
  readMemory: (a, size) => {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) {
      const b = memory.get(a + i);
      if (b === undefined) throw new Error('not mapped');
      v = v * 256 + b;
    }
    return v;
  },
  vmcs: (f) => {
    if (f === 'VM_EXIT_REASON') return 30;
    throw new Error(`no VMCS field '${f}'`);
  },
  exitField: (n) => {
    const fields = new Map([['port', 0x3f8], ['write', 1], ['read', 0]]);
    if (!fields.has(n)) return undefined;
    if (!exit) throw new Error(`'${n}' needs a VM exit`);
    return fields.get(n);
  },
});

describe('expressions', () => {
  test('numbers in hex, NASM h suffix, binary and decimal; precedence as in C', () => {
    const cases: [string, number][] = [
      ['0x10 + 10', 26],
      ['10h', 16],
      ['0b101', 5],
      ['1 + 2 * 3', 7],
      ['(1 + 2) * 3', 9],
      ['1 << 4 | 1', 17],
      ['~0', 0xffffffff],
      ['!0 && !!5', 1],
      ['7 & 3 ^ 1', 2],
      ['5 > 3 == 1', 1],
      ['-1 + 2', 1],
      ['0xFFFFFFFF >> 28', 15],
      ['10 / 3', 3],
      ['10 % 3', 1],
    ];
    for (const [text, want] of cases) assert.equal(evaluateExpr(text, ctx()), want, text);
  });

  test('registers, flags, memory with sizes, VMCS fields and exit fields', () => {
    assert.equal(evaluateExpr('eax + ecx', ctx()), 0x13);
    assert.equal(evaluateExpr('zf && !cf', ctx()), 1);
    assert.equal(evaluateExpr('[0x1000]', ctx()), 0x12345678);
    assert.equal(evaluateExpr('dword [0x1000]', ctx()), 0x12345678);
    assert.equal(evaluateExpr('word [0x1000]', ctx()), 0x5678);
    assert.equal(evaluateExpr('byte [eax + 0xFF0 + 3]', ctx()), 0x12);
    assert.equal(evaluateExpr('vmcs.VM_EXIT_REASON == 30', ctx()), 1);
    assert.equal(evaluateExpr('port == 0x3f8 && write', ctx()), 1);
    assert.equal(evaluateExpr('EAX', ctx()), 0x10);
  });

  test('short-circuit: the right side is not evaluated when the left decides', () => {
    assert.equal(evaluateExpr('0 && [0x9999]', ctx()), 0);
    assert.equal(evaluateExpr('1 || [0x9999]', ctx()), 1);
  });

  test('errors say what and where (column)', () => {
    const bad: [string, RegExp][] = [
      ['', /empty expression \(column 1\)/],
      ['1 +', /expected a value before the end \(column 4\)/],
      ['(1', /expected '\)' before the end \(column 3\)/],
      ['1 $ 2', /unknown name '\$' \(column 3\)|unexpected/],
      ['eax # 1', /unexpected character '#' \(column 5\)/],
      ['12xyz', /bad number/],
      ['dword 5', /expected '\[' after 'dword' \(column 7\)/],
    ];
    for (const [text, re] of bad) assert.throws(() => evaluateExpr(text, ctx()), (e: unknown) => e instanceof ExprError && re.test(e.message), text);
    assert.throws(() => evaluateExpr('foo + 1', ctx()), /unknown name 'foo' \(column 1\)/);
    assert.throws(() => evaluateExpr('[0x5000]', ctx()), /cannot read memory at 0x5000/);
    assert.throws(() => evaluateExpr('vmcs.NOPE', ctx()), /no VMCS field 'NOPE'/);
    assert.throws(() => evaluateExpr('port == 1', ctx(false)), /needs a VM exit \(column 1\)/);
    assert.throws(() => evaluateExpr('1 / 0', ctx()), /division by zero/);
  });

  test('no host code runs: names that exist in JavaScript are just unknown names', () => {
    for (const text of ['constructor', 'process', 'globalThis', '__proto__', 'this']) {
      assert.throws(() => evaluateExpr(text, ctx()), /unknown name/, text);
    }
  });

  test('compiled once, evaluated many times', () => {
    const e = compileExpr('ecx * 2');
    assert.equal(e.evaluate(ctx()), 6);
    assert.equal(e.text, 'ecx * 2');
  });

  test('logpoint interpolation: {expr} in hex, {{ }} literal, errors inline', () => {
    assert.equal(interpolate('eax={eax} [{{x}}] m={byte [0x1003]}', ctx()), 'eax=0x10 [{x}] m=0x12');
    assert.match(interpolate('bad={nope}', ctx()), /^bad=<unknown name 'nope'/);
    assert.equal(interpolate('open {eax', ctx()), 'open {eax');
  });

  test('hit conditions', () => {
    assert.equal(hitConditionMet('3', 2), false);
    assert.equal(hitConditionMet('3', 3), true);
    assert.equal(hitConditionMet('3', 4), true);
    assert.equal(hitConditionMet('== 3', 4), false);
    assert.equal(hitConditionMet('> 3', 4), true);
    assert.equal(hitConditionMet('% 2', 4), true);
    assert.equal(hitConditionMet('% 2', 3), false);
    assert.equal(isValidHitCondition('>= 2'), true);
    assert.equal(isValidHitCondition('often'), false);
  });
});
