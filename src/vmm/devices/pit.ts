// The 8254 programmable interval timer at 0x40-0x43. Time is the PIT input
// clock (1.193182 MHz on a PC), counted in ticks that the caller passes to
// `advance()`; nothing here reads a wall clock.
//
// Each counter is kept as "count N loaded at tick T": the value and the OUT
// level at any later tick follow from the elapsed ticks, so reads between
// advances are exact and a large advance costs the same as a small one.
// Channel 0's OUT drives IRQ 0 (edge-triggered): every rising edge crossed
// by an advance is one edge at the PIC (several edges within one advance
// merge there, as a PIC that is not acknowledged in time merges them).

import type { IoDevice } from '../../x86/devices/iobus';
import { NO_SINK, type InterruptSink } from './irq';

export const PIT_BASE = 0x40;
export const PIT_CONTROL = 0x43;
/** The PC's PIT input clock in Hz. */
export const PIT_HZ = 1193182;

/** Access modes from control-word bits 5:4. */
const RW_LATCH = 0;
const RW_LSB = 1;
const RW_MSB = 2;
const RW_BOTH = 3;

export interface PitChannelState {
  /** Control-word bits 5:0 (RW, mode, BCD), as the read-back status reports them. */
  control: number;
  mode: number;
  /** Reload value; 0 means 65536. */
  count: number;
  /** Tick at which `count` was loaded into the counting element; -1 while not counting. */
  loadTick: number;
  /**
   * A count written in mode 2/3 while counting takes over at the end of the
   * current period (`nextTick`); in modes 1 and 5 at the next gate trigger
   * (`nextTick` is then Number.MAX_SAFE_INTEGER).
   */
  nextCount: number;
  nextTick: number;
  /** GATE input level. */
  gate: boolean;
  /** Tick at which a low GATE suspended counting, -1 while counting. */
  pauseTick: number;
  /** A count has been written since the control word (modes 1 and 5 wait for a trigger with it). */
  armed: boolean;
  nullCount: boolean;
  /** Low byte of a count whose high byte is still to come (RW = both). */
  writeLow: number;
  writeHigh: boolean;
  readHigh: boolean;
  latch: number;
  /** How many bytes of `latch` are still to be read (0 = not latched). */
  latchBytes: number;
  latchHigh: boolean;
  status: number;
  statusLatched: boolean;
}

export interface PitState {
  now: number;
  channels: PitChannelState[];
  irq0Edges: number;
  /** OUT0 as last signalled to the interrupt line. */
  out0: boolean;
}

function freshChannel(): PitChannelState {
  return {
    control: 0, mode: 0, count: 0, loadTick: -1, nextCount: -1, nextTick: 0, gate: true, pauseTick: -1, armed: false, nullCount: true,
    writeLow: 0, writeHigh: false, readHigh: false, latch: 0, latchBytes: 0, latchHigh: false,
    status: 0, statusLatched: false,
  };
}

const periodic = (mode: number): boolean => mode === 2 || mode === 3;
const triggered = (mode: number): boolean => mode === 1 || mode === 5;
const WAIT_FOR_TRIGGER = Number.MAX_SAFE_INTEGER;

export class Pit8254 implements IoDevice {
  private s: PitState = { now: 0, channels: [freshChannel(), freshChannel(), freshChannel()], irq0Edges: 0, out0: true };
  sink: InterruptSink = NO_SINK;
  /** The PIC line channel 0 drives. */
  irqLine = 0;

  attach(bus: { register(first: number, last: number, device: IoDevice): void }): void {
    bus.register(PIT_BASE, PIT_CONTROL, this);
  }

  /** Current time in PIT ticks. */
  get now(): number { return this.s.now; }
  /** Rising edges of OUT0 so far (each one an IRQ 0 edge). */
  get irq0Edges(): number { return this.s.irq0Edges; }

  channel(i: number): Readonly<PitChannelState> { return this.s.channels[i]; }

  private reload(c: PitChannelState): number { return c.count === 0 ? 0x10000 : c.count; }

  /** Applies a pending mode 2/3 count once its period boundary is reached. */
  private settle(c: PitChannelState, tick: number): void {
    if (c.nextCount >= 0 && c.pauseTick < 0 && tick >= c.nextTick) {
      c.count = c.nextCount;
      c.loadTick = c.nextTick;
      c.nextCount = -1;
      c.nullCount = false;
    }
  }

  /** Counting-element value at `tick`. */
  private valueAt(c: PitChannelState, tick: number): number {
    if (c.loadTick < 0) return c.count;
    const n = this.reload(c);
    const d = this.elapsed(c, tick);
    switch (c.mode) {
      case 2: return (n - (d % n)) & 0xffff;
      case 3: return (n - ((2 * d) % n)) & 0xfffe;
      default: return (n - d) & 0xffff; // 0, 1, 4, 5 keep counting down through zero
    }
  }

  /** Ticks counted since the load; a low GATE freezes it. */
  private elapsed(c: PitChannelState, tick: number): number {
    return (c.pauseTick >= 0 ? c.pauseTick : tick) - c.loadTick;
  }

  /** OUT level at `tick`. */
  private outAt(c: PitChannelState, tick: number): boolean {
    // Without a count loaded OUT is at its initial level: low in mode 0, high
    // otherwise, and high before any control word (control 0 is never stored:
    // RW = 0 is the latch command).
    if (c.loadTick < 0) return c.mode !== 0 || c.control === 0;
    // A low GATE forces OUT high in modes 2 and 3.
    if (periodic(c.mode) && c.pauseTick >= 0) return true;
    const n = this.reload(c);
    const d = this.elapsed(c, tick);
    switch (c.mode) {
      case 0: case 1: return d >= n;
      case 2: return n < 2 || d % n !== n - 1; // low during the count of 1
      case 3: return d % n < (n + 1) >> 1; // high for the first half (the longer one if odd)
      default: return d !== n; // 4 and 5: one low tick at terminal count
    }
  }

  /** Rising edges of OUT in the ticks (from, to], with the count unchanged in between. */
  private edges(c: PitChannelState, from: number, to: number): number {
    if (c.loadTick < 0 || c.pauseTick >= 0 || to <= from) return 0;
    const n = this.reload(c);
    const a = from - c.loadTick;
    const b = to - c.loadTick;
    switch (c.mode) {
      case 2: case 3: return Math.floor(b / n) - Math.floor(Math.max(a, 0) / n);
      case 0: case 1: return a < n && n <= b ? 1 : 0;
      default: return a < n + 1 && n + 1 <= b ? 1 : 0; // 4 and 5
    }
  }

  /** Moves time forward by `ticks` PIT clocks and signals IRQ 0 for OUT0's rising edges. */
  advance(ticks: number): void {
    if (ticks <= 0) return;
    const end = this.s.now + Math.floor(ticks);
    let edges0 = 0;
    this.s.channels.forEach((c, i) => {
      let t = this.s.now;
      // Split at a pending count change so each piece has one reload value.
      if (c.nextCount >= 0 && c.pauseTick < 0 && c.nextTick <= end) {
        const e = this.edges(c, t, c.nextTick);
        if (i === 0) edges0 += e;
        t = c.nextTick;
        this.settle(c, t);
      }
      const e = this.edges(c, t, end);
      if (i === 0) edges0 += e;
    });
    this.s.now = end;
    if (edges0 > 0) {
      // OUT went low and back high at least once inside this advance.
      this.s.irq0Edges += edges0;
      this.sink.lowerIrq(this.irqLine);
      this.sink.raiseIrq(this.irqLine);
      this.s.out0 = true;
    }
    this.driveOut0();
  }

  private writeControl(v: number): void {
    const sel = v >> 6;
    if (sel === 3) {
      this.readBack(v);
      return;
    }
    const c = this.s.channels[sel];
    this.settle(c, this.s.now);
    const rw = (v >> 4) & 3;
    if (rw === RW_LATCH) {
      if (c.latchBytes === 0) this.latchCount(c);
      return;
    }
    c.control = v & 0x3f;
    c.mode = (v >> 1) & 7;
    if (c.mode > 5) c.mode &= 3; // modes 6 and 7 alias 2 and 3
    c.loadTick = -1;
    c.nextCount = -1;
    c.pauseTick = -1;
    c.armed = false;
    c.nullCount = true;
    c.writeHigh = false;
    c.readHigh = false;
    c.latchBytes = 0;
    c.statusLatched = false;
    if (sel === 0) this.driveOut0();
  }

  private latchCount(c: PitChannelState): void {
    c.latch = this.valueAt(c, this.s.now);
    const rw = (c.control >> 4) & 3;
    c.latchBytes = rw === RW_BOTH ? 2 : 1;
    c.latchHigh = rw === RW_MSB;
  }

  /** Read-back command: bit 5 clear latches counts, bit 4 clear latches status, bits 3:1 select counters. */
  private readBack(v: number): void {
    for (let i = 0; i < 3; i++) {
      if ((v & (2 << i)) === 0) continue;
      const c = this.s.channels[i];
      this.settle(c, this.s.now);
      if ((v & 0x20) === 0 && c.latchBytes === 0) this.latchCount(c);
      if ((v & 0x10) === 0 && !c.statusLatched) {
        c.status = (this.outAt(c, this.s.now) ? 0x80 : 0) | (c.nullCount ? 0x40 : 0) | c.control;
        c.statusLatched = true;
      }
    }
  }

  private writeCount(i: number, v: number): void {
    const c = this.s.channels[i];
    this.settle(c, this.s.now);
    const rw = (c.control >> 4) & 3;
    let value: number;
    if (rw === RW_LSB) value = v;
    else if (rw === RW_MSB) value = v << 8;
    else if (!c.writeHigh) {
      c.writeLow = v;
      c.writeHigh = true;
      // Mode 0 stops counting when the first byte of a new count is written.
      if (c.mode === 0 && c.loadTick >= 0) { c.count = this.valueAt(c, this.s.now); c.loadTick = -1; c.pauseTick = -1; }
      c.nullCount = true;
      return;
    } else {
      c.writeHigh = false;
      value = c.writeLow | (v << 8);
    }
    c.armed = true;
    if (triggered(c.mode)) {
      // Modes 1 and 5 load the count at the next rising edge of GATE.
      if (c.loadTick >= 0) { c.nextCount = value; c.nextTick = WAIT_FOR_TRIGGER; } else c.count = value;
      c.nullCount = true;
      return;
    }
    if (periodic(c.mode) && c.loadTick >= 0) {
      // A new count in a running mode 2/3 counter starts with the next period
      // (or with the reload by GATE while it is suspended).
      const n = this.reload(c);
      const d = this.elapsed(c, this.s.now);
      c.nextCount = value;
      c.nextTick = c.pauseTick >= 0 ? WAIT_FOR_TRIGGER : c.loadTick + (Math.floor(d / n) + 1) * n;
      c.nullCount = true;
      return;
    }
    c.count = value;
    c.loadTick = this.s.now;
    // With GATE low the count is loaded but does not run yet.
    c.pauseTick = c.gate ? -1 : this.s.now;
    c.nullCount = false;
    if (i === 0) this.driveOut0();
  }

  /**
   * Sets the GATE input of counter `i`. Low suspends counting in modes 0, 2,
   * 3, 4 (forcing OUT high in 2 and 3); a rising edge resumes modes 0 and 4,
   * reloads modes 2 and 3, and triggers modes 1 and 5.
   */
  setGate(i: number, high: boolean): void {
    const c = this.s.channels[i];
    this.settle(c, this.s.now);
    if (high === c.gate) return;
    c.gate = high;
    const now = this.s.now;
    if (!high) {
      if (!triggered(c.mode) && c.loadTick >= 0) c.pauseTick = now;
    } else if (c.mode === 0 || c.mode === 4) {
      if (c.pauseTick >= 0) { c.loadTick += now - c.pauseTick; c.pauseTick = -1; }
    } else if (c.armed) {
      if (c.nextCount >= 0) { c.count = c.nextCount; c.nextCount = -1; }
      c.loadTick = now;
      c.pauseTick = -1;
      c.nullCount = false;
    }
    if (i === 0) this.driveOut0();
  }

  /** OUT level of counter `i` now. */
  outLevel(i: number): boolean {
    const c = this.s.channels[i];
    this.settle(c, this.s.now);
    return this.outAt(c, this.s.now);
  }

  /** Signals OUT0 changes only, so the line starts without a spurious edge. */
  private driveOut0(): void {
    const out = this.outAt(this.s.channels[0], this.s.now);
    if (out === this.s.out0) return;
    this.s.out0 = out;
    if (out) this.sink.raiseIrq(this.irqLine); else this.sink.lowerIrq(this.irqLine);
  }

  private readCount(i: number): number {
    const c = this.s.channels[i];
    this.settle(c, this.s.now);
    if (c.statusLatched) {
      c.statusLatched = false;
      return c.status;
    }
    if (c.latchBytes > 0) {
      const byte = c.latchHigh ? c.latch >> 8 : c.latch & 0xff;
      c.latchBytes--;
      c.latchHigh = !c.latchHigh;
      return byte & 0xff;
    }
    const value = this.valueAt(c, this.s.now);
    const rw = (c.control >> 4) & 3;
    if (rw === RW_LSB) return value & 0xff;
    if (rw === RW_MSB) return value >> 8;
    const high = c.readHigh;
    c.readHigh = !high;
    return high ? value >> 8 : value & 0xff;
  }

  in(port: number, size: 1 | 2 | 4): number {
    void size;
    const i = port - PIT_BASE;
    return i >= 0 && i < 3 ? this.readCount(i) : 0xff; // the control port is write-only
  }

  out(port: number, size: 1 | 2 | 4, value: number): void {
    void size;
    const i = port - PIT_BASE;
    if (i === 3) this.writeControl(value & 0xff);
    else if (i >= 0 && i < 3) this.writeCount(i, value & 0xff);
  }

  snapshot(): PitState {
    return { ...this.s, channels: this.s.channels.map((c) => ({ ...c })) };
  }

  restore(state: PitState): void {
    this.s = { ...state, channels: state.channels.map((c) => ({ ...c })) };
  }
}
