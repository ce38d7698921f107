import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseLaunchConfig, parseAddress, LaunchError, DEFAULT_MAX_INSTRUCTIONS, LAUNCH_ATTRIBUTES, launchWarnings } from '../../src/debug/launchConfig';

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

describe('VM launch attributes', () => {
  test('vm, technique, vcpus, paging, breakOnExits and console are kept as given', () => {
    const c = parseLaunchConfig({
      program: 'g.asm',
      vm: { vcpus: 2 },
      technique: 'vtx',
      vcpus: 3,
      paging: 'shadow',
      breakOnExits: [30, 'CPUID', 'any'],
      console: { traceExits: true },
    });
    assert.deepEqual(c.vm, { vcpus: 2 });
    assert.equal(c.technique, 'vtx');
    assert.equal(c.vcpus, 3);
    assert.equal(c.paging, 'shadow');
    assert.deepEqual(c.breakOnExits, [30, 'CPUID', 'any']);
    assert.deepEqual(c.console, { output: true, traceExits: true });
    assert.equal(parseLaunchConfig({ program: 'g.asm', vm: 'vm.json' }).vm, 'vm.json');
    assert.equal(parseLaunchConfig({ program: 'g.asm', mode: 'flat32' }).modeGiven, true);
  });

  test('each malformed VM attribute is rejected by name', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ vm: 3 }, /^'vm' must be/],
      [{ vm: [] }, /^'vm' must be/],
      [{ vm: '' }, /^'vm' must be/],
      [{ technique: 'vmx' }, /^'technique' must be one of "vtx", "trap-and-emulate", "binary-translation", "paravirt"/],
      [{ vcpus: 9 }, /^'vcpus' must be an integer from 1 to 8/],
      [{ vcpus: 1.5 }, /^'vcpus'/],
      [{ paging: 'none' }, /^'paging' must be "ept" or "shadow"/],
      [{ breakOnExits: 30 }, /^'breakOnExits' must be an array/],
      [{ breakOnExits: [-1] }, /^'breakOnExits' entries/],
      [{ breakOnExits: ['two words'] }, /^'breakOnExits' entries/],
      [{ console: true }, /^'console' must be an object/],
      [{ console: { colour: true } }, /^'console\.colour' is not a console option/],
      [{ console: { traceExits: 1 } }, /^'console\.traceExits' must be true or false/],
      [{ bare: true }, /^'bare': the debugger runs guests under the VMM only/],
    ];
    for (const [extra, message] of bad) {
      const args = { program: 'g.asm', ...extra };
      assert.throws(() => parseLaunchConfig(args), (e: unknown) => e instanceof LaunchError && message.test(e.message), JSON.stringify(args));
    }
  });

  test('LAUNCH_ATTRIBUTES lists every attribute parseLaunchConfig reads, with a type and a description', () => {
    const names = LAUNCH_ATTRIBUTES.map((a) => a.name);
    for (const n of ['program', 'vm', 'stopOnEntry', 'mode', 'org', 'rom', 'maxInstructions', 'technique', 'vcpus', 'paging', 'breakOnExits', 'console']) assert.ok(names.includes(n), n);
    assert.equal(new Set(names).size, names.length);
    for (const a of LAUNCH_ATTRIBUTES) {
      assert.ok(a.description.length > 10, a.name);
      assert.ok(typeof a.type === 'string' || a.type.length > 0, a.name);
    }
    assert.deepEqual(LAUNCH_ATTRIBUTES.find((a) => a.name === 'paging')?.enum, ['ept', 'shadow']);
    assert.equal(LAUNCH_ATTRIBUTES.find((a) => a.name === 'program')?.required, true);
    // Every enum value is accepted, and the defaults parse.
    for (const a of LAUNCH_ATTRIBUTES) {
      for (const v of a.enum ?? []) assert.doesNotThrow(() => parseLaunchConfig({ program: 'g.asm', [a.name]: v }), `${a.name}=${v}`);
      if (a.default !== undefined && a.name !== 'program') assert.doesNotThrow(() => parseLaunchConfig({ program: 'g.asm', [a.name]: a.default }), a.name);
    }
  });
});

describe('launchWarnings', () => {
  test('an unknown attribute is named with the closest known one; VS Code\'s own are not', () => {
    assert.deepEqual(launchWarnings({ program: 'g.asm', type: 'hyperstep', request: 'launch', name: 'x', __sessionId: 'a', noDebug: true }), []);
    const w = launchWarnings({ program: 'g.asm', stopOnentry: true, zzzzzzzzzzzz: 1 });
    assert.equal(w.length, 2);
    assert.match(w[0], /^Launch attribute 'stopOnentry' is not one Hyperstep knows; it is ignored\. Did you mean 'stopOnEntry'\?$/);
    assert.doesNotMatch(w[1], /Did you mean/);
  });
});
