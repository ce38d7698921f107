// Progress of the "Get started with Hyperstep" walkthrough (package.json
// contributes.walkthroughs): steps that are done in the debugger, not by a
// command, complete on context keys that a debug adapter tracker sets from
// the protocol traffic of Hyperstep sessions:
//   hyperstep.walkthrough.stoppedAtExit  a session stopped at a VM exit (an exit filter fired)
//   hyperstep.walkthrough.readVmcs       the VMCS scope was expanded, or `vmcs …` evaluated

import type * as vscodeApi from 'vscode';
import { DEBUG_TYPE } from './configuration';

export type VscodeApi = typeof vscodeApi;

export const WALKTHROUGH_ID = 'hyperstep.getStarted';
export const STOPPED_AT_EXIT_CONTEXT = 'hyperstep.walkthrough.stoppedAtExit';
export const READ_VMCS_CONTEXT = 'hyperstep.walkthrough.readVmcs';

type Message = Record<string, unknown>;

const record = (v: unknown): Message | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Message) : undefined);

/** What the walkthrough learns from one session's messages; `set` is called once per context key. */
export class WalkthroughProgress {
  private readonly vmcsScopes = new Set<number>();
  private readonly done = new Set<string>();

  constructor(private readonly set: (context: string) => void) {}

  private mark(context: string): void {
    if (this.done.has(context)) return;
    this.done.add(context);
    this.set(context);
  }

  /** A message from the adapter to the editor (responses and events). */
  fromAdapter(message: unknown): void {
    const m = record(message);
    const body = record(m?.['body']);
    if (m === undefined || body === undefined) return;
    // Exit filters are exception breakpoints: a VM-exit stop has reason 'exception'.
    if (m['type'] === 'event' && m['event'] === 'stopped' && body['reason'] === 'exception') this.mark(STOPPED_AT_EXIT_CONTEXT);
    if (m['type'] === 'response' && m['command'] === 'scopes' && Array.isArray(body['scopes'])) {
      for (const s of body['scopes']) {
        const scope = record(s);
        if (scope?.['name'] === 'VMCS' && typeof scope['variablesReference'] === 'number') this.vmcsScopes.add(scope['variablesReference']);
      }
    }
  }

  /** A message from the editor to the adapter (requests). */
  toAdapter(message: unknown): void {
    const m = record(message);
    const args = record(m?.['arguments']);
    if (m?.['type'] !== 'request' || args === undefined) return;
    if (m['command'] === 'variables' && this.vmcsScopes.has(Number(args['variablesReference']))) this.mark(READ_VMCS_CONTEXT);
    if (m['command'] === 'evaluate' && typeof args['expression'] === 'string' && /^\s*vmcs\b/i.test(args['expression'])) this.mark(READ_VMCS_CONTEXT);
  }
}

export function registerWalkthroughProgress(vscode: VscodeApi, subscriptions: vscodeApi.Disposable[]): void {
  const set = (context: string): void => void vscode.commands.executeCommand('setContext', context, true);
  subscriptions.push(
    vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, {
      createDebugAdapterTracker() {
        const progress = new WalkthroughProgress(set);
        return {
          onDidSendMessage: (m: unknown) => progress.fromAdapter(m),
          onWillReceiveMessage: (m: unknown) => progress.toAdapter(m),
        };
      },
    }),
  );
}
