// examples/techniques: the guest kernel of the four-techniques comparison.
// Both builds assemble with the project's assembler and share the user task
// byte for byte; the unmodified kernel runs to its summary line and a clean
// debug-exit on the bare machine with the PC platform devices, and under
// VT-x with EPT and with shadow paging (shadow.vm.json). kernel-pv.asm is
// only assembled here: it needs the paravirtual VMM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildKernel, EXPECTED_CONSOLE, TECHNIQUES_DIR, type BuiltKernel } from './techniques-kernels';
import { Machine } from '../../src/x86/machine';
import { PcPlatform, runWithPlatform } from '../../src/vmm/devices/platform';
import { createVm, type VmOptions } from '../../src/vmm/vtx/index';
import { parseVmConfig, toVmOptions, formatConfigError } from '../../src/vmm/config/index';

const DIR = TECHNIQUES_DIR;
const ORG = 0x10000;
const USER_BASE = 0x11000;
const PAGE = 0x1000;
const BUDGET = 20_000_000;

/** The checksum the user task computes, worked out here independently. */
function expectedChecksum(): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < 125_000; i++) h = Math.imul((h ^ i) >>> 0, 0x01000193) >>> 0;
  return h.toString(16).toUpperCase().padStart(8, '0');
}

const build = buildKernel;
type Built = BuiltKernel;

const symbol = (b: Built, name: string): number => {
  const v = b.symbols.get(name);
  assert.ok(v !== undefined, name);
  return v;
};

test('kernel.asm and kernel-pv.asm assemble; the user task is the same page in both', () => {
  const native = build('kernel.asm');
  const pv = build('kernel-pv.asm');
  for (const b of [native, pv]) {
    assert.equal(b.origin, ORG);
    assert.equal(symbol(b, 'user_main'), USER_BASE);
    assert.equal(b.bytes.length, USER_BASE + PAGE - ORG, 'the image ends with the user page');
  }
  const page = (b: Built): Uint8Array => b.bytes.subarray(USER_BASE - ORG, USER_BASE - ORG + PAGE);
  assert.deepEqual(page(pv), page(native));
  assert.equal(expectedChecksum(), 'DCD2E0DD');
});

test('kernel.asm on the bare machine with the PC platform: summary line, debug exit with status 1, the user task preempted', () => {
  const k = build('kernel.asm');
  const machine = new Machine();
  machine.loadFlat32(k.bytes, ORG);
  const out: number[] = [];
  const platform = new PcPlatform({ onSerialOutput: (b) => out.push(b) });
  platform.attach(machine.io);
  const stop = runWithPlatform(machine, platform, BUDGET);
  assert.equal(stop.reason, 'shutdown', stop.message);
  assert.equal(String.fromCharCode(...out), EXPECTED_CONSOLE);
  assert.equal(platform.debugExit.value, 0);
  assert.equal(platform.debugExit.exitCode, 1);
  const read = (name: string): number => machine.memory.read32(symbol(k, name)) >>> 0;
  assert.equal(read('ticks'), 15);
  assert.ok(read('user_ticks') >= 2, `the timer preempted the user task (${read('user_ticks')} ticks in ring 3)`);
});

function runVtx(options: Omit<VmOptions, 'image'>) {
  const k = build('kernel.asm');
  const vm = createVm({ ...options, image: k.bytes, mode: 'flat32', org: ORG });
  const reasons = new Map<string, number>();
  vm.events.on('exit', (e) => reasons.set(e.name, (reasons.get(e.name) ?? 0) + 1));
  const stop = vm.run(BUDGET);
  const text = vm.output.map((c) => String.fromCharCode(c)).join('');
  const userTicks = vm.vcpus[0].cpu.mem.read32(symbol(k, 'user_ticks')) >>> 0;
  return { stop, console: text, reasons, userTicks };
}

function shadowOptions(): Omit<VmOptions, 'image'> {
  const parsed = parseVmConfig(JSON.parse(readFileSync(join(DIR, 'shadow.vm.json'), 'utf8')));
  if ('errors' in parsed) assert.fail(parsed.errors.map(formatConfigError).join('\n'));
  const r = toVmOptions(parsed.config);
  if (!r.ok) assert.fail(r.errors.map(formatConfigError).join('\n'));
  assert.deepEqual(r.notApplied, []);
  return r.options;
}

test('kernel.asm under VT-x with EPT: the same console output and a clean debug exit; no page-fault exits', () => {
  const r = runVtx({});
  assert.equal(r.console, EXPECTED_CONSOLE);
  assert.equal(r.stop.reason, 'shutdown', r.stop.message);
  assert.equal(r.stop.code, 1);
  assert.ok(r.userTicks >= 2);
  assert.equal(r.reasons.get('EXCEPTION_NMI'), undefined);
  // Every byte on COM1 is one OUT that exits (and one IN of the line status before it).
  assert.ok((r.reasons.get('IO_INSTRUCTION') ?? 0) >= 2 * EXPECTED_CONSOLE.length);
  assert.ok((r.reasons.get('HLT') ?? 0) >= 3, 'the HLT loops exit');
});

test('kernel.asm under VT-x with shadow paging (shadow.vm.json): the same console output and exit; page faults exit', () => {
  const r = runVtx(shadowOptions());
  assert.equal(r.console, EXPECTED_CONSOLE);
  assert.equal(r.stop.reason, 'shutdown', r.stop.message);
  assert.equal(r.stop.code, 1);
  assert.ok(r.userTicks >= 2);
  assert.ok((r.reasons.get('EXCEPTION_NMI') ?? 0) > 0, 'the shadow tables are filled through #PF exits');
  assert.ok((r.reasons.get('CR_ACCESS') ?? 0) > 0, 'the CR3 load exits');
});
