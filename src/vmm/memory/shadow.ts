// Shadow page tables: the 32-bit two-level tables the processor really walks
// when EPT is off. They map guest-virtual pages straight to host-physical
// ones and are filled by the VMM one page at a time, on the guest's page
// faults, from the guest's own tables. They therefore behave like the
// guest's TLB: an entry stays until the guest invalidates it (INVLPG) or
// reloads CR3, whatever the guest later writes into its own tables.
//
// A root is one page directory in host memory. Shadow PDEs always grant
// everything and point at shadow page tables; the rights live in the PTEs,
// so a guest 4 MiB page is shadowed as 4 KiB pages, filled one by one.

import type { PhysicalMemory } from '../../x86/mmu/memory';
import type { HostAllocator } from './host';

const P = 1, RW = 2, US = 4, A = 0x20, D = 0x40;
const PDE_TABLE = P | RW | US | A;

/** One shadow entry as the processor reads it. */
export interface ShadowEntry {
  level: 2 | 1;
  name: 'PDE' | 'PTE';
  /** Host-physical address of the entry. */
  hpa: number;
  value: number;
}

/** A shadow root's entries for one GVA: the PDE, and the PTE when the PDE points to a table. */
export interface ShadowLookup {
  root: number;
  pde: ShadowEntry;
  pte: ShadowEntry | null;
  /** Host-physical address of the byte when the PTE is present. */
  hpa: number | null;
}

/** Plain-JSON state of one root: its page tables by directory index. */
export interface ShadowRootState { root: number; tables: [number, number][] }

export class ShadowTables {
  /** Page tables of each root, by page-directory index. */
  private readonly roots = new Map<number, Map<number, number>>();

  constructor(private readonly mem: PhysicalMemory, private readonly alloc: HostAllocator) {}

  /** A new, empty page directory. */
  newRoot(): number {
    const root = this.alloc.allocPage();
    this.roots.set(root, new Map());
    return root;
  }

  /** Shadow page tables in use under `root`. */
  tableCount(root: number): number {
    return this.tables(root).size;
  }

  /** Maps the 4 KiB page holding `gva` to the host page holding `hpa`. */
  set(root: number, gva: number, hpa: number, rights: { writable: boolean; user: boolean }): ShadowEntry {
    const tables = this.tables(root);
    const di = gva >>> 22;
    let pt = tables.get(di);
    if (pt === undefined) {
      pt = this.alloc.allocPage();
      tables.set(di, pt);
      this.mem.write32(root + di * 4, (pt | PDE_TABLE) | 0);
    }
    const at = pt + ((gva >>> 12) & 0x3ff) * 4;
    // Accessed (and dirty, when writable) are preset: the guest's own bits were set by the VMM already.
    const value = ((hpa & 0xfffff000) | P | A | (rights.writable ? RW | D : 0) | (rights.user ? US : 0)) >>> 0;
    this.mem.write32(at, value | 0);
    return { level: 1, name: 'PTE', hpa: at, value };
  }

  /** Drops the shadow PTE of one page (INVLPG); true when one was present. */
  drop(root: number, gva: number): boolean {
    const pt = this.tables(root).get(gva >>> 22);
    if (pt === undefined) return false;
    const at = pt + ((gva >>> 12) & 0x3ff) * 4;
    const present = (this.mem.read32(at) & P) !== 0;
    this.mem.write32(at, 0);
    return present;
  }

  /** Empties a root (a guest CR3 load): its page tables go back to the allocator. */
  clear(root: number): number {
    const tables = this.tables(root);
    const n = tables.size;
    for (const [di, pt] of tables) {
      this.mem.write32(root + di * 4, 0);
      this.alloc.freePage(pt);
    }
    tables.clear();
    return n;
  }

  /** The entries the processor would read for `gva` under `root`. */
  lookup(root: number, gva: number): ShadowLookup {
    const pdeAt = (root + (gva >>> 22) * 4) >>> 0;
    const pdeValue = this.mem.read32(pdeAt) >>> 0;
    const out: ShadowLookup = { root, pde: { level: 2, name: 'PDE', hpa: pdeAt, value: pdeValue }, pte: null, hpa: null };
    if ((pdeValue & P) === 0) return out;
    const pteAt = ((pdeValue & 0xfffff000) + ((gva >>> 12) & 0x3ff) * 4) >>> 0;
    const pteValue = this.mem.read32(pteAt) >>> 0;
    out.pte = { level: 1, name: 'PTE', hpa: pteAt, value: pteValue };
    if ((pteValue & P) !== 0) out.hpa = ((pteValue & 0xfffff000) | (gva & 0xfff)) >>> 0;
    return out;
  }

  snapshot(): ShadowRootState[] {
    return [...this.roots].map(([root, tables]) => ({ root, tables: [...tables] }));
  }

  /** Restores the bookkeeping; the tables themselves are in host memory, which the machine snapshot restores. */
  restore(state: ShadowRootState[]): void {
    this.roots.clear();
    for (const r of state) this.roots.set(r.root, new Map(r.tables));
  }

  private tables(root: number): Map<number, number> {
    const t = this.roots.get(root);
    if (t === undefined) throw new Error(`0x${root.toString(16)} is not a shadow root`);
    return t;
  }
}
