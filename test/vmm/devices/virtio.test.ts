import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  VirtioConsole, ringLayout, VIRTIO_PCI, VIRTIO_STATUS, ISR_QUEUE, ISR_CONFIG, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
  VRING_DESC_F_INDIRECT, VRING_AVAIL_F_NO_INTERRUPT, VIRTIO_CONSOLE_F_SIZE, VIRTIO_CONSOLE_F_EMERG_WRITE, CONSOLE_CONFIG,
  CONSOLE_RECEIVEQ, CONSOLE_TRANSMITQ, type GuestMemoryAccess, type RingLayout, type VirtioConsoleState,
} from '../../../src/vmm/devices/virtio/index';
import { PcPlatform } from '../../../src/vmm/devices/platform';
import { IoBus } from '../../../src/x86/devices/iobus';

const BASE = 0xc000;
const P = VIRTIO_PCI;

class TestMemory implements GuestMemoryAccess {
  readonly bytes: Uint8Array;
  constructor(readonly size: number) { this.bytes = new Uint8Array(size); }
  read8(a: number): number { return this.bytes[a]; }
  write8(a: number, v: number): void { this.bytes[a] = v; }
  r16(a: number): number { return this.bytes[a] | (this.bytes[a + 1] << 8); }
  r32(a: number): number { return (this.r16(a) | (this.r16(a + 2) << 16)) >>> 0; }
  w16(a: number, v: number): void { this.bytes[a] = v & 0xff; this.bytes[a + 1] = (v >>> 8) & 0xff; }
  w32(a: number, v: number): void { this.w16(a, v & 0xffff); this.w16(a + 2, v >>> 16); }
  put(a: number, text: string): void { for (let i = 0; i < text.length; i++) this.bytes[a + i] = text.charCodeAt(i); }
  text(a: number, n: number): string { return String.fromCharCode(...this.bytes.subarray(a, a + n)); }
}

/** The guest driver's side of one queue: descriptors, available ring, reading the used ring. */
class Driver {
  readonly layout: RingLayout;
  availIdx = 0;
  constructor(readonly mem: TestMemory, readonly size: number, pfn: number) { this.layout = ringLayout(pfn, size); }
  desc(i: number, addr: number, len: number, flags = 0, next = 0, high = 0): void {
    const d = this.layout.desc + 16 * i;
    this.mem.w32(d, addr); this.mem.w32(d + 4, high); this.mem.w32(d + 8, len); this.mem.w16(d + 12, flags); this.mem.w16(d + 14, next);
  }
  offer(...heads: number[]): void {
    for (const h of heads) {
      this.mem.w16(this.layout.avail + 4 + 2 * (this.availIdx % this.size), h);
      this.availIdx = (this.availIdx + 1) & 0xffff;
    }
    this.mem.w16(this.layout.avail + 2, this.availIdx);
  }
  set availFlags(f: number) { this.mem.w16(this.layout.avail, f); }
  get usedIdx(): number { return this.mem.r16(this.layout.used + 2); }
  used(k: number): { id: number; len: number } {
    const e = this.layout.used + 4 + 8 * (k % this.size);
    return { id: this.mem.r32(e), len: this.mem.r32(e + 4) };
  }
}

interface Rig { dev: VirtioConsole; mem: TestMemory; out: string[]; irq: string[]; tx: Driver; rx: Driver }

const TX_PFN = 0x10;
const RX_PFN = 0x20;

/** A device with 8-entry queues in 256 KiB of memory; the driver has set both queues up and DRIVER_OK. */
function rig(options: { setup?: boolean; queueSize?: number; memSize?: number } = {}): Rig {
  const size = options.queueSize ?? 8;
  const mem = new TestMemory(options.memSize ?? 0x40000);
  const dev = new VirtioConsole({ memory: mem, queueSize: size });
  const out: string[] = [];
  const irq: string[] = [];
  dev.onOutput = (b) => out.push(String.fromCharCode(...b));
  dev.sink = { raiseIrq: (l) => irq.push(`+${l}`), lowerIrq: (l) => irq.push(`-${l}`) };
  if (options.setup ?? true) {
    dev.out(BASE + P.STATUS, 1, 0);
    dev.out(BASE + P.STATUS, 1, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER);
    dev.out(BASE + P.QUEUE_SELECT, 2, CONSOLE_RECEIVEQ);
    dev.out(BASE + P.QUEUE_PFN, 4, RX_PFN);
    dev.out(BASE + P.QUEUE_SELECT, 2, CONSOLE_TRANSMITQ);
    dev.out(BASE + P.QUEUE_PFN, 4, TX_PFN);
    dev.out(BASE + P.STATUS, 1, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK);
  }
  return { dev, mem, out, irq, tx: new Driver(mem, size, TX_PFN), rx: new Driver(mem, size, RX_PFN) };
}

const notify = (dev: VirtioConsole, q: number): void => dev.out(BASE + P.QUEUE_NOTIFY, 2, q);
const isr = (dev: VirtioConsole): number => dev.in(BASE + P.ISR, 1);
const needsReset = (dev: VirtioConsole): boolean => (dev.status & VIRTIO_STATUS.NEEDS_RESET) !== 0;

test('virtio layout: legacy split ring parts for queue sizes 8, 64 and 256', () => {
  assert.deepEqual(ringLayout(0x10, 8), { desc: 0x10000, avail: 0x10080, used: 0x11000, end: 0x11046 });
  assert.deepEqual(ringLayout(0x10, 64), { desc: 0x10000, avail: 0x10400, used: 0x11000, end: 0x11206 });
  // 256 entries: 4096 bytes of descriptors plus 518 of available ring push the used ring to the third page.
  assert.deepEqual(ringLayout(1, 256), { desc: 0x1000, avail: 0x2000, used: 0x3000, end: 0x3806 });
});

test('virtio registers: features, queue sizes, select, configuration, any access width', () => {
  const { dev } = rig({ setup: false });
  assert.equal(dev.in(BASE + P.DEVICE_FEATURES, 4), VIRTIO_CONSOLE_F_SIZE | VIRTIO_CONSOLE_F_EMERG_WRITE);
  dev.out(BASE + P.QUEUE_SELECT, 2, 1);
  assert.equal(dev.in(BASE + P.QUEUE_SIZE, 2), 8);
  assert.equal(dev.in(BASE + P.QUEUE_SELECT, 2), 1);
  // One 32-bit read at 0x0C covers QUEUE_SIZE and QUEUE_SELECT.
  assert.equal(dev.in(BASE + P.QUEUE_SIZE, 4), 8 | (1 << 16));
  dev.out(BASE + P.QUEUE_SELECT, 2, 2);
  assert.equal(dev.in(BASE + P.QUEUE_SIZE, 2), 0, 'queue 2 does not exist');
  assert.equal(dev.in(BASE + P.QUEUE_PFN, 4), 0);
  const C = P.CONFIG;
  assert.equal(dev.in(BASE + C + CONSOLE_CONFIG.COLS, 2), 80);
  assert.equal(dev.in(BASE + C + CONSOLE_CONFIG.ROWS, 2), 25);
  assert.equal(dev.in(BASE + C + CONSOLE_CONFIG.COLS, 4), 80 | (25 << 16));
  assert.equal(dev.in(BASE + C + CONSOLE_CONFIG.MAX_NR_PORTS, 4), 1);
  // Byte-wise writes of the queue address merge into the 32-bit register.
  dev.out(BASE + P.QUEUE_SELECT, 2, 0);
  dev.out(BASE + P.QUEUE_PFN, 1, 0x34);
  dev.out(BASE + P.QUEUE_PFN + 1, 1, 0x01);
  assert.equal(dev.in(BASE + P.QUEUE_PFN, 4), 0x134);
  assert.equal(dev.in(BASE + P.QUEUE_PFN + 1, 1), 0x01);
});

test('virtio status: handshake bits read back, status 0 resets queues, features and ISR', () => {
  const { dev, irq } = rig();
  assert.equal(dev.in(BASE + P.STATUS, 1), 7);
  dev.out(BASE + P.GUEST_FEATURES, 4, VIRTIO_CONSOLE_F_SIZE | 0x100);
  assert.equal(dev.in(BASE + P.GUEST_FEATURES, 4), VIRTIO_CONSOLE_F_SIZE, 'bits the device does not offer are dropped');
  assert.match(dev.messages.at(-1) ?? '', /does not offer \(0x100\)/);
  notify(dev, 5);
  assert.ok(needsReset(dev));
  assert.deepEqual(irq, ['+5']);
  dev.out(BASE + P.STATUS, 1, 0);
  assert.equal(dev.in(BASE + P.STATUS, 1), 0);
  assert.equal(dev.in(BASE + P.GUEST_FEATURES, 4), 0);
  assert.equal(isr(dev), 0);
  assert.deepEqual(irq, ['+5', '-5'], 'reset lowers the line');
  assert.equal(dev.queueInfo(CONSOLE_TRANSMITQ)?.pfn, 0);
  assert.equal(dev.queueInfo(CONSOLE_TRANSMITQ)?.layout, null);
  assert.equal(dev.stats.notifications, 1, 'counters survive a reset');
});

test('virtio transmit: buffers in order, used elements with len 0, one interrupt, ISR read clears and lowers', () => {
  const { dev, mem, out, irq, tx } = rig();
  mem.put(0x20000, 'Hello, ');
  mem.put(0x20100, 'virtio');
  mem.put(0x20200, '!\n');
  tx.desc(0, 0x20000, 7);
  tx.desc(5, 0x20100, 6);
  tx.desc(2, 0x20200, 2);
  tx.offer(0, 5, 2);
  notify(dev, CONSOLE_TRANSMITQ);
  assert.deepEqual(out, ['Hello, ', 'virtio', '!\n']);
  assert.equal(tx.usedIdx, 3);
  assert.deepEqual([tx.used(0), tx.used(1), tx.used(2)], [{ id: 0, len: 0 }, { id: 5, len: 0 }, { id: 2, len: 0 }]);
  assert.deepEqual(irq, ['+5']);
  assert.deepEqual(dev.stats, { notifications: 1, txBuffers: 3, txBytes: 15, rxBuffers: 0, rxBytes: 0, interrupts: 1, suppressedInterrupts: 0, emergencyBytes: 0 });
  // A second batch before the guest acknowledged: ISR stays set, the line is already high.
  tx.offer(0);
  notify(dev, CONSOLE_TRANSMITQ);
  assert.deepEqual(irq, ['+5']);
  assert.equal(dev.stats.interrupts, 2);
  assert.equal(isr(dev), ISR_QUEUE);
  assert.deepEqual(irq, ['+5', '-5']);
  assert.equal(isr(dev), 0, 'ISR read clears');
  // A notify with nothing new does nothing.
  notify(dev, CONSOLE_TRANSMITQ);
  assert.equal(tx.usedIdx, 4);
  assert.equal(dev.stats.notifications, 3);
  assert.equal(dev.stats.interrupts, 2);
  assert.deepEqual(dev.messages, []);
});

test('virtio transmit: a chain is one buffer, walked through next in any order', () => {
  const { dev, mem, out, tx } = rig();
  mem.put(0x21000, 'abc');
  mem.put(0x22000, 'defg');
  mem.put(0x23000, 'hi');
  tx.desc(6, 0x21000, 3, VRING_DESC_F_NEXT, 1);
  tx.desc(1, 0x22000, 4, VRING_DESC_F_NEXT, 4);
  tx.desc(4, 0x23000, 2);
  tx.desc(7, 0x23000, 0); // an empty buffer is legal
  tx.offer(6, 7);
  notify(dev, CONSOLE_TRANSMITQ);
  assert.deepEqual(out, ['abcdefghi'], 'the empty buffer produces no output call');
  assert.equal(tx.usedIdx, 2);
  assert.deepEqual(tx.used(0), { id: 6, len: 0 });
  assert.deepEqual(tx.used(1), { id: 7, len: 0 });
  assert.equal(dev.stats.txBuffers, 2);
  assert.equal(dev.stats.txBytes, 9);
});

test('virtio transmit: VRING_AVAIL_F_NO_INTERRUPT suppresses the interrupt, not the work', () => {
  const { dev, mem, out, irq, tx } = rig();
  mem.put(0x20000, 'quiet');
  tx.desc(0, 0x20000, 5);
  tx.availFlags = VRING_AVAIL_F_NO_INTERRUPT;
  tx.offer(0);
  notify(dev, CONSOLE_TRANSMITQ);
  assert.deepEqual(out, ['quiet']);
  assert.equal(tx.usedIdx, 1);
  assert.deepEqual(irq, []);
  assert.equal(isr(dev), 0);
  assert.equal(dev.stats.interrupts, 0);
  assert.equal(dev.stats.suppressedInterrupts, 1);
  tx.availFlags = 0;
  tx.offer(0);
  notify(dev, CONSOLE_TRANSMITQ);
  assert.deepEqual(irq, ['+5']);
});

test('virtio rings: the 16-bit indices wrap at 65536 (restored near the edge)', () => {
  const { dev, mem, out, tx } = rig();
  const snap = dev.snapshot();
  snap.queues[CONSOLE_TRANSMITQ] = { ...snap.queues[CONSOLE_TRANSMITQ], lastAvail: 0xfffe, usedIdx: 0xfffe };
  dev.restore(snap);
  tx.availIdx = 0xfffe;
  mem.w16(tx.layout.used + 2, 0xfffe);
  for (let i = 0; i < 4; i++) { mem.put(0x20000 + i, String(i)); tx.desc(i, 0x20000 + i, 1); }
  tx.offer(0, 1, 2, 3); // slots 0xFFFE, 0xFFFF, 0x0000, 0x0001
  assert.equal(mem.r16(tx.layout.avail + 2), 2);
  notify(dev, CONSOLE_TRANSMITQ);
  assert.deepEqual(out, ['0', '1', '2', '3']);
  assert.equal(tx.usedIdx, 2);
  // Slot 0xFFFE is ring entry 6 of 8, 0xFFFF entry 7, then entries 0 and 1.
  assert.deepEqual([tx.used(6).id, tx.used(7).id, tx.used(0).id, tx.used(1).id], [0, 1, 2, 3]);
  assert.equal(dev.queueInfo(CONSOLE_TRANSMITQ)?.lastAvail, 2);
  assert.deepEqual(dev.messages, []);
});

test('virtio rings: 70,000 buffers in batches of 3 cross the wrap like any other index', () => {
  const { dev, mem, tx } = rig();
  tx.availFlags = VRING_AVAIL_F_NO_INTERRUPT;
  mem.put(0x20000, 'x');
  for (let i = 0; i < 8; i++) tx.desc(i, 0x20000, 1);
  let total = 0;
  let seen = 0;
  dev.onOutput = (b) => { seen += b.length; };
  while (total < 70_000) {
    tx.offer(total % 8, (total + 1) % 8, (total + 2) % 8);
    notify(dev, CONSOLE_TRANSMITQ);
    total += 3;
    assert.equal(tx.usedIdx, total & 0xffff);
  }
  assert.equal(seen, total);
  assert.equal(dev.stats.txBuffers, total);
  assert.deepEqual(dev.messages, []);
  assert.ok(!needsReset(dev));
});

test('virtio transmit: a 1 MiB buffer goes out in one piece', () => {
  const { dev, mem, tx } = rig({ memSize: 0x200000 });
  mem.bytes.fill(0x55, 0x100000, 0x200000);
  tx.desc(0, 0x100000, 0x100000);
  tx.offer(0);
  const sizes: number[] = [];
  dev.onOutput = (b) => { sizes.push(b.length); assert.equal(b[0x12345], 0x55); };
  notify(dev, CONSOLE_TRANSMITQ);
  assert.deepEqual(sizes, [0x100000]);
  assert.equal(dev.stats.txBytes, 0x100000);
});

/** Makes the driver break the transmitq one way; checks the device faults cleanly. */
function faultCase(name: string, breakIt: (r: Rig) => void, expect: RegExp): void {
  test(`virtio bad input: ${name}`, () => {
    const r = rig();
    const { dev, mem, tx, irq } = r;
    mem.put(0x20000, 'ok');
    breakIt(r);
    assert.doesNotThrow(() => notify(dev, CONSOLE_TRANSMITQ));
    assert.ok(needsReset(dev), 'NEEDS_RESET is set');
    assert.match(dev.messages.at(-1) ?? '', expect);
    assert.equal(tx.usedIdx, 0, 'nothing is returned');
    assert.deepEqual(irq, ['+5'], 'a configuration interrupt');
    assert.equal(isr(dev), ISR_CONFIG);
    // Ignored until reset, then usable again.
    const before = dev.messages.length;
    notify(dev, CONSOLE_TRANSMITQ);
    assert.equal(dev.messages.length, before);
    dev.out(BASE + P.STATUS, 1, 0);
    assert.ok(!needsReset(dev));
    dev.memory = mem; // (one case swaps it)
    dev.out(BASE + P.QUEUE_SELECT, 2, CONSOLE_TRANSMITQ);
    dev.out(BASE + P.QUEUE_PFN, 4, 0x30);
    const fresh = new Driver(mem, 8, 0x30);
    fresh.desc(0, 0x20000, 2);
    fresh.offer(0);
    r.out.length = 0;
    notify(dev, CONSOLE_TRANSMITQ);
    assert.deepEqual(r.out, ['ok']);
    assert.equal(fresh.usedIdx, 1);
  });
}

faultCase('available ring names a descriptor past the table', ({ tx }) => tx.offer(8), /descriptor 8, out of range \(queue size 8\)/);
faultCase('a chain that loops', ({ tx }) => {
  tx.desc(0, 0x20000, 2, VRING_DESC_F_NEXT, 1);
  tx.desc(1, 0x20000, 2, VRING_DESC_F_NEXT, 0);
  tx.offer(0);
}, /chain from 0 loops/);
faultCase('a descriptor whose next is out of range', ({ tx }) => {
  tx.desc(3, 0x20000, 2, VRING_DESC_F_NEXT, 0x1234);
  tx.offer(3);
}, /descriptor 3 continues at 4660, out of range/);
faultCase('a buffer that ends past guest memory', ({ tx }) => {
  tx.desc(0, 0x3fff0, 0x20);
  tx.offer(0);
}, /descriptor 0 buffer 0x3FFF0 length 32 lies outside guest memory \(0x40000 bytes\)/);
faultCase('a buffer above 4 GiB', ({ tx }) => {
  tx.desc(0, 0x20000, 2, 0, 0, 1);
  tx.offer(0);
}, /buffer 0x100020000 length 2 lies outside guest memory/);
faultCase('a device-writable buffer on the transmitq', ({ tx }) => {
  tx.desc(0, 0x20000, 2, VRING_DESC_F_WRITE);
  tx.offer(0);
}, /transmitq.*device-writable buffer/);
faultCase('an indirect descriptor (not offered)', ({ tx }) => {
  tx.desc(0, 0x20000, 16, VRING_DESC_F_INDIRECT);
  tx.offer(0);
}, /VRING_DESC_F_INDIRECT/);
faultCase('available idx more than a queue ahead', ({ mem, tx }) => {
  mem.w16(tx.layout.avail + 2, 9);
}, /available idx 9 is 9 entries ahead of the device's 0, more than the queue size 8/);
faultCase('transmitq notified before its address was set', ({ dev }) => {
  dev.out(BASE + P.QUEUE_SELECT, 2, CONSOLE_TRANSMITQ);
  dev.out(BASE + P.QUEUE_PFN, 4, 0);
}, /queue 1 \(transmitq\) was notified before its address was set/);
faultCase('memory shrank under the ring (a device restored against smaller memory)', ({ dev }) => {
  dev.memory = { size: 0x8000, read8: () => 0, write8: () => undefined };
}, /queue 1 \(transmitq\): queue at PFN 0x10 \(0x10000-0x11045\) lies outside guest memory \(0x8000 bytes\)/);

test('virtio bad input: queue address outside memory, unknown queue, no memory connected', () => {
  const { dev } = rig({ setup: false, memSize: 0x10000 });
  dev.out(BASE + P.QUEUE_SELECT, 2, CONSOLE_TRANSMITQ);
  dev.out(BASE + P.QUEUE_PFN, 4, 0x10);
  assert.ok(needsReset(dev));
  assert.match(dev.messages[0], /lies outside guest memory \(0x10000 bytes\)/);

  const other = rig();
  notify(other.dev, 7);
  assert.match(other.dev.messages[0], /notify names queue 7/);
  assert.ok(needsReset(other.dev));

  const bare = new VirtioConsole();
  assert.doesNotThrow(() => {
    bare.out(BASE + P.QUEUE_SELECT, 2, 1);
    bare.out(BASE + P.QUEUE_PFN, 4, 0x10);
    bare.out(BASE + P.QUEUE_NOTIFY, 2, 1);
  });
  assert.match(bare.messages[0], /outside guest memory \(0x0 bytes\)/);
  // Writing the address of a queue that does not exist is only noted.
  const third = rig();
  third.dev.out(BASE + P.QUEUE_SELECT, 2, 3);
  third.dev.out(BASE + P.QUEUE_PFN, 4, 0x40);
  assert.match(third.dev.messages[0], /queue 3, which does not exist/);
  assert.ok(!needsReset(third.dev));
});

test('virtio receive: input waits for buffers, fills chains, reports the bytes written in len', () => {
  const { dev, mem, irq, rx } = rig();
  dev.feed([...'hello world'].map((c) => c.charCodeAt(0)));
  assert.equal(rx.usedIdx, 0, 'no buffers yet');
  rx.desc(0, 0x30000, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
  rx.desc(1, 0x30100, 3, VRING_DESC_F_WRITE);
  rx.desc(2, 0x30200, 16, VRING_DESC_F_WRITE);
  rx.offer(0);
  notify(dev, CONSOLE_RECEIVEQ);
  assert.equal(rx.usedIdx, 1);
  assert.deepEqual(rx.used(0), { id: 0, len: 7 });
  assert.equal(mem.text(0x30000, 4) + mem.text(0x30100, 3), 'hello w');
  assert.deepEqual(irq, ['+5']);
  assert.equal(isr(dev), ISR_QUEUE);
  assert.deepEqual(dev.state.input, [...'orld'].map((c) => c.charCodeAt(0)));
  // A buffer that is already available takes new input at once, without a notify.
  rx.offer(2);
  assert.equal(rx.usedIdx, 1, 'offering alone does not move data: the device looks on notify or feed');
  notify(dev, CONSOLE_RECEIVEQ);
  assert.deepEqual(rx.used(1), { id: 2, len: 4 });
  assert.equal(mem.text(0x30200, 4), 'orld');
  rx.offer(2);
  dev.feed([0x21]);
  assert.deepEqual(rx.used(2), { id: 2, len: 1 });
  assert.equal(dev.stats.rxBuffers, 3);
  assert.equal(dev.stats.rxBytes, 12);
  assert.deepEqual(dev.messages, []);
});

test('virtio receive: a device-readable buffer on the receiveq is a fault', () => {
  const { dev, rx } = rig();
  rx.desc(0, 0x30000, 4);
  rx.offer(0);
  dev.feed([1, 2]);
  assert.ok(needsReset(dev));
  assert.match(dev.messages[0], /receiveq.*device-readable buffer/);
  assert.equal(rx.usedIdx, 0);
});

test('virtio emergency write: one byte to the console per write of emerg_wr', () => {
  const { dev, out } = rig();
  dev.out(BASE + P.CONFIG + CONSOLE_CONFIG.EMERG_WR, 4, 0x41);
  dev.out(BASE + P.CONFIG + CONSOLE_CONFIG.EMERG_WR, 1, 0x0a);
  assert.deepEqual(out, ['A', '\n']);
  assert.equal(dev.stats.emergencyBytes, 2);
});

test('virtio snapshot: plain JSON, and a restored device continues exactly like the original', () => {
  const a = rig();
  a.mem.put(0x20000, 'first second third');
  a.tx.desc(0, 0x20000, 6);
  a.tx.desc(1, 0x20006, 7);
  a.tx.desc(2, 0x2000d, 5);
  a.tx.offer(0);
  notify(a.dev, CONSOLE_TRANSMITQ);
  a.dev.feed([1, 2, 3]);
  a.dev.out(BASE + P.QUEUE_SELECT, 2, 0);
  const snap = a.dev.snapshot();
  const json = JSON.parse(JSON.stringify(snap)) as VirtioConsoleState;
  assert.deepEqual(json, snap);

  const b = rig({ setup: false });
  b.mem.bytes.set(a.mem.bytes);
  b.dev.restore(json);
  assert.deepEqual(b.dev.snapshot(), snap);
  snap.queues[1].lastAvail = 99; // the snapshot is a copy, not a view
  assert.equal(a.dev.queueInfo(1)?.lastAvail, 1);

  for (const r of [a, b]) {
    r.tx.availIdx = 1;
    r.tx.offer(1, 2);
    notify(r.dev, CONSOLE_TRANSMITQ);
    r.rx.desc(0, 0x30000, 8, VRING_DESC_F_WRITE);
    r.rx.offer(0);
    notify(r.dev, CONSOLE_RECEIVEQ);
  }
  assert.deepEqual(b.out, a.out.slice(1));
  assert.deepEqual(b.dev.snapshot(), a.dev.snapshot());
  assert.deepEqual(b.mem.bytes, a.mem.bytes);
  assert.equal(isr(b.dev), isr(a.dev));
});

test('platform: no virtio console unless asked; with it, ports, IRQ 5 at the PIC, snapshot', () => {
  const plain = new PcPlatform();
  const bus = new IoBus();
  plain.attach(bus);
  assert.equal(plain.virtio, null);
  assert.equal(bus.deviceAt(BASE), undefined);
  assert.equal('virtio' in plain.snapshot(), false, 'snapshots without the option are unchanged');

  const mem = new TestMemory(0x40000);
  const out: number[] = [];
  const p = new PcPlatform({ virtioConsole: { memory: mem, onOutput: (b) => out.push(...b) } });
  const vbus = new IoBus();
  p.attach(vbus);
  assert.equal(vbus.deviceAt(BASE), p.virtio);
  assert.equal(vbus.deviceAt(BASE + 0x1f), p.virtio);
  assert.equal(vbus.deviceAt(BASE + 0x20), undefined);
  assert.equal(vbus.in(BASE + P.QUEUE_SIZE, 2), 64);
  vbus.out(BASE + P.QUEUE_SELECT, 2, 1);
  vbus.out(BASE + P.QUEUE_PFN, 4, TX_PFN);
  const tx = new Driver(mem, 64, TX_PFN);
  mem.put(0x20000, 'hi');
  tx.desc(0, 0x20000, 2);
  tx.offer(0);
  vbus.out(BASE + P.QUEUE_NOTIFY, 2, 1);
  assert.deepEqual(out, [0x68, 0x69]);
  assert.equal(p.pic.registers().irr & (1 << 5), 1 << 5, 'IRQ 5 requested at the master PIC');

  const s = p.snapshot();
  assert.equal(s.virtio?.stats.txBytes, 2);
  const q = new PcPlatform({ virtioConsole: {} });
  q.restore(JSON.parse(JSON.stringify(s)) as typeof s);
  assert.deepEqual(q.snapshot(), s);

  const moved = new PcPlatform({ virtioConsole: { port: 0xd000, irq: 11 } });
  const mbus = new IoBus();
  moved.attach(mbus);
  assert.equal(mbus.deviceAt(0xd000), moved.virtio);
  assert.equal(mbus.deviceAt(BASE), undefined);
  assert.equal(moved.virtio?.irq, 11);
});
