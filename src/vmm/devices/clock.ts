// Converting guest time (retired instructions) into device clocks. The
// ratio is configuration, not measurement: `instructionsPerSecond` says how
// fast the simulated CPU is taken to run, and each device clock (the PIT's
// 1.193182 MHz, the APIC bus) follows from it. The remainder of every
// conversion is carried, so advancing by 1 instruction N times gives exactly
// the ticks of advancing by N once, and runs are reproducible.

export interface ClockState {
  remainder: number;
}

export class ClockDivider {
  private s: ClockState = { remainder: 0 };

  /** Ticks of a `deviceHz` clock per instruction of a CPU running `instructionsPerSecond`. */
  constructor(readonly deviceHz: number, readonly instructionsPerSecond: number) {
    if (!Number.isInteger(deviceHz) || !Number.isInteger(instructionsPerSecond) || deviceHz <= 0 || instructionsPerSecond <= 0)
      throw new RangeError('clock rates must be positive integers');
  }

  /** Device ticks that elapse during `instructions` guest instructions. */
  ticksFor(instructions: number): number {
    // Split so the products stay exact doubles for any realistic count.
    const n = Math.floor(instructions);
    const ips = this.instructionsPerSecond;
    // A clock at the CPU's rate (the APIC bus by default) ticks once per instruction.
    if (this.deviceHz === ips && this.s.remainder === 0) return n;
    // Most calls (a VM exit every few instructions) stay within one device tick: no division.
    if (n < ips) {
      const sum = this.s.remainder + n * this.deviceHz;
      if (sum < ips) {
        this.s.remainder = sum;
        return 0;
      }
    }
    const whole = Math.floor(n / ips) * this.deviceHz;
    const acc = this.s.remainder + (n % ips) * this.deviceHz;
    this.s.remainder = acc % ips;
    return whole + Math.floor(acc / ips);
  }

  snapshot(): ClockState { return { ...this.s }; }
  restore(state: ClockState): void { this.s = { ...state }; }
}
