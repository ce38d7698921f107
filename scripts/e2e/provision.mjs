// Provisions code-server (VS Code in a browser, served by Node) from npm into
// a cache folder keyed on its version, and reuses it on later runs.
//   node scripts/e2e/provision.mjs     install it if missing, print where
//
// code-server 4.100.3 is VS Code 1.100.3, the last release that runs on
// Node 20. Its install needs build tools (node-pty and argon2 build native
// code; Debian: build-essential python3 libkrb5-dev) and would download `rg`
// from GitHub: where Debian's ripgrep is installed its binary is put into
// @vscode/ripgrep's download cache instead.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, CODE_SERVER_VERSION, ensureDir, exists, log, run } from './lib.mjs';

// Fixed by code-server 4.100.3's dependency on @vscode/ripgrep 1.15.11.
const RIPGREP_CACHE = 'vscode-ripgrep-cache-1.15.11';
const RIPGREP_ARCHIVES = {
  x64: 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz',
  arm64: 'ripgrep-v13.0.0-10-aarch64-unknown-linux-musl.tar.gz',
};

export function codeServerDir(version = CODE_SERVER_VERSION) {
  return join(CACHE_DIR, `code-server-${version}`);
}

function layout(dir) {
  const pkg = join(dir, 'node_modules', 'code-server');
  return {
    dir,
    pkg,
    entry: join(pkg, 'out', 'node', 'entry.js'),
    marker: join(dir, '.provisioned'),
    vscode: join(pkg, 'lib', 'vscode'),
  };
}

/** Whether a cached install is whole: the marker written after the last check, and the pieces the server needs. */
function complete(l, version) {
  if (!exists(l.marker) || !exists(l.entry)) return false;
  try {
    if (JSON.parse(readFileSync(join(l.pkg, 'package.json'), 'utf8')).version !== version) return false;
  } catch {
    return false;
  }
  return ['node_modules/@vscode/ripgrep/bin/rg', 'node_modules/node-pty/build/Release/pty.node'].every((p) => exists(join(l.vscode, p)));
}

function which(command) {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Puts the system's `rg` where @vscode/ripgrep looks for its download, so its postinstall needs no network. */
function seedRipgrep(tmpdir) {
  const archive = process.platform === 'linux' ? RIPGREP_ARCHIVES[process.arch] : undefined;
  const rg = which('rg');
  if (!archive || !rg) return false;
  const cache = ensureDir(join(tmpdir, RIPGREP_CACHE));
  const target = join(cache, archive);
  if (!exists(target)) {
    execFileSync('tar', ['-C', join(rg, '..'), '-czf', target, 'rg']);
  }
  return true;
}

/** The code-server install for `version`, provisioned when missing. Returns its paths and whether it was cached. */
export async function provisionCodeServer(version = CODE_SERVER_VERSION) {
  const l = layout(codeServerDir(version));
  if (complete(l, version)) return { ...l, cached: true };

  ensureDir(CACHE_DIR);
  rmSync(l.dir, { recursive: true, force: true });
  const staging = mkdtempSync(join(CACHE_DIR, `.staging-code-server-${version}-`));
  const tmpdir = ensureDir(join(CACHE_DIR, 'tmp'));
  try {
    const seeded = seedRipgrep(tmpdir);
    if (!seeded) log('no system ripgrep to seed @vscode/ripgrep with: its postinstall downloads rg from GitHub');
    writeFileSync(join(staging, 'package.json'), JSON.stringify({ name: 'code-server-install', private: true }) + '\n');
    const env = {
      ...process.env,
      // As root code-server's postinstall refuses to run without unsafe-perm;
      // node-pty's build runs `npx node-gyp`, which a `yes=false` npm setting cancels.
      npm_config_unsafe_perm: 'true',
      npm_config_yes: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      TMPDIR: tmpdir,
    };
    await run('npm', ['install', '--no-save', '--unsafe-perm', '--no-package-lock', `code-server@${version}`], {
      cwd: staging,
      env,
      quiet: !process.env.HYPERSTEP_E2E_VERBOSE,
    });
    const staged = layout(staging);
    writeFileSync(staged.marker, JSON.stringify({ version, node: process.version, at: new Date().toISOString() }) + '\n');
    if (!complete(staged, version)) {
      throw new Error(`code-server ${version} installed into ${staging} but is incomplete (no ripgrep binary or node-pty build): see the npm output above`);
    }
    renameSync(staging, l.dir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  return { ...l, cached: false };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const started = Date.now();
  const cs = await provisionCodeServer();
  log(`code-server ${CODE_SERVER_VERSION} ${cs.cached ? 'cached' : 'provisioned'} in ${cs.dir} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
