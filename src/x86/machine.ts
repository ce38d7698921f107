// The whole guest machine: CPU, sparse physical memory, port-I/O bus with
// the console capture device, MSRs, and the loaders for the three start
// states (boot sector, flat 32-bit image, BIOS ROM).

import { fromBase64, toBase64 } from './base64';
import { ConsoleDevice, type ConsoleCapture } from './devices/console';
import { IoBus } from './devices/iobus';
import { MsrSpace } from './devices/msr';
import { PhysicalMemory } from './mmu/memory';
import { Cpu, CS, DS, ES, FS, GS, SS, REG_NAMES } from './cpu/cpu';
import { Engine, type StopInfo, type StopReason } from './cpu/engine';
import type { SegmentCache } from './cpu/segment';

export type { StopInfo, StopReason, ConsoleCapture };

/** Where the firmware's default IRET lives (F000:FF53, as in the IBM PC BIOS). */
export const FIRMWARE_IRET_SEG = 0xf000;
export const FIRMWARE_IRET_OFF = 0xff53;
/** Flat32 start: the GDT the loader installs (null, code 0x08, data 0x10). */
export const FLAT_GDT_BASE = 0x500;

export interface MachineStateSummary {
  eax: number; ecx: number; edx: number; ebx: number; esp: number; ebp: number; esi: number; edi: number;
  eip: number; eflags: number;
  cs: number; ds: number; es: number; fs: number; gs: number; ss: number;
  cr0: number; cr2: number; cr3: number; cr4: number;
  cpl: number;
  mode: 'real' | 'protected' | 'v86';
}

export interface CpuSnapshot {
  regs: number[];
  eip: number;
  eflags: number;
  segs: SegmentCache[];
  ldtr: SegmentCache;
  tr: SegmentCache;
  gdtr: { base: number; limit: number };
  idtr: { base: number; limit: number };
  cr: [number, number, number, number];
  dr: number[];
  xcr0: number;
  cpl: number;
  halted: boolean;
  shadow: boolean;
  nmiBlocked: boolean;
  nmiPending: boolean;
  irqQueue: number[];
  icount: number;
  tscOffset: string;
  /** MOV SS / POP SS blocking for the next instruction. */
  ssShadow?: boolean;
}

export interface MachineSnapshot {
  version: 1;
  memorySize: number;
  cpu: CpuSnapshot;
  /** Touched pages: page number, ROM flag, base64 contents. */
  pages: { page: number; rom: boolean; data: string }[];
  msrs: Record<string, string>;
  console: ReturnType<ConsoleDevice['snapshot']>;
  /** TLB contents as [linear page, entry] pairs: a stale translation must survive a restore. */
  tlb?: [number, number][];
  /** The processors added with `addProcessor`, in order. */
  processors?: ProcessorSnapshot[];
}

/** An added processor: its CPU state, its own MSRs and its TLB. */
export interface ProcessorSnapshot {
  cpu: CpuSnapshot;
  msrs: Record<string, string>;
  tlb: [number, number][];
}

export class Machine {
  readonly memory: PhysicalMemory;
  readonly io = new IoBus();
  readonly msrs = new MsrSpace();
  readonly cpu: Cpu;
  readonly consoleDevice = new ConsoleDevice();
  readonly console: ConsoleCapture;
  readonly engine: Engine;

  constructor(options: { memorySize?: number } = {}) {
    this.memory = new PhysicalMemory(options.memorySize ?? 256 * 1024 * 1024);
    this.consoleDevice.attach(this.io);
    this.console = this.consoleDevice.capture;
    this.cpu = new Cpu(this.memory, this.io, this.msrs);
    this.engine = new Engine(this.cpu);
    this.resetCpu();
  }

  get instructionCount(): number { return this.cpu.icount; }

  /** Processors added after the first (by a VMM running several vCPUs); they share memory and ports. */
  readonly processors: { cpu: Cpu; engine: Engine }[] = [];

  /**
   * Adds another processor on the same physical memory and port bus, in the
   * power-on state, with its own MSRs, TLB and compiled-code cache. Stores
   * by any processor invalidate code compiled by all of them.
   */
  addProcessor(): { cpu: Cpu; engine: Engine } {
    const cpu = new Cpu(this.memory, this.io, new MsrSpace());
    const engine = new Engine(cpu);
    Machine.powerOn(cpu);
    cpu.mmu.flush(true);
    cpu.modeChanged();
    const p = { cpu, engine };
    this.processors.push(p);
    return p;
  }

  /** Power-on state: real mode, CS=F000 with base FFFF0000, IP=FFF0. */
  private resetCpu(): void {
    Machine.powerOn(this.cpu);
    this.dropDerivedState();
  }

  private static powerOn(c: Cpu): void {
    c.r.fill(0);
    c.r[2] = 0x6f1; // processor signature, as after RESET
    c.flags = 2; c.lop = 0;
    c.cr0 = 0x60000010; c.cr2 = 0; c.cr3 = 0; c.cr4 = 0;
    c.dr.splice(0, 8, 0, 0, 0, 0, 0xffff0ff0, 0x400, 0xffff0ff0, 0x400);
    c.xcr0 = 1;
    for (let s = 0; s < 6; s++) c.seg[s].set(0, 0, 0xffff, 0x93);
    c.seg[CS].set(0xf000, 0xffff0000, 0xffff, 0x9b);
    c.ldtr.set(0, 0, 0xffff, 0x82);
    c.tr.set(0, 0, 0xffff, 0x8b);
    c.gdtr = { base: 0, limit: 0xffff };
    c.idtr = { base: 0, limit: 0x3ff };
    c.eip = 0xfff0;
    c.setCpl(0);
    c.halted = false; c.shadow = false; c.nmiBlocked = false; c.nmiPending = false;
    c.irqQueue.length = 0;
    c.icount = 0;
    c.tscOffset = 0n;
  }

  private resetAll(): void {
    this.memory.reset();
    this.msrs.reset();
    this.consoleDevice.restore({ capture: { com1: [], lpt1: [], e9: [], post: [] }, uart: { ier: 0, lcr: 0, mcr: 0, scr: 0, dll: 1, dlm: 0 }, lptControl: 0x0c });
    this.resetCpu();
  }

  /**
   * Real mode with a minimal firmware: every IVT vector points to an
   * IRET at F000:FF53, the BIOS data area is zero, the image is at 0x7C00,
   * CS:IP = 0000:7C00, DL = 0x80 (boot drive), SS:SP = 0000:7C00, IF = 1.
   */
  loadBootSector(image: Uint8Array): void {
    this.resetAll();
    const m = this.memory;
    for (let v = 0; v < 256; v++) {
      m.write16(v * 4, FIRMWARE_IRET_OFF);
      m.write16(v * 4 + 2, FIRMWARE_IRET_SEG);
    }
    m.write8(FIRMWARE_IRET_SEG * 16 + FIRMWARE_IRET_OFF, 0xcf);
    m.load(0x7c00, image);
    const c = this.cpu;
    c.r.fill(0);
    c.r[2] = 0x80;
    c.r[4] = 0x7c00;
    c.seg[CS].set(0, 0, 0xffff, 0x9b);
    c.eip = 0x7c00;
    c.flags = 0x202;
    c.modeChanged();
  }

  /** Flat 4 GiB segments, 32-bit, CPL 0, paging off, EIP = org. */
  loadFlat32(image: Uint8Array, org: number): void {
    this.resetAll();
    const m = this.memory;
    m.load(org >>> 0, image);
    const end = org + image.length;
    const c = this.cpu;
    if (org > FLAT_GDT_BASE + 0x18 || end <= FLAT_GDT_BASE) {
      m.write32(FLAT_GDT_BASE, 0); m.write32(FLAT_GDT_BASE + 4, 0);
      m.write32(FLAT_GDT_BASE + 8, 0x0000ffff); m.write32(FLAT_GDT_BASE + 12, 0x00cf9b00);
      m.write32(FLAT_GDT_BASE + 16, 0x0000ffff); m.write32(FLAT_GDT_BASE + 20, 0x00cf9300);
    }
    c.gdtr = { base: FLAT_GDT_BASE, limit: 0x17 };
    c.idtr = { base: 0, limit: 0 };
    c.cr0 = 0x60000011;
    c.seg[CS].set(0x08, 0, 0xffffffff, 0xc09b);
    for (const s of [DS, ES, FS, GS, SS]) c.seg[s].set(0x10, 0, 0xffffffff, 0xc093);
    c.tr.set(0, 0, 0, 0x8b);
    c.r.fill(0);
    const stackTop = 0x80000;
    c.r[4] = org < stackTop && end > stackTop - 0x1000 ? ((end + 0x10000 + 15) & ~15) >>> 0 : stackTop;
    c.eip = org >>> 0;
    c.flags = 2;
    c.setCpl(0);
    c.modeChanged();
  }

  /** A 64 or 128 KiB BIOS image, mapped to end at 0xFFFFF and at 0xFFFFFFFF; starts at the reset vector. */
  loadRom(image: Uint8Array): void {
    if (image.length !== 0x10000 && image.length !== 0x20000) throw new Error(`ROM image must be 64 or 128 KiB, got ${image.length} bytes`);
    this.resetAll();
    this.memory.mapRom(0x100000 - image.length, image);
    this.memory.mapRom(0x100000000 - image.length, image);
  }

  run(maxInstructions: number): StopInfo {
    return this.engine.run(Math.max(0, Math.floor(maxInstructions)));
  }

  step(): StopInfo {
    return this.engine.run(1, true);
  }

  addBreakpoint(linear: number): void {
    this.engine.breakpoints.add(linear >>> 0);
    this.engine.flush();
  }
  removeBreakpoint(linear: number): void {
    this.engine.breakpoints.delete(linear >>> 0);
    this.engine.flush();
  }
  clearBreakpoints(): void {
    this.engine.breakpoints.clear();
    this.engine.flush();
  }

  state(): MachineStateSummary {
    const c = this.cpu;
    return {
      eax: c.eax, ecx: c.ecx, edx: c.edx, ebx: c.ebx, esp: c.esp, ebp: c.ebp, esi: c.esi, edi: c.edi,
      eip: c.eip >>> 0, eflags: c.eflags,
      cs: c.seg[CS].selector, ds: c.seg[DS].selector, es: c.seg[ES].selector,
      fs: c.seg[FS].selector, gs: c.seg[GS].selector, ss: c.seg[SS].selector,
      cr0: c.cr0 >>> 0, cr2: c.cr2 >>> 0, cr3: c.cr3 >>> 0, cr4: c.cr4 >>> 0,
      cpl: c.cpl,
      mode: c.mode,
    };
  }

  /** After the CPU state is replaced wholesale: forget everything derived from the old state (TLB, compiled blocks, debug-register caches). */
  private dropDerivedState(): void {
    Machine.dropDerived(this.cpu, this.engine);
  }

  private static dropDerived(c: Cpu, engine: Engine): void {
    c.stopRequest = null;
    c.dbPending = 0;
    c.updateDebug();
    c.mmu.flush(true);
    c.modeChanged();
    engine.flush();
  }

  snapshot(): MachineSnapshot {
    return {
      version: 1,
      memorySize: this.memory.size,
      cpu: Machine.cpuSnapshot(this.cpu),
      pages: this.memory.touchedPages().map(([page, data, rom]) => ({ page, rom, data: toBase64(data) })),
      msrs: this.msrs.snapshot(),
      console: this.consoleDevice.snapshot(),
      tlb: this.cpu.mmu.tlbEntries(),
      ...(this.processors.length > 0 ? { processors: this.processors.map((p) => ({ cpu: Machine.cpuSnapshot(p.cpu), msrs: p.cpu.msrs.snapshot(), tlb: p.cpu.mmu.tlbEntries() })) } : {}),
    };
  }

  private static cpuSnapshot(c: Cpu): CpuSnapshot {
    return {
      regs: REG_NAMES.map((n) => c.reg(n)),
      eip: c.eip >>> 0,
      eflags: c.eflags,
      segs: c.seg.map((s) => s.toJSON()),
      ldtr: c.ldtr.toJSON(),
      tr: c.tr.toJSON(),
      gdtr: { ...c.gdtr },
      idtr: { ...c.idtr },
      cr: [c.cr0 >>> 0, c.cr2 >>> 0, c.cr3 >>> 0, c.cr4 >>> 0],
      dr: c.dr.map((v) => v >>> 0),
      xcr0: c.xcr0,
      cpl: c.cpl,
      halted: c.halted,
      shadow: c.shadow,
      nmiBlocked: c.nmiBlocked,
      nmiPending: c.nmiPending,
      irqQueue: [...c.irqQueue],
      icount: c.icount,
      tscOffset: c.tscOffset.toString(),
      ssShadow: c.ssShadow,
    };
  }

  /** Restores memory, devices and every processor; a snapshot with added processors needs as many here. */
  restore(s: MachineSnapshot): void {
    if (s.version !== 1) throw new Error(`unknown snapshot version ${String(s.version)}`);
    const extra = s.processors ?? [];
    if (extra.length !== this.processors.length) throw new Error(`snapshot has ${extra.length + 1} processors, this machine ${this.processors.length + 1}`);
    this.memory.reset();
    for (const p of s.pages) this.memory.setPage(p.page, fromBase64(p.data), p.rom);
    this.msrs.restore(s.msrs);
    this.consoleDevice.restore(s.console);
    Machine.restoreCpu(this.cpu, s.cpu);
    this.dropDerivedState();
    if (s.tlb !== undefined) this.cpu.mmu.setTlbEntries(s.tlb);
    extra.forEach((k, i) => {
      const p = this.processors[i];
      p.cpu.msrs.restore(k.msrs);
      Machine.restoreCpu(p.cpu, k.cpu);
      Machine.dropDerived(p.cpu, p.engine);
      p.cpu.mmu.setTlbEntries(k.tlb);
    });
  }

  private static restoreCpu(c: Cpu, k: CpuSnapshot): void {
    k.regs.forEach((v, i) => { c.r[i] = v; });
    c.eip = k.eip;
    c.flags = k.eflags; c.lop = 0;
    k.segs.forEach((g, i) => c.seg[i].copyFrom(g));
    c.ldtr.copyFrom(k.ldtr);
    c.tr.copyFrom(k.tr);
    c.gdtr = { ...k.gdtr };
    c.idtr = { ...k.idtr };
    [c.cr0, c.cr2, c.cr3, c.cr4] = k.cr;
    c.dr.splice(0, 8, ...k.dr);
    c.xcr0 = k.xcr0;
    c.setCpl(k.cpl);
    c.halted = k.halted; c.shadow = k.shadow; c.nmiBlocked = k.nmiBlocked; c.nmiPending = k.nmiPending;
    c.irqQueue.length = 0; c.irqQueue.push(...k.irqQueue);
    c.icount = k.icount;
    c.tscOffset = BigInt(k.tscOffset);
    c.ssShadow = k.ssShadow ?? false;
  }
}
