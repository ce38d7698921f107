// A VM's memory as the VMM sees it: the slots (guest RAM at GPA 0 plus any
// configured RAM, ROM and MMIO ranges), the host region the VMM keeps for
// its own structures, and the second-level translation in force: EPT,
// shadow paging, or none. The Vm delegates memory set-up, the EPT exit stop,
// MMIO registration, translate() and the memory part of snapshots here.

import type { Machine, StopInfo } from '../../x86/machine';
import { Ept, HostAllocator, MemorySlots, SlotError, translateGva, type GvaWalk, type GuestAccess, type MmioSlot } from '../memory';
import type { ExitHandler } from './handlers';
import type { ExitAction, Vcpu } from './vcpu';
import { EptPaging } from './paging-ept';
import { ShadowPaging, type ShadowState } from './paging-shadow';
import type { MmioDevice } from './mmio';

export type PagingMode = 'ept' | 'shadow' | 'none';

/** A guest-physical range beyond the RAM at GPA 0. */
export interface VmSlotOption {
  name: string;
  /** 'ram' and 'rom' get host memory from the VMM's region ('rom' is mapped without write); 'mmio' has no backing. */
  kind: 'ram' | 'rom' | 'mmio';
  gpa: number;
  size: number;
}

export interface VmMemoryOptions {
  /**
   * Named guest-physical ranges. Inside the RAM at GPA 0 a 'ram'/'rom' slot
   * keeps that RAM (ROM read-only) and an 'mmio' slot makes a hole; above it
   * 'ram'/'rom' get host memory from the VMM's region. They may not overlap
   * each other or cross the end of RAM.
   */
  slots?: readonly VmSlotOption[];
  /**
   * EPT mode: leave RAM unmapped at creation and map it on demand, one
   * 2 MiB (or 4 KiB) region per EPT violation. Default false: every RAM and
   * ROM slot is mapped when the VM is created, so RAM never exits.
   */
  eptMapOnDemand?: boolean;
  /** EPT mode: EPTP bit 6, accessed and dirty flags in the EPT (default false). */
  eptAccessedDirty?: boolean;
  /** Bytes of host memory kept for the VMM's structures (EPT and shadow tables), default 16 MiB. */
  reservedSize?: number;
}

const PAGE = 0x1000;
const LARGE = 0x200000;
export const DEFAULT_RESERVED = 16 << 20;
const DEFAULT_RAM = 256 << 20;

const roundUp = (n: number, a: number): number => Math.ceil(n / a) * a;
export const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** Where things are in host-physical memory. */
export interface MemoryLayout {
  /** Guest RAM at GPA 0 (identity: HPA = GPA). */
  ramSize: number;
  /** The VMM's region [hostBase, hostLimit): EPT pages, shadow tables, extra RAM/ROM slots. */
  hostBase: number;
  hostLimit: number;
}

export function memoryLayout(memorySize: number | undefined, opts: VmMemoryOptions = {}): MemoryLayout {
  const ramSize = roundUp(memorySize ?? DEFAULT_RAM, PAGE);
  const hostBase = roundUp(ramSize, LARGE);
  let reserved = roundUp(opts.reservedSize ?? DEFAULT_RESERVED, PAGE);
  for (const s of opts.slots ?? []) if (s.kind !== 'mmio' && s.gpa >= ramSize) reserved += roundUp(s.size, LARGE) + LARGE;
  return { ramSize, hostBase, hostLimit: hostBase + reserved };
}

/** What the VMM counted while virtualizing memory. */
export interface MemoryCounters {
  /** EPT violations that mapped RAM on demand, and the bytes they mapped. */
  eptOnDemandMaps: number;
  eptOnDemandBytes: number;
  /** Shadow paging: guest page faults the VMM fixed by filling a shadow PTE. */
  shadowFills: number;
  /** Shadow paging: page faults reflected to the guest (its own tables do not allow the access). */
  shadowReflected: number;
  shadowInvlpg: number;
  shadowCr3Loads: number;
  mmioReads: number;
  mmioWrites: number;
}

/** translate() result: the walk, with the mode and the guest control registers it used. */
export interface VmTranslation extends GvaWalk {
  mode: PagingMode;
  vcpu: number;
  /** The guest's own CR0/CR3/CR4 (read shadows and virtual CR3 under shadow paging). */
  regs: { cr0: number; cr3: number; cr4: number };
}

export interface TranslateOptions {
  access?: GuestAccess;
  user?: boolean;
}

export class VmMemory {
  readonly layout: MemoryLayout;
  readonly slots: MemorySlots;
  readonly alloc: HostAllocator;
  readonly devices = new Map<string, MmioDevice>();
  readonly counters: MemoryCounters = { eptOnDemandMaps: 0, eptOnDemandBytes: 0, shadowFills: 0, shadowReflected: 0, shadowInvlpg: 0, shadowCr3Loads: 0, mmioReads: 0, mmioWrites: 0 };
  readonly ept: EptPaging | null = null;
  readonly shadow: ShadowPaging | null = null;

  constructor(readonly machine: Machine, readonly mode: PagingMode, layout: MemoryLayout, opts: VmMemoryOptions, realMode: boolean) {
    this.layout = layout;
    const mem = machine.memory;
    this.alloc = new HostAllocator(mem, layout.hostBase, layout.hostLimit);
    this.slots = new MemorySlots(mem.size);
    this.addSlots(layout.ramSize, opts.slots ?? []);
    if (mode === 'ept') this.ept = new EptPaging(this, new Ept(mem, this.alloc, { accessedDirty: opts.eptAccessedDirty === true }), opts.eptMapOnDemand === true);
    else if (realMode) {
      throw new Error(`paging "${mode}" cannot run a real-mode guest: real mode in VMX non-root operation needs "unrestricted guest", which requires EPT (use paging "ept")`);
    }
    if (mode === 'shadow') this.shadow = new ShadowPaging(this);
  }

  /**
   * Guest RAM at [0, ramSize) with HPA = GPA, except where a configured slot
   * lies: a 'ram' or 'rom' slot there keeps the identity host memory (ROM
   * read-only), an 'mmio' slot makes a hole. The pieces of RAM around them
   * are slots "ram", "ram.1", … Slots above RAM get host memory from the VMM's region.
   */
  private addSlots(ramSize: number, extra: readonly VmSlotOption[]): void {
    const sized = extra.map((s) => ({ ...s, size: roundUp(s.size, PAGE) })).sort((a, b) => a.gpa - b.gpa);
    let cursor = 0;
    let piece = 0;
    const ram = (end: number): void => {
      if (end > cursor) this.slots.addRam({ name: piece === 0 ? 'ram' : `ram.${piece}`, gpa: cursor, size: end - cursor, hpa: cursor });
      if (end > cursor) piece++;
    };
    for (const s of sized) {
      if (s.gpa < ramSize && s.gpa + s.size > ramSize) {
        throw new SlotError(`slot "${s.name}" [${hex(s.gpa)}, ${hex(s.gpa + s.size)}) crosses the end of guest RAM (${hex(ramSize)})`);
      }
      if (s.gpa >= ramSize) continue;
      ram(s.gpa);
      if (s.kind === 'mmio') this.slots.addMmio({ name: s.name, gpa: s.gpa, size: s.size });
      else this.slots.addRam({ name: s.name, gpa: s.gpa, size: s.size, hpa: s.gpa, readOnly: s.kind === 'rom' });
      cursor = Math.max(cursor, s.gpa + s.size);
    }
    ram(ramSize);
    for (const s of sized) {
      if (s.gpa < ramSize) continue;
      if (s.kind === 'mmio') this.slots.addMmio({ name: s.name, gpa: s.gpa, size: s.size });
      else this.slots.addRamFrom(this.alloc, { name: s.name, gpa: s.gpa, size: s.size, readOnly: s.kind === 'rom' });
    }
  }

  /** VMCS settings of the paging mode, before the VM's `configure` callback. */
  setupVcpu(vcpu: Vcpu): void {
    if (this.mode !== 'ept') vcpu.setControl('secondary', 'UNRESTRICTED_GUEST', false);
    this.ept?.setupVcpu(vcpu);
    this.shadow?.setupVcpu(vcpu);
  }

  /** After `configure`: bits the mode cannot work without are forced back on; the EPT goes under the CPU. */
  finishVcpu(vcpu: Vcpu): void {
    this.ept?.finishVcpu(vcpu);
    this.shadow?.finishVcpu(vcpu);
  }

  /** Exit handlers of the mode, merged over the defaults (a VM's own `handlers` option still wins). */
  handlers(base: Readonly<Partial<Record<number, ExitHandler>>>): Partial<Record<number, ExitHandler>> {
    return { ...(this.ept?.handlers() ?? {}), ...(this.shadow?.handlers(base) ?? {}) };
  }

  /** A CPU 'vmexit' stop (an EPT violation or misconfiguration) as a VM exit; null when it is not one. */
  vmexitStop(vcpu: Vcpu, s: StopInfo): ExitAction | null {
    return this.ept?.vmexitStop(vcpu, s) ?? null;
  }

  /** Registers an MMIO device: a slot with no backing whose accesses are emulated. */
  mapMmio(name: string, gpa: number, size: number, device: MmioDevice): MmioSlot {
    if (this.mode === 'none') throw new Error(`MMIO device "${name}" needs paging "ept" or "shadow": with "none" the guest reaches host memory directly`);
    const slot = this.slots.addMmio({ name, gpa, size: roundUp(size, PAGE) });
    this.devices.set(name, device);
    this.ept?.unmapMmio(slot);
    return slot;
  }

  /** The guest's own control registers (what it would read with MOV from CRn). */
  guestRegs(vcpu: Vcpu): { cr0: number; cr3: number; cr4: number } {
    if (this.shadow !== null) return this.shadow.guestRegs(vcpu);
    const c = vcpu.cpu;
    return { cr0: c.cr0 >>> 0, cr3: c.cr3 >>> 0, cr4: (c.cr4 & ~0x2000) >>> 0 };
  }

  /**
   * The full walk of a guest-virtual address on one vCPU: every guest
   * paging-structure entry with its GPA and HPA, the EPT walk of each and
   * of the final GPA (EPT mode), the shadow entries the processor really
   * uses (shadow mode), and the fault the access would raise. Side-effect free.
   */
  translate(vcpu: Vcpu, gva: number, opts: TranslateOptions = {}): VmTranslation {
    const regs = this.guestRegs(vcpu);
    const target = { mem: this.machine.memory, ept: this.ept?.tables ?? null, slots: this.mode === 'none' ? null : this.slots };
    const walk = translateGva(target, regs, gva, { access: opts.access ?? 'read', user: opts.user === true });
    const out: VmTranslation = { ...walk, mode: this.mode, vcpu: vcpu.index, regs };
    if (this.shadow !== null) out.shadow = this.shadow.view(vcpu, walk);
    return out;
  }

  /** Reads guest-linear bytes (an instruction) through the guest's paging and the slots; null when unreachable. */
  readLinear(vcpu: Vcpu, linear: number, length: number): Uint8Array | null {
    const out = new Uint8Array(length);
    const mem = this.machine.memory;
    for (let i = 0; i < length;) {
      const w = this.translate(vcpu, (linear + i) >>> 0, { access: 'fetch' });
      if (w.hpa === null) return i === 0 ? null : out.subarray(0, i);
      const n = Math.min(length - i, PAGE - ((linear + i) & 0xfff));
      for (let k = 0; k < n; k++) out[i + k] = mem.read8(w.hpa + k);
      i += n;
    }
    return out;
  }

  snapshot(): MemoryState {
    return {
      mode: this.mode,
      allocator: this.alloc.state(),
      counters: { ...this.counters },
      slots: this.slots.list().map((s) => ({ ...s })),
      onDemand: this.ept?.onDemand.map((r) => ({ ...r })) ?? [],
      shadow: this.shadow?.snapshot() ?? null,
    };
  }

  restore(state: unknown): void {
    const s = state as MemoryState;
    if (s.mode !== this.mode) throw new Error(`memory snapshot is for paging "${s.mode}", this VM uses "${this.mode}"`);
    const names = (list: readonly { name: string }[]): string => list.map((x) => x.name).join(',');
    if (names(s.slots) !== names(this.slots.list())) throw new Error(`memory snapshot has slots ${names(s.slots)}, this VM has ${names(this.slots.list())}`);
    this.alloc.setState(s.allocator);
    Object.assign(this.counters, s.counters);
    if (this.ept !== null) this.ept.onDemand.splice(0, this.ept.onDemand.length, ...s.onDemand);
    if (this.shadow !== null && s.shadow !== null) this.shadow.restore(s.shadow);
    for (const p of this.machine.processors) p.cpu.flushTlb();
    this.machine.cpu.flushTlb();
  }
}

/** The memory part of a whole-VM snapshot (plain JSON; the tables themselves live in machine memory). */
export interface MemoryState {
  mode: PagingMode;
  allocator: { next: number; free: number[] };
  counters: MemoryCounters;
  slots: { name: string; kind: string; gpa: number; size: number }[];
  onDemand: { gpa: number; size: number }[];
  shadow: ShadowState | null;
}
