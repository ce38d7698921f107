// A VM's memory slots: which guest-physical ranges are RAM backed by host
// memory (and where), and which are MMIO with no backing, so that every
// access to them must exit to the VMM for a device model to emulate.

const PAGE = 0x1000;
const LARGE = 0x200000;
/** The guest is a 32-bit machine without PAE: guest-physical addresses are below 4 GiB. */
export const GPA_LIMIT = 2 ** 32;

export interface RamSlot {
  kind: 'ram';
  name: string;
  gpa: number;
  size: number;
  /** Host-physical address of the first byte. */
  hpa: number;
  /** Mapped without write permission (ROM images): writes exit to the VMM. */
  readOnly: boolean;
}

export interface MmioSlot {
  kind: 'mmio';
  name: string;
  gpa: number;
  size: number;
}

export type MemorySlot = RamSlot | MmioSlot;

export type GpaResolution =
  | { kind: 'ram'; slot: RamSlot; hpa: number }
  | { kind: 'mmio'; slot: MmioSlot; offset: number }
  | { kind: 'unmapped' };

export class SlotError extends Error {
  override name = 'SlotError';
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const range = (s: { gpa: number; size: number }): string => `[${hex(s.gpa)}, ${hex(s.gpa + s.size)})`;

export class MemorySlots {
  private slots: MemorySlot[] = [];

  /** `hostSize`: bytes of host-physical RAM that RAM slots may use. */
  constructor(readonly hostSize: number) {}

  /** The slots in guest-physical order. */
  list(): readonly MemorySlot[] {
    return this.slots;
  }

  addRam(s: { name: string; gpa: number; size: number; hpa: number; readOnly?: boolean }): RamSlot {
    const slot: RamSlot = { kind: 'ram', name: s.name, gpa: s.gpa, size: s.size, hpa: s.hpa, readOnly: s.readOnly ?? false };
    this.checkRange(slot);
    if (s.hpa % PAGE !== 0) throw new SlotError(`slot "${s.name}": host address ${hex(s.hpa)} is not 4 KiB-aligned`);
    if (s.hpa < 0 || s.hpa + s.size > this.hostSize) {
      throw new SlotError(`slot "${s.name}": host range [${hex(s.hpa)}, ${hex(s.hpa + s.size)}) lies outside host RAM (${hex(this.hostSize)} bytes)`);
    }
    for (const o of this.slots) {
      if (o.kind === 'ram' && s.hpa < o.hpa + o.size && o.hpa < s.hpa + s.size) {
        throw new SlotError(`slot "${s.name}": host range [${hex(s.hpa)}, ${hex(s.hpa + s.size)}) overlaps the host memory of slot "${o.name}" [${hex(o.hpa)}, ${hex(o.hpa + o.size)})`);
      }
    }
    this.insert(slot);
    return slot;
  }

  /**
   * Carves the host memory for a RAM slot from an allocator. A slot whose
   * GPA is 2 MiB-aligned gets 2 MiB-aligned host memory, so the EPT can map
   * it with large pages.
   */
  addRamFrom(alloc: { allocRange(size: number, align: number): number }, s: { name: string; gpa: number; size: number; readOnly?: boolean }): RamSlot {
    const probe: MmioSlot = { kind: 'mmio', name: s.name, gpa: s.gpa, size: s.size };
    this.checkRange(probe);
    const align = s.gpa % LARGE === 0 && s.size >= LARGE ? LARGE : PAGE;
    return this.addRam({ ...s, hpa: alloc.allocRange(s.size, align) });
  }

  addMmio(s: { name: string; gpa: number; size: number }): MmioSlot {
    const slot: MmioSlot = { kind: 'mmio', name: s.name, gpa: s.gpa, size: s.size };
    this.checkRange(slot);
    this.insert(slot);
    return slot;
  }

  remove(name: string): MemorySlot {
    const i = this.slots.findIndex((s) => s.name === name);
    if (i < 0) throw new SlotError(`no slot named "${name}"`);
    return this.slots.splice(i, 1)[0];
  }

  /** The slot holding a guest-physical address. */
  find(gpa: number): MemorySlot | undefined {
    let lo = 0, hi = this.slots.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.slots[mid];
      if (gpa < s.gpa) hi = mid - 1;
      else if (gpa >= s.gpa + s.size) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  /** GPA → HPA for RAM; the slot and offset for MMIO. */
  resolve(gpa: number): GpaResolution {
    const s = this.find(gpa);
    if (s === undefined) return { kind: 'unmapped' };
    if (s.kind === 'mmio') return { kind: 'mmio', slot: s, offset: gpa - s.gpa };
    return { kind: 'ram', slot: s, hpa: s.hpa + (gpa - s.gpa) };
  }

  private checkRange(s: MemorySlot): void {
    if (s.name === '') throw new SlotError('a slot needs a name');
    if (this.slots.some((o) => o.name === s.name)) throw new SlotError(`a slot named "${s.name}" already exists`);
    if (s.size <= 0 || s.size % PAGE !== 0) throw new SlotError(`slot "${s.name}": size ${hex(s.size)} is not a positive multiple of 4 KiB`);
    if (s.gpa % PAGE !== 0) throw new SlotError(`slot "${s.name}": guest address ${hex(s.gpa)} is not 4 KiB-aligned`);
    if (s.gpa < 0 || s.gpa + s.size > GPA_LIMIT) throw new SlotError(`slot "${s.name}": ${range(s)} goes past the 4 GiB guest-physical space`);
    for (const o of this.slots) {
      if (s.gpa < o.gpa + o.size && o.gpa < s.gpa + s.size) {
        throw new SlotError(`slot "${s.name}" ${range(s)} overlaps slot "${o.name}" ${range(o)}`);
      }
    }
  }

  private insert(s: MemorySlot): void {
    this.slots.push(s);
    this.slots.sort((a, b) => a.gpa - b.gpa);
  }
}
