// Launch configurations in the editor: bad values are refused before the
// session starts with a message naming the attribute; the dynamic "Debug
// this guest" configurations; the Run/Debug Guest commands.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchConfigurationProblem, schemaProblem } from '../../src/extension/launchValidation';
import { dynamicConfigurations, guestLaunchConfiguration } from '../../src/extension/configuration';
import { registerGuestCommands } from '../../src/extension/commands';
import { fakeVscode, FakeDocument, FakeUri } from './fakeVscode';

const base = { type: 'hyperstep', request: 'launch', name: 'G', program: '/w/boot.asm' };

test('each bad attribute value is reported by name', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ vcpus: 0 }, /'vcpus' must be from 1 to 8 \(got 0\)/],
    [{ vcpus: 2.5 }, /'vcpus' must be an integer/],
    [{ paging: 'nested' }, /'paging' must be one of "ept", "shadow" \(got "nested"\)/],
    [{ technique: 'vmx' }, /'technique' must be one of/],
    [{ mode: 'long' }, /'mode' must be one of "real", "flat32"/],
    [{ stopOnEntry: 'yes' }, /'stopOnEntry' must be a boolean/],
    [{ maxInstructions: 0 }, /'maxInstructions' must be at least 1/],
    [{ breakOnExits: 'IO_INSTRUCTION' }, /'breakOnExits' must be an array/],
    [{ breakOnExits: ['IO_INSTRUCTIO'] }, /'breakOnExits\[0\]' must be one of \d+ values \(got "IO_INSTRUCTIO"\)/],
    [{ breakOnExits: [30, 9999] }, /'breakOnExits\[1\]' must be one of/],
    [{ breakOnExits: [true] }, /'breakOnExits\[0\]' must be integer or string/],
    [{ console: { colour: true } }, /'console' has no property 'colour'/],
    [{ console: { traceExits: 'on' } }, /'console.traceExits' must be a boolean/],
    [{ vm: 5 }, /'vm' must be string or object/],
    [{ org: 'zz' }, /'org'/],
    [{ mode: 'flat32', org: '0x1_0000_0000' }, /'org' must be an address below 4 GiB/],
    [{ org: '0x1000' }, /'org' applies to "flat32" mode only/],
    [{ program: '' }, /no 'program'/],
  ];
  for (const [attrs, expected] of cases) {
    const problem = launchConfigurationProblem({ ...base, ...attrs });
    assert.match(problem ?? '(accepted)', expected, JSON.stringify(attrs));
  }
});

test('good configurations pass', () => {
  const good: Record<string, unknown>[] = [
    {},
    { vcpus: 2, paging: 'shadow', technique: 'vtx', breakOnExits: [30, 'CPUID', 'any'], console: { output: false, traceExits: true } },
    { mode: 'flat32', org: '0x100000', maxInstructions: 5000, stopOnEntry: false },
    { vm: '/w/vm.json' },
    { vm: { vcpus: 2, paging: 'ept' } },
    { noDebug: true, __configurationTarget: 6 },
  ];
  for (const attrs of good) assert.equal(launchConfigurationProblem({ ...base, ...attrs }), undefined, JSON.stringify(attrs));
});

test('schemaProblem: nested objects, patterns, arrays', () => {
  const schema = { type: 'object', additionalProperties: false, properties: { a: { type: 'array', items: { type: 'string', pattern: '^x' } } } };
  assert.equal(schemaProblem(schema, { a: ['x1', 'x2'] }, 'v'), undefined);
  assert.match(schemaProblem(schema, { a: ['x1', 'y'] }, 'v') ?? '', /'v\.a\[1\]' is not in the expected form/);
  assert.match(schemaProblem(schema, { b: 1 }, 'v') ?? '', /'v' has no property 'b'/);
});

test('the configuration provider refuses a bad value after variable substitution, naming the attribute', async () => {
  const { registerHyperstep } = await import('../../src/extension/registration');
  const fake = fakeVscode();
  registerHyperstep(fake.api, { subscriptions: [] });
  const provider = fake.state.configurationProviders.find((p) => p.trigger === 1)?.provider;
  assert.ok(provider);
  const resolve = provider['resolveDebugConfigurationWithSubstitutedVariables'] as (f: undefined, c: Record<string, unknown>) => unknown;
  assert.equal(resolve(undefined, { ...base, paging: 'nested' }), undefined);
  assert.deepEqual(fake.state.errors, [`Launch configuration "G": 'paging' must be one of "ept", "shadow" (got "nested").`]);
  const ok = { ...base, vcpus: 2 };
  assert.equal(resolve(undefined, ok), ok);
  assert.equal(fake.state.errors.length, 1);

  const dynamic = fake.state.configurationProviders.find((p) => p.trigger === 2)?.provider;
  assert.ok(dynamic);
  fake.open('/w/b.asm', 'hlt\n');
  fake.state.activeTextEditor = { document: fake.open('/w/a.asm', 'hlt\n') };
  const provided = (dynamic['provideDebugConfigurations'] as () => Record<string, unknown>[])();
  assert.deepEqual(provided.map((c) => c['name']), ['Debug a.asm', 'Debug b.asm']);
});

test('dynamic configurations: the open guest sources, active first, no include files or repeats', () => {
  const asm = (fileName: string) => ({ fileName, languageId: 'nasm' });
  const configs = dynamicConfigurations(asm('/w/k.asm'), [asm('/w/boot.asm'), asm('/w/k.asm'), asm('/w/defs.inc'), { fileName: '/w/notes.md', languageId: 'markdown' }]);
  assert.deepEqual(configs.map((c) => c['program']), ['/w/k.asm', '/w/boot.asm']);
  assert.deepEqual(configs[0], { type: 'hyperstep', name: 'Debug k.asm', request: 'launch', program: '/w/k.asm', stopOnEntry: true });
  assert.deepEqual(guestLaunchConfiguration('C:\\w\\boot.asm', true), {
    type: 'hyperstep', name: 'Run boot.asm', request: 'launch', program: 'C:\\w\\boot.asm', stopOnEntry: false, noDebug: true,
  });
  assert.equal(launchConfigurationProblem(configs[0] ?? {}), undefined);
});

test('Debug Guest / Run Guest start a session for the file (saving it first), or explain what to open', async () => {
  const fake = fakeVscode();
  registerGuestCommands(fake.api, []);
  const debug = fake.state.commands.get('hyperstep.debugGuest');
  const run = fake.state.commands.get('hyperstep.runGuest');
  assert.ok(debug && run);
  const doc = fake.open('/w/boot.asm', 'hlt\n');
  fake.edit(doc, 'cli\nhlt\n');
  assert.equal(await debug(doc.uri), true);
  assert.equal(doc.saved, 1);
  assert.deepEqual(fake.state.started[0]?.config, guestLaunchConfiguration('/w/boot.asm'));
  assert.deepEqual(fake.state.started[0]?.options, { noDebug: false });

  // From the command palette: the active editor's file.
  fake.state.activeTextEditor = { document: doc };
  assert.equal(await run(), true);
  assert.deepEqual(fake.state.started[1]?.config, guestLaunchConfiguration('/w/boot.asm', true));
  assert.deepEqual(fake.state.started[1]?.options, { noDebug: true });

  fake.state.activeTextEditor = { document: new FakeDocument('/w/readme.md', '', 'markdown') };
  assert.equal(await run(), false);
  assert.equal(await debug(FakeUri.file('/w/data.bin')), false);
  assert.equal(fake.state.started.length, 2);
  assert.match(fake.state.errors[0] ?? '', /Open a NASM \.asm file/);

  const untitled = fake.open('Untitled-1', 'hlt\n');
  untitled.isUntitled = true;
  assert.equal(await debug(untitled.uri), false);
  assert.match(fake.state.errors[fake.state.errors.length - 1] ?? '', /Save the guest source to a file first/);

  // A virtual workspace: the program goes by URI.
  const remote = fake.open('vscode-vfs://github/o/r/boot.asm', 'hlt\n');
  Object.defineProperty(remote, 'uri', { value: FakeUri.parse('vscode-vfs://github/o/r/boot.asm') });
  assert.equal(await debug(remote.uri), true);
  assert.equal(fake.state.started[2]?.config['program'], 'vscode-vfs://github/o/r/boot.asm');
});
