// Custom DAP events the session sends for the Hyperstep view and the status
// bar: under VT-x the VM exits and exit statistics, under a software technique
// the traps into the VMM, the virtualization holes and the VMM's statistics
// (docs/debugger-views.md, "The Hyperstep view's events"). The session
// (session.ts) emits them at stops with `sendEvent(new Event(name, body))`;
// the extension receives them through
// `vscode.debug.onDidReceiveDebugSessionCustomEvent`. Only types and names
// live here, so both sides can import this file without pulling in vscode.

import type { VmExit } from '../vmm/vtx/exit-info';
import type { ExitStatsReport } from '../vmm/vtx/stats';
import type { HoleEvent, SoftStatsReport, SoftTrap } from '../vmm/soft/index';

export const EXIT_EVENT = 'hyperstep/exit';
export const STATS_EVENT = 'hyperstep/stats';
export const STATE_EVENT = 'hyperstep/state';
/** The software techniques' counterpart of `hyperstep/exit`: traps into the VMM and virtualization holes. */
export const TRAP_EVENT = 'hyperstep/traps';
/** The software techniques' counterpart of `hyperstep/stats`. */
export const SOFT_STATS_EVENT = 'hyperstep/softStats';

/** Where a guest address comes from in the program's sources (1-based line and column). */
export interface SourceLocation {
  path: string;
  line: number;
  column?: number;
}

/**
 * `hyperstep/exit`: one VM exit, the engine's `VmExit` record as is, plus the
 * source line of `rip` when the source map knows it. Sent as the exit happens
 * (the session may batch: `exits` carries several in sequence order).
 */
export interface ExitEventBody extends VmExit {
  source?: SourceLocation;
  /** CS.base + rip, when it differs from rip (real mode with CS != 0, segmented code): what the view disassembles. */
  linearRip?: number;
}

/** `hyperstep/exit` may also carry a batch, oldest first. */
export interface ExitBatchEventBody {
  exits: ExitEventBody[];
}

/** `hyperstep/stats`: `vm.stats.report()` at a stop (or end of run). */
export type StatsEventBody = ExitStatsReport;

/**
 * One trap into the software VMM, the `SoftVm` 'trap' event as is (`seq`, `key`
 * such as "#GP: cli", "#PF: shadow fill", "interrupt: vector 0x20",
 * "hypercall: IRQ_DISABLE"; `rip` linear; modelled `cycles`), plus the source
 * line of `rip` when the source map knows it.
 */
export interface TrapEventBody extends SoftTrap {
  source?: SourceLocation;
}

/**
 * One virtualization hole, the `SoftVm` 'hole' event as is (`rip` linear,
 * `instruction`, what the guest `saw` against what it `expected`, `why`),
 * with its number from 1 in the run and the source line of `rip`.
 */
export interface HoleEventBody extends HoleEvent {
  sequence: number;
  source?: SourceLocation;
}

/**
 * `hyperstep/traps`: under a software technique, the traps and holes since the
 * previous stop, oldest first, at most the newest 200 of each. Sent at a stop
 * (or the end of the run) before `hyperstep/softStats` and `hyperstep/state`,
 * only when there is at least one; never while the guest runs.
 */
export interface TrapBatchEventBody {
  /** "trap-and-emulate", "binary-translation" or "paravirt". */
  technique: string;
  traps: TrapEventBody[];
  holes: HoleEventBody[];
}

/**
 * `hyperstep/softStats`: `vm.stats.report()` of the software VMM at a stop (or
 * end of run): traps by kind (callouts as "callout: MNEMONIC"), holes, the
 * translator's figures, hypercalls, shadow-root switches, modelled cycles.
 */
export interface SoftStatsEventBody extends SoftStatsReport {
  technique: string;
}

/** Operating mode of a vCPU as the status bar shows it. */
export type GuestModeName = 'real' | 'protected' | 'paged' | 'vm86' | 'long' | 'wait-for-SIPI' | 'halted';

/** `hyperstep/state`: sent on every stop, for the vCPU the stop is about. */
export interface StateEventBody {
  vcpu: number;
  /** Short mode name, e.g. "real", "protected", "paged". */
  mode: GuestModeName | string;
  /** Current privilege level 0..3. */
  cpl: number;
  /** VMX non-root (guest) or root (the VMM). */
  nonRoot: boolean;
  /** Exits of the whole VM so far. */
  exitCount: number;
  /** Instructions executed so far, all vCPUs. */
  instructions?: number;
  /** CS:EIP text or the linear RIP of the vCPU. */
  rip?: number;
  /** The technique, when it is not VT-x ("trap-and-emulate", "binary-translation", "paravirt"): no VMX, no VM exits. */
  technique?: string;
  /** Traps into the software VMM so far (its counterpart of the exits). */
  traps?: number;
}

export type HyperstepEventName = typeof EXIT_EVENT | typeof STATS_EVENT | typeof STATE_EVENT | typeof TRAP_EVENT | typeof SOFT_STATS_EVENT;

/** Every `hyperstep/*` event's body, keyed by event name. */
export interface HyperstepEventBodies {
  [EXIT_EVENT]: ExitEventBody | ExitBatchEventBody;
  [STATS_EVENT]: StatsEventBody;
  [STATE_EVENT]: StateEventBody;
  [TRAP_EVENT]: TrapBatchEventBody;
  [SOFT_STATS_EVENT]: SoftStatsEventBody;
}
