// The example guests the extension ships (src/extension/examples.ts): the
// table matches the examples/ folder, every launch configuration it gives
// runs its guest to the end in the debug session with the output the golden
// trace records, and the commands copy an example into a workspace, add its
// launches, start them and compare EPT with shadow paging on it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, EXAMPLES_FOLDER, exampleById, exampleConfiguration, exampleLaunch, launchName } from '../../src/extension/examples';
import { exampleOverrides } from '../../src/extension/exampleCommands';
import { comparePaging, formatPagingMarkdown } from '../../src/extension/pagingCompare';
import { launchConfigurationProblem } from '../../src/extension/launchValidation';
import { memoryFileAccessor } from '../../src/debug/fileAccessor';
import { HyperstepSession } from '../../src/debug/session';
import type * as vscodeApi from 'vscode';
import { fakeVscode, FakeUri } from './fakeVscode';
import { DapClient } from './web/harness';
import { REPO } from './web/host';

const EXAMPLES_DIR = join(REPO, 'examples');

/** The example's files as a workspace would hold them after copying: /w/hyperstep-examples/<id>/<file>. */
function copiedFiles(ids: string[] = EXAMPLES.map((e) => e.id), base = `/w/${EXAMPLES_FOLDER}`): Record<string, string> {
  const files: Record<string, string> = {};
  for (const id of ids) for (const f of exampleById(id)?.files ?? []) files[`${base}/${id}/${f}`] = readFileSync(join(EXAMPLES_DIR, id, f), 'utf8');
  return files;
}

/** The extension's own copy of the examples, under /extension/examples. */
function extensionFiles(): Record<string, string> {
  return copiedFiles(undefined, '/extension/examples');
}

test('the table lists every example folder and every file in it but Node scripts; each opens a file it copies and runs files it has', () => {
  const folders = readdirSync(EXAMPLES_DIR).filter((n) => statSync(join(EXAMPLES_DIR, n)).isDirectory()).sort();
  assert.deepEqual(EXAMPLES.map((e) => e.id).sort(), folders);
  for (const e of EXAMPLES) {
    const onDisk = readdirSync(join(EXAMPLES_DIR, e.id)).filter((f) => !f.endsWith('.ts')).sort();
    assert.deepEqual([...e.files].sort(), onDisk, e.id);
    assert.ok(e.files.includes(e.open), `${e.id} opens ${e.open}`);
    assert.ok(e.launches.length > 0);
    assert.equal(new Set(e.launches.map((l) => l.label)).size, e.launches.length, `${e.id}: launch labels are unique`);
    for (const l of e.launches) {
      assert.ok(e.files.includes(l.program), `${e.id}: ${l.program}`);
      if (l.vm !== undefined) assert.ok(e.files.includes(l.vm), `${e.id}: ${l.vm}`);
    }
  }
  assert.equal(new Set(EXAMPLES.flatMap((e) => e.launches.map((l) => launchName(e, l)))).size, EXAMPLES.flatMap((e) => e.launches).length, 'launch names are unique');
});

/** Runs one launch through the debug session without debugging; the guest console and the adapter's error output. */
async function runLaunch(config: Record<string, unknown>, files: Record<string, string>): Promise<{ stdout: string; stderr: string; console: string }> {
  const session = new HyperstepSession(memoryFileAccessor(files));
  const dap = new DapClient(session);
  await dap.request('initialize', { adapterID: 'hyperstep', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true });
  const launched = dap.request('launch', { ...config, noDebug: true, stopOnEntry: false });
  await dap.event('initialized');
  await dap.request('configurationDone');
  await launched;
  await dap.event('terminated');
  session.dispose();
  return { stdout: dap.output('stdout'), stderr: dap.output('stderr'), console: dap.output('console') };
}

for (const example of EXAMPLES) {
  for (const launch of example.launches) {
    test(`${launchName(example, launch)} is a valid launch that runs the guest to its end`, { timeout: 120_000 }, async () => {
      const config = exampleConfiguration(example, launch, `/w/${EXAMPLES_FOLDER}/${example.id}`);
      assert.equal(launchConfigurationProblem(config), undefined);
      const out = await runLaunch(config, copiedFiles([example.id]));
      // A guest may end by shutting down with a code of its own (timer-interrupt counts its ticks
      // into it); the session reports any non-zero code on stderr. Nothing else may be there.
      const ends = /^Guest stopped \(shutdown with code (\d+)\)/;
      const errors = out.stderr.split('\n').filter((l) => l !== '' && !ends.test(l));
      assert.deepEqual(errors, [], `${launchName(example, launch)} wrote errors:\n${out.stderr}\n${out.console}`);
      // The golden trace of the example's main configuration records what the guest prints and how it stops.
      const golden = join(EXAMPLES_DIR, example.id, 'expected-exits.txt');
      if (existsSync(golden) && launch === example.launches[0]) {
        const lines = readFileSync(golden, 'utf8').split('\n');
        const printed = lines.find((l) => l.startsWith('console '));
        assert.ok(printed !== undefined);
        assert.equal(out.stdout, JSON.parse(printed.slice('console '.length)) as string);
        const code = /^stop shutdown code=(\d+)/.exec(lines.find((l) => l.startsWith('stop ')) ?? '')?.[1];
        assert.equal(ends.exec(out.stderr)?.[1], code === '0' ? undefined : code, 'the session ends the way the golden trace does');
      }
    });
  }
}

test('walkthrough arguments are read strictly: unknown or mistyped overrides are dropped', () => {
  assert.deepEqual(exampleOverrides({ noDebug: true, breakOnExits: ['IO_INSTRUCTION', 10], stopOnEntry: false, other: 1 }), { noDebug: true, breakOnExits: ['IO_INSTRUCTION', 10], stopOnEntry: false });
  assert.deepEqual(exampleOverrides({ noDebug: 'yes', breakOnExits: [{}] }), {});
  assert.deepEqual(exampleOverrides(null), {});
  assert.equal(exampleLaunch(exampleById('paging-ept-vs-shadow') ?? EXAMPLES[0]!, 'Shadow Paging')?.vm, 'shadow.vm.json');
});

/** A fake editor with one workspace folder /w and the extension at /extension. */
async function activated(options: { folders?: boolean } = {}) {
  const { registerHyperstep } = await import('../../src/extension/registration');
  const fake = fakeVscode(extensionFiles());
  fake.state.workspaceFolders = options.folders === false ? [] : [{ name: 'w', index: 0, uri: FakeUri.file('/w') }];
  const subscriptions: { dispose(): unknown }[] = [];
  registerHyperstep(fake.api, { subscriptions, extensionUri: FakeUri.file('/extension') as unknown as vscodeApi.Uri });
  const run = (command: string, ...args: unknown[]): Promise<unknown> => {
    const f = fake.state.commands.get(command);
    if (f === undefined) throw new Error(`${command} is not registered`);
    return Promise.resolve(f(...args));
  };
  return { fake, run, dispose: () => subscriptions.forEach((s) => s.dispose()) };
}

const text = (bytes: Uint8Array | undefined): string => new TextDecoder().decode(bytes);

test('Open Example Guest copies the example into hyperstep-examples/, adds its launches once, keeps edited files and opens it', async () => {
  const { fake, run, dispose } = await activated();
  const dir = `/w/${EXAMPLES_FOLDER}/paging-ept-vs-shadow`;
  fake.state.written.set(`${dir}/guest.asm`, new TextEncoder().encode('; my edits\n'));
  const copy = (await run('hyperstep.openExample', 'paging-ept-vs-shadow')) as FakeUri;
  assert.equal(copy.fsPath, dir);
  for (const f of ['README.md', 'vm.json', 'shadow.vm.json', 'expected-exits.txt']) {
    assert.equal(text(fake.state.written.get(`${dir}/${f}`)), readFileSync(join(EXAMPLES_DIR, 'paging-ept-vs-shadow', f), 'utf8'), f);
  }
  assert.equal(text(fake.state.written.get(`${dir}/guest.asm`)), '; my edits\n', 'a file already there is not overwritten');
  const launches = fake.state.launch.get('/w') ?? [];
  assert.deepEqual(launches.map((c) => c['name']), ['Hyperstep: paging-ept-vs-shadow (EPT)', 'Hyperstep: paging-ept-vs-shadow (shadow paging)']);
  assert.equal(launches[1]?.['program'], '${workspaceFolder}/hyperstep-examples/paging-ept-vs-shadow/guest.asm');
  assert.equal(launches[1]?.['vm'], 'shadow.vm.json');
  assert.equal(fake.state.shown.at(-1)?.document.fileName, `${dir}/guest.asm`);
  await run('hyperstep.openExample', 'paging-ept-vs-shadow');
  assert.equal(fake.state.launch.get('/w')?.length, 2, 'opening again adds no launch twice');
  await run('hyperstep.openExample', 'no-such-example');
  assert.match(fake.state.errors.at(-1) ?? '', /no Hyperstep example "no-such-example"/);
  dispose();
});

test('without an argument it asks which example; with no folder open it copies into a chosen folder with its own launch.json and opens that', async () => {
  const { fake, run, dispose } = await activated({ folders: false });
  fake.state.quickPick = (items) => items.find((i) => i.label.startsWith('CPUID'));
  fake.state.openDialog = [FakeUri.file('/home/me/labs')];
  const copy = (await run('hyperstep.openExample')) as FakeUri;
  assert.equal(copy.fsPath, '/home/me/labs/cpuid-hlt-io-msr');
  assert.ok(fake.state.written.has('/home/me/labs/cpuid-hlt-io-msr/guest.asm'));
  const launchJson = JSON.parse(text(fake.state.written.get('/home/me/labs/cpuid-hlt-io-msr/.vscode/launch.json'))) as { configurations: Record<string, unknown>[] };
  assert.equal(launchJson.configurations[0]?.['program'], '${workspaceFolder}/guest.asm');
  assert.equal(launchJson.configurations[0]?.['vm'], 'vm.json');
  assert.deepEqual(fake.state.executed.at(-1), { command: 'vscode.openFolder', args: [copy] });
  fake.state.openDialog = undefined;
  assert.equal(await run('hyperstep.openExample', 'exceptions'), undefined, 'cancelling the folder choice copies nothing');
  const written = fake.state.written.size;
  fake.state.quickPick = () => undefined;
  assert.equal(await run('hyperstep.openExample'), undefined, 'dismissing the example list copies nothing');
  assert.equal(await run('hyperstep.debugExample'), false, 'nor does Debug Example Guest start anything');
  assert.equal(fake.state.written.size, written);
  dispose();
});

test('Debug Example Guest starts the chosen launch of the copy, with the walkthrough\'s overrides, copying the example first when needed', async () => {
  const { fake, run, dispose } = await activated();
  assert.equal(await run('hyperstep.debugExample', 'paging-ept-vs-shadow', 'shadow paging', { noDebug: true }), true);
  const started = fake.state.started.at(-1);
  assert.deepEqual(started?.config, {
    type: 'hyperstep',
    request: 'launch',
    name: 'Hyperstep: paging-ept-vs-shadow (shadow paging)',
    program: `/w/${EXAMPLES_FOLDER}/paging-ept-vs-shadow/guest.asm`,
    vm: 'shadow.vm.json',
    mode: 'flat32',
    stopOnEntry: false,
    noDebug: true,
  });
  assert.deepEqual(started?.options, { noDebug: true });
  assert.equal(launchConfigurationProblem(started?.config ?? {}), undefined);
  await run('hyperstep.debugExample', 'cpuid-hlt-io-msr', 'VT-x', { breakOnExits: ['IO_INSTRUCTION'], stopOnEntry: false });
  assert.deepEqual(fake.state.started.at(-1)?.config['breakOnExits'], ['IO_INSTRUCTION']);
  assert.equal(fake.state.started.at(-1)?.config['stopOnEntry'], false);
  assert.equal(await run('hyperstep.debugExample', 'cpuid-hlt-io-msr', 'no such launch'), false);
  assert.match(fake.state.errors.at(-1) ?? '', /has no launch "no such launch"/);
  dispose();
});

test('a web extension\'s files are fetched over HTTP when no file system serves them', async () => {
  const { registerHyperstep } = await import('../../src/extension/registration');
  const fake = fakeVscode();
  fake.state.workspaceFolders = [{ name: 'w', index: 0, uri: FakeUri.file('/w') }];
  const subscriptions: { dispose(): unknown }[] = [];
  registerHyperstep(fake.api, { subscriptions, extensionUri: new FakeUri('https', 'https://cdn.example/hyperstep/extension') as unknown as vscodeApi.Uri });
  const fetched: string[] = [];
  const original = globalThis.fetch;
  globalThis.fetch = ((url: string) => {
    fetched.push(url);
    const file = url.replace('https://cdn.example/hyperstep/extension/examples/', '');
    return Promise.resolve(new Response(readFileSync(join(EXAMPLES_DIR, file))));
  }) as typeof fetch;
  try {
    await fake.state.commands.get('hyperstep.openExample')?.('timer-interrupt');
  } finally {
    globalThis.fetch = original;
  }
  assert.deepEqual(fetched.sort(), ['README.md', 'expected-exits.txt', 'guest.asm'].map((f) => `https://cdn.example/hyperstep/extension/examples/timer-interrupt/${f}`));
  assert.equal(text(fake.state.written.get(`/w/${EXAMPLES_FOLDER}/timer-interrupt/guest.asm`)), readFileSync(join(EXAMPLES_DIR, 'timer-interrupt', 'guest.asm'), 'utf8'));
  for (const s of subscriptions) s.dispose();
});

test('EPT against shadow paging on paging-ept-vs-shadow: the same output, 11 exits against 71, as the example README says', async () => {
  const files = copiedFiles(['paging-ept-vs-shadow']);
  const program = `/w/${EXAMPLES_FOLDER}/paging-ept-vs-shadow/guest.asm`;
  const progress: string[] = [];
  const c = await comparePaging(memoryFileAccessor(files), program, { vm: 'vm.json', progress: (m) => progress.push(m) });
  assert.ok(c !== undefined);
  assert.deepEqual(progress, ['EPT', 'shadow paging']);
  assert.equal(c.ept.console, '0000D133\n');
  assert.equal(c.shadow.console, c.ept.console);
  assert.equal(c.ept.stats.total, 11);
  assert.equal(c.shadow.stats.total, 71);
  assert.equal(c.shadow.stats.reasons.find((r) => r.reason === 0)?.count, 55, '55 of the shadow exits are #PF');
  assert.equal(c.ept.memory.shadowFills, 0);
  assert.ok(c.shadow.memory.shadowFills > 0);
  const md = formatPagingMarkdown(c, 'EPT vs. shadow paging: guest.asm');
  assert.match(md, /\| VM exits \| 11 \| 71 \|/);
  assert.match(md, /its console output is the same under both/);
  assert.match(md, /\| 0 EXCEPTION_NMI \| 0 \| 55 \|/);
  // Without a VM configuration and without a mode, a guest with org 0x1000 starts in flat32 mode, as hyperstep run
  // decides. (The default VM keeps CR3-load exiting on, which vm.json turns off; the two runs need not print the same
  // checksum then, and when they do not the preview says so.)
  const plain = await comparePaging(memoryFileAccessor(files), program);
  assert.ok(plain !== undefined && plain.ept.console.length > 0 && plain.shadow.console.length > 0);
  assert.equal(plain.ept.stop.reason, 'shutdown');
  if (plain.ept.console !== plain.shadow.console) assert.match(formatPagingMarkdown(plain, 't'), /console output differs/);
  assert.equal(await comparePaging(memoryFileAccessor(files), program, { cancelled: () => true }), undefined);
});

test('Compare EPT and Shadow Paging on an example id copies it, runs both and previews the table; on a bad guest it names the problem', async () => {
  const { fake, run, dispose } = await activated();
  assert.equal(await run('hyperstep.comparePaging', 'paging-ept-vs-shadow'), true);
  assert.match(fake.state.previews.at(-1) ?? '', /^# EPT vs\. shadow paging: guest\.asm/);
  assert.match(fake.state.previews.at(-1) ?? '', /\| VM exits \| 11 \| 71 \|/);
  assert.deepEqual(fake.state.executed.at(-1)?.command, 'markdown.showPreview');
  fake.state.written.set('/w/bad.asm', new TextEncoder().encode('bits 32\norg 0x1000\n  mov eax, nosuchlabel\n'));
  assert.equal(await run('hyperstep.comparePaging', FakeUri.file('/w/bad.asm')), false);
  assert.match(fake.state.errors.at(-1) ?? '', /^Compare EPT and shadow paging: .*bad\.asm:3/);
  assert.equal(await run('hyperstep.comparePaging', FakeUri.file('/w/notes.txt')), false);
  dispose();
});

test('in a virtual workspace a launch path that ${workspaceFolder} expanded to a bare path is read from the workspace folder', async () => {
  const { workspaceFileAccessor } = await import('../../src/extension/registration');
  const fake = fakeVscode();
  const folder = new FakeUri('vscode-vfs', '/owner/repo');
  fake.state.workspaceFolders = [{ name: 'repo', index: 0, uri: folder }];
  const served: string[] = [];
  // Only the virtual file system has the file; file:// reads fail as they do in a browser.
  (fake.api.workspace.fs as unknown as { readFile: (uri: FakeUri) => Promise<Uint8Array> }).readFile = (uri: FakeUri) => {
    served.push(`${uri.scheme}:${uri.fsPath}`);
    return uri.scheme === 'vscode-vfs' && uri.fsPath === '/owner/repo/guest.asm' ? Promise.resolve(new TextEncoder().encode('hlt\n')) : Promise.reject(new Error('FileNotFound'));
  };
  const files = workspaceFileAccessor(fake.api);
  assert.equal(text(await files.readFile('/owner/repo/guest.asm')), 'hlt\n');
  assert.deepEqual(served, ['file:/owner/repo/guest.asm', 'vscode-vfs:/owner/repo/guest.asm']);
  await assert.rejects(files.readFile('/owner/repo/missing.asm'), /FileNotFound/);
});
