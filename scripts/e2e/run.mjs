// npm run test:e2e — Hyperstep in a real VS Code (code-server) driven by a
// real browser:
//   1. provision code-server (cached per version), package the extension as a
//      .vsix and install it into a fresh extensions folder, start the server;
//   2. the UI test (scripts/e2e/ui-test.mjs) in headless Chromium;
//   3. the integration suite (test/e2e/suite) in code-server's extension host,
//      through our mocha entry and through @vscode/test-cli's runner;
//   4. the web build in the web worker extension host, when package.json has
//      a `browser` entry (scripts/e2e/web.mjs).
// A failure names its step; screenshots, the page consoles, timings and (on
// failure) the server's logs are in test-results/e2e/. docs/testing-editor.md
// describes every step.
//
//   node scripts/e2e/run.mjs [--only ui,suite,web] [--keep-state] [--update-screenshots]
//
// --update-screenshots also copies the two screenshots the README shows to
// media/screenshots (a plain run leaves the working tree as it was).
//
// The run happens in a child process that leads its own process group; this
// process waits for it and then stops that group and code-server's (SIGTERM,
// then SIGKILL), so nothing outlives the run, whatever way it ends.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, recordConsole } from './browser.mjs';
import { bundleSuite } from './bundle.mjs';
import { runInExtensionHost } from './exthost.mjs';
import { packageExtension } from './package.mjs';
import { provisionCodeServer } from './provision.mjs';
import { installExtension, startServer, statePaths, writeUserSettings } from './server.mjs';
import { launchJson, runUiTest } from './ui-test.mjs';
import { testCliLaunch } from './testcli.mjs';
import { runWebTest, webEntry } from './web.mjs';
import { ARTIFACTS_DIR, CODE_SERVER_VERSION, ensureDir, formatMs, killGroup, log, README_SCREENSHOTS_DIR, ROOT, StepError, step, timings } from './lib.mjs';

const INNER = process.env.HYPERSTEP_E2E_INNER === '1';

if (!INNER) await supervise();
else await main();

/** Runs main() in a child that leads a new process group, and stops every group it reports when it ends. */
async function supervise() {
  const groups = new Set();
  const child = spawn(process.execPath, [process.argv[1], ...process.argv.slice(2)], {
    env: { ...process.env, HYPERSTEP_E2E_INNER: '1' },
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  groups.add(child.pid);
  let state;
  child.on('message', (m) => {
    if (m && typeof m.pgid === 'number') groups.add(m.pgid);
    if (m && typeof m.state === 'string') state = m.state;
  });
  let signalled;
  const stopGroups = (signal) => {
    for (const g of groups) {
      try {
        process.kill(-g, signal);
      } catch {
        // already gone
      }
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (signalled) return;
      signalled = signal;
      console.error(`e2e: ${signal}: stopping the run`);
      stopGroups('SIGTERM');
      setTimeout(() => stopGroups('SIGKILL'), 5000).unref();
    });
  }
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
  for (const g of groups) await killGroup(g);
  // An interrupted or crashed run leaves its scratch folder behind.
  if (state && !parseArgs(process.argv.slice(2)).keepState) rmSync(state, { recursive: true, force: true });
  process.exit(signalled ? 130 : code);
}

function parseArgs(argv) {
  const only = argv.find((a) => a.startsWith('--only='))?.slice(7) ?? (argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined);
  const parts = new Set((only ?? 'ui,suite,web').split(',').map((s) => s.trim()));
  return { ui: parts.has('ui'), suite: parts.has('suite'), web: parts.has('web'), keepState: argv.includes('--keep-state') || process.env.HYPERSTEP_E2E_KEEP === '1' };
}

/** A copy of examples/ with the launch.json the UI test uses. */
function makeWorkspace(dir) {
  cpSync(join(ROOT, 'examples'), dir, { recursive: true });
  ensureDir(join(dir, '.vscode'));
  writeFileSync(join(dir, '.vscode', 'launch.json'), JSON.stringify(launchJson(), null, 2) + '\n');
  return dir;
}

async function main() {
  // Stopped from outside: end now; the supervising process stops the process groups.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.exit(130));
  const wallStarted = performance.now();
  const options = parseArgs(process.argv.slice(2));
  rmSync(ARTIFACTS_DIR, { recursive: true, force: true });
  ensureDir(ARTIFACTS_DIR);
  const state = mkdtempSync(join(tmpdir(), 'hyperstep-e2e-'));
  process.send?.({ state });
  const paths = statePaths(state);
  const summary = { codeServer: CODE_SERVER_VERSION, node: process.version, state, steps: timings };
  let server;
  let browser;
  let currentPage;
  let failed;
  const pageConsole = [];

  try {
    const codeServer = await step('provision', () => provisionCodeServer());
    summary.codeServerCached = codeServer.cached;
    log(`code-server ${CODE_SERVER_VERSION} ${codeServer.cached ? 'from the cache' : 'provisioned'}: ${codeServer.dir}`);

    const vsix = await step('package', () => packageExtension(join(state, 'hyperstep.vsix')));
    summary.vsix = { how: vsix.how, bytes: vsix.bytes };
    log(`packaged with ${vsix.how}: ${(vsix.bytes / 1024).toFixed(1)} KiB`);
    const suite = await step('bundle-suite', () => bundleSuite());
    const testCli = options.suite ? await step('test-cli-configuration', () => testCliLaunch()) : undefined;

    const installed = await step('install-extension', () => installExtension(codeServer, paths, vsix.path));
    log(`installed hyperstep ${installed.version} into ${installed.folder}`);

    const uiWorkspace = await step('prepare-workspace', () => {
      writeUserSettings(paths);
      return makeWorkspace(join(state, 'workspace'));
    });

    server = await step('start-server', () =>
      startServer(codeServer, paths, uiWorkspace, {
        onGroup: (pgid) => process.send?.({ pgid }),
        // For test-cli's runner (suite:test-cli-runner); nothing else reads it.
        env: testCli?.env,
      }),
    );
    log(`code-server at ${server.url} (process group ${server.pgid})`);

    browser = await step('launch-browser', () =>
      launchBrowser(join(state, 'chromium-profile'), { config: paths.xdgConfig, cache: paths.xdgCache, data: paths.xdgData }),
    );

    if (options.ui) {
      const page = browser.pages()[0] ?? (await browser.newPage());
      currentPage = page;
      recordConsole(page, pageConsole);
      const ui = await runUiTest({ page, server, workspace: uiWorkspace, artifacts: ARTIFACTS_DIR, readmeScreenshots: process.argv.includes('--update-screenshots') ? README_SCREENSHOTS_DIR : undefined });
      summary.ui = ui;
      await page.close();
      currentPage = undefined;
    }

    if (options.suite) {
      // A workspace of its own, so no editor restored from the UI test activates the extension early.
      const suiteWorkspace = makeWorkspace(join(state, 'suite-workspace'));
      const outcome = await step('suite:extension-host', async () => {
        log('integration suite in code-server\'s extension host:');
        const r = await runInExtensionHost({
          context: browser,
          server,
          workspace: suiteWorkspace,
          extensionPath: installed.folder,
          testsPath: suite.index,
          consoleFile: join(ARTIFACTS_DIR, 'suite-console.log'),
        });
        currentPage = r.page;
        if (r.code !== 0) throw new Error(`the suite exited with ${r.code}${r.result ? ` (${r.result.failures} failing)` : ''}`);
        if (!r.result) throw new Error('the suite reported success but printed no result line: it did not run');
        await r.page.screenshot({ path: join(ensureDir(join(ARTIFACTS_DIR, 'screenshots')), 'suite-end.png') });
        await r.page.close();
        currentPage = undefined;
        return r;
      });
      summary.suite = { ms: outcome.ms, figures: outcome.figures, passing: outcome.hostLines.filter((l) => /^\s+✔/.test(l)).length };

      // The same suite file through @vscode/test-cli's runner and mocha, with
      // the options .vscode-test.mjs resolves to: what npm run test:electron
      // runs in desktop VS Code, here in code-server's extension host.
      const viaTestCli = await step('suite:test-cli-runner', async () => {
        const r = await runInExtensionHost({
          context: browser,
          server,
          workspace: makeWorkspace(join(state, 'test-cli-workspace')),
          extensionPath: installed.folder,
          testsPath: testCli.runner,
          consoleFile: join(ARTIFACTS_DIR, 'test-cli-console.log'),
          echo: false,
        });
        currentPage = r.page;
        if (r.code !== 0) throw new Error(`test-cli's runner exited with ${r.code} (its mocha output: ${join(ARTIFACTS_DIR, 'test-cli-console.log')})`);
        // The suite's first test prints this: without it nothing ran.
        if (r.figures.activationMs === undefined) throw new Error('test-cli\'s runner reported success but the suite printed nothing: it did not run');
        await r.page.close();
        currentPage = undefined;
        return r;
      });
      summary.testCliRunner = { ms: viaTestCli.ms, figures: viaTestCli.figures };
      log(`the suite passed through @vscode/test-cli's runner too (${testCli.files.length} file, label "${testCli.label}")`);
    }

    if (options.web) {
      const entry = webEntry();
      if (!entry) {
        summary.web = { ran: false, why: 'package.json has no "browser" entry yet: there is no web build to load' };
        log(`web: not run — ${summary.web.why}`);
      } else {
        const web = await runWebTest({ context: browser, server, paths, installedFolder: installed.folder, makeWorkspace, artifacts: ARTIFACTS_DIR, onPage: (p) => (currentPage = p) });
        summary.web = { ran: true, ...web };
        currentPage = undefined;
      }
    }

    await step('stop-server', async () => {
      await browser.close();
      browser = undefined;
      await server.stop();
      server = undefined;
    });
  } catch (error) {
    failed = error;
  } finally {
    if (failed && currentPage) {
      await currentPage.screenshot({ path: join(ensureDir(join(ARTIFACTS_DIR, 'screenshots')), 'failure.png') }).catch(() => {});
    }
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    writeFileSync(join(ARTIFACTS_DIR, 'ui-console.log'), pageConsole.join('\n') + '\n');
    if (failed) {
      // The server's and the extension hosts' logs, for the failure.
      if (existsSync(paths.logs)) cpSync(paths.logs, join(ARTIFACTS_DIR, 'logs'), { recursive: true });
      if (existsSync(paths.serverLog)) cpSync(paths.serverLog, join(ARTIFACTS_DIR, 'logs', 'code-server.log'));
    }
    summary.wallMs = Math.round(performance.now() - wallStarted);
    summary.ok = !failed;
    if (failed) summary.failedStep = failed instanceof StepError ? failed.step : 'unknown';
    writeFileSync(join(ARTIFACTS_DIR, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    if (!options.keepState) rmSync(state, { recursive: true, force: true });
    else log(`state kept in ${state}`);
  }

  if (failed) {
    console.error(`e2e: FAILED — ${failed.message}`);
    if (failed.cause?.stack && process.env.HYPERSTEP_E2E_VERBOSE) console.error(failed.cause.stack);
    console.error(`e2e: artifacts (screenshots, consoles, logs) in ${ARTIFACTS_DIR}`);
    process.exit(1);
  }
  const figures = [
    `wall time ${formatMs(summary.wallMs)} (code-server ${summary.codeServerCached ? 'cached' : 'provisioned'})`,
    summary.vsix && `vsix ${(summary.vsix.bytes / 1024).toFixed(1)} KiB`,
    summary.suite?.figures?.activationMs !== undefined && `activation in the extension host ${summary.suite.figures.activationMs} ms (ext.activate())`,
    summary.ui?.activation?.ms !== undefined && `activation per Show Running Extensions ${summary.ui.activation.ms} ms`,
    summary.web?.figures?.webActivationMs !== undefined && `web build activation in the web worker ${summary.web.figures.webActivationMs} ms`,
    summary.web && !summary.web.ran && `web build not checked: ${summary.web.why}`,
  ].filter(Boolean);
  log(`passed: ${figures.join('; ')}`);
  log(`artifacts in ${ARTIFACTS_DIR}`);
  process.exit(0);
}

