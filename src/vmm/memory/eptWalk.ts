// The EPT walk (SDM 29.3.2-29.3.5): a guest-physical address and an access
// kind in, and either the host-physical address or the reason for an EPT
// violation (exit 48, with its exit qualification) or an EPT
// misconfiguration (exit 49) out, together with every entry the walk read.

import type { PhysicalMemory } from '../../x86/mmu/memory';
import {
  DEFAULT_EPT_CAPS, EPT_ACCESSED, EPT_DIRTY, EPT_LEVEL_NAMES, EPT_LEVEL_SPAN, EPT_R, EPT_RWX, EPT_W, EPT_X,
  EPT_MEMTYPE_MASK, EPT_MEMTYPE_SHIFT, EPT_IGNORE_PAT, EPTP_AD, EPT_ADDR_MASK,
  decodeEptEntry, eptIndex, eptMisconfiguration, entryValue, isLeaf,
  type EptCaps, type EptEntryFlags, type EptLevel,
} from './eptFormat';

export type EptAccessKind = 'read' | 'write' | 'fetch';

export interface EptAccess {
  kind: EptAccessKind;
  /**
   * The access reads a guest paging-structure entry during a guest page walk.
   * With EPT accessed/dirty flags enabled such accesses count as writes
   * (SDM 29.3.3.2), and a violation reports both bits 0 and 1.
   */
  pagingStructure?: boolean;
  /** The GPA came from translating a guest-linear address (default true; false e.g. for PDPTE loads). */
  linear?: boolean;
}

/** EPT-violation exit-qualification bits (vmx-facts section 5, exit 48). */
export const EPTQ = {
  READ: 1 << 0,
  WRITE: 1 << 1,
  FETCH: 1 << 2,
  READABLE: 1 << 3,
  WRITABLE: 1 << 4,
  EXECUTABLE: 1 << 5,
  GVA_VALID: 1 << 7,
  GVA_TRANSLATED: 1 << 8,
} as const;

export const EXIT_EPT_VIOLATION = 48;
export const EXIT_EPT_MISCONFIG = 49;

export interface EptStep {
  level: EptLevel;
  name: 'PML4E' | 'PDPTE' | 'PDE' | 'PTE';
  /** Host-physical address of the entry. */
  entryHpa: number;
  /** The 64-bit entry as read (before any accessed/dirty update of this walk). */
  value: bigint;
  flags: EptEntryFlags;
}

interface WalkBase { gpa: number; access: EptAccess; steps: EptStep[] }

export interface EptOk extends WalkBase {
  outcome: 'ok';
  hpa: number;
  /** 4 KiB, 2 MiB or 1 GiB. */
  pageSize: number;
  /** AND of bits 2:0 over the entries used. */
  rights: number;
  memoryType: number;
  ignorePat: boolean;
}

export interface EptViolation extends WalkBase {
  outcome: 'violation';
  exitReason: 48;
  qualification: number;
  /** The walk ended at a not-present entry (rather than a permission failure). */
  notPresent: boolean;
}

export interface EptMisconfig extends WalkBase {
  outcome: 'misconfig';
  exitReason: 49;
  reason: string;
}

export type EptWalk = EptOk | EptViolation | EptMisconfig;

export interface EptWalkOptions {
  caps?: EptCaps;
  /** Set accessed/dirty flags when the EPTP enables them (what the processor does); false for inspection. */
  update?: boolean;
}

function required(access: EptAccess, ad: boolean): number {
  if (access.pagingStructure === true) return ad ? EPT_R | EPT_W : EPT_R;
  return access.kind === 'read' ? EPT_R : access.kind === 'write' ? EPT_W : EPT_X;
}

function accessBits(access: EptAccess, ad: boolean): number {
  if (access.pagingStructure === true) return ad ? EPTQ.READ | EPTQ.WRITE : EPTQ.READ;
  return access.kind === 'read' ? EPTQ.READ : access.kind === 'write' ? EPTQ.WRITE : EPTQ.FETCH;
}

/** Exit qualification of an EPT violation (bits 9-12 stay 0: advanced information and NMI unblocking are not modelled here). */
export function violationQualification(access: EptAccess, rights: number, ad: boolean): number {
  let q = accessBits(access, ad) | ((rights & EPT_RWX) << 3);
  if (access.linear !== false) {
    q |= EPTQ.GVA_VALID;
    if (access.pagingStructure !== true) q |= EPTQ.GVA_TRANSLATED;
  }
  return q;
}

/**
 * Walks the 4-level EPT named by `eptp` for `gpa`. Reads the tables from
 * host-physical memory; with `update` and EPTP bit 6 set, a successful
 * translation sets the accessed flag of every entry used and, for a write
 * (or a guest paging-structure access), the dirty flag of the leaf.
 */
export function walkEpt(mem: PhysicalMemory, eptp: bigint, gpa: number, access: EptAccess, opts: EptWalkOptions = {}): EptWalk {
  const caps = opts.caps ?? DEFAULT_EPT_CAPS;
  const eptpLow = Number(eptp & 0xffffffffn);
  const ad = (eptpLow & EPTP_AD) !== 0;
  const steps: EptStep[] = [];
  let table = (eptpLow & EPT_ADDR_MASK) >>> 0;
  let rights = EPT_RWX;
  const base = { gpa, access, steps };
  for (let level: EptLevel = 4; ; level = (level - 1) as EptLevel) {
    const entryHpa = (table + eptIndex(gpa, level) * 8) >>> 0;
    const lo = mem.read32(entryHpa) >>> 0;
    const hi = mem.read32((entryHpa + 4) >>> 0) >>> 0;
    steps.push({ level, name: EPT_LEVEL_NAMES[level], entryHpa, value: entryValue(lo, hi), flags: decodeEptEntry(lo, level) });
    rights &= lo;
    if ((lo & EPT_RWX) === 0) {
      return { ...base, outcome: 'violation', exitReason: 48, qualification: violationQualification(access, rights, ad), notPresent: true };
    }
    const bad = eptMisconfiguration(lo, hi, level, caps);
    if (bad !== null) return { ...base, outcome: 'misconfig', exitReason: 49, reason: bad };
    if (isLeaf(lo, level)) {
      const need = required(access, ad);
      if ((rights & need) !== need) {
        return { ...base, outcome: 'violation', exitReason: 48, qualification: violationQualification(access, rights, ad), notPresent: false };
      }
      const span = EPT_LEVEL_SPAN[level];
      const hpa = (lo & EPT_ADDR_MASK & ~(span - 1)) + (gpa % span);
      if (opts.update === true && ad) setAccessedDirty(mem, steps, (need & EPT_W) !== 0);
      return {
        ...base, outcome: 'ok', hpa: hpa >>> 0, pageSize: span, rights,
        memoryType: (lo & EPT_MEMTYPE_MASK) >>> EPT_MEMTYPE_SHIFT, ignorePat: (lo & EPT_IGNORE_PAT) !== 0,
      };
    }
    table = (lo & EPT_ADDR_MASK) >>> 0;
  }
}

function setAccessedDirty(mem: PhysicalMemory, steps: EptStep[], write: boolean): void {
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    const lo = mem.read32(s.entryHpa) >>> 0;
    let upd = lo | EPT_ACCESSED;
    if (write && i === steps.length - 1) upd |= EPT_DIRTY;
    if (upd !== lo) mem.write32(s.entryHpa, upd | 0);
  }
}
