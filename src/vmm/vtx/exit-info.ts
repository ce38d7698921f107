// What one VM exit recorded: the exit-information fields as written to the
// VMCS, plus the reason in words ("why") that the debugger shows.

import type { Instr, MemOperand } from '../../x86/decode/instr';

export interface VmExit {
  /** 1-based exit number on this VM, for ordering across vCPUs. */
  sequence: number;
  vcpu: number;
  /** Basic exit reason (bits 15:0 of VM_EXIT_REASON). */
  reason: number;
  /** SDM/Linux name of the reason, e.g. IO_INSTRUCTION. */
  name: string;
  /** GUEST_RIP saved by the exit. */
  rip: number;
  qualification: number;
  /** `summarizeExitQualification` of the reason and qualification, when the SDM defines one. */
  summary?: string;
  instructionLength: number;
  instructionInfo: number;
  guestLinearAddress?: number;
  guestPhysicalAddress?: number;
  interruptionInfo: number;
  interruptionErrorCode: number;
  idtVectoringInfo: number;
  idtVectoringErrorCode: number;
  /** Which control, bitmap bit or mask bit made this exit happen. */
  why: string;
}

/** Fields an exit site provides; the rest default to 0. */
export interface ExitRequest {
  reason: number;
  why: string;
  qualification?: number;
  instructionLength?: number;
  instructionInfo?: number;
  guestLinearAddress?: number;
  guestPhysicalAddress?: number;
  interruptionInfo?: number;
  interruptionErrorCode?: number;
  /** IDT-vectoring information when the exit site knows the event being delivered (default: the vCPU's own record). */
  idtVectoringInfo?: number;
  idtVectoringErrorCode?: number;
}

const ADDRESS_SIZE: Readonly<Record<number, number>> = { 16: 0, 32: 1, 64: 2 };
const SCALING: Readonly<Record<number, number>> = { 1: 0, 2: 1, 4: 2, 8: 3 };

/**
 * Bits of the VM-exit instruction-information field that describe a memory
 * operand (SDM 28.2.5, tables for GDTR/IDTR, LDTR/TR and VMX instructions):
 * scaling 1:0, address size 9:7, segment 17:15, index 21:18 with invalid bit
 * 22, base 26:23 with invalid bit 27. Scaling is 0 when there is no index.
 */
export function memoryOperandInfo(m: MemOperand): number {
  let v = (ADDRESS_SIZE[m.addrSize] ?? 0) << 7;
  v |= (m.seg & 7) << 15;
  if (m.index >= 0) v |= (SCALING[m.scale] ?? 0) | ((m.index & 0xf) << 18); else v |= 1 << 22;
  if (m.base >= 0) v |= (m.base & 0xf) << 23; else v |= 1 << 27;
  return v >>> 0;
}

/** GDTR/IDTR access (reason 46): identity 29:28 is SGDT 0, SIDT 1, LGDT 2, LIDT 3; operand size bit 11. */
export const GDTR_IDTR_IDENTITY: Readonly<Record<string, number>> = { sgdt: 0, sidt: 1, lgdt: 2, lidt: 3 };
/** LDTR/TR access (reason 47): SLDT 0, STR 1, LLDT 2, LTR 3. */
export const LDTR_TR_IDENTITY: Readonly<Record<string, number>> = { sldt: 0, str: 1, lldt: 2, ltr: 3 };

export function descriptorTableInfo(instr: Instr, op: string): { info: number; qualification: number } {
  const operand = instr.operands[0];
  const gdtrIdtr = op in GDTR_IDTR_IDENTITY;
  const identity = gdtrIdtr ? GDTR_IDTR_IDENTITY[op] : LDTR_TR_IDENTITY[op];
  let info = (identity & 3) << 28;
  let qualification = 0;
  if (operand !== undefined && operand.kind === 'mem') {
    info |= memoryOperandInfo(operand);
    qualification = operand.disp >>> 0;
  } else if (operand !== undefined && operand.kind === 'reg' && !gdtrIdtr) {
    info |= (1 << 10) | ((operand.reg & 0xf) << 3);
  }
  if (gdtrIdtr && instr.opSize === 32) info |= 1 << 11;
  return { info: info >>> 0, qualification };
}

/** Which operand is the r/m one in each VMX instruction with operands; the other register goes to bits 31:28. */
const VMX_RM_OPERAND: Readonly<Record<string, number>> = {
  vmclear: 0, vmptrld: 0, vmptrst: 0, vmxon: 0, vmread: 0, vmwrite: 1, invept: 1, invvpid: 1,
};

/**
 * Instruction information for VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE,
 * VMXON, INVEPT, INVVPID (SDM table "Format of the VM-Exit Instruction-Information
 * Field as Used for VMCLEAR, VMPTRLD, …"): memory operand as above, or bit 10
 * set with reg1 in 6:3; reg2 in 31:28. The qualification is the displacement.
 */
export function vmxInstructionInfo(instr: Instr, op: string): { info: number; qualification: number } | undefined {
  const rm = VMX_RM_OPERAND[op];
  if (rm === undefined) return undefined;
  let info = 0;
  let qualification = 0;
  instr.operands.forEach((o, i) => {
    if (i === rm) {
      if (o.kind === 'mem') { info |= memoryOperandInfo(o); qualification = o.disp >>> 0; }
      else if (o.kind === 'reg') info |= (1 << 10) | ((o.reg & 0xf) << 3);
    } else if (o.kind === 'reg') {
      info |= (o.reg & 0xf) << 28;
    }
  });
  return { info: info >>> 0, qualification };
}
