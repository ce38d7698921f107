// Output capture for the ports a guest uses to talk to the outside world:
// COM1 (a minimal 16550 whose transmitter is always empty), LPT1 (never
// busy), the Bochs/QEMU debug port 0xE9 and the POST code port 0x80.

import type { IoBus, IoDevice } from './iobus';

export interface ConsoleCapture { com1: number[]; lpt1: number[]; e9: number[]; post: number[] }

export const COM1 = 0x3f8;
export const LPT1 = 0x378;
export const DEBUG_PORT = 0xe9;
export const POST_PORT = 0x80;

export class ConsoleDevice implements IoDevice {
  readonly capture: ConsoleCapture = { com1: [], lpt1: [], e9: [], post: [] };
  /** 16550 registers that a driver may write and read back (IER, LCR, MCR, SCR, divisor). */
  private uart = { ier: 0, lcr: 0, mcr: 0, scr: 0, dll: 1, dlm: 0 };
  private lptControl = 0x0c;
  onOutput: ((channel: keyof ConsoleCapture, byte: number) => void) | null = null;

  attach(bus: IoBus): void {
    bus.register(COM1, COM1 + 7, this);
    bus.register(LPT1, LPT1 + 2, this);
    bus.register(DEBUG_PORT, DEBUG_PORT, this);
    bus.register(POST_PORT, POST_PORT, this);
  }

  private emit(channel: keyof ConsoleCapture, byte: number): void {
    this.capture[channel].push(byte & 0xff);
    this.onOutput?.(channel, byte & 0xff);
  }

  in(port: number, size: 1 | 2 | 4): number {
    void size;
    const dlab = (this.uart.lcr & 0x80) !== 0;
    switch (port) {
      case COM1: return dlab ? this.uart.dll : 0; // no received data
      case COM1 + 1: return dlab ? this.uart.dlm : this.uart.ier;
      case COM1 + 2: return 0x01; // IIR: no interrupt pending
      case COM1 + 3: return this.uart.lcr;
      case COM1 + 4: return this.uart.mcr;
      case COM1 + 5: return 0x60; // LSR: THR empty, transmitter idle
      case COM1 + 6: return 0xb0; // MSR: DCD, DSR, CTS
      case COM1 + 7: return this.uart.scr;
      case LPT1: return 0;
      case LPT1 + 1: return 0xdf; // status: not busy, selected, no error
      case LPT1 + 2: return this.lptControl;
      case DEBUG_PORT: return 0xe9;
      case POST_PORT: return this.capture.post.length ? this.capture.post[this.capture.post.length - 1] : 0;
      default: return 0xff;
    }
  }

  out(port: number, size: 1 | 2 | 4, value: number): void {
    void size;
    const v = value & 0xff;
    const dlab = (this.uart.lcr & 0x80) !== 0;
    switch (port) {
      case COM1: if (dlab) this.uart.dll = v; else this.emit('com1', v); break;
      case COM1 + 1: if (dlab) this.uart.dlm = v; else this.uart.ier = v & 0x0f; break;
      case COM1 + 3: this.uart.lcr = v; break;
      case COM1 + 4: this.uart.mcr = v & 0x1f; break;
      case COM1 + 7: this.uart.scr = v; break;
      case LPT1: this.emit('lpt1', v); break;
      case LPT1 + 2: this.lptControl = v; break;
      case DEBUG_PORT: this.emit('e9', v); break;
      case POST_PORT: this.emit('post', v); break;
      default: break;
    }
  }

  snapshot(): { capture: ConsoleCapture; uart: { ier: number; lcr: number; mcr: number; scr: number; dll: number; dlm: number }; lptControl: number } {
    return {
      capture: { com1: [...this.capture.com1], lpt1: [...this.capture.lpt1], e9: [...this.capture.e9], post: [...this.capture.post] },
      uart: { ...this.uart },
      lptControl: this.lptControl,
    };
  }

  restore(s: ReturnType<ConsoleDevice['snapshot']>): void {
    for (const k of ['com1', 'lpt1', 'e9', 'post'] as const) {
      this.capture[k].length = 0;
      this.capture[k].push(...s.capture[k]);
    }
    this.uart = { ...s.uart };
    this.lptControl = s.lptControl;
  }
}
