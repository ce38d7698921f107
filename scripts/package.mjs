// `npm run package`: the .vsix for the marketplace and for `code --install-extension`.
//
//   node scripts/package.mjs [--out FILE] [--keep-stage]
//
// Writes dist/hyperstep.vsix (or FILE) and prints its path, size and file
// count. The package is built in a staging copy, so the working tree's
// development bundles (with source maps, used by the tests) stay as they
// are: the shipped files are copied there, the production bundles (minified,
// no source maps) are built into it, and @vscode/vsce packages it with
// .vscodeignore deciding what goes in. Every vsce warning fails the build
// unless it is listed in EXPLAINED_WARNINGS with the reason it is harmless.
import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const outArg = argv.indexOf('--out') >= 0 ? argv[argv.indexOf('--out') + 1] : undefined;
const out = resolve(root, outArg ?? 'dist/hyperstep.vsix');
const keepStage = argv.includes('--keep-stage');

/** What the staging copy holds; .vscodeignore picks the shipped files out of it. */
const STAGED = ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', '.vscodeignore', 'media', 'syntaxes', 'schemas', 'examples'];

/** vsce warnings that are expected, each with why. None today. */
const EXPLAINED_WARNINGS = [];

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
  return { status: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error };
}

function fail(message) {
  console.error(`npm run package: ${message}`);
  process.exit(1);
}

const stage = mkdtempSync(join(tmpdir(), 'hyperstep-package-'));
try {
  for (const entry of STAGED) cpSync(join(root, entry), join(stage, entry), { recursive: true });

  const build = run(process.execPath, [join(root, 'scripts', 'build.mjs'), '--production', '--quiet', '--only', 'extension,web', '--outdir', join(stage, 'dist')], root);
  if (build.status !== 0) fail(`the production build failed:\n${build.output}`);

  const vsce = join(dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')), 'vsce');
  mkdirSync(dirname(out), { recursive: true });
  rmSync(out, { force: true });
  // --no-dependencies: everything the extension needs is in its bundles.
  const pack = run(process.execPath, [vsce, 'package', '--no-dependencies', '--out', out], stage);
  const lines = pack.output.split('\n').filter((l) => l.trim() !== '' && !/^npm warn/i.test(l));
  if (pack.status !== 0) fail(`vsce package failed:\n${lines.join('\n')}`);
  const warnings = lines.filter((l) => /warn/i.test(l) && !EXPLAINED_WARNINGS.some((w) => w.pattern.test(l)));
  if (warnings.length > 0) fail(`vsce warned (fix it, or explain it in EXPLAINED_WARNINGS in scripts/package.mjs):\n${warnings.join('\n')}`);

  const ls = run(process.execPath, [vsce, 'ls', '--no-dependencies'], stage);
  if (ls.status !== 0) fail(`vsce ls failed:\n${ls.output}`);
  const files = ls.output.split('\n').filter((l) => l.trim() !== '' && !/^npm warn/i.test(l));
  const size = statSync(out).size;
  console.log(`${out}`);
  console.log(`${size} bytes, ${files.length} files (${(size / 1024).toFixed(1)} KiB)`);
} finally {
  if (keepStage) console.log(`staging copy kept in ${stage}`);
  else rmSync(stage, { recursive: true, force: true });
}
