// Shared by the session tests, the fuzz test and the transcript recorder: an
// in-process session over a pair of streams with guests served from memory,
// and helpers to launch, wait for stops and read frames and variables.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { HyperstepSession } from '../../../src/debug/session';
import { memoryFileAccessor } from '../../../src/debug/fileAccessor';
import { DapClient } from '../dapClient';

export const GUESTS: Record<string, string | Uint8Array> = {
  // Line numbers matter: the tests set breakpoints by line.
  '/g/calls.asm': [
    '        bits 32', //  1
    '        org 0x1000', //  2
    'start:  mov ecx, 0', //  3
    'loop:   inc ecx', //  4
    '        cmp ecx, 5', //  5
    '        jb loop', //  6
    '        call double', //  7
    '        mov dx, 0x3f8', //  8
    "        mov al, 'H'", //  9
    '        out dx, al', // 10
    "        mov al, 'i'", // 11
    '        out 0xe9, al', // 12
    '        hlt', // 13
    '', // 14
    'double: add ecx, ecx', // 15
    '        call inner', // 16
    '        ret', // 17
    'inner:  inc ecx', // 18
    '        ret', // 19
  ].join('\n'),
  '/g/spin.asm': '        bits 32\n        org 0x1000\nspin:   inc eax\n        jmp spin\n',
  '/g/cpuid.asm': '        bits 32\n        org 0x1000\n        mov eax, 0\n        cpuid\n        mov eax, 0x40000000\n        cpuid\n        hlt\n',
  '/g/smp.asm': '        bits 32\n        org 0x1000\n        nop\n        hlt\n',
  // mov al, 'R' / out 0xE9, al / cli / hlt
  '/g/raw.bin': Uint8Array.from([0xb0, 0x52, 0xe6, 0xe9, 0xfa, 0xf4]),
  '/g/vm.json': JSON.stringify({ vcpus: 2, paging: 'ept' }),
  '/g/badvm.json': JSON.stringify({ vcpus: 99 }),
  '/g/broken.json': '{ "vcpus": ',
};

export function startSession(files: Record<string, string | Uint8Array> = GUESTS): DapClient {
  const toAdapter = new PassThrough();
  const fromAdapter = new PassThrough();
  const session = new HyperstepSession(memoryFileAccessor(files));
  session.setRunAsServer(true);
  session.start(toAdapter, fromAdapter);
  return new DapClient(toAdapter, fromAdapter);
}

export interface LaunchOptions {
  breakpoints?: Record<string, DebugProtocol.SourceBreakpoint[]>;
  functionBreakpoints?: string[];
  exceptionFilters?: DebugProtocol.ExceptionFilterOptions[];
}

/** initialize, launch, breakpoints, configurationDone, as VS Code orders them. */
export async function launch(client: DapClient, args: Record<string, unknown>, opts: LaunchOptions = {}): Promise<DebugProtocol.Response> {
  const init = await client.initialize();
  assert.equal(init.success, true);
  const launched = client.request('launch', args);
  await client.event('initialized');
  for (const [path, breakpoints] of Object.entries(opts.breakpoints ?? {})) {
    await client.request('setBreakpoints', { source: { path }, breakpoints });
  }
  if (opts.functionBreakpoints) await client.request('setFunctionBreakpoints', { breakpoints: opts.functionBreakpoints.map((name) => ({ name })) });
  if (opts.exceptionFilters) await client.request('setExceptionBreakpoints', { filters: [], filterOptions: opts.exceptionFilters });
  const done = await client.request('configurationDone');
  assert.equal(done.success, true);
  return launched;
}

/** The next `stopped` event after the ones already seen, or undefined when the session terminates first. */
export async function nextStop(client: DapClient, seen = client.events('stopped').length): Promise<DebugProtocol.StoppedEvent | undefined> {
  for (;;) {
    const stops = client.events('stopped');
    if (stops.length > seen) return stops[seen] as DebugProtocol.StoppedEvent;
    if (client.events('terminated').length > 0) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Sends a run request and waits for the stop (or the end) it leads to. */
export async function runAndStop(client: DapClient, command: string, args: Record<string, unknown> = { threadId: 1 }): Promise<DebugProtocol.StoppedEvent | undefined> {
  const seen = client.events('stopped').length;
  const r = await client.request(command, args);
  assert.equal(r.success, true, `${command}: ${r.message}`);
  return nextStop(client, seen);
}

export async function frames(client: DapClient, threadId = 1): Promise<DebugProtocol.StackFrame[]> {
  const r = await client.request('stackTrace', { threadId });
  assert.equal(r.success, true, r.message);
  return (r.body as DebugProtocol.StackTraceResponse['body']).stackFrames;
}

export async function topLine(client: DapClient, threadId = 1): Promise<number> {
  const f = await frames(client, threadId);
  const guest = f.find((x) => x.source !== undefined);
  return guest?.line ?? -1;
}

export async function evaluate(client: DapClient, expression: string, context = 'repl', frameId?: number): Promise<DebugProtocol.Response> {
  return client.request('evaluate', { expression, context, ...(frameId !== undefined ? { frameId } : {}) });
}

export async function value(client: DapClient, expression: string): Promise<string> {
  const r = await evaluate(client, expression, 'watch');
  assert.equal(r.success, true, `${expression}: ${r.message}`);
  return (r.body as DebugProtocol.EvaluateResponse['body']).result;
}
