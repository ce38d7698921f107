// Host-physical memory handed out by the hypervisor: guest RAM carved for
// memory slots and zeroed 4 KiB pages for EPT paging structures, from one
// region of the machine's PhysicalMemory that the VMM reserves for itself.

import type { PhysicalMemory } from '../../x86/mmu/memory';

const PAGE = 0x1000;

export class HostMemoryError extends Error {
  override name = 'HostMemoryError';
}

export class HostAllocator {
  private next: number;
  private readonly freePages: number[] = [];

  /**
   * Hands out [base, limit) of host-physical memory. Both ends must be
   * 4 KiB-aligned and inside the machine's RAM.
   */
  constructor(readonly mem: PhysicalMemory, readonly base: number, readonly limit: number) {
    if (base % PAGE !== 0 || limit % PAGE !== 0) throw new HostMemoryError(`host region [0x${base.toString(16)}, 0x${limit.toString(16)}) is not 4 KiB-aligned`);
    if (base >= limit) throw new HostMemoryError(`host region [0x${base.toString(16)}, 0x${limit.toString(16)}) is empty`);
    if (limit > mem.size) throw new HostMemoryError(`host region ends at 0x${limit.toString(16)}, past host RAM (0x${mem.size.toString(16)} bytes)`);
    this.next = base;
  }

  /** Bytes never handed out yet (freed pages not counted). */
  get remaining(): number {
    return this.limit - this.next;
  }

  /** A zeroed, `align`-aligned range of `size` bytes (size a multiple of 4 KiB). */
  allocRange(size: number, align = PAGE): number {
    if (size <= 0 || size % PAGE !== 0) throw new HostMemoryError(`size 0x${size.toString(16)} is not a positive multiple of 4 KiB`);
    if (align < PAGE || (align & (align - 1)) !== 0) throw new HostMemoryError(`alignment 0x${align.toString(16)} is not a power of two of at least 4 KiB`);
    const start = Math.ceil(this.next / align) * align;
    if (start + size > this.limit) {
      throw new HostMemoryError(`out of host memory: 0x${size.toString(16)} bytes aligned to 0x${align.toString(16)} do not fit in [0x${this.next.toString(16)}, 0x${this.limit.toString(16)})`);
    }
    // The skipped alignment gap is reusable for single pages.
    for (let p = this.next; p < start; p += PAGE) this.freePages.push(p);
    this.next = start + size;
    for (let p = start; p < start + size; p += PAGE) this.zeroPage(p);
    return start;
  }

  /** One zeroed 4 KiB page (for a paging structure). */
  allocPage(): number {
    const p = this.freePages.pop();
    if (p !== undefined) {
      this.zeroPage(p);
      return p;
    }
    return this.allocRange(PAGE);
  }

  /** Returns a page obtained from allocPage or allocRange. */
  freePage(hpa: number): void {
    if (hpa % PAGE !== 0 || hpa < this.base || hpa >= this.next) throw new HostMemoryError(`0x${hpa.toString(16)} is not a page handed out by this allocator`);
    this.freePages.push(hpa);
  }

  /** The bookkeeping (plain JSON) for whole-VM snapshots; the pages themselves live in machine memory. */
  state(): { next: number; free: number[] } {
    return { next: this.next, free: [...this.freePages] };
  }

  setState(s: { next: number; free: number[] }): void {
    if (s.next < this.base || s.next > this.limit) throw new HostMemoryError(`allocator state 0x${s.next.toString(16)} lies outside [0x${this.base.toString(16)}, 0x${this.limit.toString(16)})`);
    this.next = s.next;
    this.freePages.splice(0, this.freePages.length, ...s.free);
  }

  private zeroPage(p: number): void {
    this.mem.fillPattern(p, 0, 1, PAGE);
  }
}
