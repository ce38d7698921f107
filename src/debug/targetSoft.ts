// The software VMM (trap-and-emulate, binary translation, paravirt) as a
// debug target: one vCPU, the real processor running the guest
// deprivileged, holes and traps as the events exception filters look at, and
// guest memory through the guest's own page tables (guest RAM sits at
// host-physical = guest-physical).

import type { SoftVm, SoftVmStop } from '../vmm/soft/index';
import type { AddressSpace, DebugTarget, TargetStop } from './target';

export function softTarget(vm: SoftVm): DebugTarget {
  const one = (vcpu: number): void => {
    if (vcpu !== 0) throw new RangeError(`no vCPU ${vcpu}: the software techniques run one vCPU`);
  };
  const run = (n: number): TargetStop => {
    const traps = vm.stats.traps;
    return stopOf(vm, vm.run(n), vm.stats.traps - traps);
  };
  const hostAddress = (space: AddressSpace, address: number): number | null => {
    const a = address >>> 0;
    if (space === 'hpa') return a < vm.machine.memory.size ? a : null;
    if (space === 'gpa') return a < vm.ramSize ? a : null;
    // The guest's own tables (as the VMM walks them), without setting their accessed and dirty bits.
    const r = vm.guest.resolve(a, false, false, false);
    return r.ok ? r.gpa : null;
  };
  return {
    technique: vm.technique,
    vtx: null,
    soft: vm,
    vcpuCount: 1,
    cpu: (i) => (one(i), vm.cpu),
    engine: (i) => (one(i), vm.engine),
    run,
    runVcpu: (i, n) => (one(i), run(n)),
    requestPause: (i, reason) => (one(i), vm.requestPause(reason)),
    runState: () => (vm.v.halted && !vm.v.interrupts ? 'halted' : 'runnable'),
    waitsHalted: () => vm.v.halted,
    hostAddress: (_i, space, address) => hostAddress(space, address),
    readCode: (_i, linear, length) => {
      const out: number[] = [];
      for (let k = 0; k < length; k++) {
        const h = hostAddress('gva', (linear + k) >>> 0);
        if (h === null) break;
        out.push(vm.machine.memory.read8(h));
      }
      return out.length === 0 ? null : Uint8Array.from(out);
    },
    memory: vm.machine.memory,
    onEvent: (listener) => {
      vm.events.on('hole', (hole) => listener({ kind: 'hole', hole }));
      vm.events.on('trap', (trap) => listener({ kind: 'trap', trap }));
    },
    collectConsole: (emit) => collectSoftConsole(vm, emit),
    threadName: () => softThreadName(vm),
    postCodes: vm.machine.console.post,
  };
}

function stopOf(vm: SoftVm, s: SoftVmStop, traps: number): TargetStop {
  return { reason: s.reason, message: s.message, instructions: s.instructions, exits: traps, rip: vm.cpu.eip >>> 0, vcpu: 0, ...(s.code !== undefined ? { code: s.code } : {}) };
}

/** `vCPU 0 · trap-and-emulate · guest ring 0 (runs in ring 1)`: the ring the guest believes it is in, and the real one. */
export function softThreadName(vm: SoftVm): string {
  vm.syncCpl();
  const halted = vm.v.halted ? ' · halted' : '';
  return `vCPU 0 · ${vm.technique} · guest ring ${vm.v.cpl} (runs in ring ${vm.cpu.cpl})${halted}`;
}

/**
 * Guest console bytes: the VMM's output events (the UART, the console
 * hypercall) as they come, and what the machine's capture took on port 0xE9
 * and LPT1 (an emulated OUT), at each trap and stop.
 */
function collectSoftConsole(vm: SoftVm, emit: (source: string, bytes: number[]) => void): () => void {
  const capture = vm.machine.console;
  const reported = { e9: 0, lpt1: 0 };
  const sync = (): void => {
    for (const port of ['e9', 'lpt1'] as const) {
      const all = capture[port];
      if (all.length > reported[port]) {
        emit(port, all.slice(reported[port]));
        reported[port] = all.length;
      }
    }
  };
  vm.events.on('output', (o) => emit(o.source, o.bytes));
  vm.events.on('trap', () => sync());
  return sync;
}
