// 32-bit two-level paging with 4 KiB and 4 MiB pages, and a TLB indexed
// directly by linear page number. A TLB entry holds the physical page and
// the rights already checked (and the dirty bit already written), so the
// common access is one array load and one bit test.
//
// Every guest-physical address that paging produces (paging-structure
// reads and updates, and final addresses) goes through `gpaToHpa` when it
// is set: the single replaceable step an EPT model hooks. The step may
// narrow what the TLB keeps (`gpaGrant`) so that a later access needing
// more rights comes back to it, and may end the run with a VM exit by
// throwing a VmExitSignal.

import { CpuFault } from '../cpu/fault';
import type { PhysicalMemory } from './memory';

/** TLB entry bits (low 12 bits of an entry; the high 20 are the physical page). */
export const TLB_V = 1; // valid: supervisor may read
export const TLB_SW = 2; // supervisor may write (dirty already set)
export const TLB_UR = 4; // user may read
export const TLB_UW = 8; // user may write (dirty already set)
export const TLB_G = 16; // global page
export const TLB_NX = 32; // instruction fetches must ask the translator (it did not grant execute)

/** Access kinds passed to translate(). */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_USER = 2;
export const ACC_FETCH = 4;
/**
 * Bits 8-11 of an access: its width in bytes (1, 2 or 4), so that watches
 * (the debugger's, DR0-DR3) match only accesses that overlap them. 0 means
 * the caller did not say; watches then take it as 4 bytes.
 */
export const ACC_SIZE_SHIFT = 8;
/** The bits of an access below the width: read/write, user, fetch. */
const ACC_KIND = (1 << ACC_SIZE_SHIFT) - 1;
/** The width bits for an access of `bytes` bytes. */
export const accSize = (bytes: number): number => (bytes & 15) << ACC_SIZE_SHIFT;
/** The width an access's bits give, 4 when they give none. */
export const accessWidth = (access: number): number => ((access >>> ACC_SIZE_SHIFT) & 15) || 4;

/** Rights a translator grants for the page it just translated (`Mmu.gpaGrant`). */
export const GRANT_READ = 1;
/** Writes may hit the TLB without asking again (writable and, with EPT A/D, dirty already set). */
export const GRANT_WRITE = 2;
export const GRANT_FETCH = 4;
export const GRANT_ALL = 7;

/**
 * The EPT hook: guest-physical to host-physical, keeping the page offset.
 * `gpa` is the full address; `access` the ACC_* bits (for a paging-structure
 * entry ACC_WRITE means the walk is about to set its accessed/dirty bits,
 * ACC_READ a plain read); `linear` the guest-linear address being translated
 * (every access of this CPU has one). It may throw a CpuFault, or a
 * VmExitSignal to end the run with a VM exit.
 */
export type GpaTranslator = (gpa: number, access: number, isPagingStructure: boolean, linear: number) => number;

export class Mmu {
  pagingOn = false;
  wp = false;
  pse = false;
  pge = false;
  cr3 = 0;
  /** True when linear addresses must go through the TLB (paging or EPT). */
  active = false;
  gpaToHpa: GpaTranslator | null = null;
  /**
   * Set by `gpaToHpa` for a final translation (GRANT_* bits; reset to
   * GRANT_ALL before each call): the TLB entry keeps only what was granted,
   * so a write or fetch the translator has not allowed asks it again.
   */
  gpaGrant = GRANT_ALL;
  /** A side-effect-free translator for `probe` (debugger views); falls back to `gpaToHpa`. */
  gpaProbe: GpaTranslator | null = null;
  readonly tlb = new Int32Array(0x100000);
  /** Linear pages that may hold an entry (so a flush visits only those), each listed once. */
  private filled: number[] = [];
  private readonly listed = new Uint8Array(0x100000);
  /** Linear pages holding data breakpoints: never cached, reported through onWatch. */
  readonly watch = new Set<number>();
  onWatch: ((linear: number, access: number) => void) | null = null;
  /**
   * The debugger's watch pages (Cpu.debugWatch), apart from the guest's DR0-DR3
   * ones so a DR7 write cannot drop them: linear page numbers, and host-physical
   * page numbers (any linear alias of them). Neither is cached in the TLB, so
   * every data access to them comes through translate() and onDebugAccess.
   */
  readonly debugLinear = new Set<number>();
  readonly debugPhysical = new Set<number>();
  /** Either set is non-empty (one test on the TLB-miss path when both are empty). */
  debugWatching = false;
  onDebugAccess: ((linear: number, hpa: number, access: number) => void) | null = null;
  /** Called with the faulting linear address before a #PF is thrown. */
  onPageFault: ((linear: number) => void) | null = null;

  constructor(private readonly mem: PhysicalMemory) {}

  configure(cr0: number, cr3: number, cr4: number): void {
    this.pagingOn = ((cr0 & 0x80000001) >>> 0) === 0x80000001;
    this.wp = (cr0 & 0x10000) !== 0;
    this.pse = (cr4 & 0x10) !== 0;
    this.pge = (cr4 & 0x80) !== 0;
    this.cr3 = cr3 >>> 0;
    this.active = this.pagingOn || this.gpaToHpa !== null || this.watch.size > 0 || this.debugWatching;
  }

  /**
   * Replaces the debugger's watch pages. Only the cached translations of
   * watched pages are dropped (as INVLPG would): the guest's other stale
   * entries, which are architectural state, stay.
   */
  setDebugWatch(linearPages: Iterable<number>, physicalPages: Iterable<number>): void {
    this.debugLinear.clear();
    this.debugPhysical.clear();
    for (const p of linearPages) this.debugLinear.add(p >>> 0);
    for (const p of physicalPages) this.debugPhysical.add(p >>> 0);
    this.debugWatching = this.debugLinear.size > 0 || this.debugPhysical.size > 0;
    if (!this.debugWatching) return;
    for (const p of this.filled) {
      const e = this.tlb[p];
      if (e !== 0 && (this.debugLinear.has(p) || this.debugPhysical.has(e >>> 12))) this.tlb[p] = 0;
    }
    this.active = true;
  }

  /** Drops TLB entries; global ones survive unless `all`. */
  flush(all: boolean): void {
    const keep: number[] = [];
    for (const p of this.filled) {
      if (!all && (this.tlb[p] & TLB_G) !== 0 && this.pge) keep.push(p);
      else { this.tlb[p] = 0; this.listed[p] = 0; }
    }
    this.filled = keep;
  }

  /** The cached translations as [linear page, entry] pairs (snapshots keep stale entries exact). */
  tlbEntries(): [number, number][] {
    const out: [number, number][] = [];
    for (const p of this.filled) if (this.tlb[p] !== 0) out.push([p, this.tlb[p]]);
    return out;
  }

  setTlbEntries(entries: [number, number][]): void {
    this.flush(true);
    for (const [p, e] of entries) this.fill(p, e | 0);
  }

  invalidatePage(linear: number): void {
    this.tlb[linear >>> 12] = 0;
  }

  private gpa(addr: number, access: number, structure: boolean, linear: number): number {
    return this.gpaToHpa === null ? addr : this.gpaToHpa(addr >>> 0, access, structure, linear) >>> 0;
  }

  /** A TLB entry narrowed to the translator's grant; -1: do not cache it at all. */
  private granted(entry: number): number {
    const g = this.gpaGrant;
    if ((g & GRANT_READ) === 0) return -1;
    if ((g & GRANT_WRITE) === 0) entry &= ~(TLB_SW | TLB_UW);
    return (g & GRANT_FETCH) === 0 ? entry | TLB_NX : entry;
  }

  private pageFault(linear: number, code: number): never {
    this.onPageFault?.(linear >>> 0);
    throw new CpuFault(14, code, `linear 0x${(linear >>> 0).toString(16)}`);
  }

  /**
   * Translates a linear address, checking rights, setting accessed/dirty
   * bits and filling the TLB. Returns the host-physical address.
   */
  translate(linear: number, access: number): number {
    // The width bits are for the watches only: the walk, EPT and the TLB see the kind of access.
    const kind = access & ACC_KIND;
    if (!this.debugWatching) return this.walk(linear, kind, access);
    const hpa = this.walk(linear, kind, access);
    // Instruction fetches are not data accesses; a faulting access never gets here.
    if ((access & ACC_FETCH) === 0 && (this.debugLinear.has(linear >>> 12) || this.debugPhysical.has(hpa >>> 12))) this.onDebugAccess?.(linear >>> 0, hpa, access);
    return hpa;
  }

  /** `access` without width bits; `sized` with them, for DR0-DR3 watches. */
  private walk(linear: number, access: number, sized: number): number {
    linear >>>= 0;
    const write = (access & ACC_WRITE) !== 0;
    const user = (access & ACC_USER) !== 0;
    const lp = linear >>> 12;
    if (this.watch.size > 0 && this.watch.has(lp)) this.onWatch?.(linear, sized);
    if (!this.pagingOn) {
      this.gpaGrant = GRANT_ALL;
      const hpa = this.gpa(linear, access, false, linear);
      const entry = this.granted((hpa & ~0xfff) | TLB_V | TLB_SW | TLB_UR | TLB_UW);
      if (entry !== -1) this.fill(lp, entry);
      return hpa;
    }
    const errBase = (write ? 2 : 0) | (user ? 4 : 0);
    const pdeGpa = ((this.cr3 & 0xfffff000) | ((linear >>> 22) << 2)) >>> 0;
    const pdeAddr = this.gpa(pdeGpa, ACC_READ, true, linear);
    const pde = this.mem.read32(pdeAddr);
    if ((pde & 1) === 0) this.pageFault(linear, errBase);
    let rw: number, us: number, frame: number, global: number;
    if (this.pse && (pde & 0x80) !== 0) {
      if ((pde & 0x003fe000) !== 0) this.pageFault(linear, errBase | 1 | 8);
      rw = pde & 2; us = pde & 4; global = pde & 0x100;
      this.check(linear, errBase, rw, us, user, write);
      let upd = pde | 0x20;
      if (write) upd |= 0x40;
      if (upd !== pde) this.mem.write32(this.gpa(pdeGpa, ACC_WRITE, true, linear), upd);
      frame = ((pde & 0xffc00000) | (linear & 0x3ff000)) >>> 0;
      const dirty = (upd & 0x40) !== 0;
      return this.finish(linear, frame, rw, us, dirty, global, access);
    }
    const pteGpa = ((pde & 0xfffff000) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0;
    const pteAddr = this.gpa(pteGpa, ACC_READ, true, linear);
    const pte = this.mem.read32(pteAddr);
    if ((pte & 1) === 0) this.pageFault(linear, errBase);
    rw = pde & pte & 2; us = pde & pte & 4; global = pte & 0x100;
    this.check(linear, errBase, rw, us, user, write);
    if ((pde & 0x20) === 0) this.mem.write32(this.gpa(pdeGpa, ACC_WRITE, true, linear), pde | 0x20);
    let upd = pte | 0x20;
    if (write) upd |= 0x40;
    if (upd !== pte) this.mem.write32(this.gpa(pteGpa, ACC_WRITE, true, linear), upd);
    frame = (pte & 0xfffff000) >>> 0;
    return this.finish(linear, frame, rw, us, (upd & 0x40) !== 0, global, access);
  }

  private check(linear: number, errBase: number, rw: number, us: number, user: boolean, write: boolean): void {
    if (user) {
      if (us === 0 || (write && rw === 0)) this.pageFault(linear, errBase | 1);
    } else if (write && rw === 0 && this.wp) {
      this.pageFault(linear, errBase | 1);
    }
  }

  private finish(linear: number, frame: number, rw: number, us: number, dirty: boolean, global: number, access: number): number {
    this.gpaGrant = GRANT_ALL;
    const hpa = this.gpa((frame | (linear & 0xfff)) >>> 0, access, false, linear);
    let bits = TLB_V;
    if (dirty && (rw !== 0 || !this.wp)) bits |= TLB_SW;
    if (us !== 0) {
      bits |= TLB_UR;
      if (dirty && rw !== 0) bits |= TLB_UW;
    }
    if (global !== 0) bits |= TLB_G;
    const entry = this.gpaToHpa === null ? (hpa & ~0xfff) | bits : this.granted((hpa & ~0xfff) | bits);
    if (entry !== -1) this.fill(linear >>> 12, entry);
    return hpa;
  }

  private fill(lp: number, entry: number): void {
    if (this.watch.size > 0 && this.watch.has(lp)) return;
    if (this.debugWatching && (this.debugLinear.has(lp) || this.debugPhysical.has(entry >>> 12))) return;
    // An entry dropped by INVLPG stays listed: listing it again would grow the list for ever.
    if (this.listed[lp] === 0) { this.listed[lp] = 1; this.filled.push(lp); }
    this.tlb[lp] = entry;
  }

  /**
   * Walks without side effects (for debuggers): physical address or -1.
   * Guest-physical addresses go through `gpaProbe` when set (else `gpaToHpa`,
   * which may have side effects of its own).
   */
  probe(linear: number): number {
    linear >>>= 0;
    if (!this.pagingOn) return this.gpaToHpa === null ? linear : this.safeGpa(linear, false, linear);
    const pdeAddr = this.safeGpa(((this.cr3 & 0xfffff000) | ((linear >>> 22) << 2)) >>> 0, true, linear);
    if (pdeAddr < 0) return -1;
    const pde = this.mem.read32(pdeAddr);
    if ((pde & 1) === 0) return -1;
    if (this.pse && (pde & 0x80) !== 0) return this.safeGpa(((pde & 0xffc00000) | (linear & 0x3fffff)) >>> 0, false, linear);
    const pteAddr = this.safeGpa(((pde & 0xfffff000) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0, true, linear);
    if (pteAddr < 0) return -1;
    const pte = this.mem.read32(pteAddr);
    if ((pte & 1) === 0) return -1;
    return this.safeGpa(((pte & 0xfffff000) | (linear & 0xfff)) >>> 0, false, linear);
  }

  private safeGpa(a: number, structure: boolean, linear: number): number {
    const t = this.gpaProbe ?? this.gpaToHpa;
    if (t === null) return a;
    try { return t(a, ACC_READ, structure, linear) >>> 0; } catch { return -1; }
  }
}
