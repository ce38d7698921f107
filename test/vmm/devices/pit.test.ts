import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../../src/x86/devices/iobus';
import { Pit8254 } from '../../../src/vmm/devices/pit';
import { SystemControlPortB, REFRESH_PERIOD_TICKS } from '../../../src/vmm/devices/portb';
import type { InterruptSink } from '../../../src/vmm/devices/irq';

/** Counts low-to-high transitions of IRQ 0 as an edge-triggered PIC input sees them. */
class EdgeCounter implements InterruptSink {
  /** OUT0 is high before the PIT is programmed. */
  level = true;
  edges = 0;
  raiseIrq(line: number): void {
    assert.equal(line, 0);
    if (!this.level) this.edges++;
    this.level = true;
  }
  lowerIrq(): void { this.level = false; }
}

function setup(): { bus: IoBus; pit: Pit8254; irq: EdgeCounter } {
  const bus = new IoBus();
  const pit = new Pit8254();
  const irq = new EdgeCounter();
  pit.sink = irq;
  pit.attach(bus);
  return { bus, pit, irq };
}

const read16 = (bus: IoBus, port: number): number => bus.in(port, 1) | (bus.in(port, 1) << 8);

test('PIT: mode 2 rate generator gives one IRQ 0 edge per period', () => {
  const { bus, pit, irq } = setup();
  bus.out(0x43, 1, 0x34); // channel 0, LSB then MSB, mode 2, binary
  bus.out(0x40, 1, 1193 & 0xff); bus.out(0x40, 1, 1193 >> 8); // Linux's LATCH for 1000 Hz
  pit.advance(1192);
  assert.equal(irq.edges, 0);
  pit.advance(1);
  assert.equal(irq.edges, 1);
  for (let i = 0; i < 9; i++) pit.advance(1193);
  assert.equal(irq.edges, 10);
  assert.equal(pit.irq0Edges, 10);
  // Counts run N..1: 500 ticks into a period the counter holds 1193 - 500.
  pit.advance(500);
  bus.out(0x43, 1, 0x00); // latch channel 0
  pit.advance(7); // the latched value does not move
  assert.equal(read16(bus, 0x40), 693);
  assert.equal(read16(bus, 0x40), 686, 'unlatched read follows the clock');
});

test('PIT: mode 2 OUT is low for exactly the tick the counter holds 1', () => {
  const { bus, pit, irq } = setup();
  bus.out(0x43, 1, 0x34);
  bus.out(0x40, 1, 4); bus.out(0x40, 1, 0);
  pit.advance(3);
  assert.equal(irq.level, false);
  bus.out(0x43, 1, 0xe2); // read-back status of channel 0
  assert.equal(bus.in(0x40, 1), 0x34, 'OUT low, count loaded, control 0x34');
  pit.advance(1);
  assert.equal(irq.level, true);
  bus.out(0x43, 1, 0xe2);
  assert.equal(bus.in(0x40, 1), 0xb4);
});

test('PIT: mode 0 interrupt on terminal count fires once and the counter wraps', () => {
  const { bus, pit, irq } = setup();
  bus.out(0x43, 1, 0x30); // channel 0, LSB/MSB, mode 0
  bus.out(0x43, 1, 0xe2);
  assert.equal(bus.in(0x40, 1), 0x70, 'OUT low and null count after the control word');
  bus.out(0x40, 1, 100); bus.out(0x40, 1, 0);
  pit.advance(99);
  assert.equal(irq.edges, 0);
  pit.advance(1);
  assert.equal(irq.edges, 1);
  pit.advance(100000);
  assert.equal(irq.edges, 1, 'one shot');
  assert.equal(irq.level, true, 'OUT stays high');
  const { bus: b2, pit: p2 } = setup();
  b2.out(0x43, 1, 0x30);
  b2.out(0x40, 1, 100); b2.out(0x40, 1, 0);
  p2.advance(150);
  assert.equal(read16(b2, 0x40), 0xffce, 'counting continues through zero');
});

test('PIT: mode 0 is stopped by the first byte of a new count and restarted by the second', () => {
  const { bus, pit, irq } = setup();
  bus.out(0x43, 1, 0x30);
  bus.out(0x40, 1, 50); bus.out(0x40, 1, 0);
  pit.advance(20);
  bus.out(0x40, 1, 10);
  pit.advance(1000);
  assert.equal(irq.edges, 0);
  bus.out(0x40, 1, 0);
  pit.advance(9);
  assert.equal(irq.edges, 0);
  pit.advance(1);
  assert.equal(irq.edges, 1);
});

test('PIT: mode 3 square wave: high for the first half, edge per period, counts by two', () => {
  const { bus, pit, irq } = setup();
  bus.out(0x43, 1, 0x36);
  bus.out(0x40, 1, 10); bus.out(0x40, 1, 0);
  pit.advance(4);
  assert.equal(irq.level, true);
  assert.equal(read16(bus, 0x40), 2);
  pit.advance(1);
  assert.equal(irq.level, false);
  pit.advance(5);
  assert.equal(irq.edges, 1);
  for (let i = 0; i < 3; i++) pit.advance(10);
  assert.equal(irq.edges, 4);
  pit.advance(50);
  assert.equal(irq.edges, 5, 'edges inside one advance merge into one at the line');
  assert.equal(pit.irq0Edges, 9, 'but all of them are counted');
});

test('PIT: LSB-only and MSB-only access modes', () => {
  const { bus, pit } = setup();
  bus.out(0x43, 1, 0x54); // channel 1, LSB only, mode 2
  bus.out(0x41, 1, 200);
  pit.advance(50);
  assert.equal(bus.in(0x41, 1), 150);
  assert.equal(bus.in(0x41, 1), 150, 'every read is the low byte');
  bus.out(0x43, 1, 0xa4); // channel 2, MSB only, mode 2
  bus.out(0x42, 1, 0x02); // count 0x200
  pit.advance(0x100);
  assert.equal(bus.in(0x42, 1), 0x01);
});

test('PIT: read-back latches count and status; status is read first; a second latch is ignored', () => {
  const { bus, pit } = setup();
  bus.out(0x43, 1, 0x74); // channel 1, LSB/MSB, mode 2
  bus.out(0x41, 1, 0x00); bus.out(0x41, 1, 0x10); // 0x1000
  pit.advance(0x10);
  bus.out(0x43, 1, 0xc4); // read-back: count and status of channel 1
  pit.advance(0x100);
  bus.out(0x43, 1, 0x40); // counter latch while latched: ignored
  assert.equal(bus.in(0x41, 1), 0xb4, 'OUT high, count loaded, control 0x34');
  assert.equal(read16(bus, 0x41), 0x0ff0);
});

test('PIT: a new count in running mode 2 takes effect at the next reload', () => {
  const { bus, pit, irq } = setup();
  bus.out(0x43, 1, 0x34);
  bus.out(0x40, 1, 100); bus.out(0x40, 1, 0);
  pit.advance(30);
  bus.out(0x40, 1, 10); bus.out(0x40, 1, 0);
  assert.equal(read16(bus, 0x40), 70, 'old period still running');
  pit.advance(70);
  assert.equal(irq.edges, 1);
  pit.advance(10);
  assert.equal(irq.edges, 2);
  pit.advance(10);
  assert.equal(irq.edges, 3);
});

test('PIT: count 0 means 65536', () => {
  const { bus, pit, irq } = setup();
  bus.out(0x43, 1, 0x34);
  bus.out(0x40, 1, 0); bus.out(0x40, 1, 0);
  pit.advance(65535);
  assert.equal(irq.edges, 0);
  pit.advance(1);
  assert.equal(irq.edges, 1);
});

test('PIT: snapshot/restore continues identically', () => {
  const { bus, pit } = setup();
  bus.out(0x43, 1, 0x34);
  bus.out(0x40, 1, 0x39); bus.out(0x40, 1, 0x30);
  pit.advance(12345);
  bus.in(0x40, 1); // read flip-flop now expects the high byte
  const snap = JSON.parse(JSON.stringify(pit.snapshot())) as ReturnType<Pit8254['snapshot']>;
  const { bus: b2, pit: p2, irq: i2 } = setup();
  p2.restore(snap);
  assert.equal(b2.in(0x40, 1), bus.in(0x40, 1));
  for (let i = 0; i < 3; i++) p2.advance(0x3039);
  assert.equal(i2.edges, 3);
  assert.equal(p2.irq0Edges, 4);
});

test('PIT: GATE low pauses mode 0 and the count resumes where it stopped', () => {
  const { bus, pit } = setup();
  bus.out(0x43, 1, 0xb0); // channel 2, LSB/MSB, mode 0
  bus.out(0x42, 1, 100); bus.out(0x42, 1, 0);
  pit.advance(30);
  pit.setGate(2, false);
  pit.advance(500);
  assert.equal(read16(bus, 0x42), 70);
  pit.setGate(2, true);
  pit.advance(69);
  assert.equal(pit.outLevel(2), false);
  pit.advance(1);
  assert.equal(pit.outLevel(2), true);
});

test('PIT: GATE low forces mode 2 OUT high and stops it; the rising edge reloads', () => {
  const { bus, pit, irq } = setup();
  bus.out(0x43, 1, 0x34);
  bus.out(0x40, 1, 10); bus.out(0x40, 1, 0);
  pit.advance(9);
  assert.equal(irq.level, false, 'count of 1');
  pit.setGate(0, false);
  assert.equal(irq.level, true, 'gate low forces OUT high');
  pit.advance(100);
  assert.equal(pit.irq0Edges, 0);
  assert.equal(read16(bus, 0x40), 1, 'suspended');
  pit.setGate(0, true);
  assert.equal(read16(bus, 0x40), 10, 'reloaded by the rising edge');
  pit.advance(10);
  assert.equal(pit.irq0Edges, 1);
});

test('PIT: mode 1 waits for a GATE trigger, OUT low for N ticks; retriggerable', () => {
  const { bus, pit } = setup();
  bus.out(0x43, 1, 0x72); // channel 1, LSB/MSB, mode 1
  bus.out(0x41, 1, 20); bus.out(0x41, 1, 0);
  pit.advance(50);
  assert.equal(pit.outLevel(1), true);
  assert.equal(read16(bus, 0x41), 20, 'not counting before the trigger');
  bus.out(0x43, 1, 0xe4);
  assert.equal(bus.in(0x41, 1), 0xf2, 'OUT high, null count until the trigger');
  pit.setGate(1, false);
  pit.setGate(1, true);
  assert.equal(pit.outLevel(1), false);
  pit.advance(15);
  pit.setGate(1, false);
  pit.setGate(1, true); // retrigger: 20 more ticks from here
  pit.advance(19);
  assert.equal(pit.outLevel(1), false);
  pit.advance(1);
  assert.equal(pit.outLevel(1), true);
});

test('PIT: port 0x61 gates channel 2 and shows OUT2 and the refresh toggle (Linux calibration loop)', () => {
  const bus = new IoBus();
  const pit = new Pit8254();
  pit.attach(bus);
  const portB = new SystemControlPortB(pit);
  portB.attach(bus);
  bus.out(0x43, 1, 0xb0); // channel 2, mode 0
  bus.out(0x42, 1, 0xe8); bus.out(0x42, 1, 0x03); // 1000
  pit.advance(2000);
  assert.equal(bus.in(0x61, 1) & 0x20, 0, 'reset value 0: gate low, nothing counted');
  bus.out(0x61, 1, (bus.in(0x61, 1) & ~0x02) | 0x01); // gate on, speaker off
  assert.equal(bus.in(0x61, 1) & 0x0f, 0x01);
  pit.advance(999);
  assert.equal(bus.in(0x61, 1) & 0x20, 0);
  pit.advance(1);
  assert.equal(bus.in(0x61, 1) & 0x20, 0x20, 'OUT2 high at terminal count');
  const before = bus.in(0x61, 1) & 0x10;
  pit.advance(REFRESH_PERIOD_TICKS);
  assert.equal(bus.in(0x61, 1) & 0x10, before ^ 0x10);
});
