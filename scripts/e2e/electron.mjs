// npm run test:electron — the integration suite (test/e2e/suite) in desktop
// VS Code, through @vscode/test-electron and @vscode/test-cli
// (.vscode-test.mjs). VS Code is downloaded from Microsoft's update server
// into .vscode-test/ (VSCODE_TEST_VERSION: "stable" by default, or e.g.
// "1.90.0").
//
// Exit status:
//   0   the suite ran and passed
//   1   the suite ran and failed, or the build failed
//   77  the suite did NOT run: VS Code could not be downloaded, or there is no
//       display to run it on (Linux without DISPLAY and without xvfb-run).
//       Nothing passed; the message says why. .ci/run treats 77 as "not run
//       on this machine" (the code-server run, npm run test:e2e, covers the
//       same suite there); GitHub Actions treats it as a failure.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { downloadAndUnzipVSCode } from '@vscode/test-electron';
import { bundleSuite } from './bundle.mjs';
import { NODE, ROOT, run } from './lib.mjs';

export const NOT_RUN = 77;
const VERSION = process.env.VSCODE_TEST_VERSION ?? 'stable';

function notRun(why) {
  console.error(`test:electron: DID NOT RUN — ${why}`);
  console.error('test:electron: no test ran, so nothing passed or failed here (exit status 77).');
  process.exit(NOT_RUN);
}

function hasCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

await run(NODE, ['scripts/build.mjs', '--quiet'], { quiet: true }).catch((error) => {
  console.error(`test:electron: the build failed: ${error.message}`);
  process.exit(1);
});
await bundleSuite();

let executable = process.env.HYPERSTEP_VSCODE_EXECUTABLE;
if (!executable) {
  try {
    executable = await downloadAndUnzipVSCode({ version: VERSION, cachePath: join(ROOT, '.vscode-test'), timeout: 30_000 });
  } catch (error) {
    const detail = [error?.code, error?.message].filter(Boolean).join(': ') || String(error);
    notRun(`VS Code ${VERSION} could not be downloaded from update.code.visualstudio.com (${detail}).`);
  }
}

// Electron needs a display; on a Linux machine without one, xvfb-run provides it.
let command = NODE;
let args = [join(ROOT, 'node_modules', '@vscode', 'test-cli', 'out', 'bin.mjs'), '--config', join(ROOT, '.vscode-test.mjs'), ...process.argv.slice(2)];
if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
  if (!hasCommand('xvfb-run')) notRun('there is no display (DISPLAY is unset) and no xvfb-run to provide one (Debian: apt-get install xvfb).');
  args = ['-a', command, ...args];
  command = 'xvfb-run';
}

console.log(`test:electron: running the integration suite in ${executable}`);
const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, HYPERSTEP_VSCODE_EXECUTABLE: executable } });
child.on('exit', (code, signal) => {
  if (code === 0) console.log('test:electron: the integration suite passed in VS Code (Electron)');
  else console.error(`test:electron: the integration suite failed (${signal ?? `exit ${code}`})`);
  process.exit(code ?? 1);
});
