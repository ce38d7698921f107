// VM-exit filters: the exception breakpoints of the Breakpoints view, one per
// exit reason the simulator produces plus a few that are not one reason (the
// software techniques' holes and traps among them, runtimeEvents.ts), and
// the fields of an exit that filter conditions and the debug console read.

import type { Vm, VmExit } from '../vmm/vtx/index';
import { exitReason, exitReasonByName } from '../vmm/vmx/index';
import type { ExprContext } from './expr';
import type { CompiledExpr } from './expr';

/** Exit reasons the simulated VMM can produce (docs/vmm-vtx.md, "Exits and what decides them", and the memory and SMP docs). */
export const PRODUCED_EXIT_REASONS: readonly number[] = [
  0, 1, 2, 3, 4, 7, 8, 10, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 36, 37, 39, 40, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
];

/** Filters that are not a single exit reason. */
export const SPECIAL_FILTERS = [
  { id: 'any', label: 'Any VM exit', description: 'Stop after every VM exit.' },
  { id: 'entry-failure', label: 'VM-entry failure', description: 'Stop when a VM entry fails its checks (VMfailValid or exit 33/34 with bit 31 set).' },
  { id: 'triple-fault', label: 'Triple fault', description: 'Stop when the guest triple-faults (the VM cannot continue).' },
  { id: 'virtualization-hole', label: 'Virtualization hole', description: 'Stop right after a sensitive instruction that did not trap (trap-and-emulate, and user code under binary-translation; never under VT-x, where every sensitive instruction exits).' },
  { id: 'vmm-trap', label: 'VMM trap', description: 'Stop where the guest resumes after a trap into the software VMM (trap-and-emulate, binary-translation, paravirt): an emulated instruction, a shadow fill, a reflected event, a hypercall.' },
] as const;

export interface ExitFilterDescription {
  filter: string;
  label: string;
  description: string;
  default: boolean;
  supportsCondition: boolean;
  conditionDescription: string;
}

const CONDITION_HELP = 'Expression over exit fields, registers and VMCS fields, e.g. port == 0x3f8 && write';
const SPECIAL_CONDITION_HELP: Readonly<Record<string, string>> = {
  'virtualization-hole': 'Expression over the hole (rip, length, instruction) and registers, e.g. instruction == "popf"',
  'vmm-trap': 'Expression over the trap (kind, detail, vector, rip, cycles, seq) and registers, e.g. kind == "#GP" && detail == "cli"',
};

/** The exceptionBreakpointFilters of the initialize response. */
export function exitFilterDescriptions(): ExitFilterDescription[] {
  const out: ExitFilterDescription[] = SPECIAL_FILTERS.map((f) => {
    const special = SPECIAL_CONDITION_HELP[f.id];
    return { filter: f.id, label: f.label, description: f.description, default: false, supportsCondition: f.id === 'any' || special !== undefined, conditionDescription: special ?? CONDITION_HELP };
  });
  for (const n of PRODUCED_EXIT_REASONS) {
    const r = exitReason(n);
    if (r === undefined) continue;
    out.push({ filter: `exit-${n}`, label: `VM exit ${n} ${r.name}`, description: `${r.sdmName}: ${r.description}`, default: false, supportsCondition: true, conditionDescription: CONDITION_HELP });
  }
  return out;
}

export interface ExitFilter {
  id: string;
  /** Reason numbers this filter matches; 'any' matches every exit; empty for filters decided elsewhere (triple fault, entry failure). */
  reasons: readonly number[] | 'any';
  condition?: CompiledExpr;
}

/** The filter id for a `breakOnExits` entry: a number, an exit name (IO_INSTRUCTION or its SDM-style name), or a special id. */
export function filterIdFor(entry: number | string): string | undefined {
  if (typeof entry === 'number') return PRODUCED_EXIT_REASONS.includes(entry) ? `exit-${entry}` : undefined;
  if (SPECIAL_FILTERS.some((f) => f.id === entry)) return entry;
  if (/^exit-\d+$/.test(entry)) return PRODUCED_EXIT_REASONS.includes(Number(entry.slice(5))) ? entry : undefined;
  if (/^\d+$/.test(entry)) return filterIdFor(Number(entry));
  const r = exitReasonByName(entry.replace(/^EXIT_REASON_/i, '').toUpperCase());
  return r !== undefined && PRODUCED_EXIT_REASONS.includes(r.number) ? `exit-${r.number}` : undefined;
}

/** An ExitFilter for a filter id; undefined for an unknown id. */
export function makeExitFilter(id: string, condition?: CompiledExpr): ExitFilter | undefined {
  if (id === 'any') return { id, reasons: 'any', ...(condition ? { condition } : {}) };
  if (SPECIAL_FILTERS.some((f) => f.id === id)) return { id, reasons: id === 'entry-failure' ? [33, 34] : [], ...(condition && SPECIAL_CONDITION_HELP[id] !== undefined ? { condition } : {}) };
  const m = /^exit-(\d+)$/.exec(id);
  if (m === null || !PRODUCED_EXIT_REASONS.includes(Number(m[1]))) return undefined;
  return { id, reasons: [Number(m[1])], ...(condition ? { condition } : {}) };
}

export function matchesExitFilter(f: ExitFilter, e: VmExit, ctx: ExprContext, onError: (message: string) => void): boolean {
  if (f.reasons !== 'any' && !f.reasons.includes(e.reason & 0xffff)) return false;
  if (f.condition === undefined) return true;
  try {
    return f.condition.evaluate(ctx) !== 0;
  } catch (err) {
    onError(`Exit filter condition '${f.condition.text}': ${err instanceof Error ? err.message : String(err)}`);
    return true;
  }
}

/** Registers an exit is about, captured when it happens (the guest overwrites them right after: CPUID's EAX). */
const captured = new WeakMap<VmExit, { leaf: number; msr: number }>();

export function captureExitRegisters(vm: Vm, e: VmExit): void {
  const r = vm.vcpus[e.vcpu]?.cpu.r;
  if (r !== undefined && !captured.has(e)) captured.set(e, { leaf: r[0] >>> 0, msr: r[1] >>> 0 });
}

const IO = 30;

/** A named field of an exit; undefined when `name` is not an exit field; throws when there is no exit. */
export function exitFieldValue(vm: Vm, e: VmExit | undefined, name: string): number | undefined {
  if (!(EXIT_FIELDS as readonly string[]).includes(name)) return undefined;
  if (e === undefined) throw new Error(`'${name}' is a VM-exit field and the vCPU is not stopped at a VM exit`);
  const q = e.qualification >>> 0;
  const io = e.reason === IO;
  const regs = captured.get(e) ?? { leaf: (vm.vcpus[e.vcpu]?.cpu.r[0] ?? 0) >>> 0, msr: (vm.vcpus[e.vcpu]?.cpu.r[1] ?? 0) >>> 0 };
  const b = (x: boolean): number => (x ? 1 : 0);
  switch (name) {
    case 'reason':
      return e.reason & 0xffff;
    case 'qualification':
      return q;
    case 'rip':
      return e.rip >>> 0;
    case 'vcpu':
      return e.vcpu;
    case 'port':
      return io ? q >>> 16 : 0;
    case 'size':
      return io ? (q & 7) + 1 : 0;
    case 'in':
      return b(io && (q & 8) !== 0);
    case 'out':
      return b(io && (q & 8) === 0);
    case 'string':
      return b(io && (q & 0x10) !== 0);
    case 'rep':
      return b(io && (q & 0x20) !== 0);
    case 'read':
      return b((io && (q & 8) !== 0) || e.reason === 31 || (e.reason === 48 && (q & 1) !== 0) || (e.reason === 28 && ((q >>> 4) & 3) === 1));
    case 'write':
      return b((io && (q & 8) === 0) || e.reason === 32 || (e.reason === 48 && (q & 2) !== 0) || (e.reason === 28 && ((q >>> 4) & 3) === 0));
    case 'msr':
      return e.reason === 31 || e.reason === 32 ? regs.msr : 0;
    case 'leaf':
      return e.reason === 10 ? regs.leaf : 0;
    case 'vector':
      return (e.interruptionInfo & 0x80000000) !== 0 ? e.interruptionInfo & 0xff : 0;
    case 'gpa':
      return (e.guestPhysicalAddress ?? 0) >>> 0;
    case 'gla':
      return (e.guestLinearAddress ?? 0) >>> 0;
    default:
      return undefined;
  }
}

export const EXIT_FIELDS = ['reason', 'qualification', 'rip', 'vcpu', 'port', 'size', 'in', 'out', 'string', 'rep', 'read', 'write', 'msr', 'leaf', 'vector', 'gpa', 'gla'] as const;

/** "VM exit 30 IO_INSTRUCTION · OUT DX, AL → port 0x3F8, 1 byte": the name of the exit's stack frame. */
export function exitFrameName(e: VmExit): string {
  return `VM exit ${e.reason & 0xffff} ${e.name}${e.summary ? ` · ${e.summary}` : ''}`;
}

/** The exit's details for exceptionInfo: qualification decoded, why, the other information fields. */
export function exitDetails(e: VmExit): string {
  const hex = (n: number): string => `0x${(n >>> 0).toString(16).toUpperCase()}`;
  const r = exitReason(e.reason & 0xffff);
  const lines = [
    `Exit reason: ${e.reason & 0xffff} ${e.name}${r ? ` (${r.sdmName})` : ''}`,
    `Exit qualification: ${hex(e.qualification)}${e.summary ? ` — ${e.summary}` : ''}`,
    `Guest RIP: ${hex(e.rip)}, instruction length ${e.instructionLength}`,
  ];
  if (e.instructionInfo !== 0) lines.push(`VM-exit instruction information: ${hex(e.instructionInfo)}`);
  if (e.guestLinearAddress !== undefined && e.guestLinearAddress !== 0) lines.push(`Guest linear address: ${hex(e.guestLinearAddress)}`);
  if (e.guestPhysicalAddress !== undefined && e.guestPhysicalAddress !== 0) lines.push(`Guest physical address: ${hex(e.guestPhysicalAddress)}`);
  if (e.interruptionInfo !== 0) lines.push(`VM-exit interruption information: ${hex(e.interruptionInfo)}`);
  if (e.idtVectoringInfo !== 0) lines.push(`IDT-vectoring information: ${hex(e.idtVectoringInfo)}`);
  lines.push(`Why: ${e.why || '-'}`);
  return lines.join('\n');
}
