// Puts an EPT under a running CPU: installs a translator as the MMU's
// single guest-physical step (`cpu.mmu.gpaToHpa`), which walks the tables
// with accessed/dirty updates. The step can only return an address or
// throw; a throw that is not a CpuFault ends `run()` with reason 'error'
// after the CPU has put EIP back on the faulting instruction, as for any
// fault. So an EPT violation or misconfiguration is recorded here and
// signalled by throwing EptExitSignal; the VMM turns the stop into exit 48
// or 49 with `exitFromStop` (or, when the exit happened while an event was
// being delivered and the signal escaped `run()`, with `exitFromError`). docs/vmm-memory.md lists what this step cannot
// yet express and the CPU change that would fix it.

import type { Cpu } from '../../x86/cpu/cpu';
import type { StopInfo } from '../../x86/machine';
import { ACC_WRITE, ACC_FETCH, type GpaTranslator } from '../../x86/mmu/paging';
import type { EptCaps } from './eptFormat';
import { walkEpt, type EptAccessKind, type EptWalk } from './eptWalk';

export interface EptExit {
  exitReason: 48 | 49;
  /** GUEST_PHYSICAL_ADDRESS. For final accesses the CPU passes the page address (offset 0): see the docs. */
  gpa: number;
  /** EXIT_QUALIFICATION (0 for a misconfiguration). */
  qualification: number;
  /** The access was to a guest paging-structure entry. */
  pagingStructure: boolean;
  walk: EptWalk;
}

export class EptExitSignal extends Error {
  override name = 'EptExitSignal';
  constructor(readonly exit: EptExit) {
    super(describeExit(exit));
  }
}

/** The signal's message; the run's 'error' stop message contains it. */
export function describeExit(exit: EptExit): string {
  return exit.exitReason === 48
    ? `EPT violation at GPA 0x${exit.gpa.toString(16)}, qualification 0x${exit.qualification.toString(16)}`
    : `EPT misconfiguration at GPA 0x${exit.gpa.toString(16)}`;
}

export interface InstalledEpt {
  /** The exit recorded by the last failing translation, until taken. */
  readonly pending: EptExit | null;
  /** If `stop` ended the run because of an EPT exit, returns (and clears) it. */
  exitFromStop(stop: StopInfo): EptExit | null;
  /**
   * For an exception thrown out of `run()`: an EPT exit met while the CPU was
   * delivering a fault or an external interrupt (the IDT, GDT or stack page
   * is not mapped) escapes the run loop instead of stopping it. EIP is still
   * on the instruction whose event was being delivered. Returns (and clears)
   * the exit, or null when `e` is something else.
   */
  exitFromError(e: unknown): EptExit | null;
  /** Restores the previous translator. */
  uninstall(): void;
}

function accessKind(access: number): EptAccessKind {
  if ((access & ACC_FETCH) !== 0) return 'fetch';
  return (access & ACC_WRITE) !== 0 ? 'write' : 'read';
}

/**
 * Installs `ept` (an Ept or any EPTP over tables in the CPU's memory) as the
 * CPU's guest-physical translation and flushes the TLB.
 */
export function installEpt(cpu: Cpu, ept: { eptp: bigint; caps?: EptCaps }): InstalledEpt {
  const previous = cpu.mmu.gpaToHpa;
  let pending: EptExit | null = null;
  const translator: GpaTranslator = (gpa, access, structure) => {
    const kind = structure ? 'read' : accessKind(access);
    const walk = walkEpt(cpu.mem, ept.eptp, gpa, { kind, pagingStructure: structure, linear: true }, { caps: ept.caps, update: true });
    if (walk.outcome === 'ok') return walk.hpa;
    pending = {
      exitReason: walk.exitReason,
      gpa,
      qualification: walk.outcome === 'violation' ? walk.qualification : 0,
      pagingStructure: structure,
      walk,
    };
    throw new EptExitSignal(pending);
  };
  cpu.mmu.gpaToHpa = translator;
  cpu.flushTlb();
  return {
    get pending() { return pending; },
    exitFromStop(stop) {
      if (stop.reason !== 'error' || pending === null || !stop.message.includes(describeExit(pending))) return null;
      const e = pending;
      pending = null;
      return e;
    },
    exitFromError(e) {
      if (!(e instanceof EptExitSignal) || e.exit !== pending) return null;
      pending = null;
      return e.exit;
    },
    uninstall() {
      if (cpu.mmu.gpaToHpa === translator) cpu.mmu.gpaToHpa = previous;
      cpu.flushTlb();
    },
  };
}
