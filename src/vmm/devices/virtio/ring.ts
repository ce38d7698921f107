// One split virtqueue as the device sees it in guest memory (virtio 1.1,
// 2.6). Every structure the device touches is bounds-checked once, when the
// ring is opened; buffer addresses are checked per descriptor. Problems come
// back as messages, never as exceptions: the guest controls all of it.

import { DESC_SIZE, ringLayout, USED_ELEM_SIZE, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, type RingLayout } from './layout';

/**
 * Guest-physical memory as the device reaches it. The VMM passes the
 * machine's memory (or, with EPT, a view that translates first), so the
 * device depends on neither the CPU nor the EPT.
 */
export interface GuestMemoryAccess {
  /** Bytes of guest-physical memory: addresses from here on are outside it. */
  readonly size: number;
  read8(gpa: number): number;
  write8(gpa: number, value: number): void;
  /** Optional block read, used for payloads when present. */
  readBytes?(gpa: number, length: number): Uint8Array;
}

/** No memory connected yet: every queue lies outside it. */
export const NO_MEMORY: GuestMemoryAccess = { size: 0, read8: () => 0xff, write8: () => undefined };

/** One descriptor's buffer. */
export interface RingBuffer {
  addr: number;
  len: number;
  /** VRING_DESC_F_WRITE: the device writes it (receive side). */
  writable: boolean;
}

/** A descriptor chain taken from the available ring. */
export interface Chain {
  head: number;
  buffers: RingBuffer[];
}

const hex = (n: number): string => `0x${n.toString(16).toUpperCase()}`;

export class SplitRing {
  private constructor(private readonly mem: GuestMemoryAccess, readonly layout: RingLayout, readonly size: number) {}

  /** The ring of `size` entries at page frame `pfn`, or why it cannot be used. */
  static open(mem: GuestMemoryAccess, pfn: number, size: number): SplitRing | string {
    const layout = ringLayout(pfn, size);
    if (layout.end > mem.size) {
      return `queue at PFN ${hex(pfn)} (${hex(layout.desc)}-${hex(layout.end - 1)}) lies outside guest memory (${hex(mem.size)} bytes)`;
    }
    return new SplitRing(mem, layout, size);
  }

  private r16(a: number): number {
    return this.mem.read8(a) | (this.mem.read8(a + 1) << 8);
  }

  private r32(a: number): number {
    return (this.r16(a) | (this.r16(a + 2) << 16)) >>> 0;
  }

  private w16(a: number, v: number): void {
    this.mem.write8(a, v & 0xff);
    this.mem.write8(a + 1, (v >>> 8) & 0xff);
  }

  private w32(a: number, v: number): void {
    this.w16(a, v & 0xffff);
    this.w16(a + 2, v >>> 16);
  }

  availFlags(): number { return this.r16(this.layout.avail); }
  availIdx(): number { return this.r16(this.layout.avail + 2); }
  /** The head index in available-ring slot `idx` (a free-running 16-bit index). */
  availHead(idx: number): number { return this.r16(this.layout.avail + 4 + 2 * (idx % this.size)); }
  usedIdx(): number { return this.r16(this.layout.used + 2); }

  /** Writes used element number `idx` (free-running) and then publishes idx + 1 (2.6.8). */
  pushUsed(idx: number, id: number, len: number): number {
    const elem = this.layout.used + 4 + USED_ELEM_SIZE * (idx % this.size);
    this.w32(elem, id);
    this.w32(elem + 4, len);
    const next = (idx + 1) & 0xffff;
    this.w16(this.layout.used + 2, next);
    return next;
  }

  /** Follows the chain starting at descriptor `head` (2.6.5), or says what is wrong with it. */
  chain(head: number): Chain | string {
    if (head >= this.size) return `available ring names descriptor ${head}, out of range (queue size ${this.size})`;
    const buffers: RingBuffer[] = [];
    let i = head;
    for (;;) {
      // A chain can hold each descriptor once; anything longer must revisit one.
      if (buffers.length === this.size) return `descriptor chain from ${head} loops (more than ${this.size} descriptors)`;
      const d = this.layout.desc + DESC_SIZE * i;
      const addr = this.r32(d);
      const high = this.r32(d + 4);
      const len = this.r32(d + 8);
      const flags = this.r16(d + 12);
      const next = this.r16(d + 14);
      if ((flags & VRING_DESC_F_INDIRECT) !== 0) return `descriptor ${i} has VRING_DESC_F_INDIRECT, which the device does not offer`;
      if (high !== 0 || addr + len > this.mem.size) {
        return `descriptor ${i} buffer ${hex(high * 2 ** 32 + addr)} length ${len} lies outside guest memory (${hex(this.mem.size)} bytes)`;
      }
      buffers.push({ addr, len, writable: (flags & VRING_DESC_F_WRITE) !== 0 });
      if ((flags & VRING_DESC_F_NEXT) === 0) return { head, buffers };
      if (next >= this.size) return `descriptor ${i} continues at ${next}, out of range (queue size ${this.size})`;
      i = next;
    }
  }

  read(b: RingBuffer): number[] {
    if (this.mem.readBytes !== undefined) return Array.from(this.mem.readBytes(b.addr, b.len));
    const out: number[] = [];
    for (let k = 0; k < b.len; k++) out.push(this.mem.read8(b.addr + k));
    return out;
  }

  write(addr: number, bytes: readonly number[]): void {
    for (let k = 0; k < bytes.length; k++) this.mem.write8(addr + k, bytes[k]);
  }
}
