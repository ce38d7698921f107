// The "Get started with Hyperstep" walkthrough's progress: steps done in the
// debugger complete on context keys that a debug adapter tracker sets from a
// Hyperstep session's traffic: a stop at a VM exit, and reading the VMCS (its
// scope expanded, or `vmcs …` evaluated). Driven here by a real session.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryFileAccessor } from '../../src/debug/fileAccessor';
import { HyperstepSession } from '../../src/debug/session';
import { READ_VMCS_CONTEXT, STOPPED_AT_EXIT_CONTEXT, WalkthroughProgress } from '../../src/extension/walkthrough';
import { DapClient } from './web/harness';
import { REPO } from './web/host';
import { fakeVscode } from './fakeVscode';

const dir = join(REPO, 'examples', 'cpuid-hlt-io-msr');
const files = { '/w/guest.asm': readFileSync(join(dir, 'guest.asm'), 'utf8'), '/w/vm.json': readFileSync(join(dir, 'vm.json'), 'utf8') };

/** A session of the example with the tracker's progress fed from both directions; stopped at the first I/O exit when `filters` says so. */
async function session(filters: string[], stopOnEntry = false) {
  const set: string[] = [];
  const progress = new WalkthroughProgress((c) => set.push(c));
  const s = new HyperstepSession(memoryFileAccessor(files));
  const dap = new DapClient(s, (direction, m) => (direction === 'request' ? progress.toAdapter(m) : progress.fromAdapter(m)));
  await dap.request('initialize', { adapterID: 'hyperstep', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true });
  const launched = dap.request('launch', { program: '/w/guest.asm', vm: 'vm.json', stopOnEntry });
  await dap.event('initialized');
  await dap.request('setExceptionBreakpoints', { filters });
  await dap.request('configurationDone');
  await launched;
  const stopped = await dap.event('stopped');
  return { set, dap, s, stopped };
}

test('stopping on entry completes nothing; a stop at a VM exit sets the exit context once; expanding the VMCS sets the VMCS context', async () => {
  const entry = await session([], true);
  assert.equal(entry.stopped.body?.['reason'], 'entry');
  assert.deepEqual(entry.set, []);
  entry.s.dispose();

  const { set, dap, s, stopped } = await session(['exit-30']);
  assert.equal(stopped.body?.['reason'], 'exception');
  assert.deepEqual(set, [STOPPED_AT_EXIT_CONTEXT]);
  const frames = (await dap.request('stackTrace', { threadId: 1 })).body?.['stackFrames'] as { id: number }[];
  const scopes = (await dap.request('scopes', { frameId: frames[0]?.id })).body?.['scopes'] as { name: string; variablesReference: number }[];
  const registers = scopes.find((x) => x.name === 'Registers');
  await dap.request('variables', { variablesReference: registers?.variablesReference });
  assert.deepEqual(set, [STOPPED_AT_EXIT_CONTEXT], 'the registers are not the VMCS');
  await dap.request('variables', { variablesReference: scopes.find((x) => x.name === 'VMCS')?.variablesReference });
  assert.deepEqual(set, [STOPPED_AT_EXIT_CONTEXT, READ_VMCS_CONTEXT]);
  await dap.request('continue', { threadId: 1 });
  await dap.event('stopped');
  assert.deepEqual(set, [STOPPED_AT_EXIT_CONTEXT, READ_VMCS_CONTEXT], 'each context is set once');
  s.dispose();
});

test('evaluating `vmcs FIELD` in the debug console reads the VMCS too', async () => {
  const { set, dap, s } = await session(['exit-10']);
  await dap.request('evaluate', { expression: 'eax', context: 'repl' });
  assert.deepEqual(set, [STOPPED_AT_EXIT_CONTEXT]);
  await dap.request('evaluate', { expression: 'vmcs VM_EXIT_REASON', context: 'repl' });
  assert.deepEqual(set, [STOPPED_AT_EXIT_CONTEXT, READ_VMCS_CONTEXT]);
  s.dispose();
});

test('activation registers the tracker for hyperstep sessions; it sets the contexts with setContext', async () => {
  const { registerHyperstep } = await import('../../src/extension/registration');
  const fake = fakeVscode();
  const subscriptions: { dispose(): unknown }[] = [];
  registerHyperstep(fake.api, { subscriptions });
  const tracker = fake.state.trackerFactories.get('hyperstep')?.createDebugAdapterTracker() as { onDidSendMessage(m: unknown): void; onWillReceiveMessage(m: unknown): void };
  tracker.onDidSendMessage({ type: 'event', event: 'stopped', body: { reason: 'breakpoint' } });
  tracker.onDidSendMessage({ type: 'event', event: 'stopped', body: { reason: 'exception', description: 'VM exit 10 CPUID' } });
  tracker.onWillReceiveMessage({ type: 'request', command: 'evaluate', arguments: { expression: '  VMCS GUEST_RIP' } });
  assert.deepEqual(fake.state.executed.filter((e) => e.command === 'setContext').map((e) => e.args), [[STOPPED_AT_EXIT_CONTEXT, true], [READ_VMCS_CONTEXT, true]]);
  for (const s of subscriptions) s.dispose();
  assert.equal(fake.state.trackerFactories.size, 0);
});
