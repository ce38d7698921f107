// The one translation API for views and exit handlers: a guest-virtual
// address in, the whole two-dimensional walk out. Guest paging is the
// CPU's 32-bit two-level paging (4 KiB pages, 4 MiB pages with CR4.PSE);
// every guest paging-structure entry is read through the EPT (or through
// the memory slots when EPT is off), so the result shows each guest entry
// with the EPT walk that located it, then the EPT walk of the final GPA.
// The rules follow src/x86/mmu/paging.ts so the view agrees with the CPU.

import type { PhysicalMemory } from '../../x86/mmu/memory';
import type { EptCaps } from './eptFormat';
import { walkEpt, type EptAccessKind, type EptWalk } from './eptWalk';
import type { MemorySlots, MmioSlot } from './slots';

export type GuestAccess = EptAccessKind;

export interface GuestControlRegs {
  cr0: number;
  cr3: number;
  cr4: number;
}

/** Where guest-physical addresses go. */
export interface TranslateTarget {
  /** Host-physical memory. */
  mem: PhysicalMemory;
  /** The EPT in force ("enable EPT" on): an Ept, or the EPTP of any tables in `mem`. */
  ept?: { eptp: bigint; caps?: EptCaps } | null;
  /** Used when EPT is off; with neither, a GPA is its own HPA. */
  slots?: MemorySlots | null;
}

export interface TranslateRequest {
  /** Default 'read'. */
  access?: GuestAccess;
  /** CPL 3 access (user-mode rights). */
  user?: boolean;
  /**
   * Set guest accessed/dirty bits and EPT accessed/dirty flags as the
   * processor would on this access. Default false: a pure inspection.
   */
  update?: boolean;
}

/** A 32-bit paging entry decoded. */
export interface GuestEntryFlags {
  present: boolean;
  writable: boolean;
  user: boolean;
  writeThrough: boolean;
  cacheDisable: boolean;
  accessed: boolean;
  dirty: boolean;
  /** PDE bit 7: maps a 4 MiB page (honoured only with CR4.PSE). */
  pageSize: boolean;
  global: boolean;
  /** Page-table, 4 KiB frame or (4 MiB page) 4 MiB frame address. */
  address: number;
}

export interface GuestPagingStep {
  level: 2 | 1;
  name: 'PDE' | 'PTE';
  /** Guest-physical address of the entry. */
  gpa: number;
  /** The EPT walk that translated `gpa` (null with EPT off). */
  ept: EptWalk | null;
  /** Host-physical address of the entry; null when it could not be reached. */
  hpa: number | null;
  /** The entry as read (before this walk's accessed/dirty update); null when not reached. */
  value: number | null;
  flags: GuestEntryFlags | null;
}

export type GvaFault =
  /** Guest #PF (vector 14) with its error code; CR2 would receive the GVA. */
  | { kind: 'page-fault'; vector: 14; errorCode: number; cr2: number; message: string }
  /** Exit 48 with its qualification; GUEST_LINEAR_ADDRESS is the GVA. */
  | { kind: 'ept-violation'; exitReason: 48; gpa: number; qualification: number; guestLinear: number }
  /** Exit 49 (no qualification). */
  | { kind: 'ept-misconfig'; exitReason: 49; gpa: number; reason: string }
  /** EPT off: the GPA is in an MMIO slot (the access needs a device model). */
  | { kind: 'mmio'; gpa: number; slot: MmioSlot; offset: number }
  /** EPT off: no slot holds the GPA. */
  | { kind: 'unmapped'; gpa: number };

/**
 * Shadow-paging view, filled by the shadow-paging module (not by
 * translateGva): the VMM's shadow entries the processor really walks for
 * this GVA, next to the guest's own entries above.
 */
export interface ShadowView {
  /** Host-physical address of the shadow page directory in use. */
  root: number;
  /** 'paged': the root that shadows the guest's tables; 'physical': the identity root used while guest paging is off. */
  rootKind: 'paged' | 'physical';
  /** The shadow PDE and, when it points to a table, the shadow PTE (host addresses, values, decoded flags). */
  entries: { level: 2 | 1; name: 'PDE' | 'PTE'; hpa: number; value: number; flags: GuestEntryFlags }[];
  /** Host-physical address the processor uses; null when no shadow PTE is present. */
  hpa: number | null;
  /**
   * 'not-cached': no shadow PTE yet (the next access faults to the VMM, which fills it);
   * 'in-sync': the shadow PTE maps the frame the guest's entries give, with no more rights;
   * 'stale': the guest changed its entries since the fill and has not run INVLPG or reloaded CR3
   * (the processor keeps using the old translation, as a TLB would).
   */
  state: 'not-cached' | 'in-sync' | 'stale';
  inSync: boolean;
  /** Why it is stale, in words ('' otherwise). */
  note: string;
}

export interface GvaWalk {
  gva: number;
  access: GuestAccess;
  user: boolean;
  /** CR0.PG and CR0.PE set: otherwise the GVA is the GPA. */
  paging: boolean;
  guest: GuestPagingStep[];
  /** Final guest-physical address; null when the walk stopped first. */
  gpa: number | null;
  /** Guest page size (4 KiB or 4 MiB) with paging on. */
  pageSize: number | null;
  /** EPT walk of the final GPA (null with EPT off or when not reached). */
  ept: EptWalk | null;
  hpa: number | null;
  fault: GvaFault | null;
  shadow?: ShadowView;
}

const PF = { P: 1, W: 2, U: 4, RSVD: 8 } as const;
/** Bits 21:13 of a 4 MiB PDE are reserved (the CPU has no PSE-36). */
const PDE4M_RESERVED = 0x003fe000;

export function decodeGuestEntry(v: number, level: 2 | 1, pse: boolean): GuestEntryFlags {
  const large = level === 2 && pse && (v & 0x80) !== 0;
  return {
    present: (v & 1) !== 0,
    writable: (v & 2) !== 0,
    user: (v & 4) !== 0,
    writeThrough: (v & 8) !== 0,
    cacheDisable: (v & 0x10) !== 0,
    accessed: (v & 0x20) !== 0,
    dirty: (v & 0x40) !== 0,
    pageSize: level === 2 && (v & 0x80) !== 0,
    global: (v & 0x100) !== 0,
    address: (v & (large ? 0xffc00000 : 0xfffff000)) >>> 0,
  };
}

interface Resolved { hpa: number | null; ept: EptWalk | null; fault: GvaFault | null }

function resolveGpa(t: TranslateTarget, gpa: number, gva: number, access: GuestAccess, structure: boolean, update: boolean): Resolved {
  if (t.ept) {
    const w = walkEpt(t.mem, t.ept.eptp, gpa, { kind: structure ? 'read' : access, pagingStructure: structure, linear: true }, { caps: t.ept.caps, update });
    if (w.outcome === 'ok') return { hpa: w.hpa, ept: w, fault: null };
    if (w.outcome === 'violation') return { hpa: null, ept: w, fault: { kind: 'ept-violation', exitReason: 48, gpa, qualification: w.qualification, guestLinear: gva } };
    return { hpa: null, ept: w, fault: { kind: 'ept-misconfig', exitReason: 49, gpa, reason: w.reason } };
  }
  if (t.slots) {
    const r = t.slots.resolve(gpa);
    if (r.kind === 'ram') return { hpa: r.hpa, ept: null, fault: null };
    if (r.kind === 'mmio') return { hpa: null, ept: null, fault: { kind: 'mmio', gpa, slot: r.slot, offset: r.offset } };
    return { hpa: null, ept: null, fault: { kind: 'unmapped', gpa } };
  }
  return { hpa: gpa, ept: null, fault: null };
}

/** Translates a guest-virtual (linear) address for one access and returns every step of the walk. */
export function translateGva(t: TranslateTarget, regs: GuestControlRegs, gva: number, req: TranslateRequest = {}): GvaWalk {
  gva >>>= 0;
  const access = req.access ?? 'read';
  const user = req.user === true;
  const update = req.update === true;
  const paging = ((regs.cr0 & 0x80000001) >>> 0) === 0x80000001;
  const walk: GvaWalk = { gva, access, user, paging, guest: [], gpa: null, pageSize: null, ept: null, hpa: null, fault: null };
  const finish = (gpa: number): GvaWalk => {
    walk.gpa = gpa;
    const r = resolveGpa(t, gpa, gva, access, false, update);
    walk.ept = r.ept;
    walk.hpa = r.hpa;
    walk.fault = r.fault;
    return walk;
  };
  if (!paging) return finish(gva);

  const pse = (regs.cr4 & 0x10) !== 0;
  const wp = (regs.cr0 & 0x10000) !== 0;
  const write = access === 'write';
  const errBase = (write ? PF.W : 0) | (user ? PF.U : 0);
  const pageFault = (code: number, why: string): GvaWalk => {
    walk.fault = { kind: 'page-fault', vector: 14, errorCode: code, cr2: gva, message: why };
    return walk;
  };
  const rightsFault = (rw: number, us: number): boolean => user ? us === 0 || (write && rw === 0) : write && rw === 0 && wp;
  const readEntry = (level: 2 | 1, gpa: number): GuestPagingStep => {
    const r = resolveGpa(t, gpa, gva, access, true, update);
    const step: GuestPagingStep = { level, name: level === 2 ? 'PDE' : 'PTE', gpa, ept: r.ept, hpa: r.hpa, value: null, flags: null };
    if (r.hpa !== null) {
      step.value = t.mem.read32(r.hpa) >>> 0;
      step.flags = decodeGuestEntry(step.value, level, pse);
    } else {
      walk.fault = r.fault;
    }
    walk.guest.push(step);
    return step;
  };

  const pdeStep = readEntry(2, ((regs.cr3 & 0xfffff000) | ((gva >>> 22) << 2)) >>> 0);
  if (pdeStep.value === null || pdeStep.hpa === null) return walk;
  const pde = pdeStep.value;
  if ((pde & 1) === 0) return pageFault(errBase, 'PDE not present');
  if (pse && (pde & 0x80) !== 0) {
    if ((pde & PDE4M_RESERVED) !== 0) return pageFault(errBase | PF.P | PF.RSVD, 'reserved bits 21:13 set in a 4 MiB PDE');
    if (rightsFault(pde & 2, pde & 4)) return pageFault(errBase | PF.P, 'protection: 4 MiB page');
    if (update) {
      const upd = pde | 0x20 | (write ? 0x40 : 0);
      if (upd !== pde) t.mem.write32(pdeStep.hpa, upd);
    }
    walk.pageSize = 0x400000;
    return finish(((pde & 0xffc00000) | (gva & 0x3fffff)) >>> 0);
  }
  const pteStep = readEntry(1, ((pde & 0xfffff000) | (((gva >>> 12) & 0x3ff) << 2)) >>> 0);
  if (pteStep.value === null || pteStep.hpa === null) return walk;
  const pte = pteStep.value;
  if ((pte & 1) === 0) return pageFault(errBase, 'PTE not present');
  if (rightsFault(pde & pte & 2, pde & pte & 4)) return pageFault(errBase | PF.P, 'protection: PDE and PTE rights combined');
  if (update) {
    if ((pde & 0x20) === 0) t.mem.write32(pdeStep.hpa, pde | 0x20);
    const upd = pte | 0x20 | (write ? 0x40 : 0);
    if (upd !== pte) t.mem.write32(pteStep.hpa, upd);
  }
  walk.pageSize = 0x1000;
  return finish(((pte & 0xfffff000) | (gva & 0xfff)) >>> 0);
}
