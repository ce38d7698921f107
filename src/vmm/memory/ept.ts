// Building and editing a VM's extended page tables: real 4-level structures
// in host-physical memory, so the walker (and the VMM's views) read exactly
// what the processor would. Ranges are mapped with the largest pages their
// alignment allows; editing part of a large page splits it first.

import type { PhysicalMemory } from '../../x86/mmu/memory';
import {
  DEFAULT_EPT_CAPS, EPT_ACCESSED, EPT_ADDR_MASK, EPT_DIRTY, EPT_IGNORE_PAT, EPT_LARGE, EPT_LEVEL_SPAN, EPT_MEMTYPE_MASK,
  EPT_MEMTYPE_SHIFT, EPT_RWX, EPT_USER_X, MAXPHYADDR, MEMTYPE, PAGE_1G, PAGE_2M, PAGE_4K,
  encodeEptp, eptIndex, isLeaf, permBits, type EptCaps, type EptLevel, type EptPerms,
} from './eptFormat';
import { walkEpt, type EptAccess, type EptWalk } from './eptWalk';
import type { HostAllocator } from './host';
import type { MemorySlots } from './slots';

/** A 4-level EPT covers 48 bits of guest-physical address space. */
const EPT_GPA_LIMIT = 2 ** 48;
const LEVEL_FOR_SIZE: [number, EptLevel][] = [[PAGE_1G, 3], [PAGE_2M, 2], [PAGE_4K, 1]];
/** Bits a split copies from a large leaf into its smaller leaves. */
const INHERITED = EPT_RWX | EPT_MEMTYPE_MASK | EPT_IGNORE_PAT | EPT_ACCESSED | EPT_DIRTY | EPT_USER_X;

export class EptError extends Error {
  override name = 'EptError';
}

export interface EptMapOptions {
  /** Leaf memory type, bits 5:3 (default WB). */
  memoryType?: number;
  /** Leaf bit 6. */
  ignorePat?: boolean;
  /** Largest page the builder may use: 0x1000, 0x200000 or 0x40000000 (default: the largest the capabilities allow). */
  maxPage?: number;
}

export interface EptOptions {
  /** EPTP bits 2:0: memory type of the paging-structure accesses (default WB). */
  memoryType?: number;
  /** EPTP bit 6: accessed and dirty flags. */
  accessedDirty?: boolean;
  caps?: EptCaps;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

export class Ept {
  readonly pml4: number;
  readonly eptp: bigint;
  readonly caps: EptCaps;
  private tables = 1;

  constructor(readonly mem: PhysicalMemory, private readonly alloc: HostAllocator, opts: EptOptions = {}) {
    this.caps = opts.caps ?? DEFAULT_EPT_CAPS;
    if (opts.accessedDirty === true && !this.caps.accessedDirty) throw new EptError('accessed/dirty flags are not supported by these capabilities');
    this.pml4 = alloc.allocPage();
    this.eptp = encodeEptp({ pml4: this.pml4, memoryType: opts.memoryType ?? MEMTYPE.WB, accessedDirty: opts.accessedDirty === true });
  }

  /** Paging-structure pages in use (the PML4 included). */
  get tablePages(): number {
    return this.tables;
  }

  /** Walks the tables for one access (see walkEpt); `update` sets accessed/dirty flags as the processor would. */
  walk(gpa: number, access: EptAccess, update = false): EptWalk {
    return walkEpt(this.mem, this.eptp, gpa, access, { caps: this.caps, update });
  }

  /** Maps [gpa, gpa+size) to [hpa, hpa+size) with the largest pages that alignment and size allow. */
  map(gpa: number, hpa: number, size: number, perms: EptPerms, opts: EptMapOptions = {}): void {
    this.checkRange(gpa, size);
    if (hpa % PAGE_4K !== 0 || hpa < 0 || hpa + size > 2 ** MAXPHYADDR) {
      throw new EptError(`host range [${hex(hpa)}, ${hex(hpa + size)}) is not 4 KiB-aligned inside the ${MAXPHYADDR}-bit host-physical space`);
    }
    const rwx = permBits(perms);
    if (rwx === 0) throw new EptError('mapping with no permissions makes the entry not present: use unmap');
    const mt = opts.memoryType ?? MEMTYPE.WB;
    if (mt < 0 || mt > 7) throw new EptError(`memory type ${mt} does not fit in bits 5:3`);
    const attrs = rwx | (mt << EPT_MEMTYPE_SHIFT) | (opts.ignorePat === true ? EPT_IGNORE_PAT : 0);
    const maxPage = opts.maxPage ?? PAGE_1G;
    for (let off = 0; off < size;) {
      const g = gpa + off, h = hpa + off;
      const [span, level] = this.pageFor(g, h, size - off, maxPage);
      const table = this.tableFor(g, level);
      const at = table + eptIndex(g, level) * 8;
      const old = this.mem.read32(at) >>> 0;
      if (level > 1 && (old & EPT_RWX) !== 0 && !isLeaf(old, level)) this.freeTable((old & EPT_ADDR_MASK) >>> 0, (level - 1) as EptLevel);
      this.writeEntry(at, (h | attrs | (level > 1 ? EPT_LARGE : 0)) >>> 0);
      off += span;
    }
  }

  /** Maps one 4 KiB page (map-on-demand after an EPT violation); a large page around it is split. */
  mapPage(gpa: number, hpa: number, perms: EptPerms, opts: Omit<EptMapOptions, 'maxPage'> = {}): void {
    this.map(gpa - (gpa % PAGE_4K), hpa - (hpa % PAGE_4K), PAGE_4K, perms, { ...opts, maxPage: PAGE_4K });
  }

  /** Makes [gpa, gpa+size) not present. Paging-structure pages left empty are kept. */
  unmap(gpa: number, size: number): void {
    this.checkRange(gpa, size);
    this.editLeaves(this.pml4, 4, 0, gpa, gpa + size, () => 0);
  }

  /** Replaces the R/W/X bits of every mapped page in [gpa, gpa+size); holes stay unmapped. */
  protect(gpa: number, size: number, perms: EptPerms): void {
    this.checkRange(gpa, size);
    const rwx = permBits(perms);
    if (rwx === 0) throw new EptError('removing all permissions makes the entries not present: use unmap');
    this.editLeaves(this.pml4, 4, 0, gpa, gpa + size, (lo) => ((lo & ~EPT_RWX) | rwx) >>> 0);
  }

  /**
   * Maps a VM's slots: RAM read/write/execute (read/execute when read-only),
   * MMIO left not present (every access is an EPT violation) or, with
   * `mmio: 'misconfig'`, mapped write+execute without read, which is an EPT
   * misconfiguration: the pattern KVM uses so MMIO exits are recognised
   * without a slot lookup.
   */
  mapSlots(slots: MemorySlots, opts: { mmio?: 'violation' | 'misconfig' } = {}): void {
    for (const s of slots.list()) {
      if (s.kind === 'ram') this.map(s.gpa, s.hpa, s.size, s.readOnly ? 'r-x' : 'rwx');
      else if (opts.mmio === 'misconfig') this.map(s.gpa, 0, s.size, '-wx', { maxPage: PAGE_4K });
      else this.unmap(s.gpa, s.size);
    }
  }

  private checkRange(gpa: number, size: number): void {
    if (gpa % PAGE_4K !== 0 || size % PAGE_4K !== 0 || size <= 0) throw new EptError(`range [${hex(gpa)}, ${hex(gpa + size)}) is not a nonempty run of 4 KiB pages`);
    if (gpa < 0 || gpa + size > EPT_GPA_LIMIT) throw new EptError(`range [${hex(gpa)}, ${hex(gpa + size)}) is outside the 48-bit guest-physical space`);
  }

  private pageFor(gpa: number, hpa: number, left: number, maxPage: number): [number, EptLevel] {
    for (const [span, level] of LEVEL_FOR_SIZE) {
      if (span > maxPage) continue;
      if (span === PAGE_1G && !this.caps.pages1G) continue;
      if (span === PAGE_2M && !this.caps.pages2M) continue;
      if (gpa % span === 0 && hpa % span === 0 && left >= span) return [span, level];
    }
    return [PAGE_4K, 1];
  }

  /** The table holding the entry for gpa at `level`, creating tables and splitting large pages on the way. */
  private tableFor(gpa: number, level: EptLevel): number {
    let table = this.pml4;
    for (let l: EptLevel = 4; l > level; l = (l - 1) as EptLevel) {
      const at = table + eptIndex(gpa, l) * 8;
      let lo = this.mem.read32(at) >>> 0;
      if ((lo & EPT_RWX) === 0) {
        const t = this.newTable();
        lo = (t | EPT_RWX) >>> 0;
        this.writeEntry(at, lo);
      } else if (isLeaf(lo, l)) {
        lo = this.split(at, l, lo);
      }
      table = (lo & EPT_ADDR_MASK) >>> 0;
    }
    return table;
  }

  /** Replaces a large leaf by a table of 512 leaves one level down with the same attributes; returns the new entry. */
  private split(at: number, level: EptLevel, lo: number): number {
    const child = (level - 1) as EptLevel;
    const span = EPT_LEVEL_SPAN[child];
    const base = (lo & EPT_ADDR_MASK & ~(EPT_LEVEL_SPAN[level] - 1)) >>> 0;
    const t = this.newTable();
    const attrs = (lo & INHERITED) | (child > 1 ? EPT_LARGE : 0);
    for (let i = 0; i < 512; i++) this.writeEntry(t + i * 8, (base + i * span + attrs) >>> 0);
    // The table pointer grants everything: the leaves below keep the page's rights.
    const entry = (t | EPT_RWX | (lo & EPT_ACCESSED)) >>> 0;
    this.writeEntry(at, entry);
    return entry;
  }

  private editLeaves(table: number, level: EptLevel, tableBase: number, lo: number, hi: number, fn: (entry: number) => number): void {
    const span = EPT_LEVEL_SPAN[level];
    const first = Math.floor((Math.max(lo, tableBase) - tableBase) / span);
    const last = Math.min(511, Math.floor((hi - 1 - tableBase) / span));
    for (let i = first; i <= last; i++) {
      const at = table + i * 8;
      const start = tableBase + i * span;
      let e = this.mem.read32(at) >>> 0;
      if ((e & EPT_RWX) === 0) continue;
      if (isLeaf(e, level)) {
        if (lo <= start && start + span <= hi) {
          this.writeEntry(at, fn(e));
          continue;
        }
        e = this.split(at, level, e);
      }
      this.editLeaves((e & EPT_ADDR_MASK) >>> 0, (level - 1) as EptLevel, start, lo, hi, fn);
    }
  }

  private newTable(): number {
    this.tables++;
    return this.alloc.allocPage();
  }

  private freeTable(table: number, level: EptLevel): void {
    if (level > 1) {
      for (let i = 0; i < 512; i++) {
        const e = this.mem.read32(table + i * 8) >>> 0;
        if ((e & EPT_RWX) !== 0 && !isLeaf(e, level)) this.freeTable((e & EPT_ADDR_MASK) >>> 0, (level - 1) as EptLevel);
      }
    }
    this.tables--;
    this.alloc.freePage(table);
  }

  private writeEntry(at: number, lo: number): void {
    this.mem.write32(at, lo | 0);
    this.mem.write32(at + 4, 0);
  }
}
