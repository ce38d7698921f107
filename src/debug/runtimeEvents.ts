// The events exception filters look at, whichever VMM runs the guest: VM
// exits (runtimeExits.ts) and, under the software techniques,
// virtualization holes and traps into the VMM. Here: the fields conditions
// read, whether a filter matches, and how a stop at one is named and
// explained (stopped event, its frame, exceptionInfo).

import type { HoleEvent, SoftTrap } from '../vmm/soft/index';
import { EXC_NAMES } from '../x86/cpu/fault';
import type { ExprContext } from './expr';
import { exitDetails, exitFieldValue, exitFrameName, matchesExitFilter, type ExitFilter } from './runtimeExits';
import type { DebugTarget, TargetEvent } from './target';

export const HOLE_FILTER = 'virtualization-hole';
export const TRAP_FILTER = 'vmm-trap';

/** Number fields of a hole and of a trap, for filter conditions and the debug console. */
export const HOLE_FIELDS = ['rip', 'length', 'vcpu'] as const;
export const TRAP_FIELDS = ['rip', 'vector', 'cycles', 'seq', 'vcpu'] as const;
/** Text fields: compared with quoted strings (`kind == "#GP"`). */
export const HOLE_TEXT_FIELDS = ['instruction'] as const;
export const TRAP_TEXT_FIELDS = ['kind', 'detail'] as const;

const SOFT_FIELD_NAMES: readonly string[] = [...new Set<string>([...HOLE_FIELDS, ...TRAP_FIELDS, ...HOLE_TEXT_FIELDS, ...TRAP_TEXT_FIELDS])];

const hex = (n: number, digits = 8): string => `0x${(n >>> 0).toString(16).toUpperCase().padStart(digits, '0')}`;
const EXCEPTION_VECTORS: ReadonlyMap<string, number> = new Map(Object.entries(EXC_NAMES).map(([v, name]) => [name, Number(v)]));
const HYPERCALL_VECTOR = 0x82;

/**
 * A trap's key split into its kind and detail, and the vector it is about:
 * "#GP: cli" is #GP / cli / 13, "int 0x80" is int / 0x80 / 0x80,
 * "interrupt: vector 0x20" is interrupt / vector 0x20 / 0x20, "hypercall:
 * CONSOLE_WRITE" is hypercall / CONSOLE_WRITE / 0x82; -1 when none.
 */
export function trapParts(key: string): { kind: string; detail: string; vector: number } {
  const int = /^int (0x[0-9a-f]+)$/i.exec(key);
  if (int !== null) return { kind: 'int', detail: int[1], vector: Number(int[1]) };
  const at = key.indexOf(': ');
  const kind = at < 0 ? key : key.slice(0, at);
  const detail = at < 0 ? '' : key.slice(at + 2);
  const irq = /^vector (0x[0-9a-f]+)$/i.exec(detail);
  const vector = kind === 'interrupt' && irq !== null ? Number(irq[1]) : kind === 'hypercall' ? HYPERCALL_VECTOR : EXCEPTION_VECTORS.get(kind) ?? -1;
  return { kind, detail, vector };
}

function holeField(h: HoleEvent, name: string): number | undefined {
  switch (name) {
    case 'rip':
      return h.rip >>> 0;
    case 'length':
      return h.length;
    case 'vcpu':
      return h.vcpu;
    default:
      return undefined;
  }
}

function trapField(t: SoftTrap, name: string): number | undefined {
  switch (name) {
    case 'rip':
      return t.rip >>> 0;
    case 'vector':
      return trapParts(t.key).vector;
    case 'cycles':
      return t.cycles;
    case 'seq':
      return t.seq;
    case 'vcpu':
      return t.vcpu;
    default:
      return undefined;
  }
}

/**
 * A number field of the event a vCPU is stopped at (or a condition is
 * evaluated at); undefined when `name` is not one; throws when it is one and
 * there is no such event.
 */
export function eventFieldValue(target: DebugTarget, event: TargetEvent | undefined, name: string): number | undefined {
  if (event?.kind === 'hole') return holeField(event.hole, name);
  if (event?.kind === 'trap') return trapField(event.trap, name);
  if (target.vtx !== null) return exitFieldValue(target.vtx, event?.exit, name);
  noEvent(name);
  return undefined;
}

/** A text field of the event (a trap's `kind` and `detail`, a hole's `instruction`); undefined when `name` is not one. */
export function eventTextField(target: DebugTarget, event: TargetEvent | undefined, name: string): string | undefined {
  if (event?.kind === 'hole') return name === 'instruction' ? event.hole.instruction : undefined;
  if (event?.kind === 'trap') {
    const p = trapParts(event.trap.key);
    return name === 'kind' ? p.kind : name === 'detail' ? p.detail : undefined;
  }
  if (target.soft !== null) noEvent(name);
  return undefined;
}

function noEvent(name: string): void {
  if (SOFT_FIELD_NAMES.includes(name)) throw new Error(`'${name}' is a field of a virtualization hole or a VMM trap, and the vCPU is not stopped at one`);
}

/** Whether an exception filter stops at this event (its condition evaluated in `ctx`). */
export function matchesFilter(f: ExitFilter, event: TargetEvent, ctx: ExprContext, onError: (message: string) => void): boolean {
  if (event.kind === 'exit') return matchesExitFilter(f, event.exit, ctx, onError);
  if (f.id !== (event.kind === 'hole' ? HOLE_FILTER : TRAP_FILTER)) return false;
  if (f.condition === undefined) return true;
  try {
    return f.condition.evaluate(ctx) !== 0;
  } catch (err) {
    onError(`${event.kind === 'hole' ? 'Virtualization-hole' : 'VMM-trap'} filter condition '${f.condition.text}': ${err instanceof Error ? err.message : String(err)}`);
    return true;
  }
}

/** The stop's description: "VM exit 30 IO_INSTRUCTION", "Virtualization hole: popf", "VMM trap: #GP: cli". */
export function eventDescription(event: TargetEvent): string {
  if (event.kind === 'exit') return `VM exit ${event.exit.reason & 0xffff} ${event.exit.name}`;
  if (event.kind === 'hole') return `Virtualization hole: ${event.hole.instruction}`;
  return `VMM trap: ${event.trap.key}`;
}

/** The stopped event's text: what happened, in a line. */
export function eventSummary(event: TargetEvent): string | undefined {
  if (event.kind === 'exit') return event.exit.summary || undefined;
  if (event.kind === 'hole') return `the guest saw ${event.hole.saw}; it expected ${event.hole.expected}`;
  return `trap #${event.trap.seq} at ${hex(event.trap.rip)}, ${event.trap.cycles.toLocaleString('en-US')} modelled cycles`;
}

/** The vCPU the event is about. */
export function eventVcpu(event: TargetEvent): number {
  return event.kind === 'exit' ? event.exit.vcpu : event.kind === 'hole' ? event.hole.vcpu : event.trap.vcpu;
}

/** The name and address of the frame above the guest's at a stop at the event. */
export function eventFrame(event: TargetEvent): { name: string; address: number } {
  if (event.kind === 'exit') return { name: exitFrameName(event.exit), address: event.exit.rip };
  if (event.kind === 'hole') return { name: `Virtualization hole · ${event.hole.instruction} (${hex(event.hole.rip)})`, address: event.hole.rip };
  return { name: `VMM trap · ${event.trap.key} (${hex(event.trap.rip)})`, address: event.trap.rip };
}

/** The body of exceptionInfo at a stop at the event. */
export function eventExceptionInfo(event: TargetEvent): { exceptionId: string; description: string; details: string; typeName: string } {
  if (event.kind === 'exit') {
    const e = event.exit;
    return {
      exceptionId: `${e.reason & 0xffff} ${e.name}`,
      description: `VM exit ${e.reason & 0xffff} ${e.name}${e.summary ? ` — ${e.summary}` : ''}. ${e.why || ''}`.trim(),
      details: exitDetails(e),
      typeName: 'VM exit',
    };
  }
  if (event.kind === 'hole') {
    const h = event.hole;
    return {
      exceptionId: HOLE_FILTER,
      description: `Virtualization hole: ${h.instruction} at ${hex(h.rip)} did not trap. The guest saw ${h.saw}; it expected ${h.expected}. ${h.why}.`,
      details: [`Instruction: ${h.instruction} at ${hex(h.rip)} (${h.length} byte${h.length === 1 ? '' : 's'})`, `The guest saw: ${h.saw}`, `It expected: ${h.expected}`, `Why: ${h.why}`].join('\n'),
      typeName: 'Virtualization hole',
    };
  }
  const t = event.trap;
  const p = trapParts(t.key);
  return {
    exceptionId: `${TRAP_FILTER} ${p.kind}`,
    description: `VMM trap ${t.key} at ${hex(t.rip)}: the VMM took control (trap #${t.seq}, ${t.cycles.toLocaleString('en-US')} modelled cycles).`,
    details: [`Trap: ${t.key} (kind ${p.kind}${p.detail ? `, detail ${p.detail}` : ''}${p.vector >= 0 ? `, vector ${hex(p.vector, 2)}` : ''})`, `At: ${hex(t.rip)}`, `Sequence: ${t.seq}`, `Modelled cycles: ${t.cycles}`].join('\n'),
    typeName: 'VMM trap',
  };
}
