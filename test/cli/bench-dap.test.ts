// The debugger benchmarks of `npm run bench` (src/cli/bench-dap.ts), run with
// tiny counts: the generated guest, the shape of the results, and that every
// step ends in a `stopped` event. No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../../src/x86/asm/index';
import { createVm } from '../../src/vmm/vtx/index';
import {
  dapBenchLines,
  dapLaunchBench,
  dapStepBench,
  distribution,
  generateGuest,
  inProcessSource,
  stdioSource,
  type Distribution,
} from '../../src/cli/bench-dap';

function assertDistribution(d: Distribution): void {
  for (const k of ['min', 'median', 'p90', 'p99', 'max'] as const) assert.ok(Number.isFinite(d[k]) && d[k] >= 0, `${k} = ${d[k]}`);
  assert.ok(d.min <= d.median && d.median <= d.p90 && d.p90 <= d.p99 && d.p99 <= d.max, JSON.stringify(d));
}

test('generateGuest: exactly the asked number of lines, the same every time, with labels, loops, calls, data and comments', () => {
  const g = generateGuest(5000);
  assert.equal(g.endsWith('\n'), true);
  assert.equal(g.split('\n').length - 1, 5000);
  assert.equal(generateGuest(5000), g, 'deterministic');
  assert.match(g, /^\s+org 0x1000$/m);
  assert.match(g, /^routine_\d+:$/m);
  assert.match(g, /^\s+jnz \.loop$/m);
  assert.match(g, /^\s+call routine_\d+$/m);
  assert.match(g, /^table_\d+: dd 0x/m);
  assert.match(g, /^name_\d+: db '/m);
  assert.match(g, /^; routine \d+: /m);
  assert.ok((g.match(/^\s+call routine_/gm) ?? []).length > 100, 'many routines');
  const small = generateGuest(300);
  assert.equal(small.split('\n').length - 1, 300);
});

test('the generated guest assembles and runs without ever stopping, writing to the console now and then', () => {
  const r = assemble(generateGuest(5000), { fileName: 'guest.asm' });
  assert.ok(r.ok, r.diagnostics.map((d) => d.message).join('\n'));
  assert.ok(r.bytes.length > 10_000);
  const vm = createVm({ image: r.bytes, mode: 'flat32', org: 0x1000 });
  const stop = vm.run(200_000);
  assert.equal(stop.instructions, 200_000, `ran the whole budget (${stop.reason}: ${stop.message})`);
  const io = vm.stats.report().reasons.find((x) => x.name === 'IO_INSTRUCTION');
  assert.ok(io !== undefined && io.count > 0, 'out 0xe9 exits');
});

test('distribution: nearest-rank percentiles', () => {
  const d = distribution(Array.from({ length: 100 }, (_, i) => 100 - i));
  assert.deepEqual(d, { median: 50, p90: 90, p99: 99, max: 100, min: 1 });
  assert.deepEqual(distribution([7]), { median: 7, p90: 7, p99: 7, max: 7, min: 7 });
});

for (const mode of ['line', 'instruction'] as const) {
  test(`dapStepBench (${mode}): every step stops, moves, and reads the VMCS scope and its first group`, async () => {
    const r = await dapStepBench({ iterations: 6, mode, lines: 400 });
    assert.equal(r.workload, `dap-step-${mode}`);
    assert.equal(r.transport, 'in-process');
    assert.equal(r.mode, mode);
    assert.equal(r.guestLines, 400);
    assert.equal(r.iterations, 6);
    assert.equal(r.stoppedEvents, 6);
    assert.ok(r.distinctStops >= 5, `steps moved: ${r.distinctStops} distinct stops`);
    assert.ok(r.vmcsScopeVariables > 0 && r.firstGroupVariables > 0, `${r.vmcsScopeVariables} groups, ${r.firstGroupVariables} fields`);
    assertDistribution(r.ms);
    assert.equal(r.targetMedianMs, 5);
    assert.equal(r.targetP99Ms, 20);
    assert.equal(typeof r.meetsTarget, 'boolean');
    JSON.parse(JSON.stringify(r));
  });
}

test('dapStepBench: a step that ends the session is counted as not stopped and misses the target', async () => {
  const source = inProcessSource('        bits 32\n        org 0x1000\n        nop\n        cli\n        hlt\n');
  const r = await dapStepBench({ iterations: 10, mode: 'instruction', source });
  assert.equal(r.guestLines, 5);
  assert.ok(r.iterations < 10, `stopped early after ${r.iterations}`);
  assert.equal(r.stoppedEvents, r.iterations - 1, 'the last step terminated the session');
  assert.equal(r.meetsTarget, false);
});

test('dapLaunchBench: launch to stopped on entry, with the assembly baseline', async () => {
  const r = await dapLaunchBench({ runs: 2, lines: 300 });
  assert.equal(r.workload, 'dap-launch-300-lines');
  assert.equal(r.runs, 2);
  assert.equal(r.guestLines, 300);
  assert.equal(r.targetMs, 300);
  assertDistribution(r.ms);
  assertDistribution(r.assembleMs);
  assert.ok(Number.isFinite(r.ratioToAssembly) && r.ratioToAssembly > 0);
  assert.equal(typeof r.meetsTarget, 'boolean');
});

test('dapBenchLines: the stdio workloads say why they did not run without the built adapter', async () => {
  const lines = await dapBenchLines({ quick: true, only: ['dap-step-line-stdio', 'dap-launch-5000-lines-stdio'] });
  assert.deepEqual(lines.map((l) => l['workload']), ['dap-step-line-stdio', 'dap-launch-5000-lines-stdio']);
  for (const l of lines) assert.match(String(l['skipped']), /dist\/adapter\.js/);
});

test('through dist/adapter.js over stdio: steps stop and the launch reaches the entry stop', async () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const adapter = join(root, 'dist', 'adapter.js');
  // `npm test` builds first; a direct run of this file builds when nothing is there.
  if (!existsSync(adapter)) spawnSync(process.execPath, ['scripts/build.mjs', '--quiet'], { cwd: root, stdio: 'inherit' });
  const source = stdioSource(generateGuest(300), adapter);
  try {
    const step = await dapStepBench({ iterations: 4, mode: 'line', source });
    assert.equal(step.workload, 'dap-step-line-stdio');
    assert.equal(step.stoppedEvents, 4);
    assert.ok(step.vmcsScopeVariables > 0 && step.firstGroupVariables > 0);
    const launch = await dapLaunchBench({ runs: 1, source });
    assert.equal(launch.workload, 'dap-launch-300-lines-stdio');
    assert.equal(launch.runs, 1);
  } finally {
    source.dispose();
  }
});
