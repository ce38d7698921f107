// A segment register with its hidden descriptor cache. `attr` uses the VMX
// access-rights layout (bits 3:0 type, 4 S, 6:5 DPL, 7 P, 12 AVL, 13 L,
// 14 D/B, 15 G, 16 unusable) so the VMM layer can copy it to and from a VMCS
// unchanged. The rlo/rhi/wlo/whi bounds are derived from it so a memory access
// checks rights and limit with two compares.

export const ATTR_UNUSABLE = 0x10000;
export const ATTR_P = 0x80;
export const ATTR_S = 0x10;
export const ATTR_DB = 0x4000;
export const ATTR_G = 0x8000;

export interface SegmentCache { selector: number; base: number; limit: number; attr: number }

export class SegReg implements SegmentCache {
  selector = 0;
  base = 0;
  limit = 0xffff;
  attr = 0x93;
  /** Valid read offsets are [rlo, rhi]; an empty range means no reads. */
  rlo = 0;
  rhi = 0xffff;
  wlo = 0;
  whi = 0xffff;

  set(selector: number, base: number, limit: number, attr: number): void {
    this.selector = selector & 0xffff;
    this.base = base >>> 0;
    this.limit = limit >>> 0;
    this.attr = attr;
    this.refresh();
  }

  get dpl(): number { return (this.attr >> 5) & 3; }
  get big(): boolean { return (this.attr & ATTR_DB) !== 0; }
  get usable(): boolean { return (this.attr & ATTR_UNUSABLE) === 0; }

  refresh(): void {
    const a = this.attr;
    this.rlo = 1; this.rhi = 0; this.wlo = 1; this.whi = 0;
    if ((a & ATTR_UNUSABLE) !== 0 || (a & ATTR_P) === 0) return;
    if ((a & ATTR_S) === 0) {
      // System descriptors (LDT, TSS) are only read through implicit accesses.
      this.rlo = 0; this.rhi = this.limit;
      return;
    }
    const type = a & 0xf;
    const code = (type & 8) !== 0;
    let lo = 0, hi = this.limit;
    if (!code && (type & 4) !== 0) { // expand-down
      lo = this.limit + 1;
      hi = (a & ATTR_DB) !== 0 ? 0xffffffff : 0xffff;
    }
    if (!code || (type & 2) !== 0) { this.rlo = lo; this.rhi = hi; }
    if (!code && (type & 2) !== 0) { this.wlo = lo; this.whi = hi; }
  }

  copyFrom(s: SegmentCache): void {
    this.set(s.selector, s.base, s.limit, s.attr);
  }

  toJSON(): SegmentCache {
    return { selector: this.selector, base: this.base, limit: this.limit, attr: this.attr };
  }
}

/** Decodes the two dwords of a segment descriptor. */
export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
}
export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return (hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
}
export function descAttr(hi: number): number {
  return (hi >>> 8) & 0xf0ff;
}
