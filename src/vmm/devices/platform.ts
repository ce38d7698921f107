// The ISA devices of a PC wired together: PIT channel 0 on IRQ 0, channel
// 2's gate on port 0x61, COM1 on IRQ 4, both PICs, the debug-exit port, and the clock that turns retired
// guest instructions into PIT ticks; optionally a virtio console (IRQ 5 by
// default, see docs/vmm-virtio.md). The CPU side is the INTA cycle: when
// the guest can take an external interrupt and none is queued, the PIC is
// acknowledged and its vector handed to `cpu.requestInterrupt`.

import type { Cpu } from '../../x86/cpu/cpu';
import type { IoBus } from '../../x86/devices/iobus';
import type { Machine } from '../../x86/machine';
import type { StopInfo } from '../../x86/cpu/engine';
import { ClockDivider, type ClockState } from './clock';
import { DebugExit, DEBUG_EXIT_PORT, type DebugExitState } from './debugexit';
import { PicPair, type PicPairState } from './pic';
import { Pit8254, PIT_HZ, type PitState } from './pit';
import { SystemControlPortB, type PortBState } from './portb';
import { Uart16550, type UartState } from './uart';
import { VirtioConsole, type VirtioConsoleState } from './virtio/console';
import type { GuestMemoryAccess } from './virtio/ring';

const EFLAGS_IF = 0x200;

export interface PlatformOptions {
  /** How many guest instructions make one second of device time (default 100 million). */
  instructionsPerSecond?: number;
  debugExitPort?: number;
  /** Attach the debug-exit port (default true). */
  debugExit?: boolean;
  onSerialOutput?: (byte: number) => void;
  /** Adds a virtio console (legacy register block at `port`, default 0xC000, on `irq`, default 5). */
  virtioConsole?: {
    port?: number;
    irq?: number;
    /** Guest-physical memory for its rings; can also be connected later through `virtio.memory`. */
    memory?: GuestMemoryAccess;
    onOutput?: (bytes: number[]) => void;
  };
}

export interface PlatformState {
  pic: PicPairState;
  pit: PitState;
  portB: PortBState;
  uart: UartState;
  debugExit: DebugExitState;
  clock: ClockState;
  /** Present only when the platform has a virtio console. */
  virtio?: VirtioConsoleState;
}

export class PcPlatform {
  readonly pic = new PicPair();
  readonly pit = new Pit8254();
  readonly uart = new Uart16550();
  readonly portB = new SystemControlPortB(this.pit);
  readonly debugExit: DebugExit;
  private readonly debugExitAttached: boolean;
  readonly pitClock: ClockDivider;
  /** The virtio console, when `virtioConsole` was given. */
  readonly virtio: VirtioConsole | null = null;

  constructor(options: PlatformOptions = {}) {
    this.debugExit = new DebugExit(options.debugExitPort ?? DEBUG_EXIT_PORT);
    this.debugExitAttached = options.debugExit ?? true;
    this.pitClock = new ClockDivider(PIT_HZ, options.instructionsPerSecond ?? 100_000_000);
    this.pit.sink = this.pic;
    this.uart.sink = this.pic;
    this.uart.onTransmit = options.onSerialOutput ?? null;
    const v = options.virtioConsole;
    if (v !== undefined) {
      this.virtio = new VirtioConsole({ port: v.port, irq: v.irq, memory: v.memory });
      this.virtio.sink = this.pic;
      this.virtio.onOutput = v.onOutput ?? null;
    }
  }

  /** Claims the device ports (COM1 replaces the machine's capture-only console there). */
  attach(bus: IoBus): void {
    this.pic.attach(bus);
    this.pit.attach(bus);
    this.portB.attach(bus);
    this.uart.attach(bus);
    if (this.debugExitAttached) this.debugExit.attach(bus);
    this.virtio?.attach(bus);
  }

  /** Moves device time on by `instructions` retired guest instructions. */
  advance(instructions: number): void {
    this.pit.advance(this.pitClock.ticksFor(instructions));
  }

  /** Runs the INTA cycle into the CPU when it can take an external interrupt now; true if it did. */
  injectInterrupt(cpu: Cpu): boolean {
    if ((cpu.flags & EFLAGS_IF) === 0 || cpu.irqQueue.length > 0 || !this.pic.hasInterrupt()) return false;
    cpu.requestInterrupt(this.pic.acknowledge());
    return true;
  }

  snapshot(): PlatformState {
    return {
      pic: this.pic.snapshot(), pit: this.pit.snapshot(), portB: this.portB.snapshot(), uart: this.uart.snapshot(),
      debugExit: this.debugExit.snapshot(), clock: this.pitClock.snapshot(),
      ...(this.virtio !== null ? { virtio: this.virtio.snapshot() } : {}),
    };
  }

  restore(s: PlatformState): void {
    this.pic.restore(s.pic);
    this.pit.restore(s.pit);
    this.portB.restore(s.portB);
    this.uart.restore(s.uart);
    this.debugExit.restore(s.debugExit);
    this.pitClock.restore(s.clock);
    if (this.virtio !== null && s.virtio !== undefined) this.virtio.restore(s.virtio);
  }
}

/**
 * Runs `machine` with the platform for up to `instructions`, in slices of
 * `slice` instructions between which device time advances and interrupts
 * are injected. A halted CPU lets device time pass a slice at a time. Stops
 * early on the debug-exit port, a triple fault, an error, a breakpoint, or
 * HLT with interrupts disabled (nothing could wake it); at the end of the
 * budget the last slice's stop is returned (`hlt` if the guest sits idle
 * waiting for an interrupt). The result's
 * `instructions` counts all instructions retired over the call.
 */
export function runWithPlatform(machine: Machine, platform: PcPlatform, instructions: number, slice = 1000): StopInfo {
  const cpu = machine.cpu;
  const previous = platform.debugExit.onExit;
  platform.debugExit.onExit = (code) => {
    cpu.requestStop('shutdown', `debug exit, status ${code}`);
    previous?.(code);
  };
  try {
    let used = 0;
    let retired = 0;
    let last: StopInfo = { reason: 'limit', message: 'nothing run', instructions: 0, eip: cpu.eip >>> 0, cs: cpu.seg[1].selector };
    while (used < instructions) {
      platform.injectInterrupt(cpu);
      const budget = Math.min(slice, instructions - used);
      last = machine.run(budget);
      retired += last.instructions;
      const halted = last.reason === 'hlt';
      if (halted && (cpu.flags & EFLAGS_IF) === 0) return { ...last, instructions: retired };
      const elapsed = halted ? budget : last.instructions;
      used += elapsed;
      platform.advance(elapsed);
      if (last.reason !== 'limit' && !halted) return { ...last, instructions: retired };
    }
    return { ...last, instructions: retired };
  } finally {
    platform.debugExit.onExit = previous;
  }
}
