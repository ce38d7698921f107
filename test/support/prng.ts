// The one seedable generator the tests use (mulberry32), so generated test
// data and fuzz inputs reproduce from their seed. Goldens made from it (the
// random ndisasm records, the Bochs cases) depend on this exact sequence.

/** Uniform 32-bit unsigned integers. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The same sequence as floats in [0, 1). */
export function uniform(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}
