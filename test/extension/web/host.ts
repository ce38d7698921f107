// Builds what the browser tests load: the extension's browser bundle (with
// scripts/build.mjs, exactly as `npm run build` and `npm run package` build
// it) and the harness (harness.ts, bundled for the browser), and runs the
// harness in a Node vm context that holds only what a Web Worker has.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext, runInContext } from 'node:vm';
import * as esbuild from 'esbuild';
import type { WebRunOptions, WebRunResult } from './harness';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** scripts/build.mjs's browser bundle, built into a scratch directory; its source text. */
export function buildWebBundle(options: { production?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'hyperstep-web-'));
  try {
    const args = [join(REPO, 'scripts', 'build.mjs'), '--only', 'web', '--quiet', '--outdir', dir, ...(options.production === true ? ['--production'] : [])];
    const r = spawnSync(process.execPath, args, { cwd: REPO, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`scripts/build.mjs --only web failed:\n${r.stdout}${r.stderr}`);
    return readFileSync(join(dir, 'web', 'extension.js'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The harness as one browser script (an IIFE that sets globalThis.hyperstepWebHarness). */
export async function buildHarness(): Promise<string> {
  const r = await esbuild.build({
    entryPoints: [join(REPO, 'test', 'extension', 'web', 'harness.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'error',
  });
  const out = r.outputFiles[0];
  if (out === undefined) throw new Error('esbuild wrote no harness');
  return out.text;
}

/** Every module name the bundle passes to require() as a string literal, and how many require( calls there are at all. */
export function requiredModules(bundle: string): { literal: string[]; calls: number } {
  const literal = [...bundle.matchAll(/\brequire\(\s*(["'`])([^"'`]+)\1\s*\)/g)].map((m) => m[2] as string);
  const calls = [...bundle.matchAll(/\brequire\(/g)].length;
  return { literal: [...new Set(literal)].sort(), calls };
}

/**
 * A context with the globals of a Web Worker that the code can touch, and no
 * require, module, process, Buffer, setImmediate or global. TextEncoder gives
 * the context's own Uint8Array, so typed arrays do not cross realms.
 */
export function workerLikeContext(): object {
  const context = createContext({
    console,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    queueMicrotask,
    performance,
    URL,
    URLSearchParams,
    TextDecoder,
    atob,
    btoa,
    __OuterTextEncoder: TextEncoder,
  });
  runInContext(
    `globalThis.self = globalThis;
     const Outer = globalThis.__OuterTextEncoder;
     delete globalThis.__OuterTextEncoder;
     globalThis.TextEncoder = class TextEncoder {
       get encoding() { return 'utf-8'; }
       encode(text = '') { return new Uint8Array(new Outer().encode(text)); }
     };`,
    context,
  );
  return context;
}

/** Runs the harness in a worker-like vm context; the result comes back through JSON. */
export async function runInWorkerLikeContext(harness: string, options: WebRunOptions): Promise<WebRunResult> {
  const context = workerLikeContext();
  runInContext(harness, context, { filename: 'harness.js' });
  const run = runInContext('globalThis.hyperstepWebHarness.run', context) as (json: string) => Promise<string>;
  return JSON.parse(await run(JSON.stringify(options))) as WebRunResult;
}

/** Where a Chromium for the browser test is: $CHROMIUM_PATH, else Debian's. */
export function chromiumPath(): string | undefined {
  for (const p of [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p !== undefined && p !== '' && existsSync(p)) return p;
  }
  return undefined;
}

const ORIGIN = 'http://hyperstep.test';

/**
 * Runs the harness in a Web Worker of a headless Chromium page: the page
 * starts the worker, the worker fetches the extension bundle from the page's
 * origin (as VS Code for the Web fetches an extension's `browser` entry) and
 * runs the guest through it.
 */
export async function runInChromium(executablePath: string, harness: string, options: WebRunOptions): Promise<WebRunResult> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--headless'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const worker = `importScripts('${ORIGIN}/harness.js');
      self.onmessage = async (event) => {
        try {
          const options = JSON.parse(event.data);
          options.bundle = await (await fetch('${ORIGIN}/dist/web/extension.js')).text();
          const noNode = typeof require === 'undefined' && typeof process === 'undefined' && typeof Buffer === 'undefined';
          const result = JSON.parse(await self.hyperstepWebHarness.run(JSON.stringify(options)));
          self.postMessage(JSON.stringify({ ok: true, result, noNode }));
        } catch (e) {
          self.postMessage(JSON.stringify({ ok: false, error: String(e && e.stack || e) }));
        }
      };`;
    const served: Record<string, { type: string; body: string }> = {
      '/': { type: 'text/html', body: '<!doctype html><title>Hyperstep web build</title>' },
      '/harness.js': { type: 'text/javascript', body: harness },
      '/worker.js': { type: 'text/javascript', body: worker },
      '/dist/web/extension.js': { type: 'text/javascript', body: options.bundle },
    };
    await page.route(`${ORIGIN}/**`, (route) => {
      const file = served[new URL(route.request().url()).pathname];
      return file === undefined ? route.fulfill({ status: 404, body: 'not found' }) : route.fulfill({ status: 200, contentType: file.type, body: file.body });
    });
    await page.goto(`${ORIGIN}/`);
    // Evaluated in the page (no DOM types here): start the worker, hand it the options, await its reply.
    const reply = (await page.evaluate(`new Promise((resolve) => {
      const w = new Worker('/worker.js');
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => resolve(JSON.stringify({ ok: false, error: 'worker error: ' + e.message }));
      w.postMessage(${JSON.stringify(JSON.stringify({ ...options, bundle: '' }))});
    })`)) as string;
    const parsed = JSON.parse(reply) as { ok: true; result: WebRunResult; noNode: boolean } | { ok: false; error: string };
    if (!parsed.ok) throw new Error(`in the worker: ${parsed.error}${errors.length > 0 ? `\npage errors: ${errors.join('\n')}` : ''}`);
    if (!parsed.noNode) throw new Error('the worker has require, process or Buffer: not a browser context');
    return parsed.result;
  } finally {
    await browser.close();
  }
}
