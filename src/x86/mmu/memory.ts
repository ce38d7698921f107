// Sparse guest physical memory: 4 KiB pages allocated on first write.
// Untouched RAM reads as 0; addresses beyond RAM that no ROM claims read as
// 0xFF and ignore writes, like an open bus. Each page also carries a
// "holds compiled code" flag so the CPU can drop stale translations on the
// write path without a lookup on every store.

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
const PAGE_COUNT = 0x100000;

export type CodeWriteListener = (page: number) => void;

export class PhysicalMemory {
  readonly size: number;
  /** Readable pages: allocated RAM and ROM. */
  readonly rpages: (Uint8Array | undefined)[];
  /** Writable pages: allocated RAM whose code flag is clear (fast store path). */
  readonly wpages: (Uint8Array | undefined)[];
  /** Int32 views of the readable and writable pages, for aligned dword accesses. */
  readonly rpages32: (Int32Array | undefined)[];
  readonly wpages32: (Int32Array | undefined)[];
  /** 1 where a page is ROM (writes ignored). */
  readonly romPage = new Uint8Array(PAGE_COUNT);
  /** How many CPUs (engines) hold compiled code for the page; non-zero pages take the slow store path. */
  readonly codePage = new Uint16Array(PAGE_COUNT);
  /** Every CPU sharing this memory listens: a store to a code page drops that page's blocks in all of them. */
  private readonly codeWriteListeners: CodeWriteListener[] = [];
  private readonly ramPages: number;

  constructor(size = 256 * 1024 * 1024) {
    this.size = size;
    this.ramPages = Math.ceil(size / PAGE_SIZE);
    // The page arrays cover RAM and grow when ROM is mapped above it: four arrays of a million
    // entries each would cost tens of milliseconds per machine. They stay packed (no holes),
    // and a page past their end reads as undefined, like a page never allocated.
    this.rpages = new Array<Uint8Array | undefined>(this.ramPages).fill(undefined);
    this.wpages = new Array<Uint8Array | undefined>(this.ramPages).fill(undefined);
    this.rpages32 = new Array<Int32Array | undefined>(this.ramPages).fill(undefined);
    this.wpages32 = new Array<Int32Array | undefined>(this.ramPages).fill(undefined);
  }

  /** Makes the page arrays reach page p. */
  private reach(p: number): void {
    for (const a of [this.rpages, this.wpages, this.rpages32, this.wpages32] as (unknown[])[]) {
      while (a.length <= p) a.push(undefined);
    }
  }

  private setR(p: number, page: Uint8Array | undefined): void {
    if (p >= this.rpages.length) {
      if (page === undefined) return;
      this.reach(p);
    }
    this.rpages[p] = page;
    this.rpages32[p] = page === undefined ? undefined : new Int32Array(page.buffer, page.byteOffset, 1024);
  }

  private setW(p: number, page: Uint8Array | undefined): void {
    if (p >= this.wpages.length) {
      if (page === undefined) return;
      this.reach(p);
    }
    this.wpages[p] = page;
    this.wpages32[p] = page === undefined ? undefined : this.rpages32[p];
  }

  /** Whether a physical address is backed by RAM or ROM. */
  isBacked(addr: number): boolean {
    const p = addr >>> PAGE_SHIFT;
    return p < this.ramPages || this.romPage[p] === 1;
  }

  private allocate(p: number): Uint8Array | undefined {
    if (p >= this.ramPages || this.romPage[p] === 1) return undefined;
    let page = this.rpages[p];
    if (page === undefined) {
      page = new Uint8Array(PAGE_SIZE);
      this.setR(p, page);
    }
    return page;
  }

  read8(addr: number): number {
    const page = this.rpages[addr >>> PAGE_SHIFT];
    if (page !== undefined) return page[addr & 0xfff];
    return (addr >>> PAGE_SHIFT) < this.ramPages ? 0 : 0xff;
  }

  read16(addr: number): number {
    const o = addr & 0xfff;
    const page = this.rpages[addr >>> PAGE_SHIFT];
    if (page !== undefined && o < 0xfff) return page[o] | (page[o + 1] << 8);
    return this.read8(addr) | (this.read8((addr + 1) >>> 0) << 8);
  }

  /** Returns the value as a signed 32-bit number. */
  read32(addr: number): number {
    const o = addr & 0xfff;
    if ((o & 3) === 0) {
      const p32 = this.rpages32[addr >>> PAGE_SHIFT];
      if (p32 !== undefined) return p32[o >> 2];
    }
    const page = this.rpages[addr >>> PAGE_SHIFT];
    if (page !== undefined && o < 0xffd) return page[o] | (page[o + 1] << 8) | (page[o + 2] << 16) | (page[o + 3] << 24);
    return this.read16(addr) | (this.read16((addr + 2) >>> 0) << 16);
  }

  write8(addr: number, v: number): void {
    const p = addr >>> PAGE_SHIFT;
    const page = this.wpages[p];
    if (page !== undefined) { page[addr & 0xfff] = v; return; }
    this.writeSlow(addr, v);
  }

  write16(addr: number, v: number): void {
    const o = addr & 0xfff;
    const page = this.wpages[addr >>> PAGE_SHIFT];
    if (page !== undefined && o < 0xfff) { page[o] = v; page[o + 1] = v >> 8; return; }
    this.write8(addr, v & 0xff);
    this.write8((addr + 1) >>> 0, (v >> 8) & 0xff);
  }

  write32(addr: number, v: number): void {
    const o = addr & 0xfff;
    if ((o & 3) === 0) {
      const p32 = this.wpages32[addr >>> PAGE_SHIFT];
      if (p32 !== undefined) { p32[o >> 2] = v; return; }
    }
    const page = this.wpages[addr >>> PAGE_SHIFT];
    if (page !== undefined && o < 0xffd) {
      page[o] = v; page[o + 1] = v >> 8; page[o + 2] = v >> 16; page[o + 3] = v >> 24;
      return;
    }
    this.write16(addr, v & 0xffff);
    this.write16((addr + 2) >>> 0, (v >>> 16) & 0xffff);
  }

  private writeSlow(addr: number, v: number): void {
    // Through writablePage so the page also gets its Int32 view for the dword fast paths.
    const page = this.writablePage(addr >>> PAGE_SHIFT);
    if (page !== undefined) page[addr & 0xfff] = v;
  }

  /** Page for writing at a page number (allocating it), or undefined for ROM/unbacked. */
  private writablePage(p: number): Uint8Array | undefined {
    const w = this.wpages[p];
    if (w !== undefined) return w;
    const page = this.allocate(p);
    if (page === undefined) return undefined;
    if (this.codePage[p] !== 0) {
      this.codePage[p] = 0;
      for (const l of this.codeWriteListeners) l(p);
    }
    this.setW(p, page);
    return page;
  }

  /**
   * Copies len bytes forward (byte by byte semantics) from src to dst; both
   * ranges must lie within one page each.
   */
  copyForward(dst: number, src: number, len: number): void {
    const sp = this.rpages[src >>> PAGE_SHIFT];
    const dp = this.writablePage(dst >>> PAGE_SHIFT);
    if (dp === undefined) return;
    const so = src & 0xfff, d0 = dst & 0xfff;
    if (sp === undefined) { dp.fill(this.isBacked(src) ? 0 : 0xff, d0, d0 + len); return; }
    if (sp === dp && d0 > so && d0 < so + len) {
      for (let i = 0; i < len; i++) dp[d0 + i] = sp[so + i];
      return;
    }
    if (sp === dp) dp.copyWithin(d0, so, so + len); else dp.set(sp.subarray(so, so + len), d0);
  }

  /** Fills count elements of size bytes with value; the range must lie within one page. */
  fillPattern(dst: number, value: number, size: number, count: number): void {
    const dp = this.writablePage(dst >>> PAGE_SHIFT);
    if (dp === undefined) return;
    let o = dst & 0xfff;
    if (size === 1) { dp.fill(value & 0xff, o, o + count); return; }
    for (let i = 0; i < count; i++) {
      for (let b = 0; b < size; b++) dp[o++] = value >> (b * 8);
    }
  }

  /** Adds a listener for stores to marked code pages (one per CPU engine); returns its removal. */
  addCodeWriteListener(l: CodeWriteListener): () => void {
    this.codeWriteListeners.push(l);
    return () => {
      const i = this.codeWriteListeners.indexOf(l);
      if (i >= 0) this.codeWriteListeners.splice(i, 1);
    };
  }

  /**
   * One engine starts holding compiled code for a page: stores to it take the
   * slow path. Marks are counted so that one CPU dropping its blocks does not
   * hide later stores from another CPU that still holds code there.
   */
  markCode(page: number): void {
    if (this.codePage[page]++ === 0) this.setW(page, undefined);
  }

  /** One engine no longer holds code for the page. */
  unmarkCode(p: number): void {
    if (this.codePage[p] === 0) return;
    if (--this.codePage[p] === 0 && this.romPage[p] === 0) this.setW(p, this.rpages[p]);
  }

  /** Copies bytes into RAM (ROM pages are skipped; use mapRom). */
  load(addr: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.write8((addr + i) >>> 0, bytes[i]);
  }

  readBytes(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) out[i] = this.read8((addr + i) >>> 0);
    return out;
  }

  /** Maps a read-only image at a page-aligned physical address. */
  mapRom(addr: number, image: Uint8Array): void {
    for (let off = 0; off < image.length; off += PAGE_SIZE) {
      const p = (addr + off) >>> PAGE_SHIFT;
      const page = new Uint8Array(PAGE_SIZE);
      page.set(image.subarray(off, Math.min(off + PAGE_SIZE, image.length)));
      this.setR(p, page);
      this.setW(p, undefined);
      this.romPage[p] = 1;
    }
  }

  /** Drops all RAM contents and ROM mappings. */
  reset(): void {
    this.rpages.fill(undefined);
    this.wpages.fill(undefined);
    this.rpages32.fill(undefined);
    this.wpages32.fill(undefined);
    this.romPage.fill(0);
    this.codePage.fill(0);
  }

  /** Touched pages as [page number, bytes] pairs, ROM included. */
  touchedPages(): [number, Uint8Array, boolean][] {
    const out: [number, Uint8Array, boolean][] = [];
    for (let p = 0; p < this.rpages.length; p++) {
      const page = this.rpages[p];
      if (page !== undefined) out.push([p, page, this.romPage[p] === 1]);
    }
    return out;
  }

  /** Installs a page's contents (snapshot restore). */
  setPage(p: number, bytes: Uint8Array, rom: boolean): void {
    const page = new Uint8Array(PAGE_SIZE);
    page.set(bytes.subarray(0, PAGE_SIZE));
    this.setR(p, page);
    this.romPage[p] = rom ? 1 : 0;
    this.setW(p, rom ? undefined : page);
  }
}
