// The Hyperstep debug session (DAP). This release launches a guest and runs
// it to a stop: the guest's console goes to the debug console, then a line
// saying how it stopped, then `terminated`. Breakpoints, stepping and
// inspection come later; until then the session advertises only what it
// does and answers every other request with an error.
//
// No Node built-ins here: files come through the injected FileAccessor, so
// the session runs inline in the extension host, stand-alone on stdio
// (adapter.ts), in a browser, and in tests.

import { LoggingDebugSession, InitializedEvent, OutputEvent, TerminatedEvent, Thread, Response } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { FileAccessor } from './fileAccessor';
import { loadGuestProgram, errorText } from './guestProgram';
import { bootGuest, describeStop, GuestRun, type ConsoleChannel } from './guestRun';
import { ConsoleText } from './consoleText';
import { LaunchError, parseLaunchConfig } from './launchConfig';

/** The guest's only virtual CPU, as the one DAP thread. */
export const VCPU_THREAD_ID = 1;

/** Error ids in DAP error responses. */
export const ErrorIds = {
  launch: 3001,
  unsupported: 3002,
  internal: 3003,
  alreadyLaunched: 3004,
} as const;

/** Requests this session answers; everything else gets an error response. */
const SUPPORTED = new Set([
  'initialize',
  'launch',
  'configurationDone',
  'threads',
  'disconnect',
  'terminate',
  'setBreakpoints',
  'setExceptionBreakpoints',
]);

export class HyperstepSession extends LoggingDebugSession {
  private launched = false;
  private run: GuestRun | undefined;
  private terminatedSent = false;
  /** Set by terminate and disconnect: no guest runs after that. */
  private ended = false;
  private markConfigured: () => void = () => {};
  private readonly configured = new Promise<void>((resolve) => {
    this.markConfigured = resolve;
  });

  constructor(private readonly files: FileAccessor) {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
  }

  protected override dispatchRequest(request: DebugProtocol.Request): void {
    if (request.command === 'initialize') {
      // pathFormat is optional in DAP and means 'path' when absent, but the
      // base class refuses an initialize that does not say so explicitly.
      const args = (request.arguments ?? {}) as DebugProtocol.InitializeRequestArguments;
      request.arguments = { ...args, pathFormat: args.pathFormat ?? 'path' };
    }
    if (SUPPORTED.has(request.command)) {
      super.dispatchRequest(request);
      return;
    }
    this.fail(new Response(request), ErrorIds.unsupported, `Hyperstep does not support the '${request.command}' request yet.`);
  }

  protected override initializeRequest(response: DebugProtocol.InitializeResponse): void {
    // Only what this release does: it waits for configurationDone before
    // running, and terminate ends a running guest.
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsTerminateRequest: true,
    };
    this.sendResponse(response);
    this.sendEvent(new InitializedEvent());
  }

  protected override configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.sendResponse(response);
    this.markConfigured();
  }

  /** Breakpoints cannot be honoured yet: report each one unverified, with the reason. */
  protected override setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    const requested = args.breakpoints ?? (args.lines ?? []).map((line) => ({ line }));
    response.body = {
      breakpoints: requested.map((bp) => ({
        verified: false,
        line: bp.line,
        message: 'Breakpoints are not supported in this version of Hyperstep: the guest runs to completion.',
      })),
    };
    this.sendResponse(response);
  }

  protected override setExceptionBreakPointsRequest(
    response: DebugProtocol.SetExceptionBreakpointsResponse,
    args: DebugProtocol.SetExceptionBreakpointsArguments,
  ): void {
    // No exception filters are advertised, so the only valid request sets none.
    if ((args.filters?.length ?? 0) > 0 || (args.filterOptions?.length ?? 0) > 0) {
      this.fail(response, ErrorIds.unsupported, 'Hyperstep has no exception breakpoint filters.');
      return;
    }
    this.sendResponse(response);
  }

  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    response.body = { threads: [new Thread(VCPU_THREAD_ID, 'vCPU 0')] };
    this.sendResponse(response);
  }

  protected override launchRequest(response: DebugProtocol.LaunchResponse, args: DebugProtocol.LaunchRequestArguments): void {
    this.launch(response, args).catch((e: unknown) => {
      // launch() answers the request itself; this only guards against a bug there.
      this.output(`Internal error: ${errorText(e)}\n`, 'stderr');
      this.terminate();
    });
  }

  private async launch(response: DebugProtocol.LaunchResponse, args: DebugProtocol.LaunchRequestArguments): Promise<void> {
    if (this.launched) {
      this.fail(response, ErrorIds.alreadyLaunched, 'This session has already launched a guest.');
      return;
    }
    this.launched = true;
    let run: GuestRun;
    let stopOnEntry: boolean;
    const text: Record<ConsoleChannel, ConsoleText> = { com1: new ConsoleText(), e9: new ConsoleText() };
    try {
      const config = parseLaunchConfig(args as Record<string, unknown>);
      // Run Without Debugging has nothing to stop at, so the note below would be noise.
      stopOnEntry = config.stopOnEntry && args.noDebug !== true;
      const program = await loadGuestProgram(this.files, config);
      const { machine } = bootGuest(program, config);
      for (const w of program.warnings) this.output(w + '\n', 'console');
      run = new GuestRun(machine, {
        maxInstructions: config.maxInstructions,
        onConsole: (channel, bytes) => this.output(text[channel].push(bytes), 'stdout'),
      });
    } catch (e) {
      const id = e instanceof LaunchError ? ErrorIds.launch : ErrorIds.internal;
      const message = e instanceof LaunchError ? e.message : `Launch failed: ${errorText(e)}`;
      // Also in the debug console, where a long list of assembly errors stays readable.
      this.output(message + '\n', 'stderr');
      this.fail(response, id, message);
      this.launched = false;
      return;
    }
    this.sendResponse(response);
    this.run = run;
    // terminate or disconnect may have come while the program was loading.
    if (this.ended) run.cancel();

    await this.configured;
    if (run.isCancelled) return;
    if (stopOnEntry) {
      this.output('stopOnEntry: stepping is not available in this version of Hyperstep; running the guest to completion.\n', 'console');
    }
    const result = await run.run();
    for (const t of Object.values(text)) this.output(t.end(), 'stdout');
    if (result.cancelled) return;
    const post = run.machine.console.post;
    if (post.length > 0) {
      const codes = post.map((c) => c.toString(16).toUpperCase().padStart(2, '0')).join(' ');
      this.output(`POST codes (port 0x80): ${codes}\n`, 'console');
    }
    const failed = result.stop.reason === 'triple-fault' || result.stop.reason === 'error' || result.stop.reason === 'limit';
    this.output(describeStop(result) + '\n', failed ? 'stderr' : 'console');
    this.terminate();
  }

  protected override terminateRequest(response: DebugProtocol.TerminateResponse): void {
    this.ended = true;
    this.run?.cancel();
    this.sendResponse(response);
    this.terminate();
  }

  protected override disconnectRequest(response: DebugProtocol.DisconnectResponse): void {
    this.ended = true;
    this.run?.cancel();
    this.sendResponse(response);
    this.shutdown();
  }

  private terminate(): void {
    if (this.terminatedSent) return;
    this.terminatedSent = true;
    this.sendEvent(new TerminatedEvent());
  }

  private output(text: string, category: 'console' | 'stdout' | 'stderr'): void {
    if (text.length > 0) this.sendEvent(new OutputEvent(text, category));
  }

  /** An error response whose message is shown to the user verbatim. */
  private fail(response: DebugProtocol.Response, id: number, message: string): void {
    // The message goes in as a variable so braces in it are not taken as format fields.
    this.sendErrorResponse(response, { id, format: '{_message}', variables: { _message: message }, showUser: true });
  }
}
