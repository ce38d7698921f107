// A minimal DAP client for tests: Content-Length framing over a pair of
// streams, requests matched to responses by sequence number, and every
// event kept in arrival order so tests can wait for one or check ordering.

import type { Readable, Writable } from 'node:stream';
import type { DebugProtocol } from '@vscode/debugprotocol';

export type Message = DebugProtocol.Response | DebugProtocol.Event;

export class DapClient {
  /** Every response and event received, in order. */
  readonly received: Message[] = [];
  private seq = 1;
  private buffer = Buffer.alloc(0);
  private readonly pending = new Map<number, (r: DebugProtocol.Response) => void>();
  private waiters: { test: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];

  constructor(
    private readonly toAdapter: Writable,
    fromAdapter: Readable,
  ) {
    fromAdapter.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  request(command: string, args?: object): Promise<DebugProtocol.Response> {
    const seq = this.seq++;
    const msg: DebugProtocol.Request = { seq, type: 'request', command, ...(args ? { arguments: args } : {}) };
    const json = JSON.stringify(msg);
    const answer = new Promise<DebugProtocol.Response>((resolve) => this.pending.set(seq, resolve));
    this.toAdapter.write(`Content-Length: ${Buffer.byteLength(json, 'utf8')}\r\n\r\n${json}`, 'utf8');
    return answer;
  }

  /** The first event of that name received so far, or the next one to arrive. */
  event(name: string): Promise<DebugProtocol.Event> {
    const test = (m: Message): boolean => m.type === 'event' && (m as DebugProtocol.Event).event === name;
    const seen = this.received.find(test);
    if (seen) return Promise.resolve(seen as DebugProtocol.Event);
    return new Promise((resolve) => this.waiters.push({ test, resolve: (m) => resolve(m as DebugProtocol.Event) }));
  }

  events(name: string): DebugProtocol.Event[] {
    return this.received.filter((m): m is DebugProtocol.Event => m.type === 'event' && (m as DebugProtocol.Event).event === name);
  }

  outputs(category?: string): DebugProtocol.OutputEvent[] {
    return (this.events('output') as DebugProtocol.OutputEvent[]).filter((e) => category === undefined || e.body.category === category);
  }

  /** All output text of a category, concatenated. */
  outputText(category?: string): string {
    return this.outputs(category)
      .map((e) => e.body.output)
      .join('');
  }

  /** initialize, as VS Code sends it. */
  initialize(): Promise<DebugProtocol.Response> {
    return this.request('initialize', {
      clientID: 'test',
      adapterID: 'hyperstep',
      linesStartAt1: true,
      columnsStartAt1: true,
      pathFormat: 'path',
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const header = this.buffer.subarray(0, headerEnd).toString('ascii');
      const m = /Content-Length:\s*(\d+)/i.exec(header);
      if (!m) throw new Error(`bad DAP header: ${header}`);
      const length = Number(m[1]);
      const start = headerEnd + 4;
      if (this.buffer.length < start + length) return;
      const body = this.buffer.subarray(start, start + length).toString('utf8');
      this.buffer = this.buffer.subarray(start + length);
      this.dispatch(JSON.parse(body) as DebugProtocol.ProtocolMessage);
    }
  }

  private dispatch(raw: DebugProtocol.ProtocolMessage): void {
    if (raw.type === 'request') return; // reverse requests are not used by this adapter
    const msg = raw as Message;
    this.received.push(msg);
    if (msg.type === 'response') {
      const r = msg as DebugProtocol.Response;
      this.pending.get(r.request_seq)?.(r);
      this.pending.delete(r.request_seq);
    }
    const ready = this.waiters.filter((w) => w.test(msg));
    this.waiters = this.waiters.filter((w) => !w.test(msg));
    for (const w of ready) w.resolve(msg);
  }
}
