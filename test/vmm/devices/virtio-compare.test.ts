// The exit-count comparison of examples/virtio-vs-uart: the same text through
// the emulated 16550 and through the virtio console, both under the VMM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildExample, runExample, type GuestRun } from '../../../examples/virtio-vs-uart/compare';

const DIR = join(import.meta.dirname, '../../../examples/virtio-vs-uart');
const read = (p: string): string | undefined => (existsSync(join(DIR, p)) ? readFileSync(join(DIR, p), 'utf8') : undefined);
const uartImage = buildExample('uart.asm', read);
const virtioImage = buildExample('virtio.asm', read);
const uart = runExample('uart.asm', uartImage);
const virtio = runExample('virtio.asm', virtioImage);
const ports = (r: GuestRun): Record<string, number> => Object.fromEntries(r.ioPorts.map((p) => [p.key, p.count]));

test('virtio vs UART: both guests shut down cleanly and print the same text', () => {
  assert.equal(uart.stop.reason, 'shutdown');
  assert.equal(uart.stop.code, 0);
  assert.equal(virtio.stop.reason, 'shutdown');
  assert.equal(virtio.stop.code, 0, 'virtio.asm exits 1 or 2 when the device misbehaves');
  assert.ok(uart.text.length >= 200);
  assert.ok(uart.text.startsWith('Hello from the guest.') && uart.text.endsWith('not the exits.\n'));
  assert.equal(virtio.text, uart.text);
});

test('virtio vs UART: the UART costs two I/O exits per byte plus four for setup', () => {
  const n = uart.text.length;
  assert.equal(n, 364);
  assert.equal(uart.ioExits, 2 * n + 4);
  assert.equal(uart.totalExits, 2 * n + 5, 'plus the shutdown VMCALL');
  assert.deepEqual(uart.byReason, { IO_INSTRUCTION: 2 * n + 4, VMCALL: 1 });
  // THR writes and the divisor-latch low byte share 0x3F8; LSR is read once per byte (THRE is always set).
  assert.deepEqual(ports(uart), { '0x3F8 out': n + 1, '0x3FD in': n, '0x3FB out': 2, '0x3F9 out': 1 });
  assert.equal(uart.virtio.notifications, 0);
});

test('virtio vs UART: the virtio console needs 12 I/O exits for the whole text', () => {
  assert.equal(virtio.ioExits, 12);
  assert.deepEqual(virtio.byReason, { IO_INSTRUCTION: 12, VMCALL: 1 });
  assert.deepEqual(ports(virtio), {
    '0xC012 out': 4, // status: reset, ACKNOWLEDGE, DRIVER, DRIVER_OK
    '0xC012 in': 1, // status check at the end
    '0xC000 in': 1, '0xC004 out': 1, // features
    '0xC00E out': 1, '0xC00C in': 1, '0xC008 out': 1, // transmitq select, size, address
    '0xC010 out': 2, // one notify per batch
  });
  assert.deepEqual(virtio.virtio, {
    notifications: 2, txBuffers: 4, txBytes: uart.text.length, rxBuffers: 0, rxBytes: 0,
    interrupts: 0, suppressedInterrupts: 2, emergencyBytes: 0,
  });
  assert.ok(uart.ioExits > 60 * virtio.ioExits);
  assert.ok(virtio.instructions < uart.instructions);
});

test('virtio vs UART: runs are deterministic', () => {
  assert.deepEqual(runExample('uart.asm', uartImage), uart);
  assert.deepEqual(runExample('virtio.asm', virtioImage), virtio);
});

test('virtio guest: without a device at 0xC000 it gives up with exit code 2 instead of hanging', () => {
  const r = runExample('virtio.asm', virtioImage, 2_000_000, { port: 0xd000 });
  assert.equal(r.stop.reason, 'shutdown');
  assert.equal(r.stop.code, 2);
  assert.equal(r.text, '');
});

test('the virtio guest under the VM configuration of the example (devices.virtioConsole): same text in the VM output, 12 I/O exits', async () => {
  const { parseVmConfig, toVmOptions } = await import('../../../src/vmm/config/index');
  const { createVm } = await import('../../../src/vmm/vtx/index');
  const parsed = parseVmConfig(JSON.parse(read('virtio.vm.json') ?? '{}'));
  assert.ok('config' in parsed);
  const o = toVmOptions(parsed.config);
  assert.ok(o.ok);
  const vm = createVm({ ...o.options, image: virtioImage });
  const sources = new Set<string>();
  vm.events.on('output', (e) => sources.add(e.source));
  const stop = vm.run(1_000_000);
  assert.equal(stop.reason, 'shutdown');
  assert.equal(stop.code, 0);
  assert.equal(String.fromCharCode(...vm.output), uart.text);
  assert.deepEqual([...sources], ['virtio']);
  assert.equal(vm.stats.report().reasons.find((r) => r.name === 'IO_INSTRUCTION')?.count, 12);
});
