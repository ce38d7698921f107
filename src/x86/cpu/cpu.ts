// The IA-32 processor: architectural state, segmented and paged memory
// access, stacks and segment loads. Execution (blocks, the run loop) is in
// engine.ts, exception delivery in interrupts.ts, instruction semantics in
// the compile*.ts modules.

import { PhysicalMemory } from '../mmu/memory';
import { ACC_USER, ACC_WRITE, Mmu, TLB_NX, TLB_SW, TLB_UR, TLB_UW, TLB_V, accSize, accessWidth } from '../mmu/paging';

/** Access widths for the MMU (bits 8-11 of an access; see accSize). */
const SIZE1 = accSize(1);
const SIZE2 = accSize(2);
const SIZE4 = accSize(4);
import type { IoBus } from '../devices/iobus';
import type { MsrSpace } from '../devices/msr';
import { EXC, fault, type DeliveringEvent } from './fault';
import { AC, ARITH, IF, IOPL, LazyFlags, LF_NONE, VM } from './flags';
import type { CpuIntercept } from './intercept';
import { ATTR_P, ATTR_S, ATTR_UNUSABLE, SegReg, descAttr, descBase, descLimit } from './segment';

export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;
export const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;
export type RegName = typeof REG_NAMES[number];
/** Byte index in the register file of 8-bit register n (AL CL DL BL AH CH DH BH). */
export const R8 = [0, 4, 8, 12, 1, 5, 9, 13];

export interface TableReg { base: number; limit: number }

/**
 * One debugger data watch: an inclusive address range, either linear (as
 * DR0-DR3 watch) or host-physical (every linear alias of that memory), and
 * the accesses that hit it. Nothing guest-visible changes: no DR6 bits, no #DB.
 */
export interface DebugWatchRange {
  id: number;
  lo: number;
  hi: number;
  physical: boolean;
  read: boolean;
  write: boolean;
}

export interface DebugWatchHit {
  id: number;
  /** Linear and host-physical address of the access (its first byte). */
  linear: number;
  physical: number;
  write: boolean;
}

/**
 * The debugger's own data-watch channel, next to the guest's debug registers.
 * An access that hits a watch is recorded and ends the block after its
 * instruction (trap semantics); at that boundary the engine calls `onHits`,
 * and a true result ends the run with a 'breakpoint' stop. With no watch set
 * the MMU and the engine's fast path are untouched.
 */
export class DebugWatches {
  private ranges: DebugWatchRange[] = [];
  /** Hits of the instructions since the last boundary. */
  hits: DebugWatchHit[] = [];
  /** EIP of the instruction that made the hits (set by the engine), -1 when they came from an event delivery or a faulting instruction. */
  eip = -1;
  /** Called at the instruction boundary after a hit; return true to stop the run there. */
  onHits: ((hits: DebugWatchHit[]) => boolean) | null = null;

  constructor(private readonly cpu: Cpu) {}

  get active(): boolean { return this.ranges.length > 0; }
  get list(): readonly DebugWatchRange[] { return this.ranges; }

  /** Replaces every watch (an empty list removes them). */
  set(ranges: readonly DebugWatchRange[]): void {
    this.ranges = ranges.map((r) => ({ ...r, lo: r.lo >>> 0, hi: r.hi >>> 0 }));
    const lin = new Set<number>();
    const phys = new Set<number>();
    for (const r of this.ranges) for (let p = r.lo >>> 12; p <= r.hi >>> 12; p++) (r.physical ? phys : lin).add(p);
    this.hits = [];
    this.cpu.mmu.setDebugWatch(lin, phys);
    this.cpu.linGen++;
    this.cpu.exitReq = true;
  }

  /** From the MMU: a data access to a watched page; its width comes with it (`accessWidth`). */
  access(linear: number, physical: number, acc: number): void {
    const write = (acc & ACC_WRITE) !== 0;
    const last = accessWidth(acc) - 1;
    for (const r of this.ranges) {
      if (write ? !r.write : !r.read) continue;
      const a = r.physical ? physical : linear;
      if (a + last >= r.lo && a <= r.hi) {
        if (this.hits.length === 0) this.eip = -1;
        this.hits.push({ id: r.id, linear, physical, write });
        this.cpu.exitReq = true;
      }
    }
  }
}

export class Cpu extends LazyFlags {
  readonly r = new Int32Array(8);
  readonly r8 = new Uint8Array(this.r.buffer);
  readonly r16 = new Uint16Array(this.r.buffer);
  /** Offset of the next instruction in CS (unsigned). */
  eip = 0;
  readonly seg: SegReg[] = [new SegReg(), new SegReg(), new SegReg(), new SegReg(), new SegReg(), new SegReg()];
  readonly ldtr = new SegReg();
  readonly tr = new SegReg();
  gdtr: TableReg = { base: 0, limit: 0xffff };
  idtr: TableReg = { base: 0, limit: 0x3ff };
  cr0 = 0x60000010;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  readonly dr = [0, 0, 0, 0, 0xffff0ff0, 0x400, 0xffff0ff0, 0x400];
  xcr0 = 1;
  cpl = 0;
  halted = false;
  /** Interrupts inhibited for one instruction (after STI or a load of SS). */
  shadow = false;
  /** The shadow comes from a load of SS: debug traps are held off too. */
  ssShadow = false;
  /** NMIs blocked until the next IRET. */
  nmiBlocked = false;
  nmiPending = false;
  /** Pending external interrupt vectors, delivered in order when IF=1. */
  readonly irqQueue: number[] = [];
  /** Set by anything that must end the current block after this instruction. */
  exitReq = false;
  /** Set by a rep string instruction that stopped before its count ran out (it is not counted yet). */
  repPartial = false;
  /** With exitReq: the instruction set EIP itself (a guarded return went elsewhere). */
  keepEip = false;
  /** The stop the run loop takes at the next instruction boundary; set it with requestStop(). */
  stopRequest: { reason: 'shutdown' | 'error' | 'triple-fault' | 'hlt' | 'limit'; message: string } | null = null;
  intercept: CpuIntercept = {};
  /** Code and stack sizes derived from CS.D and SS.B. */
  code32 = false;
  stack32 = false;
  /** Instructions retired since load. */
  icount = 0;
  tscOffset = 0n;
  readonly mmu: Mmu;
  readonly tlb: Int32Array;
  /** TLB bits required for a read / write at the current privilege. */
  rbit = TLB_V;
  wbit = TLB_SW;
  /** Bumped whenever a linear-to-physical or CS mapping may have changed. */
  linGen = 0;
  /** Where a translated block faulted: iterations' instructions done, index in the block. */
  jitDone = 0;
  jitIndex = 0;
  /** DR0-DR3 breakpoints enabled in DR7: execution addresses (linear -> DR6 bits) and data ranges. */
  readonly dbExec = new Map<number, number>();
  dbData: { lo: number; hi: number; writeOnly: boolean; bit: number }[] = [];
  /** DR6 bits of data breakpoints hit by the current instruction (a #DB trap follows it). */
  dbPending = 0;
  /** The debugger's data watches (not the guest's DRs): see DebugWatches. */
  readonly debugWatch: DebugWatches = new DebugWatches(this);
  /** Called when the debug registers change what must be watched (the engine drops its blocks). */
  onDebugChange: (() => void) | null = null;
  /** Exceptions being delivered (for double/triple fault rules). */
  deliveryDepth: number[] = [];
  /**
   * Linear address of a #PF the MMU detected and not yet delivered, -1 for
   * none. CR2 takes it only when delivery starts: a #PF that causes a VM
   * exit leaves CR2 alone (SDM 27.1).
   */
  pendingFaultAddress = -1;
  /** DR6 and DR7 as a #DB raised by an instruction leaves them once delivered (-1: the raiser wrote DR6 itself). */
  pendingDr6 = -1;
  pendingDr7 = -1;
  /** The software interrupt whose delivery raised the fault now travelling to the run loop (IDT-vectoring information). */
  faultDuring: DeliveringEvent | null = null;

  constructor(readonly mem: PhysicalMemory, readonly io: IoBus, readonly msrs: MsrSpace) {
    super();
    this.mmu = new Mmu(mem);
    this.tlb = this.mmu.tlb;
    this.mmu.onPageFault = (lin) => { this.pendingFaultAddress = lin; };
    this.mmu.onWatch = (lin, access) => this.dataBreakpoint(lin, access);
    this.mmu.onDebugAccess = (lin, hpa, access) => this.debugWatch.access(lin, hpa, access);
  }

  // ---- registers -------------------------------------------------------

  get eax(): number { return this.r[0] >>> 0; }
  get ecx(): number { return this.r[1] >>> 0; }
  get edx(): number { return this.r[2] >>> 0; }
  get ebx(): number { return this.r[3] >>> 0; }
  get esp(): number { return this.r[4] >>> 0; }
  get ebp(): number { return this.r[5] >>> 0; }
  get esi(): number { return this.r[6] >>> 0; }
  get edi(): number { return this.r[7] >>> 0; }
  set eax(v: number) { this.r[0] = v; }
  set ecx(v: number) { this.r[1] = v; }
  set edx(v: number) { this.r[2] = v; }
  set ebx(v: number) { this.r[3] = v; }
  set esp(v: number) { this.r[4] = v; }
  set ebp(v: number) { this.r[5] = v; }
  set esi(v: number) { this.r[6] = v; }
  set edi(v: number) { this.r[7] = v; }

  getReg(n: number): number { return this.r[n & 7] >>> 0; }
  setReg(n: number, v: number): void { this.r[n & 7] = v; }
  reg(name: RegName): number { return this.r[REG_NAMES.indexOf(name)] >>> 0; }
  setRegByName(name: RegName, v: number): void { this.r[REG_NAMES.indexOf(name)] = v; }
  getReg8(n: number): number { return this.r8[R8[n]]; }
  setReg8(n: number, v: number): void { this.r8[R8[n]] = v; }
  getReg16(n: number): number { return this.r16[n << 1]; }
  setReg16(n: number, v: number): void { this.r16[n << 1] = v; }

  get eflags(): number { return this.getFlags() >>> 0; }
  set eflags(v: number) { this.setFlagsRaw(v); }

  /** Replaces EFLAGS (no privilege checks). */
  setFlagsRaw(v: number): void {
    const old = this.flags;
    this.flags = ((v & 0x3f7fd5) | 2) >>> 0;
    this.lop = LF_NONE;
    if (((old ^ this.flags) & VM) !== 0) this.modeChanged();
    this.updateAc();
    if (((old ^ this.flags) & (IF | 0x100)) !== 0) this.exitReq = true;
  }

  get iopl(): number { return (this.flags & IOPL) >> 12; }
  get protectedMode(): boolean { return (this.cr0 & 1) !== 0; }
  get v86(): boolean { return (this.flags & VM) !== 0 && (this.cr0 & 1) !== 0; }
  get mode(): 'real' | 'protected' | 'v86' {
    return (this.cr0 & 1) === 0 ? 'real' : (this.flags & VM) !== 0 ? 'v86' : 'protected';
  }

  /** Alignment checking is on: CR0.AM, EFLAGS.AC and CPL 3. */
  acOn = false;

  updateAc(): void {
    this.acOn = (this.cr0 & 0x40000) !== 0 && (this.flags & AC) !== 0 && this.cpl === 3;
  }

  setCpl(n: number): void {
    this.cpl = n;
    this.updateAc();
    this.rbit = n === 3 ? TLB_UR : TLB_V;
    this.wbit = n === 3 ? TLB_UW : TLB_SW;
    this.linGen++;
  }

  /** Recomputes derived state after CR0/CR3/CR4/VM changes. */
  modeChanged(): void {
    this.mmu.configure(this.cr0, this.cr3, this.cr4);
    this.code32 = this.seg[CS].big;
    this.stack32 = this.seg[SS].big;
    this.linGen++;
    this.exitReq = true;
  }

  /**
   * Stops the run loop after the current instruction, from anywhere: a device
   * callback, an intercept hook, a handler. Ending the block here is what
   * makes it the very next boundary, not the end of the block. 'limit' ends
   * the run there as a spent budget would (a VMM that must look at the vCPU now).
   */
  requestStop(reason: 'shutdown' | 'error' | 'triple-fault' | 'hlt' | 'limit', message: string): void {
    this.stopRequest = { reason, message };
    this.exitReq = true;
  }

  /**
   * Re-derives everything cached from architectural state after a caller
   * rewrote registers directly (a VM entry or exit loading a whole state):
   * CPL from SS.DPL (0 in real mode, 3 in virtual-8086 mode), code and stack
   * sizes, paging configuration; flushes the TLB.
   */
  reloadState(flushTlb = true): void {
    this.lop = LF_NONE;
    this.dropPendingDelivery();
    const cpl = (this.cr0 & 1) === 0 ? 0 : (this.flags & VM) !== 0 ? 3 : this.seg[SS].dpl;
    this.setCpl(cpl);
    if (flushTlb) this.mmu.flush(true);
    this.modeChanged();
    this.updateAc();
  }

  /**
   * Forgets what the current instruction noted for an exception it might
   * deliver (fault address, DR6/DR7, the event being delivered). Nothing
   * detected before a VM exit may reach a later delivery: an injected #PF
   * keeps the CR2 its VMM set. A VM entry that finds the guest state still
   * in the CPU calls this instead of `reloadState`.
   */
  dropPendingDelivery(): void {
    this.pendingFaultAddress = -1;
    this.pendingDr6 = -1;
    this.pendingDr7 = -1;
    this.faultDuring = null;
  }

  setCr0(v: number): void {
    const old = this.cr0;
    this.cr0 = (v | 0x10) >>> 0;
    this.updateAc();
    if (((old ^ this.cr0) & 0x80010001) !== 0) this.mmu.flush(true);
    this.modeChanged();
  }
  setCr3(v: number): void {
    this.cr3 = v >>> 0;
    this.mmu.flush(false);
    this.modeChanged();
  }
  setCr4(v: number): void {
    const old = this.cr4;
    this.cr4 = v >>> 0;
    if (((old ^ this.cr4) & 0xb0) !== 0) this.mmu.flush(true);
    this.modeChanged();
  }
  /** Flushes the TLB entirely (e.g. after installing an EPT translator). */
  flushTlb(): void {
    this.mmu.flush(true);
    this.modeChanged();
  }

  /** The engine runs block by block, checking after every instruction (no translated blocks): DRs or debugger watches are set. */
  get debugActive(): boolean { return this.dbExec.size > 0 || this.dbData.length > 0 || this.debugWatch.active; }

  /** Recomputes the enabled DR0-DR3 breakpoints from DR7 (after a debug register write). */
  updateDebug(): void {
    const dr7 = this.dr[7];
    this.dbExec.clear();
    this.dbData = [];
    this.mmu.watch.clear();
    for (let n = 0; n < 4; n++) {
      if (((dr7 >> (n * 2)) & 3) === 0) continue;
      const rw = (dr7 >>> (16 + n * 4)) & 3;
      const len = [1, 2, 8, 4][(dr7 >>> (18 + n * 4)) & 3];
      const addr = this.dr[n] >>> 0;
      if (rw === 0) { this.dbExec.set(addr, (this.dbExec.get(addr) ?? 0) | (1 << n)); continue; }
      if (rw === 2) continue; // I/O breakpoints (CR4.DE) are not modelled
      const lo = (addr & ~(len - 1)) >>> 0;
      this.dbData.push({ lo, hi: lo + len - 1, writeOnly: rw === 1, bit: 1 << n });
      this.mmu.watch.add(lo >>> 12);
      this.mmu.watch.add((lo + len - 1) >>> 12);
    }
    this.mmu.flush(true);
    this.modeChanged();
    this.onDebugChange?.();
  }

  /** A watched page was accessed at lin, `accessWidth(access)` bytes wide. */
  private dataBreakpoint(lin: number, access: number): void {
    const last = accessWidth(access) - 1;
    for (const d of this.dbData) {
      if (d.writeOnly && (access & ACC_WRITE) === 0) continue;
      if (lin + last >= d.lo && lin <= d.hi) { this.dbPending |= d.bit; this.exitReq = true; }
    }
  }

  // ---- linear memory ---------------------------------------------------

  private xlate(lin: number, access: number): number {
    return this.mmu.translate(lin, access | (this.cpl === 3 ? ACC_USER : 0));
  }

  lr8(lin: number): number {
    if (!this.mmu.active) return this.mem.read8(lin);
    const e = this.tlb[lin >>> 12];
    if ((e & this.rbit) !== 0) return this.mem.read8(((e & ~0xfff) | (lin & 0xfff)) >>> 0);
    return this.mem.read8(this.xlate(lin, SIZE1));
  }

  lr16(lin: number): number {
    if (!this.mmu.active) return this.mem.read16(lin);
    const e = this.tlb[lin >>> 12];
    if ((e & this.rbit) !== 0 && (lin & 0xfff) < 0xfff) return this.mem.read16(((e & ~0xfff) | (lin & 0xfff)) >>> 0);
    if ((lin & 0xfff) === 0xfff) return this.lr8(lin) | (this.lr8((lin + 1) >>> 0) << 8);
    return this.mem.read16(this.xlate(lin, SIZE2));
  }

  lr32(lin: number): number {
    if (!this.mmu.active) return this.mem.read32(lin);
    const e = this.tlb[lin >>> 12];
    if ((e & this.rbit) !== 0 && (lin & 0xfff) < 0xffd) return this.mem.read32(((e & ~0xfff) | (lin & 0xfff)) >>> 0);
    if ((lin & 0xfff) >= 0xffd) return this.lr16(lin) | (this.lr16((lin + 2) >>> 0) << 16);
    return this.mem.read32(this.xlate(lin, SIZE4));
  }

  /** Physical address for a read at a linear address (current privilege). */
  rxlate(lin: number): number {
    if (!this.mmu.active) return lin;
    const e = this.tlb[lin >>> 12];
    if ((e & this.rbit) !== 0) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    return this.xlate(lin, 0);
  }

  /** Physical address for a write of `size` bytes, or -1 when it crosses a page (both pages were checked). */
  wxlate(lin: number, size: number): number {
    if (!this.mmu.active) return lin;
    const e = this.tlb[lin >>> 12];
    const off = lin & 0xfff;
    if (off + size <= 0x1000) {
      if ((e & this.wbit) !== 0) return ((e & ~0xfff) | off) >>> 0;
      return this.xlate(lin, ACC_WRITE | accSize(size));
    }
    // Checks only: the caller then writes byte by byte, and each byte reports itself.
    this.xlate(lin, ACC_WRITE | SIZE1);
    this.xlate((lin + size - 1) >>> 0, ACC_WRITE | SIZE1);
    return -1;
  }

  lw8(lin: number, v: number): void {
    this.mem.write8(this.wxlate(lin, 1), v);
  }

  lw16(lin: number, v: number): void {
    const p = this.wxlate(lin, 2);
    if (p >= 0) { this.mem.write16(p, v); return; }
    this.mem.write8(this.wxlate(lin, 1), v);
    this.mem.write8(this.wxlate((lin + 1) >>> 0, 1), v >> 8);
  }

  lw32(lin: number, v: number): void {
    if (!this.mmu.active) { this.mem.write32(lin, v); return; }
    const e = this.tlb[lin >>> 12];
    if ((e & this.wbit) !== 0 && (lin & 0xfff) < 0xffd) { this.mem.write32(((e & ~0xfff) | (lin & 0xfff)) >>> 0, v); return; }
    const p = this.wxlate(lin, 4);
    if (p >= 0) { this.mem.write32(p, v); return; }
    for (let i = 0; i < 4; i++) this.mem.write8(this.wxlate((lin + i) >>> 0, 1), v >> (i * 8));
  }

  /** Implicit supervisor accesses (descriptor tables, TSS, IDT). */
  sysR32(lin: number): number {
    lin >>>= 0;
    if (!this.mmu.active) return this.mem.read32(lin);
    if ((lin & 0xfff) > 0xffc) return this.sysR16(lin) | (this.sysR16(lin + 2) << 16);
    return this.mem.read32(this.mmu.translate(lin, SIZE4));
  }
  sysR16(lin: number): number {
    lin >>>= 0;
    if (!this.mmu.active) return this.mem.read16(lin);
    if ((lin & 0xfff) === 0xfff) return this.sysR8(lin) | (this.sysR8(lin + 1) << 8);
    return this.mem.read16(this.mmu.translate(lin, SIZE2));
  }
  sysR8(lin: number): number {
    lin >>>= 0;
    return this.mem.read8(this.mmu.active ? this.mmu.translate(lin, SIZE1) : lin);
  }
  sysW32(lin: number, v: number): void {
    lin >>>= 0;
    if (!this.mmu.active) { this.mem.write32(lin, v); return; }
    for (let i = 0; i < 4; i++) this.mem.write8(this.mmu.translate((lin + i) >>> 0, ACC_WRITE | SIZE1), v >> (i * 8));
  }
  sysW16(lin: number, v: number): void {
    lin >>>= 0;
    if (!this.mmu.active) { this.mem.write16(lin, v); return; }
    for (let i = 0; i < 2; i++) this.mem.write8(this.mmu.translate((lin + i) >>> 0, ACC_WRITE | SIZE1), v >> (i * 8));
  }

  // ---- segmented memory ------------------------------------------------

  segFault(s: number): never {
    return fault(s === SS ? EXC.SS : EXC.GP, 0);
  }

  rd8(s: number, off: number): number {
    const g = this.seg[s];
    if (off < g.rlo || off > g.rhi) this.segFault(s);
    return this.lr8((g.base + off) >>> 0);
  }
  rd16(s: number, off: number): number {
    const g = this.seg[s];
    if (off < g.rlo || off + 1 > g.rhi) this.segFault(s);
    const lin = (g.base + off) >>> 0;
    if ((lin & 1) !== 0 && this.acOn) fault(EXC.AC, 0);
    return this.lr16(lin);
  }
  rd32(s: number, off: number): number {
    const g = this.seg[s];
    if (off < g.rlo || off + 3 > g.rhi) this.segFault(s);
    const lin = (g.base + off) >>> 0;
    if ((lin & 3) !== 0) {
      if (this.acOn) fault(EXC.AC, 0);
      return this.lr32(lin);
    }
    // Aligned: one typed-array load when the page is resident (and, with paging, in the TLB).
    let page = lin >>> 12;
    if (this.mmu.active) { const e = this.tlb[page]; page = (e & this.rbit) !== 0 ? e >>> 12 : -1; }
    if (page >= 0) {
      const p32 = this.mem.rpages32[page];
      if (p32 !== undefined) return p32[(lin & 0xfff) >> 2];
    }
    return this.lr32(lin);
  }
  wr8(s: number, off: number, v: number): void {
    const g = this.seg[s];
    if (off < g.wlo || off > g.whi) this.segFault(s);
    this.lw8((g.base + off) >>> 0, v);
  }
  wr16(s: number, off: number, v: number): void {
    const g = this.seg[s];
    if (off < g.wlo || off + 1 > g.whi) this.segFault(s);
    const lin = (g.base + off) >>> 0;
    if ((lin & 1) !== 0 && this.acOn) fault(EXC.AC, 0);
    this.lw16(lin, v);
  }
  wr32(s: number, off: number, v: number): void {
    const g = this.seg[s];
    if (off < g.wlo || off + 3 > g.whi) this.segFault(s);
    const lin = (g.base + off) >>> 0;
    if ((lin & 3) !== 0) {
      if (this.acOn) fault(EXC.AC, 0);
      this.lw32(lin, v);
      return;
    }
    let page = lin >>> 12;
    if (this.mmu.active) { const e = this.tlb[page]; page = (e & this.wbit) !== 0 ? e >>> 12 : -1; }
    if (page >= 0) {
      const p32 = this.mem.wpages32[page];
      if (p32 !== undefined) { p32[(lin & 0xfff) >> 2] = v; return; }
    }
    this.lw32(lin, v);
  }
  /** Checks a read-modify-write access; returns the physical address, or -1 if it crosses a page. */
  rmw(s: number, off: number, size: number): number {
    const g = this.seg[s];
    if (off < g.wlo || off + size - 1 > g.whi) this.segFault(s);
    const lin = (g.base + off) >>> 0;
    if ((lin & (size - 1) & 3) !== 0 && this.acOn) fault(EXC.AC, 0);
    return this.wxlate(lin, size);
  }
  rd(s: number, off: number, size: number): number {
    return size === 4 ? this.rd32(s, off) >>> 0 : size === 2 ? this.rd16(s, off) : this.rd8(s, off);
  }
  wr(s: number, off: number, size: number, v: number): void {
    if (size === 4) this.wr32(s, off, v); else if (size === 2) this.wr16(s, off, v); else this.wr8(s, off, v);
  }

  // ---- stack -----------------------------------------------------------

  push32(v: number): void {
    if (this.stack32) {
      const sp = (this.r[4] - 4) >>> 0;
      this.wr32(SS, sp, v);
      this.r[4] = sp;
    } else {
      const sp = (this.r16[8] - 4) & 0xffff;
      this.wr32(SS, sp, v);
      this.r16[8] = sp;
    }
  }
  push16(v: number): void {
    if (this.stack32) {
      const sp = (this.r[4] - 2) >>> 0;
      this.wr16(SS, sp, v);
      this.r[4] = sp;
    } else {
      const sp = (this.r16[8] - 2) & 0xffff;
      this.wr16(SS, sp, v);
      this.r16[8] = sp;
    }
  }
  push(v: number, size: number): void {
    if (size === 4) this.push32(v); else this.push16(v);
  }
  pop32(): number {
    if (this.stack32) {
      const sp = this.r[4] >>> 0;
      const v = this.rd32(SS, sp);
      this.r[4] = sp + 4;
      return v;
    }
    const sp = this.r16[8];
    const v = this.rd32(SS, sp);
    this.r16[8] = sp + 4;
    return v;
  }
  pop16(): number {
    if (this.stack32) {
      const sp = this.r[4] >>> 0;
      const v = this.rd16(SS, sp);
      this.r[4] = sp + 2;
      return v;
    }
    const sp = this.r16[8];
    const v = this.rd16(SS, sp);
    this.r16[8] = sp + 2;
    return v;
  }
  pop(size: number): number {
    return size === 4 ? this.pop32() >>> 0 : this.pop16();
  }
  /** Reads the stack at ESP+offset without popping. */
  peek(offset: number, size: number): number {
    const sp = this.stack32 ? (this.r[4] + offset) >>> 0 : (this.r16[8] + offset) & 0xffff;
    return this.rd(SS, sp, size);
  }
  get sp(): number { return this.stack32 ? this.r[4] >>> 0 : this.r16[8]; }
  set sp(v: number) { if (this.stack32) this.r[4] = v; else this.r16[8] = v; }

  // ---- descriptors and segment loads ----------------------------------

  /** Linear address of a selector's descriptor, or throws #GP(selector). */
  descAddr(sel: number, code = sel & 0xfffc): number {
    const idx = sel & 0xfff8;
    if ((sel & 4) !== 0) {
      if (!this.ldtr.usable || idx + 7 > this.ldtr.limit) fault(EXC.GP, code);
      return (this.ldtr.base + idx) >>> 0;
    }
    if (idx + 7 > this.gdtr.limit) fault(EXC.GP, code);
    return (this.gdtr.base + idx) >>> 0;
  }

  readDesc(sel: number, code = sel & 0xfffc): [number, number, number] {
    const a = this.descAddr(sel, code);
    return [this.sysR32(a), this.sysR32(a + 4), a];
  }

  setAccessed(addr: number, hi: number): void {
    if ((hi & 0x100) === 0) this.sysW32(addr + 4, hi | 0x100);
  }

  /** Loads a segment register with the current mode's rules. */
  loadSeg(s: number, sel: number): void {
    sel &= 0xffff;
    if ((this.cr0 & 1) === 0 || (this.flags & VM) !== 0) {
      this.loadSegReal(s, sel);
      return;
    }
    if (s === CS) throw new Error('CS is loaded by control transfers');
    const g = this.seg[s];
    if ((sel & 0xfffc) === 0) {
      if (s === SS) fault(EXC.GP, 0);
      g.set(sel, 0, 0, ATTR_UNUSABLE);
      return;
    }
    const [lo, hi, addr] = this.readDesc(sel);
    const attr = descAttr(hi);
    const type = attr & 0xf;
    const dpl = (attr >> 5) & 3;
    const rpl = sel & 3;
    if (s === SS) {
      if (rpl !== this.cpl || (attr & ATTR_S) === 0 || (type & 0xa) !== 2 || dpl !== this.cpl) fault(EXC.GP, sel & 0xfffc);
      if ((attr & ATTR_P) === 0) fault(EXC.SS, sel & 0xfffc);
    } else {
      if ((attr & ATTR_S) === 0 || (type & 0xa) === 8) fault(EXC.GP, sel & 0xfffc);
      const conformingCode = (type & 0xc) === 0xc;
      if (!conformingCode && (rpl > dpl || this.cpl > dpl)) fault(EXC.GP, sel & 0xfffc);
      if ((attr & ATTR_P) === 0) fault(EXC.NP, sel & 0xfffc);
    }
    this.setAccessed(addr, hi);
    g.set(sel, descBase(lo, hi), descLimit(lo, hi), attr | 1);
    if (s === SS) { this.stack32 = g.big; this.shadow = true; this.ssShadow = true; this.exitReq = true; }
  }

  loadSegReal(s: number, sel: number): void {
    const g = this.seg[s];
    if ((this.flags & VM) !== 0) {
      g.set(sel, sel << 4, 0xffff, s === CS ? 0xfb : 0xf3);
    } else {
      // Real mode keeps the cached limit and attributes (so "unreal" mode works).
      g.selector = sel;
      g.base = sel << 4;
      if (!g.usable || (g.attr & ATTR_P) === 0) g.attr = s === CS ? 0x9b : 0x93;
      g.refresh();
    }
    if (s === SS) { this.stack32 = g.big; this.shadow = true; this.ssShadow = true; this.exitReq = true; }
    if (s === CS) { this.code32 = g.big; this.linGen++; }
  }

  /** Loads CS from a checked descriptor (control transfers). */
  setCs(sel: number, lo: number, hi: number, cpl: number): void {
    this.seg[CS].set((sel & 0xfffc) | cpl, descBase(lo, hi), descLimit(lo, hi), descAttr(hi) | 1);
    this.code32 = this.seg[CS].big;
    if (cpl !== this.cpl) this.setCpl(cpl);
    this.linGen++;
    this.exitReq = true;
  }

  setSs(sel: number, lo: number, hi: number): void {
    this.seg[SS].set(sel, descBase(lo, hi), descLimit(lo, hi), descAttr(hi) | 1);
    this.stack32 = this.seg[SS].big;
  }

  /** After a return to an outer level, data segments the new CPL may not use become null. */
  nullInaccessibleSegs(): void {
    for (const s of [ES, DS, FS, GS]) {
      const g = this.seg[s];
      if (!g.usable) continue;
      const type = g.attr & 0xf;
      const conformingCode = (type & 0xc) === 0xc;
      if ((g.attr & ATTR_S) !== 0 && !conformingCode && g.dpl < this.cpl) g.set(0, 0, 0, ATTR_UNUSABLE);
    }
  }

  // ---- privilege helpers ----------------------------------------------

  /** #GP(0) unless CPL 0 (real mode counts as CPL 0). */
  requireCpl0(): void {
    if (this.cpl !== 0) fault(EXC.GP, 0);
  }

  /** IOPL-sensitive instructions (cli/sti/in/out without a bitmap grant). */
  ioplOk(): boolean {
    if ((this.cr0 & 1) === 0) return true;
    if ((this.flags & VM) !== 0) return this.iopl === 3;
    return this.cpl <= this.iopl;
  }

  /** Checks I/O permission for a port access; #GP(0) when denied. */
  checkIo(port: number, size: number): void {
    if ((this.cr0 & 1) === 0) return;
    if ((this.flags & VM) === 0 && this.cpl <= this.iopl) return;
    // TSS I/O permission bitmap (32-bit TSS only).
    const t = this.tr;
    if (!t.usable || (t.attr & 0xf) !== 0xb && (t.attr & 0xf) !== 0x9 || t.limit < 0x67) fault(EXC.GP, 0);
    const mapBase = this.sysR16(t.base + 0x66);
    const byte = mapBase + (port >>> 3);
    if (byte + 1 > t.limit) fault(EXC.GP, 0);
    const bits = this.sysR16(t.base + byte);
    const mask = ((1 << size) - 1) << (port & 7);
    if ((bits & mask) !== 0) fault(EXC.GP, 0);
  }

  /** Sets the arithmetic bits without touching the rest. */
  setArith(bits: number): void {
    this.materialize();
    this.flags = (this.flags & ~ARITH) | (bits & ARITH);
  }

  // ---- interrupts ------------------------------------------------------

  /** Raises the interrupt-request input with a vector (delivered when IF=1). */
  requestInterrupt(vector: number): void {
    this.irqQueue.push(vector & 0xff);
    this.exitReq = true;
  }

  requestNmi(): void {
    this.nmiPending = true;
    this.exitReq = true;
  }

  readTsc(): bigint {
    return BigInt.asUintN(64, BigInt(this.icount) + this.tscOffset);
  }
}

/** Physical address of an instruction byte at a linear address (fetch access). */
export function fetchPhys(c: Cpu, lin: number): number {
  lin >>>= 0;
  if (!c.mmu.active) return lin;
  const e = c.tlb[lin >>> 12];
  // TLB_NX: the guest-physical step granted reads of this page but not fetches.
  if ((e & (c.rbit | TLB_NX)) === c.rbit) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
  return c.mmu.translate(lin, (c.cpl === 3 ? ACC_USER : 0) | 4);
}
