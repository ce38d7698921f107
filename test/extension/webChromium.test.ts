// The browser build in a real browser: headless Chromium (Debian's
// /usr/bin/chromium, or $CHROMIUM_PATH) driven by playwright-core loads the
// production bundle in a Web Worker, as VS Code for the Web loads an
// extension's `browser` entry, activates it against the stand-in API and runs
// examples/demo/vmm-tour.asm through the inline debug adapter to a VM exit.
// Skipped, saying so, only where there is no Chromium (CI installs it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildHarness, buildWebBundle, chromiumPath, REPO, runInChromium } from './web/host';

const chromium = chromiumPath();
const skip = chromium === undefined ? 'no Chromium: install Debian\'s chromium or set CHROMIUM_PATH' : false;

test('in headless Chromium the browser bundle runs in a Web Worker and debugs vmm-tour.asm to a VM exit', { skip, timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const result = await runInChromium(chromium as string, await buildHarness(), {
    bundle: buildWebBundle({ production: true }),
    files: { '/w/vmm-tour.asm': readFileSync(join(REPO, 'examples', 'demo', 'vmm-tour.asm'), 'utf8') },
    program: '/w/vmm-tour.asm',
    launch: { mode: 'flat32' },
    filters: ['exit-30'],
  });
  t.diagnostic(`in the worker: load ${result.loadMs.toFixed(1)} ms, activate() ${result.activateMs.toFixed(1)} ms; whole run ${Date.now() - started} ms`);
  assert.equal(result.stopped.reason, 'exception');
  assert.equal(result.exceptionId, '30 IO_INSTRUCTION');
  assert.match(result.topFrame, /^VM exit 30 IO_INSTRUCTION · /);
  assert.equal(result.vmcsExitReason, '0x0000001E');
  assert.ok(result.commands.includes('hyperstep.debugGuest'));
});
