// What a launch decides when the configuration does not say: the mode from the
// source's org (as `hyperstep run` decides it), a VM configuration named by
// URI, and whether the guest's end is reported as a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { startSession, launch, nextStop, frames } from './transcripts/harness';
import { isFailure } from '../../src/debug/session';

/** A flat32 source that forgets `bits 32`: only assembling it for flat32 gives the right bytes. */
const NO_BITS = ['org 0x2000', 'start:  mov eax, 0x12345678', '        mov dx, 0x501', '        mov al, 0', '        out dx, al', '        hlt', ''].join('\n');
const BOOT = ['bits 16', 'org 0x7c00', '        mov dx, 0x501', '        mov al, 3', '        out dx, al', '        hlt', ''].join('\n');

function outputs(c: ReturnType<typeof startSession>): DebugProtocol.OutputEvent['body'][] {
  return c.events('output').map((e) => (e as DebugProtocol.OutputEvent).body);
}

async function ended(c: ReturnType<typeof startSession>): Promise<void> {
  for (let i = 0; i < 200 && c.events('terminated').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
}

test('without "mode", a source with an org other than 0x7C00 runs as flat32 (assembled 32-bit), one at 0x7C00 as a boot sector', async () => {
  const c = startSession({ '/w/flat.asm': NO_BITS, '/w/boot.asm': BOOT });
  const r = await launch(c, { program: '/w/flat.asm', stopOnEntry: true });
  assert.equal(r.success, true, r.message);
  await nextStop(c, 0);
  const f = await frames(c);
  assert.equal(Number(f[0].instructionPointerReference), 0x2000);
  const step = c.request('next', { threadId: 1, granularity: 'instruction' });
  await step;
  await nextStop(c, 1);
  const eax = await c.request('evaluate', { expression: 'eax', context: 'watch', frameId: (await frames(c))[0].id });
  assert.equal((eax.body as { result: string }).result, '0x12345678', 'mov eax, imm32 ran as a 32-bit instruction');
  const b = startSession({ '/w/boot.asm': BOOT });
  const rb = await launch(b, { program: '/w/boot.asm', stopOnEntry: true });
  assert.equal(rb.success, true, rb.message);
  await nextStop(b, 0);
  assert.equal(Number((await frames(b))[0].instructionPointerReference), 0x7c00);
});

test('a VM configuration named by URI is read as it is, not joined to the program\'s folder', async () => {
  const c = startSession({ 'mem://ws/guest.asm': NO_BITS, 'mem://ws/vm.json': JSON.stringify({ vcpus: 2 }) });
  const r = await launch(c, { program: 'mem://ws/guest.asm', vm: 'mem://ws/vm.json', stopOnEntry: true });
  assert.equal(r.success, true, r.message);
  await nextStop(c, 0);
  const threads = await c.request('threads');
  assert.equal((threads.body as { threads: unknown[] }).threads.length, 2);
});

test('a debug-exit shutdown is a failure only when the guest wrote a value other than 0', async () => {
  assert.equal(isFailure({ reason: 'shutdown', code: 1 }, 0), false);
  assert.equal(isFailure({ reason: 'shutdown', code: 7 }, 3), true);
  assert.equal(isFailure({ reason: 'shutdown', code: 0 }), false);
  assert.equal(isFailure({ reason: 'shutdown', code: 2 }), true);
  assert.equal(isFailure({ reason: 'hlt' }), false);
  const ok = startSession({ '/w/flat.asm': NO_BITS });
  await launch(ok, { program: '/w/flat.asm' });
  await ended(ok);
  const end = outputs(ok).find((o) => o.output.startsWith('Guest stopped'));
  assert.ok(end, 'the end is reported');
  assert.equal(end.category, 'console', end.output);
  const bad = startSession({ '/w/boot.asm': BOOT });
  await launch(bad, { program: '/w/boot.asm' });
  await ended(bad);
  assert.equal(outputs(bad).find((o) => o.output.startsWith('Guest stopped'))?.category, 'stderr');
});
