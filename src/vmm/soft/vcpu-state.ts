// The guest's own view of the privileged processor state under a software
// technique. The real CPU runs the guest deprivileged (its kernel in ring 1
// or 3, paging always on through shadow tables, IF always 1, IOPL 0); with
// the kernel in ring 3 the virtual CPL is the VMM's only record of which of
// the guest's modes runs. What the guest kernel believes it set lives here,
// and the VMM answers from here when it emulates an instruction that reads it.

import type { TableReg } from '../../x86/cpu/cpu';

export interface VirtualTaskRegister {
  selector: number;
  base: number;
  limit: number;
}

export interface VirtualCpuState {
  /** 0 while the guest kernel runs, 3 while its user mode runs. */
  cpl: 0 | 3;
  /** The guest's IF: the VMM delivers external interrupts only while it is set. */
  interrupts: boolean;
  iopl: number;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  gdtr: TableReg;
  idtr: TableReg;
  ldtr: number;
  tr: VirtualTaskRegister;
  /** The guest's DR0-DR7: kept, never armed (the debug registers are the VMM's). */
  dr: number[];
  /** The guest halted (HLT, or the BLOCK hypercall) and waits for an interrupt. */
  halted: boolean;
  /** STI's one-instruction interrupt shadow: the CPU's instruction count it ends at. */
  stiShadowUntil: number;
}

export const EFLAGS_IF = 0x200;
export const EFLAGS_IOPL = 0x3000;

export function initialVirtualCpu(cr0: number, gdtr: TableReg, idtr: TableReg): VirtualCpuState {
  return {
    cpl: 0, interrupts: false, iopl: 0, cr0: cr0 >>> 0, cr2: 0, cr3: 0, cr4: 0,
    gdtr: { ...gdtr }, idtr: { ...idtr }, ldtr: 0, tr: { selector: 0, base: 0, limit: 0 },
    halted: false, stiShadowUntil: -1, dr: [0, 0, 0, 0, 0xffff0ff0, 0x400, 0xffff0ff0, 0x400],
  };
}

/** EFLAGS as the guest should see it: the real arithmetic flags with the guest's IF and IOPL. */
export function virtualFlags(realFlags: number, v: VirtualCpuState): number {
  return ((realFlags & ~(EFLAGS_IF | EFLAGS_IOPL)) | (v.interrupts ? EFLAGS_IF : 0) | (v.iopl << 12)) >>> 0;
}
