// System control port B at 0x61: the PC's wiring of PIT channel 2. Bit 0
// drives channel 2's GATE, bit 1 enables the speaker data (kept, no sound is
// produced), bits 2-3 are the parity/channel check enables (kept); reads add
// the refresh toggle (bit 4) and channel 2's OUT (bit 5). Firmware delay
// loops and Linux's TSC calibration poll these two.

import type { IoDevice } from '../../x86/devices/iobus';
import type { Pit8254 } from './pit';

export const PORT_B = 0x61;
/** The DRAM refresh request toggles every 15.085 µs, about 18 PIT ticks. */
export const REFRESH_PERIOD_TICKS = 18;

export interface PortBState {
  /** Bits 3:0 as last written. */
  control: number;
}

export class SystemControlPortB implements IoDevice {
  private s: PortBState = { control: 0 };

  /** Reset value 0: channel 2's gate is low until the guest sets bit 0. */
  constructor(private readonly pit: Pit8254) {
    pit.setGate(2, false);
  }

  attach(bus: { register(first: number, last: number, device: IoDevice): void }): void {
    bus.register(PORT_B, PORT_B, this);
  }

  in(port: number, size: 1 | 2 | 4): number {
    void port; void size;
    const refresh = Math.floor(this.pit.now / REFRESH_PERIOD_TICKS) & 1;
    return this.s.control | (refresh << 4) | (this.pit.outLevel(2) ? 0x20 : 0);
  }

  out(port: number, size: 1 | 2 | 4, value: number): void {
    void port; void size;
    this.s.control = value & 0x0f;
    this.pit.setGate(2, (value & 1) !== 0);
  }

  snapshot(): PortBState { return { ...this.s }; }
  /** Restores the register; the PIT's gate level is part of the PIT's own state. */
  restore(state: PortBState): void { this.s = { ...state }; }
}
