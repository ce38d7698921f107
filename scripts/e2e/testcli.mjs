// What @vscode/test-cli would hand the extension host for .vscode-test.mjs:
// its runner module (the extensionTestsPath) and the VSCODE_TEST_OPTIONS
// variable the runner reads (mocha options and the suite's files), as its own
// --list-configuration resolves them. The code-server run uses these to run
// the suite through test-cli's runner too, the part of `npm run test:electron`
// that does not need Electron.
import { join } from 'node:path';
import { NODE, ROOT, run } from './lib.mjs';

export async function testCliLaunch() {
  const output = await run(NODE, [join(ROOT, 'node_modules', '@vscode', 'test-cli', 'out', 'bin.mjs'), '--config', join(ROOT, '.vscode-test.mjs'), '--list-configuration'], {
    quiet: true,
    // Any path: --list-configuration neither downloads nor starts VS Code.
    env: { ...process.env, HYPERSTEP_VSCODE_EXECUTABLE: process.env.HYPERSTEP_VSCODE_EXECUTABLE ?? '/unused/code' },
  });
  const json = output.slice(output.indexOf('['));
  const [config] = JSON.parse(json);
  if (!config?.extensionTestsPath || !config.env?.VSCODE_TEST_OPTIONS) throw new Error(`unexpected test-cli configuration: ${json.slice(0, 500)}`);
  const options = JSON.parse(config.env.VSCODE_TEST_OPTIONS);
  return { runner: config.extensionTestsPath, env: { VSCODE_TEST_OPTIONS: config.env.VSCODE_TEST_OPTIONS }, files: options.files, label: config.config?.label };
}
