// What the debugger needs of the machine a guest runs on, whichever VMM runs
// it: the VT-x VM (targetVtx.ts) or the software VMM of trap-and-emulate,
// binary translation and paravirtualization (targetSoft.ts). The runtime,
// frames, memory requests and data breakpoints are written against this;
// what only one VMM has (the VMCS, EPT and VM exits; the virtual CPU, holes,
// the translation cache and hypercalls) is reached through `vtx` or `soft`.

import type { Vm, VmExit, VmStop } from '../vmm/vtx/index';
import type { HoleEvent, SoftTrap, SoftVm } from '../vmm/soft/index';
import type { Cpu } from '../x86/cpu/cpu';
import type { Engine } from '../x86/cpu/engine';
import type { PhysicalMemory } from '../x86/mmu/memory';
import type { TechniqueChoice } from './launchConfig';

export type AddressSpace = 'gva' | 'gpa' | 'hpa';

/** A VM exit (VT-x), or a virtualization hole or trap into the software VMM: what exception filters look at. */
export type TargetEvent = { kind: 'exit'; exit: VmExit } | { kind: 'hole'; hole: HoleEvent } | { kind: 'trap'; trap: SoftTrap };

/** Whether a vCPU can run on its own: 'halted' with nothing that can wake it, 'wait-for-SIPI', 'stopped'. */
export type TargetRunState = 'runnable' | 'halted' | 'wait-for-sipi' | 'stopped';

/** A run's stop: the VT-x VM's record; the software VMM's traps count as its exits (for slicing). */
export type TargetStop = VmStop;

export interface DebugTarget {
  readonly technique: TechniqueChoice;
  /** The VT-x VM (technique "vtx"), else null. */
  readonly vtx: Vm | null;
  /** The software VMM (the other techniques), else null. */
  readonly soft: SoftVm | null;
  readonly vcpuCount: number;
  /** The processor a vCPU runs on: the guest's registers as the hardware holds them. */
  cpu(vcpu: number): Cpu;
  /** The vCPU's execution engine: its `breakpoints` are the debugger's. */
  engine(vcpu: number): Engine;
  run(maxInstructions: number): TargetStop;
  /** One vCPU alone for `instructions` (a debugger step). */
  runVcpu(vcpu: number, instructions: number): TargetStop;
  /** A stop at the vCPU's next instruction boundary, reported by the run as reason 'pause' (for event listeners). */
  requestPause(vcpu: number, reason: string): void;
  runState(vcpu: number): TargetRunState;
  /** The vCPU waits halted: a stop there has not reached the instruction at EIP yet. */
  waitsHalted(vcpu: number): boolean;
  /** The host-physical address of one byte of an address space, or null when nothing backs it. */
  hostAddress(vcpu: number, space: AddressSpace, address: number): number | null;
  /** Guest-linear bytes as the vCPU would fetch them (up to the first unreachable one); null when none can be read. */
  readCode(vcpu: number, linear: number, length: number): Uint8Array | null;
  /** The simulator's memory (host-physical). */
  readonly memory: PhysicalMemory;
  /** Calls `listener` for every exit, hole or trap as it happens. */
  onEvent(listener: (e: TargetEvent) => void): void;
  /** Calls `emit` with guest console bytes in order; returns `sync`, to call at each stop. */
  collectConsole(emit: (source: string, bytes: number[]) => void): () => void;
  /** The thread's name: vCPU, technique and mode. */
  threadName(vcpu: number): string;
  /** Bytes written to the POST code port 0x80. */
  readonly postCodes: readonly number[];
}
