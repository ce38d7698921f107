// Bundles the integration suite into plain CommonJS the extension host can
// require: out/e2e/suite/index.js (the extensionTestsPath module) and
// out/e2e/suite/extension.e2e.js (the tests; @vscode/test-cli loads it
// directly). `vscode` comes from the host and `mocha` from node_modules.
// The web worker check, out/e2e/web/index.js, is bundled for the browser.
//   node scripts/e2e/bundle.mjs
import * as esbuild from 'esbuild';
import { join } from 'node:path';
import { ROOT, SUITE_OUT_DIR } from './lib.mjs';

export const SUITE_INDEX = join(SUITE_OUT_DIR, 'suite', 'index.js');
export const SUITE_TESTS = join(SUITE_OUT_DIR, 'suite', 'extension.e2e.js');
export const WEB_TEST = join(SUITE_OUT_DIR, 'web', 'index.js');

export async function bundleSuite() {
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { index: 'test/e2e/suite/index.ts', 'extension.e2e': 'test/e2e/suite/extension.e2e.ts' },
    outdir: join(SUITE_OUT_DIR, 'suite'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    external: ['vscode', 'mocha'],
    logLevel: 'error',
  });
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ['test/e2e/web/index.ts'],
    outfile: WEB_TEST,
    bundle: true,
    platform: 'browser',
    format: 'cjs',
    target: 'es2022',
    sourcemap: 'inline',
    external: ['vscode'],
    logLevel: 'error',
  });
  return { index: SUITE_INDEX, tests: SUITE_TESTS, web: WEB_TEST };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await bundleSuite();
  console.log(`bundled ${out.index}, ${out.tests} and ${out.web}`);
}
