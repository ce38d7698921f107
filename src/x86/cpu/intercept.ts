// Interception points for the sensitive operations a VT-x model turns into
// VM exits. Every hook is optional and called before the operation takes
// effect. Returning true means "handled": the CPU skips its own behaviour,
// and the hook has already changed whatever state it wanted (typically
// EIP, via `cpu.eip = cpu.eip + length` or a full VM-exit state switch).
// Returning false lets the native behaviour run.
//
// Instruction hooks receive the decoded instruction and its length; at the
// time of the call `cpu.eip` is the address of the instruction itself.

import type { Instr } from '../decode/instr';
import type { Cpu } from './cpu';
import type { DeliveringEvent } from './fault';

export type InstrHook = (cpu: Cpu, instr: Instr, length: number) => boolean;

export interface IoAccess {
  port: number;
  size: 1 | 2 | 4;
  /** true for IN/INS. */
  input: boolean;
  string: boolean;
  rep: boolean;
}

export type DescTableOp = 'lgdt' | 'lidt' | 'sgdt' | 'sidt' | 'lldt' | 'ltr' | 'sldt' | 'str';
export type VmxOp = 'vmcall' | 'vmlaunch' | 'vmresume' | 'vmxoff' | 'vmxon' | 'vmclear' | 'vmptrld' | 'vmptrst' | 'vmread' | 'vmwrite' | 'invept' | 'invvpid' | 'vmfunc' | 'getsec';

/**
 * 'software' is INT n, 'software-exception' INT3/INTO (VMX interruption
 * types 4 and 6); 'trap' covers single-step/data-breakpoint #DB and INT1.
 */
export type ExceptionKind = 'fault' | 'trap' | 'abort' | 'software' | 'software-exception';

/** What the `exception` hook learns besides vector, error code and kind. */
export interface ExceptionContext {
  /**
   * #PF: the faulting linear address, which CR2 receives only if the hook
   * lets the #PF be delivered; -1 for a #PF no translation raised (one
   * injected by a VMM, which sets CR2 itself). -1 for other vectors.
   */
  faultAddress: number;
  /** #DB: DR6 as delivery leaves it (written only if the hook lets it be delivered); -1 for other vectors. */
  dr6: number;
  /**
   * The event whose delivery raised this exception (a nested exception),
   * else null. The hook sees the nested exception before the CPU combines
   * the two into #DF (SDM 27.1: a nested exception that causes a VM exit
   * is not combined).
   */
  during: DeliveringEvent | null;
  /** A #DF the CPU formed from two exceptions (SDM 27.2.4: an exit it causes is not "during event delivery"). */
  formed: boolean;
}

export interface CpuIntercept {
  cpuid?: InstrHook;
  hlt?: InstrHook;
  invd?: InstrHook;
  wbinvd?: InstrHook;
  invlpg?: (cpu: Cpu, instr: Instr, length: number, linear: number) => boolean;
  rdpmc?: InstrHook;
  rdtsc?: InstrHook;
  rdtscp?: InstrHook;
  /** Every VMX instruction (and getsec); native behaviour is #UD. */
  vmx?: (cpu: Cpu, instr: Instr, length: number, op: VmxOp) => boolean;
  /** mov reg, crN (and smsw for cr0 reads is reported through `descTable`-like smsw below). */
  movFromCr?: (cpu: Cpu, instr: Instr, length: number, cr: number, reg: number) => boolean;
  /** mov crN, reg / lmsw / clts; `value` is the value to be written. */
  movToCr?: (cpu: Cpu, instr: Instr, length: number, cr: number, reg: number, value: number) => boolean;
  movDr?: (cpu: Cpu, instr: Instr, length: number, dr: number, reg: number, write: boolean) => boolean;
  io?: (cpu: Cpu, instr: Instr, length: number, access: IoAccess) => boolean;
  rdmsr?: (cpu: Cpu, instr: Instr, length: number, msr: number) => boolean;
  wrmsr?: (cpu: Cpu, instr: Instr, length: number, msr: number, value: bigint) => boolean;
  descTable?: (cpu: Cpu, instr: Instr, length: number, op: DescTableOp) => boolean;
  smsw?: InstrHook;
  monitor?: InstrHook;
  mwait?: InstrHook;
  pause?: InstrHook;
  xsetbv?: InstrHook;
  pushf?: InstrHook;
  popf?: InstrHook;
  cli?: InstrHook;
  sti?: InstrHook;
  iret?: InstrHook;
  /**
   * MOV from a segment register and PUSH of one (`sreg` 0-5). Observe-only:
   * the hook cannot change what the instruction does. A software VMM uses it
   * to see a deprivileged kernel read CS or SS and find RPL 1 there.
   */
  segRead?: (cpu: Cpu, instr: Instr, length: number, sreg: number) => void;
  /** Before delivery of an exception (also int3/into/int n as 'software'). */
  exception?: (cpu: Cpu, vector: number, errorCode: number, kind: ExceptionKind, context: ExceptionContext) => boolean;
  /** Before delivery of an external interrupt; vector -1 is NMI. */
  interrupt?: (cpu: Cpu, vector: number) => boolean;
}
