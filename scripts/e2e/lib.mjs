// Shared pieces of the end-to-end runs: named steps (a failure says which
// step failed), process groups that are stopped as a whole, free ports,
// waiting, and the paths every script agrees on.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CODE_SERVER_VERSION = '4.100.3';
/** code-server's own cache of provisioned installs, one folder per version (not in git). */
export const CACHE_DIR = resolve(process.env.HYPERSTEP_E2E_CACHE ?? join(ROOT, '.e2e-cache'));
/** Screenshots, logs and timings of the last run. */
export const ARTIFACTS_DIR = resolve(process.env.HYPERSTEP_E2E_ARTIFACTS ?? join(ROOT, 'test-results', 'e2e'));
/** The screenshots the README shows. */
export const README_SCREENSHOTS_DIR = join(ROOT, 'media', 'screenshots');
/** Where the integration suites are bundled (out/ is not in git). */
export const SUITE_OUT_DIR = join(ROOT, 'out', 'e2e');

export const log = (message) => console.log(`e2e: ${message}`);

/** An error that names the step it happened in. */
export class StepError extends Error {
  constructor(step, cause) {
    super(`step "${step}" failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.step = step;
    this.cause = cause;
  }
}

/** Timings of the steps run so far, in order. */
export const timings = [];

/** Runs `fn` as the step `name`: prints it with its time, and wraps any error in a StepError naming it. */
export async function step(name, fn) {
  const started = performance.now();
  try {
    const value = await fn();
    const ms = Math.round(performance.now() - started);
    timings.push({ step: name, ms, ok: true });
    log(`ok   ${name} (${formatMs(ms)})`);
    return value;
  } catch (error) {
    const ms = Math.round(performance.now() - started);
    timings.push({ step: name, ms, ok: false });
    if (error instanceof StepError) throw error;
    throw new StepError(name, error);
  }
}

export function formatMs(ms) {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function ensureDir(path) {
  mkdirSync(path, { recursive: true });
  return path;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a truthy value; throws `what` after `timeoutMs`. */
export async function waitFor(what, probe, { timeoutMs = 30_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      if (error?.fatal) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${formatMs(timeoutMs)} waiting for ${what}${last ? ` (last error: ${last.message ?? last})` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Runs a command to completion; rejects with its output's tail when it fails. */
export function run(command, args, { cwd = ROOT, env = process.env, quiet = false, timeoutMs = 15 * 60_000 } = {}) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (chunk) => {
      output += chunk;
      if (output.length > 200_000) output = output.slice(-100_000);
      if (!quiet) process.stdout.write(chunk);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolveRun(output);
      else {
        const tail = output.trim().split('\n').slice(-25).join('\n');
        reject(new Error(`${command} ${args.join(' ')} exited with ${signal ?? code}\n${tail}`));
      }
    });
  });
}

/** Whether any process of the group is alive. */
export function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * Stops a whole process group: SIGTERM to every member (kill -- -PGID), then
 * SIGKILL to what is left after the grace period. Extension hosts and
 * terminals live in the group, so killing only its leader could orphan them.
 */
export async function killGroup(pgid, graceMs = 3000) {
  if (!pgid || !groupAlive(pgid)) return;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) return;
    await sleep(50);
  }
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // gone in the meantime
  }
  const hard = Date.now() + 2000;
  while (Date.now() < hard && groupAlive(pgid)) await sleep(50);
}

/** The Node binary the scripts run with; code-server runs on it too. */
export const NODE = process.execPath;

export function exists(path) {
  return existsSync(path);
}
