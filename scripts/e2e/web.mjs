// The web build in code-server's web worker extension host: the installed
// extension is copied to a development folder with the web check
// (test/e2e/web) inside it, and the user setting remote.extensionKind puts
// hyperstep.hyperstep in the "web" host. (The payload's
// extensionDevelopmentKind is not honoured by the browser workbench of
// VS Code 1.100: it is read under another name there.) VS Code runs a test
// module in the host of the extension whose folder holds it, so the check
// runs in the web worker next to the extension's `browser` entry, with no
// Node.js, and reads the workspace's guest from the server through
// vscode.workspace.fs.
import { copyFileSync, cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WEB_TEST } from './bundle.mjs';
import { runInExtensionHost } from './exthost.mjs';
import { writeUserSettings } from './server.mjs';
import { ensureDir, log, ROOT, step } from './lib.mjs';

/** package.json's `browser` entry, if the project has a web build. */
export function webEntry() {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).browser;
}

export async function runWebTest({ context, server, paths, installedFolder, makeWorkspace, artifacts, onPage }) {
  const { extension, testsPath, workspace } = await step('web:prepare', () => {
    const extension = join(paths.state, 'web-extension');
    cpSync(installedFolder, extension, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(extension, 'package.json'), 'utf8'));
    if (!manifest.browser) throw new Error('the packaged package.json has no "browser" entry');
    const entry = join(extension, manifest.browser.endsWith('.js') ? manifest.browser : `${manifest.browser}.js`);
    if (!existsSync(entry)) throw new Error(`the .vsix does not hold the browser entry ${manifest.browser}`);
    writeUserSettings(paths, { 'remote.extensionKind': { 'hyperstep.hyperstep': ['web'] } });
    const testsPath = join(extension, 'e2e-web-check.js');
    copyFileSync(WEB_TEST, testsPath);
    return { extension, testsPath, workspace: makeWorkspace(join(paths.state, 'web-workspace')) };
  });
  return step('web:worker-extension-host', async () => {
    log('web build in the web worker extension host:');
    const r = await runInExtensionHost({
      context,
      server,
      workspace,
      extensionPath: extension,
      testsPath,
      consoleFile: join(artifacts, 'web-console.log'),
    });
    onPage?.(r.page);
    if (r.code !== 0) throw new Error(`the web check exited with ${r.code}${r.result ? ` (${r.result.failures} failing)` : ''}`);
    if (!r.result) throw new Error('the web check reported success but printed no result line: it did not run');
    await r.page.screenshot({ path: join(ensureDir(join(artifacts, 'screenshots')), 'web-end.png') });
    await r.page.close();
    return { ms: r.ms, figures: r.figures };
  });
}
