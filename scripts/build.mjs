// Bundles the extension, the stand-alone debug adapter, the CLI and the
// benchmark runner with esbuild. `--watch` rebuilds on change; `--quiet`
// prints only errors.
import * as esbuild from 'esbuild';
import { existsSync, chmodSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

const watch = process.argv.includes('--watch');
const quiet = process.argv.includes('--quiet');
const production = process.argv.includes('--production');

const entries = [
  { in: 'src/extension/extension.ts', out: 'dist/extension.js', external: ['vscode'] },
  { in: 'src/debug/adapter.ts', out: 'dist/adapter.js' },
  { in: 'src/cli/main.ts', out: 'dist/cli.js', banner: '#!/usr/bin/env node', executable: true },
  { in: 'src/cli/bench.ts', out: 'dist/bench.js' },
];

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: quiet ? 'error' : 'info',
  define: { HYPERSTEP_VERSION: JSON.stringify(pkg.version) },
};

const contexts = [];
for (const e of entries) {
  if (!existsSync(e.in)) {
    if (!quiet) console.warn(`skipping ${e.in} (not present)`);
    continue;
  }
  const options = {
    ...common,
    entryPoints: [e.in],
    outfile: e.out,
    external: e.external ?? [],
    banner: e.banner ? { js: e.banner } : undefined,
  };
  if (watch) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    contexts.push(ctx);
  } else {
    await esbuild.build(options);
    if (e.executable) chmodSync(e.out, 0o755);
  }
}
if (watch) console.log('watching for changes…');
