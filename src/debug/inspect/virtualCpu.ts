// The Virtual CPU scope: under a software technique, the privileged state the
// guest believes it has (the VMM's virtual CPU: CPL, IF, IOPL, CR0-CR4, the
// descriptor tables), each value beside what the real processor holds. The
// difference is the point: a hole is an instruction that reads or writes the
// real value where the guest meant its own.
import type { SoftVm } from '../../vmm/soft/index';
import { virtualFlags } from '../../vmm/soft/vcpu-state';
import type { FormatOptions, VarNode } from './node';
import { fieldNodes, type BitField } from './bits';
import { fmtNum, group, leaf } from './format';
import { CR0_FIELDS, CR4_FIELDS, EFLAGS_FIELDS } from './x86bits';
import { previousFor } from './snapshot';
import type { GuestControlView } from './registers';

const READ_ONLY = 'the virtual CPU changes only as the VMM emulates the guest\'s instructions; edit the guest\'s code or memory instead';

/** The values the view shows, by key ("virtual.IF"): what a stop snapshot keeps for change marks. */
export function readVirtualCpu(vm: SoftVm): Map<string, number> {
  vm.syncCpl();
  const v = vm.v;
  return new Map<string, number>([
    ['virtual.CPL', v.cpl], ['virtual.IF', v.interrupts ? 1 : 0], ['virtual.IOPL', v.iopl], ['virtual.EFLAGS', virtualFlags(vm.cpu.eflags, v)],
    ['virtual.CR0', v.cr0 >>> 0], ['virtual.CR2', v.cr2 >>> 0], ['virtual.CR3', v.cr3 >>> 0], ['virtual.CR4', v.cr4 >>> 0],
    ['virtual.GDTR.base', v.gdtr.base >>> 0], ['virtual.GDTR.limit', v.gdtr.limit], ['virtual.IDTR.base', v.idtr.base >>> 0], ['virtual.IDTR.limit', v.idtr.limit],
    ['virtual.LDTR', v.ldtr], ['virtual.TR', v.tr.selector], ['virtual.halted', v.halted ? 1 : 0],
  ]);
}

/** What the guest reads from CR0/CR3/CR4 (the Registers scope's "guest view"): the virtual CPU's. */
export function virtualControlView(vm: SoftVm): GuestControlView {
  const note = (r: string): string => `the virtual ${r}: what the guest kernel set and reads back (MOV to and from ${r} trap and are emulated)`;
  return { read: () => ({ cr0: vm.v.cr0, cr3: vm.v.cr3, cr4: vm.v.cr4 }), notes: { cr0: note('CR0'), cr3: note('CR3'), cr4: note('CR4') } };
}

export function virtualCpuNodes(vm: SoftVm, fmt: FormatOptions, previous?: unknown): VarNode[] {
  const now = readVirtualCpu(vm);
  const before = previousFor(previous, 0)?.regs;
  const c = vm.cpu;
  const v = vm.v;
  const item = (key: string, name: string, value: string, type: string, extra: Partial<VarNode> = {}): VarNode => {
    const node = leaf(name, value, { type, readOnlyReason: READ_ONLY, ...extra });
    const was = before?.get(`virtual.${key}`);
    if (was !== undefined && was !== now.get(`virtual.${key}`)) node.changed = true;
    return node;
  };
  const withFields = (node: VarNode, value: number, fields: readonly BitField[], key: string): VarNode => {
    const was = before?.get(`virtual.${key}`);
    return { ...node, children: () => fieldNodes(value, fields, fmt, { ...(typeof was === 'number' ? { previous: was } : {}) }) };
  };
  const real = (n: number, bits = 32): string => `real: ${fmtNum(n, bits, fmt)}`;
  const table = (t: { base: number; limit: number }): string => `base ${fmtNum(t.base, 32, fmt)} limit ${fmtNum(t.limit, 16, fmt)}`;
  const flags = virtualFlags(c.eflags, v);
  const paging = vm.shadow.guestPaging;
  return [
    item('CPL', 'CPL', `${v.cpl} (${v.cpl === 0 ? 'kernel' : 'user'}; runs in ring ${c.cpl})`, `the guest's privilege level; the kernel really runs in ring ${vm.ring}`, { evaluateName: 'vcpl' }),
    item('IF', 'IF', `${v.interrupts ? 1 : 0} (real: ${(c.eflags >>> 9) & 1})`, 'the guest\'s interrupt flag: the VMM reflects device interrupts only while it is set; the real IF stays 1', { evaluateName: 'vif' }),
    item('IOPL', 'IOPL', `${v.iopl} (real: ${(c.eflags >>> 12) & 3})`, 'the guest\'s I/O privilege level; the real one stays 0, so IN/OUT, CLI and STI trap', { evaluateName: 'viopl' }),
    withFields(item('EFLAGS', 'EFLAGS', `${fmtNum(flags, 32, fmt)} (${real(c.eflags)})`, 'EFLAGS as the guest should see it: the real arithmetic flags with its own IF and IOPL'), flags, EFLAGS_FIELDS, 'EFLAGS'),
    withFields(item('CR0', 'CR0', `${fmtNum(v.cr0, 32, fmt)} (${real(c.cr0)})`, 'the guest\'s CR0; the real one always has PE, PG and WP set', { evaluateName: 'vcr0' }), v.cr0, CR0_FIELDS, 'CR0'),
    item('CR2', 'CR2', `${fmtNum(v.cr2, 32, fmt)} (${real(c.cr2)})`, 'the page-fault address the VMM reflected to the guest', { evaluateName: 'vcr2' }),
    item('CR3', 'CR3', `${fmtNum(v.cr3, 32, fmt)} (real: ${fmtNum(c.cr3, 32, fmt)}, the ${paging ? 'shadow of the guest\'s tables' : 'physical-mode shadow root'})`, 'the guest\'s page directory; the processor walks the VMM\'s shadow tables instead', { evaluateName: 'vcr3' }),
    withFields(item('CR4', 'CR4', `${fmtNum(v.cr4, 32, fmt)} (${real(c.cr4)})`, 'the guest\'s CR4', { evaluateName: 'vcr4' }), v.cr4, CR4_FIELDS, 'CR4'),
    item('GDTR.base', 'GDTR', `${table(v.gdtr)} (real: ${table(c.gdtr)})`, 'the guest\'s GDT; the processor uses the VMM\'s copy in the VMM area, its DPL-0 descriptors lowered to the kernel ring (SGDT shows the real one: a hole)'),
    item('IDTR.base', 'IDTR', `${table(v.idtr)} (real: ${table(c.idtr)})`, 'the guest\'s IDT, through which the VMM reflects events; every exception reaches the VMM first (SIDT shows the real one: a hole)'),
    item('LDTR', 'LDTR', `${fmtNum(v.ldtr, 16, fmt)} (real: ${fmtNum(c.ldtr.selector, 16, fmt)})`, 'the guest\'s LDT selector'),
    item('TR', 'TR', `${fmtNum(v.tr.selector, 16, fmt)} base ${fmtNum(v.tr.base, 32, fmt)} limit ${fmtNum(v.tr.limit, 32, fmt)} (real: ${fmtNum(c.tr.selector, 16, fmt)})`, 'the guest\'s task register: the VMM reads the kernel stack (SS0:ESP0) from this TSS for events from user mode'),
    item('halted', 'halted', v.halted ? `yes (${v.interrupts ? 'an interrupt wakes it' : 'interrupts off: nothing can wake it'})` : 'no', 'HLT (or the BLOCK hypercall) emulated: the guest waits for an interrupt'),
    group('debug registers', 'DR0-DR7 as the guest wrote them (never armed: the debug registers are the VMM\'s)', () => v.dr.map((d, i) => leaf(`DR${i}`, fmtNum(d, 32, fmt)))),
  ];
}
