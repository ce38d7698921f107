// The debug session end to end: DAP over a pair of streams to a session in
// this process (files served from memory), and the same over stdio to the
// bundled dist/adapter.js when it has been built.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { startSession } from './transcripts/harness';
import { DapClient } from './dapClient';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const OK_GUEST = `
        bits 16
        org 0x7C00
        mov al, 'O'
        out 0xE9, al
        mov al, 'K'
        out 0xE9, al
        cli
        hlt
`;

const files: Record<string, string | Uint8Array> = {
  '/guest/ok.asm': OK_GUEST,
  '/guest/com1.asm': `
        bits 16
        org 0x7C00
        mov si, msg
        mov dx, 0x3F8
next:   lodsb
        test al, al
        jz done
        out dx, al
        jmp next
done:   cli
        hlt
msg:    db "line 1", 13, 10, "line 2", 13, 10, 0
`,
  '/guest/main.asm': `
        bits 16
        org 0x7C00
%include "lib/letters.inc"
        mov al, FIRST
        out 0xE9, al
        mov al, SECOND
        out 0xE9, al
        cli
        hlt
`,
  // Nested: resolved relative to lib/, which the session learns only after the first round.
  '/guest/lib/letters.inc': `%include "second.inc"\nFIRST equ 'I'\n`,
  '/guest/lib/second.inc': `SECOND equ 'N'\n`,
  '/guest/missing-include.asm': `%include "nowhere.inc"\n        hlt\n`,
  '/guest/bad.asm': `        bits 16
        mov ax, 1
        frobnicate al, 3
        cli
        hlt
`,
  '/guest/spin.asm': `
        bits 16
        org 0x7C00
spin:   jmp spin
`,
  '/guest/kernel.asm': `
        bits 32
        org 0x100000
        mov al, 'F'
        out 0xE9, al
        mov eax, here
        cmp eax, 0x100000
        jb bad
        mov al, '!'
        out 0xE9, al
bad:    cli
        hlt
here:
`,
  '/guest/post.asm': `
        org 0x7C00
        mov al, 0x01
        out 0x80, al
        mov al, 0xFF
        out 0x80, al
        cli
        hlt
`,
  '/guest/triple.asm': `
        bits 16
        org 0x7C00
        lidt [empty]
        int 3
empty:  dw 0
        dd 0
`,
  // mov al, 'R' / out 0xE9, al / cli / hlt
  '/guest/raw.bin': Uint8Array.from([0xb0, 0x52, 0xe6, 0xe9, 0xfa, 0xf4]),
  '/guest/empty.bin': new Uint8Array(0),
};

function startInProcess(): DapClient {
  return startSession(files);
}

/** initialize, launch, configurationDone; resolves with the launch response. */
async function launch(client: DapClient, args: Record<string, unknown>): Promise<DebugProtocol.Response> {
  const init = await client.initialize();
  assert.equal(init.success, true);
  const launched = client.request('launch', args);
  await client.event('initialized');
  const done = await client.request('configurationDone');
  assert.equal(done.success, true);
  return launched;
}

async function runToEnd(args: Record<string, unknown>): Promise<DapClient> {
  const client = startInProcess();
  const r = await launch(client, args);
  assert.equal(r.success, true, `launch failed: ${r.message}`);
  await client.event('terminated');
  return client;
}

function stopLine(client: DapClient): string {
  const lines = client.outputs().filter((e) => /^Guest (stopped|run cancelled)/.test(e.body.output));
  assert.equal(lines.length, 1, `expected one stop line, got ${JSON.stringify(client.outputs().map((e) => e.body.output))}`);
  return lines[0]?.body.output ?? '';
}

describe('in-process session', () => {
  test('initialize answers with the debugger capabilities and the VM-exit filters, then sends initialized', async () => {
    const client = startInProcess();
    const r = await client.initialize();
    assert.equal(r.success, true);
    const caps = (r.body ?? {}) as DebugProtocol.Capabilities;
    for (const k of ['supportsConfigurationDoneRequest', 'supportsTerminateRequest', 'supportsConditionalBreakpoints', 'supportsHitConditionalBreakpoints', 'supportsLogPoints', 'supportsFunctionBreakpoints', 'supportsInstructionBreakpoints', 'supportsSteppingGranularity', 'supportsExceptionInfoRequest', 'supportsExceptionFilterOptions', 'supportsReadMemoryRequest', 'supportsDisassembleRequest', 'supportsRestartRequest'] as const) {
      assert.equal(caps[k], true, k);
    }
    const filters = (caps.exceptionBreakpointFilters ?? []).map((f) => f.filter);
    for (const id of ['any', 'entry-failure', 'triple-fault', 'virtualization-hole', 'exit-30', 'exit-10', 'exit-12']) assert.ok(filters.includes(id), id);
    await client.event('initialized');
    const ri = client.received.indexOf(r);
    const ei = client.received.findIndex((m) => m.type === 'event' && (m as DebugProtocol.Event).event === 'initialized');
    assert.ok(ri >= 0 && ei > ri, 'initialized comes after the initialize response');
  });

  test('initialize without arguments (pathFormat defaults to "path") is accepted; a URI path format is not', async () => {
    const bare = await startInProcess().request('initialize');
    assert.equal(bare.success, true, bare.message);
    const uri = await startInProcess().request('initialize', { adapterID: 'hyperstep', pathFormat: 'uri' });
    assert.equal(uri.success, false);
  });

  test('a guest writing "OK" to port 0xE9 and halting: output, a stop line, terminated', async () => {
    const client = await runToEnd({ program: '/guest/ok.asm' });
    assert.equal(client.outputText('stdout'), 'OK');
    const line = stopLine(client);
    assert.match(line, /^Guest stopped \(hlt\) after (5|6) instructions at CS:EIP 0000:00007C0[0-9A-F](: [^\n]*)?\.\n$/);
    assert.equal(client.outputs('stderr').length, 0);
    // The stop line comes after the guest's output, and terminated after both.
    const idx = (m: DebugProtocol.Event | undefined): number => (m ? client.received.indexOf(m) : -1);
    const lastStdout = client.outputs('stdout').at(-1);
    const stopEvent = client.outputs().find((e) => e.body.output === line);
    const terminated = client.events('terminated')[0];
    assert.ok(idx(lastStdout) < idx(stopEvent) && idx(stopEvent) < idx(terminated));
    assert.equal(client.events('terminated').length, 1);
  });

  test('COM1 output is shown too, with CR LF turned into LF', async () => {
    const client = await runToEnd({ program: '/guest/com1.asm' });
    assert.equal(client.outputText('stdout'), 'line 1\nline 2\n');
    assert.match(stopLine(client), /^Guest stopped \(hlt/);
  });

  test('%include files are read through the file accessor, nested ones too', async () => {
    const client = await runToEnd({ program: '/guest/main.asm' });
    assert.equal(client.outputText('stdout'), 'IN');
  });

  test('a raw binary image is loaded as is', async () => {
    const client = await runToEnd({ program: '/guest/raw.bin' });
    assert.equal(client.outputText('stdout'), 'R');
    assert.match(stopLine(client), /after 4 instructions/);
  });

  test('flat32 mode loads at the source org in 32-bit protected mode', async () => {
    const client = await runToEnd({ program: '/guest/kernel.asm', mode: 'flat32' });
    assert.equal(client.outputText('stdout'), 'F!');
    assert.match(stopLine(client), /CS:EIP [0-9A-F]{4}:001000[0-9A-F]{2}[:.]/);
  });

  test('the instruction limit stops a guest that never halts, reported on stderr', async () => {
    const client = await runToEnd({ program: '/guest/spin.asm', maxInstructions: 1000 });
    const err = client.outputText('stderr');
    assert.match(err, /^Guest stopped \(limit\) after 1,000 instructions at CS:EIP 0000:00007C0[0-9A-F]: the guest did not stop by itself within maxInstructions \(1,000\)\.\n$/);
  });

  test('POST codes written to port 0x80 are listed before the stop line', async () => {
    const client = await runToEnd({ program: '/guest/post.asm' });
    assert.equal(client.outputText('stdout'), '');
    const console = client.outputs('console').map((e) => e.body.output);
    assert.equal(console.length, 2);
    assert.equal(console[0], 'POST codes (port 0x80): 01 FF\n');
    assert.match(console[1] ?? '', /^Guest stopped \(hlt\)/);
  });

  test('terminate before configurationDone: the guest never runs', async () => {
    const client = startInProcess();
    await client.initialize();
    const launched = await client.request('launch', { program: '/guest/ok.asm' });
    assert.equal(launched.success, true);
    assert.equal((await client.request('terminate')).success, true);
    await client.event('terminated');
    assert.equal((await client.request('configurationDone')).success, true);
    // A run would finish this small guest before the next request is read.
    assert.equal((await client.request('threads')).success, true);
    assert.equal(client.outputs().length, 0, JSON.stringify(client.outputs()));
    assert.equal(client.events('terminated').length, 1);
  });

  test('a triple fault is reported on stderr', async () => {
    const client = await runToEnd({ program: '/guest/triple.asm' });
    assert.match(client.outputText('stderr'), /^Guest stopped \(triple-fault/);
  });

  test('terminate ends a long run between slices', { timeout: 120_000 }, async () => {
    const client = startInProcess();
    const r = await launch(client, { program: '/guest/spin.asm' });
    assert.equal(r.success, true);
    const t = await client.request('terminate');
    assert.equal(t.success, true);
    await client.event('terminated');
    assert.equal(client.events('terminated').length, 1);
    assert.equal(client.outputs().filter((e) => /^Guest stopped/.test(e.body.output)).length, 0);
  });

  test('a missing program is a launch error naming it, and the session keeps answering', async () => {
    const client = startInProcess();
    const r = await launch(client, { program: '/guest/nope.asm' });
    assert.equal(r.success, false);
    assert.match(r.message ?? '', /Cannot read program '\/guest\/nope\.asm'/);
    // The same text is in the debug console.
    assert.equal(client.outputText('stderr'), `${r.message}\n`);
    const threads = await client.request('threads');
    assert.equal(threads.success, true);
    assert.equal(client.events('terminated').length, 0);
  });

  test('assembly errors come back as file:line:col: error: lines', async () => {
    const client = startInProcess();
    const r = await launch(client, { program: '/guest/bad.asm' });
    assert.equal(r.success, false);
    const lines = (r.message ?? '').split('\n');
    assert.ok(lines.length >= 1);
    for (const l of lines) assert.match(l, /^\/guest\/bad\.asm:\d+:\d+: error: \S/);
    assert.ok(lines.some((l) => l.startsWith('/guest/bad.asm:3:')), r.message);
    // The message is shown to the user as is.
    const error = (r.body as { error?: DebugProtocol.Message } | undefined)?.error;
    assert.equal(error?.showUser, true);
  });

  test('a missing %include is an assembly error, not a hang', async () => {
    const client = startInProcess();
    const r = await launch(client, { program: '/guest/missing-include.asm' });
    assert.equal(r.success, false);
    assert.match(r.message ?? '', /^\/guest\/missing-include\.asm:1:\d+: error: .*nowhere\.inc/m);
  });

  test('a configuration without a program, or with a bad attribute, is a launch error', async () => {
    for (const [args, message] of [
      [{}, /no 'program'/],
      [{ program: '/guest/ok.asm', mode: 'protected' }, /'mode' must be/],
      [{ program: '/guest/empty.bin' }, /empty binary image/],
      [{ program: '/guest/raw.bin', rom: true }, /'rom': booting from the reset vector is not available under the VMM/],
      // Without 'mode' this source is a flat32 guest (its org); asked for real mode, its org cannot be a boot sector's.
      [{ program: '/guest/kernel.asm', mode: 'real' }, /boot sector is loaded at 0x7C00/],
    ] as const) {
      const client = startInProcess();
      const r = await launch(client, args);
      assert.equal(r.success, false, JSON.stringify(args));
      assert.match(r.message ?? '', message);
    }
  });

  test('threads: none before launch', async () => {
    const client = startInProcess();
    await client.initialize();
    const r = await client.request('threads');
    assert.deepEqual((r.body as DebugProtocol.ThreadsResponse['body']).threads, []);
  });

  test('unknown requests and requests before launch get errors and the session keeps answering', async () => {
    const client = startInProcess();
    await client.initialize();
    for (const command of ['frobnicate', 'attach', 'stepBack']) {
      const r = await client.request(command, { threadId: 1 });
      assert.equal(r.success, false, command);
      assert.equal(r.command, command);
      assert.match(r.message ?? '', new RegExp(`does not support the '${command}' request`));
    }
    for (const command of ['stackTrace', 'next', 'continue', 'evaluate', 'readMemory']) {
      const r = await client.request(command, { threadId: 1 });
      assert.equal(r.success, false, command);
      assert.match(r.message ?? '', /No guest/);
    }
    const threads = await client.request('threads');
    assert.equal(threads.success, true);
  });

  test('breakpoints set before launch are pending; an unknown exit filter is refused', async () => {
    const client = startInProcess();
    await client.initialize();
    const r = await client.request('setBreakpoints', { source: { path: '/guest/ok.asm' }, breakpoints: [{ line: 4 }, { line: 6 }] });
    assert.equal(r.success, true);
    const bps = (r.body as DebugProtocol.SetBreakpointsResponse['body']).breakpoints;
    assert.equal(bps.length, 2);
    for (const bp of bps) {
      assert.equal(bp.verified, false);
      assert.match(bp.message ?? '', /not been launched/);
    }
    assert.equal((await client.request('setExceptionBreakpoints', { filters: [] })).success, true);
    const all = await client.request('setExceptionBreakpoints', { filters: ['all'] });
    assert.equal((all.body as DebugProtocol.SetExceptionBreakpointsResponse['body'] | undefined)?.breakpoints?.[0]?.verified, false);
  });

  test('disconnect is answered, also in the middle of a run', async () => {
    const client = startInProcess();
    const r = await launch(client, { program: '/guest/spin.asm' });
    assert.equal(r.success, true);
    const d = await client.request('disconnect', {});
    assert.equal(d.success, true);
  });

  test('a second launch in the same session is refused', async () => {
    const client = await runToEnd({ program: '/guest/ok.asm' });
    const again = await client.request('launch', { program: '/guest/ok.asm' });
    assert.equal(again.success, false);
    assert.match(again.message ?? '', /already launched/);
  });

  test('stopOnEntry stops before the first instruction; without debugging it is ignored', async () => {
    const client = startInProcess();
    const r = await launch(client, { program: '/guest/ok.asm', stopOnEntry: true });
    assert.equal(r.success, true);
    const stopped = (await client.event('stopped')) as DebugProtocol.StoppedEvent;
    assert.equal(stopped.body.reason, 'entry');
    assert.equal(client.outputText('stdout'), '');
    const noDebug = await runToEnd({ program: '/guest/ok.asm', stopOnEntry: true, noDebug: true });
    assert.equal(noDebug.events('stopped').length, 0);
    assert.equal(noDebug.outputText('stdout'), 'OK');
  });
});

describe('stand-alone adapter (dist/adapter.js)', () => {
  const adapter = join(root, 'dist', 'adapter.js');
  test('speaks DAP on stdio and runs a guest from disk', { skip: existsSync(adapter) ? false : 'dist/adapter.js is not built (npm run build)' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hyperstep-adapter-'));
    try {
      const program = join(dir, 'ok.asm');
      writeFileSync(program, OK_GUEST);
      const child = spawn(process.execPath, [adapter], { stdio: ['pipe', 'pipe', 'inherit'] });
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const client = new DapClient(child.stdin, child.stdout);
      const r = await launch(client, { program });
      assert.equal(r.success, true, r.message);
      await client.event('terminated');
      assert.equal(client.outputText('stdout'), 'OK');
      const bad = await client.request('launch', { program: join(dir, 'missing.asm') });
      assert.equal(bad.success, false);
      assert.equal((await client.request('disconnect', {})).success, true);
      assert.equal(await exited, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
