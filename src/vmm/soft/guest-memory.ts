// The VMM's own access to guest-linear memory: it walks the guest's page
// tables in software (GVA → GPA), as a real VMM must, instead of going
// through the processor and its shadow tables. Guest RAM sits at HPA = GPA.

import type { PhysicalMemory } from '../../x86/mmu/memory';
import { translateGva } from '../memory';
import type { VirtualCpuState } from './vcpu-state';

/** A guest #PF the access would raise (errorCode -1: the guest's tables lead outside its RAM). */
export interface GuestFault { ok: false; errorCode: number; address: number }
export type GuestAccessResult = { ok: true; gpa: number } | GuestFault;

export class GuestMemory {
  constructor(private readonly mem: PhysicalMemory, private readonly v: VirtualCpuState, readonly ramSize: number) {}

  /** The guest-physical address of one byte, walking (and, with `update`, marking accessed/dirty) the guest's tables. */
  resolve(linear: number, write: boolean, user: boolean, update = true): GuestAccessResult {
    const w = translateGva({ mem: this.mem }, { cr0: this.v.cr0, cr3: this.v.cr3, cr4: this.v.cr4 }, linear >>> 0, { access: write ? 'write' : 'read', user, update });
    if (w.fault !== null && w.fault.kind === 'page-fault') return { ok: false, errorCode: w.fault.errorCode, address: linear >>> 0 };
    if (w.gpa === null || w.gpa >= this.ramSize) return { ok: false, errorCode: -1, address: linear >>> 0 };
    return { ok: true, gpa: w.gpa };
  }

  read(linear: number, length: number, user = false): Uint8Array | GuestFault {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const r = this.resolve((linear + i) >>> 0, false, user);
      if (!r.ok) return r;
      out[i] = this.mem.read8(r.gpa);
    }
    return out;
  }

  read32(linear: number, user = false): number | GuestFault {
    const b = this.read(linear, 4, user);
    if (!(b instanceof Uint8Array)) return b;
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }

  /** Writes bytes; checks every byte first, so a fault writes nothing. */
  write(linear: number, bytes: readonly number[], user = false): GuestFault | null {
    const targets: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const r = this.resolve((linear + i) >>> 0, true, user);
      if (!r.ok) return r;
      targets.push(r.gpa);
    }
    targets.forEach((gpa, i) => this.mem.write8(gpa, bytes[i]));
    return null;
  }

  write32(linear: number, value: number, user = false): GuestFault | null {
    return this.write(linear, [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff], user);
  }

  /** Reads a physical dword (page-table entries, the guest's GDT entries are linear: use read32). */
  phys32(gpa: number): number {
    return this.mem.read32(gpa >>> 0) >>> 0;
  }
}
