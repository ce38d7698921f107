// Random and malformed requests: unknown commands, arguments of the wrong
// type, references that do not exist, requests before launch, while running
// and after the end. Every request must get a response for its command and
// the session must keep answering. The generator is seeded: a failure
// reproduces.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { startSession, launch, nextStop } from './transcripts/harness';
import type { DapClient } from './dapClient';

const COMMANDS = [
  'threads', 'stackTrace', 'scopes', 'variables', 'setVariable', 'evaluate', 'completions', 'exceptionInfo', 'readMemory', 'writeMemory',
  'disassemble', 'setBreakpoints', 'setFunctionBreakpoints', 'setInstructionBreakpoints', 'setExceptionBreakpoints', 'next', 'stepIn', 'stepOut',
  'continue', 'pause', 'restart', 'launch', 'configurationDone', 'source', 'loadedSources', 'goto', 'stepBack', 'frobnicate', '', 'constructor',
  '__proto__', 'toString', 'hasOwnProperty',
];

/** xorshift32: small, seeded, the same sequence on every machine. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

function randomValue(r: () => number, depth = 0): unknown {
  const pick = Math.floor(r() * 12);
  switch (pick) {
    case 0:
      return null;
    case 1:
      return Math.floor(r() * 5000) - 10;
    case 2:
      return r() < 0.5 ? 1000 : 1;
    case 3:
      return ['', 'eax', 'gva:0x1000', 'hpa:0xFFFFFFFF', '0x1000', '[[[', 'vmcs', 'vmcs NOPE', 'constructor', '{eax}', 'x'.repeat(300)][Math.floor(r() * 11)];
    case 4:
      return r() < 0.5;
    case 5:
      return depth > 2 ? [] : [randomValue(r, depth + 1), randomValue(r, depth + 1)];
    case 6:
      return depth > 2 ? {} : randomArgs(r, depth + 1);
    case 7:
      return -1;
    case 8:
      return 1.5;
    case 9:
      return Number.MAX_SAFE_INTEGER;
    default:
      return undefined;
  }
}

const FIELDS = ['threadId', 'frameId', 'variablesReference', 'memoryReference', 'expression', 'context', 'count', 'offset', 'instructionCount', 'instructionOffset', 'source', 'breakpoints', 'filters', 'filterOptions', 'name', 'value', 'text', 'column', 'data', 'start', 'format', 'lines', 'program', 'granularity'];

function randomArgs(r: () => number, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) out[FIELDS[Math.floor(r() * FIELDS.length)]] = randomValue(r, depth);
  return out;
}

async function fuzz(client: DapClient, seed: number, count: number): Promise<void> {
  const r = rng(seed);
  for (let i = 0; i < count; i++) {
    const command = COMMANDS[Math.floor(r() * COMMANDS.length)];
    const shape = r();
    // Mostly objects, sometimes no arguments, an array, a number or a string.
    const args = shape < 0.7 ? randomArgs(r) : shape < 0.8 ? undefined : shape < 0.9 ? [1, 2] : shape < 0.95 ? 5 : 'args';
    const response = await client.request(command, args as object);
    assert.equal(response.type, 'response');
    assert.equal(response.command, command, `${command} ${JSON.stringify(args)}`);
    assert.equal(typeof response.success, 'boolean');
    if (!response.success) assert.equal(typeof response.message, 'string');
  }
  const threads = await client.request('threads');
  assert.equal(threads.success, true);
}

describe('fuzz', () => {
  test('before launch', async () => {
    const c = startSession();
    await c.initialize();
    await fuzz(c, 1, 300);
  });

  test('stopped on entry, then running and after the end', async () => {
    const c = startSession();
    const l = await launch(c, { program: '/g/calls.asm', mode: 'flat32', stopOnEntry: true });
    assert.equal(l.success, true);
    await nextStop(c, 0);
    await fuzz(c, 2, 400);
    await fuzz(c, 3, 400);
  });

  test('an endless guest: requests while it runs are answered', async () => {
    const c = startSession();
    await launch(c, { program: '/g/spin.asm', mode: 'flat32' });
    await fuzz(c, 4, 200);
    await c.request('pause', { threadId: 1 });
    assert.equal((await c.request('terminate')).success, true);
  });

  test('malformed values of well-known requests get an error naming the problem', async () => {
    const c = startSession();
    await launch(c, { program: '/g/calls.asm', mode: 'flat32', stopOnEntry: true });
    await nextStop(c, 0);
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['stackTrace', { threadId: 'one' }, /No thread "one"/],
      ['scopes', { frameId: 7 }, /No stack frame 7/],
      ['variables', { variablesReference: -3 }, /No variables for reference -3/],
      ['readMemory', { memoryReference: 'gva:0x1000', count: 'x' }, /'count'/],
      ['readMemory', { memoryReference: 12 }, /'memoryReference' must be a string/],
      ['disassemble', { memoryReference: '0x1000', instructionCount: -1 }, /'instructionCount'/],
      ['evaluate', { expression: 'constructor', context: 'watch' }, /unknown name 'constructor'/],
      ['evaluate', { expression: 'eax +', context: 'watch' }, /column 6/],
      ['continue', { threadId: 9 }, /No thread 9/],
      ['exceptionInfo', { threadId: 1 }, /not stopped at a VM exit/],
      ['setVariable', { variablesReference: 1 }, /needs 'variablesReference', 'name' and 'value'/],
      ['writeMemory', { memoryReference: 'gva:0x1000', data: '!!!' }, /not base64/],
    ];
    for (const [command, args, message] of cases) {
      const r = (await c.request(command, args)) as DebugProtocol.Response;
      assert.equal(r.success, false, command);
      assert.match(r.message ?? '', message, command);
    }
  });
});
