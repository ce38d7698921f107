// `hyperstep run --technique` and `hyperstep compare`, through the built
// dist/cli.js: the software VMM's statistics and holes, the VM configuration's
// technique, the comparison table and its JSON, and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXPECTED_CONSOLE } from '../examples/techniques-kernels';
import { cli, scratch } from './harness';

const KERNEL = 'examples/techniques/kernel.asm';
const PV = 'examples/techniques/kernel-pv.asm';
const tmp = scratch('technique');
const file = tmp.write;

test('run --technique binary-translation: the native output, the translator\'s figures, a clean shutdown', () => {
  const r = cli('run', KERNEL, '--technique', 'binary-translation');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith(EXPECTED_CONSOLE), r.stdout.slice(0, 400));
  assert.match(r.stdout, /Analyze VMM work for the guest under binary-translation/);
  assert.match(r.stdout, /69 blocks \(\d+ instructions\) translated/);
  assert.match(r.stdout, /Virtualization holes:0\./);
  assert.match(r.stdout, /stopped: shutdown \(exit code 1\) .* traps into the VMM — debug-exit port: the guest wrote 0/);
  assert.match(r.stdout, /virtual CPU: CPL=0 \(runs in ring 1\)/);
});

test('run --technique trap-and-emulate: the guest stops early; the first hole is shown; --trace traps lists traps and holes in order', () => {
  const r = cli('run', KERNEL, '--technique', 'trap-and-emulate');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split('\n').slice(0, 2).join('\n') + '\n', EXPECTED_CONSOLE.split('\n').slice(0, 2).join('\n') + '\n');
  assert.match(r.stdout, /#GP: cli\s+100/);
  assert.match(r.stdout, /first virtualization holes \(199 in all/);
  assert.match(r.stdout, /hole at 0x[0-9A-F]{8} `popf`: saw virtual IF=0/);
  assert.match(r.stdout, /stopped: hlt .* the guest halted with its \(virtual\) interrupts disabled/);
  const t = cli('run', KERNEL, '--technique', 'trap-and-emulate', '--trace', 'traps');
  const lines = t.stdout.split('\n');
  // The kernel's first fetch already needs a shadow entry: paging is always on under the VMM.
  assert.equal(lines[0], 'trap #1 #PF: shadow fill rip=0x00010000 1,400cyc');
  assert.ok(lines.some((l) => /^trap #\d+ #GP: lgdt rip=0x[0-9A-F]{8} 1,100cyc$/.test(l)));
  const firstHole = lines.findIndex((l) => l.startsWith('hole at '));
  const firstGuest = lines.findIndex((l) => l.startsWith('guest> '));
  assert.ok(firstGuest > 0 && firstHole > firstGuest, 'the first line of output comes before the first hole');
  assert.equal(lines.filter((l) => l.startsWith('hole at ')).length, 199);
  assert.equal(lines.filter((l) => l.startsWith('trap #')).length, 297);
});

test('run --technique paravirt on the PV build; --json has the hypercall table and the console', () => {
  const r = cli('run', PV, '--technique', 'paravirt', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { technique: string; console: string; stop: { reason: string; code: number }; stats: { hypercalls: { key: string; count: number }[]; holes: number } };
  assert.equal(j.technique, 'paravirt');
  assert.equal(j.console, EXPECTED_CONSOLE);
  assert.deepEqual(j.stop.reason, 'shutdown');
  assert.equal(j.stop.code, 0);
  assert.deepEqual(j.stats.hypercalls.find((h) => h.key === 'IRQ_DISABLE')?.count, 101);
});

test('a VM configuration names the technique; --technique overrides it; what needs VT-x is an error naming the file and field', () => {
  const bt = file('bt.vm.json', JSON.stringify({ technique: 'binary-translation', memory: { sizeMiB: 16 }, devices: { debugExit: { enabled: true } } }));
  const r = cli('run', KERNEL, '--vm', bt);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /under binary-translation/);
  const v = cli('run', KERNEL, '--vm', bt, '--technique', 'vtx');
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /Analyze events for all VMs/);
  const smp = file('smp.vm.json', JSON.stringify({ technique: 'paravirt', vcpus: 2 }));
  const e = cli('run', PV, '--vm', smp);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /smp\.vm\.json: vcpus: the software techniques run one vCPU/);
  // The debug-exit port is on by default; without it the kernel's final write goes nowhere and it halts.
  const quiet = file('quiet.vm.json', JSON.stringify({ technique: 'binary-translation', memory: { sizeMiB: 16 }, devices: { debugExit: { enabled: false } } }));
  const q = cli('run', KERNEL, '--vm', quiet);
  assert.match(q.stdout, /stopped: hlt/);
});

test('--kernel-ring 3: binary translation still gives the native output with the kernel in ring 3; compare takes it too', () => {
  const r = cli('run', KERNEL, '--technique', 'binary-translation', '--kernel-ring', '3');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith(EXPECTED_CONSOLE));
  assert.match(r.stdout, /virtual CPU: CPL=0 \(runs in ring 3\)/);
  // 12 round trips between the kernel's and the user task's shadow roots.
  assert.match(r.stdout, /Shadow root switches \(kernel in ring 3\): 24, 3,600cyc\./);
  const ring3 = file('ring3.vm.json', JSON.stringify({ technique: 'binary-translation', kernelRing: 3, memory: { sizeMiB: 16 }, devices: { debugExit: { enabled: true } } }));
  assert.match(cli('run', KERNEL, '--vm', ring3).stdout, /runs in ring 3/);
  assert.match(cli('run', KERNEL, '--vm', ring3, '--kernel-ring', '1').stdout, /runs in ring 1/);
  const j = JSON.parse(cli('compare', KERNEL, '--techniques', 'trap-and-emulate,binary-translation', '--kernel-ring', '3', '--json').stdout) as { kernelRing: number; rows: { technique: string; correct: boolean; events: number }[] };
  assert.equal(j.kernelRing, 3);
  assert.deepEqual(j.rows.map((x) => [x.technique, x.correct]), [['trap-and-emulate', false], ['binary-translation', true]]);
  assert.equal(j.rows[1].events, 34, 'ring 3 costs two more shadow fills than ring 1 (32 traps)');
});

test('bad technique flags are usage errors', () => {
  for (const [args, message] of [
    [['--technique', 'bt'], /--technique must be one of vtx, trap-and-emulate, binary-translation, paravirt/],
    [['--technique', 'paravirt', '--trace', 'exits'], /--trace exits needs VT-x; under paravirt use --trace traps/],
    [['--trace', 'traps'], /--trace traps needs a software technique/],
    [['--technique', 'trap-and-emulate', '--mode', 'real'], /runs a flat32 guest kernel/],
    [['--technique', 'binary-translation', '--bare'], /cannot be combined with --bare/],
    [['--technique', 'paravirt', '--kernel-ring', '3'], /paravirt runs its kernel in ring 1/],
    [['--kernel-ring', '3'], /--kernel-ring applies to trap-and-emulate and binary-translation/],
    [['--technique', 'binary-translation', '--kernel-ring', '2'], /--kernel-ring must be 1 or 3/],
  ] as const) {
    const r = cli('run', KERNEL, ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test('compare: a row per technique, progress on stderr, the same JSON twice', () => {
  const r = cli('compare', KERNEL, '--pv', PV);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.split('\n').slice(1, 7).map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows.map((c) => [c[0], c[1]]), [
    ['native (no VMM)', 'correct'], ['VT-x, EPT', 'correct'], ['VT-x, shadow paging', 'correct'],
    ['trap-and-emulate', 'WRONG'], ['binary translation', 'correct'], ['paravirtualization', 'correct'],
  ]);
  assert.match(r.stderr, /\[1\/6\] native\n[\s\S]*\[6\/6\] paravirt/);
  const a = cli('compare', KERNEL, '--pv', PV, '--json');
  const b = cli('compare', KERNEL, '--pv', PV, '--json');
  assert.equal(a.stderr, '');
  assert.equal(a.stdout, b.stdout);
  const j = JSON.parse(a.stdout) as { rows: { technique: string; correct: boolean; ratio: number }[] };
  assert.equal(j.rows.length, 6);
  assert.equal(j.rows[0].ratio, 1);
});

test('compare: a subset, the paravirt row without --pv, bad input', () => {
  const r = cli('compare', KERNEL, '--techniques', 'native,binary-translation');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split('\n').filter((l) => /^(native|binary translation) /.test(l)).length, 2);
  const all = cli('compare', KERNEL);
  assert.match(all.stdout, /^paravirtualization\s+skipped/m);
  assert.match(all.stdout, /paravirtualization: skipped — needs the paravirtualized build/);
  assert.equal(cli('compare', KERNEL, '--techniques', 'paravirt').code, 2);
  assert.equal(cli('compare', KERNEL, '--techniques', 'nope').code, 2);
  const bad = cli('compare', file('bad.asm', 'bits 32\norg 0x10000\n  mov eax,\n'));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /bad\.asm:3:/);
  assert.equal(cli('compare').code, 2);
});
