// Moving the guest-state area (SDM 25.4) between a VMCS and the CPU. A VM
// exit saves the CPU into the VMCS; a VM entry loads it back. The CPU's
// segment caches already use the VMX access-rights layout, so segments copy
// across unchanged.

import type { Cpu } from '../../x86/cpu/cpu';
import { VMCS_FIELDS, type Vmcs, type VmcsFieldName } from '../vmx';

type SegFields = [VmcsFieldName, VmcsFieldName, VmcsFieldName, VmcsFieldName];
const f = (s: string): SegFields => [`GUEST_${s}_SELECTOR`, `GUEST_${s}_BASE`, `GUEST_${s}_LIMIT`, `GUEST_${s}_AR_BYTES`] as SegFields;

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

/** CPU to VMCS, as a VM exit stores it. GPRs other than RSP are not in the VMCS. */
export function saveGuestState(cpu: Cpu, vmcs: Vmcs): void {
  vmcs.set('GUEST_CR0', cpu.cr0 >>> 0);
  vmcs.set('GUEST_CR3', cpu.cr3 >>> 0);
  vmcs.set('GUEST_CR4', cpu.cr4 >>> 0);
  vmcs.set('GUEST_DR7', cpu.dr[7] >>> 0);
  vmcs.set('GUEST_RSP', cpu.r[4] >>> 0);
  vmcs.set('GUEST_RIP', cpu.eip >>> 0);
  vmcs.set('GUEST_RFLAGS', cpu.eflags >>> 0);
  cpu.seg.forEach((s, i) => saveSeg(vmcs, SEGMENT_FIELDS[i], s));
  saveSeg(vmcs, LDTR_FIELDS, cpu.ldtr);
  saveSeg(vmcs, TR_FIELDS, cpu.tr);
  vmcs.set('GUEST_GDTR_BASE', cpu.gdtr.base >>> 0);
  vmcs.set('GUEST_GDTR_LIMIT', cpu.gdtr.limit);
  vmcs.set('GUEST_IDTR_BASE', cpu.idtr.base >>> 0);
  vmcs.set('GUEST_IDTR_LIMIT', cpu.idtr.limit);
  for (const [name, index] of MSR_FIELDS) vmcs.set(name, cpu.msrs.read(index) ?? 0n);
  vmcs.set('GUEST_ACTIVITY_STATE', cpu.halted ? 1 : 0);
  vmcs.set('GUEST_INTERRUPTIBILITY_INFO',
    (cpu.shadow ? INTERRUPTIBILITY_STI : 0) | (cpu.ssShadow ? INTERRUPTIBILITY_MOV_SS : 0) | (cpu.nmiBlocked ? INTERRUPTIBILITY_NMI : 0));
}

/** VMCS to CPU, as a VM entry loads it; then the CPU re-derives CPL, modes and paging. */
export function loadGuestState(cpu: Cpu, vmcs: Vmcs): void {
  cpu.cr0 = vmcs.get('GUEST_CR0') >>> 0;
  cpu.cr3 = vmcs.get('GUEST_CR3') >>> 0;
  cpu.cr4 = vmcs.get('GUEST_CR4') >>> 0;
  cpu.dr[7] = vmcs.get('GUEST_DR7') >>> 0;
  cpu.r[4] = vmcs.get('GUEST_RSP') | 0;
  cpu.eip = vmcs.get('GUEST_RIP') >>> 0;
  cpu.eflags = vmcs.get('GUEST_RFLAGS') >>> 0;
  cpu.seg.forEach((s, i) => loadSeg(vmcs, SEGMENT_FIELDS[i], s));
  loadSeg(vmcs, LDTR_FIELDS, cpu.ldtr);
  loadSeg(vmcs, TR_FIELDS, cpu.tr);
  cpu.gdtr = { base: vmcs.get('GUEST_GDTR_BASE') >>> 0, limit: vmcs.get('GUEST_GDTR_LIMIT') & 0xffff };
  cpu.idtr = { base: vmcs.get('GUEST_IDTR_BASE') >>> 0, limit: vmcs.get('GUEST_IDTR_LIMIT') & 0xffff };
  for (const [name, index] of MSR_FIELDS) {
    if (cpu.msrs.has(index)) cpu.msrs.write(index, vmcs.getBig(name));
  }
  cpu.halted = vmcs.get('GUEST_ACTIVITY_STATE') === 1;
  const intr = vmcs.get('GUEST_INTERRUPTIBILITY_INFO');
  cpu.shadow = (intr & INTERRUPTIBILITY_STI) !== 0;
  cpu.ssShadow = (intr & INTERRUPTIBILITY_MOV_SS) !== 0;
  cpu.nmiBlocked = (intr & INTERRUPTIBILITY_NMI) !== 0;
  cpu.updateDebug();
  cpu.reloadState();
}

interface SegLike { selector: number; base: number; limit: number; attr: number; set(sel: number, base: number, limit: number, attr: number): void }

function saveSeg(vmcs: Vmcs, [sel, base, limit, ar]: SegFields, s: SegLike): void {
  vmcs.set(sel, s.selector);
  vmcs.set(base, s.base >>> 0);
  vmcs.set(limit, s.limit >>> 0);
  vmcs.set(ar, s.attr);
}

function loadSeg(vmcs: Vmcs, [sel, base, limit, ar]: SegFields, s: SegLike): void {
  s.set(vmcs.get(sel), vmcs.get(base), vmcs.get(limit), vmcs.get(ar));
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
