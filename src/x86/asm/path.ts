// Minimal POSIX path helpers: src/x86 also runs in a browser, so no Node `path`.

export function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  if (i < 0) return '.';
  if (i === 0) return '/';
  return p.slice(0, i);
}

export function normalize(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (abs) return '/' + joined;
  return joined === '' ? '.' : joined;
}

export function resolveRelative(fromFile: string, target: string): string {
  if (target.startsWith('/')) return normalize(target);
  const dir = dirname(fromFile);
  return normalize(dir === '.' ? target : dir + '/' + target);
}
