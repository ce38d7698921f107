// `hyperstep run` under the VMM, through the built dist/cli.js: the exit trace,
// the JSON document, VM configuration errors, exit codes, and --bare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopProblem, vmExitCodeFor, formatExitLine } from '../../src/cli/vmrun';
import { cli, scratch } from './harness';

const tmp = scratch('vmrun');
const file = tmp.write;

const shutdown = (code: number): string => `  mov eax, 3\n  mov ebx, ${code}\n  vmcall\n`;

/** CPUID, three OUTs to 0xE9 ("ok\n"), RDMSR of an MSR inside the bitmap range (no exit), shutdown 0. */
const GUEST = file('guest.asm', `bits 32
org 0x1000
  xor eax, eax
  cpuid
  mov dx, 0xe9
  mov al, 'o'
  out dx, al
  mov al, 'k'
  out dx, al
  mov al, 10
  out dx, al
  mov ecx, 0x174
  rdmsr
${shutdown(0)}`);

test('--trace exits prints one line per exit: sequence, vCPU, reason, name, RIP, qualification decoded, length, why', () => {
  const r = cli('run', GUEST, '--trace', 'exits');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const exits = lines.filter((l) => l.startsWith('#'));
  assert.equal(exits.length, 5);
  assert.equal(exits[0], '#1 vcpu0 10 CPUID rip=0x00001002 qual=0x00000000 len=2 leaf=0x00000000 — CPUID always exits in VMX non-root operation');
  assert.equal(exits[1], '#2 vcpu0 30 IO_INSTRUCTION rip=0x0000100A qual=0x00E90000 (OUT DX, AL → port 0xE9, 1 byte) len=1 — I/O bitmap A bit 0xE9 set');
  assert.match(exits[4], /^#5 vcpu0 18 VMCALL rip=0x000010\w{2} qual=0x00000000 len=3 hypercall=3 — VMCALL always exits/);
  // The guest's line appears after the exit that completed it and before the next one.
  const okAt = lines.indexOf('guest> ok');
  assert.ok(okAt > lines.indexOf(exits[3]) && okAt < lines.indexOf(exits[4]), r.stdout);
  assert.match(r.stdout, /^\s+VM-EXIT\s+Samples\s+Samples%\s+Time%\s+Min Time\s+Max Time\s+Avg time$/m);
  assert.match(r.stdout, /^\s+IO_INSTRUCTION\s+3\s+60\.00%/m);
  assert.match(r.stdout, /Total Samples:5, Total modelled time:[\d,]+cyc\./);
  assert.match(r.stdout, /stopped: shutdown \(exit code 0\) at 0008:000010\w\w after \d+ instructions, 5 VM exits/);
  assert.match(r.stdout, /EAX=[0-9A-F]{8}/);
});

test('without --trace: the guest output as it appears, the statistics and the final state', () => {
  const r = cli('run', GUEST);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith('ok\n'), r.stdout);
  assert.doesNotMatch(r.stdout, /^#1 /m);
  assert.match(r.stdout, /Analyze events for all VMs, all VCPUs \(cost model: kvm-default\):/);
  assert.match(r.stdout, /I\/O ports:/);
  assert.match(r.stdout, /^\s+0xE9 out\s+3\s+100\.00%/m);
});

test('--json: exits with the documented fields, stats, stop, console and the register state', () => {
  const r = cli('run', GUEST, '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.exits.length, 5);
  assert.equal(j.exitCount, 5);
  assert.equal(j.exitsTruncated, undefined);
  assert.deepEqual(Object.keys(j.exits[1]).slice(0, 9), ['sequence', 'reason', 'name', 'vcpu', 'rip', 'qualification', 'instructionLength', 'summary', 'why']);
  assert.deepEqual([j.exits[1].reason, j.exits[1].name, j.exits[1].vcpu, j.exits[1].rip, j.exits[1].qualification, j.exits[1].instructionLength],
    [30, 'IO_INSTRUCTION', 0, 0x100a, 0x00e90000, 1]);
  assert.equal(j.exits[1].summary, 'OUT DX, AL → port 0xE9, 1 byte');
  assert.equal(j.exits[1].why, 'I/O bitmap A bit 0xE9 set');
  assert.equal(j.stats.total, 5);
  assert.equal(j.stats.model, 'kvm-default');
  assert.deepEqual(j.stats.reasons.map((x: { name: string; count: number }) => [x.name, x.count]), [['IO_INSTRUCTION', 3], ['CPUID', 1], ['VMCALL', 1]]);
  assert.equal(j.stats.totalCycles, 3 * 1900 + 1300 + 1450);
  assert.deepEqual(j.stats.cpuidLeaves.map((k: { key: string }) => k.key), ['0x0']);
  assert.deepEqual(j.stop, { reason: 'shutdown', message: 'guest shut down with code 0', rip: j.stop.rip, code: 0 });
  assert.equal(j.console, 'ok\n');
  assert.equal(j.state.cs, 8);
  assert.equal(j.state.cpl, 0);
  assert.equal(j.mode, 'flat32');
  assert.equal(j.loadAddress, 0x1000);
  assert.equal(j.vm.config, null);
});

test('--vm with a bad configuration names the file and field, exit 1, nothing run', () => {
  const vm = file('vm.json', JSON.stringify({ controls: { primary: { HLT_EXITNG: true } }, vcpu: 1 }));
  const r = cli('run', GUEST, '--vm', vm);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.deepEqual(lines, [
    `${vm}: vcpu: unknown field; did you mean "vcpus"?`,
    `${vm}: controls.primary.HLT_EXITNG: unknown control; did you mean "HLT_EXITING"?`,
  ]);
  assert.match(cli('run', GUEST, '--vm', file('broken.json', '{ "controls": ')).stderr, /broken\.json: not valid JSON/);
  assert.match(cli('run', GUEST, '--vm', join(tmp.dir, 'missing.json')).stderr, /missing\.json: no such file/);
});

test('--vm applies the controls and the cost model of the file', () => {
  const vm = file('quiet.json', JSON.stringify({ controls: { ioBitmap: [{ from: '0xE9', exit: false }] }, costModel: { name: 'lab', roundTrip: 100, handlers: { CPUID: 1 } } }));
  const r = cli('run', GUEST, '--vm', vm, '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.exits.map((e: { name: string }) => e.name), ['CPUID', 'VMCALL'], 'port 0xE9 passed through');
  assert.equal(j.stats.model, 'lab');
  assert.equal(j.exits.length, 2);
  assert.equal(j.stats.reasons.find((x: { name: string }) => x.name === 'CPUID').cycles, 101);
  assert.equal(j.vm.config, vm);
});

test('a failed VM entry names the check and the field, exit 5', () => {
  const vm = file('ia32e.json', JSON.stringify({ controls: { entry: { VM_ENTRY_IA32E_MODE: true } } }));
  const r = cli('run', GUEST, '--vm', vm);
  assert.equal(r.code, 5);
  assert.match(r.stderr, /hyperstep: VM entry failed: check "[\w-]+" \(controls checks\) on VM_ENTRY_CONTROLS = 0x[0-9A-F]+: "IA-32e mode guest" \(entry bit 9\) must be 0/);
  assert.match(r.stdout, /no VM exits/);
});

test('exit codes: shutdown with a non-zero code is 6, HLT is 0, the instruction limit 4', () => {
  const r = cli('run', file('fail.asm', `bits 32\norg 0x1000\n${shutdown(7)}`));
  assert.equal(r.code, 6);
  assert.match(r.stdout, /stopped: shutdown \(exit code 7\)/);
  assert.equal(cli('run', file('hlt.asm', 'bits 32\norg 0x1000\n  cli\n  hlt\n')).code, 0);
  const spin = cli('run', file('spin.asm', 'bits 32\norg 0x1000\nspin: jmp spin\n'), '--max-instructions', '5000', '--json');
  assert.equal(spin.code, 4);
  assert.equal(JSON.parse(spin.stdout).instructions, 5000);
});

test('stop problems and exit codes for unhandled exits and errors', () => {
  const base = { instructions: 1, exits: 1, rip: 0x1000 };
  assert.equal(vmExitCodeFor({ ...base, reason: 'unhandled-exit', message: 'no handler for exit 37 (MONITOR_TRAP_FLAG)' }), 5);
  assert.equal(stopProblem({ ...base, reason: 'unhandled-exit', message: 'no handler for exit 37 (MONITOR_TRAP_FLAG)' }), 'unhandled VM exit: no handler for exit 37 (MONITOR_TRAP_FLAG)');
  assert.equal(stopProblem({ ...base, reason: 'hlt', message: 'halted' }), undefined);
  assert.equal(vmExitCodeFor({ ...base, reason: 'triple-fault', message: 'x' }), 3);
  // The debug-exit port: the value the guest wrote decides, not the status (value << 1) | 1.
  assert.equal(vmExitCodeFor({ ...base, reason: 'shutdown', message: 'x', code: 1 }, 0), 0);
  assert.equal(vmExitCodeFor({ ...base, reason: 'shutdown', message: 'x', code: 5 }, 2), 6);
  assert.equal(vmExitCodeFor({ ...base, reason: 'shutdown', message: 'x', code: 1 }), 6);
  const base2 = { sequence: 9, vcpu: 1, rip: 0x1234, qualification: 0, instructionLength: 1, instructionInfo: 0, interruptionInfo: 0, interruptionErrorCode: 0, idtVectoringInfo: 0, idtVectoringErrorCode: 0 };
  assert.equal(formatExitLine({ ...base2, reason: 12, name: 'HLT', why: 'HLT exiting (primary control bit 7) is set' }),
    '#9 vcpu1 12 HLT rip=0x00001234 qual=0x00000000 len=1 — HLT exiting (primary control bit 7) is set');
  // #GP(0x10) hardware exception: no qualification layout, so the interruption information is decoded; the error code follows.
  assert.match(formatExitLine({ ...base2, reason: 0, name: 'EXCEPTION_NMI', instructionLength: 0, interruptionInfo: 0x80000b0d, interruptionErrorCode: 0x10, why: 'exception bitmap bit 13 (#GP) set' }),
    /^#9 vcpu1 0 EXCEPTION_NMI rip=0x00001234 qual=0x00000000 \(.*#GP.*\) len=0 intr=0x80000B0D err=0x0010 — exception bitmap bit 13 \(#GP\) set$/);
});

test('--trace exits prints the lines of the examples\' expected-exits.txt', () => {
  for (const dir of ['cpuid-hlt-io-msr', 'cr-shadows']) {
    const golden = readFileSync(join('examples', dir, 'expected-exits.txt'), 'utf8').split('\n').filter((l) => /^#\d/.test(l));
    const r = cli('run', join('examples', dir, 'guest.asm'), '--vm', join('examples', dir, 'vm.json'), '--trace', 'exits');
    assert.ok([0, 6].includes(r.code), r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter((l) => /^#\d/.test(l)), golden, dir);
  }
});

test('a boot sector runs under the VMM in real mode by default; --bare runs the bare machine', () => {
  const boot = cli('run', 'examples/demo/boot.asm', '--json');
  assert.equal(boot.code, 0, boot.stderr);
  const j = JSON.parse(boot.stdout);
  assert.equal(j.mode, 'real');
  assert.match(j.console, /booted in real mode/);
  assert.ok(j.stats.ioPorts.some((k: { key: string }) => k.key === '0x3F8 out'));
  const bare = cli('run', 'examples/demo/boot.asm', '--bare');
  assert.equal(bare.code, 0, bare.stderr);
  assert.doesNotMatch(bare.stdout, /VM-EXIT/);
  assert.match(bare.stdout, /stopped: hlt at 0008:/);
  assert.match(cli('run', GUEST, '--bare', '--trace', 'exits').stderr, /--trace exits needs the VMM/);
  assert.match(cli('run', GUEST, '--trace', 'all').stderr, /--trace takes 'exits'/);
});

test('the demo guest of npm start: the hypervisor signature and a clean shutdown', () => {
  const r = cli('run', 'examples/demo/vmm-tour.asm', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.console, 'hello from the guest via port 0xE9\nhypervisor: Hyperstep\n');
  assert.deepEqual(j.stats.cpuidLeaves.map((k: { key: string }) => k.key), ['0x0', '0x40000000']);
  const demo = cli('demo');
  assert.equal(demo.code, 0, demo.stderr);
  assert.match(demo.stdout, /Under the VMM/);
  assert.match(demo.stdout, /MSR_WRITE at 0000\w{4}\n\s+why: MSR bitmap write bitmap for low MSRs bit 0x174 set/);
  assert.match(demo.stdout, /stopped: shutdown \(code 0\)/);
  assert.ok(demo.stdout.split('\n').length < 80, 'the demo stays readable');
});

test('the kept exit list is capped and flagged as truncated; the count and statistics still see every exit', async () => {
  const { runUnderVmm } = await import('../../src/cli/vmrun');
  const { loadProgram } = await import('../../src/cli/program');
  const program = loadProgram(file('loop.asm', 'bits 32\norg 0x1000\n  mov esi, 30\n.l:\n  cpuid\n  dec esi\n  jnz .l\n  cli\n  hlt\n'));
  const r = runUnderVmm(program, { mode: 'flat32', maxInstructions: 10_000, keepExits: true, exitCap: 10 });
  assert.equal(r.exits.length, 10);
  assert.equal(r.exitsTruncated, true);
  assert.equal(r.exitCount, 31);
  assert.equal(r.vm.stats.report().total, 31);
  assert.deepEqual(r.exits.map((e) => e.sequence), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test('string I/O output (REP OUTSB, carried out by the CPU) is shown in order with the other output', () => {
  const p = file('outs.asm', 'bits 32\norg 0x1000\n  mov esi, msg\n  mov ecx, 4\n  mov dx, 0xe9\n  rep outsb\n  mov al, "!"\n  out dx, al\n  mov eax, 0\n  mov ebx, nl\n  mov ecx, 1\n  vmcall\n' + shutdown(0) + 'msg: db "outs"\nnl: db 10\n');
  const j = JSON.parse(cli('run', p, '--json').stdout);
  assert.equal(j.console, 'outs!\n');
  assert.equal(j.exits[0].summary, 'REP OUTSB → port 0xE9, 1 byte');
  assert.equal(cli('run', p).stdout.split('\n')[0], 'outs!');
});
