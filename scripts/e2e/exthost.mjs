// Runs an extension-host test module inside code-server. code-server's CLI
// has no --extensionDevelopmentPath/--extensionTestsPath, but the workbench
// takes both from the URL's payload; the extension host requires the module
// and awaits its run(), and the workbench reports the outcome by calling
// window.codeAutomationExit(code), which we receive through
// page.exposeFunction (registered before the page loads). What the extension
// host prints (mocha's reporter) arrives in the page console.
import { writeFileSync } from 'node:fs';
import { remoteUri, workbenchUrl } from './browser.mjs';

// What the suite prints carries these markers (test/e2e/suite); the
// workbench's own log lines around them are kept only in the console file.
const MARKS = /HYPERSTEP_E2E_(OUT|FIGURE|RESULT) /;

/**
 * Opens `workspace` with the development extension at `extensionPath` and the
 * test module `testsPath`. Resolves with the exit code, the host's output
 * lines and the figures the suite printed.
 */
export async function runInExtensionHost({ context, server, workspace, extensionPath, testsPath, timeoutMs = 180_000, consoleFile, echo = true }) {
  const page = await context.newPage();
  const consoleLines = [];
  const hostLines = [];
  const started = performance.now();
  const figures = {};
  let result;
  page.on('console', (message) => {
    const text = message.text();
    consoleLines.push(`[${message.type()}] ${text}`);
    const mark = MARKS.exec(text);
    if (!mark) return;
    const rest = text.slice(mark.index + mark[0].length);
    if (mark[1] === 'OUT') {
      for (const l of rest.split('\n')) {
        hostLines.push(l);
        if (echo) console.log(`  | ${l}`);
      }
    } else {
      const json = /^\{.*\}/.exec(rest);
      if (!json) return;
      if (mark[1] === 'FIGURE') Object.assign(figures, JSON.parse(json[0]));
      else result = JSON.parse(json[0]);
    }
  });
  page.on('pageerror', (error) => consoleLines.push(`[pageerror] ${error.message}`));

  let exit;
  const exited = new Promise((resolve) => {
    exit = resolve;
  });
  await page.exposeFunction('codeAutomationExit', (code) => {
    exit(code);
  });
  const payload = [
    ['extensionDevelopmentPath', remoteUri(server, extensionPath)],
    ['extensionTestsPath', remoteUri(server, testsPath)],
  ];
  let timer;
  try {
    await page.goto(workbenchUrl(server, workspace, payload));
    const code = await Promise.race([
      exited,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no result from the extension host after ${timeoutMs / 1000} s (window.codeAutomationExit was not called)`)), timeoutMs);
      }),
    ]);
    return { code, hostLines, figures, result, ms: Math.round(performance.now() - started), page };
  } finally {
    clearTimeout(timer);
    if (consoleFile) writeFileSync(consoleFile, consoleLines.join('\n') + '\n');
  }
}
