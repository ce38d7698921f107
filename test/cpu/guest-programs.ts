// Loading and reading back the behavioural guest programs of
// test/fixtures/cpu-conformance (see pm-common.inc for the log layout).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine, type StopInfo } from '../../src/x86/machine';
import { fixturesDir } from './flags-golden';

export const ORG = 0x00100000;
export const LOG = 0x00030000;
export const RESULTS = 0x00020000;
export const STACK0 = 0x00060000;
export const STACK3 = 0x00070000;

export interface LogEntry {
  vector: number;
  error: number;
  eip: number;
  cs: number;
  eflags: number;
  expectedEip: number;
  cr2: number;
  frame: number; // address of the saved EIP on the handler's stack
  esp: number; // saved ESP (interrupts from ring 3)
  ss: number; // saved SS (interrupts from ring 3)
  eax: number;
  id: number; // TRY id, 0 when none was armed
  dr6: number; // DR6 as the handler read it
  handlerDs: number; // DS on entry to the handler
  v86Segments: [number, number, number, number]; // ES DS FS GS of a virtual-8086 frame
  ecx: number; // ECX, ESI, EDI at the fault
  esi: number;
  edi: number;
  handlerEflags: number; // EFLAGS inside the handler
}

export interface GuestRun { m: Machine; stop: StopInfo }

export function programImage(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(fixturesDir, `${name}.bin`)));
}

export function runFlat(name: string, limit = 2_000_000): GuestRun {
  const m = new Machine({ memorySize: 16 << 20 });
  m.loadFlat32(programImage(name), ORG);
  const stop = m.run(limit);
  return { m, stop };
}

export function runBoot(name: string, limit = 1_000_000): GuestRun {
  const m = new Machine({ memorySize: 16 << 20 });
  m.loadBootSector(programImage(name));
  const stop = m.run(limit);
  return { m, stop };
}

export function readLog(m: Machine): LogEntry[] {
  const n = Math.min(m.memory.read32(LOG), 64);
  const entries: LogEntry[] = [];
  for (let i = 0; i < n; i++) {
    const at = LOG + 0x40 + i * 128;
    const d = (k: number): number => m.memory.read32(at + 4 * k) >>> 0;
    entries.push({
      vector: d(0), error: d(1), eip: d(2), cs: d(3), eflags: d(4), expectedEip: d(5), cr2: d(6),
      frame: d(7), esp: d(8), ss: d(9), eax: d(10), id: d(11), dr6: d(12),
      handlerDs: d(13), v86Segments: [d(14), d(15), d(16), d(17)], ecx: d(18), esi: d(19), edi: d(20),
      handlerEflags: d(21),
    });
  }
  return entries;
}

export function result(m: Machine, slot: number): number {
  return m.memory.read32(RESULTS + 4 * slot) >>> 0;
}

export const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;

export function text(bytes: number[]): string {
  return String.fromCharCode(...bytes);
}
