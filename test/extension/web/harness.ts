// Runs the browser build of the extension (dist/web/extension.js) the way
// VS Code for the Web does in its extension-host worker: the CommonJS bundle
// is evaluated with a `require` that knows only 'vscode' (here the stand-in
// API of fakeVscode.ts), activated, and its inline debug adapter driven with
// DAP requests until the guest stops at a VM exit.
//
// This file is bundled for the browser (test/extension/web/build.ts) and runs
// in a Web Worker in headless Chromium and in a Node vm context that has only
// the globals a worker has; it imports nothing that needs Node.

import { fakeVscode, FakeUri, FakeInlineImplementation } from '../fakeVscode';

export interface WebRunOptions {
  /** The extension bundle's source text. */
  bundle: string;
  /** Workspace files by path. */
  files: Record<string, string>;
  /** The guest's path among `files`. */
  program: string;
  /** Further launch attributes. */
  launch?: Record<string, unknown>;
  /** Exception breakpoint filters to set (VM-exit filters such as 'exit-30'). */
  filters: string[];
}

export interface WebRunResult {
  /** Wall time of evaluating the bundle (what the host does before activating), ms. */
  loadMs: number;
  /** Wall time of activate(), ms. */
  activateMs: number;
  commands: string[];
  stopped: { reason: string; description?: string; text?: string; threadId: number };
  exceptionId: string;
  topFrame: string;
  vmcsExitReason: string;
  evaluated: string;
  output: string;
}

export interface DapMessage {
  seq: number;
  type: string;
  command?: string;
  event?: string;
  request_seq?: number;
  success?: boolean;
  message?: string;
  body?: Record<string, unknown>;
}

export interface InlineAdapter {
  handleMessage(message: DapMessage): void;
  onDidSendMessage(listener: (message: unknown) => void): { dispose(): void };
  dispose(): void;
}

interface ExtensionModule {
  activate(context: { subscriptions: { dispose(): unknown }[]; extensionUri: FakeUri }): void;
  deactivate?(): void;
}

/** Evaluates a CommonJS bundle with only `vscode` to require, as a web extension host does. */
export function loadBundle(source: string, vscodeApi: unknown): ExtensionModule {
  const module = { exports: {} as Record<string, unknown> };
  const require = (id: string): unknown => {
    if (id === 'vscode') return vscodeApi;
    throw new Error(`require('${id}'): only 'vscode' can be required in a web extension host`);
  };
  new Function('module', 'exports', 'require', source)(module, module.exports, require);
  return module.exports as unknown as ExtensionModule;
}

/** A DAP client of an inline adapter (its onDidSendMessage takes one listener: this one). */
export class DapClient {
  private seq = 1;
  private readonly waiting = new Map<number, (m: DapMessage) => void>();
  private readonly events: DapMessage[] = [];
  private readonly eventWaiters: { match: (m: DapMessage) => boolean; resolve: (m: DapMessage) => void }[] = [];

  /** `tap` sees every message: 'request' to the adapter, 'reply' (responses and events) from it. */
  constructor(
    private readonly adapter: InlineAdapter,
    private readonly tap: (direction: 'request' | 'reply', message: DapMessage) => void = () => undefined,
  ) {
    adapter.onDidSendMessage((raw) => {
      const m = raw as DapMessage;
      this.tap('reply', m);
      if (m.type === 'response' && m.request_seq !== undefined) {
        this.waiting.get(m.request_seq)?.(m);
        this.waiting.delete(m.request_seq);
      } else if (m.type === 'event') {
        const w = this.eventWaiters.findIndex((x) => x.match(m));
        if (w >= 0) this.eventWaiters.splice(w, 1)[0]?.resolve(m);
        else this.events.push(m);
      }
    });
  }

  request(command: string, args: Record<string, unknown> = {}): Promise<DapMessage> {
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, (m) => (m.success === true ? resolve(m) : reject(new Error(`${command}: ${m.message ?? 'failed'} ${JSON.stringify(m.body ?? {})}`))));
      const message = { seq, type: 'request', command, arguments: args } as DapMessage;
      this.tap('request', message);
      this.adapter.handleMessage(message);
    });
  }

  event(name: string, match: (m: DapMessage) => boolean = () => true): Promise<DapMessage> {
    const test = (m: DapMessage): boolean => m.event === name && match(m);
    const i = this.events.findIndex(test);
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0] as DapMessage);
    return new Promise((resolve) => this.eventWaiters.push({ match: test, resolve }));
  }

  /** Output events received so far (kept in the event queue), all or of one category. */
  output(category?: string): string {
    return this.events
      .filter((e) => e.event === 'output' && (category === undefined || e.body?.['category'] === category))
      .map((e) => String(e.body?.['output'] ?? ''))
      .join('');
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    p.then((v) => (clearTimeout(t), resolve(v)), (e: unknown) => (clearTimeout(t), reject(e)));
  });
}

type Variable = { name: string; value: string; variablesReference: number };

export async function runGuestThroughBundle(options: WebRunOptions): Promise<WebRunResult> {
  const fake = fakeVscode(options.files);
  const t0 = performance.now();
  const ext = loadBundle(options.bundle, fake.api);
  const t1 = performance.now();
  const subscriptions: { dispose(): unknown }[] = [];
  ext.activate({ subscriptions, extensionUri: FakeUri.file('/extension') });
  const activateMs = performance.now() - t1;
  const loadMs = t1 - t0;
  const commands = [...fake.state.commands.keys()].sort();

  const factory = fake.state.factories.get('hyperstep');
  if (factory === undefined) throw new Error('activation registered no debug adapter factory for hyperstep');
  const descriptor = factory.createDebugAdapterDescriptor();
  if (!(descriptor instanceof FakeInlineImplementation)) throw new Error('the adapter is not an inline implementation');
  const adapter = descriptor.implementation as InlineAdapter;
  const dap = new DapClient(adapter);
  const step = <T>(p: Promise<T>, what: string): Promise<T> => withTimeout(p, 60_000, what);

  await step(dap.request('initialize', { adapterID: 'hyperstep', clientID: 'web-harness', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true, supportsVariableType: true }), 'initialize');
  const launched = dap.request('launch', { type: 'hyperstep', request: 'launch', name: 'web', program: options.program, ...(options.launch ?? {}) });
  await step(dap.event('initialized'), 'the initialized event');
  await step(dap.request('setExceptionBreakpoints', { filters: options.filters }), 'setExceptionBreakpoints');
  await step(dap.request('configurationDone'), 'configurationDone');
  await step(launched, 'launch');
  const stoppedEvent = await step(dap.event('stopped'), 'a stop');
  const body = stoppedEvent.body ?? {};
  const threadId = Number(body['threadId'] ?? 1);
  const stopped = { reason: String(body['reason']), description: body['description'] as string | undefined, text: body['text'] as string | undefined, threadId };

  const info = await step(dap.request('exceptionInfo', { threadId }), 'exceptionInfo');
  const stack = await step(dap.request('stackTrace', { threadId }), 'stackTrace');
  const frames = (stack.body?.['stackFrames'] ?? []) as { id: number; name: string }[];
  const top = frames[0];
  if (top === undefined) throw new Error('no stack frames at the stop');
  const scopes = (await step(dap.request('scopes', { frameId: top.id }), 'scopes')).body?.['scopes'] as { name: string; variablesReference: number }[];
  const vmcs = scopes.find((s) => s.name === 'VMCS');
  if (vmcs === undefined) throw new Error(`no VMCS scope among ${scopes.map((s) => s.name).join(', ')}`);
  const children = async (ref: number): Promise<Variable[]> => (await step(dap.request('variables', { variablesReference: ref }), 'variables')).body?.['variables'] as Variable[];
  const groups = await children(vmcs.variablesReference);
  const exitInfo = groups.find((g) => g.name === 'VM-exit information fields');
  if (exitInfo === undefined) throw new Error(`no exit information group among ${groups.map((g) => g.name).join(', ')}`);
  const exitFields = await children(exitInfo.variablesReference);
  const reason = exitFields.find((v) => v.name.split(' ')[0] === 'VM_EXIT_REASON');
  if (reason === undefined) throw new Error(`no VM_EXIT_REASON among ${exitFields.map((v) => v.name).join(', ')}`);
  const evaluated = await step(dap.request('evaluate', { expression: 'vmcs VM_EXIT_REASON', context: 'repl', frameId: top.id }), 'evaluate');

  await step(dap.request('disconnect', { terminateDebuggee: true }), 'disconnect');
  adapter.dispose();
  for (const s of subscriptions) s.dispose();
  ext.deactivate?.();
  return {
    loadMs,
    activateMs,
    commands,
    stopped,
    exceptionId: String(info.body?.['exceptionId']),
    topFrame: top.name,
    vmcsExitReason: reason?.value ?? '(none)',
    evaluated: String(evaluated.body?.['result']),
    output: dap.output(),
  };
}

// The page and vm hosts call this global; the result crosses realms as JSON.
(globalThis as Record<string, unknown>)['hyperstepWebHarness'] = {
  run: async (json: string): Promise<string> => JSON.stringify(await runGuestThroughBundle(JSON.parse(json) as WebRunOptions)),
};
