export interface SourceMapEntry {
  address: number;
  length: number;
  file: string;
  line: number;
  column: number;
  bits: 16 | 32;
}

export interface SourceMap {
  /** Sorted by address, one per emitted instruction/data line. */
  entries: SourceMapEntry[];
  /** Entry containing that address. */
  lookup(address: number): SourceMapEntry | undefined;
  /** Addresses emitted by that line. */
  addressesFor(file: string, line: number): number[];
}

export function buildSourceMap(raw: SourceMapEntry[]): SourceMap {
  const entries = [...raw].sort((a, b) => a.address - b.address);
  const byLine = new Map<string, number[]>();
  for (const e of entries) {
    const key = `${e.file}\0${e.line}`;
    const list = byLine.get(key) ?? [];
    list.push(e.address);
    byLine.set(key, list);
  }
  return {
    entries,
    lookup(address: number): SourceMapEntry | undefined {
      let lo = 0;
      let hi = entries.length - 1;
      let best = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (entries[mid].address <= address) {
          best = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      // Several entries may start at or before the address; the containing one is at most a few back.
      for (let i = best; i >= 0 && i >= best - 8; i--) {
        const e = entries[i];
        if (address >= e.address && address < e.address + e.length) return e;
      }
      return undefined;
    },
    addressesFor(file: string, line: number): number[] {
      return [...(byLine.get(`${file}\0${line}`) ?? [])];
    },
  };
}
