// A 16550A UART (COM1 at 0x3F8, IRQ 4 on a PC). Transmission is immediate:
// a byte written to THR goes to `onTransmit` (or, in loopback, into the
// receive FIFO) and the transmitter is empty again at once, so LSR.THRE and
// TEMT read 1 whenever the guest looks. Input from the host waits in an
// unbounded queue and moves into the receive FIFO (16 bytes, or the single
// holding register with FIFOs off) as the guest reads, so host input is never
// overrun; loopback into a full FIFO does overrun.
//
// The interrupt output reaches the PIC only while MCR.OUT2 is set and
// loopback is off, as on PC serial cards where OUT2 gates the IRQ driver.

import type { IoDevice } from '../../x86/devices/iobus';
import { NO_SINK, type InterruptSink } from './irq';

export const COM1_BASE = 0x3f8;
export const COM1_IRQ = 4;

/** Offsets from the base port. */
const RBR_THR = 0;
const IER = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const IER_RDA = 0x01;
const IER_THRE = 0x02;
const IER_RLS = 0x04;
const IER_MS = 0x08;

const LCR_DLAB = 0x80;

const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_FIFO_ERR = 0x80;
const LSR_ERRORS = 0x1e;

const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;

/** IIR interrupt identification codes, highest priority first. */
export const IIR_NONE = 0x01;
export const IIR_LINE_STATUS = 0x06;
export const IIR_RX_DATA = 0x04;
export const IIR_RX_TIMEOUT = 0x0c;
export const IIR_THR_EMPTY = 0x02;
export const IIR_MODEM_STATUS = 0x00;

const FIFO_SIZE = 16;
/** Receive FIFO trigger levels selected by FCR bits 7:6. */
const TRIGGER = [1, 4, 8, 14];

export interface UartState {
  rx: number[];
  hostQueue: number[];
  ier: number;
  lcr: number;
  mcr: number;
  lsr: number;
  /** Modem status lines (bits 7:4) and delta bits (3:0). */
  msr: number;
  scr: number;
  dll: number;
  dlm: number;
  fcr: number;
  /** THR-empty interrupt armed (cleared by an IIR read that reports it, or a THR write). */
  thrPending: boolean;
  /** Modem lines reported outside loopback (bits 7:4). */
  modemLines: number;
  irqHigh: boolean;
}

export class Uart16550 implements IoDevice {
  private s: UartState = {
    rx: [], hostQueue: [], ier: 0, lcr: 0, mcr: 0, lsr: LSR_THRE | LSR_TEMT, msr: MSR_DCD | MSR_DSR | MSR_CTS,
    scr: 0, dll: 0x0c, dlm: 0, fcr: 0, thrPending: false, modemLines: MSR_DCD | MSR_DSR | MSR_CTS, irqHigh: false,
  };
  sink: InterruptSink = NO_SINK;
  onTransmit: ((byte: number) => void) | null = null;

  constructor(readonly base = COM1_BASE, readonly irq = COM1_IRQ) {}

  attach(bus: { register(first: number, last: number, device: IoDevice): void }): void {
    bus.register(this.base, this.base + 7, this);
  }

  /** Queues host input for the guest to read. */
  receive(bytes: Iterable<number>): void {
    for (const b of bytes) this.s.hostQueue.push(b & 0xff);
    this.refill();
    this.update();
  }

  /** Baud rate the guest programmed (115200 / divisor; 0 with a zero divisor). */
  get baud(): number {
    const d = this.s.dll | (this.s.dlm << 8);
    return d === 0 ? 0 : Math.floor(115200 / d);
  }

  get state(): Readonly<UartState> { return this.s; }

  private get fifoOn(): boolean { return (this.s.fcr & 1) !== 0; }
  private get capacity(): number { return this.fifoOn ? FIFO_SIZE : 1; }

  private refill(): void {
    const s = this.s;
    while (s.hostQueue.length > 0 && s.rx.length < this.capacity) s.rx.push(s.hostQueue.shift() as number);
    if (s.rx.length > 0) s.lsr |= LSR_DR; else s.lsr &= ~LSR_DR;
  }

  /** The source IIR reports now, highest priority first. */
  private interruptId(): number {
    const s = this.s;
    if ((s.ier & IER_RLS) !== 0 && (s.lsr & LSR_ERRORS) !== 0) return IIR_LINE_STATUS;
    if ((s.ier & IER_RDA) !== 0 && s.rx.length > 0) {
      // With FIFOs on, below the trigger level the data is reported as a
      // character timeout. The four-character-time wait of the chip is not
      // modelled: the timeout is reported as soon as data sits below the level.
      if (!this.fifoOn || s.rx.length >= TRIGGER[s.fcr >> 6]) return IIR_RX_DATA;
      return IIR_RX_TIMEOUT;
    }
    if ((s.ier & IER_THRE) !== 0 && s.thrPending) return IIR_THR_EMPTY;
    if ((s.ier & IER_MS) !== 0 && (s.msr & 0x0f) !== 0) return IIR_MODEM_STATUS;
    return IIR_NONE;
  }

  private update(): void {
    const s = this.s;
    const high = this.interruptId() !== IIR_NONE && (s.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2;
    if (high === s.irqHigh) return;
    s.irqHigh = high;
    if (high) this.sink.raiseIrq(this.irq); else this.sink.lowerIrq(this.irq);
  }

  /** Modem status lines: from the outside world, or from MCR in loopback. */
  private lines(): number {
    const s = this.s;
    if ((s.mcr & MCR_LOOP) === 0) return s.modemLines;
    const m = s.mcr;
    return ((m & MCR_RTS) !== 0 ? MSR_CTS : 0) | ((m & MCR_DTR) !== 0 ? MSR_DSR : 0)
      | ((m & MCR_OUT1) !== 0 ? MSR_RI : 0) | ((m & MCR_OUT2) !== 0 ? MSR_DCD : 0);
  }

  /** Updates MSR lines and their delta bits (TERI on RI going inactive). */
  private setLines(next: number): void {
    const s = this.s;
    const prev = s.msr & 0xf0;
    const changed = prev ^ next;
    let delta = s.msr & 0x0f;
    if ((changed & MSR_CTS) !== 0) delta |= 0x01;
    if ((changed & MSR_DSR) !== 0) delta |= 0x02;
    if ((prev & MSR_RI) !== 0 && (next & MSR_RI) === 0) delta |= 0x04;
    if ((changed & MSR_DCD) !== 0) delta |= 0x08;
    s.msr = next | delta;
  }

  /** Sets the modem lines seen outside loopback (CTS, DSR, RI, DCD in bits 4-7). */
  setModemLines(lines: number): void {
    this.s.modemLines = lines & 0xf0;
    if ((this.s.mcr & MCR_LOOP) === 0) this.setLines(this.s.modemLines);
    this.update();
  }

  private transmit(v: number): void {
    const s = this.s;
    if ((s.mcr & MCR_LOOP) !== 0) {
      if (s.rx.length < this.capacity) s.rx.push(v);
      else s.lsr |= LSR_OE;
      s.lsr |= LSR_DR;
    } else {
      this.onTransmit?.(v);
    }
    // The byte is gone at once: THR and the shift register are empty again.
    s.lsr |= LSR_THRE | LSR_TEMT;
    s.thrPending = true;
  }

  in(port: number, size: 1 | 2 | 4): number {
    void size;
    const s = this.s;
    const dlab = (s.lcr & LCR_DLAB) !== 0;
    let v: number;
    switch (port - this.base) {
      case RBR_THR:
        if (dlab) return s.dll;
        v = s.rx.length > 0 ? (s.rx.shift() as number) : 0;
        this.refill();
        break;
      case IER: return dlab ? s.dlm : s.ier;
      case IIR_FCR: {
        const id = this.interruptId();
        // Reading IIR while it reports THR empty acknowledges that source.
        if (id === IIR_THR_EMPTY) s.thrPending = false;
        v = id | (this.fifoOn ? 0xc0 : 0);
        break;
      }
      case LCR: return s.lcr;
      case MCR: return s.mcr;
      case LSR:
        v = s.lsr | (this.fifoOn && (s.lsr & LSR_ERRORS) !== 0 ? LSR_FIFO_ERR : 0);
        s.lsr &= ~(LSR_ERRORS | LSR_FIFO_ERR);
        break;
      case MSR:
        v = s.msr;
        s.msr &= 0xf0;
        break;
      case SCR: return s.scr;
      default: return 0xff;
    }
    this.update();
    return v;
  }

  out(port: number, size: 1 | 2 | 4, value: number): void {
    void size;
    const s = this.s;
    const v = value & 0xff;
    const dlab = (s.lcr & LCR_DLAB) !== 0;
    switch (port - this.base) {
      case RBR_THR:
        if (dlab) { s.dll = v; return; }
        s.thrPending = false;
        this.transmit(v);
        break;
      case IER:
        if (dlab) { s.dlm = v; return; }
        // Enabling the THR-empty interrupt with the holding register empty
        // raises it at once (drivers rely on this to start transmission).
        if ((v & IER_THRE) !== 0 && (s.ier & IER_THRE) === 0 && (s.lsr & LSR_THRE) !== 0) s.thrPending = true;
        s.ier = v & 0x0f;
        break;
      case IIR_FCR: {
        const enable = (v & 1) !== 0;
        // Switching FIFO mode on or off empties both FIFOs.
        if (enable !== this.fifoOn || (v & 0x02) !== 0) { s.rx = []; s.lsr &= ~LSR_DR; }
        s.fcr = enable ? v & 0xc9 : 0;
        this.refill();
        break;
      }
      case LCR: {
        const breakOn = (v & 0x40) !== 0;
        // Break in loopback is received as a break condition.
        if (breakOn && (s.mcr & MCR_LOOP) !== 0) s.lsr |= LSR_BI;
        s.lcr = v;
        break;
      }
      case MCR:
        s.mcr = v & 0x1f;
        this.setLines(this.lines());
        break;
      case SCR: s.scr = v; return;
      default: return; // LSR and MSR are read-only
    }
    this.update();
  }

  snapshot(): UartState {
    const s = this.s;
    return { ...s, rx: [...s.rx], hostQueue: [...s.hostQueue] };
  }

  restore(state: UartState): void {
    this.s = { ...state, rx: [...state.rx], hostQueue: [...state.hostQueue] };
  }
}
