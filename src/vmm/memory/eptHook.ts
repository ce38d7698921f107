// Puts an EPT under a running CPU: installs a translator as the MMU's
// single guest-physical step (`cpu.mmu.gpaToHpa`), which walks the tables
// with accessed/dirty updates. An EPT violation or misconfiguration is
// thrown as an EptExitSignal (a VmExitSignal): the CPU puts EIP back on the
// instruction, commits nothing of it, and `run()`/`step()` return with
// reason 'vmexit'; `exitFromStop` turns that stop into exit 48 or 49.
//
// The translator also tells the MMU which rights it granted, so the TLB
// never holds a translation that skips a check the EPT still has to make:
// a page the EPT does not let the guest write (or whose EPT dirty flag is
// not yet set) is cached for reads only, a page without execute is cached
// with fetches excluded.

import type { Cpu } from '../../x86/cpu/cpu';
import { VmExitSignal, type DeliveringEvent } from '../../x86/cpu/fault';
import type { StopInfo } from '../../x86/machine';
import { ACC_FETCH, ACC_WRITE, GRANT_FETCH, GRANT_READ, GRANT_WRITE, type GpaTranslator } from '../../x86/mmu/paging';
import { EPTP_AD, EPT_DIRTY, EPT_R, EPT_W, EPT_X, type EptCaps } from './eptFormat';
import { EPTQ, walkEpt, type EptAccess, type EptWalk } from './eptWalk';

/** What the guest was doing when the EPT stopped it. */
export type EptExitAccess = 'read' | 'write' | 'fetch' | 'paging-read' | 'paging-update';

export interface EptExit {
  exitReason: 48 | 49;
  /** GUEST_PHYSICAL_ADDRESS: the full address, page offset included. */
  gpa: number;
  /**
   * GUEST_LINEAR_ADDRESS: the linear address being translated (for a guest
   * paging-structure access, the one whose walk read the entry). Every access
   * of this CPU is linear, so qualification bit 7 is always set.
   */
  guestLinear: number;
  /** EXIT_QUALIFICATION (0 for a misconfiguration). */
  qualification: number;
  access: EptExitAccess;
  /** The access was to a guest paging-structure entry. */
  pagingStructure: boolean;
  walk: EptWalk;
  /**
   * The event whose delivery the exit interrupted, for IDT_VECTORING_INFO;
   * null when the exit came from the instruction itself. Filled by `exitFromStop`.
   */
  event: DeliveringEvent | null;
}

export class EptExitSignal extends VmExitSignal<EptExit> {
  constructor(exit: EptExit, readonly source: object) {
    super(exit, describeExit(exit));
  }
  get exit(): EptExit { return this.payload; }
}

/** The stop message of an EPT exit. */
export function describeExit(exit: EptExit): string {
  return exit.exitReason === 48
    ? `EPT violation at GPA 0x${exit.gpa.toString(16)}, qualification 0x${exit.qualification.toString(16)}`
    : `EPT misconfiguration at GPA 0x${exit.gpa.toString(16)}`;
}

export interface InstalledEpt {
  /** If `stop` is a 'vmexit' stop caused by this EPT, the exit (with the event being delivered, if any). */
  exitFromStop(stop: StopInfo): EptExit | null;
  /** Restores the previous translator and probe. */
  uninstall(): void;
}

function accessOf(access: number, structure: boolean): EptExitAccess {
  if (structure) return (access & ACC_WRITE) !== 0 ? 'paging-update' : 'paging-read';
  if ((access & ACC_FETCH) !== 0) return 'fetch';
  return (access & ACC_WRITE) !== 0 ? 'write' : 'read';
}

/**
 * The access as the EPT walk sees it. With EPT A/D flags on, every guest
 * paging-structure access already counts as a write. Without them, only an
 * entry update needs write permission: it is checked as a data write
 * (qualification bit 1) and reported as a paging-structure access (bit 8
 * cleared below).
 */
function walkAccess(kind: EptExitAccess, ad: boolean): EptAccess {
  switch (kind) {
    case 'paging-read': return { kind: 'read', pagingStructure: true, linear: true };
    case 'paging-update': return ad ? { kind: 'read', pagingStructure: true, linear: true } : { kind: 'write', linear: true };
    default: return { kind, linear: true };
  }
}

/** What a successful final translation lets the TLB keep. */
function grantOf(walk: EptWalk & { outcome: 'ok' }, ad: boolean, write: boolean): number {
  const leaf = walk.steps[walk.steps.length - 1];
  // With A/D on, a write hit must not skip setting the dirty flag: grant it only once set.
  const dirty = !ad || write || (Number(leaf.value & 0xffffffffn) & EPT_DIRTY) !== 0;
  return ((walk.rights & EPT_R) !== 0 ? GRANT_READ : 0)
    | ((walk.rights & EPT_W) !== 0 && dirty ? GRANT_WRITE : 0)
    | ((walk.rights & EPT_X) !== 0 ? GRANT_FETCH : 0);
}

/**
 * Installs `ept` (an Ept or any EPTP over tables in the CPU's memory) as the
 * CPU's guest-physical translation, with a side-effect-free probe for
 * debugger views, and flushes the TLB. The VMM must call `cpu.flushTlb()`
 * after editing the tables (the INVEPT of this model).
 */
export function installEpt(cpu: Cpu, ept: { eptp: bigint; caps?: EptCaps }): InstalledEpt {
  const mmu = cpu.mmu;
  const previous = mmu.gpaToHpa;
  const previousProbe = mmu.gpaProbe;
  const source = {};
  const translator: GpaTranslator = (gpa, access, structure, linear) => {
    const ad = (Number(ept.eptp & 0xffffffffn) & EPTP_AD) !== 0;
    const kind = accessOf(access, structure);
    const walk = walkEpt(cpu.mem, ept.eptp, gpa, walkAccess(kind, ad), { caps: ept.caps, update: true });
    if (walk.outcome === 'ok') {
      if (!structure) mmu.gpaGrant = grantOf(walk, ad, kind === 'write');
      return walk.hpa;
    }
    let qualification = walk.outcome === 'violation' ? walk.qualification : 0;
    if (structure && qualification !== 0) qualification &= ~EPTQ.GVA_TRANSLATED;
    throw new EptExitSignal({
      exitReason: walk.exitReason, gpa, guestLinear: linear >>> 0, qualification,
      access: kind, pagingStructure: structure, walk, event: null,
    }, source);
  };
  // For debugger views: no accessed/dirty updates, no exit; a page the guest could not read is "unmapped".
  const probe: GpaTranslator = (gpa) => {
    const walk = walkEpt(cpu.mem, ept.eptp, gpa, { kind: 'read', linear: true }, { caps: ept.caps });
    if (walk.outcome !== 'ok') throw new VmExitSignal(walk, `GPA 0x${gpa.toString(16)} not readable through the EPT`);
    return walk.hpa;
  };
  mmu.gpaToHpa = translator;
  mmu.gpaProbe = probe;
  cpu.flushTlb();
  return {
    exitFromStop(stop) {
      const s = stop.vmexit;
      if (stop.reason !== 'vmexit' || !(s instanceof EptExitSignal) || s.source !== source) return null;
      return { ...s.exit, event: s.event };
    },
    uninstall() {
      if (mmu.gpaToHpa === translator) mmu.gpaToHpa = previous;
      if (mmu.gpaProbe === probe) mmu.gpaProbe = previousProbe;
      cpu.flushTlb();
    },
  };
}
