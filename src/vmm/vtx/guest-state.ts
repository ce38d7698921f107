// Moving the guest-state area (SDM 25.4) between a VMCS and the CPU. A VM
// exit saves the CPU into the VMCS; a VM entry loads it back. The CPU's
// segment caches already use the VMX access-rights layout, so segments copy
// across unchanged.

import type { Cpu } from '../../x86/cpu/cpu';
import { VMCS_FIELDS, vmcsSlot, type GuestStateHolder, type Vmcs, type VmcsFieldName } from '../vmx';

/** Selector, base, limit and access-rights fields of one segment register, as VMCS slot numbers. */
type SegFields = [number, number, number, number];
const f = (s: string): SegFields => ([`GUEST_${s}_SELECTOR`, `GUEST_${s}_BASE`, `GUEST_${s}_LIMIT`, `GUEST_${s}_AR_BYTES`] as VmcsFieldName[]).map(vmcsSlot) as SegFields;

/** In the CPU's segment order ES CS SS DS FS GS, which is also the VMX order. */
const SEGMENT_FIELDS: readonly SegFields[] = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'].map(f);
const LDTR_FIELDS = f('LDTR');
const TR_FIELDS = f('TR');

/** MSRs in the guest-state area, with the MSR index the CPU keeps them under. */
const MSR_FIELDS: readonly [VmcsFieldName, number][] = [
  ['GUEST_SYSENTER_CS', 0x174], ['GUEST_SYSENTER_ESP', 0x175], ['GUEST_SYSENTER_EIP', 0x176],
  ['GUEST_IA32_PAT', 0x277], ['GUEST_IA32_EFER', 0xc0000080],
];

/** The guest-state field that holds an MSR, if any: a handler writing such an MSR must write the field, which the next entry loads. */
export function guestStateMsrField(index: number): VmcsFieldName | undefined {
  return MSR_FIELDS.find(([, i]) => i === index >>> 0)?.[0];
}

const INTERRUPTIBILITY_STI = 1 << 0;
const INTERRUPTIBILITY_MOV_SS = 1 << 1;
const INTERRUPTIBILITY_NMI = 1 << 3;

const S = {
  CR0: vmcsSlot('GUEST_CR0'), CR3: vmcsSlot('GUEST_CR3'), CR4: vmcsSlot('GUEST_CR4'), DR7: vmcsSlot('GUEST_DR7'),
  RSP: vmcsSlot('GUEST_RSP'), RIP: vmcsSlot('GUEST_RIP'), RFLAGS: vmcsSlot('GUEST_RFLAGS'),
  GDTR_BASE: vmcsSlot('GUEST_GDTR_BASE'), GDTR_LIMIT: vmcsSlot('GUEST_GDTR_LIMIT'),
  IDTR_BASE: vmcsSlot('GUEST_IDTR_BASE'), IDTR_LIMIT: vmcsSlot('GUEST_IDTR_LIMIT'),
  ACTIVITY: vmcsSlot('GUEST_ACTIVITY_STATE'), INTERRUPTIBILITY: vmcsSlot('GUEST_INTERRUPTIBILITY_INFO'),
};
const MSR_SLOTS = MSR_FIELDS.map(([name]) => vmcsSlot(name));

/**
 * The MSR values last copied between a CPU and its VMCS (as VMCS numbers), and
 * the CPU's MSR generation then: MSRs are 64-bit BigInts, and a VM exit or
 * entry that changes none of them should not pay for converting five.
 */
interface MsrSync { generation: number; values: number[] }
const msrSync = new WeakMap<Cpu, MsrSync>();

/** CPU to VMCS, as a VM exit stores it. GPRs other than RSP are not in the VMCS. */
export function saveGuestState(cpu: Cpu, vmcs: Vmcs): void {
  vmcs.setU32At(S.CR0, cpu.cr0 >>> 0);
  vmcs.setU32At(S.CR3, cpu.cr3 >>> 0);
  vmcs.setU32At(S.CR4, cpu.cr4 >>> 0);
  vmcs.setU32At(S.DR7, cpu.dr[7] >>> 0);
  vmcs.setU32At(S.RSP, cpu.r[4] >>> 0);
  vmcs.setU32At(S.RIP, cpu.eip >>> 0);
  vmcs.setU32At(S.RFLAGS, cpu.eflags >>> 0);
  for (let i = 0; i < 6; i++) saveSeg(vmcs, SEGMENT_FIELDS[i], cpu.seg[i]);
  saveSeg(vmcs, LDTR_FIELDS, cpu.ldtr);
  saveSeg(vmcs, TR_FIELDS, cpu.tr);
  vmcs.setU32At(S.GDTR_BASE, cpu.gdtr.base >>> 0);
  vmcs.setU32At(S.GDTR_LIMIT, cpu.gdtr.limit >>> 0);
  vmcs.setU32At(S.IDTR_BASE, cpu.idtr.base >>> 0);
  vmcs.setU32At(S.IDTR_LIMIT, cpu.idtr.limit >>> 0);
  const sync = msrSync.get(cpu);
  if (sync === undefined || sync.generation !== cpu.msrs.generation || !msrFieldsMatch(vmcs, sync)) {
    MSR_FIELDS.forEach(([, index], k) => vmcs.setAt(MSR_SLOTS[k], cpu.msrs.read(index) ?? 0n));
    remember(cpu, vmcs);
  }
  vmcs.setU32At(S.ACTIVITY, cpu.halted ? 1 : 0);
  vmcs.setU32At(S.INTERRUPTIBILITY,
    (cpu.shadow ? INTERRUPTIBILITY_STI : 0) | (cpu.ssShadow ? INTERRUPTIBILITY_MOV_SS : 0) | (cpu.nmiBlocked ? INTERRUPTIBILITY_NMI : 0));
}

function msrFieldsMatch(vmcs: Vmcs, sync: MsrSync): boolean {
  for (let k = 0; k < MSR_SLOTS.length; k++) if (vmcs.getAt(MSR_SLOTS[k]) !== sync.values[k]) return false;
  return true;
}

function remember(cpu: Cpu, vmcs: Vmcs): void {
  msrSync.set(cpu, { generation: cpu.msrs.generation, values: MSR_SLOTS.map((i) => vmcs.getAt(i)) });
}

/**
 * VMCS to CPU, as a VM entry loads it; then the CPU re-derives CPL, modes and
 * paging. `keepTlb` (VPIDs enabled) keeps cached translations across the
 * entry unless CR0, CR3 or CR4 changed; without VPIDs every entry flushes them
 * (SDM 29.4.3.3). Debug-register state is re-derived only when DR7 changed.
 */
export function loadGuestState(cpu: Cpu, vmcs: Vmcs, keepTlb = false): void {
  const cr0 = vmcs.getAt(S.CR0) >>> 0;
  const cr3 = vmcs.getAt(S.CR3) >>> 0;
  const cr4 = vmcs.getAt(S.CR4) >>> 0;
  const flush = !keepTlb || cr0 !== cpu.cr0 >>> 0 || cr3 !== cpu.cr3 >>> 0 || cr4 !== cpu.cr4 >>> 0;
  cpu.cr0 = cr0;
  cpu.cr3 = cr3;
  cpu.cr4 = cr4;
  const dr7 = vmcs.getAt(S.DR7) >>> 0;
  const debugChanged = dr7 !== cpu.dr[7] >>> 0;
  cpu.dr[7] = dr7;
  cpu.r[4] = vmcs.getAt(S.RSP) | 0;
  cpu.eip = vmcs.getAt(S.RIP) >>> 0;
  cpu.eflags = vmcs.getAt(S.RFLAGS) >>> 0;
  for (let i = 0; i < 6; i++) loadSeg(vmcs, SEGMENT_FIELDS[i], cpu.seg[i]);
  loadSeg(vmcs, LDTR_FIELDS, cpu.ldtr);
  loadSeg(vmcs, TR_FIELDS, cpu.tr);
  // Descriptor-table registers are replaced, not updated in place, so they only change when their fields did.
  const gdtBase = vmcs.getAt(S.GDTR_BASE) >>> 0, gdtLimit = vmcs.getAt(S.GDTR_LIMIT) & 0xffff;
  if (cpu.gdtr.base !== gdtBase || cpu.gdtr.limit !== gdtLimit) cpu.gdtr = { base: gdtBase, limit: gdtLimit };
  const idtBase = vmcs.getAt(S.IDTR_BASE) >>> 0, idtLimit = vmcs.getAt(S.IDTR_LIMIT) & 0xffff;
  if (cpu.idtr.base !== idtBase || cpu.idtr.limit !== idtLimit) cpu.idtr = { base: idtBase, limit: idtLimit };
  const sync = msrSync.get(cpu);
  if (sync === undefined || sync.generation !== cpu.msrs.generation || !msrFieldsMatch(vmcs, sync)) {
    MSR_FIELDS.forEach(([name, index]) => {
      if (cpu.msrs.has(index)) cpu.msrs.write(index, vmcs.getBig(name));
    });
    remember(cpu, vmcs);
  }
  cpu.halted = vmcs.getAt(S.ACTIVITY) === 1;
  const intr = vmcs.getAt(S.INTERRUPTIBILITY);
  cpu.shadow = (intr & INTERRUPTIBILITY_STI) !== 0;
  cpu.ssShadow = (intr & INTERRUPTIBILITY_MOV_SS) !== 0;
  cpu.nmiBlocked = (intr & INTERRUPTIBILITY_NMI) !== 0;
  // updateDebug drops every compiled block; an entry that leaves DR7 alone must not pay for that.
  if (debugChanged) cpu.updateDebug();
  cpu.reloadState(flush);
}

/**
 * The processor as holder of its own guest state (Vmcs.hold): what
 * `saveGuestState` would store, read field by field when somebody asks.
 * Slots are filled in the order `saveGuestState` writes them.
 */
type Reader = (cpu: Cpu) => number;
const READERS: Reader[] = [];
const HELD = new Uint8Array(VMCS_FIELDS.length);
function reads(slot: number, fn: Reader): void {
  READERS[slot] = fn;
  HELD[slot] = 1;
}
reads(S.CR0, (c) => c.cr0 >>> 0);
reads(S.CR3, (c) => c.cr3 >>> 0);
reads(S.CR4, (c) => c.cr4 >>> 0);
reads(S.DR7, (c) => c.dr[7] >>> 0);
reads(S.RSP, (c) => c.r[4] >>> 0);
reads(S.RIP, (c) => c.eip >>> 0);
reads(S.RFLAGS, (c) => c.eflags >>> 0);
const segmentAt = (c: Cpu, k: number): SegLike => (k < 6 ? c.seg[k] : k === 6 ? c.ldtr : c.tr);
[...SEGMENT_FIELDS, LDTR_FIELDS, TR_FIELDS].forEach((f, k) => {
  reads(f[0], (c) => segmentAt(c, k).selector >>> 0);
  reads(f[1], (c) => segmentAt(c, k).base >>> 0);
  reads(f[2], (c) => segmentAt(c, k).limit >>> 0);
  reads(f[3], (c) => segmentAt(c, k).attr >>> 0);
});
reads(S.GDTR_BASE, (c) => c.gdtr.base >>> 0);
reads(S.GDTR_LIMIT, (c) => c.gdtr.limit >>> 0);
reads(S.IDTR_BASE, (c) => c.idtr.base >>> 0);
reads(S.IDTR_LIMIT, (c) => c.idtr.limit >>> 0);
// 64-bit MSR fields: the VMCS stores all held fields before one of these is read.
for (const slot of MSR_SLOTS) reads(slot, () => 0);
reads(S.ACTIVITY, (c) => (c.halted ? 1 : 0));
reads(S.INTERRUPTIBILITY, (c) => (c.shadow ? INTERRUPTIBILITY_STI : 0) | (c.ssShadow ? INTERRUPTIBILITY_MOV_SS : 0) | (c.nmiBlocked ? INTERRUPTIBILITY_NMI : 0));

/** A holder (Vmcs.hold) for the guest state `cpu` has: a VM exit hands it this instead of saving. */
export function cpuGuestState(cpu: Cpu): GuestStateHolder {
  return {
    held: HELD,
    read: (slot) => READERS[slot](cpu),
    store: (vmcs) => saveGuestState(cpu, vmcs),
  };
}

interface SegLike { selector: number; base: number; limit: number; attr: number; set(sel: number, base: number, limit: number, attr: number): void }

function saveSeg(vmcs: Vmcs, f: SegFields, s: SegLike): void {
  vmcs.setU32At(f[0], s.selector >>> 0);
  vmcs.setU32At(f[1], s.base >>> 0);
  vmcs.setU32At(f[2], s.limit >>> 0);
  vmcs.setU32At(f[3], s.attr >>> 0);
}

function loadSeg(vmcs: Vmcs, f: SegFields, s: SegLike): void {
  const sel = vmcs.getAt(f[0]) & 0xffff, base = vmcs.getAt(f[1]) >>> 0, limit = vmcs.getAt(f[2]) >>> 0, ar = vmcs.getAt(f[3]);
  // Most exits leave the segments alone: an unchanged register keeps its derived checks (no refresh).
  if (s.selector === sel && s.base === base && s.limit === limit && s.attr === ar) return;
  s.set(sel, base, limit, ar);
}

/**
 * Host-state fields with the values a 32-bit KVM host would show. Root mode is
 * TypeScript, so nothing loads them; they are there to be displayed.
 */
export function fillHostState(vmcs: Vmcs, vcpuIndex: number): void {
  const rows: [VmcsFieldName, number][] = [
    ['HOST_CR0', 0x80050033], ['HOST_CR3', 0x01a0c000], ['HOST_CR4', 0x000026f0],
    ['HOST_CS_SELECTOR', 0x60], ['HOST_SS_SELECTOR', 0x68], ['HOST_DS_SELECTOR', 0x7b], ['HOST_ES_SELECTOR', 0x7b],
    ['HOST_FS_SELECTOR', 0xd8], ['HOST_GS_SELECTOR', 0], ['HOST_TR_SELECTOR', 0x80],
    ['HOST_TR_BASE', 0xff5fd000 + vcpuIndex * 0x1000], ['HOST_GDTR_BASE', 0xff5fc000 + vcpuIndex * 0x1000], ['HOST_IDTR_BASE', 0xff57b000],
    ['HOST_IA32_SYSENTER_CS', 0x60], ['HOST_IA32_SYSENTER_ESP', 0xff5fd000 + vcpuIndex * 0x1000], ['HOST_IA32_SYSENTER_EIP', 0xc15f8a40],
    ['HOST_RSP', 0xf5c7be00 - vcpuIndex * 0x2000], ['HOST_RIP', 0xc1037a60],
  ];
  for (const [name, value] of rows) vmcs.set(name, value);
}

/** Copies the guest-state area of one VMCS into another (application processors start from the boot processor's state). */
export function copyGuestState(from: Vmcs, to: Vmcs): void {
  for (const f of VMCS_FIELDS) if (f.group === 'guest-state') to.set(f.name, f.width === 64 ? from.getBig(f.name) : from.get(f.name));
}
