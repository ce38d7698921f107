// @vscode/test-cli's configuration: the integration suite (test/e2e/suite,
// bundled to out/e2e by scripts/e2e/bundle.mjs) in desktop VS Code with the
// examples as the workspace. Run it with `npm run test:electron`, which
// builds, downloads VS Code and says plainly when it could not run; or
// `npx vscode-test` after `npm run build && node scripts/e2e/bundle.mjs`.
import { defineConfig } from '@vscode/test-cli';

const executable = process.env.HYPERSTEP_VSCODE_EXECUTABLE;

export default defineConfig({
  label: 'integration',
  files: 'out/e2e/suite/extension.e2e.js',
  version: process.env.VSCODE_TEST_VERSION ?? 'stable',
  // npm run test:electron has downloaded it already.
  useInstallation: executable ? { fromPath: executable } : undefined,
  workspaceFolder: './examples',
  launchArgs: ['--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
  mocha: { ui: 'bdd', timeout: 60_000, color: false },
});
