// The .vsix the end-to-end run installs: `npm run package -- --out FILE` when
// the project has that script, else a production build packaged with vsce
// directly.
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NODE, ROOT, run } from './lib.mjs';

/** Newest .vsix written at or after `since` in the folders a package script writes to. */
function newestVsix(since) {
  const found = [];
  for (const dir of [ROOT, join(ROOT, 'dist'), join(ROOT, 'out'), join(ROOT, 'build')]) {
    let names;
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.vsix')) continue;
      const path = join(dir, name);
      const { mtimeMs } = statSync(path);
      if (mtimeMs >= since - 1000) found.push({ path, mtimeMs });
    }
  }
  found.sort((a, b) => b.mtimeMs - a.mtimeMs);
  return found[0]?.path;
}

/** Packages the extension into `target`; returns how it was made and its size. */
export async function packageExtension(target) {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const since = Date.now();
  let how;
  if (pkg.scripts?.package) {
    rmSync(target, { force: true });
    await run('npm', ['run', '--silent', 'package', '--', '--out', target], { quiet: true });
    if (existsSync(target)) {
      how = 'npm run package';
    } else {
      // A package script without --out: take what it wrote.
      const made = newestVsix(since);
      if (!made) throw new Error('`npm run package` succeeded but wrote no .vsix in the repository root, dist/, out/ or build/');
      copyFileSync(made, target);
      how = `npm run package (${made.slice(ROOT.length + 1)})`;
    }
  } else {
    await run(NODE, ['scripts/build.mjs', '--quiet', '--production'], { quiet: true });
    await run(NODE, [join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-dependencies', '-o', target], { quiet: true });
    how = 'vsce package --no-dependencies (no package script yet)';
  }
  return { path: target, how, bytes: statSync(target).size };
}
