// Ring compression: the real GDT is the guest's, copied into the VMM area
// with every code and data descriptor of a DPL below the ring the guest
// kernel really runs in raised to that ring: DPL 0 becomes 1 (the default),
// or DPL 0, 1 and 2 become 3 (kernelRing 3). The guest's kernel selectors
// then load in that ring (code: DPL = CPL; data: DPL >= CPL), so ordinary
// segment loads need no trap. In ring 3 the real table can no longer tell a
// kernel segment from a user one: the guest's own DPLs are kept beside it
// (GdtSync.guestDpl). System descriptors (TSS, LDT, gates) are not copied:
// LTR and LLDT trap and are emulated against the guest's own table.

import type { Cpu } from '../../x86/cpu/cpu';
import type { GuestMemory } from './guest-memory';

/** Linear base of the VMM area every address space reserves (the top 4 MiB). */
export const VMM_AREA = 0xffc00000;
/** The real GDT, first page of the VMM area. */
export const REAL_GDT_LINEAR = VMM_AREA;
/** Descriptors one page holds: the largest guest GDT ring compression copies. */
export const MAX_GDT_LIMIT = 0xfff;

const S = 1 << 12;
const P = 1 << 15;
const DPL_SHIFT = 13;
const ACCESSED = 1 << 8;

/** Segments the VMM provides to a paravirtualized kernel (Xen's FLAT_RING1_* and FLAT_RING3_*). */
export const PV_SELECTORS = { kernelCode: 0x09, kernelData: 0x11, userCode: 0x1b, userData: 0x23 } as const;

/** One descriptor compressed: a DPL below `ring` → `ring`, accessed set (the real GDT page is read-only to the guest). */
export function compressDescriptor(lo: number, hi: number, ring: number): [number, number] {
  if ((hi & S) === 0) return [0, 0];
  let h = hi | ACCESSED;
  if (((h >>> DPL_SHIFT) & 3) < ring) h = (h & ~(3 << DPL_SHIFT)) | (ring << DPL_SHIFT);
  return [lo >>> 0, h >>> 0];
}

/** In GdtSync.guestDpl: the entry is no present code or data descriptor. */
export const NO_SEGMENT = 0xff;

export interface GdtSync {
  /** Guest descriptors copied. */
  entries: number;
  /** Descriptors whose DPL was raised. */
  compressed: number;
  /** The guest's own DPL of each entry (by selector >> 3), NO_SEGMENT for system, absent or missing entries. */
  guestDpl: Uint8Array;
}

/**
 * Rebuilds the real GDT (host page `hpa`) from the guest's, read through the
 * guest's own paging. Returns null (and leaves the table) when the guest's
 * table is not readable; the caller reports why.
 */
export function syncGdt(mem: Cpu['mem'], hpa: number, guest: GuestMemory, base: number, limit: number, ring: number): GdtSync | null {
  const size = Math.min(limit, MAX_GDT_LIMIT) + 1;
  const bytes = guest.read(base, size & ~7);
  if (!(bytes instanceof Uint8Array)) return null;
  let compressed = 0;
  const guestDpl = new Uint8Array(512).fill(NO_SEGMENT);
  for (let i = 0; i < 512; i++) {
    let lo = 0, hi = 0;
    if (i * 8 + 8 <= bytes.length) {
      const o = i * 8;
      lo = (bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24)) >>> 0;
      hi = (bytes[o + 4] | (bytes[o + 5] << 8) | (bytes[o + 6] << 16) | (bytes[o + 7] << 24)) >>> 0;
    }
    const [l, h] = i === 0 ? [0, 0] : compressDescriptor(lo, hi, ring);
    if (i !== 0 && (hi & S) !== 0 && (hi & P) !== 0) {
      guestDpl[i] = (hi >>> DPL_SHIFT) & 3;
      if (guestDpl[i] < ring) compressed++;
    }
    mem.write32(hpa + i * 8, l);
    mem.write32(hpa + i * 8 + 4, h);
  }
  return { entries: bytes.length >>> 3, compressed, guestDpl };
}

/** The flat segments a paravirtualized kernel runs on: null, ring-1 code and data, ring-3 code and data. */
export function writePvGdt(mem: Cpu['mem'], hpa: number): void {
  const flat = (type: number, dpl: number): [number, number] => [0x0000ffff, (0x00cf0000 | P | S | (dpl << DPL_SHIFT) | (type << 8) | ACCESSED) >>> 0];
  const rows: [number, number][] = [[0, 0], flat(0xa, 1), flat(0x2, 1), flat(0xa, 3), flat(0x2, 3)];
  for (let i = 0; i < 512; i++) {
    const [lo, hi] = rows[i] ?? [0, 0];
    mem.write32(hpa + i * 8, lo);
    mem.write32(hpa + i * 8 + 4, hi);
  }
}
