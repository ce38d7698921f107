// The browser build (package.json `browser`, dist/web/extension.js): built by
// scripts/build.mjs for platform 'browser', it must require nothing but
// `vscode` (VS Code for the Web has no Node built-ins), and it must work with
// only what a Web Worker offers: activated in such a context, its inline
// debug adapter runs a guest to a VM exit and reads the VMCS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildHarness, buildWebBundle, REPO, requiredModules, runInWorkerLikeContext } from './web/host';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { browser: string; contributes: { commands: { command: string }[] } };

test('package.json names the browser build that scripts/build.mjs writes', () => {
  assert.equal(pkg.browser, './dist/web/extension.js');
  const build = readFileSync(join(REPO, 'scripts', 'build.mjs'), 'utf8');
  assert.match(build, /out: 'web\/extension\.js'/);
  assert.match(build, /platform: 'browser'/);
});

for (const production of [false, true]) {
  test(`the ${production ? 'production' : 'development'} browser bundle requires only vscode and uses no Node globals`, () => {
    const bundle = buildWebBundle({ production });
    assert.deepEqual(requiredModules(bundle), { literal: ['vscode'], calls: 1 }, 'a require() other than vscode would fail in the browser');
    for (const nodeOnly of ['__dirname', '__filename', 'setImmediate', 'require("node:', "require('node:", 'process.env', 'process.cwd', 'process.platform']) {
      assert.ok(!bundle.includes(nodeOnly), `the browser bundle uses ${nodeOnly}`);
    }
  });
}

test('in a context with only a Web Worker\'s globals the browser bundle activates, and its inline adapter runs vmm-tour.asm to a VM exit and reads the VMCS', async (t) => {
  const result = await runInWorkerLikeContext(await buildHarness(), {
    bundle: buildWebBundle(),
    files: { '/w/vmm-tour.asm': readFileSync(join(REPO, 'examples', 'demo', 'vmm-tour.asm'), 'utf8') },
    program: '/w/vmm-tour.asm',
    launch: { mode: 'flat32' },
    filters: ['exit-30'],
  });
  t.diagnostic(`load ${result.loadMs.toFixed(1)} ms, activate() ${result.activateMs.toFixed(1)} ms`);
  assert.deepEqual(result.commands, pkg.contributes.commands.map((c) => c.command).sort());
  assert.equal(result.stopped.reason, 'exception');
  assert.equal(result.stopped.description, 'VM exit 30 IO_INSTRUCTION');
  assert.equal(result.exceptionId, '30 IO_INSTRUCTION');
  assert.match(result.topFrame, /^VM exit 30 IO_INSTRUCTION · OUT DX, AL → port 0xE9, 1 byte$/);
  assert.equal(result.vmcsExitReason, '0x0000001E');
  assert.match(result.evaluated, /^VM_EXIT_REASON \(0x4402\) = 0x0000001E/);
  // The guest's first byte went out before the exit that stopped it.
  assert.match(result.output, /^hStopped: VM exit 30 IO_INSTRUCTION/);
});
