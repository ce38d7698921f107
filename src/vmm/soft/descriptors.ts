// Ring compression: the real GDT is the guest's, copied into the VMM area
// with every DPL-0 code and data descriptor made DPL 1 (the ring the guest
// kernel really runs in). The guest's kernel selectors then load in ring 1
// (code: DPL = CPL; data: DPL >= CPL), so ordinary segment loads need no
// trap. System descriptors (TSS, LDT, gates) are not copied: LTR and LLDT
// trap and are emulated against the guest's own table.

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

/** One descriptor compressed: DPL 0 → `ring`, accessed set (the real GDT page is read-only to the guest). */
export function compressDescriptor(lo: number, hi: number, ring: number): [number, number] {
  if ((hi & S) === 0) return [0, 0];
  let h = hi | ACCESSED;
  if (((h >>> DPL_SHIFT) & 3) === 0) h = (h & ~(3 << DPL_SHIFT)) | (ring << DPL_SHIFT);
  return [lo >>> 0, h >>> 0];
}

export interface GdtSync {
  /** Guest descriptors copied. */
  entries: number;
  /** Descriptors whose DPL was raised. */
  compressed: number;
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
  for (let i = 0; i < 512; i++) {
    let lo = 0, hi = 0;
    if (i * 8 + 8 <= bytes.length) {
      const o = i * 8;
      lo = (bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24)) >>> 0;
      hi = (bytes[o + 4] | (bytes[o + 5] << 8) | (bytes[o + 6] << 16) | (bytes[o + 7] << 24)) >>> 0;
    }
    const [l, h] = i === 0 ? [0, 0] : compressDescriptor(lo, hi, ring);
    if ((hi & S) !== 0 && (hi & P) !== 0 && ((hi >>> DPL_SHIFT) & 3) === 0) compressed++;
    mem.write32(hpa + i * 8, l);
    mem.write32(hpa + i * 8 + 4, h);
  }
  return { entries: bytes.length >>> 3, compressed };
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
