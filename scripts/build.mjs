// Bundles the extension (for the desktop extension host and, as `browser`,
// for VS Code in a browser), the stand-alone debug adapter, the CLI and the
// benchmark runner with esbuild.
//   --watch          rebuild on change
//   --quiet          print only errors
//   --production     minified, no source maps (what `npm run package` ships)
//   --outdir DIR     write the bundles under DIR instead of dist/ (DIR/extension.js, DIR/web/extension.js, …)
//   --only a,b       only these entries: extension, web, adapter, cli, bench
import * as esbuild from 'esbuild';
import { existsSync, chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

const argv = process.argv.slice(2);
const option = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const watch = argv.includes('--watch');
const quiet = argv.includes('--quiet');
const production = argv.includes('--production');
const outdir = option('--outdir') ?? 'dist';
const only = option('--only')?.split(',');

// The browser build: @vscode/debugadapter's inline session needs `events`
// (its ProtocolServer is an EventEmitter) and `url` (URL, for path/URI
// conversion); both are replaced by small browser modules. `process.platform`
// is read only on code paths an inline session never takes; defining it keeps
// the bundle free of the `process` global even there.
const BROWSER_SHIMS = {
  events: './src/extension/web/events.ts',
  url: './src/extension/web/url.ts',
};

const entries = [
  { name: 'extension', in: 'src/extension/extension.ts', out: 'extension.js', external: ['vscode'] },
  {
    name: 'web',
    in: 'src/extension/extension.ts',
    out: 'web/extension.js',
    external: ['vscode'],
    platform: 'browser',
    target: 'es2022',
    alias: BROWSER_SHIMS,
    define: { 'process.platform': JSON.stringify('web') },
  },
  { name: 'adapter', in: 'src/debug/adapter.ts', out: 'adapter.js' },
  { name: 'cli', in: 'src/cli/main.ts', out: 'cli.js', banner: '#!/usr/bin/env node', executable: true },
  { name: 'bench', in: 'src/cli/bench.ts', out: 'bench.js' },
];

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: quiet ? 'error' : 'info',
};

const contexts = [];
for (const e of entries) {
  if (only && !only.includes(e.name)) continue;
  if (!existsSync(e.in)) {
    if (!quiet) console.warn(`skipping ${e.in} (not present)`);
    continue;
  }
  const out = join(outdir, e.out);
  const options = {
    ...common,
    entryPoints: [e.in],
    outfile: out,
    platform: e.platform ?? common.platform,
    target: e.target ?? common.target,
    external: e.external ?? [],
    alias: e.alias,
    define: { HYPERSTEP_VERSION: JSON.stringify(pkg.version), ...(e.define ?? {}) },
    banner: e.banner ? { js: e.banner } : undefined,
  };
  if (watch) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    contexts.push(ctx);
  } else {
    await esbuild.build(options);
    if (e.executable) chmodSync(out, 0o755);
  }
}
if (watch) console.log('watching for changes…');
