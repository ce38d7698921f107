// The 8259A programmable interrupt controller pair of the PC: a master at
// 0x20/0x21 and a slave at 0xA0/0xA1 whose output drives the master's IR2,
// plus the edge/level control registers (ELCR) at 0x4D0/0x4D1.
//
// Priorities are kept as in the datasheet: a rotating "lowest priority" IR
// whose successor has the highest priority (IR0 after reset). The CPU side
// is the INTA cycle: `hasInterrupt()` is the INT pin and `acknowledge()`
// returns the vector and moves the request from IRR to ISR.

import type { IoDevice } from '../../x86/devices/iobus';
import type { InterruptSink } from './irq';

export const PIC_MASTER = 0x20;
export const PIC_SLAVE = 0xa0;
export const ELCR_PORT = 0x4d0;
/** The master input the slave is wired to on a PC. */
export const CASCADE_IR = 2;

/** ICW1 bits. */
const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;
const ICW1_LTIM = 0x08;
const ICW1_INIT = 0x10;
/** ICW4 bits. */
const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10;
/** OCW3 identification bit (OCW2 has bits 4:3 = 00). */
const OCW3_SEL = 0x08;

/** Lines that must stay edge-triggered on a PC (timer, keyboard, cascade; RTC and FPU on the slave). */
const ELCR_WRITABLE = [0xf8, 0xde];

export interface PicChipState {
  irr: number;
  isr: number;
  imr: number;
  /** Input line levels, for edge detection. */
  lines: number;
  /** 0 when initialised; 2, 3 or 4 while waiting for that ICW. */
  initStep: number;
  icw1: number;
  vectorBase: number;
  icw3: number;
  icw4: number;
  /** IR with the lowest priority is (priorityAdd - 1) & 7. */
  priorityAdd: number;
  readIsr: boolean;
  poll: boolean;
  specialMask: boolean;
  rotateOnAutoEoi: boolean;
  elcr: number;
}

function freshChip(): PicChipState {
  return {
    irr: 0, isr: 0, imr: 0, lines: 0, initStep: 0, icw1: 0, vectorBase: 0, icw3: 0, icw4: 0,
    priorityAdd: 0, readIsr: false, poll: false, specialMask: false, rotateOnAutoEoi: false, elcr: 0,
  };
}

/** One 8259A. The pair below wires two of them together. */
export class Pic8259 {
  s: PicChipState = freshChip();

  constructor(readonly isMaster: boolean) {}

  private levelTriggered(mask: number): boolean {
    return (this.s.icw1 & ICW1_LTIM) !== 0 || (this.s.elcr & mask) !== 0;
  }

  setLine(ir: number, high: boolean): void {
    const s = this.s;
    const mask = 1 << (ir & 7);
    if (this.levelTriggered(mask)) {
      if (high) s.irr |= mask; else s.irr &= ~mask;
    } else if (high && (s.lines & mask) === 0) {
      s.irr |= mask;
    }
    // An edge-sensed request stays in IRR when the line drops again before
    // INTA, as on the chips PCs emulate (the request is not withdrawn).
    if (high) s.lines |= mask; else s.lines &= ~mask;
  }

  /** Relative priority (0 = highest) of the best bit in `mask`, 8 if none. */
  private priorityOf(mask: number): number {
    if ((mask & 0xff) === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + this.s.priorityAdd) & 7))) === 0) p++;
    return p;
  }

  /** The IR that would be presented to the CPU now, or -1. */
  pendingIr(): number {
    const s = this.s;
    const p = this.priorityOf(s.irr & ~s.imr);
    if (p === 8) return -1;
    let inService = s.isr;
    // Special mask mode: masked levels in service do not block lower ones.
    if (s.specialMask) inService &= ~s.imr;
    // Special fully nested mode: the cascade input in service does not block
    // a higher-priority request arriving from the same slave.
    if (this.isMaster && (s.icw4 & ICW4_SFNM) !== 0) inService &= ~(1 << CASCADE_IR);
    return p < this.priorityOf(inService) ? (p + s.priorityAdd) & 7 : -1;
  }

  /** The INTA response for `ir`: IRR to ISR (or automatic EOI). */
  acceptIr(ir: number): void {
    const s = this.s;
    const mask = 1 << ir;
    if (!this.levelTriggered(mask)) s.irr &= ~mask;
    if ((s.icw4 & ICW4_AEOI) !== 0) {
      if (s.rotateOnAutoEoi) s.priorityAdd = (ir + 1) & 7;
    } else {
      s.isr |= mask;
    }
  }

  private nonSpecificEoi(rotate: boolean): void {
    const s = this.s;
    const p = this.priorityOf(s.isr);
    if (p === 8) return;
    const ir = (p + s.priorityAdd) & 7;
    s.isr &= ~(1 << ir);
    if (rotate) s.priorityAdd = (ir + 1) & 7;
  }

  writeCommand(v: number): void {
    const s = this.s;
    if ((v & ICW1_INIT) !== 0) {
      // ICW1 starts initialisation: IMR and ISR cleared, IR7 lowest priority,
      // special mask off, status reads return IRR; edge latches are reset.
      s.icw1 = v;
      s.imr = 0; s.isr = 0; s.priorityAdd = 0;
      s.readIsr = false; s.poll = false; s.specialMask = false; s.rotateOnAutoEoi = false;
      s.irr &= s.elcr | ((v & ICW1_LTIM) !== 0 ? 0xff : 0);
      s.lines = 0;
      if ((v & ICW1_IC4) === 0) s.icw4 = 0;
      s.initStep = 2;
      return;
    }
    if ((v & OCW3_SEL) !== 0) {
      if ((v & 0x04) !== 0) s.poll = true;
      if ((v & 0x02) !== 0) s.readIsr = (v & 0x01) !== 0;
      if ((v & 0x40) !== 0) s.specialMask = (v & 0x20) !== 0;
      return;
    }
    // OCW2: R SL EOI in bits 7:5, level in 2:0.
    const level = v & 7;
    switch (v >> 5) {
      case 0: s.rotateOnAutoEoi = false; break;
      case 4: s.rotateOnAutoEoi = true; break;
      case 1: this.nonSpecificEoi(false); break;
      case 5: this.nonSpecificEoi(true); break;
      case 3: s.isr &= ~(1 << level); break;
      case 7: s.isr &= ~(1 << level); s.priorityAdd = (level + 1) & 7; break;
      case 6: s.priorityAdd = (level + 1) & 7; break;
      default: break; // 010: no operation
    }
  }

  writeData(v: number): void {
    const s = this.s;
    switch (s.initStep) {
      case 2:
        s.vectorBase = v & 0xf8;
        s.initStep = (s.icw1 & ICW1_SNGL) !== 0 ? ((s.icw1 & ICW1_IC4) !== 0 ? 4 : 0) : 3;
        break;
      case 3:
        s.icw3 = v;
        s.initStep = (s.icw1 & ICW1_IC4) !== 0 ? 4 : 0;
        break;
      case 4:
        s.icw4 = v;
        s.initStep = 0;
        break;
      default:
        s.imr = v; // OCW1
    }
  }

  readData(): number {
    return this.s.imr;
  }

  /** The command-port read: poll result when a poll command is armed, else IRR or ISR. */
  readCommand(pollAck: () => number): number {
    const s = this.s;
    if (s.poll) {
      s.poll = false;
      return pollAck();
    }
    return s.readIsr ? s.isr : s.irr;
  }
}

export interface PicPairState {
  master: PicChipState;
  slave: PicChipState;
}

/** Master and slave 8259A with the PC cascade, as a port device and an interrupt sink for IRQ 0-15. */
export class PicPair implements IoDevice, InterruptSink {
  readonly master = new Pic8259(true);
  readonly slave = new Pic8259(false);
  /** Called when the INT output to the CPU changes level. */
  onOutputChange: ((high: boolean) => void) | null = null;
  private output = false;

  attach(bus: { register(first: number, last: number, device: IoDevice): void }): void {
    bus.register(PIC_MASTER, PIC_MASTER + 1, this);
    bus.register(PIC_SLAVE, PIC_SLAVE + 1, this);
    bus.register(ELCR_PORT, ELCR_PORT + 1, this);
  }

  raiseIrq(line: number): void { this.setIrq(line, true); }
  lowerIrq(line: number): void { this.setIrq(line, false); }

  private setIrq(line: number, high: boolean): void {
    if (line >= 8) this.slave.setLine(line - 8, high); else this.master.setLine(line, high);
    this.update();
  }

  /** Re-evaluates the slave's output into IR2 and the master's INT pin. */
  private update(): void {
    this.master.setLine(CASCADE_IR, this.slave.pendingIr() >= 0);
    const out = this.master.pendingIr() >= 0;
    if (out !== this.output) {
      this.output = out;
      this.onOutputChange?.(out);
    }
  }

  /** The INT pin: an unmasked request above everything in service. */
  hasInterrupt(): boolean {
    return this.master.pendingIr() >= 0;
  }

  /**
   * The INTA cycle. With nothing to deliver (the request went away or was
   * masked after INT was raised) the chip answers with its IR7 vector and
   * sets no ISR bit: the spurious IRQ 7 (or 15 from the slave).
   */
  acknowledge(): number {
    const v = this.ackVector();
    this.update();
    return v;
  }

  private ackVector(): number {
    const m = this.master;
    const ir = m.pendingIr();
    if (ir < 0) return m.s.vectorBase + 7;
    m.acceptIr(ir);
    if (ir !== CASCADE_IR) return m.s.vectorBase + ir;
    const sl = this.slave;
    const sir = sl.pendingIr();
    if (sir < 0) return sl.s.vectorBase + 7;
    sl.acceptIr(sir);
    return sl.s.vectorBase + sir;
  }

  /** The poll command: the INTA effect without a vector, reported as 0x80 | IR. */
  private pollChip(chip: Pic8259): number {
    const ir = chip.pendingIr();
    if (ir < 0) return 0;
    chip.acceptIr(ir);
    this.update();
    return 0x80 | ir;
  }

  in(port: number, size: 1 | 2 | 4): number {
    void size;
    switch (port) {
      case PIC_MASTER: return this.master.readCommand(() => this.pollChip(this.master));
      case PIC_MASTER + 1: return this.master.readData();
      case PIC_SLAVE: return this.slave.readCommand(() => this.pollChip(this.slave));
      case PIC_SLAVE + 1: return this.slave.readData();
      case ELCR_PORT: return this.master.s.elcr;
      case ELCR_PORT + 1: return this.slave.s.elcr;
      default: return 0xff;
    }
  }

  out(port: number, size: 1 | 2 | 4, value: number): void {
    void size;
    const v = value & 0xff;
    switch (port) {
      case PIC_MASTER: this.master.writeCommand(v); break;
      case PIC_MASTER + 1: this.master.writeData(v); break;
      case PIC_SLAVE: this.slave.writeCommand(v); break;
      case PIC_SLAVE + 1: this.slave.writeData(v); break;
      case ELCR_PORT: this.master.s.elcr = v & ELCR_WRITABLE[0]; break;
      case ELCR_PORT + 1: this.slave.s.elcr = v & ELCR_WRITABLE[1]; break;
      default: return;
    }
    this.update();
  }

  /** IRR/ISR/IMR of both chips as 16-bit values (slave in the high byte). */
  registers(): { irr: number; isr: number; imr: number } {
    const m = this.master.s;
    const s = this.slave.s;
    return { irr: m.irr | (s.irr << 8), isr: m.isr | (s.isr << 8), imr: m.imr | (s.imr << 8) };
  }

  snapshot(): PicPairState {
    return { master: { ...this.master.s }, slave: { ...this.slave.s } };
  }

  restore(state: PicPairState): void {
    this.master.s = { ...state.master };
    this.slave.s = { ...state.slave };
    this.output = this.master.pendingIr() >= 0;
  }
}
