// Activation against a stand-in for the vscode API: what gets registered,
// how configurations are resolved, and a session created by the factory
// driven inline, the way VS Code drives it (handleMessage/onDidSendMessage).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { registerHyperstep, toUri } from '../../src/extension/registration';
import { HyperstepSession } from '../../src/debug/session';
import { fakeVscode, FakeDocument, FakeInlineImplementation, FakeUri } from '../extension/fakeVscode';

interface Provider {
  resolveDebugConfiguration(folder: undefined, config: Record<string, unknown>): Record<string, unknown> | undefined | null;
}

function activate(files: Record<string, string> = {}) {
  const fake = fakeVscode(files);
  const subscriptions: { dispose(): unknown }[] = [];
  registerHyperstep(fake.api, { subscriptions });
  const provider = fake.state.configurationProviders.find((p) => p.type === 'hyperstep' && p.trigger === 1)?.provider as Provider | undefined;
  return { ...fake, subscriptions, provider };
}

test('activation registers configuration providers (initial and dynamic) and one inline adapter factory for "hyperstep"', () => {
  const { state, subscriptions } = activate();
  assert.deepEqual(state.configurationProviders.map((p) => `${p.type}:${p.trigger}`), ['hyperstep:1', 'hyperstep:2']);
  assert.deepEqual([...state.factories.keys()], ['hyperstep']);
  assert.ok(subscriptions.length > 3);
  const descriptor = state.factories.get('hyperstep')?.createDebugAdapterDescriptor();
  assert.ok(descriptor instanceof FakeInlineImplementation);
  assert.ok(descriptor.implementation instanceof HyperstepSession);
  // Each debug session gets its own adapter.
  const again = state.factories.get('hyperstep')?.createDebugAdapterDescriptor() as FakeInlineImplementation;
  assert.notEqual(again.implementation, descriptor.implementation);
});

test('F5 without launch.json on an .asm file launches it; elsewhere it explains what to do', () => {
  const { state, provider } = activate();
  assert.ok(provider);
  state.activeTextEditor = { document: new FakeDocument('/w/boot.asm', '') };
  assert.deepEqual(provider.resolveDebugConfiguration(undefined, {}), {
    type: 'hyperstep',
    name: 'Debug guest',
    request: 'launch',
    program: '${file}',
    stopOnEntry: true,
  });
  assert.deepEqual(state.errors, []);
  state.activeTextEditor = undefined;
  assert.equal(provider.resolveDebugConfiguration(undefined, {}), undefined);
  assert.equal(state.errors.length, 1);
  assert.match(state.errors[0] ?? '', /Open a NASM \.asm file/);
});

test('a configuration without a program is cancelled with a message', () => {
  const { state, provider } = activate();
  assert.ok(provider);
  const result = provider.resolveDebugConfiguration(undefined, { type: 'hyperstep', request: 'launch', name: 'Guest' });
  assert.equal(result, undefined); // undefined, not null: null would open launch.json
  assert.match(state.errors[0] ?? '', /"Guest" has no "program"/);
});

test('paths become file URIs; URIs of virtual workspaces are kept', () => {
  const { api } = fakeVscode({});
  assert.deepEqual(toUri(api, '/w/boot.asm'), FakeUri.file('/w/boot.asm'));
  assert.deepEqual(toUri(api, 'C:\\w\\boot.asm'), FakeUri.file('C:\\w\\boot.asm'));
  assert.equal((toUri(api, 'vscode-vfs://github/o/r/boot.asm') as unknown as FakeUri).scheme, 'vscode-vfs');
});

test('the inline session reads the program through workspace.fs and runs it', async () => {
  const { state } = activate({
    '/w/ok.asm': "org 0x7C00\nmov al, 'O'\nout 0xE9, al\nmov al, 'K'\nout 0xE9, al\ncli\nhlt\n",
  });
  const descriptor = state.factories.get('hyperstep')?.createDebugAdapterDescriptor() as FakeInlineImplementation;
  const session = descriptor.implementation as HyperstepSession;
  const received: DebugProtocol.ProtocolMessage[] = [];
  let notify: () => void = () => {};
  session.onDidSendMessage((m) => {
    received.push(m as DebugProtocol.ProtocolMessage);
    notify();
  });
  const until = (pred: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      notify = () => pred() && resolve();
      notify();
    });
  let seq = 1;
  const send = (command: string, args: object): void => session.handleMessage({ seq: seq++, type: 'request', command, arguments: args } as DebugProtocol.Request);

  send('initialize', { adapterID: 'hyperstep', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true });
  send('launch', { program: '/w/ok.asm' });
  send('configurationDone', {});
  const isEvent = (name: string) => (m: DebugProtocol.ProtocolMessage) => m.type === 'event' && (m as DebugProtocol.Event).event === name;
  await until(() => received.some(isEvent('terminated')));

  const output = received
    .filter(isEvent('output'))
    .map((m) => (m as DebugProtocol.OutputEvent).body)
    .filter((b) => b.category === 'stdout')
    .map((b) => b.output)
    .join('');
  assert.equal(output, 'OK');
  assert.deepEqual(state.reads, [FakeUri.file('/w/ok.asm')]);
  const responses = received.filter((m) => m.type === 'response') as DebugProtocol.Response[];
  assert.deepEqual(
    responses.map((r) => `${r.command}:${r.success}`).sort(),
    ['configurationDone:true', 'initialize:true', 'launch:true'],
  );
  // Disconnect inline does not end the (extension host) process.
  send('disconnect', {});
  await until(() => received.some((m) => m.type === 'response' && (m as DebugProtocol.Response).command === 'disconnect'));
});
