// The extension host's test entry (extensionTestsPath): VS Code requires this
// module and awaits `run()`; a rejection is a failed run. Used by the
// code-server runner (scripts/e2e/exthost.mjs) and @vscode/test-electron's
// runTests; @vscode/test-cli loads the suite file with its own mocha instead.

import { join } from 'node:path';
import { format } from 'node:util';
import Mocha from 'mocha';
import * as vscode from 'vscode';

export const SUITE_FILES = ['extension.e2e.js'];

/**
 * In a browser workbench (code-server) the host's console reaches the page
 * console among the workbench's own log lines; a marker lets the runner pick
 * out the reporter's. A desktop host prints to the runner's stdout as it is.
 */
const MARK = vscode.env.uiKind === vscode.UIKind.Web ? 'HYPERSTEP_E2E_OUT ' : '';

export function run(): Promise<void> {
  const base = Mocha.reporters.Base as unknown as { consoleLog: (...args: unknown[]) => void };
  base.consoleLog = (...args: unknown[]) => console.log(MARK + format(...args));
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', color: false, timeout: 60_000 });
  for (const file of SUITE_FILES) mocha.addFile(join(__dirname, file));
  return new Promise((resolve, reject) => {
    try {
      mocha.run((failures) => {
        console.log(`HYPERSTEP_E2E_RESULT ${JSON.stringify({ failures })}`);
        if (failures > 0) reject(new Error(`${failures} integration test(s) failed`));
        else resolve();
      });
    } catch (error) {
      reject(error);
    }
  });
}
