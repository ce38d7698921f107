// Headless Chromium (Debian's, or CHROMIUM_PATH) driven by playwright-core,
// and opening the workbench in it.
import { existsSync, rmSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { ensureDir, waitFor } from './lib.mjs';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export function chromiumPath() {
  const wanted = process.env.CHROMIUM_PATH;
  if (wanted) {
    if (!existsSync(wanted)) throw new Error(`CHROMIUM_PATH=${wanted} does not exist`);
    return wanted;
  }
  const found = CANDIDATES.find((p) => existsSync(p));
  if (!found) throw new Error(`no Chromium found (${CANDIDATES.join(', ')}); install Debian's chromium or set CHROMIUM_PATH`);
  return found;
}

/** A fresh profile each time; the browser's own files (crash reports, caches) stay under `xdg`. */
export async function launchBrowser(profileDir, xdg, { viewport = { width: 1440, height: 900 } } = {}) {
  rmSync(profileDir, { recursive: true, force: true });
  ensureDir(profileDir);
  return chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath(),
    headless: true,
    // The run stops its process groups itself (scripts/e2e/run.mjs).
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    viewport,
    deviceScaleFactor: 1,
    env: { ...process.env, XDG_CONFIG_HOME: xdg.config, XDG_CACHE_HOME: xdg.cache, XDG_DATA_HOME: xdg.data },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** The workbench URL for `folder`, with an optional `payload` (the workbench's development and test arguments). */
export function workbenchUrl(server, folder, payload) {
  const params = new URLSearchParams({ folder });
  if (payload) params.set('payload', JSON.stringify(payload));
  return `${server.url}/?${params.toString()}`;
}

/** A remote URI the workbench resolves on the server's file system. */
export function remoteUri(server, absPath) {
  return `vscode-remote://${server.authority}${absPath}`;
}

/**
 * Waits until the workbench has created its last phase of contributions.
 * Keyboard input sent before that (e.g. as soon as the explorer shows) can be
 * dropped without any error, so no test types anything earlier.
 */
export async function waitForWorkbench(page, timeoutMs = 60_000) {
  await page.waitForSelector('.monaco-workbench', { timeout: timeoutMs });
  await waitFor(
    'the workbench to finish starting (performance mark code/didCreateWorkbenchContributions/4)',
    () => page.evaluate(() => performance.getEntriesByType('mark').some((m) => m.name === 'code/didCreateWorkbenchContributions/4')),
    { timeoutMs, intervalMs: 100 },
  );
}

/** Collects the page's console, for artifacts and for the extension host's output. */
export function recordConsole(page, sink) {
  page.on('console', (message) => sink.push(`[${message.type()}] ${message.text()}`));
  page.on('pageerror', (error) => sink.push(`[pageerror] ${error.message}`));
}
