// The bundled stand-alone adapter (dist/adapter.js) driven by VS Code's own
// test client, DebugClient: guests from disk, breakpoints, stepping, a
// VM-exit filter, pause and launch errors over stdio.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { GUESTS } from './transcripts/harness';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const adapter = join(root, 'dist', 'adapter.js');

let dir = '';
const path = (name: string): string => join(dir, name);

before(() => {
  // `npm test` builds first; a direct run of this file builds when nothing is there.
  if (!existsSync(adapter)) spawnSync(process.execPath, ['scripts/build.mjs', '--quiet'], { cwd: root, stdio: 'inherit' });
  dir = mkdtempSync(join(tmpdir(), 'hyperstep-dap-'));
  for (const [name, content] of Object.entries(GUESTS)) writeFileSync(join(dir, name.replace('/g/', '')), content);
});

after(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

async function client(): Promise<DebugClient> {
  const dc = new DebugClient(process.execPath, adapter, 'hyperstep', { cwd: root });
  dc.defaultTimeout = 20_000;
  await dc.start();
  return dc;
}

describe('dist/adapter.js through DebugClient', () => {
  test('stops at a source breakpoint; stack, scopes and register variables', async () => {
    const dc = await client();
    try {
      const program = path('calls.asm');
      await dc.hitBreakpoint({ program, mode: 'flat32' }, { path: program, line: 7 });
      const st = await dc.stackTraceRequest({ threadId: 1 });
      assert.equal(st.body.stackFrames[0].line, 7);
      assert.equal(st.body.stackFrames[0].source?.path, program);
      const scopes = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
      assert.equal(scopes.body.scopes[0].name, 'Registers');
      const vars = await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
      assert.equal(vars.body.variables.find((v) => v.name.toLowerCase() === 'ecx')?.value, '0x00000005');
      // next over the call, then run to the end.
      await Promise.all([dc.nextRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { line: 8 })]);
      await Promise.all([dc.continueRequest({ threadId: 1 }), dc.waitForEvent('terminated')]);
    } finally {
      await dc.stop();
    }
  });

  test('an I/O exit filter on port 0x3F8 stops with exception information', async () => {
    const dc = await client();
    try {
      const program = path('calls.asm');
      await Promise.all([
        dc.configurationSequence().then(() => undefined),
        dc.waitForEvent('initialized').then(() => dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'exit-30', condition: 'port == 0x3f8 && out' }] })),
        dc.launch({ program, mode: 'flat32' }),
      ]);
      const stopped = (await dc.waitForEvent('stopped')) as DebugProtocol.StoppedEvent;
      assert.equal(stopped.body.reason, 'exception');
      assert.equal(stopped.body.description, 'VM exit 30 IO_INSTRUCTION');
      const info = await dc.exceptionInfoRequest({ threadId: 1 });
      assert.equal(info.body.exceptionId, '30 IO_INSTRUCTION');
      const reason = await dc.evaluateRequest({ expression: 'vmcs.VM_EXIT_REASON', context: 'watch' });
      assert.equal(reason.body.result, '0x1E');
    } finally {
      await dc.stop();
    }
  });

  test('pause answers an endless loop with a stopped event', async () => {
    const dc = await client();
    try {
      await Promise.all([dc.configurationSequence(), dc.launch({ program: path('spin.asm'), mode: 'flat32' })]);
      const [, stopped] = await Promise.all([dc.pauseRequest({ threadId: 1 }), dc.waitForEvent('stopped')]);
      assert.equal((stopped as DebugProtocol.StoppedEvent).body.reason, 'pause');
    } finally {
      await dc.stop();
    }
  });

  test('stopOnEntry, threads, instruction and line steps, stepIn and stepOut, terminate', async () => {
    const dc = await client();
    try {
      const program = path('calls.asm');
      await Promise.all([dc.configurationSequence(), dc.launch({ program, mode: 'flat32', stopOnEntry: true }), dc.assertStoppedLocation('entry', { path: program, line: 3 })]);
      const threads = await dc.threadsRequest();
      assert.deepEqual(threads.body.threads, [{ id: 1, name: 'vCPU 0 · non-root · ring 0' }]);
      await Promise.all([dc.nextRequest({ threadId: 1, granularity: 'instruction' }), dc.assertStoppedLocation('step', { line: 4 })]);
      const bps = await dc.setBreakpointsRequest({ source: { path: program }, breakpoints: [{ line: 7 }, { line: 5, hitCondition: '2' }, { line: 6, logMessage: 'ecx={ecx}' }] });
      assert.deepEqual(bps.body.breakpoints.map((b) => b.verified), [true, true, true]);
      await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation('breakpoint', { line: 5 })]);
      assert.equal((await dc.evaluateRequest({ expression: 'ecx', context: 'watch' })).body.result, '0x2');
      await dc.setBreakpointsRequest({ source: { path: program }, breakpoints: [{ line: 7 }] });
      await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation('breakpoint', { line: 7 })]);
      await Promise.all([dc.stepInRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { line: 15 })]);
      const st = await dc.stackTraceRequest({ threadId: 1 });
      assert.deepEqual(st.body.stackFrames.map((f) => f.line), [15, 7]);
      await Promise.all([dc.stepOutRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { line: 8 })]);
      await Promise.all([dc.terminateRequest({}), dc.waitForEvent('terminated')]);
    } finally {
      await dc.stop();
    }
  });

  test('a bad launch attribute is an error response naming it', async () => {
    const dc = await client();
    try {
      await dc.initializeRequest();
      await assert.rejects(dc.launch({ program: path('calls.asm'), mode: 'flat32', paging: 'nested' }), /'paging' must be "ept" or "shadow"/);
    } finally {
      await dc.stop();
    }
  });
});
