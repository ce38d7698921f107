import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../../src/x86/devices/iobus';
import { Uart16550 } from '../../../src/vmm/devices/uart';
import type { InterruptSink } from '../../../src/vmm/devices/irq';

class Line implements InterruptSink {
  high = false;
  raiseIrq(line: number): void { assert.equal(line, 4); this.high = true; }
  lowerIrq(line: number): void { assert.equal(line, 4); this.high = false; }
}

const B = 0x3f8;

function setup(): { bus: IoBus; uart: Uart16550; irq: Line; out: number[] } {
  const bus = new IoBus();
  const uart = new Uart16550();
  const irq = new Line();
  const out: number[] = [];
  uart.sink = irq;
  uart.onTransmit = (b) => out.push(b);
  uart.attach(bus);
  return { bus, uart, irq, out };
}

test('UART: divisor latch behind DLAB, 8N1, transmit to the console', () => {
  const { bus, uart, out } = setup();
  bus.out(B + 3, 1, 0x80); // DLAB
  bus.out(B + 0, 1, 0x01); bus.out(B + 1, 1, 0x00); // 115200 baud
  assert.equal(bus.in(B + 0, 1), 0x01);
  assert.equal(bus.in(B + 1, 1), 0x00);
  bus.out(B + 3, 1, 0x03); // 8N1, DLAB off
  assert.equal(uart.baud, 115200);
  assert.equal(bus.in(B + 1, 1), 0x00, 'IER, not DLM');
  for (const c of 'Hi') bus.out(B, 1, c.charCodeAt(0));
  assert.deepEqual(out, [0x48, 0x69]);
  assert.equal(bus.in(B + 5, 1), 0x60, 'LSR: THRE and TEMT, no data');
  bus.out(B + 3, 1, 0x80);
  bus.out(B + 0, 1, 0x0c);
  bus.out(B + 3, 1, 0x03);
  assert.equal(uart.baud, 9600);
});

test('UART: scratch register and IER keeps four bits', () => {
  const { bus } = setup();
  bus.out(B + 7, 1, 0x5a);
  assert.equal(bus.in(B + 7, 1), 0x5a);
  bus.out(B + 1, 1, 0xff);
  assert.equal(bus.in(B + 1, 1), 0x0f);
});

test('UART: host input sets DR and is read from RBR in order', () => {
  const { bus, uart } = setup();
  assert.equal(bus.in(B + 5, 1) & 1, 0);
  uart.receive([0x41, 0x42]);
  assert.equal(bus.in(B + 5, 1), 0x61);
  assert.equal(bus.in(B, 1), 0x41);
  assert.equal(bus.in(B, 1), 0x42);
  assert.equal(bus.in(B + 5, 1), 0x60);
});

test('UART: IIR identifies sources by priority and the IRQ is gated by OUT2', () => {
  const { bus, uart, irq } = setup();
  assert.equal(bus.in(B + 2, 1), 0x01, 'no interrupt pending');
  bus.out(B + 1, 1, 0x03); // received data + THR empty
  assert.equal(irq.high, false, 'OUT2 clear: no IRQ to the PIC');
  bus.out(B + 4, 1, 0x0b); // DTR, RTS, OUT2
  assert.equal(irq.high, true, 'THR empty raised when enabled');
  uart.receive([0x33]);
  assert.equal(bus.in(B + 2, 1), 0x04, 'received data outranks THR empty');
  assert.equal(bus.in(B, 1), 0x33);
  assert.equal(bus.in(B + 2, 1), 0x02, 'then THR empty');
  assert.equal(irq.high, false, 'reading IIR reporting THRE clears it');
  assert.equal(bus.in(B + 2, 1), 0x01);
  bus.out(B, 1, 0x21);
  assert.equal(irq.high, true, 'a transmitted byte empties THR again');
  bus.out(B + 1, 1, 0x00);
  assert.equal(irq.high, false);
});

test('UART: loopback returns transmitted bytes, maps MCR onto MSR, keeps the IRQ off', () => {
  const { bus, irq, out } = setup();
  bus.out(B + 1, 1, 0x01);
  bus.out(B + 4, 1, 0x1b); // loop, OUT2, RTS, DTR
  bus.in(B + 6, 1); // clear deltas
  bus.out(B, 1, 0xae);
  assert.deepEqual(out, [], 'nothing reaches the console');
  assert.equal(bus.in(B + 5, 1) & 1, 1);
  assert.equal(irq.high, false);
  assert.equal(bus.in(B + 2, 1), 0x04, 'the interrupt is still identified');
  assert.equal(bus.in(B, 1), 0xae);
  // MCR bits 0-3 appear as DSR, CTS, RI, DCD.
  bus.out(B + 4, 1, 0x10 | 0x04); // loop + OUT1 only
  assert.equal(bus.in(B + 6, 1) & 0xf0, 0x40, 'RI from OUT1');
  bus.out(B + 4, 1, 0x10 | 0x01);
  assert.equal(bus.in(B + 6, 1), 0x20 | 0x02 | 0x04, 'DSR set, DDSR and TERI deltas');
  bus.out(B + 4, 1, 0x10 | 0x0a);
  assert.equal(bus.in(B + 6, 1), 0x90 | 0x02 | 0x01 | 0x08);
  assert.equal(bus.in(B + 6, 1), 0x90, 'deltas cleared by the read');
  bus.out(B + 4, 1, 0x0b);
  assert.equal(bus.in(B + 6, 1) & 0xf0, 0xb0, 'leaving loopback shows the modem lines');
});

test('UART: loopback overrun sets OE, reported as line status and cleared by reading LSR', () => {
  const { bus } = setup();
  bus.out(B + 1, 1, 0x05);
  bus.out(B + 4, 1, 0x10);
  bus.out(B, 1, 1);
  bus.out(B, 1, 2); // no FIFO: the holding register is full
  assert.equal(bus.in(B + 2, 1), 0x06);
  assert.equal(bus.in(B + 5, 1), 0x63);
  assert.equal(bus.in(B + 5, 1), 0x61);
  assert.equal(bus.in(B, 1), 1, 'the first byte survived');
});

test('UART: FIFO mode, trigger level, character timeout and FIFO clear', () => {
  const { bus, uart } = setup();
  bus.out(B + 2, 1, 0x47); // enable, clear both, trigger 4
  assert.equal(bus.in(B + 2, 1), 0xc1, 'FIFOs enabled bits in IIR');
  bus.out(B + 1, 1, 0x01);
  uart.receive([1, 2, 3]);
  assert.equal(bus.in(B + 2, 1), 0xcc, 'below the trigger: character timeout');
  uart.receive([4]);
  assert.equal(bus.in(B + 2, 1), 0xc4, 'at the trigger: data available');
  uart.receive(new Array<number>(20).fill(9));
  assert.equal(uart.state.rx.length, 16);
  bus.out(B + 2, 1, 0x03);
  assert.equal(bus.in(B + 5, 1) & 1, 1, 'the host queue refills the cleared FIFO');
  assert.equal(uart.state.rx.length, 8);
  bus.out(B + 2, 1, 0x00);
  assert.equal(bus.in(B + 2, 1), 0x01, 'turning FIFOs off empties them');
  uart.receive([5, 6]);
  assert.equal(bus.in(B + 2, 1), 0x04, 'FIFOs off: one holding register');
  assert.equal(uart.state.rx.length, 1);
});

test('UART: modem-status interrupt on a line change, lowest priority', () => {
  const { bus, uart, irq } = setup();
  bus.out(B + 4, 1, 0x08);
  bus.out(B + 1, 1, 0x08);
  assert.equal(irq.high, false);
  uart.setModemLines(0x30); // DCD dropped
  assert.equal(irq.high, true);
  assert.equal(bus.in(B + 2, 1), 0x00);
  assert.equal(bus.in(B + 6, 1), 0x38);
  assert.equal(irq.high, false);
});

test('UART: snapshot/restore keeps registers and queued input', () => {
  const { bus, uart } = setup();
  bus.out(B + 3, 1, 0x83); bus.out(B, 1, 3); bus.out(B + 3, 1, 0x03);
  bus.out(B + 7, 1, 0x77);
  uart.receive([10, 11]);
  const snap = JSON.parse(JSON.stringify(uart.snapshot())) as ReturnType<Uart16550['snapshot']>;
  const { bus: b2, uart: u2 } = setup();
  u2.restore(snap);
  assert.equal(u2.baud, 38400);
  assert.equal(b2.in(B + 7, 1), 0x77);
  assert.equal(b2.in(B + 3, 1), 0x03);
  assert.equal(b2.in(B, 1), 10);
  assert.equal(b2.in(B, 1), 11);
  assert.equal(bus.in(B, 1), 10, 'the original is untouched');
});

test('UART: break in loopback is received as a break condition', () => {
  const { bus } = setup();
  bus.out(B + 1, 1, 0x04);
  bus.out(B + 4, 1, 0x10);
  bus.out(B + 3, 1, 0x43); // 8N1 with break
  assert.equal(bus.in(B + 2, 1), 0x06);
  assert.equal(bus.in(B + 5, 1) & 0x10, 0x10);
  assert.equal(bus.in(B + 5, 1) & 0x10, 0, 'cleared by reading LSR');
});
