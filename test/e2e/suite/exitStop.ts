// One check shared by the Node extension-host suite and the web worker test:
// a session stopped at the first `out 0xE9, al` exit of
// examples/cpuid-hlt-io-msr, read through the session's DAP requests the way
// the Call Stack, Variables and Watch views read it. Browser-safe: no Node
// modules, so it also runs in the web worker extension host.

import type * as vscode from 'vscode';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { withTimeout } from './support';

export const IO_EXIT_FRAME = 'VM exit 30 IO_INSTRUCTION · OUT 0xE9, AL → port 0xE9, 1 byte';

export class CheckError extends Error {}

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckError(message);
}

async function request<T>(session: vscode.DebugSession, command: string, args: object): Promise<T> {
  return (await withTimeout(session.customRequest(command, args), 10_000, `the ${command} response`)) as T;
}

async function variables(session: vscode.DebugSession, variablesReference: number): Promise<Map<string, DebugProtocol.Variable>> {
  const body = await request<DebugProtocol.VariablesResponse['body']>(session, 'variables', { variablesReference });
  return new Map(body.variables.map((v) => [v.name, v]));
}

export interface IoExitReport {
  frames: DebugProtocol.StackFrame[];
  scopes: string[];
  exitScope: Map<string, DebugProtocol.Variable>;
  vmExitReason: string;
  exitQualification: string;
  guestFrameId: number;
}

/** Reads the stop through stackTrace, scopes and variables and checks what the views would show. */
export async function readIoExitStop(session: vscode.DebugSession, stop: DebugProtocol.StoppedEvent['body']): Promise<IoExitReport> {
  expect(stop.reason === 'exception', `stopped for "${stop.reason}", not at an exit filter ("exception")`);
  expect((stop.description ?? '').startsWith('VM exit 30 IO_INSTRUCTION'), `stop description "${stop.description}"`);
  const threadId = stop.threadId ?? 1;
  const trace = await request<DebugProtocol.StackTraceResponse['body']>(session, 'stackTrace', { threadId });
  const frames = trace.stackFrames;
  expect(frames[0]?.name === IO_EXIT_FRAME, `top frame "${frames[0]?.name}", not "${IO_EXIT_FRAME}"`);
  expect(frames[0].presentationHint === 'label', `the exit frame's presentation hint is ${frames[0].presentationHint}`);
  const guest = frames[1];
  expect(guest?.name === 'start.print+0x7 (0x103B)', `guest frame "${guest?.name}"`);
  expect(guest.line === 30, `guest frame line ${guest.line}, not 30`);
  expect(/guest\.asm$/.test(guest.source?.path ?? guest.source?.name ?? ''), `guest frame source ${JSON.stringify(guest.source)}`);

  const { scopes } = await request<DebugProtocol.ScopesResponse['body']>(session, 'scopes', { frameId: guest.id });
  const names = scopes.map((s) => s.name);
  expect(names[0] === 'VM exit', `scopes: ${names.join(', ')}`);
  const exitScope = await variables(session, scopes[0].variablesReference);
  expect(exitScope.get('reason')?.value === '30 IO_INSTRUCTION', `VM exit scope reason = ${exitScope.get('reason')?.value}`);
  expect(exitScope.get('why')?.value === 'I/O bitmap A bit 0xE9 set', `VM exit scope why = ${exitScope.get('why')?.value}`);

  const vmcs = scopes.find((s) => s.name === 'VMCS');
  expect(vmcs, `no VMCS scope: ${names.join(', ')}`);
  const groups = await variables(session, vmcs.variablesReference);
  const exitInfo = groups.get('VM-exit information fields');
  expect(exitInfo, `VMCS groups: ${[...groups.keys()].join(', ')}`);
  const fields = await variables(session, exitInfo.variablesReference);
  const field = (prefix: string) => [...fields.entries()].find(([name]) => name.startsWith(prefix))?.[1];
  const reason = field('VM_EXIT_REASON');
  expect(reason, `exit information fields: ${[...fields.keys()].join(', ')}`);
  expect(/^0x0*1E\b/i.test(reason.value), `VM_EXIT_REASON = ${reason.value}`);
  const bits = await variables(session, reason.variablesReference);
  const basic = bits.get('basic exit reason');
  expect(basic?.value.includes('IO_INSTRUCTION'), `VM_EXIT_REASON's basic exit reason = ${basic?.value}`);
  const qualification = field('EXIT_QUALIFICATION');
  expect(/OUT 0xE9, AL → port 0xE9, 1 byte/.test(qualification?.value ?? ''), `EXIT_QUALIFICATION = ${qualification?.value}`);

  const watch = await request<DebugProtocol.EvaluateResponse['body']>(session, 'evaluate', { expression: 'vmcs.VM_EXIT_REASON', frameId: guest.id, context: 'watch' });
  expect(/^0x0*1E$/i.test(watch.result), `vmcs.VM_EXIT_REASON evaluates to ${watch.result}`);

  return { frames, scopes: names, exitScope, vmExitReason: reason.value, exitQualification: qualification?.value ?? '', guestFrameId: guest.id };
}
