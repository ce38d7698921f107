import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../../src/x86/devices/iobus';
import { PicPair } from '../../../src/vmm/devices/pic';

/** The initialisation a PC BIOS and Linux do: vectors 0x20/0x28, slave on IR2, 8086 mode. */
function initPc(bus: IoBus): void {
  bus.out(0x20, 1, 0x11); bus.out(0xa0, 1, 0x11); // ICW1: edge, cascade, ICW4 needed
  bus.out(0x21, 1, 0x20); bus.out(0xa1, 1, 0x28); // ICW2: vector bases
  bus.out(0x21, 1, 0x04); bus.out(0xa1, 1, 0x02); // ICW3: slave on IR2 / slave id 2
  bus.out(0x21, 1, 0x01); bus.out(0xa1, 1, 0x01); // ICW4: 8086 mode
}

function setup(): { bus: IoBus; pic: PicPair } {
  const bus = new IoBus();
  const pic = new PicPair();
  pic.attach(bus);
  initPc(bus);
  return { bus, pic };
}

test('PIC: ICW sequence sets vector bases, clears masks; OCW1 masks read back', () => {
  const { bus, pic } = setup();
  assert.equal(pic.master.s.vectorBase, 0x20);
  assert.equal(pic.slave.s.vectorBase, 0x28);
  assert.equal(pic.master.s.icw3, 0x04);
  assert.equal(pic.slave.s.icw3, 0x02);
  assert.equal(pic.master.s.initStep, 0);
  assert.equal(bus.in(0x21, 1), 0x00);
  bus.out(0x21, 1, 0xfb); bus.out(0xa1, 1, 0xff);
  assert.equal(bus.in(0x21, 1), 0xfb);
  assert.equal(bus.in(0xa1, 1), 0xff);
  assert.deepEqual(pic.registers(), { irr: 0, isr: 0, imr: 0xfffb });
  // A new ICW1 clears IMR again.
  bus.out(0x20, 1, 0x11);
  assert.equal(bus.in(0x21, 1), 0);
});

test('PIC: ICW1 without IC4 and single mode skip ICW3/ICW4', () => {
  const bus = new IoBus();
  const pic = new PicPair();
  pic.attach(bus);
  bus.out(0x20, 1, 0x12); // single, no ICW4
  bus.out(0x21, 1, 0x08);
  assert.equal(pic.master.s.initStep, 0);
  bus.out(0x21, 1, 0xfe); // this is OCW1 now
  assert.equal(bus.in(0x21, 1), 0xfe);
  assert.equal(pic.master.s.vectorBase, 0x08);
});

test('PIC: edge-triggered request, INTA vector, ISR and non-specific EOI', () => {
  const { bus, pic } = setup();
  assert.equal(pic.hasInterrupt(), false);
  pic.raiseIrq(1);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(bus.in(0x20, 1), 0x02, 'IRR read by default');
  assert.equal(pic.acknowledge(), 0x21);
  assert.equal(pic.master.s.irr, 0);
  bus.out(0x20, 1, 0x0b); // OCW3: read ISR
  assert.equal(bus.in(0x20, 1), 0x02);
  // Line still high: no new edge, no new request.
  assert.equal(pic.hasInterrupt(), false);
  bus.out(0x20, 1, 0x20); // non-specific EOI
  assert.equal(bus.in(0x20, 1), 0x00);
  pic.lowerIrq(1);
  pic.raiseIrq(1);
  assert.equal(pic.acknowledge(), 0x21);
});

test('PIC: masking holds a request in IRR until unmasked', () => {
  const { bus, pic } = setup();
  bus.out(0x21, 1, 0x01);
  pic.raiseIrq(0);
  assert.equal(pic.hasInterrupt(), false);
  assert.equal(pic.master.s.irr, 0x01);
  bus.out(0x21, 1, 0x00);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x20);
});

test('PIC: fixed priority IR0 highest; a higher request nests, a lower one waits for EOI', () => {
  const { bus, pic } = setup();
  pic.raiseIrq(3); pic.raiseIrq(5);
  assert.equal(pic.acknowledge(), 0x23);
  assert.equal(pic.hasInterrupt(), false, 'IR5 is below IR3 in service');
  pic.raiseIrq(1);
  assert.equal(pic.acknowledge(), 0x21, 'IR1 preempts IR3');
  assert.equal(pic.master.s.isr, 0x0a);
  bus.out(0x20, 1, 0x20); // EOI clears the highest-priority ISR bit: IR1
  assert.equal(pic.master.s.isr, 0x08);
  assert.equal(pic.hasInterrupt(), false);
  bus.out(0x20, 1, 0x20);
  assert.equal(pic.acknowledge(), 0x25);
});

test('PIC: specific EOI and rotation commands', () => {
  const { bus, pic } = setup();
  pic.raiseIrq(4); pic.raiseIrq(6);
  assert.equal(pic.acknowledge(), 0x24);
  bus.out(0x20, 1, 0x64); // specific EOI for IR4
  assert.equal(pic.master.s.isr, 0);
  // Set priority (OCW2 110, level 4): IR4 lowest, IR5 highest.
  bus.out(0x20, 1, 0xc4);
  pic.raiseIrq(0);
  assert.equal(pic.acknowledge(), 0x26, 'IR6 now ranks above IR0');
  // Rotate on non-specific EOI: IR6 becomes the lowest, IR7 highest.
  bus.out(0x20, 1, 0xa0);
  assert.equal(pic.master.s.priorityAdd, 7);
  pic.raiseIrq(7);
  assert.equal(pic.acknowledge(), 0x27);
});

test('PIC: cascade through IR2 with slave vectors and EOI to both chips', () => {
  const { bus, pic } = setup();
  pic.raiseIrq(12);
  assert.equal(pic.master.s.irr, 0x04, 'slave output raises master IR2');
  assert.equal(pic.acknowledge(), 0x2c);
  assert.deepEqual(pic.registers(), { irr: 0, isr: 0x1004, imr: 0 });
  pic.raiseIrq(3);
  assert.equal(pic.hasInterrupt(), false, 'IR3 is below IR2 in service');
  pic.raiseIrq(0);
  assert.equal(pic.acknowledge(), 0x20);
  bus.out(0x20, 1, 0x20); // EOI for IRQ0
  bus.out(0xa0, 1, 0x20); bus.out(0x20, 1, 0x20); // slave then master EOI for IRQ12
  assert.equal(pic.registers().isr, 0);
  assert.equal(pic.acknowledge(), 0x23);
  // Masking IR2 on the master hides every slave line.
  bus.out(0x21, 1, 0x04);
  pic.raiseIrq(8);
  assert.equal(pic.hasInterrupt(), false);
  bus.out(0xa1, 1, 0x00); bus.out(0x21, 1, 0x00);
  assert.equal(pic.acknowledge(), 0x28);
});

test('PIC: spurious IRQ 7 and 15 set no ISR bit on the chip that had nothing', () => {
  const { bus, pic } = setup();
  pic.raiseIrq(5);
  bus.out(0x21, 1, 0x20); // masked after INT went up
  assert.equal(pic.acknowledge(), 0x27);
  assert.equal(pic.master.s.isr, 0);
  bus.out(0x21, 1, 0x00);
  pic.acknowledge();
  bus.out(0x20, 1, 0x20);
  // Slave request withdrawn between INT and INTA (a level-triggered line
  // dropping): the master's edge-latched IR2 is still accepted, the slave
  // answers with IRQ 15's vector and sets nothing.
  bus.out(0x4d1, 1, 0x02); // IRQ 9 level-triggered
  pic.raiseIrq(9);
  pic.lowerIrq(9);
  assert.equal(pic.slave.s.irr, 0);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x2f);
  assert.equal(pic.slave.s.isr, 0);
  assert.equal(pic.master.s.isr, 0x04, 'the master IR2 is in service and needs an EOI');
});

test('PIC: level-triggered lines via ELCR stay requested while high', () => {
  const { bus, pic } = setup();
  bus.out(0x4d1, 1, 0xff);
  assert.equal(bus.in(0x4d1, 1), 0xde, 'IRQ 8 and 13 cannot be level-triggered');
  bus.out(0x4d0, 1, 0xff);
  assert.equal(bus.in(0x4d0, 1), 0xf8);
  pic.raiseIrq(10);
  assert.equal(pic.acknowledge(), 0x2a);
  bus.out(0xa0, 1, 0x20); bus.out(0x20, 1, 0x20);
  assert.equal(pic.hasInterrupt(), true, 'still high: requested again');
  pic.lowerIrq(10);
  assert.equal(pic.slave.s.irr, 0, 'a level request is withdrawn with the line');
  assert.equal(pic.acknowledge(), 0x2f, 'the edge already latched on IR2 ends as spurious IRQ 15');
});

test('PIC: poll command returns 0x80 | IR and puts it in service', () => {
  const { bus, pic } = setup();
  pic.raiseIrq(6);
  bus.out(0x20, 1, 0x0c);
  assert.equal(bus.in(0x20, 1), 0x86);
  assert.equal(pic.master.s.isr, 0x40);
  bus.out(0x20, 1, 0x0c);
  assert.equal(bus.in(0x20, 1), 0x00);
});

test('PIC: automatic EOI leaves ISR clear', () => {
  const bus = new IoBus();
  const pic = new PicPair();
  pic.attach(bus);
  bus.out(0x20, 1, 0x11); bus.out(0x21, 1, 0x08); bus.out(0x21, 1, 0x04); bus.out(0x21, 1, 0x03);
  pic.raiseIrq(0);
  assert.equal(pic.acknowledge(), 0x08);
  assert.equal(pic.master.s.isr, 0);
});

test('PIC: special fully nested mode lets a higher slave request through IR2 in service', () => {
  const bus = new IoBus();
  const pic = new PicPair();
  pic.attach(bus);
  initPc(bus);
  bus.out(0x20, 1, 0x11); bus.out(0x21, 1, 0x20); bus.out(0x21, 1, 0x04); bus.out(0x21, 1, 0x11);
  pic.raiseIrq(12);
  assert.equal(pic.acknowledge(), 0x2c);
  pic.raiseIrq(9);
  assert.equal(pic.acknowledge(), 0x29);
});

test('PIC: output change callback and snapshot/restore', () => {
  const { bus, pic } = setup();
  const seen: boolean[] = [];
  pic.onOutputChange = (h) => seen.push(h);
  bus.out(0x21, 1, 0x10);
  pic.raiseIrq(4);
  pic.raiseIrq(3);
  assert.deepEqual(seen, [true]);
  const snap = JSON.parse(JSON.stringify(pic.snapshot())) as ReturnType<PicPair['snapshot']>;
  assert.equal(pic.acknowledge(), 0x23);
  assert.deepEqual(seen, [true, false]);
  const other = new PicPair();
  other.restore(snap);
  assert.deepEqual(other.registers(), { irr: 0x18, isr: 0, imr: 0x10 });
  assert.equal(other.acknowledge(), 0x23);
});

test('PIC: special mask mode lets lower levels in while the masked level is in service', () => {
  const { bus, pic } = setup();
  pic.raiseIrq(3);
  assert.equal(pic.acknowledge(), 0x23);
  pic.raiseIrq(5);
  assert.equal(pic.hasInterrupt(), false);
  bus.out(0x21, 1, 0x08); // mask IR3
  bus.out(0x20, 1, 0x68); // OCW3: set special mask mode
  assert.equal(pic.acknowledge(), 0x25);
  bus.out(0x20, 1, 0x65); // specific EOI IR5
  bus.out(0x20, 1, 0x48); // reset special mask mode
  pic.raiseIrq(6);
  assert.equal(pic.hasInterrupt(), false, 'IR3 in service blocks again');
  bus.out(0x20, 1, 0x63);
  assert.equal(pic.acknowledge(), 0x26);
});
