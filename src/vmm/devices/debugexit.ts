// A debug-exit port like QEMU's isa-debug-exit: a guest write ends the run
// with an exit status the host can check. QEMU reports (value << 1) | 1 as
// the process status, so a test guest can never produce a clean 0 by
// accident; the same rule is kept here and the raw value is recorded too.

import type { IoDevice } from '../../x86/devices/iobus';

export const DEBUG_EXIT_PORT = 0x501;

export interface DebugExitState {
  /** The value written, or null while the guest has not asked to exit. */
  value: number | null;
}

export class DebugExit implements IoDevice {
  private s: DebugExitState = { value: null };
  /** Called on the write; the VMM stops the VM here. */
  onExit: ((exitCode: number) => void) | null = null;

  constructor(readonly port = DEBUG_EXIT_PORT, readonly size: 1 | 2 | 4 = 1) {}

  attach(bus: { register(first: number, last: number, device: IoDevice): void }): void {
    bus.register(this.port, this.port + this.size - 1, this);
  }

  get exited(): boolean { return this.s.value !== null; }
  get value(): number | null { return this.s.value; }
  /** The status the host reports: (value << 1) | 1, or null before any exit. */
  get exitCode(): number | null { return this.s.value === null ? null : ((this.s.value << 1) | 1) >>> 0; }

  in(port: number, size: 1 | 2 | 4): number {
    void port;
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
  }

  out(port: number, size: 1 | 2 | 4, value: number): void {
    void port;
    const bits = Math.min(size, this.size) * 8;
    this.s.value = bits === 32 ? value >>> 0 : value & ((1 << bits) - 1);
    this.onExit?.(this.exitCode as number);
  }

  snapshot(): DebugExitState { return { ...this.s }; }
  restore(state: DebugExitState): void { this.s = { ...state }; }
}
