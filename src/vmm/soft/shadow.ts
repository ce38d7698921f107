// Shadow page tables for the software techniques. The processor always runs
// with paging on, on a shadow root the VMM fills from the guest's own
// tables at each #PF (the design of src/vmm/vtx/paging-shadow.ts, reached
// through traps instead of VM exits). Every root also maps the VMM area,
// where the real GDT lives; the guest's entries for that range are never
// used.
//
// With the guest kernel in ring 1 one paged root serves both of the guest's
// modes: the processor's own U/S check (ring 1 is a supervisor ring) keeps
// the user task out of supervisor pages. With the kernel in ring 3 the
// processor cannot tell the two apart, so there is a root per virtual
// privilege: in the kernel's, every page the guest kernel may reach is
// mapped user-accessible (with the write rights the guest kernel has, CR0.WP
// included); in the user task's, only what the guest's tables open to user
// mode. The VMM loads one or the other at each change of the virtual CPL.

import type { Cpu } from '../../x86/cpu/cpu';
import { ShadowTables, translateGva, type GvaWalk, type HostAllocator } from '../memory';
import { shadowRights } from '../vtx/paging-shadow';
import { REAL_GDT_LINEAR, VMM_AREA } from './descriptors';
import type { VirtualCpuState } from './vcpu-state';

const CR0_PE = 1, CR0_WP = 0x10000, CR0_AM = 0x40000, CR0_PG = 0x80000000;

export type ShadowFault =
  /** The shadow entry was filled: restart the instruction. */
  | { kind: 'filled' }
  /** The guest's own tables refuse the access: the guest gets this #PF. */
  | { kind: 'reflect'; errorCode: number }
  /** Nothing the guest may see: the access leaves guest RAM or touches the VMM area. */
  | { kind: 'stop'; message: string };

export interface ShadowCounters {
  fills: number;
  reflected: number;
  flushes: number;
  invlpg: number;
  /** Real CR3 loads between the kernel's and the user task's root (kernelRing 3 only). */
  switches: number;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

export class SoftShadow {
  readonly tables: ShadowTables;
  /** Shadows the guest's tables while its paging is on (in ring 3: for its kernel mode); emptied at every guest CR3 load. */
  readonly pagedRoot: number;
  /** kernelRing 3: shadows the guest's tables for its user mode (supervisor pages left out). kernelRing 1: the same root as pagedRoot. */
  readonly userRoot: number;
  /** Maps GVA = GPA while the guest's paging is off. */
  readonly physRoot: number;
  readonly counters: ShadowCounters = { fills: 0, reflected: 0, flushes: 0, invlpg: 0, switches: 0 };

  constructor(private readonly mem: Cpu['mem'], alloc: HostAllocator, private readonly v: VirtualCpuState, private readonly ramSize: number, readonly gdtHpa: number, readonly kernelRing: 1 | 3 = 1, private readonly onRootSwitch: () => void = () => undefined) {
    this.tables = new ShadowTables(mem, alloc);
    this.pagedRoot = this.tables.newRoot();
    this.userRoot = kernelRing === 3 ? this.tables.newRoot() : this.pagedRoot;
    this.physRoot = this.tables.newRoot();
    for (const root of this.pagedRoots()) this.mapVmmArea(root);
    this.mapVmmArea(this.physRoot);
  }

  get guestPaging(): boolean {
    return ((this.v.cr0 & (CR0_PG | CR0_PE)) >>> 0) === ((CR0_PG | CR0_PE) >>> 0);
  }

  /** The roots that shadow the guest's tables: one, or the kernel's and the user task's. */
  pagedRoots(): number[] {
    return this.userRoot === this.pagedRoot ? [this.pagedRoot] : [this.pagedRoot, this.userRoot];
  }

  /** The paged root for the guest's current (virtual) privilege. */
  private modeRoot(): number {
    return this.v.cpl === 3 ? this.userRoot : this.pagedRoot;
  }

  currentRoot(): number {
    return this.guestPaging ? this.modeRoot() : this.physRoot;
  }

  /** The real GDT page, supervisor-only and read-only: descriptor reads work, a guest store faults to the VMM. */
  private mapVmmArea(root: number): void {
    this.tables.set(root, REAL_GDT_LINEAR, this.gdtHpa, { writable: false, user: false });
  }

  /**
   * The real CR0: the guest's, with PE, PG and WP always set. With the kernel
   * in ring 3, AM is kept only while the guest's user mode runs: alignment
   * checking applies at CPL 3, and the guest kernel must not get it.
   */
  private realCr0(): number {
    let cr0 = (this.v.cr0 | CR0_PE | CR0_PG | CR0_WP) >>> 0;
    if (this.kernelRing === 3 && this.v.cpl === 0) cr0 = (cr0 & ~CR0_AM) >>> 0;
    return cr0;
  }

  /** Points the processor at the root the guest's paging calls for; real CR0 keeps PE, PG and WP. */
  apply(cpu: Cpu): void {
    const cr0 = this.realCr0();
    if (cpu.cr0 !== cr0) cpu.setCr0(cr0);
    if (cpu.cr4 !== 0) cpu.setCr4(0);
    cpu.setCr3(this.currentRoot());
    cpu.mmu.flush(true);
  }

  /**
   * The virtual CPL may have changed (an event delivered into the guest
   * kernel, an IRET to user mode): with the kernel in ring 3, the real CR3
   * goes to that privilege's root. Nothing to do in ring 1.
   */
  select(cpu: Cpu): void {
    if (this.kernelRing !== 3) return;
    const cr0 = this.realCr0();
    if (cpu.cr0 !== cr0) cpu.setCr0(cr0);
    const root = this.currentRoot();
    if (cpu.cr3 === root) return;
    this.counters.switches++;
    this.onRootSwitch();
    cpu.setCr3(root);
  }

  /** The guest loaded CR3 (or switched paging): its TLB, the paged shadow (both, in ring 3), is emptied. */
  flush(cpu: Cpu): void {
    this.counters.flushes++;
    for (const root of this.pagedRoots()) {
      this.tables.clear(root);
      this.mapVmmArea(root);
    }
    this.apply(cpu);
  }

  invlpg(cpu: Cpu, gva: number): void {
    this.counters.invlpg++;
    if ((gva >>> 0) >= VMM_AREA) return;
    if (this.guestPaging) for (const root of this.pagedRoots()) this.tables.drop(root, gva);
    else this.tables.drop(this.physRoot, gva);
    cpu.mmu.invalidatePage(gva);
    cpu.linGen++;
  }

  /** A #PF the processor raised on the shadow: fill, reflect or stop. `user` is the guest's (virtual) CPL 3. */
  pageFault(cpu: Cpu, gva: number, errorCode: number, user: boolean): ShadowFault {
    gva >>>= 0;
    const write = (errorCode & 2) !== 0;
    if (gva >= VMM_AREA) return { kind: 'stop', message: `the guest ${write ? 'wrote' : 'read'} linear ${hex(gva)}, inside the VMM area (${hex(VMM_AREA)} and up), which every address space reserves for the VMM` };
    const regs = { cr0: this.v.cr0, cr3: this.v.cr3, cr4: this.v.cr4 };
    const req = { access: write ? 'write' as const : 'read' as const, user };
    let walk: GvaWalk;
    if (!this.guestPaging) {
      if (gva >= this.ramSize) return { kind: 'stop', message: `the guest ${write ? 'wrote' : 'read'} physical ${hex(gva)}, beyond its ${this.ramSize >>> 20} MiB of RAM` };
      this.tables.set(this.physRoot, gva, gva, { writable: true, user: true });
    } else {
      walk = translateGva({ mem: this.mem }, regs, gva, req);
      const f = walk.fault;
      if (f !== null && f.kind === 'page-fault') {
        this.counters.reflected++;
        return { kind: 'reflect', errorCode: f.errorCode };
      }
      if (walk.gpa === null || walk.gpa >= this.ramSize) return { kind: 'stop', message: `the guest's tables map linear ${hex(gva)} to physical ${hex(walk.gpa ?? 0)}, beyond its ${this.ramSize >>> 20} MiB of RAM` };
      const done = translateGva({ mem: this.mem }, regs, gva, { ...req, update: true });
      const { writable, userOk } = shadowRights(done, regs.cr0, write, user);
      // Ring 3: the guest kernel really runs in user mode, so its root opens every page it may reach
      // to ring 3 (with the supervisor's write rights, CR0.WP = 0 included); the user task's root keeps
      // the guest's U/S. Ring 1: one root, and the processor's own U/S check separates the two.
      const root = this.kernelRing === 3 && user ? this.userRoot : this.pagedRoot;
      this.tables.set(root, gva, walk.gpa, { writable, user: this.kernelRing === 3 && !user ? true : userOk });
    }
    cpu.mmu.invalidatePage(gva);
    cpu.linGen++;
    this.counters.fills++;
    return { kind: 'filled' };
  }

  /**
   * Fills every page the guest's tables map (paravirtualization: the guest
   * hands its tables over explicitly, so the VMM shadows them at once and
   * takes no fill faults later). Pages beyond RAM or in the VMM area are skipped.
   */
  prefillAll(cpu: Cpu): number {
    let n = 0;
    const regs = { cr0: this.v.cr0, cr3: this.v.cr3, cr4: this.v.cr4 };
    const pd = this.v.cr3 & ~0xfff;
    for (let di = 0; di < (VMM_AREA >>> 22); di++) {
      const pde = this.mem.read32(pd + di * 4) >>> 0;
      if ((pde & 1) === 0) continue;
      const large = (pde & 0x80) !== 0 && (this.v.cr4 & 0x10) !== 0;
      for (let ti = 0; ti < 1024; ti++) {
        if (!large) {
          const table = pde & ~0xfff;
          if (table >= this.ramSize) break;
          const pte = this.mem.read32(table + ti * 4) >>> 0;
          if ((pte & 1) === 0) continue;
        }
        const gva = ((di << 22) | (ti << 12)) >>> 0;
        const w = translateGva({ mem: this.mem }, regs, gva, { access: 'read', user: false });
        if (w.fault !== null || w.gpa === null || w.gpa >= this.ramSize) continue;
        const { writable, userOk } = shadowRights(w, regs.cr0, false, false);
        this.tables.set(this.pagedRoot, gva, w.gpa, { writable, user: userOk });
        n++;
      }
    }
    cpu.mmu.flush(true);
    cpu.linGen++;
    return n;
  }

  /** Re-shadows one guest entry after the guest changed it through the VMM (MMU_UPDATE): dropped, refilled at its next use. */
  dropLinear(cpu: Cpu, gva: number): void {
    for (const root of this.pagedRoots()) this.tables.drop(root, gva);
    cpu.mmu.invalidatePage(gva);
    cpu.linGen++;
  }
}
