import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APIC, LocalApic, type IpiMessage } from '../../../src/vmm/devices/lapic';

function enabled(): LocalApic {
  const a = new LocalApic();
  a.write(APIC.SVR, 0x1ff);
  return a;
}

const irrWord = (a: LocalApic, v: number): number => a.read(APIC.IRR + ((v >> 5) << 4));
const isrWord = (a: LocalApic, v: number): number => a.read(APIC.ISR + ((v >> 5) << 4));

test('LAPIC: reset values of the register file', () => {
  const a = new LocalApic(3);
  assert.equal(a.read(APIC.ID), 0x03000000);
  assert.equal(a.read(APIC.VERSION), 0x00050014);
  assert.equal(a.read(APIC.SVR), 0xff);
  assert.equal(a.read(APIC.DFR), 0xffffffff);
  for (const off of [APIC.LVT_TIMER, APIC.LVT_LINT0, APIC.LVT_LINT1, APIC.LVT_ERROR]) assert.equal(a.read(off), 0x00010000);
  assert.equal(a.read(APIC.TPR), 0);
  assert.equal(a.softwareEnabled, false);
});

test('LAPIC: software-disabled keeps LVT masked; enabling lets the mask be cleared', () => {
  const a = new LocalApic();
  a.write(APIC.LVT_TIMER, 0x20);
  assert.equal(a.read(APIC.LVT_TIMER), 0x10020);
  a.write(APIC.SVR, 0x1ff);
  a.write(APIC.LVT_TIMER, 0x20020);
  assert.equal(a.read(APIC.LVT_TIMER), 0x20020);
  a.acceptInterrupt(0x40);
  a.write(APIC.SVR, 0x0ff);
  assert.equal(a.read(APIC.LVT_TIMER), 0x30020, 'clearing the enable bit masks every LVT');
  assert.equal(a.hasInterrupt(), false, 'IRR is held while software-disabled');
  assert.equal(irrWord(a, 0x40), 1);
  a.write(APIC.SVR, 0x1ff);
  assert.equal(a.acknowledge(), 0x40);
});

test('LAPIC: PPR follows TPR or the in-service class, whichever is higher', () => {
  const a = enabled();
  a.write(APIC.TPR, 0x35);
  assert.equal(a.read(APIC.PPR), 0x35);
  a.acceptInterrupt(0x51);
  assert.equal(a.acknowledge(), 0x51);
  assert.equal(a.read(APIC.PPR), 0x50);
  a.write(APIC.TPR, 0x62);
  assert.equal(a.read(APIC.PPR), 0x62);
  a.write(APIC.TPR, 0x5f);
  assert.equal(a.read(APIC.PPR), 0x5f, 'same class as ISRV: TPR');
});

test('LAPIC: only the highest IRR with a class above PPR is delivered', () => {
  const a = enabled();
  a.acceptInterrupt(0x45);
  a.acceptInterrupt(0x61);
  a.write(APIC.TPR, 0x50);
  assert.equal(a.acknowledge(), 0x61);
  assert.equal(irrWord(a, 0x61), 0);
  assert.equal(isrWord(a, 0x61), 1 << (0x61 & 31));
  a.acceptInterrupt(0x65);
  assert.equal(a.hasInterrupt(), false, 'same class as the one in service');
  a.acceptInterrupt(0x71);
  assert.equal(a.acknowledge(), 0x71, 'a higher class nests');
  a.write(APIC.EOI, 0);
  assert.equal(isrWord(a, 0x71), 1 << 1, 'EOI clears the highest ISR bit (0x71), 0x61 stays');
  a.write(APIC.EOI, 0);
  assert.equal(a.acknowledge(), 0x65);
  a.write(APIC.EOI, 0);
  assert.equal(a.hasInterrupt(), false, '0x45 stays below TPR 0x50');
  a.write(APIC.TPR, 0);
  assert.equal(a.acknowledge(), 0x45);
  assert.equal(a.acknowledge(), 0xff, 'nothing left: the spurious vector from SVR');
});

test('LAPIC: level-triggered vectors set TMR and report their EOI', () => {
  const a = enabled();
  const eois: number[] = [];
  a.onEoi = (v) => eois.push(v);
  a.acceptInterrupt(0x90, true);
  assert.equal(a.read(APIC.TMR + 0x40), 1 << 16);
  a.acknowledge();
  a.write(APIC.EOI, 0);
  assert.deepEqual(eois, [0x90]);
});

test('LAPIC: fixed IPI to self by shorthand and by physical ID; others go to the VMM', () => {
  const a = new LocalApic(2);
  a.write(APIC.SVR, 0x1ff);
  const sent: IpiMessage[] = [];
  a.onIpi = (ipi) => sent.push(ipi);
  a.write(APIC.ICR_LOW, 0x00044030); // self, fixed, vector 0x30
  assert.equal(irrWord(a, 0x30), 1 << 16);
  assert.equal(sent.length, 0);
  a.write(APIC.ICR_HIGH, 0x02000000);
  a.write(APIC.ICR_LOW, 0x00000031); // physical destination 2 = this APIC
  assert.equal(irrWord(a, 0x31), (1 << 16) | (1 << 17));
  assert.equal(a.read(APIC.ICR_LOW) & 0x1000, 0, 'delivery status idle');
  a.write(APIC.ICR_LOW, 0x00080032); // all including self
  assert.equal(irrWord(a, 0x32) >>> 18 & 1, 1);
  assert.equal(sent.length, 1);
  a.write(APIC.ICR_HIGH, 0x05000000);
  a.write(APIC.ICR_LOW, 0x00004500); // INIT to APIC 5
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1], { vector: 0, deliveryMode: 5, logical: false, level: true, triggerLevel: false, shorthand: 0, destination: 5 });
});

test('LAPIC: illegal vectors are reported in ESR on the next ESR write, with the error LVT', () => {
  const a = enabled();
  a.write(APIC.LVT_ERROR, 0xfe);
  a.write(APIC.ICR_LOW, 0x00044005);
  assert.equal(a.read(APIC.ESR), 0, 'not visible before the write');
  a.write(APIC.ESR, 0);
  assert.equal(a.read(APIC.ESR), 0x20);
  assert.equal(a.acknowledge(), 0xfe);
  a.acceptInterrupt(0x0f);
  a.write(APIC.ESR, 0);
  assert.equal(a.read(APIC.ESR), 0x40);
  a.write(APIC.ESR, 0);
  assert.equal(a.read(APIC.ESR), 0);
});

test('LAPIC: one-shot timer counts down through the divider and fires once', () => {
  const a = enabled();
  a.write(APIC.LVT_TIMER, 0x40);
  a.write(APIC.TIMER_DIVIDE, 0x3); // divide by 16
  a.write(APIC.TIMER_INITIAL, 100);
  a.advance(160);
  assert.equal(a.read(APIC.TIMER_CURRENT), 90);
  a.advance(15);
  assert.equal(a.read(APIC.TIMER_CURRENT), 90, 'partial ticks are carried');
  a.advance(1);
  assert.equal(a.read(APIC.TIMER_CURRENT), 89);
  a.advance(89 * 16 - 1);
  assert.equal(a.hasInterrupt(), false);
  a.advance(1);
  assert.equal(a.read(APIC.TIMER_CURRENT), 0);
  assert.equal(a.acknowledge(), 0x40);
  a.write(APIC.EOI, 0);
  a.advance(100000);
  assert.equal(a.hasInterrupt(), false);
});

test('LAPIC: periodic timer reloads; divide 0xB is divide by 1; masked still counts', () => {
  const a = enabled();
  a.write(APIC.LVT_TIMER, 0x20041);
  a.write(APIC.TIMER_DIVIDE, 0xb);
  a.write(APIC.TIMER_INITIAL, 50);
  a.advance(50);
  assert.equal(a.acknowledge(), 0x41);
  a.write(APIC.EOI, 0);
  assert.equal(a.read(APIC.TIMER_CURRENT), 50);
  a.advance(20);
  assert.equal(a.read(APIC.TIMER_CURRENT), 30);
  a.write(APIC.LVT_TIMER, 0x30041);
  a.advance(30);
  assert.equal(a.hasInterrupt(), false);
  assert.equal(a.read(APIC.TIMER_CURRENT), 50);
  a.write(APIC.TIMER_INITIAL, 0);
  assert.equal(a.read(APIC.TIMER_CURRENT), 0, 'initial count 0 stops the timer');
});

test('LAPIC: LINT pins deliver fixed, NMI and ExtINT as programmed', () => {
  const a = enabled();
  let nmis = 0;
  let ext = 0;
  a.onNmi = () => { nmis++; };
  a.onExtInt = () => { ext++; };
  a.signalLint(0);
  assert.equal(ext, 0, 'masked');
  a.write(APIC.LVT_LINT0, 0x700);
  a.write(APIC.LVT_LINT1, 0x400);
  a.signalLint(0);
  a.signalLint(1);
  assert.deepEqual([ext, nmis], [1, 1]);
  a.write(APIC.LVT_LINT1, 0x0033);
  a.signalLint(1);
  assert.equal(a.acknowledge(), 0x33);
});

test('LAPIC: snapshot/restore', () => {
  const a = enabled();
  a.write(APIC.TPR, 0x20);
  a.write(APIC.LVT_TIMER, 0x20050);
  a.write(APIC.TIMER_INITIAL, 1000);
  a.advance(777);
  a.acceptInterrupt(0x88);
  const snap = JSON.parse(JSON.stringify(a.snapshot())) as ReturnType<LocalApic['snapshot']>;
  const b = new LocalApic();
  b.restore(snap);
  for (const off of [APIC.TPR, APIC.SVR, APIC.LVT_TIMER, APIC.TIMER_CURRENT, APIC.TIMER_DIVIDE, APIC.IRR + 0x40]) assert.equal(b.read(off), a.read(off));
  assert.equal(b.read(APIC.TIMER_CURRENT), 1000 - 388, '777 clocks at divide-by-2 (reset DCR)');
  b.advance(1222);
  assert.equal(b.read(APIC.TIMER_CURRENT), 1, 'the odd clock left over was carried');
  b.advance(2);
  assert.equal(b.acknowledge(), 0x88);
  assert.equal(b.hasInterrupt(), false, 'the timer vector 0x50 waits behind 0x88 in service');
  b.write(APIC.EOI, 0);
  assert.equal(b.acknowledge(), 0x50);
});
