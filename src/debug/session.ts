// The Hyperstep debug session (DAP) over a guest running on the simulated
// VT-x hypervisor or on the software VMM of the other techniques
// (trap-and-emulate, binary translation, paravirt): launch, breakpoints
// (source, function, instruction, conditions, hit counts, logpoints), VM-exit,
// virtualization-hole and VMM-trap filters as exception breakpoints,
// stepping, threads = vCPUs, stack with a frame for the exit, hole or trap,
// scopes and variables from src/debug/inspect, evaluate, memory and
// disassembly. The runtime (runtime.ts) does the running; this file speaks
// the protocol.
//
// No Node built-ins here: files come through the injected FileAccessor, so
// the session runs inline in the extension host, stand-alone on stdio
// (adapter.ts), in a browser, and in tests.

import { LoggingDebugSession, InitializedEvent, OutputEvent, TerminatedEvent, StoppedEvent, BreakpointEvent, Event, Response } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { FileAccessor } from './fileAccessor';
import { loadGuestProgram, errorText } from './guestProgram';
import { ConsoleText } from './consoleText';
import { LaunchError, launchWarnings, parseLaunchConfig, type LaunchConfig } from './launchConfig';
import { Runtime, type RunOutcome, type StepKind, type RuntimeStop } from './runtime';
import { buildTarget } from './runtimeLaunch';
import { compileExpr, formatHex } from './expr';
import { exitFilterDescriptions, filterIdFor, makeExitFilter, SPECIAL_FILTERS, type ExitFilter } from './runtimeExits';
import { eventExceptionInfo, eventSummary } from './runtimeEvents';
import { defaultInspector, type Inspector } from './runtimeInspect';
import { VariableStore } from './runtimeVariables';
import { BreakpointBook } from './runtimeBreakpoints';
import { DataBreakpointBook, dataBreakpointInfo, evaluatorAt, resolveTarget } from './dataBreakpoints';
import { stackFrames, threadList, frameVcpu } from './runtimeFrames';
import { disassembleAround, parseMemoryReference, readMemoryResponse, writeMemoryBytes } from './runtimeMemory';
import { REGISTER_NAMES, VIRTUAL_REGISTER_NAMES } from './runtimeState';
import type { DebugTarget } from './target';
import type { VmExit, VmStop } from '../vmm/vtx/index';
import type { SoftTrap } from '../vmm/soft/index';
import {
  EXIT_EVENT, SOFT_STATS_EVENT, STATE_EVENT, STATS_EVENT, TRAP_EVENT,
  type ExitBatchEventBody, type ExitEventBody, type HoleEventBody, type SoftStatsEventBody, type SourceLocation, type StateEventBody, type StatsEventBody, type TrapBatchEventBody, type TrapEventBody,
} from './protocol';

/** Exits (under a software technique: traps, and holes) the Hyperstep view receives per stop at most (the newest). */
const VIEW_EXITS = 200;

/** Error ids in DAP error responses. */
export const ErrorIds = {
  launch: 3001,
  unsupported: 3002,
  internal: 3003,
  alreadyLaunched: 3004,
  notStopped: 3005,
  badArguments: 3006,
  notLaunched: 3007,
} as const;

/** vCPU i is DAP thread i + 1 (thread ids must not be 0 in some clients). */
export const threadIdOf = (vcpu: number): number => vcpu + 1;
/** Kept for compatibility: the boot vCPU's thread. */
export const VCPU_THREAD_ID = 1;

type Handler = (response: DebugProtocol.Response, args: Record<string, unknown>) => void | Promise<void>;

export class HyperstepSession extends LoggingDebugSession {
  private runtime: Runtime | undefined;
  /** Exits since the previous stop, for the Hyperstep view. */
  private viewExits: VmExit[] = [];
  /** Under a software technique: traps into the VMM and holes since the previous stop, for the Hyperstep view. */
  private viewTraps: SoftTrap[] = [];
  private viewHoles: HoleEventBody[] = [];
  private launchConfig: LaunchConfig | undefined;
  private launchArgs: Record<string, unknown> | undefined;
  private loading: Promise<void> | undefined;
  private noDebug = false;
  private terminatedSent = false;
  private ended = false;
  private markConfigured: () => void = () => {};
  private readonly configured = new Promise<void>((resolve) => {
    this.markConfigured = resolve;
  });
  private readonly variables = new VariableStore();
  private readonly breakpoints = new BreakpointBook();
  private readonly dataBreakpoints = new DataBreakpointBook((m) => this.output(m + '\n', 'stderr'));
  private readonly previous = new Map<number, unknown>();
  private consoleText = new Map<string, ConsoleText>();
  private syncConsole: () => void = () => {};

  constructor(
    private readonly files: FileAccessor,
    private readonly inspector: Inspector = defaultInspector,
  ) {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
  }

  // ---- dispatch -----------------------------------------------------------

  private readonly handlers: Readonly<Record<string, Handler>> = {
    configurationDone: (r) => {
      this.sendResponse(r);
      this.markConfigured();
    },
    launch: (r, a) => this.launch(r, a),
    setBreakpoints: (r, a) => this.setBreakpoints(r, a as unknown as DebugProtocol.SetBreakpointsArguments),
    setFunctionBreakpoints: (r, a) => this.setOtherBreakpoints(r, 'function', (a['breakpoints'] as unknown[]) ?? []),
    setInstructionBreakpoints: (r, a) => this.setOtherBreakpoints(r, 'instruction', (a['breakpoints'] as unknown[]) ?? []),
    setExceptionBreakpoints: (r, a) => this.setExceptionBreakpoints(r, a as unknown as DebugProtocol.SetExceptionBreakpointsArguments),
    dataBreakpointInfo: (r, a) => this.dataBreakpointInfo(r, a),
    setDataBreakpoints: (r, a) => this.setDataBreakpoints(r, a),
    threads: (r) => {
      r.body = { threads: this.runtime ? threadList(this.runtime.target) : [] };
      this.sendResponse(r);
    },
    continue: (r, a) => this.resume(r, a, 'continue'),
    next: (r, a) => this.resume(r, a, a['granularity'] === 'instruction' ? 'instruction' : 'next'),
    stepIn: (r, a) => this.resume(r, a, a['granularity'] === 'instruction' ? 'instruction' : 'stepIn'),
    stepOut: (r, a) => this.resume(r, a, 'stepOut'),
    pause: (r) => {
      this.runtime?.pause();
      this.sendResponse(r);
    },
    stackTrace: (r, a) => this.stackTrace(r, a),
    scopes: (r, a) => this.scopes(r, a),
    variables: (r, a) => this.listVariables(r, a),
    setVariable: (r, a) => this.setVariable(r, a),
    evaluate: (r, a) => this.evaluate(r, a),
    completions: (r, a) => this.completions(r, a),
    exceptionInfo: (r, a) => this.exceptionInfo(r, a),
    readMemory: (r, a) => this.readMemory(r, a),
    writeMemory: (r, a) => this.writeMemory(r, a),
    disassemble: (r, a) => this.disassemble(r, a),
    restart: (r, a) => this.restartSession(r, a),
    terminate: (r) => {
      this.end();
      this.sendResponse(r);
      this.terminate();
    },
    disconnect: (r) => {
      this.end();
      this.sendResponse(r);
      this.shutdown();
    },
  };

  protected override dispatchRequest(request: DebugProtocol.Request): void {
    const response = new Response(request);
    if (request.command === 'initialize') {
      // pathFormat is optional in DAP and means 'path' when absent, but the
      // base class refuses an initialize that does not say so explicitly.
      const args = (typeof request.arguments === 'object' && request.arguments !== null ? request.arguments : {}) as DebugProtocol.InitializeRequestArguments;
      request.arguments = { ...args, pathFormat: args.pathFormat ?? 'path' };
      super.dispatchRequest(request);
      return;
    }
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, request.command) ? this.handlers[request.command] : undefined;
    if (handler === undefined) {
      this.fail(response, ErrorIds.unsupported, `Hyperstep does not support the '${String(request.command)}' request.`);
      return;
    }
    const args = typeof request.arguments === 'object' && request.arguments !== null && !Array.isArray(request.arguments) ? (request.arguments as Record<string, unknown>) : {};
    try {
      const p = handler(response, args);
      if (p instanceof Promise) p.catch((e: unknown) => this.fail(response, ErrorIds.internal, `${request.command}: ${errorText(e)}`));
    } catch (e) {
      this.fail(response, ErrorIds.internal, `${request.command}: ${errorText(e)}`);
    }
  }

  protected override initializeRequest(response: DebugProtocol.InitializeResponse): void {
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsTerminateRequest: true,
      supportsRestartRequest: true,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsFunctionBreakpoints: true,
      supportsInstructionBreakpoints: true,
      supportsDataBreakpoints: true,
      supportsDataBreakpointBytes: true,
      supportsSteppingGranularity: true,
      supportsExceptionInfoRequest: true,
      supportsExceptionFilterOptions: true,
      exceptionBreakpointFilters: exitFilterDescriptions(),
      supportsSetVariable: true,
      supportsValueFormattingOptions: true,
      supportsEvaluateForHovers: true,
      supportsCompletionsRequest: true,
      supportsReadMemoryRequest: true,
      supportsWriteMemoryRequest: true,
      supportsDisassembleRequest: true,
    };
    this.sendResponse(response);
    this.sendEvent(new InitializedEvent());
  }

  // ---- launch -------------------------------------------------------------

  private async launch(response: DebugProtocol.Response, args: Record<string, unknown>): Promise<void> {
    if (this.launchArgs !== undefined) {
      this.fail(response, ErrorIds.alreadyLaunched, 'This session has already launched a guest.');
      return;
    }
    this.launchArgs = args;
    let done: () => void = () => {};
    this.loading = new Promise<void>((resolve) => (done = resolve));
    try {
      const config = parseLaunchConfig(args);
      this.noDebug = args['noDebug'] === true;
      await this.createRuntime(config);
    } catch (e) {
      const id = e instanceof LaunchError ? ErrorIds.launch : ErrorIds.internal;
      const message = e instanceof LaunchError ? e.message : `Launch failed: ${errorText(e)}`;
      // Also in the debug console, where a long list of assembly errors stays readable.
      this.output(message + '\n', 'stderr');
      this.fail(response, id, message);
      this.launchArgs = undefined;
      done();
      return;
    }
    done();
    this.sendResponse(response);
    await this.configured;
    await this.startGuest();
  }

  /** Loads the program, builds the VM and the runtime, applies breakpoints and filters. */
  private async createRuntime(config: LaunchConfig): Promise<void> {
    const filters = (config.breakOnExits ?? []).map((e) => {
      const id = filterIdFor(e);
      const f = id === undefined ? undefined : makeExitFilter(id);
      if (f === undefined) throw new LaunchError(`'breakOnExits': ${JSON.stringify(e)} is not an exit reason the simulator produces, nor one of ${SPECIAL_FILTERS.map((x) => `"${x.id}"`).join(', ')}.`);
      return f;
    });
    const program = await loadGuestProgram(this.files, config);
    const built = await buildTarget(this.files, config, program);
    for (const w of [...launchWarnings(this.launchArgs ?? {}), ...program.warnings]) this.output(w + '\n', 'console');
    for (const n of built.notes) this.output(n + '\n', 'console');
    const target = built.target;
    const runtime = new Runtime(target, built.image, config.maxInstructions, {
      onLog: (text) => this.output(text.endsWith('\n') ? text : text + '\n', 'console'),
      onConditionError: (m) => this.output(m + '\n', 'stderr'),
    });
    this.consoleText = new Map();
    const showOutput = config.console?.output !== false;
    this.syncConsole = target.collectConsole((source, bytes) => {
      if (!showOutput) return;
      let t = this.consoleText.get(source);
      if (t === undefined) this.consoleText.set(source, (t = new ConsoleText()));
      this.output(t.push(bytes), 'stdout');
    });
    if (config.console?.traceExits === true) this.traceEvents(target);
    this.inspector.attach(target);
    // The Hyperstep view gets the exits since the previous stop, at most VIEW_EXITS of them.
    this.viewExits = [];
    target.vtx?.events.on('exit', (e) => {
      this.viewExits.push(e);
      if (this.viewExits.length > 2 * VIEW_EXITS) this.viewExits.splice(0, this.viewExits.length - VIEW_EXITS);
    });
    // Under a software technique, its traps and holes in their place (kept the same way, sent at stops).
    this.viewTraps = [];
    this.viewHoles = [];
    const soft = target.soft;
    if (soft !== null) {
      soft.events.on('trap', (t) => {
        this.viewTraps.push(t);
        if (this.viewTraps.length > 2 * VIEW_EXITS) this.viewTraps.splice(0, this.viewTraps.length - VIEW_EXITS);
      });
      soft.events.on('hole', (h) => {
        this.viewHoles.push({ ...h, sequence: soft.holes.length });
        if (this.viewHoles.length > 2 * VIEW_EXITS) this.viewHoles.splice(0, this.viewHoles.length - VIEW_EXITS);
      });
    }
    this.runtime = runtime;
    this.launchConfig = config;
    this.previous.clear();
    this.variables.reset();
    // Run Without Debugging runs the guest as is: no breakpoints, no exit filters.
    if (!this.noDebug) {
      this.breakpoints.attach(runtime);
      for (const bp of this.breakpoints.all()) this.sendEvent(new BreakpointEvent('changed', bp));
      this.dataBreakpoints.attach(runtime);
      for (const bp of this.dataBreakpoints.all()) this.sendEvent(new BreakpointEvent('changed', bp));
    }
    this.launchFilters = filters;
    this.applyExitFilters();
    if (this.ended) runtime.cancel();
  }

  /** console.traceExits: a line per VM exit, or under a software technique per trap and hole. */
  private traceEvents(target: DebugTarget): void {
    target.vtx?.events.on('exit', (e) => this.output(`exit #${e.sequence} vcpu${e.vcpu} ${e.reason} ${e.name} rip=${formatHex(e.rip)}${e.summary ? ` ${e.summary}` : ''} — ${e.why || '-'}\n`, 'console'));
    target.soft?.events.on('trap', (t) => this.output(`trap #${t.seq} vcpu${t.vcpu} ${t.key} rip=${formatHex(t.rip)} ${t.cycles} cycles\n`, 'console'));
    target.soft?.events.on('hole', (h) => this.output(`hole vcpu${h.vcpu} ${h.instruction} rip=${formatHex(h.rip)} — saw ${h.saw}; expected ${h.expected}\n`, 'console'));
  }

  /** Stops on entry or runs, once configurationDone has come. */
  private async startGuest(): Promise<void> {
    const runtime = this.runtime;
    const config = this.launchConfig;
    if (runtime === undefined || config === undefined || runtime.isCancelled) return;
    if (config.stopOnEntry && !this.noDebug) {
      this.reportStop({ reason: 'entry', vcpu: 0, description: 'Paused on entry', breakpointIds: [] });
      return;
    }
    await this.run(0, 'continue');
  }

  private async restartSession(response: DebugProtocol.Response, args: Record<string, unknown>): Promise<void> {
    const config = this.launchConfig;
    if (config === undefined || this.runtime === undefined) {
      this.fail(response, ErrorIds.notLaunched, 'Nothing to restart: no guest has been launched.');
      return;
    }
    this.runtime.cancel();
    try {
      // The client sends the launch configuration again, possibly edited; otherwise the first one is reused.
      const fresh = args['arguments'];
      if (typeof fresh === 'object' && fresh !== null && !Array.isArray(fresh)) this.launchArgs = fresh as Record<string, unknown>;
      await this.createRuntime(parseLaunchConfig(this.launchArgs ?? {}));
    } catch (e) {
      this.fail(response, e instanceof LaunchError ? ErrorIds.launch : ErrorIds.internal, e instanceof LaunchError ? e.message : `Restart failed: ${errorText(e)}`);
      return;
    }
    this.sendResponse(response);
    await this.startGuest();
  }

  private end(): void {
    this.ended = true;
    this.runtime?.cancel();
    this.runtime?.pause();
  }

  // ---- running ------------------------------------------------------------

  private vcpuOf(args: Record<string, unknown>): number | undefined {
    const rt = this.runtime;
    if (rt === undefined) return undefined;
    const t = args['threadId'];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > rt.target.vcpuCount) return undefined;
    return t - 1;
  }

  private resume(response: DebugProtocol.Response, args: Record<string, unknown>, kind: StepKind): void {
    const rt = this.runtime;
    if (rt === undefined) {
      this.fail(response, ErrorIds.notLaunched, 'No guest is running.');
      return;
    }
    if (rt.isRunning) {
      this.fail(response, ErrorIds.notStopped, 'The guest is already running.');
      return;
    }
    if (rt.isCancelled || this.terminatedSent) {
      this.fail(response, ErrorIds.notLaunched, 'The guest has ended; restart to run it again.');
      return;
    }
    const vcpu = this.vcpuOf(args);
    if (vcpu === undefined) {
      this.fail(response, ErrorIds.badArguments, `No thread ${JSON.stringify(args['threadId'])}: threads are the vCPUs, 1 to ${rt.target.vcpuCount}.`);
      return;
    }
    if (kind === 'continue') response.body = { allThreadsContinued: true };
    this.sendResponse(response);
    void this.run(vcpu, kind);
  }

  private async run(vcpu: number, kind: StepKind): Promise<void> {
    const rt = this.runtime;
    if (rt === undefined || rt.isRunning) return;
    this.variables.reset();
    this.rememberState(rt);
    this.dataBreakpoints.beforeRun();
    let outcome: RunOutcome;
    try {
      outcome = await rt.resume(vcpu, kind);
    } catch (e) {
      this.output(`Internal error: ${errorText(e)}\n`, 'stderr');
      this.terminate();
      return;
    }
    if (rt !== this.runtime) return; // restarted meanwhile
    this.syncConsole();
    if (outcome.kind === 'cancelled') return;
    if (outcome.kind === 'stopped') {
      this.reportStop(outcome.stop);
      return;
    }
    this.flushConsole();
    const post = rt.target.postCodes;
    if (post.length > 0) this.output(`POST codes (port 0x80): ${post.map((c) => hex(c, 2)).join(' ')}\n`, 'console');
    const cs = rt.target.cpu(0).seg[1].selector;
    const debugExit = (rt.target.vtx?.platform ?? rt.target.soft?.platform)?.debugExit.value ?? null;
    this.output(describeEnd(outcome.vmStop, outcome.instructions, cs) + '\n', isFailure(outcome.vmStop, debugExit) ? 'stderr' : 'console');
    this.publishView(0);
    this.terminate();
  }

  /** Register and VMCS values at this stop, for the next stop's "changed" highlighting. */
  private rememberState(rt: Runtime): void {
    for (let i = 0; i < rt.target.vcpuCount; i++) {
      try {
        this.previous.set(i, this.inspector.takeStopSnapshot(rt.target, i));
      } catch {
        this.previous.delete(i);
      }
    }
  }

  private reportStop(stop: RuntimeStop): void {
    if (this.runtime !== undefined) this.runtime.lastStop = stop;
    const event = new StoppedEvent(stop.reason, threadIdOf(stop.vcpu)) as DebugProtocol.StoppedEvent;
    event.body.allThreadsStopped = true;
    event.body.description = stop.description;
    const summary = stop.event !== undefined ? eventSummary(stop.event) : undefined;
    if (summary !== undefined) event.body.text = summary;
    if (stop.breakpointIds.length > 0) event.body.hitBreakpointIds = stop.breakpointIds;
    if (stop.reason !== 'step') this.output(`Stopped: ${stop.description}${summary !== undefined ? ` — ${summary}` : ''} (vCPU ${stop.vcpu}).\n`, 'console');
    this.publishView(stop.vcpu);
    this.sendEvent(event);
  }

  /**
   * The custom events of the Hyperstep view and status bar (protocol.ts): the
   * exits since the previous stop with their source lines, the statistics,
   * and the state of the vCPU the stop is about; under a software technique
   * the traps and holes and the VMM's statistics in their place.
   */
  private publishView(vcpu: number): void {
    const rt = this.runtime;
    if (rt === undefined) return;
    const vm = rt.target.vtx;
    if (vm === null) {
      this.publishSoftState(rt.target);
      return;
    }
    const exits = this.viewExits.slice(-VIEW_EXITS).map((e): ExitEventBody => {
      const c = vm.vcpus[e.vcpu].cpu;
      const linear = (c.seg[1].base + e.rip) >>> 0;
      const entry = rt.image.sourceMap?.lookup(linear);
      const onLine = entry !== undefined && linear < entry.address + Math.max(1, entry.length);
      return { ...e, ...(linear !== e.rip ? { linearRip: linear } : {}), ...(onLine ? { source: { path: entry.file, line: entry.line, column: Math.max(1, entry.column) } } : {}) };
    });
    this.viewExits = [];
    if (exits.length > 0) this.sendEvent(new Event(EXIT_EVENT, { exits } satisfies ExitBatchEventBody));
    this.sendEvent(new Event(STATS_EVENT, vm.stats.report() satisfies StatsEventBody));
    const c = vm.vcpus[vcpu].cpu;
    const state = vm.runState[vcpu];
    const mode = state === 'wait-for-sipi' ? 'wait-for-SIPI' : state === 'halted' ? 'halted' : (c.cr0 & 1) === 0 ? 'real' : (c.flags & 0x20000) !== 0 ? 'vm86' : (c.cr0 & 0x80000000) !== 0 ? 'paged' : 'protected';
    const body: StateEventBody = { vcpu, mode, cpl: c.cpl, nonRoot: true, exitCount: vm.stats.report().total, rip: c.eip >>> 0 };
    this.sendEvent(new Event(STATE_EVENT, body));
  }

  /**
   * Under a software technique: the traps into the VMM and the holes since the
   * previous stop with their source lines, the VMM's statistics, and the state
   * of the vCPU as the guest believes it.
   */
  private publishSoftState(target: DebugTarget): void {
    const vm = target.soft;
    const rt = this.runtime;
    if (vm === null || rt === undefined) return;
    // Trap and hole addresses are linear (CS.base + EIP), as the source map's.
    const sourceOf = (linear: number): { source: SourceLocation } | Record<string, never> => {
      const entry = rt.image.sourceMap?.lookup(linear);
      const onLine = entry !== undefined && linear < entry.address + Math.max(1, entry.length);
      return onLine ? { source: { path: entry.file, line: entry.line, column: Math.max(1, entry.column) } } : {};
    };
    const traps = this.viewTraps.slice(-VIEW_EXITS).map((t): TrapEventBody => ({ ...t, ...sourceOf(t.rip) }));
    const holes = this.viewHoles.slice(-VIEW_EXITS).map((h): HoleEventBody => ({ ...h, ...sourceOf(h.rip) }));
    this.viewTraps = [];
    this.viewHoles = [];
    if (traps.length > 0 || holes.length > 0) this.sendEvent(new Event(TRAP_EVENT, { technique: vm.technique, traps, holes } satisfies TrapBatchEventBody));
    this.sendEvent(new Event(SOFT_STATS_EVENT, { technique: vm.technique, ...vm.stats.report() } satisfies SoftStatsEventBody));
    vm.syncCpl();
    const mode = vm.v.halted ? 'halted' : vm.shadow.guestPaging ? 'paged' : 'protected';
    const body: StateEventBody = { vcpu: 0, mode, cpl: vm.v.cpl, nonRoot: false, exitCount: 0, technique: vm.technique, traps: vm.stats.traps, rip: vm.cpu.eip >>> 0 };
    this.sendEvent(new Event(STATE_EVENT, body));
  }

  private flushConsole(): void {
    for (const t of this.consoleText.values()) this.output(t.end(), 'stdout');
  }

  // ---- breakpoints --------------------------------------------------------

  private async setBreakpoints(response: DebugProtocol.Response, args: DebugProtocol.SetBreakpointsArguments): Promise<void> {
    if (this.loading !== undefined) await this.loading;
    const path = args?.source?.path;
    if (typeof path !== 'string') {
      this.fail(response, ErrorIds.badArguments, "setBreakpoints needs 'source.path'.");
      return;
    }
    const requested = Array.isArray(args.breakpoints) ? args.breakpoints : Array.isArray(args.lines) ? args.lines.map((line) => ({ line })) : [];
    response.body = { breakpoints: this.breakpoints.setSource(path, requested) };
    this.sendResponse(response);
  }

  private async setOtherBreakpoints(response: DebugProtocol.Response, kind: 'function' | 'instruction', requested: unknown[]): Promise<void> {
    if (this.loading !== undefined) await this.loading;
    if (!Array.isArray(requested)) {
      this.fail(response, ErrorIds.badArguments, "'breakpoints' must be an array.");
      return;
    }
    response.body = { breakpoints: kind === 'function' ? this.breakpoints.setFunctions(requested) : this.breakpoints.setInstructions(requested) };
    this.sendResponse(response);
  }

  private async setExceptionBreakpoints(response: DebugProtocol.Response, args: DebugProtocol.SetExceptionBreakpointsArguments): Promise<void> {
    if (this.loading !== undefined) await this.loading;
    const filters = Array.isArray(args.filters) ? args.filters : [];
    const options = Array.isArray(args.filterOptions) ? args.filterOptions : [];
    const result: DebugProtocol.Breakpoint[] = [];
    const made: ExitFilter[] = [];
    for (const entry of [...filters.map((filterId) => ({ filterId, condition: undefined as string | undefined })), ...options]) {
      const id = typeof entry?.filterId === 'string' ? entry.filterId : '';
      let condition;
      let message: string | undefined;
      if (typeof entry.condition === 'string' && entry.condition.trim() !== '') {
        try {
          condition = compileExpr(entry.condition);
        } catch (e) {
          message = `Condition: ${errorText(e)}`;
        }
      }
      const f = message === undefined ? makeExitFilter(id, condition) : undefined;
      if (f === undefined && message === undefined) message = `Unknown VM-exit filter '${id}'.`;
      if (f !== undefined) made.push(f);
      result.push({ verified: f !== undefined, ...(message ? { message } : {}) });
    }
    this.pendingFilters = made;
    this.applyExitFilters();
    response.body = { breakpoints: result };
    this.sendResponse(response);
  }

  private pendingFilters: ExitFilter[] = [];

  private async dataBreakpointInfo(response: DebugProtocol.Response, args: Record<string, unknown>): Promise<void> {
    if (this.loading !== undefined) await this.loading;
    const rt = this.runtime;
    const name = typeof args['name'] === 'string' ? args['name'] : '';
    const bytes = typeof args['bytes'] === 'number' && Number.isInteger(args['bytes']) && args['bytes'] > 0 ? args['bytes'] : undefined;
    const ref = args['variablesReference'];
    let text = name;
    if (typeof ref === 'number' && ref > 0) {
      // A variable: its evaluate name (VMCS fields: "vmcs GUEST_RIP"), else its memory reference, else its name.
      const v = this.variables.children(ref, { hex: true })?.find((x) => x.name === name);
      text = v?.evaluateName ?? v?.memoryReference ?? name;
    }
    const vcpu = (typeof args['frameId'] === 'number' && rt !== undefined ? frameVcpu(rt, args['frameId']) : undefined) ?? rt?.lastStop?.vcpu ?? 0;
    const canEvaluate = rt !== undefined && !rt.isRunning;
    response.body = dataBreakpointInfo(resolveTarget(text, bytes, canEvaluate ? evaluatorAt(rt, vcpu) : undefined, args['asAddress'] === true));
    this.sendResponse(response);
  }

  private async setDataBreakpoints(response: DebugProtocol.Response, args: Record<string, unknown>): Promise<void> {
    if (this.loading !== undefined) await this.loading;
    const requested = args['breakpoints'];
    if (!Array.isArray(requested)) {
      this.fail(response, ErrorIds.badArguments, "'breakpoints' must be an array.");
      return;
    }
    response.body = { breakpoints: this.dataBreakpoints.set(requested as DebugProtocol.DataBreakpoint[]) };
    this.sendResponse(response);
  }

  /** The filters of the Breakpoints view plus the launch's breakOnExits. */
  private applyExitFilters(): void {
    const byId = new Map<string, ExitFilter>();
    for (const f of [...this.launchFilters, ...this.pendingFilters]) byId.set(f.id, f);
    this.runtime?.setExitFilters(this.noDebug ? [] : [...byId.values()]);
  }

  private launchFilters: ExitFilter[] = [];

  // ---- stack, scopes, variables -------------------------------------------

  private stopped(response: DebugProtocol.Response): Runtime | undefined {
    const rt = this.runtime;
    if (rt === undefined) {
      this.fail(response, ErrorIds.notLaunched, 'No guest has been launched.');
      return undefined;
    }
    if (rt.isRunning) {
      this.fail(response, ErrorIds.notStopped, 'The guest is running; pause it first.');
      return undefined;
    }
    return rt;
  }

  private stackTrace(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const rt = this.stopped(response);
    if (rt === undefined) return;
    const vcpu = this.vcpuOf(args);
    if (vcpu === undefined) {
      this.fail(response, ErrorIds.badArguments, `No thread ${JSON.stringify(args['threadId'])}.`);
      return;
    }
    const frames = stackFrames(rt, vcpu);
    const start = typeof args['startFrame'] === 'number' ? args['startFrame'] : 0;
    const levels = typeof args['levels'] === 'number' && args['levels'] > 0 ? args['levels'] : frames.length;
    response.body = { stackFrames: frames.slice(start, start + levels), totalFrames: frames.length };
    this.sendResponse(response);
  }

  private scopes(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const rt = this.stopped(response);
    if (rt === undefined) return;
    const frameId = args['frameId'];
    const vcpu = typeof frameId === 'number' ? frameVcpu(rt, frameId) : undefined;
    if (vcpu === undefined || typeof frameId !== 'number') {
      this.fail(response, ErrorIds.badArguments, `No stack frame ${JSON.stringify(frameId)}.`);
      return;
    }
    // The VM-exit (hole, trap) scope goes with every frame of the vCPU that stopped there, not only its
    // frame: clients may not let the user select a frame presented as a label.
    const sources = this.inspector.scopes(rt.target, vcpu, rt.lastStop, this.previous.get(vcpu));
    response.body = { scopes: sources.map((s) => ({ name: s.name, presentationHint: s.hint, expensive: s.expensive, variablesReference: this.variables.addScope(s.build) })) };
    this.sendResponse(response);
  }

  private listVariables(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const ref = args['variablesReference'];
    const fmt = args['format'] as DebugProtocol.ValueFormat | undefined;
    const start = typeof args['start'] === 'number' ? args['start'] : undefined;
    const count = typeof args['count'] === 'number' ? args['count'] : undefined;
    const vars = typeof ref === 'number' ? this.variables.children(ref, { hex: fmt?.hex !== false }, start, count) : undefined;
    if (vars === undefined) {
      this.fail(response, ErrorIds.badArguments, `No variables for reference ${JSON.stringify(ref)} (references last until the guest runs again).`);
      return;
    }
    response.body = { variables: vars };
    this.sendResponse(response);
  }

  private setVariable(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const rt = this.stopped(response);
    if (rt === undefined) return;
    const { variablesReference: ref, name, value } = args;
    if (typeof ref !== 'number' || typeof name !== 'string' || typeof value !== 'string') {
      this.fail(response, ErrorIds.badArguments, "setVariable needs 'variablesReference', 'name' and 'value'.");
      return;
    }
    try {
      const shown = this.variables.set(ref, name, value);
      response.body = { value: shown };
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, ErrorIds.badArguments, errorText(e));
    }
  }

  // ---- evaluate -----------------------------------------------------------

  private evaluate(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const rt = this.stopped(response);
    if (rt === undefined) return;
    const text = args['expression'];
    if (typeof text !== 'string') {
      this.fail(response, ErrorIds.badArguments, "evaluate needs an 'expression'.");
      return;
    }
    const frameId = args['frameId'];
    const vcpu = typeof frameId === 'number' ? frameVcpu(rt, frameId) ?? 0 : 0;
    const fmt = { hex: (args['format'] as DebugProtocol.ValueFormat | undefined)?.hex !== false };
    try {
      if (this.inspector.isCommand(text)) {
        const r = this.inspector.evaluateCommand(rt.target, vcpu, text, fmt);
        response.body = { result: r.result, variablesReference: r.node ? this.variables.addNode(r.node) : 0 };
      } else {
        const v = compileExpr(text).evaluate(rt.context(vcpu));
        response.body = { result: fmt.hex ? formatHex(v) : String(v), variablesReference: 0 };
      }
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, ErrorIds.badArguments, errorText(e));
    }
  }

  private completions(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const text = typeof args['text'] === 'string' ? args['text'] : '';
    const column = typeof args['column'] === 'number' ? args['column'] : text.length + 1;
    const before = text.slice(0, Math.max(0, column - 1));
    let commands: string[] = [];
    try {
      commands = this.inspector.completions(before, this.runtime?.target);
    } catch {
      commands = [];
    }
    const word = /[A-Za-z_.][A-Za-z0-9_.]*$/.exec(before)?.[0] ?? '';
    const known = (this.runtime?.target.soft ?? null) !== null ? [...REGISTER_NAMES, ...VIRTUAL_REGISTER_NAMES] : REGISTER_NAMES;
    const names = word === '' ? [] : known.filter((n) => n.startsWith(word.toLowerCase()) && n !== word);
    response.body = { targets: [...commands.map((label) => ({ label, start: 0, length: before.length })), ...names.map((label) => ({ label, type: 'variable' as const, start: column - 1 - word.length, length: word.length }))] };
    this.sendResponse(response);
  }

  private exceptionInfo(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const rt = this.stopped(response);
    if (rt === undefined) return;
    const stop = rt.lastStop;
    const vcpu = this.vcpuOf(args);
    if (stop === null || stop.reason !== 'exception' || vcpu !== stop.vcpu) {
      this.fail(response, ErrorIds.badArguments, `The thread is not stopped at ${rt.target.vtx !== null ? 'a VM exit' : 'a virtualization hole or a VMM trap'}.`);
      return;
    }
    const info = stop.event !== undefined ? eventExceptionInfo(stop.event) : undefined;
    response.body = {
      exceptionId: info?.exceptionId ?? stop.filterId ?? 'vm-stop',
      description: info?.description ?? `${stop.description}: ${stop.vmStop?.message ?? ''}`,
      breakMode: 'always',
      details: { message: info?.details ?? stop.vmStop?.message ?? stop.description, typeName: info?.typeName ?? stop.description },
    };
    this.sendResponse(response);
  }

  // ---- memory and disassembly ---------------------------------------------

  private readMemory(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const rt = this.stopped(response);
    if (rt === undefined) return;
    try {
      response.body = readMemoryResponse(rt, args);
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, ErrorIds.badArguments, errorText(e));
    }
  }

  private writeMemory(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const rt = this.stopped(response);
    if (rt === undefined) return;
    try {
      const written = writeMemoryBytes(rt, args);
      response.body = { bytesWritten: written };
      this.sendResponse(response);
      this.variables.reset();
    } catch (e) {
      this.fail(response, ErrorIds.badArguments, errorText(e));
    }
  }

  private disassemble(response: DebugProtocol.Response, args: Record<string, unknown>): void {
    const rt = this.stopped(response);
    if (rt === undefined) return;
    try {
      const ref = parseMemoryReference(args['memoryReference']);
      const offset = typeof args['offset'] === 'number' ? args['offset'] : 0;
      const count = args['instructionCount'];
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 10_000) throw new Error("'instructionCount' must be an integer from 0 to 10000.");
      const instructionOffset = typeof args['instructionOffset'] === 'number' ? args['instructionOffset'] : 0;
      const vcpu = rt.lastStop?.vcpu ?? 0;
      response.body = { instructions: disassembleAround(rt, vcpu, ref.space, (ref.address + offset) >>> 0, instructionOffset, count, args['resolveSymbols'] !== false) };
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, ErrorIds.badArguments, errorText(e));
    }
  }

  // ---- plumbing -----------------------------------------------------------

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

const hex = (n: number, digits: number): string => (n >>> 0).toString(16).toUpperCase().padStart(digits, '0');

/**
 * A stop the user should see as a failure. A debug-exit shutdown counts the value the guest wrote
 * (0 is success), not the status (value << 1) | 1 the stop reports, as `hyperstep run` does.
 */
export function isFailure(stop: Pick<VmStop, 'reason' | 'code'>, debugExitValue: number | null = null): boolean {
  if (stop.reason === 'shutdown') return debugExitValue !== null ? debugExitValue !== 0 : stop.code !== undefined && stop.code !== 0;
  return stop.reason === 'triple-fault' || stop.reason === 'error' || stop.reason === 'limit' || stop.reason === 'unhandled-exit';
}

/** One line saying how the guest ended, for the debug console. */
export function describeEnd(stop: VmStop, instructions: number, cs: number): string {
  const count = `${instructions.toLocaleString('en-US')} instruction${instructions === 1 ? '' : 's'}`;
  const detail = stop.message ? `: ${stop.message.replace(/\.$/, '')}` : '';
  const code = stop.reason === 'shutdown' && stop.code !== undefined ? ` with code ${stop.code}` : '';
  return `Guest stopped (${stop.reason}${code}) after ${count} at CS:EIP ${hex(cs, 4)}:${hex(stop.rip, 8)}${detail}.`;
}
