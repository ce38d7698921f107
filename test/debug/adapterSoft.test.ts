// The bundled adapter (dist/adapter.js) under the software techniques,
// driven over stdio by VS Code's DebugClient with the example kernels from
// disk: the virtualization-hole stop under trap-and-emulate, no hole and the
// native output under binary translation, a translated block with its
// callout, the paravirtual hypercall counts, breakpoints and stepping, and a
// launch error for a combination the software VMM cannot run.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { EXPECTED_CONSOLE, SOFT_FILES, SOFT_GUEST, TECHNIQUES_DIR, lineOf } from './softGuests';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const adapter = join(root, 'dist', 'adapter.js');
const kernel = join(TECHNIQUES_DIR, 'kernel.asm');
const kernelPv = join(TECHNIQUES_DIR, 'kernel-pv.asm');
const POPF_LINE = lineOf(SOFT_FILES, '/t/kernel.asm', 'popfd ');

let dir = '';

before(() => {
  if (!existsSync(adapter)) spawnSync(process.execPath, ['scripts/build.mjs', '--quiet'], { cwd: root, stdio: 'inherit' });
  dir = mkdtempSync(join(tmpdir(), 'hyperstep-soft-'));
  writeFileSync(join(dir, 'soft.asm'), SOFT_GUEST);
});

after(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

async function client(): Promise<DebugClient> {
  const dc = new DebugClient(process.execPath, adapter, 'hyperstep', { cwd: root });
  dc.defaultTimeout = 30_000;
  await dc.start();
  return dc;
}

/** Guest console text (stdout output events) as it arrives. */
function stdout(dc: DebugClient): () => string {
  let text = '';
  dc.on('output', (e: DebugProtocol.OutputEvent) => {
    if (e.body.category === 'stdout') text += e.body.output;
  });
  return () => text;
}

/** launch with exception filters set between initialized and configurationDone, as VS Code orders them. */
async function launchWith(dc: DebugClient, args: Record<string, unknown>, filters: DebugProtocol.ExceptionFilterOptions[]): Promise<void> {
  await Promise.all([
    dc.configurationSequence().then(() => undefined),
    dc.waitForEvent('initialized').then(() => dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: filters })),
    dc.launch(args),
  ]);
}

async function variables(dc: DebugClient, ref: number): Promise<DebugProtocol.Variable[]> {
  return (await dc.variablesRequest({ variablesReference: ref })).body.variables;
}

async function child(dc: DebugClient, list: DebugProtocol.Variable[], name: string): Promise<DebugProtocol.Variable[]> {
  const v = list.find((x) => x.name === name);
  assert.ok(v, `no '${name}' among ${list.map((x) => x.name).join(', ')}`);
  return variables(dc, v.variablesReference);
}

async function techniqueScope(dc: DebugClient): Promise<DebugProtocol.Variable[]> {
  const st = await dc.stackTraceRequest({ threadId: 1 });
  const scopes = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
  const t = scopes.body.scopes.find((s) => s.name === 'Technique');
  assert.ok(t, scopes.body.scopes.map((s) => s.name).join(', '));
  return variables(dc, t.variablesReference);
}

describe('dist/adapter.js under the software techniques', () => {
  test('trap-and-emulate: the hole filter stops right after the critical section\'s POPF, with its exception information', async () => {
    const dc = await client();
    try {
      await launchWith(dc, { program: kernel, technique: 'trap-and-emulate' }, [{ filterId: 'virtualization-hole' }]);
      const stopped = (await dc.waitForEvent('stopped')) as DebugProtocol.StoppedEvent;
      assert.equal(stopped.body.reason, 'exception');
      assert.equal(stopped.body.description, 'Virtualization hole: popf');
      const threads = await dc.threadsRequest();
      assert.deepEqual(threads.body.threads, [{ id: 1, name: 'vCPU 0 · trap-and-emulate · guest ring 0 (runs in ring 1)' }]);
      const st = await dc.stackTraceRequest({ threadId: 1 });
      const [hole, guest] = st.body.stackFrames;
      assert.match(hole.name, /^Virtualization hole · popf \(0x[0-9A-F]{8}\)$/);
      assert.equal(guest.source?.path, kernel);
      assert.equal(guest.line, POPF_LINE + 1);
      const d = await dc.disassembleRequest({ memoryReference: hole.instructionPointerReference ?? '', instructionCount: 1 });
      assert.equal(d.body?.instructions[0].instruction, 'popf');
      const info = await dc.exceptionInfoRequest({ threadId: 1 });
      assert.equal(info.body.exceptionId, 'virtualization-hole');
      assert.match(info.body.description ?? '', /^Virtualization hole: popf at 0x[0-9A-F]{8} did not trap\. The guest saw virtual IF=0 IOPL=0 kept \(the popped IF and IOPL were dropped\); it expected IF=1 IOPL=0 from the popped 0x00000202\. POPF in ring 1 /);
      assert.match(info.body.details?.message ?? '', /\nThe guest saw: virtual IF=0 IOPL=0 kept .*\nIt expected: IF=1 IOPL=0 .*\nWhy: POPF in ring 1 with IOPL 0 silently ignores changes to IF and IOPL instead of trapping/);
      assert.equal((await dc.evaluateRequest({ expression: 'vif', context: 'watch' })).body.result, '0x0');
      assert.equal((await dc.evaluateRequest({ expression: 'if', context: 'watch' })).body.result, '0x1');
      await Promise.all([dc.terminateRequest({}), dc.waitForEvent('terminated')]);
    } finally {
      await dc.stop();
    }
  });

  test('binary translation: the hole filter never fires, and the kernel\'s output is the native one', async () => {
    const dc = await client();
    try {
      const out = stdout(dc);
      await launchWith(dc, { program: kernel, technique: 'binary-translation' }, [{ filterId: 'virtualization-hole' }]);
      await dc.waitForEvent('terminated');
      assert.equal(out(), EXPECTED_CONSOLE);
    } finally {
      await dc.stop();
    }
  });

  test('binary translation: the Technique scope shows the block at the POPF with its callout', async () => {
    const dc = await client();
    try {
      await dc.hitBreakpoint({ program: kernel, technique: 'binary-translation' }, { path: kernel, line: POPF_LINE });
      const block = await child(dc, await child(dc, await techniqueScope(dc), 'Translation cache'), 'block at EIP');
      const popf = block.find((v) => / {2}popf$/.test(v.name));
      assert.ok(popf, block.map((v) => `${v.name} ${v.value}`).join('\n'));
      assert.match(popf.value, /^→ {2}callout: call vmm_popf/);
      await Promise.all([dc.terminateRequest({}), dc.waitForEvent('terminated')]);
    } finally {
      await dc.stop();
    }
  });

  test('paravirt: the hypercall counts of the paravirtualized kernel', async () => {
    const dc = await client();
    try {
      const out = stdout(dc);
      await Promise.all([
        dc.configurationSequence().then(() => undefined),
        dc.waitForEvent('initialized').then(() => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'print_summary' }] })),
        dc.launch({ program: kernelPv, technique: 'paravirt' }),
      ]);
      const stopped = (await dc.waitForEvent('stopped')) as DebugProtocol.StoppedEvent;
      assert.equal(stopped.body.reason, 'function breakpoint');
      const calls = await child(dc, await techniqueScope(dc), 'Hypercalls');
      assert.match(calls.find((v) => v.name === '6 IRQ_DISABLE')?.value ?? '', /^101 calls, /);
      assert.match(calls.find((v) => v.name === '1 SET_TRAP_TABLE')?.value ?? '', /^1 call, /);
      const table = await dc.evaluateRequest({ expression: 'hypercalls', context: 'repl' });
      assert.match(table.body.result, /\n {2}7 IRQ_RESTORE +101 calls\n/);
      await Promise.all([dc.continueRequest({ threadId: 1 }), dc.waitForEvent('terminated')]);
      assert.equal(out(), EXPECTED_CONSOLE);
    } finally {
      await dc.stop();
    }
  });

  test('trap-and-emulate: breakpoints and stepping by line and by instruction', async () => {
    const dc = await client();
    try {
      const program = join(dir, 'soft.asm');
      await Promise.all([dc.configurationSequence(), dc.launch({ program, technique: 'trap-and-emulate', stopOnEntry: true }), dc.assertStoppedLocation('entry', { path: program, line: 3 })]);
      await dc.setBreakpointsRequest({ source: { path: program }, breakpoints: [{ line: 7, condition: 'ecx == 2' }] });
      await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation('breakpoint', { line: 7 })]);
      assert.equal((await dc.evaluateRequest({ expression: 'ecx', context: 'watch' })).body.result, '0x2');
      await Promise.all([dc.nextRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { line: 8 })]);
      await Promise.all([dc.stepInRequest({ threadId: 1, granularity: 'instruction' }), dc.assertStoppedLocation('step', { line: 5 })]);
      await dc.setBreakpointsRequest({ source: { path: program }, breakpoints: [{ line: 9 }] });
      await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation('breakpoint', { line: 9 })]);
      await Promise.all([dc.stepInRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { line: 14 })]);
      const st = await dc.stackTraceRequest({ threadId: 1 });
      assert.deepEqual(st.body.stackFrames.map((f) => f.line), [14, 9]);
      await Promise.all([dc.stepOutRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { line: 10 })]);
      await Promise.all([dc.terminateRequest({}), dc.waitForEvent('terminated')]);
    } finally {
      await dc.stop();
    }
  });

  test('vcpus: 2 with a software technique is a launch error naming the attribute', async () => {
    const dc = await client();
    try {
      await dc.initializeRequest();
      await assert.rejects(dc.launch({ program: kernel, technique: 'trap-and-emulate', vcpus: 2 }), /^Error: 'vcpus': vcpus: the software techniques run one vCPU; "trap-and-emulate" cannot run 2/);
    } finally {
      await dc.stop();
    }
  });
});
