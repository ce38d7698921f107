// 32-bit two-level paging with 4 KiB and 4 MiB pages, and a TLB indexed
// directly by linear page number. A TLB entry holds the physical page and
// the rights already checked (and the dirty bit already written), so the
// common access is one array load and one bit test.
//
// Every guest-physical address that paging produces (paging-structure
// reads and final addresses) goes through `gpaToHpa` when it is set: the
// single replaceable step an EPT model hooks.

import { CpuFault } from '../cpu/fault';
import type { PhysicalMemory } from './memory';

/** TLB entry bits (low 12 bits of an entry; the high 20 are the physical page). */
export const TLB_V = 1; // valid: supervisor may read
export const TLB_SW = 2; // supervisor may write (dirty already set)
export const TLB_UR = 4; // user may read
export const TLB_UW = 8; // user may write (dirty already set)
export const TLB_G = 16; // global page

/** Access kinds passed to translate(). */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_USER = 2;
export const ACC_FETCH = 4;

/** The EPT hook: guest-physical to host-physical; may throw to stop the access. */
export type GpaTranslator = (gpa: number, access: number, isPagingStructure: boolean) => number;

export class Mmu {
  pagingOn = false;
  wp = false;
  pse = false;
  pge = false;
  cr3 = 0;
  /** True when linear addresses must go through the TLB (paging or EPT). */
  active = false;
  gpaToHpa: GpaTranslator | null = null;
  readonly tlb = new Int32Array(0x100000);
  /** Linear pages that may hold an entry (so a flush visits only those), each listed once. */
  private filled: number[] = [];
  private readonly listed = new Uint8Array(0x100000);
  /** Linear pages holding data breakpoints: never cached, reported through onWatch. */
  readonly watch = new Set<number>();
  onWatch: ((linear: number, access: number) => void) | null = null;
  /** Called with the faulting linear address before a #PF is thrown. */
  onPageFault: ((linear: number) => void) | null = null;

  constructor(private readonly mem: PhysicalMemory) {}

  configure(cr0: number, cr3: number, cr4: number): void {
    this.pagingOn = ((cr0 & 0x80000001) >>> 0) === 0x80000001;
    this.wp = (cr0 & 0x10000) !== 0;
    this.pse = (cr4 & 0x10) !== 0;
    this.pge = (cr4 & 0x80) !== 0;
    this.cr3 = cr3 >>> 0;
    this.active = this.pagingOn || this.gpaToHpa !== null || this.watch.size > 0;
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

  private gpa(addr: number, access: number, structure: boolean): number {
    return this.gpaToHpa === null ? addr : this.gpaToHpa(addr >>> 0, access, structure) >>> 0;
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
    linear >>>= 0;
    const write = (access & ACC_WRITE) !== 0;
    const user = (access & ACC_USER) !== 0;
    const lp = linear >>> 12;
    if (this.watch.size > 0 && this.watch.has(lp)) this.onWatch?.(linear, access);
    if (!this.pagingOn) {
      const hp = this.gpa(linear & ~0xfff, access, false) >>> 12;
      this.fill(lp, (hp << 12) | TLB_V | TLB_SW | TLB_UR | TLB_UW);
      return ((hp << 12) | (linear & 0xfff)) >>> 0;
    }
    const errBase = (write ? 2 : 0) | (user ? 4 : 0);
    const pdeAddr = this.gpa(((this.cr3 & 0xfffff000) | ((linear >>> 22) << 2)) >>> 0, ACC_READ, true);
    const pde = this.mem.read32(pdeAddr);
    if ((pde & 1) === 0) this.pageFault(linear, errBase);
    let rw: number, us: number, frame: number, global: number;
    if (this.pse && (pde & 0x80) !== 0) {
      if ((pde & 0x003fe000) !== 0) this.pageFault(linear, errBase | 1 | 8);
      rw = pde & 2; us = pde & 4; global = pde & 0x100;
      this.check(linear, errBase, rw, us, user, write);
      let upd = pde | 0x20;
      if (write) upd |= 0x40;
      if (upd !== pde) this.mem.write32(pdeAddr, upd);
      frame = ((pde & 0xffc00000) | (linear & 0x3ff000)) >>> 0;
      const dirty = (upd & 0x40) !== 0;
      return this.finish(linear, frame, rw, us, dirty, global, access);
    }
    const pteAddr = this.gpa(((pde & 0xfffff000) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0, ACC_READ, true);
    const pte = this.mem.read32(pteAddr);
    if ((pte & 1) === 0) this.pageFault(linear, errBase);
    rw = pde & pte & 2; us = pde & pte & 4; global = pte & 0x100;
    this.check(linear, errBase, rw, us, user, write);
    if ((pde & 0x20) === 0) this.mem.write32(pdeAddr, pde | 0x20);
    let upd = pte | 0x20;
    if (write) upd |= 0x40;
    if (upd !== pte) this.mem.write32(pteAddr, upd);
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
    const hp = this.gpa(frame, access, false) >>> 12;
    let bits = TLB_V;
    if (dirty && (rw !== 0 || !this.wp)) bits |= TLB_SW;
    if (us !== 0) {
      bits |= TLB_UR;
      if (dirty && rw !== 0) bits |= TLB_UW;
    }
    if (global !== 0) bits |= TLB_G;
    this.fill(linear >>> 12, (hp << 12) | bits);
    return ((hp << 12) | (linear & 0xfff)) >>> 0;
  }

  private fill(lp: number, entry: number): void {
    if (this.watch.size > 0 && this.watch.has(lp)) return;
    // An entry dropped by INVLPG stays listed: listing it again would grow the list for ever.
    if (this.listed[lp] === 0) { this.listed[lp] = 1; this.filled.push(lp); }
    this.tlb[lp] = entry;
  }

  /** Walks without side effects (for debuggers): physical address or -1. */
  probe(linear: number): number {
    linear >>>= 0;
    if (!this.pagingOn) return this.gpaToHpa === null ? linear : this.safeGpa(linear);
    const pde = this.mem.read32(this.safeGpa(((this.cr3 & 0xfffff000) | ((linear >>> 22) << 2)) >>> 0));
    if ((pde & 1) === 0) return -1;
    if (this.pse && (pde & 0x80) !== 0) return this.safeGpa(((pde & 0xffc00000) | (linear & 0x3fffff)) >>> 0);
    const pte = this.mem.read32(this.safeGpa(((pde & 0xfffff000) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0));
    if ((pte & 1) === 0) return -1;
    return this.safeGpa(((pte & 0xfffff000) | (linear & 0xfff)) >>> 0);
  }

  private safeGpa(a: number): number {
    if (this.gpaToHpa === null) return a;
    try { return this.gpaToHpa(a, ACC_READ, false) >>> 0; } catch { return -1; }
  }
}
