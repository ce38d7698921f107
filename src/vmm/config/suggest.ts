// "Did you mean …?" for misspelled names: the closest candidate by edit
// distance, compared case-insensitively so "hlt_exiting" finds HLT_EXITING.

export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The candidate closest to `name`, or undefined when none is close enough to be a plausible typo. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  const n = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(n, c.toLowerCase());
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  // A third of the name's length (at least 2) separates typos from different words.
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}
