// Whole-VM snapshots as plain JSON data: the machine (memory, devices, every
// processor), every vCPU's VMCS and bitmaps, the scheduler, statistics, the
// trace hash, the output so far and every part registered with
// `vm.registerState`. Restoring into a VM created with the same options makes
// it continue exactly as the original would have.

import type { Machine, MachineSnapshot } from '../../x86/machine';
import type { VmcsSnapshot } from '../vmx';
import type { Scheduler, SchedulerSnapshot, TraceHash, TraceHashState, VcpuRunState } from '../sched';
import type { EntryCheckFailure } from './entry-checks';
import type { ExitStats, StatsSnapshot } from './stats';
import type { Vcpu } from './vcpu';
import type { PendingSignal } from './smp';
import type { VmStatePart, VmStop } from './vm';

/** Run-loop state of the VM itself. */
export interface VmCoreState {
  /** Per vCPU: its first VM entry has happened. */
  launched: boolean[];
  /** Per vCPU: its guest state was replaced while parked, so its next run enters again. */
  reenter: boolean[];
  signals: PendingSignal[][];
  exitSequence: number;
  /** The stop that ended the VM (shutdown, triple fault…), or null. */
  ended: VmStop | null;
  lastHaltMessage: string | null;
}

/** A byte array as runs of equal bytes: [value, count] pairs (bitmaps are mostly all-ones or all-zeros). */
export type ByteRuns = [number, number][];

export interface VcpuSnapshot {
  vmcs: VmcsSnapshot;
  ioBitmapA: ByteRuns;
  ioBitmapB: ByteRuns;
  msrBitmap: ByteRuns;
  /** Root mode's MSR values loaded by the VM-exit MSR-load area: [index, value as decimal string]. */
  hostMsrs: [number, string][];
  hostMsrLoads: number;
  exitCount: number;
  entryFailure: EntryCheckFailure | null;
}


export type { StatsSnapshot };

export interface VmSnapshot {
  format: 'hyperstep-vm';
  version: 1;
  machine: MachineSnapshot;
  vcpus: VcpuSnapshot[];
  runState: VcpuRunState[];
  scheduler: SchedulerSnapshot;
  stats: StatsSnapshot;
  trace: TraceHashState;
  output: number[];
  core: VmCoreState;
  /** Registered parts by name (devices, memory virtualization…). */
  parts: Record<string, unknown>;
}

/** What of the VM a snapshot reads and writes (vm.ts hands this over). */
export interface VmSnapshotSource {
  machine: Machine;
  vcpus: readonly Vcpu[];
  runState: VcpuRunState[];
  scheduler: Scheduler;
  stats: ExitStats;
  trace: TraceHash;
  output: number[];
  parts: ReadonlyMap<string, VmStatePart>;
  get(): VmCoreState;
  set(v: VmCoreState): void;
}

export function takeSnapshot(src: VmSnapshotSource): VmSnapshot {
  const parts: Record<string, unknown> = {};
  for (const [name, part] of src.parts) parts[name] = part.snapshot();
  return {
    format: 'hyperstep-vm',
    version: 1,
    machine: src.machine.snapshot(),
    vcpus: src.vcpus.map(vcpuSnapshot),
    runState: [...src.runState],
    scheduler: src.scheduler.snapshot(),
    stats: src.stats.snapshot(),
    trace: src.trace.snapshot(),
    output: [...src.output],
    core: clone(src.get()),
    parts: clone(parts),
  };
}

export function applySnapshot(src: VmSnapshotSource, s: VmSnapshot): void {
  if (s.format !== 'hyperstep-vm' || s.version !== 1) throw new Error(`not a version 1 VM snapshot (format ${String(s.format)}, version ${String(s.version)})`);
  if (s.vcpus.length !== src.vcpus.length) throw new Error(`snapshot has ${s.vcpus.length} vCPUs, this VM ${src.vcpus.length}`);
  const missing = Object.keys(s.parts).filter((n) => !src.parts.has(n));
  const extra = [...src.parts.keys()].filter((n) => !(n in s.parts));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(`snapshot parts differ from this VM's: ${[...missing.map((n) => `"${n}" not registered here`), ...extra.map((n) => `"${n}" missing from the snapshot`)].join(', ')}`);
  }
  src.scheduler.restore(s.scheduler);
  src.machine.restore(s.machine);
  s.vcpus.forEach((v, i) => restoreVcpu(src.vcpus[i], v));
  s.runState.forEach((r, i) => { src.runState[i] = r; });
  src.stats.restore(s.stats);
  src.trace.restore(s.trace);
  src.output.length = 0;
  src.output.push(...s.output);
  src.set(clone(s.core));
  for (const [name, part] of src.parts) part.restore(clone(s.parts[name]));
}

function vcpuSnapshot(v: Vcpu): VcpuSnapshot {
  return {
    vmcs: v.vmcs.snapshot(),
    ioBitmapA: toRuns(v.ioBitmaps.a),
    ioBitmapB: toRuns(v.ioBitmaps.b),
    msrBitmap: toRuns(v.msrBitmap.page),
    hostMsrs: v.hostMsrs.entries().map(([k, x]) => [k, x.toString()]),
    hostMsrLoads: v.hostMsrs.loads,
    exitCount: v.exitCount,
    entryFailure: v.entryFailure === null ? null : { ...v.entryFailure },
  };
}

function restoreVcpu(v: Vcpu, s: VcpuSnapshot): void {
  v.vmcs.restore(s.vmcs);
  fromRuns(s.ioBitmapA, v.ioBitmaps.a);
  fromRuns(s.ioBitmapB, v.ioBitmaps.b);
  fromRuns(s.msrBitmap, v.msrBitmap.page);
  for (const [k, x] of s.hostMsrs) v.hostMsrs.set(k, BigInt(x));
  v.hostMsrs.loads = s.hostMsrLoads;
  // The exit counter has no setter: it is the vCPU's own bookkeeping.
  v['sequence'] = s.exitCount;
  v.entryFailure = s.entryFailure === null ? null : { ...s.entryFailure };
  v.stopAction = null;
}

function toRuns(b: Uint8Array): ByteRuns {
  const out: ByteRuns = [];
  for (let i = 0; i < b.length;) {
    let j = i + 1;
    while (j < b.length && b[j] === b[i]) j++;
    out.push([b[i], j - i]);
    i = j;
  }
  return out;
}

function fromRuns(runs: ByteRuns, into: Uint8Array): void {
  let o = 0;
  for (const [value, count] of runs) {
    into.fill(value, o, o + count);
    o += count;
  }
  if (o !== into.length) throw new Error(`bitmap snapshot has ${o} bytes, expected ${into.length}`);
}

/** A deep copy through JSON, so neither side shares objects with the other. */
function clone<T>(x: T): T {
  return x === undefined ? x : JSON.parse(JSON.stringify(x)) as T;
}
