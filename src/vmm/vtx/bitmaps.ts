// The I/O and MSR bitmaps. Root mode is not simulated as guest code, so the
// bitmap pages live in host memory owned by the vCPU; the VMCS address fields
// hold the host-physical addresses they would have, for display.

export class IoBitmaps {
  /** Bitmap A covers ports 0x0000-0x7FFF, bitmap B 0x8000-0xFFFF (SDM 25.6.4). */
  readonly a = new Uint8Array(4096);
  readonly b = new Uint8Array(4096);

  set(port: number, on = true): void {
    const p = port & 0xffff;
    const page = p < 0x8000 ? this.a : this.b;
    const bit = p & 0x7fff;
    if (on) page[bit >>> 3] |= 1 << (bit & 7); else page[bit >>> 3] &= ~(1 << (bit & 7));
  }

  isSet(port: number): boolean {
    const p = port & 0xffff;
    const bit = p & 0x7fff;
    return ((p < 0x8000 ? this.a : this.b)[bit >>> 3] & (1 << (bit & 7))) !== 0;
  }

  /**
   * The first set bit among the ports an access touches, as text naming the
   * bitmap, or undefined. An access that wraps past 0xFFFF always exits.
   */
  check(port: number, size: number): string | undefined {
    if (port + size - 1 > 0xffff) return `access wraps past port 0xFFFF (${size} bytes at ${hex(port)})`;
    for (let p = port; p < port + size; p++) {
      if (this.isSet(p)) return `I/O bitmap ${p < 0x8000 ? 'A' : 'B'} bit ${hex(p)} set`;
    }
    return undefined;
  }
}

/** The four 1 KiB quarters of the MSR bitmap page (SDM 25.6.9). */
const MSR_QUARTERS = [
  { offset: 0, write: false, high: false, name: 'read bitmap for low MSRs' },
  { offset: 1024, write: false, high: true, name: 'read bitmap for high MSRs' },
  { offset: 2048, write: true, high: false, name: 'write bitmap for low MSRs' },
  { offset: 3072, write: true, high: true, name: 'write bitmap for high MSRs' },
] as const;

export class MsrBitmap {
  readonly page = new Uint8Array(4096);

  /** Byte offset and bit of an MSR in the page, or undefined for MSRs outside both ranges. */
  locate(msr: number, write: boolean): { offset: number; bit: number; quarter: string } | undefined {
    const m = msr >>> 0;
    const high = m >= 0xc0000000 && m <= 0xc0001fff;
    if (!high && m > 0x1fff) return undefined;
    const q = MSR_QUARTERS.find((x) => x.write === write && x.high === high);
    if (q === undefined) return undefined;
    const n = m & 0x1fff;
    return { offset: q.offset + (n >>> 3), bit: n & 7, quarter: q.name };
  }

  set(msr: number, write: boolean, on = true): void {
    const l = this.locate(msr, write);
    if (l === undefined) throw new Error(`MSR ${hex(msr)} is outside the MSR-bitmap ranges`);
    if (on) this.page[l.offset] |= 1 << l.bit; else this.page[l.offset] &= ~(1 << l.bit);
  }

  /** Why an access exits, or undefined when the bitmap lets it through. */
  check(msr: number, write: boolean): string | undefined {
    const l = this.locate(msr, write);
    if (l === undefined) return `MSR ${hex(msr)} outside 0-0x1FFF and 0xC0000000-0xC0001FFF (always exits)`;
    if ((this.page[l.offset] & (1 << l.bit)) === 0) return undefined;
    return `MSR bitmap ${l.quarter} bit ${hex(msr & 0x1fff)} set (byte ${hex(l.offset)} bit ${l.bit})`;
  }
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).toUpperCase()}`;
}
