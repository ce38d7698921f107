// The golden-transcript scenarios: each drives an in-process session the way
// VS Code would and returns every message it received, with the volatile
// fields (sequence numbers) taken out. regen-goldens.ts writes them to
// <name>.json; sessionTranscripts.test.ts compares.

import { startSession, launch, nextStop, runAndStop, frames } from './harness';
import type { DapClient, Message } from '../dapClient';
import { SOFT_FILES } from '../softGuests';

export interface Scenario {
  name: string;
  description: string;
  run: () => Promise<DapClient>;
}

/** A message without seq / request_seq, keys in a stable order. */
export function normalise(m: Message): unknown {
  const { seq: _seq, ...rest } = m as Message & { request_seq?: number };
  delete (rest as { request_seq?: number }).request_seq;
  return sortKeys(rest);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}

export function transcript(client: DapClient): unknown[] {
  return client.received.map(normalise);
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'entry-and-stepping',
    description: 'stopOnEntry, threads, stack, scopes, a hover, a line step and an instruction step, terminate',
    run: async () => {
      const c = startSession();
      await launch(c, { program: '/g/calls.asm', mode: 'flat32', stopOnEntry: true });
      await nextStop(c, 0);
      await c.request('threads');
      const f = await frames(c);
      // Scope names are the session's; their contents are the inspection builders' (tested in test/debug/inspect).
      await c.request('scopes', { frameId: f[0].id });
      await c.request('evaluate', { expression: 'eip', context: 'hover', frameId: f[0].id });
      await runAndStop(c, 'next');
      await c.request('stackTrace', { threadId: 1 });
      await runAndStop(c, 'stepIn', { threadId: 1, granularity: 'instruction' });
      await c.request('stackTrace', { threadId: 1 });
      await c.request('terminate');
      await c.event('terminated');
      return c;
    },
  },
  {
    name: 'conditional-breakpoint',
    description: 'a conditional source breakpoint, a logpoint, evaluate, continue to the end',
    run: async () => {
      const c = startSession();
      await launch(c, { program: '/g/calls.asm', mode: 'flat32' }, { breakpoints: { '/g/calls.asm': [{ line: 5, condition: 'ecx == 4' }, { line: 8, logMessage: 'after the call ecx={ecx}' }] } });
      await nextStop(c, 0);
      await c.request('stackTrace', { threadId: 1 });
      await c.request('evaluate', { expression: 'ecx * 2 + [0x1000]', context: 'watch', frameId: 1000 });
      await runAndStop(c, 'continue');
      await c.event('terminated');
      return c;
    },
  },
  {
    name: 'io-exit-filter',
    description: 'an exit filter on port 0x3F8: exception stop, exit frame, exceptionInfo, the VMCS exit reason, continue to the end',
    run: async () => {
      const c = startSession();
      await launch(c, { program: '/g/calls.asm', mode: 'flat32' }, { exceptionFilters: [{ filterId: 'exit-30', condition: 'port == 0x3f8' }] });
      await nextStop(c, 0);
      const f = await frames(c);
      await c.request('exceptionInfo', { threadId: 1 });
      await c.request('evaluate', { expression: 'vmcs.VM_EXIT_REASON', context: 'watch', frameId: f[0].id });
      await runAndStop(c, 'continue');
      await c.event('terminated');
      return c;
    },
  },
  {
    name: 'virtualization-hole',
    description: 'trap-and-emulate with the virtualization-hole filter: the stop after the critical section\'s POPF, its frame, exceptionInfo, the hole and Virtual CPU scopes, the holes command, terminate',
    run: async () => {
      const c = startSession(SOFT_FILES);
      await launch(c, { program: '/t/kernel.asm', technique: 'trap-and-emulate' }, { exceptionFilters: [{ filterId: 'virtualization-hole' }] });
      await nextStop(c, 0);
      await c.request('threads');
      const f = await frames(c);
      await c.request('exceptionInfo', { threadId: 1 });
      const scopes = await c.request('scopes', { frameId: f[1].id });
      for (const s of (scopes.body as { scopes: { name: string; variablesReference: number }[] }).scopes) {
        if (s.name === 'Virtualization hole' || s.name === 'Virtual CPU') await c.request('variables', { variablesReference: s.variablesReference });
      }
      await c.request('evaluate', { expression: 'holes', context: 'repl', frameId: f[1].id });
      await c.request('terminate');
      await c.event('terminated');
      return c;
    },
  },
];
