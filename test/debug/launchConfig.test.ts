import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseLaunchConfig, parseAddress, LaunchError, DEFAULT_MAX_INSTRUCTIONS } from '../../src/debug/launchConfig';

describe('parseLaunchConfig', () => {
  test('defaults: real mode, 100,000,000 instructions, no stop on entry', () => {
    const c = parseLaunchConfig({ program: '/g/boot.asm' });
    assert.deepEqual(c, { program: '/g/boot.asm', mode: 'real', org: undefined, maxInstructions: DEFAULT_MAX_INSTRUCTIONS, stopOnEntry: false });
    assert.equal(DEFAULT_MAX_INSTRUCTIONS, 100_000_000);
  });

  test('flat32 with an org given as a string or a number; rom mode', () => {
    assert.equal(parseLaunchConfig({ program: 'k.asm', mode: 'flat32', org: '0x100000' }).org, 0x100000);
    assert.equal(parseLaunchConfig({ program: 'k.asm', mode: 'flat32', org: 2097152 }).org, 0x200000);
    assert.equal(parseLaunchConfig({ program: 'bios.bin', rom: true }).mode, 'rom');
    assert.equal(parseLaunchConfig({ program: 'bios.bin', rom: false }).mode, 'real');
    assert.equal(parseLaunchConfig({ program: 'a.asm', stopOnEntry: true, maxInstructions: 5 }).maxInstructions, 5);
  });

  test('rejects each malformed attribute by name', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{}, /no 'program'/],
      [{ program: '  ' }, /no 'program'/],
      [{ program: 42 }, /no 'program'/],
      [{ program: 'a.asm', mode: 'long' }, /'mode' must be "real" or "flat32"/],
      [{ program: 'a.asm', mode: 'flat32', org: 'nowhere' }, /'org' must be an address/],
      [{ program: 'a.asm', mode: 'flat32', org: 0x1_0000_0000 }, /'org' must be an address/],
      [{ program: 'a.asm', org: '0x1000' }, /'org' applies to "flat32" mode only/],
      [{ program: 'a.asm', maxInstructions: 0 }, /'maxInstructions' must be a positive integer/],
      [{ program: 'a.asm', maxInstructions: 1.5 }, /'maxInstructions'/],
      [{ program: 'a.asm', maxInstructions: '10' }, /'maxInstructions'/],
      [{ program: 'a.asm', stopOnEntry: 'yes' }, /'stopOnEntry' must be true or false/],
      [{ program: 'a.asm', rom: 1 }, /'rom' must be true or false/],
      [{ program: 'a.asm', rom: true, mode: 'flat32' }, /cannot be combined/],
    ];
    for (const [args, message] of bad) {
      assert.throws(() => parseLaunchConfig(args), (e: unknown) => e instanceof LaunchError && message.test(e.message), JSON.stringify(args));
    }
  });
});

describe('parseAddress', () => {
  test('NASM-style and plain forms', () => {
    assert.equal(parseAddress('0x7C00'), 0x7c00);
    assert.equal(parseAddress('7C00h'), 0x7c00);
    assert.equal(parseAddress('0b1000'), 8);
    assert.equal(parseAddress('1_048_576'), 0x100000);
    assert.equal(parseAddress(' 4096 '), 4096);
    assert.equal(parseAddress(0xffffffff), 0xffffffff);
  });

  test('rejects what is not an address below 4 GiB', () => {
    for (const v of ['', 'x', '0x', '-1', '1.5', 'C00h', '0x100000000', -1, 1.5, 2 ** 32, null, true, {}]) {
      assert.equal(parseAddress(v), undefined, JSON.stringify(v));
    }
  });
});
