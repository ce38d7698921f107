// The inspection side the session shows in scopes and the debug console:
// the builders of src/debug/inspect behind one interface, so the session's
// handle table, paging and formatting stay generic over VarNode.

import type { Vm, VmExit } from '../vmm/vtx/index';
import type { FormatOptions, VarNode } from './inspect/node';
import * as inspect from './inspect/index';
import { EXIT_FIELDS, exitFieldValue } from './runtimeExits';

export interface ScopeSource {
  name: string;
  /** DAP scope presentation hint. */
  hint?: 'registers' | 'locals' | 'arguments';
  expensive: boolean;
  build: (fmt: FormatOptions) => VarNode[];
}

export interface Inspector {
  scopes(vm: Vm, vcpu: number, exit: VmExit | undefined, previous: unknown): ScopeSource[];
  evaluateCommand(vm: Vm, vcpu: number, text: string, fmt: FormatOptions): { result: string; node?: VarNode };
  /** Full-line completions of the console text typed so far. */
  completions(text: string): string[];
  /** True when the line is a console command rather than an expression. */
  isCommand(text: string): boolean;
  /** Called once per VM when it is created (the `exits` command's log subscribes here). */
  attach(vm: Vm): void;
  /** The opaque "previous stop" value for change highlighting. */
  takeStopSnapshot(vm: Vm, vcpu: number): unknown;
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

export const defaultInspector: Inspector = {
  scopes(vm, vcpu, exit, previous) {
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
  },
  evaluateCommand: (vm, vcpu, text, fmt) => inspect.evaluateCommand(vm, vcpu, text, fmt),
  completions: (text) => inspect.completions(text),
  isCommand: (text) => inspect.isCommand(text),
  attach: (vm) => {
    new inspect.ExitLog(vm);
  },
  takeStopSnapshot: (vm, vcpu) => inspect.takeStopSnapshot(vm, vcpu),
};
