// Runs the test suite with node's built-in runner (TypeScript through tsx).
//   node scripts/test.mjs             all test/**/*.test.ts
//   node scripts/test.mjs --oracles   the live comparisons, test/**/*.oracle.ts
//   node scripts/test.mjs PATTERN…    only files whose path contains a pattern
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const oracles = args.includes('--oracles');
const patterns = args.filter((a) => !a.startsWith('--'));
const suffix = oracles ? '.oracle.ts' : '.test.ts';

function walk(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith(suffix)) out.push(p);
  }
  return out;
}

const files = walk('test', []).filter((f) => patterns.length === 0 || patterns.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error(`no ${suffix} files found`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
