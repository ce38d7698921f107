// The inspection side the session shows in scopes and the debug console:
// the builders of src/debug/inspect behind one interface, so the session's
// handle table, paging and formatting stay generic over VarNode. Under VT-x:
// registers, VMCS, page tables, interrupts, devices and exit statistics;
// under a software technique: the real registers, the virtual CPU, the
// technique's traps, holes, translation cache or hypercalls, and devices.

import type { Vm, VmExit } from '../vmm/vtx/index';
import type { SoftTrap, SoftVm } from '../vmm/soft/index';
import type { FormatOptions, VarNode } from './inspect/node';
import * as inspect from './inspect/index';
import { leaf } from './inspect/format';
import { holeNodes, techniqueNodes } from './inspect/technique';
import { readVirtualCpu, virtualControlView, virtualCpuNodes } from './inspect/virtualCpu';
import { evaluateSoftCommand, SOFT_COMMAND_NAMES } from './inspect/softCommands';
import { takeCpuSnapshot } from './inspect/snapshot';
import { EXIT_FIELDS, exitFieldValue } from './runtimeExits';
import { eventVcpu, trapParts } from './runtimeEvents';
import type { RuntimeStop } from './runtime';
import type { DebugTarget } from './target';

export interface ScopeSource {
  name: string;
  /** DAP scope presentation hint. */
  hint?: 'registers' | 'locals' | 'arguments';
  expensive: boolean;
  build: (fmt: FormatOptions) => VarNode[];
}

export interface Inspector {
  /** The scopes of a vCPU's frames; `stop` is the current stop (its exit, hole or trap gets a scope of its own). */
  scopes(target: DebugTarget, vcpu: number, stop: RuntimeStop | null, previous: unknown): ScopeSource[];
  evaluateCommand(target: DebugTarget, vcpu: number, text: string, fmt: FormatOptions): { result: string; node?: VarNode };
  /** Full-line completions of the console text typed so far (the commands of the target's technique). */
  completions(text: string, target?: DebugTarget): string[];
  /** True when the line is a console command rather than an expression. */
  isCommand(text: string): boolean;
  /** Called once per target when it is created (the `exits` command's log subscribes here). */
  attach(target: DebugTarget): void;
  /** The opaque "previous stop" value for change highlighting. */
  takeStopSnapshot(target: DebugTarget, vcpu: number): unknown;
}

const hexText = (n: number, fmt: FormatOptions): string => (fmt.hex ? `0x${(n >>> 0).toString(16).toUpperCase()}` : String(n >>> 0));

/** The current VM exit's fields as a scope (the exit frame's first scope). */
export function exitNodes(vm: Vm, e: VmExit, fmt: FormatOptions): VarNode[] {
  const nodes: VarNode[] = [
    { name: 'reason', value: `${e.reason & 0xffff} ${e.name}`, type: 'exit reason', evaluateName: 'reason' },
    { name: 'summary', value: e.summary ?? '', type: 'string' },
    { name: 'why', value: e.why || '-', type: 'string' },
  ];
  for (const f of EXIT_FIELDS) {
    if (f === 'reason') continue;
    nodes.push({ name: f, value: hexText(exitFieldValue(vm, e, f) ?? 0, fmt), type: 'exit field', evaluateName: f, hint: { kind: 'property', attributes: ['readOnly'] } });
  }
  return nodes;
}

/** A trap's fields as a scope (a VMM-trap stop's first scope). */
export function trapNodes(t: SoftTrap, fmt: FormatOptions): VarNode[] {
  const p = trapParts(t.key);
  return [
    leaf('trap', t.key, { type: 'what brought the VMM in, and what it did' }),
    leaf('kind', p.kind, { evaluateName: 'kind' }),
    leaf('detail', p.detail, { evaluateName: 'detail' }),
    leaf('vector', p.vector < 0 ? '-' : hexText(p.vector, fmt), { evaluateName: 'vector' }),
    leaf('rip', hexText(t.rip, fmt), { evaluateName: 'rip', memoryReference: `gva:0x${t.rip.toString(16)}` }),
    leaf('cycles', String(t.cycles), { type: 'modelled cycles of the trap', evaluateName: 'cycles' }),
    leaf('seq', String(t.seq), { type: 'the trap\'s number since the start', evaluateName: 'seq' }),
  ];
}

const VTX_ONLY = ['vmcs', 'translate', 'ept', 'exits', 'stats', 'inject'];
/** Commands only the software VMM has. */
const SOFT_ONLY = SOFT_COMMAND_NAMES.filter((c) => !inspect.COMMAND_NAMES.includes(c));
const firstWord = (text: string): string | undefined => /^\s*(\S+)/.exec(text)?.[1]?.toLowerCase();

function vtxScopes(vm: Vm, vcpu: number, stop: RuntimeStop | null, previous: unknown): ScopeSource[] {
  const event = stop?.event;
  const exit = event?.kind === 'exit' && event.exit.vcpu === vcpu ? event.exit : undefined;
  const list: ScopeSource[] = [];
  if (exit !== undefined) list.push({ name: 'VM exit', expensive: false, build: (fmt) => exitNodes(vm, exit, fmt) });
  list.push(
    { name: 'Registers', hint: 'registers', expensive: false, build: (fmt) => inspect.registerNodes(vm, vcpu, fmt, previous) },
    { name: 'VMCS', expensive: false, build: (fmt) => inspect.vmcsNodes(vm, vcpu, fmt, previous) },
    { name: 'Page tables', expensive: true, build: (fmt) => inspect.pageTableNodes(vm, vcpu, fmt) },
    { name: 'Interrupts', expensive: false, build: (fmt) => inspect.interruptNodes(vm, vcpu, fmt) },
    { name: 'Devices', expensive: false, build: (fmt) => inspect.deviceNodes(vm, fmt) },
    { name: 'Exit statistics', expensive: false, build: (fmt) => inspect.statsNodes(vm, fmt) },
  );
  return list;
}

function softScopes(vm: SoftVm, vcpu: number, stop: RuntimeStop | null, previous: unknown): ScopeSource[] {
  const event = stop?.event;
  const list: ScopeSource[] = [];
  if (event !== undefined && event.kind !== 'exit' && eventVcpu(event) === vcpu) {
    if (event.kind === 'hole') list.push({ name: 'Virtualization hole', expensive: false, build: (fmt) => holeNodes(event.hole, fmt) });
    else list.push({ name: 'VMM trap', expensive: false, build: (fmt) => trapNodes(event.trap, fmt) });
  }
  list.push(
    { name: 'Registers', hint: 'registers', expensive: false, build: (fmt) => inspect.cpuRegisterNodes(vm.cpu, vcpu, fmt, previous, virtualControlView(vm)) },
    { name: 'Virtual CPU', hint: 'registers', expensive: false, build: (fmt) => virtualCpuNodes(vm, fmt, previous) },
    { name: 'Technique', expensive: true, build: (fmt) => techniqueNodes(vm, fmt) },
    { name: 'Devices', expensive: false, build: (fmt) => inspect.deviceNodes(vm, fmt) },
  );
  return list;
}

export const defaultInspector: Inspector = {
  scopes(target, vcpu, stop, previous) {
    if (target.vtx !== null) return vtxScopes(target.vtx, vcpu, stop, previous);
    if (target.soft !== null) return softScopes(target.soft, vcpu, stop, previous);
    return [];
  },
  evaluateCommand(target, vcpu, text, fmt) {
    const word = firstWord(text) ?? '';
    if (target.soft !== null) {
      const r = evaluateSoftCommand(target.soft, text, fmt);
      if (r !== undefined) return r;
      if (VTX_ONLY.includes(word)) throw new Error(`'${word}' is a VT-x command: the guest runs under ${target.technique}, which has no VMX (no VMCS, EPT or VM exits). Try 'traps', 'holes'${target.soft.pv !== null ? ", 'hypercalls'" : ''}${target.soft.translator !== null ? ", 'block'" : ''}, or the Technique scope.`);
      throw new inspect.UnknownCommandError(word);
    }
    if (target.vtx === null) throw new inspect.UnknownCommandError(word);
    if (SOFT_ONLY.includes(word)) throw new Error(`'${word}' is about the software techniques (trap-and-emulate, binary-translation, paravirt); this guest runs under VT-x, where every sensitive instruction exits. Try 'exits' or 'stats'.`);
    return inspect.evaluateCommand(target.vtx, vcpu, text, fmt);
  },
  completions: (text, target) => {
    if ((target?.soft ?? null) === null) return inspect.completions(text);
    const m = /^(\s*)(\S*)$/.exec(text);
    return m === null ? [] : SOFT_COMMAND_NAMES.filter((c) => c.startsWith(m[2].toLowerCase())).map((c) => `${m[1]}${c}`);
  },
  isCommand: (text) => {
    const w = firstWord(text);
    return inspect.isCommand(text) || (w !== undefined && SOFT_COMMAND_NAMES.includes(w));
  },
  attach: (target) => {
    if (target.vtx !== null) new inspect.ExitLog(target.vtx);
  },
  takeStopSnapshot: (target, vcpu) => {
    if (target.vtx !== null) return inspect.takeStopSnapshot(target.vtx, vcpu);
    return target.soft === null ? undefined : takeCpuSnapshot(target.soft.cpu, vcpu, readVirtualCpu(target.soft));
  },
};
