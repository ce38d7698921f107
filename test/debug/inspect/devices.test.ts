import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceNodes, statsNodes } from '../../../src/debug/inspect/index';
import { at, child, kids, runTo, HEXFMT } from './helpers';

// A minimal virtio console driver: status ACKNOWLEDGE|DRIVER, transmitq (1) at
// page frame 0x10 (64 entries: descriptors 0x10000, available ring 0x10400,
// used ring 0x11000), DRIVER_OK, one 5-byte buffer "hello", notify; then the
// UART's LCR with DLAB set and a write to the debug-exit port.
const VIRTIO = `
  mov dx, 0xC012
  mov al, 1
  out dx, al
  mov al, 3
  out dx, al
  mov dx, 0xC00E
  mov ax, 1
  out dx, ax
  mov dx, 0xC008
  mov eax, 0x10
  out dx, eax
  mov dx, 0xC012
  mov al, 7
  out dx, al
  mov dword [0x20000], 0x6c6c6568
  mov byte [0x20004], 0x6f
  mov dword [0x10000], 0x20000
  mov dword [0x10004], 0
  mov dword [0x10008], 5
  mov word [0x1000C], 0
  mov word [0x1000E], 0
  mov word [0x10400], 1
  mov word [0x10404], 0
  mov word [0x10402], 1
  mov dx, 0xC010
  mov ax, 1
  out dx, ax
  mov dx, 0x3FB
  mov al, 0x83
  out dx, al
  mov dx, 0x501
  mov al, 5
  out dx, al
  hlt
`;

function run(): ReturnType<typeof runTo> {
  const r = runTo(VIRTIO, 10000, { platform: { virtioConsole: {} } });
  assert.equal(r.stop.reason, 'shutdown', r.stop.message);
  return r;
}

test('virtio queue nodes: descriptors, available and used rings', () => {
  const { vm } = run();
  assert.equal(String.fromCharCode(...vm.output), 'hello');
  const dev = deviceNodes(vm, HEXFMT);
  const virtio = child(dev, 'virtio console');
  assert.match(virtio.name, /port 0xC000, IRQ 5/);
  const parts = kids(virtio);
  assert.equal(child(kids(child(parts, 'device status')), 'DRIVER_OK').value, '1');
  assert.equal(child(parts, 'queue 0 (receiveq)').value, 'not set up (address 0)');
  const q = child(parts, 'queue 1 (transmitq)');
  assert.match(q.value, /size 64, avail.idx 1, used.idx 1/);
  const qk = kids(q);
  const descs = child(qk, 'descriptors');
  assert.equal(descs.indexedCount, 64);
  const d0 = descs.childrenRange?.(0, 2) ?? [];
  assert.equal(d0.length, 2);
  assert.equal(d0[0].value, 'addr 0x0000000000020000 len 5');
  assert.equal(d0[0].memoryReference, 'gpa:0x20000');
  const avail = kids(child(qk, 'available ring'));
  assert.equal(child(avail, 'idx').value, '1');
  assert.equal(child(avail, 'flags').value, '0x0001 (NO_INTERRUPT)');
  assert.equal(child(avail, 'ring').childrenRange?.(0, 1)[0].value, 'desc 0');
  const used = kids(child(qk, 'used ring'));
  assert.equal(child(used, 'idx').value, '1');
  assert.equal(child(used, 'ring').childrenRange?.(0, 1)[0].value, 'id 0 len 0');
  const counters = kids(child(parts, 'counters'));
  assert.equal(child(counters, 'txBytes').value, '5');
});

test('UART registers decode, debug exit shows the value written', () => {
  const { vm } = run();
  const dev = deviceNodes(vm, HEXFMT);
  const uart = kids(child(dev, 'UART'));
  const lcr = child(uart, 'LCR');
  assert.equal(lcr.value, '0x83');
  assert.equal(child(kids(lcr), 'DLAB').value, '1');
  assert.equal(child(kids(lcr), 'word length').value, '3 (8 bits)');
  assert.equal(child(kids(child(uart, 'LSR')), 'THRE').value, '1');
  assert.equal(child(dev, 'debug exit').value, 'wrote 0x05: exit status 0x0000000B');
  assert.equal(child(uart, 'RX FIFO').value, 'empty');
});

test('a VM without platform devices says so', () => {
  const { vm } = runTo('hlt\n', 100, { platform: false });
  assert.deepEqual(deviceNodes(vm, HEXFMT).map((n) => n.value), ['none (created with platform: false)']);
});

test('exit statistics rows with samples, shares and cycles; drill-downs; scheduler', () => {
  const { vm } = runTo('mov eax, 0\n cpuid\n mov eax, 1\n cpuid\n out 0xe9, al\n hlt\n');
  const nodes = statsNodes(vm, HEXFMT);
  const reasons = child(nodes, 'Exit reasons');
  assert.match(reasons.value, /^4 exits, \d+ cycles \(model kvm-default\)$/);
  const cpuid = child(kids(reasons), 'CPUID (10)');
  assert.match(cpuid.value, /^2 samples, 50.00%, time/);
  const row = kids(cpuid);
  assert.deepEqual(row.map((n) => n.name), ['samples', 'samples %', 'time %', 'cycles', 'min cycles', 'max cycles', 'avg cycles']);
  assert.equal(child(row, 'samples').value, '2');
  const report = vm.stats.report().reasons.find((r) => r.reason === 10);
  assert.equal(child(row, 'max cycles').value, String(report?.maxCycles));
  const leaves = kids(child(nodes, 'CPUID leaves')).map((n) => n.name);
  assert.equal(leaves.length, 2);
  assert.ok(kids(child(nodes, 'I/O ports')).some((n) => /E9/i.test(n.name)));
  assert.equal(child(nodes, 'Exceptions').value, 'none');
  const sched = kids(child(nodes, 'Scheduler'));
  assert.match(child(kids(child(sched, 'vCPUs')), 'vCPU 0').value, /instructions/);
  assert.ok(at(nodes, 'Memory counters', 'shadowFills'));
});
