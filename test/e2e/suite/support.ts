// Helpers of the integration suite: the adapter's messages seen through a
// debug adapter tracker, waiting with time limits, and figures the runners
// pick out of the output.

import * as vscode from 'vscode';
import type { DebugProtocol } from '@vscode/debugprotocol';

export function withTimeout<T>(promise: Thenable<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The next event that satisfies `accept`. */
export function waitForEvent<T>(event: vscode.Event<T>, accept: (value: T) => boolean, what: string, ms = 30_000): Promise<T> {
  let subscription: vscode.Disposable | undefined;
  const promise = new Promise<T>((resolve) => {
    subscription = event((value) => {
      if (accept(value)) resolve(value);
    });
  });
  return withTimeout(promise, ms, what).finally(() => subscription?.dispose());
}

/** Stops every debug session and waits until none is left. */
export async function stopAll(ms = 15_000): Promise<void> {
  if (!vscode.debug.activeDebugSession) return;
  await vscode.debug.stopDebugging();
  const deadline = Date.now() + ms;
  while (vscode.debug.activeDebugSession) {
    if (Date.now() > deadline) throw new Error(`debug session "${vscode.debug.activeDebugSession.name}" still active ${ms} ms after stopDebugging`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A value for the runners: one line they parse out of the host's output. */
export function figure(name: string, value: number | string): void {
  console.log(`HYPERSTEP_E2E_FIGURE ${JSON.stringify({ [name]: value })}`);
}

type StoppedBody = DebugProtocol.StoppedEvent['body'];

/** Records the `stopped` events the adapter sends, per session. */
export class DapRecorder {
  private readonly stops = new Map<string, StoppedBody[]>();
  private readonly waiters = new Map<string, ((body: StoppedBody) => void)[]>();
  private registration: vscode.Disposable | undefined;

  register(): void {
    this.registration = vscode.debug.registerDebugAdapterTrackerFactory('hyperstep', {
      createDebugAdapterTracker: (session) => ({
        onDidSendMessage: (message: DebugProtocol.ProtocolMessage) => {
          if (message.type === 'event' && (message as DebugProtocol.Event).event === 'stopped') {
            this.push(session.id, (message as DebugProtocol.StoppedEvent).body);
          }
        },
      }),
    });
  }

  private push(sessionId: string, body: StoppedBody): void {
    const waiter = this.waiters.get(sessionId)?.shift();
    if (waiter) waiter(body);
    else this.stops.set(sessionId, [...(this.stops.get(sessionId) ?? []), body]);
  }

  /** The session's next stop that has not been taken yet. */
  nextStop(session: vscode.DebugSession, ms = 30_000): Promise<StoppedBody> {
    const queued = this.stops.get(session.id);
    if (queued?.length) return Promise.resolve(queued.shift()!);
    const promise = new Promise<StoppedBody>((resolve) => {
      this.waiters.set(session.id, [...(this.waiters.get(session.id) ?? []), resolve]);
    });
    return withTimeout(promise, ms, `a stopped event of session "${session.name}"`);
  }

  clear(): void {
    this.stops.clear();
    this.waiters.clear();
  }

  dispose(): void {
    this.registration?.dispose();
  }
}
