// Shadow paging (EPT off), the classic design: the processor walks shadow
// page tables the VMM builds in host memory (GVA → HPA); the guest's own
// tables are only read by the VMM. To keep them in step the VMM intercepts:
//  - MOV to/from CR3 (CR3-load/-store exiting): the guest's CR3 is virtual;
//    a load empties the shadow, which is the TLB flush the guest asked for;
//  - INVLPG (INVLPG exiting): drops the shadow PTE of that page;
//  - CR0.PG/WP/PE and CR4.PSE/PGE/PAE (guest/host masks with read shadows):
//    the real CR0 always has PG and WP set, the real CR4 never PSE/PGE;
//  - every #PF (exception bitmap bit 14, error-code mask and match 0): the
//    VMM walks the guest tables; if they allow the access it fills the
//    shadow PTE (setting the guest's accessed bit, and its dirty bit on a
//    write; a clean page is shadowed read-only so the first write faults
//    and sets dirty) and restarts the instruction, else it reflects the #PF
//    with the guest's own error code and CR2. A GPA in an MMIO slot is
//    never shadowed: the access is emulated.
// While the guest's paging is off it runs on a "physical-mode" root that
// maps GVA = GPA to host memory, also filled on demand.
// The shadow is the guest's TLB: a PTE the guest changes without INVLPG or
// a CR3 load keeps its old translation, exactly as on hardware.

import { ShadowTables, decodeGuestEntry, translateGva, type GvaWalk, type ShadowRootState, type ShadowView } from '../memory';
import { EXIT_REASON, decodeCrAccess } from '../vmx';
import type { VmExit } from './exit-info';
import type { ExitHandler } from './handlers';
import { emulateMmio } from './mmio';
import { hex, type VmMemory } from './paging-memory';
import type { ExitAction, Vcpu } from './vcpu';

const CR0_PE = 1, CR0_ET = 0x10, CR0_WP = 0x10000, CR0_PG = 0x80000000;
const CR4_PSE = 0x10, CR4_PAE = 0x20, CR4_PGE = 0x80, CR4_VMXE = 0x2000;
/** CR0 and CR4 bits the VMM owns under shadow paging, on top of the VM's defaults. */
export const SHADOW_CR0_MASK = (CR0_PE | CR0_WP | CR0_PG | 0x60000000) >>> 0;
export const SHADOW_CR4_MASK = CR4_PSE | CR4_PAE | CR4_PGE | CR4_VMXE;
const PF_W = 2, PF_U = 4;
const RESUME: ExitAction = { kind: 'resume' };

interface VcpuShadow {
  /** The CR3 the guest loaded (what MOV from CR3 returns). */
  guestCr3: number;
  /** Root used while guest paging is on; emptied on every guest CR3 load. */
  pagedRoot: number;
  /** Identity root used while guest paging is off. */
  physRoot: number;
}

export interface ShadowState {
  vcpus: VcpuShadow[];
  roots: ShadowRootState[];
}

const guestPaging = (cr0: number): boolean => ((cr0 & (CR0_PG | CR0_PE)) >>> 0) === ((CR0_PG | CR0_PE) >>> 0);

function setGpr(vcpu: Vcpu, n: number, value: number): void {
  vcpu.cpu.r[n] = value | 0;
  if (n === 4) vcpu.vmcs.set('GUEST_RSP', value >>> 0);
}
const gpr = (vcpu: Vcpu, n: number): number => (n === 4 ? vcpu.vmcs.get('GUEST_RSP') : vcpu.cpu.r[n]) >>> 0;

function skip(vcpu: Vcpu): ExitAction {
  vcpu.skipInstruction();
  return RESUME;
}

export class ShadowPaging {
  readonly tables: ShadowTables;
  private readonly state: VcpuShadow[] = [];

  constructor(private readonly vm: VmMemory) {
    this.tables = new ShadowTables(vm.machine.memory, vm.alloc);
  }

  /** The guest's own CR0/CR3/CR4 at creation: application processors start from vCPU 0's loaded state, not its shadowed one. */
  private initial: { cr0: number; cr3: number; cr4: number } | null = null;

  setupVcpu(vcpu: Vcpu): void {
    const v = vcpu.vmcs;
    this.initial ??= { cr0: v.get('GUEST_CR0') >>> 0, cr3: v.get('GUEST_CR3') >>> 0, cr4: (v.get('GUEST_CR4') & ~CR4_VMXE) >>> 0 };
    const s: VcpuShadow = { guestCr3: this.initial.cr3, pagedRoot: this.tables.newRoot(), physRoot: this.tables.newRoot() };
    this.state[vcpu.index] = s;
    vcpu.setControl('secondary', 'EPT', false);
    vcpu.setControl('secondary', 'UNRESTRICTED_GUEST', false);
    v.set('CR0_READ_SHADOW', this.initial.cr0);
    v.set('CR4_READ_SHADOW', this.initial.cr4);
    this.finishVcpu(vcpu);
  }

  /** Forces what shadow paging needs after the VM's `configure` callback; the real CR0/CR3/CR4 follow the guest's. */
  finishVcpu(vcpu: Vcpu): void {
    const v = vcpu.vmcs;
    const s = this.state[vcpu.index];
    vcpu.setControl('primary', 'CR3_LOAD_EXITING', true);
    vcpu.setControl('primary', 'CR3_STORE_EXITING', true);
    vcpu.setControl('primary', 'INVLPG_EXITING', true);
    v.set('CR3_TARGET_COUNT', 0);
    v.set('EXCEPTION_BITMAP', (v.get('EXCEPTION_BITMAP') | (1 << 14)) >>> 0);
    v.set('PAGE_FAULT_ERROR_CODE_MASK', 0);
    v.set('PAGE_FAULT_ERROR_CODE_MATCH', 0);
    v.set('CR0_GUEST_HOST_MASK', (v.get('CR0_GUEST_HOST_MASK') | SHADOW_CR0_MASK) >>> 0);
    v.set('CR4_GUEST_HOST_MASK', (v.get('CR4_GUEST_HOST_MASK') | SHADOW_CR4_MASK) >>> 0);
    const cr0 = v.get('CR0_READ_SHADOW') >>> 0;
    v.set('GUEST_CR0', (cr0 | CR0_ET | CR0_PE | CR0_WP | CR0_PG) >>> 0);
    v.set('GUEST_CR4', ((v.get('CR4_READ_SHADOW') & ~(CR4_PSE | CR4_PGE | CR4_PAE)) | CR4_VMXE) >>> 0);
    v.set('GUEST_CR3', guestPaging(cr0) ? s.pagedRoot : s.physRoot);
  }

  guestRegs(vcpu: Vcpu): { cr0: number; cr3: number; cr4: number } {
    const v = vcpu.vmcs;
    const c = vcpu.cpu;
    const m0 = v.get('CR0_GUEST_HOST_MASK') >>> 0, m4 = v.get('CR4_GUEST_HOST_MASK') >>> 0;
    return {
      cr0: ((c.cr0 & ~m0) | (v.get('CR0_READ_SHADOW') & m0)) >>> 0,
      cr3: this.state[vcpu.index].guestCr3,
      cr4: ((c.cr4 & ~m4) | (v.get('CR4_READ_SHADOW') & m4)) >>> 0,
    };
  }

  /** The shadow root the processor uses now. */
  currentRoot(vcpu: Vcpu): number {
    const s = this.state[vcpu.index];
    return guestPaging(this.guestRegs(vcpu).cr0) ? s.pagedRoot : s.physRoot;
  }

  handlers(base: Readonly<Partial<Record<number, ExitHandler>>>): Partial<Record<number, ExitHandler>> {
    const exception = base[EXIT_REASON.EXCEPTION_NMI];
    const cr = base[EXIT_REASON.CR_ACCESS];
    return {
      [EXIT_REASON.EXCEPTION_NMI]: (vcpu, e, ctx) => {
        if ((e.interruptionInfo & 0xff) === 14 && ((e.interruptionInfo >>> 8) & 7) === 3) return this.pageFault(vcpu, e);
        return exception !== undefined ? exception(vcpu, e, ctx) : { kind: 'stop', reason: 'unhandled-exit', message: `no handler for exception exit ${hex(e.interruptionInfo)}` };
      },
      [EXIT_REASON.CR_ACCESS]: (vcpu, e, ctx) => this.crAccess(vcpu, e) ?? (cr !== undefined ? cr(vcpu, e, ctx) : { kind: 'stop', reason: 'unhandled-exit', message: 'CR access not handled' }),
      [EXIT_REASON.INVLPG]: (vcpu, e) => {
        this.vm.counters.shadowInvlpg++;
        const root = this.currentRoot(vcpu);
        this.tables.drop(root, e.qualification >>> 0);
        vcpu.cpu.mmu.invalidatePage(e.qualification);
        vcpu.cpu.linGen++;
        return skip(vcpu);
      },
    };
  }

  /** MOV to CR0/CR3/CR4 and MOV from CR3; null for the forms the default handler keeps (CLTS, LMSW, …). */
  private crAccess(vcpu: Vcpu, e: VmExit): ExitAction | null {
    const q = decodeCrAccess(e.qualification);
    const v = vcpu.vmcs;
    const s = this.state[vcpu.index];
    if (q.accessType === 'mov-from-cr' && q.cr === 3) {
      setGpr(vcpu, q.gpr, s.guestCr3);
      return skip(vcpu);
    }
    if (q.accessType !== 'mov-to-cr') return null;
    const value = gpr(vcpu, q.gpr);
    if (q.cr === 3) {
      s.guestCr3 = value;
      this.vm.counters.shadowCr3Loads++;
      this.clearShadow(vcpu, s.pagedRoot);
      return skip(vcpu);
    }
    if (q.cr === 0) {
      if ((value & CR0_PG) !== 0 && (value & CR0_PE) === 0) return this.gp(vcpu);
      if ((value & 0x20000000) !== 0 && (value & 0x40000000) === 0) return this.gp(vcpu);
      if ((value & CR0_PE) === 0) return { kind: 'stop', reason: 'error', message: `guest cleared CR0.PE at RIP ${hex(e.rip)}: real mode under shadow paging needs "unrestricted guest", which requires EPT` };
      const old = v.get('CR0_READ_SHADOW') >>> 0;
      v.set('CR0_READ_SHADOW', value);
      v.set('GUEST_CR0', (value | CR0_ET | CR0_PE | CR0_WP | CR0_PG) >>> 0);
      // Turning paging on starts from an empty shadow (nothing the guest mapped is cached yet); WP changes the rights shadowed.
      if (((old ^ value) & (CR0_PG | CR0_WP)) !== 0) this.clearShadow(vcpu, s.pagedRoot);
      v.set('GUEST_CR3', guestPaging(value) ? s.pagedRoot : s.physRoot);
      return skip(vcpu);
    }
    if (q.cr === 4) {
      // The bits this CPU has, without PAE and VMXE, as the default handler allows.
      if ((value & ~0x01df) !== 0) return this.gp(vcpu);
      const old = v.get('CR4_READ_SHADOW') >>> 0;
      v.set('CR4_READ_SHADOW', value);
      v.set('GUEST_CR4', ((value & ~(CR4_PSE | CR4_PGE | CR4_PAE)) | CR4_VMXE) >>> 0);
      if (((old ^ value) & (CR4_PSE | CR4_PGE)) !== 0) this.clearShadow(vcpu, s.pagedRoot);
      return skip(vcpu);
    }
    return null;
  }

  /**
   * Empties a shadow root and flushes the vCPU's cached translations: with
   * VPIDs on, VM entries keep the TLB, so this is the INVVPID a VMM issues.
   */
  private clearShadow(vcpu: Vcpu, root: number): void {
    this.tables.clear(root);
    vcpu.cpu.flushTlb();
  }

  private gp(vcpu: Vcpu): ExitAction {
    vcpu.inject(13, 3, 0);
    return RESUME;
  }

  /** A #PF the processor raised on the shadow tables. */
  private pageFault(vcpu: Vcpu, e: VmExit): ExitAction {
    const gva = e.qualification >>> 0;
    const code = e.interruptionErrorCode;
    const write = (code & PF_W) !== 0;
    const user = (code & PF_U) !== 0;
    const regs = this.guestRegs(vcpu);
    const target = { mem: this.vm.machine.memory, slots: this.vm.slots };
    const req = { access: write ? 'write' as const : 'read' as const, user };
    const walk = translateGva(target, regs, gva, req);
    const f = walk.fault;
    if (f !== null && f.kind === 'page-fault') {
      // The guest's own tables refuse the access: the guest sees the #PF its hardware would raise.
      this.vm.counters.shadowReflected++;
      vcpu.cpu.cr2 = gva;
      const combined = combineWithInterrupted(e.idtVectoringInfo);
      if (combined === 'triple-fault') return { kind: 'stop', reason: 'triple-fault', message: `triple fault: #PF(${hex(f.errorCode)}) at ${hex(gva)} while delivering #DF` };
      if (combined === 'double-fault') {
        vcpu.inject(8, 3, 0);
        this.prefaultDelivery(vcpu, 8);
        return RESUME;
      }
      vcpu.inject(14, 3, f.errorCode);
      this.prefaultDelivery(vcpu, 14);
      return RESUME;
    }
    // The exit left the guest's CR2 as it was (SDM 27.1). An event whose delivery this #PF interrupted
    // (IDT-vectoring information: an interrupt, an NMI, a reflected #PF with its error code) is injected
    // again at the next entry by the vCPU's event logic (events.ts, KVM's vmx_complete_interrupts).
    const where = `${write ? 'write' : 'read'} of linear ${hex(gva)} at RIP ${hex(e.rip)}`;
    if (f !== null && f.kind === 'mmio' && walk.gpa === f.gpa) {
      const device = this.vm.devices.get(f.slot.name);
      if (device === undefined) return { kind: 'stop', reason: 'error', message: `guest ${where} reaches GPA ${hex(f.gpa)} in MMIO slot "${f.slot.name}", which has no device` };
      return emulateMmio(this.vm, vcpu, { gpa: f.gpa, slot: f.slot, offset: f.offset, device });
    }
    if (f !== null || walk.gpa === null || walk.hpa === null) {
      const gpa = f !== null && 'gpa' in f ? f.gpa : walk.gpa ?? 0;
      return { kind: 'stop', reason: 'error', message: `shadow paging: guest ${where} reaches GPA ${hex(gpa)}, which is outside every RAM slot` };
    }
    const r = this.vm.slots.resolve(walk.gpa);
    const readOnly = r.kind === 'ram' && r.slot.readOnly;
    if (write && readOnly) return { kind: 'stop', reason: 'error', message: `shadow paging: guest ${where} writes ROM slot "${r.kind === 'ram' ? r.slot.name : ''}" at GPA ${hex(walk.gpa)}` };
    // Now the access happens: the guest's accessed (and, on a write, dirty) bits are set as its hardware would.
    const done = translateGva(target, regs, gva, { ...req, update: true });
    const { writable, userOk } = shadowRights(done, regs.cr0, write, user);
    const root = this.currentRoot(vcpu);
    this.tables.set(root, gva, walk.hpa, { writable: writable && !readOnly, user: userOk });
    vcpu.cpu.mmu.invalidatePage(gva);
    vcpu.cpu.linGen++;
    this.vm.counters.shadowFills++;
    return RESUME;
  }

  /**
   * Shadows what delivering the reflected #PF reads and writes: the IDT
   * gate, the GDT descriptor of its code segment, the TSS and the new
   * stack on a privilege change, and the frame the CPU pushes. An
   * optimisation: without it each shadow miss inside the delivery is one
   * more #PF exit (a #PF in the bitmap exits before the processor could
   * combine it with the one being delivered, SDM 27.1), after which the
   * #PF is injected again from IDT-vectoring information. Where the
   * guest's own tables do not map them it is a #DF, as on hardware.
   */
  private prefaultDelivery(vcpu: Vcpu, vector: number): void {
    const v = vcpu.vmcs;
    const read32 = (linear: number): number | null => {
      const b = this.vm.readLinear(vcpu, linear >>> 0, 4);
      return b === null || b.length < 4 ? null : (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    };
    const gate = (v.get('GUEST_IDTR_BASE') + vector * 8) >>> 0;
    this.prefault(vcpu, gate, false);
    const lo = read32(gate);
    const cpl = v.get('GUEST_CS_SELECTOR') & 3;
    let stack = v.get('GUEST_RSP') >>> 0;
    if (lo !== null) {
      const sel = lo >>> 16;
      const gdt = (v.get('GUEST_GDTR_BASE') + (sel & ~7)) >>> 0;
      this.prefault(vcpu, gdt, false);
      const hi = read32(gdt + 4);
      const dpl = hi === null ? cpl : (hi >>> 13) & 3;
      if (dpl < cpl) {
        const tss = v.get('GUEST_TR_BASE') >>> 0;
        this.prefault(vcpu, tss + 4, false);
        stack = read32(tss + 4) ?? stack;
      }
    }
    // Up to SS, ESP, EFLAGS, CS, EIP and the error code.
    this.prefault(vcpu, (stack - 24) >>> 0, true);
    this.prefault(vcpu, (stack - 1) >>> 0, true);
  }

  /** Fills the shadow PTE for one supervisor access when the guest's tables allow it and it is RAM. */
  private prefault(vcpu: Vcpu, gva: number, write: boolean): void {
    const regs = this.guestRegs(vcpu);
    const target = { mem: this.vm.machine.memory, slots: this.vm.slots };
    const req = { access: write ? 'write' as const : 'read' as const, user: false };
    const walk = translateGva(target, regs, gva, req);
    if (walk.fault !== null || walk.hpa === null || walk.gpa === null) return;
    const r = this.vm.slots.resolve(walk.gpa);
    if (r.kind !== 'ram' || (write && r.slot.readOnly)) return;
    const done = translateGva(target, regs, gva, { ...req, update: true });
    const { writable, userOk } = shadowRights(done, regs.cr0, write, false);
    this.tables.set(this.currentRoot(vcpu), gva, walk.hpa, { writable: writable && !r.slot.readOnly, user: userOk });
  }

  /** The VMM's view for translate(): the shadow entries the processor uses for `walk.gva` and whether they match the guest's. */
  view(vcpu: Vcpu, walk: GvaWalk): ShadowView {
    const s = this.state[vcpu.index];
    const paging = guestPaging(this.guestRegs(vcpu).cr0);
    const root = paging ? s.pagedRoot : s.physRoot;
    const l = this.tables.lookup(root, walk.gva);
    const entries: ShadowView['entries'] = [{ ...l.pde, flags: decodeGuestEntry(l.pde.value, 2, false) }];
    if (l.pte !== null) entries.push({ ...l.pte, flags: decodeGuestEntry(l.pte.value, 1, false) });
    const base = { root, rootKind: paging ? 'paged' as const : 'physical' as const, entries, hpa: l.hpa };
    if (l.hpa === null || l.pte === null) return { ...base, state: 'not-cached', inSync: true, note: '' };
    const pte = l.pte.value;
    let note = '';
    if (walk.hpa === null) note = walk.fault?.kind === 'page-fault' ? `the guest's tables no longer map this page (${walk.fault.message})` : 'the guest translation no longer reaches RAM';
    else if ((walk.hpa & ~0xfff) !== (l.hpa & ~0xfff)) note = `the guest now maps host page ${hex(walk.hpa & ~0xfff)}, the shadow still ${hex(l.hpa & ~0xfff)}`;
    else {
      const g = shadowRights(walk, this.guestRegs(vcpu).cr0, true, false);
      if ((pte & 2) !== 0 && !g.allowsWrite) note = 'the shadow allows writes the guest no longer grants';
      else if ((pte & 4) !== 0 && !g.userOk) note = 'the shadow allows user access the guest no longer grants';
    }
    return { ...base, state: note === '' ? 'in-sync' : 'stale', inSync: note === '', note };
  }

  snapshot(): ShadowState {
    return { vcpus: this.state.map((s) => ({ ...s })), roots: this.tables.snapshot() };
  }

  restore(state: ShadowState): void {
    state.vcpus.forEach((s, i) => { this.state[i] = { ...s }; });
    this.tables.restore(state.roots);
  }
}

/**
 * A #PF the guest's tables raise while a hardware exception was being
 * delivered (IDT-vectoring information) meets the double-fault rules the
 * processor would have applied had the #PF not exited (SDM 6.15, table
 * 6-5; KVM's kvm_multiple_exception): after #PF or a contributory
 * exception it is #DF, after #DF a triple fault; otherwise the #PF is
 * delivered first (events.ts puts an interrupted interrupt or NMI back in
 * its queue; an interrupted fault recurs when its instruction restarts).
 */
function combineWithInterrupted(idtVectoringInfo: number): 'double-fault' | 'triple-fault' | null {
  if ((idtVectoringInfo & 0x80000000) === 0 || ((idtVectoringInfo >>> 8) & 7) !== 3) return null;
  const v = idtVectoringInfo & 0xff;
  if (v === 8) return 'triple-fault';
  return v === 14 || v === 0 || (v >= 10 && v <= 13) ? 'double-fault' : null;
}

/**
 * Rights of a shadow PTE from a successful guest walk: user access when the
 * guest's entries allow it; writes only once the guest's dirty bit is set
 * (or this access is the write that sets it), so the first write to a clean
 * page comes back to the VMM. With guest CR0.WP clear a supervisor may write
 * a read-only page: such a page is shadowed writable but supervisor-only.
 */
export function shadowRights(walk: GvaWalk, cr0: number, write: boolean, user: boolean): { writable: boolean; userOk: boolean; allowsWrite: boolean } {
  if (!walk.paging) return { writable: true, userOk: true, allowsWrite: true };
  const [pde, pte] = walk.guest.map((g) => g.value ?? 0);
  const large = walk.pageSize === 0x400000;
  const rw = large ? pde & 2 : pde & pte & 2;
  let us = large ? pde & 4 : pde & pte & 4;
  const leaf = large ? pde : pte;
  const dirty = (leaf & 0x40) !== 0 || write;
  const wp = (cr0 & CR0_WP) !== 0;
  let allowsWrite = rw !== 0;
  if (!allowsWrite && !wp && !user) {
    allowsWrite = true;
    us = 0;
  }
  return { writable: allowsWrite && dirty, userOk: us !== 0, allowsWrite };
}
