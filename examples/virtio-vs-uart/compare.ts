// Runs the two example guests under the VMM with a PC platform that has both
// the 16550 UART and the virtio console, and collects what the comparison
// needs: console text, exit counts, the virtio counters. No Node built-ins,
// so the same code serves the test and run.ts.

import { assemble, formatDiagnostic } from '../../src/x86/asm/index';
import { IoBus } from '../../src/x86/devices/iobus';
import { PcPlatform } from '../../src/vmm/devices/platform';
import type { VirtioStats } from '../../src/vmm/devices/virtio/index';
import { createVm, type VmStop, type KeyStat } from '../../src/vmm/vtx/index';

export const GUESTS = ['uart.asm', 'virtio.asm'] as const;
export type GuestName = (typeof GUESTS)[number];

export interface GuestRun {
  name: string;
  /** Everything printed on either console device. */
  text: string;
  stop: VmStop;
  instructions: number;
  totalExits: number;
  ioExits: number;
  /** Exits per reason name, e.g. { IO_INSTRUCTION: 12, VMCALL: 1 }. */
  byReason: Record<string, number>;
  /** I/O exits per port and direction, as in the statistics report. */
  ioPorts: KeyStat[];
  virtio: VirtioStats;
}

/** Assembles one example; `readFile` resolves `%include "message.inc"`. */
export function buildExample(name: string, readFile: (path: string) => string | undefined): Uint8Array {
  const source = readFile(name);
  if (source === undefined) throw new Error(`${name}: not found`);
  const r = assemble(source, { fileName: name, readFile });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.bytes;
}

/** Runs a flat32 guest image (org 0x1000) until its shutdown hypercall or the budget ends; `virtio` places the virtio console. */
export function runExample(name: string, image: Uint8Array, maxInstructions = 1_000_000, virtio: { port?: number; irq?: number } = {}): GuestRun {
  const bytes: number[] = [];
  const platform = new PcPlatform({
    onSerialOutput: (b) => bytes.push(b),
    virtioConsole: { ...virtio, onOutput: (out) => { for (const b of out) bytes.push(b); } },
  });
  const bus = new IoBus();
  platform.attach(bus);
  const vm = createVm({ image, bus });
  if (platform.virtio !== null) platform.virtio.memory = vm.machine.memory;
  const stop = vm.run(maxInstructions);
  const report = vm.stats.report();
  const byReason: Record<string, number> = {};
  for (const r of report.reasons) byReason[r.name] = r.count;
  return {
    name, text: bytes.map((b) => String.fromCharCode(b)).join(''), stop, instructions: stop.instructions, totalExits: report.total,
    ioExits: byReason.IO_INSTRUCTION ?? 0, byReason, ioPorts: report.ioPorts,
    virtio: { ...(platform.virtio?.stats ?? ZERO_STATS) },
  };
}

const ZERO_STATS: VirtioStats = { notifications: 0, txBuffers: 0, txBytes: 0, rxBuffers: 0, rxBytes: 0, interrupts: 0, suppressedInterrupts: 0, emergencyBytes: 0 };
