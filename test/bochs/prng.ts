// A small deterministic PRNG (mulberry32) with helpers that bias values
// towards the edges where flag bugs live (0, sign bits, carries out of a byte).
import { mulberry32 } from '../support/prng';

export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** Uniform 32-bit unsigned. */
  u32(): number {
    return this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A value of `bits` width (8, 16 or 32), often near a boundary. */
  value(bits: number): number {
    const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
    const r = this.int(10);
    let v: number;
    if (r < 4) v = this.u32();
    else if (r < 6) v = this.int(0x100);
    else if (r < 7) v = -1 - this.int(0x100);
    else if (r < 9) {
      const edges = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x0f, 0x10, 0x99, 0x9a];
      v = this.pick(edges) + this.range(-2, 2);
    } else v = this.u32() & (this.u32() | this.u32());
    return (v & mask) >>> 0;
  }
}

/** Derives an independent seed for item `i` of a run seeded with `seed`. */
export function subSeed(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
