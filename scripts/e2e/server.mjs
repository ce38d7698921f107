// code-server for the end-to-end runs: everything it writes stays in one
// scratch state folder (user data, extensions, XDG config/cache/data), the
// marketplace, telemetry, update checks and authentication are off, and it
// listens on 127.0.0.1 only. It runs in its own session (setsid), so the
// whole process group (server, extension hosts, pty hosts) is stopped at once.
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, freePort, killGroup, NODE, run, waitFor } from './lib.mjs';

/** The scratch folders of one run, all under `state`. */
export function statePaths(state) {
  return {
    state,
    userData: join(state, 'user-data'),
    extensions: join(state, 'extensions'),
    logs: join(state, 'user-data', 'logs'),
    config: join(state, 'config.yaml'),
    serverLog: join(state, 'code-server.log'),
    xdgConfig: join(state, 'xdg', 'config'),
    xdgCache: join(state, 'xdg', 'cache'),
    xdgData: join(state, 'xdg', 'data'),
  };
}

export function serverEnv(paths, extra = {}) {
  for (const d of [paths.userData, paths.extensions, paths.xdgConfig, paths.xdgCache, paths.xdgData]) ensureDir(d);
  const env = {
    ...process.env,
    ...extra,
    // No marketplace: no look-ups, no DNS errors, no error toasts.
    EXTENSIONS_GALLERY: '{}',
    XDG_CONFIG_HOME: paths.xdgConfig,
    XDG_CACHE_HOME: paths.xdgCache,
    XDG_DATA_HOME: paths.xdgData,
  };
  // A password or port from the environment would override the flags below.
  delete env.PASSWORD;
  delete env.HASHED_PASSWORD;
  delete env.PORT;
  delete env.VSCODE_IPC_HOOK_CLI;
  return env;
}

/** Installs a .vsix into the state's extensions folder; returns the installed extension's folder. */
export async function installExtension(codeServer, paths, vsix) {
  const output = await run(
    NODE,
    [codeServer.entry, '--user-data-dir', paths.userData, '--extensions-dir', paths.extensions, '--install-extension', vsix, '--force'],
    { env: serverEnv(paths), quiet: true, timeoutMs: 120_000 },
  );
  if (!/successfully installed/i.test(output)) throw new Error(`code-server did not confirm the install:\n${output.trim()}`);
  const registry = JSON.parse(readFileSync(join(paths.extensions, 'extensions.json'), 'utf8'));
  const entry = registry.find((e) => e.identifier?.id === 'hyperstep.hyperstep');
  if (!entry) throw new Error(`hyperstep.hyperstep is not in ${join(paths.extensions, 'extensions.json')}`);
  return { version: entry.version, folder: entry.location?.path ?? join(paths.extensions, entry.relativeLocation) };
}

/** User settings that keep the workbench quiet and deterministic for the tests. */
export function writeUserSettings(paths, extra = {}) {
  const settings = {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'workbench.enableExperiments': false,
    'workbench.colorTheme': 'Default Dark Modern',
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'security.workspace.trust.enabled': false,
    'git.enabled': false,
    'chat.commandCenter.enabled': false,
    'editor.minimap.enabled': false,
    'debug.toolBarLocation': 'docked',
    'debug.openDebug': 'openOnDebugBreak',
    'debug.internalConsoleOptions': 'neverOpen',
    'window.restoreWindows': 'none',
    'files.hotExit': 'off',
    ...extra,
  };
  const user = ensureDir(join(paths.userData, 'User'));
  writeFileSync(join(user, 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
}

/**
 * Starts code-server on a free port with `folder` as the default folder.
 * Resolves once /healthz answers; `stop()` ends its process group. `env`
 * adds variables to the server's environment, which its extension hosts inherit.
 */
export async function startServer(codeServer, paths, folder, { onGroup, env = {} } = {}) {
  const port = await freePort();
  writeFileSync(paths.config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const args = [
    codeServer.entry,
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--user-data-dir', paths.userData,
    '--extensions-dir', paths.extensions,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--disable-proxy',
    '--ignore-last-opened',
    '--config', paths.config,
    folder,
  ];
  const out = createWriteStream(paths.serverLog);
  // detached: the server is the leader of a new session and process group (setsid).
  const child = spawn(NODE, args, { env: serverEnv(paths, env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const pgid = child.pid;
  onGroup?.(pgid);
  let exited;
  child.on('exit', (code, signal) => {
    exited = `code-server exited with ${signal ?? code} (log: ${paths.serverLog})`;
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      'code-server to answer /healthz',
      async () => {
        if (exited) throw Object.assign(new Error(exited), { fatal: true });
        const response = await fetch(`${url}/healthz`);
        return response.ok;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  } catch (error) {
    await killGroup(pgid);
    throw new Error(`${error.message}\n${tail(paths.serverLog)}`);
  }
  return {
    port,
    url,
    pgid,
    authority: `127.0.0.1:${port}`,
    async stop() {
      await killGroup(pgid);
      out.end();
    },
  };
}

export function tail(file, lines = 30) {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
