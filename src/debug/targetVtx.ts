// The VT-x VM as a debug target: vCPUs on the simulated VMX, VM exits as the
// events exception filters look at, guest memory through the guest's paging
// and EPT (or the memory slots), and the guest console collected from every
// place a guest can write to.

import { collectConsole, type Vm } from '../vmm/vtx/index';
import { translateGva } from '../vmm/memory/translate';
import type { AddressSpace, DebugTarget } from './target';

export function vtxTarget(vm: Vm): DebugTarget {
  return {
    technique: 'vtx',
    vtx: vm,
    soft: null,
    vcpuCount: vm.vcpus.length,
    cpu: (i) => vm.vcpus[i].cpu,
    engine: (i) => vm.processors[i].engine,
    run: (n) => vm.run(n),
    runVcpu: (i, n) => vm.runVcpu(i, n),
    requestPause: (i, reason) => vm.requestPause(i, reason),
    runState: (i) => vm.runState[i],
    waitsHalted: (i) => vm.vcpus[i].cpu.halted || vm.vcpus[i].blocked,
    hostAddress: (i, space, address) => hostAddress(vm, i, space, address),
    readCode: (i, linear, length) => vm.memory.readLinear(vm.vcpus[i], linear, length),
    memory: vm.machine.memory,
    onEvent: (listener) => {
      vm.events.on('exit', (exit) => listener({ kind: 'exit', exit }));
    },
    collectConsole: (emit) => collectConsole(vm, emit),
    threadName: (i) => threadName(vm, i),
    postCodes: vm.machine.console.post,
  };
}

/** The host-physical address of one guest address, or null when nothing backs it. */
function hostAddress(vm: Vm, vcpu: number, space: AddressSpace, address: number): number | null {
  const a = address >>> 0;
  if (space === 'hpa') return a < vm.machine.memory.size ? a : null;
  if (space === 'gva') return vm.translate(vcpu, a).hpa;
  // Guest-physical: the same walk with the guest's paging off, through EPT and the slots.
  const m = vm.memory;
  const target = { mem: vm.machine.memory, ept: m.ept?.tables ?? null, slots: m.mode === 'none' ? null : m.slots };
  return translateGva(target, { cr0: 0, cr3: 0, cr4: 0 }, a, { access: 'read', user: false }).hpa;
}

/** `vCPU 0 · non-root · ring 0`, `… · real mode`, `vCPU 1 · wait-for-SIPI`, `… · halted`. */
function threadName(vm: Vm, vcpu: number): string {
  const state = vm.runState[vcpu];
  if (state === 'wait-for-sipi') return `vCPU ${vcpu} · wait-for-SIPI`;
  const c = vm.vcpus[vcpu].cpu;
  const mode = (c.cr0 & 1) === 0 ? 'real mode' : `ring ${c.seg[1].selector & 3}`;
  return `vCPU ${vcpu} · non-root · ${mode}${state === 'halted' ? ' · halted' : ''}`;
}

export { collectConsole };
