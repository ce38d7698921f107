// Data breakpoints: on guest memory in one of the three address spaces, and
// on VMCS fields. Memory watches go on every vCPU's debugger watch channel
// (Cpu.debugWatch: no DR6 bits, no #DB, so the guest's own debug registers
// behave as before); a hit is judged at the instruction boundary after the
// access (conditions, hit counts) and stops there. VMCS watches compare the
// watched fields at every VM exit and VM entry and stop where the vCPU resumes.
// Either way the stop is asked of the runtime (`Runtime.requestStop`), which
// has the VM pause at the vCPU's next instruction boundary.

import type { DebugProtocol } from '@vscode/debugprotocol';
import type { DebugWatchHit, DebugWatchRange } from '../x86/cpu/cpu';
import { disassemble } from '../x86/disasm/index';
import { fieldByName, type VmcsFieldName } from '../vmm/vmx/index';
import type { VmExit } from '../vmm/vtx/index';
import { compileCondition, hitConditionMet, isValidHitCondition, type Runtime } from './runtime';
import { compileExpr, type CompiledExpr, type ExprContext } from './expr';
import { parseAddress } from './launchConfig';
import { exprContext, hostAddress, type AddressSpace } from './runtimeState';

/** Bytes watched when the request gives no size. */
const DEFAULT_BYTES = 4;
/** The most one memory data breakpoint watches. */
const MAX_BYTES = 1 << 16;

export type DataTarget = { kind: 'memory'; space: AddressSpace; address: number; size: number } | { kind: 'vmcs'; field: VmcsFieldName };

export type AccessType = 'read' | 'write' | 'readWrite';

const hex = (n: number): string => `0x${(n >>> 0).toString(16).toUpperCase()}`;
const hexBig = (n: bigint): string => `0x${n.toString(16).toUpperCase()}`;

/** The dataId of a target: "mem:gva:0x2000:4" or "vmcs:GUEST_RIP". */
export function dataIdOf(t: DataTarget): string {
  return t.kind === 'vmcs' ? `vmcs:${t.field}` : `mem:${t.space}:${hex(t.address)}:${t.size}`;
}

export function parseDataId(id: string): DataTarget | undefined {
  const v = /^vmcs:([A-Za-z0-9_]+)$/.exec(id);
  if (v !== null) {
    const f = fieldByName(v[1]);
    return f === undefined ? undefined : { kind: 'vmcs', field: f.name as VmcsFieldName };
  }
  const m = /^mem:(gva|gpa|hpa):(0x[0-9a-f]+):(\d+)$/i.exec(id);
  if (m === null) return undefined;
  const size = Number(m[3]);
  if (size < 1 || size > MAX_BYTES) return undefined;
  return { kind: 'memory', space: m[1].toLowerCase() as AddressSpace, address: Number(m[2]) >>> 0, size };
}

export function describeTarget(t: DataTarget): string {
  if (t.kind === 'vmcs') return `VMCS ${t.field}`;
  return `${t.space} ${hex(t.address)}${t.size > 1 ? `..${hex(t.address + t.size - 1)}` : ''} (${t.size} byte${t.size === 1 ? '' : 's'})`;
}

const SIZES: Readonly<Record<string, number>> = { byte: 1, word: 2, dword: 4 };

/**
 * What an expression or a variable names, resolved now: a VMCS field
 * (`vmcs GUEST_RIP`, `vmcs.GUEST_RIP`, `GUEST_RIP (0x681E)`), a memory
 * reference (`gpa:0x2000`), or a memory operand (`dword [esi]`, `[0x2000]`),
 * whose address is evaluated at this moment.
 */
export function resolveTarget(text: string, bytes: number | undefined, evaluate: ((expr: string) => number) | undefined, asAddress = false): DataTarget | { error: string } {
  const t = text.trim();
  if (asAddress) {
    const a = parseAddress(t);
    return a === undefined ? { error: `'${t}' is not an address.` } : { kind: 'memory', space: 'gva', address: a >>> 0, size: bytes ?? 1 };
  }
  const field = /^vmcs(?:\s+|\.)([A-Za-z0-9_]+)$/i.exec(t) ?? /^([A-Z][A-Z0-9_]+)\s*\(0x[0-9A-F]+\)$/i.exec(t);
  if (field !== null) {
    const f = fieldByName(field[1]);
    return f === undefined ? { error: `No VMCS field '${field[1]}'.` } : { kind: 'vmcs', field: f.name as VmcsFieldName };
  }
  const ref = /^(gva|gpa|hpa):\s*(\S+)$/i.exec(t);
  if (ref !== null) {
    const a = parseAddress(ref[2]);
    return a === undefined ? { error: `'${t}' is not a memory reference.` } : { kind: 'memory', space: ref[1].toLowerCase() as AddressSpace, address: a >>> 0, size: bytes ?? DEFAULT_BYTES };
  }
  const mem = /^(?:(byte|word|dword)\s*(?:ptr\s*)?)?\[(.+)\]$/i.exec(t);
  if (mem !== null) {
    if (evaluate === undefined) return { error: `'${t}' needs a running guest to evaluate its address.` };
    let a: number;
    try {
      a = evaluate(mem[2]);
    } catch (e) {
      return { error: `'${t}': ${e instanceof Error ? e.message : String(e)}` };
    }
    return { kind: 'memory', space: 'gva', address: a >>> 0, size: bytes ?? SIZES[(mem[1] ?? 'dword').toLowerCase()] };
  }
  return { error: `'${t}' is not data a breakpoint can watch: use a memory operand such as 'dword [esi]', a memory reference such as 'gpa:0x2000', or a VMCS field such as 'vmcs GUEST_CR0'.` };
}

/** The body of a dataBreakpointInfo response. */
export function dataBreakpointInfo(target: DataTarget | { error: string }): DebugProtocol.DataBreakpointInfoResponse['body'] {
  if ('error' in target) return { dataId: null, description: target.error };
  if (target.kind === 'vmcs') return { dataId: dataIdOf(target), description: `${describeTarget(target)} changes`, accessTypes: ['write'], canPersist: true };
  return { dataId: dataIdOf(target), description: describeTarget(target), accessTypes: ['write', 'read', 'readWrite'], canPersist: target.space !== 'gva' };
}

interface DataSpec {
  id: number;
  target: DataTarget;
  access: AccessType;
  condition?: CompiledExpr;
  hitCondition?: string;
  hits: number;
  /** VMCS watches: the value per vCPU at the last look. */
  last: bigint[];
}

export class DataBreakpointBook {
  private runtime: Runtime | undefined;
  private requested: DebugProtocol.DataBreakpoint[] = [];
  private specs: DataSpec[] = [];
  private results: DebugProtocol.Breakpoint[] = [];
  private readonly ids = new Map<string, number>();
  private nextId = 1_000_000;
  /** VMCS changes seen at an exit, judged at the entry that follows. */
  private readonly changes = new Map<number, { spec: DataSpec; old: bigint; now: bigint; at: string }[]>();

  constructor(private readonly onConditionError?: (message: string) => void) {}

  attach(rt: Runtime): void {
    this.runtime = rt;
    const vm = rt.target.vtx;
    if (vm !== null) {
      vm.events.on('exit', (e) => this.onExit(e));
      vm.events.on('entry', (e) => this.onEntry(e.vcpu));
    }
    for (let i = 0; i < rt.target.vcpuCount; i++) rt.target.cpu(i).debugWatch.onHits = (hits) => this.onHits(i, hits);
    this.set(this.requested);
  }

  /** setDataBreakpoints: replaces every data breakpoint. */
  set(requested: readonly DebugProtocol.DataBreakpoint[]): DebugProtocol.Breakpoint[] {
    this.requested = [...requested];
    const rt = this.runtime;
    const specs: DataSpec[] = [];
    this.results = this.requested.map((r): DebugProtocol.Breakpoint => {
      const key = `${r?.dataId}\0${r?.accessType ?? ''}`;
      let id = this.ids.get(key);
      if (id === undefined) this.ids.set(key, (id = this.nextId++));
      const target = typeof r?.dataId === 'string' ? parseDataId(r.dataId) : undefined;
      if (target === undefined) return { id, verified: false, message: `'${String(r?.dataId)}' is not a data breakpoint id from dataBreakpointInfo.` };
      const access: AccessType = r.accessType === 'read' || r.accessType === 'readWrite' ? r.accessType : 'write';
      if (target.kind === 'vmcs' && access !== 'write') return { id, verified: false, message: `${describeTarget(target)}: a VMCS field can only be watched for changes (accessType 'write').` };
      const cond = compileCondition(r.condition);
      if (cond.error !== undefined) return { id, verified: false, message: `Condition: ${cond.error}` };
      const hit = r.hitCondition?.trim() ?? '';
      if (hit !== '' && !isValidHitCondition(hit)) return { id, verified: false, message: `Hit count '${hit}' is not a number, nor one of '>= N', '> N', '== N', '< N', '<= N', '% N'.` };
      if (rt === undefined) return { id, verified: false, message: 'The guest has not been launched yet.', reason: 'pending' };
      if (target.kind === 'vmcs' && rt.target.vtx === null) return { id, verified: false, message: `${describeTarget(target)}: there is no VMCS, the guest runs under ${rt.target.technique}.` };
      const before = this.specs.find((s) => s.id === id);
      const spec: DataSpec = { id, target, access, hits: before?.hits ?? 0, last: [], ...(cond.expr ? { condition: cond.expr } : {}), ...(hit !== '' ? { hitCondition: hit } : {}) };
      const where = this.placement(rt, spec);
      if ('error' in where) return { id, verified: false, message: where.error };
      specs.push(spec);
      return { id, verified: true, message: `${accessText(access)} ${describeTarget(target)}${where.note ? ` — ${where.note}` : ''}` };
    });
    this.specs = specs;
    if (rt !== undefined) this.install(rt);
    return this.results;
  }

  all(): DebugProtocol.Breakpoint[] {
    return this.results;
  }

  /** Before the guest runs again: VMCS values are looked at afresh (edits while stopped are not changes). */
  beforeRun(): void {
    const rt = this.runtime;
    if (rt === undefined) return;
    this.changes.clear();
    for (const s of this.specs) if (s.target.kind === 'vmcs') s.last = this.vmcsValues(rt, s.target.field);
  }

  // ---- placing the watches ------------------------------------------------

  /** Checks a memory target against the VM now; a note for the breakpoint's message. */
  private placement(rt: Runtime, s: DataSpec): { note?: string } | { error: string } {
    const t = s.target;
    if (t.kind === 'vmcs') return {};
    if (t.space === 'gva') {
      const vcpu = rt.lastStop?.vcpu ?? 0;
      const h = hostAddress(rt.target, vcpu, 'gva', t.address);
      return { note: h === null ? 'linear address, not mapped now' : `linear address (now hpa ${hex(h)})` };
    }
    for (const r of this.physicalRanges(rt, t)) if (r.lo < 0) return { error: `${describeTarget(t)}: ${t.space} ${hex(r.hi)} is not backed by memory.` };
    return {};
  }

  /** Host-physical ranges of a gpa/hpa target, split where the mapping is not contiguous; lo -1 marks an unmapped page (hi: its address). */
  private physicalRanges(rt: Runtime, t: Extract<DataTarget, { kind: 'memory' }>): { lo: number; hi: number }[] {
    const out: { lo: number; hi: number }[] = [];
    const end = t.address + t.size;
    for (let a = t.address; a < end; ) {
      const pageEnd = Math.min(end, (Math.floor(a / 4096) + 1) * 4096);
      const h = hostAddress(rt.target, 0, t.space, a >>> 0);
      if (h === null) return [{ lo: -1, hi: a >>> 0 }];
      out.push({ lo: h, hi: h + (pageEnd - a) - 1 });
      a = pageEnd;
    }
    return out;
  }

  private install(rt: Runtime): void {
    const ranges: DebugWatchRange[] = [];
    for (const s of this.specs) {
      const t = s.target;
      if (t.kind !== 'memory') continue;
      const read = s.access !== 'write';
      const write = s.access !== 'read';
      if (t.space === 'gva') ranges.push({ id: s.id, lo: t.address, hi: t.address + t.size - 1, physical: false, read, write });
      else for (const r of this.physicalRanges(rt, t)) if (r.lo >= 0) ranges.push({ id: s.id, lo: r.lo, hi: r.hi, physical: true, read, write });
    }
    for (let i = 0; i < rt.target.vcpuCount; i++) {
      const watch = rt.target.cpu(i).debugWatch;
      // Setting the same list again would only flush the TLB for nothing.
      if (!sameRanges(watch.list, ranges)) watch.set(ranges);
    }
    for (const s of this.specs) if (s.target.kind === 'vmcs') s.last = this.vmcsValues(rt, s.target.field);
  }

  private vmcsValues(rt: Runtime, field: VmcsFieldName): bigint[] {
    return rt.target.vtx?.vcpus.map((v) => v.vmcs.getBig(field)) ?? [];
  }

  // ---- hits -----------------------------------------------------------------

  /** At the boundary after the accessing instruction: conditions, hit counts, and the stop (true ends the engine's run there). */
  private onHits(vcpu: number, hits: DebugWatchHit[]): boolean {
    const rt = this.runtime;
    if (rt === undefined || !rt.isRunning || rt.stopRequested) return false;
    const ids: number[] = [];
    const lines: string[] = [];
    const watched: string[] = [];
    const ctx = contextAt(rt, vcpu);
    for (const s of this.specs) {
      const h = hits.find((x) => x.id === s.id);
      if (h === undefined) continue;
      if (!this.judge(s, ctx)) continue;
      ids.push(s.id);
      const t = s.target as Extract<DataTarget, { kind: 'memory' }>;
      const at = t.space === 'gva' ? h.linear : h.physical;
      lines.push(`${h.write ? 'write to' : 'read of'} ${t.space} ${hex(at)}`);
      watched.push(describeTarget(t));
    }
    if (ids.length === 0) return false;
    const eip = rt.target.cpu(vcpu).debugWatch.eip;
    const by = eip < 0 ? 'during an event delivery or a faulting instruction' : `by ${this.instructionText(rt, vcpu, eip)}`;
    return rt.requestStop(vcpu, 'data breakpoint', `Data breakpoint: ${lines.join(', ')} ${by} [${watched.join('; ')}]`, ids);
  }

  /** The condition, then the hit count (counted when the condition holds), as source breakpoints do. */
  private judge(s: DataSpec, ctx: ExprContext): boolean {
    if (s.condition !== undefined) {
      let ok: boolean;
      try {
        ok = s.condition.evaluate(ctx) !== 0;
      } catch (e) {
        this.onConditionError?.(`Data breakpoint condition '${s.condition.text}': ${e instanceof Error ? e.message : String(e)}`);
        ok = true;
      }
      if (!ok) return false;
    }
    s.hits++;
    return s.hitCondition === undefined || hitConditionMet(s.hitCondition, s.hits);
  }

  private instructionText(rt: Runtime, vcpu: number, eip: number): string {
    const c = rt.target.cpu(vcpu);
    const linear = (c.seg[1].base + eip) >>> 0;
    const bytes = rt.target.readCode(vcpu, linear, 16);
    const bits = (c.cr0 & 1) !== 0 && (c.seg[1].attr & 0x4000) !== 0 ? 32 : 16;
    const line = bytes === null || bytes.length === 0 ? undefined : disassemble(Uint8Array.from(bytes), bits, eip)[0];
    return line === undefined ? `the instruction at ${hex(linear)}` : `'${line.text}' at ${hex(linear)}`;
  }

  // ---- VMCS fields ----------------------------------------------------------

  private onExit(e: VmExit): void {
    this.lookAtVmcs(e.vcpu, `at VM exit ${e.reason & 0xffff} ${e.name}`);
  }

  /** After the handler: its writes are changes too; the changes collected since the exit are judged here, in the guest state being entered. */
  private onEntry(vcpu: number): void {
    const rt = this.runtime;
    this.lookAtVmcs(vcpu, 'by the exit handler or the VM entry');
    const list = this.changes.get(vcpu);
    if (rt === undefined || list === undefined || list.length === 0) return;
    this.changes.delete(vcpu);
    if (!rt.isRunning || rt.stopRequested) return;
    const ctx = contextAt(rt, vcpu);
    const ids: number[] = [];
    const lines: string[] = [];
    for (const c of list) {
      if (!this.judge(c.spec, ctx)) continue;
      if (!ids.includes(c.spec.id)) ids.push(c.spec.id);
      lines.push(`VMCS ${(c.spec.target as { field: string }).field} changed ${hexBig(c.old)} → ${hexBig(c.now)} ${c.at}`);
    }
    if (ids.length === 0) return;
    rt.requestStop(vcpu, 'data breakpoint', `Data breakpoint: ${lines.join('; ')} (vCPU ${vcpu})`, ids);
  }

  private lookAtVmcs(vcpu: number, at: string): void {
    const rt = this.runtime;
    const vm = rt?.target.vtx ?? null;
    if (rt === undefined || vm === null || !rt.isRunning) return;
    for (const s of this.specs) {
      if (s.target.kind !== 'vmcs') continue;
      const now = vm.vcpus[vcpu].vmcs.getBig(s.target.field);
      const old = s.last[vcpu];
      if (old === undefined || old === now) continue;
      s.last[vcpu] = now;
      let list = this.changes.get(vcpu);
      if (list === undefined) this.changes.set(vcpu, (list = []));
      list.push({ spec: s, old, now, at });
    }
  }
}

/** The expression context in the middle of a run: registers, memory, VMCS and labels; no exit fields (this is no exit stop). */
function contextAt(rt: Runtime, vcpu: number): ExprContext {
  const ctx = exprContext(rt.target, vcpu, undefined);
  const symbols = rt.image.symbols;
  return symbols === undefined ? ctx : { ...ctx, symbol: (name) => symbols.get(name) };
}

function accessText(a: AccessType): string {
  return a === 'read' ? 'Reads of' : a === 'readWrite' ? 'Reads and writes of' : 'Writes to';
}

function sameRanges(a: readonly DebugWatchRange[], b: readonly DebugWatchRange[]): boolean {
  return a.length === b.length && a.every((x, i) => x.id === b[i].id && x.lo === b[i].lo && x.hi === b[i].hi && x.physical === b[i].physical && x.read === b[i].read && x.write === b[i].write);
}

/** Evaluates an address expression for `resolveTarget` at a vCPU. */
export function evaluatorAt(rt: Runtime, vcpu: number): (expr: string) => number {
  return (expr) => compileExpr(expr).evaluate(rt.context(vcpu));
}
